//! `status` for people (each stream and group with its figures, worst first, and under it
//! what it breaks) and as JSON for machines.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use super::change::Style;
use super::plan::{PIECE, PlanTarget};
use crate::status::Level;
use crate::status::evaluate::{Report, Row, Value};

/// The ANSI colour of a level.
fn colour_of(level: Level) -> &'static str {
    match level {
        Level::Ok => "32",
        Level::Unknown => "35",
        Level::Warning => "33",
        Level::Critical => "31",
    }
}

/// What a row is called (`server 10.0.0.1:6379`, `stream rag:tasks` or `group
/// rag:tasks/rag-workers`), written at the end of `out`.
fn write_row_name(out: &mut String, row: &Row) {
    match (&row.server, &row.heartbeat, &row.group) {
        (Some(server), _, _) => push_all(out, &["server ", server]),
        (None, Some(heartbeat), _) => push_all(out, &["heartbeat ", heartbeat]),
        (None, None, Some(group)) => push_all(out, &["group ", &row.stream, "/", group]),
        (None, None, None) => push_all(out, &["stream ", &row.stream]),
    }
}

/// How many characters [`write_row_name`] writes for `row`, counted without writing them.
fn row_name_width(row: &Row) -> usize {
    let chars = |text: &str| text.chars().count();
    match (&row.server, &row.heartbeat, &row.group) {
        (Some(server), _, _) => "server ".len() + chars(server),
        (None, Some(heartbeat), _) => "heartbeat ".len() + chars(heartbeat),
        (None, None, Some(group)) => "group /".len() + chars(&row.stream) + chars(group),
        (None, None, None) => "stream ".len() + chars(&row.stream),
    }
}

fn push_all(out: &mut String, parts: &[&str]) {
    for part in parts {
        out.push_str(part);
    }
}

/// The human report, handed to `emit` piece by piece through one small buffer: 10,000
/// streams make 30,000 rows, megabytes of text, and fresh memory costs more than writing
/// it (see [`super::plan::write_human`]).
pub fn write_human(report: &Report, target: &PlanTarget, colour: bool, mut emit: impl FnMut(&str)) {
    let style = Style { colour };
    let mut out = String::with_capacity(PIECE + 4096);
    let _ = write!(out, "status of {}", target.url);
    let mut about = vec![format!("namespace {}", target.namespace)];
    if let Some(env) = target.environment {
        about.push(format!("environment {env}"));
    }
    out.push_str(&format!(" ({})\n\n", about.join(", ")));
    let width = report.rows().map(row_name_width).max().unwrap_or(0);
    for row in report.rows() {
        write_row(&mut out, row, width, &style);
        if out.len() >= PIECE {
            emit(&out);
            out.clear();
        }
    }
    if report.is_empty() {
        out.push_str("the topology declares no streams\n");
    }
    let worst = report.worst();
    out.push_str(&format!(
        "\n{} critical, {} warning, {} unknown, {} ok: {}\n",
        report.count(Level::Critical),
        report.count(Level::Warning),
        report.count(Level::Unknown),
        report.count(Level::Ok),
        style.paint(colour_of(worst), worst.name())
    ));
    emit(&out);
}

/// A row: its level, its name padded to `width`, its figures, and under it its findings.
fn write_row(out: &mut String, row: &Row, width: usize, style: &Style) {
    style.paint_into(out, colour_of(row.level), |out| {
        let name = row.level.name();
        out.push_str(name);
        out.extend(std::iter::repeat_n(' ', 8usize.saturating_sub(name.len())));
    });
    out.push_str("  ");
    write_row_name(out, row);
    let shown = row_name_width(row);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(shown) + 2));
    for (at, (figure, value)) in row.figures.iter().enumerate() {
        if at > 0 {
            out.push_str(" · ");
        }
        out.push_str(figure);
        out.push(' ');
        value.write_into(out);
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out.push('\n');
    for finding in &row.findings {
        out.push_str("          ");
        style.paint_into(out, colour_of(finding.level), |out| {
            out.push_str(&finding.text);
        });
        out.push('\n');
    }
}

/// The JSON report: `{"format_version": 1, "target", "status", "summary", "rows": [...]}`,
/// each row with its figures (numbers in base units: seconds for ages; `null` when unknown,
/// with the reason under `unknown`) and findings.
pub fn json(report: &Report, target: &PlanTarget) -> Json {
    let rows: Vec<Json> = report
        .rows()
        .map(|row| {
            let mut figures = serde_json::Map::new();
            let mut unknown = serde_json::Map::new();
            for (name, value) in &row.figures {
                let number = match value {
                    Value::Count(n) | Value::Percent(n) | Value::Bytes(n) => json!(n),
                    Value::Text(text) => json!(text),
                    Value::Active { active, .. } => json!(active),
                    Value::Ms(ms) => json!(*ms as f64 / 1000.0),
                    Value::Unknown(why) => {
                        unknown.insert((*name).to_owned(), json!(why));
                        Json::Null
                    }
                };
                figures.insert((*name).to_owned(), number);
            }
            json!({
                "server": row.server,
                "heartbeat": row.heartbeat,
                "stream": row.stream,
                "group": row.group,
                "key": row.key,
                "status": row.level.name(),
                "figures": figures,
                "unknown": unknown,
                "findings": row.findings.iter().map(|f| json!({
                    "status": f.level.name(),
                    "check": f.check,
                    "message": f.text,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let worst = report.worst();
    json!({
        "format_version": 1,
        "target": {
            "url": target.url,
            "namespace": target.namespace,
            "environment": target.environment,
        },
        "status": worst.name(),
        "exit_code": worst.exit_code(),
        "summary": {
            "critical": report.count(Level::Critical),
            "warning": report.count(Level::Warning),
            "unknown": report.count(Level::Unknown),
            "ok": report.count(Level::Ok),
        },
        "rows": rows,
    })
}

/// The Prometheus text exposition format (version 0.0.4), for the node_exporter textfile
/// collector or a scrape of `status --listen`. One gauge per figure (base units: seconds for
/// ages, a ratio for the length against `maxlen`), labelled by namespace, stream and group;
/// an unknown figure is left out, never written as 0. Per row `redis_topology_status` (0 ok,
/// 1 unknown, 2 warning, 3 critical), and per broken rule `redis_topology_check` (1).
pub fn prometheus(report: &Report, target: &PlanTarget) -> String {
    let mut families: Vec<(&'static str, &'static str, Vec<String>)> = Vec::new();
    let mut add = |name: &'static str, help: &'static str, sample: String| match families
        .iter_mut()
        .find(|(n, _, _)| *n == name)
    {
        Some((_, _, samples)) => samples.push(sample),
        None => families.push((name, help, vec![sample])),
    };
    let namespace = label_value(target.namespace);
    for row in report.rows() {
        if let Some(server) = &row.server {
            server_metrics(row, &label_value(server), &mut add);
            continue;
        }
        if let Some(heartbeat) = &row.heartbeat {
            let labels = format!(
                "namespace=\"{namespace}\",heartbeat=\"{}\"",
                label_value(heartbeat)
            );
            for (_, value) in &row.figures {
                let Some(number) = value.number() else {
                    continue;
                };
                add(
                    "redis_topology_heartbeat_instances",
                    "Live instances of a heartbeat: its keys that exist.",
                    format!("redis_topology_heartbeat_instances{{{labels}}} {number}"),
                );
            }
            status_and_checks(
                row,
                &labels,
                (
                    "redis_topology_heartbeat_status",
                    "The heartbeat's status: 0 ok, 1 unknown, 2 warning, 3 critical.",
                ),
                (
                    "redis_topology_heartbeat_check",
                    "A rule the heartbeat breaks, by check and level.",
                ),
                &mut add,
            );
            continue;
        }
        let labels = match &row.group {
            Some(group) => format!(
                "namespace=\"{namespace}\",stream=\"{}\",group=\"{}\"",
                label_value(&row.stream),
                label_value(group)
            ),
            None => format!(
                "namespace=\"{namespace}\",stream=\"{}\",group=\"\"",
                label_value(&row.stream)
            ),
        };
        for (figure, value) in &row.figures {
            let Some((name, help)) = metric_of(figure, row.group.is_some()) else {
                continue;
            };
            let number = match value {
                Value::Unknown(_) => continue,
                Value::Percent(p) => *p as f64 / 100.0,
                other => other.number().unwrap_or_default(),
            };
            add(name, help, format!("{name}{{{labels}}} {number}"));
            if let Value::Active { of, .. } = value {
                add(
                    "redis_topology_group_consumers",
                    "Consumers of the group (XINFO CONSUMERS).",
                    format!("redis_topology_group_consumers{{{labels}}} {of}"),
                );
            }
        }
        status_and_checks(
            row,
            &labels,
            (
                "redis_topology_status",
                "The stream's or group's status: 0 ok, 1 unknown, 2 warning, 3 critical.",
            ),
            (
                "redis_topology_check",
                "A rule the stream or group breaks (or could not be checked), by check and level.",
            ),
            &mut add,
        );
    }
    let mut out = String::new();
    for (name, help, samples) in families {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for sample in samples {
            out.push_str(&sample);
            out.push('\n');
        }
    }
    out
}

/// A server row's metrics, labelled `node`.
fn server_metrics(row: &Row, node: &str, add: &mut impl FnMut(&'static str, &'static str, String)) {
    for (figure, value) in &row.figures {
        let (name, help, number) = match (*figure, value) {
            ("used_memory", Value::Bytes(n)) => (
                "redis_topology_server_memory_used_bytes",
                "The server's used_memory (INFO memory).",
                *n as f64,
            ),
            ("memory", Value::Percent(p)) => (
                "redis_topology_server_memory_ratio",
                "The server's used_memory divided by its maxmemory.",
                *p as f64 / 100.0,
            ),
            _ => continue,
        };
        add(name, help, format!("{name}{{node=\"{node}\"}} {number}"));
    }
    status_and_checks(
        row,
        &format!("node=\"{node}\""),
        (
            "redis_topology_server_status",
            "The server's status for the streams (eviction, durability, memory): 0 ok, 1 unknown, 2 warning, 3 critical.",
        ),
        (
            "redis_topology_server_check",
            "A rule the server breaks (or could not be checked), by check and level.",
        ),
        add,
    );
}

/// A row's status gauge, and a gauge per finding, under the metrics `status` and `check`
/// (each a name and its help).
fn status_and_checks(
    row: &Row,
    labels: &str,
    status: (&'static str, &'static str),
    check: (&'static str, &'static str),
    add: &mut impl FnMut(&'static str, &'static str, String),
) {
    let (name, help) = status;
    let level = level_number(row.level);
    add(name, help, format!("{name}{{{labels}}} {level}"));
    let (name, help) = check;
    for finding in &row.findings {
        add(
            name,
            help,
            format!(
                "{name}{{{labels},check=\"{}\",level=\"{}\"}} 1",
                finding.check,
                finding.level.name()
            ),
        );
    }
}

/// A level as a number: 0 ok, 1 unknown, 2 warning, 3 critical.
fn level_number(level: Level) -> u8 {
    match level {
        Level::Ok => 0,
        Level::Unknown => 1,
        Level::Warning => 2,
        Level::Critical => 3,
    }
}

/// A figure's metric name and help; `None` for a figure not exported.
fn metric_of(figure: &str, of_group: bool) -> Option<(&'static str, &'static str)> {
    Some(match (figure, of_group) {
        ("length", false) => (
            "redis_topology_stream_length",
            "Entries in the stream (XLEN).",
        ),
        ("dlq_length", false) => (
            "redis_topology_stream_dlq_length",
            "Entries in a dead-letter stream (one with dlq_of).",
        ),
        ("over_retention", false) => (
            "redis_topology_stream_retention_ratio",
            "The stream's length divided by its maxlen.",
        ),
        ("newest_age", false) => (
            "redis_topology_stream_newest_age_seconds",
            "Age of the stream's newest entry, from its ID.",
        ),
        ("lag", true) => (
            "redis_topology_group_lag",
            "Entries not yet delivered to the group; absent when Redis cannot count them.",
        ),
        ("lag_age", true) => (
            "redis_topology_group_lag_seconds",
            "Age of the group's oldest undelivered entry, from its ID.",
        ),
        ("pending", true) => (
            "redis_topology_group_pending",
            "Entries delivered to the group and not acknowledged.",
        ),
        ("pending_age", true) => (
            "redis_topology_group_pending_oldest_age_seconds",
            "Age of the group's oldest pending entry, from its ID.",
        ),
        ("active_consumers", true) => (
            "redis_topology_group_active_consumers",
            "Consumers seen within the threshold's `within`.",
        ),
        ("consumers", true) => (
            "redis_topology_group_consumers",
            "Consumers of the group (XINFO CONSUMERS).",
        ),
        _ => return None,
    })
}

/// A label value, escaped as the exposition format wants (`\`, `"` and newlines).
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The report as a markdown table (a CI job's summary, a chat message), worst first.
pub fn markdown(report: &Report, target: &PlanTarget) -> String {
    let worst = report.worst();
    let mut out = format!(
        "### redis-topology status: {}\n\n`{}` · namespace `{}`",
        worst.name(),
        cell(target.url),
        cell(target.namespace)
    );
    if let Some(env) = target.environment {
        out.push_str(&format!(" · environment `{}`", cell(env)));
    }
    out.push_str(&format!(
        "\n\n{} critical, {} warning, {} unknown, {} ok\n\n| status | stream / group | figures | breaks |\n|---|---|---|---|\n",
        report.count(Level::Critical),
        report.count(Level::Warning),
        report.count(Level::Unknown),
        report.count(Level::Ok)
    ));
    for row in report.rows() {
        let name = match (&row.server, &row.heartbeat, &row.group) {
            (Some(server), _, _) => format!("server `{}`", cell(server)),
            (None, Some(heartbeat), _) => format!("heartbeat `{}`", cell(heartbeat)),
            (None, None, Some(group)) => format!("`{}` / `{}`", cell(&row.stream), cell(group)),
            (None, None, None) => format!("`{}`", cell(&row.stream)),
        };
        let figures: Vec<String> = row
            .figures
            .iter()
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        let breaks: Vec<String> = row.findings.iter().map(|f| cell(&f.text)).collect();
        out.push_str(&format!(
            "| **{}** | {name} | {} | {} |\n",
            row.level.name(),
            cell(&figures.join(" · ")),
            breaks.join("<br>")
        ));
    }
    out
}

/// Text for a markdown table cell: no `|`, no line break, no backtick.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A row's name is as wide as counted, whatever its kind and characters.
        #[test]
        fn row_names_are_as_wide_as_counted(stream in "\\PC{0,12}", other in "\\PC{0,12}", kind in 0u8..4) {
            let mut row = Row { stream: stream.as_str().into(), ..Row::default() };
            match kind {
                0 => row.server = Some(other),
                1 => row.heartbeat = Some(other),
                2 => row.group = Some(other.as_str().into()),
                _ => {}
            }
            let mut written = String::new();
            write_row_name(&mut written, &row);
            proptest::prop_assert_eq!(row_name_width(&row), written.chars().count());
        }

        /// The report's figures are written as the formatting machinery would write them
        /// (the way they were first written, kept here as the reference).
        #[test]
        fn figures_are_written_as_formatted(
            n in proptest::num::u64::ANY,
            // Durations of every unit, from ms to days.
            ms in 0u64..400_000_000,
        ) {
            let formatted_duration = |ms: u64| {
                let s = ms / 1000;
                let (big, small, big_unit, small_unit) = match s {
                    _ if ms < 1000 => return format!("{ms}ms"),
                    0..60 => return format!("{s}s"),
                    60..3600 => (s / 60, s % 60, "m", "s"),
                    3600..86400 => (s / 3600, s % 3600 / 60, "h", "m"),
                    _ => (s / 86400, s % 86400 / 3600, "d", "h"),
                };
                if small == 0 {
                    format!("{big}{big_unit}")
                } else {
                    format!("{big}{big_unit}{small:02}{small_unit}")
                }
            };
            let cases = [
                (Value::Count(n), n.to_string()),
                (Value::Percent(n), format!("{n}%")),
                (Value::Ms(n), formatted_duration(n)),
                (Value::Ms(ms), formatted_duration(ms)),
                (
                    Value::Active { active: n, of: ms, within_ms: ms },
                    format!("{n} of {ms} within {}", formatted_duration(ms)),
                ),
            ];
            for (value, formatted) in cases {
                let mut written = String::new();
                value.write_into(&mut written);
                proptest::prop_assert_eq!(&written, &formatted);
                proptest::prop_assert_eq!(value.to_string(), formatted);
            }
        }
    }
}
