//! Server session: never panics on any input, and feeding the same bytes in two pieces
//! (split where the first byte says) gives the same replies and accepted messages as feeding
//! them whole.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use smtp_proto::sasl::Mechanism;
use smtp_proto::server::{Decision, Output, ServerConfig, ServerSession, Verdict};

/// Replies, the messages accepted (content as streamed to the host, kept like a host keeps
/// its spool file: started afresh at each MAIL, committed at end of data), and whether a
/// STARTTLS handshake happened (after which the two feeds legitimately differ: plaintext
/// after STARTTLS in the same read is dropped as an injection, in a later read it is the TLS
/// stream). Content streamed for a message that is then refused (a bare LF under the MX
/// policy, say) is never committed; how much of it was streamed before the refusal depends
/// on the reads, as it would for any host.
fn run(config: &ServerConfig, pieces: &[&[u8]]) -> (Vec<u8>, Vec<Vec<u8>>, bool) {
    let now = Instant::now();
    let mut s = ServerSession::with_seed(config.clone(), now, false, [7; 16]);
    let (mut sent, mut current, mut messages) = (Vec::new(), Vec::new(), Vec::new());
    let mut tls = false;
    let mut drain = |s: &mut ServerSession| {
        while let Some(out) = s.poll_output() {
            match out {
                Output::Send(b) => sent.extend_from_slice(&b),
                Output::MessageData(b) => current.extend_from_slice(&b),
                Output::Decision(d @ (Decision::Mail { .. } | Decision::EndOfData { .. })) => {
                    if matches!(d, Decision::EndOfData { .. }) {
                        messages.push(std::mem::take(&mut current));
                    } else {
                        current.clear();
                    }
                    s.answer(now, Verdict::Accept).unwrap();
                }
                Output::Decision(Decision::Auth(_)) => {
                    s.answer_auth(now, smtp_proto::sasl::Answer::Reject)
                        .unwrap();
                }
                Output::Decision(_) => s.answer(now, Verdict::Accept).unwrap(),
                Output::StartTls => {
                    tls = true;
                    s.tls_established(now, None).unwrap();
                }
                _ => {}
            }
        }
    };
    drain(&mut s);
    for p in pieces {
        s.handle_input(now, p);
        drain(&mut s);
    }
    (sent, messages, tls)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut config = ServerConfig::new("fuzz.example");
    config.starttls = first & 1 != 0;
    config.auth_requires_tls = false;
    config.auth_mechanisms = vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5];
    config.max_message_size = 4096;
    config.protocol = if first & 2 != 0 {
        smtp_proto::server::Protocol::Lmtp
    } else {
        smtp_proto::server::Protocol::Smtp
    };
    let cut = (first as usize).min(rest.len());
    let whole = run(&config, &[rest]);
    let split = run(&config, &[&rest[..cut], &rest[cut..]]);
    if !whole.2 && !split.2 {
        assert_eq!(whole, split);
    }
});
