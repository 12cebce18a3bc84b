//! apply's safety promises against a real redis-server: a saved plan is a guard, never a
//! source of commands; it runs only on the server it was made for; a failure stops the
//! apply before anything destructive and before the record.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use super::redis::RedisServer;
use super::util::{bin, text, topology_file};

use super::util::ORDERS_AND_AUDIT as TOPOLOGY;

/// Commands that write; a refused apply must send none.
const WRITES: &[&str] = &[
    "xgroup",
    "xtrim",
    "set",
    "del",
    "unlink",
    "eval",
    "xadd",
    "flushall",
    "flushdb",
    "acl|setuser",
    "acl|deluser",
    "hset",
    "hdel",
    "multi",
    "exec",
];

struct Fixture {
    server: RedisServer,
    file: tempfile::NamedTempFile,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(topology: &str) -> Fixture {
        Fixture {
            server: RedisServer::start(),
            file: topology_file(topology),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn run_on(&self, url: &str, args: &[&str]) -> Output {
        bin()
            .args(args)
            .arg(self.file.path())
            .args(["--url", url])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .expect("run redis-topology")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_on(&self.server.url(), args)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `apply --yes` as user `applier`, who may run every command on the namespace's keys
    /// and the users registry, with `rules` added; it must stop at one failed command.
    /// Returns its output.
    fn one_failure_as_applier(&self, rules: &[&str], args: &[&str]) -> String {
        let user = ["ACL", "SETUSER", "applier", "on", ">applier-pw", "~app:*"];
        let granted = ["~__topology__:users", "+@all"];
        let setuser: Vec<&str> = user.iter().chain(&granted).chain(rules).copied().collect();
        self.server.cmd::<String>(&setuser);
        let url = format!("redis://applier:applier-pw@127.0.0.1:{}", self.server.port);
        self.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
        let all: Vec<&str> = ["apply", "--yes"].iter().chain(args).copied().collect();
        let out = self.run_on(&url, &all);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let all = text(&out);
        assert!(all.contains("apply stopped: 1 command failed"), "{all}");
        all
    }

    /// `plan --out`, read back as JSON.
    fn saved_plan(&self) -> Value {
        let path = self.path("plan.json");
        let out = self.run(&["plan", "--out", &path]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        read_json(Path::new(&path))
    }

    fn write_plan(&self, name: &str, plan: &Value) -> String {
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_string_pretty(plan).expect("json")).expect("write");
        path
    }

    /// Write commands the server ran since the last `CONFIG RESETSTAT`.
    fn writes(&self) -> Vec<String> {
        self.server
            .commandstats()
            .into_iter()
            .filter(|c| {
                WRITES.contains(&c.as_str())
                    || WRITES.contains(&c.split('|').next().unwrap_or_default())
            })
            .collect()
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read plan")).expect("plan JSON")
}

fn changes(plan: &mut Value) -> &mut Vec<Value> {
    plan["plan"]["changes"].as_array_mut().expect("changes")
}

/// A saved plan edited in each of the ways an attacker with write access to the CI
/// workspace could: every one is refused before anything is written, saying why, and the
/// untouched plan still applies.
#[test]
fn a_tampered_saved_plan_is_refused_and_runs_nothing() {
    let f = Fixture::new(TOPOLOGY);
    f.server.cmd::<String>(&["SET", "sentinel", "still here"]);
    let original = f.saved_plan();
    type Tamper = fn(&mut Value);
    let tampers: [(&str, Tamper, &str); 10] = [
        (
            "injected command",
            |p| {
                changes(p)[0]["ops"]
                    .as_array_mut()
                    .expect("ops")
                    .push(json!({"op": "flushall"}));
            },
            "damaged",
        ),
        (
            "injected EVAL",
            |p| {
                changes(p)[0]["ops"][0] = json!({"op": "eval", "script": "redis.call('FLUSHALL')"});
            },
            "damaged",
        ),
        (
            "a command smuggled into an operation",
            |p| {
                changes(p)[0]["ops"][0]["command"] = json!(["FLUSHALL"]);
            },
            "damaged",
        ),
        (
            "injected change",
            |p| {
                let intruder = json!({
                    "address": "user.intruder", "kind": "user", "action": "create",
                    "destructive": false, "before": null, "after": null, "reason": "",
                    "ops": [{"op": "set_user", "name": "intruder",
                             "rules": ["on", "nopass", "+@all", "~*", "&*"]}],
                });
                changes(p).insert(0, intruder);
            },
            "change 1: the saved plan has `user.intruder`",
        ),
        (
            "a key outside the namespace",
            |p| {
                let group = changes(p)
                    .iter_mut()
                    .find(|c| c["address"] == "group.orders.billing")
                    .expect("the billing group");
                group["ops"][0]["key"] = json!("victim:stream");
            },
            "operation 1: the operations differ",
        ),
        (
            "a duplicated change",
            |p| {
                let first = changes(p)[0].clone();
                changes(p).insert(0, first);
            },
            "the saved plan has",
        ),
        (
            "a removed change",
            |p| {
                changes(p).remove(0);
            },
            "a plan made now has",
        ),
        (
            "an edited target",
            |p| {
                p["target"]["address"] = json!("10.9.9.9:6379");
            },
            "the saved plan is for another server: it was made for 10.9.9.9:6379",
        ),
        (
            "another namespace",
            |p| {
                p["plan"]["namespace"] = json!("victim");
            },
            "namespace `victim`",
        ),
        (
            "an older format, with command strings",
            |p| {
                p["format_version"] = json!(1);
                changes(p)[0]["commands"] = json!([["FLUSHALL"]]);
            },
            "format_version 1",
        ),
    ];
    for (what, tamper, expected) in tampers {
        let mut plan = original.clone();
        tamper(&mut plan);
        let path = f.write_plan("tampered.json", &plan);
        f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
        let out = f.run(&["apply", "--yes", "--plan", &path]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        assert!(
            text(&out).contains(expected),
            "{what}: {expected:?} not in {}",
            text(&out)
        );
        assert!(
            text(&out).contains("Nothing was applied")
                || text(&out).contains("cannot use the plan"),
            "{what}: {}",
            text(&out)
        );
        assert_eq!(f.writes(), Vec::<String>::new(), "{what} wrote");
        assert_eq!(
            f.server.cmd::<String>(&["GET", "sentinel"]),
            "still here",
            "{what}"
        );
        assert_eq!(
            f.server.cmd::<String>(&["TYPE", "app:orders"]),
            "none",
            "{what}"
        );
    }
    let users: Vec<String> = f.server.cmd(&["ACL", "USERS"]);
    assert_eq!(users, ["default"]);

    let path = f.path("plan.json");
    let out = f.run(&["apply", "--yes", "--plan", &path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the plan as made: {}",
        text(&out)
    );
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "stream");
    let record: String = f.server.cmd(&["GET", "{__topology__:app}:record"]);
    let id = original["id"].as_str().expect("a saved plan has an id");
    assert!(
        record.contains(id),
        "the record names the plan it ran: {record}"
    );

    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let again = f.run(&["apply", "--yes", "--plan", &path]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("This plan was already applied"),
        "{}",
        text(&again)
    );
    assert_eq!(
        f.writes(),
        Vec::<String>::new(),
        "a second run writes nothing"
    );
}

/// A saved plan runs only on the server, database and user it was made for.
#[test]
fn a_saved_plan_is_bound_to_its_server_database_and_user() {
    let f = Fixture::new(TOPOLOGY);
    let other = RedisServer::start();
    f.saved_plan();
    let path = f.path("plan.json");
    let out = f.run_on(&other.url(), &["apply", "--yes", "--plan", &path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let expected = format!(
        "it was made for 127.0.0.1:{}, this is 127.0.0.1:{}",
        f.server.port, other.port
    );
    assert!(text(&out).contains(&expected), "{}", text(&out));
    assert_eq!(other.cmd::<String>(&["TYPE", "app:orders"]), "none");

    let out = f.run_on(
        &format!("{}/1", f.server.url()),
        &["apply", "--yes", "--plan", &path],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("database 0 (this is database 1)"),
        "{}",
        text(&out)
    );

    f.server
        .cmd::<String>(&["ACL", "SETUSER", "ops", "on", ">ops-pw", "~*", "+@all"]);
    let as_ops = format!("redis://ops:ops-pw@127.0.0.1:{}", f.server.port);
    let out = f.run_on(&as_ops, &["apply", "--yes", "--plan", &path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("user `default` (this is user `ops`)"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("ops-pw"), "{}", text(&out));
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "none");
}

/// A command that fails stops the apply: the destructive changes (`--prune`) and the record
/// come after everything else succeeded, so neither runs; the report names the failed
/// command and what was not applied.
#[test]
fn a_failure_stops_apply_before_destructive_changes_and_the_record() {
    let with_old = format!("{TOPOLOGY}  old:\n    retention: unbounded\n");
    let mut f = Fixture::new(&with_old);
    let out = f.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    f.server.cmd::<String>(&["XADD", "app:old", "*", "n", "1"]);
    for i in 0..300 {
        f.server
            .cmd::<String>(&["XADD", "app:orders", "*", "n", &i.to_string()]);
    }
    let record_before: String = f.server.cmd(&["GET", "{__topology__:app}:record"]);
    f.file = topology_file(&format!("{TOPOLOGY}  fresh:\n    retention: unbounded\n"));
    // An apply user that may do everything but trim.
    let all = f.one_failure_as_applier(&["~{__topology__:app}:*", "-xtrim"], &["--prune"]);
    // The server's own words follow (NOPERM); the whole batch was refused as it was queued.
    assert!(
        all.contains("retention.orders: `XTRIM app:orders MAXLEN ~ 100` failed: NOPERM"),
        "{all}"
    );
    assert!(all.contains("none of its batch of 3 commands ran"), "{all}");
    assert!(all.contains("+ stream.fresh: not run"), "{all}");
    assert!(all.contains("- stream.old: not run"), "{all}");
    assert!(all.contains("record: not run"), "{all}");
    assert!(all.contains("The record was not written."), "{all}");
    assert!(!all.contains("applier-pw"), "{all}");
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "app:old"]),
        "stream",
        "the destructive change did not run"
    );
    assert_eq!(
        f.server
            .cmd::<String>(&["GET", "{__topology__:app}:record"]),
        record_before,
        "the record was not written"
    );
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "app:fresh"]),
        "none",
        "as the report says, nothing of the refused batch ran"
    );
}

/// The record's write fails after every other change ran (apply forgets those changes'
/// operations before it, see `apply::forget_applied`): the report still counts them as
/// applied, names the record's command as the failure, and says the record was not written.
#[test]
fn a_failed_record_write_is_reported_after_everything_else_ran() {
    let f = Fixture::new(TOPOLOGY);
    // An apply user that may do everything but write the record (it may read it).
    let all = f.one_failure_as_applier(
        &["~{__topology__:app}:lock*", "%R~{__topology__:app}:record"],
        &[],
    );
    // The server's error (its code and words differ between versions and from inside a
    // script) follows.
    assert!(
        all.contains("record: `SET {__topology__:app}:record <record>` failed: "),
        "{all}"
    );
    // The empty stream's two commands, the two groups: every change but the record ran.
    assert!(
        all.contains("Applied 4 of 5 commands; 3 of 4 changes with commands fully applied."),
        "{all}"
    );
    assert!(
        all.contains("Not (fully) applied:\n  + record: failed (0 of 1 commands)"),
        "{all}"
    );
    assert!(all.contains("The record was not written."), "{all}");
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "stream");
    assert_eq!(
        f.server
            .cmd::<Option<String>>(&["GET", "{__topology__:app}:record"]),
        None
    );
}

/// A `max_age` trim's bound is the one value a saved plan may supply, and only if it
/// removes no more than a plan made now would: an edited, later MINID is refused.
#[test]
fn a_saved_max_age_trim_keeps_its_bound_and_a_later_one_is_refused() {
    let topology = "\
version: 1
namespace: app
streams:
  events:
    retention: { max_age: 1h, approximate: false }
";
    let f = Fixture::new(topology);
    assert_eq!(f.run(&["apply", "--yes"]).status.code(), Some(0));
    // Entries from 1970 and from now: the old ones are past max_age.
    for ms in 1..=5 {
        f.server
            .cmd::<String>(&["XADD", "app:events", &format!("{ms}-0"), "n", "old"]);
    }
    f.server
        .cmd::<String>(&["XADD", "app:events", "*", "n", "new"]);
    let mut plan = f.saved_plan();
    let trim = changes(&mut plan)
        .iter()
        .find(|c| c["address"] == "retention.events")
        .map(|c| c["ops"][0].clone())
        .expect("a trim is planned");
    assert_eq!(
        trim["by"]["minid"].as_str().map(|m| m.ends_with("-0")),
        Some(true),
        "{trim}"
    );

    let mut later = plan.clone();
    for change in changes(&mut later) {
        if change["address"] == "retention.events" {
            change["ops"][0]["by"]["minid"] = json!("99999999999999-0");
        }
    }
    let path = f.write_plan("later.json", &later);
    let out = f.run(&["apply", "--yes", "--plan", &path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("its MINID is later than a plan made now would use"),
        "{}",
        text(&out)
    );
    assert_eq!(
        f.server.cmd::<i64>(&["XLEN", "app:events"]),
        6,
        "nothing trimmed"
    );

    let path = f.path("plan.json");
    let out = f.run(&["apply", "--yes", "--plan", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        f.server.cmd::<i64>(&["XLEN", "app:events"]),
        1,
        "the old entries are gone"
    );
}

/// A command that fails as it runs, in the middle of a batch of changes (a key turned into
/// a string while apply held the lock): the rest of its transaction runs and is reported as
/// applied, no further batch is sent, and neither `--prune`'s deletion nor the record runs.
#[test]
fn a_command_failing_as_it_runs_stops_apply_before_destructive_changes() {
    use super::lock::{server_condition, wait_exit, wait_for};
    use super::proxy::Proxy;
    let with_old = format!("{TOPOLOGY}  old:\n    retention: unbounded\n");
    let f = Fixture::new(&with_old);
    assert_eq!(f.run(&["apply", "--yes"]).status.code(), Some(0));
    let record_before: String = f.server.cmd(&["GET", "{__topology__:app}:record"]);
    let mut topology = TOPOLOGY.to_owned();
    for i in 0..10 {
        topology.push_str(&format!(
            "  s{i}:\n    retention: unbounded\n    groups: {{ g: {{}} }}\n"
        ));
    }
    let file = topology_file(&topology);
    // Hold the apply once it holds the lock; turn `s5` into a string meanwhile.
    let proxy = Proxy::start(f.server.port);
    proxy.stall_when(server_condition(&f.server, |con| {
        redis::cmd("EXISTS")
            .arg("{__topology__:app}:lock")
            .query::<i64>(con)
            .is_ok_and(|n| n == 1)
    }));
    let log = f.dir.path().join("apply.log");
    let output = std::fs::File::create(&log).expect("log file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_redis-topology"))
        .args(["apply", "--yes", "--prune"])
        .arg(file.path())
        .args(["--url", &proxy.url()])
        .env("NO_COLOR", "1")
        .stdout(output.try_clone().expect("log file"))
        .stderr(output)
        .spawn()
        .expect("spawn apply");
    wait_for(
        "the apply to hold the lock",
        std::time::Duration::from_secs(60),
        || proxy.is_stalled(),
    );
    f.server.cmd::<String>(&["SET", "app:s5", "not a stream"]);
    proxy.resume();
    let code = wait_exit(&mut child, std::time::Duration::from_secs(60));
    let all = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains("apply stopped: 1 command failed"), "{all}");
    assert!(
        all.contains("group.s5.g: `XGROUP CREATE app:s5 g $ MKSTREAM` failed: WRONGTYPE"),
        "{all}"
    );
    for key in ["app:s4", "app:s6"] {
        assert_eq!(
            f.server.cmd::<String>(&["TYPE", key]),
            "stream",
            "the rest of the transaction ran, as reported: {all}"
        );
    }
    assert!(all.contains("- stream.old: not run"), "{all}");
    assert!(all.contains("record: not run"), "{all}");
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "app:old"]),
        "stream",
        "the destructive change did not run"
    );
    assert_eq!(
        f.server
            .cmd::<String>(&["GET", "{__topology__:app}:record"]),
        record_before,
        "the record was not written"
    );
}

/// Whether apply may delete comes from its command line only: a saved plan edited to say
/// it was made with `--prune`, holding the deletions a `--prune` plan would, is refused
/// without `--prune`, and nothing is deleted.
#[test]
fn a_saved_plan_cannot_grant_itself_prune() {
    let with_kept = format!("{TOPOLOGY}  kept:\n    retention: unbounded\n");
    let mut f = Fixture::new(&with_kept);
    assert_eq!(f.run(&["apply", "--yes"]).status.code(), Some(0));
    f.file = topology_file(TOPOLOGY);
    let reviewed = f.saved_plan();
    assert_eq!(reviewed["prune"], json!(false));
    // What an attacker can write: the plan a --prune run would make, in the reviewed file.
    let pruning_path = f.path("pruning.json");
    let out = f.run(&["plan", "--prune", "--out", &pruning_path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pruning = read_json(Path::new(&pruning_path));
    let mut tampered = reviewed.clone();
    tampered["prune"] = json!(true);
    tampered["plan"] = pruning["plan"].clone();
    let path = f.write_plan("tampered.json", &tampered);
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let out = f.run(&["apply", "--yes", "--plan", &path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the saved plan was made with --prune"),
        "{}",
        text(&out)
    );
    assert_eq!(f.writes(), Vec::<String>::new());
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:kept"]), "stream");
}

/// An apply user that cannot fence its writes (no `+watch` or `+multi`, as the apply user
/// documented before fencing) is refused before the first write: before, each batch ran
/// unfenced (or outside a transaction) and was reported as not run.
#[test]
fn an_apply_user_that_cannot_fence_writes_nothing() {
    for missing in ["+watch", "+multi"] {
        let f = Fixture::new(TOPOLOGY);
        let mut args = vec![
            "ACL",
            "SETUSER",
            "applier",
            "on",
            ">applier-pw",
            "resetchannels",
            "-@all",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(
            super::util::documented_rules("topology-apply")
                .into_iter()
                .filter(|rule| rule != missing),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        f.server.cmd::<String>(&args);
        let url = format!("redis://applier:applier-pw@127.0.0.1:{}", f.server.port);
        let out = f.run_on(&url, &["apply", "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{missing}: {}", text(&out));
        assert!(
            text(&out)
                .contains("apply cannot fence its writes with the lock, so it writes nothing"),
            "{missing}: {}",
            text(&out)
        );
        assert_eq!(
            f.server.cmd::<String>(&["TYPE", "app:orders"]),
            "none",
            "{missing}"
        );
        assert_eq!(
            f.server.cmd::<i64>(&["DBSIZE"]),
            0,
            "{missing}: no lock, no stream"
        );
    }
}

/// A lock turned into another type while apply holds it reads as not this apply's: the
/// guard stops the batch (before, the guard's own error let `EXEC` run it unfenced).
#[test]
fn a_lock_tampered_into_another_type_stops_apply_before_its_writes() {
    use super::lock::{server_condition, wait_exit, wait_for};
    use super::proxy::Proxy;
    let f = Fixture::new(TOPOLOGY);
    let proxy = Proxy::start(f.server.port);
    proxy.stall_when(server_condition(&f.server, |con| {
        redis::cmd("EXISTS")
            .arg("{__topology__:app}:lock")
            .query::<i64>(con)
            .is_ok_and(|n| n == 1)
    }));
    let log = f.dir.path().join("apply.log");
    let output = std::fs::File::create(&log).expect("log file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_redis-topology"))
        .args(["apply", "--yes"])
        .arg(f.file.path())
        .args(["--url", &proxy.url()])
        .env("NO_COLOR", "1")
        .stdout(output.try_clone().expect("log file"))
        .stderr(output)
        .spawn()
        .expect("spawn apply");
    wait_for(
        "the apply to hold the lock",
        std::time::Duration::from_secs(60),
        || proxy.is_stalled(),
    );
    f.server.cmd::<i64>(&["DEL", "{__topology__:app}:lock"]);
    f.server
        .cmd::<i64>(&["HSET", "{__topology__:app}:lock", "holder", "someone else"]);
    f.server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    proxy.resume();
    let code = wait_exit(&mut child, std::time::Duration::from_secs(60));
    let all = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains("lost the apply lock"), "{all}");
    assert_eq!(
        f.server.cmd::<String>(&["TYPE", "app:orders"]),
        "none",
        "{all}"
    );
    let calls = f.server.commandstats();
    assert!(
        !calls.iter().any(|c| c.starts_with("xgroup")),
        "no group was written: {calls:?}"
    );
}

/// The hint `plan --out` prints names the file, the environment and `--prune`, so that it
/// runs as shown (it used to omit `--env`, and failed on files with environments).
#[test]
fn the_hint_after_plan_out_applies_as_shown() {
    let topology = format!("{TOPOLOGY}environments:\n  dev: {{}}\n  prod: {{}}\n");
    let f = Fixture::new(&topology);
    let path = f.path("plan.json");
    let out = bin()
        .args(["plan", "--env", "prod", "--out", &path])
        .arg(f.file.path())
        .env("REDIS_URL", f.server.url())
        .output()
        .expect("run plan");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    let hint = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("redis-topology "))
        .unwrap_or_else(|| panic!("a hint in: {printed}"));
    assert!(hint.contains("--env prod"), "{hint}");
    let args: Vec<&str> = hint.split_whitespace().collect();
    let applied = bin()
        .args(&args)
        .arg("--yes")
        .env("REDIS_URL", f.server.url())
        .output()
        .expect("run the hint");
    assert_eq!(applied.status.code(), Some(0), "{hint}: {}", text(&applied));
    assert_eq!(f.server.cmd::<String>(&["TYPE", "app:orders"]), "stream");
}
