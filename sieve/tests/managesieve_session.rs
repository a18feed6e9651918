//! ManageSieve server and client sessions driven against each other in memory (no
//! sockets), with the filesystem store and the real compiler, plus edge cases fed to the
//! server directly. Every scenario is run with whole writes and byte by byte.

use std::time::{Duration, Instant};

use sieve::managesieve::client::{ClientEvent, ClientOutput, ClientSession, Completion, Reply};
use sieve::managesieve::server::{
    ServerConfig, ServerEvent, ServerLimits, ServerOutput, ServerSession,
};
use sieve::managesieve::store::FsScriptStore;
use sieve::managesieve::{QuotaKind, ResponseCode, ScriptName, Status};
use smtp_proto::sasl::{Answer, Credentials, Decision, ScramCredentials};

fn name(s: &str) -> ScriptName {
    ScriptName::new(s).unwrap()
}

/// A server host: the filesystem store, users alice/alicepw and bob (SCRAM).
struct Host {
    store: FsScriptStore,
    closed: bool,
    tls_started: bool,
    events: Vec<String>,
}

impl Host {
    fn answer(&mut self, server: &mut ServerSession, event: ServerEvent) {
        self.events.push(format!("{event:?}"));
        match event {
            ServerEvent::AuthDecision(Decision::VerifyPassword {
                authcid, password, ..
            }) => {
                let ok = authcid == "alice" && password.expose() == "alicepw";
                server
                    .answer_auth_decision(if ok { Answer::Accept } else { Answer::Reject })
                    .unwrap();
            }
            ServerEvent::AuthDecision(Decision::ScramCredentials { authcid, .. }) => {
                let password = match authcid.as_str() {
                    "alice" => Some("alicepw"),
                    "bob" => Some("bobpw"),
                    _ => None,
                };
                let answer = match password {
                    Some(pw) => {
                        Answer::Scram(ScramCredentials::derive(pw, b"saltsaltsalt", 4096).unwrap())
                    }
                    None => Answer::Reject,
                };
                server.answer_auth_decision(answer).unwrap();
            }
            ServerEvent::Script(req) => server.answer_script(self.store.execute(&req)).unwrap(),
            ServerEvent::AuthCancelled | ServerEvent::Unauthenticated => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// An in-memory connection: moves bytes both ways until both sides are idle.
struct Pair {
    server: ServerSession,
    client: ClientSession,
    host: Host,
    now: Instant,
    byte_by_byte: bool,
    completions: Vec<Completion>,
    client_events: Vec<ClientEvent>,
    pending_server: Vec<ServerOutput>,
    _dir: tempfile::TempDir,
}

impl Pair {
    fn new(config: ServerConfig, byte_by_byte: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let mut p = Self {
            server: ServerSession::new(config, now),
            client: ClientSession::new(),
            host: Host {
                store: FsScriptStore::open(dir.path().join("alice")).unwrap(),
                closed: false,
                tls_started: false,
                events: Vec::new(),
            },
            now,
            byte_by_byte,
            completions: Vec::new(),
            client_events: Vec::new(),
            pending_server: Vec::new(),
            _dir: dir,
        };
        p.run();
        p
    }

    fn feed_client(&mut self, bytes: &[u8]) {
        let chunks: Vec<&[u8]> = if self.byte_by_byte {
            bytes.chunks(1).collect()
        } else {
            vec![bytes]
        };
        for c in chunks {
            self.client.handle_input(c).unwrap();
        }
    }

    fn feed_server(&mut self, bytes: &[u8]) {
        let chunks: Vec<&[u8]> = if self.byte_by_byte {
            bytes.chunks(1).collect()
        } else {
            vec![bytes]
        };
        for c in chunks {
            self.server.handle_input(self.now, c).unwrap();
            self.drain_server_events_only();
        }
    }

    /// Answers server events that arrive mid-feed, keeping transmits in order.
    fn drain_server_events_only(&mut self) {
        let mut keep = Vec::new();
        while let Some(out) = self.server.poll_output() {
            match out {
                ServerOutput::Event(e) => self.host.answer(&mut self.server, e),
                other => keep.push(other),
            }
        }
        self.pending_server.extend(keep);
    }

    fn run(&mut self) {
        loop {
            let mut progress = false;
            let mut outs: Vec<ServerOutput> = std::mem::take(&mut self.pending_server);
            while let Some(o) = self.server.poll_output() {
                outs.push(o);
            }
            for o in outs {
                progress = true;
                match o {
                    ServerOutput::Transmit(b) => self.feed_client(&b),
                    ServerOutput::Event(e) => self.host.answer(&mut self.server, e),
                    ServerOutput::StartTls => {
                        // The "handshake": both sides switch at once.
                        self.host.tls_started = true;
                        self.server.handle_tls_established().unwrap();
                    }
                    ServerOutput::Close => self.host.closed = true,
                    other => panic!("{other:?}"),
                }
            }
            while let Some(o) = self.client.poll_output() {
                progress = true;
                match o {
                    ClientOutput::Transmit(b) => self.feed_server(&b),
                    ClientOutput::Event(ClientEvent::Completed(c)) => self.completions.push(c),
                    ClientOutput::Event(e) => self.client_events.push(e),
                    ClientOutput::StartTls => self.client.handle_tls_established().unwrap(),
                    ClientOutput::Close => {}
                    other => panic!("{other:?}"),
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn done(&mut self) -> Completion {
        self.run();
        assert!(!self.completions.is_empty(), "no completion");
        self.completions.remove(0)
    }
}

fn config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.starttls = true;
    c.sasl_mechanisms = vec!["PLAIN".into(), "SCRAM-SHA-256".into()];
    c
}

fn both(test: impl Fn(bool)) {
    test(false);
    test(true);
}

#[test]
fn full_session_with_store_and_compiler() {
    both(|bb| {
        let mut p = Pair::new(config(), bb);
        let caps = p.client.capabilities().clone();
        assert!(caps.starttls && caps.sasl.is_empty(), "{caps:?}");
        assert!(caps.has_extension("fileinto") && caps.has_extension("vacation"));
        // No password before TLS: the client refuses by itself.
        assert!(
            p.client
                .authenticate(Credentials::password("alice", "alicepw"))
                .is_err()
        );
        p.client.starttls();
        assert!(p.done().is_ok());
        assert!(p.host.tls_started && p.client.is_tls());
        assert!(p.client.capabilities().has_sasl("PLAIN"));
        assert!(!p.client.capabilities().starttls);
        p.client
            .authenticate(Credentials::password("alice", "alicepw"))
            .unwrap();
        let c = p.done();
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(p.server.owner(), Some("alice"));

        let good = b"require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\r\n";
        p.client.put_script(&name("main"), good);
        assert!(p.done().is_ok());
        // Invalid: NO with the line of the first error, nothing stored.
        p.client
            .put_script(&name("bad"), b"#comment\r\nInvalidSieveCommand\r\n");
        let c = p.done();
        assert_eq!(c.status.status, Status::No);
        let text = c.status.text.unwrap();
        // The RFC's example says "line 2: Syntax error"; our compiler reports where the
        // missing ';' was expected (line 3, column 1). Either names a line first.
        assert!(
            text.starts_with("line ") && text.contains("InvalidSieveCommand"),
            "{text}"
        );
        p.client.check_script(b"require \"nonexistent-ext\";");
        assert_eq!(p.done().status.status, Status::No);
        p.client.check_script(good);
        assert!(p.done().is_ok());
        p.client.set_active(Some(&name("main")));
        assert!(p.done().is_ok());
        p.client.list_scripts();
        let c = p.done();
        let Reply::Scripts(list) = c.reply else {
            panic!("{c:?}")
        };
        assert_eq!(list.len(), 1);
        assert!(list[0].active);
        p.client.get_script(&name("main"));
        assert_eq!(p.done().reply, Reply::Script(good.to_vec()));
        p.client.delete_script(&name("main"));
        assert_eq!(p.done().status.code, Some(ResponseCode::Active));
        p.client.rename_script(&name("main"), &name("other"));
        assert!(p.done().is_ok());
        p.client.get_script(&name("main"));
        assert_eq!(p.done().status.code, Some(ResponseCode::NonExistent));
        p.client.have_space(&name("x"), 2 << 20);
        assert_eq!(
            p.done().status.code,
            Some(ResponseCode::Quota(QuotaKind::MaxSize))
        );
        p.client.noop(Some(b"tag\r\nwith CRLF"));
        assert_eq!(
            p.done().status.code,
            Some(ResponseCode::Tag(b"tag\r\nwith CRLF".to_vec()))
        );
        p.client.unauthenticate();
        assert!(p.done().is_ok());
        assert!(!p.server.is_authenticated() && !p.client.is_authenticated());
        p.client.list_scripts();
        assert_eq!(p.done().status.status, Status::No);
        p.client.logout();
        assert!(p.done().is_ok());
        assert!(p.host.closed && p.client.is_closed() && p.server.is_closed());
    });
}

#[test]
fn pipelined_commands_and_scram() {
    both(|bb| {
        let mut cfg = config();
        cfg.require_tls_for_auth = false;
        let mut p = Pair::new(cfg, bb);
        p.client
            .authenticate(Credentials::password("bob", "bobpw"))
            .unwrap();
        // Held behind AUTHENTICATE, then pipelined.
        let a = p.client.put_script(&name("a"), b"keep;");
        let b = p.client.put_script(&name("b"), b"discard;");
        let l = p.client.list_scripts();
        p.run();
        assert_eq!(p.completions.len(), 4, "{:?}", p.completions);
        assert!(
            p.completions.iter().all(Completion::is_ok),
            "{:?}",
            p.completions
        );
        assert_eq!(
            p.completions.iter().map(|c| c.handle).collect::<Vec<_>>()[1..],
            [a, b, l]
        );
        assert_eq!(p.server.owner(), Some("bob"));
        let Reply::Scripts(list) = &p.completions[3].reply else {
            panic!()
        };
        assert_eq!(list.len(), 2);
    });
}

#[test]
fn wrong_password_then_bye() {
    both(|bb| {
        let mut c = config();
        c.require_tls_for_auth = false;
        let mut p = Pair::new(c, bb);
        for i in 0..3 {
            p.client
                .authenticate(Credentials::password("alice", "wrong"))
                .unwrap();
            let c = p.done();
            let want = if i < 2 { Status::No } else { Status::Bye };
            assert_eq!(c.status.status, want, "{c:?}");
        }
        assert!(p.host.closed && p.client.is_closed());
    });
}

/// Feeds a server raw bytes and returns everything it sends (events answered by a store).
fn raw_server(config: ServerConfig, input: &[&[u8]]) -> (String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host {
        store: FsScriptStore::open(dir.path()).unwrap(),
        closed: false,
        tls_started: false,
        events: Vec::new(),
    };
    let now = Instant::now();
    let mut s = ServerSession::new_tls(config, now);
    let mut out = Vec::new();
    for chunk in input {
        s.handle_input(now, chunk).unwrap();
        while let Some(o) = s.poll_output() {
            match o {
                ServerOutput::Transmit(b) => out.extend_from_slice(&b),
                ServerOutput::Event(e) => host.answer(&mut s, e),
                ServerOutput::Close => host.closed = true,
                _ => {}
            }
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let after_greeting = text.split_once("\r\nOK\r\n").map_or("", |x| x.1).to_owned();
    (after_greeting, host.closed)
}

const LOGIN: &[u8] = b"AUTHENTICATE \"PLAIN\" \"AGFsaWNlAGFsaWNlcHc=\"\r\n";

#[test]
fn oversize_script_is_refused_and_the_session_goes_on() {
    let mut c = config();
    c.limits = ServerLimits::default();
    c.limits.max_script_size = 100;
    let mut big = b"PUTSCRIPT \"big\" {200+}\r\n".to_vec();
    big.extend_from_slice(&[b'#'; 199]);
    big.extend_from_slice(b"\n\r\nNOOP\r\n");
    let (out, closed) = raw_server(c, &[LOGIN, &big]);
    assert!(!closed);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("OK"), "{out}");
    assert!(lines[1].starts_with("NO (QUOTA/MAXSIZE)"), "{out}");
    assert!(lines[2].starts_with("OK"), "{out}");
}

#[test]
fn commands_before_login_and_garbage() {
    let (out, closed) = raw_server(
        config(),
        &[b"LISTSCRIPTS\r\nFOO\r\nPUTSCRIPT \"a\" {3}\r\nabc\r\nGETSCRIPT \"\"\r\nNOOP\r\n"],
    );
    assert!(!closed);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[..4].iter().all(|l| l.starts_with("NO")), "{out}");
    assert!(lines[4].starts_with("OK"));
    // Ten bad commands in a row: BYE.
    let junk = b"X\r\n".repeat(10);
    let (out, closed) = raw_server(config(), &[&junk]);
    assert!(closed, "{out}");
    assert!(out.contains("BYE"));
}

#[test]
fn starttls_drops_pipelined_plaintext() {
    let now = Instant::now();
    let mut s = ServerSession::new(config(), now);
    while s.poll_output().is_some() {}
    // An attacker appends a command after STARTTLS in the same plaintext packet.
    s.handle_input(now, b"STARTTLS\r\nDELETESCRIPT \"x\"\r\n")
        .unwrap();
    let mut outs = Vec::new();
    while let Some(o) = s.poll_output() {
        outs.push(o);
    }
    assert!(matches!(&outs[0], ServerOutput::Transmit(b) if b.starts_with(b"OK")));
    assert_eq!(outs[1], ServerOutput::StartTls);
    assert_eq!(outs.len(), 2);
    // Plaintext before the handshake completes is ignored too.
    s.handle_input(now, b"NOOP\r\n").unwrap();
    assert!(s.poll_output().is_none());
    s.handle_tls_established().unwrap();
    let Some(ServerOutput::Transmit(caps)) = s.poll_output() else {
        panic!()
    };
    let caps = String::from_utf8(caps).unwrap();
    assert!(
        !caps.contains("STARTTLS") && caps.contains("\"SASL\" \"PLAIN"),
        "{caps}"
    );
    assert!(s.poll_output().is_none());
    // STARTTLS again: refused.
    s.handle_input(now, b"STARTTLS\r\n").unwrap();
    assert!(matches!(s.poll_output(), Some(ServerOutput::Transmit(b)) if b.starts_with(b"NO")));
}

#[test]
fn plain_before_tls_is_encrypt_needed() {
    let now = Instant::now();
    let mut s = ServerSession::new(config(), now);
    while s.poll_output().is_some() {}
    s.handle_input(now, LOGIN).unwrap();
    let Some(ServerOutput::Transmit(b)) = s.poll_output() else {
        panic!()
    };
    assert!(
        b.starts_with(b"NO (ENCRYPT-NEEDED)"),
        "{}",
        String::from_utf8_lossy(&b)
    );
}

#[test]
fn idle_timeout_says_bye() {
    let now = Instant::now();
    let mut s = ServerSession::new(config(), now);
    while s.poll_output().is_some() {}
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_mins(30));
    s.handle_timeout(deadline.checked_sub(Duration::from_secs(1)).unwrap());
    assert!(s.poll_output().is_none());
    s.handle_timeout(deadline);
    assert!(matches!(s.poll_output(), Some(ServerOutput::Transmit(b)) if b.starts_with(b"BYE")));
    assert_eq!(s.poll_output(), Some(ServerOutput::Close));
    assert!(s.handle_input(now, b"NOOP\r\n").is_err());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn answers_out_of_turn_are_api_misuse() {
    let now = Instant::now();
    let mut s = ServerSession::new(config(), now);
    assert!(
        s.answer_script(Ok(sieve::managesieve::server::ScriptReply::Done))
            .is_err()
    );
    assert!(s.handle_tls_established().is_err());
    let mut c = ClientSession::new();
    assert!(c.auth_respond(b"x").is_err());
}

#[test]
fn client_rejects_a_lying_server() {
    let mut c = ClientSession::new();
    c.handle_input(b"\"IMPLEMENTATION\" \"x\"\r\nOK\r\n")
        .unwrap();
    // A response with nothing outstanding.
    assert!(c.handle_input(b"OK\r\n").is_err());
    // Sticky.
    assert!(c.handle_input(b"").is_err());
    let mut c = ClientSession::new();
    c.handle_input(b"\"IMPLEMENTATION\" \"x\"\r\nOK\r\n")
        .unwrap();
    c.list_scripts();
    assert!(c.handle_input(b"\"a\" PASSIVE\r\n").is_err());
}

#[test]
fn login_mechanism_with_challenges_and_cancel() {
    both(|bb| {
        let mut cfg = config();
        cfg.sasl_mechanisms = vec!["LOGIN".into()];
        cfg.require_tls_for_auth = false;
        let mut p = Pair::new(cfg, bb);
        // The application runs LOGIN itself and cancels at the first challenge.
        p.client.authenticate_raw("LOGIN", None);
        p.run();
        let Some(ClientEvent::AuthChallenge(ch)) = p.client_events.pop() else {
            panic!("{:?}", p.client_events)
        };
        assert_eq!(ch, b"Username:");
        p.client.auth_cancel().unwrap();
        let c = p.done();
        assert_eq!(c.status.status, Status::No, "{c:?}");
        assert_eq!(c.status.text.as_deref(), Some("Authentication cancelled"));
        assert!(!p.server.is_authenticated());
        // The session's own LOGIN reveals the password: not without TLS.
        assert!(
            p.client
                .authenticate(Credentials::password("alice", "alicepw"))
                .is_err()
        );
        p.client.starttls();
        assert!(p.done().is_ok());
        // Two challenges, answered inside the client session.
        p.client
            .authenticate(Credentials::password("alice", "alicepw"))
            .unwrap();
        let c = p.done();
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(p.server.owner(), Some("alice"));
    });
}
