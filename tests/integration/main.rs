//! Integration tests: one test binary, one module per theme (as ripgrep and just do).

mod cli_validate;
mod corpus;
mod hostile_input;
mod properties;
mod schema_file;
mod util;
