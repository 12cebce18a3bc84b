//! `redis-topology export ...`: documents generated from one environment of the file, offline.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Subcommand;

use super::validate::{NotLoaded, diagnostics_text};
use super::{ColourChoice, Failure, print_stderr, print_stdout};
use crate::export::asyncapi;
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::model::secrets::Secrets;
use crate::validate;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Print an AsyncAPI 3.0.0 document (JSON) of one environment: a channel per stream, a
    /// message per schema version, send and receive operations from the users' grants and
    /// the groups, ACL users as security schemes, Redis details as x-redis-* extensions.
    /// From the file alone (no server is read); no password or hash is ever written.
    Asyncapi(AsyncapiArgs),
}

#[derive(clap::Args, Debug)]
pub struct AsyncapiArgs {
    /// The topology file.
    #[arg(default_value = "topology.yaml")]
    pub file: PathBuf,
    /// The environment (required when the file declares environments).
    #[arg(long)]
    pub env: Option<String>,
    /// Write the document to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The server's host (HOST or HOST:PORT, never a URL with credentials); without it, the
    /// document's server host is the variable {host}.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub host: Option<String>,
    /// The document's info.version (default: the topology file's format version).
    #[arg(long, value_name = "VERSION")]
    pub api_version: Option<String>,
}

pub fn run(args: &ExportArgs, colour: ColourChoice) -> Result<u8, Failure> {
    match &args.command {
        ExportCommand::Asyncapi(args) => asyncapi_document(args, colour),
    }
}

fn asyncapi_document(args: &AsyncapiArgs, colour: ColourChoice) -> Result<u8, Failure> {
    if let Some(problem) = args.host.as_deref().and_then(asyncapi::host_problem) {
        return Err(Failure::Message(problem.to_owned()));
    }
    let (report, loaded) =
        validate::load_with_schemas(&args.file, args.env.as_deref(), &ProcessEnv);
    if !report.diagnostics.is_empty() {
        let colour = colour.enabled(std::io::stderr().is_terminal());
        print_stderr(&diagnostics_text(&report, colour));
    }
    let Some(validate::WithSchemas { topology, schemas }) = loaded.filter(|_| !report.has_errors())
    else {
        return Err(Failure::Message(format!(
            "{}; nothing was exported",
            NotLoaded::of(&args.file, &report)
        )));
    };
    // No password is read: the document names users, never their secrets.
    let desired = Desired::from_topology(&topology, args.env.as_deref(), &Secrets::SourcesOnly)
        .map_err(|problems| Failure::Message(problems.join("; ")))?;
    let options = asyncapi::Options {
        api_version: args.api_version.as_deref(),
        host: args.host.as_deref(),
    };
    let document = asyncapi::document(&topology, &desired, &schemas, &options);
    let text = format!("{document:#}\n");
    match &args.out {
        Some(out) => std::fs::write(out, text).map_err(|source| Failure::File {
            action: "write the AsyncAPI document to",
            path: out.display().to_string(),
            source,
        })?,
        None => print_stdout(&text),
    }
    Ok(0)
}
