//! The tool's record: what this topology manages on a server, kept in Redis itself.
//!
//! One key per namespace, `{__topology__:<namespace>}:record` (`{__topology__}:record` with
//! an empty namespace), holding a JSON document: the environment it was applied for, the
//! digest and time of the last apply, and every stream and group the tool created or adopted.
//! It is what makes deletion safe: `--prune` only ever deletes what is recorded here, and an
//! empty or missing `streams:` in a file deletes nothing that is not. Names with a part
//! starting with `__topology__` are reserved for it (see [`has_reserved_segment`]), and so is
//! the apply lock, `{__topology__:<namespace>}:lock`. Managed ACL users are listed in the
//! record too, and in a server-wide registry ([`OWNERS_KEY`]) because user names are global.
//!
//! **One slot.** The record, the lock and the lock's fence keys share the hash tag
//! [`tag`], `{__topology__:<namespace>}`, so that on a Redis Cluster they live in one slot and
//! a script or transaction may touch them together. The tag's content always starts with
//! `__topology__`, so it is never empty (Redis hashes a whole key whose first `{...}` is
//! empty), whatever the namespace holds: a namespace with `}` in it cuts the tag short, but
//! every key of the namespace is cut at the same place, so they still share a slot.
//!
//! **Old names.** Before the tag, the record and the lock were `<namespace>:__topology__:record`
//! and `:lock` ([`legacy_record_key`], [`legacy_lock_key`]). A record found only there is read
//! and moved by the next apply; an older apply holding the old lock is waited for.
//!
//! The record and the registry are data: anyone with write access to them can edit them, so
//! the planner checks every entry before it acts on one (`plan::trust`).

use compact_str::CompactString;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::desired::key;

mod fast;
mod glance;
use crate::small_map::{SmallMap, deserialize_entries};
pub use glance::glance;

/// Names under the namespace that belong to the tool.
pub const RESERVED_PREFIX: &str = "__topology__";
/// The record's format; a record with a higher one was written by a newer version.
pub const FORMAT: u32 = 1;

/// The hash tag of a namespace's own keys: `{__topology__:<namespace>}`, `{__topology__}` for
/// the empty namespace. Never empty inside the braces, and a different tag for every
/// namespace.
pub fn tag(namespace: &str) -> String {
    if namespace.is_empty() {
        format!("{{{RESERVED_PREFIX}}}")
    } else {
        format!("{{{RESERVED_PREFIX}:{namespace}}}")
    }
}

/// The record's key, `{__topology__:<namespace>}:record`.
pub fn record_key(namespace: &str) -> String {
    format!("{}:record", tag(namespace))
}

/// The apply lock's key, `{__topology__:<namespace>}:lock` (its fence keys extend it, so they
/// share its slot).
pub fn lock_key(namespace: &str) -> String {
    format!("{}:lock", tag(namespace))
}

/// Where versions before the hash tag kept the record: `<namespace>:__topology__:record`.
/// Still read, and moved to [`record_key`] by the next apply.
pub fn legacy_record_key(namespace: &str) -> String {
    key(namespace, &format!("{RESERVED_PREFIX}:record"))
}

/// Where versions before the hash tag kept the lock: `<namespace>:__topology__:lock`. An
/// apply waits while it exists: an older apply holds it.
pub fn legacy_lock_key(namespace: &str) -> String {
    key(namespace, &format!("{RESERVED_PREFIX}:lock"))
}

/// The server-wide registry of managed ACL users: a hash of user name → the namespace whose
/// topology manages it. ACL users are global to a server, so two namespaces (two environments
/// sharing a server, two teams) must not manage the same user; this is how each sees the other.
/// One key for every namespace, so it carries no namespace's tag.
pub const OWNERS_KEY: &str = "__topology__:users";

/// Whether a namespace, stream or group name has a part starting with [`RESERVED_PREFIX`],
/// parts being separated by `:`, with a leading `{` ignored. One simple rule covers every way
/// a name could reach the tool's keys: namespace `__topology__` with stream `users` is the
/// registry, namespace `shop:__topology__` with stream `lock` is the old-name lock of
/// namespace `shop`, stream `eu:__topology__:record` of namespace `shop` is the old-name
/// record of namespace `shop:eu`, stream `{__topology__:shop}:record` of the empty namespace
/// is the record of `shop`, and a group `__topology__:mkstream` is the helper group apply
/// destroys after creating an empty stream.
pub fn has_reserved_segment(name: &str) -> bool {
    // Nearly every name checked (each stream and group of the file and of the record) has
    // no such part: one search first.
    name.contains(RESERVED_PREFIX)
        && name
            .split(':')
            .any(|part| part.trim_start_matches('{').starts_with(RESERVED_PREFIX))
}

/// The keys of the tool itself that a namespace's ACL users could reach: its record and its
/// lock (under their names and their old names, which are still read), and the server-wide
/// users registry.
pub fn reserved_keys(namespace: &str) -> [String; 5] {
    [
        record_key(namespace),
        lock_key(namespace),
        legacy_record_key(namespace),
        legacy_lock_key(namespace),
        OWNERS_KEY.to_owned(),
    ]
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    /// The environment this namespace was applied for (`None`: a file without environments).
    pub environment: Option<String>,
    /// Digest of the last applied desired state (see `Desired::digest`).
    pub digest: String,
    /// When the last apply finished, in Unix milliseconds.
    pub applied_at_ms: u64,
    /// Version of redis-topology that wrote it.
    pub tool_version: String,
    /// Managed streams by full key (keys, group names and starts are short: kept inline,
    /// the record of 100,000 streams is half a million allocations fewer).
    #[serde(deserialize_with = "map_in_bulk")]
    pub streams: BTreeMap<CompactString, RecordedStream>,
    /// Managed ACL users (created or adopted by this topology).
    #[serde(default)]
    pub users: BTreeSet<String>,
    /// How many applies with changes this namespace has had: each one writes the record
    /// with the next number, so an apply that waited for the lock sees that the server
    /// moved on even when the other apply's changes left the rest of the record as it was.
    #[serde(default)]
    pub serial: u64,
    /// The saved plan (`plan --out`) the last apply ran, by its id: re-applying it is
    /// reported as such, not as "the server changed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_plan: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedStream {
    /// Managed groups by name.
    pub groups: SmallMap<CompactString, RecordedGroup>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedGroup {
    /// The `start` the group was created with (create-only: kept to explain a changed
    /// `start` as a note instead of silently ignoring it).
    pub start: CompactString,
}

/// Why a stored record cannot be used (each prints as the end of one line).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("it is not JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    #[error("it has format {0}, written by a newer redis-topology; upgrade")]
    Newer(u64),
    #[error("it is not a redis-topology record ({0})")]
    NotARecord(#[source] serde_json::Error),
}

/// A map read whole, then built in one go: the record writes its keys in order, and a
/// `BTreeMap` built from sorted entries takes a pass over them, where one inserted key by key
/// searches the tree for each (a third of the time a record of 10,000 streams took to read).
/// Of equal keys the last one wins, as with inserts.
fn map_in_bulk<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    Ok(deserialize_entries(deserializer)?.into_iter().collect())
}

/// What is read of a stored record: the whole [`Record`], or [`RecordNames`] where only
/// the names are needed.
pub trait Recorded: Sized {
    /// Parse a stored record; `Err` says why in one line.
    fn parse(json: &str) -> Result<Self, RecordError>;
    /// Its apply count and the version that wrote it, to tell two records apart.
    fn serial(&self) -> u64;
    fn tool_version(&self) -> &str;
}

impl Recorded for Record {
    fn parse(json: &str) -> Result<Record, RecordError> {
        Record::parse(json)
    }

    fn serial(&self) -> u64 {
        self.serial
    }

    fn tool_version(&self) -> &str {
        &self.tool_version
    }
}

/// The names a record holds, and no more: each stream's key and its groups' names, in the
/// record's order, each key once (the last, as for a [`Record`]). What `status` reads ahead
/// needs, parsed in two thirds of the time the whole record takes (no maps built, no starts
/// kept): it is on the way to the first read. Lenient about the fields it does not read,
/// where the whole record is strict: it only chooses what is read ahead, and the reads say
/// what is there.
#[derive(Debug, Default, Deserialize)]
pub struct RecordNames {
    format: u32,
    #[serde(default)]
    tool_version: String,
    #[serde(default)]
    serial: u64,
    pub streams: SmallMap<CompactString, StreamNames>,
}

/// A recorded stream's groups, by name alone.
#[derive(Debug, Default, Deserialize)]
pub struct StreamNames {
    pub groups: SmallMap<CompactString, serde::de::IgnoredAny>,
}

impl Recorded for RecordNames {
    fn parse(json: &str) -> Result<RecordNames, RecordError> {
        match serde_json::from_str::<RecordNames>(json) {
            Ok(names) if names.format <= FORMAT => Ok(names),
            // Not a current record: the whole record's parse says why.
            Ok(_) => Err(Record::parse(json).err().unwrap_or(RecordError::Newer(0))),
            Err(error) => Err(Record::parse(json)
                .err()
                .unwrap_or(RecordError::NotARecord(error))),
        }
    }

    fn serial(&self) -> u64 {
        self.serial
    }

    fn tool_version(&self) -> &str {
        &self.tool_version
    }
}

impl Record {
    /// Parse a stored record; `Err` says why in one line.
    pub fn parse(json: &str) -> Result<Record, RecordError> {
        // As the tool writes it: read in one pass (the same record serde reads).
        if let Some(record) = fast::read(json.as_bytes()) {
            return Ok(record);
        }
        if let Ok(record) = serde_json::from_str::<Record>(json)
            && record.format <= FORMAT
        {
            return Ok(record);
        }
        // Not a current record: find out why, for the message.
        let value: serde_json::Value = serde_json::from_str(json).map_err(RecordError::NotJson)?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format.is_some_and(|f| f > u64::from(FORMAT)) {
            return Err(RecordError::Newer(format.unwrap_or_default()));
        }
        serde_json::from_value(value).map_err(RecordError::NotARecord)
    }

    pub fn to_json(&self) -> String {
        // Sized up front: the record of 10,000 streams is about a megabyte, and growing a
        // buffer that large by doubling touches twice the memory (see `render::plan`).
        let groups: usize = self
            .streams
            .iter()
            .map(|(key, s)| key.len() + 16 + s.groups.len() * 40)
            .sum();
        let mut json = Vec::with_capacity(256 + groups);
        if serde_json::to_writer(&mut json, self).is_err() {
            return String::new(); // plain data always serializes
        }
        String::from_utf8(json).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_s_streams_read_in_bulk_keep_the_last_of_equal_keys_in_key_order() {
        let json = r#"{"format": 1, "environment": null, "digest": "d", "applied_at_ms": 1,
            "tool_version": "0", "streams": {"b": {"groups": {}}, "a": {"groups": {}},
            "b": {"groups": {"g": {"start": "$"}}}, "c": {"groups": {}}}}"#;
        let record = Record::parse(json).unwrap();
        assert_eq!(record.streams.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        let b = record.streams.get("b").unwrap();
        assert_eq!(b.groups.get("g").map(|g| g.start.as_str()), Some("$"));
        // As serde's own map: the same record, field for field.
        #[derive(Deserialize)]
        struct Inserted {
            streams: BTreeMap<CompactString, RecordedStream>,
        }
        let inserted: Inserted = serde_json::from_str(json).unwrap();
        assert_eq!(record.streams, inserted.streams);
    }

    /// What the names of a record say, from the whole record.
    fn names_of(record: &Record) -> Vec<(String, Vec<String>)> {
        record
            .streams
            .iter()
            .map(|(key, stream)| {
                let groups = stream.groups.keys().map(ToString::to_string).collect();
                (key.to_string(), groups)
            })
            .collect()
    }

    #[test]
    fn a_record_s_names_are_the_whole_record_s_and_refused_alike() {
        let json = r#"{"format": 1, "environment": "prod", "digest": "d", "applied_at_ms": 1,
            "tool_version": "0.1.0", "serial": 7, "users": ["u"], "streams": {
            "b": {"groups": {"y": {"start": "0"}, "x": {"start": "$"}, "y": {"start": "$"}}},
            "a": {"groups": {}}, "b": {"groups": {"z": {"start": "0"}}},
            "c": {"groups": {"g": {"start": "0-1"}}}}}"#;
        let record = Record::parse(json).unwrap();
        let names = RecordNames::parse(json).unwrap();
        let shown: Vec<(String, Vec<String>)> = names
            .streams
            .iter()
            .map(|(key, stream)| {
                let groups = stream.groups.keys().map(ToString::to_string).collect();
                (key.to_string(), groups)
            })
            .collect();
        assert_eq!(shown, names_of(&record));
        assert_eq!(
            shown[1],
            ("b".to_owned(), vec!["z".to_owned()]),
            "the last b"
        );
        assert_eq!((names.serial(), names.tool_version()), (7, "0.1.0"));
        // What the whole record refuses, its names refuse with the same reason.
        for refused in [
            "not json",
            r#"{"format": 2, "streams": {}}"#,
            r#"{"format": 1, "digest": "d", "streams": {"a": {"groups": []}}}"#,
            r#"{"format": 1, "streams": []}"#,
        ] {
            let whole = Record::parse(refused).unwrap_err().to_string();
            let names = RecordNames::parse(refused).unwrap_err().to_string();
            assert_eq!(names, whole, "{refused}");
        }
    }

    #[test]
    fn keys_carry_the_namespace_tag() {
        assert_eq!(record_key("agentic"), "{__topology__:agentic}:record");
        assert_eq!(record_key(""), "{__topology__}:record");
        assert_eq!(lock_key("a:b"), "{__topology__:a:b}:lock");
        assert_eq!(legacy_record_key("agentic"), "agentic:__topology__:record");
        assert_eq!(legacy_record_key(""), "__topology__:record");
        assert_eq!(legacy_lock_key("a:b"), "a:b:__topology__:lock");
    }

    /// Redis Cluster's slot of a key (CRC16/XMODEM of its hash tag, or of the whole key when
    /// it has no tag with content), as the cluster specification defines it.
    fn slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let hashed = bytes
            .iter()
            .position(|b| *b == b'{')
            .and_then(|open| {
                let rest = &bytes[open + 1..];
                let close = rest.iter().position(|b| *b == b'}')?;
                (close > 0).then(|| &rest[..close])
            })
            .unwrap_or(bytes);
        let mut crc: u16 = 0;
        for byte in hashed {
            crc ^= u16::from(*byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }

    #[test]
    fn the_slot_function_is_redis_cluster_s() {
        // Values from the cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot("123456789"), 0x31C3); // the CRC16/XMODEM check value
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        // The specification's examples: the first `{`, the first `}` after it.
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
        assert_ne!(
            slot("{}a"),
            slot("{}b"),
            "an empty tag hashes the whole key"
        );
    }

    /// Every key of a namespace, fence keys included, is in one slot, whatever the namespace
    /// holds: empty, braces of its own (`{shop}`, a hash tag its streams use), a `}` first.
    #[test]
    fn a_namespace_s_own_keys_share_one_slot() {
        for namespace in [
            "", "agentic", "a:b", "{shop}", "}x", "a}b", "{", "}", "x{}y", "pro\\j",
        ] {
            let record = record_key(namespace);
            let lock = lock_key(namespace);
            let fence = format!("{lock}:fence:0123456789abcdef");
            assert_eq!(slot(&record), slot(&lock), "{namespace:?}");
            assert_eq!(slot(&record), slot(&fence), "{namespace:?}");
        }
        // Different namespaces get different tags (their slots may still coincide).
        assert_ne!(tag(""), tag("a"));
        assert_ne!(tag("a"), tag("a:b"));
    }

    #[test]
    fn reserved_segments_are_found_anywhere_in_a_name() {
        for reserved in [
            "__topology__",
            "__topology__:mkstream",
            "shop:__topology__",
            "eu:__topology__:record",
            "a:__topology__x",
            "{__topology__}:record",
            "{__topology__:shop}:lock",
            "x:{{__topology__",
        ] {
            assert!(has_reserved_segment(reserved), "{reserved}");
        }
        for free in [
            "topology",
            "a__topology__",
            "_topology__",
            "a:b",
            "",
            "{x}__topology__",
            "{shop}:orders",
        ] {
            assert!(!has_reserved_segment(free), "{free}");
        }
        assert_eq!(
            reserved_keys(""),
            [
                "{__topology__}:record".to_owned(),
                "{__topology__}:lock".to_owned(),
                "__topology__:record".to_owned(),
                "__topology__:lock".to_owned(),
                "__topology__:users".to_owned()
            ]
        );
    }

    /// No stream a file may declare, in any namespace, is one of the tool's keys (of any
    /// namespace): the key of a declared stream is `<namespace>:<name>`, and each tool key has
    /// a reserved part that would have to come from the namespace or the name.
    #[test]
    fn no_declarable_stream_is_a_tool_key() {
        let namespaces = ["", "shop", "shop:eu", "{shop}", "a}b"];
        for owner in namespaces {
            let mut tool_keys = reserved_keys(owner).to_vec();
            tool_keys.push(format!("{}:fence:0123456789abcdef", lock_key(owner)));
            for tool_key in tool_keys {
                // Every way to split the key into `<namespace>:<name>` (or a name alone).
                let mut splits = vec![("", tool_key.as_str())];
                splits.extend(
                    tool_key
                        .match_indices(':')
                        .map(|(at, _)| (&tool_key[..at], &tool_key[at + 1..])),
                );
                for (namespace, name) in splits {
                    let declarable = crate::validate::names::namespace_problem(namespace).is_none()
                        && crate::validate::names::stream_problem(name).is_none();
                    assert!(
                        !declarable,
                        "namespace {namespace:?}, stream {name:?} is {tool_key}"
                    );
                }
            }
        }
    }

    #[test]
    fn records_round_trip_and_refuse_newer_formats() {
        let mut streams = BTreeMap::new();
        let mut groups = SmallMap::new();
        groups.insert("g".into(), RecordedGroup { start: "$".into() });
        streams.insert("ns:s".into(), RecordedStream { groups });
        let record = Record {
            format: FORMAT,
            environment: Some("prod".to_owned()),
            digest: "abc".to_owned(),
            applied_at_ms: 1,
            tool_version: "0.1.0".to_owned(),
            streams,
            users: BTreeSet::from(["svc".to_owned()]),
            serial: 3,
            applied_plan: Some("p1".to_owned()),
        };
        assert_eq!(Record::parse(&record.to_json()).ok(), Some(record));
        assert!(
            Record::parse("{\"format\": 2}")
                .unwrap_err()
                .to_string()
                .contains("newer")
        );
        assert!(
            Record::parse("nope")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        assert!(
            Record::parse("{\"format\": 1}")
                .unwrap_err()
                .to_string()
                .contains("not a redis-topology record")
        );
    }
}
