//! A real `redis-server` for tests: started on a free loopback port in a temporary directory,
//! stopped (killed) when dropped. No test needs a running service, and none silently skips:
//! without `redis-server` on PATH a test fails with the command that installs it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user and password of [`RedisServer::create_admin`].
const ADMIN: (&str, &str) = ("test-admin", "test-admin-pw");

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
        Self::spawn(extra, false)
    }

    /// A fresh server that speaks only TLS, with this certificate and key (PEM files).
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> RedisServer {
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let tls = [
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-auth-clients",
            "no",
        ];
        Self::spawn(&tls, true)
    }

    fn spawn(extra: &[&str], tls: bool) -> RedisServer {
        let binary = find_redis_server();
        for _attempt in 0..5 {
            let port = free_port();
            let port_text = port.to_string();
            let ports = if tls {
                ["--port", "0", "--tls-port", &port_text]
            } else {
                ["--port", &port_text, "--tls-port", "0"]
            };
            let dir = tempfile::tempdir().expect("temp dir for redis-server");
            let child = Command::new(&binary)
                .args(ports)
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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
            if server.wait_ready(tls || extra.contains(&"--requirepass")) {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("redis-server did not start on a free port after 5 attempts");
    }

    /// Wait until the server answers; `port_only`: just accepts connections (a server that
    /// needs a password or TLS cannot be PINGed by the plain client).
    fn wait_ready(&mut self, port_only: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: the port was taken meanwhile
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                if port_only {
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
        command(args)
            .query(&mut self.con())
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Create `test-admin`, a user with every permission, for a test's own checks once a
    /// topology has disabled `default` (which [`Self::cmd`] connects as).
    pub fn create_admin(&self) {
        self.cmd::<String>(&[
            "ACL",
            "SETUSER",
            ADMIN.0,
            "on",
            &format!(">{}", ADMIN.1),
            "~*",
            "&*",
            "+@all",
        ]);
    }

    /// Like [`Self::cmd`], logged in as `test-admin` (see [`Self::create_admin`]).
    pub fn admin_cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let url = format!("redis://{}:{}@127.0.0.1:{}", ADMIN.0, ADMIN.1, self.port);
        let mut admin = redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("connect as test-admin (call create_admin first)");
        command(args)
            .query(&mut admin)
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

/// A command from its words.
pub fn command(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd
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
