//! The rule table: each way a reader schema can reject a message its writer schema allowed.

use serde_json::{Map, Value};

use super::MAX_DEPTH;

/// Every rule id with what it means. Ids are stable: CI output and docs refer to them.
pub const RULES: &[(&str, &str)] = &[
    (
        "schema-closed",
        "the reader schema became `false`: it rejects every message",
    ),
    ("ref-changed", "a `$ref` points somewhere else"),
    (
        "type-narrowed",
        "a type the writer allows is no longer accepted",
    ),
    ("enum-narrowed", "an enum lost values, or an enum was added"),
    ("const-changed", "a `const` was added or changed"),
    (
        "max-added",
        "a maximum (`maximum`, `maxLength`, `maxItems`, ...) was added",
    ),
    ("max-decreased", "a maximum was lowered"),
    (
        "min-added",
        "a minimum (`minimum`, `minLength`, `minItems`, ...) was added",
    ),
    ("min-increased", "a minimum was raised"),
    ("pattern-added", "a `pattern` was added"),
    ("pattern-changed", "a `pattern` was changed"),
    ("multiple-of-added", "a `multipleOf` was added"),
    (
        "multiple-of-changed",
        "`multipleOf` changed to a value the old one is not a multiple of",
    ),
    ("unique-items-added", "`uniqueItems: true` was added"),
    (
        "required-added",
        "a property became required without a `default`",
    ),
    (
        "property-added-to-open-model",
        "a typed property was added where the writer allowed any additional property",
    ),
    (
        "property-removed-from-closed-model",
        "a property was removed from a closed model (`additionalProperties: false`)",
    ),
    (
        "additional-properties-closed",
        "`additionalProperties` became `false`: extra properties writers send are rejected",
    ),
    (
        "items-narrowed",
        "array items got a schema, or a stricter one",
    ),
    ("any-of-narrowed", "an `anyOf`/`oneOf` lost an alternative"),
    ("all-of-extended", "an `allOf` gained a subschema"),
];

/// A breaking difference: (rule, JSON pointer, message).
pub type Found = (&'static str, String, String);

const MAX_KEYWORDS: &[&str] = &[
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
];
const MIN_KEYWORDS: &[&str] = &[
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
];

/// Can every message valid under `writer` be read by `reader`? Pushes every reason why not.
pub fn compare(
    writer: &Value,
    reader: &Value,
    pointer: &str,
    depth: usize,
    found: &mut Vec<Found>,
) {
    if depth > MAX_DEPTH || writer == reader {
        return;
    }
    let empty = Map::new();
    let (w, r) = match (writer, reader) {
        (_, Value::Bool(false)) if writer != &Value::Bool(false) => {
            found.push((
                "schema-closed",
                at(pointer),
                "the schema rejects every message".to_owned(),
            ));
            return;
        }
        (_, Value::Bool(true)) | (Value::Bool(false), _) => return,
        (Value::Bool(true), Value::Object(r)) => (&empty, r),
        (Value::Object(w), Value::Object(r)) => (w, r),
        _ => return, // not schemas: nothing to compare
    };
    if w.get("$ref") != r.get("$ref") && r.get("$ref").is_some() {
        found.push((
            "ref-changed",
            at(pointer),
            format!("`$ref` changed to {}", show(r.get("$ref"))),
        ));
    }
    check_type(w, r, pointer, found);
    check_enum_and_const(w, r, pointer, found);
    check_limits(w, r, pointer, found);
    check_strings_and_arrays(w, r, pointer, found);
    check_object(w, r, pointer, depth, found);
    check_items(w, r, pointer, depth, found);
    check_combinators(w, r, pointer, depth, found);
}

fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        "/".to_owned()
    } else {
        pointer.to_owned()
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

fn types(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn check_type(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    pointer: &str,
    found: &mut Vec<Found>,
) {
    let Some(reader) = types(r) else { return };
    let accepted = |t: &str| reader.contains(&t) || (t == "integer" && reader.contains(&"number"));
    let lost: Vec<&str> = match types(w) {
        Some(writer) => writer.into_iter().filter(|t| !accepted(t)).collect(),
        None => vec!["any type"],
    };
    if !lost.is_empty() {
        found.push((
            "type-narrowed",
            at(pointer),
            format!(
                "type is now {} and no longer accepts {}",
                reader.join("|"),
                lost.join(", ")
            ),
        ));
    }
}

fn check_enum_and_const(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    pointer: &str,
    found: &mut Vec<Found>,
) {
    if let Some(Value::Array(reader)) = r.get("enum") {
        match w.get("enum") {
            Some(Value::Array(writer)) => {
                let lost: Vec<String> = writer
                    .iter()
                    .filter(|v| !reader.contains(v))
                    .map(|v| v.to_string())
                    .collect();
                if !lost.is_empty() {
                    found.push((
                        "enum-narrowed",
                        at(pointer),
                        format!("enum no longer has {}", lost.join(", ")),
                    ));
                }
            }
            _ => found.push((
                "enum-narrowed",
                at(pointer),
                "an enum now restricts the values".to_owned(),
            )),
        }
    }
    if let Some(reader) = r.get("const")
        && w.get("const") != Some(reader)
    {
        found.push((
            "const-changed",
            at(pointer),
            format!("value must now be {reader}"),
        ));
    }
}

fn number(schema: &Map<String, Value>, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn check_limits(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    pointer: &str,
    found: &mut Vec<Found>,
) {
    for key in MAX_KEYWORDS {
        match (number(w, key), number(r, key)) {
            (None, Some(new)) => found.push((
                "max-added",
                at(pointer),
                format!("`{key}: {new}` was added"),
            )),
            (Some(old), Some(new)) if new < old => found.push((
                "max-decreased",
                at(pointer),
                format!("`{key}` was lowered from {old} to {new}"),
            )),
            _ => {}
        }
    }
    for key in MIN_KEYWORDS {
        match (number(w, key), number(r, key)) {
            (None, Some(new)) => found.push((
                "min-added",
                at(pointer),
                format!("`{key}: {new}` was added"),
            )),
            (Some(old), Some(new)) if new > old => found.push((
                "min-increased",
                at(pointer),
                format!("`{key}` was raised from {old} to {new}"),
            )),
            _ => {}
        }
    }
    match (number(w, "multipleOf"), number(r, "multipleOf")) {
        (None, Some(new)) => found.push((
            "multiple-of-added",
            at(pointer),
            format!("`multipleOf: {new}` was added"),
        )),
        (Some(old), Some(new)) if new != 0.0 && (old / new).fract() != 0.0 => found.push((
            "multiple-of-changed",
            at(pointer),
            format!("`multipleOf` changed from {old} to {new}"),
        )),
        _ => {}
    }
}

fn check_strings_and_arrays(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    pointer: &str,
    found: &mut Vec<Found>,
) {
    match (w.get("pattern"), r.get("pattern")) {
        (None, Some(p)) => found.push((
            "pattern-added",
            at(pointer),
            format!("`pattern: {p}` was added"),
        )),
        (Some(old), Some(new)) if old != new => found.push((
            "pattern-changed",
            at(pointer),
            format!("`pattern` changed from {old} to {new}"),
        )),
        _ => {}
    }
    if r.get("uniqueItems") == Some(&Value::Bool(true))
        && w.get("uniqueItems") != Some(&Value::Bool(true))
    {
        found.push((
            "unique-items-added",
            at(pointer),
            "`uniqueItems: true` was added".to_owned(),
        ));
    }
}

fn properties(schema: &Map<String, Value>) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn required(schema: &Map<String, Value>) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// How a schema treats properties it does not list.
enum Extra<'a> {
    /// Anything goes (`additionalProperties` absent or `true`).
    Open,
    /// `additionalProperties: false`, and no `patternProperties`.
    Closed,
    /// Extra properties must match this schema (or some `patternProperties`).
    Schema(Option<&'a Value>),
}

fn extra(schema: &Map<String, Value>) -> Extra<'_> {
    let patterns = schema.get("patternProperties").is_some();
    match schema.get("additionalProperties") {
        None | Some(Value::Bool(true)) if !patterns => Extra::Open,
        Some(Value::Bool(false)) if !patterns => Extra::Closed,
        Some(Value::Bool(_)) | None => Extra::Schema(None),
        Some(other) => Extra::Schema(Some(other)),
    }
}

fn is_any(schema: &Value) -> bool {
    matches!(schema, Value::Bool(true)) || schema.as_object().is_some_and(Map::is_empty)
}

fn check_object(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    pointer: &str,
    depth: usize,
    found: &mut Vec<Found>,
) {
    let empty = Map::new();
    let (wp, rp) = (
        properties(w).unwrap_or(&empty),
        properties(r).unwrap_or(&empty),
    );
    let writer_required = required(w);
    for name in required(r) {
        let has_default = rp.get(name).and_then(|p| p.get("default")).is_some();
        if !writer_required.contains(&name) && !has_default {
            found.push((
                "required-added",
                format!("{pointer}/properties/{name}"),
                format!("property `{name}` became required without a default: messages written before lack it"),
            ));
        }
    }
    for (name, reader_prop) in rp {
        let prop_pointer = format!("{pointer}/properties/{name}");
        match (wp.get(name), extra(w)) {
            (Some(writer_prop), _) => compare(writer_prop, reader_prop, &prop_pointer, depth + 1, found),
            (None, Extra::Open) if !is_any(reader_prop) => found.push((
                "property-added-to-open-model",
                prop_pointer,
                format!("typed property `{name}` was added, but the writer allowed any `{name}`: close the model (`additionalProperties: false`) first"),
            )),
            (None, Extra::Schema(Some(additional))) => compare(additional, reader_prop, &prop_pointer, depth + 1, found),
            _ => {}
        }
    }
    for (name, writer_prop) in wp {
        if rp.contains_key(name) {
            continue;
        }
        let prop_pointer = format!("{pointer}/properties/{name}");
        match extra(r) {
            Extra::Closed => found.push((
                "property-removed-from-closed-model",
                prop_pointer,
                format!("property `{name}` was removed, and the model is closed: messages that still carry it are rejected"),
            )),
            Extra::Schema(Some(additional)) => compare(writer_prop, additional, &prop_pointer, depth + 1, found),
            _ => {}
        }
    }
    let reader_closes = matches!(r.get("additionalProperties"), Some(Value::Bool(false)));
    let writer_open = !matches!(w.get("additionalProperties"), Some(Value::Bool(false)));
    if reader_closes && writer_open {
        found.push((
            "additional-properties-closed",
            format!("{pointer}/additionalProperties"),
            "`additionalProperties` became false: properties writers may add are rejected"
                .to_owned(),
        ));
    } else if let (Some(wa @ Value::Object(_)), Some(ra @ Value::Object(_))) =
        (w.get("additionalProperties"), r.get("additionalProperties"))
    {
        compare(
            wa,
            ra,
            &format!("{pointer}/additionalProperties"),
            depth + 1,
            found,
        );
    }
}

fn check_items(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    pointer: &str,
    depth: usize,
    found: &mut Vec<Found>,
) {
    let Some(reader_items) = r.get("items") else {
        return;
    };
    let item_pointer = format!("{pointer}/items");
    match (w.get("items"), reader_items) {
        (None, items) if !is_any(items) => found.push((
            "items-narrowed",
            item_pointer,
            "array items now have a schema; the writer allowed any items".to_owned(),
        )),
        (Some(Value::Array(writer)), Value::Array(reader)) => {
            for (i, (wi, ri)) in writer.iter().zip(reader).enumerate() {
                compare(wi, ri, &format!("{item_pointer}/{i}"), depth + 1, found);
            }
        }
        (Some(writer), reader) => compare(writer, reader, &item_pointer, depth + 1, found),
        _ => {}
    }
}

fn check_combinators(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    pointer: &str,
    depth: usize,
    found: &mut Vec<Found>,
) {
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(reader)) = r.get(key) else {
            continue;
        };
        let writer: Vec<&Value> = match w.get(key) {
            Some(Value::Array(alternatives)) => alternatives.iter().collect(),
            _ => continue, // a combinator added around a writer without one: compared field by field above
        };
        for (i, alternative) in writer.iter().enumerate() {
            let readable = reader.iter().any(|candidate| {
                let mut probe = Vec::new();
                compare(alternative, candidate, pointer, depth + 1, &mut probe);
                probe.is_empty()
            });
            if !readable {
                found.push((
                    "any-of-narrowed",
                    format!("{pointer}/{key}/{i}"),
                    format!("alternative {i} of `{key}` is no longer accepted"),
                ));
            }
        }
    }
    if let Some(Value::Array(reader)) = r.get("allOf") {
        let writer = w.get("allOf").and_then(Value::as_array);
        for (i, sub) in reader.iter().enumerate() {
            if !writer.is_some_and(|ws| ws.contains(sub)) {
                found.push((
                    "all-of-extended",
                    format!("{pointer}/allOf/{i}"),
                    format!("`allOf` gained subschema {i}"),
                ));
            }
        }
    }
}
