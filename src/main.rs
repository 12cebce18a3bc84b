//! The `redis-topology` binary: a thin shell over the library (see `cli`).

#![forbid(unsafe_code)]

/// mimalloc instead of glibc's malloc: a plan of 10,000 streams allocates millions of small
/// values (the file's tree, the server's replies), and with mimalloc a no-op plan takes ~25%
/// less time (measured with `perf stat`: 266 ms vs 343 ms, 20 runs each). Built without
/// transparent huge pages (`no_thp`): with them, a fault on fresh memory could stall for the
/// kernel to compact a 2 MB page when memory was fragmented (an apply of 10,000 streams on a
/// cluster took 370-430 ms in the bench, 165-215 ms without them); on a good minute they save
/// ~9% of the CPU, and cost 20 MB of peak memory. mimalloc 2 rather than the crate's default
/// 3: version 3 holds freed memory for a second before returning it, version 2 for 10 ms,
/// and a plan of 100,000 streams frees the file's tree while it builds the model: peak memory
/// 260 MB with version 3, 235-250 MB with version 2, at the same speed (10,000 streams:
/// no-op plan 1.01x wall, 0.97x CPU, 20 pairs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(redis_topology::run())
}
