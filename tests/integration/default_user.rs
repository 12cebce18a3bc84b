//! The server's `default` user and environments sharing one server, against a real
//! redis-server: `default` is declared and applied like any user when the tool connects as a
//! named user, the tool refuses to lock itself out when it connects as `default`, and two
//! environments of the shipped topology (dev with its user name prefix, staging) apply to one
//! server and each plans clean.

use std::process::Output;

use crate::redis::RedisServer;
use crate::util::{SHIPPED_ROLES, bin, create_apply_user, repo, text, topology_file};

const WORKER_PASSWORD: &str = "worker-Secret-1";

/// Namespace `app`: a stream, its worker, and `default` as given (YAML of one user).
fn topology(default: &str) -> String {
    format!(
        r#"version: 1
namespace: app
streams:
  jobs: {{ retention: {{ maxlen: 100 }} }}
acl:
  users:
{default}    worker:
      passwords: [{{ env: WORKER_PASSWORD }}]
      keys: ["jobs"]
      commands: ["+xlen", "+xadd", "+ping"]
"#
    )
}

const DISABLED: &str = "    default: { enabled: false }\n";
/// A health-check `default`: anyone may PING, nothing else.
const HEALTH_CHECK: &str = "    default: { nopass: true, commands: [\"+ping\"] }\n";

fn run(file: &tempfile::NamedTempFile, url: &str, args: &[&str]) -> Output {
    bin()
        .args(args)
        .arg(file.path())
        .args(["--url", url])
        .env("WORKER_PASSWORD", WORKER_PASSWORD)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run redis-topology")
}

/// A server with an admin (for the checks) and the documented apply user (its URL), and the
/// topology with this `default`.
fn as_the_apply_user(default: &str) -> (RedisServer, String, tempfile::NamedTempFile) {
    let server = RedisServer::start();
    server.create_admin();
    let url = create_apply_user(&server, &["app"]);
    (server, url, topology_file(&topology(default)))
}

/// A fresh connection that does not authenticate: `Err` with the server's code if it may
/// not run `args`.
fn unauthenticated(server: &RedisServer, args: &[&str]) -> Result<redis::Value, String> {
    let mut con = server
        .client()
        .get_connection()
        .map_err(|e| e.code().unwrap_or("connect").to_owned())?;
    crate::redis::command(args)
        .query(&mut con)
        .map_err(|e| e.code().unwrap_or("other").to_owned())
}

/// The abuse: the tool connected as `default` (no user in the URL) is asked to disable it.
/// Plan and apply refuse, say how to connect as a named user, and write nothing.
#[test]
fn disabling_default_while_connected_as_it_is_refused() {
    let server = RedisServer::start();
    let file = topology_file(&topology(DISABLED));
    for command in [&["plan"][..], &["apply", "--yes"]] {
        let out = run(&file, &server.url(), command);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let shown = text(&out);
        assert!(
            shown.contains("ACL user `default` is the user this tool is connected as")
                && shown.contains("Connect as a named user first")
                && shown.contains("--url redis://topology-apply:PASSWORD@HOST:PORT"),
            "{shown}"
        );
    }
    // Nothing was written: `default` is still open, no stream, no user, no registry.
    assert_eq!(
        server.cmd::<String>(&["ACL", "DRYRUN", "default", "FLUSHALL"]),
        "OK"
    );
    assert_eq!(server.cmd::<i64>(&["DBSIZE"]), 0);
    let users: Vec<String> = server.cmd(&["ACL", "USERS"]);
    assert_eq!(users, ["default"]);

    // Restricting it (a health-check user) is refused the same way.
    let file = topology_file(&topology(HEALTH_CHECK));
    let out = run(&file, &server.url(), &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Connect as a named user first"));
    assert_eq!(server.cmd::<i64>(&["DBSIZE"]), 0);

    // A password in the URL without a user is `default` too.
    let locked = RedisServer::start_with(&["--requirepass", "server-pw"]);
    let url = format!("redis://:server-pw@127.0.0.1:{}", locked.port);
    let out = run(&file, &url, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Connect as a named user first"));
}

/// Connected as the documented apply user, `default` is disabled like any user is changed,
/// a second plan is clean and a second apply sends no ACL SETUSER.
#[test]
fn default_is_disabled_when_applied_as_a_named_user() {
    let (server, url, file) = as_the_apply_user(DISABLED);
    let out = run(&file, &url, &["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("~ user default") && shown.contains("ACL SETUSER default reset off"),
        "{shown}"
    );
    let out = run(&file, &url, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A client that does not authenticate can do nothing; the worker logs in.
    assert_eq!(
        unauthenticated(&server, &["XLEN", "app:jobs"]),
        Err("NOAUTH".to_owned())
    );
    let worker = format!("redis://worker:{WORKER_PASSWORD}@127.0.0.1:{}", server.port);
    let mut con = redis::Client::open(worker)
        .and_then(|c| c.get_connection())
        .expect("the worker logs in");
    let length: i64 = redis::cmd("XLEN")
        .arg("app:jobs")
        .query(&mut con)
        .expect("XLEN");
    assert_eq!(length, 0);
    // `default` is recorded and registered to this namespace like any user.
    let owner: Option<String> = server.admin_cmd(&["HGET", "__topology__:users", "default"]);
    assert_eq!(owner.as_deref(), Some("app"));

    server.admin_cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let out = run(&file, &url, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
    let out = run(&file, &url, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stats: String = server.admin_cmd(&["INFO", "commandstats"]);
    assert!(!stats.contains("cmdstat_acl|setuser"), "{stats}");

    // Undeclared, it is not deleted, even with --prune: prune only stops managing it.
    let without = topology_file(&topology(""));
    let out = run(&without, &url, &["apply", "--yes", "--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("`default` is no longer declared: no longer managed"),
        "{}",
        text(&out)
    );
    let users: Vec<String> = server.admin_cmd(&["ACL", "USERS"]);
    assert!(users.contains(&"default".to_owned()), "{users:?}");
    let owner: Option<String> = server.admin_cmd(&["HGET", "__topology__:users", "default"]);
    assert_eq!(owner, None);
}

/// A restricted `default`: a health check may PING without a password, and nothing else.
#[test]
fn default_can_be_a_health_check_user() {
    let (server, url, file) = as_the_apply_user(HEALTH_CHECK);
    let out = run(&file, &url, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        unauthenticated(&server, &["PING"]),
        Ok(redis::Value::SimpleString("PONG".to_owned()))
    );
    assert_eq!(
        unauthenticated(&server, &["XLEN", "app:jobs"]),
        Err("NOPERM".to_owned())
    );
    let out = run(&file, &url, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
}

/// A topology with users that leaves `default` alone: validate warns at its line, and plan
/// notes that the live `default` is open.
#[test]
fn an_open_undeclared_default_is_warned_and_noted() {
    let file = topology_file(&topology(""));
    let validated = bin()
        .arg("validate")
        .arg(file.path())
        .output()
        .expect("run");
    assert_eq!(
        validated.status.code(),
        Some(0),
        "a warning: {}",
        text(&validated)
    );
    let shown = text(&validated);
    let at = format!("{}:6:3", file.path().display());
    assert!(
        shown.contains("acl::default_open") && shown.contains(&at),
        "at the `users:` line: {shown}"
    );
    let strict = bin()
        .args(["validate", "--strict"])
        .arg(file.path())
        .output()
        .expect("run validate --strict");
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));

    let server = RedisServer::start();
    let out = run(&file, &server.url(), &["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ACL user `default` is open on this server"),
        "{}",
        text(&out)
    );
}

fn run_shipped(file: &std::path::Path, url: &str, args: &[&str]) -> Output {
    let mut command = bin();
    command.args(args).arg(file).args(["--url", url]);
    for role in SHIPPED_ROLES {
        command.env(format!("{role}_PASSWORD"), format!("{role}-pw"));
    }
    command
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run redis-topology")
}

/// dev (users prefixed `dev-`) and staging of the shipped topology.yaml on ONE server: both
/// apply, both plan clean, each role exists once per environment, and `default` is managed by
/// the first and left to it by the second.
#[test]
fn dev_and_staging_of_the_shipped_topology_share_one_server() {
    let server = RedisServer::start();
    server.create_admin();
    let url = create_apply_user(&server, &["dev-agentic", "agentic"]);
    let shipped = repo().join("topology.yaml");
    for env in ["dev", "staging"] {
        let out = run_shipped(&shipped, &url, &["apply", "--yes", "--env", env]);
        assert_eq!(out.status.code(), Some(0), "{env}: {}", text(&out));
    }
    for env in ["dev", "staging"] {
        let out = run_shipped(
            &shipped,
            &url,
            &["plan", "--detailed-exitcode", "--env", env],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{env} converged: {}",
            text(&out)
        );
    }
    let out = run_shipped(&shipped, &url, &["plan", "--env", "staging"]);
    assert!(
        text(&out).contains("ACL user `default` is managed by the topology of namespace `dev-agentic` and already matches this declaration"),
        "{}",
        text(&out)
    );
    let users: Vec<String> = server.admin_cmd(&["ACL", "USERS"]);
    for user in [
        "rag-worker",
        "dev-rag-worker",
        "dlq-reader",
        "dev-dlq-reader",
    ] {
        assert!(users.contains(&user.to_owned()), "{user}: {users:?}");
    }
    let owner =
        |user: &str| -> Option<String> { server.admin_cmd(&["HGET", "__topology__:users", user]) };
    assert_eq!(owner("dev-rag-worker").as_deref(), Some("dev-agentic"));
    assert_eq!(owner("rag-worker").as_deref(), Some("agentic"));
    assert_eq!(owner("default").as_deref(), Some("dev-agentic"));
    // Each environment's worker reaches only its own namespace.
    let may = |user: &str, key: &str| -> bool {
        server.admin_cmd::<String>(&["ACL", "DRYRUN", user, "XADD", key, "*", "k", "v"]) == "OK"
    };
    assert!(may("dev-rag-worker", "dev-agentic:rag:results"));
    assert!(!may("dev-rag-worker", "agentic:rag:results"));
    assert!(may("rag-worker", "agentic:rag:results"));
    assert!(!may("rag-worker", "dev-agentic:rag:results"));
    assert_eq!(
        unauthenticated(&server, &["PING"]),
        Err("NOAUTH".to_owned())
    );
}

/// Without the prefix, the second environment is refused, and the error says how to fix it.
#[test]
fn without_a_prefix_the_second_environment_is_told_to_use_one() {
    let server = RedisServer::start();
    server.create_admin();
    let url = create_apply_user(&server, &["dev-agentic", "agentic"]);
    let shipped = std::fs::read_to_string(repo().join("topology.yaml")).expect("topology.yaml");
    let unprefixed = shipped.replace("user_names: { prefix: \"dev-\" }", "user_names: null");
    assert_ne!(
        unprefixed, shipped,
        "topology.yaml gives dev a user name prefix"
    );
    // The copy's message schema files are found next to it: link the repository's.
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(repo().join("schemas"), dir.path().join("schemas"))
        .expect("link schemas/");
    let copy = dir.path().join("topology.yaml");
    std::fs::write(&copy, &unprefixed).expect("write the copy");
    let out = run_shipped(&copy, &url, &["apply", "--yes", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run_shipped(&copy, &url, &["apply", "--yes", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("is managed by the topology of namespace `dev-agentic`")
            && shown.contains(
                "under `environments.staging`: `acl: { user_names: { prefix: \"staging-\" } }`"
            ),
        "{shown}"
    );
    let exists: i64 = server.admin_cmd(&["EXISTS", "agentic:rag:tasks"]);
    assert_eq!(exists, 0, "nothing of staging was written");
}
