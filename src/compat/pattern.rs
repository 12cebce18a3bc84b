//! Does a property name match a `patternProperties` key? Answered by the same engine that
//! validates messages: `jsonschema` translates ECMA-262 patterns to Rust syntax
//! (`jsonschema-regex`) and matches them with `fancy-regex`. Using the same translation and
//! engine here means a compatibility verdict and a validation never disagree on which
//! properties a pattern covers.
//!
//! Safe on untrusted schemas: patterns and names past the size limits, patterns the
//! translation or the engine refuses, and matches that exceed the backtracking limit all give
//! `None`, and callers then assume whichever answer is more conservative. Patterns without
//! lookaround or backreferences run on the `regex` crate's automata, in linear time.

use std::borrow::Cow;

/// Longer patterns are not interpreted.
const MAX_PATTERN_CHARS: usize = 1_000;
/// Longer names are not matched.
const MAX_TEXT_CHARS: usize = 256;
/// Backtracking steps for one match (fancy-regex's own default, as `jsonschema` uses it).
const BACKTRACK_LIMIT: usize = 1_000_000;
/// Compiled-program size for one pattern, in bytes.
const SIZE_LIMIT: usize = 1 << 20;

/// Whether `pattern` matches somewhere in `text` (JSON Schema patterns are not anchored), or
/// `None` when the pattern is refused or too expensive to decide.
pub(super) fn find(pattern: &str, text: &str) -> Option<bool> {
    if pattern.chars().count() > MAX_PATTERN_CHARS || text.chars().count() > MAX_TEXT_CHARS {
        return None;
    }
    let translated: Cow<'_, str> = jsonschema_regex::to_rust_regex(pattern).ok()?;
    let regex = fancy_regex::RegexBuilder::new(&translated)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(SIZE_LIMIT)
        .delegate_dfa_size_limit(SIZE_LIMIT)
        .build()
        .ok()?;
    regex.is_match(text).ok()
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn patterns_match_like_ecmascript() {
        let cases: &[(&str, &str, bool)] = &[
            ("^x-", "x-trace", true),
            ("^x-", "ax-trace", false),
            ("x-", "ax-trace", true),
            ("^[a-z]+_id$", "user_id", true),
            ("^[a-z]+_id$", "User_id", false),
            ("^\\d{3}$", "123", true),
            ("^\\d{3}$", "1234", false),
            // ECMA's \d is ASCII only, unlike Rust's default.
            ("^\\d$", "٣", false),
            ("^\\d{2,3}$", "12", true),
            ("^(foo|bar)\\.", "bar.baz", true),
            ("^(?:foo|bar)$", "baz", false),
            ("^[^_]", "_x", false),
            ("^a.c$", "abc", true),
            ("^a?b*c+$", "c", true),
            ("^\\w+$", "has space", false),
            ("^\\s*$", " \t", true),
            ("^[\\w-]+$", "kebab-case_ok", true),
            ("", "anything", true),
            (
                "^(a+)+$",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
                false,
            ),
            ("^$", "", true),
            ("^a{0}$", "", true),
            // Lookaround, word boundaries and backreferences, as the validator reads them.
            ("^(?!internal_)", "internal_id", false),
            ("^(?!internal_)", "public_id", true),
            ("\\bid$", "user id", true),
            ("^(a)\\1$", "aa", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(find(pattern, text), Some(*expected), "{pattern} on {text}");
        }
    }

    #[test]
    fn malformed_or_oversized_patterns_are_unknown() {
        for pattern in ["a**", "*a", "(", "[a", "a{2,1}", "[z-a]"] {
            assert_eq!(find(pattern, "x"), None, "{pattern}");
        }
        assert_eq!(find(&"a".repeat(1_001), "a"), None);
        let long = "a".repeat(300);
        assert_eq!(find("a", &long), None);
    }

    #[test]
    fn a_catastrophic_backtracking_pattern_is_unknown_not_slow() {
        // A backreference forces the backtracking engine; the limit stops it.
        let text = format!("{}b", "a".repeat(60));
        assert_eq!(find("^(a|a)+\\1$", &text), None);
    }
}
