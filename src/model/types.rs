//! The desired state: a topology file as typed Rust values.
//!
//! Every value a user wrote keeps its [`Span`] (`Sp<T>`), so a validation rule that runs long
//! after parsing can still point at the exact line. These types are also the source of the
//! file's JSON Schema (`redis-topology schema`): the doc comments below become the hover docs
//! users see in their editor, so they are written for users.

use std::borrow::Cow;
use std::collections::HashMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::node::Span;

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
/// schemas of one namespace. The format is described in the project's README.
#[derive(Clone, Debug, PartialEq, JsonSchema)]
#[schemars(title = "redis-topology file", deny_unknown_fields)]
pub struct Topology {
    /// Format version of this file. Must be `1`.
    #[schemars(range(min = 1, max = 1))]
    pub version: Sp<u64>,
    /// Prefix of every key this topology manages, joined with `:` (`agentic` makes stream
    /// `rag:tasks` the key `agentic:rag:tasks`). Write `""` explicitly for no prefix. No spaces
    /// or glob characters (`* ? [ ]`), and no `:`-separated part starting with `__topology__`
    /// (the tool's own keys).
    pub namespace: Sp<String>,
    /// Message schemas, by name. Streams refer to them with `schema: <name>`.
    pub schemas: Option<NamedMap<MessageSchema>>,
    /// Streams, by name relative to the namespace (`rag:tasks`): no spaces, no glob characters
    /// (`* ? [ ] \`), no `:`-separated part starting with `__topology__`. A declared stream
    /// that does not exist is created empty by `apply`.
    pub streams: Option<NamedMap<Stream>>,
    /// Redis ACL users this topology manages.
    pub acl: Option<Acl>,
    /// Per-environment overlays (`dev`, `staging`, `prod`, ...), deep-merged over the base file.
    /// When present, `plan` and `apply` need `--env`.
    pub environments: Option<NamedMap<Overlay>>,
}

/// A partial topology deep-merged over the base: mappings merge key by key, `null` removes a
/// key, any other value replaces the base value.
#[derive(Clone, Debug, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Overlay {
    /// Namespace used in this environment.
    pub namespace: Option<Sp<String>>,
    /// Message schemas to add or change in this environment.
    pub schemas: Option<NamedMap<MessageSchema>>,
    /// Streams to add or change in this environment (only the fields that differ).
    pub streams: Option<NamedMap<Stream>>,
    /// ACL users to add or change in this environment.
    pub acl: Option<Acl>,
}

/// A Redis stream and its consumer groups.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Stream {
    /// What the stream carries, for reviewers and generated docs.
    pub description: Option<Sp<String>>,
    /// Name of the message schema (a key of `schemas`) that entries of this stream follow.
    pub schema: Option<Sp<String>>,
    /// How many entries to keep. Redis stores no retention setting: `apply` trims with XTRIM,
    /// and producers should trim too (`XADD ... MAXLEN ~ N`). A stream without retention is a
    /// warning (an error with `--strict`).
    pub retention: Option<Sp<Retention>>,
    /// `retention` was given but is not valid (already reported): no "no retention" warning.
    #[schemars(skip)]
    pub retention_invalid: bool,
    /// Consumer groups of this stream, by name (no `:`-separated part starting with
    /// `__topology__`).
    pub groups: Option<NamedMap<Group>>,
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
            "description": "How many entries to keep: `unbounded`, or `{maxlen, approximate, max_age}` with maxlen and/or max_age. Applied with XTRIM MAXLEN [~] N / MINID [~] <now - max_age>.",
            "oneOf": [
                {
                    "const": "unbounded",
                    "description": "Never trimmed, on purpose."
                },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "maxlen": {
                            "type": ["integer", "string"],
                            "minimum": 1,
                            "description": "Keep at most this many entries (XTRIM MAXLEN). Greater than 0."
                        },
                        "approximate": {
                            "type": "boolean",
                            "default": true,
                            "description": "Trim with `~` (whole macro-nodes only, much cheaper). Defaults to true."
                        },
                        "max_age": {
                            "type": "string",
                            "pattern": "^[0-9]+(ms|s|m|h|d|w)$",
                            "description": "Drop entries older than this (XTRIM MINID <now - max_age>): a number and a unit, ms, s, m, h, d or w, e.g. `90s`, `15m`, `12h`, `7d`."
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
#[schemars(deny_unknown_fields)]
pub struct Group {
    /// Where the group starts reading when it is created: `$` (only new entries, the
    /// default), `0` (the whole stream) or a stream ID such as `1700000000000-0`. Used only
    /// when the group is created; a group whose position moved on is not drift.
    #[schemars(with = "Option<String>")]
    pub start: Option<Sp<StartId>>,
    /// ENTRIESREAD given at creation, so Redis can compute the group's lag. Rarely needed.
    #[schemars(range(min = 0))]
    pub entries_read: Option<Sp<u64>>,
    /// What this group's consumers do, for reviewers.
    pub description: Option<Sp<String>>,
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
        match self {
            StartId::Last => "$".to_owned(),
            StartId::Id { ms: 0, seq: 0 } => "0".to_owned(),
            StartId::Id { ms, seq } => format!("{ms}-{seq}"),
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
#[schemars(deny_unknown_fields)]
pub struct MessageSchema {
    /// What the messages are, for reviewers and generated docs.
    pub description: Option<Sp<String>>,
    /// `json`: one entry field (`field`) holds a JSON document; `fields`: the entry's
    /// field/value pairs are the object. Defaults to `json`.
    #[schemars(with = "Option<Encoding>")]
    pub encoding: Option<Sp<Encoding>>,
    /// `encoding` was given but is not valid (already reported), so checks that depend on it
    /// are skipped.
    #[schemars(skip)]
    pub encoding_invalid: bool,
    /// Entry field holding the JSON document (required with `encoding: json`).
    pub field: Option<Sp<String>>,
    /// Entry field that says which schema version a message follows.
    pub version_field: Option<Sp<String>>,
    /// How consecutive versions must relate: `backward` (the default: new readers read old
    /// messages), `forward`, `full`, their `_transitive` forms, or `none`.
    #[schemars(with = "Option<CompatibilityMode>")]
    pub compatibility: Option<Sp<String>>,
    /// The schema's versions, by positive integer: each a JSON Schema document, from a file
    /// (relative to the topology file) or inline.
    pub versions: Option<NamedMap<SchemaVersion>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// One entry field holds a JSON document.
    Json,
    /// The entry's field/value pairs are the object.
    Fields,
}

/// Compatibility mode between consecutive schema versions.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
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

/// One version of a message schema.
#[derive(Clone, Debug, PartialEq)]
pub enum SchemaVersion {
    /// `{file: path}`: a JSON Schema file, relative to the topology file.
    File(Sp<String>),
    /// `{schema: {...}}`: an inline JSON Schema.
    Inline(Sp<serde_json::Value>),
}

impl JsonSchema for SchemaVersion {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A JSON Schema document: `{file: path}` (relative to the topology file) or `{schema: {...}}` inline.",
            "oneOf": [
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["file"],
                    "properties": { "file": { "type": "string", "description": "Path of a JSON Schema file, relative to the topology file." } }
                },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["schema"],
                    "properties": { "schema": { "type": ["object", "boolean"], "description": "An inline JSON Schema document." } }
                }
            ]
        })
    }
}

/// Redis ACL users managed by this topology.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Acl {
    /// ACL users, by user name.
    pub users: Option<NamedMap<User>>,
}

/// A Redis ACL user, written with one atomic `ACL SETUSER <name> reset <rules>`.
#[derive(Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct User {
    /// What service uses this user, for reviewers.
    pub description: Option<Sp<String>>,
    /// `on` (true, the default) or `off`: a disabled user cannot authenticate.
    pub enabled: Option<Sp<bool>>,
    /// Passwords the user can authenticate with. Never plaintext: `{env: VAR}` or `{file: path}`
    /// (read by plan/apply only and sent as a sha256 hash) or `{sha256: <64 lowercase hex>}`.
    pub passwords: Option<Vec<Sp<Password>>>,
    /// Passwords were given but rejected (already reported): no "no password" warning.
    #[schemars(skip)]
    pub passwords_invalid: bool,
    /// Let the user in with any password. Explicit opt-in, warned about; excludes `passwords`.
    pub nopass: Option<Sp<bool>>,
    /// Key patterns, relative to the namespace: a list (read and write), or `{read, write,
    /// readwrite}`.
    pub keys: Option<Sp<Keys>>,
    /// Pub/Sub channel patterns, relative to the namespace.
    pub channels: Option<Vec<Sp<String>>>,
    /// ACL command rules: `+cmd`, `-cmd`, `+cmd|sub`, `+@category`, `-@category`.
    pub commands: Option<Vec<Sp<String>>>,
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
            "description": "Where a password comes from; plaintext is rejected. Only its sha256 is ever sent to Redis.",
            "oneOf": [
                { "type": "object", "additionalProperties": false, "required": ["env"],
                  "properties": { "env": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Environment variable holding the password, read at plan/apply time." } } },
                { "type": "object", "additionalProperties": false, "required": ["sha256"],
                  "properties": { "sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "The password's sha256: 64 lowercase hex digits." } } },
                { "type": "object", "additionalProperties": false, "required": ["file"],
                  "properties": { "file": { "type": "string", "description": "File holding the password, relative to the topology file, read at plan/apply time." } } }
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
            "description": "Key patterns relative to the namespace: a list (read and write, `~ns:pattern`) or `{read, write, readwrite}` (`%R~`, `%W~`, `~`).",
            "oneOf": [
                { "type": "array", "items": { "type": "string" } },
                { "type": "object", "additionalProperties": false, "properties": {
                    "read": { "type": "array", "items": { "type": "string" }, "description": "Patterns the user may read (`%R~<ns>:<pattern>`)." },
                    "write": { "type": "array", "items": { "type": "string" }, "description": "Patterns the user may write (`%W~<ns>:<pattern>`)." },
                    "readwrite": { "type": "array", "items": { "type": "string" }, "description": "Patterns the user may read and write (`~<ns>:<pattern>`)." }
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
