//! The desired state as the planner sees it: one environment, keys with their namespace,
//! defaults filled in, no spans. Built from a validated [`Topology`].

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::types::{Retention, StartId, Topology};

/// What one environment of a topology declares, ready to compare with a live server.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub namespace: String,
    /// `None` for a file without environments.
    pub environment: Option<String>,
    /// Streams by full key (`<namespace>:<name>`), sorted.
    pub streams: BTreeMap<String, DesiredStream>,
    /// sha256 of the canonical form of everything above: what the record remembers as
    /// "last applied".
    pub digest: String,
    /// ACL users the file declares (planned from the ACL issue on; until then only noted).
    pub users_declared: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredStream {
    /// The name as written (relative to the namespace).
    pub name: String,
    pub retention: DesiredRetention,
    /// Groups by name, sorted.
    pub groups: BTreeMap<String, DesiredGroup>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DesiredRetention {
    pub maxlen: Option<u64>,
    pub max_age_ms: Option<u64>,
    pub approximate: bool,
}

impl DesiredRetention {
    pub fn is_unbounded(&self) -> bool {
        self.maxlen.is_none() && self.max_age_ms.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DesiredGroup {
    pub start: StartId,
    pub entries_read: Option<u64>,
}

/// The full key of a name in a namespace (`""` means no prefix).
pub fn key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}:{name}")
    }
}

impl Desired {
    /// The desired state of a topology that passed validation.
    pub fn from_topology(topology: &Topology, environment: Option<&str>) -> Desired {
        let namespace = topology.namespace.value.clone();
        let streams = topology
            .streams
            .iter()
            .flat_map(|s| s.iter())
            .map(|(name, stream)| {
                let groups = stream
                    .groups
                    .iter()
                    .flat_map(|g| g.iter())
                    .map(|(group, g)| {
                        let desired = DesiredGroup {
                            start: g.start.as_ref().map_or(StartId::Last, |s| s.value),
                            entries_read: g.entries_read.as_ref().map(|e| e.value),
                        };
                        (group.value.clone(), desired)
                    })
                    .collect();
                let retention = match stream.retention.as_ref().map(|r| &r.value) {
                    Some(
                        r @ Retention::Bounded {
                            maxlen, max_age, ..
                        },
                    ) => DesiredRetention {
                        maxlen: maxlen.as_ref().map(|m| m.value),
                        max_age_ms: max_age.as_ref().map(|a| a.value.millis),
                        approximate: r.approximate(),
                    },
                    Some(Retention::Unbounded) | None => DesiredRetention::default(),
                };
                let desired = DesiredStream {
                    name: name.value.clone(),
                    retention,
                    groups,
                };
                (key(&namespace, &name.value), desired)
            })
            .collect();
        let users_declared = topology
            .acl
            .as_ref()
            .and_then(|a| a.users.as_ref())
            .map_or(0, |u| u.len());
        let mut desired = Desired {
            namespace,
            environment: environment.map(str::to_owned),
            streams,
            digest: String::new(),
            users_declared,
        };
        desired.digest = desired.compute_digest();
        desired
    }

    /// A stable digest: the same declarations give the same digest whatever the file's
    /// layout, comments or key order.
    fn compute_digest(&self) -> String {
        use std::fmt::Write as _;
        // One reused buffer: this runs over every stream of large topologies.
        let mut line = String::with_capacity(128);
        let mut hasher = Sha256::new();
        hasher.update(format!("ns={}\n", self.namespace));
        for (key, stream) in &self.streams {
            let r = stream.retention;
            line.clear();
            let _ = writeln!(
                line,
                "stream={key} maxlen={:?} max_age={:?} approx={}",
                r.maxlen, r.max_age_ms, r.approximate
            );
            for (name, group) in &stream.groups {
                let _ = writeln!(
                    line,
                    "group={name} start={} entries_read={:?}",
                    group.start.as_redis_arg(),
                    group.entries_read
                );
            }
            hasher.update(line.as_bytes());
        }
        hex(&hasher.finalize())
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
