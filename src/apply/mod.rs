//! The applier: executes a [`Plan`] in pipelined batches, in plan order, a few batches in
//! flight at once (see [`Target::batches`]).
//!
//! Every command a plan holds is idempotent or made so here (`BUSYGROUP` on a group that
//! already exists is success; `XGROUP DESTROY` and `DEL` of something gone are no-ops), and
//! the tool's record is written in its own last round trip, only after every other command
//! succeeded. So an apply interrupted at any moment (Ctrl-C, kill -9, a lost connection)
//! leaves a state that the next apply completes.

pub mod lock;

use futures_util::StreamExt;
use redis::Value;

use crate::acl::HASH_PLACEHOLDER;
use crate::live::read::server_error_text;
use crate::model::desired::Desired;
use crate::plan::{Kind, Plan};
use crate::target::{BATCH_SIZE, Target, TargetError};

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: usize,
    pub commands: usize,
}

/// Called after each batch with (commands done, commands in total).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// Run a plan. `desired` supplies the password hashes that plans hold only as placeholders
/// (for a saved plan, its digest was checked to match `desired`).
pub async fn execute(
    target: &Target,
    plan: &Plan,
    desired: &Desired,
    progress: Progress<'_>,
) -> Result<Applied, TargetError> {
    let (record, resources): (Vec<_>, Vec<_>) =
        plan.changes.iter().partition(|c| c.kind == Kind::Record);
    let commands: Vec<(&str, &Vec<String>)> = resources
        .iter()
        .chain(record.iter())
        .flat_map(|change| change.commands.iter().map(|c| (change.address.as_str(), c)))
        .collect();
    let resource_count = commands.len() - record.iter().map(|c| c.commands.len()).sum::<usize>();
    let total = commands.len();
    let mut done = 0;
    // Resources first, in batches kept in flight a few at a time; the record alone at the
    // end, once every resource command succeeded.
    let (first, last) = commands.split_at(resource_count);
    for part in [first, last] {
        let chunks = part
            .chunks(BATCH_SIZE)
            .map(|chunk| chunk.iter().map(|(_, c)| to_cmd(c, desired)).collect())
            .collect::<Result<Vec<Vec<redis::Cmd>>, _>>()?;
        let mut sent = part.chunks(BATCH_SIZE);
        let mut replies = std::pin::pin!(target.batches(chunks.into_iter()));
        while let (Some(batch), Some(chunk)) = (replies.next().await, sent.next()) {
            for ((address, command), reply) in chunk.iter().zip(&batch?) {
                check_reply(address, command, reply)?;
            }
            done += chunk.len();
            progress(done, total);
        }
    }
    Ok(Applied {
        changes: plan.changes.len(),
        commands: total,
    })
}

/// The command to send: as planned, with each password placeholder of an `ACL SETUSER`
/// replaced by the user's next hash (`#<sha256>`).
fn to_cmd(parts: &[String], desired: &Desired) -> Result<redis::Cmd, TargetError> {
    let mut cmd = redis::cmd(parts.first().map_or("PING", String::as_str));
    let mut hashes = parts
        .get(2)
        .and_then(|user| desired.users.get(user))
        .map(|u| u.password_hashes.iter());
    for part in parts.iter().skip(1) {
        if part == HASH_PLACEHOLDER {
            let hash = hashes.as_mut().and_then(Iterator::next).ok_or_else(|| {
                TargetError(format!(
                    "the plan sets a password of ACL user `{}` that the topology does not declare; run plan again",
                    parts.get(2).map_or("", String::as_str)
                ))
            })?;
            cmd.arg(format!("#{hash}"));
        } else {
            cmd.arg(part);
        }
    }
    Ok(cmd)
}

/// A command's reply: success, a benign error that means "already done", or a failure that
/// stops the apply (what ran before it stays done and is completed by the next apply).
fn check_reply(address: &str, command: &[String], reply: &Value) -> Result<(), TargetError> {
    let Value::ServerError(error) = reply else {
        return Ok(());
    };
    let is_group_create = command
        .get(1)
        .is_some_and(|c| c.eq_ignore_ascii_case("CREATE"));
    if is_group_create && error.code() == "BUSYGROUP" {
        return Ok(()); // created meanwhile, by a concurrent or interrupted apply
    }
    let shown: Vec<&str> = command.iter().take(4).map(String::as_str).collect();
    Err(TargetError(format!(
        "{address}: `{}` failed: {}; the changes before it were applied, run apply again after fixing this",
        shown.join(" "),
        server_error_text(error)
    )))
}
