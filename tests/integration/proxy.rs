//! A TCP proxy between the tool and a redis-server, for drills of a bad network: it forwards
//! bytes as they come, and can be told at runtime to delay every chunk, to stall (hold all
//! bytes in both directions and deliver them when resumed, as a slow link does), to stall by
//! itself once a condition holds (so a drill can freeze an apply at a precise point, such as
//! right after it took the lock), and to cut every open connection.
//!
//! Plain threads and blocking sockets: two threads per connection, one per direction.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A condition checked before each chunk a client sends is forwarded.
type Trigger = Arc<dyn Fn() -> bool + Send + Sync>;

pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: u16,
    delay_ms: AtomicU64,
    stop: AtomicBool,
    link: Mutex<Link>,
    /// Signalled when the link is resumed or connections are cut.
    changed: Condvar,
}

#[derive(Default)]
struct Link {
    stalled: bool,
    stall_when: Option<Trigger>,
    open: Vec<Connection>,
    accepted: usize,
}

/// Both sockets of one proxied connection, to cut it.
struct Connection {
    client: TcpStream,
    server: TcpStream,
    cut: Arc<AtomicBool>,
}

impl Proxy {
    /// Listen on a free loopback port and forward every connection to `upstream` there.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let shared = Arc::new(Shared {
            upstream,
            delay_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            link: Mutex::new(Link::default()),
            changed: Condvar::new(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept(&listener, &shared))
        };
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Delay every chunk, in either direction, by `delay` (zero: forward at once).
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Hold every byte, in both directions, until [`Proxy::resume`].
    pub fn stall(&self) {
        self.shared.link().stalled = true;
    }

    /// Stall once `condition` holds, checked before each chunk a client sends is forwarded:
    /// that chunk is the first one held.
    pub fn stall_when(&self, condition: impl Fn() -> bool + Send + Sync + 'static) {
        self.shared.link().stall_when = Some(Arc::new(condition));
    }

    pub fn is_stalled(&self) -> bool {
        self.shared.link().stalled
    }

    /// Deliver what was held, and forward from now on (a pending [`Proxy::stall_when`] is
    /// dropped).
    pub fn resume(&self) {
        let mut link = self.shared.link();
        link.stalled = false;
        link.stall_when = None;
        self.shared.changed.notify_all();
    }

    /// Close every open connection on both sides, dropping what was held for them; new
    /// connections are accepted as before.
    pub fn cut(&self) {
        let mut link = self.shared.link();
        for connection in link.open.drain(..) {
            connection.cut.store(true, Ordering::SeqCst);
            let _ = connection.client.shutdown(Shutdown::Both);
            let _ = connection.server.shutdown(Shutdown::Both);
        }
        self.shared.changed.notify_all();
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.link().accepted
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.resume();
        self.cut();
        // Wake the acceptor from `accept` so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Shared {
    fn link(&self) -> MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait while the link is stalled; `false` when the connection was cut meanwhile.
    /// `from_client`: a chunk on its way to the server, which may set off `stall_when`.
    fn pass(&self, cut: &AtomicBool, from_client: bool) -> bool {
        if from_client {
            let trigger = self.link().stall_when.clone();
            if let Some(trigger) = trigger
                && trigger()
            {
                let mut link = self.link();
                link.stalled = true;
                link.stall_when = None;
            }
        }
        let mut link = self.link();
        while link.stalled && !cut.load(Ordering::SeqCst) {
            link = self
                .changed
                .wait(link)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !cut.load(Ordering::SeqCst)
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(("127.0.0.1", shared.upstream)) else {
            continue; // the client sees its connection closed
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let cut = Arc::new(AtomicBool::new(false));
        let clones = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        );
        let (Ok(client_in), Ok(server_out), Ok(client_kept), Ok(server_kept)) = clones else {
            continue;
        };
        {
            let mut link = shared.link();
            link.accepted += 1;
            link.open.push(Connection {
                client: client_kept,
                server: server_kept,
                cut: Arc::clone(&cut),
            });
        }
        for (from, to, from_client) in [(client_in, server_out, true), (server, client, false)] {
            let (shared, cut) = (Arc::clone(shared), Arc::clone(&cut));
            std::thread::spawn(move || pump(from, to, &shared, &cut, from_client));
        }
    }
}

/// Forward one direction, chunk by chunk, until either side closes or the connection is cut.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    shared: &Shared,
    cut: &AtomicBool,
    from_client: bool,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let delay = shared.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if !shared.pass(cut, from_client) || to.write_all(&chunk[..read]).is_err() {
            break;
        }
    }
    // Pass the end on: the other side sees this side close.
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::Proxy;
    use crate::redis::RedisServer;

    /// Poll `condition` for up to 30 s.
    fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn raw(proxy: &Proxy) -> TcpStream {
        let stream = TcpStream::connect(proxy.url().trim_start_matches("redis://"))
            .expect("connect to the proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        stream
    }

    /// Read exactly `expected.len()` bytes and compare.
    fn expect_reply(stream: &mut TcpStream, expected: &[u8]) {
        let mut reply = vec![0u8; expected.len()];
        stream.read_exact(&mut reply).expect("a reply");
        assert_eq!(
            String::from_utf8_lossy(&reply),
            String::from_utf8_lossy(expected)
        );
    }

    /// Nothing arrives for a while (a stalled link). A loaded machine can only make this
    /// pass more slowly, never wrongly fail.
    fn expect_nothing(stream: &mut TcpStream) {
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("read timeout");
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte);
        assert!(
            matches!(&read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "got {read:?} through a stalled link"
        );
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
    }

    #[test]
    fn forwards_and_delays() {
        let server = RedisServer::start();
        let proxy = Proxy::start(server.port);
        let mut con = redis::Client::open(proxy.url())
            .expect("client")
            .get_connection()
            .expect("connect through the proxy");
        redis::cmd("SET")
            .arg("through")
            .arg("proxy")
            .query::<()>(&mut con)
            .expect("SET through the proxy");
        assert_eq!(server.cmd::<String>(&["GET", "through"]), "proxy");
        proxy.delay(Duration::from_millis(300));
        let started = Instant::now();
        let pong: String = redis::cmd("PING").query(&mut con).expect("PING");
        assert_eq!(pong, "PONG");
        // A request and its reply, each delayed.
        assert!(
            started.elapsed() >= Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn stalls_hold_both_directions_until_resumed() {
        let server = RedisServer::start();
        let proxy = Proxy::start(server.port);
        let mut stream = raw(&proxy);
        // Towards the server: a command sent while stalled does not run.
        proxy.stall();
        stream.write_all(b"SET held 1\r\n").expect("send");
        expect_nothing(&mut stream);
        assert_eq!(server.cmd::<Option<String>>(&["GET", "held"]), None);
        proxy.resume();
        expect_reply(&mut stream, b"+OK\r\n");
        assert_eq!(server.cmd::<String>(&["GET", "held"]), "1");
        // Towards the client: a reply the server sends while stalled is held.
        stream.write_all(b"BLPOP queue 0\r\n").expect("send");
        eventually("BLPOP to block", || {
            let info: String = server.cmd(&["INFO", "clients"]);
            info.contains("blocked_clients:1")
        });
        proxy.stall();
        server.cmd::<i64>(&["RPUSH", "queue", "x"]);
        expect_nothing(&mut stream);
        proxy.resume();
        expect_reply(&mut stream, b"*2\r\n$5\r\nqueue\r\n$1\r\nx\r\n");
    }

    #[test]
    fn a_condition_stalls_the_first_chunk_after_it_holds() {
        let server = RedisServer::start();
        let proxy = Proxy::start(server.port);
        let checker = std::sync::Mutex::new(server.con());
        proxy.stall_when(move || {
            let mut con = checker
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            redis::cmd("EXISTS")
                .arg("trigger")
                .query::<i64>(&mut *con)
                .is_ok_and(|n| n == 1)
        });
        let mut stream = raw(&proxy);
        stream.write_all(b"SET trigger 1\r\n").expect("send");
        expect_reply(&mut stream, b"+OK\r\n");
        assert!(!proxy.is_stalled());
        stream.write_all(b"SET after 1\r\n").expect("send");
        eventually("the stall", || proxy.is_stalled());
        expect_nothing(&mut stream);
        assert_eq!(server.cmd::<Option<String>>(&["GET", "after"]), None);
        proxy.resume();
        expect_reply(&mut stream, b"+OK\r\n");
        assert_eq!(server.cmd::<String>(&["GET", "after"]), "1");
    }

    #[test]
    fn cuts_close_open_connections_on_both_sides() {
        let server = RedisServer::start();
        let proxy = Proxy::start(server.port);
        let mut stream = raw(&proxy);
        stream
            .write_all(b"CLIENT SETNAME doomed\r\n")
            .expect("send");
        expect_reply(&mut stream, b"+OK\r\n");
        proxy.stall();
        stream.write_all(b"SET lost 1\r\n").expect("send");
        proxy.cut();
        let mut rest = Vec::new();
        // The client sees its connection end (EOF or a reset), not a reply.
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{rest:?}");
        eventually("the server to drop the connection", || {
            let clients: String = server.cmd(&["CLIENT", "LIST"]);
            !clients.contains("name=doomed")
        });
        assert_eq!(
            server.cmd::<Option<String>>(&["GET", "lost"]),
            None,
            "held bytes were dropped"
        );
        // New connections still go through.
        proxy.resume();
        let mut again = raw(&proxy);
        again.write_all(b"PING\r\n").expect("send");
        expect_reply(&mut again, b"+PONG\r\n");
        assert_eq!(proxy.accepted(), 2);
    }
}
