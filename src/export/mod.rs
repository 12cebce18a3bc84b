//! The topology written in other tools' formats, offline: `redis-topology export ...`.

pub mod aclfile;
