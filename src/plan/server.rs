//! Notes on server settings that put the declared streams at risk. Nothing to apply: the
//! tool never changes a server's configuration; `status` reports the same as critical.

use crate::live::LiveState;
use crate::model::desired::Desired;
use crate::text::untrusted;

/// An eviction policy that can drop streams, and `durable` streams on a server without an
/// append-only file, per node (where the user may read the settings).
pub fn notes(desired: &Desired, live: &LiveState) -> Vec<String> {
    if desired.streams.is_empty() {
        return Vec::new();
    }
    let durable: Vec<&str> = desired
        .health
        .durable
        .iter()
        .filter_map(|key| desired.streams.get(key).map(|s| s.name.as_str()))
        .collect();
    let mut notes = Vec::new();
    for node in &live.nodes {
        let address = untrusted(&node.address);
        if let Some(policy) = node
            .maxmemory_policy
            .as_deref()
            .filter(|p| p.starts_with("allkeys-"))
        {
            notes.push(format!(
                "{address} has maxmemory-policy {}: when memory runs out it can evict whole streams, with their groups and pending entries. Set noeviction (or a volatile-* policy, which evicts only keys with a TTL)",
                untrusted(policy)
            ));
        }
        if node.appendonly == Some(false) && !durable.is_empty() {
            notes.push(format!(
                "{address} writes no append-only file (appendonly no), yet the topology declares durable: {}. A restart loses every entry written since the last snapshot: set appendonly yes",
                durable.join(", ")
            ));
        }
    }
    notes
}
