//! Sender authentication for mail: SPF, DKIM, DMARC, ARC, Authentication-Results, reports,
//! MTA-STS, TLS-RPT and DANE, as code that never does I/O.
//!
//! Every verifier in this crate is a resumable state machine. Where a check needs the DNS,
//! it stops and returns a question ("TXT records for `selector._domainkey.example.org`");
//! the caller looks the answer up however it likes (a real resolver, a cache, a zone file in
//! a test) and hands it back, and the machine continues. The crate never opens a socket,
//! never reads the clock (the current time is an argument) and never touches the file
//! system. An optional `hickory` feature adds an adapter that answers the questions with
//! hickory-resolver.
//! - `hickory` (feature `hickory`): drives any machine with hickory-resolver on tokio,
//!   asking independent questions concurrently, with a TTL cache, per-query and total
//!   timeouts, a given name server, and DNSSEC status when validation is on.
//! - [`iprev`]: forward-confirmed reverse DNS (RFC 8601 §3) with a cap on PTR names.
//! - SPF, DMARC and iprev results convert into [`auth_results::MethodResult`] entries.
//! - [`report`]: DMARC aggregate reports (RFC 9990) generated and parsed tolerantly from
//!   XML, gzip, zip or e-mail with decompression limits; failure reports (ARF, RFC 5965 and
//!   RFC 6591) parsed and generated.
//! - [`tlsrpt`]: SMTP TLS Reporting (RFC 8460): the `_smtp._tls` record, and JSON reports
//!   generated and parsed (also from gzip and e-mail).
//! - [`mta_sts`]: MTA-STS (RFC 8461) record and policy parse, MX matching, the caching
//!   rules, and discovery that hands the HTTPS fetch to the host as a question.
//! - [`dane`]: DANE TLSA (RFC 7671/7672) matching against a certificate chain, only on
//!   DNSSEC-secure answers; TLSA record generation.
//!
//! ```text
//!   message bytes ──▶ ┌──────────┐ ──▶ Need(question) ──▶ caller's resolver
//!                     │ verifier │
//!   answer ─────────▶ └──────────┘ ──▶ Done(result)
//! ```
//!
//! # What is here today
//!
//! - [`dns`]: the DNS contract every verifier uses: [`dns::Question`], [`dns::Answer`] (records
//!   with TTL and DNSSEC status, NODATA, NXDOMAIN, temporary and permanent failure), the
//!   [`dns::DnsMachine`] poll/provide protocol, a synchronous [`dns::drive`] loop and an
//!   in-memory [`dns::StaticResolver`] that can simulate timeouts, a TTL-honoring
//!   [`dns::Cache`], and [`dns::zone`], a BIND master-file parser for offline use.
//! - [`spf`]: SPF (RFC 7208) record parser and `check_host()` evaluator with every
//!   mechanism, modifier, macro and limit, and the `Received-SPF` header (passes all 203
//!   tests of the openspf RFC 7208 suite).
//! - [`dmarc`]: DMARC policy records, discovery by the RFC 9989 tree walk (`psd`, `np`, `t`)
//!   or the RFC 7489 public-suffix mode, strict/relaxed alignment over plain SPF/DKIM
//!   inputs, zero or several From domains, and report-destination verification.
//! - [`dkim`]: DKIM (RFC 6376, 8301, 8463) verify and sign, rsa-sha256 and ed25519-sha256
//!   (rsa-sha1 verify only, opt-in): a streaming [`dkim::Verifier`] that checks every
//!   signature in one pass with bounded memory and asks for the keys as a
//!   [`dns::DnsMachine`]; the injected clock for `t=`/`x=`, the key floor, the `l=` policy,
//!   From-count and oversigning rules; a [`dkim::Signer`]; key parsing (PKCS#1, PKCS#8,
//!   SPKI, raw Ed25519), key generation and the DNS record text ([`dkim::key`]).
//!   [`dkim::canon`] is the canonicalization (RFC 6376 §3.4), `simple` and `relaxed`, for
//!   header fields and for bodies; the body canonicalizer streams with O(1) state and
//!   applies an `l=` limit to the canonicalized octets, as §3.5 defines it.
//! - [`arc`]: ARC (RFC 8617) chain verification (passes all 171 ValiMail validation
//!   tests) and sealing (all 17 ValiMail signing tests, byte for byte).
//! - [`auth_results`]: Authentication-Results (RFC 8601) build, print and parse, with an
//!   authserv-id trust filter; DKIM and ARC results convert into it.
//!
//! ```
//! use mail_auth_core::dkim::canon::{BodyCanonicalizer, Canonicalization};
//!
//! let mut canon = BodyCanonicalizer::new(Canonicalization::Relaxed);
//! let mut out = Vec::new();
//! canon.update(b" C \r\nD \t E\r\n", &mut out);
//! canon.update(b"\r\n\r\n", &mut out);
//! canon.finish(&mut out);
//! assert_eq!(out, b" C\r\nD E\r\n"); // RFC 6376 §3.4.5
//! ```
//!
//! # What this crate never does
//!
//! No network, file or clock access; no `unsafe`; no panics on hostile input. Every limit
//! (DNS lookups, key sizes, nesting, decompressed report size) is explicit with a safe
//! default.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `hickory` | off | drives the verifiers with hickory-resolver on tokio, with a TTL cache |
//! | `rsa-keygen` | off | DKIM RSA key generation ([`dkim::key::generate_rsa`]) with the `rsa` crate |
#![forbid(unsafe_code)]

pub mod arc;
pub mod auth_results;
pub mod dane;
pub mod dkim;
pub mod dmarc;
pub mod dns;
#[cfg(feature = "hickory")]
pub mod hickory;
pub mod iprev;
pub mod mta_sts;
pub mod report;
pub mod spf;
pub mod tlsrpt;
