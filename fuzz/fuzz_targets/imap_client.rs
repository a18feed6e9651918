//! Client session: arbitrary server bytes, in arbitrary chunks, against a client with commands
//! queued (LOGIN, SELECT, FETCH, APPEND with a literal, IDLE). Never panics; the client never
//! has more commands outstanding than it was given; every byte it sends frames cleanly.
#![no_main]

use imap_proto::client::{ClientConfig, ClientOutput, ClientSession};
use imap_proto::fragment::{Direction, Event, Framer};
use imap_proto::types::{
    AppendMessage, CommandBody, FetchAttr, FetchItems, LiteralData, LiteralMode, Mailbox,
    SequenceSet, Vec1,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let mut c = ClientSession::new(ClientConfig::default());
    let mut n = 0;
    let _ = c.login("alice", "pw");
    n += 1;
    let _ = c.enqueue(CommandBody::Select {
        mailbox: Mailbox::inbox(),
        params: vec![],
    });
    n += 1;
    let _ = c.enqueue(CommandBody::Fetch {
        uid: false,
        set: SequenceSet::all(),
        items: FetchItems::Attrs(Vec1::new(FetchAttr::Flags)),
        modifiers: vec![],
    });
    n += 1;
    let _ = c.enqueue(CommandBody::Append {
        mailbox: Mailbox::inbox(),
        messages: Vec1::new(AppendMessage {
            flags: None,
            date: None,
            data: LiteralData {
                data: b"Subject: x\r\n\r\nbody\r\n"[..].into(),
                mode: LiteralMode::Sync,
                binary: false,
            },
        }),
    });
    n += 1;
    let _ = c.idle();
    n += 1;
    let mut framer = Framer::new(Direction::Command, 1 << 20);
    let chunk = usize::from(split) + 1;
    for part in input.chunks(chunk) {
        if c.handle_input(part).is_err() {
            break;
        }
        if split & 1 == 1 {
            let _ = c.idle_done();
        }
        while let Some(o) = c.poll_output() {
            if let ClientOutput::Transmit(b) = o {
                framer.push(&b);
            }
        }
        assert!(c.outstanding() <= n);
        while let Some(e) = framer.advance() {
            match e {
                Event::Literal { .. } => framer.keep_literal(),
                Event::Message | Event::Discarded { .. } => framer.consume(),
                _ => {}
            }
        }
    }
});
