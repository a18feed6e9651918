//! DANE for SMTP (RFC 7671, RFC 7672): matching TLSA records against a certificate chain.
//!
//! DANE acts only on DNSSEC-secure answers (DANE-001, DANE-002): [`check`] first looks at
//! the answer's [`Dnssec`] status, then matches the usable records. For SMTP the usable
//! certificate usages are DANE-TA(2) and DANE-EE(3) (RFC 7672 §3.1.3); PKIX-TA(0) and
//! PKIX-EE(1) records, and unknown selectors or matching types, are unusable.
//!
//! - DANE-EE(3): the server's own certificate (or its public key) must match. Names and
//!   validity dates are not checked (RFC 7671 §5.1).
//! - DANE-TA(2): a CA certificate in the chain must match; the caller must then validate
//!   the chain from the server certificate up to that trust anchor and check the name
//!   (the MX host, RFC 7672 §3.2.2), which [`DaneVerdict::Matched`] says.
//!
//! ```
//! use mail_auth_core::dane::{DaneVerdict, check, tlsa_question, tlsa_record};
//! use mail_auth_core::dns::{Answer, Dnssec};
//! # let leaf: Vec<u8> = include_bytes!("../tests/data/dane/leaf.der").to_vec();
//!
//! assert_eq!(tlsa_question("mx.example.org", 25).name(), "_25._tcp.mx.example.org");
//! let record = tlsa_record(&leaf, 3, 1, 1).unwrap(); // "3 1 1": DANE-EE, SPKI, SHA-256
//! let secure = Answer::Records { records: vec![record.clone()], ttl: 300, dnssec: Dnssec::Secure };
//! assert!(matches!(check(&secure, &[leaf.clone()]), DaneVerdict::Matched { usage: 3, .. }));
//! // The same records without DNSSEC: DANE does not apply.
//! assert_eq!(check(&Answer::records(vec![record]), &[leaf]), DaneVerdict::Insecure);
//! ```

use ring::digest;

use crate::dns::{Answer, Dnssec, Question, Record, RecordType};

/// The TLSA question for a host and port: `_<port>._tcp.<host>`.
pub fn tlsa_question(host: &str, port: u16) -> Question {
    Question::new(&format!("_{port}._tcp.{host}"), RecordType::Tlsa)
}

/// What the TLSA answer means for a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaneVerdict {
    /// The answer is not DNSSEC-validated: DANE does not apply (opportunistic TLS, or
    /// MTA-STS if the domain has it).
    Insecure,
    /// DNSSEC proves there are no TLSA records: DANE does not apply (DANE-001: `may`).
    NoRecords,
    /// Validation failed or the lookup failed: do not deliver to this host now.
    TempFail,
    /// Records exist but none is usable: TLS is still mandatory (never cleartext), without
    /// authentication (RFC 7672 §2.2).
    Unusable,
    /// A usable record matched.
    Matched {
        /// The record's certificate usage (2 or 3).
        usage: u8,
        /// Which certificate of the chain matched (0 is the server's).
        depth: usize,
        /// For DANE-TA(2): the caller must still validate the chain up to `depth` and
        /// check the server name.
        needs_chain_validation: bool,
    },
    /// Usable records exist and none matched: authentication failed; do not deliver to
    /// this host.
    NoMatch,
}

/// Matches a TLSA answer against a certificate chain (DER, server certificate first).
pub fn check(answer: &Answer, chain: &[Vec<u8>]) -> DaneVerdict {
    match answer {
        Answer::TempFail(_) | Answer::PermFail(_) => return DaneVerdict::TempFail,
        _ if answer.dnssec() == Dnssec::Bogus => return DaneVerdict::TempFail,
        _ if answer.dnssec() != Dnssec::Secure => return DaneVerdict::Insecure,
        Answer::NoData { .. } | Answer::NxDomain { .. } => return DaneVerdict::NoRecords,
        _ => {}
    }
    let mut usable = false;
    for r in answer.as_records() {
        let Record::Tlsa {
            usage,
            selector,
            matching,
            data,
        } = r
        else {
            continue;
        };
        if !matches!(usage, 2 | 3) || *selector > 1 || *matching > 2 {
            continue;
        }
        // A digest of the wrong length can never match: unusable (RFC 7671 §5.2).
        if (*matching == 1 && data.len() != 32) || (*matching == 2 && data.len() != 64) {
            continue;
        }
        usable = true;
        let depths: Vec<usize> = if *usage == 3 {
            vec![0]
        } else {
            (1..chain.len()).collect()
        };
        for depth in depths {
            let Some(cert) = chain.get(depth) else {
                continue;
            };
            if association(cert, *selector, *matching).is_some_and(|a| a == *data) {
                return DaneVerdict::Matched {
                    usage: *usage,
                    depth,
                    needs_chain_validation: *usage == 2,
                };
            }
        }
    }
    if usable {
        DaneVerdict::NoMatch
    } else {
        DaneVerdict::Unusable
    }
}

/// The certificate association data of a certificate for a selector (0 full certificate,
/// 1 SubjectPublicKeyInfo) and matching type (0 exact, 1 SHA-256, 2 SHA-512); `None` when
/// the certificate cannot be parsed or the parameters are unknown.
pub fn association(cert_der: &[u8], selector: u8, matching: u8) -> Option<Vec<u8>> {
    let selected = match selector {
        0 => cert_der,
        1 => spki(cert_der)?,
        _ => return None,
    };
    match matching {
        0 => Some(selected.to_vec()),
        1 => Some(digest::digest(&digest::SHA256, selected).as_ref().to_vec()),
        2 => Some(digest::digest(&digest::SHA512, selected).as_ref().to_vec()),
        _ => None,
    }
}

/// A TLSA record for a certificate (DANE-003: `3 1 1` for the server's key is the usual).
pub fn tlsa_record(cert_der: &[u8], usage: u8, selector: u8, matching: u8) -> Option<Record> {
    Some(Record::Tlsa {
        usage,
        selector,
        matching,
        data: association(cert_der, selector, matching)?,
    })
}

/// One DER TLV: (tag, the whole TLV, its contents).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((tag, whole, &whole[hdr..]))
}

/// The SubjectPublicKeyInfo of an X.509 certificate (RFC 5280 §4.1), DER.
pub fn spki(cert_der: &[u8]) -> Option<&[u8]> {
    let (t, _, cert) = tlv(cert_der)?;
    if t != 0x30 {
        return None;
    }
    let (t, _, mut tbs) = tlv(cert)?;
    if t != 0x30 {
        return None;
    }
    // [0] version (optional), serialNumber, signature, issuer, validity, subject, SPKI.
    if tbs.first() == Some(&0xa0) {
        let (_, whole, _) = tlv(tbs)?;
        tbs = &tbs[whole.len()..];
    }
    for _ in 0..5 {
        let (_, whole, _) = tlv(tbs)?;
        tbs = &tbs[whole.len()..];
    }
    let (t, whole, _) = tlv(tbs)?;
    (t == 0x30).then_some(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf() -> Vec<u8> {
        include_bytes!("../tests/data/dane/leaf.der").to_vec()
    }

    fn ca() -> Vec<u8> {
        include_bytes!("../tests/data/dane/ca.der").to_vec()
    }

    fn secure(records: Vec<Record>) -> Answer {
        Answer::Records {
            records,
            ttl: 60,
            dnssec: Dnssec::Secure,
        }
    }

    #[test]
    fn spki_matches_the_key() {
        let spki_expected = include_bytes!("../tests/data/dane/leaf.spki.der");
        assert_eq!(spki(&leaf()), Some(&spki_expected[..]));
        assert!(spki(b"\x30\x03\x02\x01\x00").is_none());
        assert!(spki(&leaf()[..leaf().len() - 1]).is_none());
    }

    #[test]
    fn sha256_of_spki_agrees_with_openssl() {
        // tests/data/dane/README.md: the openssl pipeline's SHA-256 of the leaf's SPKI.
        let mut hex = String::new();
        for b in association(&leaf(), 1, 1).unwrap() {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
        }
        assert_eq!(
            hex,
            "722ca4263ba247caa33f85c0303efb2e89883a6383050f66725d17403f2a7803"
        );
    }

    #[test]
    fn verdicts() {
        let chain = vec![leaf(), ca()];
        for (s, m) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
            let ee = tlsa_record(&leaf(), 3, s, m).unwrap();
            assert_eq!(
                check(&secure(vec![ee]), &chain),
                DaneVerdict::Matched {
                    usage: 3,
                    depth: 0,
                    needs_chain_validation: false
                },
                "3 {s} {m}"
            );
            let ta = tlsa_record(&ca(), 2, s, m).unwrap();
            assert_eq!(
                check(&secure(vec![ta]), &chain),
                DaneVerdict::Matched {
                    usage: 2,
                    depth: 1,
                    needs_chain_validation: true
                },
                "2 {s} {m}"
            );
        }
        // DANE-TA never matches the server certificate itself; DANE-EE never the CA.
        let ta_on_leaf = tlsa_record(&leaf(), 2, 1, 1).unwrap();
        assert_eq!(
            check(&secure(vec![ta_on_leaf]), &chain),
            DaneVerdict::NoMatch
        );
        let ee_on_ca = tlsa_record(&ca(), 3, 1, 1).unwrap();
        assert_eq!(
            check(&secure(vec![ee_on_ca.clone()]), &chain),
            DaneVerdict::NoMatch
        );
        // PKIX usages and odd parameters are unusable, not failures.
        let pkix = tlsa_record(&leaf(), 1, 1, 1).unwrap();
        let odd = Record::Tlsa {
            usage: 3,
            selector: 2,
            matching: 1,
            data: vec![0; 32],
        };
        let short = Record::Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0; 31],
        };
        assert_eq!(
            check(&secure(vec![pkix.clone(), odd, short]), &chain),
            DaneVerdict::Unusable
        );
        // One usable matching record among unusable and failing ones is enough.
        let good = tlsa_record(&leaf(), 3, 1, 1).unwrap();
        assert!(matches!(
            check(&secure(vec![pkix, ee_on_ca, good.clone()]), &chain),
            DaneVerdict::Matched { .. }
        ));
        // DNSSEC status decides first.
        assert_eq!(
            check(&Answer::records(vec![good.clone()]), &chain),
            DaneVerdict::Insecure
        );
        let bogus = Answer::Records {
            records: vec![good],
            ttl: 1,
            dnssec: Dnssec::Bogus,
        };
        assert_eq!(check(&bogus, &chain), DaneVerdict::TempFail);
        assert_eq!(
            check(
                &Answer::NoData {
                    dnssec: Dnssec::Secure
                },
                &chain
            ),
            DaneVerdict::NoRecords
        );
        assert_eq!(
            check(
                &Answer::NxDomain {
                    dnssec: Dnssec::Insecure
                },
                &chain
            ),
            DaneVerdict::Insecure
        );
        assert_eq!(
            check(&Answer::TempFail("t".into()), &chain),
            DaneVerdict::TempFail
        );
    }
}
