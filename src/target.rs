//! The connection layer: which Redis to talk to, and talking to it in pipelined batches.
//!
//! Everything that reaches a server goes through [`Target`]. Today a target is one Redis
//! node; the Redis Cluster issue extends it to many nodes (ACLs on every node, keys routed by
//! slot) behind the same two operations the rest of the code uses: [`Target::batch`] for
//! pipelined commands and [`Target::describe`] for messages. The planner never sees it.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, Value};

/// Default server when neither `--url` nor `$REDIS_URL` is given.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Commands per pipelined round trip. Large enough that round trips do not grow with the
/// number of streams in practice, small enough to keep replies (and server latency spikes)
/// bounded.
pub const BATCH_SIZE: usize = 1000;

/// How many batches may be in flight at once (see [`Target::batches`]).
pub const WINDOW: usize = 4;

/// A server URL with its secrets masked, the only form in which a URL is ever printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    pub fn new(url: &str) -> Self {
        RedactedUrl(redact_url(url))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`. A URL we cannot parse
/// loses everything between `://` and the last `@`, so nothing secret survives.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = authority.split_at(at);
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None if userinfo.is_empty() => String::new(),
        None => "***".to_owned(),
    };
    format!("{scheme}://{user}{host}{path}")
}

/// Which URL to use: `--url`, else `$REDIS_URL`, else [`DEFAULT_URL`].
pub fn resolve_url(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

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
    url: RedactedUrl,
    /// Every write, and reads that must follow them, go on this connection, in order.
    connection: MultiplexedConnection,
    /// A second connection for bulk reads ([`Target::read_batches`]): each connection's
    /// replies are decoded by its own task, and decoding `XINFO GROUPS` replies is slower
    /// than the server producing them, so two connections decode on two cores (measured:
    /// reading 10,000 streams, 72 -> 53 ms).
    reader: MultiplexedConnection,
}

impl Target {
    /// Connect and check that the server answers (and that the credentials work).
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Target, TargetError> {
        let shown = RedactedUrl::new(url);
        // rustls picks no cryptography by itself; an error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = open_client(url, options.tls_ca_cert.as_deref()).map_err(|e| {
            TargetError(format!(
                "invalid Redis URL {shown}: {}",
                describe_error(&e, url)
            ))
        })?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect))
            .set_response_timeout(Some(options.response));
        let open = || client.get_multiplexed_async_connection_with_config(&config);
        let (connection, reader) = tokio::try_join!(open(), open()).map_err(|e| {
            TargetError(format!(
                "cannot connect to {shown}: {}",
                describe_error(&e, url)
            ))
        })?;
        let mut target = Target {
            url: shown,
            connection,
            reader,
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
        self.in_flight(batches, |_| &self.connection)
    }

    /// Like [`Target::batches`], for read-only commands: batches alternate between the two
    /// connections, so the server may run them in any order; replies still come out in the
    /// order of the batches.
    pub fn read_batches<'a>(
        &'a self,
        batches: impl Iterator<Item = Vec<Cmd>> + 'a,
    ) -> impl Stream<Item = Result<Vec<Value>, TargetError>> + 'a {
        self.in_flight(batches, |index| {
            if index % 2 == 0 {
                &self.connection
            } else {
                &self.reader
            }
        })
    }

    fn in_flight<'a>(
        &'a self,
        batches: impl Iterator<Item = Vec<Cmd>> + 'a,
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
                            TargetError(format!("{}: {}", self.url, describe_error(&e, "")))
                        })
                }
            })
            .buffered(WINDOW)
    }

    async fn run(&mut self, mut pipe: Pipeline) -> Result<Vec<Value>, TargetError> {
        pipe.ignore_errors();
        pipe.query_async::<Vec<Value>>(&mut self.connection)
            .await
            .map_err(|e| TargetError(format!("{}: {}", self.url, describe_error(&e, ""))))
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

fn open_client(url: &str, ca_cert: Option<&std::path::Path>) -> redis::RedisResult<Client> {
    let Some(path) = ca_cert else {
        return Client::open(url);
    };
    let pem = std::fs::read(path).map_err(|e| {
        RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "cannot read the CA certificate",
            format!("{}: {e}", path.display()),
        ))
    })?;
    Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        },
    )
}

/// A client error as one short line, with any occurrence of the URL's password removed (some
/// errors echo what they were given).
fn describe_error(error: &RedisError, url: &str) -> String {
    let mut text = error.to_string();
    if let Some(password) = url_password(url) {
        text = text.replace(&password, "***");
    }
    let first_line = text.lines().next().unwrap_or_default().to_owned();
    match error.kind() {
        redis::ErrorKind::AuthenticationFailed => {
            "authentication failed: check the user and password in the URL".to_owned()
        }
        _ => first_line,
    }
}

fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
            (
                "rediss://app:s3cret@host:6380",
                "rediss://app:***@host:6380",
            ),
            ("redis://s3cret@host", "redis://***@host"),
            ("redis://u:p@ss@host/1", "redis://u:***@host/1"),
            ("not a url", "not a url"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("s3cret"));
        }
        assert_eq!(
            url_password("redis://u:p@ss@host/1").as_deref(),
            Some("p@ss")
        );
        assert_eq!(url_password("redis://host"), None);
    }
}
