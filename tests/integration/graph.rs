//! `graph`: the shipped topology's DOT drawn by Graphviz's real `dot` (the test fails, never
//! skips, without it), hostile names too; the Mermaid diagram in `plan` and `diff --format
//! markdown`; errors exit 1.

use crate::redis::RedisServer;
use crate::tools::{require, run_with_input};
use crate::util::{ORDERS_AND_AUDIT, bin, text, topology_file};

/// Each of `labels` is in the SVG.
fn assert_drawn(drawn: &str, labels: &[&str]) {
    for label in labels {
        assert!(drawn.contains(label), "{label} in:\n{drawn}");
    }
}

/// `dot -Tsvg` of `dot_text`: the SVG, after asserting that Graphviz succeeded.
fn svg(dot_text: &str) -> String {
    let dot = require("dot", "apt-get install -y graphviz");
    let out = run_with_input(&dot, &["-Tsvg"], dot_text);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dot -Tsvg failed: {}\n{dot_text}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn graph(args: &[&str]) -> std::process::Output {
    bin().arg("graph").args(args).output().expect("run graph")
}

#[test]
fn graphviz_draws_the_shipped_topology_with_every_stream() {
    let out = graph(&["topology.yaml", "--env", "prod", "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    let drawn = svg(&String::from_utf8_lossy(&out.stdout));
    let streams = [
        "cm:commands",
        "cm:events",
        "orchestrator:commands",
        "orchestrator:tasks",
        "orchestrator:results",
        "rag:tasks",
        "rag:results",
        "rag:dlq",
        "persist:tasks",
        "persist:results",
        "persist:dlq",
        "audit:events",
        "audit:spans",
        "ops:health",
    ];
    let labels: Vec<String> = streams.iter().map(|s| format!(">{s}</text>")).collect();
    assert_drawn(
        &drawn,
        &labels.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // Graphviz writes `-` as `&#45;`.
    assert_drawn(
        &drawn,
        &[
            ">rag&#45;worker</text>",
            ">rag&#45;workers</text>",
            ">XADD</text>",
            ">dead letters</text>",
        ],
    );
}

#[test]
fn graphviz_draws_names_that_are_dot_syntax_as_text() {
    let file = topology_file(
        r#"version: 1
namespace: 'n\s'
streams:
  'a"b;c}d': { retention: unbounded, groups: { 'g"];x->y': {} } }
acl:
  users:
    default: { enabled: false }
    'w\N"': { passwords: [{ env: P }], keys: ['a"b;c}d'], commands: ["+xadd", "+xreadgroup"] }
"#,
    );
    let out = graph(&[file.path().to_str().expect("UTF-8"), "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let drawn = svg(&String::from_utf8_lossy(&out.stdout));
    assert_drawn(
        &drawn,
        &[
            "a&quot;b;c}d",
            "g&quot;];x&#45;&gt;y",
            "w\\N&quot;",
            "namespace n\\s",
        ],
    );
}

#[test]
fn mermaid_is_the_default_and_errors_exit_1() {
    let out = graph(&["--env", "dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.starts_with("flowchart LR\n"), "{shown}");
    assert!(shown.contains("([\"dev-rag-worker\"])"), "{shown}");

    let out = graph(&["--env", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("has no such environment"),
        "{}",
        text(&out)
    );
    assert!(out.stdout.is_empty());
    let out = graph(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("choose one with --env"),
        "{}",
        text(&out)
    );
    let out = graph(&["--env", "prod", "--format", "svg"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn plan_markdown_draws_the_topology_after_its_changes() {
    let server = RedisServer::start();
    let file = topology_file(ORDERS_AND_AUDIT);
    let plan = |file: &tempfile::NamedTempFile| {
        bin()
            .arg("plan")
            .arg(file.path())
            .args(["--format", "markdown", "--url", &server.url()])
            .output()
            .expect("plan")
    };
    let out = plan(&file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    let changes = shown.find("<details><summary>All ").expect("the changes");
    let diagram = shown
        .find("<details><summary>Diagram: who writes, reads and consumes each stream</summary>\n\n```mermaid\nflowchart LR\n")
        .unwrap_or_else(|| panic!("a diagram in:\n{shown}"));
    assert!(changes < diagram, "{shown}");
    assert!(
        shown.contains("[(\"orders\")]") && shown.contains("{{\"billing\"}}"),
        "{shown}"
    );

    let applied = bin()
        .arg("apply")
        .arg(file.path())
        .args(["--yes", "--url", &server.url()])
        .output()
        .expect("apply");
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let out = plan(&file);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("No changes") && !shown.contains("mermaid"),
        "{shown}"
    );
}

#[test]
fn diff_markdown_draws_the_new_version_of_each_changed_environment_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let new = dir.path().join("topology.yaml");
    let shipped = std::fs::read_to_string(crate::util::repo().join("topology.yaml")).expect("read");
    std::fs::write(&new, shipped.replace("maxlen: 20000 }", "maxlen: 30000 }")).expect("write");
    std::fs::create_dir_all(dir.path().join("schemas")).expect("mkdir");
    for entry in std::fs::read_dir(crate::util::repo().join("schemas")).expect("schemas") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            dir.path().join("schemas").join(entry.file_name()),
        )
        .expect("copy a schema");
    }
    let out = bin()
        .args(["diff", "topology.yaml"])
        .arg(&new)
        .args(["--format", "markdown"])
        .output()
        .expect("diff");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.matches("```mermaid\n").count(), 2, "{shown}");
    assert!(
        shown.contains("each stream in ") && shown.contains(" (staging, prod)</summary>"),
        "{shown}"
    );
    assert!(
        shown.contains(" (dev)</summary>") && shown.contains("([\"dev-rag-worker\"])"),
        "{shown}"
    );

    let same = bin()
        .args([
            "diff",
            "topology.yaml",
            "topology.yaml",
            "--format",
            "markdown",
        ])
        .output()
        .expect("diff");
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(!String::from_utf8_lossy(&same.stdout).contains("mermaid"));
}
