//! Trust: the record, the users registry and the names in a topology cannot be turned against
//! other data, through the real binary and a real redis-server.
//!
//! - A record edited to list another namespace's stream, or a user the registry does not give
//!   to this namespace, stops `apply --prune` before anything is written.
//! - Names that are or reach the tool's own keys are rejected by `validate`, at their place.
//! - A namespace is a literal prefix in ACL rules, whatever characters it holds.
//! - ACL user flags the tool does not manage are drift, restored by apply.

use std::process::Output;

use serde_json::Value;

use super::redis::RedisServer;
use super::util::{bin, text, topology_file};

/// The password of every test user (given to topologies as its sha256).
const SVC_PASSWORD: &str = "svc-pw";

fn svc_hash() -> String {
    redis_topology::model::secrets::sha256_hex(SVC_PASSWORD)
}

/// Namespace `app`: a stream, and a user when `with_user`.
fn app_topology(with_user: bool) -> String {
    let mut topology =
        "version: 1\nnamespace: app\nstreams:\n  orders:\n    retention: { maxlen: 100 }\n"
            .to_owned();
    if with_user {
        topology.push_str(&format!(
            "acl:\n  users:\n    worker:\n      passwords: [{{ sha256: {} }}]\n      keys: [\"orders\"]\n      commands: [\"+xadd\"]\n",
            svc_hash()
        ));
    }
    topology
}

fn run(file: &tempfile::NamedTempFile, server: &RedisServer, args: &[&str]) -> Output {
    bin()
        .args(args)
        .arg(file.path())
        .args(["--url", &server.url()])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run redis-topology")
}

fn apply(file: &tempfile::NamedTempFile, server: &RedisServer) {
    let out = run(file, server, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out));
}

/// Edit the record of namespace `app` as someone with write access to it could.
fn edit_record(server: &RedisServer, edit: impl FnOnce(&mut Value)) -> String {
    let json: String = server.cmd(&["GET", "{__topology__:app}:record"]);
    let mut record: Value = serde_json::from_str(&json).expect("record JSON");
    edit(&mut record);
    let json = record.to_string();
    server.cmd::<String>(&["SET", "{__topology__:app}:record", &json]);
    json
}

/// Commands that change data or users, as `INFO commandstats` names them.
fn writes(server: &RedisServer) -> Vec<String> {
    const WRITES: &[&str] = &[
        "set",
        "del",
        "unlink",
        "hset",
        "hdel",
        "xgroup",
        "xtrim",
        "xadd",
        "eval",
        "acl|setuser",
        "acl|deluser",
        "acl|save",
    ];
    server
        .commandstats()
        .into_iter()
        .filter(|c| WRITES.contains(&c.as_str()) || c.starts_with("xgroup|"))
        .collect()
}

#[test]
fn a_record_listing_another_namespaces_stream_stops_prune_and_deletes_nothing() {
    let server = RedisServer::start();
    let file = topology_file(&app_topology(false));
    apply(&file, &server);
    server.cmd::<String>(&["XADD", "victim:stream", "*", "k", "v"]);
    let edited = edit_record(&server, |record| {
        record["streams"]["victim:stream"] = serde_json::json!({ "groups": {} });
    });
    server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let out = run(&file, &server, &["apply", "--prune", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("lists stream `victim:stream`, which is outside namespace `app`"),
        "{shown}"
    );
    assert!(shown.contains("DEL {__topology__:app}:record"), "{shown}");
    assert_eq!(server.cmd::<i64>(&["XLEN", "victim:stream"]), 1);
    assert_eq!(
        server.cmd::<String>(&["GET", "{__topology__:app}:record"]),
        edited
    );
    assert_eq!(writes(&server), Vec::<String>::new(), "nothing is written");
}

#[test]
fn a_record_listing_a_user_of_another_namespace_or_of_none_stops_prune() {
    let server = RedisServer::start();
    let file = topology_file(&app_topology(true));
    apply(&file, &server);
    server.cmd::<String>(&[
        "ACL",
        "SETUSER",
        "victim-admin",
        "on",
        ">victim-pw",
        "~*",
        "+@all",
    ]);
    server.cmd::<i64>(&["HSET", "__topology__:users", "victim-admin", "victim"]);
    edit_record(&server, |record| {
        record["users"] = serde_json::json!(["victim-admin", "worker"]);
    });

    // Registered to another namespace.
    server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let out = run(&file, &server, &["apply", "--prune", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("lists ACL user `victim-admin`, which the users registry `__topology__:users` assigns to namespace `victim`, not `app`"),
        "{shown}"
    );
    assert_ne!(
        server.cmd::<redis::Value>(&["ACL", "GETUSER", "victim-admin"]),
        redis::Value::Nil,
        "the victim's user still exists"
    );
    assert_eq!(writes(&server), Vec::<String>::new(), "nothing is written");

    // Registered to nobody.
    server.cmd::<i64>(&["HDEL", "__topology__:users", "victim-admin"]);
    let out = run(&file, &server, &["apply", "--prune", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("lists ACL user `victim-admin`, which the users registry `__topology__:users` does not assign to namespace `app`"),
        "{shown}"
    );
    assert_ne!(
        server.cmd::<redis::Value>(&["ACL", "GETUSER", "victim-admin"]),
        redis::Value::Nil
    );

    // Gone, but registered to another namespace: its registry entry is not this apply's to
    // drop, with or without --prune.
    server.cmd::<i64>(&["ACL", "DELUSER", "victim-admin"]);
    server.cmd::<i64>(&["HSET", "__topology__:users", "victim-admin", "victim"]);
    for args in [&["apply", "--yes"][..], &["apply", "--prune", "--yes"]] {
        let out = run(&file, &server, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert_eq!(
            server.cmd::<String>(&["HGET", "__topology__:users", "victim-admin"]),
            "victim"
        );
    }
}

/// A diagnostic's code, line and column.
type Place = (String, u64, u64);

/// `validate --format json` of a topology: `(code, line, column)` of each error.
fn errors(topology: &str) -> Vec<Place> {
    let file = topology_file(topology);
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(file.path())
        .output()
        .expect("run validate");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or_default(),
                d["column"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn names_and_patterns_that_reach_the_tools_keys_are_rejected_at_their_place() {
    let invalid = |line, column| vec![("name::invalid".to_owned(), line, column)];
    let cases: &[(&str, Vec<Place>)] = &[
        (
            "version: 1\nnamespace: __topology__\nstreams:\n  users: { retention: unbounded }\n",
            invalid(2, 12),
        ),
        (
            "version: 1\nnamespace: shop:__topology__\nstreams:\n  lock: { retention: unbounded }\n",
            invalid(2, 12),
        ),
        (
            "version: 1\nnamespace: shop\nstreams:\n  eu:__topology__:record: { retention: unbounded }\n",
            invalid(4, 3),
        ),
        (
            "version: 1\nnamespace: ''\nstreams:\n  '{__topology__:shop}:record': { retention: unbounded }\n",
            invalid(4, 3),
        ),
        (
            "version: 1\nnamespace: shop\nstreams:\n  orders:\n    retention: unbounded\n    groups:\n      __topology__:mkstream: {}\n",
            invalid(7, 7),
        ),
        (
            "version: 1\nnamespace: shop\nacl:\n  users:\n    svc:\n      nopass: true\n      keys: [\"*:__topology__:*\"]\n",
            vec![("acl::pattern_reserved".to_owned(), 7, 14)],
        ),
    ];
    for (topology, expected) in cases {
        assert_eq!(&errors(topology), expected, "{topology}");
    }
}

#[test]
fn a_reserved_namespace_can_neither_create_the_registry_nor_a_lock() {
    let server = RedisServer::start();
    for (topology, key) in [
        (
            "version: 1\nnamespace: __topology__\nstreams:\n  users: { retention: unbounded }\n",
            "__topology__:users",
        ),
        (
            "version: 1\nnamespace: shop:__topology__\nstreams:\n  lock: { retention: unbounded }\n",
            "shop:__topology__:lock",
        ),
    ] {
        let file = topology_file(topology);
        let out = run(&file, &server, &["apply", "--yes"]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(shown.contains("name::invalid"), "{shown}");
        assert_eq!(server.cmd::<i64>(&["EXISTS", key]), 0, "{key}");
    }
    assert_eq!(server.cmd::<i64>(&["DBSIZE"]), 0);
}

/// A topology for namespace `ns` with user `svc` (password `svc-pw`) that may read and write
/// `ns:s` and `ns:s:*` and publish to `ns:events`.
fn isolated(namespace: &str) -> String {
    format!(
        "version: 1\nnamespace: '{namespace}'\nacl:\n  users:\n    svc:\n      passwords: [{{ sha256: {} }}]\n      keys: [\"s\", \"s:*\"]\n      channels: [\"events\"]\n      commands: [\"+get\", \"+set\", \"+publish\"]\n",
        svc_hash()
    )
}

fn login(server: &RedisServer) -> redis::Connection {
    let url = format!("redis://svc:{SVC_PASSWORD}@127.0.0.1:{}", server.port);
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("svc logs in")
}

fn set(con: &mut redis::Connection, key: &str) -> redis::RedisResult<String> {
    redis::cmd("SET").arg(key).arg("v").query(con)
}

/// Connections the server has accepted so far (this query's own included).
fn connections(server: &RedisServer) -> u64 {
    let info: String = server.cmd(&["INFO", "stats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_default()
}

/// A permission error, by its code (the words after it differ between versions).
fn is_noperm(result: redis::RedisResult<String>) -> bool {
    matches!(result, Err(e) if e.code() == Some("NOPERM"))
}

/// `\` is escaped in the ACL rules: the user reaches its own keys and not the neighbour's.
/// `* ? [ ]` are refused at the namespace's line, and plan and apply stop before writing.
#[test]
fn every_glob_character_in_a_namespace_is_escaped_or_refused() {
    let server = RedisServer::start();
    // `pro\j` unescaped would be `~pro\j:s`, which matches `proj:s`.
    let file = topology_file(&isolated("pro\\j"));
    apply(&file, &server);
    let mut con = login(&server);
    assert_eq!(set(&mut con, "pro\\j:s").expect("own key"), "OK");
    assert_eq!(set(&mut con, "pro\\j:s:1").expect("own key"), "OK");
    assert!(is_noperm(set(&mut con, "proj:s")), "the neighbour's key");
    assert!(is_noperm(set(&mut con, "proj:s:1")), "the neighbour's key");
    let publish = |channel: &str| -> String {
        server.cmd(&["ACL", "DRYRUN", "svc", "PUBLISH", channel, "m"])
    };
    assert_eq!(publish("pro\\j:events"), "OK");
    assert_ne!(publish("proj:events"), "OK", "the neighbour's channel");

    for c in ['*', '?', '[', ']'] {
        let namespace = format!("pro{c}j");
        let file = topology_file(&isolated(&namespace));
        let found = errors(&isolated(&namespace));
        assert_eq!(found, [("name::invalid".to_owned(), 2, 12)], "{namespace}");
        server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
        for args in [&["plan"][..], &["apply", "--yes"]] {
            let before = connections(&server);
            let out = run(&file, &server, args);
            let shown = text(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?} {namespace}: {shown}");
            assert!(
                shown.contains(&format!("contains the glob character `{c}`")),
                "{shown}"
            );
            // One connection: the one that counts them.
            assert_eq!(
                connections(&server),
                before + 1,
                "{args:?} {namespace} connected"
            );
        }
        assert_eq!(writes(&server), Vec::<String>::new(), "{namespace}");
    }
}

/// The shipped per-project example with a project ID holding a backslash: project `4\2`'s
/// API user cannot touch project `42`'s documents.
#[test]
fn the_per_project_example_isolates_an_id_with_a_backslash() {
    let server = RedisServer::start();
    // The example disables `default`: apply as the documented apply user, check as an admin.
    server.create_admin();
    let url = crate::util::create_apply_user(&server, &["proj:4\\2"]);
    let out = bin()
        .args([
            "apply",
            "--yes",
            "examples/per-project.yaml",
            "--env",
            "prod",
        ])
        .args(["--url", &url])
        .env("PROJECT_ID", "4\\2")
        .env("PROJECT_API_PASSWORD", "api-pw")
        .env("PROJECT_EMBEDDER_PASSWORD", "embedder-pw")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let may = |key: &str| -> bool {
        server.admin_cmd::<String>(&["ACL", "DRYRUN", "api-4\\2", "GET", key]) == "OK"
    };
    assert!(may("proj:4\\2:doc:1"), "its own document");
    assert!(!may("proj:42:doc:1"), "project 42's document");
    let subscribe: String =
        server.admin_cmd(&["ACL", "DRYRUN", "api-4\\2", "SUBSCRIBE", "proj:42:progress"]);
    assert_ne!(subscribe, "OK", "project 42's progress channel");
}

/// The glob matcher the lints use answers as Redis does (checked through ACL key rules).
#[test]
fn glob_matching_agrees_with_redis() {
    let server = RedisServer::start();
    let cases = [
        ("a*b", "axxb"),
        ("a*b", "axxbc"),
        ("*:record", "ns:__topology__:record"),
        ("ns:__*", "ns:__topology__:lock"),
        ("ns:_?topology__:*", "ns:__topology__:lock"),
        ("a?c", "ac"),
        ("[abc]x", "bx"),
        ("[^abc]x", "bx"),
        ("[c-a]", "b"),
        ("[a\\]]", "]"),
        ("[]a]", "a"),
        ("[a-]", "_"),
        ("[abc", "c"),
        ("a[", "a"),
        ("\\*", "*"),
        ("\\*", "x"),
        ("pro\\j:s", "proj:s"),
        ("pro\\\\j:s", "proj:s"),
        ("pro\\\\j:s", "pro\\j:s"),
        ("a\\", "a\\"),
        ("*a*a*a*b", "aaaaaaaaaaaa"),
    ];
    for (pattern, key) in cases {
        server.cmd::<String>(&[
            "ACL",
            "SETUSER",
            "globber",
            "reset",
            "on",
            "nopass",
            &format!("~{pattern}"),
            "+get",
        ]);
        let redis = server.cmd::<String>(&["ACL", "DRYRUN", "globber", "GET", key]) == "OK";
        assert_eq!(
            redis_topology::glob::matches(pattern, key),
            redis,
            "pattern {pattern:?} key {key:?}"
        );
    }
}

/// A flag set by hand that widens access is drift, and apply restores the user; once
/// restored, nothing changes (a second apply sends no ACL SETUSER). Valkey 9.1.2 dropped the
/// payload-sanitizing flags: it accepts `skip-sanitize-payload` but shows neither flag and has
/// no `sanitize-dump-payload` setting any more (valkey-doc#448 cites valkey#3721), so there the
/// same hand edit changes nothing the user may do, and the plan must say "no changes".
#[test]
fn a_flag_set_by_hand_is_drift_that_apply_restores() {
    let server = RedisServer::start();
    let file = topology_file(&app_topology(true));
    apply(&file, &server);
    server.cmd::<String>(&["ACL", "SETUSER", "worker", "skip-sanitize-payload"]);
    let flags = |server: &RedisServer| -> Vec<String> {
        server
            .cmd::<Vec<redis::Value>>(&["ACL", "GETUSER", "worker"])
            .chunks(2)
            .find(|pair| pair[0] == redis::Value::BulkString(b"flags".to_vec()))
            .and_then(|pair| redis::from_redis_value(pair[1].clone()).ok())
            .unwrap_or_default()
    };
    let out = run(&file, &server, &["plan", "--detailed-exitcode"]);
    let shown = text(&out);
    if !flags(&server).contains(&"skip-sanitize-payload".to_owned()) {
        // The server keeps no such flag: nothing to restore.
        assert_eq!(out.status.code(), Some(0), "{shown}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("flags: the server also has skip-sanitize-payload (removed)"),
        "{shown}"
    );
    apply(&file, &server);
    let flags = flags(&server);
    assert!(flags.contains(&"sanitize-payload".to_owned()), "{flags:?}");
    assert!(
        !flags.contains(&"skip-sanitize-payload".to_owned()),
        "{flags:?}"
    );
    server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    apply(&file, &server);
    let stats = server.commandstats();
    assert!(!stats.iter().any(|c| c == "acl|setuser"), "{stats:?}");
}
