//! The users file: Dovecot's passwd-file format (SRV-011), one account per line.
//!
//! ```text
//! alice@example.org:{ARGON2ID}$argon2id$v=19$...::::::userdb_quota_rule=*:storage=2G
//! bob@example.org:{BLF-CRYPT}$2y$11$...::::::
//! noreply@example.org:::::::
//! ```
//!
//! Fields are `user:password:uid:gid:gecos:home:shell:extra`; this server reads the user (a
//! full address, SRV-014), the password hash (empty: the account receives mail but cannot
//! log in) and, among the space-separated `key=value` extras, `userdb_quota_rule` (or
//! `quota_rule`) of the form `*:storage=N[unit]` (Dovecot's units: `b`, `k`, `M`, `G`,
//! `T`; a bare number is kilobytes, as in Dovecot). Blank lines and `#` comments are
//! kept. Other fields are kept as they are when `mail-server user` rewrites the file, so
//! a file shared with Dovecot stays usable by it.
//!
//! Writes go to a temporary file that is fsynced and renamed over the old one, so a crash
//! never leaves a half-written users file, and the file is created mode 0600.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use super::types::Address;

/// One account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The address, which is also the login.
    pub address: Address,
    /// `{SCHEME}hash`, or empty for a delivery-only account.
    pub password: String,
    /// Storage quota in bytes.
    pub quota: Option<u64>,
}

/// A users-file problem, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersError {
    /// 1-based line, when the problem is on one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for UsersError {}

fn err(line: usize, message: impl Into<String>) -> UsersError {
    UsersError {
        line: Some(line),
        message: message.into(),
    }
}

/// Parses a Dovecot quota rule value `*:storage=N[unit]` into bytes.
pub fn parse_quota_rule(rule: &str) -> Result<u64, String> {
    let bad = || format!("quota rule `{rule}`: expected *:storage=N with unit b, k, M, G or T");
    let value = rule.strip_prefix("*:storage=").ok_or_else(bad)?;
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (num, unit) = value.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" | "k" | "K" | "kB" | "KB" => 1 << 10,
        "b" | "B" => 1,
        "M" | "MB" | "m" => 1 << 20,
        "G" | "GB" | "g" => 1 << 30,
        "T" | "TB" | "t" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Writes a quota as a Dovecot rule value with an explicit unit.
pub fn format_quota_rule(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "k")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("*:storage={}{unit}", bytes >> shift);
        }
    }
    format!("*:storage={bytes}b")
}

/// Parses one non-comment line.
fn parse_line(line: &str, n: usize) -> Result<User, UsersError> {
    let mut fields = line.splitn(8, ':');
    let user = fields.next().unwrap_or_default();
    let address: Address = user.parse().map_err(|e: String| err(n, e))?;
    // The password field may itself contain ':'? Dovecot's schemes never do; a
    // value that would need one cannot be stored in this format either.
    let password = fields.next().unwrap_or_default().to_string();
    if !password.is_empty() {
        super::password::check_format(&password).map_err(|e| err(n, format!("{address}: {e}")))?;
    }
    let extra = fields.nth(5).unwrap_or_default();
    let mut quota = None;
    for kv in extra.split_ascii_whitespace() {
        if let Some(rule) = kv
            .strip_prefix("userdb_quota_rule=")
            .or_else(|| kv.strip_prefix("quota_rule="))
        {
            quota = Some(parse_quota_rule(rule).map_err(|e| err(n, format!("{address}: {e}")))?);
        }
    }
    Ok(User {
        address,
        password,
        quota,
    })
}

/// Parses a whole users file. Every account is checked (address, hash format, quota);
/// the first problem is returned with its line. Duplicate addresses are errors.
pub fn parse(text: &str) -> Result<Vec<User>, UsersError> {
    let mut users = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let u = parse_line(line, n)?;
        if let Some(first) = seen.insert(u.address.clone(), n) {
            return Err(err(
                n,
                format!("{} is already defined on line {first}", u.address),
            ));
        }
        users.push(u);
    }
    Ok(users)
}

/// Reads a users file; a missing file is an empty list.
pub fn load(path: &Path) -> Result<Vec<User>, UsersError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map_err(|e| UsersError {
            line: e.line,
            message: format!("{}: {}", path.display(), e.message),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(UsersError {
            line: None,
            message: format!("{}: {e}", path.display()),
        }),
    }
}

/// The line for a new account.
pub fn format_line(u: &User) -> String {
    let extra = u
        .quota
        .map(|q| format!("userdb_quota_rule={}", format_quota_rule(q)))
        .unwrap_or_default();
    format!("{}:{}::::::{extra}", u.address, u.password)
}

/// Replaces `path` with `text`, crash-safely, mode 0600.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String, UsersError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(UsersError {
            line: None,
            message: format!("{}: {e}", path.display()),
        }),
    }
}

fn io_err(path: &Path, e: &std::io::Error) -> UsersError {
    UsersError {
        line: None,
        message: format!("{}: {e}", path.display()),
    }
}

/// Adds an account (an error if it exists), keeping every other line as it is.
pub fn add(path: &Path, user: &User) -> Result<(), UsersError> {
    let mut text = read_text(path)?;
    let existing = parse(&text)?;
    if existing.iter().any(|u| u.address == user.address) {
        return Err(UsersError {
            line: None,
            message: format!("{} already exists", user.address),
        });
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format_line(user));
    text.push('\n');
    write_atomically(path, &text).map_err(|e| io_err(path, &e))
}

/// Changes the password of an account, keeping the rest of its line.
pub fn set_password(path: &Path, address: &Address, hash: &str) -> Result<(), UsersError> {
    edit(path, address, |line| {
        let mut fields: Vec<&str> = line.splitn(3, ':').collect();
        if fields.len() < 2 {
            fields.resize(2, "");
        }
        fields[1] = hash;
        Some(fields.join(":"))
    })
}

/// Removes an account.
pub fn remove(path: &Path, address: &Address) -> Result<(), UsersError> {
    edit(path, address, |_| None)
}

fn edit(
    path: &Path,
    address: &Address,
    f: impl FnOnce(&str) -> Option<String>,
) -> Result<(), UsersError> {
    let text = read_text(path)?;
    parse(&text)?;
    let mut out = String::with_capacity(text.len());
    let mut f = Some(f);
    for line in text.lines() {
        let t = line.trim();
        let is_it = !t.is_empty()
            && !t.starts_with('#')
            && line
                .split(':')
                .next()
                .and_then(|u| u.parse::<Address>().ok())
                .as_ref()
                == Some(address);
        if is_it && let Some(f) = f.take() {
            if let Some(new) = f(line) {
                out.push_str(&new);
                out.push('\n');
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if f.is_some() {
        return Err(UsersError {
            line: None,
            message: format!("no such user: {address}"),
        });
    }
    write_atomically(path, &out).map_err(|e| io_err(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dovecot_lines() {
        let text = "# comment\n\nAlice@Example.org:{PLAIN}pw:1000:1000::/home/a::userdb_quota_rule=*:storage=2G other=x\nnoreply@example.org:::::::\n";
        let u = parse(text).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].address.as_str(), "alice@example.org");
        assert_eq!(u[0].password, "{PLAIN}pw");
        assert_eq!(u[0].quota, Some(2 << 30));
        assert_eq!(u[1].password, "");
        assert_eq!(u[1].quota, None);
    }

    #[test]
    fn errors_carry_the_line() {
        let e = parse("a@x:{PLAIN}1\nnot an address:{PLAIN}x\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse("a@x:plaintext\n").unwrap_err();
        assert!(e.message.contains("{SCHEME}"), "{e}");
        let e = parse("a@x:{PLAIN}1\nA@x:{PLAIN}2\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("line 1"), "{e}");
        let e = parse("a@x:{PLAIN}1::::::quota_rule=*:messages=10\n").unwrap_err();
        assert!(e.message.contains("quota rule"), "{e}");
    }

    #[test]
    fn quota_rules() {
        assert_eq!(parse_quota_rule("*:storage=100"), Ok(100 << 10));
        assert_eq!(parse_quota_rule("*:storage=512M"), Ok(512 << 20));
        assert_eq!(parse_quota_rule("*:storage=7b"), Ok(7));
        for q in [7u64, 1 << 10, 3 << 20, 5 << 30, 1 << 40, 1_000_000] {
            assert_eq!(parse_quota_rule(&format_quota_rule(q)), Ok(q));
        }
    }

    #[test]
    fn add_set_remove_keep_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/passwd");
        let alice = User {
            address: "alice@localhost".parse().unwrap(),
            password: "{PLAIN}a".into(),
            quota: Some(1 << 30),
        };
        add(&path, &alice).unwrap();
        assert!(
            add(&path, &alice)
                .unwrap_err()
                .message
                .contains("already exists")
        );
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("# keep me\nbob@localhost:{PLAIN}b:5000:5000::/x::foo=bar\n");
        std::fs::write(&path, &text).unwrap();
        set_password(&path, &"BOB@localhost".parse().unwrap(), "{PLAIN}new").unwrap();
        let t = std::fs::read_to_string(&path).unwrap();
        assert!(
            t.contains("bob@localhost:{PLAIN}new:5000:5000::/x::foo=bar\n"),
            "{t}"
        );
        remove(&path, &alice.address).unwrap();
        let t = std::fs::read_to_string(&path).unwrap();
        assert!(!t.contains("alice") && t.contains("# keep me"), "{t}");
        assert!(
            remove(&path, &alice.address)
                .unwrap_err()
                .message
                .contains("no such user")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(load(&path).unwrap().len(), 1);
        assert!(load(&dir.path().join("missing")).unwrap().is_empty());
    }
}
