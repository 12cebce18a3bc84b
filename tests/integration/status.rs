//! `status` against a real redis-server with real backlog: producers and consumers in the
//! test make lag, pending entries, idle consumers, a dead-letter stream that grows, a
//! stream past its retention and pending entries whose data was trimmed away; each
//! threshold fires at its level and the exit code follows the worst.

use serde_json::Value;

use crate::redis::RedisServer;
use crate::util::{bin, create_tool_user, text, topology_file};

const TOPOLOGY: &str = r#"version: 1
namespace: app
health:
  lag: { warning: 3, critical: 10 }
  pending: { warning: 2, critical: 50 }
  pending_age: { warning: 1h, critical: 1d }
streams:
  tasks:
    retention: { maxlen: 5 }
    health:
      over_retention: { warning: 150%, critical: 300% }
    groups:
      workers:
        start: "0"
        health:
          active_consumers: { within: 1m, warning: 2, critical: 1 }
      late: { start: "$" }
  tasks:dlq:
    dlq_of: tasks
    retention: unbounded
    health: { dlq_length: { warning: 0, critical: 3 } }
  jobs:
    retention: { maxlen: 1000 }
    groups:
      proc: { start: "0" }
  absent:
    retention: unbounded
"#;

fn status(topology: &tempfile::NamedTempFile, url: &str, format: &str) -> std::process::Output {
    bin()
        .arg("status")
        .arg(topology.path())
        .args(["--url", url, "--format", format])
        .output()
        .expect("run status")
}

fn rows(json: &Value) -> &Vec<Value> {
    json["rows"].as_array().expect("rows")
}

/// The row of `stream` (and `group`).
fn row<'j>(json: &'j Value, stream: &str, group: Option<&str>) -> &'j Value {
    rows(json)
        .iter()
        .find(|r| r["stream"] == stream && r["group"].as_str() == group)
        .unwrap_or_else(|| panic!("no row {stream} {group:?} in {json:#}"))
}

fn checks(row: &Value) -> Vec<(String, String)> {
    row["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["check"].as_str().expect("check").to_owned(),
                f["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

fn id(ms: u64, seq: u64) -> String {
    format!("{ms}-{seq}")
}

#[test]
fn each_threshold_fires_at_its_level_and_the_exit_code_follows_the_worst() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    let url = server.url();
    let out = bin()
        .arg("apply")
        .arg(topology.path())
        .args(["--url", &url, "--yes"])
        .output()
        .expect("apply");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    server.cmd::<i64>(&["DEL", "app:absent"]);
    let now: Vec<String> = server.cmd(&["TIME"]);
    let now_ms: u64 = now[0].parse::<u64>().expect("seconds") * 1000;
    // 9 tasks, the first 4 two hours old: `workers` (from 0) gets 4 of them and acks
    // none (4 pending, the oldest 2 h old); `late` (from `$`, created before) sees all 9.
    for n in 0..9u64 {
        let at = if n < 4 { now_ms - 7_200_000 } else { now_ms };
        server.cmd::<String>(&["XADD", "app:tasks", &id(at, n), "n", &n.to_string()]);
    }
    server.cmd::<Value2>(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "w1",
        "COUNT",
        "4",
        "STREAMS",
        "app:tasks",
        ">",
    ]);
    for n in 0..2 {
        server.cmd::<String>(&["XADD", "app:tasks:dlq", "*", "failed", &n.to_string()]);
    }
    // `proc` takes 3 jobs, then an exact trim drops every entry: its pending entries point
    // at nothing.
    for n in 0..3 {
        server.cmd::<String>(&["XADD", "app:jobs", "*", "n", &n.to_string()]);
    }
    server.cmd::<Value2>(&[
        "XREADGROUP",
        "GROUP",
        "proc",
        "p1",
        "STREAMS",
        "app:jobs",
        ">",
    ]);
    server.cmd::<i64>(&["XTRIM", "app:jobs", "MAXLEN", "0"]);

    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["status"], "critical");

    let tasks = row(&json, "tasks", None);
    assert_eq!(tasks["figures"]["length"], 9);
    assert_eq!(tasks["figures"]["over_retention"], 180);
    assert_eq!(checks(tasks), [("over_retention".into(), "warning".into())]);

    let workers = row(&json, "tasks", Some("workers"));
    assert_eq!(workers["figures"]["lag"], 5);
    assert_eq!(workers["figures"]["pending"], 4);
    let age = workers["figures"]["pending_age"].as_f64().expect("an age");
    assert!((7_190.0..7_300.0).contains(&age), "2 hours: {age}");
    assert_eq!(workers["figures"]["active_consumers"], 1);
    let mut found = checks(workers);
    found.sort();
    assert_eq!(
        found,
        [
            ("active_consumers".into(), "warning".into()),
            ("lag".into(), "warning".into()),
            ("pending".into(), "warning".into()),
            ("pending_age".into(), "warning".into()),
        ]
    );
    assert_eq!(workers["status"], "warning");

    let dlq = row(&json, "tasks:dlq", None);
    assert_eq!(dlq["figures"]["dlq_length"], 2);
    assert_eq!(checks(dlq), [("dlq_length".into(), "warning".into())]);

    let proc = row(&json, "jobs", Some("proc"));
    assert_eq!(proc["status"], "critical");
    assert!(
        checks(proc).contains(&("pending_trimmed".into(), "critical".into())),
        "{proc:#}"
    );
    assert_eq!(row(&json, "absent", None)["status"], "critical");
    assert_eq!(rows(&json)[0]["status"], "critical", "worst first");

    // The human report says the same, worst first, and exits the same.
    let out = status(&topology, &url, "human");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).expect("UTF-8");
    for expected in [
        "group tasks/workers",
        "lag 5 > warning 3",
        "pending 4 > warning 2",
        "over_retention 180% > warning 150%",
        "dlq_length 2 > warning 0",
        "pending entries point at data that is gone",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
    assert!(
        shown.find("critical ") < shown.find("warning "),
        "worst first:\n{shown}"
    );

    // Mend the critical breaches: only warnings are left (exit 2); then a third DLQ entry
    // past `critical: 3`? No: 3 is not past 3; a fourth is.
    server.cmd::<i64>(&["DEL", "app:jobs"]);
    server.cmd::<String>(&["XGROUP", "CREATE", "app:jobs", "proc", "0", "MKSTREAM"]);
    server.cmd::<String>(&["XGROUP", "CREATE", "app:absent", "g", "$", "MKSTREAM"]);
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    server.cmd::<String>(&["XADD", "app:tasks:dlq", "*", "failed", "2"]);
    assert_eq!(status(&topology, &url, "json").status.code(), Some(2));
    server.cmd::<String>(&["XADD", "app:tasks:dlq", "*", "failed", "3"]);
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

/// The `XREADGROUP` replies are not looked at.
type Value2 = redis::Value;

#[test]
fn an_unknown_lag_is_reported_as_unknown_never_as_zero() {
    let server = RedisServer::start();
    let topology = topology_file(
        "version: 1
namespace: app
health:
  lag: { warning: 100 }
  lag_age: { warning: 1h }
streams:
  events:
    retention: unbounded
    groups:
      readers: { start: \"$\" }
",
    );
    let url = server.url();
    let now: Vec<String> = server.cmd(&["TIME"]);
    let now_ms: u64 = now[0].parse::<u64>().expect("seconds") * 1000;
    for n in 1..=10u64 {
        server.cmd::<String>(&["XADD", "app:events", &id(now_ms, n), "n", &n.to_string()]);
    }
    // A group created at an ID inside the stream: Redis cannot count its lag (nil) until
    // it reads to the end (measured, ../shared/research/wave2-cluster-status-import.md B2).
    server.cmd::<String>(&["XGROUP", "CREATE", "app:events", "readers", &id(now_ms, 5)]);
    let out = status(&topology, &url, "json");
    assert_eq!(
        out.status.code(),
        Some(0),
        "unknown does not fail: {}",
        text(&out)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let readers = row(&json, "events", Some("readers"));
    assert_eq!(readers["figures"]["lag"], Value::Null, "{readers:#}");
    assert!(
        readers["unknown"]["lag"]
            .as_str()
            .is_some_and(|why| why.contains("`$`")),
        "{readers:#}"
    );
    assert!(
        readers["figures"]["lag_age"].is_number(),
        "the age is still known: {readers:#}"
    );
    assert_eq!(readers["status"], "unknown");
    assert_eq!(json["status"], "unknown");
    let shown = text(&status(&topology, &url, "human"));
    assert!(shown.contains("lag unknown"), "{shown}");
}

#[test]
fn status_runs_as_the_documented_read_only_user_and_writes_nothing() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    let out = bin()
        .arg("apply")
        .arg(topology.path())
        .args(["--url", &server.url(), "--yes"])
        .output()
        .expect("apply");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let url = create_tool_user(&server, "topology-plan", &["app"]);
    let writes = || {
        let info: String = server.cmd(&["INFO", "persistence"]);
        info.lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .expect("the write count")
            .trim()
            .to_owned()
    };
    let before = writes();
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        row(&json, "tasks", Some("workers"))["figures"]["pending"],
        0
    );
    assert_eq!(before, writes(), "status wrote to the server");
    assert!(!text(&out).contains("plan-pw"), "the password was shown");
}
