//! `redis-topology validate` through the real binary: exit codes, formats, environments,
//! colour, and the shipped topology and examples.

use serde_json::Value;

use super::util::{bin, repo, topology_file};

/// Run `redis-topology <args> <file>`, expect `code`, return stderr.
fn stderr_of(args: &[&str], file: &std::path::Path, code: i32) -> String {
    let out = bin()
        .args(args)
        .arg(file)
        .assert()
        .code(code)
        .get_output()
        .clone();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const VALID: &str = "version: 1\nnamespace: app\nstreams:\n  orders:\n    retention: { maxlen: 1000 }\n    groups:\n      billing: { start: \"0\" }\n";

#[test]
fn shipped_topology_is_valid_even_strictly() {
    bin()
        .args(["validate", "topology.yaml", "--strict"])
        .assert()
        .success();
    // FILE defaults to topology.yaml
    let out = bin()
        .arg("validate")
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8_lossy(&out);
    assert!(stderr.contains("topology.yaml is valid"), "{stderr}");
    assert!(stderr.contains("0 errors"), "{stderr}");
}

/// Every example passes `validate --strict`, as examples/README.md says; the per-project
/// template with a placeholder PROJECT_ID, as its header says to validate it in CI.
#[test]
fn every_example_is_valid_even_strictly() {
    let dir = repo().join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            count += 1;
            let out = bin()
                .args(["validate", "--strict"])
                .arg(&path)
                .env("PROJECT_ID", "ci")
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "{} is invalid:\n{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(count >= 2, "expected at least 2 examples, found {count}");
}

/// The per-project template never falls back to a shared project: without PROJECT_ID it is
/// invalid (the namespace and the users' names need it), not `proj:demo`.
#[test]
fn the_per_project_template_needs_its_project_id() {
    let out = bin()
        .args(["validate", "--format", "json", "examples/per-project.yaml"])
        .env_remove("PROJECT_ID")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let codes: Vec<&str> = json
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| *c == "var::undefined"),
        "{codes:?}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PROJECT_ID") && !text.contains("proj:demo"),
        "{text}"
    );
}

#[test]
fn valid_file_exits_0_and_json_is_an_empty_list() {
    let file = topology_file(VALID);
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(file.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: Value = serde_json::from_slice(&out).expect("JSON on stdout");
    assert_eq!(json, Value::Array(vec![]));
}

#[test]
fn json_lists_every_problem_with_its_place() {
    let file = topology_file(
        "version: 1\nnamespace: app\nstreams:\n  orders:\n    retention: { maxlen: 0 }\n  audit: {}\n",
    );
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(file.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: Value = serde_json::from_slice(&out).expect("JSON on stdout");
    let list = json.as_array().expect("a list");
    assert_eq!(list.len(), 2, "{json:#}");
    let maxlen = &list[0];
    assert_eq!(maxlen["severity"], "error");
    assert_eq!(maxlen["code"], "retention::maxlen");
    assert_eq!(maxlen["line"], 5);
    assert_eq!(maxlen["column"], 26);
    assert_eq!(maxlen["file"], file.path().display().to_string());
    assert!(
        maxlen["help"]
            .as_str()
            .is_some_and(|h| h.contains("maxlen: 20000"))
    );
    let missing = &list[1];
    assert_eq!(missing["severity"], "warning");
    assert_eq!(missing["code"], "retention::missing");
    assert_eq!(missing["line"], 6);
    for key in [
        "severity", "code", "message", "file", "line", "column", "help",
    ] {
        assert!(maxlen.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn strict_turns_warnings_into_errors() {
    let file = topology_file("version: 1\nnamespace: app\nstreams:\n  orders: {}\n");
    bin().arg("validate").arg(file.path()).assert().success();
    assert!(stderr_of(&["validate", "--strict"], file.path(), 1).contains("retention::missing"));
}

#[test]
fn environments_are_validated_and_named() {
    let file = topology_file(&format!(
        "{VALID}environments:\n  dev:\n    streams:\n      orders: {{ retention: {{ max_age: 7days }} }}\n  prod: {{}}\n"
    ));
    let stderr = stderr_of(&["validate"], file.path(), 1);
    assert!(stderr.contains("(environment `dev`)"), "{stderr}");
    assert!(
        stderr.contains("base and environments dev, prod"),
        "{stderr}"
    );
    bin()
        .args(["validate", "--env", "prod"])
        .arg(file.path())
        .assert()
        .success();
    bin()
        .args(["validate", "--env", "dev"])
        .arg(file.path())
        .assert()
        .code(1);
}

#[test]
fn unknown_env_is_an_error_with_a_suggestion() {
    let file = topology_file(&format!(
        "{VALID}environments:\n  staging: {{}}\n  prod: {{}}\n"
    ));
    let stderr = stderr_of(&["validate", "--env", "stagin"], file.path(), 1);
    assert!(stderr.contains("did you mean `staging`?"), "{stderr}");
    let no_envs = topology_file(VALID);
    assert!(
        stderr_of(&["validate", "--env", "dev"], no_envs.path(), 1)
            .contains("declares no environments")
    );
}

#[test]
fn variables_come_from_the_environment() {
    let file = topology_file(
        "version: 1\nnamespace: \"${APP_NS}\"\nstreams:\n  orders: { retention: { maxlen: \"${ORDERS_MAXLEN:-100}\" } }\n",
    );
    let stderr = stderr_of(&["validate"], file.path(), 1);
    assert!(
        stderr.contains("environment variable `APP_NS` is not set"),
        "{stderr}"
    );
    bin()
        .arg("validate")
        .arg(file.path())
        .env("APP_NS", "shop")
        .assert()
        .success();
    let out = bin()
        .arg("validate")
        .arg(file.path())
        .env("APP_NS", "shop")
        .env("ORDERS_MAXLEN", "zero")
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("`maxlen` must be a non-negative integer"));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let file = topology_file("version: 1\nnamespace: app\nstreams:\n  orders: {}\n");
    let plain = bin()
        .arg("validate")
        .arg(file.path())
        .env_remove("NO_COLOR")
        .output()
        .expect("run");
    assert!(!plain.stderr.contains(&0x1b), "escape codes off a terminal");
    let coloured = bin()
        .args(["--color", "always", "validate"])
        .arg(file.path())
        .output()
        .expect("run");
    assert!(
        coloured.stderr.contains(&0x1b),
        "no escape codes with --color always"
    );
}

#[test]
fn missing_file_and_usage_errors_exit_1() {
    let out = bin()
        .args(["validate", "no/such/file.yaml"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8_lossy(&out);
    assert!(stderr.contains("cannot read no/such/file.yaml"), "{stderr}");
    bin().args(["validate", "--format", "xml"]).assert().code(1);
    bin().arg("frobnicate").assert().code(1);
    bin().arg("--help").assert().success();
}

#[test]
fn plaintext_password_is_never_echoed() {
    let secret = "hunter2-very-secret";
    let file = topology_file(&format!(
        "version: 1\nnamespace: app\nacl:\n  users:\n    svc:\n      passwords: [\"{secret}\"]\n"
    ));
    for format in ["human", "json"] {
        let out = bin()
            .args(["validate", "--format", format])
            .arg(file.path())
            .assert()
            .code(1)
            .get_output()
            .clone();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("acl::plaintext_password"), "{all}");
        assert!(!all.contains(secret), "the secret leaked: {all}");
    }
}

/// The ACL lints: warnings by default, errors with --strict, each at its line.
#[test]
fn acl_lints_warn_and_fail_strictly() {
    let sha = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
    let file = topology_file(&format!(
        r#"version: 1
namespace: app
acl:
  users:
    open:
      nopass: true
      commands: ["+ping"]
    admin:
      passwords: [{{ sha256: {sha} }}]
      commands: ["+@all"]
    flusher:
      passwords: [{{ sha256: {sha} }}]
      commands: ["+flushall", "+config|get", "+keys"]
    everything:
      passwords: [{{ sha256: {sha} }}]
      keys: ["*"]
      commands: ["+@stream"]
    nobody:
      commands: ["+ping"]
"#
    ));
    let lint = |strict: bool| -> Vec<(String, String, u64)> {
        let mut args = vec!["validate", "--format", "json"];
        if strict {
            args.push("--strict");
        }
        let out = bin().args(&args).arg(file.path()).output().expect("run");
        assert_eq!(out.status.code(), Some(if strict { 1 } else { 0 }));
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        json.as_array()
            .expect("a list")
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap_or_default().to_owned(),
                    d["severity"].as_str().unwrap_or_default().to_owned(),
                    d["line"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    };
    let warnings = lint(false);
    let expected = [
        ("acl::nopass", 6),
        ("acl::dangerous_grant", 10),
        ("acl::dangerous_grant", 13),
        ("acl::all_keys_write", 16),
        ("acl::no_password", 18),
    ];
    for (code, line) in expected {
        assert!(
            warnings
                .iter()
                .any(|(c, s, l)| c == code && s == "warning" && *l == line),
            "{code} at line {line} in {warnings:?}"
        );
    }
    assert!(
        lint(true)
            .iter()
            .all(|(_, severity, _)| severity == "error")
    );
}

/// README's main-job command, scripts/demo.sh, runs end to end (with this build's binary):
/// validate, plan, apply, and a second plan with nothing to do.
#[test]
fn the_demo_script_runs_end_to_end() {
    let out = std::process::Command::new("bash")
        .arg(repo().join("scripts/demo.sh"))
        .env("REDIS_TOPOLOGY_BIN", env!("CARGO_BIN_EXE_redis-topology"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run scripts/demo.sh");
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("Apply complete:"), "{shown}");
    assert!(shown.contains("No changes."), "{shown}");
}

/// scripts/demo.sh runs the binary cargo builds, wherever `CARGO_TARGET_DIR` puts it (it
/// used to run target/release/ and exit 127).
#[test]
fn the_demo_script_finds_the_binary_in_cargo_target_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new("bash")
        .arg(repo().join("scripts/demo.sh"))
        .arg("--binary")
        .env("CARGO_TARGET_DIR", dir.path())
        .output()
        .expect("run scripts/demo.sh --binary");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        shown.trim(),
        dir.path()
            .join("release/redis-topology")
            .display()
            .to_string()
    );
}

/// A file that cannot be read, or an `--env` missing or unknown, is said to be that, not
/// "invalid" (the file may be fine).
#[test]
fn a_missing_file_or_environment_is_not_called_invalid() {
    let with_envs = topology_file(
        "version: 1\nnamespace: app\nstreams:\n  s: { retention: unbounded }\nenvironments:\n  dev: {}\n  prod: {}\n",
    );
    let file = with_envs.path().to_str().expect("utf-8 path");
    let cases: [(&[&str], &str); 4] = [
        (
            &["plan", "no-such-file.yaml"],
            "error: cannot read no-such-file.yaml; nothing was sent to Redis",
        ),
        (
            &["plan", file, "--env", "nope"],
            "has no such environment (see --env); nothing was sent to Redis",
        ),
        (
            &["plan", file],
            "declares environments: choose one with --env; nothing was sent to Redis",
        ),
        (
            &["validate", "no-such-file.yaml"],
            "cannot read no-such-file.yaml: 1 error and 0 warnings",
        ),
    ];
    for (args, expected) in cases {
        let out = bin()
            .args(args)
            .args(
                ["--url", "redis://127.0.0.1:1"]
                    .iter()
                    .filter(|_| args[0] == "plan"),
            )
            .output()
            .expect("run");
        let text = super::util::text;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
        assert!(
            !text(&out).contains("is invalid"),
            "{args:?}: {}",
            text(&out)
        );
    }
}
