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
    /// The environment the file declares (from the tool's record), for `plan --env`.
    pub environment: Option<String>,
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
        environment: imported.environment.clone(),
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
    let topology = crate::model::load::topology(doc.root, None, &vars, &mut diagnostics);
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
        .map(|(key, s)| (key.as_str(), s.groups.keys().map(|g| g.as_str()).collect()))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::acl::Catalog;
    use crate::live::{LiveGroup, LiveSelector, LiveStream, LiveUser};

    fn user(keys: &str, commands: &str, hashes: &[&str]) -> LiveUser {
        LiveUser {
            flags: vec!["on".to_owned()],
            password_hashes: hashes.iter().map(|h| (*h).to_owned()).collect(),
            commands: commands.to_owned(),
            keys: keys.to_owned(),
            ..LiveUser::default()
        }
    }

    fn acl(users: Vec<(&str, LiveUser)>, owners: &[(&str, &str)]) -> LiveAcl {
        LiveAcl {
            catalog: Catalog::redis_7_0().clone(),
            users: users
                .into_iter()
                .map(|(name, user)| (name.to_owned(), user))
                .collect(),
            owners: owners
                .iter()
                .map(|(u, ns)| ((*u).to_owned(), (*ns).to_owned()))
                .collect(),
            ..LiveAcl::default()
        }
    }

    fn found(nodes: Vec<LiveAcl>) -> read::Found {
        let mut stream = LiveStream {
            length: 2,
            ..LiveStream::default()
        };
        stream.groups.insert("billing".into(), LiveGroup::default());
        read::Found {
            streams: BTreeMap::from([("app:orders".to_owned(), stream)]),
            not_text: (vec!["app:\\xff".to_owned()], 1),
            acl: Ok(nodes
                .into_iter()
                .enumerate()
                .map(|(i, acl)| (format!("10.0.0.{i}:6379"), acl))
                .collect()),
            environment: Ok(None),
        }
    }

    const HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    #[test]
    fn users_are_imported_only_when_the_file_can_say_them_exactly() {
        let mut selective = user("", "-@all +ping", &[HASH]);
        selective.selectors = vec![LiveSelector {
            commands: "-@all +xreadgroup +xack +xautoclaim +xclaim +xpending".to_owned(),
            keys: "~app:orders".to_owned(),
            ..LiveSelector::default()
        }];
        let node = acl(
            vec![
                (
                    "worker",
                    user("~app:orders", "-@all +@stream -xdel", &[HASH]),
                ),
                ("selective", selective),
                ("theirs", user("~app:orders", "-@all +xlen", &[])),
                ("server-wide", user("~*", "+@all", &[])),
                ("half", user("~app:orders ~other:x", "-@all +xlen", &[])),
            ],
            &[("theirs", "other")],
        );
        let outcome = build("app", &found(vec![node]), Options::default()).expect("built");
        assert_eq!((outcome.streams, outcome.groups, outcome.users), (1, 1, 2));
        assert!(outcome.text.contains("\"selective\":"), "{}", outcome.text);
        assert!(
            outcome.text.contains("preset: consumer"),
            "{}",
            outcome.text
        );
        assert!(!outcome.text.contains(HASH), "no hash by default");
        let warnings = outcome.warnings.join("\n");
        assert!(
            warnings.contains("user `theirs`: it is managed by the topology of namespace `other`"),
            "{warnings}"
        );
        assert!(
            warnings.contains("user `half`: its rule `~other:x`"),
            "{warnings}"
        );
        assert!(
            warnings.contains("stream `app:\\xff`: its key is not UTF-8 text"),
            "{warnings}"
        );
        assert!(!warnings.contains("server-wide"), "{warnings}");
    }

    #[test]
    fn a_user_that_differs_between_nodes_is_left_out_naming_the_node() {
        let first = acl(
            vec![("worker", user("~app:orders", "-@all +xlen", &[]))],
            &[],
        );
        let missing = acl(Vec::new(), &[]);
        let outcome = build(
            "app",
            &found(vec![first.clone(), missing]),
            Options::default(),
        )
        .expect("built");
        assert_eq!(outcome.users, 0);
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.contains("does not exist on 10.0.0.1:6379")),
            "{:?}",
            outcome.warnings
        );
        let wider = acl(
            vec![("worker", user("~app:orders", "-@all +xlen +xadd", &[]))],
            &[],
        );
        let outcome = build("app", &found(vec![first, wider]), Options::default()).expect("built");
        assert_eq!(outcome.users, 0);
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.contains("on 10.0.0.1:6379") && w.contains("xadd")),
            "{:?}",
            outcome.warnings
        );
    }

    #[test]
    fn with_hashes_writes_the_hashes_and_registered_users_without_keys_are_imported() {
        let disabled = LiveUser {
            flags: vec!["off".to_owned()],
            commands: "-@all".to_owned(),
            ..LiveUser::default()
        };
        let node = acl(
            vec![
                ("worker", user("%R~app:*", "-@all +xlen", &[HASH])),
                ("default", disabled),
            ],
            &[("default", "app")],
        );
        let outcome =
            build("app", &found(vec![node]), Options { with_hashes: true }).expect("built");
        assert_eq!(outcome.users, 2);
        assert!(
            outcome
                .text
                .contains(&format!("passwords: [{{ sha256: \"{HASH}\" }}]")),
            "{}",
            outcome.text
        );
        assert!(
            outcome
                .text
                .contains("\"default\":\n      enabled: false\n"),
            "{}",
            outcome.text
        );
    }

    #[test]
    fn a_nopass_user_reads_back_as_nopass() {
        let mut open = user("~app:orders", "-@all +xlen", &[]);
        open.flags.push("nopass".to_owned());
        let outcome = build(
            "app",
            &found(vec![acl(vec![("open", open)], &[])]),
            Options::default(),
        )
        .expect("built");
        assert_eq!(outcome.users, 1, "{:?}", outcome.warnings);
        assert!(
            outcome.text.contains("      nopass: true"),
            "{}",
            outcome.text
        );
        assert!(
            !outcome.text.contains("      passwords:"),
            "{}",
            outcome.text
        );
    }

    #[test]
    fn users_that_cannot_be_read_are_said_in_the_file_and_the_streams_still_imported() {
        let mut found = found(Vec::new());
        found.acl = Err("`ACL USERS` failed: NOPERM".to_owned());
        found.environment = Ok(Some("prod".to_owned()));
        let outcome = build("app", &found, Options::default()).expect("built");
        assert_eq!((outcome.streams, outcome.users), (1, 0));
        assert!(
            outcome
                .text
                .contains("# ACL users were not imported: `ACL USERS` failed: NOPERM")
        );
        assert!(
            outcome.text.contains("environments:\n  \"prod\": {}"),
            "{}",
            outcome.text
        );
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.starts_with("ACL users not imported"))
        );
    }
}
