//! IMAP-level message flags: the standard flags and keywords by name. On disk they are
//! letters in the file name ([`crate::name::Flags`]); keyword letters are mapped through the
//! folder's `dovecot-keywords` ([`crate::keywords::Keywords`]).

use crate::keywords::Keywords;
use crate::name::{Flag, Flags};

/// A message's flags as an IMAP server sees them.
///
/// | Maildir | IMAP |
/// |---|---|
/// | `S` | `\Seen` |
/// | `R` | `\Answered` |
/// | `F` | `\Flagged` |
/// | `T` | `\Deleted` |
/// | `D` | `\Draft` |
/// | `P` | (passed; Dovecot shows no IMAP flag, many servers map it to `$Forwarded`) |
/// | `a`..`z` | keywords from `dovecot-keywords` |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagSet {
    flags: Flags,
    keywords: Vec<String>,
}

impl FlagSet {
    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a standard flag (builder form).
    #[must_use]
    pub fn with(mut self, f: Flag) -> Self {
        self.flags.insert(f);
        self
    }

    /// Adds a keyword (builder form).
    #[must_use]
    pub fn with_keyword(mut self, k: &str) -> Self {
        self.insert_keyword(k);
        self
    }

    /// Sets a standard flag.
    pub fn insert(&mut self, f: Flag) {
        self.flags.insert(f);
    }

    /// Clears a standard flag.
    pub fn remove(&mut self, f: Flag) {
        self.flags.remove(f);
    }

    /// True when the standard flag is set.
    pub fn contains(&self, f: Flag) -> bool {
        self.flags.contains(f)
    }

    /// Adds a keyword (case-insensitively unique; the first spelling is kept).
    pub fn insert_keyword(&mut self, k: &str) {
        if !self.has_keyword(k) {
            self.keywords.push(k.to_owned());
        }
    }

    /// Removes a keyword.
    pub fn remove_keyword(&mut self, k: &str) {
        self.keywords.retain(|x| !x.eq_ignore_ascii_case(k));
    }

    /// True when the keyword is set.
    pub fn has_keyword(&self, k: &str) -> bool {
        self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k))
    }

    /// The standard flags.
    pub fn flags(&self) -> impl Iterator<Item = Flag> + '_ {
        self.flags.iter()
    }

    /// The keywords.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// IMAP flag names: `\Seen`, `\Answered`, ... then the keywords (`P` is not shown).
    pub fn imap_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .flags
            .iter()
            .filter_map(|f| {
                Some(
                    match f {
                        Flag::Draft => "\\Draft",
                        Flag::Flagged => "\\Flagged",
                        Flag::Replied => "\\Answered",
                        Flag::Seen => "\\Seen",
                        Flag::Trashed => "\\Deleted",
                        Flag::Passed => return None,
                    }
                    .to_owned(),
                )
            })
            .collect();
        v.extend(self.keywords.iter().cloned());
        v
    }

    /// From an IMAP flag name (`\Seen`, ... or a keyword); `false` for `\Recent` and
    /// unknown system flags, which cannot be stored.
    pub fn insert_imap(&mut self, name: &str) -> bool {
        let f = match name.to_ascii_lowercase().as_str() {
            "\\seen" => Flag::Seen,
            "\\answered" => Flag::Replied,
            "\\flagged" => Flag::Flagged,
            "\\deleted" => Flag::Trashed,
            "\\draft" => Flag::Draft,
            _ if name.starts_with('\\') => return false,
            _ => {
                if !crate::keywords::is_valid_keyword(name) {
                    return false;
                }
                self.insert_keyword(name);
                return true;
            }
        };
        self.insert(f);
        true
    }

    /// Reads disk flags through a keyword table (letters without a name are dropped here
    /// and kept on disk).
    pub(crate) fn from_disk(flags: &Flags, kw: &Keywords) -> Self {
        let mut s = Self::new();
        for f in flags.iter() {
            s.insert(f);
        }
        for i in flags.keywords() {
            if let Some(n) = kw.name(i) {
                s.keywords.push(n.to_owned());
            }
        }
        s
    }

    /// Writes onto disk flags, mapping keywords to letters (adding new ones to `kw`).
    /// Unnamed letters and unknown characters of `base` are kept. `Err(keyword)` when the
    /// table is full or the keyword invalid.
    pub(crate) fn to_disk(&self, base: &Flags, kw: &mut Keywords) -> Result<(Flags, bool), String> {
        let mut out = base.clone();
        let mut kw_changed = false;
        for f in Flag::ALL {
            if self.contains(f) {
                out.insert(f);
            } else {
                out.remove(f);
            }
        }
        // Named letters follow this set; unnamed letters stay as they are.
        for (i, _) in kw
            .iter()
            .map(|(i, n)| (i, n.to_owned()))
            .collect::<Vec<_>>()
        {
            out.set_keyword(i, false);
        }
        for k in &self.keywords {
            let (i, added) = kw.index_or_insert(k).ok_or_else(|| k.clone())?;
            kw_changed |= added;
            out.set_keyword(i, true);
        }
        Ok((out, kw_changed))
    }
}

/// How a STORE combines flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreOp {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

impl StoreOp {
    /// Applies `change` to `old`.
    pub fn apply(self, old: &FlagSet, change: &FlagSet) -> FlagSet {
        match self {
            Self::Replace => change.clone(),
            Self::Add => {
                let mut n = old.clone();
                for f in change.flags() {
                    n.insert(f);
                }
                for k in change.keywords() {
                    n.insert_keyword(k);
                }
                n
            }
            Self::Remove => {
                let mut n = old.clone();
                for f in change.flags() {
                    n.remove(f);
                }
                for k in change.keywords() {
                    n.remove_keyword(k);
                }
                n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_round_trip_through_keyword_table() {
        let mut kw = Keywords::parse(b"0 $Junk\n");
        let disk = Flags::parse("Sac");
        let set = FlagSet::from_disk(&disk, &kw);
        assert_eq!(set.imap_names(), ["\\Seen", "$Junk"]);
        let mut change = FlagSet::new();
        assert!(change.insert_imap("\\Flagged"));
        assert!(change.insert_imap("$Label1"));
        assert!(!change.insert_imap("\\Recent"));
        let new = StoreOp::Add.apply(&set, &change);
        let (out, added) = new.to_disk(&disk, &mut kw).unwrap();
        assert!(added);
        // c (unnamed) is kept, b = $Label1 added.
        assert_eq!(out.to_string(), "FSabc");
        let removed = StoreOp::Remove.apply(&new, &FlagSet::new().with_keyword("$junk"));
        let (out, _) = removed.to_disk(&out, &mut kw).unwrap();
        assert_eq!(out.to_string(), "FSbc");
        assert_eq!(
            StoreOp::Replace.apply(&new, &FlagSet::new()),
            FlagSet::new()
        );
    }
}
