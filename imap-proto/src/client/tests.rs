use std::num::NonZeroU32;
use std::time::Instant;

use smtp_proto::sasl::{Answer, Credentials, Decision, Mechanism, Nonce};

use super::*;
use crate::server::{SelectInfo, ServerConfig, ServerEvent, ServerOutput, ServerSession};
use crate::types::command::{AppendMessage, LiteralData, StoreKind};
use crate::types::core::{LiteralMode, Vec1};
use crate::types::fetch::{FetchAttr, FetchData, FetchItems, MessageDataItem};
use crate::types::flag::{Flag, FlagFetch};
use crate::types::mailbox::Mailbox;
use crate::types::sequence::SequenceSet;

fn drain(c: &mut ClientSession) -> (String, Vec<ClientEvent>, Vec<&'static str>) {
    let mut wire = String::new();
    let mut ev = Vec::new();
    let mut marks = Vec::new();
    while let Some(o) = c.poll_output() {
        match o {
            ClientOutput::Transmit(b) => wire.push_str(&String::from_utf8_lossy(&b)),
            ClientOutput::Event(e) => ev.push(e),
            ClientOutput::StartTls => marks.push("starttls"),
            ClientOutput::StartCompression => marks.push("compress"),
            ClientOutput::Close => marks.push("close"),
        }
    }
    (wire, ev, marks)
}

#[test]
fn canned_dovecot_like_session() {
    let mut c = ClientSession::new(ClientConfig::default());
    // Nothing goes out before the greeting.
    let login = c.login("alice", "alice pw").unwrap();
    assert_eq!(drain(&mut c).0, "");
    c.handle_input(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n").unwrap();
    let (wire, ev, _) = drain(&mut c);
    assert_eq!(wire, "A1 LOGIN alice \"alice pw\"\r\n");
    assert!(matches!(ev[..], [ClientEvent::Greeting(_)]));
    assert!(c.has_capability("literal+"));
    c.handle_input(b"A1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in\r\n")
        .unwrap();
    let (_, ev, _) = drain(&mut c);
    assert!(matches!(&ev[..], [ClientEvent::Completed { handle, .. }] if *handle == login));
    assert_eq!(c.state(), ClientState::Authenticated);
    assert!(c.has_capability("MOVE") && !c.has_capability("SASL-IR"));

    let sel = c
        .enqueue(CommandBody::Select {
            mailbox: Mailbox::inbox(),
            params: vec![],
        })
        .unwrap();
    // SELECT is a barrier: a FETCH queued behind it waits.
    let fetch = c
        .enqueue(CommandBody::Fetch {
            uid: false,
            set: SequenceSet::single(3).unwrap(),
            items: FetchItems::Attrs(Vec1::new(FetchAttr::Rfc822)),
            modifiers: vec![],
        })
        .unwrap();
    assert_eq!(drain(&mut c).0, "A2 SELECT INBOX\r\n");
    c.handle_input(
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Old)\r\n\
* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Old \\*)] Flags permitted.\r\n\
* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UNSEEN 3] First unseen.\r\n\
* OK [UIDVALIDITY 1691091894] UIDs valid\r\n* OK [UIDNEXT 8] Predicted next UID\r\n\
A2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n",
    )
    .unwrap();
    let (wire, ev, _) = drain(&mut c);
    assert_eq!(wire, "A3 FETCH 3 RFC822\r\n");
    assert!(matches!(ev.last(), Some(ClientEvent::Completed { handle, .. }) if *handle == sel));
    let m = c.selected().unwrap();
    assert_eq!(
        (m.exists(), m.uid_validity().map(NonZeroU32::get)),
        (3, Some(1_691_091_894))
    );
    assert!(!m.read_only());
    // The literal arrives in pieces; the FETCH data is attributed to the FETCH.
    c.handle_input(b"* 3 FETCH (FLAGS (\\Seen) RFC822 {5}\r\nhel")
        .unwrap();
    assert!(drain(&mut c).1.is_empty());
    c.handle_input(b"lo UID 7)\r\nA3 OK Fetch completed\r\n")
        .unwrap();
    let (_, ev, _) = drain(&mut c);
    match &ev[..] {
        [
            ClientEvent::Data {
                handle: Some(h),
                data: Data::Fetch(f),
            },
            ClientEvent::Completed { .. },
        ] => {
            assert_eq!(*h, fetch);
            assert_eq!(f.uid().map(NonZeroU32::get), Some(7));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.selected().unwrap().uid(3).map(NonZeroU32::get), Some(7));
    // Unsolicited EXPUNGE between commands updates the tracker.
    c.handle_input(b"* 1 EXPUNGE\r\n").unwrap();
    let (_, ev, _) = drain(&mut c);
    assert!(matches!(ev[..], [ClientEvent::Data { handle: None, .. }]));
    assert_eq!(c.selected().unwrap().exists(), 2);
    assert_eq!(c.selected().unwrap().uid(2).map(NonZeroU32::get), Some(7));
}

#[test]
fn sync_literal_waits_for_continuation_and_literal_plus_does_not() {
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n")
        .unwrap();
    drain(&mut c);
    let msg = b"Subject: x\r\n\r\nbody\r\n";
    let append = CommandBody::Append {
        mailbox: Mailbox::try_from("Sent").unwrap(),
        messages: Vec1::new(AppendMessage {
            flags: Some(vec![Flag::Seen]),
            date: None,
            data: LiteralData {
                data: msg[..].into(),
                mode: LiteralMode::Sync,
                binary: false,
            },
        }),
    };
    let h = c.enqueue(append.clone()).unwrap();
    c.enqueue(CommandBody::Noop).unwrap();
    assert_eq!(drain(&mut c).0, "A1 APPEND Sent (\\Seen) {20}\r\n");
    c.handle_input(b"+ Ready for literal data\r\n").unwrap();
    assert_eq!(drain(&mut c).0, "Subject: x\r\n\r\nbody\r\n\r\nA2 NOOP\r\n");
    c.handle_input(b"A1 OK [APPENDUID 1 9] done\r\nA2 OK done\r\n")
        .unwrap();
    let (_, ev, _) = drain(&mut c);
    assert!(matches!(&ev[0], ClientEvent::Completed { handle, .. } if *handle == h));

    // Refused before '+': the data is never sent.
    c.enqueue(append.clone()).unwrap();
    assert_eq!(drain(&mut c).0, "A3 APPEND Sent (\\Seen) {20}\r\n");
    c.handle_input(b"A3 NO [TRYCREATE] no such mailbox\r\n")
        .unwrap();
    assert_eq!(drain(&mut c).0, "");

    // With LITERAL+ offered but turned off in the config, the client still waits.
    let mut c = ClientSession::new(ClientConfig {
        literal_plus: false,
        ..ClientConfig::default()
    });
    c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n")
        .unwrap();
    drain(&mut c);
    c.enqueue(append.clone()).unwrap();
    assert_eq!(drain(&mut c).0, "A1 APPEND Sent (\\Seen) {20}\r\n");

    // With LITERAL+ everything goes at once.
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n")
        .unwrap();
    drain(&mut c);
    c.enqueue(append).unwrap();
    assert_eq!(
        drain(&mut c).0,
        "A1 APPEND Sent (\\Seen) {20+}\r\nSubject: x\r\n\r\nbody\r\n\r\n"
    );
}

#[test]
fn starttls_drops_injected_plaintext() {
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_input(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n")
        .unwrap();
    drain(&mut c);
    c.enqueue(CommandBody::StartTls).unwrap();
    c.login("a", "b").unwrap();
    assert_eq!(drain(&mut c).0, "A1 STARTTLS\r\n");
    // A man in the middle appends a fake response after the OK.
    c.handle_input(b"A1 OK Begin TLS\r\nA2 OK [CAPABILITY IMAP4rev1 FAKE] Logged in\r\n")
        .unwrap();
    let (wire, _, marks) = drain(&mut c);
    assert_eq!((wire.as_str(), marks), ("", vec!["starttls"]));
    c.handle_input(b"more injected\r\n").unwrap();
    c.tls_started();
    // Capabilities are forgotten; LOGIN goes out now, over TLS.
    assert!(c.capabilities().is_empty());
    assert_eq!(drain(&mut c).0, "A2 LOGIN a b\r\n");
    assert_eq!(c.state(), ClientState::NotAuthenticated);
}

/// A client and a server session wired together in memory, with a tiny mailbox host.
struct Pair {
    c: ClientSession,
    s: ServerSession,
    store: Vec<(u32, Vec<u8>, Vec<Flag<'static>>)>,
    appending: Vec<u8>,
    client_events: Vec<ClientEvent>,
}

impl Pair {
    fn new() -> Self {
        let mut s = ServerSession::new(
            ServerConfig {
                allow_insecure_auth: true,
                mechanisms: vec![Mechanism::Plain, Mechanism::ScramSha256],
                ..ServerConfig::default()
            },
            Instant::now(),
        );
        s.set_nonce_source(|| Nonce::new("servernonce").ok());
        let mut p = Self {
            c: ClientSession::new(ClientConfig::default()),
            s,
            store: vec![(1, b"Subject: one\r\n\r\n1\r\n".to_vec(), vec![])],
            appending: Vec::new(),
            client_events: Vec::new(),
        };
        p.run();
        p
    }

    /// Moves bytes both ways and answers server events until nothing moves.
    #[allow(clippy::too_many_lines)]
    fn run(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.s.poll_output() {
                moved = true;
                match o {
                    ServerOutput::Transmit(b) => self.c.handle_input(&b).unwrap(),
                    ServerOutput::Event(e) => self.host(e),
                    _ => {}
                }
            }
            while let Some(o) = self.c.poll_output() {
                moved = true;
                match o {
                    ClientOutput::Transmit(b) => self.s.handle_input(Instant::now(), &b).unwrap(),
                    ClientOutput::Event(e) => self.client_events.push(e),
                    _ => {}
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn host(&mut self, e: ServerEvent) {
        match e {
            ServerEvent::Auth { id, decision, .. } => {
                let answer = match decision {
                    Decision::VerifyPassword {
                        authcid, password, ..
                    } => {
                        if authcid == "alice" && password.expose() == "pw" {
                            Answer::Accept
                        } else {
                            Answer::Reject
                        }
                    }
                    Decision::ScramCredentials { .. } => {
                        Answer::Scram(sasl::ScramCredentials::derive("pw", b"salt", 4096).unwrap())
                    }
                    _ => Answer::Reject,
                };
                self.s.auth_answer(id, answer);
            }
            ServerEvent::Command { id, command } => match command.body {
                CommandBody::Select { .. } => {
                    let uids = self.store.iter().map(|m| m.0).collect();
                    let next = self.store.last().map_or(1, |m| m.0 + 1);
                    let m = SelectedMailbox::with_uids(
                        NonZeroU32::new(42).unwrap(),
                        uids,
                        NonZeroU32::new(next).unwrap(),
                    )
                    .unwrap();
                    self.s.select_ok(id, m, SelectInfo::standard());
                }
                CommandBody::Fetch { uid, set, .. } => {
                    let pairs = self.s.selected().unwrap().resolve(&set, uid);
                    for (seq, u) in pairs {
                        let body = &self.store.iter().find(|m| m.0 == u).unwrap().1;
                        let data = Data::Fetch(FetchData {
                            seq,
                            items: Vec1::try_from(vec![
                                MessageDataItem::Uid(NonZeroU32::new(u).unwrap()),
                                MessageDataItem::Flags(vec![FlagFetch::Flag(Flag::Seen)]),
                                MessageDataItem::BodySection {
                                    section: None,
                                    origin: None,
                                    data: Some(IString::new(body.clone()).unwrap()),
                                },
                            ])
                            .unwrap(),
                        });
                        self.s.untagged(&data);
                    }
                    self.s.complete(id, StatusKind::Ok, None, "Fetch completed");
                }
                CommandBody::Store { .. } => self.s.complete(id, StatusKind::Ok, None, "Stored"),
                _ => self.s.complete(id, StatusKind::Ok, None, "done"),
            },
            ServerEvent::AppendMessage { id, .. } => self.s.append_accept(id),
            ServerEvent::AppendData { data, .. } => self.appending.extend(data),
            ServerEvent::AppendDone { id } => {
                let uid = self.store.last().map_or(1, |m| m.0 + 1);
                self.store
                    .push((uid, std::mem::take(&mut self.appending), vec![]));
                self.s.complete(
                    id,
                    StatusKind::Ok,
                    Some(Code::AppendUid {
                        uid_validity: NonZeroU32::new(42).unwrap(),
                        uids: SequenceSet::single(uid).unwrap(),
                    }),
                    "Append completed",
                );
                let _ = self.s.new_message(uid, 0);
            }
            ServerEvent::Idle { id } => self.s.idle_accept(id),
            ServerEvent::IdleDone { id } => self.s.complete(id, StatusKind::Ok, None, "Idle done"),
            _ => {}
        }
    }

    fn completed(&mut self, h: CommandHandle) -> StatusResponse<'static> {
        let i = self
            .client_events
            .iter()
            .position(|e| matches!(e, ClientEvent::Completed { handle, .. } if *handle == h))
            .expect("completion");
        match self.client_events.remove(i) {
            ClientEvent::Completed { status, .. } => status,
            _ => unreachable!(),
        }
    }
}

#[test]
fn client_and_server_in_memory() {
    let mut p = Pair::new();
    assert!(matches!(p.client_events[0], ClientEvent::Greeting(_)));
    let bad = p.c.login("alice", "wrong").unwrap();
    p.run();
    assert_eq!(p.completed(bad).kind, StatusKind::No);
    let login = p.c.login("alice", "pw").unwrap();
    let sel =
        p.c.enqueue(CommandBody::Select {
            mailbox: Mailbox::inbox(),
            params: vec![],
        })
        .unwrap();
    p.run();
    assert_eq!(p.completed(login).kind, StatusKind::Ok);
    assert_eq!(p.completed(sel).kind, StatusKind::Ok);
    assert_eq!(p.c.state(), ClientState::Selected);
    assert_eq!(p.c.selected().unwrap().exists(), 1);

    // APPEND with a synchronizing literal: the client waits for '+' (no LITERAL+ here since
    // the server offers it only... it does; force sync by checking the wire is still right).
    let msg = b"Subject: two\r\n\r\nhello\r\n".to_vec();
    let ap =
        p.c.enqueue(CommandBody::Append {
            mailbox: Mailbox::inbox(),
            messages: Vec1::new(AppendMessage {
                flags: None,
                date: None,
                data: LiteralData {
                    data: msg.clone().into(),
                    mode: LiteralMode::Sync,
                    binary: false,
                },
            }),
        })
        .unwrap();
    p.run();
    let st = p.completed(ap);
    assert!(matches!(st.code, Some(Code::AppendUid { .. })), "{st:?}");
    assert_eq!(p.store[1].1, msg);
    // The server announced the new message; the client's tracker follows.
    assert_eq!(p.c.selected().unwrap().exists(), 2);

    let f =
        p.c.enqueue(CommandBody::Fetch {
            uid: true,
            set: SequenceSet::all(),
            items: FetchItems::Attrs(Vec1::new(FetchAttr::BodySection {
                section: None,
                partial: None,
                peek: true,
            })),
            modifiers: vec![],
        })
        .unwrap();
    p.run();
    let bodies: Vec<Vec<u8>> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Data {
                data: Data::Fetch(fd),
                ..
            } => fd.items.iter().find_map(|i| match i {
                MessageDataItem::BodySection { data: Some(d), .. } => Some(d.as_bytes().to_vec()),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, vec![p.store[0].1.clone(), msg]);
    assert_eq!(p.completed(f).kind, StatusKind::Ok);
    assert_eq!(p.c.selected().unwrap().uids(), &[1, 2]);

    // STORE then IDLE with a pushed update, then DONE.
    let st =
        p.c.enqueue(CommandBody::Store {
            uid: true,
            set: SequenceSet::single(1).unwrap(),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: true,
            flags: vec![Flag::Deleted],
        })
        .unwrap();
    let idle = p.c.idle().unwrap();
    p.run();
    assert_eq!(p.completed(st).kind, StatusKind::Ok);
    assert!(
        p.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::IdleStarted { handle } if *handle == idle))
    );
    p.s.expunged(&[1]);
    p.run();
    assert_eq!(p.c.selected().unwrap().uids(), &[2]);
    p.c.idle_done().unwrap();
    p.run();
    assert_eq!(p.completed(idle).kind, StatusKind::Ok);

    let lo = p.c.enqueue(CommandBody::Logout).unwrap();
    p.run();
    assert_eq!(p.completed(lo).kind, StatusKind::Ok);
    assert_eq!(p.c.state(), ClientState::Logout);
}

#[test]
fn scram_between_our_client_and_server() {
    let mut p = Pair::new();
    let h =
        p.c.authenticate(
            Mechanism::ScramSha256,
            Credentials::password("alice", "pw"),
            Nonce::new("clientnonce").unwrap(),
        )
        .unwrap();
    p.run();
    let st = p.completed(h);
    assert_eq!(st.kind, StatusKind::Ok, "{st:?}");
    assert_eq!(p.c.state(), ClientState::Authenticated);
    assert!(
        !p.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::AuthError { .. }))
    );

    let mut p = Pair::new();
    let h =
        p.c.authenticate(
            Mechanism::Plain,
            Credentials::password("alice", "nope"),
            Nonce::new("n").unwrap(),
        )
        .unwrap();
    p.run();
    assert_eq!(p.completed(h).kind, StatusKind::No);
    assert_eq!(p.c.state(), ClientState::NotAuthenticated);
}
