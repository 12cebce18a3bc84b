//! `redis-topology apply`: read, plan, confirm, lock, re-check, execute, report.

use std::io::{BufRead, IsTerminal};
use std::pin::Pin;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::session::{Session, block_on, deployment_shown, exit_soon, open, plan_target_of};
use super::{ApplyArgs, ColourChoice, Failure, print_stderr, print_stdout, print_warning};
use crate::apply::{self, Planned};
use crate::live::{LiveState, read};
use crate::model::desired::Desired;
use crate::model::secrets::Missing;
use crate::plan::saved::{self, SavedPlan, SavedTarget, Unusable, reconcile};
use crate::plan::{self, Action, Change, Plan};
use crate::record::Record;
use crate::render;
use crate::render::plan::PlanTarget;
use crate::target::{BATCH_SIZE, Lock};

pub fn run(args: &ApplyArgs, colour: ColourChoice) -> Result<u8, Failure> {
    block_on(apply(args, colour))
}

/// 1. Load and validate, connect.
/// 2. Plan (with a saved plan: check it was made for this server and topology, and that a
///    fresh plan equals it).
/// 3. Nothing to do: stop here, having written nothing.
/// 4. Show the plan and confirm (unattended: show each change as it is made, and take the
///    lock meanwhile when the plan must change something; see [`plan_and_show`]).
/// 5. Take the lock and plan again unless nothing can have changed.
/// 6. Execute.
/// 7. Release the lock and report.
async fn apply(args: &ApplyArgs, colour: ColourChoice) -> Result<u8, Failure> {
    let mut session = open(&args.target, colour, Missing::Error).await?;
    let saved = args.plan.as_deref().map(read_saved).transpose()?;
    if let Some(saved) = &saved {
        check_saved(&session, args, saved)?;
    }
    // Only the command line says whether apply may delete: a saved plan's `prune` is
    // checked against it (above), never taken from the file.
    let prune = args.target.prune;
    let stdout_colour = colour.enabled(std::io::stdout().is_terminal());
    // Unattended (`--yes`, no saved plan), the plan is shown as it is made.
    let unattended = args.yes && saved.is_none();
    // Unattended, the lock may be taken while the plan is made (see `plan_and_show`):
    // Ctrl-C is caught from then on, to release it.
    let early_interrupt = unattended
        .then(interrupt)
        .transpose()
        .map_err(cannot_listen)?;
    let timeout = Duration::from_secs(args.lock_timeout);
    // The write connections' ids, for the lock, asked while the server is read.
    let client_ids = session.target.client_ids();
    let (live, client_ids) = tokio::join!(session.read_live(), client_ids);
    let live = live?;
    session.target.keep_client_ids(client_ids);
    let shown_as_made = unattended.then_some(stdout_colour);
    let (live, made) = plan_and_show(&mut session, live, prune, shown_as_made, timeout).await?;
    let (approved, early_lock) = match made {
        Made::Shown(changes, lock) if changes.is_empty() => {
            if let Some(lock) = lock {
                release(&mut session, lock).await;
            }
            exit_soon(session);
            return Ok(0);
        }
        // Only the record is kept: what else was read (every stream's and user's live
        // state, tens of megabytes at 100,000 streams) is freed before the plan is sent.
        Made::Shown(changes, lock) => (
            Approved::Unattended(Box::new((changes, live.into_record()))),
            lock,
        ),
        Made::Plan(plan) => {
            let plan = match &saved {
                Some(saved) if plan.is_empty() => {
                    return Ok(nothing_left(saved, live.record.as_ref()));
                }
                Some(saved) => reconcile(&saved.plan, plan).map_err(Failure::SavedPlanDiffers)?,
                None => plan,
            };
            drop(live);
            render::plan::write_human(&plan, &session.plan_target(), stdout_colour, print_stdout);
            if plan.is_empty() {
                exit_soon((session, plan));
                return Ok(0);
            }
            confirm(args, &plan)?;
            let approved = match &saved {
                Some(saved) => Approved::Saved(saved),
                // What was approved, kept small: the full plan is rebuilt under the lock
                // (10,000 streams make a plan of tens of megabytes, and two at once would
                // double the peak memory).
                None => Approved::Shown(shape(&plan)),
            };
            (approved, None)
        }
    };
    let interrupted = match early_interrupt {
        Some(interrupted) => interrupted,
        None => interrupt().map_err(cannot_listen)?,
    };
    let lock = match early_lock {
        Some(lock) => lock,
        None => {
            session
                .target
                .acquire_lock(&session.desired.namespace, timeout)
                .await?
        }
    };
    if let Some(holder) = lock.taken_over_from() {
        print_warning(&format!(
            "note: took over the apply lock from {holder}, whose connection to the server is gone (a killed or cut-off apply: the server can no longer run anything it sent)\n"
        ));
    }
    // Ctrl-C stops between batches and releases the lock; what ran stays done, and the next
    // apply completes it (kill -9 is covered too: the lock then expires by itself).
    let outcome = tokio::select! {
        outcome = execute_locked(&mut session, prune, approved, &lock, colour) => outcome,
        () = interrupted => Err(message("interrupted: the changes sent so far stay applied; run apply again to complete")),
    };
    // The failure is printed after this warning, as the command's last word. After a
    // failover the lock's node may be a replaced primary, where nothing more is written: the
    // lock is left to expire (its copy on the new primary within a lease).
    if failed_over(&outcome) {
        drop(lock);
    } else {
        release(&mut session, lock).await;
    }
    exit_soon(session);
    outcome
}

/// What was planned: the whole plan, to show, confirm or compare with a saved one; or
/// (unattended) its changes as apply keeps them, shown as they were made, and the lock if it
/// was taken meanwhile.
enum Made {
    Plan(Plan),
    Shown(Vec<Planned>, Option<Lock>),
}

/// Plan. With `shown_as_made` (unattended; whether in colour), each change is shown as it is
/// made and only what apply needs of it is kept: a first apply of 100,000 streams then never
/// holds its whole plan (see [`crate::plan::Checked::each`]). When the plan cannot be
/// refused and is sure to change something (no record yet, or one of another desired state:
/// the record is rewritten), the lock is asked for meanwhile, its round trips beside the
/// planning (through a link of 1 ms each way, 2 ms of an apply of ~85).
async fn plan_and_show(
    session: &mut Session,
    live: LiveState,
    prune: bool,
    shown_as_made: Option<bool>,
    timeout: Duration,
) -> Result<(LiveState, Made), Failure> {
    let options = plan::Options { prune };
    let Some(colour) = shown_as_made else {
        let plan = plan::plan(&session.desired, &live, options).map_err(Failure::Refused)?;
        return Ok((live, Made::Plan(plan)));
    };
    let url = session.target.describe().to_string();
    let desired = &session.desired;
    let shown = plan_target_of(desired, &url, deployment_shown(&session.target));
    let checked = plan::check(desired, &live, options).map_err(Failure::Refused)?;
    let changes_for_certain = live
        .record
        .as_ref()
        .is_none_or(|record| record.digest != desired.digest());
    let show = async { show_as_made(checked, desired, &live, &shown, colour) };
    let (changes, lock) = if changes_for_certain {
        let take = session.target.acquire_lock(&desired.namespace, timeout);
        let (lock, changes) = tokio::join!(take, show);
        (changes, Some(lock?))
    } else {
        (show.await, None)
    };
    Ok((live, Made::Shown(changes, lock)))
}

/// Make the plan, showing each change as it is made, and keep what apply needs of them.
///
/// The changes are shown (and kept) on a thread of their own while this one makes the next:
/// on a first apply of 10,000 streams on a cluster, making and showing 30,000 changes took
/// ~20% of the wall time on one thread while the servers waited, about half of it showing.
fn show_as_made(
    checked: plan::Checked<'_>,
    desired: &Desired,
    live: &LiveState,
    shown: &PlanTarget<'_>,
    colour: bool,
) -> Vec<Planned> {
    let room = plan::room(desired, live);
    std::thread::scope(|scope| {
        let (made, to_show) = std::sync::mpsc::sync_channel::<Vec<Change>>(BATCHES_AHEAD);
        let shower = scope.spawn(move || {
            let mut writer = render::plan::HumanWriter::new(shown, colour, print_stdout);
            let mut changes = Vec::with_capacity(room);
            for change in to_show.into_iter().flatten() {
                writer.change(&change);
                changes.push(Planned::from(change));
            }
            (writer, changes)
        });
        let mut batch = Vec::with_capacity(SHOWN_AT_ONCE);
        let notes = checked.each(&mut |change| {
            batch.push(change);
            if batch.len() >= SHOWN_AT_ONCE {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(SHOWN_AT_ONCE));
                // Only a shower that panicked stops listening: its join says so.
                let _ = made.send(full);
            }
        });
        let _ = made.send(batch);
        drop(made);
        match shower.join() {
            Ok((writer, changes)) => {
                writer.finish(&notes);
                changes
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Changes handed to the thread that shows them, this many at a time, at most
/// [`BATCHES_AHEAD`] batches ahead of it.
const SHOWN_AT_ONCE: usize = 256;
const BATCHES_AHEAD: usize = 8;

/// Release the lock, warning if it could not be.
async fn release(session: &mut Session, lock: Lock) {
    if let Err(e) = session.target.release_lock(lock).await {
        print_warning(&format!("warning: could not release the apply lock: {e}\n"));
    }
}

fn cannot_listen(e: std::io::Error) -> Failure {
    Failure::Message(format!("cannot listen for Ctrl-C: {e}"))
}

/// Whether the apply stopped on a failover (see [`apply::Stopped::failed_over`]).
fn failed_over(outcome: &Result<u8, Failure>) -> bool {
    matches!(outcome, Err(Failure::Apply(apply::ApplyError::Stopped(stopped))) if stopped.failed_over())
}

fn message(text: &str) -> Failure {
    Failure::Message(text.to_owned())
}

/// Resolves on Ctrl-C (SIGINT). Listening starts when this is called, not when the future
/// is first polled (as with `tokio::signal::ctrl_c`): the first batch of writes must not go
/// out before an interrupt can be caught.
#[cfg(unix)]
fn interrupt() -> std::io::Result<impl Future<Output = ()>> {
    let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        if signal.recv().await.is_none() {
            // The runtime is shutting down: no interrupt will ever come.
            std::future::pending::<()>().await;
        }
    })
}

#[cfg(not(unix))]
fn interrupt() -> std::io::Result<impl Future<Output = ()>> {
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move {
        let _ = ctrl_c.await;
    })
}

/// Read a saved plan, at most [`saved::MAX_BYTES`] of it (read through a limit, not checked
/// by size first: a pipe or a growing file has no size to check).
fn read_saved(path: &std::path::Path) -> Result<SavedPlan, Failure> {
    use std::io::Read;
    let cannot = |source| Failure::UnusablePlan {
        path: path.display().to_string(),
        source,
    };
    let cannot_read = |source| Failure::File {
        action: "read the plan",
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let mut bytes = Vec::new();
    file.take(saved::MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > saved::MAX_BYTES {
        return Err(cannot(Unusable::TooLarge));
    }
    let text = String::from_utf8(bytes).map_err(|_| cannot(Unusable::NotText))?;
    SavedPlan::parse(&text).map_err(cannot)
}

/// A saved plan applies only to the server, user and topology it was made for.
fn check_saved(session: &Session, args: &ApplyArgs, saved: &SavedPlan) -> Result<(), Failure> {
    let here = session.target.identity();
    let target = SavedTarget {
        url: session.target.describe().to_string(),
        address: here.address,
        db: here.db,
        user: here.user,
    };
    if let Some(other) = saved.target_mismatch(&target) {
        return Err(Failure::OtherServer(other));
    }
    match (saved.prune, args.target.prune) {
        (true, false) => {
            return Err(message(
                "the saved plan was made with --prune (it may delete streams, groups and users); apply it with --prune. Nothing was applied",
            ));
        }
        (false, true) => {
            return Err(message(
                "the saved plan was made without --prune; make it again with `plan --prune --out FILE`, or apply it without --prune. Nothing was applied",
            ));
        }
        _ => {}
    }
    if saved.desired_digest != session.desired.digest() {
        return Err(message(
            "the topology changed since the plan was made; run plan again. Nothing was applied",
        ));
    }
    Ok(())
}

/// A saved plan when nothing is left to do: say whether this plan did it.
fn nothing_left(saved: &SavedPlan, record: Option<&Record>) -> u8 {
    match record.filter(|r| r.applied_plan.as_deref() == Some(saved.id.as_str())) {
        Some(record) => print_stdout(&format!(
            "This plan was already applied (the record names it, written at {} ms since the epoch); nothing to do.\n",
            record.applied_at_ms
        )),
        None => print_stdout(
            "Nothing to do: the server already matches the topology (another apply made these changes).\n",
        ),
    }
    0
}

/// On a terminal, ask; off one, require `--yes`.
fn confirm(args: &ApplyArgs, plan: &Plan) -> Result<(), Failure> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(message(
            "not on a terminal: add --yes to apply without confirmation. Nothing was applied",
        ));
    }
    print_stderr(&format!(
        "\nApply {}? Only `yes` is accepted: ",
        if plan.changes.len() == 1 {
            "this change".to_owned()
        } else {
            format!("these {} changes", plan.changes.len())
        }
    ));
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(message("apply cancelled; nothing was applied"))
    }
}

/// What the user approved: a saved plan, the shape of the plan shown at the prompt, or
/// (with `--yes`) the plan itself and the record it was made with.
enum Approved<'a> {
    Saved(&'a SavedPlan),
    Shown(Vec<(String, Action)>),
    /// Boxed: a plan of 10,000 streams is large, and so is the record.
    Unattended(Box<(Vec<Planned>, Option<Record>)>),
}

/// Under the lock: make sure the server is still as planned, then execute.
///
/// With `--yes`, the plan was made milliseconds ago: if the lock was free at once and the
/// record is unchanged (every apply that changes anything writes it, with a new serial), no
/// other apply ran in between, and the plan runs as made (one round trip instead of reading
/// every stream again). Otherwise the server is read and planned again, and when another
/// apply already did the work there is nothing to do. A fresh plan runs if it has the shape
/// approved at the prompt (a `max_age` trim's bound moves with the clock); with `--yes`,
/// as planned again; a saved plan runs only if the fresh plan equals it.
async fn execute_locked(
    session: &mut Session,
    prune: bool,
    approved: Approved<'_>,
    lock: &Lock,
    colour: ColourChoice,
) -> Result<u8, Failure> {
    // The fence is checked on the write connections while the first read under the lock
    // goes out on the readers: one round trip for both.
    let fence = apply::check_fence(&session.target, lock);
    let (approved, fence): (_, Pin<Box<dyn Future<Output = _> + Send>>) = match approved {
        Approved::Unattended(planned) => {
            let (plan, record) = *planned;
            let namespace = &session.desired.namespace;
            let (now, fence) =
                tokio::join!(read::read_record(&mut session.target, namespace), fence);
            if !lock.contended() && now? == record {
                drop(record);
                return execute(session, plan, (lock, fence?), None).await;
            }
            let approved = Approved::Unattended(Box::new((plan, record)));
            (approved, Box::pin(std::future::ready(fence)))
        }
        approved => (approved, Box::pin(fence)),
    };
    let (read, fence) = tokio::join!(session.read_and_plan(prune), fence);
    let (live, fresh) = read?;
    if fresh.is_empty() {
        return Ok(match approved {
            Approved::Saved(saved) => nothing_left(saved, live.record.as_ref()),
            _ => {
                print_stdout(
                    "Nothing to do: another apply made these changes while this one waited for the lock.\n",
                );
                0
            }
        });
    }
    drop(live);
    let (plan, plan_id) = match approved {
        Approved::Saved(saved) => (
            apply::planned(reconcile(&saved.plan, fresh).map_err(Failure::SavedPlanDiffers)?),
            Some(saved.id.as_str()),
        ),
        Approved::Shown(shape_shown) if shape_shown == shape(&fresh) => {
            (apply::planned(fresh), None)
        }
        Approved::Shown(_) => {
            return Err(message(
                "the server changed while waiting for confirmation or the lock; run apply again to see what it would do now. Nothing was applied",
            ));
        }
        Approved::Unattended(_) => {
            print_stdout(
                "\nThe server changed while this apply waited for the lock; planned again:\n",
            );
            let target = session.plan_target();
            let stdout_colour = colour.enabled(std::io::stdout().is_terminal());
            render::plan::write_human(&fresh, &target, stdout_colour, print_stdout);
            (apply::planned(fresh), None)
        }
    };
    execute(session, plan, (lock, fence?), plan_id).await
}

/// Send the plan's operations under the lock, with a progress bar on a terminal, and report.
async fn execute(
    session: &mut Session,
    plan: Vec<Planned>,
    lock: (&Lock, apply::FenceChecked),
    plan_id: Option<&str>,
) -> Result<u8, Failure> {
    let total = plan.iter().map(|c| c.ops.len()).sum();
    let bar = progress_bar(total);
    let mut progress = |done: usize, _total: usize| bar.set_position(done as u64);
    let result = apply::execute(
        &mut session.target,
        plan,
        &session.desired,
        lock,
        plan_id,
        &mut progress,
    )
    .await;
    bar.finish_and_clear();
    let applied = result?;
    print_stdout(&format!(
        "Apply complete: {}, {}.\n",
        crate::text::count(applied.changes, "change"),
        crate::text::count(applied.commands, "command")
    ));
    Ok(0)
}

/// What a plan changes and how: two plans with the same shape do the same thing (the exact
/// trim bounds and the record's timestamp aside).
fn shape(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

/// A progress bar on a terminal when there is more than one batch to send; hidden otherwise,
/// and with --quiet.
fn progress_bar(total: usize) -> ProgressBar {
    if total <= BATCH_SIZE || !std::io::stderr().is_terminal() || super::quiet() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} commands ({eta} left)") {
        bar.set_style(style);
    }
    bar
}
