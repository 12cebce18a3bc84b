//! Writes that run only while this apply holds its lock, checked by the server itself.
//!
//! A lease checked by the client alone cannot stop a write that a slow link delivers after
//! the lease ran out (measured: through a stalled connection, a second apply took the
//! expired lock and both wrote). So the server checks the lock as it runs each batch:
//!
//! - **Guarded transactions** ([`transaction_batch`]), for most writes: `WATCH` the lock
//!   and this apply's fence key, run [`GUARD_SCRIPT`], then `MULTI ... EXEC`, all in one
//!   pipeline. When the lock does not hold this apply's token, the guard touches the fence
//!   (creates and deletes it), so that `EXEC` runs nothing. A lock that expires or changes
//!   hands between the guard and `EXEC` is a change to a watched key too (measured on Redis
//!   7.0: an expired watched key aborts `EXEC`). Commands are plain inside the transaction, so this costs the server little
//!   more than the bare commands (measured on 20,000 `XGROUP CREATE`s: ~5 ms more, against
//!   ~25-50 ms for running each through a script), and ACL commands, which scripts may not
//!   run, are fenced the same way. A command's own error does not stop the others.
//! - **A script** ([`BATCH_SCRIPT`]), for destructive operations and the record: it compares
//!   the lock with this apply's token (running nothing when they differ), renews the lease,
//!   and runs the batch's commands in order, stopping at the first that fails. A batch of
//!   commands alike (one run: see [`batch_command`]) runs the same script written for its
//!   shape ([`run_script`]), which costs the server less per command.
//!
//! The pipelines go over the one connection of the writes, where the lock's renewer also
//! sends its renewals: a pipeline is written whole, so no renewal lands between a batch's
//! `WATCH` and its `EXEC`. On a Redis Cluster each other primary checks a copy of the lock
//! (see [`super::lock`]), and every key's write runs in the script (a transaction may touch
//! one slot only); see [`super::write`] for how a write whose slot moved is sent again.

use super::{Command, OpReply, ServerError, Target, Write};
use crate::resp::{Reply, server_words};

/// Compare the lock, renew it, run the batch. KEYS[1]: the lock (on a cluster's other
/// primaries, its copy there). ARGV[1]: this apply's token; ARGV[2]: the lease in ms (`0`:
/// not renewed, for a copy); then the commands in runs of one shape (see [`batch_command`]).
/// A run is its mode (`-` plain, `B` when `BUSYGROUP` means done, `E` when a command is
/// skipped if its key is gone), its word count, how many of its words vary, its command
/// count, the words its commands share (a varying word's place empty), the varying words'
/// places, then per command its key (`E` only) and its varying words. Replies `{-1}` when
/// the lock is not ours (nothing ran), `{n}` when all n commands ran, `{n, error}` when
/// command n+1 failed (the first n ran, none after it). Only the lock is declared in KEYS:
/// on one node the others need not be, and a Cluster splits batches by node anyway.
///
/// Why runs: every argument of `EVAL` is parsed, made a Lua string and made a Redis string
/// again for `redis.pcall`, so the words a run's commands share go once, and only the
/// varying ones (a group's key, name and start) per command. Measured on 6,667 `XGROUP
/// CREATE`s on one server (median of 12): the bare commands take 5.8 ms of the server's
/// CPU, this script 9.3 ms, the script that sent every command whole with its mode, key and
/// count 11.6 ms.
pub const BATCH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local i, done, last = 3, 0, #ARGV
while i <= last do
  local mode, words = ARGV[i], tonumber(ARGV[i + 1])
  local varying, count = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local command = {unpack(ARGV, i + 4, i + 3 + words)}
  i = i + 4 + words
  local at = {}
  for v = 1, varying do at[v] = tonumber(ARGV[i + v - 1]) end
  i = i + varying
  for _ = 1, count do
    local reply = true
    if mode == 'E' then
      reply = redis.pcall('EXISTS', ARGV[i])
      i = i + 1
    end
    for v = 1, varying do command[at[v]] = ARGV[i + v - 1] end
    i = i + varying
    if reply == 1 or reply == true then
      reply = redis.pcall(unpack(command, 1, words))
    end
    if type(reply) == 'table' and reply.err
      and not (mode == 'B' and string.sub(reply.err, 1, 10) == 'BUSYGROUP ') then
      return {done, reply.err}
    end
    done = done + 1
  end
end
return {done}
";

/// Opens a guarded transaction. KEYS[1]: the lock, KEYS[2]: this apply's fence key, both
/// watched just before; ARGV[1]: this apply's token. Replies 1 when the lock is this
/// apply's; otherwise replies 0 after touching the fence (creating and deleting it: a change
/// to a watched key, so the `EXEC` that follows runs nothing, and nothing is left). The
/// fence is this apply's own key: touching the lock itself would abort the transactions of
/// the apply that holds it.
///
/// It fails closed where it can: a lock that is not a string (tampered with) reads as not
/// this apply's (`pcall`), and `allow-oom` lets it touch the fence on a server out of
/// memory. What it cannot survive (a fence key the user may not write) the applier finds
/// out before its first write ([`probe_batch`]), and any `EXEC` that ran although the guard
/// did not say so is reported as having run unfenced ([`transaction_outcome`]).
pub const GUARD_SCRIPT: &str = r"#!lua flags=allow-oom
if redis.pcall('GET', KEYS[1]) == ARGV[1] then return 1 end
redis.call('SET', KEYS[2], '1')
redis.call('DEL', KEYS[2])
return 0
";

/// A token no apply has: the probe's guard always finds the lock not its own.
const PROBE_TOKEN: &str = "(the fence probe: no apply has this token)";

/// A guarded transaction whose guard must stop it: run before apply's first write, it
/// shows that this user and server can fence the writes (`WATCH`, the guard's script and
/// its fence key, `MULTI`, `EXEC`), or why not. Its one command is a `PING`, harmless if it
/// runs.
pub fn probe_batch(lock_key: &str, token: &str) -> Vec<Command> {
    let mut batch = transaction_batch(lock_key, token, vec![Command::new("PING")]);
    // The guard compares with a token nobody holds, on this apply's own fence key.
    if let Some(guard) = batch.get_mut(1) {
        *guard = Command::new("EVAL")
            .arg(GUARD_SCRIPT)
            .arg(2u64)
            .arg(lock_key)
            .arg(fence_key(lock_key, token))
            .arg(PROBE_TOKEN);
    }
    batch
}

/// Why the probe shows that writes cannot be fenced, if it does.
pub fn probe_outcome(replies: &[Reply<'_>]) -> Result<(), FenceProblem> {
    match transaction_outcome(replies, 1) {
        Ok(TransactionOutcome::LockLost) => Ok(()),
        Ok(TransactionOutcome::Ran(_)) => Err(FenceProblem::RanAnyway),
        Ok(TransactionOutcome::RanUnfenced { why, .. }) => Err(FenceProblem::Unfenced(why)),
        Ok(TransactionOutcome::NotRun(why)) => Err(FenceProblem::NotRun(why)),
        Ok(TransactionOutcome::Refused(refused)) => Err(FenceProblem::Refused(
            refused.into_iter().map(|(_, error)| error).collect(),
        )),
        Err(error) => Err(FenceProblem::Replies(error)),
    }
}

/// Why the probe shows that writes cannot be fenced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FenceProblem {
    /// The probe's transaction ran although its guard must have stopped it.
    #[error("a transaction ran although its guard found the lock not its own")]
    RanAnyway,
    /// It ran without the fence.
    #[error(transparent)]
    Unfenced(Unfenced),
    /// `EXEC` was refused.
    #[error(transparent)]
    NotRun(ExecRefused),
    /// Commands were refused as they were queued: the server's errors.
    #[error("{}", join(.0))]
    Refused(Vec<ServerError>),
    /// Replies that do not add up.
    #[error(transparent)]
    Replies(FenceError),
}

fn join(errors: &[ServerError]) -> String {
    errors
        .iter()
        .map(|e| e.words.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Replies of a fenced batch that do not add up: not what the pipeline or the script it
/// sent gives. Nothing is known to have run (or not); the applier stops.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FenceError {
    /// Another number of replies than the guarded transaction's pipeline sent commands.
    #[error("the guarded transaction gave {got} replies for {expected} commands")]
    Replies { got: usize, expected: usize },
    /// `EXEC` answered with another number of replies than it had commands.
    #[error("EXEC gave {got} replies for {commands} commands")]
    ExecReplies { got: usize, commands: usize },
    /// `EXEC` answered with neither an array, nil nor an error (`reply`: described).
    #[error("EXEC gave an unexpected reply: {reply}")]
    Exec { reply: String },
    /// The batch script's `EVAL` failed.
    #[error("EVAL failed: {0}")]
    Eval(ServerError),
    /// The batch script answered with another shape than it does (`reply`: described).
    #[error("the batch script gave an unexpected reply: {reply}")]
    Script { reply: String },
}

/// Why commands of a guarded transaction ran without the fence (`words`: what the server
/// answered, escaped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unfenced {
    /// No transaction: each command ran as it came.
    #[error("MULTI was refused: {words}")]
    MultiRefused { words: String },
    #[error("WATCH was refused: {words}")]
    WatchRefused { words: String },
    /// The guard script failed.
    #[error("the lock could not be checked: {words}")]
    GuardFailed { words: String },
    /// The guard said the lock was not this apply's, and `EXEC` still ran.
    #[error("the guard found the lock not this apply's, and EXEC still ran")]
    ExecRanAnyway,
}

/// `EXEC` refused, with no command refused as it was queued: nothing ran.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("EXEC failed: {0}")]
pub struct ExecRefused(pub ServerError);

/// The key a guard touches to stop this apply's transaction: under the lock's key, named
/// by a hash of the token (the token itself holds spaces and a host name).
pub fn fence_key(lock_key: &str, token: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    token.hash(&mut hasher);
    format!("{lock_key}:fence:{:016x}", hasher.finish())
}

/// The pipeline of a guarded transaction running `commands`: `WATCH`, the guard, `MULTI`,
/// the commands, `EXEC`. Its replies are read by [`transaction_outcome`].
pub fn transaction_batch(lock_key: &str, token: &str, commands: Vec<Command>) -> Vec<Command> {
    let fence = fence_key(lock_key, token);
    let mut batch = Vec::with_capacity(commands.len() + 4);
    batch.push(Command::new("WATCH").arg(lock_key).arg(&fence));
    batch.push(
        Command::new("EVAL")
            .arg(GUARD_SCRIPT)
            .arg(2u64)
            .arg(lock_key)
            .arg(&fence)
            .arg(token),
    );
    batch.push(Command::new("MULTI"));
    batch.extend(commands);
    batch.push(Command::new("EXEC"));
    batch
}

/// What a guarded transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionOutcome {
    /// `EXEC` ran every command, fenced: each one's reply (an error is the command's own).
    Ran(Vec<OpReply>),
    /// The commands ran although the fence did not hold (the guard failed, or `WATCH` or
    /// `MULTI` was refused): each one's reply, and why. Never expected: the applier stops.
    RanUnfenced {
        results: Vec<OpReply>,
        why: Unfenced,
    },
    /// Nothing ran: the lock is not this apply's, or changed while the batch was on its way.
    LockLost,
    /// Nothing ran: the server refused commands as they were queued (`NOPERM`, ...): their
    /// positions in the batch, with the server's errors.
    Refused(Vec<(usize, ServerError)>),
    /// Nothing ran: `EXEC` itself was refused.
    NotRun(ExecRefused),
}

/// Read the replies of a [`transaction_batch`] of `commands` commands: `WATCH`, the guard,
/// `MULTI`, one reply per command (`QUEUED`, or a refusal), `EXEC`. Fails closed: whenever
/// `EXEC` (or, without `MULTI`, the commands themselves) ran, the results are kept, and
/// they are [`TransactionOutcome::Ran`] only if every step of the fence said so.
pub fn transaction_outcome(
    replies: &[Reply<'_>],
    commands: usize,
) -> Result<TransactionOutcome, FenceError> {
    if replies.len() != commands + 4 {
        return Err(FenceError::Replies {
            got: replies.len(),
            expected: commands + 4,
        });
    }
    let (watch, guard, multi) = (&replies[0], &replies[1], &replies[2]);
    let queued = &replies[3..commands + 3];
    let exec = &replies[commands + 3];
    if !is_ok(multi) {
        // No transaction: each command ran as it came.
        return Ok(TransactionOutcome::RanUnfenced {
            results: results(queued),
            why: Unfenced::MultiRefused {
                words: words(multi),
            },
        });
    }
    let fenced = if !is_ok(watch) {
        Err(Unfenced::WatchRefused {
            words: words(watch),
        })
    } else {
        match guard {
            Reply::Int(1) => Ok(()),
            // The guard found the lock not ours: `EXEC` must run nothing.
            Reply::Int(0) => Err(Unfenced::ExecRanAnyway),
            _ => Err(Unfenced::GuardFailed {
                words: words(guard),
            }),
        }
    };
    exec_outcome(queued, exec, fenced)
}

/// What a transaction did from its queued commands' replies and `EXEC`'s, given whether
/// its fence held (`Err`: why not; what `EXEC` ran then ran unfenced).
fn exec_outcome(
    queued: &[Reply<'_>],
    exec: &Reply<'_>,
    fenced: Result<(), Unfenced>,
) -> Result<TransactionOutcome, FenceError> {
    match exec {
        Reply::Array(ran) if ran.len() == queued.len() => Ok(match fenced {
            Ok(()) => TransactionOutcome::Ran(results(ran)),
            Err(why) => TransactionOutcome::RanUnfenced {
                results: results(ran),
                why,
            },
        }),
        Reply::Array(ran) => Err(FenceError::ExecReplies {
            got: ran.len(),
            commands: queued.len(),
        }),
        Reply::Nil => Ok(TransactionOutcome::LockLost),
        Reply::Error { code, details } => {
            let refused: Vec<(usize, ServerError)> = queued
                .iter()
                .enumerate()
                .filter_map(|(index, reply)| Some((index, ServerError::of(reply)?)))
                .collect();
            Ok(if refused.is_empty() {
                TransactionOutcome::NotRun(ExecRefused(ServerError::new(code, details)))
            } else {
                TransactionOutcome::Refused(refused)
            })
        }
        other => Err(FenceError::Exec {
            reply: other.describe(),
        }),
    }
}

/// Read the replies of a replica's transaction (`MULTI`, one reply per command, `EXEC`; see
/// `Target::replica_transaction`) as a guarded transaction's: its lock check was done
/// before it (the copy of the lock watched and found to be this apply's), and its first
/// result stands for a renewal of the lease, which a replica leaves to the primary (so its
/// results and refusals are one place further than its commands).
pub fn replica_outcome(
    replies: &[Reply<'_>],
    commands: usize,
) -> Result<TransactionOutcome, FenceError> {
    if replies.len() != commands + 2 {
        return Err(FenceError::Replies {
            got: replies.len(),
            expected: commands + 2,
        });
    }
    let (multi, queued, exec) = (&replies[0], &replies[1..=commands], &replies[commands + 1]);
    let outcome = if is_ok(multi) {
        exec_outcome(queued, exec, Ok(()))?
    } else {
        TransactionOutcome::RanUnfenced {
            results: results(queued),
            why: Unfenced::MultiRefused {
                words: words(multi),
            },
        }
    };
    let after_renewal = |results: Vec<OpReply>| {
        std::iter::once(OpReply::Done)
            .chain(results)
            .collect::<Vec<_>>()
    };
    Ok(match outcome {
        TransactionOutcome::Ran(ran) => TransactionOutcome::Ran(after_renewal(ran)),
        TransactionOutcome::RanUnfenced { results, why } => TransactionOutcome::RanUnfenced {
            results: after_renewal(results),
            why,
        },
        TransactionOutcome::Refused(refused) => TransactionOutcome::Refused(
            refused
                .into_iter()
                .map(|(at, error)| (at + 1, error))
                .collect(),
        ),
        other => other,
    })
}

/// Each command's result, from its reply.
fn results(replies: &[Reply<'_>]) -> Vec<OpReply> {
    replies.iter().map(OpReply::of).collect()
}

/// A reply as the server's words (an error) or described.
fn words(reply: &Reply<'_>) -> String {
    match reply {
        Reply::Error { code, details } => server_words(code, details),
        other => other.describe(),
    }
}

fn is_ok(reply: &Reply<'_>) -> bool {
    matches!(reply, Reply::Bytes(b"OK"))
}

/// The `EVAL` that runs `writes` under the lock ([`BATCH_SCRIPT`]): the writes in runs of
/// one mode and word count, each run's shared words once and its varying words per write.
/// A batch of one run (nearly every batch of a large apply: group creations alike) runs
/// [`run_script`]'s script for its shape instead, with the same arguments and reply.
pub fn batch_command(lock_key: &str, token: &str, lease_ms: u64, writes: &[Write<'_>]) -> Command {
    // Each run with its varying places, found once (a batch's every word is compared).
    let runs: Vec<(Run<'_>, Vec<usize>)> = runs_of(writes)
        .into_iter()
        .filter_map(|run| {
            let varying = run.varying()?;
            Some((run, varying))
        })
        .collect();
    let shaped = match runs.as_slice() {
        [(run, varying)] => run_script(run.mode, run.width, varying),
        _ => None,
    };
    let mut eval = Command::new("EVAL");
    eval.push(shaped.as_deref().unwrap_or(BATCH_SCRIPT))
        .push(1u64)
        .push(lock_key)
        .push(token)
        .push(lease_ms);
    for (run, varying) in &runs {
        run.push_to(&mut eval, varying);
    }
    eval
}

/// `writes` in runs of one mode and word count.
fn runs_of<'w>(writes: &'w [Write<'_>]) -> Vec<Run<'w>> {
    let mut runs = Vec::new();
    let mut run = Run::default();
    for write in writes {
        let mode = mode_of(write);
        let start = run.words.len();
        run.words.extend(write.command.args());
        let width = run.words.len() - start;
        if start > 0 && (mode != run.mode || width != run.width) {
            // This write starts the next run.
            let words = run.words.split_off(start);
            runs.push(std::mem::replace(
                &mut run,
                Run {
                    words,
                    ..Run::default()
                },
            ));
        }
        run.mode = mode;
        run.width = width;
        if mode == "E" {
            run.keys.push(match write.route {
                super::Route::Key(key) => key,
                _ => "",
            });
        }
    }
    if run.width > 0 {
        runs.push(run);
    }
    runs
}

/// Commands of more words than this run in [`BATCH_SCRIPT`] only (none of the key
/// operations a plan makes has more than 8).
const SHAPED_MAX_WIDTH: usize = 16;

/// [`BATCH_SCRIPT`] for a batch of one run of `width`-word commands whose words at the
/// places `varying` (0-based, ascending) differ between writes: the same arguments, the same
/// checks in the same order, the same reply, but each command called with its words in
/// place, where the general script copies every write's words into a table and unpacks it.
/// Measured on 6,668 `XGROUP CREATE`s on one node of a cluster: ~26 ms of the server's CPU
/// against ~30 for the general script, and ~20 for the bare commands.
///
/// The text holds nothing but Lua and numbers made from the shape: every word of every
/// write is an argument, as in [`BATCH_SCRIPT`], so there is nothing to escape, and a
/// server caches one script per shape (a few: each kind of operation has its own).
fn run_script(mode: &str, width: usize, varying: &[usize]) -> Option<String> {
    use std::fmt::Write as _;
    if width == 0 || width > SHAPED_MAX_WIDTH || varying.iter().any(|at| *at >= width) {
        return None;
    }
    // ARGV: the token, the lease, the mode, the width, the varying count, the write count,
    // the shared words (a varying place's empty), the varying places, then the writes.
    const FIRST_SHARED: usize = 7;
    let needs_key = mode == "E";
    let first_write = FIRST_SHARED + width + varying.len();
    let stride = usize::from(needs_key) + varying.len();
    let mut words = Vec::with_capacity(width);
    let mut shared = String::new();
    for place in 0..width {
        match varying.iter().position(|at| *at == place) {
            Some(v) => words.push(format!("ARGV[i + {}]", usize::from(needs_key) + v)),
            None => {
                let _ = writeln!(shared, "local w{place} = ARGV[{}]", FIRST_SHARED + place);
                words.push(format!("w{place}"));
            }
        }
    }
    let call = format!("redis.pcall({})", words.join(", "));
    let run = if needs_key {
        format!(
            "local reply = redis.pcall('EXISTS', ARGV[i])\n  if reply == 1 then reply = {call} end"
        )
    } else {
        format!("local reply = {call}")
    };
    let done_already = if mode == "B" {
        " and string.sub(reply.err, 1, 10) ~= 'BUSYGROUP '"
    } else {
        ""
    };
    Some(format!(
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {{-1}} end
if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
{shared}local done = 0
for n = 0, tonumber(ARGV[6]) - 1 do
  local i = {first_write} + n * {stride}
  {run}
  if type(reply) == 'table' and reply.err{done_already} then return {{done, reply.err}} end
  done = done + 1
end
return {{done}}
"
    ))
}

/// A write's mode in [`BATCH_SCRIPT`].
fn mode_of(write: &Write<'_>) -> &'static str {
    if write.already_done == Some("BUSYGROUP") {
        "B"
    } else if write.needs_key {
        "E"
    } else {
        "-"
    }
}

/// Consecutive writes of one mode and word count, for [`batch_command`].
#[derive(Default)]
struct Run<'w> {
    mode: &'static str,
    /// Words per write.
    width: usize,
    /// Every write's words, one after another (`width` each).
    words: Vec<&'w [u8]>,
    /// Each write's key (`E` runs only).
    keys: Vec<&'w str>,
}

impl Run<'_> {
    /// The places where some write's word differs from the first write's (0-based);
    /// `None` for an empty run (a command always has a word, its name).
    fn varying(&self) -> Option<Vec<usize>> {
        let first = self.words.get(..self.width).filter(|_| self.width > 0)?;
        Some(
            (0..self.width)
                .filter(|&at| {
                    self.words
                        .iter()
                        .skip(at)
                        .step_by(self.width)
                        .any(|word| *word != first[at])
                })
                .collect(),
        )
    }

    /// The run as [`BATCH_SCRIPT`] reads it, with its `varying` places ([`Run::varying`]).
    fn push_to(&self, eval: &mut Command, varying: &[usize]) {
        let Some(first) = self.words.get(..self.width).filter(|_| self.width > 0) else {
            return;
        };
        let count = self.words.len() / self.width;
        // The varying places are sent 1-based, as Lua counts.
        eval.push(self.mode)
            .push(self.width)
            .push(varying.len())
            .push(count);
        let mut varying_at = varying.iter().peekable();
        for (at, word) in first.iter().enumerate() {
            if varying_at.next_if(|v| **v == at).is_some() {
                eval.push("");
            } else {
                eval.push(*word);
            }
        }
        for at in varying {
            eval.push(at + 1);
        }
        for (index, write) in self.words.chunks_exact(self.width).enumerate() {
            if let Some(key) = self.keys.get(index) {
                eval.push(*key);
            }
            for at in varying {
                eval.push(write[*at]);
            }
        }
    }
}

/// What a fenced batch did, read from [`BATCH_SCRIPT`]'s reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The lock was not ours: nothing ran.
    LockLost,
    /// The first `done` commands ran; `failed` is the next one's error (none after it ran).
    Ran { done: usize, failed: Option<String> },
}

/// Read a fenced batch's reply. A reply of another shape (not from our script) is an error.
pub fn batch_outcome(reply: &Reply<'_>) -> Result<BatchOutcome, FenceError> {
    let unexpected = || FenceError::Script {
        reply: reply.describe(),
    };
    let items = match reply {
        Reply::Array(items) => items,
        Reply::Error { code, details } => {
            return Err(FenceError::Eval(ServerError::new(code, details)));
        }
        _ => return Err(unexpected()),
    };
    match items.as_slice() {
        [Reply::Int(-1)] => Ok(BatchOutcome::LockLost),
        [Reply::Int(done)] => Ok(BatchOutcome::Ran {
            done: usize::try_from(*done).map_err(|_| unexpected())?,
            failed: None,
        }),
        [Reply::Int(done), error] => Ok(BatchOutcome::Ran {
            done: usize::try_from(*done).map_err(|_| unexpected())?,
            failed: Some(
                error
                    .text()
                    .map(std::borrow::Cow::into_owned)
                    .ok_or_else(unexpected)?,
            ),
        }),
        _ => Err(unexpected()),
    }
}

/// Where a plan was made and an apply runs: compared by saved plans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `host:port`, or the socket's path.
    pub address: String,
    pub db: i64,
    pub user: Option<String>,
}

impl Target {
    /// The server and the user this target talks to.
    pub fn identity(&self) -> Identity {
        Identity {
            address: super::address_of(&self.url),
            db: i64::from(self.url.db()),
            // No user in the URL is the `default` user: the same server either way.
            user: Some(self.url.user().unwrap_or("default").to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::target::ServerError;

    const OK: Reply<'static> = Reply::Bytes(b"OK");

    fn error(line: &'static str) -> Reply<'static> {
        let (code, details) = line.split_once(' ').unwrap_or((line, ""));
        Reply::Error { code, details }
    }

    fn failed(line: &'static str) -> OpReply {
        let (code, details) = line.split_once(' ').unwrap_or((line, ""));
        OpReply::Failed(ServerError::new(code, details))
    }

    /// The replies of a guarded transaction of two commands: WATCH, the guard, MULTI, two
    /// QUEUED (or refusals), EXEC.
    fn replies(
        guard: Reply<'static>,
        queued: [Reply<'static>; 2],
        exec: Reply<'static>,
    ) -> Vec<Reply<'static>> {
        let [first, second] = queued;
        vec![OK, guard, OK, first, second, exec]
    }

    /// A replica's transaction (MULTI, the commands, EXEC; its lock was checked before it)
    /// reads as a guarded transaction's, a renewal's place first: results and refusals one
    /// place further than its commands.
    #[test]
    fn replica_replies_read_as_a_guarded_transactions() {
        let queued = Reply::Bytes(b"QUEUED");
        let ran = [
            OK,
            queued.clone(),
            queued.clone(),
            Reply::Array(vec![OK, error("ERR Error in ACL SETUSER modifier")]),
        ];
        assert_eq!(
            replica_outcome(&ran, 2),
            Ok(TransactionOutcome::Ran(vec![
                OpReply::Done,
                OpReply::Done,
                failed("ERR Error in ACL SETUSER modifier"),
            ]))
        );
        let refused = [
            OK,
            queued.clone(),
            error("NOPERM no permission"),
            error("EXECABORT Transaction discarded"),
        ];
        assert_eq!(
            replica_outcome(&refused, 2),
            Ok(TransactionOutcome::Refused(vec![(
                2,
                ServerError::new("NOPERM", "no permission")
            )]))
        );
        let aborted = [OK, queued.clone(), queued.clone(), Reply::Nil];
        assert_eq!(
            replica_outcome(&aborted, 2),
            Ok(TransactionOutcome::LockLost),
            "the watched copy changed"
        );
        let unfenced = [
            error("NOPERM multi"),
            OK,
            OK,
            error("ERR EXEC without MULTI"),
        ];
        assert_eq!(
            replica_outcome(&unfenced, 2),
            Ok(TransactionOutcome::RanUnfenced {
                results: vec![OpReply::Done, OpReply::Done, OpReply::Done],
                why: Unfenced::MultiRefused {
                    words: "NOPERM multi".to_owned()
                },
            })
        );
        assert_eq!(
            replica_outcome(&ran[..3], 2),
            Err(FenceError::Replies {
                got: 3,
                expected: 4
            })
        );
    }

    #[test]
    fn transaction_replies_are_read_strictly() {
        let queued = || [Reply::Bytes(b"QUEUED"), Reply::Bytes(b"QUEUED")];
        // Ran: each command's own reply, errors included (a runtime error stops nothing).
        let ran = replies(
            Reply::Int(1),
            queued(),
            Reply::Array(vec![OK, error("WRONGTYPE Operation against a key")]),
        );
        assert_eq!(
            transaction_outcome(&ran, 2),
            Ok(TransactionOutcome::Ran(vec![
                OpReply::Done,
                failed("WRONGTYPE Operation against a key")
            ]))
        );
        // The guard found another holder, or the lock changed before EXEC: nothing ran.
        for guard in [Reply::Int(0), Reply::Int(1)] {
            assert_eq!(
                transaction_outcome(&replies(guard, queued(), Reply::Nil), 2),
                Ok(TransactionOutcome::LockLost)
            );
        }
        // A command refused as it was queued: EXECABORT, nothing ran.
        let refused = replies(
            Reply::Int(1),
            [
                Reply::Bytes(b"QUEUED"),
                error("NOPERM no permissions to run 'xtrim'"),
            ],
            error("EXECABORT Transaction discarded"),
        );
        assert_eq!(
            transaction_outcome(&refused, 2),
            Ok(TransactionOutcome::Refused(vec![(
                1,
                ServerError::new("NOPERM", "no permissions to run 'xtrim'")
            )]))
        );
        // EXEC ran although the fence did not hold: the guard failed, or said the lock was
        // lost; WATCH refused; MULTI refused (the commands then ran one by one, and EXEC
        // has nothing to execute). Each is reported as run, unfenced.
        let both_ran = || Reply::Array(vec![OK, OK]);
        let mut watch_refused = replies(Reply::Int(1), queued(), both_ran());
        watch_refused[0] = error("NOPERM no permissions to run 'watch'");
        let mut multi_refused = replies(Reply::Int(0), [OK, OK], error("ERR EXEC without MULTI"));
        multi_refused[2] = error("NOPERM no permissions to run 'multi'");
        for (unfenced, why) in [
            (
                replies(error("WRONGTYPE lock"), queued(), both_ran()),
                "the lock could not be checked: WRONGTYPE",
            ),
            (
                replies(Reply::Int(0), queued(), both_ran()),
                "the guard found the lock not this apply's",
            ),
            (watch_refused, "WATCH was refused: NOPERM"),
            (multi_refused, "MULTI was refused: NOPERM"),
        ] {
            match transaction_outcome(&unfenced, 2) {
                Ok(TransactionOutcome::RanUnfenced { results, why: said }) => {
                    assert_eq!(results, [OpReply::Done, OpReply::Done]);
                    let said = said.to_string();
                    assert!(said.starts_with(why), "{said}");
                }
                other => panic!("{why}: {other:?}"),
            }
        }
        // EXEC refused with no command refused: nothing ran, and it says why.
        match transaction_outcome(&replies(Reply::Int(1), queued(), error("NOPERM exec")), 2) {
            Ok(TransactionOutcome::NotRun(why)) => {
                assert_eq!(why.to_string(), "EXEC failed: NOPERM exec");
            }
            other => panic!("EXEC refused: {other:?}"),
        }
        // Replies that do not add up: errors, never success.
        for bad in [
            replies(Reply::Int(1), queued(), Reply::Array(vec![OK])),
            replies(Reply::Int(1), queued(), OK),
        ] {
            assert!(transaction_outcome(&bad, 2).is_err(), "{bad:?}");
        }
        assert!(transaction_outcome(&[OK], 2).is_err());
    }

    #[test]
    fn batch_replies_are_read_strictly() {
        assert_eq!(
            batch_outcome(&Reply::Array(vec![Reply::Int(-1)])),
            Ok(BatchOutcome::LockLost)
        );
        assert_eq!(
            batch_outcome(&Reply::Array(vec![Reply::Int(3)])),
            Ok(BatchOutcome::Ran {
                done: 3,
                failed: None
            })
        );
        assert_eq!(
            batch_outcome(&Reply::Array(vec![
                Reply::Int(1),
                Reply::Bytes(b"NOPERM no")
            ])),
            Ok(BatchOutcome::Ran {
                done: 1,
                failed: Some("NOPERM no".to_owned())
            })
        );
        for bad in [
            OK,
            Reply::Array(vec![]),
            Reply::Array(vec![Reply::Int(-2)]),
            Reply::Array(vec![Reply::Int(1), Reply::Int(2), Reply::Int(3)]),
        ] {
            assert!(batch_outcome(&bad).is_err(), "{bad:?}");
        }
    }

    /// A write as [`BATCH_SCRIPT`] sees it: its mode, its key (`E` only) and its words.
    type Seen = (String, Option<String>, Vec<Vec<u8>>);

    /// What [`BATCH_SCRIPT`] runs, read from its `EVAL` the way the script walks `ARGV`.
    fn as_the_script_reads(eval: &Command) -> Vec<Seen> {
        let argv: Vec<&[u8]> = eval.args().skip(4).collect();
        let text = |at: usize| String::from_utf8(argv[at].to_vec()).expect("text");
        let number = |at: usize| text(at).parse::<usize>().expect("a number");
        let (mut i, mut seen) = (2, Vec::new());
        while i < argv.len() {
            let (mode, words, varying, count) =
                (text(i), number(i + 1), number(i + 2), number(i + 3));
            let mut command: Vec<Vec<u8>> = argv[i + 4..i + 4 + words]
                .iter()
                .map(|w| w.to_vec())
                .collect();
            i += 4 + words;
            let at: Vec<usize> = (0..varying).map(|v| number(i + v) - 1).collect();
            i += varying;
            for _ in 0..count {
                let key = (mode == "E").then(|| {
                    i += 1;
                    text(i - 1)
                });
                for (v, place) in at.iter().enumerate() {
                    command[*place] = argv[i + v].to_vec();
                }
                i += varying;
                seen.push((mode.clone(), key, command.clone()));
            }
        }
        seen
    }

    fn write<'a>(key: &'a str, words: &[&str], mode: &str) -> Write<'a> {
        Write {
            command: Command::from_args(words.iter().copied()),
            route: super::super::Route::Key(key),
            already_done: (mode == "B").then_some("BUSYGROUP"),
            needs_key: mode == "E",
        }
    }

    /// The common batch: one run, whose shared words (`XGROUP CREATE ... MKSTREAM`) go
    /// once and whose key, group and start go per write.
    #[test]
    fn a_batch_of_group_creations_sends_only_what_varies_per_write() {
        let writes = [
            write(
                "s1",
                &["XGROUP", "CREATE", "s1", "audit", "0", "MKSTREAM"],
                "B",
            ),
            write(
                "s1",
                &["XGROUP", "CREATE", "s1", "workers", "$", "MKSTREAM"],
                "B",
            ),
            write(
                "s2",
                &["XGROUP", "CREATE", "s2", "audit", "0", "MKSTREAM"],
                "B",
            ),
        ];
        let eval = batch_command("lock", "token", 500, &writes);
        let argv: Vec<String> = eval
            .args()
            .skip(2)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        assert_eq!(
            argv.join(" "),
            "1 lock token 500 B 6 3 3 XGROUP CREATE    MKSTREAM 3 4 5 s1 audit 0 s1 workers $ s2 audit 0"
        );
        let script = String::from_utf8_lossy(eval.args().nth(1).expect("the script"));
        assert_eq!(script, run_script("B", 6, &[2, 3, 4]).expect("shaped"));
        assert!(
            script.contains("redis.pcall(w0, w1, ARGV[i + 0], ARGV[i + 1], ARGV[i + 2], w5)"),
            "{script}"
        );
    }

    /// Batches of several runs, and commands of many words, run in the general script.
    #[test]
    fn only_a_batch_of_one_run_of_short_commands_gets_a_script_of_its_shape() {
        let script_of = |writes: &[Write<'_>]| {
            let eval = batch_command("lock", "token", 0, writes);
            String::from_utf8_lossy(eval.args().nth(1).expect("the script")).into_owned()
        };
        let create = write("s", &["XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"], "B");
        let destroy = write("s", &["XGROUP", "DESTROY", "s", "g"], "E");
        assert_ne!(script_of(std::slice::from_ref(&create)), BATCH_SCRIPT);
        assert_eq!(script_of(&[create, destroy]), BATCH_SCRIPT);
        let long: Vec<String> = (0..=SHAPED_MAX_WIDTH).map(|n| n.to_string()).collect();
        let long: Vec<&str> = long.iter().map(String::as_str).collect();
        assert_eq!(script_of(&[write("s", &long, "-")]), BATCH_SCRIPT);
    }

    proptest::proptest! {
        /// Whatever the writes, the script runs each of them, in order, with its mode, its
        /// key where it needs one, and exactly its words.
        #[test]
        fn the_script_reads_every_write_back_whole_and_in_order(
            writes in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["-", "B", "E"]),
                    "[a-c]{0,2}",
                    proptest::collection::vec("[a-c]{0,2}", 1..5),
                ),
                0..30,
            )
        ) {
            let batch: Vec<Write<'_>> = writes
                .iter()
                .map(|(mode, key, words)| {
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    write(key, &words, mode)
                })
                .collect();
            let eval = batch_command("lock", "token", 0, &batch);
            let expected: Vec<Seen> = writes
                .iter()
                .map(|(mode, key, words)| {
                    (
                        (*mode).to_owned(),
                        (*mode == "E").then(|| key.clone()),
                        words.iter().map(|w| w.as_bytes().to_vec()).collect(),
                    )
                })
                .collect();
            proptest::prop_assert_eq!(as_the_script_reads(&eval), expected);
        }

        /// A script made for a batch's shape holds no word of its writes (they are all
        /// arguments: nothing a topology says can become code), and it is the same script
        /// for any batch of that shape.
        #[test]
        fn a_shaped_script_is_made_of_its_shape_alone(
            mode in proptest::sample::select(vec!["-", "B", "E"]),
            writes in proptest::collection::vec(
                ("[QJ]{2,3}", proptest::collection::vec("[QJ]{2,3}", 4)),
                1..20,
            )
        ) {
            let batch: Vec<Write<'_>> = writes
                .iter()
                .map(|(key, words)| {
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    write(key, &words, mode)
                })
                .collect();
            let eval = batch_command("lock", "token", 0, &batch);
            let script = String::from_utf8_lossy(eval.args().nth(1).expect("script")).into_owned();
            for (key, words) in &writes {
                for word in std::iter::once(key).chain(words) {
                    proptest::prop_assert!(!script.contains(word.as_str()), "{word} in {script}");
                }
            }
            let runs = runs_of(&batch);
            let varying = runs[0].varying().expect("a run");
            proptest::prop_assert_eq!(Some(script), run_script(runs[0].mode, runs[0].width, &varying));
        }
    }
}
