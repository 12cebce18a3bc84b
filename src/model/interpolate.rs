//! `${VAR}` and `${VAR:-default}` in strings.
//!
//! Expansion happens on the typed values (after YAML parsing), so a variable can never inject
//! YAML structure. `$$` writes a literal `$`. As in POSIX shells, `:-` also applies the
//! default when the variable is set but empty.

use super::node::Span;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};

/// Where variables come from: the process environment in the CLI, a map in tests.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Vars for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// Expand the variables of `text`; on a problem, report it at `span` and return `None`.
pub fn interpolate(
    text: &str,
    span: Span,
    vars: &dyn Vars,
    diags: &mut Diagnostics,
) -> Option<String> {
    if !text.contains('$') {
        return Some(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(close) = body.find('}') else {
                diags.push(syntax_error(span, "`${` is never closed"));
                return None;
            };
            out.push_str(&expand(&body[..close], span, vars, diags)?);
            rest = &body[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Some(out)
}

fn expand(expr: &str, span: Span, vars: &dyn Vars, diags: &mut Diagnostics) -> Option<String> {
    let (name, default) = match expr.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (expr, None),
    };
    if !is_var_name(name) {
        diags.push(syntax_error(
            span,
            &format!("`${{{expr}}}` is not a variable reference"),
        ));
        return None;
    }
    match (
        vars.get(name)
            .filter(|v| !v.is_empty() || default.is_none()),
        default,
    ) {
        (Some(value), _) => Some(value),
        (None, Some(default)) => Some(default.to_owned()),
        (None, None) => {
            diags.push(
                Diagnostic::error(
                    Code::EnvVarUndefined,
                    format!("environment variable `{name}` is not set"),
                )
                .at(span)
                .label(format!("uses ${{{name}}}"))
                .help(format!(
                    "set {name}, or give a default with `${{{name}:-value}}`"
                )),
            );
            None
        }
    }
}

pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn syntax_error(span: Span, message: &str) -> Diagnostic {
    Diagnostic::error(Code::EnvVarSyntax, message)
        .at(span)
        .help("write `${NAME}` or `${NAME:-default}` (NAME is letters, digits and `_`); write `$$` for a literal `$`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(text: &str, vars: &[(&str, &str)]) -> (Option<String>, Vec<Code>) {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut diags = Vec::new();
        let out = interpolate(text, Span::default(), &vars, &mut diags);
        (out, diags.iter().map(|d| d.code).collect())
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(run("${NS}", &[("NS", "x")]).0.as_deref(), Some("x"));
        assert_eq!(run("${NS:-agentic}", &[]).0.as_deref(), Some("agentic"));
        assert_eq!(
            run("${NS:-agentic}", &[("NS", "")]).0.as_deref(),
            Some("agentic")
        );
        assert_eq!(
            run("a-${A}-${B:-b}", &[("A", "1")]).0.as_deref(),
            Some("a-1-b")
        );
        assert_eq!(
            run("cost $5 and $$x", &[]).0.as_deref(),
            Some("cost $5 and $x")
        );
        assert_eq!(run("$${NS}", &[]).0.as_deref(), Some("${NS}"));
    }

    #[test]
    fn reports_missing_and_malformed() {
        assert_eq!(run("${NOPE}", &[]), (None, vec![Code::EnvVarUndefined]));
        assert_eq!(run("${NS", &[]), (None, vec![Code::EnvVarSyntax]));
        assert_eq!(run("${1X}", &[]), (None, vec![Code::EnvVarSyntax]));
        assert_eq!(run("${}", &[]), (None, vec![Code::EnvVarSyntax]));
    }
}
