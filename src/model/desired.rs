//! The desired state as the planner sees it: one environment, keys with their namespace,
//! defaults filled in, no spans. Built from a validated [`Topology`].

use std::collections::{BTreeMap, HashMap};

use compact_str::CompactString;
use sha2::{Digest, Sha256};

use crate::number::push_decimal;
use crate::small_map::SmallMap;

use super::health::{HealthRules, HeartbeatRule, Levels, StreamRules};
use super::secrets::{Hashed, Secrets};
use super::types::{Access, Keys, Retention, Sp, StartId, Stream, Topology, User, UserNames};

/// What one environment of a topology declares, ready to compare with a live server.
/// A digest computed once, when first asked ([`Desired::digest`]). Always equal to another:
/// it follows from the rest of the desired state, which equality compares.
#[derive(Clone, Default)]
pub struct LazyDigest(std::sync::OnceLock<String>);

impl LazyDigest {
    /// A digest given, not computed (tests of the planner).
    pub fn known(digest: &str) -> LazyDigest {
        LazyDigest(std::sync::OnceLock::from(digest.to_owned()))
    }
}

impl PartialEq for LazyDigest {
    fn eq(&self, _: &LazyDigest) -> bool {
        true
    }
}

impl std::fmt::Debug for LazyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get().map_or("(not computed)", String::as_str))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub namespace: String,
    /// `None` for a file without environments.
    pub environment: Option<String>,
    /// Streams by full key (`<namespace>:<name>`), sorted.
    pub streams: BTreeMap<String, DesiredStream>,
    /// sha256 of the canonical form of everything above: what the record remembers as
    /// "last applied" (see [`Desired::digest`]).
    pub digest: LazyDigest,
    /// ACL users by name, sorted.
    pub users: BTreeMap<String, DesiredUser>,
    /// What `status` checks (`health` and `dlq_of`); nothing to apply, not in the digest.
    pub health: HealthRules,
}

/// An ACL user as `ACL SETUSER <name> reset <rules>` will write it.
#[derive(Clone, PartialEq)]
pub struct DesiredUser {
    pub enabled: bool,
    pub nopass: bool,
    /// The sha256 of each password, in declared order, resolved from `env`, `file` or
    /// `sha256` when plan or apply loads the file. Never printed (see the `Debug` below).
    pub password_hashes: Vec<String>,
    /// Passwords whose source is missing (`plan` without the variables: see
    /// [`crate::model::secrets::Missing`]), each as why; then `password_hashes` holds only the
    /// others, and the user's passwords are not compared.
    pub unknown_passwords: Vec<String>,
    /// Key rules with the (escaped) namespace: `%R~<ns>:p`, `%W~<ns>:p`, `~<ns>:p`, as declared.
    pub keys: Vec<String>,
    /// Channel rules with the (escaped) namespace: `&<ns>:p`.
    pub channels: Vec<String>,
    /// Command rules as declared.
    pub commands: Vec<String>,
    /// One ACL selector per `access` block, in declared order.
    pub selectors: Vec<DesiredSelector>,
}

/// An `access` block as the selector `(<keys> <channels> <commands>)` that writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredSelector {
    /// Key rules with the (escaped) namespace, as for the user's own keys.
    pub keys: Vec<String>,
    /// Channel rules with the (escaped) namespace.
    pub channels: Vec<String>,
    /// The preset's command rules, then the block's own, in that order.
    pub commands: Vec<String>,
    /// The preset the commands came from, shown in plans next to its expansion.
    pub preset: Option<&'static str>,
}

impl DesiredSelector {
    /// The selector as one `ACL SETUSER` argument: `(%R~ns:a ~ns:b &ns:c +cmd ...)`.
    pub fn rule(&self) -> String {
        self.rule_with(false)
    }

    /// [`DesiredSelector::rule`], starting with `resetchannels` when asked: a new selector
    /// gets `&*` on a server whose `acl-pubsub-default` is `allchannels`.
    pub fn rule_with(&self, reset_channels: bool) -> String {
        let words: Vec<&str> = reset_channels
            .then_some("resetchannels")
            .into_iter()
            .chain(self.keys.iter().map(String::as_str))
            .chain(self.channels.iter().map(String::as_str))
            .chain(self.commands.iter().map(String::as_str))
            .collect();
        format!("({})", words.join(" "))
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": self.keys,
            "channels": self.channels,
            "commands": self.commands,
            "preset": self.preset,
        })
    }
}

impl std::fmt::Debug for DesiredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredUser")
            .field("enabled", &self.enabled)
            .field("nopass", &self.nopass)
            .field("password_hashes", &crate::acl::SENSITIVE)
            .field("unknown_passwords", &self.unknown_passwords)
            .field("keys", &self.keys)
            .field("channels", &self.channels)
            .field("commands", &self.commands)
            .field("selectors", &self.selectors)
            .finish()
    }
}

impl DesiredUser {
    /// The user as plans and diffs show it: passwords as `(sensitive value)`, never a hash.
    pub fn summary(&self) -> serde_json::Value {
        let mut summary = serde_json::json!({
            "enabled": self.enabled,
            "nopass": self.nopass,
            "passwords": vec![crate::acl::SENSITIVE; self.password_hashes.len() + self.unknown_passwords.len()],
            "keys": self.keys,
            "channels": self.channels,
            "commands": self.commands,
        });
        // Only when declared: plans of users without `access` look as they always did.
        if !self.selectors.is_empty() {
            summary["access"] = self
                .selectors
                .iter()
                .map(DesiredSelector::summary)
                .collect();
        }
        summary
    }

    fn from_user(
        name: &str,
        user: &User,
        namespace: &str,
        secrets: &Secrets,
    ) -> Result<DesiredUser, String> {
        let mut password_hashes = Vec::new();
        let mut unknown_passwords = Vec::new();
        for password in user.passwords.iter().flatten() {
            match secrets.read(name, &password.value)? {
                Hashed::Known(hash) => password_hashes.push(hash),
                Hashed::NotKnown(why) => unknown_passwords.push(why),
            }
        }
        Ok(DesiredUser {
            enabled: user.enabled.as_ref().is_none_or(|e| e.value),
            nopass: user.nopass.as_ref().is_some_and(|n| n.value),
            password_hashes,
            unknown_passwords,
            keys: key_rules(namespace, user.keys.as_ref()),
            channels: channel_rules(namespace, user.channels.as_deref()),
            commands: texts(user.commands.as_deref()),
            selectors: user
                .access
                .iter()
                .flatten()
                .map(|block| DesiredSelector::from_access(&block.value, namespace))
                .collect(),
        })
    }
}

impl DesiredSelector {
    fn from_access(block: &Access, namespace: &str) -> DesiredSelector {
        let preset = block.preset.as_ref().map(|p| p.value);
        let mut commands: Vec<String> = preset
            .iter()
            .flat_map(|p| p.commands())
            .map(|c| (*c).to_owned())
            .collect();
        commands.extend(texts(block.commands.as_deref()));
        DesiredSelector {
            keys: key_rules(namespace, block.keys.as_ref()),
            channels: channel_rules(namespace, block.channels.as_deref()),
            commands,
            preset: preset.map(|p| p.name()),
        }
    }
}

/// `%R~<ns>:p`, `%W~<ns>:p`, `~<ns>:p` for declared key patterns: read, write, readwrite.
fn key_rules(namespace: &str, keys: Option<&Sp<Keys>>) -> Vec<String> {
    let Some(Keys {
        read,
        write,
        readwrite,
    }) = keys.map(|k| &k.value)
    else {
        return Vec::new();
    };
    [
        relative_rules(namespace, "%R~", read),
        relative_rules(namespace, "%W~", write),
        relative_rules(namespace, "~", readwrite),
    ]
    .concat()
}

fn channel_rules(namespace: &str, channels: Option<&[Sp<String>]>) -> Vec<String> {
    relative_rules(namespace, "&", channels.unwrap_or_default())
}

fn relative_rules(namespace: &str, prefix: &str, patterns: &[Sp<String>]) -> Vec<String> {
    patterns
        .iter()
        .map(|p| format!("{prefix}{}", acl_pattern(namespace, &p.value)))
        .collect()
}

fn texts(items: Option<&[Sp<String>]>) -> Vec<String> {
    items
        .unwrap_or_default()
        .iter()
        .map(|c| c.value.clone())
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredStream {
    /// The name as written (relative to the namespace).
    pub name: CompactString,
    pub retention: DesiredRetention,
    /// Groups by name, sorted.
    pub groups: SmallMap<CompactString, DesiredGroup>,
    /// The message schema its entries follow (for reviews; nothing to apply).
    pub schema: Option<String>,
    /// The users that write it (`producers`), by their server names (with `acl.user_names`),
    /// as declared; nothing to apply, and not part of the digest.
    pub producers: Vec<String>,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredGroup {
    pub start: StartId,
    pub entries_read: Option<u64>,
    /// The users whose clients read in this group (`consumers`), by their server names, as
    /// declared; nothing to apply, and not part of the digest.
    pub consumers: Vec<String>,
}

impl DesiredGroup {
    /// Whether creating the group would differ: what Redis is told at creation.
    pub fn same_creation(&self, other: &DesiredGroup) -> bool {
        self.start == other.start && self.entries_read == other.entries_read
    }
}

/// The full key of a name in a namespace (`""` means no prefix).
pub fn key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        // `concat`, not `format!`: one allocation of the right size (10,000 keys a load).
        [namespace, ":", name].concat()
    }
}

/// An ACL key or channel pattern written relative to the namespace, as Redis gets it: the
/// namespace escaped (it is a literal prefix, and `\`, `*`, `?`, `[`, `]` are special in Redis
/// globs: namespace `pro\j` unescaped would match key `proj:s`), the pattern as written.
pub fn acl_pattern(namespace: &str, pattern: &str) -> String {
    key(&crate::glob::escape(namespace), pattern)
}

impl Desired {
    /// The desired state of a topology that passed validation. Passwords are resolved here
    /// (environment variables and files are read by plan and apply, never by validate); `Err`
    /// says, per user, which source is missing, without any secret.
    pub fn from_topology(
        topology: &Topology,
        environment: Option<&str>,
        secrets: &Secrets,
    ) -> Result<Desired, Vec<String>> {
        let names = user_names(topology);
        let streams = topology
            .streams
            .iter()
            .flat_map(|s| s.iter())
            .map(|(name, stream)| {
                desired_stream(&topology.namespace.value, names, name.value.clone(), stream)
            })
            .collect();
        let health = health_rules(topology, &topology.namespace.value);
        Self::with_streams(topology, streams, health, environment, secrets)
    }

    /// [`Desired::from_topology`] of a topology no longer needed: each stream of the model is
    /// dropped as soon as its desired state is built, so that the two are never both whole in
    /// memory (at 100,000 streams the model's streams take about 80 MB).
    pub fn from_owned_topology(
        mut topology: Topology,
        environment: Option<&str>,
        secrets: &Secrets,
    ) -> Result<Desired, Vec<String>> {
        // Health rules read the streams' thresholds: taken before the streams are.
        let health = health_rules(&topology, &topology.namespace.value);
        let declared = topology.streams.take().unwrap_or_default();
        let names = user_names(&topology);
        let streams = declared
            .entries
            .into_iter()
            .map(|(name, stream)| {
                desired_stream(&topology.namespace.value, names, name.value, &stream)
            })
            .collect();
        Self::with_streams(&topology, streams, health, environment, secrets)
    }

    /// The rest of the desired state, beside its streams and health rules.
    fn with_streams(
        topology: &Topology,
        streams: BTreeMap<String, DesiredStream>,
        health: HealthRules,
        environment: Option<&str>,
        secrets: &Secrets,
    ) -> Result<Desired, Vec<String>> {
        let namespace = topology.namespace.value.clone();
        let names = user_names(topology);
        let mut users = BTreeMap::new();
        let mut problems = Vec::new();
        let declared = topology.acl.as_ref().and_then(|a| a.users.as_ref());
        for (name, user) in declared.iter().flat_map(|u| u.iter()) {
            let name = server_name(names, &name.value);
            match DesiredUser::from_user(&name, user, &namespace, secrets) {
                Ok(desired) => {
                    users.insert(name, desired);
                }
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let desired = Desired {
            namespace,
            environment: environment.map(str::to_owned),
            streams,
            digest: LazyDigest::default(),
            users,
            health,
        };
        Ok(desired)
    }

    /// The digest of the declarations, computed when first asked: plan and apply need it,
    /// `validate` and `status` do not (at 100,000 streams it is tens of milliseconds).
    pub fn digest(&self) -> &str {
        self.digest.0.get_or_init(|| self.compute_digest())
    }

    /// A stable digest (`health` is not in it: nothing of it is applied): the same declarations give the same digest whatever the file's
    /// layout, comments or key order.
    fn compute_digest(&self) -> String {
        // One reused buffer: this runs over every stream of large topologies.
        let mut line = String::with_capacity(128);
        let mut hasher = Sha256::new();
        hasher.update(format!("ns={}\n", self.namespace));
        for (key, stream) in &self.streams {
            line.clear();
            write_digest_lines(&mut line, key, stream);
            hasher.update(line.as_bytes());
        }
        // Users with how many passwords they have, not the passwords' hashes: the digest is
        // stored in saved plans and in the record, which services can read, and with the
        // topology file in hand a digest over the hashes lets anyone test password guesses
        // offline. A password changed between plan and apply is still caught: the saved
        // plan's user rewrites (or their absence) no longer match a fresh plan's.
        for (name, user) in &self.users {
            // Selectors only when declared, so that the digests of files without `access`
            // (in records and saved plans) stay what they were.
            let selectors: Vec<String> = user.selectors.iter().map(|s| s.rule()).collect();
            let selectors = if selectors.is_empty() {
                String::new()
            } else {
                format!(" selectors={selectors:?}")
            };
            hasher.update(format!(
                "user={name} on={} nopass={} passwords={} keys={:?} channels={:?} commands={:?}{selectors}\n",
                user.enabled,
                user.nopass,
                user.password_hashes.len() + user.unknown_passwords.len(),
                user.keys,
                user.channels,
                user.commands
            ));
        }
        hex(&hasher.finalize())
    }
}

/// A stream's lines of the digest's text, appended to `line`:
/// `stream=<key> maxlen=<Option> max_age=<Option> approx=<bool>`, then per group
/// `group=<name> start=<start> entries_read=<Option>`, each ending with a newline and each
/// `Option` as `Debug` writes it (`Some(1000)`, `None`): the text digests in records and
/// saved plans were made of. Written without the formatting machinery: at 10,000 streams
/// the formatted version took ~6 ms of a no-op plan's critical path.
fn write_digest_lines(line: &mut String, key: &str, stream: &DesiredStream) {
    let r = stream.retention;
    line.push_str("stream=");
    line.push_str(key);
    line.push_str(" maxlen=");
    push_option(line, r.maxlen);
    line.push_str(" max_age=");
    push_option(line, r.max_age_ms);
    line.push_str(if r.approximate {
        " approx=true\n"
    } else {
        " approx=false\n"
    });
    for (name, group) in &stream.groups {
        line.push_str("group=");
        line.push_str(name);
        line.push_str(" start=");
        group.start.write_redis_arg(line);
        line.push_str(" entries_read=");
        push_option(line, group.entries_read);
        line.push('\n');
    }
}

/// An `Option<u64>` as `Debug` writes it.
fn push_option(line: &mut String, value: Option<u64>) {
    match value {
        Some(n) => {
            line.push_str("Some(");
            push_decimal(line, n);
            line.push(')');
        }
        None => line.push_str("None"),
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `acl.user_names`, the rule that gives declared users their names on the server.
fn user_names(topology: &Topology) -> Option<&Sp<UserNames>> {
    topology.acl.as_ref().and_then(|a| a.user_names.as_ref())
}

/// A declared user's name on the server (`acl.user_names`). Users are known by their server
/// names from the desired state on.
fn server_name(names: Option<&Sp<UserNames>>, declared: &str) -> String {
    names.map_or_else(|| declared.to_owned(), |n| n.value.server_name(declared))
}

fn server_names(names: Option<&Sp<UserNames>>, users: &Option<Vec<Sp<String>>>) -> Vec<String> {
    users
        .iter()
        .flatten()
        .map(|u| server_name(names, &u.value))
        .collect()
}

/// One stream's desired state, under its key.
fn desired_stream(
    namespace: &str,
    names: Option<&Sp<UserNames>>,
    name: String,
    stream: &Stream,
) -> (String, DesiredStream) {
    let groups = stream
        .groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|(group, g)| {
            let desired = DesiredGroup {
                start: g.start.as_ref().map_or(StartId::Last, |s| s.value),
                entries_read: g.entries_read.as_ref().map(|e| e.value),
                consumers: server_names(names, &g.consumers),
            };
            (group.value.as_str().into(), desired)
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
    let stream_key = key(namespace, &name);
    let desired = DesiredStream {
        name: name.into(),
        retention,
        groups,
        schema: stream.schema.as_ref().map(|s| s.value.clone()),
        producers: server_names(names, &stream.producers),
    };
    (stream_key, desired)
}

/// The `health` declarations and `dlq_of` links, by stream key; streams that declare
/// neither (nor groups that do) take no room.
fn health_rules(topology: &Topology, namespace: &str) -> HealthRules {
    let mut rules = HealthRules {
        top: HealthRules::resolved(topology.health.as_ref()),
        heartbeats: topology
            .heartbeats
            .iter()
            .flat_map(|h| h.iter())
            .map(|(name, heartbeat)| HeartbeatRule {
                name: name.value.clone(),
                // The namespace is a literal part of the pattern; the rest is the user's glob.
                pattern: key(&crate::glob::escape(namespace), &heartbeat.keys.value),
                instances: heartbeat.instances.as_ref().map(Levels::from),
            })
            .collect(),
        ..HealthRules::default()
    };
    rules.heartbeats.sort_by(|a, b| a.name.cmp(&b.name));
    for (name, stream) in topology.streams.iter().flat_map(|s| s.iter()) {
        if stream.durable.as_ref().is_some_and(|d| d.value) {
            rules.durable.push(key(namespace, &name.value));
        }
        let groups: HashMap<String, Vec<_>> = stream
            .groups
            .iter()
            .flat_map(|g| g.iter())
            .filter(|(_, g)| g.health.is_some())
            .map(|(group, g)| {
                (
                    group.value.clone(),
                    HealthRules::resolved(g.health.as_deref()),
                )
            })
            .collect();
        if stream.health.is_none() && stream.dlq_of.is_none() && groups.is_empty() {
            continue;
        }
        let own = StreamRules {
            own: HealthRules::resolved(stream.health.as_deref()),
            groups,
            dlq_of: stream.dlq_of.as_ref().map(|d| key(namespace, &d.value)),
        };
        rules.streams.insert(key(namespace, &name.value), own);
    }
    rules
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::*;

    /// The digest's lines as they were first written, with the formatting machinery (the
    /// start as `StartId::as_redis_arg` first wrote it): the digests in records and saved
    /// plans were made of this text.
    fn formatted_lines(key: &str, stream: &DesiredStream) -> String {
        let r = stream.retention;
        let mut line = String::new();
        let _ = writeln!(
            line,
            "stream={key} maxlen={:?} max_age={:?} approx={}",
            r.maxlen, r.max_age_ms, r.approximate
        );
        for (name, group) in &stream.groups {
            let start = match group.start {
                StartId::Last => "$".to_owned(),
                StartId::Id { ms: 0, seq: 0 } => "0".to_owned(),
                StartId::Id { ms, seq } => format!("{ms}-{seq}"),
            };
            let _ = writeln!(
                line,
                "group={name} start={start} entries_read={:?}",
                group.entries_read
            );
        }
        line
    }

    fn start() -> impl Strategy<Value = StartId> {
        prop_oneof![
            Just(StartId::Last),
            Just(StartId::Id { ms: 0, seq: 0 }),
            (any::<u64>(), any::<u64>()).prop_map(|(ms, seq)| StartId::Id { ms, seq }),
        ]
    }

    proptest! {
        /// Written without the formatting machinery, a stream's lines are the text the
        /// digests of records and saved plans were made of.
        #[test]
        fn digest_lines_are_the_formatted_text(
            key in "[a-z:{}]{1,20}",
            maxlen in any::<Option<u64>>(),
            max_age_ms in any::<Option<u64>>(),
            approximate in any::<bool>(),
            groups in proptest::collection::vec(("[a-z-]{1,12}", start(), any::<Option<u64>>()), 0..4),
        ) {
            let stream = DesiredStream {
                name: key.as_str().into(),
                retention: DesiredRetention { maxlen, max_age_ms, approximate },
                groups: groups
                    .into_iter()
                    .map(|(name, start, entries_read)| {
                        (name.into(), DesiredGroup { start, entries_read, consumers: Vec::new() })
                    })
                    .collect(),
                schema: None,
                producers: Vec::new(),
            };
            let mut written = String::new();
            write_digest_lines(&mut written, &key, &stream);
            prop_assert_eq!(written, formatted_lines(&key, &stream));
        }
    }
}
