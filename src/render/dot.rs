//! A [`Graph`] in Graphviz's DOT language (`graph --format dot`; `dot -Tsvg` draws it).
//!
//! The same drawing as [`super::mermaid`]: streams are cylinders, groups hexagons, users
//! rounded boxes, dead-letter streams red. Identifiers are the drawing's own (`s1`, `g1`,
//! `u1`: [`Graph::drawing`]); names are only quoted labels, escaped ([`text`]).

use std::fmt::Write as _;

use crate::graph::{Arrow, Graph, Shape};

pub fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph topology {\n");
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, labelloc=t, label=\"namespace {}\", fontname=\"Helvetica\"];",
        text(&graph.namespace)
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    const RED: &str = "color=\"#c5221f\"";
    for shape in graph.drawing() {
        let _ = match shape {
            Shape::Stream { id, name, dlq } => {
                let colour = if dlq {
                    format!(", {RED}, font{RED}")
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "  {id} [label=\"{}\", shape=cylinder{colour}];",
                    text(name)
                )
            }
            Shape::Group { id, name } => {
                writeln!(out, "  {id} [label=\"{}\", shape=hexagon];", text(name))
            }
            Shape::User { id, name } => writeln!(
                out,
                "  {id} [label=\"{}\", shape=box, style=rounded];",
                text(name)
            ),
            Shape::Arrow { from, to, kind } => {
                let attributes = match kind {
                    Arrow::Group | Arrow::Consumes => String::new(),
                    Arrow::Writes => " [label=\"XADD\"]".to_owned(),
                    Arrow::Reads => " [label=\"reads, no group\", style=dashed]".to_owned(),
                    Arrow::DeadLetters => {
                        format!(" [label=\"dead letters\", style=dashed, {RED}]")
                    }
                };
                writeln!(out, "  {from} -> {to}{attributes};")
            }
        };
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
