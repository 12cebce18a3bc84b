use super::*;
use crate::live::StreamId;
use crate::model::desired::{Desired, DesiredRetention, DesiredStream};
use crate::model::health::{HealthRules, StreamRules};
use crate::status::{
    ConsumerReading, GroupReading, KeyState, NodeReading, Readings, StreamReading,
};

const NOW: u64 = 1_700_000_600_000;

fn id(ms: u64) -> StreamId {
    StreamId { ms, seq: 0 }
}

fn levels(warning: Option<u64>, critical: Option<u64>) -> Levels {
    Levels {
        warning,
        critical,
        within_ms: None,
    }
}

/// A desired state with one stream `app:tasks` (maxlen 100, group `workers`), `app:dlq`
/// (the dead-letter stream of tasks), and `top` as the top-level thresholds.
fn desired(top: Vec<(Figure, Levels)>) -> Desired {
    let stream = |name: &str, maxlen| DesiredStream {
        name: name.into(),
        retention: DesiredRetention {
            maxlen,
            max_age_ms: None,
            approximate: true,
        },
        groups: Default::default(),
        schema: None,
        producers: Vec::new(),
    };
    let mut health = HealthRules {
        top,
        ..HealthRules::default()
    };
    health.streams.insert(
        "app:dlq".to_owned(),
        StreamRules {
            dlq_of: Some("app:tasks".to_owned()),
            ..StreamRules::default()
        },
    );
    Desired {
        namespace: "app".to_owned(),
        environment: None,
        streams: [
            ("app:tasks".to_owned(), stream("tasks", Some(100))),
            ("app:dlq".to_owned(), stream("dlq", None)),
        ]
        .into_iter()
        .collect(),
        digest: Default::default(),
        users: Default::default(),
        health,
    }
}

fn stream(name: &str, length: u64, groups: Vec<GroupReading>) -> StreamReading {
    StreamReading {
        name: name.into(),
        key: format!("app:{name}").into(),
        state: KeyState::Stream,
        length,
        first_id: Some(id(NOW - 60_000)),
        newest_id: None,
        now_ms: NOW,
        groups,
    }
}

fn streams_only(streams: Vec<StreamReading>) -> Readings {
    Readings {
        nodes: Vec::new(),
        streams,
        heartbeats: Vec::new(),
    }
}

fn group(lag: Option<u64>) -> GroupReading {
    GroupReading {
        name: "workers".into(),
        exists: true,
        lag,
        ..GroupReading::default()
    }
}

fn row<'r>(report: &'r Report, stream: &str, group: Option<&str>) -> &'r Row {
    report
        .rows()
        .find(|r| r.stream == stream && r.group.as_deref() == group)
        .expect("the row")
}

fn figure(row: &Row, name: &str) -> Value {
    row.figures
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
        .expect("the figure")
}

#[test]
fn each_level_fires_past_its_threshold_and_not_at_it() {
    let desired = desired(vec![(Figure::Lag, levels(Some(10), Some(100)))]);
    for (lag, expected) in [
        (0, Level::Ok),
        (10, Level::Ok),
        (11, Level::Warning),
        (100, Level::Warning),
        (101, Level::Critical),
    ] {
        let report = evaluate(
            &desired,
            &streams_only(vec![stream("tasks", 5, vec![group(Some(lag))])]),
        );
        let workers = row(&report, "tasks", Some("workers"));
        assert_eq!(workers.level, expected, "lag {lag}: {workers:?}");
        assert_eq!(report.worst().exit_code(), expected.exit_code());
    }
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![group(Some(101))])]),
    );
    let finding = &row(&report, "tasks", Some("workers")).findings[0];
    assert_eq!(finding.text, "lag 101 > critical 100");
    assert_eq!(report.worst().exit_code(), 3);
}

#[test]
fn an_unknown_lag_is_unknown_not_zero_and_the_age_still_counts() {
    let desired = desired(vec![
        (Figure::Lag, levels(Some(10), None)),
        (Figure::LagAge, levels(Some(60_000), Some(600_000))),
    ]);
    let mut behind = group(None);
    behind.next_undelivered = Some(Some(id(NOW - 120_000)));
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![behind])]),
    );
    let workers = row(&report, "tasks", Some("workers"));
    assert!(matches!(figure(workers, "lag"), Value::Unknown(_)));
    assert_eq!(figure(workers, "lag_age"), Value::Ms(120_000));
    assert_eq!(workers.level, Level::Warning, "{workers:?}");
    assert!(
        workers
            .findings
            .iter()
            .any(|f| f.level == Level::Unknown && f.check == "lag"),
        "{workers:?}"
    );
    // Nothing after the last delivered entry: the lag is 0 whatever Redis counts.
    let mut caught_up = group(None);
    caught_up.next_undelivered = Some(None);
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![caught_up])]),
    );
    let workers = row(&report, "tasks", Some("workers"));
    assert_eq!(figure(workers, "lag"), Value::Count(0));
    assert_eq!(workers.level, Level::Ok);
    // Unknown alone does not change the exit code.
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![group(None)])]),
    );
    assert_eq!(report.worst(), Level::Unknown);
    assert_eq!(report.worst().exit_code(), 0);
}

#[test]
fn fewer_active_consumers_than_wanted_is_the_breach() {
    let mut active = levels(Some(2), Some(1));
    active.within_ms = Some(60_000);
    let desired = desired(vec![(Figure::ActiveConsumers, active)]);
    let consumer = |name: &str, unseen_ms| ConsumerReading {
        name: name.into(),
        pending: 0,
        unseen_ms,
    };
    let mut workers = group(Some(0));
    workers.consumers = vec![
        consumer("a", Some(1_000)),
        consumer("b", Some(3_600_000)),
        consumer("never-read", None),
    ];
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![workers.clone()])]),
    );
    let row_ = row(&report, "tasks", Some("workers"));
    assert_eq!(
        figure(row_, "active_consumers"),
        Value::Active {
            active: 1,
            of: 3,
            within_ms: 60_000
        }
    );
    assert_eq!(row_.level, Level::Warning, "{row_:?}");
    workers.consumers.remove(0);
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![workers])]),
    );
    assert_eq!(
        row(&report, "tasks", Some("workers")).level,
        Level::Critical
    );
}

#[test]
fn pending_entries_older_than_the_first_entry_are_critical_without_a_threshold() {
    let desired = desired(Vec::new());
    let mut trimmed = group(Some(0));
    trimmed.pending = 5;
    trimmed.oldest_pending = Some(id(NOW - 3_600_000));
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![trimmed.clone()])]),
    );
    let workers = row(&report, "tasks", Some("workers"));
    assert_eq!(workers.level, Level::Critical);
    assert_eq!(workers.findings[0].check, "pending_trimmed");
    // The same pending entries, still in the stream: fine.
    trimmed.oldest_pending = Some(id(NOW - 30_000));
    let report = evaluate(
        &desired,
        &streams_only(vec![stream("tasks", 5, vec![trimmed])]),
    );
    assert_eq!(row(&report, "tasks", Some("workers")).level, Level::Ok);
}

#[test]
fn dlq_length_applies_to_dead_letter_streams_only_and_over_retention_to_maxlen() {
    let desired = desired(vec![
        (Figure::DlqLength, levels(Some(0), Some(100))),
        (Figure::OverRetention, levels(Some(120), Some(200))),
    ]);
    let report = evaluate(
        &desired,
        &streams_only(vec![
            stream("dlq", 3, Vec::new()),
            stream("tasks", 150, Vec::new()),
        ]),
    );
    let dlq = row(&report, "dlq", None);
    assert_eq!(dlq.level, Level::Warning, "{dlq:?}");
    assert_eq!(dlq.findings[0].text, "dlq_length 3 > warning 0");
    let tasks = row(&report, "tasks", None);
    assert_eq!(figure(tasks, "over_retention"), Value::Percent(150));
    assert_eq!(tasks.level, Level::Warning);
    assert!(
        tasks.figures.iter().all(|(n, _)| *n != "dlq_length"),
        "not a dead-letter stream: {tasks:?}"
    );
    assert_eq!(
        report.rows().next().map(|r| r.level),
        Some(Level::Warning),
        "worst first"
    );
}

#[test]
fn missing_streams_and_groups_are_critical() {
    let desired = desired(Vec::new());
    let mut missing = stream("tasks", 0, Vec::new());
    missing.state = KeyState::Missing;
    let mut gone = group(None);
    gone.exists = false;
    let report = evaluate(
        &desired,
        &streams_only(vec![missing, stream("dlq", 0, vec![gone])]),
    );
    assert_eq!(row(&report, "tasks", None).level, Level::Critical);
    assert_eq!(row(&report, "dlq", Some("workers")).level, Level::Critical);
    assert_eq!(report.count(Level::Critical), 2);
    assert_eq!(report.worst().exit_code(), 3);
}

#[test]
fn durations_read_as_people_write_them() {
    assert_eq!(duration_text(250), "250ms");
    assert_eq!(duration_text(42_000), "42s");
    assert_eq!(duration_text(185_000), "3m05s");
    assert_eq!(duration_text(7_620_000), "2h07m");
    assert_eq!(duration_text(273_600_000), "3d04h");
    assert_eq!(duration_text(60_000), "1m");
    assert_eq!(duration_text(7_200_000), "2h");
}

fn server(policy: &str, appendonly: bool, used: u64, max: u64) -> NodeReading {
    NodeReading {
        address: "10.0.0.1:6379".to_owned(),
        used_memory: Some(used),
        maxmemory: Some(max),
        maxmemory_policy: Some(policy.to_owned()),
        appendonly: Some(appendonly),
        unreadable: None,
    }
}

fn server_row(report: &Report) -> &Row {
    report
        .rows()
        .find(|r| r.server.is_some())
        .expect("the server's row")
}

#[test]
fn an_evicting_policy_and_durable_streams_without_aof_are_critical() {
    let mut desired = desired(vec![(Figure::Memory, levels(Some(80), Some(95)))]);
    let readings = |node| Readings {
        nodes: vec![node],
        streams: Vec::new(),
        heartbeats: Vec::new(),
    };
    let report = evaluate(&desired, &readings(server("noeviction", false, 10, 100)));
    assert_eq!(server_row(&report).level, Level::Ok, "{report:?}");
    let report = evaluate(&desired, &readings(server("allkeys-lru", true, 10, 100)));
    let row = server_row(&report);
    assert_eq!(row.level, Level::Critical);
    assert_eq!(row.findings[0].check, "eviction");
    assert_eq!(
        evaluate(&desired, &readings(server("volatile-lru", true, 10, 100))).worst(),
        Level::Ok,
        "volatile-* evicts only keys with a TTL"
    );
    desired.health.durable.push("app:tasks".to_owned());
    let report = evaluate(&desired, &readings(server("noeviction", false, 10, 100)));
    let row = server_row(&report);
    assert_eq!(row.findings[0].check, "durability");
    assert!(row.findings[0].text.contains("tasks"), "{row:?}");
    assert_eq!(
        evaluate(&desired, &readings(server("noeviction", true, 10, 100))).worst(),
        Level::Ok
    );
    // Memory against maxmemory; none when there is no maxmemory.
    let report = evaluate(&desired, &readings(server("noeviction", true, 90, 100)));
    assert_eq!(server_row(&report).level, Level::Warning);
    assert_eq!(figure(server_row(&report), "memory"), Value::Percent(90));
    let report = evaluate(&desired, &readings(server("noeviction", true, 99, 100)));
    assert_eq!(server_row(&report).level, Level::Critical);
    let report = evaluate(&desired, &readings(server("noeviction", true, 99, 0)));
    assert_eq!(server_row(&report).level, Level::Ok);
    // Settings that could not be read: unknown, said.
    let mut hidden = server("noeviction", true, 1, 100);
    hidden.maxmemory_policy = None;
    hidden.appendonly = None;
    hidden.unreadable = Some("`CONFIG GET` answered the error NOPERM".to_owned());
    let report = evaluate(&desired, &readings(hidden));
    assert_eq!(server_row(&report).level, Level::Unknown);
}

#[test]
fn sizes_read_as_people_write_them() {
    assert_eq!(bytes_text(512), "512 B");
    assert_eq!(bytes_text(1536), "1.5 KiB");
    assert_eq!(bytes_text(3 * 1024 * 1024), "3.0 MiB");
}

#[test]
fn fewer_live_heartbeat_instances_than_wanted_is_the_breach() {
    let mut desired = desired(Vec::new());
    desired
        .health
        .heartbeats
        .push(crate::model::health::HeartbeatRule {
            name: "rag-worker".to_owned(),
            pattern: "app:ops:hb:rag-worker:*".to_owned(),
            instances: Some(levels(Some(2), Some(1))),
        });
    let level_with = |instances| {
        let readings = Readings {
            heartbeats: vec![HeartbeatReading {
                name: "rag-worker".to_owned(),
                instances,
            }],
            ..Readings::default()
        };
        let report = evaluate(&desired, &readings);
        let row = report
            .rows()
            .find(|r| r.heartbeat.is_some())
            .expect("the heartbeat's row")
            .clone();
        (row.level, row.findings.first().map(|f| f.text.clone()))
    };
    assert_eq!(level_with(3).0, Level::Ok);
    assert_eq!(level_with(2).0, Level::Ok);
    assert_eq!(
        level_with(1),
        (Level::Warning, Some("instances 1 < warning 2".to_owned()))
    );
    assert_eq!(level_with(0).0, Level::Critical);
}

#[test]
fn a_stream_gone_quiet_breaks_newest_age_and_an_empty_one_its_worst_level() {
    let desired = desired(vec![(
        Figure::NewestAge,
        levels(Some(60_000), Some(600_000)),
    )]);
    let with_newest = |newest| {
        let mut tasks = stream("tasks", 5, Vec::new());
        tasks.newest_id = Some(newest);
        let report = evaluate(&desired, &streams_only(vec![tasks]));
        row(&report, "tasks", None).clone()
    };
    assert_eq!(with_newest(Some(id(NOW - 1_000))).level, Level::Ok);
    let quiet = with_newest(Some(id(NOW - 120_000)));
    assert_eq!(quiet.level, Level::Warning);
    assert_eq!(quiet.findings[0].text, "newest_age 2m > warning 1m");
    assert_eq!(
        with_newest(Some(id(NOW - 3_600_000))).level,
        Level::Critical
    );
    assert_eq!(with_newest(None).level, Level::Critical, "empty");
}

proptest::proptest! {
    /// A report's rows come out as a stable sort by level, worst first, of the rows in
    /// their own order would put them.
    #[test]
    fn rows_in_report_order_are_a_stable_sort_by_level(levels in proptest::collection::vec(0u8..4, 0..200)) {
        let level = |n: u8| match n {
            0 => Level::Ok,
            1 => Level::Unknown,
            2 => Level::Warning,
            _ => Level::Critical,
        };
        let mut rows: Vec<Row> = levels
            .iter()
            .enumerate()
            .map(|(at, &n)| Row {
                key: CompactString::new(at.to_string()),
                level: level(n),
                ..Row::default()
            })
            .collect();
        let mut sorted = rows.clone();
        sorted.sort_by_key(|row| std::cmp::Reverse(row.level));
        // Their own order, given backwards, then undone by the places.
        rows.reverse();
        let count = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        let places: Vec<RowPlace> = (0..count).rev().map(|at| (2, at, 0)).collect();
        let order = report_order(&rows, &places);
        let report = Report { rows, order };
        proptest::prop_assert_eq!(report.rows().cloned().collect::<Vec<_>>(), sorted);
    }
}
