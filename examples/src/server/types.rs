//! Validated values the configuration and the user database are made of: domain names,
//! mail addresses, network prefixes, durations and byte sizes.
//!
//! Each parses from the string a person writes in the TOML file, so a bad value is refused
//! by the deserializer and `toml` reports it with its line and column.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// A DNS domain name in canonical form: ASCII, lower case, no trailing dot, labels of
/// letters, digits and hyphens (1 to 63 octets, not starting or ending with a hyphen),
/// at most 253 octets. A single label (`localhost`) is allowed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct DomainName(String);

impl DomainName {
    /// The name, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DomainName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(format!("`{s}` is not a domain name (1 to 253 characters)"));
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(format!(
                    "`{s}` is not a domain name (label `{label}`: letters, digits and inner hyphens, 1 to 63 characters)"
                ));
            }
        }
        Ok(Self(name))
    }
}

impl TryFrom<String> for DomainName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail address `local@domain` as the server keys its users and aliases: the whole
/// address lower-cased (SRV-014: the login is the full address, lower-cased; SMTP-048:
/// local parts are matched without case by this server). The local part is a dot-atom of
/// printable ASCII without specials (no quoted local parts for accounts), at most 64 octets.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Address {
    full: String,
    at: usize,
}

impl Address {
    /// The whole address, lower case.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part before the `@`.
    pub fn local(&self) -> &str {
        &self.full[..self.at]
    }

    /// The domain after the `@`.
    pub fn domain(&self) -> &str {
        &self.full[self.at + 1..]
    }

    /// The local part without a `+detail` suffix (RFC 5233 subaddress), if it has one.
    pub fn without_detail(&self) -> Option<Self> {
        let local = self.local();
        let plus = local.find('+')?;
        if plus == 0 {
            return None;
        }
        format!("{}@{}", &local[..plus], self.domain()).parse().ok()
    }
}

/// Characters RFC 5322 allows in an atom besides letters and digits.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

impl FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let at = s
            .rfind('@')
            .ok_or_else(|| format!("`{s}` is not a mail address (no @)"))?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .split('.')
                .all(|a| !a.is_empty() && a.bytes().all(is_atext));
        if !local_ok {
            return Err(format!(
                "`{s}` is not a mail address (local part: a dot-atom of at most 64 characters)"
            ));
        }
        let domain: DomainName = domain
            .parse()
            .map_err(|e| format!("`{s}` is not a mail address: {e}"))?;
        let full = format!("{}@{domain}", local.to_ascii_lowercase());
        Ok(Self {
            at: local.len(),
            full,
        })
    }
}

impl TryFrom<String> for Address {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// A network prefix, `192.0.2.0/24` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr {
    net: IpAddr,
    len: u8,
}

impl Cidr {
    /// A prefix from an address and a length (bits beyond the length are cleared).
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then(|| Self {
            net: mask(addr, len),
            len,
        })
    }

    /// Whether `ip` is inside the prefix. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// matches the IPv4 prefixes.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.len) == self.net
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.net
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; everything else unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Clears every bit of `ip` after the first `len`.
pub fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a network (like 192.0.2.0/24 or 2001:db8::/32)");
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad())?;
        let len = match len {
            Some(l) => l.parse::<u8>().map_err(|_| bad())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, len).ok_or_else(bad)
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// A duration written with a unit: `500ms`, `30s`, `5m`, `2h`, `7d` (a bare number is
/// seconds). At most 1000 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a duration (like 500ms, 30s, 5m, 2h, 7d)");
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let ms = match unit.trim() {
            "ms" => Some(n),
            "" | "s" => n.checked_mul(1000),
            "m" | "min" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            "d" => n.checked_mul(86_400_000),
            _ => None,
        }
        .filter(|&ms| ms <= 1000 * 86_400_000)
        .ok_or_else(bad)?;
        Ok(Self(Duration::from_millis(ms)))
    }
}

impl TryFrom<toml::Value> for Dur {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        match v {
            toml::Value::String(s) => s.parse(),
            toml::Value::Integer(i) if i >= 0 => format!("{i}s").parse(),
            other => Err(format!(
                "`{other}` is not a duration (like 500ms, 30s, 5m, 2h, 7d)"
            )),
        }
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let (n, unit) = if ms.is_multiple_of(86_400_000) && ms > 0 {
            (ms / 86_400_000, "d")
        } else if ms.is_multiple_of(3_600_000) && ms > 0 {
            (ms / 3_600_000, "h")
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            (ms / 60_000, "m")
        } else if ms.is_multiple_of(1000) {
            (ms / 1000, "s")
        } else {
            (ms, "ms")
        };
        write!(f, "{n}{unit}")
    }
}

/// A size in bytes: a plain integer, or a number with `K`, `M`, `G` (powers of 1024,
/// `KiB`/`MiB`/`GiB` and a trailing `B` accepted too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a size (like 1048576, 512K, 25M, 2G)");
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => 1 << 10,
            "M" | "MB" | "MIB" => 1 << 20,
            "G" | "GB" | "GIB" => 1 << 30,
            "T" | "TB" | "TIB" => 1 << 40,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(Self).ok_or_else(bad)
    }
}

impl TryFrom<toml::Value> for ByteSize {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        match v {
            toml::Value::String(s) => s.parse(),
            toml::Value::Integer(i) => u64::try_from(i)
                .map(Self)
                .map_err(|_| format!("`{i}` is not a size")),
            other => Err(format!(
                "`{other}` is not a size (like 1048576, 512K, 25M, 2G)"
            )),
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
            if n >= 1 << shift && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(
            "Mail.Example.ORG.".parse::<DomainName>().unwrap().as_str(),
            "mail.example.org"
        );
        assert!("localhost".parse::<DomainName>().is_ok());
        for bad in ["", "a..b", "-a.b", "a-.b", "a b", "a_b.c", &"x".repeat(64)] {
            assert!(bad.parse::<DomainName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        let a: Address = "Alice.Smith+tag@Example.ORG".parse().unwrap();
        assert_eq!(a.as_str(), "alice.smith+tag@example.org");
        assert_eq!((a.local(), a.domain()), ("alice.smith+tag", "example.org"));
        assert_eq!(
            a.without_detail().unwrap().as_str(),
            "alice.smith@example.org"
        );
        assert!(
            "plain@x"
                .parse::<Address>()
                .unwrap()
                .without_detail()
                .is_none()
        );
        for bad in [
            "", "a", "@x", "a@", "a..b@x", ".a@x", "a b@x", "a@b@", "\"q\"@x",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "192.0.2.77/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert!(c.contains("192.0.2.1".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.9".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        let v6: Cidr = "[2001:db8::]/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("192.0.2.1".parse().unwrap()));
        assert_eq!("::1".parse::<Cidr>().unwrap().prefix_len(), 128);
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["1.2.3.4/33", "x/8", "1.2.3/8", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_sizes() {
        let d = |s: &str| s.parse::<Dur>().map(|d| d.0);
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("30"), Ok(Duration::from_secs(30)));
        assert_eq!(d("5m"), Ok(Duration::from_mins(5)));
        assert_eq!(d("7d"), Ok(Duration::from_hours(7 * 24)));
        assert!(d("5 weeks").is_err() && d("").is_err() && d("-1s").is_err());
        assert!(d("99999999999999999999d").is_err());
        assert_eq!(Dur(Duration::from_mins(5)).to_string(), "5m");
        let z = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(z("25M"), Ok(25 << 20));
        assert_eq!(z("512KiB"), Ok(512 << 10));
        assert_eq!(z("1048576"), Ok(1 << 20));
        assert!(z("1.5G").is_err() && z("25X").is_err());
        assert_eq!(ByteSize(25 << 20).to_string(), "25M");
    }
}
