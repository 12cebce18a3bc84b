//! The live state of a namespace as the topology file's model: pure, no I/O.
//!
//! Streams keep their names relative to the namespace and their groups' names; ACL users
//! are translated back from `ACL GETUSER`'s rule strings (whatever order Redis 7.0 or 7.2
//! prints them in: they are read as sets of key, channel and command rules) to the file's
//! relative form. What the format cannot say (a key pattern outside the namespace, a flag
//! such as `skip-sanitize-payload`, a database restriction, a selector without keys) leaves
//! the user out, with the reason: never a file whose plan would change the user.

use std::collections::{BTreeMap, BTreeSet};

use crate::acl::{READ, WRITE, key_permissions, unmanaged_flags};
use crate::live::{LiveSelector, LiveStream, LiveUser};
use crate::model::desired::key;
use crate::model::types::Preset;
use crate::plan::MKSTREAM_GROUP;
use crate::validate::names::{group_problem, stream_problem, user_problem};

/// A topology to write: what could be imported, and what could not, with why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Imported {
    pub namespace: String,
    /// By name, sorted.
    pub streams: Vec<ImportedStream>,
    /// By name, sorted.
    pub users: Vec<ImportedUser>,
    /// What was found and left out, in the order found.
    pub left_out: Vec<LeftOut>,
    /// Why no user was imported at all (the ACL could not be read), if so.
    pub users_unread: Option<String>,
    /// The environment the tool's record names, if the namespace was applied with one.
    pub environment: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportedStream {
    /// Relative to the namespace.
    pub name: String,
    /// Entries now, for the retention comment.
    pub length: u64,
    /// Names, sorted.
    pub groups: Vec<String>,
}

/// A user in the file's terms (key and channel patterns relative to the namespace).
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedUser {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    pub passwords: Vec<PasswordSource>,
    pub keys: KeySet,
    pub channels: Vec<String>,
    pub commands: Vec<String>,
    pub access: Vec<ImportedAccess>,
}

/// Key patterns by access, relative to the namespace, each list sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeySet {
    pub read: Vec<String>,
    pub write: Vec<String>,
    pub readwrite: Vec<String>,
}

impl KeySet {
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.write.is_empty() && self.readwrite.is_empty()
    }
}

/// One selector as an `access` block.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedAccess {
    pub keys: KeySet,
    pub channels: Vec<String>,
    /// The rules after the preset's, when there is one.
    pub commands: Vec<String>,
    pub preset: Option<Preset>,
}

/// Where the file says a password comes from.
#[derive(Clone, PartialEq)]
pub enum PasswordSource {
    /// A variable to set to the password before apply.
    Env(String),
    /// The hash Redis keeps (`--with-hashes`).
    Sha256(String),
}

/// Never the hash: a `{:?}` may reach a test's failure message or a log.
impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::Env(var) => write!(f, "Env({var:?})"),
            PasswordSource::Sha256(_) => write!(f, "Sha256({})", crate::acl::SENSITIVE),
        }
    }
}

/// Something found and not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// `stream`, `group` or `user`, with its name as found (unescaped: escape to print).
    pub kind: &'static str,
    pub name: String,
    pub why: String,
}

/// The streams of the namespace as the file names them, and those whose names the format
/// rejects (and their groups' likewise).
pub fn streams(
    namespace: &str,
    found: &BTreeMap<String, LiveStream>,
) -> (Vec<ImportedStream>, Vec<LeftOut>) {
    let mut streams = Vec::with_capacity(found.len());
    let mut left_out = Vec::new();
    for (full_key, stream) in found {
        let Some(name) = relative(namespace, full_key) else {
            continue; // not under the namespace: SCAN's MATCH keeps this from happening
        };
        if let Some(problem) = stream_problem(name) {
            left_out.push(LeftOut {
                kind: "stream",
                name: name.to_owned(),
                why: format!("its name {problem}, which the format does not accept"),
            });
            continue;
        }
        let mut groups = Vec::with_capacity(stream.groups.len());
        for (group, _) in stream.groups.iter() {
            if group == MKSTREAM_GROUP {
                left_out.push(LeftOut {
                    kind: "group",
                    name: format!("{name} {group}"),
                    why: "the tool's helper group, left by an interrupted apply (the next apply destroys it)".to_owned(),
                });
            } else if let Some(problem) = group_problem(group) {
                left_out.push(LeftOut {
                    kind: "group",
                    name: format!("{name} {group}"),
                    why: format!("its name {problem}, which the format does not accept"),
                });
            } else {
                groups.push(group.to_string());
            }
        }
        groups.sort();
        streams.push(ImportedStream {
            name: name.to_owned(),
            length: stream.length,
            groups,
        });
    }
    streams.sort_by(|a, b| a.name.cmp(&b.name));
    (streams, left_out)
}

/// A key's name relative to the namespace, if it is under it.
fn relative<'k>(namespace: &str, full_key: &'k str) -> Option<&'k str> {
    if namespace.is_empty() {
        return Some(full_key);
    }
    full_key
        .strip_prefix(namespace)
        .and_then(|rest| rest.strip_prefix(':'))
}

/// Where a user's key and channel patterns lie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every pattern (and there is at least one) is under the namespace.
    Inside,
    /// Some pattern is under it and some is not; the first that is not, as a rule.
    Partly(String),
    /// No pattern is under it; the first, as a rule.
    Outside(String),
    /// The user has no key or channel pattern at all.
    Nothing,
}

/// Where `user`'s patterns lie, its selectors' included.
pub fn scope(namespace: &str, user: &LiveUser) -> Scope {
    let prefix = pattern_prefix(namespace);
    let (mut inside, mut outside) = (false, None);
    let rule_sets = std::iter::once((user.keys.as_str(), user.channels.as_str())).chain(
        user.selectors
            .iter()
            .map(|s| (s.keys.as_str(), s.channels.as_str())),
    );
    for (keys, channels) in rule_sets {
        for rule in keys.split_whitespace().chain(channels.split_whitespace()) {
            if pattern_of(rule).is_some_and(|p| p.starts_with(&prefix)) {
                inside = true;
            } else if outside.is_none() {
                outside = Some(rule.to_owned());
            }
        }
    }
    match (inside, outside) {
        (true, None) => Scope::Inside,
        (true, Some(rule)) => Scope::Partly(rule),
        (false, Some(rule)) => Scope::Outside(rule),
        (false, None) => Scope::Nothing,
    }
}

/// What every pattern of the namespace starts with, as Redis gets it: the namespace escaped
/// and `:` (nothing for the empty namespace).
fn pattern_prefix(namespace: &str) -> String {
    if namespace.is_empty() {
        String::new()
    } else {
        format!("{}:", crate::glob::escape(namespace))
    }
}

/// The pattern of a key or channel rule (`~p`, `%R~p`, `&p`; `allkeys`, `allchannels` as `*`).
fn pattern_of(rule: &str) -> Option<&str> {
    if rule.eq_ignore_ascii_case("allkeys") || rule.eq_ignore_ascii_case("allchannels") {
        return Some("*");
    }
    if let Some(pattern) = rule.strip_prefix('~').or_else(|| rule.strip_prefix('&')) {
        return Some(pattern);
    }
    rule.strip_prefix('%')
        .and_then(|r| r.split_once('~'))
        .map(|(_, p)| p)
}

/// One user in the file's terms, or why the format cannot say it. `passwords` are the
/// sources to write for its password hashes (one each), chosen by the caller.
pub fn user(
    namespace: &str,
    name: &str,
    live: &LiveUser,
    passwords: Vec<PasswordSource>,
) -> Result<ImportedUser, String> {
    if let Some(problem) = user_problem(name) {
        return Err(format!(
            "its name {problem}, which the format does not accept"
        ));
    }
    let flags = unmanaged_flags(&live.flags);
    if !flags.is_empty() {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        return Err(format!(
            "it has the flag(s) `{}`, which the format cannot express",
            flags.join(" ")
        ));
    }
    if let Some(databases) = crate::acl::database_restriction(live.databases.as_deref()) {
        return Err(format!(
            "it is limited to the databases `{databases}`, which the format cannot express"
        ));
    }
    if let Some((field, _)) = live.other_fields.iter().find(|(_, v)| !v.is_empty()) {
        return Err(format!(
            "`ACL GETUSER` shows the field `{field}`, which this version does not know"
        ));
    }
    let prefix = pattern_prefix(namespace);
    let keys = key_set(&prefix, &live.keys)?;
    let channels = channels(&prefix, &live.channels)?;
    let access = live
        .selectors
        .iter()
        .enumerate()
        .map(|(at, selector)| {
            access_block(&prefix, selector).map_err(|why| format!("selector {}: {why}", at + 1))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let nopass = live.has_flag("nopass");
    Ok(ImportedUser {
        name: name.to_owned(),
        enabled: live.has_flag("on"),
        nopass,
        passwords: if nopass { Vec::new() } else { passwords },
        keys,
        channels,
        commands: command_rules(&live.commands),
        access,
    })
}

/// Key rules (`~p %R~q %W~r`) as patterns relative to the namespace, by access.
fn key_set(prefix: &str, rules: &str) -> Result<KeySet, String> {
    let mut set = KeySet::default();
    for (pattern, access) in key_permissions(rules.split_whitespace()) {
        let relative = pattern
            .strip_prefix(prefix)
            .ok_or_else(|| format!("the key pattern `{pattern}` is not under the namespace"))?;
        let list = match access {
            a if a == READ | WRITE => &mut set.readwrite,
            a if a == READ => &mut set.read,
            a if a == WRITE => &mut set.write,
            _ => continue,
        };
        list.push(relative.to_owned());
    }
    Ok(set)
}

/// Channel rules (`&p`) as patterns relative to the namespace.
fn channels(prefix: &str, rules: &str) -> Result<Vec<String>, String> {
    rules
        .split_whitespace()
        .map(|rule| {
            pattern_of(rule)
                .and_then(|p| p.strip_prefix(prefix))
                .map(str::to_owned)
                .ok_or_else(|| format!("the channel rule `{rule}` is not under the namespace"))
        })
        .collect::<Result<BTreeSet<String>, String>>()
        .map(|set| set.into_iter().collect())
}

/// Command rules as `ACL GETUSER` prints them (`-@all +@stream -xdel`), without the leading
/// `-@all`: a declared user (after `reset`) and a selector start with no command.
pub fn command_rules(commands: &str) -> Vec<String> {
    let mut rules: Vec<String> = commands.split_whitespace().map(str::to_owned).collect();
    if rules
        .first()
        .is_some_and(|r| crate::acl::takes_out_everything(r))
    {
        rules.remove(0);
    }
    rules
}

/// A selector as an `access` block, with a preset where one fits exactly (see
/// [`preset_of`]).
fn access_block(prefix: &str, selector: &LiveSelector) -> Result<ImportedAccess, String> {
    let keys = key_set(prefix, &selector.keys)?;
    let channels = channels(prefix, &selector.channels)?;
    if keys.is_empty() && channels.is_empty() {
        return Err("it has no key or channel pattern, which an `access` block needs".to_owned());
    }
    let commands = command_rules(&selector.commands);
    let (preset, commands) = match preset_of(&keys, &commands) {
        Some((preset, rest)) => (Some(preset), rest),
        None => (None, commands),
    };
    Ok(ImportedAccess {
        keys,
        channels,
        commands,
        preset,
    })
}

/// The preset a selector's commands start from, and the rules left after it: only when
/// every rule adds one command (no category, no `-`: then order cannot matter), every
/// command of the preset is there, and the keys give the access the preset needs (consumer:
/// read and write; producer: write; monitor: read), so that `validate` has nothing to say
/// about it. The largest preset that fits wins.
pub fn preset_of(keys: &KeySet, commands: &[String]) -> Option<(Preset, Vec<String>)> {
    let plain = commands
        .iter()
        .all(|c| c.starts_with('+') && !c.starts_with("+@"));
    if !plain || commands.is_empty() {
        return None;
    }
    let lower: Vec<String> = commands.iter().map(|c| c.to_ascii_lowercase()).collect();
    let fits = |preset: Preset| {
        let keys_fit = match preset {
            Preset::Consumer => keys.read.is_empty() && keys.write.is_empty(),
            Preset::Producer => keys.read.is_empty(),
            Preset::Monitor => keys.write.is_empty(),
        };
        keys_fit
            && !keys.is_empty()
            && preset
                .commands()
                .iter()
                .all(|c| lower.iter().any(|l| l == c))
    };
    [Preset::Consumer, Preset::Monitor, Preset::Producer]
        .into_iter()
        .find(|p| fits(*p))
        .map(|preset| {
            let rest = commands
                .iter()
                .zip(&lower)
                .filter(|(_, l)| !preset.commands().contains(&l.as_str()))
                .map(|(c, _)| c.clone())
                .collect();
            (preset, rest)
        })
}

/// The name of a password variable for `user`: `rag-worker` → `RAG_WORKER_PASSWORD`, its
/// second password `RAG_WORKER_PASSWORD_2`; letters and digits kept, anything else `_`, a
/// leading digit after `_`; a name already taken gets a number.
pub fn password_variable(user: &str, index: usize, taken: &mut BTreeSet<String>) -> String {
    let mut base: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if base.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        base.insert(0, '_');
    }
    base.push_str("_PASSWORD");
    if index > 0 {
        base.push_str(&format!("_{}", index + 1));
    }
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The key a stream name has in the namespace (for messages and checks).
pub fn full_key(namespace: &str, name: &str) -> String {
    key(namespace, name)
}

#[cfg(test)]
mod tests {
    use super::user as translated;
    use super::*;

    fn live(flags: &[&str], keys: &str, channels: &str, commands: &str) -> LiveUser {
        LiveUser {
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            password_hashes: vec!["a".repeat(64)],
            commands: commands.to_owned(),
            keys: keys.to_owned(),
            channels: channels.to_owned(),
            ..LiveUser::default()
        }
    }

    fn selector(keys: &str, channels: &str, commands: &str) -> LiveSelector {
        LiveSelector {
            commands: commands.to_owned(),
            keys: keys.to_owned(),
            channels: channels.to_owned(),
            ..LiveSelector::default()
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn key_and_channel_rules_become_relative_patterns_by_access() {
        let user = live(
            &["on"],
            "~app:a:* %R~app:b %W~app:c",
            "&app:events:*",
            "-@all +@stream -xdel +ping",
        );
        let imported = translated(
            "app",
            "worker",
            &user,
            vec![PasswordSource::Env("WORKER_PASSWORD".to_owned())],
        )
        .expect("importable");
        assert_eq!(
            imported.keys,
            KeySet {
                read: strings(&["b"]),
                write: strings(&["c"]),
                readwrite: strings(&["a:*"]),
            }
        );
        assert_eq!(imported.channels, strings(&["events:*"]));
        assert_eq!(imported.commands, strings(&["+@stream", "-xdel", "+ping"]));
        assert!(imported.enabled && !imported.nopass);
    }

    /// Redis 7.0 rebuilds the commands from a bitmap (categories first, then single
    /// commands, in an order of its own); 7.2 keeps them as given. Both are read as rules,
    /// whatever their order, and give the same user.
    #[test]
    fn users_in_the_rule_orders_of_redis_7_0_and_7_2_translate_alike() {
        let seven_two = live(&["on"], "~app:s", "", "-@all +@stream -xdel +ping");
        let seven_o = live(&["on"], "~app:s", "", "-@all +ping +@stream -xdel");
        let a = translated("app", "u", &seven_two, Vec::new()).expect("7.2");
        let b = translated("app", "u", &seven_o, Vec::new()).expect("7.0");
        let catalog = crate::acl::Catalog::redis_7_0();
        assert_eq!(
            catalog.allowed(&a.commands).expect("known"),
            catalog.allowed(&b.commands).expect("known")
        );
        assert_eq!(a.keys, b.keys);
    }

    #[test]
    fn patterns_outside_the_namespace_flags_and_databases_leave_the_user_out() {
        let outside = live(&["on"], "~app:a ~other:*", "", "-@all +get");
        assert_eq!(scope("app", &outside), Scope::Partly("~other:*".to_owned()));
        assert!(translated("app", "u", &outside, Vec::new()).is_err());
        assert_eq!(
            scope("app", &live(&["on"], "~*", "&*", "+@all")),
            Scope::Outside("~*".to_owned())
        );
        assert_eq!(
            scope("app", &live(&["off"], "", "", "-@all")),
            Scope::Nothing
        );
        // The namespace itself must be a whole part: `application:x` is not in `app`.
        assert!(matches!(
            scope("app", &live(&["on"], "~application:x", "", "")),
            Scope::Outside(_)
        ));
        let skip = live(&["on", "skip-sanitize-payload"], "~app:a", "", "+get");
        let why = translated("app", "u", &skip, Vec::new()).expect_err("a flag");
        assert!(why.contains("skip-sanitize-payload"), "{why}");
        let mut limited = live(&["on"], "~app:a", "", "+get");
        limited.databases = Some("db=1".to_owned());
        assert!(translated("app", "u", &limited, Vec::new()).is_err());
        limited.databases = Some("alldbs".to_owned());
        assert!(translated("app", "u", &limited, Vec::new()).is_ok());
        let spaced = live(&["on"], "~app:a", "", "+get");
        assert!(translated("app", "two words", &spaced, Vec::new()).is_err());
    }

    #[test]
    fn a_namespace_with_glob_characters_is_matched_escaped() {
        // The tool writes namespace `pro\j` as `pro\\j` in rules.
        let user = live(&["on"], "~pro\\\\j:s", "", "+xadd");
        assert_eq!(scope("pro\\j", &user), Scope::Inside);
        let imported = translated("pro\\j", "u", &user, Vec::new()).expect("importable");
        assert_eq!(imported.keys.readwrite, strings(&["s"]));
        // Unescaped, it is another pattern (it matches `proj:s` too).
        assert!(matches!(
            scope("pro\\j", &live(&["on"], "~pro\\j:s", "", "")),
            Scope::Outside(_)
        ));
        assert_eq!(
            scope("", &live(&["on"], "~anything", "", "")),
            Scope::Inside
        );
    }

    #[test]
    fn selectors_become_access_blocks_with_a_preset_only_where_it_fits_exactly() {
        let mut user = live(&["on"], "", "", "-@all +@connection -@dangerous");
        user.selectors = vec![
            // 7.0 prints them in its own order.
            selector(
                "~app:tasks",
                "",
                "-@all +xpending +xack +xclaim +xreadgroup +xautoclaim +xinfo|groups",
            ),
            selector("%W~app:results", "", "-@all +xlen +xadd"),
            selector("%R~app:tasks", "", "-@all +xadd +xlen"),
            selector("~app:cache:*", "", "-@all +@hash -hdel"),
            selector("", "&app:events", "-@all +subscribe"),
        ];
        let imported = translated("app", "u", &user, Vec::new()).expect("importable");
        let blocks: Vec<(Option<Preset>, Vec<String>)> = imported
            .access
            .iter()
            .map(|a| (a.preset, a.commands.clone()))
            .collect();
        assert_eq!(
            blocks,
            [
                (Some(Preset::Consumer), strings(&["+xinfo|groups"])),
                (Some(Preset::Producer), Vec::new()),
                // Producer needs write: read-only keys keep the rules as they are.
                (None, strings(&["+xadd", "+xlen"])),
                (None, strings(&["+@hash", "-hdel"])),
                (None, strings(&["+subscribe"])),
            ]
        );
        assert_eq!(imported.commands, strings(&["+@connection", "-@dangerous"]));
        user.selectors = vec![selector("", "", "-@all +get")];
        let why = translated("app", "u", &user, Vec::new()).expect_err("no keys");
        assert!(why.starts_with("selector 1:"), "{why}");
    }

    #[test]
    fn nopass_and_disabled_users() {
        let user = live(&["off", "nopass"], "", "", "-@all");
        let imported = translated(
            "app",
            "default",
            &user,
            vec![PasswordSource::Env("X".to_owned())],
        )
        .expect("importable");
        assert!(!imported.enabled && imported.nopass);
        assert!(imported.passwords.is_empty(), "nopass has no password");
        assert!(imported.commands.is_empty());
    }

    #[test]
    fn password_variables_are_valid_names_and_distinct() {
        let mut taken = BTreeSet::new();
        assert_eq!(
            password_variable("rag-worker", 0, &mut taken),
            "RAG_WORKER_PASSWORD"
        );
        assert_eq!(
            password_variable("rag-worker", 1, &mut taken),
            "RAG_WORKER_PASSWORD_2"
        );
        // `rag_worker` reads as the same name: the next free number.
        assert_eq!(
            password_variable("rag_worker", 0, &mut taken),
            "RAG_WORKER_PASSWORD_3"
        );
        assert_eq!(
            password_variable("9lives", 0, &mut taken),
            "_9LIVES_PASSWORD"
        );
        assert_eq!(password_variable("é\"#x", 0, &mut taken), "___X_PASSWORD");
        for name in &taken {
            assert!(crate::model::interpolate::is_var_name(name), "{name}");
        }
    }

    #[test]
    fn streams_keep_their_relative_names_and_hostile_ones_are_left_out() {
        let stream = |groups: &[&str]| {
            let mut live = LiveStream {
                length: 3,
                ..LiveStream::default()
            };
            for g in groups {
                live.groups
                    .insert((*g).into(), crate::live::LiveGroup::default());
            }
            live
        };
        let found: BTreeMap<String, LiveStream> = [
            ("app:b", stream(&["g2", "g1", MKSTREAM_GROUP, "two words"])),
            ("app:a", stream(&[])),
            ("app:x*", stream(&[])),
            ("app:__topology__:s", stream(&[])),
        ]
        .into_iter()
        .map(|(k, s)| (k.to_owned(), s))
        .collect();
        let (streams, left_out) = streams("app", &found);
        let names: Vec<(&str, &[String])> = streams
            .iter()
            .map(|s| (s.name.as_str(), s.groups.as_slice()))
            .collect();
        assert_eq!(names, [("a", &[][..]), ("b", &strings(&["g1", "g2"])[..])]);
        let left: Vec<(&str, &str)> = left_out.iter().map(|l| (l.kind, l.name.as_str())).collect();
        assert_eq!(
            left,
            [
                ("stream", "__topology__:s"),
                ("group", "b __topology__:mkstream"),
                ("group", "b two words"),
                ("stream", "x*"),
            ]
        );
    }
}
