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
    applied(&server, &topology);
    server.cmd::<i64>(&["DEL", "app:absent"]);
    let now: Vec<String> = server.cmd(&["TIME"]);
    let now_ms: u64 = now[0].parse::<u64>().expect("seconds") * 1000;
    // 9 tasks, the first 4 two hours old: `workers` (from 0) gets 4 of them and acks
    // none (4 pending, the oldest 2 h old); `late` (from `$`, created before) sees all 9.
    for n in 0..9u64 {
        let at = if n < 4 { now_ms - 7_200_000 } else { now_ms };
        server.cmd::<String>(&["XADD", "app:tasks", &id(at, n), "n", &n.to_string()]);
    }
    workers_take_four_and_two_fail(&server);
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

/// Apply `topology` (as `default`).
fn applied(server: &RedisServer, topology: &tempfile::NamedTempFile) {
    let out = bin()
        .arg("apply")
        .arg(topology.path())
        .args(["--url", &server.url(), "--yes"])
        .output()
        .expect("apply");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Consumer `w1` of `workers` takes the 4 oldest tasks (and acks none); 2 tasks fail into
/// the dead-letter stream.
fn workers_take_four_and_two_fail(server: &RedisServer) {
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
    applied(&server, &topology);
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
    server.cmd::<String>(&["ACL", "LOG", "RESET"]);
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let log: Vec<redis::Value> = server.cmd(&["ACL", "LOG"]);
    assert!(log.is_empty(), "refused nothing; the ACL log: {log:?}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        row(&json, "tasks", Some("workers"))["figures"]["pending"],
        0
    );
    assert_eq!(before, writes(), "status wrote to the server");
    assert!(!text(&out).contains("plan-pw"), "the password was shown");
}

/// A Python that has `prometheus_client` (Debian's python3-prometheus-client): the
/// Prometheus output is checked with the real parser.
fn prometheus_python() -> std::path::PathBuf {
    let candidates = [
        Some(std::path::PathBuf::from("/usr/bin/python3")),
        crate::tools::find("python3"),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|python| {
            std::process::Command::new(python)
                .args(["-c", "import prometheus_client.parser"])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .unwrap_or_else(|| {
            panic!("no python3 with prometheus_client, and this test needs the real parser. Install it: apt-get install -y python3-prometheus-client (.ci/run does this)")
        })
}

/// The samples of a Prometheus text, as Python's `prometheus_client` parses them: one
/// `name labels-as-json value` line each.
fn parsed_by_prometheus_client(text: &str) -> Vec<(String, Value, f64)> {
    let script = "import sys, json\nfrom prometheus_client.parser import text_string_to_metric_families\nfor family in text_string_to_metric_families(sys.stdin.read()):\n    assert family.type == 'gauge', family\n    for s in family.samples:\n        print(json.dumps([s.name, s.labels, s.value]))\n";
    let out = crate::tools::run_with_input(&prometheus_python(), &["-c", script], text);
    assert!(
        out.status.success(),
        "prometheus_client refused the output: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| {
            let sample: (String, Value, f64) = serde_json::from_str(line).expect("a sample");
            sample
        })
        .collect()
}

fn sample(samples: &[(String, Value, f64)], name: &str, stream: &str, group: &str) -> Option<f64> {
    samples
        .iter()
        .find(|(n, labels, _)| n == name && labels["stream"] == stream && labels["group"] == group)
        .map(|(_, _, value)| *value)
}

/// Backlog for the output tests: `workers` read 4 of 9 tasks and acked none; the DLQ has 2
/// entries; `absent` is missing (critical).
fn backlog(server: &RedisServer, topology: &tempfile::NamedTempFile) {
    applied(server, topology);
    for n in 0..9 {
        server.cmd::<String>(&["XADD", "app:tasks", "*", "n", &n.to_string()]);
    }
    workers_take_four_and_two_fail(server);
    server.cmd::<i64>(&["DEL", "app:absent"]);
}

#[test]
fn the_prometheus_format_parses_with_the_real_parser_and_leaves_unknown_out() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    backlog(&server, &topology);
    let out = status(&topology, &server.url(), "prometheus");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let metrics = String::from_utf8(out.stdout).expect("UTF-8");
    let samples = parsed_by_prometheus_client(&metrics);
    let of = |name: &str, stream: &str, group: &str| sample(&samples, name, stream, group);
    assert_eq!(
        of("redis_topology_group_lag", "tasks", "workers"),
        Some(5.0)
    );
    assert_eq!(
        of("redis_topology_group_pending", "tasks", "workers"),
        Some(4.0)
    );
    assert_eq!(of("redis_topology_stream_length", "tasks", ""), Some(9.0));
    assert_eq!(
        of("redis_topology_stream_retention_ratio", "tasks", ""),
        Some(1.8)
    );
    assert_eq!(
        of("redis_topology_stream_dlq_length", "tasks:dlq", ""),
        Some(2.0)
    );
    assert_eq!(of("redis_topology_status", "tasks", "workers"), Some(2.0));
    assert_eq!(of("redis_topology_status", "absent", ""), Some(3.0));
    assert!(
        samples
            .iter()
            .any(|(n, labels, v)| n == "redis_topology_check"
                && labels["check"] == "pending"
                && labels["level"] == "warning"
                && *v == 1.0),
        "{metrics}"
    );
    // A lag Redis cannot count is left out, never exported as 0.
    let unknown = topology_file(
        "version: 1\nnamespace: app\nstreams:\n  events:\n    retention: unbounded\n    groups:\n      readers: { start: \"$\" }\n",
    );
    server.cmd::<i64>(&["DEL", "app:events"]);
    for n in 1..=10u64 {
        server.cmd::<String>(&["XADD", "app:events", &id(1_000, n), "n", "1"]);
    }
    server.cmd::<String>(&["XGROUP", "CREATE", "app:events", "readers", &id(1_000, 5)]);
    let out = status(&unknown, &server.url(), "prometheus");
    let samples = parsed_by_prometheus_client(&String::from_utf8(out.stdout).expect("UTF-8"));
    assert_eq!(
        sample(&samples, "redis_topology_group_lag", "events", "readers"),
        None
    );
    assert!(
        sample(
            &samples,
            "redis_topology_group_lag_seconds",
            "events",
            "readers"
        )
        .is_some()
    );
}

#[test]
fn listen_serves_the_metrics_over_http_and_reads_again_after_the_min_interval() {
    use std::io::{BufRead, BufReader, Read, Write};
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    backlog(&server, &topology);
    let mut child = std::process::Command::new(crate::tools::redis_topology())
        .arg("status")
        .arg(topology.path())
        .args([
            "--url",
            &server.url(),
            "--listen",
            "127.0.0.1:0",
            "--min-interval",
            "0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the exporter");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr
        .read_line(&mut line)
        .expect("the exporter says where");
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let get = |path: &str| {
        let mut socket = std::net::TcpStream::connect(&address).expect("connect");
        write!(socket, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("send");
        let mut response = String::new();
        socket.read_to_string(&mut response).expect("read");
        response
    };
    let first = get("/metrics");
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(
        first.contains("Content-Type: text/plain; version=0.0.4"),
        "{first}"
    );
    let body = first.split("\r\n\r\n").nth(1).expect("a body");
    let samples = parsed_by_prometheus_client(body);
    assert_eq!(
        sample(&samples, "redis_topology_group_pending", "tasks", "workers"),
        Some(4.0)
    );
    assert!(
        samples
            .iter()
            .any(|(n, _, v)| n == "redis_topology_up" && *v == 1.0)
    );
    // Each scrape reads again (min interval 0): one more DLQ entry shows.
    server.cmd::<String>(&["XADD", "app:tasks:dlq", "*", "failed", "2"]);
    let second = get("/metrics");
    let samples = parsed_by_prometheus_client(second.split("\r\n\r\n").nth(1).expect("a body"));
    assert_eq!(
        sample(
            &samples,
            "redis_topology_stream_dlq_length",
            "tasks:dlq",
            ""
        ),
        Some(3.0)
    );
    assert!(get("/other").starts_with("HTTP/1.1 404"), "only /metrics");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn watch_reads_again_and_redraws() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    backlog(&server, &topology);
    let child = std::process::Command::new(crate::tools::redis_topology())
        .arg("status")
        .arg(topology.path())
        .args(["--url", &server.url(), "--watch", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start watching");
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    // SIGINT, as Ctrl-C: it stops with the last report's exit code.
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("stopped");
    let shown = String::from_utf8_lossy(&out.stdout);
    let reports = shown.matches("status of ").count();
    assert!((2..=4).contains(&reports), "{reports} reports:\n{shown}");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn quiet_silences_the_human_report_but_not_the_exit_code_or_json() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    backlog(&server, &topology);
    let quiet = |format: &str| {
        bin()
            .args(["--quiet", "status"])
            .arg(topology.path())
            .args(["--url", &server.url(), "--format", format])
            .output()
            .expect("run status")
    };
    let out = quiet("human");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let out = quiet("json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON is never silenced");
    assert_eq!(json["status"], "critical");
}

#[test]
fn markdown_is_a_table_worst_first() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    backlog(&server, &topology);
    let out = status(&topology, &server.url(), "markdown");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        shown.starts_with("### redis-topology status: critical\n"),
        "{shown}"
    );
    let rows: Vec<&str> = shown.lines().filter(|l| l.starts_with("| **")).collect();
    assert!(rows[0].starts_with("| **critical** | `absent`"), "{shown}");
    assert!(
        rows.iter()
            .any(|r| r.contains("`tasks` / `workers`") && r.contains("lag 5 > warning 3")),
        "{shown}"
    );
}

#[test]
fn an_evicting_policy_and_durable_streams_without_aof_are_critical_on_a_real_server() {
    let server = RedisServer::start_with(&[
        "--maxmemory-policy",
        "allkeys-lru",
        "--maxmemory",
        "1gb",
        "--appendonly",
        "no",
    ]);
    let topology = topology_file(
        "version: 1\nnamespace: app\nhealth:\n  memory: { warning: 80%, critical: 95% }\nstreams:\n  orders:\n    retention: unbounded\n    durable: true\n",
    );
    applied(&server, &topology);
    let out = status(&topology, &server.url(), "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let node = rows(&json)
        .iter()
        .find(|r| r["server"].is_string())
        .expect("the server's row");
    assert_eq!(node["server"], format!("127.0.0.1:{}", server.port));
    let mut found = checks(node);
    found.sort();
    assert_eq!(
        found,
        [
            ("durability".into(), "critical".into()),
            ("eviction".into(), "critical".into()),
        ]
    );
    assert_eq!(node["figures"]["maxmemory_policy"], "allkeys-lru");
    let used = node["figures"]["used_memory"].as_u64().expect("bytes");
    assert!(used > 100_000, "{node:#}");
    assert!(node["figures"]["memory"].is_u64(), "{node:#}");
    // `plan` says the same, as notes.
    let planned = bin()
        .arg("plan")
        .arg(topology.path())
        .args(["--url", &server.url()])
        .output()
        .expect("plan");
    let shown = text(&planned);
    assert!(
        shown.contains("has maxmemory-policy allkeys-lru")
            && shown.contains("declares durable: orders"),
        "{shown}"
    );
    // Mended: no eviction, an append-only file; a maxmemory the data nearly fills is critical.
    server.cmd::<String>(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.cmd::<String>(&["CONFIG", "SET", "appendonly", "yes"]);
    let out = status(&topology, &server.url(), "json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let limit = (used * 100 / 97).to_string();
    server.cmd::<String>(&["CONFIG", "SET", "maxmemory", &limit]);
    let out = status(&topology, &server.url(), "human");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("> critical 95%"), "{}", text(&out));
}

#[test]
fn a_user_without_the_status_permissions_is_told_which_it_lacks() {
    let server = RedisServer::start();
    let topology = topology_file(TOPOLOGY);
    applied(&server, &topology);
    // The plan user's rules from before `status`: no XPENDING.
    let mut rules: Vec<String> = [
        "ACL",
        "SETUSER",
        "old-plan",
        "on",
        ">old-pw",
        "resetchannels",
        "-@all",
    ]
    .map(str::to_owned)
    .to_vec();
    rules.extend(
        crate::util::documented_rules("topology-plan")
            .into_iter()
            .filter(|rule| rule != "+xpending"),
    );
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    server.cmd::<String>(&rules);
    let url = format!("redis://old-plan:old-pw@127.0.0.1:{}", server.port);
    let out = status(&topology, &url, "human");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("XPENDING") && shown.contains("NOPERM") && shown.contains("+xpending"),
        "{shown}"
    );
    assert!(!shown.contains("old-pw"), "{shown}");
}

#[test]
fn heartbeats_count_each_services_live_keys_on_the_server() {
    let server = RedisServer::start();
    let topology = topology_file(
        "version: 1
namespace: app
heartbeats:
  rag-worker: { keys: \"ops:hb:rag-worker:*\", instances: { warning: 2, critical: 1 } }
  persist-writer: { keys: \"ops:hb:persist-writer:*\" }
",
    );
    for id in ["a", "b"] {
        server.cmd::<String>(&["SETEX", &format!("app:ops:hb:rag-worker:{id}"), "30", "1"]);
    }
    // Not its instances: another namespace, another service; and enough other keys that
    // SCAN takes several rounds.
    server.cmd::<String>(&["SET", "other:ops:hb:rag-worker:c", "1"]);
    server.cmd::<String>(&["SET", "app:ops:hb:rag-worker-old", "1"]);
    let mut filler = vec!["MSET".to_owned()];
    for n in 0..3_000 {
        filler.push(format!("app:filler:{n}"));
        filler.push("x".to_owned());
    }
    let filler: Vec<&str> = filler.iter().map(String::as_str).collect();
    server.cmd::<String>(&filler);
    let url = server.url();
    let heartbeat = |json: &Value, name: &str| -> Value {
        rows(json)
            .iter()
            .find(|r| r["heartbeat"] == name)
            .unwrap_or_else(|| panic!("no heartbeat {name} in {json:#}"))
            .clone()
    };
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(heartbeat(&json, "rag-worker")["figures"]["instances"], 2);
    assert_eq!(
        heartbeat(&json, "persist-writer")["figures"]["instances"],
        0
    );
    assert_eq!(
        heartbeat(&json, "persist-writer")["status"],
        "ok",
        "no levels"
    );
    server.cmd::<i64>(&["DEL", "app:ops:hb:rag-worker:a"]);
    let out = status(&topology, &url, "human");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("instances 1 < warning 2"),
        "{}",
        text(&out)
    );
    server.cmd::<i64>(&["DEL", "app:ops:hb:rag-worker:b"]);
    let out = status(&topology, &url, "prometheus");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let samples = parsed_by_prometheus_client(&String::from_utf8(out.stdout).expect("UTF-8"));
    assert!(
        samples
            .iter()
            .any(|(n, labels, v)| n == "redis_topology_heartbeat_instances"
                && labels["heartbeat"] == "rag-worker"
                && *v == 0.0),
        "{samples:?}"
    );
    // The documented plan user may count them.
    let plan_url = create_tool_user(&server, "topology-plan", &["app"]);
    let out = status(&topology, &plan_url, "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn a_heartbeat_stream_gone_quiet_breaks_newest_age() {
    let server = RedisServer::start();
    let topology = topology_file(
        "version: 1
namespace: app
streams:
  ops:health:
    retention: { maxlen: 1000 }
    health: { newest_age: { warning: 1m, critical: 10m } }
  quiet:
    retention: { maxlen: 1000 }
",
    );
    applied(&server, &topology);
    let url = create_tool_user(&server, "topology-plan", &["app"]);
    let health_row = |out: &std::process::Output| -> Value {
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        row(&json, "ops:health", None).clone()
    };
    // Empty: no heartbeat ever, the worst level declared.
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(health_row(&out)["figures"]["newest_age"], Value::Null);
    let now: Vec<String> = server.cmd(&["TIME"]);
    let now_ms: u64 = now[0].parse::<u64>().expect("seconds") * 1000;
    server.cmd::<String>(&[
        "XADD",
        "app:ops:health",
        &id(now_ms - 300_000, 0),
        "up",
        "1",
    ]);
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let age = health_row(&out)["figures"]["newest_age"]
        .as_f64()
        .expect("an age");
    assert!((299.0..330.0).contains(&age), "5 minutes: {age}");
    server.cmd::<String>(&["XADD", "app:ops:health", "*", "up", "1"]);
    let out = status(&topology, &url, "json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        row(&json, "quiet", None)["figures"]
            .get("newest_age")
            .is_none(),
        "read only where checked: {json:#}"
    );
}

/// `status` reads ahead, while the file is validated, what the namespace's record names;
/// what the file declares since (a group, a stream) is read too, what it no longer
/// declares is left out, and the report is the one a read without reading ahead gives (a
/// namespace written with an anchor is not guessed from the file's first lines).
#[test]
fn what_the_record_names_is_read_ahead_and_the_report_is_the_same() {
    let server = RedisServer::start();
    let url = server.url();
    let applied_topology = topology_file(
        "version: 1\nnamespace: ahead\nstreams:\n  a:\n    retention: unbounded\n    groups: { g1: { start: \"0\" }, old: { start: \"0\" } }\n  c:\n    retention: unbounded\n",
    );
    applied(&server, &applied_topology);
    for n in 0..3 {
        server.cmd::<String>(&["XADD", "ahead:a", "*", "n", &n.to_string()]);
    }
    let later = "streams:\n  a:\n    retention: unbounded\n    groups: { g1: { start: \"0\" }, g2: { start: \"0\" } }\n  b:\n    retention: unbounded\n";
    let guessed = topology_file(&format!("version: 1\nnamespace: ahead\n{later}"));
    let not_guessed = topology_file(&format!("version: 1\nnamespace: &ns ahead\n{later}"));

    let reports: Vec<Value> = [&guessed, &not_guessed]
        .into_iter()
        .map(|topology| {
            let out = status(topology, &url, "json");
            assert_eq!(out.status.code(), Some(3), "{}", text(&out));
            let mut json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
            // Ages move with the clock between the two runs, and memory with the server.
            for row in json["rows"].as_array_mut().expect("rows") {
                row["figures"]
                    .as_object_mut()
                    .expect("figures")
                    .retain(|name, _| !name.ends_with("_age") && name != "used_memory");
            }
            json
        })
        .collect();
    let json = &reports[0];
    assert_eq!(row(json, "a", Some("g1"))["figures"]["lag"], 3);
    assert_eq!(row(json, "a", Some("g2"))["status"], "critical", "{json:#}");
    assert_eq!(row(json, "b", None)["status"], "critical", "{json:#}");
    assert!(
        !rows(json).iter().any(|r| r["group"] == "old"),
        "a group the file no longer declares is not reported: {json:#}"
    );
    assert!(
        !rows(json).iter().any(|r| r["stream"] == "c"),
        "nor a stream (read ahead, the record naming it): {json:#}"
    );
    assert_eq!(reports[0]["rows"], reports[1]["rows"]);
}

/// The second phase (each group's next undelivered entry) goes out for each stream as soon
/// as its first phase is in, while the other streams' replies still come: over several
/// batches, every group gets the age of its own next entry, and a group with nothing
/// undelivered is not read again.
#[test]
fn each_group_gets_its_own_next_undelivered_entry_across_batches() {
    const STREAMS: u64 = 250;
    let server = RedisServer::start();
    let mut yaml = String::from("version: 1\nnamespace: app\nstreams:\n");
    for i in 0..STREAMS {
        yaml.push_str(&format!(
            "  s{i}:\n    retention: unbounded\n    groups: {{ a: {{ start: \"0\" }}, b: {{ start: \"0\" }}, c: {{ start: \"0\" }} }}\n"
        ));
    }
    let topology = topology_file(&yaml);
    applied(&server, &topology);
    let now: Vec<String> = server.cmd(&["TIME"]);
    let now_ms: u64 = now[0].parse::<u64>().expect("seconds") * 1000;
    // Stream i's entry n is 1000 + 10 i - n seconds old. `a` takes one entry, `b` all
    // three, `c` none.
    let mut load = redis::pipe();
    for i in 0..STREAMS {
        let key = format!("app:s{i}");
        for n in 0..3 {
            let at = now_ms - (1000 + 10 * i - n) * 1000;
            load.cmd("XADD").arg(&key).arg(id(at, n)).arg("n").arg(n);
        }
        for (group, count) in [("a", 1), ("b", 3)] {
            load.cmd("XREADGROUP")
                .arg("GROUP")
                .arg(group)
                .arg("c1")
                .arg("COUNT")
                .arg(count)
                .arg("STREAMS")
                .arg(&key)
                .arg(">");
        }
    }
    load.query::<()>(&mut server.con()).expect("backlog");

    let out = status(&topology, &server.url(), "json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let age_of = |stream: &str, group: &str| {
        row(&json, stream, Some(group))["figures"]["lag_age"]
            .as_f64()
            .unwrap_or_else(|| panic!("no lag_age for {stream}/{group}"))
    };
    for i in 0..STREAMS {
        let stream = format!("s{i}");
        // Read a few seconds after the entries were dated: never younger, never much older.
        for (group, expected) in [("a", 1000 + 10 * i - 1), ("c", 1000 + 10 * i)] {
            let age = age_of(&stream, group);
            let expected = expected as f64;
            assert!(
                (expected..expected + 30.0).contains(&age),
                "{stream}/{group}: lag_age {age}, expected {expected}"
            );
        }
        assert_eq!(age_of(&stream, "b"), 0.0, "{stream}/b has read everything");
        assert_eq!(row(&json, &stream, Some("a"))["figures"]["lag"], 2);
    }
    // One `XRANGE` per stream for its first entry, and one per group behind (`a`, `c`).
    let calls = server.calls("xrange");
    assert_eq!(calls, STREAMS * 3, "XRANGE calls");
}
