//! Benchmark: `status` of 10,000 streams with 2 groups each, with backlog (10 entries per
//! stream; one group has read 5 of them and acknowledged none, the other none), on a fresh
//! local redis-server, beside `redis-cli --pipe` sending the same reads.
//!
//! The topology is applied by the tool first, as in use (`status` reads ahead what the
//! record names while it validates the file).
//!
//! Run with `cargo bench --bench status` (needs `redis-server`, `redis-cli` and `python3`, which starts the tool to measure its memory). The
//! reference is every command `status` sends, in one pipe: per stream `XLEN`, `XINFO
//! GROUPS`, `XRANGE - + COUNT 1`, per group `XPENDING` (the summary) and `XINFO CONSUMERS`,
//! then per group behind `XRANGE (<last-delivered> + COUNT 1`. Goals: within 1.5x of the
//! reference; peak memory under 100 MB.

// A benchmark reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;

mod common;
use common::{Server, median, ms, paired, pipe, run_tool, run_tool_exiting};

const STREAMS: usize = 10_000;
const ENTRIES: usize = 10;
const RUNS: usize = 9;
/// The entries' IDs: `<BASE_MS>-<n>`.
const BASE_MS: u64 = 1_700_000_000_000;

fn key(i: usize) -> String {
    format!("bench:s{i}")
}

fn topology() -> String {
    let mut y = String::from(
        "version: 1\nnamespace: bench\nhealth:\n  lag: { warning: 100, critical: 1000 }\n  pending: { warning: 100 }\n  pending_age: { warning: 1h }\nstreams:\n",
    );
    for i in 0..STREAMS {
        let _ = writeln!(
            y,
            "  s{i}:\n    retention: {{ maxlen: 10000 }}\n    groups: {{ workers: {{ start: \"0\" }}, audit: {{ start: \"0\" }} }}"
        );
    }
    y
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// The backlog on the applied streams: entries, and 5 of them read by `workers`.
fn backlog() -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for i in 0..STREAMS {
        let key = key(i);
        for n in 1..=ENTRIES {
            let id = format!("{BASE_MS}-{n}");
            commands.push(words(&["XADD", &key, &id, "payload", "{\"task\": 1}"]));
        }
        commands.push(words(&[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "COUNT",
            "5",
            "STREAMS",
            &key,
            ">",
        ]));
    }
    commands
}

/// Every read `status` sends for this backlog.
fn reads() -> Vec<Vec<String>> {
    let mut commands = vec![
        words(&["TIME"]),
        words(&[
            "CONFIG",
            "GET",
            "maxmemory",
            "maxmemory-policy",
            "appendonly",
        ]),
        words(&["INFO", "memory"]),
    ];
    for i in 0..STREAMS {
        let key = key(i);
        commands.push(words(&["XLEN", &key]));
        commands.push(words(&["XINFO", "GROUPS", &key]));
        commands.push(words(&["XRANGE", &key, "-", "+", "COUNT", "1"]));
        for group in ["audit", "workers"] {
            commands.push(words(&["XPENDING", &key, group]));
            commands.push(words(&["XINFO", "CONSUMERS", &key, group]));
        }
    }
    for i in 0..STREAMS {
        let key = key(i);
        let after_workers = format!("({BASE_MS}-5");
        for after in ["(0-0", after_workers.as_str()] {
            commands.push(words(&["XRANGE", &key, after, "+", "COUNT", "1"]));
        }
    }
    commands
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("topology.yaml");
    std::fs::write(&file, topology()).expect("write topology");
    let server = Server::start();
    // As in use: the topology applied by the tool (which writes its record), then the
    // producers' and consumers' backlog.
    run_tool(&["apply", "--yes"], &file, &server);
    pipe(&server, &backlog());
    let reads = reads();
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    let mut peak: f64 = 0.0;
    for run in 0..RUNS {
        // Who goes first alternates.
        let mut tool = || {
            let (t, m) = run_tool_exiting(&["status"], &file, &server, &[0, 2, 3]);
            ours.push(t);
            peak = peak.max(m);
        };
        if run % 2 == 0 {
            tool();
            reference.push(pipe(&server, &reads));
        } else {
            reference.push(pipe(&server, &reads));
            tool();
        }
    }
    let ratio = paired(&ours, &reference);
    println!(
        "{STREAMS} streams x 2 groups, {ENTRIES} entries each, 5 pending in one group, a fresh local redis-server, median of {RUNS} runs:\n"
    );
    println!(
        "| operation | redis-topology | redis-cli --pipe reference | median of paired ratios |"
    );
    println!("|---|---|---|---|");
    println!(
        "| status | {:.0} ms | {:.0} ms ({} reads: XLEN, XINFO GROUPS, XRANGE, XPENDING, XINFO CONSUMERS, XRANGE after each group) | {ratio:.2}x |",
        ms(median(ours)),
        ms(median(reference)),
        reads.len()
    );
    println!("\npeak memory (max RSS) of redis-topology: {peak:.1} MB");
}
