//! Writes that run only while this apply holds its lock, checked by the server itself.
//!
//! A lease checked by the client alone cannot stop a write that a slow link delivers after
//! the lease ran out (measured: through a stalled connection, a second apply took the
//! expired lock and both wrote). So the server checks the lock as it runs each write:
//! - key writes go in a script ([`BATCH_SCRIPT`]) that first compares the lock's value with
//!   this apply's token (running nothing when they differ), renews the lease, then runs the
//!   batch's commands in order and stops at the first failure;
//! - ACL commands, which Redis refuses inside scripts, go in a transaction on a connection of
//!   their own: `WATCH` the lock, check its value, then `MULTI ... EXEC`. A lock that expires
//!   or changes hands after the check makes `EXEC` run nothing (measured on Redis 7.0: an
//!   expired watched key aborts `EXEC`).
//!
//! On a single node the lock and the keys share one server. (Redis Cluster routes keys to
//! other nodes than the lock's: a later issue.)

use redis::{Cmd, Value};

use super::{Target, TargetError, describe_error};

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

/// What an ACL transaction did.
#[derive(Clone, Debug, PartialEq)]
pub enum Fenced {
    /// `EXEC` ran every command: their replies (errors are the commands' own).
    Ran(Vec<Value>),
    /// Nothing ran: the lock is not this apply's.
    LockLost,
    /// Nothing ran: the server refused a command as it was queued (`NOPERM`, ...).
    Refused(String),
}

/// Where a plan was made and an apply runs: compared by saved plans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `host:port`, or the socket's path.
    pub address: String,
    pub db: i64,
    pub user: Option<String>,
}

/// How often a transaction is tried again when `EXEC` ran nothing although the lock was
/// ours: the renewer's `PEXPIRE` of the watched lock aborts it too.
const TRANSACTION_ATTEMPTS: usize = 5;

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

    /// Run `commands` (ACL commands: scripts may not) only while `token` holds `lock_key`.
    pub async fn fenced_transaction(
        &mut self,
        lock_key: &str,
        token: &str,
        commands: &[Cmd],
    ) -> Result<Fenced, TargetError> {
        for _ in 0..TRANSACTION_ATTEMPTS {
            let mut check = redis::pipe();
            check.cmd("WATCH").arg(lock_key).cmd("GET").arg(lock_key);
            let replies = self.transaction_pipe(check).await?;
            let holder = replies.get(1).and_then(crate::live::read::as_text);
            if holder.as_deref() != Some(token) {
                let mut unwatch = redis::pipe();
                unwatch.cmd("UNWATCH");
                self.transaction_pipe(unwatch).await?;
                return Ok(Fenced::LockLost);
            }
            let mut transaction = redis::pipe();
            transaction.cmd("MULTI");
            for command in commands {
                transaction.add_command(command.clone());
            }
            transaction.cmd("EXEC");
            let mut replies = self.transaction_pipe(transaction).await?;
            match replies.pop() {
                Some(Value::Array(results)) => return Ok(Fenced::Ran(results)),
                Some(Value::Nil) => continue, // the lock was touched: check it again
                Some(Value::ServerError(_)) => {
                    let refused = replies.iter().find_map(|reply| match reply {
                        Value::ServerError(e) => Some(crate::live::read::server_error_text(e)),
                        _ => None,
                    });
                    return Ok(Fenced::Refused(
                        crate::text::untrusted(&refused.unwrap_or_else(|| "EXECABORT".to_owned()))
                            .into_owned(),
                    ));
                }
                other => {
                    return Err(TargetError(format!(
                        "{}: EXEC gave an unexpected reply: {}",
                        self.url,
                        crate::text::untrusted(&format!("{other:?}"))
                    )));
                }
            }
        }
        Err(TargetError(format!(
            "{}: the ACL changes could not run: the lock `{lock_key}` kept changing while they were sent ({TRANSACTION_ATTEMPTS} attempts)",
            self.url
        )))
    }

    /// One pipeline on the transactions' own connection (opened on first use).
    async fn transaction_pipe(
        &mut self,
        mut pipe: redis::Pipeline,
    ) -> Result<Vec<Value>, TargetError> {
        if self.transactions.is_none() {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.options.connect))
                .set_response_timeout(Some(self.options.response));
            let connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| {
                    TargetError(format!("{}: {}", self.url, describe_error(&e, &self.url)))
                })?;
            self.transactions = Some(connection);
        }
        let Some(connection) = self.transactions.as_mut() else {
            return Err(TargetError(format!("{}: no connection", self.url)));
        };
        pipe.ignore_errors();
        pipe.query_async::<Vec<Value>>(connection)
            .await
            .map_err(|e| TargetError(format!("{}: {}", self.url, describe_error(&e, &self.url))))
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
