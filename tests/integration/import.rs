//! `import` against real servers populated by hand (as redis-cli would: XADD, XGROUP CREATE,
//! ACL SETUSER through the harness's client, never by the tool): the file it writes
//! validates, and `plan` on it changes no stream, group or user (it only adopts them into
//! the record); apply, then plan is empty.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use super::deployments::{LocalCluster, ReplicatedPrimary};
use super::redis::RedisServer;
use super::util::{SHIPPED_ROLES, bin, create_apply_user, text};

/// Run `import` for `namespace` from `url`, with `extra` arguments.
fn import(url: &str, namespace: &str, extra: &[&str]) -> Output {
    bin()
        .args(["import", "--namespace", namespace, "--url", url])
        .args(extra)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("run import")
}

/// Import into `<dir>/imported.yaml`; the file's text and what import said on stderr.
fn import_to(dir: &Path, url: &str, namespace: &str) -> (PathBuf, String, String) {
    let path = dir.join("imported.yaml");
    let out = import(
        url,
        namespace,
        &["--out", path.to_str().expect("utf-8 path")],
    );
    assert_eq!(out.status.code(), Some(0), "import: {}", text(&out));
    assert!(out.stdout.is_empty(), "--out prints nothing on stdout");
    let written = std::fs::read_to_string(&path).expect("the imported file");
    (
        path,
        written,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn validate(path: &Path) {
    let out = bin()
        .arg("validate")
        .arg(path)
        .output()
        .expect("run validate");
    assert_eq!(out.status.code(), Some(0), "validate: {}", text(&out));
}

/// `plan --format json` of `path` on `url`, with these variables set.
fn plan_json(path: &Path, url: &str, env: &[(&str, &str)]) -> Value {
    plan_json_in(path, url, None, env)
}

/// [`plan_json`] of one environment of the file.
fn plan_json_in(path: &Path, url: &str, environment: Option<&str>, env: &[(&str, &str)]) -> Value {
    let mut cmd = bin();
    cmd.args(["plan", "--format", "json"])
        .arg(path)
        .args(["--url", url]);
    if let Some(environment) = environment {
        cmd.args(["--env", environment]);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run plan");
    assert_eq!(out.status.code(), Some(0), "plan: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("plan JSON")
}

/// The plan changes no stream, group or user: each user it names is adopted as it is (no
/// command), and the record is the only other change. Returns the adopted users' names.
fn assert_only_adoption(plan: &Value) -> Vec<String> {
    let changes = plan["changes"].as_array().expect("changes");
    let mut adopted = Vec::new();
    for change in changes {
        let address = change["address"].as_str().unwrap_or_default();
        let commands = change["commands"].as_array().map_or(0, Vec::len);
        match change["kind"].as_str() {
            Some("record") => {}
            Some("user") => {
                let reason = change["reason"].as_str().unwrap_or_default();
                assert!(
                    commands == 0 && reason.starts_with("adopted: exists and matches"),
                    "{address} changes: {change:#}"
                );
                adopted.push(address.trim_start_matches("user.").to_owned());
            }
            _ => panic!("the plan changes {address}: {change:#}"),
        }
    }
    adopted
}

/// `apply --yes` of `path` on `url` with these variables, then a plan that must be empty.
fn apply_then_plan_empty(path: &Path, url: &str, env: &[(&str, &str)]) {
    let run = |args: &[&str]| {
        let mut cmd = bin();
        cmd.args(args).arg(path).args(["--url", url]);
        for (name, value) in env {
            cmd.env(name, value);
        }
        cmd.timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run")
    };
    let out = run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "apply: {}", text(&out));
    let out = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan after apply: {}",
        text(&out)
    );
}

fn cmd(server: &RedisServer, args: &[&str]) {
    let _: redis::Value = server.cmd(args);
}

/// A namespace made by hand: streams with groups (one empty), keys of other types and of
/// other namespaces, and users written in the rule orders of Redis 7.0 (`ACL LIST` prints
/// commands first) and 7.2 (keys first), with selectors.
#[test]
fn a_namespace_made_by_hand_imports_validates_and_plans_only_its_adoption() {
    let server = RedisServer::start();
    for args in [
        &["XADD", "app:orders", "*", "item", "1"][..],
        &["XADD", "app:orders", "*", "item", "2"],
        &["XADD", "app:orders", "*", "item", "3"],
        &["XGROUP", "CREATE", "app:orders", "billing", "0"],
        &["XGROUP", "CREATE", "app:orders", "shipping", "$"],
        &["XADD", "app:audit", "*", "event", "x"],
        &["XGROUP", "CREATE", "app:empty", "g", "$", "MKSTREAM"],
        &["XADD", "app:deep:nested:name", "*", "a", "b"],
        // Not imported: other types, other namespaces, a namespace that only starts alike.
        &["SET", "app:counter", "1"],
        &["HSET", "app:hash", "f", "v"],
        &["XADD", "other:orders", "*", "a", "b"],
        &["XADD", "application:orders", "*", "a", "b"],
        // 7.0's order (commands, then keys and channels) and 7.2's (keys first).
        &[
            "ACL",
            "SETUSER",
            "commands-first",
            "on",
            ">pw1",
            "+@stream",
            "-xdel",
            "+ping",
            "~app:orders",
            "%R~app:audit",
            "&app:events:*",
        ],
        &[
            "ACL",
            "SETUSER",
            "keys-first",
            "on",
            ">pw2",
            "~app:orders",
            "%R~app:audit",
            "&app:events:*",
            "+ping",
            "+@stream",
            "-xdel",
        ],
        &[
            "ACL",
            "SETUSER",
            "worker",
            "on",
            ">pw3",
            "+ping",
            "+hello",
            "(~app:orders +xreadgroup +xack +xautoclaim +xclaim +xpending +xinfo|groups)",
            "(%W~app:audit +xadd +xlen)",
            "(%R~app:deep:* +xrange)",
        ],
        &[
            "ACL", "SETUSER", "rotating", "on", ">old", ">new", "%R~app:*", "+@read",
        ],
        &["ACL", "SETUSER", "locked", "off", "~app:empty", "+xlen"],
        // Not imported: another namespace's user; one half in it (warned); a flag the
        // format cannot say (warned).
        &["ACL", "SETUSER", "outsider", "on", ">x", "~other:*", "+get"],
        &[
            "ACL",
            "SETUSER",
            "straddler",
            "on",
            ">x",
            "~app:orders",
            "~other:*",
            "+xlen",
        ],
        &[
            "ACL",
            "SETUSER",
            "skipper",
            "on",
            ">x",
            "~app:orders",
            "+xlen",
            "skip-sanitize-payload",
        ],
    ] {
        cmd(&server, args);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, written, said) = import_to(dir.path(), &server.url(), "app");
    for stream in [
        "\"orders\":",
        "\"audit\":",
        "\"empty\":",
        "\"deep:nested:name\":",
    ] {
        assert!(written.contains(stream), "{stream} in:\n{written}");
    }
    for absent in [
        "\"counter\"",
        "\"hash\"",
        "other:orders",
        "application",
        "outsider",
    ] {
        assert!(!written.contains(absent), "{absent} in:\n{written}");
    }
    assert!(written.contains("# retention: not kept by Redis. The stream holds 3 entries now"));
    assert!(
        written.contains(
            "passwords: [{ env: \"ROTATING_PASSWORD\" }, { env: \"ROTATING_PASSWORD_2\" }]"
        ),
        "{written}"
    );
    assert!(written.contains("preset: consumer"), "{written}");
    assert!(
        !written.contains("sha256"),
        "no hash without --with-hashes:\n{written}"
    );
    assert!(said.contains("not imported: user `straddler`"), "{said}");
    // Valkey 9 prints neither sanitize flag: the flag is then invisible to plan too, and the
    // user imports like any other.
    let getuser: redis::Value = server.cmd(&["ACL", "GETUSER", "skipper"]);
    let flag_shown = format!("{getuser:?}").contains("skip-sanitize-payload");
    let mut expected = vec![
        "commands-first",
        "keys-first",
        "locked",
        "rotating",
        "worker",
    ];
    if flag_shown {
        assert!(said.contains("not imported: user `skipper`"), "{said}");
        assert!(said.contains("skip-sanitize-payload"), "{said}");
    } else {
        expected.push("skipper");
    }
    expected.sort_unstable();
    assert!(
        said.contains(&format!(
            "imported 4 streams with 3 groups, and {} ACL users",
            expected.len()
        )),
        "{said}"
    );
    validate(&path);

    let plan = plan_json(&path, &server.url(), &[]);
    let mut adopted = assert_only_adoption(&plan);
    adopted.sort();
    assert_eq!(adopted, expected);
    // With the passwords set to the users' own, apply changes none of them.
    let passwords = [
        ("COMMANDS_FIRST_PASSWORD", "pw1"),
        ("KEYS_FIRST_PASSWORD", "pw2"),
        ("WORKER_PASSWORD", "pw3"),
        ("ROTATING_PASSWORD", "old"),
        ("ROTATING_PASSWORD_2", "new"),
        ("SKIPPER_PASSWORD", "x"),
    ];
    let plan = plan_json(&path, &server.url(), &passwords);
    assert_only_adoption(&plan);
    cmd(&server, &["CONFIG", "RESETSTAT"]);
    apply_then_plan_empty(&path, &server.url(), &passwords);
    assert!(
        !server
            .commandstats()
            .iter()
            .any(|c| c.starts_with("acl|setuser")
                || c.starts_with("xgroup")
                || c.starts_with("xtrim")),
        "apply wrote a user or a stream: {:?}",
        server.commandstats()
    );
    let auth: String = server.cmd(&["AUTH", "rotating", "new"]);
    assert_eq!(auth, "OK");
}

/// The shipped topology applied by the tool, then imported: the same streams, groups and
/// users (what Redis does not keep aside: retention, descriptions, schemas, roles), so that
/// planning the import against the server changes nothing but the record.
#[test]
fn the_shipped_topology_applied_then_imported_is_reproduced() {
    let server = RedisServer::start();
    server.create_admin();
    let url = create_apply_user(&server, &["agentic"]);
    let variables: Vec<(String, String)> = SHIPPED_ROLES
        .iter()
        .map(|role| (format!("{role}_PASSWORD"), format!("{role}-secret")))
        .collect();
    let shipped = super::util::repo().join("topology.yaml");
    let mut apply = bin();
    apply
        .args(["apply", "--yes", "--env", "staging"])
        .arg(&shipped)
        .args(["--url", &url]);
    for (name, value) in &variables {
        apply.env(name, value);
    }
    let out = apply
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("apply");
    assert_eq!(out.status.code(), Some(0), "apply: {}", text(&out));

    let dir = tempfile::tempdir().expect("temp dir");
    let (path, written, said) = import_to(dir.path(), &server.admin_url(), "agentic");
    validate(&path);
    // The tool's own user reaches its record and registry: not expressible, and said.
    assert!(
        said.contains("not imported: user `topology-apply`"),
        "{said}"
    );

    // Same streams, groups and user names as the shipped file's staging environment.
    let declared = |file: &Path, env: Option<&str>| {
        let vars = std::collections::HashMap::<String, String>::new();
        let (report, topology) = redis_topology::validate::load_environment(file, env, &vars);
        let topology = topology.unwrap_or_else(|| panic!("{file:?}: {:?}", report.diagnostics));
        redis_topology::model::desired::Desired::from_topology(
            &topology,
            env,
            &redis_topology::model::secrets::Secrets::SourcesOnly,
        )
        .expect("desired")
    };
    let shipped = declared(&shipped, Some("staging"));
    assert!(
        written.contains("environments:\n  \"staging\": {}"),
        "{written}"
    );
    let imported = declared(&path, Some("staging"));
    let streams = |d: &redis_topology::model::desired::Desired| -> Vec<(String, Vec<String>)> {
        d.streams
            .iter()
            .map(|(k, s)| (k.clone(), s.groups.keys().map(|g| g.to_string()).collect()))
            .collect()
    };
    assert_eq!(streams(&imported), streams(&shipped), "{written}");
    let users = |d: &redis_topology::model::desired::Desired| -> Vec<String> {
        d.users.keys().cloned().collect()
    };
    assert_eq!(users(&imported), users(&shipped), "{written}");
    for (name, user) in &shipped.users {
        let found = &imported.users[name];
        assert_eq!(found.enabled, user.enabled, "{name}");
        assert_eq!(
            found.password_hashes.len() + found.unknown_passwords.len(),
            user.password_hashes.len() + user.unknown_passwords.len(),
            "{name}"
        );
        assert_eq!(found.selectors.len(), user.selectors.len(), "{name}");
    }
    assert!(written.contains("\"RAG_WORKER_PASSWORD\""), "{written}");

    // Planned against the server: the users compare equal on meaning, and nothing but the
    // record (which now holds this file's digest) changes.
    let env: Vec<(&str, &str)> = variables
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    for plan in [
        plan_json_in(&path, &url, Some("staging"), &[]),
        plan_json_in(&path, &url, Some("staging"), &env),
    ] {
        let changes = plan["changes"].as_array().expect("changes");
        assert!(
            changes.iter().all(|c| c["kind"] == "record"),
            "{:#}",
            plan["changes"]
        );
    }
}

/// Keys of other namespaces and other types stay out; hostile names are quoted so that
/// they read back exactly, or left out with a warning when the format cannot take them.
#[test]
fn hostile_names_round_trip_or_are_left_out_with_a_warning() {
    let server = RedisServer::start();
    let quoted = "app:say\"hi\"#not-a-comment";
    let streams = [
        "app:has\"quote",
        "app:has#hash",
        "app:a:b:c",
        "app:${HOME}",
        "app:{tag}x",
        "app:it's",
        "app:new\nline",
        "app:glob*",
        "app:é中文",
        "app:white space",
    ];
    for key in streams {
        cmd(&server, &["XADD", key, "*", "f", "v"]);
    }
    cmd(&server, &["XADD", quoted, "*", "f", "v"]);
    cmd(
        &server,
        &["XGROUP", "CREATE", "app:has#hash", "g\"#1:x", "$"],
    );
    cmd(&server, &["XGROUP", "CREATE", "app:has#hash", "g\rcr", "$"]);
    cmd(&server, &["XGROUP", "CREATE", "app:has#hash", "g$x", "$"]);
    cmd(
        &server,
        &[
            "ACL",
            "SETUSER",
            "user\"#x",
            "on",
            ">pw",
            "~app:has\"quote",
            "~app:${HOME}",
            "+xlen",
        ],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, written, said) = import_to(dir.path(), &server.url(), "app");
    // Every line of the file is YAML or a comment: no name broke out of its line.
    for line in written.lines() {
        assert!(!line.contains('\r'), "{line:?}");
    }
    assert!(said.contains("not imported: stream `new\\nline`"), "{said}");
    assert!(said.contains("not imported: stream `glob*`"), "{said}");
    assert!(
        said.contains("not imported: stream `white space`"),
        "{said}"
    );
    assert!(
        said.contains("not imported: group `has#hash g\\rcr`"),
        "{said}"
    );
    validate(&path);
    let plan = plan_json(&path, &server.url(), &[]);
    assert_eq!(assert_only_adoption(&plan), ["user\"#x"]);
    apply_then_plan_empty(&path, &server.url(), &[("USER__X_PASSWORD", "pw")]);
    // The record names exactly the streams that were found, with their names as they are.
    let record: String = server.cmd(&["GET", "{__topology__:app}:record"]);
    let record: Value = serde_json::from_str(&record).expect("record JSON");
    let mut recorded: Vec<&str> = record["streams"]
        .as_object()
        .expect("streams")
        .keys()
        .map(String::as_str)
        .collect();
    recorded.sort_unstable();
    let mut expected = vec![
        "app:has\"quote",
        "app:has#hash",
        "app:a:b:c",
        "app:${HOME}",
        "app:{tag}x",
        "app:it's",
        "app:é中文",
        quoted,
    ];
    expected.sort_unstable();
    assert_eq!(recorded, expected);
    let groups: Vec<&str> = record["streams"]["app:has#hash"]["groups"]
        .as_object()
        .expect("groups")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(groups, ["g\"#1:x", "g$x"]);
}

/// `--out` never replaces a file unless `--force`; without `--out` the file is printed.
#[test]
fn out_refuses_an_existing_file_unless_forced_and_stdout_otherwise() {
    let server = RedisServer::start();
    cmd(&server, &["XADD", "app:s", "*", "f", "v"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("topology.yaml");
    std::fs::write(&path, "mine\n").expect("write");
    let target = path.to_str().expect("utf-8");
    let out = import(&server.url(), "app", &["--out", target]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "mine\n");
    let out = import(&server.url(), "app", &["--out", target, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .contains("\"s\":")
    );
    let out = import(&server.url(), "app", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("namespace: \"app\"") && printed.contains("\"s\":"),
        "{printed}"
    );
    let out = import(&server.url(), "bad ns", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // --with-hashes writes what Redis keeps instead of variables; plan then compares them.
    cmd(
        &server,
        &["ACL", "SETUSER", "u", "on", ">pw", "~app:s", "+xlen"],
    );
    let path = dir.path().join("hashes.yaml");
    let out = import(
        &server.url(),
        "app",
        &["--out", path.to_str().expect("utf-8"), "--with-hashes"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&path).expect("read");
    assert!(written.contains("{ sha256: \""), "{written}");
    validate(&path);
    assert_eq!(
        assert_only_adoption(&plan_json(&path, &server.url(), &[])),
        ["u"]
    );
}

/// A namespace of 10,000 streams imports in one pass of pipelined reads: SCAN in rounds of
/// 1,000, then one `XLEN` and one `XINFO GROUPS` per stream in batches.
#[test]
fn ten_thousand_streams_import_in_pipelined_reads() {
    let server = RedisServer::start();
    let mut con = server.con();
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        let key = format!("big:s{i:05}");
        pipe.cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("f")
            .arg("v")
            .ignore();
        if i % 10 == 0 {
            pipe.cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg("g")
                .arg("$")
                .ignore();
        }
    }
    pipe.query::<()>(&mut con).expect("populate");
    cmd(&server, &["CONFIG", "RESETSTAT"]);
    let started = std::time::Instant::now();
    let out = import(&server.url(), "big", &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        printed
            .matches("    # retention: not kept by Redis")
            .count(),
        10_000
    );
    assert_eq!(printed.matches("{ start: \"$\" }").count(), 1_000);
    let calls = |name: &str| server.calls(name);
    assert_eq!(calls("xinfo|groups"), 10_000);
    assert_eq!(calls("xlen"), 10_000);
    assert!(calls("scan") >= 10, "SCAN in rounds of COUNT 1000");
    let _ = writeln!(std::io::stderr(), "import of 10,000 streams took {took:?}");
}

/// On a cluster, the streams live on every primary: SCAN runs on each.
#[test]
fn a_cluster_import_scans_every_primary() {
    let cluster = LocalCluster::start(3, 0);
    let mut owners = std::collections::BTreeSet::new();
    for i in 0..30 {
        let key = format!("app:s{i}");
        let port = cluster.owner_of(&key);
        owners.insert(port);
        cluster.cmd_on::<String>(port, &["XADD", &key, "*", "f", "v"]);
        cluster.cmd_on::<String>(port, &["XGROUP", "CREATE", &key, "g", "$"]);
    }
    assert!(
        owners.len() >= 2,
        "streams on several primaries: {owners:?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, written, _) = import_to(dir.path(), &cluster.url(), "app");
    for i in 0..30 {
        assert!(written.contains(&format!("\"s{i}\":")), "s{i}:\n{written}");
    }
    validate(&path);
    let plan = plan_json(&path, &cluster.url(), &[]);
    assert!(assert_only_adoption(&plan).is_empty());
}

/// ACL users are per node: a user on every node imports; one set on the primary alone is
/// left out, naming the replica (a plan would create it there).
#[test]
fn on_a_primary_with_a_replica_users_are_compared_on_every_node() {
    let nodes = ReplicatedPrimary::start(1);
    let (primary, replica) = (nodes.primary(), nodes.replica_ports()[0]);
    nodes.cmd_on::<String>(primary, &["XADD", "app:s", "*", "f", "v"]);
    let user =
        |name: &str| ["ACL", "SETUSER", name, "on", ">pw", "~app:s", "+xlen"].map(str::to_owned);
    for port in [primary, replica] {
        let rules = user("everywhere");
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        nodes.cmd_on::<String>(port, &rules);
    }
    let rules = user("primary-only");
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    nodes.cmd_on::<String>(primary, &rules);
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, _, said) = import_to(dir.path(), &nodes.url(), "app");
    assert!(
        said.contains(&format!(
            "not imported: user `primary-only`: it does not exist on 127.0.0.1:{replica}"
        )),
        "{said}"
    );
    validate(&path);
    let plan = plan_json(&path, &nodes.url(), &[]);
    assert_eq!(assert_only_adoption(&plan), ["everywhere"]);
}
