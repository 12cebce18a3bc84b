//! `redis-topology status`: the live streams and groups against the file's `health`.

use std::io::IsTerminal;

use super::session::{block_on, open_for};
use super::{ColourChoice, Failure, Format, StatusArgs, TargetArgs, print_stdout};
use crate::model::secrets::Missing;
use crate::render;
use crate::status::{evaluate, read};

pub fn run(args: StatusArgs, colour: ColourChoice) -> Result<u8, Failure> {
    block_on(status(args, colour))
}

async fn status(args: StatusArgs, colour: ColourChoice) -> Result<u8, Failure> {
    let format = args.format;
    let target = TargetArgs {
        file: args.file,
        env: args.env,
        server: args.server,
        prune: false,
    };
    // Read-only, and no password is sent anywhere: one whose variable is not set is fine.
    let mut session = open_for(&target, colour, Missing::NotKnown, false).await?;
    let readings = read::read(&mut session.target, &session.desired).await?;
    let report = evaluate::evaluate(&session.desired, &readings);
    let shown = session.plan_target();
    match format {
        Format::Json => print_stdout(&format!("{:#}\n", render::status::json(&report, &shown))),
        Format::Human => {
            let colour = colour.enabled(std::io::stdout().is_terminal());
            print_stdout(&render::status::human(&report, &shown, colour));
        }
    }
    Ok(report.worst().exit_code())
}
