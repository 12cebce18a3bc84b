//! `export aclfile` against real servers: the shipped topology's users exported to an aclfile,
//! loaded by a redis-server at startup (`--aclfile`), compared with the same users applied by
//! `apply` to another server: the same `ACL GETUSER` for every user, and the same answers to
//! permitted and forbidden commands, logged in as each user with its password. Then the
//! command's errors: an unknown environment, a missing secret (exit 1, no secret printed).

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use crate::redis::{ADMIN, RedisServer, command};
use crate::util::{SHIPPED_ROLES, bin, create_apply_user, text, topology_file};

/// The password a test gives a shipped role (`RAG_WORKER` → `RAG_WORKER-export-pw`).
fn password(role: &str) -> String {
    format!("{role}-export-pw")
}

/// `RAG_WORKER` → `rag-worker`.
fn user_name(role: &str) -> String {
    role.to_ascii_lowercase().replace('_', "-")
}

/// The binary with the shipped roles' password variables set, except `unset`.
fn with_passwords(unset: &[&str]) -> assert_cmd::Command {
    let mut cmd = bin();
    for role in SHIPPED_ROLES {
        let variable = format!("{role}_PASSWORD");
        if unset.contains(&role) {
            cmd.env_remove(&variable);
        } else {
            cmd.env(variable, password(role));
        }
    }
    cmd.timeout(std::time::Duration::from_secs(60));
    cmd
}

/// `ACL GETUSER` as compared: fields by name, each value's words as a set (Redis 7.0 lists a
/// user's commands in an order that differs between server processes), selectors as a set
/// of such maps.
fn normalised(reply: &Value) -> BTreeMap<String, String> {
    fn words(value: &Value) -> String {
        match value {
            Value::BulkString(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let set: BTreeSet<&str> = text.split(' ').collect();
                set.into_iter().collect::<Vec<_>>().join(" ")
            }
            Value::SimpleString(text) => text.clone(),
            Value::Array(items) | Value::Set(items) => {
                let set: BTreeSet<String> = items.iter().map(words).collect();
                format!("[{}]", set.into_iter().collect::<Vec<_>>().join(", "))
            }
            Value::Map(_) => format!("{:?}", pairs(value)),
            other => format!("{other:?}"),
        }
    }
    fn pairs(value: &Value) -> BTreeMap<String, String> {
        let items: Vec<(Value, Value)> = match value {
            Value::Array(items) => items
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect(),
            Value::Map(items) => items.clone(),
            other => panic!("not a user: {other:?}"),
        };
        items
            .iter()
            .map(|(field, value)| {
                let field = words(field);
                let value = match value {
                    // Selectors: each a field list of its own.
                    Value::Array(selectors) if field == "selectors" => {
                        let set: BTreeSet<String> = selectors
                            .iter()
                            .map(|s| format!("{:?}", pairs(s)))
                            .collect();
                        format!("{set:?}")
                    }
                    other => words(other),
                };
                (field, value)
            })
            .collect()
    }
    pairs(reply)
}

/// What a command gives as a user logged in with `password` (`None`: not logged in):
/// `Ok` or the error's code (`NOPERM`, `WRONGPASS`, `NOAUTH`).
fn outcome(server: &RedisServer, login: Option<(&str, &str)>, args: &[&str]) -> Result<(), String> {
    let url = match login {
        Some((user, password)) => format!("redis://{user}:{password}@127.0.0.1:{}", server.port),
        None => server.url(),
    };
    // A failed AUTH while connecting is a kind of error of the client's, without the code.
    let code = |e: redis::RedisError| match e.code() {
        Some(code) => code.to_owned(),
        None if e.kind() == redis::ErrorKind::AuthenticationFailed => "WRONGPASS".to_owned(),
        None => e.to_string(),
    };
    let mut con = redis::Client::open(url)
        .map_err(code)?
        .get_connection()
        .map_err(code)?;
    command(args)
        .query::<Value>(&mut con)
        .map(|_| ())
        .map_err(code)
}

/// A command as a user (logged in with a password, or not at all), and what it must give.
type Check = (
    Option<(String, String)>,
    Vec<&'static str>,
    Result<(), &'static str>,
);

#[test]
fn an_exported_aclfile_loads_and_its_users_behave_like_the_applied_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let acl = dir.path().join("users.acl");
    let out = with_passwords(&[])
        .args([
            "export",
            "aclfile",
            "topology.yaml",
            "--env",
            "prod",
            "--out",
        ])
        .arg(&acl)
        .output()
        .expect("run export");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let exported = std::fs::read_to_string(&acl).expect("the aclfile was written");
    // Printed, the same text.
    let printed = with_passwords(&[])
        .args(["export", "aclfile", "--env", "prod"])
        .output()
        .expect("run export");
    assert_eq!(String::from_utf8_lossy(&printed.stdout), exported);
    for role in SHIPPED_ROLES {
        let hash = redis_topology::model::secrets::sha256_hex(&password(role));
        assert!(exported.contains(&format!("#{hash}")), "{exported}");
        assert!(!exported.contains(&password(role)), "{exported}");
        assert!(!text(&out).contains(&password(role)) && !text(&printed).contains(&password(role)));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&acl)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the hashes are readable by their owner only"
        );
    }
    assert!(exported.starts_with("user auditor "), "{exported}");
    assert!(
        exported.contains("\nuser default reset resetchannels off\n"),
        "{exported}"
    );

    // The operator's own admin, as a chart would add the tool's user: a server loads one
    // aclfile, and users not in it do not exist.
    let mut loaded = exported.clone();
    loaded.push_str(&format!("user {} on >{} ~* &* +@all\n", ADMIN.0, ADMIN.1));
    std::fs::write(&acl, &loaded).expect("write");
    let from_file = RedisServer::start_with(&["--aclfile", acl.to_str().expect("UTF-8 path")]);

    let applied = RedisServer::start();
    applied.create_admin();
    let url = create_apply_user(&applied, &["agentic"]);
    let apply = with_passwords(&[])
        .args([
            "apply",
            "topology.yaml",
            "--env",
            "prod",
            "--yes",
            "--url",
            &url,
        ])
        .output()
        .expect("apply");
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));

    let mut users: Vec<String> = SHIPPED_ROLES.iter().map(|r| user_name(r)).collect();
    users.push("default".to_owned());
    for user in &users {
        let file_user: Value = from_file.admin_cmd(&["ACL", "GETUSER", user]);
        let applied_user: Value = applied.admin_cmd(&["ACL", "GETUSER", user]);
        assert_ne!(file_user, Value::Nil, "{user} was loaded from the file");
        assert_eq!(
            normalised(&file_user),
            normalised(&applied_user),
            "{user}: loaded from the aclfile vs applied"
        );
    }

    // Logged in as each user with its password: what it may and may not do, on both.
    let mut checks: Vec<Check> = Vec::new();
    for role in SHIPPED_ROLES {
        let login = Some((user_name(role), password(role)));
        checks.push((login.clone(), vec!["PING"], Ok(())));
        checks.push((login.clone(), vec!["SET", "agentic:x", "1"], Err("NOPERM")));
        checks.push((login.clone(), vec!["FLUSHALL"], Err("NOPERM")));
        checks.push((
            Some((user_name(role), "wrong".to_owned())),
            vec!["PING"],
            Err("WRONGPASS"),
        ));
    }
    let worker = Some(("rag-worker".to_owned(), password("RAG_WORKER")));
    let fields = ["*", "v", "1"];
    let xadd = |key: &'static str| [&["XADD", key][..], &fields].concat();
    checks.push((worker.clone(), xadd("agentic:rag:results"), Ok(())));
    checks.push((worker.clone(), xadd("agentic:rag:tasks"), Err("NOPERM")));
    checks.push((
        worker.clone(),
        xadd("dev-agentic:rag:results"),
        Err("NOPERM"),
    ));
    let orchestrator = Some(("orchestrator".to_owned(), password("ORCHESTRATOR")));
    checks.push((orchestrator.clone(), xadd("agentic:rag:tasks"), Ok(())));
    checks.push((orchestrator, vec!["XLEN", "agentic:rag:dlq"], Err("NOPERM")));
    checks.push((None, vec!["PING"], Err("NOAUTH")));
    for (login, args, expected) in &checks {
        let login = login.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        for (server, which) in [(&from_file, "aclfile"), (&applied, "applied")] {
            let got = outcome(server, login, args);
            assert_eq!(
                got.as_ref().map_err(String::as_str),
                expected.as_ref().map_err(|e| *e),
                "{which}: {login:?} {args:?}"
            );
        }
    }
}

#[test]
fn a_missing_secret_is_an_error_that_prints_no_secret() {
    let out = with_passwords(&["RAG_WORKER"])
        .args(["export", "aclfile", "--env", "staging"])
        .output()
        .expect("run export");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "nothing printed: {}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(
            "error: ACL user `rag-worker`: the password variable `RAG_WORKER_PASSWORD` is not set"
        ) && shown.contains("export aclfile writes the sha256")
            && shown.contains("Nothing was written"),
        "{shown}"
    );
    for role in SHIPPED_ROLES {
        let hash = redis_topology::model::secrets::sha256_hex(&password(role));
        assert!(
            !shown.contains(&password(role)) && !shown.contains(&hash),
            "{shown}"
        );
    }
    // --out: no file either.
    let dir = tempfile::tempdir().expect("temp dir");
    let acl = dir.path().join("users.acl");
    let out = with_passwords(&["RAG_WORKER"])
        .args(["export", "aclfile", "--env", "staging", "--out"])
        .arg(&acl)
        .output()
        .expect("run export");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!acl.exists());
}

/// `export aclfile` with `args` exits 1, printing nothing on stdout and `message`.
fn fails_with(args: &[&str], message: &str) {
    let out = with_passwords(&[])
        .args(["export", "aclfile"])
        .args(args)
        .output()
        .expect("run export");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert!(text(&out).contains(message), "{}", text(&out));
}

#[test]
fn an_unknown_or_missing_environment_is_an_error() {
    fails_with(
        &["--env", "nope"],
        "error: topology.yaml has no such environment (see --env)",
    );
    fails_with(&[], "declares environments: choose one with --env");
    fails_with(&["no-such.yaml"], "error: cannot read no-such.yaml");
}

#[test]
fn an_invalid_file_shows_its_diagnostics_at_their_line() {
    let file = topology_file("version: 1\nnamespace: app\nstreams:\n  orders: { retension: 5 }\n");
    let out = bin()
        .args(["export", "aclfile"])
        .arg(file.path())
        .output()
        .expect("run export");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("retension") && shown.contains(":4:"),
        "{shown}"
    );
    assert!(shown.contains("is invalid"), "{shown}");
}

#[test]
fn a_topology_without_default_is_exported_with_a_warning() {
    let file = topology_file(
        "version: 1\nnamespace: app\nacl:\n  users:\n    worker: { passwords: [{ env: WORKER_PW }], keys: [jobs], commands: [\"+xadd\"] }\n",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let acl = dir.path().join("users.acl");
    std::fs::write(&acl, "an older file\n").expect("write");
    let out = bin()
        .args(["export", "aclfile"])
        .arg(file.path())
        .arg("--out")
        .arg(&acl)
        .env("WORKER_PW", "pw-1")
        .output()
        .expect("run export");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("warning: the topology does not declare the user `default`")
            && shown.contains("on nopass ~* &* +@all")
            && shown.contains("Wrote 1 ACL user to"),
        "{shown}"
    );
    let hash = redis_topology::model::secrets::sha256_hex("pw-1");
    assert_eq!(
        std::fs::read_to_string(&acl).expect("replaced"),
        format!("user worker reset resetchannels on #{hash} ~app:jobs +xadd\n")
    );
    // --quiet silences the warning and the note, not the file.
    let quiet = bin()
        .args(["-q", "export", "aclfile"])
        .arg(file.path())
        .env("WORKER_PW", "pw-1")
        .output()
        .expect("run export");
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet));
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet));
    assert!(String::from_utf8_lossy(&quiet.stdout).starts_with("user worker "));
}

#[test]
fn an_environment_exports_its_own_user_names_and_namespace() {
    let out = with_passwords(&[])
        .args(["export", "aclfile", "--env", "dev"])
        .output()
        .expect("run export");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    let exported = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("user ")?.split(' ').next())
        .collect();
    assert_eq!(
        names,
        [
            "default",
            "dev-auditor",
            "dev-campaign-manager",
            "dev-cm-subscriber",
            "dev-dlq-reader",
            "dev-ops-monitor",
            "dev-orchestrator",
            "dev-persist-writer",
            "dev-rag-worker",
        ]
    );
    assert!(
        exported.contains("(resetchannels ~dev-agentic:rag:tasks +xreadgroup"),
        "{exported}"
    );
    assert!(!exported.contains("~agentic:"), "{exported}");
}
