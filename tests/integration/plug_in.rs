//! What users plug in around the binary: shell completions and man pages generated from the
//! clap definitions (checked by the real shells and groff), and `--quiet` on every command.

use std::process::{Command, Output};

use super::redis::RedisServer;
use super::tools::require;
use super::util::{ORDERS_AND_AUDIT, bin, text, topology_file};

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run redis-topology")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The completion script of `shell`, written to a file.
fn completion_file(shell: &str) -> tempfile::NamedTempFile {
    let out = run(&["completions", shell]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file = temp_file(&stdout(&out));
    assert!(
        stdout(&out).len() > 1000,
        "the {shell} script is suspiciously short:\n{}",
        stdout(&out)
    );
    file
}

/// A temporary file with this content.
fn temp_file(content: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), content).expect("write the temp file");
    file
}

/// Run a program and return its output; panics when it cannot start.
fn program(program: &std::path::Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(program)
        .args(args)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let checks = [
        ("bash", "apt-get install -y bash", "-n"),
        ("zsh", "apt-get install -y zsh", "-n"),
        ("fish", "apt-get install -y fish", "--no-execute"),
    ];
    for (shell, install, syntax_only) in checks {
        let shell_path = require(shell, install);
        let script = completion_file(shell);
        let out = program(
            &shell_path,
            &[syntax_only.as_ref(), script.path().as_os_str()],
        );
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{shell} rejects its completion script: {}",
            text(&out)
        );
        let content = std::fs::read_to_string(script.path()).expect("read the script");
        for word in [
            "validate",
            "check-messages",
            "completions",
            // fish writes long options without their dashes (`-l quiet`).
            "detailed-exitcode",
            "url-file",
            "quiet",
        ] {
            assert!(
                content.contains(word),
                "the {shell} script does not mention {word}"
            );
        }
    }
}

/// Bash completes a subcommand's options and values: the script's function, called as bash
/// calls it on Tab (this caught clap_complete's bug with hyphenated binary names).
#[test]
fn bash_completes_commands_options_and_values() {
    let bash = require("bash", "apt-get install -y bash");
    let script = completion_file("bash");
    let complete = |words: &[&str]| -> String {
        let cword = words.len() - 1;
        let program = format!(
            r#"source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD={cword}; _redis__topology redis-topology "${{COMP_WORDS[{cword}]}}" "${{COMP_WORDS[{prev}]}}"; printf '%s\n' "${{COMPREPLY[@]}}""#,
            prev = cword - 1
        );
        let out = Command::new(&bash)
            .arg("-c")
            .arg(program)
            .arg("bash")
            .arg(script.path())
            .args(words)
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{}", text(&out));
        stdout(&out)
    };
    let lines = |s: String| s.lines().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(lines(complete(&["redis-topology", "pl"])), ["plan"]);
    assert_eq!(
        lines(complete(&["redis-topology", "plan", "--det"])),
        ["--detailed-exitcode"]
    );
    assert_eq!(
        lines(complete(&["redis-topology", "plan", "--format", ""])),
        ["human", "json", "markdown"]
    );
    assert!(
        lines(complete(&["redis-topology", "completions", ""])).contains(&"zsh".to_owned()),
        "shells are completed"
    );
}

#[test]
fn fish_completes_commands_and_options() {
    let fish = require("fish", "apt-get install -y fish");
    let script = completion_file("fish");
    let complete = |line: &str| -> String {
        let out = Command::new(&fish)
            .arg("--no-config")
            .arg("-c")
            .arg(r#"source $argv[1]; complete -C $argv[2]"#)
            .arg(script.path())
            .arg(line)
            .env("HOME", std::env::temp_dir())
            .output()
            .expect("run fish");
        assert!(out.status.success(), "{}", text(&out));
        stdout(&out)
    };
    assert!(
        complete("redis-topology che").starts_with("check-messages\t"),
        "{}",
        complete("redis-topology che")
    );
    let options = complete("redis-topology apply --lock");
    assert!(options.starts_with("--lock-timeout\t"), "{options}");
}

/// groff renders a page without a warning (`-ww` turns every warning on; `-z` discards the
/// output): a page clap_mangen or our own sections broke would warn or fail.
fn assert_renders(page: &std::path::Path) -> String {
    let groff = require("groff", "apt-get install -y groff-base");
    let out = Command::new(&groff)
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .expect("run groff");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "groff warns about {}: {}",
        page.display(),
        text(&out)
    );
    // The text a reader sees (no bold/underline overstrikes, no hyphenation).
    let out = Command::new(&groff)
        .args(["-man", "-Tascii", "-P-cbou", "-rHY=0", "-rLL=200n"])
        .arg(page)
        .output()
        .expect("run groff");
    assert!(out.status.success(), "{}", text(&out));
    stdout(&out)
}

#[test]
fn the_man_page_renders_with_every_option_and_the_exit_codes() {
    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("\n.TH redis-topology 1 "),
        "{}",
        stdout(&out)
    );
    let page = temp_file(&stdout(&out));
    let shown = assert_renders(page.path());
    for expected in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "-q, --quiet",
        "--color",
        "SUBCOMMANDS",
        "redis-topology-plan(1)",
        "redis-topology-check-messages(1)",
        "EXIT STATUS",
        "plan --detailed-exitcode and diff: there are changes.",
        "ENVIRONMENT",
        "REDIS_URL",
        "NO_COLOR",
        "SEE ALSO",
        "VERSION",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
    assert!(
        !shown.contains("redis-topology-help"),
        "clap's help subcommand has no page:\n{shown}"
    );
}

#[test]
fn man_dir_writes_a_page_per_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pages = dir.path().join("man1");
    let out = bin()
        .args(["man", "--dir"])
        .arg(&pages)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let mut written: Vec<String> = std::fs::read_dir(&pages)
        .expect("the directory was created")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "redis-topology-apply.1",
            "redis-topology-check-messages.1",
            "redis-topology-completions.1",
            "redis-topology-diff.1",
            "redis-topology-export-aclfile.1",
            "redis-topology-export-asyncapi.1",
            "redis-topology-export.1",
            "redis-topology-graph.1",
            "redis-topology-import.1",
            "redis-topology-man.1",
            "redis-topology-plan.1",
            "redis-topology-schema.1",
            "redis-topology-status.1",
            "redis-topology-validate.1",
            "redis-topology.1",
        ]
    );
    let plan = assert_renders(&pages.join("redis-topology-plan.1"));
    for expected in ["redis-topology-plan", "--detailed-exitcode", "--url-file"] {
        assert!(plan.contains(expected), "missing {expected:?} in:\n{plan}");
    }
    let main = std::fs::read_to_string(pages.join("redis-topology.1")).expect("main page");
    assert_eq!(
        main,
        stdout(&run(&["man"])),
        "--dir writes the printed page"
    );
}

#[test]
fn man_into_a_directory_that_cannot_be_made_is_an_error() {
    let file = temp_file("not a directory");
    let out = bin()
        .args(["man", "--dir"])
        .arg(file.path().join("man1"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).starts_with("error: cannot write the man pages:"),
        "{}",
        text(&out)
    );
}

// ---- --quiet ----------------------------------------------------------------------------

/// A valid file with one warning (a stream without retention).
const WARNS: &str = "version: 1\nnamespace: app\nstreams:\n  orders: {}\n";

#[test]
fn quiet_validate_prints_errors_only() {
    let file = topology_file(WARNS);
    let path = file.path().to_str().expect("UTF-8 temp path");
    let loud = run(&["validate", path]);
    assert_eq!(loud.status.code(), Some(0), "{}", text(&loud));
    assert!(
        stderr(&loud).contains("retention::missing"),
        "{}",
        text(&loud)
    );

    for args in [
        &["--quiet", "validate", path][..],
        &["validate", path, "-q"],
    ] {
        let quiet = run(args);
        assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet));
        assert!(
            quiet.stdout.is_empty() && quiet.stderr.is_empty(),
            "{args:?} printed: {}",
            text(&quiet)
        );
    }
    // --strict makes the warning an error: printed, with the summary.
    let strict = run(&["validate", path, "--strict", "-q"]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    assert!(
        stderr(&strict).contains("retention::missing"),
        "{}",
        text(&strict)
    );
    assert!(
        stderr(&strict).contains("is invalid: 1 error and 0 warnings"),
        "{}",
        text(&strict)
    );
    // A machine format is what was asked for: the warning is in it.
    let json = run(&["validate", path, "-q", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let list: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(list[0]["code"], "retention::missing", "{list:#}");
    assert!(json.stderr.is_empty(), "{}", text(&json));
}

#[test]
fn quiet_plan_and_apply_print_nothing_but_keep_their_exit_codes_and_formats() {
    let server = RedisServer::start();
    let file = topology_file(ORDERS_AND_AUDIT);
    let path = file.path().to_str().expect("UTF-8 temp path");
    let url = server.url();
    let target = ["--url", url.as_str()];
    let plan = |extra: &[&str]| {
        let mut args = vec!["-q", "plan", path];
        args.extend(target);
        args.extend(extra);
        run(&args)
    };

    let loud = run(&["plan", path, "--url", &url]);
    assert!(stdout(&loud).contains("+ stream"), "{}", text(&loud));

    let out = plan(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );

    let out = plan(&["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "changes: {}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );

    let out = plan(&["--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let addresses: Vec<&str> = json["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["address"].as_str())
        .collect();
    assert!(addresses.contains(&"stream.orders"), "{json:#}");

    let out = plan(&["--format", "markdown"]);
    assert!(stdout(&out).contains("app:orders"), "{}", text(&out));

    // --out still writes the plan; the hint about it is silenced with the rest.
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("plan.json");
    let saved_path = saved.to_str().expect("UTF-8 temp path");
    let out = plan(&["--out", saved_path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    assert!(saved.is_file(), "plan --out wrote no plan");

    let out = run(&[
        "apply", path, "--url", &url, "--plan", saved_path, "--yes", "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    let kind: String = server.cmd(&["TYPE", "app:orders"]);
    assert_eq!(kind, "stream", "the quiet apply applied");

    let out = plan(&["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));

    // Errors are never silenced.
    drop(server);
    let out = plan(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", text(&out));
}

/// The warning about a password on the command line is a warning: silenced by --quiet, shown
/// otherwise (and the password itself never is).
#[test]
fn quiet_silences_warnings() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
    let file = topology_file(ORDERS_AND_AUDIT);
    let path = file.path().to_str().expect("UTF-8 temp path");
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", server.port);
    let loud = run(&["apply", path, "--url", &url, "--yes"]);
    assert_eq!(loud.status.code(), Some(0), "{}", text(&loud));
    assert!(
        stderr(&loud).contains("warning: the password in --url is visible"),
        "{}",
        text(&loud)
    );
    assert!(!text(&loud).contains("s3cret-pw"), "{}", text(&loud));
    let quiet = run(&["apply", path, "--url", &url, "--yes", "-q"]);
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet));
    assert!(
        quiet.stdout.is_empty() && quiet.stderr.is_empty(),
        "{}",
        text(&quiet)
    );
}

#[test]
fn quiet_diff_keeps_its_exit_code_and_its_machine_formats() {
    let old = topology_file(ORDERS_AND_AUDIT);
    let new = topology_file(&ORDERS_AND_AUDIT.replace("maxlen: 100", "maxlen: 200"));
    let (old, new) = (
        old.path().to_str().expect("UTF-8 temp path"),
        new.path().to_str().expect("UTF-8 temp path"),
    );
    let loud = run(&["diff", old, new]);
    assert_eq!(loud.status.code(), Some(2), "{}", text(&loud));
    assert!(
        stdout(&loud).contains("retention orders"),
        "{}",
        text(&loud)
    );
    let quiet = run(&["diff", old, new, "-q"]);
    assert_eq!(quiet.status.code(), Some(2), "{}", text(&quiet));
    assert!(
        quiet.stdout.is_empty() && quiet.stderr.is_empty(),
        "{}",
        text(&quiet)
    );
    let markdown = run(&["diff", old, new, "-q", "--format", "markdown"]);
    assert_eq!(markdown.status.code(), Some(2), "{}", text(&markdown));
    assert!(stdout(&markdown).contains("orders"), "{}", text(&markdown));
}

#[test]
fn quiet_check_messages_prints_only_violations() {
    let topology = topology_file(
        "version: 1\nnamespace: app\nstreams:\n  tasks:\n    schema: task\n    retention: { maxlen: 10 }\nschemas:\n  task:\n    field: payload\n    versions:\n      1:\n        schema: { type: object, required: [id] }\n",
    );
    let check = |messages: &str| {
        let file = topology_file(messages);
        bin()
            .args(["check-messages", "-q", "--stream", "tasks"])
            .arg(topology.path())
            .arg("--file")
            .arg(file.path())
            .output()
            .expect("run")
    };
    let clean = check("{\"payload\": {\"id\": \"a\"}}\n");
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    assert!(
        clean.stdout.is_empty() && clean.stderr.is_empty(),
        "{}",
        text(&clean)
    );
    let dirty = check("{\"payload\": {\"id\": \"a\"}}\n{\"payload\": {}}\n");
    assert_eq!(dirty.status.code(), Some(1), "{}", text(&dirty));
    assert!(
        stdout(&dirty).contains("tasks line 2") && stdout(&dirty).contains("Checked 2 messages"),
        "{}",
        text(&dirty)
    );
}

#[test]
fn quiet_never_silences_what_a_command_is_for() {
    for args in [
        &["-q", "schema"][..],
        &["-q", "completions", "bash"],
        &["-q", "man"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(out.stdout.len() > 1000, "{args:?} printed: {}", text(&out));
    }
}

/// README's "Plug it in" and docs/plug-in.md show real commands: every `redis-topology` line
/// of their shell blocks names a real command with real options (checked against its
/// `--help`), and the completion and man commands run.
#[test]
fn documented_commands_are_real() {
    let readme = std::fs::read_to_string(super::util::repo().join("README.md")).expect("README");
    let section = readme
        .split("## Plug it in")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a Plug it in section");
    let docs = std::fs::read_to_string(super::util::repo().join("docs/plug-in.md")).expect("docs");
    let mut checked = 0;
    for doc in [section, docs.as_str()] {
        let mut in_shell = false;
        for line in doc.lines() {
            if line.starts_with("```") {
                in_shell = line == "```sh";
                continue;
            }
            let Some(command) = line.strip_prefix("redis-topology ").filter(|_| in_shell) else {
                continue;
            };
            // The command itself: up to a redirection, a pipe or a comment.
            let command = command.split(['>', '|', '#']).next().unwrap_or_default();
            let words: Vec<&str> = command.split_whitespace().collect();
            let subcommand = words
                .iter()
                .find(|w| !w.starts_with('-'))
                .expect("a subcommand");
            let help = run(&[subcommand, "--help"]);
            assert_eq!(help.status.code(), Some(0), "{line}: {}", text(&help));
            for flag in words.iter().filter(|w| w.starts_with('-')) {
                assert!(
                    stdout(&help).contains(flag),
                    "{line}: `{subcommand}` has no {flag}"
                );
            }
            if ["completions", "man"].contains(subcommand) {
                // In a scratch directory: `man --dir ~/...` is not expanded by a shell here.
                let scratch = tempfile::tempdir().expect("temp dir");
                let out = bin()
                    .args(&words)
                    .current_dir(scratch.path())
                    .output()
                    .expect("run");
                assert_eq!(out.status.code(), Some(0), "{line}: {}", text(&out));
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} documented commands found");
}
