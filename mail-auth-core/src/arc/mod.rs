//! ARC, the Authenticated Received Chain (RFC 8617): chain verification and sealing.
//!
//! An ARC set is three header fields with the same instance `i=`: ARC-Authentication-Results
//! (AAR, what the sealer saw), ARC-Message-Signature (AMS, a DKIM-like signature of the
//! message) and ARC-Seal (AS, a signature over all ARC fields so far).
//!
//! - [`Verifier`] streams the message like the DKIM verifier and becomes an
//!   [`ArcVerification`] ([`DnsMachine`]) that answers [`ArcOutput`]: the chain validation
//!   status `none`, `pass` or `fail` (§5.2), the number of sets and why it failed.
//! - [`Sealer`] adds the next set (§5.1) from the verification result and the sealer's
//!   own Authentication-Results.
//!
//! Verification (RFC 8617 §5.2): no ARC field → `none`; more than 50 sets, a missing or
//! duplicated field, a bad `i=`, instances not 1..N, `cv=` not `none` at i=1 or not `pass`
//! above → `fail`; the newest AS says `cv=fail` → `fail`; then the newest AMS and every AS
//! must verify.

use std::collections::HashMap;

use base64::Engine;

use crate::dkim::canon::{self, Canonicalization};
use crate::dkim::header::HeaderBlock;
use crate::dkim::signature::{Common, FieldKind, SignatureError, find, valid_domain};
use crate::dkim::tag;
use crate::dkim::verify::{BodyHashers, Scan, blank_b, check_signature, select_key};
use crate::dkim::{Algorithm, HashAlgorithm, Reason, Sign, SignError, Status};
use crate::dns::{Answer, DnsMachine, Poll, Question, RecordType};

/// The most ARC sets a chain may have (RFC 8617 §4.2.1).
pub const MAX_INSTANCES: u32 = 50;

/// A chain validation status (`cv=`, and the `arc=` result of Authentication-Results).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChainStatus {
    /// No ARC fields.
    None,
    /// The chain validated.
    Pass,
    /// The chain is broken.
    Fail,
}

impl ChainStatus {
    /// `none`, `pass` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pass => "pass",
            Self::Fail => "fail",
        }
    }
}

impl std::fmt::Display for ChainStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a chain failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArcFailure {
    /// An ARC field has no usable `i=` (missing, not a number, 0, above 50).
    BadInstance,
    /// Two fields of one kind share an instance.
    Duplicate(u32),
    /// An instance lacks a field, or the instances are not 1..N.
    Incomplete(u32),
    /// More than [`MAX_INSTANCES`] sets.
    TooManySets,
    /// A field does not parse.
    Syntax(u32, SignatureError),
    /// The AMS signs ARC-Seal (forbidden, §4.1.2).
    AmsSignsSeal(u32),
    /// The AS carries `h=` (forbidden, §4.1.3).
    SealHasHeaders(u32),
    /// `cv=` is not valid for its instance, or not none/pass/fail.
    BadChainValue(u32),
    /// The newest AS reports `cv=fail`.
    ChainReportedFail(u32),
    /// The newest AMS does not verify.
    Ams(u32, Status, Reason),
    /// An AS does not verify.
    Seal(u32, Status, Reason),
    /// The header block is larger than the limit.
    HeaderTooLarge,
}

impl std::fmt::Display for ArcFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadInstance => f.write_str("ARC field with a bad i="),
            Self::Duplicate(i) => write!(f, "duplicate ARC field in set {i}"),
            Self::Incomplete(i) => write!(f, "ARC set {i} is incomplete"),
            Self::TooManySets => f.write_str("more than 50 ARC sets"),
            Self::Syntax(i, e) => write!(f, "ARC set {i}: {e}"),
            Self::AmsSignsSeal(i) => write!(f, "ARC-Message-Signature {i} signs ARC-Seal"),
            Self::SealHasHeaders(i) => write!(f, "ARC-Seal {i} has h="),
            Self::BadChainValue(i) => write!(f, "ARC-Seal {i} has a bad cv="),
            Self::ChainReportedFail(i) => write!(f, "ARC-Seal {i} reports cv=fail"),
            Self::Ams(i, s, r) => write!(f, "ARC-Message-Signature {i}: {s} ({r})"),
            Self::Seal(i, s, r) => write!(f, "ARC-Seal {i}: {s} ({r})"),
            Self::HeaderTooLarge => f.write_str("header too large"),
        }
    }
}

/// The result of verifying a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArcOutput {
    /// The chain validation status.
    pub status: ChainStatus,
    /// Why it failed.
    pub failure: Option<ArcFailure>,
    /// The number of ARC sets (the newest instance).
    pub instances: u32,
    /// A temporary DNS failure prevented a verdict (the status is then `fail`, and a
    /// caller may retry).
    pub temporary: bool,
    /// Per set, oldest first: the sealer's domain (AS `d=`) and its AAR payload.
    pub sets: Vec<ArcSetInfo>,
}

/// What a verified chain says about one set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArcSetInfo {
    /// The instance.
    pub instance: u32,
    /// The ARC-Seal's `d=` (the sealer).
    pub seal_domain: String,
    /// The ARC-Seal's `s=`.
    pub seal_selector: String,
    /// The AAR value after `i=N;` (the sealer's authserv-id and results).
    pub authentication_results: String,
}

struct Seal {
    field: usize,
    common: Common,
    cv: ChainStatus,
}

struct Ams {
    field: usize,
    common: Common,
}

/// The parsed chain of a header block.
struct Chain {
    n: u32,
    seals: Vec<Seal>,
    amss: Vec<Ams>,
    aars: Vec<usize>,
}

fn instance_of(tags: &[tag::Tag<'_>]) -> Option<u32> {
    let v = find(tags, "i")?;
    let n = tag::decimal(v)?;
    (1..=u64::from(MAX_INSTANCES))
        .contains(&n)
        .then_some(n as u32)
}

/// The instance of an AAR: `i=N;` at its start.
fn aar_instance(value: &[u8]) -> Option<(u32, usize)> {
    let skip = |s: &[u8], mut i: usize| {
        while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        i
    };
    let mut i = skip(value, 0);
    if value.get(i) != Some(&b'i') {
        return None;
    }
    i = skip(value, i + 1);
    if value.get(i) != Some(&b'=') {
        return None;
    }
    i = skip(value, i + 1);
    let start = i;
    while i < value.len() && value[i].is_ascii_digit() {
        i += 1;
    }
    let n = tag::decimal(&value[start..i])?;
    i = skip(value, i);
    if value.get(i) != Some(&b';') {
        return None;
    }
    (1..=u64::from(MAX_INSTANCES))
        .contains(&n)
        .then_some((n as u32, i + 1))
}

/// Finds and checks the ARC sets of a header block (RFC 8617 §5.2 steps 1-3).
fn parse_chain(block: &HeaderBlock) -> Result<Option<Chain>, ArcFailure> {
    let mut seals: HashMap<u32, Seal> = HashMap::new();
    let mut amss: HashMap<u32, Ams> = HashMap::new();
    let mut aars: HashMap<u32, usize> = HashMap::new();
    let mut any = false;
    for (idx, f) in block.fields.iter().enumerate() {
        let value = block.value(f);
        if block.is(f, "arc-authentication-results") {
            any = true;
            let (i, _) = aar_instance(value).ok_or(ArcFailure::BadInstance)?;
            if aars.insert(i, idx).is_some() {
                return Err(ArcFailure::Duplicate(i));
            }
        } else if block.is(f, "arc-message-signature") || block.is(f, "arc-seal") {
            any = true;
            let is_seal = block.is(f, "arc-seal");
            // A field whose tags do not parse has no trustworthy i=: the chain fails.
            let tags = tag::parse(value).map_err(|_| ArcFailure::BadInstance)?;
            let i = instance_of(&tags).ok_or(ArcFailure::BadInstance)?;
            if is_seal {
                if find(&tags, "h").is_some() {
                    return Err(ArcFailure::SealHasHeaders(i));
                }
                let common =
                    Common::parse(&tags, FieldKind::Seal).map_err(|e| ArcFailure::Syntax(i, e))?;
                let cv = match find(&tags, "cv") {
                    Some(b"none") => ChainStatus::None,
                    Some(b"pass") => ChainStatus::Pass,
                    Some(b"fail") => ChainStatus::Fail,
                    _ => return Err(ArcFailure::BadChainValue(i)),
                };
                if seals
                    .insert(
                        i,
                        Seal {
                            field: idx,
                            common,
                            cv,
                        },
                    )
                    .is_some()
                {
                    return Err(ArcFailure::Duplicate(i));
                }
            } else {
                let common =
                    Common::parse(&tags, FieldKind::Ams).map_err(|e| ArcFailure::Syntax(i, e))?;
                if common.signed_headers.iter().any(|h| h == "arc-seal") {
                    return Err(ArcFailure::AmsSignsSeal(i));
                }
                if amss.insert(i, Ams { field: idx, common }).is_some() {
                    return Err(ArcFailure::Duplicate(i));
                }
            }
        }
    }
    if !any {
        return Ok(None);
    }
    let n = seals
        .keys()
        .chain(amss.keys())
        .chain(aars.keys())
        .copied()
        .max()
        .unwrap_or(0);
    if n > MAX_INSTANCES {
        return Err(ArcFailure::TooManySets);
    }
    let mut chain = Chain {
        n,
        seals: Vec::new(),
        amss: Vec::new(),
        aars: Vec::new(),
    };
    for i in 1..=n {
        let (Some(s), Some(a), Some(r)) = (seals.remove(&i), amss.remove(&i), aars.remove(&i))
        else {
            return Err(ArcFailure::Incomplete(i));
        };
        chain.seals.push(s);
        chain.amss.push(a);
        chain.aars.push(r);
    }
    Ok(Some(chain))
}

/// The octets ARC-Seal `n` (1-based) signs (RFC 8617 §5.1.1): every set up to `n` in
/// instance order, each as AAR, AMS, AS, relaxed; the seal itself with `b=` blanked and no
/// final CRLF.
fn seal_data(
    block: &HeaderBlock,
    aars: &[usize],
    amss: &[usize],
    seals: &[usize],
    n: usize,
) -> Vec<u8> {
    let mut data = Vec::with_capacity(2048 * n);
    let c = Canonicalization::Relaxed;
    for j in 0..n {
        for idx in [aars[j], amss[j]] {
            let f = &block.fields[idx];
            canon::header(c, block.name(f), block.value(f), &mut data);
        }
        let f = &block.fields[seals[j]];
        if j + 1 == n {
            canon::header(c, block.name(f), &blank_b(block.value(f)), &mut data);
            data.truncate(data.len() - 2);
        } else {
            canon::header(c, block.name(f), block.value(f), &mut data);
        }
    }
    data
}

/// ARC verifier settings.
#[derive(Clone, Debug)]
pub struct ArcOptions {
    min_rsa_bits: usize,
    max_header_octets: usize,
}

impl Default for ArcOptions {
    /// RSA keys of 1024 bits and more, headers up to 256 KiB.
    fn default() -> Self {
        Self {
            min_rsa_bits: 1024,
            max_header_octets: 256 * 1024,
        }
    }
}

impl ArcOptions {
    /// The smallest RSA key accepted (at least 1024).
    pub fn min_rsa_bits(&mut self, bits: usize) -> &mut Self {
        self.min_rsa_bits = bits.max(1024);
        self
    }

    /// The largest header block buffered.
    pub fn max_header_octets(&mut self, n: usize) -> &mut Self {
        self.max_header_octets = n;
        self
    }
}

enum Plan {
    /// No chain, or a verdict reached without DNS.
    Done(ArcOutput),
    Check {
        chain: Chain,
        hasher: usize,
    },
}

/// The streaming ARC verifier: [`update`](Self::update) the message, then
/// [`finish`](Self::finish).
pub struct Verifier {
    opts: ArcOptions,
    scan: Scan,
    plan: Option<Plan>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("arc::Verifier").finish_non_exhaustive()
    }
}

fn sets_info(block: &HeaderBlock, chain: &Chain) -> Vec<ArcSetInfo> {
    (0..chain.n as usize)
        .map(|j| {
            let aar = block.value(&block.fields[chain.aars[j]]);
            let payload = aar_instance(aar).map_or(&aar[..0], |(_, at)| &aar[at..]);
            ArcSetInfo {
                instance: j as u32 + 1,
                seal_domain: chain.seals[j].common.domain.clone(),
                seal_selector: chain.seals[j].common.selector.clone(),
                authentication_results: String::from_utf8_lossy(payload.trim_ascii()).into_owned(),
            }
        })
        .collect()
}

fn failed(failure: ArcFailure, instances: u32) -> ArcOutput {
    ArcOutput {
        status: ChainStatus::Fail,
        failure: Some(failure),
        instances,
        temporary: false,
        sets: Vec::new(),
    }
}

fn make_plan(block: &HeaderBlock, hashers: &mut BodyHashers) -> Plan {
    let chain = match parse_chain(block) {
        Ok(None) => {
            return Plan::Done(ArcOutput {
                status: ChainStatus::None,
                failure: None,
                instances: 0,
                temporary: false,
                sets: Vec::new(),
            });
        }
        Ok(Some(c)) => c,
        Err(e) => return Plan::Done(failed(e, 0)),
    };
    let n = chain.n;
    for (j, s) in chain.seals.iter().enumerate() {
        let i = j as u32 + 1;
        let ok = if i == 1 {
            s.cv == ChainStatus::None
        } else {
            s.cv != ChainStatus::None
        };
        if i == n && s.cv == ChainStatus::Fail {
            return Plan::Done(failed(ArcFailure::ChainReportedFail(i), n));
        }
        if !ok || (i < n && s.cv == ChainStatus::Fail) {
            return Plan::Done(failed(ArcFailure::BadChainValue(i), n));
        }
    }
    let ams = &chain.amss[n as usize - 1].common;
    let hasher = hashers.index((ams.body_canon, ams.algorithm.hash(), None));
    Plan::Check { chain, hasher }
}

impl Verifier {
    /// A verifier with the given options.
    pub fn new(opts: ArcOptions) -> Self {
        Self {
            scan: Scan::new(opts.max_header_octets),
            opts,
            plan: None,
        }
    }

    /// Takes the next bytes of the message.
    pub fn update(&mut self, chunk: &[u8]) {
        let plan = &mut self.plan;
        self.scan.update(chunk, |block, hashers| {
            *plan = Some(make_plan(block, hashers));
        });
    }

    /// Ends the message.
    pub fn finish(mut self) -> ArcVerification {
        let plan = &mut self.plan;
        let digests = self.scan.finish(|block, hashers| {
            *plan = Some(make_plan(block, hashers));
        });
        let plan = if self.scan.too_large {
            Plan::Done(failed(ArcFailure::HeaderTooLarge, 0))
        } else {
            self.plan
                .take()
                .unwrap_or_else(|| Plan::Done(failed(ArcFailure::HeaderTooLarge, 0)))
        };
        ArcVerification {
            opts: self.opts,
            block: self.scan.block.take().unwrap_or_default(),
            plan,
            digests,
            answers: HashMap::new(),
        }
    }
}

/// The DNS part of an ARC verification.
pub struct ArcVerification {
    opts: ArcOptions,
    block: HeaderBlock,
    plan: Plan,
    digests: Vec<(Vec<u8>, u64)>,
    answers: HashMap<Question, Answer>,
}

impl std::fmt::Debug for ArcVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArcVerification").finish_non_exhaustive()
    }
}

fn key_question(c: &Common) -> Question {
    Question::new(
        &format!("{}._domainkey.{}", c.selector, c.domain),
        RecordType::Txt,
    )
}

impl ArcVerification {
    fn questions(&self) -> Vec<Question> {
        let Plan::Check { chain, .. } = &self.plan else {
            return Vec::new();
        };
        let mut qs = vec![key_question(&chain.amss[chain.n as usize - 1].common)];
        for s in &chain.seals {
            let q = key_question(&s.common);
            if !qs.contains(&q) {
                qs.push(q);
            }
        }
        qs
    }

    fn verify_one(&self, c: &Common, data: &[u8]) -> Result<(), (Status, Reason)> {
        let q = key_question(c);
        let answer = self.answers.get(&q).ok_or_else(|| {
            (
                Status::TempError,
                Reason::KeyUnavailable("no answer".into()),
            )
        })?;
        if c.algorithm == Algorithm::RsaSha1 {
            return Err((Status::Policy, Reason::Sha1Disabled));
        }
        let (key, _) = select_key(
            answer,
            c.algorithm,
            &c.domain,
            &c.domain,
            self.opts.min_rsa_bits,
            4,
        )?;
        if check_signature(&key, c.algorithm, data, &c.signature) {
            Ok(())
        } else {
            Err((Status::Fail, Reason::BadSignature))
        }
    }

    fn evaluate(&self, chain: &Chain, hasher: usize) -> ArcOutput {
        let n = chain.n;
        let block = &self.block;
        let mut out = ArcOutput {
            status: ChainStatus::Pass,
            failure: None,
            instances: n,
            temporary: false,
            sets: sets_info(block, chain),
        };
        let mut fail = |f: ArcFailure, temp: bool| {
            out.status = ChainStatus::Fail;
            out.failure = Some(f);
            out.temporary = temp;
        };
        // The newest AMS.
        let ams = &chain.amss[n as usize - 1];
        if self.digests[hasher].0 != ams.common.body_hash {
            fail(
                ArcFailure::Ams(n, Status::Fail, Reason::BodyHashMismatch),
                false,
            );
            return out;
        }
        let data = crate::dkim::verify::signed_header_data(
            block,
            ams.field,
            &ams.common.signed_headers,
            ams.common.header_canon,
            &[],
        );
        if let Err((s, r)) = self.verify_one(&ams.common, &data) {
            fail(ArcFailure::Ams(n, s, r), s == Status::TempError);
            return out;
        }
        // Every seal, newest first.
        let aars = &chain.aars;
        let amss: Vec<usize> = chain.amss.iter().map(|a| a.field).collect();
        let seals: Vec<usize> = chain.seals.iter().map(|s| s.field).collect();
        for j in (0..n as usize).rev() {
            let data = seal_data(block, aars, &amss, &seals, j + 1);
            if let Err((s, r)) = self.verify_one(&chain.seals[j].common, &data) {
                fail(ArcFailure::Seal(j as u32 + 1, s, r), s == Status::TempError);
                return out;
            }
        }
        out
    }
}

impl DnsMachine for ArcVerification {
    type Output = ArcOutput;

    fn poll(&mut self) -> Poll<ArcOutput> {
        match &self.plan {
            Plan::Done(out) => Poll::Ready(out.clone()),
            Plan::Check { chain, hasher } => {
                let missing: Vec<Question> = self
                    .questions()
                    .into_iter()
                    .filter(|q| !self.answers.contains_key(q))
                    .collect();
                if missing.is_empty() {
                    Poll::Ready(self.evaluate(chain, *hasher))
                } else {
                    Poll::Pending(missing)
                }
            }
        }
    }

    fn provide(&mut self, question: &Question, answer: Answer) {
        if self.questions().contains(question) {
            self.answers.insert(question.clone(), answer);
        }
    }
}

/// Verifies the ARC chain of a whole message in memory.
pub fn verify(message: &[u8], opts: ArcOptions) -> ArcVerification {
    let mut v = Verifier::new(opts);
    v.update(message);
    v.finish()
}

// ---------------------------------------------------------------------------------------

/// A new ARC set: three header fields, CRLF-terminated, to put at the top of the message
/// in the order of [`ArcSet::to_header`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArcSet {
    /// The instance.
    pub instance: u32,
    /// `ARC-Seal: ...\r\n`.
    pub seal: String,
    /// `ARC-Message-Signature: ...\r\n`.
    pub message_signature: String,
    /// `ARC-Authentication-Results: ...\r\n`.
    pub authentication_results: String,
}

impl ArcSet {
    /// The three fields, seal first (the order RFC 8617 §4.2 shows).
    pub fn to_header(&self) -> String {
        format!(
            "{}{}{}",
            self.seal, self.message_signature, self.authentication_results
        )
    }

    /// The value of a field (after the colon), whitespace-trimmed.
    pub fn value(field: &str) -> &str {
        field.split_once(':').map_or("", |(_, v)| v.trim())
    }
}

/// Adds ARC sets (RFC 8617 §5.1) with one key, domain and selector. AMS and AS use
/// relaxed/relaxed and the key's algorithm; tags are written in the alphabetical
/// "standardised" order of the ARC test suite, so output is deterministic.
pub struct Sealer<'k> {
    key: &'k dyn Sign,
    domain: String,
    selector: String,
    headers: Vec<String>,
}

impl std::fmt::Debug for Sealer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl<'k> Sealer<'k> {
    /// A sealer signing [`crate::dkim::sign::DEFAULT_SIGNED_HEADERS`] in the AMS.
    pub fn new(key: &'k dyn Sign, domain: &str, selector: &str) -> Result<Self, SignError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let selector = selector.to_ascii_lowercase();
        if !valid_domain(&domain) || !valid_domain(&selector) {
            return Err(SignError::Config("bad domain or selector".into()));
        }
        if key.algorithm().hash() != HashAlgorithm::Sha256 {
            return Err(SignError::Config("ARC seals with SHA-256 only".into()));
        }
        Ok(Self {
            key,
            domain,
            selector,
            headers: crate::dkim::sign::DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        })
    }

    /// The header fields the AMS signs (`h=`, in this order, each once). Never ARC-Seal.
    pub fn headers<S: AsRef<str>>(&mut self, names: &[S]) -> &mut Self {
        self.headers = names
            .iter()
            .map(|n| n.as_ref().to_ascii_lowercase())
            .filter(|n| n != "arc-seal")
            .collect();
        self
    }

    /// Seals `message`. `chain` is the result of verifying the message's chain (its `cv`
    /// becomes the new set's); `results` is the payload of the new AAR: this host's
    /// authserv-id and results, as in its Authentication-Results (`mx.example.org;
    /// spf=pass ...`). Returns `None` when the newest set already says `cv=fail` (§5.1.1:
    /// nothing more to add) or the chain already has 50 sets.
    pub fn seal(
        &self,
        message: &[u8],
        chain: &ArcOutput,
        results: &str,
        now: u64,
    ) -> Result<Option<ArcSet>, SignError> {
        let (head, body) = split_message(message);
        let block = HeaderBlock::parse(head);
        let existing = parse_chain(&block).ok().flatten();
        if let Some(c) = &existing
            && c.seals.last().is_some_and(|s| s.cv == ChainStatus::Fail)
        {
            return Ok(None);
        }
        let n = existing.as_ref().map_or(0, |c| c.n) + 1;
        if n > MAX_INSTANCES {
            return Ok(None);
        }
        let cv = match (n, chain.status) {
            (1, _) => ChainStatus::None,
            (_, ChainStatus::Pass) => ChainStatus::Pass,
            _ => ChainStatus::Fail,
        };
        let alg = self.key.algorithm();
        let b64 = base64::engine::general_purpose::STANDARD;
        // Body hash.
        let mut bc = canon::BodyCanonicalizer::new(Canonicalization::Relaxed);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        bc.update(body, &mut ctx);
        bc.finish(&mut ctx);
        let bh = b64.encode(ctx.finish());

        let aar = format!("ARC-Authentication-Results: i={n}; {}\r\n", results.trim());
        // AMS over the header with the new AAR on top.
        let mut with_aar = aar.clone().into_bytes();
        with_aar.extend_from_slice(&block.buf);
        let block2 = HeaderBlock::parse(&with_aar);
        let h = self.headers.join(":");
        let ams_pre = format!(
            "a={}; b=; bh={bh}; c=relaxed/relaxed; d={}; h={h}; i={n}; s={}; t={now}",
            alg.as_str(),
            self.domain,
            self.selector
        );
        let mut data = Vec::with_capacity(2048);
        for i in block2.select(&self.headers, &[]).into_iter().flatten() {
            let f = &block2.fields[i];
            canon::header(
                Canonicalization::Relaxed,
                block2.name(f),
                block2.value(f),
                &mut data,
            );
        }
        canon::header(
            Canonicalization::Relaxed,
            b"ARC-Message-Signature",
            ams_pre.as_bytes(),
            &mut data,
        );
        data.truncate(data.len() - 2);
        let ams_sig = b64.encode(self.key.sign(&data)?);
        let ams = format!(
            "ARC-Message-Signature: {}\r\n",
            insert_b(&ams_pre, &ams_sig)
        );

        // AS over every set, this one last.
        let as_pre = format!(
            "a={}; b=; cv={}; d={}; i={n}; s={}; t={now}",
            alg.as_str(),
            cv.as_str(),
            self.domain,
            self.selector
        );
        let mut data = Vec::with_capacity(4096);
        // A seal reporting cv=fail covers only its own set: the chain before it is broken
        // and nobody can rely on it (what dkimpy and the ValiMail suite do).
        if let Some(c) = existing.as_ref().filter(|_| cv != ChainStatus::Fail) {
            for j in 0..c.n as usize {
                for idx in [c.aars[j], c.amss[j].field, c.seals[j].field] {
                    let f = &block.fields[idx];
                    canon::header(
                        Canonicalization::Relaxed,
                        block.name(f),
                        block.value(f),
                        &mut data,
                    );
                }
            }
        }
        for (name, value) in [
            ("ARC-Authentication-Results", ArcSet::value(&aar)),
            ("ARC-Message-Signature", ArcSet::value(&ams)),
        ] {
            canon::header(
                Canonicalization::Relaxed,
                name.as_bytes(),
                value.as_bytes(),
                &mut data,
            );
        }
        canon::header(
            Canonicalization::Relaxed,
            b"ARC-Seal",
            as_pre.as_bytes(),
            &mut data,
        );
        data.truncate(data.len() - 2);
        let as_sig = b64.encode(self.key.sign(&data)?);
        let seal = format!("ARC-Seal: {}\r\n", insert_b(&as_pre, &as_sig));
        Ok(Some(ArcSet {
            instance: n,
            seal,
            message_signature: ams,
            authentication_results: aar,
        }))
    }
}

/// Puts the signature after `b=` and folds the tag list at its `; ` separators. The
/// signature itself is not folded: a later ARC-Seal signs this field with relaxed
/// canonicalization, which keeps folding inside `b=` as a space, so an unfolded `b=` is
/// what other sealers (dkimpy, the ValiMail suite) produce and expect.
fn insert_b(pre: &str, sig: &str) -> String {
    let mut out = String::new();
    let mut col = 24usize;
    for (k, part) in pre.split("; ").enumerate() {
        let part_len = if part == "b=" {
            2 + sig.len()
        } else {
            part.len()
        };
        if k > 0 {
            out.push(';');
            if col + part_len > 76 {
                out.push_str("\r\n\t");
                col = 8;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        if part == "b=" {
            out.push_str("b=");
            out.push_str(sig);
        } else {
            out.push_str(part);
        }
        col += part_len;
    }
    out
}

/// Header block and body of a message held in memory.
fn split_message(msg: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while let Some(nl) = memchr::memchr(b'\n', &msg[i..]) {
        let at = i + nl + 1;
        let line_start = i;
        let line = &msg[line_start..at];
        if line == b"\n" || line == b"\r\n" {
            return (&msg[..line_start], &msg[at..]);
        }
        i = at;
    }
    (msg, &[])
}
