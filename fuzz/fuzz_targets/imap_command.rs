//! Command parser: never panics; a parsed command re-serializes to bytes that parse to the same
//! command; the streaming decoder fed one byte at a time gives the same command.
#![no_main]

use imap_proto::codec::{CommandCodec, CommandDecoder, DecodeOptions};
use imap_proto::types::IntoStatic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = CommandCodec::default();
    let Ok((rest, cmd)) = codec.decode(data) else {
        return;
    };
    let wire = codec.encode(&cmd).into_bytes();
    match codec.decode(&wire) {
        Ok((r, again)) => {
            assert!(r.is_empty(), "left over after {wire:?}");
            assert_eq!(again, cmd, "{wire:?}");
        }
        Err(e) => panic!("re-parse of {wire:?} failed: {e:?}"),
    }
    let used = &data[..data.len() - rest.len()];
    let mut dec = CommandDecoder::new(DecodeOptions::default(), 1 << 20);
    let mut got = None;
    for b in used {
        dec.push(std::slice::from_ref(b));
        if let Some(r) = dec.next_command() {
            got = Some(r.map(IntoStatic::into_static));
        }
    }
    assert_eq!(got, Some(Ok(cmd.into_static())));
});
