//! The apply lock: one apply per namespace at a time, and never two that both write.
//!
//! The lock is the key `{__topology__:<ns>}:lock` (in the slot of the record, see
//! [`crate::record`]). Its value is a token that names the holder,
//! `host/pid N/since T/client C/<random>`: `C` is the `CLIENT ID` of the connection that
//! carries the holder's writes (left out when `CLIENT ID` is refused), and the random part
//! makes the token the holder's alone. Every step is one round trip whose reply is checked:
//!
//! - **Take** ([`TAKE`]): `SET key token NX PX lease` in a script that, when the lock is
//!   held, also returns the holder and the lock's `PTTL`. A user that may not run scripts
//!   fails here, naming `EVAL` and the server's words, before anything is written (a plain
//!   `SET` would succeed and leave a lock that user could then not release). The same
//!   script first looks at the lock's old name, `<ns>:__topology__:lock`: while a version
//!   from before the hash tag holds it, the lock counts as held by that apply (waited for,
//!   or, once its connection is gone, its old-name lock deleted and the lock taken).
//! - **Take over** ([`TAKE_OVER`]): a holder's writes all go over the connection its token
//!   names, so once that connection is gone (`CLIENT LIST ID C` is empty: the process was
//!   killed, or its link cut) the holder can never write again, and a waiting apply takes
//!   the lock at once instead of waiting out the lease. The script sets the new token only
//!   if the value is still the dead holder's, so of two waiters exactly one wins. Without
//!   permission for `CLIENT LIST` the waiter cannot tell, and waits for the lease to end.
//! - **Renew** ([`RENEW`]): compare-and-`PEXPIRE` every third of the lease. A confirmed
//!   renewal keeps the lease ours until the moment it was *sent* plus one lease (the server
//!   started its count later than that, so this errs on the safe side); `0` means another
//!   apply holds the lock now. [`Lock::check`] tells the applier before each batch whether
//!   the lease is still known to be ours: an apply whose link stalls stops rather than
//!   writing after another apply took over.
//! - **Release** ([`RELEASE`]): compare-and-`DEL`; finding the lock no longer ours is
//!   reported, not ignored.
//!
//! The lock is taken only when a plan has changes, so an apply with nothing to do sends no
//! write command at all.
//!
//! The lock is the target's ([`Target::acquire_lock`], [`Target::release_lock`]): its
//! commands go to the node that owns its key, the renewals over that node's write
//! connection, which never leaves this module.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Command, Deployment, Line, LockFence, NodeId, Route, Target, TargetError};
use crate::record::{legacy_lock_key, lock_key};
use crate::resp::{OwnedReply, Reply, server_words};
use crate::text::untrusted;

/// Why the lock could not be taken, kept, or released. Each prints as one line; keys are the
/// tool's own, holders and the server's words escaped.
#[derive(Clone, Debug, thiserror::Error)]
pub enum LockError {
    /// The lease is not known to be ours long enough (`why` follows the key).
    #[error("the apply lock `{key}` {why}")]
    NotKnownOurs { key: String, why: String },
    /// Released after another apply took it over.
    #[error(
        "the apply lock `{key}` was no longer this apply's (its lease ran out and another apply may have taken it); it was left as it is"
    )]
    NoLongerOurs { key: String },
    /// The release got no reply.
    #[error("cannot release the apply lock `{key}`: {source}; it expires by itself within {lease}")]
    ReleaseFailed {
        key: String,
        source: Box<TargetError>,
        lease: String,
    },
    /// A step (`take`, `take over`) got no reply.
    #[error("cannot {step} the apply lock `{key}`: {source}")]
    Failed {
        step: &'static str,
        key: String,
        source: Box<TargetError>,
    },
    /// Whether the holder's connection is open could not be asked.
    #[error("cannot check the apply lock's holder: {source}")]
    HolderUnchecked { source: Box<TargetError> },
    /// The wait ran out: who holds it, what will end the wait.
    #[error(
        "another apply holds the lock `{key}` ({holder}); waited {waited_s}s: {expiry}{connection}. Run apply again once it is done"
    )]
    StillHeld {
        key: String,
        holder: String,
        waited_s: u64,
        expiry: String,
        connection: String,
    },
    /// A lock script the server refused: its words, and what to do.
    #[error("cannot {step} the apply lock `{key}`: EVAL failed: {words}{advice}")]
    Refused {
        step: &'static str,
        key: String,
        words: String,
        advice: String,
    },
    /// No key of the lock's tag lands on a slot this primary serves (a primary that serves
    /// no slot).
    #[error("cannot place a copy of the apply lock `{key}` on {node}: it serves no slot")]
    NoCopySlot { key: String, node: String },
    /// A copy of the lock stayed another apply's for a whole lease.
    #[error(
        "the copy `{key}` of the apply lock on {node} is still another apply's; run apply again once it is done"
    )]
    CopyHeld { key: String, node: String },
    /// A lock script's reply of another shape.
    #[error("cannot {step} the apply lock `{key}`: EVAL gave an unexpected reply: {reply}")]
    Unexpected {
        step: &'static str,
        key: String,
        reply: String,
    },
}

/// How long a lock lives without renewal.
pub const LEASE: Duration = Duration::from_secs(30);

/// Default wait for a held lock: one lease and a margin, so a lock left by a killed apply
/// whose connection cannot be checked (no `CLIENT LIST` permission) is outlasted.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(45);

/// How often a waiting apply asks again.
const RETRY: Duration = Duration::from_millis(250);

/// The ACL rules the lock's scripts need: `EVAL`, and every command they run (a script runs
/// with its caller's permissions).
const SCRIPT_RULES: &str =
    "`+eval` and, for the commands the lock's scripts run, `+get +set +del +pexpire +pttl`";

/// The shortest and longest lease `REDIS_TOPOLOGY_LOCK_LEASE_MS` may set.
const LEASE_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=86_400_000;

/// Take a free lock (KEYS[1]); when held, say by whom and for how long: `{1}`, or
/// `{0, holder, pttl, 0}`. The lock's old name (KEYS[2]), held by an apply of an older
/// version, counts as held: `{0, holder, pttl, 1}`, and nothing is set. The holder comes back
/// cut to 1 KiB (a token is ~100 bytes; a lock written by hand may be anything, and this runs
/// every 250 ms of a wait). A cut holder is never taken over: the takeover compares the whole
/// value.
const TAKE: &str = "\
local old = redis.call('get', KEYS[2]) \
if old then return {0, string.sub(old, 1, 1024), redis.call('pttl', KEYS[2]), 1} end \
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end \
return {0, string.sub(redis.call('get', KEYS[1]) or '', 1, 1024), redis.call('pttl', KEYS[1]), 0}";

/// Replace the token ARGV[1] (a holder whose connection is gone) by ARGV[2]: 1, or 0 when the
/// lock changed hands meanwhile.
const TAKE_OVER: &str = "\
if redis.call('get', KEYS[1]) == ARGV[1] then \
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end \
return 0";

/// Extend our lease: 1, or 0 when the lock is not ours any more.
const RENEW: &str = "\
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end \
return 0";

/// Place a copy of the lock (KEYS[1]) with this apply's token ARGV[1] for ARGV[2] ms, unless
/// another apply's token is in it: 1, or 0 when it is another's.
const COPY_TAKE: &str = "\
local held = redis.call('get', KEYS[1]) \
if held and held ~= ARGV[1] then return 0 end \
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";

/// Delete the lock if it is ours: 1, or 0 when it is not ours any more.
const RELEASE: &str = "\
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end \
return 0";

/// The lease in force: [`LEASE`], or `REDIS_TOPOLOGY_LOCK_LEASE_MS` (for tests that kill an
/// apply or stall its link, and must not wait 30 s for its lock to expire).
fn lease() -> Duration {
    std::env::var("REDIS_TOPOLOGY_LOCK_LEASE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .filter(|ms| LEASE_RANGE_MS.contains(ms))
        .map_or(LEASE, Duration::from_millis)
}

/// A held lock. Release it with [`Target::release_lock`]; if the process dies, another apply takes
/// it over once the holder's connection is gone, or it expires.
pub struct Lock {
    key: String,
    token: String,
    lease: Duration,
    contended: bool,
    /// The holder (as shown) whose lock this apply took over because its connection was gone.
    taken_over_from: Option<String>,
    state: Arc<Mutex<Lease>>,
    renewer: tokio::task::JoinHandle<()>,
    /// On a cluster, the lock's copy on each other primary (see [`place_copies`]).
    copies: Vec<(NodeId, String)>,
}

impl Lock {
    /// The lock's key, `{__topology__:<namespace>}:lock`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The holder whose lock this apply took over (its connection was gone), as shown to
    /// people (escaped).
    pub fn taken_over_from(&self) -> Option<&str> {
        self.taken_over_from.as_deref()
    }

    /// How long the lock lives without renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// What a fenced batch checks on the server: this lock's key, token and lease, and its
    /// copies on the other primaries of a cluster.
    pub fn fence(&self) -> LockFence<'_> {
        LockFence {
            key: &self.key,
            token: &self.token,
            lease: self.lease,
            copies: &self.copies,
        }
    }

    /// Whether another apply held the lock when this one first asked.
    pub fn contended(&self) -> bool {
        self.contended
    }

    /// Ok while the lease is known to be ours for at least `margin` more; Err (one line, why:
    /// lost to another holder, renewal refused with the server's words, or not confirmed
    /// for too long, e.g. a stalled connection) otherwise. Called before every batch.
    pub fn check(&self, margin: Duration) -> Result<(), TargetError> {
        self.lease_state()
            .check(Instant::now(), margin)
            .map_err(|why| {
                LockError::NotKnownOurs {
                    key: self.key.clone(),
                    why,
                }
                .into()
            })
    }

    /// A write batch that renewed the lease server-side (the integrator's fenced batches
    /// run `PEXPIRE` when the token matches) was sent at `sent_at` and confirmed.
    pub fn confirm(&self, sent_at: Instant) {
        self.lease_state().confirm(sent_at);
    }

    /// A fenced batch found the lock not ours: the lease is lost; `check` fails from now on.
    pub fn mark_lost(&self, why: &str) {
        self.lease_state()
            .end(format!("was lost: {}", untrusted(why)));
    }

    /// The lease state, also when the renewer panicked holding it (it cannot: no code under
    /// the lock panics; the state stays meaningful either way).
    fn lease_state(&self) -> std::sync::MutexGuard<'_, Lease> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Target {
    /// Take the lock of a namespace, waiting up to `timeout` for a current holder, and
    /// taking it over at once from a holder whose connection is gone; it is renewed in the
    /// background until [`Target::release_lock`].
    pub async fn acquire_lock(
        &mut self,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Lock, TargetError> {
        acquire(self, namespace, timeout).await
    }

    /// Stop renewing and delete the lock if it is still ours. Err when it could not be
    /// released, including when it was not ours any more (another apply took it over after
    /// this one's lease ran out): the caller warns.
    pub async fn release_lock(&mut self, lock: Lock) -> Result<(), TargetError> {
        lock.renewer.abort();
        // The copies first: they must never outlive the lock. One still another's is left.
        for (node, copy) in &lock.copies {
            let release = script(RELEASE, copy, &[&lock.token]);
            self.call(Route::Node(*node), release).await?;
        }
        let release = script(RELEASE, &lock.key, &[&lock.token]);
        let reply = ask(self, &lock.key, release).await;
        match reply.as_ref().map(OwnedReply::reply) {
            Ok(Reply::Int(1)) => Ok(()),
            Ok(Reply::Int(0)) => Err(LockError::NoLongerOurs {
                key: lock.key.clone(),
            }
            .into()),
            Ok(Reply::Error { code, details }) => {
                Err(refused("release", &lock.key, code, details, lock.lease))
            }
            Ok(other) => Err(unexpected("release", &lock.key, &other)),
            Err(e) => Err(LockError::ReleaseFailed {
                key: lock.key.clone(),
                source: Box::new(e.clone()),
                lease: seconds(lock.lease),
            }
            .into()),
        }
    }
}

impl Drop for Lock {
    /// A lock dropped without [`Target::release_lock`] stops being renewed, and expires.
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// What is known about the lease: until when it is surely ours, and whether it ended.
#[derive(Debug)]
struct Lease {
    length: Duration,
    /// The send time of the last confirmed take or renewal, plus one lease.
    confirmed_until: Instant,
    /// Why the last renewal was not confirmed (no reply, a client error), until one is.
    failing: Option<String>,
    /// Why the lease is over for good (lost to another holder, renewal refused).
    ended: Option<String>,
}

impl Lease {
    /// A lease taken by a command sent at `sent_at`.
    fn new(length: Duration, sent_at: Instant) -> Lease {
        Lease {
            length,
            // An unrepresentable instant cannot happen with a lease of at most a day; were
            // it to, the lease counts as unconfirmed, which is safe.
            confirmed_until: sent_at.checked_add(length).unwrap_or(sent_at),
            failing: None,
            ended: None,
        }
    }

    fn confirm(&mut self, sent_at: Instant) {
        if let Some(until) = sent_at.checked_add(self.length)
            && until > self.confirmed_until
        {
            self.confirmed_until = until;
            self.failing = None;
        }
    }

    /// The first reason the lease ended is kept: later ones follow from it.
    fn end(&mut self, why: String) {
        self.ended.get_or_insert(why);
    }

    /// Ok when the lease is known to be ours until `now + margin`; else why not (a phrase
    /// that follows "the apply lock `key`").
    fn check(&self, now: Instant, margin: Duration) -> Result<(), String> {
        if let Some(why) = &self.ended {
            return Err(why.clone());
        }
        if now
            .checked_add(margin)
            .is_some_and(|needed| needed <= self.confirmed_until)
        {
            return Ok(());
        }
        let left = self.confirmed_until.saturating_duration_since(now);
        let last_confirmed_send = self
            .confirmed_until
            .checked_sub(self.length)
            .unwrap_or(self.confirmed_until);
        let unconfirmed = now.saturating_duration_since(last_confirmed_send);
        let why = match &self.failing {
            Some(failure) => format!("the last renewal failed: {failure}"),
            None => format!(
                "no renewal was confirmed for {} (a stalled or slow connection?)",
                seconds(unconfirmed)
            ),
        };
        Err(format!(
            "is known to be this apply's for {} more, less than the {} needed: {why}; another apply may take it over",
            seconds(left),
            seconds(margin)
        ))
    }
}

/// See [`Target::acquire_lock`].
async fn acquire(
    target: &mut Target,
    namespace: &str,
    timeout: Duration,
) -> Result<Lock, TargetError> {
    let key = lock_key(namespace);
    // The old name is in another slot, which one script may not touch on a cluster; no
    // version from before the hash tag applied to a cluster, so there a key of the lock's own
    // slot that never exists stands in for it.
    let old_key = if target.deployment() == Deployment::Cluster {
        format!("{key}:no-old-name")
    } else {
        legacy_lock_key(namespace)
    };
    let lease = lease();
    let client_id = match target.known_client_id(Route::Key(&key)) {
        Some(known) => known,
        None => own_client_id(target, &key).await?,
    };
    let token = new_token(client_id);
    // No deadline when it cannot be represented (`--lock-timeout` of billions of years).
    let deadline = Instant::now().checked_add(timeout);
    let mut contended = false;
    let mut cannot_list: Option<String> = None;
    loop {
        let sent = Instant::now();
        let (holder, pttl, old_name) = match take(target, [&key, &old_key], &token, lease).await? {
            Held::Free => {
                return Lock::start(target, key, token, lease, contended, sent, None).await;
            }
            Held::By {
                holder,
                pttl,
                old_name,
            } => (holder, pttl, old_name),
        };
        contended = true;
        let held = if old_name { &old_key } else { &key };
        let connection = match &cannot_list {
            Some(why) => Connection::Unknown(why.clone()),
            None => holder_connection(target, held, &holder).await?,
        };
        match &connection {
            Connection::Gone if old_name => {
                // An older apply, killed: its lock goes (if still its), and the next take
                // takes ours.
                release_old(target, &old_key, &holder, lease).await?;
                continue;
            }
            Connection::Gone => {
                let sent = Instant::now();
                if take_over(target, &key, &holder, &token, lease).await? {
                    let from = Some(shown_holder(&holder));
                    return Lock::start(target, key, token, lease, contended, sent, from).await;
                }
                // Taken or released meanwhile: ask again.
            }
            Connection::Unknown(why) => cannot_list = Some(why.clone()),
            Connection::Open(_) | Connection::NotRecorded => {}
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(still_held(held, &holder, pttl, &connection, timeout));
        }
        tokio::time::sleep(RETRY).await;
    }
}

impl Lock {
    /// A lock just taken by a command sent at `sent`: place its copies on the other
    /// primaries of a cluster, and start renewing it.
    async fn start(
        target: &mut Target,
        key: String,
        token: String,
        lease: Duration,
        contended: bool,
        sent: Instant,
        taken_over_from: Option<String>,
    ) -> Result<Lock, TargetError> {
        let state = Arc::new(Mutex::new(Lease::new(lease, sent)));
        let copies = place_copies(target, &key, &token, lease, sent).await?;
        // Renewals go where the lock is, on the connection of the writes; each copy's on its
        // node's.
        let line = target.line(Route::Key(&key))?;
        let copy_lines = copies
            .iter()
            .map(|(node, copy)| Ok((target.line(Route::Node(*node))?, copy.clone())))
            .collect::<Result<Vec<_>, TargetError>>()?;
        let renewer = tokio::spawn(renew(
            line,
            key.clone(),
            token.clone(),
            Arc::clone(&state),
            copy_lines,
        ));
        Ok(Lock {
            key,
            token,
            lease,
            contended,
            taken_over_from,
            state,
            renewer,
            copies,
        })
    }
}

/// How much sooner than the lock a copy expires: every copy must be gone before another
/// apply can take the lock.
const COPY_MARGIN: Duration = Duration::from_millis(500);

/// Place a copy of the lock (see [`Target::lock_copy_key`]) on every primary of a cluster
/// but the lock's, expiring before the lock does. A copy still held by another apply's
/// token (an apply whose lock expired, or was taken over, moments ago) is waited for: it
/// expires before that apply's lock did. Nothing on a standalone server.
async fn place_copies(
    target: &mut Target,
    key: &str,
    token: &str,
    lease: Duration,
    sent: Instant,
) -> Result<Vec<(NodeId, String)>, TargetError> {
    if target.deployment() != Deployment::Cluster {
        return Ok(Vec::new());
    }
    let lock_node = target.route(Route::Key(key)).first().copied();
    let primaries: Vec<NodeId> = target
        .route(Route::EveryPrimary)
        .into_iter()
        .filter(|node| Some(*node) != lock_node)
        .collect();
    // Every primary's copy at once: one round trip in all, not one per primary.
    let target = &*target;
    let placing = primaries.into_iter().map(|node| async move {
        Ok((
            node,
            place_copy(target, key, token, lease, sent, node).await?,
        ))
    });
    futures_util::future::join_all(placing)
        .await
        .into_iter()
        .collect()
}

/// Place the lock's copy on `node`, waiting while another apply's copy is there (it expires
/// before that apply's lock does); the copy's key.
async fn place_copy(
    target: &Target,
    key: &str,
    token: &str,
    lease: Duration,
    sent: Instant,
    node: NodeId,
) -> Result<String, TargetError> {
    let copy = target
        .lock_copy_key(key, node)
        .ok_or_else(|| LockError::NoCopySlot {
            key: key.to_owned(),
            node: target.address(node).to_owned(),
        })?;
    loop {
        let left = lease
            .saturating_sub(sent.elapsed())
            .saturating_sub(COPY_MARGIN);
        if left.is_zero() {
            return Err(LockError::CopyHeld {
                key: copy,
                node: target.address(node).to_owned(),
            }
            .into());
        }
        let place = script(COPY_TAKE, &copy, &[token, &millis(left)]);
        let reply = target.call(Route::Node(node), place).await?;
        match reply.reply() {
            Reply::Int(1) => return Ok(copy),
            Reply::Int(0) => tokio::time::sleep(RETRY).await,
            Reply::Error { code, details } => {
                return Err(refused("take", &copy, code, details, lease));
            }
            other => return Err(unexpected("take", &copy, &other)),
        }
    }
}

/// The token: who holds the lock, and a random part that makes it this apply's alone.
fn new_token(client: Option<i64>) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown-host".to_owned());
    let pid = std::process::id();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = RandomState::new().hash_one((pid, Instant::now()));
    let client = client.map(|id| format!("client {id}/")).unwrap_or_default();
    format!("{host}/pid {pid}/since {started}/{client}{random:016x}")
}

/// The holder as shown in messages: its token without the random part, escaped.
fn shown_holder(token: &str) -> String {
    let named = token.rsplit_once('/').map_or(token, |(holder, _)| holder);
    untrusted(named).into_owned()
}

/// The write connection's id recorded in a token, if it has one.
fn token_client_id(token: &str) -> Option<i64> {
    token
        .split('/')
        .find_map(|part| part.strip_prefix("client "))
        .and_then(|id| id.parse().ok())
}

/// The `CLIENT ID` of the write connection to the lock's node (the one the writes and the
/// renewer use), or `None` when the server refuses it: the lock then cannot be taken over at
/// once. Asked here when apply did not ask it ahead ([`Target::client_ids`]).
async fn own_client_id(target: &mut Target, key: &str) -> Result<Option<i64>, TargetError> {
    let id = Command::new("CLIENT").arg("ID");
    match ask(target, key, id).await.as_ref().map(OwnedReply::reply) {
        Ok(Reply::Int(id)) => Ok(Some(id)),
        Ok(_) => Ok(None),
        Err(e) => Err(LockError::Failed {
            step: "take",
            key: key.to_owned(),
            source: Box::new(e.clone()),
        }
        .into()),
    }
}

/// What the take script found.
enum Held {
    Free,
    /// Held, under the lock's name or (`old_name`) under its old name by an older version.
    By {
        holder: String,
        pttl: i64,
        old_name: bool,
    },
}

/// Run [`TAKE`] on the lock and its old name (`[key, old_key]`).
async fn take(
    target: &mut Target,
    [key, old_key]: [&str; 2],
    token: &str,
    lease: Duration,
) -> Result<Held, TargetError> {
    let mut take = Command::new("EVAL");
    take.push(TAKE).push(2u64).push(key).push(old_key);
    take.push(token).push(millis(lease));
    let reply = ask(target, key, take)
        .await
        .map_err(|e| LockError::Failed {
            step: "take",
            key: key.to_owned(),
            source: Box::new(e.clone()),
        })?;
    parse_take(&reply.reply()).map_err(|reply| match reply {
        Reply::Error { code, details } => refused("take", key, code, details, lease),
        other => unexpected("take", key, other),
    })
}

/// The take script's reply, or the reply itself when it is not one.
fn parse_take<'r, 'a>(reply: &'r Reply<'a>) -> Result<Held, &'r Reply<'a>> {
    let Reply::Array(parts) = reply else {
        return Err(reply);
    };
    match parts.as_slice() {
        [Reply::Int(1)] => Ok(Held::Free),
        [
            Reply::Int(0),
            holder,
            Reply::Int(pttl),
            Reply::Int(old @ (0 | 1)),
        ] => Ok(Held::By {
            holder: text_of(holder).ok_or(reply)?,
            pttl: *pttl,
            old_name: *old == 1,
        }),
        _ => Err(reply),
    }
}

/// Whether the connection a holder's token names is still open.
enum Connection {
    Open(i64),
    Gone,
    /// The token names none (taken without `CLIENT ID`, or set by hand).
    NotRecorded,
    /// `CLIENT LIST` was refused (the server's words): wait for the lease instead.
    Unknown(String),
}

async fn holder_connection(
    target: &mut Target,
    key: &str,
    holder: &str,
) -> Result<Connection, TargetError> {
    let Some(id) = token_client_id(holder) else {
        return Ok(Connection::NotRecorded);
    };
    // The holder's connection is to the lock's node.
    let list = Command::new("CLIENT").arg("LIST").arg("ID").arg(id);
    let reply = ask(target, key, list)
        .await
        .map_err(|e| LockError::HolderUnchecked {
            source: Box::new(e.clone()),
        })?;
    Ok(match reply.reply() {
        Reply::Error { code, details } => Connection::Unknown(format!(
            "CLIENT LIST was refused: {}",
            untrusted(&server_words(code, details))
        )),
        other => match text_of(&other) {
            Some(clients) if clients.trim().is_empty() => Connection::Gone,
            Some(_) => Connection::Open(id),
            None => Connection::Unknown(format!(
                "CLIENT LIST gave an unexpected reply: {}",
                describe(&other)
            )),
        },
    })
}

/// Replace a gone holder's token by ours: whether we got it.
async fn take_over(
    target: &mut Target,
    key: &str,
    holder: &str,
    token: &str,
    lease: Duration,
) -> Result<bool, TargetError> {
    let take_over = script(TAKE_OVER, key, &[holder, token, &millis(lease)]);
    match ask(target, key, take_over)
        .await
        .as_ref()
        .map(OwnedReply::reply)
    {
        Ok(Reply::Int(taken)) => Ok(taken == 1),
        Ok(Reply::Error { code, details }) => Err(refused("take over", key, code, details, lease)),
        Ok(other) => Err(unexpected("take over", key, &other)),
        Err(e) => Err(LockError::Failed {
            step: "take over",
            key: key.to_owned(),
            source: Box::new(e.clone()),
        }
        .into()),
    }
}

/// Delete the old-name lock of an older apply whose connection is gone, if it still holds
/// this token (compare-and-delete, so a lock that changed hands meanwhile stays).
async fn release_old(
    target: &mut Target,
    old_key: &str,
    holder: &str,
    lease: Duration,
) -> Result<(), TargetError> {
    let release = script(RELEASE, old_key, &[holder]);
    match ask(target, old_key, release)
        .await
        .as_ref()
        .map(OwnedReply::reply)
    {
        Ok(Reply::Int(_)) => Ok(()),
        Ok(Reply::Error { code, details }) => {
            Err(refused("take over", old_key, code, details, lease))
        }
        Ok(other) => Err(unexpected("take over", old_key, &other)),
        Err(e) => Err(LockError::Failed {
            step: "take over",
            key: old_key.to_owned(),
            source: Box::new(e.clone()),
        }
        .into()),
    }
}

/// The error when the wait ran out: who holds the lock, and what will end the wait.
fn still_held(
    key: &str,
    holder: &str,
    pttl: i64,
    connection: &Connection,
    timeout: Duration,
) -> TargetError {
    let expiry = match u64::try_from(pttl) {
        Ok(ms) => format!(
            "the lock expires in {} unless its holder renews it",
            seconds(Duration::from_millis(ms))
        ),
        Err(_) => format!(
            "the lock has no expiry, so no apply set it: once sure no apply runs, delete it with `DEL {key}`"
        ),
    };
    let connection = match connection {
        Connection::Open(id) => format!("; its connection (client {id}) is open"),
        Connection::Unknown(why) => {
            format!("; whether its connection is open is unknown ({why})")
        }
        Connection::Gone | Connection::NotRecorded => String::new(),
    };
    LockError::StillHeld {
        key: key.to_owned(),
        holder: shown_holder(holder),
        waited_s: timeout.as_secs(),
        expiry,
        connection,
    }
    .into()
}

/// Renew the lease every third of it, until the lock is released, lost or refused. Each
/// reply is recorded in `state` for [`Lock::check`].
async fn renew(
    mut line: Line,
    key: String,
    token: String,
    state: Arc<Mutex<Lease>>,
    mut copies: Vec<(Line, String)>,
) {
    let lease = state.lock().unwrap_or_else(PoisonError::into_inner).length;
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        ticks.tick().await;
        let sent = Instant::now();
        let reply = line
            .call(script(RENEW, &key, &[&token, &millis(lease)]))
            .await;
        if matches!(reply.as_ref().map(OwnedReply::reply), Ok(Reply::Int(1)))
            && let Err(why) = renew_copies(&mut copies, &token, lease, sent).await
        {
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .end(why);
            return;
        }
        let mut known = state.lock().unwrap_or_else(PoisonError::into_inner);
        match reply.as_ref().map(OwnedReply::reply) {
            Ok(Reply::Int(1)) => known.confirm(sent),
            Ok(Reply::Int(0)) => {
                known.end("was lost: its lease ran out (another apply may hold it now)".to_owned());
                return;
            }
            Ok(Reply::Error { code, details }) => {
                known.end(format!(
                    "could not be renewed: EVAL failed: {}",
                    untrusted(&server_words(code, details))
                ));
                return;
            }
            Ok(other) => {
                known.failing = Some(format!(
                    "EVAL gave an unexpected reply: {}",
                    describe(&other)
                ));
            }
            Err(e) => {
                let text = e.to_string();
                let first_line = text.lines().next().unwrap_or_default();
                known.failing = Some(format!("EVAL got no reply: {}", untrusted(first_line)));
            }
        }
    }
}

/// After the lock's renewal sent at `sent` was confirmed: each copy renewed to expire
/// [`COPY_MARGIN`] before the lock can. `Err`: why the lease must end (a copy lost or
/// refused: the writes of its primary could no longer be fenced).
async fn renew_copies(
    copies: &mut [(Line, String)],
    token: &str,
    lease: Duration,
    sent: Instant,
) -> Result<(), String> {
    for (line, copy) in copies.iter_mut() {
        let left = lease
            .saturating_sub(sent.elapsed())
            .saturating_sub(COPY_MARGIN);
        let reply = line
            .call(script(RENEW, copy, &[token, &millis(left)]))
            .await;
        match reply.as_ref().map(OwnedReply::reply) {
            Ok(Reply::Int(1)) => {}
            Ok(other) => {
                return Err(format!(
                    "could not renew its copy `{}`: {}",
                    untrusted(copy),
                    describe(&other)
                ));
            }
            Err(e) => {
                let text = e.to_string();
                return Err(format!(
                    "could not renew its copy `{}`: {}",
                    untrusted(copy),
                    untrusted(text.lines().next().unwrap_or_default())
                ));
            }
        }
    }
    Ok(())
}

/// `EVAL body 1 key args...`
fn script(body: &str, key: &str, args: &[&str]) -> Command {
    let mut eval = Command::new("EVAL");
    eval.push(body).push(1u64).push(key);
    for arg in args {
        eval.push(*arg);
    }
    eval
}

/// The reply to one command sent alone on the write connection of the lock's node.
async fn ask(target: &mut Target, key: &str, command: Command) -> Result<OwnedReply, TargetError> {
    target.call(Route::Key(key), command).await
}

/// A lock script the server refused: its words, and for a permission the rule to add.
fn refused(
    step: &'static str,
    key: &str,
    code: &str,
    details: &str,
    lease: Duration,
) -> TargetError {
    let words = server_words(code, details);
    let advice = if code == "NOPERM" || refused_inside_script(code, &words) {
        format!("; the apply user needs {SCRIPT_RULES} (docs/operations.md lists its rules)")
    } else if step == "take" {
        String::new()
    } else {
        format!("; the lock expires by itself within {}", seconds(lease))
    };
    LockError::Refused {
        step,
        key: key.to_owned(),
        words: untrusted(words.trim_end_matches('.')).into_owned(),
        advice,
    }
    .into()
}

/// Whether a script's error is the server refusing a command the script runs. `NOPERM`
/// refuses `EVAL` itself (or a key it names); a command refused inside the script comes back
/// as a plain `ERR`, the one case where only the words tell. They differ by version (measured
/// with `+eval` and no `+set`): Redis 7.0.15 "The user executing the script can't run this
/// command or subcommand"; Redis 7.2.4, 7.4.1, 8.2.3 and Valkey 8.0.1, 8.1.8, 9.1.2 "ACL
/// failure in script: User <name> has no permissions to run the 'set' command".
fn refused_inside_script(code: &str, words: &str) -> bool {
    code == "ERR"
        && (words.contains("ACL failure in script") || words.contains("can't run this command"))
}

fn unexpected(step: &'static str, key: &str, reply: &Reply<'_>) -> TargetError {
    LockError::Unexpected {
        step,
        key: key.to_owned(),
        reply: describe(reply),
    }
    .into()
}

/// A reply, shown briefly and safely.
fn describe(reply: &Reply<'_>) -> String {
    reply.describe()
}

/// A string reply's text.
fn text_of(reply: &Reply<'_>) -> Option<String> {
    reply.text().map(std::borrow::Cow::into_owned)
}

/// A duration in milliseconds, as a command argument.
fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// `12.3s`
fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_names_the_holder_and_its_connection() {
        let token = new_token(Some(42));
        assert_eq!(token_client_id(&token), Some(42), "{token}");
        let shown = shown_holder(&token);
        assert!(shown.ends_with("/client 42"), "{shown}");
        assert!(shown.contains(&format!("/pid {}/", std::process::id())));
        let without = new_token(None);
        assert_eq!(token_client_id(&without), None, "{without}");
        assert_ne!(new_token(None), new_token(None), "random part");
    }

    #[test]
    fn a_forged_holder_is_shown_escaped() {
        let shown = shown_holder("evil\nerror: forged/pid 1/since 0/abc");
        assert_eq!(shown, "evil\\nerror: forged/pid 1/since 0");
        assert_eq!(token_client_id("host/pid 1/client x/abc"), None);
    }

    #[test]
    fn take_replies_are_checked() {
        let free = Reply::Array(vec![Reply::Int(1)]);
        assert!(matches!(parse_take(&free), Ok(Held::Free)));
        for (flag, under_old_name) in [(0, false), (1, true)] {
            let held = Reply::Array(vec![
                Reply::Int(0),
                Reply::Bytes(b"h/pid 1/since 0/client 7/ab"),
                Reply::Int(1234),
                Reply::Int(flag),
            ]);
            assert!(matches!(
                parse_take(&held),
                Ok(Held::By { ref holder, pttl: 1234, old_name }) if holder.ends_with("/ab") && old_name == under_old_name
            ));
        }
        // A plain `SET`'s OK (what the old code took for success) or a refusal is no answer.
        for wrong in [
            Reply::Bytes(b"OK"),
            Reply::Int(1),
            Reply::Array(vec![Reply::Int(0)]),
            Reply::Array(vec![Reply::Int(0), Reply::Bytes(b"h"), Reply::Int(5)]),
            Reply::Array(vec![
                Reply::Int(0),
                Reply::Bytes(b"h"),
                Reply::Int(5),
                Reply::Int(2),
            ]),
        ] {
            assert!(parse_take(&wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn a_refused_script_names_eval_and_the_servers_words() {
        let line = "NOPERM this user has no permissions to run the 'eval' command";
        let (code, details) = line.split_once(' ').unwrap_or((line, ""));
        let message = refused("take", "app:__topology__:lock", code, details, LEASE).to_string();
        assert!(
            message.starts_with(
                "cannot take the apply lock `app:__topology__:lock`: EVAL failed: NOPERM this user"
            ),
            "{message}"
        );
        assert!(message.contains("needs `+eval`"), "{message}");
        let line = "ERR The user executing the script can't run this command or subcommand script: 2d7b, on @user_script:1.";
        let (code, details) = line.split_once(' ').unwrap_or((line, ""));
        let message = refused("renew", "k", code, details, LEASE).to_string();
        assert!(message.contains("+pexpire +pttl"), "{message}");
        // Redis 7.2+ and Valkey word the same refusal otherwise.
        let line = "ERR ACL failure in script: User topology-apply has no permissions to run the 'set' command script: 6a6a, on @user_script:1.";
        let (code, details) = line.split_once(' ').unwrap_or((line, ""));
        let message = refused("take", "k", code, details, LEASE).to_string();
        assert!(message.contains("+pexpire +pttl"), "{message}");
        // Any other error of a script is shown without advice.
        let line = "ERR Error running script";
        let (code, details) = line.split_once(' ').unwrap_or((line, ""));
        let message = refused("take", "k", code, details, LEASE).to_string();
        assert!(!message.contains("+eval"), "{message}");
    }

    #[test]
    fn the_lease_is_confirmed_from_the_send_time_of_each_renewal() {
        let start = Instant::now();
        let length = Duration::from_secs(3);
        let mut lease = Lease::new(length, start);
        assert!(lease.check(start, Duration::from_secs(2)).is_ok());
        let late = start + Duration::from_secs(2);
        let error = lease.check(late, Duration::from_secs(2)).unwrap_err();
        assert!(
            error.contains("1.0s more, less than the 2.0s needed"),
            "{error}"
        );
        assert!(error.contains("stalled"), "{error}");
        lease.confirm(start + Duration::from_secs(1));
        assert!(lease.check(late, Duration::from_secs(2)).is_ok());
        // An older confirmation arriving late does not shorten the lease.
        lease.confirm(start);
        assert!(lease.check(late, Duration::from_secs(2)).is_ok());
        lease.failing = Some("EVAL got no reply: timed out".to_owned());
        let error = lease
            .check(start + Duration::from_secs(5), Duration::ZERO)
            .unwrap_err();
        assert!(
            error.contains("the last renewal failed: EVAL got no reply"),
            "{error}"
        );
    }

    #[test]
    fn a_lost_lease_stays_lost() {
        let start = Instant::now();
        let mut lease = Lease::new(Duration::from_secs(30), start);
        lease.end("was lost: another apply holds it now".to_owned());
        lease.end("could not be renewed".to_owned());
        lease.confirm(start + Duration::from_secs(1));
        assert_eq!(
            lease.check(start, Duration::ZERO),
            Err("was lost: another apply holds it now".to_owned())
        );
    }

    #[test]
    fn no_margin_or_timeout_overflows() {
        let start = Instant::now();
        let lease = Lease::new(Duration::from_secs(30), start);
        assert!(lease.check(start, Duration::MAX).is_err());
        let message = still_held(
            "k",
            "h/pid 1/since 0/x",
            -1,
            &Connection::NotRecorded,
            Duration::from_secs(u64::MAX),
        )
        .to_string();
        assert!(message.contains("no expiry"), "{message}");
        assert!(message.contains("(h/pid 1/since 0)"), "{message}");
    }

    #[test]
    fn the_wait_message_gives_the_real_remaining_time() {
        let message = still_held(
            "app:__topology__:lock",
            "ci/pid 42/since 0/client 9/abc",
            61_234,
            &Connection::Open(9),
            Duration::from_secs(1),
        )
        .to_string();
        assert!(
            message.contains("(ci/pid 42/since 0/client 9); waited 1s: the lock expires in 61.2s unless its holder renews it; its connection (client 9) is open"),
            "{message}"
        );
    }
}
