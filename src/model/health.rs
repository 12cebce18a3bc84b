//! What healthy means, as the file declares it (`health:` at the top level, on a stream, on a
//! group), for `redis-topology status`. Nothing here is applied to Redis.
//!
//! Each threshold names a figure and its warning and critical levels. A figure is looked up
//! from the group, then its stream, then the top level: the nearest declaration wins, whole.

use std::borrow::Cow;
use std::collections::HashMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::node::Span;
use super::types::Sp;

/// A figure `status` reads and checks against a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    /// Entries of the stream not yet delivered to the group (`XINFO GROUPS` lag).
    Lag,
    /// How old the group's oldest undelivered entry is (its ID's time).
    LagAge,
    /// Entries delivered to the group's consumers and not yet acknowledged.
    Pending,
    /// How old the group's oldest pending entry is (its ID's time).
    PendingAge,
    /// Consumers of the group seen within `within` (a lower count is worse).
    ActiveConsumers,
    /// Entries in a dead-letter stream (one with `dlq_of`).
    DlqLength,
    /// The stream's length as a percentage of its `maxlen` (retention not enforced).
    OverRetention,
    /// How old the stream's newest entry is (its ID's time): a heartbeat stream, or a
    /// producer gone quiet.
    NewestAge,
    /// A server's memory use as a percentage of its `maxmemory`.
    Memory,
    /// Live instances of a heartbeat (its keys that exist; fewer is worse). Declared under
    /// `heartbeats`, not in `health`, so not in [`Figure::ALL`].
    Instances,
}

/// What a figure counts, which says how its thresholds are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Entries,
    /// Milliseconds, written as a duration (`90s`, `5m`).
    Duration,
    Consumers,
    /// A percentage (`120%` or `120`).
    Percent,
}

/// Whether a figure belongs to a group, a stream or a server: a `health` mapping may hold
/// the figures of its own scope and narrower ones (the top level's, every figure).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Group,
    Stream,
    Server,
}

impl Figure {
    pub const ALL: &'static [Figure] = &[
        Figure::Lag,
        Figure::LagAge,
        Figure::Pending,
        Figure::PendingAge,
        Figure::ActiveConsumers,
        Figure::DlqLength,
        Figure::OverRetention,
        Figure::NewestAge,
        Figure::Memory,
    ];

    /// Its name in the file, in JSON and in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Figure::Lag => "lag",
            Figure::LagAge => "lag_age",
            Figure::Pending => "pending",
            Figure::PendingAge => "pending_age",
            Figure::ActiveConsumers => "active_consumers",
            Figure::DlqLength => "dlq_length",
            Figure::OverRetention => "over_retention",
            Figure::NewestAge => "newest_age",
            Figure::Memory => "memory",
            Figure::Instances => "instances",
        }
    }

    pub fn of_name(name: &str) -> Option<Figure> {
        Figure::ALL.iter().copied().find(|f| f.name() == name)
    }

    pub fn unit(self) -> Unit {
        match self {
            Figure::Lag | Figure::Pending | Figure::DlqLength => Unit::Entries,
            Figure::LagAge | Figure::PendingAge | Figure::NewestAge => Unit::Duration,
            Figure::ActiveConsumers | Figure::Instances => Unit::Consumers,
            Figure::OverRetention | Figure::Memory => Unit::Percent,
        }
    }

    pub fn scope(self) -> Scope {
        match self {
            Figure::DlqLength | Figure::OverRetention | Figure::NewestAge => Scope::Stream,
            Figure::Memory | Figure::Instances => Scope::Server,
            _ => Scope::Group,
        }
    }

    /// Whether a value below the threshold is the breach (fewer active consumers), rather
    /// than one above it.
    pub fn lower_is_worse(self) -> bool {
        matches!(self, Figure::ActiveConsumers | Figure::Instances)
    }

    /// What the figure means, for the schema and the docs.
    pub fn description(self) -> &'static str {
        match self {
            Figure::Lag => {
                "Entries not yet delivered to the group (XINFO GROUPS `lag`). When Redis cannot count them (a group created at `$` or at an ID, entries deleted), status says unknown and why."
            }
            Figure::LagAge => {
                "How far behind the group is in time: the age of its oldest undelivered entry, from the entry's ID (a duration: `30s`, `5m`)."
            }
            Figure::Pending => {
                "Entries delivered to the group's consumers and not acknowledged (XPENDING)."
            }
            Figure::PendingAge => {
                "The age of the group's oldest pending entry, from its ID (a duration)."
            }
            Figure::ActiveConsumers => {
                "Consumers of the group seen within `within` (their `inactive` time on Redis 7.2 and later, `idle` before): fewer than `warning` is a warning, fewer than `critical` is critical."
            }
            Figure::DlqLength => "Entries in a dead-letter stream (a stream with `dlq_of`).",
            Figure::OverRetention => {
                "The stream's length as a percentage of its `maxlen` (`150%`): retention that producers and apply do not enforce."
            }
            Figure::NewestAge => {
                "The age of the stream's newest entry, from its ID (a duration): a heartbeat stream, or a producer gone quiet. An empty stream breaks it at its worst level."
            }
            Figure::Memory => {
                "Each server's memory use (INFO `used_memory`) as a percentage of its `maxmemory` (`85%`); a server without `maxmemory` is not checked. Top level only."
            }
            Figure::Instances => {
                "Live instances of a heartbeat: its keys that exist (fewer than `warning` is a warning, fewer than `critical` is critical)."
            }
        }
    }
}

/// A figure's warning and critical levels (at least one), in the figure's unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub warning: Option<Sp<u64>>,
    pub critical: Option<Sp<u64>>,
    /// For `active_consumers`: how recently a consumer must have been seen, in ms.
    pub within: Option<Sp<u64>>,
    pub span: Span,
}

/// The thresholds declared in one `health:` mapping.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Health {
    pub thresholds: Vec<(Figure, Threshold)>,
}

impl Health {
    pub fn get(&self, figure: Figure) -> Option<&Threshold> {
        self.thresholds
            .iter()
            .find(|(f, _)| *f == figure)
            .map(|(_, t)| t)
    }
}

/// Levels of a threshold, resolved (no spans), in the figure's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Levels {
    pub warning: Option<u64>,
    pub critical: Option<u64>,
    pub within_ms: Option<u64>,
}

impl From<&Threshold> for Levels {
    fn from(t: &Threshold) -> Levels {
        Levels {
            warning: t.warning.as_ref().map(|w| w.value),
            critical: t.critical.as_ref().map(|c| c.value),
            within_ms: t.within.as_ref().map(|w| w.value),
        }
    }
}

/// A heartbeat: instances of a service that each keep a key alive (`SETEX ... 30 1` every
/// few seconds); the keys that exist are the live instances.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    /// A glob pattern relative to the namespace (`ops:hb:rag-worker:*`).
    pub keys: Sp<String>,
    pub instances: Option<Threshold>,
}

/// A heartbeat ready to read: its name, the pattern with the namespace (escaped), its levels.
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatRule {
    pub name: String,
    pub pattern: String,
    pub instances: Option<Levels>,
}

impl JsonSchema for Heartbeat {
    fn schema_name() -> Cow<'static, str> {
        "Heartbeat".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "Heartbeat",
            "description": "Instances of a service that each keep a key alive (`SETEX <key> 30 1` every few seconds): `status` counts the keys that exist (SCAN on every primary) and checks the count against `instances`.",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "keys": {
                    "title": "Keys",
                    "type": "string",
                    "description": "A glob pattern relative to the namespace: each key it matches is one live instance. Required (an environment may leave it to the base file).",
                    "examples": ["ops:hb:rag-worker:*"]
                },
                "instances": threshold_schema(Figure::Instances)
            },
            "examples": [{ "keys": "ops:hb:rag-worker:*", "instances": { "warning": 2, "critical": 1 } }]
        })
    }
}

/// Every `health:` of a topology, by where it was declared, kept compact: the top level's
/// once, and the streams' and groups' only where declared, so that a file without any costs
/// nothing. Looked up nearest first ([`HealthRules::levels`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthRules {
    pub top: Vec<(Figure, Levels)>,
    /// By stream key: the stream's own, and its groups' by name.
    pub streams: HashMap<String, StreamRules>,
    /// The keys of the streams declared `durable: true`.
    pub durable: Vec<String>,
    /// `heartbeats`, in name order.
    pub heartbeats: Vec<HeartbeatRule>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamRules {
    pub own: Vec<(Figure, Levels)>,
    pub groups: HashMap<String, Vec<(Figure, Levels)>>,
    /// The key of the stream this one is the dead-letter stream of.
    pub dlq_of: Option<String>,
}

impl HealthRules {
    /// The levels that apply to `figure` on `stream` (a key) and, for a group's figure, its
    /// `group`: the group's, else the stream's, else the top level's.
    pub fn levels(&self, figure: Figure, stream: &str, group: Option<&str>) -> Option<Levels> {
        let find = |list: &[(Figure, Levels)]| {
            list.iter()
                .find(|(f, _)| *f == figure)
                .map(|(_, levels)| *levels)
        };
        let rules = self.streams.get(stream);
        let of_group = rules
            .zip(group)
            .and_then(|(r, g)| r.groups.get(g))
            .and_then(|list| find(list));
        of_group
            .or_else(|| rules.and_then(|r| find(&r.own)))
            .or_else(|| find(&self.top))
    }

    /// The key of the stream `stream` is the dead-letter stream of.
    pub fn dlq_of(&self, stream: &str) -> Option<&str> {
        self.streams.get(stream)?.dlq_of.as_deref()
    }

    pub fn resolved(health: Option<&Health>) -> Vec<(Figure, Levels)> {
        health
            .iter()
            .flat_map(|h| h.thresholds.iter())
            .map(|(f, t)| (*f, Levels::from(t)))
            .collect()
    }
}

impl JsonSchema for Health {
    fn schema_name() -> Cow<'static, str> {
        "Health".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut properties = serde_json::Map::new();
        for figure in Figure::ALL {
            properties.insert(figure.name().to_owned(), threshold_schema(*figure));
        }
        json_schema!({
            "title": "Health thresholds",
            "description": "What `redis-topology status` checks: per figure, a `warning` and/or a `critical` level. Declared at the top level (defaults), on a stream or on a group; the nearest declaration of a figure wins. Stream figures (`dlq_length`, `over_retention`) may not be declared on a group, and `memory` only at the top level.",
            "type": "object",
            "additionalProperties": false,
            "properties": properties,
            "examples": [health_example()]
        })
    }
}

/// A figure's threshold as the file writes it, for the schema's examples.
pub fn threshold_example(figure: Figure) -> serde_json::Value {
    match figure.unit() {
        Unit::Entries => serde_json::json!({ "warning": 1000, "critical": 10000 }),
        Unit::Duration => serde_json::json!({ "warning": "5m", "critical": "30m" }),
        Unit::Consumers if figure == Figure::Instances => {
            serde_json::json!({ "warning": 2, "critical": 1 })
        }
        Unit::Consumers => serde_json::json!({ "within": "5m", "warning": 2, "critical": 1 }),
        Unit::Percent if figure == Figure::Memory => {
            serde_json::json!({ "warning": "80%", "critical": "95%" })
        }
        Unit::Percent => serde_json::json!({ "warning": "120%", "critical": "200%" }),
    }
}

/// `health:` as the file writes it, for the schema's examples.
pub fn health_example() -> serde_json::Value {
    serde_json::json!({
        "lag": threshold_example(Figure::Lag),
        "pending_age": threshold_example(Figure::PendingAge),
    })
}

fn threshold_schema(figure: Figure) -> serde_json::Value {
    let example = threshold_example(figure);
    let level = |which: &str| {
        let mut level = match figure.unit() {
            Unit::Entries | Unit::Consumers => {
                serde_json::json!({ "type": "integer", "minimum": 0 })
            }
            Unit::Duration => serde_json::json!({
                "type": "string",
                "pattern": "^[0-9]+(ms|s|m|h|d|w)$",
            }),
            Unit::Percent => serde_json::json!({
                "type": ["integer", "string"],
                "pattern": "^[0-9]+%$",
                "minimum": 0,
            }),
        };
        let unit = match figure.unit() {
            Unit::Entries => "entries",
            Unit::Duration => "a duration: `90s`, `15m`, `12h`, `7d`",
            Unit::Consumers if figure == Figure::Instances => "instances",
            Unit::Consumers => "consumers",
            Unit::Percent if figure == Figure::Memory => "a percentage of `maxmemory`: `85%`",
            Unit::Percent => "a percentage of `maxlen`: `150%`",
        };
        let breach = if figure.lower_is_worse() {
            "fewer than this"
        } else {
            "more than this"
        };
        level["title"] = format!("{which} level").into();
        level["description"] = format!("{which} when the figure is {breach} ({unit}).").into();
        level["examples"] = serde_json::json!([example[which.to_lowercase()].clone()]);
        level
    };
    let mut properties = serde_json::Map::new();
    properties.insert("warning".into(), level("Warning"));
    properties.insert("critical".into(), level("Critical"));
    let mut required = Vec::new();
    if figure == Figure::ActiveConsumers {
        properties.insert(
            "within".into(),
            serde_json::json!({
                "title": "Seen within",
                "type": "string",
                "pattern": "^[0-9]+(ms|s|m|h|d|w)$",
                "description": "How recently a consumer must have been seen to count as active (a duration).",
                "examples": ["5m"]
            }),
        );
        required.push("within");
    }
    serde_json::json!({
        "title": figure.name(),
        "description": figure.description(),
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "required": required,
        "anyOf": [{ "required": ["warning"] }, { "required": ["critical"] }],
        "examples": [example]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(warning: u64) -> Levels {
        Levels {
            warning: Some(warning),
            ..Levels::default()
        }
    }

    #[test]
    fn the_nearest_declaration_wins() {
        let mut rules = HealthRules {
            top: vec![(Figure::Lag, levels(1)), (Figure::Pending, levels(2))],
            ..HealthRules::default()
        };
        let mut stream = StreamRules {
            own: vec![(Figure::Lag, levels(10))],
            ..StreamRules::default()
        };
        stream
            .groups
            .insert("g".into(), vec![(Figure::Lag, levels(100))]);
        rules.streams.insert("ns:s".into(), stream);
        let lag = |stream, group| rules.levels(Figure::Lag, stream, group);
        assert_eq!(lag("ns:s", Some("g")), Some(levels(100)));
        assert_eq!(lag("ns:s", Some("other")), Some(levels(10)));
        assert_eq!(lag("ns:s", None), Some(levels(10)));
        assert_eq!(lag("ns:t", Some("g")), Some(levels(1)));
        assert_eq!(
            rules.levels(Figure::Pending, "ns:s", Some("g")),
            Some(levels(2)),
            "a figure the group does not declare comes from further out"
        );
        assert_eq!(rules.levels(Figure::PendingAge, "ns:s", Some("g")), None);
    }

    #[test]
    fn names_round_trip() {
        for figure in Figure::ALL {
            assert_eq!(Figure::of_name(figure.name()), Some(*figure));
        }
    }
}
