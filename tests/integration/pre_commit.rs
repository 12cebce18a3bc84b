//! The pre-commit hook (.pre-commit-hooks.yaml), run by the real `pre-commit` tool: `try-repo`
//! as a hook author tries a hook, and `run` with a `.pre-commit-config.yaml` as README shows
//! it (args, files, pass_filenames).
//!
//! The hook repository is a fresh git repository holding this working tree's
//! .pre-commit-hooks.yaml and the script it names (pre-commit clones a hook repository at a
//! commit, so uncommitted edits of the real one would not be what runs). The binary is the
//! one cargo built for these tests, on PATH as users install it.

use std::path::PathBuf;
use std::process::{Command, Output};

use redis_topology::model::node::FileId;

use super::tools;
use super::util::{ORDERS_AND_AUDIT, git, repo, text};

const HOOK: &str = "redis-topology-validate";

/// `pre-commit`: $PRE_COMMIT (what .ci/run sets, its cached venv), else on PATH.
fn pre_commit() -> PathBuf {
    if let Some(path) = std::env::var_os("PRE_COMMIT").map(PathBuf::from)
        && path.is_file()
    {
        return path;
    }
    tools::require(
        "pre-commit",
        "`python3 -m pip install -r .ci/pre-commit-requirements.txt` (pinned versions), or set PRE_COMMIT to its path",
    )
}

/// A hook repository, a repository that uses the hook, and pre-commit's cache.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let hooks = dir.path().join("hooks");
        std::fs::create_dir_all(&hooks).expect("mkdir");
        let manifest =
            std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).expect("manifest");
        std::fs::write(hooks.join(".pre-commit-hooks.yaml"), &manifest).expect("write");
        let script = entry_of(&manifest);
        let target = hooks.join(&script);
        std::fs::create_dir_all(target.parent().expect("a directory")).expect("mkdir");
        std::fs::copy(repo().join(&script), &target).expect("copy the hook's script");
        git(&hooks, &["init", "-q"]);
        git(&hooks, &["add", "-A"]);
        git(&hooks, &["commit", "-q", "-m", "hooks"]);

        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("schemas")).expect("mkdir");
        std::fs::write(project.join("topology.yaml"), ORDERS_AND_AUDIT).expect("write");
        git(&project, &["init", "-q"]);
        Setup { dir }
    }

    fn hooks(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.project().join(name), content).expect("write");
    }

    /// pre-commit with these arguments, in the project, redis-topology on PATH (or not).
    fn pre_commit(&self, args: &[&str], with_binary: bool) -> Output {
        let system_path = std::env::var_os("PATH").unwrap_or_default();
        let mut path: Vec<PathBuf> = std::env::split_paths(&system_path)
            .filter(|dir| !dir.join("redis-topology").exists())
            .collect();
        if with_binary {
            let built = tools::redis_topology();
            path.insert(0, built.parent().expect("the binary's directory").into());
        }
        Command::new(pre_commit())
            .args(args)
            .current_dir(self.project())
            .env("PATH", std::env::join_paths(path).expect("PATH"))
            .env("PRE_COMMIT_HOME", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("NO_COLOR", "1")
            .env_remove("REDIS_TOPOLOGY")
            .output()
            .expect("run pre-commit")
    }

    fn try_repo(&self, files: &[&str]) -> Output {
        let hooks = self.hooks().display().to_string();
        let mut args = vec!["try-repo", hooks.as_str(), HOOK, "--verbose", "--files"];
        args.extend(files);
        self.pre_commit(&args, true)
    }

    /// `pre-commit run` with a config using the hook as README shows, plus `extra` hook keys.
    fn run_with_config(&self, extra: &str, files: &[&str]) -> Output {
        let rev = {
            let out = Command::new(tools::require("git", "apt-get install -y git"))
                .args(["rev-parse", "HEAD"])
                .current_dir(self.hooks())
                .output()
                .expect("git rev-parse");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        self.write(
            ".pre-commit-config.yaml",
            &format!(
                "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: {HOOK}\n{extra}",
                self.hooks().display()
            ),
        );
        let mut args = vec!["run", HOOK, "--verbose", "--files"];
        args.extend(files);
        self.pre_commit(&args, true)
    }
}

/// The script a hook's `entry` names, from the manifest read with the project's YAML loader.
fn entry_of(manifest: &str) -> String {
    let root = redis_topology::model::yaml::parse(manifest, FileId(0))
        .unwrap_or_else(|e| panic!(".pre-commit-hooks.yaml is not YAML: {}", e.message));
    let redis_topology::model::node::NodeKind::Seq(hooks) = &root.kind else {
        panic!(".pre-commit-hooks.yaml is not a list of hooks");
    };
    let hook = hooks
        .iter()
        .find(|h| h.get("id").and_then(|i| i.key_text()).as_deref() == Some(HOOK))
        .unwrap_or_else(|| panic!("no hook {HOOK}"));
    hook.get("entry")
        .and_then(|e| e.key_text())
        .map(|e| e.into_owned())
        .expect("the hook's entry")
}

fn output(out: &Output) -> String {
    text(out)
}

#[test]
fn try_repo_passes_a_valid_file_and_fails_an_invalid_one_with_its_diagnostic() {
    let setup = Setup::new();
    let out = setup.try_repo(&["topology.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", output(&out));
    assert!(output(&out).contains("Passed"), "{}", output(&out));
    assert!(
        output(&out).contains("topology.yaml is valid"),
        "the hook ran redis-topology: {}",
        output(&out)
    );

    std::fs::create_dir_all(setup.project().join("deploy")).expect("mkdir");
    setup.write(
        "deploy/topology.yaml",
        "version: 1\nnamespace: app\nstreams:\n  orders:\n    retension: { maxlen: 10 }\n",
    );
    let out = setup.try_repo(&["topology.yaml", "deploy/topology.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    let shown = output(&out);
    for expected in [
        "Failed",
        "field::unknown",
        "deploy/topology.yaml:5:5",
        "did you mean `retention`?",
        "deploy/topology.yaml is invalid",
        // Every file is checked, not only up to the first invalid one.
        "topology.yaml is valid",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
}

/// Only files named topology.yaml (or .yml) are the hook's by default.
#[test]
fn other_yaml_files_are_not_the_hooks() {
    let setup = Setup::new();
    setup.write("docker-compose.yaml", "services: {}\n");
    let out = setup.try_repo(&["docker-compose.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", output(&out));
    assert!(
        output(&out).contains("(no files to check)Skipped"),
        "{}",
        output(&out)
    );
}

/// `args: [--strict]` makes warnings fail; `--env=NAME` and `--env NAME` both reach validate.
#[test]
fn args_reach_validate() {
    let setup = Setup::new();
    setup.write(
        "topology.yaml",
        "version: 1\nnamespace: app\nstreams:\n  orders: {}\nenvironments:\n  prod:\n    streams:\n      orders: { retention: { maxlen: 10 } }\n",
    );
    let out = setup.run_with_config("", &["topology.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings pass: {}",
        output(&out)
    );
    let out = setup.run_with_config("        args: [--strict]\n", &["topology.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    assert!(
        output(&out).contains("retention::missing"),
        "{}",
        output(&out)
    );
    // prod bounds the stream: strict and valid.
    for args in ["[--strict, --env=prod]", "[--strict, --env, prod]"] {
        let out = setup.run_with_config(&format!("        args: {args}\n"), &["topology.yaml"]);
        assert_eq!(out.status.code(), Some(0), "{args}: {}", output(&out));
        assert!(
            output(&out).contains("(environment prod)"),
            "{args}: {}",
            output(&out)
        );
    }
}

/// README's recipe for files the hook does not get by name: a changed message schema
/// re-validates topology.yaml (`pass_filenames: false`: the hook validates the default file).
#[test]
fn a_changed_schema_revalidates_the_topology() {
    let setup = Setup::new();
    let recipe = "        files: ^(topology\\.yaml|schemas/)\n        pass_filenames: false\n";
    setup.write("schemas/task.v1.json", "{\"type\": \"object\"}\n");
    let out = setup.run_with_config(recipe, &["schemas/task.v1.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", output(&out));
    assert!(
        output(&out).contains("topology.yaml is valid"),
        "{}",
        output(&out)
    );
    setup.write("topology.yaml", "version: 1\nnamespace: app\nstreems: {}\n");
    let out = setup.run_with_config(recipe, &["schemas/task.v1.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    assert!(output(&out).contains("streems"), "{}", output(&out));
}

/// Without redis-topology on PATH the hook fails and says how to install it.
#[test]
fn without_the_binary_the_hook_says_how_to_install_it() {
    let setup = Setup::new();
    let hooks = setup.hooks().display().to_string();
    let out = setup.pre_commit(
        &["try-repo", &hooks, HOOK, "--files", "topology.yaml"],
        false,
    );
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    assert!(
        output(&out).contains("is not on PATH") && output(&out).contains("cargo install --locked"),
        "{}",
        output(&out)
    );
}
