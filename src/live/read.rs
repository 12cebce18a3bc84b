//! Reading the live state in a fixed number of pipelined round trips.
//!
//! 1. One round trip for the server's clock (`TIME`), `stream-node-max-entries` and the
//!    tool's record.
//! 2. For every key the record names: `XLEN` and `XINFO GROUPS`, plus, for streams with
//!    `max_age`, an `XRANGE ... COUNT` probe bounded by one macro-node. A missing key answers
//!    `XINFO GROUPS` with "no such key"; a key of another type answers `WRONGTYPE`, and only
//!    those keys get a `TYPE` in a later round trip, for the message. Keys the topology
//!    declares and the record does not name (new streams) get a `TYPE` first, and the stream
//!    reads only if they hold streams.
//!    `XLEN` rather than `XINFO STREAM`: its reply does not carry the first and last entries,
//!    which can be large, and the planner needs only the length. Never `XINFO ... FULL`,
//!    which can block a server for hundreds of milliseconds.
//!
//! 3. Only when the topology declares ACL users or the record names some: see [`super::acl`].
//!
//! Steps 1 and 2 for the recorded streams can run while the file is still being validated
//! ([`prefetch`]); [`read_after`] then reads only what is left. Commands go in batches of
//! [`crate::target::BATCH_SIZE`], so round trips grow with the batch count, not with the
//! number of streams; the replies of step 2 are parsed by [`crate::resp`] (see
//! [`Target::read_each`]). Only read commands are sent, so `plan` works with a read-only ACL
//! user.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use redis::{Cmd, Value};

use super::{LiveGroup, LiveKey, LiveState, LiveStream, StreamId};
use crate::model::desired::Desired;
use crate::record::{Record, record_key};
use crate::resp::Reply;
use crate::small_map::SmallMap;
use crate::target::{BATCH_SIZE, RedactedUrl, Target, TargetError};

/// Default `stream-node-max-entries`, used when CONFIG GET is not allowed (a least-privilege
/// user, a managed service).
const DEFAULT_NODE_MAX_ENTRIES: u64 = 100;

/// Keys per pipelined batch: two or three commands each, so a batch is about
/// [`BATCH_SIZE`] commands and always holds every command of its keys.
const KEYS_PER_BATCH: usize = BATCH_SIZE / 2;

/// What can be read before the topology file is loaded, once its namespace is known: the
/// header and every stream the record names (see `cli::session`, which reads this while the
/// file is validated). On a converged server that is every read a plan needs.
pub struct Prefetched {
    namespace: String,
    header: Header,
    streams: Streams,
}

/// The first round trip: the server's clock, its macro-node size, the tool's record.
struct Header {
    now_ms: u64,
    node_max_entries: u64,
    record: Option<Record>,
}

/// Streams read so far.
#[derive(Default)]
struct Streams {
    read: Vec<(String, LiveKey)>,
    /// Keys that hold another type (their `TYPE` is read later, for the message).
    wrong_types: Vec<String>,
}

/// Read the header of `namespace` and every stream its record names.
pub async fn prefetch(target: &mut Target, namespace: &str) -> Result<Prefetched, TargetError> {
    let header = read_header(target, namespace).await?;
    let recorded: Vec<&str> = header
        .record
        .iter()
        .flat_map(|r| r.streams.keys())
        .map(String::as_str)
        .collect();
    let mut streams = Streams::default();
    read_streams(target, &recorded, &|_| None, &mut streams).await?;
    Ok(Prefetched {
        namespace: namespace.to_owned(),
        header,
        streams,
    })
}

pub async fn read(target: &mut Target, desired: &Desired) -> Result<LiveState, TargetError> {
    read_after(target, desired, None).await
}

/// Read the live state, going on from what was prefetched when it was read for this
/// namespace (otherwise from scratch).
pub async fn read_after(
    target: &mut Target,
    desired: &Desired,
    prefetched: Option<Prefetched>,
) -> Result<LiveState, TargetError> {
    let (header, mut streams) = match prefetched {
        Some(p) if p.namespace == desired.namespace => (p.header, p.streams),
        _ => (
            read_header(target, &desired.namespace).await?,
            Streams::default(),
        ),
    };
    let Header {
        now_ms,
        node_max_entries,
        record,
    } = header;
    let max_age_of = |key: &str| desired.streams.get(key)?.retention.max_age_ms;
    let age_probe_of = |key: &str| {
        let max_age = max_age_of(key)?;
        Some(age_probe(
            key,
            now_ms.saturating_sub(max_age),
            node_max_entries,
        ))
    };
    // What is still to read: declared or recorded, and not prefetched (the sets are sorted,
    // so one walk over them, not a lookup per key).
    let mut keys: BTreeSet<&str> = desired.streams.keys().map(String::as_str).collect();
    if let Some(record) = &record {
        keys.extend(record.streams.keys().map(String::as_str));
    }
    let mut read: BTreeMap<String, LiveKey> =
        std::mem::take(&mut streams.read).into_iter().collect();
    let wrong: BTreeSet<&str> = streams.wrong_types.iter().map(String::as_str).collect();
    let mut prefetched = read.keys().map(String::as_str).peekable();
    let (mut remaining, mut unprobed) = (Vec::new(), Vec::new());
    for key in keys {
        while prefetched.next_if(|k| *k < key).is_some() {}
        if prefetched.next_if_eq(&key).is_some() {
            // Streams read before the file was loaded were not probed for `max_age`.
            if max_age_of(key).is_some() {
                unprobed.push(key.to_owned());
            }
        } else if !wrong.contains(key) {
            remaining.push(key);
        }
    }
    // Keys the record names are streams nearly always; the others are nearly always new
    // (a first apply: all of them), so those get a TYPE first and the stream reads only if
    // they are streams: one command per new key instead of two.
    let (recorded, unrecorded): (Vec<&str>, Vec<&str>) = remaining.into_iter().partition(|key| {
        record
            .as_ref()
            .is_some_and(|r| r.streams.contains_key(*key))
    });
    read_streams(target, &recorded, &age_probe_of, &mut streams).await?;
    let existing = read_types(target, &unrecorded, &mut read).await?;
    read_streams(target, &existing, &age_probe_of, &mut streams).await?;
    read.extend(streams.read);
    let mut users: BTreeSet<String> = desired.users.keys().cloned().collect();
    if let Some(record) = &record {
        users.extend(record.users.iter().cloned());
    }
    let mut live = LiveState {
        keys: read,
        record,
        node_max_entries,
        now_ms,
        acl: None,
    };
    for (key, kind) in key_types(target, &streams.wrong_types).await? {
        live.keys.insert(key, LiveKey::WrongType(kind));
    }
    probe_ages(target, &unprobed, &age_probe_of, &mut live).await?;
    read_positions(target, desired, &mut live).await?;
    if !users.is_empty() {
        live.acl = Some(super::acl::read(target, &users).await?);
    }
    Ok(live)
}

/// `XLEN` and `XINFO GROUPS` of each key, and its age probe where `age_probe_of` gives one.
async fn read_streams(
    target: &mut Target,
    keys: &[&str],
    age_probe_of: &(dyn Fn(&str) -> Option<Cmd> + Sync),
    streams: &mut Streams,
) -> Result<(), TargetError> {
    let mut probed = Vec::with_capacity(keys.len());
    let batches: Vec<Vec<Cmd>> = keys
        .chunks(KEYS_PER_BATCH)
        .map(|chunk| {
            let mut commands = Vec::with_capacity(chunk.len() * 3);
            for key in chunk {
                let mut xlen = redis::cmd("XLEN");
                xlen.arg(*key);
                let mut groups = redis::cmd("XINFO");
                groups.arg("GROUPS").arg(*key);
                commands.extend([xlen, groups]);
                let probe = age_probe_of(key);
                probed.push(probe.is_some());
                commands.extend(probe);
            }
            commands
        })
        .collect();
    // Each batch's replies become live state as soon as they arrive, so that only a few
    // batches of raw replies are ever held at once.
    streams.read.reserve(keys.len());
    let url = target.describe().clone();
    let mut keys = keys.iter().zip(probed);
    target
        .read_each(batches, |replies| {
            let mut replies = replies.iter();
            for (key, probed) in keys.by_ref().take(KEYS_PER_BATCH) {
                let length = replies.next().unwrap_or(&Reply::Nil);
                let groups = replies.next().unwrap_or(&Reply::Nil);
                let probe = if probed { replies.next() } else { None };
                match parse_key(key, length, groups, probe, &url)? {
                    Some(live_key) => streams.read.push(((*key).to_owned(), live_key)),
                    None => streams.wrong_types.push((*key).to_owned()),
                }
            }
            Ok(())
        })
        .await
}

/// The `max_age` probes of streams read without one (see [`prefetch`]).
async fn probe_ages(
    target: &mut Target,
    keys: &[String],
    age_probe_of: &(dyn Fn(&str) -> Option<Cmd> + Sync),
    live: &mut LiveState,
) -> Result<(), TargetError> {
    let (keys, commands): (Vec<&String>, Vec<Cmd>) = keys
        .iter()
        .filter(|key| matches!(live.keys.get(*key), Some(LiveKey::Stream(_))))
        .filter_map(|key| Some((key, age_probe_of(key)?)))
        .unzip();
    if commands.is_empty() {
        return Ok(());
    }
    let batches = commands.chunks(BATCH_SIZE).map(<[Cmd]>::to_vec).collect();
    let mut keys = keys.into_iter();
    target
        .read_each(batches, |replies| {
            // Replies first: a batch's replies end before the keys do.
            for (reply, key) in replies.iter().zip(keys.by_ref()) {
                if let Some(LiveKey::Stream(stream)) = live.keys.get_mut(key) {
                    stream.older_than_max_age = Some(match reply {
                        Reply::Array(items) => items.len() as u64,
                        _ => 0,
                    });
                }
            }
            Ok(())
        })
        .await
}

/// `XINFO STREAM` for existing streams that get a new group with an explicit start ID or
/// `entries_read`: the planner checks those against the stream (Redis does not).
async fn read_positions(
    target: &mut Target,
    desired: &Desired,
    live: &mut LiveState,
) -> Result<(), TargetError> {
    let keys: Vec<&String> = desired
        .streams
        .iter()
        .filter(|(key, stream)| {
            // The declaration first: few groups have an explicit position, and looking each
            // of 10,000 keys up costs more than the rest of this.
            let positioned = |group: &crate::model::desired::DesiredGroup| {
                group.entries_read.is_some()
                    || matches!(group.start, crate::model::types::StartId::Id { ms, seq } if ms > 0 || seq > 0)
            };
            if !stream.groups.values().any(positioned) {
                return false;
            }
            let Some(LiveKey::Stream(existing)) = live.keys.get(*key) else {
                return false;
            };
            stream
                .groups
                .iter()
                .any(|(name, group)| !existing.groups.contains_key(name) && positioned(group))
        })
        .map(|(key, _)| key)
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let commands: Vec<Cmd> = keys
        .iter()
        .map(|k| redis::cmd("XINFO").arg("STREAM").arg(k.as_str()).clone())
        .collect();
    let replies = target.batch(&commands).await?;
    for (key, reply) in keys.into_iter().zip(replies) {
        if let Some(LiveKey::Stream(stream)) = live.keys.get_mut(key) {
            for (field, value) in map_entries(&reply) {
                match field.as_ref() {
                    "last-generated-id" => {
                        stream.last_generated_id = text(value).and_then(|t| StreamId::parse(&t));
                    }
                    "entries-added" => stream.entries_added = as_u64(value),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// The `TYPE` of each key: a missing key or one of another type goes into `read`; the keys
/// that hold streams are returned, to be read as streams.
async fn read_types<'k>(
    target: &mut Target,
    keys: &[&'k str],
    read: &mut BTreeMap<String, LiveKey>,
) -> Result<Vec<&'k str>, TargetError> {
    let mut streams = Vec::new();
    let batches = keys
        .chunks(BATCH_SIZE)
        .map(|chunk| {
            chunk
                .iter()
                .map(|key| {
                    let mut command = redis::cmd("TYPE");
                    command.arg(*key);
                    command
                })
                .collect()
        })
        .collect();
    let url = target.describe().clone();
    let mut keys = keys.iter();
    target
        .read_each(batches, |replies| {
            // Replies first: a batch's replies end before the keys do.
            for (reply, key) in replies.iter().zip(keys.by_ref()) {
                let live = match reply {
                    Reply::Error { code, details } => {
                        return Err(read_failed(&url, key, code, details));
                    }
                    _ => match reply.text().as_deref() {
                        Some("stream") => {
                            streams.push(*key);
                            continue;
                        }
                        Some("none") => LiveKey::Missing,
                        Some(other) => LiveKey::WrongType(other.to_owned()),
                        None => LiveKey::WrongType("value of another type".to_owned()),
                    },
                };
                read.insert((*key).to_owned(), live);
            }
            Ok(())
        })
        .await?;
    Ok(streams)
}

/// The type of each key that is not a stream, for the message that names it.
async fn key_types(
    target: &mut Target,
    keys: &[String],
) -> Result<Vec<(String, String)>, TargetError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let commands: Vec<Cmd> = keys
        .iter()
        .map(|k| redis::cmd("TYPE").arg(k).clone())
        .collect();
    let replies = target.batch(&commands).await?;
    Ok(keys
        .iter()
        .zip(replies)
        .map(|(key, kind)| {
            (
                key.clone(),
                as_text(&kind).unwrap_or_else(|| "value of another type".to_owned()),
            )
        })
        .collect())
}

/// Entries older than `minid_ms`, counted up to one more than a macro-node holds.
fn age_probe(key: &str, minid_ms: u64, node_max_entries: u64) -> Cmd {
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg(format!("({minid_ms}-0"))
        .arg("COUNT")
        .arg(node_max_entries + 1)
        .clone()
}

async fn read_header(target: &mut Target, namespace: &str) -> Result<Header, TargetError> {
    let record_key = record_key(namespace);
    let commands = [
        redis::cmd("TIME").clone(),
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("stream-node-max-entries")
            .clone(),
        redis::cmd("GET").arg(&record_key).clone(),
    ];
    let replies = target.batch(&commands).await?;
    let now_ms = replies.first().and_then(parse_time).ok_or_else(|| {
        TargetError(format!(
            "{}: TIME gave an unexpected reply",
            target.describe()
        ))
    })?;
    let node_max_entries = replies
        .get(1)
        .and_then(|v| {
            map_entries(v)
                .into_iter()
                .find(|(k, _)| k == "stream-node-max-entries")
        })
        .and_then(|(_, v)| text(v)?.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_NODE_MAX_ENTRIES);
    let record = parse_record(target, &record_key, replies.get(2))?;
    Ok(Header {
        now_ms,
        node_max_entries,
        record,
    })
}

/// The record alone, in one round trip: apply checks under the lock that no other apply
/// ran since it read the server.
pub async fn read_record(
    target: &mut Target,
    namespace: &str,
) -> Result<Option<Record>, TargetError> {
    let record_key = record_key(namespace);
    let replies = target
        .batch(&[redis::cmd("GET").arg(&record_key).clone()])
        .await?;
    parse_record(target, &record_key, replies.first())
}

fn parse_record(
    target: &Target,
    record_key: &str,
    reply: Option<&Value>,
) -> Result<Option<Record>, TargetError> {
    match reply {
        Some(Value::ServerError(e)) => Err(TargetError(format!(
            "{}: cannot read the record `{record_key}`: {}",
            target.describe(),
            server_error_text(e)
        ))),
        Some(value) => match as_text(value) {
            Some(json) => Record::parse(&json).map(Some).map_err(|why| {
                TargetError(format!("the record `{record_key}` cannot be used: {why}"))
            }),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

/// One key from its `XLEN` and `XINFO GROUPS` replies; `None` for a key of another type.
fn parse_key(
    key: &str,
    length: &Reply,
    groups: &Reply,
    probe: Option<&Reply>,
    url: &RedactedUrl,
) -> Result<Option<LiveKey>, TargetError> {
    for reply in [length, groups] {
        match reply {
            Reply::Error {
                code: "WRONGTYPE", ..
            } => return Ok(None),
            Reply::Error { details, .. } if details.contains("no such key") => {
                return Ok(Some(LiveKey::Missing));
            }
            Reply::Error { code, details } => return Err(read_failed(url, key, code, details)),
            _ => {}
        }
    }
    let older_than_max_age = probe.map(|p| match p {
        Reply::Array(items) => items.len() as u64,
        _ => 0,
    });
    Ok(Some(LiveKey::Stream(LiveStream {
        length: length.as_u64().unwrap_or(0),
        older_than_max_age,
        groups: parse_groups(groups),
        ..LiveStream::default()
    })))
}

fn read_failed(url: &RedactedUrl, key: &str, code: &str, details: &str) -> TargetError {
    let message = format!("{url}: reading {key} failed: {code} {details}");
    TargetError(message.trim_end().to_owned())
}

fn parse_groups(groups: &Reply) -> SmallMap<String, LiveGroup> {
    let Reply::Array(items) = groups else {
        return Default::default();
    };
    items
        .iter()
        .filter_map(|group| {
            let mut name = None;
            let mut live = LiveGroup::default();
            for (field, value) in group.fields() {
                match field {
                    "name" => name = value.text().map(Cow::into_owned),
                    "consumers" => live.consumers = value.as_u64().unwrap_or(0),
                    "pending" => live.pending = value.as_u64().unwrap_or(0),
                    "last-delivered-id" => {
                        live.last_delivered_id =
                            value.as_str().and_then(StreamId::parse).unwrap_or_default();
                    }
                    _ => {}
                }
            }
            Some((name?, live))
        })
        .collect()
}

/// Field/value pairs of a reply that is a map (RESP3) or a flat array (RESP2), borrowed from
/// the reply (an `XINFO GROUPS` of 10,000 streams has 240,000 of them). Unknown fields are
/// kept for the caller to ignore: newer servers add fields.
pub(crate) fn map_entries(value: &Value) -> Vec<(Cow<'_, str>, &Value)> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, v)))
            .collect(),
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((text(k)?, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The text of a string reply, borrowed when it is valid UTF-8.
fn text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes)),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(Cow::Borrowed(s)),
        _ => None,
    }
}

pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Int(i) => Some(i.to_string()),
        other => text(other).map(Cow::into_owned),
    }
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => text(other)?.parse().ok(),
    }
}

fn parse_time(value: &Value) -> Option<u64> {
    let Value::Array(parts) = value else {
        return None;
    };
    let seconds: u64 = as_text(parts.first()?)?.parse().ok()?;
    let micros: u64 = as_text(parts.get(1)?)?.parse().ok()?;
    Some(seconds * 1000 + micros / 1000)
}

pub fn server_error_text(error: &redis::ServerError) -> String {
    match error.details() {
        Some(details) => format!("{} {details}", error.code()),
        None => error.code().to_owned(),
    }
}
