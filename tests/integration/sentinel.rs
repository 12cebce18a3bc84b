//! Redis Sentinel (issue 15): the primary found through the sentinels (`--sentinel`,
//! `--master-name`), every data node managed, and no write to a primary that a failover
//! replaced. Real servers and sentinels, started by `super::deployments`.

use std::fmt::Write as _;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use super::deployments::{Nodes, Options, ReplicatedPrimary, SentinelSet};
use super::many_nodes::{PASSWORD, TOPOLOGY, logs_in};
use super::redis::ADMIN;
use super::util::{bin, text, topology_file};

const SENTINEL_PASSWORD: &str = "sentinel-pw-7";

/// The data nodes' credentials as the tool is given them with --sentinel: the admin user,
/// at a host that is not used.
fn data_url() -> String {
    format!("redis://{}:{}@sentinel-managed", ADMIN.0, ADMIN.1)
}

/// `redis-topology ARGS FILE --sentinel SENTINELS --master-name NAME`, with no
/// credentials from the environment.
fn via_sentinels(
    set: &SentinelSet,
    sentinels: &str,
    file: &tempfile::NamedTempFile,
    args: &[&str],
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_redis-topology"));
    command
        .args(args)
        .arg(file.path())
        .args(["--sentinel", sentinels, "--master-name", set.master_name()])
        .env("NO_COLOR", "1")
        .env("WORKER_PASSWORD", PASSWORD)
        .env_remove("REDIS_URL")
        .env_remove("REDIS_SENTINEL_URL");
    command
}

/// [`via_sentinels`], the data nodes' credentials in $REDIS_URL and the sentinels' in
/// $REDIS_SENTINEL_URL.
fn through_sentinels(
    set: &SentinelSet,
    sentinels: &str,
    sentinel_url: &str,
    file: &tempfile::NamedTempFile,
    args: &[&str],
) -> Output {
    via_sentinels(set, sentinels, file, args)
        .env("REDIS_URL", data_url())
        .env("REDIS_SENTINEL_URL", sentinel_url)
        .output()
        .expect("run redis-topology")
}

fn exists(nodes: &Nodes, port: u16, key: &str) -> bool {
    nodes.cmd_on::<i64>(port, &["EXISTS", key]) == 1
}

/// Plan and apply through the sentinels (the first named does not answer: skipped with a
/// warning), on the primary and its replica; after a failover the next apply goes to the
/// new primary. Sentinels that refuse the password, or that all are down, stop the command
/// before anything is written, naming each. No password is ever printed.
#[test]
fn plan_and_apply_go_through_the_sentinels_and_follow_a_failover() {
    let options = Options::default()
        .admin()
        .sentinel_password(SENTINEL_PASSWORD);
    let set = SentinelSet::start_with(&options);
    let primary = set.current_primary();
    let replica = set
        .data_nodes()
        .into_iter()
        .map(|n| n.port)
        .find(|p| *p != primary)
        .expect("a replica");
    // Port 1: nothing listens there.
    let sentinels = format!("127.0.0.1:1,{}", set.sentinel_addresses().join(","));
    let sentinel_url = format!("redis://:{SENTINEL_PASSWORD}@sentinels");
    let file = topology_file(TOPOLOGY);
    let run = |file: &tempfile::NamedTempFile, args: &[&str]| {
        through_sentinels(&set, &sentinels, &sentinel_url, file, args)
    };

    let out = run(&file, &["plan", "--detailed-exitcode"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains(&format!(
            "Planned changes on redis://test-admin:***@127.0.0.1:{primary} (namespace `app`):\nDeployment: Sentinel master `topology-test`: primary 127.0.0.1:{primary} with replica 127.0.0.1:{replica}\n"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("warning: Sentinel 127.0.0.1:1: cannot connect"),
        "the sentinel that did not answer is named: {shown}"
    );

    let out = run(&file, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for port in [primary, replica] {
        assert!(
            logs_in(port, "worker", PASSWORD),
            "worker on 127.0.0.1:{port}"
        );
    }
    let out = run(&file, &["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    assert_eq!(
        plan["target"]["deployment"],
        serde_json::json!({
            "kind": "sentinel",
            "primaries": [format!("127.0.0.1:{primary}")],
            "replicas": [format!("127.0.0.1:{replica}")],
            "master_name": "topology-test",
        })
    );

    // After a failover, the sentinels name the replica: the next apply writes there.
    let new = set.failover();
    assert_eq!(new, replica);
    let grown = topology_file(
        &TOPOLOGY.replace("acl:\n", "  extra:\n    retention: { maxlen: 10 }\nacl:\n"),
    );
    let out = run(&grown, &["apply", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains(&format!("primary 127.0.0.1:{new}")),
        "the new primary: {shown}"
    );
    assert!(exists(&set, new, "app:extra"), "written on the new primary");
    let out = run(&grown, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));

    // check-messages samples through the sentinels too: the new primary's entries.
    set.cmd_on::<String>(new, &["XADD", "app:extra", "*", "service", "rag"]);
    let bad: String = set.cmd_on(new, &["XADD", "app:extra", "*", "host", "h1"]);
    let checked = topology_file(&format!(
        "{}schemas:\n  heartbeat:\n    encoding: fields\n    versions:\n      1:\n        schema: {{ type: object, required: [service], properties: {{ service: {{ type: string }} }} }}\n",
        TOPOLOGY.replace(
            "acl:\n",
            "  extra:\n    retention: { maxlen: 10 }\n    schema: heartbeat\nacl:\n"
        )
    ));
    let out = run(&checked, &["check-messages", "--sample", "5"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!(
            "extra {bad} (v1) at /: \"service\" is a required property"
        )),
        "{shown}"
    );
    assert!(shown.contains("Checked 2 messages: 1 invalid"), "{shown}");

    // The sentinels' user of docs/operations.md needs one command.
    for port in set.sentinel_ports() {
        set.cmd_on::<()>(
            port,
            &[
                "ACL",
                "SETUSER",
                "topology-sentinel",
                "on",
                ">watcher-pw",
                "-@all",
                "+sentinel|get-master-addr-by-name",
            ],
        );
    }
    let out = through_sentinels(
        &set,
        &sentinels,
        "redis://topology-sentinel:watcher-pw@sentinels",
        &grown,
        &["plan", "--detailed-exitcode"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Sentinels that refuse the password: each is named, with why.
    let wrong = through_sentinels(
        &set,
        &sentinels,
        "redis://:not-the-pw-42@sentinels",
        &grown,
        &["plan"],
    );
    let shown = text(&wrong);
    assert_eq!(wrong.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("no Sentinel answered with the primary of master `topology-test`"),
        "{shown}"
    );
    for address in set.sentinel_addresses() {
        assert!(
            shown.contains(&format!("{address}: authentication failed")),
            "{shown}"
        );
    }

    // Every sentinel down: nothing is written anywhere.
    for port in set.sentinel_ports() {
        set.kill(port);
    }
    let never = topology_file(
        &TOPOLOGY.replace("acl:\n", "  never:\n    retention: { maxlen: 10 }\nacl:\n"),
    );
    let out = run(&never, &["apply", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("127.0.0.1:1: cannot connect"), "{shown}");
    for address in set.sentinel_addresses() {
        assert!(
            shown.contains(&format!("{address}: cannot connect")),
            "{shown}"
        );
    }
    assert!(shown.contains("nothing was read or written"), "{shown}");
    for port in [primary, replica] {
        assert!(
            !exists(&set, port, "app:never"),
            "nothing on 127.0.0.1:{port}"
        );
    }
    for secret in [ADMIN.1, SENTINEL_PASSWORD, "not-the-pw-42"] {
        for out in [&out, &wrong] {
            assert!(!text(out).contains(secret), "{}", text(out));
        }
    }
}

/// `--sentinel` and `--master-name` go together, and each is checked: exit 1, nothing sent.
#[test]
fn the_sentinel_flags_are_checked() {
    let file = topology_file(TOPOLOGY);
    let file = file.path().to_str().expect("UTF-8 path");
    for (args, expected) in [
        (
            vec!["plan", file, "--sentinel", "127.0.0.1:26379"],
            "--master-name",
        ),
        (vec!["plan", file, "--master-name", "m"], "--sentinel"),
        (
            vec![
                "apply",
                file,
                "--sentinel",
                "127.0.0.1",
                "--master-name",
                "m",
            ],
            "not HOST:PORT",
        ),
        (
            vec!["plan", file, "--sentinel", "h:1,h:0", "--master-name", "m"],
            "not a port",
        ),
        (
            vec![
                "plan",
                file,
                "--sentinel",
                "h:1",
                "--master-name",
                "my master",
            ],
            "no spaces",
        ),
        (
            vec![
                "check-messages",
                file,
                "--file",
                "m.jsonl",
                "--stream",
                "tasks",
                "--sentinel",
                "h:1",
                "--master-name",
                "m",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "plan",
                file,
                "--url",
                "unix:///tmp/no.sock",
                "--sentinel",
                "127.0.0.1:1",
                "--master-name",
                "m",
            ],
            "not a Unix socket",
        ),
    ] {
        let out = bin()
            .args(&args)
            .env("WORKER_PASSWORD", PASSWORD)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
}

/// Commands that write, counted by `INFO commandstats` (guarded transactions, the record's
/// script's `SET` and `HSET`, and every write a plan makes). The lock's renewals (`GET`,
/// `PEXPIRE` in a script) are not: the lock is not the data.
const WRITES: &[&str] = &[
    "exec",
    "set",
    "hset",
    "del",
    "xadd",
    "xtrim",
    "xgroup|create",
    "xgroup|destroy",
    "acl|setuser",
    "acl|deluser",
];

fn writes(nodes: &Nodes, port: u16) -> u64 {
    let info: String = nodes.cmd_on(port, &["INFO", "commandstats"]);
    info.lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| {
            let (name, stats) = line.split_once(':')?;
            WRITES.contains(&name).then_some(stats)
        })
        .filter_map(|stats| {
            stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// A topology of `streams` streams, each with a group, and the worker user.
fn large_topology(streams: usize) -> String {
    let mut topology = String::from("version: 1\nnamespace: big\nstreams:\n");
    for i in 0..streams {
        let _ = writeln!(
            topology,
            "  s{i}:\n    retention: unbounded\n    groups: {{ a: {{}} }}"
        );
    }
    topology.push_str(
        "acl:\n  users:\n    worker:\n      passwords: [{ env: WORKER_PASSWORD }]\n      keys:\n        read: [\"s0\"]\n      commands: [\"+ping\"]\n",
    );
    topology
}

#[allow(unsafe_code)] // kill(2): no safe way to stop and continue the child
fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits in pid_t");
    // SAFETY: kill(2) with a child's pid and a standard signal number has no memory effects.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "signal {signal} delivered");
}

/// What happened to an apply that a failover interrupted: its output, and the old
/// primary's writes (see [`writes`]) when the switch was done and when the apply ended.
struct Interrupted {
    out: Output,
    at_switch: u64,
    at_end: u64,
}

/// Run `apply` (spawned by `command`) until its first batch is on `old`, then hold it at a
/// known point: `CLIENT PAUSE WRITE` on `old` holds its batches, and once it waits for their
/// replies it is stopped (SIGSTOP), the pause lifted (the held batches, sent before the
/// switch, run now), and `switch` makes another node the primary. Then the apply goes on
/// (SIGCONT): its next step is to ask for the roles before another batch.
fn interrupt_apply(
    nodes: &Nodes,
    old: u16,
    mut command: std::process::Command,
    switch: impl FnOnce(),
) -> Interrupted {
    let mut child = command
        .env("NO_COLOR", "1")
        // The plan is megabytes: a pipe nobody reads until the end would hold the apply.
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn apply");
    let deadline = Instant::now() + Duration::from_secs(120);
    while nodes.cmd_on::<i64>(old, &["DBSIZE"]) < 1000 {
        if child.try_wait().expect("the apply's status").is_some() {
            let out = child.wait_with_output().expect("the apply's output");
            panic!("the apply ended before its first batch: {}", text(&out));
        }
        assert!(
            Instant::now() < deadline,
            "the apply never wrote its first batch"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    nodes.cmd_on::<()>(old, &["CLIENT", "PAUSE", "30000", "WRITE"]);
    // Time for the apply to send what it may and wait for replies that do not come.
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, libc::SIGSTOP);
    nodes.cmd_on::<()>(old, &["CLIENT", "UNPAUSE"]);
    std::thread::sleep(Duration::from_millis(500));
    let before_switch = writes(nodes, old);
    switch();
    let at_switch = writes(nodes, old);
    assert_eq!(
        before_switch, at_switch,
        "nothing ran while the apply was stopped"
    );
    signal(&child, libc::SIGCONT);
    let out = child.wait_with_output().expect("wait for apply");
    Interrupted {
        out,
        at_switch,
        at_end: writes(nodes, old),
    }
}

/// A Sentinel failover in the middle of an apply: the apply stops before its next batch,
/// naming the promoted node; the old primary, which still says it is the primary (for
/// about 10 s), gets no write after the switch; the next apply, through the sentinels,
/// completes the work on the new primary.
#[test]
fn a_failover_in_the_middle_of_an_apply_stops_it_before_the_old_primary_takes_a_write() {
    let set = SentinelSet::start();
    let old = set.current_primary();
    let file = topology_file(&large_topology(12_000));
    let sentinels = set.sentinel_addresses().join(",");
    let mut command = via_sentinels(&set, &sentinels, &file, &["apply", "--yes"]);
    // A lease of 5 s: the stopped apply's lock, copied to the new primary, expires soon
    // after (unless the next apply takes it over at once).
    command.env("REDIS_TOPOLOGY_LOCK_LEASE_MS", "5000");
    let mut new = 0;
    let interrupted = interrupt_apply(&set, old, command, || new = set.failover());
    let shown = text(&interrupted.out);
    assert_eq!(interrupted.out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!(
            "error: apply stopped: a failover happened: 127.0.0.1:{new}, a replica when the command started, now says it is a primary"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("it asks the sentinels for the new primary"),
        "{shown}"
    );
    assert!(
        !shown.contains("could not release the apply lock"),
        "the lock is not released on the old primary: {shown}"
    );
    assert_eq!(
        interrupted.at_end, interrupted.at_switch,
        "no write reached the old primary 127.0.0.1:{old} after the switch"
    );
    let still: String = set.cmd_on(old, &["INFO", "replication"]);
    assert!(
        still.contains("role:master"),
        "the old primary still takes writes, which is why none may go there: {still}"
    );

    let run = |args: &[&str]| {
        via_sentinels(&set, &sentinels, &file, args)
            .output()
            .expect("run redis-topology")
    };
    let out = run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("primary 127.0.0.1:{new}")),
        "{}",
        text(&out)
    );
    let out = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
    assert_eq!(set.cmd_on::<i64>(new, &["EXISTS", "big:s11999"]), 1);
}

/// Without sentinels, a replica promoted by hand (`REPLICAOF NO ONE`) in the middle of an
/// apply stops it the same way: the old primary, still a primary, gets no write after.
#[test]
fn a_replica_promoted_in_the_middle_of_an_apply_stops_it() {
    let nodes = ReplicatedPrimary::start(1);
    let (old, replica) = (nodes.primary(), nodes.replica_ports()[0]);
    let file = topology_file(&large_topology(12_000));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_redis-topology"));
    command
        .args(["apply", "--yes"])
        .arg(file.path())
        .args(["--url", &nodes.url()])
        .env("WORKER_PASSWORD", PASSWORD)
        .env("REDIS_TOPOLOGY_LOCK_LEASE_MS", "5000");
    let interrupted = interrupt_apply(&nodes, old, command, || {
        nodes.cmd_on::<()>(replica, &["REPLICAOF", "NO", "ONE"]);
    });
    let shown = text(&interrupted.out);
    assert_eq!(interrupted.out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!(
            "a failover happened: 127.0.0.1:{replica}, a replica when the command started, now says it is a primary"
        )),
        "{shown}"
    );
    assert!(shown.contains("with the new primary's URL"), "{shown}");
    assert_eq!(
        interrupted.at_end, interrupted.at_switch,
        "no write reached the old primary after the switch"
    );
    // The new primary's URL: the work is completed there.
    let out = bin()
        .args(["apply", "--yes"])
        .arg(file.path())
        .args(["--url", &nodes.url_of(replica)])
        .env("WORKER_PASSWORD", PASSWORD)
        .output()
        .expect("run apply");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(nodes.cmd_on::<i64>(replica, &["EXISTS", "big:s11999"]), 1);
}
