//! Keyword rules for one writer/reader pair without combinators: `type`, `enum`/`const`, numeric
//! bounds, `multipleOf`, lengths and counts, `pattern`, `not`, `if`/`then`/`else`. Objects and
//! arrays continue in `structure.rs`.

use serde_json::{Map, Value};

use super::engine::{Cx, Node, show};
use super::rules::{
    CONDITIONAL_CHANGED, CONST_ADDED, CONST_CHANGED, ENUM_ADDED, ENUM_CHANGED, ENUM_NARROWED,
    MAX_ADDED, MAX_DECREASED, MIN_ADDED, MIN_INCREASED, MULTIPLE_OF_ADDED, MULTIPLE_OF_CHANGED,
    NOT_ADDED, NOT_EXTENDED, PATTERN_ADDED, PATTERN_CHANGED, TYPE_CHANGED, TYPE_NARROWED,
};

/// JSON types as bits, so type sets are cheap to intersect.
pub(super) const NULL: u8 = 1;
pub(super) const BOOLEAN: u8 = 2;
pub(super) const OBJECT: u8 = 4;
pub(super) const ARRAY: u8 = 8;
pub(super) const NUMBER: u8 = 16;
pub(super) const INTEGER: u8 = 32;
pub(super) const STRING: u8 = 64;
const ALL: u8 = 127;
/// `number` keywords apply to integers too.
pub(super) const NUMBERS: u8 = NUMBER | INTEGER;

const TYPE_NAMES: [(&str, u8); 7] = [
    ("null", NULL),
    ("boolean", BOOLEAN),
    ("object", OBJECT),
    ("array", ARRAY),
    ("number", NUMBER),
    ("integer", INTEGER),
    ("string", STRING),
];

/// A length or count limit: keyword, type it applies to, and what exceeding it means.
struct Count {
    keyword: &'static str,
    group: u8,
    beyond: &'static str,
}

const MAX_COUNTS: [Count; 3] = [
    Count {
        keyword: "maxLength",
        group: STRING,
        beyond: "longer strings",
    },
    Count {
        keyword: "maxItems",
        group: ARRAY,
        beyond: "longer arrays",
    },
    Count {
        keyword: "maxProperties",
        group: OBJECT,
        beyond: "objects with more properties",
    },
];

const MIN_COUNTS: [Count; 3] = [
    Count {
        keyword: "minLength",
        group: STRING,
        beyond: "shorter strings",
    },
    Count {
        keyword: "minItems",
        group: ARRAY,
        beyond: "shorter arrays",
    },
    Count {
        keyword: "minProperties",
        group: OBJECT,
        beyond: "objects with fewer properties",
    },
];

/// The types named by `type`, or `None` when absent or unusable (then any type).
pub(super) fn declared_types(map: &Map<String, Value>) -> Option<u8> {
    let bits = match map.get("type")? {
        Value::String(name) => type_bit(name),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .fold(0, |bits, name| bits | type_bit(name)),
        _ => 0,
    };
    (bits != 0).then_some(bits)
}

fn type_bit(name: &str) -> u8 {
    TYPE_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, bit)| *bit)
}

fn type_of(value: &Value) -> u8 {
    match value {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Object(_) => OBJECT,
        Value::Array(_) => ARRAY,
        Value::String(_) => STRING,
        Value::Number(n) if n.is_i64() || n.is_u64() => INTEGER,
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => INTEGER,
        Value::Number(_) => NUMBER,
    }
}

/// Whether a reader declaring `reader` types accepts values of type `bit`.
fn accepts(reader: u8, bit: u8) -> bool {
    reader & bit != 0 || (bit == INTEGER && reader & NUMBER != 0)
}

/// The types the writer can actually produce: its `type`, narrowed by `enum`/`const` (so an
/// untyped `enum: ["a"]` counts as a string).
pub(super) fn writer_types(map: &Map<String, Value>) -> Option<u8> {
    let declared = declared_types(map);
    let values = writer_values(map)?;
    let from_values = values
        .iter()
        .map(|v| type_of(v))
        .filter(|bit| declared.is_none_or(|d| accepts(d, *bit)))
        .fold(0, |bits, bit| bits | bit);
    Some(from_values)
}

/// The values the writer allows, if it lists them (`const`, else `enum`).
fn writer_values(map: &Map<String, Value>) -> Option<Vec<&Value>> {
    if let Some(value) = map.get("const") {
        return Some(vec![value]);
    }
    map.get("enum")
        .and_then(Value::as_array)
        .map(|values| values.iter().collect())
}

/// JSON equality where `1` and `1.0` are the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn type_names(bits: u8) -> String {
    TYPE_NAMES
        .iter()
        .filter(|(_, bit)| bits & bit != 0)
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_text(map: &Map<String, Value>) -> String {
    match map.get("type") {
        Some(Value::String(name)) => format!("`{name}`"),
        Some(Value::Array(names)) => {
            let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
            format!("`[{}]`", names.join(", "))
        }
        _ => "any type".to_owned(),
    }
}

fn list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| show(v))
        .collect::<Vec<_>>()
        .join(", ")
}

fn positive(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// A numeric limit: the tightest of `maximum`/`exclusiveMaximum` (or the minimum pair).
#[derive(Clone, Copy)]
struct Bound<'v> {
    value: f64,
    exclusive: bool,
    keyword: &'static str,
    raw: &'v Value,
}

impl Bound<'_> {
    fn show(&self) -> String {
        let draft4 = if self.exclusive && !self.keyword.starts_with("exclusive") {
            " (exclusive)"
        } else {
            ""
        };
        format!("`{}: {}`{draft4}", self.keyword, show(self.raw))
    }
}

/// Upper (`upper = true`) or lower bound of a schema. Draft 4's boolean `exclusiveMaximum`
/// makes `maximum` exclusive; Draft 6+'s numeric one is a bound of its own.
fn bound(map: &Map<String, Value>, upper: bool) -> Option<Bound<'_>> {
    let (inclusive, exclusive) = if upper {
        ("maximum", "exclusiveMaximum")
    } else {
        ("minimum", "exclusiveMinimum")
    };
    let plain = map.get(inclusive).and_then(|raw| {
        Some(Bound {
            value: raw.as_f64()?,
            exclusive: map.get(exclusive) == Some(&Value::Bool(true)),
            keyword: inclusive,
            raw,
        })
    });
    let strict = map.get(exclusive).and_then(|raw| {
        Some(Bound {
            value: raw.as_f64()?,
            exclusive: true,
            keyword: exclusive,
            raw,
        })
    });
    match (plain, strict) {
        (Some(a), Some(b)) => Some(if tighter(b, a, upper) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Whether bound `a` admits strictly fewer values than `b`.
fn tighter(a: Bound<'_>, b: Bound<'_>, upper: bool) -> bool {
    let further_in = if upper {
        a.value < b.value
    } else {
        a.value > b.value
    };
    further_in || (a.value == b.value && a.exclusive && !b.exclusive)
}

impl Cx {
    /// All keyword rules for a pair without combinators. Type-specific keywords are checked only
    /// for types both sides can hold: a reader's `maxLength` is irrelevant to a writer that only
    /// sends numbers.
    pub(super) fn compare_keywords(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        depth: usize,
    ) {
        let writer = writer_types(wm).or_else(|| declared_types(wm));
        let reader = declared_types(rm);
        self.check_type(w, wm, r, rm, writer);
        self.check_values(w, wm, r, rm);
        let shared = writer.unwrap_or(ALL) & reader.map_or(ALL, |t| t | (t & NUMBER) << 1);
        if shared & NUMBERS != 0 {
            self.check_bound(w, wm, r, rm, true);
            self.check_bound(w, wm, r, rm, false);
            self.check_multiple_of(w, wm, r, rm, writer);
        }
        for count in MAX_COUNTS.iter().filter(|c| shared & c.group != 0) {
            self.check_count(w, wm, r, rm, count, true);
        }
        for count in MIN_COUNTS.iter().filter(|c| shared & c.group != 0) {
            self.check_count(w, wm, r, rm, count, false);
        }
        if shared & STRING != 0 {
            self.check_pattern(w, wm, r, rm);
        }
        if shared & ARRAY != 0 {
            self.compare_arrays(w, wm, r, rm, depth);
        }
        if shared & OBJECT != 0 {
            self.compare_objects(w, wm, r, rm, depth);
        }
        self.check_not(w, r, rm, depth);
        self.check_conditional(w, wm, r, rm);
    }

    fn check_type(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        writer: Option<u8>,
    ) {
        let Some(reader) = declared_types(rm) else {
            return;
        };
        let produced = writer.unwrap_or(ALL);
        let lost = TYPE_NAMES
            .iter()
            .filter(|(_, bit)| produced & bit != 0 && !accepts(reader, *bit))
            .fold(0, |bits, (_, bit)| bits | bit);
        if lost == 0 {
            return;
        }
        let kept = produced & !lost != 0 || (lost & NUMBER != 0 && reader & INTEGER != 0);
        let rule = if kept { TYPE_NARROWED } else { TYPE_CHANGED };
        let (old, new) = self.old_new(type_text(wm), type_text(rm));
        let what = if writer.is_none() {
            "values of other types".to_owned()
        } else {
            format!("{} values", type_names(lost))
        };
        let message = format!(
            "type changed from {old} to {new}: readers using {} reject {what} written with {}",
            self.reader_name(),
            self.writer_name()
        );
        self.report(rule, w, r, message);
    }

    /// `enum` and `const`: the reader must list every value the writer may send.
    fn check_values(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
    ) {
        let sent = writer_values(wm);
        let writer_key = if wm.contains_key("const") {
            "const"
        } else {
            "enum"
        };
        if let Some(Value::Array(allowed)) = rm.get("enum") {
            let (wn, rn) = (w.child(&[writer_key]), r.child(&["enum"]));
            match &sent {
                None => {
                    let message = format!(
                        "`enum` was {}: {}",
                        self.reader_only(),
                        self.may_reject("values outside it")
                    );
                    self.report(ENUM_ADDED, w, r, message);
                }
                Some(values) => self.check_enum(values, allowed, (w, r), (&wn, &rn)),
            }
        }
        if let Some(expected) = rm.get("const") {
            let (wn, rn) = (w.child(&[writer_key]), r.child(&["const"]));
            let (rule, what) = match &sent {
                None => (
                    CONST_ADDED,
                    format!("`const: {}` was {}", show(expected), self.reader_only()),
                ),
                Some(values) if values.iter().all(|v| same(v, expected)) => return,
                Some(_) => {
                    let (old, new) = self.old_new(wn.clone(), rn.clone());
                    let what = format!(
                        "the allowed values changed from {} to {}",
                        super::engine::show_node(&old),
                        super::engine::show_node(&new)
                    );
                    (CONST_CHANGED, what)
                }
            };
            let message = format!("{what}: {}", self.may_reject("other values"));
            self.report(rule, w, r, message);
        }
    }

    fn check_enum(
        &mut self,
        sent: &[&Value],
        allowed: &[Value],
        (w, r): (&Node<'_>, &Node<'_>),
        (wn, rn): (&Node<'_>, &Node<'_>),
    ) {
        let missing: Vec<&Value> = sent
            .iter()
            .copied()
            .filter(|v| !allowed.iter().any(|a| same(a, v)))
            .collect();
        if missing.is_empty() {
            return;
        }
        let subset = allowed.iter().all(|a| sent.iter().any(|v| same(a, v)));
        let rule = if subset { ENUM_NARROWED } else { ENUM_CHANGED };
        let (old, new) = self.old_new(wn, rn);
        let message = format!(
            "the allowed values changed from {} to {}: readers using {} reject {} written with {}",
            super::engine::show_node(old),
            super::engine::show_node(new),
            self.reader_name(),
            list(&missing),
            self.writer_name()
        );
        self.report(rule, w, r, message);
    }

    fn check_bound(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        upper: bool,
    ) {
        let Some(reader) = bound(rm, upper) else {
            return;
        };
        let writer = bound(wm, upper);
        let (added, tightened, beyond) = if upper {
            (MAX_ADDED, MAX_DECREASED, "larger numbers")
        } else {
            (MIN_ADDED, MIN_INCREASED, "smaller numbers")
        };
        let (rule, what) = match writer {
            None => (
                added,
                format!("{} was {}", reader.show(), self.reader_only()),
            ),
            Some(writer) if tighter(reader, writer, upper) => {
                let (old, new) = self.old_new(writer.show(), reader.show());
                (tightened, format!("the limit changed from {old} to {new}"))
            }
            Some(_) => return,
        };
        let message = format!("{what}: {}", self.may_reject(beyond));
        self.report(rule, w, r, message);
    }

    fn check_count(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        count: &Count,
        upper: bool,
    ) {
        let number = |m: &Map<String, Value>| {
            m.get(count.keyword)
                .and_then(Value::as_f64)
                .filter(|n| upper || *n > 0.0) // `minLength: 0` and the like limit nothing
        };
        let Some(reader) = number(rm) else {
            return;
        };
        let (wn, rn) = (w.child(&[count.keyword]), r.child(&[count.keyword]));
        let (rule, what) = match number(wm) {
            None => (
                if upper { MAX_ADDED } else { MIN_ADDED },
                format!(
                    "`{}: {}` was {}",
                    count.keyword,
                    show(rn.value),
                    self.reader_only()
                ),
            ),
            Some(writer) if (upper && reader < writer) || (!upper && reader > writer) => {
                let (old, new) = self.old_new(&wn, &rn);
                (
                    if upper { MAX_DECREASED } else { MIN_INCREASED },
                    format!(
                        "`{}` changed from {} to {}",
                        count.keyword,
                        show(old.value),
                        show(new.value)
                    ),
                )
            }
            Some(_) => return,
        };
        let message = format!("{what}: {}", self.may_reject(count.beyond));
        self.report(rule, w, r, message);
    }

    fn check_multiple_of(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
        writer_types: Option<u8>,
    ) {
        let Some(divisor) = positive(rm, "multipleOf") else {
            return;
        };
        let (wn, rn) = (w.child(&["multipleOf"]), r.child(&["multipleOf"]));
        let (rule, what) = match positive(wm, "multipleOf") {
            None if divisor == 1.0 && writer_types == Some(INTEGER) => return,
            None => (
                MULTIPLE_OF_ADDED,
                format!(
                    "`multipleOf: {}` was {}",
                    show(rn.value),
                    self.reader_only()
                ),
            ),
            Some(step) if is_multiple(step, divisor) => return,
            Some(_) => {
                let (old, new) = self.old_new(&wn, &rn);
                (
                    MULTIPLE_OF_CHANGED,
                    format!(
                        "`multipleOf` changed from {} to {}, and {} is not a multiple of {}",
                        show(old.value),
                        show(new.value),
                        show(wn.value),
                        show(rn.value)
                    ),
                )
            }
        };
        let message = format!("{what}: {}", self.may_reject("numbers"));
        self.report(rule, w, r, message);
    }

    fn check_pattern(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
    ) {
        let Some(pattern) = rm.get("pattern").and_then(Value::as_str) else {
            return;
        };
        let (wn, rn) = (w.child(&["pattern"]), r.child(&["pattern"]));
        let (rule, what) = match wm.get("pattern").and_then(Value::as_str) {
            None => (
                PATTERN_ADDED,
                format!("`pattern: {}` was {}", show(rn.value), self.reader_only()),
            ),
            Some(previous) if previous == pattern => return,
            Some(_) => {
                let (old, new) = self.old_new(&wn, &rn);
                (
                    PATTERN_CHANGED,
                    format!(
                        "`pattern` changed from {} to {} (patterns are compared by text)",
                        show(old.value),
                        show(new.value)
                    ),
                )
            }
        };
        let message = format!("{what}: {}", self.may_reject("strings"));
        self.report(rule, w, r, message);
    }

    /// `not`: the reader excludes what its `not` matches, so its `not` must match no more than
    /// the writer's (compared with the roles swapped).
    fn check_not(&mut self, w: &Node<'_>, r: &Node<'_>, rm: &Map<String, Value>, depth: usize) {
        if !rm.contains_key("not") {
            return;
        }
        let (wn, rn) = (w.child(&["not"]), r.child(&["not"]));
        if rn.is_false() {
            return; // `not: false` excludes nothing
        }
        let rule = if !wn.present {
            NOT_ADDED
        } else if !self.accepts(&rn, &wn, depth) {
            NOT_EXTENDED
        } else {
            return;
        };
        self.report_change(rule, "not", (w, r), (&wn, &rn), "values");
    }

    /// `if`/`then`/`else` are compared by text: any difference on the reader's side counts.
    fn check_conditional(
        &mut self,
        w: &Node<'_>,
        wm: &Map<String, Value>,
        r: &Node<'_>,
        rm: &Map<String, Value>,
    ) {
        let keys = ["if", "then", "else"];
        if !keys.iter().any(|k| rm.contains_key(*k))
            || keys.iter().all(|k| wm.get(*k) == rm.get(*k))
        {
            return;
        }
        let message = format!(
            "`if`/`then`/`else` differ between the versions (they are compared by text): {}",
            self.may_reject("messages")
        );
        self.report(CONDITIONAL_CHANGED, w, r, message);
    }
}

/// Whether `step` is a whole multiple of `divisor` (within floating-point noise), so every
/// multiple of `step` is one of `divisor` too.
fn is_multiple(step: f64, divisor: f64) -> bool {
    let ratio = step / divisor;
    ratio.is_finite() && (ratio - ratio.round()).abs() <= 1e-9 * ratio.abs().max(1.0)
}
