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
