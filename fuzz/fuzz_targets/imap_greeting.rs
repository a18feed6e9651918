//! Greeting parser: never panics; a parsed greeting re-serializes to bytes that parse to the
//! same greeting, and it reads the same as an untagged status response.
#![no_main]

use imap_proto::codec::{GreetingCodec, ResponseCodec};
use imap_proto::types::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = GreetingCodec::default();
    let Ok((rest, g)) = codec.decode(data) else {
        return;
    };
    let wire = codec.encode(&g).into_bytes();
    match codec.decode(&wire) {
        Ok((r, again)) => {
            assert!(r.is_empty());
            assert_eq!(again, g, "{wire:?}");
        }
        Err(e) => panic!("re-parse of {wire:?} failed: {e:?}"),
    }
    let used = &data[..data.len() - rest.len()];
    match ResponseCodec::default().decode(used) {
        Ok((_, Response::Status(s))) => {
            assert!(s.tag.is_none());
            assert_eq!((s.kind, &s.code, &s.text), (g.kind, &g.code, &g.text));
        }
        other => panic!("greeting {used:?} is not a status response: {other:?}"),
    }
});
