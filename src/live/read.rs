//! Reading the live state in a fixed number of pipelined round trips.
//!
//! 1. One round trip for the server's clock (`TIME`), `stream-node-max-entries` and the
//!    tool's record.
//! 2. For every key the topology declares or the record names: `TYPE`, `XINFO STREAM`,
//!    `XINFO GROUPS` (never `XINFO ... FULL`, which can block a server for hundreds of
//!    milliseconds), plus, for streams with `max_age`, an `XRANGE ... COUNT` probe bounded by
//!    one macro-node. These go in batches of [`crate::target::BATCH_SIZE`] commands, so round
//!    trips grow with the batch count, not with the number of streams.
//!
//! Only read commands are sent, so `plan` works with a read-only ACL user.

use std::collections::BTreeSet;

use redis::{Cmd, Value};

use super::{LiveGroup, LiveKey, LiveState, LiveStream, StreamId};
use crate::model::desired::Desired;
use crate::record::{Record, record_key};
use crate::target::{Target, TargetError};

/// Default `stream-node-max-entries`, used when CONFIG GET is not allowed (a least-privilege
/// user, a managed service).
const DEFAULT_NODE_MAX_ENTRIES: u64 = 100;

pub async fn read(target: &mut Target, desired: &Desired) -> Result<LiveState, TargetError> {
    let (now_ms, node_max_entries, record) = read_header(target, desired).await?;
    let mut keys: BTreeSet<String> = desired.streams.keys().cloned().collect();
    if let Some(record) = &record {
        keys.extend(record.streams.keys().cloned());
    }
    let mut commands = Vec::with_capacity(keys.len() * 4);
    let mut probes = Vec::with_capacity(keys.len());
    for key in &keys {
        commands.push(redis::cmd("TYPE").arg(key).clone());
        commands.push(redis::cmd("XINFO").arg("STREAM").arg(key).clone());
        commands.push(redis::cmd("XINFO").arg("GROUPS").arg(key).clone());
        let max_age = desired
            .streams
            .get(key)
            .and_then(|s| s.retention.max_age_ms);
        if let Some(age) = max_age {
            commands.push(age_probe(key, now_ms.saturating_sub(age), node_max_entries));
        }
        probes.push(max_age.is_some());
    }
    let replies = target.batch(&commands).await?;
    let mut replies = replies.into_iter();
    let mut live = LiveState {
        keys: Default::default(),
        record,
        node_max_entries,
        now_ms,
    };
    for (key, probed) in keys.into_iter().zip(probes) {
        let kind = replies.next().unwrap_or(Value::Nil);
        let info = replies.next().unwrap_or(Value::Nil);
        let groups = replies.next().unwrap_or(Value::Nil);
        let probe = if probed { replies.next() } else { None };
        let live_key = parse_key(&key, &kind, &info, &groups, probe.as_ref(), target)?;
        live.keys.insert(key, live_key);
    }
    Ok(live)
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

async fn read_header(
    target: &mut Target,
    desired: &Desired,
) -> Result<(u64, u64, Option<Record>), TargetError> {
    let record_key = record_key(&desired.namespace);
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
        .and_then(|(_, v)| as_text(&v)?.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_NODE_MAX_ENTRIES);
    let record = match replies.get(2) {
        Some(Value::ServerError(e)) => {
            return Err(TargetError(format!(
                "{}: cannot read the record `{record_key}`: {}",
                target.describe(),
                server_error_text(e)
            )));
        }
        Some(value) => match as_text(value) {
            Some(json) => Some(Record::parse(&json).map_err(|why| {
                TargetError(format!("the record `{record_key}` cannot be used: {why}"))
            })?),
            None => None,
        },
        None => None,
    };
    Ok((now_ms, node_max_entries, record))
}

fn parse_key(
    key: &str,
    kind: &Value,
    info: &Value,
    groups: &Value,
    probe: Option<&Value>,
    target: &Target,
) -> Result<LiveKey, TargetError> {
    let kind = match kind {
        Value::ServerError(e) => {
            return Err(TargetError(format!(
                "{}: TYPE {key} failed: {}",
                target.describe(),
                server_error_text(e)
            )));
        }
        other => as_text(other).unwrap_or_default(),
    };
    match kind.as_str() {
        "none" => return Ok(LiveKey::Missing),
        "stream" => {}
        other => return Ok(LiveKey::WrongType(other.to_owned())),
    }
    for reply in [info, groups] {
        if let Value::ServerError(e) = reply {
            return Err(TargetError(format!(
                "{}: XINFO on {key} failed: {}",
                target.describe(),
                server_error_text(e)
            )));
        }
    }
    let mut stream = parse_stream_info(info);
    stream.groups = parse_groups(groups);
    stream.older_than_max_age = probe.map(|p| match p {
        Value::Array(items) => items.len() as u64,
        _ => 0,
    });
    Ok(LiveKey::Stream(stream))
}

fn parse_stream_info(info: &Value) -> LiveStream {
    let mut stream = LiveStream::default();
    for (field, value) in map_entries(info) {
        match field.as_str() {
            "length" => stream.length = as_u64(&value).unwrap_or(0),
            "last-generated-id" => {
                stream.last_generated_id = as_text(&value)
                    .and_then(|t| StreamId::parse(&t))
                    .unwrap_or_default();
            }
            "first-entry" => {
                stream.first_id = match &value {
                    Value::Array(entry) => entry
                        .first()
                        .and_then(as_text)
                        .and_then(|t| StreamId::parse(&t)),
                    _ => None,
                };
            }
            _ => {}
        }
    }
    stream
}

fn parse_groups(groups: &Value) -> std::collections::BTreeMap<String, LiveGroup> {
    let Value::Array(items) = groups else {
        return Default::default();
    };
    items
        .iter()
        .filter_map(|group| {
            let mut name = None;
            let mut live = LiveGroup::default();
            for (field, value) in map_entries(group) {
                match field.as_str() {
                    "name" => name = as_text(&value),
                    "consumers" => live.consumers = as_u64(&value).unwrap_or(0),
                    "pending" => live.pending = as_u64(&value).unwrap_or(0),
                    "last-delivered-id" => {
                        live.last_delivered_id = as_text(&value)
                            .and_then(|t| StreamId::parse(&t))
                            .unwrap_or_default();
                    }
                    _ => {}
                }
            }
            Some((name?, live))
        })
        .collect()
}

/// Field/value pairs of a reply that is a map (RESP3) or a flat array (RESP2). Unknown
/// fields are kept for the caller to ignore: newer servers add fields.
fn map_entries(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((as_text(k)?, v.clone())))
            .collect(),
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((as_text(k)?, v.clone())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => as_text(other)?.parse().ok(),
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
