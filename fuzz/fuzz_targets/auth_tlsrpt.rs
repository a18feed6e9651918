//! TLS-RPT record and JSON report parsers; a parsed report serialized back parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::tlsrpt::{TlsReport, TlsRptRecord};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = TlsRptRecord::parse(data) {
        assert_eq!(TlsRptRecord::parse(r.to_txt().as_bytes()), Ok(r));
    }
    if let Ok(r) = TlsReport::parse(data) {
        assert_eq!(TlsReport::parse(r.to_json().as_bytes()).ok(), Some(r));
    }
});
