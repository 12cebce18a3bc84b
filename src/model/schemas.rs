//! The message schemas of a validated topology, loaded: each version's JSON Schema document,
//! for `diff` (compatibility between two files) and `check-messages` (messages against them).
//! They are built by validation from the files it has just read and checked
//! (`validate::SchemaStore::loaded`), so there is one loader, with one size limit and one set
//! of diagnostics.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::types::Encoding;
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
    pub breaking: BTreeSet<u64>,
}

impl LoadedSchema {
    pub fn latest(&self) -> Option<(u64, &Value)> {
        self.versions.iter().next_back().map(|(n, v)| (*n, v))
    }
}
