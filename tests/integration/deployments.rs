//! Deployments of several servers, for the Redis Cluster, Sentinel and replica tests (issue
//! 15): [`LocalCluster`], [`ReplicatedPrimary`] and [`SentinelSet`]. Every node runs the
//! server binary of this test run ([`server_binary`], so `REDIS_SERVER_BIN=valkey-server`
//! gives a Valkey cluster), on a loopback port of its own, in its own temporary folder; every
//! process is killed when its deployment is dropped. The harness talks to the nodes with the
//! `redis` crate's blocking client, never with `redis-cli` (some tested servers ship without
//! it).
//!
//! Ports: a node gets a port `p` with `p + 10000` (a cluster node's bus port) free too, both
//! below the kernel's ephemeral range: the tool's and the tests' outgoing connections take
//! their local ports from that range, so a node killed by a test finds its port free again
//! when the test restarts it.
//!
//! Every wait is bounded and a deployment that does not come up panics naming the node, what
//! it last said and the end of its log. A server that cannot run in cluster or sentinel mode
//! fails the test and says so; nothing is skipped. All the servers CI tests (Redis 7.0.15,
//! 7.2.4, 7.4.1, 8.2.3; Valkey 8.0.1, 8.1.8, 9.1.2) run both modes.
//!
//! A deployment dereferences to its [`Nodes`] (per-port helpers: `cmd_on`, `con`, `kill`, ...);
//! `restart` belongs to each deployment, which knows what "back" means for it.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt::Display;
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::net::TcpListener;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::redis::{ADMIN, command, server_binary};

/// How long a deployment may take to become healthy (2 shared cores, other tests running).
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);
/// How long a started server may take to answer PING.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// The master name the sentinels of a [`SentinelSet`] monitor.
const MASTER_NAME: &str = "topology-test";
/// A node's log file, and the file that gets its stdout and stderr, in its folder.
const LOG: &str = "server.log";
const CONSOLE: &str = "console.log";
/// Hash slots of a Redis Cluster.
const SLOTS: usize = 16384;

/// How the nodes of a deployment are started. The default: no aclfile, no admin user, no
/// extra arguments, sentinels without a password.
#[derive(Clone, Debug, Default)]
pub struct Options {
    aclfile: bool,
    admin: bool,
    extra_args: Vec<String>,
    sentinel_password: Option<String>,
}

impl Options {
    /// Start every data node with `--aclfile users.acl` in its folder, so that `ACL SAVE`
    /// works and saved users survive a restart. The file is empty (it holds the admin user
    /// with [`Self::admin`]); see [`Nodes::aclfile`].
    pub fn aclfile(mut self) -> Self {
        self.aclfile = true;
        self
    }

    /// Every data node has `test-admin` ([`ADMIN`]: every permission) from its start (in its
    /// aclfile, else `--user`), replicas authenticate to their primary as it, and the
    /// harness connects as it: a test may then disable `default` on every node and still
    /// kill, restart and migrate. See [`Nodes::admin_url_of`].
    pub fn admin(mut self) -> Self {
        self.admin = true;
        self
    }

    /// Extra arguments for every data node (not the sentinels), after the harness's own.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.extra_args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Sentinels that require this password (`requirepass`, and `sentinel sentinel-pass`
    /// between them); the harness's own sentinel connections send it.
    pub fn sentinel_password(mut self, password: &str) -> Self {
        self.sentinel_password = Some(password.to_owned());
        self
    }
}

/// A node's role, as the deployment reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

/// One data node of a deployment, as the deployment reports it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// `127.0.0.1:<port>`, how the tool names a node.
    pub address: String,
    pub port: u16,
    /// `None`: the node is down and no other node reports its role (outside a cluster).
    pub role: Option<Role>,
    /// A replica's primary (its port).
    pub primary: Option<u16>,
    /// The cluster node id (outside a cluster: `None`).
    pub id: Option<String>,
    /// Whether the harness's process for it is running (false after [`Nodes::kill`]).
    pub up: bool,
}

// ---------------------------------------------------------------------------------------------
// Nodes: processes, ports, connections

/// What a node is: how it is started and checked, and how messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cluster,
    Data,
    Sentinel,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster node (--cluster-enabled yes)",
            Kind::Data => "server",
            Kind::Sentinel => "sentinel (--sentinel)",
        }
    }
}

/// How to start one node: its folder, its kind, the credentials the harness logs in with
/// (user, password; an empty user sends only the password), and its arguments for a port.
struct Spec {
    dir: PathBuf,
    kind: Kind,
    credentials: Option<(String, String)>,
    args: Box<dyn Fn(u16) -> Vec<OsString>>,
}

/// One server process of a deployment; it can be killed and started again with the same
/// arguments (port, folder, nodes.conf, aclfile).
struct Node {
    port: u16,
    kind: Kind,
    dir: PathBuf,
    credentials: Option<(String, String)>,
    args: Vec<OsString>,
    child: Mutex<Option<Child>>,
    /// A cluster node's `nodes.conf` as it was just before it was last stopped (with its own
    /// line), for a restart that the file left by the stop fails.
    conf_before_stop: Mutex<Option<String>>,
}

impl Node {
    /// Start `spec` on a port of its own (not waiting for it to answer).
    fn spawn(spec: &Spec) -> Node {
        std::fs::create_dir_all(&spec.dir).expect("a node's folder");
        // A fresh log: what an attempt on a taken port logged must not decide the next one.
        for name in [LOG, CONSOLE] {
            let _ = std::fs::remove_file(spec.dir.join(name));
        }
        let port = reserve_port();
        let node = Node {
            port,
            kind: spec.kind,
            dir: spec.dir.clone(),
            credentials: spec.credentials.clone(),
            args: (spec.args)(port),
            child: Mutex::new(None),
            conf_before_stop: Mutex::new(None),
        };
        node.launch();
        node
    }

    fn launch(&self) {
        let binary = server_binary();
        // What a server prints before its log file is open (a configuration it refuses).
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(CONSOLE))
            .expect("a node's console file");
        let child = binary
            .command()
            .args(&self.args)
            .stdout(Stdio::from(console.try_clone().expect("the console file")))
            .stderr(Stdio::from(console))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.path.display()));
        *self.child.lock().expect("node lock") = Some(child);
    }

    /// Wait until the node answers PING; `Err` with why (it exited, or never answered).
    fn answer(&self) -> Result<(), String> {
        let deadline = Instant::now() + ANSWER_WITHIN;
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self
                .child
                .lock()
                .expect("node lock")
                .as_mut()
                .map(Child::try_wait)
            {
                return Err(format!("it exited ({status})"));
            }
            if self.query::<String>(&["PING"]).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("it did not answer PING within {ANSWER_WITHIN:?}"))
    }

    /// Why `answer` failed, the node's arguments and the end of its log, for a panic.
    fn failure(&self, why: &str) -> String {
        let binary = server_binary();
        let args: Vec<_> = self.args.iter().map(|a| a.to_string_lossy()).collect();
        format!(
            "{} ({}) did not run as a {} on 127.0.0.1:{}: {why}.\narguments: {}\nits log \
             ends with:\n{}\n(the cluster, sentinel and replica tests need a server that runs \
             in this mode: .ci/run lists the tested ones)",
            binary.path.display(),
            binary.version,
            self.kind.name(),
            self.port,
            args.join(" "),
            self.log_tail()
        )
    }

    /// The last lines of the node's log, after what it printed on stdout/stderr if anything.
    fn log_tail(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let (console, log) = (read(CONSOLE), read(LOG));
        let lines: Vec<&str> = console.lines().chain(log.lines()).collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn is_up(&self) -> bool {
        let mut child = self.child.lock().expect("node lock");
        matches!(child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Stop the node: `SHUTDOWN NOSAVE NOW` first (NOW: without waiting for lagging replicas), then SIGKILL if it still runs after 5 s. A
    /// SIGKILL alone can land while a cluster node rewrites its nodes.conf, which it then
    /// refuses at restart as corrupted (seen on Redis 7.2.4); a shutdown command runs between
    /// two such writes. The node is down either way, as a crash leaves it.
    fn kill(&self) {
        if let Some(mut child) = self.child.lock().expect("node lock").take() {
            // Seen on Redis 7.2.4 and Valkey 8.0.1: a cluster node stopped (by SIGKILL, or
            // even by SHUTDOWN) right after a slot moved leaves a nodes.conf without its own
            // line, which it refuses at restart. The file as it was before is put back then:
            // the node rejoins with it and gossip brings it up to date.
            let conf = self.dir.join("nodes.conf");
            let whole = |text: &String| text.lines().any(|line| line.contains("myself"));
            let before = std::fs::read_to_string(&conf).ok().filter(whole);
            if matches!(child.try_wait(), Ok(None)) {
                if let Ok(mut con) = self.con() {
                    let _ = redis::cmd("SHUTDOWN")
                        .arg("NOSAVE")
                        .arg("NOW")
                        .query::<()>(&mut con);
                }
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let _ = child.kill(); // SIGKILL, if it still runs
            let _ = child.wait();
            let after = std::fs::read_to_string(&conf).ok();
            if let Some(before) = &before
                && !after.as_ref().is_some_and(whole)
            {
                let _ = std::fs::write(&conf, before);
            }
            *self.conf_before_stop.lock().expect("conf lock") = before;
        }
    }

    fn url(&self) -> String {
        let login = match &self.credentials {
            Some((user, password)) => format!("{user}:{password}@"),
            None => String::new(),
        };
        format!("redis://{login}127.0.0.1:{}", self.port)
    }

    fn con(&self) -> redis::RedisResult<redis::Connection> {
        let con = redis::Client::open(self.url())?.get_connection_with_timeout(ANSWER_WITHIN)?;
        con.set_read_timeout(Some(HEALTHY_WITHIN))?;
        Ok(con)
    }

    /// One command, its reply or the error as text (for waits, which retry).
    fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> Result<T, String> {
        let mut con = self.con().map_err(|e| format!("cannot connect: {e}"))?;
        command(args)
            .query(&mut con)
            .map_err(|e| format!("{args:?}: {e}"))
    }

    fn describe(&self) -> String {
        let what = match self.kind {
            Kind::Cluster => "cluster node",
            Kind::Data => "node",
            Kind::Sentinel => "sentinel",
        };
        format!("{what} 127.0.0.1:{}", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port `p` for a node with `p` and `p + 10000` free, below the ephemeral range (see the
/// module comment), never handed out twice by this process; random, so that test processes
/// running side by side rarely pick the same (a clash is retried by [`Nodes::start`]).
fn reserve_port() -> u16 {
    static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.saturating_sub(10_001).max(10_100));
    let bindable = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    let mut taken = TAKEN.lock().expect("port lock");
    let taken = taken.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let random = RandomState::new().hash_one(Instant::now());
        let port = low + (random % u64::from(high - low)) as u16;
        if !taken.contains(&port) && bindable(port) && bindable(port + 10_000) {
            taken.insert(port);
            return port;
        }
    }
    panic!("no free loopback port pair (p, p + 10000) in {low}..{high}");
}

/// A cluster node's nodes.conf with every replica given its primary's shard ID (the
/// `shard-id=` field of the address; Redis 7.0 writes none, and its file comes back
/// unchanged). Lines: `<id> <address[,aux=value...]> <flags> <primary id or -> ...`.
fn with_replicas_in_their_primarys_shard(conf: &str) -> String {
    let shard_of = |address: &str| {
        address
            .split(',')
            .find_map(|aux| aux.strip_prefix("shard-id="))
            .map(str::to_owned)
    };
    let shards: HashMap<&str, String> = conf
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            Some((fields.next()?, shard_of(fields.next()?)?))
        })
        .collect();
    let mut mended = String::with_capacity(conf.len());
    for line in conf.lines() {
        let mut fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
        let primary_shard = fields
            .get(3)
            .and_then(|primary| shards.get(primary.as_str()));
        if let (Some(shard), Some(address)) = (primary_shard, fields.get(1)) {
            let address = address
                .split(',')
                .map(|aux| match aux.strip_prefix("shard-id=") {
                    Some(_) => format!("shard-id={shard}"),
                    None => aux.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(",");
            fields[1] = address;
        }
        mended.push_str(&fields.join(" "));
        mended.push('\n');
    }
    mended
}

/// Poll `check` until it says `Ok`, for at most `within`; panic saying what was awaited and
/// the last answer.
fn wait_for(
    what: impl Display,
    within: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) -> Duration {
    let started = Instant::now();
    loop {
        match check() {
            Ok(()) => return started.elapsed(),
            Err(last) if started.elapsed() > within => {
                panic!("waited {within:?} for {what}; the last answer: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The value of `field:` in an `INFO` reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Say on the process's stderr (past the test harness's capture) how long a start took.
fn report_start(what: &str, started: Instant) {
    let _ = writeln!(
        std::io::stderr(),
        "deployments: {what} ({}) up in {:.2} s",
        server_binary().version,
        started.elapsed().as_secs_f64()
    );
}

/// The server processes of one deployment, in their start order, and the per-port helpers.
pub struct Nodes {
    list: Vec<Node>,
    admin: bool,
    // Dropped after the nodes (fields drop in order): their folders outlive them.
    _root: tempfile::TempDir,
}

impl Nodes {
    fn new(options: &Options) -> Nodes {
        Nodes {
            list: Vec::new(),
            admin: options.admin,
            _root: tempfile::tempdir().expect("temp dir for a deployment"),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self._root.path().join(name)
    }

    /// Start these nodes side by side and wait until each answers; a node whose port was
    /// taken meanwhile is started again on another (5 attempts), any other failure panics
    /// with its log (e.g. a server that cannot run in cluster or sentinel mode).
    fn start(&mut self, specs: &[Spec]) {
        let mut started: Vec<Node> = specs.iter().map(Node::spawn).collect();
        for (node, spec) in started.iter_mut().zip(specs) {
            for attempt in 1.. {
                match node.answer() {
                    Ok(()) => break,
                    Err(_) if attempt < 5 && node.log_tail().contains("already in use") => {
                        *node = Node::spawn(spec);
                    }
                    Err(why) => panic!("{}", node.failure(&why)),
                }
            }
        }
        self.list.extend(started);
    }

    fn node(&self, port: u16) -> &Node {
        self.list
            .iter()
            .find(|n| n.port == port)
            .unwrap_or_else(|| {
                panic!(
                    "no node of this deployment on port {port}: its ports are {:?}",
                    self.ports()
                )
            })
    }

    fn of_kind(&self, kinds: &[Kind]) -> impl Iterator<Item = &Node> {
        self.list.iter().filter(move |n| kinds.contains(&n.kind))
    }

    fn live(&self, kinds: &[Kind]) -> Vec<&Node> {
        self.of_kind(kinds).filter(|n| n.is_up()).collect()
    }

    /// Start a killed node again, same port and arguments (killing it first if it is up),
    /// then wait until `healthy` says the deployment has it back; say how long it took.
    fn restart_until(&self, port: u16, healthy: impl FnMut() -> Result<(), String>) {
        let started = Instant::now();
        let node = self.node(port);
        node.kill();
        node.launch();
        if let Err(why) = node.answer() {
            // Seen on Valkey 8.0.1 (valkey-io/valkey#774 and #2171): a node stopped before
            // its cluster's shard IDs settled saved a replica with a shard ID other than its
            // primary's, and calls the file corrupted at restart. Once more with the replicas
            // put in their primaries' shards, as gossip would have: first the file as the
            // node left it, then as it was before the stop (see [`Node::kill`]).
            let _ = writeln!(
                std::io::stderr(),
                "deployments: {} did not start again ({why}); its log ends with:\n{}\nonce more with its replicas' shard IDs mended",
                node.describe(),
                node.log_tail()
            );
            let conf = node.dir.join("nodes.conf");
            let left = std::fs::read_to_string(&conf).ok();
            let before = node.conf_before_stop.lock().expect("conf lock").clone();
            let mut last = Err(why);
            for text in [left, before].into_iter().flatten() {
                node.kill();
                let _ = std::fs::write(&conf, with_replicas_in_their_primarys_shard(&text));
                node.launch();
                last = node.answer();
                if last.is_ok() {
                    break;
                }
            }
            if let Err(why) = last {
                panic!("restart: {}", node.failure(&why));
            }
        }
        let what = format!(
            "the deployment to be healthy again with {}",
            node.describe()
        );
        wait_for(what, HEALTHY_WITHIN, healthy);
        let _ = writeln!(
            std::io::stderr(),
            "deployments: {} restarted, deployment healthy in {:.2} s",
            node.describe(),
            started.elapsed().as_secs_f64()
        );
    }

    /// Every node's port, in start order (data nodes, then sentinels).
    pub fn ports(&self) -> Vec<u16> {
        self.list.iter().map(|n| n.port).collect()
    }

    /// `redis://127.0.0.1:<port>`: the node, as `default`.
    pub fn url_of(&self, port: u16) -> String {
        format!("redis://127.0.0.1:{}", self.node(port).port)
    }

    /// The URL that logs in to this node as `test-admin` (started with [`Options::admin`]).
    pub fn admin_url_of(&self, port: u16) -> String {
        assert!(
            self.admin,
            "admin_url_of: start the deployment with Options::admin()"
        );
        format!(
            "redis://{}:{}@127.0.0.1:{}",
            ADMIN.0,
            ADMIN.1,
            self.node(port).port
        )
    }

    /// A connection to the node, as the harness logs in (`test-admin` with
    /// [`Options::admin`], else `default`; a sentinel with its password).
    pub fn con(&self, port: u16) -> redis::Connection {
        let node = self.node(port);
        node.con()
            .unwrap_or_else(|e| panic!("connect to {}: {e}", node.describe()))
    }

    /// Run one command on this node and return its reply; panics naming the node on error.
    pub fn cmd_on<T: redis::FromRedisValue>(&self, port: u16, args: &[&str]) -> T {
        let node = self.node(port);
        node.query(args)
            .unwrap_or_else(|e| panic!("on {}: {e}", node.describe()))
    }

    /// Run one command on this node; the error is kept (e.g. `e.code()` is `Some("ASK")`,
    /// `e.redirect_node()` where to).
    pub fn try_cmd_on(&self, port: u16, args: &[&str]) -> redis::RedisResult<redis::Value> {
        command(args).query(&mut self.con(port))
    }

    /// Stop the node (see `Node::kill`); it stays down until the deployment's `restart`.
    pub fn kill(&self, port: u16) {
        self.node(port).kill();
    }

    /// Whether the node's process is running.
    pub fn is_up(&self, port: u16) -> bool {
        self.node(port).is_up()
    }

    /// The node's aclfile (started with [`Options::aclfile`]).
    pub fn aclfile(&self, port: u16) -> Option<PathBuf> {
        let path = self.node(port).dir.join("users.acl");
        path.is_file().then_some(path)
    }

    /// The end of the node's log (for a test's failure message).
    pub fn log(&self, port: u16) -> String {
        self.node(port).log_tail()
    }

    /// `SET key value` on the node, then `WAIT` (5 s at most) until `replicas` replicas
    /// acknowledged it; panics if fewer did.
    pub fn set_replicated(&self, port: u16, key: &str, value: &str, replicas: i64) {
        let mut con = self.con(port);
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(key).arg(value).ignore();
        pipe.cmd("WAIT").arg(replicas).arg(5000);
        let (acked,): (i64,) = pipe
            .query(&mut con)
            .unwrap_or_else(|e| panic!("SET + WAIT on {}: {e}", self.node(port).describe()));
        assert_eq!(acked, replicas, "replicas that acknowledged {key}");
    }

    /// `INFO replication` of a node, its role and, for a replica, its primary's port and link.
    fn replication(&self, node: &Node) -> Result<(Role, Option<u16>, String), String> {
        let info: String = node.query(&["INFO", "replication"])?;
        let role = match info_field(&info, "role") {
            Some("master") => Role::Primary,
            Some("slave" | "replica") => Role::Replica,
            other => return Err(format!("{} says role {other:?}", node.describe())),
        };
        let primary = info_field(&info, "master_port").and_then(|p| p.parse().ok());
        Ok((role, primary, info))
    }

    /// The data nodes (not sentinels) of a deployment without cluster, each as it says now.
    fn replication_nodes(&self) -> Vec<NodeInfo> {
        self.of_kind(&[Kind::Data])
            .map(|node| {
                let up = node.is_up();
                let said = up.then(|| self.replication(node).ok()).flatten();
                NodeInfo {
                    address: format!("127.0.0.1:{}", node.port),
                    port: node.port,
                    role: said.as_ref().map(|s| s.0),
                    primary: said.and_then(|s| s.1),
                    id: None,
                    up,
                }
            })
            .collect()
    }

    /// What keeps the running data nodes from being healthy: a replica whose link to its
    /// primary is not up, or a primary that does not list a replica pointing at it as online.
    fn replication_problem(&self) -> Result<(), String> {
        let mut said = Vec::new();
        for node in self.live(&[Kind::Data]) {
            let (role, primary, info) = self.replication(node)?;
            if role == Role::Replica && info_field(&info, "master_link_status") != Some("up") {
                return Err(format!(
                    "{} is a replica whose master_link_status is not up:\n{info}",
                    node.describe()
                ));
            }
            said.push((node.port, role, primary, info));
        }
        for (port, _, primary, _) in said.iter().filter(|s| s.1 == Role::Replica) {
            let Some((_, _, _, info)) = said.iter().find(|s| Some(s.0) == *primary) else {
                continue; // its primary is down or outside the deployment
            };
            if !info
                .lines()
                .any(|l| l.contains(&format!("port={port},state=online")))
            {
                return Err(format!(
                    "127.0.0.1:{} does not list its replica 127.0.0.1:{port} as online:\n{info}",
                    primary.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

/// These words as owned strings.
fn words(list: &[&str]) -> impl Iterator<Item = String> {
    list.iter().map(|w| (*w).to_owned())
}

/// The arguments of a data node (cluster node or not) on `port` in `dir`.
fn data_args(
    port: u16,
    dir: &Path,
    kind: Kind,
    options: &Options,
    replica_of: Option<u16>,
) -> Vec<OsString> {
    let (port, dir_text) = (port.to_string(), dir.display().to_string());
    let log = dir.join(LOG).display().to_string();
    let mut args: Vec<String> = words(&["--port", &port, "--tls-port", "0"]).collect();
    args.extend(words(&[
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir_text,
        "--logfile",
        &log,
    ]));
    args.extend(words(&["--save", "", "--appendonly", "no"]));
    args.extend(words(&["--repl-diskless-sync-delay", "0"]));
    let admin = format!("{} on >{} ~* &* +@all", ADMIN.0, ADMIN.1);
    if options.aclfile {
        let aclfile = dir.join("users.acl");
        let content = match options.admin {
            true => format!("user {admin}\n"),
            false => String::new(),
        };
        std::fs::write(&aclfile, content).expect("write a node's aclfile");
        args.extend(words(&["--aclfile", &aclfile.display().to_string()]));
    } else if options.admin {
        // The server joins the words after `--user` into one config line.
        args.push("--user".to_owned());
        args.extend(words(&admin.split(' ').collect::<Vec<_>>()));
    }
    if options.admin {
        args.extend(words(&["--masteruser", ADMIN.0, "--masterauth", ADMIN.1]));
    }
    if kind == Kind::Cluster {
        args.extend(words(&["--cluster-enabled", "yes"]));
        args.extend(words(&["--cluster-config-file", "nodes.conf"]));
        args.extend(words(&["--cluster-node-timeout", "2000"]));
    }
    if let Some(primary) = replica_of {
        args.extend(words(&["--replicaof", "127.0.0.1", &primary.to_string()]));
    }
    args.extend(options.extra_args.iter().cloned());
    args.into_iter().map(OsString::from).collect()
}

/// The spec of a data node in `dir`.
fn data_spec(dir: PathBuf, kind: Kind, options: &Options, replica_of: Option<u16>) -> Spec {
    let credentials = options
        .admin
        .then(|| (ADMIN.0.to_owned(), ADMIN.1.to_owned()));
    let (options, args_dir) = (options.clone(), dir.clone());
    Spec {
        dir,
        kind,
        credentials,
        args: Box::new(move |port| data_args(port, &args_dir, kind, &options, replica_of)),
    }
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster

/// A real Redis Cluster on loopback: `primaries` primaries sharing the 16384 slots in even
/// ranges (in start order), each with `replicas_per_primary` replicas, every node with
/// `--cluster-node-timeout 2000` (a killed primary's replica takes over after about 3 s).
/// Formed without `redis-cli`: `CLUSTER ADDSLOTSRANGE`, `CLUSTER MEET`, `CLUSTER REPLICATE`.
pub struct LocalCluster {
    nodes: Nodes,
    /// Each node's cluster id, in start order (its nodes.conf keeps it across restarts).
    ids: Vec<String>,
    primaries: usize,
    /// Migrations begun and not finished: slot -> (source, target) ports.
    migrations: Mutex<HashMap<u16, (u16, u16)>>,
}

/// One line of `CLUSTER NODES`.
struct ClusterLine {
    id: String,
    port: u16,
    flags: Vec<String>,
    primary_id: Option<String>,
    link: String,
}

impl ClusterLine {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn role(&self) -> Option<Role> {
        if self.has("master") {
            Some(Role::Primary)
        } else if self.has("slave") || self.has("replica") {
            Some(Role::Replica)
        } else {
            None
        }
    }
}

/// `<id> <ip:port@bus[,hostname]> <flags> <primary id or -> <ping> <pong> <epoch> <link> ...`
fn parse_cluster_nodes(text: &str) -> Vec<ClusterLine> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (id, address, flags, primary, link) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(2)?,
                fields.get(3)?,
                fields.get(7)?,
            );
            let port = address
                .split('@')
                .next()?
                .rsplit_once(':')?
                .1
                .parse()
                .ok()?;
            Some(ClusterLine {
                id: (*id).to_owned(),
                port,
                flags: flags.split(',').map(str::to_owned).collect(),
                primary_id: (*primary != "-").then(|| (*primary).to_owned()),
                link: (*link).to_owned(),
            })
        })
        .collect()
}

/// The port of the primary that `node` says serves `slot` (`CLUSTER SLOTS`).
fn owner_on(node: &Node, slot: u16) -> Result<u16, String> {
    use redis::Value;
    let ranges: Vec<Value> = node.query(&["CLUSTER", "SLOTS"])?;
    for range in ranges {
        let Value::Array(items) = range else { continue };
        if let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(primary))) =
            (items.first(), items.get(1), items.get(2))
            && (*first..=*last).contains(&i64::from(slot))
            && let Some(Value::Int(port)) = primary.get(1)
        {
            return u16::try_from(*port).map_err(|e| format!("port {port}: {e}"));
        }
    }
    Err(format!("{} lists no owner of slot {slot}", node.describe()))
}

impl LocalCluster {
    /// A cluster with the default [`Options`].
    pub fn start(primaries: usize, replicas_per_primary: usize) -> LocalCluster {
        Self::start_with(primaries, replicas_per_primary, &Options::default())
    }

    /// Start the nodes, form the cluster and wait until it is healthy: every node says
    /// `cluster_state:ok`, knows every other node (connected, no fail/handshake flag) in its
    /// planned role, and every replica's `master_link_status` is up.
    pub fn start_with(
        primaries: usize,
        replicas_per_primary: usize,
        options: &Options,
    ) -> LocalCluster {
        assert!((1..=SLOTS).contains(&primaries), "1 to {SLOTS} primaries");
        let started = Instant::now();
        let mut nodes = Nodes::new(options);
        let count = primaries * (1 + replicas_per_primary);
        let specs: Vec<Spec> = (0..count)
            .map(|i| data_spec(nodes.dir(&format!("node{i}")), Kind::Cluster, options, None))
            .collect();
        nodes.start(&specs);
        let ids = nodes.list.iter().map(cluster_id).collect();
        let cluster = LocalCluster {
            nodes,
            ids,
            primaries,
            migrations: Mutex::default(),
        };
        cluster.form(replicas_per_primary);
        let planned: Vec<Option<String>> = (0..count)
            .map(|i| cluster.planned_primary(i, replicas_per_primary))
            .collect();
        wait_for(
            format!("the cluster of {count} nodes to be healthy"),
            HEALTHY_WITHIN,
            || cluster.problem(Some(&planned)),
        );
        report_start(
            &format!(
                "Redis Cluster of {primaries} primaries, {} replicas on ports {:?}",
                count - primaries,
                cluster.ports()
            ),
            started,
        );
        cluster
    }

    /// The id of the primary node `index` is started for (`None`: it is a primary).
    fn planned_primary(&self, index: usize, replicas_per_primary: usize) -> Option<String> {
        let replica = index.checked_sub(self.primaries)?;
        Some(self.ids[replica / replicas_per_primary].clone())
    }

    fn form(&self, replicas_per_primary: usize) {
        let ports = self.ports();
        for (i, port) in ports.iter().take(self.primaries).enumerate() {
            let (first, last) = (
                i * SLOTS / self.primaries,
                (i + 1) * SLOTS / self.primaries - 1,
            );
            // Distinct epochs up front, as `redis-cli --cluster create` does: no collisions to
            // resolve once the nodes meet.
            self.cmd_on::<()>(
                *port,
                &["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()],
            );
            let range = [first.to_string(), last.to_string()];
            self.cmd_on::<()>(*port, &["CLUSTER", "ADDSLOTSRANGE", &range[0], &range[1]]);
        }
        for port in &ports[1..] {
            self.cmd_on::<()>(
                ports[0],
                &["CLUSTER", "MEET", "127.0.0.1", &port.to_string()],
            );
        }
        for (index, port) in ports.iter().enumerate().skip(self.primaries) {
            let primary = self
                .planned_primary(index, replicas_per_primary)
                .expect("a replica");
            // Refused ("Unknown node") until gossip has told the replica about its primary.
            wait_for(
                format!("127.0.0.1:{port} to accept CLUSTER REPLICATE {primary}"),
                HEALTHY_WITHIN,
                || self.node(*port).query(&["CLUSTER", "REPLICATE", &primary]),
            );
        }
    }

    /// What keeps the running nodes from being healthy (see [`Self::start_with`]); with
    /// `planned`, the role each node (in start order) must have: `Some(primary id)` for a
    /// replica.
    fn problem(&self, planned: Option<&[Option<String>]>) -> Result<(), String> {
        let live = self.live(&[Kind::Cluster]);
        for node in &live {
            let info: String = node.query(&["CLUSTER", "INFO"])?;
            if info_field(&info, "cluster_state") != Some("ok") {
                return Err(format!("{} says:\n{info}", node.describe()));
            }
            let text: String = node.query(&["CLUSTER", "NODES"])?;
            let lines = parse_cluster_nodes(&text);
            for other in &live {
                let index = self.index_of(other.port);
                let Some(line) = lines.iter().find(|l| l.id == self.ids[index]) else {
                    return Err(format!(
                        "{} does not know {} yet:\n{text}",
                        node.describe(),
                        other.describe()
                    ));
                };
                let failing = ["fail", "fail?", "handshake", "noaddr"]
                    .iter()
                    .any(|f| line.has(f));
                if failing || (!line.has("myself") && line.link != "connected") {
                    return Err(format!(
                        "{} sees {} as {} ({}):\n{text}",
                        node.describe(),
                        other.describe(),
                        line.flags.join(","),
                        line.link
                    ));
                }
                if let Some(planned) = planned {
                    let role = match &planned[index] {
                        None => Some(Role::Primary),
                        Some(_) => Some(Role::Replica),
                    };
                    if line.role() != role || line.primary_id != planned[index] {
                        return Err(format!(
                            "{} does not see {} in its planned role yet:\n{text}",
                            node.describe(),
                            other.describe()
                        ));
                    }
                }
            }
            let me = lines.iter().find(|l| l.has("myself"));
            if me.and_then(ClusterLine::role) == Some(Role::Replica) {
                let info: String = node.query(&["INFO", "replication"])?;
                if info_field(&info, "master_link_status") != Some("up") {
                    return Err(format!(
                        "{} is a replica not linked yet:\n{info}",
                        node.describe()
                    ));
                }
            }
        }
        Ok(())
    }

    fn index_of(&self, port: u16) -> usize {
        let node = self.node(port);
        self.nodes
            .list
            .iter()
            .position(|n| std::ptr::eq(n, node))
            .expect("a node of the list")
    }

    fn id_of(&self, port: u16) -> &str {
        &self.ids[self.index_of(port)]
    }

    /// A running node, the first in start order.
    fn any_live(&self) -> &Node {
        self.live(&[Kind::Cluster])
            .into_iter()
            .next()
            .expect("every node of the cluster is down")
    }

    /// The URL of the first primary (any node of a cluster will do for the tool).
    pub fn url(&self) -> String {
        self.url_of(self.ports()[0])
    }

    /// [`Self::url`], logged in as `test-admin` (started with [`Options::admin`]).
    pub fn admin_url(&self) -> String {
        self.admin_url_of(self.ports()[0])
    }

    /// Every node, in start order, as the first running node's `CLUSTER NODES` says now (a
    /// killed node keeps the role the others last saw).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let text: String = self.cmd_on(self.any_live().port, &["CLUSTER", "NODES"]);
        let lines = parse_cluster_nodes(&text);
        let port_of = |id: &str| lines.iter().find(|l| l.id == id).map(|l| l.port);
        self.nodes
            .list
            .iter()
            .zip(&self.ids)
            .map(|(node, id)| {
                let line = lines.iter().find(|l| l.id == *id);
                NodeInfo {
                    address: format!("127.0.0.1:{}", node.port),
                    port: node.port,
                    role: line.and_then(ClusterLine::role),
                    primary: line.and_then(|l| l.primary_id.as_deref()).and_then(port_of),
                    id: Some(id.clone()),
                    up: node.is_up(),
                }
            })
            .collect()
    }

    /// The nodes that are primaries now.
    pub fn primaries(&self) -> Vec<NodeInfo> {
        let mut nodes = self.nodes();
        nodes.retain(|n| n.role == Some(Role::Primary));
        nodes
    }

    /// The nodes that are replicas now.
    pub fn replicas(&self) -> Vec<NodeInfo> {
        let mut nodes = self.nodes();
        nodes.retain(|n| n.role == Some(Role::Replica));
        nodes
    }

    /// Start a killed node again (same port, folder, nodes.conf and aclfile; a running one is
    /// killed first) and wait until the cluster is healthy again with it. Without
    /// persistence a restarted node comes back empty: a replica syncs again; a primary
    /// restarted before its replica took over (2 s node timeout) serves its slots empty.
    pub fn restart(&self, port: u16) {
        // A running node is let settle first: one stopped within milliseconds of a slot
        // assignment saved a nodes.conf that Valkey 8.0.1 refused at restart.
        if self.node(port).is_up() {
            std::thread::sleep(Duration::from_millis(300));
        }
        self.restart_until(port, || self.problem(None));
    }

    /// `GET key` on a cluster replica (after `READONLY`, which lets it serve reads).
    pub fn read_on_replica(&self, port: u16, key: &str) -> Option<String> {
        let mut pipe = redis::pipe();
        pipe.cmd("READONLY").ignore().cmd("GET").arg(key);
        let (value,): (Option<String>,) = pipe
            .query(&mut self.con(port))
            .unwrap_or_else(|e| panic!("READONLY + GET on {}: {e}", self.node(port).describe()));
        value
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT` on a running node).
    pub fn slot_of(&self, key: &str) -> u16 {
        let slot: i64 = self.cmd_on(self.any_live().port, &["CLUSTER", "KEYSLOT", key]);
        u16::try_from(slot).expect("a slot")
    }

    /// The port of the primary serving `key`'s slot.
    pub fn owner_of(&self, key: &str) -> u16 {
        self.owner_of_slot(self.slot_of(key))
    }

    /// The port of the primary serving `slot`, as the first running node says
    /// (`CLUSTER SLOTS`). During a migration: the source, until [`Self::finish_migration`].
    /// A primary other than the one on `port`.
    pub fn another_primary(&self, port: u16) -> u16 {
        self.primaries()
            .iter()
            .map(|p| p.port)
            .find(|p| *p != port)
            .expect("another primary")
    }

    pub fn owner_of_slot(&self, slot: u16) -> u16 {
        let node = self.any_live();
        owner_on(node, slot).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Move `slot` to the primary on `to_port`, keys and all, the documented way:
    /// [`Self::begin_migration`] then [`Self::finish_migration`].
    pub fn migrate_slot(&self, slot: u16, to_port: u16) {
        self.begin_migration(slot, to_port);
        self.finish_migration(slot);
    }

    /// Begin moving `slot` from its owner to the primary on `to_port`: `CLUSTER SETSLOT
    /// IMPORTING` on the target, `MIGRATING` on the source. Until the keys move, the source
    /// serves the keys it still has and answers `ASK` for the others, multi-key commands
    /// over present and absent keys get `TRYAGAIN`, and the target answers `MOVED` unless
    /// the command follows `ASKING`. [`Self::migrate_keys`] moves some keys.
    pub fn begin_migration(&self, slot: u16, to_port: u16) {
        let from = self.owner_of_slot(slot);
        assert_ne!(
            from, to_port,
            "slot {slot} is on 127.0.0.1:{to_port} already"
        );
        let slot_text = slot.to_string();
        let importing = [
            "CLUSTER",
            "SETSLOT",
            &slot_text,
            "IMPORTING",
            self.id_of(from),
        ];
        self.cmd_on::<()>(to_port, &importing);
        let migrating = [
            "CLUSTER",
            "SETSLOT",
            &slot_text,
            "MIGRATING",
            self.id_of(to_port),
        ];
        self.cmd_on::<()>(from, &migrating);
        self.migrations
            .lock()
            .expect("migrations lock")
            .insert(slot, (from, to_port));
    }

    fn migration(&self, slot: u16) -> (u16, u16) {
        *self
            .migrations
            .lock()
            .expect("migrations lock")
            .get(&slot)
            .unwrap_or_else(|| panic!("slot {slot} is not migrating: begin_migration first"))
    }

    /// Move up to `most` keys of a migrating slot to its target (`CLUSTER GETKEYSINSLOT` and
    /// `MIGRATE`, 100 at a time); how many moved.
    pub fn migrate_keys(&self, slot: u16, most: usize) -> usize {
        let (from, to) = self.migration(slot);
        let mut moved = 0;
        while moved < most {
            let batch = (most - moved).min(100).to_string();
            let keys: Vec<Vec<u8>> = self.cmd_on(
                from,
                &["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), &batch],
            );
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate.arg("127.0.0.1").arg(to).arg("").arg(0).arg(5000);
            if self.admin {
                migrate.arg("AUTH2").arg(ADMIN.0).arg(ADMIN.1);
            }
            migrate.arg("KEYS");
            for key in &keys {
                migrate.arg(key.as_slice());
            }
            migrate
                .query::<()>(&mut self.con(from))
                .unwrap_or_else(|e| panic!("MIGRATE of slot {slot} to 127.0.0.1:{to}: {e}"));
            moved += keys.len();
        }
        moved
    }

    /// Move the rest of a migrating slot's keys, then `CLUSTER SETSLOT NODE` on the target,
    /// the source (which answers `MOVED` from then on) and every other running primary;
    /// wait until every running node says the target serves the slot.
    pub fn finish_migration(&self, slot: u16) {
        let (from, to) = self.migration(slot);
        self.migrate_keys(slot, usize::MAX);
        let slot_text = slot.to_string();
        let node = ["CLUSTER", "SETSLOT", &slot_text, "NODE", self.id_of(to)];
        self.cmd_on::<()>(to, &node);
        self.cmd_on::<()>(from, &node);
        for other in self.primaries() {
            if other.up && other.port != from && other.port != to {
                self.cmd_on::<()>(other.port, &node);
            }
        }
        self.migrations
            .lock()
            .expect("migrations lock")
            .remove(&slot);
        wait_for(
            format!("every node to say 127.0.0.1:{to} serves slot {slot}"),
            HEALTHY_WITHIN,
            || {
                for node in self.live(&[Kind::Cluster]) {
                    let owner = owner_on(node, slot)?;
                    if owner != to {
                        return Err(format!("{} says 127.0.0.1:{owner}", node.describe()));
                    }
                }
                Ok(())
            },
        );
    }
}

/// A cluster node's id; a server that answers no `CLUSTER MYID` cannot run these tests.
fn cluster_id(node: &Node) -> String {
    node.query(&["CLUSTER", "MYID"]).unwrap_or_else(|e| {
        panic!(
            "{}",
            node.failure(&format!(
                "CLUSTER MYID said {e}: no cluster mode, no cluster tests"
            ))
        )
    })
}

// ---------------------------------------------------------------------------------------------
// A primary with replicas

/// One primary and replicas started with `--replicaof` it.
pub struct ReplicatedPrimary {
    nodes: Nodes,
}

/// Start a primary, then `replicas` replicas of it, and wait until they are linked.
fn start_replicated(replicas: usize, options: &Options) -> Nodes {
    let mut nodes = Nodes::new(options);
    nodes.start(&[data_spec(nodes.dir("primary"), Kind::Data, options, None)]);
    let primary = nodes.list[0].port;
    let specs: Vec<Spec> = (0..replicas)
        .map(|i| {
            let dir = nodes.dir(&format!("replica{i}"));
            data_spec(dir, Kind::Data, options, Some(primary))
        })
        .collect();
    nodes.start(&specs);
    wait_for(
        format!("{replicas} replicas to link to 127.0.0.1:{primary}"),
        HEALTHY_WITHIN,
        || nodes.replication_problem(),
    );
    nodes
}

impl ReplicatedPrimary {
    /// A primary with `replicas` replicas and the default [`Options`].
    pub fn start(replicas: usize) -> ReplicatedPrimary {
        Self::start_with(replicas, &Options::default())
    }

    /// Start them and wait until every replica says `master_link_status:up` and the primary
    /// lists each as online.
    pub fn start_with(replicas: usize, options: &Options) -> ReplicatedPrimary {
        let started = Instant::now();
        let nodes = start_replicated(replicas, options);
        report_start(
            &format!(
                "a primary and {replicas} replicas on ports {:?}",
                nodes.ports()
            ),
            started,
        );
        ReplicatedPrimary { nodes }
    }

    /// The port of the node started as the primary.
    pub fn primary(&self) -> u16 {
        self.ports()[0]
    }

    /// The ports of the nodes started as replicas.
    pub fn replica_ports(&self) -> Vec<u16> {
        self.ports()[1..].to_vec()
    }

    /// The primary's URL.
    pub fn url(&self) -> String {
        self.url_of(self.primary())
    }

    /// Every node, as it says now (`INFO replication`; a killed node's role is `None`).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.replication_nodes()
    }

    /// Start a killed node again (same port and folder) and wait until every running replica
    /// is linked again. A restarted primary comes back empty, and so do its replicas.
    pub fn restart(&self, port: u16) {
        self.restart_until(port, || self.replication_problem());
    }
}

// ---------------------------------------------------------------------------------------------
// Sentinel

/// A primary, one replica and three sentinels (`--sentinel`, quorum 2, down after 1 s,
/// failover timeout 5 s) monitoring it as [`SentinelSet::master_name`].
pub struct SentinelSet {
    nodes: Nodes,
}

/// A sentinel's spec: its sentinel.conf (written for the port it gets) monitors `primary`.
fn sentinel_spec(dir: PathBuf, primary: u16, options: &Options) -> Spec {
    let credentials = options
        .sentinel_password
        .clone()
        .map(|password| (String::new(), password));
    let (options, conf_dir) = (options.clone(), dir.clone());
    Spec {
        dir,
        kind: Kind::Sentinel,
        credentials,
        args: Box::new(move |port| {
            let conf = conf_dir.join("sentinel.conf");
            let text = sentinel_conf(port, &conf_dir, primary, &options);
            std::fs::write(&conf, text).expect("write sentinel.conf");
            vec![conf.into_os_string(), OsString::from("--sentinel")]
        }),
    }
}

/// A sentinel's configuration (a file: a sentinel rewrites it with what it learns).
fn sentinel_conf(port: u16, dir: &Path, primary: u16, options: &Options) -> String {
    let mut lines = vec![
        format!("port {port}"),
        "bind 127.0.0.1".to_owned(),
        format!("dir \"{}\"", dir.display()),
        format!("logfile \"{}\"", dir.join(LOG).display()),
        "sentinel resolve-hostnames no".to_owned(),
        format!("sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2"),
        format!("sentinel down-after-milliseconds {MASTER_NAME} 1000"),
        format!("sentinel failover-timeout {MASTER_NAME} 5000"),
    ];
    if options.admin {
        lines.push(format!("sentinel auth-user {MASTER_NAME} {}", ADMIN.0));
        lines.push(format!("sentinel auth-pass {MASTER_NAME} {}", ADMIN.1));
    }
    if let Some(password) = &options.sentinel_password {
        lines.push(format!("requirepass \"{password}\""));
        lines.push(format!("sentinel sentinel-pass \"{password}\""));
    }
    lines.join("\n") + "\n"
}

/// A reply of `SENTINEL REPLICAS` / `SENTINEL SENTINELS`: one field -> value map per entry.
fn sentinel_entries(node: &Node, what: &str) -> Result<Vec<HashMap<String, String>>, String> {
    let entries: Vec<Vec<String>> = node.query(&["SENTINEL", what, MASTER_NAME])?;
    Ok(entries
        .into_iter()
        .map(|flat| {
            flat.chunks(2)
                .filter_map(|pair| Some((pair.first()?.clone(), pair.get(1)?.clone())))
                .collect()
        })
        .collect())
}

/// The port of the primary a sentinel reports (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
fn primary_known_by(sentinel: &Node) -> Result<u16, String> {
    let address: Option<Vec<String>> =
        sentinel.query(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])?;
    address
        .and_then(|a| a.get(1)?.parse().ok())
        .ok_or_else(|| format!("{} knows no primary {MASTER_NAME}", sentinel.describe()))
}

impl SentinelSet {
    /// A sentinel set with the default [`Options`].
    #[allow(dead_code)] // for the issue 15 tests; the test below sets a password
    pub fn start() -> SentinelSet {
        Self::start_with(&Options::default())
    }

    /// Start the primary and its replica, then the sentinels, and wait until every sentinel
    /// reports the primary, its replica and the two other sentinels, none of them down.
    pub fn start_with(options: &Options) -> SentinelSet {
        let started = Instant::now();
        let mut nodes = start_replicated(1, options);
        let primary = nodes.list[0].port;
        let specs: Vec<Spec> = (0..3)
            .map(|i| sentinel_spec(nodes.dir(&format!("sentinel{i}")), primary, options))
            .collect();
        nodes.start(&specs);
        let set = SentinelSet { nodes };
        for sentinel in set.of_kind(&[Kind::Sentinel]) {
            let info: String = sentinel.query(&["INFO", "server"]).unwrap_or_default();
            // `redis_mode` on Redis, `server_mode` on Valkey 8+.
            let mode = info_field(&info, "redis_mode").or(info_field(&info, "server_mode"));
            if mode != Some("sentinel") {
                panic!("{}", sentinel.failure(&format!("INFO server says {info}")));
            }
        }
        wait_for(
            format!("the sentinels to know 127.0.0.1:{primary}, its replica and each other"),
            HEALTHY_WITHIN,
            || set.sentinels_problem(true),
        );
        report_start(
            &format!(
                "Sentinel set, data nodes and sentinels on ports {:?}",
                set.ports()
            ),
            started,
        );
        set
    }

    /// What keeps the running sentinels from agreeing: one that knows no primary or not
    /// every other running sentinel, or (`with_replica`) no healthy replica.
    fn sentinels_problem(&self, with_replica: bool) -> Result<(), String> {
        let sentinels = self.live(&[Kind::Sentinel]);
        for sentinel in &sentinels {
            primary_known_by(sentinel)?;
            let healthy = |entries: Vec<HashMap<String, String>>, flag: &str| {
                entries
                    .iter()
                    .filter(|e| e.get("flags").map(String::as_str) == Some(flag))
                    .count()
            };
            let known = healthy(sentinel_entries(sentinel, "SENTINELS")?, "sentinel");
            if known < sentinels.len() - 1 {
                return Err(format!(
                    "{} knows {known} other sentinels",
                    sentinel.describe()
                ));
            }
            if with_replica && healthy(sentinel_entries(sentinel, "REPLICAS")?, "slave") != 1 {
                return Err(format!("{} knows no healthy replica", sentinel.describe()));
            }
        }
        Ok(())
    }

    fn any_sentinel(&self) -> &Node {
        self.live(&[Kind::Sentinel])
            .into_iter()
            .next()
            .expect("every sentinel is down")
    }

    /// The name the sentinels monitor the primary under.
    pub fn master_name(&self) -> &'static str {
        MASTER_NAME
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.of_kind(&[Kind::Sentinel]).map(|n| n.port).collect()
    }

    /// The sentinels as `127.0.0.1:<port>`.
    pub fn sentinel_addresses(&self) -> Vec<String> {
        let ports = self.sentinel_ports();
        ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()
    }

    /// The port of the primary, as a running sentinel reports it now.
    pub fn current_primary(&self) -> u16 {
        primary_known_by(self.any_sentinel()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The primary and the replica, as each says now (`INFO replication`).
    pub fn data_nodes(&self) -> Vec<NodeInfo> {
        self.replication_nodes()
    }

    /// `SENTINEL FAILOVER`, then wait until every running sentinel reports another primary
    /// and that node says `role:master`; its port. The old primary, if running, stays a
    /// primary until the sentinels reconfigure it (about 10 s later on Redis 7.0).
    pub fn failover(&self) -> u16 {
        let started = Instant::now();
        let old = self.current_primary();
        let sentinel = self.any_sentinel();
        // Refused while the sentinel has not had a fresh INFO from the replica
        // (NOGOODSLAVE) or while another failover runs (INPROG).
        wait_for(
            "a sentinel to accept SENTINEL FAILOVER",
            HEALTHY_WITHIN,
            || sentinel.query(&["SENTINEL", "FAILOVER", MASTER_NAME]),
        );
        let mut new = old;
        wait_for(
            format!("the sentinels to report a primary other than 127.0.0.1:{old}"),
            HEALTHY_WITHIN,
            || {
                let reported: HashSet<u16> = self
                    .live(&[Kind::Sentinel])
                    .into_iter()
                    .map(primary_known_by)
                    .collect::<Result<_, _>>()?;
                let [port] = reported.into_iter().collect::<Vec<_>>()[..] else {
                    return Err("the sentinels report different primaries".to_owned());
                };
                if port == old {
                    return Err(format!("a sentinel still reports 127.0.0.1:{old}"));
                }
                match self.replication(self.node(port))? {
                    (Role::Primary, _, _) => {
                        new = port;
                        Ok(())
                    }
                    (_, _, info) => Err(format!("127.0.0.1:{port} is no primary yet:\n{info}")),
                }
            },
        );
        let _ = writeln!(
            std::io::stderr(),
            "deployments: Sentinel failover 127.0.0.1:{old} -> 127.0.0.1:{new} in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        new
    }

    /// Start a killed node again (same port, folder, sentinel.conf as the sentinel rewrote
    /// it) and wait: a sentinel until it knows the primary and the other running sentinels, a
    /// data node until every running replica is linked.
    pub fn restart(&self, port: u16) {
        match self.node(port).kind {
            Kind::Sentinel => self.restart_until(port, || self.sentinels_problem(false)),
            _ => self.restart_until(port, || self.replication_problem()),
        }
    }
}

/// Each deployment dereferences to its [`Nodes`] (the per-port helpers).
macro_rules! deref_to_nodes {
    ($($deployment:ty),*) => {$(
        impl Deref for $deployment {
            type Target = Nodes;

            fn deref(&self) -> &Nodes {
                &self.nodes
            }
        }
    )*};
}

deref_to_nodes!(LocalCluster, ReplicatedPrimary, SentinelSet);

/// A test may share a deployment with a thread (an apply running while a slot migrates, or
/// while the sentinels fail over): every method takes `&self`.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<LocalCluster>();
    shareable::<ReplicatedPrimary>();
    shareable::<SentinelSet>();
};

// ---------------------------------------------------------------------------------------------
// The harness's own tests

/// The redirection a command got: (`MOVED`/`ASK`, the address it points to, the slot).
fn redirection(reply: redis::RedisResult<redis::Value>) -> (String, String, u16) {
    let error = reply.expect_err("a redirection, not a reply");
    let (address, slot) = error
        .redirect_node()
        .unwrap_or_else(|| panic!("a MOVED or ASK redirection, got {error}"));
    let code = error.code().unwrap_or_default().to_owned();
    (code, address.to_owned(), slot)
}

#[test]
fn cluster_of_three_primaries_and_three_replicas_routes_replicates_and_migrates() {
    let cluster = LocalCluster::start(3, 1);
    let nodes = cluster.nodes();
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    let (primaries, replicas) = (cluster.primaries(), cluster.replicas());
    let primary_ports: Vec<u16> = primaries.iter().map(|n| n.port).collect();
    assert_eq!(
        primary_ports,
        cluster.ports()[..3],
        "the first three started are primaries"
    );
    let mut served: Vec<u16> = replicas.iter().filter_map(|r| r.primary).collect();
    served.sort_unstable();
    let mut expected = primary_ports.clone();
    expected.sort_unstable();
    assert_eq!(served, expected, "one replica per primary: {nodes:?}");
    for node in &nodes {
        assert!(
            node.up && node.id.as_ref().is_some_and(|id| id.len() == 40),
            "{node:?}"
        );
        assert_eq!(node.address, format!("127.0.0.1:{}", node.port));
        let info: String = cluster.cmd_on(node.port, &["INFO", "replication"]);
        let role = if node.role == Some(Role::Primary) {
            "master"
        } else {
            "slave"
        };
        assert_eq!(info_field(&info, "role"), Some(role), "{node:?}");
    }
    assert_eq!(cluster.url(), cluster.url_of(primary_ports[0]));

    // A key written on its owner reaches the owner's replica; other primaries redirect.
    let key = "rag:tasks";
    assert_eq!(
        cluster.slot_of(key),
        1949,
        "CLUSTER KEYSLOT, as measured in the research"
    );
    let owner = cluster.owner_of(key);
    cluster.set_replicated(owner, key, "v1", 1);
    let replica = replicas
        .iter()
        .find(|r| r.primary == Some(owner))
        .expect("its replica");
    let read = cluster.read_on_replica(replica.port, key);
    assert_eq!(read.as_deref(), Some("v1"), "{}", cluster.log(replica.port));
    let other = *primary_ports
        .iter()
        .find(|p| **p != owner)
        .expect("another primary");
    let moved = redirection(cluster.try_cmd_on(other, &["GET", key]));
    assert_eq!(
        moved,
        ("MOVED".to_owned(), format!("127.0.0.1:{owner}"), 1949)
    );

    // A slot half migrated: the source serves what it still has, ASKs for the rest and
    // answers TRYAGAIN to a multi-key read over both; the target wants ASKING.
    let slot = cluster.slot_of("{mig}a");
    let (from, to) = (cluster.owner_of_slot(slot), other);
    let to = if to == from { owner } else { to };
    for key in ["{mig}a", "{mig}b"] {
        cluster.cmd_on::<()>(from, &["SET", key, key]);
    }
    cluster.begin_migration(slot, to);
    assert_eq!(cluster.cmd_on::<String>(from, &["GET", "{mig}a"]), "{mig}a");
    let ask = redirection(cluster.try_cmd_on(from, &["GET", "{mig}absent"]));
    assert_eq!(ask, ("ASK".to_owned(), format!("127.0.0.1:{to}"), slot));
    let back = redirection(cluster.try_cmd_on(to, &["GET", "{mig}a"]));
    assert_eq!(
        back,
        ("MOVED".to_owned(), format!("127.0.0.1:{from}"), slot)
    );
    let split = cluster.try_cmd_on(from, &["MGET", "{mig}a", "{mig}absent"]);
    assert_eq!(split.expect_err("TRYAGAIN").code(), Some("TRYAGAIN"));
    assert_eq!(cluster.migrate_keys(slot, 1), 1);
    let answers = ["{mig}a", "{mig}b"].map(|k| cluster.try_cmd_on(from, &["GET", k]).is_ok());
    assert_eq!(
        answers.iter().filter(|served| **served).count(),
        1,
        "one key moved: {answers:?}"
    );
    // ASKING holds for the next command only.
    let asking: (Option<String>, Option<String>) = redis::pipe()
        .cmd("ASKING")
        .ignore()
        .cmd("GET")
        .arg("{mig}a")
        .cmd("ASKING")
        .ignore()
        .cmd("GET")
        .arg("{mig}b")
        .query(&mut cluster.con(to))
        .expect("ASKING + GET on the target");
    let on_target = [asking.0.is_some(), asking.1.is_some()];
    assert_eq!(
        on_target,
        answers.map(|served| !served),
        "the moved key: {asking:?}"
    );
    assert_eq!(
        cluster.owner_of_slot(slot),
        from,
        "the source owns it until the end"
    );
    cluster.finish_migration(slot);
    let moved = redirection(cluster.try_cmd_on(from, &["GET", "{mig}a"]));
    assert_eq!(moved, ("MOVED".to_owned(), format!("127.0.0.1:{to}"), slot));
    assert_eq!(cluster.owner_of_slot(slot), to);
    assert_eq!(
        cluster.cmd_on::<Vec<String>>(to, &["MGET", "{mig}a", "{mig}b"]),
        ["{mig}a", "{mig}b"]
    );

    // A killed replica is down until restarted; then it is linked again and has the data.
    cluster.kill(replica.port);
    assert!(!cluster.is_up(replica.port));
    let down = cluster
        .nodes()
        .into_iter()
        .find(|n| n.port == replica.port)
        .expect("listed");
    assert!(!down.up && down.role == Some(Role::Replica), "{down:?}");
    cluster.restart(replica.port);
    let info: String = cluster.cmd_on(replica.port, &["INFO", "replication"]);
    assert_eq!(
        info_field(&info, "master_link_status"),
        Some("up"),
        "{info}"
    );
    assert_eq!(
        info_field(&info, "master_port"),
        Some(owner.to_string().as_str())
    );
    let read = cluster.read_on_replica(replica.port, key);
    assert_eq!(read.as_deref(), Some("v1"), "synced again from its primary");
}

#[test]
fn cluster_with_aclfile_and_admin_keeps_working_with_default_disabled() {
    let options = Options::default().aclfile().admin().args(&["--hz", "25"]);
    let cluster = LocalCluster::start_with(3, 0, &options);
    let ports = cluster.ports();
    assert_eq!(cluster.replicas(), []);
    let hz: Vec<String> = cluster.cmd_on(ports[1], &["CONFIG", "GET", "hz"]);
    assert_eq!(hz, ["hz", "25"], "the extra arguments reach every node");
    // Users saved to each node's aclfile survive a restart; the harness logs in as the
    // admin, so `default` switched off everywhere stops nothing.
    for port in &ports {
        cluster.cmd_on::<()>(*port, &["ACL", "SETUSER", "default", "off"]);
        cluster.cmd_on::<()>(*port, &["ACL", "SAVE"]);
        let aclfile = cluster.aclfile(*port).expect("an aclfile");
        let saved = std::fs::read_to_string(aclfile).expect("read the aclfile");
        assert!(
            saved.contains("user default off") && saved.contains("user test-admin on"),
            "{saved}"
        );
    }
    let plain = redis::Client::open(cluster.url()).and_then(|c| c.get_connection());
    let refused = plain.and_then(|mut con| command(&["GET", "x"]).query::<redis::Value>(&mut con));
    assert!(refused.is_err(), "default is off: {refused:?}");
    assert_eq!(cluster.admin_url(), cluster.admin_url_of(ports[0]));
    let mut admin = redis::Client::open(cluster.admin_url())
        .and_then(|c| c.get_connection())
        .expect("log in as the admin");
    assert_eq!(
        command(&["ACL", "WHOAMI"])
            .query::<String>(&mut admin)
            .ok()
            .as_deref(),
        Some("test-admin")
    );

    // A primary without replicas killed: the cluster fails until it is back, keys and all
    // lost (no persistence), its users kept (aclfile).
    let key = "topology:k";
    let owner = cluster.owner_of(key);
    cluster.cmd_on::<()>(owner, &["SET", key, "1"]);
    cluster.kill(owner);
    let other = *ports.iter().find(|p| **p != owner).expect("another node");
    wait_for("the others to see the primary fail", HEALTHY_WITHIN, || {
        let info: String = cluster.node(other).query(&["CLUSTER", "INFO"])?;
        match info_field(&info, "cluster_state") {
            Some("fail") => Ok(()),
            _ => Err(info),
        }
    });
    cluster.restart(owner);
    let users: Vec<String> = cluster.cmd_on(owner, &["ACL", "LIST"]);
    assert!(
        users.iter().any(|u| u.starts_with("user default off")),
        "{users:?}"
    );
    assert_eq!(cluster.cmd_on::<Option<String>>(owner, &["GET", key]), None);

    // A whole slot moved at once, MIGRATE logging in to the target as the admin.
    cluster.cmd_on::<()>(owner, &["SET", key, "2"]);
    let target = if owner == ports[0] {
        ports[2]
    } else {
        ports[0]
    };
    cluster.migrate_slot(cluster.slot_of(key), target);
    assert_eq!(cluster.owner_of(key), target);
    assert_eq!(cluster.cmd_on::<String>(target, &["GET", key]), "2");
}

#[test]
fn replicated_primary_replicates_and_a_killed_replica_comes_back() {
    let deployment = ReplicatedPrimary::start(2);
    let (primary, replicas) = (deployment.primary(), deployment.replica_ports());
    assert_eq!(deployment.url(), format!("redis://127.0.0.1:{primary}"));
    let nodes = deployment.nodes();
    let roles: Vec<_> = nodes.iter().map(|n| (n.port, n.role, n.primary)).collect();
    let expected = vec![
        (primary, Some(Role::Primary), None),
        (replicas[0], Some(Role::Replica), Some(primary)),
        (replicas[1], Some(Role::Replica), Some(primary)),
    ];
    assert_eq!(roles, expected);
    deployment.set_replicated(primary, "k", "v", 2);
    for replica in &replicas {
        assert_eq!(deployment.cmd_on::<String>(*replica, &["GET", "k"]), "v");
    }
    deployment.kill(replicas[0]);
    let down = &deployment.nodes()[1];
    assert!(!down.up && down.role.is_none(), "{down:?}");
    deployment.restart(replicas[0]);
    assert_eq!(
        deployment.cmd_on::<String>(replicas[0], &["GET", "k"]),
        "v",
        "synced again"
    );
}

#[test]
fn sentinel_failover_switches_the_primary() {
    let options = Options::default().admin().sentinel_password("sentinel-pw");
    let set = SentinelSet::start_with(&options);
    assert_eq!(set.sentinel_addresses().len(), 3);
    let sentinel = set.sentinel_ports()[0];
    let anonymous = redis::Client::open(set.url_of(sentinel)).and_then(|c| c.get_connection());
    let refused = anonymous
        .and_then(|mut con| command(&["SENTINEL", "MASTERS"]).query::<redis::Value>(&mut con));
    assert_eq!(
        refused.expect_err("a password is required").code(),
        Some("NOAUTH")
    );
    let data_nodes = set.data_nodes();
    let [primary, replica] = &data_nodes[..] else {
        panic!("two data nodes: {data_nodes:?}")
    };
    assert_eq!(primary.role, Some(Role::Primary));
    assert_eq!(replica.primary, Some(primary.port));
    assert_eq!(set.current_primary(), primary.port);
    let known: Vec<String> = set.cmd_on(
        sentinel,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", set.master_name()],
    );
    assert_eq!(known, ["127.0.0.1".to_owned(), primary.port.to_string()]);
    set.set_replicated(primary.port, "k", "v", 1);

    // The sentinels and the replica log in as the admin (`--user`, `sentinel auth-user`,
    // `masteruser`): `default` switched off on the data nodes stops no failover.
    for node in &data_nodes {
        set.cmd_on::<()>(node.port, &["ACL", "SETUSER", "default", "off"]);
    }
    let new = set.failover();
    assert_eq!(new, replica.port);
    assert_eq!(set.current_primary(), new);
    let promoted = set
        .data_nodes()
        .into_iter()
        .find(|n| n.port == new)
        .expect("listed");
    assert_eq!(promoted.role, Some(Role::Primary));
    assert_eq!(set.cmd_on::<String>(new, &["GET", "k"]), "v");
    let admin = redis::Client::open(set.admin_url_of(new)).and_then(|c| c.get_connection());
    let whoami = admin.and_then(|mut con| command(&["ACL", "WHOAMI"]).query::<String>(&mut con));
    assert_eq!(whoami.ok().as_deref(), Some("test-admin"));

    // A sentinel killed and restarted rejoins the others and reports the new primary.
    set.kill(sentinel);
    set.restart(sentinel);
    assert_eq!(primary_known_by(set.node(sentinel)), Ok(new));
}

#[test]
fn a_replica_saved_in_another_shard_is_put_in_its_primarys() {
    // The shape of the file Valkey 8.0.1 refused in CI (ids shortened).
    let conf = "\
aa 127.0.0.1:7001@17001,,tls-port=0,shard-id=s1 myself,master - 0 0 1 connected 0-8191
bb 127.0.0.1:7002@17002,,tls-port=0,shard-id=s2 master - 0 0 2 connected 8192-16383
cc 127.0.0.1:7003@17003,,tls-port=0,shard-id=s9 slave aa 0 0 1 connected
dd 127.0.0.1:7004@17004,,tls-port=0,shard-id=s2 slave bb 0 0 2 connected
vars currentEpoch 2 lastVoteEpoch 0
";
    let mended = with_replicas_in_their_primarys_shard(conf);
    let (lines, given): (Vec<&str>, Vec<&str>) = (mended.lines().collect(), conf.lines().collect());
    assert_eq!(
        lines[2],
        "cc 127.0.0.1:7003@17003,,tls-port=0,shard-id=s1 slave aa 0 0 1 connected"
    );
    assert_eq!(
        [lines[0], lines[1], lines[3], lines[4]],
        [given[0], given[1], given[3], given[4]],
        "primaries, a replica in its primary's shard and the vars line are kept"
    );
    let redis_7_0 = "aa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n";
    assert_eq!(with_replicas_in_their_primarys_shard(redis_7_0), redis_7_0);
}
