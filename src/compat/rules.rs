//! The rule table: every way a reading schema can reject a message its writing schema allowed,
//! each with a stable id. CI output, docs and suppressions refer to these ids, so never rename
//! one; add a new id instead.
//!
//! The descriptions speak of the *writer* and the *reader* because one rule serves both
//! directions: for backward checks the writer is the previous version and the reader the new
//! one, for forward checks the other way round (see [`super::Direction`]).

pub const TYPE_NARROWED: &str = "type-narrowed";
pub const TYPE_CHANGED: &str = "type-changed";
pub const ENUM_NARROWED: &str = "enum-narrowed";
pub const ENUM_CHANGED: &str = "enum-changed";
pub const ENUM_ADDED: &str = "enum-added";
pub const CONST_CHANGED: &str = "const-changed";
pub const CONST_ADDED: &str = "const-added";
pub const MAX_ADDED: &str = "max-added";
pub const MAX_DECREASED: &str = "max-decreased";
pub const MIN_ADDED: &str = "min-added";
pub const MIN_INCREASED: &str = "min-increased";
pub const PATTERN_ADDED: &str = "pattern-added";
pub const PATTERN_CHANGED: &str = "pattern-changed";
pub const MULTIPLE_OF_ADDED: &str = "multiple-of-added";
pub const MULTIPLE_OF_CHANGED: &str = "multiple-of-changed";
pub const UNIQUE_ITEMS_ADDED: &str = "unique-items-added";
pub const REQUIRED_ADDED: &str = "required-added";
pub const PROPERTY_ADDED_TO_OPEN_MODEL: &str = "property-added-to-open-model";
pub const PROPERTY_ADDED_NOT_COVERED: &str = "property-added-not-covered";
pub const PROPERTY_REMOVED_FROM_CLOSED_MODEL: &str = "property-removed-from-closed-model";
pub const PROPERTY_REMOVED_NOT_COVERED: &str = "property-removed-not-covered";
pub const ADDITIONAL_PROPERTIES_CLOSED: &str = "additional-properties-closed";
pub const ADDITIONAL_PROPERTIES_NARROWED: &str = "additional-properties-narrowed";
pub const PATTERN_PROPERTY_ADDED: &str = "pattern-property-added";
pub const PATTERN_PROPERTY_REMOVED: &str = "pattern-property-removed";
pub const DEPENDENCY_ADDED: &str = "dependency-added";
pub const DEPENDENT_SCHEMA_ADDED: &str = "dependent-schema-added";
pub const TUPLE_ITEM_ADDED_TO_OPEN_MODEL: &str = "tuple-item-added-to-open-model";
pub const TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL: &str = "tuple-item-removed-from-closed-model";
pub const ADDITIONAL_ITEMS_CLOSED: &str = "additional-items-closed";
pub const CONTAINS_NARROWED: &str = "contains-narrowed";
pub const NOT_ADDED: &str = "not-added";
pub const NOT_EXTENDED: &str = "not-extended";
pub const CONDITIONAL_CHANGED: &str = "conditional-changed";
pub const ANY_OF_NARROWED: &str = "any-of-narrowed";
pub const ONE_OF_NARROWED: &str = "one-of-narrowed";
pub const ALL_OF_EXTENDED: &str = "all-of-extended";
pub const REF_CHANGED: &str = "ref-changed";
pub const SCHEMA_BECAME_FALSE: &str = "schema-became-false";
pub const DEPTH_LIMIT_EXCEEDED: &str = "depth-limit-exceeded";
pub const COMPARISON_BUDGET_EXCEEDED: &str = "comparison-budget-exceeded";

/// Every rule id with a one-line description: the table docs/reviews.md points readers to,
/// and the list a unit test checks every rule id against.
#[cfg_attr(not(test), allow(dead_code))]
pub const RULES: &[(&str, &str)] = &[
    (
        TYPE_NARROWED,
        "the reader's `type` accepts some, but not all, of the writer's types (`integer` -> `number` is an extension, not a narrowing)",
    ),
    (
        TYPE_CHANGED,
        "the reader's `type` accepts none of the writer's types",
    ),
    (
        ENUM_NARROWED,
        "the reader's `enum` is a strict subset of the values the writer allows",
    ),
    (
        ENUM_CHANGED,
        "the reader's `enum` lacks values the writer allows and has values the writer never sends",
    ),
    (
        ENUM_ADDED,
        "the reader has an `enum` where the writer allowed any value",
    ),
    (
        CONST_CHANGED,
        "the reader's `const` differs from the value(s) the writer allows",
    ),
    (
        CONST_ADDED,
        "the reader has a `const` where the writer allowed any value",
    ),
    (
        MAX_ADDED,
        "the reader has an upper limit (`maximum`, `exclusiveMaximum`, `maxLength`, `maxItems`, `maxProperties`) the writer did not",
    ),
    (
        MAX_DECREASED,
        "the reader's upper limit is lower (or exclusive where the writer's was inclusive)",
    ),
    (
        MIN_ADDED,
        "the reader has a lower limit (`minimum`, `exclusiveMinimum`, `minLength`, `minItems`, `minProperties`) the writer did not",
    ),
    (
        MIN_INCREASED,
        "the reader's lower limit is higher (or exclusive where the writer's was inclusive)",
    ),
    (
        PATTERN_ADDED,
        "the reader has a `pattern` the writer did not",
    ),
    (
        PATTERN_CHANGED,
        "the reader's `pattern` differs from the writer's (patterns are compared by text)",
    ),
    (
        MULTIPLE_OF_ADDED,
        "the reader has a `multipleOf` the writer did not",
    ),
    (
        MULTIPLE_OF_CHANGED,
        "the writer's `multipleOf` is not a multiple of the reader's",
    ),
    (
        UNIQUE_ITEMS_ADDED,
        "the reader has `uniqueItems: true` and the writer did not",
    ),
    (
        REQUIRED_ADDED,
        "the reader requires a property the writer does not, and the reader gives it no `default`",
    ),
    (
        PROPERTY_ADDED_TO_OPEN_MODEL,
        "the reader gives a schema to a property the writer does not list, while the writer's model is open (any value allowed)",
    ),
    (
        PROPERTY_ADDED_NOT_COVERED,
        "the reader lists a property the writer allowed through `patternProperties`/`additionalProperties`, with a schema that rejects values the writer allowed",
    ),
    (
        PROPERTY_REMOVED_FROM_CLOSED_MODEL,
        "the writer lists a property the reader does not, and the reader's model is closed (`additionalProperties: false`)",
    ),
    (
        PROPERTY_REMOVED_NOT_COVERED,
        "the writer lists a property the reader does not, and the reader's `patternProperties`/`additionalProperties` schema rejects values the writer allowed",
    ),
    (
        ADDITIONAL_PROPERTIES_CLOSED,
        "the reader has `additionalProperties: false` where the writer allowed additional properties",
    ),
    (
        ADDITIONAL_PROPERTIES_NARROWED,
        "the reader has an `additionalProperties` schema where the writer allowed any additional property",
    ),
    (
        PATTERN_PROPERTY_ADDED,
        "the reader has a `patternProperties` entry that rejects values the writer allowed for matching names",
    ),
    (
        PATTERN_PROPERTY_REMOVED,
        "the writer has a `patternProperties` entry the reader lacks, and the reader's `additionalProperties` rejects what it allowed",
    ),
    (
        DEPENDENCY_ADDED,
        "the reader's `dependentRequired`/`dependencies` requires properties the writer does not",
    ),
    (
        DEPENDENT_SCHEMA_ADDED,
        "the reader has a `dependentSchemas`/`dependencies` schema the writer's schema does not imply",
    ),
    (
        TUPLE_ITEM_ADDED_TO_OPEN_MODEL,
        "the reader gives a schema to a tuple position where the writer allowed any item",
    ),
    (
        TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL,
        "the writer has a tuple position the reader lacks, and the reader allows no items beyond its tuple",
    ),
    (
        ADDITIONAL_ITEMS_CLOSED,
        "the reader allows no items beyond its tuple (`items`/`additionalItems: false`) where the writer did",
    ),
    (
        CONTAINS_NARROWED,
        "the reader has a `contains` the writer's `contains` does not imply",
    ),
    (NOT_ADDED, "the reader has a `not` the writer did not"),
    (
        NOT_EXTENDED,
        "the reader's `not` excludes values the writer's `not` allowed",
    ),
    (
        CONDITIONAL_CHANGED,
        "the reader's `if`/`then`/`else` differs from the writer's (compared by text)",
    ),
    (
        ANY_OF_NARROWED,
        "some value the writer allows matches no alternative of the reader's `anyOf`",
    ),
    (
        ONE_OF_NARROWED,
        "some value the writer allows matches no alternative of the reader's `oneOf` (or `anyOf` became `oneOf`)",
    ),
    (
        ALL_OF_EXTENDED,
        "the reader's `allOf` has an entry the writer's schema does not imply",
    ),
    (
        REF_CHANGED,
        "a `$ref` that cannot be resolved locally differs between writer and reader (such references are compared by text)",
    ),
    (
        SCHEMA_BECAME_FALSE,
        "the reader's schema is `false` (rejects everything) where the writer allowed values",
    ),
    (
        DEPTH_LIMIT_EXCEEDED,
        "the schemas nest deeper than the comparison limit; what lies below was not checked",
    ),
    (
        COMPARISON_BUDGET_EXCEEDED,
        "the schemas are too complex to compare within the work limit; the result is incomplete",
    ),
];
