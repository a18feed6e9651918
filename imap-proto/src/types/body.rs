//! ENVELOPE and BODY/BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2).
//!
//! Absent and `NIL` differ on the wire in the extension data, so the extension fields nest:
//! each level is present only if the previous one is, exactly like the grammar's
//! `[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]`.

use crate::types::core::{IString, NString, Vec1};
use crate::types::macros::{into_static_enum, into_static_struct};

/// An address in an envelope: `"(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`.
///
/// Group syntax (RFC 5322) is encoded as a start marker with `host` NIL and `mailbox` the group
/// name, and an end marker with `mailbox` and `host` NIL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address<'a> {
    /// Display name (may hold RFC 2047 encoded words, as in the header).
    pub name: NString<'a>,
    /// Source route (obsolete; NIL in practice).
    pub adl: NString<'a>,
    /// Local part, or group name.
    pub mailbox: NString<'a>,
    /// Domain, or NIL for group markers.
    pub host: NString<'a>,
}
into_static_struct!(Address {
    name,
    adl,
    mailbox,
    host
});

/// The ENVELOPE structure.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Envelope<'a> {
    /// Date header.
    pub date: NString<'a>,
    /// Subject header.
    pub subject: NString<'a>,
    /// From (empty = NIL).
    pub from: Vec<Address<'a>>,
    /// Sender (servers fill it from From when absent).
    pub sender: Vec<Address<'a>>,
    /// Reply-To (servers fill it from From when absent).
    pub reply_to: Vec<Address<'a>>,
    /// To.
    pub to: Vec<Address<'a>>,
    /// Cc.
    pub cc: Vec<Address<'a>>,
    /// Bcc.
    pub bcc: Vec<Address<'a>>,
    /// In-Reply-To header.
    pub in_reply_to: NString<'a>,
    /// Message-ID header.
    pub message_id: NString<'a>,
}
into_static_struct!(Envelope {
    date,
    subject,
    from,
    sender,
    reply_to,
    to,
    cc,
    bcc,
    in_reply_to,
    message_id
});

/// `body-fld-param`: attribute/value pairs; empty means NIL.
pub type BodyParams<'a> = Vec<(IString<'a>, IString<'a>)>;

/// The fields every non-multipart body has (`body-fields`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BodyFields<'a> {
    /// Content-Type parameters.
    pub params: BodyParams<'a>,
    /// Content-ID.
    pub id: NString<'a>,
    /// Content-Description.
    pub description: NString<'a>,
    /// Content-Transfer-Encoding (`"7BIT"` when absent).
    pub encoding: IString<'a>,
    /// Size of the body in its transfer encoding, in octets.
    pub octets: u32,
}
into_static_struct!(BodyFields {
    params,
    id,
    description,
    encoding,
    octets
});

/// What kind of single part this is, with the fields only that kind has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind<'a> {
    /// Any type other than text and message/rfc822 or message/global.
    Basic,
    /// `text/*`: the size in lines.
    Text {
        /// Lines of the encoded body.
        lines: u32,
    },
    /// `message/rfc822` or `message/global`: the enclosed message's envelope and structure.
    Message {
        /// The enclosed message's envelope.
        envelope: Box<Envelope<'a>>,
        /// The enclosed message's body structure.
        body: Box<BodyStructure<'a>>,
        /// Lines of the encoded body.
        lines: u32,
    },
}
into_static_enum!(BodyKind {
    Basic,
    Text { lines },
    Message {
        envelope,
        body,
        lines
    },
});

/// `body-fld-lang`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Language<'a> {
    /// One language tag or NIL.
    Single(NString<'a>),
    /// A parenthesized list.
    List(Vec1<IString<'a>>),
}
into_static_enum!(Language { Single(a), List(a) });

/// `body-extension`: future extension data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BodyExtension<'a> {
    /// A string or NIL.
    NString(NString<'a>),
    /// A number.
    Number(u64),
    /// A parenthesized list.
    List(Vec1<Self>),
}
into_static_enum!(BodyExtension {
    NString(a),
    Number(a),
    List(a)
});

/// `body-fld-dsp`: a disposition type and its parameters, or NIL.
pub type Disposition<'a> = Option<(IString<'a>, BodyParams<'a>)>;

/// Extension data from the disposition on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DispositionExt<'a> {
    /// Content-Disposition.
    pub disposition: Disposition<'a>,
    /// Language and what follows it, if present.
    pub tail: Option<LanguageExt<'a>>,
}
into_static_struct!(DispositionExt { disposition, tail });

/// Extension data from the language on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LanguageExt<'a> {
    /// Content-Language.
    pub language: Language<'a>,
    /// Location and what follows it, if present.
    pub tail: Option<LocationExt<'a>>,
}
into_static_struct!(LanguageExt { language, tail });

/// Extension data from the location on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocationExt<'a> {
    /// Content-Location.
    pub location: NString<'a>,
    /// Further extension data.
    pub extensions: Vec<BodyExtension<'a>>,
}
into_static_struct!(LocationExt {
    location,
    extensions
});

/// Extension data of a single part (BODYSTRUCTURE only).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SinglePartExt<'a> {
    /// Content-MD5.
    pub md5: NString<'a>,
    /// Disposition and what follows, if present.
    pub tail: Option<DispositionExt<'a>>,
}
into_static_struct!(SinglePartExt { md5, tail });

/// Extension data of a multipart (BODYSTRUCTURE only).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MultiPartExt<'a> {
    /// Content-Type parameters (the boundary, ...).
    pub params: BodyParams<'a>,
    /// Disposition and what follows, if present.
    pub tail: Option<DispositionExt<'a>>,
}
into_static_struct!(MultiPartExt { params, tail });

/// A body structure (`body`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BodyStructure<'a> {
    /// A single part.
    Single {
        /// Media type (`"TEXT"`, `"image"`, ...), as the server spells it.
        media_type: IString<'a>,
        /// Media subtype.
        media_subtype: IString<'a>,
        /// Common fields.
        fields: BodyFields<'a>,
        /// Kind-specific fields.
        kind: BodyKind<'a>,
        /// Extension data (BODYSTRUCTURE), absent in BODY.
        ext: Option<SinglePartExt<'a>>,
    },
    /// A multipart.
    Multi {
        /// The parts.
        parts: Vec1<Self>,
        /// Multipart subtype (`"MIXED"`, `"alternative"`, ...).
        media_subtype: IString<'a>,
        /// Extension data (BODYSTRUCTURE), absent in BODY.
        ext: Option<MultiPartExt<'a>>,
    },
}
into_static_enum!(BodyStructure {
    Single {
        media_type,
        media_subtype,
        fields,
        kind,
        ext
    },
    Multi {
        parts,
        media_subtype,
        ext
    },
});

impl BodyStructure<'_> {
    /// The same structure without extension data (what `BODY` returns).
    #[must_use]
    pub fn without_extensions(&self) -> Self {
        let mut s = self.clone();
        s.strip_extensions();
        s
    }

    fn strip_extensions(&mut self) {
        match self {
            Self::Single { kind, ext, .. } => {
                *ext = None;
                if let BodyKind::Message { body, .. } = kind {
                    body.strip_extensions();
                }
            }
            Self::Multi { parts, ext, .. } => {
                *ext = None;
                let mut v = std::mem::take(&mut parts.0);
                for p in &mut v {
                    p.strip_extensions();
                }
                parts.0 = v;
            }
        }
    }

    /// Nesting depth (1 for a single part).
    pub fn depth(&self) -> usize {
        match self {
            Self::Single { kind, .. } => match kind {
                BodyKind::Message { body, .. } => 1 + body.depth(),
                _ => 1,
            },
            Self::Multi { parts, .. } => 1 + parts.iter().map(Self::depth).max().unwrap_or(0),
        }
    }
}
