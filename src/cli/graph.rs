//! `redis-topology graph`: who writes which stream, which groups read it, which user
//! consumes in which group, dead-letter streams; offline (see [`crate::graph`]).

use std::path::PathBuf;

use clap::ValueEnum;

use super::session::load_topology;
use super::{ColourChoice, Failure, print_stdout};
use crate::graph::Graph;
use crate::model::desired::Desired;
use crate::model::secrets::Secrets;
use crate::render;

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// The topology file.
    #[arg(default_value = "topology.yaml")]
    pub file: PathBuf,
    /// The environment (required when the file declares environments).
    #[arg(long)]
    pub env: Option<String>,
    /// `mermaid` (GitHub draws it in Markdown) or `dot` (Graphviz: `| dot -Tsvg > topology.svg`).
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

pub fn run(args: &GraphArgs, colour: ColourChoice) -> Result<u8, Failure> {
    let topology = load_topology(&args.file, args.env.as_deref(), colour)
        .map_err(|why| Failure::Message(why.to_string()))?;
    // No secret is read: passwords draw nothing.
    let desired = Desired::from_topology(&topology, args.env.as_deref(), &Secrets::SourcesOnly)
        .map_err(|problems| Failure::Message(problems.join("; ")))?;
    let graph = Graph::of(&desired);
    print_stdout(&match args.format {
        GraphFormat::Mermaid => render::mermaid::mermaid(&graph),
        GraphFormat::Dot => render::dot::dot(&graph),
    });
    Ok(0)
}
