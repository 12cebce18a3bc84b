//! `status` for people (each stream and group with its figures, worst first, and under it
//! what it breaks) and as JSON for machines.

use serde_json::{Value as Json, json};

use super::change::Style;
use super::plan::PlanTarget;
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

/// What a row is called: `stream rag:tasks` or `group rag:tasks/rag-workers`.
fn row_name(row: &Row) -> String {
    match &row.group {
        Some(group) => format!("group {}/{group}", row.stream),
        None => format!("stream {}", row.stream),
    }
}

/// The human report.
pub fn human(report: &Report, target: &PlanTarget, colour: bool) -> String {
    let style = Style { colour };
    let mut out = format!("status of {}", target.url);
    let mut about = vec![format!("namespace {}", target.namespace)];
    if let Some(env) = target.environment {
        about.push(format!("environment {env}"));
    }
    out.push_str(&format!(" ({})\n\n", about.join(", ")));
    let width = report
        .rows
        .iter()
        .map(|r| row_name(r).chars().count())
        .max()
        .unwrap_or(0);
    for row in &report.rows {
        let level = format!("{:<8}", row.level.name());
        let figures: Vec<String> = row
            .figures
            .iter()
            .map(|(name, value)| format!("{name} {}", value.text()))
            .collect();
        out.push_str(&style.paint(colour_of(row.level), &level));
        let line = format!("  {:<width$}  {}", row_name(row), figures.join(" · "));
        out.push_str(line.trim_end());
        out.push('\n');
        for finding in &row.findings {
            out.push_str(&format!("{:10}", ""));
            out.push_str(&style.paint(colour_of(finding.level), &finding.text));
            out.push('\n');
        }
    }
    if report.rows.is_empty() {
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
    out
}

/// The JSON report: `{"format_version": 1, "target", "status", "summary", "rows": [...]}`,
/// each row with its figures (numbers in base units: seconds for ages; `null` when unknown,
/// with the reason under `unknown`) and findings.
pub fn json(report: &Report, target: &PlanTarget) -> Json {
    let rows: Vec<Json> = report
        .rows
        .iter()
        .map(|row| {
            let mut figures = serde_json::Map::new();
            let mut unknown = serde_json::Map::new();
            for (name, value) in &row.figures {
                let number = match value {
                    Value::Count(n) | Value::Percent(n) => json!(n),
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
