//! A command to send, built by the rest of the code without naming the Redis client's
//! types: the target alone turns it into what goes on the wire.

use std::fmt;

use crate::number::decimal;
use crate::text::untrusted_bytes;

/// One command and its arguments, kept as they go on the wire: each argument a RESP bulk
/// string (`$<length>\r\n<bytes>\r\n`), back to back in one buffer; the array header is
/// written when the command is sent. One allocation per command, where the Redis client's
/// `Cmd` takes three and encodes again when sent: `status` builds 90,000 commands for
/// 10,000 streams, a plan of 100,000 streams 200,000.
#[derive(Clone, Default)]
pub struct Command {
    encoded: Vec<u8>,
    count: u32,
    /// Its reply, if an array, is left as the scan's tokens ([`Command::reply_scanned`]).
    scanned: bool,
}

impl Command {
    /// A command named `name` (`"XLEN"`, `"ACL"`, ...), without arguments yet.
    pub fn new(name: &str) -> Command {
        let mut command = Command {
            encoded: Vec::with_capacity(48),
            ..Command::default()
        };
        command.push_bytes(name.as_bytes());
        command
    }

    /// A command from its words, in one allocation of the size they take: the reads sent
    /// per key by the ten thousand (`XINFO CONSUMERS <key> <group>` outgrows the room
    /// [`Command::new`] starts with, and would be moved once).
    pub fn from_words(words: &[&str]) -> Command {
        let mut command = Command {
            encoded: Vec::with_capacity(words.iter().map(|w| word_len(w.len())).sum()),
            ..Command::default()
        };
        for word in words {
            command.push_bytes(word.as_bytes());
        }
        command
    }

    /// A command from its words: `["XGROUP", "CREATE", key, ...]`.
    pub fn from_args<A: Arg>(args: impl IntoIterator<Item = A>) -> Command {
        let mut command = Command::default();
        for arg in args {
            arg.add_to(&mut command);
        }
        command
    }

    /// The command, its reply (if an array) to be handed over as the scan's tokens,
    /// [`crate::resp::Reply::Scanned`], rather than built: for a reader that takes a few
    /// values of a large array straight from them. Only the tool's own reader does so.
    #[must_use]
    pub fn reply_scanned(mut self) -> Command {
        self.scanned = true;
        self
    }

    /// Whether its reply is to be left as the scan's tokens ([`Command::reply_scanned`]).
    pub fn wants_reply_scanned(&self) -> bool {
        self.scanned
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

    fn push_bytes(&mut self, bytes: &[u8]) {
        // Room for the whole bulk string at once: a large argument (the record of 100,000
        // streams is ~8 MB) then takes what it needs, not twice that.
        self.encoded.reserve(word_len(bytes.len()));
        self.encoded.push(b'$');
        push_decimal(&mut self.encoded, bytes.len() as u64);
        self.encoded.extend_from_slice(b"\r\n");
        self.encoded.extend_from_slice(bytes);
        self.encoded.extend_from_slice(b"\r\n");
        self.count += 1;
    }

    /// An integer argument, in decimal (as Redis reads it).
    fn push_integer(&mut self, negative: bool, magnitude: u64) {
        let mut text = [0u8; 21];
        let mut at = decimal(magnitude, &mut text);
        if negative {
            at -= 1;
            text[at] = b'-';
        }
        self.push_bytes(&text[at..]);
    }

    /// Its words, as sent.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest: &[u8] = &self.encoded;
        std::iter::from_fn(move || {
            // `$<length>\r\n`: written by `push_bytes` alone, so always well formed.
            let digits_end = rest.iter().position(|&b| b == b'\r')?;
            let length: usize = rest
                .get(1..digits_end)?
                .iter()
                .fold(0, |n, &d| n * 10 + usize::from(d - b'0'));
            let start = digits_end + 2;
            let word = rest.get(start..start + length)?;
            rest = rest.get(start + length + 2..)?;
            Some(word)
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
        out.push(b'*');
        push_decimal(out, u64::from(self.count));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.encoded);
    }

    /// The command for the Redis client's own connections (the writes' pipelines).
    pub(super) fn to_client(&self) -> redis::Cmd {
        // Sized exactly (its words take less than their encoding): a batch of writes is
        // converted at once.
        let mut command = redis::Cmd::with_capacity(self.count as usize, self.encoded.len());
        for arg in self.args() {
            command.arg(arg);
        }
        command
    }
}

/// The bytes a word of `len` bytes takes in a command: `$<len>\r\n<word>\r\n`.
fn word_len(len: usize) -> usize {
    let mut digits = 1;
    let mut rest = len / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    1 + digits + 2 + len + 2
}

/// `n` in decimal, without allocating.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut text = [0u8; 21];
    let at = decimal(n, &mut text);
    out.extend_from_slice(&text[at..]);
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

/// Text and bytes, as they are.
macro_rules! byte_args {
    ($($kind:ty),*) => {
        $(impl Arg for $kind {
            fn add_to(self, command: &mut Command) {
                command.push_bytes(AsRef::<[u8]>::as_ref(&self));
            }
        })*
    };
}

byte_args!(&str, String, &[u8], &String);

impl Arg for u64 {
    fn add_to(self, command: &mut Command) {
        command.push_integer(false, self);
    }
}

impl Arg for u32 {
    fn add_to(self, command: &mut Command) {
        command.push_integer(false, u64::from(self));
    }
}

impl Arg for usize {
    fn add_to(self, command: &mut Command) {
        command.push_integer(false, self as u64);
    }
}

impl Arg for i64 {
    fn add_to(self, command: &mut Command) {
        command.push_integer(self < 0, self.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packed(command: &Command) -> Vec<u8> {
        let mut out = Vec::new();
        command.write_packed(&mut out);
        out
    }

    /// The Redis client's encoding of the same words: what the server has always been sent.
    fn client_packed(words: &[&[u8]]) -> Vec<u8> {
        let mut command = redis::Cmd::new();
        for word in words {
            command.arg(*word);
        }
        command.get_packed_command()
    }

    #[test]
    fn integers_are_sent_in_decimal_and_words_as_they_are() {
        let command = Command::new("XADD")
            .arg("k\r\n$3")
            .arg(String::new())
            .arg(&b"\x00\xff"[..])
            .arg(0u64)
            .arg(u64::MAX)
            .arg(i64::MIN)
            .arg(-7i64)
            .arg(42usize)
            .arg(u32::MAX);
        let words: Vec<&[u8]> = vec![
            b"XADD",
            b"k\r\n$3",
            b"",
            b"\x00\xff",
            b"0",
            b"18446744073709551615",
            b"-9223372036854775808",
            b"-7",
            b"42",
            b"4294967295",
        ];
        assert_eq!(command.args().collect::<Vec<_>>(), words);
        assert_eq!(packed(&command), client_packed(&words));
        assert_eq!(
            command.to_client().get_packed_command(),
            client_packed(&words)
        );
    }

    #[test]
    fn words_take_what_word_len_says_and_a_large_one_no_more() {
        for words in [
            vec!["XLEN", "k"],
            vec!["SET", "", "0123456789"],
            vec!["x"; 12],
        ] {
            let command = Command::from_args(words.iter().copied());
            let expected: usize = words.iter().map(|w| word_len(w.len())).sum();
            assert_eq!(command.encoded.len(), expected, "{words:?}");
        }
        // The record of 100,000 streams is one word of ~8 MB: room for it is taken whole,
        // not doubled.
        let record = "r".repeat(1 << 20);
        let command = Command::new("SET").arg("k").arg(record.as_str());
        assert_eq!(command.encoded.capacity(), command.encoded.len());
    }

    #[test]
    fn described_without_the_arguments_of_auth_and_hello() {
        assert_eq!(
            Command::new("xinfo")
                .arg("GROUPS")
                .arg("app:orders")
                .arg("x")
                .describe(),
            "XINFO GROUPS app:orders"
        );
        assert_eq!(
            Command::new("AUTH").arg("u").arg("secret").describe(),
            "AUTH"
        );
        assert_eq!(Command::default().describe(), "(no command)");
    }

    proptest! {
        /// Any words, any bytes: sent exactly as the Redis client sends them, and read back.
        #[test]
        fn any_words_encode_as_the_client_does(
            words in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8)
        ) {
            let command = Command::from_args(words.iter().map(Vec::as_slice));
            let expected: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(command.args().collect::<Vec<_>>(), expected.clone());
            prop_assert_eq!(packed(&command), client_packed(&expected));
        }
    }
}
