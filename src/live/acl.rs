//! Reading ACL users, on every node (Redis keeps them per node and never replicates them),
//! in two pipelined round trips whatever their number, every node at once:
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

use super::{LiveAcl, LiveNode, LiveSelector, LiveUser};
use crate::acl::Catalog;
use crate::record::OWNERS_KEY;
use crate::resp::Reply;
use crate::target::{
    BATCH_SIZE, Command, NodeId, RedactedUrl, Route, ServerError, Target, TargetError,
};

/// The users `names` (those that exist) on every node, into each node's [`LiveNode::acl`]
/// (`nodes` in the target's order): every node at once, so two round trips in all. The
/// owners registry is a key: read on the node that owns it, and the same for every node.
pub async fn read_every_node(
    target: &mut Target,
    names: &BTreeSet<String>,
    nodes: &mut [LiveNode],
) -> Result<(), TargetError> {
    let registry_node = target
        .route(Route::Key(OWNERS_KEY))
        .first()
        .copied()
        .unwrap_or_default();
    let every = target.route(Route::EveryNode);
    let url = target.describe().clone();
    let listed: Vec<&String> = names.iter().collect();
    let mut reads: Vec<NodeRead> = every
        .iter()
        .map(|node| NodeRead::new(*node == registry_node))
        .collect();
    let jobs: Vec<(NodeId, Vec<Vec<Command>>)> = every
        .iter()
        .map(|node| {
            (
                *node,
                chunked(first_commands(names, *node == registry_node)),
            )
        })
        .collect();
    target
        .read_many(jobs, &mut |job, replies| match reads.get_mut(job) {
            Some(read) => read.take(replies, &listed, &url),
            None => Ok(()),
        })
        .await
        .map_err(|(_, e)| TargetError::from(e))?;
    read_catalogs(target, &every, &mut reads, &url).await?;
    let owners = reads
        .iter()
        .find(|read| read.registry)
        .map(|read| read.live.owners.clone())
        .unwrap_or_default();
    for (node, read) in every.iter().zip(reads) {
        if let Some(live) = nodes.get_mut(node.0) {
            let mut acl = read.live;
            acl.owners.clone_from(&owners);
            live.acl = Some(acl);
        }
    }
    Ok(())
}

/// The first round trip on a node: who the tool is, the server's settings, the categories,
/// the registry (on its node; elsewhere a harmless `PING` keeps every reply at its
/// position), and `ACL GETUSER` of every name.
fn first_commands(names: &BTreeSet<String>, registry: bool) -> Vec<Command> {
    let mut commands = vec![
        acl(&["WHOAMI"]),
        Command::new("CONFIG").arg("GET").arg("aclfile"),
        Command::new("CONFIG").arg("GET").arg("masteruser"),
        acl(&["CAT"]),
    ];
    if registry {
        let mut owners = Command::new("HMGET").arg(OWNERS_KEY);
        for name in names {
            owners.push(name);
        }
        commands.push(owners);
    } else {
        commands.push(Command::new("PING"));
    }
    commands.push(Command::new("CONFIG").arg("GET").arg("acl-pubsub-default"));
    commands.extend(names.iter().map(|n| acl(&["GETUSER", n])));
    commands
}

/// What one node's read has found so far.
struct NodeRead {
    registry: bool,
    live: LiveAcl,
    categories: Vec<String>,
    /// Replies by their position in the read, whichever batch brings them.
    position: usize,
}

impl NodeRead {
    fn new(registry: bool) -> NodeRead {
        NodeRead {
            registry,
            live: LiveAcl::default(),
            categories: Vec::new(),
            position: 0,
        }
    }

    /// A batch of replies to [`first_commands`].
    fn take(
        &mut self,
        replies: &[Reply<'_>],
        names: &[&String],
        url: &RedactedUrl,
    ) -> Result<(), TargetError> {
        const USERS_FROM: usize = 6;
        let live = &mut self.live;
        for reply in replies {
            match self.position {
                0 => live.whoami = text(checked(url, "ACL WHOAMI", reply)?).unwrap_or_default(),
                1 => {
                    live.aclfile =
                        config_value(url, reply, "aclfile")?.map(|file| !file.is_empty());
                }
                2 => {
                    live.masteruser =
                        config_value(url, reply, "masteruser")?.filter(|u| !u.is_empty());
                }
                3 => self.categories = texts(checked(url, "ACL CAT", reply)?),
                4 if !self.registry => {}
                4 => {
                    let owners = texts_or_nil(checked(url, "HMGET of the users registry", reply)?);
                    live.owners = names
                        .iter()
                        .zip(owners)
                        .filter_map(|(name, owner)| Some(((*name).clone(), owner?)))
                        .collect();
                }
                5 => {
                    live.pubsub_default_all = config_value(url, reply, "acl-pubsub-default")?
                        .map(|value| value.eq_ignore_ascii_case("allchannels"));
                }
                at => {
                    let value = checked(url, "ACL GETUSER", reply)?;
                    if let Some(name) = names.get(at - USERS_FROM)
                        && !matches!(value, Reply::Nil)
                    {
                        live.users.insert((*name).clone(), parse_user(value));
                    }
                }
            }
            self.position += 1;
        }
        Ok(())
    }
}

/// Commands in batches of [`BATCH_SIZE`].
fn chunked(commands: Vec<Command>) -> Vec<Vec<Command>> {
    let mut batches = Vec::new();
    let mut commands = commands.into_iter().peekable();
    while commands.peek().is_some() {
        batches.push(commands.by_ref().take(BATCH_SIZE).collect());
    }
    batches
}

/// `ACL CAT <category>` of every category each node listed, every node at once: the server's
/// own lists, to compare users on meaning.
async fn read_catalogs(
    target: &mut Target,
    nodes: &[NodeId],
    reads: &mut [NodeRead],
    url: &RedactedUrl,
) -> Result<(), TargetError> {
    let jobs: Vec<(NodeId, Vec<Vec<Command>>)> = nodes
        .iter()
        .zip(reads.iter())
        .map(|(node, read)| {
            let commands = read.categories.iter().map(|c| acl(&["CAT", c])).collect();
            (*node, chunked(commands))
        })
        .collect();
    let mut lists: Vec<BTreeMap<String, BTreeSet<String>>> = vec![BTreeMap::new(); jobs.len()];
    let mut next: Vec<usize> = vec![0; jobs.len()];
    target
        .read_many(jobs, &mut |job, replies| {
            let (Some(read), Some(list), Some(at)) =
                (reads.get(job), lists.get_mut(job), next.get_mut(job))
            else {
                return Ok(());
            };
            for reply in replies {
                if let Some(category) = read.categories.get(*at) {
                    let commands = texts(checked(url, "ACL CAT", reply)?);
                    list.insert(category.clone(), commands.into_iter().collect());
                }
                *at += 1;
            }
            Ok(())
        })
        .await
        .map_err(|(_, e)| TargetError::from(e))?;
    for (read, list) in reads.iter_mut().zip(lists) {
        read.live.catalog = Catalog::new(list);
    }
    Ok(())
}

fn acl(args: &[&str]) -> Command {
    Command::from_args(std::iter::once("ACL").chain(args.iter().copied()))
}

/// A reply, or the error that stops the plan, naming the command and what the plan user
/// needs.
fn checked<'r, 'a>(
    url: &RedactedUrl,
    what: &str,
    reply: &'r Reply<'a>,
) -> Result<&'r Reply<'a>, TargetError> {
    match reply {
        Reply::Error { code, details } => Err(TargetError::Refused {
            url: url.clone(),
            command: what.to_owned(),
            error: ServerError::new(code, details),
            hint: format!(
                " (reading ACL users needs +acl|whoami +acl|cat +acl|getuser and read access to `{OWNERS_KEY}`; see docs/operations.md)"
            )
            .into(),
        }),
        reply => Ok(reply),
    }
}

/// A `CONFIG GET` value; `None` when CONFIG GET is not allowed (`NOPERM`; `ERR`: renamed or
/// disabled, as managed services do) or the parameter unknown (an empty reply). A reply of
/// another shape is an error.
fn config_value(
    url: &RedactedUrl,
    reply: &Reply<'_>,
    name: &str,
) -> Result<Option<String>, TargetError> {
    match reply {
        Reply::Error {
            code: "NOPERM" | "ERR",
            ..
        } => Ok(None),
        Reply::Error { .. } => checked(url, "CONFIG GET", reply).map(|_| None),
        Reply::Array(items) if items.is_empty() => Ok(None),
        _ => match reply.map().map(Iterator::collect::<Vec<_>>).as_deref() {
            Some([(field, value)]) if field.eq_ignore_ascii_case(name) && text(value).is_some() => {
                Ok(text(value))
            }
            _ => Err(TargetError::Malformed {
                url: url.clone(),
                command: format!("`CONFIG GET {name}`"),
                why: "there is not the parameter and its value".to_owned(),
            }),
        },
    }
}

/// A string or integer reply's text.
fn text(reply: &Reply<'_>) -> Option<String> {
    match reply {
        Reply::Int(i) => Some(i.to_string()),
        other => other.text().map(std::borrow::Cow::into_owned),
    }
}

fn texts(reply: &Reply<'_>) -> Vec<String> {
    match reply {
        Reply::Array(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

fn texts_or_nil(reply: &Reply<'_>) -> Vec<Option<String>> {
    match reply {
        Reply::Array(items) => items.iter().map(text).collect(),
        _ => Vec::new(),
    }
}

/// Field/value pairs of a flat array (how RESP2 writes a map; the target turns RESP3 maps
/// into these), with fields that are not text left out. Unknown fields are kept for the
/// caller: newer servers add fields.
fn entries<'r, 'a>(reply: &'r Reply<'a>) -> Vec<(std::borrow::Cow<'a, str>, &'r Reply<'a>)> {
    match reply {
        Reply::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((k.text()?, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `ACL GETUSER`: flags, passwords, commands, keys, channels, selectors, as Redis 7.0+ prints
/// them (rule strings; the tool needs 7.0 for `%R~`/`%W~` key rules anyway), and Valkey
/// 9.1's `databases`. The reply is a flat field/value array (RESP2; a RESP3 map reaches here
/// in that form too): Redis 7.0 `src/acl.c:2706-2751` writes `flags` (a set), `passwords`,
/// the root selector's `commands`, `keys` and `channels` (`aclAddReplySelectorDescription`,
/// `src/acl.c:2600`), then `selectors`; Valkey 9.1 adds `databases` after `channels`, at the
/// top and in each selector (valkey-doc `commands/acl-getuser.md:20-41`).
///
/// Every other field is kept with its value as text: a field this version does not know may
/// widen or narrow what the user may do, so the planner treats a non-empty one as a change
/// (see [`crate::acl::Permissions`]) instead of ignoring it.
pub(crate) fn parse_user(reply: &Reply<'_>) -> LiveUser {
    let mut user = LiveUser::default();
    // The root's rules have the fields of a selector: read the same way.
    let mut root = LiveSelector::default();
    for (field, value) in entries(reply) {
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
fn read_rules(rules: &mut LiveSelector, field: &str, value: &Reply<'_>) {
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

/// Any reply as one line of text, nested arrays included (`""` for nil and empty values,
/// which is how a field that restricts nothing usually looks).
fn flattened(reply: &Reply<'_>) -> String {
    let words: Vec<String> = match reply {
        Reply::Nil => Vec::new(),
        Reply::Array(items) => items.iter().map(flattened).collect(),
        other => vec![text(other).unwrap_or_else(|| other.describe())],
    };
    words
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn joined(reply: &Reply<'_>) -> String {
    match reply {
        Reply::Array(_) => texts(reply).join(" "),
        other => text(other).unwrap_or_default(),
    }
}

/// The `selectors` field: a list of flat field/value arrays, one per selector, with the
/// fields of the root (`commands`, `keys`, `channels`, and on Valkey 9.1+ `databases`:
/// valkey-doc `commands/acl-getuser.md:20-41`). Unknown fields are kept, as for the user.
fn selectors(reply: &Reply<'_>) -> Vec<LiveSelector> {
    let items = match reply {
        Reply::Array(items) => items.as_slice(),
        _ => &[],
    };
    items.iter().map(selector).collect()
}

fn selector(reply: &Reply<'_>) -> LiveSelector {
    let mut selector = LiveSelector::default();
    for (field, value) in entries(reply) {
        read_rules(&mut selector, &field, value);
    }
    selector
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Reply<'_> {
        Reply::Bytes(text.as_bytes())
    }

    fn array(items: Vec<Reply<'_>>) -> Reply<'_> {
        Reply::Array(items)
    }

    /// The RESP2 reply of `ACL GETUSER sample` after `ACL SETUSER sample on nopass +GET
    /// allkeys &* (+SET ~key2)` on Valkey 9.1, field for field as valkey-doc
    /// `commands/acl-getuser.md:20-41` shows it, with the database value given.
    fn valkey_reply(databases: &str) -> Reply<'_> {
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
        let selector = |commands: &'static str, keys: &'static str, channels: &'static str| {
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

    /// Redis 7.0 (`src/acl.c:2706-2751`): no `databases`; a user written by the tool's
    /// `reset` has `sanitize-payload`, which is not a change; `skip-sanitize-payload` set by
    /// hand, and a field this version does not know, are.
    #[test]
    fn redis_users_and_unknown_fields() {
        let catalog = Catalog::of(&[("read", &["get"])]);
        let reply = |flags: &[&'static str], extra: Vec<Reply<'static>>| {
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
            array(vec![array(vec![bulk("a"), Reply::Int(1)])]),
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
