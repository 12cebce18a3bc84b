//! The message schemas of a validated topology, loaded: each version's JSON Schema document,
//! for `diff` (compatibility between two files) and `check-messages` (messages against them).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::types::{Encoding, Topology, VersionSource};
use crate::compat::Mode;

#[derive(Clone, Debug, PartialEq)]
pub struct LoadedSchema {
    pub encoding: Encoding,
    /// Entry field holding the JSON document (`encoding: json`).
    pub field: Option<String>,
    /// Entry field naming the version a message follows.
    pub version_field: Option<String>,
    pub mode: Mode,
    /// Versions by number, ascending.
    pub versions: BTreeMap<u64, Value>,
    /// Versions marked `breaking: true` (they break compatibility with earlier ones on
    /// purpose).
    pub breaking: std::collections::BTreeSet<u64>,
}

impl LoadedSchema {
    pub fn latest(&self) -> Option<(u64, &Value)> {
        self.versions.iter().next_back().map(|(n, v)| (*n, v))
    }
}

/// Load every schema of a topology that passed validation (so its files exist and parse);
/// `Err` says which file could not be read after all.
pub fn load(
    topology: &Topology,
    base_dir: &Path,
) -> Result<BTreeMap<String, LoadedSchema>, String> {
    let mut schemas = BTreeMap::new();
    for (name, schema) in topology.schemas.iter().flat_map(|s| s.iter()) {
        let mut versions = BTreeMap::new();
        let mut breaking = std::collections::BTreeSet::new();
        for (key, version) in schema.versions.iter().flat_map(|v| v.iter()) {
            let Ok(number) = key.value.parse::<u64>() else {
                continue; // reported by validate
            };
            if version.is_breaking() {
                breaking.insert(number);
            }
            let json = match &version.source {
                VersionSource::Inline(value) => value.value.clone(),
                VersionSource::File(file) => {
                    let path = base_dir.join(&file.value);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    serde_json::from_str(&text)
                        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?
                }
            };
            versions.insert(number, json);
        }
        let mode = schema
            .compatibility
            .as_ref()
            .and_then(|m| Mode::parse(&m.value))
            .unwrap_or(Mode::Backward);
        schemas.insert(
            name.value.clone(),
            LoadedSchema {
                encoding: schema.encoding.as_ref().map_or(Encoding::Json, |e| e.value),
                field: schema.field.as_ref().map(|f| f.value.clone()),
                version_field: schema.version_field.as_ref().map(|f| f.value.clone()),
                mode,
                versions,
                breaking,
            },
        );
    }
    Ok(schemas)
}
