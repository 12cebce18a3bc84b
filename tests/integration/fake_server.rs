//! A fake Redis, for the replies a real server never sends: malformed, oversized, nested too
//! deep, trickled too slowly. It answers the connection handshake the Redis client sends as a
//! Redis 7 does (`CLIENT SETINFO`, `HELLO`, `AUTH`, `SELECT`, `PING`), the deployment's discovery
//! as a standalone primary without replicas would, and the reads of a plan
//! as a Redis 7 with an empty database would, except for the commands a test scripts.
//! Everything else is tested against a real redis-server (see `super::redis`).
//!
//! Each test runs the real binary and checks that it exits 1 with one `error:` line naming
//! the command, in bounded time and memory (the child's peak RSS, from `wait4`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::util::{repo, topology_file};

/// What the fake server sends for a command.
pub enum Answer {
    /// These bytes, as the reply.
    Raw(Vec<u8>),
    /// These bytes, then zeros in 1 MiB writes until `total` bytes were sent or the client
    /// hangs up; then silence, the connection kept open (a server sending a huge reply).
    Flood { head: Vec<u8>, total: usize },
    /// These bytes one at a time, `every` apart (a server too slow to answer).
    Trickle { bytes: Vec<u8>, every: Duration },
}

type Script = dyn Fn(&[String]) -> Option<Answer> + Send + Sync;

/// A fake server on a free loopback port, stopped when dropped.
pub struct FakeServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    /// Answer each command with what `script` gives for it, or else as Redis 7 would.
    pub fn start(script: impl Fn(&[String]) -> Option<Answer> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let script = Arc::clone(&script);
                let stopped = Arc::clone(&stopped);
                std::thread::spawn(move || serve(stream, &*script, &stopped));
            }
        });
        FakeServer { port, stop }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One connection: commands in, answers out, in order, until the client hangs up.
fn serve(stream: TcpStream, script: &Script, stop: &AtomicBool) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut commands = BufReader::new(read_half);
    let mut out = stream;
    while let Some(command) = read_command(&mut commands) {
        let answer = script(&command).unwrap_or_else(|| Answer::Raw(as_redis_7(&command)));
        if send(&mut out, answer, stop).is_err() {
            return;
        }
    }
}

fn send(out: &mut TcpStream, answer: Answer, stop: &AtomicBool) -> std::io::Result<()> {
    match answer {
        Answer::Raw(bytes) => out.write_all(&bytes),
        Answer::Flood { head, total } => {
            out.write_all(&head)?;
            let zeros = vec![b'0'; 1 << 20];
            let mut sent = 0;
            while sent < total && !stop.load(Ordering::SeqCst) {
                out.write_all(&zeros)?;
                sent += zeros.len();
            }
            // Hold the connection open, silent, until the client gives up.
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                out.write_all(&[])?;
            }
            Ok(())
        }
        Answer::Trickle { bytes, every } => {
            for byte in bytes {
                out.write_all(&[byte])?;
                out.flush()?;
                std::thread::sleep(every);
            }
            Ok(())
        }
    }
}

/// A command as clients send them: an array of bulk strings.
fn read_command(input: &mut impl BufRead) -> Option<Vec<String>> {
    let count: usize = line(input)?.strip_prefix('*')?.parse().ok()?;
    (0..count)
        .map(|_| {
            let len: usize = line(input)?.strip_prefix('$')?.parse().ok()?;
            let mut arg = vec![0; len + 2];
            input.read_exact(&mut arg).ok()?;
            arg.truncate(len);
            Some(String::from_utf8_lossy(&arg).into_owned())
        })
        .collect()
}

fn line(input: &mut impl BufRead) -> Option<String> {
    let mut text = String::new();
    input.read_line(&mut text).ok()?;
    let text = text.strip_suffix("\r\n")?;
    Some(text.to_owned())
}

/// What a Redis 7 with an empty database answers (RESP2).
fn as_redis_7(command: &[String]) -> Vec<u8> {
    let upper: Vec<String> = command.iter().map(|a| a.to_ascii_uppercase()).collect();
    let words: Vec<&str> = upper.iter().map(String::as_str).collect();
    let reply: &[u8] = match words.as_slice() {
        ["PING", ..] => b"+PONG\r\n",
        ["CLIENT", ..] | ["AUTH", ..] | ["SELECT", ..] => b"+OK\r\n",
        ["HELLO", ..] => {
            return b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n".to_vec();
        }
        ["TIME", ..] => b"*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n",
        ["CONFIG", "GET", "STREAM-NODE-MAX-ENTRIES"] => {
            b"*2\r\n$23\r\nstream-node-max-entries\r\n$3\r\n100\r\n"
        }
        ["CONFIG", "GET", "CLUSTER-ENABLED"] => b"*2\r\n$15\r\ncluster-enabled\r\n$2\r\nno\r\n",
        ["CONFIG", "GET", ..] => b"*0\r\n",
        ["ROLE"] => b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n",
        ["GET", ..] => b"$-1\r\n",
        ["TYPE", ..] => b"+none\r\n",
        ["XLEN", ..] => b":0\r\n",
        ["XINFO", ..] => b"-ERR no such key\r\n",
        ["XRANGE", ..] | ["XREVRANGE", ..] => b"*0\r\n",
        _ => b"-ERR unknown command\r\n",
    };
    reply.to_vec()
}

/// How a run of the binary ended.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident memory, in KiB.
    peak_kib: i64,
}

/// Run the binary with `args` (and `--url` of the fake server), and `env`; kill it if it
/// has not exited after a minute.
///
/// Its peak memory is its `VmHWM` (the high-water mark of its own address space), sampled
/// every 2 ms until it exits: not `ru_maxrss` from `wait4`, which on Linux keeps the
/// high-water mark of the address space the child had before `exec`, the test process's own
/// (spawned with `CLONE_VM`), so it grows with whatever the other tests of this process hold.
/// A reader that took a flood in would take it in over many samples, so the last sample
/// before exit misses nothing that matters here.
fn run(args: &[&str], server: &FakeServer, env: &[(&str, &str)]) -> Outcome {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_redis-topology"))
        .args(args)
        .args(["--url", &server.url()])
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env_remove("REDIS_URL")
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run redis-topology");
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut peak_kib = 0;
    let status = loop {
        peak_kib = peak_kib.max(vm_hwm_kib(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().expect("wait for redis-topology") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Outcome {
        code: status.code(),
        stdout: stdout.join().expect("stdout read"),
        stderr: stderr.join().expect("stderr read"),
        peak_kib,
    }
}

/// A running process's `VmHWM`, in KiB (`None` once it has exited).
fn vm_hwm_kib(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Everything a pipe gives until it closes, read on a thread of its own.
fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

const TOPOLOGY: &str = "version: 1
namespace: app
streams:
  orders:
    retention: { maxlen: 1000 }
    groups:
      workers: { start: \"$\" }
";

/// `plan` against a server answering as `script` says: it must fail with one `error:` line
/// holding each of `expected`, without a panic. Returns the outcome for more checks.
fn plan_fails(
    script: impl Fn(&[String]) -> Option<Answer> + Send + Sync + 'static,
    env: &[(&str, &str)],
    expected: &[&str],
) -> Outcome {
    let server = FakeServer::start(script);
    let file = topology_file(TOPOLOGY);
    let path = file.path().to_str().expect("utf-8 path");
    let out = run(&["plan", path], &server, env);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: "),
        "one error line: {}",
        out.stderr
    );
    for part in expected {
        assert!(out.stderr.contains(part), "{part:?} in {}", out.stderr);
    }
    out
}

/// Whether `command` starts with the words of `name` (`"XINFO GROUPS"`), in any case.
fn is(command: &[String], name: &str) -> bool {
    let words: Vec<&str> = name.split(' ').collect();
    command.len() >= words.len()
        && command
            .iter()
            .zip(&words)
            .all(|(arg, word)| arg.eq_ignore_ascii_case(word))
}

/// `orders` exists as a stream, so the plan reads its `XLEN` and `XINFO GROUPS`.
fn stream_with(
    xlen: &'static [u8],
    groups: &'static [u8],
) -> impl Fn(&[String]) -> Option<Answer> + Send + Sync + 'static {
    move |command| {
        if is(command, "TYPE") {
            Some(Answer::Raw(b"+stream\r\n".to_vec()))
        } else if is(command, "XLEN") {
            Some(Answer::Raw(xlen.to_vec()))
        } else if is(command, "XINFO GROUPS") {
            Some(Answer::Raw(groups.to_vec()))
        } else {
            None
        }
    }
}

#[test]
fn a_bulk_string_not_followed_by_crlf_is_an_error() {
    plan_fails(
        |command| is(command, "GET").then(|| Answer::Raw(b"$3\r\nabcXY:1\r\n".to_vec())),
        &[],
        &["`GET {__topology__:app}:record`", "not followed by"],
    );
}

#[test]
fn a_string_of_i64_max_bytes_is_refused_at_once() {
    plan_fails(
        |command| is(command, "TYPE").then(|| Answer::Raw(b"$9223372036854775807\r\n".to_vec())),
        &[],
        &["`TYPE app:orders`", "9223372036854775807", "64 MiB"],
    );
}

/// The server announces a record of 1 GiB and starts sending it: the plan refuses it from
/// its header and never holds more than a little of it (the reader of the Redis client took
/// 2.6 GB for this).
#[test]
fn a_declared_gibibyte_is_refused_without_reading_it() {
    let out = plan_fails(
        |command| {
            is(command, "GET").then(|| Answer::Flood {
                head: b"$1073741824\r\n".to_vec(),
                total: 300 << 20,
            })
        },
        &[],
        &[
            "the record `{__topology__:app}:record`",
            "1073741824",
            "64 MiB",
        ],
    );
    assert!(
        out.peak_kib > 0 && out.peak_kib < 200 * 1024,
        "peak memory {} MiB",
        out.peak_kib / 1024
    );
}

#[test]
fn a_negative_length_is_an_error() {
    plan_fails(
        stream_with(b":-5\r\n", b"*0\r\n"),
        &[],
        &["XLEN app:orders", "-5"],
    );
}

#[test]
fn a_broken_group_entry_is_an_error_not_dropped() {
    plan_fails(
        stream_with(
            b":3\r\n",
            b"*1\r\n*8\r\n$4\r\nname\r\n$7\r\nworkers\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n$3\r\nabc\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n",
        ),
        &[],
        &["XINFO GROUPS app:orders", "`workers`", "pending"],
    );
    plan_fails(
        stream_with(
            b":3\r\n",
            b"*1\r\n*6\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n",
        ),
        &[],
        &["XINFO GROUPS app:orders", "no name"],
    );
}

#[test]
fn a_reply_nested_too_deep_is_an_error() {
    plan_fails(
        |command| {
            is(command, "CONFIG GET stream-node-max-entries").then(|| {
                let mut deep = "*1\r\n".repeat(40).into_bytes();
                deep.extend(b":1\r\n");
                Answer::Raw(deep)
            })
        },
        &[],
        &["`CONFIG GET stream-node-max-entries`", "32 deep"],
    );
}

/// A reply that trickles in, a byte at a time, times out as a whole: the clock does not
/// start again with every byte received.
#[test]
fn a_reply_trickling_in_times_out() {
    plan_fails(
        |command| {
            is(command, "TYPE").then(|| Answer::Trickle {
                bytes: b"+stream\r\n".to_vec(),
                every: Duration::from_millis(400),
            })
        },
        &[("REDIS_TOPOLOGY_RESPONSE_TIMEOUT_MS", "1000")],
        &["`TYPE app:orders`", "within 1 s"],
    );
}

/// A message sample with an entry of 512 MB is refused, naming the stream, before any of
/// it is read.
#[test]
fn a_sample_larger_than_a_reply_may_be_is_refused() {
    let server = FakeServer::start(|command| {
        is(command, "XREVRANGE").then(|| {
            Answer::Raw(b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$7\r\npayload\r\n$536870912\r\n".to_vec())
        })
    });
    let file = topology_file(
        "version: 1
namespace: app
schemas:
  task:
    encoding: json
    field: payload
    versions:
      1: { schema: { type: object } }
streams:
  tasks:
    schema: task
    retention: { maxlen: 1000 }
",
    );
    let path = file.path().to_str().expect("utf-8 path");
    let out = run(&["check-messages", path], &server, &[]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    for part in ["`app:tasks`", "536870912", "64 MiB", "--sample"] {
        assert!(out.stderr.contains(part), "{part:?} in {}", out.stderr);
    }
}

/// The record of `TOPOLOGY` as an apply writes it: `app:orders` with its group.
const RECORD: &str = r#"{"format":1,"environment":null,"digest":"936e60ff0fa96140af1691d0099c95822c3fc6998c538bc0053285bf99b37d39","applied_at_ms":1796288792314,"tool_version":"0.1.0","streams":{"app:orders":{"groups":{"workers":{"start":"$"}}}},"users":[]}"#;

/// A server whose record names `app:orders`, which answers `XLEN` with 0, `XINFO GROUPS`
/// with `ERR` and these words, and `TYPE` with `kind`.
fn recorded_stream_answering(
    words: &'static str,
    kind: &'static str,
) -> impl Fn(&[String]) -> Option<Answer> + Send + Sync + 'static {
    move |command| {
        let bulk = |text: &str| format!("${}\r\n{text}\r\n", text.len()).into_bytes();
        // The record under its name; nothing under its old name (the default `GET` answer).
        if is(command, "GET {__topology__:app}:record") {
            Some(Answer::Raw(bulk(RECORD)))
        } else if is(command, "XINFO GROUPS") {
            Some(Answer::Raw(format!("-ERR {words}\r\n").into_bytes()))
        } else if is(command, "TYPE") {
            Some(Answer::Raw(format!("+{kind}\r\n").into_bytes()))
        } else {
            None
        }
    }
}

/// A recorded stream that is gone is told by the codes of the replies and its `TYPE`, not by
/// the words "no such key": a server that words it otherwise still gets it created again.
#[test]
fn a_missing_key_is_told_by_codes_not_words() {
    let server = FakeServer::start(recorded_stream_answering("the key is gone", "none"));
    let file = topology_file(TOPOLOGY);
    let path = file.path().to_str().expect("utf-8 path");
    let out = run(&["plan", path, "--format", "json"], &server, &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("a JSON plan");
    let created = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .any(|c| c["address"] == "stream.orders" && c["action"] == "create");
    assert!(created, "{plan:#}");
}

/// When the key holds a stream after all, `XINFO GROUPS` failed: said in the server's words.
#[test]
fn xinfo_groups_failing_on_an_empty_stream_is_reported() {
    plan_fails(
        recorded_stream_answering("unknown command 'XINFO'", "stream"),
        &[],
        &["`XINFO GROUPS app:orders` failed: ERR unknown command 'XINFO'"],
    );
}

/// Replies nobody asked for are an error, never taken by a later read for its own.
#[test]
fn replies_nobody_asked_for_are_an_error() {
    plan_fails(
        |command| is(command, "TYPE").then(|| Answer::Raw(b"+none\r\n:1\r\n".to_vec())),
        &[],
        &["after the replies it owed"],
    );
}

/// Something that is not a Redis server (here, an HTTP server) is named as such, not with
/// the client's "Incompatible type - Parse error at 1".
#[test]
fn a_listener_that_is_not_redis_is_named_as_such() {
    use std::io::Write as _;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 1024];
            let _ = Read::read(&mut stream, &mut request);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let file =
        topology_file("version: 1\nnamespace: app\nstreams:\n  orders: { retention: unbounded }\n");
    let out = super::util::bin()
        .arg("plan")
        .arg(file.path())
        .args(["--url", &format!("redis://127.0.0.1:{port}")])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run plan");
    let all = super::util::text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("is not a Redis server"), "{all}");
    assert!(!all.contains("Parse error"), "{all}");
}
