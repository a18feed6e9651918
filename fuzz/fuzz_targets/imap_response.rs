//! Response parser: never panics; a parsed response re-serializes to bytes that parse to the
//! same response; the streaming decoder fed one byte at a time gives the same response.
#![no_main]

use imap_proto::codec::{DecodeOptions, ResponseCodec, ResponseDecoder};
use imap_proto::types::IntoStatic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = ResponseCodec::default();
    let Ok((rest, resp)) = codec.decode(data) else {
        return;
    };
    let wire = codec.encode(&resp).into_bytes();
    match codec.decode(&wire) {
        Ok((r, again)) => {
            assert!(r.is_empty(), "left over after {wire:?}");
            assert_eq!(again, resp, "{wire:?}");
        }
        Err(e) => panic!("re-parse of {wire:?} failed: {e:?}"),
    }
    let used = &data[..data.len() - rest.len()];
    let mut dec = ResponseDecoder::new(DecodeOptions::default(), 1 << 20);
    let mut got = None;
    for b in used {
        dec.push(std::slice::from_ref(b));
        if let Some(r) = dec.next_response() {
            got = Some(r.map(IntoStatic::into_static));
        }
    }
    assert_eq!(got, Some(Ok(resp.into_static())));
});
