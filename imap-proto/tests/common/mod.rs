//! A small in-memory mail store driven through `ServerConnection`, for the loopback tests:
//! enough of LIST, SELECT, STATUS, FETCH, SEARCH, STORE, EXPUNGE, APPEND and IDLE to talk to
//! real clients.
#![allow(dead_code, unreachable_pub, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use imap_proto::selected::SelectedMailbox;
use imap_proto::server::{SelectInfo, ServerConfig, ServerEvent, ServerSession};
use imap_proto::tokio::ServerConnection;
use imap_proto::types::{
    CommandBody, Data, FetchAttr, FetchData, Flag, FlagFetch, IString, ListData, Mailbox,
    MailboxAttr, MessageDataItem, SearchKey, Section, StatusItem, StatusKind, StatusValue,
    StoreKind, Vec1,
};
use smtp_proto::sasl::{Answer, Decision};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_rustls::rustls;

pub const UIDVALIDITY: u32 = 1_700_000_000;

#[derive(Clone, Debug)]
pub struct Msg {
    pub uid: u32,
    pub flags: Vec<Flag<'static>>,
    pub body: Vec<u8>,
}

#[derive(Default, Debug)]
pub struct Store {
    pub boxes: BTreeMap<String, (Vec<Msg>, u32)>,
}

impl Store {
    pub fn with_inbox(msgs: &[&[u8]]) -> Arc<Mutex<Self>> {
        let mut s = Self::default();
        let list = msgs
            .iter()
            .enumerate()
            .map(|(i, b)| Msg {
                uid: i as u32 + 1,
                flags: vec![],
                body: b.to_vec(),
            })
            .collect::<Vec<_>>();
        let next = list.len() as u32 + 1;
        s.boxes.insert("INBOX".into(), (list, next));
        s.boxes.insert("Sent".into(), (vec![], 1));
        Arc::new(Mutex::new(s))
    }

    pub fn add(&mut self, mailbox: &str, body: Vec<u8>, flags: Vec<Flag<'static>>) -> u32 {
        let (list, next) = self.boxes.get_mut(mailbox).expect("mailbox");
        let uid = *next;
        *next += 1;
        list.push(Msg { uid, flags, body });
        uid
    }
}

/// A self-signed certificate for localhost/127.0.0.1: server config, client config that
/// trusts it, and the certificate in PEM (for other clients' CA files).
pub fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>, String) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = ck.cert.der().clone();
    let pem = ck.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client), pem)
}

pub fn config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.extensions = ["UIDPLUS", "UNSELECT", "NAMESPACE", "CHILDREN", "MOVE"]
        .iter()
        .map(|s| imap_proto::types::Atom::new(*s).unwrap())
        .collect();
    c
}

fn name_of(m: &Mailbox<'_>) -> String {
    m.name(false).unwrap_or_default().into_owned()
}

struct Appending {
    mailbox: String,
    flags: Vec<Flag<'static>>,
    data: Vec<u8>,
    done: Vec<(String, Vec<u8>, Vec<Flag<'static>>)>,
}

/// Serves one connection until it ends. `new_mail` delivers to INBOX and wakes IDLE.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: ServerConnection<S>,
    store: Arc<Mutex<Store>>,
    mut new_mail: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let mut selected: Option<String> = None;
    let mut appending: Option<Appending> = None;
    loop {
        let ev = tokio::select! {
            ev = conn.next_event() => ev?,
            Some(body) = new_mail.recv() => {
                let uid = store.lock().unwrap().add("INBOX", body, vec![]);
                if selected.as_deref() == Some("INBOX") {
                    conn.session().new_message(uid, 0).unwrap();
                }
                continue;
            }
        };
        let Some(ev) = ev else { return Ok(()) };
        let s = conn.session();
        match ev {
            ServerEvent::Auth { id, decision, .. } => {
                let ok = match decision {
                    Decision::VerifyPassword {
                        authcid, password, ..
                    } => authcid == "alice" && password.expose() == "pw",
                    _ => false,
                };
                s.auth_answer(id, if ok { Answer::Accept } else { Answer::Reject });
            }
            ServerEvent::Idle { id } => s.idle_accept(id),
            ServerEvent::IdleDone { id } => s.complete(id, StatusKind::Ok, None, "Idle completed"),
            ServerEvent::AppendMessage {
                id, mailbox, flags, ..
            } => {
                let name = name_of(&mailbox);
                if !store.lock().unwrap().boxes.contains_key(&name) {
                    s.append_reject(
                        id,
                        StatusKind::No,
                        Some(imap_proto::types::Code::TryCreate),
                        "No such mailbox",
                    );
                    continue;
                }
                let done = appending.take().map(|a| a.done).unwrap_or_default();
                appending = Some(Appending {
                    mailbox: name,
                    flags: flags.unwrap_or_default(),
                    data: Vec::new(),
                    done,
                });
                s.append_accept(id);
            }
            ServerEvent::AppendData { data, .. } => {
                if let Some(a) = appending.as_mut() {
                    a.data.extend_from_slice(&data);
                }
            }
            ServerEvent::AppendMessageEnd { .. } => {
                if let Some(a) = appending.as_mut() {
                    let m = (
                        a.mailbox.clone(),
                        std::mem::take(&mut a.data),
                        a.flags.clone(),
                    );
                    a.done.push(m);
                }
            }
            ServerEvent::AppendDone { id } => {
                let Some(a) = appending.take() else { continue };
                let mut uids = Vec::new();
                for (mbox, data, flags) in a.done {
                    let uid = store.lock().unwrap().add(&mbox, data, flags);
                    if selected.as_deref() == Some(mbox.as_str()) {
                        s.new_message(uid, 0).unwrap();
                    }
                    uids.push(uid);
                }
                let code = imap_proto::types::Code::AppendUid {
                    uid_validity: NonZeroU32::new(UIDVALIDITY).unwrap(),
                    uids: imap_proto::types::SequenceSet::from_numbers(&uids).unwrap(),
                };
                s.complete(id, StatusKind::Ok, Some(code), "Append completed");
            }
            ServerEvent::AppendAborted { .. } => appending = None,
            ServerEvent::Command { id, command } => {
                let mut st = store.lock().unwrap();
                match command.body {
                    CommandBody::Noop | CommandBody::Check => {
                        s.complete(id, StatusKind::Ok, None, "NOOP completed");
                    }
                    CommandBody::Id(_) => {
                        s.untagged(&Data::Id(None));
                        s.complete(id, StatusKind::Ok, None, "ID completed");
                    }
                    CommandBody::Namespace => {
                        let (_, d) = imap_proto::codec::ResponseCodec::default()
                            .decode(b"* NAMESPACE ((\"\" \".\")) NIL NIL\r\n")
                            .unwrap();
                        if let imap_proto::types::Response::Data(d) = d {
                            s.untagged(&d);
                        }
                        s.complete(id, StatusKind::Ok, None, "NAMESPACE completed");
                    }
                    CommandBody::List { patterns, .. } => {
                        for name in st.boxes.keys() {
                            let hit = patterns.as_slice().iter().any(|p| {
                                imap_proto::types::list_matches(
                                    p.as_bytes(),
                                    name.as_bytes(),
                                    Some(b'.'),
                                )
                            });
                            if hit {
                                s.untagged(&Data::List(ListData {
                                    attributes: vec![MailboxAttr::HasNoChildren],
                                    delimiter: Some('.'),
                                    mailbox: Mailbox::from_name(name, false).unwrap(),
                                    extended: None,
                                }));
                            }
                        }
                        s.complete(id, StatusKind::Ok, None, "LIST completed");
                    }
                    CommandBody::Create { mailbox, .. } => {
                        st.boxes.entry(name_of(&mailbox)).or_insert((vec![], 1));
                        s.complete(id, StatusKind::Ok, None, "CREATE completed");
                    }
                    CommandBody::Status { mailbox, items } => {
                        let Some((list, next)) = st.boxes.get(&name_of(&mailbox)) else {
                            s.complete(id, StatusKind::No, None, "No such mailbox");
                            continue;
                        };
                        let vals = items
                            .iter()
                            .filter_map(|i| match i {
                                StatusItem::Messages => {
                                    Some(StatusValue::Messages(list.len() as u32))
                                }
                                StatusItem::UidNext => {
                                    Some(StatusValue::UidNext(NonZeroU32::new(*next).unwrap()))
                                }
                                StatusItem::UidValidity => Some(StatusValue::UidValidity(
                                    NonZeroU32::new(UIDVALIDITY).unwrap(),
                                )),
                                StatusItem::Unseen => Some(StatusValue::Unseen(
                                    list.iter()
                                        .filter(|m| !m.flags.contains(&Flag::Seen))
                                        .count() as u32,
                                )),
                                _ => None,
                            })
                            .collect();
                        s.untagged(&Data::Status {
                            mailbox,
                            items: vals,
                        });
                        s.complete(id, StatusKind::Ok, None, "STATUS completed");
                    }
                    CommandBody::Select { mailbox, .. } | CommandBody::Examine { mailbox, .. } => {
                        let name = name_of(&mailbox);
                        let Some((list, next)) = st.boxes.get(&name) else {
                            selected = None;
                            s.complete(
                                id,
                                StatusKind::No,
                                Some(imap_proto::types::Code::NonExistent),
                                "No such mailbox",
                            );
                            continue;
                        };
                        let m = SelectedMailbox::with_uids(
                            NonZeroU32::new(UIDVALIDITY).unwrap(),
                            list.iter().map(|m| m.uid).collect(),
                            NonZeroU32::new(*next).unwrap(),
                        )
                        .unwrap();
                        selected = Some(name);
                        s.select_ok(id, m, SelectInfo::standard());
                    }
                    CommandBody::Close | CommandBody::Unselect => {
                        if matches!(command.body, CommandBody::Close)
                            && let Some(name) = &selected
                            && let Some((list, _)) = st.boxes.get_mut(name)
                        {
                            list.retain(|m| !m.flags.contains(&Flag::Deleted));
                        }
                        selected = None;
                        s.complete(id, StatusKind::Ok, None, "CLOSE completed");
                    }
                    CommandBody::Fetch {
                        uid, set, items, ..
                    } => {
                        let name = selected.clone().unwrap_or_default();
                        let pairs = s
                            .selected()
                            .map(|m| m.resolve(&set, uid))
                            .unwrap_or_default();
                        let attrs = items.expand();
                        let (list, _) = st.boxes.get_mut(&name).unwrap();
                        for (seq, u) in pairs {
                            let Some(msg) = list.iter_mut().find(|m| m.uid == u) else {
                                continue;
                            };
                            let mut out = Vec::new();
                            if uid && !attrs.contains(&FetchAttr::Uid) {
                                out.push(MessageDataItem::Uid(NonZeroU32::new(u).unwrap()));
                            }
                            let mut set_seen = false;
                            for a in &attrs {
                                set_seen |= a.sets_seen();
                                if let Some(item) = fetch_item(a, msg) {
                                    out.push(item);
                                }
                            }
                            if set_seen && !msg.flags.contains(&Flag::Seen) {
                                msg.flags.push(Flag::Seen);
                                if !attrs.contains(&FetchAttr::Flags) {
                                    out.push(flags_item(msg));
                                }
                            }
                            if let Ok(items) = Vec1::try_from(out) {
                                s.untagged(&Data::Fetch(FetchData { seq, items }));
                            }
                        }
                        s.complete(id, StatusKind::Ok, None, "FETCH completed");
                    }
                    CommandBody::Search { uid, criteria, .. } => {
                        let name = selected.clone().unwrap_or_default();
                        let (list, _) = &st.boxes[&name];
                        let sel = s.selected().cloned().unwrap_or_default();
                        let mut hits = Vec::new();
                        for (i, m) in list.iter().enumerate() {
                            let seq = i as u32 + 1;
                            if criteria.iter().all(|k| matches(k, m, seq, &sel)) {
                                hits.push(if uid { m.uid } else { seq });
                            }
                        }
                        s.search_done(id, &hits, None);
                    }
                    CommandBody::Store {
                        uid,
                        set,
                        kind,
                        silent,
                        flags,
                        ..
                    } => {
                        let name = selected.clone().unwrap_or_default();
                        let pairs = s
                            .selected()
                            .map(|m| m.resolve(&set, uid))
                            .unwrap_or_default();
                        let (list, _) = st.boxes.get_mut(&name).unwrap();
                        for (seq, u) in pairs {
                            let Some(msg) = list.iter_mut().find(|m| m.uid == u) else {
                                continue;
                            };
                            match kind {
                                StoreKind::Replace => msg.flags.clone_from(&flags),
                                StoreKind::Add => {
                                    for f in &flags {
                                        if !msg.flags.contains(f) {
                                            msg.flags.push(f.clone());
                                        }
                                    }
                                }
                                StoreKind::Remove => msg.flags.retain(|f| !flags.contains(f)),
                            }
                            if !silent {
                                let mut items = vec![flags_item(msg)];
                                if uid {
                                    items.push(MessageDataItem::Uid(NonZeroU32::new(u).unwrap()));
                                }
                                s.untagged(&Data::Fetch(FetchData {
                                    seq,
                                    items: Vec1::try_from(items).unwrap(),
                                }));
                            }
                        }
                        s.complete(id, StatusKind::Ok, None, "STORE completed");
                    }
                    CommandBody::Expunge => {
                        let name = selected.clone().unwrap_or_default();
                        let (list, _) = st.boxes.get_mut(&name).unwrap();
                        let gone: Vec<u32> = list
                            .iter()
                            .filter(|m| m.flags.contains(&Flag::Deleted))
                            .map(|m| m.uid)
                            .collect();
                        list.retain(|m| !m.flags.contains(&Flag::Deleted));
                        s.expunged(&gone);
                        s.complete(id, StatusKind::Ok, None, "EXPUNGE completed");
                    }
                    other => {
                        let name = other.name().to_owned();
                        s.complete(id, StatusKind::Bad, None, &format!("{name} not supported"));
                    }
                }
            }
            _ => {}
        }
    }
}

fn flags_item(m: &Msg) -> MessageDataItem<'static> {
    MessageDataItem::Flags(m.flags.iter().cloned().map(FlagFetch::Flag).collect())
}

fn header_end(b: &[u8]) -> usize {
    b.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(b.len(), |p| p + 4)
}

fn fetch_item(a: &FetchAttr<'_>, m: &Msg) -> Option<MessageDataItem<'static>> {
    let lit = |b: &[u8]| Some(IString::new(b.to_vec()).unwrap());
    Some(match a {
        FetchAttr::Uid => MessageDataItem::Uid(NonZeroU32::new(m.uid).unwrap()),
        FetchAttr::Flags => flags_item(m),
        FetchAttr::Rfc822Size => MessageDataItem::Rfc822Size(m.body.len() as u64),
        FetchAttr::InternalDate => MessageDataItem::InternalDate(
            imap_proto::types::DateTime::from_unix(1_700_000_000, 0).unwrap(),
        ),
        FetchAttr::Rfc822 => MessageDataItem::Rfc822(lit(&m.body)),
        FetchAttr::Rfc822Header => {
            MessageDataItem::Rfc822Header(lit(&m.body[..header_end(&m.body)]))
        }
        FetchAttr::Rfc822Text => MessageDataItem::Rfc822Text(lit(&m.body[header_end(&m.body)..])),
        FetchAttr::BodySection { section, .. } => {
            let data = match section {
                None => &m.body[..],
                Some(Section::Header(None)) => &m.body[..header_end(&m.body)],
                Some(Section::Text(None)) => &m.body[header_end(&m.body)..],
                _ => return None,
            };
            MessageDataItem::BodySection {
                section: section
                    .clone()
                    .map(imap_proto::types::IntoStatic::into_static),
                origin: None,
                data: lit(data),
            }
        }
        _ => return None,
    })
}

fn matches(k: &SearchKey<'_>, m: &Msg, seq: u32, sel: &SelectedMailbox) -> bool {
    match k {
        SearchKey::All => true,
        SearchKey::Seen => m.flags.contains(&Flag::Seen),
        SearchKey::Unseen => !m.flags.contains(&Flag::Seen),
        SearchKey::Deleted => m.flags.contains(&Flag::Deleted),
        SearchKey::Flagged => m.flags.contains(&Flag::Flagged),
        SearchKey::Uid(set) => set.contains(m.uid, sel.uids().last().copied().unwrap_or(0)),
        SearchKey::SequenceSet(set) => set.contains(seq, sel.exists()),
        SearchKey::Not(k) => !matches(k, m, seq, sel),
        SearchKey::Subject(s) | SearchKey::Text(s) | SearchKey::Body(s) => {
            let needle = s.as_bytes().to_ascii_lowercase();
            m.body
                .to_ascii_lowercase()
                .windows(needle.len().max(1))
                .any(|w| w == needle)
        }
        _ => false,
    }
}

/// A session over TCP with STARTTLS available, for a test host.
pub fn session(starttls: bool, tls_active: bool) -> ServerSession {
    let mut c = config();
    c.starttls_available = starttls;
    c.tls_active = tls_active;
    c.compress_available = true;
    ServerSession::new(c, std::time::Instant::now())
}
