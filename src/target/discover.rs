//! Which nodes a target has, from what the node the URL names says about its deployment.
//!
//! - **Redis Cluster** (`CONFIG GET cluster-enabled` says `yes`): `CLUSTER SHARDS` lists every
//!   shard's slot ranges and nodes, primaries and replicas, with their health.
//! - **A standalone server** (`no`): `ROLE` says whether it is a primary, and lists its
//!   replicas; a replica names its primary, which the target then connects to instead (the
//!   tool writes to primaries only, and reads the users of every node).
//!
//! The replies are parsed here, strictly, into a [`Layout`]; connecting to the nodes is
//! the target's. Every address comes from a server, so each is checked (a host name or IP
//! address, a port above 0) before anything connects to it.

use crate::resp::Reply;
use crate::text::untrusted;

/// What kind of deployment the target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// A primary, with its replicas if it has some.
    Standalone,
    Cluster,
    /// A primary and its replicas, found by asking Redis Sentinels for a master name
    /// (the name: `Target::sentinel_master`).
    Sentinel,
}

impl std::fmt::Display for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Deployment::Standalone => "standalone",
            Deployment::Cluster => "cluster",
            Deployment::Sentinel => "sentinel",
        })
    }
}

/// [`Role::Replica`]'s primary when the cluster does not say which it is.
pub const UNKNOWN_PRIMARY: usize = usize::MAX;

/// A node's part in the deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    /// A replica of the node at this index of [`Layout::nodes`].
    Replica {
        of: usize,
    },
}

/// One node as the deployment lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub host: String,
    pub port: u16,
    pub role: Role,
    /// The cluster's word for its health (`online`, `failed`, `loading`); `None` outside a
    /// cluster.
    pub health: Option<String>,
}

impl NodeSpec {
    /// `host:port` (an IPv6 host in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The nodes of a deployment: primaries before replicas, and for a cluster which primary
/// serves each slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub deployment: Deployment,
    pub nodes: Vec<NodeSpec>,
    /// Slot ranges (inclusive) and the index of the primary that serves them; empty outside
    /// a cluster.
    pub slots: Vec<(u16, u16, usize)>,
}

/// What `ROLE` says of a standalone node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleReply {
    /// A primary and its replicas (`host`, `port`).
    Primary { replicas: Vec<(String, u16)> },
    /// A replica, and its primary's address.
    Replica { primary: (String, u16) },
}

/// Whether `CONFIG GET cluster-enabled` says the node is part of a cluster; `None` when the
/// reply does not say (CONFIG not allowed or not available).
pub fn cluster_enabled(reply: &Reply<'_>) -> Option<bool> {
    let mut pairs = reply.map()?;
    let (name, value) = pairs.next()?;
    if !name.eq_ignore_ascii_case("cluster-enabled") {
        return None;
    }
    match value.as_str()? {
        v if v.eq_ignore_ascii_case("yes") => Some(true),
        v if v.eq_ignore_ascii_case("no") => Some(false),
        _ => None,
    }
}

/// `ROLE`: `[master, offset, [[host, port, offset], ...]]` or `[slave, host, port, state,
/// offset]` (RESP2 gives the replicas' ports as strings, the primary's as an integer).
pub fn parse_role(reply: &Reply<'_>) -> Result<RoleReply, String> {
    let Reply::Array(parts) = reply else {
        return Err(format!("is {}, not an array", reply.describe()));
    };
    let kind = parts.first().and_then(Reply::as_str).unwrap_or_default();
    match kind {
        "master" => {
            let listed = match parts.get(2) {
                Some(Reply::Array(listed)) => listed.as_slice(),
                _ => return Err("lists no replicas (not even an empty list)".to_owned()),
            };
            let replicas = listed
                .iter()
                .map(|replica| match replica {
                    Reply::Array(fields) => address(fields.first(), fields.get(1)),
                    other => Err(format!("lists a replica as {}", other.describe())),
                })
                .collect::<Result<_, _>>()?;
            Ok(RoleReply::Primary { replicas })
        }
        "slave" | "replica" => Ok(RoleReply::Replica {
            primary: address(parts.get(1), parts.get(2))?,
        }),
        other => Err(format!(
            "says the node is a `{}`, not a primary or a replica (a Sentinel? give the data node's URL)",
            untrusted(other)
        )),
    }
}

/// A host and port from two replies, checked.
pub(crate) fn address(
    host: Option<&Reply<'_>>,
    port: Option<&Reply<'_>>,
) -> Result<(String, u16), String> {
    let host = host.and_then(Reply::as_str).unwrap_or_default();
    if !valid_host(host) {
        return Err(format!("gives `{}` as a host", untrusted(host)));
    }
    let port = port
        .and_then(|p| match p {
            Reply::Int(n) => u16::try_from(*n).ok(),
            other => other.as_str()?.parse().ok(),
        })
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("gives no port for `{host}`"))?;
    Ok((host.to_owned(), port))
}

/// A host name or an IP address: letters, digits, `.`, `-`, `_` and `:` (IPv6), at most 253
/// characters. What a server announces is connected to, so nothing else is.
pub(crate) fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// `CLUSTER SHARDS`: for each shard, `slots` (pairs of a range's first and last slot) and
/// `nodes` (each with `ip`, `endpoint`, `port`, `tls-port`, `role`, `health`). `tls`: the
/// tool connects with TLS, so a node's `tls-port` is the one to use when it has one.
pub fn parse_shards(reply: &Reply<'_>, tls: bool) -> Result<Layout, String> {
    let Reply::Array(shards) = reply else {
        return Err(format!("is {}, not an array of shards", reply.describe()));
    };
    let mut primaries = Vec::new();
    let mut replicas = Vec::new();
    let mut ranges = Vec::new();
    let mut orphans = Vec::new();
    for (at, shard) in shards.iter().enumerate() {
        let shard = parse_shard(shard, tls).map_err(|why| format!("shard {}: {why}", at + 1))?;
        let Some(primary) = shard.primary else {
            orphans.push((at, shard));
            continue;
        };
        let index = primaries.len();
        primaries.push(primary);
        ranges.extend(shard.slots.into_iter().map(|(a, b)| (a, b, index)));
        replicas.extend(shard.replicas.into_iter().map(|r| (r, index)));
    }
    if primaries.is_empty() {
        return Err("lists no primary".to_owned());
    }
    // A shard without a primary: a replica listed alone. Without slots, one that joined
    // moments ago, or one that is down (Redis 7.4): a replica of no known primary, to which
    // no write can be fenced. With slots (Redis 7.2 lists a replica whose shard ID gossip
    // has not yet made its primary's apart, with its primary's slots; one stopped then stays
    // so): a replica of the primary that serves those slots. Its nodes are still nodes either
    // way, connected to, so one that is down is named.
    for (at, shard) in orphans {
        let of = match shard.slots.first() {
            None => UNKNOWN_PRIMARY,
            Some(&(first, _)) => ranges
                .iter()
                .find(|(a, b, _)| (*a..=*b).contains(&first))
                .map(|&(_, _, index)| index)
                .ok_or_else(|| format!("shard {} serves slots but has no primary", at + 1))?,
        };
        replicas.extend(shard.replicas.into_iter().map(|r| (r, of)));
    }
    let mut nodes = primaries;
    for (mut replica, of) in replicas {
        replica.role = Role::Replica { of };
        nodes.push(replica);
    }
    ranges.sort_unstable();
    Ok(Layout {
        deployment: Deployment::Cluster,
        nodes,
        slots: ranges,
    })
}

/// Whether `CLUSTER SHARDS` lists a shard without a primary or slots: a node that joined
/// moments ago is listed alone until gossip says whose replica it is (seen on Redis 7.2).
/// One listed with slots is the replica of the primary serving them (see [`parse_shards`]).
pub fn shards_forming(reply: &Reply<'_>) -> bool {
    let Reply::Array(shards) = reply else {
        return false;
    };
    shards.iter().any(|shard| {
        let Some((slots, nodes)) = slots_and_nodes(shard) else {
            return false;
        };
        let Some(Reply::Array(nodes)) = nodes else {
            return false;
        };
        let serves_slots = matches!(slots, Some(Reply::Array(bounds)) if !bounds.is_empty());
        !serves_slots
            && !nodes.iter().any(|node| {
                node.map().is_some_and(|mut f| {
                    f.any(|(field, value)| field == "role" && value.as_str() == Some("master"))
                })
            })
    })
}

/// One shard: its slot ranges, its primary, its replicas.
struct Shard {
    slots: Vec<(u16, u16)>,
    primary: Option<NodeSpec>,
    replicas: Vec<NodeSpec>,
}

/// A shard's `slots` and `nodes` fields (each `None` when absent); `None` when the shard is
/// not field/value pairs.
fn slots_and_nodes<'r, 'a>(
    shard: &'r Reply<'a>,
) -> Option<(Option<&'r Reply<'a>>, Option<&'r Reply<'a>>)> {
    let (mut slots, mut nodes) = (None, None);
    for (field, value) in shard.map()? {
        match field {
            "slots" => slots = Some(value),
            "nodes" => nodes = Some(value),
            _ => {}
        }
    }
    Some((slots, nodes))
}

fn parse_shard(shard: &Reply<'_>, tls: bool) -> Result<Shard, String> {
    let (slots, nodes) = slots_and_nodes(shard)
        .ok_or_else(|| format!("is {}, not field/value pairs", shard.describe()))?;
    let slots = match slots {
        Some(Reply::Array(bounds)) => slot_ranges(bounds)?,
        _ => return Err("has no `slots`".to_owned()),
    };
    let Some(Reply::Array(listed)) = nodes else {
        return Err("has no `nodes`".to_owned());
    };
    let mut shard = Shard {
        slots,
        primary: None,
        replicas: Vec::new(),
    };
    for node in listed {
        let (spec, primary) = parse_shard_node(node, tls)?;
        if primary && shard.primary.is_none() {
            shard.primary = Some(spec);
        } else {
            shard.replicas.push(spec);
        }
    }
    Ok(shard)
}

/// Pairs of slot numbers, each pair a range.
fn slot_ranges(bounds: &[Reply<'_>]) -> Result<Vec<(u16, u16)>, String> {
    let slot = |reply: &Reply<'_>| {
        reply
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| usize::from(*n) < super::slot::SLOTS)
    };
    bounds
        .chunks(2)
        .map(|pair| match pair {
            [first, last] => match (slot(first), slot(last)) {
                (Some(a), Some(b)) if a <= b => Ok((a, b)),
                _ => Err(format!(
                    "gives {} to {} as a slot range",
                    first.describe(),
                    last.describe()
                )),
            },
            _ => Err("gives an odd number of slot bounds".to_owned()),
        })
        .collect()
}

/// One node of a shard, and whether it is the shard's primary.
fn parse_shard_node(node: &Reply<'_>, tls: bool) -> Result<(NodeSpec, bool), String> {
    let fields = node
        .map()
        .ok_or_else(|| format!("lists a node as {}", node.describe()))?;
    let (mut ip, mut endpoint, mut port, mut tls_port, mut role, mut health) =
        (None, None, None, None, None, None);
    for (field, value) in fields {
        match field {
            "ip" => ip = Some(value),
            "endpoint" => endpoint = Some(value),
            "port" => port = Some(value),
            "tls-port" => tls_port = Some(value),
            "role" => role = value.as_str(),
            "health" => health = value.as_str(),
            _ => {}
        }
    }
    // The endpoint is what the cluster tells clients to use (its IP, host name or `?`).
    let host = endpoint
        .filter(|e| e.as_str().is_some_and(|e| !e.is_empty() && e != "?"))
        .or(ip);
    let port = if tls { tls_port.or(port) } else { port };
    let (host, port) = address(host, port)?;
    let primary = match role {
        Some("master") => true,
        Some("replica" | "slave") => false,
        other => {
            return Err(format!(
                "gives `{}` as the role of {host}:{port}",
                untrusted(other.unwrap_or_default())
            ));
        }
    };
    let spec = NodeSpec {
        host,
        port,
        role: Role::Primary,
        health: health.map(|h| untrusted(h).into_owned()),
    };
    Ok((spec, primary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::OwnedReply;

    fn reply(resp: &str) -> OwnedReply {
        OwnedReply::from_resp(resp.as_bytes().to_vec()).expect("RESP")
    }

    fn bulk(text: &str) -> String {
        format!("${}\r\n{text}\r\n", text.len())
    }

    fn array(items: &[String]) -> String {
        format!("*{}\r\n{}", items.len(), items.concat())
    }

    fn node(ip: &str, port: u16, role: &str, health: &str) -> String {
        array(&[
            bulk("id"),
            bulk("abc"),
            bulk("port"),
            format!(":{port}\r\n"),
            bulk("ip"),
            bulk(ip),
            bulk("endpoint"),
            bulk(ip),
            bulk("role"),
            bulk(role),
            bulk("replication-offset"),
            ":42\r\n".to_owned(),
            bulk("health"),
            bulk(health),
        ])
    }

    fn shard(slots: &[u16], nodes: &[String]) -> String {
        let bounds: Vec<String> = slots.iter().map(|s| format!(":{s}\r\n")).collect();
        array(&[bulk("slots"), array(&bounds), bulk("nodes"), array(nodes)])
    }

    #[test]
    fn cluster_shards_become_primaries_then_replicas_with_their_slots() {
        let shards = array(&[
            shard(
                &[0, 5460],
                &[
                    node("127.0.0.1", 7001, "master", "online"),
                    node("127.0.0.1", 7004, "replica", "online"),
                ],
            ),
            shard(
                &[5461, 10922],
                &[
                    node("127.0.0.1", 7005, "replica", "failed"),
                    node("127.0.0.1", 7002, "master", "online"),
                ],
            ),
            shard(
                &[10923, 16383],
                &[node("127.0.0.1", 7003, "master", "online")],
            ),
        ]);
        let layout = parse_shards(&reply(&shards).reply(), false).expect("layout");
        let addresses: Vec<String> = layout.nodes.iter().map(NodeSpec::address).collect();
        assert_eq!(
            addresses,
            [
                "127.0.0.1:7001",
                "127.0.0.1:7002",
                "127.0.0.1:7003",
                "127.0.0.1:7004",
                "127.0.0.1:7005"
            ]
        );
        assert_eq!(layout.nodes[3].role, Role::Replica { of: 0 });
        assert_eq!(layout.nodes[4].role, Role::Replica { of: 1 });
        assert_eq!(layout.nodes[4].health.as_deref(), Some("failed"));
        assert_eq!(
            layout.slots,
            [(0, 5460, 0), (5461, 10922, 1), (10923, 16383, 2)]
        );
    }

    #[test]
    fn a_shard_without_a_primary_is_still_forming() {
        let formed = array(&[shard(&[0, 16383], &[node("h", 1, "master", "online")])]);
        assert!(!shards_forming(&reply(&formed).reply()));
        let forming = array(&[
            shard(&[0, 16383], &[node("h", 1, "master", "online")]),
            shard(&[], &[node("h", 2, "replica", "online")]),
        ]);
        assert!(shards_forming(&reply(&forming).reply()));
        // Still a node, to connect to (and name if it is down), a replica of no known primary.
        let layout = parse_shards(&reply(&forming).reply(), false).expect("layout");
        assert_eq!(layout.nodes.len(), 2);
        assert_eq!(
            layout.nodes[1].role,
            Role::Replica {
                of: UNKNOWN_PRIMARY
            }
        );
    }

    /// Seen on Redis 7.2.4: a replica stopped before gossip gave it its primary's shard ID
    /// is listed alone, in a shard of its own with its primary's slots, for as long as it is
    /// down. It is that primary's replica (and is connected to, so it is named if down).
    #[test]
    fn a_replica_listed_alone_with_its_primarys_slots_is_that_primarys() {
        let shards = array(&[
            shard(&[0, 8000], &[node("h", 1, "master", "online")]),
            shard(
                &[8001, 16383],
                &[
                    node("h", 2, "master", "online"),
                    node("h", 3, "replica", "online"),
                ],
            ),
            shard(&[8001, 16383], &[node("h", 4, "replica", "failed")]),
        ]);
        assert!(!shards_forming(&reply(&shards).reply()));
        let layout = parse_shards(&reply(&shards).reply(), false).expect("layout");
        let roles: Vec<(u16, Role)> = layout.nodes.iter().map(|n| (n.port, n.role)).collect();
        assert_eq!(
            roles,
            [
                (1, Role::Primary),
                (2, Role::Primary),
                (3, Role::Replica { of: 1 }),
                (4, Role::Replica { of: 1 })
            ]
        );
        assert_eq!(layout.slots, [(0, 8000, 0), (8001, 16383, 1)]);
    }

    #[test]
    fn hostile_shards_are_refused_with_what_is_wrong() {
        for (shards, why) in [
            (bulk("nope"), "not an array of shards"),
            (
                array(&[shard(&[0, 16384], &[node("h", 1, "master", "online")])]),
                "as a slot range",
            ),
            (
                array(&[shard(
                    &[0, 10],
                    &[node("evil host\n", 1, "master", "online")],
                )]),
                "as a host",
            ),
            (
                array(&[shard(&[0, 10], &[node("h", 0, "master", "online")])]),
                "gives no port",
            ),
            (
                array(&[shard(&[0, 10], &[node("h", 1, "boss", "online")])]),
                "`boss` as the role",
            ),
            (
                array(&[shard(&[0, 10], &[node("h", 1, "replica", "online")])]),
                "lists no primary",
            ),
            (
                array(&[
                    shard(&[0, 10], &[node("h", 1, "master", "online")]),
                    shard(&[11, 20], &[node("h", 2, "replica", "online")]),
                ]),
                "shard 2 serves slots but has no primary",
            ),
        ] {
            let error = parse_shards(&reply(&shards).reply(), false).expect_err(why);
            assert!(error.contains(why), "{error}");
            assert!(!error.contains('\n'), "one line: {error:?}");
        }
    }

    #[test]
    fn role_says_primary_with_replicas_or_replica_of_whom() {
        let primary = array(&[
            bulk("master"),
            ":3129659\r\n".to_owned(),
            array(&[
                array(&[bulk("127.0.0.1"), bulk("9001"), bulk("3129242")]),
                array(&[bulk("127.0.0.1"), bulk("9002"), bulk("3129543")]),
            ]),
        ]);
        assert_eq!(
            parse_role(&reply(&primary).reply()),
            Ok(RoleReply::Primary {
                replicas: vec![
                    ("127.0.0.1".to_owned(), 9001),
                    ("127.0.0.1".to_owned(), 9002)
                ]
            })
        );
        let replica = array(&[
            bulk("slave"),
            bulk("127.0.0.1"),
            ":9000\r\n".to_owned(),
            bulk("connected"),
            ":3167038\r\n".to_owned(),
        ]);
        assert_eq!(
            parse_role(&reply(&replica).reply()),
            Ok(RoleReply::Replica {
                primary: ("127.0.0.1".to_owned(), 9000)
            })
        );
        let sentinel = array(&[bulk("sentinel"), array(&[bulk("mymaster")])]);
        let error = parse_role(&reply(&sentinel).reply()).expect_err("a sentinel");
        assert!(error.contains("`sentinel`"), "{error}");
    }

    #[test]
    fn cluster_enabled_reads_yes_and_no_only() {
        let config = |value: &str| array(&[bulk("cluster-enabled"), bulk(value)]);
        assert_eq!(cluster_enabled(&reply(&config("yes")).reply()), Some(true));
        assert_eq!(cluster_enabled(&reply(&config("no")).reply()), Some(false));
        assert_eq!(cluster_enabled(&reply(&config("maybe")).reply()), None);
        assert_eq!(cluster_enabled(&reply("*0\r\n").reply()), None);
        assert_eq!(
            cluster_enabled(&reply("-NOPERM no\r\n").reply()),
            None,
            "not allowed: unknown"
        );
    }
}
