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
//!   and runs the batch's commands in order, stopping at the first that fails.
//!
//! The pipelines go over the one connection of the writes, where the lock's renewer also
//! sends its renewals: a pipeline is written whole, so no renewal lands between a batch's
//! `WATCH` and its `EXEC`. On a single node the lock and the keys share one server. (Redis
//! Cluster routes keys to other nodes than the lock's: a later issue.)

use redis::{Cmd, Value};

use super::{Target, TargetError};

/// Compare the lock, renew it, run the batch. KEYS[1]: the lock. ARGV[1]: this apply's
/// token; ARGV[2]: the lease in ms; then per command its mode (`-` plain, `B` when
/// `BUSYGROUP` means done, `E` when it is skipped if its key is gone), its key, its
/// argument count and its arguments. Replies `{-1}` when the lock is not ours (nothing
/// ran), `{n}` when all n commands ran, `{n, error}` when command n+1 failed (the first n
/// ran, none after it). Only the lock is declared in KEYS: on one node the others need not
/// be, and a Cluster splits batches by node anyway. Arguments are passed to `redis.pcall`
/// straight from ARGV (`unpack` of a range, no table per command): measured on 20,000
/// `XGROUP CREATE`s, the script costs the server ~11 ms more than the bare commands.
pub const BATCH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local i, done, last = 3, 0, #ARGV
while i <= last do
  local mode, n = ARGV[i], tonumber(ARGV[i + 2])
  local first = i + 3
  i = first + n
  if mode ~= 'E' or redis.call('EXISTS', ARGV[first - 2]) == 1 then
    local reply = redis.pcall(unpack(ARGV, first, i - 1))
    if type(reply) == 'table' and reply.err
      and not (mode == 'B' and string.sub(reply.err, 1, 10) == 'BUSYGROUP ') then
      return {done, reply.err}
    end
  end
  done = done + 1
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
pub fn probe_batch(lock_key: &str, token: &str) -> Vec<Cmd> {
    let mut batch = transaction_batch(lock_key, token, vec![redis::cmd("PING")]);
    // The guard compares with a token nobody holds, on this apply's own fence key.
    if let Some(guard) = batch.get_mut(1) {
        *guard = redis::cmd("EVAL")
            .arg(GUARD_SCRIPT)
            .arg(2)
            .arg(lock_key)
            .arg(fence_key(lock_key, token))
            .arg(PROBE_TOKEN)
            .clone();
    }
    batch
}

/// Why the probe shows that writes cannot be fenced, if it does.
pub fn probe_problem(replies: &[Value]) -> Option<String> {
    match transaction_outcome(replies, 1) {
        Ok(TransactionOutcome::LockLost) => None,
        Ok(TransactionOutcome::Ran(_)) => {
            Some("a transaction ran although its guard found the lock not its own".to_owned())
        }
        Ok(TransactionOutcome::RanUnfenced { why, .. } | TransactionOutcome::NotRun(why)) => {
            Some(why)
        }
        Ok(TransactionOutcome::Refused(refused)) => Some(
            refused
                .into_iter()
                .map(|(_, why)| why)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(why) => Some(why),
    }
}

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
pub fn transaction_batch(lock_key: &str, token: &str, commands: Vec<Cmd>) -> Vec<Cmd> {
    let fence = fence_key(lock_key, token);
    let mut batch = Vec::with_capacity(commands.len() + 4);
    batch.push(redis::cmd("WATCH").arg(lock_key).arg(&fence).clone());
    batch.push(
        redis::cmd("EVAL")
            .arg(GUARD_SCRIPT)
            .arg(2)
            .arg(lock_key)
            .arg(&fence)
            .arg(token)
            .clone(),
    );
    batch.push(redis::cmd("MULTI"));
    batch.extend(commands);
    batch.push(redis::cmd("EXEC"));
    batch
}

/// What a guarded transaction did.
#[derive(Clone, Debug, PartialEq)]
pub enum TransactionOutcome {
    /// `EXEC` ran every command, fenced: each one's reply (an error is the command's own).
    Ran(Vec<Value>),
    /// The commands ran although the fence did not hold (the guard failed, or `WATCH` or
    /// `MULTI` was refused): each one's reply, and why. Never expected: the applier stops.
    RanUnfenced { results: Vec<Value>, why: String },
    /// Nothing ran: the lock is not this apply's, or changed while the batch was on its way.
    LockLost,
    /// Nothing ran: the server refused commands as they were queued (`NOPERM`, ...): their
    /// positions in the batch, with the server's words.
    Refused(Vec<(usize, String)>),
    /// Nothing ran, for the reason given (`EXEC` itself refused).
    NotRun(String),
}

/// Read the replies of a [`transaction_batch`] of `commands` commands: `WATCH`, the guard,
/// `MULTI`, one reply per command (`QUEUED`, or a refusal), `EXEC`. Fails closed: whenever
/// `EXEC` (or, without `MULTI`, the commands themselves) ran, the results are kept, and
/// they are [`TransactionOutcome::Ran`] only if every step of the fence said so.
pub fn transaction_outcome(
    replies: &[Value],
    commands: usize,
) -> Result<TransactionOutcome, String> {
    if replies.len() != commands + 4 {
        return Err(format!(
            "the guarded transaction gave {} replies for {} commands",
            replies.len(),
            commands + 4
        ));
    }
    let (watch, guard, multi) = (&replies[0], &replies[1], &replies[2]);
    let queued = &replies[3..commands + 3];
    let exec = &replies[commands + 3];
    let words = |value: &Value| match value {
        Value::ServerError(e) => crate::live::read::server_error_text(e),
        other => crate::text::untrusted(&format!("{other:?}")).into_owned(),
    };
    if !is_ok(multi) {
        // No transaction: each command ran as it came.
        return Ok(TransactionOutcome::RanUnfenced {
            results: queued.to_vec(),
            why: format!("MULTI was refused: {}", words(multi)),
        });
    }
    let fence_problem = if !is_ok(watch) {
        Some(format!("WATCH was refused: {}", words(watch)))
    } else if !matches!(guard, Value::Int(0 | 1)) {
        Some(format!("the lock could not be checked: {}", words(guard)))
    } else {
        None
    };
    match exec {
        Value::Array(results) if results.len() == commands => Ok(match (fence_problem, guard) {
            (None, Value::Int(1)) => TransactionOutcome::Ran(results.clone()),
            (None, _) => TransactionOutcome::RanUnfenced {
                results: results.clone(),
                why: "the guard found the lock not this apply's, and EXEC still ran".to_owned(),
            },
            (Some(why), _) => TransactionOutcome::RanUnfenced {
                results: results.clone(),
                why,
            },
        }),
        Value::Array(results) => Err(format!(
            "EXEC gave {} replies for {commands} commands",
            results.len()
        )),
        Value::Nil => Ok(TransactionOutcome::LockLost),
        Value::ServerError(_) => {
            let refused: Vec<(usize, String)> = queued
                .iter()
                .enumerate()
                .filter_map(|(index, reply)| match reply {
                    Value::ServerError(e) => Some((index, crate::live::read::server_error_text(e))),
                    _ => None,
                })
                .collect();
            Ok(if refused.is_empty() {
                TransactionOutcome::NotRun(format!("EXEC failed: {}", words(exec)))
            } else {
                TransactionOutcome::Refused(refused)
            })
        }
        other => Err(format!(
            "EXEC gave an unexpected reply: {}",
            crate::text::untrusted(&format!("{other:?}"))
        )),
    }
}

fn is_ok(value: &Value) -> bool {
    match value {
        Value::Okay => true,
        Value::SimpleString(text) => text == "OK",
        _ => false,
    }
}

/// How a command of a fenced batch is run by [`BATCH_SCRIPT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Plain,
    /// `BUSYGROUP` means it was done already.
    BusyGroupIsDone,
    /// Skipped when its key does not exist.
    NeedsKey,
}

/// One command of a fenced batch: its mode, the key it works on, its arguments.
pub struct FencedCommand<'a> {
    pub mode: Mode,
    pub key: &'a str,
    pub args: Vec<String>,
}

/// The `EVAL` that runs `commands` under the lock.
pub fn batch_command(
    lock_key: &str,
    token: &str,
    lease_ms: u64,
    commands: &[FencedCommand<'_>],
) -> Cmd {
    let mut eval = redis::cmd("EVAL");
    eval.arg(BATCH_SCRIPT)
        .arg(1)
        .arg(lock_key)
        .arg(token)
        .arg(lease_ms);
    for command in commands {
        let mode = match command.mode {
            Mode::Plain => "-",
            Mode::BusyGroupIsDone => "B",
            Mode::NeedsKey => "E",
        };
        eval.arg(mode).arg(command.key).arg(command.args.len());
        for arg in &command.args {
            eval.arg(arg);
        }
    }
    eval
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
pub fn batch_outcome(reply: &Value) -> Result<BatchOutcome, String> {
    let unexpected = || {
        format!(
            "the batch script gave an unexpected reply: {}",
            crate::text::untrusted(&format!("{reply:?}"))
        )
    };
    let items = match reply {
        Value::Array(items) => items,
        Value::ServerError(error) => {
            return Err(format!(
                "EVAL failed: {}",
                crate::text::untrusted(&crate::live::read::server_error_text(error))
            ));
        }
        _ => return Err(unexpected()),
    };
    match items.as_slice() {
        [Value::Int(-1)] => Ok(BatchOutcome::LockLost),
        [Value::Int(done)] => Ok(BatchOutcome::Ran {
            done: usize::try_from(*done).map_err(|_| unexpected())?,
            failed: None,
        }),
        [Value::Int(done), error] => Ok(BatchOutcome::Ran {
            done: usize::try_from(*done).map_err(|_| unexpected())?,
            failed: Some(crate::live::read::as_text(error).ok_or_else(unexpected)?),
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
        let address = match self.url.address() {
            crate::redis_url::Address::Tcp { host, port, .. } if host.contains(':') => {
                format!("[{host}]:{port}")
            }
            crate::redis_url::Address::Tcp { host, port, .. } => format!("{host}:{port}"),
            crate::redis_url::Address::Unix(path) => path.display().to_string(),
        };
        Identity {
            address,
            db: i64::from(self.url.db()),
            // No user in the URL is the `default` user: the same server either way.
            user: Some(self.url.user().unwrap_or("default").to_owned()),
        }
    }

    /// Like [`Target::batches`], with `window` batches in flight at most (1: each batch
    /// waits for the reply of the one before).
    pub fn batches_in_window<'a>(
        &'a self,
        batches: impl Iterator<Item = Vec<Cmd>> + 'a,
        window: usize,
    ) -> impl futures_util::Stream<Item = Result<Vec<Value>, TargetError>> + 'a {
        self.in_flight(batches, window, |_| &self.connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: &str) -> Value {
        redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).expect("an error reply")
    }

    /// The replies of a guarded transaction of two commands: WATCH, the guard, MULTI, two
    /// QUEUED (or refusals), EXEC.
    fn replies(guard: Value, queued: [Value; 2], exec: Value) -> Vec<Value> {
        let [first, second] = queued;
        vec![Value::Okay, guard, Value::Okay, first, second, exec]
    }

    #[test]
    fn transaction_replies_are_read_strictly() {
        let queued = || {
            [
                Value::SimpleString("QUEUED".into()),
                Value::SimpleString("QUEUED".into()),
            ]
        };
        // Ran: each command's own reply, errors included (a runtime error stops nothing).
        let ran = replies(
            Value::Int(1),
            queued(),
            Value::Array(vec![
                Value::Okay,
                error("WRONGTYPE Operation against a key"),
            ]),
        );
        assert_eq!(
            transaction_outcome(&ran, 2),
            Ok(TransactionOutcome::Ran(vec![
                Value::Okay,
                error("WRONGTYPE Operation against a key")
            ]))
        );
        // The guard found another holder, or the lock changed before EXEC: nothing ran.
        for guard in [Value::Int(0), Value::Int(1)] {
            assert_eq!(
                transaction_outcome(&replies(guard, queued(), Value::Nil), 2),
                Ok(TransactionOutcome::LockLost)
            );
        }
        // A command refused as it was queued: EXECABORT, nothing ran.
        let refused = replies(
            Value::Int(1),
            [
                Value::SimpleString("QUEUED".into()),
                error("NOPERM no permissions to run 'xtrim'"),
            ],
            error("EXECABORT Transaction discarded"),
        );
        assert_eq!(
            transaction_outcome(&refused, 2),
            Ok(TransactionOutcome::Refused(vec![(
                1,
                "NOPERM no permissions to run 'xtrim'".to_owned()
            )]))
        );
        // EXEC ran although the fence did not hold: the guard failed, or said the lock was
        // lost; WATCH refused; MULTI refused (the commands then ran one by one, and EXEC
        // has nothing to execute). Each is reported as run, unfenced.
        let both_ran = || Value::Array(vec![Value::Okay, Value::Okay]);
        let mut watch_refused = replies(Value::Int(1), queued(), both_ran());
        watch_refused[0] = error("NOPERM no permissions to run 'watch'");
        let mut multi_refused = replies(
            Value::Int(0),
            [Value::Okay, Value::Okay],
            error("ERR EXEC without MULTI"),
        );
        multi_refused[2] = error("NOPERM no permissions to run 'multi'");
        for (unfenced, why) in [
            (
                replies(error("WRONGTYPE lock"), queued(), both_ran()),
                "the lock could not be checked: WRONGTYPE",
            ),
            (
                replies(Value::Int(0), queued(), both_ran()),
                "the guard found the lock not this apply's",
            ),
            (watch_refused, "WATCH was refused: NOPERM"),
            (multi_refused, "MULTI was refused: NOPERM"),
        ] {
            match transaction_outcome(&unfenced, 2) {
                Ok(TransactionOutcome::RanUnfenced { results, why: said }) => {
                    assert_eq!(results, [Value::Okay, Value::Okay]);
                    assert!(said.starts_with(why), "{said}");
                }
                other => panic!("{why}: {other:?}"),
            }
        }
        // EXEC refused with no command refused: nothing ran, and it says why.
        assert_eq!(
            transaction_outcome(&replies(Value::Int(1), queued(), error("NOPERM exec")), 2),
            Ok(TransactionOutcome::NotRun(
                "EXEC failed: NOPERM exec".to_owned()
            ))
        );
        // Replies that do not add up: errors, never success.
        for bad in [
            replies(Value::Int(1), queued(), Value::Array(vec![Value::Okay])),
            replies(Value::Int(1), queued(), Value::Okay),
        ] {
            assert!(transaction_outcome(&bad, 2).is_err(), "{bad:?}");
        }
        assert!(transaction_outcome(&[Value::Okay], 2).is_err());
    }

    #[test]
    fn batch_replies_are_read_strictly() {
        assert_eq!(
            batch_outcome(&Value::Array(vec![Value::Int(-1)])),
            Ok(BatchOutcome::LockLost)
        );
        assert_eq!(
            batch_outcome(&Value::Array(vec![Value::Int(3)])),
            Ok(BatchOutcome::Ran {
                done: 3,
                failed: None
            })
        );
        assert_eq!(
            batch_outcome(&Value::Array(vec![
                Value::Int(1),
                Value::BulkString(b"NOPERM no".to_vec())
            ])),
            Ok(BatchOutcome::Ran {
                done: 1,
                failed: Some("NOPERM no".to_owned())
            })
        );
        for bad in [
            Value::Okay,
            Value::Array(vec![]),
            Value::Array(vec![Value::Int(-2)]),
            Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
        ] {
            assert!(batch_outcome(&bad).is_err(), "{bad:?}");
        }
    }
}
