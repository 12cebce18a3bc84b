//! Documents generated from the desired state of one environment, for other tools and for
//! people: offline, from the file alone (no server is read). `redis-topology export ...`.
//!
//! - [`aclfile`]: the ACL users as an aclfile, exactly the rules `apply` sends;
//! - [`asyncapi`]: an AsyncAPI 3.0.0 document of the streams, their messages, who may send
//!   and receive them, and the ACL users as security schemes.

pub mod aclfile;
pub mod asyncapi;
