//! DMARC record parser and linter: never panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::dmarc::{Record, is_dmarc_record};

fuzz_target!(|data: &[u8]| {
    let r = Record::parse(data);
    assert_eq!(
        r.is_ok(),
        is_dmarc_record(data) && std::str::from_utf8(data).is_ok()
    );
    if let Ok(r) = r {
        assert!(r.pct <= 100);
        for u in r.rua.iter().chain(&r.ruf) {
            let _ = u.mailto();
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Record::lint(s);
    }
});
