//! The lints on what users may do to streams say what a real client can do: a file that
//! trips each lint is applied to a real redis-server and every abuse the lints name works
//! (or, for a consumer preset on read-only keys, the acknowledgement it needs fails); the file
//! the lints ask for validates strictly, and the same abuses get NOPERM.

use serde_json::Value;

use crate::redis::RedisServer;
use crate::util::{bin, create_apply_user, text, topology_file};

const PASSWORD: &str = "stream-Lint-1";
const USERS: [&str; 4] = ["orchestrator", "worker", "reporter", "auditor"];

/// Stream `tasks`: the orchestrator produces it, group `workers` consumes it (the worker),
/// group `auditors` (the auditor) too; `default` is disabled. Users follow, from line 13.
macro_rules! head {
    () => {
        r#"version: 1
namespace: app
streams:
  tasks:
    retention: { maxlen: 1000 }
    producers: [orchestrator]
    groups:
      workers: { start: "0", consumers: [worker] }
      auditors: { start: "0", consumers: [auditor] }
acl:
  users:
    default: { enabled: false }
"#
    };
}

/// Each user granted more than its role.
const LINTED: &str = concat!(
    head!(),
    r#"    orchestrator:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      keys: { write: ["tasks", "idem:*"] }
      commands: ["+xadd", "+xtrim", "+set"]
    worker:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      keys: ["tasks"]
      commands: ["+@stream", "-xgroup", "-xdel", "-xsetid", "-xtrim"]
    reporter:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      access:
        - keys: ["tasks"]
          commands: ["+xpending", "+xautoclaim", "+xadd"]
    auditor:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      access:
        - keys: { read: ["tasks"] }
          preset: consumer
"#
);

/// The same roles as the lints would have them: each a block of exactly its role.
const FIXED: &str = concat!(
    head!(),
    r#"    orchestrator:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      access:
        - keys: { write: ["tasks"] }
          preset: producer
        - keys: { write: ["idem:*"] }
          commands: ["+set"]
    worker:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      access:
        - keys: ["tasks"]
          preset: consumer
    reporter:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      access:
        - keys: { read: ["tasks"] }
          preset: monitor
    auditor:
      passwords: [{ env: STREAM_LINT_PASSWORD }]
      access:
        - keys: ["tasks"]
          preset: consumer
"#
);

/// `(code, line)` of every problem `validate --strict` reports for a file, and whether it
/// passed.
fn lints(file: &tempfile::NamedTempFile) -> (bool, Vec<(String, u64)>) {
    let out = bin()
        .args(["validate", "--strict", "--format", "json"])
        .arg(file.path())
        .output()
        .expect("run validate");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON diagnostics");
    let found = json
        .as_array()
        .expect("a list")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    (out.status.success(), found)
}

/// Apply as the documented apply user (`default` is disabled by the file), and create
/// `test-admin` for the test's own commands.
fn apply(server: &RedisServer, file: &tempfile::NamedTempFile) {
    let url = create_apply_user(server, &["app"]);
    server.create_admin();
    let out = bin()
        .args(["apply", "--yes"])
        .arg(file.path())
        .args(["--url", &url])
        .env("STREAM_LINT_PASSWORD", PASSWORD)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run apply");
    assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out));
}

fn login(server: &RedisServer, user: &str) -> redis::Connection {
    let url = format!("redis://{user}:{PASSWORD}@127.0.0.1:{}", server.port);
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| panic!("{user} logs in: {e}"))
}

fn run(con: &mut redis::Connection, line: &str) -> redis::RedisResult<Value> {
    let mut cmd = redis::Cmd::new();
    for arg in line.split_whitespace() {
        cmd.arg(arg);
    }
    cmd.query::<redis::Value>(con).map(|v| match v {
        redis::Value::Int(i) => Value::from(i),
        redis::Value::Nil => Value::Null,
        redis::Value::Array(items) => Value::from(items.len()),
        _ => Value::Bool(true),
    })
}

fn allowed(con: &mut redis::Connection, line: &str) -> Value {
    run(con, line).unwrap_or_else(|e| panic!("`{line}` should be allowed: {e}"))
}

fn noperm(con: &mut redis::Connection, line: &str) {
    match run(con, line) {
        Err(e) => assert_eq!(e.code(), Some("NOPERM"), "{line}: {e}"),
        Ok(v) => panic!("`{line}` should be refused, got {v:?}"),
    }
}

/// An entry read by the worker in group `workers` and left pending: what the reporter
/// takes over.
fn pending_entry(server: &RedisServer) {
    server.admin_cmd::<String>(&["XADD", "app:tasks", "*", "task", "t1"]);
    let mut worker = login(server, "worker");
    let read = allowed(
        &mut worker,
        "XREADGROUP GROUP workers w1 COUNT 1 STREAMS app:tasks >",
    );
    assert_ne!(read, Value::Null, "the worker got its task");
}

#[test]
fn every_stream_lint_names_an_abuse_a_real_client_can_commit() {
    let file = topology_file(LINTED);
    let (passed, found) = lints(&file);
    assert!(!passed, "{found:?}");
    let found: Vec<(&str, u64)> = found.iter().map(|(c, l)| (c.as_str(), *l)).collect();
    assert_eq!(
        found,
        [
            ("acl::stream_trim", 16),
            ("acl::stream_overwrite", 16),
            ("acl::consumer_xadd", 20),
            ("acl::claim_outside_group", 25),
            ("acl::stream_trim", 25),
            ("acl::consumer_keys", 29),
        ]
    );

    let server = RedisServer::start();
    apply(&server, &file);
    pending_entry(&server);
    let [mut orchestrator, mut worker, mut reporter, mut auditor] =
        USERS.map(|user| login(&server, user));
    // claim_outside_group: the reporter, in no group, takes over the worker's pending entry.
    let claimed = allowed(&mut reporter, "XAUTOCLAIM app:tasks workers thief 0 0");
    assert_eq!(
        claimed,
        Value::from(3),
        "XAUTOCLAIM replies [cursor, entries, deleted]"
    );
    let owner: Vec<redis::Value> =
        server.admin_cmd(&["XPENDING", "app:tasks", "workers", "-", "+", "1"]);
    assert!(format!("{owner:?}").contains("thief"), "{owner:?}");
    // consumer_keys: the auditor reads in its group, but cannot acknowledge.
    allowed(
        &mut auditor,
        "XREADGROUP GROUP auditors a1 COUNT 1 STREAMS app:tasks >",
    );
    noperm(&mut auditor, "XACK app:tasks auditors 0-1");
    // consumer_xadd: the worker forges a task for the other workers.
    allowed(&mut worker, "XADD app:tasks * forged 1");
    // stream_trim: XADD by a user that is no producer trims the stream; so does XTRIM.
    allowed(&mut reporter, "XADD app:tasks MAXLEN 1 * k v");
    assert_eq!(server.admin_cmd::<i64>(&["XLEN", "app:tasks"]), 1);
    allowed(&mut orchestrator, "XTRIM app:tasks MAXLEN 0");
    assert_eq!(server.admin_cmd::<i64>(&["XLEN", "app:tasks"]), 0);
    // stream_overwrite: SET, meant for the idempotency keys, turns the stream into a string.
    allowed(&mut orchestrator, "SET app:tasks x");
    assert_eq!(server.admin_cmd::<String>(&["TYPE", "app:tasks"]), "string");
}

#[test]
fn the_file_the_lints_ask_for_validates_strictly_and_refuses_the_abuses() {
    let file = topology_file(FIXED);
    assert_eq!(lints(&file), (true, Vec::new()));
    let server = RedisServer::start();
    apply(&server, &file);
    pending_entry(&server);
    let [mut orchestrator, mut worker, mut reporter, mut auditor] =
        USERS.map(|user| login(&server, user));
    noperm(&mut reporter, "XAUTOCLAIM app:tasks workers thief 0 0");
    allowed(&mut reporter, "XPENDING app:tasks workers");
    allowed(
        &mut auditor,
        "XREADGROUP GROUP auditors a1 COUNT 1 STREAMS app:tasks >",
    );
    allowed(&mut auditor, "XACK app:tasks auditors 0-1");
    noperm(&mut worker, "XADD app:tasks * forged 1");
    noperm(&mut reporter, "XADD app:tasks MAXLEN 1 * k v");
    noperm(&mut orchestrator, "XTRIM app:tasks MAXLEN 0");
    noperm(&mut orchestrator, "SET app:tasks x");
    allowed(&mut orchestrator, "SET app:idem:t1 1 NX EX 60");
    allowed(&mut orchestrator, "XADD app:tasks MAXLEN ~ 1000 * task t2");
    assert_eq!(server.admin_cmd::<String>(&["TYPE", "app:tasks"]), "stream");
}
