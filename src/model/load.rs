//! Loading a topology file: read, parse with limits, pick an environment, convert.
//!
//! The steps, each of which can only add diagnostics:
//! 1. read the file (refusing files over [`MAX_FILE_BYTES`] before reading them),
//! 2. parse YAML into a spanned [`Node`] tree under a [`Budget`] (aliases, depth, nodes),
//! 3. merge the chosen environment's overlay over the base (`environments.<env>`),
//! 4. convert the merged tree into a typed [`Topology`].

use std::path::{Path, PathBuf};

use serde_saphyr::{Budget, Options};

use super::convert::{Converter, OVERLAY_FIELDS};
use super::interpolate::Vars;
use super::node::{FileId, Node, NodeKind, Span, merge_overlay};
use super::types::{Sp, Topology};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, Sources, did_you_mean, one_of};

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
    let text = read_text(path)?;
    let file = sources.add(path, text);
    let text = sources.get(file).map(|f| f.text.clone()).unwrap_or_default();
    let root = parse_yaml(&text, file, sources)?;
    Ok(Document {
        path: path.to_path_buf(),
        file,
        root,
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
        Box::new(
            Diagnostic::error(
                Code::NotUtf8,
                format!(
                    "{shown} is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
            .help("topology files are YAML, which must be UTF-8 encoded"),
        )
    })
}

/// Limits that keep a hostile file from exhausting memory or stack. Generous for real
/// topologies (a 10,000-stream file has about 150,000 nodes), tight for alias bombs.
fn parse_options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 64;
    budget.max_nodes = 2_000_000;
    budget.max_events = 4_000_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES as usize;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    options.alias_limits.max_total_replayed_events = 1_000_000;
    options
}

/// Parse YAML text into a spanned tree. An empty file is a `null` root.
pub fn parse_yaml(text: &str, file: FileId, sources: &Sources) -> Result<Node, Box<Diagnostic>> {
    if text.trim().is_empty() {
        return Ok(Node {
            kind: NodeKind::Scalar(super::node::Scalar::Null),
            span: Span {
                file,
                offset: 0,
                len: 0,
            },
        });
    }
    match serde_saphyr::from_str_with_options::<Node>(text, parse_options()) {
        Ok(mut root) => {
            root.set_file(file);
            Ok(root)
        }
        Err(e) => Err(Box::new(yaml_error(&e, file, sources))),
    }
}

fn yaml_error(error: &serde_saphyr::Error, file: FileId, sources: &Sources) -> Diagnostic {
    let is_limit = matches!(error, serde_saphyr::Error::Budget { .. });
    let text = error.to_string();
    let message = clean_parser_message(&text);
    let mut diagnostic = if is_limit {
        Diagnostic::error(Code::YamlLimit, format!("the YAML exceeds a safety limit: {message}"))
            .help("topology files are small and flat; deep nesting and alias expansion (`*alias`) are capped to keep the tool safe on untrusted input")
    } else {
        Diagnostic::error(Code::YamlSyntax, format!("invalid YAML: {message}"))
            .help("fix the YAML syntax at this place (check indentation, quotes and `:` after keys)")
    };
    if let Some(location) = error.location() {
        let span = sources.span_at(file, location.line() as usize, location.column() as usize);
        diagnostic = diagnostic.at(span).label(message);
    }
    diagnostic
}

/// The parser's message without its position prefix or advice about its own options.
fn clean_parser_message(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first.split_once(": ") {
        Some((position, rest)) if position.starts_with("line ") => rest,
        _ => first,
    };
    first
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        .trim()
        .to_owned()
}

/// The environments a document declares, with their spans.
pub fn environment_names(root: &Node) -> Vec<Sp<String>> {
    root.get("environments")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| Some(Sp::new(k.key_text()?, k.span)))
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
                    format!("`environments` must be a mapping of environment names, found {}", envs.describe()),
                )
                .at(envs.span)
                .help("write `environments: { dev: { namespace: dev-agentic }, prod: {} }`"),
            );
        }
        return;
    };
    for (name, overlay) in entries {
        let env = name.key_text().unwrap_or_default();
        let Some(fields) = overlay.as_map() else {
            if !overlay.is_null() {
                diags.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("environment `{env}` must be a mapping, found {}", overlay.describe()),
                    )
                    .at(overlay.span)
                    .help("write `{}` for an environment identical to the base"),
                );
            }
            continue;
        };
        for (key, _) in fields {
            let field = key.key_text().unwrap_or_default();
            if OVERLAY_FIELDS.contains(&field.as_str()) {
                continue;
            }
            let mut help = format!(
                "an environment may override {}",
                one_of(OVERLAY_FIELDS)
            );
            if let Some(s) = did_you_mean(&field, OVERLAY_FIELDS.iter().copied()) {
                help = format!("did you mean `{s}`? {help}");
            }
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
    let mut help = format!("declared environments: {}", one_of(&list));
    if let Some(s) = did_you_mean(env, list.iter().copied()) {
        help = format!("did you mean `{s}`? {help}");
    }
    Diagnostic::error(
        Code::EnvUnknown,
        format!("--env {env}: {shown} has no environment `{env}`"),
    )
    .help(help)
}

/// The document as seen in one environment (`None`: the base), overlay merged, environments
/// removed.
pub fn resolve(root: &Node, env: Option<&str>) -> Node {
    let mut merged = root.clone();
    if let NodeKind::Map(entries) = &mut merged.kind {
        entries.retain(|(k, _)| k.key_text().as_deref() != Some("environments"));
    }
    let overlay = env.and_then(|env| root.get("environments")?.get(env));
    if let Some(NodeKind::Map(entries)) = overlay.map(|o| &o.kind) {
        // Only overridable fields are merged; others were reported by `check_environments`.
        let allowed = entries
            .iter()
            .filter(|(k, _)| k.key_text().is_some_and(|k| OVERLAY_FIELDS.contains(&k.as_str())))
            .cloned()
            .collect();
        let overlay = Node {
            kind: NodeKind::Map(allowed),
            span: merged.span,
        };
        merge_overlay(&mut merged, &overlay);
    }
    merged
}

/// Convert the document as seen in one environment.
pub fn topology(
    root: &Node,
    env: Option<&str>,
    vars: &dyn Vars,
    diags: &mut Diagnostics,
) -> Option<Topology> {
    let merged = resolve(root, env);
    Converter { diags, vars }.topology(&merged)
}
