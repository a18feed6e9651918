//! `maildir-modseq`: parsing never panics, and a compacted log reads back with the same
//! state (highest modseq, per-message modseqs and flags, expunge tombstones).
#![no_main]

use libfuzzer_sys::fuzz_target;
use maildir::modseq::ModseqLog;

fuzz_target!(|data: &[u8]| {
    let Ok(log) = ModseqLog::parse(data) else {
        return;
    };
    // Flags with a line feed cannot be written back; the log never records such flags.
    if log.messages.values().any(|(_, f)| f.contains('\n')) {
        return;
    }
    let again = ModseqLog::parse(&log.serialize()).unwrap();
    assert_eq!(again.highest, log.highest);
    assert_eq!(again.uid_validity, log.uid_validity);
    assert_eq!(again.messages, log.messages);
    assert_eq!(again.expunged, log.expunged);
});
