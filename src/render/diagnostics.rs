//! Diagnostics as miette reports (people) or a JSON list (machines).

use std::fmt;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceSpan, SpanContents,
};
use serde_json::json;

use crate::diagnostics::{Diagnostic, Severity, Sources};
use crate::model::node::Span;

/// The longest line, in bytes, shown as a snippet; a diagnostic on a longer one names its
/// `file:line:column` without it. miette pads the underline under a label with a formatting
/// width, and a width past 65,535 panics; a byte is at most 4 columns wide there (a tab), so
/// 16,000 bytes stay below that. A line that long is unreadable as a snippet anyway.
const MAX_SNIPPET_LINE: usize = 16_000;

/// One diagnostic, in human form: the message, the offending line with a label, the help.
pub fn human(diagnostic: &Diagnostic, sources: &Sources, colour: bool) -> String {
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_context_lines(1)
        .with_links(false);
    let view = MietteView::new(diagnostic, sources);
    let mut out = String::new();
    if handler.render_report(&mut out, &view).is_err() {
        // Rendering into a String cannot fail in practice; fall back to the plain message.
        out = format!("{}: {}\n", diagnostic.severity.as_str(), view);
    }
    out
}

/// All diagnostics as the JSON list of the contract:
/// `[{severity, code, message, file, line, column, help}]` (plus `label`).
pub fn json(diagnostics: &[Diagnostic], sources: &Sources) -> serde_json::Value {
    diagnostics
        .iter()
        .map(|d| {
            let place = d.span.and_then(|s| sources.locate(s));
            json!({
                "severity": d.severity.as_str(),
                "code": d.code.as_str(),
                "message": d.message,
                "file": place.map(|(path, _, _)| path.display().to_string()),
                "line": place.map(|(_, line, _)| line),
                "column": place.map(|(_, _, column)| column),
                "label": d.label,
                "help": d.help,
            })
        })
        .collect()
}

/// Adapter from our [`Diagnostic`] to miette's trait, with its source attached.
struct MietteView<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<FileWindow<'a>>,
    /// `file:line:column`, given in the message when the source text must not be shown.
    place: Option<String>,
}

impl<'a> MietteView<'a> {
    fn new(diagnostic: &'a Diagnostic, sources: &'a Sources) -> Self {
        let file = diagnostic.span.and_then(|s| sources.get(s.file));
        let place = diagnostic
            .span
            .and_then(|s| sources.locate(s))
            .map(|(path, line, column)| format!("{}:{line}:{column}", path.display()));
        let source = file
            .filter(|f| diagnostic.span.is_some_and(|s| fits_a_snippet(&f.text, s)))
            .map(|f| FileWindow {
                name: f.path.display().to_string(),
                text: f.printable_text(),
                line_starts: f.line_starts(),
            });
        MietteView {
            diagnostic,
            source,
            place,
        }
    }
}

/// A file's text as miette reads it for a snippet, but from a few lines around the span
/// only: miette's own reading of a text scans it from its start for every diagnostic, so
/// 3,000 warnings on a 3,000-stream file took 1.7 s (18 s in a debug build). The window
/// starts one line before the context miette asks for and ends two lines after it, so
/// miette's reading of the window gives the same lines as of the whole text; its line
/// numbers and offsets are then shifted back to the file's.
struct FileWindow<'a> {
    name: String,
    /// The printable text (see [`crate::text::printable_in_place`]): offsets as in the file.
    text: Arc<String>,
    /// The byte offset where each line starts.
    line_starts: &'a [usize],
}

impl FileWindow<'_> {
    /// The 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1)
    }
}

impl miette::SourceCode for FileWindow<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let span_end = span.offset().saturating_add(span.len());
        let first_line = self
            .line_of(span.offset())
            .saturating_sub(context_lines_before.saturating_add(1));
        let end_line = self
            .line_of(span_end)
            .saturating_add(context_lines_after)
            .saturating_add(2);
        let start = self.line_starts.get(first_line).copied().unwrap_or(0);
        let end = self
            .line_starts
            .get(end_line)
            .copied()
            .unwrap_or(self.text.len());
        let window: &'b [u8] = self
            .text
            .as_bytes()
            .get(start..end.max(start))
            .ok_or(MietteError::OutOfBounds)?;
        let offset = span
            .offset()
            .checked_sub(start)
            .ok_or(MietteError::OutOfBounds)?;
        let inner = window.read_span(
            &SourceSpan::new(offset.into(), span.len()),
            context_lines_before,
            context_lines_after,
        )?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            SourceSpan::new((start + inner.span().offset()).into(), inner.span().len()),
            inner.line() + first_line,
            inner.column(),
            inner.line_count() + first_line,
        )))
    }
}

/// Whether the lines where `span` starts and ends are short enough to show (see
/// [`MAX_SNIPPET_LINE`]).
fn fits_a_snippet(text: &str, span: Span) -> bool {
    [span.start(), span.end()]
        .into_iter()
        .all(|offset| line_length(text.as_bytes(), offset) <= MAX_SNIPPET_LINE)
}

/// The length in bytes of the line holding byte `offset` (the last line past the end).
fn line_length(text: &[u8], offset: usize) -> usize {
    let offset = offset.min(text.len());
    let start = text[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    let end = text[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |at| offset + at);
    end - start
}

/// A message, label or help on one line: they quote the file (a key, a value), and a key can
/// hold a newline or an escape sequence (`"a\nerror: x"`), which is escaped here.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    crate::text::untrusted_within(text, usize::MAX)
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = one_line(&self.diagnostic.message);
        match (&self.source, &self.place) {
            // Without a snippet miette shows no place, so the message carries it.
            (None, Some(place)) => write!(f, "{}: {message}", one_line(place)),
            _ => f.write_str(&message),
        }
    }
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_deref()
            .map(|h| Box::new(one_line(h)) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let span = self.diagnostic.span?;
        let label = LabeledSpan::new_with_span(
            self.diagnostic
                .label
                .as_deref()
                .map(|l| one_line(l).into_owned()),
            SourceSpan::new(span.start().into(), span.len as usize),
        );
        Some(Box::new(std::iter::once(label)))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::diagnostics::Code;

    #[test]
    fn a_diagnostic_past_column_65535_names_its_place_without_a_snippet() {
        let mut sources = Sources::default();
        let long = format!("key: {}x\n", "k".repeat(70_000));
        let file = sources.add(Path::new("t.yaml"), format!("a: 1\n{long}b: 2\n"));
        let at = |offset, len| Span::new(file, offset, len);
        let offset = 5 + long.len() - 2;
        let far = Diagnostic::error(Code::NameInvalid, "far away")
            .at(at(offset, 1))
            .label("here");
        let shown = human(&far, &sources, false);
        assert!(shown.contains("t.yaml:2:70006: far away"), "{shown}");
        assert!(
            shown.len() < 1_000,
            "no 70,000-byte snippet: {}",
            shown.len()
        );
        // A short line still gets its snippet.
        let near = Diagnostic::error(Code::NameInvalid, "near")
            .at(at(3, 1))
            .label("here");
        let shown = human(&near, &sources, false);
        assert!(
            shown.contains("[t.yaml:1:4]") && shown.contains("a: 1"),
            "{shown}"
        );
        assert_eq!(
            line_length(sources.get(file).expect("file").text.as_bytes(), 2),
            4
        );
    }

    /// A file's text is written by whoever can open a pull request: a key holding a newline
    /// or an escape sequence is escaped in the message, and the snippet shows the line with
    /// its control characters replaced (at the same columns).
    #[test]
    fn control_characters_of_the_file_never_reach_the_terminal() {
        let mut sources = Sources::default();
        let text = "a: 1 # \u{1b}]0;title\u{7}\n\"k\u{1b}[2K\nerror: forged\": 2\n";
        let file = sources.add(Path::new("t.yaml"), text.to_owned());
        let key = text.find("\"k").expect("key");
        let diagnostic = Diagnostic::error(
            Code::FieldUnknown,
            "unknown field `k\u{1b}[2K\nerror: forged`",
        )
        .at(Span::new(file, key, 1))
        .label("a\u{1b}b")
        .help("h\ni");
        let shown = human(&diagnostic, &sources, false);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown:?}"
        );
        assert!(
            !shown.lines().any(|l| l.starts_with("error: forged")),
            "{shown}"
        );
        assert!(
            shown.contains("unknown field `k\\u{1b}[2K\\nerror: forged`"),
            "{shown}"
        );
        assert!(shown.contains("a: 1 # ?]0;title?"), "{shown}");
        assert!(shown.contains("[t.yaml:2:1]"), "{shown}");
        assert!(
            shown.contains("a\\u{1b}b") && shown.contains("h\\ni"),
            "{shown}"
        );
    }

    /// Reading a file through its window gives what miette's own reading of the whole text
    /// gives, for every span of a text with empty lines, `\r\n` line ends and no final
    /// line end, with and without context lines.
    #[test]
    fn a_window_reads_as_the_whole_text() {
        use miette::SourceCode;
        let text = "a: 1\n\nbb: 22\r\nccc:\n  - d\r\n\r\n  - eeee\nlast";
        let mut sources = Sources::default();
        let file = sources.add(Path::new("t.yaml"), text.to_owned());
        let file = sources.get(file).expect("the file");
        let window = FileWindow {
            name: "t.yaml".to_owned(),
            text: file.printable_text(),
            line_starts: file.line_starts(),
        };
        for offset in 0..=text.len() {
            for len in 0..=(text.len() - offset).min(12) {
                for context in 0..=2 {
                    let span = SourceSpan::new(offset.into(), len);
                    let whole = text.as_bytes().read_span(&span, context, context);
                    let windowed = window.read_span(&span, context, context);
                    let (whole, windowed) = match (whole, windowed) {
                        (Ok(a), Ok(b)) => (a, b),
                        (a, b) => {
                            assert_eq!(a.is_ok(), b.is_ok(), "{offset}+{len}, {context}");
                            continue;
                        }
                    };
                    let read = |c: &dyn SpanContents<'_>| {
                        (
                            c.data().to_vec(),
                            c.span().offset(),
                            c.span().len(),
                            c.line(),
                            c.column(),
                        )
                    };
                    assert_eq!(
                        read(whole.as_ref()),
                        read(windowed.as_ref()),
                        "{offset}+{len}, {context} lines of context"
                    );
                    assert_eq!(windowed.name(), Some("t.yaml"));
                }
            }
        }
    }
}
