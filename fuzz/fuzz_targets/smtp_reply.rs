//! Reply parser: never panics; the single pass (`parse`) and the reference parser agree on
//! every input; a parsed reply re-serializes to bytes that parse to the same
//! reply (same code, status and lines), and a prefix of a complete reply is never an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::reply::{Parsed, ReplyParser};

fuzz_target!(|data: &[u8]| {
    let parser = ReplyParser::default();
    assert_eq!(parser.parse(data), parser.parse_reference(data));
    if let Ok(Parsed::Complete { reply, consumed }) = parser.parse(data) {
        for cut in [0, consumed / 2, consumed.saturating_sub(1)] {
            assert_eq!(parser.parse(&data[..cut]), Ok(Parsed::Incomplete));
        }
        let wire = reply.to_bytes();
        // Text that is not UTF-8 is kept with U+FFFD (three bytes) per bad byte, so the
        // written line may be up to three times longer than the line read.
        let roomy = ReplyParser {
            max_line_len: parser.max_line_len * 3 + 16,
            ..parser
        };
        match roomy.parse(&wire) {
            Ok(Parsed::Complete {
                reply: again,
                consumed,
            }) => {
                assert_eq!(consumed, wire.len());
                assert_eq!(again.code(), reply.code());
                assert_eq!(again.status(), reply.status());
                assert_eq!(
                    again.lines().collect::<Vec<_>>(),
                    reply.lines().collect::<Vec<_>>()
                );
            }
            other => panic!("re-parse of {wire:?} gave {other:?}"),
        }
    }
});
