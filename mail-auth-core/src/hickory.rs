//! A resolver adapter (feature `hickory`): drives any [`DnsMachine`] with hickory-resolver on
//! tokio.
//!
//! - Independent questions a machine lists together are asked concurrently.
//! - Answers are cached in a [`Cache`] honoring their TTLs (negative answers for a bounded
//!   time, failures never).
//! - Each query has a timeout, and so has the whole evaluation (RFC 7208 §4.6.4 asks for
//!   one; SPF-023): once it has run out, every further question gets a temporary failure,
//!   so the machine ends with its `temperror`.
//! - A given name server can replace the system configuration (the tools' `--resolver`).
//! - With [`HickoryConfig::validate_dnssec`], hickory validates DNSSEC itself and each
//!   answer carries its status (secure, insecure, bogus); bogus answers become temporary
//!   failures. Without it every answer is insecure, so DANE never acts on it (DANE-002: an
//!   AD bit from a remote resolver is not trusted).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mail_auth_core::hickory::{HickoryConfig, HickoryResolver};
//! use mail_auth_core::spf::Verifier;
//!
//! let resolver = HickoryResolver::new(&HickoryConfig::default())?;
//! let v = Verifier::mail_from("192.0.2.1".parse()?, "mx.example.org", "alice@example.org");
//! let out = resolver.drive(v).await;
//! println!("{}", out.result);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::dnssec::Proof;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType as HRecordType};

use crate::dns::{Answer, Cache, DnsMachine, Dnssec, Poll, Question, Record, RecordType};

/// Settings of a [`HickoryResolver`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HickoryConfig {
    /// Use this name server (UDP and TCP) instead of the system configuration.
    pub nameserver: Option<SocketAddr>,
    /// Timeout of one query: 5 s.
    pub query_timeout: Duration,
    /// Timeout of one whole [`drive`](HickoryResolver::drive): 20 s (RFC 7208 §4.6.4).
    pub total_timeout: Duration,
    /// Attempts per query: 2.
    pub attempts: usize,
    /// Validate DNSSEC in-process (with hickory's built-in root trust anchor): off.
    pub validate_dnssec: bool,
    /// Answers kept in the cache: 10 000.
    pub cache_size: usize,
    /// How long NXDOMAIN/NODATA answers are cached: 300 s.
    pub negative_ttl: u32,
    /// Questions asked at the same time by one `drive`: 16.
    pub max_concurrent: usize,
}

impl Default for HickoryConfig {
    fn default() -> Self {
        Self {
            nameserver: None,
            query_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
            attempts: 2,
            validate_dnssec: false,
            cache_size: 10_000,
            negative_ttl: 300,
            max_concurrent: 16,
        }
    }
}

impl HickoryConfig {
    /// The defaults with a given name server.
    pub fn with_nameserver(addr: SocketAddr) -> Self {
        Self {
            nameserver: Some(addr),
            ..Self::default()
        }
    }
}

/// Why the resolver could not be built.
#[derive(Debug)]
pub struct HickoryError(String);

impl std::fmt::Display for HickoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HickoryError {}

/// hickory-resolver behind the [`DnsMachine`] contract, with a TTL cache. Cheap to clone
/// (the resolver and the cache are shared).
#[derive(Clone)]
pub struct HickoryResolver {
    resolver: Resolver<TokioConnectionProvider>,
    cache: Arc<Mutex<Cache>>,
    epoch: Instant,
    config: HickoryConfig,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryResolver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HickoryResolver {
    /// Builds a resolver; reads the system configuration unless a name server is given.
    pub fn new(config: &HickoryConfig) -> Result<Self, HickoryError> {
        let mut builder = match config.nameserver {
            Some(addr) => {
                let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], group),
                    TokioConnectionProvider::default(),
                )
            }
            None => Resolver::builder_tokio()
                .map_err(|e| HickoryError(format!("system resolver configuration: {e}")))?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = config.query_timeout;
        opts.attempts = config.attempts.max(1);
        opts.validate = config.validate_dnssec;
        // Our own cache sits in front; keep hickory's small.
        opts.cache_size = 0;
        opts.ndots = 0;
        let mut cache = Cache::new(config.cache_size);
        cache.negative_ttl(config.negative_ttl);
        Ok(Self {
            resolver: builder.build(),
            cache: Arc::new(Mutex::new(cache)),
            epoch: Instant::now(),
            config: config.clone(),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }

    /// Answers one question (from the cache when it can).
    pub async fn resolve(&self, q: &Question) -> Answer {
        self.resolve_within(q, self.config.query_timeout).await
    }

    async fn resolve_within(&self, q: &Question, limit: Duration) -> Answer {
        if let Some(a) = self.cache.lock().ok().and_then(|c| c.get(q, self.now())) {
            return a;
        }
        if limit.is_zero() {
            return Answer::TempFail("evaluation time limit reached".into());
        }
        let name = format!("{}.", q.name());
        let rtype = match q.rtype() {
            RecordType::A => HRecordType::A,
            RecordType::Aaaa => HRecordType::AAAA,
            RecordType::Mx => HRecordType::MX,
            RecordType::Txt => HRecordType::TXT,
            RecordType::Ptr => HRecordType::PTR,
            RecordType::Tlsa => HRecordType::TLSA,
        };
        let answer = match tokio::time::timeout(limit, self.resolver.lookup(name, rtype)).await {
            Err(_) => Answer::TempFail(format!("{q}: timed out")),
            Ok(Ok(lookup)) => convert(lookup.records(), rtype),
            Ok(Err(e)) => convert_error(q, &e),
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(q.clone(), &answer, self.now());
        }
        answer
    }

    /// Drives a machine to its result, asking each round's questions concurrently (at most
    /// `max_concurrent` at a time), within the total time limit.
    pub async fn drive<M: DnsMachine>(&self, mut machine: M) -> M::Output {
        let deadline = Instant::now() + self.config.total_timeout;
        loop {
            match machine.poll() {
                Poll::Ready(out) => return out,
                Poll::Pending(questions) => {
                    for chunk in questions.chunks(self.config.max_concurrent.max(1)) {
                        let mut set = tokio::task::JoinSet::new();
                        for (i, q) in chunk.iter().enumerate() {
                            let me = self.clone();
                            let q = q.clone();
                            let left = deadline
                                .saturating_duration_since(Instant::now())
                                .min(self.config.query_timeout);
                            set.spawn(async move { (i, me.resolve_within(&q, left).await) });
                        }
                        let mut answers: Vec<Option<Answer>> = vec![None; chunk.len()];
                        while let Some(res) = set.join_next().await {
                            if let Ok((i, a)) = res {
                                answers[i] = Some(a);
                            }
                        }
                        for (q, a) in chunk.iter().zip(answers) {
                            let a =
                                a.unwrap_or_else(|| Answer::TempFail("lookup task failed".into()));
                            machine.provide(q, a);
                        }
                    }
                }
            }
        }
    }

    /// The number of cached answers.
    pub fn cached(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.len())
    }
}

/// A [`HickoryResolver`] with its own single-threaded tokio runtime, for synchronous callers
/// (command-line tools, tests): [`drive`](Self::drive) blocks until the machine is done.
/// Do not use it from inside an async runtime.
#[derive(Debug)]
pub struct BlockingResolver {
    rt: tokio::runtime::Runtime,
    inner: HickoryResolver,
}

impl BlockingResolver {
    /// Builds the runtime and the resolver.
    pub fn new(config: &HickoryConfig) -> Result<Self, HickoryError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HickoryError(format!("tokio runtime: {e}")))?;
        let inner = {
            let _guard = rt.enter();
            HickoryResolver::new(config)?
        };
        Ok(Self { rt, inner })
    }

    /// Drives a machine to its result.
    pub fn drive<M: DnsMachine>(&self, machine: M) -> M::Output {
        self.rt.block_on(self.inner.drive(machine))
    }

    /// Answers one question.
    pub fn resolve(&self, q: &Question) -> Answer {
        self.rt.block_on(self.inner.resolve(q))
    }
}

fn dnssec_of(proofs: impl Iterator<Item = Proof>) -> Dnssec {
    let mut any = false;
    let mut all_secure = true;
    for p in proofs {
        any = true;
        match p {
            Proof::Bogus => return Dnssec::Bogus,
            Proof::Secure => {}
            _ => all_secure = false,
        }
    }
    if any && all_secure {
        Dnssec::Secure
    } else {
        Dnssec::Insecure
    }
}

fn convert(records: &[hickory_resolver::proto::rr::Record], rtype: HRecordType) -> Answer {
    let wanted: Vec<&hickory_resolver::proto::rr::Record> = records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .collect();
    let dnssec = dnssec_of(wanted.iter().map(|r| r.proof()));
    if dnssec == Dnssec::Bogus {
        return Answer::TempFail("DNSSEC validation failed (bogus)".into());
    }
    let ttl = wanted.iter().map(|r| r.ttl()).min().unwrap_or(0);
    let out: Vec<Record> = wanted
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(Record::A(a.0)),
            RData::AAAA(a) => Some(Record::Aaaa(a.0)),
            RData::MX(mx) => Some(Record::mx(mx.preference(), &mx.exchange().to_ascii())),
            RData::TXT(t) => Some(Record::Txt(
                t.txt_data()
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect(),
            )),
            RData::PTR(p) => Some(Record::ptr(&p.0.to_ascii())),
            RData::TLSA(t) => Some(Record::Tlsa {
                usage: u8::from(t.cert_usage()),
                selector: u8::from(t.selector()),
                matching: u8::from(t.matching()),
                data: t.cert_data().to_vec(),
            }),
            _ => None,
        })
        .collect();
    if out.is_empty() {
        return Answer::NoData { dnssec };
    }
    Answer::Records {
        records: out,
        ttl,
        dnssec,
    }
}

fn convert_error(q: &Question, e: &hickory_resolver::ResolveError) -> Answer {
    if let Some(p) = e.proto() {
        match p.kind() {
            ProtoErrorKind::NoRecordsFound { response_code, .. } => {
                return match *response_code {
                    ResponseCode::NXDomain => Answer::NxDomain {
                        dnssec: Dnssec::Insecure,
                    },
                    ResponseCode::NoError => Answer::NoData {
                        dnssec: Dnssec::Insecure,
                    },
                    ResponseCode::Refused | ResponseCode::NotImp | ResponseCode::FormErr => {
                        Answer::PermFail(format!("{q}: {response_code}"))
                    }
                    rc => Answer::TempFail(format!("{q}: {rc}")),
                };
            }
            ProtoErrorKind::Timeout => return Answer::TempFail(format!("{q}: timed out")),
            _ => {}
        }
    }
    Answer::TempFail(format!("{q}: {e}"))
}
