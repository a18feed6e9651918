//! Modified UTF-7: decoding accepts only canonical names, so whatever decodes must encode
//! back to exactly the input; and every string encodes to something that decodes back.
#![no_main]

use imap_proto::utf7;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = utf7::decode_bytes(data) {
        assert_eq!(utf7::encode(&name).as_bytes(), data);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(utf7::decode(&utf7::encode(s)).as_deref(), Ok(s));
    }
});
