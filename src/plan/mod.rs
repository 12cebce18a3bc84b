//! The planner: desired + live → [`Plan`], a pure function.
//!
//! No I/O here: the plan is plain data (what changes, why, and the exact commands), so most of
//! the product's logic is tested in memory, table-driven, without a server. Renderers print a
//! plan; the applier executes one; `plan --out` saves one.
//!
//! Order of a plan, which is also the order apply runs it in: streams, then groups, then
//! retention trims, then ACL users (and `ACL SAVE`), then (with `--prune`) deletions of
//! streams and groups, and last the tool's record, so that an
//! interrupted apply is completed by the next one (the record is only written once the
//! resources it lists exist).

mod groups;
mod join;
pub mod ops;
mod refusal;
mod retention;
pub mod saved;
mod server;
mod streams;
mod trust;
pub(crate) mod users;

pub use crate::change::{Action, Kind, State};
pub use ops::{Op, TrimBy};
pub use refusal::{EntryProblem, RecordEntry, Refusal};
pub use users::desired_permissions;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::change::{Extra, Place};

use crate::live::LiveState;
use crate::model::desired::Desired;
use std::collections::{BTreeMap, BTreeSet};

use compact_str::CompactString;

use crate::record::{self, FORMAT, Record, RecordedGroup, RecordedStream};

/// Name of the short-lived group used to create an empty stream (`XGROUP CREATE ... MKSTREAM`
/// then `XGROUP DESTROY`): Redis has no command that creates an empty stream directly.
pub const MKSTREAM_GROUP: &str = "__topology__:mkstream";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub namespace: String,
    pub environment: Option<String>,
    pub changes: Vec<Change>,
    /// Things a reviewer should know that change nothing (a changed create-only `start`, an
    /// undeclared stream kept because `--prune` was not given).
    pub notes: Vec<String>,
}

/// A change the plan makes: the common part, and the operations apply runs for it (see
/// [`Op::args`] for the commands), in order.
pub type Change = crate::change::Change<Vec<Op>>;

impl Extra for Vec<Op> {
    const FIELD: &'static str = "ops";
    const PLACE: Place = Place::AfterStates;
    const SKIP_EMPTY_DETAILS: bool = true;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Delete recorded streams and groups that the file no longer declares.
    pub prune: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Every operation, in plan order.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.changes.iter().flat_map(|c| c.extra.iter())
    }
}

impl Change {
    /// What apply does for this change, in order.
    pub fn ops(&self) -> &[Op] {
        &self.extra
    }

    /// The commands apply sends for this change, as people and `--format json` see them
    /// (password hashes as placeholders).
    pub fn commands(&self) -> impl Iterator<Item = Vec<String>> + '_ {
        self.extra.iter().map(Op::args)
    }
}

/// Compare a desired state with a live one.
pub fn plan(desired: &Desired, live: &LiveState, options: Options) -> Result<Plan, Vec<Refusal>> {
    let checked = check(desired, live, options)?;
    let draft = checked.make_whole(on_two_threads(&checked.facts));
    Ok(Plan {
        namespace: desired.namespace.clone(),
        environment: desired.environment.clone(),
        changes: draft.changes,
        notes: draft.notes,
    })
}

/// Room for the plan of this topology against `live`: on an empty server every stream and
/// group created, every user written, and the record; the streams' share in proportion to
/// the declared streams that do not exist yet (none on a converged server). Room never used
/// may still cost memory (the allocator may hand out pages it kept), while a vector grown
/// by doubling copies 30,000 changes over and over.
pub fn room(desired: &Desired, live: &LiveState) -> usize {
    let streams = desired.streams.len();
    let groups: usize = desired.streams.values().map(|s| s.groups.len()).sum();
    // Every live key the record or the file names; those the file declares are a part.
    let new = streams.saturating_sub(live.keys.len());
    (streams + groups)
        .saturating_mul(new)
        .checked_div(streams)
        .unwrap_or(0)
        .saturating_add(desired.users.len() + 2)
}

/// A plan that can be made: what it compares, every refusal checked. Apply takes the lock
/// only once a plan cannot be refused any more (a refused apply writes nothing), and may
/// then take it while the plan is made.
pub struct Checked<'a> {
    desired: &'a Desired,
    live: &'a LiveState,
    options: Options,
    facts: Vec<join::StreamFacts<'a>>,
}

/// Whether a plan can be made: every refusal, before any change is made.
pub fn check<'a>(
    desired: &'a Desired,
    live: &'a LiveState,
    options: Options,
) -> Result<Checked<'a>, Vec<Refusal>> {
    let record_checks = || {
        let mut refusals = check_environment(desired, live);
        refusals.extend(trust::record_refusals(desired, live));
        refusals
    };
    let stream_checks = || {
        let facts = join::streams(desired, live);
        let mut refusals = streams::wrong_types(&facts);
        refusals.extend(groups::impossible_positions(&facts));
        refusals.extend(users::refusals(desired, live, options));
        (facts, refusals)
    };
    // The record's entries are checked beside the streams when the record names many.
    let recorded = live.record.as_ref().map_or(0, |r| r.streams.len());
    let (mut refusals, (facts, later)) = if recorded >= SPLIT_FROM {
        both(record_checks, stream_checks)
    } else {
        (record_checks(), stream_checks())
    };
    refusals.extend(later);
    if !refusals.is_empty() {
        return Err(refusals);
    }
    Ok(Checked {
        desired,
        live,
        options,
        facts,
    })
}

impl Checked<'_> {
    /// The plan's changes handed to `each` as they are made, in plan order, and none kept;
    /// returns the plan's notes. For a plan shown and applied as it is made (`apply --yes`):
    /// the plan of a first apply of 100,000 streams holds 300,000 changes, ~100 MB with
    /// their reasons and states, where apply needs only their operations.
    pub fn each(self, each: &mut dyn FnMut(Change)) -> Vec<String> {
        let mut draft = Draft {
            changes: Vec::with_capacity(HANDOVER),
            each: Some(each),
            ..Draft::default()
        };
        self.make(&mut draft);
        draft.hand_over();
        draft.notes
    }

    /// The changes and notes, in plan order.
    fn make(&self, draft: &mut Draft<'_>) {
        streams::create(&self.facts, draft);
        groups::create(self.desired, &self.facts, draft);
        let kept = self.make_middle(draft);
        self.make_last(&kept, draft);
    }

    /// [`Checked::make`] into a draft that keeps every change; with `split`, the groups'
    /// section is made on a second thread while this one makes the streams', the trims',
    /// the users' and the undeclared streams' sections, and the sections are then joined
    /// in plan order. The plan of a converged server is made after its last read, when
    /// nothing else runs (a no-op plan of 10,000 streams on 3 primaries: 0.96-0.98x the
    /// time with the checks of [`check`] also on two threads).
    fn make_whole(&self, split: bool) -> Draft<'static> {
        let room = room(self.desired, self.live);
        let mut draft = Draft {
            changes: Vec::with_capacity(room),
            ..Draft::default()
        };
        if !split {
            self.make(&mut draft);
            return draft;
        }
        let groups = || {
            let mut groups = Draft::default();
            groups::create(self.desired, &self.facts, &mut groups);
            Section::from(groups)
        };
        let others = || {
            let mut created = Draft::default();
            streams::create(&self.facts, &mut created);
            let mut middle = Draft::default();
            let kept = self.make_middle(&mut middle);
            (Section::from(created), Section::from(middle), kept)
        };
        let (groups, (created, middle, kept)) = both(groups, others);
        for section in [created, groups, middle] {
            draft.append(section);
        }
        self.make_last(&kept, &mut draft);
        draft
    }

    /// The trims', the users' and the undeclared streams' sections; returns what stays
    /// managed beside the declarations (streams and users).
    fn make_middle(&self, draft: &mut Draft<'_>) -> (streams::Managed, BTreeSet<String>) {
        let (desired, live, options, facts) = (self.desired, self.live, self.options, &self.facts);
        retention::trim(facts, live, draft);
        let kept_users = users::plan(desired, live, options, draft);
        let kept = streams::undeclared(desired, facts, options, draft);
        (kept, kept_users)
    }

    /// The record's section, which looks at every change made before it, and the notes on
    /// the server.
    fn make_last(
        &self,
        (kept, kept_users): &(streams::Managed, BTreeSet<String>),
        draft: &mut Draft<'_>,
    ) {
        let (desired, live, facts) = (self.desired, self.live, &self.facts);
        record_change(desired, live, facts, kept, kept_users, draft);
        draft.notes.extend(server::notes(desired, live));
    }
}

/// Streams (declared, recorded or live) from which a plan is checked and made on two
/// threads: below, a thread's start costs more than it saves.
const SPLIT_FROM: usize = 2_000;

/// Whether a plan of these streams is made on two threads.
fn on_two_threads(facts: &[join::StreamFacts]) -> bool {
    facts.len() >= SPLIT_FROM
}

/// `a` on a second thread while this one runs `b`; a panic in either is this thread's. Where
/// the system refuses a thread (a container's limit on them), `a` runs here after `b`.
fn both<A: Send, B>(a: impl Fn() -> A + Sync, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|scope| {
        let second = std::thread::Builder::new().spawn_scoped(scope, &a);
        let b = b();
        let a = match second {
            Ok(second) => second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => a(),
        };
        (a, b)
    })
}

/// Changes handed over this many at a time (see [`Checked::each`]).
const HANDOVER: usize = 1024;

/// A plan being made: its notes, and its changes, kept or handed over as they come.
#[derive(Default)]
struct Draft<'e> {
    /// Every change made ([`plan`]), or those not handed over yet ([`Checked::each`]).
    changes: Vec<Change>,
    notes: Vec<String>,
    /// Changes made so far, handed over or not.
    made: usize,
    /// While set, changes stay in `changes` (a section that amends its own changes once it
    /// has made them all: the users' `ACL SAVE`).
    held: bool,
    each: Option<&'e mut dyn FnMut(Change)>,
}

impl Draft<'_> {
    fn push(&mut self, change: Change) {
        self.made += 1;
        self.changes.push(change);
        if !self.held && self.changes.len() >= HANDOVER {
            self.hand_over();
        }
    }

    /// Append the changes and notes of a section made apart.
    fn append(&mut self, section: Section) {
        self.made += section.changes.len();
        self.changes.extend(section.changes);
        self.notes.extend(section.notes);
    }

    fn hand_over(&mut self) {
        if let Some(each) = self.each.as_mut() {
            self.changes.drain(..).for_each(each);
        }
    }
}

/// A section of a plan made apart, in a draft of its own that kept every change (see
/// [`Checked::make_whole`]).
struct Section {
    changes: Vec<Change>,
    notes: Vec<String>,
}

impl From<Draft<'_>> for Section {
    fn from(draft: Draft<'_>) -> Section {
        Section {
            changes: draft.changes,
            notes: draft.notes,
        }
    }
}

/// An environment guard: a namespace applied for `prod` is never changed with `--env dev`.
fn check_environment(desired: &Desired, live: &LiveState) -> Vec<Refusal> {
    match &live.record {
        Some(record) if record.environment != desired.environment => {
            vec![Refusal::EnvironmentMismatch {
                namespace: desired.namespace.clone(),
                recorded: record.environment.clone(),
                declared: desired.environment.clone(),
            }]
        }
        _ => Vec::new(),
    }
}

/// Whether the live record already says what apply would write, checked without building a
/// new record (the common case on a converged server with 10,000 streams).
fn record_is_current(
    desired: &Desired,
    live: &LiveState,
    facts: &[join::StreamFacts],
    kept: &streams::Managed,
    users: &BTreeSet<String>,
    all_registered: bool,
) -> bool {
    let Some(record) = &live.record else {
        return false;
    };
    kept.is_empty()
        && record.users == *users
        && all_registered
        && record.digest == desired.digest()
        && record.environment == desired.environment
        && record.streams.len() == desired.streams.len()
        && facts
            .iter()
            .all(|fact| match (fact.declared, fact.recorded) {
                (Some(stream), Some(r)) => {
                    r.groups.len() == stream.groups.len()
                        && stream
                            .groups
                            .keys()
                            .all(|g| r.groups.contains_key(g.as_str()))
                }
                _ => false,
            })
}

/// The record's streams after this apply: the declared ones, each with its declared groups
/// and any kept undeclared ones, merged with the undeclared streams that stay managed. Built
/// in key order and collected at once (the facts and `kept` are both sorted): a first apply
/// of 10,000 streams spent ~5 ms inserting them one by one.
fn recorded_streams(
    facts: &[join::StreamFacts],
    kept: &streams::Managed,
) -> BTreeMap<CompactString, RecordedStream> {
    let mut kept = kept.iter().peekable();
    let mut entries = Vec::with_capacity(facts.len() + kept.len());
    for fact in facts {
        let Some(stream) = fact.declared else {
            continue;
        };
        while let Some((key, recorded)) = kept.next_if(|(key, _)| key.as_str() < fact.key) {
            entries.push((key.clone(), recorded.clone()));
        }
        let mut recorded = kept
            .next_if(|(key, _)| key.as_str() == fact.key)
            .map(|(_, recorded)| recorded.clone())
            .unwrap_or_default();
        recorded.groups.reserve_exact(stream.groups.len());
        for (name, group) in &stream.groups {
            // The start a group was created with stays as recorded: `start` is create-only.
            let start = fact
                .recorded
                .and_then(|previous| previous.groups.get(name.as_str()))
                .map_or_else(|| group.start.as_redis_arg().into(), |g| g.start.clone());
            recorded
                .groups
                .insert(name.as_str().into(), RecordedGroup { start });
        }
        entries.push((fact.key.into(), recorded));
    }
    entries.extend(kept.map(|(key, recorded)| (key.clone(), recorded.clone())));
    entries.into_iter().collect()
}

/// What the record must say after apply: the declared streams and groups, plus recorded ones
/// that stay managed because they were not pruned. Every apply that changes anything writes
/// it, with the next serial: an apply waiting for the lock then sees that the server moved
/// on, even when the rest of the record stays as it was.
fn record_change(
    desired: &Desired,
    live: &LiveState,
    facts: &[join::StreamFacts],
    kept: &streams::Managed,
    kept_users: &BTreeSet<String>,
    plan: &mut Draft<'_>,
) {
    let mut users: BTreeSet<String> = desired
        .users
        .keys()
        .filter(|name| !users::left_to_its_owner(desired, live, name))
        .cloned()
        .collect();
    users.extend(kept_users.iter().cloned());
    let unregistered = unregistered(desired, live, &users);
    let applies_changes = plan.made > 0;
    // A record under its old name is moved by the next apply, even when it is current.
    if !applies_changes
        && !live.record_under_old_name
        && record_is_current(desired, live, facts, kept, &users, unregistered.is_empty())
    {
        return;
    }
    let streams = recorded_streams(facts, kept);
    let same_content = live.record.as_ref().is_some_and(|r| {
        r.streams == streams
            && r.digest == desired.digest()
            && r.environment == desired.environment
            && r.users == users
    }) && unregistered.is_empty();
    if same_content && !applies_changes && !live.record_under_old_name {
        return;
    }
    let mut ops = registry_ops(desired, live, &users, &unregistered);
    let record = Record {
        format: FORMAT,
        environment: desired.environment.clone(),
        digest: desired.digest().to_owned(),
        applied_at_ms: live.record_clock_ms(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        streams,
        users,
        serial: live.record.as_ref().map_or(0, |r| r.serial) + 1,
        applied_plan: None,
    };
    let adopted = record
        .streams
        .keys()
        .filter(|k| {
            live.record
                .as_ref()
                .is_none_or(|r| !r.streams.contains_key(*k))
        })
        .count();
    let streams_word = |n: usize| if n == 1 { "stream" } else { "streams" };
    let reason = match (&live.record, adopted) {
        (None, n) => format!(
            "first apply to this namespace: records {n} managed {}",
            streams_word(n)
        ),
        (Some(_), 0) if same_content => format!(
            "records this apply (number {}), so that an apply waiting for the lock sees it",
            record.serial
        ),
        (Some(_), 0) => "records the new desired state".to_owned(),
        (Some(_), n) => format!("records {n} newly managed {}", streams_word(n)),
    };
    let new_key = record::record_key(&desired.namespace);
    let reason = if live.record_under_old_name {
        let old_key = record::legacy_record_key(&desired.namespace);
        let moving = format!("moves the record from `{old_key}` to `{new_key}`");
        if same_content && !applies_changes {
            moving // the only change
        } else {
            format!("{reason}; {moving}")
        }
    } else {
        reason
    };
    let before = live.record.as_ref().map(|r| State::of(&record_summary(r)));
    let after = Some(State::of(&record_summary(&record)));
    ops.push(Op::WriteRecord {
        key: new_key.into(),
        record: Box::new(record),
    });
    if live.record_under_old_name {
        // After the write, in the same fenced script: a failed write leaves the old one.
        ops.push(Op::DeleteOldRecord {
            key: record::legacy_record_key(&desired.namespace).into(),
        });
    }
    plan.push(Change {
        address: "record".to_owned(),
        kind: Kind::Record,
        action: if live.record.is_some() {
            Action::Update
        } else {
            Action::Create
        },
        destructive: false,
        before,
        after,
        reason: reason.into(),
        details: Vec::new(),
        extra: ops,
    });
}

/// Managed users whose entry in the server-wide registry is missing (a new or adopted user,
/// or a registry lost with a flushed database).
fn unregistered<'a>(
    desired: &Desired,
    live: &LiveState,
    users: &'a BTreeSet<String>,
) -> Vec<&'a String> {
    let owners = live.acl().map(|a| &a.owners);
    users
        .iter()
        .filter(|u| owners.and_then(|o| o.get(*u)) != Some(&desired.namespace))
        .collect()
}

/// Register this namespace as the owner of its unregistered users; release the users it no
/// longer manages.
fn registry_ops(
    desired: &Desired,
    live: &LiveState,
    users: &BTreeSet<String>,
    unregistered: &[&String],
) -> Vec<Op> {
    let mut ops = Vec::new();
    if !unregistered.is_empty() {
        ops.push(Op::RegisterUsers {
            namespace: desired.namespace.clone(),
            users: unregistered.iter().map(|u| (*u).clone()).collect(),
        });
    }
    let released: Vec<String> = live
        .record
        .iter()
        .flat_map(|r| &r.users)
        .filter(|u| !users.contains(*u))
        .cloned()
        .collect();
    if !released.is_empty() {
        ops.push(Op::UnregisterUsers { users: released });
    }
    ops
}

fn record_summary(record: &Record) -> Value {
    serde_json::json!({
        "environment": record.environment,
        "digest": record.digest,
        "streams": record.streams.len(),
        "groups": record.streams.values().map(|s| s.groups.len()).sum::<usize>(),
        "users": record.users.len(),
    })
}

#[cfg(test)]
mod tests;
