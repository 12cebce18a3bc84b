//! Replies of the bulk reads, parsed straight from the bytes the server sent (RESP2).
//!
//! A plan of 10,000 streams reads 20,000 replies, most of them `XINFO GROUPS` arrays of
//! field/value pairs. The Redis client's general decoder builds an owned value per string
//! (~450,000 of them) through a parser-combinator state machine: measured, 47 ms of CPU,
//! nearly twice what the server spends producing the replies. Here a batch's bytes are
//! first checked to be complete ([`reply_end`], no allocation), then read into [`Reply`]
//! values that borrow their strings from the buffer.
//!
//! Only what the reads need: RESP2 (the connection never sends `HELLO 3`), and a bounded
//! nesting depth (a server never nests these replies more than three deep).

use std::fmt;

/// One reply, borrowing its strings from the buffer it was read from.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply<'a> {
    Int(i64),
    /// A bulk or simple string.
    Bytes(&'a [u8]),
    /// A command's error, e.g. `WRONGTYPE` and `Operation against a key ...`.
    Error {
        code: &'a str,
        details: &'a str,
    },
    Nil,
    Array(Vec<Reply<'a>>),
}

/// The server sent something that is not RESP2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected reply from the server: {}", self.0)
    }
}

/// Replies nested deeper than this are refused (ours are at most three deep).
const MAX_DEPTH: usize = 32;

impl<'a> Reply<'a> {
    /// The reply as text, if it is a string and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Reply::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The reply as text, invalid UTF-8 replaced (for names, which are shown to people).
    pub fn text(&self) -> Option<std::borrow::Cow<'a, str>> {
        match self {
            Reply::Bytes(bytes) => Some(String::from_utf8_lossy(bytes)),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Reply::Int(n) => u64::try_from(*n).ok(),
            Reply::Bytes(_) => self.as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// Field/value pairs of a flat array (how RESP2 writes a map). Unknown fields are the
    /// caller's to ignore: newer servers add fields.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &Reply<'a>)> {
        let items: &[Reply<'a>] = match self {
            Reply::Array(items) => items,
            _ => &[],
        };
        items.chunks_exact(2).filter_map(|pair| match pair {
            [field, value] => Some((field.as_str()?, value)),
            _ => None,
        })
    }

    /// The reply of a client value ([`redis::Value`]), for replies that came through the
    /// Redis client (TLS and Unix-socket connections), so one reader serves both paths.
    pub fn from_value(value: &'a redis::Value) -> Reply<'a> {
        use redis::Value;
        match value {
            Value::Int(n) => Reply::Int(*n),
            Value::BulkString(bytes) => Reply::Bytes(bytes),
            Value::SimpleString(text) | Value::VerbatimString { text, .. } => {
                Reply::Bytes(text.as_bytes())
            }
            Value::Okay => Reply::Bytes(b"OK"),
            Value::Array(items) | Value::Set(items) => {
                Reply::Array(items.iter().map(Reply::from_value).collect())
            }
            // RESP3 maps, flattened to the RESP2 shape the readers expect.
            Value::Map(pairs) => Reply::Array(
                pairs
                    .iter()
                    .flat_map(|(k, v)| [Reply::from_value(k), Reply::from_value(v)])
                    .collect(),
            ),
            Value::ServerError(e) => Reply::Error {
                code: e.code(),
                details: e.details().unwrap_or_default(),
            },
            _ => Reply::Nil,
        }
    }
}

/// Where the reply starting at `start` ends, or `None` if `buf` does not hold all of it yet.
pub fn reply_end(buf: &[u8], start: usize) -> Result<Option<usize>, ProtocolError> {
    // Iterative: an array adds its elements to the count of replies still to skip.
    let mut pending: usize = 1;
    let mut pos = start;
    while pending > 0 {
        pending -= 1;
        let Some((kind, line, next)) = line_at(buf, pos) else {
            return Ok(None);
        };
        pos = next;
        match kind {
            b'+' | b'-' | b':' => {}
            b'$' => {
                let Some(len) = length(line)? else {
                    continue; // $-1: nil
                };
                if buf.len() < pos + len + 2 {
                    return Ok(None);
                }
                pos += len + 2;
            }
            b'*' => {
                if let Some(len) = length(line)? {
                    pending = pending.saturating_add(len);
                }
            }
            other => return Err(unexpected(other)),
        }
    }
    Ok(Some(pos))
}

/// The reply at `start`, which [`reply_end`] found complete.
pub fn parse(buf: &[u8], start: usize) -> Result<Reply<'_>, ProtocolError> {
    let mut pos = start;
    parse_at(buf, &mut pos, 0)
}

fn parse_at<'a>(buf: &'a [u8], pos: &mut usize, depth: usize) -> Result<Reply<'a>, ProtocolError> {
    let incomplete = || ProtocolError("a reply ended early".to_owned());
    let (kind, line, next) = line_at(buf, *pos).ok_or_else(incomplete)?;
    *pos = next;
    Ok(match kind {
        b'+' => Reply::Bytes(line),
        b'-' => {
            let text = std::str::from_utf8(line).unwrap_or("ERR (not UTF-8)");
            let (code, details) = text.split_once(' ').unwrap_or((text, ""));
            Reply::Error { code, details }
        }
        b':' => Reply::Int(integer(line)?),
        b'$' => match length(line)? {
            None => Reply::Nil,
            Some(len) => {
                let bytes = buf.get(next..next + len).ok_or_else(incomplete)?;
                *pos = next + len + 2;
                Reply::Bytes(bytes)
            }
        },
        b'*' => match length(line)? {
            None => Reply::Nil,
            Some(len) => {
                if depth >= MAX_DEPTH {
                    return Err(ProtocolError(format!(
                        "arrays nested deeper than {MAX_DEPTH}"
                    )));
                }
                // Each element takes at least 3 bytes: a corrupt length cannot reserve more.
                let mut items = Vec::with_capacity(len.min(buf.len() / 3));
                for _ in 0..len {
                    items.push(parse_at(buf, pos, depth + 1)?);
                }
                Reply::Array(items)
            }
        },
        other => return Err(unexpected(other)),
    })
}

/// The type byte, the rest of the line before `\r\n`, and where the next line starts.
fn line_at(buf: &[u8], pos: usize) -> Option<(u8, &[u8], usize)> {
    let kind = *buf.get(pos)?;
    let rest = buf.get(pos + 1..)?;
    let cr = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((kind, &rest[..cr], pos + 1 + cr + 2))
}

fn integer(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ProtocolError(format!(
                "`{}` is not an integer",
                String::from_utf8_lossy(line)
            ))
        })
}

/// A bulk or array length: `None` for -1 (nil).
fn length(line: &[u8]) -> Result<Option<usize>, ProtocolError> {
    match integer(line)? {
        -1 => Ok(None),
        n => usize::try_from(n)
            .map(Some)
            .map_err(|_| ProtocolError(format!("length {n}"))),
    }
}

fn unexpected(kind: u8) -> ProtocolError {
    ProtocolError(format!("type byte {:?}", char::from(kind)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn encode(reply: &Reply, out: &mut Vec<u8>) {
        match reply {
            Reply::Int(n) => out.extend(format!(":{n}\r\n").bytes()),
            Reply::Bytes(bytes) => {
                out.extend(format!("${}\r\n", bytes.len()).bytes());
                out.extend_from_slice(bytes);
                out.extend(b"\r\n");
            }
            Reply::Error { code, details } => out.extend(format!("-{code} {details}\r\n").bytes()),
            Reply::Nil => out.extend(b"$-1\r\n"),
            Reply::Array(items) => {
                out.extend(format!("*{}\r\n", items.len()).bytes());
                for item in items {
                    encode(item, out);
                }
            }
        }
    }

    fn reply() -> impl Strategy<Value = Reply<'static>> {
        const STRINGS: &[&[u8]] = &[
            b"",
            b"name",
            b"last-delivered-id",
            b"0-0",
            b"a\r\nb",
            b"\xff",
        ];
        let leaf = prop_oneof![
            any::<i64>().prop_map(Reply::Int),
            prop::sample::select(STRINGS).prop_map(Reply::Bytes),
            Just(Reply::Error {
                code: "WRONGTYPE",
                details: "Operation against a key"
            }),
            Just(Reply::Nil),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop::collection::vec(inner, 0..8).prop_map(Reply::Array)
        })
    }

    proptest! {
        /// Every reply reads back as written, and every cut short of its end is incomplete.
        #[test]
        fn replies_read_back_and_cuts_wait_for_more(replies in prop::collection::vec(reply(), 1..5)) {
            let mut bytes = Vec::new();
            for r in &replies {
                encode(r, &mut bytes);
            }
            let mut pos = 0;
            for r in &replies {
                let end = reply_end(&bytes, pos).expect("valid").expect("complete");
                for cut in pos..end {
                    prop_assert_eq!(reply_end(&bytes[..cut], pos), Ok(None));
                }
                prop_assert_eq!(&parse(&bytes, pos).expect("parses"), r);
                pos = end;
            }
            prop_assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn server_replies_read_as_the_reader_needs() {
        let groups = b"*1\r\n*4\r\n$4\r\nname\r\n$7\r\nworkers\r\n$7\r\npending\r\n:3\r\n";
        let reply = parse(groups, 0).expect("parses");
        let Reply::Array(items) = &reply else {
            panic!("an array: {reply:?}")
        };
        let fields: Vec<(&str, Option<u64>)> =
            items[0].fields().map(|(k, v)| (k, v.as_u64())).collect();
        assert_eq!(fields, [("name", None), ("pending", Some(3))]);
        assert_eq!(
            items[0].fields().next().and_then(|(_, v)| v.as_str()),
            Some("workers")
        );
        assert_eq!(parse(b"+OK\r\n", 0), Ok(Reply::Bytes(b"OK")));
        assert_eq!(parse(b"*-1\r\n", 0), Ok(Reply::Nil));
        assert_eq!(
            parse(b"-ERR no such key\r\n", 0),
            Ok(Reply::Error {
                code: "ERR",
                details: "no such key"
            })
        );
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bad in [&b"?x\r\n"[..], b":12x\r\n", b"$-5\r\n", b"*2\r\n~\r\n"] {
            assert!(
                reply_end(bad, 0).is_err() || parse(bad, 0).is_err(),
                "{bad:?}"
            );
        }
        let deep = "*1\r\n".repeat(100) + ":1\r\n";
        assert!(reply_end(deep.as_bytes(), 0).expect("complete").is_some());
        assert!(parse(deep.as_bytes(), 0).is_err());
        // A huge announced length reserves nothing it cannot fill.
        assert_eq!(reply_end(b"*4000000000000\r\n", 0), Ok(None));
    }
}
