//! Secrets never show: a password in the server URL, whatever its characters and however it
//! is written (percent-encoded or raw), is in no output of any command that takes a URL, on
//! any outcome (unreachable server, refused credentials, success); the URL can come from a
//! file or the environment instead of the command line, which is warned about; a password
//! hash in a topology's broken password entry is blanked. Each case runs the real binary.

use std::process::Output;
use std::time::Duration;

use proptest::prelude::*;
use redis_topology::model::secrets::sha256_hex;

use crate::redis::RedisServer;
use crate::util::{bin, text, topology_file};

/// A topology with a stream that has a message schema (for `check-messages`) and an ACL user
/// whose password comes from `$SVC_PASSWORD` (set to the generated password as well).
const TOPOLOGY: &str = r#"version: 1
namespace: sec
streams:
  events:
    schema: event
    retention: { maxlen: 100 }
    groups: { readers: {} }
schemas:
  event:
    encoding: fields
    versions:
      1:
        schema: { type: object, required: [kind], properties: { kind: { type: string } } }
acl:
  users:
    svc:
      passwords: [{ env: SVC_PASSWORD }]
      keys: [events]
      commands: ["+@stream"]
"#;

/// The password of the server's `default` user in the property test: never the generated one.
const ADMIN_PASSWORD: &str = "admin-pw-not-generated";

/// Characters that mean something in a URL, in a shell or in a terminal, and characters that
/// need percent-encoding (non-ASCII, controls).
const SPECIAL: &[char] = &[
    '/', '@', ':', '%', '#', '?', '+', ' ', '"', '\'', '\\', '&', '=', '[', ']', '~', '!', '$',
    ';', ',', '<', '>', '`', '|', '^', '{', '}', '*', '.', '-', '_', 'é', '€', 'ß', '😀', '中',
    '\t', '\n', '\r', '\u{7f}', '\u{202e}',
];

/// A password: special characters around six random letters and digits (so that it cannot
/// occur in the output by chance), then up to three arbitrary printable characters.
fn password() -> impl Strategy<Value = String> {
    let specials = || {
        prop::collection::vec(prop::sample::select(SPECIAL), 0..6)
            .prop_map(|chars| chars.into_iter().collect::<String>())
    };
    (specials(), "[A-Za-z0-9]{6}", specials(), "\\PC{0,3}")
        .prop_map(|(a, core, b, tail)| format!("{a}{core}{b}{tail}"))
}

/// Every byte but letters and digits as `%XX` (`upper`: `%2F`, else `%2f`).
fn percent_encoded(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
            _ if upper => format!("%{b:02X}"),
            _ => format!("%{b:02x}"),
        })
        .collect()
}

/// The password as the URL parser writes it back (only the characters a URL's user info
/// cannot hold are encoded).
fn url_encoded(password: &str) -> String {
    let mut url = url::Url::parse("redis://host").expect("a valid URL");
    url.set_password(Some(password)).expect("a URL with a host");
    url.password().unwrap_or_default().to_owned()
}

/// Every form of `password` that must not be printed.
fn forms(password: &str) -> Vec<String> {
    vec![
        password.to_owned(),
        percent_encoded(password, true),
        percent_encoded(password, false),
        url_encoded(password),
        sha256_hex(password),
    ]
}

/// Run the binary with `args`, no `$REDIS_URL`, and `$SVC_PASSWORD` set to `secret`.
fn run(args: &[&str], secret: &str) -> Output {
    bin()
        .args(args)
        .env_remove("REDIS_URL")
        .env("SVC_PASSWORD", secret)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run redis-topology")
}

/// Every command that takes a URL against `url`: in every format when the server answers,
/// in fewer when it cannot be reached (then every format prints the same error line).
fn every_command(
    file: &std::path::Path,
    url: &str,
    reachable: bool,
    secret: &str,
) -> Vec<(String, Output)> {
    let file = file.to_str().expect("a UTF-8 temporary path");
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["plan", file],
        vec!["plan", file, "--format", "json"],
        vec!["apply", file, "--yes"],
        vec!["check-messages", file],
    ];
    if reachable {
        commands.push(vec!["plan", file, "--format", "markdown"]);
        commands.push(vec!["check-messages", file, "--format", "json"]);
    }
    commands
        .into_iter()
        .map(|mut args| {
            args.extend(["--url", url]);
            (args[..args.len() - 1].join(" "), run(&args, secret))
        })
        .collect()
}

/// The first form of `secret` that an output shows, if any.
fn leak(out: &Output, secret: &str) -> Option<String> {
    let shown = text(out);
    if shown.contains("panicked") {
        return Some(format!("a panic: {shown}"));
    }
    forms(secret).into_iter().find(|form| shown.contains(form))
}

/// A server whose `default` user needs [`ADMIN_PASSWORD`], and a connection to it as that user.
fn server_with_a_password() -> (RedisServer, redis::Connection) {
    let server = RedisServer::start_with(&["--requirepass", ADMIN_PASSWORD]);
    let admin = format!("redis://:{ADMIN_PASSWORD}@127.0.0.1:{}", server.port);
    let con = redis::Client::open(admin)
        .and_then(|c| c.get_connection())
        .expect("connect as the admin");
    (server, con)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 64, ..ProptestConfig::default() })]

    /// No output of plan, apply or check-messages, human or JSON, shows the password of the
    /// URL (raw, percent-encoded either way, or its sha256): against a port where nothing
    /// listens (the URL written raw and encoded), a server that refuses it, and a server that
    /// accepts it (the ACL user `app`; the topology's user gets the same password).
    #[test]
    fn no_output_ever_contains_the_password(secret in password()) {
        let (server, mut admin) = SERVER.with(|s| s.take()).unwrap_or_else(server_with_a_password);
        let file = topology_file(TOPOLOGY);
        redis::cmd("ACL")
            .arg(&["SETUSER", "app", "reset", "on", &format!(">{secret}"), "~*", "&*", "+@all"])
            .query::<()>(&mut admin)
            .expect("ACL SETUSER app");
        let encoded = percent_encoded(&secret, true);
        let port = server.port;
        let urls = [
            (format!("redis://app:{encoded}@127.0.0.1:1/0"), false),
            (format!("redis://app:{secret}@127.0.0.1:1/0"), false),
            (format!("rediss://:{secret}@127.0.0.1:1"), false),
            // The default user's password is ADMIN_PASSWORD: refused.
            (format!("redis://:{encoded}@127.0.0.1:{port}/0"), true),
            (format!("redis://app:{encoded}@127.0.0.1:{port}/0"), true),
        ];
        // One thread per URL: the runs are independent, and mostly wait for processes.
        let runs: Vec<(&str, Vec<(String, Output)>)> = std::thread::scope(|scope| {
            let threads: Vec<_> = urls
                .iter()
                .map(|(url, reachable)| {
                    let (file, secret) = (file.path(), &secret);
                    scope.spawn(move || (url.as_str(), every_command(file, url, *reachable, secret)))
                })
                .collect();
            threads.into_iter().map(|t| t.join().expect("no panic running the binary")).collect()
        });
        for (url, outputs) in &runs {
            for (command, out) in outputs {
                prop_assert!(
                    leak(out, &secret).is_none(),
                    "`{command}` with {url:?} shows {:?}:\n{}",
                    leak(out, &secret),
                    text(out)
                );
            }
        }
        // The right password worked: the last URL applied the topology.
        let applied: String = redis::cmd("TYPE").arg("sec:events").query(&mut admin).expect("TYPE");
        prop_assert_eq!(applied, "stream");
        SERVER.with(|s| s.set(Some((server, admin))));
    }
}

thread_local! {
    /// One server for all cases of the property test (starting one per case would take
    /// longer than the cases).
    static SERVER: std::cell::Cell<Option<(RedisServer, redis::Connection)>> =
        const { std::cell::Cell::new(None) };
}

/// The issue's reproduction: a raw `/` in the password made the URL unparseable, and the
/// redaction stopped at that `/`, printing the rest of the password.
#[test]
fn an_unparseable_url_shows_only_its_scheme() {
    let file = topology_file(TOPOLOGY);
    let path = file.path().to_str().expect("UTF-8 path");
    for (url, scheme) in [
        ("redis://app:s3cr/et+x@127.0.0.1:1/0", "redis://"),
        ("rediss://app:s3cr#et+x@127.0.0.1:1/0", "rediss://"),
        ("redis://app:s3cr?et+x@127.0.0.1:1/0", "redis://"),
        ("redis://app:s3cret-x@127.0.0.1:1/not-a-db", "redis://"),
    ] {
        let out = run(&["plan", path, "--url", url], "unused");
        assert_eq!(out.status.code(), Some(1), "{url}: {}", text(&out));
        let shown = text(&out);
        assert!(
            shown.contains(&format!(
                "error: invalid Redis URL (scheme {scheme}, the rest not shown): "
            )),
            "{url}: {shown}"
        );
        for part in ["s3cr", "et+x", "127.0.0.1", "app"] {
            assert!(!shown.contains(part), "{url}: {part:?} in {shown}");
        }
    }
    // A scheme the tool does not know is not shown either: it may be part of a secret.
    let out = run(&["plan", path, "--url", "hunter2://x"], "unused");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("hunter2"), "{}", text(&out));
    assert!(
        text(&out).contains("redis://, rediss://"),
        "names the valid schemes: {}",
        text(&out)
    );
}

/// `--url-file` and `$REDIS_URL` keep the password off the command line; a password given with
/// `--url` is warned about; an unreadable or empty URL file is an error.
#[test]
fn the_url_can_come_from_a_file_and_a_password_on_the_command_line_is_warned_about() {
    let (server, _admin) = server_with_a_password();
    let file = topology_file(TOPOLOGY);
    let path = file.path().to_str().expect("UTF-8 path");
    let url = format!("redis://:{ADMIN_PASSWORD}@127.0.0.1:{}", server.port);
    let url_file = topology_file(&format!("  {url}  \nignored second line\n"));
    let url_path = url_file.path().to_str().expect("UTF-8 path");
    let warning = "warning: the password in --url is visible to other users of this machine";

    let out = run(&["plan", path, "--url-file", url_path], "pw");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("warning:"), "{}", text(&out));

    let out = bin()
        .args(["plan", path])
        .env("REDIS_URL", &url)
        .env("SVC_PASSWORD", "pw")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("warning:"), "{}", text(&out));

    for args in [
        &["plan", path, "--url", &url][..],
        &["check-messages", path, "--url", &url],
    ] {
        let out = run(args, "pw");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(warning), "{args:?}: {stderr}");
        for alternative in ["`ps`", "--url-file", "$REDIS_URL"] {
            assert!(stderr.contains(alternative), "{alternative}: {stderr}");
        }
        assert!(!stderr.contains(ADMIN_PASSWORD), "{stderr}");
    }
    // No password, no warning.
    let out = run(&["plan", path, "--url", "redis://127.0.0.1:1"], "pw");
    assert!(!text(&out).contains("warning:"), "{}", text(&out));

    let missing = url_file.path().with_extension("missing");
    let missing = missing.to_str().expect("UTF-8 path");
    let out = run(&["plan", path, "--url-file", missing], "pw");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("error: cannot read the URL file {missing}: ")),
        "{}",
        text(&out)
    );
    let empty = topology_file("\n");
    let empty = empty.path().to_str().expect("UTF-8 path");
    let out = run(&["apply", path, "--yes", "--url-file", empty], "pw");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("error: the URL file {empty} is empty")),
        "{}",
        text(&out)
    );
    let both = run(&["plan", path, "--url", &url, "--url-file", url_path], "pw");
    assert_eq!(both.status.code(), Some(1), "{}", text(&both));
    assert!(
        text(&both).contains("cannot be used with"),
        "{}",
        text(&both)
    );
}

/// A password entry with two sources is an error whose snippet must not show the hash it
/// holds (as the error of an invalid `sha256` does not), nor may a number given as a password.
#[test]
fn a_broken_password_entry_does_not_show_its_hash_or_number() {
    let hash = sha256_hex("a password");
    for (entry, hidden) in [
        (
            format!("{{ env: SVC_PASSWORD, sha256: {hash} }}"),
            hash.as_str(),
        ),
        (
            format!("{{ file: pw.txt, sha256: \"{hash}\" }}"),
            hash.as_str(),
        ),
        ("{ sha256: 73105219 }".to_owned(), "73105219"),
        ("{ env: 73105219 }".to_owned(), "73105219"),
    ] {
        let file = topology_file(&format!(
            "version: 1\nnamespace: sec\nacl:\n  users:\n    svc:\n      passwords: [{entry}]\n      keys: [events]\n"
        ));
        let path = file.path().to_str().expect("UTF-8 path");
        for format in ["human", "json"] {
            let out = run(&["validate", path, "--format", format], "unused");
            assert_eq!(out.status.code(), Some(1), "{entry}: {}", text(&out));
            assert!(
                !text(&out).contains(hidden),
                "{entry} ({format}): {}",
                text(&out)
            );
            let line = if format == "json" {
                "\"line\": 6"
            } else {
                ":6:"
            };
            assert!(text(&out).contains(line), "names the line: {}", text(&out));
        }
    }
}
