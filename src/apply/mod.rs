//! The applier: runs a plan's operations ([`Planned`]) on the server, under the lock, in
//! three phases.
//!
//! 1. **Changes**: creations, trims, user rewrites, cleanup of an interrupted apply, in
//!    pipelined batches with a few in flight.
//! 2. **Destructive** operations (`--prune`: `DEL`, `XGROUP DESTROY`, `ACL DELUSER`), only
//!    once every change of phase 1 succeeded, one batch at a time.
//! 3. **The record** (and the users registry), only once everything else succeeded.
//!
//! Every write is fenced by the lock on the server (see `target::fenced`): a batch of
//! changes is a guarded transaction that runs nothing unless the lock holds this apply's
//! token; destructive operations and the record run in a script that checks the token
//! first and stops at the first failing command. Before each batch the lease must be known
//! to be ours for a while yet ([`Lock::check`]), so a stalled connection stops the apply
//! before its next batch. A failure stops the apply: batches already on their way finish,
//! nothing more is sent, and the report says, command by command, what failed and how much
//! was applied.
//!
//! Every operation is idempotent or made so (`BUSYGROUP` on a group that exists is success,
//! `XGROUP DESTROY` of a stream gone is skipped), and the record is written last, so an
//! apply interrupted at any moment (Ctrl-C, kill -9, a lost connection) leaves a state the
//! next apply completes.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::model::desired::Desired;
use crate::plan::ops::{Channel, RecordArg};
use crate::plan::{Action, Change, Kind, Op, Plan};
use crate::target::Lock;
use crate::target::fenced::{ExecRefused, Unfenced};
use crate::target::{
    BATCH_SIZE, BatchOutcome, Command, Deployment, Fence, OpReply, Role, ServerError, Target,
    TargetError, TransactionOutcome, WINDOW, Write, WriteOutcome,
};
use crate::text::untrusted;

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: usize,
    pub commands: usize,
}

/// What apply keeps of a planned change: its address and action (for the report), whether it
/// is destructive (its phase), and its operations. A change's reason, details and states are
/// for people, who have seen them by the time it is applied: a first apply of 100,000
/// streams keeps 300,000 of these, where the changes themselves take three times the room.
/// Boxed slices, not vectors: 40 bytes a change instead of 56.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub address: Box<str>,
    pub kind: Kind,
    pub action: Action,
    pub destructive: bool,
    pub ops: Box<[Op]>,
}

impl From<Change> for Planned {
    fn from(change: Change) -> Planned {
        Planned {
            address: change.address.into_boxed_str(),
            kind: change.kind,
            action: change.action,
            destructive: change.destructive,
            ops: change.extra.into_boxed_slice(),
        }
    }
}

/// A whole plan's changes as apply keeps them.
pub fn planned(plan: Plan) -> Vec<Planned> {
    plan.changes.into_iter().map(Planned::from).collect()
}

/// Called after each batch with (commands done, commands in total).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// Why an apply did not complete. Holds no secret (commands show password placeholders).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ApplyError {
    /// Refused before anything was sent: an operation routed to no node of the target (a
    /// saved plan naming a node this deployment does not have, or a slot no node serves).
    #[error(
        "`{command}` ({address}) goes to no node of this deployment (a node it names is gone, or a slot is unserved); nothing was sent. Run plan again"
    )]
    Unrouted { address: String, command: String },
    /// Refused before anything was sent: a user rewrite sets another number of passwords
    /// than the topology declares (the planner never makes one; a placeholder left unfilled
    /// would reach Redis as a malformed rule).
    #[error(
        "the plan sets {planned} passwords of ACL user `{user}`, the topology declares {declared}; run plan again"
    )]
    Passwords {
        user: String,
        planned: usize,
        declared: usize,
    },
    /// Refused before anything was sent: this user and server cannot fence the writes
    /// (`why`: what the probe found).
    #[error(
        "apply cannot fence its writes with the lock, so it writes nothing: {why} (the apply user needs +watch +multi +exec +eval, and to write `{lock_key}:fence:*`: see \"Least-privilege users for the tool\" in docs/operations.md)"
    )]
    Unfenceable {
        why: crate::target::fenced::FenceProblem,
        lock_key: String,
    },
    /// The fence could not be probed (the connection, the server).
    #[error(transparent)]
    Probe(TargetError),
    /// Stopped while writing: what failed, and exactly how far it got.
    #[error(transparent)]
    Stopped(Box<Stopped>),
}

impl From<Stopped> for ApplyError {
    fn from(stopped: Stopped) -> ApplyError {
        ApplyError::Stopped(Box::new(stopped))
    }
}

/// Why an apply stopped while writing, and exactly how far it got. Prints as lines: why,
/// each failed command, then what was and was not applied ([`Stopped::lines`]).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", self.lines().join("\n"))]
pub struct Stopped {
    /// What stopped the apply other than a failed command, if anything did.
    pub reason: Option<StopReason>,
    /// Every command that failed, in the order the server answered.
    pub failures: Vec<FailedCommand>,
    /// Commands known to have run, of all the plan's.
    pub done: usize,
    pub total: usize,
    /// Changes that ran all their commands, of the changes with commands.
    pub changes_done: usize,
    pub changes_with_commands: usize,
    /// The changes not fully applied, in plan order.
    pub unfinished: Vec<Unfinished>,
    /// Whether the record was written (it is written last).
    pub record_written: bool,
}

/// Why no further batch was sent, other than a failed command.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StopReason {
    /// The lease is not known to be this apply's for long enough to send another batch.
    #[error(transparent)]
    Lease(TargetError),
    /// A batch failed on the connection or the server.
    #[error(transparent)]
    Batch(TargetError),
    /// Before a batch, a node's role changed: a failover ([`TargetError::FailedOver`]), or
    /// the roles could not be asked (the connection, `ROLE` refused).
    #[error("{}", primary_unconfirmed(.0))]
    Primary(TargetError),
    /// The lock is no longer this apply's (`what_ran`: what the server ran of the batch).
    #[error(
        "lost the apply lock `{lock_key}`: another apply holds it now, or it expired ({what_ran})"
    )]
    LockLost {
        lock_key: String,
        what_ran: &'static str,
    },
    /// `EXEC` was refused: none of the batch ran.
    #[error("{why}: none of a batch of {commands} commands ran")]
    NotRun { why: ExecRefused, commands: usize },
    /// The renewal of the lease that opens a guarded transaction was refused as it was
    /// queued: none of the batch ran.
    #[error(
        "the server refused to renew the apply lock's lease in a batch: {error} ({})",
        none_ran(*.commands)
    )]
    LeaseRefused { error: ServerError, commands: usize },
    /// A batch ran without the fence: nothing more is sent.
    #[error(
        "a batch of {commands} commands ran without the lock's fence ({why}); stopped so that nothing more runs unfenced"
    )]
    Unfenced { commands: usize, why: Unfenced },
    /// The batch script named a failure after its last command (`error`: its words).
    #[error(
        "the batch script reported a failure past its last command: {}",
        untrusted(.error)
    )]
    FailurePastEnd { error: String },
    /// The batch script ran fewer commands than it had, and named no failure.
    #[error("the batch script ran {done} of {commands} commands and reported no failure")]
    ShortBatch { done: usize, commands: usize },
    /// A batch failed, and named no command of it.
    #[error("a batch failed without naming a command")]
    UnnamedFailure,
    /// Every batch answered without a failure, yet not every command is known to have run.
    #[error("only {done} of {total} commands are known to have run")]
    NotAllKnown { done: usize, total: usize },
}

/// A command that failed: its change's address, the command as shown (password
/// placeholders), and why.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{address}: `{command}` failed: {error}")]
pub struct FailedCommand {
    pub address: String,
    pub command: String,
    pub error: CommandError,
}

/// Why one command failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The server's error as it answered the command (escaped when printed).
    #[error("{}", untrusted(.0))]
    Failed(String),
    /// Refused as it was queued in a guarded transaction of `commands` commands: none of
    /// them ran.
    #[error("{}", untrusted(&format!("{error} ({})", none_ran(*.commands))))]
    Refused { error: ServerError, commands: usize },
}

/// How far a change not fully applied got.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{} {address}: {state} ({done} of {commands} commands)", .action.sign())]
pub struct Unfinished {
    pub action: Action,
    pub address: String,
    pub state: ChangeState,
    /// Its commands that ran, of all its commands.
    pub done: usize,
    pub commands: usize,
}

/// Where a change not fully applied stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeState {
    /// One of its commands failed.
    #[error("failed")]
    Failed,
    /// None of its commands ran.
    #[error("not run")]
    NotRun,
    /// Some of its commands ran.
    #[error("partly run")]
    PartlyRun,
}

/// A failover as it is; any other error as what kept the roles from being confirmed.
fn primary_unconfirmed(error: &TargetError) -> String {
    match error {
        TargetError::FailedOver { .. } => error.to_string(),
        other => format!(
            "could not confirm before a batch that the primary is still the primary: {other}"
        ),
    }
}

impl Stopped {
    /// Whether a failover stopped the apply: the node that held its lock may no longer be
    /// the primary, and nothing more may be written there (not even the lock's release).
    pub fn failed_over(&self) -> bool {
        matches!(
            &self.reason,
            Some(StopReason::Primary(TargetError::FailedOver { .. }))
        )
    }
}

/// What a batch refused as it was queued says about the rest of it.
fn none_ran(commands: usize) -> String {
    format!("refused as it was queued: none of its batch of {commands} commands ran")
}

impl Stopped {
    /// The report, line by line: the first says why (printed as the error), the others
    /// each failed command, then exactly what was and was not applied.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match (&self.reason, self.failures.len()) {
            (Some(why), 0) => lines.push(format!("apply stopped: {why}")),
            (_, n) => lines.push(format!(
                "apply stopped: {n} command{} failed",
                if n == 1 { "" } else { "s" }
            )),
        }
        for failure in &self.failures {
            lines.push(format!("  {failure}"));
        }
        if let (Some(why), false) = (&self.reason, self.failures.is_empty()) {
            lines.push(format!("  and: {why}"));
        }
        lines.push(format!(
            "Applied {} of {} commands; {} of {} changes with commands fully applied.",
            self.done, self.total, self.changes_done, self.changes_with_commands
        ));
        if !self.unfinished.is_empty() {
            lines.push("Not (fully) applied:".to_owned());
            const SHOWN: usize = 20;
            for change in self.unfinished.iter().take(SHOWN) {
                lines.push(format!("  {change}"));
            }
            if self.unfinished.len() > SHOWN {
                lines.push(format!("  ... and {} more", self.unfinished.len() - SHOWN));
            }
        }
        lines.push(format!(
            "What was applied stays applied.{} Run apply again after fixing this: it plans from the server as it is now and completes what is left.",
            if self.record_written {
                ""
            } else {
                " The record was not written."
            }
        ));
        lines
    }
}

/// One operation to run: the change it belongs to and its position there.
#[derive(Clone, Copy)]
struct Step<'p> {
    change: usize,
    position: usize,
    op: &'p Op,
}

/// Why no further batch may be sent.
enum Halt {
    /// A command failed (it is in the failures).
    Failure,
    /// The lock, the connection or the server stopped the apply (boxed: a reason holds a
    /// connection error, and this is what every batch's note returns).
    Stopped(Box<StopReason>),
}

impl From<StopReason> for Halt {
    fn from(reason: StopReason) -> Halt {
        Halt::Stopped(Box::new(reason))
    }
}

/// Where one operation of the plan is.
#[derive(Clone, Debug)]
struct OpState {
    outcome: Outcome,
    /// How many of the nodes it goes to have not confirmed it yet (an ACL user goes to
    /// every node); it is done when every node did it.
    pending: usize,
}

/// What happened to each operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    NotRun,
    Done,
    /// The command failed (the failures say why).
    Failed,
}

/// The phases, in order; a phase runs only when every phase before it succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Changes,
    Destructive,
    Record,
}

impl Phase {
    fn of(change: &Planned) -> Phase {
        if change.kind == Kind::Record {
            Phase::Record
        } else if change.destructive {
            Phase::Destructive
        } else {
            Phase::Changes
        }
    }

    /// Batches in flight at once: a few for phase 1 (speed: the server runs one while the
    /// next is encoded), one for the others, so that a failure stops what comes after it.
    fn window(self) -> usize {
        match self {
            Phase::Changes => WINDOW,
            Phase::Destructive | Phase::Record => 1,
        }
    }

    /// How an operation of this phase is fenced: changes (and ACL commands, which scripts
    /// may not run) in guarded transactions, the cheapest fence; destructive operations and
    /// the record in the script that stops at the first failure. On a cluster every key's
    /// operation runs in the script: a transaction may touch one slot only, a script (without
    /// flags) any slot its node serves.
    fn fence(self, op: &Op, cluster: bool) -> Fence {
        match (self, op.channel()) {
            (_, Channel::Key) if cluster => Fence::Script,
            (Phase::Changes, _) | (_, Channel::Acl) => Fence::Transaction,
            (Phase::Destructive | Phase::Record, Channel::Key) => Fence::Script,
        }
    }

    /// Operations per batch: on a cluster the record's phase runs one operation at a time,
    /// so that the users registry (on its own slot's node) is written before the record (on
    /// the lock's): a batch's nodes run at once.
    fn batch_size(self, cluster: bool) -> usize {
        match self {
            Phase::Record if cluster => 1,
            _ => BATCH_SIZE,
        }
    }
}

/// Run a plan under `lock`, whose fence was checked (`_fence`, see [`check_fence`]).
/// `desired` supplies the password hashes that plans hold only as placeholders; `plan_id` (a
/// saved plan's id) is written into the record.
pub async fn execute(
    target: &mut Target,
    mut plan: Vec<Planned>,
    desired: &Desired,
    (lock, _fence): (&Lock, FenceChecked),
    plan_id: Option<&str>,
    progress: Progress<'_>,
) -> Result<Applied, ApplyError> {
    check_passwords(&plan, desired)?;
    let total = plan.iter().map(|c| c.ops.len()).sum();
    let mut run = Run {
        cluster: target.deployment() == Deployment::Cluster,
        desired,
        lock,
        plan_id,
        ops: Vec::with_capacity(total),
        first_op: Vec::with_capacity(plan.len() + 1),
        done: 0,
        total,
        failures: Vec::new(),
        stopped: None,
    };
    for change in &plan {
        run.first_op.push(run.ops.len());
        for op in &change.ops {
            let nodes = target.route_len(op.route());
            if nodes == 0 {
                return Err(ApplyError::Unrouted {
                    address: change.address.to_string(),
                    command: op.shown_args().join(" "),
                });
            }
            run.ops.push(OpState {
                outcome: Outcome::NotRun,
                pending: nodes,
            });
        }
    }
    run.first_op.push(run.ops.len());
    for phase in [Phase::Changes, Phase::Destructive, Phase::Record] {
        if phase == Phase::Record {
            forget_applied(&mut plan);
        }
        let steps: Vec<Step<'_>> = plan
            .iter()
            .enumerate()
            .filter(|(_, change)| Phase::of(change) == phase)
            .flat_map(|(index, change)| {
                change
                    .ops
                    .iter()
                    .enumerate()
                    .map(move |(position, op)| Step {
                        change: index,
                        position,
                        op,
                    })
            })
            .collect();
        run.phase(target, phase, &steps, progress).await;
        if run.failed() {
            return Err(run.report(&plan).into());
        }
    }
    if run.done != run.total {
        // Every batch answered without a failure, yet not every command is known to have
        // run: never report success for that.
        run.stopped = Some(StopReason::NotAllKnown {
            done: run.done,
            total: run.total,
        });
        return Err(run.report(&plan).into());
    }
    Ok(Applied {
        changes: plan.len(),
        commands: run.done,
    })
}

/// Before the record is written, every other change has been applied: their operations and
/// addresses are freed (the report no longer names them). The record of 100,000 streams is
/// ~8 MB, and the Redis client copies it thrice on its way; the operations it follows took
/// ~25 MB.
fn forget_applied(plan: &mut [Planned]) {
    for change in plan.iter_mut().filter(|c| Phase::of(c) != Phase::Record) {
        change.ops = Box::default();
        change.address = Box::default();
    }
}

/// That this user and server can fence apply's writes with the lock: [`execute`] takes one,
/// so that nothing is written before [`check_fence`] said so.
#[derive(Debug)]
pub struct FenceChecked(());

/// Before the first write: show that this user and server can fence apply's writes (a
/// guarded transaction whose guard must stop it), or refuse to start, saying why. Without
/// this, a user who may not run `WATCH` or `MULTI`, or may not write the fence key, would
/// see each batch run unfenced (and the apply stop after the first). A future that borrows
/// nothing, so that it goes out beside the read that follows the lock.
pub fn check_fence(
    target: &Target,
    lock: &Lock,
) -> impl Future<Output = Result<FenceChecked, ApplyError>> + Send + use<> {
    let problem = target.fence_problem(lock.fence());
    let lock_key = lock.key().to_owned();
    async move {
        match problem.await.map_err(ApplyError::Probe)? {
            None => Ok(FenceChecked(())),
            Some(why) => Err(ApplyError::Unfenceable { why, lock_key }),
        }
    }
}

/// The state of one apply's run.
struct Run<'p> {
    desired: &'p Desired,
    lock: &'p Lock,
    plan_id: Option<&'p str>,
    /// The target is a Redis Cluster (see [`Phase::fence`]).
    cluster: bool,
    /// Every change's operations, in plan order (one vector for them all: a first apply of
    /// 100,000 streams has 300,000 changes, and a vector each was 600,000 allocations).
    ops: Vec<OpState>,
    /// Where each change's operations start in `ops`, and (last) where they end.
    first_op: Vec<usize>,
    done: usize,
    total: usize,
    /// Failed commands, for the report, each with its change's index in the plan.
    failures: Vec<(usize, FailedCommand)>,
    /// Why the run stopped before sending everything (the lock, the connection).
    stopped: Option<StopReason>,
}

impl<'p> Run<'p> {
    fn failed(&self) -> bool {
        !self.failures.is_empty() || self.stopped.is_some()
    }

    /// Run one phase's steps, in plan order, in runs of operations fenced alike.
    async fn phase<'s>(
        &mut self,
        target: &Target,
        phase: Phase,
        steps: &[Step<'s>],
        progress: Progress<'_>,
    ) {
        let mut rest = steps;
        while let Some(first) = rest.first() {
            let fence = phase.fence(first.op, self.cluster);
            let length = rest
                .iter()
                .position(|s| phase.fence(s.op, self.cluster) != fence)
                .unwrap_or(rest.len());
            let (run, after) = rest.split_at(length);
            self.batches(target, phase, fence, run, progress).await;
            if self.failed() {
                return;
            }
            rest = after;
        }
    }

    /// Operations in fenced batches of [`BATCH_SIZE`], `phase.window()` in flight. Before each
    /// batch is sent the nodes' roles are confirmed (no failover: see
    /// [`Target::confirm_primaries`]) and the lease checked; after a failure no further batch
    /// is sent (those already on their way finish and are reported).
    async fn batches<'s>(
        &mut self,
        target: &Target,
        phase: Phase,
        fence: Fence,
        steps: &[Step<'s>],
        progress: Progress<'_>,
    ) {
        let margin = margin(self.lock.lease());
        let halt = RefCell::new(None::<Halt>);
        let sent_at = RefCell::new(Vec::new());
        let chunks: Vec<&[Step<'s>]> = steps.chunks(phase.batch_size(self.cluster)).collect();
        let (lock, desired, plan_id) = (self.lock, self.desired, self.plan_id);
        let batches = chunks.iter().map_while(|chunk| {
            if halt.borrow().is_some() {
                return None;
            }
            if let Err(e) = lock.check(margin) {
                *halt.borrow_mut() = Some(Halt::from(StopReason::Lease(e)));
                return None;
            }
            sent_at.borrow_mut().push(Instant::now());
            Some(writes(chunk, desired, plan_id))
        });
        {
            let mut replies =
                std::pin::pin!(target.write_batches(lock.fence(), fence, batches, phase.window()));
            let mut index = 0;
            loop {
                // The stream takes its next batches from the iterator when it is polled, so
                // the roles are confirmed here, before each poll that can send one.
                let more = halt.borrow().is_none() && sent_at.borrow().len() < chunks.len();
                if more && let Err(e) = target.confirm_primaries().await {
                    *halt.borrow_mut() = Some(Halt::from(StopReason::Primary(e)));
                }
                let Some(reply) = replies.next().await else {
                    break;
                };
                let Some(chunk) = chunks.get(index) else {
                    break;
                };
                let sent = sent_at.borrow().get(index).copied();
                index += 1;
                let noted = match reply {
                    // Each node's share: its writes are the steps at its positions.
                    Ok(shares) => shares.into_iter().try_for_each(|written| {
                        // Only the lock's node renews the lease (a replica's share checks
                        // its copy of the lock and renews nothing).
                        let sent =
                            sent.filter(|_| target.role(written.node) == Some(Role::Primary));
                        let share: Vec<Step<'s>> = written
                            .writes
                            .iter()
                            .filter_map(|at| chunk.get(*at).copied())
                            .collect();
                        match written.outcome {
                            WriteOutcome::Script(outcome) => {
                                self.note_script_batch(&share, outcome, sent)
                            }
                            WriteOutcome::Transaction(outcome) => {
                                self.note_transaction(&share, outcome, sent)
                            }
                        }
                    }),
                    Err(e) => Err(Halt::from(StopReason::Batch(e))),
                };
                if let Err(stop) = noted {
                    halt.borrow_mut().get_or_insert(stop);
                }
                progress(self.done, self.total);
            }
        }
        match halt.take() {
            Some(Halt::Stopped(why)) => {
                self.stopped.get_or_insert(*why);
            }
            Some(Halt::Failure) if self.failures.is_empty() => {
                self.stopped.get_or_insert(StopReason::UnnamedFailure);
            }
            _ => {}
        }
    }

    /// The lock turned out not to be this apply's any more: no batch may follow.
    fn lock_lost(&self, what_ran: &'static str) -> Halt {
        let why = format!("another apply holds it now, or it expired ({what_ran})");
        self.lock.mark_lost(&why);
        Halt::from(StopReason::LockLost {
            lock_key: self.lock.key().to_owned(),
            what_ran,
        })
    }

    /// Note what one guarded transaction did; `Err` when the apply must stop.
    fn note_transaction<'s>(
        &mut self,
        chunk: &[Step<'s>],
        outcome: TransactionOutcome,
        sent_at: Option<Instant>,
    ) -> Result<(), Halt> {
        // The transaction's first command renews the lease; the plan's follow it.
        match outcome {
            TransactionOutcome::LockLost => {
                Err(self.lock_lost("the server ran none of this batch"))
            }
            TransactionOutcome::NotRun(why) => Err(Halt::from(StopReason::NotRun {
                why,
                commands: chunk.len(),
            })),
            TransactionOutcome::Refused(refused) => {
                let commands = chunk.len();
                for (index, error) in refused {
                    match index.checked_sub(1).and_then(|i| chunk.get(i)) {
                        Some(step) => self.fail(step, CommandError::Refused { error, commands }),
                        None => {
                            return Err(Halt::from(StopReason::LeaseRefused { error, commands }));
                        }
                    }
                }
                Err(Halt::Failure)
            }
            TransactionOutcome::Ran(results) => {
                if let Some(sent_at) = sent_at {
                    self.lock.confirm(sent_at);
                }
                self.note_results(chunk, &results)
            }
            TransactionOutcome::RanUnfenced { results, why } => {
                // What ran is reported as run; nothing more is sent.
                let _ = self.note_results(chunk, &results);
                Err(Halt::from(StopReason::Unfenced {
                    commands: chunk.len(),
                    why,
                }))
            }
        }
    }

    /// Note each command's reply (after the transaction's renewal of the lease); `Err` when
    /// one failed.
    fn note_results<'s>(&mut self, chunk: &[Step<'s>], results: &[OpReply]) -> Result<(), Halt> {
        let mut failed = false;
        for (step, reply) in chunk.iter().zip(results.iter().skip(1)) {
            match reply {
                OpReply::Failed(e) if Some(e.code.as_str()) != step.op.done_already_code() => {
                    self.fail(step, CommandError::Failed(e.words.clone()));
                    failed = true;
                }
                _ => self.set(step, Outcome::Done),
            }
        }
        if failed { Err(Halt::Failure) } else { Ok(()) }
    }

    /// Note what one fenced script did; `Err` when the apply must stop.
    fn note_script_batch<'s>(
        &mut self,
        chunk: &[Step<'s>],
        outcome: BatchOutcome,
        sent_at: Option<Instant>,
    ) -> Result<(), Halt> {
        match outcome {
            BatchOutcome::LockLost => Err(self.lock_lost("the server ran none of this batch")),
            BatchOutcome::Ran { done, failed } => {
                if let Some(sent_at) = sent_at {
                    self.lock.confirm(sent_at);
                }
                for step in chunk.iter().take(done) {
                    self.set(step, Outcome::Done);
                }
                match (failed, chunk.get(done)) {
                    (Some(error), Some(step)) => {
                        self.fail(step, CommandError::Failed(error));
                        Err(Halt::Failure)
                    }
                    (Some(error), None) => Err(Halt::from(StopReason::FailurePastEnd { error })),
                    (None, _) if done < chunk.len() => Err(Halt::from(StopReason::ShortBatch {
                        done,
                        commands: chunk.len(),
                    })),
                    (None, _) => Ok(()),
                }
            }
        }
    }

    /// Note one node's outcome of a step: done once every node it goes to did it; a
    /// failure on any node stays a failure.
    fn set<'s>(&mut self, step: &Step<'s>, outcome: Outcome) {
        let at = self
            .first_op
            .get(step.change)
            .map(|first| first + step.position);
        let Some(state) = at.and_then(|at| self.ops.get_mut(at)) else {
            return;
        };
        if state.outcome == Outcome::Failed {
            return;
        }
        match outcome {
            Outcome::Done => {
                state.pending = state.pending.saturating_sub(1);
                if state.pending == 0 && state.outcome != Outcome::Done {
                    state.outcome = Outcome::Done;
                    self.done += 1;
                }
            }
            other => state.outcome = other,
        }
    }

    /// Each change's operations' states, in plan order.
    fn ops_by_change(&self) -> impl Iterator<Item = &[OpState]> + Clone {
        self.first_op.windows(2).map(|bounds| match bounds {
            [first, end] => self.ops.get(*first..*end).unwrap_or_default(),
            _ => &[],
        })
    }

    fn fail<'s>(&mut self, step: &Step<'s>, error: CommandError) {
        self.set(step, Outcome::Failed);
        self.failures.push((
            step.change,
            FailedCommand {
                // Named in the report, from the plan.
                address: String::new(),
                command: step.op.shown_args().join(" "),
                error,
            },
        ));
    }

    /// Every failed command, then exactly how far the apply got.
    fn report(&self, plan: &[Planned]) -> Stopped {
        let with_commands = || self.ops_by_change().filter(|ops| !ops.is_empty());
        let all_done = |ops: &[OpState]| ops.iter().all(|o| o.outcome == Outcome::Done);
        let record_written = plan
            .iter()
            .zip(self.ops_by_change())
            .any(|(c, ops)| c.kind == Kind::Record && all_done(ops));
        Stopped {
            reason: self.stopped.clone(),
            failures: self
                .failures
                .iter()
                .map(|(change, failed)| FailedCommand {
                    address: plan
                        .get(*change)
                        .map(|c| c.address.to_string())
                        .unwrap_or_default(),
                    ..failed.clone()
                })
                .collect(),
            done: self.done,
            total: self.total,
            // A change without commands of its own (a stream its groups create) is left out
            // of the count: its groups say.
            changes_done: with_commands().filter(|ops| all_done(ops)).count(),
            changes_with_commands: with_commands().count(),
            unfinished: self.unfinished(plan),
            record_written,
        }
    }

    /// The changes not fully applied, each with how far it got.
    fn unfinished(&self, plan: &[Planned]) -> Vec<Unfinished> {
        plan.iter()
            .zip(self.ops_by_change())
            .filter(|(_, ops)| ops.iter().any(|o| o.outcome != Outcome::Done))
            .map(|(change, ops)| {
                let done = ops.iter().filter(|o| o.outcome == Outcome::Done).count();
                let state = if ops.iter().any(|o| o.outcome == Outcome::Failed) {
                    ChangeState::Failed
                } else if done == 0 {
                    ChangeState::NotRun
                } else {
                    ChangeState::PartlyRun
                };
                Unfinished {
                    action: change.action,
                    address: change.address.to_string(),
                    state,
                    done,
                    commands: ops.len(),
                }
            })
            .collect()
    }
}

/// `chunk`'s operations as the target's writes: each with its command as sent, its route,
/// and what its fence must know (which error means done, whether it needs its key).
fn writes<'p>(chunk: &[Step<'p>], desired: &Desired, plan_id: Option<&str>) -> Vec<Write<'p>> {
    chunk
        .iter()
        .map(|step| Write {
            command: to_command(step.op, desired, plan_id),
            route: step.op.route(),
            already_done: step.op.done_already_code(),
            needs_key: step.op.needs_key(),
        })
        .collect()
}

/// The arguments as sent: each password placeholder of a user's rewrite replaced by the
/// user's next declared hash (`#<sha256>`), and the record stamped with the saved plan's id.
fn sent_args(op: &Op, desired: &Desired, plan_id: Option<&str>) -> Vec<String> {
    match op {
        Op::SetUser { name, .. } => {
            let hashes = desired
                .users
                .get(name)
                .map(|u| u.password_hashes.as_slice());
            crate::plan::users::fill_hashes(op.args(), hashes.unwrap_or_default())
        }
        Op::WriteRecord { key, record } if plan_id.is_some() => {
            let mut record = record.clone();
            record.applied_plan = plan_id.map(str::to_owned);
            vec!["SET".to_owned(), key.to_string(), record.to_json()]
        }
        _ => op.args(),
    }
}

fn to_command(op: &Op, desired: &Desired, plan_id: Option<&str>) -> Command {
    match op {
        // Placeholders to fill, or the record to stamp: through the owned arguments.
        Op::SetUser { .. } | Op::WriteRecord { .. } => {
            Command::from_args(sent_args(op, desired, plan_id))
        }
        // Everything else straight from the operation (20,000 of these in a first apply).
        _ => {
            let mut command = Command::from_args(Vec::<&str>::new());
            op.each_arg(RecordArg::Json, &mut |part| {
                command.push(part);
            });
            command
        }
    }
}

/// Refuse, before anything is sent, a plan whose user rewrites set another number of
/// passwords than the topology declares for that user (the planner never makes one; a
/// placeholder left unfilled would reach Redis as a malformed rule).
fn check_passwords(plan: &[Planned], desired: &Desired) -> Result<(), ApplyError> {
    for op in plan.iter().flat_map(|c| &c.ops) {
        let Op::SetUser { name, .. } = op else {
            continue;
        };
        let declared = desired
            .users
            .get(name)
            .map_or(0, |u| u.password_hashes.len());
        if op.placeholders() != declared {
            return Err(ApplyError::Passwords {
                user: name.clone(),
                planned: op.placeholders(),
                declared,
            });
        }
    }
    Ok(())
}

/// How long the lease must still have to run for another batch to be sent: half of it, so
/// a batch has that long to reach the server (whose script checks the lock anyway).
fn margin(lease: Duration) -> Duration {
    lease / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::HASH_PLACEHOLDER;

    fn desired_with(hashes: &[&str]) -> Desired {
        let user = crate::model::desired::DesiredUser {
            enabled: true,
            nopass: false,
            password_hashes: hashes.iter().map(|h| (*h).to_owned()).collect(),
            unknown_passwords: Vec::new(),
            keys: Vec::new(),
            channels: Vec::new(),
            commands: Vec::new(),
            selectors: Vec::new(),
        };
        Desired {
            namespace: "app".to_owned(),
            environment: None,
            streams: Default::default(),
            digest: Default::default(),
            users: [("worker".to_owned(), user)].into_iter().collect(),
            health: Default::default(),
        }
    }

    fn setuser(placeholders: usize) -> Op {
        Op::SetUser {
            name: "worker".to_owned(),
            rules: ["on"]
                .into_iter()
                .chain(std::iter::repeat_n(HASH_PLACEHOLDER, placeholders))
                .map(str::to_owned)
                .collect(),
            nodes: None,
        }
    }

    fn plan_of(op: Op) -> Vec<Planned> {
        vec![Planned {
            address: "user.worker".into(),
            kind: Kind::User,
            action: Action::Update,
            destructive: false,
            ops: Box::new([op]),
        }]
    }

    #[test]
    fn placeholders_are_filled_with_the_declared_hashes_in_order() {
        let desired = desired_with(&["aa", "bb"]);
        let op = setuser(2);
        assert!(check_passwords(&plan_of(op.clone()), &desired).is_ok());
        let sent = sent_args(&op, &desired, None).join(" ");
        assert_eq!(sent, "ACL SETUSER worker reset on #aa #bb");
    }

    #[test]
    fn a_plan_with_another_number_of_passwords_is_refused_before_sending() {
        let desired = desired_with(&["aa"]);
        for placeholders in [0, 2] {
            let error = check_passwords(&plan_of(setuser(placeholders)), &desired)
                .expect_err("one hash declared");
            assert!(error.to_string().contains("`worker`"), "{error}");
            assert!(
                !error.to_string().contains("aa"),
                "no hash in the message: {error}"
            );
        }
    }
}
