//! ManageSieve grammar: a command that parses re-encodes to a command that parses to the
//! same value (round trip), a SASL response line likewise, and a server response line that
//! parses re-encodes (status lines) to the same value. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sieve::managesieve::ResponseLine;
use sieve::managesieve::command::{
    AuthResponse, ParseOptions, encode_auth_response, parse_auth_response, parse_command,
};
use sieve::managesieve::response::{ResponseOptions, parse_response_line};

fuzz_target!(|data: &[u8]| {
    for quirk in [false, true] {
        let mut options = ParseOptions::default();
        options.quirk_sync_literals = quirk;
        if let Ok(cmd) = parse_command(data, options) {
            let bytes = cmd.to_bytes();
            let again =
                parse_command(&bytes, ParseOptions::default()).expect("an encoded command parses");
            assert_eq!(again, cmd);
        }
        if let Ok(r) = parse_auth_response(data, options) {
            let mut bytes = Vec::new();
            encode_auth_response(&r, &mut bytes);
            let again = parse_auth_response(&bytes, ParseOptions::default())
                .expect("an encoded SASL response parses");
            // "*" as data is the cancel; both sides agree on that.
            match (&r, &again) {
                (AuthResponse::Data(d), AuthResponse::Cancel) => assert_eq!(d.as_ref(), b"*"),
                _ => assert_eq!(again, r),
            }
        }
    }
    if let Ok(ResponseLine::Status(s)) = parse_response_line(data, ResponseOptions::default()) {
        let bytes = s.to_bytes();
        match parse_response_line(&bytes, ResponseOptions::default()) {
            Ok(ResponseLine::Status(again)) => assert_eq!(again, s),
            other => panic!("re-encoded status line did not parse: {other:?}"),
        }
    }
});
