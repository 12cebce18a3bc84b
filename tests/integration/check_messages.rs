//! `check-messages` through the real binary: a JSON-lines file, and the newest entries of a
//! real redis-server's streams.

use crate::redis::RedisServer;
use crate::util::{bin, text, topology_file};

const TOPOLOGY: &str = r#"version: 1
namespace: app
streams:
  tasks:
    schema: task
    retention: { maxlen: 1000 }
  beats:
    schema: heartbeat
    retention: { maxlen: 1000 }
  free:
    retention: { maxlen: 1000 }
schemas:
  task:
    field: payload
    version_field: v
    compatibility: none
    versions:
      1:
        schema: { type: object, required: [id], properties: { id: { type: string }, size: { type: integer } } }
      2:
        schema: { type: object, required: [id, owner], properties: { id: { type: string }, owner: { type: string } } }
  heartbeat:
    encoding: fields
    versions:
      1:
        schema: { type: object, required: [service], properties: { service: { type: string } } }
"#;

#[test]
fn a_file_of_messages_is_checked_with_the_version_each_names() {
    let topology = topology_file(TOPOLOGY);
    let messages = topology_file(concat!(
        "{\"v\": \"1\", \"payload\": \"{\\\"id\\\": \\\"a\\\", \\\"size\\\": 3}\"}\n",
        "{\"v\": 2, \"payload\": {\"id\": \"b\", \"owner\": \"me\"}}\n",
        "{\"v\": \"2\", \"payload\": {\"id\": \"c\"}}\n",
        "{\"v\": \"1\", \"payload\": {\"id\": \"d\", \"size\": \"big\"}}\n",
        "{\"v\": \"7\", \"payload\": {\"id\": \"e\"}}\n",
    ));
    let run = |extra: &[&str]| {
        bin()
            .arg("check-messages")
            .arg(topology.path())
            .args(["--stream", "tasks", "--file"])
            .arg(messages.path())
            .args(extra)
            .output()
            .expect("run")
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    for expected in [
        "tasks line 3 (v2) at /: \"owner\" is a required property",
        "tasks line 4 (v1) at /size:",
        "tasks line 5 (no version) at /: version field `v` names no declared version (declared: 1, 2)",
        "Checked 5 messages: 3 invalid, 3 violations.",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
    let out = run(&["--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["checked"], 5);
    assert_eq!(json["violations"][1]["entry"], "line 4");
    assert_eq!(json["violations"][1]["pointer"], "/size");
    assert_eq!(json["violations"][1]["version"], 1);

    let out = bin()
        .arg("check-messages")
        .arg(topology.path())
        .args(["--stream", "free", "--file"])
        .arg(messages.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(
            "stream `free` has no message schema in this topology; streams with one: beats, tasks"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn the_newest_entries_of_a_live_server_are_sampled() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    let xadd = |key: &str, fields: &[&str]| -> String {
        let mut args = vec!["XADD", key, "*"];
        args.extend(fields);
        server.cmd(&args)
    };
    xadd(
        "app:tasks",
        &["v", "1", "payload", r#"{"id": "old-and-bad", "size": "x"}"#],
    );
    xadd(
        "app:tasks",
        &["v", "2", "payload", r#"{"id": "a", "owner": "me"}"#],
    );
    let bad = xadd("app:tasks", &["v", "2", "payload", r#"{"id": "b"}"#]);
    xadd("app:beats", &["service", "rag"]);
    let bad_beat = xadd("app:beats", &["host", "h1"]);
    xadd("app:free", &["anything", "goes"]);

    let run = |sample: &str| {
        bin()
            .arg("check-messages")
            .arg(topology.path())
            .args(["--url", &server.url(), "--sample", sample])
            .output()
            .expect("run")
    };
    let out = run("2");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!(
            "tasks {bad} (v2) at /: \"owner\" is a required property"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "beats {bad_beat} (v1) at /: \"service\" is a required property"
        )),
        "{shown}"
    );
    assert!(
        !shown.contains("old-and-bad") && !shown.contains("/size"),
        "only the newest 2: {shown}"
    );
    assert!(shown.contains("Checked 4 messages: 2 invalid"), "{shown}");

    server.cmd::<i64>(&["XDEL", "app:tasks", &bad]);
    server.cmd::<i64>(&["XDEL", "app:beats", &bad_beat]);
    let out = run("2");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the older bad task is now among the newest 2: {}",
        text(&out)
    );
    assert!(text(&out).contains("/size"), "{}", text(&out));
    server.cmd::<i64>(&["DEL", "app:tasks"]);
    let out = run("100");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Checked 1 messages: all valid."),
        "{}",
        text(&out)
    );
}

/// Payloads, field names and field values are written by whoever can write to the stream:
/// printed, they are escaped (no newline can forge an `error:` line) and cut (a 10 MB value
/// prints a short excerpt), in both formats.
#[test]
fn hostile_payloads_cannot_forge_lines_or_flood_the_output() {
    let server = RedisServer::start();
    let topology = topology_file(
        r#"version: 1
namespace: app
streams:
  beats:
    schema: heartbeat
    retention: { maxlen: 1000 }
  tasks:
    schema: task
    retention: { maxlen: 1000 }
schemas:
  heartbeat:
    encoding: fields
    versions:
      1:
        schema: { type: object, additionalProperties: false, properties: { service: { type: string, maxLength: 5 } } }
  task:
    field: payload
    versions:
      1:
        schema: { type: object, properties: { id: { type: integer } } }
"#,
    );
    let forged = "x\nerror: forged";
    let huge = "y".repeat(10 * 1024 * 1024);
    let mut con = server.con();
    let xadd = |con: &mut redis::Connection, key: &str, field: &str, value: &str| {
        redis::cmd("XADD")
            .arg(key)
            .arg("*")
            .arg(field)
            .arg(value)
            .query::<String>(con)
            .expect("XADD")
    };
    xadd(&mut con, "app:beats", "service", forged);
    xadd(&mut con, "app:beats", forged, "up");
    xadd(&mut con, "app:beats", "service", &huge);
    xadd(&mut con, "app:beats", &huge, "up");
    let payload = serde_json::json!({ "id": forged }).to_string();
    xadd(&mut con, "app:tasks", "payload", &payload);
    let payload = serde_json::json!({ "id": huge }).to_string();
    xadd(&mut con, "app:tasks", "payload", &payload);
    xadd(&mut con, "app:tasks", "payload", &format!("\"{huge}"));

    for format in ["human", "json"] {
        let out = bin()
            .arg("check-messages")
            .arg(topology.path())
            .args(["--url", &server.url(), "--format", format])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let shown = text(&out);
        assert!(
            shown.len() < 16 * 1024,
            "{format}: {} bytes printed: {}",
            shown.len(),
            &shown[..2000.min(shown.len())]
        );
        assert!(!shown.contains(&"y".repeat(1000)), "{format}: {shown}");
        assert!(
            !shown.lines().any(|l| l.starts_with("error: forged")),
            "{format}: {shown}"
        );
        assert!(!shown.contains(forged), "{format}: {shown}");
        assert!(
            shown.contains("more bytes)"),
            "{format}: says what was cut: {shown}"
        );
        if format == "human" {
            assert!(shown.contains("Checked 7 messages: 7 invalid"), "{shown}");
            assert!(shown.contains("x\\nerror: forged"), "escaped: {shown}");
        } else {
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            assert_eq!(json["invalid"], 7, "{shown}");
        }
    }
}

/// A file of messages needs no `--env` when every environment gives the stream the same
/// schema (the shipped topology's environments differ only in namespace and bounds); when
/// two environments give it different schemas, `--env` is asked for, naming them.
#[test]
fn a_file_needs_no_env_when_every_environment_agrees_on_the_schema() {
    let messages = topology_file("{\"v\": \"1\", \"payload\": {\"id\": \"a\"}}\n");
    let run = |topology: &str| {
        let file = topology_file(topology);
        bin()
            .arg("check-messages")
            .arg(file.path())
            .args(["--stream", "tasks", "--file"])
            .arg(messages.path())
            .output()
            .expect("run")
    };
    let same = format!(
        "{TOPOLOGY}environments:\n  dev: {{ namespace: dev-app, streams: {{ tasks: {{ retention: {{ maxlen: 10 }} }} }} }}\n  prod: {{}}\n"
    );
    let out = run(&same);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Checked 1 message"), "{}", text(&out));

    let differ = format!(
        "{TOPOLOGY}environments:\n  dev: {{ streams: {{ tasks: {{ schema: heartbeat }} }} }}\n  prod: {{}}\n"
    );
    let out = run(&differ);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "environments `dev` and `prod` give stream `tasks` different message schemas: say which one with --env"
        ),
        "{}",
        text(&out)
    );
}

/// A file of bad lines lists the first 10,000 violations and counts the rest, in both
/// formats; every invalid entry is counted, and the exit code says so.
#[test]
fn past_ten_thousand_violations_the_rest_are_counted() {
    let topology = topology_file(TOPOLOGY);
    let bad = "{\"v\": \"1\", \"payload\": {\"id\": 7}}\n".repeat(10_005);
    let messages = topology_file(&format!(
        "{bad}{{\"v\": 2, \"payload\": {{\"id\": \"b\", \"owner\": \"me\"}}}}\n"
    ));
    let run = |format: &str| {
        bin()
            .arg("check-messages")
            .arg(topology.path())
            .args(["--stream", "tasks", "--file"])
            .arg(messages.path())
            .args(["--format", format])
            .output()
            .expect("run check-messages")
    };
    let out = run("json");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["checked"], 10_006);
    assert_eq!(json["invalid"], 10_005);
    assert_eq!(json["violations"].as_array().map(Vec::len), Some(10_000));
    assert_eq!(json["unlisted"], 5);
    let out = run("human");
    assert_eq!(out.status.code(), Some(1));
    let shown = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        shown.contains("... and 9905 more (--format json lists the first 10000)"),
        "{shown}"
    );
    assert!(
        shown.contains("Checked 10006 messages: 10005 invalid, 10005 violations."),
        "{shown}"
    );
}
