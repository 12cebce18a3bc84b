//! Planner tests: desired + live in memory, no server.

use super::*;
use crate::live::{LiveGroup, LiveKey, LiveNode, LiveStream};
use crate::model::desired::{DesiredGroup, DesiredRetention, DesiredStream};
use crate::model::types::StartId;
use crate::record::RecordedStream;

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// The commands of a change, as `--format json` shows them.
pub(super) fn commands(change: &Change) -> Vec<Vec<String>> {
    change.commands().collect()
}

/// A stream for a test: name, retention, groups with their start.
type StreamSpec<'a> = (&'a str, DesiredRetention, &'a [(&'a str, StartId)]);

fn desired(streams: &[StreamSpec]) -> Desired {
    Desired {
        namespace: "ns".to_owned(),
        environment: Some("prod".to_owned()),
        streams: streams
            .iter()
            .map(|(name, retention, groups)| {
                let groups = groups
                    .iter()
                    .map(|(g, start)| {
                        (
                            (*g).into(),
                            DesiredGroup {
                                start: *start,
                                entries_read: None,
                                consumers: Vec::new(),
                            },
                        )
                    })
                    .collect();
                (
                    format!("ns:{name}"),
                    DesiredStream {
                        name: (*name).into(),
                        retention: *retention,
                        groups,
                        schema: None,
                        producers: Vec::new(),
                    },
                )
            })
            .collect(),
        digest: crate::model::desired::LazyDigest::known("d1"),
        health: Default::default(),
        users: Default::default(),
    }
}

fn maxlen(n: u64) -> DesiredRetention {
    DesiredRetention {
        maxlen: Some(n),
        max_age_ms: None,
        approximate: true,
    }
}

fn stream(length: u64, groups: &[&str]) -> LiveKey {
    LiveKey::Stream(Box::new(LiveStream {
        length,
        older_than_max_age: None,
        groups: groups
            .iter()
            .map(|g| ((*g).into(), LiveGroup::default()))
            .collect(),
        ..LiveStream::default()
    }))
}

fn live(keys: &[(&str, LiveKey)]) -> LiveState {
    LiveState {
        keys: keys
            .iter()
            .map(|(k, v)| (format!("ns:{k}"), v.clone()))
            .collect(),
        record: None,
        record_under_old_name: false,
        record_node: 0,
        nodes: vec![LiveNode {
            now_ms: 1_700_000_000_000,
            ..LiveNode::UNREAD
        }],
    }
}

/// Streams `s<n>` declared for each of `declared`, recorded for each of `recorded`, and
/// existing on the server for each of `existing` (for walks over the three).
pub(super) fn state_with(
    declared: &BTreeSet<u8>,
    recorded_keys: &BTreeSet<u8>,
    existing: &BTreeSet<u8>,
) -> (Desired, LiveState) {
    let names =
        |set: &BTreeSet<u8>| -> Vec<String> { set.iter().map(|n| format!("s{n}")).collect() };
    let declared = names(declared);
    let specs: Vec<StreamSpec> = declared
        .iter()
        .map(|n| (n.as_str(), maxlen(10), &[][..]))
        .collect();
    let desired = desired(&specs);
    let existing = names(existing);
    let keys: Vec<(&str, LiveKey)> = existing
        .iter()
        .map(|n| (n.as_str(), stream(1, &[])))
        .collect();
    let mut live = live(&keys);
    let mut record = recorded(&desired);
    record.streams = names(recorded_keys)
        .into_iter()
        .map(|n| (format!("ns:{n}").into(), RecordedStream::default()))
        .collect();
    live.record = Some(record);
    (desired, live)
}

/// The record a previous apply of `desired` would have left.
fn recorded(desired: &Desired) -> Record {
    Record {
        serial: 1,
        applied_plan: None,
        format: FORMAT,
        environment: desired.environment.clone(),
        digest: desired.digest().to_owned(),
        applied_at_ms: 1,
        tool_version: "0".to_owned(),
        streams: desired
            .streams
            .iter()
            .map(|(k, s)| {
                let groups = s
                    .groups
                    .iter()
                    .map(|(g, d)| {
                        (
                            g.as_str().into(),
                            RecordedGroup {
                                start: d.start.as_redis_arg().into(),
                            },
                        )
                    })
                    .collect();
                (k.as_str().into(), RecordedStream { groups })
            })
            .collect(),
        users: desired.users.keys().cloned().collect(),
    }
}

fn addresses(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

#[test]
fn empty_server_creates_streams_groups_and_the_record() {
    let d = desired(&[
        ("tasks", maxlen(10), &[("workers", StartId::Last)]),
        ("audit", DesiredRetention::default(), &[]),
    ]);
    let p = plan(&d, &live(&[]), Options::default()).expect("plan");
    assert_eq!(
        addresses(&p),
        [
            ("stream.audit".to_owned(), Action::Create),
            ("stream.tasks".to_owned(), Action::Create),
            ("group.tasks.workers".to_owned(), Action::Create),
            ("record".to_owned(), Action::Create),
        ]
    );
    let commands: Vec<String> = p
        .changes
        .iter()
        .flat_map(Change::commands)
        .map(|c| c.join(" "))
        .collect();
    assert_eq!(
        commands[0],
        "XGROUP CREATE ns:audit __topology__:mkstream $ MKSTREAM"
    );
    assert_eq!(commands[1], "XGROUP DESTROY ns:audit __topology__:mkstream");
    assert_eq!(commands[2], "XGROUP CREATE ns:tasks workers $ MKSTREAM");
    assert!(commands[3].starts_with("SET {__topology__:ns}:record {"));
    assert_eq!(
        commands.len(),
        4,
        "no old-name record to move: {commands:?}"
    );
    assert!(p.notes.is_empty());
}

/// The plan's room: every stream, group, user and the record on an empty server; on a
/// server that has the streams, none for them.
#[test]
fn room_is_made_for_the_streams_that_do_not_exist_yet() {
    let d = desired(&[
        (
            "a",
            maxlen(10),
            &[("g", StartId::Last), ("h", StartId::Last)],
        ),
        ("b", maxlen(10), &[("g", StartId::Last)]),
    ]);
    let first = plan(&d, &live(&[]), Options::default()).expect("plan");
    // Two streams, three groups, the record, and one to spare.
    assert_eq!(room(&d, &live(&[])), 7);
    assert!(room(&d, &live(&[])) >= first.changes.len());
    let existing = live(&[("a", stream(0, &["g", "h"])), ("b", stream(0, &["g"]))]);
    assert_eq!(room(&d, &existing), 2);
}

#[test]
fn converged_server_plans_nothing() {
    let d = desired(&[("tasks", maxlen(10), &[("workers", StartId::Last)])]);
    let mut l = live(&[("tasks", stream(5, &["workers"]))]);
    l.record = Some(recorded(&d));
    let p = plan(&d, &l, Options::default()).expect("plan");
    assert!(p.is_empty(), "{:#?}", p.changes);
}

#[test]
fn a_group_destroyed_by_hand_is_recreated() {
    let d = desired(&[(
        "tasks",
        maxlen(10),
        &[("workers", StartId::Id { ms: 0, seq: 0 })],
    )]);
    let mut l = live(&[("tasks", stream(5, &[]))]);
    l.record = Some(recorded(&d));
    let p = plan(&d, &l, Options::default()).expect("plan");
    // The record's content stays as it was, but every apply that changes anything writes
    // it with the next serial, so that an apply waiting for the lock sees the change.
    assert_eq!(
        addresses(&p),
        [
            ("group.tasks.workers".to_owned(), Action::Create),
            ("record".to_owned(), Action::Update)
        ]
    );
    assert!(
        p.changes[1]
            .reason
            .starts_with("records this apply (number 2)"),
        "{}",
        p.changes[1].reason
    );
    assert_eq!(
        commands(&p.changes[0]),
        [cmd(&[
            "XGROUP", "CREATE", "ns:tasks", "workers", "0", "MKSTREAM"
        ])]
    );
}

#[test]
fn wrong_type_refuses_before_any_change() {
    let d = desired(&[("tasks", maxlen(10), &[]), ("other", maxlen(10), &[])]);
    let l = live(&[("tasks", LiveKey::WrongType("string".to_owned()))]);
    let refusals = plan(&d, &l, Options::default()).expect_err("refused");
    assert_eq!(refusals.len(), 1);
    assert!(
        refusals[0]
            .to_string()
            .contains("`ns:tasks` exists and holds a string")
    );
}

#[test]
fn environment_guard() {
    let d = desired(&[("tasks", maxlen(10), &[])]);
    let mut l = live(&[("tasks", stream(0, &[]))]);
    let mut record = recorded(&d);
    record.environment = Some("dev".to_owned());
    l.record = Some(record);
    let refusals = plan(&d, &l, Options::default()).expect_err("refused");
    assert!(
        refusals[0]
            .to_string()
            .contains("applied for environment `dev`, not environment `prod`")
    );
}

#[test]
fn retention_trims_only_beyond_the_approximate_slack() {
    let cases = [
        // (length, maxlen, approximate, expected trim)
        (150, 100, true, false), // within one macro-node: `~` could not do better
        (201, 100, true, true),
        (101, 100, false, true),
        (100, 100, false, false),
    ];
    for (length, max, approximate, expected) in cases {
        let d = desired(&[(
            "s",
            DesiredRetention {
                maxlen: Some(max),
                max_age_ms: None,
                approximate,
            },
            &[],
        )]);
        let mut l = live(&[("s", stream(length, &[]))]);
        l.record = Some(recorded(&d));
        let p = plan(&d, &l, Options::default()).expect("plan");
        assert_eq!(!p.is_empty(), expected, "{length} {max} {approximate}");
        if expected {
            let tilde = if approximate { " ~" } else { "" };
            assert_eq!(
                commands(&p.changes[0])[0].join(" "),
                format!("XTRIM ns:s MAXLEN{tilde} {max}")
            );
            assert!(p.changes[0].reason.contains(&format!(
                "removes {}{} entries",
                if approximate { "up to " } else { "" },
                length - max
            )));
        }
    }
}

#[test]
fn max_age_trims_with_minid() {
    let age = 7 * 86_400_000;
    let d = desired(&[(
        "s",
        DesiredRetention {
            maxlen: None,
            max_age_ms: Some(age),
            approximate: false,
        },
        &[],
    )]);
    let mut l = live(&[("s", stream(50, &[]))]);
    if let Some(LiveKey::Stream(s)) = l.keys.get_mut("ns:s") {
        s.older_than_max_age = Some(3);
    }
    l.record = Some(recorded(&d));
    let p = plan(&d, &l, Options::default()).expect("plan");
    let minid = 1_700_000_000_000 - age;
    assert_eq!(
        commands(&p.changes[0])[0].join(" "),
        format!("XTRIM ns:s MINID {minid}-0")
    );
    assert!(p.changes[0].reason.contains("3 entries older than max_age"));
}

/// Clocks and macro-node sizes are per node: each stream is trimmed by its own node's, and
/// the record is dated by the clock of the node that holds it.
#[test]
fn retention_uses_the_facts_of_the_node_that_holds_the_stream() {
    let age = 60_000;
    let d = desired(&[
        (
            "a",
            DesiredRetention {
                maxlen: Some(100),
                max_age_ms: Some(age),
                approximate: true,
            },
            &[],
        ),
        (
            "b",
            DesiredRetention {
                maxlen: Some(100),
                max_age_ms: Some(age),
                approximate: true,
            },
            &[],
        ),
    ]);
    let mut l = live(&[("a", stream(180, &[])), ("b", stream(180, &[]))]);
    l.nodes = vec![
        LiveNode {
            address: "10.0.0.1:6379".to_owned(),
            now_ms: 1_000_000,
            node_max_entries: 100,
            ..LiveNode::UNREAD
        },
        LiveNode {
            address: "10.0.0.2:6379".to_owned(),
            now_ms: 2_000_000,
            node_max_entries: 50,
            ..LiveNode::UNREAD
        },
    ];
    l.record_node = 1;
    for (key, node) in [("ns:a", 0), ("ns:b", 1)] {
        if let Some(LiveKey::Stream(s)) = l.keys.get_mut(key) {
            s.node = node;
            s.older_than_max_age = Some(70);
        }
    }
    l.record = Some(recorded(&d));
    let p = plan(&d, &l, Options::default()).expect("plan");
    // `a`: 180 is within 100 + a macro-node of 100, and 70 old entries are fewer than 100.
    // `b`: its node's macro-node is 50, so both bounds are exceeded, by its node's clock.
    assert_eq!(p.changes.len(), 2, "{:#?}", p.changes);
    assert_eq!(
        commands(&p.changes[0]),
        vec![
            vec!["XTRIM", "ns:b", "MAXLEN", "~", "100"],
            vec![
                "XTRIM",
                "ns:b",
                "MINID",
                "~",
                &format!("{}-0", 2_000_000 - age)
            ],
        ]
    );
    assert!(p.changes[0].reason.contains("more than 50 entries older"));
    let Action::Update = p.changes[1].action else {
        panic!("the record: {:?}", p.changes[1]);
    };
    let record = p.changes[1].ops().iter().find_map(|op| match op {
        Op::WriteRecord { record, .. } => Some(record),
        _ => None,
    });
    assert_eq!(record.map(|r| r.applied_at_ms), Some(2_000_000));
}

#[test]
fn undeclared_streams_are_kept_without_prune_and_deleted_with_it() {
    let old = desired(&[
        ("tasks", maxlen(10), &[("workers", StartId::Last)]),
        ("gone", maxlen(10), &[]),
    ]);
    let new = desired(&[("tasks", maxlen(10), &[])]);
    let mut l = live(&[
        ("tasks", stream(5, &["workers"])),
        ("gone", stream(42, &[])),
    ]);
    l.record = Some(recorded(&old));

    let kept = plan(&new, &l, Options { prune: false }).expect("plan");
    assert!(kept.changes.iter().all(|c| c.action != Action::Delete));
    assert_eq!(kept.notes.len(), 2, "{:?}", kept.notes);
    assert!(
        kept.notes
            .iter()
            .any(|n| n.contains("`ns:gone` (42 entries) is no longer declared; kept"))
    );

    let pruned = plan(&new, &l, Options { prune: true }).expect("plan");
    let deletes: Vec<&Change> = pruned
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    assert_eq!(deletes.len(), 2);
    assert!(deletes.iter().all(|c| c.destructive));
    assert_eq!(commands(deletes[0]), [cmd(&["DEL", "ns:gone"])]);
    assert!(deletes[0].reason.contains("deletes 42 entries"));
    assert_eq!(
        commands(deletes[1]),
        [cmd(&["XGROUP", "DESTROY", "ns:tasks", "workers"])]
    );
}

/// Without `--prune`, what is no longer declared stays in the record beside what is: a kept
/// stream before, between and after declared ones, and a kept group beside a declared one.
#[test]
fn the_record_keeps_undeclared_streams_and_groups_beside_the_declared_ones() {
    let old = desired(&[
        ("b-gone", maxlen(10), &[]),
        ("d-tasks", maxlen(10), &[("workers", StartId::Last)]),
    ]);
    let new = desired(&[
        ("a-new", maxlen(10), &[]),
        ("c-new", maxlen(10), &[]),
        (
            "d-tasks",
            maxlen(10),
            &[("fresh", StartId::Id { ms: 0, seq: 0 })],
        ),
        ("e-new", maxlen(10), &[]),
    ]);
    let mut l = live(&[
        ("b-gone", stream(1, &[])),
        ("d-tasks", stream(5, &["workers"])),
    ]);
    l.record = Some(recorded(&old));
    let p = plan(&new, &l, Options { prune: false }).expect("plan");
    let record = p
        .changes
        .iter()
        .flat_map(|c| c.ops())
        .find_map(|op| match op {
            Op::WriteRecord { record, .. } => Some(record),
            _ => None,
        })
        .expect("the record is written");
    let streams: Vec<(&str, Vec<(&str, &str)>)> = record
        .streams
        .iter()
        .map(|(key, stream)| {
            let groups = stream
                .groups
                .iter()
                .map(|(name, group)| (name.as_str(), group.start.as_str()))
                .collect();
            (key.as_str(), groups)
        })
        .collect();
    assert_eq!(
        streams,
        [
            ("ns:a-new", vec![]),
            ("ns:b-gone", vec![]),
            ("ns:c-new", vec![]),
            ("ns:d-tasks", vec![("fresh", "0"), ("workers", "$")]),
            ("ns:e-new", vec![]),
        ]
    );
}

#[test]
fn unrecorded_live_streams_are_never_deleted() {
    let d = desired(&[]);
    let l = live(&[("foreign", stream(9, &["g"]))]);
    let p = plan(&d, &l, Options { prune: true }).expect("plan");
    assert!(
        p.changes.iter().all(|c| c.action != Action::Delete),
        "{:#?}",
        p.changes
    );
}

#[test]
fn empty_streams_never_means_delete_everything() {
    let old = desired(&[("a", maxlen(10), &[]), ("b", maxlen(10), &[])]);
    let mut l = live(&[("a", stream(1, &[])), ("b", stream(1, &[]))]);
    l.record = Some(recorded(&old));
    let p = plan(&desired(&[]), &l, Options { prune: false }).expect("plan");
    assert!(p.changes.iter().all(|c| c.action != Action::Delete));
}

#[test]
fn changed_start_is_a_note_not_a_recreate() {
    let created = desired(&[("s", maxlen(10), &[("g", StartId::Id { ms: 0, seq: 0 })])]);
    let changed = desired(&[("s", maxlen(10), &[("g", StartId::Last)])]);
    let mut l = live(&[("s", stream(1, &["g"]))]);
    l.record = Some(recorded(&created));
    let p = plan(&changed, &l, Options::default()).expect("plan");
    assert!(
        p.changes.iter().all(|c| c.kind != Kind::Group),
        "{:#?}",
        p.changes
    );
    assert_eq!(p.notes.len(), 1);
    assert!(p.notes[0].contains("created with start `0`"));
}

/// A record under its old name (`ns:__topology__:record`, as versions before the hash tag
/// wrote it) is the record: nothing else changes, and the record change moves it, writing the
/// new key and then deleting the old one.
#[test]
fn a_record_under_its_old_name_is_moved_and_nothing_else_changes() {
    let d = desired(&[("tasks", maxlen(10), &[("workers", StartId::Last)])]);
    let mut l = live(&[("tasks", stream(5, &["workers"]))]);
    l.record = Some(recorded(&d));
    l.record_under_old_name = true;
    let p = plan(&d, &l, Options::default()).expect("plan");
    assert_eq!(addresses(&p), [("record".to_owned(), Action::Update)]);
    let change = &p.changes[0];
    assert!(
        change.reason.ends_with(
            "moves the record from `ns:__topology__:record` to `{__topology__:ns}:record`"
        ),
        "{}",
        change.reason
    );
    let commands: Vec<String> = change
        .ops()
        .iter()
        .map(|o| o.shown_args().join(" "))
        .collect();
    assert_eq!(
        commands,
        [
            "SET {__topology__:ns}:record <record>",
            "DEL ns:__topology__:record"
        ]
    );
    // The serial moves on like any apply's, and the streams stay as recorded.
    let Some(Op::WriteRecord { record, .. }) = change.ops().first() else {
        panic!("the record is written first: {:?}", change.ops());
    };
    assert_eq!(record.serial, 2);
    assert_eq!(Some(&record.streams), l.record.as_ref().map(|r| &r.streams));
    // With other changes, the move rides along with the record change.
    let mut l = live(&[]);
    l.record = Some(recorded(&d));
    l.record_under_old_name = true;
    let p = plan(&d, &l, Options::default()).expect("plan");
    let ops = p
        .changes
        .last()
        .map(|c| c.ops().to_vec())
        .unwrap_or_default();
    assert!(
        matches!(ops.as_slice(), [Op::WriteRecord { .. }, Op::DeleteOldRecord { key }] if key == "ns:__topology__:record"),
        "{ops:?}"
    );
}

#[test]
fn adopting_existing_streams_updates_only_the_record() {
    let d = desired(&[("s", maxlen(10), &[("g", StartId::Last)])]);
    let l = live(&[("s", stream(1, &["g"]))]);
    let p = plan(&d, &l, Options::default()).expect("plan");
    assert_eq!(addresses(&p), [("record".to_owned(), Action::Create)]);
    assert!(p.changes[0].reason.contains("records 1 managed stream"));
}

#[test]
fn a_leftover_mkstream_helper_group_is_removed() {
    let d = desired(&[("s", maxlen(10), &[])]);
    let mut l = live(&[("s", stream(0, &[MKSTREAM_GROUP]))]);
    l.record = Some(recorded(&d));
    let p = plan(&d, &l, Options::default()).expect("plan");
    assert_eq!(p.changes.len(), 2, "the cleanup, then the record");
    assert_eq!(
        commands(&p.changes[0]),
        [cmd(&["XGROUP", "DESTROY", "ns:s", MKSTREAM_GROUP])]
    );
    assert!(!p.changes[0].destructive);
}

/// The renderers on one plan with every kind of change (snapshots in src/plan/snapshots/).
#[test]
fn rendered_plans() {
    use crate::render::plan::{PlanTarget, human, json};
    let old = desired(&[
        ("tasks", maxlen(10), &[("workers", StartId::Last)]),
        ("gone", maxlen(10), &[]),
    ]);
    let new = desired(&[
        (
            "tasks",
            DesiredRetention {
                maxlen: Some(10),
                max_age_ms: None,
                approximate: false,
            },
            &[
                ("workers", StartId::Last),
                ("audit", StartId::Id { ms: 0, seq: 0 }),
            ],
        ),
        ("fresh", maxlen(10), &[]),
    ]);
    let mut l = live(&[
        ("tasks", stream(25, &["workers"])),
        ("gone", stream(3, &[])),
    ]);
    l.record = Some(recorded(&old));
    let p = plan(&new, &l, Options { prune: true }).expect("plan");
    let target = PlanTarget {
        url: "redis://:***@cache:6379",
        namespace: "ns",
        environment: Some("prod"),
        deployment: None,
    };
    insta::assert_snapshot!("human", human(&p, &target, false));
    insta::assert_snapshot!("markdown", crate::render::markdown::plan(&p, &target, None));
    let mut value = json(&p, &target);
    // The record's JSON carries the tool version and is summarised elsewhere: keep it stable.
    if let Some(changes) = value["changes"].as_array_mut() {
        for change in changes.iter_mut().filter(|c| c["kind"] == "record") {
            change["commands"] =
                serde_json::json!([["SET", "{__topology__:ns}:record", "<record>"]]);
        }
    }
    insta::assert_json_snapshot!("json", value);
}

#[test]
fn a_new_group_cannot_start_past_the_end_of_the_stream() {
    let d = desired(&[(
        "s",
        maxlen(10),
        &[
            ("late", StartId::Id { ms: 9, seq: 0 }),
            ("ok", StartId::Id { ms: 5, seq: 0 }),
        ],
    )]);
    let mut l = live(&[("s", stream(3, &[]))]);
    if let Some(LiveKey::Stream(s)) = l.keys.get_mut("ns:s") {
        s.last_generated_id = Some(crate::live::StreamId { ms: 5, seq: 0 });
        s.entries_added = Some(3);
    }
    let refusals = plan(&d, &l, Options::default()).expect_err("refused");
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].to_string().contains(
        "group `late` of `ns:s` would start at 9-0, after the stream's last entry ID 5-0"
    ));
}

#[test]
fn an_evicting_policy_and_durable_streams_without_aof_are_noted_per_node() {
    let mut desired = desired(&[("orders", maxlen(100), &[])]);
    let mut state = live(&[]);
    state.nodes[0].address = "10.0.0.1:6379".to_owned();
    state.nodes[0].maxmemory_policy = Some("allkeys-lru".to_owned());
    state.nodes[0].appendonly = Some(false);
    let notes = plan(&desired, &state, Options::default())
        .expect("a plan")
        .notes;
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("10.0.0.1:6379 has maxmemory-policy allkeys-lru")),
        "{notes:?}"
    );
    assert!(
        !notes.iter().any(|n| n.contains("append-only")),
        "nothing is durable: {notes:?}"
    );
    desired.health.durable.push("ns:orders".to_owned());
    state.nodes[0].maxmemory_policy = Some("noeviction".to_owned());
    let notes = plan(&desired, &state, Options::default())
        .expect("a plan")
        .notes;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("declares durable: orders"), "{notes:?}");
    state.nodes[0].appendonly = None;
    let notes = plan(&desired, &state, Options::default())
        .expect("a plan")
        .notes;
    assert!(
        notes.is_empty(),
        "settings not read, nothing said: {notes:?}"
    );
}

/// Enough streams for a plan to be checked and made on two threads, each in one of seven
/// states: new; one group missing; a group whose declared start changed; over its maxlen; no
/// longer declared (recorded, live); converged (twice).
fn many_streams_in_every_state() -> (Desired, LiveState) {
    let count = SPLIT_FROM + 500;
    let names: Vec<String> = (0..count).map(|i| format!("s{i:05}")).collect();
    let groups: &[(&str, StartId)] = &[
        ("audit", StartId::Id { ms: 0, seq: 0 }),
        ("workers", StartId::Last),
    ];
    let changed: &[(&str, StartId)] = &[("audit", StartId::Last), ("workers", StartId::Last)];
    let declared: Vec<StreamSpec> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 != 4)
        .map(|(i, n)| {
            (
                n.as_str(),
                maxlen(10),
                if i % 7 == 2 { changed } else { groups },
            )
        })
        .collect();
    let recorded_as: Vec<StreamSpec> = names
        .iter()
        .map(|n| (n.as_str(), maxlen(10), groups))
        .collect();
    let keys: Vec<(&str, LiveKey)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match i % 7 {
            0 => None,
            1 => Some((n.as_str(), stream(3, &["workers"]))),
            3 => Some((n.as_str(), stream(5_000, &["audit", "workers"]))),
            _ => Some((n.as_str(), stream(3, &["audit", "workers"]))),
        })
        .collect();
    let mut live = live(&keys);
    live.record = Some(recorded(&desired(&recorded_as)));
    (desired(&declared), live)
}

/// The sections made on two threads and joined are the plan made on one, change for change
/// and note for note, with and without `--prune`.
#[test]
fn a_plan_made_on_two_threads_is_the_plan_made_on_one() {
    let (d, l) = many_streams_in_every_state();
    for options in [Options { prune: false }, Options { prune: true }] {
        let checked = check(&d, &l, options).expect("checked");
        assert!(
            on_two_threads(&checked.facts),
            "the plan must be large enough to split"
        );
        let split = checked.make_whole(true);
        let one = checked.make_whole(false);
        assert_eq!(split.changes, one.changes, "{options:?}");
        assert_eq!(split.notes, one.notes, "{options:?}");
        assert_eq!(split.made, one.made);
        // Every section has its share, so that a section dropped or repeated shows.
        let count = |kind: Kind, action: Action| {
            split
                .changes
                .iter()
                .filter(|c| c.kind == kind && c.action == action)
                .count()
        };
        let every = SPLIT_FROM + 500;
        assert_eq!(count(Kind::Stream, Action::Create), every.div_ceil(7));
        assert!(count(Kind::Group, Action::Create) > every / 7);
        assert!(split.changes.iter().any(|c| c.kind == Kind::Retention));
        assert!(
            split
                .notes
                .iter()
                .any(|n| n.contains("created with start `0`"))
        );
        assert_eq!(count(Kind::Stream, Action::Delete) > 0, options.prune);
        assert!(split.changes.last().is_some_and(|c| c.kind == Kind::Record));
    }
}

/// With a large record, its entries are checked beside the streams: the refusals are those of
/// one thread, in the same order (the record's before the streams').
#[test]
fn a_large_records_refusals_come_in_order_beside_the_streams() {
    let (d, mut l) = many_streams_in_every_state();
    let first = d.streams.keys().next().cloned().expect("a stream");
    l.keys
        .insert(first.clone(), LiveKey::WrongType("string".to_owned()));
    if let Some(record) = l.record.as_mut() {
        record
            .streams
            .insert("elsewhere:s".into(), RecordedStream::default());
    }
    let refusals = plan(&d, &l, Options::default()).expect_err("refused");
    let shown: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    assert_eq!(refusals.len(), 2, "{shown:#?}");
    assert!(matches!(refusals[0], Refusal::Record { .. }), "{shown:#?}");
    assert!(shown[0].contains("elsewhere:s"), "{shown:#?}");
    assert!(matches!(&refusals[1], Refusal::WrongType { key, .. } if *key == first));
}

/// The two threads' helper runs each side once, and a panic on the second thread is not
/// taken for a result.
#[test]
fn both_runs_each_side_once_and_passes_a_panic_on() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = AtomicUsize::new(0);
    let (a, b) = both(
        || {
            runs.fetch_add(1, Ordering::SeqCst);
            1
        },
        || 2,
    );
    assert_eq!((a, b, runs.load(Ordering::SeqCst)), (1, 2, 1));
    let panicked =
        std::panic::catch_unwind(|| both(|| -> u8 { panic!("on the second thread") }, || 0));
    assert!(panicked.is_err());
}
