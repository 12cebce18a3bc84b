//! `redis-topology diff OLD NEW`: offline, for pull requests.

use std::io::IsTerminal;

use super::validate::diagnostics_text;
use super::{ColourChoice, DiffArgs, Failure, ReportFormat, print_stderr, print_stdout};
use crate::diff::source::{Checkout, SourceError, Spec};
use crate::diff::{self, Side};
use crate::graph::Graph;
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::render;
use crate::render::diff::Labelled;

/// Why `diff` could not compare. Printed as the tool's own words, naming the versions as
/// the command line gave them.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A version could not be read (a file, or `git:REF:PATH`).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A version has errors (its diagnostics are the command's report, printed already).
    #[error("{version} is invalid")]
    Invalid { version: String },
}

pub fn run(args: &DiffArgs, colour: ColourChoice) -> Result<u8, Failure> {
    let (old_spec, new_spec) = (Spec::parse(&args.old), Spec::parse(&args.new));
    let old = Checkout::new(&old_spec).map_err(DiffError::from)?;
    let new = Checkout::new(&new_spec).map_err(DiffError::from)?;
    let invalid = |spec: &Spec| DiffError::Invalid {
        version: spec.describe(),
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
            return Err(invalid(&new_spec).into());
        };
        let old_side = match env {
            // An environment the old version did not have: everything in it is new.
            Some(name) if !old_environments.contains(name) => empty_like(&new_side),
            _ => {
                let (report, side) = old.load(env.as_deref(), &ProcessEnv);
                let Some(side) = side else {
                    print_stderr(&diagnostics_text(&report, stderr_colour));
                    return Err(invalid(&old_spec).into());
                };
                side
            }
        };
        let graph = match args.format {
            ReportFormat::Markdown => super::plan::diagram_graph(&new_side.desired),
            _ => None,
        };
        diffs.push((env.clone(), diff::diff(&old_side, &new_side), graph));
    }
    let labelled: Vec<Labelled> = diffs
        .iter()
        .map(|(env, diff, _)| Labelled {
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
        ReportFormat::Markdown => {
            // NEW's diagrams, one per environment; none when one is too large to draw.
            let graphs: Option<Vec<Graph>> = diffs.iter().map(|(_, _, g)| g.clone()).collect();
            let graphs = graphs.unwrap_or_default();
            render::markdown::diff(&old_name, &new_name, &labelled, &graphs)
        }
    };
    print_stdout(&text);
    Ok(diffs
        .iter()
        .map(|(_, d, _)| d.exit_code())
        .max()
        .unwrap_or(0))
}

/// A side with nothing declared, in the other side's namespace and environment.
fn empty_like(side: &Side) -> Side {
    Side {
        desired: Desired {
            namespace: side.desired.namespace.clone(),
            environment: side.desired.environment.clone(),
            streams: Default::default(),
            digest: Default::default(),
            health: Default::default(),
            users: Default::default(),
        },
        schemas: Default::default(),
    }
}
