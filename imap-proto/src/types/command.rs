//! Client commands (RFC 3501 §6, RFC 9051 §6, and the extensions listed in the crate docs).

use std::borrow::Cow;
use std::num::NonZeroU32;

use crate::types::core::{Atom, IString, IntoStatic, LiteralMode, NString, Secret, Tag, Vec1};
use crate::types::datetime::DateTime;
use crate::types::fetch::{FetchAttr, FetchItems, FetchModifier};
use crate::types::flag::{Flag, MailboxAttr};
use crate::types::macros::{into_static_enum, into_static_struct};
use crate::types::mailbox::{ListMailbox, Mailbox};
use crate::types::search::{SearchKey, SearchReturnOpt, SortCriterion};
use crate::types::sequence::SequenceSet;

/// A tagged command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Command<'a> {
    /// The tag the completion response will carry.
    pub tag: Tag<'a>,
    /// What the command does.
    pub body: CommandBody<'a>,
}
into_static_struct!(Command { tag, body });

impl<'a> Command<'a> {
    /// A command.
    pub fn new(tag: Tag<'a>, body: CommandBody<'a>) -> Self {
        Self { tag, body }
    }
}

/// A STATUS data item name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `DELETED` (rev2)
    Deleted,
    /// `SIZE` (rev2, STATUS=SIZE)
    Size,
    /// `RECENT` (rev1)
    Recent,
    /// `HIGHESTMODSEQ` (CONDSTORE)
    HighestModSeq,
    /// `APPENDLIMIT` (RFC 7889)
    AppendLimit,
    /// `MAILBOXID` (OBJECTID)
    MailboxId,
}

impl IntoStatic for StatusItem {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// A LIST selection option (RFC 5258, RFC 6154).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListSelectOpt<'a> {
    /// `SUBSCRIBED`
    Subscribed,
    /// `REMOTE`
    Remote,
    /// `RECURSIVEMATCH`
    RecursiveMatch,
    /// `SPECIAL-USE`
    SpecialUse,
    /// Another option (no value).
    Other(Atom<'a>),
}
into_static_enum!(ListSelectOpt {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
    Other(a),
});

/// A LIST return option (RFC 5258, RFC 5819 LIST-STATUS, RFC 6154).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListReturnOpt<'a> {
    /// `SUBSCRIBED`
    Subscribed,
    /// `CHILDREN`
    Children,
    /// `SPECIAL-USE`
    SpecialUse,
    /// `STATUS (items)`
    Status(Vec1<StatusItem>),
    /// Another option (no value).
    Other(Atom<'a>),
}
into_static_enum!(ListReturnOpt {
    Subscribed,
    Children,
    SpecialUse,
    Status(a),
    Other(a),
});

/// `mbox-or-pat`: one pattern, or a parenthesized list (LIST-EXTENDED).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListPatterns<'a> {
    /// One pattern.
    Single(ListMailbox<'a>),
    /// `(p1 p2 ...)`
    Multiple(Vec1<ListMailbox<'a>>),
}
into_static_enum!(ListPatterns {
    Single(a),
    Multiple(a)
});

impl<'a> ListPatterns<'a> {
    /// The patterns.
    pub fn as_slice(&self) -> &[ListMailbox<'a>] {
        match self {
            Self::Single(p) => std::slice::from_ref(p),
            Self::Multiple(v) => v,
        }
    }
}

/// QRESYNC parameters of SELECT/EXAMINE (RFC 7162 §3.2.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QResync {
    /// The UIDVALIDITY the client last saw.
    pub uid_validity: NonZeroU32,
    /// The highest MODSEQ the client last saw.
    pub modseq: u64,
    /// UIDs the client knows.
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

impl IntoStatic for QResync {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// SELECT/EXAMINE parameters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SelectParam {
    /// `CONDSTORE`
    CondStore,
    /// `QRESYNC (...)`
    QResync(QResync),
}

impl IntoStatic for SelectParam {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// The data of one APPEND message: a literal or literal8.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LiteralData<'a> {
    /// The message bytes.
    pub data: Cow<'a, [u8]>,
    /// `{n}` or `{n+}`.
    pub mode: LiteralMode,
    /// `~{n}` (BINARY, RFC 3516): the data may hold NUL bytes.
    pub binary: bool,
}
into_static_struct!(LiteralData { data, mode, binary });

impl std::fmt::Debug for LiteralData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteralData")
            .field("len", &self.data.len())
            .field("mode", &self.mode)
            .field("binary", &self.binary)
            .finish()
    }
}

/// One message of APPEND (MULTIAPPEND allows several).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppendMessage<'a> {
    /// `(flags)`, if given.
    pub flags: Option<Vec<Flag<'a>>>,
    /// Internal date, if given.
    pub date: Option<DateTime>,
    /// The message.
    pub data: LiteralData<'a>,
}
into_static_struct!(AppendMessage { flags, date, data });

/// How STORE changes flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

impl IntoStatic for StoreKind {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// GETMETADATA `DEPTH` (RFC 5464).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetadataDepth {
    /// `0`
    Zero,
    /// `1`
    One,
    /// `infinity`
    Infinity,
}

/// GETMETADATA options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetadataOption {
    /// `MAXSIZE n`
    MaxSize(u32),
    /// `DEPTH d`
    Depth(MetadataDepth),
}

impl IntoStatic for MetadataOption {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// A NOTIFY mailbox filter (RFC 5465).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NotifyFilter<'a> {
    /// `SELECTED`
    Selected,
    /// `SELECTED-DELAYED`
    SelectedDelayed,
    /// `INBOXES`
    Inboxes,
    /// `PERSONAL`
    Personal,
    /// `SUBSCRIBED`
    Subscribed,
    /// `SUBTREE mailboxes`
    Subtree(Vec1<Mailbox<'a>>),
    /// `MAILBOXES mailboxes`
    Mailboxes(Vec1<Mailbox<'a>>),
}
into_static_enum!(NotifyFilter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(a),
    Mailboxes(a),
});

/// A NOTIFY event (RFC 5465).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotifyEvent<'a> {
    /// `MessageNew [(fetch-att ...)]`
    MessageNew(Vec<FetchAttr<'a>>),
    /// `MessageExpunge`
    MessageExpunge,
    /// `FlagChange`
    FlagChange,
    /// `AnnotationChange`
    AnnotationChange,
    /// `MailboxName`
    MailboxName,
    /// `SubscriptionChange`
    SubscriptionChange,
    /// `MailboxMetadataChange`
    MailboxMetadataChange,
    /// `ServerMetadataChange`
    ServerMetadataChange,
    /// Another event name.
    Other(Atom<'a>),
}
into_static_enum!(NotifyEvent {
    MessageNew(a),
    MessageExpunge,
    FlagChange,
    AnnotationChange,
    MailboxName,
    SubscriptionChange,
    MailboxMetadataChange,
    ServerMetadataChange,
    Other(a),
});

/// `"(" filter-mailboxes SP events ")"`; empty events = `NONE`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NotifyGroup<'a> {
    /// Which mailboxes.
    pub filter: NotifyFilter<'a>,
    /// Which events (`NONE` when empty).
    pub events: Vec<NotifyEvent<'a>>,
}
into_static_struct!(NotifyGroup { filter, events });

/// The argument of NOTIFY.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Notify<'a> {
    /// `NOTIFY NONE`
    None,
    /// `NOTIFY SET [STATUS] groups`
    Set {
        /// `STATUS`: send STATUS for the mailboxes now.
        status: bool,
        /// The event groups.
        groups: Vec1<NotifyGroup<'a>>,
    },
}
into_static_enum!(Notify {
    None,
    Set { status, groups }
});

/// What a command asks for.
///
/// The variants follow the RFC command names; `uid: true` is the `UID` prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandBody<'a> {
    // --- any state ---
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `ID (params)` / `ID NIL` (RFC 2971).
    Id(Option<Vec<(IString<'a>, NString<'a>)>>),

    // --- not authenticated ---
    /// `STARTTLS`
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (SASL-IR: `=` is an empty response).
    Authenticate {
        /// SASL mechanism name.
        mechanism: Atom<'a>,
        /// Decoded initial response (SASL-IR).
        initial_response: Option<Secret<Cow<'a, [u8]>>>,
    },
    /// `LOGIN user password`
    Login {
        /// User name.
        username: IString<'a>,
        /// Password.
        password: Secret<IString<'a>>,
    },

    // --- authenticated ---
    /// `ENABLE cap ...` (RFC 5161)
    Enable(Vec1<Atom<'a>>),
    /// `SELECT mailbox [(params)]`
    Select {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// CONDSTORE / QRESYNC.
        params: Vec<SelectParam>,
    },
    /// `EXAMINE mailbox [(params)]`
    Examine {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// CONDSTORE / QRESYNC.
        params: Vec<SelectParam>,
    },
    /// `CREATE mailbox [(USE (attrs))]` (CREATE-SPECIAL-USE, RFC 6154).
    Create {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// Special-use attributes; empty = no USE parameter.
        special_use: Vec<MailboxAttr<'a>>,
    },
    /// `DELETE mailbox`
    Delete(Mailbox<'a>),
    /// `RENAME from to`
    Rename {
        /// Existing name.
        from: Mailbox<'a>,
        /// New name.
        to: Mailbox<'a>,
    },
    /// `SUBSCRIBE mailbox`
    Subscribe(Mailbox<'a>),
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe(Mailbox<'a>),
    /// `LIST [(select)] reference patterns [RETURN (opts)]`
    List {
        /// Selection options (`None` = not given; `Some(empty)` = `()`).
        select: Option<Vec<ListSelectOpt<'a>>>,
        /// Reference name.
        reference: Mailbox<'a>,
        /// Pattern(s).
        patterns: ListPatterns<'a>,
        /// Return options (`None` = not given).
        return_opts: Option<Vec<ListReturnOpt<'a>>>,
    },
    /// `LSUB reference pattern` (rev1)
    Lsub {
        /// Reference name.
        reference: Mailbox<'a>,
        /// Pattern.
        pattern: ListMailbox<'a>,
    },
    /// `NAMESPACE` (RFC 2342)
    Namespace,
    /// `STATUS mailbox (items)`
    Status {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// Items.
        items: Vec1<StatusItem>,
    },
    /// `APPEND mailbox message...` (MULTIAPPEND when more than one).
    Append {
        /// Target mailbox.
        mailbox: Mailbox<'a>,
        /// Messages.
        messages: Vec1<AppendMessage<'a>>,
    },
    /// `IDLE` (RFC 2177); ended by `DONE`.
    Idle,
    /// `GETQUOTA root` (RFC 9208)
    GetQuota(IString<'a>),
    /// `GETQUOTAROOT mailbox`
    GetQuotaRoot(Mailbox<'a>),
    /// `SETQUOTA root (resource limit ...)`
    SetQuota {
        /// Quota root.
        root: IString<'a>,
        /// Resource limits.
        limits: Vec<(Atom<'a>, u64)>,
    },
    /// `GETMETADATA [(options)] mailbox entries` (RFC 5464); mailbox `""` = server.
    GetMetadata {
        /// Options.
        options: Vec<MetadataOption>,
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// Entry names.
        entries: Vec1<IString<'a>>,
    },
    /// `SETMETADATA mailbox (entry value ...)`; a NIL value removes the entry.
    SetMetadata {
        /// Mailbox.
        mailbox: Mailbox<'a>,
        /// Entries and values.
        entries: Vec1<(IString<'a>, crate::types::fetch::NString8<'a>)>,
    },
    /// `UNAUTHENTICATE` (RFC 8437)
    Unauthenticate,
    /// `COMPRESS mechanism` (RFC 4978)
    Compress(Atom<'a>),
    /// `NOTIFY ...` (RFC 5465)
    Notify(Notify<'a>),

    // --- selected ---
    /// `CHECK` (rev1)
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `EXPUNGE`
    Expunge,
    /// `UID EXPUNGE set` (UIDPLUS)
    UidExpunge(SequenceSet),
    /// `[UID] SEARCH [RETURN (opts)] [CHARSET c] keys`
    Search {
        /// `UID` prefix.
        uid: bool,
        /// `RETURN (...)` (`None` = not given).
        return_opts: Option<Vec<SearchReturnOpt<'a>>>,
        /// `CHARSET`.
        charset: Option<IString<'a>>,
        /// Criteria (ANDed).
        criteria: Vec1<SearchKey<'a>>,
    },
    /// `[UID] SORT [RETURN (opts)] (criteria) charset keys` (RFC 5256, ESORT RFC 5267).
    Sort {
        /// `UID` prefix.
        uid: bool,
        /// `RETURN (...)`.
        return_opts: Option<Vec<SearchReturnOpt<'a>>>,
        /// Sort criteria.
        sort: Vec1<SortCriterion>,
        /// Charset.
        charset: IString<'a>,
        /// Search criteria.
        criteria: Vec1<SearchKey<'a>>,
    },
    /// `[UID] THREAD algorithm charset keys` (RFC 5256).
    Thread {
        /// `UID` prefix.
        uid: bool,
        /// Algorithm (`REFERENCES`, `ORDEREDSUBJECT`, `REFS`).
        algorithm: Atom<'a>,
        /// Charset.
        charset: IString<'a>,
        /// Search criteria.
        criteria: Vec1<SearchKey<'a>>,
    },
    /// `[UID] FETCH set items [(modifiers)]`
    Fetch {
        /// `UID` prefix.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Items.
        items: FetchItems<'a>,
        /// CHANGEDSINCE / VANISHED.
        modifiers: Vec<FetchModifier>,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (flags)`
    Store {
        /// `UID` prefix.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// `UNCHANGEDSINCE` (CONDSTORE).
        unchanged_since: Option<u64>,
        /// Replace, add or remove.
        kind: StoreKind,
        /// `.SILENT`
        silent: bool,
        /// Flags.
        flags: Vec<Flag<'a>>,
    },
    /// `[UID] COPY set mailbox`
    Copy {
        /// `UID` prefix.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Target.
        mailbox: Mailbox<'a>,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851)
    Move {
        /// `UID` prefix.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Target.
        mailbox: Mailbox<'a>,
    },

    /// A command this crate does not know (`X<atom>` and others): its name and the raw
    /// argument bytes after it (which may hold literals), without the final CRLF.
    Other {
        /// Command name.
        name: Atom<'a>,
        /// Raw arguments, starting after the name (with the leading SP if any).
        arguments: Cow<'a, [u8]>,
    },
}
into_static_enum!(CommandBody {
    Capability,
    Noop,
    Logout,
    Id(a),
    StartTls,
    Authenticate {
        mechanism,
        initial_response
    },
    Login { username, password },
    Enable(a),
    Select { mailbox, params },
    Examine { mailbox, params },
    Create {
        mailbox,
        special_use
    },
    Delete(a),
    Rename { from, to },
    Subscribe(a),
    Unsubscribe(a),
    List {
        select,
        reference,
        patterns,
        return_opts
    },
    Lsub { reference, pattern },
    Namespace,
    Status { mailbox, items },
    Append { mailbox, messages },
    Idle,
    GetQuota(a),
    GetQuotaRoot(a),
    SetQuota { root, limits },
    GetMetadata {
        options,
        mailbox,
        entries
    },
    SetMetadata { mailbox, entries },
    Unauthenticate,
    Compress(a),
    Notify(a),
    Check,
    Close,
    Unselect,
    Expunge,
    UidExpunge(a),
    Search {
        uid,
        return_opts,
        charset,
        criteria
    },
    Sort {
        uid,
        return_opts,
        sort,
        charset,
        criteria
    },
    Thread {
        uid,
        algorithm,
        charset,
        criteria
    },
    Fetch {
        uid,
        set,
        items,
        modifiers
    },
    Store {
        uid,
        set,
        unchanged_since,
        kind,
        silent,
        flags
    },
    Copy { uid, set, mailbox },
    Move { uid, set, mailbox },
    Other { name, arguments },
});

impl CommandBody<'_> {
    /// The command name as written on the wire (`"UID FETCH"`, `"SELECT"`, ...).
    pub fn name(&self) -> &str {
        match self {
            Self::Capability => "CAPABILITY",
            Self::Noop => "NOOP",
            Self::Logout => "LOGOUT",
            Self::Id(_) => "ID",
            Self::StartTls => "STARTTLS",
            Self::Authenticate { .. } => "AUTHENTICATE",
            Self::Login { .. } => "LOGIN",
            Self::Enable(_) => "ENABLE",
            Self::Select { .. } => "SELECT",
            Self::Examine { .. } => "EXAMINE",
            Self::Create { .. } => "CREATE",
            Self::Delete(_) => "DELETE",
            Self::Rename { .. } => "RENAME",
            Self::Subscribe(_) => "SUBSCRIBE",
            Self::Unsubscribe(_) => "UNSUBSCRIBE",
            Self::List { .. } => "LIST",
            Self::Lsub { .. } => "LSUB",
            Self::Namespace => "NAMESPACE",
            Self::Status { .. } => "STATUS",
            Self::Append { .. } => "APPEND",
            Self::Idle => "IDLE",
            Self::GetQuota(_) => "GETQUOTA",
            Self::GetQuotaRoot(_) => "GETQUOTAROOT",
            Self::SetQuota { .. } => "SETQUOTA",
            Self::GetMetadata { .. } => "GETMETADATA",
            Self::SetMetadata { .. } => "SETMETADATA",
            Self::Unauthenticate => "UNAUTHENTICATE",
            Self::Compress(_) => "COMPRESS",
            Self::Notify(_) => "NOTIFY",
            Self::Check => "CHECK",
            Self::Close => "CLOSE",
            Self::Unselect => "UNSELECT",
            Self::Expunge => "EXPUNGE",
            Self::UidExpunge(_) => "UID EXPUNGE",
            Self::Search { uid, .. } => uid_name(*uid, "SEARCH"),
            Self::Sort { uid, .. } => uid_name(*uid, "SORT"),
            Self::Thread { uid, .. } => uid_name(*uid, "THREAD"),
            Self::Fetch { uid, .. } => uid_name(*uid, "FETCH"),
            Self::Store { uid, .. } => uid_name(*uid, "STORE"),
            Self::Copy { uid, .. } => uid_name(*uid, "COPY"),
            Self::Move { uid, .. } => uid_name(*uid, "MOVE"),
            Self::Other { name, .. } => name.as_str(),
        }
    }

    /// Whether the command uses message sequence numbers (RFC 3501 §5.5: such a command must
    /// not be sent while a command that may expunge is in progress).
    pub fn uses_sequence_numbers(&self) -> bool {
        match self {
            Self::Fetch { uid, set, .. }
            | Self::Store { uid, set, .. }
            | Self::Copy { uid, set, .. }
            | Self::Move { uid, set, .. } => !uid || matches!(set, SequenceSet::Saved),
            Self::Search { uid, criteria, .. }
            | Self::Sort { uid, criteria, .. }
            | Self::Thread { uid, criteria, .. } => !uid || criteria.iter().any(search_uses_seq),
            _ => false,
        }
    }
}

fn search_uses_seq(k: &SearchKey<'_>) -> bool {
    match k {
        SearchKey::SequenceSet(_) => true,
        SearchKey::Not(k) => search_uses_seq(k),
        SearchKey::Or(a, b) => search_uses_seq(a) || search_uses_seq(b),
        SearchKey::And(v) => v.iter().any(search_uses_seq),
        _ => false,
    }
}

fn uid_name(uid: bool, name: &'static str) -> &'static str {
    if !uid {
        return name;
    }
    match name {
        "SEARCH" => "UID SEARCH",
        "SORT" => "UID SORT",
        "THREAD" => "UID THREAD",
        "FETCH" => "UID FETCH",
        "STORE" => "UID STORE",
        "COPY" => "UID COPY",
        _ => "UID MOVE",
    }
}

impl IntoStatic for MetadataDepth {
    type Static = Self;
    fn into_static(self) -> Self {
        self
    }
}

/// The data lines a client sends during AUTHENTICATE (`authenticate-data`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthenticateData<'a> {
    /// A base64 response, decoded.
    Continue(Secret<Cow<'a, [u8]>>),
    /// `*`: the client cancels the exchange.
    Cancel,
}
into_static_enum!(AuthenticateData { Continue(a), Cancel });
