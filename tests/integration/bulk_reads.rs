//! The bounded reader (a connection of our own whose replies `src/resp.rs` parses, for every
//! read) against a real redis-server: through the library's `Target`, and through the real
//! binary over TCP, TLS and a Unix socket.

use std::process::Output;

use redis_topology::resp::Reply;
use redis_topology::target::{Command, ConnectOptions, Target, TargetError};

use super::redis::RedisServer;
use super::util::{bin, text, topology_file};

const TOPOLOGY: &str = "\
version: 1
namespace: app
streams:
  orders:
    retention: { maxlen: 100 }
    groups:
      billing: { start: \"0\" }
";

/// Run the binary with `args`, the topology `file` and the server `url` (in `$REDIS_URL`,
/// where a password belongs: on the command line it draws a warning).
fn run(url: &str, file: &tempfile::NamedTempFile, args: &[&str]) -> Output {
    bin()
        .args(args)
        .arg(file.path())
        .env("REDIS_URL", url)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("run redis-topology")
}

/// The run failed with one `error:` line holding each of `expected`.
fn failed_with(out: &Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: "),
        "one error line: {stderr}"
    );
    for part in expected {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }
}

/// A record of 65 MiB, one more than a reply may take: no record redis-topology writes
/// comes near (100,000 streams take about 10 MB).
fn oversized_record(con: &mut redis::Connection) {
    let value = vec![b'x'; 65 << 20];
    redis::cmd("SET")
        .arg("{__topology__:app}:record")
        .arg(value)
        .query::<()>(con)
        .expect("SET the record");
}

fn echo(text: &str) -> Command {
    Command::new("ECHO").arg(text)
}

fn texts(replies: &[Reply<'_>]) -> Vec<String> {
    replies
        .iter()
        .map(|r| r.text().map(|t| t.into_owned()).unwrap_or_default())
        .collect()
}

/// Replies come back in order, batch by batch; and a read stopped by its consumer leaves no
/// reply behind for the next read to take as its own.
#[test]
fn replies_come_in_order_and_a_stopped_read_leaves_nothing_behind() {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut target = Target::connect(&server.url(), ConnectOptions::default())
            .await
            .expect("connect");
        let batches: Vec<Vec<Command>> = (0..3)
            .map(|b| (0..500).map(|i| echo(&format!("{b}-{i}"))).collect())
            .collect();
        let mut seen = Vec::new();
        target
            .read_each(batches.clone(), |replies| {
                seen.extend(texts(replies));
                Ok(())
            })
            .await
            .expect("read");
        let expected: Vec<String> = (0..3)
            .flat_map(|b| (0..500).map(move |i| format!("{b}-{i}")))
            .collect();
        assert_eq!(seen, expected);

        let stopped = target
            .read_each(batches, |_| {
                // Any error of the consumer's: it comes back as it was.
                Err(TargetError::Changed {
                    url: redis_topology::target::RedactedUrl::new("redis://consumer"),
                    key: "stop".to_owned(),
                })
            })
            .await;
        assert!(
            matches!(&stopped, Err(TargetError::Changed { key, .. }) if key == "stop"),
            "{stopped:?}"
        );
        let mut after = Vec::new();
        target
            .read_each(vec![vec![echo("after")]], |replies| {
                after.extend(texts(replies));
                Ok(())
            })
            .await
            .expect("read after a stop");
        assert_eq!(after, ["after"]);
    });
}

/// A plan user without `+time` is told which command failed, in the server's own words
/// (the reply used to be "TIME gave an unexpected reply").
#[test]
fn a_plan_user_without_time_gets_the_servers_noperm() {
    let server = RedisServer::start();
    // The plan user of docs/operations.md, less `+time`.
    server.cmd::<String>(&[
        "ACL",
        "SETUSER",
        "planner",
        "on",
        ">plan-s3cret",
        "resetchannels",
        "-@all",
        "%R~app:*",
        "%R~{__topology__:app}:*",
        "%R~__topology__:users",
        "+ping",
        "+config|get",
        "+role",
        "+get",
        "+xlen",
        "+xinfo|groups",
        "+xinfo|stream",
        "+xrange",
        "+type",
    ]);
    let file = topology_file(TOPOLOGY);
    let url = format!("redis://planner:plan-s3cret@127.0.0.1:{}", server.port);
    let out = run(&url, &file, &["plan"]);
    failed_with(&out, &["`TIME` failed: NOPERM", "Least-privilege"]);
    assert!(!text(&out).contains("plan-s3cret"), "{}", text(&out));
}

/// A record larger than one reply may take is refused, saying so, before it is read.
#[test]
fn a_record_larger_than_a_reply_is_refused() {
    let server = RedisServer::start();
    oversized_record(&mut server.con());
    let file = topology_file(TOPOLOGY);
    let out = run(&server.url(), &file, &["plan"]);
    failed_with(
        &out,
        &[
            "the record `{__topology__:app}:record` is larger than 64 MiB, refusing to read it",
            "68157440 bytes",
        ],
    );
}

/// A recorded stream deleted by hand is missing (XLEN 0, XINFO GROUPS `ERR`, then TYPE
/// `none`), and the plan creates it again.
#[test]
fn a_recorded_stream_deleted_by_hand_is_created_again() {
    let server = RedisServer::start();
    let file = topology_file(TOPOLOGY);
    let applied = run(&server.url(), &file, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    server.cmd::<i64>(&["DEL", "app:orders"]);
    let planned = run(&server.url(), &file, &["plan", "--format", "json"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("JSON plan");
    let created: Vec<&str> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] == "create")
        .filter_map(|c| c["address"].as_str())
        .collect();
    assert!(created.contains(&"stream.orders"), "{plan:#}");
    let applied = run(&server.url(), &file, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    assert_eq!(server.cmd::<String>(&["TYPE", "app:orders"]), "stream");
}

/// The calls of each of `commands` the server counted since its stats were reset.
fn calls(server: &RedisServer, commands: &[&str]) -> Vec<u64> {
    let counted = server.command_calls();
    commands
        .iter()
        .map(|command| counted.get(*command).copied().unwrap_or(0))
        .collect()
}

/// A first plan finds what the new streams' keys hold alike whether it lists the keys
/// (`SCAN`, on a server that holds fewer keys than the topology declares), looks at each
/// (`TYPE`, on a server that holds more), or must look at each because its user may not
/// run `DBSIZE` or `SCAN`: the same plan, and the same refusal of a key of another type.
#[test]
fn new_keys_are_found_alike_listed_or_looked_at_one_by_one() {
    const NEW_STREAMS: &str = "\
version: 1
namespace: app
streams:
  orders:
    groups:
      billing: { start: \"0\" }
  audit:
    groups:
      readers: { start: \"$\" }
  logs: {}
  notes: {}
";
    let server = RedisServer::start();
    let file = topology_file(NEW_STREAMS);
    // `orders` exists already, with its group; `notes` holds a string.
    server.cmd::<String>(&["XGROUP", "CREATE", "app:orders", "billing", "0", "MKSTREAM"]);
    server.cmd::<String>(&["SET", "app:notes", "not a stream"]);
    server.cmd::<String>(&[
        "ACL",
        "SETUSER",
        "no-count",
        "on",
        ">no-count-pw",
        "~*",
        "&*",
        "+@all",
        "-dbsize",
        "-scan",
    ]);
    let no_count = format!("redis://no-count:no-count-pw@127.0.0.1:{}", server.port);
    let plan = |url: &str| {
        server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
        let out = run(url, &file, &["plan"]);
        let counted = calls(&server, &["scan", "type"]);
        // The same server, whoever logs in.
        let shown = text(&out).replace("no-count:***@", "");
        (out.status.code(), shown, counted)
    };
    // Two keys held, four new streams: listed, and only the two that exist looked at.
    let listed = plan(&server.url());
    assert_eq!(listed.0, Some(1), "{}", listed.1);
    assert!(
        listed.1.contains("app:notes") && listed.1.contains("string"),
        "{}",
        listed.1
    );
    assert_eq!(listed.2, vec![1, 2], "one SCAN, a TYPE per existing key");
    // A user who may not count or list the keys: a TYPE for each new one.
    let refused = plan(&no_count);
    assert_eq!(refused.2, vec![0, 4], "no SCAN, a TYPE per new key");
    assert_eq!((refused.0, &refused.1), (listed.0, &listed.1));
    // More keys held than streams declared: a TYPE for each new one.
    for i in 0..10 {
        server.cmd::<String>(&["SET", &format!("other:{i}"), "x"]);
    }
    let looked_at = plan(&server.url());
    assert_eq!(looked_at.2, vec![0, 4], "no SCAN, a TYPE per new key");
    assert_eq!((looked_at.0, &looked_at.1), (listed.0, &listed.1));
    // Without the key of another type, the plan creates what is missing, alike.
    server.cmd::<i64>(&["DEL", "app:notes"]);
    let outputs: Vec<(Option<i32>, String, Vec<u64>)> = [&server.url(), &no_count]
        .into_iter()
        .map(|url| plan(url))
        .collect();
    let created = &outputs[0].1;
    assert_eq!(outputs[0].0, Some(0), "{created}");
    for name in [
        "+ stream audit",
        "+ stream logs",
        "+ stream notes",
        "+ group audit.readers",
    ] {
        assert!(created.contains(name), "{name}: {created}");
    }
    assert!(!created.contains("+ stream orders"), "{created}");
    assert!(!created.contains("+ group orders.billing"), "{created}");
    assert_eq!(outputs[1].1, *created);
    server.cmd::<i64>(&["DEL", "other:0", "other:1", "other:2", "other:3", "other:4"]);
    server.cmd::<i64>(&["DEL", "other:5", "other:6", "other:7", "other:8", "other:9"]);
    let listed_again = plan(&server.url());
    assert_eq!(listed_again.2, vec![1, 1], "listed: only `orders` exists");
    assert_eq!(listed_again.1, *created);
}

/// On a server where `SCAN` is renamed away, a first plan looks at each new key instead of
/// failing.
#[test]
fn without_scan_a_first_plan_looks_at_each_new_key() {
    let server = RedisServer::start_with(&["--rename-command", "SCAN", ""]);
    let file = topology_file(TOPOLOGY);
    server.cmd::<String>(&["CONFIG", "RESETSTAT"]);
    let out = run(&server.url(), &file, &["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("+ stream orders"), "{}", text(&out));
    assert_eq!(calls(&server, &["dbsize", "type"]), vec![1, 1]);
}

/// Over TLS every read goes through the bounded reader too: apply then plan converge, and
/// an oversized record is refused as over plain TCP (the Redis client would read it).
#[test]
fn tls_reads_go_through_the_bounded_reader() {
    let certs = tempfile::tempdir().expect("dir");
    super::plan_apply::make_certificates(certs.path());
    let Some(server) = RedisServer::start_tls(
        "tls_reads_go_through_the_bounded_reader",
        &certs.path().join("server.pem"),
        &certs.path().join("server.key"),
    ) else {
        return; // the server was built without TLS: start_tls printed why
    };
    let file = topology_file(TOPOLOGY);
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let ca = certs.path().join("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");
    let applied = run(&url, &file, &["apply", "--yes", "--tls-ca-cert", ca]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let planned = run(
        &url,
        &file,
        &["plan", "--detailed-exitcode", "--tls-ca-cert", ca],
    );
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(certs.path().join("ca.pem")).expect("read ca.pem");
    let client = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        },
    )
    .expect("TLS client");
    oversized_record(&mut client.get_connection().expect("connect over TLS"));
    let out = run(&url, &file, &["plan", "--tls-ca-cert", ca]);
    failed_with(
        &out,
        &["the record `{__topology__:app}:record` is larger than 64 MiB, refusing to read it"],
    );
}

/// `unix://` and `redis+unix://` URLs: apply, then a plan that finds nothing to do.
#[test]
fn unix_sockets_are_read_through_the_bounded_reader() {
    let dir = tempfile::tempdir().expect("dir");
    let socket = dir.path().join("redis.sock");
    let socket_text = socket.to_str().expect("utf-8 path");
    let _server =
        RedisServer::start_with(&["--unixsocket", socket_text, "--unixsocketperm", "700"]);
    let file = topology_file(TOPOLOGY);
    let applied = run(&format!("unix://{socket_text}"), &file, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let planned = run(
        &format!("redis+unix://{socket_text}?db=0"),
        &file,
        &["plan", "--detailed-exitcode"],
    );
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
}
