//! Pull-request comments (`--format markdown` of `plan` and `diff`): read in ten seconds.
//!
//! A title, one summary table, then what needs a reviewer's attention (destructive and
//! breaking changes) as a list, then every change in a collapsed section, then (when there
//! are changes) the Mermaid diagram of the topology in another collapsed section: GitHub draws
//! it in the comment, and collapsed it costs a reviewer nothing. Only what the human renderers
//! show: placeholders for password hashes, the record summarised, so no secret.

use super::change::{code, in_block, markdown_name, write_markdown};
use super::diff::{Labelled, break_line};
use super::plan::{PlanTarget, show_command};
use crate::change::Tally;
use crate::diff::Entry;
use crate::graph::Graph;
use crate::plan::{Change, Plan};

/// The longest Mermaid text drawn in a comment: GitHub draws up to 50,000 characters of
/// Mermaid and keeps comments under 65,536; a larger diagram is left out with a note.
const DIAGRAM_MAX_CHARS: usize = 40_000;

/// The collapsed section of a diagram (`summary` is plain text: Markdown is not rendered
/// inside `<summary>`), or a note when the diagram is too large to draw in a comment.
fn diagram(out: &mut String, summary: &str, mermaid: &str) {
    let summary = summary
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    if mermaid.len() > DIAGRAM_MAX_CHARS {
        out.push_str(&format!(
            "\n{}: left out, {} characters of Mermaid are more than a comment draws; `redis-topology graph` prints it.\n",
            in_block(&summary),
            mermaid.len()
        ));
        return;
    }
    out.push_str(&format!(
        "\n<details><summary>{}</summary>\n\n```mermaid\n{mermaid}```\n\n</details>\n",
        in_block(&summary)
    ));
}

/// Text in a table cell or list item: no pipes or line breaks that would split it, and no
/// control characters (see [`in_block`]).
fn cell(text: &str) -> String {
    in_block(text).replace('|', "\\|")
}

/// The plan as a comment; with `graph`, the topology's diagram after the changes (see the
/// module's comment).
pub fn plan(plan: &Plan, target: &PlanTarget, graph: Option<&Graph>) -> String {
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
    let tally = Tally::of(&plan.changes);
    out.push_str("| create | update | delete | destructive |\n|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| {} | {} | {} | {} |\n\n",
        tally.create,
        tally.update,
        tally.delete,
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
    if let Some(graph) = graph {
        let mermaid = super::mermaid::mermaid(graph);
        diagram(&mut out, DIAGRAM_SUMMARY, &mermaid);
    }
    notes(&plan.notes, &mut out);
    out
}

/// The title of a diagram's section.
const DIAGRAM_SUMMARY: &str = "Diagram: who writes, reads and consumes each stream";

fn notes(notes: &[String], out: &mut String) {
    if notes.is_empty() {
        return;
    }
    out.push_str("\n**Notes**\n\n");
    for note in notes {
        out.push_str(&format!("- {}\n", cell(note)));
    }
}

/// The diff as a comment; `graphs` are NEW's, one per diff in the same order: each
/// environment with changes gets its diagram after the changes (environments that draw the
/// same diagram share one), see the module's comment. Empty: no diagram.
pub fn diff(old: &str, new: &str, diffs: &[Labelled], graphs: &[Graph]) -> String {
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
        let tally = Tally::of(&l.diff.entries);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            label(l),
            tally.create,
            tally.update,
            tally.delete,
            tally.destructive,
            l.diff.breaking()
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
    // Each distinct diagram once, with the environments that draw it.
    let mut drawn: Vec<(Vec<&str>, String)> = Vec::new();
    for (l, graph) in diffs.iter().zip(graphs) {
        if l.diff.entries.is_empty() {
            continue;
        }
        let mermaid = super::mermaid::mermaid(graph);
        let env = l.environment.unwrap_or("all");
        match drawn.iter_mut().find(|(_, text)| *text == mermaid) {
            Some((envs, _)) => envs.push(env),
            None => drawn.push((vec![env], mermaid)),
        }
    }
    for (envs, mermaid) in &drawn {
        let summary = format!("{DIAGRAM_SUMMARY} in {new} ({})", envs.join(", "));
        diagram(&mut out, &summary, mermaid);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagram_is_collapsed_and_a_huge_one_is_a_note() {
        let mut out = String::new();
        diagram(
            &mut out,
            "in <b>new</b> (a|b)",
            "flowchart LR\n  s1[(\"x\")]\n",
        );
        assert_eq!(
            out,
            "\n<details><summary>in &lt;b&gt;new&lt;/b&gt; (a|b)</summary>\n\n```mermaid\nflowchart LR\n  s1[(\"x\")]\n```\n\n</details>\n"
        );
        let mut out = String::new();
        diagram(&mut out, "big", &"x".repeat(DIAGRAM_MAX_CHARS + 1));
        assert_eq!(
            out,
            "\nbig: left out, 40001 characters of Mermaid are more than a comment draws; `redis-topology graph` prints it.\n"
        );
    }
}
