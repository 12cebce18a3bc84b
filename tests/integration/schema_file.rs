//! The topology file's JSON Schema: checked in, current, documented, and in step with the
//! loader's field lists.

use std::collections::BTreeSet;

use redis_topology::model::convert;
use redis_topology::schema::{topology_schema, topology_schema_text};
use serde_json::Value;

use super::util::{bin, repo};

#[test]
fn checked_in_schema_is_current() {
    let path = repo().join("schemas/topology.schema.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == topology_schema_text(),
        "schemas/topology.schema.json is stale: run `cargo run -- schema > schemas/topology.schema.json`"
    );
}

#[test]
fn schema_command_prints_it() {
    let out = bin()
        .arg("schema")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8_lossy(&out), topology_schema_text());
}

#[test]
fn schema_is_draft_07_and_closed() {
    let schema = topology_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["version", "namespace"]);
}

/// Every property of every object in the schema has a description (hover docs in editors).
#[test]
fn every_field_has_a_description() {
    fn walk(value: &Value, path: &str, missing: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        let described = prop.get("description").is_some()
                            || prop.get("$ref").is_some_and(|_| {
                                prop.as_object()
                                    .is_some_and(|o| o.contains_key("description"))
                            });
                        if !described {
                            missing.push(format!("{path}/properties/{name}"));
                        }
                    }
                }
                for (key, child) in map {
                    walk(child, &format!("{path}/{key}"), missing);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&topology_schema(), "", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:#?}"
    );
}

/// The loader's lists of known fields and the schema's properties name the same fields, so
/// the editor never suggests a field that `validate` rejects (or the reverse).
#[test]
fn loader_and_schema_agree_on_fields() {
    let schema = topology_schema();
    let definitions = &schema["definitions"];
    let props = |v: &Value| -> BTreeSet<String> {
        v["properties"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let list = |l: &[&str]| -> BTreeSet<String> { l.iter().map(|s| s.to_string()).collect() };
    assert_eq!(props(&schema), list(convert::TOPOLOGY_FIELDS));
    assert_eq!(
        props(&definitions["Overlay"]),
        list(convert::OVERLAY_FIELDS)
    );
    assert_eq!(props(&definitions["Stream"]), list(convert::STREAM_FIELDS));
    assert_eq!(props(&definitions["Group"]), list(convert::GROUP_FIELDS));
    assert_eq!(
        props(&definitions["MessageSchema"]),
        list(convert::SCHEMA_FIELDS)
    );
    assert_eq!(props(&definitions["Acl"]), list(convert::ACL_FIELDS));
    assert_eq!(props(&definitions["User"]), list(convert::USER_FIELDS));
    let retention = &definitions["Retention"]["oneOf"][1];
    assert_eq!(props(retention), list(convert::RETENTION_FIELDS));
    let keys = &definitions["Keys"]["oneOf"][1];
    assert_eq!(props(keys), list(convert::KEYS_FIELDS));
    let password_fields: BTreeSet<String> = definitions["Password"]["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(props)
        .collect();
    assert_eq!(password_fields, list(convert::PASSWORD_FIELDS));
}
