//! DKIM (RFC 6376, RFC 8301, RFC 8463): verify and sign.
//!
//! - [`Verifier`] streams a message (header, then body in chunks of any size, memory
//!   bounded by the header limit and a few hash states), evaluates every DKIM-Signature in
//!   one pass, and becomes a [`Verification`], a [`DnsMachine`](crate::dns::DnsMachine)
//!   that asks for the key records and answers one [`SignatureResult`] per signature.
//! - [`Signer`] signs with rsa-sha256 or ed25519-sha256 ([`SigningKey`] from PEM, DER or an
//!   Ed25519 seed; or any [`Sign`] backend) and returns the DKIM-Signature field.
//! - [`key`] reads and generates keys and writes the DNS record for them.
//!
//! ```
//! use mail_auth_core::dkim::{Signer, SigningKey, Verifier, VerifyOptions, Status};
//! use mail_auth_core::dns::{Record, StaticResolver, drive};
//!
//! // RFC 8463 A.1: an Ed25519 key.
//! let key = SigningKey::from_bytes(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
//! let mut zone = StaticResolver::default();
//! zone.add("sel._domainkey.example.org", Record::Txt(key.dns_record().value().as_bytes().to_vec()));
//!
//! let msg = b"From: a@example.org\r\nSubject: hi\r\n\r\nHello.\r\n";
//! let now = 1_700_000_000;
//! let field = Signer::new(&key, "example.org", "sel").unwrap().sign(msg, now).unwrap();
//! let signed = [field.as_bytes(), msg].concat();
//!
//! let mut v = Verifier::new(VerifyOptions::new(now));
//! v.update(&signed);               // any chunking works
//! let out = drive(v.finish(), &zone);
//! assert_eq!(out.signatures[0].status, Status::Pass);
//! ```

pub mod canon;
pub(crate) mod header;
pub mod key;
pub mod record;
pub mod sign;
pub mod signature;
pub mod tag;
pub mod verify;

pub use key::{KeyType, PublicKey, Sign, SignError, SigningKey};
pub use record::KeyRecord;
pub use sign::Signer;
pub use signature::Signature;
pub use verify::{
    LengthPolicy, Reason, SignatureResult, Status, Verification, Verifier, VerifyOptions,
    VerifyOutput,
};

/// A signing algorithm (`a=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `rsa-sha1`: verify only, and only when enabled (RFC 8301 §3.1 forbids it).
    RsaSha1,
    /// `rsa-sha256`.
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

/// A hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1 (legacy).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl HashAlgorithm {
    pub(crate) fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            Self::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &ring::digest::SHA256,
        }
    }
}

impl Algorithm {
    /// Parses an `a=` value.
    pub fn parse(a: &[u8]) -> Option<Self> {
        match a {
            b"rsa-sha1" => Some(Self::RsaSha1),
            b"rsa-sha256" => Some(Self::RsaSha256),
            b"ed25519-sha256" => Some(Self::Ed25519Sha256),
            _ => None,
        }
    }

    /// The `a=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha1 => "rsa-sha1",
            Self::RsaSha256 => "rsa-sha256",
            Self::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The hash algorithm.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaSha1 => HashAlgorithm::Sha1,
            Self::RsaSha256 | Self::Ed25519Sha256 => HashAlgorithm::Sha256,
        }
    }

    /// The key type.
    pub fn key_type(self) -> KeyType {
        match self {
            Self::RsaSha1 | Self::RsaSha256 => KeyType::Rsa,
            Self::Ed25519Sha256 => KeyType::Ed25519,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
