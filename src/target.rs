//! The connection layer: which Redis to talk to, and talking to it in pipelined batches.
//!
//! Everything that reaches a server goes through [`Target`]. Today a target is one Redis
//! node; the Redis Cluster issue extends it to many nodes (ACLs on every node, keys routed by
//! slot) behind the same two operations the rest of the code uses: [`Target::batch`] for
//! pipelined commands and [`Target::describe`] for messages. The planner never sees it.
//!
//! Two connections: the Redis client's carries every write, in order (the apply, the lock,
//! the record); every read goes over the bounded reader's ([`crate::reader`]), whose
//! replies [`crate::resp`] parses strictly and within limits ([`Target::read_each`],
//! [`Target::read_with`], [`Target::read_batch`]).

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, Value};

use crate::reader::{Endpoint, ReadFailure, Reader};
use crate::resp::{ProtocolError, Reply, server_words};

pub mod fenced;
pub use fenced::Identity;

pub use crate::redis_url::{DEFAULT_URL, RedactedUrl, RedisUrl, resolve_url};

/// Commands per pipelined round trip. Large enough that round trips do not grow with the
/// number of streams in practice, small enough to keep replies (and server latency spikes)
/// bounded.
pub const BATCH_SIZE: usize = 1000;

/// How many batches may be in flight at once (see [`Target::batches`]).
pub const WINDOW: usize = 4;

/// How to connect: timeouts, and for `rediss://` an optional CA certificate (PEM) to trust
/// instead of the public web roots (for servers with a private CA).
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Opening each connection: TCP, TLS's handshake, and for the client its `AUTH` and
    /// `SELECT`.
    pub connect: Duration,
    /// Replies: each batch of reads must be answered whole within this time of the batch
    /// before (see [`crate::reader`]); each pipelined batch of writes within this time of
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

/// A failure talking to the server, as one line with no secret in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// One Redis server.
pub struct Target {
    /// The server's URL, parsed; it Displays redacted.
    url: RedisUrl,
    /// Every write, and reads that must follow them, go on this connection, in order.
    connection: MultiplexedConnection,
    /// Where and how to open the bounded reader again after a read that failed.
    endpoint: Endpoint,
    options: ConnectOptions,
    /// The bounded reader, for every read (see [`crate::reader`]); `None` after a read that
    /// failed, until the next read opens it again.
    reader: Option<Reader>,
}

/// Why a read failed, telling apart a reply over a limit of [`crate::resp`] (refused from
/// the size it announced), so that a caller can say what that reply was (the record, a
/// message sample).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The reply to the command at `index` of batch `batch` is larger than a reply may be:
    /// `why` says what it announced and the limit; `message` is the whole line.
    OverLimit {
        batch: usize,
        index: usize,
        why: String,
        message: TargetError,
    },
    /// Anything else: the connection, a timeout, a malformed reply, or the consumer's error.
    Failed(TargetError),
}

impl From<ReadError> for TargetError {
    fn from(error: ReadError) -> TargetError {
        match error {
            ReadError::OverLimit { message, .. } | ReadError::Failed(message) => message,
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::OverLimit { message, .. } | ReadError::Failed(message) => message.fmt(f),
        }
    }
}

impl Target {
    /// Parse `url` and connect to it (see [`Target::connect_to`]).
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Target, TargetError> {
        let url = RedisUrl::parse(url).map_err(|e| TargetError(e.to_string()))?;
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
            TargetError(format!(
                "cannot use the Redis URL {url}: {}",
                describe_error(&e, url)
            ))
        })?;
        let endpoint = Endpoint::new(client.get_connection_info(), options.tls_ca_cert.as_deref())
            .map_err(|e| TargetError(format!("cannot use the Redis URL {url}: {e}")))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect))
            .set_response_timeout(Some(options.response));
        let (connection, reader) = tokio::join!(
            client.get_multiplexed_async_connection_with_config(&config),
            Reader::open(&endpoint, &options)
        );
        // The client's error first: it says best what is wrong with the URL or credentials.
        let connection = connection.map_err(|e| {
            TargetError(format!(
                "cannot connect to {url}: {}",
                describe_error(&e, url)
            ))
        })?;
        let reader = reader.map_err(|e| TargetError(format!("{url}: {e}")))?;
        let mut target = Target {
            url: url.clone(),
            connection,
            endpoint,
            options,
            reader: Some(reader),
        };
        target.ping().await?;
        Ok(target)
    }

    /// A second handle on the same connection (for background work such as renewing a lock).
    pub fn connection(&self) -> MultiplexedConnection {
        self.connection.clone()
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

    async fn ping(&mut self) -> Result<(), TargetError> {
        let mut pipe = redis::pipe();
        pipe.cmd("PING");
        let reply = self.run(pipe).await?;
        match reply.first() {
            Some(Value::ServerError(e)) if e.code() == "NOAUTH" => Err(TargetError(format!(
                "{} requires authentication: give the user and password in the URL (redis://user:password@host:port) or in $REDIS_URL",
                self.url
            ))),
            Some(Value::ServerError(e)) => Err(TargetError(format!(
                "{} refused PING: {}",
                self.url,
                server_words(e.code(), e.details().unwrap_or_default())
            ))),
            _ => Ok(()),
        }
    }

    /// Send commands in pipelined batches of [`BATCH_SIZE`]; one reply per command, in order.
    /// A command's own error (`WRONGTYPE`, `NOGROUP`, ...) is its reply
    /// (`Value::ServerError`), not a failure of the batch: callers decide what it means.
    pub async fn batch(&mut self, commands: &[Cmd]) -> Result<Vec<Value>, TargetError> {
        collect(self.batches(chunked(commands.to_vec()))).await
    }

    /// Read-only commands through the bounded reader, one reply per command as the client's
    /// owned values, for readers written against them (the ACL users). Bulk reads use
    /// [`Target::read_each`], which copies nothing.
    pub async fn read_batch(&mut self, commands: Vec<Cmd>) -> Result<Vec<Value>, TargetError> {
        let mut values = Vec::with_capacity(commands.len());
        self.read_each(chunked(commands).collect(), |replies| {
            for reply in replies {
                values.push(owned_value(reply)?);
            }
            Ok(())
        })
        .await?;
        Ok(values)
    }

    /// Send each batch as one pipeline, keeping up to [`WINDOW`] of them in flight on the
    /// connection, so that the server runs one batch while this process encodes the next and
    /// decodes the last. Batches reach the server in order (the connection queues requests
    /// first come, first served, and the window starts them in order), and their replies
    /// come out in order. A consumer that stops early (an error, Ctrl-C) sends no further
    /// batch; the ones already sent still run, which is why every write is idempotent.
    pub fn batches<'a>(
        &'a self,
        batches: impl Iterator<Item = Vec<Cmd>> + 'a,
    ) -> impl Stream<Item = Result<Vec<Value>, TargetError>> + 'a {
        self.in_flight(batches, WINDOW, |_| &self.connection)
    }

    /// Read-only commands in batches through the bounded reader (see [`crate::reader`]):
    /// each batch's replies handed to `each` as they arrive, in order, borrowing from the
    /// bytes received. A reply that is not RESP2 or is over a limit, a batch not answered
    /// within the response timeout, or an error of `each` stops the read; the reader's
    /// connection is then dropped, so that replies still on their way are never taken by
    /// a later read for its own.
    pub async fn read_each(
        &mut self,
        batches: Vec<Vec<Cmd>>,
        each: impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
    ) -> Result<(), TargetError> {
        self.read_replies(batches, each)
            .await
            .map_err(TargetError::from)
    }

    /// One batch of read-only commands through the bounded reader, its replies handed to
    /// `parse`; a reply over a limit is told apart ([`ReadError::OverLimit`]).
    pub async fn read_with<T>(
        &mut self,
        commands: Vec<Cmd>,
        parse: impl FnOnce(&[Reply<'_>]) -> Result<T, TargetError>,
    ) -> Result<T, ReadError> {
        let mut parse = Some(parse);
        let mut parsed = None;
        self.read_replies(vec![commands], |replies| {
            if let Some(parse) = parse.take() {
                parsed = Some(parse(replies)?);
            }
            Ok(())
        })
        .await?;
        parsed.ok_or_else(|| {
            ReadError::Failed(TargetError(format!(
                "{}: the read ended without its replies",
                self.url
            )))
        })
    }

    /// Like [`Target::read_each`], telling a reply over a limit apart
    /// ([`ReadError::OverLimit`]: which batch, which command), for a caller that can say
    /// what that reply was.
    pub async fn read_replies(
        &mut self,
        batches: Vec<Vec<Cmd>>,
        mut each: impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
    ) -> Result<(), ReadError> {
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => {
                let reader = Reader::open(&self.endpoint, &self.options)
                    .await
                    .map_err(|e| ReadError::Failed(TargetError(format!("{}: {e}", self.url))))?;
                self.reader.insert(reader)
            }
        };
        let read = reader
            .read_each(&batches, &mut each, self.options.response)
            .await;
        read.map_err(|failure| {
            // Replies may still be on their way: a later read opens a new connection.
            self.reader = None;
            self.read_error(failure)
        })
    }

    /// A failed read as one line naming the server and the command whose reply failed.
    fn read_error(&self, failure: ReadFailure) -> ReadError {
        let url = &self.url;
        match failure {
            ReadFailure::Connection(why) => ReadError::Failed(TargetError(format!("{url}: {why}"))),
            ReadFailure::Reply {
                batch,
                index,
                command,
                problem: ProtocolError::OverLimit(why),
            } => ReadError::OverLimit {
                batch,
                index,
                message: TargetError(format!("{url}: refusing the reply to `{command}`: {why}")),
                why,
            },
            ReadFailure::Reply {
                command, problem, ..
            } => ReadError::Failed(TargetError(format!(
                "{url}: the reply to `{command}` is {problem}; check that the URL is a Redis server's"
            ))),
            ReadFailure::Stopped(e) => ReadError::Failed(e),
        }
    }

    fn in_flight<'a>(
        &'a self,
        batches: impl Iterator<Item = Vec<Cmd>> + 'a,
        window: usize,
        connection_for: impl Fn(usize) -> &'a MultiplexedConnection + 'a,
    ) -> impl Stream<Item = Result<Vec<Value>, TargetError>> + 'a {
        futures_util::stream::iter(batches.enumerate())
            .map(move |(index, commands)| {
                let mut connection = connection_for(index).clone();
                async move {
                    let mut pipe = redis::pipe();
                    for command in commands {
                        pipe.add_command(command);
                    }
                    pipe.ignore_errors();
                    pipe.query_async::<Vec<Value>>(&mut connection)
                        .await
                        .map_err(|e| {
                            TargetError(format!("{}: {}", self.url, describe_error(&e, &self.url)))
                        })
                }
            })
            .buffered(window.max(1))
    }

    async fn run(&mut self, mut pipe: Pipeline) -> Result<Vec<Value>, TargetError> {
        pipe.ignore_errors();
        pipe.query_async::<Vec<Value>>(&mut self.connection)
            .await
            .map_err(|e| TargetError(format!("{}: {}", self.url, describe_error(&e, &self.url))))
    }
}

/// A reply as the client's owned value ([`Target::read_batch`]).
fn owned_value(reply: &Reply<'_>) -> Result<Value, TargetError> {
    Ok(match reply {
        Reply::Int(n) => Value::Int(*n),
        Reply::Bytes(bytes) => Value::BulkString(bytes.to_vec()),
        Reply::Nil => Value::Nil,
        Reply::Array(items) => {
            Value::Array(items.iter().map(owned_value).collect::<Result<_, _>>()?)
        }
        Reply::Error { code, details } => {
            // `redis::ServerError` has no public constructor: the client's own parser makes
            // one from the error's line (which holds no CR or LF: `resp` refuses those).
            let line = if details.is_empty() {
                format!("-{code}\r\n")
            } else {
                format!("-{code} {details}\r\n")
            };
            redis::parse_redis_value(line.as_bytes()).map_err(|_| {
                TargetError(format!(
                    "the error reply {} cannot be read",
                    server_words(code, details)
                ))
            })?
        }
    })
}

/// Commands in batches of [`BATCH_SIZE`].
fn chunked(commands: Vec<Cmd>) -> impl Iterator<Item = Vec<Cmd>> {
    let mut commands = commands.into_iter();
    std::iter::from_fn(move || {
        let chunk: Vec<Cmd> = commands.by_ref().take(BATCH_SIZE).collect();
        (!chunk.is_empty()).then_some(chunk)
    })
}

/// Every reply of a stream of batches, in order; the first failure stops it.
async fn collect(
    batches: impl Stream<Item = Result<Vec<Value>, TargetError>>,
) -> Result<Vec<Value>, TargetError> {
    let mut batches = std::pin::pin!(batches);
    let mut replies = Vec::new();
    while let Some(batch) = batches.next().await {
        replies.extend(batch?);
    }
    Ok(replies)
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
