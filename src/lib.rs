//! redis-topology: declare Redis streams, consumer groups, retention, ACL users and message
//! schemas in one YAML file; validate it offline, plan against a live Redis, apply.
//!
//! The crate is a library with a thin binary (`src/main.rs` → [`cli::run`]). Its parts:
//! - [`model`]: the desired state: load a file, merge an environment, convert to typed values;
//! - [`validate`]: every rule of the format, offline, collecting all diagnostics;
//! - [`acl`]: ACL users compared on meaning (pure);
//! - [`compat`]: message-schema compatibility rules between versions (pure);
//! - [`schema`]: the file's own JSON Schema;
//! - [`change`]: one change to one resource, the type plan and diff share;
//! - [`render`]: human and JSON output;
//! - [`redis_url`]: the server URL, parsed once and printed only redacted;
//! - [`diagnostics`]: the diagnostic type shared by all of them;
//! - [`text`]: text from servers and messages made safe to print;
//! - [`glob`]: Redis glob patterns (escaping names put into ACL rules, matching as Redis does).
//! - [`target`] and [`resp`]: talking to the server (routing, the connections, the bounded
//!   reader); every read strict and bounded, one reply model.

#![forbid(unsafe_code)]

pub mod acl;
pub mod apply;
pub mod change;
pub mod cli;
pub mod compat;
pub mod diagnostics;
pub mod diff;
pub mod glob;
pub mod live;
pub mod messages;
pub mod model;
pub mod plan;
pub mod record;
pub mod render;
pub mod resp;
pub mod schema;
pub mod small_map;
pub mod target;
pub mod text;
pub mod validate;

/// The server URL: kept at its old path; it lives with the connection layer.
pub use target::url as redis_url;
