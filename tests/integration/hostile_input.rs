//! Hostile and broken input: never a panic, never a hang, bounded memory, exit 1 with a
//! clear message. Each case runs the real binary.

use std::io::Write;

use super::util::bin;

/// Run `validate` on a file; it must exit 1 (within a minute). Returns stderr.
fn validate_fails(path: &std::path::Path) -> String {
    let out = bin()
        .arg("validate")
        .arg(path)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run binary");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    stderr
}

/// Run `validate` on `content`; it must exit 1 without panicking, and stderr must contain
/// `expected`.
fn rejects(content: &[u8], expected: &str) {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    file.write_all(content).expect("write temp file");
    let stderr = validate_fails(file.path());
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in: {stderr}"
    );
}

#[test]
fn empty_file() {
    rejects(b"", "yaml::empty");
    rejects(b"# only a comment\n\n", "yaml::empty");
}

#[test]
fn random_bytes() {
    // A fixed pseudo-random sequence (xorshift), so the test is repeatable.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    rejects(&bytes, "file::not_utf8");
}

#[test]
fn billion_laughs() {
    let mut doc = String::from(
        "version: 1\nnamespace: x\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let prev = i - 1;
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    rejects(doc.as_bytes(), "yaml::limit");
}

#[test]
fn deep_nesting_of_200_000_levels() {
    let depth = 200_000;
    let flow = format!(
        "version: 1\nnamespace: x\nstreams: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    rejects(flow.as_bytes(), "yaml");
    let mut block = String::from("version: 1\nnamespace: x\nstreams:\n");
    for level in 0..depth.min(20_000) {
        block.push_str(&" ".repeat(level + 1));
        block.push_str("k:\n");
    }
    rejects(block.as_bytes(), "yaml");
}

#[test]
fn fifty_megabyte_file() {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    let line = format!("# {}\n", "x".repeat(1022));
    for _ in 0..(50 * 1024) {
        file.write_all(line.as_bytes()).expect("write");
    }
    let stderr = validate_fails(file.path());
    assert!(stderr.contains("file::too_large"), "{stderr}");
    assert!(stderr.contains("limited to 32 MB"), "{stderr}");
}

#[test]
fn every_corpus_file_exits_1_without_panicking() {
    let dir = super::util::repo().join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "corpus too small: {}", files.len());
    for file in files {
        // A lint's file fails only strictly, as CI validates.
        let strict = super::corpus::strict(&file).then_some("--strict");
        for format in ["human", "json"] {
            let out = bin()
                .args(["validate", "--format", format])
                .args(strict)
                .arg(&file)
                .timeout(std::time::Duration::from_secs(30))
                .output()
                .expect("run binary");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{}: {stderr}", file.display());
            assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
        }
    }
}

/// A problem past column 65,535 (a 65,600-character key) made the human renderer panic
/// (miette pads the underline with a formatting width, which must fit in 16 bits); the
/// diagnostic still names `file:line:column`.
#[test]
fn a_problem_past_column_65535_is_reported_not_a_panic() {
    let key = "k".repeat(65_600);
    for content in [
        // Invalid YAML: a plain key longer than YAML allows, the error at its end.
        format!("version: 1\nnamespace: x\nstreams:\n  {key}: {{ retention: unbounded }}\n"),
        // Valid YAML, an invalid value after the long key, on the same line.
        format!(
            "version: 1\nnamespace: x\nstreams: {{ \"{key}\": {{ retention: {{ maxlen: -1 }} }} }}\n"
        ),
    ] {
        let mut file = tempfile::Builder::new()
            .suffix(".yaml")
            .tempfile()
            .expect("temp file");
        file.write_all(content.as_bytes()).expect("write temp file");
        let json = bin()
            .args(["validate", "--format", "json"])
            .arg(file.path())
            .output()
            .expect("run binary");
        let found: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
        let (line, column) = (&found[0]["line"], &found[0]["column"]);
        assert!(column.as_u64() > Some(65_535), "{found}");
        let stderr = validate_fails(file.path());
        let excerpt = &stderr[..2000.min(stderr.len())];
        assert!(!stderr.contains("panicked"), "panic: {excerpt}");
        let place = format!("{}:{line}:{column}", file.path().display());
        assert!(stderr.contains(&place), "names {place}: {excerpt}");
        assert!(stderr.len() < 8 * 1024, "{} bytes: {excerpt}", stderr.len());
    }
}

/// `--lock-timeout` is bounded (at most a day): the largest u64 made apply panic computing
/// its deadline; now it is a usage error, exit 1, before anything is read or written.
#[test]
fn a_huge_lock_timeout_is_a_usage_error() {
    let server = super::redis::RedisServer::start();
    let file = super::util::topology_file(
        "version: 1\nnamespace: x\nstreams:\n  s: { retention: unbounded }\n",
    );
    for timeout in ["18446744073709551615", "86401", "-1"] {
        let out = bin()
            .arg("apply")
            .arg(file.path())
            .args(["--yes", "--url", &server.url(), "--lock-timeout", timeout])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .expect("run binary");
        let shown = super::util::text(&out);
        assert_eq!(out.status.code(), Some(1), "{timeout}: {shown}");
        assert!(!shown.contains("panicked"), "{timeout}: {shown}");
        assert!(shown.contains("--lock-timeout"), "{timeout}: {shown}");
    }
    assert_eq!(server.cmd::<i64>(&["DBSIZE"]), 0, "nothing was written");
    let out = bin()
        .arg("apply")
        .arg(file.path())
        .args(["--yes", "--url", &server.url(), "--lock-timeout", "86400"])
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(0), "{}", super::util::text(&out));
}

/// A topology's text reaches the terminal only escaped: a key or an environment name holding
/// a newline cannot print a line of its own (`error: forged`), and an escape sequence in a
/// comment or a key is not sent to the terminal in the message, the snippet or the summary.
#[test]
fn control_characters_in_the_file_never_reach_the_terminal() {
    let raw = "version: 1\nnamespace: x # \u{1b}]0;new title\u{7}\u{1b}[2K\n";
    let quoted = concat!(
        "version: 1\n",
        "namespace: x\n",
        "streams:\n",
        "  s: { retention: unbounded, \"re\\e[31mX\\nerror: forged\": 1 }\n",
        "environments: { \"d\\nerror: forged\": {} }\n",
    );
    for (content, expected) in [
        (
            raw,
            &["unexpected character", "namespace: x # ?]0;new title??[2K"][..],
        ),
        (
            quoted,
            &[
                "re\\u{1b}[31mX\\nerror: forged",
                "environments d\\nerror: forged)",
            ],
        ),
    ] {
        let mut file = tempfile::Builder::new()
            .suffix(".yaml")
            .tempfile()
            .expect("temp file");
        file.write_all(content.as_bytes()).expect("write temp file");
        let stderr = validate_fails(file.path());
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
            "{stderr:?}"
        );
        assert!(
            !stderr
                .lines()
                .any(|l| l.trim_start().starts_with("error: forged")),
            "{stderr}"
        );
        for expected in expected {
            assert!(stderr.contains(expected), "{expected}: {stderr}");
        }
    }
}

/// Error lines are one line whatever they quote: a password file's path (from the topology)
/// holding a newline cannot print an `error:` line of its own.
#[test]
fn an_error_quoting_the_file_stays_on_one_line() {
    let file = super::util::topology_file(concat!(
        "version: 1\nnamespace: x\nstreams:\n  s: { retention: unbounded }\n",
        "acl:\n  users:\n    svc:\n      passwords: [{ file: \"gone\\nerror: forged \\e[2K\" }]\n      keys: [s]\n",
    ));
    let out = bin()
        .args(["apply", "--yes"]) // apply reads passwords; plan runs without them
        .arg(file.path())
        .args(["--url", "redis://127.0.0.1:1"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read the password file"), "{stderr}");
    assert!(
        stderr.contains("gone\\nerror: forged \\u{1b}[2K"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(
        !stderr.lines().any(|l| l.starts_with("error: forged")),
        "{stderr}"
    );
}
