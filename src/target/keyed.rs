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
use super::{Command, NodeId, ReadError, Target, TargetError};
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

/// One node's share of a read: its keys (with their command counts, and whether each command
/// follows an `ASKING`) and its batches, the keys of each batch in order.
struct Job<'k> {
    node: NodeId,
    keys: Vec<(&'k str, usize, bool)>,
    batch_sizes: Vec<usize>,
    /// Heavy keys per batch.
    heavy: Vec<usize>,
    batches: Vec<Vec<Command>>,
}

/// A key in a batch that follows others up: its command count, whether each command
/// follows an `ASKING`, and its round.
type FollowedKey<'k> = (&'k str, usize, bool, usize);

impl Target {
    /// Read `commands_of(key, node)` for each key on the node that serves it (all nodes at once),
    /// and hand each key with its replies to `each`. Keys whose slot moved are read again
    /// where the cluster says, alone.
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
        let mut jobs: Vec<Job<'k>> = Vec::new();
        for key in keys {
            // The owner alone, not a route's list: one lookup per key of 10,000.
            let node = self.key_owner(key).ok_or_else(|| {
                ReadError::Failed(TargetError::Unserved {
                    url: self.describe().clone(),
                    key: untrusted(key).into_owned(),
                })
            })?;
            add(&mut jobs, node, key, commands_of(key, node), limits, false);
        }
        for (key, address) in asking {
            let node = self.node_at(address).ok_or_else(|| {
                ReadError::Failed(TargetError::Unserved {
                    url: self.describe().clone(),
                    key: untrusted(key).into_owned(),
                })
            })?;
            add(&mut jobs, node, key, commands_of(key, node), limits, true);
        }
        let mut redirected = Vec::new();
        let mut cursors = vec![(0usize, 0usize); jobs.len()];
        // Per job, the keys of each batch that follows others up, in the order sent.
        let mut followed: Vec<VecDeque<Vec<FollowedKey<'k>>>> = vec![VecDeque::new(); jobs.len()];
        let mut own = Vec::new();
        let reads: Vec<(NodeId, Vec<Vec<Command>>)> = jobs
            .iter_mut()
            .map(|job| (job.node, std::mem::take(&mut job.batches)))
            .collect();
        let read = self
            .read_many_then(&reads, &mut |job_index, replies, then| {
                let (Some(job), Some((batch, next_key)), Some(followed)) = (
                    jobs.get(job_index),
                    cursors.get_mut(job_index),
                    followed.get_mut(job_index),
                ) else {
                    return Ok(());
                };
                // The batch's keys: the job's own, in order, then those of each follow-up.
                let keys: Vec<FollowedKey<'k>> = match job.batch_sizes.get(*batch) {
                    Some(&count) => {
                        let keys = job.keys.iter().skip(*next_key).take(count);
                        *next_key += count;
                        keys.map(|&(key, commands, asked)| (key, commands, asked, 0))
                            .collect()
                    }
                    None => followed.pop_front().unwrap_or_default(),
                };
                *batch += 1;
                let mut follow_up = Vec::new();
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
                        follow_up.push((key, own.len(), asked, round + 1));
                        for command in own.drain(..) {
                            if asked {
                                then.push(Command::new("ASKING"));
                            }
                            then.push(command);
                        }
                    }
                }
                if !follow_up.is_empty() {
                    followed.push_back(follow_up);
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
                // A batch past the job's own follows others up: its keys are next in line.
                let key = match jobs.get(job) {
                    Some(j) if batch < j.batch_sizes.len() => {
                        let first: usize = j.batch_sizes.iter().take(batch).sum();
                        j.keys.get(first).map(|&(key, ..)| key)
                    }
                    _ => followed
                        .get(job)
                        .and_then(VecDeque::front)
                        .and_then(|keys| keys.first())
                        .map(|&(key, ..)| key),
                };
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

/// Add a key's commands to its node's job, starting a new batch when the last is full.
fn add<'k>(
    jobs: &mut Vec<Job<'k>>,
    node: NodeId,
    key: &'k str,
    read: KeyCommands,
    limits: BatchLimits,
    asking: bool,
) {
    let at = match jobs.iter().position(|j| j.node == node) {
        Some(at) => at,
        None => {
            jobs.push(Job {
                node,
                keys: Vec::new(),
                batch_sizes: Vec::new(),
                heavy: Vec::new(),
                batches: Vec::new(),
            });
            jobs.len() - 1
        }
    };
    let Some(job) = jobs.get_mut(at) else {
        return;
    };
    let room = match (job.batch_sizes.last(), job.batches.last()) {
        (Some(&keys), Some(_)) if keys < limits.keys => {
            !read.heavy || heavy_in_last(job) < limits.heavy
        }
        _ => false,
    };
    if !room {
        job.batch_sizes.push(0);
        job.batches.push(Vec::new());
        job.heavy.push(0);
    }
    job.keys.push((key, read.commands.len(), asking));
    if let (Some(size), Some(batch), Some(heavy)) = (
        job.batch_sizes.last_mut(),
        job.batches.last_mut(),
        job.heavy.last_mut(),
    ) {
        *size += 1;
        *heavy += usize::from(read.heavy);
        for command in read.commands {
            if asking {
                batch.push(Command::new("ASKING"));
            }
            batch.push(command);
        }
    }
}

fn heavy_in_last(job: &Job<'_>) -> usize {
    job.heavy.last().copied().unwrap_or(0)
}
