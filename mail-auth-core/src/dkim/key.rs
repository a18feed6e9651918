//! Keys: public keys from `p=` (RSA as SubjectPublicKeyInfo or PKCS#1 RSAPublicKey, Ed25519
//! raw or SPKI), private keys for signing (PKCS#1, PKCS#8, raw Ed25519 seeds, PEM or DER),
//! key generation and the DNS record text for a key (RFC 6376 §3.6.1, RFC 8463 §4).
//!
//! Cryptography is ring's. ring signs only with RSA keys of 2048 bits and more and
//! verifies keys of 1024 to 8192 bits; RFC 8301 §3.2 forbids keys under 1024 bits, so
//! ring's floors are this crate's floors. The [`Sign`] trait lets a caller bring another
//! signing backend (an HSM, or another RSA implementation for legacy 1024-bit keys).

use base64::Engine;
use ring::signature::{self, KeyPair};

use super::Algorithm;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// OID 1.2.840.113549.1.1.1 (rsaEncryption), DER content octets.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// OID 1.3.101.112 (id-Ed25519), DER content octets.
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The key type of a key record (`k=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// `k=rsa` (the default).
    Rsa,
    /// `k=ed25519` (RFC 8463).
    Ed25519,
}

impl KeyType {
    /// The `k=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }
}

/// Why a key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The key data is not valid base64, DER or PEM, or not a key of the stated type.
    Malformed(&'static str),
    /// An RSA key shorter than the floor (bits found, floor).
    TooShort {
        /// The key's modulus length.
        bits: usize,
        /// The smallest length accepted.
        min: usize,
    },
    /// An RSA key longer than 8192 bits (ring's limit; DNS could not carry it anyway).
    TooLong(usize),
    /// The key type does not fit the algorithm.
    WrongType,
    /// ring refused the key (for signing: RSA keys must have 2048 to 8192 bits).
    Rejected(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(w) => write!(f, "malformed key: {w}"),
            Self::TooShort { bits, min } => {
                write!(f, "{bits}-bit key is below the {min}-bit floor")
            }
            Self::TooLong(b) => write!(f, "{b}-bit key is too long"),
            Self::WrongType => f.write_str("key type does not match the algorithm"),
            Self::Rejected(w) => write!(f, "key rejected: {w}"),
        }
    }
}

impl std::error::Error for KeyError {}

// ---------------------------------------------------------------------------------------
// A minimal DER reader and writer: only what keys need (SEQUENCE, INTEGER, BIT STRING,
// OCTET STRING, OID, NULL). The key parsers themselves are ring's; this finds the parts.

fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn der_write(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// The bit length of a DER INTEGER's value (ignoring a leading zero octet).
fn integer_bits(int: &[u8]) -> usize {
    let int = match int.iter().position(|&b| b != 0) {
        Some(p) => &int[p..],
        None => return 0,
    };
    int.len() * 8 - int[0].leading_zeros() as usize
}

/// Parses an RSAPublicKey (PKCS#1) and returns its modulus length in bits.
fn rsa_public_key_bits(der: &[u8]) -> Option<usize> {
    let (tag, seq, rest) = der_read(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (t1, n, rest) = der_read(seq)?;
    let (t2, _e, rest) = der_read(rest)?;
    (t1 == 0x02 && t2 == 0x02 && rest.is_empty()).then(|| integer_bits(n))
}

/// Splits a SubjectPublicKeyInfo into (algorithm OID, key bits).
fn spki_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, seq, rest) = der_read(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (t_alg, alg, rest) = der_read(seq)?;
    let (t_bits, bits, rest) = der_read(rest)?;
    if t_alg != 0x30 || t_bits != 0x03 || !rest.is_empty() {
        return None;
    }
    let (t_oid, oid, _params) = der_read(alg)?;
    let (&unused, key) = bits.split_first()?;
    (t_oid == 0x06 && unused == 0).then_some((oid, key))
}

fn spki(oid: &[u8], params_null: bool, key: &[u8]) -> Vec<u8> {
    let mut alg = Vec::new();
    der_write(0x06, oid, &mut alg);
    if params_null {
        der_write(0x05, &[], &mut alg);
    }
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut seq = Vec::new();
    der_write(0x30, &alg, &mut seq);
    der_write(0x03, &bits, &mut seq);
    let mut out = Vec::new();
    der_write(0x30, &seq, &mut out);
    out
}

// ---------------------------------------------------------------------------------------

/// A public key from a DKIM key record.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: PublicInner,
}

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    /// PKCS#1 RSAPublicKey DER and the modulus length.
    Rsa {
        der: Vec<u8>,
        bits: usize,
    },
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            PublicInner::Rsa { bits, .. } => write!(f, "PublicKey(rsa, {bits} bits)"),
            PublicInner::Ed25519(_) => f.write_str("PublicKey(ed25519)"),
        }
    }
}

impl PublicKey {
    /// Decodes the (base64-decoded) `p=` data of a key record of type `k`.
    ///
    /// RSA keys may be SubjectPublicKeyInfo (what RFC 6376 §3.6.1 specifies) or a bare
    /// PKCS#1 RSAPublicKey (which some signers publish); Ed25519 keys are the raw 32 octets
    /// (RFC 8463 §4) or, leniently, an SPKI around them.
    pub fn from_record_data(k: KeyType, data: &[u8]) -> Result<Self, KeyError> {
        match k {
            KeyType::Rsa => {
                let der = match spki_parts(data) {
                    Some((oid, key)) if oid == OID_RSA => key.to_vec(),
                    Some(_) => return Err(KeyError::WrongType),
                    None => data.to_vec(),
                };
                let bits = rsa_public_key_bits(&der)
                    .ok_or(KeyError::Malformed("not an RSA public key"))?;
                if bits > 8192 {
                    return Err(KeyError::TooLong(bits));
                }
                Ok(Self {
                    inner: PublicInner::Rsa { der, bits },
                })
            }
            KeyType::Ed25519 => {
                let raw = match spki_parts(data) {
                    Some((oid, key)) if oid == OID_ED25519 => key,
                    Some(_) => return Err(KeyError::WrongType),
                    None => data,
                };
                let key: [u8; 32] = raw
                    .try_into()
                    .map_err(|_| KeyError::Malformed("an Ed25519 key is 32 octets"))?;
                Ok(Self {
                    inner: PublicInner::Ed25519(key),
                })
            }
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match self.inner {
            PublicInner::Rsa { .. } => KeyType::Rsa,
            PublicInner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The key length in bits (the RSA modulus; 256 for Ed25519).
    pub fn bits(&self) -> usize {
        match self.inner {
            PublicInner::Rsa { bits, .. } => bits,
            PublicInner::Ed25519(_) => 256,
        }
    }

    /// The `p=` value: base64 of the SubjectPublicKeyInfo (RSA) or of the raw key
    /// (Ed25519).
    pub fn record_data(&self) -> String {
        match &self.inner {
            PublicInner::Rsa { der, .. } => B64.encode(spki(OID_RSA, true, der)),
            PublicInner::Ed25519(k) => B64.encode(k),
        }
    }

    /// Verifies `sig` over `data` for `alg`: for RSA, `data` is the signed octets (hashed
    /// here); for Ed25519 (RFC 8463 §3), it is the SHA-256 digest of them.
    pub(crate) fn verify(&self, alg: Algorithm, data: &[u8], sig: &[u8]) -> Result<(), ()> {
        match (&self.inner, alg) {
            (PublicInner::Rsa { der, .. }, Algorithm::RsaSha256) => {
                signature::UnparsedPublicKey::new(
                    &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                    der,
                )
                .verify(data, sig)
                .map_err(|_| ())
            }
            (PublicInner::Rsa { der, .. }, Algorithm::RsaSha1) => {
                signature::UnparsedPublicKey::new(
                    &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    der,
                )
                .verify(data, sig)
                .map_err(|_| ())
            }
            (PublicInner::Ed25519(k), Algorithm::Ed25519Sha256) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, k)
                    .verify(data, sig)
                    .map_err(|_| ())
            }
            _ => Err(()),
        }
    }
}

// ---------------------------------------------------------------------------------------

/// Why signing failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The backend failed (ring reports no detail).
    Backend(String),
    /// The message has no From header field (RFC 6376 §5.4: From must be signed).
    NoFrom,
    /// The header block is larger than the signer's limit, or never ends.
    HeaderTooLarge,
    /// A setting is invalid (domain, selector, identity, header list).
    Config(String),
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Backend(w) => write!(f, "signing failed: {w}"),
            Self::NoFrom => f.write_str("the message has no From header field"),
            Self::HeaderTooLarge => f.write_str("the header block is too large"),
            Self::Config(w) => write!(f, "bad signer setting: {w}"),
        }
    }
}

impl std::error::Error for SignError {}

/// A signing backend: anything that can produce a DKIM signature over the canonical
/// header octets.
pub trait Sign {
    /// The algorithm the signatures use (the `a=` tag).
    fn algorithm(&self) -> Algorithm;
    /// Signs `data`, the canonicalized header fields as RFC 6376 §3.7 lists them. RSA
    /// backends hash `data` with the algorithm's hash and sign with PKCS#1 v1.5; Ed25519
    /// backends sign the SHA-256 digest of `data` (RFC 8463 §3).
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A private key for signing, held by ring.
pub struct SigningKey {
    inner: SigningInner,
}

enum SigningInner {
    Rsa(signature::RsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        match &self.inner {
            SigningInner::Rsa(k) => {
                write!(f, "SigningKey(rsa, {} bits)", k.public().modulus_len() * 8)
            }
            SigningInner::Ed25519(_) => f.write_str("SigningKey(ed25519)"),
        }
    }
}

impl SigningKey {
    /// Reads a private key in any of the formats signers use:
    ///
    /// - PEM `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8, RSA or Ed25519);
    /// - the same as DER;
    /// - an Ed25519 32-octet seed, raw or base64 (dkimpy's `.key` files, RFC 8463 A.1).
    pub fn from_bytes(input: &[u8]) -> Result<Self, KeyError> {
        let text = trim_ascii(input);
        if text.starts_with(b"-----BEGIN") {
            let (label, der) = pem_decode(text).ok_or(KeyError::Malformed("bad PEM"))?;
            return match label.as_str() {
                "RSA PRIVATE KEY" => Self::from_pkcs1_der(&der),
                "PRIVATE KEY" => Self::from_pkcs8_der(&der),
                _ => Err(KeyError::Malformed("PEM label is not a private key")),
            };
        }
        if input.len() == 32 {
            return Self::from_ed25519_seed(input);
        }
        if let Ok(raw) = B64.decode(tag_strip(text)) {
            if raw.len() == 32 {
                return Self::from_ed25519_seed(&raw);
            }
            // A 64-octet seed + public key (some tools write this).
            if raw.len() == 64 {
                return Self::from_ed25519_seed(&raw[..32]);
            }
        }
        if input.first() == Some(&0x30) {
            return Self::from_pkcs8_der(input).or_else(|_| Self::from_pkcs1_der(input));
        }
        Err(KeyError::Malformed("not a PEM, DER or Ed25519 seed key"))
    }

    /// An RSA key from PKCS#1 RSAPrivateKey DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        signature::RsaKeyPair::from_der(der)
            .map(|k| Self {
                inner: SigningInner::Rsa(k),
            })
            .map_err(|e| KeyError::Rejected(e.to_string()))
    }

    /// An RSA or Ed25519 key from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        match signature::RsaKeyPair::from_pkcs8(der) {
            Ok(k) => Ok(Self {
                inner: SigningInner::Rsa(k),
            }),
            Err(rsa_err) => signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map(|k| Self {
                    inner: SigningInner::Ed25519(k),
                })
                .map_err(|_| KeyError::Rejected(rsa_err.to_string())),
        }
    }

    /// An Ed25519 key from its 32-octet seed (the RFC 8032 private key).
    pub fn from_ed25519_seed(seed: &[u8]) -> Result<Self, KeyError> {
        signature::Ed25519KeyPair::from_seed_unchecked(seed)
            .map(|k| Self {
                inner: SigningInner::Ed25519(k),
            })
            .map_err(|e| KeyError::Rejected(e.to_string()))
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match self.inner {
            SigningInner::Rsa(_) => KeyType::Rsa,
            SigningInner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match &self.inner {
            SigningInner::Rsa(k) => {
                let der = k.public().as_ref().to_vec();
                let bits = rsa_public_key_bits(&der).unwrap_or(0);
                PublicKey {
                    inner: PublicInner::Rsa { der, bits },
                }
            }
            SigningInner::Ed25519(k) => {
                let mut raw = [0u8; 32];
                raw.copy_from_slice(k.public_key().as_ref());
                PublicKey {
                    inner: PublicInner::Ed25519(raw),
                }
            }
        }
    }

    /// The key record to publish at `selector._domainkey.domain`.
    pub fn dns_record(&self) -> KeyRecordText {
        KeyRecordText::new(&self.public_key())
    }
}

impl Sign for SigningKey {
    fn algorithm(&self) -> Algorithm {
        match self.inner {
            SigningInner::Rsa(_) => Algorithm::RsaSha256,
            SigningInner::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.inner {
            SigningInner::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|e| SignError::Backend(e.to_string()))?;
                Ok(sig)
            }
            SigningInner::Ed25519(k) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, data);
                Ok(k.sign(digest.as_ref()).as_ref().to_vec())
            }
        }
    }
}

fn trim_ascii(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

fn tag_strip(s: &[u8]) -> Vec<u8> {
    s.iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect()
}

/// Decodes one PEM block: its label and its content.
pub fn pem_decode(text: &[u8]) -> Option<(String, Vec<u8>)> {
    let text = std::str::from_utf8(text).ok()?;
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker)?;
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Some((label, B64.decode(body).ok()?))
}

/// Encodes DER as PEM with 64-column lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The text of a DKIM key record (RFC 6376 §3.6.1), ready for DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecordText {
    value: String,
}

impl KeyRecordText {
    /// `v=DKIM1; k=<type>; p=<key>` for a public key.
    pub fn new(key: &PublicKey) -> Self {
        Self {
            value: format!(
                "v=DKIM1; k={}; p={}",
                key.key_type().as_str(),
                key.record_data()
            ),
        }
    }

    /// The record value (what a TXT query returns, strings concatenated).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value as quoted character-strings of at most 255 octets each (RFC 1035
    /// §3.3.14; RFC 6376 §3.6.2.2 concatenates them), separated by single spaces.
    pub fn quoted_strings(&self) -> String {
        self.value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A zone-file line: `<selector>._domainkey IN TXT ( "..." "..." )`, with the owner
    /// name relative to the zone of the signing domain (as opendkim-genkey writes it).
    pub fn zone_line(&self, selector: &str) -> String {
        let parts: Vec<String> = self
            .value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect();
        format!("{selector}._domainkey\tIN\tTXT\t( {} )", parts.join("\n\t"))
    }
}

impl std::fmt::Display for KeyRecordText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value)
    }
}

/// A freshly generated key: the signing key and its PKCS#8 PEM for storage.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The key, ready to sign.
    pub key: SigningKey,
    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Store it readable by
    /// the signing service only (DKIM-019).
    pub private_pem: String,
}

/// Generates an Ed25519 key (RFC 8463) with ring's system random generator.
pub fn generate_ed25519() -> Result<GeneratedKey, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
    let key = SigningKey::from_pkcs8_der(pkcs8.as_ref())?;
    Ok(GeneratedKey {
        key,
        private_pem: pem_encode("PRIVATE KEY", pkcs8.as_ref()),
    })
}

/// Generates an RSA key of `bits` bits (2048 to 4096; RFC 8301 recommends 2048) with the
/// RustCrypto `rsa` crate (ring cannot generate RSA keys), then hands it to ring.
#[cfg(feature = "rsa-keygen")]
pub fn generate_rsa(bits: usize) -> Result<GeneratedKey, KeyError> {
    use rsa::pkcs8::EncodePrivateKey;
    if !(2048..=4096).contains(&bits) {
        return Err(KeyError::Rejected(format!(
            "RSA keys for signing must have 2048 to 4096 bits, not {bits}"
        )));
    }
    let mut rng = rsa::rand_core::OsRng;
    let private =
        rsa::RsaPrivateKey::new(&mut rng, bits).map_err(|e| KeyError::Rejected(e.to_string()))?;
    let der = private
        .to_pkcs8_der()
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
    let key = SigningKey::from_pkcs8_der(der.as_bytes())?;
    Ok(GeneratedKey {
        key,
        private_pem: pem_encode("PRIVATE KEY", der.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8463 A.1/A.2: the Ed25519 example key and its record data.
    const ED_SEED: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    const ED_PUB: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    #[test]
    fn ed25519_seed_gives_rfc8463_public_key() {
        let k = SigningKey::from_bytes(ED_SEED.as_bytes()).unwrap();
        assert_eq!(k.key_type(), KeyType::Ed25519);
        assert_eq!(k.public_key().record_data(), ED_PUB);
        assert_eq!(
            k.dns_record().value(),
            format!("v=DKIM1; k=ed25519; p={ED_PUB}")
        );
        let pk =
            PublicKey::from_record_data(KeyType::Ed25519, &B64.decode(ED_PUB).unwrap()).unwrap();
        assert_eq!(pk, k.public_key());
        assert_eq!(pk.bits(), 256);
    }

    #[test]
    fn ed25519_sign_verify_round_trip() {
        let k = SigningKey::from_bytes(ED_SEED.as_bytes()).unwrap();
        let sig = k.sign(b"data").unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, b"data");
        assert!(
            k.public_key()
                .verify(Algorithm::Ed25519Sha256, digest.as_ref(), &sig)
                .is_ok()
        );
        assert!(
            k.public_key()
                .verify(Algorithm::Ed25519Sha256, b"other", &sig)
                .is_err()
        );
        assert!(
            k.public_key()
                .verify(Algorithm::RsaSha256, digest.as_ref(), &sig)
                .is_err()
        );
    }

    #[test]
    fn generated_ed25519_round_trips_through_pem() {
        let g = generate_ed25519().unwrap();
        let again = SigningKey::from_bytes(g.private_pem.as_bytes()).unwrap();
        assert_eq!(again.public_key(), g.key.public_key());
    }

    #[test]
    fn der_helpers() {
        assert_eq!(integer_bits(&[0x00, 0x80, 0]), 16);
        assert_eq!(integer_bits(&[0x01, 0]), 9);
        let mut out = Vec::new();
        der_write(0x04, &[0u8; 300], &mut out);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (t, v, rest) = der_read(&out).unwrap();
        assert_eq!((t, v.len(), rest.len()), (0x04, 300, 0));
        assert!(der_read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(der_read(&[0x30, 0x05, 1]).is_none());
    }

    #[test]
    fn malformed_keys() {
        assert!(PublicKey::from_record_data(KeyType::Rsa, b"garbage").is_err());
        assert!(PublicKey::from_record_data(KeyType::Ed25519, &[0u8; 31]).is_err());
        assert!(SigningKey::from_bytes(b"not a key").is_err());
        assert!(
            SigningKey::from_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }

    #[test]
    fn record_text_is_split_into_255_octet_strings() {
        let long = KeyRecordText {
            value: "p=".to_string() + &"A".repeat(400),
        };
        let q = long.quoted_strings();
        let parts: Vec<&str> = q.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].len(), 257);
        assert!(
            long.zone_line("sel")
                .starts_with("sel._domainkey\tIN\tTXT\t( \"")
        );
    }
}
