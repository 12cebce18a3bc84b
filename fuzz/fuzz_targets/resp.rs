//! Fuzz the RESP reader (src/resp.rs), which reads everything a server sends: no panic, hang
//! or unbounded allocation on any bytes; fed in pieces, the scanner finds the same replies
//! (and the same error) as in the whole bytes; and the parser reads exactly the replies the
//! scanner found, and refuses what it refused.
//! Run: `cargo fuzz run resp -- -max_total_time=60` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks how the rest, what the server sent, is cut into pieces.
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let seed = usize::from(seed);
    let pieces = [seed % 7 + 1, seed / 7 % 13 + 1, 1, seed / 91 + 1];
    if let Err(disagreement) = redis_topology::resp::agreement(bytes, &pieces) {
        panic!("{disagreement}");
    }
});
