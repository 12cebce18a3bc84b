//! ACL users compared on meaning: what a user may do, not how its rules are spelled.
//!
//! Redis 7.0 rebuilds a user's command rules from a bitmap, in an order that varies between
//! processes; 7.2+ keeps the order they were given in. Comparing the strings would show
//! changes that are none, or hide real ones. So both sides, the declaration and the server's
//! `ACL GETUSER`, are reduced to [`Permissions`]: the set of commands and subcommands allowed
//! (expanded with the server's own `ACL CAT` lists, the [`Catalog`]), key patterns with their
//! read/write permission, channel patterns, on/off, nopass and password hashes, and the set of
//! selectors (`access` blocks), each reduced the same way. Two users with equal permissions
//! are no change; any real difference (a `+flushall` added by hand) is.
//!
//! Pure: the live reader fills the catalog and the users, the planner compares.

use std::collections::{BTreeMap, BTreeSet};

use crate::text::untrusted;

/// Shown instead of a password hash in plans, commands and messages.
pub const SENSITIVE: &str = "(sensitive value)";
/// Stands for one password hash in a planned `ACL SETUSER`; the applier puts the hash in its
/// place when it sends the command, so plans and saved plans never hold one.
pub const HASH_PLACEHOLDER: &str = "#(sensitive value)";

/// Read permission on a key pattern.
pub const READ: u8 = 1;
/// Write permission on a key pattern.
pub const WRITE: u8 = 2;

/// The server's commands by ACL category (`ACL CAT <category>`), subcommands as
/// `container|sub` as Redis lists them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    categories: BTreeMap<String, BTreeSet<String>>,
    all: BTreeSet<String>,
}

impl Catalog {
    pub fn new(categories: BTreeMap<String, BTreeSet<String>>) -> Catalog {
        let all = categories.values().flatten().cloned().collect();
        Catalog { categories, all }
    }

    /// A catalog from `(category, commands)` lists, as `ACL CAT` gives them (for tests).
    #[cfg(test)]
    pub fn of(lists: &[(&str, &[&str])]) -> Catalog {
        Catalog::new(
            lists
                .iter()
                .map(|(name, commands)| {
                    let commands = commands.iter().map(|c| (*c).to_owned()).collect();
                    ((*name).to_owned(), commands)
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// What `+name` or `-name` covers: a command, every subcommand of a container command,
    /// or one subcommand (or first-argument rule such as `select|0`) as written.
    fn command(&self, name: &str) -> Result<BTreeSet<String>, String> {
        if name.contains('|') {
            let container = name.split('|').next().unwrap_or_default();
            return if self.all.contains(name) || self.all.contains(container) {
                Ok(BTreeSet::from([name.to_owned()]))
            } else {
                Err(format!("`{name}` is not a command of this server"))
            };
        }
        let prefix = format!("{name}|");
        let covered: BTreeSet<String> = self
            .all
            .iter()
            .filter(|c| *c == name || c.starts_with(&prefix))
            .cloned()
            .collect();
        if covered.is_empty() {
            Err(format!("`{name}` is not a command of this server"))
        } else {
            Ok(covered)
        }
    }

    fn category(&self, name: &str) -> Result<&BTreeSet<String>, String> {
        if name == "all" {
            return Ok(&self.all);
        }
        self.categories
            .get(name)
            .ok_or_else(|| format!("`@{name}` is not an ACL category of this server"))
    }

    /// The commands a list of rules allows, starting from none (as after `reset`). Tokens are
    /// case-insensitive. `Err` names the first token this server does not know.
    pub fn allowed(&self, rules: &[String]) -> Result<BTreeSet<String>, String> {
        let mut allowed = BTreeSet::new();
        for rule in rules {
            let rule = rule.to_ascii_lowercase();
            let (allow, body) = match rule.as_str() {
                "allcommands" => (true, "@all"),
                "nocommands" => (false, "@all"),
                r => match r.split_at_checked(1) {
                    Some(("+", body)) => (true, body),
                    Some(("-", body)) => (false, body),
                    _ => return Err(format!("`{rule}` is not a command rule")),
                },
            };
            let covered = match body.strip_prefix('@') {
                Some(category) => self.category(category)?.clone(),
                None => self.command(body)?,
            };
            if allow {
                allowed.extend(covered);
            } else {
                allowed.retain(|c| !covered.contains(c));
            }
        }
        Ok(allowed)
    }
}

/// Everything that decides what a user may do, in a form where equal means equivalent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub enabled: bool,
    pub nopass: bool,
    pub password_hashes: BTreeSet<String>,
    /// Key pattern → [`READ`] | [`WRITE`].
    pub keys: BTreeMap<String, u8>,
    pub channels: BTreeSet<String>,
    pub commands: BTreeSet<String>,
    /// Selectors (`(...)` rules, one per `access` block), as a set: their order changes
    /// nothing (a command runs if the root or any selector allows it), and neither does a
    /// selector given twice.
    pub selectors: BTreeSet<Selector>,
    /// A database restriction (Valkey 9.1+ `databases`, e.g. `db=0,1` or `resetdbs`) as the
    /// server prints it; `None` for every database, which is what `reset` gives and the tool
    /// declares.
    pub databases: Option<String>,
    /// Flags the tool does not manage that change what the user may do (see
    /// [`unmanaged_flags`]); the tool's rewrite (`reset`) leaves none.
    pub flags: BTreeSet<String>,
    /// Fields of `ACL GETUSER` this version does not know, with a non-empty value: they may
    /// widen or narrow access in ways the comparison cannot see, so they are a change, which
    /// the rewrite (`reset`) clears.
    pub other: BTreeMap<String, String>,
}

/// What one selector allows: a command runs through it when the selector allows the
/// command and every key (with the access the command needs) and channel it touches. Redis
/// 7.0+ `src/acl.c` `ACLSelectorCheckCmd`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Selector {
    /// Key pattern → [`READ`] | [`WRITE`].
    pub keys: BTreeMap<String, u8>,
    pub channels: BTreeSet<String>,
    pub commands: BTreeSet<String>,
    /// A database restriction of the selector (Valkey 9.1+), as for the user's own.
    pub databases: Option<String>,
    /// Non-empty fields of the selector this version does not know.
    pub other: BTreeMap<String, String>,
}

impl Selector {
    /// The selector for people, `(%R~a ~b &c +cmd ...)`: key and channel rules, then the
    /// commands it allows (long lists shortened), then what the tool does not manage.
    pub fn describe(&self) -> String {
        const SHOWN: usize = 8;
        let mut words = self.scope_words();
        words.extend(
            self.commands
                .iter()
                .take(SHOWN)
                .map(|c| format!("+{}", untrusted(c))),
        );
        if self.commands.len() > SHOWN {
            words.push(format!("and {} more", self.commands.len() - SHOWN));
        }
        if let Some(databases) = &self.databases {
            words.push(format!("databases={}", untrusted(databases)));
        }
        for (field, value) in &self.other {
            words.push(format!("{}={}", untrusted(field), untrusted(value)));
        }
        format!("({})", words.join(" "))
    }

    /// The key and channel rules, each made safe to print.
    fn scope_words(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|(pattern, perm)| key_rule(pattern, *perm))
            .chain(self.channels.iter().map(|c| format!("&{c}")))
            .map(|rule| untrusted(&rule).into_owned())
            .collect()
    }

    /// The key and channel rules alone, naming a selector whose commands changed.
    fn scope(&self) -> String {
        format!("({})", self.scope_words().join(" "))
    }

    fn same_scope(&self, other: &Selector) -> bool {
        self.keys == other.keys && self.channels == other.channels
    }

    /// How `self` (the server's) differs from `desired`, a selector on the same keys.
    fn changes(&self, desired: &Selector) -> Vec<String> {
        let mut parts = Vec::new();
        if self.commands != desired.commands {
            parts.push(set_change(&self.commands, &desired.commands));
        }
        if self.databases != desired.databases {
            parts.push(format!(
                "the server limits it to `{}` (restored to every database)",
                untrusted(self.databases.as_deref().unwrap_or_default())
            ));
        }
        if self.other != desired.other {
            parts.push("the server has fields this version does not manage (cleared)".to_owned());
        }
        parts
    }
}

/// How the server's selectors differ from the declared ones, one line each: a selector on
/// the same keys and channels on both sides is shown by what changed inside it (a command
/// added by hand), any other as removed or added whole.
fn selector_changes(live: &BTreeSet<Selector>, desired: &BTreeSet<Selector>) -> Vec<String> {
    let mut missing: Vec<&Selector> = desired.difference(live).collect();
    let mut lines = Vec::new();
    for extra in live.difference(desired) {
        match missing.iter().position(|m| m.same_scope(extra)) {
            Some(i) => {
                let wanted = missing.remove(i);
                lines.push(format!(
                    "selector {}: {}",
                    extra.scope(),
                    extra.changes(wanted).join("; ")
                ));
            }
            None => lines.push(format!(
                "the server also has selector {} (removed)",
                extra.describe()
            )),
        }
    }
    for wanted in missing {
        lines.push(format!(
            "the server lacks selector {} (added)",
            wanted.describe()
        ));
    }
    lines
}

/// One way a live user differs from its declaration, for people. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub field: &'static str,
    pub text: String,
}

impl Permissions {
    /// What differs between `self` (the server) and `desired`, field by field.
    pub fn differences(&self, desired: &Permissions) -> Vec<Difference> {
        let mut out = Vec::new();
        let mut push = |field, text: String| out.push(Difference { field, text });
        if self.enabled != desired.enabled {
            push("enabled", format!("{} → {}", self.enabled, desired.enabled));
        }
        if self.nopass != desired.nopass {
            push("nopass", format!("{} → {}", self.nopass, desired.nopass));
        }
        if self.password_hashes != desired.password_hashes {
            push("passwords", format!("{SENSITIVE} changed"));
        }
        if self.keys != desired.keys {
            let show = |keys: &BTreeMap<String, u8>| -> BTreeSet<String> {
                keys.iter().map(|(p, perm)| key_rule(p, *perm)).collect()
            };
            push("keys", set_change(&show(&self.keys), &show(&desired.keys)));
        }
        if self.channels != desired.channels {
            push("channels", set_change(&self.channels, &desired.channels));
        }
        if self.commands != desired.commands {
            push("commands", set_change(&self.commands, &desired.commands));
        }
        for line in selector_changes(&self.selectors, &desired.selectors) {
            push("selectors", line);
        }
        if let Some(databases) = &self.databases {
            push(
                "databases",
                format!(
                    "the server limits the user to `{}` (restored to every database)",
                    untrusted(databases)
                ),
            );
        }
        if self.flags != desired.flags {
            push("flags", set_change(&self.flags, &desired.flags));
        }
        for (field, value) in &self.other {
            push(
                "fields",
                format!(
                    "the server has `{}` = `{}`, which this version does not manage (cleared)",
                    untrusted(field),
                    untrusted(value)
                ),
            );
        }
        out
    }
}

/// User flags that `ACL SETUSER <u> reset ...` sets or leaves, whatever the declaration:
/// `on`/`off` and `nopass` are compared on their own, and `sanitize-payload` is what `reset`
/// sets on Redis 7.0+ and Valkey up to 9.0 (Redis 7.0 `src/acl.c:1316-1325`; newer Valkey
/// prints neither sanitize flag).
const RESET_FLAGS: &[&str] = &["on", "off", "nopass", "sanitize-payload"];

/// The flags of a live user that the declaration cannot express: `skip-sanitize-payload`
/// (RESTORE then skips the deep check of its payload, so a user allowed `RESTORE` can load a
/// crafted one: wider access) and any flag this version does not know. `reset` clears both
/// (`skip-sanitize-payload` by setting `sanitize-payload`, Redis 7.0 `src/acl.c:1248-1253`),
/// so the rewrite restores the user. Lowercased, as Redis names flags.
pub fn unmanaged_flags<'a>(flags: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    flags
        .into_iter()
        .map(|f| f.to_ascii_lowercase())
        .filter(|f| !RESET_FLAGS.contains(&f.as_str()))
        .collect()
}

/// The database restriction a Valkey 9.1+ `databases` field describes, if any. `alldbs` is
/// every database (what `reset` gives: valkey-doc `topics/acl.md:134` lists "resetdbs,
/// alldbs" among `reset`'s actions; `ACL GETUSER` prints it as `"databases" "alldbs"`,
/// valkey-doc `commands/acl-getuser.md:31-32`). An empty value is read the same way: the
/// newest `ACL LIST` omits `alldbs` as implicit (valkey-doc commit fe8f96a2), and treating an
/// empty field as a restriction would rewrite such a user on every apply. Anything else
/// (`db=0,1`, `resetdbs`) narrows the user's access.
pub fn database_restriction(databases: Option<&str>) -> Option<String> {
    let value = databases?.trim();
    if value
        .split_whitespace()
        .all(|word| word.eq_ignore_ascii_case("alldbs"))
    {
        None
    } else {
        Some(value.to_owned())
    }
}

/// `+ added, - removed` between two sets, shortened for long lists.
fn set_change(live: &BTreeSet<String>, desired: &BTreeSet<String>) -> String {
    const SHOWN: usize = 8;
    let list = |items: Vec<&String>| {
        let mut text: Vec<&str> = items.iter().take(SHOWN).map(|s| s.as_str()).collect();
        let more = items.len().saturating_sub(SHOWN);
        let more = format!("and {more} more");
        if items.len() > SHOWN {
            text.push(&more);
        }
        text.join(" ")
    };
    let extra: Vec<&String> = live.difference(desired).collect();
    let missing: Vec<&String> = desired.difference(live).collect();
    let mut parts = Vec::new();
    if !extra.is_empty() {
        parts.push(format!("the server also has {} (removed)", list(extra)));
    }
    if !missing.is_empty() {
        parts.push(format!("the server lacks {} (added)", list(missing)));
    }
    parts.join("; ")
}

/// `~p`, `%R~p` or `%W~p` for a pattern and its permissions.
pub fn key_rule(pattern: &str, perm: u8) -> String {
    match perm {
        READ => format!("%R~{pattern}"),
        WRITE => format!("%W~{pattern}"),
        _ => format!("~{pattern}"),
    }
}

/// Key rules (`~p`, `%R~p`, `%W~p`, `%RW~p`, `allkeys`) merged by pattern, as Redis merges
/// them (`%R~a %W~a` is `~a`).
pub fn key_permissions<'a>(rules: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, u8> {
    let mut keys = BTreeMap::new();
    for rule in rules {
        let (perm, pattern) = if rule.eq_ignore_ascii_case("allkeys") {
            (READ | WRITE, "*")
        } else if let Some(p) = rule.strip_prefix('~') {
            (READ | WRITE, p)
        } else if let Some((perms, p)) = rule.strip_prefix('%').and_then(|r| r.split_once('~')) {
            let perms = perms.to_ascii_uppercase();
            let read = if perms.contains('R') { READ } else { 0 };
            let write = if perms.contains('W') { WRITE } else { 0 };
            (read | write, p)
        } else {
            continue;
        };
        *keys.entry(pattern.to_owned()).or_insert(0) |= perm;
    }
    keys
}

/// Channel rules (`&p`, `allchannels`) as patterns.
pub fn channel_patterns<'a>(rules: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    rules
        .into_iter()
        .filter_map(|rule| {
            if rule.eq_ignore_ascii_case("allchannels") {
                Some("*".to_owned())
            } else {
                rule.strip_prefix('&').map(str::to_owned)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::of(&[
            (
                "stream",
                &["xadd", "xlen", "xgroup|create", "xgroup|destroy", "xack"],
            ),
            ("read", &["get", "xlen"]),
            ("write", &["set", "xadd", "flushall"]),
            ("dangerous", &["flushall", "config|set", "config|get"]),
            ("connection", &["ping", "select"]),
        ])
    }

    fn rules(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn rules_expand_to_the_commands_they_allow() {
        let c = catalog();
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            (
                "+@stream -xgroup|destroy",
                &["xack", "xadd", "xgroup|create", "xlen"],
            ),
            ("+xgroup", &["xgroup|create", "xgroup|destroy"]),
            ("+xgroup -xgroup|destroy", &["xgroup|create"]),
            (
                "+@all -@dangerous -@write",
                &[
                    "get",
                    "ping",
                    "select",
                    "xack",
                    "xgroup|create",
                    "xgroup|destroy",
                    "xlen",
                ],
            ),
            ("-@all +GET +Ping", &["get", "ping"]),
            ("allcommands nocommands +config|get", &["config|get"]),
            ("+select|0", &["select|0"]),
        ];
        for (given, expected) in cases {
            assert_eq!(c.allowed(&rules(given)), Ok(set(expected)), "{given}");
        }
    }

    #[test]
    fn the_same_permissions_in_any_order_are_equal() {
        let c = catalog();
        // What 7.0 may print for a user declared as `+@stream -xgroup|destroy +ping`.
        let declared = c.allowed(&rules("+@stream -xgroup|destroy +ping"));
        let printed = c.allowed(&rules("-@all +ping +xack +xlen +xgroup|create +xadd"));
        assert_eq!(declared, printed);
        let tampered = c.allowed(&rules("-@all +@stream -xgroup|destroy +ping +flushall"));
        assert_ne!(declared, tampered);
    }

    #[test]
    fn unknown_commands_and_categories_are_named() {
        let c = catalog();
        assert!(
            c.allowed(&rules("+nosuch"))
                .unwrap_err()
                .contains("`nosuch`")
        );
        assert!(
            c.allowed(&rules("+@nosuch"))
                .unwrap_err()
                .contains("`@nosuch`")
        );
        assert!(c.allowed(&rules("+nosuch|sub")).is_err());
        assert!(c.allowed(&rules("~keys")).is_err());
    }

    #[test]
    fn key_rules_merge_by_pattern() {
        let keys = key_permissions(["%R~a:*", "%W~a:*", "%R~b", "~c", "%RW~d", "%W~e"]);
        assert_eq!(
            keys,
            BTreeMap::from([
                ("a:*".to_owned(), READ | WRITE),
                ("b".to_owned(), READ),
                ("c".to_owned(), READ | WRITE),
                ("d".to_owned(), READ | WRITE),
                ("e".to_owned(), WRITE),
            ])
        );
        assert_eq!(key_permissions(["allkeys"]), key_permissions(["~*"]));
        assert_eq!(key_rule("a", READ), "%R~a");
        assert_eq!(key_rule("a", READ | WRITE), "~a");
        assert_eq!(
            channel_patterns(["&e:*", "allchannels"]),
            set(&["*", "e:*"])
        );
    }

    #[test]
    fn differences_name_fields_and_never_hashes() {
        let live = Permissions {
            enabled: true,
            password_hashes: set(&["aaaa"]),
            commands: set(&["get", "flushall"]),
            selectors: BTreeSet::from([selector("%R~other", &["get"])]),
            ..Permissions::default()
        };
        let desired = Permissions {
            enabled: true,
            password_hashes: set(&["bbbb"]),
            commands: set(&["get", "ping"]),
            ..Permissions::default()
        };
        let diffs = live.differences(&desired);
        let fields: Vec<&str> = diffs.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["passwords", "commands", "selectors"]);
        let text: String = diffs.iter().map(|d| d.text.clone()).collect();
        assert!(!text.contains("aaaa") && !text.contains("bbbb"), "{text}");
        assert!(text.contains("also has flushall (removed)"), "{text}");
        assert!(text.contains("lacks ping (added)"), "{text}");
        assert!(desired.differences(&desired).is_empty());
    }

    fn selector(keys: &str, commands: &[&str]) -> Selector {
        Selector {
            keys: key_permissions(keys.split_whitespace()),
            commands: set(commands),
            ..Selector::default()
        }
    }

    fn with_selectors(selectors: &[Selector]) -> Permissions {
        Permissions {
            selectors: selectors.iter().cloned().collect(),
            ..Permissions::default()
        }
    }

    fn selector_lines(live: &[Selector], desired: &[Selector]) -> Vec<String> {
        with_selectors(live)
            .differences(&with_selectors(desired))
            .into_iter()
            .map(|d| {
                assert_eq!(d.field, "selectors");
                d.text
            })
            .collect()
    }

    #[test]
    fn selectors_are_a_set_compared_on_meaning() {
        let c = catalog();
        let consume = |given: &str| Selector {
            keys: key_permissions(["~ns:in"]),
            commands: c.allowed(&rules(given)).expect("known"),
            ..Selector::default()
        };
        let produce = selector("%W~ns:out %W~ns:dlq", &["xadd"]);
        // Another order of selectors, of keys (`%R~a %W~a` is `~a`), of commands: no change.
        let declared = [consume("+xack +xlen"), produce.clone()];
        let spelled_otherwise = [
            selector("%W~ns:dlq %W~ns:out", &["xadd"]),
            Selector {
                keys: key_permissions(["%W~ns:in", "%R~ns:in"]),
                ..consume("-@all +xlen +xack")
            },
        ];
        assert!(selector_lines(&spelled_otherwise, &declared).is_empty());
        // A selector given twice means what it means once.
        let twice = [produce.clone(), produce.clone(), consume("+xack +xlen")];
        assert!(selector_lines(&twice, &declared).is_empty());
        // A category and the commands it holds are the same permission.
        assert_eq!(consume("+@read"), selector("~ns:in", &["get", "xlen"]));
    }

    #[test]
    fn drift_inside_a_selector_is_shown_inside_it() {
        let declared = [
            selector("~ns:in", &["xack", "xreadgroup"]),
            selector("%W~ns:out", &["xadd"]),
        ];
        // A command added by hand to one selector: named with that selector's keys.
        let widened = [
            selector("~ns:in", &["xack", "xreadgroup", "xadd"]),
            selector("%W~ns:out", &["xadd"]),
        ];
        assert_eq!(
            selector_lines(&widened, &declared),
            ["selector (~ns:in): the server also has xadd (removed)"]
        );
        // A selector removed by hand, and one added by hand on other keys.
        let replaced = [
            selector("~ns:in", &["xack", "xreadgroup"]),
            selector("~other:*", &["flushall"]),
        ];
        assert_eq!(
            selector_lines(&replaced, &declared),
            [
                "the server also has selector (~other:* +flushall) (removed)",
                "the server lacks selector (%W~ns:out +xadd) (added)"
            ]
        );
        // A Valkey 9.1 database restriction inside a selector is a change too.
        let limited = [
            Selector {
                databases: Some("db=1".to_owned()),
                ..selector("~ns:in", &["xack", "xreadgroup"])
            },
            selector("%W~ns:out", &["xadd"]),
        ];
        assert_eq!(
            selector_lines(&limited, &declared),
            ["selector (~ns:in): the server limits it to `db=1` (restored to every database)"]
        );
    }

    #[test]
    fn long_selectors_are_shortened_and_server_text_made_safe() {
        let many: Vec<String> = (0..12).map(|i| format!("cmd{i:02}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let text = selector("~ns:a", &many).describe();
        assert_eq!(
            text,
            "(~ns:a +cmd00 +cmd01 +cmd02 +cmd03 +cmd04 +cmd05 +cmd06 +cmd07 and 4 more)"
        );
        // Patterns come from the server: a newline in one cannot start a line of the plan.
        let hostile = Selector {
            keys: BTreeMap::from([("x\nerror: forged".to_owned(), READ)]),
            ..Selector::default()
        };
        let text = hostile.describe();
        assert!(!text.contains('\n') && text.contains("\\n"), "{text}");
    }

    #[test]
    fn flags_that_widen_access_are_unmanaged_and_reset_ones_are_not() {
        let flags: Vec<String> = [
            "on",
            "NOPASS",
            "sanitize-payload",
            "skip-sanitize-payload",
            "future-flag",
        ]
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
        assert_eq!(
            unmanaged_flags(&flags),
            set(&["future-flag", "skip-sanitize-payload"])
        );
        assert!(unmanaged_flags(&[]).is_empty());
    }

    #[test]
    fn only_a_database_restriction_is_a_change() {
        assert_eq!(
            database_restriction(None),
            None,
            "a server without the field"
        );
        assert_eq!(database_restriction(Some("alldbs")), None);
        assert_eq!(database_restriction(Some("")), None);
        assert_eq!(database_restriction(Some("db=1")), Some("db=1".to_owned()));
        assert_eq!(
            database_restriction(Some("resetdbs")),
            Some("resetdbs".to_owned())
        );
        let live = Permissions {
            databases: Some("db=1".to_owned()),
            flags: set(&["skip-sanitize-payload"]),
            other: BTreeMap::from([("roles".to_owned(), "admin\nerror: x".to_owned())]),
            ..Permissions::default()
        };
        let diffs = live.differences(&Permissions::default());
        let fields: Vec<&str> = diffs.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["databases", "flags", "fields"]);
        let text: Vec<String> = diffs.iter().map(|d| d.text.clone()).collect();
        assert_eq!(
            text[0],
            "the server limits the user to `db=1` (restored to every database)"
        );
        assert_eq!(
            text[1],
            "the server also has skip-sanitize-payload (removed)"
        );
        assert!(!text[2].contains('\n'), "{text:?}");
    }
}
