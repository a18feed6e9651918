//! SEARCH keys and return options (RFC 3501 §6.4.4, RFC 9051 §6.4.4, ESEARCH RFC 4731,
//! SEARCHRES RFC 5182, CONDSTORE RFC 7162, WITHIN RFC 5032, SAVEDATE RFC 8514, OBJECTID
//! RFC 8474).

use std::num::NonZeroU32;

use crate::types::core::{Atom, IString, IntoStatic, Vec1};
use crate::types::datetime::Date;
use crate::types::macros::into_static_enum;
use crate::types::sequence::SequenceSet;

/// The `entry-type-req` of a MODSEQ search key (CONDSTORE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// `priv`
    Private,
    /// `shared`
    Shared,
    /// `all`
    All,
}

impl IntoStatic for EntryType {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// One `search-key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SearchKey<'a> {
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC string`
    Bcc(IString<'a>),
    /// `BEFORE date` (internal date)
    Before(Date),
    /// `BODY string`
    Body(IString<'a>),
    /// `CC string`
    Cc(IString<'a>),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM string`
    From(IString<'a>),
    /// `HEADER field string`
    Header(IString<'a>, IString<'a>),
    /// `KEYWORD flag`
    Keyword(Atom<'a>),
    /// `LARGER n`
    Larger(u64),
    /// `NEW` (rev1)
    New,
    /// `NOT key`
    Not(Box<Self>),
    /// `OLD` (rev1)
    Old,
    /// `ON date`
    On(Date),
    /// `OR key key`
    Or(Box<Self>, Box<Self>),
    /// `RECENT` (rev1)
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date`
    SentBefore(Date),
    /// `SENTON date`
    SentOn(Date),
    /// `SENTSINCE date`
    SentSince(Date),
    /// `SINCE date`
    Since(Date),
    /// `SMALLER n`
    Smaller(u64),
    /// `SUBJECT string`
    Subject(IString<'a>),
    /// `TEXT string`
    Text(IString<'a>),
    /// `TO string`
    To(IString<'a>),
    /// `UID set`
    Uid(SequenceSet),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag`
    Unkeyword(Atom<'a>),
    /// `UNSEEN`
    Unseen,
    /// A sequence set (or `$`).
    SequenceSet(SequenceSet),
    /// `( key key ... )`
    And(Vec1<Self>),
    /// `MODSEQ [entry-name entry-type] n` (CONDSTORE).
    ModSeq {
        /// `"/flags/\\Seen" priv`, if given.
        entry: Option<(IString<'a>, EntryType)>,
        /// The mod-sequence value.
        modseq: u64,
    },
    /// `OLDER n` seconds (WITHIN).
    Older(NonZeroU32),
    /// `YOUNGER n` seconds (WITHIN).
    Younger(NonZeroU32),
    /// `SAVEDBEFORE date` (SAVEDATE).
    SavedBefore(Date),
    /// `SAVEDON date`
    SavedOn(Date),
    /// `SAVEDSINCE date`
    SavedSince(Date),
    /// `SAVEDATESUPPORTED`
    SaveDateSupported,
    /// `EMAILID id` (OBJECTID).
    EmailId(Atom<'a>),
    /// `THREADID id` (OBJECTID).
    ThreadId(Atom<'a>),
}
into_static_enum!(SearchKey {
    All,
    Answered,
    Bcc(a),
    Before(a),
    Body(a),
    Cc(a),
    Deleted,
    Draft,
    Flagged,
    From(a),
    Header(a, b),
    Keyword(a),
    Larger(a),
    New,
    Not(a),
    Old,
    On(a),
    Or(a, b),
    Recent,
    Seen,
    SentBefore(a),
    SentOn(a),
    SentSince(a),
    Since(a),
    Smaller(a),
    Subject(a),
    Text(a),
    To(a),
    Uid(a),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(a),
    Unseen,
    SequenceSet(a),
    And(a),
    ModSeq { entry, modseq },
    Older(a),
    Younger(a),
    SavedBefore(a),
    SavedOn(a),
    SavedSince(a),
    SaveDateSupported,
    EmailId(a),
    ThreadId(a),
});

impl SearchKey<'_> {
    /// Nesting depth of the key (1 for a leaf).
    pub fn depth(&self) -> usize {
        match self {
            Self::Not(k) => 1 + k.depth(),
            Self::Or(a, b) => 1 + a.depth().max(b.depth()),
            Self::And(v) => 1 + v.iter().map(SearchKey::depth).max().unwrap_or(0),
            _ => 1,
        }
    }
}

/// A SEARCH/SORT return option (ESEARCH RFC 4731, SEARCHRES RFC 5182).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SearchReturnOpt<'a> {
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `ALL`
    All,
    /// `COUNT`
    Count,
    /// `SAVE`
    Save,
    /// Another option name (with no value).
    Other(Atom<'a>),
}
into_static_enum!(SearchReturnOpt {
    Min,
    Max,
    All,
    Count,
    Save,
    Other(a)
});

/// One `search-return-data` item of an ESEARCH response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SearchReturnData<'a> {
    /// `MIN n`
    Min(NonZeroU32),
    /// `MAX n`
    Max(NonZeroU32),
    /// `ALL set`
    All(SequenceSet),
    /// `COUNT n`
    Count(u32),
    /// `MODSEQ n`
    ModSeq(u64),
    /// An extension item: `label value` with the value kept as a string.
    Other(Atom<'a>, IString<'a>),
}
into_static_enum!(SearchReturnData {
    Min(a),
    Max(a),
    All(a),
    Count(a),
    ModSeq(a),
    Other(a, b),
});

/// A SORT criterion (RFC 5256, RFC 5957).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SortKey {
    /// `ARRIVAL`
    Arrival,
    /// `CC`
    Cc,
    /// `DATE`
    Date,
    /// `FROM`
    From,
    /// `SIZE`
    Size,
    /// `SUBJECT`
    Subject,
    /// `TO`
    To,
    /// `DISPLAYFROM` (RFC 5957)
    DisplayFrom,
    /// `DISPLAYTO` (RFC 5957)
    DisplayTo,
}

/// `["REVERSE" SP] sort-key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    /// `REVERSE`
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

impl IntoStatic for SortCriterion {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}
