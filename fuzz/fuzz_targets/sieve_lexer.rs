//! Sieve lexer: never panics, positions never go backwards, and it stops after an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sieve::lexer::Lexer;

fuzz_target!(|data: &[u8]| {
    let mut last = 0;
    let mut lexer = Lexer::from_bytes(data);
    while let Some(t) = lexer.next() {
        match t {
            Ok(t) => {
                assert!(t.pos.offset >= last && t.pos.offset < data.len());
                last = t.pos.offset;
            }
            Err(e) => {
                assert!(e.pos.offset <= data.len());
                assert!(lexer.next().is_none());
                break;
            }
        }
    }
});
