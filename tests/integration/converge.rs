//! Property: for generated topologies and generated live states, apply then plan is empty.
//! Runs the library's reader, planner and applier against one real redis-server.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use redis_topology::apply;
use redis_topology::live::read::read;
use redis_topology::model::desired::{Desired, DesiredGroup, DesiredRetention, DesiredStream};
use redis_topology::model::types::StartId;
use redis_topology::plan::{self, Options};
use redis_topology::target::{ConnectOptions, Target};

use super::redis::RedisServer;

/// One generated stream: (maxlen, approximate, declared groups, live entries, live groups).
type StreamCase = (Option<u64>, bool, Vec<String>, u64, Vec<String>);

/// What the generated streams look like, desired and live.
#[derive(Clone, Debug)]
struct Case {
    streams: Vec<StreamCase>,
}

fn group_names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-c]", 0..3).prop_map(|s| s.into_iter().collect())
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec(
        (
            prop::option::of(1u64..300),
            any::<bool>(),
            group_names(),
            0u64..500,
            group_names(),
        ),
        0..6,
    )
    .prop_map(|streams| Case { streams })
}

fn desired(case: &Case, namespace: &str) -> Desired {
    let streams: BTreeMap<String, DesiredStream> = case
        .streams
        .iter()
        .enumerate()
        .map(|(i, (maxlen, approximate, groups, _, _))| {
            let name = format!("s{i}");
            let groups = groups
                .iter()
                .map(|g| {
                    (
                        g.as_str().into(),
                        DesiredGroup {
                            start: StartId::Id { ms: 0, seq: 0 },
                            entries_read: None,
                            consumers: Vec::new(),
                        },
                    )
                })
                .collect();
            let retention = DesiredRetention {
                maxlen: *maxlen,
                max_age_ms: None,
                approximate: *approximate,
            };
            (
                format!("{namespace}:{name}"),
                DesiredStream {
                    name: name.into(),
                    retention,
                    groups,
                    schema: None,
                    producers: Vec::new(),
                },
            )
        })
        .collect();
    Desired {
        namespace: namespace.to_owned(),
        environment: None,
        streams,
        digest: redis_topology::model::desired::LazyDigest::known("p"),
        users: Default::default(),
        health: Default::default(),
    }
}

/// Build the generated live state by hand: entries and groups, some declared, some not.
fn prepare(server: &RedisServer, case: &Case, namespace: &str) {
    server.cmd::<String>(&["FLUSHALL"]);
    let mut con = server.con();
    for (i, (_, _, _, entries, groups)) in case.streams.iter().enumerate() {
        let key = format!("{namespace}:s{i}");
        let mut pipe = redis::pipe();
        for n in 0..*entries {
            pipe.cmd("XADD").arg(&key).arg("*").arg("n").arg(n).ignore();
        }
        for g in groups {
            pipe.cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(g)
                .arg("$")
                .arg("MKSTREAM")
                .ignore();
        }
        if *entries > 0 || !groups.is_empty() {
            // (an empty pipeline is a client error; such a stream simply does not exist yet)
            pipe.query::<()>(&mut con).expect("prepare live state");
        }
    }
}

fn apply_then_plan(
    runtime: &tokio::runtime::Runtime,
    target: &mut Target,
    desired: &Desired,
) -> plan::Plan {
    runtime.block_on(async {
        let live = read(target, desired).await.expect("read");
        let first = plan::plan(desired, &live, Options::default()).expect("plan");
        let lock = target
            .acquire_lock(&desired.namespace, Duration::from_secs(10))
            .await
            .expect("lock");
        let fence = apply::check_fence(target, &lock).await.expect("fence");
        apply::execute(
            target,
            apply::planned(first),
            desired,
            (&lock, fence),
            None,
            &mut |_, _| {},
        )
        .await
        .expect("apply");
        target.release_lock(lock).await.expect("release");
        let live = read(target, desired).await.expect("read again");
        plan::plan(desired, &live, Options::default()).expect("plan again")
    })
}

#[test]
fn apply_then_plan_is_empty() {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The connection lives on this runtime, so every case runs on it too.
    let target = runtime
        .block_on(Target::connect(&server.url(), ConnectOptions::default()))
        .expect("connect");
    let target = std::cell::RefCell::new(target);
    let config = ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    };
    proptest!(config, |(case in case())| {
        prepare(&server, &case, "prop");
        let desired = desired(&case, "prop");
        let after = apply_then_plan(&runtime, &mut target.borrow_mut(), &desired);
        prop_assert!(after.is_empty(), "{case:?}\n{:#?}", after.changes);
    });
}

/// What Redis keeps per node is read per node and kept with the node's address: its
/// clock, its `stream-node-max-entries`, and which node answered for each stream.
#[test]
fn the_reader_keeps_each_nodes_own_facts() {
    let server = RedisServer::start();
    server.cmd::<String>(&["CONFIG", "SET", "stream-node-max-entries", "77"]);
    server.cmd::<String>(&["XADD", "facts:s0", "*", "n", "1"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let case = Case {
        streams: vec![(Some(10), true, Vec::new(), 1, Vec::new())],
    };
    let desired = desired(&case, "facts");
    let live = runtime.block_on(async {
        let mut target = Target::connect(&server.url(), ConnectOptions::default())
            .await
            .expect("connect");
        read(&mut target, &desired).await.expect("read")
    });
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    assert_eq!(live.nodes.len(), 1, "{:?}", live.nodes);
    let node = &live.nodes[0];
    let port = server
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(node.address, format!("127.0.0.1:{port}"));
    assert_eq!(node.node_max_entries, 77);
    assert!(
        u128::from(node.now_ms).abs_diff(now_ms) < 60_000,
        "the server's clock: {} vs {now_ms}",
        node.now_ms
    );
    assert!(node.acl.is_none(), "no users declared or recorded");
    let Some(redis_topology::live::LiveKey::Stream(stream)) = live.keys.get("facts:s0") else {
        panic!("facts:s0 is a stream: {:?}", live.keys);
    };
    assert_eq!((stream.node, stream.length), (0, 1));
    assert_eq!(live.record_node, 0);
}
