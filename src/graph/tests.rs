use std::collections::HashMap;

use super::*;
use crate::model::secrets::Secrets;
use crate::render::{dot, mermaid};

/// The desired state of one environment of a file, without reading any secret.
fn desired_of_file(path: &std::path::Path, env: Option<&str>) -> Desired {
    let vars: HashMap<String, String> = HashMap::new();
    let (report, topology) = crate::validate::load_environment(path, env, &vars);
    let topology = topology.unwrap_or_else(|| panic!("invalid: {:?}", report.diagnostics));
    Desired::from_topology(&topology, env, &Secrets::SourcesOnly).expect("no secret is read")
}

fn desired_of(text: &str) -> Desired {
    let vars: HashMap<String, String> = HashMap::new();
    let (report, topology) = crate::validate::load_text_for_tests(text, None, &vars);
    let topology = topology.unwrap_or_else(|| panic!("invalid: {:?}", report.diagnostics));
    Desired::from_topology(&topology, None, &Secrets::SourcesOnly).expect("no secret is read")
}

fn shipped(env: &str) -> Graph {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topology.yaml");
    Graph::of(&desired_of_file(&path, Some(env)))
}

#[test]
fn the_shipped_topology_as_mermaid() {
    insta::assert_snapshot!("shipped_mermaid", mermaid::mermaid(&shipped("prod")));
}

#[test]
fn the_shipped_topology_as_dot() {
    insta::assert_snapshot!("shipped_dot", dot::dot(&shipped("prod")));
}

#[test]
fn the_shipped_pipeline_has_the_seeds_edges() {
    let graph = shipped("dev");
    let has = |edge: Edge| graph.edges.contains(&edge);
    let (s, u) = (|n: &str| n.to_owned(), |n: &str| format!("dev-{n}"));
    assert!(has(Edge::Writes {
        user: u("orchestrator"),
        stream: s("rag:tasks")
    }));
    assert!(has(Edge::Consumes {
        stream: s("rag:tasks"),
        group: s("rag-workers"),
        user: u("rag-worker")
    }));
    // A consumer may not XADD to its own input: no edge.
    assert!(!has(Edge::Writes {
        user: u("rag-worker"),
        stream: s("rag:tasks")
    }));
    // The orchestrator collects results with XREAD; the DLQ reader peeks with XRANGE.
    assert!(has(Edge::Reads {
        stream: s("rag:results"),
        user: u("orchestrator")
    }));
    assert!(has(Edge::Reads {
        stream: s("rag:dlq"),
        user: u("dlq-reader")
    }));
    // The monitor's XPENDING, XLEN and XINFO read no entry: no edge.
    assert!(
        !graph
            .edges
            .iter()
            .any(|e| matches!(e, Edge::Reads { user, .. } if user == "dev-ops-monitor"))
    );
    assert!(has(Edge::DeadLetters {
        stream: s("rag:tasks"),
        dlq: s("rag:dlq")
    }));
    // `default` is disabled: it draws nothing.
    assert!(!graph.users.contains(&"default".to_owned()));
    assert_eq!(graph.users.len(), 8, "{:?}", graph.users);
}

/// Names that are syntax in Mermaid, DOT or Markdown; a group without `consumers`; grants
/// through a selector and through the user's own rules; a disabled user.
const AWKWARD: &str = r#"version: 1
namespace: 'we"ird:ns'
streams:
  'in"put':
    retention: unbounded
    groups:
      '"><b>g</b>': {}
  'out#1;%%{init}%%':
    retention: unbounded
  'a`b`|c<d>&e': { retention: unbounded, dlq_of: 'in"put' }
acl:
  users:
    'us"er]':
      passwords: [{ env: P }]
      keys: ['in"put']
      commands: ["+xreadgroup", "+xack"]
      access:
        - { keys: { write: ['out#*'] }, preset: producer }
    reader:
      passwords: [{ env: P }]
      access:
        - { keys: { read: ['a`b`|c<d>&e', 'in"put'] }, commands: ["+xrange", "+xread"] }
    gone:
      enabled: false
      passwords: [{ env: P }]
      keys: ["*"]
      commands: ["+@all"]
"#;

#[test]
fn awkward_names_as_mermaid() {
    let graph = Graph::of(&desired_of(AWKWARD));
    insta::assert_snapshot!("awkward_mermaid", mermaid::mermaid(&graph));
}

#[test]
fn awkward_names_as_dot() {
    let graph = Graph::of(&desired_of(AWKWARD));
    insta::assert_snapshot!("awkward_dot", dot::dot(&graph));
}

#[test]
fn the_same_topology_draws_the_same_text() {
    let first = Graph::of(&desired_of(AWKWARD));
    for _ in 0..3 {
        let again = Graph::of(&desired_of(AWKWARD));
        assert_eq!(mermaid::mermaid(&again), mermaid::mermaid(&first));
        assert_eq!(dot::dot(&again), dot::dot(&first));
    }
}

#[test]
fn a_group_without_consumers_is_read_by_every_user_that_may() {
    let graph = Graph::of(&desired_of(AWKWARD));
    let consumers: Vec<&str> = graph
        .edges
        .iter()
        .filter_map(|e| match e {
            Edge::Consumes { user, .. } => Some(user.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(consumers, ["us\"er]"]);
    assert!(
        !graph.users.contains(&"gone".to_owned()),
        "{:?}",
        graph.users
    );
}
