//! The live state: what the server has, for the keys a topology touches.
//!
//! [`LiveState`] is plain data, read by [`read`] in pipelined batches and handed to the pure
//! planner. Tests of the planner build it by hand.

pub mod acl;
pub mod read;

use std::collections::BTreeMap;

use compact_str::CompactString;

use crate::acl::{Catalog, Permissions, Selector, channel_patterns, key_permissions};
use crate::record::Record;
use crate::small_map::SmallMap;

/// A snapshot of everything the planner needs to know about the servers of a target.
///
/// Keys and the record are the keyspace's (in a cluster each key on the node that owns its
/// slot); what Redis keeps per node (its clock, its configuration, its ACL users, which are
/// never replicated) is in [`LiveState::nodes`], one entry per node of the target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveState {
    /// Every key the topology declares or the record names that exists (a missing key is
    /// not in it).
    pub keys: BTreeMap<String, LiveKey>,
    /// The tool's record, if this namespace has one.
    pub record: Option<Record>,
    /// The record was found under its old name, `<namespace>:__topology__:record`: the next
    /// apply moves it (see [`crate::record`]).
    pub record_under_old_name: bool,
    /// The node that holds the record's key (an index into [`LiveState::nodes`]): its clock
    /// dates the record.
    pub record_node: usize,
    /// Every node of the target, in the target's order ([`crate::target::NodeId`]); a
    /// standalone server is one.
    pub nodes: Vec<LiveNode>,
}

impl LiveState {
    /// The record alone; the rest is freed.
    pub fn into_record(self) -> Option<Record> {
        self.record
    }
}

/// What Redis keeps per node.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveNode {
    /// `host:port` (or a socket's path), as the target names the node.
    pub address: String,
    /// `stream-node-max-entries`: how far above a bound an approximate (`~`) trim may leave a
    /// stream. 100 unless the node says otherwise.
    pub node_max_entries: u64,
    /// The node's clock at read time (Unix ms), for `max_age`.
    pub now_ms: u64,
    /// ACL users and what is needed to compare them; read only when the topology declares
    /// users or the record names some.
    pub acl: Option<LiveAcl>,
    /// `maxmemory-policy` and `appendonly`, when the user may read them: the planner notes
    /// an eviction policy that can drop streams, and durable streams without an
    /// append-only file.
    pub maxmemory_policy: Option<String>,
    pub appendonly: Option<bool>,
    /// How many keys the node holds (`DBSIZE`), when the user may ask: on a server that
    /// holds fewer keys than a plan would look at one by one, the reader lists them instead
    /// (see [`read::read_after`]).
    pub keys_held: Option<u64>,
}

impl LiveNode {
    /// A node nothing was read from: Redis's default macro-node size, clock at 0.
    pub const UNREAD: LiveNode = LiveNode {
        address: String::new(),
        node_max_entries: 100,
        now_ms: 0,
        acl: None,
        maxmemory_policy: None,
        appendonly: None,
        keys_held: None,
    };
}

/// [`LiveNode::UNREAD`], to lend out.
static UNREAD_NODE: LiveNode = LiveNode::UNREAD;

impl Default for LiveNode {
    fn default() -> Self {
        LiveNode::UNREAD
    }
}

impl LiveState {
    /// The node at `index` ([`LiveStream::node`], [`LiveState::record_node`]);
    /// [`LiveNode::UNREAD`] when there is none (a state built by hand).
    pub fn node(&self, index: usize) -> &LiveNode {
        self.nodes.get(index).unwrap_or(&UNREAD_NODE)
    }

    /// The node that answered for `stream`.
    pub fn node_of(&self, stream: &LiveStream) -> &LiveNode {
        self.node(stream.node)
    }

    /// The ACL users the planner compares with: those of the first node that has them (a
    /// standalone server's). Users are per node; comparing each node's is the next step of
    /// the connection layer (Cluster and replicas), and needs no other shape than this.
    pub fn acl(&self) -> Option<&LiveAcl> {
        self.nodes.iter().find_map(|node| node.acl.as_ref())
    }

    /// Like [`LiveState::acl`], to change it (tests).
    pub fn acl_mut(&mut self) -> Option<&mut LiveAcl> {
        self.nodes.iter_mut().find_map(|node| node.acl.as_mut())
    }

    /// The clock of the node that holds the record (Unix ms).
    pub fn record_clock_ms(&self) -> u64 {
        self.node(self.record_node).now_ms
    }
}

/// The ACL side of a server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveAcl {
    /// The user the tool is connected as (`ACL WHOAMI`): never modified.
    pub whoami: String,
    /// The replication user (`CONFIG GET masteruser`), never modified; `None` when unset or
    /// when CONFIG GET is not allowed.
    pub masteruser: Option<String>,
    /// Whether the server keeps users in an aclfile (`ACL SAVE` works); `None`: unknown
    /// (CONFIG GET not allowed).
    pub aclfile: Option<bool>,
    /// Whether `acl-pubsub-default` is `allchannels`: then `reset`, and every new selector,
    /// give a user `&*`, so apply writes `resetchannels` explicitly. `None`: unknown (CONFIG
    /// GET not allowed), treated the same way.
    pub pubsub_default_all: Option<bool>,
    pub catalog: Catalog,
    /// Existing users among those declared or recorded, by name.
    pub users: BTreeMap<String, LiveUser>,
    /// Who manages each of those users, from the server-wide registry (user → namespace):
    /// ACL users are global to a server, not per namespace.
    pub owners: BTreeMap<String, String>,
}

/// One user as `ACL GETUSER` describes it.
#[derive(Clone, Default, PartialEq)]
pub struct LiveUser {
    pub flags: Vec<String>,
    pub password_hashes: Vec<String>,
    /// The rule strings as the server prints them.
    pub commands: String,
    pub keys: String,
    pub channels: String,
    /// The selectors (`(...)` rules), in the order the server lists them.
    pub selectors: Vec<LiveSelector>,
    /// The `databases` field (Valkey 9.1+: `alldbs`, `db=0,1`, `resetdbs`); `None` when the
    /// server has no such field (Redis, older Valkey).
    pub databases: Option<String>,
    /// Fields this version does not know, with their values flattened to text, in reply order.
    pub other_fields: Vec<(String, String)>,
}

impl std::fmt::Debug for LiveUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveUser")
            .field("flags", &self.flags)
            .field("password_hashes", &crate::acl::SENSITIVE)
            .field("commands", &self.commands)
            .field("keys", &self.keys)
            .field("channels", &self.channels)
            .field("selectors", &self.selectors)
            .field("databases", &self.databases)
            .field("other_fields", &self.other_fields)
            .finish()
    }
}

/// One selector of a user as `ACL GETUSER` lists it (7.0+: `commands`, `keys`, `channels`;
/// Valkey 9.1+ adds `databases`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveSelector {
    pub commands: String,
    pub keys: String,
    pub channels: String,
    pub databases: Option<String>,
    /// Fields this version does not know, with their values flattened to text.
    pub other_fields: Vec<(String, String)>,
}

impl LiveSelector {
    fn permissions(&self, catalog: &Catalog) -> Result<Selector, String> {
        Ok(Selector {
            keys: key_permissions(self.keys.split_whitespace()),
            channels: channel_patterns(self.channels.split_whitespace()),
            commands: catalog.allowed(&words(&self.commands))?,
            databases: crate::acl::database_restriction(self.databases.as_deref()),
            other: known_values(&self.other_fields),
        })
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// The fields with a non-empty value: an empty one restricts nothing.
fn known_values(fields: &[(String, String)]) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .cloned()
        .collect()
}

impl LiveUser {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// What this user may do; `Err` if its rules name something the catalog lacks.
    pub fn permissions(&self, catalog: &Catalog) -> Result<Permissions, String> {
        let commands = words(&self.commands);
        Ok(Permissions {
            enabled: self.has_flag("on"),
            nopass: self.has_flag("nopass"),
            password_hashes: self.password_hashes.iter().cloned().collect(),
            keys: key_permissions(self.keys.split_whitespace()),
            channels: channel_patterns(self.channels.split_whitespace()),
            commands: catalog.allowed(&commands)?,
            selectors: self
                .selectors
                .iter()
                .map(|s| s.permissions(catalog))
                .collect::<Result<_, _>>()?,
            databases: crate::acl::database_restriction(self.databases.as_deref()),
            flags: crate::acl::unmanaged_flags(&self.flags),
            other: known_values(&self.other_fields),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum LiveKey {
    /// The key exists with another type (`string`, `hash`, ...).
    WrongType(String),
    /// Boxed: the map's entries then take a pointer's room, not a stream's.
    Stream(Box<LiveStream>),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveStream {
    /// The node that answered for this stream (an index into [`LiveState::nodes`]): the
    /// owner of its slot, whose clock and configuration bound its retention.
    pub node: usize,
    pub length: u64,
    /// `last-generated-id` and `entries-added` from XINFO STREAM, read only for streams that
    /// get a group with an explicit start or `entries_read` (Redis does not check those
    /// against the stream, so the planner does).
    pub last_generated_id: Option<StreamId>,
    pub entries_added: Option<u64>,
    /// For streams with `max_age`: how many entries are older than the bound, counted up to
    /// `node_max_entries + 1` (enough to decide whether a trim is due).
    pub older_than_max_age: Option<u64>,
    /// Groups by name.
    /// Names inline up to 24 bytes (`CompactString`): 100,000 streams hold 200,000 of them.
    pub groups: SmallMap<CompactString, LiveGroup>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveGroup {
    pub consumers: u64,
    pub pending: u64,
    pub last_delivered_id: StreamId,
}

/// A stream entry ID, `<ms>-<seq>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn parse(text: &str) -> Option<StreamId> {
        let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

/// Written as `<ms>-<seq>` in saved plans, as Redis writes it.
impl serde::Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for StreamId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        StreamId::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{}` is not a stream ID",
                crate::text::untrusted(&text)
            ))
        })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}
