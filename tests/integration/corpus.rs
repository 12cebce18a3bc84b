//! The malformed-input corpus: every file in tests/corpus/ must fail cleanly (exit 1, no
//! panic) with the diagnostic its first line announces, at the line it announces.
//!
//! Each corpus file starts with `# expect: <code> @ <line>` (or `@ -` for problems that have
//! no line, such as an unreadable file). A lint (a warning) is expected with `--strict` after
//! the line: `# expect: acl::consumer_xadd @ 12 --strict` validates the file strictly, as CI
//! does. The rendered diagnostics are snapshot-tested, so a change in wording or position is
//! reviewed with `cargo insta review`.

use std::path::Path;

use redis_topology::diagnostics::Severity;
use redis_topology::render;
use redis_topology::validate::validate_file;

/// `(code, line, strict)` from the corpus file's first line.
fn expectation(path: &Path) -> (String, Option<usize>, bool) {
    let text = std::fs::read(path).unwrap_or_default();
    let first = String::from_utf8_lossy(&text);
    let first = first.lines().next().unwrap_or_default();
    let spec = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!(
            "{} must start with `# expect: <code> @ <line>`",
            path.display()
        )
    });
    let (code, line) = spec.split_once(" @ ").expect("`<code> @ <line>`");
    let (line, strict) = match line.trim().strip_suffix("--strict") {
        Some(line) => (line, true),
        None => (line, false),
    };
    (code.trim().to_owned(), line.trim().parse().ok(), strict)
}

/// Whether a corpus file is meant to be validated with `--strict` (its problem is a lint).
pub fn strict(path: &Path) -> bool {
    expectation(path).2
}

#[test]
fn every_corpus_file_fails_at_its_line_with_its_code() {
    let vars = std::collections::HashMap::<String, String>::new();
    let mut count = 0;
    insta::glob!("../corpus", "*.yaml", |path| {
        count += 1;
        let relative = path.strip_prefix(super::util::repo()).unwrap_or(path);
        let (code, line, strict) = expectation(path);
        let report = validate_file(relative, None, strict, &vars);
        assert!(
            report.has_errors(),
            "{} must be invalid",
            relative.display()
        );
        let found = report.diagnostics.iter().any(|d| {
            d.code.as_str() == code
                && d.severity == Severity::Error
                && match line {
                    Some(line) => d
                        .span
                        .and_then(|s| report.sources.locate(s))
                        .is_some_and(|(_, l, _)| l == line),
                    None => true,
                }
        });
        let rendered: String = report
            .diagnostics
            .iter()
            .map(|d| render::diagnostics::human(d, &report.sources, false))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            found,
            "{}: expected {code} at line {line:?}, got:\n{rendered}",
            relative.display()
        );
        // Every plaintext password in the corpus is `hunter2`: no output may show it.
        let json = render::diagnostics::json(&report.diagnostics, &report.sources).to_string();
        assert!(
            !rendered.contains("hunter2") && !json.contains("hunter2"),
            "{}: a secret leaked:\n{rendered}\n{json}",
            relative.display()
        );
        insta::assert_snapshot!(rendered);
    });
    assert!(
        count >= 30,
        "the corpus has {count} files, it needs at least 30"
    );
}
