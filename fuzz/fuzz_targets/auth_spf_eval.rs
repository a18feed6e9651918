//! The SPF evaluator against a fake zone: the input is a master file for `example.org.`
//! (so the zone parser is fuzzed too); checks of several senders and client addresses must
//! end, within the lookup limits, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::dns::{DnsMachine, Poll, Resolve, zone};
use mail_auth_core::spf::{SpfResult, Verifier};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(z) = zone::parse(text, Some("example.org.")) else {
        return;
    };
    for ip in ["192.0.2.1", "2001:db8::1", "::ffff:198.51.100.7"] {
        for sender in [
            "user@example.org",
            "",
            "a.b-c@sub.example.org",
            "x@%{d}.example.org",
        ] {
            let mut v = Verifier::mail_from(ip.parse().unwrap(), "helo.example.org", sender)
                .default_explanation("x")
                .now(1_700_000_000);
            let mut rounds = 0;
            let out = loop {
                match v.poll() {
                    Poll::Ready(o) => break o,
                    Poll::Pending(qs) => {
                        assert!(!qs.is_empty());
                        rounds += 1;
                        assert!(rounds < 200, "too many rounds");
                        for q in qs {
                            let a = z.resolver.resolve(&q);
                            v.provide(&q, a);
                        }
                    }
                }
            };
            assert!(out.dns_lookups <= 11);
            assert!(out.void_lookups <= 3);
            if out.result != SpfResult::Fail {
                assert!(out.explanation.is_none());
            }
        }
    }
});
