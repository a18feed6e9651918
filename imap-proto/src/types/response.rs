//! Server responses: greeting, status responses with codes, untagged data, continuation
//! requests (RFC 3501 §7, RFC 9051 §7, and extensions).

use std::borrow::Cow;
use std::num::NonZeroU32;

use crate::types::command::StatusItem;
use crate::types::core::{Atom, IString, IntoStatic, NString, Tag, Text, Vec1};
use crate::types::fetch::{FetchData, NString8};
use crate::types::flag::{Flag, FlagPerm, MailboxAttr};
use crate::types::macros::{into_static_enum, into_static_struct};
use crate::types::mailbox::Mailbox;
use crate::types::search::SearchReturnData;
use crate::types::sequence::SequenceSet;

/// The kind of a status response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
    /// `PREAUTH` (greeting only)
    PreAuth,
    /// `BYE`
    Bye,
}

impl IntoStatic for StatusKind {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

impl StatusKind {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::No => "NO",
            Self::Bad => "BAD",
            Self::PreAuth => "PREAUTH",
            Self::Bye => "BYE",
        }
    }
}

/// The server greeting (`greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Greeting<'a> {
    /// `Ok`, `PreAuth` or `Bye`.
    pub kind: StatusKind,
    /// Response code (usually `CAPABILITY`).
    pub code: Option<Code<'a>>,
    /// Text.
    pub text: Text<'a>,
}
into_static_struct!(Greeting { kind, code, text });

/// A status response: tagged completion, or untagged OK/NO/BAD/BYE/PREAUTH.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StatusResponse<'a> {
    /// The tag of the completed command, or `None` for `*`.
    pub tag: Option<Tag<'a>>,
    /// OK/NO/BAD/BYE/PREAUTH.
    pub kind: StatusKind,
    /// Response code.
    pub code: Option<Code<'a>>,
    /// Text.
    pub text: Text<'a>,
}
into_static_struct!(StatusResponse {
    tag,
    kind,
    code,
    text
});

impl<'a> StatusResponse<'a> {
    /// A tagged response.
    pub fn tagged(tag: Tag<'a>, kind: StatusKind, code: Option<Code<'a>>, text: Text<'a>) -> Self {
        Self {
            tag: Some(tag),
            kind,
            code,
            text,
        }
    }

    /// An untagged response.
    pub fn untagged(kind: StatusKind, code: Option<Code<'a>>, text: Text<'a>) -> Self {
        Self {
            tag: None,
            kind,
            code,
            text,
        }
    }
}

/// A response code (`resp-text-code`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code<'a> {
    /// `ALERT`
    Alert,
    /// `BADCHARSET [(charsets)]`
    BadCharset(Vec<IString<'a>>),
    /// `CAPABILITY caps`
    Capability(Vec1<Atom<'a>>),
    /// `PARSE`
    Parse,
    /// `PERMANENTFLAGS (flags)`
    PermanentFlags(Vec<FlagPerm<'a>>),
    /// `READ-ONLY`
    ReadOnly,
    /// `READ-WRITE`
    ReadWrite,
    /// `TRYCREATE`
    TryCreate,
    /// `UIDNEXT n`
    UidNext(NonZeroU32),
    /// `UIDVALIDITY n`
    UidValidity(NonZeroU32),
    /// `UNSEEN n` (rev1)
    Unseen(NonZeroU32),
    /// `CLOSED` (QRESYNC, rev2)
    Closed,
    /// `APPENDUID validity uids` (UIDPLUS)
    AppendUid {
        /// UIDVALIDITY of the target.
        uid_validity: NonZeroU32,
        /// Assigned UIDs.
        uids: SequenceSet,
    },
    /// `COPYUID validity source-uids target-uids` (UIDPLUS)
    CopyUid {
        /// UIDVALIDITY of the target.
        uid_validity: NonZeroU32,
        /// Source UIDs.
        source: SequenceSet,
        /// Target UIDs, in the same order.
        target: SequenceSet,
    },
    /// `UIDNOTSTICKY`
    UidNotSticky,
    /// `HIGHESTMODSEQ n` (CONDSTORE)
    HighestModSeq(u64),
    /// `NOMODSEQ`
    NoModSeq,
    /// `MODIFIED set` (CONDSTORE)
    Modified(SequenceSet),
    /// `COMPRESSIONACTIVE` (RFC 4978)
    CompressionActive,
    /// `MAILBOXID (id)` (OBJECTID)
    MailboxId(Atom<'a>),
    /// `TOOBIG` (RFC 7888 / RFC 4469)
    TooBig,
    /// `METADATA LONGENTRIES n` (RFC 5464)
    MetadataLongEntries(u32),
    /// `METADATA MAXSIZE n`
    MetadataMaxSize(u32),
    /// `METADATA TOOMANY`
    MetadataTooMany,
    /// `METADATA NOPRIVATE`
    MetadataNoPrivate,
    /// `USEATTR` (RFC 6154)
    UseAttr,
    /// `NOTIFICATIONOVERFLOW` (RFC 5465)
    NotificationOverflow,
    /// `UNKNOWN-CTE` (BINARY)
    UnknownCte,
    /// `NOTSAVED` (SEARCHRES / rev2)
    NotSaved,
    /// `HASCHILDREN`
    HasChildren,
    /// `CLIENTBUG`
    ClientBug,
    /// `SERVERBUG`
    ServerBug,
    /// `CANNOT`
    Cannot,
    /// `LIMIT`
    Limit,
    /// `OVERQUOTA`
    OverQuota,
    /// `ALREADYEXISTS`
    AlreadyExists,
    /// `NONEXISTENT`
    NonExistent,
    /// `UNAVAILABLE`
    Unavailable,
    /// `AUTHENTICATIONFAILED`
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED`
    AuthorizationFailed,
    /// `EXPIRED`
    Expired,
    /// `PRIVACYREQUIRED`
    PrivacyRequired,
    /// `CONTACTADMIN`
    ContactAdmin,
    /// `NOPERM`
    NoPerm,
    /// `INUSE`
    InUse,
    /// `EXPUNGEISSUED`
    ExpungeIssued,
    /// `CORRUPTION`
    Corruption,
    /// Any other code: `atom [SP 1*<any TEXT-CHAR except "]">]`, kept verbatim.
    Other(Atom<'a>, Option<Cow<'a, str>>),
}
into_static_enum!(Code {
    Alert,
    BadCharset(a),
    Capability(a),
    Parse,
    PermanentFlags(a),
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(a),
    UidValidity(a),
    Unseen(a),
    Closed,
    AppendUid { uid_validity, uids },
    CopyUid {
        uid_validity,
        source,
        target
    },
    UidNotSticky,
    HighestModSeq(a),
    NoModSeq,
    Modified(a),
    CompressionActive,
    MailboxId(a),
    TooBig,
    MetadataLongEntries(a),
    MetadataMaxSize(a),
    MetadataTooMany,
    MetadataNoPrivate,
    UseAttr,
    NotificationOverflow,
    UnknownCte,
    NotSaved,
    HasChildren,
    ClientBug,
    ServerBug,
    Cannot,
    Limit,
    OverQuota,
    AlreadyExists,
    NonExistent,
    Unavailable,
    AuthenticationFailed,
    AuthorizationFailed,
    Expired,
    PrivacyRequired,
    ContactAdmin,
    NoPerm,
    InUse,
    ExpungeIssued,
    Corruption,
    Other(a, b),
});

/// Data codes with no arguments, by wire name.
pub(crate) const SIMPLE_CODES: &[(&str, Code<'static>)] = &[
    ("ALERT", Code::Alert),
    ("PARSE", Code::Parse),
    ("READ-ONLY", Code::ReadOnly),
    ("READ-WRITE", Code::ReadWrite),
    ("TRYCREATE", Code::TryCreate),
    ("CLOSED", Code::Closed),
    ("UIDNOTSTICKY", Code::UidNotSticky),
    ("NOMODSEQ", Code::NoModSeq),
    ("COMPRESSIONACTIVE", Code::CompressionActive),
    ("TOOBIG", Code::TooBig),
    ("USEATTR", Code::UseAttr),
    ("NOTIFICATIONOVERFLOW", Code::NotificationOverflow),
    ("UNKNOWN-CTE", Code::UnknownCte),
    ("NOTSAVED", Code::NotSaved),
    ("HASCHILDREN", Code::HasChildren),
    ("CLIENTBUG", Code::ClientBug),
    ("SERVERBUG", Code::ServerBug),
    ("CANNOT", Code::Cannot),
    ("LIMIT", Code::Limit),
    ("OVERQUOTA", Code::OverQuota),
    ("ALREADYEXISTS", Code::AlreadyExists),
    ("NONEXISTENT", Code::NonExistent),
    ("UNAVAILABLE", Code::Unavailable),
    ("AUTHENTICATIONFAILED", Code::AuthenticationFailed),
    ("AUTHORIZATIONFAILED", Code::AuthorizationFailed),
    ("EXPIRED", Code::Expired),
    ("PRIVACYREQUIRED", Code::PrivacyRequired),
    ("CONTACTADMIN", Code::ContactAdmin),
    ("NOPERM", Code::NoPerm),
    ("INUSE", Code::InUse),
    ("EXPUNGEISSUED", Code::ExpungeIssued),
    ("CORRUPTION", Code::Corruption),
];

/// A generic extension value (`tagged-ext-val`, LIST extended items): strings and lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExtValue<'a> {
    /// An atom, number, sequence set or string (kept as a string with its form).
    String(IString<'a>),
    /// `( ... )`
    List(Vec<Self>),
}
into_static_enum!(ExtValue { String(a), List(a) });

/// A LIST or LSUB response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListData<'a> {
    /// Attributes.
    pub attributes: Vec<MailboxAttr<'a>>,
    /// Hierarchy delimiter (`None` = NIL, a flat namespace).
    pub delimiter: Option<char>,
    /// Mailbox.
    pub mailbox: Mailbox<'a>,
    /// Extended data items (`("CHILDINFO" ("SUBSCRIBED"))`, `("OLDNAME" ("x"))`); `None`
    /// when absent.
    pub extended: Option<Vec<(IString<'a>, ExtValue<'a>)>>,
}
into_static_struct!(ListData {
    attributes,
    delimiter,
    mailbox,
    extended
});

/// A STATUS item with its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusValue<'a> {
    /// `MESSAGES n`
    Messages(u32),
    /// `UIDNEXT n`
    UidNext(NonZeroU32),
    /// `UIDVALIDITY n`
    UidValidity(NonZeroU32),
    /// `UNSEEN n`
    Unseen(u32),
    /// `DELETED n`
    Deleted(u32),
    /// `SIZE n`
    Size(u64),
    /// `RECENT n`
    Recent(u32),
    /// `HIGHESTMODSEQ n`
    HighestModSeq(u64),
    /// `APPENDLIMIT n` / `APPENDLIMIT NIL`
    AppendLimit(Option<u64>),
    /// `MAILBOXID (id)`
    MailboxId(Atom<'a>),
}
into_static_enum!(StatusValue {
    Messages(a),
    UidNext(a),
    UidValidity(a),
    Unseen(a),
    Deleted(a),
    Size(a),
    Recent(a),
    HighestModSeq(a),
    AppendLimit(a),
    MailboxId(a),
});

impl StatusValue<'_> {
    /// The item this value answers.
    pub fn item(&self) -> StatusItem {
        match self {
            Self::Messages(_) => StatusItem::Messages,
            Self::UidNext(_) => StatusItem::UidNext,
            Self::UidValidity(_) => StatusItem::UidValidity,
            Self::Unseen(_) => StatusItem::Unseen,
            Self::Deleted(_) => StatusItem::Deleted,
            Self::Size(_) => StatusItem::Size,
            Self::Recent(_) => StatusItem::Recent,
            Self::HighestModSeq(_) => StatusItem::HighestModSeq,
            Self::AppendLimit(_) => StatusItem::AppendLimit,
            Self::MailboxId(_) => StatusItem::MailboxId,
        }
    }
}

/// One namespace (`"(" string SP delimiter *extension ")"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceDesc<'a> {
    /// Prefix.
    pub prefix: IString<'a>,
    /// Delimiter (`None` = NIL).
    pub delimiter: Option<char>,
    /// Extensions: name and values.
    pub extensions: Vec<(IString<'a>, Vec1<IString<'a>>)>,
}
into_static_struct!(NamespaceDesc {
    prefix,
    delimiter,
    extensions
});

/// A quota resource in a QUOTA response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuotaResource<'a> {
    /// `STORAGE`, `MESSAGE`, `MAILBOX`, ...
    pub name: Atom<'a>,
    /// Usage.
    pub usage: u64,
    /// Limit.
    pub limit: u64,
}
into_static_struct!(QuotaResource { name, usage, limit });

/// A thread in a THREAD response: messages in a chain, then two or more branches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Thread {
    /// Messages in the chain, parent first (may be empty when the thread starts with branches).
    pub messages: Vec<NonZeroU32>,
    /// Branches after the chain.
    pub children: Vec<Self>,
}

impl IntoStatic for Thread {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// Untagged data (`response-data` other than status responses).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Data<'a> {
    /// `CAPABILITY caps`
    Capability(Vec1<Atom<'a>>),
    /// `LIST ...`
    List(ListData<'a>),
    /// `LSUB ...` (rev1)
    Lsub(ListData<'a>),
    /// `STATUS mailbox (items)`
    Status {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// Values.
        items: Vec<StatusValue<'a>>,
    },
    /// `SEARCH n...` (rev1), with `(MODSEQ n)` under CONDSTORE.
    Search {
        /// Matching numbers.
        numbers: Vec<NonZeroU32>,
        /// Highest MODSEQ of the matches.
        modseq: Option<u64>,
    },
    /// `ESEARCH [(TAG "t")] [UID] items` (rev2, RFC 4731)
    ESearch {
        /// The correlated command's tag.
        tag: Option<IString<'a>>,
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// The results.
        items: Vec<SearchReturnData<'a>>,
    },
    /// `SORT n...` (RFC 5256)
    Sort {
        /// Sorted numbers.
        numbers: Vec<NonZeroU32>,
        /// `(MODSEQ n)` under CONDSTORE.
        modseq: Option<u64>,
    },
    /// `THREAD threads` (RFC 5256)
    Thread(Vec<Thread>),
    /// `FLAGS (flags)`
    Flags(Vec<Flag<'a>>),
    /// `n EXISTS`
    Exists(u32),
    /// `n RECENT` (rev1)
    Recent(u32),
    /// `n EXPUNGE`
    Expunge(NonZeroU32),
    /// `n FETCH (...)`
    Fetch(FetchData<'a>),
    /// `ENABLED caps` (RFC 5161)
    Enabled(Vec<Atom<'a>>),
    /// `NAMESPACE personal other shared` (`None` = NIL)
    Namespace {
        /// Personal namespaces.
        personal: Option<Vec1<NamespaceDesc<'a>>>,
        /// Other users' namespaces.
        other: Option<Vec1<NamespaceDesc<'a>>>,
        /// Shared namespaces.
        shared: Option<Vec1<NamespaceDesc<'a>>>,
    },
    /// `QUOTA root (resources)` (RFC 9208)
    Quota {
        /// Quota root.
        root: IString<'a>,
        /// Resources.
        resources: Vec<QuotaResource<'a>>,
    },
    /// `QUOTAROOT mailbox roots...`
    QuotaRoot {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// Roots.
        roots: Vec<IString<'a>>,
    },
    /// `METADATA mailbox (entry value ...)` (RFC 5464)
    Metadata {
        /// Mailbox (`""` = server).
        mailbox: Mailbox<'a>,
        /// Entries with values.
        values: Vec1<(IString<'a>, NString8<'a>)>,
    },
    /// `METADATA mailbox entry...` (unsolicited change notice)
    MetadataChanged {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// Changed entries.
        entries: Vec1<IString<'a>>,
    },
    /// `ID (params)` / `ID NIL` (RFC 2971)
    Id(Option<Vec<(IString<'a>, NString<'a>)>>),
    /// `VANISHED [(EARLIER)] uids` (QRESYNC)
    Vanished {
        /// `(EARLIER)`: a reply to a fetch, not a live expunge.
        earlier: bool,
        /// The vanished UIDs.
        uids: SequenceSet,
    },
    /// Any other untagged response: its name and the raw rest of the line (which may hold
    /// literals), without the CRLF.
    Other {
        /// Response name.
        name: Atom<'a>,
        /// Raw data after the name (including the leading SP, if any).
        data: Cow<'a, [u8]>,
    },
}
into_static_enum!(Data {
    Capability(a),
    List(a),
    Lsub(a),
    Status { mailbox, items },
    Search { numbers, modseq },
    ESearch { tag, uid, items },
    Sort { numbers, modseq },
    Thread(a),
    Flags(a),
    Exists(a),
    Recent(a),
    Expunge(a),
    Fetch(a),
    Enabled(a),
    Namespace {
        personal,
        other,
        shared
    },
    Quota { root, resources },
    QuotaRoot { mailbox, roots },
    Metadata { mailbox, values },
    MetadataChanged { mailbox, entries },
    Id(a),
    Vanished { earlier, uids },
    Other { name, data },
});

/// A continuation request (`continue-req = "+" SP (resp-text / base64) CRLF`).
///
/// Whether the text is base64 depends on context (AUTHENTICATE), so it is kept as text;
/// [`ContinueReq::base64`] builds one from bytes and [`ContinueReq::decode_base64`] reads one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContinueReq<'a> {
    /// Response code.
    pub code: Option<Code<'a>>,
    /// Text (or base64 data).
    pub text: Text<'a>,
}
into_static_struct!(ContinueReq { code, text });

impl ContinueReq<'_> {
    /// A continuation with plain text.
    pub fn text(text: Text<'_>) -> ContinueReq<'_> {
        ContinueReq { code: None, text }
    }

    /// A SASL challenge: `data` base64-encoded.
    pub fn base64(data: &[u8]) -> ContinueReq<'static> {
        use base64::Engine as _;
        ContinueReq {
            code: None,
            text: Text(Cow::Owned(
                base64::engine::general_purpose::STANDARD.encode(data),
            )),
        }
    }

    /// Decodes the text as base64 (a SASL challenge), if it is valid base64.
    pub fn decode_base64(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        if self.code.is_some() {
            return None;
        }
        base64::engine::general_purpose::STANDARD
            .decode(self.text.as_str())
            .ok()
    }
}

/// Any server response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Response<'a> {
    /// A status response (tagged or untagged).
    Status(StatusResponse<'a>),
    /// Untagged data.
    Data(Data<'a>),
    /// A continuation request.
    Continue(ContinueReq<'a>),
}
into_static_enum!(Response {
    Status(a),
    Data(a),
    Continue(a)
});
