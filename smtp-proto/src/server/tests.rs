#![allow(clippy::field_reassign_with_default)]

use super::*;
use crate::reply::{Parsed, ReplyParser};
use crate::sasl::{Answer, Decision as SaslDecision};

/// What a session did with some input.
#[derive(Debug, Default, PartialEq, Eq)]
struct Run {
    sent: Vec<u8>,
    /// Content of accepted messages (what a host keeps).
    message: Vec<u8>,
    /// Content of the message in progress (a host's spool file).
    current: Vec<u8>,
    events: Vec<Event>,
    decisions: Vec<String>,
    closed: bool,
    starttls: bool,
}

type Policy = fn(&Decision) -> Verdict;

fn accept_all(_: &Decision) -> Verdict {
    Verdict::Accept
}

fn t0() -> Instant {
    // A fixed origin: the session never reads the clock.
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn session(config: ServerConfig) -> ServerSession {
    ServerSession::with_seed(config, t0(), false, [1; 16])
}

fn drain(s: &mut ServerSession, policy: Policy, run: &mut Run) {
    while let Some(out) = s.poll_output() {
        match out {
            Output::Send(b) => run.sent.extend_from_slice(&b),
            Output::MessageData(b) => run.current.extend_from_slice(&b),
            Output::Event(e) => {
                if e == Event::TransactionReset {
                    run.current.clear(); // the host discards the spool file
                }
                run.events.push(e);
            }
            Output::Decision(Decision::Auth(d)) => {
                run.decisions.push(format!("{d:?}"));
                let answer = match d {
                    SaslDecision::VerifyPassword {
                        authcid, password, ..
                    } => {
                        if authcid == "alice" && password.expose() == "alicepw" {
                            Answer::Accept
                        } else {
                            Answer::Reject
                        }
                    }
                    _ => Answer::Reject,
                };
                s.answer_auth(t0(), answer).unwrap();
            }
            Output::Decision(d) => {
                run.decisions.push(format!("{d:?}"));
                let v = policy(&d);
                if matches!(d, Decision::EndOfData { .. }) {
                    run.message.append(&mut run.current);
                }
                s.answer(t0(), v).unwrap();
            }
            Output::StartTls => run.starttls = true,
            Output::Close => run.closed = true,
        }
    }
}

fn feed(s: &mut ServerSession, input: &[u8], policy: Policy) -> Run {
    let mut run = Run::default();
    drain(s, policy, &mut run);
    s.handle_input(t0(), input);
    drain(s, policy, &mut run);
    run
}

/// Feeds the input whole, then split at every byte offset, then one byte at a time: the
/// bytes sent, the message and the decisions must be identical.
fn feed_all_ways(config: &ServerConfig, input: &[u8], policy: Policy) -> Run {
    let whole = feed(&mut session(config.clone()), input, policy);
    let check = |pieces: Vec<&[u8]>, label: &str| {
        let mut s = session(config.clone());
        let mut run = Run::default();
        drain(&mut s, policy, &mut run);
        for p in pieces {
            s.handle_input(t0(), p);
            drain(&mut s, policy, &mut run);
        }
        assert_eq!(run.sent, whole.sent, "{label}: sent differs");
        assert_eq!(run.message, whole.message, "{label}: message differs");
        assert_eq!(run.decisions, whole.decisions, "{label}: decisions differ");
        assert_eq!(run.closed, whole.closed, "{label}");
    };
    for cut in 1..input.len() {
        check(vec![&input[..cut], &input[cut..]], &format!("cut {cut}"));
    }
    check(input.chunks(1).collect(), "bytewise");
    whole
}

/// The reply codes in `sent`, in order.
fn codes(sent: &[u8]) -> Vec<u16> {
    let p = ReplyParser::default();
    let mut rest = sent;
    let mut out = Vec::new();
    while !rest.is_empty() {
        match p.parse(rest) {
            Ok(Parsed::Complete { reply, consumed }) => {
                out.push(reply.code().get());
                rest = &rest[consumed..];
            }
            other => panic!(
                "bad server output {other:?}: {}",
                String::from_utf8_lossy(sent)
            ),
        }
    }
    out
}

fn mx() -> ServerConfig {
    ServerConfig::new("mx.example.org")
}

#[test]
fn full_mx_session_tc_smtp_01() {
    let input = b"EHLO mail.ratoperatedvehicle.com\r\n\
MAIL FROM:<root@mail.ratoperatedvehicle.com>\r\n\
RCPT TO:<mwlucas@mail.solveamurder.org>\r\n\
DATA\r\n\
From: <root@mail.ratoperatedvehicle.com>\r\n\
Subject: manual email message\r\n\
\r\n\
I sent this message via netcat, like a rebel!\r\n\
..leading dot\r\n\
.\r\n\
QUIT\r\n";
    let run = feed_all_ways(&mx(), input, accept_all);
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 354, 250, 221]);
    assert_eq!(
        run.message,
        b"From: <root@mail.ratoperatedvehicle.com>\r\nSubject: manual email message\r\n\r\nI sent this message via netcat, like a rebel!\r\n.leading dot\r\n"
    );
    assert!(run.closed);
    let text = String::from_utf8(run.sent).unwrap();
    assert!(text.starts_with("220 mx.example.org ESMTP\r\n"));
    assert!(text.contains("250-PIPELINING\r\n250-SIZE 10240000\r\n"));
    assert!(text.contains("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 "));
    assert!(
        !text.contains("STARTTLS"),
        "no STARTTLS without a certificate"
    );
    assert!(!text.contains("AUTH"), "no AUTH configured");
    assert!(!text.contains("DSN"), "DSN is off on an MX");
    assert!(run.events.contains(&Event::Quit));
    // No pipelining violation: DATA is last in its group and we waited... except the test
    // sent everything at once, which the session reports.
    assert!(run.events.contains(&Event::UnadvertisedPipelining));
}

#[test]
fn decisions_carry_the_envelope() {
    let run = feed(
        &mut session(mx()),
        b"EHLO [192.0.2.1]\r\nMAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<c@d.example>\r\n",
        accept_all,
    );
    assert_eq!(run.decisions.len(), 5);
    assert!(run.decisions[1].contains("AddressLiteral"));
    assert!(run.decisions[2].contains("size: Some(100)"));
    assert!(run.decisions[3].contains("Postmaster"));
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 250]);
}

fn reject_rcpt(d: &Decision) -> Verdict {
    match d {
        Decision::Rcpt { to, .. } if to.to_string().contains("nobody") => Verdict::Reject(
            Reply::new(
                ReplyCode::new(550).unwrap(),
                EnhancedStatus::new(5, 1, 1).ok(),
                ["User unknown"],
            )
            .unwrap(),
        ),
        _ => Verdict::Accept,
    }
}

#[test]
fn rfc5321_d1_partial_recipients() {
    let input = b"EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nRCPT TO:<nobody@foo.com>\r\nRCPT TO:<Brown@foo.com>\r\nDATA\r\nBlah blah blah...\r\n.\r\nQUIT\r\n";
    let run = feed_all_ways(&mx(), input, reject_rcpt);
    assert_eq!(
        codes(&run.sent),
        [220, 250, 250, 250, 550, 250, 354, 250, 221]
    );
    let end = run
        .decisions
        .iter()
        .find(|d| d.starts_with("EndOfData"))
        .unwrap();
    assert!(end.contains("Jones") && end.contains("Brown") && !end.contains("nobody"));
}

#[test]
fn sequencing_errors() {
    let run = feed(
        &mut session(mx()),
        b"MAIL FROM:<a@b.c>\r\nEHLO x\r\nRCPT TO:<a@b.c>\r\nDATA\r\nMAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\nDATA\r\nRSET\r\nNOOP\r\nVRFY root\r\nEXPN list\r\nFOO\r\nHELP\r\n",
        accept_all,
    );
    assert_eq!(
        codes(&run.sent),
        [
            220, 503, 250, 503, 503, 250, 503, 554, 250, 250, 502, 502, 500, 214
        ]
    );
}

#[test]
fn unknown_and_unadvertised_parameters_get_555() {
    let run = feed(
        &mut session(mx()),
        b"EHLO x\r\nMAIL FROM:<a@b.c> X-FOO=1\r\nMAIL FROM:<a@b.c> RET=FULL\r\nMAIL FROM:<a@b.c> REQUIRETLS\r\nMAIL FROM:<a@b.c> SIZE=99999999999\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z> NOTIFY=SUCCESS\r\nRCPT TO:<x@y.z> XYZ\r\nRCPT TO:<\xc3\xbc@y.z>\r\n",
        accept_all,
    );
    assert_eq!(
        codes(&run.sent),
        [220, 250, 555, 555, 555, 552, 250, 555, 555, 553]
    );
    // HELO sessions take no parameters at all.
    let run = feed(
        &mut session(mx()),
        b"HELO x\r\nMAIL FROM:<a@b.c> SIZE=10\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 555]);
    // With DSN enabled, NOTIFY is fine.
    let mut c = mx();
    c.dsn = true;
    let run = feed(
        &mut session(c),
        b"EHLO x\r\nMAIL FROM:<a@b.c> RET=HDRS ENVID=x\r\nRCPT TO:<x@y.z> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y.z\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 250, 250]);
}

#[test]
fn too_many_recipients() {
    let mut c = mx();
    c.max_recipients = 2;
    let run = feed(
        &mut session(c),
        b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.y>\r\nRCPT TO:<b@x.y>\r\nRCPT TO:<c@x.y>\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 250, 452]);
    assert!(String::from_utf8_lossy(&run.sent).contains("LIMITS RCPTMAX=2"));
}

#[test]
fn size_enforced_while_streaming() {
    let mut c = mx();
    c.max_message_size = 10;
    let run = feed(
        &mut session(c.clone()),
        b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.y>\r\nDATA\r\n0123456789\r\nmore\r\n.\r\nNOOP\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 354, 552, 250]);
    assert!(run.events.contains(&Event::MessageTooBig));
    assert!(!run.decisions.iter().any(|d| d.starts_with("EndOfData")));
    // BDAT: refused by the declared chunk size, the chunk still consumed.
    let run = feed(
        &mut session(c),
        b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.y>\r\nBDAT 20 LAST\r\n01234567890123456789NOOP\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 552, 250]);
}

#[test]
fn bdat_chunks_and_binarymime() {
    let input = b"EHLO x\r\nMAIL FROM:<a@b.c> BODY=BINARYMIME\r\nRCPT TO:<d@e.f>\r\nBDAT 5\r\nab\r\ncBDAT 3 LAST\r\n\x00\n.QUIT\r\n";
    let run = feed_all_ways(&mx(), input, accept_all);
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 250, 250, 221]);
    assert_eq!(run.message, b"ab\r\nc\x00\n.");
    assert!(String::from_utf8_lossy(&run.sent).contains("250 2.0.0 5 octets received"));
    // BINARYMIME cannot use DATA; BDAT without a transaction consumes its chunk.
    let run = feed(
        &mut session(mx()),
        b"EHLO x\r\nBDAT 4\r\nQUITMAIL FROM:<> BODY=BINARYMIME\r\nRCPT TO:<d@e.f>\r\nDATA\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 503, 250, 250, 503]);
    assert!(!run.closed, "QUIT inside the chunk must not be executed");
}

/// Regression: `BDAT 0 LAST` (RFC 3030 §2, the empty last chunk) panicked on a subtraction
/// overflow (found by the interop test against `smtp-sink`): the zero-size chunk was stepped
/// while the command line's input buffer was taken. With and without a transaction, with
/// and without commands after it, fed every way.
#[test]
fn bdat_zero_size_chunks() {
    let input =
        b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\nNOOP\r\n";
    let run = feed_all_ways(&mx(), input, accept_all);
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 250, 250, 250]);
    assert_eq!(run.message, b"abc");
    // An empty message in one chunk; then BDAT 0 (not last) and BDAT 0 LAST outside a
    // transaction: 503 each, the session goes on.
    let input = b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nBDAT 0 LAST\r\nBDAT 0\r\nBDAT 0 LAST\r\nMAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nBDAT 0\r\nBDAT 0 LAST\r\nQUIT\r\n";
    let run = feed_all_ways(&mx(), input, accept_all);
    assert_eq!(
        codes(&run.sent),
        [220, 250, 250, 250, 250, 503, 503, 250, 250, 250, 250, 221]
    );
    assert!(run.message.is_empty());
    assert_eq!(
        run.decisions
            .iter()
            .filter(|d| d.starts_with("EndOfData"))
            .count(),
        2
    );
    // The last line of the input: nothing after it in the buffer.
    let run = feed(
        &mut session(mx()),
        b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nBDAT 0 LAST\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 250]);
}

#[test]
fn smuggling_endings_never_end_data() {
    // Each smuggling ending, whole and split at every byte, under every policy: the
    // smuggled MAIL never becomes a command; only the real CRLF.CRLF ends the message.
    let endings: [&[u8]; 8] = [
        b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\n", b"\r.\r\n", b"\n.\r",
    ];
    for policy in [
        BareLineEndings::Reject,
        BareLineEndings::Normalize,
        BareLineEndings::Allow,
    ] {
        for ending in endings {
            let mut c = mx();
            c.bare_line_endings = policy;
            let mut input =
                b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nSubject: x\r\n\r\nhi"
                    .to_vec();
            input.extend_from_slice(ending);
            input.extend_from_slice(
                b"MAIL FROM:<evil@x.y>\r\nRCPT TO:<victim@e.f>\r\nDATA\r\nforged\r\n.\r\nQUIT\r\n",
            );
            let run = feed_all_ways(&c, &input, accept_all);
            let mails = run
                .decisions
                .iter()
                .filter(|d| d.starts_with("Mail"))
                .count();
            assert_eq!(
                mails, 1,
                "{policy:?} {ending:?}: smuggled MAIL was executed"
            );
            let ends = run
                .decisions
                .iter()
                .filter(|d| d.starts_with("EndOfData"))
                .count();
            if policy == BareLineEndings::Reject {
                assert_eq!(ends, 0, "{policy:?} {ending:?}");
                assert_eq!(codes(&run.sent), [220, 250, 250, 250, 354, 550, 221]);
            } else {
                assert_eq!(ends, 1, "{policy:?} {ending:?}");
                assert_eq!(codes(&run.sent), [220, 250, 250, 250, 354, 250, 221]);
                assert!(run.message.windows(10).any(|w| w == b"MAIL FROM:"));
            }
            assert!(
                run.events
                    .contains(&Event::BareLineEnding { in_data: true })
            );
        }
    }
}

#[test]
fn bare_lf_in_commands() {
    let run = feed(&mut session(mx()), b"EHLO x\nNOOP\r\n", accept_all);
    assert_eq!(codes(&run.sent), [220, 500, 250]);
    assert!(
        run.events
            .contains(&Event::BareLineEnding { in_data: false })
    );
    let mut c = mx();
    c.bare_line_endings = BareLineEndings::Normalize;
    let run = feed(&mut session(c), b"EHLO x\nNOOP\r\n", accept_all);
    assert_eq!(codes(&run.sent), [220, 250, 250]);
}

#[test]
fn pregreet_http_and_error_limit() {
    let mut s = session(mx());
    s.handle_input(t0(), b"EHLO early\r\n");
    let mut run = Run::default();
    drain(&mut s, accept_all, &mut run);
    assert_eq!(run.events[0], Event::Pregreet { bytes: 12 });
    assert_eq!(codes(&run.sent), [220, 250]);

    let run = feed(
        &mut session(mx()),
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 500]);
    assert!(run.closed && run.events.contains(&Event::NonSmtp));

    let mut c = mx();
    c.max_errors = 3;
    let run = feed(&mut session(c), b"A\r\nB\r\nC\r\nD\r\n", accept_all);
    assert_eq!(codes(&run.sent), [220, 500, 500, 500, 421]);
    assert!(run.closed);
}

#[test]
fn long_lines() {
    let mut c = mx();
    c.max_command_line = 64;
    let mut input = b"NOOP ".to_vec();
    input.extend_from_slice(&[b'x'; 100]);
    input.extend_from_slice(b"\r\nNOOP\r\n");
    let run = feed_all_ways(&c, &input, accept_all);
    assert_eq!(codes(&run.sent), [220, 500, 250]);
}

#[test]
fn connect_refused_and_timeout() {
    fn refuse(_: &Decision) -> Verdict {
        Verdict::Reject(
            Reply::new(
                ReplyCode::new(554).unwrap(),
                EnhancedStatus::new(5, 7, 1).ok(),
                ["Listed on a block list"],
            )
            .unwrap(),
        )
    }
    let run = feed(&mut session(mx()), b"", refuse);
    assert_eq!(codes(&run.sent), [554]);
    assert!(run.closed);

    let mut s = session(mx());
    let _ = feed(&mut s, b"EHLO x\r\n", accept_all);
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, t0() + Duration::from_mins(5));
    s.handle_timeout(t0());
    assert!(s.poll_output().is_none());
    s.handle_timeout(deadline);
    let mut run = Run::default();
    drain(&mut s, accept_all, &mut run);
    assert_eq!(codes(&run.sent), [421]);
    assert!(run.closed && run.events.contains(&Event::Timeout));
}

#[test]
fn decisions_can_wait() {
    // The host answers MAIL later (asynchronously); pipelined commands wait.
    let mut s = session(mx());
    let mut run = Run::default();
    drain(&mut s, accept_all, &mut run);
    s.handle_input(t0(), b"EHLO x\r\n");
    drain(&mut s, accept_all, &mut run);
    s.handle_input(t0(), b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nNOOP\r\n");
    let Some(Output::Decision(Decision::Mail { .. })) = s.poll_output() else {
        panic!("expected the MAIL decision")
    };
    assert_eq!(s.poll_output(), None, "nothing else until answered");
    assert_eq!(
        s.poll_timeout(),
        None,
        "no idle timeout while the host decides"
    );
    assert_eq!(
        s.answer_auth(t0(), Answer::Accept),
        Err(ApiMisuse::NoPendingDecision)
    );
    s.answer(t0(), Verdict::Accept).unwrap();
    let Some(Output::Decision(Decision::Rcpt { .. })) = s.poll_output() else {
        panic!("expected the RCPT decision")
    };
    s.answer(t0(), Verdict::Accept).unwrap();
    drain(&mut s, accept_all, &mut run);
    // One batch for the pipelined group (RFC 2920).
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 250]);
    assert_eq!(
        s.answer(t0(), Verdict::Accept),
        Err(ApiMisuse::NoPendingDecision)
    );
}

fn starttls_config() -> ServerConfig {
    let mut c = ServerConfig::submission("mail.example.org");
    c.starttls = true;
    c
}

#[test]
fn starttls_drops_injected_plaintext_and_resets() {
    let mut s = session(starttls_config());
    let run = feed(
        &mut s,
        b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<injected@x.y>\r\n",
        accept_all,
    );
    assert!(run.starttls);
    assert_eq!(codes(&run.sent), [220, 250, 220]);
    assert!(run.events.contains(&Event::StartTlsInjection { bytes: 26 }));
    let text = String::from_utf8_lossy(&run.sent);
    assert!(text.contains("250-STARTTLS"));
    assert!(!text.contains("AUTH"), "no AUTH before TLS");
    // More plaintext before the handshake is dropped too.
    s.handle_input(t0(), b"RCPT TO:<x@y.z>\r\n");
    let mut run = Run::default();
    drain(&mut s, accept_all, &mut run);
    assert_eq!(run.events, [Event::StartTlsInjection { bytes: 17 }]);
    s.tls_established(t0(), None).unwrap();
    let run = feed(
        &mut s,
        b"MAIL FROM:<a@b.c>\r\nEHLO x\r\nSTARTTLS\r\nAUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\nMAIL FROM:<alice@example.org>\r\n",
        accept_all,
    );
    // The session forgot the EHLO: MAIL needs a new one; no second STARTTLS.
    assert_eq!(codes(&run.sent), [503, 250, 503, 235, 250]);
    assert!(String::from_utf8_lossy(&run.sent).contains("250-AUTH PLAIN LOGIN"));
    assert!(s.is_tls());
    assert_eq!(s.authenticated().unwrap().authcid, "alice");
}

#[test]
fn submission_auth_flows() {
    let mut c = starttls_config();
    c.auth_requires_tls = false;
    // MAIL before AUTH: 530. AUTH LOGIN (TC-SMTP-04), bad password, cancel, bad base64.
    let input = b"EHLO desktop.mwl.io\r\nMAIL FROM:<a@b.c>\r\nAUTH LOGIN\r\nYWxpY2U=\r\nd3Jvbmc=\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN !!!\r\nAUTH CRAM-MD5\r\nAUTH login YWxpY2U=\r\nYWxpY2Vwdw==\r\nAUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\nMAIL FROM:<alice@example.org>\r\n";
    let run = feed_all_ways(&c, input, accept_all);
    assert_eq!(
        codes(&run.sent),
        [
            220, 250, 530, 334, 334, 535, 334, 501, 501, 504, 334, 235, 503, 250
        ]
    );
    let text = String::from_utf8_lossy(&run.sent);
    assert!(text.contains("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"));
    assert!(run.events.iter().any(|e| matches!(e, Event::AuthFailed(_))));
    // Without TLS and auth_requires_tls: 538, and AUTH not advertised.
    let mut c = ServerConfig::submission("m.example");
    c.starttls = true;
    let run = feed(
        &mut session(c),
        b"EHLO x\r\nAUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 538]);
}

#[test]
fn implicit_tls_offers_auth_not_starttls() {
    let mut s = ServerSession::with_seed(starttls_config(), t0(), true, [2; 16]);
    let run = feed(&mut s, b"EHLO x\r\nSTARTTLS\r\n", accept_all);
    let text = String::from_utf8_lossy(&run.sent);
    assert!(text.contains("AUTH PLAIN LOGIN") && !text.contains("250-STARTTLS"));
    assert_eq!(codes(&run.sent), [220, 250, 503]);
}

#[test]
fn scram_over_smtp() {
    use crate::sasl::{ClientOptions, Credentials, SaslClient, ScramCredentials};
    let mut c = ServerConfig::new("mx.example.org");
    c.auth_mechanisms = vec![Mechanism::ScramSha256];
    c.auth_requires_tls = false;
    let mut s = session(c);
    let mut run = Run::default();
    drain(&mut s, accept_all, &mut run);
    let mut client = SaslClient::new(
        Mechanism::ScramSha256,
        Credentials::password("alice", "alicepw"),
        &ClientOptions::default(),
        Nonce::new("clientnonce").unwrap(),
    )
    .unwrap();
    let ir = sasl::encode_initial_response(&client.initial_response().unwrap().unwrap());
    s.handle_input(
        t0(),
        format!("EHLO x\r\nAUTH SCRAM-SHA-256 {ir}\r\n").as_bytes(),
    );
    let creds = ScramCredentials::derive("alicepw", b"saltsaltsaltsalt", 4096).unwrap();
    let mut sent = Vec::new();
    loop {
        match s.poll_output() {
            Some(Output::Decision(Decision::Auth(SaslDecision::ScramCredentials {
                authcid,
                ..
            }))) => {
                assert_eq!(authcid, "alice");
                s.answer_auth(t0(), Answer::Scram(creds.clone())).unwrap();
            }
            Some(Output::Decision(_)) => s.answer(t0(), Verdict::Accept).unwrap(),
            Some(Output::Send(b)) => sent.extend_from_slice(&b),
            Some(_) => {}
            None => {
                // Answer the last 334 challenge, if any.
                let text = String::from_utf8(sent.clone()).unwrap();
                let Some(last) = text.lines().last() else {
                    break;
                };
                let Some(ch) = last.strip_prefix("334 ") else {
                    break;
                };
                let ch =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ch).unwrap();
                let resp = client.respond(&ch).unwrap();
                sent.clear();
                s.handle_input(t0(), format!("{}\r\n", sasl::encode(&resp)).as_bytes());
            }
        }
    }
    let text = String::from_utf8(sent).unwrap();
    assert!(
        text.ends_with("235 2.7.0 Authentication successful\r\n"),
        "{text}"
    );
    client.finish(None).unwrap();
}

#[test]
fn lmtp_replies_per_recipient() {
    fn per_rcpt(d: &Decision) -> Verdict {
        match d {
            Decision::EndOfData { recipients, .. } => Verdict::PerRecipient(
                recipients
                    .iter()
                    .map(|r| {
                        if r.to_string().contains("full") {
                            Reply::new(
                                ReplyCode::new(452).unwrap(),
                                EnhancedStatus::new(4, 2, 2).ok(),
                                ["Mailbox full"],
                            )
                            .unwrap()
                        } else {
                            Reply::new(ReplyCode::OK, EnhancedStatus::new(2, 0, 0).ok(), ["Ok"])
                                .unwrap()
                        }
                    })
                    .collect(),
            ),
            d => reject_rcpt(d),
        }
    }
    let input = b"LHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<one@x.y>\r\nRCPT TO:<nobody@x.y>\r\nRCPT TO:<full@x.y>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n";
    let run = feed_all_ways(&ServerConfig::lmtp("lmtp.example"), input, per_rcpt);
    assert_eq!(
        codes(&run.sent),
        [220, 250, 250, 250, 550, 250, 354, 250, 452, 221]
    );
    let run = feed(
        &mut session(ServerConfig::lmtp("l")),
        b"EHLO x\r\nHELO x\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 500, 500]);
}

#[test]
fn xclient_only_when_trusted() {
    let run = feed(
        &mut session(mx()),
        b"XCLIENT ADDR=192.0.2.1\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 550]);
    let mut c = mx();
    c.xclient = true;
    let run = feed(
        &mut session(c),
        b"EHLO proxy\r\nXCLIENT ADDR=192.0.2.1 NAME=client.example\r\nEHLO client.example\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 220, 250]);
    assert!(run.events.contains(&Event::Xclient(vec![
        ("ADDR".into(), "192.0.2.1".into()),
        ("NAME".into(), "client.example".into())
    ])));
    // Typed check: unknown names and bad values get 501 5.5.4, nothing is applied.
    let mut c = mx();
    c.xclient = true;
    let run = feed(
        &mut session(c),
        b"EHLO proxy\r\nXCLIENT ADDR=999.1.1.1\r\nXCLIENT FOO=1\r\nXFORWARD SOURCE=MARS\r\n",
        accept_all,
    );
    assert_eq!(codes(&run.sent), [220, 250, 501, 501, 501]);
    assert!(
        !run.events
            .iter()
            .any(|e| matches!(e, Event::Xclient(_) | Event::Xforward(_)))
    );
}

fn rfc_policy(d: &Decision) -> Verdict {
    match d {
        Decision::Rcpt { to, .. } if to.to_string().contains("Green") => Verdict::Reject(
            Reply::new(ReplyCode::new(550).unwrap(), None, ["No such user here"]).unwrap(),
        ),
        _ => Verdict::Accept,
    }
}

#[test]
fn rfc_exchanges_replay() {
    // Every RFC exchange of the corpus with an EHLO/HELO: the C: lines replayed through the
    // server give replies of the same class as the RFC's S: lines, exchange by exchange.
    let text = include_str!("../../tests/data/smtp-rfc/smtp-rfc-exchanges.txt");
    let mut replayed = 0;
    for block in text.split("\n### ").skip(1) {
        let lines: Vec<&str> = block.lines().skip(1).collect();
        let client: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("C: ").or_else(|| (*l == "C:").then_some("")))
            .collect();
        let Some(first) = client.first() else {
            continue;
        };
        if !(first.starts_with("EHLO") || first.starts_with("HELO")) {
            continue;
        }
        if client
            .iter()
            .any(|c| c.starts_with("BDAT") || c.starts_with("STARTTLS"))
        {
            continue; // chunk sizes in the RFC text do not match its abbreviated content
        }
        let mut input = String::new();
        for c in &client {
            input.push_str(c);
            input.push_str("\r\n");
        }
        let mut c = mx();
        c.vrfy = true;
        let run = feed(&mut session(c), input.as_bytes(), rfc_policy);
        let ours: Vec<u16> = codes(&run.sent)
            .into_iter()
            .skip(1)
            .map(|c| c / 100)
            .collect();
        let theirs: Vec<u16> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("S: "))
            .filter(|l| !l.starts_with("220"))
            .filter(|l| l.as_bytes().get(3) != Some(&b'-'))
            .filter_map(|l| l.get(..3)?.parse::<u16>().ok())
            .map(|c| c / 100)
            .collect();
        assert_eq!(ours, theirs, "exchange {}", block.lines().next().unwrap());
        replayed += 1;
    }
    assert!(replayed >= 5, "replayed {replayed}");
}

/// Graceful shutdown: at once when idle, after the message's verdict mid-transaction.
#[test]
fn graceful_shutdown() {
    let mut s = session(mx());
    let mut run = feed(&mut s, b"EHLO c.example\r\n", accept_all);
    s.shutdown();
    drain(&mut s, accept_all, &mut run);
    assert_eq!(codes(&run.sent), [220, 250, 421]);
    assert!(run.closed);

    let mut s = session(mx());
    let mut run = feed(
        &mut s,
        b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nhalf",
        accept_all,
    );
    s.shutdown();
    drain(&mut s, accept_all, &mut run);
    assert!(!run.closed);
    s.handle_input(t0(), b" a message\r\n.\r\nMAIL FROM:<a@example.org>\r\n");
    drain(&mut s, accept_all, &mut run);
    assert_eq!(codes(&run.sent), [220, 250, 250, 250, 354, 250, 421]);
    assert_eq!(run.message, b"half a message\r\n");
    assert!(run.closed);
}
