//! Consumer groups: create the missing ones, note a changed create-only `start`, clean up an
//! interrupted empty-stream creation.

use serde::Serialize;
use serde_json::json;

use super::join::StreamFacts;
use super::{Action, Change, Draft, Kind, MKSTREAM_GROUP, Op, Refusal, State};
use crate::live::{LiveGroup, StreamId};
use crate::model::desired::Desired;
use crate::model::types::StartId;
use crate::record::RecordedStream;

/// New groups whose declared position is past the stream's end: Redis accepts them, and the
/// group then silently skips every entry up to that ID (or reports a wrong lag). Refused.
pub fn impossible_positions(facts: &[StreamFacts]) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    for fact in facts {
        let (key, Some(stream), Some(existing)) = (fact.key, fact.declared, fact.existing()) else {
            continue;
        };
        for (name, group) in &stream.groups {
            if existing.groups.contains_key(name.as_str()) {
                continue;
            }
            if let (StartId::Id { ms, seq }, Some(last)) = (group.start, existing.last_generated_id)
                && (StreamId { ms, seq }) > last
            {
                refusals.push(Refusal::StartAfterLastEntry {
                    group: name.to_string(),
                    key: key.to_owned(),
                    start: StreamId { ms, seq },
                    last,
                });
            }
            if let (Some(read), Some(added)) = (group.entries_read, existing.entries_added)
                && read > added
            {
                refusals.push(Refusal::EntriesReadPastAdded {
                    group: name.to_string(),
                    key: key.to_owned(),
                    read,
                    added,
                });
            }
        }
    }
    refusals
}

pub fn create(desired: &Desired, facts: &[StreamFacts], plan: &mut Draft<'_>) {
    for fact in facts {
        let (key, Some(stream)) = (fact.key, fact.declared) else {
            continue;
        };
        let live_stream = fact.existing();
        for (name, group) in &stream.groups {
            match live_stream.and_then(|s| s.groups.get(name.as_str())) {
                Some(_) => note_changed_start(fact.recorded, key, name, group.start, plan),
                None => plan.push(create_change(
                    &stream.name,
                    key,
                    name,
                    group.start,
                    group.entries_read,
                )),
            }
        }
        // An apply killed between creating an empty stream and destroying its helper group
        // leaves the helper behind: remove it.
        if let Some(helper) = live_stream.and_then(|s| s.groups.get(MKSTREAM_GROUP)) {
            plan.push(destroy(desired, key, MKSTREAM_GROUP, helper, false));
        }
    }
}

/// A group as created: the JSON `after` of a group creation.
#[derive(Serialize)]
struct CreatedGroup<'a> {
    start: &'a str,
    entries_read: Option<u64>,
}

fn create_change(
    stream: &str,
    key: &str,
    group: &str,
    start: StartId,
    entries_read: Option<u64>,
) -> Change {
    let start_arg = start.as_redis_arg();
    let op = Op::CreateGroup {
        key: key.into(),
        group: group.into(),
        start: start_arg.as_str().into(),
        entries_read,
    };
    Change {
        // `concat`, not `format!`: a first apply makes 20,000 of these, and the formatting
        // machinery took ~2.5 ms of them.
        address: ["group.", stream, ".", group].concat(),
        kind: Kind::Group,
        action: Action::Create,
        destructive: false,
        before: None,
        after: Some(State::of(&CreatedGroup {
            start: &start_arg,
            entries_read,
        })),
        extra: vec![op],
        reason: match start_arg.as_str() {
            "$" => "declared, does not exist: starts at `$`".into(),
            "0" => "declared, does not exist: starts at `0`".into(),
            other => ["declared, does not exist: starts at `", other, "`"]
                .concat()
                .into(),
        },
        details: Vec::new(),
    }
}

/// `start` is create-only: Redis does not keep it, and the group's position moves as
/// consumers read. A changed `start` on an existing group is never a silent
/// destroy-and-recreate; it is shown as a note.
fn note_changed_start(
    recorded: Option<&RecordedStream>,
    key: &str,
    group: &str,
    start: StartId,
    plan: &mut Draft<'_>,
) {
    let Some(recorded) = recorded.and_then(|s| s.groups.get(group)) else {
        return;
    };
    if !start.is_written_as(&recorded.start) {
        let declared = start.as_redis_arg();
        plan.notes.push(format!(
            "group `{group}` of `{key}` was created with start `{}`; the new start `{declared}` applies only when a group is created. To move the group, run XGROUP SETID by hand",
            recorded.start
        ));
    }
}

pub fn destroy(
    desired: &Desired,
    key: &str,
    group: &str,
    live: &LiveGroup,
    destructive: bool,
) -> Change {
    let stream = super::streams::relative(key, &desired.namespace);
    Change {
        address: format!("group.{stream}.{group}"),
        kind: Kind::Group,
        action: Action::Delete,
        destructive,
        before: Some(State::of(
            &json!({ "consumers": live.consumers, "pending": live.pending, "last_delivered_id": live.last_delivered_id.to_string() }),
        )),
        after: None,
        extra: vec![Op::DestroyGroup {
            key: key.into(),
            group: group.into(),
        }],
        reason: if destructive {
            format!(
                "no longer declared (--prune): {} consumers and {} pending entries are dropped",
                live.consumers, live.pending
            )
            .into()
        } else {
            "left by an interrupted apply".into()
        },
        details: Vec::new(),
    }
}
