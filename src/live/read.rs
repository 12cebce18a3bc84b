//! Reading the live state in a fixed number of pipelined round trips.
//!
//! 1. One round trip per node for its clock (`TIME`), its key count (`DBSIZE`) and
//!    `stream-node-max-entries` (facts Redis keeps per node, kept per node in
//!    [`LiveState::nodes`]), which on the node that owns the record's key also carries the
//!    record's `GET` under both its names.
//! 2. For every key the record names: `XLEN` and `XINFO GROUPS`, plus, for streams with
//!    `max_age`, an `XRANGE ... COUNT` probe bounded by one macro-node. A key of another type
//!    answers `WRONGTYPE`; those keys get a `TYPE` in a later round trip, for the message.
//!    Keys the topology declares and the record does not name (new streams) get a `TYPE`
//!    first, and the stream reads only if they hold streams; on a server holding fewer keys
//!    than that (`DBSIZE`, read in step 1), `SCAN` lists the keys that exist instead
//!    ([`listed_if_few`]).
//!    `XLEN` rather than `XINFO STREAM`: its reply does not carry the first and last entries,
//!    which can be large, and the planner needs only the length. Never `XINFO ... FULL`,
//!    which can block a server for hundreds of milliseconds.
//!
//! 3. Only when the topology declares ACL users or the record names some: see [`super::acl`].
//!
//! Steps 1 and 2 for the recorded streams can run while the file is still being validated
//! ([`prefetch`]); [`read_after`] then reads only what is left. Commands go in batches of
//! [`crate::target::BATCH_SIZE`], so round trips grow with the batch count, not with the
//! number of streams. Every reply comes through the bounded reader ([`Target::read_each`],
//! `crate::resp`), and only read commands are sent, so `plan` works with a read-only ACL
//! user.
//!
//! **Replies are checked, not guessed.** A reply of another shape than the command's (an
//! `XLEN` of -5, a group without a name or with a pending count that is not an integer, a
//! `TIME` that is not two integers) stops the read with an error naming the command and the
//! key; a command's error is reported with the server's own words (escaped, see
//! [`crate::text`]). Errors are told apart by their code (`WRONGTYPE`, `NOPERM`), never by
//! their wording, which differs between Redis and Valkey versions.
//!
//! **A missing key** answers `XLEN` with 0 and `XINFO GROUPS` with an error whose code is
//! `ERR` (Redis 7.0 to 8.x and Valkey 8 and 9 all say `ERR no such key`, but the words are
//! not relied on). An existing stream, even an empty one, answers `XINFO GROUPS` with an
//! array, so that pair can only be a missing key or a real failure of `XINFO GROUPS` (say,
//! the command renamed away). The `TYPE` of such keys, read with those of other types in a
//! later round trip, tells which: `none` is missing, `stream` is the failure, reported with
//! the server's words. It costs a round trip only when a recorded key is missing.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use compact_str::CompactString;

use super::{LiveGroup, LiveKey, LiveNode, LiveState, LiveStream, StreamId};
use crate::model::desired::Desired;
use crate::record::{Record, RecordError, Recorded, legacy_record_key, record_key};
use crate::resp::{ArrayTokens, MAX_REPLY_BYTES, Reply, Value, server_words, size_text};
use crate::small_map::SmallMap;
use crate::target::keyed::{BatchLimits, KeyCommands};
use crate::target::scan::ScanPattern;
use crate::target::{
    BATCH_SIZE, Command, NodeId, ReadError, RedactedUrl, Route, ServerError, Target, TargetError,
    TwoRecords,
};
use crate::text::untrusted;

/// Default `stream-node-max-entries`, used when CONFIG GET is not allowed (a least-privilege
/// user, a managed service).
const DEFAULT_NODE_MAX_ENTRIES: u64 = 100;

/// Keys per pipelined batch: two or three commands each, so a batch is about a quarter of
/// [`BATCH_SIZE`] commands and always holds every command of its keys. Not more: a batch's
/// replies (~28 values a stream) are then built while their tokens are still in the core's
/// cache, and the last batch of each node, handed over after the server's last reply, is
/// short (a no-op plan of 10,000 streams on 3 primaries: 0.98x the time of 500 keys a batch,
/// 50 pairs; 125 keys a batch are no faster).
const KEYS_PER_BATCH: usize = BATCH_SIZE / 4;

/// Age probes per batch: each reads up to a macro-node of entries (101 by default), whose
/// size the tool does not control, so that a batch of streams with large entries stays
/// within what the reader takes for a batch (`reader::MAX_BATCH_BYTES`, 256 MiB: entries of
/// 50 KB on average).
const PROBES_PER_BATCH: usize = 50;

/// `XINFO STREAM` replies per batch: each carries the stream's first and last entries.
const POSITIONS_PER_BATCH: usize = 50;

/// What the bounded reader's errors suggest when the server refused a command for want of a
/// permission.
const NOPERM_HINT: &str = " (the user lacks a permission the tool needs: see \"Least-privilege users for the tool\" in docs/operations.md)";

/// The largest record whose parse runs beside the reads (~27,000 streams). Beside them, the
/// record's text (copied out of the reply for the other thread) and the parse's own peak
/// add to the reads' memory, where one after the other they did not: at 100,000 streams (a
/// 7 MB record) the no-op plan's peak went from 124-128 to 143-144 MB, near the 150 MB the
/// scale goal allows. Larger records are parsed from the reply, first, as before.
const GLANCE_MAX_BYTES: usize = 2 * 1024 * 1024;

/// What can be read before the topology file is loaded, once its namespace is known: the
/// header, the ACL users the record names and every stream it names (see `cli::session`,
/// which reads this while the file is validated). On a converged server that is every read a
/// plan needs.
pub struct Prefetched {
    namespace: String,
    header: Header,
    streams: Streams,
    /// The users read on every node (into `header.nodes`), if any.
    users: Option<BTreeSet<String>>,
}

/// The first reads: each node's clock and macro-node size, and the tool's record.
struct Header {
    nodes: Vec<LiveNode>,
    record: Option<Record>,
    /// The record was found under its old name ([`legacy_record_key`]).
    record_under_old_name: bool,
    /// The node its key routes to.
    record_node: usize,
}

/// Streams read so far.
#[derive(Default)]
struct Streams {
    read: Vec<(String, LiveKey)>,
    /// Keys whose `TYPE`, read later, says what they are: keys of another type (`None`), and
    /// keys that look missing, with the words of `XINFO GROUPS`' error (see the module's
    /// comment).
    to_type: Vec<(String, Option<String>)>,
}

/// Read the header of `namespace` and every stream its record names.
///
/// The record is parsed on another thread while its streams are read, when a glance at its
/// text names them ([`crate::record::glance`]) and it is no larger than [`GLANCE_MAX_BYTES`]:
/// the parse of a record of 10,000 streams (~2.6 ms) was on the way to the first read. The
/// glance is only trusted once the parse agrees with it; a record it misread is read again
/// from what the parse found.
pub async fn prefetch(target: &mut Target, namespace: &str) -> Result<Prefetched, TargetError> {
    let RawHeader {
        nodes,
        current,
        old,
        record_node,
        keys,
    } = read_header_raw(target, namespace).await?;
    let json = match (&current, &old) {
        (RecordRead::Text(json), RecordRead::Missing) => Some(Arc::clone(json)),
        _ => None,
    };
    let Some(seen) = json.as_deref().and_then(crate::record::glance) else {
        let header = RawHeader {
            nodes,
            current,
            old,
            record_node,
            keys,
        }
        .parse(target.describe(), namespace)?;
        return read_recorded(target, namespace, header).await;
    };
    let (key, text) = (keys.current.clone(), json.clone());
    let parsing =
        tokio::task::spawn_blocking(move || parse_record_text::<Record>(text.as_deref(), &key));
    let mut header = Header {
        nodes,
        record: None,
        record_under_old_name: false,
        record_node,
    };
    let users = user_set(seen.users.iter().copied());
    let mut streams = Streams::default();
    let read = read_named(
        target,
        &users,
        &seen.streams,
        &mut header.nodes,
        &mut streams,
    )
    .await;
    let record = match parsing.await {
        Ok(parsed) => parsed?,
        Err(join) => match join.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(join) => std::panic::resume_unwind(Box::new(join.to_string())),
        },
    };
    // As on one thread: the record's error first, then the reads'.
    read?;
    let agrees = record.as_ref().is_some_and(|record| {
        record
            .streams
            .keys()
            .map(|k| k.as_str())
            .eq(seen.streams.iter().copied())
            && record
                .users
                .iter()
                .map(String::as_str)
                .eq(seen.users.iter().copied())
    });
    header.record = record;
    if !agrees {
        // Nothing read for the glance's names stays: the users too are read again.
        for node in &mut header.nodes {
            node.acl = None;
        }
        return read_recorded(target, namespace, header).await;
    }
    Ok(Prefetched {
        namespace: namespace.to_owned(),
        header,
        streams,
        users,
    })
}

/// The users and streams `header`'s record names, read.
async fn read_recorded(
    target: &mut Target,
    namespace: &str,
    mut header: Header,
) -> Result<Prefetched, TargetError> {
    let record = header.record.as_ref();
    let users = user_set(
        record
            .iter()
            .flat_map(|r| r.users.iter().map(String::as_str)),
    );
    let recorded: Vec<&str> = record
        .iter()
        .flat_map(|r| r.streams.keys())
        .map(|k| k.as_str())
        .collect();
    let mut streams = Streams::default();
    read_named(target, &users, &recorded, &mut header.nodes, &mut streams).await?;
    Ok(Prefetched {
        namespace: namespace.to_owned(),
        header,
        streams,
        users,
    })
}

/// The users a record names, with `default`; `None` when it names none.
fn user_set<'n>(names: impl Iterator<Item = &'n str>) -> Option<BTreeSet<String>> {
    let mut users: BTreeSet<String> = names.map(str::to_owned).collect();
    if users.is_empty() {
        return None;
    }
    with_default(&mut users);
    Some(users)
}

/// Read `users` on every node (into `nodes`), then the streams `keys`.
async fn read_named(
    target: &mut Target,
    users: &Option<BTreeSet<String>>,
    keys: &[&str],
    nodes: &mut [LiveNode],
    streams: &mut Streams,
) -> Result<(), TargetError> {
    // The users first: `ACL GETUSER` costs the server ~140 µs a user (it describes the
    // user's commands against every category), so 2,000 users keep it busy ~0.3 s, which
    // then passes while this process loads the file instead of after it.
    if let Some(users) = users {
        super::acl::read_every_node(target, users, nodes).await?;
    }
    read_streams(target, keys, &|_, _| None, streams).await
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
    let (header, mut streams, users_read) = match prefetched {
        Some(p) if p.namespace == desired.namespace => (p.header, p.streams, p.users),
        _ => (
            read_header(target, &desired.namespace).await?,
            Streams::default(),
            None,
        ),
    };
    let Header {
        nodes,
        record,
        record_under_old_name,
        record_node,
    } = header;
    let max_age_of = |key: &str| desired.streams.get(key)?.retention.max_age_ms;
    // A stream's probe counts by its own node's clock and macro-node size.
    let unread = LiveNode::UNREAD;
    let age_probe_of = |key: &str, node: usize| {
        let max_age = max_age_of(key)?;
        let node = nodes.get(node).unwrap_or(&unread);
        Some(age_probe(
            key,
            node.now_ms.saturating_sub(max_age),
            node.node_max_entries,
        ))
    };
    // What is still to read: declared or recorded, and not prefetched (the sets are sorted,
    // so one walk over them, not a lookup per key).
    let recorded_keys = record
        .iter()
        .flat_map(|r| r.streams.keys().map(|k| k.as_str()));
    let keys = sorted_union(desired.streams.keys().map(String::as_str), recorded_keys);
    let mut read: BTreeMap<String, LiveKey> =
        std::mem::take(&mut streams.read).into_iter().collect();
    let to_type: BTreeSet<&str> = streams.to_type.iter().map(|(k, _)| k.as_str()).collect();
    let mut prefetched = read.keys().map(String::as_str).peekable();
    // The declarations walked beside the keys: a lookup per key of 10,000 on a no-op plan's
    // critical path took ~0.8 ms.
    let mut declared = desired.streams.iter().peekable();
    let (mut remaining, mut unprobed) = (Vec::new(), Vec::new());
    for key in keys {
        while prefetched.next_if(|k| *k < key).is_some() {}
        while declared.next_if(|(k, _)| k.as_str() < key).is_some() {}
        if prefetched.next_if_eq(&key).is_some() {
            // Streams read before the file was loaded were not probed for `max_age`.
            let max_age = declared
                .peek()
                .filter(|(k, _)| k.as_str() == key)
                .and_then(|(_, stream)| stream.retention.max_age_ms);
            if max_age.is_some() {
                unprobed.push(key.to_owned());
            }
        } else if !to_type.contains(key) {
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
    let unrecorded = match listed_if_few(target, &desired.namespace, &nodes, &unrecorded).await? {
        Some(listed) => listed,
        None => unrecorded,
    };
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
        record_under_old_name,
        record_node,
        nodes: nodes.clone(),
    };
    live.keys
        .extend(resolve_types(target, &streams.to_type).await?);
    probe_ages(target, &unprobed, &age_probe_of, &mut live).await?;
    read_positions(target, desired, &mut live).await?;
    if !users.is_empty() {
        with_default(&mut users);
        // Read ahead already when the record names them all (a converged server).
        if users_read.as_ref() != Some(&users) {
            super::acl::read_every_node(target, &users, &mut live.nodes).await?;
        }
    }
    Ok(live)
}

/// Of `keys`, those that exist, listed by `SCAN` on every primary, when the primaries hold
/// no more keys in all than `keys` has (`DBSIZE`, read with the header): a first plan or
/// apply on a fresh server then takes a round trip per 1,000 keys held instead of a `TYPE`
/// per new key (a first apply of 10,000 streams on a 3-primary cluster: 0.90x the time).
/// `None` (look at each key) when the primaries hold more, when a node's count is unknown,
/// or when a server refuses `SCAN` (a user who may not run it, a server where it is renamed).
///
/// At worst (the primaries hold exactly the new keys: streams made by hand before a first
/// apply) the scan comes on top of a `TYPE` for each of them. A key created while the scan
/// runs may be missed, as it may be by a `TYPE` sent just before it is created: either way
/// the plan shows the server as it was read.
async fn listed_if_few<'k>(
    target: &mut Target,
    namespace: &str,
    nodes: &[LiveNode],
    keys: &[&'k str],
) -> Result<Option<Vec<&'k str>>, TargetError> {
    if keys.is_empty() {
        return Ok(None);
    }
    let mut held = 0u64;
    for node in target.route(Route::EveryPrimary) {
        match nodes.get(node.0).and_then(|n| n.keys_held) {
            Some(count) => held = held.saturating_add(count),
            None => return Ok(None),
        }
    }
    if held > keys.len() as u64 {
        return Ok(None);
    }
    let wanted: HashSet<&'k str> = keys.iter().copied().collect();
    let mut found: HashSet<&'k str> = HashSet::new();
    let pattern = if namespace.is_empty() {
        "*".to_owned()
    } else {
        format!("{}:*", crate::glob::escape(namespace))
    };
    let scanned = target
        .scan_every_primary(
            &[ScanPattern {
                pattern: &pattern,
                kind: None,
            }],
            "",
            &mut |_, key| {
                if let Some(key) = std::str::from_utf8(key).ok().and_then(|k| wanted.get(k)) {
                    found.insert(key);
                }
            },
        )
        .await;
    match scanned {
        // In the caller's order.
        Ok(()) => Ok(Some(
            keys.iter().copied().filter(|k| found.contains(k)).collect(),
        )),
        Err(TargetError::Refused { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Read `default` too, declared or not: the plan notes when it is left open.
fn with_default(users: &mut BTreeSet<String>) {
    users.insert(crate::model::types::DEFAULT_USER.to_owned());
}

/// The items of two sorted sequences, sorted, each once: a merge, where a set built item by
/// item would search itself for each (20,000 keys on a no-op plan's critical path).
fn sorted_union<'a>(
    a: impl Iterator<Item = &'a str>,
    b: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    let mut union = Vec::with_capacity(a.size_hint().0.max(b.size_hint().0));
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.cmp(y) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => {
                    b.next();
                    a.next()
                }
            },
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            // Out of order input (neither is, as both come from sorted maps) would only
            // repeat a key, never lose one.
            Some(key) if union.last() != Some(&key) => union.push(key),
            Some(_) => {}
            None => return union,
        }
    }
}

/// `XLEN` and `XINFO GROUPS` of each of `keys` in pipelined batches, each on the node that
/// serves it, as the plan reads them (no age probe): `import` reads the streams it found
/// with this. Keys that hold another type by now come back as such; missing ones do not.
pub async fn read_stream_keys(
    target: &mut Target,
    keys: &[&str],
) -> Result<BTreeMap<String, LiveKey>, TargetError> {
    let mut streams = Streams::default();
    read_streams(target, keys, &|_, _| None, &mut streams).await?;
    let mut read: BTreeMap<String, LiveKey> = streams.read.into_iter().collect();
    read.extend(resolve_types(target, &streams.to_type).await?);
    Ok(read)
}

/// The `max_age` probe of a key on a node, if the key has `max_age`.
type AgeProbe<'a> = dyn Fn(&str, usize) -> Option<Command> + Sync + 'a;

/// `XLEN` and `XINFO GROUPS` of each key, and its age probe where `age_probe_of` gives one,
/// each key on the node that serves it.
async fn read_streams(
    target: &mut Target,
    keys: &[&str],
    age_probe_of: &AgeProbe<'_>,
    streams: &mut Streams,
) -> Result<(), TargetError> {
    let limits = BatchLimits {
        keys: KEYS_PER_BATCH,
        heavy: PROBES_PER_BATCH,
    };
    let commands_of = |key: &str, node: NodeId| {
        let probe = age_probe_of(key, node.0);
        KeyCommands {
            heavy: probe.is_some(),
            commands: [
                Some(Command::from_words(&["XLEN", key])),
                Some(Command::from_words(&["XINFO", "GROUPS", key]).reply_scanned()),
                probe,
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    };
    // Each batch's replies become live state as soon as they arrive, so that only a few
    // batches of raw replies are ever held at once.
    streams.read.reserve(keys.len());
    let url = target.describe().clone();
    target
        .read_keys(keys, limits, &commands_of, &mut |key, node, replies| {
            let reply = |i: usize| replies.get(i).unwrap_or(&Reply::Nil);
            let probe = replies.get(2);
            match parse_key(key, reply(0), reply(1), probe, &url)? {
                KeyRead::Stream(mut live) => {
                    live.node = node.0;
                    streams
                        .read
                        .push((key.to_owned(), LiveKey::Stream(Box::new(live))));
                }
                KeyRead::ToType(words) => streams.to_type.push((key.to_owned(), words)),
            }
            Ok(())
        })
        .await
        .map_err(TargetError::from)
}

/// One command per key, each on the key's node: `read` is handed each key's reply.
async fn read_each_key<'k>(
    target: &mut Target,
    keys: &[&'k str],
    per_batch: usize,
    command_of: &(dyn Fn(&str, NodeId) -> Option<Command> + Sync),
    read: &mut (dyn FnMut(&'k str, NodeId, &Reply<'_>) -> Result<(), TargetError> + Send),
) -> Result<(), TargetError> {
    let limits = BatchLimits {
        keys: per_batch,
        heavy: per_batch,
    };
    let commands_of = |key: &str, node: NodeId| KeyCommands {
        commands: command_of(key, node).into_iter().collect(),
        heavy: false,
    };
    target
        .read_keys(
            keys,
            limits,
            &commands_of,
            &mut |key, node, replies| match replies.first() {
                Some(reply) => read(key, node, reply),
                None => Ok(()),
            },
        )
        .await
        .map_err(TargetError::from)
}

/// The `max_age` probes of streams read without one (see [`prefetch`]).
async fn probe_ages(
    target: &mut Target,
    keys: &[String],
    age_probe_of: &AgeProbe<'_>,
    live: &mut LiveState,
) -> Result<(), TargetError> {
    let keys: Vec<&str> = keys
        .iter()
        .filter(|key| matches!(live.keys.get(*key), Some(LiveKey::Stream(_))))
        .map(String::as_str)
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let url = target.describe().clone();
    let probe_of = |key: &str, node: NodeId| age_probe_of(key, node.0);
    read_each_key(
        target,
        &keys,
        PROBES_PER_BATCH,
        &probe_of,
        &mut |key, _, reply| {
            let older = probe_count(reply, key, &url)?;
            if let Some(LiveKey::Stream(stream)) = live.keys.get_mut(key) {
                stream.older_than_max_age = Some(older);
            }
            Ok(())
        },
    )
    .await
}

/// `XINFO STREAM` for existing streams that get a new group with an explicit start ID or
/// `entries_read`: the planner checks those against the stream (Redis does not).
async fn read_positions(
    target: &mut Target,
    desired: &Desired,
    live: &mut LiveState,
) -> Result<(), TargetError> {
    let keys: Vec<&str> = desired
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
                .any(|(name, group)| !existing.groups.contains_key(name.as_str()) && positioned(group))
        })
        .map(|(key, _)| key.as_str())
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let url = target.describe().clone();
    let info = |key: &str, _: NodeId| Some(Command::new("XINFO").arg("STREAM").arg(key));
    read_each_key(
        target,
        &keys,
        POSITIONS_PER_BATCH,
        &info,
        &mut |key, _, reply| {
            let (last_generated_id, entries_added) = parse_position(reply, key, &url)?;
            if let Some(LiveKey::Stream(stream)) = live.keys.get_mut(key) {
                stream.last_generated_id = Some(last_generated_id);
                stream.entries_added = entries_added;
            }
            Ok(())
        },
    )
    .await
}

/// The `TYPE` of each key: one of another type goes into `read` (a missing key stays out of
/// it: a first apply of 100,000 streams kept 11 MB of missing keys); the keys that hold
/// streams are returned, to be read as streams.
async fn read_types<'k>(
    target: &mut Target,
    keys: &[&'k str],
    read: &mut BTreeMap<String, LiveKey>,
) -> Result<Vec<&'k str>, TargetError> {
    let mut streams = Vec::new();
    let url = target.describe().clone();
    let type_of = |key: &str, _: NodeId| Some(Command::from_words(&["TYPE", key]));
    read_each_key(target, keys, BATCH_SIZE, &type_of, &mut |key, _, reply| {
        match type_name(reply, key, &url)?.as_ref() {
            "stream" => streams.push(key),
            "none" => {}
            // Server text: escaped and cut before it is kept (it is printed).
            other => {
                read.insert(
                    key.to_owned(),
                    LiveKey::WrongType(untrusted(other).into_owned()),
                );
            }
        }
        Ok(())
    })
    .await?;
    // Nodes answer in their own order: keep the caller's.
    let order: BTreeMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    streams.sort_by_key(|key| order.get(key).copied());
    Ok(streams)
}

/// The `TYPE` of each key the stream reads could not place (see [`Streams::to_type`]):
/// missing (left out), of another type, or, for a key that looked missing but holds a
/// stream, the failure of `XINFO GROUPS` that made it look so.
async fn resolve_types(
    target: &mut Target,
    keys: &[(String, Option<String>)],
) -> Result<Vec<(String, LiveKey)>, TargetError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let unclear: BTreeMap<&str, &Option<String>> =
        keys.iter().map(|(k, words)| (k.as_str(), words)).collect();
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let url = target.describe().clone();
    let mut resolved = Vec::with_capacity(keys.len());
    let type_of = |key: &str, _: NodeId| Some(Command::from_words(&["TYPE", key]));
    read_each_key(
        target,
        &names,
        BATCH_SIZE,
        &type_of,
        &mut |key, _, reply| {
            let live = match (type_name(reply, key, &url)?.as_ref(), unclear.get(key)) {
                ("none", _) => return Ok(()),
                ("stream", Some(Some(words))) => {
                    return Err(TargetError::Refused {
                        url: url.clone(),
                        command: command("XINFO GROUPS", key),
                        error: ServerError {
                            code: "ERR".to_owned(),
                            words: words.clone(),
                        },
                        hint: "".into(),
                    });
                }
                ("stream", _) => {
                    return Err(TargetError::Changed {
                        url: url.clone(),
                        key: untrusted(key).into_owned(),
                    });
                }
                (other, _) => LiveKey::WrongType(untrusted(other).into_owned()),
            };
            resolved.push((key.to_owned(), live));
            Ok(())
        },
    )
    .await?;
    Ok(resolved)
}

/// Entries older than `minid_ms`, counted up to one more than a macro-node holds.
fn age_probe(key: &str, minid_ms: u64, node_max_entries: u64) -> Command {
    Command::new("XRANGE")
        .arg(key)
        .arg("-")
        .arg(format!("({minid_ms}-0"))
        .arg("COUNT")
        .arg(node_max_entries + 1)
}

/// Every node's facts and the tool's record, in one round trip for all nodes: `TIME` and
/// `CONFIG GET stream-node-max-entries` on each node (each has its own clock and
/// configuration), and after them, on the node that owns each of the record's two names
/// (one node unless a cluster puts them apart), that name's `GET`.
async fn read_header(target: &mut Target, namespace: &str) -> Result<Header, TargetError> {
    read_header_raw(target, namespace)
        .await?
        .parse(target.describe(), namespace)
}

/// The header's replies, a small record's text not parsed yet.
struct RawHeader {
    nodes: Vec<LiveNode>,
    /// The record under its current name and under its old one.
    current: RecordRead,
    old: RecordRead,
    record_node: usize,
    keys: RecordKeys,
}

/// A record as the header read it: its text, kept to be parsed beside the reads (up to
/// [`GLANCE_MAX_BYTES`]), or parsed at once (a larger one, whose text is not copied).
enum RecordRead {
    Missing,
    Text(Arc<[u8]>),
    Parsed(Record),
}

impl RecordRead {
    fn of(reply: &Reply, key: &str, url: &RedactedUrl) -> Result<RecordRead, TargetError> {
        Ok(match record_text(reply, key, url)? {
            None => RecordRead::Missing,
            Some(text) if text.len() <= GLANCE_MAX_BYTES => RecordRead::Text(Arc::from(text)),
            Some(text) => match parse_record_text::<Record>(Some(text), key)? {
                Some(record) => RecordRead::Parsed(record),
                None => RecordRead::Missing,
            },
        })
    }

    fn parse(self, key: &str) -> Result<Option<Record>, TargetError> {
        match self {
            RecordRead::Missing => Ok(None),
            RecordRead::Text(text) => parse_record_text(Some(&text), key),
            RecordRead::Parsed(record) => Ok(Some(record)),
        }
    }
}

impl RawHeader {
    fn parse(self, url: &RedactedUrl, namespace: &str) -> Result<Header, TargetError> {
        let current = self.current.parse(&self.keys.current)?;
        let old = self.old.parse(&self.keys.old)?;
        let (record, record_under_old_name) = self.keys.choose(namespace, current, old, url)?;
        Ok(Header {
            nodes: self.nodes,
            record,
            record_under_old_name,
            record_node: self.record_node,
        })
    }
}

/// Where a node's header replies hold the record's (after `TIME`, `CONFIG GET` and
/// `DBSIZE`): its current name's, then its old name's, on the nodes their keys route to.
const RECORD_AT: usize = 3;

/// [`read_header`]'s reads.
async fn read_header_raw(target: &mut Target, namespace: &str) -> Result<RawHeader, TargetError> {
    let keys = RecordKeys::of(namespace);
    // Both names share a node unless a cluster puts the old, untagged name elsewhere.
    let record_node = key_node(target, &keys.current);
    let old_node = key_node(target, &keys.old);
    let url = target.describe().clone();
    let nodes: Vec<NodeId> = target.nodes().collect();
    // Every node's clock and macro-node size, each name of the record after its node's: all
    // nodes at once, one round trip.
    let jobs: Vec<(NodeId, Vec<Vec<Command>>)> = nodes
        .iter()
        .map(|node| {
            let mut commands = vec![
                Command::new("TIME"),
                Command::new("CONFIG")
                    .arg("GET")
                    .arg("stream-node-max-entries")
                    .arg("maxmemory-policy")
                    .arg("appendonly"),
                Command::new("DBSIZE"),
            ];
            if node.0 == record_node {
                commands.push(Command::new("GET").arg(&keys.current));
            }
            if node.0 == old_node {
                commands.push(Command::new("GET").arg(&keys.old));
            }
            (*node, vec![commands])
        })
        .collect();
    let mut facts: Vec<Option<LiveNode>> = nodes.iter().map(|_| None).collect();
    let (mut current, mut old) = (RecordRead::Missing, RecordRead::Missing);
    target
        .read_many(jobs, &mut |job, replies| {
            let node = nodes.get(job).map_or(usize::MAX, |n| n.0);
            let reply = |i: usize| replies.get(i).unwrap_or(&Reply::Nil);
            if let Some(slot) = facts.get_mut(job) {
                let (maxmemory_policy, appendonly) = durability_settings(reply(1));
                *slot = Some(LiveNode {
                    now_ms: parse_time(reply(0), &url)?,
                    node_max_entries: parse_node_max_entries(reply(1), &url)?,
                    maxmemory_policy,
                    appendonly,
                    // `None` for anything but a count: a user who may not ask gets `NOPERM`, and
                    // the reader then looks at keys one by one, as on a full server.
                    keys_held: reply(2).as_u64(),
                    ..LiveNode::UNREAD
                });
            }
            let mut at = RECORD_AT;
            if node == record_node {
                current = RecordRead::of(reply(at), &keys.current, &url)?;
                at += 1;
            }
            if node == old_node {
                old = RecordRead::of(reply(at), &keys.old, &url)?;
            }
            Ok(())
        })
        .await
        .map_err(|(job, error)| {
            let node = nodes.get(job).map_or(usize::MAX, |n| n.0);
            keys.too_large_on(node, (record_node, old_node), error, &url)
        })?;
    let nodes = nodes
        .iter()
        .zip(facts)
        .map(|(node, facts)| {
            let mut facts = facts.ok_or_else(|| TargetError::NoReplies {
                url: url.clone(),
                what: "`TIME`",
            })?;
            facts.address = target.address(*node).to_owned();
            Ok(facts)
        })
        .collect::<Result<Vec<_>, TargetError>>()?;
    Ok(RawHeader {
        nodes,
        current,
        old,
        record_node,
        keys,
    })
}

/// The node `key` routes to, as an index into the live state's nodes.
fn key_node(target: &Target, key: &str) -> usize {
    target
        .route(Route::Key(key))
        .first()
        .map_or(0, |node| node.0)
}

/// The record alone, in one round trip: apply checks under the lock that no other apply
/// ran since it read the server (wherever it was found: an apply that moved it wrote a new
/// serial).
pub async fn read_record<R: Recorded>(
    target: &mut Target,
    namespace: &str,
) -> Result<Option<R>, TargetError> {
    let keys = RecordKeys::of(namespace);
    let url = target.describe().clone();
    let (current, old) =
        if target.route(Route::Key(&keys.current)) == target.route(Route::Key(&keys.old)) {
            target
                .read_with(Route::Key(&keys.current), keys.gets().to_vec(), |replies| {
                    let reply = |i: usize| replies.get(i).unwrap_or(&Reply::Nil);
                    keys.parse(reply(0), reply(1), &url)
                })
                .await
                .map_err(|e| keys.too_large(e, 0, &url))?
        } else {
            (
                read_one_record(target, &keys.current, &url).await?,
                read_one_record(target, &keys.old, &url).await?,
            )
        };
    Ok(keys.choose(namespace, current, old, &url)?.0)
}

/// The record's two names: `{__topology__:<ns>}:record` and its old name,
/// `<namespace>:__topology__:record` (see [`crate::record`]). Both are read; found under
/// both, the record is refused: an older version applied after this one moved it, and which
/// one is current is not for the tool to guess.
struct RecordKeys {
    current: String,
    old: String,
}

impl RecordKeys {
    fn of(namespace: &str) -> RecordKeys {
        RecordKeys {
            current: record_key(namespace),
            old: legacy_record_key(namespace),
        }
    }

    /// `GET` of each name, current first.
    fn gets(&self) -> [Command; 2] {
        [
            Command::new("GET").arg(&self.current),
            Command::new("GET").arg(&self.old),
        ]
    }

    fn parse<R: Recorded>(
        &self,
        current: &Reply,
        old: &Reply,
        url: &RedactedUrl,
    ) -> Result<(Option<R>, Option<R>), TargetError> {
        Ok((
            parse_record(current, &self.current, url)?,
            parse_record(old, &self.old, url)?,
        ))
    }

    /// The error of a read whose replies at `first` and `first + 1` are the [`Self::gets`].
    fn too_large(&self, error: ReadError, first: usize, url: &RedactedUrl) -> TargetError {
        match &error {
            ReadError::OverLimit { index, .. } if *index == first + 1 => {
                record_too_large(error, first + 1, &self.old, url)
            }
            _ => record_too_large(error, first, &self.current, url),
        }
    }

    /// The error of [`read_header`]'s read on `node`, whose replies after the node's two
    /// facts are the `GET` of each name the node holds (`current_node` and `old_node` hold
    /// the current name and the old one), in that order.
    fn too_large_on(
        &self,
        node: usize,
        (current_node, old_node): (usize, usize),
        error: ReadError,
        url: &RedactedUrl,
    ) -> TargetError {
        let current_at = (node == current_node).then_some(RECORD_AT);
        let old_at = (node == old_node).then_some(if node == current_node {
            RECORD_AT + 1
        } else {
            RECORD_AT
        });
        let ReadError::OverLimit { index, .. } = &error else {
            return error.into();
        };
        let index = *index;
        let key = if Some(index) == current_at {
            &self.current
        } else if Some(index) == old_at {
            &self.old
        } else {
            return error.into();
        };
        record_too_large(error, index, key, url)
    }

    /// The record in force, and whether it is under the old name.
    fn choose<R: Recorded>(
        &self,
        namespace: &str,
        current: Option<R>,
        old: Option<R>,
        url: &RedactedUrl,
    ) -> Result<(Option<R>, bool), TargetError> {
        match (current, old) {
            (Some(current), Some(old)) => Err(TargetError::RecordUnderTwoNames {
                url: url.clone(),
                records: Box::new(TwoRecords {
                    namespace: namespace.to_owned(),
                    current_key: self.current.clone(),
                    current_serial: current.serial(),
                    current_version: untrusted(current.tool_version()).into_owned(),
                    old_key: self.old.clone(),
                    old_serial: old.serial(),
                    old_version: untrusted(old.tool_version()).into_owned(),
                }),
            }),
            (Some(current), None) => Ok((Some(current), false)),
            (None, old) => {
                let found = old.is_some();
                Ok((old, found))
            }
        }
    }
}

/// `GET` of a record on the node its key routes to.
async fn read_one_record<R: Recorded>(
    target: &mut Target,
    key: &str,
    url: &RedactedUrl,
) -> Result<Option<R>, TargetError> {
    target
        .read_with(
            Route::Key(key),
            vec![Command::new("GET").arg(key)],
            |replies| parse_record(replies.first().unwrap_or(&Reply::Nil), key, url),
        )
        .await
        .map_err(|e| record_too_large(e, 0, key, url))
}

/// The error of a read whose reply at `index`, the record's `GET`, may be too large: said
/// so, since no record this tool writes comes near the limit of one reply.
fn record_too_large(
    error: ReadError,
    index: usize,
    record_key: &str,
    url: &RedactedUrl,
) -> TargetError {
    match error {
        ReadError::OverLimit {
            batch: 0,
            index: at,
            why,
            ..
        } if at == index => TargetError::RecordTooLarge {
            url: url.clone(),
            key: untrusted(record_key).into_owned(),
            limit: size_text(MAX_REPLY_BYTES),
            why,
        },
        other => other.into(),
    }
}

/// `TIME`: seconds and microseconds, as two integers in strings.
pub(crate) fn parse_time(reply: &Reply, url: &RedactedUrl) -> Result<u64, TargetError> {
    if let Reply::Error { code, details } = reply {
        return Err(failed(url, "`TIME`", code, details));
    }
    let number = |part: &Reply| part.as_str()?.parse::<u64>().ok();
    if let Reply::Array(parts) = reply
        && let [seconds, micros] = parts.as_slice()
        && let (Some(seconds), Some(micros)) = (number(seconds), number(micros))
        && micros < 1_000_000
    {
        return Ok(seconds.saturating_mul(1000).saturating_add(micros / 1000));
    }
    Err(unexpected(
        url,
        "`TIME`",
        reply,
        "two integers (seconds and microseconds)",
    ))
}

/// `CONFIG GET stream-node-max-entries`: the parameter and its value. The default when the
/// user may not run it (`NOPERM`) or the server does not have it (`ERR`: CONFIG renamed or
/// disabled, as managed services do; an empty reply: no such parameter), and for 0 (no
/// limit by count: nodes are bounded by bytes only).
/// `maxmemory-policy` and `appendonly` from the header's `CONFIG GET`, where it has them (a
/// user may not read the configuration: nothing then).
fn durability_settings(reply: &Reply) -> (Option<String>, Option<bool>) {
    let (mut policy, mut appendonly) = (None, None);
    for (name, value) in reply.map().into_iter().flatten() {
        if name.eq_ignore_ascii_case("maxmemory-policy") {
            policy = value.as_str().map(str::to_owned);
        } else if name.eq_ignore_ascii_case("appendonly") {
            appendonly = value.as_str().map(|v| v.eq_ignore_ascii_case("yes"));
        }
    }
    (policy, appendonly)
}

fn parse_node_max_entries(reply: &Reply, url: &RedactedUrl) -> Result<u64, TargetError> {
    const NAME: &str = "stream-node-max-entries";
    let value = match reply {
        Reply::Error {
            code: "NOPERM" | "ERR",
            ..
        } => return Ok(DEFAULT_NODE_MAX_ENTRIES),
        Reply::Error { code, details } => {
            return Err(failed(
                url,
                "`CONFIG GET stream-node-max-entries`",
                code,
                details,
            ));
        }
        Reply::Array(items) if items.is_empty() => return Ok(DEFAULT_NODE_MAX_ENTRIES),
        // Pairs of name and value (other settings asked at once among them), in no set order.
        Reply::Array(_) => match reply.map() {
            Some(mut pairs) => match pairs.find(|(name, _)| name.eq_ignore_ascii_case(NAME)) {
                Some((_, value)) => value.as_str().and_then(|v| v.parse::<u64>().ok()),
                None => return Ok(DEFAULT_NODE_MAX_ENTRIES),
            },
            None => None,
        },
        _ => None,
    };
    match value {
        Some(0) => Ok(DEFAULT_NODE_MAX_ENTRIES),
        Some(n) => Ok(n),
        None => Err(unexpected(
            url,
            "`CONFIG GET stream-node-max-entries`",
            reply,
            "the parameter's name and a number",
        )),
    }
}

/// `GET` of the record: nil when there is none.
fn parse_record<R: Recorded>(
    reply: &Reply,
    record_key: &str,
    url: &RedactedUrl,
) -> Result<Option<R>, TargetError> {
    parse_record_text(record_text(reply, record_key, url)?, record_key)
}

/// The record parsed from its text as `GET` read it (`None`: there is none).
fn parse_record_text<R: Recorded>(
    text: Option<&[u8]>,
    record_key: &str,
) -> Result<Option<R>, TargetError> {
    let unusable = |source: RecordError| TargetError::UnusableRecord {
        key: untrusted(record_key).into_owned(),
        source: source.into(),
    };
    let Some(bytes) = text else {
        return Ok(None);
    };
    let json = std::str::from_utf8(bytes).map_err(|_| unusable(RecordError::NotText))?;
    R::parse(json).map(Some).map_err(unusable)
}

/// The text of the record's `GET`: `None` for nil, an error for anything but a string.
fn record_text<'r>(
    reply: &Reply<'r>,
    record_key: &str,
    url: &RedactedUrl,
) -> Result<Option<&'r [u8]>, TargetError> {
    match reply {
        Reply::Nil => Ok(None),
        Reply::Bytes(bytes) => Ok(Some(bytes)),
        Reply::Error { code, details } => Err(TargetError::Refused {
            url: url.clone(),
            command: format!("cannot read the record: {}", command("GET", record_key)),
            error: ServerError::new(code, details),
            hint: hint(code).into(),
        }),
        other => Err(unexpected(
            url,
            &command("GET", record_key),
            other,
            "a string or nil",
        )),
    }
}

/// What a key's `XLEN` and `XINFO GROUPS` say.
enum KeyRead {
    Stream(LiveStream),
    /// Its `TYPE` will tell (see [`Streams::to_type`]).
    ToType(Option<String>),
}

/// One key from its `XLEN` and `XINFO GROUPS` replies, and its age probe's.
fn parse_key(
    key: &str,
    length: &Reply,
    groups: &Reply,
    probe: Option<&Reply>,
    url: &RedactedUrl,
) -> Result<KeyRead, TargetError> {
    let wrong_type = |r: &Reply| {
        matches!(
            r,
            Reply::Error {
                code: "WRONGTYPE",
                ..
            }
        )
    };
    if wrong_type(length) || wrong_type(groups) {
        return Ok(KeyRead::ToType(None));
    }
    let length = match length {
        Reply::Int(n) if *n >= 0 => n.unsigned_abs(),
        Reply::Error { code, details } => {
            return Err(failed(url, &command("XLEN", key), code, details));
        }
        other => {
            return Err(unexpected(url, &command("XLEN", key), other, "a length"));
        }
    };
    let malformed = |why| TargetError::Malformed {
        url: url.clone(),
        command: command("XINFO GROUPS", key),
        why,
    };
    // Groups as the scan wrote them down are read straight from the tokens; anything the
    // quick reading does not take is built and read as every reply is, for its message.
    let built;
    let groups = match groups {
        Reply::Scanned(array) => match groups_from_tokens(*array) {
            Some(groups) => return stream_read(length, groups, key, probe, url),
            None => {
                built = array.build().map_err(|e| malformed(e.to_string()))?;
                &built
            }
        },
        other => other,
    };
    let groups = match groups {
        Reply::Array(items) => parse_groups(items).map_err(malformed)?,
        // A missing key, or a failure of XINFO GROUPS on an empty stream: TYPE will tell.
        Reply::Error {
            code: "ERR",
            details,
        } if length == 0 => return Ok(KeyRead::ToType(Some(server_words("ERR", details)))),
        Reply::Error { code, details } => {
            return Err(failed(url, &command("XINFO GROUPS", key), code, details));
        }
        other => {
            return Err(unexpected(
                url,
                &command("XINFO GROUPS", key),
                other,
                "an array of groups",
            ));
        }
    };
    stream_read(length, groups, key, probe, url)
}

/// A stream's length and groups, with its age probe's count.
fn stream_read(
    length: u64,
    groups: SmallMap<CompactString, LiveGroup>,
    key: &str,
    probe: Option<&Reply>,
    url: &RedactedUrl,
) -> Result<KeyRead, TargetError> {
    let older_than_max_age = probe.map(|p| probe_count(p, key, url)).transpose()?;
    Ok(KeyRead::Stream(LiveStream {
        length,
        older_than_max_age,
        groups,
        ..LiveStream::default()
    }))
}

/// An age probe's reply: how many entries it found.
fn probe_count(reply: &Reply, key: &str, url: &RedactedUrl) -> Result<u64, TargetError> {
    match reply {
        Reply::Array(items) => Ok(items.len() as u64),
        Reply::Error { code, details } => Err(failed(url, &command("XRANGE", key), code, details)),
        other => Err(unexpected(
            url,
            &command("XRANGE", key),
            other,
            "an array of entries",
        )),
    }
}

/// `XINFO GROUPS`: every group whole, or an error saying which is broken and how.
fn parse_groups(items: &[Reply]) -> Result<SmallMap<CompactString, LiveGroup>, String> {
    items
        .iter()
        .enumerate()
        .map(|(at, group)| parse_group(group).map_err(|why| format!("group {} {why}", at + 1)))
        .collect()
}

/// [`parse_groups`] of an `XINFO GROUPS` array read straight from its tokens, for the
/// replies servers send: each group an array of field/value pairs whose `name` and
/// `last-delivered-id` are strings and `consumers` and `pending` counts. `None` for
/// anything else, which [`parse_groups`] then reads to say what is wrong: whenever this
/// gives groups, they are the ones [`parse_groups`] gives (property-tested below).
fn groups_from_tokens(array: ArrayTokens<'_>) -> Option<SmallMap<CompactString, LiveGroup>> {
    let mut values = array.values();
    let mut groups = Vec::with_capacity(array.len());
    for _ in 0..array.len() {
        let Value::Array(fields) = values.next_value()? else {
            return None;
        };
        if fields % 2 != 0 {
            return None;
        }
        let (mut name, mut consumers, mut pending, mut last) = (None, None, None, None);
        for _ in 0..fields / 2 {
            let Value::Bytes(field) = values.next_value()? else {
                return None;
            };
            // A field given twice counts as given last, as in `parse_group`; a value of
            // another kind than wanted is left to it.
            match field {
                b"name" => name = Some(bytes_value(values.next_value()?)?),
                b"consumers" => consumers = Some(count_value(values.next_value()?)?),
                b"pending" => pending = Some(count_value(values.next_value()?)?),
                b"last-delivered-id" => last = Some(bytes_value(values.next_value()?)?),
                _ => values.skip_value()?,
            }
        }
        let last_delivered_id = StreamId::parse(std::str::from_utf8(last?).ok()?)?;
        let live = LiveGroup {
            consumers: consumers?,
            pending: pending?,
            last_delivered_id,
        };
        groups.push((CompactString::from(String::from_utf8_lossy(name?)), live));
    }
    Some(groups.into_iter().collect())
}

fn bytes_value(value: Value<'_>) -> Option<&[u8]> {
    match value {
        Value::Bytes(bytes) => Some(bytes),
        _ => None,
    }
}

fn count_value(value: Value<'_>) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

/// One group of `XINFO GROUPS`: a name, counts of consumers and pending entries, and the
/// last delivered ID; other fields (`entries-read`, `lag`, newer ones) are not needed.
fn parse_group(group: &Reply) -> Result<(CompactString, LiveGroup), String> {
    let fields = group
        .map()
        .ok_or_else(|| format!("is {}, not field/value pairs", group.describe()))?;
    let (mut name, mut consumers, mut pending, mut last) = (None, None, None, None);
    for (field, value) in fields {
        match field {
            "name" => name = Some(value),
            "consumers" => consumers = Some(value),
            "pending" => pending = Some(value),
            "last-delivered-id" => last = Some(value),
            _ => {}
        }
    }
    let name = name
        .and_then(Reply::text)
        .ok_or_else(|| "has no name".to_owned())?;
    // Escaped only for a message: most groups are whole.
    let shown = || untrusted(&name).into_owned();
    let count = |value: Option<&Reply>, field: &str| {
        value.and_then(Reply::as_u64).ok_or_else(|| match value {
            Some(value) => format!(
                "(`{}`) has {} as `{field}`, not a count",
                shown(),
                value.describe()
            ),
            None => format!("(`{}`) has no `{field}`", shown()),
        })
    };
    let live = LiveGroup {
        consumers: count(consumers, "consumers")?,
        pending: count(pending, "pending")?,
        last_delivered_id: last
            .and_then(Reply::as_str)
            .and_then(StreamId::parse)
            .ok_or_else(|| format!("(`{}`) has no stream ID as `last-delivered-id`", shown()))?,
    };
    Ok((CompactString::from(name), live))
}

/// `XINFO STREAM`: the last generated ID and, from Redis 7.0 on, the entries ever added.
fn parse_position(
    reply: &Reply,
    key: &str,
    url: &RedactedUrl,
) -> Result<(StreamId, Option<u64>), TargetError> {
    let what = command("XINFO STREAM", key);
    if let Reply::Error { code, details } = reply {
        return Err(failed(url, &what, code, details));
    }
    let fields = reply
        .map()
        .ok_or_else(|| unexpected(url, &what, reply, "field/value pairs"))?;
    let (mut last, mut added) = (None, None);
    for (field, value) in fields {
        match field {
            "last-generated-id" => last = Some(value),
            "entries-added" => added = Some(value),
            _ => {}
        }
    }
    let last = last
        .and_then(Reply::as_str)
        .and_then(StreamId::parse)
        .ok_or_else(|| TargetError::Malformed {
            url: url.clone(),
            command: what.clone(),
            why: "there is no stream ID as `last-generated-id`".to_owned(),
        })?;
    let added = match added {
        None => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| TargetError::Malformed {
            url: url.clone(),
            command: what.clone(),
            why: format!("`entries-added` is {}, not a count", value.describe()),
        })?),
    };
    Ok((last, added))
}

/// A `TYPE` reply: the type's name.
fn type_name<'r>(
    reply: &Reply<'r>,
    key: &str,
    url: &RedactedUrl,
) -> Result<Cow<'r, str>, TargetError> {
    match (reply, reply.text()) {
        (Reply::Bytes(_), Some(name)) => Ok(name),
        (Reply::Error { code, details }, _) => {
            Err(failed(url, &command("TYPE", key), code, details))
        }
        (other, _) => Err(unexpected(url, &command("TYPE", key), other, "a type name")),
    }
}

/// A command and its key, for messages: `` `XLEN app:orders` `` (the key escaped: it may
/// come from the record).
fn command(name: &str, key: &str) -> String {
    format!("`{name} {}`", untrusted(key))
}

/// A command the server refused, with its words: `TIME failed: NOPERM ...`.
fn failed(url: &RedactedUrl, command: &str, code: &str, details: &str) -> TargetError {
    TargetError::Refused {
        url: url.clone(),
        command: command.to_owned(),
        error: ServerError::new(code, details),
        hint: hint(code).into(),
    }
}

fn hint(code: &str) -> &'static str {
    match code {
        "NOPERM" => NOPERM_HINT,
        _ => "",
    }
}

/// A reply of another shape than the command's: `XLEN app:orders gave the integer -5, not
/// a length`.
fn unexpected(url: &RedactedUrl, command: &str, reply: &Reply, expected: &str) -> TargetError {
    TargetError::Unexpected {
        url: url.clone(),
        command: command.to_owned(),
        got: reply.describe(),
        expected: expected.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::resp::{Reply, Scanner, build_replies, encode};

    const FIELDS: &[&[u8]] = &[
        b"name",
        b"consumers",
        b"pending",
        b"last-delivered-id",
        b"entries-read",
        b"lag",
        b"\xff",
    ];

    const STRINGS: &[&[u8]] = &[b"g1", b"g2", b"0-0", b"17-3", b"\xffg", b"x", b""];

    fn value() -> impl Strategy<Value = Reply<'static>> {
        let leaf = prop_oneof![
            prop::sample::select(&[-1i64, 0, 2, i64::MAX][..]).prop_map(Reply::Int),
            prop::sample::select(STRINGS).prop_map(Reply::Bytes),
            Just(Reply::Nil),
            Just(Reply::Error {
                code: "ERR",
                details: "no"
            }),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop::collection::vec(inner, 0..3).prop_map(Reply::Array)
        })
    }

    /// A group as a server writes it, its fields in any order, perhaps with others.
    fn group() -> impl Strategy<Value = Reply<'static>> {
        const NAMES: &[&[u8]] = &[b"g1", b"g2", b"\xffg"];
        const LAST: &[&[u8]] = &[b"0-0", b"17-3"];
        let name = prop::sample::select(NAMES);
        let count = 0..3i64;
        let last = prop::sample::select(LAST);
        // Fields the reading does not want: the ones it wants, given twice or of another
        // kind, are `odd_group`'s.
        let extra = prop::collection::vec((prop::sample::select(&FIELDS[4..]), value()), 0..3);
        (
            name,
            count.clone(),
            count,
            last,
            extra,
            any::<prop::sample::Index>(),
        )
            .prop_map(|(name, consumers, pending, last, extra, at)| {
                let mut pairs = vec![
                    (&b"name"[..], Reply::Bytes(name)),
                    (b"consumers", Reply::Int(consumers)),
                    (b"pending", Reply::Int(pending)),
                    (b"last-delivered-id", Reply::Bytes(last)),
                ];
                for (i, pair) in extra.into_iter().enumerate() {
                    pairs.insert((at.index(pairs.len() + 1) + i) % (pairs.len() + 1), pair);
                }
                Reply::Array(
                    pairs
                        .into_iter()
                        .flat_map(|(f, v)| [Reply::Bytes(f), v])
                        .collect(),
                )
            })
    }

    /// Anything shaped roughly like a group, or not at all.
    fn odd_group() -> impl Strategy<Value = Reply<'static>> {
        prop_oneof![
            group(),
            prop::collection::vec(
                prop_oneof![prop::sample::select(FIELDS).prop_map(Reply::Bytes), value()],
                0..10
            )
            .prop_map(Reply::Array),
            value(),
        ]
    }

    type Groups = crate::small_map::SmallMap<compact_str::CompactString, super::LiveGroup>;

    /// What the tokens of `groups` read as, quickly, and what its built array reads as.
    fn both_readings(groups: Vec<Reply<'static>>) -> (Option<Groups>, Result<Groups, String>) {
        let mut bytes = Vec::new();
        encode(&Reply::Array(groups), &mut bytes);
        let mut tokens = Vec::new();
        let end = Scanner::new(0).scan_into(&bytes, &mut tokens);
        assert_eq!(end, Ok(Some(bytes.len())));
        let mut replies = Vec::new();
        build_replies(&bytes, &tokens, &mut replies, |_| true).expect("scanned");
        let Some(Reply::Scanned(array)) = replies.first() else {
            panic!("not left as tokens: {replies:?}");
        };
        let Ok(Reply::Array(items)) = array.build() else {
            panic!("not an array");
        };
        (
            super::groups_from_tokens(*array),
            super::parse_groups(&items),
        )
    }

    proptest! {
        /// Groups as servers write them are read straight from the tokens, as the built
        /// reply reads.
        #[test]
        fn groups_are_read_from_tokens_as_from_the_built_reply(
            groups in prop::collection::vec(group(), 0..4),
        ) {
            let (quick, built) = both_readings(groups);
            prop_assert!(quick.is_some());
            prop_assert_eq!(quick.ok_or(String::new()), built);
        }

        /// Whatever else a server sends, the quick reading gives what the built reply
        /// reads as, or nothing (and the built reply's reading is then used).
        #[test]
        fn odd_groups_read_from_tokens_as_the_built_reply_or_not_at_all(
            groups in prop::collection::vec(odd_group(), 0..4),
        ) {
            let (quick, built) = both_readings(groups);
            if let Some(quick) = quick {
                prop_assert_eq!(Ok(quick), built);
            }
        }
    }

    proptest! {
        /// The merge of two sorted sets is their union, sorted.
        #[test]
        fn sorted_union_is_the_union_sorted(
            a in proptest::collection::btree_set("[a-c]{0,3}", 0..12),
            b in proptest::collection::btree_set("[a-c]{0,3}", 0..12),
        ) {
            let union = super::sorted_union(a.iter().map(String::as_str), b.iter().map(String::as_str));
            let expected: Vec<&str> = a.union(&b).map(String::as_str).collect();
            prop_assert_eq!(union, expected);
        }
    }
}
