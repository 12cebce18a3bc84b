//! The apply lock: one apply per namespace at a time.
//!
//! `SET <ns>:__topology__:lock <token> NX PX <lease>`: the token names the holder (host, pid,
//! start time) and is random, so only its owner renews it (compare-and-`PEXPIRE`) and releases
//! it (compare-and-`DEL`). A lock left by a killed apply expires by itself after one lease; a
//! new apply waits for it up to `--lock-timeout` (by default longer than a lease), then fails
//! naming the holder. The lock is taken only when a plan has changes, so an apply with
//! nothing to do sends no write command at all.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Value;

use crate::live::read::as_text;
use crate::record::lock_key;
use crate::target::{Target, TargetError};

/// How long a lock lives without renewal.
pub const LEASE: Duration = Duration::from_secs(30);

/// The lease in force: [`LEASE`], or `REDIS_TOPOLOGY_LOCK_LEASE_MS` (for tests that kill an
/// apply and must not wait 30 s for its lock to expire).
fn lease() -> Duration {
    std::env::var("REDIS_TOPOLOGY_LOCK_LEASE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .filter(|ms| *ms >= 100)
        .map_or(LEASE, Duration::from_millis)
}
/// Default wait for a held lock: one lease and a margin, so a lock left by a killed apply is
/// outlasted.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(45);

const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// A held lock. Release it with [`Lock::release`]; if the process dies, it expires.
pub struct Lock {
    /// Whether another holder had it when this apply first asked: whatever that holder did
    /// happened after this apply read the server.
    contended: bool,
    key: String,
    token: String,
    renewer: tokio::task::JoinHandle<()>,
    lease: std::sync::Arc<std::sync::Mutex<Lease>>,
}

/// What is known of the lease: until when it is ours, or why it is not.
struct Lease {
    confirmed_until: Instant,
    lost: Option<String>,
}

impl Lock {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn lease(&self) -> Duration {
        lease()
    }

    /// Whether another apply held the lock when this one first asked.
    pub fn contended(&self) -> bool {
        self.contended
    }

    /// Ok while the lease is known to be ours for at least `margin` more.
    pub fn check(&self, margin: Duration) -> Result<(), TargetError> {
        let lease = self
            .lease
            .lock()
            .map_err(|_| TargetError("the lock's state is unusable".to_owned()))?;
        if let Some(why) = &lease.lost {
            return Err(TargetError(format!(
                "lost the apply lock `{}`: {why}",
                self.key
            )));
        }
        if Instant::now() + margin > lease.confirmed_until {
            return Err(TargetError(format!(
                "lost the apply lock `{}`: its lease could not be renewed in time (a slow or stalled connection)",
                self.key
            )));
        }
        Ok(())
    }

    /// A write that renewed the lease server-side was sent at `sent_at` and confirmed.
    pub fn confirm(&self, sent_at: Instant) {
        if let Ok(mut lease) = self.lease.lock() {
            lease.confirmed_until = lease.confirmed_until.max(sent_at + lease_now());
        }
    }

    /// A fenced batch found the lock not ours.
    pub fn mark_lost(&self, why: &str) {
        if let Ok(mut lease) = self.lease.lock() {
            lease.lost = Some(why.to_owned());
        }
    }
}

fn lease_now() -> Duration {
    lease()
}

fn new_token() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown-host".to_owned());
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = RandomState::new().hash_one((std::process::id(), Instant::now()));
    format!(
        "{host}/pid {}/since {started}/{random:016x}",
        std::process::id()
    )
}

/// Take the lock of a namespace, waiting up to `timeout` for a current holder.
pub async fn acquire(
    target: &mut Target,
    namespace: &str,
    timeout: Duration,
) -> Result<Lock, TargetError> {
    let key = lock_key(namespace);
    let token = new_token();
    let deadline = Instant::now() + timeout;
    let mut contended = false;
    loop {
        let set = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(lease().as_millis() as u64)
            .clone();
        let get = redis::cmd("GET").arg(&key).clone();
        let taken_at = Instant::now();
        let replies = target.batch(&[set, get]).await?;
        match replies.first() {
            Some(Value::Okay) | Some(Value::SimpleString(_)) => {
                let state = std::sync::Arc::new(std::sync::Mutex::new(Lease {
                    confirmed_until: taken_at + lease(),
                    lost: None,
                }));
                let renewer = spawn_renewer(target, key.clone(), token.clone(), state.clone());
                return Ok(Lock {
                    contended,
                    key,
                    token,
                    renewer,
                    lease: state,
                });
            }
            Some(Value::ServerError(e)) => {
                return Err(TargetError(format!(
                    "cannot take the apply lock `{key}`: {}",
                    crate::live::read::server_error_text(e)
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            let holder = replies.get(1).and_then(as_text).unwrap_or_default();
            let holder = holder.rsplit_once('/').map_or(holder.as_str(), |(h, _)| h);
            return Err(TargetError(format!(
                "another apply holds the lock `{key}` ({holder}); waited {}s. If that apply was killed, its lock expires within {}s",
                timeout.as_secs(),
                lease().as_secs()
            )));
        }
        contended = true;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Renew the lease every third of it while the apply works.
fn spawn_renewer(
    target: &Target,
    key: String,
    token: String,
    state: std::sync::Arc<std::sync::Mutex<Lease>>,
) -> tokio::task::JoinHandle<()> {
    let mut connection = target.connection();
    tokio::spawn(async move {
        let lease = lease();
        let mut interval = tokio::time::interval(lease / 3);
        interval.tick().await; // the first tick is immediate
        loop {
            interval.tick().await;
            let sent_at = Instant::now();
            let renewed: redis::RedisResult<i64> = redis::cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(&key)
                .arg(&token)
                .arg(lease.as_millis() as u64)
                .query_async(&mut connection)
                .await;
            let Ok(mut lease) = state.lock() else {
                return;
            };
            match renewed {
                Ok(1) => lease.confirmed_until = lease.confirmed_until.max(sent_at + lease_now()),
                Ok(_) => {
                    lease.lost = Some("another apply holds it now".to_owned());
                    return;
                }
                Err(e) => {
                    lease.lost = Some(format!("renewing it failed: {e}"));
                    return;
                }
            }
        }
    })
}

impl Lock {
    /// Release the lock if it is still ours.
    pub async fn release(self, target: &mut Target) -> Result<(), TargetError> {
        self.renewer.abort();
        let release = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&self.key)
            .arg(&self.token)
            .clone();
        target.batch(&[release]).await.map(|_| ())
    }
}
