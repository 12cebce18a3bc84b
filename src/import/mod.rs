//! `import`: a topology file for what already lives under a namespace.
//!
//! [`read`] reads the server (streams with `SCAN ... TYPE stream` on every primary, their
//! groups, the ACL users); [`translate`] turns that into the file's model (pure); [`write`]
//! prints it as YAML. [`build`] puts them together and checks the result the way `plan`
//! will read it: each user is loaded back from its YAML and compared, on meaning and on
//! every node, with the server's user (as `plan` compares them); a user that would differ
//! is left out with the reason rather than written into a file whose plan would change it.
//! The whole file is then validated and its streams and groups compared with what was
//! found.

pub mod read;
pub mod translate;
pub mod write;

use std::collections::BTreeSet;
use std::path::Path;

use crate::diagnostics::Sources;
use crate::live::LiveAcl;
use crate::model::desired::Desired;
use crate::model::secrets::Secrets;
use crate::model::types::Topology;
use crate::text::untrusted;
use translate::{Imported, ImportedUser, LeftOut, PasswordSource, Scope};

/// What the command asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Write the password hashes Redis keeps (`sha256:`) instead of variables.
    pub with_hashes: bool,
}

/// The file, and what to tell about it.
#[derive(Debug)]
pub struct Outcome {
    pub text: String,
    /// One line each, escaped.
    pub warnings: Vec<String>,
    pub streams: usize,
    pub groups: usize,
    pub users: usize,
}

/// The topology file for `namespace` from what was read; `Err` when the file made would
/// not be what was found (a bug, said as such).
pub fn build(namespace: &str, found: &read::Found, options: Options) -> Result<Outcome, String> {
    let (streams, mut left_out) = translate::streams(namespace, &found.streams);
    let (shown, count) = &found.not_text;
    for key in shown {
        left_out.push(LeftOut {
            kind: "stream",
            name: key.clone(),
            why: "its key is not UTF-8 text".to_owned(),
        });
    }
    if *count > shown.len() {
        left_out.push(LeftOut {
            kind: "stream",
            name: format!("({} more)", count - shown.len()),
            why: "their keys are not UTF-8 text".to_owned(),
        });
    }
    let mut imported = Imported {
        namespace: namespace.to_owned(),
        streams,
        ..Imported::default()
    };
    match &found.acl {
        Err(why) => imported.users_unread = Some(why.clone()),
        Ok(nodes) => {
            let (users, users_left_out) = users(namespace, nodes, options);
            imported.users = users;
            left_out.extend(users_left_out);
        }
    }
    imported.left_out = left_out;
    let mut warnings = Vec::new();
    match &found.environment {
        Ok(environment) => imported.environment.clone_from(environment),
        Err(why) => warnings.push(format!(
            "the tool's record of this namespace could not be read ({}): if it was applied with an environment, add it under `environments:`",
            untrusted(why)
        )),
    }
    let text = write::topology(&imported);
    check_whole(&imported, &text)?;
    warnings.extend(imported.left_out.iter().map(|left| {
        format!(
            "not imported: {} `{}`: {}",
            left.kind,
            untrusted(&left.name),
            untrusted(&left.why)
        )
    }));
    if let Some(why) = &imported.users_unread {
        warnings.push(format!("ACL users not imported: {}", untrusted(why)));
    }
    Ok(Outcome {
        text,
        warnings,
        streams: imported.streams.len(),
        groups: imported.streams.iter().map(|s| s.groups.len()).sum(),
        users: imported.users.len(),
    })
}

/// The users to import (those registered to the namespace in the users registry, and those
/// whose every key and channel pattern is under it), each checked against every node; and
/// those left out, with why.
fn users(
    namespace: &str,
    nodes: &[(String, LiveAcl)],
    options: Options,
) -> (Vec<ImportedUser>, Vec<LeftOut>) {
    let Some((_, first)) = nodes.first() else {
        return (Vec::new(), Vec::new());
    };
    let mut imported = Vec::new();
    let mut left_out = Vec::new();
    let mut variables = BTreeSet::new();
    for (name, live) in &first.users {
        let owner = first.owners.get(name);
        let scope = translate::scope(namespace, live);
        if let Some(owner) = owner.filter(|o| *o != namespace) {
            if matches!(scope, Scope::Inside | Scope::Partly(_)) {
                left_out.push(LeftOut {
                    kind: "user",
                    name: name.clone(),
                    why: format!(
                        "it is managed by the topology of namespace `{owner}` (users registry)"
                    ),
                });
            }
            continue;
        }
        let registered = owner.is_some();
        match (&scope, registered) {
            (Scope::Inside, _) | (Scope::Nothing, true) => {}
            (Scope::Partly(rule), _) | (Scope::Outside(rule), true) => {
                left_out.push(LeftOut {
                    kind: "user",
                    name: name.clone(),
                    why: format!(
                        "its rule `{rule}` is not under the namespace, which the format cannot express (patterns are relative to it)"
                    ),
                });
                continue;
            }
            // Users of other namespaces, of the whole server, or of none.
            (Scope::Outside(_) | Scope::Nothing, false) => continue,
        }
        let passwords: Vec<PasswordSource> = live
            .password_hashes
            .iter()
            .enumerate()
            .map(|(at, hash)| {
                if options.with_hashes {
                    PasswordSource::Sha256(hash.clone())
                } else {
                    PasswordSource::Env(translate::password_variable(name, at, &mut variables))
                }
            })
            .collect();
        let user = match translate::user(namespace, name, live, passwords) {
            Ok(user) => user,
            Err(why) => {
                left_out.push(LeftOut {
                    kind: "user",
                    name: name.clone(),
                    why,
                });
                continue;
            }
        };
        // A preset is a shorthand: if the user does not read back the same with one, try
        // its rules written out.
        let checked = match check_user(namespace, &user, nodes, options) {
            Ok(()) => Ok(user),
            Err(why) => {
                let plain = without_presets(&user);
                if plain != user && check_user(namespace, &plain, nodes, options).is_ok() {
                    Ok(plain)
                } else {
                    Err(why)
                }
            }
        };
        match checked {
            Ok(user) => imported.push(user),
            Err(why) => left_out.push(LeftOut {
                kind: "user",
                name: name.clone(),
                why,
            }),
        }
    }
    (imported, left_out)
}

/// The user with each preset written out as its commands.
fn without_presets(user: &ImportedUser) -> ImportedUser {
    let mut plain = user.clone();
    for block in &mut plain.access {
        if let Some(preset) = block.preset.take() {
            let mut commands: Vec<String> =
                preset.commands().iter().map(|c| (*c).to_owned()).collect();
            commands.append(&mut block.commands);
            block.commands = commands;
        }
    }
    plain
}

/// Whether `user`, written to YAML and read back as `plan` reads it, is what every node has
/// (passwords aside, unless they are written as hashes: then those too). `Err` says how it
/// is not, in lines for people.
fn check_user(
    namespace: &str,
    user: &ImportedUser,
    nodes: &[(String, LiveAcl)],
    options: Options,
) -> Result<(), String> {
    let alone = Imported {
        namespace: namespace.to_owned(),
        users: vec![user.clone()],
        ..Imported::default()
    };
    let text = write::topology(&alone);
    let topology = load_text(&text)?;
    let desired = Desired::from_topology(&topology, None, &Secrets::SourcesOnly)
        .map_err(|problems| problems.join("; "))?;
    let declared = desired
        .users
        .get(&user.name)
        .ok_or_else(|| "it does not read back under its name".to_owned())?;
    let first_hashes = nodes
        .first()
        .and_then(|(_, acl)| acl.users.get(&user.name))
        .map(|u| u.password_hashes.clone())
        .unwrap_or_default();
    for (address, acl) in nodes {
        let Some(live) = acl.users.get(&user.name) else {
            return Err(format!(
                "it does not exist on {} (ACL users are per node: create it there, or import from that node alone)",
                untrusted(address)
            ));
        };
        let mut wanted = crate::plan::desired_permissions(declared, &acl.catalog)?;
        // Variables are not read here (nor by plan without them): the server's passwords
        // stand for them. Hashes written into the file are the first node's.
        wanted.password_hashes = if options.with_hashes {
            first_hashes.iter().cloned().collect()
        } else {
            live.password_hashes.iter().cloned().collect()
        };
        let current = live.permissions(&acl.catalog)?;
        let differences = current.differences(&wanted);
        if !differences.is_empty() {
            let lines: Vec<String> = differences
                .iter()
                .map(|d| format!("{}: {}", d.field, d.text))
                .collect();
            let place = if nodes.len() > 1 {
                format!(" on {}", untrusted(address))
            } else {
                String::new()
            };
            return Err(format!(
                "the file cannot say it exactly (a plan would change it{place}: {})",
                lines.join("; ")
            ));
        }
    }
    Ok(())
}

/// Topology text loaded and validated as `plan` loads a file (no variable set); `Err` with
/// its first error.
fn load_text(text: &str) -> Result<Topology, String> {
    let path = Path::new("imported.yaml");
    let vars = std::collections::HashMap::<String, String>::new();
    let mut sources = Sources::default();
    let mut diagnostics = Vec::new();
    let doc = crate::model::load::parse_document(path, text.to_owned(), &mut sources)
        .map_err(|d| d.message.clone())?;
    let topology = crate::model::load::topology(&doc.root, None, &vars, &mut diagnostics);
    if let Some(topology) = &topology {
        let mut store = crate::validate::SchemaStore::new(std::path::PathBuf::from("."));
        crate::validate::validate_topology(topology, &mut store, &mut sources, &mut diagnostics);
    }
    if let Some(error) = diagnostics.iter().find(|d| d.is_error()) {
        return Err(format!("the file would not validate: {}", error.message));
    }
    topology.ok_or_else(|| "the file would not load".to_owned())
}

/// The whole file loads, validates, and declares exactly the streams and groups imported.
fn check_whole(imported: &Imported, text: &str) -> Result<(), String> {
    let bug =
        |why: String| format!("import made a file that {why}; this is a bug, please report it");
    let topology = load_text(text).map_err(|why| bug(format!("does not load ({why})")))?;
    let desired = Desired::from_topology(&topology, None, &Secrets::SourcesOnly)
        .map_err(|problems| bug(problems.join("; ")))?;
    let declared: Vec<(&str, Vec<&str>)> = desired
        .streams
        .iter()
        .map(|(key, s)| (key.as_str(), s.groups.keys().map(String::as_str).collect()))
        .collect();
    let keys: Vec<String> = imported
        .streams
        .iter()
        .map(|s| translate::full_key(&imported.namespace, &s.name))
        .collect();
    let mut expected: Vec<(&str, Vec<&str>)> = imported
        .streams
        .iter()
        .zip(&keys)
        .map(|(s, key)| (key.as_str(), s.groups.iter().map(String::as_str).collect()))
        .collect();
    expected.sort();
    if declared != expected {
        return Err(bug(
            "declares other streams or groups than those found".to_owned()
        ));
    }
    let users: Vec<&str> = desired.users.keys().map(String::as_str).collect();
    let mut names: Vec<&str> = imported.users.iter().map(|u| u.name.as_str()).collect();
    names.sort_unstable();
    if users != names {
        return Err(bug("declares other users than those imported".to_owned()));
    }
    Ok(())
}
