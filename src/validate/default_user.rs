//! The server's `default` user: what every client that does not authenticate is. A fresh
//! server leaves it `on nopass ~* &* +@all`, so a topology that locks its services down to
//! least privilege while leaving `default` alone has locked nothing: anyone who can reach the
//! port can do everything without a password. A topology that declares users should declare
//! `default` too (disabled, or a restricted health-check user).

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::model::types::{DEFAULT_USER, Topology};

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    let Some(acl) = &topology.acl else {
        return;
    };
    let Some(users) = acl.users.as_ref().filter(|u| !u.is_empty()) else {
        return;
    };
    if users.names().any(|name| name == DEFAULT_USER) {
        return;
    }
    let mut diagnostic = Diagnostic::warning(
        Code::AclDefaultOpen,
        format!(
            "the topology manages ACL users but not `{DEFAULT_USER}`, which a fresh server leaves `on nopass ~* &* +@all`: any client that does not authenticate may do everything"
        ),
    )
    .label("`default` is not declared")
    .help("declare it: `default: { enabled: false }` under `acl.users` (or a restricted health-check user, e.g. `default: { nopass: true, commands: [\"+ping\"] }`); apply then needs to connect as a named user (docs/operations.md, \"The default user\")");
    if let Some(at) = acl.users_at {
        diagnostic = diagnostic.at(at);
    }
    diags.push(diagnostic);
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Severity;
    use crate::validate::diagnostics_of;

    /// `(severity, line, message)` of the `acl::default_open` diagnostics of a file.
    fn found(text: &str, strict: bool) -> Vec<(Severity, usize, String)> {
        diagnostics_of(text, strict)
            .into_iter()
            .filter(|(code, ..)| *code == "acl::default_open")
            .map(|(_, severity, line, message)| (severity, line, message))
            .collect()
    }

    const HEAD: &str = "version: 1\nnamespace: app\n";

    #[test]
    fn users_without_default_are_warned_at_the_users_line_and_an_error_when_strict() {
        let text = format!(
            "{HEAD}acl:\n  users:\n    svc:\n      passwords: [{{ env: P }}]\n      commands: [\"+ping\"]\n"
        );
        for (strict, severity) in [(false, Severity::Warning), (true, Severity::Error)] {
            let found = found(&text, strict);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!((found[0].0, found[0].1), (severity, 4));
            assert!(found[0].2.contains("but not `default`"), "{found:?}");
        }
    }

    #[test]
    fn declaring_default_or_no_users_is_no_warning() {
        let declared = format!(
            "{HEAD}acl:\n  users:\n    default: {{ enabled: false }}\n    svc:\n      passwords: [{{ env: P }}]\n"
        );
        assert_eq!(found(&declared, true), []);
        assert_eq!(found(HEAD, true), []);
        assert_eq!(found(&format!("{HEAD}acl:\n  users: {{}}\n"), true), []);
    }

    /// An environment that removes `default` (`default: null`) is warned, naming it.
    #[test]
    fn an_environment_that_removes_default_is_warned() {
        let text = format!(
            "{HEAD}acl:\n  users:\n    default: {{ enabled: false }}\n    svc:\n      passwords: [{{ env: P }}]\nenvironments:\n  dev:\n    acl: {{ users: {{ default: null }} }}\n  prod: {{}}\n"
        );
        let found = found(&text, false);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].2.ends_with("(environment `dev`)"), "{found:?}");
    }
}
