//! Maildir message file names and their info flags.
//!
//! A message in `cur/` is named `<unique>[,S=<size>][,W=<vsize>]<sep>2,<flags>`, where
//! `<sep>` is `:` on Unix. `<flags>` are single characters in ASCII order: the standard
//! `D` (draft), `F` (flagged), `P` (passed), `R` (replied), `S` (seen), `T` (trashed), and
//! `a` to `z`, which Dovecot maps to keywords through `dovecot-keywords`. A message in `new/`
//! usually has no info at all.

use std::fmt;

/// One of the six standard Maildir flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// `D`: the user considers this a draft (IMAP `\Draft`).
    Draft,
    /// `F`: flagged for urgent or special attention (IMAP `\Flagged`).
    Flagged,
    /// `P`: passed, i.e. resent, forwarded or bounced.
    Passed,
    /// `R`: replied to (IMAP `\Answered`).
    Replied,
    /// `S`: seen (IMAP `\Seen`).
    Seen,
    /// `T`: trashed, to be expunged (IMAP `\Deleted`).
    Trashed,
}

impl Flag {
    /// All flags, in ASCII order of their letters.
    pub const ALL: [Self; 6] = [
        Self::Draft,
        Self::Flagged,
        Self::Passed,
        Self::Replied,
        Self::Seen,
        Self::Trashed,
    ];

    /// The flag's letter.
    pub const fn letter(self) -> char {
        match self {
            Self::Draft => 'D',
            Self::Flagged => 'F',
            Self::Passed => 'P',
            Self::Replied => 'R',
            Self::Seen => 'S',
            Self::Trashed => 'T',
        }
    }

    /// The flag for a letter.
    pub const fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'D' => Self::Draft,
            'F' => Self::Flagged,
            'P' => Self::Passed,
            'R' => Self::Replied,
            'S' => Self::Seen,
            'T' => Self::Trashed,
            _ => return None,
        })
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The flag part of a message's info: standard flags, keyword letters and anything else that
/// was found (kept so that rewriting a name never loses it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    standard: u8,
    keywords: u32,
    other: Vec<char>,
}

impl Flags {
    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the characters after `2,`. A trailing comma and repeated letters are
    /// tolerated; characters that are neither flags nor keyword letters are kept as
    /// [`other`](Self::other).
    pub fn parse(s: &str) -> Self {
        let mut flags = Self::new();
        for c in s.chars() {
            if let Some(f) = Flag::from_letter(c) {
                flags.insert(f);
            } else if c.is_ascii_lowercase() {
                flags.keywords |= 1 << (c as u8 - b'a');
            } else if c != ',' && !flags.other.contains(&c) {
                flags.other.push(c);
            }
        }
        flags.other.sort_unstable();
        flags
    }

    /// True when the standard flag is set.
    pub fn contains(&self, flag: Flag) -> bool {
        self.standard & flag.bit() != 0
    }

    /// Sets a standard flag.
    pub fn insert(&mut self, flag: Flag) {
        self.standard |= flag.bit();
    }

    /// Clears a standard flag.
    pub fn remove(&mut self, flag: Flag) {
        self.standard &= !flag.bit();
    }

    /// The standard flags that are set, in letter order.
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        Flag::ALL.into_iter().filter(|f| self.contains(*f))
    }

    /// True when keyword letter `index` (0 = `a` to 25 = `z`) is set.
    pub fn has_keyword(&self, index: u8) -> bool {
        index < 26 && self.keywords & (1 << index) != 0
    }

    /// Sets or clears keyword letter `index` (0 = `a` to 25 = `z`); larger indexes are
    /// ignored and reported as `false`.
    pub fn set_keyword(&mut self, index: u8, on: bool) -> bool {
        if index >= 26 {
            return false;
        }
        if on {
            self.keywords |= 1 << index;
        } else {
            self.keywords &= !(1 << index);
        }
        true
    }

    /// The keyword letter indexes that are set (0 = `a`).
    pub fn keywords(&self) -> impl Iterator<Item = u8> + '_ {
        (0..26).filter(|i| self.keywords & (1 << i) != 0)
    }

    /// Unknown characters found in the info, in ASCII order.
    pub fn other(&self) -> &[char] {
        &self.other
    }

    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self.standard == 0 && self.keywords == 0 && self.other.is_empty()
    }
}

impl fmt::Display for Flags {
    /// Writes every character in ASCII order, as the Maildir specification requires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.other.is_empty() {
            // Upper-case standard letters sort before lower-case keyword letters.
            for c in self.iter().map(Flag::letter) {
                fmt::Write::write_char(f, c)?;
            }
            for i in self.keywords() {
                fmt::Write::write_char(f, char::from(b'a' + i))?;
            }
            return Ok(());
        }
        let mut chars: Vec<char> = self.iter().map(Flag::letter).collect();
        chars.extend(self.keywords().map(|i| char::from(b'a' + i)));
        chars.extend_from_slice(&self.other);
        chars.sort_unstable();
        chars
            .into_iter()
            .try_for_each(|c| fmt::Write::write_char(f, c))
    }
}

/// A parsed message file name. Parsing never fails: a name that does not follow the
/// conventions is all unique part with no info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageName<'a> {
    base: &'a str,
    unique: &'a str,
    size: Option<u64>,
    vsize: Option<u64>,
    info: Info<'a>,
    flags: Flags,
}

/// The info part of a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Info<'a> {
    /// No separator in the name (usual in `new/`).
    None,
    /// `2,<flags>`: the flags are in [`MessageName::flags`].
    Flags,
    /// Another info form, e.g. the experimental `1,...`, kept as it was.
    Other(&'a str),
}

impl<'a> MessageName<'a> {
    /// Parses `name` with info separator `sep` (`:` on Unix).
    pub fn parse(name: &'a str, sep: char) -> Self {
        let base = crate::index::base_of(name, sep);
        let info_str = (base.len() < name.len()).then(|| &name[base.len() + sep.len_utf8()..]);
        let (info, flags) = match info_str {
            None => (Info::None, Flags::new()),
            Some(s) => match s.strip_prefix("2,") {
                Some(f) => (Info::Flags, Flags::parse(f)),
                None => (Info::Other(s), Flags::new()),
            },
        };
        let mut unique = base;
        let mut size = None;
        let mut vsize = None;
        // Trailing ",S=<n>" and ",W=<n>" fields, in any order.
        while let Some(comma) = unique.rfind(',') {
            let field = &unique[comma + 1..];
            let parse = |v: &str| {
                (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| v.parse::<u64>().ok())
                    .flatten()
            };
            match field.split_at_checked(2) {
                Some(("S=", v)) if size.is_none() && parse(v).is_some() => size = parse(v),
                Some(("W=", v)) if vsize.is_none() && parse(v).is_some() => vsize = parse(v),
                _ => break,
            }
            unique = &unique[..comma];
        }
        Self {
            base,
            unique,
            size,
            vsize,
            info,
            flags,
        }
    }

    /// Everything before the info separator (unique part plus size fields).
    pub fn base(&self) -> &'a str {
        self.base
    }

    /// The unique part, without size fields or info.
    pub fn unique(&self) -> &'a str {
        self.unique
    }

    /// The `S=` field: the message size in bytes as stored.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The `W=` field: the size with CRLF line ends (what IMAP RFC822.SIZE reports).
    pub fn vsize(&self) -> Option<u64> {
        self.vsize
    }

    /// The info form.
    pub fn info(&self) -> Info<'a> {
        self.info
    }

    /// The flags (empty unless the info is `2,...`).
    pub fn flags(&self) -> &Flags {
        &self.flags
    }

    /// The name this message gets with `flags`: the same base, info `2,` and the flags in
    /// ASCII order.
    pub fn with_flags(&self, flags: &Flags, sep: char) -> String {
        format!("{}{sep}2,{flags}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_flags_round_trip_in_ascii_order() {
        let n = MessageName::parse("123.abc.host:2,TSRPFD", ':');
        assert_eq!(n.unique(), "123.abc.host");
        assert_eq!(n.info(), Info::Flags);
        assert_eq!(n.flags().iter().count(), 6);
        assert_eq!(n.with_flags(n.flags(), ':'), "123.abc.host:2,DFPRST");
    }

    #[test]
    fn new_message_without_info() {
        let n = MessageName::parse("1463941010.5f7fa6dd4922c183dc457d033deee9d7", ':');
        assert_eq!(n.info(), Info::None);
        assert!(n.flags().is_empty());
        assert_eq!(n.size(), None);
    }

    #[test]
    fn keywords_and_unknown_flags_are_kept() {
        let n = MessageName::parse("x:2,S3Tlan~", ':');
        assert!(n.flags().contains(Flag::Seen) && n.flags().contains(Flag::Trashed));
        assert_eq!(n.flags().keywords().collect::<Vec<_>>(), [0, 11, 13]);
        assert_eq!(n.flags().other(), ['3', '~']);
        assert_eq!(n.with_flags(n.flags(), ':'), "x:2,3STaln~");
    }

    #[test]
    fn flag_edits() {
        let mut f = Flags::parse("S");
        f.insert(Flag::Replied);
        f.remove(Flag::Seen);
        assert!(f.set_keyword(2, true));
        assert!(!f.set_keyword(26, true));
        assert!(f.has_keyword(2) && !f.has_keyword(26));
        assert_eq!(f.to_string(), "Rc");
        f.set_keyword(2, false);
        f.remove(Flag::Replied);
        assert!(f.is_empty());
    }

    #[test]
    fn size_fields_and_other_info() {
        let n = MessageName::parse("1035478339.27041_118.foo.org,W=1030,S=1000:2,", ':');
        assert_eq!((n.size(), n.vsize()), (Some(1000), Some(1030)));
        assert_eq!(n.unique(), "1035478339.27041_118.foo.org");
        assert!(n.flags().is_empty());
        let n = MessageName::parse("a,S=12x:1,experimental", ':');
        assert_eq!(n.size(), None);
        assert_eq!(n.unique(), "a,S=12x");
        assert_eq!(n.info(), Info::Other("1,experimental"));
        // An overflowing size is not a size.
        let n = MessageName::parse("a,S=99999999999999999999999:2,S", ':');
        assert_eq!(n.size(), None);
    }

    /// The names in ../shared/corpora/maildir/mail-parser (separator `;`), with the flags
    /// that corpus's README lists.
    #[test]
    fn mail_parser_corpus_names() {
        let cases: [(&str, &[Flag], &[u8]); 6] = [
            (
                "1491941793.M41850P8566V0000000000000015I0000000004F3030E_0.mx1.example.com,S=10956;2,STln",
                &[Flag::Seen, Flag::Trashed],
                &[11, 13],
            ),
            (
                "1234567890.M20046P2137.mailserver,S=4542,W=4642;2,Sb",
                &[Flag::Seen],
                &[1],
            ),
            (
                "1035478339.27041_118.foo.org,S=1000,W=1030;2,TDR",
                &[Flag::Draft, Flag::Replied, Flag::Trashed],
                &[],
            ),
            ("1276528487.M364837P9451.kurkku,S=1355,W=1394;2,", &[], &[]),
            (
                "1276533073.M242911P3632.kurkku;2,FP",
                &[Flag::Flagged, Flag::Passed],
                &[],
            ),
            (
                "1035478339.27041_118.foo.org,S=1000,W=1030;2,RDF,",
                &[Flag::Draft, Flag::Flagged, Flag::Replied],
                &[],
            ),
        ];
        for (name, flags, keywords) in cases {
            let n = MessageName::parse(name, ';');
            assert_eq!(n.flags().iter().collect::<Vec<_>>(), flags, "{name}");
            assert_eq!(n.flags().keywords().collect::<Vec<_>>(), keywords, "{name}");
            assert!(n.flags().other().is_empty(), "{name}");
        }
    }
}
