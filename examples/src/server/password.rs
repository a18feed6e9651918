//! Password hashes in Dovecot's scheme-prefixed form (`{SCHEME}hash`), SRV-012.
//!
//! The server stores only hashes. [`verify`] accepts what `doveadm pw` writes for the
//! schemes a small installation meets in practice, so an existing Dovecot `passwd-file` can
//! be moved over unchanged; [`hash`] makes new ones, only with the strong schemes.
//!
//! | scheme | verify | new hashes | format |
//! | --- | --- | --- | --- |
//! | `{ARGON2ID}`, `{ARGON2I}` | yes | `ARGON2ID` (default) | PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash` |
//! | `{BLF-CRYPT}` | yes | yes | bcrypt `$2y$`/`$2b$`/`$2a$` |
//! | `{SHA512-CRYPT}`, `{SHA256-CRYPT}` | yes | `SHA512-CRYPT` | `$6$`/`$5$` (rounds= honoured) |
//! | `{CRYPT}` | when the value is one of the modular forms above | no | |
//! | `{SSHA512}`, `{SSHA256}`, `{SHA512}`, `{SHA256}` | yes | no | base64 of digest (+ salt) |
//! | `{PBKDF2}` | yes | no | `$1$salt$rounds$hex` (HMAC-SHA1, Dovecot's form) |
//! | `{PLAIN}` | yes | only with [`Scheme::Plain`], for tests | the password itself |
//!
//! Anything else (`{MD5-CRYPT}`, `{CRAM-MD5}`, a value without a `{SCHEME}` prefix) is an
//! [`HashError::Unsupported`] error, never a silent mismatch, so a migration finds the
//! accounts it still has to rehash.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Work factor for new `{BLF-CRYPT}` hashes (Dovecot writes 5, which is far too cheap today).
pub const BCRYPT_COST: u32 = 11;

/// Schemes [`hash`] can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// Argon2id with the argon2 crate's defaults (19 MiB, 2 passes, 1 lane: RFC 9106's
    /// second recommended option).
    Argon2id,
    /// bcrypt, `$2y$` with [`BCRYPT_COST`].
    BlfCrypt,
    /// SHA-512 crypt with 5000 rounds (for systems that can only read that).
    Sha512Crypt,
    /// The password in clear: for tests and throw-away installations only.
    Plain,
}

impl Scheme {
    /// The scheme's Dovecot name, as it appears between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "ARGON2ID",
            Self::BlfCrypt => "BLF-CRYPT",
            Self::Sha512Crypt => "SHA512-CRYPT",
            Self::Plain => "PLAIN",
        }
    }

    /// Parses a Dovecot scheme name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Argon2id,
            Self::BlfCrypt,
            Self::Sha512Crypt,
            Self::Plain,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a stored hash could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashError {
    /// The value has no `{SCHEME}` prefix.
    NoScheme,
    /// A scheme this server does not verify.
    Unsupported(String),
    /// The scheme is known but the value after it is not well formed.
    Malformed(&'static str),
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoScheme => f.write_str("the password hash has no {SCHEME} prefix"),
            Self::Unsupported(s) => write!(f, "unsupported password scheme {{{s}}}"),
            Self::Malformed(s) => write!(f, "malformed {s} password hash"),
        }
    }
}

impl std::error::Error for HashError {}

/// Splits `{SCHEME}rest` into the upper-cased scheme and the rest.
fn split_scheme(stored: &str) -> Result<(String, &str), HashError> {
    let rest = stored.strip_prefix('{').ok_or(HashError::NoScheme)?;
    let end = rest.find('}').ok_or(HashError::NoScheme)?;
    Ok((rest[..end].to_ascii_uppercase(), &rest[end + 1..]))
}

/// Checks that `stored` is a hash this module can verify, without a password: used when
/// the user database is loaded, so a bad entry is reported at start, not at first login.
pub fn check_format(stored: &str) -> Result<(), HashError> {
    // Verifying an empty password against the hash runs the same parsing as a login; the
    // result (match or not) does not matter, only whether the value was understood. The
    // expensive schemes are parsed without hashing.
    let (scheme, value) = split_scheme(stored)?;
    match scheme.as_str() {
        "ARGON2ID" | "ARGON2I" | "ARGON2" => argon2::password_hash::PasswordHash::new(value)
            .ok()
            .filter(|h| h.salt.is_some() && h.hash.is_some())
            .map(|_| ())
            .ok_or(HashError::Malformed("ARGON2")),
        "BLF-CRYPT" => bcrypt_parts(value),
        "CRYPT" if value.starts_with("$2") => bcrypt_parts(value),
        _ => verify(stored, "").map(|_| ()),
    }
}

fn bcrypt_parts(value: &str) -> Result<(), HashError> {
    // $2y$05$ + 53 characters of salt and hash.
    let ok = value.len() == 60
        && matches!(&value[..4], "$2y$" | "$2b$" | "$2a$" | "$2x$")
        && value[4..6].bytes().all(|b| b.is_ascii_digit())
        && &value[6..7] == "$";
    if ok {
        Ok(())
    } else {
        Err(HashError::Malformed("BLF-CRYPT"))
    }
}

/// Verifies `password` against a stored `{SCHEME}hash`. `Ok(false)` is a wrong password;
/// an error means the stored value could not be used at all (log it: the account cannot
/// log in until it is rehashed).
///
/// This is CPU-heavy for the slow schemes (by design): call it from a blocking thread.
pub fn verify(stored: &str, password: &str) -> Result<bool, HashError> {
    let (scheme, value) = split_scheme(stored)?;
    match scheme.as_str() {
        "PLAIN" | "CLEAR" | "CLEARTEXT" => Ok(ct_eq(value.as_bytes(), password.as_bytes())),
        "ARGON2ID" | "ARGON2I" | "ARGON2" => verify_argon2(value, password),
        "BLF-CRYPT" => verify_bcrypt(value, password),
        "SHA512-CRYPT" => verify_sha512_crypt(value, password),
        "SHA256-CRYPT" => verify_sha256_crypt(value, password),
        "CRYPT" => {
            if value.starts_with("$2") {
                verify_bcrypt(value, password)
            } else if value.starts_with("$6$") {
                verify_sha512_crypt(value, password)
            } else if value.starts_with("$5$") {
                verify_sha256_crypt(value, password)
            } else {
                Err(HashError::Unsupported("CRYPT (DES or MD5)".into()))
            }
        }
        "SSHA512" => verify_salted(value, password, &ring::digest::SHA512, "SSHA512"),
        "SSHA256" => verify_salted(value, password, &ring::digest::SHA256, "SSHA256"),
        "SHA512" => verify_unsalted(value, password, &ring::digest::SHA512, "SHA512"),
        "SHA256" => verify_unsalted(value, password, &ring::digest::SHA256, "SHA256"),
        "PBKDF2" => verify_pbkdf2(value, password),
        other => Err(HashError::Unsupported(other.to_string())),
    }
}

fn verify_argon2(value: &str, password: &str) -> Result<bool, HashError> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let parsed = PasswordHash::new(value).map_err(|_| HashError::Malformed("ARGON2"))?;
    match argon2::Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(_) => Err(HashError::Malformed("ARGON2")),
    }
}

fn verify_bcrypt(value: &str, password: &str) -> Result<bool, HashError> {
    bcrypt_parts(value)?;
    bcrypt::verify(password, value).map_err(|_| HashError::Malformed("BLF-CRYPT"))
}

fn verify_sha512_crypt(value: &str, password: &str) -> Result<bool, HashError> {
    sha_crypt_shape(value, "6", 86).ok_or(HashError::Malformed("SHA512-CRYPT"))?;
    Ok(sha_crypt::sha512_check(password, value).is_ok())
}

fn verify_sha256_crypt(value: &str, password: &str) -> Result<bool, HashError> {
    sha_crypt_shape(value, "5", 43).ok_or(HashError::Malformed("SHA256-CRYPT"))?;
    Ok(sha_crypt::sha256_check(password, value).is_ok())
}

/// Checks `$ID$[rounds=N$]SALT$HASH` (the sha-crypt crate does not tell a malformed
/// value from a wrong password, so the shape is checked here first).
fn sha_crypt_shape(value: &str, id: &str, hash_len: usize) -> Option<()> {
    let is_b64 = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    };
    let mut parts = value.split('$');
    (parts.next()?.is_empty() && parts.next()? == id).then_some(())?;
    let mut salt = parts.next()?;
    if let Some(r) = salt.strip_prefix("rounds=") {
        let rounds: u64 = r.parse().ok()?;
        (1000..=999_999_999).contains(&rounds).then_some(())?;
        salt = parts.next()?;
    }
    let hash = parts.next()?;
    (parts.next().is_none()
        && salt.len() <= 16
        && is_b64(salt)
        && hash.len() == hash_len
        && is_b64(hash))
    .then_some(())
}

/// `{SSHA512}`: base64(digest(password || salt) || salt).
fn verify_salted(
    value: &str,
    password: &str,
    alg: &'static ring::digest::Algorithm,
    name: &'static str,
) -> Result<bool, HashError> {
    let raw = B64
        .decode(value.trim())
        .map_err(|_| HashError::Malformed(name))?;
    let n = alg.output_len();
    if raw.len() <= n {
        return Err(HashError::Malformed(name));
    }
    let (digest, salt) = raw.split_at(n);
    let mut ctx = ring::digest::Context::new(alg);
    ctx.update(password.as_bytes());
    ctx.update(salt);
    Ok(ct_eq(ctx.finish().as_ref(), digest))
}

fn verify_unsalted(
    value: &str,
    password: &str,
    alg: &'static ring::digest::Algorithm,
    name: &'static str,
) -> Result<bool, HashError> {
    let raw = B64
        .decode(value.trim())
        .map_err(|_| HashError::Malformed(name))?;
    if raw.len() != alg.output_len() {
        return Err(HashError::Malformed(name));
    }
    Ok(ct_eq(
        ring::digest::digest(alg, password.as_bytes()).as_ref(),
        &raw,
    ))
}

/// Dovecot's `{PBKDF2}$1$SALT$ROUNDS$HEX`: PBKDF2-HMAC-SHA1 over the salt string.
fn verify_pbkdf2(value: &str, password: &str) -> Result<bool, HashError> {
    const E: HashError = HashError::Malformed("PBKDF2");
    let mut parts = value.split('$');
    if parts.next() != Some("") || parts.next() != Some("1") {
        return Err(E);
    }
    let salt = parts.next().ok_or(E)?;
    let rounds: u32 = parts.next().and_then(|r| r.parse().ok()).ok_or(E)?;
    let hex = parts.next().ok_or(E)?;
    if parts.next().is_some() || hex.len() != 40 || !(1..=10_000_000).contains(&rounds) {
        return Err(E);
    }
    let mut expected = [0u8; 20];
    for (i, out) in expected.iter_mut().enumerate() {
        *out = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or(E)?, 16).map_err(|_| E)?;
    }
    let rounds = std::num::NonZeroU32::new(rounds).ok_or(E)?;
    Ok(ring::pbkdf2::verify(
        ring::pbkdf2::PBKDF2_HMAC_SHA1,
        rounds,
        salt.as_bytes(),
        password.as_bytes(),
        &expected,
    )
    .is_ok())
}

/// Compares two byte strings in time that depends only on their lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Makes a new `{SCHEME}hash` of `password`.
///
/// CPU-heavy for the slow schemes: call it from a blocking thread in a server.
pub fn hash(scheme: Scheme, password: &str) -> String {
    let value = match scheme {
        Scheme::Argon2id => {
            use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
            let salt = SaltString::generate(&mut OsRng);
            argon2::Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .expect("argon2 with default parameters and a generated salt cannot fail")
                .to_string()
        }
        Scheme::BlfCrypt => bcrypt::hash_with_result(password, BCRYPT_COST)
            .expect("bcrypt with a valid cost cannot fail")
            .format_for_version(bcrypt::Version::TwoY),
        Scheme::Sha512Crypt => {
            sha_crypt::sha512_simple(password, &sha_crypt::Sha512Params::default())
                .expect("SHA512-CRYPT with default parameters cannot fail")
        }
        Scheme::Plain => password.to_string(),
    };
    format!("{{{}}}{value}", scheme.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `doveadm pw -s SCHEME -p 'correct horse'` (Dovecot 2.3.19, Debian 12).
    const DOVEADM: &[&str] = &[
        "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$svLiBy9qXuYk3A5Fp0ZU1g$0wkeD2BEO3aXrrlPJnoKfntQiFQM5mzl++NVHWQG8Xw",
        "{BLF-CRYPT}$2y$05$mVKPORJsr6MEyQtbU0Dc2e8m.78GkEbqOEIHtiQ1wbqJV9/MBBw2y",
        "{SHA512-CRYPT}$6$xdlp/HcfUP5j8tci$ko3zg/cxFUSIbb7LnobT41zDrdkIgXWt0.sWhaC6XZtGsDKdA0DTLxXapuxz.9npxkTyTFOyb5OWgdikAcoeJ0",
        "{SHA256-CRYPT}$5$I8tbC1Luuv.TiUoI$x4GV7acrl3iYvIsKC1zUFdt5lKAHdBPYLAHKxUAfrA7",
        "{SSHA512}+M4ojhFlpOwtgd3urQbKNVRMFfkaPRfT8uW3makOhtLNdbvA6pvoThefvRoRFilKXBLtd5qFptTWaR1ossoYU6udY2I=",
        "{SSHA256}Pzgt1SyoE+N/l9OvLa5C5Uqh9y1+wJ9XmaRJ3tVdeoFdGIid",
        "{PBKDF2}$1$7xLDFjBuKuT3OGIs$5000$4c25df7287012e00ee66d9b5e9367b3a8104c9f7",
        "{PLAIN}correct horse",
        "{CRYPT}$2y$05$BDSq4ToeRiqgaL8dhwb/oewui.pRZiEDr34nGGBBXd0hfh0pW1D36",
        "{SHA512}VraY3v7bWkNbY0r+MyC7rz/c2SC2xQOkRvx7endrKY1HnRumqLYXgI6wv1ec6aldZoNHvKtxSQhayTyyeZUZew==",
    ];

    #[test]
    fn doveadm_vectors_verify() {
        for h in DOVEADM {
            assert_eq!(verify(h, "correct horse"), Ok(true), "{h}");
            assert_eq!(verify(h, "correct horsE"), Ok(false), "{h}");
            assert_eq!(check_format(h), Ok(()), "{h}");
        }
    }

    #[test]
    fn own_hashes_round_trip() {
        for s in [Scheme::BlfCrypt, Scheme::Sha512Crypt, Scheme::Plain] {
            let h = hash(s, "pässword");
            assert!(h.starts_with(&format!("{{{}}}", s.name())), "{h}");
            assert_eq!(verify(&h, "pässword"), Ok(true), "{h}");
            assert_eq!(verify(&h, "password"), Ok(false), "{h}");
            assert_eq!(check_format(&h), Ok(()));
        }
        let a = hash(Scheme::Argon2id, "x");
        assert!(a.starts_with("{ARGON2ID}$argon2id$v=19$"), "{a}");
        assert_eq!(verify(&a, "x"), Ok(true));
        assert_eq!(verify(&a, "y"), Ok(false));
        // Two hashes of one password differ (random salt).
        assert_ne!(
            hash(Scheme::Sha512Crypt, "x"),
            hash(Scheme::Sha512Crypt, "x")
        );
    }

    #[test]
    fn bad_values_are_errors_not_mismatches() {
        assert_eq!(verify("secret", "secret"), Err(HashError::NoScheme));
        assert_eq!(
            verify("{MD5-CRYPT}$1$lmijfkct$KA/R8zLsmCjIt8Rqji8ma.", "x"),
            Err(HashError::Unsupported("MD5-CRYPT".into()))
        );
        assert!(matches!(
            verify("{BLF-CRYPT}$2y$05$short", "x"),
            Err(HashError::Malformed(_))
        ));
        assert!(matches!(
            verify("{SSHA512}not base64!", "x"),
            Err(HashError::Malformed(_))
        ));
        assert!(matches!(
            verify("{PBKDF2}$1$salt$0$00", "x"),
            Err(HashError::Malformed(_))
        ));
        assert!(check_format("{ARGON2ID}$argon2id$garbage").is_err());
        // Scheme names are case-insensitive, as in Dovecot.
        assert_eq!(verify("{plain}x", "x"), Ok(true));
        assert_eq!(Scheme::from_name("blf-crypt"), Some(Scheme::BlfCrypt));
    }
}
