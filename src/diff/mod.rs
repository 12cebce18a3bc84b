//! `diff`: what a change to a topology file does, offline, for a pull-request review.
//!
//! Pure, like the planner: two [`Side`]s (a file's environment resolved, its schemas loaded, its
//! passwords represented by where they come from) in, a [`Diff`] out. It names destructive
//! changes (a stream, group, user or schema version removed, retention reduced, the namespace
//! changed) and breaking message-schema changes (rule id, schema, versions, JSON pointer).
//! [`source`] turns `OLD`/`NEW` arguments (files or `git:REF:PATH`) into sides.

pub mod source;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::acl::SENSITIVE;
use crate::change::{Action, Change, Extra, Kind, Place, State};
use crate::compat::{self, Mode};
use crate::model::desired::{Desired, DesiredGroup, DesiredRetention, DesiredStream, DesiredUser};
use crate::model::schemas::LoadedSchema;

/// One file's environment, ready to compare.
#[derive(Clone, Debug)]
pub struct Side {
    pub desired: Desired,
    pub schemas: BTreeMap<String, LoadedSchema>,
}

/// A message-schema change that breaks producers or consumers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Break {
    /// Stable rule id (see `src/compat/rules.rs`).
    pub rule: &'static str,
    pub schema: String,
    /// The version in the old file and the one in the new file it was checked against.
    pub from_version: u64,
    pub to_version: u64,
    /// `backward` (new readers, old messages) or `forward` (old readers, new messages).
    pub direction: &'static str,
    /// JSON pointer of the field concerned.
    pub pointer: String,
    pub message: String,
}

/// A change between two files: the common part, and the message-schema breaks it makes.
pub type Entry = Change<Vec<Break>>;

impl Extra for Vec<Break> {
    const FIELD: &'static str = "breaking";
    const PLACE: Place = Place::AfterDestructive;
    const SKIP_EMPTY_DETAILS: bool = false;
}

impl Entry {
    /// The message-schema breaks of this change.
    pub fn breaking(&self) -> &[Break] {
        &self.extra
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    pub environment: Option<String>,
    pub entries: Vec<Entry>,
}

impl Diff {
    pub fn destructive(&self) -> usize {
        self.entries.iter().filter(|e| e.destructive).count()
    }

    pub fn breaking(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| !e.breaking().is_empty())
            .count()
    }

    /// The contract's exit code: 0 no changes, 2 changes, 3 a breaking or destructive one.
    pub fn exit_code(&self) -> u8 {
        if self.destructive() + self.breaking() > 0 {
            3
        } else if self.entries.is_empty() {
            0
        } else {
            2
        }
    }
}

/// Compare two sides. Entries come in a fixed order: namespace, streams (each with its
/// retention and groups), users, schemas.
pub fn diff(old: &Side, new: &Side) -> Diff {
    let mut entries = Vec::new();
    if old.desired.namespace != new.desired.namespace {
        entries.push(Entry {
            address: "namespace".to_owned(),
            kind: Kind::Namespace,
            action: Action::Update,
            destructive: true,
            extra: Vec::new(),
            before: state(json!(old.desired.namespace)),
            after: state(json!(new.desired.namespace)),
            reason: format!(
                "the namespace changes from `{}` to `{}`: every key moves; apply creates empty streams under the new one, and the old streams are no longer managed",
                old.desired.namespace, new.desired.namespace
            )
            .into(),
            details: Vec::new(),
        });
    }
    let old_streams = by_name(&old.desired);
    let new_streams = by_name(&new.desired);
    for name in union(&old_streams, &new_streams) {
        let (before, after) = (
            old_streams.get(name).copied(),
            new_streams.get(name).copied(),
        );
        streams(name, before, after, old, new, &mut entries);
    }
    for name in union(&old.desired.users, &new.desired.users) {
        if let Some(entry) = user(
            name,
            old.desired.users.get(name),
            new.desired.users.get(name),
        ) {
            entries.push(entry);
        }
    }
    for name in union(&old.schemas, &new.schemas) {
        if let Some(entry) = schema(
            name,
            old.schemas.get(name),
            new.schemas.get(name),
            &new.desired,
        ) {
            entries.push(entry);
        }
    }
    Diff {
        environment: new.desired.environment.clone(),
        entries,
    }
}

fn by_name(desired: &Desired) -> BTreeMap<&str, &DesiredStream> {
    desired
        .streams
        .values()
        .map(|s| (s.name.as_str(), s))
        .collect()
}

/// The keys of two maps, sorted, each once.
fn union<'a, K: Ord, A, B>(a: &'a BTreeMap<K, A>, b: &'a BTreeMap<K, B>) -> Vec<&'a K> {
    let mut keys: Vec<&K> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys
}

fn state(value: Value) -> Option<State> {
    Some(State::of(&value))
}

fn entry(address: String, kind: Kind, action: Action, reason: String) -> Entry {
    Entry {
        address,
        kind,
        action,
        destructive: action == Action::Delete,
        extra: Vec::new(),
        before: None,
        after: None,
        reason: reason.into(),
        details: Vec::new(),
    }
}

fn streams(
    name: &str,
    old: Option<&DesiredStream>,
    new: Option<&DesiredStream>,
    old_side: &Side,
    new_side: &Side,
    entries: &mut Vec<Entry>,
) {
    match (old, new) {
        (None, Some(stream)) => {
            let mut e = entry(
                format!("stream.{name}"),
                Kind::Stream,
                Action::Create,
                "declared".to_owned(),
            );
            e.after = state(stream_summary(stream));
            e.details = stream_details(stream);
            entries.push(e);
        }
        (Some(stream), None) => {
            let mut e = entry(
                format!("stream.{name}"),
                Kind::Stream,
                Action::Delete,
                "no longer declared: `apply --prune` deletes the stream and its entries".to_owned(),
            );
            e.before = state(stream_summary(stream));
            e.details = stream_details(stream);
            entries.push(e);
        }
        (Some(old), Some(new)) => {
            if let Some(e) = retention(name, &old.retention, &new.retention) {
                entries.push(e);
            }
            if old.schema != new.schema {
                entries.push(stream_schema(name, old, new, old_side, new_side));
            }
            let old_groups: BTreeMap<&str, &DesiredGroup> =
                old.groups.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let new_groups: BTreeMap<&str, &DesiredGroup> =
                new.groups.iter().map(|(k, v)| (k.as_str(), v)).collect();
            for group in union(&old_groups, &new_groups) {
                let (before, after) = (
                    old_groups.get(group).copied(),
                    new_groups.get(group).copied(),
                );
                entries.extend(group_entry(name, group, before, after));
            }
        }
        (None, None) => {}
    }
}

/// A whole stream for people: its retention, groups (with where each starts) and schema,
/// shown under a stream that is added or removed.
fn stream_details(stream: &DesiredStream) -> Vec<String> {
    let mut details = vec![format!("retention: {}", retention_text(&stream.retention))];
    if !stream.groups.is_empty() {
        let groups: Vec<String> = stream
            .groups
            .iter()
            .map(|(name, group)| format!("{name} (starts at `{}`)", group.start.as_redis_arg()))
            .collect();
        details.push(format!("groups: {}", groups.join(", ")));
    }
    if let Some(schema) = &stream.schema {
        details.push(format!("schema: {schema}"));
    }
    details
}

fn stream_summary(stream: &DesiredStream) -> Value {
    json!({
        "retention": retention_text(&stream.retention),
        "groups": stream.groups.keys().collect::<Vec<_>>(),
        "schema": stream.schema,
    })
}

fn group_entry(
    stream: &str,
    group: &str,
    old: Option<&DesiredGroup>,
    new: Option<&DesiredGroup>,
) -> Option<Entry> {
    let address = format!("group.{stream}.{group}");
    match (old, new) {
        (None, Some(g)) => {
            let mut e = entry(
                address,
                Kind::Group,
                Action::Create,
                format!("declared: starts at `{}`", g.start.as_redis_arg()),
            );
            e.after = state(json!({ "start": g.start.as_redis_arg() }));
            Some(e)
        }
        (Some(g), None) => {
            let mut e = entry(
                address,
                Kind::Group,
                Action::Delete,
                "no longer declared: `apply --prune` destroys the group, its consumers and pending entries".to_owned(),
            );
            e.before = state(json!({ "start": g.start.as_redis_arg() }));
            Some(e)
        }
        (Some(o), Some(n)) if !o.same_creation(n) => {
            let mut e = entry(
                address,
                Kind::Group,
                Action::Update,
                "the start changes; it is used only when the group is created, so an existing group is not moved".to_owned(),
            );
            e.before =
                state(json!({ "start": o.start.as_redis_arg(), "entries_read": o.entries_read }));
            e.after =
                state(json!({ "start": n.start.as_redis_arg(), "entries_read": n.entries_read }));
            Some(e)
        }
        _ => None,
    }
}

fn retention_text(r: &DesiredRetention) -> String {
    if r.is_unbounded() {
        return "unbounded".to_owned();
    }
    // `~` marks an approximate bound, as in Redis (`MAXLEN ~ 1000`).
    let approx = if r.approximate { "~" } else { "" };
    let mut parts = Vec::new();
    if let Some(maxlen) = r.maxlen {
        parts.push(format!("maxlen {approx}{maxlen}"));
    }
    if let Some(ms) = r.max_age_ms {
        parts.push(format!("max_age {approx}{}", duration_text(ms)));
    }
    parts.join(", ")
}

fn duration_text(ms: u64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A bound that keeps less than before: a lower one, or one where there was none.
fn reduced(old: Option<u64>, new: Option<u64>) -> bool {
    match (old, new) {
        (None, Some(_)) => true,
        (Some(o), Some(n)) => n < o,
        _ => false,
    }
}

fn retention(stream: &str, old: &DesiredRetention, new: &DesiredRetention) -> Option<Entry> {
    if old == new {
        return None;
    }
    let maxlen_cut = reduced(old.maxlen, new.maxlen);
    let age_cut = reduced(old.max_age_ms, new.max_age_ms);
    let (old_text, new_text) = (retention_text(old), retention_text(new));
    let mut e = entry(
        format!("retention.{stream}"),
        Kind::Retention,
        Action::Update,
        format!("retention changes from {old_text} to {new_text}"),
    );
    e.destructive = maxlen_cut || age_cut;
    if e.destructive {
        e.reason = format!(
            "retention reduced from {old_text} to {new_text}: apply trims entries beyond the new bound"
        )
        .into();
    }
    e.before = state(json!(old_text));
    e.after = state(json!(new_text));
    Some(e)
}

fn user(name: &str, old: Option<&DesiredUser>, new: Option<&DesiredUser>) -> Option<Entry> {
    let address = format!("user.{name}");
    match (old, new) {
        (None, Some(u)) => {
            let mut e = entry(address, Kind::User, Action::Create, "declared".to_owned());
            e.after = state(u.summary());
            Some(e)
        }
        (Some(u), None) => {
            let mut e = entry(
                address,
                Kind::User,
                Action::Delete,
                "no longer declared: `apply --prune` deletes the user and closes its connections"
                    .to_owned(),
            );
            e.before = state(u.summary());
            Some(e)
        }
        (Some(o), Some(n)) if o != n => {
            let mut e = entry(
                address,
                Kind::User,
                Action::Update,
                "its rules change".to_owned(),
            );
            e.details = user_details(o, n);
            e.before = state(o.summary());
            e.after = state(n.summary());
            Some(e)
        }
        _ => None,
    }
}

fn user_details(o: &DesiredUser, n: &DesiredUser) -> Vec<String> {
    let mut details = Vec::new();
    if o.enabled != n.enabled {
        details.push(format!("enabled: {} → {}", o.enabled, n.enabled));
    }
    if o.nopass != n.nopass {
        details.push(format!("nopass: {} → {}", o.nopass, n.nopass));
    }
    if o.password_hashes != n.password_hashes {
        details.push(format!(
            "passwords: {SENSITIVE} changed ({} → {})",
            o.password_hashes.len(),
            n.password_hashes.len()
        ));
    }
    let selectors =
        |u: &DesiredUser| -> Vec<String> { u.selectors.iter().map(|s| s.rule()).collect() };
    let (old_selectors, new_selectors) = (selectors(o), selectors(n));
    for (field, old, new) in [
        ("keys", &o.keys, &n.keys),
        ("channels", &o.channels, &n.channels),
        ("commands", &o.commands, &n.commands),
        ("access", &old_selectors, &new_selectors),
    ] {
        if old != new {
            let removed: Vec<&String> = old.iter().filter(|r| !new.contains(r)).collect();
            let added: Vec<&String> = new.iter().filter(|r| !old.contains(r)).collect();
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!("+ {}", join(&added)));
            }
            if !removed.is_empty() {
                parts.push(format!("- {}", join(&removed)));
            }
            if parts.is_empty() {
                parts.push("reordered".to_owned());
            }
            details.push(format!("{field}: {}", parts.join("; ")));
        }
    }
    details
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Breaks between the old versions of a schema and a new version, under `mode`: the latest old
/// version only, or (transitive modes) every old version.
fn breaks_against(schema: &str, old: &LoadedSchema, to: (u64, &Value), mode: Mode) -> Vec<Break> {
    let olds: Vec<(u64, &Value)> = if mode.is_transitive() {
        old.versions.iter().map(|(n, v)| (*n, v)).collect()
    } else {
        old.latest().into_iter().collect()
    };
    olds.into_iter()
        .flat_map(|from| breaks_between(schema, from, to, mode))
        .collect()
}

/// Breaks from one version to another in the directions `mode` checks.
fn breaks_between(schema: &str, from: (u64, &Value), to: (u64, &Value), mode: Mode) -> Vec<Break> {
    let mut breaks = Vec::new();
    for direction in mode.directions() {
        breaks.extend(
            compat::compare(from.1, to.1, *direction)
                .into_iter()
                .map(|b| Break {
                    rule: b.rule,
                    schema: schema.to_owned(),
                    from_version: from.0,
                    to_version: to.0,
                    direction: direction.as_str(),
                    pointer: b.pointer,
                    message: b.message,
                }),
        );
    }
    breaks
}

/// A stream moved to another schema (or got or lost one): its producers and consumers meet
/// the new schema's latest version.
fn stream_schema(
    name: &str,
    old: &DesiredStream,
    new: &DesiredStream,
    old_side: &Side,
    new_side: &Side,
) -> Entry {
    let describe = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".to_owned());
    let mut e = entry(
        format!("stream.{name}"),
        Kind::Stream,
        Action::Update,
        format!(
            "its message schema changes from {} to {}",
            describe(&old.schema),
            describe(&new.schema)
        ),
    );
    e.before = state(json!({ "schema": old.schema }));
    e.after = state(json!({ "schema": new.schema }));
    let old_schema = old.schema.as_ref().and_then(|s| old_side.schemas.get(s));
    let new_schema = new
        .schema
        .as_ref()
        .and_then(|s| new_side.schemas.get(s).map(|l| (s, l)));
    if let (Some(old_schema), Some((new_name, new_schema))) = (old_schema, new_schema)
        && let Some(latest) = new_schema.latest()
    {
        e.extra = breaks_against(new_name, old_schema, latest, new_schema.mode);
    }
    e
}

fn schema(
    name: &str,
    old: Option<&LoadedSchema>,
    new: Option<&LoadedSchema>,
    new_desired: &Desired,
) -> Option<Entry> {
    let address = format!("schema.{name}");
    let users: Vec<&str> = new_desired
        .streams
        .values()
        .filter(|s| s.schema.as_deref() == Some(name))
        .map(|s| s.name.as_str())
        .collect();
    let used_by = if users.is_empty() {
        "used by no stream".to_owned()
    } else {
        format!("used by {}", users.join(", "))
    };
    match (old, new) {
        (None, Some(s)) => {
            let mut e = entry(
                address,
                Kind::Schema,
                Action::Create,
                format!("declared ({used_by})"),
            );
            e.after = state(schema_summary(s));
            Some(e)
        }
        (Some(s), None) => {
            let mut e = entry(
                address,
                Kind::Schema,
                Action::Delete,
                "removed: messages written with it can no longer be checked".to_owned(),
            );
            e.before = state(schema_summary(s));
            Some(e)
        }
        (Some(o), Some(n)) if o != n => Some(schema_change(name, o, n, used_by)),
        _ => None,
    }
}

fn schema_change(name: &str, old: &LoadedSchema, new: &LoadedSchema, used_by: String) -> Entry {
    let mut e = entry(
        format!("schema.{name}"),
        Kind::Schema,
        Action::Update,
        format!("changes ({used_by})"),
    );
    let removed: Vec<u64> = old
        .versions
        .keys()
        .filter(|v| !new.versions.contains_key(v))
        .copied()
        .collect();
    let added: Vec<u64> = new
        .versions
        .keys()
        .filter(|v| !old.versions.contains_key(v))
        .copied()
        .collect();
    let rewritten: Vec<u64> = old
        .versions
        .iter()
        .filter(|(v, json)| new.versions.get(v).is_some_and(|n| n != *json))
        .map(|(v, _)| *v)
        .collect();
    if !removed.is_empty() {
        e.destructive = true;
        e.details.push(format!(
            "version(s) {} removed: messages that name them can no longer be checked",
            numbers(&removed)
        ));
    }
    if !added.is_empty() {
        e.details
            .push(format!("version(s) {} added", numbers(&added)));
        let acknowledged: Vec<u64> = added
            .iter()
            .filter(|v| new.breaking.contains(v))
            .copied()
            .collect();
        if !acknowledged.is_empty() {
            e.details.push(format!(
                "version(s) {} marked `breaking: true`: the break is intended (validate accepts it; review it here)",
                numbers(&acknowledged)
            ));
        }
    }
    if !rewritten.is_empty() {
        e.details.push(format!(
            "version(s) {} rewritten in place: messages already written follow the old text",
            numbers(&rewritten)
        ));
    }
    if old.mode != new.mode {
        e.details.push(format!(
            "compatibility: {} → {}",
            old.mode.as_str(),
            new.mode.as_str()
        ));
    }
    for (field, o, n) in [
        ("field", &old.field, &new.field),
        ("version_field", &old.version_field, &new.version_field),
    ] {
        if o != n {
            e.details.push(format!(
                "{field}: {} → {}",
                o.as_deref().unwrap_or("none"),
                n.as_deref().unwrap_or("none")
            ));
        }
    }
    if old.encoding != new.encoding {
        e.details
            .push(format!("encoding: {:?} → {:?}", old.encoding, new.encoding).to_lowercase());
    }
    // Producers and consumers meet the new latest version: check it against the old file's
    // versions under the new file's mode. A rewritten version is checked against its old
    // text in both directions, as messages of both texts exist.
    if let Some(latest) = new.latest()
        && (!added.is_empty() || rewritten.contains(&latest.0))
    {
        e.extra = breaks_against(name, old, latest, new.mode);
    }
    let latest = new.latest().map(|(n, _)| n);
    for version in rewritten.iter().filter(|v| Some(**v) != latest) {
        if let (Some(o), Some(n)) = (old.versions.get(version), new.versions.get(version)) {
            e.extra.extend(breaks_between(
                name,
                (*version, o),
                (*version, n),
                Mode::Full,
            ));
        }
    }
    e.before = state(schema_summary(old));
    e.after = state(schema_summary(new));
    e
}

fn schema_summary(s: &LoadedSchema) -> Value {
    json!({ "versions": s.versions.keys().collect::<Vec<_>>(), "compatibility": s.mode.as_str() })
}

fn numbers(versions: &[u64]) -> String {
    versions
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
