//! The desired state: a topology file as typed Rust values.
//!
//! Every value a user wrote keeps its [`Span`] (`Sp<T>`), so a validation rule that runs long
//! after parsing can still point at the exact line. These types are also the source of the
//! file's JSON Schema (`redis-topology schema`): the doc comments below become the hover docs
//! users see in their editor, so they are written for users.

use std::borrow::Cow;
use std::collections::HashMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::json;

use super::health::{Health, Heartbeat, health_example};
use super::node::Span;
use crate::number::push_decimal;

/// A value with the place in the source it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Span) -> Self {
        Sp { value, span }
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A YAML mapping whose keys are names chosen by the user, in file order, each key spanned.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedMap<V> {
    pub entries: Vec<(Sp<String>, V)>,
}

impl<V> Default for NamedMap<V> {
    fn default() -> Self {
        NamedMap {
            entries: Vec::new(),
        }
    }
}

impl<V> NamedMap<V> {
    pub fn iter(&self) -> impl Iterator<Item = (&Sp<String>, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// An index by name, for lookups in large topologies.
    pub fn index(&self) -> HashMap<&str, &V> {
        self.iter().map(|(k, v)| (k.value.as_str(), v)).collect()
    }
    pub fn get(&self, name: &str) -> Option<&V> {
        self.iter().find(|(k, _)| k.value == name).map(|(_, v)| v)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.value.as_str())
    }
}

impl<V: JsonSchema> JsonSchema for NamedMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "additionalProperties": generator.subschema_for::<V>(),
        })
    }
}

/// A redis-topology file: the streams, consumer groups, retention, ACL users and message
/// schemas of one namespace. The format is described in the project's docs/format.md.
#[derive(Clone, Debug, PartialEq, JsonSchema)]
#[schemars(title = "redis-topology file", deny_unknown_fields)]
pub struct Topology {
    /// Format version of this file. Must be `1`.
    #[schemars(title = "Format version", range(min = 1, max = 1), example = 1)]
    pub version: Sp<u64>,
    /// Prefix of every key this topology manages, joined with `:` (`agentic` makes stream
    /// `rag:tasks` the key `agentic:rag:tasks`). Write `""` explicitly for no prefix. No spaces
    /// or glob characters (`* ? [ ]`), and no `:`-separated part starting with `__topology__`
    /// (the tool's own keys).
    #[schemars(title = "Namespace", example = &"agentic", example = &"")]
    pub namespace: Sp<String>,
    /// The namespace as written, before `${VAR}`s were expanded, when it has any: a lint
    /// reads the variables and their defaults.
    #[schemars(skip)]
    pub namespace_written: Option<String>,
    /// Message schemas, by name. Streams refer to them with `schema: <name>`.
    #[schemars(title = "Message schemas", example = schemas_example())]
    pub schemas: Option<NamedMap<MessageSchema>>,
    /// Streams, by name relative to the namespace (`rag:tasks`): no spaces, no glob characters
    /// (`* ? [ ] \`), no `:`-separated part starting with `__topology__`. A declared stream
    /// that does not exist is created empty by `apply`.
    #[schemars(title = "Streams", example = streams_example())]
    pub streams: Option<NamedMap<Stream>>,
    /// Redis ACL users this topology manages.
    #[schemars(title = "ACL users", example = acl_example())]
    pub acl: Option<Acl>,
    /// What `redis-topology status` checks, for every stream and group unless they say
    /// otherwise (their own `health`).
    #[schemars(title = "Health thresholds", example = health_example())]
    pub health: Option<Health>,
    /// Services whose instances each keep a key alive, by name: `status` counts them.
    #[schemars(title = "Heartbeats", example = json!({ "rag-worker": { "keys": "ops:hb:rag-worker:*", "instances": { "warning": 2, "critical": 1 } } }))]
    pub heartbeats: Option<NamedMap<Heartbeat>>,
    /// Per-environment overlays (`dev`, `staging`, `prod`, ...), deep-merged over the base file.
    /// When present, `plan` and `apply` need `--env`.
    #[schemars(title = "Environments", example = environments_example())]
    pub environments: Option<NamedMap<Overlay>>,
}

// The examples of the JSON Schema (editors show them with the field's docs, and offer them
// as completions). A test checks each against its own field's schema.

fn schemas_example() -> serde_json::Value {
    json!({ "rag-task": message_schema_example() })
}

fn message_schema_example() -> serde_json::Value {
    json!({
        "description": "A document to embed",
        "field": "payload",
        "version_field": "v",
        "versions": { "1": { "file": "schemas/rag-task.v1.json" } }
    })
}

fn streams_example() -> serde_json::Value {
    json!({ "rag:tasks": stream_example() })
}

fn stream_example() -> serde_json::Value {
    json!({
        "description": "RAG work items",
        "schema": "rag-task",
        "retention": { "maxlen": 20000 },
        "groups": { "rag-workers": { "start": "$", "consumers": ["rag-worker"] } },
        "producers": ["orchestrator"]
    })
}

fn acl_example() -> serde_json::Value {
    json!({ "users": users_example() })
}

fn users_example() -> serde_json::Value {
    json!({ "rag-worker": user_example() })
}

fn user_example() -> serde_json::Value {
    json!({
        "description": "RAG workers (group rag-workers)",
        "passwords": [{ "env": "RAG_WORKER_PASSWORD" }],
        "keys": { "readwrite": ["rag:tasks"], "write": ["rag:results"] },
        "commands": ["+@stream", "-xgroup", "-xtrim", "+@connection"]
    })
}

fn environments_example() -> serde_json::Value {
    json!({
        "dev": { "namespace": "dev-agentic", "streams": { "rag:tasks": { "retention": { "maxlen": 1000 } } } },
        "prod": {}
    })
}

/// A partial topology deep-merged over the base: mappings merge key by key, `null` removes a
/// key, any other value replaces the base value.
#[derive(Clone, Debug, PartialEq, JsonSchema)]
#[schemars(title = "Environment overlay", deny_unknown_fields)]
pub struct Overlay {
    /// Namespace used in this environment.
    #[schemars(title = "Namespace", example = &"dev-agentic")]
    pub namespace: Option<Sp<String>>,
    /// Message schemas to add or change in this environment.
    #[schemars(title = "Message schemas", example = schemas_example())]
    pub schemas: Option<NamedMap<MessageSchema>>,
    /// Streams to add or change in this environment (only the fields that differ).
    #[schemars(title = "Streams", example = json!({ "rag:tasks": { "retention": { "maxlen": 1000 } } }))]
    pub streams: Option<NamedMap<Stream>>,
    /// ACL users to add or change in this environment.
    #[schemars(title = "ACL users", example = json!({ "users": { "rag-worker": { "enabled": false } } }))]
    pub acl: Option<Acl>,
    /// Health thresholds to add or change in this environment.
    #[schemars(title = "Health thresholds", example = health_example())]
    pub health: Option<Health>,
    /// Heartbeats to add or change in this environment.
    #[schemars(title = "Heartbeats", example = json!({ "rag-worker": { "instances": { "critical": 1 } } }))]
    pub heartbeats: Option<NamedMap<Heartbeat>>,
}

/// A Redis stream and its consumer groups.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(title = "Stream", deny_unknown_fields, example = stream_example())]
// Fields that few streams and groups set are boxed (`description`, `dlq_of`, `health`,
// `entries_read`): a topology may hold 100,000 streams, and an absent box takes 8 bytes
// where the value takes 24 to 40.
pub struct Stream {
    /// What the stream carries, for reviewers and generated docs.
    #[schemars(title = "Description", example = &"RAG work items")]
    pub description: Option<Box<Sp<String>>>,
    /// Name of the message schema (a key of `schemas`) that entries of this stream follow.
    #[schemars(title = "Message schema", example = &"rag-task")]
    pub schema: Option<Sp<String>>,
    /// How many entries to keep. Redis stores no retention setting: `apply` trims with XTRIM,
    /// and producers should trim too (`XADD ... MAXLEN ~ N`). A stream without retention is a
    /// warning (an error with `--strict`).
    #[schemars(
        title = "Retention",
        example = json!({ "maxlen": 20000 }),
        example = json!({ "max_age": "7d" }),
        example = &"unbounded"
    )]
    pub retention: Option<Sp<Retention>>,
    /// `retention` was given but is not valid (already reported): no "no retention" warning.
    #[schemars(skip)]
    pub retention_invalid: bool,
    /// Consumer groups of this stream, by name (no `:`-separated part starting with
    /// `__topology__`).
    #[schemars(title = "Consumer groups", example = json!({ "rag-workers": { "start": "$" }, "auditors": { "start": "0" } }))]
    pub groups: Option<NamedMap<Group>>,
    /// The ACL users (names under `acl.users`) whose clients write this stream with XADD.
    /// Nothing is applied from it: `validate` warns when another user may XADD to the stream
    /// (XADD can trim it through MAXLEN/MINID), and when a consumer that is not a producer may.
    #[schemars(title = "Producers", example = json!(["orchestrator"]))]
    pub producers: Option<Vec<Sp<String>>>,
    /// This stream is the dead-letter stream of that one (a name under `streams`):
    /// `status` checks its length against `dlq_length`.
    #[schemars(title = "Dead-letter stream of", example = &"rag:tasks")]
    pub dlq_of: Option<Box<Sp<String>>>,
    /// Entries must survive a restart: `status` (and `plan`, as a note) says so when the
    /// server does not write an append-only file (`appendonly no`). Nothing is applied.
    #[schemars(title = "Durable", example = true)]
    pub durable: Option<Sp<bool>>,
    /// What `status` checks on this stream and its groups (over the top level's).
    #[schemars(title = "Health thresholds", example = health_example())]
    pub health: Option<Box<Health>>,
}

impl Stream {
    /// Whether the file says who uses this stream (`producers`, or `consumers` of a group):
    /// the lints on who may write, trim or settle it apply only then, so files written
    /// before these lists stay as they were.
    pub fn declares_roles(&self) -> bool {
        self.producers.is_some() || self.groups_iter().any(|(_, g)| g.consumers.is_some())
    }

    /// Every user name of `producers` and of the groups' `consumers`.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        let consumers = self
            .groups_iter()
            .flat_map(|(_, g)| g.consumers.iter().flatten());
        self.producers
            .iter()
            .flatten()
            .chain(consumers)
            .map(|name| name.value.as_str())
    }

    /// Whether `user` (a declared user name) is one of the stream's `producers`.
    pub fn is_producer(&self, user: &str) -> bool {
        self.producers.iter().flatten().any(|p| p.value == user)
    }

    /// The groups whose `consumers` name `user`, in file order.
    pub fn groups_consumed_by<'a>(&'a self, user: &'a str) -> impl Iterator<Item = &'a str> {
        self.groups_iter()
            .filter(move |(_, g)| g.consumers.iter().flatten().any(|c| c.value == user))
            .map(|(name, _)| name.value.as_str())
    }

    /// Whether the stream has groups and every one of them says who its consumers are: only
    /// then is a user that none of them names known to be in no group.
    pub fn every_group_declares_consumers(&self) -> bool {
        let mut groups = self.groups_iter().peekable();
        groups.peek().is_some() && groups.all(|(_, g)| g.consumers.is_some())
    }

    fn groups_iter(&self) -> impl Iterator<Item = (&Sp<String>, &Group)> {
        self.groups.iter().flat_map(|g| g.iter())
    }
}

/// Retention of a stream: `unbounded`, or bounds by length and/or age.
#[derive(Clone, Debug, PartialEq)]
pub enum Retention {
    /// Never trimmed, on purpose.
    Unbounded,
    Bounded {
        maxlen: Option<Sp<u64>>,
        approximate: Option<Sp<bool>>,
        max_age: Option<Sp<Duration>>,
    },
}

impl Retention {
    /// `approximate` defaults to true: `XTRIM ... MAXLEN ~ N` is much cheaper for Redis.
    pub fn approximate(&self) -> bool {
        match self {
            Retention::Bounded {
                approximate: Some(a),
                ..
            } => a.value,
            _ => true,
        }
    }
}

impl JsonSchema for Retention {
    fn schema_name() -> Cow<'static, str> {
        "Retention".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "Retention",
            "description": "How many entries to keep: `unbounded`, or `{maxlen, approximate, max_age}` with maxlen and/or max_age. Applied with XTRIM MAXLEN [~] N / MINID [~] <now - max_age>.",
            "oneOf": [
                {
                    "title": "Unbounded",
                    "const": "unbounded",
                    "description": "Never trimmed, on purpose."
                },
                {
                    "title": "Bounded",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "maxlen": {
                            "title": "Maximum length",
                            "type": ["integer", "string"],
                            "minimum": 1,
                            "description": "Keep at most this many entries (XTRIM MAXLEN). Greater than 0.",
                            "examples": [20000]
                        },
                        "approximate": {
                            "title": "Approximate trimming",
                            "type": "boolean",
                            "default": true,
                            "description": "Trim with `~` (whole macro-nodes only, much cheaper). Defaults to true.",
                            "examples": [false]
                        },
                        "max_age": {
                            "title": "Maximum age",
                            "type": "string",
                            "pattern": "^[0-9]+(ms|s|m|h|d|w)$",
                            "description": "Drop entries older than this (XTRIM MINID <now - max_age>): a number and a unit, ms, s, m, h, d or w, e.g. `90s`, `15m`, `12h`, `7d`.",
                            "examples": ["7d", "12h"]
                        }
                    },
                    "anyOf": [ { "required": ["maxlen"] }, { "required": ["max_age"] } ]
                }
            ]
        })
    }
}

/// A duration written as a number and a unit (`90s`, `15m`, `12h`, `7d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duration {
    pub millis: u64,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(title = "Consumer group", deny_unknown_fields)]
pub struct Group {
    /// Where the group starts reading when it is created: `$` (only new entries, the
    /// default), `0` (the whole stream) or a stream ID such as `1700000000000-0`. Used only
    /// when the group is created; a group whose position moved on is not drift.
    #[schemars(
        with = "Option<String>",
        title = "Start position",
        example = &"$",
        example = &"0",
        example = &"1700000000000-0"
    )]
    pub start: Option<Sp<StartId>>,
    /// ENTRIESREAD given at creation, so Redis can compute the group's lag. Rarely needed.
    #[schemars(title = "Entries read at creation", range(min = 0), example = 0)]
    pub entries_read: Option<Box<Sp<u64>>>,
    /// What this group's consumers do, for reviewers.
    #[schemars(title = "Description", example = &"Workers that embed the documents")]
    pub description: Option<Box<Sp<String>>>,
    /// The ACL users (names under `acl.users`) whose clients read in this group. Nothing is
    /// applied from it (Redis cannot restrict a user to a group): `validate` warns when a
    /// consumer may XADD to the stream it consumes, and when a user in none of the stream's
    /// groups may XACK, XCLAIM or XAUTOCLAIM its entries.
    #[schemars(title = "Consumers", example = json!(["rag-worker"]))]
    pub consumers: Option<Vec<Sp<String>>>,
    /// What `status` checks on this group (over its stream's and the top level's).
    #[schemars(title = "Health thresholds", example = health_example())]
    pub health: Option<Box<Health>>,
}

/// A group's start position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StartId {
    /// `$`: only entries added after the group is created.
    Last,
    /// An explicit ID; `0` is `0-0`.
    Id { ms: u64, seq: u64 },
}

impl StartId {
    pub fn as_redis_arg(&self) -> String {
        let mut arg = String::new();
        self.write_redis_arg(&mut arg);
        arg
    }

    /// [`StartId::as_redis_arg`], appended to `out` (the digest writes one per group).
    pub fn write_redis_arg(&self, out: &mut String) {
        match *self {
            StartId::Last => out.push('$'),
            StartId::Id { ms: 0, seq: 0 } => out.push('0'),
            StartId::Id { ms, seq } => {
                push_decimal(out, ms);
                out.push('-');
                push_decimal(out, seq);
            }
        }
    }

    /// Whether `arg` is this start as [`StartId::as_redis_arg`] writes it, without building
    /// that text (a plan compares every existing group's start with its record).
    pub fn is_written_as(&self, arg: &str) -> bool {
        match self {
            StartId::Last => arg == "$",
            StartId::Id { ms: 0, seq: 0 } => arg == "0",
            // Explicit IDs are rare: built and compared.
            StartId::Id { .. } => arg == self.as_redis_arg(),
        }
    }
}

/// A message schema: what the entries of a stream look like, with its versions.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(title = "Message schema", deny_unknown_fields, example = message_schema_example())]
pub struct MessageSchema {
    /// What the messages are, for reviewers and generated docs.
    #[schemars(title = "Description", example = &"A document to embed")]
    pub description: Option<Sp<String>>,
    /// `json`: one entry field (`field`) holds a JSON document; `fields`: the entry's
    /// field/value pairs are the object. Defaults to `json`.
    #[schemars(
        with = "Option<Encoding>",
        title = "Encoding",
        example = &"json",
        example = &"fields"
    )]
    pub encoding: Option<Sp<Encoding>>,
    /// `encoding` was given but is not valid (already reported), so checks that depend on it
    /// are skipped.
    #[schemars(skip)]
    pub encoding_invalid: bool,
    /// Entry field holding the JSON document (required with `encoding: json`).
    #[schemars(title = "Payload field", example = &"payload")]
    pub field: Option<Sp<String>>,
    /// Entry field that says which schema version a message follows.
    #[schemars(title = "Version field", example = &"v")]
    pub version_field: Option<Sp<String>>,
    /// How consecutive versions must relate: `backward` (the default: new readers read old
    /// messages), `forward`, `full`, their `_transitive` forms, or `none`.
    #[schemars(
        with = "Option<CompatibilityMode>",
        title = "Compatibility",
        example = &"backward",
        example = &"full_transitive"
    )]
    pub compatibility: Option<Sp<String>>,
    /// The schema's versions, by positive integer: each a JSON Schema document, from a file
    /// (relative to the topology file) or inline.
    #[schemars(
        title = "Versions",
        example = json!({
            "1": { "file": "schemas/rag-task.v1.json" },
            "2": { "schema": { "type": "object", "required": ["task_id"] } }
        })
    )]
    pub versions: Option<NamedMap<SchemaVersion>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(title = "Encoding")]
pub enum Encoding {
    /// One entry field holds a JSON document.
    Json,
    /// The entry's field/value pairs are the object.
    Fields,
}

/// Compatibility mode between consecutive schema versions.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(title = "Compatibility mode")]
#[allow(dead_code)] // exists only to describe the allowed values in the JSON Schema
enum CompatibilityMode {
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

/// One version of a message schema: where its JSON Schema is, and whether it knowingly
/// breaks compatibility with the versions before it.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaVersion {
    pub source: VersionSource,
    /// `breaking: true`: this version breaks compatibility with the versions before it on
    /// purpose, and starts a new line: `validate` checks it and the later versions only
    /// against each other, while `diff` still reports the break (so a review sees it, and a
    /// pull-request gate such as the `topology-breaking-ok` label still applies).
    pub breaking: Option<Sp<bool>>,
}

/// Where a version's JSON Schema is.
#[derive(Clone, Debug, PartialEq)]
pub enum VersionSource {
    /// `{file: path}`: a JSON Schema file, relative to the topology file.
    File(Sp<String>),
    /// `{schema: {...}}`: an inline JSON Schema.
    Inline(Sp<serde_json::Value>),
}

impl SchemaVersion {
    /// Whether this version is marked `breaking: true`.
    pub fn is_breaking(&self) -> bool {
        self.breaking.as_ref().is_some_and(|b| b.value)
    }
}

/// The `breaking` field of a schema version, in the file's JSON Schema.
static BREAKING_PROPERTY: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!({
        "title": "Breaks compatibility on purpose",
        "type": "boolean",
        "description": "`true`: this version breaks compatibility with the versions before it on purpose. `validate` checks it and later versions only against each other; `diff` still reports the break.",
        "default": false,
        "examples": [true]
    })
});

impl JsonSchema for SchemaVersion {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "Schema version",
            "description": "A JSON Schema document: `{file: path}` (relative to the topology file) or `{schema: {...}}` inline.",
            "oneOf": [
                {
                    "title": "From a file",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "title": "JSON Schema file",
                            "type": "string",
                            "description": "Path of a JSON Schema file, relative to the topology file.",
                            "examples": ["schemas/rag-task.v1.json"]
                        },
                        "breaking": BREAKING_PROPERTY.clone()
                    }
                },
                {
                    "title": "Inline",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["schema"],
                    "properties": {
                        "schema": {
                            "title": "Inline JSON Schema",
                            "type": ["object", "boolean"],
                            "description": "An inline JSON Schema document.",
                            "examples": [{ "type": "object", "required": ["task_id"], "properties": { "task_id": { "type": "string" } } }]
                        },
                        "breaking": BREAKING_PROPERTY.clone()
                    }
                }
            ]
        })
    }
}

/// Redis ACL users managed by this topology.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(title = "ACL", deny_unknown_fields)]
pub struct Acl {
    /// ACL users, by user name. `default` is the server's own default user (what a client
    /// that does not authenticate is): declare it to lock it (`enabled: false`) or restrict it.
    #[schemars(title = "Users", example = users_example())]
    pub users: Option<NamedMap<User>>,
    /// Where `users:` is written, for the lint about an undeclared `default` user.
    #[schemars(skip)]
    pub users_at: Option<Span>,
    /// A prefix and/or suffix added to every declared user name but `default`: ACL user names
    /// are global to a server, so environments that share one give their users distinct names
    /// (`prefix: "dev-"` makes `rag-worker` the server's `dev-rag-worker`). Usually set in an
    /// environment's `acl`.
    #[schemars(title = "User names", example = json!({ "prefix": "dev-" }))]
    pub user_names: Option<Sp<UserNames>>,
}

/// What is added to every declared ACL user name (but `default`) on the server.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(title = "User names", deny_unknown_fields)]
pub struct UserNames {
    /// Put before each user name: `dev-` makes `rag-worker` the server's `dev-rag-worker`.
    #[schemars(title = "Prefix", example = &"dev-")]
    pub prefix: Option<Sp<String>>,
    /// Put after each user name: `-eu` makes `rag-worker` the server's `rag-worker-eu`.
    #[schemars(title = "Suffix", example = &"-eu")]
    pub suffix: Option<Sp<String>>,
}

impl UserNames {
    /// The server's name of a declared user: `default` stays `default` (it is the server's
    /// own), every other name gets the prefix and the suffix.
    pub fn server_name(&self, declared: &str) -> String {
        if declared == DEFAULT_USER {
            return declared.to_owned();
        }
        fn part(p: &Option<Sp<String>>) -> &str {
            p.as_ref().map_or("", |p| p.value.as_str())
        }
        format!("{}{declared}{}", part(&self.prefix), part(&self.suffix))
    }
}

/// The server's default user: the one a client that does not authenticate is.
pub const DEFAULT_USER: &str = "default";

/// A Redis ACL user, written with one atomic `ACL SETUSER <name> reset <rules>`.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(title = "ACL user", deny_unknown_fields, example = user_example())]
pub struct User {
    /// What service uses this user, for reviewers.
    #[schemars(title = "Description", example = &"RAG workers (group rag-workers)")]
    pub description: Option<Sp<String>>,
    /// `on` (true, the default) or `off`: a disabled user cannot authenticate.
    #[schemars(title = "Enabled", example = false)]
    pub enabled: Option<Sp<bool>>,
    /// Passwords the user can authenticate with. Never plaintext: `{env: VAR}` or `{file: path}`
    /// (read by plan/apply only and sent as a sha256 hash) or `{sha256: <64 lowercase hex>}`.
    #[schemars(
        title = "Passwords",
        example = json!([{ "env": "RAG_WORKER_PASSWORD" }]),
        example = json!([{ "file": "secrets/rag-worker.password" }])
    )]
    pub passwords: Option<Vec<Sp<Password>>>,
    /// Passwords were given but rejected (already reported): no "no password" warning.
    #[schemars(skip)]
    pub passwords_invalid: bool,
    /// Let the user in with any password. Explicit opt-in, warned about; excludes `passwords`.
    #[schemars(title = "No password", example = false)]
    pub nopass: Option<Sp<bool>>,
    /// Key patterns, relative to the namespace: a list (read and write), or `{read, write,
    /// readwrite}`.
    #[schemars(
        title = "Keys",
        example = json!(["rag:*"]),
        example = json!({ "read": ["rag:tasks"], "write": ["rag:results", "audit:events"] })
    )]
    pub keys: Option<Sp<Keys>>,
    /// Pub/Sub channel patterns, relative to the namespace.
    #[schemars(title = "Channels", example = json!(["rag:events:*"]))]
    pub channels: Option<Vec<Sp<String>>>,
    /// ACL command rules: `+cmd`, `-cmd`, `+cmd|sub`, `+@category`, `-@category`.
    #[schemars(title = "Commands", example = json!(["+@stream", "-xgroup", "-xtrim", "+@connection"]))]
    pub commands: Option<Vec<Sp<String>>>,
    /// Commands allowed only on some keys: each block becomes an ACL selector, `(<keys>
    /// <channels> <commands>)`. A command runs if the user's own `keys`/`commands` allow it,
    /// or if one block allows the command and every key (and channel) it touches. Put
    /// keyless commands (`+ping`, `+hello`) in the user's own `commands`.
    #[schemars(title = "Per-key access", example = access_example())]
    pub access: Option<Vec<Sp<Access>>>,
}

fn access_example() -> serde_json::Value {
    json!([
        { "keys": ["rag:tasks"], "preset": "consumer" },
        { "keys": { "write": ["rag:results", "rag:dlq"] }, "preset": "producer" },
        { "keys": ["rag:idem:*"], "commands": ["+set", "+get"] }
    ])
}

/// One block of `access`: key (and channel) patterns with the commands allowed on them.
/// Written as one ACL selector `(%R~<ns>:p ~<ns>:q &<ns>:c +cmd ...)`.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(title = "Access block", deny_unknown_fields, example = json!({ "keys": ["rag:tasks"], "preset": "consumer", "commands": ["+xinfo|groups"] }))]
pub struct Access {
    /// Key patterns relative to the namespace, as in the user's `keys`: a list (read and
    /// write) or `{read, write, readwrite}`. Redis still checks read/write per key: XACK,
    /// XCLAIM and XAUTOCLAIM write the stream, XREADGROUP and XPENDING read it.
    #[schemars(
        title = "Keys",
        example = json!(["rag:tasks"]),
        example = json!({ "write": ["rag:results"] })
    )]
    pub keys: Option<Sp<Keys>>,
    /// Pub/Sub channel patterns relative to the namespace, for the Pub/Sub commands of
    /// this block.
    #[schemars(title = "Channels", example = json!(["rag:events:*"]))]
    pub channels: Option<Vec<Sp<String>>>,
    /// Command rules for these keys (`+cmd`, `-cmd`, `+cmd|sub`, `+@category`,
    /// `-@category`), applied after the preset's: `-xclaim` takes one out of a preset.
    #[schemars(title = "Commands", example = json!(["+xreadgroup", "+xack"]))]
    pub commands: Option<Vec<Sp<String>>>,
    /// A named command list, written out in full in plans.
    #[schemars(with = "Option<Preset>", title = "Preset", example = &"consumer")]
    pub preset: Option<Sp<Preset>>,
    /// A field of the block was unknown or invalid (already reported): no "grants nothing"
    /// error on top.
    #[schemars(skip)]
    pub incomplete: bool,
}

/// A named list of stream commands for an access block. Each expands to exactly the
/// commands listed, nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(title = "Preset")]
pub enum Preset {
    /// Reads through a consumer group and settles its entries: `+xreadgroup +xack
    /// +xautoclaim +xclaim +xpending`. Needs the stream `readwrite` (XACK and XCLAIM write
    /// it). No XADD, XDEL, XTRIM, XGROUP, XRANGE or XINFO.
    Consumer,
    /// Appends entries: `+xadd +xlen`. `write` is enough. Redis cannot stop XADD from
    /// trimming (`MAXLEN`/`MINID`).
    Producer,
    /// Watches lag and pending entries without reading bodies: `+xlen +xinfo|groups
    /// +xinfo|consumers +xpending`. `read` is enough. No XINFO STREAM: Redis cannot tell it
    /// from XINFO STREAM FULL, which prints entries.
    Monitor,
}

impl Preset {
    pub const NAMES: &[&str] = &["consumer", "producer", "monitor"];

    pub fn from_name(name: &str) -> Option<Preset> {
        match name {
            "consumer" => Some(Preset::Consumer),
            "producer" => Some(Preset::Producer),
            "monitor" => Some(Preset::Monitor),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Consumer => "consumer",
            Preset::Producer => "producer",
            Preset::Monitor => "monitor",
        }
    }

    /// The command rules the preset stands for, as written into the selector.
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Preset::Consumer => &[
                "+xreadgroup",
                "+xack",
                "+xautoclaim",
                "+xclaim",
                "+xpending",
            ],
            Preset::Producer => &["+xadd", "+xlen"],
            Preset::Monitor => &["+xlen", "+xinfo|groups", "+xinfo|consumers", "+xpending"],
        }
    }
}

/// Where a password comes from. Plaintext is never accepted.
#[derive(Clone, Debug, PartialEq)]
pub enum Password {
    /// The named environment variable holds the password (read at plan/apply time).
    Env(String),
    /// The password's sha256, 64 lowercase hex digits.
    Sha256(String),
    /// A file (relative to the topology file) holds the password.
    File(String),
}

impl JsonSchema for Password {
    fn schema_name() -> Cow<'static, str> {
        "Password".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "Password",
            "description": "Where a password comes from; plaintext is rejected. Only its sha256 is ever sent to Redis.",
            "oneOf": [
                { "title": "From an environment variable", "type": "object", "additionalProperties": false, "required": ["env"],
                  "properties": { "env": { "title": "Environment variable", "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Environment variable holding the password, read at plan/apply time.", "examples": ["RAG_WORKER_PASSWORD"] } } },
                { "title": "As its sha256", "type": "object", "additionalProperties": false, "required": ["sha256"],
                  "properties": { "sha256": { "title": "SHA-256 of the password", "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "The password's sha256: 64 lowercase hex digits.", "examples": ["c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a"] } } },
                { "title": "From a file", "type": "object", "additionalProperties": false, "required": ["file"],
                  "properties": { "file": { "title": "Password file", "type": "string", "description": "File holding the password, relative to the topology file, read at plan/apply time.", "examples": ["secrets/rag-worker.password"] } } }
            ]
        })
    }
}

/// Key patterns of a user, relative to the namespace.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Keys {
    pub read: Vec<Sp<String>>,
    pub write: Vec<Sp<String>>,
    pub readwrite: Vec<Sp<String>>,
}

impl Keys {
    pub fn all_patterns(&self) -> impl Iterator<Item = &Sp<String>> {
        self.read.iter().chain(&self.write).chain(&self.readwrite)
    }
}

impl JsonSchema for Keys {
    fn schema_name() -> Cow<'static, str> {
        "Keys".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "Key patterns",
            "description": "Key patterns relative to the namespace: a list (read and write, `~ns:pattern`) or `{read, write, readwrite}` (`%R~`, `%W~`, `~`).",
            "oneOf": [
                { "title": "Read and write", "type": "array", "items": { "type": "string" } },
                { "title": "By access", "type": "object", "additionalProperties": false, "properties": {
                    "read": { "title": "Read", "type": "array", "items": { "type": "string" }, "description": "Patterns the user may read (`%R~<ns>:<pattern>`).", "examples": [["rag:tasks", "orchestrator:results"]] },
                    "write": { "title": "Write", "type": "array", "items": { "type": "string" }, "description": "Patterns the user may write (`%W~<ns>:<pattern>`).", "examples": [["rag:results", "audit:*"]] },
                    "readwrite": { "title": "Read and write", "type": "array", "items": { "type": "string" }, "description": "Patterns the user may read and write (`~<ns>:<pattern>`).", "examples": [["rag:tasks"]] }
                } }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::StartId;

    #[test]
    fn a_start_is_written_as_exactly_its_redis_argument() {
        let starts = [
            StartId::Last,
            StartId::Id { ms: 0, seq: 0 },
            StartId::Id { ms: 0, seq: 5 },
            StartId::Id { ms: 17, seq: 0 },
        ];
        let texts = ["$", "0", "0-5", "17-0", "0-0", "17", "017-0", "+17-0", ""];
        for start in starts {
            for text in texts {
                assert_eq!(
                    start.is_written_as(text),
                    start.as_redis_arg() == text,
                    "{start:?} vs {text:?}"
                );
            }
        }
    }
}
