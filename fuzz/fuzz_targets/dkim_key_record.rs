//! DKIM key records and key material: the record parser, the public-key decoder (SPKI,
//! PKCS#1, raw Ed25519) and the private-key reader (PEM, DER, seeds) never panic, and a
//! parsed key prints a record that parses back to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::dkim::key::{KeyRecordText, KeyType, PublicKey};
use mail_auth_core::dkim::{KeyRecord, SigningKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = KeyRecord::parse(data)
        && let Some(key) = &rec.public_key
    {
        let text = KeyRecordText::new(key);
        let again = KeyRecord::parse(text.value().as_bytes()).expect("our record parses");
        assert_eq!(again.public_key.as_ref(), Some(key));
    }
    for k in [KeyType::Rsa, KeyType::Ed25519] {
        if let Ok(key) = PublicKey::from_record_data(k, data) {
            assert_eq!(key.key_type(), k);
        }
    }
    if let Ok(key) = SigningKey::from_bytes(data) {
        let _ = key.dns_record();
    }
});
