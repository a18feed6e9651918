//! ARC and DKIM over hostile header blocks: the input is a header block (ARC-Seal,
//! ARC-Message-Signature, ARC-Authentication-Results, DKIM-Signature, anything) followed by
//! a short body; both verifiers run to the end against a zone with no records, never panic,
//! and cannot pass without keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::arc::{self, ArcOptions, ChainStatus};
use mail_auth_core::dkim::{Status, VerifyOptions, verify::verify};
use mail_auth_core::dns::{StaticResolver, drive};

fuzz_target!(|data: &[u8]| {
    let mut msg = data.to_vec();
    msg.extend_from_slice(b"\r\n\r\nbody\r\n");
    let zone = StaticResolver::default();
    let out = drive(arc::verify(&msg, ArcOptions::default()), &zone);
    assert_ne!(out.status, ChainStatus::Pass);
    let out = drive(verify(&msg, VerifyOptions::new(1_700_000_000)), &zone);
    assert!(out.signatures.iter().all(|s| s.status != Status::Pass));
    // Split feeding gives the same results.
    let cut = data.len() / 2;
    let mut v = mail_auth_core::dkim::Verifier::new(VerifyOptions::new(1_700_000_000));
    v.update(&msg[..cut]);
    v.update(&msg[cut..]);
    assert_eq!(drive(v.finish(), &zone), out);
});
