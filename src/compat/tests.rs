//! Table-driven tests: every rule id has a breaking and a compatible case, each run in both
//! directions and swapped; then pointers, messages, limits, malformed input and the modes.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::rules::*;
use super::*;

/// One table row: `old` -> `new`, the rule ids expected backward and forward, and the rule the
/// row is about (for the coverage test).
struct Case {
    about: &'static str,
    old: Value,
    new: Value,
    backward: &'static [&'static str],
    forward: &'static [&'static str],
}

fn case(
    about: &'static str,
    old: Value,
    new: Value,
    backward: &'static [&'static str],
    forward: &'static [&'static str],
) -> Case {
    Case {
        about,
        old,
        new,
        backward,
        forward,
    }
}

fn rules_of(old: &Value, new: &Value, direction: Direction) -> BTreeSet<&'static str> {
    compare(old, new, direction)
        .into_iter()
        .map(|b| b.rule)
        .collect()
}

fn set(rules: &[&'static str]) -> BTreeSet<&'static str> {
    rules.iter().copied().collect()
}

/// Runs a row four ways: forward is backward with the versions swapped, so
/// `compare(new, old, Forward)` must give the backward rules and vice versa.
fn run(cases: &[Case]) {
    for c in cases {
        let runs = [
            (&c.old, &c.new, Direction::Backward, c.backward, "backward"),
            (&c.old, &c.new, Direction::Forward, c.forward, "forward"),
            (
                &c.new,
                &c.old,
                Direction::Backward,
                c.forward,
                "swapped backward",
            ),
            (
                &c.new,
                &c.old,
                Direction::Forward,
                c.backward,
                "swapped forward",
            ),
        ];
        for (old, new, direction, expected, label) in runs {
            assert_eq!(
                rules_of(old, new, direction),
                set(expected),
                "[{}] {label}: {old} -> {new}\n{:#?}",
                c.about,
                compare(old, new, direction)
            );
        }
    }
}

fn type_cases() -> Vec<Case> {
    vec![
        case(
            TYPE_NARROWED,
            json!({"type": ["string", "null"]}),
            json!({"type": "string"}),
            &[TYPE_NARROWED],
            &[],
        ),
        case(
            TYPE_NARROWED,
            json!({}),
            json!({"type": "string"}),
            &[TYPE_NARROWED],
            &[],
        ),
        case(
            TYPE_NARROWED,
            json!({"type": "number"}),
            json!({"type": "integer"}),
            &[TYPE_NARROWED],
            &[],
        ),
        case(
            TYPE_NARROWED,
            json!({"type": "integer"}),
            json!({"type": "number"}),
            &[],
            &[TYPE_NARROWED],
        ),
        case(
            TYPE_NARROWED,
            json!({"enum": ["a", "b"]}),
            json!({"type": "string", "enum": ["a", "b"]}),
            &[],
            &[],
        ),
        case(
            TYPE_CHANGED,
            json!({"type": "string"}),
            json!({"type": "integer"}),
            &[TYPE_CHANGED],
            &[TYPE_CHANGED],
        ),
        case(
            TYPE_CHANGED,
            json!({"type": "string", "title": "a", "description": "b"}),
            json!({"type": "string", "title": "c", "examples": ["x"], "$comment": "d"}),
            &[],
            &[],
        ),
        case(
            TYPE_CHANGED,
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "$id": "urn:a", "type": "object", "properties": {
                "at": {"type": "string", "format": "date-time", "default": "2020-01-01T00:00:00Z", "deprecated": false}}}),
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:b", "type": "object", "properties": {
                "at": {"type": "string", "format": "date", "default": "2021-01-01", "readOnly": true, "$comment": "x"}}}),
            &[],
            &[],
        ),
        case(
            TYPE_CHANGED,
            json!({"type": "object", "properties": {"user": {"type": "object", "properties": {"id": {"type": "string"}}}}}),
            json!({"type": "object", "properties": {"user": {"type": "object", "properties": {"id": {"type": "integer"}}}}}),
            &[TYPE_CHANGED],
            &[TYPE_CHANGED],
        ),
    ]
}

fn value_cases() -> Vec<Case> {
    vec![
        case(
            ENUM_NARROWED,
            json!({"enum": ["a", "b"]}),
            json!({"enum": ["a"]}),
            &[ENUM_NARROWED],
            &[],
        ),
        case(
            ENUM_CHANGED,
            json!({"enum": ["a", "b"]}),
            json!({"enum": ["a", "c"]}),
            &[ENUM_CHANGED],
            &[ENUM_CHANGED],
        ),
        case(
            ENUM_CHANGED,
            json!({"enum": ["b", "a"]}),
            json!({"enum": ["a", "b"], "description": "reordered"}),
            &[],
            &[],
        ),
        case(
            ENUM_ADDED,
            json!({"type": "string"}),
            json!({"type": "string", "enum": ["a"]}),
            &[ENUM_ADDED],
            &[],
        ),
        case(
            CONST_CHANGED,
            json!({"const": 1}),
            json!({"const": 2}),
            &[CONST_CHANGED],
            &[CONST_CHANGED],
        ),
        case(
            CONST_CHANGED,
            json!({"const": 1}),
            json!({"const": 1.0}),
            &[],
            &[],
        ),
        case(
            CONST_CHANGED,
            json!({"const": "a"}),
            json!({"enum": ["a", "b"]}),
            &[],
            &[CONST_CHANGED],
        ),
        case(
            CONST_ADDED,
            json!({"type": "integer"}),
            json!({"type": "integer", "const": 3}),
            &[CONST_ADDED],
            &[],
        ),
    ]
}

fn limit_cases() -> Vec<Case> {
    vec![
        case(
            MAX_ADDED,
            json!({"type": "string"}),
            json!({"type": "string", "maxLength": 5}),
            &[MAX_ADDED],
            &[],
        ),
        case(
            MAX_ADDED,
            json!({"type": "number"}),
            json!({"type": "number", "maximum": 5}),
            &[MAX_ADDED],
            &[],
        ),
        case(
            MAX_ADDED,
            json!({"type": "number"}),
            json!({"type": "number", "maxLength": 3, "maxItems": 1}),
            &[],
            &[],
        ),
        case(
            MAX_ADDED,
            json!({"type": "object"}),
            json!({"type": "object", "maxProperties": 3}),
            &[MAX_ADDED],
            &[],
        ),
        case(
            MAX_DECREASED,
            json!({"type": "string", "maxLength": 10}),
            json!({"type": "string", "maxLength": 5}),
            &[MAX_DECREASED],
            &[],
        ),
        case(
            MAX_DECREASED,
            json!({"type": "array", "maxItems": 10}),
            json!({"type": "array", "maxItems": 9}),
            &[MAX_DECREASED],
            &[],
        ),
        case(
            MAX_DECREASED,
            json!({"type": "number", "maximum": 10}),
            json!({"type": "number", "exclusiveMaximum": 10}),
            &[MAX_DECREASED],
            &[],
        ),
        case(
            MAX_DECREASED,
            json!({"type": "number", "maximum": 10}),
            json!({"type": "number", "exclusiveMaximum": 11}),
            &[],
            &[MAX_DECREASED],
        ),
        case(
            MAX_DECREASED,
            json!({"type": "number", "maximum": 10, "exclusiveMaximum": true}),
            json!({"type": "number", "maximum": 10}),
            &[],
            &[MAX_DECREASED],
        ),
        case(
            MIN_ADDED,
            json!({"type": "array"}),
            json!({"type": "array", "minItems": 1}),
            &[MIN_ADDED],
            &[],
        ),
        case(
            MIN_ADDED,
            json!({"type": "string"}),
            json!({"type": "string", "minLength": 0}),
            &[],
            &[],
        ),
        case(
            MIN_ADDED,
            json!({"type": "integer"}),
            json!({"type": "integer", "exclusiveMinimum": 0}),
            &[MIN_ADDED],
            &[],
        ),
        case(
            MIN_INCREASED,
            json!({"type": "integer", "minimum": 0}),
            json!({"type": "integer", "minimum": 1}),
            &[MIN_INCREASED],
            &[],
        ),
        case(
            MIN_INCREASED,
            json!({"type": "object", "minProperties": 1}),
            json!({"type": "object", "minProperties": 2}),
            &[MIN_INCREASED],
            &[],
        ),
        case(
            MIN_INCREASED,
            json!({"type": "string", "minLength": 3}),
            json!({"type": "string", "minLength": 3, "title": "same"}),
            &[],
            &[],
        ),
        case(
            PATTERN_ADDED,
            json!({"type": "string"}),
            json!({"type": "string", "pattern": "^a"}),
            &[PATTERN_ADDED],
            &[],
        ),
        case(
            PATTERN_CHANGED,
            json!({"type": "string", "pattern": "^a"}),
            json!({"type": "string", "pattern": "^b"}),
            &[PATTERN_CHANGED],
            &[PATTERN_CHANGED],
        ),
        case(
            PATTERN_CHANGED,
            json!({"type": "string", "pattern": "^a"}),
            json!({"type": "string", "pattern": "^a", "description": "same pattern"}),
            &[],
            &[],
        ),
        case(
            MULTIPLE_OF_ADDED,
            json!({"type": "number"}),
            json!({"type": "number", "multipleOf": 2}),
            &[MULTIPLE_OF_ADDED],
            &[],
        ),
        case(
            MULTIPLE_OF_ADDED,
            json!({"type": "integer"}),
            json!({"type": "integer", "multipleOf": 1}),
            &[],
            &[],
        ),
        case(
            MULTIPLE_OF_CHANGED,
            json!({"type": "number", "multipleOf": 2}),
            json!({"type": "number", "multipleOf": 3}),
            &[MULTIPLE_OF_CHANGED],
            &[MULTIPLE_OF_CHANGED],
        ),
        case(
            MULTIPLE_OF_CHANGED,
            json!({"type": "number", "multipleOf": 4}),
            json!({"type": "number", "multipleOf": 2}),
            &[],
            &[MULTIPLE_OF_CHANGED],
        ),
        case(
            MULTIPLE_OF_CHANGED,
            json!({"type": "number", "multipleOf": 0.1}),
            json!({"type": "number", "multipleOf": 0.05}),
            &[],
            &[MULTIPLE_OF_CHANGED],
        ),
        case(
            UNIQUE_ITEMS_ADDED,
            json!({"type": "array"}),
            json!({"type": "array", "uniqueItems": true}),
            &[UNIQUE_ITEMS_ADDED],
            &[],
        ),
        case(
            UNIQUE_ITEMS_ADDED,
            json!({"type": "array"}),
            json!({"type": "array", "uniqueItems": false}),
            &[],
            &[],
        ),
    ]
}

fn object_cases() -> Vec<Case> {
    let closed = |props: Value| json!({"type": "object", "additionalProperties": false, "properties": props});
    vec![
        case(
            REQUIRED_ADDED,
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
            &[REQUIRED_ADDED],
            &[],
        ),
        case(
            REQUIRED_ADDED,
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            json!({"type": "object", "properties": {"a": {"type": "string", "default": "x"}}, "required": ["a"]}),
            &[],
            &[],
        ),
        case(
            REQUIRED_ADDED,
            closed(json!({"a": {"type": "string"}})),
            json!({"type": "object", "additionalProperties": false, "required": ["b"], "properties": {"a": {"type": "string"}, "b": {"type": "string", "default": "x"}}}),
            &[],
            &[PROPERTY_REMOVED_FROM_CLOSED_MODEL],
        ),
        case(
            PROPERTY_ADDED_TO_OPEN_MODEL,
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}),
            &[PROPERTY_ADDED_TO_OPEN_MODEL],
            &[],
        ),
        case(
            PROPERTY_ADDED_TO_OPEN_MODEL,
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {}, "c": true, "d": {"description": "anything"}}}),
            &[],
            &[],
        ),
        case(
            PROPERTY_ADDED_TO_OPEN_MODEL,
            closed(json!({"a": {"type": "string"}})),
            closed(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
            &[],
            &[PROPERTY_REMOVED_FROM_CLOSED_MODEL],
        ),
        case(
            PROPERTY_ADDED_NOT_COVERED,
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false, "properties": {"x-a": {"type": "integer"}}}),
            &[PROPERTY_ADDED_NOT_COVERED],
            &[PROPERTY_REMOVED_NOT_COVERED],
        ),
        case(
            PROPERTY_ADDED_NOT_COVERED,
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false, "properties": {"x-a": {"type": "string", "description": "covered"}}}),
            &[],
            &[],
        ),
        case(
            PROPERTY_ADDED_NOT_COVERED,
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            json!({"type": "object", "additionalProperties": {"type": "string"}, "properties": {"b": {"type": "string", "maxLength": 3}}}),
            &[PROPERTY_ADDED_NOT_COVERED],
            &[],
        ),
        case(
            PROPERTY_REMOVED_FROM_CLOSED_MODEL,
            closed(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
            closed(json!({"a": {"type": "string"}})),
            &[PROPERTY_REMOVED_FROM_CLOSED_MODEL],
            &[],
        ),
        case(
            PROPERTY_REMOVED_FROM_CLOSED_MODEL,
            closed(json!({"a": {"type": "string"}, "b": false})),
            closed(json!({"a": {"type": "string"}})),
            &[],
            &[],
        ),
        case(
            PROPERTY_REMOVED_FROM_CLOSED_MODEL,
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}),
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            &[],
            &[PROPERTY_ADDED_TO_OPEN_MODEL],
        ),
        case(
            PROPERTY_REMOVED_NOT_COVERED,
            json!({"type": "object", "properties": {"x-a": {"type": "integer"}}, "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            &[PROPERTY_REMOVED_NOT_COVERED],
            &[PROPERTY_ADDED_NOT_COVERED],
        ),
        case(
            PROPERTY_REMOVED_NOT_COVERED,
            json!({"type": "object", "properties": {"x-a": {"type": "string", "maxLength": 3}}, "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            &[],
            &[PROPERTY_ADDED_NOT_COVERED],
        ),
        case(
            ADDITIONAL_PROPERTIES_CLOSED,
            json!({"type": "object"}),
            json!({"type": "object", "additionalProperties": false}),
            &[ADDITIONAL_PROPERTIES_CLOSED],
            &[],
        ),
        case(
            ADDITIONAL_PROPERTIES_CLOSED,
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            json!({"type": "object", "additionalProperties": false}),
            &[ADDITIONAL_PROPERTIES_CLOSED],
            &[],
        ),
        case(
            ADDITIONAL_PROPERTIES_CLOSED,
            json!({"type": "object", "additionalProperties": false}),
            json!({"type": "object", "additionalProperties": true}),
            &[],
            &[ADDITIONAL_PROPERTIES_CLOSED],
        ),
        case(
            ADDITIONAL_PROPERTIES_NARROWED,
            json!({"type": "object"}),
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            &[ADDITIONAL_PROPERTIES_NARROWED],
            &[],
        ),
        case(
            ADDITIONAL_PROPERTIES_NARROWED,
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            json!({"type": "object", "additionalProperties": {"type": ["string", "number"]}}),
            &[],
            &[TYPE_NARROWED],
        ),
        case(
            PATTERN_PROPERTY_ADDED,
            json!({"type": "object"}),
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}}),
            &[PATTERN_PROPERTY_ADDED],
            &[],
        ),
        case(
            PATTERN_PROPERTY_ADDED,
            json!({"type": "object", "properties": {"x-id": {"type": "integer"}}, "additionalProperties": false}),
            json!({"type": "object", "properties": {"x-id": {"type": "integer"}}, "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            &[PATTERN_PROPERTY_ADDED],
            &[PATTERN_PROPERTY_REMOVED],
        ),
        case(
            PATTERN_PROPERTY_ADDED,
            json!({"type": "object", "additionalProperties": false}),
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
            &[],
            &[PATTERN_PROPERTY_REMOVED],
        ),
        case(
            PATTERN_PROPERTY_REMOVED,
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": {"type": "integer"}}),
            json!({"type": "object", "additionalProperties": {"type": "integer"}}),
            &[PATTERN_PROPERTY_REMOVED],
            &[PATTERN_PROPERTY_ADDED],
        ),
        case(
            PATTERN_PROPERTY_REMOVED,
            json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}}),
            json!({"type": "object"}),
            &[],
            &[PATTERN_PROPERTY_ADDED],
        ),
        case(
            DEPENDENCY_ADDED,
            json!({"type": "object", "properties": {"a": {}, "b": {}}}),
            json!({"type": "object", "properties": {"a": {}, "b": {}}, "dependentRequired": {"a": ["b"]}}),
            &[DEPENDENCY_ADDED],
            &[],
        ),
        case(
            DEPENDENCY_ADDED,
            json!({"type": "object", "properties": {"a": {}, "b": {}}}),
            json!({"type": "object", "properties": {"a": {}, "b": {}}, "dependencies": {"a": ["b"]}}),
            &[DEPENDENCY_ADDED],
            &[],
        ),
        case(
            DEPENDENCY_ADDED,
            json!({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["b"]}),
            json!({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["b"], "dependentRequired": {"a": ["b"]}}),
            &[],
            &[],
        ),
        case(
            DEPENDENT_SCHEMA_ADDED,
            json!({"type": "object"}),
            json!({"type": "object", "dependentSchemas": {"a": {"required": ["b"]}}}),
            &[DEPENDENT_SCHEMA_ADDED],
            &[],
        ),
        case(
            DEPENDENT_SCHEMA_ADDED,
            json!({"type": "object", "required": ["a", "b"]}),
            json!({"type": "object", "required": ["a", "b"], "dependencies": {"a": {"required": ["b"]}}}),
            &[],
            &[],
        ),
        case(
            DEPENDENT_SCHEMA_ADDED,
            json!({"type": "object", "dependentSchemas": {"a": {"properties": {"b": {"type": "string"}}}}}),
            json!({"type": "object", "dependentSchemas": {"a": {"properties": {"b": {"type": ["string", "null"]}}}}}),
            &[],
            &[TYPE_NARROWED],
        ),
        case(
            PATTERN_ADDED,
            json!({"type": "object"}),
            json!({"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}),
            &[PATTERN_ADDED],
            &[],
        ),
    ]
}

fn array_cases() -> Vec<Case> {
    vec![
        case(
            TYPE_NARROWED,
            json!({"type": "array"}),
            json!({"type": "array", "items": {"type": "string"}}),
            &[TYPE_NARROWED],
            &[],
        ),
        case(
            TYPE_NARROWED,
            json!({"type": "array", "items": {"type": "integer"}}),
            json!({"type": "array", "items": {"type": "number"}}),
            &[],
            &[TYPE_NARROWED],
        ),
        case(
            TUPLE_ITEM_ADDED_TO_OPEN_MODEL,
            json!({"type": "array", "items": [{"type": "string"}]}),
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}),
            &[TUPLE_ITEM_ADDED_TO_OPEN_MODEL],
            &[],
        ),
        case(
            TUPLE_ITEM_ADDED_TO_OPEN_MODEL,
            json!({"type": "array", "prefixItems": [{"type": "string"}]}),
            json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}),
            &[TUPLE_ITEM_ADDED_TO_OPEN_MODEL],
            &[],
        ),
        case(
            TUPLE_ITEM_ADDED_TO_OPEN_MODEL,
            json!({"type": "array", "items": [{"type": "string"}]}),
            json!({"type": "array", "items": [{"type": "string"}, {}]}),
            &[],
            &[],
        ),
        case(
            TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL,
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": false}),
            json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false}),
            &[TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL],
            &[],
        ),
        case(
            TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL,
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}),
            json!({"type": "array", "items": [{"type": "string"}]}),
            &[],
            &[TUPLE_ITEM_ADDED_TO_OPEN_MODEL],
        ),
        case(
            TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL,
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": {"type": "integer"}}),
            json!({"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "integer"}}),
            &[],
            &[],
        ),
        case(
            ADDITIONAL_ITEMS_CLOSED,
            json!({"type": "array", "items": [{"type": "string"}]}),
            json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false}),
            &[ADDITIONAL_ITEMS_CLOSED],
            &[],
        ),
        case(
            ADDITIONAL_ITEMS_CLOSED,
            json!({"type": "array", "prefixItems": [{"type": "string"}]}),
            json!({"type": "array", "prefixItems": [{"type": "string"}], "items": false}),
            &[ADDITIONAL_ITEMS_CLOSED],
            &[],
        ),
        case(
            ADDITIONAL_ITEMS_CLOSED,
            json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false}),
            json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false, "description": "still closed"}),
            &[],
            &[],
        ),
        case(
            CONTAINS_NARROWED,
            json!({"type": "array"}),
            json!({"type": "array", "contains": {"type": "string"}}),
            &[CONTAINS_NARROWED],
            &[],
        ),
        case(
            CONTAINS_NARROWED,
            json!({"type": "array", "contains": {"type": "string"}}),
            json!({"type": "array", "contains": {"type": ["string", "null"]}}),
            &[],
            &[CONTAINS_NARROWED],
        ),
    ]
}

fn combinator_cases() -> Vec<Case> {
    vec![
        case(
            NOT_ADDED,
            json!({"type": "string"}),
            json!({"type": "string", "not": {"const": "x"}}),
            &[NOT_ADDED],
            &[],
        ),
        case(
            NOT_ADDED,
            json!({"type": "string"}),
            json!({"type": "string", "not": false}),
            &[],
            &[],
        ),
        case(
            NOT_EXTENDED,
            json!({"not": {"const": "x"}}),
            json!({"not": {"enum": ["x", "y"]}}),
            &[NOT_EXTENDED],
            &[],
        ),
        case(
            CONDITIONAL_CHANGED,
            json!({"type": "object"}),
            json!({"type": "object", "if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}}),
            &[CONDITIONAL_CHANGED],
            &[],
        ),
        case(
            CONDITIONAL_CHANGED,
            json!({"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}}),
            json!({"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}, "title": "same"}),
            &[],
            &[],
        ),
        case(
            ANY_OF_NARROWED,
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"anyOf": [{"type": "string"}]}),
            &[ANY_OF_NARROWED],
            &[],
        ),
        case(
            ANY_OF_NARROWED,
            json!({"type": ["string", "null"]}),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]}),
            &[],
            &[],
        ),
        case(
            ANY_OF_NARROWED,
            json!({"type": "string"}),
            json!({"anyOf": [{"type": "integer"}, {"type": "null"}]}),
            &[ANY_OF_NARROWED],
            &[TYPE_CHANGED],
        ),
        case(
            ANY_OF_NARROWED,
            json!({"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}),
            json!({"type": "object", "anyOf": [{"required": ["b"]}, {"required": ["a"]}, {"required": ["c"]}]}),
            &[],
            &[ANY_OF_NARROWED],
        ),
        case(
            ONE_OF_NARROWED,
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"oneOf": [{"type": "string"}]}),
            &[ONE_OF_NARROWED],
            &[],
        ),
        case(
            ONE_OF_NARROWED,
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
            &[ONE_OF_NARROWED],
            &[],
        ),
        case(
            ALL_OF_EXTENDED,
            json!({"allOf": [{"type": "object"}]}),
            json!({"allOf": [{"type": "object"}, {"required": ["a"]}]}),
            &[ALL_OF_EXTENDED],
            &[],
        ),
        case(
            ALL_OF_EXTENDED,
            json!({"allOf": [{"type": "object"}, {"required": ["a"]}]}),
            json!({"allOf": [{"required": ["a"]}, {"type": "object"}]}),
            &[],
            &[],
        ),
        case(
            ALL_OF_EXTENDED,
            json!({"allOf": [{"type": "string"}]}),
            json!({"type": "string"}),
            &[],
            &[],
        ),
        case(
            SCHEMA_BECAME_FALSE,
            json!({"properties": {"a": {"type": "string"}}}),
            json!({"properties": {"a": false}}),
            &[SCHEMA_BECAME_FALSE],
            &[],
        ),
        case(
            SCHEMA_BECAME_FALSE,
            json!(true),
            json!(false),
            &[SCHEMA_BECAME_FALSE],
            &[],
        ),
        case(SCHEMA_BECAME_FALSE, json!(true), json!({}), &[], &[]),
    ]
}

fn ref_cases() -> Vec<Case> {
    vec![
        case(
            REF_CHANGED,
            json!({"$ref": "https://example.com/a.json"}),
            json!({"$ref": "https://example.com/b.json"}),
            &[REF_CHANGED],
            &[REF_CHANGED],
        ),
        case(
            REF_CHANGED,
            json!({"$ref": "https://example.com/a.json"}),
            json!({"$ref": "https://example.com/a.json", "description": "same target"}),
            &[],
            &[],
        ),
        case(
            REF_CHANGED,
            json!({"type": "string"}),
            json!({"$ref": "other.json#/x"}),
            &[REF_CHANGED],
            &[REF_CHANGED],
        ),
        case(
            REF_CHANGED,
            json!({"$ref": "#/$defs/missing"}),
            json!({"$ref": "#/$defs/gone"}),
            &[REF_CHANGED],
            &[REF_CHANGED],
        ),
        case(
            REF_CHANGED,
            json!({"$defs": {"A": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/A"}}}),
            json!({"properties": {"a": {"type": "string"}}}),
            &[],
            &[],
        ),
        case(
            TYPE_CHANGED,
            json!({"definitions": {"A": {"type": "string"}}, "properties": {"a": {"$ref": "#/definitions/A"}}}),
            json!({"definitions": {"A": {"type": "integer"}}, "properties": {"a": {"$ref": "#/definitions/A"}}}),
            &[TYPE_CHANGED],
            &[TYPE_CHANGED],
        ),
        case(
            TYPE_CHANGED,
            json!({"$defs": {"A": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/A"}}}),
            json!({"$defs": {"A": {"type": "string"}, "B": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/A"}}}),
            &[],
            &[],
        ),
        case(
            TYPE_CHANGED,
            json!({"type": "object", "properties": {"v": {"type": "string"}, "kids": {"type": "array", "items": {"$ref": "#"}}}}),
            json!({"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#"}}}}),
            &[TYPE_CHANGED],
            &[TYPE_CHANGED],
        ),
    ]
}

/// `depth` nested `properties.a`, with `leaf` at the bottom.
fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, _| json!({"properties": {"a": inner}}))
}

/// An `anyOf` of `count` distinct constants starting at `from`.
fn constants(from: usize, count: usize) -> Value {
    let alternatives: Vec<Value> = (from..from + count).map(|i| json!({"const": i})).collect();
    json!({"anyOf": alternatives})
}

fn limit_rule_cases() -> Vec<Case> {
    let mut described = constants(0, 300);
    if let Some(map) = described.as_object_mut() {
        map.insert("description".to_owned(), json!("same alternatives"));
    }
    vec![
        case(
            DEPTH_LIMIT_EXCEEDED,
            nested(80, json!({"type": "string"})),
            nested(80, json!({"type": "integer"})),
            &[DEPTH_LIMIT_EXCEEDED],
            &[DEPTH_LIMIT_EXCEEDED],
        ),
        case(
            DEPTH_LIMIT_EXCEEDED,
            nested(80, json!({"type": "string"})),
            nested(80, json!({"type": "string"})),
            &[],
            &[],
        ),
        case(
            DEPTH_LIMIT_EXCEEDED,
            nested(40, json!({"type": "string"})),
            nested(40, json!({"type": "integer"})),
            &[TYPE_CHANGED],
            &[TYPE_CHANGED],
        ),
        case(
            COMPARISON_BUDGET_EXCEEDED,
            constants(0, 300),
            described,
            &[],
            &[],
        ),
    ]
}

fn all_cases() -> Vec<Case> {
    [
        type_cases(),
        value_cases(),
        limit_cases(),
        object_cases(),
        array_cases(),
        combinator_cases(),
        ref_cases(),
        limit_rule_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn type_rules() {
    run(&type_cases());
}

#[test]
fn enum_and_const_rules() {
    run(&value_cases());
}

#[test]
fn limit_pattern_and_multiple_of_rules() {
    run(&limit_cases());
}

#[test]
fn object_rules() {
    run(&object_cases());
}

#[test]
fn array_rules() {
    run(&array_cases());
}

#[test]
fn combinator_and_boolean_rules() {
    run(&combinator_cases());
}

#[test]
fn ref_rules() {
    run(&ref_cases());
}

#[test]
fn depth_limit_rules() {
    run(&limit_rule_cases());
}

/// Disjoint 400-way `anyOf`s need 160,000 comparisons: the budget stops them, and says so.
#[test]
fn comparison_budget_is_reported_not_silently_passed() {
    let (old, new) = (constants(0, 400), constants(1_000, 400));
    for direction in [Direction::Backward, Direction::Forward] {
        let found = rules_of(&old, &new, direction);
        assert!(found.contains(COMPARISON_BUDGET_EXCEEDED), "{found:?}");
    }
}

#[test]
fn rule_ids_are_unique_and_described() {
    let mut seen = BTreeSet::new();
    for (id, description) in RULES {
        assert!(seen.insert(*id), "duplicate rule id {id}");
        assert!(!description.is_empty(), "{id} has no description");
        assert!(
            id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{id} is not kebab-case"
        );
    }
}

/// Every rule has a row where it breaks and one where it does not; since each row also runs
/// swapped, that covers breaking and compatible cases in both directions.
#[test]
fn every_rule_has_breaking_and_compatible_cases() {
    let cases = all_cases();
    for (id, _) in RULES {
        let about: Vec<&Case> = cases.iter().filter(|c| c.about == *id).collect();
        let breaks = |c: &&Case| c.backward.contains(id) || c.forward.contains(id);
        let compatible = |c: &&Case| !c.backward.contains(id) || !c.forward.contains(id);
        assert!(
            about.iter().any(breaks) || *id == COMPARISON_BUDGET_EXCEEDED,
            "no breaking row for {id}"
        );
        assert!(about.iter().any(compatible), "no compatible row for {id}");
    }
}

#[test]
fn every_rule_emitted_is_in_rules() {
    let known: BTreeSet<&str> = RULES.iter().map(|(id, _)| *id).collect();
    let mut emitted = BTreeSet::new();
    for c in all_cases() {
        for direction in [Direction::Backward, Direction::Forward] {
            emitted.extend(rules_of(&c.old, &c.new, direction));
            emitted.extend(rules_of(&c.new, &c.old, direction));
        }
    }
    emitted.extend(rules_of(
        &constants(0, 400),
        &constants(1_000, 400),
        Direction::Backward,
    ));
    let unknown: Vec<_> = emitted.difference(&known).collect();
    assert!(unknown.is_empty(), "rules missing from RULES: {unknown:?}");
    let unused: Vec<_> = known.difference(&emitted).collect();
    assert!(unused.is_empty(), "rules no test emits: {unused:?}");
}

fn only(old: &Value, new: &Value, direction: Direction) -> Breaking {
    let found = compare(old, new, direction);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.into_iter().next().unwrap_or_else(|| unreachable!())
}

#[test]
fn pointers_name_the_field_in_the_new_schema() {
    let old = json!({"type": "object", "properties": {"user": {"type": "object", "properties": {"id": {"type": "string"}}}}});
    let new = json!({"type": "object", "properties": {"user": {"type": "object", "properties": {"id": {"type": "integer"}}}}});
    for direction in [Direction::Backward, Direction::Forward] {
        let found = only(&old, &new, direction);
        assert_eq!(found.pointer, "/properties/user/properties/id");
        assert_eq!(found.direction, direction);
    }
    // Old: `u` is a `$ref` to a definition; new: inline. Pointers follow the new layout.
    let old =
        json!({"$defs": {"U": {"type": "string"}}, "properties": {"u": {"$ref": "#/$defs/U"}}});
    let new = json!({"properties": {"u": {"type": "integer"}}});
    assert_eq!(
        only(&old, &new, Direction::Backward).pointer,
        "/properties/u"
    );
    assert_eq!(
        only(&old, &new, Direction::Forward).pointer,
        "/properties/u"
    );
}

#[test]
fn pointers_fall_back_to_the_old_schema_for_removed_fields() {
    let old = json!({"$defs": {"U": {"type": "object", "additionalProperties": false, "properties": {"a": {}, "b": {}}}}, "properties": {"u": {"$ref": "#/$defs/U"}}});
    let new = json!({"properties": {"u": {"type": "object", "additionalProperties": false, "properties": {"a": {}}}}});
    let found = only(&old, &new, Direction::Backward);
    assert_eq!(found.rule, PROPERTY_REMOVED_FROM_CLOSED_MODEL);
    assert_eq!(found.pointer, "/$defs/U/properties/b");
    // Forward, the same change is a property *added* to the closed old model: it exists in new.
    let found = only(&new, &old, Direction::Forward);
    assert_eq!(found.rule, PROPERTY_REMOVED_FROM_CLOSED_MODEL);
    assert_eq!(found.pointer, "/$defs/U/properties/b");
    let found = only(
        &json!({"a~b/c": 1}),
        &json!({"properties": {"a~b/c": false}}),
        Direction::Backward,
    );
    assert_eq!(found.pointer, "/properties/a~0b~1c");
}

#[test]
fn messages_say_what_changed_and_who_breaks() {
    let old = json!({"type": "object", "additionalProperties": false, "properties": {"id": {"type": "string"}}});
    let new = json!({"type": "object", "additionalProperties": false, "required": ["priority"], "properties": {"id": {"type": "string"}, "priority": {"type": "number"}}});
    let found = only(&old, &new, Direction::Backward);
    assert_eq!(found.rule, REQUIRED_ADDED);
    assert_eq!(found.pointer, "/properties/priority");
    assert_eq!(
        found.message,
        "property `priority` became required without a default: messages written before lack it"
    );
    let found = only(&old, &new, Direction::Forward);
    assert_eq!(found.rule, PROPERTY_REMOVED_FROM_CLOSED_MODEL);
    assert!(
        found
            .message
            .contains("the previous version's model is closed"),
        "{}",
        found.message
    );
    let found = only(
        &json!({"type": "string", "maxLength": 10}),
        &json!({"type": "string", "maxLength": 5}),
        Direction::Backward,
    );
    assert_eq!(
        found.message,
        "`maxLength` changed from 10 to 5: readers using this version may reject longer strings written with the previous version"
    );
}

#[test]
fn malformed_schemas_never_panic() {
    let weird = [
        json!(null),
        json!(42),
        json!("string"),
        json!([1, 2]),
        json!({"type": 5, "enum": "x", "const": null}),
        json!({"properties": [], "required": "a", "items": 3, "allOf": {}, "anyOf": 7}),
        json!({"$ref": 5, "not": "x", "if": [], "contains": 2}),
        json!({"$ref": "#/nope/%zz"}),
        json!({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}),
        json!({"$ref": "#"}),
        json!({"patternProperties": {"(": {"type": "string"}, "[": 3}, "additionalProperties": 1}),
        json!({"multipleOf": 0, "maximum": "x", "exclusiveMaximum": true, "minLength": -1}),
        json!({"multipleOf": -1, "minimum": 1e308, "exclusiveMinimum": -1e308}),
        json!({"prefixItems": {}, "items": [true, false], "additionalItems": "x"}),
        json!({"dependencies": {"a": 3, "b": ["c", 4]}, "dependentSchemas": [], "dependentRequired": {"a": "b"}}),
        json!({"type": ["string", 3, "nope"], "enum": [1, "a", null, [1], {"a": 1}]}),
        json!({"properties": {"a": {"$ref": "#/properties/a"}}}),
        json!({"anyOf": [], "oneOf": [false], "allOf": [true, 1]}),
        json!(false),
        json!(true),
    ];
    for old in &weird {
        for new in &weird {
            for direction in [Direction::Backward, Direction::Forward] {
                let _ = compare(old, new, direction);
            }
        }
    }
}

#[test]
fn self_referencing_schemas_terminate() {
    let tree = |leaf: &str| {
        json!({"$defs": {"node": {"type": "object", "properties": {
            "value": {"type": leaf},
            "left": {"$ref": "#/$defs/node"},
            "right": {"$ref": "#/$defs/node"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
        }}}, "$ref": "#/$defs/node"})
    };
    let found = compare(&tree("string"), &tree("integer"), Direction::Backward);
    assert!(!found.is_empty());
    assert!(found.iter().all(|b| b.rule == TYPE_CHANGED), "{found:#?}");
    assert!(compare(&tree("integer"), &tree("number"), Direction::Backward).is_empty());
}

#[test]
fn project_schemas_evolve_as_documented() {
    let v1 = json!({"type": "object", "additionalProperties": false, "required": ["task_id", "query"], "properties": {
        "task_id": {"type": "string"}, "query": {"type": "string", "minLength": 1},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 8}}});
    let v2 = json!({"type": "object", "additionalProperties": false, "required": ["task_id", "query"], "properties": {
        "task_id": {"type": "string", "description": "now documented"}, "query": {"type": "string", "minLength": 1},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 8},
        "priority": {"type": "string", "enum": ["low", "normal", "high"], "default": "normal"}}});
    assert!(compare(&v1, &v2, Direction::Backward).is_empty());
    let forward = compare(&v1, &v2, Direction::Forward);
    assert_eq!(forward.len(), 1);
    assert_eq!(forward[0].rule, PROPERTY_REMOVED_FROM_CLOSED_MODEL);
    assert_eq!(forward[0].pointer, "/properties/priority");
}

fn three_versions() -> [Value; 3] {
    [
        json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        json!({"type": "object", "properties": {"a": {"type": "string", "default": "x"}}, "required": ["a"]}),
        json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
    ]
}

fn summary(breaks: &[VersionBreak]) -> Vec<(u64, u64, &'static str, Direction)> {
    breaks
        .iter()
        .map(|b| (b.from, b.to, b.breaking.rule, b.breaking.direction))
        .collect()
}

/// v1 -> v2 adds a required property with a default, v2 -> v3 drops the default: each step is
/// fine, but v3 readers cannot read v1 messages. Only the transitive modes see it.
#[test]
fn transitive_modes_compare_with_every_earlier_version() {
    let [v1, v2, v3] = three_versions();
    let versions = [(1, &v1), (2, &v2), (3, &v3)];
    for mode in [
        Mode::Backward,
        Mode::Full,
        Mode::Forward,
        Mode::ForwardTransitive,
    ] {
        assert_eq!(
            summary(&check_versions(&versions, mode)),
            vec![],
            "{mode:?}"
        );
    }
    for mode in [Mode::BackwardTransitive, Mode::FullTransitive] {
        assert_eq!(
            summary(&check_versions(&versions, mode)),
            vec![(1, 3, REQUIRED_ADDED, Direction::Backward)],
            "{mode:?}"
        );
    }
}

/// Adding an optional property to a closed model: backward fine, forward breaks; full sees it.
#[test]
fn full_checks_both_directions_and_none_checks_nothing() {
    let v1 = json!({"type": "object", "additionalProperties": false, "properties": {"a": {}}});
    let v2 =
        json!({"type": "object", "additionalProperties": false, "properties": {"a": {}, "b": {}}});
    let v3 = json!({"type": "integer"});
    let versions = [(1, &v1), (2, &v2)];
    assert!(check_versions(&versions, Mode::Backward).is_empty());
    let expected = vec![(1, 2, PROPERTY_REMOVED_FROM_CLOSED_MODEL, Direction::Forward)];
    assert_eq!(summary(&check_versions(&versions, Mode::Forward)), expected);
    assert_eq!(summary(&check_versions(&versions, Mode::Full)), expected);
    let all = [(1, &v1), (2, &v2), (3, &v3)];
    assert!(check_versions(&all, Mode::None).is_empty());
    let full = summary(&check_versions(&all, Mode::Full));
    assert!(
        full.contains(&(2, 3, TYPE_CHANGED, Direction::Backward)),
        "{full:?}"
    );
    assert!(
        full.contains(&(2, 3, TYPE_CHANGED, Direction::Forward)),
        "{full:?}"
    );
    assert!(
        full.iter().all(|(from, to, _, _)| from + 1 == *to),
        "{full:?}"
    );
    assert!(check_versions(&[], Mode::FullTransitive).is_empty());
    assert!(check_versions(&[(1, &v1)], Mode::FullTransitive).is_empty());
}

#[test]
fn modes_parse_and_print() {
    for name in Mode::ALL {
        let mode = Mode::parse(name);
        assert_eq!(mode.map(|m| m.as_str()), Some(name));
    }
    assert_eq!(Mode::parse("BACKWARD"), None);
    assert_eq!(Mode::parse("backwards"), None);
    assert!(Mode::FullTransitive.is_transitive() && !Mode::Full.is_transitive());
    assert_eq!(Mode::None.directions(), &[] as &[Direction]);
    assert_eq!(Direction::Forward.as_str(), "forward");
}

/// Every table row as two versions of a schema under every mode: a mode reports exactly the
/// rules of the directions it checks (none for `none`), transitive or not (two versions).
#[test]
fn every_row_under_every_mode() {
    for c in all_cases() {
        let versions = [(1, &c.old), (2, &c.new)];
        for name in Mode::ALL {
            let Some(mode) = Mode::parse(name) else {
                panic!("{name} parses");
            };
            let mut expected = BTreeSet::new();
            for direction in mode.directions() {
                expected.extend(match direction {
                    Direction::Backward => c.backward,
                    Direction::Forward => c.forward,
                });
            }
            let found: BTreeSet<&str> = check_versions(&versions, mode)
                .into_iter()
                .map(|b| b.breaking.rule)
                .collect();
            assert_eq!(found, expected, "[{}] under {name}", c.about);
        }
    }
}
