//! Who exists: local domains, accounts and aliases, and the authentication service every
//! protocol shares (SRV-002..005, SRV-010, SRV-014, SRV-016).
//!
//! [`Directory`] is an immutable snapshot built from the configuration and the users file;
//! [`Accounts`] holds the current snapshot, swaps in a new one when the users file changes
//! (checked at most once a second, on use) or on SIGHUP, and verifies passwords on a
//! blocking thread.
//!
//! Recipient resolution, in order, for `local+detail@domain`:
//! 1. the domain must be local (else [`Resolution::NotLocal`]: the MX refuses relaying);
//! 2. an alias for the exact address;
//! 3. an account with that address;
//! 4. the same two for the address without `+detail` (RFC 5233 subaddressing);
//! 5. an alias for the bare local part (`postmaster` in every local domain);
//! 6. the domain's catch-all (`@domain`);
//! 7. otherwise [`Resolution::NoSuchUser`]: `550 5.1.1` at RCPT, never a bounce later.
//!
//! Alias targets expand recursively (at most [`MAX_ALIAS_DEPTH`] levels); a loop or a
//! target that leads nowhere is found when the directory is built, so a bad alias stops
//! the start (or the reload) instead of failing on the first message.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::config::{AliasKey, Config};
use super::types::Address;
use super::users::{self, User};

/// Deepest alias chain followed.
pub const MAX_ALIAS_DEPTH: usize = 10;

/// A mailbox owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The address and login.
    pub address: Address,
    /// `{SCHEME}hash`; empty: cannot log in.
    pub password: String,
    /// Storage quota in bytes, if any.
    pub quota: Option<u64>,
    /// `DATA_DIR/users/DOMAIN/LOCAL`: holds `Maildir/` and `sieve/`.
    pub home: PathBuf,
}

impl Account {
    /// The account's Maildir.
    pub fn maildir(&self) -> PathBuf {
        self.home.join("Maildir")
    }

    /// The account's Sieve script directory.
    pub fn sieve_dir(&self) -> PathBuf {
        self.home.join("sieve")
    }
}

/// Where a recipient address leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Delivered to these accounts (deduplicated, in expansion order).
    Local(Vec<Address>),
    /// Not one of our domains.
    NotLocal,
    /// A local domain but no such user or alias.
    NoSuchUser,
}

#[derive(Debug, Default, Clone)]
struct AliasTable {
    exact: HashMap<Address, Vec<String>>,
    local_part: HashMap<String, Vec<String>>,
    catch_all: HashMap<String, Vec<String>>,
}

/// A snapshot of domains, accounts and aliases.
#[derive(Debug, Clone)]
pub struct Directory {
    domains: BTreeSet<String>,
    accounts: HashMap<Address, Account>,
    aliases: AliasTable,
}

impl Directory {
    /// Builds a snapshot. `file_users` come from the users file; users listed in the
    /// configuration too are an error, as are aliases that loop or lead nowhere.
    pub fn build(cfg: &Config, file_users: Vec<User>) -> Result<Self, String> {
        let data = cfg.data_dir();
        let mut accounts = HashMap::new();
        let cfg_users = cfg.users.iter().map(|u| {
            let u = u.get_ref();
            User {
                address: u.address.clone(),
                password: u.password.clone(),
                quota: u.quota.map(|q| q.0),
            }
        });
        for u in cfg_users.chain(file_users) {
            let quota = u.quota.or_else(|| cfg.limits.default_quota.map(|q| q.0));
            let home = home_of(&data, &u.address);
            let account = Account {
                address: u.address.clone(),
                password: u.password,
                quota,
                home,
            };
            if accounts.insert(u.address.clone(), account).is_some() {
                return Err(format!(
                    "user {} is in both the configuration and the users file",
                    u.address
                ));
            }
        }
        let mut domains: BTreeSet<String> = cfg
            .local_domains()
            .iter()
            .map(|d| d.as_str().to_string())
            .collect();
        domains.extend(accounts.keys().map(|a| a.domain().to_string()));
        let mut aliases = AliasTable::default();
        for (key, targets) in cfg.alias_entries() {
            match key {
                AliasKey::Exact(a) => {
                    aliases.exact.insert(a, targets);
                }
                AliasKey::LocalPart(l) => {
                    aliases.local_part.insert(l, targets);
                }
                AliasKey::CatchAll(d) => {
                    aliases.catch_all.insert(d.as_str().to_string(), targets);
                }
            }
        }
        let dir = Self {
            domains,
            accounts,
            aliases,
        };
        dir.check_aliases()?;
        Ok(dir)
    }

    /// Every alias must expand to at least one account, without loops.
    fn check_aliases(&self) -> Result<(), String> {
        let mut probes: Vec<String> = self.aliases.exact.keys().map(ToString::to_string).collect();
        for d in &self.domains {
            for l in self.aliases.local_part.keys() {
                probes.push(format!("{l}@{d}"));
            }
        }
        for d in self.aliases.catch_all.keys() {
            probes.push(format!("no-such-user-probe@{d}"));
        }
        for p in probes {
            let a: Address = p.parse()?;
            self.expand(&a, 0, &mut Vec::new())
                .map_err(|e| format!("alias {p}: {e}"))?;
        }
        Ok(())
    }

    /// Local domains (configured and those of the accounts).
    pub fn domains(&self) -> &BTreeSet<String> {
        &self.domains
    }

    /// Whether `domain` is local (case-insensitive).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains(&domain.to_ascii_lowercase())
    }

    /// An account by its address.
    pub fn account(&self, address: &Address) -> Option<&Account> {
        self.accounts.get(address)
    }

    /// Every account, sorted.
    pub fn accounts(&self) -> Vec<&Account> {
        let mut v: Vec<&Account> = self.accounts.values().collect();
        v.sort_by(|a, b| a.address.cmp(&b.address));
        v
    }

    /// Resolves an envelope recipient. Addresses that do not parse as an account address
    /// (quoted local parts, address literals) are [`Resolution::NoSuchUser`] when their
    /// domain is local.
    pub fn resolve(&self, rcpt: &str) -> Resolution {
        let domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d);
        if !self.is_local_domain(domain.trim_end_matches('.')) {
            return Resolution::NotLocal;
        }
        let Ok(addr) = rcpt.parse::<Address>() else {
            return Resolution::NoSuchUser;
        };
        match self.expand(&addr, 0, &mut Vec::new()) {
            Ok(list) if !list.is_empty() => {
                let mut seen = BTreeSet::new();
                Resolution::Local(
                    list.into_iter()
                        .filter(|a| seen.insert(a.clone()))
                        .collect(),
                )
            }
            _ => Resolution::NoSuchUser,
        }
    }

    /// The targets of one address (not recursive), or `None` when nothing matches.
    fn lookup(&self, addr: &Address) -> Option<Lookup<'_>> {
        let candidates = std::iter::once(addr.clone()).chain(addr.without_detail());
        for a in candidates {
            if let Some(t) = self.aliases.exact.get(&a) {
                return Some(Lookup::Alias(t, a.domain().to_string()));
            }
            if self.accounts.contains_key(&a) {
                return Some(Lookup::Account(a));
            }
        }
        let base = addr.without_detail().unwrap_or_else(|| addr.clone());
        if let Some(t) = self.aliases.local_part.get(base.local()) {
            return Some(Lookup::Alias(t, addr.domain().to_string()));
        }
        if let Some(t) = self.aliases.catch_all.get(addr.domain()) {
            return Some(Lookup::Alias(t, addr.domain().to_string()));
        }
        None
    }

    fn expand(
        &self,
        addr: &Address,
        depth: usize,
        path: &mut Vec<Address>,
    ) -> Result<Vec<Address>, String> {
        if depth > MAX_ALIAS_DEPTH {
            return Err(format!("more than {MAX_ALIAS_DEPTH} levels of aliases"));
        }
        if path.contains(addr) {
            // An alias that names an account it also is (`alice` -> `alice`, `bob`)
            // delivers to that account; any other cycle is an error.
            if self.accounts.contains_key(addr) {
                return Ok(vec![addr.clone()]);
            }
            return Err(format!("alias loop through {addr}"));
        }
        match self.lookup(addr) {
            None => Err(format!("{addr} is no account or alias")),
            Some(Lookup::Account(a)) => Ok(vec![a]),
            Some(Lookup::Alias(targets, domain)) => {
                path.push(addr.clone());
                let mut out = Vec::new();
                for t in targets {
                    let full = if t.contains('@') {
                        t.clone()
                    } else {
                        format!("{t}@{domain}")
                    };
                    let ta: Address = full.parse()?;
                    if ta == *addr && self.accounts.contains_key(&ta) {
                        out.push(ta);
                        continue;
                    }
                    out.extend(self.expand(&ta, depth + 1, path)?);
                }
                path.pop();
                Ok(out)
            }
        }
    }

    /// The addresses an account may use as envelope sender on submission (SRV-016,
    /// SMTP-031): its own, its `+detail` forms, and every exact alias that leads to it.
    pub fn owns_sender(&self, login: &Address, sender: &str) -> bool {
        let Ok(s) = sender.parse::<Address>() else {
            return false;
        };
        let base = s.without_detail().unwrap_or_else(|| s.clone());
        if base == *login {
            return true;
        }
        match self.resolve(base.as_str()) {
            Resolution::Local(list) => {
                list.contains(login) && self.aliases.exact.contains_key(&base)
            }
            _ => false,
        }
    }
}

enum Lookup<'a> {
    Account(Address),
    Alias(&'a Vec<String>, String),
}

/// `DATA_DIR/users/DOMAIN/LOCAL`.
pub fn home_of(data_dir: &Path, a: &Address) -> PathBuf {
    data_dir.join("users").join(a.domain()).join(a.local())
}

/// Why a login failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Unknown user or wrong password (not distinguished on the wire).
    Invalid,
    /// The account exists but its stored hash is unusable (logged for the admin).
    BadHash(String),
}

/// The current directory and the shared authentication service.
#[derive(Debug)]
pub struct Accounts {
    cfg: RwLock<Arc<Config>>,
    current: RwLock<Arc<Directory>>,
    users_file: RwLock<PathBuf>,
    checked: Mutex<(Instant, Option<SystemTime>)>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl Accounts {
    /// Loads the users file and builds the first snapshot.
    pub fn new(cfg: Arc<Config>) -> Result<Self, String> {
        let file = cfg.users_file();
        let stamp = mtime(&file);
        let dir = Directory::build(&cfg, users::load(&file).map_err(|e| e.to_string())?)?;
        Ok(Self {
            cfg: RwLock::new(cfg),
            current: RwLock::new(Arc::new(dir)),
            users_file: RwLock::new(file),
            checked: Mutex::new((Instant::now(), stamp)),
        })
    }

    /// Rebuilds from a new configuration (SIGHUP). On error the old snapshot stays.
    pub fn reload(&self, cfg: Arc<Config>) -> Result<(), String> {
        let file = cfg.users_file();
        let stamp = mtime(&file);
        let dir = Directory::build(&cfg, users::load(&file).map_err(|e| e.to_string())?)?;
        *self.cfg.write().unwrap_or_else(PoisonError::into_inner) = cfg;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(dir);
        *self
            .users_file
            .write()
            .unwrap_or_else(PoisonError::into_inner) = file;
        *self.checked.lock().unwrap_or_else(PoisonError::into_inner) = (Instant::now(), stamp);
        Ok(())
    }

    /// The current snapshot; re-reads the users file first when it changed (checked at
    /// most once a second). A users file that no longer parses is logged and the old
    /// snapshot kept.
    pub fn snapshot(&self) -> Arc<Directory> {
        let file = self
            .users_file
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let changed = {
            let mut checked = self.checked.lock().unwrap_or_else(PoisonError::into_inner);
            if checked.0.elapsed() >= Duration::from_secs(1) {
                checked.0 = Instant::now();
                let now = mtime(&file);
                if now == checked.1 {
                    false
                } else {
                    checked.1 = now;
                    true
                }
            } else {
                false
            }
        };
        if changed {
            let cfg = Arc::clone(&self.cfg.read().unwrap_or_else(PoisonError::into_inner));
            match users::load(&file)
                .map_err(|e| e.to_string())
                .and_then(|u| Directory::build(&cfg, u))
            {
                Ok(dir) => {
                    tracing::info!(file = %file.display(), accounts = dir.accounts.len(), "users file reloaded");
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(dir);
                }
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "users file not reloaded, keeping the previous one");
                }
            }
        }
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The login name in canonical form: lower case, and `@` + the first local domain
    /// appended when it has no domain (Dovecot's `auth_default_realm`).
    pub fn canonical_login(&self, login: &str) -> Option<Address> {
        if login.contains('@') {
            login.parse().ok()
        } else {
            let cfg = self.cfg.read().unwrap_or_else(PoisonError::into_inner);
            let realm = cfg
                .local_domains()
                .first()
                .map_or_else(|| cfg.hostname.to_string(), ToString::to_string);
            format!("{login}@{realm}").parse().ok()
        }
    }

    /// Checks a login and password. Runs the hash on a blocking thread. Unknown users
    /// cost a hash too, so timing does not tell which logins exist.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Account, AuthFailure> {
        let Some(addr) = self.canonical_login(login) else {
            return Err(AuthFailure::Invalid);
        };
        let account = self.snapshot().account(&addr).cloned();
        let stored = account
            .as_ref()
            .map(|a| a.password.clone())
            .filter(|p| !p.is_empty());
        let password = password.to_string();
        let result = tokio::task::spawn_blocking(move || {
            if let Some(h) = stored {
                super::password::verify(&h, &password).map_err(|e| e.to_string())
            } else {
                // Burn comparable time on a dummy hash (bcrypt cost 11 is in the
                // range of the real ones).
                let _ = super::password::verify(DUMMY_HASH, &password);
                Ok(false)
            }
        })
        .await
        .map_err(|e| AuthFailure::BadHash(format!("hash task failed: {e}")))?;
        match (result, account) {
            (Ok(true), Some(a)) => Ok(a),
            (Err(e), Some(_)) => Err(AuthFailure::BadHash(e)),
            _ => Err(AuthFailure::Invalid),
        }
    }
}

/// A bcrypt hash of a random string, verified for unknown users.
const DUMMY_HASH: &str = "{BLF-CRYPT}$2y$11$uC.Q9NaVAWgM14kl7NoXA.IwRdu5iORiYktRf.oZ0W3w2NI6v6VMm";

/// One line of `mail-server user list`: address, password scheme, quota.
pub fn describe(a: &Account) -> String {
    let login = if a.password.is_empty() {
        "delivery only".to_string()
    } else {
        let scheme = a
            .password
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map_or("?", |(s, _)| s);
        scheme.to_string()
    };
    let quota = a.quota.map_or_else(
        || "no quota".into(),
        |q| format!("quota {}", super::types::ByteSize(q)),
    );
    format!("{}\t{login}\t{quota}", a.address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::parse(text, None).unwrap()
    }

    fn user(a: &str) -> User {
        User {
            address: a.parse().unwrap(),
            password: "{PLAIN}pw".into(),
            quota: None,
        }
    }

    fn addrs(v: &[&str]) -> Resolution {
        Resolution::Local(v.iter().map(|a| a.parse().unwrap()).collect())
    }

    #[test]
    fn resolution_order() {
        let c = cfg(concat!(
            "domains = [\"example.org\", \"example.net\"]\n[aliases]\n",
            "postmaster = \"alice@example.org\"\n",
            "\"sales@example.org\" = [\"bob\", \"alice@example.org\", \"bob@example.org\"]\n",
            "\"@example.net\" = \"carol@example.org\"\n",
            "\"team@example.org\" = [\"sales@example.org\", \"carol@example.org\"]\n",
        ));
        let d = Directory::build(
            &c,
            vec![
                user("alice@example.org"),
                user("bob@example.org"),
                user("carol@example.org"),
            ],
        )
        .unwrap();
        assert_eq!(
            d.resolve("Alice@Example.ORG"),
            addrs(&["alice@example.org"])
        );
        assert_eq!(
            d.resolve("alice+lists@example.org"),
            addrs(&["alice@example.org"])
        );
        assert_eq!(d.resolve("nobody@example.org"), Resolution::NoSuchUser);
        assert_eq!(d.resolve("bob@elsewhere.test"), Resolution::NotLocal);
        assert_eq!(
            d.resolve("postmaster@example.net"),
            addrs(&["alice@example.org"])
        );
        assert_eq!(
            d.resolve("anything@example.net"),
            addrs(&["carol@example.org"])
        );
        assert_eq!(
            d.resolve("sales@example.org"),
            addrs(&["bob@example.org", "alice@example.org"])
        );
        assert_eq!(
            d.resolve("team@example.org"),
            addrs(&["bob@example.org", "alice@example.org", "carol@example.org"])
        );
        assert_eq!(d.resolve("\"quoted\"@example.org"), Resolution::NoSuchUser);
        assert!(d.owns_sender(&"bob@example.org".parse().unwrap(), "sales@example.org"));
        assert!(d.owns_sender(&"bob@example.org".parse().unwrap(), "bob+x@example.org"));
        assert!(!d.owns_sender(&"bob@example.org".parse().unwrap(), "carol@example.org"));
        assert!(!d.owns_sender(&"carol@example.org".parse().unwrap(), "x@example.net"));
    }

    #[test]
    fn users_domains_are_local() {
        let d = Directory::build(&cfg(""), vec![user("a@other.test")]).unwrap();
        assert!(d.is_local_domain("OTHER.test") && d.is_local_domain("localhost"));
        assert_eq!(d.resolve("a@other.test"), addrs(&["a@other.test"]));
        assert_eq!(
            d.account(&"a@other.test".parse().unwrap())
                .unwrap()
                .maildir(),
            Path::new("./mail-data/users/other.test/a/Maildir")
        );
    }

    #[test]
    fn bad_aliases_stop_the_build() {
        let c = cfg(
            "[aliases]\n\"a@localhost\" = \"b@localhost\"\n\"b@localhost\" = \"a@localhost\"\n",
        );
        assert!(Directory::build(&c, vec![]).unwrap_err().contains("loop"));
        let c = cfg("[aliases]\n\"a@localhost\" = \"ghost@localhost\"\n");
        assert!(
            Directory::build(&c, vec![])
                .unwrap_err()
                .contains("no account")
        );
        // Self-reference of an account is fine.
        let c = cfg("[aliases]\n\"a@localhost\" = [\"a\", \"b\"]\n");
        let d = Directory::build(&c, vec![user("a@localhost"), user("b@localhost")]).unwrap();
        assert_eq!(
            d.resolve("a@localhost"),
            addrs(&["a@localhost", "b@localhost"])
        );
        let c = cfg("[[users]]\naddress = \"a@localhost\"\n");
        assert!(
            Directory::build(&c, vec![user("a@localhost")])
                .unwrap_err()
                .contains("both")
        );
    }

    #[tokio::test]
    async fn authentication_and_live_users_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::parse("data_dir = \"d\"\n", Some(&dir.path().join("m.toml"))).unwrap();
        let accounts = Accounts::new(Arc::new(c.clone())).unwrap();
        assert_eq!(
            accounts.authenticate("alice@localhost", "pw").await,
            Err(AuthFailure::Invalid)
        );
        users::add(&c.users_file(), &user("alice@localhost")).unwrap();
        // The file is re-read on use, at most once a second.
        std::thread::sleep(Duration::from_millis(1100));
        let a = accounts
            .authenticate("Alice@LOCALHOST", "pw")
            .await
            .unwrap();
        assert_eq!(a.address.as_str(), "alice@localhost");
        assert_eq!(
            accounts.authenticate("alice", "pw").await.unwrap().address,
            a.address
        );
        assert_eq!(
            accounts.authenticate("alice@localhost", "PW").await,
            Err(AuthFailure::Invalid)
        );
        users::add(
            &c.users_file(),
            &User {
                address: "nologin@localhost".parse().unwrap(),
                password: String::new(),
                quota: None,
            },
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(
            accounts.authenticate("nologin@localhost", "").await,
            Err(AuthFailure::Invalid)
        );
        assert_eq!(
            accounts.snapshot().resolve("nologin@localhost"),
            addrs(&["nologin@localhost"])
        );
    }

    #[test]
    fn dummy_hash_is_well_formed() {
        assert_eq!(super::super::password::check_format(DUMMY_HASH), Ok(()));
        assert_eq!(super::super::password::verify(DUMMY_HASH, "x"), Ok(false));
    }
}
