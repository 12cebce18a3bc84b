//! Writes under the apply lock: each batch split by node, every node's share sent at once,
//! each fenced where its node can see the lock (see [`fenced`]).
//!
//! **Redirects on a cluster.** Every key's write there runs inside the batch script, and a
//! script that touches a key its node does not serve (any more) gets a plain `ERR`, never
//! `MOVED` or `ASK` (and the wording differs between servers). So when a script stops at a
//! write, that write's key is asked about on the same node with `EXISTS`, whose reply says
//! by its code where the key is: served here (the failure was the write's own, and stands;
//! but see below), `MOVED` (the slot moved: the slot map is mended and the rest of the share is split
//! again), `ASK` (the slot is moving and the key is on the new node already: that write goes
//! there after `ASKING`, the rest stays) or `TRYAGAIN` (sent again in a moment). The script
//! ran nothing after the write it stopped at, so each write runs once, and only the writes
//! redirected are sent again, never the whole batch. `CLUSTERDOWN` is no redirect: the
//! write's failure stands and the apply stops.
//!
//! One server gets in the way: Redis 7.4 (measured on 7.4.1; not 7.0, 7.2, 8.2 or Valkey)
//! refuses, with that same `ERR`, a script's write to a key of a slot being moved that the
//! node still has, once the script touched a key of another slot (the lock's copy): it looks
//! the key up in the other slot. Such a write, served here by `EXISTS`'s account yet refused
//! with `ERR`, is sent again after 100 ms, up to 5 times: a slot usually moves within
//! milliseconds. A write's own `ERR` is reported after those tries, unchanged.

use std::time::Duration;

use futures_util::{Stream, StreamExt};

use super::fenced::{self, BatchOutcome, TransactionOutcome};
use super::redirect::{MAX_REDIRECTS, Redirect, TRY_AGAIN_DELAY, redirect_of};
use super::{
    Command, Deployment, Fence, LockFence, NodeId, REPLICA_ATTEMPTS, REPLICA_LOCK_WAIT, Role,
    Route, Target, TargetError, Write, WriteOutcome, Written,
};
use crate::resp::{OwnedReply, Reply};
use crate::text::untrusted;

/// A node's share of a batch: its node, the writes' positions in the batch, the writes.
type Share<'a> = (NodeId, Vec<usize>, Vec<Write<'a>>);

/// Writes of a share still to send on a cluster: where, their positions in the batch, and
/// whether each follows an `ASKING` (sent where an `ASK` said).
struct Run<'a> {
    node: NodeId,
    indices: Vec<usize>,
    writes: Vec<Write<'a>>,
    asking: bool,
}

impl Target {
    /// Run fenced batches of writes under the lock, keeping up to `window` of them in
    /// flight, so that the server runs one batch while this process encodes the next and
    /// decodes the last. Each batch is split by node (a write routed to several nodes, an ACL
    /// user, goes to each of them), its nodes' shares run at once, and its outcome is one
    /// [`Written`] per node (more when a cluster redirected some writes), naming the writes
    /// it holds. Batches reach each node in order (its connection queues requests first come,
    /// first served, and the window starts them in order), and their outcomes come out in
    /// order. A consumer that stops early (an error, Ctrl-C) sends no further batch; the ones
    /// already sent still run, which is why every write is idempotent.
    ///
    /// The node that holds the lock checks it itself (see [`fenced`]); another primary of a
    /// cluster checks its copy of it; a replica checks its primary's, replicated
    /// ([`Target::replica_transaction`]). A node with none of them cannot be fenced: its
    /// writes are refused, unsent.
    pub fn write_batches<'a>(
        &'a self,
        lock: LockFence<'a>,
        fence: Fence,
        batches: impl Iterator<Item = Vec<Write<'a>>> + 'a,
        window: usize,
    ) -> impl Stream<Item = Result<Vec<Written>, TargetError>> + 'a {
        let lock_node = self.node_of(Route::Key(lock.key));
        futures_util::stream::iter(batches)
            .map(move |writes| {
                let shares = self.split_by_node(writes.into_iter().enumerate());
                async move {
                    let runs = shares
                        .into_iter()
                        .map(|share| self.write_share(lock, lock_node, fence, share));
                    let mut written = Vec::new();
                    for run in futures_util::future::join_all(runs).await {
                        written.extend(run?);
                    }
                    Ok(written)
                }
            })
            .buffered(window.max(1))
    }

    /// Writes by the node each goes to (each write to every node its route names), with
    /// their positions in the batch; nodes in the target's order.
    fn split_by_node<'a>(
        &self,
        writes: impl IntoIterator<Item = (usize, Write<'a>)>,
    ) -> Vec<Share<'a>> {
        let mut shares: Vec<Share<'a>> = Vec::with_capacity(1);
        for (index, write) in writes {
            // A key's write goes to one node, moved there; only a write to several nodes (an
            // ACL user) is copied, once per node but the last.
            let nodes = match write.route {
                Route::Key(key) => self.key_owner(key).into_iter().collect(),
                other => self.route(other),
            };
            let Some((last, others)) = nodes.split_last() else {
                continue;
            };
            for node in others {
                add_to_share(&mut shares, *node, index, write.clone());
            }
            add_to_share(&mut shares, *last, index, write);
        }
        shares.sort_by_key(|(node, _, _)| *node);
        shares
    }

    /// One node's share of a batch: a replica's in its transaction, a primary's as `fence`
    /// says.
    async fn write_share<'a>(
        &self,
        lock: LockFence<'a>,
        lock_node: NodeId,
        fence: Fence,
        (node, indices, writes): Share<'a>,
    ) -> Result<Vec<Written>, TargetError> {
        let here = self.lock_seen_by(node, lock, lock_node)?;
        let renewed = node == lock_node;
        let outcome = match (self.role(node), fence) {
            (Some(Role::Replica { .. }), _) => {
                let commands = writes.into_iter().map(|w| w.command).collect();
                WriteOutcome::Transaction(self.replica_transaction(node, here, commands).await?)
            }
            (_, Fence::Transaction) => {
                WriteOutcome::Transaction(self.transaction_on(node, here, renewed, writes).await?)
            }
            (_, Fence::Script) => {
                let run = Run {
                    node,
                    indices,
                    writes,
                    asking: false,
                };
                return self.scripts_following_redirects(lock, lock_node, run).await;
            }
        };
        Ok(vec![Written {
            node,
            writes: indices,
            outcome,
            renewed,
        }])
    }

    /// The lock as `node` checks it: the lock itself on its node, its copy on another
    /// primary of a cluster, a replica its primary's. A node with none is refused.
    pub(super) fn lock_seen_by<'a>(
        &self,
        node: NodeId,
        lock: LockFence<'a>,
        lock_node: NodeId,
    ) -> Result<LockFence<'a>, TargetError> {
        let primary = match self.role(node) {
            Some(Role::Replica { of }) => NodeId(of),
            _ => node,
        };
        let key = if primary == lock_node {
            Some(lock.key)
        } else {
            lock.copies
                .iter()
                .find(|(n, _)| *n == primary)
                .map(|(_, copy)| copy.as_str())
        };
        match key {
            Some(key) => Ok(LockFence { key, ..lock }),
            None => Err(TargetError::Endpoint {
                url: self.node_url(node),
                reason: "no copy of the apply lock is on this node's primary, so its writes cannot be fenced; run apply again".to_owned(),
            }),
        }
    }

    /// A primary's writes in a guarded transaction, fenced by `lock` (the lock or its copy
    /// there). `renews`: the transaction renews the lease (on the lock itself; a copy is
    /// renewed with the lock, to expire before it, never by a batch).
    async fn transaction_on(
        &self,
        node: NodeId,
        lock: LockFence<'_>,
        renews: bool,
        writes: Vec<Write<'_>>,
    ) -> Result<TransactionOutcome, TargetError> {
        let count = writes.len();
        // In the renewal's place on a copy: a harmless read of it.
        let renew = if renews {
            Command::new("PEXPIRE").arg(lock.key).arg(lock.lease_ms())
        } else {
            Command::new("PTTL").arg(lock.key)
        };
        let commands = std::iter::once(renew)
            .chain(writes.into_iter().map(|w| w.command))
            .collect();
        let batch = fenced::transaction_batch(lock.key, lock.token, commands);
        let replies = self.pipeline(node, batch).await?;
        let replies: Vec<Reply<'_>> = replies.iter().map(OwnedReply::reply).collect();
        fenced::transaction_outcome(&replies, count + 1).map_err(|source| TargetError::Fence {
            url: self.node_url(node),
            source,
        })
    }

    /// A primary's writes in the batch script, fenced by `lock` (the lock or its copy
    /// there); `renews` as for [`Target::transaction_on`]. `asking`: after an `ASKING`,
    /// which lets the script touch a key of a slot being moved to this node. An `ASKING`
    /// refused is the first write's failure, with the server's words.
    async fn script_on(
        &self,
        node: NodeId,
        lock: LockFence<'_>,
        renews: bool,
        writes: &[Write<'_>],
        asking: bool,
    ) -> Result<BatchOutcome, TargetError> {
        let lease_ms = if renews { lock.lease_ms() } else { 0 };
        let mut commands = Vec::with_capacity(2);
        if asking {
            commands.push(Command::new("ASKING"));
        }
        commands.push(fenced::batch_command(
            lock.key, lock.token, lease_ms, writes,
        ));
        let replies = self.pipeline(node, commands).await?;
        let replies: Vec<Reply<'_>> = replies.iter().map(OwnedReply::reply).collect();
        if asking && let Some(Reply::Error { code, details }) = replies.first() {
            return Ok(BatchOutcome::Ran {
                done: 0,
                failed: Some(format!("{code} {details}")),
            });
        }
        fenced::batch_outcome(replies.last().unwrap_or(&Reply::Nil)).map_err(|source| {
            TargetError::Fence {
                url: self.node_url(node),
                source,
            }
        })
    }

    /// A primary's share in the batch script; on a cluster, a write that its node does not
    /// serve (any more) is sent where the cluster says, with the writes after it (see the
    /// module's notes). One [`Written`] per script run, in the order they ran.
    async fn scripts_following_redirects<'a>(
        &self,
        lock: LockFence<'a>,
        lock_node: NodeId,
        first: Run<'a>,
    ) -> Result<Vec<Written>, TargetError> {
        let mut written = Vec::new();
        // Runs still to send, the next one last.
        let mut runs = vec![first];
        // How many times each write (by its position in the batch) was redirected.
        let mut redirects: Vec<(usize, usize)> = Vec::new();
        while let Some(run) = runs.pop() {
            if run.writes.is_empty() {
                continue;
            }
            let renewed = run.node == lock_node;
            let here = self.lock_seen_by(run.node, lock, lock_node)?;
            let outcome = self
                .script_on(run.node, here, renewed, &run.writes, run.asking)
                .await?;
            let Some((at, key)) = self.stopped_at(&run, &outcome) else {
                written.push(Written {
                    node: run.node,
                    writes: run.indices,
                    outcome: WriteOutcome::Script(outcome),
                    renewed,
                });
                continue;
            };
            let position = run.indices.get(at).copied().unwrap_or_default();
            let times = count(&mut redirects, position);
            let redirect = match self.where_is(run.node, key).await? {
                Some(_) if times > MAX_REDIRECTS => {
                    return Err(TargetError::Redirected {
                        url: self.node_url(run.node),
                        key: untrusted(key).into_owned(),
                        times: MAX_REDIRECTS,
                    });
                }
                Some(redirect) => redirect,
                // Served here, yet refused with a plain `ERR`: Redis 7.4 refuses a script's
                // write to a key of a slot being moved (one it still has) once the script
                // touched another slot (the lock's copy). Sent again in a moment, as for
                // `TRYAGAIN`: the move is usually over within milliseconds. A write's own
                // `ERR` is only reported later, unchanged.
                None if times <= MAX_REDIRECTS && refused_with_err(&outcome) => Redirect::TryAgain,
                None => {
                    written.push(Written {
                        node: run.node,
                        writes: run.indices,
                        outcome: WriteOutcome::Script(outcome),
                        renewed,
                    });
                    continue;
                }
            };
            let Run {
                node,
                mut indices,
                mut writes,
                ..
            } = run;
            // What ran before the write it stopped at stays done here.
            let rest_indices = indices.split_off(at);
            let rest = writes.split_off(at);
            written.push(Written {
                node,
                writes: indices,
                outcome: WriteOutcome::Script(BatchOutcome::Ran {
                    done: at,
                    failed: None,
                }),
                renewed,
            });
            runs.extend(self.redirected(node, redirect, rest_indices, rest).await?);
        }
        Ok(written)
    }

    /// Where a cluster's script stopped, if it may have stopped at a redirect: the position
    /// and key of the write it stopped at. Not after an `ASKING` (the new node has the key:
    /// the failure is the write's own) and not on a standalone target.
    fn stopped_at<'r>(&self, run: &'r Run<'_>, outcome: &BatchOutcome) -> Option<(usize, &'r str)> {
        if self.deployment != Deployment::Cluster || run.asking {
            return None;
        }
        let BatchOutcome::Ran {
            done,
            failed: Some(_),
        } = outcome
        else {
            return None;
        };
        match run.writes.get(*done)?.route {
            Route::Key(key) => Some((*done, key)),
            _ => None,
        }
    }

    /// Whether `node` serves `key`, asked with `EXISTS`: `None` when it does, else the
    /// redirect its reply is.
    async fn where_is(&self, node: NodeId, key: &str) -> Result<Option<Redirect>, TargetError> {
        let replies = self
            .pipeline(node, vec![Command::new("EXISTS").arg(key)])
            .await?;
        Ok(replies.first().and_then(|r| redirect_of(&r.reply())))
    }

    /// The runs that follow a redirect of the writes `rest` (the first one's key is the one
    /// redirected), the next to send last.
    async fn redirected<'a>(
        &self,
        node: NodeId,
        redirect: Redirect,
        rest_indices: Vec<usize>,
        rest: Vec<Write<'a>>,
    ) -> Result<Vec<Run<'a>>, TargetError> {
        let mut runs = Vec::new();
        match redirect {
            Redirect::Moved { slot, address } => {
                let to = self.node_named(node, &address)?;
                self.slots.set(slot, to);
                // Split again by the mended map: a key's writes stay together, in order.
                let shares = self.split_by_node(rest_indices.into_iter().zip(rest));
                for (node, indices, writes) in shares.into_iter().rev() {
                    runs.push(Run {
                        node,
                        indices,
                        writes,
                        asking: false,
                    });
                }
            }
            Redirect::Ask { address } => {
                let to = self.node_named(node, &address)?;
                let mut indices = rest_indices.into_iter();
                let mut writes = rest.into_iter();
                let (Some(index), Some(write)) = (indices.next(), writes.next()) else {
                    return Ok(runs);
                };
                runs.push(Run {
                    node,
                    indices: indices.collect(),
                    writes: writes.collect(),
                    asking: false,
                });
                runs.push(Run {
                    node: to,
                    indices: vec![index],
                    writes: vec![write],
                    asking: true,
                });
            }
            Redirect::TryAgain => {
                tokio::time::sleep(TRY_AGAIN_DELAY).await;
                runs.push(Run {
                    node,
                    indices: rest_indices,
                    writes: rest,
                    asking: false,
                });
            }
        }
        Ok(runs)
    }

    /// The node a redirect from `from` names by its address; one the tool did not find
    /// when it connected is an error (the cluster grew meanwhile).
    fn node_named(&self, from: NodeId, address: &str) -> Result<NodeId, TargetError> {
        self.node_at(address).ok_or_else(|| TargetError::Endpoint {
            url: self.node_url(from),
            reason: format!(
                "a slot moved to {}, a node the cluster did not list when the tool connected: run the command again",
                untrusted(address)
            ),
        })
    }

    /// Writes on a replica (ACL users, which Redis keeps per node), fenced by the replica's
    /// copy of the lock: `WATCH` it and read it; only when it holds this apply's token,
    /// `MULTI`, the writes, `EXEC`, which runs nothing if the copy changed meanwhile (the
    /// primary's lock expired, or another apply took it). A replica cannot run the guard
    /// script (it writes), hence the two round trips. The copy may lag the primary by the
    /// replication delay: it is read again for up to [`REPLICA_LOCK_WAIT`]. A renewal of the
    /// lease changes the copy too (its expiry), aborting the `EXEC` although the lock is
    /// still ours: nothing ran, so the transaction is tried again while the copy still holds
    /// this apply's token. The outcome reads as a guarded transaction's, its first result
    /// standing for the lease's renewal, which a replica leaves to the primary.
    async fn replica_transaction(
        &self,
        node: NodeId,
        lock: LockFence<'_>,
        commands: Vec<Command>,
    ) -> Result<TransactionOutcome, TargetError> {
        let count = commands.len();
        let mut transaction = Vec::with_capacity(count + 2);
        transaction.push(Command::new("MULTI"));
        transaction.extend(commands);
        transaction.push(Command::new("EXEC"));
        for _ in 0..REPLICA_ATTEMPTS {
            if !self.replica_holds_lock(node, lock).await? {
                return Ok(TransactionOutcome::LockLost);
            }
            let replies = self.pipeline(node, transaction.clone()).await?;
            let replies: Vec<Reply<'_>> = replies.iter().map(OwnedReply::reply).collect();
            let outcome =
                fenced::replica_outcome(&replies, count).map_err(|source| TargetError::Fence {
                    url: self.node_url(node),
                    source,
                })?;
            if outcome != TransactionOutcome::LockLost {
                return Ok(outcome);
            }
        }
        Ok(TransactionOutcome::LockLost)
    }

    /// `WATCH` the replica's copy of the lock and whether it holds this apply's token,
    /// waiting up to [`REPLICA_LOCK_WAIT`] for replication to bring it. Left watched when
    /// it does (the transaction follows), unwatched when it does not.
    async fn replica_holds_lock(
        &self,
        node: NodeId,
        lock: LockFence<'_>,
    ) -> Result<bool, TargetError> {
        let started = std::time::Instant::now();
        loop {
            let mut watch = vec![
                Command::new("WATCH").arg(lock.key),
                Command::new("GET").arg(lock.key),
            ];
            // A cluster's replica redirects reads of keys to its primary unless the
            // connection said READONLY.
            if self.deployment == Deployment::Cluster {
                watch.insert(0, Command::new("READONLY"));
            }
            let replies = self.pipeline(node, watch).await?;
            let holder = replies.last().map(OwnedReply::reply);
            if holder.as_ref().and_then(Reply::as_str) == Some(lock.token) {
                return Ok(true);
            }
            self.pipeline(node, vec![Command::new("UNWATCH")]).await?;
            if started.elapsed() >= REPLICA_LOCK_WAIT {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Count one more redirect of the write at `position` of the batch; how many it had.
fn count(redirects: &mut Vec<(usize, usize)>, position: usize) -> usize {
    match redirects.iter_mut().find(|(p, _)| *p == position) {
        Some((_, times)) => {
            *times += 1;
            *times
        }
        None => {
            redirects.push((position, 1));
            1
        }
    }
}

/// Whether a script stopped at a write refused with a plain `ERR` (the code, not its words).
fn refused_with_err(outcome: &BatchOutcome) -> bool {
    matches!(outcome, BatchOutcome::Ran { failed: Some(error), .. }
        if error.split_whitespace().next() == Some("ERR"))
}

/// The share of `node`, added when it has none yet.
fn share_of<'s, 'a>(shares: &'s mut Vec<Share<'a>>, node: NodeId) -> &'s mut Share<'a> {
    let at = match shares.iter().position(|(n, _, _)| *n == node) {
        Some(at) => at,
        None => {
            shares.push((node, Vec::new(), Vec::new()));
            shares.len() - 1
        }
    };
    &mut shares[at]
}

/// Add the write at `index` of a batch to `node`'s share.
fn add_to_share<'a>(shares: &mut Vec<Share<'a>>, node: NodeId, index: usize, write: Write<'a>) {
    let (_, indices, writes) = share_of(shares, node);
    indices.push(index);
    writes.push(write);
}
