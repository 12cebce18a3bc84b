//! Deployments of many nodes (issue 15): a primary with replicas, where ACL users are
//! planned and applied on every node, and a Redis Cluster, where every read goes to the node
//! that serves its key. Real servers, started by `super::deployments`.

use super::deployments::{LocalCluster, ReplicatedPrimary};
use super::util::{bin, text, topology_file};

pub(super) const PASSWORD: &str = "worker-pw-1";

pub(super) const TOPOLOGY: &str = r#"
version: 1
namespace: app
streams:
  tasks:
    retention: { maxlen: 1000 }
    groups:
      workers: { start: "0" }
  results:
    retention: { maxlen: 1000 }
acl:
  users:
    worker:
      passwords: [{ env: WORKER_PASSWORD }]
      keys:
        read: ["tasks"]
      commands: ["+xreadgroup", "+xack", "+ping"]
"#;

fn run(url: &str, file: &tempfile::NamedTempFile, args: &[&str]) -> std::process::Output {
    bin()
        .args(args)
        .arg(file.path())
        .args(["--url", url])
        .env("WORKER_PASSWORD", PASSWORD)
        .output()
        .expect("run redis-topology")
}

/// Whether `user` can log in with `password` on the node at `port`.
pub(super) fn logs_in(port: u16, user: &str, password: &str) -> bool {
    let url = format!("redis://{user}:{password}@127.0.0.1:{port}");
    redis::Client::open(url)
        .and_then(|client| client.get_connection())
        .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con))
        .is_ok()
}

/// ACL users are per node and never replicated: apply writes them on the primary and on
/// every replica (a service can log in on each, so a failover does not lock it out); a
/// hand change on one replica is planned as a change on that replica alone and repaired.
#[test]
fn users_are_applied_and_repaired_on_every_node_of_a_replicated_primary() {
    let nodes = ReplicatedPrimary::start(2);
    let file = topology_file(TOPOLOGY);
    let out = run(&nodes.url(), &file, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for port in nodes.ports() {
        assert!(
            logs_in(port, "worker", PASSWORD),
            "worker on 127.0.0.1:{port}"
        );
    }
    let out = run(&nodes.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));

    // By hand, on one replica only.
    let replica = nodes.replica_ports()[1];
    nodes.cmd_on::<String>(replica, &["ACL", "SETUSER", "worker", "+flushall"]);
    let out = run(&nodes.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!("on 127.0.0.1:{replica}: commands:")),
        "names the node: {shown}"
    );
    assert!(shown.contains("differs on 1 of the 3 nodes"), "{shown}");

    // The URL of a replica leads to its primary: the same plan.
    let out = run(
        &nodes.url_of(replica),
        &file,
        &["plan", "--detailed-exitcode"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = run(&nodes.url(), &file, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rules: Vec<redis::Value> = nodes.cmd_on(replica, &["ACL", "GETUSER", "worker"]);
    assert!(
        !format!("{rules:?}").contains("flushall"),
        "repaired on the replica: {rules:?}"
    );
    let out = run(&nodes.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "converged again: {}",
        text(&out)
    );
}

/// On a cluster every read goes to the node that serves its key: streams made by hand on
/// different primaries are all seen, and users are read on all six nodes (a user missing
/// from them is planned for every node). Apply refuses, writing nothing, until it can fence
/// its writes on every shard.
#[test]
fn a_cluster_is_planned_from_every_node_and_apply_refuses_without_writing() {
    let cluster = LocalCluster::start(3, 1);
    let (tasks, results) = ("app:tasks", "app:results");
    assert_ne!(
        cluster.owner_of(tasks),
        cluster.owner_of(results),
        "the two streams live on two primaries"
    );
    for key in [tasks, results] {
        let owner = cluster.owner_of(key);
        cluster.cmd_on::<String>(
            owner,
            &["XGROUP", "CREATE", key, "workers", "0", "MKSTREAM"],
        );
    }
    let file = topology_file(TOPOLOGY);
    // Any node's URL: a replica's here.
    let url = cluster.url_of(cluster.replicas()[0].port);
    let out = run(&url, &file, &["plan", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let addresses: Vec<&str> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["address"].as_str())
        .collect();
    // Both streams exist (read on their own primaries); `results` has a group it does not
    // declare, `tasks` has its group; the user is new on every node.
    assert!(!addresses.contains(&"stream.tasks"), "{addresses:?}");
    assert!(!addresses.contains(&"stream.results"), "{addresses:?}");
    assert!(!addresses.contains(&"group.tasks.workers"), "{addresses:?}");
    assert!(addresses.contains(&"user.worker"), "{addresses:?}");

    let out = run(&cluster.url(), &file, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("apply to a Redis Cluster is not supported yet"),
        "{}",
        text(&out)
    );
    for node in cluster.nodes() {
        assert!(
            !logs_in(node.port, "worker", PASSWORD),
            "nothing written on {}",
            node.address
        );
    }
}
