//! Per-key commands (`access` blocks, written as ACL selectors) against a real redis-server:
//! they apply in the user's one `ACL SETUSER`, read back as no change, hold under a client
//! logged in as the user (allowed commands work, the rest is NOPERM), and drift inside a
//! selector is shown and repaired.

use std::process::Output;

use crate::redis::RedisServer;
use crate::util::{bin, text, topology_file};

const PASSWORD: &str = "worker-Selector-1";

/// A worker that consumes `tasks` through its group, produces to `results` and `dlq`, keeps
/// idempotency keys, and may PING: nothing else.
const TOPOLOGY: &str = r#"version: 1
namespace: app
streams:
  tasks:
    retention: { maxlen: 1000 }
    groups: { workers: { start: "0" } }
  results:
    retention: { maxlen: 1000 }
  dlq:
    retention: { maxlen: 1000 }
acl:
  users:
    worker:
      passwords: [{ env: WORKER_PASSWORD }]
      commands: ["+ping"]
      access:
        - keys: ["tasks"]
          preset: consumer
        - keys: { write: ["results", "dlq"] }
          preset: producer
        - keys: ["idem:*"]
          commands: ["+set", "+get"]
"#;

/// The consumer block's selector as plan prints it (the preset written out).
const CONSUMER_SELECTOR: &str = "(~app:tasks +xreadgroup +xack +xautoclaim +xclaim +xpending)";

struct Fixture {
    server: RedisServer,
    file: tempfile::NamedTempFile,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::on(RedisServer::start())
    }

    fn on(server: RedisServer) -> Fixture {
        Fixture {
            server,
            file: topology_file(TOPOLOGY),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = bin()
            .args(args)
            .arg(self.file.path())
            .args(["--url", &self.server.url()])
            .env("WORKER_PASSWORD", PASSWORD)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .expect("run redis-topology");
        assert!(
            !text(&out).contains(PASSWORD),
            "a password was printed: {}",
            text(&out)
        );
        out
    }

    fn apply(&self) -> String {
        let out = self.run(&["apply", "--yes"]);
        assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out));
        text(&out)
    }

    /// `plan --detailed-exitcode`: its exit code (0 no change, 2 changes) and output.
    fn plan(&self) -> (Option<i32>, String) {
        let out = self.run(&["plan", "--detailed-exitcode"]);
        (out.status.code(), text(&out))
    }

    fn worker(&self) -> redis::Connection {
        let url = format!("redis://worker:{PASSWORD}@127.0.0.1:{}", self.server.port);
        redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("the worker logs in")
    }

    /// A hand edit of the worker, as an operator would make it.
    fn setuser(&self, rules: &[&str]) {
        let mut args = vec!["ACL", "SETUSER", "worker"];
        args.extend(rules);
        self.server.cmd::<String>(&args);
    }
}

/// Run a command line (arguments split on spaces) as the logged-in user.
fn query(con: &mut redis::Connection, line: &str) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::Cmd::new();
    for arg in line.split_whitespace() {
        cmd.arg(arg);
    }
    cmd.query(con)
}

/// The command is refused with the NOPERM code (the wording differs between servers).
fn assert_noperm(con: &mut redis::Connection, line: &str) {
    match query(con, line) {
        Err(e) => assert_eq!(e.code(), Some("NOPERM"), "{line}: {e}"),
        Ok(v) => panic!("`{line}` should be refused, got {v:?}"),
    }
}

fn assert_allowed(con: &mut redis::Connection, line: &str) -> redis::Value {
    query(con, line).unwrap_or_else(|e| panic!("`{line}` should be allowed: {e}"))
}

#[test]
fn access_blocks_apply_round_trip_and_hold_under_a_real_client() {
    let f = Fixture::new();
    let planned = f.run(&["plan"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    let shown = text(&planned);
    // The presets are written out in the one atomic ACL SETUSER.
    assert!(
        shown.contains(&format!("\"{CONSUMER_SELECTOR}\"")),
        "{shown}"
    );
    assert!(
        shown.contains("\"(%W~app:results %W~app:dlq +xadd +xlen)\""),
        "{shown}"
    );
    assert!(shown.contains("\"(~app:idem:* +set +get)\""), "{shown}");
    assert_eq!(
        shown.matches("ACL SETUSER worker reset").count(),
        1,
        "{shown}"
    );
    f.apply();

    // Read back as no change: a second apply sends no ACL SETUSER.
    let (code, shown) = f.plan();
    assert_eq!(code, Some(0), "{shown}");
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let again = f.apply();
    assert!(again.contains("No changes"), "{again}");
    let stats = f.server.commandstats();
    assert!(!stats.iter().any(|c| c == "acl|setuser"), "{stats:?}");

    // Real entries, a group with a pending entry, as the services would leave them.
    let admin_add = |key: &str| f.server.cmd::<String>(&["XADD", key, "*", "task", "t1"]);
    admin_add("app:tasks");
    admin_add("app:results");

    let mut worker = f.worker();
    for allowed in [
        "PING",
        "XPENDING app:tasks workers",
        "XAUTOCLAIM app:tasks workers w2 0 0",
        "XADD app:results * r 1",
        "XADD app:dlq * r 1",
        "XLEN app:results",
        "SET app:idem:t1 1 NX EX 60",
        "GET app:idem:t1",
    ] {
        assert_allowed(&mut worker, allowed);
    }
    let read = assert_allowed(
        &mut worker,
        "XREADGROUP GROUP workers w1 COUNT 1 STREAMS app:tasks >",
    );
    assert_ne!(read, redis::Value::Nil, "the worker got its task");

    // What the old one-command-set users allowed, and these do not.
    for refused in [
        "XADD app:tasks * forged 1",
        "SET app:results x",
        "SET app:tasks x",
        "DEL app:results",
        "XDEL app:tasks 0-1",
        "XTRIM app:results MAXLEN 0",
        "XGROUP DESTROY app:tasks workers",
        "XRANGE app:results - +",
        "XAUTOCLAIM app:results g w1 0 0",
        "XINFO STREAM app:tasks FULL",
        "XADD other:tasks * k v",
        "FLUSHALL",
        // A command of one block on another block's keys.
        "XACK app:results g 0-1",
    ] {
        assert_noperm(&mut worker, refused);
    }
    // The ack itself, last: it empties the pending list.
    let pending = assert_allowed(&mut worker, "XPENDING app:tasks workers - + 10");
    let redis::Value::Array(entries) = pending else {
        panic!("XPENDING with a range is a list: {pending:?}")
    };
    let redis::Value::Array(first) = &entries[0] else {
        panic!("an entry: {entries:?}")
    };
    let id: String = redis::from_redis_value(first[0].clone()).expect("an ID");
    let acked = assert_allowed(&mut worker, &format!("XACK app:tasks workers {id}"));
    assert_eq!(acked, redis::Value::Int(1));
}

#[test]
fn drift_inside_a_selector_is_detected_and_repaired() {
    let f = Fixture::new();
    f.apply();
    let pw = format!(">{PASSWORD}");
    // The same user rewritten by hand with XADD slipped into the consumer's selector, and
    // the selectors in another order.
    f.setuser(&[
        "reset",
        "on",
        &pw,
        "+ping",
        "(~app:idem:* +get +set)",
        "(~app:tasks +xreadgroup +xack +xautoclaim +xclaim +xpending +xadd)",
        "(%W~app:dlq %W~app:results +xlen +xadd)",
    ]);
    let mut worker = f.worker();
    assert_allowed(&mut worker, "XADD app:tasks * forged 1");
    let (code, shown) = f.plan();
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("selectors: selector (~app:tasks): the server also has xadd (removed)"),
        "{shown}"
    );
    f.apply();
    assert_noperm(&mut worker, "XADD app:tasks * forged 2");
    let (code, shown) = f.plan();
    assert_eq!(code, Some(0), "{shown}");

    // A selector added by hand, and all of them cleared: each a change, each repaired.
    f.setuser(&["(~app:* +@all)"]);
    let (code, shown) = f.plan();
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("selectors: the server also has selector (~app:* +"),
        "{shown}"
    );
    f.setuser(&["clearselectors"]);
    let (code, shown) = f.plan();
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains(&format!(
            "selectors: the server lacks selector {} (added)",
            // As the comparison shows it: commands sorted.
            "(~app:tasks +xack +xautoclaim +xclaim +xpending +xreadgroup)"
        )),
        "{shown}"
    );
    assert_noperm(&mut worker, "XLEN app:results");
    f.apply();
    assert_allowed(&mut worker, "XLEN app:results");
    let (code, shown) = f.plan();
    assert_eq!(code, Some(0), "{shown}");
}

/// Apply ends with `ACL SAVE` where the server has an aclfile: the selectors it saved load
/// back (`ACL LOAD` reads the file again) as the same permissions.
#[test]
fn selectors_saved_to_an_aclfile_load_back_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let aclfile = dir.path().join("users.acl");
    std::fs::write(&aclfile, "").expect("empty aclfile");
    let f = Fixture::on(RedisServer::start_with(&[
        "--aclfile",
        aclfile.to_str().expect("utf-8"),
    ]));
    f.apply();
    let saved = std::fs::read_to_string(&aclfile).expect("aclfile");
    assert!(saved.contains("(~app:idem:* "), "{saved}");
    f.server.cmd::<String>(&["ACL", "LOAD"]);
    let (code, shown) = f.plan();
    assert_eq!(code, Some(0), "{shown}");
    assert_allowed(&mut f.worker(), "XADD app:results * r 1");
}

/// On a server whose `acl-pubsub-default` is `allchannels` (the default before Redis 7.0,
/// kept by many upgraded configurations), `reset` and every new selector grant `&*`: without
/// an explicit `resetchannels` the worker could publish and subscribe anywhere, and every
/// plan would show the user as changed.
#[test]
fn on_an_allchannels_server_users_get_only_their_declared_channels() {
    let f = Fixture::on(RedisServer::start_with(&[
        "--acl-pubsub-default",
        "allchannels",
    ]));
    let planned = text(&f.run(&["plan"]));
    assert!(
        planned.contains("ACL SETUSER worker reset resetchannels on"),
        "{planned}"
    );
    f.apply();
    let (code, shown) = f.plan();
    assert_eq!(code, Some(0), "converged after one apply: {shown}");

    let mut worker = f.worker();
    assert_noperm(&mut worker, "PUBLISH elsewhere hello");
    assert_noperm(&mut worker, "SUBSCRIBE elsewhere");
    // Its own rules still hold: a producer block may add to its results.
    assert_allowed(&mut worker, "XADD app:results * r 1");
}
