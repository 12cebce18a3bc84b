//! The topology file's own JSON Schema, generated from the model in [`crate::model::types`].
//!
//! Draft-07, because that is what yaml-language-server (VS Code, Neovim, JetBrains via
//! plugins) understands: with the `# yaml-language-server: $schema=...` modeline users get
//! completion and hover docs. The checked-in `schemas/topology.schema.json` must equal this
//! output; a test fails when it is stale (regenerate with `redis-topology schema >
//! schemas/topology.schema.json`).

use schemars::generate::SchemaSettings;

use crate::model::types::Topology;

/// The JSON Schema of a topology file.
pub fn topology_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Topology>();
    let mut value = serde_json::to_value(schema).unwrap_or_default();
    unwrap_descriptions(&mut value);
    value
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
