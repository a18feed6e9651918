//! Helpers shared by the DKIM and ARC conformance tests.
#![allow(dead_code, unreachable_pub)]

use mail_auth_core::dkim::key::pem_decode;
use mail_auth_core::dkim::{Algorithm, Sign, SignError};
use mail_auth_core::dns::{Record, StaticResolver};
use std::path::{Path, PathBuf};

pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Converts LF line ends to CRLF (leaves existing CRLF alone).
pub fn crlf(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 20);
    let mut prev = 0;
    for &b in msg {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Adds `<fqdn> <TXT text>` lines to a zone.
pub fn add_records(zone: &mut StaticResolver, text: &str) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(char::is_whitespace).expect("name value");
        zone.add(name, Record::Txt(value.trim().as_bytes().to_vec()));
    }
}

/// Counts cases and prints `SUITE: N passed, M failed`.
pub struct Suite {
    name: &'static str,
    passed: usize,
    failed: Vec<String>,
}

impl Suite {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            passed: 0,
            failed: Vec::new(),
        }
    }

    pub fn check(&mut self, case: &str, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            let d = detail();
            eprintln!("FAIL {}: {case}: {d}", self.name);
            self.failed.push(format!("{case}: {d}"));
        }
    }

    pub fn passed(&self) -> usize {
        self.passed
    }

    /// Prints the summary line and returns the failures.
    pub fn finish(self) -> Vec<String> {
        println!(
            "{}: {} passed, {} failed",
            self.name,
            self.passed,
            self.failed.len()
        );
        self.failed
    }
}

/// PKCS#1 v1.5 DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A test-only RSA signing backend on the RustCrypto `rsa` crate, for the 1024-bit keys of
/// the ValiMail and MimeKit suites (ring signs only with 2048 bits and more).
pub struct LegacyRsa(rsa::RsaPrivateKey);

impl LegacyRsa {
    pub fn from_pem(pem: &[u8]) -> Self {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let (label, der) = pem_decode(pem).expect("PEM");
        assert_eq!(label, "RSA PRIVATE KEY");
        Self(rsa::RsaPrivateKey::from_pkcs1_der(&der).expect("PKCS#1 key"))
    }
}

impl Sign for LegacyRsa {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RsaSha256
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, data);
        let scheme = rsa::Pkcs1v15Sign {
            hash_len: Some(32),
            prefix: Box::new(SHA256_PREFIX),
        };
        self.0
            .sign(scheme, digest.as_ref())
            .map_err(|e| SignError::Backend(e.to_string()))
    }
}
