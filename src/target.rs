//! The connection layer: which Redis to talk to, where each command goes, and talking to
//! it in pipelined batches.
//!
//! Everything that reaches a server goes through [`Target`], and nothing of the Redis
//! client leaves this module: the rest of the code builds [`Command`]s, reads replies as
//! [`crate::resp::Reply`], and gets each write's outcome as [`OpReply`], tagged with the
//! [`NodeId`] of the node that answered.
//!
//! **Routing.** Each write says where it must run ([`Route`]): the node that owns its key's
//! slot, every primary, or every node. The target maps a route to its nodes. Today a target
//! is one node (a standalone server: every route is that node); Redis Cluster and Sentinel
//! add nodes behind the same calls.
//!
//! Two connections per node: the Redis client's carries every write, in order (the apply,
//! the lock, the record); every read goes over the bounded reader's ([`reader`]), whose
//! replies [`crate::resp`] parses strictly and within limits ([`Target::read_each`],
//! [`Target::read_with`]).

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Value};

use crate::resp::{OwnedReply, ProtocolError, Reply, server_words};
use reader::{Endpoint, ReadFailure, Reader};

pub mod command;
pub mod fenced;
pub mod reader;
pub mod url;
mod values;

pub use command::{Arg, Command};
pub use fenced::{BatchOutcome, Identity, TransactionOutcome};
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
    #[error("{url}: the reply to `{command}` is {source}; check that the URL is a Redis server's")]
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
    /// Anything else, already one safe line (the lock's and the record's messages).
    #[error("{0}")]
    Other(String),
    /// A fenced batch's replies that do not add up (see [`fenced::FenceError`]).
    #[error("{source}")]
    Fence {
        url: RedactedUrl,
        source: fenced::FenceError,
    },
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

/// What a fenced batch did, and the node that answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub node: NodeId,
    pub outcome: WriteOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The replies of a guarded transaction: the lease's renewal first, then each write's.
    Transaction(TransactionOutcome),
    Script(BatchOutcome),
}

/// One node: a standalone server (today's only kind of target), later one node of a cluster
/// or a Sentinel-managed set.
struct Node {
    /// `host:port`, or the socket's path.
    address: String,
    /// Every write, and reads that must follow them, go on this connection, in order.
    connection: MultiplexedConnection,
    /// Where and how to open the bounded reader again after a read that failed.
    endpoint: Endpoint,
    /// The bounded reader, for every read (see [`reader`]); `None` after a read that
    /// failed, until the next read opens it again.
    reader: Option<Reader>,
}

/// The servers the tool manages: today one standalone node.
pub struct Target {
    /// The server's URL, parsed; it Displays redacted.
    url: RedisUrl,
    options: ConnectOptions,
    /// Every node, [`NodeId`] being the position. A standalone server: one.
    nodes: Vec<Node>,
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

    /// Connect and check that the server answers (and that the credentials work): the
    /// client's connection for writes and the bounded reader, side by side.
    pub async fn connect_to(
        url: &RedisUrl,
        options: ConnectOptions,
    ) -> Result<Target, TargetError> {
        // rustls picks no cryptography by itself; an error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = open_client(url, options.tls_ca_cert.as_deref()).map_err(|e| {
            TargetError::ClientConfig {
                url: url.redacted().clone(),
                source: ClientError::new(e, url),
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
            Reader::open(&endpoint, &options)
        );
        // The client's error first: it says best what is wrong with the URL or credentials.
        let connection = connection.map_err(|e| TargetError::Connect {
            url: url.redacted().clone(),
            source: ClientError::new(e, url),
        })?;
        let reader = reader.map_err(|reason| TargetError::Reader {
            url: url.redacted().clone(),
            reason,
        })?;
        let node = Node {
            address: address_of(url),
            connection,
            endpoint,
            reader: Some(reader),
        };
        let mut target = Target {
            url: url.clone(),
            options,
            nodes: vec![node],
        };
        target.ping().await?;
        Ok(target)
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

    /// Every node, by [`NodeId`]: today the one server.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// A node's address (`host:port`), for messages and per-node state.
    pub fn address(&self, node: NodeId) -> &str {
        self.nodes.get(node.0).map_or("", |n| n.address.as_str())
    }

    /// The nodes a route names. A standalone server is every route's one node; a cluster
    /// maps a key to its slot's primary, and the others to their lists.
    pub fn route(&self, route: Route<'_>) -> Vec<NodeId> {
        match route {
            Route::Key(_) | Route::EveryPrimary | Route::EveryNode => self.nodes().collect(),
        }
    }

    /// The node a route names first (a key's owner).
    fn node_of(&self, route: Route<'_>) -> NodeId {
        self.route(route).first().copied().unwrap_or_default()
    }

    fn node(&self, id: NodeId) -> Result<&Node, TargetError> {
        self.nodes
            .get(id.0)
            .ok_or_else(|| TargetError::Other(format!("{}: no node {}", self.url, id.0)))
    }

    fn reply_error(&self, reason: String) -> TargetError {
        TargetError::Reply {
            url: self.describe().clone(),
            reason,
        }
    }

    async fn ping(&mut self) -> Result<(), TargetError> {
        for node in self.nodes().collect::<Vec<_>>() {
            let reply = self.call_on(node, Command::new("PING")).await?;
            match reply.reply() {
                Reply::Error { code: "NOAUTH", .. } => {
                    return Err(TargetError::AuthRequired {
                        url: self.describe().clone(),
                    });
                }
                Reply::Error { code, details } => {
                    return Err(TargetError::PingRefused {
                        url: self.describe().clone(),
                        error: ServerError::new(code, details),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// One command on the write connection of the node `route` names, and its reply (a
    /// command's own error is its reply, not a failure).
    pub async fn call(
        &self,
        route: Route<'_>,
        command: Command,
    ) -> Result<OwnedReply, TargetError> {
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
    /// that must go where the writes go (renewing the apply lock).
    pub fn line(&self, route: Route<'_>) -> Result<Line, TargetError> {
        self.line_to(self.node_of(route))
    }

    fn line_to(&self, node: NodeId) -> Result<Line, TargetError> {
        Ok(Line {
            connection: self.node(node)?.connection.clone(),
            url: self.url.clone(),
        })
    }

    /// Run fenced batches of writes under the lock, keeping up to `window` of them in
    /// flight per node, so that the server runs one batch while this process encodes the
    /// next and decodes the last. Batches reach each node in order (its connection queues
    /// requests first come, first served, and the window starts them in order), and their
    /// outcomes come out in order. A consumer that stops early (an error, Ctrl-C) sends no
    /// further batch; the ones already sent still run, which is why every write is
    /// idempotent. A batch goes to the node its writes are routed to: on a standalone
    /// server, the one node.
    pub fn write_batches<'a>(
        &'a self,
        lock: LockFence<'a>,
        fence: Fence,
        batches: impl Iterator<Item = Vec<Write<'a>>> + 'a,
        window: usize,
    ) -> impl Stream<Item = Result<Written, TargetError>> + 'a {
        futures_util::stream::iter(batches)
            .map(move |writes| {
                let node = writes
                    .first()
                    .map_or(NodeId::default(), |w| self.node_of(w.route));
                let count = writes.len();
                let commands = match fence {
                    Fence::Transaction => {
                        let renew = Command::new("PEXPIRE").arg(lock.key).arg(lock.lease_ms());
                        let commands = std::iter::once(renew)
                            .chain(writes.into_iter().map(|w| w.command))
                            .collect();
                        fenced::transaction_batch(lock.key, lock.token, commands)
                    }
                    Fence::Script => vec![fenced::batch_command(
                        lock.key,
                        lock.token,
                        lock.lease_ms(),
                        &writes,
                    )],
                };
                async move {
                    let replies = self.pipeline(node, commands).await?;
                    let replies: Vec<Reply<'_>> = replies.iter().map(OwnedReply::reply).collect();
                    let outcome = match fence {
                        Fence::Transaction => WriteOutcome::Transaction(
                            fenced::transaction_outcome(&replies, count + 1).map_err(|source| {
                                TargetError::Fence {
                                    url: self.describe().clone(),
                                    source,
                                }
                            })?,
                        ),
                        Fence::Script => WriteOutcome::Script(
                            fenced::batch_outcome(replies.first().unwrap_or(&Reply::Nil)).map_err(
                                |source| TargetError::Fence {
                                    url: self.describe().clone(),
                                    source,
                                },
                            )?,
                        ),
                    };
                    Ok(Written { node, outcome })
                }
            })
            .buffered(window.max(1))
    }

    /// Before apply's first write: whether this user and server can fence writes with the
    /// lock (see [`fenced::probe_batch`]); `Some(why)` when they cannot.
    pub async fn fence_problem(&self, lock: LockFence<'_>) -> Result<Option<String>, TargetError> {
        for node in self.route(Route::EveryNode) {
            let replies = self
                .pipeline(node, fenced::probe_batch(lock.key, lock.token))
                .await?;
            let replies: Vec<Reply<'_>> = replies.iter().map(OwnedReply::reply).collect();
            if let Some(why) = fenced::probe_problem(&replies) {
                return Ok(Some(why));
            }
        }
        Ok(None)
    }

    /// Commands as one pipeline on a node's write connection; one reply per command.
    async fn pipeline(
        &self,
        node: NodeId,
        commands: Vec<Command>,
    ) -> Result<Vec<OwnedReply>, TargetError> {
        let mut connection = self.node(node)?.connection.clone();
        let mut pipe = redis::pipe();
        for command in commands {
            pipe.add_command(command.0);
        }
        pipe.ignore_errors();
        let values = pipe
            .query_async::<Vec<Value>>(&mut connection)
            .await
            .map_err(|e| TargetError::Client {
                url: self.describe().clone(),
                source: ClientError::new(e, &self.url),
            })?;
        values
            .iter()
            .map(|v| values::owned(v).map_err(|reason| self.reply_error(reason)))
            .collect()
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
            ReadError::Failed(TargetError::Other(format!(
                "{}: the read ended without its replies",
                self.url
            )))
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
        let (url, options) = (&self.url, &self.options);
        let Some(node) = self.nodes.get_mut(node.0) else {
            return Err(ReadError::Failed(TargetError::Other(format!(
                "{url}: no node {}",
                node.0
            ))));
        };
        let reader = match &mut node.reader {
            Some(reader) => reader,
            None => {
                let reader = Reader::open(&node.endpoint, options)
                    .await
                    .map_err(|reason| {
                        ReadError::Failed(TargetError::Reader {
                            url: url.redacted().clone(),
                            reason,
                        })
                    })?;
                node.reader.insert(reader)
            }
        };
        let read = reader
            .read_each(&batches, &mut each, options.response)
            .await;
        read.map_err(|failure| {
            // Replies may still be on their way: a later read opens a new connection.
            node.reader = None;
            read_error(url, failure)
        })
    }
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
pub enum LineError {
    #[error(transparent)]
    Client(ClientError),
    /// A reply the client decoded into something that is not a reply (or none at all).
    #[error("{0}")]
    Reply(String),
}

/// A node's write connection, for work in the background (the apply lock's renewals): a
/// handle of the target's, not the connection itself.
#[derive(Clone)]
pub struct Line {
    connection: MultiplexedConnection,
    url: RedisUrl,
}

impl Line {
    /// One command, and its reply; `Err` prints as one line without secrets.
    pub async fn call(&mut self, command: Command) -> Result<OwnedReply, LineError> {
        let mut pipe = redis::pipe();
        pipe.add_command(command.0);
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
