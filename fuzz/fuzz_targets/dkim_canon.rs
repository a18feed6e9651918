//! DKIM body canonicalization: the output does not depend on how the body is split into
//! chunks, relaxed output is idempotent, and the l= limit yields a prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::dkim::canon::{self, BodyCanonicalizer, Canonicalization};

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let whole = canon::body(c, body);
        let cut = usize::from(split).min(body.len());
        let mut out = Vec::new();
        let mut bc = BodyCanonicalizer::new(c);
        bc.update(&body[..cut], &mut out);
        bc.update(&body[cut..], &mut out);
        bc.finish(&mut out);
        assert_eq!(out, whole);
        assert_eq!(bc.canonical_len(), whole.len() as u64);
        let mut limited = Vec::new();
        let mut bc = BodyCanonicalizer::with_limit(c, u64::from(split));
        bc.update(body, &mut limited);
        bc.finish(&mut limited);
        assert!(whole.starts_with(&limited));
        assert_eq!(limited.len(), whole.len().min(usize::from(split)));
    }
    let relaxed = canon::body(Canonicalization::Relaxed, body);
    assert_eq!(canon::body(Canonicalization::Relaxed, &relaxed), relaxed);
});
