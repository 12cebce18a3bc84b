//! `redis-topology status`: is the topology healthy?
//!
//! [`read`] reads the figures of every declared stream and group in two pipelined phases
//! (not a round trip per stream); [`evaluate`] (pure: readings + the file's thresholds ->
//! report) says what each figure means against the `health` the file declares; the renderers
//! are in `crate::render::status`.
//!
//! **Unknown is not zero.** When Redis cannot count a group's lag (`XINFO GROUPS` says nil:
//! a group created at `$` or at an ID that has not read to the end since, or entries deleted
//! after its position), the lag is unknown, shown as such with the reason, never as 0. What
//! can still be known is: whether anything is undelivered at all (the entry after the
//! group's last-delivered ID), and how old the oldest undelivered entry is. An unknown figure
//! whose threshold could not be checked does not change the exit code; it is listed.

pub mod evaluate;
pub mod read;

use compact_str::CompactString;

use crate::live::StreamId;

/// How a figure or a row stands, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    #[default]
    Ok,
    /// A threshold could not be checked: Redis cannot say (see the module's notes).
    Unknown,
    Warning,
    Critical,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Unknown => "unknown",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    /// The exit code of a report whose worst row is at this level: 0 healthy (or unknown),
    /// 2 a warning, 3 a critical breach (1 is an error).
    pub fn exit_code(self) -> u8 {
        match self {
            Level::Ok | Level::Unknown => 0,
            Level::Warning => 2,
            Level::Critical => 3,
        }
    }
}

/// Everything `status` read.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Readings {
    pub nodes: Vec<NodeReading>,
    /// Declared streams, by name.
    pub streams: Vec<StreamReading>,
    /// Declared heartbeats, by name.
    pub heartbeats: Vec<HeartbeatReading>,
}

/// How many instances of a heartbeat are alive: its keys that exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatReading {
    pub name: String,
    pub instances: u64,
}

/// What was read of a server (each node of a cluster or a replicated primary).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeReading {
    /// `host:port`, as the target names it.
    pub address: String,
    /// INFO `used_memory`, in bytes.
    pub used_memory: Option<u64>,
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: Option<u64>,
    pub maxmemory_policy: Option<String>,
    pub appendonly: Option<bool>,
    /// Why the settings or the memory could not be read (the server's words, escaped).
    pub unreadable: Option<String>,
}

/// What was read of a declared stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamReading {
    /// The name in the file, and its key (inline up to 24 bytes: read on one thread and
    /// dropped on another, by the ten thousand).
    pub name: CompactString,
    pub key: CompactString,
    pub state: KeyState,
    pub length: u64,
    /// The first entry's ID (none when empty).
    pub first_id: Option<StreamId>,
    /// The newest entry's ID, read where `newest_age` applies: `Some(None)` when empty.
    pub newest_id: Option<Option<StreamId>>,
    /// The server's clock, in ms, on the node that serves the stream.
    pub now_ms: u64,
    /// Declared groups, in name order.
    pub groups: Vec<GroupReading>,
}

/// Whether a declared stream exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    Stream,
    Missing,
    /// Another type (its name as `TYPE` says it, or the server's words).
    OtherType(String),
}

/// What was read of a declared group.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GroupReading {
    pub name: CompactString,
    pub exists: bool,
    /// `XINFO GROUPS` `lag`; `None` when Redis says nil.
    pub lag: Option<u64>,
    pub last_delivered: StreamId,
    /// The oldest entry after the last delivered one (read in the second phase when the lag
    /// is not known to be 0): `Some(None)` when there is none, `None` when not read.
    pub next_undelivered: Option<Option<StreamId>>,
    pub pending: u64,
    /// The smallest pending ID (`XPENDING` summary).
    pub oldest_pending: Option<StreamId>,
    pub consumers: Vec<ConsumerReading>,
}

/// A consumer of a group, from `XINFO CONSUMERS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerReading {
    pub name: CompactString,
    pub pending: u64,
    /// Ms since it was last seen: `inactive` where the server has it (Redis 7.2 and
    /// later; `None` when it never read), else `idle`.
    pub unseen_ms: Option<u64>,
}
