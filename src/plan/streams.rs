//! Streams: keys of the wrong type, streams to create, undeclared streams to delete or keep.

use serde::Serialize;
use serde_json::json;

use super::join::StreamFacts;
use super::{Action, Change, Draft, Kind, MKSTREAM_GROUP, Op, Options, Refusal, State};
use crate::live::LiveKey;
use crate::model::desired::Desired;
use crate::record::RecordedStream;

/// Recorded streams (by key) that stay managed although the file no longer declares them.
pub type Managed = std::collections::BTreeMap<compact_str::CompactString, RecordedStream>;

/// A declared stream whose key holds something else stops the plan: apply must not write
/// anything, and there is no safe way to turn a string or a hash into a stream.
pub fn wrong_types(facts: &[StreamFacts]) -> Vec<Refusal> {
    facts
        .iter()
        .filter(|fact| fact.declared.is_some())
        .filter_map(|&StreamFacts { key, live, .. }| match live {
            Some(LiveKey::WrongType(kind)) => Some(Refusal::WrongType {
                key: key.into(),
                kind: kind.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// A stream as created: the JSON `after` of a stream creation.
#[derive(Serialize)]
struct CreatedStream<'a> {
    key: &'a str,
    length: u64,
}

/// Declared streams that do not exist. A stream with groups is created by its first group
/// (`XGROUP CREATE ... MKSTREAM`); one without groups by a short-lived group.
pub fn create(facts: &[StreamFacts], plan: &mut Draft<'_>) {
    for fact in facts {
        let (key, Some(stream), None) = (fact.key, fact.declared, fact.live) else {
            continue;
        };
        let ops = if stream.groups.is_empty() {
            vec![
                Op::CreateGroup {
                    key: key.into(),
                    group: MKSTREAM_GROUP.into(),
                    start: "$".into(),
                    entries_read: None,
                },
                Op::DestroyGroup {
                    key: key.into(),
                    group: MKSTREAM_GROUP.into(),
                },
            ]
        } else {
            Vec::new() // the group changes below create it
        };
        plan.push(Change {
            address: ["stream.", &stream.name].concat(),
            kind: Kind::Stream,
            action: Action::Create,
            destructive: false,
            before: None,
            after: Some(State::of(&CreatedStream { key, length: 0 })),
            extra: ops,
            reason: if stream.groups.is_empty() {
                "declared, does not exist: created empty".into()
            } else {
                "declared, does not exist: created empty by its groups (MKSTREAM)".into()
            },
            details: Vec::new(),
        });
    }
}

/// Recorded streams and groups the file no longer declares: deleted with `--prune`, otherwise
/// kept (still managed) and noted. Returns the record entries that stay managed.
pub fn undeclared(
    desired: &Desired,
    facts: &[StreamFacts],
    options: Options,
    plan: &mut Draft<'_>,
) -> Managed {
    let mut kept = Managed::new();
    for fact in facts {
        let (key, Some(recorded), Some(stream)) = (fact.key, fact.recorded, fact.existing()) else {
            continue; // not recorded; or gone by hand: nothing to delete, the record forgets it
        };
        match fact.declared {
            None if options.prune => plan.push(Change {
                address: format!("stream.{}", relative(key, &desired.namespace)),
                kind: Kind::Stream,
                action: Action::Delete,
                destructive: true,
                before: Some(State::of(
                    &json!({ "key": key, "length": stream.length, "groups": stream.groups.len() }),
                )),
                after: None,
                extra: vec![Op::DeleteStream { key: key.into() }],
                reason: format!(
                    "no longer declared (--prune): deletes {} entries",
                    stream.length
                )
                .into(),
                details: Vec::new(),
            }),
            None => {
                plan.notes.push(format!(
                    "stream `{key}` ({} entries) is no longer declared; kept. `apply --prune` deletes it",
                    stream.length
                ));
                kept.insert(key.into(), recorded.clone());
            }
            Some(declared) => {
                for (group, recorded_group) in &recorded.groups {
                    if declared.groups.contains_key(group.as_str()) {
                        continue;
                    }
                    let Some(live_group) = stream.groups.get(group.as_str()) else {
                        continue;
                    };
                    if options.prune {
                        plan.push(super::groups::destroy(
                            desired, key, group, live_group, true,
                        ));
                    } else {
                        plan.notes.push(format!(
                            "group `{group}` of `{key}` is no longer declared; kept. `apply --prune` destroys it ({} pending)",
                            live_group.pending
                        ));
                        kept.entry(key.into())
                            .or_default()
                            .groups
                            .insert(group.clone(), recorded_group.clone());
                    }
                }
            }
        }
    }
    kept
}

/// A key's name relative to the namespace, for addresses.
pub fn relative<'a>(key: &'a str, namespace: &str) -> &'a str {
    if namespace.is_empty() {
        return key;
    }
    key.strip_prefix(namespace)
        .and_then(|k| k.strip_prefix(':'))
        .unwrap_or(key)
}
