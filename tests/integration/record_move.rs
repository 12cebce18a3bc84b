//! The tool's keys under their old names (`<ns>:__topology__:record` and `:lock`, before the
//! hash tag): a record there is read and moved by the next apply; a lock there, held by an
//! older apply, is waited for. Run as the least-privilege users of docs/operations.md, so
//! that their documented rules are shown to cover both names.

use std::process::Output;

use super::redis::RedisServer;
use super::util::{ORDERS_AND_AUDIT, bin, create_tool_user, text, topology_file};

const RECORD: &str = "{__topology__:app}:record";
const OLD_RECORD: &str = "app:__topology__:record";
const LOCK: &str = "{__topology__:app}:lock";
const OLD_LOCK: &str = "app:__topology__:lock";

struct Fixture {
    server: RedisServer,
    file: tempfile::NamedTempFile,
    plan_url: String,
    apply_url: String,
}

impl Fixture {
    fn new() -> Fixture {
        let server = RedisServer::start();
        let plan_url = create_tool_user(&server, "topology-plan", &["app"]);
        let apply_url = create_tool_user(&server, "topology-apply", &["app"]);
        Fixture {
            server,
            file: topology_file(ORDERS_AND_AUDIT),
            plan_url,
            apply_url,
        }
    }

    fn run(&self, url: &str, args: &[&str]) -> Output {
        bin()
            .args(args)
            .arg(self.file.path())
            .arg("--url")
            .arg(url)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run redis-topology")
    }

    fn plan(&self) -> Output {
        self.run(&self.plan_url, &["plan"])
    }

    fn apply(&self, extra: &[&str]) -> Output {
        let mut args = vec!["apply", "--yes"];
        args.extend(extra);
        self.run(&self.apply_url, &args)
    }

    /// The old-name lock, as an apply of an older version holds it, for `ms`.
    fn hold_old_lock(&self, holder: &str, ms: u64) {
        let ms = ms.to_string();
        self.server
            .cmd::<String>(&["SET", OLD_LOCK, holder, "PX", &ms]);
    }

    fn exists(&self, key: &str) -> bool {
        self.server.cmd::<i64>(&["EXISTS", key]) == 1
    }

    fn record(&self, key: &str) -> serde_json::Value {
        let json: String = self.server.cmd(&["GET", key]);
        serde_json::from_str(&json).expect("a record is JSON")
    }

    /// Apply, then put the record where versions before the hash tag kept it. Its JSON is
    /// what they wrote: the record's format did not change, only its key.
    fn applied_by_an_older_version(&self) -> serde_json::Value {
        let out = self.apply(&[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        self.server.cmd::<String>(&["RENAME", RECORD, OLD_RECORD]);
        self.record(OLD_RECORD)
    }
}

/// The output of a run that exited with `code` and says `expected`.
fn says(out: &Output, code: i32, expected: &str) -> String {
    let shown = text(out);
    assert_eq!(out.status.code(), Some(code), "{shown}");
    assert!(shown.contains(expected), "{expected:?} in {shown}");
    shown
}

#[test]
fn a_record_under_its_old_name_is_read_moved_by_the_next_apply_and_then_clean() {
    let f = Fixture::new();
    let old = f.applied_by_an_older_version();
    assert!(!f.exists(RECORD));

    // Plan reads it as the record: nothing to create or adopt, only the move.
    let shown = says(
        &f.plan(),
        0,
        &format!("moves the record from `{OLD_RECORD}` to `{RECORD}`"),
    );
    assert!(shown.contains(&format!("DEL {OLD_RECORD}")), "{shown}");
    assert!(!shown.contains("first apply"), "{shown}");
    for address in ["stream.", "group."] {
        assert!(!shown.contains(address), "{address} in {shown}");
    }
    let json = f.run(&f.plan_url, &["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("plan JSON");
    let kinds: Vec<&str> = plan["changes"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["record"], "{plan}");

    // Apply moves it: written under the new name, gone under the old one.
    let out = f.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!f.exists(OLD_RECORD), "the old name is deleted");
    let moved = f.record(RECORD);
    assert_eq!(moved["streams"], old["streams"], "{moved}");
    assert_eq!(moved["serial"], old["serial"].as_u64().unwrap_or(0) + 1);

    // And the next plan is clean.
    let out = f.plan();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("No changes."), "{}", text(&out));
}

/// An older apply ran after this version moved the record: which one is current is not for
/// the tool to guess, so plan and apply refuse, naming both keys, and write nothing.
#[test]
fn a_record_under_both_names_is_refused_naming_both() {
    let f = Fixture::new();
    f.applied_by_an_older_version();
    let out = f.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    f.applied_by_an_older_version(); // moved back by hand: the new one written again
    let json: String = f.server.cmd(&["GET", OLD_RECORD]);
    f.server.cmd::<String>(&["SET", RECORD, &json]);
    for out in [f.plan(), f.apply(&[])] {
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(
            shown.contains(&format!(
                "namespace `app` has a record under two names, `{RECORD}`"
            )) && shown.contains(&format!("its old name `{OLD_RECORD}`")),
            "{shown}"
        );
    }
    assert!(f.exists(RECORD) && f.exists(OLD_RECORD), "nothing deleted");
    assert!(!f.exists(LOCK), "no lock taken");
}

/// The lock under its old name is an older apply's: waited for, named, and not taken while
/// it holds it; once it expires, the apply runs.
#[test]
fn an_old_name_lock_held_blocks_an_apply() {
    let f = Fixture::new();
    let holder = "ci-host/pid 42/since 0/abc";
    f.hold_old_lock(holder, 60_000);
    says(
        &f.apply(&["--lock-timeout", "1"]),
        1,
        &format!("another apply holds the lock `{OLD_LOCK}` (ci-host/pid 42/since 0)"),
    );
    assert!(!f.exists("app:orders"), "nothing written");
    assert!(!f.exists(LOCK) && !f.exists(RECORD), "nothing written");

    // A lock about to expire is outlasted.
    f.hold_old_lock(holder, 500);
    says(&f.apply(&["--lock-timeout", "10"]), 0, "Apply complete");
    assert!(f.exists("app:orders") && f.exists(RECORD));
}

/// An older apply that was killed (its connection gone) holds the old-name lock until its
/// lease ends: like a killed apply of this version, it is taken over at once, its old-name
/// lock deleted only while it still holds it.
#[test]
fn an_old_name_lock_of_a_killed_apply_is_taken_over_at_once() {
    let f = Fixture::new();
    let gone = "ci-host/pid 42/since 0/client 999999/abc";
    f.hold_old_lock(gone, 60_000);
    let started = std::time::Instant::now();
    says(&f.apply(&["--lock-timeout", "30"]), 0, "Apply complete");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "not waited out: {:?}",
        started.elapsed()
    );
    assert!(!f.exists(OLD_LOCK), "its old-name lock is gone");
    assert!(f.exists("app:orders") && f.exists(RECORD));
}
