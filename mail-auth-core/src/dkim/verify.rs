//! DKIM verification (RFC 6376 §6) as a streaming pass plus a DNS machine.
//!
//! ```text
//!  bytes ─▶ Verifier::update ─▶ … ─▶ Verifier::finish ─▶ Verification (DnsMachine)
//!            │ header: buffered (bounded)         poll ─▶ Pending([TXT s._domainkey.d, …])
//!            │ body: canonicalized + hashed,      provide(answers)
//!            │       never buffered               poll ─▶ Ready(VerifyOutput)
//! ```
//!
//! Every DKIM-Signature is checked in the same pass; signatures that share a body
//! canonicalization, hash and `l=` share one body hash. The key questions are known as soon
//! as the header has been read ([`Verifier::key_questions`]), so a caller can look the keys
//! up while the body is still arriving and hand the answers in early with
//! [`Verifier::provide`].

use std::collections::HashMap;

use super::canon::{self, BodyCanonicalizer, Canonicalization, Sink};
use super::header::{Feed, HeaderBlock, HeaderReader};
use super::key::PublicKey;
use super::record::{KeyRecord, RecordError};
use super::signature::{Signature, SignatureError};
use super::tag;
use super::{Algorithm, HashAlgorithm, KeyType};
use crate::dns::{Answer, DnsMachine, Poll, Question, RecordType};

/// What to do with signatures that carry `l=` (a body length limit, RFC 6376 §8.2: content
/// appended after the signed length is unprotected).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LengthPolicy {
    /// Refuse such signatures: result `policy`.
    Reject,
    /// Verify the signed length; say nothing about unsigned octets after it.
    Honor,
    /// Verify the signed length and report how many canonical body octets were not signed
    /// ([`SignatureResult::unsigned_body_octets`]; Authentication-Results gets a comment).
    #[default]
    HonorAndReport,
}

/// Verifier settings. [`VerifyOptions::new`] takes the current time (the crate never reads
/// the clock); every other setting has a safe default.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    now: u64,
    clock_skew: u64,
    min_rsa_bits: usize,
    allow_sha1: bool,
    length_policy: LengthPolicy,
    max_signatures: usize,
    max_header_octets: usize,
    max_key_records: usize,
}

impl VerifyOptions {
    /// Defaults, with `now` in seconds since the Unix epoch: 300 s clock skew, RSA keys of
    /// 1024 bits and more (RFC 8301 §3.2), rsa-sha1 refused, `l=` honored and reported,
    /// at most 16 signatures evaluated, a header of at most 256 KiB, and at most 4 TXT
    /// records tried per key name.
    pub fn new(now: u64) -> Self {
        Self {
            now,
            clock_skew: 300,
            min_rsa_bits: 1024,
            allow_sha1: false,
            length_policy: LengthPolicy::default(),
            max_signatures: 16,
            max_header_octets: 256 * 1024,
            max_key_records: 4,
        }
    }

    /// How far `t=` may lie in the future, and `x=` in the past, in seconds.
    pub fn clock_skew(&mut self, seconds: u64) -> &mut Self {
        self.clock_skew = seconds;
        self
    }

    /// The smallest RSA key accepted. Values under 1024 are raised to 1024 (RFC 8301 §3.2;
    /// ring refuses shorter keys too).
    pub fn min_rsa_bits(&mut self, bits: usize) -> &mut Self {
        self.min_rsa_bits = bits.max(1024);
        self
    }

    /// Accept rsa-sha1 signatures (RFC 8301 §3.1 says verifiers must not; some archives
    /// still need it). Off by default.
    pub fn dangerous_allow_sha1(&mut self, allow: bool) -> &mut Self {
        self.allow_sha1 = allow;
        self
    }

    /// The `l=` policy.
    pub fn length_policy(&mut self, policy: LengthPolicy) -> &mut Self {
        self.length_policy = policy;
        self
    }

    /// How many DKIM-Signature fields are evaluated; later ones get `policy`
    /// ([`Reason::TooManySignatures`]). Bounds the DNS lookups per message.
    pub fn max_signatures(&mut self, n: usize) -> &mut Self {
        self.max_signatures = n;
        self
    }

    /// The largest header block buffered. A larger header gives `permerror`
    /// ([`Reason::HeaderTooLarge`]) for the whole message.
    pub fn max_header_octets(&mut self, n: usize) -> &mut Self {
        self.max_header_octets = n;
        self
    }

    /// How many TXT records of one key name are tried.
    pub fn max_key_records(&mut self, n: usize) -> &mut Self {
        self.max_key_records = n.max(1);
        self
    }

    /// The injected time.
    pub fn now(&self) -> u64 {
        self.now
    }
}

/// A DKIM result (RFC 8601 §2.7.1 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The signature verified.
    Pass,
    /// The signature did not verify (body hash, signature, or expired).
    Fail,
    /// Signed, but not evaluable for a reason not covered by the others.
    Neutral,
    /// Signed, but refused by local policy (rsa-sha1, `l=`, From count, limits).
    Policy,
    /// A temporary failure (DNS); trying later may succeed.
    TempError,
    /// A permanent error: bad syntax, no key, unusable key.
    PermError,
}

impl Status {
    /// The RFC 8601 result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Neutral => "neutral",
            Self::Policy => "policy",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signature did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The field does not parse or breaks a rule of §3.5.
    Syntax(SignatureError),
    /// rsa-sha1 while [`VerifyOptions::dangerous_allow_sha1`] is off.
    Sha1Disabled,
    /// `l=` while the [`LengthPolicy`] is `Reject`.
    LengthTag,
    /// Beyond [`VerifyOptions::max_signatures`].
    TooManySignatures,
    /// The message has this many From fields instead of one (RFC 6376 §8.15, RFC 5322
    /// §3.6).
    FromCount(usize),
    /// `x=` is past.
    Expired,
    /// `t=` is in the future.
    FutureTimestamp,
    /// The header block is larger than the limit.
    HeaderTooLarge,
    /// The key lookup failed temporarily.
    KeyUnavailable(String),
    /// The key lookup failed permanently (no record, NXDOMAIN, refused).
    NoKey,
    /// The key record is unusable.
    KeyRecord(RecordError),
    /// The key record has an empty `p=`.
    KeyRevoked,
    /// The key type (`k=`) does not match `a=`.
    KeyTypeMismatch,
    /// The key record's `h=` does not allow the hash of `a=`.
    HashNotAllowed,
    /// The key record's `s=` does not allow email.
    ServiceNotAllowed,
    /// The key record has `t=s` but `i=` is in a subdomain of `d=`.
    StrictIdentity,
    /// The RSA key is shorter than [`VerifyOptions::min_rsa_bits`].
    KeyTooShort(usize),
    /// The body hash does not match `bh=`.
    BodyHashMismatch,
    /// The canonical body is shorter than `l=`.
    BodyShorterThanLength,
    /// The signature does not verify.
    BadSignature,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax(e) => write!(f, "{e}"),
            Self::Sha1Disabled => f.write_str("rsa-sha1 is not accepted (RFC 8301)"),
            Self::LengthTag => f.write_str("l= is not accepted by local policy"),
            Self::TooManySignatures => f.write_str("too many signatures"),
            Self::FromCount(n) => write!(f, "message has {n} From fields"),
            Self::Expired => f.write_str("signature expired"),
            Self::FutureTimestamp => f.write_str("signature timestamp in the future"),
            Self::HeaderTooLarge => f.write_str("header too large"),
            Self::KeyUnavailable(w) => write!(f, "key unavailable: {w}"),
            Self::NoKey => f.write_str("no key"),
            Self::KeyRecord(e) => write!(f, "{e}"),
            Self::KeyRevoked => f.write_str("key revoked"),
            Self::KeyTypeMismatch => f.write_str("key type does not match a="),
            Self::HashNotAllowed => f.write_str("hash not allowed by key h="),
            Self::ServiceNotAllowed => f.write_str("key is not for email (s=)"),
            Self::StrictIdentity => f.write_str("key t=s forbids i= subdomain"),
            Self::KeyTooShort(b) => write!(f, "{b}-bit key is too short"),
            Self::BodyHashMismatch => f.write_str("body hash did not verify"),
            Self::BodyShorterThanLength => f.write_str("body shorter than l="),
            Self::BadSignature => f.write_str("signature did not verify"),
        }
    }
}

/// The outcome for one DKIM-Signature field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureResult {
    /// The result.
    pub status: Status,
    /// Why it is not `pass`.
    pub reason: Option<Reason>,
    /// The parsed signature (absent when the field does not parse).
    pub signature: Option<Signature>,
    /// `d=` as far as it could be read (for reporting even broken signatures).
    pub domain: Option<String>,
    /// `s=` as far as it could be read.
    pub selector: Option<String>,
    /// The key length in bits, when a key was found.
    pub key_bits: Option<usize>,
    /// The key record has `t=y` (testing).
    pub testing: bool,
    /// With [`LengthPolicy::HonorAndReport`] and `l=`: canonical body octets after the
    /// signed length.
    pub unsigned_body_octets: Option<u64>,
}

impl SignatureResult {
    fn early(status: Status, reason: Reason, raw: &[u8], signature: Option<Signature>) -> Self {
        let (domain, selector) = match &signature {
            Some(s) => (Some(s.domain.clone()), Some(s.selector.clone())),
            None => raw_domain_selector(raw),
        };
        Self {
            status,
            reason: Some(reason),
            signature,
            domain,
            selector,
            key_bits: None,
            testing: false,
            unsigned_body_octets: None,
        }
    }

    /// The first 8 characters of `b=` (RFC 6008 `header.b`), when the signature parsed.
    pub fn b_prefix(&self) -> Option<&str> {
        self.signature
            .as_ref()
            .map(|s| &s.signature_b64[..s.signature_b64.len().min(8)])
    }
}

/// Best-effort `d=` and `s=` of a field that does not parse, for reports.
fn raw_domain_selector(raw: &[u8]) -> (Option<String>, Option<String>) {
    let mut d = None;
    let mut s = None;
    for part in raw.split(|&b| b == b';') {
        let part = part.trim_ascii();
        if let Some(v) = part.strip_prefix(b"d=") {
            d = Some(String::from_utf8_lossy(v.trim_ascii()).to_ascii_lowercase());
        } else if let Some(v) = part.strip_prefix(b"s=") {
            s = Some(String::from_utf8_lossy(v.trim_ascii()).to_ascii_lowercase());
        }
    }
    (d, s)
}

/// Every signature's outcome, in header order (the topmost DKIM-Signature first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOutput {
    /// One result per DKIM-Signature field. Empty: the message is unsigned (`dkim=none`).
    pub signatures: Vec<SignatureResult>,
}

impl VerifyOutput {
    /// The results that passed.
    pub fn passed(&self) -> impl Iterator<Item = &SignatureResult> {
        self.signatures.iter().filter(|s| s.status == Status::Pass)
    }
}

// ---------------------------------------------------------------------------------------
// Body hashing shared with ARC.

/// A hash sink that gathers small writes (relaxed canonicalization cuts text into many
/// short runs) into blocks before they reach the digest.
pub(crate) struct HashSink {
    ctx: ring::digest::Context,
    buf: Vec<u8>,
}

const HASH_BUF: usize = 4096;

impl HashSink {
    pub(crate) fn new(alg: HashAlgorithm) -> Self {
        Self {
            ctx: ring::digest::Context::new(alg.ring()),
            buf: Vec::with_capacity(HASH_BUF),
        }
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.ctx.update(&self.buf);
        self.ctx.finish().as_ref().to_vec()
    }
}

impl Sink for HashSink {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.buf.len() + bytes.len() <= HASH_BUF {
            self.buf.extend_from_slice(bytes);
            return;
        }
        if !self.buf.is_empty() {
            self.ctx.update(&self.buf);
            self.buf.clear();
        }
        if bytes.len() >= HASH_BUF / 2 {
            self.ctx.update(bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}

/// One body hash: canonicalization, algorithm and length limit.
pub(crate) type BodyKey = (Canonicalization, HashAlgorithm, Option<u64>);

/// The body hashes one pass computes, each shared by every signature that needs it.
#[derive(Default)]
pub(crate) struct BodyHashers {
    keys: Vec<BodyKey>,
    states: Vec<(BodyCanonicalizer, HashSink)>,
}

impl BodyHashers {
    /// The index of the hasher for `key`, added if new.
    pub(crate) fn index(&mut self, key: BodyKey) -> usize {
        if let Some(i) = self.keys.iter().position(|k| *k == key) {
            return i;
        }
        let canon = match key.2 {
            Some(l) => BodyCanonicalizer::with_limit(key.0, l),
            None => BodyCanonicalizer::new(key.0),
        };
        self.keys.push(key);
        self.states.push((canon, HashSink::new(key.1)));
        self.keys.len() - 1
    }

    pub(crate) fn update(&mut self, chunk: &[u8]) {
        for (c, s) in &mut self.states {
            c.update(chunk, s);
        }
    }

    /// The digests and canonical body lengths, by index.
    pub(crate) fn finish(self) -> Vec<(Vec<u8>, u64)> {
        self.states
            .into_iter()
            .map(|(mut c, mut s)| {
                c.finish(&mut s);
                (s.finish(), c.canonical_len())
            })
            .collect()
    }
}

/// The streaming part shared by the DKIM and ARC verifiers: reads the header (bounded),
/// then feeds the body to the hashers registered when the header ended.
pub(crate) struct Scan {
    reader: Option<HeaderReader>,
    pub(crate) block: Option<HeaderBlock>,
    pub(crate) hashers: BodyHashers,
    pub(crate) too_large: bool,
}

impl Scan {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            reader: Some(HeaderReader::new(limit)),
            block: None,
            hashers: BodyHashers::default(),
            too_large: false,
        }
    }

    /// Feeds message bytes. `on_header` runs once, when the header is complete, to
    /// register body hashers.
    pub(crate) fn update(
        &mut self,
        chunk: &[u8],
        on_header: impl FnOnce(&HeaderBlock, &mut BodyHashers),
    ) {
        if self.too_large {
            return;
        }
        let Some(reader) = &mut self.reader else {
            self.hashers.update(chunk);
            return;
        };
        match reader.feed(chunk) {
            Feed::More => {}
            Feed::TooLarge => {
                self.too_large = true;
                self.reader = None;
            }
            Feed::BodyAt(at) => {
                let raw = self
                    .reader
                    .take()
                    .map(HeaderReader::into_block)
                    .unwrap_or_default();
                let block = HeaderBlock::parse(&raw);
                on_header(&block, &mut self.hashers);
                self.block = Some(block);
                self.hashers.update(&chunk[at..]);
            }
        }
    }

    /// Ends the message. A message without an empty line is all header and no body.
    pub(crate) fn finish(
        &mut self,
        on_header: impl FnOnce(&HeaderBlock, &mut BodyHashers),
    ) -> Vec<(Vec<u8>, u64)> {
        if let Some(reader) = self.reader.take() {
            let block = HeaderBlock::parse(&reader.into_block());
            on_header(&block, &mut self.hashers);
            self.block = Some(block);
        }
        std::mem::take(&mut self.hashers).finish()
    }
}

/// The octets a signature covers (RFC 6376 §3.7): the selected header fields, canonicalized,
/// then the signature field itself with the `b=` value blanked and no final CRLF.
pub(crate) fn signed_header_data(
    block: &HeaderBlock,
    own: usize,
    names: &[String],
    c: Canonicalization,
    skip: &[usize],
) -> Vec<u8> {
    let mut data = Vec::with_capacity(1024);
    for i in block.select(names, skip).into_iter().flatten() {
        let f = &block.fields[i];
        canon::header(c, block.name(f), block.value(f), &mut data);
    }
    let f = &block.fields[own];
    let value = block.value(f);
    let blanked = blank_b(value);
    canon::header(c, block.name(f), &blanked, &mut data);
    data.truncate(data.len() - 2);
    data
}

/// The field value with the `b=` tag's value (and its surrounding whitespace) removed.
pub(crate) fn blank_b(value: &[u8]) -> Vec<u8> {
    match tag::parse(value)
        .ok()
        .and_then(|tags| tags.into_iter().find(|t| t.name == b"b"))
    {
        Some(t) => [&value[..t.raw_range.start], &value[t.raw_range.end..]].concat(),
        None => value.to_vec(),
    }
}

/// Checks a key answer for a signature and returns the usable key (trying up to `max`
/// records), or the result to report.
pub(crate) fn select_key(
    answer: &Answer,
    alg: Algorithm,
    domain: &str,
    identity_domain: &str,
    min_rsa_bits: usize,
    max: usize,
) -> Result<(PublicKey, KeyRecord), (Status, Reason)> {
    match answer {
        Answer::TempFail(w) => return Err((Status::TempError, Reason::KeyUnavailable(w.clone()))),
        Answer::Records { .. } => {}
        _ => return Err((Status::PermError, Reason::NoKey)),
    }
    let mut first_err = None;
    for txt in answer.txt().take(max) {
        let outcome = KeyRecord::parse(txt)
            .map_err(|e| (Status::PermError, Reason::KeyRecord(e)))
            .and_then(|r| {
                let check = |ok: bool, reason: Reason| {
                    if ok {
                        Ok(())
                    } else {
                        Err((Status::PermError, reason))
                    }
                };
                check(r.key_type == alg.key_type(), Reason::KeyTypeMismatch)?;
                check(r.allows_hash(alg), Reason::HashNotAllowed)?;
                check(r.allows_email(), Reason::ServiceNotAllowed)?;
                check(
                    !r.strict_identity || identity_domain.eq_ignore_ascii_case(domain),
                    Reason::StrictIdentity,
                )?;
                let key = r
                    .public_key
                    .clone()
                    .ok_or((Status::PermError, Reason::KeyRevoked))?;
                if key.key_type() == KeyType::Rsa && key.bits() < min_rsa_bits {
                    return Err((Status::PermError, Reason::KeyTooShort(key.bits())));
                }
                Ok((key, r))
            });
        match outcome {
            Ok(k) => return Ok(k),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or((Status::PermError, Reason::NoKey)))
}

/// Verifies signed header data with a key: RSA over the data, Ed25519 over its SHA-256.
pub(crate) fn check_signature(key: &PublicKey, alg: Algorithm, data: &[u8], sig: &[u8]) -> bool {
    match alg {
        Algorithm::Ed25519Sha256 => {
            let digest = ring::digest::digest(&ring::digest::SHA256, data);
            key.verify(alg, digest.as_ref(), sig).is_ok()
        }
        _ => key.verify(alg, data, sig).is_ok(),
    }
}

// ---------------------------------------------------------------------------------------

struct Pending {
    /// Index of the field in the header block.
    field: usize,
    signature: Signature,
    hasher: usize,
    question: Question,
}

enum Slot {
    Done(SignatureResult),
    Pending(Pending),
}

/// The streaming DKIM verifier. Feed the message with [`update`](Self::update), then call
/// [`finish`](Self::finish) for the [`Verification`] machine.
pub struct Verifier {
    opts: VerifyOptions,
    scan: Scan,
    slots: Vec<Slot>,
    answers: HashMap<Question, Answer>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("signatures", &self.slots.len())
            .field("header_done", &self.scan.block.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for one message.
    pub fn new(opts: VerifyOptions) -> Self {
        Self {
            scan: Scan::new(opts.max_header_octets),
            opts,
            slots: Vec::new(),
            answers: HashMap::new(),
        }
    }

    /// Takes the next bytes of the message (header and body, CRLF or LF line ends).
    pub fn update(&mut self, chunk: &[u8]) {
        let (opts, slots) = (&self.opts, &mut self.slots);
        self.scan
            .update(chunk, |block, hashers| plan(opts, block, hashers, slots));
    }

    /// The key lookups the message needs, known once its header has been read: ask them
    /// while the body streams in, and [`provide`](Self::provide) the answers.
    pub fn key_questions(&self) -> Vec<Question> {
        let mut qs: Vec<Question> = Vec::new();
        for s in &self.slots {
            if let Slot::Pending(p) = s
                && !qs.contains(&p.question)
                && !self.answers.contains_key(&p.question)
            {
                qs.push(p.question.clone());
            }
        }
        qs
    }

    /// Hands in a key answer early (before [`finish`](Self::finish)).
    pub fn provide(&mut self, question: &Question, answer: Answer) {
        self.answers.insert(question.clone(), answer);
    }

    /// Ends the message.
    pub fn finish(mut self) -> Verification {
        let (opts, slots) = (&self.opts, &mut self.slots);
        let digests = self
            .scan
            .finish(|block, hashers| plan(opts, block, hashers, slots));
        let block = self.scan.block.take().unwrap_or_default();
        let whole_message_error = self.scan.too_large;
        Verification {
            opts: self.opts,
            block,
            slots: self.slots,
            digests,
            answers: self.answers,
            header_too_large: whole_message_error,
        }
    }
}

/// Checks every DKIM-Signature once the header is known and registers its body hash.
fn plan(
    opts: &VerifyOptions,
    block: &HeaderBlock,
    hashers: &mut BodyHashers,
    slots: &mut Vec<Slot>,
) {
    let from_count = block.count("from");
    let mut n = 0;
    for (i, f) in block.fields.iter().enumerate() {
        if !block.is(f, "dkim-signature") {
            continue;
        }
        n += 1;
        let raw = block.value(f);
        if n > opts.max_signatures {
            slots.push(Slot::Done(SignatureResult::early(
                Status::Policy,
                Reason::TooManySignatures,
                raw,
                None,
            )));
            continue;
        }
        let sig = match Signature::parse(raw) {
            Ok(s) => s,
            Err(e) => {
                slots.push(Slot::Done(SignatureResult::early(
                    Status::PermError,
                    Reason::Syntax(e),
                    raw,
                    None,
                )));
                continue;
            }
        };
        let early = if sig.algorithm == Algorithm::RsaSha1 && !opts.allow_sha1 {
            Some((Status::Policy, Reason::Sha1Disabled))
        } else if sig.body_length.is_some() && opts.length_policy == LengthPolicy::Reject {
            Some((Status::Policy, Reason::LengthTag))
        } else if from_count != 1 {
            Some((Status::Policy, Reason::FromCount(from_count)))
        } else if sig
            .expiration
            .is_some_and(|x| x.saturating_add(opts.clock_skew) < opts.now)
        {
            Some((Status::Fail, Reason::Expired))
        } else if sig
            .timestamp
            .is_some_and(|t| t > opts.now.saturating_add(opts.clock_skew))
        {
            Some((Status::Fail, Reason::FutureTimestamp))
        } else {
            None
        };
        if let Some((status, reason)) = early {
            slots.push(Slot::Done(SignatureResult::early(
                status,
                reason,
                raw,
                Some(sig),
            )));
            continue;
        }
        let hasher = hashers.index((sig.body_canon, sig.algorithm.hash(), sig.body_length));
        let question = Question::new(&sig.key_name(), RecordType::Txt);
        slots.push(Slot::Pending(Pending {
            field: i,
            signature: sig,
            hasher,
            question,
        }));
    }
}

/// The DNS part of a DKIM verification: asks for the key records and gives the results.
pub struct Verification {
    opts: VerifyOptions,
    block: HeaderBlock,
    slots: Vec<Slot>,
    digests: Vec<(Vec<u8>, u64)>,
    answers: HashMap<Question, Answer>,
    header_too_large: bool,
}

impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verification")
            .field("signatures", &self.slots.len())
            .field("answers", &self.answers.len())
            .finish_non_exhaustive()
    }
}

impl Verification {
    fn evaluate(&self, p: &Pending) -> SignatureResult {
        let sig = &p.signature;
        let mut res = SignatureResult {
            status: Status::Pass,
            reason: None,
            signature: Some(sig.clone()),
            domain: Some(sig.domain.clone()),
            selector: Some(sig.selector.clone()),
            key_bits: None,
            testing: false,
            unsigned_body_octets: None,
        };
        let mut fail = |status, reason| {
            res.status = status;
            res.reason = Some(reason);
        };
        let Some(answer) = self.answers.get(&p.question) else {
            fail(
                Status::TempError,
                Reason::KeyUnavailable("no answer".into()),
            );
            return res;
        };
        let (key, record) = match select_key(
            answer,
            sig.algorithm,
            &sig.domain,
            sig.identity_domain(),
            self.opts.min_rsa_bits,
            self.opts.max_key_records,
        ) {
            Ok(k) => k,
            Err((status, reason)) => {
                fail(status, reason);
                return res;
            }
        };
        res.key_bits = Some(key.bits());
        res.testing = record.testing;
        let (digest, canon_len) = &self.digests[p.hasher];
        if let Some(l) = sig.body_length {
            if *canon_len < l {
                res.status = Status::Fail;
                res.reason = Some(Reason::BodyShorterThanLength);
                return res;
            }
            if self.opts.length_policy == LengthPolicy::HonorAndReport {
                res.unsigned_body_octets = Some(canon_len - l);
            }
        }
        if *digest != sig.body_hash {
            res.status = Status::Fail;
            res.reason = Some(Reason::BodyHashMismatch);
            return res;
        }
        let data = signed_header_data(
            &self.block,
            p.field,
            &sig.signed_headers,
            sig.header_canon,
            &[],
        );
        if !check_signature(&key, sig.algorithm, &data, &sig.signature) {
            res.status = Status::Fail;
            res.reason = Some(Reason::BadSignature);
        }
        res
    }
}

impl DnsMachine for Verification {
    type Output = VerifyOutput;

    fn poll(&mut self) -> Poll<VerifyOutput> {
        if self.header_too_large {
            return Poll::Ready(VerifyOutput {
                signatures: vec![SignatureResult::early(
                    Status::PermError,
                    Reason::HeaderTooLarge,
                    b"",
                    None,
                )],
            });
        }
        let mut missing: Vec<Question> = Vec::new();
        for s in &self.slots {
            if let Slot::Pending(p) = s
                && !self.answers.contains_key(&p.question)
                && !missing.contains(&p.question)
            {
                missing.push(p.question.clone());
            }
        }
        if !missing.is_empty() {
            return Poll::Pending(missing);
        }
        let signatures = self
            .slots
            .iter()
            .map(|s| match s {
                Slot::Done(r) => r.clone(),
                Slot::Pending(p) => self.evaluate(p),
            })
            .collect();
        Poll::Ready(VerifyOutput { signatures })
    }

    fn provide(&mut self, question: &Question, answer: Answer) {
        let asked = self
            .slots
            .iter()
            .any(|s| matches!(s, Slot::Pending(p) if p.question == *question));
        if asked {
            self.answers.insert(question.clone(), answer);
        }
    }
}

/// Verifies a whole message held in memory: [`Verifier`] fed in one call.
pub fn verify(message: &[u8], opts: VerifyOptions) -> Verification {
    let mut v = Verifier::new(opts);
    v.update(message);
    v.finish()
}

impl SignatureResult {
    /// The plain input DMARC takes: the `d=` domain and the result; `None` when the
    /// signature is so broken that its `d=` could not be read.
    pub fn dmarc_input(&self) -> Option<crate::dmarc::DkimInput> {
        use crate::dmarc::DkimResult as D;
        let result = match self.status {
            Status::Pass => D::Pass,
            Status::Fail => D::Fail,
            Status::Neutral => D::Neutral,
            Status::Policy => D::Policy,
            Status::TempError => D::TempError,
            Status::PermError => D::PermError,
        };
        Some(crate::dmarc::DkimInput {
            domain: self.domain.clone()?,
            result,
        })
    }
}

impl VerifyOutput {
    /// Every signature as DMARC input (signatures without a readable `d=` are left out).
    pub fn dmarc_inputs(&self) -> Vec<crate::dmarc::DkimInput> {
        self.signatures
            .iter()
            .filter_map(SignatureResult::dmarc_input)
            .collect()
    }
}
