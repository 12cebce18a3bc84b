//! Renderers: turn results into text for people (colour only on a terminal) or JSON for
//! machines. Nothing else in the crate prints.

mod change;
pub mod diagnostics;
pub mod diff;
pub mod dot;
pub mod markdown;
pub mod mermaid;
pub mod plan;
pub mod status;

/// Whether to use colour on a stream: only on a terminal, and never when `NO_COLOR` is set
/// (<https://no-color.org>).
pub fn use_colour(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
