//! Benchmark: `check-messages` over 1,000,000 JSON lines against the shipped `rag-task`
//! schema (version 2, picked by each entry's `v`). Goal: at least 1,000,000 messages per second
//! on a 2-core machine. Run with `cargo bench --bench check_messages`.
//!
//! Two forms of the same messages: the JSON document as a JSON value (as a fixture is
//! written), and as JSON text inside the entry (as exported from Redis: parsed twice).

// A benchmark reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

const MESSAGES: usize = 1_000_000;
const RUNS: usize = 5;

fn lines(payload_as_text: bool) -> String {
    let mut out = String::with_capacity(MESSAGES * 220);
    for i in 0..MESSAGES {
        let payload = format!(
            r#"{{"task_id": "t-{i}", "project_id": "p-{}", "query": "what changed in the retention policy?", "top_k": 8, "created_at": "2026-11-22T10:00:00Z", "priority": "normal"}}"#,
            i % 97
        );
        let payload = if payload_as_text {
            serde_json::to_string(&payload).expect("a string")
        } else {
            payload
        };
        let _ = writeln!(out, r#"{{"v": "2", "payload": {payload}}}"#);
    }
    out
}

fn main() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "check-messages, {MESSAGES} messages against schemas/rag-task.v2.json, median of {RUNS} runs (goal: 1,000,000 per second with the payload as JSON text):\n"
    );
    println!("| messages | time | messages per second |");
    println!("|---|---|---|");
    for (label, as_text) in [
        ("payload as a JSON value", false),
        ("payload as JSON text (as in Redis)", true),
    ] {
        let file = dir.path().join(format!("messages-{as_text}.jsonl"));
        std::fs::write(&file, lines(as_text)).expect("write messages");
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let out = Command::new(env!("CARGO_BIN_EXE_redis-topology"))
                    .current_dir(repo)
                    .args([
                        "check-messages",
                        "topology.yaml",
                        "--env",
                        "prod",
                        "--stream",
                        "rag:tasks",
                        "--file",
                    ])
                    .arg(&file)
                    .output()
                    .expect("run check-messages");
                let elapsed = start.elapsed();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stdout)
                );
                assert!(
                    String::from_utf8_lossy(&out.stdout)
                        .contains(&format!("Checked {MESSAGES} messages: all valid"))
                );
                elapsed
            })
            .collect();
        times.sort();
        let median = times[RUNS / 2];
        println!(
            "| {label} | {:.0} ms | {:.0} |",
            median.as_secs_f64() * 1e3,
            MESSAGES as f64 / median.as_secs_f64()
        );
    }
}
