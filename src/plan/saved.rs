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
/// The version of this redis-topology, which only reads plans it made.
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

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
            tool_version: TOOL_VERSION.to_owned(),
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
    pub fn parse(text: &str) -> Result<SavedPlan, Unusable> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| Unusable::NotJson { source })?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
            return Err(Unusable::NotAPlan);
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(Unusable::FormatVersion { found: version });
        }
        let saved: SavedPlan =
            serde_json::from_value(value).map_err(|source| Unusable::Damaged { source })?;
        if saved.tool_version != TOOL_VERSION {
            return Err(Unusable::ToolVersion {
                found: saved.tool_version,
            });
        }
        Ok(saved)
    }

    /// Why this plan must not run on `target`, if it must not: which of host/port, database
    /// and user differ.
    pub fn target_mismatch(&self, target: &SavedTarget) -> Option<OtherServer> {
        let saved = &self.target;
        let mismatch = OtherServer {
            address: differ(&saved.address, &target.address),
            db: differ(&saved.db, &target.db),
            user: differ(&saved.user, &target.user),
        };
        (mismatch != OtherServer::default()).then_some(mismatch)
    }
}

/// `(saved, here)` when they differ.
fn differ<T: Clone + PartialEq>(saved: &T, here: &T) -> Option<(T, T)> {
    (saved != here).then(|| (saved.clone(), here.clone()))
}

/// Why a saved plan cannot be used at all (before it is compared with anything).
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("it is larger than a plan can be ({} MB)", MAX_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("it is not JSON ({source})")]
    NotJson { source: serde_json::Error },
    #[error("it is not a redis-topology plan (write one with `plan --out FILE`)")]
    NotAPlan,
    /// `found`: the file's `format_version`, if it has a number there.
    #[error(
        "it has format_version {}, this redis-topology reads {FORMAT_VERSION}; make the plan again with this version (`plan --out FILE`)",
        .found.map_or_else(|| "?".to_owned(), |v| v.to_string())
    )]
    FormatVersion { found: Option<u64> },
    #[error("it is damaged ({source})")]
    Damaged { source: serde_json::Error },
    /// `found`: the version the file names, as read (escaped when printed).
    #[error(
        "it was made by redis-topology {}, this is {TOOL_VERSION}; make the plan again with this version",
        untrusted(.found)
    )]
    ToolVersion { found: String },
}

/// What differs between the server a plan was made for and this one: each part that
/// differs, as (saved, here). The saved parts are from the file, escaped when printed.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("the saved plan is for another server: {}", self.differences().join("; "))]
pub struct OtherServer {
    pub address: Option<(String, String)>,
    pub db: Option<(i64, i64)>,
    pub user: Option<(Option<String>, Option<String>)>,
}

impl OtherServer {
    fn differences(&self) -> Vec<String> {
        let mut differ = Vec::new();
        if let Some((saved, here)) = &self.address {
            differ.push(format!(
                "it was made for {}, this is {here}",
                untrusted(saved)
            ));
        }
        if let Some((saved, here)) = self.db {
            differ.push(format!("database {saved} (this is database {here})"));
        }
        if let Some((saved, here)) = &self.user {
            let user = |u: &Option<String>| {
                u.as_deref()
                    .map_or_else(|| "default".to_owned(), |u| untrusted(u).into_owned())
            };
            differ.push(format!(
                "user `{}` (this is user `{}`)",
                user(saved),
                user(here)
            ));
        }
        differ
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
pub fn reconcile(saved: &Plan, mut fresh: Plan) -> Result<Plan, Difference> {
    if saved.namespace != fresh.namespace || saved.environment != fresh.environment {
        return Err(Difference::Namespace {
            saved: (saved.namespace.clone(), saved.environment.clone()),
            now: (fresh.namespace, fresh.environment),
        });
    }
    let count = saved.changes.len().max(fresh.changes.len());
    for index in 0..count {
        let number = index + 1;
        match (saved.changes.get(index), fresh.changes.get_mut(index)) {
            (Some(saved), Some(fresh)) => reconcile_change(saved, fresh)
                .map_err(|difference| Difference::Change { number, difference })?,
            (Some(saved), None) => {
                return Err(Difference::OnlySaved {
                    number,
                    change: ChangeShown::of(saved),
                });
            }
            (None, Some(fresh)) => {
                return Err(Difference::OnlyNow {
                    number,
                    change: ChangeShown::of(fresh),
                });
            }
            (None, None) => {}
        }
    }
    Ok(fresh)
}

/// The first difference between a saved plan and a plan made now. Whatever comes from the
/// saved plan is escaped when printed (the file may have been edited).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Difference {
    /// Namespace and environment, saved and now.
    #[error(
        "the saved plan is for namespace `{}`{}, the topology gives namespace `{}`{}",
        untrusted(&.saved.0),
        environment(&.saved.1),
        .now.0,
        environment(&.now.1)
    )]
    Namespace {
        saved: (String, Option<String>),
        now: (String, Option<String>),
    },
    /// Change `number` (from 1) differs.
    #[error("change {number}{difference}")]
    Change {
        number: usize,
        difference: ChangeDifference,
    },
    #[error(
        "the saved plan has change {number} `{}` ({}), which a plan made now does not have",
        untrusted(&.change.address),
        .change.operations
    )]
    OnlySaved { number: usize, change: ChangeShown },
    #[error(
        "a plan made now has change {number} `{}` ({}), which the saved plan does not have",
        .change.address,
        .change.operations
    )]
    OnlyNow { number: usize, change: ChangeShown },
}

/// How one change of the saved plan differs from the one made now; prints after the
/// change's number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeDifference {
    /// Another address, kind, action or destructiveness.
    #[error(
        ": the saved plan has `{}` ({}), a plan made now has `{}` ({})",
        untrusted(&.0.saved.address),
        .0.saved.action,
        .0.now.address,
        .0.now.action
    )]
    Change(Box<BothChanges>),
    /// Another number of operations.
    #[error(
        " `{}`: the saved plan has {} operations, a plan made now has {}: saved `{}`, now `{}`",
        .0.now.address,
        .0.saved.count,
        .0.now.count,
        .0.saved.operations,
        .0.now.operations
    )]
    Operations(Box<BothChanges>),
    /// Operation `number` (from 1) differs.
    #[error(
        " `{address}`, operation {number}: {difference}: saved `{}`, now `{now}`",
        untrusted(.saved)
    )]
    Operation {
        address: String,
        number: usize,
        difference: OpDifference,
        /// The operations as shown (`shown_args`), saved and now.
        saved: String,
        now: String,
    },
}

/// How one operation of the saved plan differs from the one made now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpDifference {
    #[error(
        "its MINID is later than a plan made now would use (it would remove entries younger than max_age)"
    )]
    LaterMinid,
    #[error("the record it writes differs")]
    Record,
    #[error("the operations differ")]
    Other,
}

/// The saved change and the one made now, as a difference shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BothChanges {
    pub saved: ChangeShown,
    pub now: ChangeShown,
}

impl BothChanges {
    fn of(saved: &Change, now: &Change) -> Box<BothChanges> {
        Box::new(BothChanges {
            saved: ChangeShown::of(saved),
            now: ChangeShown::of(now),
        })
    }
}

/// A change as a difference shows it: its address, its action (lower case, `, destructive`
/// when it is), and its operations (`action: op; op`, lower case, escaped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeShown {
    pub address: String,
    pub action: String,
    pub count: usize,
    pub operations: String,
}

impl ChangeShown {
    fn of(change: &Change) -> ChangeShown {
        let ops: Vec<String> = change
            .ops()
            .iter()
            .map(|op| untrusted(&op.shown_args().join(" ")).into_owned())
            .collect();
        let action = format!("{:?}", change.action).to_lowercase();
        ChangeShown {
            address: change.address.clone(),
            operations: format!("{action}: {}", ops.join("; ")).to_lowercase(),
            action: if change.destructive {
                format!("{action}, destructive")
            } else {
                action
            },
            count: ops.len(),
        }
    }
}

fn environment(env: &Option<String>) -> String {
    env.as_deref()
        .map_or_else(String::new, |e| format!(", environment `{}`", untrusted(e)))
}

fn reconcile_change(saved: &Change, fresh: &mut Change) -> Result<(), ChangeDifference> {
    if (&saved.address, saved.kind, saved.action, saved.destructive)
        != (&fresh.address, fresh.kind, fresh.action, fresh.destructive)
    {
        return Err(ChangeDifference::Change(BothChanges::of(saved, fresh)));
    }
    if saved.ops().len() != fresh.ops().len() {
        return Err(ChangeDifference::Operations(BothChanges::of(saved, fresh)));
    }
    for (position, (saved_op, fresh_op)) in
        saved.ops().iter().zip(fresh.extra.iter_mut()).enumerate()
    {
        reconcile_op(saved_op, fresh_op).map_err(|difference| ChangeDifference::Operation {
            address: fresh.address.clone(),
            number: position + 1,
            difference,
            saved: saved_op.shown_args().join(" "),
            now: fresh_op.shown_args().join(" "),
        })?;
    }
    Ok(())
}

/// The same operation; a `MINID` bound taken from the saved plan when it trims no more than
/// the fresh one would.
fn reconcile_op(saved: &Op, fresh: &mut Op) -> Result<(), OpDifference> {
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
                return Err(OpDifference::LaterMinid);
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
                Err(OpDifference::Record)
            }
        }
        (saved, fresh) if saved == fresh => Ok(()),
        _ => Err(OpDifference::Other),
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
            reason: "r".into(),
            details: Vec::new(),
        }
    }

    fn create(key: &str, group: &str) -> Op {
        Op::CreateGroup {
            key: key.into(),
            group: group.into(),
            start: "$".into(),
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
            key: "ns:s".into(),
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
                    nodes: None,
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
            let why = reconcile(&saved, fresh.clone())
                .expect_err(expected)
                .to_string();
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
        let why = reconcile(&later, fresh.clone())
            .expect_err("a later bound removes more")
            .to_string();
        assert!(why.contains("MINID is later"), "{why}");
        let maxlen = plan(vec![change(
            "retention.s",
            vec![Op::Trim {
                key: "ns:s".into(),
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
        assert_eq!(
            SavedPlan::parse(&json).expect("a saved plan"),
            saved.clone()
        );
        let old = json.replace("\"format_version\": 2", "\"format_version\": 1");
        assert!(
            SavedPlan::parse(&old)
                .unwrap_err()
                .to_string()
                .contains("format_version 1")
        );
        let injected = json.replace(
            "\"op\": \"create_group\"",
            "\"op\": \"create_group\", \"command\": [\"FLUSHALL\"]",
        );
        assert!(
            SavedPlan::parse(&injected)
                .unwrap_err()
                .to_string()
                .contains("damaged")
        );
        let eval = json.replace("\"op\": \"create_group\"", "\"op\": \"eval\"");
        assert!(
            SavedPlan::parse(&eval)
                .unwrap_err()
                .to_string()
                .contains("damaged")
        );
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
        let why = saved
            .target_mismatch(&other)
            .expect("another server")
            .to_string();
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
