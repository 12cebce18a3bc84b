//! `diff` for people (`+ ~ -` lines, destructive and breaking changes marked) and machines.

use serde_json::{Value, json};

use super::change::{Mark, Style};
use crate::change::Tally;
use crate::diff::{Break, Diff, Entry};

/// One environment's diff with its label (`None` for a file without environments).
pub struct Labelled<'a> {
    pub environment: Option<&'a str>,
    pub diff: &'a Diff,
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    Style { colour }.paint(code, text)
}

pub fn human(old: &str, new: &str, diffs: &[Labelled], colour: bool) -> String {
    let mut out = String::new();
    for labelled in diffs {
        let scope = labelled
            .environment
            .map_or_else(String::new, |env| format!(" (environment `{env}`)"));
        let diff = labelled.diff;
        if diff.entries.is_empty() {
            out.push_str(&format!("No changes from {old} to {new}{scope}.\n"));
            continue;
        }
        out.push_str(&format!("Changes from {old} to {new}{scope}:\n\n"));
        for entry in &diff.entries {
            write_entry(&mut out, entry, &Style { colour });
        }
        out.push('\n');
        out.push_str(&summary(diff, colour));
        out.push('\n');
    }
    out
}

/// The `(breaking)` mark after a change that breaks producers or consumers.
const BREAKING: Mark = Mark {
    text: "  (breaking)",
    colour: "1;35",
};

/// One change's lines: the common part, then its breaks.
fn write_entry(out: &mut String, entry: &Entry, style: &Style) {
    let marks: &[Mark] = if entry.breaking().is_empty() {
        &[]
    } else {
        &[BREAKING]
    };
    super::change::write_human(out, entry, style, marks);
    for b in entry.breaking() {
        out.push_str(&format!("        {}\n", break_line(b)));
    }
}

/// `[rule] schema v1 → v2 (backward) at /pointer: message`
pub fn break_line(b: &Break) -> String {
    let pointer = if b.pointer.is_empty() {
        "(root)"
    } else {
        &b.pointer
    };
    format!(
        "[{}] {} v{} → v{} ({}) at {pointer}: {}",
        b.rule, b.schema, b.from_version, b.to_version, b.direction, b.message
    )
}

fn summary(diff: &Diff, colour: bool) -> String {
    let tally = Tally::of(&diff.entries);
    let mut line = format!(
        "Diff: {} to create, {} to update, {} to delete.",
        tally.create, tally.update, tally.delete
    );
    let (destructive, breaking) = (tally.destructive, diff.breaking());
    if destructive > 0 {
        line.push_str(&paint(
            colour,
            "1;31",
            &format!(" {destructive} destructive."),
        ));
    }
    if breaking > 0 {
        line.push_str(&paint(colour, "1;35", &format!(" {breaking} breaking.")));
    }
    line.push('\n');
    line
}

/// An environment's JSON `summary`: changes to create, update and delete, and how many are
/// destructive or breaking.
fn summary_json(diff: &Diff) -> Value {
    let tally = Tally::of(&diff.entries);
    json!({
        "create": tally.create,
        "update": tally.update,
        "delete": tally.delete,
        "destructive": tally.destructive,
        "breaking": diff.breaking(),
    })
}

/// `{format_version, old, new, environments: [{environment, changes, summary}]}`.
pub fn json(old: &str, new: &str, diffs: &[Labelled]) -> Value {
    json!({
        "format_version": 1,
        "old": old,
        "new": new,
        "environments": diffs.iter().map(|l| json!({
            "environment": l.environment,
            "changes": l.diff.entries,
            "summary": summary_json(l.diff),
        })).collect::<Vec<_>>(),
    })
}
