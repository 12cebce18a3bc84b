//! Lints on what users may do to the declared streams, beyond what their roles need.
//!
//! Each user's grants are read as Redis reads them: its own `keys` with its own `commands`
//! (the root rule set), and each `access` block's keys with the block's preset and commands
//! (a selector). A grant reaches a stream when one of its key patterns with write permission
//! matches the stream's key as Redis matches globs ([`crate::glob::matches`]); every command
//! linted here writes its key. Command rules are expanded offline with Redis 7.0's categories
//! ([`Catalog::redis_7_0`]): `validate` has no server to ask (plan and apply use the server's
//! own lists).
//!
//! - `acl::stream_overwrite`: a command that can replace or delete a key (SET, DEL, RENAME,
//!   EXPIRE, ... STORE) on a stream: one `SET` turns the stream into a string.
//! - `acl::consumer_xadd`: XADD on a stream the user consumes and does not produce.
//! - `acl::stream_trim`: XTRIM on a stream whose retention the topology owns, or XADD (which
//!   trims through MAXLEN/MINID) by a user that is not one of its producers.
//! - `acl::claim_outside_group`: XACK, XCLAIM or XAUTOCLAIM on a stream whose groups the user
//!   is in none of.
//! - `acl::consumer_keys`: a `consumer` preset on keys it cannot both read and write.
//!
//! The lints about roles read the stream's `producers` and its groups' `consumers`, and say
//! nothing about a stream that declares neither (files written before them stay as they were).

use std::collections::{BTreeMap, BTreeSet};

use crate::acl::{Catalog, READ, WRITE, takes_out_everything};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::glob;
use crate::model::desired::{acl_pattern, key};
use crate::model::node::Span;
use crate::model::types::{Access, Keys, Preset, Sp, Stream, Topology, User};
use crate::validate::acl::parse_command_rule;

/// Commands that can replace a key with another type, or delete it (or make it expire), once
/// they may write it. Commands that only fail with WRONGTYPE on a stream (HSET, LPUSH,
/// APPEND, SMOVE's destination, ...) are not here, and neither are keyless ones (FLUSHALL:
/// `acl::dangerous_grant`).
const REPLACES_OR_DELETES: &[&str] = &[
    "set",
    "setex",
    "psetex",
    "setnx",
    "getset",
    "getdel",
    "mset",
    "msetnx",
    "del",
    "unlink",
    "rename",
    "renamenx",
    "move",
    "copy",
    "restore",
    "restore-asking",
    "migrate",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "sort",
    "sunionstore",
    "sinterstore",
    "sdiffstore",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zrangestore",
    "georadius",
    "georadiusbymember",
    "geosearchstore",
    "bitop",
];

/// Commands that settle a group's pending entries.
const SETTLES: &[&str] = &["xack", "xclaim", "xautoclaim"];

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    let Some(users) = topology.acl.as_ref().and_then(|a| a.users.as_ref()) else {
        return;
    };
    let namespace = topology.namespace.value.as_str();
    let user_names: BTreeSet<&str> = users.names().collect();
    let mut streams: Vec<Declared> = topology
        .streams
        .iter()
        .flat_map(|s| s.iter())
        .enumerate()
        .map(|(order, (name, stream))| Declared {
            order,
            name: &name.value,
            stream,
            roles_known: stream.role_names().all(|n| user_names.contains(n)),
        })
        .collect();
    // By name, which is by key: every key is the namespace's prefix and the name.
    streams.sort_by(|a, b| a.name.cmp(b.name));
    let catalog = Catalog::redis_7_0();
    for (user, declaration) in users.iter() {
        for block in declaration.access.iter().flatten() {
            check_consumer_keys(user, block, catalog, diags);
        }
        for scope in Scope::all(declaration, catalog) {
            let reached = scope.reached(namespace, &streams);
            if reached.is_empty() {
                continue;
            }
            let linter = Linter {
                user,
                scope: &scope,
                catalog,
            };
            linter.overwrite(&reached, diags);
            linter.roles(&reached, diags);
        }
    }
}

/// A stream a scope may write, and the patterns through which it may.
struct Reach<'a, 's> {
    stream: &'s Declared<'a>,
    patterns: Vec<&'a Sp<String>>,
}

/// A declared stream (its key, the namespace's prefix and its name, is made only where a
/// pattern is tried on it: 100,000 streams would hold 100,000 keys).
struct Declared<'a> {
    /// Its place in the file, to name streams in file order.
    order: usize,
    name: &'a str,
    stream: &'a Stream,
    /// Every name of its `producers` and `consumers` is a declared user: a misspelt one is
    /// an error already (`stream::user_ref`), and lints read from the lists would only
    /// repeat it.
    roles_known: bool,
}

/// One rule set of a user: its own keys and commands, or one `access` block.
struct Scope<'a> {
    /// Key patterns with their permission ([`READ`] | [`WRITE`]).
    keys: Vec<(&'a Sp<String>, u8)>,
    /// The command rules in order, each with where it is written (a preset's commands all
    /// at the preset).
    rules: Vec<(&'a str, Span)>,
    /// What the rules allow.
    allowed: BTreeSet<String>,
    /// Where to advise putting narrower grants.
    block: bool,
}

impl<'a> Scope<'a> {
    fn all(user: &'a User, catalog: &Catalog) -> Vec<Scope<'a>> {
        let mut scopes = vec![Scope::new(
            user.keys.as_ref(),
            valid_rules(&user.commands).collect(),
            false,
            catalog,
        )];
        for block in user.access.iter().flatten() {
            let access = &block.value;
            let preset = access
                .preset
                .iter()
                .flat_map(|p| p.value.commands().iter().map(move |c| (*c, p.span)));
            let rules = preset.chain(valid_rules(&access.commands)).collect();
            scopes.push(Scope::new(access.keys.as_ref(), rules, true, catalog));
        }
        scopes
    }

    fn new(
        keys: Option<&'a Sp<Keys>>,
        rules: Vec<(&'a str, Span)>,
        block: bool,
        catalog: &Catalog,
    ) -> Scope<'a> {
        let keys = keys.map(|k| patterns(&k.value)).unwrap_or_default();
        let allowed = catalog.allowed_offline(rules.iter().map(|(rule, _)| *rule));
        Scope {
            keys,
            rules,
            allowed,
            block,
        }
    }

    /// The streams (sorted by name) this scope may write, in that order, each with the
    /// patterns that let it. A pattern is tried only on the keys that start with its literal
    /// prefix (found by binary search): 10,000 streams and hundreds of users stay fast.
    fn reached<'s>(&self, namespace: &str, streams: &'s [Declared<'a>]) -> Vec<Reach<'a, 's>> {
        let mut reached: BTreeMap<usize, Vec<&'a Sp<String>>> = BTreeMap::new();
        let key_prefix = key(namespace, "");
        let mut stream_key = String::new();
        for (pattern, perm) in &self.keys {
            if perm & WRITE == 0 {
                continue;
            }
            let rule = glob::Pattern::new(&acl_pattern(namespace, &pattern.value));
            // The literal prefix within the names: what follows the namespace's prefix (a
            // pattern that leaves the namespace reaches no declared stream).
            let prefix = rule.literal_prefix();
            let name_prefix = match prefix.strip_prefix(key_prefix.as_bytes()) {
                Some(rest) => rest,
                None if key_prefix.as_bytes().starts_with(&prefix) => &[],
                None => continue,
            };
            let start = streams.partition_point(|s| s.name.as_bytes() < name_prefix);
            let candidates = streams
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|s| s.name.as_bytes().starts_with(name_prefix));
            for (i, stream) in candidates.enumerate() {
                stream_key.clear();
                stream_key.push_str(&key_prefix);
                stream_key.push_str(stream.name);
                if rule.matches(&stream_key) {
                    reached.entry(start + i).or_default().push(*pattern);
                }
            }
        }
        reached
            .into_iter()
            .map(|(i, patterns)| Reach {
                stream: &streams[i],
                patterns,
            })
            .collect()
    }

    /// Which of `commands` this scope allows, in their order.
    fn granted(&self, commands: &[&'static str]) -> Vec<&'static str> {
        commands
            .iter()
            .copied()
            .filter(|c| self.allowed.contains(*c))
            .collect()
    }

    /// The rule that grants the first of `commands` to be granted: for each, the `+` rule
    /// that allowed it last, with no `-` rule after it.
    fn grant(&self, commands: &[&str], catalog: &Catalog) -> Option<Span> {
        commands
            .iter()
            .filter_map(|command| {
                let mut at = None;
                for (rule, span) in &self.rules {
                    match catalog.covered_offline(rule) {
                        Some((true, covered)) if covered.contains(*command) => {
                            at = at.or(Some(*span));
                        }
                        Some((false, covered))
                            if takes_out_everything(rule) || covered.contains(*command) =>
                        {
                            at = None;
                        }
                        _ => {}
                    }
                }
                at
            })
            .min_by_key(|span| span.offset)
    }
}

/// The command rules validation accepts (an invalid one is an error already, and is read
/// as nothing here), each with where it is written.
fn valid_rules(rules: &Option<Vec<Sp<String>>>) -> impl Iterator<Item = (&str, Span)> {
    rules
        .iter()
        .flatten()
        .filter(|rule| parse_command_rule(&rule.value).is_some())
        .map(|rule| (rule.value.as_str(), rule.span))
}

/// Every key pattern of `keys` with its permission, as Redis merges a pattern written twice.
fn patterns(keys: &Keys) -> Vec<(&Sp<String>, u8)> {
    let mut out: Vec<(&Sp<String>, u8)> = Vec::new();
    let all = [
        (&keys.read, READ),
        (&keys.write, WRITE),
        (&keys.readwrite, READ | WRITE),
    ];
    for (list, perm) in all {
        for pattern in list {
            match out.iter_mut().find(|(p, _)| p.value == pattern.value) {
                Some((_, merged)) => *merged |= perm,
                None => out.push((pattern, perm)),
            }
        }
    }
    out
}

/// The streams each role lint concerns, for one scope.
#[derive(Default)]
struct Roles<'a, 's> {
    /// With the groups the user consumes, as text.
    consumer_xadd: Vec<(&'s Declared<'a>, String)>,
    xadd_by_another: Vec<&'s Declared<'a>>,
    xtrim: Vec<&'s Declared<'a>>,
    settles_outside: Vec<&'s Declared<'a>>,
}

/// What a lint found, to be reported at the grant.
struct Found {
    code: Code,
    message: String,
    label: &'static str,
    help: String,
}

/// The lints of one scope of one user.
struct Linter<'a> {
    user: &'a Sp<String>,
    scope: &'a Scope<'a>,
    catalog: &'a Catalog,
}

impl Linter<'_> {
    /// `acl::stream_overwrite`: one diagnostic per scope, naming every stream it reaches.
    fn overwrite(&self, reached: &[Reach], diags: &mut Diagnostics) {
        let commands = self.scope.granted(REPLACES_OR_DELETES);
        if commands.is_empty() {
            return;
        }
        // Patterns other than the streams' own names, which say how a stream is reached.
        let mut through = BTreeSet::new();
        for reach in reached {
            through.extend(
                reach
                    .patterns
                    .iter()
                    .filter(|p| p.value != reach.stream.name)
                    .map(|p| format!("`{}`", p.value.escape_debug())),
            );
        }
        let streams: Vec<&Declared> = reached.iter().map(|r| r.stream).collect();
        let (which, _) = named_streams(&streams);
        let through = if through.is_empty() {
            String::new()
        } else {
            let through: Vec<String> = through.into_iter().collect();
            format!(" (through {})", through.join(", "))
        };
        let help = if self.scope.block {
            "give these commands only the keys they are meant for, in a block of their own (`- keys: { write: [\"ops:hb:*\"] }` with `commands: [\"+set\"]`), or narrow the block's key patterns so they cover no stream"
        } else {
            "give these commands only the keys they are meant for, in an `access` block (`- keys: { write: [\"ops:hb:*\"] }` with `commands: [\"+set\"]`), or narrow the user's key patterns so they cover no stream"
        };
        let found = Found {
            code: Code::AclStreamOverwrite,
            message: format!(
                "user `{}` may run {} on {which}{through}: they can replace a stream with another type or delete it",
                self.user.value,
                upper(&commands),
            ),
            label: "can replace or delete a stream",
            help: help.to_owned(),
        };
        self.push(&commands, found, diags);
    }

    /// The lints that read who produces and consumes the streams this scope may write: one
    /// diagnostic per lint and scope, naming every stream it concerns (a `+@stream` on
    /// `rag:*` is one grant, however many streams it reaches).
    fn roles(&self, reached: &[Reach], diags: &mut Diagnostics) {
        let user = self.user.value.as_str();
        let xadd = self.scope.allowed.contains("xadd");
        let xtrim = self.scope.allowed.contains("xtrim");
        let settles = self.scope.granted(SETTLES);
        let mut found = Roles::default();
        for reach in reached {
            let stream = reach.stream;
            let declared = stream.stream;
            if !declared.declares_roles() || !stream.roles_known {
                continue;
            }
            let consumed: Vec<&str> = declared.groups_consumed_by(user).collect();
            let owns_retention = declared.retention.is_some();
            if xadd && !declared.is_producer(user) {
                if !consumed.is_empty() {
                    let groups: Vec<String> = consumed.iter().map(|g| format!("`{g}`")).collect();
                    let groups = format!(
                        "{} {}",
                        plural(groups.len(), "group", "groups"),
                        groups.join(", ")
                    );
                    found.consumer_xadd.push((stream, groups));
                } else if owns_retention && declared.producers.is_some() {
                    found.xadd_by_another.push(stream);
                }
            }
            if xtrim && owns_retention {
                found.xtrim.push(stream);
            }
            if !settles.is_empty()
                && consumed.is_empty()
                && declared.every_group_declares_consumers()
            {
                found.settles_outside.push(stream);
            }
        }
        self.consumer_xadd(&found.consumer_xadd, diags);
        self.xadd_by_another(&found.xadd_by_another, diags);
        self.xtrim(&found.xtrim, diags);
        self.settles_outside(&found.settles_outside, &settles, diags);
    }

    fn consumer_xadd(&self, consumed: &[(&Declared, String)], diags: &mut Diagnostics) {
        if consumed.is_empty() {
            return;
        }
        let user = &self.user.value;
        let (them, streams) = if let [(stream, groups)] = consumed {
            ("it", format!("stream `{}` ({groups})", stream.name))
        } else {
            let named: Vec<&Declared> = consumed.iter().map(|(s, _)| *s).collect();
            ("them", format!("streams {}", names(&named)))
        };
        let found = Found {
            code: Code::AclConsumerXadd,
            message: format!("user `{user}` consumes {streams} but may XADD to {them}"),
            label: "XADD on a stream it consumes",
            help: format!(
                "a consumer that can XADD to its input can forge work for the other consumers: grant the stream with `preset: consumer` in an `access` block instead, or list `{user}` in the stream's `producers` if it writes the stream too"
            ),
        };
        self.push(&["xadd"], found, diags);
    }

    fn xadd_by_another(&self, streams: &[&Declared], diags: &mut Diagnostics) {
        if streams.is_empty() {
            return;
        }
        let user = &self.user.value;
        let (which, them) = named_streams(streams);
        let found = Found {
            code: Code::AclStreamTrim,
            message: format!(
                "user `{user}` may XADD to {which} but is not one of {them} `producers`: XADD ... MAXLEN or MINID trims a stream, whose retention the topology owns"
            ),
            label: "XADD can trim",
            help: format!(
                "Redis cannot allow XADD without its trimming options: take XADD out for these streams, or list `{user}` in the `producers` of the streams it writes"
            ),
        };
        self.push(&["xadd"], found, diags);
    }

    fn xtrim(&self, streams: &[&Declared], diags: &mut Diagnostics) {
        if streams.is_empty() {
            return;
        }
        let (which, _) = named_streams(streams);
        let found = Found {
            code: Code::AclStreamTrim,
            message: format!(
                "user `{}` may XTRIM {which}, whose retention the topology owns",
                self.user.value
            ),
            label: "XTRIM on a stream with declared retention",
            help: "apply trims streams to their `retention`, and producers trim with XADD ... MAXLEN ~ N: take XTRIM out (`-xtrim` after a category)".to_owned(),
        };
        self.push(&["xtrim"], found, diags);
    }

    fn settles_outside(&self, streams: &[&Declared], commands: &[&str], diags: &mut Diagnostics) {
        if streams.is_empty() {
            return;
        }
        let user = &self.user.value;
        let (which, them) = named_streams(streams);
        let found = Found {
            code: Code::AclClaimOutsideGroup,
            message: format!(
                "user `{user}` may run {} on {which} but is in none of {them} groups",
                upper(commands)
            ),
            label: "settles entries of groups it is not in",
            help: format!(
                "on another group's pending entries these acknowledge or take over work that is not its own: take them out for these streams, or list `{user}` in the `consumers` of the group it reads"
            ),
        };
        self.push(commands, found, diags);
    }

    /// Report `found` at the rule that grants the first of `commands`.
    fn push(&self, commands: &[&str], found: Found, diags: &mut Diagnostics) {
        let Some(at) = self.grant_span(commands) else {
            return;
        };
        diags.push(
            Diagnostic::warning(found.code, found.message)
                .at(at)
                .label(found.label)
                .help(found.help),
        );
    }

    fn grant_span(&self, commands: &[&str]) -> Option<Span> {
        self.scope.grant(commands, self.catalog)
    }
}

/// `acl::consumer_keys`: a block with `preset: consumer` whose patterns cannot both be read
/// (XREADGROUP, XPENDING) and written (XACK, XCLAIM, XAUTOCLAIM) while the block still
/// grants those commands: they fail with NOPERM at runtime.
fn check_consumer_keys(
    user: &Sp<String>,
    block: &Sp<Access>,
    catalog: &Catalog,
    diags: &mut Diagnostics,
) {
    let access = &block.value;
    let (Some(preset), Some(keys)) = (&access.preset, &access.keys) else {
        return;
    };
    if preset.value != Preset::Consumer {
        return;
    }
    let rules = Preset::Consumer
        .commands()
        .iter()
        .copied()
        .chain(valid_rules(&access.commands).map(|(rule, _)| rule));
    let allowed = catalog.allowed_offline(rules);
    let granted = |commands: &[&'static str]| -> Vec<&'static str> {
        commands
            .iter()
            .copied()
            .filter(|c| allowed.contains(*c))
            .collect()
    };
    let needs_write = granted(SETTLES);
    let needs_read = granted(&["xreadgroup", "xpending"]);
    for (pattern, perm) in patterns(&keys.value) {
        let (commands, missing, fix) = match perm {
            READ => (&needs_write, "write", "read-only"),
            WRITE => (&needs_read, "read", "write-only"),
            _ => continue,
        };
        if commands.is_empty() {
            continue;
        }
        diags.push(
            Diagnostic::warning(
                Code::AclConsumerKeys,
                format!(
                    "an `access` block of user `{}` has `preset: consumer` on {fix} key pattern `{}`: {} {} {missing} access and fail with NOPERM",
                    user.value,
                    pattern.value.escape_debug(),
                    upper(commands),
                    if commands.len() == 1 { "needs" } else { "need" },
                ),
            )
            .at(pattern.span)
            .label(format!("{fix} here"))
            .help("a consumer reads (XREADGROUP, XPENDING) and writes (XACK, XCLAIM, XAUTOCLAIM) its stream: list the pattern as read and write (`keys: [\"rag:tasks\"]` or `readwrite:`), or put it in another block"),
        );
    }
}

/// ``stream `a` `` or ``streams `a`, `b` `` (in file order, a long list shortened), and
/// `its` or `their`.
fn named_streams(streams: &[&Declared]) -> (String, &'static str) {
    match streams {
        [only] => (format!("stream `{}`", only.name), "its"),
        _ => (format!("streams {}", names(streams)), "their"),
    }
}

/// `` `a`, `b` `` in file order; past a few, `and N more`.
fn names(streams: &[&Declared]) -> String {
    const SHOWN: usize = 8;
    let mut sorted = streams.to_vec();
    sorted.sort_by_key(|s| s.order);
    let shown: Vec<String> = sorted
        .iter()
        .take(SHOWN)
        .map(|s| format!("`{}`", s.name))
        .collect();
    match sorted.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{} and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}

/// `SET, DEL` from `["set", "del"]`; a long list (`+@write` reaches dozens) shortened.
fn upper(commands: &[&str]) -> String {
    const SHOWN: usize = 6;
    let shown: Vec<String> = commands
        .iter()
        .take(SHOWN)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match commands.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{} and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Severity;
    use crate::validate::diagnostics_of;

    /// The lints of this module (and `stream::user_ref`), as `(code, line)`, with the message
    /// of each for the asserts that read it.
    fn lints(text: &str) -> Vec<(&'static str, usize, String)> {
        diagnostics_of(text, false)
            .into_iter()
            .filter(|(code, ..)| {
                matches!(
                    *code,
                    "acl::stream_overwrite"
                        | "acl::consumer_xadd"
                        | "acl::stream_trim"
                        | "acl::claim_outside_group"
                        | "acl::consumer_keys"
                        | "stream::user_ref"
                )
            })
            .map(|(code, _, line, message)| (code, line, message))
            .collect()
    }

    fn codes(text: &str) -> Vec<(&'static str, usize)> {
        lints(text).into_iter().map(|(c, l, _)| (c, l)).collect()
    }

    /// Stream `rag:tasks` (line 4) with group `workers`, and stream `rag:results`, then
    /// `users` (line 12 on) after `acl:` / `users:` / `default`.
    fn file(stream_extra: &str, users: &str) -> String {
        format!(
            "version: 1\nnamespace: app\nstreams:\n  rag:tasks:\n    retention: {{ maxlen: 100 }}\n    groups:\n      workers: {{ start: \"0\"{stream_extra} }}\n  rag:results:\n    retention: {{ maxlen: 100 }}\nacl:\n  users:\n    default: {{ enabled: false }}\n{users}"
        )
    }

    fn user(name: &str, body: &str) -> String {
        format!("    {name}:\n      passwords: [{{ env: P }}]\n{body}")
    }

    #[test]
    fn commands_that_replace_or_delete_a_stream_are_warned_at_their_grant() {
        // Line 16 holds the user's commands.
        let keys = "      keys: { write: [\"rag:*\"] }\n";
        let text = file(
            "",
            &user(
                "w",
                &format!("{keys}      commands: [\"+xadd\", \"+set\", \"+@keyspace\"]\n"),
            ),
        );
        let found = lints(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        let (code, line, message) = &found[0];
        assert_eq!((*code, *line), ("acl::stream_overwrite", 16));
        assert!(
            message.starts_with("user `w` may run SET, DEL, UNLINK, RENAME"),
            "{message}"
        );
        assert!(
            message.contains("streams `rag:tasks`, `rag:results` (through `rag:*`)"),
            "{message}"
        );
        // The grant is the rule that allowed the first of them and was not taken back.
        let text = file(
            "",
            &user(
                "w",
                &format!(
                    "{keys}      commands:\n        - \"+set\"\n        - \"-set\"\n        - \"+@write\"\n"
                ),
            ),
        );
        assert_eq!(codes(&text), [("acl::stream_overwrite", 19)]);
        // Read-only patterns, patterns that cover no stream, commands that only fail with
        // WRONGTYPE on a stream, rules taken back: nothing.
        for (keys, commands) in [
            ("{ read: [\"rag:*\"] }", "[\"+@all\"]"),
            (
                "{ write: [\"rag:idem:*\", \"ops:*\"] }",
                "[\"+set\", \"+del\"]",
            ),
            (
                "[\"rag:*\"]",
                "[\"+hset\", \"+lpush\", \"+append\", \"+getex\", \"+xadd\"]",
            ),
            (
                "[\"rag:*\"]",
                "[\"+@write\", \"-@keyspace\", \"-@string\", \"-@set\", \"-@sortedset\", \"-@geo\", \"-@bitmap\", \"-sort\", \"-migrate\", \"-restore\", \"-restore-asking\"]",
            ),
            ("[\"rag:*\"]", "[\"+set\", \"-@all\", \"+xlen\"]"),
        ] {
            let text = file(
                "",
                &user(
                    "w",
                    &format!("      keys: {keys}\n      commands: {commands}\n"),
                ),
            );
            assert_eq!(codes(&text), [], "{keys} {commands}");
        }
        // A glob that matches the key as Redis matches it.
        let text = file(
            "",
            &user(
                "w",
                "      keys: [\"rag:t[a-z]sk?\"]\n      commands: [\"+set\"]\n",
            ),
        );
        let found = lints(&text);
        assert!(
            found[0]
                .2
                .contains("stream `rag:tasks` (through `rag:t[a-z]sk?`)"),
            "{found:?}"
        );
    }

    #[test]
    fn access_blocks_are_judged_on_their_own_keys() {
        // The user's own `+set` reaches no stream; the block's does, at its `commands` line.
        let body = "      keys: { write: [\"ops:hb:*\"] }\n      commands: [\"+set\"]\n      access:\n        - keys: [\"ops:idem:*\"]\n          commands: [\"+set\", \"+get\"]\n        - keys: { write: [\"rag:tasks\"] }\n          commands: [\"+xadd\", \"+expire\"]\n";
        assert_eq!(
            codes(&file("", &user("w", body))),
            [("acl::stream_overwrite", 21)]
        );
        // Presets grant nothing that replaces a stream.
        let body = "      access:\n        - keys: [\"rag:*\"]\n          preset: consumer\n        - keys: { write: [\"rag:*\"] }\n          preset: producer\n        - keys: { read: [\"*\"] }\n          preset: monitor\n";
        assert_eq!(codes(&file("", &user("w", body))), []);
    }

    #[test]
    fn a_consumer_that_may_xadd_to_its_stream_is_warned_unless_it_produces_it() {
        let service = "      keys: [\"rag:tasks\"]\n      commands: [\"+@stream\", \"-xtrim\"]\n";
        let text = file(", consumers: [w]", &user("w", service));
        let found = lints(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1), ("acl::consumer_xadd", 16));
        assert!(
            found[0]
                .2
                .contains("consumes stream `rag:tasks` (group `workers`) but may XADD"),
            "{found:?}"
        );
        // A producer too: no warning. The stream does not say who consumes it: no warning.
        let producer = file(", consumers: [w]", &user("w", service))
            .replace("  rag:results:", "    producers: [w]\n  rag:results:");
        assert_eq!(codes(&producer), []);
        assert_eq!(codes(&file("", &user("w", service))), []);
        // The consumer preset, with the stream readwrite: no XADD, nothing to say.
        let block = "      access:\n        - keys: [\"rag:tasks\"]\n          preset: consumer\n";
        assert_eq!(codes(&file(", consumers: [w]", &user("w", block))), []);
        // A producer preset on the stream it consumes: at the preset.
        let block = "      access:\n        - keys: [\"rag:tasks\"]\n          preset: consumer\n        - keys: { write: [\"rag:*\"] }\n          preset: producer\n";
        assert_eq!(
            codes(&file(", consumers: [w]", &user("w", block))),
            [("acl::consumer_xadd", 19)]
        );
    }

    /// One grant that reaches many streams is one warning per lint, naming them in file
    /// order (a long list shortened).
    #[test]
    fn a_grant_over_many_streams_is_one_warning_naming_them() {
        let mut text = "version: 1\nnamespace: app\nstreams:\n".to_owned();
        for i in (0..12).rev() {
            text.push_str(&format!(
                "  s{i}:\n    retention: unbounded\n    groups: {{ g: {{ consumers: [w] }} }}\n"
            ));
        }
        text.push_str("acl:\n  users:\n    default: { enabled: false }\n");
        text.push_str(&user(
            "w",
            "      keys: [\"s*\"]\n      commands: [\"+@stream\"]\n",
        ));
        let found = lints(&text);
        let codes: Vec<&str> = found.iter().map(|(c, ..)| *c).collect();
        assert_eq!(
            codes,
            ["acl::consumer_xadd", "acl::stream_trim"],
            "{found:?}"
        );
        assert!(
            found[0].2.starts_with("user `w` consumes streams `s11`, `s10`, `s9`, `s8`, `s7`, `s6`, `s5`, `s4` and 4 more but may XADD to them"),
            "{found:?}"
        );
        assert!(found[1].2.contains("may XTRIM streams `s11`,"), "{found:?}");
    }

    #[test]
    fn trimming_a_stream_with_declared_retention_is_warned() {
        // `p` produces rag:tasks but may XTRIM it; `q` may XADD to it without producing it.
        let producers = "    producers: [p]\n  rag:results:";
        let users = format!(
            "{}{}",
            user(
                "p",
                "      keys: { write: [\"rag:tasks\"] }\n      commands: [\"+xadd\", \"+xtrim\"]\n"
            ),
            user(
                "q",
                "      keys: { write: [\"rag:tasks\"] }\n      commands: [\"+xlen\", \"+xadd\"]\n"
            )
        );
        let text = file("", &users).replace("  rag:results:", producers);
        let found = lints(&text);
        assert_eq!(
            found.iter().map(|(c, l, _)| (*c, *l)).collect::<Vec<_>>(),
            [("acl::stream_trim", 17), ("acl::stream_trim", 21)],
            "{found:?}"
        );
        assert!(
            found[0].2.contains("may XTRIM stream `rag:tasks`"),
            "{found:?}"
        );
        assert!(
            found[1].2.contains("is not one of its `producers`"),
            "{found:?}"
        );
        // Without `producers` or `consumers` the stream says nothing about roles: old files
        // stay as they were.
        assert_eq!(codes(&file("", &users)), []);
        // Without retention the topology owns none (and retention::missing says so).
        let unowned = text.replace("    retention: { maxlen: 100 }\n    groups:", "    groups:");
        assert_eq!(codes(&unowned), []);
    }

    #[test]
    fn settling_entries_outside_every_group_is_warned_when_every_group_names_its_consumers() {
        let users = format!(
            "{}{}",
            user(
                "w",
                "      access:\n        - keys: [\"rag:tasks\"]\n          preset: consumer\n"
            ),
            user(
                "m",
                "      keys: [\"rag:tasks\"]\n      commands: [\"+xpending\", \"+xautoclaim\", \"+xack\"]\n"
            )
        );
        let text = file(", consumers: [w]", &users);
        let found = lints(&text);
        assert_eq!(
            found.iter().map(|(c, l, _)| (*c, *l)).collect::<Vec<_>>(),
            [("acl::claim_outside_group", 21)]
        );
        assert!(
            found[0].2.contains(
                "`m` may run XACK, XAUTOCLAIM on stream `rag:tasks` but is in none of its groups"
            ),
            "{found:?}"
        );
        // A second group that does not say who consumes it: `m` may be there.
        let open = text.replace(
            "  rag:results:",
            "      others: { start: \"0\" }\n  rag:results:",
        );
        assert_eq!(codes(&open), []);
    }

    #[test]
    fn a_consumer_preset_on_keys_it_cannot_read_and_write_is_warned_at_the_pattern() {
        let block = |keys: &str, commands: &str| {
            file(
                "",
                &user(
                    "w",
                    &format!(
                        "      access:\n        - keys: {keys}\n          preset: consumer\n{commands}"
                    ),
                ),
            )
        };
        let found = lints(&block(
            "{ read: [\"rag:tasks\"], readwrite: [\"rag:dlq\"], write: [\"rag:results\"] }",
            "",
        ));
        assert_eq!(
            found.iter().map(|(c, l, _)| (*c, *l)).collect::<Vec<_>>(),
            [("acl::consumer_keys", 16), ("acl::consumer_keys", 16)]
        );
        assert!(
            found[0].2.contains(
                "read-only key pattern `rag:tasks`: XACK, XCLAIM, XAUTOCLAIM need write access"
            ),
            "{found:?}"
        );
        assert!(
            found[1].2.contains(
                "write-only key pattern `rag:results`: XREADGROUP, XPENDING need read access"
            ),
            "{found:?}"
        );
        // Readwrite, the same pattern read and written, or the writing commands taken out.
        assert_eq!(codes(&block("[\"rag:tasks\"]", "")), []);
        assert_eq!(
            codes(&block(
                "{ read: [\"rag:tasks\"], write: [\"rag:tasks\"] }",
                ""
            )),
            []
        );
        let read_only = "          commands: [\"-xack\", \"-xclaim\", \"-xautoclaim\"]\n";
        assert_eq!(codes(&block("{ read: [\"rag:tasks\"] }", read_only)), []);
    }

    #[test]
    fn producers_and_consumers_must_be_declared_users() {
        let text = file(
            ", consumers: [wokrer]",
            &user("worker", "      commands: [\"+ping\"]\n"),
        )
        .replace(
            "  rag:results:",
            "    producers: [worker, nobody]\n  rag:results:",
        );
        let found = lints(&text);
        assert_eq!(
            found.iter().map(|(c, l, _)| (*c, *l)).collect::<Vec<_>>(),
            [("stream::user_ref", 7), ("stream::user_ref", 8)]
        );
        let all = diagnostics_of(&text, false);
        assert!(
            all.iter()
                .all(|d| d.0 != "stream::user_ref" || d.1 == Severity::Error)
        );
        assert!(
            found[0]
                .2
                .contains("`consumers` of group `workers` of stream `rag:tasks` names `wokrer`"),
            "{found:?}"
        );
        let vars = std::collections::HashMap::<String, String>::new();
        let report = crate::validate::validate_text(
            std::path::Path::new("t.yaml"),
            text,
            None,
            false,
            &vars,
        );
        let help: Vec<&str> = report
            .diagnostics
            .iter()
            .filter(|d| d.code.as_str() == "stream::user_ref")
            .filter_map(|d| d.help.as_deref())
            .collect();
        assert!(help[0].starts_with("did you mean `worker`?"), "{help:?}");
        assert!(
            help[1].contains("declared users: `default` or `worker`"),
            "{help:?}"
        );
        // No users at all.
        let text = "version: 1\nnamespace: app\nstreams:\n  s:\n    retention: unbounded\n    producers: [p]\n";
        assert_eq!(codes(text), [("stream::user_ref", 6)]);
    }
}
