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

/// The last lines of an output (a large apply's warnings come first).
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A runtime for the tests that drive the library's target directly.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A target on `url` holding the apply lock of `namespace` (for 30 s).
async fn locked_target(
    url: &str,
    namespace: &str,
) -> (redis_topology::target::Target, redis_topology::target::Lock) {
    use redis_topology::target::{ConnectOptions, Target};
    let mut target = Target::connect(url, ConnectOptions::default())
        .await
        .expect("connect");
    let lock = target
        .acquire_lock(namespace, std::time::Duration::from_secs(30))
        .await
        .expect("lock");
    (target, lock)
}

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
/// from them is planned for every node). Apply writes each stream on its own primary, fenced
/// by the lock there or its copy, and the users on all six nodes; then the plan is empty.
#[test]
fn a_cluster_is_planned_from_every_node_and_applied_on_each() {
    let cluster = LocalCluster::start(3, 1);
    let (tasks, results) = ("app:tasks", "app:results");
    assert_ne!(
        cluster.owner_of(tasks),
        cluster.owner_of(results),
        "the two streams live on two primaries"
    );
    let owner = cluster.owner_of(results);
    cluster.cmd_on::<String>(
        owner,
        &["XGROUP", "CREATE", results, "old", "0", "MKSTREAM"],
    );
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
    // `results` exists (read on its own primary); `tasks` and the user are new.
    assert!(!addresses.contains(&"stream.results"), "{addresses:?}");
    assert!(addresses.contains(&"stream.tasks"), "{addresses:?}");
    assert!(addresses.contains(&"user.worker"), "{addresses:?}");

    let out = run(&url, &file, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let groups: Vec<redis::Value> =
        cluster.cmd_on(cluster.owner_of(tasks), &["XINFO", "GROUPS", tasks]);
    assert!(format!("{groups:?}").contains("workers"), "{groups:?}");
    for node in cluster.nodes() {
        assert!(
            logs_in(node.port, "worker", PASSWORD),
            "worker on {}",
            node.address
        );
    }
    let out = run(&cluster.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
    // No lock, and no copy of it, is left on any primary.
    for primary in cluster.primaries() {
        let keys: Vec<String> = cluster.cmd_on(primary.port, &["KEYS", "*lock*"]);
        assert!(keys.is_empty(), "{}: {keys:?}", primary.address);
    }
}

/// A node that cannot be reached is an error before anything is read or written, naming
/// it; once it is back, the same command works.
#[test]
fn a_cluster_node_down_stops_plan_before_anything_naming_it() {
    let cluster = LocalCluster::start(3, 1);
    let file = topology_file(TOPOLOGY);
    let down = cluster.replicas()[1].port;
    cluster.kill(down);
    let out = run(&cluster.url(), &file, &["plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!("127.0.0.1:{down}")),
        "names the node: {shown}"
    );
    assert!(!shown.contains("Planned changes"), "{shown}");
    cluster.restart(down);
    let out = run(&cluster.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// A write on a replica runs only while the replica's copy of the lock holds this apply's
/// token: taken by another apply on the primary (replicated), the replica's share runs
/// nothing and says the lock was lost.
#[test]
fn a_replica_refuses_writes_when_its_copy_of_the_lock_is_not_this_applys() {
    use redis_topology::target::{
        Command, ConnectOptions, Fence, LockFence, Route, Target, TransactionOutcome, Write,
        WriteOutcome,
    };
    let nodes = ReplicatedPrimary::start(1);
    let replica = nodes.replica_ports()[0];
    let key = "{__topology__:abuse}:lock";
    nodes.set_replicated(nodes.primary(), key, "someone-else", 1);
    let runtime = runtime();
    let shares = runtime.block_on(async {
        let target = Target::connect(&nodes.url(), ConnectOptions::default())
            .await
            .expect("connect");
        let addresses = vec![format!("127.0.0.1:{replica}")];
        let write = Write {
            command: Command::from_args(["ACL", "SETUSER", "intruder", "on", "nopass", "+@all"]),
            route: Route::Addresses(&addresses),
            already_done: None,
            needs_key: false,
        };
        let lock = LockFence {
            key,
            token: "this-apply",
            lease: std::time::Duration::from_secs(30),
            copies: &[],
        };
        let batches =
            target.write_batches(lock, Fence::Transaction, std::iter::once(vec![write]), 1);
        futures_util::StreamExt::collect::<Vec<_>>(batches).await
    });
    let shares = shares
        .into_iter()
        .next()
        .expect("one batch")
        .expect("answered");
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert_eq!(
        shares[0].outcome,
        WriteOutcome::Transaction(TransactionOutcome::LockLost)
    );
    let users: Vec<String> = nodes.cmd_on(replica, &["ACL", "USERS"]);
    assert!(!users.contains(&"intruder".to_owned()), "{users:?}");
}

/// On a cluster each primary checks its writes against its copy of the lock, which expires
/// before the lock does: a copy taken over by another apply stops that primary's share, and
/// nothing of it is written.
#[test]
fn a_shard_refuses_writes_when_its_copy_of_the_lock_is_not_this_applys() {
    use redis_topology::target::{BatchOutcome, Command, Fence, Route, Write, WriteOutcome};
    let cluster = LocalCluster::start(3, 0);
    let runtime = runtime();
    runtime.block_on(async {
        let (mut target, lock) = locked_target(&cluster.url(), "abuse").await;
        let fence = lock.fence();
        assert_eq!(fence.copies.len(), 2, "a copy on each other primary");
        let lock_port = cluster.owner_of(fence.key);
        let lock_ttl: i64 = cluster.cmd_on(lock_port, &["PTTL", fence.key]);
        let (node, copy) = fence.copies[0].clone();
        let node = &node;
        let copy = copy.as_str();
        let port: u16 = target
            .address(*node)
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        assert_eq!(
            cluster.owner_of(copy),
            port,
            "the copy lives on its primary"
        );
        let copy_ttl: i64 = cluster.cmd_on(port, &["PTTL", copy]);
        assert!(
            0 < copy_ttl && copy_ttl < lock_ttl,
            "the copy expires first: {copy_ttl} ms, the lock {lock_ttl} ms"
        );
        // Another apply's token in the copy.
        cluster.cmd_on::<String>(port, &["SET", copy, "someone-else", "PX", "10000"]);
        let key = (0..1000)
            .map(|i| format!("abuse:s{i}"))
            .find(|k| cluster.owner_of(k) == port)
            .expect("a key on that primary");
        let write = Write {
            command: Command::from_args(["XGROUP", "CREATE", key.as_str(), "g", "0", "MKSTREAM"]),
            route: Route::Key(&key),
            already_done: Some("BUSYGROUP"),
            needs_key: false,
        };
        let batches = target.write_batches(fence, Fence::Script, std::iter::once(vec![write]), 1);
        let shares = futures_util::StreamExt::collect::<Vec<_>>(batches).await;
        let shares = shares
            .into_iter()
            .next()
            .expect("one batch")
            .expect("answered");
        assert_eq!(
            shares[0].outcome,
            WriteOutcome::Script(BatchOutcome::LockLost),
            "{shares:?}"
        );
        let exists: i64 = cluster.cmd_on(port, &["EXISTS", &key]);
        assert_eq!(exists, 0, "nothing written");
        target.release_lock(lock).await.expect("released");
        let held: Option<String> = cluster.cmd_on(port, &["GET", copy]);
        assert_eq!(
            held.as_deref(),
            Some("someone-else"),
            "another's copy is left"
        );
    });
}

/// The shipped topology (seeds/002) applied through the documented apply user on a 3+3
/// cluster and on a primary with two replicas (each node with an aclfile), then planned
/// empty; every role can log in on every node. `default` is disabled by the file on every
/// node, so the harness works as its own admin user, which replicas also replicate with.
#[test]
fn the_shipped_topology_is_applied_and_planned_empty_on_a_cluster_and_on_replicas() {
    use super::deployments::Options;
    use super::util::{SHIPPED_ROLES, documented_rules_for, repo};
    let options = Options::default().admin().aclfile();
    let cluster = LocalCluster::start_with(3, 1, &options);
    let replicated = ReplicatedPrimary::start_with(2, &options);
    let shipped = repo().join("topology.yaml");
    for (name, ports) in [
        ("cluster", cluster.ports()),
        ("replicated", replicated.ports()),
    ] {
        let mut rules: Vec<String> = [
            "ACL",
            "SETUSER",
            "topology-apply",
            "on",
            ">apply-pw",
            "resetchannels",
            "-@all",
        ]
        .map(str::to_owned)
        .to_vec();
        rules.extend(documented_rules_for("topology-apply", "agentic"));
        // On a cluster; check-messages samples with XREVRANGE; status reads what the plan
        // user's rules add for it.
        rules.extend(
            [
                "+cluster|shards",
                "+readonly",
                "+asking",
                "+xrevrange",
                "+xpending",
                "+xinfo|consumers",
                "+info",
                "+scan",
            ]
            .map(str::to_owned),
        );
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        for port in &ports {
            let nodes = cluster_or(&cluster, &replicated, name);
            nodes.cmd_on::<String>(*port, &rules);
            nodes.cmd_on::<String>(*port, &["ACL", "LOG", "RESET"]);
        }
        let url = format!("redis://topology-apply:apply-pw@127.0.0.1:{}", ports[0]);
        let shipped_run = |args: &[&str]| {
            let mut command = bin();
            command
                .args(args)
                .arg(&shipped)
                .args(["--url-file", "/dev/stdin"]);
            command.write_stdin(url.clone());
            for role in SHIPPED_ROLES {
                command.env(format!("{role}_PASSWORD"), format!("{role}-pw"));
            }
            command.output().expect("run redis-topology")
        };
        let out = shipped_run(&["apply", "--yes", "--env", "staging"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let out = shipped_run(&["plan", "--detailed-exitcode", "--env", "staging"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} converged: {}",
            text(&out)
        );
        // Samples of every stream with a schema, each read on the node that serves it.
        let out = shipped_run(&["check-messages", "--sample", "10", "--env", "staging"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} check-messages: {}",
            text(&out)
        );
        // Health: every stream and group read on the node that serves it, every node's
        // settings, every service's heartbeats counted on every primary. Before any service
        // runs, no heartbeat is alive: critical.
        let out = shipped_run(&["status", "--env", "staging", "--format", "json"]);
        assert_eq!(out.status.code(), Some(3), "{name} status: {}", text(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let namespace = json["target"]["namespace"]
            .as_str()
            .expect("namespace")
            .to_owned();
        for (service, instances) in [
            ("campaign-manager", 1),
            ("cm-subscriber", 1),
            ("orchestrator", 1),
            ("rag-worker", 2),
            ("persist-writer", 2),
            ("auditor", 1),
        ] {
            for id in 0..instances {
                let key = format!("{namespace}:ops:hb:{service}:{id}");
                let port = if name == "cluster" {
                    cluster.owner_of(&key)
                } else {
                    ports[0]
                };
                cluster_or(&cluster, &replicated, name)
                    .cmd_on::<String>(port, &["SETEX", &key, "30", "1"]);
            }
        }
        let out = shipped_run(&["status", "--env", "staging", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{name} status: {}", text(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let rows = json["rows"].as_array().expect("rows");
        let servers = rows.iter().filter(|r| r["server"].is_string()).count();
        assert_eq!(servers, ports.len(), "{name}: a row per node");
        let groups = rows.iter().filter(|r| r["group"].is_string()).count();
        assert!(groups >= 8, "{name}: the shipped groups: {json:#}");
        let heartbeats: Vec<&serde_json::Value> =
            rows.iter().filter(|r| r["heartbeat"].is_string()).collect();
        assert_eq!(heartbeats.len(), 6, "{name}: {json:#}");
        assert!(
            heartbeats
                .iter()
                .all(|r| r["figures"]["instances"].as_u64() >= Some(1)),
            "{name}: {json:#}"
        );
        assert!(
            rows.iter()
                .filter(|r| r["group"].is_string())
                .all(|r| r["figures"]["lag"] == 0 && r["figures"]["pending"] == 0),
            "{name}: {json:#}"
        );
        // Every node refused the tool nothing: its ACL log is empty.
        for port in &ports {
            let log: Vec<redis::Value> =
                cluster_or(&cluster, &replicated, name).cmd_on(*port, &["ACL", "LOG"]);
            assert!(log.is_empty(), "{name}: the ACL log of {port}: {log:?}");
        }
        for port in &ports {
            assert!(
                logs_in(*port, "rag-worker", "RAG_WORKER-pw"),
                "{name}: rag-worker on 127.0.0.1:{port}"
            );
            assert!(
                !logs_in(*port, "default", ""),
                "{name}: default is off on {port}"
            );
        }
    }
}

/// The deployment of `name` in the test above, for its per-port helpers.
fn cluster_or<'d>(
    cluster: &'d LocalCluster,
    replicated: &'d ReplicatedPrimary,
    name: &str,
) -> &'d super::deployments::Nodes {
    if name == "cluster" {
        cluster
    } else {
        replicated
    }
}

/// A slot moving during an apply: reads follow it (`ASK`), and so do writes: the group on
/// the stream that moved is made on its new primary (`ASK`, then `ASKING`), the apply
/// succeeds, and once the move is done the plan is empty; the stream exists once, on its new
/// primary.
#[test]
fn an_apply_during_a_slot_migration_follows_it_and_converges() {
    let cluster = LocalCluster::start(3, 0);
    let file = topology_file(TOPOLOGY);
    let out = run(&cluster.url(), &file, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A new group on `tasks`, whose slot moves to another primary meanwhile.
    let tasks = "app:tasks";
    let slot = cluster.slot_of(tasks);
    let from = cluster.owner_of(tasks);
    let to = cluster.another_primary(from);
    // A task `workers` has not read: status reads what follows its position.
    cluster.cmd_on::<String>(from, &["XADD", tasks, "*", "n", "1"]);
    cluster.begin_migration(slot, to);
    assert_eq!(
        cluster.migrate_keys(slot, 10),
        1,
        "tasks moved, the slot not yet"
    );
    // Reads follow the move: `ASK` from the old primary, read again after `ASKING` on the
    // new one, for that key alone; nothing has changed.
    let out = run(&cluster.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "read through ASK: {}",
        text(&out)
    );
    // So do status's, and the read that follows them up (the entry after the group's
    // position) goes to the same node after `ASKING` too.
    let out = run(&cluster.url(), &file, &["status", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "status through ASK: {}",
        text(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let workers = report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["group"] == "workers"))
        .unwrap_or_else(|| panic!("no workers row: {report:#}"));
    assert_eq!(workers["figures"]["lag"], 1, "{workers:#}");
    assert!(workers["figures"]["lag_age"].is_number(), "{workers:#}");
    let more = TOPOLOGY.replace(
        "      workers: { start: \"0\" }",
        "      workers: { start: \"0\" }\n      audit: { start: \"0\" }",
    );
    let file = topology_file(&more);
    let out = run(&cluster.url(), &file, &["apply", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the write follows ASK: {}",
        text(&out)
    );
    // The old primary does not have it: it says so with `ASK` (the slot still migrating).
    let on_source = cluster.try_cmd_on(from, &["EXISTS", tasks]);
    assert!(
        matches!(&on_source, Err(e) if e.code() == Some("ASK")),
        "no stream made again on the old primary: {on_source:?}"
    );
    let out = run(&cluster.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "converged, mid-move: {}",
        text(&out)
    );

    cluster.finish_migration(slot);
    let out = run(&cluster.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
    let groups: Vec<redis::Value> = cluster.cmd_on(to, &["XINFO", "GROUPS", tasks]);
    let groups = format!("{groups:?}");
    assert!(
        groups.contains("audit") && groups.contains("workers"),
        "{groups}"
    );
    let on_source = cluster.try_cmd_on(from, &["EXISTS", tasks]);
    assert!(
        matches!(&on_source, Err(e) if e.code() == Some("MOVED")),
        "once, on its new primary: {on_source:?}"
    );
}

/// A large apply while slots move under it: from the moment the apply starts until it ends,
/// the slots of its streams move one after another to another primary (keys and all). The
/// apply follows every redirect and succeeds in one run; the plan after it is empty; and
/// every stream exists once in the whole cluster, with its one group: no write was made on
/// two primaries.
#[test]
fn a_large_apply_while_slots_move_succeeds_in_one_run() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const STREAMS: usize = 3000;
    let cluster = LocalCluster::start(3, 0);
    let mut yaml = String::from("version: 1\nnamespace: big\nstreams:\n");
    for i in 0..STREAMS {
        yaml.push_str(&format!(
            "  s{i}:\n    groups: {{ g: {{ start: \"0\" }} }}\n"
        ));
    }
    let file = topology_file(&yaml);
    // The slots of the streams, but for those of the tool's own keys (the lock, its copies,
    // the record), which the test leaves in place.
    let tool_slots: Vec<u16> = (0..100)
        .map(|n| format!("{{__topology__:big:copy{n}}}:lock"))
        .chain(["{__topology__:big}:lock".to_owned()])
        .map(|key| cluster.slot_of(&key))
        .collect();
    // All from one primary to another: moves in both directions at once can make a node
    // take back a slot it gave away (its config epoch, bumped for another slot, wins).
    let from = cluster.primaries()[0].port;
    let to = cluster.another_primary(from);
    let mut slots: Vec<u16> = (0..STREAMS)
        .map(|i| cluster.slot_of(&format!("big:s{i}")))
        .filter(|slot| !tool_slots.contains(slot) && cluster.owner_of_slot(*slot) == from)
        .collect();
    slots.dedup();
    let ended = AtomicBool::new(false);
    let (out, moved_meanwhile) = std::thread::scope(|scope| {
        let mover = scope.spawn(|| {
            let mut moved = 0;
            for slot in slots.iter().rev() {
                if ended.load(Ordering::SeqCst) {
                    break;
                }
                cluster.migrate_slot(*slot, to);
                moved += 1;
            }
            moved
        });
        let out = run(&cluster.url(), &file, &["apply", "--yes"]);
        ended.store(true, Ordering::SeqCst);
        let moved = mover.join().expect("the mover");
        (out, moved)
    });
    assert_eq!(
        out.status.code(),
        Some(0),
        "after {moved_meanwhile} slots moved: {}",
        tail(&text(&out))
    );
    assert!(moved_meanwhile > 0, "slots moved while the apply ran");
    let out = run(&cluster.url(), &file, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
    // Every stream once: the streams and the record, nothing more.
    let keys_in_cluster: usize = cluster
        .primaries()
        .iter()
        .map(|p| cluster.cmd_on::<usize>(p.port, &["DBSIZE"]))
        .sum();
    assert_eq!(
        keys_in_cluster,
        STREAMS + 1,
        "{moved_meanwhile} slots moved"
    );
}

/// Writes follow the cluster when slots move after the tool read the slot map: a slot moved
/// for good (`MOVED`: the map is mended, the rest of the share sent to the new primary) and
/// a slot half moved (`ASK`: the key that left goes to the new primary after `ASKING`, the
/// one still there stays; the move is finished 150 ms after the writes start, so that on
/// Redis 7.4, which refuses the script's write of the key still there, the write's next try
/// follows `MOVED`). Each write is a non-idempotent `XADD`, so every stream's length shows
/// each write ran exactly once, and every write is reported done once.
#[test]
fn writes_follow_moved_and_ask_and_run_exactly_once() {
    use redis_topology::target::{BatchOutcome, Command, Fence, Route, Write, WriteOutcome};
    let cluster = LocalCluster::start(3, 0);
    let xadd = |key: &str| {
        cluster.cmd_on::<String>(cluster.owner_of(key), &["XADD", key, "*", "n", "0"]);
    };
    // `{moved}`'s slot moves for good; `{asked}`'s is half moved; `{stays}`'s stays.
    for key in ["{moved}:old", "{asked}:a", "{asked}:b", "{stays}:old"] {
        xadd(key);
    }
    // Finishes the half-done move 150 ms after it is told to.
    let (start_finishing, slot_to_finish) = std::sync::mpsc::channel::<u16>();
    let (finished, wait_finished) = std::sync::mpsc::channel::<()>();
    let cluster = &cluster;
    let finisher = move || {
        if let Ok(slot) = slot_to_finish.recv() {
            std::thread::sleep(std::time::Duration::from_millis(150));
            cluster.finish_migration(slot);
            finished.send(()).expect("the test waits");
        }
    };
    let runtime = runtime();
    std::thread::scope(|scope| {
        scope.spawn(finisher);
        runtime.block_on(async {
            let (mut target, lock) = locked_target(&cluster.url(), "moves").await;
            // The moves, after the target read the slot map.
            let moved_slot = cluster.slot_of("{moved}:old");
            let moved_to = cluster.another_primary(cluster.owner_of("{moved}:old"));
            cluster.migrate_slot(moved_slot, moved_to);
            let asked_slot = cluster.slot_of("{asked}:a");
            let asked_from = cluster.owner_of("{asked}:a");
            let asked_to = cluster.another_primary(asked_from);
            cluster.begin_migration(asked_slot, asked_to);
            assert_eq!(cluster.migrate_keys(asked_slot, 1), 1, "one key moved");

            let keys = [
                "{moved}:old",
                "{moved}:new",
                "{asked}:a",
                "{asked}:b",
                "{asked}:new",
                "{stays}:old",
                "{stays}:new",
            ];
            let writes: Vec<Write<'_>> = keys
                .iter()
                .map(|key| Write {
                    command: Command::from_args(["XADD", key, "*", "n", "1"]),
                    route: Route::Key(key),
                    already_done: None,
                    needs_key: false,
                })
                .collect();
            start_finishing
                .send(asked_slot)
                .expect("the finisher waits");
            let batches =
                target.write_batches(lock.fence(), Fence::Script, std::iter::once(writes), 1);
            let batches = futures_util::StreamExt::collect::<Vec<_>>(batches).await;
            let written = batches
                .into_iter()
                .next()
                .expect("one batch")
                .expect("answered");
            let mut done: Vec<usize> = Vec::new();
            for share in &written {
                assert_eq!(
                    share.outcome,
                    WriteOutcome::Script(BatchOutcome::Ran {
                        done: share.writes.len(),
                        failed: None
                    }),
                    "{written:?}"
                );
                done.extend(&share.writes);
            }
            done.sort_unstable();
            assert_eq!(done, (0..keys.len()).collect::<Vec<_>>(), "each write once");
            target.release_lock(lock).await.expect("released");
            wait_finished.recv().expect("the move finished");
            for (key, length) in [
                ("{moved}:old", 2),
                ("{moved}:new", 1),
                ("{asked}:a", 2),
                ("{asked}:b", 2),
                ("{asked}:new", 1),
                ("{stays}:old", 2),
                ("{stays}:new", 1),
            ] {
                let owner = cluster.owner_of(key);
                let got: i64 = cluster.cmd_on(owner, &["XLEN", key]);
                assert_eq!(got, length, "{key} on 127.0.0.1:{owner}");
            }
            assert_eq!(cluster.owner_of("{moved}:new"), moved_to);
            assert_eq!(cluster.owner_of("{asked}:new"), asked_to);
            // Nothing left behind on the old primaries (the lock and its copies are released):
            // every key once in the whole cluster.
            let keys_in_cluster: usize = cluster
                .primaries()
                .iter()
                .map(|p| cluster.cmd_on::<usize>(p.port, &["DBSIZE"]))
                .sum();
            assert_eq!(keys_in_cluster, keys.len());
        });
    });
}

/// A slot that moved after the tool read the slot map: the old primary answers `MOVED`, the
/// map is read again, and the key alone is read on its new primary.
#[test]
fn a_read_follows_moved_after_the_slot_map_changed() {
    use redis_topology::target::keyed::{BatchLimits, KeyCommands};
    use redis_topology::target::{Command, ConnectOptions, Target};
    let cluster = LocalCluster::start(3, 0);
    let keys = ["app:tasks", "app:results"];
    for key in keys {
        cluster.cmd_on::<String>(cluster.owner_of(key), &["XADD", key, "*", "n", "1"]);
    }
    let runtime = runtime();
    let mut target = runtime
        .block_on(Target::connect(&cluster.url(), ConnectOptions::default()))
        .expect("connect");
    // Moved after the target read the slot map.
    let slot = cluster.slot_of(keys[0]);
    let from = cluster.owner_of(keys[0]);
    let to = cluster.another_primary(from);
    cluster.migrate_slot(slot, to);
    let mut lengths = Vec::new();
    let xlen = |key: &str, _| KeyCommands {
        commands: vec![Command::new("XLEN").arg(key)],
        heavy: false,
    };
    let limits = BatchLimits {
        keys: 10,
        heavy: 10,
    };
    runtime
        .block_on(
            target.read_keys(&keys, limits, &xlen, &mut |key, node, replies| {
                lengths.push((key.to_owned(), node, format!("{:?}", replies.first())));
                Ok(())
            }),
        )
        .expect("the read follows MOVED");
    lengths.sort();
    assert_eq!(lengths.len(), 2, "{lengths:?}");
    for (_, _, reply) in &lengths {
        assert_eq!(reply, "Some(Int(1))", "{lengths:?}");
    }
    let (_, node, _) = lengths
        .iter()
        .find(|(key, ..)| key == keys[0])
        .expect("tasks");
    assert_eq!(
        target.address(*node),
        format!("127.0.0.1:{to}"),
        "read where it is now"
    );
}

/// A plan whose operation names a node the target does not have (a user to rewrite on an
/// address that is not one of its nodes: a plan made against other nodes) is refused before
/// anything is sent, naming the change and the command; nothing is written.
#[test]
fn an_operation_routed_to_no_node_of_the_target_is_refused_before_anything_is_sent() {
    use redis_topology::apply::{ApplyError, execute};
    use redis_topology::model::desired::Desired;
    use redis_topology::plan::{Action, Change, Kind, Op, Plan};
    let server = super::redis::RedisServer::start();
    let runtime = runtime();
    let outcome = runtime.block_on(async {
        let (mut target, lock) = locked_target(&server.url(), "app").await;
        let plan = Plan {
            namespace: "app".to_owned(),
            environment: None,
            changes: vec![Change {
                address: "user.intruder".to_owned(),
                kind: Kind::User,
                action: Action::Create,
                destructive: false,
                before: None,
                after: None,
                extra: vec![Op::SetUser {
                    name: "intruder".to_owned(),
                    rules: vec!["on".to_owned(), "nopass".to_owned(), "+@all".to_owned()],
                    nodes: Some(vec!["127.0.0.1:1".to_owned()]),
                }],
                reason: "".into(),
                details: Vec::new(),
            }],
            notes: Vec::new(),
        };
        let desired = Desired {
            namespace: "app".to_owned(),
            environment: None,
            streams: Default::default(),
            digest: Default::default(),
            users: Default::default(),
            health: Default::default(),
        };
        let fence = redis_topology::apply::check_fence(&target, &lock)
            .await
            .expect("fence");
        let outcome = execute(
            &mut target,
            redis_topology::apply::planned(plan),
            &desired,
            (&lock, fence),
            None,
            &mut |_, _| {},
        )
        .await;
        target.release_lock(lock).await.expect("released");
        outcome
    });
    match outcome {
        Err(ApplyError::Unrouted { address, command }) => {
            assert_eq!(address, "user.intruder");
            assert!(command.starts_with("ACL SETUSER intruder"), "{command}");
        }
        other => panic!("refused as unrouted: {other:?}"),
    }
    let users: Vec<String> = server.cmd(&["ACL", "USERS"]);
    assert!(!users.contains(&"intruder".to_owned()), "{users:?}");
}
