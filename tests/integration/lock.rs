//! Drills of the apply lock, through the real binary against a real redis-server: a user
//! that may not run the lock's scripts, an apply killed while it holds the lock, applies
//! racing each other, and an apply whose link stalls until its lease runs out.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::proxy::Proxy;
use super::redis::RedisServer;
use super::util::{bin, documented_rules, text, topology_file};

const LOCK: &str = "{__topology__:app}:lock";
const RECORD: &str = "{__topology__:app}:record";

use super::util::ORDERS_AND_AUDIT as TOPOLOGY;

/// Run an apply to its end (at most `limit`) with these extra variables.
fn apply(url: &str, file: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut command = bin();
    command
        .args(["apply", "--yes"])
        .args(args)
        .arg(file)
        .args(["--url", url]);
    for (name, value) in env {
        command.env(name, value);
    }
    command.timeout(limit).output().expect("run apply")
}

/// Start an apply in the background, its output going to `out` (a file: a pipe nobody reads
/// would block an apply printing a large plan).
fn spawn_apply(url: &str, file: &Path, lease_ms: &str, out: &Path) -> Child {
    let log = std::fs::File::create(out).expect("output file");
    let log_err = log.try_clone().expect("output file");
    Command::new(env!("CARGO_BIN_EXE_redis-topology"))
        .args(["apply", "--yes"])
        .arg(file)
        .args(["--url", url])
        .env("NO_COLOR", "1")
        .env("REDIS_TOPOLOGY_LOCK_LEASE_MS", lease_ms)
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .spawn()
        .expect("spawn apply")
}

/// Poll `condition` until it holds; fail after `limit`, saying what was awaited.
pub(super) fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait for a child that should end by itself, killing it after `limit`.
pub(super) fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the apply did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exists(server: &RedisServer, key: &str) -> bool {
    server.cmd::<i64>(&["EXISTS", key]) == 1
}

/// A condition for [`Proxy::stall_when`], asked of the server directly.
pub(super) fn server_condition(
    server: &RedisServer,
    condition: impl Fn(&mut redis::Connection) -> bool + Send + Sync + 'static,
) -> impl Fn() -> bool + Send + Sync + 'static {
    let con = Mutex::new(server.con());
    move || condition(&mut con.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Create the apply user of docs/operations.md, but for the rule `without` (none: ""), and
/// give the URL that logs in as it on `port` (the server's, or a proxy's).
fn apply_user(server: &RedisServer, without: &str, port: u16) -> String {
    let rules = documented_rules("topology-apply");
    assert!(
        without.is_empty() || rules.iter().any(|r| r == without),
        "the documented apply user has {without}: {rules:?}"
    );
    let mut args = vec![
        "ACL",
        "SETUSER",
        "topology-apply",
        "reset",
        "on",
        ">apply-pw",
        "resetchannels",
        "-@all",
    ];
    args.extend(
        rules
            .iter()
            .map(String::as_str)
            .filter(|rule| *rule != without),
    );
    server.cmd::<String>(&args);
    format!("redis://topology-apply:apply-pw@127.0.0.1:{port}")
}

/// Today a plain `SET NX` took the lock and the failed release was ignored: apply exited 0
/// and left a lock that blamed a process that had exited.
#[test]
fn a_user_without_eval_fails_at_the_lock_and_leaves_none() {
    let server = RedisServer::start();
    let file = topology_file(TOPOLOGY);
    let limit = Duration::from_secs(120);
    let url = apply_user(&server, "+eval", server.port);
    let out = apply(&url, file.path(), &[], &[], limit);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("EVAL") && all.contains("NOPERM"), "{all}");
    assert!(all.contains("+eval"), "says what to add: {all}");
    assert!(!all.contains("apply-pw"), "{all}");
    assert!(!exists(&server, LOCK), "no lock left: {all}");
    assert!(!exists(&server, "app:orders"), "nothing applied: {all}");
    // The same user with `+eval` applies: nothing else was missing.
    let url = apply_user(&server, "", server.port);
    let out = apply(&url, file.path(), &[], &[], limit);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(exists(&server, "app:orders"));
    assert!(!exists(&server, LOCK), "released");
}

/// A user with `+eval` but without a command the lock's script runs (`SET`): the server
/// refuses inside the script with a plain `ERR`, worded one way by Redis 7.0 and another by
/// 7.2+ and Valkey; on every one, apply stops at the lock and says which rules the scripts need.
#[test]
fn a_user_without_a_command_the_lock_script_runs_is_told_the_rules() {
    let server = RedisServer::start();
    let file = topology_file(TOPOLOGY);
    let url = apply_user(&server, "+set", server.port);
    let out = apply(&url, file.path(), &[], &[], Duration::from_secs(120));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("EVAL failed: ERR"), "{all}");
    assert!(
        all.contains("the apply user needs `+eval` and, for the commands the lock's scripts run, `+get +set +del +pexpire +pttl`"),
        "says what to add: {all}"
    );
    assert!(!exists(&server, LOCK), "no lock taken: {all}");
    assert!(!exists(&server, "app:orders"), "nothing applied: {all}");
}

/// An apply killed while it holds the lock: the next one sees that the holder's connection
/// is gone and takes the lock over at once. The lease (60 s) and the second apply's lock
/// timeout (30 s) are long: waiting the lock out fails the test.
#[test]
fn a_killed_apply_is_taken_over_at_once() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port);
    let file = topology_file(TOPOLOGY);
    let dir = tempfile::tempdir().expect("dir");
    // Freeze the first apply on its first request after taking the lock.
    proxy.stall_when(server_condition(&server, |con| {
        redis::cmd("EXISTS")
            .arg(LOCK)
            .query::<i64>(con)
            .is_ok_and(|n| n == 1)
    }));
    // As the apply user of docs/operations.md: its rules cover recording its connection
    // (the first apply) and checking the holder's (the second).
    let mut first = spawn_apply(
        &apply_user(&server, "", proxy.port()),
        file.path(),
        "60000",
        &dir.path().join("first"),
    );
    wait_for(
        "the first apply to take the lock",
        Duration::from_secs(120),
        || {
            if let Ok(Some(status)) = first.try_wait() {
                panic!("the first apply ended ({status}) before it was stalled");
            }
            proxy.is_stalled()
        },
    );
    let holder: String = server.cmd(&["GET", LOCK]);
    assert!(
        holder.contains(&format!("/pid {}/", first.id())),
        "held by the first apply: {holder}"
    );
    assert!(
        holder.contains("/client "),
        "names its connection: {holder}"
    );
    let _ = first.kill(); // SIGKILL
    let _ = first.wait();
    // The killed process's connections close, as the kernel closes them.
    proxy.cut();

    let lease = [("REDIS_TOPOLOGY_LOCK_LEASE_MS", "60000")];
    let out = apply(
        &apply_user(&server, "", server.port),
        file.path(),
        &["--lock-timeout", "30"],
        &lease,
        Duration::from_secs(50),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "took over the apply lock from {}",
            holder.rsplit_once('/').map_or("", |(shown, _)| shown)
        )),
        "says whose lock it took: {}",
        text(&out)
    );
    assert!(!exists(&server, LOCK), "released");
    assert!(exists(&server, RECORD));
    let out = bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(file.path())
        .args(["--url", &server.url()])
        .output()
        .expect("plan");
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
}

/// The lock is taken over only from a holder whose connection is gone: a live holder (here
/// a connection that took the lock as an apply would, then stays open) is waited for, and
/// the message names it with the lock's real remaining time.
#[test]
fn a_live_holder_is_waited_for_and_named_with_its_remaining_time() {
    let server = RedisServer::start();
    let file = topology_file(TOPOLOGY);
    // As the apply user of docs/operations.md: its rules cover reading the holder's PTTL
    // and checking its connection.
    let url = apply_user(&server, "", server.port);
    let mut holder = server.con();
    let id: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query(&mut holder)
        .expect("CLIENT ID");
    // The holder's name is server text: a forged one must not reach the terminal raw.
    let token = format!("ci-host\u{1b}[2J/pid 42/since 0/client {id}/abc");
    redis::cmd("SET")
        .arg(LOCK)
        .arg(&token)
        .arg("PX")
        .arg(600_000)
        .query::<()>(&mut holder)
        .expect("SET");
    let out = apply(
        &url,
        file.path(),
        &["--lock-timeout", "1"],
        &[],
        Duration::from_secs(60),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "another apply holds the lock `{LOCK}` (ci-host\\u{{1b}}[2J/pid 42/since 0/client {id}); waited 1s: the lock expires in "
        )),
        "{all}"
    );
    assert!(!all.contains('\u{1b}'), "escaped: {all}");
    // The lock's own remaining time (about ten minutes), not the default lease.
    let remaining: f64 = all
        .split("expires in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_default();
    assert!(remaining > 500.0 && remaining <= 600.0, "{all}");
    assert!(
        all.contains(&format!("its connection (client {id}) is open")),
        "{all}"
    );
    assert_eq!(server.cmd::<String>(&["GET", LOCK]), token, "left alone");
    // Once that connection is gone, the next apply takes over without waiting ten minutes.
    drop(holder);
    let out = apply(
        &url,
        file.path(),
        &["--lock-timeout", "30"],
        &[],
        Duration::from_secs(50),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!exists(&server, LOCK));
}

/// Without `+client|list` a waiting apply cannot tell that the holder's connection is gone:
/// it waits (here until its timeout) and says why, rather than taking over blindly; with it,
/// the same lock is taken over at once.
#[test]
fn without_client_list_a_gone_holder_is_waited_for_and_the_reason_given() {
    let server = RedisServer::start();
    let file = topology_file(TOPOLOGY);
    let mut holder = server.con();
    let id: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query(&mut holder)
        .expect("CLIENT ID");
    let token = format!("ci-host/pid 42/since 0/client {id}/abc");
    server.cmd::<String>(&["SET", LOCK, &token, "PX", "600000"]);
    drop(holder);
    wait_for(
        "the holder's connection to close",
        Duration::from_secs(30),
        || {
            server
                .cmd::<String>(&["CLIENT", "LIST", "ID", &id.to_string()])
                .is_empty()
        },
    );
    let url = apply_user(&server, "+client|list", server.port);
    let out = apply(
        &url,
        file.path(),
        &["--lock-timeout", "1"],
        &[],
        Duration::from_secs(60),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("whether its connection is open is unknown (CLIENT LIST was refused: NOPERM"),
        "{all}"
    );
    assert_eq!(server.cmd::<String>(&["GET", LOCK]), token, "left alone");
    let url = apply_user(&server, "", server.port);
    let out = apply(
        &url,
        file.path(),
        &["--lock-timeout", "30"],
        &[],
        Duration::from_secs(50),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Five applies of the same topology at once, from empty: one applies, the others wait, find
/// nothing left to do and exit 0; each group is created exactly once.
#[test]

fn five_concurrent_applies_create_each_group_once() {
    let server = RedisServer::start();
    let mut topology = String::from("version: 1\nnamespace: app\nstreams:\n");
    for i in 0..40 {
        let _ = writeln!(
            topology,
            "  s{i}:\n    retention: unbounded\n    groups: {{ a: {{}}, b: {{ start: \"0\" }} }}"
        );
    }
    for i in 0..5 {
        let _ = writeln!(topology, "  empty{i}: {{ retention: unbounded }}");
    }
    let file = topology_file(&topology);
    let plan = bin()
        .args(["plan", "--format", "json"])
        .arg(file.path())
        .args(["--url", &server.url()])
        .output()
        .expect("plan");
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    let creates = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .flat_map(|change| change["commands"].as_array().cloned().unwrap_or_default())
        .filter(|command| command[0] == "XGROUP" && command[1] == "CREATE")
        .count();
    // 80 groups, and one helper group per stream without groups (MKSTREAM).
    assert_eq!(creates, 85, "{plan:#}");
    server.cmd::<String>(&["CONFIG", "RESETSTAT"]);

    // All five plan while the lock is held (by the test, with no connection named, so it
    // is waited for), then race for it when it is released: each planned from empty.
    server.cmd::<String>(&["SET", LOCK, "test/pid 0/since 0/r", "PX", "600000"]);
    let url = apply_user(&server, "", server.port);
    let dir = tempfile::tempdir().expect("dir");
    let applies: Vec<(Child, std::path::PathBuf)> = (0..5)
        .map(|n| {
            let out = dir.path().join(format!("apply{n}"));
            (spawn_apply(&url, file.path(), "30000", &out), out)
        })
        .collect();
    // An apply prints its plan before it asks for the lock.
    wait_for("five applies to plan", Duration::from_secs(120), || {
        applies.iter().all(|(_, out)| {
            std::fs::read_to_string(out).is_ok_and(|printed| printed.contains("\nPlan: "))
        })
    });
    server.cmd::<i64>(&["DEL", LOCK]);
    for (mut child, out) in applies {
        let code = wait_exit(&mut child, Duration::from_secs(180));
        let printed = std::fs::read_to_string(&out).unwrap_or_default();
        assert_eq!(code, Some(0), "{printed}");
    }
    assert_eq!(server.calls("xgroup|create"), 85, "each group created once");
    assert!(!exists(&server, LOCK), "no lock left");
    let record: serde_json::Value =
        serde_json::from_str(&server.cmd::<String>(&["GET", RECORD])).expect("record JSON");
    let recorded = record["streams"]
        .as_object()
        .map_or(0, serde_json::Map::len);
    assert_eq!(recorded, 45, "{record:#}");
    let out = bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(file.path())
        .args(["--url", &server.url()])
        .output()
        .expect("plan");
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
}

/// Apply A's link stalls in the middle of its batches until its lease runs out; apply B
/// takes the lock and applies another change. When the link comes back, A must say it lost
/// the lock, exit 1, and write nothing more: its held batches and its record write are
/// refused by the server (fenced on the lock's token), so B's work stands.
#[test]

fn an_apply_that_lost_its_lease_on_a_stalled_link_writes_nothing_more() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port);
    let mut big = String::from("version: 1\nnamespace: app\nstreams:\n");
    for i in 0..3000 {
        let _ = writeln!(
            big,
            "  a{i}:\n    retention: unbounded\n    groups: {{ g: {{}} }}"
        );
    }
    let file_a = topology_file(&big);
    let file_b = topology_file(
        "version: 1\nnamespace: app\nstreams:\n  b0:\n    retention: unbounded\n    groups: { g: {} }\n  b1:\n    retention: unbounded\n    groups: { g: {} }\n",
    );
    let dir = tempfile::tempdir().expect("dir");
    let out_a = dir.path().join("a");
    // Stall A once its first streams exist: it holds the lock and is sending batches; at the
    // latest its record write (sent after every batch's reply) is held.
    proxy.stall_when(server_condition(&server, |con| {
        redis::cmd("DBSIZE").query::<i64>(con).is_ok_and(|n| n >= 2)
    }));
    let mut a = spawn_apply(
        &apply_user(&server, "", proxy.port()),
        file_a.path(),
        "1500",
        &out_a,
    );
    wait_for("apply A to be stalled", Duration::from_secs(120), || {
        if let Ok(Some(status)) = a.try_wait() {
            panic!(
                "apply A ended ({status}) before it was stalled: {}",
                std::fs::read_to_string(&out_a).unwrap_or_default()
            );
        }
        proxy.is_stalled()
    });
    wait_for("A's lease to run out", Duration::from_secs(60), || {
        !exists(&server, LOCK)
    });

    let out = apply(
        &apply_user(&server, "", server.port),
        file_b.path(),
        &[],
        &[],
        Duration::from_secs(120),
    );
    assert_eq!(out.status.code(), Some(0), "apply B: {}", text(&out));
    let record_b: String = server.cmd(&["GET", RECORD]);
    let keys_b: i64 = server.cmd(&["DBSIZE"]);
    server.cmd::<String>(&["CONFIG", "RESETSTAT"]);

    proxy.resume();
    let code = wait_exit(&mut a, Duration::from_secs(120));
    let printed = std::fs::read_to_string(&out_a).unwrap_or_default();
    assert_eq!(code, Some(1), "{printed}");
    assert!(
        printed.contains("lock") && printed.contains("lost"),
        "says it lost the lock: {printed}"
    );
    // Refused batches may run their guard, which stops the transaction by creating and
    // deleting A's own fence key (`SET` then `DEL`, nothing left): no other write. (An
    // `EXEC` that runs nothing is counted as a call; the commands an `EXEC` runs are
    // counted each under its own name.)
    let calls = server.command_calls();
    let writes: Vec<&String> = calls
        .keys()
        .filter(|c| {
            [
                "xgroup|create",
                "xgroup|destroy",
                "xtrim",
                "pexpire",
                "hset",
                "hdel",
                "acl|setuser",
                "acl|deluser",
            ]
            .contains(&c.as_str())
        })
        .collect();
    assert!(
        writes.is_empty(),
        "A wrote after losing the lock: {writes:?}\n{printed}"
    );
    assert_eq!(
        calls.get("set"),
        calls.get("del"),
        "A's only SETs are its guards' fence touches, each deleted at once: {calls:?}"
    );
    let fences: Vec<String> = server.cmd(&["KEYS", "*:fence:*"]);
    assert!(fences.is_empty(), "{fences:?}");
    assert_eq!(
        server.cmd::<String>(&["GET", RECORD]),
        record_b,
        "B's record stands"
    );
    assert_eq!(
        server.cmd::<i64>(&["DBSIZE"]),
        keys_b,
        "no stream created by A after B"
    );
    let groups: Vec<redis::Value> = server.cmd(&["XINFO", "GROUPS", "app:b1"]);
    assert_eq!(groups.len(), 1, "B's group stands");
    assert!(!exists(&server, LOCK), "no lock left");
}
