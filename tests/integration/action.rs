//! The GitHub Action (action.yml at the repository root), run locally: its shell steps are
//! read with the project's own YAML loader and run with bash as the Actions runner runs a
//! composite action's steps (`bash --noprofile --norc -eo pipefail`, inputs and outputs
//! through `${{ }}` expressions, GITHUB_OUTPUT / GITHUB_PATH / GITHUB_STEP_SUMMARY files),
//! against a real redis-server.
//!
//! What cannot run here is said, not skipped silently: `uses:` steps (GitHub's own
//! actions/cache) are left out and listed in [`Run::skipped`]; a test seeds the cache as that
//! step would restore it (the binary cargo built for these tests, in the directory the
//! action's key step names), so the install step takes its cached path. Building with `cargo
//! install` takes minutes and is not run; the step's refusal without cargo is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use redis_topology::model::node::{FileId, Node, NodeKind};

use super::redis::RedisServer;
use super::tools;
use super::util::{ORDERS_AND_AUDIT, repo};

/// The programs the action's scripts may call; the steps run with only these on PATH (and
/// what earlier steps add through GITHUB_PATH), so a script that needs another fails here.
const RUNNER_TOOLS: &[&str] = &[
    "bash",
    "cat",
    "cut",
    "find",
    "mkdir",
    "mktemp",
    "od",
    "sha256sum",
    "sort",
    "tr",
    "wc",
];

#[derive(Debug)]
struct Step {
    id: Option<String>,
    run: Option<String>,
    uses: Option<String>,
    env: Vec<(String, String)>,
    working_directory: Option<String>,
    condition: Option<String>,
}

struct Action {
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
    steps: Vec<Step>,
}

fn text_of(node: &Node) -> Option<String> {
    node.key_text().map(|t| t.into_owned())
}

fn mapping(node: Option<&Node>) -> Vec<(String, &Node)> {
    node.and_then(Node::as_map)
        .into_iter()
        .flatten()
        .map(|(k, v)| (text_of(k).expect("a scalar key"), v))
        .collect()
}

fn load_action() -> Action {
    let text = std::fs::read_to_string(repo().join("action.yml")).expect("action.yml");
    let root = redis_topology::model::yaml::parse(&text, FileId(0))
        .unwrap_or_else(|e| panic!("action.yml is not YAML: {}", e.message));
    assert_eq!(
        root.get("runs")
            .and_then(|r| r.get("using"))
            .and_then(text_of)
            .as_deref(),
        Some("composite")
    );
    let inputs = mapping(root.get("inputs"))
        .into_iter()
        .map(|(name, input)| {
            let default = input.get("default").and_then(text_of).unwrap_or_default();
            (name, default)
        })
        .collect();
    let outputs = mapping(root.get("outputs"))
        .into_iter()
        .map(|(name, output)| {
            let value = output.get("value").and_then(text_of);
            (name, value.expect("an output has a value"))
        })
        .collect();
    let steps = match root
        .get("runs")
        .and_then(|r| r.get("steps"))
        .map(|s| &s.kind)
    {
        Some(NodeKind::Seq(steps)) => steps
            .iter()
            .map(|step| Step {
                id: step.get("id").and_then(text_of),
                run: step.get("run").and_then(text_of),
                uses: step.get("uses").and_then(text_of),
                env: mapping(step.get("env"))
                    .into_iter()
                    .map(|(k, v)| (k, text_of(v).unwrap_or_default()))
                    .collect(),
                working_directory: step.get("working-directory").and_then(text_of),
                condition: step.get("if").and_then(text_of),
            })
            .collect(),
        _ => panic!("action.yml has no runs.steps list"),
    };
    Action {
        inputs,
        outputs,
        steps,
    }
}

/// What one run of the action left behind.
#[derive(Debug)]
struct Run {
    /// Whether every step succeeded.
    success: bool,
    /// Every step's stdout and stderr, in order.
    log: String,
    /// The action's outputs (its `outputs:`, evaluated).
    outputs: BTreeMap<String, String>,
    summary: String,
    /// Directories the steps added to PATH.
    path: Vec<String>,
    /// `uses:` steps, not run here.
    skipped: Vec<String>,
}

/// A workspace, a runner's temp and tool-cache directories, and the job's environment.
struct Runner {
    dir: tempfile::TempDir,
    /// The job's `env:` (secrets and passwords a workflow would set).
    job_env: Vec<(String, String)>,
    /// Put the test binary where the cache step would restore it.
    seed_cache: bool,
}

impl Runner {
    fn new() -> Runner {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["workspace", "temp", "tool-cache", "path"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        // The runner's tools, and nothing else.
        for tool in RUNNER_TOOLS {
            let found = tools::require(tool, "apt-get install -y coreutils findutils bash");
            std::os::unix::fs::symlink(found, dir.path().join("path").join(tool))
                .expect("symlink a tool");
        }
        Runner {
            dir,
            job_env: Vec::new(),
            seed_cache: true,
        }
    }

    fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace")
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.workspace().join(name);
        std::fs::write(&path, content).expect("write into the workspace");
        path
    }

    /// Run the action with these inputs (the rest take their defaults).
    fn run(&self, inputs: &[(&str, &str)]) -> Run {
        let action = load_action();
        let mut values: BTreeMap<String, String> = action.inputs.iter().cloned().collect();
        for (name, value) in inputs {
            assert!(values.contains_key(*name), "action.yml has no input {name}");
            values.insert((*name).to_owned(), (*value).to_owned());
        }
        let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut run = Run {
            success: true,
            log: String::new(),
            outputs: BTreeMap::new(),
            summary: String::new(),
            path: Vec::new(),
            skipped: Vec::new(),
        };
        let temp = self.dir.path().join("temp");
        for (index, step) in action.steps.iter().enumerate() {
            if let Some(uses) = &step.uses {
                run.skipped.push(uses.clone());
                continue;
            }
            assert!(
                step.condition.is_none(),
                "a shell step of action.yml has `if:`; keep the logic in bash, where this test runs it"
            );
            let script = step.run.as_deref().expect("a step has run: or uses:");
            let eval = |text: &str| evaluate(text, &values, &step_outputs);
            let script_file = temp.join(format!("step-{index}.sh"));
            std::fs::write(&script_file, script).expect("write the script");
            let files = ["output", "summary", "path", "env"].map(|f| {
                let path = temp.join(format!("{f}-{index}"));
                std::fs::write(&path, "").expect("create a runner file");
                path
            });
            let mut path = run.path.clone();
            path.reverse(); // the newest first, as the runner prepends
            path.push(self.dir.path().join("path").display().to_string());
            let cwd = match &step.working_directory {
                Some(dir) => self.workspace().join(eval(dir)),
                None => self.workspace(),
            };
            let mut command = Command::new(self.dir.path().join("path/bash"));
            command
                .args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .current_dir(cwd)
                .env_clear()
                .env("PATH", path.join(":"))
                .env("HOME", self.dir.path())
                .env("NO_COLOR", "1")
                .env("GITHUB_ACTION_PATH", repo())
                .env("GITHUB_WORKSPACE", self.workspace())
                .env("RUNNER_TEMP", &temp)
                .env("RUNNER_TOOL_CACHE", self.dir.path().join("tool-cache"))
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_ARCH", "X64")
                .env("GITHUB_OUTPUT", &files[0])
                .env("GITHUB_STEP_SUMMARY", &files[1])
                .env("GITHUB_PATH", &files[2])
                .env("GITHUB_ENV", &files[3])
                .envs(self.job_env.iter().map(|(k, v)| (k, v)));
            for (name, value) in &step.env {
                command.env(name, eval(value));
            }
            let out = command.output().expect("run bash");
            run.log.push_str(&String::from_utf8_lossy(&out.stdout));
            run.log.push_str(&String::from_utf8_lossy(&out.stderr));
            let outputs = parse_outputs(&std::fs::read_to_string(&files[0]).expect("read"));
            run.summary
                .push_str(&std::fs::read_to_string(&files[1]).expect("read"));
            run.path.extend(
                std::fs::read_to_string(&files[2])
                    .expect("read")
                    .lines()
                    .map(str::to_owned),
            );
            if let Some(id) = &step.id {
                if let Some(root) = outputs
                    .get("root")
                    .filter(|_| id == "key" && self.seed_cache)
                {
                    seed(Path::new(root));
                }
                step_outputs.insert(id.clone(), outputs);
            }
            if !out.status.success() {
                run.success = false;
                break;
            }
        }
        for (name, value) in &action.outputs {
            run.outputs
                .insert(name.clone(), evaluate(value, &values, &step_outputs));
        }
        run
    }
}

/// What actions/cache restores on a hit: the binary under `<root>/bin`. A symbolic link,
/// not a copy: a file just written can fail to run with "Text file busy" while another test
/// thread forks (the child holds the write descriptor until it execs).
fn seed(root: &Path) {
    let bin = root.join("bin");
    let link = bin.join("redis-topology");
    if link.symlink_metadata().is_ok() {
        return; // an earlier run of this runner installed it
    }
    std::fs::create_dir_all(&bin).expect("mkdir the cached root");
    std::os::unix::fs::symlink(tools::redis_topology(), link).expect("link the binary");
}

/// `${{ inputs.X }}` and `${{ steps.ID.outputs.X }}`, the only expressions the shell steps may
/// use; any other fails the test (it could not be checked here).
fn evaluate(
    text: &str,
    inputs: &BTreeMap<String, String>,
    steps: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed expression in {text:?}"))
            + start;
        let expression = rest[start + 3..end].trim();
        let value = if let Some(name) = expression.strip_prefix("inputs.") {
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("no input {name}"))
                .clone()
        } else if let Some((id, name)) = expression
            .strip_prefix("steps.")
            .and_then(|e| e.split_once(".outputs."))
        {
            // A step that did not run or set it gives "", as on GitHub.
            steps
                .get(id)
                .and_then(|o| o.get(name))
                .cloned()
                .unwrap_or_default()
        } else {
            panic!("action.yml uses the expression `{expression}`, which this test cannot evaluate")
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A GITHUB_OUTPUT file: `name=value` lines and `name<<DELIMITER` blocks.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for line in lines.by_ref() {
                if line == delimiter {
                    break;
                }
                value.push(line);
            }
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        } else {
            panic!("not an output line: {line:?}");
        }
    }
    outputs
}

/// One command on a server that needs a password, logged in with `url`.
fn cmd_as<T: redis::FromRedisValue>(url: &str, args: &[&str]) -> T {
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect with the password");
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut con)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn assert_ok(run: &Run) {
    assert!(run.success, "the action failed:\n{}", run.log);
}

fn assert_failed(run: &Run, expected: &str) {
    assert!(!run.success, "the action succeeded:\n{}", run.log);
    assert!(
        run.log.contains(expected),
        "missing {expected:?} in:\n{}",
        run.log
    );
}

// ---- the tests ---------------------------------------------------------------------------

#[test]
fn validate_installs_from_the_cache_and_checks_the_file() {
    let runner = Runner::new();
    runner.write("topology.yaml", ORDERS_AND_AUDIT);
    let run = runner.run(&[("command", "validate"), ("strict", "true")]);
    assert_ok(&run);
    assert_eq!(
        run.skipped,
        ["actions/cache@v4"],
        "only the cache step is GitHub's"
    );
    assert!(run.log.contains("(cached)"), "{}", run.log);
    assert!(run.log.contains("topology.yaml is valid"), "{}", run.log);
    assert_eq!(run.outputs["exit-code"], "0");
    let bin = &run.outputs["bin"];
    assert!(
        bin.starts_with(&runner.dir.path().join("tool-cache").display().to_string()),
        "{bin}"
    );
    assert_eq!(
        run.path,
        std::slice::from_ref(bin),
        "the binary is on PATH for later steps"
    );

    // A warning fails with strict, and the diagnostic is in the log.
    runner.write(
        "warns.yaml",
        "version: 1\nnamespace: app\nstreams:\n  orders: {}\n",
    );
    let run = runner.run(&[
        ("command", "validate"),
        ("file", "warns.yaml"),
        ("strict", "true"),
    ]);
    assert_failed(&run, "retention::missing");
    assert_eq!(run.outputs["exit-code"], "1");
    let run = runner.run(&[("command", "validate"), ("file", "warns.yaml")]);
    assert_ok(&run);
}

#[test]
fn validate_in_a_working_directory() {
    let runner = Runner::new();
    std::fs::create_dir(runner.workspace().join("infra")).expect("mkdir");
    runner.write("infra/topology.yaml", ORDERS_AND_AUDIT);
    let run = runner.run(&[("command", "validate"), ("working-directory", "infra")]);
    assert_ok(&run);
    let run = runner.run(&[("command", "validate")]);
    assert_failed(&run, "topology.yaml");
}

/// The URL comes from a secret through the `url` input: the plan is written as markdown for
/// a comment, the plan is saved, applied exactly, and the password is never printed.
#[test]
fn plan_comments_and_apply_applies_the_saved_plan() {
    let server = RedisServer::start_with(&["--requirepass", "hunter2-secret"]);
    let url = format!("redis://:hunter2-secret@127.0.0.1:{}", server.port);
    let runner = Runner::new();
    runner.write("topology.yaml", ORDERS_AND_AUDIT);

    let plan = runner.run(&[
        ("command", "plan"),
        ("url", &url),
        ("plan-file", "plan.json"),
    ]);
    assert_ok(&plan);
    assert_eq!(plan.outputs["exit-code"], "2");
    assert_eq!(plan.outputs["changes"], "true");
    let markdown_file = PathBuf::from(&plan.outputs["markdown-file"]);
    let markdown = std::fs::read_to_string(&markdown_file).expect("the markdown file");
    assert!(markdown.contains("orders"), "{markdown}");
    assert_eq!(plan.outputs["markdown"].trim_end(), markdown.trim_end());
    assert!(
        plan.summary.contains(markdown.trim_end()),
        "{}",
        plan.summary
    );
    assert!(runner.workspace().join("plan.json").is_file(), "saved plan");
    let kind: String = cmd_as(&url, &["TYPE", "app:orders"]);
    assert_eq!(kind, "none", "plan wrote nothing");

    let apply = runner.run(&[
        ("command", "apply"),
        ("url", &url),
        ("plan-file", "plan.json"),
    ]);
    assert_ok(&apply);
    assert_eq!(apply.outputs["exit-code"], "0");
    let kind: String = cmd_as(&url, &["TYPE", "app:orders"]);
    assert_eq!(kind, "stream", "applied");

    let again = runner.run(&[
        ("command", "plan"),
        ("url", &url),
        ("fail-on-changes", "true"),
    ]);
    assert_ok(&again);
    assert_eq!(again.outputs["changes"], "false");
    assert_eq!(again.outputs["exit-code"], "0");

    // Drift: a group destroyed by hand fails a drift check.
    let _: i64 = cmd_as(&url, &["XGROUP", "DESTROY", "app:orders", "billing"]);
    let drift = runner.run(&[
        ("command", "plan"),
        ("url", &url),
        ("fail-on-changes", "true"),
    ]);
    assert_failed(&drift, "::error::the server does not match topology.yaml");
    assert_eq!(drift.outputs["changes"], "true");
    assert!(drift.summary.contains("billing"), "{}", drift.summary);

    for run in [&plan, &apply, &again, &drift] {
        let everything = format!("{}{}{:?}{markdown}", run.log, run.summary, run.outputs);
        assert!(
            !everything.contains("hunter2-secret"),
            "the password was printed:\n{everything}"
        );
    }
}

/// The URL from the job's environment (not overridden by the empty `url` input), or from a
/// file; and `prune` deletes what the file no longer declares.
#[test]
fn url_from_the_job_or_a_file_and_prune() {
    let server = RedisServer::start();
    let mut runner = Runner::new();
    runner.write("topology.yaml", ORDERS_AND_AUDIT);
    runner.job_env = vec![("REDIS_URL".to_owned(), server.url())];
    assert_ok(&runner.run(&[("command", "apply")]));
    let kind: String = server.cmd(&["TYPE", "app:audit"]);
    assert_eq!(kind, "stream");

    runner.job_env.clear();
    runner.write("url.txt", &format!("{}\n", server.url()));
    let without_audit = ORDERS_AND_AUDIT
        .split("  audit:")
        .next()
        .expect("the orders part")
        .to_owned();
    runner.write("topology.yaml", &without_audit);
    let kept = runner.run(&[("command", "apply"), ("url-file", "url.txt")]);
    assert_ok(&kept);
    let kind: String = server.cmd(&["TYPE", "app:audit"]);
    assert_eq!(kind, "stream", "without prune nothing is deleted");

    let plan = runner.run(&[
        ("command", "plan"),
        ("url-file", "url.txt"),
        ("prune", "true"),
    ]);
    assert_ok(&plan);
    assert!(
        plan.outputs["markdown"].contains("audit"),
        "{:?}",
        plan.outputs
    );
    let pruned = runner.run(&[
        ("command", "apply"),
        ("url-file", "url.txt"),
        ("prune", "true"),
    ]);
    assert_ok(&pruned);
    let kind: String = server.cmd(&["TYPE", "app:audit"]);
    assert_eq!(kind, "none", "prune deleted the stream");
}

#[test]
fn wrong_inputs_fail_with_a_message() {
    let runner = Runner::new();
    runner.write("topology.yaml", ORDERS_AND_AUDIT);
    assert_failed(
        &runner.run(&[("command", "destroy")]),
        "::error::command must be validate, plan or apply, not 'destroy'",
    );
    assert_failed(
        &runner.run(&[("command", "validate"), ("strict", "yes")]),
        "::error::input strict must be true or false, not 'yes'",
    );
    assert_failed(
        &runner.run(&[("command", "validate"), ("version", "1.0; rm -rf ~")]),
        "::error::version must be a crates.io version",
    );
    // A server that refuses: the error is printed and the step fails.
    let plan = runner.run(&[("command", "plan"), ("url", "redis://127.0.0.1:1")]);
    assert_failed(&plan, "error:");
    assert_eq!(plan.outputs["exit-code"], "1");
}

/// Without a cached binary the step builds with cargo; without cargo it says what to add.
#[test]
fn without_a_cached_binary_or_cargo_the_install_step_says_so() {
    let mut runner = Runner::new();
    runner.seed_cache = false;
    runner.write("topology.yaml", ORDERS_AND_AUDIT);
    let run = runner.run(&[("command", "validate")]);
    assert_failed(&run, "::error::cargo is not installed");
}

/// The cache key is the action's exact source: two runs agree, and it names the OS.
#[test]
fn the_cache_key_is_stable_and_names_the_source() {
    let runner = Runner::new();
    runner.write("topology.yaml", ORDERS_AND_AUDIT);
    let first = runner.run(&[("command", "validate")]);
    let second = runner.run(&[("command", "validate")]);
    assert_eq!(first.outputs["bin"], second.outputs["bin"]);
    let key = Path::new(&first.outputs["bin"])
        .parent()
        .and_then(Path::file_name)
        .map(|k| k.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        key.starts_with("redis-topology-Linux-X64-source-") && key.len() == 64,
        "{key}"
    );
    let versioned = {
        let runner = Runner::new();
        runner.write("topology.yaml", ORDERS_AND_AUDIT);
        runner.run(&[("command", "validate"), ("version", "0.1.0")])
    };
    assert!(
        versioned.outputs["bin"].contains("redis-topology-Linux-X64-crates-io-0.1.0"),
        "{:?}",
        versioned.outputs
    );
}

/// Inputs reach the scripts only through `env:`; no script passes the URL on a command line.
#[test]
fn scripts_take_inputs_from_the_environment_and_never_pass_the_url_as_an_argument() {
    let action = load_action();
    for step in action.steps.iter().filter(|s| s.run.is_some()) {
        let script = step.run.as_deref().unwrap_or_default();
        assert!(
            !script.contains("${{"),
            "step {:?} expands an expression inside its script",
            step.id
        );
        for line in script.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                !words.contains(&"--url") && !words.iter().any(|w| w.starts_with("--url=")),
                "step {:?} passes --url: {line}",
                step.id
            );
        }
    }
}

/// The steps and inputs this harness and the workflows rely on.
#[test]
fn the_action_reads_as_expected() {
    let action = load_action();
    let ids: Vec<Option<&str>> = action.steps.iter().map(|s| s.id.as_deref()).collect();
    assert_eq!(ids, [Some("key"), None, Some("install"), Some("run")]);
    let inputs: Vec<&str> = action.inputs.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "command",
        "file",
        "env",
        "url",
        "url-file",
        "prune",
        "plan-file",
    ] {
        assert!(inputs.contains(&expected), "{inputs:?}");
    }
}

/// The example workflows use this action with inputs it has, a command it runs, and never
/// a Redis URL written into the file (only a secret).
#[test]
fn example_workflows_use_the_action_with_its_inputs() {
    let action = load_action();
    let inputs: Vec<&str> = action.inputs.iter().map(|(n, _)| n.as_str()).collect();
    let mut uses = 0;
    let mut commands = Vec::new();
    let dir = repo().join("examples/github-actions");
    for name in ["pull-request.yml", "deploy.yml", "drift.yml"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("workflow example");
        let root = redis_topology::model::yaml::parse(&text, FileId(0))
            .unwrap_or_else(|e| panic!("{name}: {}", e.message));
        for (_, job) in mapping(root.get("jobs")) {
            let Some(NodeKind::Seq(steps)) = job.get("steps").map(|s| &s.kind) else {
                panic!("{name}: a job without steps");
            };
            for step in steps.iter() {
                let Some(used) = step.get("uses").and_then(text_of) else {
                    continue;
                };
                if !used.starts_with("redis-topology/redis-topology@") {
                    continue;
                }
                uses += 1;
                let with = mapping(step.get("with"));
                for (input, value) in &with {
                    assert!(inputs.contains(&input.as_str()), "{name}: no input {input}");
                    if input == "url" {
                        let value = text_of(value).unwrap_or_default();
                        assert!(
                            value.starts_with("${{ secrets."),
                            "{name}: url must come from a secret, not {value}"
                        );
                    }
                }
                let command = with
                    .iter()
                    .find(|(k, _)| k == "command")
                    .and_then(|(_, v)| text_of(v))
                    .unwrap_or_else(|| panic!("{name}: the action without a command"));
                commands.push(command);
            }
        }
    }
    commands.sort();
    commands.dedup();
    assert_eq!(commands, ["apply", "plan", "validate"], "{uses} uses");
}
