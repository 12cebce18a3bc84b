//! Passwords, turned into the only form the tool ever sends or keeps: their sha256.
//!
//! `{env: VAR}` and `{file: path}` are read here, by plan and apply only, so `validate` (in a
//! pull request, without secrets) never needs them. The plaintext lives in one local `String`
//! for the time it takes to hash it. Errors name the user and the source, never a value.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::desired::hex;
use super::interpolate::Vars;
use super::types::Password;

/// Where password sources are looked up.
pub enum Secrets<'a> {
    /// Read them (plan, apply).
    Read {
        /// Environment variables (the process environment in the CLI, a map in tests).
        vars: &'a dyn Vars,
        /// The topology file's folder: `file:` paths are relative to it.
        base_dir: &'a Path,
        /// What an unset variable or a missing file means: an error (apply, which may write
        /// users), or a password not known (plan, which is read-only and then compares
        /// everything of that user but its passwords, and says so).
        missing: Missing,
    },
    /// Read nothing (`diff`, offline, in a pull request): each password is represented by a
    /// digest of where it comes from, so two files compare equal when their passwords come
    /// from the same places, and a changed source shows as a changed (sensitive) value.
    SourcesOnly,
}

/// What [`Secrets::Read`] does with a password whose variable or file is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    Error,
    NotKnown,
}

/// One password, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hashed {
    Known(String),
    /// Its source is missing and [`Missing::NotKnown`] allows that: why, for a note.
    NotKnown(String),
}

impl Secrets<'_> {
    /// One password of `user`: its sha256, or (when its source is missing and that is
    /// allowed) why it is not known.
    pub fn read(&self, user: &str, password: &Password) -> Result<Hashed, String> {
        match self.hash(user, password) {
            Ok(hash) => Ok(Hashed::Known(hash)),
            Err(_) if self.allows_missing() && self.is_missing(password) => {
                Ok(Hashed::NotKnown(match password {
                    Password::Env(var) => format!("`{var}` is not set"),
                    Password::File(path) => format!("the file {path} does not exist"),
                    Password::Sha256(_) => "no password".to_owned(),
                }))
            }
            Err(why) => Err(why),
        }
    }

    fn allows_missing(&self) -> bool {
        matches!(
            self,
            Secrets::Read {
                missing: Missing::NotKnown,
                ..
            }
        )
    }

    /// Whether the password's source is absent (an unset variable, a file that does not
    /// exist), as opposed to present and wrong (empty, unreadable).
    fn is_missing(&self, password: &Password) -> bool {
        let Secrets::Read { vars, base_dir, .. } = self else {
            return false;
        };
        match password {
            Password::Env(var) => vars.get(var).is_none(),
            Password::File(path) => !base_dir.join(path).exists(),
            Password::Sha256(_) => false,
        }
    }

    /// The sha256 (64 lowercase hex digits) of one password of `user`.
    pub fn hash(&self, user: &str, password: &Password) -> Result<String, String> {
        let (vars, base_dir) = match self {
            Secrets::Read { vars, base_dir, .. } => (*vars, *base_dir),
            Secrets::SourcesOnly => {
                let source = match password {
                    Password::Env(var) => format!("env:{var}"),
                    Password::File(path) => format!("file:{path}"),
                    Password::Sha256(hash) => format!("sha256:{}", hash.to_ascii_lowercase()),
                };
                return Ok(sha256_hex(&source));
            }
        };
        let plaintext = match password {
            Password::Sha256(hash) => return Ok(hash.to_ascii_lowercase()),
            Password::Env(var) => vars.get(var).ok_or_else(|| {
                format!("ACL user `{user}`: the password variable `{var}` is not set")
            })?,
            Password::File(path) => {
                let full = base_dir.join(path);
                let text = std::fs::read_to_string(&full).map_err(|e| {
                    format!(
                        "ACL user `{user}`: cannot read the password file {}: {}",
                        full.display(),
                        e.kind()
                    )
                })?;
                // Editors and `echo` end files with a newline that is not part of the secret.
                text.trim_end_matches(['\n', '\r']).to_owned()
            }
        };
        if plaintext.is_empty() {
            let source = match password {
                Password::Env(var) => format!("the variable `{var}`"),
                Password::File(path) => format!("the file {path}"),
                Password::Sha256(_) => String::new(),
            };
            return Err(format!(
                "ACL user `{user}`: the password in {source} is empty"
            ));
        }
        Ok(sha256_hex(&plaintext))
    }
}

/// sha256 of a text, as Redis shows password hashes (`ACL GETUSER`, `#<hash>` rules).
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn passwords_become_hashes_and_errors_hold_no_secret() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pw.txt"), "from-a-file\n").expect("write");
        let vars: HashMap<String, String> = HashMap::from([
            ("PW".to_owned(), "secret".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ]);
        let secrets = Secrets::Read {
            vars: &vars,
            base_dir: dir.path(),
            missing: Missing::Error,
        };
        // sha256("secret"), as Redis prints it (redis-semantics.md, section 4).
        let secret = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        assert_eq!(
            secrets.hash("u", &Password::Env("PW".into())),
            Ok(secret.to_owned())
        );
        assert_eq!(
            secrets.hash("u", &Password::File("pw.txt".into())),
            Ok(sha256_hex("from-a-file"))
        );
        assert_eq!(
            secrets.hash("u", &Password::Sha256(secret.to_uppercase())),
            Ok(secret.to_owned())
        );
        let missing = secrets
            .hash("u", &Password::Env("NOPE".into()))
            .unwrap_err();
        assert!(missing.contains("`NOPE` is not set"), "{missing}");
        let empty = secrets
            .hash("u", &Password::Env("EMPTY".into()))
            .unwrap_err();
        assert!(empty.contains("empty"), "{empty}");
        let no_file = secrets
            .hash("u", &Password::File("gone.txt".into()))
            .unwrap_err();
        assert!(
            no_file.contains("cannot read the password file"),
            "{no_file}"
        );
    }
}
