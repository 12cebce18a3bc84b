//! The desired state: what a topology file declares.
//!
//! `node` (spanned YAML tree) → `load` (read, parse with limits, merge an environment) →
//! `convert` (typed [`types::Topology`], collecting diagnostics). Validation rules that need
//! the whole topology live in [`crate::validate`].

pub mod convert;
pub mod desired;
pub mod health;
pub mod interpolate;
pub mod load;
pub mod node;
pub mod schemas;
pub mod secrets;
pub mod types;
pub mod yaml;
