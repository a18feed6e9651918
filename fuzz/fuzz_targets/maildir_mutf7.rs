//! Modified UTF-7 folder names: decoding never panics and is canonical (a decoded name
//! encodes back to the same bytes); every UTF-8 name round-trips through encode/decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maildir::mutf7::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(d) = decode(s) {
        assert_eq!(encode(&d), s);
    }
    assert_eq!(decode(&encode(s)).as_deref(), Some(s));
});
