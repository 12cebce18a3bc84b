//! `validate`: every rule of the format, offline, collecting all problems.
//!
//! [`validate_file`] is the whole command: load the file, then for the base and for every
//! environment (or only `--env`), merge, convert and run the rules below. A problem in the
//! base shows up once, not once per environment; a problem that only one environment has says
//! which environment in its message.

mod acl;
mod default_user;
mod message_schemas;
pub(crate) mod names;
mod namespace;
mod stream_access;
mod streams;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::diagnostics::{Diagnostic, Diagnostics, Severity, Sources};
use crate::model::interpolate::Vars;
use crate::model::load::{self, Document};
use crate::model::schemas::LoadedSchema;
use crate::model::types::Topology;

pub use message_schemas::SchemaStore;

/// What `validate` found.
pub struct Report {
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
    /// The environments that were checked (`None` is the base).
    pub checked: Vec<Option<String>>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

/// Validate one topology file. `env`: only that environment; `None`: the base and every
/// environment. `strict` turns warnings into errors.
pub fn validate_file(path: &Path, env: Option<&str>, strict: bool, vars: &dyn Vars) -> Report {
    match load::read_text(path) {
        Ok(text) => validate_text(path, text, env, strict, vars),
        Err(diagnostic) => Report {
            sources: Sources::default(),
            diagnostics: vec![*diagnostic],
            checked: Vec::new(),
        },
    }
}

/// Validate topology text as if read from `path` (message-schema files are resolved next to
/// it). The fuzz target and property tests enter here.
pub fn validate_text(
    path: &Path,
    text: String,
    env: Option<&str>,
    strict: bool,
    vars: &dyn Vars,
) -> Report {
    let mut sources = Sources::default();
    let mut diagnostics = Vec::new();
    let mut checked = Vec::new();
    match load::parse_document_streaming(path, text, &mut sources, vars) {
        Err(diagnostic) => diagnostics.push(*diagnostic),
        Ok((mut doc, mut streamed)) => {
            checked = environments_to_check(&doc, env, &mut diagnostics);
            load::check_environments(&doc.root, &mut diagnostics);
            let mut store = SchemaStore::new(base_dir(path));
            let mut seen: HashSet<Diagnostic> = diagnostics.iter().cloned().collect();
            let last = checked.len().saturating_sub(1);
            for (index, environment) in checked.iter().enumerate() {
                // An environment that overrides nothing is the base: its problems are the
                // base's, which are already reported (this is `prod: {}`, most of the time).
                if let Some(env) = environment
                    && checked.first() == Some(&None)
                    && load::overlay_is_empty(&doc.root, env)
                {
                    continue;
                }
                let mut found = Vec::new();
                // The last conversion takes the tree itself, and frees it as it goes.
                let root = if index == last {
                    std::mem::take(&mut doc.root)
                } else {
                    doc.root.clone()
                };
                // Streams converted as they were read: a file without environments, whose
                // one conversion is the base's.
                let topology = match (streamed.take(), environment) {
                    (Some(streamed), None) => {
                        load::topology_streamed(root, streamed, vars, &mut found)
                    }
                    _ => load::topology(root, environment.as_deref(), vars, &mut found),
                };
                if let Some(topology) = topology {
                    validate_topology(&topology, &mut store, &mut sources, &mut found);
                }
                for diagnostic in found {
                    if seen.insert(diagnostic.clone()) {
                        diagnostics.push(in_environment(diagnostic, environment, &checked));
                    }
                }
            }
        }
    }
    // File order reads best; problems without a place (unreadable file, bad --env) first.
    diagnostics.sort_by_key(|d| d.span.map(|s| (s.file, s.offset)));
    sources.redact_secrets(&diagnostics);
    if strict {
        for diagnostic in &mut diagnostics {
            diagnostic.severity = Severity::Error;
        }
    }
    Report {
        sources,
        diagnostics,
        checked,
    }
}

/// Load and validate the one environment `plan` and `apply` work on (`env` must be given
/// when the file declares environments). The topology comes back only when it has no errors;
/// warnings are in the report either way.
pub fn load_environment(
    path: &Path,
    env: Option<&str>,
    vars: &dyn Vars,
) -> (Report, Option<Topology>) {
    let (report, loaded) = load_and_validate(path, env, vars);
    let topology = loaded
        .map(|(topology, _)| topology)
        .filter(|_| !report.has_errors());
    (report, topology)
}

/// [`load_environment`] of a file with this text (written to a temporary file, so that its
/// relative paths resolve there), for unit tests that start from YAML.
#[cfg(test)]
pub(crate) fn load_text_for_tests(
    text: &str,
    env: Option<&str>,
    vars: &dyn Vars,
) -> (Report, Option<Topology>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("topology.yaml");
    std::fs::write(&path, text).expect("write the topology");
    load_environment(&path, env, vars)
}

/// The environments a topology file declares, in the file's order (none when it cannot be
/// read or parsed: loading it then reports why).
pub fn declared_environments(path: &Path) -> Vec<String> {
    let mut sources = Sources::default();
    load::read_text(path)
        .and_then(|text| load::parse_document(path, text, &mut sources))
        .map(|doc| {
            load::environment_names(&doc.root)
                .into_iter()
                .map(|name| name.value)
                .collect()
        })
        .unwrap_or_default()
}

/// A topology with its message schemas loaded, for the commands that read messages or
/// compare schemas (`check-messages`, `diff`).
pub struct WithSchemas {
    pub topology: Topology,
    pub schemas: BTreeMap<String, LoadedSchema>,
}

/// Like [`load_environment`], with the message schemas that validation read, and returned
/// whenever the file could be converted, errors or not: `diff` reports incompatible schema
/// versions itself, as breaking changes, instead of stopping at them.
pub fn load_with_schemas(
    path: &Path,
    env: Option<&str>,
    vars: &dyn Vars,
) -> (Report, Option<WithSchemas>) {
    let (mut report, loaded) = load_and_validate(path, env, vars);
    let Some((topology, mut store)) = loaded else {
        return (report, None);
    };
    let schemas = store.loaded(&topology, &mut report.sources, &mut report.diagnostics);
    (report, Some(WithSchemas { topology, schemas }))
}

/// Load and validate one environment; the topology comes back whenever it could be
/// converted, with the schema store that read its message schemas.
fn load_and_validate(
    path: &Path,
    env: Option<&str>,
    vars: &dyn Vars,
) -> (Report, Option<(Topology, SchemaStore)>) {
    let mut report = Report {
        sources: Sources::default(),
        diagnostics: Vec::new(),
        checked: vec![env.map(str::to_owned)],
    };
    // One conversion: the streams are converted as the file is read (see
    // `load::parse_document_streaming`).
    let (doc, streamed) = match load::read_text(path)
        .and_then(|text| load::parse_document_streaming(path, text, &mut report.sources, vars))
    {
        Ok(parsed) => parsed,
        Err(diagnostic) => {
            report.diagnostics.push(*diagnostic);
            return (report, None);
        }
    };
    let declared = load::environment_names(&doc.root);
    match env {
        None if !declared.is_empty() => {
            let names: Vec<&str> = declared.iter().map(|n| n.value.as_str()).collect();
            report.diagnostics.push(
                Diagnostic::error(
                    crate::diagnostics::Code::EnvRequired,
                    format!(
                        "{} declares environments; say which one with --env",
                        path.display()
                    ),
                )
                .help(format!(
                    "declared environments: {}",
                    crate::diagnostics::one_of(&names)
                )),
            );
            return (report, None);
        }
        Some(env) if !declared.iter().any(|n| n.value == env) => {
            report
                .diagnostics
                .push(load::unknown_environment(&doc, env));
            return (report, None);
        }
        _ => {}
    }
    load::check_environments(&doc.root, &mut report.diagnostics);
    let mut store = SchemaStore::new(base_dir(path));
    let topology = match streamed {
        Some(streamed) => {
            load::topology_streamed(doc.root, streamed, vars, &mut report.diagnostics)
        }
        None => load::topology(doc.root, env, vars, &mut report.diagnostics),
    };
    if let Some(topology) = &topology {
        validate_topology(
            topology,
            &mut store,
            &mut report.sources,
            &mut report.diagnostics,
        );
    }
    report
        .diagnostics
        .sort_by_key(|d| d.span.map(|s| (s.file, s.offset)));
    (report, topology.map(|topology| (topology, store)))
}

/// The directory that relative paths in a topology file are resolved against.
pub fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn environments_to_check(
    doc: &Document,
    env: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> Vec<Option<String>> {
    let declared = load::environment_names(&doc.root);
    match env {
        Some(env) if declared.iter().any(|n| n.value == env) => vec![Some(env.to_owned())],
        Some(env) => {
            diagnostics.push(load::unknown_environment(doc, env));
            Vec::new()
        }
        None => std::iter::once(None)
            .chain(declared.into_iter().map(|n| Some(n.value)))
            .collect(),
    }
}

/// Say which environment a problem belongs to when more than one was checked and the base
/// did not have it.
fn in_environment(
    mut diagnostic: Diagnostic,
    environment: &Option<String>,
    checked: &[Option<String>],
) -> Diagnostic {
    if let Some(env) = environment
        && checked.len() > 1
    {
        diagnostic.message = format!("{} (environment `{env}`)", diagnostic.message);
    }
    diagnostic
}

/// Every rule that needs the whole (converted) topology.
pub fn validate_topology(
    topology: &Topology,
    store: &mut SchemaStore,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) {
    names::check(topology, diags);
    streams::check(topology, diags);
    message_schemas::check(topology, store, sources, diags);
    acl::check(topology, diags);
    default_user::check(topology, diags);
    stream_access::check(topology, diags);
    namespace::check(topology, diags);
}

/// Every diagnostic of topology text (validated as `t.yaml`, every environment, no variable
/// set), as `(code, severity, line, message)`, for the rules' tests.
#[cfg(test)]
pub(crate) fn diagnostics_of(
    text: &str,
    strict: bool,
) -> Vec<(&'static str, Severity, usize, String)> {
    let vars = std::collections::HashMap::<String, String>::new();
    let report = validate_text(Path::new("t.yaml"), text.to_owned(), None, strict, &vars);
    report
        .diagnostics
        .iter()
        .map(|d| {
            let line = d
                .span
                .and_then(|s| report.sources.locate(s))
                .map_or(0, |(_, line, _)| line);
            (d.code.as_str(), d.severity, line, d.message.clone())
        })
        .collect()
}
