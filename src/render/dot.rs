//! A [`Graph`] in Graphviz's DOT language (`graph --format dot`; `dot -Tsvg` draws it).
//!
//! The same drawing as [`super::mermaid`]: streams are cylinders, groups hexagons, users
//! rounded boxes, dead-letter streams red. Identifiers are the graph's own (`s1`, `g1`,
//! `u1`); names are only quoted labels, escaped ([`text`]).

use std::fmt::Write as _;

use crate::graph::{Edge, Graph, Ids};

pub fn dot(graph: &Graph) -> String {
    let ids = Ids::of(graph);
    let mut out = String::from("digraph topology {\n");
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, labelloc=t, label=\"namespace {}\", fontname=\"Helvetica\"];",
        text(&graph.namespace)
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for stream in &graph.streams {
        let Some(id) = ids.streams.get(stream.name.as_str()) else {
            continue;
        };
        let colour = if stream.dlq_of.is_some() {
            ", color=\"#c5221f\", fontcolor=\"#c5221f\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {id} [label=\"{}\", shape=cylinder{colour}];",
            text(&stream.name)
        );
    }
    for ((_, group), id) in &ids.groups {
        let _ = writeln!(out, "  {id} [label=\"{}\", shape=hexagon];", text(group));
    }
    for (user, id) in &ids.users {
        let _ = writeln!(
            out,
            "  {id} [label=\"{}\", shape=box, style=rounded];",
            text(user)
        );
    }
    for (stream, group) in ids.group_edges() {
        let _ = writeln!(out, "  {stream} -> {group};");
    }
    for edge in &graph.edges {
        let Some((from, to)) = ids.ends(edge) else {
            continue;
        };
        let attributes = match edge {
            Edge::Writes { .. } => " [label=\"XADD\"]",
            Edge::Consumes { .. } => "",
            Edge::Reads { .. } => " [label=\"reads, no group\", style=dashed]",
            Edge::DeadLetters { .. } => {
                " [label=\"dead letters\", style=dashed, color=\"#c5221f\"]"
            }
        };
        let _ = writeln!(out, "  {from} -> {to}{attributes};");
    }
    out.push_str("}\n");
    out
}

/// A name as the text of a quoted DOT string: `"` and `\` escaped (a backslash would
/// otherwise start one of Graphviz's label escapes, `\n`, `\N`, `\G`, ...), a control or
/// bidi character shown as `\u{..}` rather than written.
pub fn text(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || crate::text::is_bidi_control(c) => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_escape_quotes_backslashes_and_controls() {
        assert_eq!(text("agentic:rag:tasks"), "agentic:rag:tasks");
        assert_eq!(text("a\"b\\N\n"), "a\\\"b\\\\N\\\\u{a}");
    }
}
