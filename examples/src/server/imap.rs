//! The IMAP service on `imap-proto`'s server session and tokio adapter, over the users'
//! Maildirs (`maildir` crate).
//!
//! The session does the protocol (framing, literals, states, pipelining order, SASL,
//! STARTTLS, IDLE, ENABLE, rev1/rev2 differences); this module executes the commands it
//! hands over against the store:
//!
//! - mailboxes: LIST (with LIST-EXTENDED selection and return options, SPECIAL-USE,
//!   CHILDREN, LIST-STATUS), LSUB, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS
//!   (SIZE, DELETED, HIGHESTMODSEQ), NAMESPACE, QUOTA (GETQUOTA, GETQUOTAROOT), ID;
//! - a selected mailbox: SELECT/EXAMINE (CONDSTORE), FETCH (every item but BINARY/PREVIEW/
//!   object ids), STORE (UNCHANGEDSINCE), SEARCH, COPY, MOVE, EXPUNGE, UID EXPUNGE, CLOSE,
//!   UNSELECT, NOOP, CHECK, IDLE;
//! - APPEND (and MULTIAPPEND, all or nothing) with APPENDUID.
//!
//! Sessions of one account share the account's `maildir::Maildir` (see [`super::mailstore`]),
//! so changes made by one (a STORE, an EXPUNGE, a delivery) reach the others at their next
//! sync: before every command's completion and, while idling, as soon as the account's
//! change counter moves (deliveries and every changing command bump it), with a periodic
//! re-check for changes made by other processes (Dovecot on the same Maildir).
//!
//! Numbering: the session's [`SelectedMailbox`] is the authority for sequence numbers on the
//! wire; the `maildir::View` supplies what changed in the store, by UID.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use imap_proto::selected::SelectedMailbox;
use imap_proto::server::{CommandId, SelectInfo, ServerConfig, ServerEvent, ServerSession};
use imap_proto::tokio::ServerConnection;
use imap_proto::types::{
    Atom, Code, CommandBody, Data, FetchData, Flag, FlagFetch, IString, ListData, ListReturnOpt,
    ListSelectOpt, Mailbox, MailboxAttr, MessageDataItem, NamespaceDesc, QuotaResource,
    SelectParam, SequenceSet, StatusItem, StatusKind, StatusValue, StoreKind, Vec1, list_matches,
};
use maildir::{Access, Expunges, FlagSet, Folder, SpecialUse, StoreOp, View};
use smtp_proto::sasl;
use tokio::net::TcpStream;

use super::config::{Plaintext, TlsMode};
use super::directory::{Account, AuthFailure};
use super::imap_fetch;
use super::limits::Refusal;
use super::mailstore::AccountStore;
use super::runtime::{Connection, Service, SessionFuture, Shared};
use super::types::canonical_ip;

/// The IMAP service.
#[derive(Debug, Default)]
pub struct Imap;

/// The hierarchy delimiter of the Maildir++ namespace.
pub const DELIMITER: char = '.';

/// How often an idle or selected session looks for changes made by other processes.
const EXTERNAL_POLL: Duration = Duration::from_secs(15);

type Conn = ServerConnection<TcpStream>;

/// Runs blocking store work on this worker thread, telling the runtime it blocks.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A selected mailbox.
pub(crate) struct Selected {
    pub(crate) name: String,
    pub(crate) view: View,
    pub(crate) read_only: bool,
}

struct Appending {
    mailbox: String,
    current: Option<(
        Vec<u8>,
        Vec<Flag<'static>>,
        Option<imap_proto::types::DateTime>,
    )>,
    done: Vec<(
        Vec<u8>,
        Vec<Flag<'static>>,
        Option<imap_proto::types::DateTime>,
    )>,
}

pub(crate) struct Host {
    shared: Arc<Shared>,
    session_id: u64,
    peer: std::net::SocketAddr,
    user: Option<Account>,
    store: Option<Arc<AccountStore>>,
    changes: Option<tokio::sync::watch::Receiver<u64>>,
    pub(crate) selected: Option<Selected>,
    appending: Option<Appending>,
    idling: bool,
    pub(crate) condstore: bool,
    utf8: bool,
    commands: u64,
}

/// imap-proto flag → maildir flag name.
pub(crate) fn flag_name(f: &Flag<'_>) -> String {
    match f {
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Seen => "\\Seen".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Keyword(a) => a.as_str().to_string(),
        Flag::Extension(a) => format!("\\{}", a.as_str()),
        _ => String::new(),
    }
}

pub(crate) fn to_flagset(flags: &[Flag<'_>]) -> FlagSet {
    let mut fs = FlagSet::new();
    for f in flags {
        let n = flag_name(f);
        if !n.is_empty() {
            fs.insert_imap(&n);
        }
    }
    fs
}

/// maildir flags → imap-proto flags (with `\Recent` when asked).
pub(crate) fn to_fetch_flags(fs: &FlagSet, recent: bool) -> Vec<FlagFetch<'static>> {
    let mut out: Vec<FlagFetch<'static>> = fs
        .imap_names()
        .into_iter()
        .filter_map(|n| match n.strip_prefix('\\') {
            Some(sys) => Atom::new(sys.to_string())
                .ok()
                .map(|a| FlagFetch::Flag(Flag::system(a))),
            None => Atom::new(n).ok().map(|a| FlagFetch::Flag(Flag::Keyword(a))),
        })
        .collect();
    if recent {
        out.push(FlagFetch::Recent);
    }
    out
}

fn mailbox_name(m: &Mailbox<'_>, utf8: bool) -> Option<String> {
    let n = m.name(utf8).ok()?.into_owned();
    let n = n.trim_end_matches(DELIMITER).to_string();
    (!n.is_empty()).then_some(n)
}

fn wire_mailbox(name: &str, utf8: bool) -> Option<Mailbox<'static>> {
    Mailbox::from_name(name, utf8).ok()
}

fn special_attr(s: SpecialUse) -> MailboxAttr<'static> {
    match s
        .attribute()
        .trim_start_matches('\\')
        .to_ascii_lowercase()
        .as_str()
    {
        "drafts" => MailboxAttr::Drafts,
        "sent" => MailboxAttr::Sent,
        "junk" => MailboxAttr::Junk,
        "trash" => MailboxAttr::Trash,
        "archive" => MailboxAttr::Archive,
        "all" => MailboxAttr::All,
        "flagged" => MailboxAttr::Flagged,
        other => Atom::new(other.to_string()).map_or_else(
            |_| MailboxAttr::Extension(Atom::new("Unknown").expect("atom")),
            MailboxAttr::Extension,
        ),
    }
}

/// The selected mailbox for a command that needs one (and, with `write`, a writable one);
/// otherwise the command is completed with the refusal and `None` is returned.
fn selected_or_refuse<'a>(
    selected: Option<&'a mut Selected>,
    s: &mut ServerSession,
    id: CommandId,
    write: bool,
) -> Option<&'a mut Selected> {
    let Some(sel) = selected else {
        s.complete(id, StatusKind::Bad, None, "No mailbox selected");
        return None;
    };
    if write && sel.read_only {
        s.complete(
            id,
            StatusKind::No,
            Some(Code::Cannot),
            "The mailbox is read-only (EXAMINE)",
        );
        return None;
    }
    Some(sel)
}

fn store_error_code(e: &maildir::Error) -> (Option<Code<'static>>, String) {
    let code = match e {
        maildir::Error::NoSuchFolder(_) => Some(Code::NonExistent),
        maildir::Error::FolderExists(_) => Some(Code::AlreadyExists),
        maildir::Error::QuotaExceeded { .. } | maildir::Error::StorageFull { .. } => {
            Some(Code::OverQuota)
        }
        maildir::Error::MessageTooLarge { .. } => Some(Code::TooBig),
        maildir::Error::InvalidFolderName { .. } => Some(Code::Cannot),
        maildir::Error::LockTimeout { .. } => Some(Code::InUse),
        maildir::Error::Corrupt { .. } => Some(Code::Corruption),
        _ if e.is_temporary() => Some(Code::Unavailable),
        _ => Some(Code::ServerBug),
    };
    (code, e.to_string())
}

impl Host {
    fn md(&self) -> Option<&maildir::Maildir> {
        self.store.as_deref().map(|s| &*s.maildir)
    }

    /// Tells the account's other sessions that something changed.
    pub(crate) fn bump(&self) {
        if let Some(s) = &self.store {
            s.changed.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    async fn authenticate(&mut self, conn: &mut Conn, id: CommandId, decision: sasl::Decision) {
        let answer = match decision {
            sasl::Decision::VerifyPassword {
                authzid,
                authcid,
                password,
            } => {
                if authzid
                    .as_deref()
                    .is_some_and(|z| !z.is_empty() && !z.eq_ignore_ascii_case(&authcid))
                {
                    sasl::Answer::Reject
                } else {
                    match self
                        .shared
                        .accounts
                        .authenticate(&authcid, password.expose())
                        .await
                    {
                        Ok(a) => {
                            tracing::info!(session = self.session_id, client = %self.peer, user = %a.address, "imap login");
                            self.user = Some(a);
                            sasl::Answer::Accept
                        }
                        Err(e) => {
                            if let AuthFailure::BadHash(h) = &e {
                                tracing::error!(user = %authcid, error = %h, "stored password hash unusable");
                            }
                            tracing::info!(session = self.session_id, client = %self.peer, user = %super::trace::clean(&authcid, 100), "imap login failed");
                            tokio::time::sleep(self.shared.config().auth.failure_delay.0).await;
                            sasl::Answer::Reject
                        }
                    }
                }
            }
            _ => sasl::Answer::Reject,
        };
        conn.session().auth_answer(id, answer);
    }

    fn logged_in(&mut self) -> Result<(), String> {
        let Some(user) = &self.user else {
            return Err("no user".into());
        };
        let store = blocking(|| self.shared.stores.open(user)).map_err(|e| e.to_string())?;
        self.changes = Some(store.changed.subscribe());
        self.store = Some(store);
        Ok(())
    }

    /// Brings the selected mailbox up to date and reports what changed.
    pub(crate) fn sync(&mut self, s: &mut ServerSession) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let changes = match blocking(|| sel.view.sync(Expunges::Report)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(mailbox = %sel.name, error = %e, "sync failed");
                return;
            }
        };
        if changes.uid_validity_changed {
            s.untagged_status(
                StatusKind::Bye,
                None,
                "The mailbox was recreated (UIDVALIDITY changed), please reconnect",
            );
            self.selected = None;
            return;
        }
        if !changes.vanished.is_empty() {
            s.expunged(&changes.vanished);
        }
        let known_max = s
            .selected()
            .and_then(|m| m.uids().last().copied())
            .unwrap_or(0);
        for &uid in sel.view.uids() {
            if uid > known_max {
                let modseq = sel
                    .view
                    .folder()
                    .message(uid)
                    .ok()
                    .flatten()
                    .map_or(0, |m| m.modseq);
                if s.new_message(uid, modseq).is_err() {
                    break;
                }
            }
        }
        for f in &changes.flags {
            let Some(seq) = s.selected().and_then(|m| m.seq(f.uid)) else {
                continue;
            };
            let mut items = vec![MessageDataItem::Flags(to_fetch_flags(
                &f.flags,
                sel.view.is_recent(f.uid),
            ))];
            items.push(MessageDataItem::Uid(
                NonZeroU32::new(f.uid).unwrap_or(NonZeroU32::MIN),
            ));
            if self.condstore {
                items.push(MessageDataItem::ModSeq(f.modseq));
            }
            if let Ok(items) = Vec1::try_from(items) {
                s.untagged(&Data::Fetch(FetchData { seq, items }));
            }
        }
        if let Some(r) = changes.recent {
            s.untagged(&Data::Recent(r));
        }
    }

    fn open_folder(&self, name: &str) -> Result<Folder, maildir::Error> {
        match self.md() {
            Some(md) => blocking(|| md.folder(name)),
            None => Err(maildir::Error::Unsupported("not logged in")),
        }
    }

    async fn command(&mut self, conn: &mut Conn, id: CommandId, body: CommandBody<'static>) {
        self.commands += 1;
        match body {
            CommandBody::Noop | CommandBody::Check => {
                let s = conn.session();
                self.sync(s);
                s.complete(id, StatusKind::Ok, None, "NOOP completed");
            }
            CommandBody::Id(_) => {
                let kv = |k: &'static str, v: String| {
                    (
                        IString::try_from(k).expect("static id key"),
                        IString::try_from(v).ok(),
                    )
                };
                conn.session().untagged(&Data::Id(Some(vec![
                    kv("name", "mail-server".into()),
                    kv("version", env!("CARGO_PKG_VERSION").into()),
                ])));
                conn.session()
                    .complete(id, StatusKind::Ok, None, "ID completed");
            }
            CommandBody::Namespace => {
                let personal = NamespaceDesc {
                    prefix: IString::try_from("").expect("empty string"),
                    delimiter: Some(DELIMITER),
                    extensions: Vec::new(),
                };
                let s = conn.session();
                s.untagged(&Data::Namespace {
                    personal: Some(Vec1::new(personal)),
                    other: None,
                    shared: None,
                });
                s.complete(id, StatusKind::Ok, None, "NAMESPACE completed");
            }
            CommandBody::List {
                select,
                reference,
                patterns,
                return_opts,
            } => {
                let pats: Vec<Vec<u8>> = patterns
                    .as_slice()
                    .iter()
                    .map(|p| p.as_bytes().to_vec())
                    .collect();
                self.list(
                    conn,
                    id,
                    false,
                    &reference,
                    &pats,
                    &select.unwrap_or_default(),
                    &return_opts.unwrap_or_default(),
                );
            }
            CommandBody::Lsub { reference, pattern } => {
                self.list(
                    conn,
                    id,
                    true,
                    &reference,
                    &[pattern.as_bytes().to_vec()],
                    &[ListSelectOpt::Subscribed],
                    &[],
                );
            }
            CommandBody::Status { mailbox, items } => {
                let s = conn.session();
                self.sync(s);
                match mailbox_name(&mailbox, self.utf8) {
                    Some(name) => match self.status_values(&name, items.as_slice()) {
                        Ok(values) => {
                            s.untagged(&Data::Status {
                                mailbox,
                                items: values,
                            });
                            s.complete(id, StatusKind::Ok, None, "STATUS completed");
                        }
                        Err(e) => {
                            let (code, text) = store_error_code(&e);
                            s.complete(id, StatusKind::No, code, &text);
                        }
                    },
                    None => s.complete(
                        id,
                        StatusKind::No,
                        Some(Code::NonExistent),
                        "No such mailbox",
                    ),
                }
            }
            CommandBody::Select { mailbox, params } => {
                self.select(conn, id, &mailbox, &params, false);
            }
            CommandBody::Examine { mailbox, params } => {
                self.select(conn, id, &mailbox, &params, true);
            }
            CommandBody::Create {
                mailbox,
                special_use,
            } => {
                let result = match (mailbox_name(&mailbox, self.utf8), self.md()) {
                    (Some(name), Some(md)) if special_use.is_empty() => blocking(|| {
                        md.create_folder(&name)
                            .map(|_| ())
                            .and_then(|()| md.subscribe(&name))
                    }),
                    (Some(_), Some(_)) => Err(maildir::Error::Unsupported(
                        "special-use attributes on CREATE",
                    )),
                    _ => Err(maildir::Error::InvalidFolderName {
                        name: String::from_utf8_lossy(mailbox.as_bytes()).into_owned(),
                        reason: "not a valid mailbox name",
                    }),
                };
                self.finish(conn, id, result.map(|()| "CREATE completed"), true);
            }
            CommandBody::Delete(mailbox) => {
                let result = match (mailbox_name(&mailbox, self.utf8), self.md()) {
                    (Some(n), _) if n.eq_ignore_ascii_case("INBOX") => {
                        Err(maildir::Error::Unsupported("deleting INBOX"))
                    }
                    (Some(name), Some(md)) => blocking(|| md.delete_folder(&name)),
                    _ => Err(maildir::Error::NoSuchFolder(
                        String::from_utf8_lossy(mailbox.as_bytes()).into_owned(),
                    )),
                };
                self.finish(conn, id, result.map(|()| "DELETE completed"), true);
            }
            CommandBody::Rename { from, to } => {
                let result = match (
                    mailbox_name(&from, self.utf8),
                    mailbox_name(&to, self.utf8),
                    self.md(),
                ) {
                    (Some(f), Some(t), Some(md)) => blocking(|| md.rename_folder(&f, &t)),
                    _ => Err(maildir::Error::Unsupported("invalid mailbox name")),
                };
                self.finish(conn, id, result.map(|()| "RENAME completed"), true);
            }
            CommandBody::Subscribe(mailbox) => {
                let result = match (mailbox_name(&mailbox, self.utf8), self.md()) {
                    (Some(name), Some(md)) => blocking(|| md.subscribe(&name)),
                    _ => Err(maildir::Error::Unsupported("invalid mailbox name")),
                };
                self.finish(conn, id, result.map(|()| "SUBSCRIBE completed"), false);
            }
            CommandBody::Unsubscribe(mailbox) => {
                let result = match (mailbox_name(&mailbox, self.utf8), self.md()) {
                    (Some(name), Some(md)) => blocking(|| md.unsubscribe(&name)),
                    _ => Err(maildir::Error::Unsupported("invalid mailbox name")),
                };
                self.finish(conn, id, result.map(|()| "UNSUBSCRIBE completed"), false);
            }
            CommandBody::GetQuotaRoot(mailbox) => {
                let s = conn.session();
                let quota = self
                    .md()
                    .and_then(|md| blocking(|| md.quota()).ok().flatten());
                let roots = if quota.is_some() {
                    vec![IString::try_from("").expect("empty")]
                } else {
                    Vec::new()
                };
                s.untagged(&Data::QuotaRoot { mailbox, roots });
                if let Some((limits, usage)) = quota {
                    s.untagged(&quota_data(limits, usage));
                }
                s.complete(id, StatusKind::Ok, None, "GETQUOTAROOT completed");
            }
            CommandBody::GetQuota(root) => {
                let s = conn.session();
                let quota = self
                    .md()
                    .and_then(|md| blocking(|| md.quota()).ok().flatten());
                match quota {
                    Some((limits, usage)) if root.as_bytes().is_empty() => {
                        s.untagged(&quota_data(limits, usage));
                        s.complete(id, StatusKind::Ok, None, "GETQUOTA completed");
                    }
                    _ => s.complete(
                        id,
                        StatusKind::No,
                        Some(Code::NonExistent),
                        "No such quota root",
                    ),
                }
            }
            CommandBody::SetQuota { .. } => {
                conn.session().complete(
                    id,
                    StatusKind::No,
                    Some(Code::NoPerm),
                    "Quotas are set by the administrator",
                );
            }
            CommandBody::Close | CommandBody::Unselect => {
                let close = matches!(body, CommandBody::Close);
                if close
                    && let Some(sel) = self.selected.as_mut()
                    && !sel.read_only
                {
                    let _ = blocking(|| sel.view.expunge_deleted(None));
                    self.bump();
                }
                self.selected = None;
                conn.session().complete(
                    id,
                    StatusKind::Ok,
                    None,
                    if close {
                        "CLOSE completed"
                    } else {
                        "UNSELECT completed"
                    },
                );
            }
            CommandBody::Expunge => self.expunge(conn, id, None),
            CommandBody::UidExpunge(set) => self.expunge(conn, id, Some(set)),
            CommandBody::Fetch {
                uid,
                set,
                items,
                modifiers,
            } => {
                imap_fetch::fetch(self, conn, id, uid, &set, &items, &modifiers).await;
            }
            CommandBody::Search { uid, criteria, .. } => {
                imap_fetch::search(self, conn, id, uid, criteria.as_slice());
            }
            CommandBody::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags,
            } => self.store_flags(conn, id, uid, &set, unchanged_since, kind, silent, &flags),
            CommandBody::Copy { uid, set, mailbox } => {
                self.copy(conn, id, uid, &set, &mailbox, false);
            }
            CommandBody::Move { uid, set, mailbox } => {
                self.copy(conn, id, uid, &set, &mailbox, true);
            }
            other => {
                let name = other.name().to_owned();
                conn.session().complete(
                    id,
                    StatusKind::Bad,
                    None,
                    &format!("{name} is not supported by this server"),
                );
            }
        }
    }

    fn finish(
        &mut self,
        conn: &mut Conn,
        id: CommandId,
        result: Result<&str, maildir::Error>,
        changed: bool,
    ) {
        let s = conn.session();
        match result {
            Ok(text) => {
                if changed {
                    self.bump();
                }
                self.sync(s);
                s.complete(id, StatusKind::Ok, None, text);
            }
            Err(e) => {
                let (code, text) = store_error_code(&e);
                s.complete(id, StatusKind::No, code, &text);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn list(
        &mut self,
        conn: &mut Conn,
        id: CommandId,
        lsub: bool,
        reference: &Mailbox<'_>,
        patterns: &[Vec<u8>],
        select: &[ListSelectOpt<'_>],
        ret: &[ListReturnOpt<'_>],
    ) {
        let utf8 = self.utf8;
        let Some(md) = self.md() else {
            conn.session()
                .complete(id, StatusKind::No, None, "Not logged in");
            return;
        };
        let folders = match blocking(|| md.list_folders()) {
            Ok(f) => f,
            Err(e) => {
                let (code, text) = store_error_code(&e);
                conn.session().complete(id, StatusKind::No, code, &text);
                return;
            }
        };
        let subscribed_only = select
            .iter()
            .any(|o| matches!(o, ListSelectOpt::Subscribed));
        let special_only = select
            .iter()
            .any(|o| matches!(o, ListSelectOpt::SpecialUse));
        let ret_subscribed =
            ret.iter().any(|o| matches!(o, ListReturnOpt::Subscribed)) || subscribed_only;
        let status_items: Vec<StatusItem> = ret
            .iter()
            .find_map(|o| match o {
                ListReturnOpt::Status(items) => Some(items.as_slice().to_vec()),
                _ => None,
            })
            .unwrap_or_default();
        let refbytes = reference.as_bytes().to_vec();
        let mut out: Vec<(ListData<'static>, Option<String>)> = Vec::new();
        for p in patterns {
            if p.is_empty() && !lsub {
                // The hierarchy delimiter and root (RFC 9051 §6.3.9).
                out.push((
                    ListData {
                        attributes: vec![MailboxAttr::Noselect],
                        delimiter: Some(DELIMITER),
                        mailbox: Mailbox::from_name("", false).unwrap_or_else(|_| Mailbox::inbox()),
                        extended: None,
                    },
                    None,
                ));
                continue;
            }
            let mut full = refbytes.clone();
            full.extend_from_slice(p);
            for f in &folders {
                let Some(wire) = wire_mailbox(&f.name, utf8) else {
                    continue;
                };
                if !list_matches(&full, wire.as_bytes(), Some(DELIMITER as u8)) {
                    continue;
                }
                if (subscribed_only && !f.subscribed) || (special_only && f.special_use.is_none()) {
                    continue;
                }
                if out.iter().any(|(d, _)| d.mailbox == wire) {
                    continue;
                }
                let mut attrs = Vec::new();
                if !f.exists {
                    attrs.push(if lsub {
                        MailboxAttr::Noselect
                    } else {
                        MailboxAttr::NonExistent
                    });
                    if !lsub {
                        attrs.push(MailboxAttr::Noselect);
                    }
                }
                attrs.push(if f.has_children {
                    MailboxAttr::HasChildren
                } else {
                    MailboxAttr::HasNoChildren
                });
                if ret_subscribed && f.subscribed && !lsub {
                    attrs.push(MailboxAttr::Subscribed);
                }
                if let Some(su) = f.special_use
                    && !lsub
                {
                    attrs.push(special_attr(su));
                }
                out.push((
                    ListData {
                        attributes: attrs,
                        delimiter: Some(DELIMITER),
                        mailbox: wire,
                        extended: None,
                    },
                    (f.exists && !status_items.is_empty()).then(|| f.name.clone()),
                ));
            }
        }
        for (data, status_for) in out {
            let mailbox = data.mailbox.clone();
            if lsub {
                conn.session().untagged(&Data::Lsub(data));
            } else {
                conn.session().untagged(&Data::List(data));
            }
            if let Some(name) = status_for
                && let Ok(values) = self.status_values(&name, &status_items)
            {
                conn.session().untagged(&Data::Status {
                    mailbox,
                    items: values,
                });
            }
        }
        let s = conn.session();
        self.sync(s);
        s.complete(
            id,
            StatusKind::Ok,
            None,
            if lsub {
                "LSUB completed"
            } else {
                "LIST completed"
            },
        );
    }

    fn status_values(
        &self,
        name: &str,
        items: &[StatusItem],
    ) -> Result<Vec<StatusValue<'static>>, maildir::Error> {
        let folder = self.open_folder(name)?;
        let append_limit = self.shared.config().limits.max_message_size.0;
        blocking(|| {
            folder.sync(false)?;
            let uids = folder.uids()?;
            let need_msgs = items.iter().any(|i| {
                matches!(
                    i,
                    StatusItem::Unseen | StatusItem::Deleted | StatusItem::Size
                )
            });
            let infos: Vec<maildir::MessageInfo> = if need_msgs {
                uids.iter()
                    .filter_map(|u| folder.message(*u).ok().flatten())
                    .collect()
            } else {
                Vec::new()
            };
            let count = |f: &dyn Fn(&maildir::MessageInfo) -> bool| {
                u32::try_from(infos.iter().filter(|m| f(m)).count()).unwrap_or(u32::MAX)
            };
            let mut out = Vec::new();
            for i in items {
                out.push(match i {
                    StatusItem::Messages => {
                        StatusValue::Messages(u32::try_from(uids.len()).unwrap_or(u32::MAX))
                    }
                    StatusItem::UidNext => StatusValue::UidNext(
                        NonZeroU32::new(folder.uid_next()?).unwrap_or(NonZeroU32::MIN),
                    ),
                    StatusItem::UidValidity => StatusValue::UidValidity(
                        NonZeroU32::new(folder.uid_validity()?).unwrap_or(NonZeroU32::MIN),
                    ),
                    StatusItem::Unseen => {
                        StatusValue::Unseen(count(&|m| !m.flags.contains(maildir::Flag::Seen)))
                    }
                    StatusItem::Deleted => {
                        StatusValue::Deleted(count(&|m| m.flags.contains(maildir::Flag::Trashed)))
                    }
                    StatusItem::Size => StatusValue::Size(
                        infos.iter().map(|m| m.vsize.or(m.size).unwrap_or(0)).sum(),
                    ),
                    StatusItem::Recent => StatusValue::Recent(0),
                    StatusItem::HighestModSeq => {
                        StatusValue::HighestModSeq(folder.highest_modseq()?)
                    }
                    StatusItem::AppendLimit => StatusValue::AppendLimit(Some(append_limit)),
                    _ => continue,
                });
            }
            Ok(out)
        })
    }

    fn select(
        &mut self,
        conn: &mut Conn,
        id: CommandId,
        mailbox: &Mailbox<'_>,
        params: &[SelectParam],
        read_only: bool,
    ) {
        self.selected = None;
        if params.iter().any(|p| matches!(p, SelectParam::CondStore)) {
            self.condstore = true;
        }
        let Some(name) = mailbox_name(mailbox, self.utf8) else {
            conn.session().complete(
                id,
                StatusKind::No,
                Some(Code::NonExistent),
                "No such mailbox",
            );
            return;
        };
        let opened = self.open_folder(&name).and_then(|folder| {
            blocking(|| {
                let view = View::open(
                    &folder,
                    if read_only {
                        Access::ReadOnly
                    } else {
                        Access::ReadWrite
                    },
                )?;
                let uid_next = folder.uid_next()?;
                let highest = folder.highest_modseq()?;
                let mut first_unseen = None;
                let mut keywords = BTreeSet::new();
                for (i, &u) in view.uids().iter().enumerate() {
                    if let Some(m) = folder.message(u)? {
                        if first_unseen.is_none() && !m.flags.contains(maildir::Flag::Seen) {
                            first_unseen =
                                NonZeroU32::new(u32::try_from(i + 1).unwrap_or(u32::MAX));
                        }
                        keywords.extend(m.flags.keywords().iter().cloned());
                    }
                }
                Ok((view, uid_next, highest, first_unseen, keywords))
            })
        });
        let (view, uid_next, highest, first_unseen, keywords) = match opened {
            Ok(x) => x,
            Err(e) => {
                let (code, text) = store_error_code(&e);
                conn.session().complete(id, StatusKind::No, code, &text);
                return;
            }
        };
        let tracker = SelectedMailbox::with_uids(
            NonZeroU32::new(view.uid_validity()).unwrap_or(NonZeroU32::MIN),
            view.uids().to_vec(),
            NonZeroU32::new(uid_next.max(view.uids().last().map_or(1, |u| u + 1)))
                .unwrap_or(NonZeroU32::MIN),
        );
        let mut tracker = match tracker {
            Ok(t) => t,
            Err(e) => {
                conn.session().complete(
                    id,
                    StatusKind::No,
                    Some(Code::Corruption),
                    &format!("Mailbox state: {e}"),
                );
                return;
            }
        };
        tracker.set_highest_modseq(highest);
        let mut info = SelectInfo::standard();
        for k in keywords {
            if let Ok(a) = Atom::new(k) {
                info.flags.push(Flag::Keyword(a));
            }
        }
        info.recent = view.recent_count();
        info.first_unseen = first_unseen;
        if let Some(wire) = wire_mailbox(&name, self.utf8) {
            info.list = Some(ListData {
                attributes: Vec::new(),
                delimiter: Some(DELIMITER),
                mailbox: wire,
                extended: None,
            });
        }
        self.selected = Some(Selected {
            name: name.clone(),
            view,
            read_only,
        });
        conn.session().select_ok(id, tracker, info);
        tracing::debug!(session = self.session_id, mailbox = %name, read_only, "selected");
    }

    fn expunge(&mut self, conn: &mut Conn, id: CommandId, set: Option<SequenceSet>) {
        let s = conn.session();
        let only: Option<Vec<u32>> = set.map(|set| {
            s.selected()
                .map(|m| m.resolve(&set, true))
                .unwrap_or_default()
                .into_iter()
                .map(|(_, u)| u)
                .collect()
        });
        let Some(sel) = selected_or_refuse(self.selected.as_mut(), s, id, true) else {
            return;
        };
        match blocking(|| sel.view.expunge_deleted(only.as_deref())) {
            Ok(changes) => {
                s.expunged(&changes.vanished);
                self.bump();
                self.sync(s);
                s.complete(id, StatusKind::Ok, None, "EXPUNGE completed");
            }
            Err(e) => {
                let (code, text) = store_error_code(&e);
                s.complete(id, StatusKind::No, code, &text);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn store_flags(
        &mut self,
        conn: &mut Conn,
        id: CommandId,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        kind: StoreKind,
        silent: bool,
        flags: &[Flag<'_>],
    ) {
        let condstore = self.condstore || unchanged_since.is_some();
        let s = conn.session();
        let Some(sel) = selected_or_refuse(self.selected.as_mut(), s, id, true) else {
            return;
        };
        let pairs = s
            .selected()
            .map(|m| m.resolve(set, uid))
            .unwrap_or_default();
        let uids: Vec<u32> = pairs.iter().map(|(_, u)| *u).collect();
        let op = match kind {
            StoreKind::Replace => StoreOp::Replace,
            StoreKind::Add => StoreOp::Add,
            StoreKind::Remove => StoreOp::Remove,
        };
        let change = to_flagset(flags);
        match blocking(|| sel.view.store(&uids, op, &change, unchanged_since)) {
            Ok(report) => {
                for (u, fs, modseq) in &report.changed {
                    if silent && !condstore {
                        continue;
                    }
                    let Some(seq) = s.selected().and_then(|m| m.seq(*u)) else {
                        continue;
                    };
                    let mut items = Vec::new();
                    if !silent {
                        items.push(MessageDataItem::Flags(to_fetch_flags(
                            fs,
                            sel.view.is_recent(*u),
                        )));
                    }
                    if uid {
                        items.push(MessageDataItem::Uid(
                            NonZeroU32::new(*u).unwrap_or(NonZeroU32::MIN),
                        ));
                    }
                    if condstore {
                        items.push(MessageDataItem::ModSeq(*modseq));
                    }
                    if let Ok(items) = Vec1::try_from(items) {
                        s.untagged(&Data::Fetch(FetchData { seq, items }));
                    }
                }
                if let Some(st) = &self.store {
                    st.changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                // Our own changes are reported above; the view learns them at the next sync,
                // which would report them again: sync now and drop its flag echo.
                if let Ok(c) = blocking(|| sel.view.sync(Expunges::Defer)) {
                    let known_max = s
                        .selected()
                        .and_then(|m| m.uids().last().copied())
                        .unwrap_or(0);
                    for &u in sel.view.uids() {
                        if u > known_max {
                            let _ = s.new_message(u, 0);
                        }
                    }
                    let _ = c;
                }
                let modified: Vec<u32> = report.modified;
                let code = if modified.is_empty() {
                    None
                } else {
                    let nums: Vec<u32> = if uid {
                        modified
                    } else {
                        modified
                            .iter()
                            .filter_map(|u| {
                                s.selected().and_then(|m| m.seq(*u)).map(NonZeroU32::get)
                            })
                            .collect()
                    };
                    SequenceSet::from_numbers(&nums).ok().map(Code::Modified)
                };
                s.complete(id, StatusKind::Ok, code, "STORE completed");
            }
            Err(e) => {
                let (code, text) = store_error_code(&e);
                s.complete(id, StatusKind::No, code, &text);
            }
        }
    }

    fn copy(
        &mut self,
        conn: &mut Conn,
        id: CommandId,
        uid: bool,
        set: &SequenceSet,
        mailbox: &Mailbox<'_>,
        moving: bool,
    ) {
        let target = mailbox_name(mailbox, self.utf8);
        let dest = target.as_deref().map(|t| self.open_folder(t));
        let s = conn.session();
        let Some(sel) = selected_or_refuse(self.selected.as_mut(), s, id, moving) else {
            return;
        };
        let dest = match dest {
            Some(Ok(f)) => f,
            Some(Err(maildir::Error::NoSuchFolder(_))) | None => {
                s.complete(id, StatusKind::No, Some(Code::TryCreate), "No such mailbox");
                return;
            }
            Some(Err(e)) => {
                let (code, text) = store_error_code(&e);
                s.complete(id, StatusKind::No, code, &text);
                return;
            }
        };
        let pairs = s
            .selected()
            .map(|m| m.resolve(set, uid))
            .unwrap_or_default();
        let uids: Vec<u32> = pairs.iter().map(|(_, u)| *u).collect();
        if uids.is_empty() {
            s.complete(
                id,
                StatusKind::Ok,
                None,
                if moving {
                    "No messages moved"
                } else {
                    "No messages copied"
                },
            );
            return;
        }
        let src = sel.view.folder().clone();
        let result = blocking(|| {
            if moving {
                src.move_to(&uids, &dest)
            } else {
                src.copy_to(&uids, &dest)
            }
        });
        match result {
            Ok(map) => {
                let validity = blocking(|| dest.uid_validity()).unwrap_or(1);
                let from: Vec<u32> = map.iter().map(|(a, _)| *a).collect();
                let to: Vec<u32> = map.iter().map(|(_, b)| *b).collect();
                let code = match (
                    NonZeroU32::new(validity),
                    SequenceSet::from_numbers(&from),
                    SequenceSet::from_numbers(&to),
                ) {
                    (Some(v), Ok(f), Ok(t)) if !map.is_empty() => Some(Code::CopyUid {
                        uid_validity: v,
                        source: f,
                        target: t,
                    }),
                    _ => None,
                };
                self.bump();
                if moving {
                    // RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges.
                    if let Some(c) = code {
                        s.untagged_status(StatusKind::Ok, Some(c), "Moved");
                    }
                    // The sync reports the moved messages as expunged.
                    self.sync(s);
                    s.complete(id, StatusKind::Ok, None, "MOVE completed");
                } else {
                    self.sync(s);
                    s.complete(id, StatusKind::Ok, code, "COPY completed");
                }
            }
            Err(e) => {
                let (code, text) = store_error_code(&e);
                s.complete(id, StatusKind::No, code, &text);
            }
        }
    }

    fn append_done(&mut self, conn: &mut Conn, id: CommandId) {
        let Some(a) = self.appending.take() else {
            conn.session()
                .complete(id, StatusKind::No, None, "Nothing to append");
            return;
        };
        let result = self.open_folder(&a.mailbox).and_then(|folder| {
            blocking(|| {
                let mut uids = Vec::new();
                for (data, flags, date) in &a.done {
                    let when = date
                        .and_then(|d| u64::try_from(d.unix()).ok())
                        .map(|s| UNIX_EPOCH + Duration::from_secs(s));
                    uids.push(folder.append(&data[..], &to_flagset(flags), when)?);
                }
                Ok((folder.uid_validity()?, uids))
            })
        });
        let s = conn.session();
        match result {
            Ok((validity, uids)) => {
                self.bump();
                self.sync(s);
                let code = match (NonZeroU32::new(validity), SequenceSet::from_numbers(&uids)) {
                    (Some(v), Ok(set)) => Some(Code::AppendUid {
                        uid_validity: v,
                        uids: set,
                    }),
                    _ => None,
                };
                s.complete(id, StatusKind::Ok, code, "APPEND completed");
            }
            Err(e) => {
                let (code, text) = store_error_code(&e);
                s.complete(id, StatusKind::No, code, &text);
            }
        }
    }

    async fn event(&mut self, conn: &mut Conn, ev: ServerEvent) -> bool {
        match ev {
            ServerEvent::Auth { id, decision, .. } => self.authenticate(conn, id, decision).await,
            ServerEvent::Authenticated { authcid, .. } => {
                if self.user.is_none()
                    && let Some(a) = self.shared.accounts.canonical_login(&authcid)
                {
                    self.user = self.shared.accounts.snapshot().account(&a).cloned();
                }
                if let Err(e) = self.logged_in() {
                    tracing::error!(session = self.session_id, error = %e, "cannot open the mailbox store");
                    conn.session().untagged_status(
                        StatusKind::Bye,
                        Some(Code::Unavailable),
                        "Mail store unavailable, try again later",
                    );
                }
            }
            ServerEvent::Command { id, command } => self.command(conn, id, command.body).await,
            ServerEvent::AppendMessage {
                id,
                mailbox,
                flags,
                date,
                index,
                ..
            } => {
                let Some(name) = mailbox_name(&mailbox, self.utf8) else {
                    conn.session().append_reject(
                        id,
                        StatusKind::No,
                        Some(Code::TryCreate),
                        "No such mailbox",
                    );
                    return true;
                };
                if index == 0 {
                    if let Err(e) = self.open_folder(&name) {
                        let code = if matches!(e, maildir::Error::NoSuchFolder(_)) {
                            Code::TryCreate
                        } else {
                            Code::Cannot
                        };
                        conn.session().append_reject(
                            id,
                            StatusKind::No,
                            Some(code),
                            &e.to_string(),
                        );
                        return true;
                    }
                    self.appending = Some(Appending {
                        mailbox: name,
                        current: None,
                        done: Vec::new(),
                    });
                }
                if let Some(a) = self.appending.as_mut() {
                    a.current = Some((Vec::new(), flags.unwrap_or_default(), date));
                }
                conn.session().append_accept(id);
            }
            ServerEvent::AppendData { data, .. } => {
                if let Some((buf, _, _)) = self.appending.as_mut().and_then(|a| a.current.as_mut())
                {
                    buf.extend_from_slice(&data);
                }
            }
            ServerEvent::AppendMessageEnd { .. } => {
                if let Some(a) = self.appending.as_mut()
                    && let Some(m) = a.current.take()
                {
                    a.done.push(m);
                }
            }
            ServerEvent::AppendDone { id } => self.append_done(conn, id),
            ServerEvent::AppendAborted { .. } => self.appending = None,
            ServerEvent::Idle { id } => {
                let s = conn.session();
                self.sync(s);
                s.idle_accept(id);
                self.idling = true;
            }
            ServerEvent::IdleDone { id } => {
                self.idling = false;
                let s = conn.session();
                self.sync(s);
                s.complete(id, StatusKind::Ok, None, "IDLE terminated");
            }
            ServerEvent::Enabled(caps) => {
                for c in caps {
                    match c.as_str().to_ascii_uppercase().as_str() {
                        "CONDSTORE" | "QRESYNC" => self.condstore = true,
                        "UTF8=ACCEPT" => self.utf8 = true,
                        _ => {}
                    }
                }
            }
            ServerEvent::Logout => return false,
            _ => {}
        }
        true
    }
}

fn quota_data(
    limits: maildir::quota::QuotaLimits,
    usage: maildir::quota::QuotaUsage,
) -> Data<'static> {
    let mut resources = Vec::new();
    if let Some(b) = limits.bytes {
        resources.push(QuotaResource {
            name: Atom::new("STORAGE").expect("atom"),
            usage: u64::try_from(usage.bytes.max(0)).unwrap_or(0) / 1024,
            limit: b / 1024,
        });
    }
    if let Some(m) = limits.messages {
        resources.push(QuotaResource {
            name: Atom::new("MESSAGE").expect("atom"),
            usage: u64::try_from(usage.messages.max(0)).unwrap_or(0),
            limit: m,
        });
    }
    Data::Quota {
        root: IString::try_from("").expect("empty"),
        resources,
    }
}

impl Service for Imap {
    fn refusal(&self, why: Refusal) -> Vec<u8> {
        format!("* BYE [UNAVAILABLE] {}\r\n", why.text()).into_bytes()
    }

    fn serve(&self, conn: Connection) -> SessionFuture {
        Box::pin(async move {
            let cfg = conn.shared.config();
            let started = Instant::now();
            let mut sc = ServerConfig::default();
            sc.extensions = [
                "UIDPLUS",
                "MOVE",
                "UNSELECT",
                "NAMESPACE",
                "CHILDREN",
                "SPECIAL-USE",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "QUOTA",
                "QUOTA=RES-STORAGE",
                "CONDSTORE",
                "STATUS=SIZE",
            ]
            .iter()
            .filter_map(|s| Atom::new(*s).ok())
            .collect();
            sc.enableable = ["CONDSTORE", "IMAP4rev2", "UTF8=ACCEPT"]
                .iter()
                .filter_map(|s| Atom::new(*s).ok())
                .collect();
            sc.greeting = format!("{} mail-server IMAP ready", cfg.hostname);
            sc.tls_active = conn.settings.tls == TlsMode::Implicit;
            sc.starttls_available = conn.settings.tls == TlsMode::Starttls;
            sc.allow_insecure_auth = cfg.auth.plaintext == Plaintext::Loopback
                && canonical_ip(conn.peer.ip()).is_loopback();
            sc.max_append_size = u32::try_from(cfg.limits.max_message_size.0).unwrap_or(u32::MAX);
            sc.unauth_timeout = cfg.limits.login_timeout.0;
            sc.auth_timeout = cfg.limits.imap_timeout.0;
            sc.max_auth_failures = cfg.auth.max_failures.max(1);
            let session = ServerSession::new(sc, Instant::now());
            let acceptor = conn.shared.tls.acceptor();
            let mut c = if conn.settings.tls == TlsMode::Implicit {
                ServerConnection::new_tls(conn.stream, session, &acceptor)
            } else {
                ServerConnection::new(conn.stream, session, Some(acceptor))
            };
            let mut host = Host {
                shared: Arc::clone(&conn.shared),
                session_id: conn.id,
                peer: conn.peer,
                user: None,
                store: None,
                changes: None,
                selected: None,
                appending: None,
                idling: false,
                condstore: false,
                utf8: false,
                commands: 0,
            };
            let mut shutdown = conn.shutdown.clone();
            let mut poll = tokio::time::interval(EXTERNAL_POLL);
            poll.tick().await;
            let result: std::io::Result<()> = async {
                loop {
                    let changes = host.changes.clone();
                    tokio::select! {
                        ev = c.next_event() => {
                            let Some(ev) = ev? else { return Ok(()) };
                            if !host.event(&mut c, ev).await {
                                // Logout: let the session send its BYE and close.
                                while c.next_event().await?.is_some() {}
                                return Ok(());
                            }
                        }
                        () = async {
                            match changes {
                                Some(mut rx) => { let _ = rx.changed().await; }
                                None => std::future::pending::<()>().await,
                            }
                        }, if host.selected.is_some() && host.idling => {
                            if let Some(rx) = host.changes.as_mut() {
                                rx.borrow_and_update();
                            }
                            host.sync(c.session());
                            c.flush().await?;
                        }
                        _ = poll.tick(), if host.selected.is_some() && host.idling => {
                            host.sync(c.session());
                            c.flush().await?;
                        }
                        _ = shutdown.changed() => {
                            c.session().untagged_status(StatusKind::Bye, None, "Server shutting down");
                            let _ = tokio::time::timeout(Duration::from_secs(5), c.flush()).await;
                            return Ok(());
                        }
                    }
                }
            }
            .await;
            tracing::info!(
                session = conn.id,
                service = "imap",
                listener = %conn.listener,
                client = %conn.peer,
                user = host.user.as_ref().map_or_else(|| "-".to_string(), |a| a.address.to_string()),
                commands = host.commands,
                duration_ms = started.elapsed().as_millis() as u64,
                error = result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                "session end"
            );
        })
    }
}
