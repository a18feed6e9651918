//! Maildir++ `maildirsize`: parsing never panics or overflows, and the limits line of a
//! parsed file reads back as the same limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maildir::quota::{MaildirSize, QuotaLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = MaildirSize::parse(data) else {
        return;
    };
    let line = m.limits.to_line();
    assert_eq!(QuotaLimits::parse(&line).unwrap(), m.limits);
    // Checking any message against any use never panics.
    let _ = m.limits.check(m.usage, u64::MAX, 1);
    let _ = m.limits.check(m.usage, 0, 0);
});
