//! Password hashes against Dovecot's `doveadm pw` (Dovecot is installed by
//! `.ci/install-deps`): hashes Dovecot makes verify here, and hashes this server makes
//! verify in Dovecot (`doveadm pw -t`), for every scheme both sides support.

use std::process::Command;

use examples::server::password::{self, Scheme};

fn doveadm(args: &[&str]) -> (bool, String) {
    let out = Command::new("doveadm")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("doveadm not runnable ({e}): install Dovecot with .ci/install-deps")
        });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_string(),
    )
}

#[test]
#[ignore = "interop: needs doveadm (Dovecot, installed by .ci/install-deps)"]
fn dovecot_hashes_verify_here() {
    let pw = "Tr0ub4dor & 3 ünïcode";
    for scheme in [
        "ARGON2ID",
        "ARGON2I",
        "BLF-CRYPT",
        "SHA512-CRYPT",
        "SHA256-CRYPT",
        "SSHA512",
        "SSHA256",
        "SHA512",
        "SHA256",
        "PBKDF2",
        "PLAIN",
        "CRYPT",
    ] {
        let (ok, hash) = doveadm(&["pw", "-s", scheme, "-p", pw]);
        assert!(ok, "doveadm pw -s {scheme}: {hash}");
        assert_eq!(password::verify(&hash, pw), Ok(true), "{scheme}: {hash}");
        assert_eq!(
            password::verify(&hash, "wrong"),
            Ok(false),
            "{scheme}: {hash}"
        );
    }
    // Schemes refused with a clear error, never a silent mismatch.
    for scheme in ["MD5-CRYPT", "CRAM-MD5"] {
        let (ok, hash) = doveadm(&["pw", "-s", scheme, "-p", pw]);
        assert!(ok, "{hash}");
        assert!(password::verify(&hash, pw).is_err(), "{scheme}");
    }
}

#[test]
#[ignore = "interop: needs doveadm (Dovecot, installed by .ci/install-deps)"]
fn our_hashes_verify_in_dovecot() {
    let pw = "correct horse battery staple";
    for scheme in [
        Scheme::Argon2id,
        Scheme::BlfCrypt,
        Scheme::Sha512Crypt,
        Scheme::Plain,
    ] {
        let hash = password::hash(scheme, pw);
        let (ok, out) = doveadm(&["pw", "-t", &hash, "-p", pw]);
        assert!(ok && out.contains("verified"), "{scheme}: {hash}: {out}");
        let (ok, out) = doveadm(&["pw", "-t", &hash, "-p", "wrong"]);
        assert!(!ok, "{scheme}: a wrong password verified: {out}");
    }
}
