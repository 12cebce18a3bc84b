//! Reading ACL users, in two pipelined round trips whatever their number:
//!
//! 1. `ACL WHOAMI`, `CONFIG GET aclfile`, `CONFIG GET masteruser`, `ACL CAT`, the owners
//!    registry (`HMGET`), and `ACL GETUSER` for every user declared or recorded;
//! 2. `ACL CAT <category>` for every category: the server's own lists, to compare users on
//!    meaning (see [`crate::acl`]).
//!
//! Read-only: `plan` needs `+acl|whoami +acl|cat +acl|getuser +hmget` (and, optionally,
//! `+config|get`). Replies are parsed as maps (RESP2 flat arrays or RESP3 maps), ignoring
//! fields this version does not know (Valkey adds `databases`).

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use super::read::{as_text, map_entries, server_error_text};
use super::{LiveAcl, LiveUser};
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
/// them (rule strings; the tool needs 7.0 for `%R~`/`%W~` key rules anyway).
fn parse_user(value: &Value) -> LiveUser {
    let mut user = LiveUser::default();
    for (field, value) in map_entries(value) {
        match field.as_ref() {
            "flags" => user.flags = texts(value),
            "passwords" => user.password_hashes = texts(value),
            "commands" => user.commands = joined(value),
            "keys" => user.keys = joined(value),
            "channels" => user.channels = joined(value),
            "selectors" => user.selectors = texts_len(value),
            _ => {}
        }
    }
    user
}

fn joined(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Set(_) => texts(value).join(" "),
        other => as_text(other).unwrap_or_default(),
    }
}

fn texts_len(value: &Value) -> usize {
    match value {
        Value::Array(items) | Value::Set(items) => items.len(),
        _ => 0,
    }
}
