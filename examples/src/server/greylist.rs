//! Greylisting (RFC 6647, SRV-027..030): the triplet table and its decisions.
//!
//! A message from an unknown (client network, envelope sender, recipient) triplet is
//! deferred with `451 4.7.1`; a retry after [`Greylist::delay`] and within the retry window
//! passes, and the triplet is then known for [`Greylist::expire`]. Client addresses are
//! grouped by network (IPv4 /19, IPv6 /64, SRV-027), because large senders retry from
//! another address of the same pool.
//!
//! The table is plain data with time passed in as seconds since the Unix epoch, so tests
//! drive it without a clock. It is bounded: beyond [`Greylist::MAX_ENTRIES`] expired entries
//! are dropped first, then the oldest pending ones. [`Greylist::save`] and
//! [`Greylist::load`] keep it across restarts in a small text file.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use super::types::{Cidr, canonical_ip, mask};

/// The decision for one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Known triplet, allow-listed network, or a retry after the delay.
    Pass,
    /// Deferred; the sender may retry in this many seconds.
    Defer {
        /// Seconds until a retry can pass.
        retry_in: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    net: IpAddr,
    sender: String,
    rcpt: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    first: u64,
    last: u64,
    passed: bool,
}

/// The greylisting table.
#[derive(Debug)]
pub struct Greylist {
    /// Seconds a new triplet is deferred.
    pub delay: u64,
    /// Seconds after the first attempt during which a retry still counts.
    pub retry_window: u64,
    /// Seconds a passed triplet stays known without new mail.
    pub expire: u64,
    allow: Vec<Cidr>,
    entries: HashMap<Key, Entry>,
}

impl Greylist {
    /// Most triplets kept.
    pub const MAX_ENTRIES: usize = 200_000;

    /// A table with these timings (seconds) and allow-listed networks.
    pub fn new(delay: u64, retry_window: u64, expire: u64, allow: Vec<Cidr>) -> Self {
        Self {
            delay,
            retry_window: retry_window.max(delay),
            expire,
            allow,
            entries: HashMap::new(),
        }
    }

    /// The network a client address is grouped under.
    pub fn network_of(ip: IpAddr) -> IpAddr {
        let ip = canonical_ip(ip);
        if ip.is_ipv4() {
            mask(ip, 19)
        } else {
            mask(ip, 64)
        }
    }

    /// Decides for one (client, sender, recipient) at time `now` (Unix seconds) and
    /// records the attempt. Addresses are compared without case; the null sender is `""`.
    pub fn check(&mut self, now: u64, client: IpAddr, sender: &str, rcpt: &str) -> Decision {
        if self.allow.iter().any(|c| c.contains(client)) {
            return Decision::Pass;
        }
        let key = Key {
            net: Self::network_of(client),
            sender: sender.to_ascii_lowercase(),
            rcpt: rcpt.to_ascii_lowercase(),
        };
        if let Some(e) = self.entries.get_mut(&key) {
            if e.passed {
                if now.saturating_sub(e.last) <= self.expire {
                    e.last = now;
                    return Decision::Pass;
                }
            } else {
                let waited = now.saturating_sub(e.first);
                if waited < self.delay {
                    return Decision::Defer {
                        retry_in: self.delay - waited,
                    };
                }
                if waited <= self.retry_window {
                    e.passed = true;
                    e.last = now;
                    return Decision::Pass;
                }
            }
            // Expired or retried too late: start over.
            *e = Entry {
                first: now,
                last: now,
                passed: false,
            };
            return Decision::Defer {
                retry_in: self.delay,
            };
        }
        if self.delay == 0 {
            self.insert(key, now, true);
            return Decision::Pass;
        }
        self.insert(key, now, false);
        Decision::Defer {
            retry_in: self.delay,
        }
    }

    fn insert(&mut self, key: Key, now: u64, passed: bool) {
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.prune(now);
        }
        if self.entries.len() >= Self::MAX_ENTRIES {
            // Still full of live entries: drop the oldest pending ones (a flood of new
            // triplets must not push out the senders that already passed).
            let mut pending: Vec<(u64, Key)> = self
                .entries
                .iter()
                .filter(|(_, e)| !e.passed)
                .map(|(k, e)| (e.first, k.clone()))
                .collect();
            pending.sort_by_key(|(t, _)| *t);
            let excess = self.entries.len() + 1 - Self::MAX_ENTRIES;
            for (_, k) in pending.into_iter().take(excess.max(Self::MAX_ENTRIES / 10)) {
                self.entries.remove(&k);
            }
            if self.entries.len() >= Self::MAX_ENTRIES {
                return;
            }
        }
        self.entries.insert(
            key,
            Entry {
                first: now,
                last: now,
                passed,
            },
        );
    }

    /// Drops entries that no longer matter at `now`.
    pub fn prune(&mut self, now: u64) {
        let (window, expire) = (self.retry_window, self.expire);
        self.entries.retain(|_, e| {
            if e.passed {
                now.saturating_sub(e.last) <= expire
            } else {
                now.saturating_sub(e.first) <= window
            }
        });
    }

    /// Number of triplets kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the table to `path` (atomically: a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            writeln!(
                f,
                "# mail-server greylist v1: network sender recipient first last passed"
            )?;
            for (k, e) in &self.entries {
                let sender = if k.sender.is_empty() { "<>" } else { &k.sender };
                writeln!(
                    f,
                    "{} {} {} {} {} {}",
                    k.net,
                    sender,
                    k.rcpt,
                    e.first,
                    e.last,
                    u8::from(e.passed)
                )?;
            }
            f.into_inner()
                .map_err(std::io::IntoInnerError::into_error)?
                .sync_all()?;
        }
        std::fs::rename(tmp, path)
    }

    /// Reads a table written by [`Greylist::save`]; malformed lines are skipped. A missing
    /// file is an empty table.
    pub fn load(&mut self, path: &Path) -> std::io::Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            let [net, sender, rcpt, first, last, passed] = f[..] else {
                continue;
            };
            let (Ok(net), Ok(first), Ok(last)) =
                (net.parse::<IpAddr>(), first.parse(), last.parse())
            else {
                continue;
            };
            if self.entries.len() >= Self::MAX_ENTRIES {
                break;
            }
            let sender = if sender == "<>" { "" } else { sender };
            self.entries.insert(
                Key {
                    net,
                    sender: sender.into(),
                    rcpt: rcpt.into(),
                },
                Entry {
                    first,
                    last,
                    passed: passed == "1",
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defer_then_pass_then_known() {
        let mut g = Greylist::new(300, 86_400, 35 * 86_400, vec![]);
        let c = ip("192.0.2.10");
        assert_eq!(
            g.check(1000, c, "a@x.org", "u@l"),
            Decision::Defer { retry_in: 300 }
        );
        assert_eq!(
            g.check(1100, c, "a@x.org", "u@l"),
            Decision::Defer { retry_in: 200 }
        );
        // Same /19, another address of the pool, after the delay: passes.
        assert_eq!(
            g.check(1300, ip("192.0.31.200"), "A@X.org", "u@l"),
            Decision::Pass
        );
        assert_eq!(g.check(5000, c, "a@x.org", "u@l"), Decision::Pass);
        // Another network is a new triplet.
        assert!(matches!(
            g.check(5000, ip("192.0.32.1"), "a@x.org", "u@l"),
            Decision::Defer { .. }
        ));
        // Known until `expire` after the last message.
        assert_eq!(
            g.check(5000 + 35 * 86_400, c, "a@x.org", "u@l"),
            Decision::Pass
        );
        assert!(matches!(
            g.check(5001 + 70 * 86_400 + 1, c, "a@x.org", "u@l"),
            Decision::Defer { .. }
        ));
    }

    #[test]
    fn late_retry_starts_over_and_allow_list_bypasses() {
        let mut g = Greylist::new(300, 3600, 86_400, vec!["198.51.100.0/24".parse().unwrap()]);
        let c = ip("2001:db8:1:2::5");
        assert!(matches!(g.check(0, c, "", "u@l"), Decision::Defer { .. }));
        assert_eq!(
            g.check(4000, c, "", "u@l"),
            Decision::Defer { retry_in: 300 }
        );
        assert_eq!(
            g.check(4300, ip("2001:db8:1:2::99"), "", "u@l"),
            Decision::Pass
        );
        assert_eq!(g.check(0, ip("198.51.100.7"), "s@x", "u@l"), Decision::Pass);
        assert_eq!(g.len(), 1);
        g.prune(4300 + 86_401);
        assert!(g.is_empty());
    }

    #[test]
    fn save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("greylist");
        let mut g = Greylist::new(60, 3600, 86_400, vec![]);
        g.check(0, ip("192.0.2.1"), "", "u@l");
        g.check(0, ip("192.0.2.1"), "s@x", "v@l");
        g.check(100, ip("192.0.2.1"), "s@x", "v@l");
        g.save(&path).unwrap();
        let mut h = Greylist::new(60, 3600, 86_400, vec![]);
        h.load(&path).unwrap();
        assert_eq!(h.entries, g.entries);
        assert_eq!(h.check(200, ip("192.0.2.1"), "s@x", "v@l"), Decision::Pass);
        let mut empty = Greylist::new(60, 3600, 86_400, vec![]);
        empty.load(&dir.path().join("missing")).unwrap();
        assert!(empty.is_empty());
    }
}
