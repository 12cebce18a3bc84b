//! Redis glob patterns, as ACL key and channel rules read them.
//!
//! An ACL rule `~<pattern>` is matched by Redis's `stringmatchlen` (`src/util.c`): `*` is any
//! run of bytes, `?` one byte, `[...]` a class (`[^...]` negated, `a-z` ranges, `\` escaping
//! inside), `\x` a literal `x`. The tool puts the namespace into such patterns, so a namespace
//! with one of these characters would match other namespaces' keys (`pro\j` matches `proj`):
//! [`escape`] makes text match only itself. [`matches`] answers "does this pattern cover this
//! key" the way Redis does, for lints on patterns that reach the tool's own keys.
//!
//! Matching is iterative (no recursion per `*`), so a long hostile pattern from a topology file
//! cannot exhaust the stack: a pattern is first read into one-byte tokens and stars, then
//! matched by the usual backtrack-to-the-last-star walk, which gives Redis's answers because
//! every token but `*` consumes exactly one byte.

/// The bytes Redis's glob reads as special anywhere in a pattern.
const SPECIAL: &[char] = &['\\', '*', '?', '[', ']'];

/// `text` as a pattern that matches exactly `text` and nothing else.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether Redis would say `pattern` matches `text` (case-sensitive, as key and channel
/// rules are).
pub fn matches(pattern: &str, text: &str) -> bool {
    Pattern::new(pattern).matches(text)
}

/// A pattern read once, to match against many texts (a lint tries one key pattern on
/// thousands of stream keys).
pub struct Pattern {
    tokens: Vec<Token>,
    empty: bool,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        Pattern {
            tokens: tokens(pattern.as_bytes()),
            empty: pattern.is_empty(),
        }
    }

    /// Whether Redis would say this pattern matches `text`.
    pub fn matches(&self, text: &str) -> bool {
        // Redis's loop runs only while both have bytes left: a non-empty pattern, even `*`,
        // never matches an empty text.
        if text.is_empty() {
            return self.empty;
        }
        walk(&self.tokens, text.as_bytes())
    }

    /// The bytes every text the pattern matches starts with: its plain and escaped bytes up
    /// to the first `*`, `?` or `[`. Lints use it to look up, among sorted keys, the few a
    /// pattern can match instead of trying every key.
    pub fn literal_prefix(&self) -> Vec<u8> {
        self.tokens
            .iter()
            .map_while(|token| match token {
                Token::Byte(byte) => Some(*byte),
                _ => None,
            })
            .collect()
    }
}

/// One element of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// One or more `*`.
    Star,
    /// `?`.
    Any,
    /// A byte, written plainly or escaped.
    Byte(u8),
    /// `[...]`.
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ClassItem {
    Byte(u8),
    /// An inclusive range; the ends compared as C `char`s (signed), swapped if reversed.
    Range(i8, i8),
}

/// The byte at `i`, or 0 past the end (Redis reads the string's terminating NUL there).
fn at(pattern: &[u8], i: usize) -> u8 {
    pattern.get(i).copied().unwrap_or(0)
}

/// A pattern's tokens, read exactly as `stringmatchlen` reads them (its reading does not
/// depend on the text, so it can be done once up front).
fn tokens(pattern: &[u8]) -> Vec<Token> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        let token = match pattern[i] {
            b'*' => {
                while at(pattern, i + 1) == b'*' {
                    i += 1;
                }
                Token::Star
            }
            b'?' => Token::Any,
            b'[' => {
                let (class, end) = class(pattern, i + 1);
                i = end;
                class
            }
            b'\\' if pattern.len() - i >= 2 => {
                i += 1;
                Token::Byte(pattern[i])
            }
            byte => Token::Byte(byte),
        };
        out.push(token);
        i += 1;
    }
    out
}

/// The class starting after a `[` at `start`, and the index of its last byte (its `]`, or
/// the pattern's last byte when the class is not closed).
fn class(pattern: &[u8], start: usize) -> (Token, usize) {
    let mut i = start;
    let negated = at(pattern, i) == b'^';
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    loop {
        let left = pattern.len().saturating_sub(i);
        if at(pattern, i) == b'\\' && left >= 2 {
            i += 1;
            items.push(ClassItem::Byte(pattern[i]));
        } else if at(pattern, i) == b']' {
            break;
        } else if left == 0 {
            i -= 1;
            break;
        } else if left >= 3 && at(pattern, i + 1) == b'-' {
            let (a, b) = (pattern[i] as i8, pattern[i + 2] as i8);
            items.push(ClassItem::Range(a.min(b), a.max(b)));
            i += 2;
        } else {
            items.push(ClassItem::Byte(pattern[i]));
        }
        i += 1;
    }
    (Token::Class { negated, items }, i)
}

impl Token {
    /// Whether this one-byte token accepts `byte` (never called for [`Token::Star`]).
    fn accepts(&self, byte: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(b) => *b == byte,
            Token::Class { negated, items } => {
                let signed = byte as i8;
                let hit = items.iter().any(|item| match item {
                    ClassItem::Byte(b) => *b == byte,
                    ClassItem::Range(low, high) => (*low..=*high).contains(&signed),
                });
                hit != *negated
            }
        }
    }
}

/// Match tokens against a non-empty text: on a mismatch, let the last star take one more
/// byte and try again from there.
fn walk(tokens: &[Token], text: &[u8]) -> bool {
    let (mut t, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < text.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, s));
                t += 1;
            }
            Some(token) if token.accepts(text[s]) => {
                t += 1;
                s += 1;
            }
            _ => match star {
                Some((star_t, star_s)) => {
                    t = star_t + 1;
                    s = star_s + 1;
                    star = Some((star_t, star_s + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t.min(tokens.len())..]
        .iter()
        .all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases read off `stringmatchlen` in Redis 7.0's `src/util.c`, its quirks included; the
    /// integration suite checks the same table against a real redis-server.
    pub const CASES: &[(&str, &str, bool)] = &[
        ("*", "anything", true),
        ("*", "", false),
        ("", "", true),
        ("a*", "a", true),
        ("a*b", "ab", true),
        ("a*b", "axxb", true),
        ("a*b", "axxbc", false),
        ("*:record", "ns:__topology__:record", true),
        ("ns:*", "ns:__topology__:lock", true),
        ("ns:__*", "ns:__topology__:lock", true),
        ("ns:_?topology__:*", "ns:__topology__:lock", true),
        ("ns:x*", "ns:__topology__:lock", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("[abc]x", "bx", true),
        ("[^abc]x", "bx", false),
        ("[^abc]x", "dx", true),
        ("[a-c]", "b", true),
        ("[c-a]", "b", true),
        ("[a-c]", "d", false),
        ("[a\\]]", "]", true),
        ("[]a]", "a", false),
        ("[a-]", "_", true),
        ("[abc", "c", true),
        ("[abc", "d", false),
        ("a[", "a", false),
        ("\\*", "*", true),
        ("\\*", "x", false),
        ("pro\\j:s", "proj:s", true),
        ("pro\\\\j:s", "proj:s", false),
        ("pro\\\\j:s", "pro\\j:s", true),
        ("a\\", "a\\", true),
        ("a**b", "ab", true),
        ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaa", false),
    ];

    #[test]
    fn matches_as_redis_does() {
        for (pattern, text, expected) in CASES {
            assert_eq!(
                matches(pattern, text),
                *expected,
                "pattern {pattern:?} text {text:?}"
            );
        }
    }

    #[test]
    fn an_escaped_text_matches_itself_and_nothing_else() {
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        let text = "[a-c\\\\*?\\[\\]:^-]{1,8}";
        let mut runner = TestRunner::deterministic();
        runner
            .run(&(text, text), |(a, b)| {
                prop_assert!(matches(&escape(&a), &a), "{a:?}");
                prop_assert_eq!(matches(&escape(&a), &b), a == b, "{:?} {:?}", a, b);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn every_text_a_pattern_matches_starts_with_its_literal_prefix() {
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        for (pattern, prefix) in [
            ("ns:rag:*", "ns:rag:"),
            ("pro\\j:s?", "proj:s"),
            ("pro\\\\j:*", "pro\\j:"),
            ("[ab]c", ""),
            ("abc", "abc"),
            ("a\\", "a\\"),
        ] {
            assert_eq!(
                Pattern::new(pattern).literal_prefix(),
                prefix.as_bytes(),
                "{pattern}"
            );
        }
        let mut runner = TestRunner::deterministic();
        runner
            .run(
                &(r"[ab\\*?\[\]^-]{0,6}", r"[ab\\*?\[\]^-]{0,6}"),
                |(p, t)| {
                    if matches(&p, &t) {
                        prop_assert!(
                            t.as_bytes().starts_with(&Pattern::new(&p).literal_prefix()),
                            "{p:?} {t:?}"
                        );
                    }
                    Ok(())
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn long_hostile_patterns_neither_recurse_nor_take_long() {
        let pattern = "*a".repeat(20_000);
        let text = "a".repeat(500);
        assert!(!matches(&format!("{pattern}b"), &text));
        assert!(matches(&"*".repeat(200_000), "x"));
    }
}
