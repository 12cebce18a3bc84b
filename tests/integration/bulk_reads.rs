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
