//! The pull-request walkthrough of README.md, end to end on the shipped topology.yaml in a
//! temporary git repository: a branch adds a breaking version of `rag-task` and cuts a bound
//! in dev. Without an acknowledgement `validate --strict` rejects the version and says how to
//! acknowledge it; marked `breaking: true` it passes, and `diff` against the base branch still
//! reports the break (exit 3), which the workflow's `topology-breaking-ok` label then gates.

use std::path::Path;
use std::process::Output;

use crate::util::{bin, git, repo, text};

/// A repository holding the shipped topology.yaml and its message schemas, committed on `main`.
fn shipped_repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = repo();
    std::fs::copy(root.join("topology.yaml"), dir.path().join("topology.yaml")).expect("copy");
    std::fs::create_dir(dir.path().join("schemas")).expect("mkdir");
    for entry in std::fs::read_dir(root.join("schemas")).expect("read schemas/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("file name");
        std::fs::copy(&path, dir.path().join("schemas").join(name)).expect("copy");
    }
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    dir
}

/// Version 3 of rag-task: `deadline` becomes required, so v3 workers reject v1/v2 tasks.
fn write_rag_task_v3(dir: &Path) {
    let v2 = std::fs::read_to_string(dir.join("schemas/rag-task.v2.json")).expect("read v2");
    let mut v3: serde_json::Value = serde_json::from_str(&v2).expect("v2 is JSON");
    v3["required"]
        .as_array_mut()
        .expect("required")
        .push("deadline".into());
    // Its examples follow it, as validate checks them.
    for example in v3["examples"].as_array_mut().expect("examples") {
        example["deadline"] = "2025-11-03T12:00:00Z".into();
    }
    std::fs::write(dir.join("schemas/rag-task.v3.json"), v3.to_string()).expect("write v3");
}

/// The branch's topology.yaml: rag-task gets version 3 (`version_line`), dev's rag:dlq a
/// lower bound.
fn edit_topology(dir: &Path, base: &str, version_line: &str) {
    let mut edited = String::new();
    for line in base.lines() {
        if line.trim() == "rag:dlq: { retention: { maxlen: 1000 } }" {
            edited.push_str(&line.replace("1000", "100"));
        } else {
            edited.push_str(line);
        }
        edited.push('\n');
        if line
            .trim_start()
            .starts_with("2: { file: schemas/rag-task.v2.json }")
        {
            edited.push_str(&format!("      {version_line}\n"));
        }
    }
    assert!(edited.contains(version_line), "version 3 inserted");
    assert!(edited.contains("maxlen: 100 }"), "dev's rag:dlq bound cut");
    std::fs::write(dir.join("topology.yaml"), edited).expect("write topology.yaml");
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin().args(args).current_dir(dir).output().expect("run")
}

#[test]
fn an_intended_breaking_version_passes_validate_once_acknowledged_and_diff_still_gates_it() {
    let repo = shipped_repository();
    let dir = repo.path();
    let base = std::fs::read_to_string(dir.join("topology.yaml")).expect("read");
    git(dir, &["checkout", "-q", "-b", "feature"]);
    write_rag_task_v3(dir);

    // Not acknowledged: validate rejects the break and says how to acknowledge it.
    edit_topology(dir, &base, "3: { file: schemas/rag-task.v3.json }");
    let out = run(dir, &["validate", "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("required-added"), "{shown}");
    assert!(shown.contains("`breaking: true`"), "{shown}");

    // Acknowledged: validate --strict passes, as README says.
    edit_topology(
        dir,
        &base,
        "3: { file: schemas/rag-task.v3.json, breaking: true }",
    );
    let out = run(dir, &["validate", "--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("0 errors and 0 warnings"),
        "{}",
        text(&out)
    );

    // diff against the base branch still reports the break and the destructive cut: exit 3.
    let out = run(
        dir,
        &[
            "diff",
            "git:main:topology.yaml",
            "topology.yaml",
            "--env",
            "dev",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = text(&out);
    for expected in [
        "~ retention rag:dlq  (destructive)",
        "retention reduced from maxlen 1000 to maxlen 100",
        "~ schema rag-task  (breaking)",
        "version(s) 3 added",
        "version(s) 3 marked `breaking: true`",
        "[required-added] rag-task v2 → v3 (backward) at /properties/deadline",
        "1 destructive. 1 breaking.",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }

    // The pull-request comment carries the same, for the reviewer who adds the label.
    let out = run(
        dir,
        &[
            "diff",
            "git:main:topology.yaml",
            "topology.yaml",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert!(markdown.contains("marked `breaking: true`"), "{markdown}");
    assert!(markdown.contains("required-added"), "{markdown}");

    // Once merged, the acknowledged version is no change: the next pull request is not gated.
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "rag-task v3"]);
    let out = run(dir, &["diff", "git:feature:topology.yaml", "topology.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn the_acknowledgement_covers_only_the_marked_version() {
    // v3 is marked breaking; v4 breaks v3 again without a mark: validate rejects v4 only.
    let repo = shipped_repository();
    let dir = repo.path();
    let base = std::fs::read_to_string(dir.join("topology.yaml")).expect("read");
    write_rag_task_v3(dir);
    let v3 = std::fs::read_to_string(dir.join("schemas/rag-task.v3.json")).expect("read v3");
    let mut v4: serde_json::Value = serde_json::from_str(&v3).expect("JSON");
    // `created_at` removed while additional properties stay forbidden: v3 messages fail v4.
    v4["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("created_at");
    for example in v4["examples"].as_array_mut().expect("examples") {
        example
            .as_object_mut()
            .expect("example")
            .remove("created_at");
    }
    std::fs::write(dir.join("schemas/rag-task.v4.json"), v4.to_string()).expect("write v4");
    edit_topology(
        dir,
        &base,
        "3: { file: schemas/rag-task.v3.json, breaking: true }\n      4: { file: schemas/rag-task.v4.json }",
    );
    let out = run(dir, &["validate", "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("version 4 breaks backward compatibility with version 3"),
        "{shown}"
    );
    assert!(
        !shown.contains("version 3 breaks"),
        "v3's break is acknowledged:\n{shown}"
    );
}
