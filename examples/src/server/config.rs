//! The server's configuration: a TOML file, or the embedded defaults when there is none.
//!
//! Parsing is strict (SRV-067): an unknown key, a value of the wrong type or a value that
//! does not parse (a domain, an address, a network, a duration, a size) is an error that
//! names the file, the line and the column. Checks that involve several values (two
//! listeners on one address, an alias pointing outside the local domains, a user defined
//! twice) are errors too, with the line of the offending entry.
//!
//! Relative paths are resolved against the directory of the configuration file, or the
//! current directory for the embedded defaults.
//!
//! [`EXAMPLE`] is the commented file `mail-server init` writes; it spells out every
//! default, and a test checks that it parses to exactly [`Config::default`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::types::{Address, ByteSize, Cidr, DomainName, Dur};

/// What a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Inbound SMTP from other servers (port 25 in production): local recipients only, no
    /// AUTH, STARTTLS offered.
    Mx,
    /// Message submission (RFC 6409, ports 587 and 465): AUTH required.
    Submission,
    /// IMAP4rev1/IMAP4rev2 over the users' Maildirs.
    Imap,
    /// ManageSieve (RFC 5804): the users' Sieve scripts.
    Managesieve,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mx => "mx",
            Self::Submission => "submission",
            Self::Imap => "imap",
            Self::Managesieve => "managesieve",
        })
    }
}

/// How a listener uses TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Cleartext only (no STARTTLS offered).
    None,
    /// Cleartext with STARTTLS offered; AUTH only after it (except on loopback when
    /// `auth.plaintext = "loopback"`).
    Starttls,
    /// TLS from the first byte (ports 465, 993).
    Implicit,
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// The protocol and policy.
    pub service: Service,
    /// Address and port to bind.
    pub address: SocketAddr,
    /// TLS mode.
    pub tls: TlsMode,
}

/// Certificate and key files. With neither set, a self-signed certificate for the hostname
/// is generated on first start into `DATA_DIR/tls/`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub certificate: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: Option<PathBuf>,
}

/// When a password may cross a connection without TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plaintext {
    /// Never: AUTH/LOGIN are offered only inside TLS.
    Never,
    /// Also on connections from a loopback address (Dovecot's default notion of a secure
    /// connection).
    Loopback,
}

/// The shared authentication service (SRV-010).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether passwords are accepted without TLS.
    pub plaintext: Plaintext,
    /// Delay before answering a failed login (Dovecot's `auth_failure_delay`).
    pub failure_delay: Dur,
    /// Failed logins on one connection before it is closed.
    pub max_failures: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            plaintext: Plaintext::Loopback,
            failure_delay: Dur(Duration::from_secs(2)),
            max_failures: 3,
        }
    }
}

/// A user defined in the configuration file (the users file is the other source).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The address, which is also the login.
    pub address: Address,
    /// `{SCHEME}hash` (see `mail-server hash-password`); empty for a delivery-only account.
    #[serde(default)]
    pub password: String,
    /// Storage quota; none means `limits.default_quota`.
    #[serde(default)]
    pub quota: Option<ByteSize>,
}

/// One or several alias targets.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Targets {
    /// `"alice@example.org"`
    One(String),
    /// `["alice@example.org", "bob"]`
    Many(Vec<String>),
}

impl Targets {
    /// The targets as a slice.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }
}

/// Resource limits. Every one has a safe default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted (SMTP SIZE, IMAP APPEND).
    pub max_message_size: ByteSize,
    /// Recipients per SMTP transaction.
    pub max_recipients: u32,
    /// Connections open at once, all listeners together.
    pub max_connections: u32,
    /// Connections open at once from one client address.
    pub max_connections_per_ip: u32,
    /// New connections per minute from one client address (0: no limit).
    pub connection_rate_per_ip: u32,
    /// Client networks the per-address limits do not apply to.
    pub exempt_networks: Vec<Cidr>,
    /// Idle time before an SMTP session is closed (RFC 5321 §4.5.3.2: at least 5 minutes).
    pub smtp_timeout: Dur,
    /// Idle time before an authenticated IMAP session is logged out (RFC 9051: at least
    /// 30 minutes).
    pub imap_timeout: Dur,
    /// Time a client has to log in before it is disconnected (IMAP, ManageSieve).
    pub login_timeout: Dur,
    /// Quota of users that have none of their own (none: unlimited).
    pub default_quota: Option<ByteSize>,
    /// Memory all messages being received over SMTP may use together; beyond it the
    /// messages that do not fit are refused with `452 4.3.1` (the senders retry). It
    /// counts the bytes received; at the end of the data a message is briefly held twice
    /// (the received bytes and the copy with the trace fields written to the Maildir).
    pub message_memory: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: ByteSize(25 << 20),
            max_recipients: 100,
            max_connections: 1000,
            max_connections_per_ip: 50,
            connection_rate_per_ip: 300,
            exempt_networks: Vec::new(),
            smtp_timeout: Dur(Duration::from_mins(5)),
            imap_timeout: Dur(Duration::from_mins(30)),
            login_timeout: Dur(Duration::from_mins(1)),
            default_quota: None,
            message_memory: ByteSize(512 << 20),
        }
    }
}

/// What a DNS failure (timeout, SERVFAIL) during SPF/DKIM/DMARC does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TempErrorPolicy {
    /// Accept the message and record `temperror` in Authentication-Results.
    Accept,
    /// Answer `451 4.4.3` so the sender retries later.
    Tempfail,
}

/// Greylisting (RFC 6647), off by default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GreylistConfig {
    /// Whether unknown (network, sender, recipient) triplets are deferred.
    pub enabled: bool,
    /// How long a new triplet is deferred.
    pub delay: Dur,
    /// How long after the first attempt a retry still counts.
    pub retry_window: Dur,
    /// How long a passed triplet stays known without new mail.
    pub expire: Dur,
    /// Client networks never greylisted.
    pub allow_networks: Vec<Cidr>,
    /// Sender domains never greylisted when SPF passes for them: the big providers retry
    /// from other addresses and would otherwise be delayed for hours (SRV-028).
    pub allow_spf_domains: Vec<DomainName>,
}

impl Default for GreylistConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            delay: Dur(Duration::from_mins(5)),
            retry_window: Dur(Duration::from_hours(24)),
            expire: Dur(Duration::from_hours(35 * 24)),
            allow_networks: Vec::new(),
            allow_spf_domains: DEFAULT_PROVIDERS
                .iter()
                .map(|d| d.parse().expect("built-in provider names are valid"))
                .collect(),
        }
    }
}

/// Providers whose outbound mail comes from large, changing address pools.
pub const DEFAULT_PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "yahoo.com",
    "icloud.com",
    "me.com",
    "gmx.net",
    "web.de",
    "proton.me",
    "protonmail.com",
    "fastmail.com",
];

/// One DNS block (or allow) list.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsblZone {
    /// The list's zone, e.g. `zen.spamhaus.org`.
    pub zone: DomainName,
    /// Points added when the client is listed (negative for allow lists).
    #[serde(default = "one")]
    pub weight: i32,
    /// Only these answers count, as Postfix writes them: `127.0.0.2`, `127.0.0.[2..11]`,
    /// `127.0.[0..255].[1;3]`. None: any answer in 127.0.0.0/8 except 127.255.255.0/24.
    #[serde(default)]
    pub filter: Option<String>,
}

fn one() -> i32 {
    1
}

/// DNSBL scoring at connect (SRV-022), off by default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsblConfig {
    /// Whether the lists are consulted.
    pub enabled: bool,
    /// A client whose score reaches this is refused with 554 5.7.1.
    pub threshold: i32,
    /// The lists.
    pub zones: Vec<DnsblZone>,
}

impl Default for DnsblConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            threshold: 1,
            zones: Vec::new(),
        }
    }
}

/// Sender authentication and anti-abuse checks on the MX.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Time one DNS lookup may take.
    pub dns_timeout: Dur,
    /// Resolvers to ask (`127.0.0.1:53`); empty: the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
    /// What a DNS failure does.
    pub temperror: TempErrorPolicy,
    /// Evaluate SPF (RFC 7208).
    pub spf: bool,
    /// Verify DKIM signatures (RFC 6376).
    pub dkim: bool,
    /// Evaluate DMARC (RFC 7489).
    pub dmarc: bool,
    /// Refuse mail whose DMARC evaluation fails under `p=reject` (550 5.7.1).
    pub dmarc_reject: bool,
    /// Evaluate ARC chains (RFC 8617).
    pub arc: bool,
    /// Greylisting.
    pub greylist: GreylistConfig,
    /// DNS block lists.
    pub dnsbl: DnsblConfig,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self {
            dns_timeout: Dur(Duration::from_secs(2)),
            dns_servers: Vec::new(),
            temperror: TempErrorPolicy::Accept,
            spf: true,
            dkim: true,
            dmarc: true,
            dmarc_reject: true,
            arc: true,
            greylist: GreylistConfig::default(),
            dnsbl: DnsblConfig::default(),
        }
    }
}

/// Logging.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `warn,mail_server=debug`. The `RUST_LOG`
    /// environment variable overrides it.
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel("info".into()),
        }
    }
}

/// A validated tracing filter directive.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LogLevel(pub String);

impl TryFrom<String> for LogLevel {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        tracing_subscriber::EnvFilter::builder()
            .parse(&s)
            .map(|_| Self(s.clone()))
            .map_err(|e| format!("`{s}` is not a log filter: {e}"))
    }
}

/// The whole configuration as read from the file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This host's name, used in greetings, Received fields and generated certificates
    /// (SMTP-033: never taken from the OS implicitly).
    pub hostname: DomainName,
    /// The domains this server receives mail for. Omitted: the hostname alone. The
    /// domains of the users are local too.
    pub domains: Option<Vec<DomainName>>,
    /// Where mail, scripts, state and the generated certificate live.
    pub data_dir: PathBuf,
    /// The users file (Dovecot passwd-file format), managed by `mail-server user`.
    /// Omitted: `DATA_DIR/passwd`.
    pub users_file: Option<PathBuf>,
    /// Listening sockets by name. Omitted: the six embedded defaults on loopback.
    pub listeners: Option<BTreeMap<String, ListenerConfig>>,
    /// Certificate and key.
    pub tls: TlsConfig,
    /// Authentication policy.
    pub auth: AuthConfig,
    /// Aliases: `"postmaster" = "alice@example.org"` (a bare local part applies to every
    /// local domain), `"sales@example.org" = ["bob@example.org", "carol@example.org"]`,
    /// `"@example.org" = "catchall@example.org"` (catch-all).
    pub aliases: BTreeMap<Spanned<String>, Spanned<Targets>>,
    /// Users besides those of the users file.
    pub users: Vec<Spanned<UserEntry>>,
    /// Limits.
    pub limits: Limits,
    /// Checks on inbound mail.
    pub checks: ChecksConfig,
    /// Logging.
    pub log: LogConfig,
    /// Directory relative paths are resolved against (not read from the file).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: "localhost".parse().expect("valid"),
            domains: None,
            data_dir: PathBuf::from("mail-data"),
            users_file: None,
            listeners: None,
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            aliases: BTreeMap::new(),
            users: Vec::new(),
            limits: Limits::default(),
            checks: ChecksConfig::default(),
            log: LogConfig::default(),
            base_dir: PathBuf::from("."),
        }
    }
}

/// The embedded default listeners: loopback only, unprivileged ports.
pub fn default_listeners() -> BTreeMap<String, ListenerConfig> {
    let l = |service, port, tls| ListenerConfig {
        service,
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        tls,
    };
    [
        ("mx", l(Service::Mx, 2525, TlsMode::Starttls)),
        (
            "submission",
            l(Service::Submission, 2587, TlsMode::Starttls),
        ),
        (
            "submissions",
            l(Service::Submission, 2465, TlsMode::Implicit),
        ),
        ("imap", l(Service::Imap, 2143, TlsMode::Starttls)),
        ("imaps", l(Service::Imap, 2993, TlsMode::Implicit)),
        (
            "managesieve",
            l(Service::Managesieve, 4190, TlsMode::Starttls),
        ),
    ]
    .into_iter()
    .map(|(n, c)| (n.to_string(), c))
    .collect()
}

/// A configuration error, with its place in the file when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, if the configuration came from one.
    pub file: Option<PathBuf>,
    /// Line and column (1-based).
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_deref()
            .map_or_else(|| "configuration".into(), |p| p.display().to_string());
        match self.position {
            Some((line, col)) => write!(f, "{file}:{line}:{col}: {}", self.message),
            None => write!(f, "{file}: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Line and column (1-based) of a byte offset.
pub fn position_of(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

/// An alias key, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AliasKey {
    /// One address.
    Exact(Address),
    /// A local part in every local domain (`postmaster`).
    LocalPart(String),
    /// Every otherwise unknown address of a domain (`@example.org`).
    CatchAll(DomainName),
}

impl Config {
    /// Parses a configuration text. `file` is only used to name it in errors and to
    /// resolve relative paths (against its directory).
    pub fn parse(text: &str, file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg: Self = toml::from_str(text).map_err(|e| ConfigError {
            file: file.map(Path::to_path_buf),
            position: e.span().map(|s| position_of(text, s.start)),
            message: e.message().trim_end().to_string(),
        })?;
        cfg.base_dir = match file.and_then(Path::parent) {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        cfg.validate().map_err(|(span, message)| ConfigError {
            file: file.map(Path::to_path_buf),
            position: span.map(|s| position_of(text, s)),
            message,
        })?;
        Ok(cfg)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            position: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, Some(path))
    }

    /// The embedded defaults, relative to the current directory.
    pub fn embedded() -> Self {
        let cfg = Self::default();
        cfg.validate().expect("the embedded defaults are valid");
        cfg
    }

    fn validate(&self) -> Result<(), (Option<usize>, String)> {
        let listeners = self.listeners();
        if listeners.is_empty() {
            return Err((None, "`listeners` is empty: nothing to serve".into()));
        }
        let mut seen = BTreeMap::new();
        for (name, l) in &listeners {
            // Port 0 asks the system for a free port: never a clash.
            if l.address.port() == 0 {
                continue;
            }
            if let Some(other) = seen.insert(l.address, name) {
                return Err((
                    None,
                    format!("listeners `{other}` and `{name}` both bind {}", l.address),
                ));
            }
        }
        if self.tls.certificate.is_some() != self.tls.private_key.is_some() {
            return Err((
                None,
                "`tls.certificate` and `tls.private_key` go together: set both or neither".into(),
            ));
        }
        let mut users = BTreeSet::new();
        for u in &self.users {
            if !users.insert(u.get_ref().address.clone()) {
                return Err((
                    Some(u.span().start),
                    format!("user {} is defined twice", u.get_ref().address),
                ));
            }
            if !u.get_ref().password.is_empty() {
                super::password::check_format(&u.get_ref().password).map_err(|e| {
                    (
                        Some(u.span().start),
                        format!("user {}: {e}", u.get_ref().address),
                    )
                })?;
            }
        }
        let configured = self.local_domains();
        let local: BTreeSet<&str> = configured
            .iter()
            .map(DomainName::as_str)
            .chain(users.iter().map(Address::domain))
            .collect();
        for (key, targets) in &self.aliases {
            let parsed = parse_alias_key(key.get_ref()).map_err(|e| (Some(key.span().start), e))?;
            match &parsed {
                AliasKey::Exact(a) if !local.contains(a.domain()) => {
                    return Err((
                        Some(key.span().start),
                        format!(
                            "alias {a}: {} is not a local domain (add it to `domains`)",
                            a.domain()
                        ),
                    ));
                }
                AliasKey::CatchAll(d) if !local.contains(d.as_str()) => {
                    return Err((
                        Some(key.span().start),
                        format!("catch-all @{d}: not a local domain (add it to `domains`)"),
                    ));
                }
                _ => {}
            }
            if targets.get_ref().as_slice().is_empty() {
                return Err((
                    Some(targets.span().start),
                    format!("alias {}: no target", key.get_ref()),
                ));
            }
            for t in targets.get_ref().as_slice() {
                let target = if t.contains('@') {
                    t.parse::<Address>()
                } else {
                    format!("{t}@localhost").parse::<Address>()
                }
                .map_err(|e| (Some(targets.span().start), format!("alias target: {e}")))?;
                if t.contains('@') && !local.contains(target.domain()) {
                    return Err((
                        Some(targets.span().start),
                        format!(
                            "alias {} -> {t}: forwarding to other domains needs the outbound queue, which this version does not have",
                            key.get_ref()
                        ),
                    ));
                }
            }
        }
        for z in &self.checks.dnsbl.zones {
            if let Some(f) = &z.filter {
                super::dnsbl::AnswerFilter::parse(f)
                    .map_err(|e| (None, format!("dnsbl zone {}: {e}", z.zone)))?;
            }
        }
        Ok(())
    }

    /// The listeners in effect (the file's, or the embedded defaults).
    pub fn listeners(&self) -> BTreeMap<String, ListenerConfig> {
        self.listeners.clone().unwrap_or_else(default_listeners)
    }

    /// The configured local domains (without the users' domains).
    pub fn local_domains(&self) -> Vec<DomainName> {
        self.domains
            .clone()
            .unwrap_or_else(|| vec![self.hostname.clone()])
    }

    /// A path from the file, resolved against the base directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.data_dir)
    }

    /// The users file.
    pub fn users_file(&self) -> PathBuf {
        match &self.users_file {
            Some(p) => self.resolve(p),
            None => self.data_dir().join("passwd"),
        }
    }

    /// Certificate and key paths, and whether they are to be generated when missing.
    pub fn tls_files(&self) -> (PathBuf, PathBuf, bool) {
        if let (Some(c), Some(k)) = (&self.tls.certificate, &self.tls.private_key) {
            (self.resolve(c), self.resolve(k), false)
        } else {
            let d = self.data_dir().join("tls");
            (d.join("cert.pem"), d.join("key.pem"), true)
        }
    }

    /// The aliases, parsed (validated at load, so this cannot fail afterwards).
    pub fn alias_entries(&self) -> Vec<(AliasKey, Vec<String>)> {
        self.aliases
            .iter()
            .filter_map(|(k, t)| {
                Some((
                    parse_alias_key(k.get_ref()).ok()?,
                    t.get_ref().as_slice().to_vec(),
                ))
            })
            .collect()
    }
}

/// Parses an alias key: `local@domain`, `local` or `@domain`.
pub fn parse_alias_key(key: &str) -> Result<AliasKey, String> {
    if let Some(domain) = key.strip_prefix('@') {
        return domain
            .parse()
            .map(AliasKey::CatchAll)
            .map_err(|e| format!("alias `{key}`: {e}"));
    }
    if key.contains('@') {
        return key
            .parse()
            .map(AliasKey::Exact)
            .map_err(|e| format!("alias `{key}`: {e}"));
    }
    // A bare local part: check it with a placeholder domain.
    format!("{key}@localhost")
        .parse::<Address>()
        .map(|a| AliasKey::LocalPart(a.local().to_string()))
        .map_err(|_| format!("alias `{key}`: not a local part, address or @domain"))
}

/// The commented configuration `mail-server init` writes. Every value is the default.
pub const EXAMPLE: &str = r#"# mail-server configuration (TOML). Every value below is the built-in default:
# delete what you do not change. Unknown keys are errors. Relative paths are
# relative to this file's directory.

# This host's name: SMTP greeting and EHLO, Received fields, the generated
# certificate. In production the host's FQDN, e.g. "mail.example.org".
hostname = "localhost"

# Domains this server receives mail for (the domains of the users are local
# too). Omitted: the hostname alone.
# domains = ["example.org", "example.net"]

# Mail (DATA_DIR/users/DOMAIN/USER/Maildir), Sieve scripts, state, the
# generated certificate.
data_dir = "mail-data"

# Users file in Dovecot passwd-file format, managed with `mail-server user`.
# Omitted: DATA_DIR/passwd.
# users_file = "mail-data/passwd"

# Listening sockets. Omitted: exactly these six, loopback only. For production,
# bind 0.0.0.0 / [::] on 25 (mx), 587 and 465 (submission), 993 (imap) and 4190.
# service: mx | submission | imap | managesieve;  tls: none | starttls | implicit
[listeners.mx]
service = "mx"
address = "127.0.0.1:2525"
tls = "starttls"

[listeners.submission]
service = "submission"
address = "127.0.0.1:2587"
tls = "starttls"

[listeners.submissions]
service = "submission"
address = "127.0.0.1:2465"
tls = "implicit"

[listeners.imap]
service = "imap"
address = "127.0.0.1:2143"
tls = "starttls"

[listeners.imaps]
service = "imap"
address = "127.0.0.1:2993"
tls = "implicit"

[listeners.managesieve]
service = "managesieve"
address = "127.0.0.1:4190"
tls = "starttls"

[tls]
# PEM files. With neither set, a self-signed certificate for `hostname` is
# generated on first start into DATA_DIR/tls/. SIGHUP reloads them.
# certificate = "/etc/letsencrypt/live/mail.example.org/fullchain.pem"
# private_key = "/etc/letsencrypt/live/mail.example.org/privkey.pem"

[auth]
# Passwords without TLS: "never", or "loopback" (also from 127.0.0.1 / ::1).
plaintext = "loopback"
# Pause before answering a failed login.
failure_delay = "2s"
# Failed logins on one connection before it is closed.
max_failures = 3

# Aliases. A bare local part applies to every local domain; "@domain" is a
# catch-all for addresses of that domain that exist nowhere else.
[aliases]
# "postmaster" = "alice@example.org"
# "sales@example.org" = ["bob@example.org", "carol@example.org"]
# "@example.org" = "alice@example.org"

# Users may also be listed here (hashes from `mail-server hash-password`):
# [[users]]
# address = "alice@example.org"
# password = "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$..."
# quota = "2G"

[limits]
max_message_size = "25M"
max_recipients = 100
max_connections = 1000
max_connections_per_ip = 50
# New connections per minute from one address (0: unlimited).
connection_rate_per_ip = 300
# Networks exempt from the two per-address limits, e.g. ["127.0.0.0/8"].
exempt_networks = []
smtp_timeout = "5m"
imap_timeout = "30m"
login_timeout = "1m"
# Quota of users without one of their own. Omitted: unlimited.
# default_quota = "1G"
# Memory all messages being received may use together (more: 452, retry later).
message_memory = "512M"

[checks]
# One DNS lookup may take this long; DNS trouble never stalls mail.
dns_timeout = "2s"
# Resolvers ("127.0.0.1:53"). Empty: the system's.
dns_servers = []
# On a DNS failure: "accept" (and record temperror) or "tempfail" (451).
temperror = "accept"
spf = true
dkim = true
dmarc = true
# Refuse mail that fails DMARC under p=reject.
dmarc_reject = true
arc = true

[checks.greylist]
enabled = false
delay = "5m"
retry_window = "1d"
expire = "35d"
allow_networks = []
# Never greylisted when SPF passes for them.
allow_spf_domains = ["gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com", "me.com", "gmx.net", "web.de", "proton.me", "protonmail.com", "fastmail.com"]

[checks.dnsbl]
enabled = false
# A client scoring this much is refused.
threshold = 1
zones = []
# zones = [
#   { zone = "zen.spamhaus.org", weight = 2, filter = "127.0.0.[2..11]" },
#   { zone = "list.dnswl.org", weight = -2, filter = "127.0.[0..255].[1..3]" },
# ]

[log]
# A tracing filter; the RUST_LOG environment variable overrides it.
level = "info"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_exactly_the_defaults() {
        let parsed = Config::parse(EXAMPLE, None).unwrap();
        let expected = Config {
            listeners: Some(default_listeners()),
            ..Config::default()
        };
        assert_eq!(parsed, expected);
        assert_eq!(parsed.listeners(), Config::embedded().listeners());
    }

    #[test]
    fn embedded_defaults_are_the_issue_s() {
        let c = Config::embedded();
        let ports: Vec<(String, u16, TlsMode)> = c
            .listeners()
            .into_iter()
            .map(|(n, l)| {
                assert!(l.address.ip().is_loopback(), "{n}");
                (n, l.address.port(), l.tls)
            })
            .collect();
        assert_eq!(
            ports,
            [
                ("imap".to_string(), 2143, TlsMode::Starttls),
                ("imaps".into(), 2993, TlsMode::Implicit),
                ("managesieve".into(), 4190, TlsMode::Starttls),
                ("mx".into(), 2525, TlsMode::Starttls),
                ("submission".into(), 2587, TlsMode::Starttls),
                ("submissions".into(), 2465, TlsMode::Implicit),
            ]
        );
        assert_eq!(c.hostname.as_str(), "localhost");
        assert_eq!(c.local_domains(), ["localhost".parse().unwrap()]);
        assert_eq!(c.data_dir(), Path::new("./mail-data"));
        assert_eq!(c.users_file(), Path::new("./mail-data/passwd"));
        assert!(c.tls_files().2);
    }

    fn err(text: &str) -> ConfigError {
        Config::parse(text, Some(Path::new("/etc/m.toml"))).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        let e = err("hostname = \"a\"\n\nbogus = 1\n");
        assert_eq!(e.position, Some((3, 1)), "{e}");
        assert!(e.message.contains("unknown field `bogus`"), "{e}");
        assert!(e.to_string().starts_with("/etc/m.toml:3:1: "), "{e}");

        let e = err("[limits]\nmax_message_size = \"25X\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
        assert!(e.message.contains("not a size"), "{e}");

        let e = err("[limits]\nsmtp_timeout = \"soon\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");

        let e = err("hostname = \"bad_name\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(1), "{e}");

        let e =
            err("[listeners.x]\nservice = \"pop3\"\naddress = \"127.0.0.1:1\"\ntls = \"none\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");

        let e = err("[checks]\nspf = \"yes\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");

        let e = err("[log]\nlevel = \"info,,[\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
    }

    #[test]
    fn cross_checks_name_the_line() {
        let text = "domains = [\"example.org\"]\n[[users]]\naddress = \"a@example.org\"\n\n[[users]]\naddress = \"A@example.org\"\n";
        let e = err(text);
        assert!(e.message.contains("defined twice"), "{e}");
        assert_eq!(e.position.map(|p| p.0), Some(5), "{e}");

        let e = err("[aliases]\n\"x@other.org\" = \"a@localhost\"\n");
        assert!(e.message.contains("not a local domain"), "{e}");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");

        let e = err("[aliases]\n\"x@localhost\" = \"a@remote.example\"\n");
        assert!(e.message.contains("outbound"), "{e}");

        let e = err("[aliases]\n\"x@localhost\" = []\n");
        assert!(e.message.contains("no target"), "{e}");

        let e = err("[[users]]\naddress = \"a@localhost\"\npassword = \"secret\"\n");
        assert!(e.message.contains("{SCHEME}"), "{e}");

        let e = err(
            "[listeners.a]\nservice = \"mx\"\naddress = \"127.0.0.1:25\"\ntls = \"none\"\n[listeners.b]\nservice = \"imap\"\naddress = \"127.0.0.1:25\"\ntls = \"none\"\n",
        );
        assert!(e.message.contains("both bind"), "{e}");

        let e = err("[tls]\ncertificate = \"c.pem\"\n");
        assert!(e.message.contains("go together"), "{e}");

        let e =
            err("[checks.dnsbl]\nzones = [{ zone = \"x.org\", filter = \"127.0.0.[9..2]\" }]\n");
        assert!(e.message.contains("x.org"), "{e}");
    }

    #[test]
    fn paths_resolve_against_the_file() {
        let c = Config::parse("data_dir = \"d\"\n", Some(Path::new("/srv/mail/m.toml"))).unwrap();
        assert_eq!(c.data_dir(), Path::new("/srv/mail/d"));
        assert_eq!(c.users_file(), Path::new("/srv/mail/d/passwd"));
        let c = Config::parse(
            "users_file = \"/etc/passwd.mail\"\n[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n",
            Some(Path::new("/srv/m.toml")),
        )
        .unwrap();
        assert_eq!(c.users_file(), Path::new("/etc/passwd.mail"));
        assert_eq!(
            c.tls_files(),
            ("/srv/c.pem".into(), "/srv/k.pem".into(), false)
        );
    }

    #[test]
    fn aliases_parse() {
        let c = Config::parse(
            "domains = [\"example.org\"]\n[aliases]\npostmaster = \"alice@example.org\"\n\"sales@example.org\" = [\"bob\", \"carol@example.org\"]\n\"@example.org\" = \"alice@example.org\"\n",
            None,
        )
        .unwrap();
        let a = c.alias_entries();
        assert!(a.contains(&(
            AliasKey::LocalPart("postmaster".into()),
            vec!["alice@example.org".into()]
        )));
        assert!(a.contains(&(
            AliasKey::CatchAll("example.org".parse().unwrap()),
            vec!["alice@example.org".into()]
        )));
        assert_eq!(a.len(), 3);
    }
}
