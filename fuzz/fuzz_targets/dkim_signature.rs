//! DKIM-Signature and tag-list parsers: never panic; tag ranges lie inside the input and
//! agree with the values; a parsed signature keeps the invariants the verifier relies on
//! (a valid d=, From signed, i= inside d=).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::dkim::Signature;
use mail_auth_core::dkim::tag;

fuzz_target!(|data: &[u8]| {
    if let Ok(tags) = tag::parse(data) {
        for t in &tags {
            assert_eq!(&data[t.value_range.clone()], t.value);
            assert!(t.raw_range.start <= t.value_range.start);
            assert!(t.value_range.end <= t.raw_range.end);
            assert!(t.raw_range.end <= data.len());
        }
    }
    if let Ok(sig) = Signature::parse(data) {
        assert!(sig.signed_headers.iter().any(|h| h == "from"));
        assert!(!sig.domain.is_empty() && !sig.selector.is_empty());
        assert!(
            sig.identity_domain() == sig.domain
                || sig
                    .identity_domain()
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", sig.domain))
        );
        if let (Some(t), Some(x)) = (sig.timestamp, sig.expiration) {
            assert!(x > t);
        }
        assert!(!sig.signature.is_empty() && !sig.body_hash.is_empty());
    }
});
