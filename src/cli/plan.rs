//! `redis-topology plan`: read-only; prints what apply would change.

use std::io::IsTerminal;

use super::session::{block_on, exit_soon, open};
use super::{ColourChoice, Failure, PlanArgs, ReportFormat, print_stdout};
use crate::graph::Graph;
use crate::model::secrets::Missing;
use crate::plan::saved::{SavedPlan, SavedTarget};
use crate::render;

pub fn run(args: &PlanArgs, colour: ColourChoice) -> Result<u8, Failure> {
    block_on(plan(args, colour))
}

async fn plan(args: &PlanArgs, colour: ColourChoice) -> Result<u8, Failure> {
    // Read-only: a password whose variable is not set is compared with nothing (noted).
    let mut session = open(&args.target, colour, Missing::NotKnown).await?;
    let (live, plan) = session.read_and_plan(args.target.prune).await?;
    let target = session.plan_target();
    match args.format {
        ReportFormat::Json => print_stdout(&format!("{:#}\n", render::plan::json(&plan, &target))),
        ReportFormat::Markdown => {
            let graph = diagram_graph(&session.desired);
            print_stdout(&render::markdown::plan(&plan, &target, graph.as_ref()));
        }
        ReportFormat::Human => {
            let colour = colour.enabled(std::io::stdout().is_terminal());
            render::plan::write_human(&plan, &target, colour, print_stdout);
        }
    }
    if let Some(out) = &args.out {
        let here = session.target.identity();
        let saved_target = SavedTarget {
            url: target.url.to_owned(),
            address: here.address,
            db: here.db,
            user: here.user,
        };
        let saved = SavedPlan::new(
            plan.clone(),
            saved_target,
            session.desired.digest().to_owned(),
            args.target.prune,
        );
        std::fs::write(out, saved.to_json()).map_err(|source| Failure::File {
            action: "write the plan to",
            path: out.display().to_string(),
            source,
        })?;
        if args.format == ReportFormat::Human {
            print_stdout(&format!(
                "\nSaved the plan to {}; apply it (only if it is still what would happen) with\n  {}\n",
                out.display(),
                apply_hint(args, out)
            ));
        }
    }
    let code = if args.detailed_exitcode && !plan.is_empty() {
        2
    } else {
        0
    };
    exit_soon((session, live, plan));
    Ok(code)
}

/// The graph a pull-request comment draws, for topologies small enough to draw in one
/// ([`crate::graph::MAX_DRAWN_STREAMS`]); `None` for larger ones.
pub(crate) fn diagram_graph(desired: &crate::model::desired::Desired) -> Option<Graph> {
    (desired.streams.len() <= crate::graph::MAX_DRAWN_STREAMS).then(|| Graph::of(desired))
}

/// The command that applies a saved plan: the same file, environment and `--prune` as this
/// plan (a hint missing `--env` failed on files with environments). The server is not
/// repeated: it comes from the same `--url-file` or `$REDIS_URL`, or is named by `--url`.
fn apply_hint(args: &PlanArgs, out: &std::path::Path) -> String {
    let mut hint = vec!["redis-topology apply".to_owned()];
    hint.push(shell_word(&args.target.file.display().to_string()));
    if let Some(env) = &args.target.env {
        hint.push(format!("--env {}", shell_word(env)));
    }
    if args.target.prune {
        hint.push("--prune".to_owned());
    }
    if let Some(file) = &args.target.server.url_file {
        hint.push(format!(
            "--url-file {}",
            shell_word(&file.display().to_string())
        ));
    } else if args.target.server.url.is_some() {
        hint.push("--url ...".to_owned());
    }
    hint.push(format!("--plan {}", shell_word(&out.display().to_string())));
    hint.join(" ")
}

/// A word as a shell reads it back: quoted when it holds anything but plain characters.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", crate::text::untrusted(word).replace('\'', "'\\''"))
    }
}
