//! Integration tests: one test binary, one module per theme (as ripgrep and just do).

mod acl_users;
mod bulk_reads;
mod check_messages;
mod cli_validate;
mod converge;
mod corpus;
mod diff_git;
mod examples;
mod fake_server;
mod hostile_input;
mod plan_apply;
mod properties;
mod redis;
mod schema_file;
mod util;
