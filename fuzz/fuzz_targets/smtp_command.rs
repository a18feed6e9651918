//! Command parser: never panics; a parsed command written back parses to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::command::CommandParser;

fuzz_target!(|data: &[u8]| {
    let parser = CommandParser::default();
    if let Ok(cmd) = parser.parse(data) {
        let wire = cmd.to_bytes();
        assert!(wire.ends_with(b"\r\n"));
        match parser.parse(&wire[..wire.len() - 2]) {
            Ok(again) => assert_eq!(again, cmd, "round trip of {wire:?}"),
            Err(e) => panic!("re-parse of {wire:?} failed: {e}"),
        }
        assert_eq!(cmd.clone().into_owned(), cmd);
    }
});
