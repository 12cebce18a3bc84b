//! The bulk reader (a connection of our own whose replies `src/resp.rs` parses) against a
//! real redis-server, through the library's `Target`.

use redis_topology::resp::Reply;
use redis_topology::target::{ConnectOptions, Target, TargetError};

use super::redis::RedisServer;

fn echo(text: &str) -> redis::Cmd {
    let mut command = redis::cmd("ECHO");
    command.arg(text);
    command
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
        let batches: Vec<Vec<redis::Cmd>> = (0..3)
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
            .read_each(batches, |_| Err(TargetError("stop".to_owned())))
            .await;
        assert_eq!(stopped, Err(TargetError("stop".to_owned())));
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
