//! The `redis-topology` binary: a thin shell over the library (see `cli`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(redis_topology::cli::run())
}
