//! `check-messages`: stream entries checked against their stream's message schema, the version
//! picked by the entry's `version_field`.
//!
//! An entry is its fields. With `encoding: json` the document is the JSON text of `field`
//! (in a JSON-lines file it may also be given as a JSON value); with `encoding: fields` the
//! document is the object of the entry's fields, less `version_field`. Schemas are compiled
//! once per version; the valid path (nearly every message) is one `is_valid` call.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::model::schemas::LoadedSchema;
use crate::model::types::Encoding;
use crate::text::{untrusted, untrusted_within};

/// The longest excerpt of an entry's value in a violation's message, in characters.
const EXCERPT_CHARS: usize = 80;

/// The longest violation message, in characters (a message may list field names).
const MESSAGE_CHARS: usize = 400;

/// One problem with one entry. Every field is safe to print: entries are written by whoever
/// can write to the stream, so what a violation quotes of them (the ID, field names in the
/// pointer and the message, an excerpt of a value) is escaped and cut ([`crate::text`]), and
/// an entry cannot forge a line of output or print 50 MB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The entry: its stream ID, or `line N` of a file.
    pub entry: String,
    /// The schema version it was checked against, if one could be picked.
    pub version: Option<u64>,
    /// JSON pointer of the offending value (`""` for the whole document).
    pub pointer: String,
    pub message: String,
}

/// An entry's fields: from Redis (strings), or a JSON-lines object (any JSON values).
pub enum Fields<'a> {
    Redis(&'a [(String, String)]),
    Json(&'a [(Cow<'a, str>, JsonField<'a>)]),
}

/// A field of a JSON-lines object: a JSON string is the field's text (as a Redis field
/// would be: borrowed from the line where it has no escapes), anything else a JSON value.
/// The line is read into these, never into an object of JSON values: the document's JSON
/// text is then unescaped once and parsed once, with no map built around it.
pub enum JsonField<'a> {
    Text(Cow<'a, str>),
    Value(Value),
}

enum FieldValue<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// A JSON-lines object's fields in their order.
struct JsonFields<'a>(Vec<(Cow<'a, str>, JsonField<'a>)>);

impl<'de> Deserialize<'de> for JsonFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = JsonFields<'de>;
            // As serde_json's own map says, so that a line that is no object reads the same.
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(access.size_hint().unwrap_or(0).min(16));
                while let Some(name) = access.next_key::<JsonField>()? {
                    let value = access.next_value()?;
                    // A JSON object's names are strings: always text.
                    if let JsonField::Text(name) = name {
                        fields.push((name, value));
                    }
                }
                Ok(JsonFields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl<'de> Deserialize<'de> for JsonField<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

/// A JSON string as text; any other JSON as the `Value` serde_json would make of it.
struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = JsonField<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(JsonField::Text(Cow::Borrowed(text)))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(JsonField::Text(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(JsonField::Text(Cow::Owned(text)))
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(JsonField::Value(Value::Bool(value)))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(JsonField::Value(Value::from(value)))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(JsonField::Value(Value::from(value)))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        let number = serde_json::Number::from_f64(value);
        Ok(JsonField::Value(number.map_or(Value::Null, Value::Number)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonField::Value(Value::Null))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        let seq = de::value::SeqAccessDeserializer::new(access);
        Value::deserialize(seq).map(JsonField::Value)
    }
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        let map = de::value::MapAccessDeserializer::new(access);
        Value::deserialize(map).map(JsonField::Value)
    }
}

/// A line of a file, as a violation names its entry.
struct Line(usize);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.0)
    }
}

impl Violation {
    /// A violation, its texts made safe to print.
    fn new(entry: &str, version: Option<u64>, pointer: &str, message: &str) -> Violation {
        Violation {
            entry: untrusted(entry).into_owned(),
            version,
            pointer: untrusted(pointer).into_owned(),
            message: untrusted_within(message, MESSAGE_CHARS).into_owned(),
        }
    }
}

/// A schema error's message, quoting an excerpt of the offending value rather than all of it.
fn error_message(error: &jsonschema::ValidationError<'_>) -> String {
    error.masked_with(excerpt(error.instance())).to_string()
}

/// A JSON value as compact JSON text, escaped and cut after [`EXCERPT_CHARS`] characters (with
/// the number of bytes left out). Only the first bytes are kept while it is written, so a
/// 10 MB value costs no memory.
fn excerpt(value: &Value) -> String {
    let mut head = Head::default();
    // `Head` never fails; serde_json's own errors cannot happen for a `Value`.
    let _ = serde_json::to_writer(&mut head, value);
    let text = String::from_utf8_lossy(&head.kept);
    // A character cut at the end of `kept` lies past `cut`: `head.kept` holds at least
    // EXCERPT_CHARS + 1 whole characters when it is full.
    let cut = text
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(text.len(), |(at, _)| at);
    let shown = untrusted_within(&text[..cut], usize::MAX);
    match head.written - cut {
        0 => shown.into_owned(),
        rest => format!("{shown}… ({rest} more bytes)"),
    }
}

/// The first bytes written to it, and how many were written in all.
#[derive(Default)]
struct Head {
    kept: Vec<u8>,
    written: usize,
}

impl Head {
    /// Enough bytes for EXCERPT_CHARS + 1 characters of up to 4 bytes.
    const KEPT: usize = (EXCERPT_CHARS + 1) * 4;
}

impl std::io::Write for Head {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = Self::KEPT.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&buf[..room.min(buf.len())]);
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<FieldValue<'a>> {
        match self {
            Fields::Redis(pairs) => pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| FieldValue::Text(v)),
            // Of a name given twice, the last (as a JSON object read into a map keeps it).
            Fields::Json(fields) => {
                fields
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, field)| match field {
                        JsonField::Text(text) => FieldValue::Text(text),
                        JsonField::Value(value) => FieldValue::Json(value),
                    })
            }
        }
    }

    /// The entry as an object, without the version field (`encoding: fields`).
    fn object(&self, without: Option<&str>) -> Value {
        let keep = |k: &str| Some(k) != without;
        Value::Object(match self {
            Fields::Redis(pairs) => pairs
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
            Fields::Json(fields) => fields
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, field)| {
                    let value = match field {
                        JsonField::Text(text) => Value::String(text.to_string()),
                        JsonField::Value(value) => value.clone(),
                    };
                    (k.to_string(), value)
                })
                .collect(),
        })
    }
}

/// One schema, compiled, ready to check entries.
pub struct Checker {
    encoding: Encoding,
    field: Option<String>,
    version_field: Option<String>,
    validators: BTreeMap<u64, jsonschema::Validator>,
}

impl Checker {
    pub fn new(name: &str, schema: &LoadedSchema) -> Result<Checker, String> {
        let validators = schema
            .versions
            .iter()
            .map(|(n, json)| {
                jsonschema::validator_for(json)
                    .map(|v| (*n, v))
                    .map_err(|e| format!("schema `{name}` version {n} cannot be compiled: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Checker {
            encoding: schema.encoding,
            field: schema.field.clone(),
            version_field: schema.version_field.clone(),
            validators,
        })
    }

    /// Check one entry; `entry` names it in violations (written only for those).
    pub fn check(&self, entry: impl fmt::Display, fields: &Fields) -> Vec<Violation> {
        let violation = |version, pointer: &str, message: String| {
            Violation::new(&entry.to_string(), version, pointer, &message)
        };
        let (version, validator) = match self.pick_version(fields) {
            Ok(picked) => picked,
            Err(message) => return vec![violation(None, "", message)],
        };
        let parsed;
        let document = match (self.encoding, self.field.as_deref()) {
            (Encoding::Fields, _) | (Encoding::Json, None) => {
                parsed = fields.object(self.version_field.as_deref());
                &parsed
            }
            (Encoding::Json, Some(field)) => match fields.get(field) {
                None => {
                    return vec![violation(
                        Some(version),
                        "",
                        format!("no field `{field}` (the JSON document)"),
                    )];
                }
                Some(FieldValue::Json(value)) => value,
                Some(FieldValue::Text(text)) => match serde_json::from_str(text) {
                    Ok(value) => {
                        parsed = value;
                        &parsed
                    }
                    Err(e) => {
                        return vec![violation(
                            Some(version),
                            "",
                            format!("field `{field}` is not JSON: {e}"),
                        )];
                    }
                },
            },
        };
        if validator.is_valid(document) {
            return Vec::new();
        }
        validator
            .iter_errors(document)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                violation(Some(version), &pointer, error_message(&e))
            })
            .collect()
    }

    /// The version an entry names in `version_field`, or the latest when there is none.
    fn pick_version(&self, fields: &Fields) -> Result<(u64, &jsonschema::Validator), String> {
        let Some(version_field) = &self.version_field else {
            return self
                .validators
                .iter()
                .next_back()
                .map(|(n, v)| (*n, v))
                .ok_or_else(|| "the schema has no versions".to_owned());
        };
        let named = match fields.get(version_field) {
            None => return Err(format!("no version field `{version_field}`")),
            Some(FieldValue::Text(text)) => text.trim().parse::<u64>().ok(),
            Some(FieldValue::Json(value)) => value.as_u64(),
        };
        named
            .and_then(|n| self.validators.get(&n).map(|v| (n, v)))
            .ok_or_else(|| {
                let declared: Vec<String> = self.validators.keys().map(u64::to_string).collect();
                format!(
                    "version field `{version_field}` names no declared version (declared: {})",
                    declared.join(", ")
                )
            })
    }
}

/// The most violations listed one by one; past it they are only counted. A file of any size
/// is checked in bounded memory, and a file of bad lines would otherwise list one per line.
pub const MAX_LISTED: usize = 10_000;

/// How much of a file is read and checked at a time (more when one line is longer).
pub const BLOCK_BYTES: usize = 8 << 20;

/// What checking JSON lines found.
#[derive(Debug, Default, PartialEq)]
pub struct LinesChecked {
    /// Entries checked (lines that are not blank).
    pub checked: usize,
    /// Entries with at least one violation.
    pub invalid: usize,
    /// The first [`MAX_LISTED`] violations, in line order.
    pub violations: Vec<Violation>,
    /// Violations past those, counted only.
    pub unlisted: usize,
}

impl LinesChecked {
    /// Take a block's findings, in line order, after the blocks before it.
    fn absorb(&mut self, block: LinesChecked) {
        self.checked += block.checked;
        self.invalid += block.invalid;
        self.unlisted += block.unlisted;
        for violation in block.violations {
            if self.violations.len() < MAX_LISTED {
                self.violations.push(violation);
            } else {
                self.unlisted += 1;
            }
        }
    }
}

/// Check a JSON-lines text, one entry per line (blank lines skipped), on `threads` threads.
/// Violations come in line order. (The tests' reference for [`check_reader`].)
#[cfg(test)]
pub fn check_lines(checker: &Checker, text: &str, threads: usize) -> LinesChecked {
    check_block(checker, text, 1, threads)
}

/// [`check_lines`] over what `reader` gives, a block of about `block` bytes at a time (cut
/// after a line's end), so that memory stays bounded whatever the size of the input: a few
/// blocks, the longest line, and [`MAX_LISTED`] violations. The next block is read while
/// one is checked. `Err` when reading fails or a line is not UTF-8 text (naming it).
pub fn check_reader(
    checker: &Checker,
    reader: impl Read + Send,
    threads: usize,
    block: usize,
) -> std::io::Result<LinesChecked> {
    // One block read ahead: the reader waits while two are in hand. Checked blocks go back
    // to the reader to be filled again: memory freed on another thread than the one that
    // allocated it is not reused at once, and fresh memory costs time here.
    let (blocks, received) = std::sync::mpsc::sync_channel(1);
    let (recycle, recycled) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || read_blocks(reader, block.max(1), &blocks, &recycled));
        let mut found = LinesChecked::default();
        // An early return drops the receiver, which stops the reader.
        for next in received {
            let (first_line, text): (usize, String) = next?;
            found.absorb(check_block(checker, &text, first_line, threads));
            let _ = recycle.send(text.into_bytes());
        }
        Ok(found)
    })
}

/// A block of whole lines and the number of its first line, or why none could be read.
type Block = std::io::Result<(usize, String)>;

/// Send `reader`'s text a block at a time, each cut after its last line's end (a line
/// longer than a block makes a longer block), until the end or an error.
fn read_blocks(
    mut reader: impl Read,
    block: usize,
    blocks: &std::sync::mpsc::SyncSender<Block>,
    recycled: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut first_line = 1;
    let mut want = block;
    loop {
        let room = want.saturating_sub(buf.len()) as u64;
        let read = match (&mut reader).take(room).read_to_end(&mut buf) {
            Ok(read) => read,
            Err(e) => {
                let _ = blocks.send(Err(e));
                return;
            }
        };
        let end = (read as u64) < room;
        let cut = if end {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(at) => at + 1,
                None => {
                    // One line longer than a block so far: read on until its end.
                    want = buf.len() + block;
                    continue;
                }
            }
        };
        // What follows the cut starts the next block, in a buffer checked before if any.
        let mut next = recycled.try_recv().unwrap_or_default();
        next.clear();
        next.extend_from_slice(buf.get(cut..).unwrap_or_default());
        buf.truncate(cut);
        let text = match String::from_utf8(std::mem::replace(&mut buf, next)) {
            Ok(text) => text,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = first_line + bytecount_newlines(valid);
                let _ = blocks.send(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("line {line} is not UTF-8 text"),
                )));
                return;
            }
        };
        let lines = text.lines().count();
        if blocks.send(Ok((first_line, text))).is_err() || end {
            return; // the checking stopped, or all is sent
        }
        first_line += lines;
        want = block;
    }
}

fn bytecount_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Check `text`, whose first line is line `first_line`, on `threads` threads.
fn check_block(checker: &Checker, text: &str, first_line: usize, threads: usize) -> LinesChecked {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (first_line + i, l))
        .collect();
    let chunk = lines.len().div_ceil(threads.max(1)).max(1);
    // Contiguous chunks joined in order: violations stay in line order. Each keeps at most
    // MAX_LISTED violations and counts the rest.
    let parts: Vec<LinesChecked> = std::thread::scope(|scope| {
        let workers: Vec<_> = lines
            .chunks(chunk)
            .map(|part| scope.spawn(move || check_part(checker, part)))
            .collect();
        workers
            .into_iter()
            // A panicking worker must not pass for "no violations".
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut found = LinesChecked::default();
    for part in parts {
        found.absorb(part);
    }
    found
}

fn check_part(checker: &Checker, lines: &[(usize, &str)]) -> LinesChecked {
    let mut found = LinesChecked::default();
    for (number, line) in lines {
        found.checked += 1;
        let violations = check_line(checker, *number, line);
        found.invalid += usize::from(!violations.is_empty());
        found.absorb(LinesChecked {
            violations,
            ..LinesChecked::default()
        });
    }
    found
}

fn check_line(checker: &Checker, number: usize, line: &str) -> Vec<Violation> {
    match serde_json::from_str::<JsonFields>(line) {
        Ok(fields) => checker.check(Line(number), &Fields::Json(&fields.0)),
        Err(e) => vec![Violation::new(
            &Line(number).to_string(),
            None,
            "",
            &format!("not a JSON object of entry fields: {e}"),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::Mode;

    fn schema(
        encoding: Encoding,
        field: Option<&str>,
        version_field: Option<&str>,
    ) -> LoadedSchema {
        let v1 = serde_json::json!({
            "type": "object", "required": ["id"],
            "properties": { "id": { "type": "string" }, "n": { "type": "integer" } }
        });
        let v2 = serde_json::json!({
            "type": "object", "required": ["id", "owner"],
            "properties": { "id": { "type": "string" }, "owner": { "type": "string" } }
        });
        LoadedSchema {
            encoding,
            field: field.map(str::to_owned),
            version_field: version_field.map(str::to_owned),
            mode: Mode::Backward,
            versions: BTreeMap::from([(1, v1), (2, v2)]),
            breaking: Default::default(),
        }
    }

    fn redis(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn json_entries_are_checked_against_the_version_they_name() {
        let c = Checker::new("t", &schema(Encoding::Json, Some("payload"), Some("v")))
            .expect("compiles");
        let ok = redis(&[("v", "1"), ("payload", r#"{"id": "a", "n": 3}"#)]);
        assert!(c.check("1-0", &Fields::Redis(&ok)).is_empty());
        let wrong_type = redis(&[("v", "1"), ("payload", r#"{"id": "a", "n": "three"}"#)]);
        let found = c.check("1-1", &Fields::Redis(&wrong_type));
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].entry.as_str(),
                found[0].version,
                found[0].pointer.as_str()
            ),
            ("1-1", Some(1), "/n")
        );
        let v2_without_owner = redis(&[("v", "2"), ("payload", r#"{"id": "a"}"#)]);
        let found = c.check("1-2", &Fields::Redis(&v2_without_owner));
        assert_eq!(found[0].version, Some(2));
        assert!(found[0].message.contains("owner"), "{found:?}");
        for (fields, expected) in [
            (redis(&[("payload", "{}")]), "no version field `v`"),
            (
                redis(&[("v", "9"), ("payload", "{}")]),
                "names no declared version (declared: 1, 2)",
            ),
            (redis(&[("v", "1")]), "no field `payload`"),
            (
                redis(&[("v", "1"), ("payload", "{not json")]),
                "is not JSON",
            ),
        ] {
            let found = c.check("x", &Fields::Redis(&fields));
            assert!(
                found.len() == 1 && found[0].message.contains(expected),
                "{expected}: {found:?}"
            );
        }
    }

    #[test]
    fn field_entries_are_objects_without_the_version_field() {
        let c = Checker::new("t", &schema(Encoding::Fields, None, Some("v"))).expect("compiles");
        let ok = redis(&[("v", "2"), ("id", "a"), ("owner", "me")]);
        assert!(c.check("1-0", &Fields::Redis(&ok)).is_empty());
        let missing = redis(&[("v", "2"), ("id", "a")]);
        assert_eq!(c.check("1-1", &Fields::Redis(&missing)).len(), 1);
        // Without a version field, the latest version applies.
        let latest = Checker::new("t", &schema(Encoding::Fields, None, None)).expect("compiles");
        assert_eq!(
            latest
                .check("1-2", &Fields::Redis(&redis(&[("id", "a")])))
                .len(),
            1
        );
    }

    #[test]
    fn violations_quote_an_escaped_excerpt_of_the_value() {
        let c = Checker::new("t", &schema(Encoding::Fields, None, Some("v"))).expect("compiles");
        let huge = "y".repeat(1_000_000);
        let found = c.check(
            "1-0",
            &Fields::Redis(&redis(&[("v", "1"), ("id", "a"), ("n", &huge)])),
        );
        let [violation] = found.as_slice() else {
            panic!("{found:?}");
        };
        let expected = format!(
            "\"{}… ({} more bytes) is not of type \"integer\"",
            "y".repeat(79),
            huge.len() + 2 - 80
        );
        assert_eq!(violation.message, expected);
        let forged = redis(&[("v", "1"), ("id", "a"), ("n", "x\nerror: forged\u{1b}[2K")]);
        let found = c.check("1-1\nerror: forged", &Fields::Redis(&forged));
        assert_eq!(found[0].entry, "1-1\\nerror: forged");
        assert_eq!(
            found[0].message,
            "\"x\\nerror: forged\\u001b[2K\" is not of type \"integer\""
        );
        // A field name is quoted whole by the schema library: escaped and cut here.
        let strict = LoadedSchema {
            versions: BTreeMap::from([(
                1,
                serde_json::json!({ "properties": { "id": {} }, "additionalProperties": false }),
            )]),
            ..schema(Encoding::Fields, None, None)
        };
        let c = Checker::new("t", &strict).expect("compiles");
        let found = c.check(
            "1-2",
            &Fields::Redis(&redis(&[(&format!("a\n{huge}"), "1")])),
        );
        assert!(!found[0].message.contains('\n'), "{:?}", found[0]);
        assert!(found[0].message.len() < 500, "{}", found[0].message.len());
        assert!(
            found[0].message.ends_with(" more bytes)"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn lines_are_checked_in_parallel_and_reported_in_order() {
        let c = Checker::new("t", &schema(Encoding::Json, Some("payload"), Some("v")))
            .expect("compiles");
        let mut text = String::new();
        for i in 0..1000 {
            if i % 100 == 7 {
                text.push_str(&format!("{{\"v\": 1, \"payload\": {{\"n\": {i}}}}}\n"));
            } else {
                text.push_str(&format!(
                    "{{\"v\": \"1\", \"payload\": {{\"id\": \"x{i}\"}}}}\n"
                ));
            }
        }
        text.push_str("\nnot json\n");
        let found = check_lines(&c, &text, 3);
        assert_eq!(found.checked, 1001);
        assert_eq!(found.invalid, 11);
        let entries: Vec<&str> = found.violations.iter().map(|v| v.entry.as_str()).collect();
        let mut expected: Vec<String> = (0..10).map(|k| format!("line {}", k * 100 + 8)).collect();
        expected.push("line 1002".to_owned());
        assert_eq!(entries, expected);
    }

    fn mixed_lines(count: usize, seed: u64) -> String {
        // A small deterministic generator: valid and invalid entries, blank lines, CRLF,
        // lines longer than the smaller blocks, text that is not JSON.
        let mut state = seed;
        let mut text = String::new();
        for i in 0..count {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let line = match (state >> 33) % 7 {
                0 => format!("{{\"v\": \"1\", \"payload\": {{\"id\": \"x{i}\"}}}}"),
                1 => format!("{{\"v\": \"1\", \"payload\": {{\"n\": {i}}}}}"),
                2 => String::new(),
                3 => format!(
                    "{{\"v\": \"9\", \"payload\": {{\"id\": \"{}\"}}}}",
                    "y".repeat(300)
                ),
                4 => "not json at all".to_owned(),
                5 => "   ".to_owned(),
                _ => {
                    format!("{{\"v\": \"2\", \"payload\": {{\"id\": \"z{i}\", \"owner\": \"o\"}}}}")
                }
            };
            text.push_str(&line);
            text.push_str(if state.is_multiple_of(5) {
                "\r\n"
            } else {
                "\n"
            });
        }
        // And a last line without its newline.
        text.push_str("{\"v\": \"1\"}");
        text
    }

    /// A line read field by field (strings as text, the rest as values) is checked as the
    /// same line read into a JSON object: a name given twice (the last one counts), escaped
    /// text, the version as a number, the document as a JSON value or as JSON text, for both
    /// encodings.
    #[test]
    fn json_lines_are_checked_as_the_objects_they_are() {
        let lines = [
            r#"{"v": "1", "payload": {"id": "a", "n": 3}}"#,
            r#"{"v": 1, "payload": "{\"id\": \"a\", \"n\": \"three\"}"}"#,
            r#"{"v": "2", "payload": "{\"id\": \"\\u00e9\\n\"}", "v": "1"}"#,
            r#"{"payload": {"id": "a"}, "v": "9"}"#,
            r#"{"v": "1", "payload": "{not json"}"#,
            r#"{"v": 2.0, "payload": [1, true, null], "extra": {"a": [1.5]}}"#,
            r#"{"id": "x", "v": "1", "n": 4, "id": 5}"#,
            r#"{"v": "1", "payload": "{\"id\": \"a\"}", "payload": {"id": 7}}"#,
            r#"[1, 2]"#,
            r#"{"v": "1", "payload": {"id": "a"}} trailing"#,
        ];
        for (encoding, field) in [(Encoding::Json, Some("payload")), (Encoding::Fields, None)] {
            let c = Checker::new("t", &schema(encoding, field, Some("v"))).expect("compiles");
            for (i, line) in lines.iter().enumerate() {
                let read = check_line(&c, i + 1, line);
                let as_object = match serde_json::from_str::<serde_json::Map<String, Value>>(line) {
                    Ok(object) => {
                        let fields: Vec<(Cow<str>, JsonField)> = object
                            .into_iter()
                            .map(|(name, value)| {
                                let field = match value {
                                    Value::String(text) => JsonField::Text(Cow::Owned(text)),
                                    other => JsonField::Value(other),
                                };
                                (Cow::Owned(name), field)
                            })
                            .collect();
                        c.check(Line(i + 1), &Fields::Json(&fields))
                    }
                    Err(e) => vec![Violation::new(
                        &Line(i + 1).to_string(),
                        None,
                        "",
                        &format!("not a JSON object of entry fields: {e}"),
                    )],
                };
                assert_eq!(read, as_object, "{encoding:?}: {line}");
            }
        }
    }

    #[test]
    fn a_file_read_block_by_block_gives_what_the_whole_text_gives() {
        let c = Checker::new("t", &schema(Encoding::Json, Some("payload"), Some("v")))
            .expect("compiles");
        for seed in 1..6 {
            let text = mixed_lines(400, seed);
            let whole = check_lines(&c, &text, 2);
            assert!(whole.invalid > 0 && whole.checked > 0);
            for block in [1, 7, 64, 333, 4096, 1 << 20] {
                for threads in [1, 3] {
                    let read = check_reader(&c, text.as_bytes(), threads, block).expect("reads");
                    assert_eq!(read, whole, "seed {seed}, block {block}, threads {threads}");
                }
            }
        }
    }

    #[test]
    fn past_the_listed_violations_they_are_counted() {
        let c = Checker::new("t", &schema(Encoding::Json, Some("payload"), Some("v")))
            .expect("compiles");
        let text = "not json\n".repeat(MAX_LISTED + 50);
        let found = check_reader(&c, text.as_bytes(), 2, 1000).expect("reads");
        assert_eq!(found.checked, MAX_LISTED + 50);
        assert_eq!(found.invalid, MAX_LISTED + 50);
        assert_eq!(found.violations.len(), MAX_LISTED);
        assert_eq!(found.unlisted, 50);
        assert_eq!(
            found.violations.last().map(|v| v.entry.as_str()),
            Some(format!("line {MAX_LISTED}").as_str())
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_is_named() {
        let c = Checker::new("t", &schema(Encoding::Json, Some("payload"), Some("v")))
            .expect("compiles");
        let mut bytes = b"{}\n{}\n\n".to_vec();
        bytes.extend_from_slice(b"{\"v\": \"\xff\"}\n");
        let error = check_reader(&c, bytes.as_slice(), 1, 4).expect_err("not UTF-8");
        assert_eq!(error.to_string(), "line 4 is not UTF-8 text");
    }
}
