//! `diff` for people (`+ ~ -` lines, destructive and breaking changes marked) and machines.

use serde_json::{Value, json};

use crate::diff::{Break, Diff, Entry};
use crate::plan::Action;

/// One environment's diff with its label (`None` for a file without environments).
pub struct Labelled<'a> {
    pub environment: Option<&'a str>,
    pub diff: &'a Diff,
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    super::plan::Style { colour }.paint(code, text)
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
            out.push_str(&entry_lines(entry, colour));
        }
        out.push('\n');
        out.push_str(&summary(diff, colour));
        out.push('\n');
    }
    out
}

fn entry_lines(entry: &Entry, colour: bool) -> String {
    let (sign, colour_code) = super::plan::symbol(entry.action);
    let name = entry.address.split_once('.').map_or("", |(_, rest)| rest);
    let mut head = format!(
        "{} {} {name}",
        paint(colour, colour_code, sign),
        entry.kind.as_str()
    )
    .trim_end()
    .to_owned();
    if entry.destructive {
        head.push_str(&paint(colour, "1;31", "  (destructive)"));
    }
    if !entry.breaking.is_empty() {
        head.push_str(&paint(colour, "1;35", "  (breaking)"));
    }
    let mut out = format!("  {head}\n      {}\n", entry.reason);
    for detail in &entry.details {
        out.push_str(&format!("        {detail}\n"));
    }
    for b in &entry.breaking {
        out.push_str(&format!("        {}\n", break_line(b)));
    }
    out
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
    let mut line = format!(
        "Diff: {} to create, {} to update, {} to delete.",
        diff.count(Action::Create),
        diff.count(Action::Update) + diff.count(Action::Replace),
        diff.count(Action::Delete)
    );
    let (destructive, breaking) = (diff.destructive(), diff.breaking());
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

/// `{format_version, old, new, environments: [{environment, changes, summary}]}`.
pub fn json(old: &str, new: &str, diffs: &[Labelled]) -> Value {
    json!({
        "format_version": 1,
        "old": old,
        "new": new,
        "environments": diffs.iter().map(|l| json!({
            "environment": l.environment,
            "changes": l.diff.entries,
            "summary": {
                "create": l.diff.count(Action::Create),
                "update": l.diff.count(Action::Update) + l.diff.count(Action::Replace),
                "delete": l.diff.count(Action::Delete),
                "destructive": l.diff.destructive(),
                "breaking": l.diff.breaking(),
            },
        })).collect::<Vec<_>>(),
    })
}
