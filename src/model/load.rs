//! Loading a topology file: read, parse with limits, pick an environment, convert.
//!
//! The steps, each of which can only add diagnostics:
//! 1. read the file (refusing files over [`MAX_FILE_BYTES`] before reading them),
//! 2. parse YAML into a spanned [`Node`] tree under hard limits (aliases, depth, nodes); a
//!    file without environments has each entry of `streams:` converted as it is read
//!    instead ([`parse_document_streaming`]), so that its tree never holds them all,
//! 3. merge the chosen environment's overlay over the base (`environments.<env>`),
//! 4. convert the merged tree into a typed [`Topology`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::convert::{Converter, OVERLAY_FIELDS, StreamsAsRead};
use super::interpolate::Vars;
use super::node::{FileId, Node, NodeKind, Span, merge_overlay};
use super::types::{NamedMap, Sp, Stream, Topology};
use super::yaml::{self, Cause, YamlErrorKind};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, Sources, one_of, suggest};

/// Topology files are hand-written; 10,000 streams take about 1 MB. Anything past this is a
/// mistake (or an attack), refused before it is read into memory.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// A parsed topology file, before any environment is chosen.
pub struct Document {
    pub path: PathBuf,
    pub file: FileId,
    pub root: Node,
}

/// Read and parse a topology file. On failure the diagnostic says why and where.
pub fn read_document(path: &Path, sources: &mut Sources) -> Result<Document, Box<Diagnostic>> {
    parse_document(path, read_text(path)?, sources)
}

/// Parse topology text read from `path`.
pub fn parse_document(
    path: &Path,
    text: String,
    sources: &mut Sources,
) -> Result<Document, Box<Diagnostic>> {
    let (file, text) = added(path, text, sources);
    let root = parse_yaml(&text, file)?;
    Ok(Document {
        path: path.to_path_buf(),
        file,
        root,
    })
}

/// `text` added to the run's sources: its id, and the text as they hold it.
fn added(path: &Path, text: String, sources: &mut Sources) -> (FileId, Arc<String>) {
    let file = sources.add(path, text);
    let text = sources
        .get(file)
        .map(|f| f.text.clone())
        .unwrap_or_default();
    (file, text)
}

/// Streams converted as the file was parsed (see [`parse_document_streaming`]).
pub struct Streamed {
    pub streams: NamedMap<Stream>,
    /// The problems found in them.
    pub diagnostics: Diagnostics,
}

/// [`parse_document`] for one conversion of a file without environments: each entry of
/// `streams:` is converted as soon as it is read and never kept in the tree (`validate` of
/// 100,000 streams: 125 -> 86 MB at its peak, and 0.9x the time). A file that
/// declares environments (whose overlays may change its streams) or that the fast path does
/// not read gives the tree as [`parse_document`] does, and `None`.
pub fn parse_document_streaming(
    path: &Path,
    text: String,
    sources: &mut Sources,
    vars: &dyn Vars,
) -> Result<(Document, Option<Streamed>), Box<Diagnostic>> {
    let (file, text) = added(path, text, sources);
    let document = |root| Document {
        path: path.to_path_buf(),
        file,
        root,
    };
    if !may_declare_environments(&text) {
        let mut streams = StreamsAsRead::new(vars);
        match yaml::parse_streaming(&text, file, &mut streams) {
            // The fast path declined the text: not again before the general parser.
            None => {
                let root = yaml::parse_general(&text, file)
                    .map_err(|e| yaml_diagnostic(&text, file, e))?;
                return Ok((document(root), None));
            }
            // The text check is a cheap guess: the tree has the last word.
            Some((root, streamed)) if root.get("environments").is_none() => {
                let (streams, diagnostics) = streams.finish();
                let streamed = streamed.then_some(Streamed {
                    streams,
                    diagnostics,
                });
                return Ok((document(root), streamed));
            }
            Some(_) => {}
        }
    }
    Ok((document(parse_yaml(&text, file)?), None))
}

/// Whether a line of `text` starts with the key `environments` (plain or quoted), as a
/// top-level key must; `false` means the document has no environments.
///
/// Found by searching for the word and looking back from each place it occurs, not line by
/// line: a file of 10,000 streams has ~30,000 lines, and splitting them took ~1 ms before
/// its streams could start being read.
fn may_declare_environments(text: &str) -> bool {
    text.match_indices("environments").any(|(at, _)| {
        let before = text[..at].trim_end_matches(['"', '\'']);
        before.is_empty() || before.ends_with('\n')
    })
}

/// The text of a file, refusing huge and non-UTF-8 files with a clear message.
pub fn read_text(path: &Path) -> Result<String, Box<Diagnostic>> {
    let shown = path.display();
    let io_error = |e: std::io::Error| {
        Box::new(
            Diagnostic::error(Code::IoRead, format!("cannot read {shown}: {e}"))
                .help("check the path; FILE defaults to `topology.yaml` in the current directory"),
        )
    };
    let size = std::fs::metadata(path).map_err(io_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(Box::new(
            Diagnostic::error(
                Code::FileTooLarge,
                format!(
                    "{shown} is {:.1} MB; topology files are limited to {} MB",
                    size as f64 / 1e6,
                    MAX_FILE_BYTES / 1024 / 1024
                ),
            )
            .help("split the topology, or check that this is the file you meant"),
        ));
    }
    let bytes = std::fs::read(path).map_err(io_error)?;
    String::from_utf8(bytes).map_err(|e| {
        // Where, in the terms an editor shows: line and column of the first invalid byte.
        let valid = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]);
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Box::new(
            Diagnostic::error(
                Code::NotUtf8,
                format!(
                    "{shown} is not UTF-8 text: invalid byte at line {line}, column {column} (byte offset {valid})"
                ),
            )
            .help("topology files are YAML, which must be UTF-8 encoded"),
        )
    })
}

/// Parse YAML text into a spanned tree (see [`super::yaml`] for the limits).
pub fn parse_yaml(text: &str, file: FileId) -> Result<Node, Box<Diagnostic>> {
    yaml::parse(text, file).map_err(|e| yaml_diagnostic(text, file, e))
}

/// A YAML error as the diagnostic a user reads: where, what, and how to fix it.
fn yaml_diagnostic(text: &str, file: FileId, mut e: yaml::YamlError) -> Box<Diagnostic> {
    if e.cause == Cause::UnknownAnchor
        && let Some(alias) = alias_at(text, e.offset)
    {
        e.message = format!("the alias `*{alias}` names no anchor defined before it");
        e.help = Some(
            "YAML reads top to bottom: define the anchor (`&name`) before the first `*name` that uses it",
        );
        e.len = alias.len() + 1;
    }
    let span = Span::new(file, e.offset, e.len);
    Box::new(match e.kind {
        YamlErrorKind::Limit => Diagnostic::error(
            Code::YamlLimit,
            format!("the YAML exceeds a safety limit: {}", e.message),
        )
        .at(span)
        .label("limit exceeded here")
        .help("topology files are small and flat; nesting depth, node count and alias expansion (`*alias`) are capped to keep the tool safe on untrusted input"),
        YamlErrorKind::Syntax => {
            // Only for the errors an unclosed bracket or quote causes: elsewhere an open
            // `{` at the error is no mistake.
            let unclosed = (e.cause == Cause::MaybeUnclosed)
                .then(|| unclosed(text, e.offset))
                .flatten();
            let help = match (e.help, unclosed) {
                (Some(help), _) => help.to_owned(),
                (None, Some(unclosed)) => unclosed,
                (None, None) if e.cause == Cause::Tab => {
                    "indent with spaces: YAML does not allow tabs for indentation".to_owned()
                }
                (None, None) => "fix the YAML at this place (check indentation, quotes, brackets and the `:` after keys)".to_owned(),
            };
            Diagnostic::error(Code::YamlSyntax, format!("invalid YAML: {}", e.message))
                .at(span)
                .label(e.message.clone())
                .help(help)
        }
    })
}

/// Where a parser error is found is often after the mistake: the line after a `{`, `[` or
/// quote that was never closed. Name that opener, if there is one before `offset`.
fn unclosed(text: &str, offset: usize) -> Option<String> {
    // Up to and including the character at the error: "unclosed quote" points at the quote.
    let end = text
        .get(offset..)?
        .chars()
        .next()
        .map_or(offset, |c| offset + c.len_utf8());
    let before = text.get(..end)?;
    let mut brackets: Vec<(usize, char)> = Vec::new();
    let mut quote: Option<(usize, char)> = None;
    let mut chars = before.char_indices().peekable();
    let mut previous = '\n';
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some((_, '"')), '\\') => {
                chars.next(); // an escaped character inside "..."
            }
            (Some((_, q)), c) if c == q => {
                // '' inside '...' is an escaped quote
                if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            (Some(_), _) => {}
            (None, '"' | '\'') if previous.is_whitespace() || "[{,:".contains(previous) => {
                quote = Some((i, c));
            }
            (None, '#') if previous.is_whitespace() => {
                while chars.peek().is_some_and(|(_, n)| *n != '\n') {
                    chars.next();
                }
            }
            (None, '{' | '[') => brackets.push((i, c)),
            (None, '}' | ']') => {
                brackets.pop();
            }
            _ => {}
        }
        previous = c;
    }
    let (at, what, close) = match (quote, brackets.last()) {
        (Some((at, q)), _) => (at, format!("quote `{q}`"), q),
        (None, Some((at, '{'))) => (*at, "`{`".to_owned(), '}'),
        (None, Some((at, _))) => (*at, "`[`".to_owned(), ']'),
        (None, None) => return None,
    };
    let line = before[..at].matches('\n').count() + 1;
    let column = before[..at]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.chars().count())
        + 1;
    Some(format!(
        "the {what} at line {line}, column {column} is never closed: add `{close}` where it should end"
    ))
}

/// The name of the alias (`*name`) at a byte offset, for messages.
fn alias_at(text: &str, offset: usize) -> Option<&str> {
    let name = text.get(offset..)?.strip_prefix('*')?;
    let end = name
        .find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
        .unwrap_or(name.len());
    Some(&name[..end]).filter(|n| !n.is_empty())
}

/// The environments a document declares, with their spans.
pub fn environment_names(root: &Node) -> Vec<Sp<String>> {
    root.get("environments")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| Some(Sp::new(k.key_text()?.into_owned(), k.span)))
        .collect()
}

/// Check the shape of `environments` once per file: each overlay is a mapping of known fields.
pub fn check_environments(root: &Node, diags: &mut Diagnostics) {
    let Some(envs) = root.get("environments") else {
        return;
    };
    let Some(entries) = envs.as_map() else {
        if !envs.is_null() {
            diags.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "`environments` must be a mapping of environment names, found {}",
                        envs.describe()
                    ),
                )
                .at(envs.span)
                .help("write `environments: { dev: { namespace: dev-agentic }, prod: {} }`"),
            );
        }
        return;
    };
    for (name, overlay) in entries {
        let env = name.key_text().unwrap_or_default();
        if let Some(c) = env.chars().find(|c| c.is_whitespace() || c.is_control()) {
            // Environment names are printed in plans, diffs and the record: one with a
            // newline could forge an output line.
            diags.push(
                Diagnostic::error(
                    Code::NameInvalid,
                    format!(
                        "environment name `{}` contains whitespace or a control character ({c:?})",
                        env.escape_debug()
                    ),
                )
                .at(name.span)
                .label("invalid name")
                .help("name environments with letters, digits, `-`, `_` or `.`, e.g. `prod-eu`"),
            );
            continue;
        }
        let Some(fields) = overlay.as_map() else {
            if !overlay.is_null() {
                diags.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!(
                            "environment `{env}` must be a mapping, found {}",
                            overlay.describe()
                        ),
                    )
                    .at(overlay.span)
                    .help("write `{}` for an environment identical to the base"),
                );
            }
            continue;
        };
        for (key, _) in fields {
            let field = key.key_text().unwrap_or_default();
            if OVERLAY_FIELDS.contains(&&*field) {
                continue;
            }
            let help = suggest(
                &field,
                OVERLAY_FIELDS,
                format!("an environment may override {}", one_of(OVERLAY_FIELDS)),
            );
            diags.push(
                Diagnostic::error(
                    Code::EnvOverlayField,
                    format!("environment `{env}` cannot set `{field}`"),
                )
                .at(key.span)
                .label("not overridable")
                .help(help),
            );
        }
    }
}

/// The error for an `--env` that the file does not declare.
pub fn unknown_environment(doc: &Document, env: &str) -> Diagnostic {
    let names = environment_names(&doc.root);
    let shown = doc.path.display();
    if names.is_empty() {
        return Diagnostic::error(
            Code::EnvUnknown,
            format!("--env {env}: {shown} declares no environments"),
        )
        .help("remove --env, or add `environments: { <name>: {} }` to the file");
    }
    let list: Vec<&str> = names.iter().map(|n| n.value.as_str()).collect();
    let help = suggest(
        env,
        &list,
        format!("declared environments: {}", one_of(&list)),
    );
    Diagnostic::error(
        Code::EnvUnknown,
        format!("--env {env}: {shown} has no environment `{env}`"),
    )
    .help(help)
}

/// Whether an environment's overlay changes nothing (`prod: {}`, `prod:`, or only fields
/// that cannot be overridden, which `check_environments` reports).
pub fn overlay_is_empty(root: &Node, env: &str) -> bool {
    let overlay = root.get("environments").and_then(|e| e.get(env));
    overlay.and_then(Node::as_map).is_none_or(|entries| {
        entries
            .iter()
            .all(|(k, _)| k.key_text().is_none_or(|k| !OVERLAY_FIELDS.contains(&&*k)))
    })
}

/// The document as seen in one environment: the base with the environment's overlay merged
/// (only its overridable fields; others were reported by [`check_environments`]).
/// `environments` itself stays in the tree and is ignored by the converter.
pub fn resolve(root: Node, env: &str) -> Node {
    let overlay = root.get("environments").and_then(|e| e.get(env));
    let allowed: Option<Vec<(Node, Node)>> = overlay.and_then(Node::as_map).map(|entries| {
        entries
            .iter()
            .filter(|(k, _)| k.key_text().is_some_and(|k| OVERLAY_FIELDS.contains(&&*k)))
            .cloned()
            .collect()
    });
    let mut merged = root;
    if let Some(allowed) = allowed {
        let overlay = Node {
            kind: NodeKind::Map(allowed.into()),
            span: merged.span,
        };
        merge_overlay(&mut merged, &overlay);
    }
    merged
}

/// Convert the document as seen in one environment (`None`: the base). The tree is consumed
/// (see [`Converter::topology`]): pass a clone (cheap, shared) to convert it again.
pub fn topology(
    root: Node,
    env: Option<&str>,
    vars: &dyn Vars,
    diags: &mut Diagnostics,
) -> Option<Topology> {
    let mut converter = Converter { diags, vars };
    match env {
        None => converter.topology(root),
        Some(env) => converter.topology(resolve(root, env)),
    }
}

/// [`topology`] of the base (no environment) of a document whose streams were converted
/// as it was parsed ([`parse_document_streaming`]).
pub fn topology_streamed(
    root: Node,
    streamed: Streamed,
    vars: &dyn Vars,
    diags: &mut Diagnostics,
) -> Option<Topology> {
    diags.extend(streamed.diagnostics);
    Converter { diags, vars }.topology_with(root, Some(streamed.streams))
}

#[cfg(test)]
mod tests {
    /// The search finds exactly the lines that start with the word, after any quotes.
    #[test]
    fn environments_are_found_as_line_by_line() {
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        let by_lines = |text: &str| {
            text.split('\n').any(|line| {
                line.trim_start_matches(['"', '\''])
                    .starts_with("environments")
            })
        };
        let piece = prop::sample::select(vec![
            "environments",
            "environment",
            "\n",
            "\"",
            "'",
            " ",
            "x",
            ":",
            "é",
        ]);
        let mut runner = TestRunner::default();
        runner
            .run(&prop::collection::vec(piece, 0..12), |pieces| {
                let text = pieces.concat();
                prop_assert_eq!(
                    may_declare_environments(&text),
                    by_lines(&text),
                    "{:?}",
                    text
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    use super::*;

    /// The topology and the diagnostics (in file order, as reports show them) of `text`,
    /// loaded without environments through the tree, or streaming its streams.
    fn loaded(text: &str, streaming: bool) -> String {
        let vars: std::collections::HashMap<String, String> = [
            ("X".to_owned(), "x".to_owned()),
            ("SAME".to_owned(), "a".to_owned()),
        ]
        .into();
        let (path, mut sources, mut diags) = (Path::new("t.yaml"), Sources::default(), Vec::new());
        let parsed = if streaming {
            parse_document_streaming(path, text.to_owned(), &mut sources, &vars)
        } else {
            parse_document(path, text.to_owned(), &mut sources).map(|doc| (doc, None))
        };
        let topology = match parsed {
            Err(diagnostic) => return format!("{diagnostic:?}"),
            Ok((doc, Some(streamed))) => topology_streamed(doc.root, streamed, &vars, &mut diags),
            Ok((doc, None)) => topology(doc.root, None, &vars, &mut diags),
        };
        diags.sort_by_key(|d| d.span.map(|s| (s.file, s.offset)));
        format!("{topology:#?}\n{diags:#?}")
    }

    /// Streams converted as they are read make the same topology, with the same problems
    /// at the same places, as streams converted from the whole tree: on every example and
    /// corpus file without environments, and on streams written to go wrong.
    #[test]
    fn streaming_the_streams_loads_the_same_topology_and_problems() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts: Vec<String> = ["examples", "tests/corpus", "tests/fixtures"]
            .iter()
            .flat_map(|dir| std::fs::read_dir(root.join(dir)).into_iter().flatten())
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .filter(|text| !text.contains("environments"))
            .collect();
        assert!(texts.len() > 50, "found only {} files", texts.len());
        texts.push(
            "version: 1\nnamespace: ns\nstreams:\n  a: { retention: { maxlen: -1 } }\n  \"${X}\": {}\n  x: {}\n  b: { groups: { g: { start: nope } }, colour: red }\n  ${NOPE}: {}\n  c:\n  ${SAME}: {}\n".to_owned(),
        );
        let mut streamed = 0;
        for text in &texts {
            let mut sources = Sources::default();
            let vars = std::collections::HashMap::new();
            if let Ok((_, Some(_))) =
                parse_document_streaming(Path::new("t.yaml"), text.clone(), &mut sources, &vars)
            {
                streamed += 1;
            }
            assert_eq!(loaded(text, true), loaded(text, false), "{text}");
        }
        assert!(streamed > 20, "only {streamed} files streamed");
        let last = loaded(texts.last().map_or("", String::as_str), true);
        for problem in [
            "maxlen",
            "named `x` once variables are expanded",
            "NOPE",
            "colour",
        ] {
            assert!(last.contains(problem), "{problem} not found in {last}");
        }
    }

    /// A file that declares environments is read into a whole tree (an overlay may change
    /// its streams), even where `environments` is quoted.
    #[test]
    fn files_with_environments_are_not_streamed() {
        let vars = std::collections::HashMap::new();
        for text in [
            "version: 1\nnamespace: ns\nstreams:\n  a: {}\nenvironments:\n  prod: {}\n",
            "version: 1\nnamespace: ns\nstreams:\n  a: {}\n\"environments\":\n  prod: {}\n",
        ] {
            let (doc, streamed) = parse_document_streaming(
                Path::new("t.yaml"),
                text.to_owned(),
                &mut Sources::default(),
                &vars,
            )
            .expect("parsed");
            assert!(streamed.is_none(), "{text}");
            assert!(
                doc.root.get("streams").and_then(|s| s.get("a")).is_some(),
                "the tree keeps its streams: {text}"
            );
        }
    }

    #[test]
    fn the_unclosed_opener_is_named_quotes_and_comments_aside() {
        let at = |text: &str, marker: &str| unclosed(text, text.find(marker).unwrap_or(0));
        assert_eq!(
            at("a: { b: 1\nc: 2\n", "c:").as_deref(),
            Some("the `{` at line 1, column 4 is never closed: add `}` where it should end")
        );
        // Closed brackets, brackets in quotes (with escapes) and in comments do not count.
        assert_eq!(
            at("a: { b: \"}{\\\"\" }\n# [ {\nc: 'x''[y'\nd:", "d:"),
            None
        );
        assert_eq!(
            at("a: [1, 2\nb: 3", "b:").as_deref(),
            Some("the `[` at line 1, column 4 is never closed: add `]` where it should end")
        );
        assert_eq!(
            at("a: \"open\nb: 1", "b:").as_deref(),
            Some(
                "the quote `\"` at line 1, column 4 is never closed: add `\"` where it should end"
            )
        );
        assert_eq!(alias_at("x: *base, y", 3), Some("base"));
        assert_eq!(alias_at("x: base", 3), None);
    }
}
