//! A cluster's redirects, read from a reply's error code (never its wording): `MOVED` (the
//! slot moved for good), `ASK` (the slot is moving and the key is on the other node
//! already), `TRYAGAIN` (a slot in the middle of a move refused a command for now).

use std::time::Duration;

use crate::resp::Reply;

/// How many times a key's command follows a redirect before giving up (a slot that keeps
/// moving, or nodes that disagree).
pub const MAX_REDIRECTS: usize = 5;

/// How long to wait before sending again what `TRYAGAIN` refused.
pub const TRY_AGAIN_DELAY: Duration = Duration::from_millis(100);

/// Where a reply sends a command, if it redirects it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `MOVED <slot> <host:port>`: the slot is served there now.
    Moved { slot: u16, address: String },
    /// `ASK <slot> <host:port>`: this key is there already; ask with `ASKING` first.
    Ask { address: String },
    /// `TRYAGAIN`: send it again in a moment.
    TryAgain,
}

/// The redirect `reply` is, if it is one. A `MOVED` or `ASK` without a slot and an
/// address is none: it is left to be reported as the error it is.
pub fn redirect_of(reply: &Reply<'_>) -> Option<Redirect> {
    let Reply::Error { code, details } = reply else {
        return None;
    };
    let mut words = details.split_whitespace();
    let mut slot_and_address = || {
        let slot = words.next()?.parse::<u16>().ok()?;
        let address = words.next()?.to_owned();
        Some((slot, address))
    };
    match *code {
        "MOVED" => slot_and_address().map(|(slot, address)| Redirect::Moved { slot, address }),
        "ASK" => slot_and_address().map(|(_, address)| Redirect::Ask { address }),
        "TRYAGAIN" => Some(Redirect::TryAgain),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error<'a>(code: &'a str, details: &'a str) -> Reply<'a> {
        Reply::Error { code, details }
    }

    /// Replies as Redis 7.0 sends them (the research notes, A2), and what is not one.
    #[test]
    fn redirects_are_read_from_their_codes() {
        assert_eq!(
            redirect_of(&error("MOVED", "1949 127.0.0.1:27102")),
            Some(Redirect::Moved {
                slot: 1949,
                address: "127.0.0.1:27102".to_owned()
            })
        );
        assert_eq!(
            redirect_of(&error("ASK", "1949 [::1]:27102")),
            Some(Redirect::Ask {
                address: "[::1]:27102".to_owned()
            })
        );
        assert_eq!(
            redirect_of(&error(
                "TRYAGAIN",
                "Multiple keys request during rehashing of slot"
            )),
            Some(Redirect::TryAgain)
        );
        for (code, details) in [
            ("MOVED", "not-a-slot 127.0.0.1:1"),
            ("MOVED", "99999 127.0.0.1:1"),
            ("ASK", "1949"),
            ("CLUSTERDOWN", "The cluster is down"),
            ("ERR", "MOVED 1949 127.0.0.1:27102"),
        ] {
            assert_eq!(redirect_of(&error(code, details)), None, "{code} {details}");
        }
        assert_eq!(redirect_of(&Reply::Int(1)), None);
    }
}
