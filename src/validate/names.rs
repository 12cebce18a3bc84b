//! Names of the namespace, streams, groups and users.
//!
//! Stream names become Redis keys and ACL patterns: a space would split an ACL rule in two,
//! and a glob character in a name would make `~ns:name` match other keys.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::model::types::{Sp, Topology};
use crate::record::RESERVED_PREFIX;

const GLOB_CHARS: &[char] = &['*', '?', '[', ']'];

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    check_namespace(&topology.namespace, diags);
    for (name, stream) in topology.streams.iter().flat_map(|s| s.iter()) {
        check_key_name(name, "stream", diags);
        for (group, _) in stream.groups.iter().flat_map(|g| g.iter()) {
            check_plain_name(group, "consumer group", diags);
        }
    }
    let users = topology.acl.as_ref().and_then(|a| a.users.as_ref());
    for (user, _) in users.iter().flat_map(|u| u.iter()) {
        check_plain_name(user, "ACL user", diags);
    }
}

fn check_namespace(namespace: &Sp<String>, diags: &mut Diagnostics) {
    let value = &namespace.value;
    if value.is_empty() {
        return; // `""` is the explicit "no prefix"
    }
    if let Some(problem) = key_name_problem(value) {
        diags.push(invalid(namespace, "namespace", &problem));
    } else if value.ends_with(':') {
        diags.push(invalid(
            namespace,
            "namespace",
            "ends with `:` (the separator is added for you)",
        ));
    }
}

fn check_key_name(name: &Sp<String>, what: &str, diags: &mut Diagnostics) {
    if let Some(problem) = key_name_problem(&name.value) {
        diags.push(invalid(name, what, &problem));
    } else if name.value.starts_with(RESERVED_PREFIX) {
        diags.push(invalid(
            name,
            what,
            &format!(
                "starts with `{RESERVED_PREFIX}`, which is reserved for the tool's record and lock"
            ),
        ));
    }
}

fn check_plain_name(name: &Sp<String>, what: &str, diags: &mut Diagnostics) {
    let problem = if name.value.is_empty() {
        Some("is empty".to_owned())
    } else {
        whitespace_problem(&name.value)
    };
    if let Some(problem) = problem {
        diags.push(invalid(name, what, &problem));
    }
}

/// Why a name cannot be (part of) a Redis key managed by patterns, if it cannot.
fn key_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if let Some(problem) = whitespace_problem(name) {
        return Some(problem);
    }
    name.chars()
        .find(|c| GLOB_CHARS.contains(c))
        .map(|c| format!("contains the glob character `{c}`"))
}

fn whitespace_problem(name: &str) -> Option<String> {
    name.chars()
        .find(|c| c.is_whitespace() || c.is_control())
        .map(|c| format!("contains whitespace or a control character ({c:?})"))
}

fn invalid(name: &Sp<String>, what: &str, problem: &str) -> Diagnostic {
    Diagnostic::error(
        Code::NameInvalid,
        format!("{what} name `{}` {problem}", name.value.escape_debug()),
    )
    .at(name.span)
    .label("invalid name")
    .help(format!(
        "a {what} name is non-empty, without spaces or glob characters (`* ? [ ]`); use `:`, `-`, `_` or `.` to separate words"
    ))
}
