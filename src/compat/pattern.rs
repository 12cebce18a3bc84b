//! A small subset of ECMA-262 regular expressions. It answers one question: does a property name
//! match a `patternProperties` key?
//!
//! Why not a regex crate: the compatibility module has to stay dependency-free (serde_json only).
//! Why this is safe: the answer is `None` for any syntax outside the subset (lookaround,
//! backreferences, `\b`, `\p{..}`, ...) and for inputs past the size limits, and callers then
//! assume whichever answer is more conservative. Matching runs on sets of positions rather than by
//! backtracking, so pathological patterns such as `(a+)+$` cannot take exponential time.
//!
//! Supported: literals, `.`, `^`, `$`, `[...]` and `[^...]` classes with ranges, `\d \D \w \W \s
//! \S`, escaped punctuation, `\t \n \r \f \v \0`, groups `(...)` and `(?:...)`, `|`, and the
//! quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy: for "is there a match" it does not matter).

/// Longer patterns are not interpreted.
const MAX_PATTERN_CHARS: usize = 1_000;
/// Longer names are not matched.
const MAX_TEXT_CHARS: usize = 256;
/// Larger repetition counts are not interpreted.
const MAX_REPEAT: u32 = 1_000;
/// Deeper group nesting is not interpreted.
const MAX_GROUP_DEPTH: usize = 32;
/// Work limit, in position-set cells visited, for one match.
const MAX_WORK: usize = 1_000_000;

/// Whether `pattern` matches somewhere in `text` (JSON Schema patterns are not anchored), or
/// `None` when the pattern is outside the supported subset or too expensive to decide.
pub(super) fn find(pattern: &str, text: &str) -> Option<bool> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return None;
    }
    let text: Vec<char> = text.chars().collect();
    if text.len() > MAX_TEXT_CHARS {
        return None;
    }
    let alternation = Parser::new(pattern).parse()?;
    let mut matcher = Matcher {
        text: &text,
        work: 0,
    };
    let everywhere = vec![true; text.len() + 1];
    let ends = matcher.alternation(&alternation, &everywhere)?;
    Some(ends.contains(&true))
}

/// One element of a pattern.
#[derive(Debug)]
enum Item {
    Char(char),
    /// `.`: anything but a line terminator.
    Dot,
    Class(Class),
    Start,
    End,
    Group(Vec<Vec<Item>>),
    Repeat {
        item: Box<Item>,
        min: u32,
        max: Option<u32>,
    },
}

#[derive(Debug)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        let inside = self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
        inside != self.negated
    }
}

const DIGITS: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
const SPACE: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
    ('\u{feff}', '\u{feff}'),
];

/// What a backslash escape stands for.
enum Escape {
    Char(char),
    Ranges(&'static [(char, char)], bool),
}

/// Reads the escape after a backslash (the backslash already consumed); `None` if unsupported.
fn escape(c: char) -> Option<Escape> {
    Some(match c {
        'd' => Escape::Ranges(DIGITS, false),
        'D' => Escape::Ranges(DIGITS, true),
        'w' => Escape::Ranges(WORD, false),
        'W' => Escape::Ranges(WORD, true),
        's' => Escape::Ranges(SPACE, false),
        'S' => Escape::Ranges(SPACE, true),
        't' => Escape::Char('\t'),
        'n' => Escape::Char('\n'),
        'r' => Escape::Char('\r'),
        'f' => Escape::Char('\u{c}'),
        'v' => Escape::Char('\u{b}'),
        '0' => Escape::Char('\0'),
        c if c.is_ascii_punctuation() => Escape::Char(c),
        _ => return None,
    })
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn new(pattern: &str) -> Parser {
        Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    /// The whole pattern; `None` if anything is left over or unsupported.
    fn parse(mut self) -> Option<Vec<Vec<Item>>> {
        let alternation = self.alternation()?;
        self.peek().is_none().then_some(alternation)
    }

    fn alternation(&mut self) -> Option<Vec<Vec<Item>>> {
        let mut branches = vec![self.sequence()?];
        while self.eat('|') {
            branches.push(self.sequence()?);
        }
        Some(branches)
    }

    fn sequence(&mut self) -> Option<Vec<Item>> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Some(items)
    }

    fn atom(&mut self) -> Option<Item> {
        Some(match self.bump()? {
            '^' => Item::Start,
            '$' => Item::End,
            '.' => Item::Dot,
            '(' => self.group()?,
            '[' => Item::Class(self.class()?),
            '\\' => match escape(self.bump()?)? {
                Escape::Char(c) => Item::Char(c),
                Escape::Ranges(ranges, negated) => Item::Class(Class {
                    negated,
                    ranges: ranges.to_vec(),
                }),
            },
            // Nothing to repeat, or `{` whose meaning depends on what follows: not interpreted.
            '*' | '+' | '?' | '{' => return None,
            c => Item::Char(c),
        })
    }

    fn group(&mut self) -> Option<Item> {
        if self.eat('?') && !self.eat(':') {
            return None; // lookaround and named groups
        }
        self.depth += 1;
        if self.depth > MAX_GROUP_DEPTH {
            return None;
        }
        let alternation = self.alternation()?;
        self.depth -= 1;
        self.eat(')').then_some(Item::Group(alternation))
    }

    fn class(&mut self) -> Option<Class> {
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        loop {
            let lo = match self.bump()? {
                ']' => return Some(Class { negated, ranges }),
                '\\' => match escape(self.bump()?)? {
                    Escape::Char(c) => c,
                    Escape::Ranges(set, false) => {
                        ranges.extend_from_slice(set);
                        continue;
                    }
                    Escape::Ranges(_, true) => return None,
                },
                c => c,
            };
            let is_range = self.peek() == Some('-') && self.chars.get(self.pos + 1) != Some(&']');
            if !is_range {
                ranges.push((lo, lo));
                continue;
            }
            self.pos += 1;
            let hi = match self.bump()? {
                '\\' => match escape(self.bump()?)? {
                    Escape::Char(c) => c,
                    Escape::Ranges(..) => return None,
                },
                c => c,
            };
            if lo > hi {
                return None;
            }
            ranges.push((lo, hi));
        }
    }

    fn quantified(&mut self, atom: Item) -> Option<Item> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => return self.braces(atom),
            _ => return Some(atom),
        };
        self.pos += 1;
        self.repeat(atom, min, max)
    }

    fn braces(&mut self, atom: Item) -> Option<Item> {
        self.pos += 1;
        let min = self.number()?;
        let max = if self.eat(',') {
            if self.peek() == Some('}') {
                None
            } else {
                Some(self.number()?)
            }
        } else {
            Some(min)
        };
        if !self.eat('}') || max.is_some_and(|max| max < min) {
            return None;
        }
        self.repeat(atom, min, max)
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars.get(start..self.pos)?.iter().collect();
        digits.parse().ok().filter(|n| *n <= MAX_REPEAT)
    }

    fn repeat(&mut self, atom: Item, min: u32, max: Option<u32>) -> Option<Item> {
        self.eat('?'); // lazy: same set of matches
        let repeatable = !matches!(atom, Item::Start | Item::End | Item::Repeat { .. });
        let followed_by_quantifier = matches!(self.peek(), Some('*' | '+' | '?' | '{'));
        (repeatable && !followed_by_quantifier).then(|| Item::Repeat {
            item: Box::new(atom),
            min,
            max,
        })
    }
}

/// Runs items over sets of text positions: `set[i]` means "a match can be at position i".
struct Matcher<'t> {
    text: &'t [char],
    work: usize,
}

impl Matcher<'_> {
    fn charge(&mut self) -> Option<()> {
        self.work += self.text.len() + 1;
        (self.work <= MAX_WORK).then_some(())
    }

    fn alternation(&mut self, branches: &[Vec<Item>], start: &[bool]) -> Option<Vec<bool>> {
        let mut ends = vec![false; start.len()];
        for branch in branches {
            let reached = self.sequence(branch, start)?;
            union(&mut ends, &reached);
        }
        Some(ends)
    }

    fn sequence(&mut self, items: &[Item], start: &[bool]) -> Option<Vec<bool>> {
        let mut current = start.to_vec();
        for item in items {
            if !current.contains(&true) {
                break;
            }
            current = self.item(item, &current)?;
        }
        Some(current)
    }

    fn item(&mut self, item: &Item, start: &[bool]) -> Option<Vec<bool>> {
        self.charge()?;
        let mut out = vec![false; start.len()];
        match item {
            Item::Char(c) => self.step(start, &mut out, |x| x == *c),
            Item::Dot => self.step(start, &mut out, |x| {
                !matches!(x, '\n' | '\r' | '\u{2028}' | '\u{2029}')
            }),
            Item::Class(class) => self.step(start, &mut out, |x| class.contains(x)),
            Item::Start => copy_at(start, &mut out, 0),
            Item::End => copy_at(start, &mut out, self.text.len()),
            Item::Group(branches) => return self.alternation(branches, start),
            Item::Repeat { item, min, max } => return self.repeat(item, *min, *max, start),
        }
        Some(out)
    }

    fn step(&self, start: &[bool], out: &mut [bool], accepts: impl Fn(char) -> bool) {
        for (i, c) in self.text.iter().enumerate() {
            if start.get(i) == Some(&true)
                && accepts(*c)
                && let Some(cell) = out.get_mut(i + 1)
            {
                *cell = true;
            }
        }
    }

    /// Exactly `min` rounds, then more rounds until `max` or until no new position is reached
    /// (each round only needs to extend from the positions first reached in the round before).
    fn repeat(
        &mut self,
        item: &Item,
        min: u32,
        max: Option<u32>,
        start: &[bool],
    ) -> Option<Vec<bool>> {
        let mut current = start.to_vec();
        for _ in 0..min {
            if !current.contains(&true) {
                return Some(current);
            }
            current = self.item(item, &current)?;
        }
        let mut reached = current.clone();
        let mut frontier = current;
        let mut rounds = min;
        while max.is_none_or(|max| rounds < max) {
            let next = self.item(item, &frontier)?;
            let fresh: Vec<bool> = next
                .iter()
                .zip(&reached)
                .map(|(n, seen)| *n && !*seen)
                .collect();
            if !fresh.contains(&true) {
                break;
            }
            union(&mut reached, &fresh);
            frontier = fresh;
            rounds += 1;
        }
        Some(reached)
    }
}

fn union(into: &mut [bool], from: &[bool]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a |= *b;
    }
}

fn copy_at(start: &[bool], out: &mut [bool], at: usize) {
    if let (Some(cell), Some(source)) = (out.get_mut(at), start.get(at)) {
        *cell = *source;
    }
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn supported_patterns_match_like_ecmascript() {
        let cases: &[(&str, &str, bool)] = &[
            ("^x-", "x-trace", true),
            ("^x-", "ax-trace", false),
            ("x-", "ax-trace", true),
            ("^[a-z]+_id$", "user_id", true),
            ("^[a-z]+_id$", "User_id", false),
            ("^\\d{3}$", "123", true),
            ("^\\d{3}$", "1234", false),
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
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(find(pattern, text), Some(*expected), "{pattern} on {text}");
        }
    }

    #[test]
    fn unsupported_or_malformed_patterns_are_unknown() {
        for pattern in [
            "(?=x)", "\\bword", "(a)\\1", "\\p{L}", "a**", "*a", "(", "[a", "a{2,1}", "[z-a]",
            "a{99999}", "x{",
        ] {
            assert_eq!(find(pattern, "x"), None, "{pattern}");
        }
        let long = "a".repeat(300);
        assert_eq!(find("a", &long), None);
    }
}
