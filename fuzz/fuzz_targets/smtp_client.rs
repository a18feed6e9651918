//! Client session: never panics on any server bytes, and feeding them in two pieces (split
//! where the first byte says) gives the same commands and events as feeding them whole.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use smtp_proto::client::{ClientConfig, ClientSession, Envelope, Event, Output, TlsMode};
use smtp_proto::sasl::Credentials;

/// Commands sent, events, and whether a STARTTLS handshake happened (after which the two
/// feeds legitimately differ: bytes after the `220` in the same read are an injection and
/// dropped, in a later read they are the TLS stream).
fn run(config: &ClientConfig, pieces: &[&[u8]]) -> (Vec<u8>, Vec<Event>, bool) {
    let now = Instant::now();
    let mut c = ClientSession::with_seed(config.clone(), now, [7; 16]);
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    let mut mails = 2;
    let mut tls = false;
    let mut drain = |c: &mut ClientSession, sent: &mut Vec<u8>, events: &mut Vec<Event>| {
        while let Some(out) = c.poll_output() {
            match out {
                Output::Send(b) => sent.extend_from_slice(&b),
                Output::Event(Event::Ready) => {
                    if mails > 0 {
                        mails -= 1;
                        let env =
                            Envelope::parse("a@example.org", ["b@example.org", "c@example.net"])
                                .unwrap();
                        c.send_mail(now, env, b"Subject: x\r\n\r\n.dot\nbare\r\n".to_vec())
                            .unwrap();
                    } else {
                        c.quit(now).unwrap();
                    }
                    events.push(Event::Ready);
                }
                Output::Event(e) => events.push(e),
                Output::StartTls => {
                    tls = true;
                    c.tls_established(now, Some(vec![1; 32])).unwrap();
                }
                _ => {}
            }
        }
    };
    drain(&mut c, &mut sent, &mut events);
    for p in pieces {
        c.handle_input(now, p);
        drain(&mut c, &mut sent, &mut events);
    }
    c.handle_eof();
    drain(&mut c, &mut sent, &mut events);
    (sent, events, tls)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut config = ClientConfig::new("fuzz.example");
    config.lmtp = first & 1 != 0;
    config.pipelining = first & 2 != 0;
    config.chunking = first & 4 != 0;
    config.tls = if first & 8 != 0 {
        TlsMode::Required
    } else {
        TlsMode::Opportunistic
    };
    if first & 16 != 0 {
        config.credentials = Some(Credentials::password("alice", "alicepw"));
    }
    let cut = (first as usize).min(rest.len());
    let whole = run(&config, &[rest]);
    let split = run(&config, &[&rest[..cut], &rest[cut..]]);
    if !whole.2 && !split.2 {
        assert_eq!(whole, split);
    }
});
