//! Streams: retention present, schema references resolve, `producers` and `consumers` name
//! declared users.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, one_of, suggest};
use crate::model::types::{Sp, Topology};

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    let schema_names: Vec<&str> = topology.schemas.iter().flat_map(|s| s.names()).collect();
    let known: std::collections::HashSet<&str> = schema_names.iter().copied().collect();
    let user_names: Vec<&str> = topology
        .acl
        .iter()
        .flat_map(|a| a.users.iter())
        .flat_map(|u| u.names())
        .collect();
    let stream_names: Vec<&str> = topology.streams.iter().flat_map(|s| s.names()).collect();
    for (name, stream) in topology.streams.iter().flat_map(|s| s.iter()) {
        if let Some(dlq_of) = &stream.dlq_of {
            check_dlq_of(&name.value, dlq_of, &stream_names, diags);
        }
        for producer in stream.producers.iter().flatten() {
            check_user_ref(
                producer,
                &format!("stream `{}`", name.value),
                "producers",
                &user_names,
                diags,
            );
        }
        for (group, g) in stream.groups.iter().flat_map(|g| g.iter()) {
            let Some(consumers) = &g.consumers else {
                continue;
            };
            let whose = format!("group `{}` of stream `{}`", group.value, name.value);
            for consumer in consumers {
                check_user_ref(consumer, &whose, "consumers", &user_names, diags);
            }
        }
        if stream.retention.is_none() && !stream.retention_invalid {
            diags.push(
                Diagnostic::warning(
                    Code::RetentionMissing,
                    format!("stream `{}` has no retention", name.value),
                )
                .at(name.span)
                .label("grows without bound")
                .help("add `retention: { maxlen: N }` or `{ max_age: 7d }`, or `retention: unbounded` if it must keep everything"),
            );
        }
        if let Some(schema) = &stream.schema
            && !known.contains(schema.value.as_str())
        {
            let declared = if schema_names.is_empty() {
                "this file declares no `schemas`".to_owned()
            } else {
                format!("declared schemas: {}", one_of(&schema_names))
            };
            let help = suggest(&schema.value, &schema_names, declared);
            diags.push(
                Diagnostic::error(
                    Code::SchemaUnknownRef,
                    format!(
                        "stream `{}` refers to an undeclared schema `{}`",
                        name.value, schema.value
                    ),
                )
                .at(schema.span)
                .label("not a key of `schemas`")
                .help(help),
            );
        }
    }
}

/// `dlq_of` names another declared stream.
fn check_dlq_of(stream: &str, dlq_of: &Sp<String>, streams: &[&str], diags: &mut Diagnostics) {
    let others: Vec<&str> = streams.iter().copied().filter(|s| *s != stream).collect();
    if others.contains(&dlq_of.value.as_str()) {
        return;
    }
    let (label, help) = if dlq_of.value == stream {
        (
            "the stream itself",
            "name the stream whose failed entries this one receives".to_owned(),
        )
    } else {
        let declared = if others.is_empty() {
            "this file declares no other stream".to_owned()
        } else {
            format!("declared streams: {}", one_of(&others))
        };
        (
            "not a key of `streams`",
            suggest(&dlq_of.value, &others, declared),
        )
    };
    diags.push(
        Diagnostic::error(
            Code::DlqOfUnknown,
            format!(
                "stream `{stream}` is the dead-letter stream of `{}`, which is not another declared stream",
                dlq_of.value
            ),
        )
        .at(dlq_of.span)
        .label(label)
        .help(help),
    );
}

/// A name in `producers` or `consumers` must be a user of `acl.users` (as declared there,
/// without `acl.user_names`): the lints on who may write and settle a stream read them.
fn check_user_ref(
    user: &Sp<String>,
    whose: &str,
    list: &str,
    users: &[&str],
    diags: &mut Diagnostics,
) {
    if users.contains(&user.value.as_str()) {
        return;
    }
    let declared = if users.is_empty() {
        "this file declares no `acl.users`: declare the user there, or remove the name".to_owned()
    } else {
        format!("declared users: {}", one_of(users))
    };
    diags.push(
        Diagnostic::error(
            Code::StreamUserRef,
            format!(
                "`{list}` of {whose} names `{}`, which is not a declared ACL user",
                user.value.escape_debug()
            ),
        )
        .at(user.span)
        .label("not a key of `acl.users`")
        .help(suggest(&user.value, users, declared)),
    );
}
