//! Names of the namespace, streams, groups and users.
//!
//! Stream names become Redis keys and ACL patterns: a space would split an ACL rule in two,
//! and a glob character in a name would make `~ns:name` match other keys. The namespace is
//! put into ACL rules by the tool, escaped (see [`crate::glob::escape`]), so a `\` in it (an
//! ID from a variable, say) is safe; `* ? [ ]` stay rejected as the format says. Names with a
//! part starting with `__topology__` are the tool's own ([`crate::record::has_reserved_segment`]).
//!
//! The rules are also used by the planner on the record, which is data anyone with write
//! access to it can edit (`plan::trust`): hence the plain `*_problem` functions.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::model::types::{Sp, Topology};
use crate::record::{RESERVED_PREFIX, has_reserved_segment};

/// Characters a namespace may not contain: Redis glob characters, except `\`, which the tool
/// escapes when it puts the namespace into an ACL rule.
const NAMESPACE_GLOB: &[char] = &['*', '?', '[', ']'];
/// Characters a stream name may not contain: every Redis glob character. Users name streams
/// in their own key patterns, where the tool cannot tell a literal from a wildcard.
const STREAM_GLOB: &[char] = &['*', '?', '[', ']', '\\'];

/// Why a name is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Breaks the format's rules; the text says how.
    Invalid(String),
    /// Has a part starting with `__topology__`.
    Reserved,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Invalid(text) => f.write_str(text),
            Problem::Reserved => write!(
                f,
                "has a `:`-separated part starting with `{RESERVED_PREFIX}`, which is reserved for the tool's own keys and helper group"
            ),
        }
    }
}

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    check_name(&topology.namespace, Kind::Namespace, diags);
    for (name, stream) in topology.streams.iter().flat_map(|s| s.iter()) {
        check_name(name, Kind::Stream, diags);
        for (group, _) in stream.groups.iter().flat_map(|g| g.iter()) {
            check_name(group, Kind::Group, diags);
        }
    }
    let users = topology.acl.as_ref().and_then(|a| a.users.as_ref());
    for (user, _) in users.iter().flat_map(|u| u.iter()) {
        check_name(user, Kind::User, diags);
    }
}

/// What a name names, for the rule and the message.
#[derive(Clone, Copy)]
enum Kind {
    Namespace,
    Stream,
    Group,
    User,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Stream => "stream",
            Kind::Group => "consumer group",
            Kind::User => "ACL user",
        }
    }

    fn problem(self, name: &str) -> Option<Problem> {
        match self {
            Kind::Namespace => namespace_problem(name),
            Kind::Stream => stream_problem(name),
            Kind::Group => group_problem(name),
            Kind::User => user_problem(name),
        }
    }

    /// What a valid name of this kind looks like.
    fn rule(self) -> &'static str {
        match self {
            Kind::Namespace => {
                "a namespace name is non-empty, without spaces or glob characters (`* ? [ ]`)"
            }
            Kind::Stream => {
                "a stream name is non-empty, without spaces or glob characters (`* ? [ ] \\`)"
            }
            Kind::Group => "a consumer group name is non-empty, without spaces",
            Kind::User => "an ACL user name is non-empty, without spaces",
        }
    }
}

fn check_name(name: &Sp<String>, kind: Kind, diags: &mut Diagnostics) {
    match kind.problem(&name.value) {
        Some(Problem::Invalid(problem)) => diags.push(invalid(name, kind, &problem)),
        Some(Problem::Reserved) => diags.push(reserved(name, kind)),
        None => {}
    }
}

/// Why a namespace is not allowed (`""`, no prefix, is).
pub fn namespace_problem(namespace: &str) -> Option<Problem> {
    if namespace.is_empty() {
        return None; // `""` is the explicit "no prefix"
    }
    key_name_problem(namespace, NAMESPACE_GLOB)
        .or_else(|| {
            namespace.ends_with(':').then(|| {
                Problem::Invalid("ends with `:` (the separator is added for you)".to_owned())
            })
        })
        .or_else(|| reserved_problem(namespace))
}

/// Why a stream name (relative to the namespace) is not allowed.
pub fn stream_problem(name: &str) -> Option<Problem> {
    key_name_problem(name, STREAM_GLOB).or_else(|| reserved_problem(name))
}

/// Why a consumer group name is not allowed.
pub fn group_problem(name: &str) -> Option<Problem> {
    plain_problem(name).or_else(|| reserved_problem(name))
}

/// Why an ACL user name is not allowed.
pub fn user_problem(name: &str) -> Option<Problem> {
    plain_problem(name)
}

fn reserved_problem(name: &str) -> Option<Problem> {
    has_reserved_segment(name).then_some(Problem::Reserved)
}

fn plain_problem(name: &str) -> Option<Problem> {
    if name.is_empty() {
        Some(Problem::Invalid("is empty".to_owned()))
    } else {
        whitespace_problem(name)
    }
}

/// Why a name cannot be (part of) a Redis key managed by patterns, if it cannot.
fn key_name_problem(name: &str, glob: &[char]) -> Option<Problem> {
    plain_problem(name).or_else(|| {
        name.chars()
            .find(|c| glob.contains(c))
            .map(|c| Problem::Invalid(format!("contains the glob character `{c}`")))
    })
}

fn whitespace_problem(name: &str) -> Option<Problem> {
    name.chars()
        .find(|c| c.is_whitespace() || c.is_control() || crate::text::is_bidi_control(*c))
        .map(|c| {
            Problem::Invalid(format!(
                "contains whitespace or a control character ({c:?})"
            ))
        })
}

fn invalid(name: &Sp<String>, kind: Kind, problem: &str) -> Diagnostic {
    Diagnostic::error(
        Code::NameInvalid,
        format!(
            "{} name `{}` {problem}",
            kind.what(),
            name.value.escape_debug()
        ),
    )
    .at(name.span)
    .label("invalid name")
    .help(format!(
        "{}; use `:`, `-`, `_` or `.` to separate words",
        kind.rule()
    ))
}

/// A reserved name. Its code is `name::invalid`, the code reserved stream names always had
/// (codes are never renamed).
fn reserved(name: &Sp<String>, kind: Kind) -> Diagnostic {
    Diagnostic::error(
        Code::NameInvalid,
        format!(
            "{} name `{}` {}",
            kind.what(),
            name.value.escape_debug(),
            Problem::Reserved
        ),
    )
    .at(name.span)
    .label("reserved name")
    .help(format!(
        "rename it: no `:`-separated part of a namespace, stream or group name may start with `{RESERVED_PREFIX}` (the tool keeps `<namespace>:{RESERVED_PREFIX}:record`, `<namespace>:{RESERVED_PREFIX}:lock` and `{}` there)",
        crate::record::OWNERS_KEY
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_parts_are_refused_in_namespaces_streams_and_groups() {
        for name in ["__topology__", "shop:__topology__", "a:__topology__x"] {
            assert_eq!(namespace_problem(name), Some(Problem::Reserved), "{name}");
        }
        for name in [
            "users",
            "lock",
            "__topology__:record",
            "eu:__topology__:lock",
        ] {
            let expected = name.contains(RESERVED_PREFIX).then_some(Problem::Reserved);
            assert_eq!(stream_problem(name), expected, "{name}");
        }
        assert_eq!(
            group_problem("__topology__:mkstream"),
            Some(Problem::Reserved)
        );
        assert_eq!(user_problem("__topology__"), None, "users are not keys");
        assert_eq!(namespace_problem(""), None);
    }

    /// Names are printed in plans and notes: one that reorders the text around it (the
    /// "Trojan Source" characters) is refused like a control character.
    #[test]
    fn names_with_bidi_controls_are_refused() {
        for name in ["orders\u{202e}", "a\u{2066}b", "\u{200f}x"] {
            for problem in [
                stream_problem(name),
                group_problem(name),
                user_problem(name),
                namespace_problem(name),
            ] {
                assert!(
                    matches!(&problem, Some(Problem::Invalid(t)) if t.contains("\\u{")),
                    "{name:?}: {problem:?}"
                );
            }
        }
    }

    #[test]
    fn a_backslash_is_escaped_in_namespaces_and_refused_in_stream_names() {
        assert_eq!(namespace_problem("proj:4\\2"), None);
        assert!(matches!(stream_problem("a\\b"), Some(Problem::Invalid(t)) if t.contains('\\')));
        for c in ['*', '?', '[', ']'] {
            let name = format!("pro{c}j");
            assert!(
                matches!(namespace_problem(&name), Some(Problem::Invalid(t)) if t.contains(c)),
                "{name}"
            );
        }
    }
}
