//! Pull-request comments (`--format markdown` of `plan` and `diff`): read in ten seconds.
//!
//! A title, one summary table, then what needs a reviewer's attention (destructive and
//! breaking changes) as a list, then every change in a collapsed section. Only what the human
//! renderers show: placeholders for password hashes, the record summarised, so no secret.

use super::change::{code, in_block, markdown_name, write_markdown};
use super::diff::{Labelled, break_line};
use super::plan::{PlanTarget, show_command};
use crate::change::Action;
use crate::diff::Entry;
use crate::plan::{Change, Plan};

/// Text in a table cell or list item: no pipes or line breaks that would split it, and no
/// control characters (see [`in_block`]).
fn cell(text: &str) -> String {
    in_block(text).replace('|', "\\|")
}

pub fn plan(plan: &Plan, target: &PlanTarget) -> String {
    let scope = match target.environment {
        Some(env) => format!(
            "namespace {}, environment {}",
            code(target.namespace),
            code(env)
        ),
        None => format!("namespace {}", code(target.namespace)),
    };
    let mut out = format!(
        "### redis-topology plan for {} ({scope})\n\n",
        code(target.url)
    );
    if let Some(deployment) = &target.deployment {
        out.push_str(&format!("Deployment: {}\n\n", cell(&deployment.line())));
    }
    if plan.is_empty() {
        out.push_str("No changes: the server matches the topology.\n");
        notes(&plan.notes, &mut out);
        return out;
    }
    let destructive: Vec<&Change> = plan.changes.iter().filter(|c| c.destructive).collect();
    out.push_str("| create | update | delete | destructive |\n|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| {} | {} | {} | {} |\n\n",
        plan.count(Action::Create),
        plan.count(Action::Update) + plan.count(Action::Replace),
        plan.count(Action::Delete),
        if destructive.is_empty() {
            "0".to_owned()
        } else {
            format!("**{}** ⚠️", destructive.len())
        }
    ));
    if !destructive.is_empty() {
        out.push_str("#### ⚠️ Destructive\n\n");
        for change in &destructive {
            out.push_str(&format!(
                "- {} {}\n",
                markdown_name(change),
                cell(&change.reason)
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "<details><summary>All {}</summary>\n\n```diff\n",
        crate::text::count(plan.changes.len(), "change")
    ));
    for change in &plan.changes {
        write_markdown(&mut out, change);
        for op in change.ops() {
            out.push_str(&format!("    {}\n", in_block(&show_command(op))));
        }
    }
    out.push_str("```\n\n</details>\n");
    notes(&plan.notes, &mut out);
    out
}

fn notes(notes: &[String], out: &mut String) {
    if notes.is_empty() {
        return;
    }
    out.push_str("\n**Notes**\n\n");
    for note in notes {
        out.push_str(&format!("- {}\n", cell(note)));
    }
}

pub fn diff(old: &str, new: &str, diffs: &[Labelled]) -> String {
    let mut out = format!("### redis-topology diff: {} → {}\n\n", code(old), code(new));
    if diffs.iter().all(|l| l.diff.entries.is_empty()) {
        out.push_str("No changes.\n");
        return out;
    }
    let label = |l: &Labelled| {
        l.environment
            .map_or_else(|| "(no environments)".to_owned(), code)
    };
    let (destructive, breaking): (usize, usize) = diffs.iter().fold((0, 0), |(d, b), l| {
        (d + l.diff.destructive(), b + l.diff.breaking())
    });
    if destructive + breaking > 0 {
        out.push_str(&format!(
            "> ⚠️ **{destructive} destructive** and **{breaking} breaking** change(s): review them before merging.\n\n"
        ));
    }
    out.push_str("| environment | create | update | delete | destructive | breaking |\n|---|---:|---:|---:|---:|---:|\n");
    for l in diffs {
        let d = l.diff;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            label(l),
            d.count(Action::Create),
            d.count(Action::Update) + d.count(Action::Replace),
            d.count(Action::Delete),
            d.destructive(),
            d.breaking()
        ));
    }
    out.push('\n');
    if destructive + breaking > 0 {
        out.push_str("#### ⚠️ Destructive and breaking\n\n");
        for l in diffs {
            for entry in l
                .diff
                .entries
                .iter()
                .filter(|e| e.destructive || !e.breaking().is_empty())
            {
                attention(&label(l), entry, &mut out);
            }
        }
        out.push('\n');
    }
    for l in diffs.iter().filter(|l| !l.diff.entries.is_empty()) {
        // Markdown is not rendered inside <summary>: plain text there.
        out.push_str(&format!(
            "<details><summary>{}: {}</summary>\n\n```diff\n",
            l.environment.unwrap_or("all"),
            crate::text::count(l.diff.entries.len(), "change")
        ));
        for entry in &l.diff.entries {
            write_markdown(&mut out, entry);
            for b in entry.breaking() {
                out.push_str(&format!("      {}\n", break_line(b)));
            }
        }
        out.push_str("```\n\n</details>\n\n");
    }
    out
}

fn attention(env: &str, entry: &Entry, out: &mut String) {
    let what = markdown_name(entry);
    if entry.destructive {
        out.push_str(&format!(
            "- {env} {what} **destructive**: {}\n",
            cell(&entry.reason)
        ));
    }
    for b in entry.breaking() {
        out.push_str(&format!(
            "- {env} {what} **breaking**: {}\n",
            cell(&break_line(b))
        ));
    }
}
