//! One change to one resource, as `plan` and `diff` both describe it.
//!
//! A plan's change (live server → file) and a diff's change (old file → new file) say the
//! same things about a resource: its address and kind, the action, whether it loses data,
//! what it looks like before and after, and why, in words. [`Change`] holds that common
//! part once; what only one of them carries (the operations apply runs for a plan, the
//! message-schema breaks for a diff) is its `extra` field, an [`Extra`] type that also says
//! where that field goes in the change's JSON, so both keep the layout their contracts fix.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::Value;

/// What a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The namespace itself (a diff only: every key moves).
    Namespace,
    Stream,
    Group,
    Retention,
    User,
    /// A message schema (a diff only: schemas live in the file, not on the server).
    Schema,
    /// The tool's own record (a plan only).
    Record,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Stream => "stream",
            Kind::Group => "group",
            Kind::Retention => "retention",
            Kind::User => "user",
            Kind::Schema => "schema",
            Kind::Record => "record",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Replace,
}

impl Action {
    /// The sign people read it by, as in Terraform: `+`, `~`, `-`, `-/+`.
    pub fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Replace => "-/+",
        }
    }
}

/// What a resource looks like before or after a change (JSON, for machines and reviewers),
/// kept as compact JSON text: a plan of 10,000 new streams holds 30,000 of them, and as
/// `serde_json::Value` maps they were half of the plan's memory.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct State(Box<serde_json::value::RawValue>);

impl State {
    /// The JSON of `value`: a `json!` value, or for the changes a plan makes by the
    /// thousand, a small struct (serialized straight to text, no map built first).
    pub fn of(value: &impl Serialize) -> State {
        // Plain data always serializes; the fallback only satisfies the type.
        serde_json::value::to_raw_value(value)
            .map(State)
            .unwrap_or_else(|_| State::null())
    }

    fn null() -> State {
        State(serde_json::value::RawValue::NULL.to_owned())
    }

    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

/// The same JSON, however it is laid out (a saved plan may be pretty-printed).
impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.0.get() == other.0.get() || self.to_value() == other.to_value()
    }
}

/// One change: the part plan and diff share, and `extra`, what only one of them carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Change<X> {
    /// `stream.<name>`, `group.<stream>.<group>`, `retention.<stream>`, `user.<name>`,
    /// `schema.<name>`, `namespace`, `record`.
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    /// Loses data that no declaration asked to lose: deleting a stream, destroying a group,
    /// reducing retention, removing a schema version.
    pub destructive: bool,
    pub before: Option<State>,
    pub after: Option<State>,
    /// One line for people: why this change. Borrowed where it is always the same (a first
    /// apply of 100,000 streams makes 300,000 changes, most with one of a few reasons).
    pub reason: Cow<'static, str>,
    /// Further lines for people: what differs, field by field. Never a secret.
    pub details: Vec<String>,
    /// A plan's operations, a diff's breaks.
    pub extra: X,
}

/// Changes counted as the summaries count them: to create, to update (a replacement
/// counts as an update), to delete; and how many of them are destructive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub destructive: usize,
}

impl Tally {
    pub fn of<'c, X: 'c>(changes: impl IntoIterator<Item = &'c Change<X>>) -> Tally {
        let mut tally = Tally::default();
        changes.into_iter().for_each(|change| tally.add(change));
        tally
    }

    pub fn add<X>(&mut self, change: &Change<X>) {
        match change.action {
            Action::Create => self.create += 1,
            Action::Update | Action::Replace => self.update += 1,
            Action::Delete => self.delete += 1,
        }
        self.destructive += usize::from(change.destructive);
    }
}

/// Where a change's extra field goes in its JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Between `destructive` and `before` (a diff's `breaking`).
    AfterDestructive,
    /// Between `after` and `reason` (a plan's `ops`).
    AfterStates,
}

/// What one kind of change carries besides the common part, and how its JSON is laid out.
pub trait Extra: Serialize {
    /// The JSON field that holds it.
    const FIELD: &'static str;
    const PLACE: Place;
    /// Whether `details` is left out of the JSON when empty (a saved plan) or always
    /// written (a diff).
    const SKIP_EMPTY_DETAILS: bool;
}

/// The common fields, in the order both JSON layouts share.
const COMMON: &[&str] = &[
    "address",
    "kind",
    "action",
    "destructive",
    "before",
    "after",
    "reason",
    "details",
];

impl<X: Extra> Serialize for Change<X> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let skip_details = X::SKIP_EMPTY_DETAILS && self.details.is_empty();
        let mut out =
            serializer.serialize_struct("Change", COMMON.len() + 1 - usize::from(skip_details))?;
        out.serialize_field("address", &self.address)?;
        out.serialize_field("kind", &self.kind)?;
        out.serialize_field("action", &self.action)?;
        out.serialize_field("destructive", &self.destructive)?;
        if X::PLACE == Place::AfterDestructive {
            out.serialize_field(X::FIELD, &self.extra)?;
        }
        out.serialize_field("before", &self.before)?;
        out.serialize_field("after", &self.after)?;
        if X::PLACE == Place::AfterStates {
            out.serialize_field(X::FIELD, &self.extra)?;
        }
        out.serialize_field("reason", &self.reason)?;
        if skip_details {
            out.skip_field("details")?;
        } else {
            out.serialize_field("details", &self.details)?;
        }
        out.end()
    }
}

/// Read as a derived `deny_unknown_fields` struct would be (absent `before`, `after` and
/// `details` are empty), but by hand: serde's `flatten` would buffer the fields, and a
/// buffered field can no longer be read as the raw JSON a [`State`] keeps.
impl<'de, X: Extra + Deserialize<'de>> Deserialize<'de> for Change<X> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ChangeVisitor(PhantomData))
    }
}

struct ChangeVisitor<X>(PhantomData<X>);

/// A field read at most once.
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn unknown_field<E: de::Error>(name: &str, extra: &str) -> E {
    de::Error::custom(format_args!(
        "unknown field `{name}`, expected one of `{}` or `{extra}`",
        COMMON.join("`, `")
    ))
}

fn required<T, E: de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| de::Error::missing_field(name))
}

impl<'de, X: Extra + Deserialize<'de>> Visitor<'de> for ChangeVisitor<X> {
    type Value = Change<X>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a change")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Change<X>, A::Error> {
        let (mut address, mut kind, mut action, mut destructive) = (None, None, None, None);
        let (mut before, mut after, mut reason, mut details, mut extra) =
            (None, None, None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "address" => once(&mut map, &mut address, "address")?,
                "kind" => once(&mut map, &mut kind, "kind")?,
                "action" => once(&mut map, &mut action, "action")?,
                "destructive" => once(&mut map, &mut destructive, "destructive")?,
                "before" => once(&mut map, &mut before, "before")?,
                "after" => once(&mut map, &mut after, "after")?,
                "reason" => once(&mut map, &mut reason, "reason")?,
                "details" => once(&mut map, &mut details, "details")?,
                field if field == X::FIELD => once(&mut map, &mut extra, X::FIELD)?,
                other => return Err(unknown_field::<A::Error>(other, X::FIELD)),
            }
        }
        Ok(Change {
            address: required(address, "address")?,
            kind: required(kind, "kind")?,
            action: required(action, "action")?,
            destructive: required(destructive, "destructive")?,
            before: before.flatten(),
            after: after.flatten(),
            reason: required::<String, _>(reason, "reason")?.into(),
            details: details.unwrap_or_default(),
            extra: required(extra, X::FIELD)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::Entry;
    use crate::plan::{Change as PlanChange, Op};

    fn change<X>(extra: X, details: Vec<String>) -> Change<X> {
        Change {
            address: "stream.orders".to_owned(),
            kind: Kind::Stream,
            action: Action::Create,
            destructive: false,
            before: None,
            after: Some(State::of(&json!({ "length": 0 }))),
            reason: "declared".into(),
            details,
            extra,
        }
    }

    /// A saved plan's change keeps its layout: `ops` after the states, `details` only when
    /// there are some.
    #[test]
    fn a_plan_change_is_written_in_the_saved_plan_layout() {
        let plain: PlanChange = change(vec![Op::SaveAcl { nodes: None }], Vec::new());
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"address":"stream.orders","kind":"stream","action":"create","destructive":false,"before":null,"after":{"length":0},"ops":[{"op":"save_acl"}],"reason":"declared"}"#
        );
        let detailed: PlanChange = change(Vec::new(), vec!["a".to_owned()]);
        assert!(
            serde_json::to_string(&detailed)
                .unwrap()
                .ends_with(r#""ops":[],"reason":"declared","details":["a"]}"#)
        );
    }

    /// The diff's contract: `breaking` after `destructive`, `details` always.
    #[test]
    fn a_diff_change_is_written_in_the_diff_layout() {
        let entry: Entry = change(Vec::new(), Vec::new());
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"address":"stream.orders","kind":"stream","action":"create","destructive":false,"breaking":[],"before":null,"after":{"length":0},"reason":"declared","details":[]}"#
        );
    }

    /// Read back from text and from a `Value` (as a saved plan is), pretty-printed or not,
    /// the states still raw JSON.
    #[test]
    fn a_plan_change_reads_back_as_written() {
        let written: PlanChange = change(vec![Op::SaveAcl { nodes: None }], vec!["a".to_owned()]);
        let pretty = serde_json::to_string_pretty(&written).unwrap();
        let read: PlanChange = serde_json::from_str(&pretty).unwrap();
        assert_eq!(read, written);
        let value: Value = serde_json::from_str(&pretty).unwrap();
        let from_value: PlanChange = serde_json::from_value(value).unwrap();
        assert_eq!(from_value, written);
        assert_eq!(
            from_value.after.map(|s| s.to_value()),
            Some(json!({ "length": 0 }))
        );
    }

    #[test]
    fn a_plan_change_without_details_or_states_reads_as_empty() {
        let read: PlanChange = serde_json::from_str(
            r#"{"address":"record","kind":"record","action":"update","destructive":false,"ops":[],"reason":"r"}"#,
        )
        .unwrap();
        assert_eq!(
            (read.before, read.after, read.details),
            (None, None, vec![])
        );
    }

    /// Unknown, repeated and missing fields are refused, naming the field.
    #[test]
    fn a_damaged_plan_change_is_refused() {
        let good = r#""address":"record","kind":"record","action":"update","destructive":false,"ops":[],"reason":"r""#;
        for (text, field) in [
            (format!(r#"{{{good},"commands":[]}}"#), "`commands`"),
            (format!(r#"{{{good},"reason":"again"}}"#), "`reason`"),
            (format!("{{{}}}", good.replace(r#","ops":[]"#, "")), "`ops`"),
            (format!(r#"{{{good},"breaking":[]}}"#), "`breaking`"),
        ] {
            let error = serde_json::from_str::<PlanChange>(&text).unwrap_err();
            assert!(error.to_string().contains(field), "{error} for {text}");
        }
    }
}
