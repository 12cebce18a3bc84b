//! Saved plans (`plan --out FILE`, `apply --plan FILE`): a guard, never a source of commands.
//!
//! A saved plan is a file anyone with access to the CI workspace could have edited, so apply
//! never runs what it holds. `apply --plan` plans again from the topology file and the live
//! server, and runs that fresh plan only if it equals the saved one change for change and
//! operation for operation ([`reconcile`]); the first difference is named and nothing is
//! applied. The one exception is a value that depends on the moment of planning: the
//! `MINID` of a `max_age` trim is taken from the saved plan, once checked to be a `MINID`
//! trim of the same key that removes no more than a trim planned now would. A saved plan is
//! also bound to the server it was made for (host, port, database, user) and carries an id
//! that the apply running it writes into the record, so running it twice is reported as
//! such. It never holds a secret: URLs are redacted, and plans carry no passwords.

use serde::{Deserialize, Serialize};

use super::{Change, Op, Plan, TrimBy};
use crate::text::untrusted;

/// Version 2: typed operations (version 1 held command strings and is refused).
pub const FORMAT_VERSION: u32 = 2;
const KIND: &str = "redis-topology-plan";

/// A saved plan larger than this is refused unread: a plan of 100,000 new streams with two
/// groups each is about 100 MB.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub format_version: u32,
    pub kind: String,
    pub tool_version: String,
    /// Random, made when the plan is saved; the apply that runs the plan records it.
    pub id: String,
    pub target: SavedTarget,
    pub desired_digest: String,
    /// Whether the plan was made with `--prune`: apply plans again with the same option.
    pub prune: bool,
    pub plan: Plan,
}

/// The server a plan was made for. Only `url` (redacted) is for people; the rest is compared
/// with the server apply connects to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedTarget {
    pub url: String,
    /// `host:port`, or the socket path.
    pub address: String,
    pub db: i64,
    /// The ACL user the plan was made as (`None`: `default`, no user in the URL).
    pub user: Option<String>,
}

impl SavedPlan {
    pub fn new(plan: Plan, target: SavedTarget, desired_digest: String, prune: bool) -> Self {
        SavedPlan {
            format_version: FORMAT_VERSION,
            kind: KIND.to_owned(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            id: new_id(),
            target,
            desired_digest,
            prune,
            plan,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Read a saved plan; `Err` says why in one line. Only the shape is checked here: what
    /// the plan says is checked against a fresh plan by [`reconcile`].
    pub fn parse(text: &str) -> Result<SavedPlan, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
            return Err(
                "it is not a redis-topology plan (write one with `plan --out FILE`)".to_owned(),
            );
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(format!(
                "it has format_version {}, this redis-topology reads {FORMAT_VERSION}; make the plan again with this version (`plan --out FILE`)",
                version.map_or_else(|| "?".to_owned(), |v| v.to_string())
            ));
        }
        let saved: SavedPlan =
            serde_json::from_value(value).map_err(|e| format!("it is damaged ({e})"))?;
        if saved.tool_version != env!("CARGO_PKG_VERSION") {
            return Err(format!(
                "it was made by redis-topology {}, this is {}; make the plan again with this version",
                untrusted(&saved.tool_version),
                env!("CARGO_PKG_VERSION")
            ));
        }
        Ok(saved)
    }

    /// Why this plan must not run on `target`, if it must not: which of host/port, database
    /// and user differ.
    pub fn target_mismatch(&self, target: &SavedTarget) -> Option<String> {
        let saved = &self.target;
        let mut differ = Vec::new();
        if saved.address != target.address {
            differ.push(format!(
                "it was made for {}, this is {}",
                untrusted(&saved.address),
                target.address
            ));
        }
        if saved.db != target.db {
            differ.push(format!(
                "database {} (this is database {})",
                saved.db, target.db
            ));
        }
        if saved.user != target.user {
            let user = |u: &Option<String>| {
                u.as_deref()
                    .map_or_else(|| "default".to_owned(), |u| untrusted(u).into_owned())
            };
            differ.push(format!(
                "user `{}` (this is user `{}`)",
                user(&saved.user),
                user(&target.user)
            ));
        }
        (!differ.is_empty()).then(|| {
            format!(
                "the saved plan is for another server: {}",
                differ.join("; ")
            )
        })
    }
}

/// A random id for a saved plan (not a secret: it only tells plans apart).
fn new_id() -> String {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let a = state.hash_one((now, std::process::id()));
    let b = std::collections::hash_map::RandomState::new().hash_one((a, now));
    format!("{a:016x}{b:016x}")
}

/// The fresh plan, made now from the topology and the server, if it is the saved plan:
/// the same namespace and environment, the same changes in the same order (address, kind,
/// action, destructive), each with the same operations. Before and after states, reasons
/// and notes are for people and may differ (a stream's length moves with every message).
/// `MINID` trims keep the saved bound (see the module's comment); the record keeps the
/// fresh time of apply. `Err` names the first difference.
pub fn reconcile(saved: &Plan, mut fresh: Plan) -> Result<Plan, String> {
    if saved.namespace != fresh.namespace || saved.environment != fresh.environment {
        return Err(format!(
            "the saved plan is for namespace `{}`{}, the topology gives namespace `{}`{}",
            untrusted(&saved.namespace),
            environment(&saved.environment),
            fresh.namespace,
            environment(&fresh.environment)
        ));
    }
    let count = saved.changes.len().max(fresh.changes.len());
    for index in 0..count {
        match (saved.changes.get(index), fresh.changes.get_mut(index)) {
            (Some(saved), Some(fresh)) => reconcile_change(saved, fresh)
                .map_err(|why| format!("change {}{why}", index + 1))?,
            (Some(saved), None) => {
                return Err(format!(
                    "the saved plan has change {} `{}` ({}), which a plan made now does not have",
                    index + 1,
                    untrusted(&saved.address),
                    describe_change(saved)
                ));
            }
            (None, Some(fresh)) => {
                return Err(format!(
                    "a plan made now has change {} `{}` ({}), which the saved plan does not have",
                    index + 1,
                    fresh.address,
                    describe_change(fresh)
                ));
            }
            (None, None) => {}
        }
    }
    Ok(fresh)
}

fn environment(env: &Option<String>) -> String {
    env.as_deref()
        .map_or_else(String::new, |e| format!(", environment `{}`", untrusted(e)))
}

fn describe_change(change: &Change) -> String {
    let ops: Vec<String> = change
        .ops()
        .iter()
        .map(|op| untrusted(&op.shown_args().join(" ")).into_owned())
        .collect();
    format!("{:?}: {}", change.action, ops.join("; ")).to_lowercase()
}

fn reconcile_change(saved: &Change, fresh: &mut Change) -> Result<(), String> {
    if (&saved.address, saved.kind, saved.action, saved.destructive)
        != (&fresh.address, fresh.kind, fresh.action, fresh.destructive)
    {
        return Err(format!(
            ": the saved plan has `{}` ({}{}), a plan made now has `{}` ({}{})",
            untrusted(&saved.address),
            format!("{:?}", saved.action).to_lowercase(),
            if saved.destructive {
                ", destructive"
            } else {
                ""
            },
            fresh.address,
            format!("{:?}", fresh.action).to_lowercase(),
            if fresh.destructive {
                ", destructive"
            } else {
                ""
            },
        ));
    }
    if saved.ops().len() != fresh.ops().len() {
        return Err(format!(
            " `{}`: the saved plan has {} operations, a plan made now has {}: saved `{}`, now `{}`",
            fresh.address,
            saved.ops().len(),
            fresh.ops().len(),
            describe_change(saved),
            describe_change(fresh)
        ));
    }
    for (position, (saved_op, fresh_op)) in
        saved.ops().iter().zip(fresh.extra.iter_mut()).enumerate()
    {
        reconcile_op(saved_op, fresh_op).map_err(|why| {
            format!(
                " `{}`, operation {}: {why}: saved `{}`, now `{}`",
                fresh.address,
                position + 1,
                untrusted(&saved_op.shown_args().join(" ")),
                fresh_op.shown_args().join(" ")
            )
        })?;
    }
    Ok(())
}

/// The same operation; a `MINID` bound taken from the saved plan when it trims no more than
/// the fresh one would.
fn reconcile_op(saved: &Op, fresh: &mut Op) -> Result<(), String> {
    match (saved, fresh) {
        (
            Op::Trim {
                key: saved_key,
                by: TrimBy::Minid(saved_id),
                approximate: saved_approximate,
            },
            Op::Trim {
                key,
                by: TrimBy::Minid(fresh_id),
                approximate,
            },
        ) if saved_key == key && saved_approximate == approximate => {
            if saved_id > fresh_id {
                return Err(
                    "its MINID is later than a plan made now would use (it would remove entries younger than max_age)"
                        .to_owned(),
                );
            }
            *fresh_id = *saved_id;
            Ok(())
        }
        (
            Op::WriteRecord {
                key: saved_key,
                record: saved_record,
            },
            Op::WriteRecord { key, record },
        ) => {
            let moment = |r: &crate::record::Record| crate::record::Record {
                applied_at_ms: 0,
                applied_plan: None,
                ..r.clone()
            };
            if saved_key == key && moment(saved_record) == moment(record) {
                Ok(())
            } else {
                Err("the record it writes differs".to_owned())
            }
        }
        (saved, fresh) if saved == fresh => Ok(()),
        _ => Err("the operations differ".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::StreamId;
    use crate::plan::{Action, Kind};

    fn change(address: &str, ops: Vec<Op>) -> Change {
        Change {
            address: address.to_owned(),
            kind: Kind::Group,
            action: Action::Create,
            destructive: false,
            before: None,
            after: None,
            extra: ops,
            reason: "r".to_owned(),
            details: Vec::new(),
        }
    }

    fn create(key: &str, group: &str) -> Op {
        Op::CreateGroup {
            key: key.to_owned(),
            group: group.to_owned(),
            start: "$".to_owned(),
            entries_read: None,
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            namespace: "ns".to_owned(),
            environment: Some("prod".to_owned()),
            changes,
            notes: Vec::new(),
        }
    }

    fn trim(minid_ms: u64) -> Op {
        Op::Trim {
            key: "ns:s".to_owned(),
            by: TrimBy::Minid(StreamId {
                ms: minid_ms,
                seq: 0,
            }),
            approximate: true,
        }
    }

    #[test]
    fn an_equal_plan_is_the_fresh_plan() {
        let saved = plan(vec![change("group.s.g", vec![create("ns:s", "g")])]);
        assert_eq!(reconcile(&saved, saved.clone()), Ok(saved));
    }

    #[test]
    fn every_tampering_is_named() {
        let fresh = plan(vec![
            change("group.s.g", vec![create("ns:s", "g")]),
            change("group.s.h", vec![create("ns:s", "h")]),
        ]);
        let mut injected = fresh.clone();
        injected.changes.insert(
            1,
            change(
                "user.intruder",
                vec![Op::SetUser {
                    name: "intruder".to_owned(),
                    rules: vec!["on".into(), "nopass".into(), "+@all".into(), "~*".into()],
                }],
            ),
        );
        let mut extra_op = fresh.clone();
        extra_op.changes[0].extra.push(create("victim:stream", "g"));
        let mut other_key = fresh.clone();
        other_key.changes[1].extra[0] = create("victim:stream", "h");
        let mut removed = fresh.clone();
        removed.changes.pop();
        let mut duplicated = fresh.clone();
        duplicated.changes.push(fresh.changes[1].clone());
        let mut destructive = fresh.clone();
        destructive.changes[0].destructive = true;
        let mut other_namespace = fresh.clone();
        other_namespace.namespace = "victim".to_owned();
        let cases = [
            (injected, "change 2: the saved plan has `user.intruder`"),
            (
                extra_op,
                "change 1 `group.s.g`: the saved plan has 2 operations",
            ),
            (
                other_key,
                "change 2 `group.s.h`, operation 1: the operations differ",
            ),
            (removed, "a plan made now has change 2 `group.s.h`"),
            (duplicated, "the saved plan has change 3 `group.s.h`"),
            (destructive, "(create, destructive)"),
            (other_namespace, "namespace `victim`"),
        ];
        for (saved, expected) in cases {
            let why = reconcile(&saved, fresh.clone()).expect_err(expected);
            assert!(why.contains(expected), "{expected:?} not in {why:?}");
        }
    }

    #[test]
    fn a_minid_comes_from_the_saved_plan_only_if_it_removes_no_more() {
        let fresh = plan(vec![change("retention.s", vec![trim(2_000)])]);
        let earlier = plan(vec![change("retention.s", vec![trim(1_000)])]);
        let reconciled = reconcile(&earlier, fresh.clone()).expect("same trim, earlier bound");
        assert_eq!(reconciled.changes[0].ops()[0], trim(1_000));
        let later = plan(vec![change("retention.s", vec![trim(9_000)])]);
        let why = reconcile(&later, fresh.clone()).expect_err("a later bound removes more");
        assert!(why.contains("MINID is later"), "{why}");
        let maxlen = plan(vec![change(
            "retention.s",
            vec![Op::Trim {
                key: "ns:s".to_owned(),
                by: TrimBy::Maxlen(0),
                approximate: true,
            }],
        )]);
        assert!(reconcile(&maxlen, fresh).is_err(), "another kind of trim");
    }

    #[test]
    fn plans_of_another_format_or_with_unknown_fields_are_refused() {
        let saved = SavedPlan::new(
            plan(vec![change("group.s.g", vec![create("ns:s", "g")])]),
            SavedTarget {
                url: "redis://127.0.0.1:6379".to_owned(),
                address: "127.0.0.1:6379".to_owned(),
                db: 0,
                user: None,
            },
            "d".to_owned(),
            false,
        );
        let json = saved.to_json();
        assert_eq!(SavedPlan::parse(&json), Ok(saved.clone()));
        let old = json.replace("\"format_version\": 2", "\"format_version\": 1");
        assert!(
            SavedPlan::parse(&old)
                .unwrap_err()
                .contains("format_version 1")
        );
        let injected = json.replace(
            "\"op\": \"create_group\"",
            "\"op\": \"create_group\", \"command\": [\"FLUSHALL\"]",
        );
        assert!(SavedPlan::parse(&injected).unwrap_err().contains("damaged"));
        let eval = json.replace("\"op\": \"create_group\"", "\"op\": \"eval\"");
        assert!(SavedPlan::parse(&eval).unwrap_err().contains("damaged"));
    }

    #[test]
    fn a_plan_names_the_server_it_was_made_for() {
        let target = SavedTarget {
            url: "redis://app:***@10.0.0.1:6379/2".to_owned(),
            address: "10.0.0.1:6379".to_owned(),
            db: 2,
            user: Some("app".to_owned()),
        };
        let saved = SavedPlan::new(plan(Vec::new()), target.clone(), "d".to_owned(), false);
        assert_eq!(saved.target_mismatch(&target), None);
        let other = SavedTarget {
            address: "10.0.0.2:6379".to_owned(),
            db: 0,
            user: None,
            ..target
        };
        let why = saved.target_mismatch(&other).expect("another server");
        for part in [
            "10.0.0.1:6379",
            "database 2",
            "user `app`",
            "user `default`",
        ] {
            assert!(why.contains(part), "{part} not in {why}");
        }
    }
}
