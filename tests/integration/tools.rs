//! External programs some tests need (shells, groff, pre-commit): found on PATH, or the test
//! fails saying how to install them. None of these tests skips: a check that silently does
//! not run is a check CI thinks it has.

use std::path::PathBuf;

/// The program `name` on PATH; panics with `install` (how to get it) when it is missing.
pub fn require(name: &str, install: &str) -> PathBuf {
    find(name).unwrap_or_else(|| {
        panic!("`{name}` is not installed, and this test needs the real one. Install it: {install} (.ci/run does this)")
    })
}

/// The program `name` on PATH, if any.
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The `redis-topology` binary cargo built for this test run.
pub fn redis_topology() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redis-topology"))
}

/// Run `program` with `args`, `input` on its stdin; its output.
pub fn run_with_input(
    program: &std::path::Path,
    args: &[&str],
    input: &str,
) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    // A program that exits before reading all of it fails on its own: its output says why.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{}'s output: {e}", program.display()))
}
