//! A large generated topology (20,000 streams, 2 groups each, retention, 200 users, and an
//! environment whose overlay changes, adds and removes streams) against a real redis-server:
//! it validates in every environment, applies, and then plans empty. At this size loading
//! frees the file's tree and the typed model as it goes (`Converter::topology`,
//! `Desired::from_owned_topology`); `validate` of several environments reads the shared tree
//! in place instead. Both paths must give what the server then holds.

use std::fmt::Write as _;
use std::process::Output;

use super::redis::RedisServer;
use super::util::{bin, text, topology_file};

const STREAMS: usize = 20_000;
const USERS: usize = 200;
/// sha256("password").
const HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

/// `s{i}` for every stream; `prod` trims `s7` harder, drops `s8` and adds `extra`.
fn topology() -> String {
    let mut y = String::from("version: 1\nnamespace: big\nstreams:\n");
    for i in 0..STREAMS {
        let retention = if i % 2 == 0 {
            "{ maxlen: 1000 }"
        } else {
            "{ max_age: 7d }"
        };
        let _ = writeln!(
            y,
            "  s{i}:\n    retention: {retention}\n    groups: {{ workers: {{ start: \"$\" }}, audit: {{ start: \"0\" }} }}"
        );
    }
    y.push_str("acl:\n  users:\n");
    for u in 0..USERS {
        let _ = writeln!(
            y,
            "    u{u}:\n      passwords: [{{ sha256: {HASH} }}]\n      keys: {{ read: [\"s{u}*\"] }}\n      commands: [\"+@stream\"]"
        );
    }
    y.push_str(
        "environments:\n  prod:\n    streams:\n      s7: { retention: { maxlen: 10 } }\n      s8: null\n      extra: { retention: unbounded, groups: { g: {} } }\n",
    );
    y
}

fn run(server: &RedisServer, file: &tempfile::NamedTempFile, args: &[&str]) -> Output {
    bin()
        .args(args)
        .arg(file.path())
        .arg("--url")
        .arg(server.url())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .expect("run redis-topology")
}

fn group_names(server: &RedisServer, key: &str) -> Vec<String> {
    let mut names = super::plan_apply::groups(server, key);
    names.sort();
    names
}

#[test]
fn twenty_thousand_streams_validate_apply_and_plan_empty() {
    let file = topology_file(&topology());
    let server = RedisServer::start();

    // Every environment from one tree (shared: read in place), then `prod` alone (owned).
    let all = bin()
        .arg("validate")
        .arg(file.path())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .expect("validate");
    assert_eq!(all.status.code(), Some(0), "{}", text(&all));
    let prod = bin()
        .args(["validate", "--env", "prod", "--format", "json"])
        .arg(file.path())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .expect("validate --env prod");
    assert_eq!(prod.status.code(), Some(0), "{}", text(&prod));

    let applied = run(&server, &file, &["apply", "--env", "prod", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    // 20,000 streams less `s8` plus `extra`, the record and the users' registry.
    assert_eq!(server.cmd::<i64>(&["DBSIZE"]), 20_002);
    assert_eq!(server.cmd::<i64>(&["EXISTS", "big:s8"]), 0);
    assert_eq!(group_names(&server, "big:extra"), ["g"]);
    for key in ["big:s0", "big:s7", "big:s19999"] {
        assert_eq!(group_names(&server, key), ["audit", "workers"], "{key}");
    }
    let users: Vec<String> = server.cmd(&["ACL", "USERS"]);
    assert_eq!(users.iter().filter(|u| u.starts_with('u')).count(), USERS);

    let plan = run(
        &server,
        &file,
        &["plan", "--env", "prod", "--detailed-exitcode"],
    );
    assert_eq!(
        plan.status.code(),
        Some(0),
        "not converged: {}",
        text(&plan)
    );
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("No changes"),
        "{}",
        text(&plan)
    );
}
