//! What the benchmarks share: fresh local redis-servers, `redis-cli --pipe` as the
//! reference, and running the tool with its peak memory.

// Each benchmark uses some of these.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        Server::start_on(port, &[])
    }

    /// A server on `port` with extra arguments (a cluster node's).
    pub fn start_on(port: u16, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed: apt-get install -y redis-server");
        let server = Server {
            child,
            port,
            _dir: dir,
        };
        while Command::new("redis-cli")
            .args(["-p", &port.to_string(), "ping"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RESP encoding of commands, for `redis-cli --pipe`.
pub fn resp(commands: &[Vec<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    for command in commands {
        let _ = write!(out, "*{}\r\n", command.len());
        for arg in command {
            let _ = write!(out, "${}\r\n{arg}\r\n", arg.len());
        }
    }
    out
}

pub fn pipe(server: &Server, commands: &[Vec<String>]) -> Duration {
    pipe_to(server.port, commands)
}

/// [`pipe`] to whatever listens on `port` (a [`SlowLink`] in front of a server).
pub fn pipe_to(port: u16, commands: &[Vec<String>]) -> Duration {
    let data = resp(commands);
    let start = Instant::now();
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-cli must be installed");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&data).expect("pipe commands");
    }
    let status = child.wait().expect("redis-cli");
    assert!(status.success());
    start.elapsed()
}

/// Run redis-topology; returns its wall time and peak resident memory (`ru_maxrss` from
/// wait4(2), in MB: exact, where sampling /proc would miss short peaks and add latency).
pub fn run_tool(args: &[&str], file: &Path, server: &Server) -> (Duration, f64) {
    run_tool_exiting(args, file, server, &[0])
}

/// [`run_tool`] for a command whose exit code may be one of `codes` (`status`: 2 or 3).
pub fn run_tool_exiting(
    args: &[&str],
    file: &Path,
    server: &Server,
    codes: &[i32],
) -> (Duration, f64) {
    run_tool_at(args, file, &server.url(), codes)
}

/// Starts the tool and reports its wall time, exit code and peak memory. Why a small Python
/// process in between: a child started by this benchmark (posix_spawn, vfork underneath)
/// reports in its `ru_maxrss` the peak of the process that started it, since Linux keeps an
/// exec'ing process's old peak (measured: /bin/true started from a process of 400 MB reports
/// 413 MB). This benchmark holds hundreds of MB of reference commands; the launcher, a real
/// fork of a ~10 MB process, does not. It times the tool itself, so its own start-up is not
/// counted.
const LAUNCHER: &str = r#"
import os, sys, time
null = os.open(os.devnull, os.O_WRONLY)
start = time.monotonic()
pid = os.fork()
if pid == 0:
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
elapsed = time.monotonic() - start
print(os.waitstatus_to_exitcode(status), elapsed, usage.ru_maxrss)
"#;

/// [`run_tool_exiting`] against the server at `url`.
pub fn run_tool_at(args: &[&str], file: &Path, url: &str, codes: &[i32]) -> (Duration, f64) {
    let url = ["--url".to_owned(), url.to_owned()];
    let url: &[String] = if args.first() == Some(&"validate") {
        &[]
    } else {
        &url
    };
    let output = Command::new("python3")
        .args(["-c", LAUNCHER, env!("CARGO_BIN_EXE_redis-topology")])
        .args(args)
        .arg(file)
        .args(url)
        .stderr(Stdio::inherit())
        .output()
        .expect("run redis-topology through python3 (the launcher that measures its memory)");
    let report = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = report.split_whitespace().collect();
    let [code, seconds, max_rss_kb] = fields.as_slice() else {
        panic!("the launcher of redis-topology {args:?} reported {report:?}");
    };
    let code: i32 = code.parse().expect("exit code");
    assert!(
        codes.contains(&code),
        "redis-topology {args:?} exited with {code}"
    );
    let seconds: f64 = seconds.parse().expect("seconds");
    let max_rss_kb: f64 = max_rss_kb.parse().expect("peak memory");
    (Duration::from_secs_f64(seconds), max_rss_kb / 1024.0)
}

/// The median of each run's tool / reference ratio. This machine's speed drifts by tens of
/// percent over minutes; each run's tool and reference times are taken within a second or
/// so of each other, so the ratio of each pair cancels most of the drift that a ratio of
/// medians keeps.
pub fn paired(ours: &[Duration], reference: &[Duration]) -> f64 {
    let mut ratios: Vec<f64> = ours
        .iter()
        .zip(reference)
        .map(|(o, r)| o.as_secs_f64() / r.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A link with `delay` of latency each way in front of a local port, as a network between
/// the tool and a server in another zone: each chunk read is forwarded `delay` after it was
/// read, so latency is added without limiting throughput (a batch in flight is not held up
/// by the one before it). Its threads end with their connections; the listener with the
/// benchmark.
pub struct SlowLink {
    pub port: u16,
}

impl SlowLink {
    pub fn start(upstream: u16, delay: Duration) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the link");
        let port = listener.local_addr().expect("its address").port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                std::thread::spawn(move || delayed(client_in, server, delay));
                std::thread::spawn(move || delayed(server_in, client, delay));
            }
        });
        SlowLink { port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// Forward what `from` sends to `to`, each chunk `delay` after it came.
fn delayed(mut from: std::net::TcpStream, mut to: std::net::TcpStream, delay: Duration) {
    use std::io::Read as _;
    let (chunks, received) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (read_at, chunk) in received {
            let due = read_at + delay;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if chunks.send((Instant::now(), buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(chunks);
    let _ = writer.join();
}
