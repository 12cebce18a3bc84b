//! Table-driven tests of the diff, from pairs of small topologies, and snapshots of its three
//! renderings.

use super::source::{Checkout, Spec};
use super::*;
use crate::render::diff::Labelled;

const BASE: &str = r#"version: 1
namespace: app
streams:
  tasks:
    schema: task
    retention: { maxlen: 1000 }
    groups: { workers: { start: "$" }, audit: { start: "0" } }
  events:
    retention: { max_age: 7d }
schemas:
  task:
    encoding: json
    field: payload
    compatibility: backward
    versions:
      1:
        schema:
          type: object
          additionalProperties: false
          required: [id]
          properties: { id: { type: string }, size: { type: integer, maximum: 100 } }
acl:
  users:
    worker:
      passwords: [{ env: WORKER_PASSWORD }]
      keys: { read: ["tasks"] }
      commands: ["+@stream"]
"#;

const V2_OPTIONAL: &str = r#"      2:
        schema:
          type: object
          additionalProperties: false
          required: [id]
          properties: { id: { type: string }, size: { type: integer, maximum: 100 }, note: { type: string } }
"#;

const V2_BREAKING: &str = r#"      2:
        schema:
          type: object
          additionalProperties: false
          required: [id, owner]
          properties: { id: { type: string }, size: { type: integer, maximum: 10 }, owner: { type: string } }
"#;

fn side(yaml: &str) -> Side {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("topology.yaml");
    std::fs::write(&path, yaml).expect("write");
    let checkout = Checkout::new(&Spec::File(path)).expect("checkout");
    let vars = std::collections::HashMap::<String, String>::new();
    let (report, side) = checkout.load(None, &vars);
    side.unwrap_or_else(|| panic!("invalid test topology: {:?}", report.diagnostics))
}

fn with_version(version: &str) -> String {
    BASE.replace("acl:\n", &format!("{version}acl:\n"))
}

/// (address, action, destructive, breaking rules)
type Row = (String, Action, bool, Vec<&'static str>);

fn summary(d: &Diff) -> Vec<Row> {
    d.entries
        .iter()
        .map(|e| {
            (
                e.address.clone(),
                e.action,
                e.destructive,
                e.breaking().iter().map(|b| b.rule).collect(),
            )
        })
        .collect()
}

fn row(
    address: &str,
    action: Action,
    destructive: bool,
    rules: &[&'static str],
) -> (String, Action, bool, Vec<&'static str>) {
    (address.to_owned(), action, destructive, rules.to_vec())
}

#[test]
fn each_kind_of_change_is_named_and_classified() {
    let cases: Vec<(&str, String, Vec<Row>, u8)> = vec![
        ("no change", BASE.to_owned(), vec![], 0),
        (
            "a stream added",
            BASE.replace("streams:\n", "streams:\n  new: { retention: unbounded }\n"),
            vec![row("stream.new", Action::Create, false, &[])],
            2,
        ),
        (
            "a stream removed",
            BASE.replace("  events:\n    retention: { max_age: 7d }\n", ""),
            vec![row("stream.events", Action::Delete, true, &[])],
            3,
        ),
        (
            "a group removed and one added",
            BASE.replace("audit: { start: \"0\" }", "replay: { start: \"0\" }"),
            vec![
                row("group.tasks.audit", Action::Delete, true, &[]),
                row("group.tasks.replay", Action::Create, false, &[]),
            ],
            3,
        ),
        (
            "a group's start changed",
            BASE.replace("workers: { start: \"$\" }", "workers: { start: \"0\" }"),
            vec![row("group.tasks.workers", Action::Update, false, &[])],
            2,
        ),
        (
            // Who reads and writes a stream is for validate's lints: nothing to apply.
            "consumers and producers declared",
            BASE.replace(
                "workers: { start: \"$\" }",
                "workers: { start: \"$\", consumers: [worker] }",
            )
            .replace("    retention: { maxlen: 1000 }\n", "    retention: { maxlen: 1000 }\n    producers: [worker]\n"),
            vec![],
            0,
        ),
        (
            "retention reduced",
            BASE.replace("maxlen: 1000", "maxlen: 10"),
            vec![row("retention.tasks", Action::Update, true, &[])],
            3,
        ),
        (
            "retention raised",
            BASE.replace("max_age: 7d", "max_age: 30d"),
            vec![row("retention.events", Action::Update, false, &[])],
            2,
        ),
        (
            "the namespace changed",
            BASE.replace("namespace: app", "namespace: app2"),
            // The user's key patterns move with the namespace.
            vec![
                row("namespace", Action::Update, true, &[]),
                row("user.worker", Action::Update, false, &[]),
            ],
            3,
        ),
        (
            "a user removed",
            BASE.replace(
                "    worker:\n      passwords: [{ env: WORKER_PASSWORD }]\n      keys: { read: [\"tasks\"] }\n      commands: [\"+@stream\"]\n",
                "    other:\n      passwords: [{ env: OTHER_PASSWORD }]\n",
            ),
            vec![
                row("user.other", Action::Create, false, &[]),
                row("user.worker", Action::Delete, true, &[]),
            ],
            3,
        ),
        (
            "a user's password source and grants changed",
            BASE.replace("env: WORKER_PASSWORD", "env: WORKER_PASSWORD_NEXT")
                .replace("\"+@stream\"", "\"+@stream\", \"+ping\""),
            vec![row("user.worker", Action::Update, false, &[])],
            2,
        ),
        (
            "a compatible schema version added",
            with_version(V2_OPTIONAL),
            vec![row("schema.task", Action::Update, false, &[])],
            2,
        ),
        (
            "a breaking schema version added",
            with_version(V2_BREAKING),
            vec![row("schema.task", Action::Update, false, &["required-added", "max-decreased"])],
            3,
        ),
        (
            "a schema version rewritten in place",
            BASE.replace("maximum: 100", "maximum: 50"),
            vec![row("schema.task", Action::Update, false, &["max-decreased"])],
            3,
        ),
        (
            "a stream loses its schema",
            BASE.replace("    schema: task\n", ""),
            vec![row("stream.tasks", Action::Update, false, &[])],
            2,
        ),
    ];
    for (name, new, expected, exit) in cases {
        let d = diff(&side(BASE), &side(&new));
        assert_eq!(summary(&d), expected, "{name}");
        assert_eq!(d.exit_code(), exit, "{name}");
    }
}

/// A stream added or removed shows what it is: its retention, its groups with where each
/// starts, its schema (the diff used to show only "declared").
#[test]
fn a_new_stream_shows_its_retention_groups_and_schema() {
    let without = BASE.replace(
        "  tasks:\n    schema: task\n    retention: { maxlen: 1000 }\n    groups: { workers: { start: \"$\" }, audit: { start: \"0\" } }\n",
        "",
    )
    .replace("      keys: { read: [\"tasks\"] }\n", "");
    let d = diff(&side(&without), &side(BASE));
    let added = d
        .entries
        .iter()
        .find(|e| e.address == "stream.tasks")
        .expect("the stream is added");
    assert_eq!(
        added.details,
        [
            "retention: maxlen ~1000",
            "groups: audit (starts at `0`), workers (starts at `$`)",
            "schema: task"
        ]
    );
}

/// An `access` block added to a user is an update that names the selector, its preset
/// written out.
#[test]
fn an_access_block_added_shows_its_selector() {
    let new = BASE.replace(
        "      commands: [\"+@stream\"]\n",
        "      commands: [\"+@stream\"]\n      access:\n        - { keys: [\"tasks\"], preset: consumer }\n",
    );
    let d = diff(&side(BASE), &side(&new));
    assert_eq!(
        summary(&d),
        vec![row("user.worker", Action::Update, false, &[])]
    );
    assert_eq!(
        d.entries[0].details,
        ["access: + (~app:tasks +xreadgroup +xack +xautoclaim +xclaim +xpending)"]
    );
}

#[test]
fn removing_a_schema_version_is_destructive() {
    let old = side(&with_version(V2_OPTIONAL));
    let d = diff(&old, &side(BASE));
    assert_eq!(
        summary(&d),
        vec![row("schema.task", Action::Update, true, &[])]
    );
    assert!(
        d.entries[0]
            .details
            .iter()
            .any(|l| l.contains("version(s) 2 removed"))
    );
}

#[test]
fn breaks_name_the_rule_schema_versions_and_pointer() {
    let d = diff(&side(BASE), &side(&with_version(V2_BREAKING)));
    let b = &d.entries[0].breaking()[0];
    assert_eq!(
        (b.rule, b.schema.as_str(), b.from_version, b.to_version),
        ("required-added", "task", 1, 2)
    );
    assert_eq!(b.pointer, "/properties/owner");
    assert_eq!(b.direction, "backward");
}

#[test]
fn password_values_never_appear_only_that_they_changed() {
    let new = BASE.replace(
        "env: WORKER_PASSWORD",
        "sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    );
    let d = diff(&side(BASE), &side(&new));
    let everything = format!(
        "{}{}{}",
        crate::render::diff::human(
            "old",
            "new",
            &[Labelled {
                environment: None,
                diff: &d
            }],
            false
        ),
        crate::render::diff::json(
            "old",
            "new",
            &[Labelled {
                environment: None,
                diff: &d
            }]
        ),
        crate::render::markdown::diff(
            "old",
            "new",
            &[Labelled {
                environment: None,
                diff: &d
            }],
            &[]
        ),
    );
    assert!(
        everything.contains("passwords: (sensitive value) changed"),
        "{everything}"
    );
    assert!(!everything.contains("5e884898"), "{everything}");
    assert!(!everything.contains("WORKER_PASSWORD"), "{everything}");
}

#[test]
fn rendered_diffs() {
    let new = with_version(V2_BREAKING)
        .replace("maxlen: 1000", "maxlen: 10")
        .replace(
            "  events:\n    retention: { max_age: 7d }\n",
            "  audit:\n    retention: unbounded\n",
        );
    let d = diff(&side(BASE), &side(&new));
    let labelled = [Labelled {
        environment: Some("prod"),
        diff: &d,
    }];
    insta::assert_snapshot!(
        "human",
        crate::render::diff::human("git:main:topology.yaml", "topology.yaml", &labelled, false)
    );
    insta::assert_snapshot!(
        "markdown",
        crate::render::markdown::diff("git:main:topology.yaml", "topology.yaml", &labelled, &[])
    );
    insta::assert_json_snapshot!(
        "json",
        crate::render::diff::json("git:main:topology.yaml", "topology.yaml", &labelled)
    );
}
