//! Diagnostics: every problem found in a topology, with a stable code, a place and a fix.
//!
//! Problems in user input are never `Err`s that stop at the first one: loaders and validators
//! push [`Diagnostic`]s into a list, so a user sees everything wrong with a file in one run.
//! A diagnostic points into one of the [`Sources`] of the run (the topology file, or a message
//! schema file), which is how the renderers can show `file:line:column` and the offending line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::model::node::{FileId, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Stable identifiers of every kind of problem. They are part of the product's interface (CI
/// scripts filter on them), so a code is never renamed; `Code::ALL` lists them for the tests
/// and the docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    IoRead,
    FileTooLarge,
    NotUtf8,
    YamlSyntax,
    YamlLimit,
    Empty,
    TypeMismatch,
    FieldUnknown,
    FieldMissing,
    VersionUnsupported,
    NameInvalid,
    NameDuplicate,
    EnvVarUndefined,
    EnvVarSyntax,
    EnvUnknown,
    EnvRequired,
    EnvOverlayField,
    RetentionMissing,
    RetentionEmpty,
    RetentionMaxlen,
    DurationInvalid,
    StartInvalid,
    EntriesReadInvalid,
    SchemaUnknownRef,
    SchemaFieldRequired,
    SchemaFieldUnused,
    SchemaEncoding,
    SchemaCompatibilityMode,
    SchemaVersionKey,
    SchemaVersionsEmpty,
    SchemaVersionSource,
    SchemaFileMissing,
    SchemaJsonSyntax,
    SchemaInvalid,
    SchemaExampleInvalid,
    SchemaIncompatible,
    AclPlaintextPassword,
    AclPasswordSource,
    AclSha256,
    AclEnvName,
    AclNopassConflict,
    AclNopass,
    AclNoPassword,
    AclCommandToken,
    AclCategoryUnknown,
    AclDangerousGrant,
    AclPattern,
    AclPatternPrefixed,
    AclAllKeysWrite,
    AclPatternReserved,
    AclReservedKeys,
    AclAccessEmpty,
    AclAccessPreset,
    AclDefaultOpen,
    StreamUserRef,
    AclStreamOverwrite,
    AclConsumerXadd,
    AclStreamTrim,
    AclClaimOutsideGroup,
    AclConsumerKeys,
    NamespaceSharedDefault,
    HealthThreshold,
    DlqOfUnknown,
    HeartbeatKeys,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::IoRead,
        Code::FileTooLarge,
        Code::NotUtf8,
        Code::YamlSyntax,
        Code::YamlLimit,
        Code::Empty,
        Code::TypeMismatch,
        Code::FieldUnknown,
        Code::FieldMissing,
        Code::VersionUnsupported,
        Code::NameInvalid,
        Code::NameDuplicate,
        Code::EnvVarUndefined,
        Code::EnvVarSyntax,
        Code::EnvUnknown,
        Code::EnvRequired,
        Code::EnvOverlayField,
        Code::RetentionMissing,
        Code::RetentionEmpty,
        Code::RetentionMaxlen,
        Code::DurationInvalid,
        Code::StartInvalid,
        Code::EntriesReadInvalid,
        Code::SchemaUnknownRef,
        Code::SchemaFieldRequired,
        Code::SchemaFieldUnused,
        Code::SchemaEncoding,
        Code::SchemaCompatibilityMode,
        Code::SchemaVersionKey,
        Code::SchemaVersionsEmpty,
        Code::SchemaVersionSource,
        Code::SchemaFileMissing,
        Code::SchemaJsonSyntax,
        Code::SchemaInvalid,
        Code::SchemaExampleInvalid,
        Code::SchemaIncompatible,
        Code::AclPlaintextPassword,
        Code::AclPasswordSource,
        Code::AclSha256,
        Code::AclEnvName,
        Code::AclNopassConflict,
        Code::AclNopass,
        Code::AclNoPassword,
        Code::AclCommandToken,
        Code::AclCategoryUnknown,
        Code::AclDangerousGrant,
        Code::AclPattern,
        Code::AclPatternPrefixed,
        Code::AclAllKeysWrite,
        Code::AclPatternReserved,
        Code::AclReservedKeys,
        Code::AclAccessEmpty,
        Code::AclAccessPreset,
        Code::AclDefaultOpen,
        Code::StreamUserRef,
        Code::AclStreamOverwrite,
        Code::AclConsumerXadd,
        Code::AclStreamTrim,
        Code::AclClaimOutsideGroup,
        Code::AclConsumerKeys,
        Code::NamespaceSharedDefault,
        Code::HealthThreshold,
        Code::DlqOfUnknown,
        Code::HeartbeatKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::IoRead => "file::read",
            Code::FileTooLarge => "file::too_large",
            Code::NotUtf8 => "file::not_utf8",
            Code::YamlSyntax => "yaml::syntax",
            Code::YamlLimit => "yaml::limit",
            Code::Empty => "yaml::empty",
            Code::TypeMismatch => "type::mismatch",
            Code::FieldUnknown => "field::unknown",
            Code::FieldMissing => "field::missing",
            Code::VersionUnsupported => "version::unsupported",
            Code::NameInvalid => "name::invalid",
            Code::NameDuplicate => "name::duplicate",
            Code::EnvVarUndefined => "var::undefined",
            Code::EnvVarSyntax => "var::syntax",
            Code::EnvUnknown => "env::unknown",
            Code::EnvRequired => "env::required",
            Code::EnvOverlayField => "env::overlay_field",
            Code::RetentionMissing => "retention::missing",
            Code::RetentionEmpty => "retention::empty",
            Code::RetentionMaxlen => "retention::maxlen",
            Code::DurationInvalid => "retention::duration",
            Code::StartInvalid => "group::start",
            Code::EntriesReadInvalid => "group::entries_read",
            Code::SchemaUnknownRef => "stream::schema_ref",
            Code::SchemaFieldRequired => "schema::field_required",
            Code::SchemaFieldUnused => "schema::field_unused",
            Code::SchemaEncoding => "schema::encoding",
            Code::SchemaCompatibilityMode => "schema::compatibility_mode",
            Code::SchemaVersionKey => "schema::version_key",
            Code::SchemaVersionsEmpty => "schema::versions_empty",
            Code::SchemaVersionSource => "schema::version_source",
            Code::SchemaFileMissing => "schema::file_missing",
            Code::SchemaJsonSyntax => "schema::json_syntax",
            Code::SchemaInvalid => "schema::invalid",
            Code::SchemaExampleInvalid => "schema::example_invalid",
            Code::SchemaIncompatible => "schema::incompatible",
            Code::AclPlaintextPassword => "acl::plaintext_password",
            Code::AclPasswordSource => "acl::password_source",
            Code::AclSha256 => "acl::sha256",
            Code::AclEnvName => "acl::env_name",
            Code::AclNopassConflict => "acl::nopass_conflict",
            Code::AclNopass => "acl::nopass",
            Code::AclNoPassword => "acl::no_password",
            Code::AclCommandToken => "acl::command_token",
            Code::AclCategoryUnknown => "acl::category_unknown",
            Code::AclDangerousGrant => "acl::dangerous_grant",
            Code::AclPattern => "acl::pattern",
            Code::AclPatternPrefixed => "acl::pattern_prefixed",
            Code::AclAllKeysWrite => "acl::all_keys_write",
            Code::AclPatternReserved => "acl::pattern_reserved",
            Code::AclReservedKeys => "acl::reserved_keys",
            Code::AclAccessEmpty => "acl::access_empty",
            Code::AclAccessPreset => "acl::access_preset",
            Code::AclDefaultOpen => "acl::default_open",
            Code::StreamUserRef => "stream::user_ref",
            Code::AclStreamOverwrite => "acl::stream_overwrite",
            Code::AclConsumerXadd => "acl::consumer_xadd",
            Code::AclStreamTrim => "acl::stream_trim",
            Code::AclClaimOutsideGroup => "acl::claim_outside_group",
            Code::AclConsumerKeys => "acl::consumer_keys",
            Code::NamespaceSharedDefault => "namespace::shared_default",
            Code::HealthThreshold => "health::threshold",
            Code::DlqOfUnknown => "stream::dlq_of",
            Code::HeartbeatKeys => "heartbeat::keys",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, at one place, with what would be valid instead.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// Where the problem is; `None` for problems with no place (an unreadable file).
    pub span: Option<Span>,
    /// Short text shown under the offending value.
    pub label: Option<String>,
    /// What would be valid.
    pub help: Option<String>,
    /// Source text that holds a secret (a plaintext password): it is blanked out in the
    /// run's [`Sources`] before anything is rendered, so neither this diagnostic's snippet nor
    /// any other's context lines can show it.
    pub secret: Option<Span>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: None,
            help: None,
            secret: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Mark the source text at `span` as a secret, so no renderer shows it.
    pub fn secret(mut self, span: Span) -> Self {
        self.secret = Some(span);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A list of diagnostics being collected.
pub type Diagnostics = Vec<Diagnostic>;

/// A source file's text, with the index needed to turn byte offsets into lines and columns.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it (relative paths stay relative in messages).
    pub path: PathBuf,
    /// The text as read (an `Arc<String>`, not an `Arc<str>`, which would copy a 1 MB file).
    pub text: Arc<String>,
    /// Where each line starts; built on the first diagnostic (a valid file never needs it).
    line_starts: OnceLock<Vec<usize>>,
    /// The text as snippets show it ([`SourceFile::printable_text`]), made on the first one.
    printable: OnceLock<Arc<String>>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Self {
        SourceFile {
            path,
            text: Arc::new(text),
            line_starts: OnceLock::new(),
            printable: OnceLock::new(),
        }
    }

    /// The text with control and bidi characters replaced by visible ones of the same
    /// length ([`crate::text::printable_in_place`]), for snippets: a file is written by
    /// whoever can open a pull request, and its lines are printed as they are, where an
    /// escape sequence would reach the terminal. Offsets, lines and columns are unchanged.
    pub fn printable_text(&self) -> Arc<String> {
        self.printable
            .get_or_init(|| match crate::text::printable_in_place(&self.text) {
                std::borrow::Cow::Borrowed(_) => self.text.clone(),
                std::borrow::Cow::Owned(text) => Arc::new(text),
            })
            .clone()
    }

    /// The byte offset where each line starts (after each `\n`).
    pub fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_starts = self.line_starts();
        let line = line_starts.partition_point(|&start| start <= offset) - 1;
        let line_start = line_starts[line];
        let column = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    /// Byte offset of a 1-based line and column (in characters), clamped to the text.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&line_start) = self.line_starts().get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[line_start..];
        rest.char_indices()
            .nth(column.saturating_sub(1))
            .map_or(self.text.len(), |(i, _)| line_start + i)
    }
}

/// All files read during one run, addressed by [`FileId`].
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, path: &Path, text: String) -> FileId {
        self.files.push(SourceFile::new(path.to_path_buf(), text));
        FileId((self.files.len() - 1) as u32)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// Rename files for messages (a git version read into a temporary folder is shown as
    /// `git:REF:PATH`); `rename` gives the new name, or `None` to keep a file's.
    pub fn relabel(&mut self, rename: impl Fn(&Path) -> Option<PathBuf>) {
        for file in &mut self.files {
            if let Some(name) = rename(&file.path) {
                file.path = name;
            }
        }
    }

    /// Blank out the secrets of these diagnostics (each byte becomes `*`, so offsets, lines
    /// and columns stay as they were).
    pub fn redact_secrets<'a>(&mut self, diagnostics: impl IntoIterator<Item = &'a Diagnostic>) {
        for span in diagnostics.into_iter().filter_map(|d| d.secret) {
            let Some(file) = self.files.get_mut(span.file.0 as usize) else {
                continue;
            };
            let mut text = file.text.as_bytes().to_vec();
            let end = span.end().min(text.len());
            for byte in text
                .get_mut(span.start().min(end)..end)
                .into_iter()
                .flatten()
            {
                if *byte != b'\n' {
                    *byte = b'*';
                }
            }
            // Only whole UTF-8 sequences were replaced by ASCII, so this cannot fail.
            if let Ok(text) = String::from_utf8(text) {
                file.text = Arc::new(text);
                file.printable = OnceLock::new();
            }
        }
    }

    /// The span covering `line:column` of a file, one character wide.
    pub fn span_at(&self, file: FileId, line: usize, column: usize) -> Span {
        let offset = self.get(file).map_or(0, |f| f.offset_of(line, column));
        Span::new(file, offset, 1)
    }

    /// File path, line and column of a span, for JSON output and summaries.
    pub fn locate(&self, span: Span) -> Option<(&Path, usize, usize)> {
        let file = self.get(span.file)?;
        let (line, column) = file.line_column(span.start());
        Some((file.path.as_path(), line, column))
    }
}

/// The closest of `candidates` to a misspelt `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A help line, prefixed with "did you mean `x`?" when `word` is a near miss of a candidate.
pub fn suggest(word: &str, candidates: &[&str], help: String) -> String {
    match did_you_mean(word, candidates.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? {help}"),
        None => help,
    }
}

/// `a`, `b` or `c`: a human list of valid values for help lines.
pub fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_listed() {
        let strings: HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(strings.len(), Code::ALL.len(), "two codes share a string");
        for code in Code::ALL {
            let (area, name) = code
                .as_str()
                .split_once("::")
                .expect("codes are area::name");
            assert!(!area.is_empty() && !name.is_empty());
        }
    }

    #[test]
    fn every_code_is_documented() {
        let docs = include_str!("../docs/diagnostics.md");
        for code in Code::ALL {
            assert!(
                docs.contains(&format!("| `{}` |", code.as_str())),
                "{} is missing from docs/diagnostics.md",
                code.as_str()
            );
        }
    }

    #[test]
    fn secrets_are_blanked_in_place() {
        let mut sources = Sources::default();
        let file = sources.add(Path::new("t.yaml"), "pw: hünter2\nnext: 1\n".into());
        let secret = Span::new(file, 4, "hünter2".len());
        let diagnostic = Diagnostic::error(Code::AclPlaintextPassword, "x").secret(secret);
        sources.redact_secrets([&diagnostic]);
        let text = &sources.get(file).unwrap().text;
        assert!(!text.contains("nter2"), "{text}");
        assert_eq!(text.find("next"), Some(4 + "hünter2".len() + 1));
    }

    #[test]
    fn line_and_column_count_characters() {
        let file = SourceFile::new("t.yaml".into(), "a: 1\nnäme: x\n".into());
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(5), (2, 1));
        let x = file.text.find('x').unwrap();
        assert_eq!(file.line_column(x), (2, 7));
        assert_eq!(file.offset_of(2, 7), x);
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            did_you_mean("retension", ["retention", "groups"]),
            Some("retention")
        );
        assert_eq!(did_you_mean("zzz", ["retention", "groups"]), None);
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
