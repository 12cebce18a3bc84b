//! Message-schema compatibility: is version N+1 of a JSON Schema safe for the producers and
//! consumers of a stream that still run version N?
//!
//! The rules follow Confluent's JSON Schema checker (see
//! ../shared/research/plan-ux-and-schema-compat.md, section 3), each with a stable id:
//! - **backward** (new readers read old messages): checked as `compare(old, new)`;
//! - **forward** (old readers read new messages): `compare(new, old)`;
//! - **full**: both; the `_transitive` forms check every earlier version, not only the
//!   previous one; **none** checks nothing.
//!
//! `compare(writer, reader)` asks: can every message valid under `writer` be read by a
//! consumer validating with `reader`? Each difference that could reject such a message is a
//! [`Breaking`], naming its rule and the JSON pointer of the field. Pure functions, no I/O;
//! recursion is bounded ([`MAX_DEPTH`]) so hostile schemas cannot overflow the stack.

mod rules;

use serde_json::Value;

pub use rules::RULES;

/// Deeper schemas are compared down to this depth only.
pub const MAX_DEPTH: usize = 32;

/// Compatibility modes as written in the topology file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

impl Mode {
    pub const ALL: [&'static str; 7] = [
        "backward",
        "backward_transitive",
        "forward",
        "forward_transitive",
        "full",
        "full_transitive",
        "none",
    ];

    pub fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "backward" => Mode::Backward,
            "backward_transitive" => Mode::BackwardTransitive,
            "forward" => Mode::Forward,
            "forward_transitive" => Mode::ForwardTransitive,
            "full" => Mode::Full,
            "full_transitive" => Mode::FullTransitive,
            "none" => Mode::None,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Backward => "backward",
            Mode::BackwardTransitive => "backward_transitive",
            Mode::Forward => "forward",
            Mode::ForwardTransitive => "forward_transitive",
            Mode::Full => "full",
            Mode::FullTransitive => "full_transitive",
            Mode::None => "none",
        }
    }

    fn directions(self) -> &'static [Direction] {
        match self {
            Mode::Backward | Mode::BackwardTransitive => &[Direction::Backward],
            Mode::Forward | Mode::ForwardTransitive => &[Direction::Forward],
            Mode::Full | Mode::FullTransitive => &[Direction::Backward, Direction::Forward],
            Mode::None => &[],
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Mode::BackwardTransitive | Mode::ForwardTransitive | Mode::FullTransitive
        )
    }
}

/// Which side would break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// New readers reading old messages.
    Backward,
    /// Old readers reading new messages.
    Forward,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaking {
    /// Stable rule id (see [`RULES`]).
    pub rule: &'static str,
    /// JSON pointer of the field concerned.
    pub pointer: String,
    /// One sentence for people.
    pub message: String,
    pub direction: Direction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionBreak {
    pub from: u64,
    pub to: u64,
    pub breaking: Breaking,
}

/// Every breaking change from `old` to `new` in one direction.
pub fn compare(old: &Value, new: &Value, direction: Direction) -> Vec<Breaking> {
    let (writer, reader) = match direction {
        Direction::Backward => (old, new),
        Direction::Forward => (new, old),
    };
    let mut found = Vec::new();
    rules::compare(writer, reader, "", 0, &mut found);
    found
        .into_iter()
        .map(|(rule, pointer, message)| Breaking {
            rule,
            pointer,
            message,
            direction,
        })
        .collect()
}

/// Check versions (in ascending order) under a mode: each against the previous one, or with
/// a transitive mode against every earlier one.
pub fn check_versions(versions: &[(u64, &Value)], mode: Mode) -> Vec<VersionBreak> {
    let mut breaks = Vec::new();
    for (i, (to, new)) in versions.iter().enumerate() {
        let earlier = if mode.transitive() {
            &versions[..i]
        } else {
            &versions[i.saturating_sub(1)..i]
        };
        for (from, old) in earlier {
            for direction in mode.directions() {
                breaks.extend(compare(old, new, *direction).into_iter().map(|breaking| {
                    VersionBreak {
                        from: *from,
                        to: *to,
                        breaking,
                    }
                }));
            }
        }
    }
    breaks
}

#[cfg(test)]
mod tests;
