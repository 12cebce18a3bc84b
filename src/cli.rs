//! Command-line interface: argument parsing and the commands' output and exit codes.
//!
//! Exit codes follow the contract (`../shared/topology-format.md`): 0 success, 1 error or
//! invalid input (usage errors included, as Terraform does, so that 2 and 3 keep their
//! meaning of "changes" and "breaking changes" for `plan` and `diff`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diagnostics::Severity;
use crate::model::interpolate::ProcessEnv;
use crate::render;
use crate::validate::{self, Report};

#[derive(Parser, Debug)]
#[command(
    name = "redis-topology",
    version,
    about = "Declare Redis streams, consumer groups, retention, ACL users and message schemas in one YAML file; validate, plan and apply them.",
    propagate_version = true
)]
pub struct Cli {
    /// When to use colour: `auto` uses it only on a terminal (and never with NO_COLOR set).
    #[arg(long, global = true, value_enum, default_value_t = ColourChoice::Auto)]
    pub color: ColourChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a topology file offline: every rule, every message schema. Touches no server.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the topology file format (draft-07, for editors).
    Schema,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The topology file.
    #[arg(default_value = "topology.yaml")]
    pub file: PathBuf,
    /// Validate only this environment (default: the base and every environment).
    #[arg(long)]
    pub env: Option<String>,
    /// Treat warnings (e.g. a stream without retention) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColourChoice {
    Auto,
    Always,
    Never,
}

impl ColourChoice {
    fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColourChoice::Always => true,
            ColourChoice::Never => false,
            ColourChoice::Auto => render::use_colour(is_terminal),
        }
    }
}

/// Run the CLI with the process's arguments; returns the exit code.
pub fn run() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    match cli.command {
        Command::Validate(args) => validate_command(&args, cli.color),
        Command::Schema => {
            print_stdout(&crate::schema::topology_schema_text());
            0
        }
    }
}

fn validate_command(args: &ValidateArgs, colour: ColourChoice) -> u8 {
    let report = validate::validate_file(&args.file, args.env.as_deref(), args.strict, &ProcessEnv);
    match args.format {
        Format::Json => {
            let json = render::diagnostics::json(&report.diagnostics, &report.sources);
            print_stdout(&format!("{json:#}\n"));
        }
        Format::Human => {
            let colour = colour.enabled(std::io::stderr().is_terminal());
            let mut text = String::new();
            for diagnostic in &report.diagnostics {
                text.push_str(&render::diagnostics::human(
                    diagnostic,
                    &report.sources,
                    colour,
                ));
                text.push('\n');
            }
            text.push_str(&summary(&args.file, &report));
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
    u8::from(report.has_errors())
}

/// The last line of human output: valid or not, what was checked, how many problems.
fn summary(file: &std::path::Path, report: &Report) -> String {
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let counts = format!(
        "{} and {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    let envs: Vec<&str> = report
        .checked
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let scope = match (report.checked.first(), envs.as_slice()) {
        (_, []) => String::new(),
        (Some(None), envs) => format!(" (base and environments {})", envs.join(", ")),
        (_, envs) => format!(" (environment {})", envs.join(", ")),
    };
    if errors == 0 {
        format!("{} is valid{scope}: {counts}\n", file.display())
    } else {
        format!("{} is invalid{scope}: {counts}\n", file.display())
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_stdout(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}
