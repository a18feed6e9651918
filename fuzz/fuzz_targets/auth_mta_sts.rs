//! MTA-STS record and policy parsers; a parsed policy printed back parses to itself, and
//! MX matching never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::mta_sts::{Policy, StsRecord};

fuzz_target!(|data: &[u8]| {
    let _ = StsRecord::parse(data);
    if let Ok(p) = Policy::parse(data) {
        assert_eq!(
            Policy::parse(p.to_text().as_bytes())
                .as_ref()
                .map(|q| (&q.mode, &q.mx, q.max_age)),
            Ok((&p.mode, &p.mx, p.max_age))
        );
        for h in ["mx.example.org", "a.b.example.org", "", "."] {
            let _ = p.matches(h);
        }
        if let Some(first) = p.mx.first()
            && !first.starts_with("*.")
        {
            assert!(p.matches(first));
        }
    }
});
