//! The topology file's JSON Schema: checked in, current, documented, and in step with the
//! loader's field lists.

use std::collections::BTreeSet;

use redis_topology::model::convert;
use redis_topology::model::node::{FileId, Node, NodeKind, Scalar};
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
                    // Examples are data, not schema: their keys are not properties.
                    if key != "examples" {
                        walk(child, &format!("{path}/{key}"), missing);
                    }
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
    assert_eq!(props(&definitions["Access"]), list(convert::ACCESS_FIELDS));
    let presets: BTreeSet<String> = definitions["Preset"]["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["const"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(presets, list(redis_topology::model::types::Preset::NAMES));
    assert_eq!(
        props(&definitions["UserNames"]),
        list(convert::USER_NAMES_FIELDS)
    );
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

/// Every property of every object in the schema (the `properties` of the generated types and
/// of the hand-written ones) has a title and at least one example, as editors show them.
#[test]
fn every_field_has_a_title_and_examples() {
    let mut missing = Vec::new();
    for (path, prop) in properties(&topology_schema()) {
        if prop
            .get("title")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            missing.push(format!("{path}: title"));
        }
        if prop
            .get("examples")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            missing.push(format!("{path}: examples"));
        }
    }
    assert!(missing.is_empty(), "fields without: {missing:#?}");
}

/// Each example is valid against its own field's schema (an example an editor offers must not
/// then be flagged by the same editor), and the schema itself is valid draft-07.
#[test]
fn every_example_is_valid_for_its_field() {
    let schema = topology_schema();
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("the schema is not a valid JSON Schema: {e}");
    }
    let definitions = schema["definitions"].clone();
    let mut checked = 0;
    let mut invalid = Vec::new();
    let mut subschemas = properties(&schema);
    for (name, definition) in definitions.as_object().into_iter().flatten() {
        subschemas.push((format!("/definitions/{name}"), definition.clone()));
    }
    for (path, prop) in subschemas {
        let mut standalone = prop.clone();
        let Some(object) = standalone.as_object_mut() else {
            continue;
        };
        let examples = object.remove("examples");
        object.insert("definitions".to_owned(), definitions.clone());
        let validator = jsonschema::draft7::new(&standalone)
            .unwrap_or_else(|e| panic!("{path} does not compile: {e}"));
        for example in examples
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            checked += 1;
            if let Err(e) = validator.validate(example) {
                invalid.push(format!("{path}: {example} ({e})"));
            }
        }
    }
    assert!(
        invalid.is_empty(),
        "examples that fail their field: {invalid:#?}"
    );
    assert!(checked > 40, "only {checked} examples were checked");
}

/// The shipped topologies validate against the schema (no false alarms in an editor), each
/// starts with the yaml-language-server modeline, and the modeline's path is the schema.
#[test]
fn shipped_topologies_follow_the_schema_and_name_it() {
    let validator = jsonschema::draft7::new(&topology_schema()).expect("the schema compiles");
    let schema_file = repo()
        .join("schemas/topology.schema.json")
        .canonicalize()
        .expect("schemas/topology.schema.json");
    let mut files = vec![repo().join("topology.yaml")];
    for entry in std::fs::read_dir(repo().join("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let modeline = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# yaml-language-server: $schema="))
            .unwrap_or_else(|| panic!("{} does not start with the modeline", file.display()));
        let named = file
            .parent()
            .expect("a directory")
            .join(modeline.trim())
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: the modeline's schema: {e}", file.display()));
        assert_eq!(named, schema_file, "{}", file.display());
        let tree = redis_topology::model::yaml::parse(&text, FileId(0))
            .unwrap_or_else(|e| panic!("{}: {}", file.display(), e.message));
        let document = to_json(&tree);
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} does not follow the schema: {errors:#?}",
            file.display()
        );
    }
}

/// `$id` is where the schema is published, and the README shows editors that URL.
#[test]
fn the_schema_has_its_published_id() {
    let schema = topology_schema();
    assert_eq!(schema["$id"], redis_topology::schema::SCHEMA_ID);
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    assert!(
        readme.contains(&format!(
            "# yaml-language-server: $schema={}",
            redis_topology::schema::SCHEMA_ID
        )),
        "README does not show the modeline with the published schema"
    );
    assert!(
        readme.contains("\"yaml.schemas\""),
        "README does not show VS Code's yaml.schemas setting"
    );
}

/// Every object property in the schema, with its JSON pointer.
fn properties(schema: &Value) -> Vec<(String, Value)> {
    fn walk(value: &Value, path: &str, found: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        found.push((format!("{path}/properties/{name}"), prop.clone()));
                    }
                }
                for (key, child) in map {
                    // Examples are data, not schema: their keys are not properties.
                    if key != "examples" {
                        walk(child, &format!("{path}/{key}"), found);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(schema, "", &mut found);
    found
}

/// A YAML tree as the JSON an editor validates.
fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar(Scalar::Null) => Value::Null,
        NodeKind::Scalar(Scalar::Bool(b)) => Value::Bool(*b),
        NodeKind::Scalar(Scalar::Int(i)) => Value::from(*i),
        NodeKind::Scalar(Scalar::Float(f)) => Value::from(*f),
        NodeKind::Scalar(Scalar::Str(s)) => Value::String(s.to_string()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k.key_text().map(|t| t.into_owned()).unwrap_or_default();
                    (key, to_json(v))
                })
                .collect(),
        ),
    }
}
