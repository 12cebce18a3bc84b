//! `plan` and `apply` against a real redis-server, through the real binary.

use std::process::Output;

use serde_json::Value;

use super::redis::RedisServer;
use super::util::{bin, text, topology_file};

/// Commands that change data or state; `plan` must never send one, and a second `apply`
/// neither.
const WRITES: &[&str] = &[
    "xgroup", "xtrim", "set", "del", "unlink", "eval", "xadd", "xdel", "xsetid", "expire",
    "pexpire",
];

const TOPOLOGY: &str = "\
version: 1
namespace: app
streams:
  orders:
    retention: { maxlen: 100, approximate: false }
    groups:
      billing: { start: \"0\" }
      shipping: {}
  audit:
    retention: unbounded
";

struct Fixture {
    server: RedisServer,
    file: tempfile::NamedTempFile,
}

impl Fixture {
    fn new(topology: &str) -> Fixture {
        Fixture {
            server: RedisServer::start(),
            file: topology_file(topology),
        }
    }

    fn rewrite(&mut self, topology: &str) {
        self.file = topology_file(topology);
    }

    fn run(&self, args: &[&str]) -> Output {
        bin()
            .args(args)
            .arg(self.file.path())
            .arg("--url")
            .arg(self.server.url())
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run redis-topology")
    }

    fn apply(&self) -> String {
        let out = self.run(&["apply", "--yes"]);
        assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out));
        text(&out)
    }

    fn plan_json(&self) -> Value {
        let out = self.run(&["plan", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "plan failed: {}", text(&out));
        serde_json::from_slice(&out.stdout).expect("plan JSON")
    }

    /// Fail unless the server ran no write command since `CONFIG RESETSTAT`.
    fn assert_no_writes(&self, what: &str) {
        let writes = self.writes_since_reset();
        assert!(writes.is_empty(), "{what} wrote: {writes:?}");
    }

    fn writes_since_reset(&self) -> Vec<String> {
        self.server
            .commandstats()
            .into_iter()
            .filter(|c| WRITES.contains(&c.split('|').next().unwrap_or_default()))
            .collect()
    }
}

/// The names of a stream's groups, in the server's order.
pub(super) fn groups(server: &RedisServer, key: &str) -> Vec<String> {
    let groups: Vec<redis::Value> = server.cmd(&["XINFO", "GROUPS", key]);
    groups
        .iter()
        .filter_map(|g| match g {
            redis::Value::Array(fields) => fields.chunks(2).find_map(|pair| match pair {
                [redis::Value::BulkString(k), redis::Value::BulkString(v)] if k == b"name" => {
                    Some(String::from_utf8_lossy(v).into_owned())
                }
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

#[test]
fn apply_creates_then_a_second_apply_writes_nothing() {
    let f = Fixture::new(TOPOLOGY);
    let first = f.apply();
    assert!(first.contains("Apply complete"), "{first}");
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "stream");
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:audit"]), "stream");
    assert_eq!(
        f.server.cmd::<i64>(&["XLEN", "app:audit"]),
        0,
        "created empty"
    );
    assert_eq!(groups(&f.server, "app:orders"), ["billing", "shipping"]);
    assert!(
        groups(&f.server, "app:audit").is_empty(),
        "the helper group is gone"
    );
    let record: String = f.server.cmd(&["GET", "{__topology__:app}:record"]);
    assert!(record.contains("\"app:orders\""), "{record}");

    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let second = f.apply();
    assert!(second.contains("No changes."), "{second}");
    f.assert_no_writes("second apply");
}

#[test]
fn plan_is_read_only() {
    let f = Fixture::new(TOPOLOGY);
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let plan = f.plan_json();
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["summary"]["create"], 5, "{plan:#}");
    f.assert_no_writes("plan");
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "none");
}

#[test]
fn drift_is_planned_and_repaired() {
    let f = Fixture::new(TOPOLOGY);
    f.apply();
    f.server
        .cmd::<i64>(&["XGROUP", "DESTROY", "app:orders", "billing"]);
    let plan = f.plan_json();
    let changes = plan["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2, "the group, then the record: {plan:#}");
    assert_eq!(changes[1]["address"], "record");
    assert_eq!(changes[0]["address"], "group.orders.billing");
    assert_eq!(changes[0]["action"], "create");
    assert_eq!(
        changes[0]["commands"][0],
        serde_json::json!(["XGROUP", "CREATE", "app:orders", "billing", "0", "MKSTREAM"])
    );
    f.apply();
    assert_eq!(groups(&f.server, "app:orders"), ["billing", "shipping"]);
    assert_eq!(f.plan_json()["changes"], serde_json::json!([]));
}

#[test]
fn a_wrong_type_key_stops_apply_before_any_write() {
    let f = Fixture::new(TOPOLOGY);
    f.server
        .cmd::<String>(&["SET", "app:orders", "not a stream"]);
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let out = f.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("key `app:orders` exists and holds a string"),
        "{}",
        text(&out)
    );
    f.assert_no_writes("a refused apply");
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:audit"]), "none");
}

#[test]
fn retention_is_enforced_with_xtrim() {
    let f = Fixture::new(TOPOLOGY);
    f.apply();
    for i in 0..250 {
        f.server
            .cmd::<String>(&["XADD", "app:orders", "*", "n", &i.to_string()]);
    }
    let plan = f.plan_json();
    let change = &plan["changes"][0];
    assert_eq!(change["address"], "retention.orders");
    assert_eq!(
        change["commands"][0],
        serde_json::json!(["XTRIM", "app:orders", "MAXLEN", "100"])
    );
    assert!(
        change["reason"]
            .as_str()
            .is_some_and(|r| r.contains("removes 150 entries")),
        "{change:#}"
    );
    f.apply();
    assert_eq!(f.server.cmd::<i64>(&["XLEN", "app:orders"]), 100);
    assert_eq!(f.plan_json()["changes"], serde_json::json!([]));
}

/// `max_age` against a real server: entries older than the bound are counted and trimmed
/// with MINID. The stream is recorded by then, so the second plan reads it while the file is
/// still being validated, and probes its age afterwards.
#[test]
fn max_age_is_enforced_with_minid() {
    let f = Fixture::new(
        "version: 1\nnamespace: app\nstreams:\n  events:\n    retention: { max_age: 1h, approximate: false }\n",
    );
    f.apply();
    for seq in 1..=150 {
        f.server
            .cmd::<String>(&["XADD", "app:events", &format!("1000-{seq}"), "old", "1"]);
    }
    for _ in 0..3 {
        f.server
            .cmd::<String>(&["XADD", "app:events", "*", "new", "1"]);
    }
    let plan = f.plan_json();
    let change = &plan["changes"][0];
    assert_eq!(change["address"], "retention.events", "{plan:#}");
    assert_eq!(change["commands"][0][2], "MINID", "{change:#}");
    f.apply();
    assert_eq!(f.server.cmd::<i64>(&["XLEN", "app:events"]), 3);
    assert_eq!(f.plan_json()["changes"], serde_json::json!([]));
}

/// An environment with a namespace of its own: the namespace at the top of the file is not
/// the one applied, so what was read for it ahead of time must be set aside.
#[test]
fn an_environment_namespace_is_read_as_its_own() {
    let topology =
        format!("{TOPOLOGY}environments:\n  dev: {{}}\n  prod:\n    namespace: app-prod\n");
    let f = Fixture::new(&topology);
    let out = f.run(&["apply", "--yes", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = f.run(&["apply", "--yes", "--env", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "app-prod:orders"]),
        "stream"
    );
    let out = f.run(&["plan", "--env", "prod", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn prune_deletes_only_recorded_streams() {
    let mut f = Fixture::new(TOPOLOGY);
    f.apply();
    f.server
        .cmd::<String>(&["XADD", "app:foreign", "*", "f", "v"]);
    f.server
        .cmd::<String>(&["XADD", "app:audit", "*", "f", "v"]);
    f.rewrite("version: 1\nnamespace: app\nstreams:\n  orders:\n    retention: { maxlen: 100 }\n    groups: { billing: { start: \"0\" }, shipping: {} }\n");
    let kept = f.apply();
    assert!(
        kept.contains("`app:audit` (1 entries) is no longer declared; kept"),
        "{kept}"
    );
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:audit"]), "stream");
    let out = f.run(&["apply", "--yes", "--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("(destructive)"), "{}", text(&out));
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:audit"]), "none");
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "app:foreign"]),
        "stream",
        "never recorded, never deleted"
    );
}

#[test]
fn environments_are_guarded() {
    let topology = format!("{TOPOLOGY}environments:\n  dev: {{}}\n  prod: {{}}\n");
    let f = Fixture::new(&topology);
    let out = f.run(&["apply", "--yes", "--env", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = f.run(&["apply", "--yes", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("was applied for environment `prod`, not environment `dev`"),
        "{}",
        text(&out)
    );
    let out = f.run(&["plan"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("say which one with --env"),
        "{}",
        text(&out)
    );
}

#[test]
fn saved_plans_are_refused_when_the_server_changed() {
    let f = Fixture::new(TOPOLOGY);
    let dir = tempfile::tempdir().expect("dir");
    let saved = dir.path().join("plan.json");
    let saved = saved.to_str().expect("utf-8 path");
    let out = f.run(&["plan", "--out", saved]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    f.server
        .cmd::<String>(&["XGROUP", "CREATE", "app:orders", "billing", "0", "MKSTREAM"]);
    let out = f.run(&["apply", "--yes", "--plan", saved]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("the saved plan is not what the topology and the server give now")
            && text(&out).contains("change 2: the saved plan has `stream.orders` (create), a plan made now has `group.orders.shipping` (create)"),
        "{}",
        text(&out)
    );
    assert!(
        groups(&f.server, "app:orders").len() == 1,
        "nothing applied"
    );

    let out = f.run(&["plan", "--out", saved]);
    assert_eq!(out.status.code(), Some(0));
    let out = f.run(&["apply", "--yes", "--plan", saved]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(groups(&f.server, "app:orders"), ["billing", "shipping"]);
}

#[test]
fn apply_off_a_terminal_needs_yes() {
    let f = Fixture::new(TOPOLOGY);
    let out = f.run(&["apply"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("add --yes"), "{}", text(&out));
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "none");
}

#[test]
fn detailed_exitcode() {
    let f = Fixture::new(TOPOLOGY);
    assert_eq!(
        f.run(&["plan", "--detailed-exitcode"]).status.code(),
        Some(2)
    );
    f.apply();
    assert_eq!(
        f.run(&["plan", "--detailed-exitcode"]).status.code(),
        Some(0)
    );
}

#[test]
fn connection_errors_are_one_line_without_secrets() {
    let file = topology_file(TOPOLOGY);
    let out = bin()
        .args(["plan"])
        .arg(file.path())
        .args(["--url", "redis://app:sekret-pw@127.0.0.1:1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(
        all.contains("cannot connect to redis://app:***@127.0.0.1:1"),
        "{all}"
    );
    assert!(!all.contains("sekret-pw"), "{all}");
    assert_eq!(
        all.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{all}"
    );
}

#[test]
fn bad_credentials_and_noperm_are_clear() {
    let server = RedisServer::start_with(&["--requirepass", "right-pw"]);
    let file = topology_file(TOPOLOGY);
    let url = format!("redis://:wrong-pw@127.0.0.1:{}", server.port);
    let out = bin()
        .arg("plan")
        .arg(file.path())
        .args(["--url", &url])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(
        !all.contains("wrong-pw") && !all.contains("right-pw"),
        "{all}"
    );
    assert!(
        all.to_lowercase().contains("auth") || all.contains("WRONGPASS"),
        "{all}"
    );

    let admin = format!("redis://:right-pw@127.0.0.1:{}", server.port);
    let mut con = redis::Client::open(admin.as_str())
        .expect("client")
        .get_connection()
        .expect("connect");
    redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "reader",
            "on",
            ">reader-pw",
            "~*",
            "-@all",
            // The plan user of docs/operations.md.
            "+ping",
            "+time",
            "+config|get",
            "+get",
            "+xlen",
            "+xinfo|groups",
            "+xinfo|stream",
            "+xrange",
            "+type",
        ])
        .query::<()>(&mut con)
        .expect("setuser");
    let url = format!("redis://reader:reader-pw@127.0.0.1:{}", server.port);
    let out = bin()
        .arg("plan")
        .arg(file.path())
        .args(["--url", &url])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a read-only user can plan: {}",
        text(&out)
    );
    let out = bin()
        .args(["apply", "--yes"])
        .arg(file.path())
        .args(["--url", &url])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(all.contains("NOPERM"), "{all}");
    assert!(!all.contains("reader-pw"), "{all}");
}

#[test]
fn a_held_lock_is_waited_for_then_named() {
    let f = Fixture::new(TOPOLOGY);
    f.server.cmd::<String>(&[
        "SET",
        "{__topology__:app}:lock",
        "ci-host/pid 42/since 0/abc",
        "PX",
        "60000",
    ]);
    let out = f.run(&["apply", "--yes", "--lock-timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(
            "another apply holds the lock `{__topology__:app}:lock` (ci-host/pid 42/since 0)"
        ),
        "{}",
        text(&out)
    );
    // A lock about to expire is outlasted.
    f.server.cmd::<String>(&[
        "SET",
        "{__topology__:app}:lock",
        "ci-host/pid 42/since 0/abc",
        "PX",
        "500",
    ]);
    let out = f.run(&["apply", "--yes", "--lock-timeout", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "{__topology__:app}:lock"]),
        "none",
        "released"
    );
}

/// A large apply killed with SIGKILL at a random point leaves a state the next apply
/// completes: its lock is taken over (its holder is gone) or expires, the helper groups and
/// missing groups are planned, and the result is exactly the topology.
#[test]
fn kill_9_in_the_middle_then_apply_again_converges() {
    use std::fmt::Write as _;
    let mut topology = String::from("version: 1\nnamespace: big\nstreams:\n");
    for i in 0..15_000 {
        let _ = writeln!(
            topology,
            "  s{i}:\n    retention: {{ maxlen: 1000 }}\n    groups: {{ a: {{}}, b: {{ start: \"0\" }} }}"
        );
    }
    for i in 0..2_000 {
        let _ = writeln!(topology, "  empty{i}: {{ retention: unbounded }}");
    }
    let f = Fixture::new(&topology);
    let mut child = bin()
        .args(["apply", "--yes", "--lock-timeout", "20"])
        .arg(f.file.path())
        .arg("--url")
        .arg(f.server.url())
        // Long enough that a busy machine (CI runs tests side by side, and a build may run
        // beside it) does not stop it first for want of a renewal: with 5 s, two runs on a
        // loaded machine ended before writing anything. The next apply does not wait it
        // out: the killed holder's connection is gone, so its lock is taken over.
        .env("REDIS_TOPOLOGY_LOCK_LEASE_MS", "15000")
        .spawn_stdio_null();
    // Kill it once some, but not all, streams exist.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let keys: i64 = f.server.cmd(&["DBSIZE"]);
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        assert!(
            !exited,
            "the first apply ended before it was killed ({keys} keys)"
        );
        if keys > 500 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let keys: i64 = f.server.cmd(&["DBSIZE"]);
    assert!(
        keys < 17_000,
        "the apply finished before it was killed ({keys} keys); make the topology larger"
    );

    let out = bin()
        .args(["apply", "--yes", "--lock-timeout", "20"])
        .arg(f.file.path())
        .arg("--url")
        .arg(f.server.url())
        .output()
        .expect("second apply");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "not converged: {}", text(&out));
    // 17,000 streams, the record, no lock.
    assert_eq!(f.server.cmd::<i64>(&["DBSIZE"]), 17_001);
    assert_eq!(groups(&f.server, "big:s14999"), ["a", "b"]);
    assert!(groups(&f.server, "big:empty1999").is_empty());
}

trait SpawnQuiet {
    fn spawn_stdio_null(&mut self) -> std::process::Child;
}

impl SpawnQuiet for assert_cmd::Command {
    fn spawn_stdio_null(&mut self) -> std::process::Child {
        let mut command = std::process::Command::new(self.get_program());
        command.args(self.get_args());
        for (key, value) in self.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = self.get_current_dir() {
            command.current_dir(dir);
        }
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn apply")
    }
}

/// Run the binary with `args`, the topology `file` and `--url url`.
fn run_at(url: &str, file: &tempfile::NamedTempFile, args: &[&str]) -> Output {
    bin()
        .args(args)
        .arg(file.path())
        .args(["--url", url])
        .output()
        .expect("run redis-topology")
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl command.
pub fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the TLS test needs the openssl command: apt-get install -y openssl (.ci/run does this)");
        assert!(status.success(), "openssl {args:?}");
    };
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("write ext.cnf");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
}

#[test]
fn tls_with_a_private_ca() {
    let certs = tempfile::tempdir().expect("dir");
    make_certificates(certs.path());
    let Some(server) = RedisServer::start_tls(
        "tls_with_a_private_ca",
        &certs.path().join("server.pem"),
        &certs.path().join("server.key"),
    ) else {
        return; // the server was built without TLS: start_tls printed why
    };
    let file = topology_file(TOPOLOGY);
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let run = |args: &[&str]| run_at(&url, &file, args);
    let untrusted = run(&["plan"]);
    assert_eq!(untrusted.status.code(), Some(1), "{}", text(&untrusted));
    assert!(
        text(&untrusted).contains("cannot connect to rediss://"),
        "{}",
        text(&untrusted)
    );
    let ca = certs.path().join("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");
    let applied = run(&["apply", "--yes", "--tls-ca-cert", ca]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let planned = run(&["plan", "--detailed-exitcode", "--tls-ca-cert", ca]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
}

/// A database number and a user in the URL hold for every connection, the bulk reader's
/// included: apply writes to database 3 as that user, and the plan after it, which reads
/// every stream through the bulk reader, finds nothing to change.
#[test]
fn the_url_database_and_user_hold_for_every_connection() {
    let server = RedisServer::start();
    server.cmd::<String>(&[
        "ACL",
        "SETUSER",
        "tool",
        "on",
        ">t0p-s3cret",
        "~*",
        "&*",
        "+@all",
    ]);
    let file = topology_file(TOPOLOGY);
    let url = format!("redis://tool:t0p-s3cret@127.0.0.1:{}/3", server.port);
    let run = |args: &[&str]| run_at(&url, &file, args);
    let applied = run(&["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let mut con = server.con();
    let in_db = |con: &mut redis::Connection, db: &str| -> String {
        redis::cmd("SELECT")
            .arg(db)
            .query::<()>(con)
            .expect("select");
        redis::cmd("TYPE")
            .arg("app:orders")
            .query(con)
            .expect("type")
    };
    assert_eq!(in_db(&mut con, "3"), "stream");
    assert_eq!(in_db(&mut con, "0"), "none");
    let planned = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    for out in [&applied, &planned] {
        assert!(!text(out).contains("t0p-s3cret"), "{}", text(out));
    }
}

/// Ctrl-C in the middle of a large apply: it stops, says so, releases its lock at once, and
/// the next apply completes the work.
#[test]
#[allow(unsafe_code)] // kill(2) below: no safe way to send SIGINT to the child
fn ctrl_c_releases_the_lock_and_the_next_apply_completes() {
    use std::fmt::Write as _;
    let mut topology = String::from("version: 1\nnamespace: big\nstreams:\n");
    for i in 0..15_000 {
        let _ = writeln!(
            topology,
            "  s{i}:\n    retention: unbounded\n    groups: {{ a: {{}} }}"
        );
    }
    let f = Fixture::new(&topology);
    // Through a proxy that delays every chunk: the apply's later batches are still on their
    // way when the signal comes, however fast the machine (CI saw 15,000 streams applied
    // before a poll that a busy machine ran late).
    let proxy = crate::proxy::Proxy::start(f.server.port);
    proxy.delay(std::time::Duration::from_millis(30));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_redis-topology"))
        .args(["apply", "--yes"])
        .arg(f.file.path())
        .args(["--url", &proxy.url()])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn apply");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while f.server.cmd::<i64>(&["DBSIZE"]) < 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let pid = i32::try_from(child.id()).expect("pid fits in pid_t");
    // SAFETY: kill(2) with a child's pid and a standard signal number has no memory effects.
    let sent = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(sent, 0, "SIGINT delivered");
    let out = child.wait_with_output().expect("wait for apply");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(0),
        "apply finished before the signal; make the topology larger"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "{__topology__:big}:lock"]),
        "none",
        "lock released"
    );
    let again = f.run(&["apply", "--yes", "--lock-timeout", "1"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        f.run(&["plan", "--detailed-exitcode"]).status.code(),
        Some(0)
    );
}

/// On a terminal, apply asks and proceeds only on `yes`. The terminal is a pty made by
/// `script` (util-linux, part of every Debian).
#[test]
fn apply_asks_on_a_terminal() {
    use std::io::Write as _;
    let f = Fixture::new(TOPOLOGY);
    let command = format!(
        "{} apply {} --url {}",
        env!("CARGO_BIN_EXE_redis-topology"),
        f.file.path().display(),
        f.server.url()
    );
    let answer = |reply: &str| {
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the prompt test needs `script` (util-linux)");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(reply.as_bytes());
        }
        let out = child.wait_with_output().expect("wait");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let declined = answer("no\n");
    assert!(declined.contains("Only `yes` is accepted"), "{declined}");
    assert!(
        declined.contains("apply cancelled; nothing was applied"),
        "{declined}"
    );
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "none");
    let accepted = answer("yes\n");
    assert!(accepted.contains("Apply complete"), "{accepted}");
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "stream");
}

#[test]
fn a_group_start_past_the_last_entry_is_refused() {
    let mut f =
        Fixture::new("version: 1\nnamespace: app\nstreams:\n  s:\n    retention: unbounded\n");
    f.apply();
    f.server.cmd::<String>(&["XADD", "app:s", "5-0", "f", "v"]);
    f.rewrite("version: 1\nnamespace: app\nstreams:\n  s:\n    retention: unbounded\n    groups:\n      late: { start: \"9-0\" }\n");
    let out = f.run(&["plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("would start at 9-0, after the stream's last entry ID 5-0"),
        "{}",
        text(&out)
    );
    f.rewrite("version: 1\nnamespace: app\nstreams:\n  s:\n    retention: unbounded\n    groups:\n      replay: { start: \"5-0\", entries_read: 1 }\n");
    f.apply();
    assert_eq!(groups(&f.server, "app:s"), ["replay"]);
}
