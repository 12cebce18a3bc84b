//! Fenced batches as the server runs them: the batch script ([`BATCH_SCRIPT`]) on a real
//! server, with writes of several shapes and modes in one batch.
//!
//! [`BATCH_SCRIPT`]: redis_topology::target::fenced::BATCH_SCRIPT

use redis_topology::target::{
    BatchOutcome, Command, ConnectOptions, Fence, Route, Target, Write, WriteOutcome,
};

use super::redis::RedisServer;

fn write<'a>(key: &'a str, words: &[&str], already_done: bool, needs_key: bool) -> Write<'a> {
    Write {
        command: Command::from_args(words.iter().copied()),
        route: Route::Key(key),
        already_done: already_done.then_some("BUSYGROUP"),
        needs_key,
    }
}

/// One batch of three runs (group creations where `BUSYGROUP` means done, group removals
/// skipped when their stream is gone, plain commands of one width): each write runs in
/// order with its own words, and the script stops at the first failure, in the middle of a
/// run, running nothing after it.
#[test]
fn a_batch_of_several_shapes_runs_in_order_and_stops_at_the_first_failure() {
    let server = RedisServer::start();
    server.cmd::<String>(&["XGROUP", "CREATE", "f:busy", "g", "0", "MKSTREAM"]);
    let writes = vec![
        write(
            "f:a",
            &["XGROUP", "CREATE", "f:a", "g", "0", "MKSTREAM"],
            true,
            false,
        ),
        write(
            "f:a",
            &["XGROUP", "CREATE", "f:a", "h", "$", "MKSTREAM"],
            true,
            false,
        ),
        write(
            "f:busy",
            &["XGROUP", "CREATE", "f:busy", "g", "0", "MKSTREAM"],
            true,
            false,
        ),
        write("f:gone", &["XGROUP", "DESTROY", "f:gone", "g"], false, true),
        write("f:a", &["XGROUP", "DESTROY", "f:a", "g"], false, true),
        write("f:b", &["XADD", "f:b", "*", "n", "1"], false, false),
        // No MKSTREAM: refused, the stream does not exist.
        write(
            "f:none",
            &["XGROUP", "CREATE", "f:none", "g", "0"],
            false,
            false,
        ),
        write("f:c", &["XADD", "f:c", "*", "n", "1"], false, false),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let written = runtime.block_on(async {
        let mut target = Target::connect(&server.url(), ConnectOptions::default())
            .await
            .expect("connect");
        let lock = target
            .acquire_lock("fenced", std::time::Duration::from_secs(30))
            .await
            .expect("lock");
        let batches = target.write_batches(lock.fence(), Fence::Script, std::iter::once(writes), 1);
        let written = futures_util::StreamExt::collect::<Vec<_>>(batches).await;
        target.release_lock(lock).await.expect("released");
        written
    });
    let shares = written
        .into_iter()
        .next()
        .expect("one batch")
        .expect("answered");
    assert_eq!(shares.len(), 1, "{shares:?}");
    let WriteOutcome::Script(BatchOutcome::Ran {
        done,
        failed: Some(failed),
    }) = &shares[0].outcome
    else {
        panic!("stopped at a failure: {shares:?}");
    };
    assert_eq!(*done, 6, "the six writes before the refused one ran");
    assert!(failed.starts_with("ERR "), "{failed}");
    let groups = |key: &str| -> Vec<String> {
        let info: Vec<Vec<redis::Value>> = server.cmd(&["XINFO", "GROUPS", key]);
        info.iter()
            .map(|group| match &group[1] {
                redis::Value::BulkString(name) => String::from_utf8_lossy(name).into_owned(),
                other => panic!("a group's name: {other:?}"),
            })
            .collect()
    };
    assert_eq!(groups("f:a"), ["h"], "g created, then destroyed; h created");
    assert_eq!(groups("f:busy"), ["g"]);
    let exists = |key: &str| server.cmd::<i64>(&["EXISTS", key]);
    assert_eq!(
        exists("f:gone"),
        0,
        "a removal whose stream is gone creates nothing"
    );
    assert_eq!(server.cmd::<i64>(&["XLEN", "f:b"]), 1);
    assert_eq!(exists("f:none"), 0);
    assert_eq!(exists("f:c"), 0, "nothing ran after the failure");
}

/// What the server holds, key by key: its type, and for a stream its length and groups.
fn holdings(server: &RedisServer) -> Vec<(String, String, i64, Vec<String>)> {
    let mut keys: Vec<String> = server.cmd(&["KEYS", "*"]);
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let kind: String = server.cmd(&["TYPE", &key]);
            let (length, groups) = if kind == "stream" {
                let info: Vec<Vec<redis::Value>> = server.cmd(&["XINFO", "GROUPS", &key]);
                let groups = info
                    .iter()
                    .map(|group| format!("{:?}", group.get(1)))
                    .collect();
                (server.cmd(&["XLEN", &key]), groups)
            } else {
                (0, Vec::new())
            };
            (key, kind, length, groups)
        })
        .collect()
}

/// A batch of one run goes in a script made for its shape. On a real server that script
/// does what the general script ([`BATCH_SCRIPT`]) does with the same arguments: the same
/// reply and the same effects, in each mode, with `BUSYGROUP`, skipped keys, failures in
/// the middle of the run, and a lock that is not the apply's.
///
/// [`BATCH_SCRIPT`]: redis_topology::target::fenced::BATCH_SCRIPT
#[test]
fn a_script_made_for_a_batchs_shape_does_what_the_general_script_does() {
    use redis_topology::target::fenced::{BATCH_SCRIPT, batch_command};
    let servers = [RedisServer::start(), RedisServer::start()];
    for server in &servers {
        server.cmd::<String>(&["SET", "lock", "token"]);
        server.cmd::<String>(&["XGROUP", "CREATE", "f:busy", "g", "0", "MKSTREAM"]);
        server.cmd::<String>(&["XGROUP", "CREATE", "f:d", "g", "0", "MKSTREAM"]);
        server.cmd::<String>(&["SET", "f:text", "not a stream"]);
    }
    let batches: Vec<(Vec<Write<'_>>, &str)> = vec![
        (
            vec![
                write(
                    "f:a",
                    &["XGROUP", "CREATE", "f:a", "g", "0", "MKSTREAM"],
                    true,
                    false,
                ),
                write(
                    "f:busy",
                    &["XGROUP", "CREATE", "f:busy", "g", "0", "MKSTREAM"],
                    true,
                    false,
                ),
                write(
                    "f:a",
                    &["XGROUP", "CREATE", "f:a", "h", "$", "MKSTREAM"],
                    true,
                    false,
                ),
                write(
                    "f:text",
                    &["XGROUP", "CREATE", "f:text", "g", "0", "MKSTREAM"],
                    true,
                    false,
                ),
                write(
                    "f:b",
                    &["XGROUP", "CREATE", "f:b", "g", "0", "MKSTREAM"],
                    true,
                    false,
                ),
            ],
            "token",
        ),
        (
            vec![
                write("f:d", &["XGROUP", "DESTROY", "f:d", "g"], false, true),
                write("f:gone", &["XGROUP", "DESTROY", "f:gone", "g"], false, true),
                write("f:text", &["XGROUP", "DESTROY", "f:text", "g"], false, true),
                write("f:a", &["XGROUP", "DESTROY", "f:a", "g"], false, true),
            ],
            "token",
        ),
        (
            vec![
                write("f:c", &["XADD", "f:c", "*", "n", "1"], false, false),
                write("f:c", &["XADD", "f:c", "*", "n", "2"], false, false),
                write("f:text", &["XADD", "f:text", "*", "n", "3"], false, false),
                write("f:e", &["XADD", "f:e", "*", "n", "4"], false, false),
            ],
            "token",
        ),
        (
            vec![write("f:z", &["XADD", "f:z", "*", "n", "1"], false, false)],
            "another apply's token",
        ),
    ];
    let mut replies = Vec::new();
    for (writes, token) in &batches {
        let eval = batch_command("lock", token, 0, writes);
        let args: Vec<&[u8]> = eval.args().collect();
        assert_ne!(
            args[1],
            BATCH_SCRIPT.as_bytes(),
            "a script of the batch's shape"
        );
        let run = |server: &RedisServer, script: &[u8]| -> redis::Value {
            let mut eval = redis::cmd("EVAL");
            eval.arg(script);
            for arg in &args[2..] {
                eval.arg(*arg);
            }
            eval.query(&mut server.con()).expect("EVAL")
        };
        let shaped = run(&servers[0], args[1]);
        let general = run(&servers[1], BATCH_SCRIPT.as_bytes());
        assert_eq!(shaped, general, "batch {}", replies.len());
        replies.push(format!("{shaped:?}"));
    }
    assert_eq!(holdings(&servers[0]), holdings(&servers[1]));
    // And they did something worth comparing: each run stopped at its failure.
    assert!(replies[0].starts_with("array([int(3), "), "{}", replies[0]);
    assert!(replies[0].contains("WRONGTYPE"), "{}", replies[0]);
    assert!(replies[1].starts_with("array([int(2), "), "{}", replies[1]);
    assert!(replies[2].starts_with("array([int(2), "), "{}", replies[2]);
    assert_eq!(replies[3], "array([int(-1)])");
    assert_eq!(
        servers[0].cmd::<i64>(&["EXISTS", "f:b"]),
        0,
        "nothing after a failure"
    );
    assert_eq!(servers[0].cmd::<i64>(&["XLEN", "f:c"]), 2);
}
