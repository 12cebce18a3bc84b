//! The bounded reader: every read the tool makes goes over a connection of its own, whose
//! replies [`crate::resp`] checks and parses strictly and within limits.
//!
//! Why not the Redis client: its decoder has no size limit (a server announcing a 1 GiB
//! reply made the tool take 2.6 GB of memory), its response timeout did not cover a reply
//! that trickles in, and on a plan's bulk reads it decodes slower than the server answers
//! (see [`crate::resp`]). Writes, the apply lock and the apply itself stay on the client
//! (see [`crate::target`]); whatever only reads comes here.
//!
//! - **Transports**: plain TCP, TLS (`rediss://`: the server's certificate is checked against
//!   the public web roots, or against `--tls-ca-cert` alone, as the client does) and Unix
//!   sockets (`redis+unix://`, `unix://`). The connection authenticates and selects the
//!   database as the URL says, and speaks RESP2 (it never sends `HELLO 3`).
//! - **Pipelined**: every batch is sent at once, as `redis-cli --pipe` does, while the replies
//!   are read; each batch's replies are handed over whole, in order.
//! - **Bounded**: each reply by the limits of [`crate::resp`], and a batch's replies together
//!   by [`MAX_BATCH_BYTES`] and [`MAX_BATCH_VALUES`] (they are held until the batch is whole,
//!   since the parsed replies borrow from the buffer).
//! - **On time**: connecting (TCP, and TLS's handshake) must succeed within
//!   `ConnectOptions::connect`, and each batch's replies must all be in within
//!   `ConnectOptions::response` of the batch before them (of the read's start, for the
//!   first). The clock runs per batch, not per piece received, so a server that trickles
//!   bytes cannot hold a read forever.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redis::ConnectionAddr;

use super::Command;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use yoke::Yoke;

use crate::resp::{self, ProtocolError, Reply, Scanner, server_words, size_text};
use crate::target::{ConnectOptions, TargetError};

/// The most a batch's replies may take together: 256 MiB (four replies at their limit). A
/// plan's batch of 500 streams takes ~150 KB; the large ones are age probes of streams with
/// large entries, and message samples, which go one stream per batch.
pub const MAX_BATCH_BYTES: usize = 4 * resp::MAX_REPLY_BYTES;

/// The most values a batch's replies may hold together (4,194,304: 64 MiB of scanned tokens,
/// then 160 MiB once built into replies).
pub const MAX_BATCH_VALUES: usize = 4 * resp::MAX_REPLY_VALUES;

/// Bytes asked of the connection per read.
const READ_SIZE: usize = 64 * 1024;

/// A buffer grown larger than this (by a large record, say) is given back after its batch.
const KEEP_BUFFER: usize = 4 * 1024 * 1024;

/// The most scanned values whose room a connection keeps between batches (4 MiB of tokens).
const KEEP_TOKENS: usize = KEEP_BUFFER / size_of::<resp::Token>();

/// Where the reader connects and who it is there, from the URL the client parsed.
#[derive(Clone)]
pub(crate) struct Endpoint {
    address: Address,
    user: Option<String>,
    password: Option<String>,
    db: i64,
}

#[derive(Clone)]
enum Address {
    Tcp {
        host: String,
        port: u16,
    },
    Tls {
        host: String,
        port: u16,
        config: Arc<rustls::ClientConfig>,
    },
    #[cfg(unix)]
    Unix(PathBuf),
}

impl Endpoint {
    /// The endpoint of a URL the client accepted; `ca_cert` as `--tls-ca-cert`.
    pub(crate) fn new(
        info: &redis::ConnectionInfo,
        ca_cert: Option<&Path>,
    ) -> Result<Endpoint, String> {
        let address = match info.addr() {
            ConnectionAddr::Tcp(host, port) => Address::Tcp {
                host: host.clone(),
                port: *port,
            },
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                ..
            } => Address::Tls {
                host: host.clone(),
                port: *port,
                config: tls_config(ca_cert)?,
            },
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err(
                    "TLS without checking the server's certificate (#insecure) is not supported: give the CA with --tls-ca-cert"
                        .to_owned(),
                );
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Address::Unix(path.clone()),
            _ => return Err("this kind of address is not supported".to_owned()),
        };
        let settings = info.redis_settings();
        Ok(Endpoint {
            address,
            user: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
        })
    }
}

/// What TLS trusts: the public web roots, or only the CA in `ca_cert` (PEM), as the client
/// is set up in `target::open_client`.
fn tls_config(ca_cert: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_cert {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let shown = path.display();
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read the CA certificate {shown}: {e}"))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| format!("the CA certificate {shown} is not PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the CA certificate {shown} cannot be used: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("the CA certificate {shown} holds no certificate"));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS cannot be set up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connection of any of the three kinds.
trait Duplex: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> Duplex for T {}

/// Why a read failed.
pub(crate) enum ReadFailure {
    /// The connection: it cannot send or read, it closed, or it was too slow.
    Connection(String),
    /// The reply to the command at `index` of batch `batch` is not RESP2 or is over a limit.
    Reply {
        batch: usize,
        index: usize,
        command: String,
        problem: ProtocolError,
    },
    /// The consumer of the replies stopped the read with its own error.
    Stopped(TargetError),
}

/// A connection for reads, with the bytes read and not yet handed out.
pub(crate) struct Reader {
    /// `None` while a read has it, and after a read that failed.
    stream: Option<Box<dyn Duplex>>,
    buf: Vec<u8>,
}

impl Reader {
    /// Connect, authenticate and select the database. `Err` is one line without secrets.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        options: &ConnectOptions,
    ) -> Result<Reader, String> {
        let stream = tokio::time::timeout(options.connect, connect(&endpoint.address))
            .await
            .map_err(|_| format!("timed out connecting (after {})", seconds(options.connect)))??;
        let mut reader = Reader {
            stream: Some(stream),
            buf: Vec::new(),
        };
        reader.hello(endpoint, options.response).await?;
        Ok(reader)
    }

    /// `AUTH` and `SELECT` as the URL says (nothing for a URL without them).
    async fn hello(&mut self, endpoint: &Endpoint, timeout: Duration) -> Result<(), String> {
        let mut commands = Vec::new();
        if let Some(password) = &endpoint.password {
            let mut auth = Command::new("AUTH");
            if let Some(user) = &endpoint.user {
                auth.push(user);
            }
            commands.push(auth.arg(password));
        }
        if endpoint.db != 0 {
            commands.push(Command::new("SELECT").arg(endpoint.db));
        }
        if commands.is_empty() {
            return Ok(());
        }
        let mut refused = None;
        let read = self
            .read_each(
                vec![commands],
                &mut |replies: &[Reply<'_>]| {
                    refused = refusal(replies, endpoint);
                    Ok(())
                },
                timeout,
            )
            .await;
        match read {
            Err(ReadFailure::Connection(why)) => Err(why),
            Err(ReadFailure::Reply {
                command, problem, ..
            }) => Err(format!("the reply to `{command}` is {problem}")),
            Err(ReadFailure::Stopped(e)) => Err(e.to_string()),
            Ok(()) => refused.map_or(Ok(()), Err),
        }
    }

    /// Send every batch at once while reading the replies, and hand each batch's replies to
    /// `each`, in order. After an error the connection must not be used again: replies may
    /// still be on their way.
    pub(crate) async fn read_each(
        &mut self,
        batches: Vec<Vec<Command>>,
        each: &mut impl FnMut(&[Reply<'_>]) -> Result<(), TargetError>,
        timeout: Duration,
    ) -> Result<(), ReadFailure> {
        self.read_each_then(batches, &mut |replies, _| each(replies), timeout)
            .await
    }

    /// [`Reader::read_each`], where `each` may follow a batch up: the batches it leaves in
    /// its second argument go out as soon as it returns, in order, their replies handed to
    /// `each` in turn, after those of every batch sent before. So a second read that depends
    /// on the first (a group's next entry, once its position is known) keeps the server busy
    /// instead of waiting for the whole first read to end, and a read can start with a few
    /// batches and build the next ones as the first are answered.
    ///
    /// The connection is worked by a task of its own ([`converse`]: it sends, receives,
    /// scans each batch's replies for their ends and builds them) while this task hands them
    /// to `each`, so the two halves of a read can run on two cores. Without it, the reads of
    /// a cluster's nodes, all handed over on one task, kept one thread busy at the end of a
    /// no-op plan on 3 primaries while the other and the servers waited.
    pub(crate) async fn read_each_then(
        &mut self,
        batches: Vec<Vec<Command>>,
        each: &mut impl FnMut(&[Reply<'_>], &mut Vec<Vec<Command>>) -> Result<(), TargetError>,
        timeout: Duration,
    ) -> Result<(), ReadFailure> {
        let Some(mut stream) = self.stream.take() else {
            return Err(ReadFailure::Connection(
                "the connection was given up after a failed read".to_owned(),
            ));
        };
        let mut buf = std::mem::take(&mut self.buf);
        let (follow, followed) = tokio::sync::mpsc::unbounded_channel();
        let (handled, handed_back) = tokio::sync::mpsc::unbounded_channel();
        let (scanned_in, mut scanned) = tokio::sync::mpsc::channel(SCANNED_AHEAD);
        let talk = Talk {
            batches: batches.into_iter().map(Arc::new).collect(),
            followed,
            handed_back,
            scanned: scanned_in,
            timeout,
        };
        let mut connection = tokio::spawn(async move {
            let talked = converse(&mut stream, &mut buf, talk).await;
            (stream, buf, talked)
        });
        let handing = async {
            let mut then = Vec::new();
            while let Some(batch) = scanned.recv().await {
                let Scanned { replies } = batch;
                each(&replies.get().0, &mut then).map_err(ReadFailure::Stopped)?;
                let mut followed_up = Vec::new();
                for batch in then.drain(..).filter(|batch| !batch.is_empty()) {
                    let batch = Arc::new(batch);
                    followed_up.push(Arc::clone(&batch));
                    // The sender ends only after this loop drops `follow`.
                    let _ = follow.send(batch);
                }
                let _ = handled.send(Handled {
                    followed_up,
                    spare: replies.into_backing_cart(),
                });
            }
            Ok::<(), ReadFailure>(())
        };
        if let Err(failure) = handing.await {
            // Replies may still be on their way: the connection is given up.
            connection.abort();
            return Err(failure);
        }
        drop(follow);
        let (stream, buf, talked) = (&mut connection)
            .await
            .map_err(|e| ReadFailure::Connection(format!("the connection's task failed: {e}")))?;
        talked?;
        self.stream = Some(stream);
        self.buf = buf;
        Ok(())
    }
}

/// Batches scanned and built ahead of the one being handed over, at most: enough to keep
/// both halves of a read busy, few enough that only a few batches of built replies are held
/// at once (each within [`MAX_BATCH_BYTES`] and [`MAX_BATCH_VALUES`]).
const SCANNED_AHEAD: usize = 2;

/// What the connection's task of a read works with.
struct Talk {
    /// The read's first batches.
    batches: Vec<Arc<Vec<Command>>>,
    /// The batches that follow others up, to send, in order.
    followed: tokio::sync::mpsc::UnboundedReceiver<Arc<Vec<Command>>>,
    /// For each batch handed over, in order: the batches that followed it up (each already
    /// through `followed`), and its buffers to use again.
    handed_back: tokio::sync::mpsc::UnboundedReceiver<Handled>,
    /// Each batch's replies, as scanned.
    scanned: tokio::sync::mpsc::Sender<Scanned>,
    timeout: Duration,
}

/// A batch's replies, all in and built, with the bytes they borrow from. Built on the
/// connection's task, where the tokens they are built from were just written: the replies'
/// building then runs on as many cores as there are nodes read, not on the one task that
/// hands every node's replies over.
struct Scanned {
    replies: Yoke<resp::Built<'static>, Box<Received>>,
}

/// A batch's bytes, and the tokens its scan wrote down: what its replies borrow from
/// (replies left as tokens, [`Reply::Scanned`], borrow the tokens too).
#[derive(Default)]
struct Received {
    bytes: Vec<u8>,
    tokens: Vec<resp::Token>,
}

/// A batch handed over: the batches that follow it up, and its buffers.
struct Handled {
    followed_up: Vec<Arc<Vec<Command>>>,
    spare: Box<Received>,
}

/// The connection's side of a read: send every batch (the first ones at once, then each
/// that follows others up as it comes) while receiving the replies, and pass each batch's
/// replies on once they are all in and scanned.
async fn converse(
    stream: &mut Box<dyn Duplex>,
    buf: &mut Vec<u8>,
    talk: Talk,
) -> Result<(), ReadFailure> {
    let Talk {
        batches,
        followed,
        handed_back,
        scanned,
        timeout,
    } = talk;
    let (mut from_server, mut to_server) = tokio::io::split(stream);
    let receive = receive_all(
        &mut from_server,
        buf,
        &batches,
        handed_back,
        scanned,
        timeout,
    );
    tokio::try_join!(send_all(&mut to_server, &batches, followed), receive).map(|_| ())
}

/// Receive the replies of every batch sent, in order, passing each batch's on through
/// `scanned` (which closes when this returns).
async fn receive_all(
    from_server: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
    batches: &[Arc<Vec<Command>>],
    mut handed_back: tokio::sync::mpsc::UnboundedReceiver<Handled>,
    scanned: tokio::sync::mpsc::Sender<Scanned>,
    timeout: Duration,
) -> Result<(), ReadFailure> {
    let mut owed = Owed::default();
    for number in 0.. {
        while let Ok(handled) = handed_back.try_recv() {
            owed.take(handled);
        }
        let batch = match batches.get(number) {
            Some(batch) => Arc::clone(batch),
            None => loop {
                if let Some(batch) = owed.later.pop_front() {
                    break batch;
                }
                if owed.unknown == 0 {
                    return no_bytes_left(buf);
                }
                match handed_back.recv().await {
                    Some(handled) => owed.take(handled),
                    // The other side stopped, and says why.
                    None => return Ok(()),
                }
            },
        };
        let mut received = owed.spares.pop().unwrap_or_default();
        let ends = receive_batch(
            buf,
            &mut received.tokens,
            from_server,
            (number, &batch),
            timeout,
        )
        .await?;
        // The batch's bytes are passed on with its tokens; what came after them stays, in
        // the spare's buffer, for the next batch.
        let end = ends.last().copied().unwrap_or(0);
        received.bytes.clear();
        received
            .bytes
            .extend_from_slice(buf.get(end..).unwrap_or_default());
        buf.truncate(end);
        std::mem::swap(buf, &mut received.bytes);
        let replies = Yoke::try_attach_to_cart(Box::new(received), |received| {
            parse_batch(received, (number, &batch)).map(resp::Built)
        })?;
        let passed = Scanned { replies };
        if scanned.send(passed).await.is_err() {
            // The other side stopped, and says why.
            return Ok(());
        }
        owed.unknown += 1;
    }
    no_bytes_left(buf)
}

/// What a read's receiving side knows of the batches handed over.
#[derive(Default)]
struct Owed {
    /// The batches that followed others up, in the order they were sent.
    later: VecDeque<Arc<Vec<Command>>>,
    /// Batches passed on whose follow-ups are not known yet.
    unknown: usize,
    /// Buffers to use again.
    spares: Vec<Received>,
}

impl Owed {
    fn take(&mut self, handled: Handled) {
        self.later.extend(handled.followed_up);
        self.unknown = self.unknown.saturating_sub(1);
        // Buffers grown large (by a large record, say) are given back.
        let mut spare = *handled.spare;
        if spare.bytes.capacity() > KEEP_BUFFER {
            spare.bytes = Vec::new();
        }
        if spare.tokens.capacity() > KEEP_TOKENS {
            spare.tokens = Vec::new();
        }
        if self.spares.len() < SCANNED_AHEAD + 2 {
            self.spares.push(spare);
        }
    }
}

/// Bytes past the last reply owed were never asked for: a later read must not take them
/// for its replies.
fn no_bytes_left(buf: &[u8]) -> Result<(), ReadFailure> {
    if buf.is_empty() {
        return Ok(());
    }
    Err(ReadFailure::Connection(format!(
        "the server sent {} bytes after the replies it owed; check that the URL is a Redis server's",
        buf.len()
    )))
}

/// A batch and its number in the read, for messages.
type Numbered<'b> = (usize, &'b [Command]);

/// Write every batch, one write per batch (the server reads them as fast as it answers),
/// then each batch that follows others up as it comes, until the receiver has no more.
async fn send_all(
    to_server: &mut (impl AsyncWrite + Unpin),
    batches: &[Arc<Vec<Command>>],
    mut followed: tokio::sync::mpsc::UnboundedReceiver<Arc<Vec<Command>>>,
) -> Result<(), ReadFailure> {
    let mut packed = Vec::new();
    for batch in batches {
        send_batch(to_server, batch, &mut packed).await?;
    }
    // TLS may hold the last bytes back until flushed.
    to_server.flush().await.map_err(cannot_send)?;
    while let Some(batch) = followed.recv().await {
        send_batch(to_server, &batch, &mut packed).await?;
        to_server.flush().await.map_err(cannot_send)?;
    }
    Ok(())
}

async fn send_batch(
    to_server: &mut (impl AsyncWrite + Unpin),
    batch: &[Command],
    packed: &mut Vec<u8>,
) -> Result<(), ReadFailure> {
    packed.clear();
    for command in batch {
        command.write_packed(packed);
    }
    to_server.write_all(packed).await.map_err(cannot_send)
}

async fn connect(address: &Address) -> Result<Box<dyn Duplex>, String> {
    Ok(match address {
        Address::Tcp { host, port } => Box::new(tcp(host, *port).await?),
        Address::Tls { host, port, config } => {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| format!("`{host}` is not a name TLS can check a certificate for"))?;
            let stream = tcp(host, *port).await?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            Box::new(tls)
        }
        #[cfg(unix)]
        Address::Unix(path) => Box::new(
            tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?,
        ),
    })
}

async fn tcp(host: &str, port: u16) -> Result<TcpStream, String> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    // Requests are written whole; Nagle's delay would only hold back the last one.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Why the server refused `AUTH` or `SELECT`, if it did. For `AUTH`, only the code: the
/// command held the password, and a server could echo it.
fn refusal(replies: &[Reply<'_>], endpoint: &Endpoint) -> Option<String> {
    let auth = usize::from(endpoint.password.is_some());
    replies
        .iter()
        .enumerate()
        .find_map(|(index, reply)| match reply {
            Reply::Error { code, .. } if index < auth => Some(format!(
                "authentication failed ({}): check the user and password in the URL",
                crate::text::untrusted(code)
            )),
            Reply::Error { code, details } => Some(format!(
                "SELECT {} failed: {}",
                endpoint.db,
                server_words(code, details)
            )),
            _ => None,
        })
}

/// Read until the batch's replies are all in: where each ends in `buf`, and in `tokens`
/// their values as scanned.
async fn receive_batch(
    buf: &mut Vec<u8>,
    tokens: &mut Vec<resp::Token>,
    from_server: &mut (impl AsyncRead + Unpin),
    batch: Numbered<'_>,
    timeout: Duration,
) -> Result<Vec<usize>, ReadFailure> {
    let deadline = Instant::now() + timeout;
    let mut scanner = Scanner::new(0);
    let commands = batch.1.len();
    let mut ends = Vec::with_capacity(commands);
    tokens.clear();
    while ends.len() < commands {
        let index = ends.len();
        match scanner.scan_into(buf, tokens) {
            Err(problem) => return Err(reply_failure(batch, index, problem)),
            Ok(Some(end)) => {
                ends.push(end);
                continue;
            }
            Ok(None) => {}
        }
        // Everything in the buffer belongs to this batch: its last reply is incomplete.
        within_batch_limits(buf.len(), scanner.values(), commands)
            .map_err(|problem| reply_failure(batch, index, problem))?;
        read_more(buf, from_server, deadline)
            .await
            .map_err(|late| match late {
                Late::Timeout => ReadFailure::Connection(format!(
                    "no complete reply to `{}` within {} (each batch of up to {} replies must be in within that time); the server is busy or the connection slow",
                    describe_command(batch.1.get(index)),
                    seconds(timeout),
                    crate::target::BATCH_SIZE
                )),
                Late::Failed(why) => ReadFailure::Connection(why),
            })?;
    }
    within_batch_limits(0, scanner.values(), commands)
        .map_err(|problem| reply_failure(batch, commands.saturating_sub(1), problem))?;
    Ok(ends)
}

/// A batch's replies, which [`receive_batch`] found complete, built from their tokens
/// (left as tokens for the commands that ask for it: [`Command::reply_scanned`]).
fn parse_batch<'b>(
    received: &'b Received,
    batch: Numbered<'_>,
) -> Result<Vec<Reply<'b>>, ReadFailure> {
    let commands = batch.1;
    let mut replies = Vec::with_capacity(commands.len());
    let keep = |n: usize| commands.get(n).is_some_and(Command::wants_reply_scanned);
    resp::build_replies(&received.bytes, &received.tokens, &mut replies, keep)
        .map_err(|p| reply_failure(batch, replies.len(), p))?;
    Ok(replies)
}

fn within_batch_limits(bytes: usize, values: usize, commands: usize) -> Result<(), ProtocolError> {
    if bytes > MAX_BATCH_BYTES {
        return Err(ProtocolError::OverLimit(format!(
            "the replies to its batch of {commands} commands take more than the {} a batch may take",
            size_text(MAX_BATCH_BYTES)
        )));
    }
    if values > MAX_BATCH_VALUES {
        return Err(ProtocolError::OverLimit(format!(
            "the replies to its batch of {commands} commands hold more than the {MAX_BATCH_VALUES} values a batch may hold"
        )));
    }
    Ok(())
}

/// Why no more bytes came.
enum Late {
    Timeout,
    Failed(String),
}

async fn read_more(
    buf: &mut Vec<u8>,
    from_server: &mut (impl AsyncRead + Unpin),
    deadline: Instant,
) -> Result<(), Late> {
    buf.reserve(READ_SIZE);
    match tokio::time::timeout_at(deadline, from_server.read_buf(buf)).await {
        Err(_) => Err(Late::Timeout),
        Ok(Err(e)) => Err(Late::Failed(format!("cannot read replies: {e}"))),
        Ok(Ok(0)) => Err(Late::Failed(
            "the server closed the connection before it replied".to_owned(),
        )),
        Ok(Ok(_)) => Ok(()),
    }
}

fn cannot_send(e: std::io::Error) -> ReadFailure {
    ReadFailure::Connection(format!("cannot send: {e}"))
}

/// The reply at `index` of `batch` failed.
fn reply_failure(
    (number, batch): Numbered<'_>,
    index: usize,
    problem: ProtocolError,
) -> ReadFailure {
    ReadFailure::Reply {
        batch: number,
        index,
        command: describe_command(batch.get(index)),
        problem,
    }
}

/// A command for a message (see [`Command::describe`]).
pub(crate) fn describe_command(command: Option<&Command>) -> String {
    command.map_or_else(|| "(no command)".to_owned(), Command::describe)
}

/// `30 s`, or `250 ms` for a timeout that is not whole seconds (tests set those).
pub(crate) fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_described_without_their_secrets() {
        let auth = Command::new("auth").arg("app").arg("s3cret");
        assert_eq!(describe_command(Some(&auth)), "AUTH");
        let groups = Command::new("XINFO")
            .arg("GROUPS")
            .arg("app:orders\n")
            .arg("x");
        assert_eq!(
            describe_command(Some(&groups)),
            "XINFO GROUPS app:orders\\n"
        );
        assert_eq!(describe_command(None), "(no command)");
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1500 ms");
    }
}
