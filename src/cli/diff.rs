//! `redis-topology diff OLD NEW`: offline, for pull requests.

use std::io::IsTerminal;

use super::validate::diagnostics_text;
use super::{ColourChoice, DiffArgs, ReportFormat, print_stderr, print_stdout};
use crate::diff::source::{Checkout, Spec};
use crate::diff::{self, Side};
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::render;
use crate::render::diff::Labelled;

pub fn run(args: &DiffArgs, colour: ColourChoice) -> u8 {
    let (old_spec, new_spec) = (Spec::parse(&args.old), Spec::parse(&args.new));
    let checkouts = Checkout::new(&old_spec).and_then(|old| Ok((old, Checkout::new(&new_spec)?)));
    let (old, new) = match checkouts {
        Ok(both) => both,
        Err(why) => {
            print_stderr(&format!("error: {why}\n"));
            return 1;
        }
    };
    let environments: Vec<Option<String>> = match &args.env {
        Some(env) => vec![Some(env.clone())],
        None => {
            let declared = new.environments();
            if declared.is_empty() {
                vec![None]
            } else {
                declared.into_iter().map(Some).collect()
            }
        }
    };
    let stderr_colour = colour.enabled(std::io::stderr().is_terminal());
    let old_environments = old.environments();
    let mut diffs = Vec::new();
    for env in &environments {
        let (report, new_side) = new.load(env.as_deref(), &ProcessEnv);
        print_stderr(&diagnostics_text(&report, stderr_colour));
        let Some(new_side) = new_side else {
            print_stderr(&format!("error: {} is invalid\n", new_spec.describe()));
            return 1;
        };
        let old_side = match env {
            // An environment the old version did not have: everything in it is new.
            Some(name) if !old_environments.contains(name) => empty_like(&new_side),
            _ => {
                let (report, side) = old.load(env.as_deref(), &ProcessEnv);
                let Some(side) = side else {
                    print_stderr(&diagnostics_text(&report, stderr_colour));
                    print_stderr(&format!("error: {} is invalid\n", old_spec.describe()));
                    return 1;
                };
                side
            }
        };
        diffs.push((env.clone(), diff::diff(&old_side, &new_side)));
    }
    let labelled: Vec<Labelled> = diffs
        .iter()
        .map(|(env, diff)| Labelled {
            environment: env.as_deref(),
            diff,
        })
        .collect();
    let (old_name, new_name) = (old_spec.describe(), new_spec.describe());
    let text = match args.format {
        ReportFormat::Human => {
            let colour = colour.enabled(std::io::stdout().is_terminal());
            render::diff::human(&old_name, &new_name, &labelled, colour)
        }
        ReportFormat::Json => format!(
            "{:#}\n",
            render::diff::json(&old_name, &new_name, &labelled)
        ),
        ReportFormat::Markdown => render::markdown::diff(&old_name, &new_name, &labelled),
    };
    print_stdout(&text);
    diffs.iter().map(|(_, d)| d.exit_code()).max().unwrap_or(0)
}

/// A side with nothing declared, in the other side's namespace and environment.
fn empty_like(side: &Side) -> Side {
    Side {
        desired: Desired {
            namespace: side.desired.namespace.clone(),
            environment: side.desired.environment.clone(),
            streams: Default::default(),
            digest: String::new(),
            users: Default::default(),
        },
        schemas: Default::default(),
    }
}
