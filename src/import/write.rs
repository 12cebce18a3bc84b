//! An imported topology as YAML text (format version 1, docs/format.md).
//!
//! Every name, pattern and rule comes from the server, so none is written as a plain
//! scalar: each is a double-quoted scalar ([`scalar`]) in which `"`, `\`, control and
//! invisible characters are escaped (a newline or a `#` in a stream name cannot end the
//! line or start a comment), and `$` is doubled (the loader expands `${VAR}` in every string,
//! `$$` being a literal `$`). Comments that quote such names quote them the same way, so they
//! stay on their line.

use std::fmt::Write as _;

use super::translate::{
    Imported, ImportedAccess, ImportedStream, ImportedUser, KeySet, PasswordSource,
};

/// What the file says at its top.
const HEADER: &str = "\
# Written by `redis-topology import`: what lives under this namespace on the server.
# Review it before you apply it (docs/operations.md, \"Import\"):
# - retention: Redis keeps none, so each stream says its length now and leaves the choice to you
#   (`validate` warns about each stream until it has one);
# - passwords: Redis keeps only their hashes, so each user names a variable: set it to the
#   user's current password before `apply`, which sets the password to the variable's value
#   (`plan` compares everything else without it);
# - a group's `start` is used only when apply creates the group; Redis does not keep it.
# The first apply changes no stream, group or user: it records them as managed by this file.
";

/// The whole file.
pub fn topology(imported: &Imported) -> String {
    let mut out = String::with_capacity(256 + imported.streams.len() * 160);
    out.push_str(HEADER);
    out.push_str("version: 1\n");
    let _ = writeln!(out, "namespace: {}", scalar(&imported.namespace));
    streams(&mut out, &imported.streams);
    users(&mut out, imported);
    if let Some(environment) = &imported.environment {
        let _ = writeln!(
            out,
            "\n# The tool's record says this namespace was applied for environment {}: plan and\n# apply it with that --env.\nenvironments:\n  {}: {{}}",
            quoted(environment),
            scalar(environment)
        );
    }
    if !imported.left_out.is_empty() {
        out.push_str("\n# Found and not imported (import printed a warning for each):\n");
        for left in &imported.left_out {
            let _ = writeln!(
                out,
                "#   {} {}: {}",
                left.kind,
                quoted(&left.name),
                one_line(&left.why)
            );
        }
    }
    out
}

fn streams(out: &mut String, streams: &[ImportedStream]) {
    if streams.is_empty() {
        out.push_str("\n# No stream under this namespace.\nstreams: {}\n");
        return;
    }
    out.push_str("\nstreams:\n");
    for stream in streams {
        let _ = writeln!(out, "  {}:", scalar(&stream.name));
        let _ = writeln!(
            out,
            "    # retention: not kept by Redis. The stream holds {} now. Choose one:",
            entries(stream.length)
        );
        out.push_str("    #   retention: unbounded\n");
        if stream.length == 0 {
            out.push_str("    #   retention: { maxlen: N }   # N: the most entries to keep\n");
        } else {
            let _ = writeln!(out, "    #   retention: {{ maxlen: {} }}", stream.length);
        }
        if stream.groups.is_empty() {
            out.push_str("    groups: {}\n");
            continue;
        }
        out.push_str("    groups:\n");
        for group in &stream.groups {
            let _ = writeln!(
                out,
                "      {}: {{ start: \"$\" }}   # create-only: Redis does not keep it",
                scalar(group)
            );
        }
    }
}

fn entries(n: u64) -> String {
    if n == 1 {
        "1 entry".to_owned()
    } else {
        format!("{n} entries")
    }
}

fn users(out: &mut String, imported: &Imported) {
    if let Some(why) = &imported.users_unread {
        let _ = writeln!(out, "\n# ACL users were not imported: {}", one_line(why));
        return;
    }
    if imported.users.is_empty() {
        out.push_str("\n# No ACL user has its key and channel patterns under this namespace.\n");
        return;
    }
    out.push_str("\nacl:\n  users:\n");
    for user in &imported.users {
        write_user(out, user);
    }
}

fn write_user(out: &mut String, user: &ImportedUser) {
    let _ = writeln!(out, "    {}:", scalar(&user.name));
    let _ = writeln!(out, "      enabled: {}", user.enabled);
    if user.nopass {
        out.push_str("      nopass: true   # anyone may log in as this user, with any password\n");
    } else if user.passwords.is_empty() {
        out.push_str("      # no password: nobody can log in as this user\n");
    } else {
        let env = user
            .passwords
            .iter()
            .any(|p| matches!(p, PasswordSource::Env(_)));
        if env {
            let _ = writeln!(
                out,
                "      # {} kept by Redis as a hash only: set each variable to the current password before apply",
                if user.passwords.len() == 1 {
                    "1 password,".to_owned()
                } else {
                    format!("{} passwords,", user.passwords.len())
                }
            );
        } else {
            out.push_str("      # the hashes Redis keeps (--with-hashes)\n");
        }
        let items: Vec<String> = user
            .passwords
            .iter()
            .map(|p| match p {
                PasswordSource::Env(var) => format!("{{ env: {} }}", scalar(var)),
                PasswordSource::Sha256(hash) => format!("{{ sha256: {} }}", scalar(hash)),
            })
            .collect();
        let _ = writeln!(out, "      passwords: [{}]", items.join(", "));
    }
    if !user.keys.is_empty() {
        let _ = writeln!(out, "      keys: {}", keys(&user.keys));
    }
    if !user.channels.is_empty() {
        let _ = writeln!(out, "      channels: {}", list(&user.channels));
    }
    if !user.commands.is_empty() {
        let _ = writeln!(out, "      commands: {}", list(&user.commands));
    }
    if !user.access.is_empty() {
        out.push_str("      access:\n");
        for block in &user.access {
            access(out, block);
        }
    }
}

fn access(out: &mut String, block: &ImportedAccess) {
    let mut first = true;
    let mut line = |out: &mut String, text: String| {
        let lead = if first { "        - " } else { "          " };
        first = false;
        let _ = writeln!(out, "{lead}{text}");
    };
    if !block.keys.is_empty() {
        line(out, format!("keys: {}", keys(&block.keys)));
    }
    if !block.channels.is_empty() {
        line(out, format!("channels: {}", list(&block.channels)));
    }
    if let Some(preset) = block.preset {
        line(out, format!("preset: {}", preset.name()));
    }
    if !block.commands.is_empty() {
        line(out, format!("commands: {}", list(&block.commands)));
    }
}

/// Key patterns: a list when all are read and write, else by access.
fn keys(keys: &KeySet) -> String {
    if keys.read.is_empty() && keys.write.is_empty() {
        return list(&keys.readwrite);
    }
    let parts: Vec<String> = [
        ("read", &keys.read),
        ("write", &keys.write),
        ("readwrite", &keys.readwrite),
    ]
    .into_iter()
    .filter(|(_, patterns)| !patterns.is_empty())
    .map(|(field, patterns)| format!("{field}: {}", list(patterns)))
    .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// A flow sequence of scalars.
fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A string from the server as a YAML scalar that the loader reads back as exactly that
/// string: double-quoted ([`quoted`]), with `$` doubled (`$$` is a literal `$` after the
/// loader's `${VAR}` expansion).
pub fn scalar(text: &str) -> String {
    quoted(&text.replace('$', "$$"))
}

/// A YAML double-quoted scalar of `text`: `"` and `\` escaped, and every character YAML
/// does not allow as is in a file, or that would be invisible or move the text (control
/// characters, line and paragraph separators, bidirectional controls, the byte-order mark),
/// as a `\u` escape. One line, whatever `text` holds.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xFFFF {
                    let _ = write!(out, "\\u{code:04X}");
                } else {
                    let _ = write!(out, "\\U{code:08X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters written as escapes: not YAML-printable (C0 and C1 controls, DEL, U+FFFE and
/// U+FFFF), or invisible in a review (line and paragraph separators, bidirectional controls,
/// zero-width characters, the byte-order mark).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || crate::text::is_bidi_control(c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}' | '\u{200B}'
                ..='\u{200D}'
        )
}

/// A reason for a comment: on one line.
fn one_line(text: &str) -> String {
    let quoted = quoted(text);
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::translate::LeftOut;
    use crate::model::types::Preset;

    /// Read a scalar back as the loader does: parsed as YAML, then `${VAR}` expanded.
    fn read_back(yaml_scalar: &str) -> String {
        let text = format!("v: {yaml_scalar}\n");
        let node = crate::model::load::parse_yaml(&text, Default::default())
            .unwrap_or_else(|e| panic!("{text:?}: {}", e.message));
        let value = match node.get("v").map(|v| &v.kind) {
            Some(crate::model::node::NodeKind::Scalar(crate::model::node::Scalar::Str(s))) => {
                s.clone()
            }
            other => panic!("{text:?}: {other:?}, no string"),
        };
        let mut diags = Vec::new();
        let vars = std::collections::HashMap::<String, String>::new();
        crate::model::interpolate::interpolate(&value, Default::default(), &vars, &mut diags)
            .unwrap_or_else(|| panic!("{text:?}: {diags:?}"))
    }

    #[test]
    fn hostile_strings_are_quoted_on_one_line_and_read_back_exactly() {
        let hostile = [
            "plain",
            "",
            "with space",
            "a:b",
            "#comment",
            "x # y",
            "\"quoted\"",
            "'single'",
            "back\\slash",
            "new\nline",
            "cr\rlf",
            "tab\there",
            "${HOME}",
            "$$",
            "cost $5",
            "- dash",
            "[flow]",
            "{map}",
            "&anchor",
            "*alias",
            "!tag",
            "%directive",
            "@at",
            "`tick`",
            "|",
            ">",
            "? key",
            "yes",
            "null",
            "~",
            "0x10",
            "1e3",
            "...",
            "---",
            "nul\0byte",
            "esc\u{1b}[31mred",
            "del\u{7f}",
            "c1\u{85}\u{9b}",
            "bidi\u{202e}txt",
            "sep\u{2028}\u{2029}",
            "bom\u{feff}",
            "zw\u{200b}",
            "emoji 🦀",
            "é ü 中文",
        ];
        for text in hostile {
            let written = scalar(text);
            assert!(
                !written.contains('\n') && !written.contains('\r'),
                "{written:?}"
            );
            assert_eq!(read_back(&written), text, "{written}");
        }
    }

    #[test]
    fn a_topology_reads_back_with_every_name_as_written() {
        let imported = Imported {
            namespace: "app".to_owned(),
            streams: vec![
                ImportedStream {
                    name: "orders#1\"x".to_owned(),
                    length: 12,
                    groups: vec!["g:1".to_owned(), "g$x".to_owned()],
                },
                ImportedStream {
                    name: "empty".to_owned(),
                    length: 0,
                    groups: Vec::new(),
                },
            ],
            users: vec![ImportedUser {
                name: "worker\"#".to_owned(),
                enabled: true,
                nopass: false,
                passwords: vec![PasswordSource::Env("WORKER_PASSWORD".to_owned())],
                keys: KeySet {
                    read: vec!["r:*".to_owned()],
                    write: Vec::new(),
                    readwrite: vec!["rw".to_owned()],
                },
                channels: vec!["events:*".to_owned()],
                commands: vec!["+ping".to_owned()],
                access: vec![ImportedAccess {
                    keys: KeySet {
                        readwrite: vec!["orders#1\"x".to_owned()],
                        ..KeySet::default()
                    },
                    channels: Vec::new(),
                    commands: vec!["+xinfo|groups".to_owned()],
                    preset: Some(Preset::Consumer),
                }],
            }],
            left_out: vec![LeftOut {
                kind: "stream",
                name: "bad\nname".to_owned(),
                why: "it has\na newline".to_owned(),
            }],
            users_unread: None,
            environment: Some("prod".to_owned()),
        };
        let text = topology(&imported);
        let vars = std::collections::HashMap::<String, String>::new();
        let report = crate::validate::validate_text(
            std::path::Path::new("imported.yaml"),
            text.clone(),
            None,
            false,
            &vars,
        );
        assert!(!report.has_errors(), "{text}\n{:?}", report.diagnostics);
        let mut diags = Vec::new();
        let mut sources = crate::diagnostics::Sources::default();
        let doc = crate::model::load::parse_document(
            std::path::Path::new("imported.yaml"),
            text.clone(),
            &mut sources,
        )
        .expect("parses");
        let topology = crate::model::load::topology(doc.root.clone(), None, &vars, &mut diags)
            .expect("converts");
        let desired = crate::model::desired::Desired::from_topology(
            &topology,
            None,
            &crate::model::secrets::Secrets::SourcesOnly,
        )
        .expect("desired");
        let keys: Vec<&str> = desired.streams.keys().map(String::as_str).collect();
        assert_eq!(keys, ["app:empty", "app:orders#1\"x"]);
        let groups: Vec<&str> = desired.streams["app:orders#1\"x"]
            .groups
            .keys()
            .map(|g| g.as_str())
            .collect();
        assert_eq!(groups, ["g$x", "g:1"]);
        let user = &desired.users["worker\"#"];
        assert_eq!(user.keys, ["%R~app:r:*", "~app:rw"]);
        assert_eq!(user.channels, ["&app:events:*"]);
        assert_eq!(
            user.selectors[0].rule(),
            "(~app:orders#1\"x +xreadgroup +xack +xautoclaim +xclaim +xpending +xinfo|groups)"
        );
        // The comment of what was left out stays on its lines.
        assert!(
            text.contains("#   stream \"bad\\nname\": it has\\na newline\n"),
            "{text}"
        );
    }
}
