//! A [`Graph`] as a Mermaid flowchart (`graph --format mermaid`, and the diagram of
//! `plan`/`diff --format markdown`, which GitHub draws in a pull-request comment).
//!
//! Streams are cylinders, groups hexagons, users stadiums; dead-letter streams are red.
//! Identifiers are the drawing's own (`s1`, `g1`, `u1`: [`Graph::drawing`]), so a name never
//! becomes Mermaid syntax; names are only labels, quoted, with every character Mermaid or
//! Markdown could read as syntax written as an entity code ([`text`]).

use std::fmt::Write as _;

use crate::graph::{Arrow, Graph, Shape};

pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(
        out,
        "  %% redis-topology graph of namespace {}: users write streams (XADD), groups read them, users consume in groups",
        text(&graph.namespace)
    );
    let mut dlqs = Vec::new();
    for shape in graph.drawing() {
        let _ = match shape {
            Shape::Stream { id, name, dlq } => {
                let line = writeln!(out, "  {id}[(\"{}\")]", text(name));
                if dlq {
                    dlqs.push(id);
                }
                line
            }
            Shape::Group { id, name } => writeln!(out, "  {id}{{{{\"{}\"}}}}", text(name)),
            Shape::User { id, name } => writeln!(out, "  {id}([\"{}\"])", text(name)),
            Shape::Arrow { from, to, kind } => {
                let arrow = match kind {
                    Arrow::Group | Arrow::Consumes => "-->",
                    Arrow::Writes => "-->|XADD|",
                    Arrow::Reads => "-.->|reads, no group|",
                    Arrow::DeadLetters => "-.->|dead letters|",
                };
                writeln!(out, "  {from} {arrow} {to}")
            }
        };
    }
    if !dlqs.is_empty() {
        out.push_str("  classDef dlq fill:#fde8e8,stroke:#c5221f\n");
        let _ = writeln!(out, "  class {} dlq", dlqs.join(","));
    }
    out
}

/// A name as the text of a quoted Mermaid label: characters that Mermaid reads as syntax
/// inside one or around it (`"`, `#` of entity codes, `%` of comments and directives, `{`,
/// `}`, `|`, a backtick's Markdown string), that HTML labels read (`<`, `>`, `&`), and control
/// and bidi characters, as `#<decimal>;` entity codes, which Mermaid draws as the character.
pub fn text(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '"' | '#' | '%' | '&' | '<' | '>' | '`' | '{' | '}' | '|')
            || c.is_control()
            || crate::text::is_bidi_control(c)
        {
            let _ = write!(out, "#{};", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_names_and_escape_syntax() {
        assert_eq!(text("agentic:rag:tasks"), "agentic:rag:tasks");
        assert_eq!(
            text("a\"b#c%%{init}%%<i>&`x`|\n\u{202e}"),
            "a#34;b#35;c#37;#37;#123;init#125;#37;#37;#60;i#62;#38;#96;x#96;#124;#10;#8238;"
        );
    }
}
