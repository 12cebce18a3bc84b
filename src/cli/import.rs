//! `redis-topology import`: a topology file for what already lives under a namespace.

use std::io::Write as _;
use std::path::Path;

use super::session::{block_on, connect, exit_soon, sentinels, server_url};
use super::{Failure, ImportArgs, print_stdout, print_warning};
use crate::import::{self, Options};
use crate::text::untrusted;
use crate::validate::names::namespace_problem;

pub fn run(args: &ImportArgs) -> Result<u8, Failure> {
    block_on(import(args))
}

async fn import(args: &ImportArgs) -> Result<u8, Failure> {
    let namespace = args.namespace.as_str();
    if let Some(problem) = namespace_problem(namespace) {
        return Err(Failure::Message(format!(
            "the namespace `{}` {problem}; nothing was read",
            untrusted(namespace)
        )));
    }
    // Before connecting: a file that would be refused is said at once.
    if let Some(out) = &args.out
        && !args.force
        && out.exists()
    {
        return Err(exists(out));
    }
    let url = server_url(args.server.url.as_deref(), args.server.url_file.as_deref())
        .map_err(Failure::Message)?;
    let via = sentinels(&args.server.sentinel).map_err(Failure::Message)?;
    let mut target = connect(&url, via.as_ref(), args.server.tls_ca_cert.clone()).await?;
    let found = import::read::read(&mut target, namespace).await?;
    let outcome = import::build(
        namespace,
        &found,
        Options {
            with_hashes: args.with_hashes,
        },
    )
    .map_err(Failure::Message)?;
    for warning in &outcome.warnings {
        print_warning(&format!("warning: {warning}\n"));
    }
    let written = match &args.out {
        Some(out) => {
            write_file(out, &outcome.text, args.force)?;
            format!("written to {}", untrusted(&out.display().to_string()))
        }
        None => {
            print_stdout(&outcome.text);
            "printed".to_owned()
        }
    };
    let plan = match &outcome.environment {
        Some(environment) => format!("redis-topology plan --env {}", untrusted(environment)),
        None => "redis-topology plan".to_owned(),
    };
    print_warning(&format!(
        "imported {} with {}, and {} of namespace `{}` from {}: {written}. Review it (retention, password variables), then `{plan}` it: it should change no stream, group or user\n",
        crate::text::count(outcome.streams, "stream"),
        crate::text::count(outcome.groups, "group"),
        crate::text::count(outcome.users, "ACL user"),
        untrusted(namespace),
        target.describe(),
    ));
    exit_soon((target, found, outcome));
    Ok(0)
}

fn exists(out: &Path) -> Failure {
    Failure::Message(format!(
        "{} exists; import does not overwrite a file: give another --out, or --force to replace it. Nothing was read",
        untrusted(&out.display().to_string())
    ))
}

/// Write the file: created new, unless `--force` allows replacing one.
fn write_file(out: &Path, text: &str, force: bool) -> Result<(), Failure> {
    let failure = |source| Failure::File {
        action: "write the topology to",
        path: out.display().to_string(),
        source,
    };
    if force {
        return std::fs::write(out, text).map_err(failure);
    }
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::Message(format!(
                "{} appeared meanwhile; import does not overwrite a file: give another --out, or --force to replace it",
                untrusted(&out.display().to_string())
            )));
        }
        Err(e) => return Err(failure(e)),
    };
    file.write_all(text.as_bytes()).map_err(failure)?;
    Ok(())
}
