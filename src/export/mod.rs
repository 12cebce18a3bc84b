//! Documents generated from the desired state of one environment, for other tools and for
//! people: offline, from the file alone (no server is read).
//!
//! - [`asyncapi`]: an AsyncAPI 3.0.0 document of the streams, their messages, who may send
//!   and receive them, and the ACL users as security schemes.

pub mod asyncapi;
