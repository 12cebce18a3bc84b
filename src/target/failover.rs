//! Keeping writes off a primary that is no longer the primary.
//!
//! After a failover the old primary, still running, keeps accepting writes until the
//! sentinels reconfigure it as a replica: measured on Redis 7.0, `+convert-to-slave` came
//! 10.1 s after `+switch-master` (../shared/research/wave2-cluster-status-import.md, A4).
//! All that time `ROLE` on it still says `master`, and every write it takes is thrown away
//! when it resyncs from the new primary. The promoted replica, though, says `master` as soon
//! as it is promoted. So [`Target::confirm_primaries`] asks every node of a primary with
//! replicas for its role, all at once: the primary must still say it is one, and no replica
//! may say it is one now. Apply asks before each batch it sends (and so before the record);
//! a node that answers otherwise stops it.
//!
//! The questions go over connections of their own (bounded readers, kept between batches):
//! the write connections have batches queued, and a `ROLE` behind them would hold the next
//! batch back until the queue drained.

use std::sync::{Mutex, PoisonError};

use super::discover::{RoleReply, parse_role};
use super::reader::Reader;
use super::{Command, Deployment, NodeId, Role, ServerError, Target, TargetError, read_error};
use crate::resp::Reply;

/// What keeps apply's writes off a demoted primary: how the primary was found (the Sentinel
/// master name), and per node a connection to ask it its role.
#[derive(Default)]
pub(crate) struct PrimaryGuard {
    /// The master name the sentinels were asked for; `None` when the URL named the node.
    pub(crate) sentinel_master: Option<String>,
    /// Per node (by [`NodeId`]), a reader kept for `ROLE`; taken out while in use, so the
    /// lock is never held across a wait.
    readers: Mutex<Vec<Option<Reader>>>,
}

impl PrimaryGuard {
    fn take(&self, node: NodeId) -> Option<Reader> {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        readers.get_mut(node.0).and_then(Option::take)
    }

    fn put_back(&self, node: NodeId, reader: Reader) {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() <= node.0 {
            readers.resize_with(node.0 + 1, || None);
        }
        readers[node.0] = Some(reader);
    }
}

impl Target {
    /// Before a batch of writes: every node still has the role it had when the target
    /// connected (one `ROLE` per node, all at once). A primary that says it is a replica,
    /// or a replica that says it is a primary, is a failover: `Err`
    /// ([`TargetError::FailedOver`]) naming the node. Nothing is asked of a single server
    /// without replicas (nothing can take its place) nor of a cluster (whose nodes redirect
    /// writes to the new primary themselves).
    pub async fn confirm_primaries(&self) -> Result<(), TargetError> {
        if !self.may_fail_over() {
            return Ok(());
        }
        let said = futures_util::future::join_all(self.nodes().map(|n| self.role_now(n))).await;
        for (node, said) in self.nodes().zip(said) {
            let now = match (self.role(node), said?) {
                (Some(Role::Primary), RoleReply::Replica { primary }) => format!(
                    "the primary when the command started, now says it is a replica of {}",
                    host_port(&primary.0, primary.1)
                ),
                (Some(Role::Replica { .. }), RoleReply::Primary { .. }) => {
                    "a replica when the command started, now says it is a primary".to_owned()
                }
                _ => continue,
            };
            return Err(TargetError::FailedOver {
                node: self.address(node).to_owned(),
                now,
                sentinel: self.guard.sentinel_master.is_some(),
            });
        }
        Ok(())
    }

    /// Whether another node can have become the primary: a primary with replicas, or one
    /// found through sentinels.
    fn may_fail_over(&self) -> bool {
        match self.deployment {
            Deployment::Cluster => false,
            Deployment::Sentinel => true,
            Deployment::Standalone => self.nodes.len() > 1,
        }
    }

    /// What `ROLE` says on a node now, over its kept reader (opened on first use). A kept
    /// reader whose connection failed is replaced and asked again, once: the server may have
    /// closed it (a timeout, or the `CLIENT KILL` with which a sentinel promotes a replica).
    async fn role_now(&self, id: NodeId) -> Result<RoleReply, TargetError> {
        if let Some(reader) = self.guard.take(id) {
            match self.ask_role(id, reader).await {
                Err(TargetError::Reader { .. }) => {}
                said => return said,
            }
        }
        let node = self.node(id)?;
        let reader = Reader::open(&node.endpoint, &self.options)
            .await
            .map_err(|reason| TargetError::Reader {
                url: node.url.redacted().clone(),
                reason,
            })?;
        self.ask_role(id, reader).await
    }

    /// `ROLE` on a node over `reader`, kept for the next time unless the read failed
    /// (replies may still be on their way).
    async fn ask_role(&self, id: NodeId, mut reader: Reader) -> Result<RoleReply, TargetError> {
        let node = self.node(id)?;
        let url = node.url.redacted().clone();
        let mut said = None;
        let read = reader
            .read_each(
                vec![vec![Command::new("ROLE")]],
                &mut |replies: &[Reply<'_>]| {
                    let reply = replies.first().unwrap_or(&Reply::Nil);
                    said = Some(role_of(reply, &url, BEFORE_EACH_BATCH));
                    Ok(())
                },
                self.options.response,
            )
            .await;
        read.map_err(|failure| TargetError::from(read_error(&node.url, failure)))?;
        self.guard.put_back(id, reader);
        said.unwrap_or(Err(TargetError::NoReplies {
            url,
            what: "`ROLE`",
        }))
    }
}

/// Why apply asks for the roles, for a user who may not run `ROLE`.
const BEFORE_EACH_BATCH: &str = "apply asks every node for its role before each batch, so that it never writes to a primary that a failover replaced";

/// `host:port`, an IPv6 host in brackets.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A node's `ROLE`, or why it cannot be read (refused: the server's error, with what to do).
/// `why`: why the tool asks, for the hint to give its user `+role`.
pub(super) fn role_of(
    reply: &Reply<'_>,
    url: &super::RedactedUrl,
    why: &str,
) -> Result<RoleReply, TargetError> {
    if let Some(error) = ServerError::of(reply) {
        return Err(TargetError::Refused {
            url: url.clone(),
            command: "`ROLE`".to_owned(),
            error,
            hint: format!(" ({why}: give the tool's user `+role`, docs/operations.md)").into(),
        });
    }
    parse_role(reply).map_err(|why| TargetError::Malformed {
        url: url.clone(),
        command: "`ROLE`".to_owned(),
        why,
    })
}
