//! Why the planner refuses to plan: one variant per reason, each holding what it names.
//!
//! Every refusal prints as one line that says what is wrong and what to do. Values that
//! came from the server (an owner in the users registry, an entry of the record) are kept
//! as read and escaped when printed ([`untrusted`]), so an entry cannot forge output lines;
//! names from the topology file are validated already and printed as they are.

use crate::live::StreamId;
use crate::model::types::DEFAULT_USER;
use crate::record::OWNERS_KEY;
use crate::text::untrusted;
use crate::validate::names::Problem;

/// Why no plan can be made; found before anything is written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The namespace was applied for another environment (the record says which).
    #[error(
        "namespace `{namespace}` was applied for {}, not {}: refusing to mix environments (check --env and the namespace)",
        describe_env(.recorded),
        describe_env(.declared)
    )]
    EnvironmentMismatch {
        namespace: String,
        /// The environment the record names.
        recorded: Option<String>,
        /// The environment planned now.
        declared: Option<String>,
    },
    /// A declared stream's key holds another type (`kind`: the server's word, escaped when
    /// read).
    #[error(
        "key `{key}` exists and holds a {kind}, not a stream: rename the stream in the topology or remove the key by hand"
    )]
    WrongType { key: String, kind: String },
    /// A new group would start past the stream's last entry ID, skipping every entry up to it.
    #[error(
        "group `{group}` of `{key}` would start at {start}, after the stream's last entry ID {last}: it would skip every entry until then. Use `$` for only new entries, or an ID that exists"
    )]
    StartAfterLastEntry {
        group: String,
        key: String,
        start: StreamId,
        last: StreamId,
    },
    /// A new group declares more entries read than the stream ever had.
    #[error(
        "group `{group}` of `{key}` declares entries_read {read}, but only {added} entries were ever added to the stream"
    )]
    EntriesReadPastAdded {
        group: String,
        key: String,
        read: u64,
        added: u64,
    },
    /// A declared user is registered to another namespace (`owner`, from the registry).
    #[error(
        "ACL user `{name}` is managed by the topology of namespace `{}` (registry `{OWNERS_KEY}`): ACL user names are global to a server. If both share this server, {}; otherwise rename the user here, or remove it there first",
        untrusted(.owner),
        name_prefix_advice(.environment)
    )]
    UserOfAnotherNamespace {
        name: String,
        owner: String,
        /// The environment planned, for the advice on name prefixes.
        environment: Option<String>,
    },
    /// A declared user's rules do not resolve against this server's commands (`why`).
    #[error("ACL user `{name}`: {why}")]
    UnknownRules { name: String, why: String },
    /// `default` is managed by another namespace (`owner`), and declared otherwise here.
    #[error(
        "ACL user `{DEFAULT_USER}` is managed by the topology of namespace `{}` (registry `{OWNERS_KEY}`), and this topology declares it otherwise: a server has one `{DEFAULT_USER}` user, so one topology manages it. Declare it here exactly as there (it is then left to `{}`), or leave it out of this topology (in an environment: `acl: {{ users: {{ {DEFAULT_USER}: null }} }}`)",
        untrusted(.owner),
        untrusted(.owner)
    )]
    DefaultUserDiffers { owner: String },
    /// The topology changes a user the tool must not change (`why`: which one it is).
    #[error("{}", lockout(.name, .why))]
    Lockout { name: String, why: &'static str },
    /// `--prune` would delete a user the tool must not change.
    #[error("ACL user `{name}` {why}; --prune would delete it. Run apply as another user")]
    PruneLockout { name: String, why: &'static str },
    /// The record lists an entry the planner must not act on.
    #[error(
        "the record `{record_key}` lists {entry}, which {problem}; {}",
        record_advice(.record_key)
    )]
    Record {
        /// The record's key as read (under its name, or its old name).
        record_key: String,
        entry: RecordEntry,
        problem: EntryProblem,
    },
    /// The record lists a user the file no longer declares (one prune would delete) that
    /// the registry does not assign to this namespace (`owner`: whom it does assign it to).
    #[error(
        "the record `{record_key}` lists ACL user `{}`, which {}; {}. If namespace `{namespace}` does manage this user, register it: `HSET {OWNERS_KEY} {} {namespace}`",
        untrusted(.user),
        ownership(.namespace, .owner.as_deref()),
        record_advice(.record_key),
        untrusted(.user)
    )]
    RecordedUserNotOurs {
        record_key: String,
        user: String,
        namespace: String,
        owner: Option<String>,
    },
    /// The registry names, for a user of this topology, an owner that is not a namespace.
    #[error(
        "the users registry `{OWNERS_KEY}` says ACL user `{}` belongs to namespace `{}`, which is not a namespace (it {why}): nothing was changed. The registry is data anyone with write access to it can edit: set the entry to the namespace that manages the user (`HSET {OWNERS_KEY} <user> <namespace>`) or remove it (`HDEL {OWNERS_KEY} <user>`)",
        untrusted(.user),
        untrusted(.owner)
    )]
    RegistryOwner {
        user: String,
        owner: String,
        why: Problem,
    },
}

/// An entry of the record, as read (escaped when printed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordEntry {
    #[error("stream `{}`", untrusted(.key))]
    Stream { key: String },
    #[error("group `{}` of stream `{}`", untrusted(.group), untrusted(.key))]
    Group { group: String, key: String },
    #[error("ACL user `{}`", untrusted(.name))]
    User { name: String },
}

/// What is wrong with an entry of the record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("is outside namespace `{namespace}`")]
    OutsideNamespace { namespace: String },
    #[error("is not a stream this tool manages: its name {0}")]
    NotAStream(Problem),
    #[error("is not a group this tool manages: its name {0}")]
    NotAGroup(Problem),
    /// A group's recorded start, as read.
    #[error(
        "was created with start `{}`, which is no start (`$`, `0` or an entry ID)",
        untrusted(.start)
    )]
    NotAStart { start: String },
    #[error("is not a user name: it {0}")]
    NotAUserName(Problem),
}

fn describe_env(env: &Option<String>) -> String {
    match env {
        Some(env) => format!("environment `{env}`"),
        None => "no environment".to_owned(),
    }
}

/// How environments sharing a server keep their users apart.
fn name_prefix_advice(environment: &Option<String>) -> String {
    match environment {
        Some(env) => format!(
            "give this environment's users a name prefix (under `environments.{env}`: `acl: {{ user_names: {{ prefix: \"{env}-\" }} }}`, docs/format.md)"
        ),
        None => "give this topology's users a name prefix (`acl: { user_names: { prefix: \"<prefix>-\" } }`, docs/format.md)".to_owned(),
    }
}

/// The refusal for a change to a user the tool must not change.
fn lockout(name: &str, why: &str) -> String {
    if name == DEFAULT_USER {
        return format!(
            "ACL user `{DEFAULT_USER}` {why} (the server URL names no user, or `{DEFAULT_USER}`), and the topology asks to change it: disabling or restricting `{DEFAULT_USER}` would lock the tool out mid-apply, since a user's new rules apply to its open connections at once. Connect as a named user first: create the apply user of docs/operations.md (\"Least-privilege users for the tool\") while `{DEFAULT_USER}` is still open, then run with `--url redis://topology-apply:PASSWORD@HOST:PORT` (or that URL in REDIS_URL or --url-file)"
        );
    }
    format!(
        "ACL user `{name}` {why}; the topology asks to change it, and a user's new rules apply to its open connections at once, which could lock the tool out. Run apply as another user (docs/operations.md), or make the declaration match the server"
    )
}

/// What to do about a record that cannot be trusted.
fn record_advice(key: &str) -> String {
    format!(
        "nothing was changed. The record is data anyone with write access to it can edit: restore it from a trusted copy, or delete it (`DEL {key}`) so that the next apply records the declared streams and users again (what it no longer lists is then kept, never pruned)"
    )
}

/// Why a recorded user's registry entry (`owner`) does not make it this namespace's.
fn ownership(namespace: &str, owner: Option<&str>) -> String {
    match owner {
        Some(other) => format!(
            "the users registry `{OWNERS_KEY}` assigns to namespace `{}`, not `{namespace}`",
            untrusted(other)
        ),
        None => format!(
            "the users registry `{OWNERS_KEY}` does not assign to namespace `{namespace}` (it has no entry for it)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_data() {
        let read_past = Refusal::EntriesReadPastAdded {
            group: "g".to_owned(),
            key: "app:s".to_owned(),
            read: 9,
            added: 3,
        };
        assert_eq!(
            read_past.to_string(),
            "group `g` of `app:s` declares entries_read 9, but only 3 entries were ever added to the stream"
        );
    }

    #[test]
    fn what_came_from_the_server_is_escaped_when_printed() {
        let forged = "a b\nerror: the plan was approved";
        let refusal = Refusal::Record {
            record_key: "{__topology__:app}:record".to_owned(),
            entry: RecordEntry::User {
                name: forged.to_owned(),
            },
            problem: EntryProblem::NotAUserName(Problem::Invalid("contains whitespace".to_owned())),
        };
        let text = refusal.to_string();
        assert!(
            text.starts_with(
                "the record `{__topology__:app}:record` lists ACL user `a b\\nerror: the plan was approved`, which is not a user name: it contains whitespace; nothing was changed."
            ),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        // The data stays as read: only its printing is escaped.
        let Refusal::Record {
            entry: RecordEntry::User { name },
            ..
        } = refusal
        else {
            panic!("a record refusal");
        };
        assert_eq!(name, forged);
    }
}
