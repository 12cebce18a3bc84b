//! Plans for people (Terraform-like `+ ~ -` lines) and for machines (the contract's JSON).

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::plan::{Action, Change, Kind, Plan};

/// Where a plan applies, for headers and the JSON `target` object.
pub struct PlanTarget<'a> {
    pub url: &'a str,
    pub namespace: &'a str,
    pub environment: Option<&'a str>,
}

/// ANSI colour, only when it is on (see [`super::use_colour`]).
pub(crate) struct Style {
    pub colour: bool,
}

impl Style {
    pub(crate) fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
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

/// The human plan: one line per change with its reason, the commands under it, notes, and a
/// summary line.
pub fn human(plan: &Plan, target: &PlanTarget, colour: bool) -> String {
    let style = Style { colour };
    // Room for every line up front: a plan of 30,000 changes renders to megabytes, and a
    // string grown by doubling would copy it over and over (room never written costs nothing).
    let mut out = String::with_capacity(256 + plan.changes.len() * 160);
    let scope = match target.environment {
        Some(env) => format!("namespace `{}`, environment `{env}`", target.namespace),
        None => format!("namespace `{}`", target.namespace),
    };
    if plan.is_empty() {
        out.push_str(&format!(
            "No changes. {} ({scope}) matches the topology.\n",
            target.url
        ));
    } else {
        out.push_str(&format!("Planned changes on {} ({scope}):\n\n", target.url));
        for change in &plan.changes {
            write_change(&mut out, change, &style);
        }
    }
    if !plan.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for note in &plan.notes {
            out.push_str(&format!("  • {note}\n"));
        }
    }
    if !plan.is_empty() {
        out.push('\n');
        out.push_str(&summary_line(plan, &style));
    }
    out
}

fn write_change(out: &mut String, change: &Change, style: &Style) {
    let (sign, colour) = symbol(change.action);
    let kind = match change.kind {
        Kind::Stream => "stream",
        Kind::Group => "group",
        Kind::Retention => "retention",
        Kind::User => "user",
        Kind::Record => "record",
    };
    let name = change.address.split_once('.').map_or("", |(_, rest)| rest);
    let mut head = format!("{} {kind} {name}", style.paint(colour, sign))
        .trim_end()
        .to_owned();
    if change.destructive {
        head.push_str(&style.paint("1;31", "  (destructive)"));
    }
    let _ = writeln!(out, "  {head}\n      {}", change.reason);
    for detail in &change.details {
        let _ = writeln!(out, "        {detail}");
    }
    for command in &change.commands {
        let _ = writeln!(
            out,
            "      {}",
            style.paint("2", &show_command(change, command))
        );
    }
}

/// A command as shown to people: the record's JSON document is summarised.
pub(crate) fn show_command(change: &Change, command: &[String]) -> String {
    if change.kind == Kind::Record && command.first().is_some_and(|c| c == "SET") {
        let key = command.get(1).map_or("", String::as_str);
        return format!("SET {key} <record>");
    }
    command
        .iter()
        .map(|part| quote(part))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(part: &str) -> String {
    if part.is_empty() || part.contains(|c: char| c.is_whitespace() || c == '"') {
        format!("{part:?}")
    } else {
        part.to_owned()
    }
}

fn summary_line(plan: &Plan, style: &Style) -> String {
    let destructive = plan.changes.iter().filter(|c| c.destructive).count();
    let mut line = format!(
        "Plan: {} to create, {} to update, {} to delete.",
        plan.count(Action::Create),
        plan.count(Action::Update) + plan.count(Action::Replace),
        plan.count(Action::Delete)
    );
    if destructive > 0 {
        line.push_str(&style.paint("1;31", &format!(" {destructive} destructive.")));
    }
    line.push('\n');
    line
}

/// The contract's JSON: `{format_version, target, changes, notes, summary}`.
pub fn json(plan: &Plan, target: &PlanTarget) -> Value {
    json!({
        "format_version": 1,
        "target": {
            "url": target.url,
            "namespace": target.namespace,
            "environment": target.environment,
        },
        "changes": plan.changes.iter().map(|c| json!({
            "address": c.address,
            "kind": c.kind,
            "action": c.action,
            "destructive": c.destructive,
            "before": c.before,
            "after": c.after,
            "commands": c.commands,
            "reason": c.reason,
            "details": c.details,
        })).collect::<Vec<_>>(),
        "notes": plan.notes,
        "summary": {
            "create": plan.count(Action::Create),
            "update": plan.count(Action::Update) + plan.count(Action::Replace),
            "delete": plan.count(Action::Delete),
        },
    })
}
