//! Shared helpers: the real binary, and paths inside the repository.

use std::path::PathBuf;

use assert_cmd::Command;

/// The `redis-topology` binary built by cargo for this test run, run from the repository
/// root with no colour and a clean variable environment for `${VAR}` expansion.
pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("redis-topology").expect("binary built by cargo");
    cmd.current_dir(repo())
        .env("NO_COLOR", "1")
        .env_remove("REDIS_NAMESPACE");
    cmd
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A topology file with this content, deleted when dropped.
pub fn topology_file(content: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    file.write_all(content.as_bytes()).expect("write");
    file
}

/// Everything a run printed, stdout then stderr, for assertions and failure messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The rules of a tool user documented in docs/operations.md (its `ACL SETUSER <name> ...`
/// block), for namespace `app`: the tests log in as exactly these users.
pub fn documented_rules(name: &str) -> Vec<String> {
    documented_rules_for(name, "app")
}

/// Create the apply user of docs/operations.md for these namespaces (its rules for each),
/// as the docs say to before a topology disables `default`, and return the URL that
/// connects as it.
pub fn create_apply_user(server: &crate::redis::RedisServer, namespaces: &[&str]) -> String {
    create_tool_user(server, "topology-apply", namespaces)
}

/// Create the user `name` (`topology-plan` or `topology-apply`) of docs/operations.md, with
/// its documented rules for each namespace and the password `apply-pw` or `plan-pw`; the URL
/// that connects as it.
pub fn create_tool_user(
    server: &crate::redis::RedisServer,
    name: &str,
    namespaces: &[&str],
) -> String {
    let password = format!("{}-pw", name.trim_start_matches("topology-"));
    let rule = format!(">{password}");
    let mut args: Vec<String> = [
        "ACL",
        "SETUSER",
        name,
        "on",
        &rule,
        "resetchannels",
        "-@all",
    ]
    .map(str::to_owned)
    .to_vec();
    for namespace in namespaces {
        // As the docs say: escaped, as the tool escapes it in the users it writes.
        let escaped = redis_topology::glob::escape(namespace);
        args.extend(documented_rules_for(name, &escaped));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    server.cmd::<String>(&args);
    format!("redis://{name}:{password}@127.0.0.1:{}", server.port)
}

/// [`documented_rules`] for another namespace.
pub fn documented_rules_for(name: &str, namespace: &str) -> Vec<String> {
    let documented = include_str!("../../docs/operations.md");
    let block = documented
        .split(&format!("ACL SETUSER {name}"))
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("docs/operations.md has the rules of {name}"));
    block
        .split_whitespace()
        .filter(|t| t.starts_with('+') || t.starts_with('%') || t.starts_with('~'))
        .map(|t| t.replace("<namespace>", namespace))
        .collect()
}

/// The roles of the shipped topology.yaml: each user's password is `$<ROLE>_PASSWORD`.
pub const SHIPPED_ROLES: [&str; 8] = [
    "CAMPAIGN_MANAGER",
    "CM_SUBSCRIBER",
    "ORCHESTRATOR",
    "RAG_WORKER",
    "PERSIST_WRITER",
    "AUDITOR",
    "OPS_MONITOR",
    "DLQ_READER",
];

/// A small topology of namespace `app`: `orders` (trimmed to 100, groups `billing` from the
/// start and `shipping` from new entries) and `audit` (unbounded, no group).
pub const ORDERS_AND_AUDIT: &str = "\
version: 1
namespace: app
streams:
  orders:
    retention: { maxlen: 100 }
    groups:
      billing: { start: \"0\" }
      shipping: {}
  audit:
    retention: unbounded
";

/// Runs git in `dir` with a fixed identity and no user or system configuration (no signing,
/// branch `main` by default), and fails the test with git's output when it fails.
pub fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new(crate::tools::require("git", "apt-get install -y git"))
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
}
