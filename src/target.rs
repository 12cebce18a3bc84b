//! The connection layer: which Redis to talk to, and talking to it in pipelined batches.
//!
//! Everything that reaches a server goes through [`Target`]. Today a target is one Redis
//! node; the Redis Cluster issue extends it to many nodes (ACLs on every node, keys routed by
//! slot) behind the same two operations the rest of the code uses: [`Target::batch`] for
//! pipelined commands and [`Target::describe`] for messages. The planner never sees it.
//!
//! Connections: the first carries every write, in order; a second shares bulk reads
//! ([`Target::read_batches`]); and on plain TCP the per-stream reads of a plan go over a
//! third, a `BulkReader` whose replies are parsed by [`crate::resp`] rather than by the
//! Redis client (opened on the first [`Target::read_each`]).

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, ConnectionAddr, Pipeline, RedisError, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::resp::{self, Reply};

pub mod fenced;
pub use fenced::{Fenced, Identity};

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
    pub connect: Duration,
    pub response: Duration,
    pub tls_ca_cert: Option<std::path::PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(30),
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
    /// A second connection for bulk reads through the Redis client ([`Target::read_batches`]:
    /// ACL users, message samples, and the per-stream reads over TLS): each connection's
    /// replies are decoded by its own task, and that decoding is slower than the server
    /// producing the replies, so two connections decode on two cores (measured: reading
    /// 10,000 streams, 72 -> 53 ms).
    reader: MultiplexedConnection,
    /// Where and how to open a [`BulkReader`], on the first bulk read.
    info: redis::ConnectionInfo,
    options: ConnectOptions,
    bulk: Option<BulkReader>,
    /// For connections opened later (see `fenced`).
    client: Client,
    /// A connection of apply's ACL transactions alone (`WATCH` is per connection), opened
    /// on the first one.
    transactions: Option<MultiplexedConnection>,
}

impl Target {
    /// Parse `url` and connect to it (see [`Target::connect_to`]).
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Target, TargetError> {
        let url = RedisUrl::parse(url).map_err(|e| TargetError(e.to_string()))?;
        Target::connect_to(&url, options).await
    }

    /// Connect and check that the server answers (and that the credentials work).
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
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect))
            .set_response_timeout(Some(options.response));
        let open = || client.get_multiplexed_async_connection_with_config(&config);
        let (connection, reader) = tokio::try_join!(open(), open()).map_err(|e| {
            TargetError(format!(
                "cannot connect to {url}: {}",
                describe_error(&e, url)
            ))
        })?;
        let mut target = Target {
            url: url.clone(),
            connection,
            reader,
            info: client.get_connection_info().clone(),
            options,
            bulk: None,
            client,
            transactions: None,
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
                "{} refused PING: {} {}",
                self.url,
                e.code(),
                e.details().unwrap_or_default()
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

    /// Like [`Target::batch`], for read-only commands (taken by value: no copy of 20,000
    /// commands), spread over both connections (see [`Target::read_batches`]).
    pub async fn read_batch(&mut self, commands: Vec<Cmd>) -> Result<Vec<Value>, TargetError> {
        collect(self.read_batches(chunked(commands))).await
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

    /// Like [`Target::batches`], for read-only commands: batches alternate between the two
    /// connections, so the server may run them in any order; replies still come out in the
    /// order of the batches.
    pub fn read_batches<'a>(
        &'a self,
        batches: impl Iterator<Item = Vec<Cmd>> + 'a,
    ) -> impl Stream<Item = Result<Vec<Value>, TargetError>> + 'a {
        self.in_flight(batches, WINDOW, |index| {
            if index % 2 == 0 {
                &self.connection
            } else {
                &self.reader
            }
        })
    }

    /// Read-only commands in batches, each batch's replies handed to `each` as they arrive,
    /// in order. On a plain TCP connection the replies are parsed by [`crate::resp`] on a
    /// connection of our own (see `BulkReader`); over TLS or a Unix socket they come
    /// through the Redis client ([`Target::read_batches`]) and are viewed as [`Reply`]s.
    pub async fn read_each(
        &mut self,
        batches: Vec<Vec<Cmd>>,
        mut each: impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
    ) -> Result<(), TargetError> {
        if self.bulk.is_none()
            && let ConnectionAddr::Tcp(host, port) = self.info.addr()
        {
            let bulk = BulkReader::open(host, *port, &self.info, &self.options)
                .await
                .map_err(|e| TargetError(format!("{}: {e}", self.url)))?;
            self.bulk = Some(bulk);
        }
        if let Some(bulk) = &mut self.bulk {
            let read = bulk
                .read_each(&batches, &mut each, self.options.response)
                .await;
            if read.is_err() {
                // Replies may still be on their way: a later read must not take them for
                // its own, so it opens a new connection.
                self.bulk = None;
            }
            return read.map_err(|e| match e {
                BulkError::Io(e) => TargetError(format!("{}: {e}", self.url)),
                BulkError::Stopped(e) => e,
            });
        }
        let mut replies = std::pin::pin!(self.read_batches(batches.into_iter()));
        while let Some(batch) = replies.next().await {
            let batch = batch?;
            let batch: Vec<Reply<'_>> = batch.iter().map(Reply::from_value).collect();
            each(&batch)?;
        }
        Ok(())
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

/// A connection of our own for the bulk reads of a plan, whose replies [`crate::resp`]
/// parses without the Redis client's general decoder (see there for why). Plain TCP only;
/// it authenticates and selects the database as the URL says, and speaks RESP2.
struct BulkReader {
    stream: TcpStream,
    /// Bytes read and not yet handed out.
    buf: Vec<u8>,
}

/// Why a bulk read stopped: the connection failed, or the consumer stopped it.
enum BulkError {
    Io(String),
    Stopped(TargetError),
}

impl BulkReader {
    async fn open(
        host: &str,
        port: u16,
        info: &redis::ConnectionInfo,
        options: &ConnectOptions,
    ) -> Result<BulkReader, String> {
        let connect = TcpStream::connect((host, port));
        let stream = tokio::time::timeout(options.connect, connect)
            .await
            .map_err(|_| "timed out connecting".to_owned())?
            .map_err(|e| format!("cannot connect: {e}"))?;
        // Requests are written whole; Nagle's delay would only hold back the last one.
        let _ = stream.set_nodelay(true);
        let mut reader = BulkReader {
            stream,
            buf: Vec::new(),
        };
        let settings = info.redis_settings();
        let mut hello = Vec::new();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            hello.push(auth.arg(password).clone());
        }
        if settings.db() != 0 {
            hello.push(redis::cmd("SELECT").arg(settings.db()).clone());
        }
        if hello.is_empty() {
            return Ok(reader);
        }
        let mut refused = None;
        let result = reader
            .read_each(
                &[hello],
                &mut |replies: &[Reply<'_>]| {
                    refused = replies.iter().find_map(|r| match r {
                        // The reply names no secret, but the command did: say which step failed.
                        Reply::Error { code, .. } => Some((*code).to_owned()),
                        _ => None,
                    });
                    Ok(())
                },
                options.response,
            )
            .await;
        match (result, refused) {
            (Err(BulkError::Io(e)), _) => Err(e),
            (Err(BulkError::Stopped(e)), _) => Err(e.0),
            (Ok(()), Some(code)) => Err(format!(
                "the bulk-read connection was refused ({code}) after the first connection was accepted"
            )),
            (Ok(()), None) => Ok(reader),
        }
    }

    /// Send every batch at once (as `redis-cli --pipe` does: the server reads them as fast as
    /// it answers) while reading the replies, and hand each batch's replies to `each`.
    async fn read_each(
        &mut self,
        batches: &[Vec<Cmd>],
        each: &mut impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
        timeout: Duration,
    ) -> Result<(), BulkError> {
        let (mut from_server, mut to_server) = self.stream.split();
        let buf = &mut self.buf;
        let send = async {
            let mut packed = Vec::new();
            for batch in batches {
                packed.clear();
                for command in batch {
                    command.write_packed_command(&mut packed);
                }
                to_server
                    .write_all(&packed)
                    .await
                    .map_err(|e| BulkError::Io(format!("cannot send: {e}")))?;
            }
            Ok(())
        };
        let receive = async {
            let mut chunk = vec![0u8; 64 * 1024];
            for batch in batches {
                // Find where each reply of the batch ends, reading until all are in.
                let mut ends = Vec::with_capacity(batch.len());
                let mut end = 0;
                while ends.len() < batch.len() {
                    match resp::reply_end(buf, end).map_err(|e| BulkError::Io(e.to_string()))? {
                        Some(next) => {
                            ends.push(next);
                            end = next;
                        }
                        None => {
                            let read = tokio::time::timeout(timeout, from_server.read(&mut chunk))
                                .await
                                .map_err(|_| {
                                    BulkError::Io("timed out waiting for replies".to_owned())
                                })?
                                .map_err(|e| BulkError::Io(format!("cannot read replies: {e}")))?;
                            if read == 0 {
                                return Err(BulkError::Io(
                                    "the server closed the connection".to_owned(),
                                ));
                            }
                            buf.extend_from_slice(&chunk[..read]);
                        }
                    }
                }
                let mut start = 0;
                let mut replies = Vec::with_capacity(ends.len());
                for &reply_end in &ends {
                    replies
                        .push(resp::parse(buf, start).map_err(|e| BulkError::Io(e.to_string()))?);
                    start = reply_end;
                }
                each(&replies).map_err(BulkError::Stopped)?;
                drop(replies);
                buf.drain(..end);
            }
            Ok(())
        };
        tokio::try_join!(send, receive).map(|_| ())
    }
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
    if error.kind() == redis::ErrorKind::AuthenticationFailed {
        return "authentication failed: check the user and password in the URL".to_owned();
    }
    let text = url.scrub(&error.to_string());
    let first_line = text.lines().next().unwrap_or_default();
    crate::text::untrusted_within(first_line, ERROR_CHARS).into_owned()
}
