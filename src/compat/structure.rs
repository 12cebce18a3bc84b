//! Object and array rules: `required`, `properties` and the content model (open, closed or
//! partially open through `patternProperties`/`additionalProperties`), dependencies,
//! `propertyNames`; tuples, `items`, `uniqueItems`, `contains`.
//!
//! The content-model rules follow Confluent's JSON Schema checker: a property the writer did not
//! list could still have been sent with any value if the writer's model was open, so the reader
//! may only give it a schema if the writer's model was closed (or covered it with a schema the
//! reader's accepts); a property the reader no longer lists is only safe if the reader's model
//! still lets it through.

use serde_json::{Map, Value};

use super::engine::{Cx, Node};
use super::pattern;
use super::rules::{
    ADDITIONAL_ITEMS_CLOSED, ADDITIONAL_PROPERTIES_CLOSED, ADDITIONAL_PROPERTIES_NARROWED,
    CONTAINS_NARROWED, DEPENDENCY_ADDED, DEPENDENT_SCHEMA_ADDED, PATTERN_PROPERTY_ADDED,
    PATTERN_PROPERTY_REMOVED, PROPERTY_ADDED_NOT_COVERED, PROPERTY_ADDED_TO_OPEN_MODEL,
    PROPERTY_REMOVED_FROM_CLOSED_MODEL, PROPERTY_REMOVED_NOT_COVERED, REQUIRED_ADDED,
    TUPLE_ITEM_ADDED_TO_OPEN_MODEL, TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL, UNIQUE_ITEMS_ADDED,
};

/// What a schema does with properties (or array items) it does not list.
enum Extra<'v> {
    /// Anything goes: absent, `true` or `{}`.
    Any,
    /// Nothing: `false`.
    Never,
    /// Must match this schema.
    Schema(Node<'v>),
}

fn extra<'v>(node: Node<'v>) -> Extra<'v> {
    if node.is_unconstrained() {
        Extra::Any
    } else if node.is_false() {
        Extra::Never
    } else {
        Extra::Schema(node)
    }
}

/// Which side of the comparison a content model belongs to: the same uncertainty (a pattern
/// the matcher cannot read) is resolved conservatively, which differs per side.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Writer,
    Reader,
}

/// What a content model says about one property name that `properties` does not list.
enum Cover<'v> {
    /// Any value passes (open model).
    Open,
    /// The name is not allowed at all (closed model).
    Closed,
    /// The value must match these schemas (partially open model).
    Schemas(Vec<Node<'v>>),
}

/// How `obj` treats property `name` if it does not list it. Patterns the matcher cannot read
/// count as matching, and on the writer's side an open `additionalProperties` wins, so every
/// uncertainty makes a break more likely rather than less.
fn coverage<'v>(obj: &Node<'v>, map: &Map<String, Value>, name: &str, side: Side) -> Cover<'v> {
    let mut schemas = Vec::new();
    let mut definite = false;
    for pattern in pattern_keys(map) {
        let found = pattern::find(pattern, name);
        if found != Some(false) {
            schemas.push(obj.child(&["patternProperties", pattern]));
        }
        definite |= found == Some(true);
    }
    if definite {
        return Cover::Schemas(schemas);
    }
    let additional = obj.child(&["additionalProperties"]);
    match extra(additional.clone()) {
        Extra::Any if side == Side::Writer || schemas.is_empty() => Cover::Open,
        Extra::Any => Cover::Schemas(schemas),
        Extra::Never if schemas.is_empty() => Cover::Closed,
        Extra::Never if side == Side::Writer => Cover::Schemas(schemas),
        Extra::Never | Extra::Schema(_) => {
            schemas.push(additional);
            Cover::Schemas(schemas)
        }
    }
}

fn pattern_keys(map: &Map<String, Value>) -> Vec<&str> {
    map.get("patternProperties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn property_names(map: &Map<String, Value>) -> Vec<&str> {
    map.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn required(map: &Map<String, Value>) -> Vec<&str> {
    let mut names: Vec<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    names.dedup();
    names
}

/// Whether a property schema has a `default` (readers fill it in when the property is missing).
fn has_default(node: &Node<'_>) -> bool {
    match super::engine::deref(node) {
        super::engine::Deref::Schema(target, _) => target.value.get("default").is_some(),
        super::engine::Deref::Opaque(..) => false,
    }
}

/// Property names each dependency array requires (`dependentRequired`, and the array form of
/// Draft 7's `dependencies`), keyed by the triggering property.
fn dependency_arrays(map: &Map<String, Value>) -> Vec<(&'static str, &str, Vec<&str>)> {
    let mut found = Vec::new();
    for keyword in ["dependentRequired", "dependencies"] {
        let Some(entries) = map.get(keyword).and_then(Value::as_object) else {
            continue;
        };
        for (trigger, names) in entries {
            if let Value::Array(names) = names {
                let names = names.iter().filter_map(Value::as_str).collect();
                found.push((keyword, trigger.as_str(), names));
            }
        }
    }
    found
}

/// Dependent schemas (`dependentSchemas`, and the schema form of `dependencies`).
fn dependency_schemas(map: &Map<String, Value>) -> Vec<(&'static str, &str)> {
    let mut found = Vec::new();
    for keyword in ["dependentSchemas", "dependencies"] {
        let Some(entries) = map.get(keyword).and_then(Value::as_object) else {
            continue;
        };
        for (trigger, schema) in entries {
            if matches!(schema, Value::Object(_) | Value::Bool(_)) {
                found.push((keyword, trigger.as_str()));
            }
        }
    }
    found
}

/// The tuple part and the rest of an array schema, in either spelling (Draft 2020-12's
/// `prefixItems` + `items`, or the older array-valued `items` + `additionalItems`).
struct Shape<'v> {
    prefix_keyword: &'static str,
    prefix: Vec<Node<'v>>,
    rest: Node<'v>,
}

fn shape<'v>(node: &Node<'v>, map: &Map<String, Value>) -> Shape<'v> {
    let (prefix_keyword, rest_keyword) = match (map.get("prefixItems"), map.get("items")) {
        (Some(Value::Array(_)), _) => ("prefixItems", "items"),
        (_, Some(Value::Array(_))) => ("items", "additionalItems"),
        _ => ("prefixItems", "items"),
    };
    let count = map
        .get(prefix_keyword)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    Shape {
        prefix_keyword,
        prefix: (0..count)
            .map(|i| node.child(&[prefix_keyword, &i.to_string()]))
            .collect(),
        rest: node.child(&[rest_keyword]),
    }
}

impl Cx {
    pub(super) fn compare_objects(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        self.check_required(w, wm, r, rm);
        self.check_properties(w, wm, r, rm, depth);
        self.check_additional_properties(w, r, depth);
        self.check_pattern_properties(w, wm, r, rm, depth);
        self.check_dependencies(w, wm, r, rm, depth);
        if rm.contains_key("propertyNames") {
            let (wn, rn) = (w.child(&["propertyNames"]), r.child(&["propertyNames"]));
            self.compare(&wn, &rn, depth + 1);
        }
    }

    /// A property the reader requires must be required by the writer too, unless the reader
    /// has a default for it.
    fn check_required(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
    ) {
        let writer_required = required(wm);
        for name in required(rm) {
            let rn = r.child(&["properties", name]);
            if writer_required.contains(&name) || has_default(&rn) {
                continue;
            }
            let message = match self.dir {
                super::Direction::Backward => format!(
                    "property `{name}` became required without a default: messages written before lack it"
                ),
                super::Direction::Forward => format!(
                    "property `{name}` is no longer required: readers using the previous version require it, and messages written with this version may lack it"
                ),
            };
            self.report(
                REQUIRED_ADDED,
                &w.child(&["properties", name]),
                &rn,
                message,
            );
        }
    }

    fn check_properties(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        let writer_names = property_names(wm);
        let reader_names = property_names(rm);
        for name in &reader_names {
            let (wn, rn) = (
                w.child(&["properties", name]),
                r.child(&["properties", name]),
            );
            if wn.present {
                self.compare(&wn, &rn, depth + 1);
            } else {
                self.property_added(w, wm, name, (&wn, &rn), depth);
            }
        }
        for name in writer_names.iter().filter(|n| !reader_names.contains(n)) {
            let (wn, rn) = (
                w.child(&["properties", name]),
                r.child(&["properties", name]),
            );
            self.property_removed(r, rm, name, (&wn, &rn), depth);
        }
    }

    /// The reader lists `name`, the writer does not: what could the writer have sent under it?
    fn property_added(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        name: &str,
        (wn, rn): (&Node<'_>, &Node<'_>),
        depth: usize,
    ) {
        match coverage(w, wm, name, Side::Writer) {
            Cover::Closed => {}
            Cover::Open if rn.is_unconstrained() => {}
            Cover::Open => {
                let message = format!(
                    "property `{name}` has a schema in {} but not in {}, whose model is open: messages written with {} may carry any `{name}`, which readers using {} may reject (close the model with `additionalProperties: false` first, or give `{name}` the schema `{{}}`)",
                    self.reader_name(),
                    self.writer_name(),
                    self.writer_name(),
                    self.reader_name()
                );
                self.report(PROPERTY_ADDED_TO_OPEN_MODEL, wn, rn, message);
            }
            Cover::Schemas(schemas) => {
                for schema in schemas {
                    if let Some(reason) = self.first_reason(&schema, rn, depth) {
                        let message = format!(
                            "property `{name}` is listed in {} but was covered in {} by `patternProperties`/`additionalProperties` at `{}`, whose values it rejects: {reason}",
                            self.reader_name(),
                            self.writer_name(),
                            schema.ptr
                        );
                        self.report(PROPERTY_ADDED_NOT_COVERED, &schema, rn, message);
                        return;
                    }
                }
            }
        }
    }

    /// The writer lists `name`, the reader does not: does the reader's model still let it in?
    fn property_removed(
        &mut self,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        name: &str,
        (wn, rn): (&Node<'_>, &Node<'_>),
        depth: usize,
    ) {
        match coverage(r, rm, name, Side::Reader) {
            Cover::Open => {}
            Cover::Closed if wn.is_false() => {}
            Cover::Closed => {
                let message = match self.dir {
                    super::Direction::Backward => format!(
                        "property `{name}` was removed from a closed model (`additionalProperties: false`): messages written with the previous version may still carry it, and readers using this version reject them"
                    ),
                    super::Direction::Forward => format!(
                        "property `{name}` was added, but the previous version's model is closed (`additionalProperties: false`): readers using it reject messages that carry `{name}`"
                    ),
                };
                self.report(PROPERTY_REMOVED_FROM_CLOSED_MODEL, wn, rn, message);
            }
            Cover::Schemas(schemas) => {
                for schema in schemas {
                    if let Some(reason) = self.first_reason(wn, &schema, depth) {
                        let message = format!(
                            "property `{name}` is listed in {} but not in {}, where `patternProperties`/`additionalProperties` at `{}` rejects its values: {reason}",
                            self.writer_name(),
                            self.reader_name(),
                            schema.ptr
                        );
                        self.report(PROPERTY_REMOVED_NOT_COVERED, wn, &schema, message);
                        return;
                    }
                }
            }
        }
    }

    /// `additionalProperties`: extra properties the writer allows must pass the reader's.
    fn check_additional_properties(&mut self, w: &Node<'_>, r: &Node<'_>, depth: usize) {
        let (wn, rn) = (
            w.child(&["additionalProperties"]),
            r.child(&["additionalProperties"]),
        );
        let rule = match (extra(wn.clone()), extra(rn.clone())) {
            (_, Extra::Any) | (Extra::Never, _) => return,
            (_, Extra::Never) => ADDITIONAL_PROPERTIES_CLOSED,
            (Extra::Any, Extra::Schema(_)) => ADDITIONAL_PROPERTIES_NARROWED,
            (Extra::Schema(_), Extra::Schema(_)) => return self.compare(&wn, &rn, depth + 1),
        };
        self.report_change(
            rule,
            "additionalProperties",
            (w, r),
            (&wn, &rn),
            "extra properties",
        );
    }

    /// `patternProperties`: same pattern, compare; a new pattern in the reader applies to the
    /// writer's matching properties and extras; a pattern only the writer has hands its names
    /// to the reader's `additionalProperties`.
    fn check_pattern_properties(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        let writer_patterns = pattern_keys(wm);
        let reader_patterns = pattern_keys(rm);
        for pattern in &reader_patterns {
            let (wn, rn) = (
                w.child(&["patternProperties", pattern]),
                r.child(&["patternProperties", pattern]),
            );
            if wn.present {
                self.compare(&wn, &rn, depth + 1);
            } else if let Some(reason) = self.pattern_added_reason(w, wm, pattern, &rn, depth) {
                let message = format!(
                    "`patternProperties` entry {pattern:?} is only in {}: {reason}",
                    self.reader_name()
                );
                self.report(PATTERN_PROPERTY_ADDED, &wn, &rn, message);
            }
        }
        let reader_extra = r.child(&["additionalProperties"]);
        for pattern in writer_patterns
            .iter()
            .filter(|p| !reader_patterns.contains(p))
        {
            let wn = w.child(&["patternProperties", pattern]);
            let reason = match extra(reader_extra.clone()) {
                Extra::Any => None,
                Extra::Never if wn.is_false() => None,
                Extra::Never => Some(format!(
                    "`additionalProperties` is `false` there, so {} rejects them",
                    self.reader_name()
                )),
                Extra::Schema(extra) => self.first_reason(&wn, &extra, depth),
            };
            if let Some(reason) = reason {
                let message = format!(
                    "`patternProperties` entry {pattern:?} is only in {}, and properties matching it fall to `additionalProperties` in {}: {reason}",
                    self.writer_name(),
                    self.reader_name()
                );
                let rn = r.child(&["patternProperties", pattern]);
                self.report(PATTERN_PROPERTY_REMOVED, &wn, &rn, message);
            }
        }
    }

    /// Why a reader-only pattern may reject what the writer sends under matching names.
    fn pattern_added_reason(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        pattern: &str,
        rn: &Node<'_>,
        depth: usize,
    ) -> Option<String> {
        for name in property_names(wm) {
            if pattern::find(pattern, name) == Some(false) {
                continue;
            }
            let wn = w.child(&["properties", name]);
            if let Some(reason) = self.first_reason(&wn, rn, depth) {
                return Some(format!("property `{name}` matches it: {reason}"));
            }
        }
        match extra(w.child(&["additionalProperties"])) {
            Extra::Never => None,
            Extra::Any if rn.is_unconstrained() => None,
            Extra::Any => Some(format!(
                "{} allowed any value for matching names, which readers using {} may reject",
                self.writer_name(),
                self.reader_name()
            )),
            Extra::Schema(extra) => self.first_reason(&extra, rn, depth),
        }
    }

    /// Dependencies: required co-properties the reader demands must already be required by the
    /// writer (when the trigger is present); dependent schemas must be implied by the writer.
    fn check_dependencies(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        let writer_arrays = dependency_arrays(wm);
        let writer_required = required(wm);
        for (keyword, trigger, names) in dependency_arrays(rm) {
            let guaranteed = |name: &&str| {
                writer_required.contains(name)
                    || writer_arrays
                        .iter()
                        .any(|(_, t, ns)| *t == trigger && ns.contains(name))
            };
            let missing: Vec<&str> = names.into_iter().filter(|n| !guaranteed(n)).collect();
            if missing.is_empty() {
                continue;
            }
            let message = format!(
                "`{keyword}` of `{trigger}` in {} requires {} when `{trigger}` is present, and {} does not: {}",
                self.reader_name(),
                missing
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.writer_name(),
                self.may_reject("messages")
            );
            self.report(DEPENDENCY_ADDED, w, r, message);
        }
        for (keyword, trigger) in dependency_schemas(rm) {
            let rn = r.child(&[keyword, trigger]);
            let counterpart = ["dependentSchemas", "dependencies"]
                .iter()
                .map(|k| w.child(&[k, trigger]))
                .find(|n| n.present && !n.value.is_array());
            match counterpart {
                Some(wn) => self.compare(&wn, &rn, depth + 1),
                None if self.accepts(w, &rn, depth) => {}
                None => {
                    let message = format!(
                        "`{keyword}` of `{trigger}` in {} adds a schema {} does not imply: {}",
                        self.reader_name(),
                        self.writer_name(),
                        self.may_reject(&format!("messages carrying `{trigger}`"))
                    );
                    self.report(DEPENDENT_SCHEMA_ADDED, w, &rn, message);
                }
            }
        }
    }

    pub(super) fn compare_arrays(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        self.check_items(w, wm, r, rm, depth);
        if rm.get("uniqueItems") == Some(&Value::Bool(true))
            && wm.get("uniqueItems") != Some(&Value::Bool(true))
        {
            let message = format!(
                "`uniqueItems: true` was {}: {}",
                self.reader_only(),
                self.may_reject("arrays with duplicates")
            );
            self.report(UNIQUE_ITEMS_ADDED, w, r, message);
        }
        if rm.contains_key("contains") {
            let (wn, rn) = (w.child(&["contains"]), r.child(&["contains"]));
            if !wn.present || !self.accepts(&wn, &rn, depth) {
                self.report_change(CONTAINS_NARROWED, "contains", (w, r), (&wn, &rn), "arrays");
            }
        }
    }

    /// Tuple positions pairwise, then each side's rest (`items`/`additionalItems`).
    fn check_items(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        let (ws, rs) = (shape(w, wm), shape(r, rm));
        for i in 0..ws.prefix.len().max(rs.prefix.len()) {
            match (ws.prefix.get(i), rs.prefix.get(i)) {
                (Some(wi), Some(ri)) => self.compare(wi, ri, depth + 1),
                (None, Some(ri)) => self.tuple_item_added(w, &ws, ri, i, depth),
                (Some(wi), None) => self.tuple_item_removed(r, &rs, wi, i, depth),
                (None, None) => {}
            }
        }
        let rule = match (extra(ws.rest.clone()), extra(rs.rest.clone())) {
            (_, Extra::Any) | (Extra::Never, _) => return,
            (_, Extra::Never) => ADDITIONAL_ITEMS_CLOSED,
            _ => return self.compare(&ws.rest, &rs.rest, depth + 1),
        };
        let message = format!(
            "arrays may no longer have items beyond position {} in {}: {}",
            rs.prefix.len(),
            self.reader_name(),
            self.may_reject("longer arrays")
        );
        self.report(rule, w, r, message);
    }

    fn tuple_item_added(
        &mut self,
        w: &Node<'_>,
        ws: &Shape<'_>,
        ri: &Node<'_>,
        i: usize,
        depth: usize,
    ) {
        match extra(ws.rest.clone()) {
            Extra::Never => {}
            Extra::Schema(rest) => self.compare(&rest, ri, depth + 1),
            Extra::Any if ri.is_unconstrained() => {}
            Extra::Any => {
                let message = format!(
                    "tuple item {i} has a schema in {} but {} allowed any item there: {}",
                    self.reader_name(),
                    self.writer_name(),
                    self.may_reject("arrays")
                );
                let wi = w.child(&[ws.prefix_keyword, &i.to_string()]);
                self.report(TUPLE_ITEM_ADDED_TO_OPEN_MODEL, &wi, ri, message);
            }
        }
    }

    fn tuple_item_removed(
        &mut self,
        r: &Node<'_>,
        rs: &Shape<'_>,
        wi: &Node<'_>,
        i: usize,
        depth: usize,
    ) {
        match extra(rs.rest.clone()) {
            Extra::Any => {}
            Extra::Schema(rest) => self.compare(wi, &rest, depth + 1),
            Extra::Never if wi.is_false() => {}
            Extra::Never => {
                let message = format!(
                    "tuple item {i} is in {} but {} allows no item there: {}",
                    self.writer_name(),
                    self.reader_name(),
                    self.may_reject("arrays")
                );
                let ri = r.child(&[rs.prefix_keyword, &i.to_string()]);
                self.report(TUPLE_ITEM_REMOVED_FROM_CLOSED_MODEL, wi, &ri, message);
            }
        }
    }
}
