//! `redis-topology export asyncapi`: an AsyncAPI 3.0.0 document of one environment's
//! desired state. Pure: a validated topology, its desired state and its loaded message
//! schemas in, a [`serde_json::Value`] out; every object is built with `serde_json` (names
//! and descriptions from the file are values, never spliced into JSON text), and every map
//! is filled in sorted order, so the same file gives the same bytes.
//!
//! The mapping (docs/format.md, "AsyncAPI"):
//! - `info`: the namespace as title, the file's format version (or `--api-version`);
//! - `servers`: one, the environment, `protocol: redis`; the file names no server, so its
//!   host is `--host` or the server variable `{host}`; never any credential;
//! - `channels`: one per stream, `address` its full key; `messages`: one per version of its
//!   schema (in `components.messages`);
//! - `operations`: `send` (XADD), one `receive` per consumer group (XREADGROUP) and one
//!   `receive` for XREAD readers, each with the users whose grants allow the command on the
//!   stream's key as `security`;
//! - `components.securitySchemes`: one `userPassword` scheme per ACL user (no secret);
//! - Redis details as `x-redis-*` extensions (the official Redis bindings must stay empty).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::acl::{Catalog, READ, WRITE, key_permissions};
use crate::glob::Pattern;
use crate::model::desired::{Desired, DesiredStream, DesiredUser};
use crate::model::schemas::LoadedSchema;
use crate::model::types::{Encoding, Topology};

/// The AsyncAPI version of the documents written here.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// What the command line adds to the file.
#[derive(Clone, Debug, Default)]
pub struct Options<'a> {
    /// `info.version` (default: the file's format version).
    pub api_version: Option<&'a str>,
    /// The server's `host` (`HOST` or `HOST:PORT`); default: the variable `{host}`.
    pub host: Option<&'a str>,
}

/// Why `--host` is refused: it must be a host and maybe a port, nothing that could carry a
/// user or a password (which never belong in the document).
pub fn host_problem(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        Some("--host is empty: give HOST or HOST:PORT")
    } else if host.contains(['@', '/']) {
        Some(
            "--host takes HOST or HOST:PORT, not a URL: no scheme, user or password (the document never holds credentials)",
        )
    } else if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("--host may not contain whitespace or control characters")
    } else {
        None
    }
}

/// The AsyncAPI document of a validated topology's environment.
pub fn document(
    topology: &Topology,
    desired: &Desired,
    schemas: &BTreeMap<String, LoadedSchema>,
    options: &Options,
) -> Value {
    let texts = Texts::of(topology);
    let grants = Grants::of(desired);
    let mut channels = BTreeMap::new();
    let mut operations = BTreeMap::new();
    let mut messages = BTreeMap::new();
    let dead_letters = dead_letter_streams(desired);
    for (key, stream) in &desired.streams {
        let channel = channel_id(&stream.name);
        let with_schema = stream
            .schema
            .as_ref()
            .and_then(|name| schemas.get(name).map(|schema| (name, schema)));
        let mut channel_messages = Map::new();
        let mut operation_messages = Vec::new();
        if let Some((name, schema)) = with_schema {
            for (version, body) in &schema.versions {
                let id = message_id(name, *version);
                channel_messages.insert(
                    id.clone(),
                    json!({ "$ref": format!("#/components/messages/{id}") }),
                );
                operation_messages
                    .push(json!({ "$ref": format!("#/channels/{channel}/messages/{id}") }));
                messages
                    .entry(id.clone())
                    .or_insert_with(|| message(&id, name, *version, body, schema, &texts));
            }
        }
        let context = StreamContext {
            key,
            stream,
            channel: &channel,
            messages: &operation_messages,
            grants: &grants,
        };
        channels.insert(
            channel.clone(),
            channel_object(&context, channel_messages, &texts, desired, &dead_letters),
        );
        operations.extend(context.operations());
    }
    let mut document = Map::new();
    document.insert("asyncapi".to_owned(), json!(ASYNCAPI_VERSION));
    document.insert("info".to_owned(), info(topology, desired, options));
    document.insert("servers".to_owned(), servers(desired, &grants, options));
    document.insert("channels".to_owned(), object(channels));
    document.insert("operations".to_owned(), object(operations));
    let mut components = Map::new();
    if !messages.is_empty() {
        components.insert("messages".to_owned(), object(messages));
    }
    let schemes = security_schemes(desired, &texts);
    if !schemes.is_empty() {
        components.insert("securitySchemes".to_owned(), object(schemes));
    }
    document.insert("components".to_owned(), Value::Object(components));
    Value::Object(document)
}

/// A sorted map as a JSON object, in its order.
fn object(map: BTreeMap<String, Value>) -> Value {
    Value::Object(map.into_iter().collect())
}

/// The descriptions the file gives, which the desired state does not keep.
#[derive(Default)]
struct Texts<'a> {
    streams: BTreeMap<&'a str, &'a str>,
    /// By stream name, then group name.
    groups: BTreeMap<(&'a str, &'a str), &'a str>,
    schemas: BTreeMap<&'a str, &'a str>,
    /// By the server's user name.
    users: BTreeMap<String, &'a str>,
}

impl<'a> Texts<'a> {
    fn of(topology: &'a Topology) -> Texts<'a> {
        let mut texts = Texts::default();
        for (name, stream) in topology.streams.iter().flat_map(|s| s.iter()) {
            if let Some(description) = &stream.description {
                texts.streams.insert(&name.value, &description.value);
            }
            for (group, declared) in stream.groups.iter().flat_map(|g| g.iter()) {
                if let Some(description) = &declared.description {
                    texts
                        .groups
                        .insert((&name.value, &group.value), &description.value);
                }
            }
        }
        for (name, schema) in topology.schemas.iter().flat_map(|s| s.iter()) {
            if let Some(description) = &schema.description {
                texts.schemas.insert(&name.value, &description.value);
            }
        }
        let acl = topology.acl.as_ref();
        let names = acl.and_then(|a| a.user_names.as_ref());
        for (name, user) in acl
            .and_then(|a| a.users.as_ref())
            .iter()
            .flat_map(|u| u.iter())
        {
            if let Some(description) = &user.description {
                let server =
                    names.map_or_else(|| name.value.clone(), |n| n.value.server_name(&name.value));
                texts.users.insert(server, &description.value);
            }
        }
        texts
    }
}

// ---- ids ------------------------------------------------------------------------------

/// A name as an id AsyncAPI accepts in component names (`^[\w\d\.\-_]+$`), one to one:
/// letters, digits and `-` stay, `_` becomes `__`, `:` becomes `.` when `colon_as_dot`, and
/// every other byte `_XX` (its hex). No two names give the same id: `_` is always followed by
/// `_` or two hex digits, and `.` only ever stands for `:`.
fn escaped(name: &str, colon_as_dot: bool) -> String {
    let mut id = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => id.push(char::from(byte)),
            b'_' => id.push_str("__"),
            b':' if colon_as_dot => id.push('.'),
            _ => id.push_str(&format!("_{byte:02X}")),
        }
    }
    if id.is_empty() {
        // Names are never empty once validated; an id must not be.
        id.push_str("_00");
    }
    id
}

/// A stream's channel id: `rag:tasks` is `rag.tasks`.
fn channel_id(stream: &str) -> String {
    escaped(stream, true)
}

/// An id without `.`, for names inside a dotted id (groups) and components (users, schemas).
fn flat_id(name: &str) -> String {
    escaped(name, false)
}

/// A message: one version of one schema, `rag-task.v2`.
fn message_id(schema: &str, version: u64) -> String {
    format!("{}.v{version}", flat_id(schema))
}

/// A user's security scheme.
fn user_ref(user: &str) -> Value {
    json!({ "$ref": format!("#/components/securitySchemes/{}", flat_id(user)) })
}

// ---- who may do what ----------------------------------------------------------------

/// One rule set of a user, as Redis checks a command: the user's own keys and commands, or
/// one selector (`access` block). Built from the same rules `ACL SETUSER` is given
/// ([`DesiredUser`]), expanded offline with Redis 7.0's categories as `validate` does.
struct RuleSet {
    keys: Vec<(Pattern, u8)>,
    commands: BTreeSet<String>,
}

impl RuleSet {
    fn new(keys: &[String], commands: &[String], catalog: &Catalog) -> RuleSet {
        RuleSet {
            keys: key_permissions(keys.iter().map(String::as_str))
                .into_iter()
                .map(|(pattern, perm)| (Pattern::new(&pattern), perm))
                .collect(),
            commands: catalog.allowed_offline(commands.iter().map(String::as_str)),
        }
    }

    /// Whether this rule set lets `command` touch `key` with `perm`.
    fn allows(&self, command: &str, key: &str, perm: u8) -> bool {
        self.commands.contains(command)
            && self
                .keys
                .iter()
                .any(|(pattern, p)| p & perm == perm && pattern.matches(key))
    }
}

/// The enabled users' rule sets, by server name.
struct Grants {
    users: BTreeMap<String, Vec<RuleSet>>,
    /// Whether the file declares users at all: without any, it says nothing about access.
    declared: bool,
}

impl Grants {
    fn of(desired: &Desired) -> Grants {
        let catalog = Catalog::redis_7_0();
        let users = desired
            .users
            .iter()
            .filter(|(_, user)| user.enabled)
            .map(|(name, user)| (name.clone(), rule_sets(user, catalog)))
            .collect();
        Grants {
            users,
            declared: !desired.users.is_empty(),
        }
    }

    /// The users (sorted) who may run `command` on `key` with `perm`.
    fn who(&self, command: &str, key: &str, perm: u8) -> Vec<&str> {
        self.users
            .iter()
            .filter(|(_, sets)| sets.iter().any(|set| set.allows(command, key, perm)))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

fn rule_sets(user: &DesiredUser, catalog: &Catalog) -> Vec<RuleSet> {
    std::iter::once(RuleSet::new(&user.keys, &user.commands, catalog))
        .chain(
            user.selectors
                .iter()
                .map(|s| RuleSet::new(&s.keys, &s.commands, catalog)),
        )
        .collect()
}

/// `security` for the users who may: their schemes, as references.
fn security(users: &[&str]) -> Value {
    Value::Array(users.iter().map(|u| user_ref(u)).collect())
}

// ---- the document's parts -------------------------------------------------------------

fn info(topology: &Topology, desired: &Desired, options: &Options) -> Value {
    let namespace = &desired.namespace;
    let title = if namespace.is_empty() {
        "Redis streams (no namespace)".to_owned()
    } else {
        namespace.clone()
    };
    let environment = desired
        .environment
        .as_deref()
        .map(|env| format!(", environment `{env}`"))
        .unwrap_or_default();
    let version = options
        .api_version
        .map_or_else(|| topology.version.value.to_string(), str::to_owned);
    let mut info = Map::new();
    info.insert("title".to_owned(), json!(title));
    info.insert("version".to_owned(), json!(version));
    info.insert(
        "description".to_owned(),
        json!(format!(
            "The Redis streams of namespace `{namespace}`{environment}, as its redis-topology file declares them (generated by `redis-topology export asyncapi` from the file alone, not read from a server). Each channel is a stream, each message a version of its message schema; `send` is XADD, `receive` is XREADGROUP in one consumer group (or XREAD); the security of an operation lists the ACL users whose grants allow its command on the stream. Redis details are `x-redis-*` extensions."
        )),
    );
    info.insert("x-redis-namespace".to_owned(), json!(namespace));
    if let Some(env) = &desired.environment {
        info.insert("x-redis-environment".to_owned(), json!(env));
    }
    Value::Object(info)
}

fn servers(desired: &Desired, grants: &Grants, options: &Options) -> Value {
    let name = desired.environment.as_deref().unwrap_or("default");
    let mut server = Map::new();
    server.insert("host".to_owned(), json!(options.host.unwrap_or("{host}")));
    server.insert("protocol".to_owned(), json!("redis"));
    server.insert("title".to_owned(), json!(name));
    server.insert(
        "description".to_owned(),
        json!(format!(
            "The Redis server of {}. Every key is the namespace `{}` and the stream's name.",
            desired.environment.as_deref().map_or_else(
                || "this topology".to_owned(),
                |e| format!("environment `{e}`")
            ),
            desired.namespace
        )),
    );
    if options.host.is_none() {
        server.insert(
            "variables".to_owned(),
            json!({
                "host": {
                    "description": "HOST:PORT of the Redis server: the topology file does not name it (plan and apply take it from --url or $REDIS_URL). Give it with `export asyncapi --host`.",
                    "examples": ["127.0.0.1:6379"],
                }
            }),
        );
    }
    let users: Vec<&str> = grants.users.keys().map(String::as_str).collect();
    if !users.is_empty() {
        server.insert("security".to_owned(), security(&users));
    }
    server.insert("x-redis-namespace".to_owned(), json!(desired.namespace));
    let mut servers = Map::new();
    servers.insert(flat_id(name), Value::Object(server));
    Value::Object(servers)
}

/// The streams (by name) each stream is the dead-letter stream of, reversed: main stream →
/// its dead-letter streams.
fn dead_letter_streams(desired: &Desired) -> BTreeMap<String, Vec<String>> {
    let mut dead_letters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, rules) in &desired.health.streams {
        let (Some(of), Some(stream)) = (&rules.dlq_of, desired.streams.get(key)) else {
            continue;
        };
        dead_letters
            .entry(of.clone())
            .or_default()
            .push(stream.name.to_string());
    }
    for names in dead_letters.values_mut() {
        names.sort();
    }
    dead_letters
}

/// One stream and what its operations need.
struct StreamContext<'a> {
    key: &'a str,
    stream: &'a DesiredStream,
    channel: &'a str,
    /// The channel's messages, as the operations reference them.
    messages: &'a [Value],
    grants: &'a Grants,
}

impl StreamContext<'_> {
    /// An operation on this stream's channel.
    fn operation(&self, action: &str, title: String, command: &str) -> Map<String, Value> {
        let mut operation = Map::new();
        operation.insert("action".to_owned(), json!(action));
        operation.insert(
            "channel".to_owned(),
            json!({ "$ref": format!("#/channels/{}", self.channel) }),
        );
        operation.insert("title".to_owned(), json!(title));
        if !self.messages.is_empty() {
            operation.insert("messages".to_owned(), Value::Array(self.messages.to_vec()));
        }
        operation.insert("x-redis-command".to_owned(), json!(command));
        operation
    }

    /// `send` (XADD), one `receive` per group (XREADGROUP), one `receive` for XREAD.
    fn operations(&self) -> Vec<(String, Value)> {
        let name = &self.stream.name;
        let mut operations = Vec::new();
        let writers = self.grants.who("xadd", self.key, WRITE);
        if !writers.is_empty() || !self.grants.declared {
            let mut send = self.operation("send", format!("XADD to {name}"), "XADD");
            if !writers.is_empty() {
                send.insert("security".to_owned(), security(&writers));
            }
            if !self.stream.producers.is_empty() {
                send.insert("x-redis-producers".to_owned(), json!(self.stream.producers));
            }
            operations.push((format!("send.{}", self.channel), Value::Object(send)));
        }
        let readers = self.grants.who("xreadgroup", self.key, READ);
        for (group, declared) in &self.stream.groups {
            let mut receive = self.operation(
                "receive",
                format!("XREADGROUP in group {group} of {name}"),
                "XREADGROUP",
            );
            if !readers.is_empty() {
                receive.insert("security".to_owned(), security(&readers));
            }
            receive.insert("x-redis-group".to_owned(), json!(group));
            if !declared.consumers.is_empty() {
                receive.insert("x-redis-consumers".to_owned(), json!(declared.consumers));
            }
            operations.push((
                format!("receive.{}.{}", self.channel, flat_id(group)),
                Value::Object(receive),
            ));
        }
        let xread = self.grants.who("xread", self.key, READ);
        if !xread.is_empty() {
            let mut read = self.operation("receive", format!("XREAD of {name}"), "XREAD");
            read.insert("security".to_owned(), security(&xread));
            operations.push((format!("read.{}", self.channel), Value::Object(read)));
        }
        operations
    }
}

fn channel_object(
    context: &StreamContext,
    messages: Map<String, Value>,
    texts: &Texts,
    desired: &Desired,
    dead_letters: &BTreeMap<String, Vec<String>>,
) -> Value {
    let stream = context.stream;
    let name = stream.name.as_str();
    let mut channel = Map::new();
    channel.insert("address".to_owned(), json!(context.key));
    channel.insert("title".to_owned(), json!(name));
    if let Some(description) = texts.streams.get(name) {
        channel.insert("description".to_owned(), json!(description));
    }
    if !messages.is_empty() {
        channel.insert("messages".to_owned(), Value::Object(messages));
    }
    if context.key.contains(['{', '}']) {
        // AsyncAPI reads `{...}` in an address as a parameter; a Redis hash tag is none.
        channel.insert("x-redis-key".to_owned(), json!(context.key));
    }
    channel.insert("x-redis-namespace".to_owned(), json!(desired.namespace));
    channel.insert("x-redis-stream".to_owned(), json!(name));
    channel.insert("x-redis-retention".to_owned(), retention(stream));
    if let Some(schema) = &stream.schema {
        channel.insert("x-redis-schema".to_owned(), json!(schema));
    }
    if !stream.groups.is_empty() {
        let groups: Map<String, Value> = stream
            .groups
            .iter()
            .map(|(group, declared)| {
                let mut g = Map::new();
                g.insert("start".to_owned(), json!(declared.start.as_redis_arg()));
                if let Some(entries_read) = declared.entries_read {
                    g.insert("entries_read".to_owned(), json!(entries_read));
                }
                if !declared.consumers.is_empty() {
                    g.insert("consumers".to_owned(), json!(declared.consumers));
                }
                if let Some(description) = texts.groups.get(&(name, group.as_str())) {
                    g.insert("description".to_owned(), json!(description));
                }
                (group.to_string(), Value::Object(g))
            })
            .collect();
        channel.insert("x-redis-groups".to_owned(), Value::Object(groups));
    }
    if !stream.producers.is_empty() {
        channel.insert("x-redis-producers".to_owned(), json!(stream.producers));
    }
    if let Some(of) = desired
        .health
        .streams
        .get(context.key)
        .and_then(|rules| rules.dlq_of.as_ref())
        .and_then(|of| desired.streams.get(of))
    {
        channel.insert("x-redis-dlq-of".to_owned(), json!(of.name));
    }
    if let Some(dlqs) = dead_letters.get(context.key) {
        channel.insert("x-redis-dead-letter-streams".to_owned(), json!(dlqs));
    }
    if desired.health.durable.iter().any(|k| k == context.key) {
        channel.insert("x-redis-durable".to_owned(), json!(true));
    }
    Value::Object(channel)
}

/// `unbounded`, or the bounds: `{maxlen, max_age_ms, approximate}`.
fn retention(stream: &DesiredStream) -> Value {
    let r = stream.retention;
    if r.is_unbounded() {
        return json!("unbounded");
    }
    let mut bounds = Map::new();
    if let Some(maxlen) = r.maxlen {
        bounds.insert("maxlen".to_owned(), json!(maxlen));
    }
    if let Some(max_age_ms) = r.max_age_ms {
        bounds.insert("max_age_ms".to_owned(), json!(max_age_ms));
    }
    bounds.insert("approximate".to_owned(), json!(r.approximate));
    Value::Object(bounds)
}

/// One version of a message schema as a message: the version field as a header, the schema
/// as the payload (JSON Schema, its `#` references moved to where it now lives).
fn message(
    id: &str,
    name: &str,
    version: u64,
    body: &Value,
    schema: &LoadedSchema,
    texts: &Texts,
) -> Value {
    let version_text = version.to_string();
    let mut message = Map::new();
    message.insert("name".to_owned(), json!(name));
    message.insert(
        "title".to_owned(),
        json!(format!("{name}, version {version}")),
    );
    if let Some(description) = texts.schemas.get(name) {
        message.insert("summary".to_owned(), json!(description));
    }
    if let Some(description) = body.get("description").and_then(Value::as_str) {
        message.insert("description".to_owned(), json!(description));
    }
    let mut entry = Map::new();
    match schema.encoding {
        Encoding::Json => {
            message.insert("contentType".to_owned(), json!("application/json"));
            entry.insert("encoding".to_owned(), json!("json"));
        }
        Encoding::Fields => {
            entry.insert("encoding".to_owned(), json!("fields"));
        }
    }
    if let Some(field) = &schema.field {
        entry.insert("field".to_owned(), json!(field));
    }
    if let Some(field) = &schema.version_field {
        entry.insert("version_field".to_owned(), json!(field));
        message.insert(
            "headers".to_owned(),
            json!({
                "type": "object",
                "required": [field],
                "properties": {
                    field: {
                        "type": "string",
                        "const": version_text,
                        "description": format!("The entry field naming the schema version: \"{version}\"."),
                    }
                }
            }),
        );
    }
    let pointer = format!("#/components/messages/{id}/payload/schema");
    let payload = match schema.encoding {
        Encoding::Json => relocated(body, &pointer),
        // The entry's field/value pairs less the version field (what check-messages checks):
        // an object whose values are all strings (Redis stores nothing else), which the
        // declared schema describes further.
        Encoding::Fields => json!({
            "description": "The entry's field/value pairs, less the version field (a header): every value is a string.",
            "type": "object",
            "additionalProperties": { "type": "string" },
            "allOf": [relocated(body, &format!("{pointer}/allOf/0"))],
        }),
    };
    message.insert(
        "payload".to_owned(),
        json!({
            "schemaFormat": schema_format(body),
            "schema": payload,
        }),
    );
    let examples = examples(body, schema.version_field.as_deref(), &version_text);
    if !examples.is_empty() {
        message.insert("examples".to_owned(), Value::Array(examples));
    }
    message.insert("x-redis-schema".to_owned(), json!(name));
    message.insert("x-redis-schema-version".to_owned(), json!(version));
    message.insert("x-redis-entry".to_owned(), Value::Object(entry));
    message.insert(
        "x-redis-compatibility".to_owned(),
        json!(schema.mode.as_str()),
    );
    if schema.breaking.contains(&version) {
        message.insert("x-redis-breaking".to_owned(), json!(true));
    }
    Value::Object(message)
}

/// The schema format of a JSON Schema, from its `$schema` (draft-07 when absent, as
/// `validate` reads it).
fn schema_format(schema: &Value) -> String {
    let declared = schema.get("$schema").and_then(Value::as_str).unwrap_or("");
    let draft = ["draft-04", "draft-06", "2019-09", "2020-12"]
        .into_iter()
        .find(|draft| declared.contains(draft))
        .unwrap_or("draft-07");
    format!("application/schema+json;version={draft}")
}

/// Keywords whose values are data, not schemas: a `$ref` inside them is not a reference.
const DATA_KEYWORDS: &[&str] = &["const", "default", "enum", "examples", "example"];

/// The schema with each of its own references (`#`, `#/definitions/x`) pointing to the same
/// place under `pointer`, where the document puts it: AsyncAPI resolves `#` against the
/// whole document. A schema with a root `$id` is left as it is (its `#` is its own).
fn relocated(schema: &Value, pointer: &str) -> Value {
    if schema.get("$id").is_some() {
        return schema.clone();
    }
    fn walk(value: &Value, pointer: &str) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| {
                        let item = match (key.as_str(), item) {
                            ("$ref", Value::String(r)) => match r.strip_prefix('#') {
                                Some(rest) => Value::String(format!("{pointer}{rest}")),
                                None => item.clone(),
                            },
                            (key, _) if DATA_KEYWORDS.contains(&key) => item.clone(),
                            _ => walk(item, pointer),
                        };
                        (key.clone(), item)
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| walk(item, pointer)).collect())
            }
            other => other.clone(),
        }
    }
    walk(schema, pointer)
}

/// The schema's own `examples` as message examples, each with its version header.
fn examples(schema: &Value, version_field: Option<&str>, version: &str) -> Vec<Value> {
    let Some(examples) = schema.get("examples").and_then(Value::as_array) else {
        return Vec::new();
    };
    examples
        .iter()
        .map(|payload| {
            let mut example = Map::new();
            if let Some(field) = version_field {
                let mut headers = Map::new();
                headers.insert(field.to_owned(), json!(version));
                example.insert("headers".to_owned(), Value::Object(headers));
            }
            example.insert("payload".to_owned(), payload.clone());
            Value::Object(example)
        })
        .collect()
}

/// One `userPassword` scheme per declared user: its name and description, never a password.
fn security_schemes(desired: &Desired, texts: &Texts) -> BTreeMap<String, Value> {
    desired
        .users
        .iter()
        .map(|(name, user)| {
            let mut scheme = Map::new();
            scheme.insert("type".to_owned(), json!("userPassword"));
            let description = texts
                .users
                .get(name)
                .map_or_else(|| format!("ACL user `{name}`."), |d| (*d).to_owned());
            scheme.insert("description".to_owned(), json!(description));
            scheme.insert("x-redis-user".to_owned(), json!(name));
            scheme.insert("x-redis-enabled".to_owned(), json!(user.enabled));
            if user.nopass {
                scheme.insert("x-redis-nopass".to_owned(), json!(true));
            }
            (flat_id(name), Value::Object(scheme))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What AsyncAPI accepts as a component name: `^[\w\d\.\-_]+$`.
    fn is_component_name(id: &str) -> bool {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }

    #[test]
    fn ids_are_valid_component_names_and_one_to_one() {
        let names = [
            "rag:tasks",
            "rag.tasks",
            "rag_tasks",
            "rag__tasks",
            "rag_5Ftasks",
            "rag:_3A",
            "é",
            "a b",
            "{x}",
            "",
        ];
        let mut channels = BTreeSet::new();
        let mut flats = BTreeSet::new();
        for name in names {
            let (channel, flat) = (channel_id(name), flat_id(name));
            assert!(is_component_name(&channel), "{name:?}: {channel}");
            assert!(is_component_name(&flat), "{name:?}: {flat}");
            assert!(!flat.contains('.'), "{name:?}: {flat}");
            assert!(channels.insert(channel), "{name:?}");
            assert!(flats.insert(flat), "{name:?}");
        }
        assert_eq!(channel_id("rag:tasks"), "rag.tasks");
        assert_eq!(channel_id("rag.tasks"), "rag_2Etasks");
        assert_eq!(flat_id("raw_events"), "raw__events");
        assert_eq!(flat_id("é"), "_C3_A9");
        assert_eq!(message_id("rag-task", 2), "rag-task.v2");
        // A group's id has no dot, so the last dot of an operation id ends the stream's:
        // stream `a`, group `b:c` and stream `a:b`, group `c` stay apart.
        assert_ne!(
            format!("receive.{}.{}", channel_id("a"), flat_id("b:c")),
            format!("receive.{}.{}", channel_id("a:b"), flat_id("c"))
        );
    }

    #[test]
    fn a_schemas_own_references_follow_it_into_the_document() {
        let schema = json!({
            "definitions": { "line": { "properties": { "next": { "$ref": "#/definitions/line" } } } },
            "properties": {
                "lines": { "items": { "$ref": "#/definitions/line" } },
                "self": { "$ref": "#" },
                "remote": { "$ref": "other.json#/x" },
                "data": { "const": { "$ref": "#/data" }, "enum": [{ "$ref": "#/data" }] }
            }
        });
        let moved = relocated(&schema, "#/at");
        assert_eq!(
            moved["definitions"]["line"]["properties"]["next"]["$ref"],
            "#/at/definitions/line"
        );
        assert_eq!(
            moved["properties"]["lines"]["items"]["$ref"],
            "#/at/definitions/line"
        );
        assert_eq!(moved["properties"]["self"]["$ref"], "#/at");
        assert_eq!(moved["properties"]["remote"]["$ref"], "other.json#/x");
        assert_eq!(moved["properties"]["data"], schema["properties"]["data"]);
        // A schema with its own `$id` resolves `#` against itself: left as it is.
        let with_id =
            json!({ "$id": "https://example.com/s.json", "items": { "$ref": "#/definitions/a" } });
        assert_eq!(relocated(&with_id, "#/at"), with_id);
    }

    #[test]
    fn the_schema_format_follows_the_schemas_draft() {
        let format = |schema: Value| schema_format(&schema);
        assert_eq!(
            format(json!({})),
            "application/schema+json;version=draft-07"
        );
        assert_eq!(
            format(json!({ "$schema": "http://json-schema.org/draft-07/schema#" })),
            "application/schema+json;version=draft-07"
        );
        assert_eq!(
            format(json!({ "$schema": "https://json-schema.org/draft/2020-12/schema" })),
            "application/schema+json;version=2020-12"
        );
        assert_eq!(
            format(json!({ "$schema": "http://json-schema.org/draft-04/schema#" })),
            "application/schema+json;version=draft-04"
        );
    }

    #[test]
    fn host_takes_a_host_and_port_only() {
        assert_eq!(host_problem("redis.internal:6379"), None);
        assert_eq!(host_problem("[::1]:6379"), None);
        for bad in ["", "redis://redis:6379", "app:secret@redis", "a b", "a\nb"] {
            assert!(host_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn a_rule_set_allows_a_command_on_keys_with_the_permission_it_needs() {
        let catalog = Catalog::redis_7_0();
        let rules =
            |items: &[&str]| -> Vec<String> { items.iter().map(|s| (*s).to_owned()).collect() };
        let set = RuleSet::new(
            &rules(&["%R~ns:in", "%W~ns:out", "~ns:both:*"]),
            &rules(&["+@stream", "-xtrim"]),
            catalog,
        );
        assert!(set.allows("xreadgroup", "ns:in", READ));
        assert!(!set.allows("xadd", "ns:in", WRITE), "read-only key");
        assert!(set.allows("xadd", "ns:out", WRITE));
        assert!(!set.allows("xreadgroup", "ns:out", READ), "write-only key");
        assert!(set.allows("xadd", "ns:both:1", WRITE));
        assert!(!set.allows("xtrim", "ns:both:1", WRITE), "taken out");
        assert!(!set.allows("xadd", "other:out", WRITE), "another key");
        let none = RuleSet::new(&rules(&["~*"]), &rules(&["+ping"]), catalog);
        assert!(!none.allows("xadd", "ns:out", WRITE));
    }
}
