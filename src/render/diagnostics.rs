//! Diagnostics as miette reports (people) or a JSON list (machines).

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde_json::json;

use crate::diagnostics::{Diagnostic, Severity, Sources};

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
    source: Option<NamedSource<Arc<String>>>,
    /// `file:line:column`, given in the message when the source text must not be shown.
    place: Option<String>,
}

impl<'a> MietteView<'a> {
    fn new(diagnostic: &'a Diagnostic, sources: &Sources) -> Self {
        let file = diagnostic.span.and_then(|s| sources.get(s.file));
        let place = diagnostic
            .span
            .and_then(|s| sources.locate(s))
            .map(|(path, line, column)| format!("{}:{line}:{column}", path.display()));
        let source = file.map(|f| NamedSource::new(f.path.display().to_string(), f.text.clone()));
        MietteView {
            diagnostic,
            source,
            place,
        }
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.source, &self.place) {
            // Without a snippet miette shows no place, so the message carries it.
            (None, Some(place)) => write!(f, "{place}: {}", self.diagnostic.message),
            _ => f.write_str(&self.diagnostic.message),
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
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let span = self.diagnostic.span?;
        let label = LabeledSpan::new_with_span(
            self.diagnostic.label.clone(),
            SourceSpan::new(span.offset.into(), span.len),
        );
        Some(Box::new(std::iter::once(label)))
    }
}
