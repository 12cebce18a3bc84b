//! ACL users: create, update when the permissions differ in meaning, adopt an existing user
//! that no topology manages, delete (only recorded users, only with `--prune`).
//!
//! Each user is written with one `ACL SETUSER <name> reset <rules>`, atomic in Redis (a bad
//! rule leaves the user unchanged), rules in a fixed order: on/off, passwords, keys,
//! channels, commands, then one selector per `access` block. Passwords appear in plans only
//! as [`HASH_PLACEHOLDER`]; the applier puts the hashes in when it sends the command.
//!
//! Never touched: the user the tool is connected as (changing it can lock the tool out
//! mid-apply: Redis applies a user's new rules to its open connections at once) and the
//! replication user.
//!
//! `default`, the server's own user (what a client that does not authenticate is), is
//! touched only when declared, and never deleted (Redis cannot delete it: `--prune` only
//! stops managing it). A server has one, shared by every namespace on it, so the registry
//! gives it one owner like any user; another namespace may declare it too, as long as its
//! declaration matches the server: it is then left to its owner, not recorded here.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Action, Change, Draft, Kind, Op, Options, Refusal, State};
use crate::acl::{
    Catalog, HASH_PLACEHOLDER, Permissions, SENSITIVE, Selector, channel_patterns, key_permissions,
};
use crate::live::{LiveAcl, LiveState, LiveUser};
use crate::model::desired::{Desired, DesiredSelector, DesiredUser};
use crate::model::types::DEFAULT_USER;

/// What a declared user may do, against this server's command catalog.
pub fn desired_permissions(user: &DesiredUser, catalog: &Catalog) -> Result<Permissions, String> {
    permissions_with(user, |rules| catalog.allowed(rules))
}

/// What a declared user may do, its command rules expanded offline as `validate`'s lints
/// expand them ([`Catalog::allowed_offline`] with Redis 7.0's categories: a command the table
/// does not know stands for itself): for what reads a topology without a server (`graph`).
pub fn offline_permissions(user: &DesiredUser) -> Permissions {
    let catalog = Catalog::redis_7_0();
    let expanded = permissions_with(user, |rules| {
        Ok::<_, String>(catalog.allowed_offline(rules.iter().map(String::as_str)))
    });
    expanded.unwrap_or_default()
}

/// A declared user's permissions, each rule set's commands expanded by `allowed`.
fn permissions_with(
    user: &DesiredUser,
    allowed: impl Fn(&[String]) -> Result<BTreeSet<String>, String>,
) -> Result<Permissions, String> {
    Ok(Permissions {
        enabled: user.enabled,
        nopass: user.nopass,
        password_hashes: user.password_hashes.iter().cloned().collect(),
        keys: key_permissions(user.keys.iter().map(String::as_str)),
        channels: channel_patterns(user.channels.iter().map(String::as_str)),
        commands: allowed(&user.commands)?,
        selectors: user
            .selectors
            .iter()
            .enumerate()
            .map(|(i, s)| {
                selector_permissions(s, &allowed)
                    .map_err(|why| format!("access block {}: {why}", i + 1))
            })
            .collect::<Result<_, _>>()?,
        // Every database, no unmanaged flag or field: what `reset` leaves.
        ..Permissions::default()
    })
}

/// What one `access` block allows, as its selector will.
fn selector_permissions(
    selector: &DesiredSelector,
    allowed: &impl Fn(&[String]) -> Result<BTreeSet<String>, String>,
) -> Result<Selector, String> {
    Ok(Selector {
        keys: key_permissions(selector.keys.iter().map(String::as_str)),
        channels: channel_patterns(selector.channels.iter().map(String::as_str)),
        commands: allowed(&selector.commands)?,
        // Every database, no unmanaged field: what a new selector has.
        ..Selector::default()
    })
}

/// `ACL SETUSER <name> reset <rules>`, with placeholders for the password hashes (see
/// [`rules`]).
pub fn setuser(name: &str, user: &DesiredUser, reset_channels: bool) -> Op {
    Op::SetUser {
        name: name.to_owned(),
        rules: rules(user, reset_channels),
        nodes: None,
    }
}

/// The rules that write a declared user after `reset` (or onto a new user: what
/// `export aclfile` writes after `user <name>`), one [`HASH_PLACEHOLDER`] per password
/// ([`fill_hashes`] puts the hashes in).
/// `reset_channels`: the server's `acl-pubsub-default` may be `allchannels`, where `reset`,
/// and each new selector, would give the user `&*`; the rules then start with
/// `resetchannels` (the root's and each selector's), so the user gets exactly its declared
/// channels.
pub fn rules(user: &DesiredUser, reset_channels: bool) -> Vec<String> {
    let mut rules = Vec::new();
    if reset_channels {
        rules.push("resetchannels".to_owned());
    }
    rules.push(if user.enabled { "on" } else { "off" }.to_owned());
    if user.nopass {
        rules.push("nopass".to_owned());
    }
    // One placeholder per declared password, read or not: a plan made without the
    // password variables shows the command apply sends with them.
    rules.extend(std::iter::repeat_n(
        HASH_PLACEHOLDER.to_owned(),
        user.password_hashes.len() + user.unknown_passwords.len(),
    ));
    rules.extend(user.keys.iter().cloned());
    rules.extend(user.channels.iter().cloned());
    rules.extend(user.commands.iter().cloned());
    // After the root rules, as `ACL LIST` prints them; `reset` cleared the old selectors.
    rules.extend(user.selectors.iter().map(|s| s.rule_with(reset_channels)));
    rules
}

/// `words` (a user's rules, or the whole `ACL SETUSER` command) with each password
/// placeholder replaced by the next of `hashes`, as `#<sha256>`: what apply sends, and what
/// `export aclfile` writes. A placeholder without a hash is left as it is (apply refuses such
/// a plan before sending anything; export refuses to write it).
pub fn fill_hashes(words: Vec<String>, hashes: &[String]) -> Vec<String> {
    let mut hashes = hashes.iter();
    words
        .into_iter()
        .map(|word| {
            let hash = (word == HASH_PLACEHOLDER).then(|| hashes.next()).flatten();
            hash.map_or(word, |h| format!("#{h}"))
        })
        .collect()
}

/// What the declared user may do, compared with the live one: when some of its passwords
/// could not be read (plan without the variables), its passwords are taken as the server's,
/// so that everything else is compared and the passwords are not (a note says so).
fn wanted(
    user: &DesiredUser,
    live_user: Option<&LiveUser>,
    catalog: &Catalog,
) -> Result<Permissions, String> {
    let mut wanted = desired_permissions(user, catalog)?;
    if let Some(live_user) = live_user.filter(|_| !user.unknown_passwords.is_empty()) {
        wanted.password_hashes = live_user.password_hashes.iter().cloned().collect();
    }
    Ok(wanted)
}

/// Problems that stop the plan before anything is written: a user managed by another
/// namespace, a rule this server does not know, a change to the tool's own user.
pub fn refusals(desired: &Desired, live: &LiveState, options: Options) -> Vec<Refusal> {
    let Some(acl) = live.acl() else {
        return Vec::new();
    };
    let mut refusals = Vec::new();
    for (name, user) in &desired.users {
        let owner = acl.owners.get(name).filter(|o| **o != desired.namespace);
        if let Some(owner) = owner.filter(|_| name != DEFAULT_USER) {
            refusals.push(Refusal::UserOfAnotherNamespace {
                name: name.clone(),
                owner: owner.clone(),
                environment: desired.environment.clone(),
            });
            continue;
        }
        let wanted = match wanted(user, acl.users.get(name), &acl.catalog) {
            Ok(wanted) => wanted,
            Err(why) => {
                refusals.push(Refusal::UnknownRules {
                    name: name.clone(),
                    why,
                });
                continue;
            }
        };
        let changes = acl
            .users
            .get(name)
            .is_none_or(|live_user| !differences(live_user, &wanted, &acl.catalog).is_empty())
            || !differing_nodes(live, name, user).is_empty();
        if let Some(owner) = owner {
            // `default`, managed elsewhere: fine while this declaration asks for no change.
            if changes {
                refusals.push(Refusal::DefaultUserDiffers {
                    owner: owner.clone(),
                });
            }
            continue;
        }
        if changes && let Some(why) = protected_anywhere(name, live) {
            refusals.push(Refusal::Lockout {
                name: name.clone(),
                why,
            });
        }
    }
    if options.prune {
        // `default` is never deleted (Redis cannot): prune only stops managing it.
        for name in undeclared(desired, live).filter(|n| n != DEFAULT_USER) {
            if let Some(why) = protected_anywhere(&name, live) {
                refusals.push(Refusal::PruneLockout { name, why });
            }
        }
    }
    refusals
}

/// Whether the declared `name` is left to the namespace that manages it: `default`, declared
/// here as it already is, registered to another namespace (refusals checked the rest).
pub fn left_to_its_owner(desired: &Desired, live: &LiveState, name: &str) -> bool {
    name == DEFAULT_USER
        && live
            .acl()
            .and_then(|acl| acl.owners.get(name))
            .is_some_and(|owner| *owner != desired.namespace)
}

/// Why a user must not be changed on some node, if it must not: the user the tool is
/// connected as, or a node's replication user (a replica's `masteruser` is how it
/// authenticates to its primary).
fn protected_anywhere(name: &str, live: &LiveState) -> Option<&'static str> {
    live.nodes
        .iter()
        .filter_map(|node| node.acl.as_ref())
        .find_map(|acl| protected(name, acl))
}

/// Why a user must not be changed by this apply, if it must not.
fn protected(name: &str, acl: &LiveAcl) -> Option<&'static str> {
    if name == acl.whoami {
        Some("is the user this tool is connected as")
    } else if acl.masteruser.as_deref() == Some(name) {
        Some("is the server's replication user (masteruser)")
    } else {
        None
    }
}

/// How a live user differs from the permissions wanted, in lines for people.
fn differences(live: &LiveUser, wanted: &Permissions, catalog: &Catalog) -> Vec<String> {
    match live.permissions(catalog) {
        Ok(current) => current
            .differences(wanted)
            .into_iter()
            .map(|d| format!("{}: {}", d.field, d.text))
            .collect(),
        Err(why) => vec![format!("commands: cannot read the server's rules ({why})")],
    }
}

/// Recorded users the file no longer declares.
fn undeclared<'a>(desired: &'a Desired, live: &'a LiveState) -> impl Iterator<Item = String> + 'a {
    live.record
        .iter()
        .flat_map(|r| &r.users)
        .filter(|name| !desired.users.contains_key(*name))
        .cloned()
}

/// Whether a live user lets in anyone, with commands: `on` and `nopass`, not `-@all`.
fn is_open(user: &LiveUser, catalog: &Catalog) -> bool {
    user.has_flag("on")
        && user.has_flag("nopass")
        && user
            .permissions(catalog)
            .map_or(true, |p| !p.commands.is_empty())
}

/// Add the user changes to the plan. Returns the recorded users that stay managed though
/// undeclared (no `--prune`).
pub(super) fn plan(
    desired: &Desired,
    live: &LiveState,
    options: Options,
    plan: &mut Draft<'_>,
) -> BTreeSet<String> {
    let Some(acl) = live.acl() else {
        return BTreeSet::new();
    };
    let recorded = |name: &str| live.record.as_ref().is_some_and(|r| r.users.contains(name));
    // Held until `persist` has added each phase's `ACL SAVE` to the last user change.
    plan.held = true;
    let first = plan.changes.len();
    for (name, user) in &desired.users {
        let live_user = acl.users.get(name);
        if left_to_its_owner(desired, live, name) {
            if let Some(owner) = acl.owners.get(name) {
                plan.notes.push(format!(
                    "ACL user `{name}` is managed by the topology of namespace `{}` and already matches this declaration: left to it",
                    crate::text::untrusted(owner)
                ));
            }
            continue;
        }
        if let Some(why) = user.unknown_passwords.first() {
            plan.notes.push(format!(
                "the passwords of ACL user `{name}` were not compared with the server's ({why}{}): plan compares everything else; apply reads them",
                match user.unknown_passwords.len() {
                    1 => String::new(),
                    n => format!(", and {} more", n - 1),
                }
            ));
        }
        // Refusals were checked first: the permissions are known to resolve.
        let Ok(wanted) = wanted(user, live_user, &acl.catalog) else {
            continue;
        };
        let details = live_user.map_or_else(Vec::new, |l| differences(l, &wanted, &acl.catalog));
        let adopted = live_user.is_some() && !recorded(name);
        let elsewhere = differing_nodes(live, name, user);
        if live_user.is_some() && details.is_empty() && !adopted && elsewhere.is_empty() {
            continue;
        }
        let mut ops = Vec::new();
        if live_user.is_none() || !details.is_empty() || !elsewhere.is_empty() {
            let reset_channels = live
                .nodes
                .iter()
                .filter_map(|n| n.acl.as_ref())
                .any(|a| a.pubsub_default_all != Some(false));
            ops.push(setuser(name, user, reset_channels));
        }
        let reason = match (live_user, adopted, details.is_empty()) {
            (None, _, _) => "declared, does not exist".to_owned(),
            (Some(_), true, true) => "adopted: exists and matches; from now on managed by this topology".to_owned(),
            (Some(_), true, false) => "adopted: exists, managed by no topology, and differs; rewritten and from now on managed".to_owned(),
            (Some(_), false, true) => format!(
                "differs on {} of the {} nodes (ACL users are per node and never replicated)",
                elsewhere.len(),
                live.nodes.len()
            ),
            (Some(_), false, false) => "differs from the topology (compared on permissions, not on rule order)".to_owned(),
        };
        let first_needs = live_user.is_none() || !details.is_empty();
        let (details, ops) = per_node(live, (details, first_needs), &elsewhere, ops);
        plan.push(Change {
            address: format!("user.{name}"),
            kind: Kind::User,
            action: if live_user.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            destructive: false,
            before: live_user.map(|u| State::of(&live_summary(u))),
            after: Some(State::of(&user.summary())),
            extra: ops,
            reason: reason.into(),
            details,
        });
    }
    let mut kept = BTreeSet::new();
    for name in undeclared(desired, live) {
        let Some(live_user) = acl.users.get(&name) else {
            continue; // gone already: dropped from the record
        };
        if name == DEFAULT_USER {
            default_undeclared(options, plan, &mut kept);
            continue;
        }
        if options.prune {
            plan.push(Change {
                address: format!("user.{name}"),
                kind: Kind::User,
                action: Action::Delete,
                destructive: true,
                before: Some(State::of(&live_summary(live_user))),
                after: None,
                extra: vec![Op::DeleteUser { name: name.clone() }],
                reason: "no longer declared (--prune): deleted, and its connections closed".into(),
                details: Vec::new(),
            });
        } else {
            plan.notes.push(format!(
                "ACL user `{name}` is no longer declared; kept. `apply --prune` deletes it"
            ));
            kept.insert(name);
        }
    }
    if !desired.users.contains_key(DEFAULT_USER)
        && let Some(default) = acl.users.get(DEFAULT_USER)
        && is_open(default, &acl.catalog)
    {
        plan.notes.push(format!(
            "ACL user `{DEFAULT_USER}` is open on this server (on, nopass, with commands) and this topology does not declare it: any client that does not authenticate gets it. Declare it (`{DEFAULT_USER}: {{ enabled: false }}` under `acl.users`; see docs/operations.md, \"The default user\")"
        ));
    }
    persist(live, acl, &mut plan.changes[first..], &mut plan.notes);
    plan.held = false;
    kept
}

/// The nodes other than the first (whose user the change is shown against) where the user
/// is missing or differs, with how (ACL users are per node: a replica restarted or added
/// without them would lock the applications out after a failover).
fn differing_nodes(live: &LiveState, name: &str, user: &DesiredUser) -> Vec<(String, Vec<String>)> {
    live.nodes
        .iter()
        .filter_map(|node| Some((node.address.as_str(), node.acl.as_ref()?)))
        .skip(1)
        .filter_map(|(address, acl)| {
            let live_user = acl.users.get(name);
            let wanted = wanted(user, live_user, &acl.catalog).ok()?;
            let how = match live_user {
                None => vec!["missing".to_owned()],
                Some(live_user) => differences(live_user, &wanted, &acl.catalog),
            };
            (!how.is_empty()).then(|| (address.to_owned(), how))
        })
        .collect()
}

/// On several nodes: each line of `details` (the first node's) said where, the other nodes'
/// lines added, and the rewrite sent only where needed (every node when the first node
/// needs it too). One node: as they are.
fn per_node(
    live: &LiveState,
    (details, first_needs): (Vec<String>, bool),
    elsewhere: &[(String, Vec<String>)],
    mut ops: Vec<Op>,
) -> (Vec<String>, Vec<Op>) {
    let Some(first) = live.nodes.first().filter(|_| live.nodes.len() > 1) else {
        return (details, ops);
    };
    // New everywhere: nothing to say per node.
    let missing = |how: &Vec<String>| how.len() == 1 && how[0] == "missing";
    if first_needs
        && details.is_empty()
        && elsewhere.len() + 1 == live.nodes.len()
        && elsewhere.iter().all(|(_, how)| missing(how))
    {
        return (details, ops);
    }
    let mut lines: Vec<String> = details
        .into_iter()
        .map(|line| format!("on {}: {line}", first.address))
        .collect();
    for (address, how) in elsewhere {
        lines.extend(how.iter().map(|line| format!("on {address}: {line}")));
    }
    if !first_needs && let Some(Op::SetUser { nodes, .. }) = ops.first_mut() {
        *nodes = Some(elsewhere.iter().map(|(a, _)| a.clone()).collect());
    }
    (lines, ops)
}

/// `default`, recorded but no longer declared: it cannot be deleted, so `--prune` releases
/// it (drops it from the record and the registry) and leaves it as it is.
fn default_undeclared(options: Options, plan: &mut Draft<'_>, kept: &mut BTreeSet<String>) {
    if options.prune {
        plan.notes.push(format!(
            "ACL user `{DEFAULT_USER}` is no longer declared: no longer managed by this topology (--prune), and left as it is (the server's default user cannot be deleted; declare it `enabled: false` to lock it)"
        ));
    } else {
        plan.notes.push(format!(
            "ACL user `{DEFAULT_USER}` is no longer declared; kept as it is and still managed. `apply --prune` stops managing it (it is never deleted)"
        ));
        kept.insert(DEFAULT_USER.to_owned());
    }
}

/// After changing users: `ACL SAVE` where the server has an aclfile; otherwise a warning,
/// since users set with `ACL SETUSER` are lost when the server restarts. Deletions run in
/// apply's last phase, after every other change succeeded, so each phase that changes users
/// ends with its own `ACL SAVE`.
fn persist(live: &LiveState, acl: &LiveAcl, changes: &mut [Change], notes: &mut Vec<String>) {
    let mut last_of_each_phase = Vec::new();
    for destructive in [false, true] {
        if let Some(last) = changes
            .iter()
            .rposition(|c| c.destructive == destructive && !c.ops().is_empty())
        {
            last_of_each_phase.push(last);
        }
    }
    if last_of_each_phase.is_empty() {
        return;
    }
    let nodes: Vec<(&str, Option<bool>)> = live
        .nodes
        .iter()
        .filter_map(|n| Some((n.address.as_str(), n.acl.as_ref()?.aclfile)))
        .collect();
    if nodes.len() > 1 {
        return persist_per_node(&nodes, &last_of_each_phase, changes, notes);
    }
    match acl.aclfile {
        Some(true) => {
            for index in last_of_each_phase {
                changes[index].extra.push(Op::SaveAcl { nodes: None });
            }
        }
        Some(false) => notes.push(
            "the server has no aclfile: ACL users written by apply are lost when it restarts (see docs/operations.md, \"ACL users\")".to_owned(),
        ),
        None => notes.push(
            "cannot tell whether the server keeps ACL users across restarts (CONFIG GET aclfile is not allowed for this user)".to_owned(),
        ),
    }
}

/// [`persist`] on several nodes: `ACL SAVE` on those with an aclfile, a note naming the others.
fn persist_per_node(
    nodes: &[(&str, Option<bool>)],
    last_of_each_phase: &[usize],
    changes: &mut [Change],
    notes: &mut Vec<String>,
) {
    let with: Vec<String> = nodes
        .iter()
        .filter(|(_, aclfile)| *aclfile == Some(true))
        .map(|(address, _)| (*address).to_owned())
        .collect();
    let listed = |wanted: Option<bool>| {
        nodes
            .iter()
            .filter(|(_, aclfile)| *aclfile == wanted)
            .map(|(address, _)| *address)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !with.is_empty() {
        let on = (with.len() < nodes.len()).then_some(with);
        for &index in last_of_each_phase {
            changes[index].extra.push(Op::SaveAcl { nodes: on.clone() });
        }
    }
    let without = listed(Some(false));
    if !without.is_empty() {
        notes.push(format!(
            "no aclfile on {without}: ACL users written by apply are lost when those nodes restart (see docs/operations.md, \"ACL users\")"
        ));
    }
    let unknown = listed(None);
    if !unknown.is_empty() {
        notes.push(format!(
            "cannot tell whether {unknown} keep ACL users across restarts (CONFIG GET aclfile is not allowed for this user)"
        ));
    }
}

fn live_summary(user: &LiveUser) -> Value {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let mut summary = json!({
        "enabled": user.has_flag("on"),
        "nopass": user.has_flag("nopass"),
        "passwords": vec![SENSITIVE; user.password_hashes.len()],
        "keys": words(&user.keys),
        "channels": words(&user.channels),
        "commands": words(&user.commands),
    });
    // As in the declared user's summary: only when there are some.
    if !user.selectors.is_empty() {
        summary["access"] = user
            .selectors
            .iter()
            .map(|s| {
                json!({
                    "keys": words(&s.keys),
                    "channels": words(&s.channels),
                    "commands": words(&s.commands),
                })
            })
            .collect();
    }
    summary
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::live::{LiveAcl, LiveNode, LiveSelector};
    use crate::model::secrets::sha256_hex;
    use crate::plan::{Action, Options, Plan, plan as make_plan};
    use crate::record::{FORMAT, Record};

    fn catalog() -> Catalog {
        Catalog::of(&[
            (
                "stream",
                &[
                    "xadd",
                    "xack",
                    "xreadgroup",
                    "xgroup|create",
                    "xgroup|destroy",
                ],
            ),
            ("connection", &["ping", "hello", "auth"]),
            ("dangerous", &["flushall", "keys"]),
            ("write", &["xadd", "flushall"]),
        ])
    }

    fn user(password: &str, commands: &[&str]) -> DesiredUser {
        DesiredUser {
            enabled: true,
            nopass: false,
            password_hashes: vec![sha256_hex(password)],
            unknown_passwords: Vec::new(),
            keys: vec!["%R~ns:in".to_owned(), "%W~ns:out".to_owned()],
            channels: vec![],
            commands: commands.iter().map(|c| (*c).to_owned()).collect(),
            selectors: Vec::new(),
        }
    }

    fn desired(users: &[(&str, DesiredUser)]) -> Desired {
        Desired {
            namespace: "ns".to_owned(),
            environment: None,
            streams: BTreeMap::new(),
            digest: crate::model::desired::LazyDigest::known("d"),
            health: Default::default(),
            users: users
                .iter()
                .map(|(n, u)| ((*n).to_owned(), u.clone()))
                .collect(),
        }
    }

    /// A live user as Redis 7.0 might print one: rules in another order.
    fn live_user(password: &str, commands: &str) -> LiveUser {
        LiveUser {
            flags: vec!["on".to_owned(), "sanitize-payload".to_owned()],
            password_hashes: vec![sha256_hex(password)],
            commands: commands.to_owned(),
            keys: "%W~ns:out %R~ns:in".to_owned(),
            channels: String::new(),
            ..LiveUser::default()
        }
    }

    fn live(users: &[(&str, LiveUser)], recorded: &[&str], aclfile: Option<bool>) -> LiveState {
        let record = (!recorded.is_empty()).then(|| Record {
            serial: 1,
            applied_plan: None,
            format: FORMAT,
            environment: None,
            digest: "d".to_owned(),
            applied_at_ms: 0,
            tool_version: "0".to_owned(),
            streams: BTreeMap::new(),
            users: recorded.iter().map(|u| (*u).to_owned()).collect(),
        });
        let acl = LiveAcl {
            whoami: "topology-apply".to_owned(),
            masteruser: Some("replicator".to_owned()),
            aclfile,
            pubsub_default_all: Some(false),
            catalog: catalog(),
            users: users
                .iter()
                .map(|(n, u)| ((*n).to_owned(), u.clone()))
                .collect(),
            owners: recorded
                .iter()
                .map(|u| ((*u).to_owned(), "ns".to_owned()))
                .collect(),
        };
        LiveState {
            record,
            nodes: vec![LiveNode {
                acl: Some(acl),
                ..LiveNode::UNREAD
            }],
            ..LiveState::default()
        }
    }

    fn user_changes(plan: &Plan) -> Vec<(String, Action, usize)> {
        plan.changes
            .iter()
            .filter(|c| c.kind == Kind::User)
            .map(|c| (c.address.clone(), c.action, c.ops().len()))
            .collect()
    }

    fn refusal_text(result: Result<Plan, Vec<Refusal>>) -> String {
        match result {
            Ok(plan) => panic!("expected a refusal, got {plan:?}"),
            Err(refusals) => refusals
                .into_iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    use crate::plan::tests::commands;

    const WORKER: &[&str] = &["+@stream", "-xgroup|destroy", "+ping"];

    #[test]
    fn a_new_user_is_one_setuser_with_placeholders_then_acl_save() {
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let plan = make_plan(&d, &live(&[], &[], Some(true)), Options::default()).expect("plan");
        assert_eq!(
            user_changes(&plan),
            [("user.worker".to_owned(), Action::Create, 2)]
        );
        let change = &plan.changes[0];
        assert_eq!(
            commands(change)[0].join(" "),
            "ACL SETUSER worker reset on #(sensitive value) %R~ns:in %W~ns:out +@stream -xgroup|destroy +ping"
        );
        assert_eq!(commands(change)[1], ["ACL", "SAVE"]);
        let everything = serde_json::to_string(&plan).expect("json");
        assert!(!everything.contains(&sha256_hex("pw-1")), "{everything}");
        // The record lists the user and the registry names this namespace as its owner.
        let record = plan.changes.last().expect("record change");
        assert_eq!(
            commands(record)[0],
            ["HSET", "__topology__:users", "worker", "ns"]
        );
    }

    #[test]
    fn an_equivalent_user_in_another_order_is_no_change() {
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let server = live_user("pw-1", "-@all +ping +xgroup|create +xadd +xreadgroup +xack");
        let plan = make_plan(
            &d,
            &live(&[("worker", server)], &["worker"], Some(true)),
            Options::default(),
        )
        .expect("plan");
        assert!(plan.is_empty(), "{plan:?}");
    }

    /// `state` as a primary and one replica: the replica a copy of the primary's ACL side
    /// with `users` and `aclfile` of its own, and `replicator` as its `masteruser`.
    fn with_replica(
        mut state: LiveState,
        users: &[(&str, LiveUser)],
        aclfile: Option<bool>,
    ) -> LiveState {
        let mut acl = state.acl().cloned().expect("the primary's users");
        acl.users = users
            .iter()
            .map(|(n, u)| ((*n).to_owned(), u.clone()))
            .collect();
        acl.aclfile = aclfile;
        acl.masteruser = Some("replicator".to_owned());
        state.nodes[0].address = "10.0.0.1:6379".to_owned();
        state.nodes.push(LiveNode {
            address: "10.0.0.2:6379".to_owned(),
            acl: Some(acl),
            ..LiveNode::UNREAD
        });
        state
    }

    /// ACL users are per node: a user missing or changed by hand on a replica alone is
    /// rewritten there alone, and said so; where every node agrees there is no change.
    #[test]
    fn users_are_compared_on_every_node_and_rewritten_where_they_differ() {
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let same = || live_user("pw-1", "-@all +@stream -xgroup|destroy +ping");
        let primary = live(&[("worker", same())], &["worker"], Some(true));

        let both = with_replica(primary.clone(), &[("worker", same())], Some(true));
        assert!(
            make_plan(&d, &both, Options::default())
                .expect("plan")
                .is_empty()
        );

        let missing = with_replica(primary.clone(), &[], Some(false));
        let plan = make_plan(&d, &missing, Options::default()).expect("plan");
        let change = &plan.changes[0];
        assert_eq!(change.action, Action::Update);
        assert_eq!(
            change.reason,
            "differs on 1 of the 2 nodes (ACL users are per node and never replicated)"
        );
        assert_eq!(change.details, ["on 10.0.0.2:6379: missing"]);
        match &change.ops()[0] {
            Op::SetUser { nodes, .. } => {
                assert_eq!(nodes.as_deref(), Some(&["10.0.0.2:6379".to_owned()][..]));
            }
            other => panic!("a rewrite: {other:?}"),
        }
        // Saved where there is an aclfile, the other node named in a note.
        assert_eq!(
            change.ops()[1],
            Op::SaveAcl {
                nodes: Some(vec!["10.0.0.1:6379".to_owned()])
            }
        );
        assert!(
            plan.notes
                .iter()
                .any(|n| n.starts_with("no aclfile on 10.0.0.2:6379")),
            "{:?}",
            plan.notes
        );

        let by_hand = live_user("pw-1", "-@all +@stream -xgroup|destroy +ping +flushall");
        let changed = with_replica(primary.clone(), &[("worker", by_hand)], Some(true));
        let plan = make_plan(&d, &changed, Options::default()).expect("plan");
        assert!(
            plan.changes[0].details[0].starts_with("on 10.0.0.2:6379: commands:"),
            "{:?}",
            plan.changes[0].details
        );
        // A change on the primary too: every node is rewritten.
        let rotated = desired(&[("worker", user("pw-2", WORKER))]);
        let plan = make_plan(&rotated, &both, Options::default()).expect("plan");
        assert!(matches!(
            &plan.changes[0].ops()[0],
            Op::SetUser { nodes: None, .. }
        ));
        assert_eq!(plan.changes[0].ops()[1], Op::SaveAcl { nodes: None });
    }

    /// A replica's replication user is never rewritten, whichever node names it.
    #[test]
    fn a_replicas_masteruser_is_protected() {
        let d = desired(&[("replicator", user("pw-1", WORKER))]);
        let state = with_replica(live(&[], &[], Some(true)), &[], Some(true));
        let refusals = make_plan(&d, &state, Options::default()).expect_err("refused");
        assert!(
            refusals[0].to_string().contains("replication user"),
            "{refusals:?}"
        );
    }

    #[test]
    fn a_rule_added_by_hand_and_a_rotated_password_are_updates() {
        let d = desired(&[("worker", user("pw-2", WORKER))]);
        let server = live_user("pw-1", "-@all +@stream -xgroup|destroy +ping +flushall");
        let plan = make_plan(
            &d,
            &live(&[("worker", server)], &["worker"], Some(false)),
            Options::default(),
        )
        .expect("plan");
        assert_eq!(
            user_changes(&plan),
            [("user.worker".to_owned(), Action::Update, 1)]
        );
        let details = plan.changes[0].details.join("\n");
        assert!(
            details.contains("passwords: (sensitive value) changed"),
            "{details}"
        );
        assert!(details.contains("also has flushall (removed)"), "{details}");
        assert!(
            plan.notes.iter().any(|n| n.contains("no aclfile")),
            "{:?}",
            plan.notes
        );
        let everything = serde_json::to_string(&plan).expect("json");
        for secret in [sha256_hex("pw-1"), sha256_hex("pw-2")] {
            assert!(!everything.contains(&secret));
        }
    }

    #[test]
    fn an_unrecorded_user_is_adopted() {
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let same = live_user("pw-1", "-@all +@stream -xgroup|destroy +ping");
        let plan = make_plan(
            &d,
            &live(&[("worker", same.clone())], &[], None),
            Options::default(),
        )
        .expect("plan");
        assert_eq!(
            user_changes(&plan),
            [("user.worker".to_owned(), Action::Update, 0)]
        );
        assert!(
            plan.changes[0]
                .reason
                .starts_with("adopted: exists and matches")
        );
        let differs = LiveUser {
            flags: vec!["off".to_owned()],
            ..same
        };
        let plan = make_plan(
            &d,
            &live(&[("worker", differs)], &[], None),
            Options::default(),
        )
        .expect("plan");
        assert_eq!(
            user_changes(&plan),
            [("user.worker".to_owned(), Action::Update, 1)]
        );
        assert!(
            plan.changes[0]
                .details
                .iter()
                .any(|d| d == "enabled: false → true")
        );
    }

    #[test]
    fn refusals_protect_other_namespaces_the_tool_and_the_server() {
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let mut state = live(&[], &[], Some(true));
        if let Some(acl) = state.acl_mut() {
            acl.owners
                .insert("worker".to_owned(), "other-ns".to_owned());
        }
        let text = refusal_text(make_plan(&d, &state, Options::default()));
        assert!(
            text.contains("managed by the topology of namespace `other-ns`"),
            "{text}"
        );

        let d = desired(&[("topology-apply", user("pw-1", WORKER))]);
        let text = refusal_text(make_plan(
            &d,
            &live(&[], &[], Some(true)),
            Options::default(),
        ));
        assert!(
            text.contains("is the user this tool is connected as"),
            "{text}"
        );
        let d = desired(&[("replicator", user("pw-1", WORKER))]);
        let text = refusal_text(make_plan(
            &d,
            &live(&[], &[], Some(true)),
            Options::default(),
        ));
        assert!(text.contains("replication user"), "{text}");

        let d = desired(&[("worker", user("pw-1", &["+nosuch"]))]);
        let text = refusal_text(make_plan(
            &d,
            &live(&[], &[], Some(true)),
            Options::default(),
        ));
        assert!(
            text.contains("`nosuch` is not a command of this server"),
            "{text}"
        );
    }

    #[test]
    fn the_connected_user_may_be_declared_when_it_already_matches() {
        let d = desired(&[("topology-apply", user("pw-1", WORKER))]);
        let same = live_user("pw-1", "-@all +@stream -xgroup|destroy +ping");
        let state = live(&[("topology-apply", same)], &["topology-apply"], Some(true));
        assert!(
            make_plan(&d, &state, Options::default())
                .expect("plan")
                .is_empty()
        );
    }

    /// Without a password's variable (plan only), everything else is compared: a user that
    /// matches but for unknowable passwords is no change, one that differs is rewritten with
    /// a placeholder for every declared password, and a note says what was not compared.
    #[test]
    fn passwords_that_cannot_be_read_are_not_compared_and_said_so() {
        let mut unread = user("pw-1", WORKER);
        unread.password_hashes.clear();
        unread.unknown_passwords = vec!["`WORKER_PASSWORD` is not set".to_owned()];
        let d = desired(&[("worker", unread.clone())]);
        let same = live_user("pw-other", "-@all +@stream -xgroup|destroy +ping");
        let plan = make_plan(
            &d,
            &live(&[("worker", same)], &["worker"], Some(true)),
            Options::default(),
        )
        .expect("plan");
        assert!(user_changes(&plan).is_empty(), "{plan:?}");
        assert!(
            plan.notes.iter().any(|n| n.contains(
                "the passwords of ACL user `worker` were not compared with the server's (`WORKER_PASSWORD` is not set)"
            )),
            "{:?}",
            plan.notes
        );
        let differs = live_user("pw-other", "-@all +@stream -xgroup|destroy +ping +flushall");
        let plan = make_plan(
            &d,
            &live(&[("worker", differs)], &["worker"], Some(true)),
            Options::default(),
        )
        .expect("plan");
        assert_eq!(
            user_changes(&plan),
            [("user.worker".to_owned(), Action::Update, 2)]
        );
        let details = plan.changes[0].details.join("\n");
        assert!(!details.contains("passwords"), "{details}");
        assert_eq!(
            commands(&plan.changes[0])[0]
                .iter()
                .filter(|p| *p == HASH_PLACEHOLDER)
                .count(),
            1
        );
    }

    /// A worker that consumes `ns:in`, produces to `ns:out` and answers PING.
    fn worker_with_access() -> DesiredUser {
        DesiredUser {
            keys: Vec::new(),
            selectors: vec![
                DesiredSelector {
                    keys: vec!["~ns:in".to_owned()],
                    channels: Vec::new(),
                    commands: vec!["+xreadgroup".to_owned(), "+xack".to_owned()],
                    preset: None,
                },
                DesiredSelector {
                    keys: vec!["%W~ns:out".to_owned()],
                    channels: vec!["&ns:ev".to_owned()],
                    commands: vec!["+xadd".to_owned()],
                    preset: Some("producer"),
                },
            ],
            ..user("pw-1", &["+ping"])
        }
    }

    fn live_selector(keys: &str, channels: &str, commands: &str) -> LiveSelector {
        LiveSelector {
            commands: commands.to_owned(),
            keys: keys.to_owned(),
            channels: channels.to_owned(),
            ..LiveSelector::default()
        }
    }

    /// The worker as the server lists it: selectors in another order, rules spelled
    /// otherwise.
    fn live_worker(selectors: Vec<LiveSelector>) -> LiveUser {
        LiveUser {
            keys: String::new(),
            selectors,
            ..live_user("pw-1", "-@all +ping")
        }
    }

    fn worker_plan(selectors: Vec<LiveSelector>) -> Plan {
        let d = desired(&[("worker", worker_with_access())]);
        let state = live(
            &[("worker", live_worker(selectors))],
            &["worker"],
            Some(true),
        );
        make_plan(&d, &state, Options::default()).expect("plan")
    }

    #[test]
    fn access_blocks_are_selectors_in_the_same_setuser() {
        let d = desired(&[("worker", worker_with_access())]);
        let plan = make_plan(&d, &live(&[], &[], Some(true)), Options::default()).expect("plan");
        assert_eq!(
            commands(&plan.changes[0])[0],
            [
                "ACL",
                "SETUSER",
                "worker",
                "reset",
                "on",
                HASH_PLACEHOLDER,
                "+ping",
                "(~ns:in +xreadgroup +xack)",
                "(%W~ns:out &ns:ev +xadd)"
            ]
        );
        let after = plan.changes[0]
            .after
            .as_ref()
            .expect("after")
            .to_value()
            .to_string();
        assert!(after.contains(r#""preset":"producer""#), "{after}");
    }

    #[test]
    fn where_new_users_may_get_every_channel_the_rules_reset_channels_first() {
        // `acl-pubsub-default allchannels` (or unknown: CONFIG GET not allowed): `reset`
        // and each new selector would grant `&*`.
        for default_all in [Some(true), None] {
            let d = desired(&[("worker", worker_with_access())]);
            let mut state = live(&[], &[], Some(true));
            if let Some(acl) = state.acl_mut() {
                acl.pubsub_default_all = default_all;
            }
            let plan = make_plan(&d, &state, Options::default()).expect("plan");
            assert_eq!(
                commands(&plan.changes[0])[0][3..=5],
                ["reset", "resetchannels", "on"],
                "{default_all:?}"
            );
            let sent = commands(&plan.changes[0])[0].join(" ");
            assert!(
                sent.contains("(resetchannels ~ns:in +xreadgroup +xack)")
                    && sent.contains("(resetchannels %W~ns:out &ns:ev +xadd)"),
                "{sent}"
            );
        }
    }

    #[test]
    fn equivalent_selectors_in_another_order_are_no_change() {
        let plan = worker_plan(vec![
            live_selector("%W~ns:out", "&ns:ev", "-@all +xadd"),
            live_selector("%W~ns:in %R~ns:in", "", "-@all +xack +xreadgroup"),
        ]);
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn drift_inside_or_of_a_selector_is_an_update() {
        // A command added inside a selector by hand (`ACL SETUSER worker (~ns:in +xadd)`
        // adds a selector; editing one is the same as far as the comparison goes).
        let plan = worker_plan(vec![
            live_selector("%W~ns:out", "&ns:ev", "-@all +xadd"),
            live_selector("~ns:in", "", "-@all +xack +xreadgroup +xadd"),
        ]);
        assert_eq!(
            user_changes(&plan),
            [("user.worker".to_owned(), Action::Update, 2)]
        );
        assert_eq!(
            plan.changes[0].details,
            ["selectors: selector (~ns:in): the server also has xadd (removed)"]
        );
        let before = plan.changes[0]
            .before
            .as_ref()
            .expect("before")
            .to_value()
            .to_string();
        assert!(before.contains("+xadd"), "{before}");

        // A selector removed, and a selector added by hand to a user that declares none.
        let plan = worker_plan(vec![live_selector("~ns:in", "", "-@all +xack +xreadgroup")]);
        assert_eq!(
            plan.changes[0].details,
            ["selectors: the server lacks selector (%W~ns:out &ns:ev +xadd) (added)"]
        );
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let hand_made = LiveUser {
            selectors: vec![live_selector("~*", "", "+@all")],
            ..live_user("pw-1", "-@all +@stream -xgroup|destroy +ping")
        };
        let plan = make_plan(
            &d,
            &live(&[("worker", hand_made)], &["worker"], Some(true)),
            Options::default(),
        )
        .expect("plan");
        let details = plan.changes[0].details.join("\n");
        assert!(
            details.starts_with("selectors: the server also has selector (~* +"),
            "{details}"
        );
        assert!(details.ends_with("more) (removed)"), "{details}");
    }

    #[test]
    fn an_unknown_command_in_a_block_names_the_block() {
        let mut worker = worker_with_access();
        worker.selectors[1].commands.push("+nosuch".to_owned());
        let d = desired(&[("worker", worker)]);
        let text = refusal_text(make_plan(
            &d,
            &live(&[], &[], Some(true)),
            Options::default(),
        ));
        assert!(
            text.contains(
                "ACL user `worker`: access block 2: `nosuch` is not a command of this server"
            ),
            "{text}"
        );
    }

    #[test]
    fn undeclared_recorded_users_are_deleted_only_with_prune() {
        let d = desired(&[]);
        let old = live_user("pw-1", "-@all +ping");
        let state = live(&[("old", old)], &["old"], Some(true));
        let kept = make_plan(&d, &state, Options::default()).expect("plan");
        assert!(user_changes(&kept).is_empty());
        assert!(
            kept.notes
                .iter()
                .any(|n| n.contains("`old` is no longer declared; kept"))
        );
        let pruned = make_plan(&d, &state, Options { prune: true }).expect("plan");
        assert_eq!(
            user_changes(&pruned),
            [("user.old".to_owned(), Action::Delete, 2)]
        );
        assert!(pruned.changes[0].destructive);
        assert_eq!(
            commands(&pruned.changes[0]),
            [vec!["ACL", "DELUSER", "old"], vec!["ACL", "SAVE"]]
        );
        let record = pruned.changes.last().expect("record");
        assert!(commands(record).contains(&vec![
            "HDEL".to_owned(),
            "__topology__:users".to_owned(),
            "old".to_owned()
        ]));

        let state = live(
            &[("topology-apply", live_user("pw", "-@all"))],
            &["topology-apply"],
            Some(true),
        );
        let text = refusal_text(make_plan(&d, &state, Options { prune: true }));
        assert!(text.contains("--prune would delete it"), "{text}");
    }

    /// `default` as a fresh server has it.
    fn open_default() -> LiveUser {
        LiveUser {
            flags: vec!["on".to_owned(), "nopass".to_owned()],
            commands: "+@all".to_owned(),
            keys: "~*".to_owned(),
            channels: "&*".to_owned(),
            ..LiveUser::default()
        }
    }

    fn disabled() -> DesiredUser {
        DesiredUser {
            enabled: false,
            password_hashes: Vec::new(),
            keys: Vec::new(),
            commands: Vec::new(),
            ..user("unused", &[])
        }
    }

    fn connected_as(mut state: LiveState, user: &str) -> LiveState {
        if let Some(acl) = state.acl_mut() {
            acl.whoami = user.to_owned();
        }
        state
    }

    fn owned_by(mut state: LiveState, user: &str, namespace: &str) -> LiveState {
        if let Some(acl) = state.acl_mut() {
            acl.owners.insert(user.to_owned(), namespace.to_owned());
        }
        state
    }

    #[test]
    fn a_declared_default_is_adopted_and_written_like_any_user() {
        let d = desired(&[("default", disabled()), ("worker", user("pw-1", WORKER))]);
        let state = live(&[("default", open_default())], &[], Some(false));
        let plan = make_plan(&d, &state, Options::default()).expect("plan");
        assert_eq!(
            user_changes(&plan),
            [
                ("user.default".to_owned(), Action::Update, 1),
                ("user.worker".to_owned(), Action::Create, 1)
            ]
        );
        assert_eq!(
            commands(&plan.changes[0])[0].join(" "),
            "ACL SETUSER default reset off"
        );
        assert!(plan.changes[0].reason.starts_with("adopted"), "{plan:?}");
        // Recorded and registered to this namespace like any user.
        let record = plan.changes.last().expect("record");
        assert_eq!(
            commands(record)[0],
            [
                "HSET",
                "__topology__:users",
                "default",
                "ns",
                "worker",
                "ns"
            ]
        );
        assert!(
            !plan.notes.iter().any(|n| n.contains("is open")),
            "{plan:?}"
        );
    }

    /// The abuse: a topology that disables `default` while the tool is connected as it.
    #[test]
    fn disabling_default_while_connected_as_it_is_refused_saying_how_to_connect() {
        let d = desired(&[("default", disabled())]);
        let state = connected_as(live(&[("default", open_default())], &[], None), "default");
        let text = refusal_text(make_plan(&d, &state, Options::default()));
        assert!(
            text.contains("ACL user `default` is the user this tool is connected as (the server URL names no user, or `default`)"),
            "{text}"
        );
        assert!(text.contains("Connect as a named user first"), "{text}");
        assert!(
            text.contains("--url redis://topology-apply:PASSWORD@HOST:PORT"),
            "{text}"
        );
        // Restricting it is refused the same way; declaring it as it is, is no change.
        let mut narrowed = user("pw", &["+ping"]);
        narrowed.password_hashes.clear();
        narrowed.nopass = true;
        narrowed.keys.clear();
        let d = desired(&[("default", narrowed)]);
        let text = refusal_text(make_plan(&d, &state, Options::default()));
        assert!(text.contains("Connect as a named user first"), "{text}");
        let recorded = connected_as(
            live(&[("default", open_default())], &["default"], None),
            "default",
        );
        let as_is = DesiredUser {
            enabled: true,
            nopass: true,
            password_hashes: Vec::new(),
            keys: vec!["~*".to_owned()],
            channels: vec!["&*".to_owned()],
            commands: vec!["+@all".to_owned()],
            ..disabled()
        };
        let plan = make_plan(
            &desired(&[("default", as_is)]),
            &recorded,
            Options::default(),
        )
        .expect("plan");
        assert!(plan.is_empty(), "{plan:?}");
    }

    /// Two namespaces on one server may both declare `default` as long as they agree: the
    /// second leaves it to the first (no change, not recorded, not registered).
    #[test]
    fn default_managed_by_another_namespace_is_left_to_it_when_the_declarations_agree() {
        let off = LiveUser {
            flags: vec!["off".to_owned(), "sanitize-payload".to_owned()],
            commands: "-@all".to_owned(),
            ..LiveUser::default()
        };
        let d = desired(&[("default", disabled()), ("worker", user("pw-1", WORKER))]);
        let state = owned_by(
            live(&[("default", off)], &[], Some(true)),
            "default",
            "other-ns",
        );
        let plan = make_plan(&d, &state, Options::default()).expect("plan");
        assert_eq!(
            user_changes(&plan),
            [("user.worker".to_owned(), Action::Create, 2)]
        );
        assert!(
            plan.notes.iter().any(|n| n.contains(
                "ACL user `default` is managed by the topology of namespace `other-ns` and already matches this declaration"
            )),
            "{:?}",
            plan.notes
        );
        let record = plan.changes.last().expect("record");
        assert_eq!(
            commands(record)[0],
            ["HSET", "__topology__:users", "worker", "ns"]
        );
        let Some(Op::WriteRecord { record, .. }) = record.ops().last() else {
            panic!("the record is written last: {record:?}");
        };
        assert!(!record.users.contains("default"), "{record:?}");

        // Declared otherwise: refused, saying how to agree.
        let state = owned_by(
            live(&[("default", open_default())], &[], Some(true)),
            "default",
            "other-ns",
        );
        let text = refusal_text(make_plan(&d, &state, Options::default()));
        assert!(
            text.contains("ACL user `default` is managed by the topology of namespace `other-ns`")
                && text.contains("one topology manages it")
                && text.contains("default: null"),
            "{text}"
        );
    }

    #[test]
    fn an_undeclared_default_is_never_deleted_and_prune_only_releases_it() {
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let same = live_user("pw-1", "-@all +@stream -xgroup|destroy +ping");
        let state = live(
            &[("default", open_default()), ("worker", same)],
            &["default", "worker"],
            Some(true),
        );
        let kept = make_plan(&d, &state, Options::default()).expect("plan");
        assert!(kept.is_empty(), "{kept:?}");
        assert!(
            kept.notes
                .iter()
                .any(|n| n.contains("`default` is no longer declared; kept as it is")),
            "{:?}",
            kept.notes
        );
        // Connected as `default` changes nothing: prune never deletes it.
        let state = connected_as(state, "default");
        let pruned = make_plan(&d, &state, Options { prune: true }).expect("plan");
        assert!(user_changes(&pruned).is_empty(), "{pruned:?}");
        assert!(
            !pruned.ops().any(|op| matches!(op, Op::DeleteUser { .. })),
            "{pruned:?}"
        );
        let record = pruned.changes.last().expect("the record drops it");
        assert!(commands(record).contains(&vec![
            "HDEL".to_owned(),
            "__topology__:users".to_owned(),
            "default".to_owned()
        ]));
        assert!(
            pruned
                .notes
                .iter()
                .any(|n| n.contains("no longer managed by this topology (--prune)")),
            "{:?}",
            pruned.notes
        );
    }

    #[test]
    fn an_open_undeclared_default_is_noted() {
        let d = desired(&[("worker", user("pw-1", WORKER))]);
        let open = |default: LiveUser| {
            let plan = make_plan(
                &d,
                &live(&[("default", default)], &[], Some(true)),
                Options::default(),
            )
            .expect("plan");
            plan.notes.iter().any(|n| {
                n.contains("ACL user `default` is open on this server")
                    && n.contains("`default: { enabled: false }`")
            })
        };
        assert!(open(open_default()));
        let off = LiveUser {
            flags: vec!["off".to_owned(), "nopass".to_owned()],
            ..open_default()
        };
        assert!(!open(off));
        let no_commands = LiveUser {
            commands: "-@all".to_owned(),
            ..open_default()
        };
        assert!(!open(no_commands));
        let with_password = LiveUser {
            flags: vec!["on".to_owned()],
            password_hashes: vec![sha256_hex("pw")],
            ..open_default()
        };
        assert!(!open(with_password));
    }

    /// A user another namespace manages: the refusal says how environments sharing a server
    /// keep their users apart.
    #[test]
    fn a_user_of_another_namespace_is_refused_with_the_prefix_to_use() {
        let mut d = desired(&[("worker", user("pw-1", WORKER))]);
        d.environment = Some("dev".to_owned());
        let state = owned_by(live(&[], &[], Some(true)), "worker", "staging-ns");
        let text = refusal_text(make_plan(&d, &state, Options::default()));
        assert!(
            text.contains("is managed by the topology of namespace `staging-ns`")
                && text.contains(
                    "under `environments.dev`: `acl: { user_names: { prefix: \"dev-\" } }`"
                ),
            "{text}"
        );
    }

    /// A plan handed over as it is made (`apply --yes`) is the plan: the same changes in the
    /// same order, and the same notes. Before the users, the streams (a change each) leave
    /// the buffer just short of a handover, so that one would fall inside the users'
    /// section, which must be held until each phase's `ACL SAVE` is added to its last user
    /// change.
    #[test]
    fn a_plan_handed_over_as_made_is_the_same_plan() {
        use crate::model::desired::DesiredStream;
        for streams in [
            0,
            super::super::HANDOVER - 2,
            2 * super::super::HANDOVER + 5,
        ] {
            let mut d = desired(&[
                ("alpha", user("pw-1", WORKER)),
                ("beta", user("pw-2", WORKER)),
                ("gamma", user("pw-3", WORKER)),
            ]);
            d.streams = (0..streams)
                .map(|n| {
                    let stream = DesiredStream {
                        name: format!("s{n}").into(),
                        retention: Default::default(),
                        groups: Default::default(),
                        schema: None,
                        producers: Vec::new(),
                    };
                    (format!("ns:s{n}"), stream)
                })
                .collect();
            let server = live(
                &[
                    ("beta", live_user("pw-2", "-@all +ping")),
                    ("gone", live_user("pw-9", "-@all +ping")),
                ],
                &["beta", "gone"],
                Some(true),
            );
            for prune in [false, true] {
                let options = Options { prune };
                let whole = make_plan(&d, &server, options).expect("plan");
                let mut handed = Vec::new();
                let notes = crate::plan::check(&d, &server, options)
                    .expect("plan")
                    .each(&mut |change| handed.push(change));
                assert_eq!(handed, whole.changes, "{streams} streams, prune {prune}");
                assert_eq!(notes, whole.notes);
                let saves = whole
                    .ops()
                    .filter(|op| matches!(op, Op::SaveAcl { .. }))
                    .count();
                // One for the writes, and with --prune one after the deletion.
                assert_eq!(saves, 1 + usize::from(prune), "{streams} streams");
            }
        }
    }
}
