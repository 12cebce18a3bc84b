//! A stored record's stream keys and user names, at a glance: found in its JSON text without
//! parsing the rest, so that the reads they need can start while the whole record is
//! parsed (a record of 10,000 streams takes ~2.6 ms to parse, on the way to the first read
//! of a plan).
//!
//! Only a guess, made for speed: it reads the record as this tool writes it (compact JSON,
//! keys in order, no escapes in names) and gives up on anything else. Whoever uses it
//! checks it against the parsed record before trusting it (see `live::read::prefetch`).

/// What a glance found.
#[derive(Debug, PartialEq, Eq)]
pub struct Glance<'a> {
    /// The keys of `streams`, in order (strictly increasing, as the tool writes them).
    pub streams: Vec<&'a str>,
    /// The names in `users`, in order; empty when there is no `users`.
    pub users: Vec<&'a str>,
}

/// The record's names, or `None` where the text is not as this tool writes it.
pub fn glance(json: &[u8]) -> Option<Glance<'_>> {
    let mut at = expect(json, 0, b'{')?;
    let (mut streams, mut users) = (None, None);
    if json.get(at) == Some(&b'}') {
        return None;
    }
    loop {
        let (field, after) = plain_string(json, at)?;
        at = expect(json, after, b':')?;
        at = match field {
            "streams" if streams.is_none() => {
                let (keys, after) = object_keys(json, at)?;
                streams = Some(keys);
                after
            }
            "users" if users.is_none() => {
                let (names, after) = string_array(json, at)?;
                users = Some(names);
                after
            }
            "streams" | "users" => return None,
            _ => skip_value(json, at)?,
        };
        match json.get(at)? {
            b',' => at += 1,
            b'}' if at + 1 == json.len() => break,
            _ => return None,
        }
    }
    Some(Glance {
        streams: streams?,
        users: users.unwrap_or_default(),
    })
}

/// `at` holds `byte`: the position after it.
fn expect(json: &[u8], at: usize, byte: u8) -> Option<usize> {
    (json.get(at) == Some(&byte)).then_some(at + 1)
}

/// A string without escapes at `at`, and the position after it.
pub(super) fn plain_string(json: &[u8], at: usize) -> Option<(&str, usize)> {
    let start = expect(json, at, b'"')?;
    let len = json
        .get(start..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let end = start + len;
    if json.get(end) != Some(&b'"') {
        return None;
    }
    let text = std::str::from_utf8(json.get(start..end)?).ok()?;
    Some((text, end + 1))
}

/// The keys of the object at `at`, each greater than the one before, and the position after
/// the object.
fn object_keys(json: &[u8], at: usize) -> Option<(Vec<&str>, usize)> {
    ordered_names(json, at, (b'{', b'}'), |after| {
        skip_value(json, expect(json, after, b':')?)
    })
}

/// The strings of the array at `at`, each greater than the one before, and the position
/// after the array.
fn string_array(json: &[u8], at: usize) -> Option<(Vec<&str>, usize)> {
    ordered_names(json, at, (b'[', b']'), Some)
}

/// The strings that open each item of the collection at `at` (between `open` and `close`),
/// each greater than the one before; `rest` goes past what follows a name in its item (an
/// object's `:` and value, nothing in an array).
fn ordered_names(
    json: &[u8],
    at: usize,
    (open, close): (u8, u8),
    rest: impl Fn(usize) -> Option<usize>,
) -> Option<(Vec<&str>, usize)> {
    let mut at = expect(json, at, open)?;
    let mut names: Vec<&str> = Vec::new();
    if json.get(at) == Some(&close) {
        return Some((names, at + 1));
    }
    loop {
        let (name, after) = plain_string(json, at)?;
        if names.last().is_some_and(|last| *last >= name) {
            return None;
        }
        names.push(name);
        at = rest(after)?;
        match json.get(at)? {
            b',' => at += 1,
            b if *b == close => return Some((names, at + 1)),
            _ => return None,
        }
    }
}

/// Past the value at `at`: a string, an object or array (strings inside them skipped whole,
/// so that a bracket in a name does not count), or anything else up to the next `,`, `}` or
/// `]`. Not a check that the value is JSON: the parse of the record is.
fn skip_value(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => skip_string(json, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = at;
            loop {
                match json.get(at)? {
                    b'"' => at = skip_string(json, at)?,
                    b'{' | b'[' => {
                        depth += 1;
                        at += 1;
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        at += 1;
                        if depth == 0 {
                            return Some(at);
                        }
                    }
                    _ => at += 1,
                }
            }
        }
        _ => {
            let len = json
                .get(at..)?
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']'))?;
            Some(at + len)
        }
    }
}

/// Past the string at `at` (`"`), escapes and all.
fn skip_string(json: &[u8], at: usize) -> Option<usize> {
    let mut at = at + 1;
    loop {
        let len = json
            .get(at..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        at += len;
        if json.get(at)? == &b'\\' {
            at += 2;
        } else {
            return Some(at + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, RecordedGroup, RecordedStream};
    use proptest::prelude::*;

    fn record(streams: &[(&str, &[(&str, &str)])], users: &[&str]) -> Record {
        let mut record = Record {
            format: crate::record::FORMAT,
            environment: Some("prod".to_owned()),
            digest: "abc".to_owned(),
            applied_at_ms: 1,
            tool_version: "0.1.0".to_owned(),
            streams: Default::default(),
            users: Default::default(),
            serial: 3,
            applied_plan: Some("p\"1".to_owned()),
        };
        for (key, groups) in streams {
            let mut stream = RecordedStream::default();
            for (name, start) in *groups {
                stream.groups.insert(
                    (*name).into(),
                    RecordedGroup {
                        start: (*start).into(),
                    },
                );
            }
            record.streams.insert((*key).into(), stream);
        }
        record.users = users.iter().map(|u| (*u).to_owned()).collect();
        record
    }

    #[test]
    fn a_record_as_the_tool_writes_it_is_read_at_a_glance() {
        let written = record(
            &[
                ("app:orders", &[("workers", "$"), ("audit", "0")]),
                ("app:a{b}[c]\"", &[("g", "0-0")]),
                ("app:empty", &[]),
            ],
            &["app-reader", "app-writer"],
        );
        let json = written.to_json();
        // A name with a quote is escaped: the glance gives up on it.
        assert_eq!(glance(json.as_bytes()), None);
        let written = record(
            &[
                ("app:orders", &[("workers", "$"), ("audit", "0")]),
                ("app:a{b}[c]", &[("g\"}", "0-0")]),
                ("app:empty", &[]),
            ],
            &["app-reader", "app-writer"],
        );
        let json = written.to_json();
        let seen = glance(json.as_bytes()).expect("the tool's own record");
        assert_eq!(seen.streams, ["app:a{b}[c]", "app:empty", "app:orders"]);
        assert_eq!(seen.users, ["app-reader", "app-writer"]);
    }

    #[test]
    fn anything_else_is_given_up_on() {
        for json in [
            "",
            "{}",
            "[]",
            "{\"format\":1}",
            // Keys out of order, or twice.
            "{\"streams\":{\"b\":{},\"a\":{}}}",
            "{\"streams\":{\"a\":{},\"a\":{}}}",
            "{\"streams\":{},\"streams\":{}}",
            "{\"streams\":{},\"users\":[\"b\",\"a\"]}",
            // Escapes, spaces, trailing bytes, cut short.
            "{\"streams\":{\"a\\u0041\":{}}}",
            "{ \"streams\":{}}",
            "{\"streams\":{}} ",
            "{\"streams\":{\"a\":{\"groups\":{}}",
            "{\"streams\":{\"a\":\"unterminated}}",
            "{\"streams\":[]}",
        ] {
            assert_eq!(glance(json.as_bytes()), None, "{json}");
        }
        assert_eq!(
            glance(b"{\"x\":[1,{\"y\":\"]}\\\"\"}],\"streams\":{\"a\":1}}"),
            Some(Glance {
                streams: vec!["a"],
                users: vec![]
            })
        );
    }

    proptest! {
        /// Whatever the record holds, a glance at it either gives up or finds exactly its
        /// stream keys and users, in the record's order.
        #[test]
        fn a_glance_finds_what_the_parse_finds(
            streams in prop::collection::btree_map(
                "[a-z:{}\\[\\]\"\\\\é]{0,6}",
                prop::collection::btree_map("[a-z\"}]{1,3}", "[$0-9-]{1,4}", 0..3),
                0..6,
            ),
            users in prop::collection::btree_set("[a-z\"]{1,4}", 0..4),
        ) {
            let streams: Vec<(&str, Vec<(&str, &str)>)> = streams
                .iter()
                .map(|(k, g)| (k.as_str(), g.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect()))
                .collect();
            let borrowed: Vec<(&str, &[(&str, &str)])> =
                streams.iter().map(|(k, g)| (*k, g.as_slice())).collect();
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let written = record(&borrowed, &users);
            let json = written.to_json();
            let plain = |s: &&str| !s.contains(['"', '\\']);
            let expected_plain = streams.iter().all(|(k, _)| plain(k)) && users.iter().all(plain);
            match glance(json.as_bytes()) {
                Some(seen) => {
                    let keys: Vec<&str> = written.streams.keys().map(|k| k.as_str()).collect();
                    let names: Vec<&str> = written.users.iter().map(String::as_str).collect();
                    prop_assert_eq!(seen.streams, keys);
                    prop_assert_eq!(seen.users, names);
                }
                None => prop_assert!(!expected_plain, "gave up on {}", json),
            }
        }

        /// On any text at all it ends without a panic.
        #[test]
        fn a_glance_at_anything_ends(json in "[{}\\[\\]\":,a\\\\1 ]{0,40}") {
            let _ = glance(json.as_bytes());
        }
    }
}
