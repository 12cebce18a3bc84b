//! Benchmark: plan and apply of 10,000 streams with 2 groups each and retention, against
//! fresh local redis-servers, beside `redis-cli --pipe` sending the same commands.
//!
//! Run with `cargo bench --bench apply` (`-- standalone`, `-- cluster` or `-- slow-link` for
//! one section; needs `redis-server`, `redis-cli` and `python3`, which starts the tool to
//! measure its memory). Reports, in one run: apply from empty, a no-op plan, a no-op apply, and as the reference the same
//! XGROUP CREATE commands plus the reads a plan needs, and the reads alone, piped by
//! redis-cli. Also the peak memory (max RSS) of each redis-topology run.
//! Goals: apply from empty within 1.5x of (writes + reads) by redis-cli --pipe; no-op plan
//! within 1.5x of the reads; peak memory under 100 MB. Then the same on a Redis Cluster of
//! three primaries, against three `redis-cli --pipe` at once, one per primary, each with the
//! commands of the keys it serves (same goals). Then one server behind a link with 1 ms of
//! latency each way, the reference through the same link (goal: within 1.5x).

// A benchmark reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{Server, SlowLink, median, ms, paired, pipe, pipe_to, run_tool, run_tool_at};

const STREAMS: usize = 10_000;
const RUNS: usize = 9;

/// A port whose cluster bus port (`port + 10000`) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// The slot ranges of the 3-primary cluster, in node order.
const RANGES: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// A Redis Cluster of three primaries, each serving a third of the slots.
fn start_cluster() -> Vec<Server> {
    let nodes: Vec<Server> = (0..3)
        .map(|_| {
            Server::start_on(
                cluster_port(),
                &["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
            )
        })
        .collect();
    let cli = |port: u16, args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (node, (first, last)) in nodes.iter().zip(RANGES) {
        cli(
            node.port,
            &[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ],
        );
    }
    for node in &nodes[1..] {
        cli(
            nodes[0].port,
            &["CLUSTER", "MEET", "127.0.0.1", &node.port.to_string()],
        );
    }
    let ok = |node: &Server| cli(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok");
    let started = Instant::now();
    while !nodes.iter().all(ok) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the cluster did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nodes
}

/// The node of [`start_cluster`] that serves `key`.
fn node_of(key: &str) -> usize {
    let slot = redis_topology::target::slot::of(key.as_bytes());
    RANGES
        .iter()
        .position(|(first, last)| (*first..=*last).contains(&slot))
        .unwrap_or(0)
}

/// The commands on each node of the cluster, as the cluster routes them (the key is the
/// command's last argument for `XLEN` and `XINFO GROUPS`, the third for `XGROUP CREATE`).
fn per_node(commands: &[Vec<String>]) -> [Vec<Vec<String>>; 3] {
    let mut split: [Vec<Vec<String>>; 3] = Default::default();
    for command in commands {
        let key = match command[0].as_str() {
            "XGROUP" => &command[2],
            _ => command.last().expect("a key"),
        };
        split[node_of(key)].push(command.clone());
    }
    split
}

/// Three `redis-cli --pipe` at once, one per node: the wall time of all three.
fn pipe_cluster(nodes: &[Server], commands: &[Vec<Vec<String>>; 3]) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for (node, share) in nodes.iter().zip(commands) {
            scope.spawn(move || pipe(node, share));
        }
    });
    start.elapsed()
}

fn topology() -> String {
    let mut y = String::from("version: 1\nnamespace: bench\nstreams:\n");
    for i in 0..STREAMS {
        let _ = writeln!(
            y,
            "  s{i}:\n    retention: {{ maxlen: 10000 }}\n    groups: {{ workers: {{ start: \"$\" }}, audit: {{ start: \"0\" }} }}"
        );
    }
    y
}

fn writes() -> Vec<Vec<String>> {
    (0..STREAMS)
        .flat_map(|i| {
            let key = format!("bench:s{i}");
            [
                vec![
                    "XGROUP".into(),
                    "CREATE".into(),
                    key.clone(),
                    "audit".into(),
                    "0".into(),
                    "MKSTREAM".into(),
                ],
                vec![
                    "XGROUP".into(),
                    "CREATE".into(),
                    key,
                    "workers".into(),
                    "$".into(),
                    "MKSTREAM".into(),
                ],
            ]
        })
        .collect()
}

fn reads() -> Vec<Vec<String>> {
    (0..STREAMS)
        .flat_map(|i| {
            let key = format!("bench:s{i}");
            [
                vec!["XLEN".into(), key.clone()],
                vec!["XINFO".into(), "GROUPS".into(), key],
            ]
        })
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("topology.yaml");
    std::fs::write(&file, topology()).expect("write topology");
    let (writes, reads) = (writes(), reads());
    let mut all = writes.clone();
    all.extend(reads.iter().cloned());
    // `cargo bench --bench apply -- slow-link` (or `standalone`, `cluster`): those sections
    // alone; all three without one.
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |section: &str| named.is_empty() || named.iter().any(|n| n == section);
    if !wanted("standalone") {
        if wanted("cluster") {
            cluster(&file, &all, &reads);
        }
        if wanted("slow-link") {
            slow_link(&file, &all, &reads);
        }
        return;
    }

    let (mut apply_empty, mut plan_noop, mut apply_noop) = (Vec::new(), Vec::new(), Vec::new());
    let mut validate_only = Vec::new();
    let (mut pipe_all, mut pipe_reads) = (Vec::new(), Vec::new());
    let mut peak: f64 = 0.0;
    for _ in 0..RUNS {
        // Each operation right beside its reference, each on its own fresh server.
        let (ours, reference) = (Server::start(), Server::start());
        let (t, m) = run_tool(&["apply", "--yes"], &file, &ours);
        apply_empty.push(t);
        peak = peak.max(m);
        pipe_all.push(pipe(&reference, &all));
        let (t, m) = run_tool(&["plan"], &file, &ours);
        plan_noop.push(t);
        peak = peak.max(m);
        pipe_reads.push(pipe(&reference, &reads));
        let (t, m) = run_tool(&["apply", "--yes"], &file, &ours);
        apply_noop.push(t);
        peak = peak.max(m);
        let (t, _) = run_tool(&["validate"], &file, &ours);
        validate_only.push(t);
    }
    let (apply_paired, plan_paired) = (
        paired(&apply_empty, &pipe_all),
        paired(&plan_noop, &pipe_reads),
    );
    let (apply_empty, plan_noop, apply_noop) =
        (median(apply_empty), median(plan_noop), median(apply_noop));
    let (pipe_all, pipe_reads) = (median(pipe_all), median(pipe_reads));
    println!(
        "{STREAMS} streams x 2 groups + retention, fresh local redis-servers, median of {RUNS} runs:\n"
    );
    println!(
        "| operation | redis-topology | redis-cli --pipe reference | ratio of medians | median of paired ratios |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| apply from empty | {:.0} ms | {:.0} ms (20,000 XGROUP CREATE + 20,000 reads) | {:.2}x | {apply_paired:.2}x |",
        ms(apply_empty),
        ms(pipe_all),
        ms(apply_empty) / ms(pipe_all)
    );
    println!(
        "| no-op plan | {:.0} ms | {:.0} ms (20,000 reads: XLEN, XINFO GROUPS) | {:.2}x | {plan_paired:.2}x |",
        ms(plan_noop),
        ms(pipe_reads),
        ms(plan_noop) / ms(pipe_reads)
    );
    println!("| no-op apply | {:.0} ms | | | |", ms(apply_noop));
    // What the reference does not do at all is read a topology file. plan and apply read
    // the server while they load it, so this is not a part of their times to subtract.
    println!(
        "| loading and validating the file alone (`validate`, no server) | {:.0} ms | | | |",
        ms(median(validate_only))
    );
    println!("\npeak memory (max RSS) of redis-topology: {peak:.1} MB");
    if wanted("cluster") {
        cluster(&file, &all, &reads);
    }
    if wanted("slow-link") {
        slow_link(&file, &all, &reads);
    }
}

/// The same on one server behind a link with 1 ms of latency each way (a server in another
/// zone), the reference through the same kind of link: what round trips cost.
fn slow_link(file: &Path, all: &[Vec<String>], reads: &[Vec<String>]) {
    const LINK_RUNS: usize = 5;
    const LATENCY: Duration = Duration::from_millis(1);
    let (mut apply_empty, mut plan_noop) = (Vec::new(), Vec::new());
    let (mut pipe_all, mut pipe_reads) = (Vec::new(), Vec::new());
    for _ in 0..LINK_RUNS {
        let (ours, reference) = (Server::start(), Server::start());
        let (our_link, reference_link) = (
            SlowLink::start(ours.port, LATENCY),
            SlowLink::start(reference.port, LATENCY),
        );
        apply_empty.push(run_tool_at(&["apply", "--yes"], file, &our_link.url(), &[0]).0);
        pipe_all.push(pipe_to(reference_link.port, all));
        plan_noop.push(run_tool_at(&["plan"], file, &our_link.url(), &[0]).0);
        pipe_reads.push(pipe_to(reference_link.port, reads));
    }
    println!(
        "\nThe same through a link with 1 ms of latency each way (fresh servers, median of {LINK_RUNS} runs; the reference through the same link):\n"
    );
    println!("| operation | redis-topology | reference | median of paired ratios |");
    println!("|---|---|---|---|");
    for (name, ours, reference) in [
        ("apply from empty", &apply_empty, &pipe_all),
        ("no-op plan", &plan_noop, &pipe_reads),
    ] {
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {:.2}x |",
            ms(median(ours.clone())),
            ms(median(reference.clone())),
            paired(ours, reference)
        );
    }
}

/// The same on a Redis Cluster of three primaries: the reference is three `redis-cli
/// --pipe` at once, one per primary, each with the commands of the keys it serves.
fn cluster(file: &Path, all: &[Vec<String>], reads: &[Vec<String>]) {
    const CLUSTER_RUNS: usize = 5;
    let (all, reads) = (per_node(all), per_node(reads));
    let (mut apply_empty, mut plan_noop) = (Vec::new(), Vec::new());
    let (mut pipe_all, mut pipe_reads) = (Vec::new(), Vec::new());
    let mut peak: f64 = 0.0;
    for run in 0..CLUSTER_RUNS {
        // Both clusters start together, and a cluster just formed is slower for a moment
        // (gossip, first allocations): who goes first alternates, so neither side always
        // meets it.
        let (ours, reference) = (start_cluster(), start_cluster());
        let mut ours_apply = || {
            let (t, m) = run_tool(&["apply", "--yes"], file, &ours[0]);
            apply_empty.push(t);
            peak = peak.max(m);
        };
        if run % 2 == 0 {
            ours_apply();
            pipe_all.push(pipe_cluster(&reference, &all));
        } else {
            pipe_all.push(pipe_cluster(&reference, &all));
            ours_apply();
        }
        let (t, m) = run_tool(&["plan"], file, &ours[0]);
        plan_noop.push(t);
        peak = peak.max(m);
        pipe_reads.push(pipe_cluster(&reference, &reads));
    }
    let (apply_paired, plan_paired) = (
        paired(&apply_empty, &pipe_all),
        paired(&plan_noop, &pipe_reads),
    );
    println!(
        "\nThe same on a Redis Cluster of 3 primaries (fresh clusters, median of {CLUSTER_RUNS} runs; the reference: three redis-cli --pipe at once, one per primary):\n"
    );
    println!("| operation | redis-topology | reference | median of paired ratios |");
    println!("|---|---|---|---|");
    println!(
        "| apply from empty | {:.0} ms | {:.0} ms | {apply_paired:.2}x |",
        ms(median(apply_empty)),
        ms(median(pipe_all))
    );
    println!(
        "| no-op plan | {:.0} ms | {:.0} ms | {plan_paired:.2}x |",
        ms(median(plan_noop)),
        ms(median(pipe_reads))
    );
    println!("\npeak memory (max RSS) of redis-topology on the cluster: {peak:.1} MB");
}
