//! The topology file's own JSON Schema, generated from the model in [`crate::model::types`].
//!
//! Draft-07, because that is what yaml-language-server (VS Code, Neovim, JetBrains via
//! plugins) understands: with the `# yaml-language-server: $schema=...` modeline users get
//! completion and hover docs. The checked-in `schemas/topology.schema.json` must equal this
//! output; a test fails when it is stale (regenerate with `redis-topology schema >
//! schemas/topology.schema.json`).

use schemars::generate::SchemaSettings;

use crate::model::types::Topology;

/// Where the schema is published: its `$id`, and the URL for editors outside this repository
/// (the yaml-language-server modeline, VS Code's `yaml.schemas`). The file on the default
/// branch, so that editors always get the newest schema of format version 1.
pub const SCHEMA_ID: &str = "https://raw.githubusercontent.com/redis-topology/redis-topology/main/schemas/topology.schema.json";

/// The JSON Schema of a topology file.
pub fn topology_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Topology>();
    let mut value = serde_json::to_value(schema).unwrap_or_default();
    unwrap_descriptions(&mut value);
    with_id(value)
}

/// `$id` right after `$schema`, where readers of the file look for it.
fn with_id(value: serde_json::Value) -> serde_json::Value {
    let serde_json::Value::Object(map) = value else {
        return value;
    };
    let mut with_id = serde_json::Map::new();
    for (key, child) in map {
        let is_schema = key == "$schema";
        with_id.insert(key, child);
        if is_schema {
            with_id.insert("$id".to_owned(), SCHEMA_ID.into());
        }
    }
    serde_json::Value::Object(with_id)
}

/// Doc comments are wrapped at 100 columns; editors wrap hover text themselves, so the
/// line breaks inside a paragraph are joined.
fn unwrap_descriptions(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(text) if key == "description" => *text = text.replace('\n', " "),
                    _ => unwrap_descriptions(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The schema as the pretty-printed text that is checked in, with a final newline.
pub fn topology_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&topology_schema()).unwrap_or_default();
    text.push('\n');
    text
}
