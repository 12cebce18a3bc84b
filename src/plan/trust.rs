//! The record and the users registry are untrusted input.
//!
//! Both are plain data in Redis: anyone with write access to `{__topology__:<ns>}:record` (or,
//! while it does not exist, to its old name `<ns>:__topology__:record`) or to
//! `__topology__:users` can edit them, and `apply --prune` deletes what the record lists. So
//! before anything else the planner checks every entry it could act on, and refuses (naming
//! the entry, saying what to do) when one:
//!
//! - names a stream key outside this namespace (`victim:stream` in the record of `app`), or one
//!   whose name, relative to the namespace, breaks the format's stream name rules (a reserved
//!   `__topology__` part, whitespace, a glob character);
//! - names a consumer group the format would not allow (such as `__topology__:mkstream`);
//! - lists an ACL user the file no longer declares (one prune would delete) that the registry
//!   does not assign to this namespace (another namespace's user, or an unregistered one);
//! - or the registry names, for a user this topology declares or records, an owner that is not
//!   a namespace at all.
//!
//! With these refused, prune only ever touches keys inside the namespace that the record lists
//! and users the registry assigns to this namespace. For the empty namespace every key is
//! inside the namespace: its record may name any key that is a valid stream name and not the
//! tool's own (give such a topology a database of its own).
//!
//! Declared users are not checked against the registry here: what apply does to them comes
//! from the file, and a user registered to another namespace is refused by `users::refusals`.
//!
//! Pure: desired + live in, refusals out. Text from the server is shown through
//! [`crate::text::untrusted`], so an entry cannot forge output lines.

use super::{EntryProblem, RecordEntry, Refusal};
use crate::live::LiveState;
use crate::model::desired::Desired;
use crate::record::{Record, RecordedStream, legacy_record_key, record_key};
use crate::validate::names;

/// Every entry of the record and the registry that the planner must not act on.
pub fn record_refusals(desired: &Desired, live: &LiveState) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    if let Some(record) = &live.record {
        let key = read_key(&desired.namespace, live.record_under_old_name);
        refusals.extend(stream_refusals(desired, record, &key));
        refusals.extend(user_refusals(desired, live, record, &key));
    }
    refusals.extend(registry_refusals(desired, live));
    refusals
}

/// The key the record was read from: under its name, or under its old name.
fn read_key(namespace: &str, under_old_name: bool) -> String {
    if under_old_name {
        legacy_record_key(namespace)
    } else {
        record_key(namespace)
    }
}

/// The refusal of an entry of the record (read from `record_key`).
fn refuse(record_key: &str, entry: RecordEntry, problem: EntryProblem) -> Refusal {
    Refusal::Record {
        record_key: record_key.to_owned(),
        entry,
        problem,
    }
}

/// Recorded stream keys outside the namespace or with names the format forbids, and
/// recorded groups with names the format forbids.
fn stream_refusals(desired: &Desired, record: &Record, record_key: &str) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    for (key, stream) in &record.streams {
        match stream_problem(&desired.namespace, key) {
            Some(problem) => {
                let entry = RecordEntry::Stream {
                    key: key.to_string(),
                };
                refusals.push(refuse(record_key, entry, problem));
            }
            None => refusals.extend(group_refusals(key, stream, record_key)),
        }
    }
    refusals
}

/// Why a recorded key is not a stream of this namespace that the tool could manage.
fn stream_problem(namespace: &str, key: &str) -> Option<EntryProblem> {
    let Some(name) = relative_name(namespace, key) else {
        return Some(EntryProblem::OutsideNamespace {
            namespace: namespace.to_owned(),
        });
    };
    names::stream_problem(name).map(EntryProblem::NotAStream)
}

/// Recorded groups of a stream whose names the format forbids, or whose recorded `start`
/// is not a start a group can be created with (the plan quotes it in a note).
fn group_refusals(key: &str, stream: &RecordedStream, record_key: &str) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    for (group, recorded) in stream.groups.iter() {
        let problem = match names::group_problem(group) {
            Some(problem) => EntryProblem::NotAGroup(problem),
            None if !is_start(&recorded.start) => EntryProblem::NotAStart {
                start: recorded.start.to_string(),
            },
            None => continue,
        };
        let entry = RecordEntry::Group {
            group: group.to_string(),
            key: key.to_owned(),
        };
        refusals.push(refuse(record_key, entry, problem));
    }
    refusals
}

/// What the record may say a group started at: `$`, or an entry ID (`0`, `<ms>-<seq>`).
fn is_start(start: &str) -> bool {
    start == "$" || crate::live::StreamId::parse(start).is_some()
}

/// A key's name relative to the namespace; `None` when the key is outside it.
fn relative_name<'a>(namespace: &str, key: &'a str) -> Option<&'a str> {
    if namespace.is_empty() {
        return Some(key);
    }
    key.strip_prefix(namespace)?.strip_prefix(':')
}

/// Recorded users with names the format forbids, and recorded users the file no longer
/// declares (prune would delete them) that the registry does not assign to this namespace.
fn user_refusals(
    desired: &Desired,
    live: &LiveState,
    record: &Record,
    record_key: &str,
) -> Vec<Refusal> {
    let owners = live.acl().map(|acl| &acl.owners);
    let mut refusals = Vec::new();
    for user in &record.users {
        if let Some(problem) = names::user_problem(user) {
            let entry = RecordEntry::User { name: user.clone() };
            refusals.push(refuse(
                record_key,
                entry,
                EntryProblem::NotAUserName(problem),
            ));
        } else if let Some(owners) = owners
            && !desired.users.contains_key(user)
        {
            let owner = owners.get(user);
            if owner != Some(&desired.namespace) {
                refusals.push(Refusal::RecordedUserNotOurs {
                    record_key: record_key.to_owned(),
                    user: user.clone(),
                    namespace: desired.namespace.clone(),
                    owner: owner.cloned(),
                });
            }
        }
        // No ACL state read: users are then neither compared nor changed at all.
    }
    refusals
}

/// Registry entries (for the users this topology declares or records) whose owner is not a
/// namespace the format allows. `default` is read for every topology with users (to note
/// when it is open): its entry matters only where it is declared or recorded.
fn registry_refusals(desired: &Desired, live: &LiveState) -> Vec<Refusal> {
    let Some(acl) = live.acl() else {
        return Vec::new();
    };
    let ours = |user: &str| {
        desired.users.contains_key(user)
            || live.record.as_ref().is_some_and(|r| r.users.contains(user))
    };
    acl.owners
        .iter()
        .filter(|(user, _)| ours(user))
        .filter_map(|(user, owner)| {
            Some(Refusal::RegistryOwner {
                user: user.clone(),
                owner: owner.clone(),
                why: names::namespace_problem(owner)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::acl::Catalog;
    use crate::live::{LiveAcl, LiveGroup, LiveKey, LiveNode, LiveStream, LiveUser};
    use crate::model::desired::{DesiredRetention, DesiredStream};
    use crate::plan::{Op, Options, plan};
    use crate::record::{FORMAT, RecordedGroup};
    use crate::small_map::SmallMap;

    /// Namespace `app` declaring stream `app:orders` and no users.
    fn desired() -> Desired {
        let orders = DesiredStream {
            name: "orders".into(),
            retention: DesiredRetention::default(),
            groups: SmallMap::new(),
            schema: None,
            producers: Vec::new(),
        };
        Desired {
            namespace: "app".to_owned(),
            environment: None,
            streams: BTreeMap::from([("app:orders".to_owned(), orders)]),
            digest: crate::model::desired::LazyDigest::known("d"),
            users: BTreeMap::new(),
            health: Default::default(),
        }
    }

    fn existing(groups: &[&str]) -> LiveKey {
        LiveKey::Stream(Box::new(LiveStream {
            length: 3,
            groups: groups
                .iter()
                .map(|g| ((*g).into(), LiveGroup::default()))
                .collect(),
            ..LiveStream::default()
        }))
    }

    /// A server where `app:orders` exists and was recorded, plus whatever the record was
    /// edited to list: the keys in `extra` exist (as streams) too.
    fn live(extra: &[&str], users: &[&str], owners: &[(&str, &str)]) -> LiveState {
        let mut streams = BTreeMap::from([("app:orders".into(), RecordedStream::default())]);
        let mut keys = BTreeMap::from([("app:orders".to_owned(), existing(&[]))]);
        for key in extra {
            streams.insert((*key).into(), RecordedStream::default());
            keys.insert((*key).to_owned(), existing(&[]));
        }
        let record = Record {
            format: FORMAT,
            environment: None,
            digest: "d".to_owned(),
            applied_at_ms: 1,
            tool_version: "0".to_owned(),
            streams,
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            serial: 1,
            applied_plan: None,
        };
        let acl = (!users.is_empty() || !owners.is_empty()).then(|| LiveAcl {
            whoami: "topology-apply".to_owned(),
            masteruser: None,
            aclfile: Some(false),
            pubsub_default_all: Some(false),
            catalog: Catalog::default(),
            users: users
                .iter()
                .map(|u| ((*u).to_owned(), LiveUser::default()))
                .collect(),
            owners: owners
                .iter()
                .map(|(u, o)| ((*u).to_owned(), (*o).to_owned()))
                .collect(),
        });
        LiveState {
            keys,
            record: Some(record),
            record_under_old_name: false,
            record_node: 0,
            nodes: vec![LiveNode {
                now_ms: 1,
                acl,
                ..LiveNode::UNREAD
            }],
        }
    }

    /// The planner's refusals for a prune; panics if it would plan instead.
    fn refused(desired: &Desired, live: &LiveState) -> String {
        match plan(desired, live, Options { prune: true }) {
            Ok(plan) => panic!(
                "planned instead of refusing: {:?}",
                plan.ops().collect::<Vec<_>>()
            ),
            Err(refusals) => refusals
                .into_iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn a_recorded_stream_outside_the_namespace_is_refused_by_name() {
        // A stream of the namespace is pruned as recorded...
        let state = live(&["app:old"], &[], &[]);
        let plan = plan(&desired(), &state, Options { prune: true }).expect("plan");
        let deletes: Vec<&Op> = plan
            .ops()
            .filter(|op| matches!(op, Op::DeleteStream { .. }))
            .collect();
        assert_eq!(
            deletes,
            [&Op::DeleteStream {
                key: "app:old".into()
            }]
        );
        // ...one outside it stops the plan.
        for key in ["victim:stream", "application:orders", "ap", "app"] {
            let text = refused(&desired(), &live(&[key], &[], &[]));
            assert!(
                text.contains(&format!(
                    "lists stream `{key}`, which is outside namespace `app`"
                )),
                "{text}"
            );
            assert!(text.contains("DEL {__topology__:app}:record"), "{text}");
        }
        // A record read under its old name is named by that name.
        let mut state = live(&["victim:stream"], &[], &[]);
        state.record_under_old_name = true;
        let text = refused(&desired(), &state);
        assert!(
            text.contains("the record `app:__topology__:record` lists stream `victim:stream`"),
            "{text}"
        );
        assert!(text.contains("DEL app:__topology__:record"), "{text}");
    }

    #[test]
    fn a_recorded_start_that_is_no_start_is_refused_escaped() {
        let mut state = live(&[], &[], &[]);
        if let Some(record) = state.record.as_mut() {
            let forged = "0\nerror: forged line\u{1b}[31m";
            let groups = [("g", forged), ("h", "$"), ("i", "5-1")]
                .into_iter()
                .map(|(g, start)| {
                    let start = RecordedGroup {
                        start: start.into(),
                    };
                    (g.into(), start)
                })
                .collect();
            record
                .streams
                .insert("app:orders".into(), RecordedStream { groups });
        }
        let text = refused(&desired(), &state);
        assert!(
            text.contains("lists group `g` of stream `app:orders`, which was created with start `0\\nerror: forged line\\u{1b}[31m`, which is no start"),
            "{text}"
        );
        assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
        assert_eq!(text.matches("which is no start").count(), 1, "{text}");
    }

    #[test]
    fn recorded_names_that_break_the_format_are_refused() {
        for key in [
            "app:__topology__:record",
            "app:__topology__:lock",
            "app:eu:__topology__:record",
            "app:{__topology__:app}:record",
            "app:a b",
            "app:a*",
            "app:",
        ] {
            let text = refused(&desired(), &live(&[key], &[], &[]));
            assert!(
                text.contains("is not a stream this tool manages"),
                "{key}: {text}"
            );
        }
        let mut state = live(&[], &[], &[]);
        if let Some(record) = state.record.as_mut() {
            let groups = [crate::plan::MKSTREAM_GROUP, "bad group"]
                .into_iter()
                .map(|g| {
                    let start = RecordedGroup { start: "$".into() };
                    (g.into(), start)
                })
                .collect();
            record
                .streams
                .insert("app:orders".into(), RecordedStream { groups });
        }
        let text = refused(&desired(), &state);
        assert!(
            text.contains("lists group `__topology__:mkstream` of stream `app:orders`"),
            "{text}"
        );
        assert!(text.contains("lists group `bad group`"), "{text}");
    }

    #[test]
    fn a_recorded_user_of_another_namespace_or_of_none_is_refused() {
        // A user the registry gives to this namespace is pruned as recorded...
        let state = live(&[], &["old"], &[("old", "app")]);
        let plan = plan(&desired(), &state, Options { prune: true }).expect("plan");
        assert!(
            plan.ops().any(|op| op
                == &Op::DeleteUser {
                    name: "old".to_owned()
                }),
            "{plan:?}"
        );
        // ...one it gives to another namespace, or to none, stops the plan.
        let text = refused(
            &desired(),
            &live(&[], &["victim-admin"], &[("victim-admin", "victim")]),
        );
        assert!(
            text.contains("lists ACL user `victim-admin`, which the users registry `__topology__:users` assigns to namespace `victim`, not `app`"),
            "{text}"
        );
        assert!(
            text.contains("HSET __topology__:users victim-admin app"),
            "{text}"
        );
        let text = refused(&desired(), &live(&[], &["victim-admin"], &[]));
        assert!(
            text.contains("does not assign to namespace `app`"),
            "{text}"
        );
    }

    #[test]
    fn registry_entries_that_are_no_namespace_are_refused() {
        let mut d = desired();
        d.users.insert(
            "worker".to_owned(),
            crate::model::desired::DesiredUser {
                enabled: true,
                nopass: true,
                password_hashes: Vec::new(),
                unknown_passwords: Vec::new(),
                keys: Vec::new(),
                channels: Vec::new(),
                commands: Vec::new(),
                selectors: Vec::new(),
            },
        );
        for owner in ["a b", "x*", "__topology__", "ns\nerror: forged"] {
            let state = live(&[], &[], &[("worker", owner)]);
            let text = refused(&d, &state);
            assert!(
                text.contains("says ACL user `worker` belongs to namespace"),
                "{owner}: {text}"
            );
            let own: Vec<String> = record_refusals(&d, &state)
                .into_iter()
                .map(|r| r.to_string())
                .collect();
            assert_eq!(own.len(), 1, "{own:?}");
            assert!(
                !own[0].contains('\n'),
                "an entry cannot start a line: {own:?}"
            );
        }
        let state = live(&[], &[], &[("worker", "")]);
        assert!(
            record_refusals(&d, &state).is_empty(),
            "`\"\"` is the empty namespace"
        );
        // `default` is read for every topology with users: its entry counts only where it
        // is declared or recorded.
        let state = live(&[], &[], &[("worker", "app"), ("default", "a b")]);
        assert!(record_refusals(&d, &state).is_empty());
        let mut with_default = d.clone();
        let default = d.users.get("worker").cloned().expect("worker");
        with_default.users.insert("default".to_owned(), default);
        let text = refused(&with_default, &state);
        assert!(
            text.contains("says ACL user `default` belongs to namespace `a b`"),
            "{text}"
        );
    }

    #[test]
    fn the_empty_namespace_owns_every_valid_key_but_not_the_tools_own() {
        let mut d = desired();
        d.namespace = String::new();
        let state = live(&["victim:stream"], &[], &[]);
        assert!(record_refusals(&d, &state).is_empty());
        for key in [
            "__topology__:users",
            "shop:__topology__:record",
            "{__topology__:shop}:record",
            "{__topology__}:lock",
        ] {
            let state = live(&[key], &[], &[]);
            let text = refused(&d, &state);
            assert!(text.contains("is not a stream this tool manages"), "{text}");
        }
    }
}
