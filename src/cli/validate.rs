//! `redis-topology validate`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{ColourChoice, Failure, Format, ValidateArgs, print_stderr, print_stdout};
use crate::diagnostics::Severity;
use crate::model::interpolate::ProcessEnv;
use crate::render;
use crate::validate::{self, Report};

/// Validate the file and print its diagnostics: they are the command's report, so an
/// invalid file is its result (exit 1), not a [`Failure`].
pub fn run(args: &ValidateArgs, colour: ColourChoice) -> Result<u8, Failure> {
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
    Ok(u8::from(report.has_errors()))
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
fn summary(file: &Path, report: &Report) -> String {
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
        format!("{}{scope}: {counts}\n", NotLoaded::of(file, report))
    }
}

/// Why a topology could not be used, in words that fit the problem: a file that cannot be
/// read, or an `--env` missing or unknown, is not an invalid file. The path is the command
/// line's, printed as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotLoaded {
    #[error("cannot read {}", .0.display())]
    CannotRead(PathBuf),
    #[error("{} has no such environment (see --env)", .0.display())]
    NoSuchEnvironment(PathBuf),
    #[error("{} declares environments: choose one with --env", .0.display())]
    EnvironmentRequired(PathBuf),
    #[error("{} is invalid", .0.display())]
    Invalid(PathBuf),
}

impl NotLoaded {
    /// Why `file`, whose loading gave `report`, could not be used.
    pub(crate) fn of(file: &Path, report: &Report) -> NotLoaded {
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
        let file = file.to_owned();
        if has(Code::IoRead) {
            NotLoaded::CannotRead(file)
        } else if only(&[Code::EnvUnknown]) {
            NotLoaded::NoSuchEnvironment(file)
        } else if only(&[Code::EnvRequired]) {
            NotLoaded::EnvironmentRequired(file)
        } else {
            NotLoaded::Invalid(file)
        }
    }
}
