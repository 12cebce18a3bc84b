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
                    let listed =
                        declared.consumers.is_empty() || declared.consumers.iter().any(|c| c == name);
                    if listed && may(user, &["xreadgroup"], READ) {
                        consumers.insert(*name);
                        graph.edges.insert(Edge::Consumes {
                            stream: stream.name.clone(),
                            group: group.clone(),
                            user: (*name).to_owned(),
                        });
                    }
                }
            }
            for (name, user) in &users {
                if may(user, &["xadd"], WRITE) {
                    graph.edges.insert(Edge::Writes {
                        user: (*name).to_owned(),
                        stream: stream.name.clone(),
                    });
                }
                if !consumers.contains(name) && may(user, READS_OUTSIDE_GROUPS, READ) {
                    graph.edges.insert(Edge::Reads {
                        stream: stream.name.clone(),
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
                .map(|of| of.name.clone());
            if let Some(of) = &dlq_of {
                graph.edges.insert(Edge::DeadLetters {
                    stream: of.clone(),
                    dlq: stream.name.clone(),
                });
            }
            graph.streams.push(StreamNode {
                name: stream.name.clone(),
                groups: stream.groups.iter().map(|(g, _)| g.clone()).collect(),
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

/// Node identifiers for renderers: `s1`, `s2`, ... for streams, `g1`, ... for groups and
/// `u1`, ... for users, numbered in sorted order. Names never become identifiers (they come
/// from a file someone wrote): they are only ever labels, escaped by each renderer.
#[derive(Debug, Default)]
pub struct Ids<'g> {
    pub streams: BTreeMap<&'g str, String>,
    pub groups: BTreeMap<(&'g str, &'g str), String>,
    pub users: BTreeMap<&'g str, String>,
}

impl<'g> Ids<'g> {
    pub fn of(graph: &'g Graph) -> Ids<'g> {
        let mut ids = Ids::default();
        for (i, stream) in graph.streams.iter().enumerate() {
            ids.streams.insert(&stream.name, format!("s{}", i + 1));
        }
        let groups = graph
            .streams
            .iter()
            .flat_map(|s| s.groups.iter().map(move |g| (s.name.as_str(), g.as_str())));
        for (i, group) in groups.enumerate() {
            ids.groups.insert(group, format!("g{}", i + 1));
        }
        for (i, user) in graph.users.iter().enumerate() {
            ids.users.insert(user, format!("u{}", i + 1));
        }
        ids
    }

    /// One edge as (from, to) identifiers; `None` only for an edge naming a node the graph
    /// does not have (never made by [`Graph::of`]).
    pub fn ends<'s>(&'s self, edge: &'s Edge) -> Option<(&'s str, &'s str)> {
        let stream = |name: &str| -> Option<&'s str> { self.streams.get(name).map(String::as_str) };
        let user = |name: &str| -> Option<&'s str> { self.users.get(name).map(String::as_str) };
        Some(match edge {
            Edge::Writes { user: u, stream: s } => (user(u)?, stream(s)?),
            Edge::Consumes {
                stream: s,
                group,
                user: u,
            } => (
                self.groups.get(&(s.as_str(), group.as_str()))?.as_str(),
                user(u)?,
            ),
            Edge::Reads { stream: s, user: u } => (stream(s)?, user(u)?),
            Edge::DeadLetters { stream: s, dlq } => (stream(s)?, stream(dlq)?),
        })
    }

    /// Each group's identifier with its stream's: the stream → group edges.
    pub fn group_edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.groups
            .iter()
            .filter_map(|((stream, _), group)| Some((self.streams.get(stream)?.as_str(), group.as_str())))
    }
}

#[cfg(test)]
mod tests;
