//! `SCAN` on every primary: the keys that match patterns, in shared round trips.
//!
//! Each round sends, to every primary at once, one `SCAN <cursor> MATCH <pattern> COUNT
//! 1000 [TYPE <type>]` per pattern whose cursor there has not come back to 0. `status` counts
//! heartbeat keys with it; `import` finds a namespace's streams. Bounded: at most
//! [`MAX_SCAN_ROUNDS`] rounds, and the caller decides what it keeps of the keys.

use super::{Command, NodeId, RedactedUrl, Route, ServerError, Target, TargetError};
use crate::resp::Reply;
use crate::text::untrusted;

/// Keys a `SCAN` round asks each primary to look at, per pattern.
pub const SCAN_COUNT: u64 = 1000;

/// The most `SCAN` rounds: 100 million keys per primary at [`SCAN_COUNT`].
pub const MAX_SCAN_ROUNDS: usize = 100_000;

/// One pattern to scan for: `MATCH pattern`, and `TYPE kind` when given (Redis 6.0+).
#[derive(Clone, Copy, Debug)]
pub struct ScanPattern<'a> {
    pub pattern: &'a str,
    pub kind: Option<&'a str>,
}

/// What [`Target::scan_every_primary`] hands each key to, with its pattern's index.
pub type EachKey<'f> = dyn FnMut(usize, &[u8]) + Send + 'f;

impl Target {
    /// Every key each pattern matches on every primary: `SCAN` until each cursor comes back
    /// to 0, every pattern and primary in the same round trip. A key may be handed over more
    /// than once (SCAN may return it twice). `noperm_hint` is added to the error when the
    /// server refuses `SCAN` for want of a permission.
    pub async fn scan_every_primary(
        &mut self,
        patterns: &[ScanPattern<'_>],
        noperm_hint: &'static str,
        each: &mut EachKey<'_>,
    ) -> Result<(), TargetError> {
        if patterns.is_empty() {
            return Ok(());
        }
        let url = self.describe().clone();
        let primaries = self.route(Route::EveryPrimary);
        // Per primary, per pattern: the cursor to send next, `None` once done.
        let mut cursors: Vec<Vec<Option<String>>> = primaries
            .iter()
            .map(|_| vec![Some("0".to_owned()); patterns.len()])
            .collect();
        for _ in 0..MAX_SCAN_ROUNDS {
            let mut jobs: Vec<(NodeId, Vec<Vec<Command>>)> = Vec::new();
            let mut asked: Vec<(usize, Vec<usize>)> = Vec::new();
            for (at, node) in primaries.iter().enumerate() {
                let open: Vec<usize> = (0..patterns.len())
                    .filter(|p| cursors[at][*p].is_some())
                    .collect();
                if open.is_empty() {
                    continue;
                }
                let commands = open
                    .iter()
                    .map(|p| {
                        let mut scan = Command::new("SCAN")
                            .arg(cursors[at][*p].as_deref().unwrap_or("0"))
                            .arg("MATCH")
                            .arg(patterns[*p].pattern)
                            .arg("COUNT")
                            .arg(SCAN_COUNT);
                        if let Some(kind) = patterns[*p].kind {
                            scan = scan.arg("TYPE").arg(kind);
                        }
                        scan
                    })
                    .collect();
                jobs.push((*node, vec![commands]));
                asked.push((at, open));
            }
            if jobs.is_empty() {
                return Ok(());
            }
            self.read_many(jobs, &mut |job, replies| {
                let Some((at, open)) = asked.get(job) else {
                    return Ok(());
                };
                for (p, reply) in open.iter().zip(replies) {
                    let (next, keys) = scan_reply(reply, patterns[*p].pattern, noperm_hint, &url)?;
                    for key in keys {
                        each(*p, key);
                    }
                    cursors[*at][*p] = (next != "0").then(|| next.to_owned());
                }
                Ok(())
            })
            .await
            .map_err(|(_, error)| TargetError::from(error))?;
        }
        Err(TargetError::Malformed {
            url,
            command: "`SCAN`".to_owned(),
            why: format!("it did not finish within {MAX_SCAN_ROUNDS} rounds"),
        })
    }
}

/// A `SCAN` reply: the next cursor and the keys.
fn scan_reply<'r>(
    reply: &'r Reply<'_>,
    pattern: &str,
    noperm_hint: &'static str,
    url: &RedactedUrl,
) -> Result<(&'r str, Vec<&'r [u8]>), TargetError> {
    let command = || format!("`SCAN ... MATCH {}`", untrusted(pattern));
    if let Reply::Error { code, details } = reply {
        let hint = if *code == "NOPERM" { noperm_hint } else { "" };
        return Err(TargetError::Refused {
            url: url.clone(),
            command: command(),
            error: ServerError::new(code, details),
            hint: hint.into(),
        });
    }
    let shape = || TargetError::Malformed {
        url: url.clone(),
        command: command(),
        why: format!("it answered {}", reply.describe()),
    };
    let Reply::Array(parts) = reply else {
        return Err(shape());
    };
    let [cursor, Reply::Array(keys)] = parts.as_slice() else {
        return Err(shape());
    };
    let cursor = cursor.as_str().ok_or_else(shape)?;
    let keys = keys
        .iter()
        .map(|key| match key {
            Reply::Bytes(bytes) => Ok(*bytes),
            _ => Err(shape()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cursor, keys))
}
