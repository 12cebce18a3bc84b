//! The connection layer: which Redis to talk to, where each command goes, and talking to
//! it in pipelined batches.
//!
//! Everything that reaches a server goes through [`Target`], and nothing of the Redis
//! client leaves this module: the rest of the code builds [`Command`]s, reads replies as
//! [`crate::resp::Reply`], and gets each write's outcome as [`OpReply`], tagged with the
//! [`NodeId`] of the node that answered.
//!
//! **Routing.** Each write says where it must run ([`Route`]): the node that owns its key's
//! slot, every primary, every node, or named nodes. The target maps a route to its nodes:
//! a standalone primary and its replicas, or every node of a Redis Cluster, found from any
//! node's URL (or through sentinels) by [`discover`]; writes are sent by [`write`], and on a
//! cluster follow a slot that moved ([`redirect`]).
//!
//! Two connections per node: the Redis client's carries every write, in order (the apply,
//! the lock, the record); every read goes over the bounded reader's ([`reader`]), whose
//! replies [`crate::resp`] parses strictly and within limits ([`Target::read_each`],
//! [`Target::read_with`]).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Value};

use crate::resp::{OwnedReply, ProtocolError, Reply, server_words};
use discover::{
    Layout, NodeSpec, RoleReply, cluster_enabled, parse_role, parse_shards, shards_forming,
};
use reader::{Endpoint, ReadFailure, Reader};

pub mod command;
pub mod discover;
mod failover;
pub mod fenced;
pub mod keyed;
pub mod lock;
pub mod reader;
mod redirect;
pub mod scan;
pub mod sentinel;
pub mod slot;
pub mod url;
mod values;
mod write;

pub use command::{Arg, Command};
pub use discover::{Deployment, Role};
pub use fenced::{BatchOutcome, Identity, TransactionOutcome};
pub use lock::{Lock, LockError};
pub use sentinel::{SentinelAddress, SentinelError, Sentinels};
pub use url::{DEFAULT_URL, RedactedUrl, RedisUrl, resolve_url};

/// Commands per pipelined round trip. Large enough that round trips do not grow with the
/// number of streams in practice, small enough to keep replies (and server latency spikes)
/// bounded.
pub const BATCH_SIZE: usize = 1000;

/// How many batches may be in flight at once (see [`Target::write_batches`]).
pub const WINDOW: usize = 4;

/// How to connect: timeouts, and for `rediss://` an optional CA certificate (PEM) to trust
/// instead of the public web roots (for servers with a private CA).
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Opening each connection: TCP, TLS's handshake, and for the client its `AUTH` and
    /// `SELECT`.
    pub connect: Duration,
    /// Replies: each batch of reads must be answered whole within this time of the batch
    /// before (see [`reader`]); each pipelined batch of writes within this time of
    /// being sent (the client's timeout).
    pub response: Duration,
    pub tls_ca_cert: Option<std::path::PathBuf>,
}

/// The response timeout when `REDIS_TOPOLOGY_RESPONSE_TIMEOUT_MS` does not set another (a
/// knob for tests of slow servers, which must not wait 30 s).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ConnectOptions {
    fn default() -> Self {
        let response = std::env::var("REDIS_TOPOLOGY_RESPONSE_TIMEOUT_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .filter(|ms| (100..=3_600_000).contains(ms))
            .map_or(RESPONSE_TIMEOUT, Duration::from_millis);
        ConnectOptions {
            connect: Duration::from_secs(5),
            response,
            tls_ca_cert: None,
        }
    }
}

/// A failure talking to the server. Each prints as one line with no secret in it: URLs are
/// [`RedactedUrl`]s, the server's words and the client's are escaped and cut, and the
/// client's error is scrubbed of every form of the URL's password ([`ClientError`]).
#[derive(Clone, Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL cannot be parsed.
    #[error(transparent)]
    Url(#[from] url::UrlError),
    /// The URL parses but cannot be used: the client refuses its settings (a CA
    /// certificate that cannot be read, ...).
    #[error("cannot use the Redis URL {url}: {source}")]
    ClientConfig {
        url: RedactedUrl,
        source: ClientError,
    },
    /// The URL parses but the bounded reader cannot use it (its address kind, its TLS
    /// settings).
    #[error("cannot use the Redis URL {url}: {reason}")]
    Endpoint { url: RedactedUrl, reason: String },
    /// The client's connection could not be opened (refused, timed out, TLS, AUTH).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: RedactedUrl,
        source: ClientError,
    },
    /// The server wants credentials and the URL has none (`NOAUTH` to `PING`).
    #[error(
        "{url} requires authentication: give the user and password in the URL (redis://user:password@host:port) or in $REDIS_URL"
    )]
    AuthRequired { url: RedactedUrl },
    /// `PING` answered with an error other than `NOAUTH`.
    #[error("{url} refused PING: {error}")]
    PingRefused {
        url: RedactedUrl,
        error: ServerError,
    },
    /// The client failed on an open connection (a write's pipeline, a lost connection).
    #[error("{url}: {source}")]
    Client {
        url: RedactedUrl,
        source: ClientError,
    },
    /// The bounded reader's connection failed (connecting, sending, a timeout, a close).
    #[error("{url}: {reason}")]
    Reader { url: RedactedUrl, reason: String },
    /// A reply the client decoded into something that is not a reply (or none at all).
    #[error("{url}: {reason}")]
    Reply { url: RedactedUrl, reason: String },
    /// A reply that is not the Redis protocol.
    #[error(
        "{url}: the reply to `{command}` is {source}: what answered is not a Redis server (it does not speak the Redis protocol); check the host and port, and `rediss://` for a server that speaks only TLS"
    )]
    Protocol {
        url: RedactedUrl,
        command: String,
        source: ProtocolError,
    },
    /// A reply larger than a reply may be, refused from the size it announced.
    #[error("{url}: refusing the reply to `{command}`: {why}")]
    OverLimit {
        url: RedactedUrl,
        command: String,
        why: String,
    },
    /// A command the server answered with an error; its code is data
    /// (`error.code`: `NOPERM`, `WRONGTYPE`, ...), `hint` what to do about it.
    #[error("{url}: {command} failed: {error}{hint}")]
    Refused {
        url: RedactedUrl,
        command: String,
        error: ServerError,
        hint: std::borrow::Cow<'static, str>,
    },
    /// A reply of another shape than the command's.
    #[error("{url}: {command} gave {got}, not {expected}; is this a Redis server (7.0 or later)?")]
    Unexpected {
        url: RedactedUrl,
        command: String,
        got: String,
        expected: String,
    },
    /// The tool's record is there but cannot be used (`key` escaped to print).
    #[error("the record `{key}` cannot be used: {source}")]
    UnusableRecord {
        key: String,
        source: std::sync::Arc<crate::record::RecordError>,
    },
    /// A reply with the command's shape, whose content is not what Redis sends (`why`,
    /// escaped).
    #[error("{url}: in the reply to {command}, {why}; is this a Redis server (7.0 or later)?")]
    Malformed {
        url: RedactedUrl,
        command: String,
        why: String,
    },
    /// A read that ended without the replies it was waiting for (`what`: the command).
    #[error("{url}: the read ended without the reply to {what}")]
    NoReplies {
        url: RedactedUrl,
        what: &'static str,
    },
    /// A node the target does not have (a caller's mistake, never a server's).
    #[error("{url}: no node {node}")]
    NoNode { url: RedactedUrl, node: usize },
    /// A key whose slot no node serves (a cluster that lost a shard, or a slot map that
    /// changed under the read).
    #[error("{url}: no node serves the slot of `{key}`; is the cluster healthy (CLUSTER INFO)?")]
    Unserved { url: RedactedUrl, key: String },
    /// A key whose read or write was redirected too many times (a slot that keeps moving).
    #[error(
        "{url}: `{key}` was redirected {times} times (MOVED/ASK/TRYAGAIN): is the cluster resharding? Run the command again once it is done"
    )]
    Redirected {
        url: RedactedUrl,
        key: String,
        times: usize,
    },
    /// A key that changed type between two reads (`key` escaped).
    #[error("{url}: `{key}` became a stream while it was read: run the command again")]
    Changed { url: RedactedUrl, key: String },
    /// A record larger than any this tool writes (`key` escaped).
    #[error(
        "{url}: the record `{key}` is larger than {limit}, refusing to read it ({why}); a record of 100,000 streams takes about 10 MB, so this one was not written by redis-topology: look at it (redis-cli STRLEN) and delete it if nobody needs it"
    )]
    RecordTooLarge {
        url: RedactedUrl,
        key: String,
        limit: String,
        why: String,
    },
    /// The record under both its names (see [`crate::record`]).
    #[error("{url}: {records}")]
    RecordUnderTwoNames {
        url: RedactedUrl,
        records: Box<TwoRecords>,
    },
    /// The apply lock (see [`lock`]).
    #[error(transparent)]
    Lock(Box<LockError>),
    /// A fenced batch's replies that do not add up (see [`fenced::FenceError`]).
    #[error("{source}")]
    Fence {
        url: RedactedUrl,
        source: fenced::FenceError,
    },
    /// The primary could not be found through the sentinels (see [`sentinel`]).
    #[error(transparent)]
    Sentinel(Box<SentinelError>),
    /// A node's role changed since the target connected: a failover (see
    /// [`Target::confirm_primaries`]). `now` says what it was and says now.
    #[error(
        "a failover happened: {node}, {now}. Nothing more is written, so that no write goes to a primary that was replaced (it would be lost when it rejoins as a replica); run the command again{}",
        if *.sentinel { ": it asks the sentinels for the new primary" } else { " with the new primary's URL (a replica's URL leads to its primary)" }
    )]
    FailedOver {
        node: String,
        now: String,
        sentinel: bool,
    },
}

/// A namespace's record found under both its names: which is which (versions escaped).
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "namespace `{namespace}` has a record under two names, `{current_key}` (serial {current_serial}, written by redis-topology {current_version}) and its old name `{old_key}` (serial {old_serial}, written by redis-topology {old_version}): an apply of a version from before the record was moved ran after this one moved it, or one was copied. Nothing was changed. Make every apply of this namespace use this version, then delete the record that is out of date (`DEL <key>`; a deleted record lists nothing, so the next apply adopts the declared streams and users again and keeps, never prunes, what it no longer lists)"
)]
pub struct TwoRecords {
    pub namespace: String,
    pub current_key: String,
    pub current_serial: u64,
    pub current_version: String,
    pub old_key: String,
    pub old_serial: u64,
    pub old_version: String,
}

impl From<LockError> for TargetError {
    fn from(error: LockError) -> TargetError {
        TargetError::Lock(Box::new(error))
    }
}

impl TargetError {
    /// The server's error code when the server refused a command (`NOPERM`, ...).
    pub fn server_code(&self) -> Option<&str> {
        match self {
            TargetError::Refused { error, .. } | TargetError::PingRefused { error, .. } => {
                Some(&error.code)
            }
            _ => None,
        }
    }
}

/// The Redis client's error, which never leaves this module as itself: it prints as one
/// line scrubbed of every form of the URL's password (some of the client's errors echo
/// what they were given), and is not handed out as a [`std::error::Error::source`] for the
/// same reason; what callers may ask of it is asked here ([`ClientError::is_timeout`]).
#[derive(Clone)]
pub struct ClientError {
    text: String,
    error: RedisError,
}

impl ClientError {
    fn new(error: RedisError, url: &RedisUrl) -> ClientError {
        ClientError {
            text: describe_error(&error, url),
            error,
        }
    }

    /// Whether the client gave up waiting (connecting or for a reply).
    pub fn is_timeout(&self) -> bool {
        self.error.is_timeout()
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Debug shows the scrubbed text only: a `{:?}` must not print the password either.
impl std::fmt::Debug for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientError")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for ClientError {}

/// Where a write must run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// On the node that owns this key's slot (in a cluster; the one node otherwise).
    Key(&'a str),
    /// On every primary (e.g. a `SCAN`-based read).
    EveryPrimary,
    /// On every node, primaries and replicas: ACL users live on each node, unreplicated.
    EveryNode,
    /// On this node (discovery; per-node reads).
    Node(NodeId),
    /// On the nodes at these addresses (`host:port`): ACL users that differ on some nodes.
    Addresses(&'a [String]),
}

/// One node of the target, by its position in [`Target::nodes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

/// A server error: its code (`NOPERM`, `WRONGTYPE`, `BUSYGROUP`, ...), kept as data, and
/// its words as one line, escaped and cut (safe to print).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    pub code: String,
    pub words: String,
}

impl ServerError {
    pub fn new(code: &str, details: &str) -> ServerError {
        ServerError {
            code: code.to_owned(),
            words: server_words(code, details),
        }
    }

    /// The error of an error reply, if it is one.
    pub fn of(reply: &Reply<'_>) -> Option<ServerError> {
        match reply {
            Reply::Error { code, details } => Some(ServerError::new(code, details)),
            _ => None,
        }
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.words)
    }
}

/// What one write got back: done, or the server's error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpReply {
    Done,
    Failed(ServerError),
}

impl OpReply {
    fn of(reply: &Reply<'_>) -> OpReply {
        ServerError::of(reply).map_or(OpReply::Done, OpReply::Failed)
    }
}

/// One write of a batch: the command, where it runs, and how its fence treats it.
#[derive(Clone)]
pub struct Write<'a> {
    pub command: Command,
    pub route: Route<'a>,
    /// The server error code that means the write was done already (`BUSYGROUP` for a
    /// group that exists).
    pub already_done: Option<&'static str>,
    /// Skipped when its key does not exist (inside the fenced script).
    pub needs_key: bool,
}

/// The apply lock a fenced batch checks on the server (see [`fenced`]).
#[derive(Clone, Copy, Debug)]
pub struct LockFence<'a> {
    pub key: &'a str,
    pub token: &'a str,
    pub lease: Duration,
    /// On a cluster, the lock's copy on each other primary (see [`lock`]); empty otherwise.
    pub copies: &'a [(NodeId, String)],
}

impl LockFence<'_> {
    fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)
    }
}

/// How a batch of writes runs under the lock (see [`fenced`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// A guarded transaction: the lease renewed first, then each write; a write's error
    /// stops no other.
    Transaction,
    /// The batch script: the lock compared and the lease renewed, then the writes in order,
    /// stopping at the first that fails.
    Script,
}

/// What one node's share of a fenced batch did: the node, the positions in the batch of
/// the writes it ran, and its outcome (its results in the order of `writes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub node: NodeId,
    pub writes: Vec<usize>,
    pub outcome: WriteOutcome,
    /// Whether this share renewed the lease (it ran on the lock's node).
    pub renewed: bool,
}

/// How many times `CLUSTER SHARDS` is read while it shows a shard still forming (100 ms
/// apart).
const SHARDS_ATTEMPTS: usize = 20;

/// How long a replica's copy of the lock may take to show this apply's token (the
/// replication delay, normally milliseconds).
pub const REPLICA_LOCK_WAIT: Duration = Duration::from_secs(2);

/// How many times a replica's transaction is tried while its copy of the lock still holds
/// this apply's token (a renewal aborts it; see `Target::replica_transaction`).
const REPLICA_ATTEMPTS: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The replies of a guarded transaction: the lease's renewal first, then each write's.
    Transaction(TransactionOutcome),
    Script(BatchOutcome),
}

/// One node of the target: a standalone primary, one of its replicas, or a cluster node.
struct Node {
    /// `host:port`, or the socket's path.
    address: String,
    /// Its URL: the target's credentials, database and TLS at its address.
    url: RedisUrl,
    role: Role,
    /// Every write, and reads that must follow them, go on this connection, in order.
    connection: MultiplexedConnection,
    /// Where and how to open the bounded reader again after a read that failed.
    endpoint: Endpoint,
    /// The bounded reader, for every read (see [`reader`]); `None` after a read that
    /// failed, until the next read opens it again.
    reader: Option<Reader>,
    /// The write connection's `CLIENT ID` once asked (see [`Target::client_ids`]): `Some(None)`
    /// when the server refused it.
    client_id: Option<Option<i64>>,
}

/// The servers the tool manages: a standalone primary and its replicas, or every node of a
/// cluster (see [`discover`]).
pub struct Target {
    /// The URL the tool was given, parsed; it Displays redacted.
    url: RedisUrl,
    options: ConnectOptions,
    deployment: Deployment,
    /// Every node, [`NodeId`] being the position: primaries first, then replicas.
    nodes: Vec<Node>,
    /// In a cluster, the node serving each slot (`slots[slot]`); empty otherwise.
    slots: slot::SlotMap,
    /// What discovery could not do, for the command to print as warnings (e.g. `ROLE`
    /// refused: replicas not listed).
    warnings: Vec<String>,
    /// What keeps writes off a demoted primary (see [`failover`]).
    guard: failover::PrimaryGuard,
}

/// Why a read failed, telling apart a reply over a limit of [`crate::resp`] (refused from
/// the size it announced), so that a caller can say what that reply was (the record, a
/// message sample).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ReadError {
    /// The reply to the command at `index` of batch `batch` is larger than a reply may be:
    /// `why` says what it announced and the limit; `message` is the whole line.
    #[error("{message}")]
    OverLimit {
        batch: usize,
        index: usize,
        /// In a read by key ([`Target::read_keys`]), the key the reply was for.
        key: Option<String>,
        why: String,
        message: TargetError,
    },
    /// Anything else: the connection, a timeout, a malformed reply, or the consumer's error.
    #[error(transparent)]
    Failed(TargetError),
}

impl From<ReadError> for TargetError {
    fn from(error: ReadError) -> TargetError {
        match error {
            ReadError::OverLimit { message, .. } | ReadError::Failed(message) => message,
        }
    }
}

impl Target {
    /// Parse `url` and connect to it (see [`Target::connect_to`]).
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Target, TargetError> {
        let url = RedisUrl::parse(url)?;
        Target::connect_to(&url, options).await
    }

    /// Connect to the node `url` names, check that it answers (and that the credentials
    /// work), find the deployment's other nodes ([`discover`]) and connect to each of them:
    /// a node that cannot be reached is an error naming it, before anything is read or
    /// written.
    pub async fn connect_to(
        url: &RedisUrl,
        options: ConnectOptions,
    ) -> Result<Target, TargetError> {
        // rustls picks no cryptography by itself; an error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let seed = open_node(url.clone(), address_of(url), Role::Primary, &options).await?;
        let mut target = Target {
            url: url.clone(),
            options,
            deployment: Deployment::Standalone,
            nodes: vec![seed],
            slots: slot::SlotMap::default(),
            warnings: Vec::new(),
            guard: failover::PrimaryGuard::default(),
        };
        // The greeting and the first read of the deployment go out together, on the node's two
        // connections: one round trip instead of two. The greeting's error first: it says
        // best what is wrong (credentials); but where the client only saw its connection
        // drop, the reader's, which reads what came back as it is (not a Redis server).
        let greeting = target.greeting(NodeId(0))?;
        let (greeted, deployment) = tokio::join!(greeting, target.read_deployment(NodeId(0)));
        match (greeted, deployment) {
            (Err(TargetError::Client { .. }), Err(read)) => return Err(read),
            (Err(greeting), _) => return Err(greeting),
            (Ok(()), deployment) => target.discover(deployment?).await?,
        }
        Ok(target)
    }

    /// Read the cluster's slot map again (after a `MOVED`): from the first primary that
    /// answers. A node the target does not know is an error: nodes joined or changed
    /// addresses while the tool ran, and a run must see every node from its start.
    pub(crate) async fn refresh_slots(&mut self) -> Result<(), ReadError> {
        let layout = self.read_shards().await.map_err(ReadError::Failed)?;
        // Roles too: a failover made a replica the primary of its shard.
        let ids: Vec<Option<NodeId>> = layout
            .nodes
            .iter()
            .map(|spec| self.nodes().find(|n| self.address(*n) == spec.address()))
            .collect();
        for (spec, id) in layout.nodes.iter().zip(&ids) {
            let role = match spec.role {
                Role::Primary => Some(Role::Primary),
                Role::Replica { of } => ids
                    .get(of)
                    .copied()
                    .flatten()
                    .map(|primary| Role::Replica { of: primary.0 }),
            };
            if let (Some(id), Some(role)) = (id, role)
                && let Some(node) = self.nodes.get_mut(id.0)
            {
                node.role = role;
            }
        }
        let mut table = Vec::with_capacity(layout.slots.len());
        for (first, last, index) in layout.slots {
            let address = layout
                .nodes
                .get(index)
                .map(NodeSpec::address)
                .unwrap_or_default();
            let node = self.nodes().find(|n| self.address(*n) == address).ok_or_else(|| {
                ReadError::Failed(TargetError::Endpoint {
                    url: self.describe().clone(),
                    reason: format!(
                        "the cluster's slots moved to {}, a node it did not list when the tool connected: run the command again",
                        crate::text::untrusted(&address)
                    ),
                })
            })?;
            table.push((first, last, node.0));
        }
        self.slots = slot::SlotMap::of_ranges(&table);
        Ok(())
    }

    /// From what the first node says the deployment is ([`Target::read_deployment`]), connect
    /// to its other nodes.
    async fn discover(
        &mut self,
        (cluster, role): (bool, Result<RoleReply, String>),
    ) -> Result<(), TargetError> {
        let layout = if cluster {
            self.read_shards().await?
        } else {
            match role {
                Ok(RoleReply::Primary { replicas }) => self.standalone_layout(replicas),
                Ok(RoleReply::Replica { primary }) => self.move_to_primary(primary).await?,
                Err(warning) => {
                    self.warnings.push(warning);
                    return Ok(());
                }
            }
        };
        self.adopt(layout).await
    }

    /// `CONFIG GET cluster-enabled` and `ROLE` on a node: whether it is a cluster node, and
    /// what `ROLE` says (`Err`: a warning, when the user may not run it).
    async fn read_deployment(
        &mut self,
        node: NodeId,
    ) -> Result<(bool, Result<RoleReply, String>), TargetError> {
        let commands = vec![
            Command::new("CONFIG").arg("GET").arg("cluster-enabled"),
            Command::new("ROLE"),
        ];
        let url = self.node_url(node);
        let (cluster, role) = self
            .read_with(Route::Node(node), commands, |replies| {
                let reply = |i: usize| replies.get(i).unwrap_or(&Reply::Nil);
                let role = match reply(1) {
                    Reply::Error { code: "NOPERM", .. } => Err(format!(
                        "the user may not run ROLE on {url}, so its replicas are not listed and their ACL users are not managed: add `+role` to the tool's user (docs/operations.md)"
                    )),
                    // Renamed or disabled, as some managed services do.
                    Reply::Error { code, details } => Err(format!(
                        "ROLE failed on {url} ({}), so its replicas are not listed and their ACL users are not managed",
                        ServerError::new(code, details)
                    )),
                    other => Ok(parse_role(other).map_err(|why| TargetError::Malformed {
                        url: url.clone(),
                        command: "`ROLE`".to_owned(),
                        why,
                    })?),
                };
                Ok((cluster_enabled(reply(0)), role))
            })
            .await?;
        let cluster = match cluster {
            Some(cluster) => cluster,
            // CONFIG not allowed or not offered: CLUSTER SHARDS tells.
            None => self.probe_cluster(node).await?,
        };
        Ok((cluster, role))
    }

    /// Whether a node whose `CONFIG GET` said nothing is a cluster node: `CLUSTER SHARDS`
    /// answers with an array on one, an `ERR` elsewhere.
    async fn probe_cluster(&mut self, node: NodeId) -> Result<bool, TargetError> {
        let url = self.node_url(node);
        let shards = Command::new("CLUSTER").arg("SHARDS");
        self.read_with(Route::Node(node), vec![shards], |replies| {
            match replies.first().unwrap_or(&Reply::Nil) {
                Reply::Array(_) => Ok(true),
                Reply::Error { code: "ERR", .. } => Ok(false),
                Reply::Error { code, details } => Err(TargetError::Refused {
                    url: url.clone(),
                    command: "`CLUSTER SHARDS`".to_owned(),
                    error: ServerError::new(code, details),
                    hint: " (the tool cannot tell whether this is a cluster: give its user `+config|get` or `+cluster|shards`, docs/operations.md)".into(),
                }),
                other => Err(TargetError::Unexpected {
                    url: url.clone(),
                    command: "`CLUSTER SHARDS`".to_owned(),
                    got: other.describe(),
                    expected: "an array of shards or an error".to_owned(),
                }),
            }
        })
        .await
        .map_err(TargetError::from)
    }

    /// The cluster's nodes and slots, from the first node's `CLUSTER SHARDS`.
    async fn read_shards(&mut self) -> Result<Layout, TargetError> {
        let url = self.node_url(NodeId(0));
        if self.url.db() != 0 {
            return Err(TargetError::Endpoint {
                url,
                reason: "a cluster has only database 0: remove the database from the URL"
                    .to_owned(),
            });
        }
        let tls = matches!(self.url.address(), url::Address::Tcp { tls: Some(_), .. });
        // A node that joined moments ago is listed in a shard of its own until gossip says
        // whose replica it is: such a view is read again, for up to 2 s.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let shards = Command::new("CLUSTER").arg("SHARDS");
            let read = self
                .read_with(Route::Node(NodeId(0)), vec![shards], |replies| {
                    let reply = replies.first().unwrap_or(&Reply::Nil);
                    if let Reply::Error { code, details } = reply {
                        return Err(TargetError::Refused {
                            url: url.clone(),
                            command: "`CLUSTER SHARDS`".to_owned(),
                            error: ServerError::new(code, details),
                            hint: " (the tool's user needs `+cluster|shards` on a cluster, docs/operations.md)".into(),
                        });
                    }
                    Ok((shards_forming(reply), parse_shards(reply, tls)))
                })
                .await
                .map_err(TargetError::from)?;
            match read {
                (true, _) if attempt < SHARDS_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (_, parsed) => {
                    return parsed.map_err(|why| TargetError::Malformed {
                        url: url.clone(),
                        command: "`CLUSTER SHARDS`".to_owned(),
                        why,
                    });
                }
            }
        }
    }

    /// A standalone primary (the first node) and its replicas.
    fn standalone_layout(&self, replicas: Vec<(String, u16)>) -> Layout {
        let mut nodes = vec![NodeSpec {
            host: String::new(),
            port: 0,
            role: Role::Primary,
            health: None,
        }];
        nodes.extend(replicas.into_iter().map(|(host, port)| NodeSpec {
            host,
            port,
            role: Role::Replica { of: 0 },
            health: None,
        }));
        // The seed keeps its own address (a socket's path, a host name): index 0 is it.
        Layout {
            deployment: Deployment::Standalone,
            nodes,
            slots: Vec::new(),
        }
    }

    /// The URL named a replica: connect to its primary instead, which must say it is one.
    async fn move_to_primary(
        &mut self,
        (host, port): (String, u16),
    ) -> Result<Layout, TargetError> {
        let url = self.url.at(&host, port);
        let primary = open_node(
            url.clone(),
            format!("{host}:{port}"),
            Role::Primary,
            &self.options,
        )
        .await?;
        self.nodes = vec![primary];
        self.greeting(NodeId(0))?.await?;
        match self.read_deployment(NodeId(0)).await? {
            (false, Ok(RoleReply::Primary { replicas })) => Ok(self.standalone_layout(replicas)),
            (false, Err(warning)) => {
                self.warnings.push(warning);
                Ok(self.standalone_layout(Vec::new()))
            }
            _ => Err(TargetError::Endpoint {
                url: url.redacted().clone(),
                reason: "the URL names a replica whose primary is not a primary either (a failover in progress?): run the command again, or give the primary's URL".to_owned(),
            }),
        }
    }

    /// Connect to every node of `layout` that is not connected yet (all at once), keeping the
    /// first node where the layout lists it (a standalone primary: always first).
    async fn adopt(&mut self, layout: Layout) -> Result<(), TargetError> {
        let mut seed = self.nodes.pop();
        let standalone = layout.deployment == Deployment::Standalone;
        let opening = layout.nodes.iter().enumerate().map(|(at, spec)| {
            let reuse = if standalone {
                at == 0
            } else {
                seed.as_ref().is_some_and(|s| s.address == spec.address())
            };
            let taken = if reuse { seed.take() } else { None };
            let url = self.url.at(&spec.host, spec.port);
            let options = &self.options;
            async move {
                match taken {
                    Some(mut node) => {
                        node.role = spec.role;
                        Ok(node)
                    }
                    None => open_node(url, spec.address(), spec.role, options).await,
                }
            }
        });
        let opened = futures_util::future::join_all(opening).await;
        self.nodes = opened.into_iter().collect::<Result<_, _>>()?;
        // Every other node greeted at once (the first was, when it was opened).
        let greetings = (1..self.nodes.len())
            .map(|node| self.greeting(NodeId(node)))
            .collect::<Result<Vec<_>, _>>()?;
        for greeted in futures_util::future::join_all(greetings).await {
            greeted?;
        }
        self.deployment = layout.deployment;
        if layout.deployment == Deployment::Cluster {
            self.slots = slot::SlotMap::of_ranges(&layout.slots);
        }
        Ok(())
    }

    /// The redacted URL, for messages.
    pub fn describe(&self) -> &RedactedUrl {
        self.url.redacted()
    }

    /// The server's URL, parsed (its host, port, database and user, e.g. to bind a saved
    /// plan to the server it was made for). Displays redacted.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Every node, by [`NodeId`]: primaries first, then replicas.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// A node's address (`host:port`), for messages and per-node state.
    pub fn address(&self, node: NodeId) -> &str {
        self.nodes.get(node.0).map_or("", |n| n.address.as_str())
    }

    /// The node at `address` (`host:port`), if the target has it.
    fn node_at(&self, address: &str) -> Option<NodeId> {
        self.nodes().find(|n| self.address(*n) == address)
    }

    /// A node's part in the deployment.
    pub fn role(&self, node: NodeId) -> Option<Role> {
        self.nodes.get(node.0).map(|n| n.role)
    }

    /// What kind of deployment this is.
    pub fn deployment(&self) -> Deployment {
        self.deployment
    }

    /// What discovery could not do (each one line, for the command to print as a warning).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The nodes a route names: a key's slot owner (a standalone target's primary), every
    /// primary, every node, or one node. A slot no node serves (a cluster that lost a
    /// shard) names none.
    pub fn route(&self, route: Route<'_>) -> Vec<NodeId> {
        match route {
            Route::Key(key) => self.key_owner(key).into_iter().collect(),
            Route::EveryPrimary => self
                .nodes()
                .filter(|n| self.role(*n) == Some(Role::Primary))
                .collect(),
            Route::EveryNode => self.nodes().collect(),
            Route::Node(node) => vec![node],
            // An address the target does not have names no node: the applier refuses a
            // plan whose operation routes nowhere.
            Route::Addresses(addresses) => self
                .nodes()
                .filter(|n| addresses.iter().any(|a| a == self.address(*n)))
                .collect(),
        }
    }

    /// How many nodes a route names, without building their list for a key's (the applier
    /// asks for each of tens of thousands of operations).
    pub fn route_len(&self, route: Route<'_>) -> usize {
        match route {
            // Every key has an owner when every slot has one: no need to hash it.
            Route::Key(_) if self.slots.serves_every_slot() => 1,
            Route::Key(key) => usize::from(self.key_owner(key).is_some()),
            other => self.route(other).len(),
        }
    }

    /// The key, in a slot `node` serves, of the apply lock's copy there:
    /// `{<tag>:copy<n>}:lock` for the lock `{<tag>}:lock`, the first `n` whose slot `node`
    /// serves (`None`: it serves none of the first 100,000).
    pub fn lock_copy_key(&self, lock_key: &str, node: NodeId) -> Option<String> {
        let tag = lock_key
            .strip_prefix('{')
            .and_then(|rest| rest.split_once('}'))
            .map_or(lock_key, |(tag, _)| tag);
        (0..100_000)
            .map(|n| format!("{{{tag}:copy{n}}}:lock"))
            .find(|copy| self.key_owner(copy) == Some(node))
    }

    /// The primary that serves `key`: its slot's owner in a cluster, the primary otherwise.
    fn key_owner(&self, key: &str) -> Option<NodeId> {
        self.slots.key_owner_or(key.as_bytes(), NodeId(0))
    }

    /// The node a route names first (a key's owner).
    fn node_of(&self, route: Route<'_>) -> NodeId {
        self.route(route).first().copied().unwrap_or_default()
    }

    fn node(&self, id: NodeId) -> Result<&Node, TargetError> {
        self.nodes.get(id.0).ok_or_else(|| TargetError::NoNode {
            url: self.describe().clone(),
            node: id.0,
        })
    }

    /// A node's redacted URL, for messages.
    fn node_url(&self, node: NodeId) -> RedactedUrl {
        self.nodes
            .get(node.0)
            .map_or_else(|| self.describe().clone(), |n| n.url.redacted().clone())
    }

    fn reply_error(&self, reason: String) -> TargetError {
        TargetError::Reply {
            url: self.describe().clone(),
            reason,
        }
    }

    /// `PING` on a node's write connection: the credentials work there. A future of its own
    /// (it borrows nothing), to run beside a read.
    fn greeting(
        &self,
        node: NodeId,
    ) -> Result<impl Future<Output = Result<(), TargetError>> + use<>, TargetError> {
        let (sent, url) = (
            self.sent(node, vec![Command::new("PING")])?,
            self.node_url(node),
        );
        Ok(async move {
            let replies = sent.await?;
            match replies.first().map_or(Reply::Nil, OwnedReply::reply) {
                Reply::Error { code: "NOAUTH", .. } => Err(TargetError::AuthRequired { url }),
                Reply::Error { code, details } => Err(TargetError::PingRefused {
                    url,
                    error: ServerError::new(code, details),
                }),
                _ => Ok(()),
            }
        })
    }

    /// The `CLIENT ID` of every primary's write connection, asked at once (the apply lock
    /// records its holder's, so that another apply can tell when the holder is gone): apply
    /// asks while it reads and plans, to keep the round trip off the lock's way; keep the
    /// answers with [`Target::keep_client_ids`]. Only apply asks: a user that may not run
    /// `CLIENT ID` (the plan user) would leave an entry in the server's ACL log each time.
    pub fn client_ids(&self) -> impl Future<Output = Vec<(NodeId, Option<i64>)>> + Send + use<> {
        let asked: Vec<_> = self
            .route(Route::EveryPrimary)
            .into_iter()
            .filter_map(|node| {
                let sent = self.sent(node, vec![Command::new("CLIENT").arg("ID")]);
                Some((node, sent.ok()?))
            })
            .collect();
        async move {
            let ids = asked.into_iter().map(|(node, sent)| async move {
                let id = match sent.await.as_deref().map(<[OwnedReply]>::first) {
                    Ok(Some(reply)) => match reply.reply() {
                        Reply::Int(id) => Some(id),
                        _ => None,
                    },
                    _ => None,
                };
                (node, id)
            });
            futures_util::future::join_all(ids).await
        }
    }

    /// Keep what [`Target::client_ids`] found.
    pub fn keep_client_ids(&mut self, ids: Vec<(NodeId, Option<i64>)>) {
        for (node, id) in ids {
            if let Some(node) = self.nodes.get_mut(node.0) {
                node.client_id = Some(id);
            }
        }
    }

    /// The `CLIENT ID` of the write connection to the node `route` names, if it was asked
    /// ([`Target::client_ids`]): `Some(None)` when the server refused it.
    pub(crate) fn known_client_id(&self, route: Route<'_>) -> Option<Option<i64>> {
        self.node(self.node_of(route)).ok()?.client_id
    }

    /// One command on the write connection of the node `route` names, and its reply (a
    /// command's own error is its reply, not a failure). For the lock ([`lock`]) only.
    async fn call(&self, route: Route<'_>, command: Command) -> Result<OwnedReply, TargetError> {
        self.call_on(self.node_of(route), command).await
    }

    async fn call_on(&self, node: NodeId, command: Command) -> Result<OwnedReply, TargetError> {
        let mut line = self.line_to(node)?;
        line.call(command).await.map_err(|e| match e {
            LineError::Client(source) => TargetError::Client {
                url: self.describe().clone(),
                source,
            },
            LineError::Reply(reason) => self.reply_error(reason),
        })
    }

    /// A handle on the write connection of the node `route` names, for background work
    /// that must go where the writes go (renewing the apply lock); never handed out.
    fn line(&self, route: Route<'_>) -> Result<Line, TargetError> {
        self.line_to(self.node_of(route))
    }

    fn line_to(&self, node: NodeId) -> Result<Line, TargetError> {
        Ok(Line {
            connection: self.node(node)?.connection.clone(),
            url: self.url.clone(),
        })
    }

    /// Before apply's first write: whether this user and server can fence writes with the
    /// lock (see [`fenced::probe_batch`]); `Some(why)` when they cannot. A future of its own
    /// (it borrows nothing), to run beside a read.
    pub fn fence_problem(
        &self,
        lock: LockFence<'_>,
    ) -> impl Future<Output = Result<Option<fenced::FenceProblem>, TargetError>> + use<> {
        // On every primary at once, with the lock or its copy there: the fence's guard
        // writes, which a replica refuses.
        let lock_node = self.node_of(Route::Key(lock.key));
        let probes = self
            .route(Route::EveryPrimary)
            .into_iter()
            .filter_map(|node| {
                // A primary without a copy (none placed yet) has nothing to probe.
                let key = self.lock_seen_by(node, lock, lock_node).ok()?.key;
                Some(self.sent(node, fenced::probe_batch(key, lock.token)))
            })
            .collect::<Result<Vec<_>, _>>();
        async move {
            for replies in futures_util::future::join_all(probes?).await {
                let replies = replies?;
                let replies: Vec<Reply<'_>> = replies.iter().map(OwnedReply::reply).collect();
                if let Some(problem) = fenced::probe_outcome(&replies).err() {
                    return Ok(Some(problem));
                }
            }
            Ok(None)
        }
    }

    /// Commands as one pipeline on a node's write connection; one reply per command.
    async fn pipeline(
        &self,
        node: NodeId,
        commands: Vec<Command>,
    ) -> Result<Vec<OwnedReply>, TargetError> {
        self.sent(node, commands)?.await
    }

    /// [`Target::pipeline`] as a future that borrows nothing.
    fn sent(
        &self,
        node: NodeId,
        commands: Vec<Command>,
    ) -> Result<impl Future<Output = Result<Vec<OwnedReply>, TargetError>> + use<>, TargetError>
    {
        let mut connection = self.node(node)?.connection.clone();
        let url = self.url.clone();
        let mut pipe = redis::pipe();
        for command in commands {
            pipe.add_command(command.to_client());
        }
        pipe.ignore_errors();
        Ok(async move {
            let values = pipe
                .query_async::<Vec<Value>>(&mut connection)
                .await
                .map_err(|e| TargetError::Client {
                    url: url.redacted().clone(),
                    source: ClientError::new(e, &url),
                })?;
            values
                .iter()
                .map(|v| {
                    values::owned(v).map_err(|reason| TargetError::Reply {
                        url: url.redacted().clone(),
                        reason,
                    })
                })
                .collect()
        })
    }

    /// Read-only commands in batches through the bounded reader (see [`reader`]):
    /// each batch's replies handed to `each` as they arrive, in order, borrowing from the
    /// bytes received. A reply that is not RESP2 or is over a limit, a batch not answered
    /// within the response timeout, or an error of `each` stops the read; the reader's
    /// connection is then dropped, so that replies still on their way are never taken by
    /// a later read for its own.
    pub async fn read_each(
        &mut self,
        batches: Vec<Vec<Command>>,
        each: impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
    ) -> Result<(), TargetError> {
        self.read_replies(batches, each)
            .await
            .map_err(TargetError::from)
    }

    /// One batch of read-only commands through the bounded reader of the node `route`
    /// names, its replies handed to `parse`; a reply over a limit is told apart
    /// ([`ReadError::OverLimit`]).
    pub async fn read_with<T>(
        &mut self,
        route: Route<'_>,
        commands: Vec<Command>,
        parse: impl FnOnce(&[Reply<'_>]) -> Result<T, TargetError>,
    ) -> Result<T, ReadError> {
        let mut parse = Some(parse);
        let mut parsed = None;
        let node = self.node_of(route);
        self.read_on(node, vec![commands], |replies| {
            if let Some(parse) = parse.take() {
                parsed = Some(parse(replies)?);
            }
            Ok(())
        })
        .await?;
        parsed.ok_or_else(|| {
            ReadError::Failed(TargetError::NoReplies {
                url: self.describe().clone(),
                what: "the batch",
            })
        })
    }

    /// Like [`Target::read_each`], telling a reply over a limit apart
    /// ([`ReadError::OverLimit`]: which batch, which command), for a caller that can say
    /// what that reply was. Reads go to the one node of a standalone server.
    pub async fn read_replies(
        &mut self,
        batches: Vec<Vec<Command>>,
        each: impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
    ) -> Result<(), ReadError> {
        self.read_on(NodeId::default(), batches, each).await
    }

    /// Like [`Target::read_replies`], on one node.
    pub async fn read_on(
        &mut self,
        node: NodeId,
        batches: Vec<Vec<Command>>,
        mut each: impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
    ) -> Result<(), ReadError> {
        let options = &self.options;
        let Some(node) = self.nodes.get_mut(node.0) else {
            return Err(ReadError::Failed(TargetError::NoNode {
                url: self.url.redacted().clone(),
                node: node.0,
            }));
        };
        read_node(node, options, batches, &mut |replies, _| each(replies)).await
    }

    /// Reads on several nodes at once, one job per node (no node twice): each job's batches
    /// through its node's bounded reader, each batch's replies handed to `each` with the
    /// job's index. The jobs run concurrently on this task, so `each` is called for one
    /// batch at a time; the first failure is returned once every job ended, with its job.
    pub(crate) async fn read_many(
        &mut self,
        jobs: Vec<(NodeId, Vec<Vec<Command>>)>,
        each: &mut EachJob<'_>,
    ) -> Result<(), (usize, ReadError)> {
        self.read_many_then(jobs, &mut |job, replies, _| each(job, replies))
            .await
    }

    /// [`Target::read_many`], where `each` may follow a batch up with more commands on the
    /// same node (see [`Reader::read_each_then`]).
    pub(crate) async fn read_many_then(
        &mut self,
        jobs: Vec<(NodeId, Vec<Vec<Command>>)>,
        each: &mut EachJobThen<'_>,
    ) -> Result<(), (usize, ReadError)> {
        // A mutex only to share `each` between the jobs' futures: they run on this one task,
        // so it is never contended.
        let each = std::sync::Mutex::new(each);
        let options = &self.options;
        let url = self.url.redacted().clone();
        let mut nodes: Vec<Option<&mut Node>> = self.nodes.iter_mut().map(Some).collect();
        let reads = jobs.into_iter().enumerate().map(|(job, (node, batches))| {
            let taken = nodes.get_mut(node.0).and_then(Option::take);
            let (each, url) = (&each, url.clone());
            let index = node.0;
            async move {
                let Some(node) = taken else {
                    let error = ReadError::Failed(TargetError::NoNode { url, node: index });
                    return Err((job, error));
                };
                let mut per_batch = |replies: &[Reply<'_>], then: &mut Vec<Vec<Command>>| {
                    let mut each = each
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    (*each)(job, replies, then)
                };
                read_node(node, options, batches, &mut per_batch)
                    .await
                    .map_err(|e| (job, e))
            }
        });
        let results = futures_util::future::join_all(reads).await;
        results.into_iter().collect()
    }
}

/// What [`Target::read_many`] hands each batch's replies to, with the job's index.
pub(crate) type EachJob<'f> = dyn FnMut(usize, &[Reply<'_>]) -> Result<(), TargetError> + Send + 'f;

/// What [`Target::read_many_then`] hands each batch's replies to, with the job's index and
/// where to leave the batches that follow it up.
pub(crate) type EachJobThen<'f> =
    dyn FnMut(usize, &[Reply<'_>], &mut Vec<Vec<Command>>) -> Result<(), TargetError> + Send + 'f;

/// One node's read through its bounded reader, opening it again after a read that failed.
async fn read_node(
    node: &mut Node,
    options: &ConnectOptions,
    batches: Vec<Vec<Command>>,
    each: &mut impl FnMut(&[Reply<'_>], &mut Vec<Vec<Command>>) -> Result<(), TargetError>,
) -> Result<(), ReadError> {
    let reader = match &mut node.reader {
        Some(reader) => reader,
        None => {
            let reader = Reader::open(&node.endpoint, options)
                .await
                .map_err(|reason| {
                    ReadError::Failed(TargetError::Reader {
                        url: node.url.redacted().clone(),
                        reason,
                    })
                })?;
            node.reader.insert(reader)
        }
    };
    let read = reader.read_each_then(batches, each, options.response).await;
    read.map_err(|failure| {
        // Replies may still be on their way: a later read opens a new connection.
        node.reader = None;
        read_error(&node.url, failure)
    })
}

/// A failed read as one line naming the server and the command whose reply failed.
fn read_error(url: &RedisUrl, failure: ReadFailure) -> ReadError {
    match failure {
        ReadFailure::Connection(reason) => ReadError::Failed(TargetError::Reader {
            url: url.redacted().clone(),
            reason,
        }),
        ReadFailure::Reply {
            batch,
            index,
            command,
            problem: ProtocolError::OverLimit(why),
        } => ReadError::OverLimit {
            batch,
            index,
            key: None,
            message: TargetError::OverLimit {
                url: url.redacted().clone(),
                command,
                why: why.clone(),
            },
            why,
        },
        ReadFailure::Reply {
            command, problem, ..
        } => ReadError::Failed(TargetError::Protocol {
            url: url.redacted().clone(),
            command,
            source: problem,
        }),
        ReadFailure::Stopped(e) => ReadError::Failed(e),
    }
}

/// Why a command on a [`Line`] got no reply.
#[derive(Clone, Debug, thiserror::Error)]
enum LineError {
    #[error(transparent)]
    Client(ClientError),
    /// A reply the client decoded into something that is not a reply (or none at all).
    #[error("{0}")]
    Reply(String),
}

/// A node's write connection, for work in the background (the apply lock's renewals): a
/// handle of the target's, not the connection itself.
#[derive(Clone)]
struct Line {
    connection: MultiplexedConnection,
    url: RedisUrl,
}

impl Line {
    /// One command, and its reply; `Err` prints as one line without secrets.
    async fn call(&mut self, command: Command) -> Result<OwnedReply, LineError> {
        let mut pipe = redis::pipe();
        pipe.add_command(command.to_client());
        pipe.ignore_errors();
        let values = pipe
            .query_async::<Vec<Value>>(&mut self.connection)
            .await
            .map_err(|e| LineError::Client(ClientError::new(e, &self.url)))?;
        match values.first() {
            Some(value) => values::owned(value).map_err(LineError::Reply),
            None => Err(LineError::Reply("the server sent no reply".to_owned())),
        }
    }
}

/// Open a node's two connections side by side: the client's, for writes, and the bounded
/// reader. A failure names the node.
async fn open_node(
    url: RedisUrl,
    address: String,
    role: Role,
    options: &ConnectOptions,
) -> Result<Node, TargetError> {
    let client = open_client(&url, options.tls_ca_cert.as_deref()).map_err(|e| {
        TargetError::ClientConfig {
            url: url.redacted().clone(),
            source: ClientError::new(e, &url),
        }
    })?;
    let endpoint = Endpoint::new(client.get_connection_info(), options.tls_ca_cert.as_deref())
        .map_err(|reason| TargetError::Endpoint {
            url: url.redacted().clone(),
            reason,
        })?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.connect))
        .set_response_timeout(Some(options.response));
    let (connection, reader) = tokio::join!(
        client.get_multiplexed_async_connection_with_config(&config),
        Reader::open(&endpoint, options)
    );
    // The client's error first: it says best what is wrong with the URL or credentials.
    let connection = connection.map_err(|e| TargetError::Connect {
        url: url.redacted().clone(),
        source: ClientError::new(e, &url),
    })?;
    let reader = reader.map_err(|reason| TargetError::Reader {
        url: url.redacted().clone(),
        reason,
    })?;
    Ok(Node {
        address,
        url,
        role,
        connection,
        endpoint,
        reader: Some(reader),
        client_id: None,
    })
}

/// `host:port` (an IPv6 host in brackets), or a socket's path.
fn address_of(url: &RedisUrl) -> String {
    match url.address() {
        url::Address::Tcp { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
        url::Address::Tcp { host, port, .. } => format!("{host}:{port}"),
        url::Address::Unix(path) => path.display().to_string(),
    }
}

fn open_client(url: &RedisUrl, ca_cert: Option<&std::path::Path>) -> redis::RedisResult<Client> {
    let info = url.connection_info()?;
    let Some(path) = ca_cert else {
        return Client::open(info);
    };
    let pem = std::fs::read(path).map_err(|e| {
        RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "cannot read the CA certificate",
            format!("{}: {e}", path.display()),
        ))
    })?;
    Client::build_with_tls(
        info,
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        },
    )
}

/// Longest client error shown, in characters.
const ERROR_CHARS: usize = 500;

/// A client error as one short line, with every form of the URL's password in it removed
/// (some errors echo what they were given) and control characters escaped (the server's
/// words are in some).
fn describe_error(error: &RedisError, url: &RedisUrl) -> String {
    match error.kind() {
        redis::ErrorKind::AuthenticationFailed => {
            return "authentication failed: check the user and password in the URL".to_owned();
        }
        // The client's words ("Incompatible type - Parse error at 1") say nothing useful.
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => {
            return "what answered is not a Redis server (its reply is not the Redis protocol): check the host and port, and `rediss://` for a server that speaks only TLS".to_owned();
        }
        _ => {}
    }
    let text = url.scrub(&error.to_string());
    let first_line = text.lines().next().unwrap_or_default();
    crate::text::untrusted_within(first_line, ERROR_CHARS).into_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{ConnectOptions, Target, TargetError};

    /// A connection error names the server, redacted: neither its text nor its `{:?}`
    /// shows the password (raw or percent-encoded), whichever step failed.
    #[tokio::test]
    async fn a_connection_error_never_shows_the_password() {
        let options = ConnectOptions {
            connect: std::time::Duration::from_millis(500),
            ..ConnectOptions::default()
        };
        // Port 1: nothing listens there, so connecting fails.
        let refused = Target::connect("redis://tool:Pa55%2Fsecret@127.0.0.1:1/0", options.clone());
        let unreadable_ca = Target::connect(
            "rediss://tool:Pa55%2Fsecret@127.0.0.1:1/0",
            ConnectOptions {
                tls_ca_cert: Some("/no/such/ca-Pa55.pem".into()),
                ..options
            },
        );
        for (error, kind) in [
            (refused.await.err(), "Connect"),
            (unreadable_ca.await.err(), "ClientConfig"),
        ] {
            let error = error.expect("no server on port 1");
            let shown = error.to_string();
            let debug = format!("{error:?}");
            assert!(debug.starts_with(kind), "{debug}");
            assert!(shown.contains("127.0.0.1:1"), "names the server: {shown}");
            for secret in ["Pa55/secret", "Pa55%2Fsecret", "secret"] {
                assert!(!shown.contains(secret), "{shown}");
                assert!(!debug.contains(secret), "{debug}");
            }
        }
        assert!(matches!(
            Target::connect("redis://tool:Pa55@[::1", ConnectOptions::default()).await,
            Err(TargetError::Url(_))
        ));
    }

    /// Source text without its comments (`//` to the end of the line, `/* ... */`), string
    /// and character literals kept: a comment may name the client, code may not.
    fn without_comments(source: &str) -> String {
        let mut out = String::with_capacity(source.len());
        let mut chars = source.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    in_string = !in_string;
                    out.push(c);
                }
                '\\' if in_string => {
                    out.push(c);
                    out.extend(chars.next());
                }
                // A character literal (`'"'`, `'\\''`), not a lifetime: its quote is no string.
                '\'' if !in_string => {
                    out.push(c);
                    let mut ahead = chars.clone();
                    match (ahead.next(), ahead.next()) {
                        (Some('\\'), _) => {
                            // The backslash and the escaped character, then to the quote.
                            out.extend(chars.next());
                            out.extend(chars.next());
                            for c in chars.by_ref() {
                                out.push(c);
                                if c == '\'' {
                                    break;
                                }
                            }
                        }
                        (Some(_), Some('\'')) => {
                            out.extend(chars.next());
                            out.extend(chars.next());
                        }
                        _ => {}
                    }
                }
                '/' if !in_string && chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            out.push('\n');
                            break;
                        }
                    }
                }
                '/' if !in_string && chars.peek() == Some(&'*') => {
                    chars.next();
                    let mut last = ' ';
                    for c in chars.by_ref() {
                        if last == '*' && c == '/' {
                            break;
                        }
                        last = c;
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// Whether `code` names the Redis client's crate: `redis::` not preceded by a part of
    /// a longer name (`crate::redis_url::` and `redis_topology::` are not it).
    fn names_the_client(code: &str) -> bool {
        code.match_indices("redis::").any(|(at, _)| {
            !code[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    }

    fn rust_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the source tree") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_files(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }

    /// The connection layer is the only code that knows the Redis client: no `redis::`
    /// type (value, command, pipeline, connection, error) is named outside `src/target.rs`
    /// and `src/target/`, so that routing a command to another node changes this module only.
    #[test]
    fn nothing_outside_the_target_names_the_redis_client() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let outside: Vec<String> = files
            .iter()
            .filter(|path| {
                let relative = path.strip_prefix(&src).expect("under src");
                relative != Path::new("target.rs") && !relative.starts_with("target")
            })
            .filter(|path| {
                let source = std::fs::read_to_string(path).expect("read a source file");
                names_the_client(&without_comments(&source))
            })
            .map(|path| path.display().to_string())
            .collect();
        assert!(files.len() > 50, "the scan found the source tree");
        assert!(
            outside.is_empty(),
            "`redis::` named outside src/target: {outside:?}"
        );
        // The scan sees what it must and nothing else.
        assert!(names_the_client("let v: redis::Value = x;"));
        assert!(names_the_client("use ::redis::Cmd;"));
        assert!(!names_the_client(&without_comments(
            "// redis::Value\nlet x = 1;"
        )));
        assert!(!names_the_client("use crate::redis_url::RedisUrl;"));
        assert!(!names_the_client("use redis_topology::target;"));
    }
}
