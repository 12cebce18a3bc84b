//! What plan and diff print alike for a change: the `+ ~ -` line with the kind, name and
//! marks, the reason and the details, for people and in pull-request comments. What only one
//! of them prints under it (a plan's commands, a diff's breaks) its own renderer adds.

use std::fmt::Write as _;

use super::plan::shown;
use crate::change::{Action, Change};

/// ANSI colour, only when it is on (see [`super::use_colour`]).
pub(crate) struct Style {
    pub colour: bool,
}

impl Style {
    pub(crate) fn paint(&self, code: &str, text: &str) -> String {
        let mut out = String::new();
        self.paint_into(&mut out, code, |out| out.push_str(text));
        out
    }

    /// Append what `write` appends, in colour `code` when colour is on.
    pub(crate) fn paint_into(&self, out: &mut String, code: &str, write: impl FnOnce(&mut String)) {
        if self.colour {
            let _ = write!(out, "\x1b[{code}m");
        }
        write(out);
        if self.colour {
            out.push_str("\x1b[0m");
        }
    }
}

/// The action's sign and its ANSI colour (green, yellow, red, magenta).
pub(crate) fn symbol(action: Action) -> (&'static str, &'static str) {
    let colour = match action {
        Action::Create => "32",
        Action::Update => "33",
        Action::Delete => "31",
        Action::Replace => "35",
    };
    (action.sign(), colour)
}

/// A mark after a change's line, `  (destructive)`, and its colour.
pub(crate) struct Mark {
    pub text: &'static str,
    pub colour: &'static str,
}

pub(crate) const DESTRUCTIVE: Mark = Mark {
    text: "  (destructive)",
    colour: "1;31",
};

/// A change for people, appended to `out` piece by piece (a plan may hold 30,000 changes,
/// and building each line as its own string first took longer than writing it):
///
/// ```text
///   ~ kind name  (destructive)<marks>
///       reason
///         detail
/// ```
pub(crate) fn write_human<X>(out: &mut String, change: &Change<X>, style: &Style, marks: &[Mark]) {
    let (sign, colour) = symbol(change.action);
    out.push_str("  ");
    style.paint_into(out, colour, |out| out.push_str(sign));
    out.push(' ');
    out.push_str(change.kind.as_str());
    if let Some((_, name)) = change.address.split_once('.')
        && !name.is_empty()
    {
        let _ = write!(out, " {}", shown(name));
    }
    let destructive = change.destructive.then_some(&DESTRUCTIVE);
    for mark in destructive.into_iter().chain(marks) {
        style.paint_into(out, mark.colour, |out| out.push_str(mark.text));
    }
    let _ = writeln!(out, "\n      {}", shown(&change.reason));
    for detail in &change.details {
        let _ = writeln!(out, "        {}", shown(detail));
    }
}

/// A change in a pull-request comment's ```` ```diff ```` block:
///
/// ```text
/// ~ address
///     reason
///       detail
/// ```
pub(crate) fn write_markdown<X>(out: &mut String, change: &Change<X>) {
    let _ = writeln!(
        out,
        "{} {}\n    {}",
        change.action.sign(),
        in_block(&change.address),
        in_block(&change.reason)
    );
    for detail in &change.details {
        let _ = writeln!(out, "      {}", in_block(detail));
    }
}

/// `` `~ address` ``: a change named in a pull-request comment's list.
pub(crate) fn markdown_name<X>(change: &Change<X>) -> String {
    code(&format!(
        "{} {}",
        change.action.sign(),
        shown(&change.address)
    ))
}

/// Text inside a code span: backticks would end it early.
pub(crate) fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

/// Text inside a fenced code block: on one line, control characters escaped, and no run of
/// backticks that could close the block (the reasons and details of a plan quote what the
/// server and the record said, which whoever can write them chooses).
pub(crate) fn in_block(text: &str) -> String {
    shown(text).replace("```", "'''")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Kind;
    use crate::diff::Diff;
    use crate::plan::Plan;
    use crate::render::diff::Labelled;
    use crate::render::plan::PlanTarget;

    const FORGED: &str = "kept\nerror: forged line\u{1b}[2K```";

    fn forged<X>(extra: X) -> Change<X> {
        Change {
            address: format!("group.s.{FORGED}"),
            kind: Kind::Group,
            action: Action::Delete,
            destructive: true,
            before: None,
            after: None,
            reason: FORGED.into(),
            details: vec![FORGED.to_owned()],
            extra,
        }
    }

    /// No escape sequence and no line of its own.
    fn assert_not_forged(text: &str) {
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("error:")), "{text}");
    }

    /// In markdown, also no fence but the code block's own.
    fn assert_markdown_not_forged(text: &str) {
        assert_not_forged(text);
        assert_eq!(text.matches("```").count(), 2, "{text}");
    }

    /// Text the server or the record chose (a plan) or a file holds (a diff) cannot add a
    /// line, move the cursor, or close a pull-request comment's code block.
    #[test]
    fn quoted_text_cannot_forge_lines_or_close_blocks() {
        let plan = Plan {
            namespace: "ns".to_owned(),
            environment: None,
            changes: vec![forged(Vec::new())],
            notes: vec![FORGED.to_owned()],
        };
        let target = PlanTarget {
            url: "redis://127.0.0.1:6379",
            namespace: "ns",
            environment: None,
            deployment: Some(crate::render::plan::DeploymentShown {
                kind: "sentinel",
                master_name: Some(FORGED.to_owned()),
                primaries: vec!["127.0.0.1:6379".to_owned()],
                replicas: Vec::new(),
            }),
        };
        assert_not_forged(&crate::render::plan::human(&plan, &target, false));
        assert_markdown_not_forged(&crate::render::markdown::plan(&plan, &target, None));
        let diff = Diff {
            environment: None,
            entries: vec![forged(Vec::new())],
        };
        let labelled = [Labelled {
            environment: None,
            diff: &diff,
        }];
        let human = crate::render::diff::human("old", "new", &labelled, false);
        assert_not_forged(&human);
        assert!(human.contains("  - group s.kept\\nerror"), "{human}");
        assert_markdown_not_forged(&crate::render::markdown::diff("old", "new", &labelled, &[]));
    }
}
