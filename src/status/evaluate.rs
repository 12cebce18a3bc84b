//! From readings and thresholds to a report: pure, so every rule is tested without a server.

use std::collections::HashMap;

use compact_str::CompactString;

use super::{
    GroupReading, HeartbeatReading, KeyState, Level, NodeReading, Readings, StreamReading,
};
use crate::model::desired::Desired;
use crate::model::health::{Figure, Levels, Unit};
use crate::number::push_decimal;
use crate::text::untrusted;

/// Why a group's lag is unknown, when Redis says nil.
const LAG_UNKNOWN: &str = "Redis cannot count it: the group was created at `$` or at an ID and has not read to the end since, or entries after its position were deleted";

/// The status of every declared stream and group.
#[derive(Clone, Debug)]
pub struct Report {
    /// As they were built.
    rows: Vec<Row>,
    /// Where each row is in `rows`, in the report's order: the rows are not moved into it
    /// (30,000 rows of 10,000 streams, ~5 MB, took 2-3 ms to swap into place).
    order: Vec<u32>,
}

/// Two reports are equal when their rows are, in order.
impl PartialEq for Report {
    fn eq(&self, other: &Report) -> bool {
        self.rows().eq(other.rows())
    }
}

impl Report {
    /// The rows worst first, then the servers', the heartbeats', and the streams' by name,
    /// each followed by its groups'.
    pub fn rows(&self) -> impl Iterator<Item = &Row> + Clone {
        self.order
            .iter()
            .filter_map(|&at| self.rows.get(at as usize))
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn worst(&self) -> Level {
        self.rows.iter().map(|r| r.level).max().unwrap_or(Level::Ok)
    }

    /// How many rows stand at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.rows.iter().filter(|r| r.level == level).count()
    }
}

/// A server (`server`: its address), a heartbeat, a stream, or one of its groups
/// (`group`), with its figures and what they break.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Row {
    pub server: Option<String>,
    /// A heartbeat's name (its row has no stream).
    pub heartbeat: Option<String>,
    /// Names and keys inline up to 24 bytes: 10,000 streams make 30,000 rows.
    pub stream: CompactString,
    pub group: Option<CompactString>,
    pub key: CompactString,
    pub level: Level,
    pub figures: Vec<(&'static str, Value)>,
    pub findings: Vec<Finding>,
}

/// A figure's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Count(u64),
    /// A duration, in ms.
    Ms(u64),
    Percent(u64),
    Bytes(u64),
    /// A setting, as the server says it.
    Text(String),
    /// `active` of `of` consumers seen within `within_ms`.
    Active {
        active: u64,
        of: u64,
        within_ms: u64,
    },
    /// Redis cannot say; the reason.
    Unknown(&'static str),
}

impl Value {
    /// The value as a number in base units (seconds for durations), for machines; `None`
    /// when unknown.
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Count(n) | Value::Percent(n) | Value::Bytes(n) => Some(*n as f64),
            Value::Text(_) => None,
            Value::Ms(ms) => Some(*ms as f64 / 1000.0),
            Value::Active { active, .. } => Some(*active as f64),
            Value::Unknown(_) => None,
        }
    }
}

impl Value {
    /// The value for people, appended to `out`; counts and ages without the formatting
    /// machinery (a report of 10,000 streams writes 150,000 figures).
    pub fn write_into(&self, out: &mut String) {
        match self {
            Value::Count(n) => push_decimal(out, *n),
            Value::Percent(p) => {
                push_decimal(out, *p);
                out.push('%');
            }
            Value::Ms(ms) => push_duration(out, *ms),
            Value::Active {
                active,
                of,
                within_ms,
            } => {
                push_decimal(out, *active);
                out.push_str(" of ");
                push_decimal(out, *of);
                out.push_str(" within ");
                push_duration(out, *within_ms);
            }
            Value::Bytes(n) => out.push_str(&bytes_text(*n)),
            Value::Text(text) => out.push_str(&untrusted(text)),
            Value::Unknown(_) => out.push_str("unknown"),
        }
    }
}

/// A duration as [`duration_text`] writes it (`3m05s`), appended to `out`.
fn push_duration(out: &mut String, ms: u64) {
    let (big, big_unit, small) = duration_parts(ms);
    push_decimal(out, big);
    out.push_str(big_unit);
    if let Some((small, small_unit)) = small {
        if small < 10 {
            out.push('0');
        }
        push_decimal(out, small);
        out.push_str(small_unit);
    }
}

/// The value for people, as [`Value::write_into`] writes it.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = String::new();
        self.write_into(&mut text);
        f.write_str(&text)
    }
}

/// Something a row breaks, or could not check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// The figure (`lag`, ...) or the structural check (`exists`, `pending_trimmed`).
    pub check: &'static str,
    pub text: String,
}

/// Evaluate what was read against the thresholds of `desired`.
pub fn evaluate(desired: &Desired, readings: &Readings) -> Report {
    let mut report = ReportBuilder::new(desired);
    for reading in &readings.streams {
        report.add_stream(desired, reading);
    }
    report.finish(desired, &readings.nodes, &readings.heartbeats)
}

/// A report built as the streams are read: each stream's rows as soon as its readings are
/// in, in whatever order they come (`status` evaluates while the rest is still being read),
/// and at the end the servers' and heartbeats' rows, every row then put in the report's
/// order.
pub struct ReportBuilder {
    /// Each declared stream's place in name order, by key.
    places: HashMap<CompactString, u32>,
    /// Whether each declared stream (by place) has its rows, and how many do.
    added: Vec<bool>,
    added_count: usize,
    rows: Vec<Row>,
    /// Where each row goes, the level aside: its stream's place and its own within it.
    order: Vec<(u32, u32)>,
}

/// Where a row goes, its level aside: its kind (0 a server, 1 a heartbeat, 2 a stream or
/// group), its place among them, and its place within its stream (0 the stream's own).
type RowPlace = (u8, u32, u32);

impl ReportBuilder {
    pub fn new(desired: &Desired) -> ReportBuilder {
        let mut names: Vec<(&str, &str)> = desired
            .streams
            .iter()
            .map(|(key, stream)| (stream.name.as_str(), key.as_str()))
            .collect();
        names.sort_unstable();
        let places = names
            .iter()
            .zip(0u32..)
            .map(|((_, key), place)| (CompactString::new(key), place))
            .collect();
        let groups: usize = desired.streams.values().map(|s| s.groups.len()).sum();
        // And room for the heartbeats' and servers' rows, added last (more than 64 servers
        // only costs a copy of the rows).
        let rows = desired.streams.len() + groups + desired.health.heartbeats.len() + 64;
        ReportBuilder {
            places,
            added: vec![false; desired.streams.len()],
            added_count: 0,
            rows: Vec::with_capacity(rows),
            order: Vec::with_capacity(rows),
        }
    }

    /// Whether the stream with this key has its rows.
    pub fn has(&self, key: &str) -> bool {
        self.places
            .get(key)
            .and_then(|place| self.added.get(*place as usize))
            .is_some_and(|added| *added)
    }

    /// Whether every declared stream has its rows (all were read ahead, usually).
    pub fn has_every_stream(&self) -> bool {
        self.added_count == self.added.len()
    }

    /// The rows of a stream and its groups.
    pub fn add_stream(&mut self, desired: &Desired, reading: &StreamReading) {
        // A stream the file does not declare (a test's) goes after the declared ones.
        let place = match self.places.get(reading.key.as_str()) {
            Some(&place) => place,
            None => u32::try_from(self.places.len() + self.rows.len()).unwrap_or(u32::MAX),
        };
        if let Some(added) = self.added.get_mut(place as usize)
            && !*added
        {
            *added = true;
            self.added_count += 1;
        }
        self.rows.push(stream_row(desired, reading));
        self.order.push((place, 0));
        if reading.state == KeyState::Stream {
            for (group, at) in reading.groups.iter().zip(1u32..) {
                self.rows.push(group_row(desired, reading, group));
                self.order.push((place, at));
            }
        }
    }

    /// The report: the servers' rows, then the heartbeats', then the streams' by name, each
    /// followed by its groups' (by name, as read), worst first.
    pub fn finish(
        self,
        desired: &Desired,
        nodes: &[NodeReading],
        heartbeats: &[HeartbeatReading],
    ) -> Report {
        // The servers' and heartbeats' rows go after the streams', their places putting them
        // first.
        let ReportBuilder {
            mut rows, order, ..
        } = self;
        let mut order: Vec<RowPlace> = order
            .into_iter()
            .map(|(place, at)| (2, place, at))
            .collect();
        rows.reserve(nodes.len() + heartbeats.len());
        order.reserve(nodes.len() + heartbeats.len());
        for (node, at) in nodes.iter().zip(0u32..) {
            rows.push(server_row(desired, node));
            order.push((0, at, 0));
        }
        for (heartbeat, at) in heartbeats.iter().zip(0u32..) {
            rows.push(heartbeat_row(desired, heartbeat));
            order.push((1, at, 0));
        }
        let order = report_order(&rows, &order);
        Report { rows, order }
    }
}

/// Where each of `rows` goes, worst first, then by `places` (each row's own, all
/// different): the indices of `rows` in the report's order. Sorted as small keys, never
/// moving the rows.
fn report_order(rows: &[Row], places: &[RowPlace]) -> Vec<u32> {
    let mut sorted: Vec<(std::cmp::Reverse<Level>, RowPlace, u32)> = rows
        .iter()
        .zip(places)
        .zip(0u32..)
        .map(|((row, place), at)| (std::cmp::Reverse(row.level), *place, at))
        .collect();
    sorted.sort_unstable();
    sorted.into_iter().map(|(.., at)| at).collect()
}

/// What a server's settings mean for the streams: an eviction policy that can drop them,
/// durable streams without an append-only file, memory against `maxmemory`.
fn server_row(desired: &Desired, node: &NodeReading) -> Row {
    let mut row = Row {
        server: Some(node.address.clone()),
        ..Row::default()
    };
    if let Some(used) = node.used_memory {
        row.figures.push(("used_memory", Value::Bytes(used)));
    }
    let limit = node.maxmemory.filter(|m| *m > 0);
    if let (Some(used), Some(limit)) = (node.used_memory, limit) {
        let percent = used.saturating_mul(100) / limit;
        let levels = desired.health.levels(Figure::Memory, "", None);
        row.check(Figure::Memory, percent, levels);
    }
    if let Some(policy) = &node.maxmemory_policy {
        row.figures
            .push(("maxmemory_policy", Value::Text(policy.clone())));
        if policy.starts_with("allkeys-") && !desired.streams.is_empty() {
            row.finding(
                Level::Critical,
                "eviction",
                format!(
                    "maxmemory-policy {} can evict whole streams, with their groups and pending entries, when memory runs out: set noeviction (or a volatile-* policy, which evicts only keys with a TTL)",
                    untrusted(policy)
                ),
            );
        }
    }
    if let Some(appendonly) = node.appendonly {
        let shown = if appendonly { "yes" } else { "no" };
        row.figures
            .push(("appendonly", Value::Text(shown.to_owned())));
        let durable = &desired.health.durable;
        if !appendonly && !durable.is_empty() {
            let names: Vec<&str> = durable
                .iter()
                .filter_map(|key| desired.streams.get(key).map(|s| s.name.as_str()))
                .collect();
            row.finding(
                Level::Critical,
                "durability",
                format!(
                    "{} declared durable ({}), but the server writes no append-only file: a restart loses every entry since the last snapshot; set appendonly yes",
                    if names.len() == 1 { "1 stream is".to_owned() } else { format!("{} streams are", names.len()) },
                    names.join(", ")
                ),
            );
        }
    }
    if let Some(why) = &node.unreadable {
        row.finding(
            Level::Unknown,
            "settings",
            format!(
                "the server's memory settings could not be read ({why}): eviction, durability and memory are not checked; give the tool's user `+config|get +info`"
            ),
        );
    }
    row
}

/// A heartbeat's live instances, against its `instances` levels.
fn heartbeat_row(desired: &Desired, reading: &HeartbeatReading) -> Row {
    let mut row = Row {
        heartbeat: Some(reading.name.clone()),
        ..Row::default()
    };
    let levels = desired
        .health
        .heartbeats
        .iter()
        .find(|rule| rule.name == reading.name)
        .and_then(|rule| rule.instances);
    row.check(Figure::Instances, reading.instances, levels);
    row
}

fn stream_row(desired: &Desired, reading: &StreamReading) -> Row {
    let mut row = Row {
        stream: CompactString::new(&reading.name),
        key: CompactString::new(&reading.key),
        // Length, and at most its dead letters, retention and newest entry's age.
        figures: Vec::with_capacity(4),
        ..Row::default()
    };
    match &reading.state {
        KeyState::Missing => {
            row.finding(
                Level::Critical,
                "exists",
                "declared, does not exist (apply creates it)".to_owned(),
            );
            return row;
        }
        KeyState::OtherType(kind) => {
            row.finding(
                Level::Critical,
                "exists",
                format!("the key holds a {}, not a stream", untrusted(kind)),
            );
            return row;
        }
        KeyState::Stream => {}
    }
    row.figures.push(("length", Value::Count(reading.length)));
    let rules = &desired.health;
    if rules.dlq_of(&reading.key).is_some() {
        let levels = rules.levels(Figure::DlqLength, &reading.key, None);
        row.check(Figure::DlqLength, reading.length, levels);
    }
    let maxlen = desired
        .streams
        .get(reading.key.as_str())
        .and_then(|s| s.retention.maxlen)
        .filter(|maxlen| *maxlen > 0);
    if let Some(maxlen) = maxlen {
        let percent = reading.length.saturating_mul(100) / maxlen;
        let levels = rules.levels(Figure::OverRetention, &reading.key, None);
        row.check(Figure::OverRetention, percent, levels);
    }
    let newest_levels = rules.levels(Figure::NewestAge, &reading.key, None);
    match (reading.newest_id, newest_levels) {
        (Some(Some(newest)), levels) => {
            let age = reading.now_ms.saturating_sub(newest.ms);
            row.check(Figure::NewestAge, age, levels);
        }
        // No entry at all: as old as can be, so the worst level declared.
        (Some(None), Some(levels)) => {
            let level = if levels.critical.is_some() {
                Level::Critical
            } else {
                Level::Warning
            };
            row.figures.push((
                Figure::NewestAge.name(),
                Value::Unknown("the stream has no entry"),
            ));
            row.finding(
                level,
                Figure::NewestAge.name(),
                "newest_age: the stream has no entry at all".to_owned(),
            );
        }
        _ => {}
    }
    row
}

fn group_row(desired: &Desired, stream: &StreamReading, group: &GroupReading) -> Row {
    let mut row = Row {
        stream: CompactString::new(&stream.name),
        group: Some(CompactString::new(&group.name)),
        key: CompactString::new(&stream.key),
        // Lag and its age, pending and its age, consumers.
        figures: Vec::with_capacity(5),
        ..Row::default()
    };
    if !group.exists {
        row.finding(
            Level::Critical,
            "exists",
            "declared, does not exist (apply creates it)".to_owned(),
        );
        return row;
    }
    let levels = |figure| {
        desired
            .health
            .levels(figure, &stream.key, Some(&group.name))
    };
    let now = stream.now_ms;
    // Nothing after the last delivered entry: the lag is 0, whatever Redis counts.
    let lag = match (group.next_undelivered, group.lag) {
        (Some(None), _) => Some(0),
        (_, lag) => lag,
    };
    match lag {
        Some(lag) => row.check(Figure::Lag, lag, levels(Figure::Lag)),
        None => row.unknown(Figure::Lag, LAG_UNKNOWN, levels(Figure::Lag)),
    }
    let lag_age = match group.next_undelivered {
        Some(None) => Some(0),
        Some(Some(next)) => Some(now.saturating_sub(next.ms)),
        None if lag == Some(0) => Some(0),
        None => None,
    };
    match lag_age {
        Some(age) => row.check(Figure::LagAge, age, levels(Figure::LagAge)),
        None => row.unknown(
            Figure::LagAge,
            "the next undelivered entry was not read",
            levels(Figure::LagAge),
        ),
    }
    row.check(Figure::Pending, group.pending, levels(Figure::Pending));
    let pending_age = match group.oldest_pending {
        Some(oldest) if group.pending > 0 => now.saturating_sub(oldest.ms),
        _ => 0,
    };
    row.check(Figure::PendingAge, pending_age, levels(Figure::PendingAge));
    let total = group.consumers.len() as u64;
    match levels(Figure::ActiveConsumers) {
        Some(active_levels) => {
            let within = active_levels.within_ms.unwrap_or(0);
            let active = group
                .consumers
                .iter()
                .filter(|c| c.unseen_ms.is_some_and(|ms| ms <= within))
                .count() as u64;
            row.figures.push((
                Figure::ActiveConsumers.name(),
                Value::Active {
                    active,
                    of: total,
                    within_ms: within,
                },
            ));
            row.judge(Figure::ActiveConsumers, active, active_levels);
        }
        None => row.figures.push(("consumers", Value::Count(total))),
    }
    check_trimmed_pending(&mut row, stream, group);
    row
}

/// Pending entries older than the stream's first entry point at data trimmed away (or
/// deleted): a consumer that claims them gets nothing, and they were never processed.
fn check_trimmed_pending(row: &mut Row, stream: &StreamReading, group: &GroupReading) {
    let Some(oldest) = group.oldest_pending.filter(|_| group.pending > 0) else {
        return;
    };
    let gone = match stream.first_id {
        None => true,
        Some(first) => oldest < first,
    };
    if gone {
        let first = stream
            .first_id
            .map_or("the stream is empty".to_owned(), |f| {
                format!("the first entry is {f}")
            });
        row.finding(
            Level::Critical,
            "pending_trimmed",
            format!(
                "pending entries point at data that is gone: the oldest pending is {oldest}, {first}; retention (or XDEL) outran the consumers"
            ),
        );
    }
}

impl Row {
    fn finding(&mut self, level: Level, check: &'static str, text: String) {
        self.level = self.level.max(level);
        self.findings.push(Finding { level, check, text });
    }

    /// Show `value` as `figure`, and judge it if the file gives it levels.
    fn check(&mut self, figure: Figure, value: u64, levels: Option<Levels>) {
        self.figures.push((figure.name(), value_of(figure, value)));
        if let Some(levels) = levels {
            self.judge(figure, value, levels);
        }
    }

    fn judge(&mut self, figure: Figure, value: u64, levels: Levels) {
        let breaks = |limit: u64| {
            if figure.lower_is_worse() {
                value < limit
            } else {
                value > limit
            }
        };
        let (level, limit) = match (levels.critical, levels.warning) {
            (Some(c), _) if breaks(c) => (Level::Critical, c),
            (_, Some(w)) if breaks(w) => (Level::Warning, w),
            _ => return,
        };
        // `lag 101 > critical 100`, `active_consumers 1 active < warning 2`: written in one
        // string (a report may have a breach per group, by the ten thousand).
        let mut text = String::with_capacity(64);
        text.push_str(figure.name());
        text.push(' ');
        match figure {
            Figure::ActiveConsumers => {
                push_decimal(&mut text, value);
                text.push_str(" active");
            }
            _ => value_of(figure, value).write_into(&mut text),
        }
        text.push_str(if figure.lower_is_worse() {
            " < "
        } else {
            " > "
        });
        text.push_str(level.name());
        text.push(' ');
        value_of(figure, limit).write_into(&mut text);
        self.finding(level, figure.name(), text);
    }

    /// A figure Redis cannot give: shown as unknown, and a finding when the file gives it
    /// levels (it could not be checked).
    fn unknown(&mut self, figure: Figure, why: &'static str, levels: Option<Levels>) {
        self.figures.push((figure.name(), Value::Unknown(why)));
        if levels.is_some() {
            self.finding(
                Level::Unknown,
                figure.name(),
                format!("{} unknown: {why}", figure.name()),
            );
        }
    }
}

fn value_of(figure: Figure, value: u64) -> Value {
    match figure.unit() {
        Unit::Entries | Unit::Consumers => Value::Count(value),
        Unit::Duration => Value::Ms(value),
        Unit::Percent => Value::Percent(value),
    }
}

/// A size for people: `512 B`, `1.5 MiB`, `2.0 GiB`.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration for people: `250ms`, `42s`, `3m05s`, `1m`, `2h07m`, `3d04h`.
pub fn duration_text(ms: u64) -> String {
    let mut text = String::new();
    push_duration(&mut text, ms);
    text
}

/// What [`duration_text`] writes: a count and its unit, then the next smaller unit's count
/// (written with two digits) and unit, unless it is 0.
fn duration_parts(ms: u64) -> (u64, &'static str, Option<(u64, &'static str)>) {
    let s = ms / 1000;
    let (big, small, big_unit, small_unit) = match s {
        _ if ms < 1000 => return (ms, "ms", None),
        0..60 => return (s, "s", None),
        60..3600 => (s / 60, s % 60, "m", "s"),
        3600..86400 => (s / 3600, s % 3600 / 60, "h", "m"),
        _ => (s / 86400, s % 86400 / 3600, "d", "h"),
    };
    (big, big_unit, (small > 0).then_some((small, small_unit)))
}

#[cfg(test)]
mod tests;
