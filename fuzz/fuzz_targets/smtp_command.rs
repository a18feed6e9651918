//! Command parser: never panics; the single-pass scanner (`parse`) and the rule-by-rule
//! reference parser give the same result on every input, under each parser setting; a
//! parsed command written back parses to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::command::CommandParser;

fuzz_target!(|data: &[u8]| {
    // CommandParser is non_exhaustive: the other settings are made by assignment.
    let mut strict = CommandParser::default();
    strict.allow_space_after_colon = false;
    let mut loose = CommandParser::default();
    loose.allow_unbracketed_path = true;
    for setting in [strict, loose] {
        assert_eq!(setting.parse(data), setting.parse_reference(data));
    }
    let parser = CommandParser::default();
    assert_eq!(parser.parse(data), parser.parse_reference(data));
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
