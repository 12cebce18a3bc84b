//! Where `diff` reads a topology from: a file, or `git:REF:PATH` (a pull request's base,
//! read with `git show`, so a CI job needs no second checkout).
//!
//! A git version is copied into a temporary folder that mirrors the repository's layout (the
//! topology and the message-schema files it refers to, each read at the same REF), then loaded
//! and validated like a file. Messages name it `git:REF:PATH`, never the temporary folder.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::Side;
use crate::diagnostics::Code;
use crate::model::desired::Desired;
use crate::model::interpolate::Vars;
use crate::model::load;
use crate::model::node::Node;
use crate::model::secrets::Secrets;
use crate::validate::{self, Report};

/// An `OLD` or `NEW` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    File(PathBuf),
    Git { rev: String, path: String },
}

impl Spec {
    /// `git:REF:PATH` (git ref names cannot contain `:`), else a file path.
    pub fn parse(text: &str) -> Spec {
        match text
            .strip_prefix("git:")
            .and_then(|rest| rest.split_once(':'))
        {
            Some((rev, path)) if !rev.is_empty() && !path.is_empty() => Spec::Git {
                rev: rev.to_owned(),
                path: path.to_owned(),
            },
            _ => Spec::File(PathBuf::from(text)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Spec::File(path) => path.display().to_string(),
            Spec::Git { rev, path } => format!("git:{rev}:{path}"),
        }
    }
}

/// Why a version cannot be read. Paths and refs are the command line's, printed as given;
/// git's own words are escaped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `git show` printed nothing for `spec` (`git:REF:PATH`).
    #[error(
        "{spec}: `git show` printed nothing (an empty file at that ref?); a topology is never empty"
    )]
    Empty { spec: String },
    #[error("cannot make a temporary folder: {source}")]
    TempDir { source: std::io::Error },
    #[error("{spec}: the path leaves the repository")]
    OutsideRepository { spec: String },
    /// A file of the copy could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A ref git would read as an option.
    #[error(
        "git:{rev}:{path}: a git ref cannot start with `-` (git would read it as an option); name a branch, tag or commit, e.g. git:origin/main:{path}"
    )]
    OptionRef { rev: String, path: String },
    #[error("cannot run git to read git:{rev}:{path}: {source}")]
    NoGit {
        rev: String,
        path: String,
        source: std::io::Error,
    },
    /// `git show` failed; `why` is the first line of what it said, as it said it.
    #[error("git:{rev}:{path}: {}", crate::text::untrusted(.why))]
    GitShow {
        rev: String,
        path: String,
        why: String,
    },
    #[error("git:{rev}:{path} is not UTF-8 text")]
    NotText { rev: String, path: String },
}

/// A topology ready to read: a file, or a git version copied out (kept while this lives).
pub struct Checkout {
    pub path: PathBuf,
    spec: Spec,
    _dir: Option<tempfile::TempDir>,
}

impl Checkout {
    pub fn new(spec: &Spec) -> Result<Checkout, SourceError> {
        match spec {
            Spec::File(path) => Ok(Checkout {
                path: path.clone(),
                spec: spec.clone(),
                _dir: None,
            }),
            Spec::Git { rev, path } => checkout_git(spec, rev, path),
        }
    }

    /// The environments the topology declares (empty when it has none or cannot be read:
    /// loading it then reports why).
    pub fn environments(&self) -> Vec<String> {
        let mut sources = Default::default();
        load::read_text(&self.path)
            .and_then(|text| load::parse_document(&self.path, text, &mut sources))
            .map(|doc| {
                load::environment_names(&doc.root)
                    .into_iter()
                    .map(|n| n.value)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Load and validate one environment; the side is `None` when the file has errors (the
    /// report says which).
    ///
    /// Incompatible schema versions are not errors here: the diff reports them as breaking
    /// changes (exit 3), so they are left out of the report.
    pub fn load(&self, env: Option<&str>, vars: &dyn Vars) -> (Report, Option<Side>) {
        let (mut report, loaded) = validate::load_with_schemas(&self.path, env, vars);
        if let (Spec::Git { .. }, Some(dir)) = (&self.spec, &self._dir) {
            relabel(&mut report, dir.path(), &self.spec);
        }
        report
            .diagnostics
            .retain(|d| d.code != Code::SchemaIncompatible);
        let Some(validate::WithSchemas { topology, schemas }) =
            loaded.filter(|_| !report.has_errors())
        else {
            return (report, None);
        };
        // Offline: passwords are compared by where they come from; nothing is read.
        match Desired::from_topology(&topology, env, &Secrets::SourcesOnly) {
            Ok(desired) => (report, Some(Side { desired, schemas })),
            Err(_) => (report, None),
        }
    }
}

fn checkout_git(spec: &Spec, rev: &str, path: &str) -> Result<Checkout, SourceError> {
    let text = git_show(rev, path)?;
    if text.trim().is_empty() {
        // Not an old side with nothing declared, which would show every stream as new.
        return Err(SourceError::Empty {
            spec: spec.describe(),
        });
    }
    let dir = tempfile::tempdir().map_err(|source| SourceError::TempDir { source })?;
    let relative = normalize(Path::new(path)).ok_or_else(|| SourceError::OutsideRepository {
        spec: spec.describe(),
    })?;
    let local = dir.path().join(&relative);
    write(&local, &text)?;
    // The schema files it refers to, from the same REF, where the file expects them.
    let folder = relative.parent().map(Path::to_path_buf).unwrap_or_default();
    for file in schema_files(&local) {
        let Some(in_repo) = normalize(&folder.join(&file)) else {
            continue; // outside the repository: validation reports it missing
        };
        let repo_path = in_repo.to_string_lossy().replace('\\', "/");
        if let Ok(content) = git_show(rev, &repo_path) {
            write(&dir.path().join(&in_repo), &content)?;
        }
    }
    Ok(Checkout {
        path: local,
        spec: spec.clone(),
        _dir: Some(dir),
    })
}

/// `git show REV:PATH`. A ref starting with `-` is refused, and the object is passed after
/// `--end-of-options` (git 2.24 and later) as well: otherwise git reads it as an option
/// (`--output=FILE` writes a file).
fn git_show(rev: &str, path: &str) -> Result<String, SourceError> {
    let (rev, path) = (rev.to_owned(), path.to_owned());
    if rev.starts_with('-') {
        return Err(SourceError::OptionRef { rev, path });
    }
    let output = match Command::new("git")
        .args(["show", "--end-of-options"])
        .arg(format!("{rev}:{path}"))
        .output()
    {
        Ok(output) => output,
        Err(source) => return Err(SourceError::NoGit { rev, path, source }),
    };
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let first = said.lines().next().unwrap_or("git show failed");
        let why = first.trim_start_matches("fatal: ").to_owned();
        return Err(SourceError::GitShow { rev, path, why });
    }
    String::from_utf8(output.stdout).map_err(|_| SourceError::NotText { rev, path })
}

fn write(path: &Path, text: &str) -> Result<(), SourceError> {
    let failed = |source| SourceError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(path, text).map_err(failed)
}

/// `a/./b/../c` → `a/c`; `None` if it climbs above its start or is absolute.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Every `schemas.<name>.versions.<n>.file` of the file, in the base and in environments.
fn schema_files(path: &Path) -> Vec<String> {
    let mut sources = Default::default();
    let Ok(doc) =
        load::read_text(path).and_then(|text| load::parse_document(path, text, &mut sources))
    else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let environments = doc
        .root
        .get("environments")
        .and_then(Node::as_map)
        .unwrap_or_default();
    let roots = std::iter::once(&doc.root).chain(environments.iter().map(|(_, env)| env));
    for root in roots {
        let schemas = root
            .get("schemas")
            .and_then(Node::as_map)
            .unwrap_or_default();
        for (_, schema) in schemas {
            let versions = schema
                .get("versions")
                .and_then(Node::as_map)
                .unwrap_or_default();
            for (_, version) in versions {
                if let Some(file) = version.get("file").and_then(Node::key_text) {
                    files.push(file.into_owned());
                }
            }
        }
    }
    files
}

/// Name files by `git:REF:<path in the repository>` instead of the temporary folder.
fn relabel(report: &mut Report, dir: &Path, spec: &Spec) {
    let Spec::Git { rev, .. } = spec else {
        return;
    };
    report.sources.relabel(|path| {
        let inside = path.strip_prefix(dir).ok()?;
        Some(PathBuf::from(format!("git:{rev}:{}", inside.display())))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_paths() {
        assert_eq!(
            Spec::parse("git:origin/main:topology.yaml"),
            Spec::Git {
                rev: "origin/main".into(),
                path: "topology.yaml".into()
            }
        );
        assert_eq!(
            Spec::parse("topology.yaml"),
            Spec::File("topology.yaml".into())
        );
        assert_eq!(Spec::parse("git:"), Spec::File("git:".into()));
        assert_eq!(
            normalize(Path::new("a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(normalize(Path::new("../x")), None);
        let refused = git_show("--output=/tmp/x", "t.yaml")
            .expect_err("an option")
            .to_string();
        assert!(refused.contains("cannot start with `-`"), "{refused}");
        assert_eq!(normalize(Path::new("/etc/passwd")), None);
    }
}
