//! DKIM key records (RFC 6376 §3.6.1), the TXT data at `selector._domainkey.domain`.
//!
//! ```text
//! key-record = [ "v=DKIM1" ";" ] *( h= / k= / n= / p= / s= / t= ) ; tag list
//! ```

use super::key::{KeyError, KeyType, PublicKey};
use super::tag::{self, TagError};
use super::{Algorithm, HashAlgorithm};

/// Why a key record is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The tag list does not parse.
    Tags(TagError),
    /// `v=` is present but is not the first tag or not exactly `DKIM1`.
    Version,
    /// `p=` is missing.
    MissingKey,
    /// `k=` names an unknown key type.
    UnknownKeyType(String),
    /// The `p=` data is not a usable key.
    Key(KeyError),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tags(e) => write!(f, "bad key record: {e}"),
            Self::Version => f.write_str("key record v= is not DKIM1 first"),
            Self::MissingKey => f.write_str("key record has no p="),
            Self::UnknownKeyType(k) => write!(f, "unknown key type k={k}"),
            Self::Key(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RecordError {}

/// A parsed key record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// `k=` (default rsa).
    pub key_type: KeyType,
    /// The key; `None` when `p=` is empty: the key is revoked (§3.6.1).
    pub public_key: Option<PublicKey>,
    /// `h=`: acceptable hash algorithms, lower-cased; `None` = all.
    pub hashes: Option<Vec<String>>,
    /// `s=`: service types, lower-cased (default `*`).
    pub services: Vec<String>,
    /// `t=y`: the domain is testing DKIM.
    pub testing: bool,
    /// `t=s`: the `i=` domain must equal `d=` exactly, no subdomains.
    pub strict_identity: bool,
}

impl KeyRecord {
    /// Parses a key record (the TXT strings concatenated).
    pub fn parse(txt: &[u8]) -> Result<Self, RecordError> {
        let tags = tag::parse(txt).map_err(RecordError::Tags)?;
        if let Some(pos) = tags.iter().position(|t| t.name == b"v")
            && (pos != 0 || tags[pos].value != b"DKIM1")
        {
            return Err(RecordError::Version);
        }
        let get = |n: &str| {
            tags.iter()
                .find(|t| t.name == n.as_bytes())
                .map(|t| t.value)
        };
        let key_type = match get("k") {
            None | Some(b"rsa") => KeyType::Rsa,
            Some(b"ed25519") => KeyType::Ed25519,
            Some(other) => {
                return Err(RecordError::UnknownKeyType(
                    String::from_utf8_lossy(other).into_owned(),
                ));
            }
        };
        let p = get("p").ok_or(RecordError::MissingKey)?;
        let public_key = if tag::strip_wsp(p).is_empty() {
            None
        } else {
            let data = tag::base64_value(p)
                .ok_or(RecordError::Key(KeyError::Malformed("bad base64 in p=")))?;
            Some(PublicKey::from_record_data(key_type, &data).map_err(RecordError::Key)?)
        };
        let list = |v: &[u8]| -> Vec<String> {
            tag::colon_list(v)
                .filter(|e| !e.is_empty())
                .map(|e| String::from_utf8_lossy(e).to_ascii_lowercase())
                .collect()
        };
        let flags = get("t").map(list).unwrap_or_default();
        Ok(Self {
            key_type,
            public_key,
            hashes: get("h").map(list),
            services: get("s").map_or_else(|| vec!["*".to_string()], list),
            testing: flags.iter().any(|f| f == "y"),
            strict_identity: flags.iter().any(|f| f == "s"),
        })
    }

    /// Whether the record allows the hash of `alg`.
    pub fn allows_hash(&self, alg: Algorithm) -> bool {
        let name = match alg.hash() {
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
        };
        self.hashes
            .as_ref()
            .is_none_or(|h| h.iter().any(|x| x == name))
    }

    /// Whether the record may be used for mail (`s=` lists `email` or `*`).
    pub fn allows_email(&self) -> bool {
        self.services.iter().any(|s| s == "email" || s == "*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let r =
            KeyRecord::parse(b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
                .unwrap();
        assert_eq!(r.key_type, KeyType::Ed25519);
        assert!(r.public_key.is_some() && r.allows_email() && !r.testing);
        let r = KeyRecord::parse(b"k=rsa; t=y:s; p=").unwrap();
        assert!(r.public_key.is_none() && r.testing && r.strict_identity);
        let r = KeyRecord::parse(b"v=DKIM1; h=sha1; s=tlsrpt; p=").unwrap();
        assert!(!r.allows_email());
        assert!(!r.allows_hash(Algorithm::RsaSha256));
        assert!(r.allows_hash(Algorithm::RsaSha1));
    }

    #[test]
    fn bad_records() {
        assert_eq!(KeyRecord::parse(b"v=DKIM1:; p="), Err(RecordError::Version));
        assert_eq!(KeyRecord::parse(b"p=; v=DKIM1"), Err(RecordError::Version));
        assert_eq!(KeyRecord::parse(b"v=DKIM2; p="), Err(RecordError::Version));
        assert_eq!(
            KeyRecord::parse(b"v=DKIM1; k=rsa"),
            Err(RecordError::MissingKey)
        );
        assert!(matches!(
            KeyRecord::parse(b"k=ed25519-sha256; p=AAAA"),
            Err(RecordError::UnknownKeyType(_))
        ));
        assert!(matches!(
            KeyRecord::parse(b"k=rsa; p=AAAA"),
            Err(RecordError::Key(_))
        ));
        assert!(matches!(
            KeyRecord::parse(b"p=!!"),
            Err(RecordError::Key(_))
        ));
    }
}
