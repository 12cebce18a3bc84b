//! Message schemas: shape, files, JSON Schema validity, examples, and compatibility between
//! consecutive versions under the declared mode.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde_json::Value;

use crate::compat::{self, Mode};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, Sources};
use crate::model::node::Span;
use crate::model::schemas::LoadedSchema;
use crate::model::types::{Encoding, MessageSchema, SchemaVersion, Sp, Topology, VersionSource};

/// Loads message-schema files once per run, however many environments refer to them.
pub struct SchemaStore {
    base_dir: PathBuf,
    files: HashMap<PathBuf, Option<Value>>,
}

impl SchemaStore {
    pub fn new(base_dir: PathBuf) -> Self {
        SchemaStore {
            base_dir,
            files: HashMap::new(),
        }
    }

    /// The JSON of a schema version; a missing or unparsable file is reported (once) and gives
    /// `None`.
    pub fn load(
        &mut self,
        version: &SchemaVersion,
        sources: &mut Sources,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let file = match &version.source {
            VersionSource::Inline(value) => return Some(value.value.clone()),
            VersionSource::File(file) => file,
        };
        let path = self.base_dir.join(&file.value);
        if let Some(cached) = self.files.get(&path) {
            return cached.clone();
        }
        let loaded = read_json(&path, file, sources, diags);
        self.files.insert(path, loaded.clone());
        loaded
    }

    /// Every schema of `topology` with the JSON of its versions, from the files this store
    /// has read (a file read for the first time is checked the same way). Versions whose
    /// number or file is invalid are left out: validation has reported them.
    pub fn loaded(
        &mut self,
        topology: &Topology,
        sources: &mut Sources,
        diags: &mut Diagnostics,
    ) -> BTreeMap<String, LoadedSchema> {
        let mut schemas = BTreeMap::new();
        for (name, schema) in topology.schemas.iter().flat_map(|s| s.iter()) {
            let mut versions = BTreeMap::new();
            let mut breaking = BTreeSet::new();
            for (key, version) in schema.versions.iter().flat_map(|v| v.iter()) {
                let Ok(number) = key.value.parse::<u64>() else {
                    continue;
                };
                let Some(json) = self.load(version, sources, diags) else {
                    continue;
                };
                if version.is_breaking() {
                    breaking.insert(number);
                }
                versions.insert(number, json);
            }
            schemas.insert(
                name.value.clone(),
                LoadedSchema {
                    encoding: schema.encoding.as_ref().map_or(Encoding::Json, |e| e.value),
                    field: schema.field.as_ref().map(|f| f.value.clone()),
                    version_field: schema.version_field.as_ref().map(|f| f.value.clone()),
                    mode: mode_of(schema),
                    versions,
                    breaking,
                },
            );
        }
        schemas
    }
}

/// The declared compatibility mode; `backward` when absent (an unknown one is reported).
fn mode_of(schema: &MessageSchema) -> Mode {
    schema
        .compatibility
        .as_ref()
        .and_then(|c| Mode::parse(&c.value))
        .unwrap_or(Mode::Backward)
}

fn read_json(
    path: &std::path::Path,
    reference: &Sp<String>,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let text = match crate::model::load::read_text(path) {
        Ok(text) => text,
        Err(problem) => {
            diags.push(
                Diagnostic::error(Code::SchemaFileMissing, problem.message)
                    .at(reference.span)
                    .label("schema file")
                    .help("schema files are relative to the topology file's directory"),
            );
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(e) => {
            let file = sources.add(path, text);
            diags.push(
                Diagnostic::error(
                    Code::SchemaJsonSyntax,
                    format!("{} is not valid JSON: {e}", path.display()),
                )
                .at(sources.span_at(file, e.line(), e.column()))
                .label("invalid JSON")
                .help("a message schema file is one JSON Schema document (draft-07 or later)"),
            );
            None
        }
    }
}

pub fn check(
    topology: &Topology,
    store: &mut SchemaStore,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) {
    for (name, schema) in topology.schemas.iter().flat_map(|s| s.iter()) {
        check_encoding(name, schema, diags);
        let versions = load_versions(name, schema, store, sources, diags);
        check_compatibility(name, schema, &versions, diags);
    }
}

fn check_encoding(name: &Sp<String>, schema: &MessageSchema, diags: &mut Diagnostics) {
    if schema.encoding_invalid {
        return; // already reported; guessing `json` would add a misleading second error
    }
    let encoding = schema.encoding.as_ref().map_or(Encoding::Json, |e| e.value);
    match (encoding, &schema.field) {
        (Encoding::Json, None) => diags.push(
            Diagnostic::error(
                Code::SchemaFieldRequired,
                format!("schema `{}` has encoding `json` but no `field`", name.value),
            )
            .at(schema.encoding.as_ref().map_or(name.span, |e| e.span))
            .label("needs `field`")
            .help("name the entry field that holds the JSON document, e.g. `field: payload`; or use `encoding: fields`"),
        ),
        (Encoding::Fields, Some(field)) => diags.push(
            Diagnostic::error(
                Code::SchemaFieldUnused,
                format!("schema `{}` has encoding `fields`, which takes no `field`", name.value),
            )
            .at(field.span)
            .label("not used with `encoding: fields`")
            .help("remove `field`, or use `encoding: json` if one entry field holds a JSON document"),
        ),
        _ => {}
    }
}

/// A loaded, valid version of a schema.
struct Loaded {
    number: u64,
    span: Span,
    json: Value,
    /// Marked `breaking: true`: starts a new line of compatible versions.
    breaking: bool,
}

fn load_versions(
    name: &Sp<String>,
    schema: &MessageSchema,
    store: &mut SchemaStore,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Vec<Loaded> {
    let Some(versions) = &schema.versions else {
        return Vec::new();
    };
    let mut loaded = Vec::new();
    for (key, version) in versions.iter() {
        let Some(number) = version_number(key, diags) else {
            continue;
        };
        let Some(json) = store.load(version, sources, diags) else {
            continue;
        };
        let span = version_span(key, version);
        if check_document(&name.value, number, &json, span, diags) {
            loaded.push(Loaded {
                number,
                span,
                json,
                breaking: version.is_breaking(),
            });
        }
    }
    loaded.sort_by_key(|v| v.number);
    loaded
}

fn version_span(key: &Sp<String>, version: &SchemaVersion) -> Span {
    match &version.source {
        VersionSource::File(file) => file.span,
        VersionSource::Inline(_) => key.span,
    }
}

fn version_number(key: &Sp<String>, diags: &mut Diagnostics) -> Option<u64> {
    match key.value.parse::<u64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            diags.push(
                Diagnostic::error(
                    Code::SchemaVersionKey,
                    format!("`{}` is not a schema version number", key.value),
                )
                .at(key.span)
                .label("not a positive integer")
                .help(
                    "versions are numbered 1, 2, 3, ...: write `versions: { 1: {...}, 2: {...} }`",
                ),
            );
            None
        }
    }
}

/// Is the document a valid JSON Schema, and do its own `examples` pass it? Reports and
/// returns false when not.
fn check_document(
    schema: &str,
    version: u64,
    json: &Value,
    span: Span,
    diags: &mut Diagnostics,
) -> bool {
    if let Err(e) = jsonschema::meta::validate(json) {
        diags.push(
            Diagnostic::error(
                Code::SchemaInvalid,
                format!(
                    "schema `{schema}` version {version} is not a valid JSON Schema: {e} (at `{}`)",
                    pointer_or_root(&e.instance_path().to_string())
                ),
            )
            .at(span)
            .label("invalid JSON Schema")
            .help("fix the document so it validates against its draft's meta-schema (draft-07 if `$schema` is absent)"),
        );
        return false;
    }
    let validator = match jsonschema::validator_for(json) {
        Ok(v) => v,
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    Code::SchemaInvalid,
                    format!("schema `{schema}` version {version} cannot be compiled: {}", compile_error(&e.to_string())),
                )
                .at(span)
                .label("invalid JSON Schema")
                .help("references must be local (`#/definitions/...`); remote `$ref`s are not fetched"),
            );
            return false;
        }
    };
    let examples = json.get("examples").and_then(Value::as_array);
    for (i, example) in examples.into_iter().flatten().enumerate() {
        if let Some(error) = validator.iter_errors(example).next() {
            diags.push(
                Diagnostic::error(
                    Code::SchemaExampleInvalid,
                    format!(
                        "example {i} of schema `{schema}` version {version} does not match the schema: {error} (at `{}`)",
                        pointer_or_root(&error.instance_path().to_string())
                    ),
                )
                .at(span)
                .label("its `examples` fail it")
                .help("fix the example or the schema: examples are the documentation producers copy"),
            );
        }
    }
    true
}

/// A compile error in the user's terms: a remote `$ref` is named, not the library's features.
fn compile_error(error: &str) -> String {
    let remote = error
        .strip_prefix("Resource '")
        .and_then(|rest| rest.split_once('\''))
        .filter(|(_, rest)| rest.contains("not present in a registry"))
        .map(|(uri, _)| uri);
    match remote {
        Some(uri) => format!(
            "it refers to `{uri}`, which is not part of it; remote `$ref`s are never fetched"
        ),
        None => error.to_owned(),
    }
}

fn pointer_or_root(pointer: &str) -> String {
    if pointer.is_empty() {
        "/".to_owned()
    } else {
        pointer.to_owned()
    }
}

fn check_compatibility(
    name: &Sp<String>,
    schema: &MessageSchema,
    versions: &[Loaded],
    diags: &mut Diagnostics,
) {
    let mode = mode_of(schema);
    // A version marked `breaking: true` starts a new line: each line is checked on its own,
    // and nothing across the mark (diff still reports that break).
    let mut lines: Vec<Vec<(u64, &Value)>> = Vec::new();
    for version in versions {
        match lines.last_mut() {
            Some(line) if !version.breaking => line.push((version.number, &version.json)),
            _ => lines.push(vec![(version.number, &version.json)]),
        }
    }
    let found_breaks = lines
        .iter()
        .flat_map(|line| compat::check_versions(line, mode));
    for found in found_breaks {
        let span = versions
            .iter()
            .find(|v| v.number == found.to)
            .map_or(name.span, |v| v.span);
        diags.push(
            Diagnostic::error(
                Code::SchemaIncompatible,
                format!(
                    "schema `{}` version {} breaks {} compatibility with version {}: {} [{}] at `{}`",
                    name.value,
                    found.to,
                    mode.as_str(),
                    found.from,
                    found.breaking.message,
                    found.breaking.rule,
                    pointer_or_root(&found.breaking.pointer),
                ),
            )
            .at(span)
            .label(format!("breaks rule `{}`", found.breaking.rule))
            .help(format!(
                "make the change compatible (e.g. add the property as optional or with a default); or, when the break is intended and its producers and consumers are ready, mark the version `breaking: true` (`{}: {{ file: ..., breaking: true }}`): validate then accepts it and `diff` still reports it for review",
                found.to
            )),
        );
    }
}
