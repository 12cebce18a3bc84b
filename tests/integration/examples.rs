//! The GitHub Actions examples: valid YAML, and every `redis-topology` command in them uses a
//! real subcommand and real flags (checked against the binary's own `--help`).

use crate::util::{bin, repo};

#[test]
fn workflow_examples_use_real_commands_and_flags() {
    let dir = repo().join("examples/github-actions");
    let mut checked = 0;
    for name in ["pull-request.yml", "deploy.yml", "drift.yml"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("workflow example");
        redis_topology::model::load::parse_yaml(&text, Default::default())
            .unwrap_or_else(|e| panic!("{name} is not valid YAML: {}", e.message));
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some(at) = line.find("redis-topology ") else {
                continue;
            };
            let words: Vec<&str> = line[at..].split_whitespace().collect();
            let Some(subcommand) = words.get(1) else {
                continue;
            };
            if subcommand.starts_with('-') || *subcommand == "redis-topology" {
                continue; // `cargo install ... redis-topology`
            }
            let help = bin()
                .args([subcommand, "--help"])
                .output()
                .expect("run --help");
            assert!(
                help.status.success(),
                "{name}: unknown subcommand in: {line}"
            );
            let help = String::from_utf8_lossy(&help.stdout);
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                assert!(
                    help.contains(*flag),
                    "{name}: `{subcommand}` has no {flag}: {line}"
                );
            }
            checked += 1;
        }
    }
    // validate, plan and apply run through the repository's action (checked against
    // action.yml's inputs in action.rs); diff and check-messages are run directly.
    assert!(checked >= 2, "only {checked} commands found");
}
