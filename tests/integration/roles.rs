//! Every role of the shipped files, played on a real server by a client logged in as its user,
//! with real entries, groups and pending entries in place: topology.yaml (seeds/002),
//! examples/per-project.yaml (seeds/003, two projects on one server) and
//! examples/message-bus.yaml (seeds/004). For each file:
//! - `flow`: the seed's flow, step by step, each as the role that does it (publish, read
//!   through the group, so that entries are pending); it must work, and every entry it writes
//!   must match its stream's schema (`check-messages`);
//! - `needs`: the rest of what the seed says each role does; it must work;
//! - `abuses`: what a role must not be able to do; each must be refused with NOPERM (NOAUTH
//!   for a client that does not log in), and all of them together must leave every key of the
//!   server as it was;
//! - `limits`: abuses Redis cannot refuse to a role that needs that command on that key
//!   (XADD's MAXLEN, consumer group names, keyless SCAN, INFO's first argument only); they
//!   work, as docs/operations.md ("What Redis ACLs can and cannot isolate for streams") says.
//!   If one starts failing, the docs are wrong, not the roles.
//!
//! The tables are the matrix of docs/operations.md, "How the shipped roles are built". A
//! command is written as words: `{name}` is the key or channel `name` in the file's
//! namespace, `{!name}` in the other project's (seeds/003), `<name>` the entry ID a flow step
//! ending in `=> name` recorded. The user `-` is a client that does not log in (`default`).
//! JSON in a word has no spaces.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use crate::redis::{RedisServer, command};
use crate::util::{SHIPPED_ROLES, bin, create_apply_user, text};

/// One role's command, as a table row: (role, command).
type Row = (&'static str, &'static str);

/// A shipped file applied to a server, and clients logged in as its users.
struct Play {
    server: RedisServer,
    namespace: String,
    /// The namespace of another project on the same server (seeds/003), or of another
    /// environment: `{!name}` in a command.
    other_namespace: String,
    /// Role, as the tables name it → (user name on the server, password).
    users: BTreeMap<&'static str, (String, String)>,
    ids: RefCell<BTreeMap<String, String>>,
    connections: RefCell<BTreeMap<String, redis::Connection>>,
}

/// One apply of a shipped file.
struct Apply<'a> {
    file: &'a str,
    env: Option<&'a str>,
    /// Variables of the file other than passwords (`PROJECT_ID`).
    vars: &'a [(&'a str, &'a str)],
    /// (role, user name on the server, password variable).
    users: Vec<(&'static str, String, String)>,
}

impl Apply<'_> {
    /// Apply as the documented apply user, then check that a plan finds nothing to change:
    /// the selectors read back as declared (a second apply would send no `ACL SETUSER`).
    fn run(&self, server: &RedisServer, url: &str) {
        let out = self
            .command(&["apply", "--yes"], url)
            .output()
            .expect("apply");
        assert_eq!(out.status.code(), Some(0), "{}: {}", self.file, text(&out));
        let planned = self
            .command(&["plan", "--detailed-exitcode"], url)
            .output()
            .expect("plan");
        assert_eq!(
            planned.status.code(),
            Some(0),
            "{} is converged after apply: {}",
            self.file,
            text(&planned)
        );
        for (_, name, _) in &self.users {
            let found: Value = server.admin_cmd(&["ACL", "GETUSER", name]);
            assert_ne!(found, Value::Nil, "apply created {name}");
        }
    }

    fn command(&self, args: &[&str], url: &str) -> assert_cmd::Command {
        let mut cmd = bin();
        cmd.args(args).arg(self.file).args(["--url", url]);
        if let Some(env) = self.env {
            cmd.args(["--env", env]);
        }
        for (name, value) in self.vars {
            cmd.env(name, value);
        }
        for (_, _, variable) in &self.users {
            cmd.env(variable, password(variable));
        }
        cmd.timeout(std::time::Duration::from_secs(60));
        cmd
    }
}

/// The password a test gives a user through its variable.
fn password(variable: &str) -> String {
    format!("{variable}-secret")
}

/// `rag-worker` → `RAG_WORKER_PASSWORD`.
fn password_variable(role: &str) -> String {
    format!("{}_PASSWORD", role.to_ascii_uppercase().replace('-', "_"))
}

/// A server whose `default` a shipped file will disable: an admin for the test's own checks,
/// and the documented apply user for these namespaces (its URL).
fn server_for(namespaces: &[&str]) -> (RedisServer, String) {
    let server = RedisServer::start();
    server.create_admin();
    let url = create_apply_user(&server, namespaces);
    (server, url)
}

/// (role, user name on the server, password variable) of each role.
fn users(
    roles: &[&'static str],
    name: impl Fn(&str) -> String,
    variable: impl Fn(&str) -> String,
) -> Vec<(&'static str, String, String)> {
    roles
        .iter()
        .map(|role| (*role, name(role), variable(role)))
        .collect()
}

/// A file's tables, played in this order: the flow (then its entries checked against their
/// schemas), the abuses, the limits, `harm` (what a limit did, checked as the admin), the needs.
struct Tables {
    flow: Vec<(&'static str, String)>,
    needs: &'static [Row],
    abuses: &'static [Row],
    limits: &'static [Row],
}

/// Apply a shipped file as the apply user at `url`, then play its tables as its roles, with
/// `namespace` as the file's and `other` as `{!name}`'s.
fn play_file(
    server: RedisServer,
    url: &str,
    apply: &Apply,
    (namespace, other): (&str, &str),
    tables: Tables,
    harm: impl FnOnce(&Play),
) {
    apply.run(&server, url);
    let play = Play::new(server, namespace, other, apply);
    play.covers_every_role(tables.needs, tables.abuses);
    play.flow(&tables.flow);
    play.check_messages(apply);
    play.abuses(tables.abuses);
    play.limits(tables.limits);
    harm(&play);
    play.needs(tables.needs);
}

impl Play {
    fn new(server: RedisServer, namespace: &str, other_namespace: &str, apply: &Apply) -> Play {
        Play {
            server,
            namespace: namespace.to_owned(),
            other_namespace: other_namespace.to_owned(),
            users: apply
                .users
                .iter()
                .map(|(role, name, variable)| (*role, (name.clone(), password(variable))))
                .collect(),
            ids: RefCell::default(),
            connections: RefCell::default(),
        }
    }

    /// The words of a table command, with keys, channels and IDs put in.
    fn words(&self, text: &str) -> Vec<String> {
        text.split_whitespace().map(|w| self.word(w)).collect()
    }

    fn word(&self, word: &str) -> String {
        let mut word = word.to_owned();
        // `<name>`: a recorded entry ID (JSON never holds `<`).
        while let Some(start) = word.find('<') {
            let end = start + word[start..].find('>').expect("`<name>` is closed");
            let id = self
                .ids
                .borrow()
                .get(&word[start + 1..end])
                .unwrap_or_else(|| panic!("no entry recorded as `{}`", &word[start..=end]))
                .clone();
            word.replace_range(start..=end, &id);
        }
        // `{name}` / `{!name}`: a key or channel; JSON (`{"k":1}`) is left as it is.
        match word.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(inner) if !inner.contains('"') => match inner.strip_prefix('!') {
                Some(other) => format!("{}:{other}", self.other_namespace),
                None => format!("{}:{inner}", self.namespace),
            },
            _ => word,
        }
    }

    /// Run a table command as a role's user (`-`: a client that does not log in).
    fn run(&self, role: &str, text: &str) -> redis::RedisResult<Value> {
        let words = self.words(text);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        if role == "-" {
            return command(&args).query(&mut self.connect(role)?);
        }
        // A subscribing connection is in subscriber mode: use it once, and leave the channel
        // as a client does (UNSUBSCRIBE, which some servers refuse outside that mode).
        if args[0].eq_ignore_ascii_case("SUBSCRIBE") {
            let mut con = self.connect(role)?;
            let subscribed = command(&args).query(&mut con)?;
            let mut unsubscribe = args.clone();
            unsubscribe[0] = "UNSUBSCRIBE";
            let _: Value = command(&unsubscribe).query(&mut con)?;
            return Ok(subscribed);
        }
        let mut connections = self.connections.borrow_mut();
        if !connections.contains_key(role) {
            connections.insert(role.to_owned(), self.connect(role)?);
        }
        let con = connections.get_mut(role).expect("just connected");
        command(&args).query(con)
    }

    fn connect(&self, role: &str) -> redis::RedisResult<redis::Connection> {
        if role == "-" {
            return self.server.client().get_connection();
        }
        let (name, password) = self
            .users
            .get(role)
            .unwrap_or_else(|| panic!("`{role}` is not a role of this file"));
        let url = format!("redis://{name}:{password}@127.0.0.1:{}", self.server.port);
        redis::Client::open(url)?.get_connection()
    }

    /// The seed's flow: each step must work; `... => name` records the reply (an entry ID).
    fn flow(&self, steps: &[(&str, String)]) {
        for (role, step) in steps {
            let (text, record) = match step.split_once(" => ") {
                Some((text, name)) => (text, Some(name)),
                None => (step.as_str(), None),
            };
            let reply = self
                .run(role, text)
                .unwrap_or_else(|e| panic!("{role} must be able to: {text}\n  {e}"));
            if let Some(name) = record {
                let id: String = redis::from_redis_value(reply).expect("an entry ID");
                self.ids.borrow_mut().entry(name.to_owned()).or_insert(id);
            }
        }
    }

    fn needs(&self, rows: &[Row]) {
        for (role, text) in rows {
            if let Err(e) = self.run(role, text) {
                panic!("{role} needs: {text}\n  refused: {e}");
            }
        }
    }

    /// Each row refused with NOPERM (NOAUTH for `-`), and nothing changed on the server.
    fn abuses(&self, rows: &[Row]) {
        let before = self.fingerprint();
        for (role, text) in rows {
            let expected = if *role == "-" { "NOAUTH" } else { "NOPERM" };
            match self.run(role, text) {
                Err(e) => assert_eq!(
                    e.code(),
                    Some(expected),
                    "{role}: {text}\n  refused, but not with {expected}: {e}"
                ),
                Ok(reply) => panic!("{role} must not be able to: {text}\n  got {reply:?}"),
            }
        }
        assert_eq!(
            self.fingerprint(),
            before,
            "a refused command changed the server"
        );
    }

    /// What Redis cannot refuse (docs/operations.md says why): each must work.
    fn limits(&self, rows: &[Row]) {
        for (role, text) in rows {
            if let Err(e) = self.run(role, text) {
                panic!(
                    "{role}: {text}\n  is documented as something Redis cannot refuse, but was refused: {e}"
                );
            }
        }
    }

    /// Every role of the file has needs and abuses in the tables.
    fn covers_every_role(&self, needs: &[Row], abuses: &[Row]) {
        let roles: BTreeSet<&str> = self.users.keys().copied().collect();
        for (table, rows) in [("needs", needs), ("abuses", abuses)] {
            let played: BTreeSet<&str> =
                rows.iter().map(|(r, _)| *r).filter(|r| *r != "-").collect();
            assert_eq!(played, roles, "every role has {table}");
        }
        assert!(
            abuses.iter().any(|(r, _)| *r == "-"),
            "the default user is played"
        );
    }

    /// Every key of the server, with what a command could change: type, value, expiry; a
    /// stream's length, last ID and groups (consumers, pending, last-delivered ID).
    fn fingerprint(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.server.admin_cmd(&["KEYS", "*"]);
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            let kind: String = self.server.admin_cmd(&["TYPE", &key]);
            let expires: i64 = self.server.admin_cmd(&["EXPIRETIME", &key]);
            let value: Value = match kind.as_str() {
                "stream" => Value::Array(vec![
                    self.server.admin_cmd(&["XINFO", "STREAM", &key]),
                    self.server.admin_cmd(&["XINFO", "GROUPS", &key]),
                ]),
                "string" => self.server.admin_cmd(&["GET", &key]),
                "hash" => self.server.admin_cmd(&["HGETALL", &key]),
                _ => Value::Nil,
            };
            out.push(format!("{key} {kind} {expires} {value:?}"));
        }
        out
    }

    /// Run as the admin (for checks of the test itself).
    fn admin<T: redis::FromRedisValue>(&self, text: &str) -> T {
        let words = self.words(text);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        self.server.admin_cmd(&args)
    }

    /// Every entry the flow wrote matches its stream's schema.
    fn check_messages(&self, apply: &Apply) {
        let out = apply
            .command(
                &["check-messages", "--sample", "100"],
                &self.server.admin_url(),
            )
            .output()
            .expect("check-messages");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
}

// ---- topology.yaml (seeds/002) ----------------------------------------------------------

/// The services of seeds/002 ("Every step emits audit events ... Services heartbeat").
const SERVICES_002: [&str; 5] = [
    "campaign-manager",
    "cm-subscriber",
    "orchestrator",
    "rag-worker",
    "persist-writer",
];

/// The flow of seeds/002's appendix: command → orchestrator → workers → results / DLQ, every
/// step audited, then each group reads what it consumes (so entries are pending).
#[rustfmt::skip]
fn flow_002() -> Vec<(&'static str, String)> {
    let mut steps: Vec<(&str, String)> = [
        ("campaign-manager", r#"XADD {cm:commands} MAXLEN ~ 1000 * v 1 payload {"command_id":"c-1","campaign_id":"cmp-7","action":"launch"} => cm:commands"#),
        ("campaign-manager", "XREADGROUP GROUP cm-managers cm-1 COUNT 10 STREAMS {cm:commands} >"),
        ("campaign-manager", r#"XADD {orchestrator:commands} MAXLEN ~ 1000 * v 1 payload {"command_id":"c-1","campaign_id":"cmp-7","action":"research","source_command_id":"c-1"} => orchestrator:commands"#),
        ("campaign-manager", r#"XADD {cm:events} MAXLEN ~ 1000 * v 1 payload {"event_id":"e-1","campaign_id":"cmp-7","type":"campaign.launched","at":"2025-11-03T10:31:00Z"} => cm:events"#),
        ("cm-subscriber", "XREADGROUP GROUP cm-subscribers sub-1 COUNT 10 STREAMS {cm:events} >"),
        ("orchestrator", "XREADGROUP GROUP orchestrators o-1 COUNT 10 STREAMS {orchestrator:commands} >"),
        ("orchestrator", r#"XADD {orchestrator:tasks} MAXLEN ~ 1000 * v 1 payload {"task_id":"t-1","command_id":"c-1","route":"rag","task":{"task_id":"t-1","project_id":"p-42","query":"Q3-pricing"}} => orchestrator:tasks"#),
        ("orchestrator", "XREADGROUP GROUP orchestrators o-1 COUNT 10 STREAMS {orchestrator:tasks} >"),
        ("orchestrator", r#"XADD {rag:tasks} MAXLEN ~ 1000 * v 1 payload {"task_id":"t-1","project_id":"p-42","query":"Q3-pricing"} => rag:tasks"#),
        ("orchestrator", r#"XADD {persist:tasks} MAXLEN ~ 1000 * v 1 payload {"task_id":"w-1","entity":"answers","operation":"upsert","data":{"id":"a-1"}} => persist:tasks"#),
        ("rag-worker", "XREADGROUP GROUP rag-workers r-1 COUNT 10 STREAMS {rag:tasks} >"),
        ("rag-worker", r#"XADD {rag:results} MAXLEN ~ 1000 * v 1 payload {"task_id":"t-1","answer":"up-4%"} => rag:results"#),
        ("rag-worker", r#"XADD {rag:dlq} * v 1 payload {"task_id":"t-9","project_id":"p-42","query":"broken"} error timeout => rag:dlq"#),
        ("persist-writer", "XREADGROUP GROUP persist-writers p-1 COUNT 10 STREAMS {persist:tasks} >"),
        ("persist-writer", r#"XADD {persist:results} MAXLEN ~ 1000 * v 1 payload {"task_id":"w-1","entity":"answers","status":"written"} => persist:results"#),
        ("persist-writer", r#"XADD {persist:dlq} * v 1 payload {"task_id":"w-9","entity":"answers","operation":"insert","data":{"id":"a-9"}} error duplicate-key => persist:dlq"#),
        ("orchestrator", r#"XADD {orchestrator:results} MAXLEN ~ 1000 * v 1 payload {"command_id":"c-1","status":"done","tasks":2} => orchestrator:results"#),
    ]
    .map(|(role, step)| (role, step.to_owned()))
    .to_vec();
    for (i, service) in SERVICES_002.into_iter().enumerate() {
        steps.push((service, format!(r#"XADD {{audit:events}} MAXLEN ~ 10000 * v 1 payload {{"event_id":"ae-{i}","service":"{service}","action":"task.done","outcome":"ok","at":"2025-11-03T10:30:00Z"}} => audit:events"#)));
        steps.push((service, format!(r#"XADD {{audit:spans}} MAXLEN ~ 10000 * v 1 payload {{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b{i}","service":"{service}","name":"step","start_ms":1762165800120,"duration_ms":85}} => audit:spans"#)));
    }
    for service in SERVICES_002.into_iter().chain(["auditor"]) {
        steps.push((
            service,
            format!("XADD {{ops:health}} MAXLEN ~ 10000 * v 1 service {service} id 1 status up => ops:health"),
        ));
    }
    steps.extend(
        [
            ("auditor", "XREADGROUP GROUP auditors a-1 COUNT 100 STREAMS {audit:events} {audit:spans} > >"),
            ("ops-monitor", "XREADGROUP GROUP ops m-1 COUNT 100 STREAMS {ops:health} >"),
            ("dlq-reader", "XREADGROUP GROUP dlq-readers d-1 COUNT 10 STREAMS {persist:dlq} >"),
        ]
        .map(|(role, step)| (role, step.to_owned())),
    );
    steps
}

/// The roles of topology.yaml.
#[rustfmt::skip]
const ROLES_002: [&str; 8] = ["campaign-manager", "cm-subscriber", "orchestrator", "rag-worker", "persist-writer", "auditor", "ops-monitor", "dlq-reader"];

/// What seeds/002 says each role does, besides the flow (the seed's lines are in
/// docs/operations.md's table).
#[rustfmt::skip]
const NEEDS_002: &[Row] = &[
    ("campaign-manager", "XPENDING {cm:commands} cm-managers"),
    ("campaign-manager", "XPENDING {cm:commands} cm-managers - + 10 cm-1"),
    ("campaign-manager", "XCLAIM {cm:commands} cm-managers cm-2 0 <cm:commands>"),
    ("campaign-manager", "XAUTOCLAIM {cm:commands} cm-managers cm-1 0 0-0 COUNT 10"),
    ("campaign-manager", "XACK {cm:commands} cm-managers <cm:commands>"),
    ("campaign-manager", "XINFO GROUPS {orchestrator:commands}"),
    ("campaign-manager", "XLEN {orchestrator:commands}"),
    ("campaign-manager", "XREAD COUNT 10 STREAMS {orchestrator:results} 0"),
    ("campaign-manager", "SET {ops:idemp:cm:commands:<cm:commands>} 1 NX EX 60"),
    ("campaign-manager", "SETNX {locks:idemp:cm:commands:<cm:commands>} 1"),
    ("campaign-manager", "EXPIRE {locks:idemp:cm:commands:<cm:commands>} 60"),
    ("campaign-manager", "SETEX {ops:hb:campaign-manager:1} 30 1"),
    ("campaign-manager", "HINCRBY {ops:stats:campaign-manager:m:202511031030} commands 1"),
    ("campaign-manager", "EXPIRE {ops:stats:campaign-manager:m:202511031030} 7200"),
    ("campaign-manager", "PING"),
    ("campaign-manager", "CLIENT SETNAME campaign-manager-1"),
    ("cm-subscriber", "XPENDING {cm:events} cm-subscribers"),
    ("cm-subscriber", "XAUTOCLAIM {cm:events} cm-subscribers sub-2 0 0-0"),
    ("cm-subscriber", "XACK {cm:events} cm-subscribers <cm:events>"),
    ("cm-subscriber", "SET {ops:idemp:cm:events:<cm:events>} 1 NX EX 60"),
    ("cm-subscriber", "SETEX {ops:hb:cm-subscriber:1} 30 1"),
    ("cm-subscriber", "HINCRBY {ops:stats:cm-subscriber:m:202511031030} events 1"),
    ("cm-subscriber", "XINFO GROUPS {audit:events}"),
    ("orchestrator", "XACK {orchestrator:commands} orchestrators <orchestrator:commands>"),
    ("orchestrator", "XAUTOCLAIM {orchestrator:tasks} orchestrators o-2 0 0-0"),
    ("orchestrator", "XACK {orchestrator:tasks} orchestrators <orchestrator:tasks>"),
    ("orchestrator", "XINFO GROUPS {rag:tasks}"),
    ("orchestrator", "XLEN {persist:tasks}"),
    ("orchestrator", "XREAD COUNT 10 STREAMS {rag:results} {persist:results} 0 0"),
    ("orchestrator", "SET {ops:idemp:orchestrator:tasks:<orchestrator:tasks>} 1 NX EX 60"),
    ("orchestrator", "SETNX {locks:idemp:orchestrator:commands:<orchestrator:commands>} 1"),
    ("orchestrator", "SETEX {ops:hb:orchestrator:1} 30 1"),
    ("orchestrator", "HINCRBY {ops:stats:orchestrator:m:202511031030} routed 2"),
    ("rag-worker", "XPENDING {rag:tasks} rag-workers - + 10"),
    ("rag-worker", "XCLAIM {rag:tasks} rag-workers r-2 0 <rag:tasks>"),
    ("rag-worker", "XAUTOCLAIM {rag:tasks} rag-workers r-1 0 0-0 COUNT 10"),
    ("rag-worker", "XACK {rag:tasks} rag-workers <rag:tasks>"),
    ("rag-worker", "XLEN {rag:dlq}"),
    ("rag-worker", "SET {ops:idemp:rag:tasks:<rag:tasks>} 1 NX EX 60"),
    ("rag-worker", "SETNX {locks:idemp:rag:tasks:<rag:tasks>} 1"),
    ("rag-worker", "EXPIRE {locks:idemp:rag:tasks:<rag:tasks>} 60"),
    ("rag-worker", "SETEX {ops:hb:rag-worker:1} 30 1"),
    ("rag-worker", "HINCRBY {ops:stats:rag-worker:m:202511031030} done 1"),
    ("rag-worker", "EXPIRE {ops:stats:rag-worker:m:202511031030} 7200"),
    ("rag-worker", "HSET {cache:rag:chunks:d-17} 3 Q3-prices-rose-4%"),
    ("rag-worker", "EXPIRE {cache:rag:chunks:d-17} 3600"),
    ("rag-worker", "HGET {cache:rag:chunks:d-17} 3"),
    ("rag-worker", "HMGET {cache:rag:chunks:d-17} 3 4"),
    ("rag-worker", "HGETALL {cache:rag:chunks:d-17}"),
    ("persist-writer", "XPENDING {persist:tasks} persist-writers"),
    ("persist-writer", "XCLAIM {persist:tasks} persist-writers p-2 0 <persist:tasks>"),
    ("persist-writer", "XACK {persist:tasks} persist-writers <persist:tasks>"),
    ("persist-writer", "XINFO GROUPS {persist:dlq}"),
    ("persist-writer", "SET {ops:idemp:persist:tasks:<persist:tasks>} 1 NX EX 60"),
    ("persist-writer", "SETEX {ops:hb:persist-writer:1} 30 1"),
    ("persist-writer", "HINCRBY {ops:stats:persist-writer:m:202511031030} written 1"),
    ("auditor", "XPENDING {audit:events} auditors"),
    ("auditor", "XAUTOCLAIM {audit:spans} auditors a-2 0 0-0"),
    ("auditor", "XACK {audit:events} auditors <audit:events>"),
    ("auditor", "XACK {audit:spans} auditors <audit:spans>"),
    ("auditor", "SETEX {ops:hb:auditor:1} 30 1"),
    ("auditor", "HINCRBY {ops:stats:auditor:m:202511031030} shipped 10"),
    ("ops-monitor", "XPENDING {ops:health} ops"),
    ("ops-monitor", "XACK {ops:health} ops <ops:health>"),
    ("ops-monitor", "XINFO GROUPS {rag:tasks}"),
    ("ops-monitor", "XINFO GROUPS {persist:tasks}"),
    ("ops-monitor", "XINFO GROUPS {audit:events}"),
    ("ops-monitor", "XPENDING {rag:tasks} rag-workers"),
    ("ops-monitor", "XPENDING {persist:tasks} persist-writers - + 10"),
    ("ops-monitor", "XINFO CONSUMERS {rag:tasks} rag-workers"),
    ("ops-monitor", "XLEN {cm:commands}"),
    ("ops-monitor", "XLEN {audit:spans}"),
    ("ops-monitor", "SCAN 0 MATCH {ops:hb:*} COUNT 1000"),
    ("ops-monitor", "GET {ops:hb:rag-worker:1}"),
    ("ops-monitor", "TTL {ops:hb:rag-worker:1}"),
    ("ops-monitor", "HGETALL {ops:stats:rag-worker:m:202511031030}"),
    ("ops-monitor", "INFO memory"),
    ("ops-monitor", "INFO latencystats"),
    ("ops-monitor", "LATENCY LATEST"),
    ("ops-monitor", "LATENCY HISTORY command"),
    ("dlq-reader", "XRANGE {rag:dlq} - + COUNT 5"),
    ("dlq-reader", "XRANGE {persist:dlq} - + COUNT 5"),
    ("dlq-reader", "XLEN {rag:dlq}"),
    ("dlq-reader", "XPENDING {persist:dlq} dlq-readers"),
    ("dlq-reader", "XINFO GROUPS {rag:tasks}"),
    ("dlq-reader", r#"XADD {rag:tasks} * v 1 payload {"task_id":"t-9","project_id":"p-42","query":"broken"}"#),
    ("dlq-reader", r#"XADD {persist:tasks} * v 1 payload {"task_id":"w-9","entity":"answers","operation":"insert","data":{"id":"a-9"}}"#),
    ("dlq-reader", "XACK {persist:dlq} dlq-readers <persist:dlq>"),
    ("dlq-reader", "XDEL {rag:dlq} <rag:dlq>"),
];

/// Issue 13's abuses of the seeds/002 roles, and their neighbours.
#[rustfmt::skip]
const ABUSES_002: &[Row] = &[
    // A RAG worker: turn its results into a string, feed its own input, claim audit entries.
    ("rag-worker", "SET {rag:results} x"),
    ("rag-worker", "XADD {rag:tasks} * v 1 payload {}"),
    ("rag-worker", "XAUTOCLAIM {audit:events} auditors r-1 0 0-0"),
    ("rag-worker", "XACK {audit:events} auditors <audit:events>"),
    ("rag-worker", "XRANGE {audit:events} - +"),
    ("rag-worker", "XREADGROUP GROUP persist-writers r-1 STREAMS {persist:tasks} >"),
    ("rag-worker", "XADD {persist:tasks} * v 1 payload {}"),
    ("rag-worker", "XRANGE {rag:results} - +"),
    ("rag-worker", "XTRIM {rag:tasks} MAXLEN 0"),
    ("rag-worker", "XDEL {rag:tasks} <rag:tasks>"),
    ("rag-worker", "XGROUP DESTROY {rag:tasks} rag-workers"),
    ("rag-worker", "XGROUP CREATE {rag:tasks} mine 0"),
    ("rag-worker", "XGROUP SETID {rag:tasks} rag-workers 0"),
    ("rag-worker", "XSETID {rag:tasks} <rag:tasks>"),
    ("rag-worker", "DEL {rag:tasks}"),
    ("rag-worker", "EXPIRE {rag:tasks} 1"),
    ("rag-worker", "SET {ops:idemp:persist:tasks:<persist:tasks>} 1 NX EX 60"),
    ("rag-worker", "SETEX {ops:hb:persist-writer:1} 30 1"),
    ("rag-worker", "HINCRBY {ops:stats:persist-writer:m:202511031030} done 1"),
    ("rag-worker", "GET {ops:hb:rag-worker:1}"),
    ("rag-worker", "XREADGROUP GROUP rag-workers r-1 STREAMS agentic:rag:tasks >"),
    ("rag-worker", "XADD other:stream * k v"),
    ("rag-worker", "KEYS *"),
    ("rag-worker", "FLUSHALL"),
    ("rag-worker", "CLIENT KILL ID 1"),
    ("rag-worker", "CONFIG GET requirepass"),
    // The campaign manager: settle or read the auditors' entries, cut the audit trail with
    // XTRIM, route tasks (the orchestrator's job).
    ("campaign-manager", "XACK {audit:events} auditors <audit:events>"),
    ("campaign-manager", "XREADGROUP GROUP auditors cm-1 STREAMS {audit:events} >"),
    ("campaign-manager", "XTRIM {audit:events} MAXLEN 1"),
    ("campaign-manager", "XADD {rag:tasks} * v 1 payload {}"),
    ("campaign-manager", "XRANGE {cm:commands} - +"),
    ("campaign-manager", "SET {cm:events} x"),
    ("cm-subscriber", "XADD {cm:events} * v 1 payload {}"),
    ("cm-subscriber", "XADD {orchestrator:commands} * v 1 payload {}"),
    ("cm-subscriber", "XACK {cm:commands} cm-managers <cm:commands>"),
    ("orchestrator", "XADD {rag:results} * v 1 payload {}"),
    ("orchestrator", "XACK {rag:tasks} rag-workers <rag:tasks>"),
    ("orchestrator", "XREADGROUP GROUP rag-workers o-1 STREAMS {rag:tasks} >"),
    ("orchestrator", "XRANGE {rag:tasks} - +"),
    ("persist-writer", "XADD {rag:results} * v 1 payload {}"),
    ("persist-writer", "HSET {cache:rag:chunks:d-17} 3 x"),
    ("persist-writer", "XACK {rag:tasks} rag-workers <rag:tasks>"),
    // The auditor: forge, delete or trim the trail it ships.
    ("auditor", "XADD {audit:events} * v 1 payload {}"),
    ("auditor", "XADD {audit:spans} * v 1 payload {}"),
    ("auditor", "XDEL {audit:events} <audit:events>"),
    ("auditor", "XTRIM {audit:events} MAXLEN 0"),
    // The DLQ reader: delete live tasks, or dead letters of the DLQ that has a group.
    ("dlq-reader", "XDEL {rag:tasks} <rag:tasks>"),
    ("dlq-reader", "XDEL {persist:tasks} <persist:tasks>"),
    ("dlq-reader", "XDEL {persist:dlq} <persist:dlq>"),
    ("dlq-reader", "XREADGROUP GROUP rag-workers d-1 STREAMS {rag:tasks} >"),
    ("dlq-reader", "XTRIM {rag:dlq} MAXLEN 0"),
    // The monitor: consume the writers' group, read bodies in any form, write anything.
    ("ops-monitor", "XREADGROUP GROUP persist-writers m-1 COUNT 1 STREAMS {persist:tasks} >"),
    ("ops-monitor", "XINFO STREAM {persist:tasks} FULL"),
    ("ops-monitor", "XINFO STREAM {audit:events}"),
    ("ops-monitor", "XRANGE {rag:tasks} - +"),
    ("ops-monitor", "XREAD STREAMS {rag:results} 0"),
    ("ops-monitor", "XACK {persist:tasks} persist-writers <persist:tasks>"),
    ("ops-monitor", "SETEX {ops:hb:rag-worker:1} 30 1"),
    ("ops-monitor", "GET {ops:idemp:rag:tasks:<rag:tasks>}"),
    ("ops-monitor", "INFO"),
    ("ops-monitor", "INFO clients"),
    ("ops-monitor", "LATENCY RESET"),
    ("ops-monitor", "CLIENT LIST"),
    // A client that does not log in (`default` is disabled).
    ("-", "XRANGE {rag:tasks} - +"),
    ("-", "XLEN {audit:events}"),
];

/// What Redis cannot refuse to these roles (docs/operations.md says why and what to do).
#[rustfmt::skip]
const LIMITS_002: &[Row] = &[
    // Every step emits audit events, so every service may XADD audit:events, and XADD trims.
    ("campaign-manager", r#"XADD {audit:events} MAXLEN 1 * v 1 payload {"event_id":"ae-x","service":"campaign-manager","action":"trail.cut","outcome":"ok","at":"2025-11-03T10:40:00Z"}"#),
    // The orchestrator routes tasks, so it can cut rag:tasks under the workers.
    ("orchestrator", r#"XADD {rag:tasks} MAXLEN 1 * v 1 payload {"task_id":"t-x","project_id":"p-42","query":"x"}"#),
    // SCAN takes no key: it lists every key name of the database.
    ("ops-monitor", "SCAN 0 COUNT 1000"),
    // `+info|memory` checks INFO's first argument only.
    ("ops-monitor", "INFO memory clients"),
];

#[test]
fn every_role_of_the_shipped_topology_can_do_its_job_and_nothing_it_must_not() {
    // `default` is disabled by the file: apply as the documented apply user, check as an admin.
    let (server, url) = server_for(&["dev-agentic"]);
    // The same roles as the demo and the other tests of the shipped file.
    let variables = SHIPPED_ROLES.map(|role| format!("{role}_PASSWORD"));
    assert_eq!(ROLES_002.map(password_variable), variables);
    let apply = Apply {
        file: "topology.yaml",
        env: Some("dev"),
        vars: &[],
        // dev names its users with the prefix `dev-` (acl.user_names).
        users: users(&ROLES_002, |role| format!("dev-{role}"), password_variable),
    };
    let tables = Tables {
        flow: flow_002(),
        needs: NEEDS_002,
        abuses: ABUSES_002,
        limits: LIMITS_002,
    };
    play_file(
        server,
        &url,
        &apply,
        ("dev-agentic", "agentic"),
        tables,
        |play| {
            let length: i64 = play.admin("XLEN {audit:events}");
            assert_eq!(
                length, 1,
                "the campaign manager's XADD ... MAXLEN 1 cut the audit trail"
            );
            let scanned: (String, Vec<String>) = play.admin("SCAN 0 COUNT 1000");
            let tools_keys = |k: &String| k.starts_with("{__topology__:dev-agentic}");
            assert!(
                scanned.1.iter().any(tools_keys),
                "SCAN shows even the keys no pattern of the monitor matches: {scanned:?}"
            );
        },
    );
}

// ---- examples/per-project.yaml (seeds/003) ----------------------------------------------

/// The project played, and another project on the same server.
const PROJECT: &str = "6f1e0c52-8a4b-4c1e-9d3a-2b7f5e8c9a01";
const OTHER_PROJECT: &str = "0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e";

fn job(project: &str, doc: &str) -> String {
    format!(
        r#"{{"project_id":"{project}","doc_id":"{doc}","chunks":["Q3-pricing:+4%","Team-plan-unchanged"]}}"#
    )
}

/// seeds/003's code: cache a document, enqueue its embedding, embed it (pending), fail one.
#[rustfmt::skip]
fn flow_003() -> Vec<(&'static str, String)> {
    vec![
        ("api", r#"SETEX {doc:d-17} 3600 {"id":"d-17","title":"Pricing","content":"Q3","version":3}"#
                .to_owned(),
        ),
        (
            "api",
            format!(
                "XADD {{queue:embeddings}} MAXLEN ~ 100000 * v 1 payload {} => queue:embeddings",
                job(PROJECT, "d-17")
            ),
        ),
        (
            "api",
            format!(
                "XADD {{queue:embeddings}} MAXLEN ~ 100000 * v 1 payload {}",
                job(PROJECT, "d-18")
            ),
        ),
        (
            "embedder",
            "XREADGROUP GROUP embedders e-1 COUNT 1 STREAMS {queue:embeddings} >".to_owned(),
        ),
        (
            "embedder",
            format!(
                "XADD {{queue:embeddings:dlq}} * v 1 payload {} error model-timeout => queue:embeddings:dlq",
                job(PROJECT, "d-9")
            ),
        ),
    ]
}

#[rustfmt::skip]
const NEEDS_003: &[Row] = &[
    ("api", "GET {doc:d-17}"),
    ("api", "SETEX {doc:d-17:version:3} 3600 v3"),
    ("api", "INCR {ratelimit:embed}"),
    ("api", "EXPIRE {ratelimit:embed} 60"),
    ("api", "INCRBY {quota:llm_tokens} 1200"),
    ("api", "GET {quota:llm_tokens}"),
    ("api", "EXPIRE {quota:llm_tokens} 86400"),
    ("api", "SETEX {session:s-1} 1800 u-1"),
    ("api", "GET {session:s-1}"),
    ("api", "DEL {session:s-1}"),
    ("api", "XLEN {queue:embeddings}"),
    ("api", "XINFO GROUPS {queue:embeddings}"),
    ("api", "SUBSCRIBE {progress}"),
    ("api", "PING"),
    ("embedder", "XPENDING {queue:embeddings} embedders"),
    ("embedder", "XPENDING {queue:embeddings} embedders - + 10"),
    (
        "embedder",
        "XCLAIM {queue:embeddings} embedders e-2 0 <queue:embeddings>",
    ),
    (
        "embedder",
        "XAUTOCLAIM {queue:embeddings} embedders e-1 0 0-0",
    ),
    (
        "embedder",
        "XACK {queue:embeddings} embedders <queue:embeddings>",
    ),
    (
        "embedder",
        "XREADGROUP GROUP embedders e-1 COUNT 1 STREAMS {queue:embeddings} >",
    ),
    ("embedder", "XLEN {queue:embeddings:dlq}"),
    (
        "embedder",
        r#"PUBLISH {progress} {"type":"embedded","data":{"doc_id":"d-17"}}"#),
];

#[rustfmt::skip]
const ABUSES_003: &[Row] = &[
    // Another project: keys, queue and channel (seeds/003's CRITICAL isolation).
    ("api", "GET {!doc:d-17}"),
    ("api", "SETEX {!doc:d-17} 60 x"),
    ("api", "XADD {!queue:embeddings} * v 1 payload {}"),
    ("api", "SUBSCRIBE {!progress}"),
    // Keys without the project prefix: the seed's "LEAKS DATA" and global rate limit.
    ("api", "GET doc:d-17"),
    ("api", "INCR ratelimit:u-1"),
    // A cache key without a TTL (the seed's rejection trigger 4): caches are SETEX only.
    ("api", "SET {doc:d-18} x"),
    ("api", "INCR {doc:d-17}"),
    // The queue it feeds: no cache command reaches it, no consumer command either.
    ("api", "DEL {queue:embeddings}"),
    ("api", "EXPIRE {queue:embeddings} 1"),
    ("api", "SET {queue:embeddings} x"),
    ("api", "XREADGROUP GROUP embedders api-1 STREAMS {queue:embeddings} >"),
    ("api", "XACK {queue:embeddings} embedders <queue:embeddings>"),
    ("api", "XRANGE {queue:embeddings} - +"),
    ("api", "XTRIM {queue:embeddings} MAXLEN 0"),
    ("api", "XADD {queue:embeddings:dlq} * v 1 payload {}"),
    ("api", "PUBLISH {progress} x"),
    ("embedder", "XADD {queue:embeddings} * v 1 payload {}"),
    ("embedder", "XDEL {queue:embeddings} <queue:embeddings>"),
    ("embedder", "XTRIM {queue:embeddings} MAXLEN 0"),
    ("embedder", "XREADGROUP GROUP embedders e-1 STREAMS {!queue:embeddings} >"),
    ("embedder", "XREADGROUP GROUP dlq-readers e-1 STREAMS {queue:embeddings:dlq} >"),
    ("embedder", "XRANGE {queue:embeddings:dlq} - +"),
    ("embedder", "GET {doc:d-17}"),
    ("embedder", "GET {session:s-1}"),
    ("embedder", "SUBSCRIBE {progress}"),
    ("embedder", "PUBLISH {!progress} x"),
    ("-", "GET {doc:d-17}"),
];

#[rustfmt::skip]
const LIMITS_003: &[Row] = &[
    // The API enqueues, so it can trim the queue with XADD ... MAXLEN.
    ("api", r#"XADD {queue:embeddings} MAXLEN 1 * v 1 payload {"project_id":"6f1e0c52-8a4b-4c1e-9d3a-2b7f5e8c9a01","doc_id":"d-x","chunks":["x"]}"#),
];

#[test]
fn every_role_of_a_project_keeps_to_its_project_and_its_job() {
    let namespace = format!("dev:proj:{PROJECT}");
    let other = format!("dev:proj:{OTHER_PROJECT}");
    let (server, url) = server_for(&[&namespace, &other]);
    let project = |id: &'static str, vars: &'static [(&'static str, &'static str)]| Apply {
        file: "examples/per-project.yaml",
        env: Some("dev"),
        vars,
        users: users(
            &["api", "embedder"],
            |role| format!("{role}-{id}"),
            |role| format!("PROJECT_{}_PASSWORD", role.to_ascii_uppercase()),
        ),
    };
    // Two projects on one server: the other one first, with a document and a job of its own;
    // the played one finds `default` as the other declared it.
    project(OTHER_PROJECT, &[("PROJECT_ID", OTHER_PROJECT)]).run(&server, &url);
    let other_doc = format!("{other}:doc:d-17");
    server.admin_cmd::<()>(&["SETEX", &other_doc, "3600", r#"{"id":"d-17"}"#]);
    let other_queue = format!("{other}:queue:embeddings");
    let other_job = job(OTHER_PROJECT, "d-17");
    server.admin_cmd::<String>(&["XADD", &other_queue, "*", "v", "1", "payload", &other_job]);
    let apply = project(PROJECT, &[("PROJECT_ID", PROJECT)]);
    let tables = Tables {
        flow: flow_003(),
        needs: NEEDS_003,
        abuses: ABUSES_003,
        limits: LIMITS_003,
    };
    play_file(server, &url, &apply, (&namespace, &other), tables, |play| {
        let length: i64 = play.admin("XLEN {queue:embeddings}");
        assert_eq!(length, 1, "the API's XADD ... MAXLEN 1 cut the queue");
    });
}

// ---- examples/message-bus.yaml (seeds/004) ----------------------------------------------

/// The ADR's standard message, with a UUID `message_id` ending in `n`.
fn envelope(n: u32, from: &str, to: Option<&str>, kind: &str) -> String {
    let to = to
        .map(|to| format!(r#""to_agent":"{to}","#))
        .unwrap_or_default();
    format!(
        r#"{{"message_id":"00000000-0000-4000-8000-{n:012}","from_agent":"{from}",{to}"message_type":"{kind}","payload":{{"content_id":"blog_123"}},"timestamp":"2025-11-03T10:30:00Z"}}"#
    )
}

/// ADR-003's use cases: a task queued for a copywriter, a review requested and answered, new
/// content broadcast to its two subscribers, an escalation, a task assignment and a status
/// broadcast for the dashboard, the audit copies, a dead letter; each read by its group.
#[rustfmt::skip]
fn flow_004() -> Vec<(&'static str, String)> {
    let send = |role: &'static str, stream: &str, n: u32, to: Option<&str>, kind: &str| {
        let message = envelope(n, role, to, kind);
        (role, format!("XADD {{{stream}}} MAXLEN ~ 10000 * v 1 message {message} => {stream}"))
    };
    let read = |role: &'static str, group: &str, consumer: &str, streams: &str| {
        let ids = vec![">"; streams.split_whitespace().count()].join(" ");
        (role, format!("XREADGROUP GROUP {group} {consumer} COUNT 10 STREAMS {streams} {ids}"))
    };
    vec![
        send("campaign_manager", "queue:copywriter", 1, Some("copywriter"), "task_assignment"),
        read("copywriter", "copywriters", "cw-1", "{queue:copywriter}"),
        send("copywriter", "agent:content_manager:inbox", 2, Some("content_manager"), "review_request"),
        send("copywriter", "audit:messages", 2, Some("content_manager"), "review_request"),
        read("content_manager", "content_manager", "ctm-1", "{agent:content_manager:inbox}"),
        send("content_manager", "agent:copywriter:inbox", 3, Some("copywriter"), "review_result"),
        send("content_manager", "audit:decisions", 3, None, "review_approved"),
        read("copywriter", "copywriter", "cw-1", "{agent:copywriter:inbox}"),
        send("copywriter", "events:content:created", 4, None, "content_created"),
        read("social_media_manager", "social_media_manager", "smm-1", "{events:content:created}"),
        read("campaign_manager", "campaign_manager", "cmg-1", "{events:content:created}"),
        send("social_media_manager", "agent:campaign_manager:inbox", 5, Some("campaign_manager"), "escalation"),
        read("campaign_manager", "campaign_manager", "cmg-1", "{agent:campaign_manager:inbox}"),
        send("content_manager", "agent:social_media_manager:inbox", 6, Some("social_media_manager"), "review_result"),
        read("social_media_manager", "social_media_manager", "smm-1", "{agent:social_media_manager:inbox}"),
        send("content_manager", "events:tasks:assigned", 7, None, "task_assignment"),
        send("copywriter", "events:system:status", 8, None, "status_update"),
        read("dashboard", "dashboard", "dash-1", "{events:tasks:assigned} {events:system:status}"),
        read("auditor", "auditors", "aud-1", "{audit:messages} {audit:decisions}"),
        (
            "copywriter",
            format!(
                "XADD {{dlq}} * v 1 message {} error timeout stream {{agent:copywriter:inbox}} => dlq",
                envelope(9, "content_manager", Some("copywriter"), "review_result")
            ),
        ),
        read("dlq-handler", "dlq-readers", "dlqh-1", "{dlq}"),
    ]
}

/// The roles of examples/message-bus.yaml: one per agent, the dashboard, the auditor, the DLQ tool.
#[rustfmt::skip]
const ROLES_004: [&str; 7] = ["campaign_manager", "content_manager", "copywriter", "social_media_manager", "dashboard", "auditor", "dlq-handler"];

#[rustfmt::skip]
const NEEDS_004: &[Row] = &[
    ("campaign_manager", "SET {dedupe:campaign_manager:00000000-0000-4000-8000-000000000004} 1 NX EX 86400"),
    ("campaign_manager", "XPENDING {agent:campaign_manager:inbox} campaign_manager"),
    ("campaign_manager", "XAUTOCLAIM {agent:campaign_manager:inbox} campaign_manager cmg-2 0 0-0"),
    ("campaign_manager", "XACK {agent:campaign_manager:inbox} campaign_manager <agent:campaign_manager:inbox>"),
    ("campaign_manager", "XACK {events:content:created} campaign_manager <events:content:created>"),
    ("campaign_manager", "XINFO GROUPS {queue:copywriter}"),
    ("campaign_manager", "XLEN {queue:copywriter}"),
    ("campaign_manager", r#"XADD {events:tasks:assigned} * v 1 message {"message_id":"00000000-0000-4000-8000-000000000010","from_agent":"campaign_manager","message_type":"task_assignment","payload":{},"timestamp":"2025-11-03T10:30:00Z"}"#),
    ("campaign_manager", "XADD {agent:copywriter:inbox} * v 1 message {}"),
    ("campaign_manager", "XADD {dlq} * v 1 message {} error e stream s"),
    ("content_manager", "SET {dedupe:content_manager:00000000-0000-4000-8000-000000000002} 1 NX EX 86400"),
    ("content_manager", "XACK {agent:content_manager:inbox} content_manager <agent:content_manager:inbox>"),
    ("content_manager", "XCLAIM {agent:content_manager:inbox} content_manager ctm-2 0 <agent:content_manager:inbox>"),
    ("content_manager", "XINFO GROUPS {agent:copywriter:inbox}"),
    ("copywriter", "SET {dedupe:copywriter:00000000-0000-4000-8000-000000000001} 1 NX EX 86400"),
    ("copywriter", "XPENDING {queue:copywriter} copywriters - + 10"),
    ("copywriter", "XCLAIM {queue:copywriter} copywriters cw-2 0 <queue:copywriter>"),
    ("copywriter", "XAUTOCLAIM {queue:copywriter} copywriters cw-1 0 0-0"),
    ("copywriter", "XACK {queue:copywriter} copywriters <queue:copywriter>"),
    ("copywriter", "XACK {agent:copywriter:inbox} copywriter <agent:copywriter:inbox>"),
    ("copywriter", "XADD {audit:decisions} * v 1 message {}"),
    ("social_media_manager", "SET {dedupe:social_media_manager:00000000-0000-4000-8000-000000000004} 1 NX EX 86400"),
    ("social_media_manager", "XACK {events:content:created} social_media_manager <events:content:created>"),
    ("social_media_manager", "XACK {agent:social_media_manager:inbox} social_media_manager <agent:social_media_manager:inbox>"),
    ("social_media_manager", r#"PUBLISH {events:social_media:posts} {"message_type":"new_post","payload":{"post_id":"post_456"}}"#),
    ("social_media_manager", "XADD {events:system:status} * v 1 message {}"),
    ("dashboard", "XACK {events:tasks:assigned} dashboard <events:tasks:assigned>"),
    ("dashboard", "XACK {events:system:status} dashboard <events:system:status>"),
    ("dashboard", "XINFO GROUPS {agent:copywriter:inbox}"),
    ("dashboard", "XINFO CONSUMERS {queue:copywriter} copywriters"),
    ("dashboard", "XPENDING {queue:copywriter} copywriters"),
    ("dashboard", "XLEN {queue:copywriter}"),
    ("dashboard", "XLEN {dlq}"),
    ("dashboard", "XINFO GROUPS {audit:messages}"),
    ("auditor", "XPENDING {audit:messages} auditors"),
    ("auditor", "XAUTOCLAIM {audit:decisions} auditors aud-2 0 0-0"),
    ("auditor", "XACK {audit:messages} auditors <audit:messages>"),
    ("auditor", "XACK {audit:decisions} auditors <audit:decisions>"),
    ("dlq-handler", "XRANGE {dlq} - + COUNT 5"),
    ("dlq-handler", "XLEN {dlq}"),
    ("dlq-handler", "XPENDING {dlq} dlq-readers"),
    ("dlq-handler", "XINFO GROUPS {agent:copywriter:inbox}"),
    ("dlq-handler", "XADD {agent:copywriter:inbox} * v 1 message {}"),
    ("dlq-handler", "XADD {queue:copywriter} * v 1 message {}"),
    ("dlq-handler", "XADD {audit:messages} * v 1 message {}"),
    ("dlq-handler", "XACK {dlq} dlq-readers <dlq>"),
];

#[rustfmt::skip]
const ABUSES_004: &[Row] = &[
    // Another agent's inbox: read it, settle it, claim from it, add a group to it.
    ("copywriter", "XREADGROUP GROUP content_manager cw-1 STREAMS {agent:content_manager:inbox} >"),
    ("copywriter", "XRANGE {agent:content_manager:inbox} - +"),
    ("copywriter", "XACK {agent:content_manager:inbox} content_manager <agent:content_manager:inbox>"),
    ("copywriter", "XAUTOCLAIM {agent:content_manager:inbox} content_manager cw-1 0 0-0"),
    ("copywriter", "XGROUP CREATE {agent:content_manager:inbox} spy $"),
    // Sends it is not the source of: tasks are queued by the campaign manager, assignments
    // broadcast by managers, new posts by the social media manager.
    ("copywriter", "XADD {queue:copywriter} * v 1 message {}"),
    ("copywriter", "XADD {events:tasks:assigned} * v 1 message {}"),
    ("copywriter", "PUBLISH {events:social_media:posts} x"),
    // Another agent's dedupe keys; a stream turned into a string, deleted, or cut.
    ("copywriter", "SET {dedupe:content_manager:00000000-0000-4000-8000-000000000002} 1 NX EX 60"),
    ("copywriter", "SET {agent:content_manager:inbox} x"),
    ("copywriter", "DEL {queue:copywriter}"),
    ("copywriter", "XDEL {queue:copywriter} <queue:copywriter>"),
    ("copywriter", "XTRIM {agent:content_manager:inbox} MAXLEN 0"),
    ("copywriter", "XREAD STREAMS {dlq} 0"),
    ("content_manager", "XADD {queue:copywriter} * v 1 message {}"),
    ("content_manager", "XADD {events:content:created} * v 1 message {}"),
    ("content_manager", "XREADGROUP GROUP copywriter ctm-1 STREAMS {agent:copywriter:inbox} >"),
    ("campaign_manager", "XREADGROUP GROUP copywriters cmg-1 STREAMS {queue:copywriter} >"),
    ("campaign_manager", "XRANGE {queue:copywriter} - +"),
    ("campaign_manager", "XACK {events:tasks:assigned} dashboard <events:tasks:assigned>"),
    ("social_media_manager", "XADD {events:content:created} * v 1 message {}"),
    ("social_media_manager", "XADD {queue:copywriter} * v 1 message {}"),
    ("social_media_manager", "XADD {events:tasks:assigned} * v 1 message {}"),
    ("social_media_manager", "SUBSCRIBE {events:social_media:posts}"),
    // The dashboard: no message bodies in any form, no consuming the agents' groups.
    ("dashboard", "XRANGE {agent:copywriter:inbox} - +"),
    ("dashboard", "XINFO STREAM {queue:copywriter} FULL"),
    ("dashboard", "XREADGROUP GROUP copywriters dash-1 STREAMS {queue:copywriter} >"),
    ("dashboard", "XACK {queue:copywriter} copywriters <queue:copywriter>"),
    ("dashboard", "XADD {events:system:status} * v 1 message {}"),
    // The auditor ships the trail; it cannot forge, delete or cut it.
    ("auditor", "XADD {audit:messages} * v 1 message {}"),
    ("auditor", "XDEL {audit:messages} <audit:messages>"),
    ("auditor", "XTRIM {audit:decisions} MAXLEN 0"),
    ("auditor", "XRANGE {dlq} - +"),
    // The DLQ handler settles dead letters in its group; it deletes nothing.
    ("dlq-handler", "XDEL {dlq} <dlq>"),
    ("dlq-handler", "XTRIM {dlq} MAXLEN 0"),
    ("dlq-handler", "XREADGROUP GROUP copywriter dlqh-1 STREAMS {agent:copywriter:inbox} >"),
    ("dlq-handler", "XADD {audit:decisions} * v 1 message {}"),
    ("dlq-handler", "XADD {events:system:status} * v 1 message {}"),
    ("-", "XRANGE {dlq} - +"),
];

#[rustfmt::skip]
const LIMITS_004: &[Row] = &[
    // Any agent may send to any inbox, and XADD trims: the copywriter cuts an inbox.
    ("copywriter", "XADD {agent:content_manager:inbox} MAXLEN 1 * v 1 message {}"),
    // Two subscribers of one stream, two groups: each may work in the other's group.
    ("social_media_manager", "XAUTOCLAIM {events:content:created} campaign_manager smm-1 0 0-0"),
    ("social_media_manager", "XACK {events:content:created} campaign_manager <events:content:created>"),
];

#[test]
fn every_agent_of_the_message_bus_can_do_its_job_and_nothing_it_must_not() {
    let (server, url) = server_for(&["bus"]);
    let apply = Apply {
        file: "examples/message-bus.yaml",
        env: None,
        vars: &[],
        users: users(&ROLES_004, str::to_owned, password_variable),
    };
    let tables = Tables {
        flow: flow_004(),
        needs: NEEDS_004,
        abuses: ABUSES_004,
        limits: LIMITS_004,
    };
    play_file(server, &url, &apply, ("bus", "other"), tables, |play| {
        let length: i64 = play.admin("XLEN {agent:content_manager:inbox}");
        assert_eq!(
            length, 1,
            "the copywriter's XADD ... MAXLEN 1 cut another agent's inbox"
        );
        let pending: (i64, Value, Value, Value) =
            play.admin("XPENDING {events:content:created} campaign_manager");
        assert_eq!(
            pending.0, 0,
            "the social media manager settled the campaign manager's entry"
        );
    });
}

// ---- What Redis ACLs cannot refuse (docs/operations.md) ---------------------------------

/// Users of one stream `s` with two groups: a producer, a `read`-only user with XREADGROUP and
/// XINFO STREAM, and the consumers of the two groups.
const LIMITS_TOPOLOGY: &str = r#"version: 1
namespace: app
streams:
  s:
    retention: { maxlen: 1000 }
    groups: { ga: { start: "0" }, gb: { start: "0" } }
acl:
  users:
    producer:
      passwords: [{ env: PRODUCER_PASSWORD }]
      access: [{ keys: { write: ["s"] }, preset: producer }]
    reader:
      passwords: [{ env: READER_PASSWORD }]
      access: [{ keys: { read: ["s"] }, commands: ["+xreadgroup", "+xinfo|stream"] }]
    consumer-b:
      passwords: [{ env: CONSUMER_B_PASSWORD }]
      access: [{ keys: ["s"], preset: consumer }]
"#;

/// Each limit docs/operations.md names, with its effect on the server: a `read`-only user
/// with XREADGROUP moves a group; XINFO STREAM FULL prints bodies; a consumer of one group
/// settles another group's entries; a producer's XADD empties the stream, or exhausts its IDs.
#[test]
fn what_redis_acls_cannot_refuse_to_a_user_allowed_the_command_on_the_key() {
    let server = RedisServer::start();
    let file = crate::util::topology_file(LIMITS_TOPOLOGY);
    let mut apply = bin();
    apply
        .args(["apply", "--yes"])
        .arg(file.path())
        .args(["--url", &server.url()]);
    for variable in [
        "PRODUCER_PASSWORD",
        "READER_PASSWORD",
        "CONSUMER_B_PASSWORD",
    ] {
        apply.env(variable, password(variable));
    }
    let out = apply.output().expect("apply");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let login = |user: &str, variable: &str| {
        let url = format!(
            "redis://{user}:{}@127.0.0.1:{}",
            password(variable),
            server.port
        );
        redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("log in")
    };
    let mut producer = login("producer", "PRODUCER_PASSWORD");
    let mut reader = login("reader", "READER_PASSWORD");
    let mut consumer_b = login("consumer-b", "CONSUMER_B_PASSWORD");
    let id: String = command(&["XADD", "app:s", "*", "body", "secret-1"])
        .query(&mut producer)
        .expect("the producer adds an entry");
    let group = |name: &str| -> BTreeMap<String, Value> {
        let groups: Vec<BTreeMap<String, Value>> = server.cmd(&["XINFO", "GROUPS", "app:s"]);
        groups
            .into_iter()
            .find(|g| g.get("name") == Some(&Value::BulkString(name.as_bytes().to_vec())))
            .expect("the group exists")
    };
    let pending = |name: &str| -> i64 {
        redis::from_redis_value(group(name).remove("pending").expect("pending")).expect("int")
    };

    // A `read`-only user with XREADGROUP consumes: XREADGROUP reads the key as Redis sees it,
    // yet moves the group's last-delivered ID and fills its pending list.
    let _: Value = command(&["XREADGROUP", "GROUP", "ga", "r-1", "STREAMS", "app:s", ">"])
        .query(&mut reader)
        .expect("XREADGROUP with read access only");
    assert_eq!(
        group("ga").get("last-delivered-id"),
        Some(&Value::BulkString(id.clone().into_bytes())),
        "the reader moved group ga"
    );
    assert_eq!(
        pending("ga"),
        1,
        "the entry is pending in ga, for the reader"
    );

    // XINFO STREAM and XINFO STREAM FULL are one ACL rule: FULL prints the entries.
    let full: Value = command(&["XINFO", "STREAM", "app:s", "FULL"])
        .query(&mut reader)
        .expect("FULL is allowed with +xinfo|stream");
    assert!(
        format!("{full:?}").contains("secret-1"),
        "FULL shows bodies: {full:?}"
    );

    // Group names are arguments: a consumer allowed XACK on the stream settles any group's.
    let acked: i64 = command(&["XACK", "app:s", "ga", &id])
        .query(&mut consumer_b)
        .expect("XACK in another group");
    assert_eq!(
        (acked, pending("ga")),
        (1, 0),
        "group gb's consumer settled ga's entry"
    );

    // MAXLEN is an argument: a producer empties the stream it may append to...
    let _: String = command(&["XADD", "app:s", "MAXLEN", "0", "*", "body", "x"])
        .query(&mut producer)
        .expect("XADD ... MAXLEN 0");
    assert_eq!(
        server.cmd::<i64>(&["XLEN", "app:s"]),
        0,
        "the stream was emptied"
    );
    // ...and the entry ID too: the last possible ID leaves no room for another entry.
    let last = "18446744073709551615-18446744073709551615";
    let _: String = command(&["XADD", "app:s", last, "body", "x"])
        .query(&mut producer)
        .expect("XADD with an explicit ID");
    let refused = command(&["XADD", "app:s", "*", "body", "x"]).query::<String>(&mut producer);
    assert_eq!(
        refused.map_err(|e| e.code().map(str::to_owned)),
        Err(Some("ERR".to_owned())),
        "no producer can add to the stream any more"
    );
}
