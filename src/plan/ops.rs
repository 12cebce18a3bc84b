//! The operations apply performs, typed.
//!
//! A plan's changes hold [`Op`]s, not command strings: each knows its arguments, the key it
//! touches, where it must run ([`Op::route`]: its key's slot owner, or every node for ACL
//! users, which Redis keeps per node), which server errors mean "already done", and whether
//! it can only run as a plain command (ACL commands are refused inside scripts). So the applier never guesses what a command
//! means from its argument positions, and a saved plan can be compared with a fresh one
//! operation for operation (see [`super::saved`]).

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::acl::HASH_PLACEHOLDER;
use crate::live::StreamId;
use crate::record::{OWNERS_KEY, Record};
use crate::target::Route;

/// One thing apply does on the server. Keys, groups and starts are kept inline
/// (`CompactString`, up to 24 bytes): a first apply of 100,000 streams holds 200,000 group
/// creations, and their strings were 600,000 allocations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// `XGROUP CREATE <key> <group> <start> [ENTRIESREAD <n>] MKSTREAM`: creates the stream
    /// too when it does not exist. `BUSYGROUP` (created meanwhile) is success.
    CreateGroup {
        key: CompactString,
        group: CompactString,
        start: CompactString,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entries_read: Option<u64>,
    },
    /// `XGROUP DESTROY <key> <group>`; nothing to do when the key is gone.
    DestroyGroup {
        key: CompactString,
        group: CompactString,
    },
    /// `XTRIM <key> MAXLEN|MINID [~] <threshold>`.
    Trim {
        key: CompactString,
        by: TrimBy,
        approximate: bool,
    },
    /// `DEL <key>` of a stream (only with `--prune`, only keys the record lists).
    DeleteStream { key: CompactString },
    /// `ACL SETUSER <name> reset <rules>`: one atomic rewrite of a user. Each password hash
    /// is [`HASH_PLACEHOLDER`] here; the applier puts the declared hashes in, in order. On
    /// every node, or on the `nodes` named (`host:port`) where only those differ.
    SetUser {
        name: String,
        rules: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nodes: Option<Vec<String>>,
    },
    /// `ACL DELUSER <name>` (only with `--prune`, only users this namespace manages).
    DeleteUser { name: String },
    /// `ACL SAVE`: writes every user to the server's aclfile; on every node, or on the
    /// `nodes` named (those that have an aclfile).
    SaveAcl {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nodes: Option<Vec<String>>,
    },
    /// `HSET __topology__:users <user> <namespace> ...`: this namespace manages these users.
    RegisterUsers {
        namespace: String,
        users: Vec<String>,
    },
    /// `HDEL __topology__:users <user> ...`: users this namespace no longer manages.
    UnregisterUsers { users: Vec<String> },
    /// `SET {__topology__:<namespace>}:record <record>`, only while this apply holds the lock.
    /// Boxed: a record is several times the size of any other operation, and a plan of
    /// 100,000 streams holds 200,000 operations.
    WriteRecord {
        key: CompactString,
        record: Box<Record>,
    },
    /// `DEL <namespace>:__topology__:record`: the record under its old name, right after
    /// [`Op::WriteRecord`] wrote it under the new one, in the same fenced script.
    DeleteOldRecord { key: CompactString },
}

/// How a trim bounds a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TrimBy {
    /// Keep at most this many entries.
    Maxlen(u64),
    /// Drop entries with a smaller ID: `now - max_age` at the moment of planning.
    Minid(StreamId),
}

/// Where an operation can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// On a key, inside the applier's fenced script (see `apply`).
    Key,
    /// A plain command: ACL commands are refused inside scripts.
    Acl,
}

/// How the record's argument is given to [`Op::each_arg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordArg {
    /// As sent: the record's JSON.
    Json,
    /// For people: `<record>` (the JSON of 10,000 streams is a megabyte).
    Summary,
}

impl Op {
    /// Hand each argument of the command, in order, to `arg`: password hashes as
    /// placeholders, the record as `record` says. No argument is allocated but the
    /// numbers and the record's JSON: plans of 10,000 streams send and print 20,000 of these.
    pub fn each_arg(&self, record: RecordArg, arg: &mut dyn FnMut(&str)) {
        let mut all = |parts: &[&str]| parts.iter().for_each(|p| arg(p));
        match self {
            Op::CreateGroup {
                key,
                group,
                start,
                entries_read,
            } => {
                all(&["XGROUP", "CREATE", key, group, start]);
                if let Some(n) = entries_read {
                    all(&["ENTRIESREAD", &n.to_string()]);
                }
                all(&["MKSTREAM"]);
            }
            Op::DestroyGroup { key, group } => all(&["XGROUP", "DESTROY", key, group]),
            Op::Trim {
                key,
                by,
                approximate,
            } => {
                let (strategy, threshold) = match by {
                    TrimBy::Maxlen(n) => ("MAXLEN", n.to_string()),
                    TrimBy::Minid(id) => ("MINID", id.to_string()),
                };
                all(&["XTRIM", key, strategy]);
                if *approximate {
                    all(&["~"]);
                }
                all(&[&threshold]);
            }
            Op::DeleteStream { key } | Op::DeleteOldRecord { key } => all(&["DEL", key]),
            Op::SetUser { name, rules, .. } => {
                all(&["ACL", "SETUSER", name, "reset"]);
                rules.iter().for_each(|rule| all(&[rule]));
            }
            Op::DeleteUser { name } => all(&["ACL", "DELUSER", name]),
            Op::SaveAcl { .. } => all(&["ACL", "SAVE"]),
            Op::RegisterUsers { namespace, users } => {
                all(&["HSET", OWNERS_KEY]);
                users.iter().for_each(|user| all(&[user, namespace]));
            }
            Op::UnregisterUsers { users } => {
                all(&["HDEL", OWNERS_KEY]);
                users.iter().for_each(|user| all(&[user]));
            }
            Op::WriteRecord { key, record: value } => match record {
                RecordArg::Json => all(&["SET", key, &value.to_json()]),
                RecordArg::Summary => all(&["SET", key, "<record>"]),
            },
        }
    }

    /// The command as sent (password hashes still placeholders).
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::with_capacity(8);
        self.each_arg(RecordArg::Json, &mut |a| args.push(a.to_owned()));
        args
    }

    /// The command for people: like [`Op::args`], with the record summarised.
    pub fn shown_args(&self) -> Vec<String> {
        let mut args = Vec::with_capacity(8);
        self.each_arg(RecordArg::Summary, &mut |a| args.push(a.to_owned()));
        args
    }

    /// The key the operation writes, if it writes one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::CreateGroup { key, .. }
            | Op::DestroyGroup { key, .. }
            | Op::Trim { key, .. }
            | Op::DeleteStream { key }
            | Op::DeleteOldRecord { key }
            | Op::WriteRecord { key, .. } => Some(key),
            Op::RegisterUsers { .. } | Op::UnregisterUsers { .. } => Some(OWNERS_KEY),
            Op::SetUser { .. } | Op::DeleteUser { .. } | Op::SaveAcl { .. } => None,
        }
    }

    /// Where the operation must run: a key's operations on the node that owns its slot;
    /// ACL users, which every node keeps for itself (never replicated), on every node,
    /// primaries and replicas alike, or on the nodes the plan names.
    pub fn route(&self) -> Route<'_> {
        match self {
            Op::SetUser {
                nodes: Some(nodes), ..
            }
            | Op::SaveAcl { nodes: Some(nodes) } => Route::Addresses(nodes),
            Op::SetUser { .. } | Op::DeleteUser { .. } | Op::SaveAcl { .. } => Route::EveryNode,
            Op::CreateGroup { key, .. }
            | Op::DestroyGroup { key, .. }
            | Op::Trim { key, .. }
            | Op::DeleteStream { key }
            | Op::DeleteOldRecord { key }
            | Op::WriteRecord { key, .. } => Route::Key(key),
            Op::RegisterUsers { .. } | Op::UnregisterUsers { .. } => Route::Key(OWNERS_KEY),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Op::SetUser { .. } | Op::DeleteUser { .. } | Op::SaveAcl { .. } => Channel::Acl,
            _ => Channel::Key,
        }
    }

    /// The server error code that means the operation was already done (another apply, or
    /// an interrupted one, did it).
    pub fn done_already_code(&self) -> Option<&'static str> {
        match self {
            Op::CreateGroup { .. } => Some("BUSYGROUP"),
            _ => None,
        }
    }

    /// Whether the operation is skipped when its key no longer exists (`XGROUP DESTROY` of
    /// a stream deleted meanwhile: what it would remove is gone already).
    pub fn needs_key(&self) -> bool {
        matches!(self, Op::DestroyGroup { .. })
    }

    /// How many password placeholders the operation holds.
    pub fn placeholders(&self) -> usize {
        match self {
            Op::SetUser { rules, .. } => rules.iter().filter(|r| *r == HASH_PLACEHOLDER).count(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_read_as_the_commands_they_send() {
        let cases = [
            (
                Op::CreateGroup {
                    key: "ns:s".into(),
                    group: "g".into(),
                    start: "$".into(),
                    entries_read: Some(3),
                },
                "XGROUP CREATE ns:s g $ ENTRIESREAD 3 MKSTREAM",
            ),
            (
                Op::Trim {
                    key: "ns:s".into(),
                    by: TrimBy::Minid(StreamId { ms: 5, seq: 0 }),
                    approximate: true,
                },
                "XTRIM ns:s MINID ~ 5-0",
            ),
            (
                Op::Trim {
                    key: "ns:s".into(),
                    by: TrimBy::Maxlen(10),
                    approximate: false,
                },
                "XTRIM ns:s MAXLEN 10",
            ),
            (
                Op::RegisterUsers {
                    namespace: "ns".to_owned(),
                    users: vec!["a".to_owned(), "b".to_owned()],
                },
                "HSET __topology__:users a ns b ns",
            ),
        ];
        for (op, expected) in cases {
            assert_eq!(op.args().join(" "), expected);
            let json = serde_json::to_string(&op).expect("serializes");
            assert_eq!(serde_json::from_str::<Op>(&json).expect("reads back"), op);
        }
    }

    #[test]
    fn keys_route_to_their_slot_owner_and_users_to_every_node() {
        let create = Op::CreateGroup {
            key: "ns:s".into(),
            group: "g".into(),
            start: "$".into(),
            entries_read: None,
        };
        assert_eq!(create.route(), Route::Key("ns:s"));
        assert_eq!(create.done_already_code(), Some("BUSYGROUP"));
        let registry = Op::UnregisterUsers {
            users: vec!["a".to_owned()],
        };
        assert_eq!(registry.route(), Route::Key(OWNERS_KEY));
        for acl in [
            Op::SaveAcl { nodes: None },
            Op::DeleteUser {
                name: "a".to_owned(),
            },
        ] {
            assert_eq!(acl.route(), Route::EveryNode);
            assert_eq!(acl.done_already_code(), None);
        }
        let some = vec!["10.0.0.2:6379".to_owned()];
        let on_some = Op::SetUser {
            name: "a".to_owned(),
            rules: vec!["on".to_owned()],
            nodes: Some(some.clone()),
        };
        assert_eq!(on_some.route(), Route::Addresses(&some));
        let json = serde_json::to_string(&on_some).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Op>(&json).expect("reads back"),
            on_some
        );
        // Without nodes, as plans saved before nodes were named: every node.
        let save: Op = serde_json::from_str(r#"{"op": "save_acl"}"#).expect("reads");
        assert_eq!(save, Op::SaveAcl { nodes: None });
    }

    #[test]
    fn operations_from_a_file_are_only_the_known_kinds_with_their_fields() {
        for tampered in [
            r#"{"op": "eval", "script": "redis.call('FLUSHALL')"}"#,
            r#"{"op": "delete_stream", "key": "ns:s", "extra": "FLUSHALL"}"#,
            r#"{"op": "trim", "key": "ns:s", "by": {"maxlen": -1}, "approximate": true}"#,
        ] {
            assert!(serde_json::from_str::<Op>(tampered).is_err(), "{tampered}");
        }
    }
}
