//! `redis-topology completions SHELL` and `redis-topology man`: generated from the clap
//! definitions in [`super::Cli`], so they list exactly the commands and options the parser
//! accepts.

use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use super::{Cli, Failure, print_stdout};

const BIN: &str = "redis-topology";

/// Print the completion script of `shell`.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    // Into memory first: clap_complete panics when its writer fails, and stdout can be a
    // closed pipe; `print_stdout` ignores that instead.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        script = bash_states_fixed(&script);
    }
    print_stdout(&script);
    0
}

/// clap_complete's bash script (4.6.12) spells a subcommand's state in two ways when the
/// binary's name has a hyphen: its loop reaches `redis__topology__subcmd__plan`, its `case`
/// arms read `redis__subcmd__topology__subcmd__plan`, so no option after a subcommand ever
/// completed (clap-rs/clap#6421). The arms are respelt as the loop spells them; once
/// clap_complete is fixed this replaces nothing. Tested by completing `plan --fo` in bash.
fn bash_states_fixed(script: &str) -> String {
    let escaped = BIN.replace('-', "__");
    let misspelt = BIN.replace('-', "__subcmd__");
    script.replace(&misspelt, &escaped)
}

/// Print `redis-topology.1`, or with `dir` write it and one page per command there.
pub fn man(dir: Option<&Path>) -> Result<u8, Failure> {
    match dir {
        None => main_page().map(|page| print_stdout(&page)),
        Some(dir) => write_pages(dir),
    }
    .map_err(Failure::ManPages)?;
    Ok(0)
}

/// The command tree as the man pages show it: without clap's `help` subcommand, which has
/// no page of its own (`--help` is listed with every command's options).
fn command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The main page: clap's sections, then what a man page reader looks for and clap does not
/// know (exit status, environment, where the other pages are).
fn main_page() -> std::io::Result<String> {
    let command = command();
    let extra = extra_sections(&command);
    let man = Man::new(command);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    page.extend_from_slice(extra.render().as_bytes());
    man.render_version_section(&mut page)?;
    Ok(String::from_utf8_lossy(&page).into_owned())
}

/// EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO, as in README's tables.
fn extra_sections(command: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    let tagged = |roff: &mut Roff, tag: &str, text: &str| {
        roff.control("TP", []).text([bold(tag)]).text([roman(text)]);
    };
    roff.control("SH", ["EXIT STATUS"]);
    tagged(
        &mut roff,
        "0",
        "Success: valid (warnings allowed), planned, applied or nothing to do; no changes for plan --detailed-exitcode and diff.",
    );
    tagged(
        &mut roff,
        "1",
        "Invalid input or an error (unreadable file, unknown --env, bad arguments, server errors, a refused or cancelled apply, invalid messages).",
    );
    tagged(
        &mut roff,
        "2",
        "plan --detailed-exitcode and diff: there are changes.",
    );
    tagged(&mut roff, "3", "diff: a destructive or breaking change.");
    roff.control("SH", ["ENVIRONMENT"]);
    tagged(
        &mut roff,
        "REDIS_URL",
        "The server when neither --url nor --url-file is given (default redis://127.0.0.1:6379). Prefer it or --url-file to --url for a URL with a password: other users of the machine can read a command line.",
    );
    tagged(
        &mut roff,
        "REDIS_TLS_CA_CERT",
        "For rediss:// URLs: a CA certificate (PEM) to trust instead of the public roots (--tls-ca-cert).",
    );
    tagged(
        &mut roff,
        "NO_COLOR",
        "Set: no colour with --color auto (the default).",
    );
    roff.text([roman(
        "Passwords of ACL users are read from the variables and files the topology names (passwords: [{env: VAR}]), by plan and apply only; only their sha256 is sent or shown.",
    )]);
    roff.control("SH", ["FILES"]);
    tagged(
        &mut roff,
        "topology.yaml",
        "The topology file when none is given.",
    );
    roff.control("SH", ["SEE ALSO"]);
    let mut see_also = Vec::new();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        see_also.push(bold(format!("{BIN}-{}", sub.get_name())));
        see_also.push(roman("(1), "));
    }
    see_also.extend([
        roman("written with "),
        italic(format!("{BIN} man --dir DIR")),
        roman("; the project's README and docs/ for the file format and operations."),
    ]);
    roff.text(see_also);
    roff
}

/// The main page and one page per command and subcommand, as git's man pages are laid out
/// (`man redis-topology plan` opens redis-topology-plan.1 with man-db).
fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let command = command();
    let mut pages: Vec<&clap::Command> = command.get_subcommands().collect();
    while let Some(sub) = pages.pop() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        Man::new(sub.clone()).generate_to(dir)?;
        // A command's own commands (`export aclfile`): redis-topology-export-aclfile.1.
        pages.extend(sub.get_subcommands());
    }
    let path = dir.join(format!("{BIN}.1"));
    std::fs::write(&path, main_page()?)?;
    Ok(())
}
