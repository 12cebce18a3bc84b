//! Message-schema compatibility: can producers and consumers on different versions of a JSON
//! Schema still exchange messages?
//!
//! The rules follow Confluent's JSON Schema checker (`SchemaDiff.compare(previous, new)` and its
//! `COMPATIBLE_CHANGES`; see `shared/research/plan-ux-and-schema-compat.md`, section 3), each
//! with a stable id listed in [`RULES`]:
//! - **backward**: a reader using the new schema reads messages written with the old one
//!   (upgrade consumers first);
//! - **forward**: a reader using the old schema reads messages written with the new one
//!   (upgrade producers first); the same rules with the roles swapped;
//! - **full**: both; the `_transitive` modes check every earlier version, not only the previous
//!   one; **none** checks nothing.
//!
//! Internally every check asks one question of a *writer* schema and a *reader* schema: could a
//! message valid for the writer be rejected by the reader? Each reason is a [`Breaking`] naming
//! its rule, the JSON pointer of the field in the new schema (the old schema's where the field
//! exists only there) and a sentence for people.
//!
//! Pure functions, no I/O. Local `$ref`s (`#/definitions/..`, `#/$defs/..`, `#`) are resolved,
//! cycles included; other `$ref`s are compared by text. Recursion is bounded by [`MAX_DEPTH`] and
//! total work by [`MAX_STEPS`]; hitting either is reported as a break rather than passed
//! silently. Malformed schemas never panic: non-schema values are read as "accepts anything".

mod engine;
mod keywords;
mod pattern;
mod rules;
mod structure;

use serde_json::Value;

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
    /// Every mode as spelled in the topology file, for "did you mean" help.
    pub const ALL: [&'static str; 7] = [
        "backward",
        "backward_transitive",
        "forward",
        "forward_transitive",
        "full",
        "full_transitive",
        "none",
    ];

    /// The mode spelled `text` (exactly as in [`Mode::ALL`]).
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

    /// The directions this mode checks.
    pub fn directions(&self) -> &'static [Direction] {
        match self {
            Mode::Backward | Mode::BackwardTransitive => &[Direction::Backward],
            Mode::Forward | Mode::ForwardTransitive => &[Direction::Forward],
            Mode::Full | Mode::FullTransitive => &[Direction::Backward, Direction::Forward],
            Mode::None => &[],
        }
    }

    /// Whether each version is checked against all earlier ones, not only the previous one.
    pub fn is_transitive(&self) -> bool {
        matches!(
            self,
            Mode::BackwardTransitive | Mode::ForwardTransitive | Mode::FullTransitive
        )
    }
}

/// Which side would break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// New readers reading old data.
    Backward,
    /// Old readers reading new data.
    Forward,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::Backward => "backward",
            Direction::Forward => "forward",
        }
    }
}

/// One reason a version change breaks compatibility.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaking {
    /// Stable rule id, one of [`RULES`].
    pub rule: &'static str,
    /// JSON pointer into the new schema of the field concerned (into the old schema when the
    /// field exists only there, e.g. a removed property); `""` is the root. `$ref`s are
    /// followed, so a field inside a definition is reported at the definition.
    pub pointer: String,
    /// One sentence for people.
    pub message: String,
    pub direction: Direction,
}

/// All breaking changes from `old` to `new` in one direction (pure, no I/O).
pub fn compare(old: &Value, new: &Value, direction: Direction) -> Vec<Breaking> {
    engine::run(old, new, direction)
        .into_iter()
        .map(|finding| Breaking {
            rule: finding.rule,
            pointer: finding.pointer,
            message: finding.message,
            direction,
        })
        .collect()
}

/// A break between two versions of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionBreak {
    pub from: u64,
    pub to: u64,
    pub breaking: Breaking,
}

/// Check an ordered list of versions (ascending) under a mode: non-transitive modes check each
/// consecutive pair, transitive modes check each version against all earlier ones. `None`
/// checks nothing. Breaks come ordered by `to`, then `from`, then direction (backward first).
pub fn check_versions(versions: &[(u64, &Value)], mode: Mode) -> Vec<VersionBreak> {
    let mut breaks = Vec::new();
    if mode == Mode::None {
        return breaks;
    }
    for (i, (to, new)) in versions.iter().enumerate() {
        let earlier = if mode.is_transitive() {
            versions.get(..i)
        } else {
            versions.get(i.saturating_sub(1)..i)
        };
        for (from, old) in earlier.unwrap_or_default() {
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
