//! `namespace::shared_default`: a namespace built around a variable with a default value.
//!
//! `namespace: "proj:${PROJECT_ID:-demo}"` is a per-project namespace that quietly becomes
//! `proj:demo` when PROJECT_ID is unset: every run that forgets the variable plans, applies
//! and grants users on one shared project, which seeds/003 forbids ("no fallback to a default
//! project"). `${PROJECT_ID}` without a default makes plan and apply stop instead.
//!
//! The heuristic: a `${VAR:-default}` that is only part of the namespace (text, or another
//! variable, around it) picks one tenant among many, so its default is a shared one. A
//! namespace that is entirely `${VAR:-default}` (`${REDIS_NAMESPACE:-agentic}`) is a
//! deployment's choice of prefix with a sensible default, and passes.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::model::types::Topology;

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    let Some(written) = &topology.namespace_written else {
        return;
    };
    let references = references(written);
    if let [only] = references.as_slice()
        && only.range == (0..written.len())
    {
        return;
    }
    for reference in &references {
        let Some(default) = reference.default else {
            continue;
        };
        let fallback = format!(
            "{}{default}{}",
            &written[..reference.range.start],
            &written[reference.range.end..]
        );
        let name = reference.name;
        diags.push(
            Diagnostic::warning(
                Code::NamespaceSharedDefault,
                format!(
                    "an unset {name} falls back to `{}`, shared by every run that forgets it",
                    fallback.escape_debug()
                ),
            )
            .at(topology.namespace.span)
            .label(format!("`${{{name}:-{}}}` in a larger namespace", default.escape_debug()))
            .help(format!(
                "write `${{{name}}}` so plan and apply stop when it is unset; validate a template like this in CI with a placeholder value: `{name}=ci redis-topology validate`"
            )),
        );
    }
}

/// One `${NAME}` or `${NAME:-default}` of a string, where it is written.
#[derive(Debug, PartialEq)]
struct Reference<'a> {
    name: &'a str,
    default: Option<&'a str>,
    range: std::ops::Range<usize>,
}

/// The variable references of `text`, read as the interpolation reads them (`$$` is a
/// literal `$`; a malformed reference is an error reported there, and ends the reading).
fn references(text: &str) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(dollar) = text[at..].find('$').map(|i| at + i) {
        let after = &text[dollar + 1..];
        if after.starts_with('$') {
            at = dollar + 2;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            at = dollar + 1;
            continue;
        };
        let Some(close) = body.find('}') else {
            break;
        };
        let expr = &body[..close];
        let (name, default) = match expr.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expr, None),
        };
        let end = dollar + 2 + close + 1;
        out.push(Reference {
            name,
            default,
            range: dollar..end,
        });
        at = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Severity;
    use crate::validate::diagnostics_of;

    fn found(namespace: &str, strict: bool) -> Vec<(Severity, usize, String)> {
        let text = format!("version: 1\nnamespace: \"{namespace}\"\n");
        diagnostics_of(&text, strict)
            .into_iter()
            .filter(|(code, ..)| *code == "namespace::shared_default")
            .map(|(_, severity, line, message)| (severity, line, message))
            .collect()
    }

    #[test]
    fn a_default_inside_a_larger_namespace_is_warned_at_the_namespace() {
        for (strict, severity) in [(false, Severity::Warning), (true, Severity::Error)] {
            assert_eq!(
                found("proj:${PROJECT_ID:-demo}", strict),
                [(
                    severity,
                    2,
                    "an unset PROJECT_ID falls back to `proj:demo`, shared by every run that forgets it".to_owned()
                )]
            );
        }
        // Text after it, around it, an empty default: each a shared fallback.
        let cases = [
            ("${TENANT:-acme}:orders", "`acme:orders`"),
            ("eu-${PROJECT_ID:-demo}-v2", "`eu-demo-v2`"),
            ("proj:${PROJECT_ID:-}", "`proj:`"),
            ("$$x:${T:-a}", "`$$x:a`"),
        ];
        for (namespace, fallback) in cases {
            let found = found(namespace, false);
            assert_eq!(found.len(), 1, "{namespace}: {found:?}");
            assert!(found[0].2.contains(fallback), "{namespace}: {found:?}");
        }
        assert_eq!(found("${A:-x}${B:-y}", false).len(), 2);
    }

    #[test]
    fn a_whole_namespace_from_a_variable_or_no_default_passes() {
        for namespace in [
            "${REDIS_NAMESPACE:-agentic}",
            "agentic",
            "proj:$${PROJECT_ID:-demo}",
            "",
        ] {
            assert_eq!(found(namespace, true), [], "{namespace}");
        }
        // Without a default the variable must be set: then it is an undefined variable
        // (in CI, set a placeholder), never a shared fallback.
        let text = "version: 1\nnamespace: \"proj:${PROJECT_ID}\"\n";
        let codes: Vec<&str> = diagnostics_of(text, false).iter().map(|d| d.0).collect();
        assert_eq!(codes, ["var::undefined"]);
    }

    #[test]
    fn references_are_read_as_interpolation_reads_them() {
        let refs = references("a${B}c$$d${E:-f:-g}$x${");
        let read: Vec<(&str, Option<&str>, &str)> = refs
            .iter()
            .map(|r| {
                (
                    r.name,
                    r.default,
                    &"a${B}c$$d${E:-f:-g}$x${"[r.range.clone()],
                )
            })
            .collect();
        assert_eq!(
            read,
            [("B", None, "${B}"), ("E", Some("f:-g"), "${E:-f:-g}")]
        );
    }
}
