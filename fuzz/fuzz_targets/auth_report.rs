//! Report parsers: aggregate XML (and its generator as a round trip), container
//! extraction (gzip, zip, e-mail) under small limits, and failure reports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::report::{self, AggregateReport, Limits, parse_failure};

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits.max_decompressed = 1 << 20;
    limits.max_records = 1000;
    if let Ok(r) = AggregateReport::parse(data, &limits) {
        let again =
            AggregateReport::parse(r.to_xml().as_bytes(), &limits).expect("generated XML parses");
        assert_eq!(again.records.len(), r.records.len());
    }
    if let Ok(found) = report::extract(data, &limits) {
        assert!(found.len() <= 1 + limits.max_zip_entries * 64);
    }
    let _ = parse_failure(data);
});
