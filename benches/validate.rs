//! Benchmark: `validate` on a generated 10,000-stream topology (goal: under 100 ms).
//!
//! Run with `cargo bench --bench validate`. It reports the library call (parse, merge,
//! convert, every rule, for the base and two environments) and the whole binary, process
//! start included. A benchmark, not a test: timings depend on the machine.

// A benchmark reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use redis_topology::validate::validate_file;

const STREAMS: usize = 10_000;
const RUNS: usize = 15;

/// A realistic large topology: every stream has retention, two groups and a description;
/// a tenth have a schema; 200 users; two environments overriding some retention.
fn generate() -> String {
    let mut y = String::with_capacity(2 << 20);
    y.push_str("version: 1\nnamespace: \"${BENCH_NS:-bench}\"\n");
    y.push_str("schemas:\n  task:\n    encoding: json\n    field: payload\n    version_field: v\n    compatibility: backward\n    versions:\n");
    y.push_str("      1: { schema: { type: object, additionalProperties: false, required: [id], properties: { id: { type: string } } } }\n");
    y.push_str("      2: { schema: { type: object, additionalProperties: false, required: [id], properties: { id: { type: string }, priority: { type: integer } } } }\n");
    y.push_str("streams:\n");
    for i in 0..STREAMS {
        let _ = writeln!(y, "  svc{}:stream{i}:", i % 50);
        let _ = writeln!(y, "    description: stream number {i}");
        if i % 10 == 0 {
            y.push_str("    schema: task\n");
        }
        if i % 3 == 0 {
            y.push_str("    retention: { max_age: 7d }\n");
        } else {
            let _ = writeln!(y, "    retention: {{ maxlen: {} }}", 1000 + i);
        }
        y.push_str("    groups:\n      workers: { start: \"$\" }\n      audit: { start: \"0\" }\n");
    }
    y.push_str("acl:\n  users:\n");
    for u in 0..200 {
        let _ = writeln!(
            y,
            "    user{u}:\n      passwords: [{{ env: USER{u}_PASSWORD }}]\n      keys: {{ read: [\"svc{}:*\"], write: [\"svc{}:results\"] }}\n      commands: [\"+@stream\", \"+@connection\", \"-xgroup|destroy\"]",
            u % 50,
            u % 50
        );
    }
    y.push_str("environments:\n  dev:\n    namespace: dev-bench\n    streams:\n");
    for i in (0..STREAMS).step_by(100) {
        let _ = writeln!(
            y,
            "      svc{}:stream{i}: {{ retention: {{ maxlen: 100 }} }}",
            i % 50
        );
    }
    y.push_str("  prod: {}\n");
    y
}

fn stats(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("topology.yaml");
    let text = generate();
    std::fs::write(&path, &text).expect("write topology");
    let vars = std::collections::HashMap::<String, String>::new();

    let report = validate_file(&path, None, false, &vars);
    assert!(!report.has_errors(), "generated topology must be valid");

    let lib: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let report = validate_file(&path, None, false, &vars);
            std::hint::black_box(report.diagnostics.len());
            start.elapsed()
        })
        .collect();
    let one_env: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(
                validate_file(&path, Some("prod"), false, &vars)
                    .diagnostics
                    .len(),
            );
            start.elapsed()
        })
        .collect();
    // The YAML text to its tree: the fast path, which this file takes.
    let tree: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let root = redis_topology::model::yaml::parse(&text, Default::default());
            assert!(root.is_ok());
            std::hint::black_box(root.ok());
            start.elapsed()
        })
        .collect();
    // For comparison, the general parser's events alone (what a file outside the fast path
    // costs at least), no tree, no checks.
    let parser_only: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let events = granit_parser::Parser::new_from_str(&text).count();
            std::hint::black_box(events);
            start.elapsed()
        })
        .collect();
    let binary = env!("CARGO_BIN_EXE_redis-topology");
    let process: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let status = std::process::Command::new(binary)
                .arg("validate")
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("run binary");
            assert!(status.success());
            start.elapsed()
        })
        .collect();

    println!(
        "validate, {STREAMS} streams x 2 groups, 200 users, {:.1} MB, {RUNS} runs (min / median):",
        text.len() as f64 / 1e6
    );
    for (name, times) in [
        ("YAML to tree (fast path)", tree),
        ("general YAML parser, events only", parser_only),
        ("library, base + 2 environments", lib),
        ("library, --env prod only", one_env),
        ("binary, base + 2 environments", process),
    ] {
        let (min, median) = stats(times);
        println!("  {name:<34} {:>8.1} ms / {:>8.1} ms", ms(min), ms(median));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
