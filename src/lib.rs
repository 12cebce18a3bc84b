//! redis-topology: declare Redis streams, consumer groups, retention, ACL users and message
//! schemas in one YAML file; validate it offline, plan against a live Redis, apply.
//!
//! The crate is a library with a thin binary (`src/main.rs` → [`run`]). Its parts:
//! - [`model`]: the desired state: load a file, merge an environment, convert to typed values;
//! - [`validate`]: every rule of the format, offline, collecting all diagnostics;
//! - [`acl`]: ACL users compared on meaning (pure);
//! - [`compat`]: message-schema compatibility rules between versions (pure);
//! - [`schema`]: the file's own JSON Schema;
//! - [`export`]: documents generated from the desired state (AsyncAPI);
//! - [`change`]: one change to one resource, the type plan and diff share;
//! - [`render`]: human and JSON output, Mermaid and DOT diagrams;
//! - [`graph`]: who writes, reads and consumes each stream, for the diagrams (pure);
//! - [`redis_url`]: the server URL, parsed once and printed only redacted;
//! - [`diagnostics`]: the diagnostic type shared by all of them;
//! - [`text`]: text from servers and messages made safe to print;
//! - [`glob`]: Redis glob patterns (escaping names put into ACL rules, matching as Redis does).
//! - [`target`] and [`resp`]: talking to the server (routing, the connections, the bounded
//!   reader); every read strict and bounded, one reply model.
//!
//! Public are the stages a test, bench or fuzz target drives on its own (load and validate,
//! read, plan, apply, render, the target); the rest (the command line, ACL comparison,
//! compatibility rules, the record, text escaping, ...) is internal to the crate.

#![forbid(unsafe_code)]

pub(crate) mod acl;
pub mod apply;
pub(crate) mod change;
pub(crate) mod cli;
pub(crate) mod compat;
pub mod diagnostics;
pub(crate) mod diff;
pub(crate) mod export;
pub mod glob;
pub mod graph;
pub(crate) mod import;
pub mod live;
pub(crate) mod messages;
pub mod model;
pub(crate) mod number;
pub mod plan;
pub(crate) mod record;
pub mod render;
pub mod resp;
pub mod schema;
pub(crate) mod small_map;
pub mod status;
pub mod target;
pub(crate) mod text;
pub mod validate;

/// The server URL: kept at its old path; it lives with the connection layer.
pub(crate) use target::url as redis_url;

/// The command line: parse the arguments, run the command, print its output and errors;
/// returns the exit code (see docs/operations.md, "Exit codes").
pub use cli::run;
