//! Every rule: one compatible and one breaking case, then the modes.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::*;

/// (rule, old, new) where new breaks backward compatibility under `rule`, and (old, new)
/// pairs that are compatible in that direction.
fn breaking_cases() -> Vec<(&'static str, Value, Value)> {
    vec![
        ("schema-closed", json!({}), json!(false)),
        (
            "ref-changed",
            json!({"$ref": "#/definitions/a"}),
            json!({"$ref": "#/definitions/b"}),
        ),
        (
            "type-narrowed",
            json!({"type": ["string", "null"]}),
            json!({"type": "string"}),
        ),
        (
            "type-narrowed",
            json!({"type": "number"}),
            json!({"type": "integer"}),
        ),
        (
            "enum-narrowed",
            json!({"enum": ["a", "b"]}),
            json!({"enum": ["a"]}),
        ),
        ("const-changed", json!({"const": 1}), json!({"const": 2})),
        (
            "max-added",
            json!({"type": "string"}),
            json!({"type": "string", "maxLength": 5}),
        ),
        (
            "max-decreased",
            json!({"maximum": 10}),
            json!({"maximum": 5}),
        ),
        (
            "min-added",
            json!({"type": "array"}),
            json!({"type": "array", "minItems": 1}),
        ),
        (
            "min-increased",
            json!({"minimum": 0}),
            json!({"minimum": 1}),
        ),
        (
            "pattern-added",
            json!({"type": "string"}),
            json!({"type": "string", "pattern": "^a"}),
        ),
        (
            "pattern-changed",
            json!({"pattern": "^a"}),
            json!({"pattern": "^b"}),
        ),
        (
            "multiple-of-added",
            json!({"type": "number"}),
            json!({"type": "number", "multipleOf": 2}),
        ),
        (
            "multiple-of-changed",
            json!({"multipleOf": 2}),
            json!({"multipleOf": 3}),
        ),
        (
            "unique-items-added",
            json!({"type": "array"}),
            json!({"type": "array", "uniqueItems": true}),
        ),
        (
            "required-added",
            json!({"properties": {"a": {}}}),
            json!({"properties": {"a": {}}, "required": ["a"]}),
        ),
        (
            "property-added-to-open-model",
            json!({"type": "object"}),
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        ),
        (
            "property-removed-from-closed-model",
            json!({"properties": {"a": {}}, "additionalProperties": false}),
            json!({"additionalProperties": false}),
        ),
        (
            "additional-properties-closed",
            json!({"properties": {"a": {}}}),
            json!({"properties": {"a": {}}, "additionalProperties": false}),
        ),
        (
            "type-narrowed",
            json!({"type": "array", "items": {"type": ["string", "number"]}}),
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        (
            "items-narrowed",
            json!({"type": "array"}),
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        (
            "any-of-narrowed",
            json!({"anyOf": [{"type": "string"}, {"type": "number"}]}),
            json!({"anyOf": [{"type": "string"}]}),
        ),
        (
            "all-of-extended",
            json!({"allOf": [{"type": "object"}]}),
            json!({"allOf": [{"type": "object"}, {"required": ["a"]}]}),
        ),
    ]
}

fn compatible_cases() -> Vec<(&'static str, Value, Value)> {
    vec![
        ("schema-closed", json!(false), json!(false)),
        (
            "ref-changed",
            json!({"$ref": "#/definitions/a"}),
            json!({"$ref": "#/definitions/a", "description": "x"}),
        ),
        (
            "type-narrowed",
            json!({"type": "string"}),
            json!({"type": ["string", "null"]}),
        ),
        (
            "type-narrowed",
            json!({"type": "integer"}),
            json!({"type": "number"}),
        ),
        (
            "enum-narrowed",
            json!({"enum": ["a"]}),
            json!({"enum": ["a", "b"]}),
        ),
        (
            "const-changed",
            json!({"const": 1}),
            json!({"const": 1, "title": "one"}),
        ),
        ("max-added", json!({"maxLength": 5}), json!({})),
        (
            "max-decreased",
            json!({"maximum": 5}),
            json!({"maximum": 10}),
        ),
        ("min-added", json!({"minItems": 1}), json!({})),
        (
            "min-increased",
            json!({"minimum": 1}),
            json!({"minimum": 0}),
        ),
        ("pattern-added", json!({"pattern": "^a"}), json!({})),
        (
            "pattern-changed",
            json!({"pattern": "^a"}),
            json!({"pattern": "^a", "description": "d"}),
        ),
        ("multiple-of-added", json!({"multipleOf": 2}), json!({})),
        (
            "multiple-of-changed",
            json!({"multipleOf": 4}),
            json!({"multipleOf": 2}),
        ),
        (
            "unique-items-added",
            json!({"uniqueItems": true}),
            json!({}),
        ),
        (
            "required-added",
            json!({"properties": {"a": {}}}),
            json!({"properties": {"a": {"default": 1}}, "required": ["a"]}),
        ),
        (
            "property-added-to-open-model",
            json!({"type": "object", "additionalProperties": false}),
            json!({"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}}),
        ),
        (
            "property-added-to-open-model",
            json!({"type": "object"}),
            json!({"type": "object", "properties": {"a": {}}}),
        ),
        (
            "property-removed-from-closed-model",
            json!({"properties": {"a": {}}}),
            json!({}),
        ),
        (
            "additional-properties-closed",
            json!({"additionalProperties": false}),
            json!({"additionalProperties": true}),
        ),
        (
            "items-narrowed",
            json!({"items": {"type": "string"}}),
            json!({"items": {"type": ["string", "number"]}}),
        ),
        (
            "any-of-narrowed",
            json!({"anyOf": [{"type": "string"}]}),
            json!({"anyOf": [{"type": "string"}, {"type": "number"}]}),
        ),
        (
            "all-of-extended",
            json!({"allOf": [{"type": "object"}, {"required": ["a"]}]}),
            json!({"allOf": [{"type": "object"}]}),
        ),
    ]
}

#[test]
fn every_rule_breaks_and_has_a_compatible_twin() {
    let ids: HashSet<&str> = RULES.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), RULES.len(), "rule ids are unique");
    let mut seen = HashSet::new();
    for (rule, old, new) in breaking_cases() {
        let found = compare(&old, &new, Direction::Backward);
        assert!(
            found.iter().any(|b| b.rule == rule),
            "{rule}: {old} -> {new} gave {found:?}"
        );
        for b in &found {
            assert!(ids.contains(b.rule), "unlisted rule {}", b.rule);
        }
        seen.insert(rule);
    }
    for (rule, old, new) in compatible_cases() {
        let found = compare(&old, &new, Direction::Backward);
        assert!(
            found.is_empty(),
            "{rule}: {old} -> {new} should be compatible, gave {found:?}"
        );
        seen.insert(rule);
    }
    assert_eq!(seen, ids, "every rule has cases");
}

#[test]
fn forward_is_backward_reversed() {
    let old = json!({"type": "object", "properties": {"a": {"enum": [1, 2]}}});
    let new = json!({"type": "object", "properties": {"a": {"enum": [1, 2, 3]}}});
    assert!(compare(&old, &new, Direction::Backward).is_empty());
    let forward = compare(&old, &new, Direction::Forward);
    assert_eq!(forward.len(), 1);
    assert_eq!(forward[0].rule, "enum-narrowed");
    assert_eq!(forward[0].pointer, "/properties/a");
    assert_eq!(forward[0].direction, Direction::Forward);
}

#[test]
fn nested_pointers_name_the_field() {
    let old = json!({"properties": {"user": {"properties": {"id": {"type": "string"}}}}});
    let new = json!({"properties": {"user": {"properties": {"id": {"type": "integer"}}}}});
    let found = compare(&old, &new, Direction::Backward);
    assert_eq!(found[0].pointer, "/properties/user/properties/id");
    assert!(found[0].message.contains("no longer accepts string"));
}

#[test]
fn modes_pick_pairs_and_directions() {
    let v1 = json!({"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}});
    let v2 = json!({"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}, "b": {"type": "string"}}});
    let v3 = json!({"type": "object", "additionalProperties": false, "properties": {"b": {"type": "string"}}});
    let versions = [(1, &v1), (2, &v2), (3, &v3)];
    // v2 adds an optional field to a closed model: backward compatible, not forward.
    assert!(check_versions(&versions[..2], Mode::Backward).is_empty());
    assert_eq!(check_versions(&versions[..2], Mode::Forward).len(), 1);
    assert_eq!(check_versions(&versions[..2], Mode::Full).len(), 1);
    // v3 drops `a` from a closed model: breaks backward against v1 and v2.
    let plain = check_versions(&versions, Mode::Backward);
    assert!(plain.iter().all(|b| (b.from, b.to) == (2, 3)), "{plain:?}");
    let transitive = check_versions(&versions, Mode::BackwardTransitive);
    assert!(
        transitive.iter().any(|b| (b.from, b.to) == (1, 3)),
        "{transitive:?}"
    );
    assert!(check_versions(&versions, Mode::None).is_empty());
}

/// Schemas reach here from serde_json (nesting limit 128) or YAML (depth limit 64), so 120
/// levels is the deepest real input; comparison stops at `MAX_DEPTH` anyway.
#[test]
fn deep_and_odd_schemas_do_not_panic() {
    let mut deep = json!({"type": "string"});
    for _ in 0..120 {
        deep = json!({"properties": {"x": deep}});
    }
    let _ = compare(
        &deep,
        &json!({"properties": {"x": {"type": "integer"}}}),
        Direction::Backward,
    );
    let _ = compare(&deep, &deep.clone(), Direction::Forward);
    for odd in [
        json!(null),
        json!(3),
        json!("s"),
        json!([1]),
        json!({"type": 5, "required": "a", "properties": []}),
    ] {
        let _ = compare(
            &odd,
            &json!({"type": "object", "required": ["a"]}),
            Direction::Backward,
        );
        let _ = compare(&json!({}), &odd, Direction::Forward);
    }
    for mode in Mode::ALL {
        assert_eq!(Mode::parse(mode).map(|m| m.as_str()), Some(mode));
    }
}
