//! A YAML document as a tree of spanned nodes.
//!
//! The topology is not deserialized straight into typed structs: serde stops at the first
//! error, and we want every problem in a file reported at once, with its line. So the YAML is
//! first read into this small generic tree, where every node remembers where it came from, and
//! `convert` turns the tree into the typed model while collecting diagnostics. The tree is also
//! where environment overlays are merged (see `merge_overlay`), so a value that came from an
//! overlay still points at the overlay's line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a node came from: a byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub offset: usize,
    pub len: usize,
}

/// Index of a file in the [`crate::diagnostics::Sources`] of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A YAML scalar after YAML 1.2 core-schema resolution (`0` is an integer, `"0"` a string).
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in file order; keys are unique (the parser rejects duplicate keys).
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
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
    pub fn key_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Scalar(Scalar::Str(s)) => Some(s.clone()),
            NodeKind::Scalar(Scalar::Int(i)) => Some(i.to_string()),
            NodeKind::Scalar(Scalar::Bool(b)) => Some(b.to_string()),
            NodeKind::Scalar(Scalar::Float(f)) => Some(f.to_string()),
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

    /// Give every span in the tree the file id of the source it was parsed from.
    pub(crate) fn set_file(&mut self, file: FileId) {
        self.span.file = file;
        match &mut self.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => items.iter_mut().for_each(|n| n.set_file(file)),
            NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.set_file(file);
                v.set_file(file);
            }),
        }
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
    for (key, value) in overlay_entries {
        let key_text = key.key_text();
        let existing = base_entries
            .iter()
            .position(|(k, _)| k.key_text().is_some() && k.key_text() == key_text);
        match (existing, value.is_null()) {
            (Some(i), true) => {
                base_entries.remove(i);
            }
            (Some(i), false) => merge_overlay(&mut base_entries[i].1, value),
            (None, true) => {}
            (None, false) => base_entries.push((key.clone(), value.clone())),
        }
    }
}

fn span_of<T>(spanned: &Spanned<T>) -> Span {
    let span = spanned.referenced.span();
    Span {
        file: FileId::default(),
        offset: span.byte_offset().unwrap_or(0) as usize,
        len: span.byte_len().unwrap_or(0) as usize,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeKind>::deserialize(deserializer)?;
        let span = span_of(&spanned);
        Ok(Node {
            kind: spanned.value,
            span,
        })
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Int(v.into())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Int(v.into())))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Int(v)))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeKind, E> {
        match i128::try_from(v) {
            Ok(v) => Ok(NodeKind::Scalar(Scalar::Int(v))),
            Err(_) => Ok(NodeKind::Scalar(Scalar::Float(v as f64))),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Str(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Scalar::Str(
            String::from_utf8_lossy(v).into_owned(),
        )))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(NodeKind::Map(entries))
    }
}
