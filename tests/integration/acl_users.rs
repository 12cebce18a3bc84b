//! ACL users against a real redis-server: users can log in with what the topology declares
//! and do only what it grants; drift is detected on meaning; the tool never changes its own
//! user; and no secret appears in any output.

use std::process::Output;

use crate::redis::RedisServer;
use crate::util::{bin, documented_rules, text, topology_file};

const WORKER_PASSWORD: &str = "worker-Secret-1";
const WORKER_PASSWORD_NEXT: &str = "worker-Secret-2";
/// The auditor's password is given to the topology only as its sha256.
const AUDITOR_PASSWORD: &str = "auditor-Secret-9";

fn sha256(text: &str) -> String {
    redis_topology::model::secrets::sha256_hex(text)
}

fn topology() -> String {
    format!(
        r#"version: 1
namespace: app
streams:
  tasks:
    retention: {{ maxlen: 1000 }}
    groups: {{ workers: {{ start: "0" }} }}
  results:
    retention: {{ maxlen: 1000 }}
acl:
  users:
    worker:
      passwords: [{{ env: WORKER_PASSWORD }}]
      keys:
        read: ["tasks"]
        write: ["results"]
      commands: ["+@stream", "-xgroup|destroy", "+ping"]
    auditor:
      passwords: [{{ sha256: {} }}]
      keys: {{ read: ["*"] }}
      commands: ["+xrange", "+xlen", "+ping"]
"#,
        sha256(AUDITOR_PASSWORD)
    )
}

/// A server, a topology file, the outputs of every run (searched for secrets at the end).
struct Fixture {
    server: RedisServer,
    file: tempfile::NamedTempFile,
    worker_password: String,
    outputs: std::cell::RefCell<Vec<String>>,
}

impl Fixture {
    fn new(server: RedisServer) -> Fixture {
        Fixture {
            server,
            file: topology_file(&topology()),
            worker_password: WORKER_PASSWORD.to_owned(),
            outputs: Default::default(),
        }
    }

    fn run_as(&self, url: &str, args: &[&str]) -> Output {
        let out = bin()
            .args(args)
            .arg(self.file.path())
            .args(["--url", url])
            .env("WORKER_PASSWORD", &self.worker_password)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .expect("run redis-topology");
        self.outputs.borrow_mut().push(text(&out));
        out
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_as(&self.server.url(), args)
    }

    fn apply(&self) -> String {
        let out = self.run(&["apply", "--yes"]);
        assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out));
        text(&out)
    }

    /// Connect as a user; `Err` carries the server's refusal.
    fn login(&self, user: &str, password: &str) -> redis::RedisResult<redis::Connection> {
        let url = format!("redis://{user}:{password}@127.0.0.1:{}", self.server.port);
        redis::Client::open(url)?.get_connection()
    }

    /// Fail if any output of any run so far holds a password or a password hash.
    fn assert_no_secret_printed(&self) {
        let secrets = [
            WORKER_PASSWORD,
            WORKER_PASSWORD_NEXT,
            AUDITOR_PASSWORD,
            &sha256(WORKER_PASSWORD),
            &sha256(WORKER_PASSWORD_NEXT),
            &sha256(AUDITOR_PASSWORD),
        ];
        let outputs = self.outputs.borrow();
        assert!(!outputs.is_empty());
        for output in outputs.iter() {
            for secret in secrets {
                assert!(!output.contains(secret), "a secret was printed:\n{output}");
            }
        }
    }
}

fn query<T: redis::FromRedisValue>(
    con: &mut redis::Connection,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
}

/// Whether a reply is the server's permission error, by its code: the words after `NOPERM`
/// differ between versions (7.0 "this user has no permissions to access one of the keys used
/// as arguments", 7.2+ and Valkey "No permissions to access a key").
fn is_noperm<T: std::fmt::Debug>(result: redis::RedisResult<T>) -> bool {
    match result {
        Err(e) => {
            assert_eq!(e.code(), Some("NOPERM"), "not a permission error: {e}");
            true
        }
        Ok(v) => panic!("expected NOPERM, got {v:?}"),
    }
}

#[test]
fn users_log_in_with_declared_passwords_and_get_only_their_grants() {
    let f = Fixture::new(RedisServer::start());
    let planned = f.run(&["plan"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    let shown = text(&planned);
    assert!(shown.contains("+ user worker"), "{shown}");
    assert!(shown.contains("#(sensitive value)"), "{shown}");
    assert!(shown.contains("the server has no aclfile"), "{shown}");
    f.apply();

    // The env password and the sha256 password both work.
    let mut worker = f.login("worker", WORKER_PASSWORD).expect("worker logs in");
    let mut auditor = f
        .login("auditor", AUDITOR_PASSWORD)
        .expect("auditor logs in");
    assert!(f.login("worker", "wrong").is_err());

    // What the worker was granted works; everything else is NOPERM.
    let id: String =
        query(&mut worker, &["XADD", "app:results", "*", "k", "v"]).expect("xadd results");
    assert!(!id.is_empty());
    let _: redis::Value = query(
        &mut worker,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "COUNT",
            "1",
            "STREAMS",
            "app:tasks",
            ">",
        ],
    )
    .expect("read its tasks");
    assert!(
        is_noperm(query::<String>(
            &mut worker,
            &["XADD", "app:tasks", "*", "k", "v"]
        )),
        "tasks is read-only"
    );
    assert!(
        is_noperm(query::<String>(
            &mut worker,
            &["XADD", "other:s", "*", "k", "v"]
        )),
        "outside the namespace"
    );
    assert!(
        is_noperm(query::<i64>(
            &mut worker,
            &["XGROUP", "DESTROY", "app:tasks", "workers"]
        )),
        "-xgroup|destroy"
    );
    assert!(
        is_noperm(query::<String>(&mut worker, &["FLUSHALL"])),
        "no flushall"
    );
    assert!(
        is_noperm(query::<String>(&mut worker, &["GET", "app:results"])),
        "no get"
    );
    let length: i64 = query(&mut auditor, &["XLEN", "app:results"]).expect("auditor reads");
    assert_eq!(length, 1);
    assert!(is_noperm(query::<String>(
        &mut auditor,
        &["XADD", "app:results", "*", "k", "v"]
    )));

    // Converged: nothing more to do, and a second apply sends no ACL SETUSER.
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let again = f.apply();
    assert!(again.contains("No changes"), "{again}");
    let stats = f.server.commandstats();
    assert!(
        !stats.iter().any(|c| c.starts_with("acl|setuser")),
        "{stats:?}"
    );
    f.assert_no_secret_printed();
}

#[test]
fn a_rotated_password_is_an_update_that_works_after_apply() {
    let mut f = Fixture::new(RedisServer::start());
    f.apply();
    f.worker_password = WORKER_PASSWORD_NEXT.to_owned();
    let planned = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(planned.status.code(), Some(2), "{}", text(&planned));
    let shown = text(&planned);
    assert!(shown.contains("~ user worker"), "{shown}");
    assert!(
        shown.contains("passwords: (sensitive value) changed"),
        "{shown}"
    );
    assert!(!shown.contains("user auditor"), "{shown}");
    // A saved plan holds no hash either, and applies.
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("plan.json");
    let out = f.run(&["plan", "--out", saved.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    f.outputs
        .borrow_mut()
        .push(std::fs::read_to_string(&saved).expect("saved plan"));
    let out = f.run(&["apply", "--yes", "--plan", saved.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(f.login("worker", WORKER_PASSWORD_NEXT).is_ok());
    assert!(
        f.login("worker", WORKER_PASSWORD).is_err(),
        "the old password is gone"
    );
    f.assert_no_secret_printed();
}

#[test]
fn a_rule_added_by_hand_is_detected_and_removed() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    f.server
        .cmd::<String>(&["ACL", "SETUSER", "worker", "+flushall", "~other:*"]);
    let planned = f.run(&["plan", "--format", "json"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("plan JSON");
    let changes = plan["changes"].as_array().expect("changes");
    let worker = changes
        .iter()
        .find(|c| c["address"] == "user.worker")
        .expect("the worker is planned");
    assert_eq!(worker["action"], "update");
    let details = worker["details"].to_string();
    assert!(details.contains("flushall"), "{details}");
    assert!(details.contains("~other:*"), "{details}");
    f.apply();
    // DRYRUN answers a denial as text, worded differently by each version; only an allowed
    // command gets `OK`.
    let dry: String = f.server.cmd(&["ACL", "DRYRUN", "worker", "FLUSHALL"]);
    assert_ne!(dry, "OK", "flushall was removed");
    let out = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    f.assert_no_secret_printed();
}

/// The users the record names are read while the file is loaded, and not again when the
/// file declares the same ones; a user the record does not name yet has everything read
/// again, and is planned as a creation beside the others, unchanged.
#[test]
fn recorded_users_are_read_ahead_once_and_a_new_one_is_read_too() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let out = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        f.server.calls("acl|getuser"),
        3,
        "worker, auditor and default, once each"
    );
    let with_reporter = topology()
        + "    reporter:\n      nopass: true\n      keys: { read: [\"results\"] }\n      commands: [\"+xrange\"]\n";
    std::fs::write(f.file.path(), with_reporter).expect("add a user");
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let planned = f.run(&["plan", "--format", "json"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    assert_eq!(
        f.server.calls("acl|getuser"),
        3 + 4,
        "read ahead, then read again with the new user"
    );
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("plan JSON");
    let changed: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| Some((c["address"].as_str()?, c["action"].as_str()?)))
        .filter(|(address, _)| address.starts_with("user."))
        .collect();
    assert_eq!(changed, [("user.reporter", "create")]);
    f.assert_no_secret_printed();
}

/// The same permissions written in another order (as a hand edit, or Redis 7.0 rebuilding
/// the rules) are no change.
#[test]
fn an_equivalent_user_in_another_order_is_no_change() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    f.server.cmd::<String>(&[
        "ACL",
        "SETUSER",
        "worker",
        "reset",
        "on",
        &format!(">{WORKER_PASSWORD}"),
        "%W~app:results",
        "%R~app:tasks",
        "+ping",
        "+@stream",
        "-xgroup|destroy",
    ]);
    let out = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // ...but the same rules with one command more are a change.
    f.server
        .cmd::<String>(&["ACL", "SETUSER", "worker", "+xgroup|destroy"]);
    let out = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("commands: the server also has xgroup|destroy (removed)"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_tool_never_changes_its_own_user() {
    let f = Fixture::new(RedisServer::start());
    // The tool connects as `worker`, which holds everything the tool needs, unlike what the
    // topology declares for it.
    f.server.cmd::<String>(&[
        "ACL",
        "SETUSER",
        "worker",
        "on",
        &format!(">{WORKER_PASSWORD}"),
        "allkeys",
        "+@all",
    ]);
    let url = format!(
        "redis://worker:{WORKER_PASSWORD}@127.0.0.1:{}",
        f.server.port
    );
    let out = f.run_as(&url, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("ACL user `worker` is the user this tool is connected as"),
        "{shown}"
    );
    let dry: String = f.server.cmd(&["ACL", "DRYRUN", "worker", "FLUSHALL"]);
    assert_eq!(dry, "OK", "the user was left alone");
    assert_eq!(
        f.server.cmd::<i64>(&["EXISTS", "app:tasks"]),
        0,
        "nothing was written"
    );
    f.assert_no_secret_printed();
}

#[test]
fn users_are_global_so_another_namespace_cannot_take_them() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    let other = topology_file(&topology().replace("namespace: app", "namespace: other"));
    let out = bin()
        .args(["apply", "--yes"])
        .arg(other.path())
        .args(["--url", &f.server.url()])
        .env("WORKER_PASSWORD", WORKER_PASSWORD)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("ACL user `worker` is managed by the topology of namespace `app`"),
        "{}",
        text(&out)
    );
    assert_eq!(
        f.server.cmd::<i64>(&["EXISTS", "other:tasks"]),
        0,
        "nothing was written"
    );
}

#[test]
fn a_missing_password_variable_stops_before_any_write() {
    let f = Fixture::new(RedisServer::start());
    let out = bin()
        .args(["apply", "--yes"])
        .arg(f.file.path())
        .args(["--url", &f.server.url()])
        .env_remove("WORKER_PASSWORD")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("ACL user `worker`: the password variable `WORKER_PASSWORD` is not set"),
        "{}",
        text(&out)
    );
    assert_eq!(f.server.cmd::<i64>(&["DBSIZE"]), 0);
    assert!(f.login("worker", WORKER_PASSWORD).is_err());
}

#[test]
fn prune_deletes_recorded_users_only() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    f.server
        .cmd::<String>(&["ACL", "SETUSER", "bystander", "on", ">x", "+ping"]);
    let mut f = f;
    f.file = topology_file(&topology().replace("    auditor:", "    auditor-gone:"));
    // Without --prune the undeclared recorded user is kept and said so.
    let planned = text(&f.run(&["plan"]));
    assert!(
        planned.contains("ACL user `auditor` is no longer declared; kept"),
        "{planned}"
    );
    let out = f.run(&["apply", "--yes", "--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let users: Vec<String> = f.server.cmd(&["ACL", "USERS"]);
    assert!(!users.contains(&"auditor".to_owned()), "{users:?}");
    assert!(
        users.contains(&"bystander".to_owned()),
        "never recorded, never deleted: {users:?}"
    );
    assert!(users.contains(&"auditor-gone".to_owned()), "{users:?}");
    let owners: Vec<String> = f.server.cmd(&["HKEYS", "__topology__:users"]);
    assert!(!owners.contains(&"auditor".to_owned()), "{owners:?}");
}

#[test]
fn acl_save_persists_users_where_the_server_has_an_aclfile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let aclfile = dir.path().join("users.acl");
    std::fs::write(&aclfile, "").expect("empty aclfile");
    let server = RedisServer::start_with(&["--aclfile", aclfile.to_str().expect("utf-8")]);
    let f = Fixture::new(server);
    let planned = text(&f.run(&["plan"]));
    assert!(planned.contains("ACL SAVE"), "{planned}");
    assert!(!planned.contains("no aclfile"), "{planned}");
    f.apply();
    let saved = std::fs::read_to_string(&aclfile).expect("aclfile");
    assert!(saved.contains("user worker on"), "{saved}");
    assert!(
        saved.contains(&sha256(WORKER_PASSWORD)),
        "Redis stores the hash, not the password"
    );
    assert!(!saved.contains(WORKER_PASSWORD));
}

/// The plan user of docs/operations.md can plan a topology with users, and nothing more.
#[test]
fn the_documented_plan_user_can_plan_users() {
    let f = Fixture::new(RedisServer::start());
    let mut rules = vec![
        "SETUSER",
        "topology-plan",
        "on",
        ">plan-pw",
        "resetchannels",
        "-@all",
    ];
    let documented = include_str!("../../docs/operations.md");
    let block = documented
        .split("ACL SETUSER topology-plan")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/operations.md has the plan user's rules");
    let tokens: Vec<String> = block
        .split_whitespace()
        .filter(|t| t.starts_with('+') || t.starts_with('%') || t.starts_with('~'))
        .map(|t| t.replace("<namespace>", "app"))
        .collect();
    assert!(tokens.iter().any(|t| t == "+acl|getuser"), "{tokens:?}");
    rules.extend(tokens.iter().map(String::as_str));
    let mut args = vec!["ACL"];
    args.extend(rules);
    f.server.cmd::<String>(&args);
    let url = format!("redis://topology-plan:plan-pw@127.0.0.1:{}", f.server.port);
    f.server.cmd::<String>(&["ACL", "LOG", "RESET"]);
    let out = f.run_as(&url, &["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("+ user worker"), "{}", text(&out));
    // Refused nothing: a command the plan user may not run (say `CLIENT ID`, which only
    // apply needs) would leave an entry in the server's ACL log at every plan.
    let log: Vec<redis::Value> = f.server.cmd(&["ACL", "LOG"]);
    assert!(log.is_empty(), "the ACL log after plan: {log:?}");
    assert!(
        !text(&out).contains("run ROLE"),
        "nothing it lacks: {}",
        text(&out)
    );
    let out = f.run_as(&url, &["apply", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the plan user cannot apply: {}",
        text(&out)
    );
}

/// `plan` runs without the password variables (it compares everything else, and says
/// so); `apply` needs them and says why, writing nothing.
#[test]
fn plan_runs_without_password_variables_and_apply_needs_them() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    let plan = bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(f.file.path())
        .args(["--url", &f.server.url()])
        .env_remove("WORKER_PASSWORD")
        .output()
        .expect("run plan");
    assert_eq!(plan.status.code(), Some(0), "no change: {}", text(&plan));
    assert!(
        text(&plan).contains(
            "the passwords of ACL user `worker` were not compared with the server's (`WORKER_PASSWORD` is not set)"
        ),
        "{}",
        text(&plan)
    );
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let apply = bin()
        .args(["apply", "--yes"])
        .arg(f.file.path())
        .args(["--url", &f.server.url()])
        .env_remove("WORKER_PASSWORD")
        .output()
        .expect("run apply");
    assert_eq!(apply.status.code(), Some(1), "{}", text(&apply));
    assert!(
        text(&apply).contains("the password variable `WORKER_PASSWORD` is not set")
            && text(&apply).contains("apply reads the ACL users' passwords"),
        "{}",
        text(&apply)
    );
    assert!(
        f.server
            .commandstats()
            .iter()
            .all(|c| !c.starts_with("acl|setuser"))
    );
}

/// The apply user of docs/operations.md can apply everything a topology asks, users and
/// `--prune` included: every command apply sends, and every command its scripts run.
#[test]
fn the_documented_apply_user_can_apply_users_and_prune() {
    let mut f = Fixture::new(RedisServer::start());
    let mut args = vec![
        "ACL".to_owned(),
        "SETUSER".to_owned(),
        "topology-apply".to_owned(),
        "on".to_owned(),
        ">apply-pw".to_owned(),
        "resetchannels".to_owned(),
        "-@all".to_owned(),
    ];
    let rules = documented_rules("topology-apply");
    assert!(rules.iter().any(|t| t == "+eval"), "{rules:?}");
    args.extend(rules);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    f.server.cmd::<String>(&args);
    let url = format!(
        "redis://topology-apply:apply-pw@127.0.0.1:{}",
        f.server.port
    );
    f.server.cmd::<String>(&["ACL", "LOG", "RESET"]);
    let out = f.run_as(&url, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Refused nothing (the client's `CLIENT SETINFO` on connecting was, on Redis 7.2+).
    let log: Vec<redis::Value> = f.server.cmd(&["ACL", "LOG"]);
    assert!(log.is_empty(), "the ACL log after apply: {log:?}");
    assert!(f.login("worker", WORKER_PASSWORD).is_ok());
    f.server
        .cmd::<String>(&["XADD", "app:results", "*", "n", "1"]);
    // Without `results` and `auditor`: --prune deletes the stream and the user.
    let smaller = topology()
        .replace(
            "  results:
    retention: { maxlen: 1000 }
",
            "",
        )
        .replace("write: [\"results\"]", "write: [\"tasks\"]");
    let smaller = smaller
        .split("    auditor:")
        .next()
        .expect("the worker comes first")
        .to_owned();
    f.file = topology_file(&smaller);
    let out = f.run_as(&url, &["apply", "--yes", "--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:results"]), "none");
    assert!(f.login("auditor", AUDITOR_PASSWORD).is_err());
    let out = f.run_as(&url, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
    f.assert_no_secret_printed();
}

/// A selector added by hand (`(~other:* +get)`, Redis 7.0+ and Valkey) widens what the user may
/// do beyond its declaration: the plan shows it, apply removes it (the user can no longer read
/// the other key), and the next plan is converged. On Valkey 9.1 a selector carries its own
/// `databases` field, which the comparison must read as part of the selector, not of the user.
#[test]
fn a_selector_added_by_hand_is_drift_that_apply_removes() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    f.server
        .cmd::<String>(&["ACL", "SETUSER", "worker", "(~other:* +get)"]);
    let may_get_other = |f: &Fixture| {
        f.server
            .cmd::<String>(&["ACL", "DRYRUN", "worker", "GET", "other:k"])
            == "OK"
    };
    assert!(may_get_other(&f), "the selector took effect");
    let planned = f.run(&["plan", "--detailed-exitcode"]);
    let shown = text(&planned);
    assert_eq!(planned.status.code(), Some(2), "{shown}");
    assert!(shown.contains("~ user worker"), "{shown}");
    assert!(
        shown.contains("selectors: the server also has selector (~other:* +get) (removed)"),
        "{shown}"
    );
    assert!(!shown.contains("user auditor"), "{shown}");
    f.apply();
    assert!(!may_get_other(&f), "the selector is gone");
    let out = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    f.assert_no_secret_printed();
}

/// A database restriction set by hand (`db=1`, Valkey 9.1+) narrows what the user may do: the
/// plan shows it, apply gives every database back, and the next plan is converged. Servers
/// without database rules (Redis, Valkey before 9.1) refuse the rule with an `ERR` and leave
/// the user as it was, which the plan must then find converged.
#[test]
fn a_database_restriction_set_by_hand_is_drift_where_the_server_has_them() {
    let f = Fixture::new(RedisServer::start());
    f.apply();
    let mut con = f.server.con();
    let restricted = query::<String>(&mut con, &["ACL", "SETUSER", "worker", "db=1"]);
    let planned = f.run(&["plan", "--detailed-exitcode"]);
    let shown = text(&planned);
    match restricted {
        Err(e) => {
            assert_eq!(e.code(), Some("ERR"), "refused as an unknown rule: {e}");
            assert_eq!(planned.status.code(), Some(0), "{shown}");
            return;
        }
        Ok(ok) => assert_eq!(ok, "OK"),
    }
    assert_eq!(planned.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains(
            "databases: the server limits the user to `db=1` (restored to every database)"
        ),
        "{shown}"
    );
    f.apply();
    let user: Vec<redis::Value> = f.server.cmd(&["ACL", "GETUSER", "worker"]);
    let databases = user
        .chunks(2)
        .find(|pair| pair[0] == redis::Value::BulkString(b"databases".to_vec()))
        .and_then(|pair| redis::from_redis_value::<String>(pair[1].clone()).ok());
    assert_eq!(databases.as_deref(), Some("alldbs"), "{user:?}");
    let out = f.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    f.assert_no_secret_printed();
}
