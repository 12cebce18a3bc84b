//! Command-line interface: argument parsing and the commands' output and exit codes.
//!
//! Exit codes follow the contract (`../shared/topology-format.md`): 0 success, 1 error or
//! invalid input (usage errors included, as Terraform does, so that 2 and 3 keep their
//! meaning of "changes" and "breaking changes" for `plan` and `diff`).

mod apply;
mod check_messages;
mod diff;
mod export;
mod generate;
mod graph;
mod import;
mod plan;
mod session;
mod status;
mod validate;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand, ValueEnum};

use crate::render;

pub use export::ExportArgs;
pub use graph::GraphArgs;

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
    /// Print only errors, and what a machine format or a generator prints.
    ///
    /// Silenced: warnings and notes (a validation warning still fails with --strict); the
    /// summary of a valid file (validate); the human plan, diff and status report (plan, diff,
    /// status: the exit code still tells, with plan --detailed-exitcode); apply's plan, progress bar and report (an
    /// apply that asks for confirmation on a terminal still shows the plan it asks about);
    /// check-messages' summary when every message is valid. Never silenced: errors and their
    /// diagnostics, --format json and markdown, and the output of schema, graph, export,
    /// completions and man. Exit codes are the same with or without --quiet.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a topology file offline: every rule, every message schema. Touches no server.
    Validate(ValidateArgs),
    /// Show what apply would change on a live Redis. Sends no write command.
    Plan(PlanArgs),
    /// Make a live Redis match the topology (or a saved plan).
    Apply(ApplyArgs),
    /// Compare two versions of a topology offline (files or git:REF:PATH): what changes,
    /// what is destructive, which message-schema changes break producers or consumers.
    /// Exit 0 no changes, 2 changes, 3 a destructive or breaking change, 1 error.
    Diff(DiffArgs),
    /// Check messages against their stream's schema (the version their `version_field` names):
    /// from a file of JSON lines (--stream, --file), or the newest entries of every stream with
    /// a schema on a live server (--url, --sample). Exit 0 clean, 1 violations or error.
    CheckMessages(CheckMessagesArgs),
    /// Write a topology file for what already lives under a namespace: its streams and
    /// groups, and the ACL users whose key and channel patterns are under it (passwords as
    /// variables to set). Read-only. Review it (retention, passwords), then plan it: it
    /// changes no stream, group or user.
    Import(ImportArgs),
    /// Check the live streams and groups against the `health` thresholds of the file: lag,
    /// lag age, pending entries and their age, active consumers, dead-letter streams, length
    /// against retention; missing streams and groups, and pending entries whose data was
    /// trimmed away. Read-only. Exit 0 healthy (or unknown), 2 a warning, 3 critical, 1 error.
    Status(StatusArgs),
    /// Draw who writes which stream, which groups read it, which user consumes in which
    /// group, and where dead letters go (Mermaid or Graphviz DOT), from the file alone: the
    /// users' grants (XADD, XREADGROUP, XREAD) and the groups' `consumers`. Touches no server.
    Graph(GraphArgs),
    /// Write the topology in another tool's format, from the file alone (`export aclfile`,
    /// `export asyncapi`). Touches no server.
    #[command(subcommand_required = true)]
    Export(ExportArgs),
    /// Print the JSON Schema of the topology file format (draft-07, for editors).
    Schema,
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    ///
    /// Install it where the shell looks for completions, e.g. bash: `redis-topology
    /// completions bash > ~/.local/share/bash-completion/completions/redis-topology`; zsh:
    /// `redis-topology completions zsh > ~/.zfunc/_redis-topology` with `fpath+=~/.zfunc`
    /// before `compinit` in ~/.zshrc; fish: `redis-topology completions fish >
    /// ~/.config/fish/completions/redis-topology.fish`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --dir.
    ///
    /// `redis-topology man > ~/.local/share/man/man1/redis-topology.1`, then `man
    /// redis-topology`; or `redis-topology man --dir ~/.local/share/man/man1` for
    /// redis-topology.1 and redis-topology-plan.1, redis-topology-apply.1, ... (`man
    /// redis-topology plan`). Read one without installing it: `redis-topology man | man -l -`.
    Man(ManArgs),
}

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write redis-topology.1 and a page per command (redis-topology-plan.1, ...) into this
    /// directory instead of printing redis-topology.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The old version: a file, or git:REF:PATH (e.g. git:origin/main:topology.yaml).
    pub old: String,
    /// The new version: a file, or git:REF:PATH.
    pub new: String,
    /// Compare this environment (default: every environment of NEW, or the file as is).
    #[arg(long)]
    pub env: Option<String>,
    /// Output format; `markdown` is a pull-request comment.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
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

/// What `plan` and `apply` share: the file, the environment, the server.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    /// The topology file.
    #[arg(default_value = "topology.yaml")]
    pub file: PathBuf,
    /// The environment to plan or apply (required when the file declares environments).
    #[arg(long)]
    pub env: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Also delete recorded streams and groups that the file no longer declares.
    #[arg(long)]
    pub prune: bool,
}

/// The server to talk to, and how (plan, apply, status).
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// The Redis server; else --url-file, else $REDIS_URL, else redis://127.0.0.1:6379.
    /// `rediss://` for TLS. The password in a URL is never printed, but one given here is
    /// visible to other users of the machine (`ps`): prefer --url-file or $REDIS_URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Read the server URL from the first line of this file (keeps a password off the
    /// command line).
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    pub url_file: Option<PathBuf>,
    /// For `rediss://`: trust this CA certificate (PEM) instead of the public roots.
    #[arg(long, value_name = "PEM", env = "REDIS_TLS_CA_CERT")]
    pub tls_ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub sentinel: SentinelArgs,
}

/// Finding the primary through Redis Sentinel (every command that connects).
#[derive(clap::Args, Debug, Default)]
pub struct SentinelArgs {
    /// Ask these Redis Sentinels (HOST:PORT; repeat the flag or separate with commas), each
    /// in turn, for the primary of --master-name, and manage it and its replicas. The data
    /// nodes' user, password, database and TLS still come from --url, --url-file or
    /// $REDIS_URL, whose host and port are then not used (e.g.
    /// redis://app:PASSWORD@sentinel-managed); the sentinels' from $REDIS_SENTINEL_URL or
    /// --sentinel-url-file.
    #[arg(
        long = "sentinel",
        id = "sentinels",
        value_name = "HOST:PORT",
        value_delimiter = ',',
        requires = "master_name",
        value_parser = crate::target::SentinelAddress::parse
    )]
    pub sentinels: Vec<crate::target::SentinelAddress>,
    /// The name the sentinels monitor the primary under (`sentinel monitor NAME ...`).
    #[arg(
        long,
        value_name = "NAME",
        requires = "sentinels",
        value_parser = crate::target::sentinel::check_master_name
    )]
    pub master_name: Option<String>,
    /// Read the sentinels' URL from the first line of this file (else $REDIS_SENTINEL_URL;
    /// neither: no password): only its user and password are used, e.g.
    /// redis://sentinel-user:PASSWORD@sentinels.
    #[arg(long, value_name = "PATH", requires = "sentinels")]
    pub sentinel_url_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format; `markdown` is a pull-request comment.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Save the plan for `apply --plan`, bound to this server, database and user.
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes (0 when none, 1 on error), as Terraform does.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Apply this saved plan: apply plans again and runs only a plan equal to it, on the
    /// server it was made for (the file is never run as written).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// How long to wait for another apply's lock, in seconds (at most 86400, a day).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = crate::target::lock::DEFAULT_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(..=MAX_LOCK_TIMEOUT_SECS),
        allow_negative_numbers = true
    )]
    pub lock_timeout: u64,
}

/// The longest `--lock-timeout`: a day. Waiting longer is never what a CI job wants, and
/// an unbounded number of seconds overflows the deadline computed from it.
pub const MAX_LOCK_TIMEOUT_SECS: u64 = 24 * 60 * 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct CheckMessagesArgs {
    /// The topology file.
    #[arg(id = "topology", value_name = "FILE", default_value = "topology.yaml")]
    pub topology: PathBuf,
    /// The environment (required when the file declares environments).
    #[arg(long)]
    pub env: Option<String>,
    /// With --file: the stream whose schema the messages follow (its name in the topology).
    #[arg(long, requires = "messages")]
    pub stream: Option<String>,
    /// A file of JSON lines, one entry per line: an object of the entry's fields (the JSON
    /// field as text or as a JSON value), e.g. {"v": "2", "payload": {"task_id": "t1"}}.
    #[arg(
        long = "file",
        id = "messages",
        value_name = "JSONL",
        requires = "stream",
        conflicts_with_all = ["sentinels", "master_name", "sentinel_url_file"]
    )]
    pub messages: Option<PathBuf>,
    /// The Redis server to sample; else --url-file, else $REDIS_URL, else
    /// redis://127.0.0.1:6379. A password given here is visible to other users of the
    /// machine (`ps`): prefer --url-file or $REDIS_URL.
    #[arg(long, conflicts_with = "messages")]
    pub url: Option<String>,
    /// Read the server URL from the first line of this file (keeps a password off the
    /// command line).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["url", "messages"])]
    pub url_file: Option<PathBuf>,
    /// How many of the newest entries of each stream to check (XREVRANGE).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        conflicts_with = "messages"
    )]
    pub sample: usize,
    /// For `rediss://`: trust this CA certificate (PEM) instead of the public roots.
    #[arg(long, value_name = "PEM", env = "REDIS_TLS_CA_CERT")]
    pub tls_ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub sentinel: SentinelArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The topology file.
    #[arg(default_value = "topology.yaml")]
    pub file: PathBuf,
    /// The environment (required when the file declares environments).
    #[arg(long)]
    pub env: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Output format; `prometheus` is the text exposition format (for the node_exporter
    /// textfile collector).
    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
    /// Read again every SECONDS and redraw the human report (Ctrl-C stops).
    #[arg(long, value_name = "SECONDS", conflicts_with = "listen", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub watch: Option<u64>,
    /// Serve the Prometheus format on http://ADDR/metrics (e.g. 127.0.0.1:9187), read again
    /// on each scrape but at most once per --min-interval; runs until stopped.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// With --listen: scrapes sooner than this after a read get that read again.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, requires = "listen", value_parser = clap::value_parser!(u64).range(0..=86400))]
    pub min_interval: u64,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The namespace to import: the streams under `<NS>:` and the users whose key and
    /// channel patterns are all under it (or that the users registry gives to it).
    #[arg(long, value_name = "NS")]
    pub namespace: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Write the topology to this file instead of stdout (never over an existing file
    /// without --force).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// With --out: replace the file if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Write the users' password hashes as Redis keeps them (`sha256:`) instead of a
    /// variable per password. The hashes then go wherever the file goes (git).
    #[arg(long)]
    pub with_hashes: bool,
}

/// Formats of `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Human,
    Json,
    Prometheus,
    Markdown,
}

/// Formats of `plan` and `diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColourChoice {
    Auto,
    Always,
    Never,
}

impl ColourChoice {
    pub(crate) fn enabled(self, is_terminal: bool) -> bool {
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
    QUIET.store(cli.quiet, Ordering::Relaxed);
    SILENT_STDOUT.store(
        cli.quiet && stdout_is_chatter(&cli.command),
        Ordering::Relaxed,
    );
    let outcome = match cli.command {
        Command::Validate(args) => validate::run(&args, cli.color),
        Command::Plan(args) => plan::run(&args, cli.color),
        Command::Apply(args) => apply::run(&args, cli.color),
        Command::Diff(args) => diff::run(&args, cli.color),
        Command::CheckMessages(args) => check_messages::run(&args, cli.color),
        Command::Import(args) => import::run(&args),
        Command::Status(args) => status::run(args, cli.color),
        Command::Graph(args) => graph::run(&args, cli.color),
        Command::Export(args) => export::run(&args, cli.color),
        Command::Schema => {
            print_stdout(&crate::schema::topology_schema_text());
            Ok(0)
        }
        Command::Completions(args) => Ok(generate::completions(args.shell)),
        Command::Man(args) => generate::man(args.dir.as_deref()),
    };
    outcome.unwrap_or_else(|failure| failure.report())
}

/// Why a command failed. Commands return it; [`run`] prints it, once, on stderr, and exits
/// with 1 (docs/operations.md, "Exit codes"). Each line prints as `error: ...`, escaped to
/// one line (it may quote a server, a file or a path), except where noted.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Talking to the server failed (connecting, reading, the lock).
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    /// The planner refused the change: one `error:` line per refusal.
    #[error("{}", refusal_lines(.0))]
    Refused(Vec<crate::plan::Refusal>),
    /// An apply that did not complete; one that stopped while writing prints its first
    /// line as the error, then the others indented under it (what was and was not applied).
    #[error(transparent)]
    Apply(#[from] crate::apply::ApplyError),
    /// The file could not be loaded; its diagnostics are printed already (they are the
    /// command's report). Not escaped: the text is the tool's own, naming the file.
    #[error("{0}; nothing was sent to Redis")]
    NotLoaded(validate::NotLoaded),
    /// Secrets that apply needs are not set: one line per problem, then what to do (the
    /// advice not escaped: the tool's own words).
    #[error("{}", .0.join("\n"))]
    MissingSecrets(Vec<String>),
    /// Secrets that `export aclfile` needs are not set, likewise.
    #[error("{}", .0.join("\n"))]
    ExportSecrets(Vec<String>),
    /// A saved plan that cannot be used at all (`apply --plan`).
    #[error("cannot use the plan {path}: {source}")]
    UnusablePlan {
        path: String,
        source: crate::plan::saved::Unusable,
    },
    /// A saved plan made for another server.
    #[error("{0}. Nothing was applied")]
    OtherServer(crate::plan::saved::OtherServer),
    /// A fresh plan that differs from the saved one: nothing is applied.
    #[error(
        "the saved plan is not what the topology and the server give now, so it is not applied: {0}. Run plan again and review the new plan. Nothing was applied"
    )]
    SavedPlanDiffers(crate::plan::saved::Difference),
    /// `diff` could not compare (not escaped: the tool's own words, naming the versions as
    /// the command line gave them; git's words in it are escaped already).
    #[error(transparent)]
    Diff(#[from] diff::DiffError),
    /// `check-messages` could not check.
    #[error(transparent)]
    CheckMessages(#[from] check_messages::CheckError),
    /// The man pages could not be written.
    #[error("cannot write the man pages: {0}")]
    ManPages(std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A file that could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    File {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// Anything else, one line.
    #[error("{0}")]
    Message(String),
}

fn refusal_lines(refusals: &[crate::plan::Refusal]) -> String {
    refusals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Failure {
    /// Print the failure on stderr; returns the exit code for errors.
    pub(crate) fn report(&self) -> u8 {
        match self {
            Failure::Refused(refusals) => {
                for refusal in refusals {
                    fail(&refusal.to_string());
                }
                1
            }
            Failure::Apply(crate::apply::ApplyError::Stopped(stopped)) => {
                fail_lines(&stopped.lines())
            }
            Failure::NotLoaded(_) | Failure::Diff(_) => {
                print_stderr(&format!("error: {self}\n"));
                1
            }
            Failure::MissingSecrets(problems) => fail_advised(problems, MISSING_SECRETS_ADVICE),
            Failure::ExportSecrets(problems) => fail_advised(problems, EXPORT_SECRETS_ADVICE),
            _ => fail(&self.to_string()),
        }
    }
}

/// Print one error line and give the exit code for errors. The message is escaped to one
/// line (control characters as `\n`, `\u{1b}`): it may quote a server, a file or a path, and
/// must not print a line of its own or move the cursor.
fn fail(message: &str) -> u8 {
    let message = crate::text::untrusted_within(message, usize::MAX);
    print_stderr(&format!("error: {message}\n"));
    1
}

/// Print an error of several lines (an apply's report): the first as `error:`, the others
/// indented under it, each escaped to one line as [`fail`] does.
fn fail_lines(lines: &[String]) -> u8 {
    let mut lines = lines.iter();
    let code = fail(lines.next().map_or("", String::as_str));
    for line in lines {
        let line = crate::text::untrusted_within(line, usize::MAX);
        print_stderr(&format!("{line}\n"));
    }
    code
}

/// One error line per problem, then the tool's advice (not escaped: its own words).
fn fail_advised(problems: &[String], advice: &str) -> u8 {
    for problem in problems {
        fail(problem);
    }
    print_stderr(advice);
    1
}

/// After the missing secrets' lines of `export aclfile`.
const EXPORT_SECRETS_ADVICE: &str = "error: export aclfile writes the sha256 of every ACL user's password, so it reads them as apply does; set them, e.g. from your secret store. Nothing was written\n";

/// After the missing secrets' lines.
const MISSING_SECRETS_ADVICE: &str = "error: apply reads the ACL users' passwords (it may write the users, and compares their passwords with the server's); set them, e.g. from your secret store. `plan` runs without them and compares everything else. Nothing was sent to Redis\n";

/// `--quiet`, set once by [`run`] before any command starts. A process-wide flag rather than
/// a parameter: what it silences is printed from deep inside the commands' flows (warnings
/// while connecting, the lock's notes), and every print already goes through the functions
/// below.
static QUIET: AtomicBool = AtomicBool::new(false);

/// With `--quiet`, whether this command's stdout is all for people (see [`stdout_is_chatter`]).
static SILENT_STDOUT: AtomicBool = AtomicBool::new(false);

/// Whether `--quiet` was given.
pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether everything this command prints on stdout is for people, and so silenced by
/// `--quiet`: the human plan and diff (their exit codes carry the result), and apply's plan
/// and report, unless apply is going to ask for confirmation (no `--yes` and on a terminal:
/// nobody approves a plan they were not shown). JSON and markdown are what was asked for;
/// validate and check-messages silence only their summaries (see there): their diagnostics
/// and violations are their output.
fn stdout_is_chatter(command: &Command) -> bool {
    match command {
        Command::Plan(args) => args.format == ReportFormat::Human,
        Command::Diff(args) => args.format == ReportFormat::Human,
        Command::Apply(args) => args.yes || !std::io::stdin().is_terminal(),
        Command::Status(args) => args.format == StatusFormat::Human,
        Command::Validate(_)
        | Command::Import(_)
        | Command::CheckMessages(_)
        | Command::Graph(_)
        | Command::Export(_)
        | Command::Schema
        | Command::Completions(_)
        | Command::Man(_) => false,
    }
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic. Nothing with
/// `--quiet` when this command's stdout is only for people.
pub(crate) fn print_stdout(text: &str) {
    if SILENT_STDOUT.load(Ordering::Relaxed) {
        return;
    }
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Print a warning or a note on stderr; `--quiet` silences them (as cargo's does).
pub(crate) fn print_warning(text: &str) {
    if !quiet() {
        print_stderr(text);
    }
}

/// Print to stderr, likewise.
pub(crate) fn print_stderr(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}
