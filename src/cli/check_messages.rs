//! `redis-topology check-messages`: messages against their stream's schema, from a file of
//! JSON lines or sampled from a live server.

use std::io::IsTerminal;

use serde_json::json;

use super::session::{connect, fail, run_async, server_url};
use super::validate::diagnostics_text;
use super::{CheckMessagesArgs, ColourChoice, Format, print_stderr, print_stdout};
use crate::messages::{Checker, Fields, Violation, check_lines};
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::model::schemas::LoadedSchema;
use crate::model::secrets::Secrets;
use crate::resp::{MAX_REPLY_BYTES, Reply, server_words, size_text};
use crate::target::{Command, ReadError, RedactedUrl, TargetError};
use crate::text::{untrusted, untrusted_within};
use crate::validate;

/// Violations shown by the human format (JSON lists all).
const SHOWN: usize = 100;

/// The longest error message printed, in characters.
const ERROR_CHARS: usize = 1_000;

/// A stream with a schema: its full key and the checker of its schema.
struct Checked {
    name: String,
    key: String,
    checker: Checker,
}

pub fn run(args: &CheckMessagesArgs, colour: ColourChoice) -> u8 {
    let streams = match load(args, colour) {
        Ok(streams) => streams,
        Err(code) => return code,
    };
    let results = match (&args.messages, &args.stream) {
        (Some(file), Some(stream)) => from_file(&streams, file, stream),
        _ => match run_async(sample(args, &streams)) {
            Ok(results) => results,
            Err(code) => return code,
        },
    };
    let (checked, violations) = match results {
        Ok(results) => results,
        // It may quote the server (a read's error): escaped and cut like any server text.
        Err(message) => return fail(&untrusted_within(&message, ERROR_CHARS)),
    };
    report(args.format, checked, &violations);
    u8::from(!violations.is_empty())
}

/// The topology's streams that have a schema, each with its compiled checker. Checking a
/// file (`--file`) needs no `--env` when every environment gives the stream the same schema:
/// then any of them will do (a server sample does need one: the namespace may differ).
fn load(args: &CheckMessagesArgs, colour: ColourChoice) -> Result<Vec<Checked>, u8> {
    let env = match (&args.env, &args.stream) {
        (None, Some(stream)) if args.messages.is_some() => agreed_environment(args, stream)?,
        (env, _) => env.clone(),
    };
    let schemas = schemas_of(args, env.as_deref(), Some(colour))?;
    let mut streams = Vec::new();
    for (name, key, schema_name, schema) in schemas {
        let checker = Checker::new(&schema_name, &schema).map_err(|e| fail(&e))?;
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
) -> Result<Vec<StreamSchema>, u8> {
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
        return Err(fail(&super::validate::not_loaded(&args.topology, &report)));
    };
    // Passwords are not needed here: nothing is read for them.
    let desired = Desired::from_topology(&topology, env, &Secrets::SourcesOnly)
        .map_err(|problems| fail(&problems.join("; ")))?;
    Ok(desired
        .streams
        .iter()
        .filter_map(|(key, stream)| {
            let schema_name = stream.schema.clone()?;
            let schema = loaded.get(&schema_name)?.clone();
            Some((stream.name.clone(), key.clone(), schema_name, schema))
        })
        .collect())
}

/// Without `--env`, for a file of messages of `stream`: no environment when the file
/// declares none; else the first, if every environment gives `stream` the same schema
/// (otherwise which differ, and that `--env` is needed).
fn agreed_environment(args: &CheckMessagesArgs, stream: &str) -> Result<Option<String>, u8> {
    let environments = validate::declared_environments(&args.topology);
    let Some(first) = environments.first() else {
        return Ok(None);
    };
    let schema_in = |env: &str| -> Result<Option<(String, LoadedSchema)>, u8> {
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
            return Err(fail(&format!(
                "environments `{}` and `{}` give stream `{stream}` different message schemas: say which one with --env",
                untrusted(first),
                untrusted(env)
            )));
        }
    }
    Ok(Some(first.clone()))
}

fn from_file(
    streams: &[Checked],
    file: &std::path::Path,
    stream: &str,
) -> Result<(usize, Vec<(String, Violation)>), String> {
    let Some(checked) = streams.iter().find(|s| s.name == stream) else {
        let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "stream `{stream}` has no message schema in this topology; streams with one: {}",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ));
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (count, violations) = check_lines(&checked.checker, &text, threads);
    Ok((
        count,
        violations
            .into_iter()
            .map(|v| (checked.name.clone(), v))
            .collect(),
    ))
}

/// The newest `--sample` entries of every stream with a schema, in one pipelined round trip
/// through the bounded reader. One stream per batch: a batch's replies are held until it is
/// whole, and a sample's entries can be large. A sample larger than one reply may be (an
/// entry of 512 MB, or many large ones) is refused, naming the stream, before any of it is
/// read: entries are not skipped, since a sample that leaves entries out would pass for
/// clean.
async fn sample(
    args: &CheckMessagesArgs,
    streams: &[Checked],
) -> Result<(usize, Vec<(String, Violation)>), String> {
    let url = server_url(args.url.as_deref(), args.url_file.as_deref())?;
    let mut target = connect(&url, args.tls_ca_cert.clone())
        .await
        .map_err(|e| e.to_string())?;
    let batches = streams
        .iter()
        .map(|s| {
            vec![
                Command::new("XREVRANGE")
                    .arg(&s.key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(args.sample),
            ]
        })
        .collect();
    let url = target.describe().clone();
    let mut count = 0;
    let mut violations = Vec::new();
    let mut pending = streams.iter();
    let read = target
        .read_replies(batches, |replies| {
            let (Some(stream), Some(reply)) = (pending.next(), replies.first()) else {
                return Ok(());
            };
            for (id, fields) in entries(reply, &stream.key, &url)? {
                count += 1;
                let found = stream.checker.check(&id, &Fields::Redis(&fields));
                violations.extend(found.into_iter().map(|v| (stream.name.clone(), v)));
            }
            Ok(())
        })
        .await;
    match read {
        Ok(()) => Ok((count, violations)),
        Err(ReadError::OverLimit { batch, why, .. }) => Err(format!(
            "{url}: the newest {} entries of `{}` are larger than {}, refusing to read them ({why}): check fewer with --sample, or export them and check the file with --file",
            args.sample,
            streams
                .get(batch)
                .map_or_else(String::new, |s| untrusted(&s.key).into_owned()),
            size_text(MAX_REPLY_BYTES)
        )),
        Err(ReadError::Failed(e)) => Err(e.to_string()),
    }
}

/// A stream entry: its ID and its field/value pairs.
type Entry = (String, Vec<(String, String)>);

/// One `XREVRANGE` reply: `[[id, [field, value, ...]], ...]`, every entry whole, or an error
/// naming the stream.
fn entries(reply: &Reply, key: &str, url: &RedactedUrl) -> Result<Vec<Entry>, TargetError> {
    let what = format!("XREVRANGE {}", untrusted(key));
    let items = match reply {
        Reply::Array(items) => items,
        Reply::Error { code, details } => {
            return Err(TargetError::Other(format!(
                "{url}: {what} failed: {}",
                server_words(code, details)
            )));
        }
        other => {
            return Err(TargetError::Other(format!(
                "{url}: {what} gave {}, not an array of entries",
                other.describe()
            )));
        }
    };
    items
        .iter()
        .map(|item| {
            entry(item).ok_or_else(|| {
                TargetError::Other(format!(
                    "{url}: {what} gave an entry that is {}, not an ID and its field/value pairs",
                    item.describe()
                ))
            })
        })
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

fn report(format: Format, checked: usize, violations: &[(String, Violation)]) {
    let entries = {
        let mut seen: Vec<(&str, &str)> = violations
            .iter()
            .map(|(s, v)| (s.as_str(), v.entry.as_str()))
            .collect();
        seen.dedup();
        seen.len()
    };
    match format {
        Format::Json => {
            let list: Vec<_> = violations
                .iter()
                .map(|(stream, v)| json!({ "stream": stream, "entry": v.entry, "version": v.version, "pointer": v.pointer, "message": v.message }))
                .collect();
            print_stdout(&format!(
                "{:#}\n",
                json!({ "checked": checked, "invalid": entries, "violations": list })
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
            if violations.len() > SHOWN {
                out.push_str(&format!(
                    "... and {} more (--format json lists them all)\n",
                    violations.len() - SHOWN
                ));
            }
            out.push_str(&format!(
                "Checked {checked} messages: {}.\n",
                if entries == 0 {
                    "all valid".to_owned()
                } else {
                    format!("{entries} invalid, {} violations", violations.len())
                }
            ));
            print_stdout(&out);
        }
    }
}
