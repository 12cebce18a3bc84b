//! Plans for people (Terraform-like `+ ~ -` lines) and for machines (the contract's JSON).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::change::Style;
use crate::change::Tally;
use crate::plan::ops::RecordArg;
use crate::plan::{Change, Op, Plan};

/// Where a plan applies, for headers and the JSON `target` object.
pub struct PlanTarget<'a> {
    pub url: &'a str,
    pub namespace: &'a str,
    pub environment: Option<&'a str>,
    /// The deployment, when it is more than one server or was found through Sentinel
    /// (`None`: one server, and the header is as it always was).
    pub deployment: Option<DeploymentShown>,
}

/// A deployment of several nodes, as the plan's header names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentShown {
    /// `replicated` (a primary with replicas), `sentinel` or `cluster`.
    pub kind: &'static str,
    /// The master name the sentinels were asked for.
    pub master_name: Option<String>,
    /// The nodes' addresses (`host:port`).
    pub primaries: Vec<String>,
    pub replicas: Vec<String>,
}

impl DeploymentShown {
    /// One line: `primary 127.0.0.1:7000 with replicas 127.0.0.1:7001, 127.0.0.1:7002`,
    /// `Sentinel master `mymaster`: primary ...`, `Redis Cluster: 3 primaries (...), 3
    /// replicas (...)`.
    pub fn line(&self) -> String {
        let replicas = match self.replicas.as_slice() {
            [] => ", no replicas".to_owned(),
            [one] => format!(" with replica {one}"),
            many => format!(" with replicas {}", many.join(", ")),
        };
        let primary = format!("primary {}{replicas}", self.primaries.join(", "));
        match (self.kind, &self.master_name) {
            ("cluster", _) => {
                let replicas = match self.replicas.as_slice() {
                    [] => "no replicas".to_owned(),
                    some => format!(
                        "{} ({})",
                        crate::text::count(some.len(), "replica"),
                        some.join(", ")
                    ),
                };
                format!(
                    "Redis Cluster: {} {} ({}), {replicas}",
                    self.primaries.len(),
                    if self.primaries.len() == 1 {
                        "primary"
                    } else {
                        "primaries"
                    },
                    self.primaries.join(", "),
                )
            }
            (_, Some(master)) => format!("Sentinel master `{}`: {primary}", shown(master)),
            _ => primary,
        }
    }

    fn json(&self) -> Value {
        let mut value = json!({
            "kind": self.kind,
            "primaries": self.primaries,
            "replicas": self.replicas,
        });
        if let Some(master) = &self.master_name {
            value["master_name"] = json!(master);
        }
        value
    }
}

/// The human plan: one line per change with its reason, the commands under it, notes, and a
/// summary line, as one string (the CLI streams it with `write_human` instead).
#[cfg(test)]
pub fn human(plan: &Plan, target: &PlanTarget, colour: bool) -> String {
    let mut all = String::new();
    write_human(plan, target, colour, |piece| all.push_str(piece));
    all
}

/// Pieces of [`write_human`]'s output are about this long.
pub(super) const PIECE: usize = 64 * 1024;

/// The human plan, handed to `emit` piece by piece through one small buffer: a plan of
/// 30,000 changes is megabytes of text, and on the machines measured a string that large
/// (fresh memory, zeroed by the kernel page by page) cost more than rendering it.
pub fn write_human(plan: &Plan, target: &PlanTarget, colour: bool, emit: impl FnMut(&str)) {
    let mut writer = HumanWriter::new(target, colour, emit);
    for change in &plan.changes {
        writer.change(change);
    }
    writer.finish(&plan.notes);
}

/// [`write_human`] change by change, for a plan shown as it is made (see
/// [`crate::plan::Checked::each`]): the header goes out with the first change (or, with none,
/// "No changes" at the end), the summary is counted as the changes pass.
pub struct HumanWriter<E: FnMut(&str)> {
    out: String,
    style: Style,
    /// `Planned changes on ...` or `No changes. ...`, whichever applies, until it is known.
    header: Option<(String, String)>,
    tally: Tally,
    emit: E,
}

impl<E: FnMut(&str)> HumanWriter<E> {
    pub fn new(target: &PlanTarget, colour: bool, emit: E) -> Self {
        let scope = match target.environment {
            Some(env) => format!("namespace `{}`, environment `{env}`", target.namespace),
            None => format!("namespace `{}`", target.namespace),
        };
        let deployment = target
            .deployment
            .as_ref()
            .map(|d| format!("Deployment: {}\n", d.line()))
            .unwrap_or_default();
        let url = target.url;
        HumanWriter {
            out: String::with_capacity(PIECE + 4096),
            style: Style { colour },
            header: Some((
                format!("Planned changes on {url} ({scope}):\n{deployment}\n"),
                format!("No changes. {url} ({scope}) matches the topology.\n{deployment}"),
            )),
            tally: Tally::default(),
            emit,
        }
    }

    pub fn change(&mut self, change: &Change) {
        if let Some((changes, _)) = self.header.take() {
            self.out.push_str(&changes);
        }
        self.tally.add(change);
        write_change(&mut self.out, change, &self.style);
        if self.out.len() >= PIECE {
            (self.emit)(&self.out);
            self.out.clear();
        }
    }

    /// The notes and the summary line.
    pub fn finish(mut self, notes: &[String]) {
        let none = self.header.take().map(|(_, none)| none);
        if let Some(none) = &none {
            self.out.push_str(none);
        }
        if !notes.is_empty() {
            self.out.push_str("\nNotes:\n");
            for note in notes {
                self.out.push_str(&format!("  • {}\n", shown(note)));
            }
        }
        if none.is_none() {
            self.out.push('\n');
            self.out.push_str(&summary_line(&self.tally, &self.style));
        }
        (self.emit)(&self.out);
    }
}

/// One change's lines: the common part, then the commands.
fn write_change(out: &mut String, change: &Change, style: &Style) {
    super::change::write_human(out, change, style, &[]);
    for op in change.ops() {
        out.push_str("      ");
        style.paint_into(out, "2", |out| write_command(out, op));
        out.push('\n');
    }
}

/// A command as shown to people: the record's JSON document is summarised.
pub(crate) fn show_command(op: &Op) -> String {
    let mut out = String::new();
    write_command(&mut out, op);
    out
}

/// A plan's text for people, one line, control characters escaped. Reasons, details and
/// notes quote what the server and the record said (a recorded `start`, a user's rules as
/// `ACL GETUSER` printed them): whoever can write those must not be able to add a line to
/// the plan, hide one with cursor movements, or colour it.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    crate::text::untrusted_within(text, usize::MAX)
}

fn write_command(out: &mut String, op: &Op) {
    let mut first = true;
    op.each_arg(RecordArg::Summary, &mut |part| {
        if !first {
            out.push(' ');
        }
        first = false;
        let part = shown(part);
        if part.is_empty() || part.contains(|c: char| c.is_whitespace() || c == '"') {
            let _ = write!(out, "{part:?}");
        } else {
            out.push_str(&part);
        }
    });
}

fn summary_line(tally: &Tally, style: &Style) -> String {
    let mut line = format!(
        "Plan: {} to create, {} to update, {} to delete.",
        tally.create, tally.update, tally.delete
    );
    if tally.destructive > 0 {
        line.push_str(&style.paint("1;31", &format!(" {} destructive.", tally.destructive)));
    }
    line.push('\n');
    line
}

/// The contract's JSON: `{format_version, target, changes, notes, summary}`.
pub fn json(plan: &Plan, target: &PlanTarget) -> Value {
    let mut shown_target = json!({
        "url": target.url,
        "namespace": target.namespace,
        "environment": target.environment,
    });
    if let Some(deployment) = &target.deployment {
        shown_target["deployment"] = deployment.json();
    }
    json!({
        "format_version": 1,
        "target": shown_target,
        "changes": plan.changes.iter().map(|c| json!({
            "address": c.address,
            "kind": c.kind,
            "action": c.action,
            "destructive": c.destructive,
            "before": c.before,
            "after": c.after,
            "commands": c.commands().collect::<Vec<_>>(),
            "reason": c.reason,
            "details": c.details,
        })).collect::<Vec<_>>(),
        "notes": plan.notes,
        "summary": summary_json(Tally::of(&plan.changes)),
    })
}

/// The JSON `summary`: changes to create, update and delete.
fn summary_json(tally: Tally) -> Value {
    json!({ "create": tally.create, "update": tally.update, "delete": tally.delete })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown_deployment(
        kind: &'static str,
        master: Option<&str>,
        nodes: (usize, usize),
    ) -> DeploymentShown {
        let address = |port: usize| format!("127.0.0.1:{}", 7000 + port);
        DeploymentShown {
            kind,
            master_name: master.map(str::to_owned),
            primaries: (0..nodes.0).map(address).collect(),
            replicas: (nodes.0..nodes.0 + nodes.1).map(address).collect(),
        }
    }

    fn empty_plan() -> Plan {
        Plan {
            namespace: "app".to_owned(),
            environment: None,
            changes: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A deployment of several nodes (or found through Sentinel) is named under the header,
    /// in the JSON `target` and in markdown; one server's output is as it always was.
    #[test]
    fn the_header_names_the_deployment_and_its_nodes() {
        let lines = [
            (
                shown_deployment("replicated", None, (1, 2)),
                "primary 127.0.0.1:7000 with replicas 127.0.0.1:7001, 127.0.0.1:7002",
            ),
            (
                shown_deployment("sentinel", Some("mymaster"), (1, 1)),
                "Sentinel master `mymaster`: primary 127.0.0.1:7000 with replica 127.0.0.1:7001",
            ),
            (
                shown_deployment("sentinel", Some("mymaster"), (1, 0)),
                "Sentinel master `mymaster`: primary 127.0.0.1:7000, no replicas",
            ),
            (
                shown_deployment("cluster", None, (3, 3)),
                "Redis Cluster: 3 primaries (127.0.0.1:7000, 127.0.0.1:7001, 127.0.0.1:7002), 3 replicas (127.0.0.1:7003, 127.0.0.1:7004, 127.0.0.1:7005)",
            ),
            (
                shown_deployment("cluster", None, (3, 0)),
                "Redis Cluster: 3 primaries (127.0.0.1:7000, 127.0.0.1:7001, 127.0.0.1:7002), no replicas",
            ),
        ];
        for (deployment, line) in lines {
            assert_eq!(deployment.line(), line);
        }
        let target = PlanTarget {
            url: "redis://127.0.0.1:7000",
            namespace: "app",
            environment: None,
            deployment: Some(shown_deployment("sentinel", Some("mymaster"), (1, 1))),
        };
        assert_eq!(
            human(&empty_plan(), &target, false),
            "No changes. redis://127.0.0.1:7000 (namespace `app`) matches the topology.\nDeployment: Sentinel master `mymaster`: primary 127.0.0.1:7000 with replica 127.0.0.1:7001\n"
        );
        let value = json(&empty_plan(), &target);
        assert_eq!(
            value["target"]["deployment"],
            json!({
                "kind": "sentinel",
                "primaries": ["127.0.0.1:7000"],
                "replicas": ["127.0.0.1:7001"],
                "master_name": "mymaster",
            })
        );
        let markdown = crate::render::markdown::plan(&empty_plan(), &target, None);
        assert!(
            markdown.contains("\n\nDeployment: Sentinel master `mymaster`: primary 127.0.0.1:7000 with replica 127.0.0.1:7001\n\n"),
            "{markdown}"
        );

        let single = PlanTarget {
            deployment: None,
            ..target
        };
        assert_eq!(
            human(&empty_plan(), &single, false),
            "No changes. redis://127.0.0.1:7000 (namespace `app`) matches the topology.\n"
        );
        assert!(
            json(&empty_plan(), &single)["target"]
                .get("deployment")
                .is_none()
        );
    }
}
