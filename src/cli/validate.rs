//! `redis-topology validate`.

use std::io::IsTerminal;

use super::{ColourChoice, Format, ValidateArgs, print_stderr, print_stdout};
use crate::diagnostics::Severity;
use crate::model::interpolate::ProcessEnv;
use crate::render;
use crate::validate::{self, Report};

pub fn run(args: &ValidateArgs, colour: ColourChoice) -> u8 {
    let report = validate::validate_file(&args.file, args.env.as_deref(), args.strict, &ProcessEnv);
    match args.format {
        Format::Json => {
            let json = render::diagnostics::json(&report.diagnostics, &report.sources);
            print_stdout(&format!("{json:#}\n"));
        }
        Format::Human => {
            let colour = colour.enabled(std::io::stderr().is_terminal());
            let mut text = diagnostics_text(&report, colour);
            // --quiet: a valid file says nothing (its warnings are silenced too).
            if !super::quiet() || report.has_errors() {
                text.push_str(&summary(&args.file, &report));
            }
            print_stderr(&text);
        }
    }
    u8::from(report.has_errors())
}

/// Every diagnostic of a report, rendered for people; with --quiet, only the errors.
pub fn diagnostics_text(report: &Report, colour: bool) -> String {
    let mut text = String::new();
    let quiet = super::quiet();
    for diagnostic in &report.diagnostics {
        if quiet && diagnostic.severity != Severity::Error {
            continue;
        }
        text.push_str(&render::diagnostics::human(
            diagnostic,
            &report.sources,
            colour,
        ));
        text.push('\n');
    }
    text
}

/// The last line of human output: valid or not, what was checked, how many problems.
fn summary(file: &std::path::Path, report: &Report) -> String {
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let counts = format!(
        "{} and {}",
        crate::text::count(errors, "error"),
        crate::text::count(warnings, "warning")
    );
    // Environment names are the file's keys, not validated names: escaped (a newline in one
    // would print a line of its own).
    let envs: Vec<std::borrow::Cow<'_, str>> = report
        .checked
        .iter()
        .flatten()
        .map(|env| crate::text::untrusted(env))
        .collect();
    let scope = match (report.checked.first(), envs.as_slice()) {
        (_, []) => String::new(),
        (Some(None), envs) => format!(" (base and environments {})", envs.join(", ")),
        (_, envs) => format!(" (environment {})", envs.join(", ")),
    };
    if errors == 0 {
        format!("{} is valid{scope}: {counts}\n", file.display())
    } else {
        format!("{}{scope}: {counts}\n", not_loaded(file, report))
    }
}

/// Why a topology could not be used, in words that fit the problem: a file that cannot be
/// read, or an `--env` missing or unknown, is not an invalid file.
pub(crate) fn not_loaded(file: &std::path::Path, report: &Report) -> String {
    use crate::diagnostics::Code;
    let has = |code: Code| {
        report
            .diagnostics
            .iter()
            .any(|d| d.code == code && d.is_error())
    };
    let only = |codes: &[Code]| {
        report
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .all(|d| codes.contains(&d.code))
    };
    let file = file.display();
    if has(Code::IoRead) {
        format!("cannot read {file}")
    } else if only(&[Code::EnvUnknown]) {
        format!("{file} has no such environment (see --env)")
    } else if only(&[Code::EnvRequired]) {
        format!("{file} declares environments: choose one with --env")
    } else {
        format!("{file} is invalid")
    }
}
