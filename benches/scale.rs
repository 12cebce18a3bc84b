//! Benchmark: ten times the scale. 100,000 streams with 2 groups each and retention, and
//! 2,000 ACL users, on one fresh local redis-server, beside `redis-cli --pipe` sending the
//! same stream commands and one `ACL SETUSER` per user.
//!
//! Run with `cargo bench --bench scale` (needs `redis-server`, `redis-cli` and `python3`, which starts the tool to measure its memory; a few minutes).
//! Reports apply from empty, a no-op plan, `validate` alone, and the peak memory (max RSS) of
//! each. Goals: apply from empty and the no-op plan within 1.5x of the reference, peak
//! memory under 150 MB, `validate` under 500 ms.

// A benchmark reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;

mod common;
use common::{Server, median, ms, paired, pipe, run_tool};

const STREAMS: usize = 100_000;
const USERS: usize = 2_000;
const SERVICES: usize = 50;
const RUNS: usize = 3;
/// sha256("password"): the users' password, as the file may give it.
const HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

fn key(i: usize) -> String {
    format!("bench:svc{}:s{i}", i % SERVICES)
}

fn topology() -> String {
    let mut y = String::with_capacity(STREAMS * 110 + USERS * 200);
    y.push_str("version: 1\nnamespace: bench\nstreams:\n");
    for i in 0..STREAMS {
        let _ = writeln!(
            y,
            "  svc{}:s{i}:\n    retention: {{ maxlen: 10000 }}\n    groups: {{ workers: {{ start: \"$\" }}, audit: {{ start: \"0\" }} }}",
            i % SERVICES
        );
    }
    y.push_str("acl:\n  users:\n");
    for u in 0..USERS {
        let service = u % SERVICES;
        let _ = writeln!(
            y,
            "    user{u}:\n      passwords: [{{ sha256: {HASH} }}]\n      keys: {{ read: [\"svc{service}:*\"], write: [\"svc{service}:results\"] }}\n      commands: [\"+@stream\", \"+@connection\", \"-xgroup|destroy\"]"
        );
    }
    y
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// The stream writes and a user's worth of `ACL SETUSER` per user (the tool's own rules
/// differ in detail; the server's cost is the same order).
fn writes() -> Vec<Vec<String>> {
    let mut commands = Vec::with_capacity(2 * STREAMS + USERS);
    for i in 0..STREAMS {
        let key = key(i);
        commands.push(words(&["XGROUP", "CREATE", &key, "audit", "0", "MKSTREAM"]));
        commands.push(words(&[
            "XGROUP", "CREATE", &key, "workers", "$", "MKSTREAM",
        ]));
    }
    for u in 0..USERS {
        let service = u % SERVICES;
        commands.push(words(&[
            "ACL",
            "SETUSER",
            &format!("user{u}"),
            "reset",
            "on",
            &format!("#{HASH}"),
            &format!("%R~bench:svc{service}:*"),
            &format!("%W~bench:svc{service}:results"),
            "+@stream",
            "+@connection",
            "-xgroup|destroy",
        ]));
    }
    commands
}

/// What a plan reads: each stream's length and groups, and the users.
fn reads() -> Vec<Vec<String>> {
    let mut commands = Vec::with_capacity(2 * STREAMS + 1);
    for i in 0..STREAMS {
        let key = key(i);
        commands.push(words(&["XLEN", &key]));
        commands.push(words(&["XINFO", "GROUPS", &key]));
    }
    commands.push(words(&["ACL", "LIST"]));
    commands
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("topology.yaml");
    std::fs::write(&file, topology()).expect("write topology");
    let size = std::fs::metadata(&file).map_or(0, |m| m.len());
    let (writes, reads) = (writes(), reads());
    let mut all = writes.clone();
    all.extend(reads.iter().cloned());

    let (mut apply_empty, mut plan_noop, mut validate) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pipe_all, mut pipe_reads) = (Vec::new(), Vec::new());
    let (mut apply_peak, mut plan_peak, mut validate_peak): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for _ in 0..RUNS {
        let (ours, reference) = (Server::start(), Server::start());
        let (t, m) = run_tool(&["apply", "--yes"], &file, &ours);
        apply_empty.push(t);
        apply_peak = apply_peak.max(m);
        pipe_all.push(pipe(&reference, &all));
        let (t, m) = run_tool(&["plan"], &file, &ours);
        plan_noop.push(t);
        plan_peak = plan_peak.max(m);
        pipe_reads.push(pipe(&reference, &reads));
        let (t, m) = run_tool(&["validate"], &file, &ours);
        validate.push(t);
        validate_peak = validate_peak.max(m);
    }
    println!(
        "{STREAMS} streams x 2 groups + retention, {USERS} users ({:.1} MB file), fresh local redis-servers, median of {RUNS} runs:\n",
        size as f64 / 1e6
    );
    println!(
        "| operation | redis-topology | redis-cli --pipe reference | median of paired ratios | peak memory |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| apply from empty | {:.0} ms | {:.0} ms ({} writes + {} reads) | {:.2}x | {apply_peak:.0} MB |",
        ms(median(apply_empty.clone())),
        ms(median(pipe_all.clone())),
        writes.len(),
        reads.len(),
        paired(&apply_empty, &pipe_all)
    );
    println!(
        "| no-op plan | {:.0} ms | {:.0} ms ({} reads) | {:.2}x | {plan_peak:.0} MB |",
        ms(median(plan_noop.clone())),
        ms(median(pipe_reads.clone())),
        reads.len(),
        paired(&plan_noop, &pipe_reads)
    );
    println!(
        "| `validate` (no server) | {:.0} ms | | | {validate_peak:.0} MB |",
        ms(median(validate))
    );
}
