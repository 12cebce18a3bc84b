//! A YAML document as a tree of spanned nodes.
//!
//! The topology is not deserialized straight into typed structs: serde stops at the first
//! error, and we want every problem in a file reported at once, with its line. So the YAML is
//! first read into this small generic tree, where every node remembers where it came from, and
//! `convert` turns the tree into the typed model while collecting diagnostics. The tree is also
//! where environment overlays are merged (see `merge_overlay`), so a value that came from an
//! overlay still points at the overlay's line.

use std::borrow::Cow;

use compact_str::CompactString;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a node came from: a byte range in one source file.
///
/// 32-bit offsets: a span sits in every node of the tree and every value of the typed model
/// (millions at 100,000 streams), and 12 bytes instead of 24 keep both a fifth smaller.
/// Sources are far below 4 GiB (topology files are capped at `load::MAX_FILE_BYTES`);
/// [`Span::new`] saturates rather than wraps if one ever were not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub offset: u32,
    pub len: u32,
}

impl Span {
    pub fn new(file: FileId, offset: usize, len: usize) -> Span {
        let saturate = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            file,
            offset: saturate(offset),
            len: saturate(len),
        }
    }

    /// The first byte.
    pub fn start(&self) -> usize {
        self.offset as usize
    }

    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.start().saturating_add(self.len as usize)
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start()..self.end()
    }
}

/// Index of a file in the [`crate::diagnostics::Sources`] of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A YAML scalar after YAML 1.2 core-schema resolution (`0` is an integer, `"0"` a string).
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Inline up to 24 bytes, which nearly every key and value of a topology is: a tree of
    /// 100,000 streams holds a million strings, and a heap allocation each cost ~25 MB and
    /// a tenth of the load time.
    Str(CompactString),
}

/// Collections are shared (`Arc`), so that merging an environment overlay copies only the
/// path to what the overlay changes, not the whole document (10,000 streams, three
/// environments: a full copy each would cost more than converting them). `Arc<[T]>` rather
/// than `Arc<Vec<T>>`: one exact allocation per collection instead of two (half a million
/// fewer at 100,000 streams).
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Arc<[Node]>),
    /// Entries in file order; keys are unique (the parser rejects duplicate keys).
    Map(Arc<[(Node, Node)]>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

/// `null`, nowhere: what is left where a tree was taken (`std::mem::take`).
impl Default for Node {
    fn default() -> Self {
        Node {
            kind: NodeKind::Scalar(Scalar::Null),
            span: Span::default(),
        }
    }
}

impl Node {
    /// What a user would call this kind of value, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(Scalar::Null) => "null",
            NodeKind::Scalar(Scalar::Bool(_)) => "a boolean",
            NodeKind::Scalar(Scalar::Int(_)) => "an integer",
            NodeKind::Scalar(Scalar::Float(_)) => "a number",
            NodeKind::Scalar(Scalar::Str(_)) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(Scalar::Null))
    }

    /// The text of a scalar used as a map key or name: `1` and `"1"` both give `1`.
    /// Borrowed for strings, which are nearly all keys: this is on the hot path.
    pub fn key_text(&self) -> Option<Cow<'_, str>> {
        match &self.kind {
            NodeKind::Scalar(Scalar::Str(s)) => Some(Cow::Borrowed(s)),
            NodeKind::Scalar(Scalar::Int(i)) => Some(Cow::Owned(i.to_string())),
            NodeKind::Scalar(Scalar::Bool(b)) => Some(Cow::Owned(b.to_string())),
            NodeKind::Scalar(Scalar::Float(f)) => Some(Cow::Owned(f.to_string())),
            NodeKind::Scalar(Scalar::Null) | NodeKind::Seq(_) | NodeKind::Map(_) => None,
        }
    }

    /// The value stored under `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_text().as_deref() == Some(key))
            .map(|(_, v)| v)
    }
}

/// Deep-merge `overlay` over `base`, the way environment overlays work: mappings merge key by
/// key (recursively), an explicit `null` removes the key (as in JSON Merge Patch, RFC 7386), and
/// anything else (scalars, lists) replaces the base value.
pub fn merge_overlay(base: &mut Node, overlay: &Node) {
    let (NodeKind::Map(base_entries), NodeKind::Map(overlay_entries)) =
        (&mut base.kind, &overlay.kind)
    else {
        *base = overlay.clone();
        return;
    };
    let positions = positions_in(base_entries, overlay_entries);
    // An overlay that adds or removes keys rebuilds the mapping; one that only changes values
    // changes them in place (copying the mapping first when it is shared).
    let reshapes = overlay_entries
        .iter()
        .zip(&positions)
        .any(|((_, value), position)| position.is_some() == value.is_null());
    if !reshapes {
        let base_entries = Arc::make_mut(base_entries);
        for ((_, value), position) in overlay_entries.iter().zip(positions) {
            if let Some(i) = position {
                merge_overlay(&mut base_entries[i].1, value);
            }
        }
        return;
    }
    let mut entries: Vec<Option<(Node, Node)>> =
        take_entries(base_entries).into_iter().map(Some).collect();
    for ((key, value), position) in overlay_entries.iter().zip(positions) {
        match (position, value.is_null()) {
            (Some(i), true) => entries[i] = None,
            (Some(i), false) => {
                if let Some((_, base_value)) = &mut entries[i] {
                    merge_overlay(base_value, value);
                }
            }
            (None, true) => {}
            (None, false) => entries.push(Some((key.clone(), value.clone()))),
        }
    }
    *base_entries = entries.into_iter().flatten().collect();
}

/// The entries of a mapping, moved out when nothing else holds it, copied otherwise.
fn take_entries(entries: &mut Arc<[(Node, Node)]>) -> Vec<(Node, Node)> {
    match Arc::get_mut(entries) {
        Some(owned) => owned.iter_mut().map(std::mem::take).collect(),
        None => entries.to_vec(),
    }
}

/// Where each overlay key sits in the base mapping. Large mappings (10,000 streams) are
/// indexed once rather than searched once per overlay key.
fn positions_in(base: &[(Node, Node)], overlay: &[(Node, Node)]) -> Vec<Option<usize>> {
    if base.len() * overlay.len() <= 256 {
        return overlay
            .iter()
            .map(|(key, _)| {
                let key = key.key_text()?;
                base.iter()
                    .position(|(k, _)| k.key_text().as_deref() == Some(&*key))
            })
            .collect();
    }
    let index: HashMap<Cow<'_, str>, usize> = base
        .iter()
        .enumerate()
        .filter_map(|(i, (k, _))| Some((k.key_text()?, i)))
        .collect();
    overlay
        .iter()
        .map(|(key, _)| index.get(&key.key_text()?).copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::yaml::parse;

    fn tree(text: &str) -> Node {
        parse(text, FileId(0)).expect("valid YAML")
    }

    /// The tree without spans, as JSON, to compare shapes.
    fn shape(text: &str, overlay: &str) -> serde_json::Value {
        let mut base = tree(text);
        merge_overlay(&mut base, &tree(overlay));
        crate::model::convert::to_json(&base)
    }

    #[test]
    fn overlays_merge_deeply() {
        let cases = [
            (
                "a: { x: 1, y: 2 }",
                "a: { y: 3 }",
                serde_json::json!({"a": {"x": 1, "y": 3}}),
            ),
            (
                "a: { x: 1 }",
                "b: 2",
                serde_json::json!({"a": {"x": 1}, "b": 2}),
            ),
            (
                "a: { x: 1, y: 2 }",
                "a: { x: null }",
                serde_json::json!({"a": {"y": 2}}),
            ),
            ("a: [1, 2]", "a: [3]", serde_json::json!({"a": [3]})),
            (
                "a: unbounded",
                "a: { maxlen: 5 }",
                serde_json::json!({"a": {"maxlen": 5}}),
            ),
            (
                "a: { maxlen: 5 }",
                "a: unbounded",
                serde_json::json!({"a": "unbounded"}),
            ),
            ("a: 1", "{}", serde_json::json!({"a": 1})),
            ("a: 1", "b: null", serde_json::json!({"a": 1})),
        ];
        for (base, overlay, expected) in cases {
            assert_eq!(shape(base, overlay), expected, "{base} <- {overlay}");
        }
    }

    #[test]
    fn merged_values_keep_the_overlay_span() {
        let mut base = tree("a: { x: 1 }");
        let overlay_text = "a: { x: 22 }";
        merge_overlay(&mut base, &tree(overlay_text));
        let x = base.get("a").and_then(|a| a.get("x")).expect("a.x");
        assert_eq!(&overlay_text[x.span.range()], "22");
    }
}
