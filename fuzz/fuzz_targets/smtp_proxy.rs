//! PROXY header parser: never panics; a prefix of a complete header is never an error, and
//! a parsed header written as version 2 parses back to the same addresses and TLVs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::proxy::{ProxyParsed, ProxyParser};

fuzz_target!(|data: &[u8]| {
    let parser = ProxyParser::default();
    if let Ok(ProxyParsed::Complete { header, consumed }) = parser.parse(data) {
        assert!(consumed <= data.len());
        for cut in [0, consumed / 2, consumed - 1] {
            match parser.parse(&data[..cut]) {
                Ok(ProxyParsed::Incomplete) => {}
                other => panic!("prefix {cut} of a complete header gave {other:?}"),
            }
        }
        if let Ok(wire) = header.to_v2() {
            let Ok(ProxyParsed::Complete { header: back, .. }) = parser.parse(&wire) else {
                panic!("v2 re-parse failed");
            };
            assert_eq!(back.command, header.command);
            assert_eq!(back.tlvs, header.tlvs);
        }
    }
});
