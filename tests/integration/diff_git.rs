//! `diff` through the real binary, on git refs of a temporary repository, as a pull-request
//! job runs it: `redis-topology diff git:<base>:topology.yaml topology.yaml`.

use std::path::Path;
use std::process::Output;

use crate::util::{bin, git, text};

const TOPOLOGY: &str = r#"version: 1
namespace: shop
streams:
  orders:
    schema: order
    retention: { maxlen: 100000 }
    groups: { billing: { start: "$" } }
  audit:
    retention: { max_age: 30d }
schemas:
  order:
    field: payload
    version_field: v
    versions:
      1: { file: schemas/order.v1.json }
environments:
  staging: {}
  prod: {}
"#;

const ORDER_V1: &str = r#"{"type": "object", "additionalProperties": false, "required": ["id"],
 "properties": {"id": {"type": "string"}, "total": {"type": "number"}}}"#;
const ORDER_V2: &str = r#"{"type": "object", "additionalProperties": false, "required": ["id", "currency"],
 "properties": {"id": {"type": "string"}, "total": {"type": "number"}, "currency": {"type": "string"}}}"#;

fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("schemas")).expect("mkdir");
    std::fs::write(dir.path().join("topology.yaml"), TOPOLOGY).expect("write");
    std::fs::write(dir.path().join("schemas/order.v1.json"), ORDER_V1).expect("write");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    dir
}

fn diff(dir: &Path, args: &[&str]) -> Output {
    bin()
        .arg("diff")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run diff")
}

#[test]
fn a_pull_request_is_diffed_against_its_base_branch() {
    let repo = repository();
    let dir = repo.path();
    let unchanged = diff(dir, &["git:main:topology.yaml", "topology.yaml"]);
    assert_eq!(unchanged.status.code(), Some(0), "{}", text(&unchanged));
    assert!(
        text(&unchanged).contains(
            "No changes from git:main:topology.yaml to topology.yaml (environment `prod`)"
        )
    );

    // The pull request: a stream removed, a breaking schema version, a new group.
    let changed = TOPOLOGY
        .replace("  audit:\n    retention: { max_age: 30d }\n", "")
        .replace(
            "billing: { start: \"$\" }",
            "billing: { start: \"$\" }, fraud: { start: \"0\" }",
        )
        .replace(
            "      1: { file: schemas/order.v1.json }\n",
            "      1: { file: schemas/order.v1.json }\n      2: { file: schemas/order.v2.json }\n",
        );
    std::fs::write(dir.join("topology.yaml"), changed).expect("write");
    std::fs::write(dir.join("schemas/order.v2.json"), ORDER_V2).expect("write");

    let out = diff(
        dir,
        &["git:main:topology.yaml", "topology.yaml", "--env", "prod"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = text(&out);
    for expected in [
        "- stream audit  (destructive)",
        "+ group orders.fraud",
        "~ schema order  (breaking)",
        "[required-added] order v1 → v2 (backward) at /properties/currency",
        "Diff: 1 to create, 1 to update, 1 to delete. 1 destructive. 1 breaking.",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }

    let out = diff(
        dir,
        &[
            "git:main:topology.yaml",
            "topology.yaml",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let environments = json["environments"].as_array().expect("environments");
    assert_eq!(environments.len(), 2, "every environment of the new file");
    assert_eq!(environments[0]["summary"]["breaking"], 1);
    assert_eq!(environments[0]["summary"]["destructive"], 1);

    let out = diff(
        dir,
        &[
            "git:main:topology.yaml",
            "topology.yaml",
            "--format",
            "markdown",
        ],
    );
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert!(
        markdown.starts_with("### redis-topology diff: `git:main:topology.yaml` → `topology.yaml`"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| `staging` | 1 | 1 | 1 | 1 | 1 |"),
        "{markdown}"
    );

    // Committed, the branch compares with its base by refs only.
    git(dir, &["checkout", "-q", "-b", "feature"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "change"]);
    let out = diff(
        dir,
        &[
            "git:main:topology.yaml",
            "git:feature:topology.yaml",
            "--env",
            "staging",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn bad_refs_and_invalid_files_are_errors() {
    let repo = repository();
    let dir = repo.path();
    let out = diff(dir, &["git:no-such-branch:topology.yaml", "topology.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("git:no-such-branch:topology.yaml"),
        "{}",
        text(&out)
    );

    std::fs::write(
        dir.join("topology.yaml"),
        TOPOLOGY.replace("maxlen: 100000", "maxlen: -1"),
    )
    .expect("write");
    let out = diff(
        dir,
        &["git:main:topology.yaml", "topology.yaml", "--env", "prod"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("topology.yaml:6:26"),
        "names the line: {}",
        text(&out)
    );
}

/// A ref that starts with `-` would reach `git show` as an option (`--output=FILE` made git
/// write FILE, and the diff then ran against an empty old side): it is refused, and git writes
/// nothing.
#[test]
fn a_ref_that_looks_like_an_option_is_refused() {
    let repo = repository();
    let dir = repo.path();
    let written = dir.join("written-by-git");
    for old in [
        format!("git:--output={}:topology.yaml", written.display()),
        "git:-p:topology.yaml".to_owned(),
    ] {
        let out = diff(dir, &[&old, "topology.yaml"]);
        assert_eq!(out.status.code(), Some(1), "{old}: {}", text(&out));
        assert!(!written.exists(), "{old}: git wrote a file");
        assert!(
            text(&out).contains("a git ref cannot start with `-`"),
            "{old}: {}",
            text(&out)
        );
    }
}

/// `git show` printing nothing (an empty file at that ref) is an error, not an old side
/// with nothing declared (which made every stream look new).
#[test]
fn an_empty_git_show_is_an_error() {
    let repo = repository();
    let dir = repo.path();
    std::fs::write(dir.join("empty.yaml"), "").expect("write");
    git(dir, &["add", "empty.yaml"]);
    git(dir, &["commit", "-q", "-m", "an empty file"]);
    let out = diff(dir, &["git:main:empty.yaml", "topology.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error: git:main:empty.yaml: `git show` printed nothing"),
        "{}",
        text(&out)
    );
}
