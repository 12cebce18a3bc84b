//! The tool's record: what this topology manages on a server, kept in Redis itself.
//!
//! One key per namespace, `<namespace>:__topology__:record` (`__topology__:record` with an
//! empty namespace), holding a JSON document: the environment it was applied for, the digest
//! and time of the last apply, and every stream and group the tool created or adopted. It is
//! what makes deletion safe: `--prune` only ever deletes what is recorded here, and an empty
//! or missing `streams:` in a file deletes nothing that is not. Names with a `:`-separated part
//! starting with `__topology__` are reserved for it (see [`has_reserved_segment`]), and so is
//! the apply lock, `<namespace>:__topology__:lock`. Managed ACL users are listed in the record
//! too, and in a server-wide registry ([`OWNERS_KEY`]) because user names are global.
//!
//! The record and the registry are data: anyone with write access to them can edit them, so
//! the planner checks every entry before it acts on one (`plan::trust`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::desired::key;
use crate::small_map::SmallMap;

/// Names under the namespace that belong to the tool.
pub const RESERVED_PREFIX: &str = "__topology__";
/// The record's format; a record with a higher one was written by a newer version.
pub const FORMAT: u32 = 1;

pub fn record_key(namespace: &str) -> String {
    key(namespace, &format!("{RESERVED_PREFIX}:record"))
}

/// The server-wide registry of managed ACL users: a hash of user name → the namespace whose
/// topology manages it. ACL users are global to a server, so two namespaces (two environments
/// sharing a server, two teams) must not manage the same user; this is how each sees the other.
pub const OWNERS_KEY: &str = "__topology__:users";

pub fn lock_key(namespace: &str) -> String {
    key(namespace, &format!("{RESERVED_PREFIX}:lock"))
}

/// Whether a namespace, stream or group name has a `:`-separated part starting with
/// [`RESERVED_PREFIX`]. One simple rule covers every way a name could reach the tool's keys:
/// namespace `__topology__` with stream `users` is the registry, namespace `shop:__topology__`
/// with stream `lock` is the lock of namespace `shop`, stream `eu:__topology__:record` of
/// namespace `shop` is the record of namespace `shop:eu`, and a group `__topology__:mkstream`
/// is the helper group apply destroys after creating an empty stream.
pub fn has_reserved_segment(name: &str) -> bool {
    name.split(':')
        .any(|part| part.starts_with(RESERVED_PREFIX))
}

/// The keys of the tool itself that a namespace's ACL users could reach: its record, its lock,
/// and the server-wide users registry.
pub fn reserved_keys(namespace: &str) -> [String; 3] {
    [
        record_key(namespace),
        lock_key(namespace),
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
    /// Managed streams by full key.
    pub streams: BTreeMap<String, RecordedStream>,
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
    pub groups: SmallMap<String, RecordedGroup>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedGroup {
    /// The `start` the group was created with (create-only: kept to explain a changed
    /// `start` as a note instead of silently ignoring it).
    pub start: String,
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

impl Record {
    /// Parse a stored record; `Err` says why in one line.
    pub fn parse(json: &str) -> Result<Record, RecordError> {
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
    fn keys_live_under_the_namespace() {
        assert_eq!(record_key("agentic"), "agentic:__topology__:record");
        assert_eq!(record_key(""), "__topology__:record");
        assert_eq!(lock_key("a:b"), "a:b:__topology__:lock");
    }

    #[test]
    fn reserved_segments_are_found_anywhere_in_a_name() {
        for reserved in [
            "__topology__",
            "__topology__:mkstream",
            "shop:__topology__",
            "eu:__topology__:record",
            "a:__topology__x",
        ] {
            assert!(has_reserved_segment(reserved), "{reserved}");
        }
        for free in ["topology", "a__topology__", "_topology__", "a:b", ""] {
            assert!(!has_reserved_segment(free), "{free}");
        }
        assert_eq!(
            reserved_keys(""),
            [
                "__topology__:record".to_owned(),
                "__topology__:lock".to_owned(),
                "__topology__:users".to_owned()
            ]
        );
    }

    #[test]
    fn records_round_trip_and_refuse_newer_formats() {
        let mut streams = BTreeMap::new();
        let mut groups = SmallMap::new();
        groups.insert(
            "g".to_owned(),
            RecordedGroup {
                start: "$".to_owned(),
            },
        );
        streams.insert("ns:s".to_owned(), RecordedStream { groups });
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
