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
