//! Reads by key: each key's commands go to the node that serves it, every node's batches at
//! once, and a reply that redirects (`MOVED`, `ASK`: a slot that moved or is moving) is
//! followed for that key alone, never by sending a batch again.
//!
//! The live reader names keys and the commands to read for each; it gets each key back with
//! its replies, in no particular order across nodes (in order within a node). A read may
//! follow a key up ([`Target::read_keys_then`]): what it asks once a key's replies are in
//! goes to the same node at once, while the other keys' replies are still coming.

use std::collections::VecDeque;

use super::redirect::{MAX_REDIRECTS, Redirect, TRY_AGAIN_DELAY, redirect_of};
use super::{BATCH_SIZE, Command, NodeId, ReadError, Target, TargetError};
use crate::resp::Reply;
use crate::text::untrusted;

/// The commands to read for one key. `heavy`: its replies may be large (entries of a
/// stream), so fewer such keys go in a batch.
pub struct KeyCommands {
    pub commands: Vec<Command>,
    pub heavy: bool,
}

/// How many keys a batch may hold, and how many heavy ones.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    pub keys: usize,
    pub heavy: usize,
}

/// What a keyed read hands each key and its replies to.
pub type EachKey<'k, 'f> =
    dyn FnMut(&'k str, NodeId, &[Reply<'_>]) -> Result<(), TargetError> + Send + 'f;

/// What a keyed read with follow-ups hands each key and its replies to ([`KeyReplies`]);
/// commands it leaves in the last argument follow the key up, on the same node, and come
/// back to it as the next round.
pub type EachKeyThen<'k, 'f> =
    dyn FnMut(KeyReplies<'k, '_, '_>, &mut Vec<Command>) -> Result<(), TargetError> + Send + 'f;

/// A key's replies in a keyed read: to its own commands (round 0), or to the commands the
/// reader followed round `round - 1` up with.
pub struct KeyReplies<'k, 'r, 'b> {
    pub key: &'k str,
    pub node: NodeId,
    pub round: usize,
    pub replies: &'r [Reply<'b>],
}

/// The commands to read for a key on the node that serves it.
pub type CommandsOf<'f> = dyn Fn(&str, NodeId) -> KeyCommands + Sync + 'f;

/// Commands in flight to a node, at most: each batch answered lets the next ones be built
/// and sent. So the server starts on the first batch at once instead of after every key's
/// commands are built (70,000 commands for `status` of 10,000 streams), and never waits,
/// even on a slow link. Counted in commands, not batches: batches of keys with large replies
/// hold few keys (50 streams with an age probe), and 16 such batches per round trip of 2 ms
/// would read only 400 streams a millisecond, slower than the server answers.
const IN_FLIGHT: usize = 16 * BATCH_SIZE;

/// Commands sent before the first replies are in. Each batch answered then lets two be
/// built until [`IN_FLIGHT`] are in flight (the window doubles each round trip), so the
/// first batch leaves after a few hundred keys are built instead of thousands (2 ms of 10 ms
/// before `status`'s first read went out), and the server works on it while the next are
/// built.
const FIRST_IN_FLIGHT: usize = 2 * BATCH_SIZE;

/// One node's share of a read: the keys not yet in a batch (each with whether it follows an
/// `ASK`), the key built and left over when a batch filled up, the keys of each batch sent
/// and not yet answered, in order, and how many commands those batches hold.
struct Job<'k> {
    node: NodeId,
    unbuilt: std::vec::IntoIter<(&'k str, bool)>,
    carried: Option<(&'k str, bool, KeyCommands)>,
    sent: VecDeque<Vec<BatchKey<'k>>>,
    in_flight: usize,
}

impl<'k> Job<'k> {
    /// Build the next batch of keys and count it as sent; `None` when every key is built.
    fn send_next(
        &mut self,
        limits: BatchLimits,
        commands_of: &CommandsOf<'_>,
    ) -> Option<Vec<Command>> {
        let mut batch = Vec::new();
        let keys = next_batch(self, limits, commands_of, &mut batch);
        if keys.is_empty() {
            return None;
        }
        self.in_flight += batch.len();
        self.sent.push_back(keys);
        Some(batch)
    }
}

/// A key in a batch: its command count, whether each command follows an `ASKING`, and its
/// round (0 for its own commands, then one more for each follow-up).
type BatchKey<'k> = (&'k str, usize, bool, usize);

impl Target {
    /// Read `commands_of(key, node)` for each key on the node that serves it (all nodes at once),
    /// and hand each key with its replies to `each` (a key without commands has none, and is
    /// not handed over). Keys whose slot moved are read again where the cluster says, alone.
    pub async fn read_keys<'k>(
        &mut self,
        keys: &[&'k str],
        limits: BatchLimits,
        commands_of: &CommandsOf<'_>,
        each: &mut EachKey<'k, '_>,
    ) -> Result<(), ReadError> {
        self.read_keys_then(keys, limits, commands_of, &mut |read, _| {
            each(read.key, read.node, read.replies)
        })
        .await
    }

    /// [`Target::read_keys`], where `each` may follow a key up: the commands it leaves go to
    /// the key's node as soon as its batch is handled, and their replies come back to `each`
    /// as the key's next round. A key redirected in any round is read again from its first
    /// round where the cluster says.
    pub async fn read_keys_then<'k>(
        &mut self,
        keys: &[&'k str],
        limits: BatchLimits,
        commands_of: &CommandsOf<'_>,
        each: &mut EachKeyThen<'k, '_>,
    ) -> Result<(), ReadError> {
        let mut pending: Vec<&'k str> = keys.to_vec();
        let mut asking: Vec<(&'k str, String)> = Vec::new();
        for _ in 0..=MAX_REDIRECTS {
            let redirected = self
                .read_pass(&pending, &asking, limits, commands_of, each)
                .await?;
            if redirected.is_empty() {
                return Ok(());
            }
            if redirected
                .iter()
                .any(|(_, r)| matches!(r, Redirect::Moved { .. }))
            {
                self.refresh_slots().await?;
            }
            if redirected.iter().any(|(_, r)| *r == Redirect::TryAgain) {
                tokio::time::sleep(TRY_AGAIN_DELAY).await;
            }
            pending.clear();
            asking.clear();
            for (key, redirect) in redirected {
                match redirect {
                    // A slot in the middle of a move refused a multi-key read: read it again.
                    Redirect::Moved { .. } | Redirect::TryAgain => pending.push(key),
                    Redirect::Ask { address } => asking.push((key, address)),
                }
            }
        }
        let key = pending.first().or(asking.first().map(|(k, _)| k));
        Err(ReadError::Failed(TargetError::Redirected {
            url: self.describe().clone(),
            key: untrusted(key.copied().unwrap_or_default()).into_owned(),
            times: MAX_REDIRECTS,
        }))
    }

    /// One pass: `keys` on their slots' nodes, `asking` on the node an `ASK` named, each
    /// command after an `ASKING`. Returns the keys redirected again.
    async fn read_pass<'k>(
        &mut self,
        keys: &[&'k str],
        asking: &[(&'k str, String)],
        limits: BatchLimits,
        commands_of: &CommandsOf<'_>,
        each: &mut EachKeyThen<'k, '_>,
    ) -> Result<Vec<(&'k str, Redirect)>, ReadError> {
        let mut by_node: Vec<(NodeId, Vec<(&'k str, bool)>)> = Vec::new();
        for key in keys {
            // The owner alone, not a route's list: one lookup per key of 10,000.
            let node = self.key_owner(key).ok_or_else(|| {
                ReadError::Failed(TargetError::Unserved {
                    url: self.describe().clone(),
                    key: untrusted(key).into_owned(),
                })
            })?;
            add(&mut by_node, node, key, false);
        }
        for (key, address) in asking {
            let node = self.node_at(address).ok_or_else(|| {
                ReadError::Failed(TargetError::Unserved {
                    url: self.describe().clone(),
                    key: untrusted(key).into_owned(),
                })
            })?;
            add(&mut by_node, node, key, true);
        }
        let mut jobs: Vec<Job<'k>> = by_node
            .into_iter()
            .map(|(node, keys)| Job {
                node,
                unbuilt: keys.into_iter(),
                carried: None,
                sent: VecDeque::new(),
                in_flight: 0,
            })
            .collect();
        let reads: Vec<(NodeId, Vec<Vec<Command>>)> = jobs
            .iter_mut()
            .map(|job| {
                let mut batches = Vec::new();
                while job.in_flight < FIRST_IN_FLIGHT
                    && let Some(batch) = job.send_next(limits, commands_of)
                {
                    batches.push(batch);
                }
                (job.node, batches)
            })
            .collect();
        let mut redirected = Vec::new();
        let mut own = Vec::new();
        let read = self
            .read_many_then(reads, &mut |job_index, replies, then| {
                let Some(job) = jobs.get_mut(job_index) else {
                    return Ok(());
                };
                let keys = job.sent.pop_front().unwrap_or_default();
                job.in_flight = job.in_flight.saturating_sub(replies.len());
                // What goes next: this batch's follow-ups with the next batch of keys.
                let (mut next, mut follow) = (Vec::new(), Vec::new());
                let mut at = 0;
                for (key, commands, asked, round) in keys {
                    // With ASKING, every other reply is its `OK`.
                    let width = if asked { commands * 2 } else { commands };
                    let mine = replies.get(at..at + width).unwrap_or_default();
                    at += width;
                    // Handed out as received, not copied, but for the rare keys read with ASKING.
                    let unasked: Vec<Reply<'_>>;
                    let mine = if asked {
                        unasked = mine.iter().skip(1).step_by(2).cloned().collect();
                        unasked.as_slice()
                    } else {
                        mine
                    };
                    if let Some(redirect) = mine.iter().find_map(redirect_of) {
                        redirected.push((key, redirect));
                        continue;
                    }
                    let read = KeyReplies {
                        key,
                        node: job.node,
                        round,
                        replies: mine,
                    };
                    each(read, &mut own)?;
                    if !own.is_empty() {
                        next.push((key, own.len(), asked, round + 1));
                        push_asked(&mut follow, own.drain(..), asked);
                    }
                }
                next.extend(next_batch(job, limits, commands_of, &mut follow));
                if !next.is_empty() {
                    job.in_flight += follow.len();
                    job.sent.push_back(next);
                    then.push(follow);
                }
                // Until the window is full, one more.
                if job.in_flight < IN_FLIGHT
                    && let Some(batch) = job.send_next(limits, commands_of)
                {
                    then.push(batch);
                }
                Ok(())
            })
            .await;
        match read {
            Ok(()) => Ok(redirected),
            // A reply over a limit: say which key it was for.
            Err((
                job,
                ReadError::OverLimit {
                    batch,
                    index,
                    why,
                    message,
                    ..
                },
            )) => {
                // The keys of the batch whose reply was over, next in line.
                let key = jobs
                    .get(job)
                    .and_then(|j| j.sent.front())
                    .and_then(|keys| keys.first())
                    .map(|&(key, ..)| key);
                let key = key.map(str::to_owned);
                Err(ReadError::OverLimit {
                    batch,
                    index,
                    key,
                    why,
                    message,
                })
            }
            Err((_, error)) => Err(error),
        }
    }
}

/// Add a key to its node's list.
fn add<'k>(
    by_node: &mut Vec<(NodeId, Vec<(&'k str, bool)>)>,
    node: NodeId,
    key: &'k str,
    asking: bool,
) {
    match by_node.iter_mut().find(|(n, _)| *n == node) {
        Some((_, keys)) => keys.push((key, asking)),
        None => by_node.push((node, vec![(key, asking)])),
    }
}

/// Build the job's next batch into `batch`: keys in order, up to `limits` (a key built and
/// left over waits for the next batch; a key without commands is left out). Returns the
/// batch's keys, none when every key is built.
fn next_batch<'k>(
    job: &mut Job<'k>,
    limits: BatchLimits,
    commands_of: &CommandsOf<'_>,
    batch: &mut Vec<Command>,
) -> Vec<BatchKey<'k>> {
    let mut keys = Vec::new();
    let mut heavy = 0;
    while keys.len() < limits.keys.max(1) {
        let (key, asked, read) = match job.carried.take() {
            Some(carried) => carried,
            None => match job.unbuilt.next() {
                Some((key, asked)) => (key, asked, commands_of(key, job.node)),
                None => break,
            },
        };
        // Nothing to read for it: no replies, no place in a batch.
        if read.commands.is_empty() {
            continue;
        }
        if read.heavy && heavy >= limits.heavy && !keys.is_empty() {
            job.carried = Some((key, asked, read));
            break;
        }
        heavy += usize::from(read.heavy);
        keys.push((key, read.commands.len(), asked, 0));
        push_asked(batch, read.commands.into_iter(), asked);
    }
    keys
}

/// Append `commands` to `batch`, each after an `ASKING` when `asked`.
fn push_asked(batch: &mut Vec<Command>, commands: impl Iterator<Item = Command>, asked: bool) {
    for command in commands {
        if asked {
            batch.push(Command::new("ASKING"));
        }
        batch.push(command);
    }
}
