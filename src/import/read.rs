//! What `import` reads from the server, in a fixed number of pipelined round trips:
//!
//! 1. the namespace's streams: `SCAN 0 MATCH <ns>:* TYPE stream COUNT 1000` on every primary
//!    until each cursor comes back to 0 (see [`crate::target::scan`]), all primaries at once;
//! 2. each stream's `XLEN` and `XINFO GROUPS`, as `plan` reads them (batches of pipelined
//!    commands, each key on the node that serves it: [`crate::live::read::read_stream_keys`]);
//! 3. `ACL USERS` on every node, then those users with the live ACL reader (`ACL GETUSER`
//!    of each, the server's `ACL CAT` lists and the users registry: [`crate::live::acl`]).
//!
//! Only read commands. Replies are bounded by the reader, and what is kept is capped: at
//! most [`MAX_STREAMS`] streams and [`MAX_USERS`] users.

use std::collections::{BTreeMap, BTreeSet};

use crate::live::{LiveAcl, LiveKey, LiveNode, LiveStream};
use crate::resp::Reply;
use crate::target::scan::ScanPattern;
use crate::target::{Command, NodeId, Route, ServerError, Target, TargetError};
use crate::text::untrusted_bytes;

/// The most streams one import reads (a namespace of 10,000 is the size the tool is built
/// and measured for).
pub const MAX_STREAMS: usize = 1_000_000;

/// The most ACL users one import reads.
pub const MAX_USERS: usize = 100_000;

/// The most keys that are not text named in a warning (the rest are counted).
const SHOWN_NOT_TEXT: usize = 5;

/// Everything read.
#[derive(Debug)]
pub struct Found {
    /// By key, every stream under the namespace.
    pub streams: BTreeMap<String, LiveStream>,
    /// Stream keys that are not UTF-8 (escaped for printing), and how many in all.
    pub not_text: (Vec<String>, usize),
    /// Each node's users, in the target's order (the first is the one plan compares with);
    /// `Err` says why they could not be read.
    pub acl: Result<Vec<(String, LiveAcl)>, String>,
    /// The environment the tool's record says the namespace was applied for (`plan` then
    /// needs it), or why the record could not be read.
    pub environment: Result<Option<String>, String>,
}

/// Read the streams and users of `namespace`.
pub async fn read(target: &mut Target, namespace: &str) -> Result<Found, TargetError> {
    let mut found = Found {
        streams: BTreeMap::new(),
        not_text: (Vec::new(), 0),
        acl: Ok(Vec::new()),
        environment: Ok(None),
    };
    let keys = scan_streams(target, namespace, &mut found).await?;
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    for (key, live) in crate::live::read::read_stream_keys(target, &names).await? {
        // A key deleted, or replaced by another type, since SCAN saw it is not imported.
        if let LiveKey::Stream(stream) = live {
            found.streams.insert(key, *stream);
        }
    }
    found.acl = read_users(target).await?;
    found.environment =
        match crate::live::read::read_record::<crate::record::Record>(target, namespace).await {
            Ok(record) => Ok(record.and_then(|r| r.environment)),
            Err(error) => Err(error.to_string()),
        };
    Ok(found)
}

/// The stream keys under the namespace on every primary, sorted.
async fn scan_streams(
    target: &mut Target,
    namespace: &str,
    found: &mut Found,
) -> Result<Vec<String>, TargetError> {
    let pattern = crate::model::desired::key(&crate::glob::escape(namespace), "*");
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut not_text: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut too_many = false;
    target
        .scan_every_primary(
            &[ScanPattern {
                pattern: &pattern,
                kind: Some("stream"),
            }],
            " (import finds the streams with SCAN: give the tool's user `+scan`)",
            &mut |_, key| {
                if keys.len() + not_text.len() >= MAX_STREAMS {
                    too_many = true;
                    return;
                }
                match std::str::from_utf8(key) {
                    Ok(text) => {
                        keys.insert(text.to_owned());
                    }
                    Err(_) => {
                        not_text.insert(key.to_vec());
                    }
                }
            },
        )
        .await?;
    if too_many {
        return Err(TargetError::Malformed {
            url: target.describe().clone(),
            command: format!(
                "`SCAN 0 MATCH {} TYPE stream`",
                crate::text::untrusted(&pattern)
            ),
            why: format!(
                "there are more than {MAX_STREAMS} streams under the namespace, more than one import reads"
            ),
        });
    }
    found.not_text = (
        not_text
            .iter()
            .take(SHOWN_NOT_TEXT)
            .map(|k| untrusted_bytes(k).into_owned())
            .collect(),
        not_text.len(),
    );
    Ok(keys.into_iter().collect())
}

/// Every node's ACL users (`ACL USERS`, then the live ACL reader), or why they could not be
/// read: a user without `+acl|users` (or the reader's permissions) still imports the
/// streams, and is told.
async fn read_users(
    target: &mut Target,
) -> Result<Result<Vec<(String, LiveAcl)>, String>, TargetError> {
    let url = target.describe().clone();
    let every = target.route(Route::EveryNode);
    let jobs: Vec<(NodeId, Vec<Vec<Command>>)> = every
        .iter()
        .map(|node| (*node, vec![vec![Command::new("ACL").arg("USERS")]]))
        .collect();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut refused: Option<ServerError> = None;
    let mut malformed = false;
    target
        .read_many(jobs, &mut |_, replies| {
            match replies.first() {
                Some(Reply::Array(items)) => {
                    for item in items {
                        match item.text() {
                            Some(name) if names.len() < MAX_USERS => {
                                names.insert(name.into_owned());
                            }
                            Some(_) => {}
                            None => malformed = true,
                        }
                    }
                }
                Some(Reply::Error { code, details }) => {
                    refused = Some(ServerError::new(code, details));
                }
                _ => malformed = true,
            }
            Ok(())
        })
        .await
        .map_err(|(_, error)| TargetError::from(error))?;
    if let Some(error) = refused {
        return Ok(Err(format!(
            "{url}: `ACL USERS` failed: {error} (import lists the users with it: give the tool's user `+acl|users`)"
        )));
    }
    if malformed {
        return Err(TargetError::Malformed {
            url,
            command: "`ACL USERS`".to_owned(),
            why: "it did not answer with a list of names".to_owned(),
        });
    }
    let mut nodes: Vec<LiveNode> = target
        .nodes()
        .map(|node| LiveNode {
            address: target.address(node).to_owned(),
            ..LiveNode::UNREAD
        })
        .collect();
    match crate::live::acl::read_every_node(target, &names, &mut nodes).await {
        Ok(()) => {}
        Err(refused @ TargetError::Refused { .. }) => return Ok(Err(refused.to_string())),
        Err(other) => return Err(other),
    }
    Ok(Ok(nodes
        .into_iter()
        .filter_map(|node| Some((node.address, node.acl?)))
        .collect()))
}
