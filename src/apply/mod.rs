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
    check_passwords(commands.iter().map(|(_, c)| *c), desired)?;
    for part in [first, last] {
        // Each batch's commands are encoded as it is sent, not all up front.
        let chunks = part
            .chunks(BATCH_SIZE)
            .map(|chunk| chunk.iter().map(|(_, c)| to_cmd(c, desired)).collect());
        let mut sent = part.chunks(BATCH_SIZE);
        let mut replies = std::pin::pin!(target.batches(chunks));
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

/// Refuse, before anything is sent, a plan that sets more passwords of a user than the
/// topology declares (a saved plan made from another topology would; its digest check
/// normally catches that first).
fn check_passwords<'a>(
    commands: impl Iterator<Item = &'a Vec<String>>,
    desired: &Desired,
) -> Result<(), TargetError> {
    for parts in commands {
        let placeholders = parts.iter().filter(|p| *p == HASH_PLACEHOLDER).count();
        if placeholders == 0 {
            continue;
        }
        let user = parts.get(2).map_or("", String::as_str);
        let declared = desired
            .users
            .get(user)
            .map_or(0, |u| u.password_hashes.len());
        if placeholders > declared {
            return Err(TargetError(format!(
                "the plan sets a password of ACL user `{user}` that the topology does not declare; run plan again"
            )));
        }
    }
    Ok(())
}

/// The command to send: as planned, with each password placeholder of an `ACL SETUSER`
/// replaced by the user's next hash (`#<sha256>`). [`check_passwords`] made sure there is
/// one for each; were one missing, the placeholder would go as is and Redis would refuse it
/// as a malformed rule, stopping the apply.
fn to_cmd(parts: &[String], desired: &Desired) -> redis::Cmd {
    let mut cmd = redis::cmd(parts.first().map_or("PING", String::as_str));
    let mut hashes = parts
        .get(2)
        .and_then(|user| desired.users.get(user))
        .map(|u| u.password_hashes.iter());
    for part in parts.iter().skip(1) {
        let hash = if part == HASH_PLACEHOLDER {
            hashes.as_mut().and_then(Iterator::next)
        } else {
            None
        };
        match hash {
            Some(hash) => cmd.arg(format!("#{hash}")),
            None => cmd.arg(part),
        };
    }
    cmd
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

#[cfg(test)]
mod tests {
    use super::*;

    fn desired_with(hashes: &[&str]) -> Desired {
        let user = crate::model::desired::DesiredUser {
            enabled: true,
            nopass: false,
            password_hashes: hashes.iter().map(|h| (*h).to_owned()).collect(),
            keys: Vec::new(),
            channels: Vec::new(),
            commands: Vec::new(),
        };
        Desired {
            namespace: "app".to_owned(),
            environment: None,
            streams: Default::default(),
            digest: String::new(),
            users: [("worker".to_owned(), user)].into_iter().collect(),
        }
    }

    fn setuser(placeholders: usize) -> Vec<String> {
        ["ACL", "SETUSER", "worker", "reset", "on"]
            .into_iter()
            .chain(std::iter::repeat_n(HASH_PLACEHOLDER, placeholders))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn placeholders_are_filled_with_the_declared_hashes_in_order() {
        let desired = desired_with(&["aa", "bb"]);
        let command = setuser(2);
        assert!(check_passwords([&command].into_iter(), &desired).is_ok());
        let packed =
            String::from_utf8_lossy(&to_cmd(&command, &desired).get_packed_command()).into_owned();
        assert!(packed.contains("#aa") && packed.contains("#bb"), "{packed}");
        assert!(!packed.contains(HASH_PLACEHOLDER), "{packed}");
    }

    #[test]
    fn a_plan_with_more_passwords_than_declared_is_refused_before_sending() {
        let desired = desired_with(&["aa"]);
        let command = setuser(2);
        let error = check_passwords([&command].into_iter(), &desired)
            .expect_err("one hash for two placeholders");
        assert!(error.to_string().contains("`worker`"), "{error}");
        assert!(
            !error.to_string().contains("aa"),
            "no hash in the message: {error}"
        );
    }
}
