//! ACL users: password sources, key and channel patterns, command rules, and lints for
//! grants that are rarely what a service needs.
//!
//! Patterns are Redis globs: whether one reaches the tool's own keys (`*` covers
//! `<ns>:__topology__:record`) is decided with [`crate::glob::matches`], as Redis decides it.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggest};
use crate::glob;
use crate::model::desired::acl_pattern;
use crate::model::interpolate::is_var_name;
use crate::model::types::{Access, Keys, Password, Sp, Topology, User};
use crate::record::{OWNERS_KEY, RESERVED_PREFIX, reserved_keys};

/// ACL categories of Redis 7 and 8 (`ACL CAT`), for checking `+@category` offline.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "all",
    // Redis 8 module categories
    "search",
    "json",
    "timeseries",
    "bloom",
    "cuckoo",
    "cms",
    "topk",
    "tdigest",
];

/// Grants that give a service power over the whole server: data loss, configuration,
/// replication or other users.
const DANGEROUS_CATEGORIES: &[&str] = &["all", "dangerous", "admin"];
const DANGEROUS_COMMANDS: &[&str] = &[
    "flushall",
    "flushdb",
    "config",
    "keys",
    "debug",
    "shutdown",
    "module",
    "acl",
    "monitor",
    "replicaof",
    "slaveof",
    "swapdb",
    "migrate",
    "restore",
    "failover",
    "save",
    "bgsave",
    "sync",
    "psync",
];

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    let users = topology.acl.as_ref().and_then(|a| a.users.as_ref());
    let namespace = topology.namespace.value.as_str();
    for (name, user) in users.iter().flat_map(|u| u.iter()) {
        check_passwords(name, user, diags);
        if let Some(keys) = &user.keys {
            check_keys(name, &keys.value, user, namespace, diags);
        }
        for channel in user.channels.iter().flatten() {
            check_pattern(channel, "channel", namespace, diags);
        }
        for token in user.commands.iter().flatten() {
            check_command_token(name, token, diags);
        }
        for block in user.access.iter().flatten() {
            check_access(name, block, namespace, diags);
        }
    }
}

/// One `access` block: its patterns as the user's own (inside the namespace, not the tool's
/// keys), its command rules, and that it grants something.
fn check_access(name: &Sp<String>, block: &Sp<Access>, namespace: &str, diags: &mut Diagnostics) {
    let access = &block.value;
    let grants_commands = access.preset.is_some()
        || access
            .commands
            .iter()
            .flatten()
            .any(|c| c.value.starts_with('+'));
    if let Some(keys) = &access.keys {
        check_key_patterns(name, &keys.value, grants_commands, namespace, diags);
    }
    for channel in access.channels.iter().flatten() {
        check_pattern(channel, "channel", namespace, diags);
    }
    let patterns: Vec<&Sp<String>> = access
        .keys
        .iter()
        .flat_map(|k| k.value.all_patterns())
        .chain(access.channels.iter().flatten())
        .collect();
    for pattern in &patterns {
        check_selector_pattern(pattern, diags);
    }
    for token in access.commands.iter().flatten() {
        check_command_token(name, token, diags);
    }
    let problem = if access.incomplete {
        None
    } else if patterns.is_empty() {
        Some((
            "has no key or channel pattern",
            "a selector without keys only runs keyless commands, and those belong in the user's own `commands`: add `keys: [\"rag:tasks\"]` (or `channels`)",
        ))
    } else if !grants_commands {
        Some((
            "grants no command",
            "add `preset: consumer`, `producer` or `monitor`, or `commands: [\"+xreadgroup\", \"+xack\"]`",
        ))
    } else {
        None
    };
    if let Some((problem, help)) = problem {
        diags.push(
            Diagnostic::error(
                Code::AclAccessEmpty,
                format!("an `access` block of user `{}` {problem}", name.value),
            )
            .at(block.span)
            .label(problem)
            .help(help),
        );
    }
}

/// A selector is one `(...)` rule, and Redis saves it to the aclfile as words between
/// parentheses: when it loads the file, the first word ending with `)` ends the selector
/// (`ACLMergeSelectorArguments`), so a pattern ending with `)` would leave the rest of the
/// selector as bad rules and the whole file would no longer load (tested on 7.0: `ACL LOAD`
/// refuses it). A `(` or a `)` elsewhere in a pattern is harmless.
fn check_selector_pattern(pattern: &Sp<String>, diags: &mut Diagnostics) {
    if !pattern.value.ends_with(')') {
        return;
    }
    diags.push(
        Diagnostic::error(
            Code::AclPattern,
            format!(
                "pattern `{}` of an `access` block ends with `)`",
                pattern.value.escape_debug()
            ),
        )
        .at(pattern.span)
        .label("ends the selector early")
        .help("a server that saves its users to an aclfile could not load them back: end the pattern otherwise (`?` matches any one character), or put it in the user's own `keys`"),
    );
}

fn check_passwords(name: &Sp<String>, user: &User, diags: &mut Diagnostics) {
    let passwords = user.passwords.as_deref().unwrap_or_default();
    let nopass = user.nopass.as_ref().filter(|n| n.value);
    let enabled = user.enabled.as_ref().is_none_or(|e| e.value);
    for password in passwords {
        check_password(password, diags);
    }
    match nopass {
        Some(nopass) if !passwords.is_empty() => diags.push(
            Diagnostic::error(
                Code::AclNopassConflict,
                format!("user `{}` has both `nopass: true` and passwords", name.value),
            )
            .at(nopass.span)
            .label("conflicts with `passwords`")
            .help("`nopass` lets anyone in with any password: remove it, or remove `passwords`"),
        ),
        Some(nopass) => diags.push(
            Diagnostic::warning(
                Code::AclNopass,
                format!("user `{}` accepts any password", name.value),
            )
            .at(nopass.span)
            .label("no authentication")
            .help("give the user `passwords: [{ env: VAR }]` unless this is a local development setup"),
        ),
        // Absent, not merely empty: `passwords: []` is explicit, and a list whose entries
        // were all rejected has been reported already.
        None if enabled && user.passwords.is_none() && !user.passwords_invalid => diags.push(
            Diagnostic::warning(
                Code::AclNoPassword,
                format!("user `{}` is enabled but has no password, so nobody can log in as it", name.value),
            )
            .at(name.span)
            .label("no password")
            .help("add `passwords: [{ env: VAR }]`, or `enabled: false` if the user is meant to be locked"),
        ),
        None => {}
    }
}

fn check_password(password: &Sp<Password>, diags: &mut Diagnostics) {
    match &password.value {
        Password::Sha256(hash) => {
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                if hash.bytes().any(|b| b.is_ascii_uppercase()) {
                    diags.push(sha256_error(password, "has uppercase hex digits, which Redis rejects"));
                }
            } else if hash.strip_prefix('#').is_some_and(|h| h.len() == 64) {
                diags.push(
                    sha256_error(password, "starts with `#`")
                        .help("write the 64 hex digits without the `#`: the tool adds it when it sends the hash (`#<sha256>`)"),
                );
            } else {
                diags.push(sha256_error(password, "is not 64 hex digits"));
            }
        }
        // The text is not echoed and is blanked: a value that is no variable name is likely a
        // pasted password.
        Password::Env(var) if !is_var_name(var) => diags.push(
            Diagnostic::error(
                Code::AclEnvName,
                "a password `env` is not an environment variable name",
            )
            .at(password.span)
            .secret(password.span)
            .help("name the variable that holds the password: letters, digits and `_`, not starting with a digit, e.g. `RAG_WORKER_PASSWORD`"),
        ),
        Password::File(path) if path.trim().is_empty() => diags.push(
            Diagnostic::error(Code::AclPasswordSource, "a password `file` is empty")
                .at(password.span)
                .help("give the path of a file that holds the password, relative to the topology file"),
        ),
        _ => {}
    }
}

fn sha256_error(password: &Sp<Password>, problem: &str) -> Diagnostic {
    Diagnostic::error(Code::AclSha256, format!("the sha256 password hash {problem}"))
        .at(password.span)
        .secret(password.span)
        .label("invalid hash")
        .help("write the password's sha256 as 64 lowercase hex digits, e.g. from `printf %s \"$PASSWORD\" | sha256sum`")
}

fn check_keys(
    name: &Sp<String>,
    keys: &Keys,
    user: &User,
    namespace: &str,
    diags: &mut Diagnostics,
) {
    let grants_commands = user
        .commands
        .iter()
        .flatten()
        .any(|c| c.value.starts_with('+'));
    check_key_patterns(name, keys, grants_commands, namespace, diags);
}

/// Key patterns, of the user or of an `access` block that grants commands or not.
fn check_key_patterns(
    name: &Sp<String>,
    keys: &Keys,
    grants_commands: bool,
    namespace: &str,
    diags: &mut Diagnostics,
) {
    for pattern in keys.all_patterns() {
        check_pattern(pattern, "key", namespace, diags);
    }
    for pattern in keys.write.iter().chain(&keys.readwrite) {
        check_reserved_keys(name, pattern, namespace, diags);
    }
    let everything = keys
        .write
        .iter()
        .chain(&keys.readwrite)
        .find(|p| !p.value.is_empty() && p.value.chars().all(|c| c == '*'));
    if let Some(pattern) = everything.filter(|_| grants_commands) {
        diags.push(
            Diagnostic::warning(
                Code::AclAllKeysWrite,
                format!("user `{}` may write every key of the namespace", name.value),
            )
            .at(pattern.span)
            .label("every key")
            .help("grant the streams the service writes, e.g. `write: [\"rag:results\", \"rag:dlq\"]`"),
        );
    }
}

/// A key or channel pattern, written relative to the namespace.
fn check_pattern(pattern: &Sp<String>, what: &str, namespace: &str, diags: &mut Diagnostics) {
    let value = &pattern.value;
    let problem = if value.is_empty() {
        Some("is empty".to_owned())
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("contains whitespace, which would split the ACL rule".to_owned())
    } else if value.starts_with(['~', '%', '&']) {
        Some("starts with an ACL rule prefix; write the bare pattern, the tool adds `~`, `%R~`, `%W~` or `&`".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        diags.push(
            Diagnostic::error(
                Code::AclPattern,
                format!("{what} pattern `{}` {problem}", value.escape_debug()),
            )
            .at(pattern.span)
            .label("invalid pattern")
            .help(format!(
                "{what} patterns are relative to the namespace, e.g. `rag:tasks` or `ops:hb:*`"
            )),
        );
        return;
    }
    if mentions_reserved(value) {
        diags.push(
            Diagnostic::error(
                Code::AclPatternReserved,
                format!(
                    "{what} pattern `{}` mentions `{RESERVED_PREFIX}`, which is reserved for the tool",
                    value.escape_debug()
                ),
            )
            .at(pattern.span)
            .label("reserved")
            .help(format!(
                "the tool keeps its record, its lock and the users registry (`{OWNERS_KEY}`) under `{RESERVED_PREFIX}`; a service needs none of them: remove the pattern, or name the streams the service uses, e.g. `rag:tasks`"
            )),
        );
        return;
    }
    if !namespace.is_empty() && value.starts_with(&format!("{namespace}:")) {
        diags.push(
            Diagnostic::warning(
                Code::AclPatternPrefixed,
                format!("{what} pattern `{value}` starts with the namespace, which is added again"),
            )
            .at(pattern.span)
            .label(format!("becomes `{namespace}:{value}`"))
            .help(format!(
                "write it relative to the namespace: `{}`",
                &value[namespace.len() + 1..]
            )),
        );
    }
}

/// Whether a pattern names `__topology__` explicitly, `\`-escapes read as the byte they
/// escape (`\_\_topology\_\_` is as explicit as `__topology__`).
fn mentions_reserved(pattern: &str) -> bool {
    let mut literal = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => literal.extend(chars.next()),
            c => literal.push(c),
        }
    }
    literal.contains(RESERVED_PREFIX)
}

/// A write pattern that covers the tool's own keys, judged as Redis matches it against the
/// namespace's record, lock and the users registry. A user who may write the record can make
/// apply prune streams of the namespace it never created, and one who may write the lock can
/// block applies; reading them is harmless (they hold no secret), so read patterns pass.
fn check_reserved_keys(
    user: &Sp<String>,
    pattern: &Sp<String>,
    namespace: &str,
    diags: &mut Diagnostics,
) {
    if pattern.value.is_empty() || mentions_reserved(&pattern.value) {
        return; // an error already
    }
    let rule = acl_pattern(namespace, &pattern.value);
    let covered: Vec<String> = reserved_keys(namespace)
        .into_iter()
        .filter(|key| glob::matches(&rule, key))
        .map(|key| format!("`{key}`"))
        .collect();
    if covered.is_empty() {
        return;
    }
    diags.push(
        Diagnostic::warning(
            Code::AclReservedKeys,
            format!(
                "user `{}` may write the tool's own keys: `{}` covers {}",
                user.value,
                pattern.value.escape_debug(),
                covered.join(", ")
            ),
        )
        .at(pattern.span)
        .label("covers the tool's keys")
        .help("a user who can write the record can make apply prune streams of the namespace it never created; grant the streams the service uses, e.g. `rag:*` instead of `*`, or make the pattern read-only"),
    );
}

fn check_command_token(user: &Sp<String>, token: &Sp<String>, diags: &mut Diagnostics) {
    let Some(rule) = parse_command_rule(&token.value) else {
        diags.push(
            Diagnostic::error(
                Code::AclCommandToken,
                format!("`{}` is not an ACL command rule", token.value.escape_debug()),
            )
            .at(token.span)
            .label("not a command rule")
            .help("write `+cmd`, `-cmd`, `+cmd|subcommand`, `+@category` or `-@category`, e.g. `+@stream`, `-xgroup|destroy`"),
        );
        return;
    };
    if let CommandRule::Category(category) = &rule.target
        && !CATEGORIES.contains(&category.as_str())
    {
        let known: Vec<String> = CATEGORIES.iter().map(|c| format!("@{c}")).collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let help = suggest(
            &format!("@{category}"),
            &known,
            "see `ACL CAT` for the categories of your server".to_owned(),
        );
        diags.push(
            Diagnostic::error(
                Code::AclCategoryUnknown,
                format!("unknown ACL category `@{category}`"),
            )
            .at(token.span)
            .label("unknown category")
            .help(help),
        );
        return;
    }
    if rule.allow && rule.is_dangerous() {
        diags.push(
            Diagnostic::warning(
                Code::AclDangerousGrant,
                format!("user `{}` is granted `{}`", user.value, token.value),
            )
            .at(token.span)
            .label("dangerous grant")
            .help("this lets the service flush data, read every key name, reconfigure the server or change users; grant only the commands it needs, e.g. `+@stream`"),
        );
    }
}

/// A parsed `+cmd`, `-cmd|sub`, `+@category` rule.
pub struct ParsedRule {
    pub allow: bool,
    pub target: CommandRule,
}

pub enum CommandRule {
    Category(String),
    Command(String),
}

impl ParsedRule {
    fn is_dangerous(&self) -> bool {
        match &self.target {
            CommandRule::Category(c) => DANGEROUS_CATEGORIES.contains(&c.as_str()),
            CommandRule::Command(name) => DANGEROUS_COMMANDS.contains(&name.as_str()),
        }
    }
}

/// Parse a command rule; names are case-insensitive in Redis, so they are lowercased.
pub fn parse_command_rule(token: &str) -> Option<ParsedRule> {
    let allow = match token.as_bytes().first()? {
        b'+' => true,
        b'-' => false,
        _ => return None,
    };
    let body = token[1..].to_ascii_lowercase();
    let word = |s: &str| {
        !s.is_empty()
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    };
    let target = if let Some(category) = body.strip_prefix('@') {
        word(category).then(|| CommandRule::Category(category.to_owned()))?
    } else {
        let (name, subcommand) = match body.split_once('|') {
            Some((name, sub)) => (name, Some(sub)),
            None => (body.as_str(), None),
        };
        if !word(name) || subcommand.is_some_and(|s| !word(s)) {
            return None;
        }
        CommandRule::Command(name.to_owned())
    };
    Some(ParsedRule { allow, target })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Severity;

    /// `(code, severity, line, column)` of a diagnostic.
    type Found = (&'static str, Severity, usize, usize);

    /// Every diagnostic of a topology's users section.
    fn found(users: &str) -> Vec<Found> {
        let text = format!("version: 1\nnamespace: \"app\"\nacl:\n  users:\n{users}");
        let vars = std::collections::HashMap::<String, String>::new();
        let report = crate::validate::validate_text(
            std::path::Path::new("t.yaml"),
            text,
            None,
            false,
            &vars,
        );
        report
            .diagnostics
            .iter()
            .filter(|d| d.code != Code::AclNoPassword && d.code != Code::AclDefaultOpen)
            .map(|d| {
                let (_, line, column) = d.span.and_then(|s| report.sources.locate(s)).unwrap_or((
                    std::path::Path::new(""),
                    0,
                    0,
                ));
                (d.code.as_str(), d.severity, line, column)
            })
            .collect()
    }

    #[test]
    fn patterns_that_mention_the_tools_keys_are_errors_at_their_place() {
        for pattern in [
            "__topology__:record",
            "*__topology__*",
            "a:__topology__:lock",
            "\\\\_\\\\_topology\\\\_\\\\_:*",
        ] {
            let users = format!("    svc:\n      keys: {{ read: [\"{pattern}\"] }}\n");
            assert_eq!(
                found(&users),
                [("acl::pattern_reserved", Severity::Error, 6, 22)],
                "{pattern}"
            );
        }
        let users = "    svc:\n      channels: [\"__topology__\"]\n";
        assert_eq!(
            found(users),
            [("acl::pattern_reserved", Severity::Error, 6, 18)]
        );
    }

    #[test]
    fn write_patterns_that_cover_the_tools_keys_are_warnings() {
        for pattern in ["*", "__*", "_?topology__:*", "*:lock", "[_]*"] {
            let users = format!("    svc:\n      keys: {{ write: [\"{pattern}\"] }}\n");
            let codes = found(&users);
            assert!(
                codes.contains(&("acl::reserved_keys", Severity::Warning, 6, 23)),
                "{pattern}: {codes:?}"
            );
        }
        for pattern in ["rag:*", "x*", "*:tasks", "_x*"] {
            let users = format!("    svc:\n      keys: {{ write: [\"{pattern}\"] }}\n");
            assert_eq!(found(&users), [], "{pattern}");
        }
        // Reading the record is harmless: it holds no secret.
        let users = "    svc:\n      keys: { read: [\"*\"] }\n";
        assert_eq!(found(users), []);
    }

    #[test]
    fn access_blocks_are_checked_where_they_are_written() {
        let good = "    svc:\n      access:\n        - keys: [\"tasks\"]\n          preset: consumer\n          commands: [\"+xinfo|groups\", \"-xclaim\"]\n        - keys: { write: [\"results\"] }\n          channels: [\"ev:*\"]\n          preset: producer\n";
        assert_eq!(found(good), []);
        let cases: &[(&str, &[Found])] = &[
            (
                "        - keys: [tasks]\n          preset: consumers\n",
                &[("acl::access_preset", Severity::Error, 8, 19)],
            ),
            (
                "        - keys: [tasks]\n",
                &[("acl::access_empty", Severity::Error, 7, 11)],
            ),
            (
                "        - commands: [\"+get\"]\n",
                &[("acl::access_empty", Severity::Error, 7, 11)],
            ),
            (
                "        - keys: [\"a(b)\", \"(c)d\"]\n          commands: [\"+get\"]\n",
                &[("acl::pattern", Severity::Error, 7, 18)],
            ),
            (
                "        - keys: { read: [\"__topology__:*\"] }\n          commands: [\"+get\"]\n",
                &[("acl::pattern_reserved", Severity::Error, 7, 26)],
            ),
            (
                "        - keys: { write: [\"*\"] }\n          commands: [\"+xadd\"]\n",
                &[
                    ("acl::reserved_keys", Severity::Warning, 7, 27),
                    ("acl::all_keys_write", Severity::Warning, 7, 27),
                ],
            ),
            (
                "        - keys: [tasks]\n          commands: [\"+@nosuch\", \"xadd\"]\n",
                &[
                    ("acl::category_unknown", Severity::Error, 8, 22),
                    ("acl::command_token", Severity::Error, 8, 34),
                ],
            ),
            (
                "        - keys: [tasks]\n          command: [\"+get\"]\n",
                &[("field::unknown", Severity::Error, 8, 11)],
            ),
            (
                "        keys: [tasks]\n",
                &[("type::mismatch", Severity::Error, 7, 9)],
            ),
        ];
        for (block, expected) in cases {
            let users = format!("    svc:\n      access:\n{block}");
            assert_eq!(&found(&users), expected, "{block}");
        }
    }

    #[test]
    fn command_rules() {
        for good in [
            "+@stream",
            "-@all",
            "+ping",
            "-xgroup|destroy",
            "+CLIENT|SETNAME",
            "+json.get",
        ] {
            assert!(parse_command_rule(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "+",
            "ping",
            "+@",
            "+a b",
            "+x|",
            "+|x",
            "+x|y|z",
            "~keys",
            "allcommands",
            "+1abc",
        ] {
            assert!(parse_command_rule(bad).is_none(), "{bad}");
        }
        assert!(parse_command_rule("+FLUSHALL").is_some_and(|r| r.is_dangerous()));
        assert!(parse_command_rule("+config|get").is_some_and(|r| r.is_dangerous()));
        assert!(parse_command_rule("+@stream").is_some_and(|r| !r.is_dangerous()));
    }
}
