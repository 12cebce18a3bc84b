//! Who writes which stream, which groups read it, which user consumes in which group, and
//! where dead letters go: the edges `redis-topology graph` draws, from the desired state only
//! (no server). Pure; [`crate::render::mermaid`] and [`crate::render::dot`] draw it.
//!
//! Edges come from what the users may do, read as Redis reads their rules
//! ([`Permissions::may`], the user's own rules or one selector allowing both the command and
//! the key), with command rules expanded offline as `validate`'s lints expand them
//! ([`offline_permissions`]):
//! - a user *writes* a stream when it may XADD to its key;
//! - a user *consumes* in a group when it may XREADGROUP on the stream and the group lists it
//!   in `consumers` (a group that lists none: every user that may XREADGROUP there, since
//!   Redis cannot restrict a user to a group);
//! - a user *reads* a stream outside groups when it may XREAD, XRANGE or XREVRANGE on it and
//!   consumes it in no group (a result stream collected with XREAD, a DLQ peeked at);
//! - a stream with `dlq_of` holds the dead letters of that stream.
//!
//! A disabled user does nothing, so it draws nothing; neither does a user without any edge.
//! Everything is sorted, so the same topology always draws the same text.

use std::collections::{BTreeMap, BTreeSet};

use crate::acl::{Permissions, READ, WRITE};
use crate::model::desired::Desired;
use crate::plan::users::offline_permissions;

/// The most streams `plan` and `diff --format markdown` draw: a larger topology's diagram is
/// more than a pull-request comment can show (and than anyone reads).
pub const MAX_DRAWN_STREAMS: usize = 300;

/// Commands that read a stream outside consumer groups.
const READS_OUTSIDE_GROUPS: &[&str] = &["xread", "xrange", "xrevrange"];

/// The graph of one environment's streams, groups and users.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// The environment's namespace (stream names below are relative to it).
    pub namespace: String,
    /// Every declared stream, by name.
    pub streams: Vec<StreamNode>,
    /// The users with at least one edge, by server name.
    pub users: Vec<String>,
    /// Every edge, sorted.
    pub edges: BTreeSet<Edge>,
}

/// A declared stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamNode {
    /// Its name relative to the namespace, as the file writes it.
    pub name: String,
    /// Its groups, by name.
    pub groups: Vec<String>,
    /// The stream whose dead letters it holds (`dlq_of`), by name.
    pub dlq_of: Option<String>,
}

/// One edge. Streams by their names in the file, users by their server names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Edge {
    /// `user` may XADD to `stream`.
    Writes { user: String, stream: String },
    /// `user` reads `stream` in its group `group`.
    Consumes {
        stream: String,
        group: String,
        user: String,
    },
    /// `user` reads `stream` outside groups (XREAD, XRANGE, XREVRANGE).
    Reads { stream: String, user: String },
    /// `dlq` holds the dead letters of `stream`.
    DeadLetters { stream: String, dlq: String },
}

impl Graph {
    /// The graph of a desired state.
    pub fn of(desired: &Desired) -> Graph {
        let users: BTreeMap<&str, Permissions> = desired
            .users
            .iter()
            .filter(|(_, user)| user.enabled)
            .map(|(name, user)| (name.as_str(), offline_permissions(user)))
            .collect();
        let mut graph = Graph {
            namespace: desired.namespace.clone(),
            ..Graph::default()
        };
        for (key, stream) in &desired.streams {
            let may = |user: &Permissions, commands: &[&str], access: u8| {
                commands.iter().any(|c| user.may(c, key, access))
            };
            let mut consumers = BTreeSet::new();
            for (group, declared) in &stream.groups {
                for (name, user) in &users {
                    let listed = declared.consumers.is_empty()
                        || declared.consumers.iter().any(|c| c == name);
                    if listed && may(user, &["xreadgroup"], READ) {
                        consumers.insert(*name);
                        graph.edges.insert(Edge::Consumes {
                            stream: stream.name.to_string(),
                            group: group.to_string(),
                            user: (*name).to_owned(),
                        });
                    }
                }
            }
            for (name, user) in &users {
                if may(user, &["xadd"], WRITE) {
                    graph.edges.insert(Edge::Writes {
                        user: (*name).to_owned(),
                        stream: stream.name.to_string(),
                    });
                }
                if !consumers.contains(name) && may(user, READS_OUTSIDE_GROUPS, READ) {
                    graph.edges.insert(Edge::Reads {
                        stream: stream.name.to_string(),
                        user: (*name).to_owned(),
                    });
                }
            }
            let dlq_of = desired
                .health
                .streams
                .get(key)
                .and_then(|rules| rules.dlq_of.as_ref())
                .and_then(|of| desired.streams.get(of))
                .map(|of| of.name.to_string());
            if let Some(of) = &dlq_of {
                graph.edges.insert(Edge::DeadLetters {
                    stream: of.clone(),
                    dlq: stream.name.to_string(),
                });
            }
            graph.streams.push(StreamNode {
                name: stream.name.to_string(),
                groups: stream.groups.iter().map(|(g, _)| g.to_string()).collect(),
                dlq_of,
            });
        }
        graph.streams.sort_by(|a, b| a.name.cmp(&b.name));
        for stream in &mut graph.streams {
            stream.groups.sort();
        }
        let with_edges: BTreeSet<&str> = graph.edges.iter().filter_map(Edge::user).collect();
        graph.users = with_edges.into_iter().map(str::to_owned).collect();
        graph
    }
}

impl Edge {
    /// The user at one end, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Edge::Writes { user, .. } | Edge::Consumes { user, .. } | Edge::Reads { user, .. } => {
                Some(user)
            }
            Edge::DeadLetters { .. } => None,
        }
    }
}

/// One thing a drawing shows, in the order renderers write them ([`Graph::drawing`]):
/// streams, groups and users, then arrows. Nodes are named by identifiers of their own (`s1`,
/// `g1`, `u1`, numbered in sorted order): a name comes from a file someone wrote, so it is
/// only ever a label, escaped by each renderer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape<'g> {
    Stream {
        id: String,
        name: &'g str,
        /// A dead-letter stream (`dlq_of`).
        dlq: bool,
    },
    Group {
        id: String,
        name: &'g str,
    },
    User {
        id: String,
        name: &'g str,
    },
    Arrow {
        from: String,
        to: String,
        kind: Arrow,
    },
}

/// What an arrow means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrow {
    /// Stream → one of its groups.
    Group,
    /// User → stream: XADD.
    Writes,
    /// Group → user: consumes in it.
    Consumes,
    /// Stream → user: reads outside groups.
    Reads,
    /// Stream → the stream holding its dead letters.
    DeadLetters,
}

impl Graph {
    /// Everything to draw, in order: streams, groups, users, the stream → group arrows, then
    /// one arrow per edge.
    pub fn drawing(&self) -> Vec<Shape<'_>> {
        let mut streams = BTreeMap::new();
        let mut groups = BTreeMap::new();
        let mut users = BTreeMap::new();
        let mut shapes = Vec::new();
        for (i, stream) in self.streams.iter().enumerate() {
            let id = format!("s{}", i + 1);
            streams.insert(stream.name.as_str(), id.clone());
            shapes.push(Shape::Stream {
                id,
                name: &stream.name,
                dlq: stream.dlq_of.is_some(),
            });
        }
        let mut arrows = Vec::new();
        let all_groups = self
            .streams
            .iter()
            .flat_map(|s| s.groups.iter().map(move |g| (s.name.as_str(), g.as_str())));
        for (i, (stream, group)) in all_groups.enumerate() {
            let id = format!("g{}", i + 1);
            groups.insert((stream, group), id.clone());
            if let Some(from) = streams.get(stream) {
                arrows.push(arrow(from, &id, Arrow::Group));
            }
            shapes.push(Shape::Group { id, name: group });
        }
        for (i, user) in self.users.iter().enumerate() {
            let id = format!("u{}", i + 1);
            users.insert(user.as_str(), id.clone());
            shapes.push(Shape::User { id, name: user });
        }
        for edge in &self.edges {
            let stream = |name: &str| streams.get(name);
            let user = |name: &str| users.get(name);
            let ends = match edge {
                Edge::Writes { user: u, stream: s } => {
                    user(u).zip(stream(s)).map(|e| (e, Arrow::Writes))
                }
                Edge::Consumes {
                    stream: s,
                    group,
                    user: u,
                } => groups
                    .get(&(s.as_str(), group.as_str()))
                    .zip(user(u))
                    .map(|e| (e, Arrow::Consumes)),
                Edge::Reads { stream: s, user: u } => {
                    stream(s).zip(user(u)).map(|e| (e, Arrow::Reads))
                }
                Edge::DeadLetters { stream: s, dlq } => {
                    stream(s).zip(stream(dlq)).map(|e| (e, Arrow::DeadLetters))
                }
            };
            // Every edge of `Graph::of` names nodes of the graph.
            if let Some(((from, to), kind)) = ends {
                arrows.push(arrow(from, to, kind));
            }
        }
        shapes.extend(arrows);
        shapes
    }
}

fn arrow<'g>(from: &str, to: &str, kind: Arrow) -> Shape<'g> {
    Shape::Arrow {
        from: from.to_owned(),
        to: to.to_owned(),
        kind,
    }
}

#[cfg(test)]
mod tests;
