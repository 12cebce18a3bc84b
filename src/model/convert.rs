//! From the spanned YAML tree to the typed [`Topology`], collecting every problem.
//!
//! Each `*_from` function reads one kind of node. A problem becomes a diagnostic and the
//! function returns `None` for that value only, so one bad field never hides the next one.
//! Unknown fields are errors with a "did you mean" suggestion, because a misspelt
//! `retension:` silently ignored would leave a stream unbounded in production.

use super::health::{Figure, Health, Heartbeat, Scope, Threshold, Unit};
use super::interpolate::{Vars, interpolate};
use std::borrow::Borrow;
use std::sync::Arc;

use super::node::{Node, NodeKind, Scalar, Span};
use super::types::*;
use super::yaml::EntrySink;
use crate::compat::Mode;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, one_of, suggest};

/// Fields of each mapping kind. The JSON Schema test checks these lists against the model.
pub const TOPOLOGY_FIELDS: &[&str] = &[
    "version",
    "namespace",
    "schemas",
    "streams",
    "acl",
    "health",
    "heartbeats",
    "environments",
];
pub const OVERLAY_FIELDS: &[&str] = &[
    "namespace",
    "schemas",
    "streams",
    "acl",
    "health",
    "heartbeats",
];
pub const HEARTBEAT_FIELDS: &[&str] = &["keys", "instances"];
pub const STREAM_FIELDS: &[&str] = &[
    "description",
    "schema",
    "retention",
    "groups",
    "producers",
    "dlq_of",
    "durable",
    "health",
];
pub const RETENTION_FIELDS: &[&str] = &["maxlen", "approximate", "max_age"];
pub const GROUP_FIELDS: &[&str] = &[
    "start",
    "entries_read",
    "description",
    "consumers",
    "health",
];
pub const SCHEMA_FIELDS: &[&str] = &[
    "description",
    "encoding",
    "field",
    "version_field",
    "compatibility",
    "versions",
];
pub const VERSION_FIELDS: &[&str] = &["file", "schema", "breaking"];
pub const ACL_FIELDS: &[&str] = &["users", "user_names"];
pub const USER_NAMES_FIELDS: &[&str] = &["prefix", "suffix"];
pub const USER_FIELDS: &[&str] = &[
    "description",
    "enabled",
    "passwords",
    "nopass",
    "keys",
    "channels",
    "commands",
    "access",
];
pub const ACCESS_FIELDS: &[&str] = &["keys", "channels", "commands", "preset"];
pub const PASSWORD_FIELDS: &[&str] = &["env", "sha256", "file"];
pub const KEYS_FIELDS: &[&str] = &["read", "write", "readwrite"];

/// Keys that people reach for when they try to write a password in plaintext.
const PLAINTEXT_PASSWORD_KEYS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "pwd",
    "plaintext",
    "plain",
    "value",
    "secret",
];

/// Key patterns, channel patterns and command rules, as read.
type Grants = (
    Option<Sp<Keys>>,
    Option<Vec<Sp<String>>>,
    Option<Vec<Sp<String>>>,
);

/// Converts one (already environment-merged) document.
pub struct Converter<'a> {
    pub diags: &'a mut Diagnostics,
    pub vars: &'a dyn Vars,
}

/// A [`NamedMap`] built an entry at a time: each name checked (a scalar, `${VAR}`s
/// expanded, no duplicate once expanded) and its value converted.
struct NamedEntries<V> {
    map: NamedMap<V>,
    /// The names so far, from the first expanded name on (only an expanded name can meet
    /// another: literal duplicates are the parser's).
    seen: Option<std::collections::HashSet<String>>,
}

impl<V> NamedEntries<V> {
    /// Sized up front where the count is known: a topology holds one map per stream, and a
    /// vector grown by pushes keeps up to twice the room it needs.
    fn with_capacity(capacity: usize) -> Self {
        NamedEntries {
            map: NamedMap {
                entries: Vec::with_capacity(capacity),
            },
            seen: None,
        }
    }

    fn add<'c>(
        &mut self,
        converter: &mut Converter<'c>,
        key: &Node,
        val: &Node,
        what: &str,
        value: &mut impl FnMut(&mut Converter<'c>, &Node, &Node) -> Option<V>,
    ) {
        let Some(raw) = key.key_text() else {
            converter.mismatch(key, &format!("a name in {what}"), "a string");
            return;
        };
        // Names may use `${VAR}` too (a user per project: `"svc-${PROJECT_ID}"`); two
        // names that expand to the same text are then a duplicate the parser cannot see.
        let name = if raw.contains('$') {
            let Some(name) = interpolate(&raw, key.span, converter.vars, converter.diags) else {
                return;
            };
            if self.seen.is_none() {
                self.seen = Some(self.map.names().map(str::to_owned).collect());
            }
            name
        } else {
            raw.into_owned()
        };
        if let Some(seen) = self.seen.as_mut()
            && !seen.insert(name.clone())
        {
            converter.push(
                Diagnostic::error(
                    Code::NameDuplicate,
                    format!("two entries of {what} are named `{name}` once variables are expanded"),
                )
                .at(key.span)
                .label("same name as an earlier entry")
                .help("give each entry a distinct name (check the values of the `${...}` variables in these names)"),
            );
            return;
        }
        if let Some(v) = value(converter, key, val) {
            self.map.entries.push((Sp::new(name, key.span), v));
        }
    }
}

/// The entries of `streams:` converted one at a time, as the parser reads them (see
/// [`crate::model::load::parse_document_streaming`]): the tree never holds them all, which at
/// 100,000 streams is most of its memory. The same conversion, and the same diagnostics, as
/// [`Converter::topology`] makes of a tree's `streams`.
pub struct StreamsAsRead<'v> {
    vars: &'v dyn Vars,
    streams: NamedEntries<Stream>,
    diags: Diagnostics,
}

impl<'v> StreamsAsRead<'v> {
    pub fn new(vars: &'v dyn Vars) -> Self {
        StreamsAsRead {
            vars,
            streams: NamedEntries::with_capacity(0),
            diags: Diagnostics::new(),
        }
    }

    /// The streams, and the problems found in them.
    pub fn finish(self) -> (NamedMap<Stream>, Diagnostics) {
        (self.streams.map, self.diags)
    }
}

impl EntrySink for StreamsAsRead<'_> {
    fn expect(&mut self, entries: usize) {
        self.streams.map.entries.reserve_exact(entries);
    }

    /// Convert one entry; the entry (its part of the tree) is dropped after.
    fn entry(&mut self, key: Node, value: Node) {
        let mut converter = Converter {
            diags: &mut self.diags,
            vars: self.vars,
        };
        self.streams
            .add(&mut converter, &key, &value, "`streams`", &mut |c, _, v| {
                c.stream(v)
            });
    }
}

/// The fields of a mapping node, after unknown ones were reported.
struct Fields<'n> {
    entries: &'n [(Node, Node)],
    span: Span,
}

impl<'n> Fields<'n> {
    /// The value of a field; an explicit `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'n Node> {
        // A string key compared as it is (nearly every key): no `Cow` made per comparison,
        // ten fields looked up per stream.
        let named = |k: &Node| match &k.kind {
            NodeKind::Scalar(Scalar::Str(text)) => text.as_str() == name,
            _ => k.key_text().as_deref() == Some(name),
        };
        self.entries
            .iter()
            .find(|(k, _)| named(k))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }
}

impl Converter<'_> {
    /// The typed topology of a document. The tree is taken by value: when nothing else holds
    /// it, each stream's part of the tree is freed as soon as the stream is converted, so the
    /// tree and the typed model are never both whole in memory (at 100,000 streams each is
    /// about 100 MB).
    pub fn topology(&mut self, root: Node) -> Option<Topology> {
        self.topology_with(root, None)
    }

    /// [`Converter::topology`] of a tree whose `streams` were converted as the parser read
    /// them (`streamed`; see [`StreamsAsRead`]), or, when `None`, are in the tree.
    pub fn topology_with(
        &mut self,
        mut root: Node,
        streamed: Option<NamedMap<Stream>>,
    ) -> Option<Topology> {
        let streams_node = take_value(&mut root, "streams");
        let root = &root;
        if root.is_null() {
            self.push(
                Diagnostic::error(Code::Empty, "the topology file is empty")
                    .at(root.span)
                    .help("a topology needs at least `version: 1` and `namespace: <prefix>`"),
            );
            return None;
        }
        if root.as_map().is_none() {
            self.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "a topology file must be a mapping, found {}",
                        root.describe()
                    ),
                )
                .at(root.span)
                .label("expected a mapping")
                .help(
                    "start the file with `version: 1` and `namespace: <prefix>`, then `streams:`",
                ),
            );
            return None;
        }
        let f = self.fields(root, "the topology", TOPOLOGY_FIELDS)?;
        let version = self.required(&f, "version", "the topology", "`version: 1`");
        let version = version.and_then(|n| self.uint(n, "`version`"));
        let namespace = self.required(
            &f,
            "namespace",
            "the topology",
            "`namespace: <prefix>` (write `namespace: \"\"` for no prefix)",
        );
        let namespace_written = namespace.and_then(written_with_variables);
        let namespace = namespace.and_then(|n| self.string(n, "`namespace`"));
        let schemas = f.get("schemas").and_then(|n| self.schemas(n));
        let streams = match streamed {
            Some(streams) => Some(streams),
            None => streams_node
                .filter(|n| !n.is_null())
                .and_then(|n| self.streams(n)),
        };
        let acl = f.get("acl").and_then(|n| self.acl(n));
        let health = f.get("health").and_then(|n| self.health(n, Scope::Server));
        let heartbeats = f
            .get("heartbeats")
            .and_then(|n| self.named_map(n, "`heartbeats`", |c, _, v| c.heartbeat(v)));
        if let Some(v) = &version
            && v.value != 1
        {
            self.push(
                Diagnostic::error(
                    Code::VersionUnsupported,
                    format!("format version {} is not supported", v.value),
                )
                .at(v.span)
                .label("unsupported version")
                .help("this redis-topology reads format version 1: write `version: 1`"),
            );
        }
        Some(Topology {
            version: version?,
            namespace: namespace?,
            namespace_written,
            schemas,
            streams,
            acl,
            health,
            heartbeats,
            // Overlays are merged before conversion (see `load`); the merged document has none.
            environments: None,
        })
    }

    fn schemas(&mut self, node: &Node) -> Option<NamedMap<MessageSchema>> {
        self.named_map(node, "`schemas`", |c, _, v| c.message_schema(v))
    }

    fn message_schema(&mut self, node: &Node) -> Option<MessageSchema> {
        let f = self.fields(node, "a message schema", SCHEMA_FIELDS)?;
        let encoding = f.get("encoding").and_then(|n| self.encoding(n));
        let compatibility = f.get("compatibility").and_then(|n| self.compatibility(n));
        let versions = match f.get("versions") {
            Some(n) if n.as_map().is_some_and(|m| m.is_empty()) => {
                self.push(
                    Diagnostic::error(
                        Code::SchemaVersionsEmpty,
                        "a message schema has no versions",
                    )
                    .at(n.span)
                    .help("add `versions: { 1: { file: schemas/<name>.v1.json } }`"),
                );
                None
            }
            Some(n) => self.named_map(n, "`versions`", |c, _, v| c.schema_version(v)),
            None => {
                self.push(
                    Diagnostic::error(
                        Code::FieldMissing,
                        "a message schema needs `versions`",
                    )
                    .at(f.span)
                    .help("add `versions: { 1: { file: schemas/<name>.v1.json } }` or an inline `{ schema: {...} }`"),
                );
                None
            }
        };
        Some(MessageSchema {
            description: self.opt_string(&f, "description"),
            encoding_invalid: encoding.is_none() && f.get("encoding").is_some(),
            encoding,
            field: self.opt_string(&f, "field"),
            version_field: self.opt_string(&f, "version_field"),
            compatibility,
            versions,
        })
    }

    fn encoding(&mut self, node: &Node) -> Option<Sp<Encoding>> {
        let text = self.string(node, "`encoding`")?;
        let encoding = match text.value.as_str() {
            "json" => Encoding::Json,
            "fields" => Encoding::Fields,
            other => {
                self.push(
                    Diagnostic::error(Code::SchemaEncoding, format!("unknown encoding `{other}`"))
                        .at(text.span)
                        .label("unknown encoding")
                        .help("valid encodings are `json` (one entry field holds a JSON document) or `fields` (the entry's field/value pairs are the object)"),
                );
                return None;
            }
        };
        Some(Sp::new(encoding, text.span))
    }

    fn compatibility(&mut self, node: &Node) -> Option<Sp<String>> {
        let text = self.string(node, "`compatibility`")?;
        if Mode::parse(&text.value).is_some() {
            return Some(text);
        }
        let help = suggest(
            &text.value,
            &Mode::ALL,
            format!("valid modes are {}", one_of(&Mode::ALL)),
        );
        self.push(
            Diagnostic::error(
                Code::SchemaCompatibilityMode,
                format!("unknown compatibility mode `{}`", text.value),
            )
            .at(text.span)
            .label("unknown mode")
            .help(help),
        );
        None
    }

    fn schema_version(&mut self, node: &Node) -> Option<SchemaVersion> {
        let f = self.fields(node, "a schema version", VERSION_FIELDS)?;
        let breaking = f
            .get("breaking")
            .and_then(|n| self.boolean(n, "`breaking`"));
        let source = match (f.get("file"), f.get("schema")) {
            (Some(file), None) => self.string(file, "`file`").map(VersionSource::File),
            (None, Some(schema)) => {
                Some(VersionSource::Inline(Sp::new(to_json(schema), schema.span)))
            }
            (Some(_), Some(_)) | (None, None) => {
                self.push(
                    Diagnostic::error(
                        Code::SchemaVersionSource,
                        "a schema version needs exactly one of `file` or `schema`",
                    )
                    .at(f.span)
                    .label("one of `file` or `schema`")
                    .help("write `{ file: schemas/<name>.v<n>.json }` or `{ schema: { type: object, ... } }`"),
                );
                None
            }
        }?;
        Some(SchemaVersion { source, breaking })
    }

    fn streams(&mut self, node: Node) -> Option<NamedMap<Stream>> {
        self.named_map_owned(node, "`streams`", |c, _, v| c.stream(v))
    }

    fn stream(&mut self, node: &Node) -> Option<Stream> {
        // `rag:tasks: {}` and `rag:tasks:` (null) both declare a stream with defaults.
        if node.is_null() {
            return Some(Stream::default());
        }
        let f = self.fields(node, "a stream", STREAM_FIELDS)?;
        let retention = f.get("retention").and_then(|n| self.retention(n));
        Some(Stream {
            description: self.opt_string(&f, "description").map(Box::new),
            schema: self.opt_string(&f, "schema"),
            retention_invalid: retention.is_none() && f.get("retention").is_some(),
            retention,
            groups: f
                .get("groups")
                .and_then(|n| self.named_map(n, "`groups`", |c, _, v| c.group(v))),
            producers: f
                .get("producers")
                .and_then(|n| self.string_list(n, "`producers`")),
            dlq_of: self.opt_string(&f, "dlq_of").map(Box::new),
            durable: f.get("durable").and_then(|n| self.boolean(n, "`durable`")),
            health: f
                .get("health")
                .and_then(|n| self.health(n, Scope::Stream))
                .map(Box::new),
        })
    }

    fn retention(&mut self, node: &Node) -> Option<Sp<Retention>> {
        if let NodeKind::Scalar(Scalar::Str(_)) = &node.kind {
            let text = self.string(node, "`retention`")?;
            if text.value == "unbounded" {
                return Some(Sp::new(Retention::Unbounded, node.span));
            }
            self.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!("`retention` is `{}`", text.value),
                )
                .at(node.span)
                .label("not a retention")
                .help(RETENTION_HELP),
            );
            return None;
        }
        if node.as_map().is_none() {
            self.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "`retention` must be `unbounded` or a mapping, found {}",
                        node.describe()
                    ),
                )
                .at(node.span)
                .help(RETENTION_HELP),
            );
            return None;
        }
        let f = self.fields(node, "`retention`", RETENTION_FIELDS)?;
        let maxlen = f.get("maxlen").and_then(|n| self.maxlen(n));
        let approximate = f
            .get("approximate")
            .and_then(|n| self.boolean(n, "`approximate`"));
        let max_age = f.get("max_age").and_then(|n| self.duration(n));
        if f.get("maxlen").is_none() && f.get("max_age").is_none() {
            self.push(
                Diagnostic::error(Code::RetentionEmpty, "`retention` bounds nothing")
                    .at(node.span)
                    .label("no `maxlen` or `max_age`")
                    .help("give `maxlen: N` and/or `max_age: 7d`, or write `retention: unbounded` to keep every entry on purpose"),
            );
            return None;
        }
        Some(Sp::new(
            Retention::Bounded {
                maxlen,
                approximate,
                max_age,
            },
            node.span,
        ))
    }

    fn maxlen(&mut self, node: &Node) -> Option<Sp<u64>> {
        let n = self.uint(node, "`maxlen`")?;
        if n.value == 0 {
            self.push(
                Diagnostic::error(Code::RetentionMaxlen, "`maxlen` must be greater than 0")
                    .at(n.span)
                    .label("would empty the stream on every trim")
                    .help("give the number of entries to keep, e.g. `maxlen: 20000`"),
            );
            return None;
        }
        Some(n)
    }

    fn duration(&mut self, node: &Node) -> Option<Sp<Duration>> {
        if let NodeKind::Scalar(Scalar::Int(n)) = node.kind {
            self.push(
                Diagnostic::error(Code::DurationInvalid, format!("`{n}` has no unit"))
                    .at(node.span)
                    .label("a number without a unit")
                    .help(format!("write a number and a unit: `{n}s`, `{n}m`, `{n}h`, `{n}d` or `{n}w` (or `{n}ms`)")),
            );
            return None;
        }
        let text = self.string(node, "`max_age`")?;
        match parse_duration(&text.value) {
            Some(d) if d.millis > 0 => Some(Sp::new(d, text.span)),
            _ => {
                self.push(
                    Diagnostic::error(
                        Code::DurationInvalid,
                        format!("`{}` is not a valid duration", text.value),
                    )
                    .at(text.span)
                    .label("not a duration")
                    .help("write a positive number and a unit: `ms`, `s`, `m`, `h`, `d` or `w`, e.g. `90s`, `15m`, `12h`, `7d`"),
                );
                None
            }
        }
    }

    fn group(&mut self, node: &Node) -> Option<Group> {
        if node.is_null() {
            return Some(Group::default());
        }
        let f = self.fields(node, "a consumer group", GROUP_FIELDS)?;
        Some(Group {
            start: f.get("start").and_then(|n| self.start(n)),
            entries_read: f
                .get("entries_read")
                .and_then(|n| self.entries_read(n))
                .map(Box::new),
            description: self.opt_string(&f, "description").map(Box::new),
            consumers: f
                .get("consumers")
                .and_then(|n| self.string_list(n, "`consumers`")),
            health: f
                .get("health")
                .and_then(|n| self.health(n, Scope::Group))
                .map(Box::new),
        })
    }

    /// A `health:` mapping. `scope`: the widest figures it may hold (a group's may not hold
    /// a stream's figures; the top level's and a stream's may hold both).
    fn health(&mut self, node: &Node, scope: Scope) -> Option<Health> {
        let names: Vec<&str> = Figure::ALL.iter().map(|f| f.name()).collect();
        let f = self.fields(node, "`health`", &names)?;
        let mut health = Health::default();
        for figure in Figure::ALL {
            let Some(value) = f.get(figure.name()) else {
                continue;
            };
            if figure.scope() > scope {
                let (whose, here, there) = match (figure.scope(), scope) {
                    (Scope::Server, Scope::Stream) => (
                        "a server's figure, not a stream's",
                        "on a stream",
                        "the top level's `health`",
                    ),
                    (Scope::Server, _) => (
                        "a server's figure, not a group's",
                        "on a group",
                        "the top level's `health`",
                    ),
                    _ => (
                        "a stream's figure, not a group's",
                        "on a group",
                        "the stream's `health` (or the top level's)",
                    ),
                };
                self.push(
                    Diagnostic::error(
                        Code::HealthThreshold,
                        format!("`{}` is {whose}", figure.name()),
                    )
                    .at(value.span)
                    .label(here)
                    .help(format!("move `{}` to {there}", figure.name())),
                );
                continue;
            }
            if let Some(threshold) = self.threshold(value, *figure) {
                health.thresholds.push((*figure, threshold));
            }
        }
        Some(health)
    }

    /// A heartbeat: `keys` (a pattern relative to the namespace) and `instances`.
    fn heartbeat(&mut self, node: &Node) -> Option<Heartbeat> {
        let f = self.fields(node, "a heartbeat", HEARTBEAT_FIELDS)?;
        let keys = self.required(
            &f,
            "keys",
            "a heartbeat",
            "`keys: \"ops:hb:<service>:*\"` (a pattern relative to the namespace)",
        );
        let keys = keys.and_then(|n| self.string(n, "`keys`"))?;
        let problem = if keys.value.is_empty() {
            Some("is empty".to_owned())
        } else if let Some(c) = keys
            .value
            .chars()
            .find(|c| c.is_whitespace() || c.is_control())
        {
            Some(format!("contains {c:?}"))
        } else if keys
            .value
            .split(':')
            .any(|part| part.starts_with("__topology__"))
        {
            Some("names the tool's own keys (`__topology__`)".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            self.push(
                Diagnostic::error(
                    Code::HeartbeatKeys,
                    format!("the heartbeat pattern `{}` {problem}", keys.value),
                )
                .at(keys.span)
                .label("not a key pattern")
                .help(
                    "write a glob pattern relative to the namespace, such as `ops:hb:rag-worker:*`",
                ),
            );
            return None;
        }
        let instances = f
            .get("instances")
            .and_then(|n| self.threshold(n, Figure::Instances));
        Some(Heartbeat { keys, instances })
    }

    /// One figure's `{ warning, critical }` (and `within` for `active_consumers`), in the
    /// figure's unit, with at least one level, and the levels in order.
    fn threshold(&mut self, node: &Node, figure: Figure) -> Option<Threshold> {
        let name = figure.name();
        let known: &[&str] = if figure == Figure::ActiveConsumers {
            &["warning", "critical", "within"]
        } else {
            &["warning", "critical"]
        };
        let f = self.fields(node, &format!("`{name}`"), known)?;
        let warning = f.get("warning").and_then(|n| self.level(n, figure));
        let critical = f.get("critical").and_then(|n| self.level(n, figure));
        let within = f
            .get("within")
            .and_then(|n| self.duration(n))
            .map(|d| Sp::new(d.value.millis, d.span));
        let example = threshold_example(figure);
        if f.get("warning").is_none() && f.get("critical").is_none() {
            self.push(
                Diagnostic::error(Code::HealthThreshold, format!("`{name}` has no level"))
                    .at(node.span)
                    .label("no `warning` or `critical`")
                    .help(format!("write `{name}: {example}`")),
            );
            return None;
        }
        if figure == Figure::ActiveConsumers && f.get("within").is_none() {
            self.push(
                Diagnostic::error(
                    Code::HealthThreshold,
                    "`active_consumers` needs `within`: how recently a consumer must have been seen",
                )
                .at(node.span)
                .label("no `within`")
                .help(format!("write `{name}: {example}`")),
            );
            return None;
        }
        if let (Some(w), Some(c)) = (&warning, &critical) {
            let (in_order, order) = if figure.lower_is_worse() {
                (w.value >= c.value, "at least")
            } else {
                (w.value <= c.value, "at most")
            };
            if !in_order {
                self.push(
                    Diagnostic::error(
                        Code::HealthThreshold,
                        format!("`{name}`: the warning level is past the critical one"),
                    )
                    .at(w.span)
                    .label("warning")
                    .help(format!(
                        "the warning level must be {order} the critical level, so that a warning comes first: `{name}: {example}`"
                    )),
                );
                return None;
            }
        }
        Some(Threshold {
            warning,
            critical,
            within,
            span: node.span,
        })
    }

    /// A level of `figure`: a count, a duration (in ms) or a percentage.
    fn level(&mut self, node: &Node, figure: Figure) -> Option<Sp<u64>> {
        match figure.unit() {
            Unit::Entries | Unit::Consumers => self.uint(node, &format!("`{}`", figure.name())),
            Unit::Duration => self.duration(node).map(|d| Sp::new(d.value.millis, d.span)),
            Unit::Percent => {
                if let NodeKind::Scalar(Scalar::Int(_)) = node.kind {
                    return self.uint(node, "a percentage");
                }
                let text = self.string(node, "a percentage")?;
                let percent = text
                    .value
                    .strip_suffix('%')
                    .and_then(|n| n.parse::<u64>().ok());
                if percent.is_none() {
                    self.push(
                        Diagnostic::error(
                            Code::HealthThreshold,
                            format!("`{}` is not a percentage", text.value),
                        )
                        .at(text.span)
                        .label("not `<number>%`")
                        .help("write a percentage, such as `150%`"),
                    );
                }
                percent.map(|p| Sp::new(p, text.span))
            }
        }
    }

    fn start(&mut self, node: &Node) -> Option<Sp<StartId>> {
        let text = match &node.kind {
            // `start: 0` unquoted is an integer in YAML; it means the ID 0.
            NodeKind::Scalar(Scalar::Int(i)) => Sp::new(i.to_string(), node.span),
            _ => self.string(node, "`start`")?,
        };
        match parse_start(&text.value) {
            Some(id) => Some(Sp::new(id, text.span)),
            None => {
                self.push(
                    Diagnostic::error(
                        Code::StartInvalid,
                        format!("`{}` is not a valid group start", text.value),
                    )
                    .at(text.span)
                    .label("not `$`, `0` or a stream ID")
                    .help("write `$` (only new entries), `0` (the whole stream) or a stream ID like \"1700000000000-0\""),
                );
                None
            }
        }
    }

    fn entries_read(&mut self, node: &Node) -> Option<Sp<u64>> {
        if let NodeKind::Scalar(Scalar::Int(i)) = node.kind
            && i < 0
        {
            self.push(
                Diagnostic::error(Code::EntriesReadInvalid, "`entries_read` must not be negative")
                    .at(node.span)
                    .help("give the number of entries the group has already read (0 or more), or leave it out"),
            );
            return None;
        }
        self.uint(node, "`entries_read`")
    }

    fn acl(&mut self, node: &Node) -> Option<Acl> {
        let f = self.fields(node, "`acl`", ACL_FIELDS)?;
        Some(Acl {
            users: f
                .get("users")
                .and_then(|n| self.named_map(n, "`users`", |c, _, v| c.user(v))),
            users_at: f
                .entries
                .iter()
                .find(|(k, _)| k.key_text().as_deref() == Some("users"))
                .map(|(k, _)| k.span),
            user_names: f.get("user_names").and_then(|n| self.user_names(n)),
        })
    }

    fn user_names(&mut self, node: &Node) -> Option<Sp<UserNames>> {
        let f = self.fields(node, "`user_names`", USER_NAMES_FIELDS)?;
        let names = UserNames {
            prefix: self.opt_string(&f, "prefix"),
            suffix: self.opt_string(&f, "suffix"),
        };
        Some(Sp::new(names, node.span))
    }

    fn user(&mut self, node: &Node) -> Option<User> {
        if node.is_null() {
            return Some(User::default());
        }
        // `password: hunter2` on the user itself: a plaintext password, not just an unknown
        // field (whose snippet would show it). `password: {env: X}` stays an unknown field,
        // with its "did you mean `passwords`".
        let plaintext: Vec<&str> = node
            .as_map()
            .unwrap_or_default()
            .iter()
            .filter(|(key, value)| {
                matches!(
                    value.kind,
                    NodeKind::Scalar(Scalar::Str(_) | Scalar::Int(_) | Scalar::Float(_))
                ) && key
                    .key_text()
                    .is_some_and(|k| PLAINTEXT_PASSWORD_KEYS.contains(&&*k))
            })
            .filter_map(|(key, value)| {
                self.plaintext_password(key.span, value);
                let name = key.key_text()?;
                PLAINTEXT_PASSWORD_KEYS.iter().copied().find(|k| *k == name)
            })
            .collect();
        let f = self.fields_ignoring(node, "an ACL user", USER_FIELDS, &plaintext)?;
        let passwords = f.get("passwords").and_then(|n| self.passwords(n));
        let (keys, channels, commands) = self.grants(&f);
        Some(User {
            passwords_invalid: !plaintext.is_empty()
                || (passwords.is_none() && f.get("passwords").is_some()),
            passwords,
            description: self.opt_string(&f, "description"),
            enabled: f.get("enabled").and_then(|n| self.boolean(n, "`enabled`")),
            nopass: f.get("nopass").and_then(|n| self.boolean(n, "`nopass`")),
            keys,
            channels,
            commands,
            access: f.get("access").and_then(|n| self.access_list(n)),
        })
    }

    /// `keys`, `channels` and `commands`, of a user or of an `access` block.
    fn grants(&mut self, f: &Fields) -> Grants {
        (
            f.get("keys").and_then(|n| self.keys(n)),
            f.get("channels")
                .and_then(|n| self.string_list(n, "`channels`")),
            f.get("commands")
                .and_then(|n| self.string_list(n, "`commands`")),
        )
    }

    fn access_list(&mut self, node: &Node) -> Option<Vec<Sp<Access>>> {
        let NodeKind::Seq(items) = &node.kind else {
            self.mismatch(
                node,
                "`access`",
                "a list of `{keys, channels, commands, preset}` blocks",
            );
            return None;
        };
        Some(items.iter().filter_map(|n| self.access(n)).collect())
    }

    fn access(&mut self, node: &Node) -> Option<Sp<Access>> {
        let f = self.fields(node, "an `access` block", ACCESS_FIELDS)?;
        let (keys, channels, commands) = self.grants(&f);
        let access = Access {
            keys,
            channels,
            commands,
            preset: f.get("preset").and_then(|n| self.preset(n)),
            incomplete: false,
        };
        let unknown = f
            .entries
            .iter()
            .any(|(k, _)| k.key_text().is_none_or(|k| !ACCESS_FIELDS.contains(&&*k)));
        let invalid = [
            ("keys", access.keys.is_none()),
            ("channels", access.channels.is_none()),
            ("commands", access.commands.is_none()),
            ("preset", access.preset.is_none()),
        ]
        .iter()
        .any(|(field, missing)| *missing && f.get(field).is_some());
        Some(Sp::new(
            Access {
                incomplete: unknown || invalid,
                ..access
            },
            node.span,
        ))
    }

    fn preset(&mut self, node: &Node) -> Option<Sp<Preset>> {
        let text = self.string(node, "`preset`")?;
        let Some(preset) = Preset::from_name(&text.value) else {
            let listed = Preset::NAMES
                .iter()
                .map(|&name| {
                    let commands =
                        Preset::from_name(name).map_or_else(Vec::new, |p| p.commands().to_vec());
                    format!("`{name}` ({})", commands.join(" "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            self.push(
                Diagnostic::error(
                    Code::AclAccessPreset,
                    format!("unknown preset `{}`", text.value.escape_debug()),
                )
                .at(text.span)
                .label("unknown preset")
                .help(suggest(
                    &text.value,
                    Preset::NAMES,
                    format!("valid presets are {listed}; or list the commands in `commands`"),
                )),
            );
            return None;
        };
        Some(Sp::new(preset, text.span))
    }

    fn passwords(&mut self, node: &Node) -> Option<Vec<Sp<Password>>> {
        let NodeKind::Seq(items) = &node.kind else {
            if let NodeKind::Scalar(Scalar::Str(_)) = node.kind {
                self.plaintext_password(node.span, node);
            } else {
                self.mismatch(node, "`passwords`", "a list");
            }
            return None;
        };
        Some(items.iter().filter_map(|n| self.password(n)).collect())
    }

    fn password(&mut self, node: &Node) -> Option<Sp<Password>> {
        let Some(entries) = node.as_map() else {
            match node.kind {
                NodeKind::Scalar(Scalar::Str(_) | Scalar::Int(_) | Scalar::Float(_)) => {
                    self.plaintext_password(node.span, node)
                }
                _ => self.mismatch(node, "a password", "a mapping"),
            }
            return None;
        };
        // Any other key (`password:`, `pass:`, a typo) most likely holds the password itself.
        if let Some((key, value)) = entries
            .iter()
            .find(|(k, _)| k.key_text().is_none_or(|t| !PASSWORD_FIELDS.contains(&&*t)))
        {
            self.plaintext_password(key.span, value);
            return None;
        }
        let f = self.fields(node, "a password", PASSWORD_FIELDS)?;
        let given: Vec<&str> = PASSWORD_FIELDS
            .iter()
            .copied()
            .filter(|k| f.get(k).is_some())
            .collect();
        let [kind] = given.as_slice() else {
            let mut diagnostic = Diagnostic::error(
                Code::AclPasswordSource,
                "a password needs exactly one of `env`, `sha256` or `file`",
            )
            .at(node.span)
            .help("write `- env: RAG_WORKER_PASSWORD`, `- sha256: <64 lowercase hex>` or `- file: secrets/rag-worker`");
            // The hash is blanked as in the `acl::sha256` error: the snippet shows the entry.
            if let Some(hash) = f.get("sha256") {
                diagnostic = diagnostic.secret(hash.span);
            }
            self.push(diagnostic);
            return None;
        };
        let value_node = f.get(kind)?;
        if let NodeKind::Scalar(Scalar::Int(_) | Scalar::Float(_) | Scalar::Bool(_)) =
            value_node.kind
        {
            self.secret_mismatch(value_node, kind);
            return None;
        }
        let text = self.string(value_node, &format!("`{kind}`"))?;
        let password = match *kind {
            "env" => Password::Env(text.value),
            "sha256" => Password::Sha256(text.value),
            _ => Password::File(text.value),
        };
        Some(Sp::new(password, value_node.span))
    }

    /// A password source that is a number or a boolean: a type mismatch whose value is not
    /// shown and is blanked, since it may be the password itself (`sha256: 12345678`).
    fn secret_mismatch(&mut self, value: &Node, kind: &str) {
        self.push(
            Diagnostic::error(
                Code::TypeMismatch,
                format!("a password `{kind}` must be a string, found {} (not shown: it may be a password)", value.describe()),
            )
            .at(value.span)
            .label("expected a string")
            .secret(value.span)
            .help("write `- env: RAG_WORKER_PASSWORD`, `- sha256: <64 lowercase hex>` or `- file: secrets/rag-worker`, quoted when it looks like a number"),
        );
    }

    /// A password written in the file. Its text is marked secret, so no output shows it;
    /// a `${VAR}` written where `env: VAR` belongs is not a secret and gets its own advice.
    fn plaintext_password(&mut self, at: Span, value: &Node) {
        if let NodeKind::Scalar(Scalar::Str(text)) = &value.kind
            && let Some(var) = variable_reference(text)
        {
            self.push(
                Diagnostic::error(
                    Code::AclPlaintextPassword,
                    format!("a password is given as the string `{text}`"),
                )
                .at(at)
                .label("a variable reference, not a password source")
                .help(format!(
                    "passwords are read from the environment with `- env: {var}` (at plan/apply time, never by validate)"
                )),
            );
            return;
        }
        self.push(
            Diagnostic::error(
                Code::AclPlaintextPassword,
                "passwords must not be written in plaintext in the topology file",
            )
            .at(at)
            .label("plaintext password")
            .help("read it at plan/apply time with `- env: VAR` or `- file: path`, or give its hash with `- sha256: <64 lowercase hex>`; and rotate this password, it is in your repository")
            .secret(value.span),
        );
    }

    fn keys(&mut self, node: &Node) -> Option<Sp<Keys>> {
        if let NodeKind::Seq(_) = node.kind {
            let readwrite = self.string_list(node, "`keys`")?;
            return Some(Sp::new(
                Keys {
                    readwrite,
                    ..Keys::default()
                },
                node.span,
            ));
        }
        if node.as_map().is_none() {
            self.mismatch(
                node,
                "`keys`",
                "a list of patterns or `{read, write, readwrite}`",
            );
            return None;
        }
        let f = self.fields(node, "`keys`", KEYS_FIELDS)?;
        let mut list = |name: &str| {
            f.get(name)
                .and_then(|n| self.string_list(n, &format!("`{name}`")))
                .unwrap_or_default()
        };
        let keys = Keys {
            read: list("read"),
            write: list("write"),
            readwrite: list("readwrite"),
        };
        Some(Sp::new(keys, node.span))
    }

    // ---- generic readers ---------------------------------------------------------------

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn mismatch(&mut self, node: &Node, what: &str, expected: &str) {
        let found = match &node.kind {
            NodeKind::Scalar(Scalar::Int(i)) => format!("`{i}`"),
            // `1e6` and `5.0` are floats in YAML: show it as one, and what to write instead.
            NodeKind::Scalar(Scalar::Float(f)) if f.fract() == 0.0 && f.abs() < 1e18 => format!(
                "the float `{f:?}` (an exponent or decimal point makes a float in YAML: write `{}`)",
                *f as i64
            ),
            NodeKind::Scalar(Scalar::Float(f)) => format!("the float `{f:?}`"),
            NodeKind::Scalar(Scalar::Bool(b)) => format!("`{b}`"),
            _ => node.describe().to_owned(),
        };
        self.push(
            Diagnostic::error(
                Code::TypeMismatch,
                format!("{what} must be {expected}, found {found}"),
            )
            .at(node.span)
            .label(format!("expected {expected}"))
            .help(format!(
                "write {what} as {expected}; docs/format.md shows every field with an example"
            )),
        );
    }

    /// The fields of a mapping, reporting every unknown one with a suggestion.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        self.fields_ignoring(node, what, known, &[])
    }

    /// Like [`Self::fields`], with keys reported elsewhere (`ignored`) left out.
    fn fields_ignoring<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
        ignored: &[&str],
    ) -> Option<Fields<'n>> {
        let Some(entries) = node.as_map() else {
            self.mismatch(node, what, "a mapping");
            return None;
        };
        for (key, _) in entries {
            let name = key.key_text().unwrap_or_default();
            if known.contains(&&*name) || ignored.contains(&&*name) {
                continue;
            }
            let help = suggest(
                &name,
                known,
                format!("valid fields of {what} are {}", one_of(known)),
            );
            self.push(
                Diagnostic::error(
                    Code::FieldUnknown,
                    format!("unknown field `{name}` in {what}"),
                )
                .at(key.span)
                .label("unknown field")
                .help(help),
            );
        }
        Some(Fields {
            entries,
            span: node.span,
        })
    }

    fn required<'n>(
        &mut self,
        f: &Fields<'n>,
        name: &str,
        what: &str,
        example: &str,
    ) -> Option<&'n Node> {
        let value = f.get(name);
        let empty = f
            .entries
            .iter()
            .find(|(k, v)| k.key_text().as_deref() == Some(name) && v.is_null());
        if let Some((key, _)) = empty {
            self.push(
                Diagnostic::error(Code::FieldMissing, format!("`{name}` is empty"))
                    .at(key.span)
                    .label("no value")
                    .help(format!("write {example}")),
            );
        } else if value.is_none() {
            self.push(
                Diagnostic::error(
                    Code::FieldMissing,
                    format!("{what} is missing the required field `{name}`"),
                )
                .at(Span { len: 0, ..f.span })
                .help(format!("add {example}")),
            );
        }
        value
    }

    /// A mapping from user-chosen names to values; the keys must be scalars.
    fn named_map<V>(
        &mut self,
        node: &Node,
        what: &str,
        value: impl FnMut(&mut Self, &Node, &Node) -> Option<V>,
    ) -> Option<NamedMap<V>> {
        let Some(entries) = node.as_map() else {
            self.mismatch(node, what, "a mapping of names");
            return None;
        };
        Some(self.named_entries(entries.iter(), what, value))
    }

    /// [`Self::named_map`] of a mapping this conversion owns: each entry (a stream and its
    /// part of the tree) is dropped as soon as it is converted. A mapping still shared with
    /// another conversion (`validate` of several environments) is read in place.
    fn named_map_owned<V>(
        &mut self,
        node: Node,
        what: &str,
        value: impl FnMut(&mut Self, &Node, &Node) -> Option<V>,
    ) -> Option<NamedMap<V>> {
        let Node { kind, span } = node;
        match kind {
            NodeKind::Map(mut entries) => Some(match Arc::get_mut(&mut entries) {
                Some(owned) => {
                    self.named_entries(owned.iter_mut().map(std::mem::take), what, value)
                }
                None => self.named_entries(entries.iter(), what, value),
            }),
            kind => self.named_map(&Node { kind, span }, what, value),
        }
    }

    fn named_entries<V, E: Borrow<(Node, Node)>>(
        &mut self,
        entries: impl ExactSizeIterator<Item = E>,
        what: &str,
        mut value: impl FnMut(&mut Self, &Node, &Node) -> Option<V>,
    ) -> NamedMap<V> {
        let mut map = NamedEntries::with_capacity(entries.len());
        for entry in entries {
            let (key, val) = entry.borrow();
            map.add(self, key, val, what, &mut value);
        }
        map.map
    }

    fn opt_string(&mut self, f: &Fields, name: &str) -> Option<Sp<String>> {
        let node = f.get(name)?;
        self.string(node, &format!("`{name}`"))
    }

    /// A string, with `${VAR}` and `${VAR:-default}` expanded.
    fn string(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        let NodeKind::Scalar(Scalar::Str(s)) = &node.kind else {
            self.mismatch(node, what, "a string");
            return None;
        };
        let value = interpolate(s, node.span, self.vars, self.diags)?;
        Some(Sp::new(value, node.span))
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Option<Vec<Sp<String>>> {
        let NodeKind::Seq(items) = &node.kind else {
            self.mismatch(node, what, "a list of strings");
            return None;
        };
        Some(
            items
                .iter()
                .filter_map(|item| self.string(item, &format!("an item of {what}")))
                .collect(),
        )
    }

    /// A non-negative integer; `"${VAR:-100}"` is accepted and read after expansion.
    fn uint(&mut self, node: &Node, what: &str) -> Option<Sp<u64>> {
        self.typed(
            node,
            what,
            "a non-negative integer",
            |scalar| match scalar {
                Scalar::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            },
        )
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<Sp<bool>> {
        self.typed(node, what, "`true` or `false`", |scalar| match scalar {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        })
    }

    /// A scalar of type `T`, written as such or as a string of `${...}` that expands to one.
    fn typed<T: std::str::FromStr>(
        &mut self,
        node: &Node,
        what: &str,
        expected: &str,
        direct: impl Fn(&Scalar) -> Option<T>,
    ) -> Option<Sp<T>> {
        let parsed = match &node.kind {
            NodeKind::Scalar(Scalar::Str(s)) if s.contains("${") => {
                let text = self.string(node, what)?;
                text.value.trim().parse::<T>().ok()
            }
            NodeKind::Scalar(scalar) => direct(scalar),
            _ => None,
        };
        if parsed.is_none() {
            self.mismatch(node, what, expected);
        }
        parsed.map(|v| Sp::new(v, node.span))
    }
}

/// A threshold of `figure` as the file would write it, for help messages: the schema's
/// example ([`crate::model::health::threshold_example`]) as a YAML flow mapping.
fn threshold_example(figure: Figure) -> String {
    let example = crate::model::health::threshold_example(figure);
    let fields: Vec<String> = example
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => format!("{name}: {text}"),
            other => format!("{name}: {other}"),
        })
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

const RETENTION_HELP: &str = "write `retention: { maxlen: 20000 }`, `retention: { max_age: 7d }` or `retention: unbounded` (never trimmed, on purpose)";

/// The text of a string scalar as written, when it has a `${`: what it was before expansion.
fn written_with_variables(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Scalar(Scalar::Str(s)) if s.contains("${") => Some(s.to_string()),
        _ => None,
    }
}

/// `NAME` of a string that is only `${NAME}` or `$NAME`.
fn variable_reference(text: &str) -> Option<&str> {
    let name = text
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .or_else(|| text.strip_prefix('$'))?;
    super::interpolate::is_var_name(name).then_some(name)
}

/// `90s`, `15m`, `12h`, `7d`, `2w`, `500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let digits_end = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number.parse().ok()?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    Some(Duration {
        millis: number.checked_mul(unit_ms)?,
    })
}

/// `$`, `0`, `<ms>` or `<ms>-<seq>`, as XGROUP CREATE accepts them.
pub fn parse_start(text: &str) -> Option<StartId> {
    if text == "$" {
        return Some(StartId::Last);
    }
    let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    Some(StartId::Id {
        ms: ms.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

/// An inline YAML value as JSON (for inline message schemas).
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        NodeKind::Scalar(Scalar::Null) => Value::Null,
        NodeKind::Scalar(Scalar::Bool(b)) => Value::Bool(*b),
        NodeKind::Scalar(Scalar::Int(i)) => Value::from(*i),
        NodeKind::Scalar(Scalar::Float(f)) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        NodeKind::Scalar(Scalar::Str(s)) => Value::String(s.to_string()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.key_text().unwrap_or_default().into_owned(), to_json(v)))
                .collect(),
        ),
    }
}

/// Take the value of `key` out of a mapping, leaving `null` in its place (which the
/// converter reads as absent). Only the top-level entries are copied when the mapping is
/// shared; the value itself is moved, so its conversion can free it as it goes.
fn take_value(root: &mut Node, key: &str) -> Option<Node> {
    let NodeKind::Map(entries) = &mut root.kind else {
        return None;
    };
    let at = entries
        .iter()
        .position(|(k, _)| k.key_text().as_deref() == Some(key))?;
    let value = &mut Arc::make_mut(entries)[at].1;
    let null = Node {
        kind: NodeKind::Scalar(Scalar::Null),
        span: value.span,
    };
    Some(std::mem::replace(value, null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node::FileId;
    use crate::model::yaml;
    use std::collections::HashMap;

    /// Convert a document (base, no environment) and return the model and the codes found.
    fn convert(text: &str) -> (Option<Topology>, Vec<&'static str>) {
        let root = yaml::parse(text, FileId(0)).expect("valid YAML");
        let vars: HashMap<String, String> = HashMap::new();
        let mut diags = Vec::new();
        let topology = Converter {
            diags: &mut diags,
            vars: &vars,
        }
        .topology(root);
        (topology, diags.iter().map(|d| d.code.as_str()).collect())
    }

    const HEAD: &str = "version: 1\nnamespace: app\n";

    /// A tree that nothing else holds is consumed stream by stream; one still shared (validate
    /// converts the base and each environment from one tree) is read in place. Both give the
    /// same topology and the same diagnostics, and a shared tree is left as it was.
    #[test]
    fn an_owned_tree_and_a_shared_one_convert_alike() {
        let text = format!(
            "{HEAD}streams:\n  a: {{ retention: {{ maxlen: 5 }}, groups: {{ g: {{ start: 0 }}, h: {{}} }} }}\n  \"${{X:-b}}\": {{ retention: unbounded }}\n  b:\n  c: {{ groups: [x] }}\n  d:\nacl: {{ users: {{ u: {{ keys: {{ read: ['a'] }} }} }} }}\n"
        );
        let vars: HashMap<String, String> = HashMap::new();
        let run = |root: Node| {
            let mut diags = Vec::new();
            let topology = Converter {
                diags: &mut diags,
                vars: &vars,
            }
            .topology(root);
            let codes: Vec<_> = diags.iter().map(|d| (d.code.as_str(), d.span)).collect();
            (topology, codes)
        };
        let tree = yaml::parse(&text, FileId(0)).expect("valid YAML");
        let kept = tree.clone();
        let shared = run(tree);
        assert_eq!(kept, yaml::parse(&text, FileId(0)).expect("valid YAML"));
        let owned = run(kept);
        assert_eq!(shared, owned);
        let (topology, codes) = owned;
        let streams = topology.and_then(|t| t.streams).expect("streams");
        assert_eq!(streams.names().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        // The expanded duplicate of `b`, and `c`'s groups that are not a mapping.
        let codes: Vec<&str> = codes.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, ["name::duplicate", "type::mismatch"]);
    }

    #[test]
    fn field_errors_each_reported() {
        let cases: &[(&str, &[&str])] = &[
            (
                "streams: { s: { retension: unbounded } }",
                &["field::unknown"],
            ),
            (
                "streams: { s: { retention: { maxlen: 0 } } }",
                &["retention::maxlen"],
            ),
            (
                "streams: { s: { retention: { approximate: true } } }",
                &["retention::empty"],
            ),
            (
                "streams: { s: { retention: forever } }",
                &["type::mismatch"],
            ),
            (
                "streams: { s: { retention: { max_age: 0s } } }",
                &["retention::duration"],
            ),
            (
                "streams: { s: { groups: { g: { start: x } } } }",
                &["group::start"],
            ),
            (
                "streams: { s: { groups: { g: { entries_read: -1 } } } }",
                &["group::entries_read"],
            ),
            ("streams: { s: { groups: [a] } }", &["type::mismatch"]),
            (
                "schemas: { m: { encoding: xml, versions: { 1: { schema: {} } } } }",
                &["schema::encoding"],
            ),
            (
                "schemas: { m: { compatibility: backwards, versions: { 1: { schema: {} } } } }",
                &["schema::compatibility_mode"],
            ),
            ("schemas: { m: { field: f } }", &["field::missing"]),
            (
                "schemas: { m: { field: f, versions: {} } }",
                &["schema::versions_empty"],
            ),
            (
                "schemas: { m: { versions: { 1: { file: a, schema: {} } } } }",
                &["schema::version_source"],
            ),
            (
                "acl: { users: { u: { passwords: [secret] } } }",
                &["acl::plaintext_password"],
            ),
            (
                "acl: { users: { u: { passwords: [{ password: x }] } } }",
                &["acl::plaintext_password"],
            ),
            (
                "acl: { users: { u: { passwords: [{ env: A, file: b }] } } }",
                &["acl::password_source"],
            ),
            ("acl: { users: { u: { keys: 5 } } }", &["type::mismatch"]),
            (
                "acl: { users: { u: { enabled: yes } } }",
                &["type::mismatch"],
            ),
            // Two independent mistakes: both reported.
            (
                "streams: { a: { retention: { maxlen: 0 } }, b: { groups: { g: { start: '>' } } } }",
                &["retention::maxlen", "group::start"],
            ),
        ];
        for (body, expected) in cases {
            let (_, codes) = convert(&format!("{HEAD}{body}\n"));
            assert_eq!(&codes, expected, "{body}");
        }
    }

    #[test]
    fn required_fields_and_version() {
        assert_eq!(convert("namespace: x\n").1, ["field::missing"]);
        assert_eq!(convert("version: 1\n").1, ["field::missing"]);
        assert_eq!(
            convert("version: 2\nnamespace: x\n").1,
            ["version::unsupported"]
        );
        assert_eq!(convert("").1, ["yaml::empty"]);
        assert_eq!(convert("[1, 2]").1, ["type::mismatch"]);
    }

    #[test]
    fn a_full_stream_converts() {
        let (topology, codes) = convert(&format!(
            "{HEAD}streams:\n  s:\n    retention: {{ maxlen: \"${{N:-20}}\", approximate: false, max_age: 1h }}\n    groups:\n      g: {{ start: 0, entries_read: 3 }}\n      h:\n"
        ));
        assert!(codes.is_empty(), "{codes:?}");
        let topology = topology.expect("converted");
        let streams = topology.streams.expect("streams");
        let stream = streams.get("s").expect("s");
        let Some(Sp {
            value:
                Retention::Bounded {
                    maxlen,
                    approximate,
                    max_age,
                },
            ..
        }) = &stream.retention
        else {
            panic!("bounded retention expected");
        };
        assert_eq!(maxlen.as_ref().map(|m| m.value), Some(20));
        assert_eq!(approximate.as_ref().map(|a| a.value), Some(false));
        assert_eq!(max_age.as_ref().map(|d| d.value.millis), Some(3_600_000));
        let groups = stream.groups.as_ref().expect("groups");
        let g = groups.get("g").expect("g");
        assert_eq!(
            g.start.as_ref().map(|s| s.value),
            Some(StartId::Id { ms: 0, seq: 0 })
        );
        assert_eq!(g.entries_read.as_ref().map(|e| e.value), Some(3));
        assert_eq!(groups.get("h"), Some(&Group::default()));
    }

    /// The password entries whose errors quote what may be a secret: each blanks it.
    #[test]
    fn password_errors_mark_their_secret() {
        for (entry, secret) in [
            ("{ env: A, sha256: abc123 }", "abc123"),
            ("{ sha256: 12345678 }", "12345678"),
            ("{ file: 12.5 }", "12.5"),
        ] {
            let text = format!("{HEAD}acl: {{ users: {{ u: {{ passwords: [{entry}] }} }} }}\n");
            let root = yaml::parse(&text, FileId(0)).expect("valid YAML");
            let vars: HashMap<String, String> = HashMap::new();
            let mut diags = Vec::new();
            Converter {
                diags: &mut diags,
                vars: &vars,
            }
            .topology(root);
            let [diagnostic] = diags.as_slice() else {
                panic!("{entry}: {diags:?}");
            };
            let span = diagnostic.secret.expect("a secret");
            assert_eq!(&text[span.range()], secret, "{entry}");
            assert!(
                !diagnostic.message.contains(secret),
                "{entry}: {diagnostic:?}"
            );
        }
    }

    #[test]
    fn keys_list_means_readwrite() {
        let (topology, codes) = convert(&format!(
            "{HEAD}acl: {{ users: {{ u: {{ keys: [a, b], passwords: [{{ sha256: x }}] }} }} }}\n"
        ));
        assert!(codes.is_empty(), "{codes:?}");
        let users = topology
            .and_then(|t| t.acl)
            .and_then(|a| a.users)
            .expect("users");
        let keys = users.get("u").and_then(|u| u.keys.clone()).expect("keys");
        let names: Vec<&str> = keys
            .value
            .readwrite
            .iter()
            .map(|k| k.value.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(keys.value.read.is_empty() && keys.value.write.is_empty());
    }

    /// Access blocks become selectors in declared order: the namespace put in front of
    /// each pattern, the preset's commands written out, then the block's own.
    #[test]
    fn access_blocks_become_selectors_with_presets_written_out() {
        let text = format!(
            "{HEAD}acl:\n  users:\n    u:\n      passwords: [{{ env: P }}]\n      commands: [\"+ping\"]\n      access:\n        - {{ keys: [tasks], preset: consumer, commands: [\"-xclaim\"] }}\n        - {{ keys: {{ write: [out], read: [in] }}, channels: [\"ev:*\"], commands: [\"+xadd\"] }}\n"
        );
        let (topology, codes) = convert(&text);
        assert!(codes.is_empty(), "{codes:?}");
        let topology = topology.expect("topology");
        let desired = crate::model::desired::Desired::from_topology(
            &topology,
            None,
            &crate::model::secrets::Secrets::SourcesOnly,
        )
        .expect("desired");
        let user = &desired.users["u"];
        let rules: Vec<String> = user.selectors.iter().map(|s| s.rule()).collect();
        assert_eq!(
            rules,
            [
                "(~app:tasks +xreadgroup +xack +xautoclaim +xclaim +xpending -xclaim)",
                "(%R~app:in %W~app:out &app:ev:* +xadd)"
            ]
        );
        assert_eq!(user.selectors[0].preset, Some("consumer"));
        let summary = user.summary();
        assert_eq!(summary["access"][0]["preset"], "consumer");
        assert_eq!(summary["access"][1]["preset"], serde_json::Value::Null);

        // Without `access`, the user's summary and the digest are what they were before
        // `access` existed; with it, the digest changes.
        let (plain, _) = convert(&format!(
            "{HEAD}acl:\n  users:\n    u:\n      passwords: [{{ env: P }}]\n      commands: [\"+ping\"]\n"
        ));
        let plain = crate::model::desired::Desired::from_topology(
            &plain.expect("topology"),
            None,
            &crate::model::secrets::Secrets::SourcesOnly,
        )
        .expect("desired");
        assert!(plain.users["u"].summary().get("access").is_none());
        assert_ne!(plain.digest(), desired.digest());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Generated documents (streams of every shape, wrong types, variables in names, and
        /// environment overlays that change, add and remove streams) convert alike from a
        /// tree this conversion owns and from one still shared, in the base and in an
        /// environment: same topology, same diagnostics at the same places.
        #[test]
        fn owned_and_shared_trees_convert_alike(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("  a: { retention: { maxlen: 5 } }\n"),
                    proptest::strategy::Just("  b:\n    groups: { g: { start: \"0\" }, h: {} }\n"),
                    proptest::strategy::Just("  c: { retention: unbounded, groups: [x] }\n"),
                    proptest::strategy::Just("  \"${V:-a}\": {}\n"),
                    proptest::strategy::Just("  d: 5\n"),
                    proptest::strategy::Just("  e: { retention: { max_age: 7d }, producers: [u] }\n"),
                    proptest::strategy::Just("  f: { unknown: 1 }\n"),
                ],
                0..8,
            ),
            overlay in proptest::prop_oneof![
                proptest::strategy::Just(""),
                proptest::strategy::Just("      a: null\n"),
                proptest::strategy::Just("      b: { retention: { maxlen: 1 } }\n"),
                proptest::strategy::Just("      z: {}\n      a: null\n"),
                proptest::strategy::Just("      c: { groups: { g: {} } }\n"),
            ],
        ) {
            let mut body: Vec<&str> = Vec::new();
            for part in parts {
                // The parser refuses duplicate keys: keep the first of each.
                if !body.contains(&part) {
                    body.push(part);
                }
            }
            let text = format!(
                "{HEAD}streams:\n{}environments:\n  e:\n    streams:\n{overlay}",
                body.concat()
            );
            let Ok(tree) = yaml::parse(&text, FileId(0)) else {
                return Ok(());
            };
            let vars: HashMap<String, String> = HashMap::new();
            for env in [None, Some("e")] {
                let convert = |root: Node| {
                    let mut diags = Vec::new();
                    let topology = crate::model::load::topology(root, env, &vars, &mut diags);
                    let found: Vec<_> = diags.iter().map(|d| (d.code.as_str(), d.span)).collect();
                    (topology, found)
                };
                // `tree` stays alive: its clone is shared. A tree parsed again is not.
                let shared = convert(tree.clone());
                let owned = convert(yaml::parse(&text, FileId(0)).expect("parsed once already"));
                proptest::prop_assert_eq!(shared, owned, "{}", text);
            }
        }
    }

    /// The desired state built from a topology that is consumed stream by stream (plan and
    /// apply) is the one built from a borrowed topology: streams, groups, retention, server
    /// names of producers and consumers, users, health rules and the digest.
    #[test]
    fn an_owned_topology_gives_the_same_desired_state() {
        let text = format!(
            "{HEAD}health:\n  lag: {{ warning: 10 }}\nstreams:\n  tasks:\n    retention: {{ maxlen: 100, max_age: 1h }}\n    durable: true\n    producers: [p]\n    health: {{ pending: {{ critical: 5 }} }}\n    groups:\n      g: {{ start: \"0\", consumers: [c], health: {{ lag: {{ critical: 9 }} }} }}\n      h: {{ entries_read: 3 }}\n  dlq:\n    dlq_of: tasks\n    retention: unbounded\nacl:\n  user_names: {{ prefix: \"dev-\" }}\n  users:\n    p: {{ passwords: [{{ env: P }}] }}\n    c: {{ passwords: [{{ env: P }}] }}\n"
        );
        let (topology, codes) = convert(&text);
        assert!(codes.is_empty(), "{codes:?}");
        let topology = topology.expect("topology");
        let secrets = crate::model::secrets::Secrets::SourcesOnly;
        let borrowed =
            crate::model::desired::Desired::from_topology(&topology, Some("e"), &secrets)
                .expect("desired");
        let owned =
            crate::model::desired::Desired::from_owned_topology(topology, Some("e"), &secrets)
                .expect("desired");
        assert_eq!(owned, borrowed);
        assert_eq!(owned.streams["app:tasks"].producers, ["dev-p"]);
        assert!(owned.health != crate::model::health::HealthRules::default());
    }

    /// Producers and consumers reach the desired state by the users' server names (with
    /// `acl.user_names`), and change neither the digest nor what a group is created with.
    #[test]
    fn producers_and_consumers_are_kept_by_server_name_outside_the_digest() {
        let stream = |roles: &str| {
            format!(
                "{HEAD}streams:\n  tasks:\n    retention: unbounded\n{roles}acl:\n  user_names: {{ prefix: \"dev-\" }}\n  users:\n    p: {{ passwords: [{{ env: P }}] }}\n    c: {{ passwords: [{{ env: P }}] }}\n"
            )
        };
        let desired = |text: &str| {
            let (topology, codes) = convert(text);
            assert!(codes.is_empty(), "{codes:?}");
            crate::model::desired::Desired::from_topology(
                &topology.expect("topology"),
                None,
                &crate::model::secrets::Secrets::SourcesOnly,
            )
            .expect("desired")
        };
        let with = desired(&stream(
            "    producers: [p]\n    groups:\n      g: { start: \"0\", consumers: [c, p] }\n",
        ));
        let without = desired(&stream("    groups:\n      g: { start: \"0\" }\n"));
        let tasks = &with.streams["app:tasks"];
        assert_eq!(tasks.producers, ["dev-p"]);
        let group = |d: &crate::model::desired::Desired| {
            d.streams["app:tasks"]
                .groups
                .get("g")
                .cloned()
                .expect("group g")
        };
        assert_eq!(group(&with).consumers, ["dev-c", "dev-p"]);
        assert!(group(&with).same_creation(&group(&without)));
        assert_eq!(with.digest(), without.digest());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").map(|d| d.millis), Some(90_000));
        assert_eq!(parse_duration("7d").map(|d| d.millis), Some(604_800_000));
        assert_eq!(parse_duration("250ms").map(|d| d.millis), Some(250));
        for bad in [
            "",
            "7",
            "d",
            "7 d",
            "7days",
            "-1s",
            "1.5h",
            "99999999999999999999w",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn start_ids() {
        assert_eq!(parse_start("$"), Some(StartId::Last));
        assert_eq!(parse_start("0"), Some(StartId::Id { ms: 0, seq: 0 }));
        assert_eq!(
            parse_start("1700000000000-3"),
            Some(StartId::Id {
                ms: 1_700_000_000_000,
                seq: 3
            })
        );
        for bad in [">", "", "-", "1-", "-1", "abc", "1-2-3", "$0", "+"] {
            assert_eq!(parse_start(bad), None, "{bad:?}");
        }
    }
}
