//! `subscriptions` (Dovecot version 2 and Courier-style version 1): parsing never panics,
//! and the names read survive a write and a re-read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maildir::store::{parse_subscriptions, serialize_subscriptions};

fuzz_target!(|data: &[u8]| {
    let names = parse_subscriptions(data);
    assert_eq!(parse_subscriptions(&serialize_subscriptions(&names)), names);
});
