//! Replies from the server, parsed straight from the bytes it sent (RESP2), strictly and
//! within limits.
//!
//! Every read the tool makes goes through here (see [`crate::target::reader`]). A plan of 10,000
//! streams reads 20,000 replies, most of them `XINFO GROUPS` arrays of field/value pairs. The
//! Redis client's general decoder builds an owned value per string (~450,000 of them)
//! through a parser-combinator state machine: measured, 47 ms of CPU, nearly twice what the
//! server spends producing the replies. Here a batch's bytes are found complete by a
//! [`Scanner`], which writes down each value it checks as a [`Token`] (its integer, or where
//! its bytes are), and the [`Reply`] values, which borrow their strings from the buffer, are
//! then built from the tokens without reading the bytes again; or, for a reader that wants a
//! few values of many arrays (the plan's `XINFO GROUPS`), left as the tokens themselves
//! ([`Reply::Scanned`]), read one value at a time.
//!
//! The server is not trusted to behave (a buggy proxy, a port that is not Redis, a hostile
//! server), so the reader is:
//! - **strict**: RESP2 as Redis writes it and nothing else: the five types of RESP2, integers
//!   of ASCII digits, a bulk string followed by `\r\n`, no length below -1 (nil), no CR or LF
//!   inside a line. The connection never sends `HELLO 3`, so RESP3 types are errors.
//! - **bounded**: one reply may take [`MAX_REPLY_BYTES`], hold [`MAX_REPLY_VALUES`] values and
//!   nest arrays [`MAX_DEPTH`] deep. A reply announcing more (`$9223372036854775807`, an array
//!   of 4,000,000,000,000) is refused at its header, before any buffer grows toward it.
//! - **incremental**: a reply that arrives in many pieces is scanned once. The [`Scanner`]
//!   keeps where it stopped (the open arrays, a bulk string's end, how far a line was
//!   searched), so each piece costs only its own bytes, never a rescan of the reply.
//!
//! [`reply_end`] (a scan) and [`parse`] apply the same rules in the same order, so they agree
//! on every input: one finds a reply complete where the other reads it whole, both refuse
//! the same bytes, and the replies built from a scan's tokens are the ones [`parse`] reads
//! (property-tested below, fuzzed by `fuzz/fuzz_targets/resp.rs`).

use std::fmt;

use crate::text::untrusted_bytes;

/// The most one reply may take on the wire: 64 MiB. The largest replies the tool reads are
/// its record (about 100 bytes per stream: 10 MB for 100,000 streams) and message samples.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// The most values (strings, integers, arrays, ...) one reply may hold: 1,048,576. Each
/// becomes a [`Reply`] of 40 bytes when parsed, so this bounds a reply's parsed size (40 MiB)
/// where [`MAX_REPLY_BYTES`] alone would not (a value can take 3 bytes on the wire).
pub const MAX_REPLY_VALUES: usize = 1 << 20;

/// How deep arrays may nest (the tool's replies nest at most three deep).
pub const MAX_DEPTH: usize = 32;

/// The longest integer or length: `-9223372036854775808` has 20 characters.
const MAX_NUMBER_CHARS: usize = 20;

// The parsed size that MAX_REPLY_VALUES bounds.
const _: () = assert!(size_of::<Reply>() <= 40);

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
    /// An array left as the scan wrote it down, for a reader that takes its values straight
    /// from the tokens (see [`ArrayTokens`]). Only the replies to commands that ask for it
    /// come this way ([`build_replies`]); [`ArrayTokens::build`] makes the `Array`.
    Scanned(ArrayTokens<'a>),
}

/// What the server sent cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Bytes that are not RESP2 as Redis writes it (what was found, escaped).
    #[error("not a RESP2 reply: {0}")]
    Malformed(String),
    /// A reply over one of the limits above, refused from what it announced.
    #[error("{0}")]
    OverLimit(String),
}

impl<'a> Reply<'a> {
    /// The reply as text: a string that is valid UTF-8 (anything else: `None`).
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

    /// An integer reply that is not negative (a length, a count).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Reply::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// Field/value pairs of a flat array (how RESP2 writes a map); `None` unless the reply is
    /// an array of even length whose every field is a string. Fields that are not UTF-8, like
    /// unknown fields, are the caller's to ignore: newer servers add fields.
    pub fn map(&self) -> Option<impl Iterator<Item = (&'a str, &Reply<'a>)>> {
        let Reply::Array(items) = self else {
            return None;
        };
        let well_formed = items.len() % 2 == 0
            && items
                .iter()
                .step_by(2)
                .all(|field| matches!(field, Reply::Bytes(_)));
        well_formed.then(|| {
            items
                .chunks_exact(2)
                .filter_map(|pair| Some((pair[0].as_str()?, &pair[1])))
        })
    }

    /// What the reply is, for a message saying it was not what a command should answer:
    /// `the integer -5`, `the string "abc"`, `an array of 3 values`; server text escaped and
    /// cut (see [`crate::text::untrusted`]).
    pub fn describe(&self) -> String {
        match self {
            Reply::Int(n) => format!("the integer {n}"),
            Reply::Bytes(bytes) => format!("the string \"{}\"", untrusted_bytes(bytes)),
            Reply::Error { code, details } => {
                format!("the error {}", server_words(code, details))
            }
            Reply::Nil => "nil".to_owned(),
            Reply::Array(items) => format!("an array of {} values", items.len()),
            Reply::Scanned(array) => format!("an array of {} values", array.len()),
        }
    }
}

/// A reply that owns its bytes: for replies that outlive the read that brought them (the
/// write connection's, which the apply lock keeps). Held as the RESP2 bytes it was read from,
/// parsed when looked at, so that there is one reply model, [`Reply`], for every reply.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedReply {
    bytes: Vec<u8>,
}

impl OwnedReply {
    /// The one reply `bytes` holds, checked as every reply is (strict RESP2, within the limits).
    pub fn from_resp(bytes: Vec<u8>) -> Result<OwnedReply, ProtocolError> {
        let (_, end) = parse_one(&bytes, 0)?;
        if end != bytes.len() {
            return Err(ProtocolError::Malformed(
                "bytes follow the reply".to_owned(),
            ));
        }
        Ok(OwnedReply { bytes })
    }

    /// The reply, borrowing from this one.
    pub fn reply(&self) -> Reply<'_> {
        // Checked when made: it parses.
        parse(&self.bytes, 0).unwrap_or(Reply::Nil)
    }
}

impl fmt::Debug for OwnedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reply().fmt(f)
    }
}

/// One value as a [`Scanner`] found it, checked: enough to build its [`Reply`] without
/// reading its bytes again (see [`build_replies`]). Made only by a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token(Found);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    Int(i64),
    /// A simple or bulk string: where its bytes are in the scanned buffer.
    Bytes {
        start: u32,
        len: u32,
    },
    /// An error line: where its bytes are.
    Error {
        start: u32,
        len: u32,
    },
    Nil,
    /// An array of this many values, whose tokens follow.
    Array(u32),
}

// Tokens of a batch are held until its replies are built: 16 bytes each.
const _: () = assert!(size_of::<Token>() <= 16);

/// Where a scan writes down the values it checks: nowhere ([`Scanner::scan`]) or in a list
/// ([`Scanner::scan_into`]).
trait Tape {
    fn record(&mut self, found: Found);
}

impl Tape for () {
    fn record(&mut self, _: Found) {}
}

impl Tape for Vec<Token> {
    fn record(&mut self, found: Found) {
        self.push(Token(found));
    }
}

/// The replies whose values a scan wrote down as `tokens` (every value of each, in order),
/// borrowing their strings from `buf`, the bytes it scanned, appended to `replies`; but the
/// `n`th reply, where `keep(n)` and it is an array, is left as its tokens
/// ([`Reply::Scanned`], borrowing from `tokens`). A plan of 10,000 streams reads 10,000
/// `XINFO GROUPS` arrays of arrays: built, they took 30,000 allocations and a tenth of the
/// tool's CPU, for a reader that wants four fields of each. `Err` only for tokens that are
/// not a scan's of these bytes.
pub fn build_replies<'a>(
    buf: &'a [u8],
    tokens: &'a [Token],
    replies: &mut Vec<Reply<'a>>,
    keep: impl Fn(usize) -> bool,
) -> Result<(), ProtocolError> {
    let mut at = 0;
    while let Some(&Token(found)) = tokens.get(at) {
        let reply = match found {
            Found::Array(_) if keep(replies.len()) => {
                let end = value_end(tokens, at).ok_or_else(ended_early)?;
                let array = ArrayTokens {
                    buf,
                    tokens: tokens.get(at..end).ok_or_else(ended_early)?,
                };
                at = end;
                Reply::Scanned(array)
            }
            _ => build(buf, tokens, &mut at, 0)?,
        };
        replies.push(reply);
    }
    Ok(())
}

/// One past the last token of the value whose first token is at `at`; `None` if the
/// tokens end first.
fn value_end(tokens: &[Token], mut at: usize) -> Option<usize> {
    // Values still to pass: each array adds its items. A scan's tokens nest within
    // MAX_DEPTH, and this walks them without recursing anyway.
    let mut left: usize = 1;
    while left > 0 {
        let Token(found) = *tokens.get(at)?;
        at += 1;
        left -= 1;
        if let Found::Array(count) = found {
            left = left.saturating_add(count as usize);
        }
    }
    Some(at)
}

/// An array reply as a scan wrote it down: the array's token, then each of its values',
/// depth first, pointing into the bytes scanned. Made only by [`build_replies`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArrayTokens<'a> {
    buf: &'a [u8],
    tokens: &'a [Token],
}

/// One value read from [`ArrayTokens`]: an array by its length, its values following.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Error,
    Nil,
    Array(usize),
}

impl<'a> ArrayTokens<'a> {
    /// How many values the array holds.
    pub fn len(&self) -> usize {
        match self.tokens.first() {
            Some(Token(Found::Array(count))) => *count as usize,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The array as [`build_replies`] would have built it.
    pub fn build(&self) -> Result<Reply<'a>, ProtocolError> {
        build(self.buf, self.tokens, &mut 0, 0)
    }

    /// The array's values in order, depth first: an item that is an array comes as
    /// [`Value::Array`], then its own values.
    pub fn values(&self) -> Values<'a> {
        Values {
            buf: self.buf,
            tokens: self.tokens.get(1..).unwrap_or_default(),
            at: 0,
        }
    }
}

/// The values of an [`ArrayTokens`], one at a time.
#[derive(Clone, Debug)]
pub struct Values<'a> {
    buf: &'a [u8],
    tokens: &'a [Token],
    at: usize,
}

impl<'a> Values<'a> {
    /// The next value; `None` past the last.
    pub fn next_value(&mut self) -> Option<Value<'a>> {
        let Token(found) = *self.tokens.get(self.at)?;
        self.at += 1;
        Some(match found {
            Found::Int(n) => Value::Int(n),
            Found::Bytes { start, len } => {
                let start = start as usize;
                Value::Bytes(self.buf.get(start..start + len as usize)?)
            }
            Found::Error { .. } => Value::Error,
            Found::Nil => Value::Nil,
            Found::Array(count) => Value::Array(count as usize),
        })
    }

    /// Past the next value, an array with all of its values; `None` if there is none.
    pub fn skip_value(&mut self) -> Option<()> {
        self.at = value_end(self.tokens, self.at)?;
        Some(())
    }
}

/// The reply whose first token is at `at`, moving `at` past its last.
fn build<'a>(
    buf: &'a [u8],
    tokens: &[Token],
    at: &mut usize,
    level: usize,
) -> Result<Reply<'a>, ProtocolError> {
    let Token(found) = *tokens.get(*at).ok_or_else(ended_early)?;
    *at += 1;
    let bytes = |start: u32, len: u32| {
        let start = start as usize;
        buf.get(start..start + len as usize).ok_or_else(ended_early)
    };
    Ok(match found {
        Found::Int(n) => Reply::Int(n),
        Found::Nil => Reply::Nil,
        Found::Bytes { start, len } => Reply::Bytes(bytes(start, len)?),
        Found::Error { start, len } => error_reply(bytes(start, len)?),
        Found::Array(count) => {
            if level >= MAX_DEPTH {
                return Err(ProtocolError::OverLimit(format!(
                    "it nests arrays more than {MAX_DEPTH} deep"
                )));
            }
            let count = count as usize;
            // Each value has its token: a count cannot reserve more than the tokens left.
            let mut items = Vec::with_capacity(count.min(tokens.len() - *at));
            for _ in 0..count {
                items.push(build(buf, tokens, at, level + 1)?);
            }
            Reply::Array(items)
        }
    })
}

/// A batch's replies as [`build_replies`] built them: with the bytes they borrow from in a
/// [`yoke::Yoke`], they travel between tasks as one owned value.
#[derive(Debug, yoke::Yokeable)]
pub struct Built<'a>(pub Vec<Reply<'a>>);

/// A position in the scanned buffer, for a [`Token`]. A batch's replies are held within
/// 256 MiB (`target::reader::MAX_BATCH_BYTES`), so this never fails where the reader scans.
fn offset(pos: usize) -> Result<u32, ProtocolError> {
    u32::try_from(pos).map_err(|_| over_bytes("it lies further into the replies than"))
}

/// An error reply's code and details as one line, escaped and cut (see
/// [`crate::text::untrusted`]): what the server said, safe to print.
pub fn server_words(code: &str, details: &str) -> String {
    let words = if details.is_empty() {
        code.to_owned()
    } else {
        format!("{code} {details}")
    };
    crate::text::untrusted(&words).into_owned()
}

/// Where the reply starting at `start` ends, or `None` if `buf` does not hold all of it yet.
/// A one-off scan; a reader whose buffer grows uses a [`Scanner`] to resume.
pub fn reply_end(buf: &[u8], start: usize) -> Result<Option<usize>, ProtocolError> {
    Scanner::new(start).scan(buf)
}

/// Finds where replies end in a buffer that grows at its end, one reply after another,
/// resuming each time where the last call stopped: the work of scanning a reply is linear in
/// its size however many pieces it arrives in.
#[derive(Clone, Debug)]
pub struct Scanner {
    budget: Budget,
    /// Where the value being scanned starts (its type byte).
    pos: usize,
    /// Where to go on looking for the end of that value's line (0: from its start).
    searched: usize,
    /// Where a bulk string being waited for ends (after its `\r\n`).
    payload_end: Option<usize>,
    /// Values still to scan at each open nesting level; level 0 is the reply itself.
    left: [usize; MAX_DEPTH + 1],
    level: usize,
    /// Values scanned since this scanner was made, across replies.
    values: usize,
    /// Bytes looked at so far, across replies (for the test that scanning is linear).
    examined: usize,
}

impl Scanner {
    /// A scanner for the reply that starts at `start`.
    pub fn new(start: usize) -> Scanner {
        let mut left = [0; MAX_DEPTH + 1];
        left[0] = 1;
        Scanner {
            budget: Budget::new(start),
            pos: start,
            searched: 0,
            payload_end: None,
            left,
            level: 0,
            values: 0,
            examined: 0,
        }
    }

    /// Scan on: `buf` holds what it held at the last call and perhaps more at its end. Where
    /// the reply ends once it is complete (the scanner then moves on to the reply starting
    /// there), `None` while it is not. After an error the scanner must not be used again.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        self.scan_onto(buf, &mut ())
    }

    /// [`Scanner::scan`], writing down each value it checks in `tokens`, in order, for
    /// [`build_replies`]. Across calls the tokens are those of the replies found complete
    /// and of the values checked so far of the next.
    pub fn scan_into(
        &mut self,
        buf: &[u8],
        tokens: &mut Vec<Token>,
    ) -> Result<Option<usize>, ProtocolError> {
        self.scan_onto(buf, tokens)
    }

    fn scan_onto(
        &mut self,
        buf: &[u8],
        tape: &mut impl Tape,
    ) -> Result<Option<usize>, ProtocolError> {
        loop {
            if let Some(end) = self.payload_end {
                if buf.len() < end {
                    return Ok(None);
                }
                self.examined += 2;
                check_bulk_end(buf, end)?;
                self.payload_end = None;
                self.pos = end;
            }
            while self.left[self.level] == 0 {
                if self.level == 0 {
                    return Ok(Some(self.next_reply()));
                }
                self.level -= 1;
            }
            if !self.scan_header(buf, tape)? {
                return Ok(None);
            }
        }
    }

    /// Values scanned since this scanner was made (a reader's limit on a whole batch).
    pub fn values(&self) -> usize {
        self.values
    }

    /// Bytes looked at since this scanner was made: at most about twice the bytes scanned,
    /// however the replies were cut into pieces.
    pub fn examined(&self) -> usize {
        self.examined
    }

    /// The header line of the value at `pos`: `false` if it is not all there yet.
    fn scan_header(&mut self, buf: &[u8], tape: &mut impl Tape) -> Result<bool, ProtocolError> {
        let Some(&kind) = buf.get(self.pos) else {
            return Ok(false);
        };
        let content = self.pos + 1;
        // Most values of a reply are bulk strings, each after its length, and integers: a
        // short count whole in the buffer is read in one pass over its digits. Anything else
        // (a sign, a long number, a line not all there, a stray byte) takes the general
        // path below, which reads the same lines to the same values.
        if self.searched == 0
            && matches!(kind, b':' | b'$' | b'*')
            && let Some((n, cr)) = short_count(buf, content)
        {
            self.examined += cr + 2 - content;
            let head = match kind {
                b':' => Head::Int(n),
                b'$' => Head::Bulk(n),
                _ => Head::Array(n),
            };
            return self.took_line(content, cr, kind, || Ok(head), tape);
        }
        check_kind(kind)?;
        let from = self.searched.max(content);
        let max = max_line(kind, content, self.budget.start);
        let cr = match find_line_end(buf, kind, content, from, max)? {
            LineEnd::More(at) => {
                self.examined += at - from;
                self.searched = at;
                return Ok(false);
            }
            LineEnd::Found(cr) => cr,
        };
        self.examined += cr + 2 - from;
        self.took_line(content, cr, kind, || head(kind, &buf[content..cr]), tape)
    }

    /// The header line of the value at `pos` is whole: its content starts at `content`,
    /// its `\r` is at `cr`, and `head` reads it. Count the value, move past the line and
    /// write down what it is.
    fn took_line(
        &mut self,
        content: usize,
        cr: usize,
        kind: u8,
        head: impl FnOnce() -> Result<Head, ProtocolError>,
        tape: &mut impl Tape,
    ) -> Result<bool, ProtocolError> {
        self.searched = 0;
        self.values += 1;
        self.left[self.level] -= 1;
        let next = cr + 2;
        self.budget.within(next)?;
        self.pos = next;
        let found = match head()? {
            Head::Line => {
                let (start, len) = (offset(content)?, offset(cr - content)?);
                if kind == b'+' {
                    Found::Bytes { start, len }
                } else {
                    Found::Error { start, len }
                }
            }
            Head::Int(n) => Found::Int(n),
            Head::Bulk(len) => {
                self.payload_end = self.budget.bulk(next, len)?;
                match self.payload_end {
                    None => Found::Nil,
                    Some(end) => Found::Bytes {
                        start: offset(next)?,
                        len: offset(end - 2 - next)?,
                    },
                }
            }
            Head::Array(len) => match self.budget.array(len, self.level)? {
                None => Found::Nil,
                Some(count) => {
                    if count > 0 {
                        self.level += 1;
                        self.left[self.level] = count;
                    }
                    // At most MAX_REPLY_VALUES.
                    Found::Array(u32::try_from(count).unwrap_or(u32::MAX))
                }
            },
        };
        tape.record(found);
        Ok(true)
    }

    /// The reply is complete: start on the next one, where it ended.
    fn next_reply(&mut self) -> usize {
        let end = self.pos;
        let (values, examined) = (self.values, self.examined);
        *self = Scanner::new(end);
        self.values = values;
        self.examined = examined;
        end
    }
}

/// The reply at `start`, which [`reply_end`] found complete.
pub fn parse(buf: &[u8], start: usize) -> Result<Reply<'_>, ProtocolError> {
    parse_one(buf, start).map(|(reply, _)| reply)
}

/// The reply at `start` and where it ends.
pub fn parse_one(buf: &[u8], start: usize) -> Result<(Reply<'_>, usize), ProtocolError> {
    let mut budget = Budget::new(start);
    let mut pos = start;
    let reply = parse_value(buf, &mut pos, 0, &mut budget)?;
    Ok((reply, pos))
}

/// The value at `pos` (at nesting `level`), moving `pos` past it. The same checks as
/// [`Scanner::scan`], in the same order.
fn parse_value<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    level: usize,
    budget: &mut Budget,
) -> Result<Reply<'a>, ProtocolError> {
    let kind = *buf.get(*pos).ok_or_else(ended_early)?;
    check_kind(kind)?;
    let content = *pos + 1;
    let max = max_line(kind, content, budget.start);
    let LineEnd::Found(cr) = find_line_end(buf, kind, content, content, max)? else {
        return Err(ended_early());
    };
    let next = cr + 2;
    budget.within(next)?;
    *pos = next;
    let line = &buf[content..cr];
    Ok(match head(kind, line)? {
        Head::Line if kind == b'+' => Reply::Bytes(line),
        Head::Line => error_reply(line),
        Head::Int(n) => Reply::Int(n),
        Head::Bulk(len) => match budget.bulk(next, len)? {
            None => Reply::Nil,
            Some(end) => {
                if buf.len() < end {
                    return Err(ended_early());
                }
                check_bulk_end(buf, end)?;
                *pos = end;
                Reply::Bytes(buf.get(next..end - 2).ok_or_else(ended_early)?)
            }
        },
        Head::Array(len) => match budget.array(len, level)? {
            None => Reply::Nil,
            Some(count) => {
                // Each value takes at least 3 bytes: a count cannot reserve more than the
                // buffer could fill.
                let mut items = Vec::with_capacity(count.min(buf.len().saturating_sub(next) / 3));
                for _ in 0..count {
                    items.push(parse_value(buf, pos, level + 1, budget)?);
                }
                Reply::Array(items)
            }
        },
    })
}

/// What one reply has used of its limits so far.
#[derive(Clone, Copy, Debug)]
struct Budget {
    /// Where the reply starts.
    start: usize,
    /// Values announced so far: the reply itself and every array's count.
    announced: usize,
}

impl Budget {
    fn new(start: usize) -> Budget {
        Budget {
            start,
            announced: 1,
        }
    }

    /// Refuse a reply that reaches past `end` when that is more than it may take.
    fn within(&self, end: usize) -> Result<(), ProtocolError> {
        if end - self.start > MAX_REPLY_BYTES {
            return Err(over_bytes("it is longer than"));
        }
        Ok(())
    }

    /// A bulk string of `len` bytes whose content starts at `at`: where it ends (after its
    /// `\r\n`), `None` for nil.
    fn bulk(&self, at: usize, len: i64) -> Result<Option<usize>, ProtocolError> {
        let len = match len {
            -1 => return Ok(None),
            n if n < 0 => {
                return Err(ProtocolError::Malformed(format!("a string of length {n}")));
            }
            n => n.unsigned_abs(),
        };
        let used = (at - self.start) as u64;
        if used.saturating_add(len).saturating_add(2) > MAX_REPLY_BYTES as u64 {
            return Err(over_bytes(&format!(
                "it announces a string of {len} bytes, more than"
            )));
        }
        // Within the limit, so it fits in usize.
        Ok(Some(at + len as usize + 2))
    }

    /// An array of `len` values at nesting `level`: how many values it holds, `None` for nil.
    fn array(&mut self, len: i64, level: usize) -> Result<Option<usize>, ProtocolError> {
        let len = match len {
            -1 => return Ok(None),
            n if n < 0 => {
                return Err(ProtocolError::Malformed(format!("an array of length {n}")));
            }
            n => n.unsigned_abs(),
        };
        if level >= MAX_DEPTH {
            return Err(ProtocolError::OverLimit(format!(
                "it nests arrays more than {MAX_DEPTH} deep"
            )));
        }
        let announced = (self.announced as u64).saturating_add(len);
        if announced > MAX_REPLY_VALUES as u64 {
            return Err(ProtocolError::OverLimit(format!(
                "it announces an array of {len} values, more than the {MAX_REPLY_VALUES} values one reply may hold"
            )));
        }
        // At most MAX_REPLY_VALUES, so it fits in usize.
        self.announced = announced as usize;
        Ok(Some(len as usize))
    }
}

/// `what` ends with the comparison: "it is longer than", "..., more than".
fn over_bytes(what: &str) -> ProtocolError {
    ProtocolError::OverLimit(format!(
        "{what} the {} one reply may take",
        size_text(MAX_REPLY_BYTES)
    ))
}

/// A byte count for messages: `64 MiB`, `512 KiB`, `100 bytes`.
pub fn size_text(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= 1024 && b % 1024 == 0 => format!("{} KiB", b / 1024),
        b => format!("{b} bytes"),
    }
}

/// A value's header line, parsed.
enum Head {
    /// A simple string or an error: the line is the value.
    Line,
    Int(i64),
    Bulk(i64),
    Array(i64),
}

fn check_kind(kind: u8) -> Result<(), ProtocolError> {
    match kind {
        b'+' | b'-' | b':' | b'$' | b'*' => Ok(()),
        other => Err(ProtocolError::Malformed(format!(
            "type byte {}",
            untrusted_bytes(&[other])
        ))),
    }
}

fn head(kind: u8, line: &[u8]) -> Result<Head, ProtocolError> {
    Ok(match kind {
        b':' => Head::Int(number(line)?),
        b'$' => Head::Bulk(number(line)?),
        b'*' => Head::Array(number(line)?),
        _ => Head::Line,
    })
}

/// The longest a line's content may be: a number's 20 characters, or what is left of the
/// reply's limit.
fn max_line(kind: u8, content: usize, start: usize) -> usize {
    match kind {
        b':' | b'$' | b'*' => MAX_NUMBER_CHARS,
        _ => (start + MAX_REPLY_BYTES).saturating_sub(content + 2),
    }
}

/// Where a line ends.
enum LineEnd {
    /// Its `\r` is here.
    Found(usize),
    /// Not in the buffer yet: search again from here.
    More(usize),
}

/// Look for the `\r\n` ending the line whose content starts at `content`, from `from` on,
/// allowing at most `max` bytes of content. A CR or LF anywhere else is an error.
fn find_line_end(
    buf: &[u8],
    kind: u8,
    content: usize,
    from: usize,
    max: usize,
) -> Result<LineEnd, ProtocolError> {
    let bound = content.saturating_add(max);
    let region = buf
        .get(from..buf.len().min(bound.saturating_add(1)))
        .unwrap_or_default();
    match region.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(offset) => {
            let at = from + offset;
            match (buf[at], buf.get(at + 1)) {
                (b'\r', None) => Ok(LineEnd::More(at)),
                (b'\r', Some(b'\n')) => Ok(LineEnd::Found(at)),
                _ => Err(ProtocolError::Malformed(
                    "a line holds a CR or LF that is not its end".to_owned(),
                )),
            }
        }
        None if buf.len() > bound => Err(match kind {
            b':' | b'$' | b'*' => ProtocolError::Malformed(format!(
                "a number longer than {MAX_NUMBER_CHARS} characters"
            )),
            _ => over_bytes("it has a line longer than"),
        }),
        None => Ok(LineEnd::More(buf.len().max(from))),
    }
}

/// The count (a length, an integer) whose line's content starts at `content`, and where its
/// `\r` is, when the line is 1 to 18 ASCII digits followed by `\r\n`, all in `buf`: a
/// number [`number`] reads to the same value, without overflow. `None` for any other line.
fn short_count(buf: &[u8], content: usize) -> Option<(i64, usize)> {
    const MOST_DIGITS: usize = 18;
    let mut n: i64 = 0;
    for (at, &b) in buf.get(content..)?.iter().enumerate().take(MOST_DIGITS + 1) {
        if !b.is_ascii_digit() {
            let cr = content + at;
            let ended = at > 0 && b == b'\r' && buf.get(cr + 1) == Some(&b'\n');
            return ended.then_some((n, cr));
        }
        if at == MOST_DIGITS {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    None
}

/// A bulk string ending at `end` must be followed by `\r\n` (`$3\r\nabcXY` is not "abc").
fn check_bulk_end(buf: &[u8], end: usize) -> Result<(), ProtocolError> {
    if buf.get(end - 2..end) == Some(b"\r\n") {
        return Ok(());
    }
    Err(ProtocolError::Malformed(
        "a bulk string is not followed by \\r\\n".to_owned(),
    ))
}

/// An integer as Redis writes it: an optional `-` and 1 to 19 ASCII digits, within i64.
fn number(line: &[u8]) -> Result<i64, ProtocolError> {
    let not_integer =
        || ProtocolError::Malformed(format!("`{}` is not an integer", untrusted_bytes(line)));
    let (negative, digits) = match line {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(not_integer());
    }
    // Accumulated below zero, so that i64::MIN reads too.
    let mut n: i64 = 0;
    for digit in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_sub(i64::from(digit - b'0')))
            .ok_or_else(not_integer)?;
    }
    if negative {
        Ok(n)
    } else {
        n.checked_neg().ok_or_else(not_integer)
    }
}

fn error_reply(line: &[u8]) -> Reply<'_> {
    let text = std::str::from_utf8(line).unwrap_or("ERR (not UTF-8)");
    let (code, details) = text.split_once(' ').unwrap_or((text, ""));
    Reply::Error { code, details }
}

fn ended_early() -> ProtocolError {
    ProtocolError::Malformed("the reply ends early".to_owned())
}

/// Test and fuzzing aid: scans `bytes` reply after reply twice, whole and fed to one
/// [`Scanner`] in pieces of the sizes in `pieces` (cycled), and parses every reply found;
/// `Err` says where the two scans (their ends or their tokens), the scan and the parse, or
/// the replies built from the tokens and the parse disagree.
#[doc(hidden)]
pub fn agreement(bytes: &[u8], pieces: &[usize]) -> Result<(), String> {
    let (whole, tokens) = scan_whole(bytes);
    let (fed, fed_tokens) = scan_in_pieces(bytes, pieces);
    if whole != fed {
        return Err(format!("whole: {whole:?}, in pieces {pieces:?}: {fed:?}"));
    }
    if tokens != fed_tokens {
        return Err(format!(
            "tokens whole: {tokens:?}, in pieces {pieces:?}: {fed_tokens:?}"
        ));
    }
    let mut start = 0;
    let mut at = 0;
    for found in &whole {
        match found {
            Ok(Some(end)) => {
                // The parse reads exactly the bytes the scan found, and no further.
                let parsed = parse_one(bytes.get(..*end).unwrap_or_default(), start);
                let Ok((reply, stop)) = &parsed else {
                    return Err(format!(
                        "scan: a reply from {start} to {end}; parse: {parsed:?}"
                    ));
                };
                if stop != end {
                    return Err(format!(
                        "scan: a reply from {start} to {end}; parse: {parsed:?}"
                    ));
                }
                // And the reply built from the tokens is the one parsed.
                let built = build(bytes, &tokens, &mut at, 0);
                if built.as_ref() != Ok(reply) {
                    return Err(format!("parsed: {reply:?}; built from tokens: {built:?}"));
                }
                start = *end;
            }
            Ok(None) | Err(_) => {
                if let Ok(parsed) = parse_one(bytes, start) {
                    return Err(format!("scan: {found:?} at {start}; parse: {parsed:?}"));
                }
            }
        }
    }
    Ok(())
}

type Scanned = Vec<Result<Option<usize>, ProtocolError>>;

/// Every reply's end, each found by a fresh scan of all the bytes; the last entry is the
/// end of the bytes, an incomplete reply (`None`) or an error. And the scans' tokens.
fn scan_whole(bytes: &[u8]) -> (Scanned, Vec<Token>) {
    let mut found = Vec::new();
    let mut tokens = Vec::new();
    let mut start = 0;
    loop {
        let next = Scanner::new(start).scan_into(bytes, &mut tokens);
        found.push(next.clone());
        match next {
            Ok(Some(end)) if end < bytes.len() => start = end,
            _ => return (found, tokens),
        }
    }
}

/// Like [`scan_whole`], the bytes handed to one scanner a piece at a time.
fn scan_in_pieces(bytes: &[u8], pieces: &[usize]) -> (Scanned, Vec<Token>) {
    let mut sizes = pieces.iter().map(|&n| n.max(1)).cycle();
    let mut scanner = Scanner::new(0);
    let mut tokens = Vec::new();
    let mut have = 0;
    let mut found = Vec::new();
    loop {
        match scanner.scan_into(bytes.get(..have).unwrap_or_default(), &mut tokens) {
            Ok(Some(end)) => {
                found.push(Ok(Some(end)));
                if end == bytes.len() {
                    return (found, tokens);
                }
            }
            Ok(None) if have >= bytes.len() => {
                found.push(Ok(None));
                return (found, tokens);
            }
            Ok(None) => have = (have + sizes.next().unwrap_or(1)).min(bytes.len()),
            Err(e) => {
                found.push(Err(e));
                return (found, tokens);
            }
        }
    }
}

/// A reply as a server writes it, for tests that need a server's bytes.
#[cfg(test)]
pub(crate) fn encode(reply: &Reply, out: &mut Vec<u8>) {
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
        Reply::Scanned(array) => encode(&array.build().expect("tokens of a scan"), out),
    }
}

#[cfg(test)]
mod tests;
