//! A real `redis-server` for tests: started on a free loopback port in a temporary directory,
//! stopped (killed) when dropped. No test needs a running service, and none silently skips:
//! without `redis-server` on PATH a test fails with the command that installs it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// A fresh server with no persistence.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A fresh server with extra `redis-server` arguments (e.g. `--requirepass x`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let binary = find_redis_server();
        for _attempt in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir for redis-server");
            let child = Command::new(&binary)
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
                .arg("--dir")
                .arg(dir.path())
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut server = RedisServer {
                child,
                port,
                _dir: dir,
            };
            if server.wait_ready(extra) {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("redis-server did not start on a free port after 5 attempts");
    }

    fn wait_ready(&mut self, extra: &[&str]) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let needs_auth = extra.contains(&"--requirepass");
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: the port was taken meanwhile
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                if needs_auth {
                    return true;
                }
                if let Ok(mut con) = self.client().get_connection()
                    && redis::cmd("PING").query::<String>(&mut con).is_ok()
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn con(&self) -> redis::Connection {
        self.client()
            .get_connection()
            .expect("connect to the test redis-server")
    }

    /// Run one command and return its reply.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(&mut self.con())
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Commands the server ran since the last `CONFIG RESETSTAT`, by name (`xgroup|create`).
    pub fn commandstats(&self) -> Vec<String> {
        let info: String = self.cmd(&["INFO", "commandstats"]);
        info.lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .filter_map(|l| l.split(':').next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn find_redis_server() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not installed, and the plan/apply tests need a real one. Install it: `apt-get install -y redis-server` (.ci/run does this)"
            )
        })
}
