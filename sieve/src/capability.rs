//! The registry of Sieve extensions this crate implements (SIEVE-023): the names accepted by
//! `require` and `ihave`, and the list a ManageSieve server advertises in its `SIEVE`
//! capability.

use std::fmt;

macro_rules! capabilities {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// One Sieve extension (or built-in capability) this crate implements.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum Capability {
            $( $(#[$doc])* $variant, )*
        }

        impl Capability {
            /// Every capability, in registry order.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)*];

            /// The name used in `require` (lowercase, as registered with IANA).
            pub fn name(self) -> &'static str {
                match self { $(Capability::$variant => $name,)* }
            }

            /// Whether this is a vendor extension (`vnd.*`), off by default.
            pub fn is_vendor(self) -> bool {
                self.name().starts_with("vnd.")
            }

            /// Looks a `require` name up (names are compared exactly, as RFC 5228 §6 asks).
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(Capability::$variant),)* _ => None }
            }
        }
    };
}

capabilities! {
    /// `fileinto` (RFC 5228 §4.1).
    FileInto = "fileinto",
    /// `reject` (RFC 5429).
    Reject = "reject",
    /// `ereject` (RFC 5429).
    Ereject = "ereject",
    /// The `envelope` test (RFC 5228 §5.4).
    Envelope = "envelope",
    /// `${hex:..}` and `${unicode:..}` in strings (RFC 5228 §2.4.2.4).
    EncodedCharacter = "encoded-character",
    /// The `i;octet` comparator (always available).
    ComparatorOctet = "comparator-i;octet",
    /// The `i;ascii-casemap` comparator (always available, the default).
    ComparatorAsciiCasemap = "comparator-i;ascii-casemap",
    /// The `i;ascii-numeric` comparator (RFC 4790).
    ComparatorAsciiNumeric = "comparator-i;ascii-numeric",
    /// The `i;unicode-casemap` comparator (RFC 5051).
    ComparatorUnicodeCasemap = "comparator-i;unicode-casemap",
    /// `:count` and `:value` match types (RFC 5231).
    Relational = "relational",
    /// `:user` and `:detail` address parts (RFC 5233).
    Subaddress = "subaddress",
    /// `:copy` on `redirect` and `fileinto` (RFC 3894).
    Copy = "copy",
    /// The `body` test (RFC 5173).
    Body = "body",
    /// `vacation` (RFC 5230).
    Vacation = "vacation",
    /// `vacation :seconds` (RFC 6131).
    VacationSeconds = "vacation-seconds",
    /// Variables, `set` and `string` (RFC 5229).
    Variables = "variables",
    /// IMAP flags: `setflag`, `addflag`, `removeflag`, `hasflag`, `:flags` (RFC 5232).
    Imap4Flags = "imap4flags",
    /// `include`, `return`, `global` (RFC 6609).
    Include = "include",
    /// `date` and `currentdate` (RFC 5260).
    Date = "date",
    /// `:index` and `:last` on header tests (RFC 5260 §6).
    Index = "index",
    /// `addheader` and `deleteheader` (RFC 5293).
    EditHeader = "editheader",
    /// `fileinto :create` and `mailboxexists` (RFC 5490).
    Mailbox = "mailbox",
    /// `metadata` and `metadataexists` (RFC 5490).
    MboxMetadata = "mboxmetadata",
    /// `servermetadata` and `servermetadataexists` (RFC 5490).
    ServerMetadata = "servermetadata",
    /// `foreverypart` and `break` (RFC 5703).
    ForEveryPart = "foreverypart",
    /// `:mime` and `:anychild` on header tests (RFC 5703).
    Mime = "mime",
    /// `extracttext` (RFC 5703).
    ExtractText = "extracttext",
    /// `replace` (RFC 5703).
    Replace = "replace",
    /// `enclose` (RFC 5703).
    Enclose = "enclose",
    /// `spamtest` (RFC 5235).
    SpamTest = "spamtest",
    /// `spamtest :percent` (RFC 5235).
    SpamTestPlus = "spamtestplus",
    /// `virustest` (RFC 5235).
    VirusTest = "virustest",
    /// `duplicate` (RFC 7352).
    Duplicate = "duplicate",
    /// `environment` (RFC 5183).
    Environment = "environment",
    /// The `:regex` match type (draft-ietf-sieve-regex), linear time.
    Regex = "regex",
    /// `notify`, `valid_notify_method`, `notify_method_capability` (RFC 5435) with the
    /// `mailto` method (RFC 5436).
    Enotify = "enotify",
    /// `ihave` and `error` (RFC 5463).
    Ihave = "ihave",
    /// Scripts run for IMAP events (RFC 6785).
    ImapSieve = "imapsieve",
    /// `:specialuse` and `specialuse_exists` (RFC 8579).
    SpecialUse = "special-use",
    /// `:fcc` on `vacation` and `notify` (RFC 8580).
    Fcc = "fcc",
    /// External lists (RFC 6134): the `:list` match type and `valid_ext_list`; list
    /// membership is a question to the host. `redirect :list` is refused at compile time
    /// (as Pigeonhole does). Not in [`Capabilities::delivery`]: a host enables it when it
    /// has lists to offer.
    ExtLists = "extlists",
    /// Dovecot's `debug_log` command (vendor extension; off unless the host enables it):
    /// each message becomes a `DEBUG: ...` line in [`crate::Outcome::log`].
    DovecotDebug = "vnd.dovecot.debug",
    /// Dovecot's extra environment items (`vnd.dovecot.default-mailbox`,
    /// `vnd.dovecot.username`, `vnd.dovecot.config.*`) and the `${env.*}` variable
    /// namespace (vendor extension; off unless the host enables it). Implies
    /// `environment`.
    DovecotEnvironment = "vnd.dovecot.environment",
    /// Dovecot's `report` command: an RFC 5965 abuse/feedback report about the message,
    /// for the host to send (vendor extension; off unless the host enables it).
    DovecotReport = "vnd.dovecot.report",
    /// `pipe`: the message is handed to an external program after the script, like
    /// `redirect` (Pigeonhole's sieve_extprograms plugin,
    /// `doc/rfc/spec-bosch-sieve-extprograms.txt`). The runtime never runs programs: it
    /// returns [`crate::Action::Pipe`]. Vendor extension, off unless the host enables it.
    Pipe = "vnd.dovecot.pipe",
    /// `filter` (command and test): the message is replaced by an external program's
    /// output; asked as [`crate::Question::Program`]. Vendor extension, off unless the host
    /// enables it.
    Filter = "vnd.dovecot.filter",
    /// `execute` (command and test): an external program runs, its output optionally
    /// captured in a variable; asked as [`crate::Question::Program`]. Vendor extension, off
    /// unless the host enables it.
    Execute = "vnd.dovecot.execute",
    /// Pigeonhole's test-suite language (only when [`crate::CompileOptions`] enables it).
    #[doc(hidden)]
    Testsuite = "vnd.dovecot.testsuite",
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u64);

impl Capabilities {
    /// No capability.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Every extension a delivery-time script may use by default: the standard ones
    /// ([`Capabilities::all_extensions`]) except `imapsieve` (only for scripts run on IMAP
    /// events) and `extlists` (only useful when the host has lists to answer with).
    pub fn delivery() -> Self {
        let mut s = Self::all_extensions();
        s.remove(Capability::ImapSieve);
        s.remove(Capability::ExtLists);
        s
    }

    /// Every standard extension: all of [`Capability::ALL`] except the vendor (`vnd.*`)
    /// extensions and the test-suite language.
    pub fn all_extensions() -> Self {
        let mut s = Self::empty();
        for &c in Capability::ALL {
            if c != Capability::Testsuite && !c.is_vendor() {
                s.insert(c);
            }
        }
        s
    }

    /// The vendor (`vnd.*`) extensions this crate implements (Dovecot's), never on by
    /// default: a host that wants them adds them, e.g.
    /// `Capabilities::delivery().union(Capabilities::vendor())`.
    pub fn vendor() -> Self {
        let mut s = Self::empty();
        for &c in Capability::ALL {
            if c != Capability::Testsuite && c.is_vendor() {
                s.insert(c);
            }
        }
        s
    }

    /// The capabilities in either set.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Capability) -> bool {
        self.0 & (1u64 << c as u8) != 0
    }

    /// Adds `c`.
    pub fn insert(&mut self, c: Capability) {
        self.0 |= 1u64 << c as u8;
    }

    /// Removes `c`.
    pub fn remove(&mut self, c: Capability) {
        self.0 &= !(1u64 << c as u8);
    }

    /// The capabilities in the set, in registry order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(move |c| self.contains(*c))
    }

    /// The names, space separated, as a ManageSieve `SIEVE` capability line shows them
    /// (without the test-suite language).
    pub fn to_sieve_capability_string(self) -> String {
        let mut out = String::new();
        for c in self.iter().filter(|c| *c != Capability::Testsuite) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(c.name());
        }
        out
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<T: IntoIterator<Item = Capability>>(iter: T) -> Self {
        let mut s = Self::empty();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets() {
        for &c in Capability::ALL {
            assert_eq!(Capability::from_name(c.name()), Some(c));
        }
        assert_eq!(Capability::from_name("FILEINTO"), None);
        assert!(Capability::ALL.len() <= 64);
        let d = Capabilities::delivery();
        assert!(d.contains(Capability::Vacation));
        assert!(!d.contains(Capability::ImapSieve));
        assert!(!d.contains(Capability::Testsuite));
        let s = d.to_sieve_capability_string();
        assert!(s.starts_with("fileinto reject ereject envelope"));
        assert!(!s.contains("vnd.dovecot"));
        assert!(!d.contains(Capability::ExtLists));
        let all = Capabilities::all_extensions();
        assert!(all.contains(Capability::ExtLists));
        assert!(!all.contains(Capability::DovecotDebug));
        let v = Capabilities::vendor();
        assert!(v.contains(Capability::DovecotReport));
        assert!(!v.contains(Capability::Testsuite));
        assert!(!v.contains(Capability::Vacation));
        let both = d.union(v);
        assert!(
            both.contains(Capability::DovecotEnvironment) && both.contains(Capability::Vacation)
        );
        assert!(
            both.to_sieve_capability_string()
                .contains("vnd.dovecot.debug")
        );
    }
}
