//! Maildir names: parsing never fails or panics, and rewriting a name with its own flags
//! keeps the base and every flag, keyword and unknown character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maildir::name::MessageName;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for sep in [':', ';'] {
        let n = MessageName::parse(s, sep);
        let renamed = n.with_flags(n.flags(), sep);
        let again = MessageName::parse(&renamed, sep);
        assert_eq!(again.base(), n.base());
        assert_eq!(again.flags(), n.flags());
    }
});
