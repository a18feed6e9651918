use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use smtp_proto::sasl::{Answer, Decision, Mechanism, Nonce};

use super::*;
use crate::types::command::CommandBody;

struct H {
    s: ServerSession,
    wire: String,
    events: Vec<ServerEvent>,
    marks: Vec<&'static str>,
    now: Instant,
}

impl H {
    fn new(cfg: ServerConfig) -> Self {
        let now = Instant::now();
        let mut s = ServerSession::new(cfg, now);
        s.set_nonce_source(|| Nonce::new("fixednonce").ok());
        let mut h = Self {
            s,
            wire: String::new(),
            events: Vec::new(),
            marks: Vec::new(),
            now,
        };
        h.drain();
        h.wire.clear();
        h
    }

    fn insecure() -> Self {
        Self::new(ServerConfig {
            allow_insecure_auth: true,
            ..ServerConfig::default()
        })
    }

    fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            match o {
                ServerOutput::Transmit(b) => self.wire.push_str(&String::from_utf8_lossy(&b)),
                ServerOutput::Event(e) => self.events.push(e),
                ServerOutput::StartTls => self.marks.push("starttls"),
                ServerOutput::StartCompression => self.marks.push("compress"),
                ServerOutput::Close => self.marks.push("close"),
            }
        }
    }

    fn feed(&mut self, b: &[u8]) -> String {
        self.s.handle_input(self.now, b).unwrap();
        self.drain();
        std::mem::take(&mut self.wire)
    }

    fn take(&mut self) -> String {
        self.drain();
        std::mem::take(&mut self.wire)
    }

    fn events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.events)
    }

    fn command(&mut self) -> (CommandId, Command<'static>) {
        let i = self
            .events
            .iter()
            .position(|e| matches!(e, ServerEvent::Command { .. }))
            .expect("a command event");
        match self.events.remove(i) {
            ServerEvent::Command { id, command } => (id, command),
            _ => unreachable!(),
        }
    }

    fn login(&mut self) {
        self.feed(b"l1 LOGIN alice secret\r\n");
        let ev = self.events();
        let id = match &ev[..] {
            [ServerEvent::Auth { id, decision, .. }] => {
                assert!(
                    matches!(decision, Decision::VerifyPassword { authcid, .. } if authcid == "alice")
                );
                *id
            }
            other => panic!("{other:?}"),
        };
        self.s.auth_answer(id, Answer::Accept);
        let w = self.take();
        assert!(
            w.starts_with("l1 OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+"),
            "{w}"
        );
        self.events.clear();
    }

    fn select(&mut self, uids: Vec<u32>) {
        self.feed(b"s1 SELECT INBOX\r\n");
        let (id, _) = self.command();
        let m = SelectedMailbox::with_uids(
            NonZeroU32::new(7).unwrap(),
            uids,
            NonZeroU32::new(100).unwrap(),
        )
        .unwrap();
        self.s.select_ok(id, m, SelectInfo::standard());
        let w = self.take();
        assert!(
            w.ends_with("s1 OK [READ-WRITE] SELECT completed\r\n"),
            "{w}"
        );
    }
}

#[test]
fn greeting_and_logindisabled() {
    let mut h = H::new(ServerConfig {
        starttls_available: true,
        ..ServerConfig::default()
    });
    h.feed(b"");
    let mut h2 = H::new(ServerConfig {
        starttls_available: true,
        ..ServerConfig::default()
    });
    let _ = &mut h;
    // The greeting was drained at construction; rebuild to read it.
    let mut s = ServerSession::new(
        ServerConfig {
            starttls_available: true,
            ..ServerConfig::default()
        },
        Instant::now(),
    );
    let Some(ServerOutput::Transmit(g)) = s.poll_output() else {
        panic!()
    };
    assert_eq!(
        String::from_utf8(g).unwrap(),
        "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED SASL-IR LITERAL+ ID ENABLE IDLE] IMAP server ready\r\n"
    );
    // LOGIN and AUTHENTICATE PLAIN are refused before TLS.
    assert_eq!(
        h2.feed(b"a LOGIN alice secret\r\n"),
        "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed without TLS\r\n"
    );
    assert_eq!(
        h2.feed(b"b AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "b NO [PRIVACYREQUIRED] Plaintext authentication disallowed without TLS\r\n"
    );
    assert!(h2.events().is_empty());
    assert_eq!(h2.feed(b"c SELECT INBOX\r\n"), "c BAD Not logged in\r\n");
}

#[test]
fn starttls_drops_pipelined_plaintext() {
    let mut h = H::new(ServerConfig {
        starttls_available: true,
        ..ServerConfig::default()
    });
    let w = h.feed(b"a STARTTLS\r\nb LOGIN alice secret\r\n");
    assert_eq!(w, "a OK Begin TLS negotiation now\r\n");
    assert_eq!(h.marks, vec!["starttls"]);
    let ev = h.events();
    assert!(
        matches!(ev[..], [ServerEvent::InputDiscarded { bytes: 22 }]),
        "{ev:?}"
    );
    h.s.tls_started();
    assert!(h.s.is_tls());
    let w = h.feed(b"c CAPABILITY\r\n");
    assert!(w.contains("AUTH=PLAIN AUTH=LOGIN"), "{w}");
    assert!(
        !w.contains("LOGINDISABLED") && !w.contains("STARTTLS"),
        "{w}"
    );
    assert_eq!(
        h.feed(b"d STARTTLS\r\n"),
        "d BAD Command not valid in this state\r\n"
            .replace("Command not valid in this state", "TLS not available")
    );
}

#[test]
fn login_and_state() {
    let mut h = H::insecure();
    h.login();
    assert_eq!(h.s.state(), State::Authenticated);
    assert_eq!(
        h.feed(b"x FETCH 1 FLAGS\r\n"),
        "x BAD No mailbox selected\r\n"
    );
    assert_eq!(
        h.feed(b"y LOGIN a b\r\n"),
        "y BAD Command not valid in this state\r\n"
    );
    // Errors in the command line: tagged when the tag is readable.
    assert!(
        h.feed(b"z SELECT\r\n")
            .starts_with("z BAD Error in IMAP command")
    );
    assert_eq!(h.feed(b"\r\n"), "* BAD Empty command line\r\n");
    assert!(
        h.feed(b"(((\r\n")
            .starts_with("* BAD Error in IMAP command")
    );
}

#[test]
fn login_failures_end_the_session() {
    let mut h = H::insecure();
    for i in 0..3 {
        h.feed(format!("t{i} LOGIN alice wrong\r\n").as_bytes());
        let id = match &h.events()[..] {
            [ServerEvent::Auth { id, .. }] => *id,
            other => panic!("{other:?}"),
        };
        h.s.auth_answer(id, Answer::Reject);
        let w = h.take();
        assert!(
            w.starts_with(&format!("t{i} NO [AUTHENTICATIONFAILED]")),
            "{w}"
        );
        if i == 2 {
            assert!(
                w.ends_with("* BYE Too many authentication failures\r\n"),
                "{w}"
            );
        }
    }
    assert!(h.marks.contains(&"close"));
    assert_eq!(
        h.s.handle_input(h.now, b"x NOOP\r\n"),
        Err(ServerError::Closed)
    );
}

#[test]
fn authenticate_plain_with_and_without_ir() {
    let mut h = H::insecure();
    // SASL-IR.
    h.feed(b"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    let id = match &h.events()[..] {
        [
            ServerEvent::Auth {
                id,
                mechanism: Some(Mechanism::Plain),
                decision:
                    Decision::VerifyPassword {
                        authcid, password, ..
                    },
            },
        ] => {
            assert_eq!(authcid, "alice");
            assert_eq!(password.expose(), "secret");
            *id
        }
        other => panic!("{other:?}"),
    };
    h.s.auth_answer(id, Answer::Accept);
    assert!(h.take().starts_with("a OK [CAPABILITY "));
    assert!(matches!(
        h.events()[..],
        [ServerEvent::Authenticated { ref identity, .. }] if identity == "alice"
    ));

    // Without IR: an empty challenge first; the response is split across reads.
    let mut h = H::insecure();
    assert_eq!(h.feed(b"b AUTHENTICATE PLAIN\r\n"), "+ \r\n");
    assert_eq!(h.feed(b"AGFsaWNl"), "");
    h.feed(b"AHNlY3JldA==\r\n");
    let id = match &h.events()[..] {
        [ServerEvent::Auth { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    h.s.auth_answer(id, Answer::Reject);
    assert_eq!(
        h.take(),
        "b NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    );

    // Cancel.
    assert_eq!(h.feed(b"c AUTHENTICATE LOGIN\r\n"), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(h.feed(b"*\r\n"), "c BAD Authentication cancelled\r\n");
    // Bad base64.
    h.feed(b"d AUTHENTICATE PLAIN\r\n");
    assert_eq!(h.feed(b"!!!\r\n"), "d BAD Malformed SASL response\r\n");
    // Unknown mechanism.
    assert_eq!(
        h.feed(b"e AUTHENTICATE X-NONE\r\n"),
        "e NO Unsupported authentication mechanism\r\n"
    );
    // Still usable.
    assert!(h.feed(b"f NOOP\r\n").is_empty());
    let (id, _) = h.command();
    h.s.complete(id, StatusKind::Ok, None, "NOOP completed");
    assert_eq!(h.take(), "f OK NOOP completed\r\n");
}

#[test]
fn literals_in_login_and_refused_literals() {
    let mut h = H::insecure();
    assert_eq!(h.feed(b"a LOGIN {5}\r\n"), "+ Ready for literal data\r\n");
    assert_eq!(h.feed(b"alice {6}\r\n"), "+ Ready for literal data\r\n");
    h.feed(b"secret\r\n");
    assert!(matches!(
        &h.events()[..],
        [ServerEvent::Auth { decision: Decision::VerifyPassword { authcid, .. }, .. }] if authcid == "alice"
    ));
    // RFC 3501 §7.5: an unknown command's literal is refused by tag; the client sends nothing.
    let mut h = H::insecure();
    assert_eq!(
        h.feed(b"A044 BLURDYBLOOP {102856}\r\n"),
        "A044 BAD Unknown command or literal not allowed here\r\n"
    );
    // A literal over the command limit, and a non-synchronizing one whose data is skipped.
    h.login();
    assert_eq!(
        h.feed(b"b LIST \"\" {70000}\r\n"),
        "b BAD [TOOBIG] Literal too big\r\n"
    );
    let mut big = b"c LIST \"\" {70000+}\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 70000));
    big.extend_from_slice(b"\r\nd NOOP\r\n");
    assert_eq!(h.feed(&big), "c BAD [TOOBIG] Literal too big\r\n");
    let (d, cmd) = h.command();
    assert_eq!(cmd.tag.as_str(), "d");
    h.s.complete(d, StatusKind::Ok, None, "done");
    h.take();
    // literal8 is for APPEND and SETMETADATA only.
    assert_eq!(
        h.feed(b"e LIST \"\" ~{3}\r\n"),
        "e BAD Unknown command or literal not allowed here\r\n"
    );
    assert_eq!(
        h.feed(b"f SETMETADATA INBOX (/private/x ~{3}\r\n"),
        "+ Ready for literal data\r\n"
    );
    let w = h.feed(b"a\0c)\r\n");
    assert_eq!(w, "");
    let (_, cmd) = h.command();
    assert!(
        matches!(cmd.body, CommandBody::SetMetadata { .. }),
        "{cmd:?}"
    );
}

#[test]
fn too_long_command_is_skipped() {
    let mut h = H::insecure();
    let mut line = b"a1 NOOP ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 100_000));
    line.extend_from_slice(b"\r\na2 CAPABILITY\r\n");
    let w = h.feed(&line);
    assert!(
        w.starts_with("a1 BAD [TOOBIG] Command line too long\r\n"),
        "{w}"
    );
    assert!(w.contains("a2 OK CAPABILITY completed"), "{w}");
}

#[test]
#[allow(clippy::many_single_char_names)]
fn pipelining_follows_rfc3501_5_5() {
    let mut h = H::insecure();
    h.login();
    h.select(vec![1, 2, 3]);
    h.feed(
        b"a FETCH 1 FLAGS\r\nb UID FETCH 2 FLAGS\r\nc STORE 1 +FLAGS (\\Seen)\r\nd SEARCH ALL\r\n",
    );
    // Two readers run together; the STORE waits for both; the SEARCH waits for the STORE.
    let (a, ca) = h.command();
    let (b, cb) = h.command();
    assert_eq!((ca.tag.as_str(), cb.tag.as_str()), ("a", "b"));
    assert!(h.events().is_empty());
    h.s.complete(b, StatusKind::Ok, None, "done");
    assert!(h.events().is_empty());
    h.s.complete(a, StatusKind::Ok, None, "done");
    h.drain();
    let (c, cc) = h.command();
    assert_eq!(cc.tag.as_str(), "c");
    assert!(h.events().is_empty());
    h.s.complete(c, StatusKind::Ok, None, "done");
    h.drain();
    let (d, cd) = h.command();
    assert_eq!(cd.tag.as_str(), "d");
    h.s.search_done(d, &[3, 1, 2], None);
    assert_eq!(
        h.take(),
        "b OK done\r\na OK done\r\nc OK done\r\n* SEARCH 1 2 3\r\nd OK SEARCH completed\r\n"
    );
}

#[test]
fn expunge_waits_for_fetch_store_search() {
    let mut h = H::insecure();
    h.login();
    h.select(vec![10, 20, 30]);
    h.feed(b"a FETCH 1:3 FLAGS\r\n");
    let (a, _) = h.command();
    h.s.expunged(&[20]);
    assert_eq!(h.take(), "");
    // The tracker keeps the old numbering while the EXPUNGE is held back.
    assert_eq!(
        h.s.selected().unwrap().uid(2).map(NonZeroU32::get),
        Some(20)
    );
    h.s.complete(a, StatusKind::Ok, None, "done");
    // No command in progress: still held back (RFC 9051 §7.5.1).
    assert_eq!(h.take(), "a OK done\r\n");
    h.feed(b"b NOOP\r\n");
    let (b, _) = h.command();
    h.s.complete(b, StatusKind::Ok, None, "done");
    assert_eq!(h.take(), "* 2 EXPUNGE\r\nb OK done\r\n");
    assert_eq!(h.s.selected().unwrap().uids(), &[10, 30]);
    // During a UID FETCH an EXPUNGE may go out at once.
    h.feed(b"c UID FETCH 1:* FLAGS\r\n");
    let (c, _) = h.command();
    h.s.expunged(&[30]);
    assert_eq!(h.take(), "* 2 EXPUNGE\r\n");
    h.s.complete(c, StatusKind::Ok, None, "done");
    h.take();
    // New mail is announced at once.
    h.s.new_message(40, 0).unwrap();
    assert_eq!(h.take(), "* 2 EXISTS\r\n");
}

#[test]
fn idle_with_updates() {
    let mut h = H::insecure();
    h.login();
    h.select(vec![1]);
    h.feed(b"i IDLE\r\n");
    let id = match &h.events()[..] {
        [ServerEvent::Idle { id }] => *id,
        other => panic!("{other:?}"),
    };
    // IDLE is in progress once received: updates may precede "+ idling" (RFC 2177 §3).
    h.s.expunged(&[1]);
    assert_eq!(h.take(), "* 1 EXPUNGE\r\n");
    h.s.idle_accept(id);
    assert_eq!(h.take(), "+ idling\r\n");
    h.s.new_message(5, 0).unwrap();
    assert_eq!(h.take(), "* 1 EXISTS\r\n");
    assert_eq!(h.feed(b"NOOP\r\n"), "* BAD Expected DONE\r\n");
    h.feed(b"DO");
    assert!(h.events().is_empty());
    h.feed(b"NE\r\nn NOOP\r\n");
    assert!(matches!(h.events()[..], [ServerEvent::IdleDone { id: d }] if d == id));
    h.s.complete(id, StatusKind::Ok, None, "IDLE terminated");
    assert_eq!(h.take(), "i OK IDLE terminated\r\n");
    let (_, n) = h.command();
    assert_eq!(n.tag.as_str(), "n");
}

#[test]
fn append_streams_and_multiappend() {
    let mut h = H::insecure();
    h.login();
    assert_eq!(h.feed(b"a APPEND INBOX (\\Seen) {11}\r\n"), "");
    let id = match &h.events()[..] {
        [
            ServerEvent::AppendMessage {
                id,
                mailbox,
                flags: Some(f),
                size: 11,
                index: 0,
                ..
            },
        ] => {
            assert!(mailbox.is_inbox());
            assert_eq!(f, &vec![Flag::Seen]);
            *id
        }
        other => panic!("{other:?}"),
    };
    h.s.append_accept(id);
    assert_eq!(h.take(), "+ Ready for literal data\r\n");
    h.feed(b"hello");
    h.feed(b" world\r\n");
    let mut data = Vec::new();
    let mut ends = 0;
    let mut done = false;
    for e in h.events() {
        match e {
            ServerEvent::AppendData { data: d, .. } => data.extend(d),
            ServerEvent::AppendMessageEnd { .. } => ends += 1,
            ServerEvent::AppendDone { .. } => done = true,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(data, b"hello world");
    assert_eq!((ends, done), (1, true));
    h.s.complete(
        id,
        StatusKind::Ok,
        Some(Code::AppendUid {
            uid_validity: NonZeroU32::new(1).unwrap(),
            uids: SequenceSet::single(5).unwrap(),
        }),
        "APPEND completed",
    );
    assert_eq!(h.take(), "a OK [APPENDUID 1 5] APPEND completed\r\n");

    // MULTIAPPEND with LITERAL+, fed byte by byte.
    let wire = b"b APPEND Sent {3+}\r\nabc \"01-Jan-2020 00:00:00 +0000\" {2+}\r\nde\r\nc NOOP\r\n";
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let mut done = None;
    for byte in wire {
        h.feed(std::slice::from_ref(byte));
        for e in h.events() {
            match e {
                ServerEvent::AppendMessage {
                    id, index, date, ..
                } => {
                    assert_eq!(index, msgs.len());
                    assert_eq!(date.is_some(), index == 1);
                    msgs.push(Vec::new());
                    h.s.append_accept(id);
                }
                ServerEvent::AppendData { data, .. } => msgs.last_mut().unwrap().extend(data),
                ServerEvent::AppendMessageEnd { .. } => {}
                ServerEvent::AppendDone { id } => done = Some(id),
                ServerEvent::Command { .. } => panic!("NOOP must wait for APPEND"),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(msgs, vec![b"abc".to_vec(), b"de".to_vec()]);
    assert_eq!(h.take(), "", "no '+' for non-synchronizing literals");
    h.s.complete(done.unwrap(), StatusKind::Ok, None, "done");
    h.drain();
    let (_, c) = h.command();
    assert_eq!(c.tag.as_str(), "c");
}

#[test]
fn append_refusals() {
    let mut h = H::new(ServerConfig {
        allow_insecure_auth: true,
        max_append_size: 100,
        ..ServerConfig::default()
    });
    h.login();
    // Over APPENDLIMIT: refused before '+', the host is not asked.
    assert_eq!(
        h.feed(b"a APPEND INBOX {101}\r\n"),
        "a NO [TOOBIG] Message too big\r\n"
    );
    assert!(h.events().is_empty());
    // The host refuses (TRYCREATE); a non-synchronizing literal's data is skipped.
    h.feed(b"b APPEND Nope {5+}\r\n");
    let id = match &h.events()[..] {
        [ServerEvent::AppendMessage { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    h.s.append_reject(id, StatusKind::No, Some(Code::TryCreate), "No such mailbox");
    assert_eq!(h.take(), "b NO [TRYCREATE] No such mailbox\r\n");
    h.feed(b"hello\r\nc NOOP\r\n");
    let (_, c) = h.command();
    assert_eq!(c.tag.as_str(), "c");
    // Garbage after the literal: BAD, and the host discards what it got.
    let mut h = H::insecure();
    h.login();
    h.feed(b"d APPEND INBOX {1+}\r\n");
    let id = match &h.events()[..] {
        [ServerEvent::AppendMessage { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    h.s.append_accept(id);
    assert_eq!(h.feed(b"x junk\r\n"), "d BAD Error in APPEND command\r\n");
    let ev = h.events();
    assert!(
        matches!(ev.last(), Some(ServerEvent::AppendAborted { .. })),
        "{ev:?}"
    );
}

#[test]
fn enable_rev2_changes_responses() {
    let mut h = H::insecure();
    h.login();
    assert_eq!(
        h.feed(b"e ENABLE IMAP4rev2 X-UNKNOWN\r\n"),
        "* ENABLED IMAP4rev2\r\ne OK ENABLE completed\r\n"
    );
    assert!(matches!(&h.events()[..], [ServerEvent::Enabled(v)] if v.len() == 1));
    assert!(h.s.rev2());
    h.feed(b"s1 SELECT INBOX\r\n");
    let (id, _) = h.command();
    let m = SelectedMailbox::with_uids(
        NonZeroU32::new(7).unwrap(),
        vec![3, 4],
        NonZeroU32::new(9).unwrap(),
    )
    .unwrap();
    let mut info = SelectInfo::standard();
    info.recent = 1;
    h.s.select_ok(id, m, info);
    let w = h.take();
    assert!(!w.contains("RECENT"), "{w}");
    assert!(w.contains("* 2 EXISTS\r\n"), "{w}");
    h.feed(b"f UID SEARCH ALL\r\n");
    let (id, _) = h.command();
    h.s.search_done(id, &[3, 4], None);
    assert_eq!(
        h.take(),
        "* ESEARCH (TAG \"f\") UID ALL 3:4\r\nf OK SEARCH completed\r\n"
    );
    // A second SELECT first closes the current mailbox with [CLOSED].
    assert_eq!(
        h.feed(b"s2 SELECT Other\r\n"),
        "* OK [CLOSED] Previous mailbox is now closed\r\n"
    );
    assert_eq!(h.s.state(), State::Authenticated);
    let (id, _) = h.command();
    h.s.complete(
        id,
        StatusKind::No,
        Some(Code::NonExistent),
        "No such mailbox",
    );
    assert_eq!(h.take(), "s2 NO [NONEXISTENT] No such mailbox\r\n");
    assert_eq!(h.s.state(), State::Authenticated);
}

#[test]
fn rev1_select_and_searchres() {
    let mut h = H::insecure();
    h.login();
    h.feed(b"s1 EXAMINE INBOX\r\n");
    let (id, _) = h.command();
    let m = SelectedMailbox::with_uids(
        NonZeroU32::new(7).unwrap(),
        vec![3, 4],
        NonZeroU32::new(9).unwrap(),
    )
    .unwrap();
    let mut info = SelectInfo::standard();
    info.recent = 1;
    info.first_unseen = NonZeroU32::new(2);
    h.s.select_ok(id, m, info);
    assert_eq!(
        h.take(),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
         * 2 EXISTS\r\n\
         * 1 RECENT\r\n\
         * OK [UNSEEN 2] First unseen\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n\
         * OK [UIDVALIDITY 7] UIDs valid\r\n\
         * OK [UIDNEXT 9] Predicted next UID\r\n\
         s1 OK [READ-ONLY] EXAMINE completed\r\n"
    );
    h.feed(b"a SEARCH RETURN (SAVE) ALL\r\n");
    let (id, _) = h.command();
    h.s.search_done(id, &[1, 2], None);
    assert_eq!(h.take(), "a OK SEARCH completed\r\n");
    assert_eq!(h.s.saved_search(), Some((&[1u32, 2][..], false)));
    h.feed(b"b SEARCH RETURN (MIN COUNT) ALL\r\n");
    let (id, _) = h.command();
    h.s.search_done(id, &[2, 1], None);
    assert_eq!(
        h.take(),
        "* ESEARCH (TAG \"b\") MIN 1 COUNT 2\r\nb OK SEARCH completed\r\n"
    );
    // CLOSE returns to the authenticated state.
    h.feed(b"c CLOSE\r\n");
    let (id, _) = h.command();
    h.s.complete(id, StatusKind::Ok, None, "CLOSE completed");
    assert_eq!(h.s.state(), State::Authenticated);
    assert!(h.s.selected().is_none());
}

#[test]
fn logout_and_timeout() {
    let mut h = H::insecure();
    assert_eq!(
        h.feed(b"a LOGOUT\r\n"),
        "* BYE Logging out\r\na OK LOGOUT completed\r\n"
    );
    assert_eq!(h.marks, vec!["close"]);
    assert!(matches!(h.events()[..], [ServerEvent::Logout]));

    let mut h = H::insecure();
    let deadline = h.s.poll_timeout().unwrap();
    h.s.handle_timeout(deadline.checked_sub(Duration::from_secs(1)).unwrap());
    assert_eq!(h.take(), "");
    h.s.handle_timeout(deadline);
    assert_eq!(h.take(), "* BYE Autologout; idle for too long\r\n");
    assert_eq!(h.marks, vec!["close"]);
}

#[test]
fn compress_negotiation() {
    let mut h = H::new(ServerConfig {
        allow_insecure_auth: true,
        compress_available: true,
        ..ServerConfig::default()
    });
    h.login();
    assert!(h.feed(b"c CAPABILITY\r\n").contains("COMPRESS=DEFLATE"));
    assert_eq!(h.feed(b"z COMPRESS DEFLATE\r\n"), "z OK DEFLATE active\r\n");
    assert_eq!(h.marks, vec!["compress"]);
    assert_eq!(
        h.feed(b"y COMPRESS DEFLATE\r\n"),
        "y NO [COMPRESSIONACTIVE] Already compressing\r\n"
    );
}

#[test]
fn whole_session_byte_by_byte_is_the_same() {
    let script: &[u8] =
        b"a LOGIN {5}\r\nalice secret\r\nb SELECT INBOX\r\nc UID FETCH 1:* (FLAGS)\r\nd LOGOUT\r\n";
    let run = |chunk: usize| -> String {
        let mut h = H::insecure();
        for part in script.chunks(chunk) {
            h.feed(part);
            loop {
                h.drain();
                let evs = h.events();
                if evs.is_empty() {
                    break;
                }
                for e in evs {
                    match e {
                        ServerEvent::Auth { id, .. } => h.s.auth_answer(id, Answer::Accept),
                        ServerEvent::Command { id, command } => match command.body {
                            CommandBody::Select { .. } => h.s.select_ok(
                                id,
                                SelectedMailbox::with_uids(
                                    NonZeroU32::new(1).unwrap(),
                                    vec![1],
                                    NonZeroU32::new(2).unwrap(),
                                )
                                .unwrap(),
                                SelectInfo::standard(),
                            ),
                            _ => h.s.complete(id, StatusKind::Ok, None, "done"),
                        },
                        _ => {}
                    }
                }
            }
        }
        h.take();
        h.wire.clone() + &format!("{:?}", h.marks)
    };
    let whole = H::insecure().feed(script);
    assert!(whole.starts_with("+ Ready for literal data\r\n"));
    let one = run(1);
    for n in [2, 3, 7, 64] {
        assert_eq!(run(n), one, "chunk size {n}");
    }
}

use crate::types::sequence::SequenceSet;
