//! `export aclfile`: the topology's ACL users as an aclfile, the file redis-server's
//! `aclfile` option and `ACL LOAD` read: one `user <name> <rules>` line per user.
//!
//! Each line holds exactly the words apply sends after `ACL SETUSER <name>`: `reset` and
//! the user's rules ([`users::rules`], the same function), with the password hashes put in
//! as apply puts them ([`users::fill_hashes`]): a server that loads the file has the users
//! apply would give it (`reset` also sets what it sets on a user apply writes, such as the
//! `sanitize-payload` flag). The rules start with `resetchannels` (the user's and each selector's), as apply's
//! do where the server's `acl-pubsub-default` is `allchannels` or cannot be read: a file does
//! not know which server will load it, and on any server the user then gets exactly its
//! declared channels.
//!
//! Passwords only ever as `#<sha256>`, which is what an aclfile holds (`ACL SAVE` writes the
//! same); the clear text is read and hashed by [`crate::model::secrets`], as for apply.
//!
//! `default` is written when the topology declares it, like any user. When it does not, it
//! is left out, as apply leaves an undeclared `default` alone; but a server that loads a file
//! without `default` creates it `on nopass ~* &* +@all`, so [`AclFile::declares_default`]
//! lets the command warn.

use crate::model::desired::Desired;
use crate::model::types::DEFAULT_USER;
use crate::plan::users;

/// The aclfile of one environment.
#[derive(Debug)]
pub struct AclFile {
    /// The file's text: one line per user, sorted by name (as `ACL SAVE` writes them).
    pub text: String,
    /// How many users it holds.
    pub users: usize,
    /// Whether `default` is one of them.
    pub declares_default: bool,
}

/// A user that cannot be written as an aclfile line. Holds no secret: never a hash, never a
/// password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unwritable {
    /// A password whose source was not read (export reads every one, so this does not
    /// happen; it is refused rather than written as a placeholder).
    #[error("ACL user `{user}`: a password could not be read, so its hash cannot be written")]
    PasswordNotRead { user: String },
    /// A name or rule with a character an aclfile line cannot carry.
    #[error(
        "ACL user `{user}`: {what} `{word}` holds {found}, which an aclfile line cannot carry (Redis splits the line at spaces and reads quotes inside a selector as quoting), so the user would not load as declared; rename it or change the pattern"
    )]
    Word {
        user: String,
        what: &'static str,
        word: String,
        found: String,
    },
}

/// The users of `desired` as an aclfile. `Err` names the first user that cannot be written.
pub fn aclfile(desired: &Desired) -> Result<AclFile, Unwritable> {
    let mut text = String::new();
    for (name, user) in &desired.users {
        if !user.unknown_passwords.is_empty() {
            return Err(Unwritable::PasswordNotRead { user: name.clone() });
        }
        check_word(name, "its name", name, true)?;
        // `reset` first, as apply sends it: on a user the file creates it changes nothing
        // but the flags `reset` sets (`sanitize-payload` on Redis 7.0+), which a user created
        // by an aclfile line does not otherwise get.
        let rules = std::iter::once("reset".to_owned())
            .chain(users::rules(user, true))
            .collect();
        let rules = users::fill_hashes(rules, &user.password_hashes);
        for rule in &rules {
            // A selector is one rule with spaces between its words: the words are checked.
            check_word(name, "the rule", rule, !rule.starts_with('('))?;
        }
        text.push_str("user ");
        text.push_str(name);
        for rule in &rules {
            text.push(' ');
            text.push_str(rule);
        }
        text.push('\n');
    }
    Ok(AclFile {
        text,
        users: desired.users.len(),
        declares_default: desired.users.contains_key(DEFAULT_USER),
    })
}

/// Refuse a word Redis would read otherwise than written in an aclfile line: a quote, a
/// control character, other whitespace than a selector's spaces (`spaces`: refuse those too).
fn check_word(user: &str, what: &'static str, word: &str, spaces: bool) -> Result<(), Unwritable> {
    let bad = word.chars().find(|&c| {
        c == '"'
            || c == '\''
            || c.is_control()
            || crate::text::is_bidi_control(c)
            || (c.is_whitespace() && (spaces || c != ' '))
    });
    match bad {
        None => Ok(()),
        Some(c) => Err(Unwritable::Word {
            user: user.to_owned(),
            what,
            word: word.to_owned(),
            found: format!("{c:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::model::secrets::{Missing, Secrets, sha256_hex};

    /// The desired state of `text` (one file, no environment), passwords from `vars`.
    fn desired(text: &str, vars: &[(&str, &str)]) -> Result<Desired, Vec<String>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (report, topology) = crate::validate::load_text_for_tests(text, None, &vars);
        let topology = topology.unwrap_or_else(|| panic!("invalid: {:?}", report.diagnostics));
        let secrets = Secrets::Read {
            vars: &vars,
            base_dir: Path::new("."),
            missing: Missing::Error,
        };
        Desired::from_topology(&topology, None, &secrets)
    }

    const TOPOLOGY: &str = r#"version: 1
namespace: shop
streams:
  orders: { retention: { maxlen: 100 } }
acl:
  users:
    default: { enabled: false }
    worker:
      passwords: [{ env: WORKER_PW }, { sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 }]
      keys: { read: ["orders"], write: ["out:*"] }
      channels: ["events:*"]
      commands: ["+ping", "-@dangerous"]
      access:
        - keys: ["orders"]
          preset: consumer
          commands: ["+xinfo|groups"]
    health: { nopass: true, commands: ["+ping"] }
"#;

    #[test]
    fn each_user_is_one_line_of_the_rules_apply_sends_with_hashes() {
        let desired = desired(TOPOLOGY, &[("WORKER_PW", "s3cret")]).expect("secrets set");
        let file = aclfile(&desired).expect("writable");
        let hash = sha256_hex("s3cret");
        assert_eq!(
            file.text,
            format!(
                "user default reset resetchannels off\n\
                 user health reset resetchannels on nopass +ping\n\
                 user worker reset resetchannels on #{hash} #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 \
                 %R~shop:orders %W~shop:out:* &shop:events:* +ping -@dangerous \
                 (resetchannels ~shop:orders +xreadgroup +xack +xautoclaim +xclaim +xpending +xinfo|groups)\n"
            )
        );
        assert!(!file.text.contains("s3cret"));
        assert_eq!((file.users, file.declares_default), (3, true));
        // The very words apply sends after `ACL SETUSER <name> reset`, hashes put in.
        let worker = &desired.users["worker"];
        let sent = users::fill_hashes(
            users::setuser("worker", worker, true).args(),
            &worker.password_hashes,
        );
        let line = file.text.lines().nth(2).expect("worker's line");
        assert_eq!(sent[..4], ["ACL", "SETUSER", "worker", "reset"]);
        assert_eq!(line, format!("user worker {}", sent[3..].join(" ")));
    }

    #[test]
    fn default_left_out_when_not_declared() {
        let text = TOPOLOGY.replace("    default: { enabled: false }\n", "");
        let file = aclfile(&desired(&text, &[("WORKER_PW", "pw")]).expect("ok")).expect("ok");
        assert!(!file.declares_default);
        assert!(!file.text.contains("user default"), "{}", file.text);
    }

    #[test]
    fn a_missing_secret_names_the_user_and_the_variable_only() {
        let problems = desired(TOPOLOGY, &[]).expect_err("WORKER_PW is not set");
        assert_eq!(
            problems,
            ["ACL user `worker`: the password variable `WORKER_PW` is not set"]
        );
    }

    #[test]
    fn quotes_are_refused_with_the_user_and_the_rule() {
        let text = TOPOLOGY.replace("write: [\"out:*\"]", "write: [\"out:'x\"]");
        let refused = aclfile(&desired(&text, &[("WORKER_PW", "pw")]).expect("ok"))
            .expect_err("a quote in a pattern");
        let shown = refused.to_string();
        assert!(
            shown.starts_with("ACL user `worker`: the rule `%W~shop:out:'x` holds '\\''"),
            "{shown}"
        );
        assert!(!shown.contains(&sha256_hex("pw")), "{shown}");
        let quoted = TOPOLOGY.replace("    health:", "    'he\"alth':");
        let refused = aclfile(&desired(&quoted, &[("WORKER_PW", "pw")]).expect("ok"))
            .expect_err("a quote in a name");
        assert!(
            refused.to_string().contains("its name `he\"alth`"),
            "{refused}"
        );
    }

    #[test]
    fn an_empty_topology_gives_an_empty_file() {
        let file = aclfile(&desired("version: 1\nnamespace: a\n", &[]).expect("ok")).expect("ok");
        assert_eq!((file.text.as_str(), file.users), ("", 0));
    }
}
