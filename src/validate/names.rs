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
use crate::model::types::{DEFAULT_USER, Sp, Topology, UserNames};
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
    let names = topology.acl.as_ref().and_then(|a| a.user_names.as_ref());
    if let Some(names) = names {
        check_user_names(&names.value, diags);
    }
    for (user, _) in users.iter().flat_map(|u| u.iter()) {
        check_name(user, Kind::User, diags);
        if let Some(names) = names {
            check_server_name(user, names, diags);
        }
    }
}

/// A user name prefix or suffix becomes part of every user name: whitespace would split
/// the `ACL SETUSER` rule (Redis refuses such names), a control character could forge
/// output lines.
fn check_user_names(names: &UserNames, diags: &mut Diagnostics) {
    for (part, what) in [(&names.prefix, "prefix"), (&names.suffix, "suffix")] {
        let Some(part) = part else { continue };
        if let Some(Problem::Invalid(problem)) = whitespace_problem(&part.value) {
            diags.push(
                Diagnostic::error(
                    Code::NameInvalid,
                    format!(
                        "the user name {what} `{}` {problem}",
                        part.value.escape_debug()
                    ),
                )
                .at(part.span)
                .label("invalid user name part")
                .help(format!(
                    "it is added to every ACL user name, which may not contain spaces: use `-`, `_` or `.`, e.g. `{what}: \"{}\"`",
                    if what == "prefix" { "dev-" } else { "-dev" }
                )),
            );
        }
    }
}

/// A declared user whose server name (with `acl.user_names`) would be the server's
/// `default` user, which it is not.
fn check_server_name(user: &Sp<String>, names: &Sp<UserNames>, diags: &mut Diagnostics) {
    if user.value == DEFAULT_USER || names.value.server_name(&user.value) != DEFAULT_USER {
        return;
    }
    diags.push(
        Diagnostic::error(
            Code::NameInvalid,
            format!(
                "ACL user `{}` would be named `{DEFAULT_USER}` on the server (with `acl.user_names`), the server's default user",
                user.value.escape_debug()
            ),
        )
        .at(user.span)
        .label("becomes `default`")
        .help("rename the user or change the prefix or suffix; to manage the default user, declare it as `default` (it never gets the prefix or suffix)"),
    );
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
        // Glob characters are ASCII, and no byte of a longer UTF-8 character is: a search
        // of the bytes (every stream of the file and of the record is checked).
        name.bytes()
            .find(|b| glob.contains(&char::from(*b)))
            .map(|b| {
                let c = char::from(b);
                Problem::Invalid(format!("contains the glob character `{c}`"))
            })
    })
}

fn whitespace_problem(name: &str) -> Option<Problem> {
    // The common case in one pass over the bytes: printable ASCII other than a space.
    if name.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
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
        "rename it: no `:`-separated part of a namespace, stream or group name may start with `{RESERVED_PREFIX}` (the tool keeps `{{{RESERVED_PREFIX}:<namespace>}}:record`, `{{{RESERVED_PREFIX}:<namespace>}}:lock`, their old names `<namespace>:{RESERVED_PREFIX}:record` and `:lock`, and `{}` there)",
        crate::record::OWNERS_KEY
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The byte-wise fast paths find what a search of the characters finds, in any text
        /// (ASCII, whitespace of every kind, controls, bidi controls, other characters).
        #[test]
        fn names_are_judged_as_a_search_of_their_characters(
            name in "[a-z:{}*?\\[\\]\\\\ \t\u{a0}\u{202e}\u{7f}é_-]{0,10}",
        ) {
            let odd = |c: char| c.is_whitespace() || c.is_control() || crate::text::is_bidi_control(c);
            proptest::prop_assert_eq!(whitespace_problem(&name).is_some(), name.chars().any(odd));
            let glob = name.chars().find(|c| STREAM_GLOB.contains(c));
            let found = match stream_problem(&name) {
                Some(Problem::Invalid(text)) if text.starts_with("contains the glob") => text.chars().nth(29),
                _ => None,
            };
            if !name.is_empty() && !name.chars().any(odd) {
                proptest::prop_assert_eq!(found, glob);
            }
            let reserved = name
                .split(':')
                .any(|part| part.trim_start_matches('{').starts_with(RESERVED_PREFIX));
            proptest::prop_assert_eq!(has_reserved_segment(&name), reserved);
        }
    }

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

    const SHARED: &str = "version: 1\nnamespace: app\nacl:\n  users:\n    default: { enabled: false }\n    worker: { passwords: [{ env: P }] }\nenvironments:\n  dev:\n    namespace: dev-app\n    acl: { user_names: { prefix: \"dev-\", suffix: \"-1\" } }\n  prod: {}\n";

    /// `(code, message, line)` of every error of a file.
    fn errors(text: &str) -> Vec<(&'static str, String, usize)> {
        crate::validate::diagnostics_of(text, false)
            .into_iter()
            .filter(|(_, severity, ..)| *severity == crate::diagnostics::Severity::Error)
            .map(|(code, _, line, message)| (code, message, line))
            .collect()
    }

    /// Every declared user but `default` gets the environment's prefix and suffix.
    #[test]
    fn an_environment_names_its_users_with_its_prefix_and_suffix() {
        use crate::model::desired::Desired;
        use crate::model::secrets::Secrets;
        assert_eq!(errors(SHARED), []);
        let mut diags = Vec::new();
        let root = crate::model::load::parse_yaml(SHARED, Default::default()).expect("yaml");
        let vars = std::collections::HashMap::<String, String>::new();
        let names = |env: &str, diags: &mut Diagnostics| -> Vec<String> {
            let topology = crate::model::load::topology(root.clone(), Some(env), &vars, diags)
                .expect("topology");
            let desired = Desired::from_topology(&topology, Some(env), &Secrets::SourcesOnly)
                .expect("desired");
            desired.users.keys().cloned().collect()
        };
        assert_eq!(names("dev", &mut diags), ["default", "dev-worker-1"]);
        assert_eq!(names("prod", &mut diags), ["default", "worker"]);
        assert!(diags.is_empty(), "{diags:?}");
    }

    #[test]
    fn a_prefix_that_breaks_user_names_is_an_error_at_its_line() {
        let text = SHARED.replace("prefix: \"dev-\"", "prefix: \"dev \"");
        let found = errors(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "name::invalid");
        assert!(
            found[0]
                .1
                .contains("the user name prefix `dev ` contains whitespace"),
            "{found:?}"
        );
        assert_eq!(found[0].2, 10);
        // A user whose server name would be `default`.
        let text = SHARED
            .replace("worker:", "fault:")
            .replace("prefix: \"dev-\", suffix: \"-1\"", "prefix: \"de\"");
        let found = errors(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .contains("ACL user `fault` would be named `default` on the server"),
            "{found:?}"
        );
        assert_eq!(found[0].2, 6);
        // Unknown fields are named, with what is valid.
        let text = SHARED.replace("suffix:", "sufix:");
        let found = errors(&text);
        assert!(
            found
                .iter()
                .any(|(code, message, line)| *code == "field::unknown"
                    && message.contains("`sufix`")
                    && *line == 10),
            "{found:?}"
        );
    }
}
