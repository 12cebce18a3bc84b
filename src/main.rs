//! The `redis-topology` binary: a thin shell over the library (see `cli`).

#![forbid(unsafe_code)]

/// mimalloc instead of glibc's malloc: a plan of 10,000 streams allocates millions of small
/// values (the file's tree, the server's replies), and with mimalloc a no-op plan takes ~25%
/// less time (measured with `perf stat`: 266 ms vs 343 ms, 20 runs each). Built without
/// transparent huge pages (`no_thp`): with them, a fault on fresh memory could stall for the
/// kernel to compact a 2 MB page when memory was fragmented (an apply of 10,000 streams on a
/// cluster took 370-430 ms in the bench, 165-215 ms without them); on a good minute they save
/// ~9% of the CPU, and cost 20 MB of peak memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(redis_topology::run())
}
