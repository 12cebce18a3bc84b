//! YAML text to a spanned [`Node`] tree, with hard limits.
//!
//! Why not `serde_yaml`: it is archived, and its libyaml port is unmaintained (RUSTSEC-2024-0449).
//! Why not serde at all: serde stops at the first error and the serde path through
//! `serde-saphyr` spends 2.5x longer than its own parser on a 10,000-stream file (measured:
//! 145 ms vs 58 ms), which alone would miss our 100 ms `validate` goal. So we drive
//! `granit-parser` (the maintained, fuzzed, `forbid(unsafe)` parser under serde-saphyr, with
//! byte spans on every event) and build the tree here, enforcing our own budget:
//! - nesting depth ([`MAX_DEPTH`]); the parser itself caps flow and block nesting too, and the
//!   builder below is iterative, so 200,000 levels cannot overflow the stack;
//! - total nodes, counting every alias expansion ([`MAX_NODES`]), so a billion-laughs file
//!   fails after a bounded amount of work instead of exhausting memory;
//! - alias uses ([`MAX_ALIASES`]);
//! - one document per file, no duplicate keys, no custom tags.
//!
//! Most topology files use only a plain, regular part of YAML; `fast` reads that part in one
//! pass and hands anything else to the general parser described above, which is also the
//! only source of error messages (measured on the 1.6 MB file of `cargo bench --bench
//! validate`: the tree in 24-28 ms, where the general parser's events alone take 55-60 ms).
//!
//! Plain scalars are resolved with the YAML 1.2 core schema (`0` is an integer, `"0"` a
//! string, `yes` a string); `<<` merge keys are supported because people use them to share
//! retention settings between streams.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use granit_parser::{ErrorKind, Event, Marker, Parser, ScalarStyle, ScanError, Tag};

use super::node::{FileId, Node, NodeKind, Scalar, Span};

mod fast;

pub use fast::EntrySink;

pub const MAX_DEPTH: usize = 64;
pub const MAX_NODES: usize = 2_000_000;
pub const MAX_ALIASES: usize = 10_000;

/// Why a document could not be read, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub kind: YamlErrorKind,
    pub message: String,
    /// Byte offset of the problem.
    pub offset: usize,
    pub len: usize,
    /// What to do about it, when we know better than "fix the syntax".
    pub help: Option<&'static str>,
    /// What the parser says went wrong, for the help text (never its wording, which may
    /// change between releases).
    pub cause: Cause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlErrorKind {
    Syntax,
    /// A safety limit (depth, nodes, aliases) was exceeded.
    Limit,
}

/// The parser's error kinds that get their own help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// `*name` before any `&name`.
    UnknownAnchor,
    /// A tab where YAML wants spaces.
    Tab,
    /// An error that an unclosed `{`, `[` or quote earlier in the text typically causes.
    MaybeUnclosed,
    Other,
}

impl Cause {
    fn of(kind: &ErrorKind) -> Cause {
        match kind {
            ErrorKind::UnknownAnchor => Cause::UnknownAnchor,
            ErrorKind::TabNotAllowed
            | ErrorKind::TabInBlockIndentation
            | ErrorKind::TabAtBlockScalarStart
            | ErrorKind::TabInIndentation
            | ErrorKind::TabInPlainScalar => Cause::Tab,
            ErrorKind::ExpectedFlowMappingSeparator
            | ErrorKind::InvalidColonPlacement
            | ErrorKind::UnclosedQuotedScalar
            | ErrorKind::DocumentIndicatorInQuotedScalar
            | ErrorKind::InvalidQuotedScalarIndent
            | ErrorKind::InvalidTrailingSingleQuotedScalar
            | ErrorKind::InvalidTrailingDoubleQuotedScalar => Cause::MaybeUnclosed,
            _ => Cause::Other,
        }
    }
}

/// Parse one YAML document. An empty document (or only comments) is a `null` root.
pub fn parse(text: &str, file: FileId) -> Result<Node, YamlError> {
    if let Some(root) = fast::parse(text, file) {
        return Ok(root);
    }
    parse_general(text, file)
}

/// [`parse`] by the general parser alone: for a text the fast path already declined.
pub fn parse_general(text: &str, file: FileId) -> Result<Node, YamlError> {
    parse_on(text, file, text.len() >= PARALLEL_MIN_BYTES)
}

/// [`parse`] on the fast path only, handing each entry of the top-level `streams` mapping
/// to `sink` as it is read (see [`fast::parse_streaming`]); `None` when the text needs the
/// general parser (use [`parse`] then). A large text is read on a second thread, `sink`
/// called on this one ([`parse_streaming_in_parallel`]).
pub fn parse_streaming(text: &str, file: FileId, sink: &mut dyn EntrySink) -> Option<(Node, bool)> {
    if text.len() < PARALLEL_MIN_BYTES {
        return fast::parse_streaming(text, file, sink);
    }
    parse_streaming_in_parallel(text, file, sink)
}

/// What the reading thread of [`parse_streaming_in_parallel`] hands over.
#[derive(Debug, PartialEq)]
enum Handed {
    Expect(usize),
    Entries(Vec<(Node, Node)>),
}

/// Entries travel between the threads in batches of this many.
const ENTRY_CHUNK: usize = 64;

/// The reading thread's sink: entries forwarded in batches.
struct Forward {
    to: std::sync::mpsc::SyncSender<Handed>,
    batch: Vec<(Node, Node)>,
}

impl Forward {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(ENTRY_CHUNK));
            // The receiver only goes away with its scope, after this thread ended.
            let _ = self.to.send(Handed::Entries(batch));
        }
    }
}

impl EntrySink for Forward {
    fn expect(&mut self, entries: usize) {
        self.flush();
        let _ = self.to.send(Handed::Expect(entries));
    }

    fn entry(&mut self, key: Node, value: Node) {
        self.batch.push((key, value));
        if self.batch.len() == ENTRY_CHUNK {
            self.flush();
        }
    }
}

/// A large file read on a second thread while this one hands each entry to `sink` (which
/// converts it): reading and converting are each about half of loading a topology, and
/// before the server is read there is a core to spare (a first apply of 10,000 streams
/// loads its file while nothing else runs). `sink` gets the same calls in the same order as
/// on one thread.
fn parse_streaming_in_parallel(
    text: &str,
    file: FileId,
    sink: &mut dyn EntrySink,
) -> Option<(Node, bool)> {
    std::thread::scope(|scope| {
        let (to, received) = std::sync::mpsc::sync_channel::<Handed>(16);
        let reader = scope.spawn(move || {
            let mut forward = Forward {
                to,
                batch: Vec::with_capacity(ENTRY_CHUNK),
            };
            let parsed = fast::parse_streaming(text, file, &mut forward);
            forward.flush();
            parsed
        });
        for handed in received {
            match handed {
                Handed::Expect(entries) => sink.expect(entries),
                Handed::Entries(entries) => {
                    for (key, value) in entries {
                        sink.entry(key, value);
                    }
                }
            }
        }
        // A panic goes on as it would have on one thread.
        match reader.join() {
            Ok(parsed) => parsed,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Fuzzing aid: panics if the fast path reads `text` into another tree than the general
/// parser does (see [`fast`]); returns whether the fast path took it.
#[doc(hidden)]
pub fn fast_path_agrees(text: &str) -> bool {
    fast::agrees_with_general_parser(text)
}

fn parse_on(text: &str, file: FileId, two_threads: bool) -> Result<Node, YamlError> {
    let mut builder = Builder {
        file,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        nodes: 0,
        aliases: 0,
    };
    if !two_threads {
        for event in parser(text) {
            builder.feed(event)?;
        }
    } else {
        parse_in_parallel(text, &mut builder)?;
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Scalar(Scalar::Null),
        span: Span {
            file,
            offset: 0,
            len: 0,
        },
    }))
}

fn parser(text: &str) -> Parser<'_, granit_parser::StrInput<'_>> {
    let mut options = granit_parser::Options::default();
    options.flow_nesting_limit = MAX_DEPTH + 1;
    options.block_nesting_limit = MAX_DEPTH + 1;
    Parser::new_from_str_with_options(text, options)
}

/// Files at least this large are parsed on two threads (below, a thread costs more than it
/// saves).
const PARALLEL_MIN_BYTES: usize = 64 * 1024;

/// Events travel between the threads in chunks of this many, so that the threads meet
/// once per chunk rather than once per event.
const EVENT_CHUNK: usize = 4096;

type ParsedEvent<'a> = Result<(Event<'a>, granit_parser::Span), ScanError>;

/// A large file is scanned on a second thread while this one builds the tree (measured on a
/// 10,000-stream, 1.1 MB file: `validate` 85 -> 75 ms, median of 30 interleaved runs; the
/// scanning alone takes ~50 ms, so it is the floor). Errors come out in the same order as
/// on one thread: the builder stops at the first, and the scanning thread stops when its
/// next chunk is no longer wanted.
fn parse_in_parallel(text: &str, builder: &mut Builder) -> Result<(), YamlError> {
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<ParsedEvent<'_>>>(4);
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(EVENT_CHUNK);
            for event in parser(text) {
                let failed = event.is_err();
                chunk.push(event);
                if chunk.len() == EVENT_CHUNK || failed {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(EVENT_CHUNK));
                    if chunks.send(full).is_err() || failed {
                        return;
                    }
                }
            }
            let _ = chunks.send(chunk);
        });
        for chunk in received {
            for event in chunk {
                builder.feed(event)?;
            }
        }
        Ok(())
    })
}

fn scan_error(error: ScanError) -> YamlError {
    YamlError {
        kind: if matches!(error.kind(), ErrorKind::RecursionLimitExceeded) {
            YamlErrorKind::Limit
        } else {
            YamlErrorKind::Syntax
        },
        message: error.kind().to_string(),
        offset: offset(error.marker()),
        len: 1,
        help: None,
        cause: Cause::of(error.kind()),
    }
}

fn offset(marker: &Marker) -> usize {
    marker.byte_offset().unwrap_or_else(|| marker.index())
}

/// A collection being built.
enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        /// Keys seen so far, to reject duplicates; filled only once the mapping is large
        /// (small mappings, nearly all of them, are searched linearly without allocating).
        keys: HashSet<String>,
        pending_key: Option<Node>,
        /// Mappings named by `<<` keys, merged at the end (explicit keys win).
        merges: Vec<Node>,
        span: Span,
        anchor: usize,
    },
}

struct Builder {
    file: FileId,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    aliases: usize,
}

impl Builder {
    /// The next event from the parser, or the parser's error.
    fn feed(&mut self, event: ParsedEvent<'_>) -> Result<(), YamlError> {
        let (event, span) = event.map_err(scan_error)?;
        self.event(event, span)
    }

    fn event(&mut self, event: Event<'_>, span: granit_parser::Span) -> Result<(), YamlError> {
        let span = self.span(&span);
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(syntax(span, "a second YAML document")
                        .help("a topology file holds one YAML document: remove the second `---` or split the file"));
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let scalar = resolve_scalar(&value, style, tag.as_deref(), span)?;
                self.complete(
                    Node {
                        kind: NodeKind::Scalar(scalar),
                        span,
                    },
                    anchor,
                )?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq", span)?;
                self.open(Frame::Seq {
                    items: Vec::new(),
                    span,
                    anchor,
                })?;
            }
            Event::MappingStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map", span)?;
                self.open(Frame::Map {
                    entries: Vec::new(),
                    keys: HashSet::new(),
                    pending_key: None,
                    merges: Vec::new(),
                    span,
                    anchor,
                })?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(span)?,
            Event::Alias(id) => self.alias(id, span)?,
            _ => {}
        }
        Ok(())
    }

    fn span(&self, span: &granit_parser::Span) -> Span {
        let start = offset(&span.start);
        Span::new(self.file, start, offset(&span.end).saturating_sub(start))
    }

    fn open(&mut self, frame: Frame) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            let span = match &frame {
                Frame::Seq { span, .. } | Frame::Map { span, .. } => *span,
            };
            return Err(limit(
                span,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.count(1, frame_span(&frame))?;
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self, end: Span) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Err(syntax(end, "unbalanced end of a collection"));
        };
        let (node, anchor) = match frame {
            Frame::Seq {
                items,
                span,
                anchor,
            } => (
                Node {
                    kind: NodeKind::Seq(Arc::from(items)),
                    span,
                },
                anchor,
            ),
            Frame::Map {
                mut entries,
                mut keys,
                merges,
                span,
                anchor,
                ..
            } => {
                apply_merges(&mut entries, &mut keys, merges);
                (
                    Node {
                        kind: NodeKind::Map(Arc::from(entries)),
                        span,
                    },
                    anchor,
                )
            }
        };
        self.complete(node, anchor)
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(), YamlError> {
        self.aliases += 1;
        if self.aliases > MAX_ALIASES {
            return Err(limit(span, format!("more than {MAX_ALIASES} aliases")));
        }
        let Some(node) = self.anchors.get(&id) else {
            return Err(syntax(
                span,
                "alias to an anchor that is not defined before it",
            ));
        };
        let node = node.clone();
        self.count(count_nodes(&node), span)?;
        self.complete(node, 0)
    }

    /// Account for `n` more nodes (alias expansions included).
    fn count(&mut self, n: usize, span: Span) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(limit(
                span,
                format!("more than {MAX_NODES} YAML nodes (aliases expanded)"),
            ));
        }
        Ok(())
    }

    /// A node is finished: remember its anchor and give it to its parent.
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if matches!(node.kind, NodeKind::Scalar(_)) {
            self.count(1, node.span)?;
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                keys,
                pending_key,
                merges,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) if is_merge_key(&key) => {
                    if !is_mergeable(&node) {
                        return Err(syntax(
                            node.span,
                            &format!("`<<` merges mappings, found {}", node.describe()),
                        )
                        .help("write `<<: *anchor` (an anchored mapping) or `<<: [*a, *b]`"));
                    }
                    merges.push(node);
                }
                Some(key) => {
                    if let Some(text) = key.key_text()
                        && has_key(entries, keys, &text)
                    {
                        return Err(syntax(key.span, &format!("duplicate key `{text}`"))
                            .help("a key may appear once in a mapping: merge the two entries or remove one"));
                    }
                    entries.push((key, node));
                }
            },
        }
        Ok(())
    }
}

/// A finished collection without the spare capacity its growth left: most mappings of a
/// topology hold one to three entries, and a vector grown by pushes holds room for four
/// (measured: the tree of a 10,000-stream file shrinks by ~10 MB, and touching less fresh
/// memory makes the whole `validate` faster).
/// Mappings with more entries than this index their keys in a hash set.
const LINEAR_SEARCH_MAX: usize = 16;

/// Whether a mapping under construction has `key` already; keeps `keys` in step with `entries`
/// for large mappings.
fn has_key(entries: &[(Node, Node)], keys: &mut HashSet<String>, key: &str) -> bool {
    if entries.len() < LINEAR_SEARCH_MAX {
        return entries
            .iter()
            .any(|(k, _)| k.key_text().as_deref() == Some(key));
    }
    if keys.is_empty() {
        keys.extend(
            entries
                .iter()
                .filter_map(|(k, _)| k.key_text().map(Cow::into_owned)),
        );
    }
    !keys.insert(key.to_owned())
}

fn frame_span(frame: &Frame) -> Span {
    match frame {
        Frame::Seq { span, .. } | Frame::Map { span, .. } => *span,
    }
}

fn is_merge_key(key: &Node) -> bool {
    matches!(&key.kind, NodeKind::Scalar(Scalar::Str(s)) if s == "<<")
}

/// A mapping, or a list of mappings: what `<<` can merge.
fn is_mergeable(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Map(_) => true,
        NodeKind::Seq(items) => items.iter().all(|i| matches!(i.kind, NodeKind::Map(_))),
        NodeKind::Scalar(_) => false,
    }
}

/// `<<: *base` or `<<: [*a, *b]`: copy in the entries whose keys the mapping does not set
/// itself; earlier sources win over later ones.
fn apply_merges(entries: &mut Vec<(Node, Node)>, keys: &mut HashSet<String>, merges: Vec<Node>) {
    let sources = merges.into_iter().flat_map(|m| match m.kind {
        NodeKind::Seq(items) => items.to_vec(),
        _ => vec![m],
    });
    for source in sources {
        let NodeKind::Map(source_entries) = source.kind else {
            continue; // not reached: `<<` of anything but mappings is refused when read
        };
        for (key, value) in source_entries.iter() {
            let Some(text) = key.key_text().map(Cow::into_owned) else {
                continue;
            };
            if !has_key(entries, keys, &text) {
                entries.push((key.clone(), value.clone()));
            }
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    // Iterative, like everything here that walks a tree of untrusted depth.
    let mut count = 0;
    let mut pending = vec![node];
    while let Some(n) = pending.pop() {
        count += 1;
        match &n.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => pending.extend(items.iter()),
            NodeKind::Map(entries) => {
                for (k, v) in entries.iter() {
                    pending.push(k);
                    pending.push(v);
                }
            }
        }
    }
    count
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str, span: Span) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(tag) if core_suffix(tag) == Some(expected) => Ok(()),
        Some(tag) => Err(unsupported_tag(tag, span)),
    }
}

/// The core-schema suffix (`str`, `int`, ...) of a `!!` tag.
fn core_suffix(tag: &Tag) -> Option<&str> {
    (tag.handle() == "tag:yaml.org,2002:" || tag.handle() == "!!").then(|| tag.suffix())
}

fn unsupported_tag(tag: &Tag, span: Span) -> YamlError {
    syntax(
        span,
        &format!(
            "the YAML tag `{}{}` is not supported",
            tag.handle(),
            tag.suffix()
        ),
    )
    .help("remove the tag: topology files use plain values (`!!str` is allowed to force a string)")
}

/// Resolve a scalar with the YAML 1.2 core schema; quoted scalars are always strings.
fn resolve_scalar(
    value: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: Span,
) -> Result<Scalar, YamlError> {
    if let Some(tag) = tag {
        return match core_suffix(tag) {
            Some("str") => Ok(Scalar::Str(value.into())),
            Some("int" | "float" | "bool" | "null") => Ok(resolve_plain(value)),
            _ => Err(unsupported_tag(tag, span)),
        };
    }
    Ok(match style {
        ScalarStyle::Plain => resolve_plain(value),
        _ => Scalar::Str(value.into()),
    })
}

fn resolve_plain(value: &str) -> Scalar {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        _ => {}
    }
    // Every other scalar that starts with a letter is a string (numbers start with a digit,
    // a sign or `.`): nearly every key and name of a topology, spared the number checks.
    if value
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
    {
        return Scalar::Str(value.into());
    }
    if let Some(int) = parse_int(value) {
        return Scalar::Int(int);
    }
    if let Some(float) = parse_float(value) {
        return Scalar::Float(float);
    }
    Scalar::Str(value.into())
}

fn parse_int(value: &str) -> Option<i64> {
    if let Some(octal) = value.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok();
    }
    if let Some(hex) = value.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_float(value: &str) -> Option<f64> {
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    match unsigned {
        ".inf" | ".Inf" | ".INF" => {
            return Some(if value.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        ".nan" | ".NaN" | ".NAN" if unsigned == value => return Some(f64::NAN),
        _ => {}
    }
    // The core schema's float: digits with a `.` and/or an exponent, nothing else (so `7d`,
    // `1e` and `inf` stay strings).
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = {
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac)
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some()) {
        return value.parse().ok();
    }
    None
}

fn syntax(span: Span, message: &str) -> YamlError {
    YamlError {
        kind: YamlErrorKind::Syntax,
        message: message.to_owned(),
        offset: span.start(),
        len: (span.len as usize).max(1),
        help: None,
        cause: Cause::Other,
    }
}

impl YamlError {
    fn help(mut self, help: &'static str) -> Self {
        self.help = Some(help);
        self
    }
}

fn limit(span: Span, message: String) -> YamlError {
    YamlError {
        kind: YamlErrorKind::Limit,
        message,
        offset: span.start(),
        len: (span.len as usize).max(1),
        help: None,
        cause: Cause::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a sink was handed, in order.
    #[derive(Debug, Default, PartialEq)]
    struct Calls(Vec<Handed>);

    impl EntrySink for Calls {
        fn expect(&mut self, entries: usize) {
            self.0.push(Handed::Expect(entries));
        }
        fn entry(&mut self, key: Node, value: Node) {
            self.0.push(Handed::Entries(vec![(key, value)]));
        }
    }

    /// A large file is read on a second thread while its entries go to the sink on this one:
    /// the sink is handed what it is handed on one thread, in the same order, and the same
    /// tree comes back; where the fast path gives up part way (a name given twice), it gives
    /// up the same way, after the same entries.
    #[test]
    fn a_large_file_streams_the_same_on_two_threads() {
        let mut text = String::from("version: 1\nnamespace: big\nstreams:\n");
        for i in 0..2_000 {
            text.push_str(&format!(
                "  s{i}:\n    retention: {{ maxlen: {i} }}\n    groups: {{ g: {{ start: \"0\" }} }}\n"
            ));
        }
        let declined = text.replace("  s1900:\n", "  s7:\n");
        let flow = format!(
            "{}streams: {{ a: {{}} }}\n",
            "# a long comment\n".repeat(4_000)
        );
        // Read whole and streamed (the count and every entry); given up after 1,900 entries;
        // not streamed (a flow mapping, in the tree), or not on the fast path at all.
        for (text, calls, read) in [
            (text, 2_001, Some(true)),
            (declined, 1_901, None),
            (flow, 0, Some(false)),
        ] {
            assert!(text.len() >= PARALLEL_MIN_BYTES);
            let (mut one, mut two) = (Calls::default(), Calls::default());
            let on_one = fast::parse_streaming(&text, FileId(0), &mut one);
            let on_two = parse_streaming(&text, FileId(0), &mut two);
            assert_eq!(on_two, on_one);
            assert_eq!(two, one);
            assert_eq!(
                (one.0.len(), on_one.map(|(_, streamed)| streamed)),
                (calls, read)
            );
        }
    }

    fn parse_ok(text: &str) -> Node {
        parse(text, FileId(0)).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    fn scalar(text: &str) -> Scalar {
        match parse_ok(text).kind {
            NodeKind::Scalar(s) => s,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(scalar("0"), Scalar::Int(0));
        assert_eq!(scalar("-12"), Scalar::Int(-12));
        assert_eq!(scalar("0x1f"), Scalar::Int(31));
        assert_eq!(scalar("'0'"), Scalar::Str("0".into()));
        assert_eq!(scalar("1.5"), Scalar::Float(1.5));
        assert_eq!(scalar("1e3"), Scalar::Float(1000.0));
        assert_eq!(scalar("~"), Scalar::Null);
        assert_eq!(scalar("true"), Scalar::Bool(true));
        assert_eq!(scalar("yes"), Scalar::Str("yes".into()));
        assert_eq!(scalar("7d"), Scalar::Str("7d".into()));
        assert_eq!(
            scalar("1700000000000-0"),
            Scalar::Str("1700000000000-0".into())
        );
        assert_eq!(scalar("!!str 12"), Scalar::Str("12".into()));
        assert_eq!(scalar("$"), Scalar::Str("$".into()));
    }

    #[test]
    fn spans_are_byte_ranges() {
        let text = "a: 1\nbé: [x, yz]\n";
        let root = parse_ok(text);
        let NodeKind::Map(entries) = &root.kind else {
            panic!()
        };
        let (key, value) = &entries[1];
        assert_eq!(&text[key.span.range()], "bé");
        let NodeKind::Seq(items) = &value.kind else {
            panic!()
        };
        assert_eq!(&text[items[1].span.range()], "yz");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let e = parse("a: 1\nb: 2\na: 3\n", FileId(0)).unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::Syntax);
        assert!(e.message.contains("duplicate key `a`"));
        assert_eq!(e.offset, 10);
    }

    #[test]
    fn merge_keys_fill_in_missing_fields() {
        let root =
            parse_ok("base: &b { maxlen: 5, approximate: false }\ns:\n  <<: *b\n  maxlen: 9\n");
        let s = root.get("s").expect("s");
        assert_eq!(
            s.get("maxlen").map(|n| n.kind.clone()),
            Some(NodeKind::Scalar(Scalar::Int(9)))
        );
        assert_eq!(
            s.get("approximate").map(|n| n.kind.clone()),
            Some(NodeKind::Scalar(Scalar::Bool(false)))
        );
        assert!(s.get("<<").is_none());
    }

    /// Large files are parsed on two threads: the same tree, and the same first error, as on
    /// one thread, whether the scanner or the builder finds it, early or late.
    #[test]
    fn two_threads_parse_as_one_does() {
        let mut big = String::from("streams:\n");
        for i in 0..5_000 {
            big.push_str(&format!(
                "  s{i}: {{ retention: {{ maxlen: {i} }}, groups: [a, b] }}\n"
            ));
        }
        assert!(big.len() > PARALLEL_MIN_BYTES);
        let cases = [
            big.clone(),
            format!("{big}  broken: {{ unclosed\n"),
            format!("{big}  s17: duplicate\n"),
            format!("streams:\n  s1: x\n  s1: y\n{}", &big["streams:\n".len()..]),
            format!("{big}---\nsecond: document\n"),
        ];
        for (i, text) in cases.iter().enumerate() {
            let one = parse_on(text, FileId(0), false);
            let two = parse_on(text, FileId(0), true);
            assert_eq!(one, two, "case {i}");
        }
        assert!(parse_on(&cases[0], FileId(0), true).is_ok());
        for case in &cases[1..] {
            assert!(parse_on(case, FileId(0), true).is_err());
        }
    }

    #[test]
    fn limits_hold() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            parse(&deep, FileId(0)).unwrap_err().kind,
            YamlErrorKind::Limit
        );
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            bomb.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        assert_eq!(
            parse(&bomb, FileId(0)).unwrap_err().kind,
            YamlErrorKind::Limit
        );
        let two_docs = parse("a: 1\n---\nb: 2\n", FileId(0)).unwrap_err();
        assert!(two_docs.message.contains("second YAML document"));
        assert!(parse("!custom x", FileId(0)).is_err());
        assert!(parse("a: *nope", FileId(0)).is_err());
    }
}
