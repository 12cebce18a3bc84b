//! The fast path: the plain YAML that topology files are written in, read in one pass.
//!
//! A 10,000-stream topology is 1.1 MB of YAML, and the general parser (granit-parser, with
//! its token queue and span bookkeeping) needs ~50 ms to scan it: more than all the reads a
//! `plan` sends to Redis. Topology files use a small, regular part of YAML: block mappings and
//! lists indented with spaces, one-line flow collections (`{ maxlen: 10000 }`), plain and
//! one-line quoted scalars, and comments. This module reads exactly that part, straight into
//! the [`Node`] tree, and gives up (`None`) at the first thing outside it: anchors, aliases,
//! tags, `<<`, block scalars, multi-line scalars, escapes, tabs, carriage returns, unusual
//! characters, document markers, empty values, duplicate keys, very deep nesting, anything odd.
//! The caller then parses the file with the general parser, which is also the only source of
//! error messages: this path never reports an error, so it cannot report one differently.
//!
//! The rule it keeps: whenever it gives a tree, the general parser gives the same tree, spans
//! included; and [`parse_streaming`], which hands the entries of `streams:` to its caller as
//! it reads them, gives that tree once they are put back. The tests check both on every file
//! in the repository and on generated and mutated documents (`tests` below, and the `load`
//! fuzz target).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use super::{LINEAR_SEARCH_MAX, is_merge_key, resolve_plain};
use crate::model::node::{FileId, Node, NodeKind, Scalar, Span};

/// Deeper nesting than this is left to the general parser and its limit (64).
const MAX_DEPTH: usize = 32;

/// The general parser's limit on nodes ([`super::MAX_NODES`]): both count each collection
/// and each scalar once, and this path reads no aliases, so both accept the same files. (It
/// was half that limit: a topology of 100,000 streams, ~1.4 million nodes, then went to the
/// general parser, which took 1.9 s where this path takes a tenth of it.)
const MAX_NODES: usize = super::MAX_NODES;

/// YAML limits an implicit key to 1024 characters.
const MAX_KEY_LEN: usize = 1024;

/// Where [`parse_streaming`] hands the entries of `streams`.
pub trait EntrySink {
    /// How many entries are coming, counted from the text before the first is read (exact
    /// for the text this path reads: one line per entry at the mapping's indentation), so
    /// that what holds them is sized once (growing a vector of 10,000 converted streams by
    /// doubling took a fifth of the load).
    fn expect(&mut self, entries: usize);

    fn entry(&mut self, key: Node, value: Node);
}

/// The entries as they were read (for the tests and the agreement check).
impl EntrySink for Vec<(Node, Node)> {
    fn expect(&mut self, entries: usize) {
        self.reserve(entries);
    }

    fn entry(&mut self, key: Node, value: Node) {
        self.push((key, value));
    }
}

/// The tree of `text`, or `None` when the text is not in the plain part of YAML this path
/// reads (the caller then uses the general parser).
pub(super) fn parse(text: &str, file: FileId) -> Option<Node> {
    if !plain_text(text) {
        return None;
    }
    Reader::new(text, file, None).document()
}

/// [`parse`], handing each entry of the top-level `streams` mapping to `sink` as soon as it
/// is read instead of keeping it in the tree, where `streams` is then an empty mapping (at
/// the same place). So the entries, nearly all of a topology, are never all held at once: a
/// caller converts each as it comes. The second value says whether any entry was handed
/// over (`streams` was a block mapping); when it is `false` the tree is [`parse`]'s. `None`
/// as for [`parse`], possibly after some entries were handed over: the caller then drops
/// what it made of them.
pub(super) fn parse_streaming(
    text: &str,
    file: FileId,
    sink: &mut dyn EntrySink,
) -> Option<(Node, bool)> {
    if !plain_text(text) {
        return None;
    }
    let mut reader = Reader::new(text, file, Some(sink));
    let root = reader.document()?;
    Some((root, reader.streamed))
}

/// Printable characters and newlines only (no tabs, carriage returns, byte order marks or
/// characters that YAML 1.1 took for line breaks), and no line that starts a directive or a
/// document marker (`%`, `---`, `...`): whatever else a file holds goes to the general parser.
fn plain_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Each line's start looked at where its newline is, the newlines found by `memchr`
    // (splitting the text into lines first cost more than reading the file).
    let marker = |at: usize| {
        let line = bytes.get(at..).unwrap_or_default();
        line.starts_with(b"%") || line.starts_with(b"---") || line.starts_with(b"...")
    };
    let lines_plain = || !marker(0) && !text.match_indices('\n').any(|(at, _)| marker(at + 1));
    // Nearly every topology is printable ASCII: checked first, and then the text is ASCII.
    if printable_ascii(bytes) {
        return lines_plain();
    }
    text.chars().all(|c| match c {
        '\n' | ' '..='~' | '\u{10000}'.. => true,
        '\u{A0}'..='\u{D7FF}' => !matches!(c, '\u{2028}' | '\u{2029}'),
        '\u{E000}'..='\u{FFFD}' => c != '\u{FEFF}',
        _ => false,
    }) && lines_plain()
}

/// Whether every byte is a newline or printable ASCII. Checked a block at a time with no
/// early exit inside a block, which the compiler turns into vector instructions: byte by
/// byte, this check of a 1 MB topology took ~3 ms while the thread that converts what is
/// read waited for it.
fn printable_ascii(bytes: &[u8]) -> bool {
    const BLOCK: usize = 64;
    let plain = |b: u8| (b == b'\n') | (b.wrapping_sub(b' ') < b'~' - b' ' + 1);
    let blocks = bytes.chunks_exact(BLOCK);
    let rest = blocks.remainder();
    blocks
        .into_iter()
        .all(|block| block.iter().fold(true, |all, &b| all & plain(b)))
        && rest.iter().all(|&b| plain(b))
}

/// Whether `key` may join a mapping that holds `entries`: not for `<<` (merges are the
/// general parser's) nor for a key the mapping may already hold (a duplicate is an error for
/// the general parser to report). Large mappings check the hashes of their keys in `hashes`,
/// so no key is copied; two different keys with one hash also give `false`, which costs only
/// a fall back to the general parser.
fn new_key(entries: &[(Node, Node)], hashes: &mut HashSet<u64>, key: &Node) -> bool {
    if is_merge_key(key) {
        return false;
    }
    let Some(text) = key.key_text() else {
        return true;
    };
    if entries.len() < LINEAR_SEARCH_MAX {
        return !entries
            .iter()
            .any(|(k, _)| k.key_text().as_deref() == Some(&*text));
    }
    if hashes.is_empty() {
        hashes.extend(
            entries
                .iter()
                .filter_map(|(k, _)| Some(hash(&k.key_text()?))),
        );
    }
    hashes.insert(hash(&text))
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// The indentation of the line whose content starts at `pos`, after a line has been
    /// finished; `None` at the end of the text.
    line: Option<usize>,
    file: FileId,
    nodes: usize,
    depth: usize,
    /// Entries of the mappings being read, innermost last: each mapping takes its own off the
    /// end when it closes, into a vector of exactly the right size.
    entries: Vec<(Node, Node)>,
    /// Items of the lists being read, the same way.
    items: Vec<Node>,
    /// Where the entries of the top-level `streams` mapping go, if not into the tree (see
    /// [`parse_streaming`]).
    sink: Option<&'a mut dyn EntrySink>,
    /// Whether entries went to `sink`.
    streamed: bool,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str, file: FileId, sink: Option<&'a mut dyn EntrySink>) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line: None,
            file,
            nodes: 0,
            depth: 0,
            entries: Vec::new(),
            items: Vec::new(),
            sink,
            streamed: false,
        }
    }

    fn document(&mut self) -> Option<Node> {
        // An empty document, or one indented as a whole, is left to the general parser.
        self.line = self.next_content();
        if self.line != Some(0) {
            return None;
        }
        let root = self.block_collection(0)?;
        // Anything after the root collection (it ends at the end of the text or at a line
        // less indented than column 0, which cannot be) is not plain.
        self.line.is_none().then_some(root)
    }

    /// A block list or mapping whose first line is indented by `indent`, `pos` at its content.
    fn block_collection(&mut self, indent: usize) -> Option<Node> {
        if self.at_dash() {
            self.block_seq(indent, false)
        } else {
            self.block_map(indent, false)
        }
    }

    /// `key: value` lines indented by `indent`, `pos` at the first key. `to_sink`: each
    /// entry goes to the sink as it is read, and an empty mapping at the same place stays in
    /// the tree; its keys are then checked for duplicates by their hashes alone (two keys
    /// with one hash: the general parser decides).
    fn block_map(&mut self, indent: usize, to_sink: bool) -> Option<Node> {
        self.enter()?;
        let span = self.span(self.pos, 0);
        let start = self.entries.len();
        let mut keys = HashSet::new();
        if to_sink {
            let expected = self.lines_at(indent);
            if let Some(sink) = self.sink.as_mut() {
                sink.expect(expected);
            }
        }
        loop {
            if self.at_dash() {
                return None; // a list item among keys
            }
            let key = self.key()?;
            // The top-level `streams`, when its entries go to the sink.
            let streams = self.depth == 1
                && self.sink.is_some()
                && matches!(&key.kind, NodeKind::Scalar(Scalar::Str(k)) if k == "streams");
            let value = self.block_value(indent, streams)?;
            if to_sink {
                if is_merge_key(&key) || key.key_text().is_some_and(|k| !keys.insert(hash(&k))) {
                    return None;
                }
                if let Some(sink) = self.sink.as_mut() {
                    sink.entry(key, value);
                }
                self.streamed = true;
            } else {
                if !new_key(&self.entries[start..], &mut keys, &key) {
                    return None;
                }
                self.entries.push((key, value));
            }
            match self.line {
                Some(next) if next == indent => {}
                Some(next) if next > indent => return None,
                _ => break,
            }
        }
        let entries: Arc<[_]> = self.entries.drain(start..).collect();
        self.leave(Node {
            kind: NodeKind::Map(entries),
            span,
        })
    }

    /// The value after `key:` in a block mapping indented by `indent`, `pos` after the colon.
    /// `to_sink`: a block mapping there hands its entries to the sink.
    fn block_value(&mut self, indent: usize, to_sink: bool) -> Option<Node> {
        self.skip_spaces();
        if !self.at_line_end() {
            return self.one_line_value(indent);
        }
        self.finish_line()?;
        match self.line {
            Some(next) if next > indent && to_sink && !self.at_dash() => self.block_map(next, true),
            Some(next) if next > indent => self.block_collection(next),
            // A list may sit at its key's own indentation (`key:` then `- item`).
            Some(next) if next == indent && self.at_dash() => self.block_seq(indent, true),
            // An empty value is null; where its span starts is the general parser's business.
            _ => None,
        }
    }

    /// The lines indented by exactly `indent` from the current line on, up to the first line
    /// indented less (blank lines, comments and list items aside): the keys of the block
    /// mapping that starts here, if this path reads it.
    fn lines_at(&self, indent: usize) -> usize {
        let start = self.text[..self.pos].rfind('\n').map_or(0, |at| at + 1);
        let mut count = 0;
        for line in self.text[start..].split('\n') {
            let content = line.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            // A dash at the mapping's indentation is an item of a key's list, not a key.
            let dash = content == "-" || content.starts_with("- ");
            match line.len() - content.len() {
                depth if depth < indent => break,
                depth if depth == indent && !dash => count += 1,
                _ => {}
            }
        }
        count
    }

    /// `- item` lines indented by `indent`, `pos` at the first dash. An `indentless` list is
    /// the value of a key at the same indentation, and ends at the next line without a dash.
    fn block_seq(&mut self, indent: usize, indentless: bool) -> Option<Node> {
        self.enter()?;
        let dash = self.pos;
        let start = self.items.len();
        loop {
            self.pos += 1; // the dash
            let item = self.seq_item(indent)?;
            self.items.push(item);
            match self.line {
                Some(next) if next == indent && self.at_dash() => {}
                Some(next) if next == indent && indentless => break,
                Some(next) if next >= indent => return None,
                _ => break,
            }
        }
        let items: Arc<[_]> = self.items.drain(start..).collect();
        // The general parser places an indentless list at its first item (when that is on the
        // dash's line; otherwise leave it to the general parser), others at the dash.
        let offset = match items.first() {
            Some(first) if indentless => {
                if self.bytes[dash..first.span.start()].contains(&b'\n') {
                    return None;
                }
                first.span.start()
            }
            _ => dash,
        };
        self.leave(Node {
            kind: NodeKind::Seq(items),
            span: self.span(offset, 0),
        })
    }

    /// One list item, `pos` after its dash on a line indented by `indent`.
    fn seq_item(&mut self, indent: usize) -> Option<Node> {
        self.skip_spaces();
        if self.at_line_end() {
            self.finish_line()?;
            return match self.line {
                Some(next) if next > indent => self.block_collection(next),
                _ => None, // an empty item
            };
        }
        if self.at_dash() {
            return None; // `- - x`: a list in a list on one line
        }
        if self.key_ahead() {
            // `- key: value`: a mapping whose keys line up with this first one.
            return self.block_map(self.column(), false);
        }
        self.one_line_value(indent)
    }

    /// A scalar or flow collection that ends on its line, in a block indented by `indent`.
    fn one_line_value(&mut self, indent: usize) -> Option<Node> {
        let value = match self.peek()? {
            b'[' | b'{' => self.flow_collection()?,
            b'\'' | b'"' => self.quoted()?,
            _ => self.plain(false)?,
        };
        self.finish_line()?;
        // A deeper line next would continue a multi-line scalar (or be an error).
        match self.line {
            Some(next) if next > indent => None,
            _ => Some(value),
        }
    }

    /// A mapping key and its colon; `pos` ends after the colon.
    fn key(&mut self) -> Option<Node> {
        let key = match self.peek()? {
            b'\'' | b'"' => self.quoted()?,
            _ => self.plain(false)?,
        };
        if key.span.len as usize > MAX_KEY_LEN {
            return None;
        }
        self.skip_spaces();
        if self.peek() != Some(b':') {
            return None;
        }
        self.pos += 1;
        matches!(self.peek(), None | Some(b' ' | b'\n')).then_some(key)
    }

    /// Whether a `key:` starts at `pos` (nothing is consumed).
    fn key_ahead(&mut self) -> bool {
        let (pos, nodes) = (self.pos, self.nodes);
        let found = self.key().is_some();
        (self.pos, self.nodes) = (pos, nodes);
        found
    }

    fn flow_collection(&mut self) -> Option<Node> {
        self.enter()?;
        let open = self.pos;
        self.pos += 1;
        let kind = if self.bytes[open] == b'[' {
            self.flow_seq_items()?
        } else {
            self.flow_map_entries()?
        };
        self.leave(Node {
            kind,
            span: self.span(open, 1),
        })
    }

    /// `a, b]`: the items of a flow list, `pos` after its `[`; ends after the `]`.
    fn flow_seq_items(&mut self) -> Option<NodeKind> {
        let start = self.items.len();
        self.skip_spaces();
        if self.peek() != Some(b']') {
            loop {
                let item = self.flow_node()?;
                self.items.push(item);
                if !self.flow_separator(b']')? {
                    break;
                }
            }
        }
        self.pos += 1;
        Some(NodeKind::Seq(self.items.drain(start..).collect()))
    }

    /// `a: 1, b: 2}`: the entries of a flow mapping, `pos` after its `{`; ends after the `}`.
    fn flow_map_entries(&mut self) -> Option<NodeKind> {
        let start = self.entries.len();
        let mut keys = HashSet::new();
        self.skip_spaces();
        if self.peek() != Some(b'}') {
            loop {
                let key = match self.peek()? {
                    b'\'' | b'"' => self.quoted()?,
                    _ => self.plain(true)?,
                };
                self.skip_spaces();
                if self.peek() != Some(b':') || self.bytes.get(self.pos + 1) != Some(&b' ') {
                    return None;
                }
                self.pos += 1;
                let value = self.flow_node()?;
                if !new_key(&self.entries[start..], &mut keys, &key) {
                    return None;
                }
                self.entries.push((key, value));
                if !self.flow_separator(b'}')? {
                    break;
                }
            }
        }
        self.pos += 1;
        Some(NodeKind::Map(self.entries.drain(start..).collect()))
    }

    /// After a flow item: `Some(true)` after a `,` (another item follows), `Some(false)` at
    /// the `close` byte (left for the caller), `None` for anything else, a trailing comma
    /// included.
    fn flow_separator(&mut self, close: u8) -> Option<bool> {
        self.skip_spaces();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                self.skip_spaces();
                (self.peek()? != close).then_some(true)
            }
            b if b == close => Some(false),
            _ => None,
        }
    }

    /// An item or value inside a flow collection.
    fn flow_node(&mut self) -> Option<Node> {
        self.skip_spaces();
        match self.peek()? {
            b'[' | b'{' => self.flow_collection(),
            b'\'' | b'"' => self.quoted(),
            _ => self.plain(true),
        }
    }

    /// A one-line quoted scalar without escapes; `pos` ends after the closing quote.
    fn quoted(&mut self) -> Option<Node> {
        let start = self.pos;
        let quote = self.bytes[start];
        let body = start + 1;
        let close = body
            + self.bytes[body..]
                .iter()
                .position(|&b| b == quote || b == b'\n' || b == b'\\')?;
        let escaped = quote == b'\'' && self.bytes.get(close + 1) == Some(&b'\'');
        if self.bytes[close] != quote || escaped {
            return None; // a line break, a backslash escape or a `''`
        }
        self.pos = close + 1;
        self.scalar(Scalar::Str(self.text[body..close].into()), start, close + 1)
    }

    /// A plain (unquoted) scalar on one line; `pos` ends after its last non-space byte.
    fn plain(&mut self, flow: bool) -> Option<Node> {
        let start = self.pos;
        if !self.plain_may_start() {
            return None;
        }
        let mut end = start + 1;
        while let Some(&b) = self.bytes.get(end) {
            let ends = match b {
                b'\n' => true,
                b':' => self.separates(end + 1, flow),
                b'#' => self.bytes[end - 1] == b' ',
                b',' | b'[' | b']' | b'{' | b'}' => flow,
                _ => false,
            };
            if ends {
                break;
            }
            end += 1;
        }
        while self.bytes[end - 1] == b' ' {
            end -= 1;
        }
        self.pos = end;
        self.scalar(resolve_plain(&self.text[start..end]), start, end)
    }

    /// Whether a plain scalar may start at `pos`: not at an indicator, and not at `-`, `?`
    /// or `:` unless a letter or digit follows (the conservative reading of YAML's rule).
    fn plain_may_start(&self) -> bool {
        match self.peek() {
            None | Some(b' ' | b'\n') => false,
            Some(b'-') => self
                .bytes
                .get(self.pos + 1)
                .is_some_and(|b| b.is_ascii_alphanumeric()),
            Some(
                b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
                | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`',
            ) => false,
            Some(_) => true,
        }
    }

    /// Whether a `:` followed by the byte at `at` ends a plain scalar (it is a key's colon).
    fn separates(&self, at: usize, flow: bool) -> bool {
        match self.bytes.get(at) {
            None | Some(b' ' | b'\n') => true,
            Some(b',' | b'[' | b']' | b'{' | b'}') => flow,
            Some(_) => false,
        }
    }

    fn scalar(&mut self, scalar: Scalar, start: usize, end: usize) -> Option<Node> {
        self.count()?;
        Some(Node {
            kind: NodeKind::Scalar(scalar),
            span: self.span(start, end - start),
        })
    }

    /// Past the rest of a line (spaces, then a comment after a space, or nothing), then to
    /// the next line with content, noting its indentation in `line`.
    fn finish_line(&mut self) -> Option<()> {
        let before = self.pos;
        self.skip_spaces();
        match self.peek() {
            None | Some(b'\n') => {}
            Some(b'#') if self.pos > before => {}
            Some(_) => return None,
        }
        self.skip_past_newline();
        self.line = self.next_content();
        Some(())
    }

    /// From the start of a line, past blank and comment-only lines to the next content:
    /// its indentation, or `None` at the end of the text.
    fn next_content(&mut self) -> Option<usize> {
        loop {
            let line_start = self.pos;
            self.skip_spaces();
            match self.peek()? {
                b'\n' => self.pos += 1,
                b'#' => self.skip_past_newline(),
                _ => return Some(self.pos - line_start),
            }
        }
    }

    /// How many bytes precede `pos` on its line (called after `- `, so they are spaces and a
    /// dash: bytes are columns).
    fn column(&self) -> usize {
        let line_start = self.bytes[..self.pos]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |newline| newline + 1);
        self.pos - line_start
    }

    fn skip_past_newline(&mut self) {
        self.pos = self.bytes[self.pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.bytes.len(), |i| self.pos + i + 1);
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// At the end of the line's content: a newline, the end of the text, or a comment (the
    /// callers have just skipped at least one space, or are at a line's first content).
    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n' | b'#'))
    }

    /// At a block list's `-` (followed by a space or the end of the line).
    fn at_dash(&self) -> bool {
        self.peek() == Some(b'-')
            && matches!(self.bytes.get(self.pos + 1), None | Some(b' ' | b'\n'))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn span(&self, offset: usize, len: usize) -> Span {
        Span::new(self.file, offset, len)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn leave(&mut self, collection: Node) -> Option<Node> {
        self.depth -= 1;
        self.count()?;
        Some(collection)
    }

    fn count(&mut self) -> Option<()> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(())
    }
}

/// The rule of this module, checked: when the fast path gives a tree, the general parser gives
/// the same one (compared as debug text, so that a NaN equals itself); panics otherwise.
/// Returns whether the fast path gave a tree. For the tests and the fuzz target.
pub(super) fn agrees_with_general_parser(text: &str) -> bool {
    let Some(fast) = parse(text, FileId(0)) else {
        return false;
    };
    match super::parse_on(text, FileId(0), false) {
        Ok(general) => assert_eq!(
            format!("{fast:#?}"),
            format!("{general:#?}"),
            "the two paths read {text:?} differently"
        ),
        Err(e) => panic!("the fast path read {text:?}, which is an error: {e:?}"),
    }
    // Streaming the entries of `streams` out of the tree changes nothing else: put back,
    // they make the same tree.
    /// The entries, and how many were announced.
    struct Counted(Option<usize>, Vec<(Node, Node)>);
    impl EntrySink for Counted {
        fn expect(&mut self, entries: usize) {
            self.0 = Some(entries);
        }
        fn entry(&mut self, key: Node, value: Node) {
            self.1.push((key, value));
        }
    }
    let mut counted = Counted(None, Vec::new());
    let streamed = parse_streaming(text, FileId(0), &mut counted);
    let Some((mut tree, handed_over)) = streamed else {
        panic!("the fast path read {text:?}, but not while streaming");
    };
    let Counted(expected, mut entries) = counted;
    assert_eq!(handed_over, !entries.is_empty());
    if handed_over {
        assert_eq!(
            expected,
            Some(entries.len()),
            "entries announced in {text:?}"
        );
    }
    if handed_over && let NodeKind::Map(root) = &mut tree.kind {
        for (key, value) in Arc::make_mut(root) {
            if matches!(&key.kind, NodeKind::Scalar(Scalar::Str(k)) if k == "streams") {
                value.kind = NodeKind::Map(std::mem::take(&mut entries).into());
            }
        }
    }
    assert_eq!(
        format!("{tree:#?}"),
        format!("{fast:#?}"),
        "streaming read {text:?} differently"
    );
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    fn agrees(text: &str) -> bool {
        agrees_with_general_parser(text)
    }

    fn yaml_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                yaml_files(&path, found);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                found.push(path);
            }
        }
    }

    #[test]
    fn every_yaml_file_in_the_repository_reads_the_same() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("topology.yaml")];
        for dir in ["examples", "tests", "docs", "schemas"] {
            yaml_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 90, "found only {} files", files.len());
        let mut fast = Vec::new();
        for file in &files {
            let bytes = std::fs::read(file).expect("read a YAML file");
            // (The corpus holds a file that is not UTF-8 on purpose.)
            if String::from_utf8(bytes).is_ok_and(|text| agrees(&text)) {
                fast.push(file.strip_prefix(root).unwrap_or(file).to_owned());
            }
        }
        // Plain files must take the fast path, or it is not worth having. (topology.yaml and
        // message-bus.yaml share command lists through anchors, and topology.yaml has folded
        // `>-` descriptions: they take the general path.)
        for shipped in ["examples/minimal.yaml", "examples/per-project.yaml"] {
            assert!(
                fast.iter().any(|f| f == Path::new(shipped)),
                "{shipped} does not take the fast path"
            );
        }
    }

    #[test]
    fn plain_topologies_take_the_fast_path() {
        let accepted = [
            "version: 1\nnamespace: shop\n",
            "a: 1\nb:\n  c: 'x'\n  d: \"y\"\ne:\n- p\n- q: 1\n  r: 2\nf: [a, {b: c}]\nh: {}\ni: []\n",
            "a:\n  - x\n  - y # comment\nb: ''\n",
            "# top\n\nk:   v   # c\n\n# end\n",
            "- a\n- b\n",
            "a: {  x: 1 ,y: 2  }\n",
            "url: redis://localhost:6379/0\nrules: [+@read, ~orders:*, '&chan', -flushall]\n",
            "v: ${VERSION}\nid: 1700000000000-0\nstart: $\nn: -12\nf: 1.5e3\nnan: .nan\nt: True\nz: ~\n",
            "'quoted key': 1\n\"other\" : 2\na b: c d\n",
            "description: Café ▶ orders – 𝄞\n",
            "s:\n  - name: a\n    rules:\n      - x\n  -\n    name: b\n",
            "a:\n    deep:\n       deeper: [1, [2, [3]], {x: {y: z}}]\n",
        ];
        for text in accepted {
            assert!(agrees(text), "{text:?} should take the fast path");
        }
    }

    #[test]
    fn everything_else_goes_to_the_general_parser() {
        let refused = [
            "",
            "# only a comment\n",
            "plain scalar\n",
            "  a: 1\n",
            "---\na: 1\n",
            "a: 1\n...\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "base: {x: 1}\nb:\n  <<: {y: 2}\n",
            "a: |\n  text\n",
            "a: >\n  text\n",
            "a: one\n  two\n",
            "a: 'one\n  two'\n",
            "a: \"tab\\t\"\n",
            "a: 'it''s'\n",
            "a:\tb\n",
            "a: 1\r\n",
            "a: x\u{85}y\n",
            "\u{feff}a: 1\n",
            "a: x\u{2028}y\n",
            "a:\n",
            "a:\nb: 1\n",
            "- \n- a\n",
            "a: 1\na: 2\n",
            "a: {x: 1, x: 2}\n",
            "a: b: c\n",
            "a: [x, y,]\n",
            "a: [x\n",
            "a: {x}\n",
            "a: {\"x\":1}\n",
            "- - a\n",
            "a: - b\n",
            "? a\n: b\n",
            "a: @x\n",
            "a: `x`\n",
            "a: 'x'y\n",
            "a: 1\n- b\n",
            "a:\n  b: 1\n c: 2\n",
            "a: 1\n  b: 2\n",
            "a: [${X}]\n",
        ];
        for text in refused {
            assert!(!agrees(text), "{text:?} should go to the general parser");
        }
    }

    #[test]
    fn deep_nesting_goes_to_the_general_parser() {
        let deep = format!("a: {}1{}\n", "[".repeat(40), "]".repeat(40));
        assert!(!agrees(&deep));
        let shallow = format!("a: {}1{}\n", "[".repeat(20), "]".repeat(20));
        assert!(agrees(&shallow));
    }

    /// Up to the general parser's limit on nodes, and not past it: a topology of 100,000
    /// streams has ~1.4 million nodes, and must not fall to the general parser (10 times
    /// slower) for its size alone.
    #[test]
    fn as_many_nodes_as_the_general_parser_takes_and_no_more() {
        let list = |items: usize| format!("l:\n{}", "- 0\n".repeat(items));
        // The root, `l` and the list are 3 nodes.
        let at_limit = list(super::super::MAX_NODES - 3);
        assert!(parse(&at_limit, FileId(0)).is_some());
        // One more is left to the general parser, which stops at its limit (not checked
        // here: parsing 2 million nodes with it takes ~20 s in a test build).
        let past_limit = list(super::super::MAX_NODES - 2);
        assert!(parse(&past_limit, FileId(0)).is_none());
    }

    /// A document to render in YAML: the shapes and the awkward scalars topology files have.
    #[derive(Clone, Debug)]
    enum Doc {
        Scalar(&'static str, Quote),
        Map(Vec<(&'static str, Quote, Doc)>, Layout),
        Seq(Vec<Doc>, Layout),
    }

    #[derive(Clone, Copy, Debug)]
    enum Quote {
        Plain,
        Single,
        Double,
    }

    #[derive(Clone, Copy, Debug)]
    enum Layout {
        Block,
        /// A list at its key's own indentation (for a mapping: the same as `Block`).
        Indentless,
        Flow,
    }

    /// Scalars every topology has.
    const USUAL: &[&str] = &[
        "a",
        "s1",
        "orders",
        "0",
        "-1",
        "1.5",
        "true",
        "null",
        "$",
        "0-0",
        "${X}",
        "a b",
        "7d",
        "+@read",
        "~orders:*",
    ];

    /// Scalars that are hard to read right.
    const AWKWARD_SCALARS: &[&str] = &[
        "+1",
        "1e3",
        ".5",
        "0x1f",
        "0o7",
        "False",
        "~",
        "",
        " ",
        "a:b",
        "a: b",
        "a #b",
        "a#b",
        "a,b",
        "http://h:1/0",
        "it's",
        "\"x\"",
        "-",
        "-x",
        "- x",
        "?x",
        ":x",
        "x:",
        "[x]",
        "{x}",
        "*",
        "&x",
        "!x",
        "<<",
        "%x",
        "@x",
        "|",
        ">",
        "#",
        "a\\b",
        "a  b",
        "7d",
        ".nan",
        "-.inf",
        "x ",
        "é",
        "a\u{a0}b",
        "\u{a0}",
        "–",
        "▶ x",
        "a\u{2028}b",
        "\u{85}",
        "\u{feff}x",
        "𝄞",
    ];

    fn scalar() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            3 => prop::sample::select(USUAL),
            1 => prop::sample::select(AWKWARD_SCALARS)
        ]
    }

    fn quote() -> impl Strategy<Value = Quote> {
        prop_oneof![
            4 => Just(Quote::Plain),
            1 => Just(Quote::Single),
            1 => Just(Quote::Double)
        ]
    }

    fn layout() -> impl Strategy<Value = Layout> {
        prop_oneof![
            3 => Just(Layout::Block),
            1 => Just(Layout::Indentless),
            2 => Just(Layout::Flow)
        ]
    }

    fn doc() -> impl Strategy<Value = Doc> {
        let leaf = (scalar(), quote()).prop_map(|(s, q)| Doc::Scalar(s, q));
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                (
                    prop::collection::vec((scalar(), quote(), inner.clone()), 0..5),
                    layout()
                )
                    .prop_map(|(entries, layout)| Doc::Map(entries, layout)),
                (prop::collection::vec(inner, 0..5), layout())
                    .prop_map(|(items, layout)| Doc::Seq(items, layout)),
            ]
        })
    }

    /// A document shaped like a topology: a root mapping whose `streams` holds entries,
    /// which streaming reads apart (see [`parse_streaming`]).
    fn topology_doc() -> impl Strategy<Value = Doc> {
        (
            doc(),
            quote(),
            prop::collection::vec((scalar(), quote(), doc()), 1..5),
            layout(),
        )
            .prop_map(|(other, quote, streams, layout)| {
                Doc::Map(
                    vec![
                        ("version", Quote::Plain, other),
                        ("streams", quote, Doc::Map(streams, layout)),
                    ],
                    Layout::Block,
                )
            })
    }

    /// How to write it: indentation width, extra spaces, comments.
    #[derive(Clone, Copy, Debug)]
    struct Style {
        width: usize,
        spaces: bool,
        comments: bool,
    }

    fn scalar_text(text: &str, quote: Quote) -> String {
        match quote {
            Quote::Plain => text.to_owned(),
            Quote::Single => format!("'{text}'"),
            Quote::Double => format!("\"{text}\""),
        }
    }

    fn flow(doc: &Doc, style: Style, out: &mut String) {
        let gap = if style.spaces { " " } else { "" };
        match doc {
            Doc::Scalar(text, quote) => out.push_str(&scalar_text(text, *quote)),
            Doc::Seq(items, _) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&format!("{gap},"));
                    }
                    out.push_str(gap);
                    flow(item, style, out);
                }
                out.push(']');
            }
            Doc::Map(entries, _) => {
                out.push('{');
                for (i, (key, quote, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("{gap}{}: ", scalar_text(key, *quote)));
                    flow(value, style, out);
                }
                out.push_str(gap);
                out.push('}');
            }
        }
    }

    /// Whether a value is written on its key's (or dash's) line.
    fn inline(doc: &Doc) -> bool {
        match doc {
            Doc::Scalar(..) => true,
            Doc::Map(entries, layout) => entries.is_empty() || matches!(layout, Layout::Flow),
            Doc::Seq(items, layout) => items.is_empty() || matches!(layout, Layout::Flow),
        }
    }

    fn end_of_line(style: Style, out: &mut String) {
        if style.comments {
            out.push_str(" # note");
        }
        out.push('\n');
    }

    fn block(doc: &Doc, indent: usize, style: Style, out: &mut String) {
        let pad = " ".repeat(indent);
        match doc {
            Doc::Map(entries, _) if !inline(doc) => {
                for (key, quote, value) in entries {
                    out.push_str(&format!("{pad}{}:", scalar_text(key, *quote)));
                    value_after(value, indent, style, out);
                }
            }
            Doc::Seq(items, _) if !inline(doc) => {
                for item in items {
                    out.push_str(&format!("{pad}-"));
                    if inline(item) {
                        out.push(' ');
                        flow(item, style, out);
                        end_of_line(style, out);
                    } else if let Doc::Map(..) = item {
                        // `- key: value`, the rest of the mapping lined up under it.
                        let mut nested = String::new();
                        block(item, indent + 2, style, &mut nested);
                        out.push(' ');
                        out.push_str(nested.trim_start_matches(' '));
                    } else {
                        end_of_line(style, out);
                        block(item, indent + style.width, style, out);
                    }
                }
            }
            _ => {
                out.push_str(&pad);
                flow(doc, style, out);
                end_of_line(style, out);
            }
        }
    }

    fn value_after(value: &Doc, indent: usize, style: Style, out: &mut String) {
        if inline(value) {
            out.push(' ');
            flow(value, style, out);
            end_of_line(style, out);
            return;
        }
        end_of_line(style, out);
        if style.comments {
            out.push_str("\n# a comment line\n");
        }
        let nested = match value {
            Doc::Seq(_, Layout::Indentless) => indent,
            _ => indent + style.width,
        };
        block(value, nested, style, out);
    }

    fn render(doc: &Doc, style: Style) -> String {
        let mut out = String::new();
        block(doc, 0, style, &mut out);
        out
    }

    fn style() -> impl Strategy<Value = Style> {
        (1usize..5, any::<bool>(), any::<bool>()).prop_map(|(width, spaces, comments)| Style {
            width,
            spaces,
            comments,
        })
    }

    /// Bytes that matter to YAML, for mutating documents.
    const AWKWARD: &[u8] = b" :#-'\"{}[],\n\t&*!|>?%@~$a0.\\";

    proptest! {
        // 1,500 cases in the test suite; set PROPTEST_CASES for a longer hunt.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1500)
        ))]

        #[test]
        fn generated_documents_read_the_same(doc in doc(), style in style()) {
            agrees(&render(&doc, style));
        }

        #[test]
        fn topologies_read_the_same_streamed_or_not(doc in topology_doc(), style in style()) {
            agrees(&render(&doc, style));
        }

        #[test]
        fn mutated_documents_read_the_same(
            doc in doc(),
            style in style(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(AWKWARD)), 1..4),
        ) {
            let mut bytes = render(&doc, style).into_bytes();
            for (at, op, byte) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let at = at.index(bytes.len());
                match op {
                    0 => bytes.insert(at, byte),
                    1 => bytes[at] = byte,
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            if let Ok(text) = String::from_utf8(bytes) {
                agrees(&text);
            }
        }
    }

    /// The bytes around the edges of printable ASCII, and others.
    const EDGES: &[u8] = b"\x00\x09\x0a\x0b\x0d\x1f\x20\x21a\x7d\x7e\x7f\x80\xc2\xff";

    proptest! {
        /// The block-wise check says what a check byte by byte says, wherever the odd byte
        /// falls (inside a block, at its edges, in the remainder).
        #[test]
        fn printable_ascii_is_checked_as_byte_by_byte(
            bytes in prop::collection::vec(prop::sample::select(EDGES), 0..200),
            plain_prefix in 0usize..300,
        ) {
            let mut all = vec![b'x'; plain_prefix];
            all.extend(bytes);
            let byte_by_byte = all.iter().all(|&b| b == b'\n' || (b' '..=b'~').contains(&b));
            prop_assert_eq!(printable_ascii(&all), byte_by_byte);
        }
    }

    /// The generators must produce documents the fast path takes, or the properties above
    /// test nothing.
    #[test]
    fn the_generator_reaches_the_fast_path() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let (mut taken, mut total, mut streamed) = (0, 0, 0);
        for _ in 0..500 {
            let doc = doc().new_tree(&mut runner).expect("a document").current();
            let style = style().new_tree(&mut runner).expect("a style").current();
            total += 1;
            if agrees(&render(&doc, style)) {
                taken += 1;
            }
            let topology = topology_doc()
                .new_tree(&mut runner)
                .expect("a topology")
                .current();
            let text = render(&topology, style);
            if agrees(&text) {
                streamed += usize::from(
                    parse_streaming(&text, FileId(0), &mut Vec::new()).is_some_and(|(_, s)| s),
                );
            }
        }
        assert!(
            taken * 5 > total,
            "only {taken} of {total} generated documents took the fast path"
        );
        // (Random scalars send most documents to the general parser; the proptest above
        // makes 1,500 of them.)
        assert!(
            streamed >= 10,
            "only {streamed} of {total} generated topologies streamed their streams"
        );
    }
}
