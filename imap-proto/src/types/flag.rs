//! Message flags and mailbox attributes.

use crate::types::core::{Atom, IntoStatic};

/// A message flag (`flag` in RFC 3501/9051).
///
/// System flags are parsed case-insensitively and written in their canonical spelling.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flag<'a> {
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Seen`
    Seen,
    /// `\Draft`
    Draft,
    /// A keyword (`$Forwarded`, `$Junk`, `Old`, ...): an atom without a backslash.
    Keyword(Atom<'a>),
    /// A flag extension `\atom` that is none of the above (not `\Recent`).
    Extension(Atom<'a>),
}

impl<'a> Flag<'a> {
    /// The flag for `\name` (the name without the backslash).
    pub fn system(name: Atom<'a>) -> Self {
        let s = name.as_str();
        if s.eq_ignore_ascii_case("Answered") {
            Self::Answered
        } else if s.eq_ignore_ascii_case("Flagged") {
            Self::Flagged
        } else if s.eq_ignore_ascii_case("Deleted") {
            Self::Deleted
        } else if s.eq_ignore_ascii_case("Seen") {
            Self::Seen
        } else if s.eq_ignore_ascii_case("Draft") {
            Self::Draft
        } else {
            Self::Extension(name)
        }
    }

    /// A keyword flag.
    pub fn keyword(name: Atom<'a>) -> Self {
        Self::Keyword(name)
    }

    /// The flag as written on the wire (`\Seen`, `$Junk`).
    pub fn to_wire(&self) -> String {
        match self {
            Self::Answered => "\\Answered".into(),
            Self::Flagged => "\\Flagged".into(),
            Self::Deleted => "\\Deleted".into(),
            Self::Seen => "\\Seen".into(),
            Self::Draft => "\\Draft".into(),
            Self::Keyword(a) => a.as_str().into(),
            Self::Extension(a) => format!("\\{a}"),
        }
    }
}

impl IntoStatic for Flag<'_> {
    type Static = Flag<'static>;
    fn into_static(self) -> Flag<'static> {
        match self {
            Self::Answered => Flag::Answered,
            Self::Flagged => Flag::Flagged,
            Self::Deleted => Flag::Deleted,
            Self::Seen => Flag::Seen,
            Self::Draft => Flag::Draft,
            Self::Keyword(a) => Flag::Keyword(a.into_static()),
            Self::Extension(a) => Flag::Extension(a.into_static()),
        }
    }
}

/// A flag in a FETCH response: a flag or `\Recent` (rev1 only).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FlagFetch<'a> {
    /// A flag.
    Flag(Flag<'a>),
    /// `\Recent` (IMAP4rev1; IMAP4rev2 has no recent flag).
    Recent,
}

impl IntoStatic for FlagFetch<'_> {
    type Static = FlagFetch<'static>;
    fn into_static(self) -> FlagFetch<'static> {
        match self {
            Self::Flag(f) => FlagFetch::Flag(f.into_static()),
            Self::Recent => FlagFetch::Recent,
        }
    }
}

/// A flag in `PERMANENTFLAGS`: a flag or `\*` (new keywords may be created).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FlagPerm<'a> {
    /// A flag.
    Flag(Flag<'a>),
    /// `\*`
    Asterisk,
}

impl IntoStatic for FlagPerm<'_> {
    type Static = FlagPerm<'static>;
    fn into_static(self) -> FlagPerm<'static> {
        match self {
            Self::Flag(f) => FlagPerm::Flag(f.into_static()),
            Self::Asterisk => FlagPerm::Asterisk,
        }
    }
}

/// A mailbox attribute in a LIST response (RFC 9051 §7.3.1, RFC 6154 SPECIAL-USE, RFC 5258,
/// RFC 3348 CHILDREN).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MailboxAttr<'a> {
    /// `\Noselect`
    Noselect,
    /// `\NoInferiors`
    NoInferiors,
    /// `\Marked`
    Marked,
    /// `\Unmarked`
    Unmarked,
    /// `\HasChildren`
    HasChildren,
    /// `\HasNoChildren`
    HasNoChildren,
    /// `\NonExistent`
    NonExistent,
    /// `\Subscribed`
    Subscribed,
    /// `\Remote`
    Remote,
    /// `\All` (SPECIAL-USE)
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
    /// `\Important` (RFC 8457)
    Important,
    /// Any other `\atom`.
    Extension(Atom<'a>),
}

const ATTRS: &[(&str, MailboxAttr<'static>)] = &[
    ("Noselect", MailboxAttr::Noselect),
    ("NoInferiors", MailboxAttr::NoInferiors),
    ("Marked", MailboxAttr::Marked),
    ("Unmarked", MailboxAttr::Unmarked),
    ("HasChildren", MailboxAttr::HasChildren),
    ("HasNoChildren", MailboxAttr::HasNoChildren),
    ("NonExistent", MailboxAttr::NonExistent),
    ("Subscribed", MailboxAttr::Subscribed),
    ("Remote", MailboxAttr::Remote),
    ("All", MailboxAttr::All),
    ("Archive", MailboxAttr::Archive),
    ("Drafts", MailboxAttr::Drafts),
    ("Flagged", MailboxAttr::Flagged),
    ("Junk", MailboxAttr::Junk),
    ("Sent", MailboxAttr::Sent),
    ("Trash", MailboxAttr::Trash),
    ("Important", MailboxAttr::Important),
];

impl<'a> MailboxAttr<'a> {
    /// The attribute for `\name` (the name without the backslash), case-insensitively.
    pub fn from_name(name: Atom<'a>) -> Self {
        let b = name.as_str().as_bytes();
        let mut buf = [0u8; 16];
        if b.len() > buf.len() {
            return Self::Extension(name);
        }
        for (d, s) in buf.iter_mut().zip(b) {
            *d = s.to_ascii_uppercase();
        }
        match &buf[..b.len()] {
            b"NOSELECT" => Self::Noselect,
            b"NOINFERIORS" => Self::NoInferiors,
            b"MARKED" => Self::Marked,
            b"UNMARKED" => Self::Unmarked,
            b"HASCHILDREN" => Self::HasChildren,
            b"HASNOCHILDREN" => Self::HasNoChildren,
            b"NONEXISTENT" => Self::NonExistent,
            b"SUBSCRIBED" => Self::Subscribed,
            b"REMOTE" => Self::Remote,
            b"ALL" => Self::All,
            b"ARCHIVE" => Self::Archive,
            b"DRAFTS" => Self::Drafts,
            b"FLAGGED" => Self::Flagged,
            b"JUNK" => Self::Junk,
            b"SENT" => Self::Sent,
            b"TRASH" => Self::Trash,
            b"IMPORTANT" => Self::Important,
            _ => Self::Extension(name),
        }
    }

    /// The attribute name without the backslash, in canonical spelling.
    pub fn name(&self) -> &str {
        if let Self::Extension(a) = self {
            return a.as_str();
        }
        ATTRS.iter().find(|(_, a)| a == self).map_or("", |(n, _)| n)
    }

    /// Whether this is a SPECIAL-USE attribute (RFC 6154).
    pub fn is_special_use(&self) -> bool {
        matches!(
            self,
            Self::All
                | Self::Archive
                | Self::Drafts
                | Self::Flagged
                | Self::Junk
                | Self::Sent
                | Self::Trash
                | Self::Important
        )
    }
}

impl IntoStatic for MailboxAttr<'_> {
    type Static = MailboxAttr<'static>;
    fn into_static(self) -> MailboxAttr<'static> {
        match self {
            Self::Extension(a) => MailboxAttr::Extension(a.into_static()),
            Self::Noselect => MailboxAttr::Noselect,
            Self::NoInferiors => MailboxAttr::NoInferiors,
            Self::Marked => MailboxAttr::Marked,
            Self::Unmarked => MailboxAttr::Unmarked,
            Self::HasChildren => MailboxAttr::HasChildren,
            Self::HasNoChildren => MailboxAttr::HasNoChildren,
            Self::NonExistent => MailboxAttr::NonExistent,
            Self::Subscribed => MailboxAttr::Subscribed,
            Self::Remote => MailboxAttr::Remote,
            Self::All => MailboxAttr::All,
            Self::Archive => MailboxAttr::Archive,
            Self::Drafts => MailboxAttr::Drafts,
            Self::Flagged => MailboxAttr::Flagged,
            Self::Junk => MailboxAttr::Junk,
            Self::Sent => MailboxAttr::Sent,
            Self::Trash => MailboxAttr::Trash,
            Self::Important => MailboxAttr::Important,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flags_case_insensitive() {
        assert_eq!(Flag::system(Atom::new("seen").unwrap()), Flag::Seen);
        assert_eq!(
            Flag::system(Atom::new("Foo").unwrap()).to_wire(),
            "\\Foo".to_string()
        );
        assert_eq!(
            MailboxAttr::from_name(Atom::new("NOSELECT").unwrap()),
            MailboxAttr::Noselect
        );
        assert_eq!(MailboxAttr::HasNoChildren.name(), "HasNoChildren");
        assert!(MailboxAttr::Junk.is_special_use());
    }
}
