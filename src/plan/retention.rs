//! Retention: trims that bring streams within their declared bounds.
//!
//! Redis stores no retention: apply enforces the bound with XTRIM each time it runs. An
//! approximate trim (`~`) only drops whole macro-nodes, so it may leave up to one node
//! (`stream-node-max-entries`, 100 by default) above the bound; a trim is planned only when
//! a stream is further over than that, so that apply then plan is empty.

use serde_json::json;

use super::join::StreamFacts;
use super::{Action, Change, Draft, Kind, Op, State, TrimBy};
use crate::live::{LiveState, LiveStream, StreamId};
use crate::model::desired::DesiredRetention;

pub fn trim(facts: &[StreamFacts], live: &LiveState, plan: &mut Draft<'_>) {
    for fact in facts {
        let (key, Some(stream), Some(live_stream)) = (fact.key, fact.declared, fact.existing())
        else {
            continue; // not declared, or new (a new stream is empty)
        };
        if let Some(change) = trim_change(&stream.name, key, stream.retention, live_stream, live) {
            plan.push(change);
        }
    }
}

fn trim_change(
    name: &str,
    key: &str,
    retention: DesiredRetention,
    stream: &LiveStream,
    live: &LiveState,
) -> Option<Change> {
    // The stream's own node: its macro-node size and its clock bound the trim.
    let node = live.node_of(stream);
    let slack = if retention.approximate {
        node.node_max_entries
    } else {
        0
    };
    let mut ops = Vec::new();
    let mut effects = Vec::new();
    if let Some(maxlen) = retention.maxlen
        && stream.length > maxlen.saturating_add(slack)
    {
        ops.push(Op::Trim {
            key: key.into(),
            by: TrimBy::Maxlen(maxlen),
            approximate: retention.approximate,
        });
        effects.push(format!(
            "length {} > maxlen {maxlen}: removes {}{} entries",
            stream.length,
            if retention.approximate { "up to " } else { "" },
            stream.length - maxlen
        ));
    }
    if let (Some(age), Some(older)) = (retention.max_age_ms, stream.older_than_max_age)
        && older > slack
    {
        let minid = node.now_ms.saturating_sub(age);
        ops.push(Op::Trim {
            key: key.into(),
            by: TrimBy::Minid(StreamId { ms: minid, seq: 0 }),
            approximate: retention.approximate,
        });
        let counted = if older > node.node_max_entries {
            "more than "
        } else {
            ""
        };
        effects.push(format!(
            "{counted}{} entries older than max_age",
            older.min(node.node_max_entries)
        ));
    }
    if ops.is_empty() {
        return None;
    }
    Some(Change {
        address: format!("retention.{name}"),
        kind: Kind::Retention,
        action: Action::Update,
        destructive: false,
        before: Some(State::of(&json!({ "length": stream.length }))),
        after: Some(State::of(
            &json!({ "maxlen": retention.maxlen, "max_age_ms": retention.max_age_ms, "approximate": retention.approximate }),
        )),
        extra: ops,
        reason: effects.join("; ").into(),
        details: Vec::new(),
    })
}
