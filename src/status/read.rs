//! Reading what `status` checks, in two pipelined phases, each key on the node that serves
//! it (so the same code reads a cluster):
//!
//! 1. Per declared stream: `XLEN`, `XINFO GROUPS` and its first entry (`XRANGE - + COUNT
//!    1`); per declared group: `XPENDING` (the summary: count, smallest and largest ID) and
//!    `XINFO CONSUMERS`. Plus every node's clock (`TIME`).
//! 2. Per group whose lag is not known to be 0: the entry after its last-delivered ID
//!    (`XRANGE (<id> + COUNT 1`), which says whether anything is undelivered, and how old.
//!
//! Only read commands: a read-only user can run it (see docs/operations.md for the ACL
//! rules). Replies are checked, not guessed: a reply of another shape stops the read with an
//! error naming the command and the key. Errors are told apart by their code (`NOGROUP`,
//! `WRONGTYPE`), never by their words.

use std::collections::{HashMap, HashSet};

use compact_str::CompactString;

use super::evaluate::{Report, ReportBuilder};
use super::{
    ConsumerReading, GroupReading, HeartbeatReading, KeyState, NodeReading, Readings, StreamReading,
};
use crate::live::StreamId;
use crate::live::read::parse_time;
use crate::model::desired::{Desired, DesiredStream};
use crate::model::health::{Figure, HeartbeatRule};
use crate::record::RecordNames;
use crate::resp::Reply;
use crate::target::keyed::{BatchLimits, KeyCommands, KeyReplies};
use crate::target::scan::ScanPattern;
use crate::target::{Command, NodeId, RedactedUrl, Target, TargetError};
use crate::text::untrusted;

/// Keys per batch: each has 3 commands and 2 per group, and one entry (of a size the tool
/// does not control) in its `XRANGE`, so fewer keys than the plan's reads.
const KEYS_PER_BATCH: usize = 100;

/// What is read of one stream: its key, the name shown for it, its groups (in name order)
/// and whether its newest entry.
struct Wanted<'a> {
    key: &'a str,
    name: &'a str,
    groups: Vec<&'a str>,
    newest: bool,
}

/// What was read while the file was validated (see [`prefetch`]): every node (the streams
/// went to the prefetch's sink as they were read).
pub struct Prefetched {
    namespace: String,
    clocks: Vec<u64>,
    nodes: Vec<NodeReading>,
}

/// Read every node, and every stream and group the record of `namespace` names: on a server
/// where the file was applied, what `status` reads. Sent while the file is still being
/// validated; each stream goes to `sink` as soon as it is read, for [`take_prefetched`] to
/// keep what the file turns out to declare ([`report_after`] reads the rest). The record is
/// input like any other (someone else may have written it): it only chooses what is read,
/// and the tool's own reads say what is there.
pub async fn prefetch(
    target: &mut Target,
    namespace: &str,
    sink: &mut StreamSink<'_>,
) -> Result<Prefetched, TargetError> {
    // Its names alone: the streams' reads wait for them.
    let record: Option<RecordNames> = crate::live::read::read_record(target, namespace).await?;
    let (clocks, nodes) = read_nodes(target).await?;
    let wanted: Vec<Wanted<'_>> = record
        .iter()
        .flat_map(|record| &record.streams)
        .map(|(key, stream)| Wanted {
            key,
            name: key,
            groups: stream.groups.keys().map(CompactString::as_str).collect(),
            newest: false,
        })
        .collect();
    read_streams(target, &wanted, &clocks, sink).await?;
    Ok(Prefetched {
        namespace: namespace.to_owned(),
        clocks,
        nodes,
    })
}

/// Where streams go as they are read.
pub type StreamSink<'f> = dyn FnMut(StreamReading) + Send + 'f;

/// Read every node, and every declared stream and group of `desired`.
pub async fn read(target: &mut Target, desired: &Desired) -> Result<Readings, TargetError> {
    let (clocks, nodes) = read_nodes(target).await?;
    let wanted: Vec<Wanted<'_>> = desired
        .streams
        .iter()
        .map(|(key, stream)| wanted_of(desired, key, stream))
        .collect();
    let mut streams = Vec::with_capacity(wanted.len());
    read_streams(target, &wanted, &clocks, &mut |reading| {
        streams.push(reading)
    })
    .await?;
    streams.sort_by(|a, b| a.name.cmp(&b.name));
    let heartbeats = read_heartbeats(target, &desired.health.heartbeats).await?;
    Ok(Readings {
        nodes,
        streams,
        heartbeats,
    })
}

/// What is read of a declared stream.
fn wanted_of<'d>(desired: &'d Desired, key: &'d str, stream: &'d DesiredStream) -> Wanted<'d> {
    Wanted {
        key,
        name: &stream.name,
        groups: stream.groups.keys().map(|g| g.as_str()).collect(),
        newest: desired
            .health
            .levels(Figure::NewestAge, key, None)
            .is_some(),
    }
}

/// A stream read ahead for `desired`'s namespace: its rows go into `report` when it was read
/// with every group the file declares for it (the others are left out). A stream read
/// without them, or whose newest entry is checked (not read ahead), is read again by
/// [`report_after`]; one the file does not declare is dropped.
pub fn take_prefetched(report: &mut ReportBuilder, desired: &Desired, reading: StreamReading) {
    let Some((key, stream)) = desired.streams.get_key_value(reading.key.as_str()) else {
        return;
    };
    let wanted = wanted_of(desired, key, stream);
    if !wanted.newest && read_with_groups(&reading, &wanted.groups) {
        report.add_stream(desired, &narrowed(reading, &wanted));
    }
}

/// The report, going on from what was read ahead for `prefetched`'s namespace (the rows
/// already in `early`, when the file turned out to have that namespace): the declared
/// streams without rows are read, then the heartbeats.
pub async fn report_after(
    target: &mut Target,
    desired: &Desired,
    prefetched: Prefetched,
    early: Option<ReportBuilder>,
) -> Result<Report, TargetError> {
    let (clocks, nodes, mut report) = match early {
        Some(early) if prefetched.namespace == desired.namespace => {
            (prefetched.clocks, prefetched.nodes, early)
        }
        _ => {
            let (clocks, nodes) = read_nodes(target).await?;
            (clocks, nodes, ReportBuilder::new(desired))
        }
    };
    let unread: Vec<Wanted<'_>> = if report.has_every_stream() {
        Vec::new()
    } else {
        desired
            .streams
            .iter()
            .filter(|(key, _)| !report.has(key))
            .map(|(key, stream)| wanted_of(desired, key, stream))
            .collect()
    };
    read_streams(target, &unread, &clocks, &mut |reading| {
        report.add_stream(desired, &reading);
    })
    .await?;
    let heartbeats = read_heartbeats(target, &desired.health.heartbeats).await?;
    Ok(report.finish(desired, &nodes, &heartbeats))
}

/// Whether a stream was read with each of `groups` (a missing stream has none to read).
fn read_with_groups(reading: &StreamReading, groups: &[&str]) -> bool {
    reading.state != KeyState::Stream
        || groups
            .iter()
            .all(|group| reading.groups.iter().any(|g| g.name == *group))
}

/// A prefetched reading as [`read_streams`] would have read it for `wanted`: its name, and
/// its groups narrowed to the wanted ones (both in name order).
fn narrowed(mut reading: StreamReading, wanted: &Wanted<'_>) -> StreamReading {
    reading.name = CompactString::new(wanted.name);
    reading
        .groups
        .retain(|g| wanted.groups.contains(&g.name.as_str()));
    reading
}

/// Both phases for `wanted` (see the module's notes), each stream on its node and by its
/// node's clock, handed to `sink` as soon as both are in.
async fn read_streams(
    target: &mut Target,
    wanted: &[Wanted<'_>],
    clocks: &[u64],
    sink: &mut StreamSink<'_>,
) -> Result<(), TargetError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let url = target.describe().clone();
    let by_key: HashMap<&str, &Wanted<'_>> = wanted.iter().map(|w| (w.key, w)).collect();
    let keys: Vec<&str> = wanted.iter().map(|w| w.key).collect();
    let limits = BatchLimits {
        keys: KEYS_PER_BATCH,
        heavy: KEYS_PER_BATCH,
    };
    let first_phase = |key: &str, _: NodeId| {
        let Some(wanted) = by_key.get(key) else {
            return KeyCommands {
                commands: Vec::new(),
                heavy: false,
            };
        };
        let mut commands = Vec::with_capacity(3 + 2 * wanted.groups.len() + 1);
        commands.push(Command::from_words(&["XLEN", key]));
        commands.push(Command::from_words(&["XINFO", "GROUPS", key]));
        commands.push(Command::from_words(&[
            "XRANGE", key, "-", "+", "COUNT", "1",
        ]));
        for group in &wanted.groups {
            commands.push(Command::from_words(&["XPENDING", key, group]));
            commands.push(Command::from_words(&["XINFO", "CONSUMERS", key, group]));
        }
        // Last, so the others keep their places: the newest entry, only where its age is
        // checked.
        if wanted.newest {
            commands.push(
                Command::new("XREVRANGE")
                    .arg(key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1u64),
            );
        }
        KeyCommands {
            commands,
            heavy: true,
        }
    };
    // Streams whose second phase is on its way.
    let mut behind_read: HashMap<&str, StreamReading> = HashMap::new();
    target
        .read_keys_then(&keys, limits, &first_phase, &mut |read, then| {
            let Some(wanted) = by_key.get(read.key) else {
                return Ok(());
            };
            if read.round == 0 {
                let reading = first_phase_reading(wanted, &read, clocks, &url)?;
                let before = then.len();
                then.extend(next_undelivered_reads(&reading));
                if then.len() == before {
                    sink(reading);
                } else {
                    behind_read.insert(read.key, reading);
                }
            } else if let Some(mut reading) = behind_read.remove(read.key) {
                next_undelivered(&mut reading, read.replies, &url)?;
                sink(reading);
            }
            Ok(())
        })
        .await
        .map_err(TargetError::from)?;
    // None is left (each was read again from its first phase if its second was redirected);
    // were one left, its next entry would show as not read.
    for (_, reading) in behind_read {
        sink(reading);
    }
    Ok(())
}

/// A stream as its first phase's replies say.
fn first_phase_reading(
    wanted: &Wanted<'_>,
    read: &KeyReplies<'_, '_, '_>,
    clocks: &[u64],
    url: &RedactedUrl,
) -> Result<StreamReading, TargetError> {
    let (key, replies) = (read.key, read.replies);
    let now_ms = clocks.get(read.node.0).copied().unwrap_or_default();
    let mut reading = parse_stream(key, wanted.name, &wanted.groups, replies, now_ms, url)?;
    if wanted.newest && reading.state == KeyState::Stream {
        let newest = replies
            .get(3 + 2 * wanted.groups.len())
            .unwrap_or(&Reply::Nil);
        reading.newest_id = Some(first_entry_id(newest, key, "XREVRANGE", url)?);
    }
    Ok(reading)
}

/// Where the groups are whose next undelivered entry the second phase reads: those that
/// exist and whose lag Redis does not say is 0.
fn behind(reading: &StreamReading) -> impl Iterator<Item = usize> + '_ {
    let stream = reading.state == KeyState::Stream;
    reading
        .groups
        .iter()
        .enumerate()
        .filter(move |(_, g)| stream && g.exists && g.lag != Some(0))
        .map(|(at, _)| at)
}

/// A stream's second phase: per group [`behind`], the entry after its last-delivered one.
fn next_undelivered_reads(reading: &StreamReading) -> impl Iterator<Item = Command> + '_ {
    behind(reading)
        .filter_map(|at| reading.groups.get(at))
        .map(|group| {
            let after = format!("({}", group.last_delivered);
            Command::from_words(&["XRANGE", &reading.key, &after, "+", "COUNT", "1"])
        })
}

/// The second phase's replies: each group [`behind`]'s next undelivered entry.
fn next_undelivered(
    reading: &mut StreamReading,
    replies: &[Reply<'_>],
    url: &RedactedUrl,
) -> Result<(), TargetError> {
    let behind: Vec<usize> = behind(reading).collect();
    for (at, reply) in behind.into_iter().zip(replies) {
        let next = first_entry_id(reply, &reading.key, "XRANGE", url)?;
        if let Some(group) = reading.groups.get_mut(at) {
            group.next_undelivered = Some(next);
        }
    }
    Ok(())
}

/// The most distinct keys counted per heartbeat (a heartbeat has tens of instances; this
/// bounds the memory a pattern that matches far more can take).
const MAX_INSTANCES: usize = 100_000;

/// Count each heartbeat's keys: `SCAN ... MATCH <pattern>` on every primary (see
/// [`crate::target::scan`]). A key `SCAN` returns twice (it may) is counted once.
async fn read_heartbeats(
    target: &mut Target,
    rules: &[HeartbeatRule],
) -> Result<Vec<HeartbeatReading>, TargetError> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let patterns: Vec<ScanPattern<'_>> = rules
        .iter()
        .map(|rule| ScanPattern {
            pattern: &rule.pattern,
            kind: None,
        })
        .collect();
    let mut seen: Vec<HashSet<Vec<u8>>> = vec![HashSet::new(); rules.len()];
    target
        .scan_every_primary(
            &patterns,
            " (heartbeats are counted with SCAN: give the tool's user `+scan`)",
            &mut |rule, key| {
                if let Some(keys) = seen.get_mut(rule)
                    && keys.len() < MAX_INSTANCES
                {
                    keys.insert(key.to_vec());
                }
            },
        )
        .await?;
    Ok(rules
        .iter()
        .zip(&seen)
        .map(|(rule, keys)| HeartbeatReading {
            name: rule.name.clone(),
            instances: keys.len() as u64,
        })
        .collect())
}

/// Every node's clock (`TIME`), memory settings (`CONFIG GET`) and use (`INFO memory`): one
/// round trip for all nodes. Settings a user may not read (a managed service) are left
/// unknown, with the server's words; a clock that cannot be read is an error.
async fn read_nodes(target: &mut Target) -> Result<(Vec<u64>, Vec<NodeReading>), TargetError> {
    let url = target.describe().clone();
    let ids: Vec<NodeId> = target.nodes().collect();
    let jobs: Vec<(NodeId, Vec<Vec<Command>>)> = ids
        .iter()
        .map(|node| {
            let commands = vec![
                Command::new("TIME"),
                Command::new("CONFIG")
                    .arg("GET")
                    .arg("maxmemory")
                    .arg("maxmemory-policy")
                    .arg("appendonly"),
                Command::new("INFO").arg("memory"),
            ];
            (*node, vec![commands])
        })
        .collect();
    let mut clocks: Vec<Option<u64>> = vec![None; ids.len()];
    let mut nodes: Vec<NodeReading> = ids
        .iter()
        .map(|node| NodeReading {
            address: target.address(*node).to_owned(),
            ..NodeReading::default()
        })
        .collect();
    target
        .read_many(jobs, &mut |job, replies| {
            let reply = |i: usize| replies.get(i).unwrap_or(&Reply::Nil);
            let now = parse_time(reply(0), &url)?;
            if let (Some(clock), Some(node)) = (clocks.get_mut(job), nodes.get_mut(job)) {
                *clock = Some(now);
                settings(reply(1), node);
                memory(reply(2), node);
            }
            Ok(())
        })
        .await
        .map_err(|(_, error)| TargetError::from(error))?;
    let clocks = clocks
        .into_iter()
        .map(|now| {
            now.ok_or_else(|| TargetError::NoReplies {
                url: url.clone(),
                what: "`TIME`",
            })
        })
        .collect::<Result<Vec<u64>, TargetError>>()?;
    Ok((clocks, nodes))
}

/// `CONFIG GET maxmemory maxmemory-policy appendonly`: name/value pairs.
fn settings(reply: &Reply<'_>, node: &mut NodeReading) {
    let Some(pairs) = reply.map() else {
        node.unreadable = Some(refusal("CONFIG GET", reply));
        return;
    };
    for (name, value) in pairs {
        let value = value.as_str();
        match name.to_ascii_lowercase().as_str() {
            "maxmemory" => node.maxmemory = value.and_then(|v| v.parse().ok()),
            "maxmemory-policy" => node.maxmemory_policy = value.map(str::to_owned),
            "appendonly" => node.appendonly = value.map(|v| v.eq_ignore_ascii_case("yes")),
            _ => {}
        }
    }
}

/// `INFO memory`: its `used_memory` line.
fn memory(reply: &Reply<'_>, node: &mut NodeReading) {
    let used = reply.as_str().and_then(|text| {
        text.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|n| n.trim().parse().ok())
    });
    match used {
        Some(used) => node.used_memory = Some(used),
        None if node.unreadable.is_none() => {
            node.unreadable = Some(refusal("INFO memory", reply));
        }
        None => {}
    }
}

/// Why a node's setting could not be read, escaped.
fn refusal(command: &str, reply: &Reply<'_>) -> String {
    format!("`{command}` answered {}", reply.describe())
}

/// A stream's replies of the first phase.
fn parse_stream(
    key: &str,
    name: &str,
    groups: &[&str],
    replies: &[Reply<'_>],
    now_ms: u64,
    url: &RedactedUrl,
) -> Result<StreamReading, TargetError> {
    let reply = |i: usize| replies.get(i).unwrap_or(&Reply::Nil);
    let mut reading = StreamReading {
        name: CompactString::new(name),
        key: CompactString::new(key),
        state: KeyState::Stream,
        length: 0,
        first_id: None,
        newest_id: None,
        now_ms,
        groups: Vec::new(),
    };
    match reply(0) {
        Reply::Int(n) => reading.length = u64::try_from(*n).unwrap_or_default(),
        Reply::Error { code, .. } if *code == "WRONGTYPE" => {
            reading.state = KeyState::OtherType("value of another type".to_owned());
            return Ok(reading);
        }
        other => return Err(malformed(url, "XLEN", key, other)),
    }
    let live_groups = match reply(1) {
        Reply::Array(items) => parse_groups(items, key, url)?,
        // A missing key: XLEN said 0 and XINFO GROUPS refuses it (with `ERR`, whose words
        // differ between servers); an empty stream answers with an array.
        Reply::Error { .. } if reading.length == 0 => {
            reading.state = KeyState::Missing;
            return Ok(reading);
        }
        other => return Err(malformed(url, "XINFO GROUPS", key, other)),
    };
    reading.first_id = first_entry_id(reply(2), key, "XRANGE", url)?;
    for (at, group) in groups.iter().enumerate() {
        let mut found = live_groups
            .iter()
            .find(|(n, _)| n == group)
            .map(|(_, g)| g.clone())
            .unwrap_or_default();
        found.name = CompactString::new(group);
        if found.exists {
            let pending = reply(3 + 2 * at);
            let consumers = reply(4 + 2 * at);
            (found.pending, found.oldest_pending) = parse_pending(pending, key, url)?;
            found.consumers = parse_consumers(consumers, key, url)?;
        }
        reading.groups.push(found);
    }
    Ok(reading)
}

/// `XINFO GROUPS`: each group's name, pending count, last-delivered ID and lag.
fn parse_groups(
    items: &[Reply<'_>],
    key: &str,
    url: &RedactedUrl,
) -> Result<Vec<(CompactString, GroupReading)>, TargetError> {
    items
        .iter()
        .map(|item| {
            let fields = item
                .map()
                .ok_or_else(|| malformed(url, "XINFO GROUPS", key, item))?;
            let mut group = GroupReading {
                exists: true,
                ..GroupReading::default()
            };
            let mut name = None;
            for (field, value) in fields {
                match (field, value) {
                    ("name", v) => name = v.as_str().map(CompactString::new),
                    ("pending", Reply::Int(n)) => group.pending = non_negative(*n),
                    ("last-delivered-id", v) => {
                        group.last_delivered = v
                            .as_str()
                            .and_then(StreamId::parse)
                            .ok_or_else(|| malformed(url, "XINFO GROUPS", key, v))?;
                    }
                    ("lag", Reply::Int(n)) => group.lag = Some(non_negative(*n)),
                    _ => {}
                }
            }
            let name = name.ok_or_else(|| malformed(url, "XINFO GROUPS", key, item))?;
            Ok((name, group))
        })
        .collect()
}

/// The `XPENDING` summary: `[count, smallest ID, largest ID, per consumer]`.
fn parse_pending(
    reply: &Reply<'_>,
    key: &str,
    url: &RedactedUrl,
) -> Result<(u64, Option<StreamId>), TargetError> {
    let Reply::Array(parts) = reply else {
        return Err(malformed(url, "XPENDING", key, reply));
    };
    match parts.as_slice() {
        [Reply::Int(count), smallest, ..] => {
            let oldest = match smallest {
                Reply::Nil => None,
                id => Some(
                    id.as_str()
                        .and_then(StreamId::parse)
                        .ok_or_else(|| malformed(url, "XPENDING", key, reply))?,
                ),
            };
            Ok((non_negative(*count), oldest))
        }
        _ => Err(malformed(url, "XPENDING", key, reply)),
    }
}

/// `XINFO CONSUMERS`: each consumer's name, pending count and time since last seen.
fn parse_consumers(
    reply: &Reply<'_>,
    key: &str,
    url: &RedactedUrl,
) -> Result<Vec<ConsumerReading>, TargetError> {
    let Reply::Array(items) = reply else {
        return Err(malformed(url, "XINFO CONSUMERS", key, reply));
    };
    items
        .iter()
        .map(|item| {
            let fields = item
                .map()
                .ok_or_else(|| malformed(url, "XINFO CONSUMERS", key, item))?;
            let (mut name, mut pending, mut idle, mut inactive) = (None, 0, None, None);
            for (field, value) in fields {
                match (field, value) {
                    ("name", v) => name = v.as_str().map(CompactString::new),
                    ("pending", Reply::Int(n)) => pending = non_negative(*n),
                    ("idle", Reply::Int(n)) => idle = Some(non_negative(*n)),
                    // -1: it never read.
                    ("inactive", Reply::Int(n)) => inactive = Some(u64::try_from(*n).ok()),
                    _ => {}
                }
            }
            Ok(ConsumerReading {
                name: name.ok_or_else(|| malformed(url, "XINFO CONSUMERS", key, item))?,
                pending,
                unseen_ms: inactive.unwrap_or(idle),
            })
        })
        .collect()
}

/// The ID of the one entry an `XRANGE ... COUNT 1` returned, if any.
fn first_entry_id(
    reply: &Reply<'_>,
    key: &str,
    command: &str,
    url: &RedactedUrl,
) -> Result<Option<StreamId>, TargetError> {
    let Reply::Array(entries) = reply else {
        return Err(malformed(url, command, key, reply));
    };
    let Some(entry) = entries.first() else {
        return Ok(None);
    };
    let id = match entry {
        Reply::Array(parts) => parts.first().and_then(Reply::as_str),
        _ => None,
    };
    id.and_then(StreamId::parse)
        .map(Some)
        .ok_or_else(|| malformed(url, command, key, entry))
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// A command's error (with what to do about a missing permission), or a reply of another
/// shape than the command's.
fn malformed(url: &RedactedUrl, command: &str, key: &str, reply: &Reply<'_>) -> TargetError {
    if let Reply::Error { code, details } = reply {
        let hint = if *code == "NOPERM" {
            " (status reads with the plan user's rules, which include `+xpending +xinfo|consumers +info`: see \"Least-privilege users for the tool\" in docs/operations.md)"
        } else {
            ""
        };
        return TargetError::Refused {
            url: url.clone(),
            command: format!("`{command} {}`", untrusted(key)),
            error: crate::target::ServerError::new(code, details),
            hint: hint.into(),
        };
    }
    TargetError::Malformed {
        url: url.clone(),
        command: format!("`{command} {}`", untrusted(key)),
        why: format!("it answered {}", reply.describe()),
    }
}
