//! A command to send, built by the rest of the code without naming the Redis client's
//! types: the target alone turns it into what goes on the wire.

use std::fmt;

use crate::text::untrusted_bytes;

/// One command and its arguments.
#[derive(Clone)]
pub struct Command(pub(super) redis::Cmd);

impl Command {
    /// A command named `name` (`"XLEN"`, `"ACL"`, ...), without arguments yet.
    pub fn new(name: &str) -> Command {
        Command(redis::cmd(name))
    }

    /// A command from its words: `["XGROUP", "CREATE", key, ...]`.
    pub fn from_args<A: Arg>(args: impl IntoIterator<Item = A>) -> Command {
        let mut command = Command(redis::Cmd::new());
        for arg in args {
            arg.add_to(&mut command);
        }
        command
    }

    /// The command with one more argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Arg) -> Command {
        arg.add_to(&mut self);
        self
    }

    /// Add an argument in place.
    pub fn push(&mut self, arg: impl Arg) -> &mut Command {
        arg.add_to(self);
        self
    }

    /// Its words, as sent.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> {
        self.0.args_iter().filter_map(|arg| match arg {
            redis::Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
    }

    /// The command for a message: its name and first two arguments (`XINFO GROUPS
    /// app:orders`), escaped; `AUTH` and `HELLO` by name alone, since their arguments hold
    /// the password.
    pub fn describe(&self) -> String {
        let mut args = self.args();
        let Some(name) = args.next() else {
            return "(no command)".to_owned();
        };
        let name = untrusted_bytes(name).to_uppercase();
        let shown = if matches!(name.as_str(), "AUTH" | "HELLO") {
            0
        } else {
            2
        };
        std::iter::once(name)
            .chain(args.take(shown).map(|a| untrusted_bytes(a).into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The command as RESP, appended to `out`.
    pub(super) fn write_packed(&self, out: &mut Vec<u8>) {
        self.0.write_packed_command(out);
    }
}

/// Shown as [`Command::describe`] does: never with a password.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What can be an argument: text, bytes and integers.
pub trait Arg {
    fn add_to(self, command: &mut Command);
}

/// Arguments the client takes as they are.
macro_rules! plain_args {
    ($($kind:ty),*) => {
        $(impl Arg for $kind {
            fn add_to(self, command: &mut Command) {
                command.0.arg(self);
            }
        })*
    };
}

plain_args!(&str, String, &[u8], u64, i64, usize, u32);

impl Arg for &String {
    fn add_to(self, command: &mut Command) {
        command.0.arg(self.as_str());
    }
}
