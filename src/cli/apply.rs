//! `redis-topology apply`: read, plan, confirm, lock, re-check, execute, report.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::session::{Session, block_on, exit_soon, fail, open};
use super::{ApplyArgs, ColourChoice, print_stderr, print_stdout};
use crate::apply::{self, lock};
use crate::live::read;
use crate::plan::saved::SavedPlan;
use crate::plan::{Action, Plan};
use crate::record::Record;
use crate::render;
use crate::target::BATCH_SIZE;

pub fn run(args: &ApplyArgs, colour: ColourChoice) -> u8 {
    block_on(apply(args, colour))
}

/// 1. load and validate, connect; 2. plan (or load the saved plan and check it is current);
/// 3. nothing to do: stop here, having written nothing; 4. show the plan and confirm;
/// 5. take the lock and re-check that the server did not change meanwhile; 6. execute;
/// 7. release the lock and report.
async fn apply(args: &ApplyArgs, colour: ColourChoice) -> u8 {
    let mut session = match open(&args.target, colour).await {
        Ok(session) => session,
        Err(code) => return code,
    };
    let saved = match args.plan.as_deref().map(read_saved).transpose() {
        Ok(saved) => saved,
        Err(code) => return code,
    };
    let (plan, record) = match current_plan(&mut session, args, saved.as_ref()).await {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let target = session.plan_target();
    let stdout_colour = colour.enabled(std::io::stdout().is_terminal());
    render::plan::write_human(&plan, &target, stdout_colour, print_stdout);
    if plan.is_empty() {
        exit_soon((session, plan));
        return 0;
    }
    if let Err(code) = confirm(args, &plan) {
        return code;
    }
    let approved = match &saved {
        Some(saved) => Approved::Saved(saved),
        None if args.yes => Approved::Unattended(Box::new((plan, record))),
        // What was approved, kept small: the full plan is rebuilt under the lock (10,000
        // streams make a plan of tens of megabytes, and two at once would double the peak
        // memory).
        None => Approved::Shown(shape(&plan)),
    };
    let interrupted = match interrupt() {
        Ok(interrupted) => interrupted,
        Err(e) => return fail(&format!("cannot listen for Ctrl-C: {e}")),
    };
    let lock = match lock::acquire(
        &mut session.target,
        &session.desired.namespace,
        Duration::from_secs(args.lock_timeout),
    )
    .await
    {
        Ok(lock) => lock,
        Err(e) => return fail(&e.to_string()),
    };
    // Ctrl-C stops between batches and releases the lock; what ran stays done, and the next
    // apply completes it (kill -9 is covered too: the lock then expires by itself).
    let code = tokio::select! {
        code = execute_locked(&mut session, args, approved, lock.contended()) => code,
        () = interrupted => fail("interrupted: the changes sent so far stay applied; run apply again to complete"),
    };
    if let Err(e) = lock.release(&mut session.target).await {
        print_stderr(&format!("warning: could not release the apply lock: {e}\n"));
    }
    exit_soon(session);
    code
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

/// The plan to apply (the saved one if it still matches the server, else a fresh one) and
/// the record it was read with.
async fn current_plan(
    session: &mut Session,
    args: &ApplyArgs,
    saved: Option<&SavedPlan>,
) -> Result<(Plan, Option<Record>), u8> {
    let (live, plan) = session.read_and_plan(args.target.prune).await?;
    let Some(saved) = saved else {
        return Ok((plan, live.record));
    };
    check_saved(session, saved, &live.fingerprint())?;
    Ok((saved.plan.clone(), live.record))
}

fn read_saved(path: &std::path::Path) -> Result<SavedPlan, u8> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(&format!("cannot read the plan {}: {e}", path.display())))?;
    SavedPlan::parse(&text)
        .map_err(|why| fail(&format!("cannot use the plan {}: {why}", path.display())))
}

/// A saved plan applies only to the namespace, environment, topology and live state it was
/// made from.
fn check_saved(session: &Session, saved: &SavedPlan, fingerprint: &str) -> Result<(), u8> {
    let desired = &session.desired;
    if saved.plan.namespace != desired.namespace || saved.plan.environment != desired.environment {
        return Err(fail(
            "the saved plan is for another namespace or environment; nothing was applied",
        ));
    }
    if saved.desired_digest != desired.digest {
        return Err(fail(
            "the topology changed since the plan was made; run plan again. Nothing was applied",
        ));
    }
    if saved.live_fingerprint != fingerprint {
        return Err(fail(
            "the server changed since the plan was made (streams, groups or the record differ); run plan again. Nothing was applied",
        ));
    }
    Ok(())
}

/// On a terminal, ask; off one, require `--yes`.
fn confirm(args: &ApplyArgs, plan: &Plan) -> Result<(), u8> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            "not on a terminal: add --yes to apply without confirmation. Nothing was applied",
        ));
    }
    print_stderr(&format!(
        "\nApply these {} changes? Only `yes` is accepted: ",
        plan.changes.len()
    ));
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(fail("apply cancelled; nothing was applied"))
    }
}

/// What the user approved: a saved plan, the shape of the plan shown at the prompt, or
/// (with `--yes`) the plan itself and the record it was made with.
enum Approved<'a> {
    Saved(&'a SavedPlan),
    Shown(Vec<(String, Action)>),
    /// Boxed: a plan of 10,000 streams is large, and so is the record.
    Unattended(Box<(Plan, Option<Record>)>),
}

/// Under the lock: make sure the server is still as planned, then execute.
///
/// With `--yes`, the plan was made milliseconds ago: if the lock was free at once and the
/// record is unchanged, no other apply ran in between, and the plan runs as made (one round
/// trip instead of reading every stream again). Otherwise the server is read and planned
/// again: a fresh plan runs as re-planned (a `max_age` trim's bound moves with the clock) if
/// it has the shape approved; a saved plan runs exactly as saved if the server still matches
/// it.
async fn execute_locked(
    session: &mut Session,
    args: &ApplyArgs,
    approved: Approved<'_>,
    lock_contended: bool,
) -> u8 {
    let shown = match approved {
        Approved::Unattended(planned) => {
            let (plan, record) = *planned;
            match read::read_record(&mut session.target, &session.desired.namespace).await {
                Err(e) => return fail(&e.to_string()),
                Ok(now) if !lock_contended && now == record => {
                    let code = execute(session, &plan).await;
                    exit_soon(plan);
                    return code;
                }
                Ok(_) => Approved::Shown(shape(&plan)),
            }
        }
        approved => approved,
    };
    let (live, replanned) = match session.read_and_plan(args.target.prune).await {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let plan = match &shown {
        Approved::Saved(saved) if saved.live_fingerprint == live.fingerprint() => &saved.plan,
        Approved::Shown(shape_shown) if *shape_shown == shape(&replanned) => &replanned,
        _ => {
            return fail(
                "the server changed while waiting for confirmation or the lock; run apply again. Nothing was applied",
            );
        }
    };
    drop(live);
    execute(session, plan).await
}

/// Send the plan's commands, with a progress bar on a terminal, and report.
async fn execute(session: &mut Session, plan: &Plan) -> u8 {
    let total = plan.commands().count();
    let bar = progress_bar(total);
    let mut progress = |done: usize, _total: usize| bar.set_position(done as u64);
    let result = apply::execute(&session.target, plan, &session.desired, &mut progress).await;
    bar.finish_and_clear();
    match result {
        Ok(applied) => {
            print_stdout(&format!(
                "Apply complete: {} changes, {} commands.\n",
                applied.changes, applied.commands
            ));
            0
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// What a plan changes and how: two plans with the same shape do the same thing (the exact
/// trim bounds and the record's timestamp aside).
fn shape(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

/// A progress bar on a terminal when there is more than one batch to send; hidden otherwise.
fn progress_bar(total: usize) -> ProgressBar {
    if total <= BATCH_SIZE || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} commands ({eta} left)") {
        bar.set_style(style);
    }
    bar
}
