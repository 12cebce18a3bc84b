//! The server URL, parsed once into its parts, and printed only redacted.
//!
//! A URL is where a password reaches the tool on the command line, and every message about
//! the server names the URL. Finding the password inside the text each time a message is
//! written broke on passwords a URL cannot hold raw (a `/` ended the redaction early and
//! printed the rest), so the text is parsed once, here, with the parser redis-rs uses, and
//! then dropped: [`RedisUrl`] keeps the parts, hands redis-rs a `ConnectionInfo` built from
//! them (no client error can echo the text), keeps the password as a [`Secret`] that never
//! Displays or Debugs, and Displays (and Debugs) only its redacted form, [`RedactedUrl`].
//! A URL that does not parse is described by its scheme alone: where its password starts
//! cannot be known.
//!
//! Where the URL comes from is [`resolve_url`]: `--url`, `--url-file`, `$REDIS_URL`, the
//! default.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion};

/// Default server when no URL is given.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Redis's own default port.
const DEFAULT_PORT: u16 = 6379;

/// The schemes redis-rs connects with: plain TCP, TLS, and Unix sockets.
const TCP_SCHEMES: &[&str] = &["redis", "valkey"];
const TLS_SCHEMES: &[&str] = &["rediss", "valkeys"];
const UNIX_SCHEMES: &[&str] = &["unix", "redis+unix", "valkey+unix"];

/// The valid schemes, for messages.
const SCHEMES_SHOWN: &str =
    "redis://, rediss://, valkey://, valkeys://, unix://, redis+unix:// or valkey+unix://";

/// A password. It never Displays or Debugs; [`Secret::expose`] is for the connection only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The password itself, to authenticate with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A server URL with its secrets masked, the only form in which a URL is ever printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// The redacted form of a URL's text, or the error saying why it does not parse (which
    /// shows no more than its scheme).
    pub fn new(url: &str) -> Self {
        match RedisUrl::parse(url) {
            Ok(url) => url.redacted().clone(),
            Err(e) => RedactedUrl(e.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `host` without brackets (an IPv6 address as `::1`); `tls` for `rediss://`, with
    /// `insecure` for `#insecure` (no check of the certificate's host name).
    Tcp {
        host: String,
        port: u16,
        tls: Option<Tls>,
    },
    Unix(PathBuf),
}

/// How a TLS connection checks the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    Verified,
    /// `#insecure`: any host name is accepted.
    Insecure,
}

/// A parsed server URL. Displays and Debugs as its redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    scheme: &'static str,
    address: Address,
    user: Option<String>,
    password: Option<Secret>,
    db: u32,
    protocol: Option<ProtocolVersion>,
    /// The redacted form, made once.
    shown: RedactedUrl,
}

/// Why a URL cannot be used. Its text shows the URL's scheme, when it is a known one, and
/// nothing else of the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    scheme: Option<&'static str>,
    why: String,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Some(scheme) => write!(
                f,
                "invalid Redis URL (scheme {scheme}://, the rest not shown): {}",
                self.why
            ),
            None => write!(f, "invalid Redis URL (not shown): {}", self.why),
        }
    }
}

impl std::error::Error for UrlError {}

/// Advice for a URL whose structure broke, most often on a password character that a URL
/// cannot hold raw.
const ENCODE_HINT: &str = "write `/`, `@`, `:`, `#`, `?`, `%` and spaces in a user or password percent-encoded (`%2F`, `%40`, `%3A`, `%23`, `%3F`, `%25`, `%20`)";

impl RedisUrl {
    /// Parse a URL: `redis://[user:password@]host[:port][/db][?protocol=resp3]`,
    /// `rediss://...[#insecure]`, or `unix:///path/to/socket[?db=N&user=U&pass=P]`.
    pub fn parse(text: &str) -> Result<RedisUrl, UrlError> {
        let Some(scheme) = known_scheme(text) else {
            return Err(UrlError {
                scheme: None,
                why: format!("a server URL starts with {SCHEMES_SHOWN}"),
            });
        };
        let fail = |why: String| UrlError {
            scheme: Some(scheme),
            why,
        };
        let url = ::url::Url::parse(text).map_err(|e| fail(format!("{e}; {ENCODE_HINT}")))?;
        let parts = if UNIX_SCHEMES.contains(&scheme) {
            unix_parts(&url)
        } else {
            tcp_parts(&url, TLS_SCHEMES.contains(&scheme))
        }
        .map_err(fail)?;
        Ok(RedisUrl::from_parts(scheme, parts))
    }

    fn from_parts(scheme: &'static str, parts: Parts) -> RedisUrl {
        let mut url = RedisUrl {
            scheme,
            address: parts.address,
            user: parts.user,
            password: parts.password,
            db: parts.db,
            protocol: parts.protocol,
            shown: RedactedUrl(String::new()),
        };
        url.shown = RedactedUrl(url.redact(parts.db_given));
        url
    }

    pub fn scheme(&self) -> &str {
        self.scheme
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The user to authenticate as (`None`: the `default` user).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    pub fn db(&self) -> u32 {
        self.db
    }

    /// The only printable form: `redis://user:***@host:6379/2`.
    pub fn redacted(&self) -> &RedactedUrl {
        &self.shown
    }

    /// What redis-rs connects with; built from the parts, so the URL's text is not in it.
    pub fn connection_info(&self) -> redis::RedisResult<ConnectionInfo> {
        let addr = match &self.address {
            Address::Tcp {
                host,
                port,
                tls: None,
            } => ConnectionAddr::Tcp(host.clone(), *port),
            Address::Tcp {
                host,
                port,
                tls: Some(tls),
            } => ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: *tls == Tls::Insecure,
                tls_params: None,
            },
            Address::Unix(path) => ConnectionAddr::Unix(path.clone()),
        };
        // No `CLIENT SETINFO` (the client's default on connecting): the documented users may
        // not run it, and each refusal would be an entry in the server's ACL log, on every
        // connection to Redis 7.2 and later.
        let mut settings = redis::RedisConnectionInfo::default()
            .set_db(i64::from(self.db))
            .set_protocol(self.protocol.unwrap_or_default())
            .set_skip_set_lib_name();
        if let Some(user) = &self.user {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password.expose());
        }
        // `TCP_NODELAY`, as the bounded reader sets it: the client's default leaves Nagle's
        // algorithm on, which held a pipeline's last segment back until the server
        // acknowledged the one before (up to its delayed-ACK time, 40 ms on Linux).
        let tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
        Ok(addr
            .into_connection_info()?
            .set_redis_settings(settings)
            .set_tcp_settings(tcp))
    }

    /// The same credentials, database and TLS settings for another node of the deployment
    /// (a replica, a cluster node), at `host:port`: TLS when this URL uses it (with its
    /// `#insecure`), plain TCP otherwise, a Unix socket's URL included.
    pub fn at(&self, host: &str, port: u16) -> RedisUrl {
        let (scheme, tls) = match &self.address {
            Address::Tcp { tls: Some(tls), .. } => ("rediss", Some(*tls)),
            _ => ("redis", None),
        };
        let mut url = RedisUrl {
            scheme,
            address: Address::Tcp {
                host: host.to_owned(),
                port,
                tls,
            },
            user: self.user.clone(),
            password: self.password.clone(),
            db: self.db,
            protocol: self.protocol,
            shown: RedactedUrl(String::new()),
        };
        url.shown = RedactedUrl(url.redact(self.db != 0));
        url
    }

    /// A Redis Sentinel at `host:port`, reached as this URL's nodes are (TLS when this URL
    /// uses it), logging in with the user and password of `credentials` (none without),
    /// in database 0 (a Sentinel has no databases: it refuses `SELECT`).
    pub fn sentinel_at(&self, host: &str, port: u16, credentials: Option<&RedisUrl>) -> RedisUrl {
        let mut url = self.at(host, port);
        url.user = credentials.and_then(|c| c.user.clone());
        url.password = credentials.and_then(|c| c.password.clone());
        url.db = 0;
        url.protocol = None;
        url.shown = RedactedUrl(url.redact(false));
        url
    }

    /// `text` with every form of the password in it replaced by `***`: as decoded, as written
    /// in a URL, and percent-encoded (upper- and lowercase hex). For messages of libraries
    /// and servers that might echo what they were given.
    pub fn scrub(&self, text: &str) -> String {
        let Some(password) = &self.password else {
            return text.to_owned();
        };
        let mut text = text.to_owned();
        for form in password_forms(password.expose()) {
            if !form.is_empty() {
                text = text.replace(&form, "***");
            }
        }
        text
    }

    /// The redacted form: `scheme://`, the address with the user and `***` for a password,
    /// then the parameters; the database when the URL named one (or it is not 0).
    fn redact(&self, db_given: bool) -> String {
        let db = (db_given || self.db != 0).then_some(self.db);
        let (mut shown, mut query) = match &self.address {
            Address::Tcp { host, port, .. } => (self.tcp_shown(host, *port, db), Vec::new()),
            Address::Unix(path) => (path.display().to_string(), self.unix_query(db)),
        };
        if let Some(protocol) = self.protocol {
            query.push(format!("protocol={}", protocol_name(protocol)));
        }
        if !query.is_empty() {
            shown.push('?');
            shown.push_str(&query.join("&"));
        }
        if let Address::Tcp {
            tls: Some(Tls::Insecure),
            ..
        } = self.address
        {
            shown.push_str("#insecure");
        }
        let shown = format!("{}://{shown}", self.scheme);
        // A socket path may hold anything, a control character included.
        crate::text::untrusted_within(&shown, usize::MAX).into_owned()
    }

    /// `user:***@host:port/db`.
    fn tcp_shown(&self, host: &str, port: u16, db: Option<u32>) -> String {
        let userinfo = match (&self.user, &self.password) {
            (Some(user), Some(_)) => format!("{}:***@", shown_user(user)),
            (Some(user), None) => format!("{}@", shown_user(user)),
            (None, Some(_)) => ":***@".to_owned(),
            (None, None) => String::new(),
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let db = db.map(|db| format!("/{db}")).unwrap_or_default();
        format!("{userinfo}{host}:{port}{db}")
    }

    /// `user=U`, `pass=***`, `db=N` of a Unix socket URL.
    fn unix_query(&self, db: Option<u32>) -> Vec<String> {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("user={}", shown_user(u)));
        let pass = self.password.as_ref().map(|_| "pass=***".to_owned());
        let db = db.map(|db| format!("db={db}"));
        [user, pass, db].into_iter().flatten().collect()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown.as_str())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

/// A user name as a URL writes it (percent-encoded where needed), so that it reads back as
/// the same name and holds no control character.
fn shown_user(user: &str) -> Cow<'_, str> {
    const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'/')
        .add(b':')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'@')
        .add(b'[')
        .add(b'\\')
        .add(b']')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    utf8_percent_encode(user, USERINFO).into()
}

/// The forms a password can take in text.
fn password_forms(password: &str) -> Vec<String> {
    let encoded = utf8_percent_encode(password, NON_ALPHANUMERIC).to_string();
    let mut url = ::url::Url::parse("redis://host").ok();
    let as_written = url
        .as_mut()
        .and_then(|url| url.set_password(Some(password)).ok().map(|()| url))
        .and_then(|url| url.password().map(str::to_owned));
    let mut forms = vec![password.to_owned(), encoded.to_lowercase(), encoded];
    forms.extend(as_written);
    // Longest first, so that a form containing another is replaced whole.
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms.dedup();
    forms
}

/// The parts of a URL, before they become a [`RedisUrl`].
struct Parts {
    address: Address,
    user: Option<String>,
    password: Option<Secret>,
    db: u32,
    /// Whether the URL named a database (shown then, even `/0`).
    db_given: bool,
    protocol: Option<ProtocolVersion>,
}

/// The scheme of `text` if it is one of the known ones (compared as URLs do, ignoring case).
/// Only a known scheme is ever printed: anything else may be part of a secret.
fn known_scheme(text: &str) -> Option<&'static str> {
    let (scheme, _) = text.split_once("://")?;
    TCP_SCHEMES
        .iter()
        .chain(TLS_SCHEMES)
        .chain(UNIX_SCHEMES)
        .find(|known| known.eq_ignore_ascii_case(scheme))
        .copied()
}

fn tcp_parts(url: &::url::Url, tls: bool) -> Result<Parts, String> {
    let (user, password) = credentials(url)?;
    let (db, db_given) = tcp_db(url)?;
    let mut protocol = None;
    for (name, value) in url.query_pairs() {
        match &*name {
            "protocol" => protocol = Some(parse_protocol(&value)?),
            _ => {
                return Err(format!(
                    "the only URL parameter read here is `protocol` (resp2 or resp3); {ENCODE_HINT}"
                ));
            }
        }
    }
    Ok(Parts {
        address: Address::Tcp {
            host: tcp_host(url)?,
            port: url.port().unwrap_or(DEFAULT_PORT),
            tls: tls_mode(url, tls)?,
        },
        user,
        password,
        db,
        db_given,
        protocol,
    })
}

/// The host as redis-rs connects to it (an IPv6 address without brackets).
fn tcp_host(url: &::url::Url) -> Result<String, String> {
    let host = match url.host() {
        Some(::url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
        Some(::url::Host::Ipv4(ip)) => ip.to_string(),
        Some(::url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(format!("the URL names no host; {ENCODE_HINT}")),
    };
    if host == "0.0.0.0" || host == "::" {
        return Err("a wildcard address (0.0.0.0 or ::) names no server".to_owned());
    }
    Ok(host)
}

/// TLS for `rediss://` (`#insecure`: no host name check); any other fragment is an error, as
/// it most often is a `#` of a password that was not encoded.
fn tls_mode(url: &::url::Url, tls: bool) -> Result<Option<Tls>, String> {
    match (tls, url.fragment()) {
        (true, None) => Ok(Some(Tls::Verified)),
        (true, Some("insecure")) => Ok(Some(Tls::Insecure)),
        (false, None) => Ok(None),
        _ => Err(format!(
            "only `#insecure` may follow a `#` (with rediss://); {ENCODE_HINT}"
        )),
    }
}

/// The database of the path (`/2`), and whether the URL named one.
fn tcp_db(url: &::url::Url) -> Result<(u32, bool), String> {
    match url.path().trim_matches('/') {
        "" => Ok((0, false)),
        db => db.parse::<u32>().map(|db| (db, true)).map_err(|_| {
            format!(
                "the database (the path after host:port) must be a number, e.g. redis://host:6379/0; {ENCODE_HINT}"
            )
        }),
    }
}

/// The user and password, percent-decoded.
fn credentials(url: &::url::Url) -> Result<(Option<String>, Option<Secret>), String> {
    let user = decoded(url.username(), "user")?;
    let password = match url.password() {
        Some(password) => decoded(password, "password")?.map(Secret),
        None => None,
    };
    if user.is_some() && password.is_none() {
        // redis-rs sends no AUTH without a password, so the user would be ignored; and a
        // lone user is most often a password missing its `:` (so it is not shown).
        return Err("the URL has a user but no password: write redis://user:password@host, or redis://:password@host for the default user".to_owned());
    }
    Ok((user, password))
}

fn unix_parts(url: &::url::Url) -> Result<Parts, String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a unix:// URL takes its user and password as parameters: unix:///path/to/socket?user=U&pass=P".to_owned());
    }
    let path = url
        .to_file_path()
        .map_err(|()| "the URL names no socket path: unix:///path/to/socket".to_owned())?;
    let mut parts = Parts {
        address: Address::Unix(path),
        user: None,
        password: None,
        db: 0,
        db_given: false,
        protocol: None,
    };
    for (name, value) in url.query_pairs() {
        match &*name {
            "user" => parts.user = Some(value.into_owned()).filter(|u| !u.is_empty()),
            "pass" => parts.password = Some(Secret(value.into_owned())).filter(|p| !p.0.is_empty()),
            "db" => {
                parts.db = value.parse().map_err(|_| {
                    "the `db` parameter must be a number, e.g. unix:///path/to/socket?db=0"
                        .to_owned()
                })?;
                parts.db_given = true;
            }
            "protocol" => parts.protocol = Some(parse_protocol(&value)?),
            _ => {
                return Err(
                    "the parameters of a unix:// URL are `user`, `pass`, `db` and `protocol`"
                        .to_owned(),
                );
            }
        }
    }
    Ok(parts)
}

fn parse_protocol(value: &str) -> Result<ProtocolVersion, String> {
    match value {
        "2" | "resp2" => Ok(ProtocolVersion::RESP2),
        "3" | "resp3" => Ok(ProtocolVersion::RESP3),
        _ => Err("`protocol` is resp2 or resp3".to_owned()),
    }
}

fn protocol_name(protocol: ProtocolVersion) -> &'static str {
    match protocol {
        ProtocolVersion::RESP3 => "resp3",
        _ => "resp2",
    }
}

/// A percent-encoded part of a URL, decoded; `what` names it in the error (never its text).
fn decoded(part: &str, what: &str) -> Result<Option<String>, String> {
    if part.is_empty() {
        return Ok(None);
    }
    percent_decode_str(part)
        .decode_utf8()
        .map(|text| Some(text.into_owned()))
        .map_err(|_| format!("the {what} is not UTF-8 once percent-decoded"))
}

/// Where the URL was given, which decides whether to warn about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag,
    File,
    Environment,
    Default,
}

/// The server URL: `--url`, else `--url-file` (its first line, trimmed), else `$REDIS_URL`
/// (when set and not empty), else [`DEFAULT_URL`]. `Err` says what is wrong without
/// showing the URL.
pub fn resolve_url(
    flag: Option<&str>,
    file: Option<&Path>,
    environment: Option<String>,
) -> Result<(RedisUrl, Origin), String> {
    let (text, origin) = match (flag, file) {
        (Some(flag), _) => (flag.to_owned(), Origin::Flag),
        (None, Some(file)) => (read_url_file(file)?, Origin::File),
        (None, None) => match environment.filter(|url| !url.is_empty()) {
            Some(url) => (url, Origin::Environment),
            None => (DEFAULT_URL.to_owned(), Origin::Default),
        },
    };
    let url = RedisUrl::parse(text.trim()).map_err(|e| match (origin, file) {
        (Origin::File, Some(file)) => format!("{e} (in the URL file {})", file.display()),
        (Origin::Environment, _) => format!("{e} (in $REDIS_URL)"),
        _ => e.to_string(),
    })?;
    Ok((url, origin))
}

/// The first line of a URL file, trimmed (editors and `echo` end it with a newline).
fn read_url_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the URL file {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        return Err(format!(
            "the URL file {} is empty: write the server URL on its first line",
            path.display()
        ));
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(url: &str) -> String {
        match RedisUrl::parse(url) {
            Ok(url) => url.to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn urls_are_shown_redacted() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://cache", "redis://cache:6379"),
            ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
            (
                "rediss://app:s3cret@host:6380",
                "rediss://app:***@host:6380",
            ),
            (
                "REDISS://app:s3cret@host/2#insecure",
                "rediss://app:***@host:6379/2#insecure",
            ),
            ("redis://u:p@ss@host/1", "redis://u:***@host:6379/1"),
            (
                "redis://a%40b:s3cret@[::1]:7000/",
                "redis://a%40b:***@[::1]:7000",
            ),
            (
                "redis://:s3cr%2Fet@host?protocol=resp3",
                "redis://:***@host:6379?protocol=resp3",
            ),
            (
                "unix:///run/redis.sock?user=app&pass=s3cret&db=3",
                "unix:///run/redis.sock?user=app&pass=***&db=3",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(shown(url), expected, "{url}");
            assert_eq!(
                format!("{:?}", RedisUrl::parse(url).expect(url)),
                format!("RedisUrl({expected})")
            );
        }
    }

    #[test]
    fn a_url_that_does_not_parse_shows_its_scheme_only() {
        let cases = [
            (
                "redis://app:s3cr/et+x@127.0.0.1:1/0",
                "scheme redis://",
                "invalid port number",
            ),
            (
                "redis://app:s3cr#et@srvx",
                "scheme redis://",
                "invalid port number",
            ),
            (
                "redis://app:12/s3cret@srvx/0",
                "scheme redis://",
                "the database",
            ),
            (
                "redis://app:12#s3cret@srvx",
                "scheme redis://",
                "only `#insecure`",
            ),
            (
                "redis://app:12?s3cret@srvx",
                "scheme redis://",
                "`protocol`",
            ),
            (
                "redis://s3cret@srvx",
                "scheme redis://",
                "a user but no password",
            ),
            ("rediss://:s3cret@0.0.0.0", "scheme rediss://", "wildcard"),
            ("redis://:s3cret@/0", "scheme redis://", "empty host"),
            (
                "unix://u:s3cret@localhost/sock",
                "scheme unix://",
                "as parameters",
            ),
            (
                "unix:///sock?pass=s3cret&db=x",
                "scheme unix://",
                "`db` parameter",
            ),
            ("s3cret://srvx", "not shown", "redis://, rediss://"),
            ("s3cret", "not shown", "redis://, rediss://"),
        ];
        for (url, scheme, why) in cases {
            let text = shown(url);
            assert!(text.starts_with("invalid Redis URL ("), "{url}: {text}");
            assert!(text.contains(scheme) && text.contains(why), "{url}: {text}");
            assert!(
                !text.contains("s3cr") && !text.contains("srvx"),
                "{url}: {text}"
            );
            assert_eq!(RedactedUrl::new(url).as_str(), text);
        }
    }

    #[test]
    fn the_parts_are_decoded_and_reach_the_connection() {
        let url = RedisUrl::parse("rediss://ap%70:p%2F%40ss%20w@h.example:7000/4#insecure")
            .expect("valid");
        assert_eq!(url.user(), Some("app"));
        assert_eq!(url.password().map(Secret::expose), Some("p/@ss w"));
        assert_eq!(format!("{:?}", url.password()), "Some(***)");
        assert_eq!(url.db(), 4);
        let info = url.connection_info().expect("info");
        assert_eq!(info.redis_settings().username(), Some("app"));
        assert_eq!(info.redis_settings().password(), Some("p/@ss w"));
        assert_eq!(info.redis_settings().db(), 4);
        assert!(matches!(
            info.addr(),
            ConnectionAddr::TcpTls { host, port: 7000, insecure: true, .. } if host == "h.example"
        ));
        let unix = RedisUrl::parse("redis+unix:///tmp/r.sock?db=2").expect("valid");
        assert_eq!(unix.address(), &Address::Unix(PathBuf::from("/tmp/r.sock")));
        assert_eq!(
            unix.connection_info().expect("info").redis_settings().db(),
            2
        );
    }

    #[test]
    fn every_form_of_the_password_is_scrubbed() {
        let url = RedisUrl::parse("redis://app:p%2Fss%C3%A9%20x@host").expect("valid");
        for form in [
            "p/ssé x",
            "p%2Fss%C3%A9%20x",
            "p%2fss%c3%a9%20x",
            "p%2Fss%C3%A9%20x",
        ] {
            assert_eq!(url.scrub(&format!("bad {form}!")), "bad ***!", "{form}");
        }
        let plain = RedisUrl::parse("redis://host").expect("valid");
        assert_eq!(plain.scrub("text"), "text");
    }

    #[test]
    fn the_url_comes_from_the_flag_the_file_the_environment_or_the_default() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("url");
        std::fs::write(&file, " redis://:pw@from-file:1 \nsecond line\n").expect("write");
        let env = || Some("redis://from-env:2".to_owned());
        let resolved = |flag, file, env| {
            resolve_url(flag, file, env).map(|(url, origin)| (url.to_string(), origin))
        };
        assert_eq!(
            resolved(Some("redis://from-flag:3"), Some(&file), env()),
            Ok(("redis://from-flag:3".to_owned(), Origin::Flag))
        );
        assert_eq!(
            resolved(None, Some(&file), env()),
            Ok(("redis://:***@from-file:1".to_owned(), Origin::File))
        );
        assert_eq!(
            resolved(None, None, env()),
            Ok(("redis://from-env:2".to_owned(), Origin::Environment))
        );
        assert_eq!(
            resolved(None, None, Some(String::new())),
            Ok((DEFAULT_URL.to_owned(), Origin::Default))
        );
        let missing = dir.path().join("missing");
        let error = resolved(None, Some(&missing), None).expect_err("missing");
        assert!(error.starts_with("cannot read the URL file "), "{error}");
        std::fs::write(&file, "\n\n").expect("write");
        let error = resolved(None, Some(&file), None).expect_err("empty");
        assert!(error.contains("is empty"), "{error}");
        std::fs::write(&file, "redis://:s3cr/et@host\n").expect("write");
        let error = resolved(None, Some(&file), None).expect_err("invalid");
        assert!(
            error.contains("(in the URL file ") && !error.contains("s3cr"),
            "{error}"
        );
        let error =
            resolved(None, None, Some("redis://:s3cr/et@host".into())).expect_err("invalid");
        assert!(
            error.ends_with("(in $REDIS_URL)") && !error.contains("s3cr"),
            "{error}"
        );
    }
}
