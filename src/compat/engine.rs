//! The comparison engine: walks a *writer* schema (the one messages were written with) and a
//! *reader* schema (the one a consumer validates with) side by side and records every reason a
//! message valid for the writer could be rejected by the reader.
//!
//! This file holds the walk itself: `$ref` resolution, the depth and work limits, `allOf` /
//! `anyOf` / `oneOf`, and how findings get their pointers and wording. The per-keyword rules
//! live in `keywords.rs` (scalars) and `structure.rs` (objects and arrays).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::Direction;
use super::rules::{
    ALL_OF_EXTENDED, ANY_OF_NARROWED, COMPARISON_BUDGET_EXCEEDED, DEPTH_LIMIT_EXCEEDED,
    ONE_OF_NARROWED, REF_CHANGED, SCHEMA_BECAME_FALSE,
};

/// Subschemas nested deeper than this are not compared (a `depth-limit-exceeded` break is
/// reported instead), so hostile or runaway schemas cannot overflow the stack.
pub const MAX_DEPTH: usize = 64;

/// At most this many subschema comparisons per call of [`super::compare`]: `anyOf` matching is
/// quadratic per level, and nested alternatives multiply. Past the limit the comparison stops
/// and reports `comparison-budget-exceeded`, so the answer is never a silent "compatible".
pub const MAX_STEPS: usize = 100_000;

/// A chain of `$ref`s longer than this (or a cycle of pure `$ref`s) is treated as unresolvable.
const MAX_REF_HOPS: usize = 32;

/// The permissive schema, standing in for absent subschemas (`items`, `additionalProperties`,
/// ...), whose default is "anything".
pub(super) static ANY: Value = Value::Bool(true);

/// Keywords that constrain values. A schema with none of them accepts everything, whatever
/// metadata (`title`, `description`, `default`, `examples`, `$comment`, `$id`, `$schema`,
/// `format`, ...) it carries.
const ASSERTIONS: &[&str] = &[
    "type",
    "enum",
    "const",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "items",
    "prefixItems",
    "additionalItems",
    "contains",
    "maxItems",
    "minItems",
    "uniqueItems",
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "propertyNames",
    "maxProperties",
    "minProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "$ref",
];

/// The keywords that combine subschemas; merged branches never inherit them.
const COMBINATORS: &[&str] = &["allOf", "anyOf", "oneOf"];

/// A breaking difference before it becomes a public [`super::Breaking`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub rule: &'static str,
    pub pointer: String,
    pub message: String,
}

/// A subschema with the document it belongs to (for `$ref`) and its JSON pointer there.
/// `present: false` marks a stand-in for an absent keyword: findings then prefer the other
/// schema's pointer, since the new schema's pointer would name nothing.
#[derive(Clone, Debug)]
pub(super) struct Node<'v> {
    pub value: &'v Value,
    pub root: &'v Value,
    pub ptr: String,
    pub present: bool,
}

impl<'v> Node<'v> {
    pub fn document(doc: &'v Value) -> Node<'v> {
        Node {
            value: doc,
            root: doc,
            ptr: String::new(),
            present: true,
        }
    }

    /// The subschema at `path` below this one, or [`ANY`] (not present) where there is none.
    pub fn child(&self, path: &[&str]) -> Node<'v> {
        let mut ptr = self.ptr.clone();
        let mut value = self.present.then_some(self.value);
        for segment in path {
            push_segment(&mut ptr, segment);
            value = value.and_then(|v| step(v, segment));
        }
        match value {
            Some(value) => Node {
                value,
                root: self.root,
                ptr,
                present: true,
            },
            None => Node {
                value: &ANY,
                root: self.root,
                ptr,
                present: false,
            },
        }
    }

    /// Whether the value at this node's position is `false` (after following `$ref`s).
    pub fn is_false(&self) -> bool {
        matches!(deref(self), Deref::Schema(node, _) if node.value == &Value::Bool(false))
    }

    /// Whether this node accepts everything (after following `$ref`s; unresolvable refs don't).
    pub fn is_unconstrained(&self) -> bool {
        matches!(deref(self), Deref::Schema(node, _) if is_unconstrained(node.value))
    }
}

/// A schema built during the comparison (a merged `allOf`/`anyOf` branch, a base without its
/// combinators), keeping the document and pointer of where it came from.
#[derive(Clone, Debug)]
pub(super) struct Owned<'v> {
    pub value: Value,
    pub root: &'v Value,
    pub ptr: String,
    pub present: bool,
    /// What this branch is, for messages ("alternative 1 of `anyOf`").
    pub what: String,
}

impl<'v> Owned<'v> {
    fn at(node: &Node<'v>, value: Value, what: String) -> Owned<'v> {
        Owned {
            value,
            root: node.root,
            ptr: node.ptr.clone(),
            present: node.present,
            what,
        }
    }

    pub fn node(&self) -> Node<'_> {
        Node {
            value: &self.value,
            root: self.root,
            ptr: self.ptr.clone(),
            present: self.present,
        }
    }
}

fn step<'v>(value: &'v Value, segment: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

/// Appends one JSON-pointer segment, escaping `~` and `/` (RFC 6901).
pub(super) fn push_segment(ptr: &mut String, segment: &str) {
    ptr.push('/');
    ptr.push_str(&segment.replace('~', "~0").replace('/', "~1"));
}

/// A node after following local `$ref`s.
pub(super) enum Deref<'v> {
    /// The schema reached, and whether any `$ref` was followed to get there.
    Schema(Node<'v>, bool),
    /// A `$ref` that cannot be followed (remote, anchor, missing target, too long a chain),
    /// with its text: compared by text only.
    Opaque(Node<'v>, String),
}

impl<'v> Deref<'v> {
    fn node(&self) -> &Node<'v> {
        match self {
            Deref::Schema(node, _) | Deref::Opaque(node, _) => node,
        }
    }
}

/// Follows `$ref: "#..."` within the node's own document. Like Draft 7, keywords next to a
/// `$ref` are ignored.
pub(super) fn deref<'v>(node: &Node<'v>) -> Deref<'v> {
    let mut current = node.clone();
    let mut followed = false;
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = current.value.get("$ref").and_then(Value::as_str) else {
            return Deref::Schema(current, followed);
        };
        match local_target(current.root, reference) {
            Some((value, ptr)) => {
                current = Node {
                    value,
                    root: current.root,
                    ptr,
                    present: current.present,
                };
                followed = true;
            }
            None => return Deref::Opaque(current, reference.to_owned()),
        }
    }
    let text = current
        .value
        .get("$ref")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Deref::Opaque(current, text)
}

/// The target of a document-local reference (`#` or `#/json/pointer`) and its pointer.
fn local_target<'v>(root: &'v Value, reference: &str) -> Option<(&'v Value, String)> {
    let pointer = percent_decode(reference.strip_prefix('#')?)?;
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return None; // `#anchor`: not supported, compared by text
    }
    root.pointer(&pointer).map(|value| (value, pointer))
}

/// Decodes `%XX` escapes (URI fragments may carry them); `None` if malformed.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a schema value accepts everything (`true`, `{}`, metadata only). Values that are
/// not schemas at all count as permissive: validating them is someone else's job, and a
/// permissive reading never invents breaks.
pub(super) fn is_unconstrained(value: &Value) -> bool {
    match value {
        Value::Bool(accepts) => *accepts,
        Value::Object(map) => !constrains(map),
        _ => true,
    }
}

fn constrains(map: &Map<String, Value>) -> bool {
    ASSERTIONS.iter().any(|key| map.contains_key(*key))
}

/// A copy of `map` without `keys`, as a schema value.
pub(super) fn without(map: &Map<String, Value>, keys: &[&str]) -> Value {
    Value::Object(
        map.iter()
            .filter(|(key, _)| !keys.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    )
}

/// The array entries of `key`, as nodes (empty if absent or not an array).
pub(super) fn members<'v>(node: &Node<'v>, map: &Map<String, Value>, key: &str) -> Vec<Node<'v>> {
    let count = map.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    (0..count)
        .map(|i| node.child(&[key, &i.to_string()]))
        .collect()
}

fn contains_ref(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) if map.contains_key("$ref") => return true,
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

/// Compact JSON for messages, shortened when long.
pub(super) fn show(value: &Value) -> String {
    const LIMIT: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        return text;
    }
    let mut short: String = text.chars().take(LIMIT).collect();
    short.push('…');
    short
}

/// A keyword's value for messages, or "absent".
pub(super) fn show_node(node: &Node<'_>) -> String {
    if node.present {
        format!("`{}`", show(node.value))
    } else {
        "absent".to_owned()
    }
}

fn address(value: &Value) -> usize {
    std::ptr::from_ref(value) as usize
}

/// One comparison in progress: direction, findings, limits and the `$ref` pairs being compared.
pub(super) struct Cx {
    pub dir: Direction,
    found: Vec<Finding>,
    steps: usize,
    exhausted: bool,
    /// Both documents are equal, so equal subtrees are equal even where they hold `$ref`s.
    same_documents: bool,
    /// (writer document, writer pointer, reader document, reader pointer) of comparisons under
    /// way that followed a `$ref`: meeting one again is a cycle, assumed compatible.
    active: HashSet<(usize, String, usize, String)>,
}

/// All findings for one direction: writer/reader are old/new for backward checks and new/old
/// for forward ones.
pub(super) fn run(old: &Value, new: &Value, dir: Direction) -> Vec<Finding> {
    let (writer, reader) = match dir {
        Direction::Backward => (old, new),
        Direction::Forward => (new, old),
    };
    let mut cx = Cx {
        dir,
        found: Vec::new(),
        steps: 0,
        exhausted: false,
        same_documents: writer == reader,
        active: HashSet::new(),
    };
    let (w, r) = (Node::document(writer), Node::document(reader));
    cx.compare(&w, &r, 0);
    if cx.exhausted {
        cx.found.push(Finding {
            rule: COMPARISON_BUDGET_EXCEEDED,
            pointer: String::new(),
            message: format!(
                "the schemas are too complex to compare within {MAX_STEPS} steps: the comparison stopped early, so treat them as incompatible or simplify them"
            ),
        });
    }
    dedup(cx.found)
}

fn dedup(found: Vec<Finding>) -> Vec<Finding> {
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|f| seen.insert((f.rule, f.pointer.clone(), f.message.clone())))
        .collect()
}

impl Cx {
    /// Records a finding. Its pointer is the new schema's location when the thing exists there,
    /// else the old schema's (a removed property, say).
    pub fn report(&mut self, rule: &'static str, w: &Node<'_>, r: &Node<'_>, message: String) {
        let (old, new) = self.old_new(w, r);
        let pointer = if new.present || !old.present {
            new.ptr.clone()
        } else {
            old.ptr.clone()
        };
        self.found.push(Finding {
            rule,
            pointer,
            message,
        });
    }

    /// Records a finding for a keyword whose value changed (`wn` and `rn` are its values on
    /// each side): "`keyword` changed from … to …: readers using … may reject `what` …".
    pub fn report_change(
        &mut self,
        rule: &'static str,
        keyword: &str,
        (w, r): (&Node<'_>, &Node<'_>),
        (wn, rn): (&Node<'_>, &Node<'_>),
        what: &str,
    ) {
        let (old, new) = self.old_new(wn, rn);
        let message = format!(
            "`{keyword}` changed from {} to {}: {}",
            show_node(old),
            show_node(new),
            self.may_reject(what)
        );
        self.report(rule, w, r, message);
    }

    /// `(old, new)` from `(writer, reader)`.
    pub fn old_new<T>(&self, writer: T, reader: T) -> (T, T) {
        match self.dir {
            Direction::Backward => (writer, reader),
            Direction::Forward => (reader, writer),
        }
    }

    /// Which version wrote the messages, for messages.
    pub fn writer_name(&self) -> &'static str {
        match self.dir {
            Direction::Backward => "the previous version",
            Direction::Forward => "this version",
        }
    }

    /// Which version reads them.
    pub fn reader_name(&self) -> &'static str {
        match self.dir {
            Direction::Backward => "this version",
            Direction::Forward => "the previous version",
        }
    }

    /// "added" for something only the reader has (it is new in backward checks, gone in
    /// forward ones).
    pub fn reader_only(&self) -> &'static str {
        match self.dir {
            Direction::Backward => "added",
            Direction::Forward => "removed",
        }
    }

    /// The usual consequence, for the end of a message.
    pub fn may_reject(&self, what: &str) -> String {
        format!(
            "readers using {} may reject {what} written with {}",
            self.reader_name(),
            self.writer_name()
        )
    }

    /// Runs `f` with a fresh list of findings and returns that list, leaving the real one as it
    /// was: used to ask "would this be compatible?" without reporting.
    pub fn probe(&mut self, f: impl FnOnce(&mut Cx)) -> Vec<Finding> {
        let saved = std::mem::take(&mut self.found);
        f(self);
        std::mem::replace(&mut self.found, saved)
    }

    /// Whether `w` would be compatible with `r`, without reporting.
    pub fn accepts(&mut self, w: &Node<'_>, r: &Node<'_>, depth: usize) -> bool {
        self.probe(|cx| cx.compare(w, r, depth + 1)).is_empty()
    }

    /// The first reason `w` is not compatible with `r`, without reporting it.
    pub fn first_reason(&mut self, w: &Node<'_>, r: &Node<'_>, depth: usize) -> Option<String> {
        let found = self.probe(|cx| cx.compare(w, r, depth + 1));
        found
            .into_iter()
            .next()
            .map(|f| format!("{} [{}]", f.message, f.rule))
    }

    /// Counts one comparison; false once the work limit is spent.
    fn tick(&mut self) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.exhausted = true;
        }
        !self.exhausted
    }

    /// Compares writer subschema `w` with reader subschema `r`.
    pub fn compare(&mut self, w: &Node<'_>, r: &Node<'_>, depth: usize) {
        if !self.tick() {
            return;
        }
        if depth > MAX_DEPTH {
            let message = format!(
                "the schemas nest deeper than {MAX_DEPTH} levels here: what lies below was not compared"
            );
            self.report(DEPTH_LIMIT_EXCEEDED, w, r, message);
            return;
        }
        let (w, r, followed) = match (deref(w), deref(r)) {
            (Deref::Schema(w, a), Deref::Schema(r, b)) => (w, r, a || b),
            (w, r) => return self.compare_opaque(&w, &r),
        };
        if self.identical(&w, &r) {
            return;
        }
        let key = (
            address(w.root),
            w.ptr.clone(),
            address(r.root),
            r.ptr.clone(),
        );
        if followed && !self.active.insert(key.clone()) {
            return; // a cycle through `$ref`: what is left was or will be compared on the way out
        }
        self.compare_schemas(&w, &r, depth);
        if followed {
            self.active.remove(&key);
        }
    }

    /// Equal subschemas are compatible, unless a `$ref` inside may point at different targets
    /// in the two documents.
    fn identical(&self, w: &Node<'_>, r: &Node<'_>) -> bool {
        w.value == r.value
            && (self.same_documents || std::ptr::eq(w.root, r.root) || !contains_ref(w.value))
    }

    /// At least one side is a `$ref` that cannot be followed: only its text can be compared.
    fn compare_opaque(&mut self, w: &Deref<'_>, r: &Deref<'_>) {
        let compatible = match (w, r) {
            (Deref::Opaque(_, a), Deref::Opaque(_, b)) => a == b,
            (Deref::Opaque(..), Deref::Schema(r, _)) => is_unconstrained(r.value),
            (Deref::Schema(w, _), Deref::Opaque(..)) => w.value == &Value::Bool(false),
            (Deref::Schema(..), Deref::Schema(..)) => true,
        };
        if compatible {
            return;
        }
        let describe = |d: &Deref<'_>| match d {
            Deref::Opaque(_, text) => format!("`{text}`"),
            Deref::Schema(..) => "an inline schema".to_owned(),
        };
        let (old, new) = self.old_new(describe(w), describe(r));
        let message = format!(
            "`$ref` changed from {old} to {new}: references outside this document cannot be resolved, so they are compared by text and any change counts as breaking"
        );
        self.report(REF_CHANGED, w.node(), r.node(), message);
    }

    /// Both sides resolved: booleans, then `allOf`, `anyOf`/`oneOf`, then the keywords.
    fn compare_schemas(&mut self, w: &Node<'_>, r: &Node<'_>, depth: usize) {
        if w.value == &Value::Bool(false) {
            return; // the writer never produces a value here
        }
        if r.value == &Value::Bool(false) {
            let message = format!(
                "the schema here is `false` in {}: its readers reject every value, and {} allowed some",
                self.reader_name(),
                self.writer_name()
            );
            self.report(SCHEMA_BECAME_FALSE, w, r, message);
            return;
        }
        let Some(rm) = r.value.as_object().filter(|m| constrains(m)) else {
            return; // the reader accepts everything
        };
        let empty = Map::new();
        let wm = w.value.as_object().unwrap_or(&empty);
        if wm.contains_key("allOf") || rm.contains_key("allOf") {
            self.compare_all_of(w, wm, r, rm, depth);
        } else {
            self.compare_any_of(w, wm, r, rm, depth);
        }
    }

    /// `allOf`: the writer's value satisfies its base and every member; the reader needs its
    /// base and every member satisfied. Each reader part must be implied by some writer part
    /// (base, or base merged with one member). Members are matched by content, not position,
    /// so reordering is fine; a new member nothing implies is `all-of-extended`.
    fn compare_all_of(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        let base = Owned::at(w, without(wm, &["allOf"]), String::new());
        let mut candidates = vec![base.clone()];
        for (i, member) in members(w, wm, "allOf").iter().enumerate() {
            candidates.push(merge(&base.value, member, format!("`allOf` entry {i}")));
        }
        let reader_base = Owned::at(r, without(rm, &["allOf"]), String::new());
        if !is_unconstrained(&reader_base.value)
            && !self.any_accepts(&candidates, &reader_base.node(), depth)
        {
            self.compare(&base.node(), &reader_base.node(), depth + 1);
        }
        for (j, target) in members(r, rm, "allOf").iter().enumerate() {
            if self.any_accepts(&candidates, target, depth) {
                continue;
            }
            match candidates.get(j + 1) {
                Some(counterpart) => self.compare(&counterpart.node(), target, depth + 1),
                None => {
                    let message = format!(
                        "`allOf` entry {j} of {} is not implied by {}: {}",
                        self.reader_name(),
                        self.writer_name(),
                        self.may_reject("messages")
                    );
                    self.report(
                        ALL_OF_EXTENDED,
                        &w.child(&["allOf", &j.to_string()]),
                        target,
                        message,
                    );
                }
            }
        }
    }

    fn any_accepts(&mut self, candidates: &[Owned<'_>], target: &Node<'_>, depth: usize) -> bool {
        candidates
            .iter()
            .any(|c| self.accepts(&c.node(), target, depth))
    }

    /// `anyOf`/`oneOf`: every writer branch (an alternative merged with its base, or the whole
    /// writer) must satisfy the reader's base and match some reader alternative.
    fn compare_any_of(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        let reader_kinds: Vec<&str> = ["anyOf", "oneOf"]
            .into_iter()
            .filter(|k| rm.get(*k).is_some_and(Value::is_array))
            .collect();
        let writer_kind = ["anyOf", "oneOf"]
            .into_iter()
            .find(|k| wm.get(*k).is_some_and(Value::is_array));
        if writer_kind.is_none() && reader_kinds.is_empty() {
            self.compare_keywords(w, wm, r, rm, depth);
            return;
        }
        let branches = branches(w, wm, writer_kind, !reader_kinds.is_empty());
        let reader_base = Owned::at(r, without(rm, COMBINATORS), String::new());
        for branch in &branches {
            self.compare(&branch.node(), &reader_base.node(), depth + 1);
        }
        for kind in reader_kinds {
            let alternatives = members(r, rm, kind);
            for branch in &branches {
                let node = branch.node();
                if !alternatives.iter().any(|a| self.accepts(&node, a, depth)) {
                    self.report_alternatives_narrowed(kind, branch, r);
                }
            }
            let writer_count = wm
                .get("anyOf")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if kind == "oneOf"
                && writer_kind == Some("anyOf")
                && writer_count > 1
                && alternatives.len() > 1
            {
                let message = format!(
                    "`anyOf` in {} is `oneOf` in {}: values written with {} that match several alternatives are rejected",
                    self.writer_name(),
                    self.reader_name(),
                    self.writer_name()
                );
                self.report(ONE_OF_NARROWED, w, r, message);
            }
        }
    }

    fn report_alternatives_narrowed(&mut self, kind: &str, branch: &Owned<'_>, r: &Node<'_>) {
        let rule = if kind == "oneOf" {
            ONE_OF_NARROWED
        } else {
            ANY_OF_NARROWED
        };
        let message = format!(
            "no alternative of `{kind}` in {} accepts {} of {}: its readers reject such messages",
            self.reader_name(),
            branch.what,
            self.writer_name()
        );
        self.report(rule, &branch.node(), r, message);
    }
}

/// The writer's branches: its alternatives (merged with the base), or, facing reader
/// alternatives, one branch per type of a `type` array (so `type: [string, null]` can match
/// `anyOf: [{type: string}, {type: null}]`), or the whole writer.
fn branches<'v>(
    w: &Node<'v>,
    wm: &Map<String, Value>,
    writer_kind: Option<&str>,
    split_types: bool,
) -> Vec<Owned<'v>> {
    let base = without(wm, COMBINATORS);
    if let Some(kind) = writer_kind {
        return members(w, wm, kind)
            .iter()
            .enumerate()
            .map(|(i, m)| merge(&base, m, format!("alternative {i} of `{kind}`")))
            .filter(|b| b.value != Value::Bool(false))
            .collect();
    }
    if let (true, Some(Value::Array(types)), Value::Object(map)) =
        (split_types, wm.get("type"), &base)
        && types.len() > 1
    {
        return types
            .iter()
            .map(|t| {
                let mut single = map.clone();
                single.insert("type".to_owned(), t.clone());
                Owned::at(w, Value::Object(single), format!("the {} values", show(t)))
            })
            .collect();
    }
    vec![Owned::at(w, base, "the values".to_owned())]
}

/// A member of `allOf`/`anyOf`/`oneOf` with the keywords of its parent added (the member's
/// own keywords win): the value satisfies both, and comparing the member alone would forget the
/// parent's `type` and the like.
fn merge<'v>(base: &Value, member: &Node<'v>, what: String) -> Owned<'v> {
    match deref(member) {
        Deref::Schema(target, _) => {
            let value = match (target.value, base) {
                (Value::Object(own), Value::Object(parent)) => {
                    let mut merged = own.clone();
                    for (key, value) in parent {
                        if !merged.contains_key(key) && !COMBINATORS.contains(&key.as_str()) {
                            merged.insert(key.clone(), value.clone());
                        }
                    }
                    Value::Object(merged)
                }
                (Value::Bool(false), _) => Value::Bool(false),
                (_, Value::Object(parent)) => without(parent, COMBINATORS),
                _ => Value::Bool(true),
            };
            Owned::at(&target, value, what)
        }
        Deref::Opaque(node, _) => Owned::at(&node, node.value.clone(), what),
    }
}
