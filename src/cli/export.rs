//! `redis-topology export ...`: the topology in other tools' formats, offline, from the file
//! alone: `export aclfile` (the ACL users as an aclfile, see [`crate::export::aclfile`]) and
//! `export asyncapi` (an AsyncAPI 3.0.0 document, see [`crate::export::asyncapi`]).

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::session::load_topology;
use super::validate::{NotLoaded, diagnostics_text};
use super::{ColourChoice, Failure, print_stderr, print_stdout, print_warning};
use crate::export::{aclfile, asyncapi};
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::model::secrets::{Missing, Secrets};
use crate::validate;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// The ACL users as an aclfile (redis-server's `aclfile` option, `ACL LOAD`): one
    /// `user <name> <rules>` line per user, exactly the rules apply writes, passwords as
    /// `#<sha256>` only (read as apply reads them: a missing one is an error). For servers
    /// whose users come from a mounted file. Exit 0 written, 1 error.
    ///
    /// `default` is written as the topology declares it; a topology that does not declare it
    /// gets a warning: a server that loads the file then creates `default` open (`on nopass
    /// ~* &* +@all`). The file holds only the topology's users: add the tool's own apply or
    /// plan user to it if it is to manage streams there.
    Aclfile(AclfileArgs),
    /// Print an AsyncAPI 3.0.0 document (JSON) of one environment: a channel per stream, a
    /// message per schema version, send and receive operations from the users' grants and
    /// the groups, ACL users as security schemes, Redis details as x-redis-* extensions.
    /// From the file alone (no server is read); no password or hash is ever written.
    Asyncapi(AsyncapiArgs),
}

#[derive(clap::Args, Debug)]
pub struct AclfileArgs {
    /// The topology file.
    #[arg(default_value = "topology.yaml")]
    pub file: PathBuf,
    /// The environment (required when the file declares environments).
    #[arg(long)]
    pub env: Option<String>,
    /// Write the aclfile to PATH (replacing it whole, readable by its owner only) instead of
    /// printing it.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
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
        ExportCommand::Aclfile(args) => export_aclfile(args, colour),
        ExportCommand::Asyncapi(args) => asyncapi_document(args, colour),
    }
}

fn export_aclfile(args: &AclfileArgs, colour: ColourChoice) -> Result<u8, Failure> {
    let topology = load_topology(&args.file, args.env.as_deref(), colour)
        .map_err(|why| Failure::Message(why.to_string()))?;
    let base_dir = validate::base_dir(&args.file);
    // Every password read, as apply reads them: the file must hold every hash.
    let secrets = Secrets::Read {
        vars: &ProcessEnv,
        base_dir: &base_dir,
        missing: Missing::Error,
    };
    let desired = Desired::from_topology(&topology, args.env.as_deref(), &secrets)
        .map_err(Failure::ExportSecrets)?;
    let file = aclfile::aclfile(&desired).map_err(|e| Failure::Message(e.to_string()))?;
    if !file.declares_default {
        print_warning(DEFAULT_OPEN);
    }
    match &args.out {
        None => print_stdout(&file.text),
        Some(path) => {
            write_private(path, &file.text).map_err(|source| Failure::File {
                action: "write the aclfile to",
                path: path.display().to_string(),
                source,
            })?;
            print_warning(&format!(
                "Wrote {} to {}\n",
                crate::text::count(file.users, "ACL user"),
                path.display()
            ));
        }
    }
    Ok(0)
}

/// The warning for a topology that does not declare `default`.
const DEFAULT_OPEN: &str = "warning: the topology does not declare the user `default`, so the aclfile leaves it out, and a server that loads the file creates it `on nopass ~* &* +@all`: every client that does not log in may do everything. Declare it (`default: { enabled: false }`) to lock it\n";

/// Write `text` to `path` whole or not at all (a temporary file next to it, renamed over
/// it, as `ACL SAVE` does), readable and writable by its owner only: password hashes can be
/// attacked offline.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600 on Unix.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
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
