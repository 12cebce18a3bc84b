//! `redis-topology check-messages`: messages against their stream's schema, from a file of
//! JSON lines or sampled from a live server.

use std::io::IsTerminal;

use serde_json::json;

use super::session::{connect, run_async, sentinels, server_url};
use super::validate::{NotLoaded, diagnostics_text};
use super::{CheckMessagesArgs, ColourChoice, Failure, Format, print_stderr, print_stdout};
use crate::messages::{BLOCK_BYTES, Checker, Fields, MAX_LISTED, Violation, check_reader};
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::model::schemas::LoadedSchema;
use crate::model::secrets::Secrets;
use crate::resp::{MAX_REPLY_BYTES, Reply, size_text};
use crate::target::keyed::{BatchLimits, KeyCommands};
use crate::target::{Command, NodeId, ReadError, RedactedUrl, ServerError, TargetError};
use crate::text::{untrusted, untrusted_within};
use crate::validate;

/// Violations shown by the human format (JSON lists all).
const SHOWN: usize = 100;

/// The longest error message printed, in characters.
const ERROR_CHARS: usize = 1_000;

/// Why check-messages could not check (violations are its result, not errors).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The topology has errors (its diagnostics are printed already), or cannot be read.
    #[error(transparent)]
    NotLoaded(NotLoaded),
    /// What the file's sources of secrets say is wrong (one problem per item).
    #[error("{}", .0.join("; "))]
    Topology(Vec<String>),
    /// A stream's message schema cannot be compiled into a checker.
    #[error("{0}")]
    Schema(String),
    /// Without `--env`, the environments give the stream different schemas.
    #[error(
        "environments `{}` and `{}` give stream `{stream}` different message schemas: say which one with --env",
        untrusted(.first),
        untrusted(.other)
    )]
    SchemasDiffer {
        first: String,
        other: String,
        stream: String,
    },
    /// Reading the messages failed. It may quote the server: escaped and cut like any
    /// server text.
    #[error("{}", untrusted_within(&.0.to_string(), ERROR_CHARS))]
    Read(ReadFailure),
}

/// Why the messages could not be read, from the file or the server.
#[derive(Debug, thiserror::Error)]
pub enum ReadFailure {
    /// `--stream` names a stream without a schema (`with_schema`: those with one).
    #[error(
        "stream `{stream}` has no message schema in this topology; streams with one: {}",
        if .with_schema.is_empty() { "none".to_owned() } else { .with_schema.join(", ") }
    )]
    NoSchema {
        stream: String,
        with_schema: Vec<String>,
    },
    #[error("cannot read {}: {source}", .path.display())]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The server URL cannot be resolved.
    #[error("{0}")]
    Url(String),
    /// Connecting to the server, or reading from it, failed.
    #[error(transparent)]
    Target(TargetError),
    /// A stream's sample is larger than a reply may be (`why`: what the server announced
    /// and the limit).
    #[error(
        "{url}: the newest {sample} entries of `{}` are larger than {}, refusing to read them ({why}): check fewer with --sample, or export them and check the file with --file",
        untrusted(.key),
        size_text(MAX_REPLY_BYTES)
    )]
    SampleTooLarge {
        url: RedactedUrl,
        sample: usize,
        key: String,
        why: String,
    },
    /// A stream's `XREVRANGE` reply is not entries.
    #[error("{url}: XREVRANGE {} {problem}", untrusted(.key))]
    Entries {
        url: RedactedUrl,
        key: String,
        problem: EntriesProblem,
    },
}

/// What is wrong with an `XREVRANGE` reply (shapes described as [`Reply::describe`] does).
#[derive(Debug, thiserror::Error)]
pub enum EntriesProblem {
    #[error("failed: {0}")]
    Failed(ServerError),
    #[error("gave {0}, not an array of entries")]
    NotAnArray(String),
    #[error("gave an entry that is {0}, not an ID and its field/value pairs")]
    NotAnEntry(String),
}

impl From<ReadFailure> for CheckError {
    fn from(failure: ReadFailure) -> CheckError {
        CheckError::Read(failure)
    }
}

/// A stream with a schema: its full key and the checker of its schema.
struct Checked {
    name: String,
    key: String,
    checker: Checker,
}

/// Messages checked, and the violations found (each with its stream's name).
/// What was checked, and what was found (by stream).
struct Results {
    checked: usize,
    /// Entries with at least one violation.
    invalid: usize,
    /// The first [`MAX_LISTED`] violations.
    violations: Vec<(String, Violation)>,
    /// Violations past those, counted only.
    unlisted: usize,
}

pub fn run(args: &CheckMessagesArgs, colour: ColourChoice) -> Result<u8, Failure> {
    let streams = load(args, colour)?;
    let results = match (&args.messages, &args.stream) {
        (Some(file), Some(stream)) => {
            from_file(&streams, file, stream).map_err(CheckError::from)?
        }
        _ => run_async(sample(args, &streams))?.map_err(CheckError::from)?,
    };
    report(args.format, &results);
    Ok(u8::from(results.invalid > 0))
}

/// The topology's streams that have a schema, each with its compiled checker. Checking a
/// file (`--file`) needs no `--env` when every environment gives the stream the same schema:
/// then any of them will do (a server sample does need one: the namespace may differ).
fn load(args: &CheckMessagesArgs, colour: ColourChoice) -> Result<Vec<Checked>, CheckError> {
    let env = match (&args.env, &args.stream) {
        (None, Some(stream)) if args.messages.is_some() => agreed_environment(args, stream)?,
        (env, _) => env.clone(),
    };
    let schemas = schemas_of(args, env.as_deref(), Some(colour))?;
    let mut streams = Vec::new();
    for (name, key, schema_name, schema) in schemas {
        let checker = Checker::new(&schema_name, &schema).map_err(CheckError::Schema)?;
        streams.push(Checked { name, key, checker });
    }
    Ok(streams)
}

/// A stream with a schema: its name, key, schema name and schema.
type StreamSchema = (String, String, String, LoadedSchema);

/// Each stream with a schema, in one environment, printing the file's diagnostics when
/// given a colour choice.
fn schemas_of(
    args: &CheckMessagesArgs,
    env: Option<&str>,
    print: Option<ColourChoice>,
) -> Result<Vec<StreamSchema>, CheckError> {
    let (report, loaded) = validate::load_with_schemas(&args.topology, env, &ProcessEnv);
    if let Some(colour) = print
        && !report.diagnostics.is_empty()
    {
        print_stderr(&diagnostics_text(
            &report,
            colour.enabled(std::io::stderr().is_terminal()),
        ));
    }
    let Some(validate::WithSchemas {
        topology,
        schemas: loaded,
    }) = loaded.filter(|_| !report.has_errors())
    else {
        return Err(CheckError::NotLoaded(NotLoaded::of(
            &args.topology,
            &report,
        )));
    };
    // Passwords are not needed here: nothing is read for them.
    let desired = Desired::from_topology(&topology, env, &Secrets::SourcesOnly)
        .map_err(CheckError::Topology)?;
    Ok(desired
        .streams
        .iter()
        .filter_map(|(key, stream)| {
            let schema_name = stream.schema.clone()?;
            let schema = loaded.get(&schema_name)?.clone();
            Some((stream.name.to_string(), key.clone(), schema_name, schema))
        })
        .collect())
}

/// Without `--env`, for a file of messages of `stream`: no environment when the file
/// declares none; else the first, if every environment gives `stream` the same schema
/// (otherwise which differ, and that `--env` is needed).
fn agreed_environment(
    args: &CheckMessagesArgs,
    stream: &str,
) -> Result<Option<String>, CheckError> {
    let environments = validate::declared_environments(&args.topology);
    let Some(first) = environments.first() else {
        return Ok(None);
    };
    let schema_in = |env: &str| -> Result<Option<(String, LoadedSchema)>, CheckError> {
        // Diagnostics are printed once, by the load that follows.
        let schemas = schemas_of(args, Some(env), None)?;
        Ok(schemas
            .into_iter()
            .find(|(name, ..)| name == stream)
            .map(|(_, _, schema_name, schema)| (schema_name, schema)))
    };
    let expected = schema_in(first)?;
    for env in &environments[1..] {
        if schema_in(env)? != expected {
            return Err(CheckError::SchemasDiffer {
                first: first.clone(),
                other: env.clone(),
                stream: stream.to_owned(),
            });
        }
    }
    Ok(Some(first.clone()))
}

fn from_file(
    streams: &[Checked],
    file: &std::path::Path,
    stream: &str,
) -> Result<Results, ReadFailure> {
    let Some(checked) = streams.iter().find(|s| s.name == stream) else {
        return Err(ReadFailure::NoSchema {
            stream: stream.to_owned(),
            with_schema: streams.iter().map(|s| s.name.clone()).collect(),
        });
    };
    let cannot_read = |source| ReadFailure::File {
        path: file.to_owned(),
        source,
    };
    let reader = std::fs::File::open(file).map_err(cannot_read)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Block by block: memory stays bounded whatever the file's size.
    let found =
        check_reader(&checked.checker, reader, threads, BLOCK_BYTES).map_err(cannot_read)?;
    Ok(Results {
        checked: found.checked,
        invalid: found.invalid,
        violations: found
            .violations
            .into_iter()
            .map(|v| (checked.name.clone(), v))
            .collect(),
        unlisted: found.unlisted,
    })
}

/// The newest `--sample` entries of every stream with a schema, in one pipelined round trip
/// through the bounded reader. One stream per batch: a batch's replies are held until it is
/// whole, and a sample's entries can be large. A sample larger than one reply may be (an
/// entry of 512 MB, or many large ones) is refused, naming the stream, before any of it is
/// read: entries are not skipped, since a sample that leaves entries out would pass for
/// clean.
///
/// A reply that is not entries stops the checking: it is kept as the error, and the replies
/// after it (already on their way) are read but not checked.
async fn sample(args: &CheckMessagesArgs, streams: &[Checked]) -> Result<Results, ReadFailure> {
    let url =
        server_url(args.url.as_deref(), args.url_file.as_deref()).map_err(ReadFailure::Url)?;
    let via = sentinels(&args.sentinel).map_err(ReadFailure::Url)?;
    let mut target = connect(&url, via.as_ref(), args.tls_ca_cert.clone())
        .await
        .map_err(ReadFailure::Target)?;
    // One stream per batch, each on the node that serves it.
    let limits = BatchLimits { keys: 1, heavy: 1 };
    let sample_of = |key: &str, _: NodeId| KeyCommands {
        commands: vec![
            Command::new("XREVRANGE")
                .arg(key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(args.sample),
        ],
        heavy: true,
    };
    let keys: Vec<&str> = streams.iter().map(|s| s.key.as_str()).collect();
    let by_key: std::collections::HashMap<&str, &Checked> =
        streams.iter().map(|s| (s.key.as_str(), s)).collect();
    let url = target.describe().clone();
    let mut count = 0;
    let mut violations = Vec::new();
    let mut malformed = None;
    let read = target
        .read_keys(&keys, limits, &sample_of, &mut |key, _, replies| {
            let (Some(stream), Some(reply)) = (by_key.get(key), replies.first()) else {
                return Ok(());
            };
            if malformed.is_some() {
                return Ok(());
            }
            match entries(reply) {
                Ok(entries) => {
                    for (id, fields) in entries {
                        count += 1;
                        let found = stream.checker.check(&id, &Fields::Redis(&fields));
                        violations.extend(found.into_iter().map(|v| (stream.name.clone(), v)));
                    }
                }
                Err(problem) => {
                    malformed = Some(ReadFailure::Entries {
                        url: url.clone(),
                        key: stream.key.clone(),
                        problem,
                    });
                }
            }
            Ok(())
        })
        .await;
    match (read, malformed) {
        (_, Some(malformed)) => Err(malformed),
        (Ok(()), None) => {
            let invalid = {
                let mut seen: Vec<(&str, &str)> = violations
                    .iter()
                    .map(|(s, v): &(String, Violation)| (s.as_str(), v.entry.as_str()))
                    .collect();
                seen.dedup();
                seen.len()
            };
            Ok(Results {
                checked: count,
                invalid,
                violations,
                unlisted: 0,
            })
        }
        (Err(ReadError::OverLimit { key, why, .. }), None) => Err(ReadFailure::SampleTooLarge {
            url,
            sample: args.sample,
            key: key.unwrap_or_default(),
            why,
        }),
        (Err(ReadError::Failed(e)), None) => Err(ReadFailure::Target(e)),
    }
}

/// A stream entry: its ID and its field/value pairs.
type Entry = (String, Vec<(String, String)>);

/// One `XREVRANGE` reply: `[[id, [field, value, ...]], ...]`, every entry whole, or what
/// is wrong with it.
fn entries(reply: &Reply) -> Result<Vec<Entry>, EntriesProblem> {
    let items = match reply {
        Reply::Array(items) => items,
        Reply::Error { code, details } => {
            return Err(EntriesProblem::Failed(ServerError::new(code, details)));
        }
        other => return Err(EntriesProblem::NotAnArray(other.describe())),
    };
    items
        .iter()
        .map(|item| entry(item).ok_or_else(|| EntriesProblem::NotAnEntry(item.describe())))
        .collect()
}

/// One entry: its ID and its fields, as text (invalid UTF-8 replaced).
fn entry(item: &Reply) -> Option<Entry> {
    let Reply::Array(pair) = item else {
        return None;
    };
    let [id, Reply::Array(fields)] = pair.as_slice() else {
        return None;
    };
    if fields.len() % 2 != 0 {
        return None;
    }
    let fields = fields
        .chunks_exact(2)
        .map(|kv| Some((kv[0].text()?.into_owned(), kv[1].text()?.into_owned())))
        .collect::<Option<Vec<_>>>()?;
    Some((id.text()?.into_owned(), fields))
}

fn report(format: Format, results: &Results) {
    let Results {
        checked,
        invalid: entries,
        violations,
        unlisted,
    } = results;
    let total = violations.len() + unlisted;
    match format {
        Format::Json => {
            let list: Vec<_> = violations
                .iter()
                .map(|(stream, v)| json!({ "stream": stream, "entry": v.entry, "version": v.version, "pointer": v.pointer, "message": v.message }))
                .collect();
            print_stdout(&format!(
                "{:#}\n",
                json!({ "checked": checked, "invalid": entries, "violations": list, "unlisted": unlisted })
            ));
        }
        // --quiet: all valid is silence; violations are the command's errors.
        Format::Human if super::quiet() && violations.is_empty() => {}
        Format::Human => {
            let mut out = String::new();
            for (stream, v) in violations.iter().take(SHOWN) {
                let version = v
                    .version
                    .map_or_else(|| "no version".to_owned(), |n| format!("v{n}"));
                let pointer = if v.pointer.is_empty() {
                    "/"
                } else {
                    &v.pointer
                };
                out.push_str(&format!(
                    "{stream} {} ({version}) at {pointer}: {}\n",
                    v.entry, v.message
                ));
            }
            if total > SHOWN {
                out.push_str(&format!(
                    "... and {} more (--format json lists the first {})\n",
                    total - SHOWN,
                    MAX_LISTED
                ));
            }
            out.push_str(&format!(
                "Checked {checked} messages: {}.\n",
                if *entries == 0 {
                    "all valid".to_owned()
                } else {
                    format!("{entries} invalid, {total} violations")
                }
            ));
            print_stdout(&out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_that_is_not_entries_says_what_it_is() {
        let problem = |reply: &Reply| entries(reply).expect_err("not entries").to_string();
        assert_eq!(
            problem(&Reply::Error {
                code: "NOPERM",
                details: "no permissions"
            }),
            "failed: NOPERM no permissions"
        );
        assert_eq!(
            problem(&Reply::Int(3)),
            "gave the integer 3, not an array of entries"
        );
        assert_eq!(
            problem(&Reply::Array(vec![Reply::Nil])),
            "gave an entry that is nil, not an ID and its field/value pairs"
        );
        let entry = Reply::Array(vec![
            Reply::Bytes(b"1-0"),
            Reply::Array(vec![Reply::Bytes(b"v"), Reply::Bytes(b"1")]),
        ]);
        assert_eq!(
            entries(&Reply::Array(vec![entry])).expect("one entry"),
            vec![("1-0".to_owned(), vec![("v".to_owned(), "1".to_owned())])]
        );
    }

    #[test]
    fn a_read_failure_is_cut_to_one_short_line() {
        let long = CheckError::from(ReadFailure::Url(format!("{}\n", "x".repeat(5_000))));
        let text = long.to_string();
        assert!(text.chars().count() < ERROR_CHARS + 40, "{}", text.len());
        assert!(text.ends_with("more bytes)"), "{text}");
        assert!(!text.contains('\n'));
    }
}
