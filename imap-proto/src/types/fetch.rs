//! FETCH: what a client asks for (`fetch-att`) and what a server returns (`msg-att`).

use std::borrow::Cow;
use std::num::NonZeroU32;

use crate::types::body::{BodyStructure, Envelope};
use crate::types::core::{IString, IntoStatic, LiteralMode, NString, Vec1};
use crate::types::datetime::DateTime;
use crate::types::flag::FlagFetch;
use crate::types::macros::{into_static_enum, into_static_struct};

/// A part number path: `1.2.3` (`section-part`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Part(pub Vec1<NonZeroU32>);

impl IntoStatic for Part {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// `section-spec`: which part of a message `BODY[...]` means.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Section<'a> {
    /// `BODY[1.2]`: a part's content.
    Part(Part),
    /// `BODY[HEADER]` / `BODY[1.HEADER]`.
    Header(Option<Part>),
    /// `BODY[HEADER.FIELDS (A B)]`.
    HeaderFields(Option<Part>, Vec1<IString<'a>>),
    /// `BODY[HEADER.FIELDS.NOT (A B)]`.
    HeaderFieldsNot(Option<Part>, Vec1<IString<'a>>),
    /// `BODY[TEXT]` / `BODY[1.TEXT]`.
    Text(Option<Part>),
    /// `BODY[1.MIME]`: a part's MIME header.
    Mime(Part),
}
into_static_enum!(Section {
    Part(a),
    Header(a),
    HeaderFields(a, b),
    HeaderFieldsNot(a, b),
    Text(a),
    Mime(a),
});

/// A partial range `<origin.count>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Partial {
    /// First octet (0-based).
    pub origin: u32,
    /// Number of octets.
    pub count: NonZeroU32,
}

impl IntoStatic for Partial {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// One `fetch-att`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchAttr<'a> {
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822` (rev1; same as `BODY[]`).
    Rfc822,
    /// `RFC822.HEADER`
    Rfc822Header,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `RFC822.TEXT`
    Rfc822Text,
    /// `BODY` (structure without extension data).
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// The section; `None` is the whole message (`BODY[]`).
        section: Option<Section<'a>>,
        /// `<origin.count>`.
        partial: Option<Partial>,
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
    },
    /// `BINARY[part]<partial>` / `BINARY.PEEK[...]` (RFC 3516).
    Binary {
        /// Part path; empty is the whole message.
        part: Vec<NonZeroU32>,
        /// `<origin.count>`.
        partial: Option<Partial>,
        /// `.PEEK`.
        peek: bool,
    },
    /// `BINARY.SIZE[part]` (RFC 3516).
    BinarySize {
        /// Part path; empty is the whole message.
        part: Vec<NonZeroU32>,
    },
    /// `MODSEQ` (CONDSTORE).
    ModSeq,
    /// `EMAILID` (OBJECTID, RFC 8474).
    EmailId,
    /// `THREADID` (OBJECTID).
    ThreadId,
    /// `SAVEDATE` (RFC 8514).
    SaveDate,
    /// `PREVIEW` / `PREVIEW (LAZY)` (RFC 8970).
    Preview {
        /// `(LAZY)`: only if cheaply available.
        lazy: bool,
    },
}
into_static_enum!(FetchAttr {
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    Body,
    BodyStructure,
    Uid,
    BodySection {
        section,
        partial,
        peek
    },
    Binary {
        part,
        partial,
        peek
    },
    BinarySize { part },
    ModSeq,
    EmailId,
    ThreadId,
    SaveDate,
    Preview { lazy },
});

impl FetchAttr<'_> {
    /// Whether fetching this item sets `\Seen` (a non-PEEK body fetch, IMAP-011).
    pub fn sets_seen(&self) -> bool {
        matches!(
            self,
            Self::Rfc822
                | Self::Rfc822Text
                | Self::BodySection { peek: false, .. }
                | Self::Binary { peek: false, .. }
        )
    }
}

/// The items of a FETCH command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FetchItems<'a> {
    /// `ALL` = `(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)`.
    All,
    /// `FULL` = `ALL` + `BODY`.
    Full,
    /// `FAST` = `(FLAGS INTERNALDATE RFC822.SIZE)`.
    Fast,
    /// Explicit items; one item is written without parentheses.
    Attrs(Vec1<FetchAttr<'a>>),
}
into_static_enum!(FetchItems {
    All,
    Full,
    Fast,
    Attrs(a)
});

impl<'a> FetchItems<'a> {
    /// The items with macros expanded.
    pub fn expand(&self) -> Vec<FetchAttr<'a>> {
        match self {
            Self::All => vec![
                FetchAttr::Flags,
                FetchAttr::InternalDate,
                FetchAttr::Rfc822Size,
                FetchAttr::Envelope,
            ],
            Self::Full => vec![
                FetchAttr::Flags,
                FetchAttr::InternalDate,
                FetchAttr::Rfc822Size,
                FetchAttr::Envelope,
                FetchAttr::Body,
            ],
            Self::Fast => vec![
                FetchAttr::Flags,
                FetchAttr::InternalDate,
                FetchAttr::Rfc822Size,
            ],
            Self::Attrs(v) => v.to_vec(),
        }
    }
}

/// FETCH modifiers (CONDSTORE / QRESYNC).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchModifier {
    /// `CHANGEDSINCE modseq`
    ChangedSince(u64),
    /// `VANISHED` (UID FETCH with QRESYNC).
    Vanished,
}

impl IntoStatic for FetchModifier {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// A string that may carry NUL bytes: `nstring / literal8` (BINARY results, METADATA values).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NString8<'a> {
    /// `NIL` or a string.
    NString(NString<'a>),
    /// `~{n}` literal8: any bytes.
    Literal8 {
        /// The data.
        data: Cow<'a, [u8]>,
        /// `~{n}` or `~{n+}`.
        mode: LiteralMode,
    },
}
into_static_enum!(NString8 {
    NString(a),
    Literal8 { data, mode }
});

impl IntoStatic for LiteralMode {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

impl NString8<'_> {
    /// The bytes, or `None` for NIL.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::NString(s) => s.as_ref().map(IString::as_bytes),
            Self::Literal8 { data, .. } => Some(data),
        }
    }
}

/// One `msg-att` in a FETCH response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageDataItem<'a> {
    /// `FLAGS (...)`
    Flags(Vec<FlagFetch<'a>>),
    /// `ENVELOPE (...)`
    Envelope(Box<Envelope<'a>>),
    /// `INTERNALDATE "..."`
    InternalDate(DateTime),
    /// `RFC822 nstring`
    Rfc822(NString<'a>),
    /// `RFC822.HEADER nstring`
    Rfc822Header(NString<'a>),
    /// `RFC822.TEXT nstring`
    Rfc822Text(NString<'a>),
    /// `RFC822.SIZE n`
    Rfc822Size(u64),
    /// `BODY (...)` (no extension data).
    Body(Box<BodyStructure<'a>>),
    /// `BODYSTRUCTURE (...)`
    BodyStructure(Box<BodyStructure<'a>>),
    /// `BODY[section]<origin> nstring`
    BodySection {
        /// The section (`None` = `BODY[]`).
        section: Option<Section<'a>>,
        /// `<origin>` for a partial fetch.
        origin: Option<u32>,
        /// The data.
        data: NString<'a>,
    },
    /// `BINARY[part]<origin> (nstring / literal8)`
    Binary {
        /// Part path.
        part: Vec<NonZeroU32>,
        /// `<origin>`.
        origin: Option<u32>,
        /// The decoded data.
        data: NString8<'a>,
    },
    /// `BINARY.SIZE[part] n`
    BinarySize {
        /// Part path.
        part: Vec<NonZeroU32>,
        /// Decoded size.
        size: u64,
    },
    /// `UID n`
    Uid(NonZeroU32),
    /// `MODSEQ (n)`
    ModSeq(u64),
    /// `EMAILID (id)`
    EmailId(IString<'a>),
    /// `THREADID (id)` or `THREADID NIL`.
    ThreadId(Option<IString<'a>>),
    /// `SAVEDATE date-time` or `SAVEDATE NIL`.
    SaveDate(Option<DateTime>),
    /// `PREVIEW nstring`
    Preview(NString<'a>),
}
into_static_enum!(MessageDataItem {
    Flags(a),
    Envelope(a),
    InternalDate(a),
    Rfc822(a),
    Rfc822Header(a),
    Rfc822Text(a),
    Rfc822Size(a),
    Body(a),
    BodyStructure(a),
    BodySection {
        section,
        origin,
        data
    },
    Binary { part, origin, data },
    BinarySize { part, size },
    Uid(a),
    ModSeq(a),
    EmailId(a),
    ThreadId(a),
    SaveDate(a),
    Preview(a),
});

/// `FETCH` data of one message (`* n FETCH (...)`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FetchData<'a> {
    /// Message sequence number.
    pub seq: NonZeroU32,
    /// The items.
    pub items: Vec1<MessageDataItem<'a>>,
}
into_static_struct!(FetchData { seq, items });

impl FetchData<'_> {
    /// The UID item, if present.
    pub fn uid(&self) -> Option<NonZeroU32> {
        self.items.iter().find_map(|i| match i {
            MessageDataItem::Uid(u) => Some(*u),
            _ => None,
        })
    }

    /// The MODSEQ item, if present.
    pub fn modseq(&self) -> Option<u64> {
        self.items.iter().find_map(|i| match i {
            MessageDataItem::ModSeq(m) => Some(*m),
            _ => None,
        })
    }

    /// The FLAGS item, if present.
    pub fn flags(&self) -> Option<&[FlagFetch<'_>]> {
        self.items.iter().find_map(|i| match i {
            MessageDataItem::Flags(f) => Some(f.as_slice()),
            _ => None,
        })
    }
}
