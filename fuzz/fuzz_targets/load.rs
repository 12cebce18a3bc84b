//! Fuzz the whole offline path: YAML parsing with limits, environment merging, conversion and
//! every validation rule. Any panic, hang or unbounded allocation is a bug. It also checks
//! that the YAML fast path reads every input it takes exactly as the general parser does.
//! Run: `cargo fuzz run load -- -max_total_time=60` (from the repository root).
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use redis_topology::validate::validate_text;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        redis_topology::model::yaml::fast_path_agrees(text);
        let vars: HashMap<String, String> = HashMap::new();
        // A path in an empty directory, so `file:` references resolve to nothing.
        let report = validate_text(Path::new("/nonexistent/fuzz.yaml"), text.to_owned(), None, true, &vars);
        std::hint::black_box(report.diagnostics.len());
    }
});
