//! Redis Sentinel: the primary of a master name, asked of the sentinels.
//!
//! As the Sentinel client protocol says: ask each sentinel in turn
//! `SENTINEL GET-MASTER-ADDR-BY-NAME <name>` until one answers with an address, connect
//! there, and check with `ROLE` that the node says it is a primary (a sentinel can be behind
//! a failover). The node is then connected to as [`Target::connect_to`] does, its replicas
//! listed from its `ROLE`, and the deployment recorded as [`Deployment::Sentinel`].
//!
//! The sentinels are asked over the bounded reader (one command each, the reply parsed
//! strictly: a host the tool will connect to, and a port), with TLS when the data nodes' URL
//! uses it, and their own credentials ([`Sentinels::credentials`]): a Sentinel's users are
//! not the data nodes'. A sentinel that does not answer is skipped (a warning says so) when
//! another does; when none does, the error names each and why.
//!
//! After a failover the old primary keeps accepting writes for a while (see
//! [`super::failover`]): apply checks the roles before each batch, and a run that started
//! before the failover stops; the next run asks the sentinels again.

use std::fmt;

use super::discover::{RoleReply, address, valid_host};
use super::failover::{host_port, role_of};
use super::reader::{Endpoint, ReadFailure, Reader};
use super::url::{Address, RedisUrl};
use super::{
    Command, ConnectOptions, Deployment, NodeId, Route, ServerError, Target, TargetError,
    address_of,
};
use crate::resp::Reply;
use crate::text::untrusted;

/// A sentinel, as `--sentinel HOST:PORT` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelAddress {
    pub host: String,
    pub port: u16,
}

impl SentinelAddress {
    /// `HOST:PORT`, or `[IPv6]:PORT`; the host a name or an IP address, the port above 0.
    pub fn parse(text: &str) -> Result<SentinelAddress, String> {
        let text = text.trim();
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => rest.split_once("]:").filter(|(host, _)| host.contains(':')),
            None => text
                .rsplit_once(':')
                .filter(|(host, _)| !host.contains(':')),
        }
        .ok_or_else(|| {
            format!(
                "`{}` is not HOST:PORT (e.g. 10.0.0.5:26379, sentinel-1:26379, [::1]:26379)",
                untrusted(text)
            )
        })?;
        if !valid_host(host) {
            return Err(format!(
                "`{}` is not a host name or an IP address",
                untrusted(host)
            ));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{}` is not a port (1 to 65535)", untrusted(port)))?;
        Ok(SentinelAddress {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for SentinelAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&host_port(&self.host, self.port))
    }
}

/// A master name as `--master-name` gives it: what a Sentinel's configuration can hold (no
/// spaces or control characters), at most 256 bytes.
pub fn check_master_name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > 256 {
        return Err("a master name has 1 to 256 characters".to_owned());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{}`: a master name has no spaces or control characters",
            untrusted(name)
        ));
    }
    Ok(name.to_owned())
}

/// Where to find the primary: the sentinels (asked in this order), the master name, and
/// the sentinels' user and password (a URL of which only those are used; none: no `AUTH`).
#[derive(Clone, Debug)]
pub struct Sentinels {
    pub addresses: Vec<SentinelAddress>,
    pub master: String,
    pub credentials: Option<RedisUrl>,
}

/// Why the primary could not be found through the sentinels. Prints as one line, without
/// secrets (URLs are never shown here, only addresses).
#[derive(Clone, Debug, thiserror::Error)]
pub enum SentinelError {
    /// Every sentinel failed: each with why.
    #[error(
        "no Sentinel answered with the primary of master `{}`: {}; nothing was read or written",
        untrusted(.master),
        .tried.join("; ")
    )]
    NoneAnswered { master: String, tried: Vec<String> },
    /// A sentinel named a node that is not a primary (or not a standalone one).
    #[error(
        "Sentinel {sentinel} names {primary} as the primary of master `{}`, but {why}: a failover may be under way; run the command again",
        untrusted(.master)
    )]
    NotPrimary {
        sentinel: String,
        primary: String,
        master: String,
        why: String,
    },
    /// The data nodes' URL is a Unix socket's: the sentinels name TCP addresses.
    #[error(
        "with --sentinel the data nodes' URL gives their user, password, database and TLS (redis:// or rediss://), not a Unix socket"
    )]
    SocketUrl,
    /// The sentinels' URL cannot be used with the data nodes' (`why`).
    #[error("the sentinels' URL cannot be used: {why}")]
    Credentials { why: &'static str },
}

impl From<SentinelError> for TargetError {
    fn from(error: SentinelError) -> TargetError {
        TargetError::Sentinel(Box::new(error))
    }
}

impl Target {
    /// Find the primary of `sentinels.master` by asking the sentinels, connect to it and its
    /// replicas (the data nodes' credentials, database and TLS from `data`, whose host and
    /// port are not used), and check that it says it is a primary.
    pub async fn connect_via_sentinels(
        sentinels: &Sentinels,
        data: &RedisUrl,
        options: ConnectOptions,
    ) -> Result<Target, TargetError> {
        // rustls picks no cryptography by itself; an error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        check_urls(data, sentinels.credentials.as_ref())?;
        let mut skipped = Vec::new();
        let mut found = None;
        for sentinel in &sentinels.addresses {
            let url = data.sentinel_at(
                &sentinel.host,
                sentinel.port,
                sentinels.credentials.as_ref(),
            );
            match ask(&url, &sentinels.master, &options).await {
                Ok(primary) => {
                    found = Some((sentinel, primary));
                    break;
                }
                Err(why) => skipped.push(format!("{sentinel}: {why}")),
            }
        }
        let Some((sentinel, (host, port))) = found else {
            return Err(SentinelError::NoneAnswered {
                master: sentinels.master.clone(),
                tried: skipped,
            }
            .into());
        };
        let url = data.at(&host, port);
        let mut target = Target::connect_to(&url, options).await?;
        target
            .check_sentinel_primary(sentinel, &sentinels.master, &url)
            .await?;
        target.deployment = Deployment::Sentinel;
        target.guard.sentinel_master = Some(sentinels.master.clone());
        target.warnings.extend(
            skipped
                .into_iter()
                .map(|s| format!("Sentinel {s}; the next one answered")),
        );
        Ok(target)
    }

    /// The master name the sentinels were asked for, when the target was found that way.
    pub fn sentinel_master(&self) -> Option<&str> {
        self.guard.sentinel_master.as_deref()
    }

    /// The node a sentinel named is the one connected to (not a replica whose primary
    /// discovery moved to, nor a cluster node), and its `ROLE` says it is a primary.
    async fn check_sentinel_primary(
        &mut self,
        sentinel: &SentinelAddress,
        master: &str,
        url: &RedisUrl,
    ) -> Result<(), TargetError> {
        let primary = address_of(url);
        let not_primary = |why: String| SentinelError::NotPrimary {
            sentinel: sentinel.to_string(),
            primary: primary.clone(),
            master: master.to_owned(),
            why,
        };
        if self.deployment == Deployment::Cluster {
            return Err(not_primary("it is a Redis Cluster node".to_owned()).into());
        }
        if self.address(NodeId(0)) != primary {
            let why = format!("it says it is a replica of {}", self.address(NodeId(0)));
            return Err(not_primary(why).into());
        }
        let shown = url.redacted().clone();
        let role = self
            .read_with(Route::Node(NodeId(0)), vec![Command::new("ROLE")], |replies| {
                let reply = replies.first().unwrap_or(&Reply::Nil);
                role_of(reply, &shown, "with --sentinel the tool checks that the node the sentinels name is a primary")
            })
            .await?;
        match role {
            RoleReply::Primary { .. } => Ok(()),
            RoleReply::Replica {
                primary: (host, port),
            } => {
                let why = format!("it says it is a replica of {}", host_port(&host, port));
                Err(not_primary(why).into())
            }
        }
    }
}

/// The sentinels are reached as the data nodes are (TCP, with TLS when they use it); their
/// URL lends its user and password only.
fn check_urls(data: &RedisUrl, credentials: Option<&RedisUrl>) -> Result<(), SentinelError> {
    let Address::Tcp { tls, .. } = data.address() else {
        return Err(SentinelError::SocketUrl);
    };
    match credentials.map(RedisUrl::address) {
        None => Ok(()),
        Some(Address::Unix(_)) => Err(SentinelError::Credentials {
            why: "it is a Unix socket's; write redis://user:password@host (only the user and password are used)",
        }),
        Some(Address::Tcp { tls: theirs, .. }) if theirs.is_some() != tls.is_some() => {
            Err(SentinelError::Credentials {
                why: "the sentinels are reached with TLS when the data nodes' URL is rediss:// and without it otherwise, so both URLs must be rediss:// or both redis://",
            })
        }
        Some(_) => Ok(()),
    }
}

/// Ask one sentinel for the master's address; `Err`: why not, one line without secrets.
async fn ask(
    url: &RedisUrl,
    master: &str,
    options: &ConnectOptions,
) -> Result<(String, u16), String> {
    let info = url
        .connection_info()
        .map_err(|e| url.scrub(&e.to_string()))?;
    let endpoint = Endpoint::new(&info, options.tls_ca_cert.as_deref())?;
    let mut reader = Reader::open(&endpoint, options).await?;
    let command = Command::new("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(master);
    let mut answer = None;
    let read = reader
        .read_each(
            vec![vec![command]],
            &mut |replies: &[Reply<'_>]| {
                answer = Some(master_address(
                    replies.first().unwrap_or(&Reply::Nil),
                    master,
                ));
                Ok(())
            },
            options.response,
        )
        .await;
    read.map_err(|failure| match failure {
        ReadFailure::Connection(why) => why,
        ReadFailure::Reply { problem, .. } => format!("its reply is {problem}"),
        ReadFailure::Stopped(e) => e.to_string(),
    })?;
    answer.unwrap_or_else(|| Err("it sent no reply".to_owned()))
}

/// The reply to `SENTINEL GET-MASTER-ADDR-BY-NAME`: exactly a host and a port, checked as
/// every address a server gives is before anything connects to it.
fn master_address(reply: &Reply<'_>, master: &str) -> Result<(String, u16), String> {
    match reply {
        Reply::Nil => Err(format!("it knows no master named `{}`", untrusted(master))),
        Reply::Error { code: "NOAUTH", .. } => Err(
            "it requires authentication: give the sentinels' user and password in $REDIS_SENTINEL_URL or --sentinel-url-file".to_owned(),
        ),
        Reply::Error { code: "NOPERM", details } => Err(format!(
            "it refused SENTINEL GET-MASTER-ADDR-BY-NAME ({}): the sentinels' user needs `+sentinel|get-master-addr-by-name`",
            ServerError::new("NOPERM", details)
        )),
        Reply::Error { code, details } => Err(format!(
            "it refused SENTINEL GET-MASTER-ADDR-BY-NAME ({}): is it a Sentinel?",
            ServerError::new(code, details)
        )),
        Reply::Array(parts) if parts.len() == 2 => {
            address(parts.first(), parts.get(1)).map_err(|why| format!("its reply {why}"))
        }
        other => Err(format!(
            "it answered {}, not a host and a port",
            other.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::OwnedReply;

    fn reply(resp: &str) -> OwnedReply {
        OwnedReply::from_resp(resp.as_bytes().to_vec()).expect("RESP")
    }

    #[test]
    fn the_master_address_is_a_host_and_a_port_and_nothing_else() {
        let answer = |resp: &str| master_address(&reply(resp).reply(), "mymaster");
        assert_eq!(
            answer("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"),
            Ok(("127.0.0.1".to_owned(), 6380))
        );
        assert_eq!(
            answer("*2\r\n$3\r\n::1\r\n$4\r\n6380\r\n"),
            Ok(("::1".to_owned(), 6380))
        );
        for (resp, why) in [
            ("*-1\r\n", "knows no master named `mymaster`"),
            ("$-1\r\n", "knows no master named `mymaster`"),
            (
                "-NOAUTH Authentication required.\r\n",
                "$REDIS_SENTINEL_URL",
            ),
            (
                "-NOPERM this user has no permissions\r\n",
                "+sentinel|get-master-addr-by-name",
            ),
            ("-ERR unknown command 'SENTINEL'\r\n", "is it a Sentinel?"),
            ("*1\r\n$9\r\n127.0.0.1\r\n", "not a host and a port"),
            (
                "*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n$1\r\nx\r\n",
                "not a host and a port",
            ),
            ("*2\r\n$9\r\n127.0.0.1\r\n$5\r\n70000\r\n", "gives no port"),
            ("*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n", "gives no port"),
            ("*2\r\n$9\r\n127.0.0.1\r\n$3\r\n6a0\r\n", "gives no port"),
            ("*2\r\n$10\r\nevil\nhost!\r\n$4\r\n6380\r\n", "as a host"),
            ("*2\r\n$0\r\n\r\n$4\r\n6380\r\n", "as a host"),
            (":1\r\n", "not a host and a port"),
        ] {
            let error = answer(resp).expect_err(resp);
            assert!(error.contains(why), "{resp:?}: {error}");
            assert!(!error.contains('\n'), "one line: {error:?}");
        }
    }

    #[test]
    fn sentinel_addresses_are_host_and_port() {
        let parsed = |text: &str| SentinelAddress::parse(text).map(|a| a.to_string());
        assert_eq!(parsed("127.0.0.1:26379").as_deref(), Ok("127.0.0.1:26379"));
        assert_eq!(
            parsed(" sentinel-1:26379").as_deref(),
            Ok("sentinel-1:26379")
        );
        assert_eq!(parsed("[::1]:26379").as_deref(), Ok("[::1]:26379"));
        for (text, why) in [
            ("127.0.0.1", "not HOST:PORT"),
            ("::1:26379", "not HOST:PORT"),
            ("[127.0.0.1]:26379", "not HOST:PORT"),
            (":26379", "not a host name"),
            ("bad host:26379", "not a host name"),
            ("h:0", "not a port"),
            ("h:65536", "not a port"),
            ("h:port", "not a port"),
        ] {
            let error = parsed(text).expect_err(text);
            assert!(error.contains(why), "{text}: {error}");
        }
        assert!(check_master_name("mymaster").is_ok());
        assert!(check_master_name("").is_err());
        assert!(check_master_name("my master").is_err());
        assert!(check_master_name("m\u{1b}").is_err());
    }

    #[test]
    fn the_sentinels_url_lends_only_its_credentials_and_matches_tls() {
        let data = RedisUrl::parse("rediss://app:data-pw@ignored:1/3").expect("url");
        let credentials = RedisUrl::parse("rediss://watcher:s3ntinel@ignored").expect("url");
        assert!(check_urls(&data, Some(&credentials)).is_ok());
        let at = data.sentinel_at("10.0.0.5", 26379, Some(&credentials));
        assert_eq!(at.to_string(), "rediss://watcher:***@10.0.0.5:26379");
        assert_eq!(at.db(), 0, "a Sentinel has no databases");
        assert_eq!(
            data.sentinel_at("10.0.0.5", 26379, None).to_string(),
            "rediss://10.0.0.5:26379"
        );
        let plain = RedisUrl::parse("redis://:pw@ignored").expect("url");
        assert!(matches!(
            check_urls(&data, Some(&plain)),
            Err(SentinelError::Credentials { .. })
        ));
        let socket = RedisUrl::parse("unix:///run/redis.sock").expect("url");
        assert!(matches!(
            check_urls(&socket, None),
            Err(SentinelError::SocketUrl)
        ));
        assert!(matches!(
            check_urls(&plain, Some(&socket)),
            Err(SentinelError::Credentials { .. })
        ));
    }
}
