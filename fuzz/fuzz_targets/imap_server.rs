//! Server session: arbitrary client bytes, in arbitrary chunks, against a host that says yes
//! to everything. Never panics, and every byte the server sends parses as a greeting followed
//! by responses.
#![no_main]

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use imap_proto::codec::{DecodeOptions, ResponseDecoder};
use imap_proto::selected::SelectedMailbox;
use imap_proto::server::{SelectInfo, ServerConfig, ServerEvent, ServerOutput, ServerSession};
use imap_proto::types::{CommandBody, Data, StatusKind};
use libfuzzer_sys::fuzz_target;
use smtp_proto::sasl::{Answer, Decision, Nonce};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let mut cfg = ServerConfig::default();
    cfg.allow_insecure_auth = split & 1 == 1;
    cfg.starttls_available = split & 2 == 2;
    cfg.compress_available = split & 4 == 4;
    cfg.max_command_size = 4096;
    cfg.max_append_size = 2048;
    let now = Instant::now();
    let mut s = ServerSession::new(cfg, now);
    s.set_nonce_source(|| Nonce::new("fuzz").ok());
    let mut wire = Vec::new();
    let chunk = usize::from(split >> 3) + 1;
    for part in input.chunks(chunk) {
        if s.handle_input(now, part).is_err() {
            break;
        }
        drive(&mut s, &mut wire);
    }
    s.handle_timeout(now + Duration::from_secs(3600));
    drive(&mut s, &mut wire);

    let mut dec = ResponseDecoder::new(DecodeOptions::default(), 1 << 24);
    dec.push(&wire);
    match dec.next_greeting() {
        Some(Ok(_)) => {}
        other => panic!("bad greeting: {other:?}"),
    }
    while let Some(r) = dec.next_response() {
        if let Err(e) = r {
            panic!(
                "server sent an unparsable response: {e:?} in {:?}",
                String::from_utf8_lossy(&wire)
            );
        }
    }
    assert_eq!(dec.buffered(), 0, "partial response at the end");
});

fn drive(s: &mut ServerSession, wire: &mut Vec<u8>) {
    for _ in 0..10_000 {
        let Some(o) = s.poll_output() else { return };
        match o {
            ServerOutput::Transmit(b) => wire.extend_from_slice(&b),
            ServerOutput::Event(e) => answer(s, e),
            ServerOutput::StartTls => s.tls_started(),
            _ => {}
        }
    }
}

fn answer(s: &mut ServerSession, e: ServerEvent) {
    match e {
        ServerEvent::Auth { id, decision, .. } => {
            let a = match decision {
                Decision::VerifyPassword { .. } | Decision::ValidateToken { .. } => Answer::Accept,
                _ => Answer::Reject,
            };
            s.auth_answer(id, a);
        }
        ServerEvent::Command { id, command } => match command.body {
            CommandBody::Select { .. } | CommandBody::Examine { .. } => {
                let m = SelectedMailbox::with_uids(
                    NonZeroU32::new(1).unwrap(),
                    vec![1, 2, 3],
                    NonZeroU32::new(4).unwrap(),
                )
                .unwrap();
                s.select_ok(id, m, SelectInfo::standard());
            }
            CommandBody::Search { .. } => s.search_done(id, &[1, 3], None),
            CommandBody::Expunge => {
                s.expunged(&[2]);
                s.complete(id, StatusKind::Ok, None, "done");
            }
            CommandBody::Noop => {
                let _ = s.new_message(10, 5);
                s.untagged(&Data::Recent(1));
                s.complete(id, StatusKind::Ok, None, "done");
            }
            _ => s.complete(id, StatusKind::Ok, None, "done"),
        },
        ServerEvent::AppendMessage { id, .. } => s.append_accept(id),
        ServerEvent::AppendDone { id } => s.complete(id, StatusKind::Ok, None, "done"),
        ServerEvent::Idle { id } => s.idle_accept(id),
        ServerEvent::IdleDone { id } => s.complete(id, StatusKind::Ok, None, "done"),
        _ => {}
    }
}
