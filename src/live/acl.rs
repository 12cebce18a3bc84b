//! Reading ACL users, in two pipelined round trips whatever their number:
//!
//! 1. `ACL WHOAMI`, `CONFIG GET aclfile`, `CONFIG GET masteruser`, `ACL CAT`, the owners
//!    registry (`HMGET`), and `ACL GETUSER` for every user declared or recorded;
//! 2. `ACL CAT <category>` for every category: the server's own lists, to compare users on
//!    meaning (see [`crate::acl`]).
//!
//! Read-only: `plan` needs `+acl|whoami +acl|cat +acl|getuser +hmget` (and, optionally,
//! `+config|get`). Replies are parsed as maps (RESP2 flat arrays or RESP3 maps); fields this
//! version does not know are kept, not ignored, so that the planner can see them (Valkey 9.1
//! adds `databases`).

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use super::read::{as_text, map_entries, server_error_text};
use super::{LiveAcl, LiveSelector, LiveUser};
use crate::acl::Catalog;
use crate::record::OWNERS_KEY;
use crate::target::{Target, TargetError};

pub async fn read(target: &mut Target, names: &BTreeSet<String>) -> Result<LiveAcl, TargetError> {
    let mut commands = vec![
        acl(&["WHOAMI"]),
        redis::cmd("CONFIG").arg("GET").arg("aclfile").clone(),
        redis::cmd("CONFIG").arg("GET").arg("masteruser").clone(),
        acl(&["CAT"]),
        redis::cmd("HMGET").arg(OWNERS_KEY).arg(names).clone(),
    ];
    commands.extend(names.iter().map(|n| acl(&["GETUSER", n])));
    let replies = target.read_batch(commands).await?;
    let reply = |i: usize| replies.get(i).unwrap_or(&Value::Nil);
    let whoami = as_text(checked(target, "ACL WHOAMI", reply(0))?).unwrap_or_default();
    let aclfile = config_value(target, reply(1), "aclfile")?.map(|file| !file.is_empty());
    let masteruser = config_value(target, reply(2), "masteruser")?.filter(|u| !u.is_empty());
    let categories = texts(checked(target, "ACL CAT", reply(3))?);
    let owners = texts_or_nil(checked(target, "HMGET of the users registry", reply(4))?);
    let owners = names
        .iter()
        .zip(owners)
        .filter_map(|(name, owner)| Some((name.clone(), owner?)))
        .collect();
    let mut users = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let value = checked(target, "ACL GETUSER", reply(5 + i))?;
        if !matches!(value, Value::Nil) {
            users.insert(name.clone(), parse_user(value));
        }
    }
    let catalog = read_catalog(target, categories).await?;
    Ok(LiveAcl {
        whoami,
        masteruser,
        aclfile,
        catalog,
        users,
        owners,
    })
}

async fn read_catalog(
    target: &mut Target,
    categories: Vec<String>,
) -> Result<Catalog, TargetError> {
    let commands = categories.iter().map(|c| acl(&["CAT", c])).collect();
    let replies = target.read_batch(commands).await?;
    let mut lists = BTreeMap::new();
    for (category, reply) in categories.into_iter().zip(&replies) {
        let commands = texts(checked(target, "ACL CAT", reply)?);
        lists.insert(category, commands.into_iter().collect());
    }
    Ok(Catalog::new(lists))
}

fn acl(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd("ACL");
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

/// A reply, or the error that stops the plan, naming the command and what the plan user
/// needs.
fn checked<'a>(target: &Target, what: &str, reply: &'a Value) -> Result<&'a Value, TargetError> {
    match reply {
        Value::ServerError(e) => Err(TargetError(format!(
            "{}: {what} failed: {} (reading ACL users needs +acl|whoami +acl|cat +acl|getuser and read access to `{OWNERS_KEY}`; see docs/operations.md)",
            target.describe(),
            server_error_text(e)
        ))),
        value => Ok(value),
    }
}

/// A `CONFIG GET` value; `None` when CONFIG GET is not allowed (`NOPERM`; `ERR`: renamed or
/// disabled, as managed services do) or the parameter unknown (an empty reply). A reply of
/// another shape is an error.
fn config_value(target: &Target, reply: &Value, name: &str) -> Result<Option<String>, TargetError> {
    match reply {
        Value::ServerError(e) if matches!(e.code(), "NOPERM" | "ERR") => Ok(None),
        Value::ServerError(_) => checked(target, "CONFIG GET", reply).map(|_| None),
        Value::Array(items) | Value::Set(items) if items.is_empty() => Ok(None),
        Value::Map(pairs) if pairs.is_empty() => Ok(None),
        _ => match map_entries(reply).as_slice() {
            [(field, value)] if field.eq_ignore_ascii_case(name) && as_text(value).is_some() => {
                Ok(as_text(value))
            }
            _ => Err(TargetError(format!(
                "{}: CONFIG GET {name} gave a reply of another shape than the parameter and its value",
                target.describe()
            ))),
        },
    }
}

fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(as_text).collect(),
        _ => Vec::new(),
    }
}

fn texts_or_nil(value: &Value) -> Vec<Option<String>> {
    match value {
        Value::Array(items) => items.iter().map(as_text).collect(),
        _ => Vec::new(),
    }
}

/// `ACL GETUSER`: flags, passwords, commands, keys, channels, selectors, as Redis 7.0+ prints
/// them (rule strings; the tool needs 7.0 for `%R~`/`%W~` key rules anyway), and Valkey
/// 9.1's `databases`. The reply is a map (RESP3) or a flat field/value array (RESP2): Redis
/// 7.0 `src/acl.c:2706-2751` writes `flags` (a set), `passwords`, the root selector's
/// `commands`, `keys` and `channels` (`aclAddReplySelectorDescription`, `src/acl.c:2600`),
/// then `selectors`; Valkey 9.1 adds `databases` after `channels`, at the top and in each
/// selector (valkey-doc `commands/acl-getuser.md:20-41`).
///
/// Every other field is kept with its value as text: a field this version does not know may
/// widen or narrow what the user may do, so the planner treats a non-empty one as a change
/// (see [`crate::acl::Permissions`]) instead of ignoring it.
fn parse_user(value: &Value) -> LiveUser {
    let mut user = LiveUser::default();
    // The root's rules have the fields of a selector: read the same way.
    let mut root = LiveSelector::default();
    for (field, value) in map_entries(value) {
        match field.as_ref() {
            "flags" => user.flags = texts(value),
            "passwords" => user.password_hashes = texts(value),
            "selectors" => user.selectors = selectors(value),
            other => read_rules(&mut root, other, value),
        }
    }
    LiveUser {
        commands: root.commands,
        keys: root.keys,
        channels: root.channels,
        databases: root.databases,
        other_fields: root.other_fields,
        ..user
    }
}

/// One field of a selector, or of the user's own rules.
fn read_rules(rules: &mut LiveSelector, field: &str, value: &Value) {
    match field {
        "commands" => rules.commands = joined(value),
        "keys" => rules.keys = joined(value),
        "channels" => rules.channels = joined(value),
        "databases" => rules.databases = Some(flattened(value)),
        other => rules
            .other_fields
            .push((other.to_owned(), flattened(value))),
    }
}

/// Any reply as one line of text, nested arrays and maps included (`""` for nil and empty
/// values, which is how a field that restricts nothing usually looks).
fn flattened(value: &Value) -> String {
    let words: Vec<String> = match value {
        Value::Nil => Vec::new(),
        Value::Array(items) | Value::Set(items) => items.iter().map(flattened).collect(),
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{}={}", flattened(k), flattened(v)))
            .collect(),
        Value::Boolean(b) => vec![b.to_string()],
        Value::Double(d) => vec![d.to_string()],
        other => vec![as_text(other).unwrap_or_else(|| format!("{other:?}"))],
    };
    words
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn joined(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Set(_) => texts(value).join(" "),
        other => as_text(other).unwrap_or_default(),
    }
}

/// The `selectors` field: a list of maps (RESP3) or flat field/value arrays (RESP2), one per
/// selector, with the fields of the root (`commands`, `keys`, `channels`, and on Valkey 9.1+
/// `databases`: valkey-doc `commands/acl-getuser.md:20-41`). Unknown fields are kept, as for
/// the user.
fn selectors(value: &Value) -> Vec<LiveSelector> {
    let items = match value {
        Value::Array(items) | Value::Set(items) => items.as_slice(),
        _ => &[],
    };
    items.iter().map(selector).collect()
}

fn selector(value: &Value) -> LiveSelector {
    let mut selector = LiveSelector::default();
    for (field, value) in map_entries(value) {
        read_rules(&mut selector, &field, value);
    }
    selector
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn array(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    /// The RESP2 reply of `ACL GETUSER sample` after `ACL SETUSER sample on nopass +GET
    /// allkeys &* (+SET ~key2)` on Valkey 9.1, field for field as valkey-doc
    /// `commands/acl-getuser.md:20-41` shows it, with the database value given.
    fn valkey_reply(databases: &str) -> Value {
        array(vec![
            bulk("flags"),
            array(vec![bulk("on"), bulk("nopass")]),
            bulk("passwords"),
            array(vec![]),
            bulk("commands"),
            bulk("-@all +get"),
            bulk("keys"),
            bulk("~*"),
            bulk("channels"),
            bulk("&*"),
            bulk("databases"),
            bulk(databases),
            bulk("selectors"),
            array(vec![array(vec![
                bulk("commands"),
                bulk("-@all +set"),
                bulk("keys"),
                bulk("~key2"),
                bulk("channels"),
                bulk(""),
                bulk("databases"),
                bulk("alldbs"),
            ])]),
        ])
    }

    #[test]
    fn valkey_databases_are_read_and_only_a_restriction_is_a_change() {
        let catalog = Catalog::of(&[("read", &["get"]), ("write", &["set"])]);
        let all = parse_user(&valkey_reply("alldbs"));
        assert_eq!(all.databases.as_deref(), Some("alldbs"));
        assert!(all.other_fields.is_empty(), "{:?}", all.other_fields);
        assert_eq!(
            all.selectors,
            [LiveSelector {
                commands: "-@all +set".to_owned(),
                keys: "~key2".to_owned(),
                channels: String::new(),
                databases: Some("alldbs".to_owned()),
                other_fields: Vec::new(),
            }]
        );
        let permissions = all.permissions(&catalog).expect("known rules");
        assert_eq!(permissions.databases, None);
        let selector = permissions.selectors.first().expect("one selector");
        assert_eq!(selector.databases, None, "alldbs restricts nothing");
        assert_eq!(selector.commands.iter().collect::<Vec<_>>(), ["set"]);
        for restricted in ["db=1", "db=0,1", "resetdbs"] {
            let user = parse_user(&valkey_reply(restricted));
            let permissions = user.permissions(&catalog).expect("known rules");
            assert_eq!(permissions.databases.as_deref(), Some(restricted));
        }
    }

    /// Redis 7.0 to 8.x and Valkey 8 (RESP2): `selectors` is a list of flat field/value
    /// arrays, as `ACL GETUSER` printed it after `ACL SETUSER u reset on nopass %R~ns:a
    /// +ping (%R~ns:x ~ns:y &ch:* +xreadgroup +xack +xinfo|groups) (~ns:z +xadd)`.
    #[test]
    fn selectors_are_read_field_by_field() {
        let selector = |commands: &str, keys: &str, channels: &str| {
            array(vec![
                bulk("commands"),
                bulk(commands),
                bulk("keys"),
                bulk(keys),
                bulk("channels"),
                bulk(channels),
            ])
        };
        let reply = array(vec![
            bulk("flags"),
            array(vec![bulk("on"), bulk("nopass"), bulk("sanitize-payload")]),
            bulk("passwords"),
            array(vec![]),
            bulk("commands"),
            bulk("-@all +ping"),
            bulk("keys"),
            bulk("%R~ns:a"),
            bulk("channels"),
            bulk(""),
            bulk("selectors"),
            array(vec![
                selector(
                    "-@all +xreadgroup +xack +xinfo|groups",
                    "%R~ns:x ~ns:y",
                    "&ch:*",
                ),
                selector("-@all +xadd", "~ns:z", ""),
            ]),
        ]);
        let user = parse_user(&reply);
        assert_eq!(user.selectors.len(), 2);
        assert_eq!(user.selectors[0].keys, "%R~ns:x ~ns:y");
        assert_eq!(user.selectors[0].channels, "&ch:*");
        assert_eq!(user.selectors[1].commands, "-@all +xadd");
        assert!(user.selectors.iter().all(|s| s.databases.is_none()));
        let catalog = Catalog::of(&[
            ("stream", &["xreadgroup", "xack", "xinfo|groups", "xadd"]),
            ("connection", &["ping"]),
        ]);
        let permissions = user.permissions(&catalog).expect("known rules");
        let read: Vec<String> = permissions.selectors.iter().map(|s| s.describe()).collect();
        assert_eq!(
            read,
            [
                "(%R~ns:x ~ns:y &ch:* +xack +xinfo|groups +xreadgroup)",
                "(~ns:z +xadd)"
            ]
        );
        // A selector naming a command this server does not list stops the comparison.
        let unknown = Catalog::of(&[("connection", &["ping"])]);
        assert!(user.permissions(&unknown).is_err());
    }

    /// The same reply over RESP3, where the user is a map and `flags` a set.
    #[test]
    fn resp3_maps_read_the_same() {
        let Value::Array(flat) = valkey_reply("db=2") else {
            unreachable!("built as an array")
        };
        let pairs = flat
            .chunks(2)
            .map(|pair| {
                let value = match &pair[1] {
                    Value::Array(items) if pair[0] == bulk("flags") => Value::Set(items.clone()),
                    other => other.clone(),
                };
                (pair[0].clone(), value)
            })
            .collect();
        let user = parse_user(&Value::Map(pairs));
        assert_eq!(user.flags, ["on", "nopass"]);
        assert_eq!(user.databases.as_deref(), Some("db=2"));
        assert_eq!(user.commands, "-@all +get");
        assert_eq!(user, parse_user(&valkey_reply("db=2")));
    }

    /// Over RESP3 each selector is a map too, and a field this version does not know, in a
    /// selector, is kept (and is a change when not empty).
    #[test]
    fn resp3_selector_maps_and_unknown_selector_fields() {
        let map = |pairs: &[(&str, &str)]| {
            Value::Map(pairs.iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
        };
        let reply = Value::Map(vec![
            (bulk("flags"), Value::Set(vec![bulk("on")])),
            (bulk("commands"), bulk("-@all")),
            (
                bulk("selectors"),
                Value::Array(vec![map(&[
                    ("commands", "-@all +get"),
                    ("keys", "%R~k"),
                    ("channels", ""),
                    ("databases", "db=3"),
                    ("future", "x"),
                    ("empty", ""),
                ])]),
            ),
        ]);
        let user = parse_user(&reply);
        let selector = &user.selectors[0];
        assert_eq!(selector.commands, "-@all +get");
        assert_eq!(selector.databases.as_deref(), Some("db=3"));
        assert_eq!(
            selector.other_fields,
            [
                ("future".to_owned(), "x".to_owned()),
                ("empty".to_owned(), String::new())
            ]
        );
        let catalog = Catalog::of(&[("read", &["get"])]);
        let permissions = user.permissions(&catalog).expect("known rules");
        let read = permissions.selectors.first().expect("one selector");
        assert_eq!(read.databases.as_deref(), Some("db=3"));
        assert_eq!(read.other.keys().collect::<Vec<_>>(), ["future"]);
    }

    /// Redis 7.0 (`src/acl.c:2706-2751`): no `databases`; a user written by the tool's
    /// `reset` has `sanitize-payload`, which is not a change; `skip-sanitize-payload` set by
    /// hand, and a field this version does not know, are.
    #[test]
    fn redis_users_and_unknown_fields() {
        let catalog = Catalog::of(&[("read", &["get"])]);
        let reply = |flags: &[&str], extra: Vec<Value>| {
            let mut items = vec![
                bulk("flags"),
                array(flags.iter().map(|f| bulk(f)).collect()),
                bulk("passwords"),
                array(vec![]),
                bulk("commands"),
                bulk("-@all +get"),
                bulk("keys"),
                bulk(""),
                bulk("channels"),
                bulk(""),
                bulk("selectors"),
                array(vec![]),
            ];
            items.extend(extra);
            array(items)
        };
        let written = parse_user(&reply(&["on", "sanitize-payload"], vec![]));
        assert_eq!(written.databases, None);
        let permissions = written.permissions(&catalog).expect("known rules");
        assert!(permissions.flags.is_empty() && permissions.other.is_empty());

        let skipped = parse_user(&reply(&["on", "skip-sanitize-payload"], vec![]));
        let permissions = skipped.permissions(&catalog).expect("known rules");
        assert_eq!(
            permissions.flags.into_iter().collect::<Vec<_>>(),
            ["skip-sanitize-payload"]
        );

        let extra = vec![
            bulk("roles"),
            array(vec![bulk("admin")]),
            bulk("notes"),
            array(vec![]),
            bulk("nested"),
            array(vec![array(vec![bulk("a"), Value::Int(1)])]),
        ];
        let future = parse_user(&reply(&["on"], extra));
        assert_eq!(
            future.other_fields,
            [
                ("roles".to_owned(), "admin".to_owned()),
                ("notes".to_owned(), String::new()),
                ("nested".to_owned(), "a 1".to_owned())
            ]
        );
        let permissions = future.permissions(&catalog).expect("known rules");
        assert_eq!(
            permissions.other.keys().collect::<Vec<_>>(),
            ["nested", "roles"],
            "an empty field restricts nothing"
        );
    }
}
