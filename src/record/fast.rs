//! A stored record read in one pass, when it is written as this tool writes it: compact
//! JSON, its fields in the order of [`Record`], names without escapes. Anything else is
//! given up on (`None`) and left to serde, which also says what is wrong with a record that
//! cannot be used.
//!
//! Why: a no-op plan reads the record of every stream it manages, and serde's parse of a
//! record of 10,000 streams (~700 KB) took ~6% of such a plan's CPU on a cluster; this pass
//! takes a third of that. What it reads is what serde reads, field for field: the maps are
//! built from their entries the same way ([`SmallMap`] and `BTreeMap` from the entries in
//! order), and a property test compares the two on records of every kind and on records
//! damaged at random.

use std::collections::{BTreeMap, BTreeSet};

use compact_str::CompactString;

use super::glance::plain_string;
use super::{FORMAT, Record, RecordedGroup, RecordedStream};
use crate::small_map::SmallMap;

/// The record in `json`, or `None` where it is not as this tool writes it.
pub fn read(json: &[u8]) -> Option<Record> {
    let mut c = Cursor { json, at: 0 };
    c.byte(b'{')?;
    c.field("format")?;
    let format = u32::try_from(c.number()?).ok()?;
    // A newer format is for serde to refuse, with its message.
    if format > FORMAT {
        return None;
    }
    c.next_field("environment")?;
    let environment = match c.word(b"null") {
        Some(()) => None,
        None => Some(c.string()?.to_owned()),
    };
    c.next_field("digest")?;
    let digest = c.string()?.to_owned();
    c.next_field("applied_at_ms")?;
    let applied_at_ms = c.number()?;
    c.next_field("tool_version")?;
    let tool_version = c.string()?.to_owned();
    c.next_field("streams")?;
    let streams = c.streams()?;
    c.next_field("users")?;
    let users = c.users()?;
    c.next_field("serial")?;
    let serial = c.number()?;
    let applied_plan = match c.byte(b',') {
        Some(()) => {
            c.field("applied_plan")?;
            Some(c.string()?.to_owned())
        }
        None => None,
    };
    c.byte(b'}')?;
    (c.at == json.len()).then_some(Record {
        format,
        environment,
        digest,
        applied_at_ms,
        tool_version,
        streams,
        users,
        serial,
        applied_plan,
    })
}

/// Where the read is in the text.
struct Cursor<'a> {
    json: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Past `byte`, if it is next.
    fn byte(&mut self, byte: u8) -> Option<()> {
        (self.json.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    /// Past `word`, if it is next.
    fn word(&mut self, word: &[u8]) -> Option<()> {
        self.json
            .get(self.at..)?
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// Past `"name":`.
    fn field(&mut self, name: &str) -> Option<()> {
        self.byte(b'"')?;
        self.word(name.as_bytes())?;
        self.byte(b'"')?;
        self.byte(b':')
    }

    /// Past `,"name":`.
    fn next_field(&mut self, name: &str) -> Option<()> {
        self.byte(b',')?;
        self.field(name)
    }

    /// A string without escapes.
    fn string(&mut self) -> Option<&'a str> {
        let (text, after) = plain_string(self.json, self.at)?;
        self.at = after;
        Some(text)
    }

    /// A whole number as JSON writes it: digits, no sign, no leading zero, within `u64`.
    fn number(&mut self) -> Option<u64> {
        let digits = self
            .json
            .get(self.at..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = self.json.get(self.at..self.at + digits)?;
        if digits == 0 || (digits > 1 && text.first() == Some(&b'0')) {
            return None;
        }
        // A number that goes on (`1.5`, `1e3`) is for serde.
        if matches!(self.json.get(self.at + digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let mut value: u64 = 0;
        for digit in text {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        self.at += digits;
        Some(value)
    }

    /// The items of a collection between `open` and `close`, each read by `item`, separated
    /// by commas.
    fn items(
        &mut self,
        (open, close): (u8, u8),
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.byte(open)?;
        if self.byte(close).is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            if self.byte(b',').is_none() {
                return self.byte(close);
            }
        }
    }

    /// `streams`: each key with its groups. Keys must increase strictly, as the tool writes
    /// them; serde's map keeps the last of equal keys, and this never has to.
    fn streams(&mut self) -> Option<BTreeMap<CompactString, RecordedStream>> {
        let mut entries: Vec<(CompactString, RecordedStream)> = Vec::new();
        self.items((b'{', b'}'), |c| {
            let key = c.string()?;
            if entries.last().is_some_and(|(last, _)| last.as_str() >= key) {
                return None;
            }
            c.byte(b':')?;
            c.byte(b'{')?;
            c.field("groups")?;
            let groups = c.groups()?;
            c.byte(b'}')?;
            entries.push((key.into(), RecordedStream { groups }));
            Some(())
        })?;
        Some(entries.into_iter().collect())
    }

    /// A stream's `groups`: each name with its `start`.
    fn groups(&mut self) -> Option<SmallMap<CompactString, RecordedGroup>> {
        let mut entries: Vec<(CompactString, RecordedGroup)> = Vec::new();
        self.items((b'{', b'}'), |c| {
            let name = c.string()?;
            c.byte(b':')?;
            c.byte(b'{')?;
            c.field("start")?;
            let start = c.string()?;
            c.byte(b'}')?;
            entries.push((
                name.into(),
                RecordedGroup {
                    start: start.into(),
                },
            ));
            Some(())
        })?;
        Some(entries.into_iter().collect())
    }

    /// `users`: their names.
    fn users(&mut self) -> Option<BTreeSet<String>> {
        let mut users = BTreeSet::new();
        self.items((b'[', b']'), |c| {
            users.insert(c.string()?.to_owned());
            Some(())
        })?;
        Some(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(
        environment: Option<String>,
        streams: &BTreeMap<String, Vec<(String, String)>>,
        users: &BTreeSet<String>,
        applied_plan: Option<String>,
    ) -> Record {
        Record {
            format: FORMAT,
            environment,
            digest: "0123abcd".to_owned(),
            applied_at_ms: 1_796_440_269_859,
            tool_version: "0.1.0".to_owned(),
            streams: streams
                .iter()
                .map(|(key, groups)| {
                    let groups = groups
                        .iter()
                        .map(|(name, start)| {
                            (
                                name.as_str().into(),
                                RecordedGroup {
                                    start: start.as_str().into(),
                                },
                            )
                        })
                        .collect();
                    (key.as_str().into(), RecordedStream { groups })
                })
                .collect(),
            users: users.clone(),
            serial: 7,
            applied_plan,
        }
    }

    #[test]
    fn the_tool_s_own_record_is_read_whole() {
        let streams = BTreeMap::from([
            (
                "app:orders".to_owned(),
                vec![
                    ("workers".to_owned(), "$".to_owned()),
                    ("audit".to_owned(), "0".to_owned()),
                ],
            ),
            ("app:é{x}[y]".to_owned(), vec![]),
        ]);
        let users = BTreeSet::from(["app-reader".to_owned()]);
        for (environment, plan) in [
            (None, None),
            (Some("prod".to_owned()), Some("p1".to_owned())),
        ] {
            let written = record(environment, &streams, &users, plan);
            let json = written.to_json();
            assert_eq!(read(json.as_bytes()), Some(written), "{json}");
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        let written = record(None, &BTreeMap::new(), &BTreeSet::new(), None).to_json();
        assert!(read(written.as_bytes()).is_some(), "{written}");
        let newer = written.replacen("\"format\":1", "\"format\":99", 1);
        let spaced = written.replacen(',', ", ", 1);
        let escaped = written.replacen("0.1.0", "0.1\\u002e0", 1);
        let unknown = written.replacen('}', ",\"extra\":1}", 1);
        let leading_zero = written.replacen("\"serial\":7", "\"serial\":07", 1);
        let fraction = written.replacen("\"serial\":7", "\"serial\":7.0", 1);
        let huge = written.replacen("\"serial\":7", "\"serial\":18446744073709551616", 1);
        let out_of_order = written.replacen(
            "\"streams\":{}",
            "\"streams\":{\"b\":{\"groups\":{}},\"a\":{\"groups\":{}}}",
            1,
        );
        for json in [
            newer,
            spaced,
            escaped,
            unknown,
            leading_zero,
            fraction,
            huge,
            out_of_order,
            format!("{written} "),
            written[..written.len() - 1].to_owned(),
        ] {
            assert_ne!(json, written);
            assert_eq!(read(json.as_bytes()), None, "{json}");
        }
    }

    proptest! {
        /// Whatever the record holds, the one-pass read either gives up or reads exactly
        /// what serde reads.
        #[test]
        fn the_read_is_serde_s_read(
            environment in prop::option::of("[a-z\"\\\\]{0,4}"),
            streams in prop::collection::btree_map(
                "[a-z:{}\\[\\]\"\\\\é]{0,6}",
                prop::collection::vec(("[a-z\"}]{1,3}", "[$0-9-]{1,4}"), 0..3),
                0..6,
            ),
            users in prop::collection::btree_set("[a-z\"]{1,4}", 0..4),
            applied_plan in prop::option::of("[a-z0-9]{1,4}"),
        ) {
            let written = record(environment, &streams, &users, applied_plan);
            let json = written.to_json();
            let plain = !json.contains('\\');
            match read(json.as_bytes()) {
                Some(read) => {
                    let parsed: Record = serde_json::from_str(&json)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&read, &parsed);
                    prop_assert_eq!(read, written);
                }
                None => prop_assert!(!plain, "gave up on {}", json),
            }
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// A record damaged anywhere (a byte changed, cut or put in: anywhere, or next to a
        /// digit or a bracket, where a damage is most likely to be read) is either given up on
        /// or read as serde reads it.
        #[test]
        fn a_damaged_record_is_read_as_serde_reads_it_or_not_at_all(
            streams in prop::collection::btree_map(
                "[a-z]{1,3}",
                prop::collection::vec(("[a-z]{1,2}", "[$0]"), 0..3),
                0..4,
            ),
            numbers in (0u64..20, 0u64..20),
            near in 0u8..3,
            at in 0usize..400,
            byte in prop::sample::select(b"{}[]\",:0129ae$n ".to_vec()),
            digit in prop::sample::select(b"0.e-9".to_vec()),
            how in 0u8..3,
        ) {
            // Numbers short and no digits elsewhere, so that damage next to a digit is
            // damage to a number.
            let mut written = record(None, &streams, &BTreeSet::new(), None);
            (written.applied_at_ms, written.serial) = numbers;
            written.digest = "abc".to_owned();
            let json = written.to_json().into_bytes();
            let places: Vec<usize> = (0..json.len())
                .filter(|&i| match near {
                    0 => true,
                    1 => json[i].is_ascii_digit(),
                    _ => b"{}[],:\"".contains(&json[i]),
                })
                .collect();
            let at = places[at % places.len()];
            let byte = if near == 1 { digit } else { byte };
            let mut damaged = json.clone();
            match how {
                0 => damaged[at] = byte,
                1 => { damaged.remove(at); }
                _ => damaged.insert(at, byte),
            }
            if let Some(read) = read(&damaged) {
                let text = std::str::from_utf8(&damaged).map_err(|e| TestCaseError::fail(e.to_string()))?;
                // serde's own parse, not `Record::parse` (which reads it this way first).
                let parsed: Record = serde_json::from_str(text)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(read, parsed);
            }
        }
    }
}
