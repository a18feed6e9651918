//! Serialization. Every value writes itself in its canonical form; strings honour their form
//! hint when it is valid there and otherwise take the cheapest valid form.

use std::num::NonZeroU32;

use crate::types::body::{
    Address, BodyExtension, BodyFields, BodyKind, BodyParams, BodyStructure, DispositionExt,
    Envelope, Language,
};
use crate::types::command::{
    AppendMessage, AuthenticateData, Command, CommandBody, ListPatterns, ListReturnOpt,
    ListSelectOpt, MetadataDepth, MetadataOption, Notify, NotifyEvent, NotifyFilter, SelectParam,
    StatusItem, StoreKind,
};
use crate::types::core::{
    C_ASTRING, C_ATOM, C_LIST, C_TEXT, IString, LiteralMode, StrForm, Vec1, all,
};
use crate::types::datetime::{Date, DateTime, MONTHS};
use crate::types::fetch::{
    FetchAttr, FetchItems, FetchModifier, MessageDataItem, NString8, Part, Partial, Section,
};
use crate::types::flag::{Flag, FlagFetch, FlagPerm, MailboxAttr};
use crate::types::mailbox::Mailbox;
use crate::types::response::{
    Code, ContinueReq, Data, ExtValue, Greeting, ListData, NamespaceDesc, Response, StatusResponse,
    StatusValue, Thread,
};
use crate::types::search::{EntryType, SearchKey, SearchReturnData, SearchReturnOpt, SortKey};
use crate::types::sequence::{SeqNum, Sequence, SequenceSet};

/// How the encoder may write strings and literals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// Quoted strings may carry UTF-8 (IMAP4rev2 or `UTF8=ACCEPT` in effect). Otherwise any
    /// 8-bit string is sent as a literal.
    pub utf8: bool,
    /// The server has `LITERAL+` (RFC 7888): a client's literals are all sent non-synchronizing.
    pub literal_plus: bool,
    /// The server has `LITERAL-`: literals up to 4096 bytes are sent non-synchronizing.
    pub literal_minus: bool,
}

impl EncodeOptions {
    /// Options with UTF-8 quoted strings allowed or not.
    #[must_use]
    pub fn with_utf8(mut self, utf8: bool) -> Self {
        self.utf8 = utf8;
        self
    }

    /// Options with the server's LITERAL+/LITERAL- support.
    #[must_use]
    pub fn with_literals(mut self, plus: bool, minus: bool) -> Self {
        self.literal_plus = plus;
        self.literal_minus = minus;
        self
    }
}

/// Bytes of one encoded message, with the points where a client must wait for the server's
/// continuation request before sending on (after each synchronizing literal's header).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    bytes: Vec<u8>,
    sync_points: Vec<usize>,
}

impl Encoded {
    /// All bytes, as a server (or a client that already got every `+`) sends them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// All bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The message cut at each synchronizing literal: send the first chunk, then each
    /// following chunk only after a continuation request (`+`) from the server.
    pub fn chunks(&self) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(self.sync_points.len() + 1);
        let mut start = 0;
        for &p in &self.sync_points {
            out.push(&self.bytes[start..p]);
            start = p;
        }
        out.push(&self.bytes[start..]);
        out
    }

    /// Offsets where the sender must wait for `+`.
    pub fn sync_points(&self) -> &[usize] {
        &self.sync_points
    }
}

pub(crate) struct Enc {
    pub(crate) out: Vec<u8>,
    sync: Vec<usize>,
    opts: EncodeOptions,
    /// Whether literals are written by a client (they may need a `+`).
    client: bool,
}

impl Enc {
    pub(crate) fn new(opts: EncodeOptions, client: bool) -> Self {
        Self {
            out: Vec::with_capacity(128),
            sync: Vec::new(),
            opts,
            client,
        }
    }

    pub(crate) fn finish(self) -> Encoded {
        Encoded {
            bytes: self.out,
            sync_points: self.sync,
        }
    }

    #[inline]
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    #[inline]
    pub(crate) fn s(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub(crate) fn sp(&mut self) {
        self.out.push(b' ');
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    pub(crate) fn num(&mut self, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&buf[i..]);
    }

    pub(crate) fn nz(&mut self, n: NonZeroU32) {
        self.num(u64::from(n.get()));
    }

    fn quotable(&self, b: &[u8]) -> bool {
        if all(b, C_TEXT) {
            return true;
        }
        self.opts.utf8
            && !b.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n')
            && std::str::from_utf8(b).is_ok()
    }

    fn quoted(&mut self, b: &[u8]) {
        self.out.reserve(b.len() + 2);
        self.out.push(b'"');
        let mut start = 0;
        for (i, &c) in b.iter().enumerate() {
            if c == b'"' || c == b'\\' {
                self.out.extend_from_slice(&b[start..i]);
                self.out.push(b'\\');
                start = i;
            }
        }
        self.out.extend_from_slice(&b[start..]);
        self.out.push(b'"');
    }

    pub(crate) fn literal(&mut self, b: &[u8], mode: LiteralMode, binary: bool) {
        let mode = if self.client
            && (self.opts.literal_plus || (self.opts.literal_minus && b.len() <= 4096))
        {
            LiteralMode::NonSync
        } else if self.client {
            mode
        } else {
            // Servers never wait for a continuation.
            LiteralMode::Sync
        };
        if binary {
            self.out.push(b'~');
        }
        self.out.push(b'{');
        self.num(b.len() as u64);
        if mode == LiteralMode::NonSync {
            self.out.push(b'+');
        }
        self.out.extend_from_slice(b"}\r\n");
        if self.client && mode == LiteralMode::Sync {
            self.sync.push(self.out.len());
        }
        self.out.extend_from_slice(b);
    }

    fn string_with(&mut self, s: &IString<'_>, atom_class: Option<u8>) {
        let b = s.as_bytes();
        match s.form() {
            StrForm::Atom => {
                if let Some(class) = atom_class
                    && !b.is_empty()
                    && all(b, class)
                {
                    self.raw(b);
                } else if self.quotable(b) {
                    self.quoted(b);
                } else {
                    self.literal(b, LiteralMode::Sync, false);
                }
            }
            StrForm::Quoted => {
                if self.quotable(b) {
                    self.quoted(b);
                } else {
                    self.literal(b, LiteralMode::Sync, false);
                }
            }
            StrForm::Literal(mode) => self.literal(b, mode, false),
        }
    }

    /// `astring`
    pub(crate) fn astring(&mut self, s: &IString<'_>) {
        self.string_with(s, Some(C_ASTRING));
    }

    /// `string` (never an atom)
    pub(crate) fn string(&mut self, s: &IString<'_>) {
        self.string_with(s, None);
    }

    /// `nstring`
    pub(crate) fn nstring(&mut self, s: Option<&IString<'_>>) {
        match s {
            Some(s) => self.string(s),
            None => self.s("NIL"),
        }
    }

    pub(crate) fn mailbox(&mut self, m: &Mailbox<'_>) {
        self.astring(m.as_istring());
    }

    /// `charset = atom / quoted`
    fn charset(&mut self, s: &IString<'_>) {
        self.string_with(s, Some(C_ATOM));
    }

    fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.byte(b'(');
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                self.sp();
            }
            f(self, it);
        }
        self.byte(b')');
    }

    fn flag(&mut self, f: &Flag<'_>) {
        match f {
            Flag::Answered => self.s("\\Answered"),
            Flag::Flagged => self.s("\\Flagged"),
            Flag::Deleted => self.s("\\Deleted"),
            Flag::Seen => self.s("\\Seen"),
            Flag::Draft => self.s("\\Draft"),
            Flag::Keyword(a) => self.s(a.as_str()),
            Flag::Extension(a) => {
                self.byte(b'\\');
                self.s(a.as_str());
            }
        }
    }

    fn mailbox_attr(&mut self, a: &MailboxAttr<'_>) {
        self.byte(b'\\');
        self.s(a.name());
    }

    pub(crate) fn sequence_set(&mut self, s: &SequenceSet) {
        match s {
            SequenceSet::Saved => self.byte(b'$'),
            SequenceSet::Set(items) => {
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        self.byte(b',');
                    }
                    match it {
                        Sequence::Single(n) => self.seq_num(*n),
                        Sequence::Range(a, b) => {
                            self.seq_num(*a);
                            self.byte(b':');
                            self.seq_num(*b);
                        }
                    }
                }
            }
        }
    }

    fn seq_num(&mut self, n: SeqNum) {
        match n {
            SeqNum::Value(v) => self.nz(v),
            SeqNum::Largest => self.byte(b'*'),
        }
    }

    fn two(&mut self, n: u8) {
        self.byte(b'0' + n / 10);
        self.byte(b'0' + n % 10);
    }

    pub(crate) fn date_time(&mut self, d: &DateTime) {
        self.byte(b'"');
        let date = d.date();
        self.two(date.day());
        self.byte(b'-');
        self.s(MONTHS[usize::from(date.month() - 1)]);
        self.byte(b'-');
        self.two((date.year() / 100) as u8);
        self.two((date.year() % 100) as u8);
        self.sp();
        let (h, m, s) = d.time();
        self.two(h);
        self.byte(b':');
        self.two(m);
        self.byte(b':');
        self.two(s);
        self.sp();
        let off = d.offset_minutes();
        self.byte(if off < 0 { b'-' } else { b'+' });
        let off = off.unsigned_abs();
        self.two((off / 60) as u8);
        self.two((off % 60) as u8);
        self.byte(b'"');
    }

    fn date(&mut self, d: Date) {
        self.num(u64::from(d.day()));
        self.byte(b'-');
        self.s(MONTHS[usize::from(d.month() - 1)]);
        self.byte(b'-');
        self.two((d.year() / 100) as u8);
        self.two((d.year() % 100) as u8);
    }

    fn delimiter(&mut self, d: Option<char>) {
        match d {
            None => self.s("NIL"),
            Some(c) => {
                let mut buf = [0u8; 4];
                self.quoted(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

impl Enc {
    pub(crate) fn command(&mut self, c: &Command<'_>) {
        self.s(c.tag.as_str());
        self.sp();
        self.command_body(&c.body);
        self.raw(b"\r\n");
    }

    #[allow(clippy::too_many_lines)]
    fn command_body(&mut self, b: &CommandBody<'_>) {
        match b {
            CommandBody::Id(params) => {
                self.s("ID ");
                self.id_params(params.as_deref());
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                self.s("AUTHENTICATE ");
                self.s(mechanism.as_str());
                if let Some(ir) = initial_response {
                    self.sp();
                    let ir = ir.declassify();
                    if ir.is_empty() {
                        self.byte(b'=');
                    } else {
                        self.base64(ir);
                    }
                }
            }
            CommandBody::Login { username, password } => {
                self.s("LOGIN ");
                self.astring(username);
                self.sp();
                self.astring(password.declassify());
            }
            CommandBody::Enable(caps) => {
                self.s("ENABLE");
                for c in caps {
                    self.sp();
                    self.s(c.as_str());
                }
            }
            CommandBody::Select { mailbox, params } | CommandBody::Examine { mailbox, params } => {
                self.s(b.name());
                self.sp();
                self.mailbox(mailbox);
                if !params.is_empty() {
                    self.sp();
                    self.list(params, Self::select_param);
                }
            }
            CommandBody::Create {
                mailbox,
                special_use,
            } => {
                self.s("CREATE ");
                self.mailbox(mailbox);
                if !special_use.is_empty() {
                    self.s(" (USE ");
                    self.list(special_use, Self::mailbox_attr);
                    self.byte(b')');
                }
            }
            CommandBody::Delete(m) | CommandBody::Subscribe(m) | CommandBody::Unsubscribe(m) => {
                self.s(b.name());
                self.sp();
                self.mailbox(m);
            }
            CommandBody::GetQuotaRoot(m) => {
                self.s("GETQUOTAROOT ");
                self.mailbox(m);
            }
            CommandBody::Rename { from, to } => {
                self.s("RENAME ");
                self.mailbox(from);
                self.sp();
                self.mailbox(to);
            }
            CommandBody::List {
                select,
                reference,
                patterns,
                return_opts,
            } => {
                self.s("LIST ");
                if let Some(sel) = select {
                    self.list(sel, |e, o| {
                        e.s(match o {
                            ListSelectOpt::Subscribed => "SUBSCRIBED",
                            ListSelectOpt::Remote => "REMOTE",
                            ListSelectOpt::RecursiveMatch => "RECURSIVEMATCH",
                            ListSelectOpt::SpecialUse => "SPECIAL-USE",
                            ListSelectOpt::Other(a) => a.as_str(),
                        });
                    });
                    self.sp();
                }
                self.mailbox(reference);
                self.sp();
                match patterns {
                    ListPatterns::Single(p) => self.string_with(p.as_istring(), Some(C_LIST)),
                    ListPatterns::Multiple(v) => {
                        self.list(v, |e, p| e.string_with(p.as_istring(), Some(C_LIST)));
                    }
                }
                if let Some(ret) = return_opts {
                    self.s(" RETURN ");
                    self.list(ret, |e, o| match o {
                        ListReturnOpt::Subscribed => e.s("SUBSCRIBED"),
                        ListReturnOpt::Children => e.s("CHILDREN"),
                        ListReturnOpt::SpecialUse => e.s("SPECIAL-USE"),
                        ListReturnOpt::Status(items) => {
                            e.s("STATUS ");
                            e.list(items, |e, i| e.status_item(*i));
                        }
                        ListReturnOpt::Other(a) => e.s(a.as_str()),
                    });
                }
            }
            CommandBody::Lsub { reference, pattern } => {
                self.s("LSUB ");
                self.mailbox(reference);
                self.sp();
                self.string_with(pattern.as_istring(), Some(C_LIST));
            }
            CommandBody::Status { mailbox, items } => {
                self.s("STATUS ");
                self.mailbox(mailbox);
                self.sp();
                self.list(items, |e, i| e.status_item(*i));
            }
            CommandBody::Append { mailbox, messages } => {
                self.s("APPEND ");
                self.mailbox(mailbox);
                for m in messages {
                    self.sp();
                    self.append_message(m);
                }
            }
            CommandBody::GetQuota(root) => {
                self.s("GETQUOTA ");
                self.astring(root);
            }
            CommandBody::SetQuota { root, limits } => {
                self.s("SETQUOTA ");
                self.astring(root);
                self.sp();
                self.list(limits, |e, (n, l)| {
                    e.s(n.as_str());
                    e.sp();
                    e.num(*l);
                });
            }
            CommandBody::GetMetadata {
                options,
                mailbox,
                entries,
            } => {
                self.s("GETMETADATA ");
                if !options.is_empty() {
                    self.list(options, |e, o| match o {
                        MetadataOption::MaxSize(n) => {
                            e.s("MAXSIZE ");
                            e.num(u64::from(*n));
                        }
                        MetadataOption::Depth(d) => e.s(match d {
                            MetadataDepth::Zero => "DEPTH 0",
                            MetadataDepth::One => "DEPTH 1",
                            MetadataDepth::Infinity => "DEPTH infinity",
                        }),
                    });
                    self.sp();
                }
                self.mailbox(mailbox);
                self.sp();
                if entries.len() == 1 {
                    self.astring(entries.first());
                } else {
                    self.list(entries, |e, s| e.astring(s));
                }
            }
            CommandBody::SetMetadata { mailbox, entries } => {
                self.s("SETMETADATA ");
                self.mailbox(mailbox);
                self.sp();
                self.list(entries, |e, (k, v)| {
                    e.astring(k);
                    e.sp();
                    e.nstring8(v);
                });
            }
            CommandBody::Compress(a) => {
                self.s("COMPRESS ");
                self.s(a.as_str());
            }
            CommandBody::Notify(n) => {
                self.s("NOTIFY ");
                self.notify(n);
            }
            CommandBody::UidExpunge(set) => {
                self.s("UID EXPUNGE ");
                self.sequence_set(set);
            }
            CommandBody::Search {
                return_opts,
                charset,
                criteria,
                ..
            } => {
                self.s(b.name());
                self.search_return(return_opts.as_deref());
                if let Some(cs) = charset {
                    self.s(" CHARSET ");
                    self.astring(cs);
                }
                for k in criteria {
                    self.sp();
                    self.search_key(k);
                }
            }
            CommandBody::Sort {
                return_opts,
                sort,
                charset,
                criteria,
                ..
            } => {
                self.s(b.name());
                self.search_return(return_opts.as_deref());
                self.sp();
                self.list(sort, |e, c| {
                    if c.reverse {
                        e.s("REVERSE ");
                    }
                    e.s(match c.key {
                        SortKey::Arrival => "ARRIVAL",
                        SortKey::Cc => "CC",
                        SortKey::Date => "DATE",
                        SortKey::From => "FROM",
                        SortKey::Size => "SIZE",
                        SortKey::Subject => "SUBJECT",
                        SortKey::To => "TO",
                        SortKey::DisplayFrom => "DISPLAYFROM",
                        SortKey::DisplayTo => "DISPLAYTO",
                    });
                });
                self.sp();
                self.astring(charset);
                for k in criteria {
                    self.sp();
                    self.search_key(k);
                }
            }
            CommandBody::Thread {
                algorithm,
                charset,
                criteria,
                ..
            } => {
                self.s(b.name());
                self.sp();
                self.s(algorithm.as_str());
                self.sp();
                self.astring(charset);
                for k in criteria {
                    self.sp();
                    self.search_key(k);
                }
            }
            CommandBody::Fetch {
                set,
                items,
                modifiers,
                ..
            } => {
                self.s(b.name());
                self.sp();
                self.sequence_set(set);
                self.sp();
                match items {
                    FetchItems::All => self.s("ALL"),
                    FetchItems::Full => self.s("FULL"),
                    FetchItems::Fast => self.s("FAST"),
                    FetchItems::Attrs(v) if v.len() == 1 => self.fetch_att(v.first()),
                    FetchItems::Attrs(v) => self.list(v, Self::fetch_att),
                }
                if !modifiers.is_empty() {
                    self.sp();
                    self.list(modifiers, |e, m| match m {
                        FetchModifier::ChangedSince(n) => {
                            e.s("CHANGEDSINCE ");
                            e.num(*n);
                        }
                        FetchModifier::Vanished => e.s("VANISHED"),
                    });
                }
            }
            CommandBody::Store {
                set,
                unchanged_since,
                kind,
                silent,
                flags,
                ..
            } => {
                self.s(b.name());
                self.sp();
                self.sequence_set(set);
                self.sp();
                if let Some(n) = unchanged_since {
                    self.s("(UNCHANGEDSINCE ");
                    self.num(*n);
                    self.s(") ");
                }
                self.s(match kind {
                    StoreKind::Replace => "FLAGS",
                    StoreKind::Add => "+FLAGS",
                    StoreKind::Remove => "-FLAGS",
                });
                if *silent {
                    self.s(".SILENT");
                }
                self.sp();
                self.list(flags, Self::flag);
            }
            CommandBody::Copy { set, mailbox, .. } | CommandBody::Move { set, mailbox, .. } => {
                self.s(b.name());
                self.sp();
                self.sequence_set(set);
                self.sp();
                self.mailbox(mailbox);
            }
            CommandBody::Other { name, arguments } => {
                self.s(name.as_str());
                // The arguments are raw; a sync literal inside them is a sync point.
                self.raw_with_literals(arguments);
            }
            // No arguments.
            _ => self.s(b.name()),
        }
    }

    /// Writes raw bytes, registering a sync point after each `{n}\r\n` header in them.
    fn raw_with_literals(&mut self, b: &[u8]) {
        let mut i = 0;
        while let Some(k) = memchr::memchr(b'\n', &b[i..]) {
            let lf = i + k;
            let line_end = if lf > i && b[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            self.raw(&b[i..=lf]);
            if let Some((len, mode)) = crate::fragment::literal_header(&b[i..line_end]) {
                if self.client && mode == LiteralMode::Sync {
                    self.sync.push(self.out.len());
                }
                let end = (lf + 1 + len as usize).min(b.len());
                self.raw(&b[lf + 1..end]);
                i = end;
            } else {
                i = lf + 1;
            }
        }
        self.raw(&b[i..]);
    }

    fn base64(&mut self, d: &[u8]) {
        use base64::Engine as _;
        let s = base64::engine::general_purpose::STANDARD.encode(d);
        self.s(&s);
    }

    pub(crate) fn authenticate_data(&mut self, d: &AuthenticateData<'_>) {
        match d {
            AuthenticateData::Cancel => self.byte(b'*'),
            AuthenticateData::Continue(d) => self.base64(d.declassify()),
        }
        self.raw(b"\r\n");
    }

    fn id_params(&mut self, params: Option<&[(IString<'_>, Option<IString<'_>>)]>) {
        match params {
            None => self.s("NIL"),
            Some(v) => self.list(v, |e, (k, v)| {
                e.string(k);
                e.sp();
                e.nstring(v.as_ref());
            }),
        }
    }

    fn select_param(&mut self, p: &SelectParam) {
        match p {
            SelectParam::CondStore => self.s("CONDSTORE"),
            SelectParam::QResync(q) => {
                self.s("QRESYNC (");
                self.nz(q.uid_validity);
                self.sp();
                self.num(q.modseq);
                if let Some(k) = &q.known_uids {
                    self.sp();
                    self.sequence_set(k);
                }
                if let Some((a, b)) = &q.seq_match {
                    self.s(" (");
                    self.sequence_set(a);
                    self.sp();
                    self.sequence_set(b);
                    self.byte(b')');
                }
                self.byte(b')');
            }
        }
    }

    fn status_item(&mut self, i: StatusItem) {
        self.s(status_item_name(i));
    }

    fn append_message(&mut self, m: &AppendMessage<'_>) {
        if let Some(flags) = &m.flags {
            self.list(flags, Self::flag);
            self.sp();
        }
        if let Some(d) = &m.date {
            self.date_time(d);
            self.sp();
        }
        self.literal(&m.data.data, m.data.mode, m.data.binary);
    }

    fn nstring8(&mut self, v: &NString8<'_>) {
        match v {
            NString8::NString(s) => self.nstring(s.as_ref()),
            NString8::Literal8 { data, mode } => self.literal(data, *mode, true),
        }
    }

    fn notify(&mut self, n: &Notify<'_>) {
        match n {
            Notify::None => self.s("NONE"),
            Notify::Set { status, groups } => {
                self.s("SET");
                if *status {
                    self.s(" STATUS");
                }
                for g in groups {
                    self.s(" (");
                    match &g.filter {
                        NotifyFilter::Selected => self.s("SELECTED"),
                        NotifyFilter::SelectedDelayed => self.s("SELECTED-DELAYED"),
                        NotifyFilter::Inboxes => self.s("INBOXES"),
                        NotifyFilter::Personal => self.s("PERSONAL"),
                        NotifyFilter::Subscribed => self.s("SUBSCRIBED"),
                        NotifyFilter::Subtree(m) | NotifyFilter::Mailboxes(m) => {
                            self.s(if matches!(g.filter, NotifyFilter::Subtree(_)) {
                                "SUBTREE "
                            } else {
                                "MAILBOXES "
                            });
                            if m.len() == 1 {
                                self.mailbox(m.first());
                            } else {
                                self.list(m, Self::mailbox);
                            }
                        }
                    }
                    self.sp();
                    if g.events.is_empty() {
                        self.s("NONE");
                    } else {
                        self.list(&g.events, |e, ev| match ev {
                            NotifyEvent::MessageNew(atts) => {
                                e.s("MessageNew");
                                if !atts.is_empty() {
                                    e.sp();
                                    e.list(atts, Self::fetch_att);
                                }
                            }
                            NotifyEvent::MessageExpunge => e.s("MessageExpunge"),
                            NotifyEvent::FlagChange => e.s("FlagChange"),
                            NotifyEvent::AnnotationChange => e.s("AnnotationChange"),
                            NotifyEvent::MailboxName => e.s("MailboxName"),
                            NotifyEvent::SubscriptionChange => e.s("SubscriptionChange"),
                            NotifyEvent::MailboxMetadataChange => e.s("MailboxMetadataChange"),
                            NotifyEvent::ServerMetadataChange => e.s("ServerMetadataChange"),
                            NotifyEvent::Other(a) => e.s(a.as_str()),
                        });
                    }
                    self.byte(b')');
                }
            }
        }
    }

    fn search_return(&mut self, opts: Option<&[SearchReturnOpt<'_>]>) {
        if let Some(opts) = opts {
            self.s(" RETURN ");
            self.list(opts, |e, o| {
                e.s(match o {
                    SearchReturnOpt::Min => "MIN",
                    SearchReturnOpt::Max => "MAX",
                    SearchReturnOpt::All => "ALL",
                    SearchReturnOpt::Count => "COUNT",
                    SearchReturnOpt::Save => "SAVE",
                    SearchReturnOpt::Other(a) => a.as_str(),
                });
            });
        }
    }

    #[allow(clippy::too_many_lines)]
    fn search_key(&mut self, k: &SearchKey<'_>) {
        macro_rules! s_arg {
            ($kw:literal, $v:expr) => {{
                self.s(concat!($kw, " "));
                self.astring($v);
            }};
        }
        macro_rules! d_arg {
            ($kw:literal, $v:expr) => {{
                self.s(concat!($kw, " "));
                self.date(*$v);
            }};
        }
        match k {
            SearchKey::All => self.s("ALL"),
            SearchKey::Answered => self.s("ANSWERED"),
            SearchKey::Bcc(s) => s_arg!("BCC", s),
            SearchKey::Before(d) => d_arg!("BEFORE", d),
            SearchKey::Body(s) => s_arg!("BODY", s),
            SearchKey::Cc(s) => s_arg!("CC", s),
            SearchKey::Deleted => self.s("DELETED"),
            SearchKey::Draft => self.s("DRAFT"),
            SearchKey::Flagged => self.s("FLAGGED"),
            SearchKey::From(s) => s_arg!("FROM", s),
            SearchKey::Header(f, v) => {
                self.s("HEADER ");
                self.astring(f);
                self.sp();
                self.astring(v);
            }
            SearchKey::Keyword(a) => {
                self.s("KEYWORD ");
                self.s(a.as_str());
            }
            SearchKey::Larger(n) => {
                self.s("LARGER ");
                self.num(*n);
            }
            SearchKey::New => self.s("NEW"),
            SearchKey::Not(k) => {
                self.s("NOT ");
                self.search_key(k);
            }
            SearchKey::Old => self.s("OLD"),
            SearchKey::On(d) => d_arg!("ON", d),
            SearchKey::Or(a, b) => {
                self.s("OR ");
                self.search_key(a);
                self.sp();
                self.search_key(b);
            }
            SearchKey::Recent => self.s("RECENT"),
            SearchKey::Seen => self.s("SEEN"),
            SearchKey::SentBefore(d) => d_arg!("SENTBEFORE", d),
            SearchKey::SentOn(d) => d_arg!("SENTON", d),
            SearchKey::SentSince(d) => d_arg!("SENTSINCE", d),
            SearchKey::Since(d) => d_arg!("SINCE", d),
            SearchKey::Smaller(n) => {
                self.s("SMALLER ");
                self.num(*n);
            }
            SearchKey::Subject(s) => s_arg!("SUBJECT", s),
            SearchKey::Text(s) => s_arg!("TEXT", s),
            SearchKey::To(s) => s_arg!("TO", s),
            SearchKey::Uid(set) => {
                self.s("UID ");
                self.sequence_set(set);
            }
            SearchKey::Unanswered => self.s("UNANSWERED"),
            SearchKey::Undeleted => self.s("UNDELETED"),
            SearchKey::Undraft => self.s("UNDRAFT"),
            SearchKey::Unflagged => self.s("UNFLAGGED"),
            SearchKey::Unkeyword(a) => {
                self.s("UNKEYWORD ");
                self.s(a.as_str());
            }
            SearchKey::Unseen => self.s("UNSEEN"),
            SearchKey::SequenceSet(set) => self.sequence_set(set),
            SearchKey::And(v) => self.list(v, Self::search_key),
            SearchKey::ModSeq { entry, modseq } => {
                self.s("MODSEQ ");
                if let Some((name, t)) = entry {
                    self.string(name);
                    self.s(match t {
                        EntryType::Private => " priv ",
                        EntryType::Shared => " shared ",
                        EntryType::All => " all ",
                    });
                }
                self.num(*modseq);
            }
            SearchKey::Older(n) => {
                self.s("OLDER ");
                self.nz(*n);
            }
            SearchKey::Younger(n) => {
                self.s("YOUNGER ");
                self.nz(*n);
            }
            SearchKey::SavedBefore(d) => d_arg!("SAVEDBEFORE", d),
            SearchKey::SavedOn(d) => d_arg!("SAVEDON", d),
            SearchKey::SavedSince(d) => d_arg!("SAVEDSINCE", d),
            SearchKey::SaveDateSupported => self.s("SAVEDATESUPPORTED"),
            SearchKey::EmailId(a) => {
                self.s("EMAILID ");
                self.s(a.as_str());
            }
            SearchKey::ThreadId(a) => {
                self.s("THREADID ");
                self.s(a.as_str());
            }
        }
    }

    pub(crate) fn fetch_att(&mut self, a: &FetchAttr<'_>) {
        match a {
            FetchAttr::Envelope => self.s("ENVELOPE"),
            FetchAttr::Flags => self.s("FLAGS"),
            FetchAttr::InternalDate => self.s("INTERNALDATE"),
            FetchAttr::Rfc822 => self.s("RFC822"),
            FetchAttr::Rfc822Header => self.s("RFC822.HEADER"),
            FetchAttr::Rfc822Size => self.s("RFC822.SIZE"),
            FetchAttr::Rfc822Text => self.s("RFC822.TEXT"),
            FetchAttr::Body => self.s("BODY"),
            FetchAttr::BodyStructure => self.s("BODYSTRUCTURE"),
            FetchAttr::Uid => self.s("UID"),
            FetchAttr::BodySection {
                section,
                partial,
                peek,
            } => {
                self.s(if *peek { "BODY.PEEK" } else { "BODY" });
                self.section(section.as_ref());
                if let Some(Partial { origin, count }) = partial {
                    self.byte(b'<');
                    self.num(u64::from(*origin));
                    self.byte(b'.');
                    self.nz(*count);
                    self.byte(b'>');
                }
            }
            FetchAttr::Binary {
                part,
                partial,
                peek,
            } => {
                self.s(if *peek { "BINARY.PEEK" } else { "BINARY" });
                self.section_binary(part);
                if let Some(Partial { origin, count }) = partial {
                    self.byte(b'<');
                    self.num(u64::from(*origin));
                    self.byte(b'.');
                    self.nz(*count);
                    self.byte(b'>');
                }
            }
            FetchAttr::BinarySize { part } => {
                self.s("BINARY.SIZE");
                self.section_binary(part);
            }
            FetchAttr::ModSeq => self.s("MODSEQ"),
            FetchAttr::EmailId => self.s("EMAILID"),
            FetchAttr::ThreadId => self.s("THREADID"),
            FetchAttr::SaveDate => self.s("SAVEDATE"),
            FetchAttr::Preview { lazy } => {
                self.s("PREVIEW");
                if *lazy {
                    self.s(" (LAZY)");
                }
            }
        }
    }

    fn part(&mut self, p: &Part) {
        for (i, n) in p.0.iter().enumerate() {
            if i > 0 {
                self.byte(b'.');
            }
            self.nz(*n);
        }
    }

    fn part_prefix(&mut self, p: Option<&Part>) {
        if let Some(p) = p {
            self.part(p);
            self.byte(b'.');
        }
    }

    fn section(&mut self, s: Option<&Section<'_>>) {
        self.byte(b'[');
        match s {
            None => {}
            Some(Section::Part(p)) => self.part(p),
            Some(Section::Header(p)) => {
                self.part_prefix(p.as_ref());
                self.s("HEADER");
            }
            Some(Section::Text(p)) => {
                self.part_prefix(p.as_ref());
                self.s("TEXT");
            }
            Some(Section::Mime(p)) => {
                self.part(p);
                self.s(".MIME");
            }
            Some(Section::HeaderFields(p, f) | Section::HeaderFieldsNot(p, f)) => {
                self.part_prefix(p.as_ref());
                self.s(if matches!(s, Some(Section::HeaderFields(..))) {
                    "HEADER.FIELDS "
                } else {
                    "HEADER.FIELDS.NOT "
                });
                self.list(f, |e, s| e.astring(s));
            }
        }
        self.byte(b']');
    }

    fn section_binary(&mut self, part: &[NonZeroU32]) {
        self.byte(b'[');
        for (i, n) in part.iter().enumerate() {
            if i > 0 {
                self.byte(b'.');
            }
            self.nz(*n);
        }
        self.byte(b']');
    }
}

pub(crate) fn status_item_name(i: StatusItem) -> &'static str {
    match i {
        StatusItem::Messages => "MESSAGES",
        StatusItem::UidNext => "UIDNEXT",
        StatusItem::UidValidity => "UIDVALIDITY",
        StatusItem::Unseen => "UNSEEN",
        StatusItem::Deleted => "DELETED",
        StatusItem::Size => "SIZE",
        StatusItem::Recent => "RECENT",
        StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        StatusItem::AppendLimit => "APPENDLIMIT",
        StatusItem::MailboxId => "MAILBOXID",
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

impl Enc {
    pub(crate) fn greeting(&mut self, g: &Greeting<'_>) {
        self.s("* ");
        self.s(g.kind.as_str());
        self.resp_text(g.code.as_ref(), g.text.as_str());
        self.raw(b"\r\n");
    }

    pub(crate) fn response(&mut self, r: &Response<'_>) {
        match r {
            Response::Status(s) => self.status(s),
            Response::Data(d) => self.data(d),
            Response::Continue(c) => self.continue_req(c),
        }
        self.raw(b"\r\n");
    }

    fn continue_req(&mut self, c: &ContinueReq<'_>) {
        self.byte(b'+');
        self.resp_text(c.code.as_ref(), c.text.as_str());
        if c.code.is_none() && c.text.as_str().is_empty() {
            // "+ " with nothing after it: the grammar's SP is kept.
            self.sp();
        }
    }

    fn status(&mut self, s: &StatusResponse<'_>) {
        match &s.tag {
            Some(t) => self.s(t.as_str()),
            None => self.byte(b'*'),
        }
        self.sp();
        self.s(s.kind.as_str());
        self.resp_text(s.code.as_ref(), s.text.as_str());
    }

    fn resp_text(&mut self, code: Option<&Code<'_>>, text: &str) {
        if code.is_none() && text.is_empty() {
            return;
        }
        self.sp();
        if let Some(c) = code {
            self.byte(b'[');
            self.code(c);
            self.byte(b']');
            if !text.is_empty() {
                self.sp();
            }
        }
        self.s(text);
    }

    #[allow(clippy::too_many_lines)]
    fn code(&mut self, c: &Code<'_>) {
        match c {
            Code::BadCharset(v) => {
                self.s("BADCHARSET");
                if !v.is_empty() {
                    self.sp();
                    self.list(v, Self::charset);
                }
            }
            Code::Capability(caps) => {
                self.s("CAPABILITY");
                for c in caps {
                    self.sp();
                    self.s(c.as_str());
                }
            }
            Code::PermanentFlags(f) => {
                self.s("PERMANENTFLAGS ");
                self.list(f, |e, f| match f {
                    FlagPerm::Flag(f) => e.flag(f),
                    FlagPerm::Asterisk => e.s("\\*"),
                });
            }
            Code::UidNext(n) => {
                self.s("UIDNEXT ");
                self.nz(*n);
            }
            Code::UidValidity(n) => {
                self.s("UIDVALIDITY ");
                self.nz(*n);
            }
            Code::Unseen(n) => {
                self.s("UNSEEN ");
                self.nz(*n);
            }
            Code::AppendUid { uid_validity, uids } => {
                self.s("APPENDUID ");
                self.nz(*uid_validity);
                self.sp();
                self.sequence_set(uids);
            }
            Code::CopyUid {
                uid_validity,
                source,
                target,
            } => {
                self.s("COPYUID ");
                self.nz(*uid_validity);
                self.sp();
                self.sequence_set(source);
                self.sp();
                self.sequence_set(target);
            }
            Code::HighestModSeq(n) => {
                self.s("HIGHESTMODSEQ ");
                self.num(*n);
            }
            Code::Modified(set) => {
                self.s("MODIFIED ");
                self.sequence_set(set);
            }
            Code::MailboxId(a) => {
                self.s("MAILBOXID (");
                self.s(a.as_str());
                self.byte(b')');
            }
            Code::MetadataLongEntries(n) => {
                self.s("METADATA LONGENTRIES ");
                self.num(u64::from(*n));
            }
            Code::MetadataMaxSize(n) => {
                self.s("METADATA MAXSIZE ");
                self.num(u64::from(*n));
            }
            Code::MetadataTooMany => self.s("METADATA TOOMANY"),
            Code::MetadataNoPrivate => self.s("METADATA NOPRIVATE"),
            Code::Other(a, t) => {
                self.s(a.as_str());
                if let Some(t) = t {
                    self.sp();
                    self.s(t);
                }
            }
            simple => {
                let name = crate::types::response::SIMPLE_CODES
                    .iter()
                    .find(|(_, c)| c == simple)
                    .map_or("ALERT", |(n, _)| n);
                self.s(name);
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn data(&mut self, d: &Data<'_>) {
        self.s("* ");
        match d {
            Data::Capability(caps) => {
                self.s("CAPABILITY");
                for c in caps {
                    self.sp();
                    self.s(c.as_str());
                }
            }
            Data::List(l) => {
                self.s("LIST ");
                self.list_data(l);
            }
            Data::Lsub(l) => {
                self.s("LSUB ");
                self.list_data(l);
            }
            Data::Status { mailbox, items } => {
                self.s("STATUS ");
                self.mailbox(mailbox);
                self.sp();
                self.list(items, Self::status_value);
            }
            Data::Search { numbers, modseq } | Data::Sort { numbers, modseq } => {
                self.s(if matches!(d, Data::Search { .. }) {
                    "SEARCH"
                } else {
                    "SORT"
                });
                for n in numbers {
                    self.sp();
                    self.nz(*n);
                }
                if let Some(m) = modseq {
                    self.s(" (MODSEQ ");
                    self.num(*m);
                    self.byte(b')');
                }
            }
            Data::ESearch { tag, uid, items } => {
                self.s("ESEARCH");
                if let Some(t) = tag {
                    self.s(" (TAG ");
                    self.string(t);
                    self.byte(b')');
                }
                if *uid {
                    self.s(" UID");
                }
                for it in items {
                    self.sp();
                    match it {
                        SearchReturnData::Min(n) => {
                            self.s("MIN ");
                            self.nz(*n);
                        }
                        SearchReturnData::Max(n) => {
                            self.s("MAX ");
                            self.nz(*n);
                        }
                        SearchReturnData::All(s) => {
                            self.s("ALL ");
                            self.sequence_set(s);
                        }
                        SearchReturnData::Count(n) => {
                            self.s("COUNT ");
                            self.num(u64::from(*n));
                        }
                        SearchReturnData::ModSeq(n) => {
                            self.s("MODSEQ ");
                            self.num(*n);
                        }
                        SearchReturnData::Other(a, v) => {
                            self.s(a.as_str());
                            self.sp();
                            self.astring(v);
                        }
                    }
                }
            }
            Data::Thread(threads) => {
                self.s("THREAD");
                if !threads.is_empty() {
                    self.sp();
                    for t in threads {
                        self.thread(t);
                    }
                }
            }
            Data::Flags(f) => {
                self.s("FLAGS ");
                self.list(f, Self::flag);
            }
            Data::Exists(n) => {
                self.num(u64::from(*n));
                self.s(" EXISTS");
            }
            Data::Recent(n) => {
                self.num(u64::from(*n));
                self.s(" RECENT");
            }
            Data::Expunge(n) => {
                self.nz(*n);
                self.s(" EXPUNGE");
            }
            Data::Fetch(f) => {
                self.nz(f.seq);
                self.s(" FETCH ");
                self.list(&f.items, Self::msg_att);
            }
            Data::Enabled(caps) => {
                self.s("ENABLED");
                for c in caps {
                    self.sp();
                    self.s(c.as_str());
                }
            }
            Data::Namespace {
                personal,
                other,
                shared,
            } => {
                self.s("NAMESPACE ");
                self.namespace(personal.as_ref());
                self.sp();
                self.namespace(other.as_ref());
                self.sp();
                self.namespace(shared.as_ref());
            }
            Data::Quota { root, resources } => {
                self.s("QUOTA ");
                self.astring(root);
                self.sp();
                self.list(resources, |e, r| {
                    e.s(r.name.as_str());
                    e.sp();
                    e.num(r.usage);
                    e.sp();
                    e.num(r.limit);
                });
            }
            Data::QuotaRoot { mailbox, roots } => {
                self.s("QUOTAROOT ");
                self.mailbox(mailbox);
                for r in roots {
                    self.sp();
                    self.astring(r);
                }
            }
            Data::Metadata { mailbox, values } => {
                self.s("METADATA ");
                self.mailbox(mailbox);
                self.sp();
                self.list(values, |e, (k, v)| {
                    e.astring(k);
                    e.sp();
                    e.nstring8(v);
                });
            }
            Data::MetadataChanged { mailbox, entries } => {
                self.s("METADATA ");
                self.mailbox(mailbox);
                for en in entries {
                    self.sp();
                    self.astring(en);
                }
            }
            Data::Id(params) => {
                self.s("ID ");
                self.id_params(params.as_deref());
            }
            Data::Vanished { earlier, uids } => {
                self.s("VANISHED ");
                if *earlier {
                    self.s("(EARLIER) ");
                }
                self.sequence_set(uids);
            }
            Data::Other { name, data } => {
                self.s(name.as_str());
                self.raw(data);
            }
        }
    }

    fn thread(&mut self, t: &Thread) {
        self.byte(b'(');
        for (i, m) in t.messages.iter().enumerate() {
            if i > 0 {
                self.sp();
            }
            self.nz(*m);
        }
        if !t.messages.is_empty() && !t.children.is_empty() {
            self.sp();
        }
        for c in &t.children {
            self.thread(c);
        }
        self.byte(b')');
    }

    fn namespace(&mut self, ns: Option<&Vec1<NamespaceDesc<'_>>>) {
        match ns {
            None => self.s("NIL"),
            Some(v) => {
                self.byte(b'(');
                for d in v {
                    self.byte(b'(');
                    self.string(&d.prefix);
                    self.sp();
                    self.delimiter(d.delimiter);
                    for (name, vals) in &d.extensions {
                        self.sp();
                        self.string(name);
                        self.sp();
                        self.list(vals, |e, s| e.string(s));
                    }
                    self.byte(b')');
                }
                self.byte(b')');
            }
        }
    }

    fn list_data(&mut self, l: &ListData<'_>) {
        self.list(&l.attributes, Self::mailbox_attr);
        self.sp();
        self.delimiter(l.delimiter);
        self.sp();
        self.mailbox(&l.mailbox);
        if let Some(ext) = &l.extended {
            self.sp();
            self.list(ext, |e, (k, v)| {
                e.astring(k);
                e.sp();
                e.ext_value(v);
            });
        }
    }

    fn ext_value(&mut self, v: &ExtValue<'_>) {
        match v {
            ExtValue::String(s) => self.astring(s),
            ExtValue::List(l) => self.list(l, Self::ext_value),
        }
    }

    fn status_value(&mut self, v: &StatusValue<'_>) {
        self.s(status_item_name(v.item()));
        self.sp();
        match v {
            StatusValue::Messages(n)
            | StatusValue::Unseen(n)
            | StatusValue::Deleted(n)
            | StatusValue::Recent(n) => self.num(u64::from(*n)),
            StatusValue::UidNext(n) | StatusValue::UidValidity(n) => self.nz(*n),
            StatusValue::Size(n) | StatusValue::HighestModSeq(n) => self.num(*n),
            StatusValue::AppendLimit(n) => match n {
                Some(n) => self.num(*n),
                None => self.s("NIL"),
            },
            StatusValue::MailboxId(a) => {
                self.byte(b'(');
                self.s(a.as_str());
                self.byte(b')');
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    pub(crate) fn msg_att(&mut self, a: &MessageDataItem<'_>) {
        match a {
            MessageDataItem::Flags(f) => {
                self.s("FLAGS ");
                self.list(f, |e, f| match f {
                    FlagFetch::Flag(f) => e.flag(f),
                    FlagFetch::Recent => e.s("\\Recent"),
                });
            }
            MessageDataItem::Envelope(env) => {
                self.s("ENVELOPE ");
                self.envelope(env);
            }
            MessageDataItem::InternalDate(d) => {
                self.s("INTERNALDATE ");
                self.date_time(d);
            }
            MessageDataItem::Rfc822(s) => {
                self.s("RFC822 ");
                self.nstring(s.as_ref());
            }
            MessageDataItem::Rfc822Header(s) => {
                self.s("RFC822.HEADER ");
                self.nstring(s.as_ref());
            }
            MessageDataItem::Rfc822Text(s) => {
                self.s("RFC822.TEXT ");
                self.nstring(s.as_ref());
            }
            MessageDataItem::Rfc822Size(n) => {
                self.s("RFC822.SIZE ");
                self.num(*n);
            }
            MessageDataItem::Body(b) => {
                self.s("BODY ");
                self.body(b);
            }
            MessageDataItem::BodyStructure(b) => {
                self.s("BODYSTRUCTURE ");
                self.body(b);
            }
            MessageDataItem::BodySection {
                section,
                origin,
                data,
            } => {
                self.s("BODY");
                self.section(section.as_ref());
                if let Some(o) = origin {
                    self.byte(b'<');
                    self.num(u64::from(*o));
                    self.byte(b'>');
                }
                self.sp();
                self.nstring(data.as_ref());
            }
            MessageDataItem::Binary { part, origin, data } => {
                self.s("BINARY");
                self.section_binary(part);
                if let Some(o) = origin {
                    self.byte(b'<');
                    self.num(u64::from(*o));
                    self.byte(b'>');
                }
                self.sp();
                self.nstring8(data);
            }
            MessageDataItem::BinarySize { part, size } => {
                self.s("BINARY.SIZE");
                self.section_binary(part);
                self.sp();
                self.num(*size);
            }
            MessageDataItem::Uid(u) => {
                self.s("UID ");
                self.nz(*u);
            }
            MessageDataItem::ModSeq(m) => {
                self.s("MODSEQ (");
                self.num(*m);
                self.byte(b')');
            }
            MessageDataItem::EmailId(id) => {
                self.s("EMAILID (");
                self.raw(id.as_bytes());
                self.byte(b')');
            }
            MessageDataItem::ThreadId(id) => {
                self.s("THREADID ");
                match id {
                    Some(id) => {
                        self.byte(b'(');
                        self.raw(id.as_bytes());
                        self.byte(b')');
                    }
                    None => self.s("NIL"),
                }
            }
            MessageDataItem::SaveDate(d) => {
                self.s("SAVEDATE ");
                match d {
                    Some(d) => self.date_time(d),
                    None => self.s("NIL"),
                }
            }
            MessageDataItem::Preview(p) => {
                self.s("PREVIEW ");
                self.nstring(p.as_ref());
            }
        }
    }

    pub(crate) fn envelope(&mut self, e: &Envelope<'_>) {
        self.byte(b'(');
        self.nstring(e.date.as_ref());
        self.sp();
        self.nstring(e.subject.as_ref());
        for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
            self.sp();
            self.addresses(list);
        }
        self.sp();
        self.nstring(e.in_reply_to.as_ref());
        self.sp();
        self.nstring(e.message_id.as_ref());
        self.byte(b')');
    }

    fn addresses(&mut self, list: &[Address<'_>]) {
        if list.is_empty() {
            self.s("NIL");
            return;
        }
        self.byte(b'(');
        for a in list {
            self.byte(b'(');
            self.nstring(a.name.as_ref());
            self.sp();
            self.nstring(a.adl.as_ref());
            self.sp();
            self.nstring(a.mailbox.as_ref());
            self.sp();
            self.nstring(a.host.as_ref());
            self.byte(b')');
        }
        self.byte(b')');
    }

    pub(crate) fn body(&mut self, b: &BodyStructure<'_>) {
        self.byte(b'(');
        match b {
            BodyStructure::Single {
                media_type,
                media_subtype,
                fields,
                kind,
                ext,
            } => {
                // The media type decides how a parser reads the rest: keep it consistent
                // with the kind, whatever the caller put there.
                match kind {
                    BodyKind::Text { .. }
                        if !media_type.as_bytes().eq_ignore_ascii_case(b"TEXT") =>
                    {
                        self.s("\"TEXT\"");
                    }
                    BodyKind::Message { .. }
                        if !media_type.as_bytes().eq_ignore_ascii_case(b"MESSAGE") =>
                    {
                        self.s("\"MESSAGE\"");
                    }
                    BodyKind::Basic if is_special_media(media_type, media_subtype) => {
                        self.s("\"APPLICATION\"");
                    }
                    _ => self.string(media_type),
                }
                self.sp();
                match kind {
                    BodyKind::Message { .. }
                        if !(media_subtype.as_bytes().eq_ignore_ascii_case(b"RFC822")
                            || media_subtype.as_bytes().eq_ignore_ascii_case(b"GLOBAL")) =>
                    {
                        self.s("\"RFC822\"");
                    }
                    _ => self.string(media_subtype),
                }
                self.sp();
                self.body_fields(fields);
                match kind {
                    BodyKind::Basic => {}
                    BodyKind::Text { lines } => {
                        self.sp();
                        self.num(u64::from(*lines));
                    }
                    BodyKind::Message {
                        envelope,
                        body,
                        lines,
                    } => {
                        self.sp();
                        self.envelope(envelope);
                        self.sp();
                        self.body(body);
                        self.sp();
                        self.num(u64::from(*lines));
                    }
                }
                if let Some(ext) = ext {
                    self.sp();
                    self.nstring(ext.md5.as_ref());
                    self.disposition_ext(ext.tail.as_ref());
                }
            }
            BodyStructure::Multi {
                parts,
                media_subtype,
                ext,
            } => {
                for p in parts {
                    self.body(p);
                }
                self.sp();
                self.string(media_subtype);
                if let Some(ext) = ext {
                    self.sp();
                    self.body_params(&ext.params);
                    self.disposition_ext(ext.tail.as_ref());
                }
            }
        }
        self.byte(b')');
    }

    fn body_fields(&mut self, f: &BodyFields<'_>) {
        self.body_params(&f.params);
        self.sp();
        self.nstring(f.id.as_ref());
        self.sp();
        self.nstring(f.description.as_ref());
        self.sp();
        self.string(&f.encoding);
        self.sp();
        self.num(u64::from(f.octets));
    }

    fn body_params(&mut self, p: &BodyParams<'_>) {
        if p.is_empty() {
            self.s("NIL");
            return;
        }
        self.list(p, |e, (k, v)| {
            e.string(k);
            e.sp();
            e.string(v);
        });
    }

    fn disposition_ext(&mut self, d: Option<&DispositionExt<'_>>) {
        let Some(d) = d else { return };
        self.sp();
        match &d.disposition {
            None => self.s("NIL"),
            Some((t, params)) => {
                self.byte(b'(');
                self.string(t);
                self.sp();
                self.body_params(params);
                self.byte(b')');
            }
        }
        let Some(l) = &d.tail else { return };
        self.sp();
        match &l.language {
            Language::Single(s) => self.nstring(s.as_ref()),
            Language::List(v) => self.list(v, |e, s| e.string(s)),
        }
        let Some(loc) = &l.tail else { return };
        self.sp();
        self.nstring(loc.location.as_ref());
        for x in &loc.extensions {
            self.sp();
            self.body_extension(x);
        }
    }

    fn body_extension(&mut self, x: &BodyExtension<'_>) {
        match x {
            BodyExtension::NString(s) => self.nstring(s.as_ref()),
            BodyExtension::Number(n) => self.num(*n),
            BodyExtension::List(v) => self.list(v, Self::body_extension),
        }
    }
}

/// A basic part whose type would make a parser read a text or message body: rewrite its type.
fn is_special_media(t: &IString<'_>, st: &IString<'_>) -> bool {
    let t = t.as_bytes();
    let st = st.as_bytes();
    t.eq_ignore_ascii_case(b"TEXT")
        || (t.eq_ignore_ascii_case(b"MESSAGE")
            && (st.eq_ignore_ascii_case(b"RFC822") || st.eq_ignore_ascii_case(b"GLOBAL")))
}
