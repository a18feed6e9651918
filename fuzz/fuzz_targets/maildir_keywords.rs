//! `dovecot-keywords`: parsing never panics, keeps only valid keywords in slots 0..26,
//! and a written table reads back identical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maildir::keywords::{Keywords, is_valid_keyword};

fuzz_target!(|data: &[u8]| {
    let k = Keywords::parse(data);
    let mut seen = Vec::new();
    for (i, name) in k.iter() {
        assert!(i < 26 && is_valid_keyword(name));
        assert_eq!(k.index_of(name), Some(i));
        assert!(!seen.iter().any(|s: &String| s.eq_ignore_ascii_case(name)));
        seen.push(name.to_owned());
    }
    assert_eq!(Keywords::parse(&k.serialize()), k);
});
