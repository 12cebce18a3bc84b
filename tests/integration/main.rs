//! Integration tests: one test binary, one module per theme (as ripgrep and just do).

mod acl_selectors;
mod acl_users;
mod action;
mod apply_trust;
mod bulk_reads;
mod check_messages;
mod cli_validate;
mod converge;
mod corpus;
mod diff_git;
mod examples;
mod fake_server;
mod hostile_input;
mod lock;
mod plan_apply;
mod plug_in;
mod pre_commit;
mod properties;
mod proxy;
mod pull_request_flow;
mod redis;
mod schema_file;
mod secrets;
mod tools;
mod trust;
mod util;
