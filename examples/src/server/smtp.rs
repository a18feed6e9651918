//! The SMTP services on `smtp-proto`'s server session and tokio adapter: the MX (mail from
//! other servers for local users) and submission (mail from authenticated users).
//!
//! The session does the protocol; this module answers its decisions:
//!
//! | decision | MX | submission |
//! | --- | --- | --- |
//! | connect | DNSBL score below the threshold, else `554 5.7.1` | accept |
//! | MAIL | SPF (for greylisting and Authentication-Results) | the login must own the sender (`553 5.7.1`, SMTP-031) |
//! | RCPT | local domain, else `554 5.7.1 Relay access denied`; known user or alias, else `550 5.1.1`; greylisting (`451 4.7.1`, never for postmaster/abuse); quota (`452 4.2.2`) | same validation; remote recipients need the outbound queue this version lacks (`554 5.7.1`) |
//! | end of data | DKIM/DMARC/ARC, DMARC `p=reject` (`550 5.7.1`), DNS temperror policy; then delivery | delivery |
//!
//! Delivery runs the user's Sieve script and writes the Maildir with fsync **before** the
//! `250` (SRV-044): a message is acknowledged only when it is on disk for every recipient.
//! A Sieve `reject` of the only recipients is refused in protocol (`550 5.7.1`), never
//! bounced (SRV-035). If a store fails temporarily for any recipient the whole message gets
//! `451 4.3.0` and the client retries (recipients already stored may then get a second
//! copy: duplicates are possible, loss is not).
//!
//! One log line per message (`id`, `from`, `size`, `nrcpt`, `message-id`, per-recipient
//! `to`/`orig_to`/`status`, check results, `delay`) and one per session.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use smtp_proto::reply::{EnhancedStatus, Reply, ReplyCode};
use smtp_proto::sasl;
use smtp_proto::server::{Decision, Event, ServerConfig, Verdict};
use smtp_proto::tokio::{ServeOptions, SessionInfo, SmtpHost, serve_connection};
use smtp_proto::types::{ForwardPath, ReversePath};

use super::checks::strip_fields;
use super::config::{Plaintext, TlsMode};
use super::delivery::{Incoming, Outcome};
use super::directory::{AuthFailure, Resolution};
use super::limits::Refusal;
use super::runtime::{Connection, Service, SessionFuture, Shared};
use super::trace::{self, Origin, With};
use super::types::{Address, canonical_ip};

/// Which SMTP service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Inbound from other servers.
    Mx,
    /// From authenticated users.
    Submission,
}

/// An SMTP service (MX or submission).
#[derive(Debug)]
pub struct Smtp {
    mode: Mode,
}

impl Smtp {
    /// The service in this mode.
    pub fn new(mode: Mode) -> Self {
        Self { mode }
    }
}

/// A reply with an enhanced status code. The arguments are constants of this module, so
/// building it cannot fail; a bad one falls back to a plain 451.
pub fn reply(code: u16, status: (u8, u16, u16), text: &str) -> Reply {
    let text = trace::clean(text, 400);
    ReplyCode::new(code)
        .ok()
        .and_then(|c| {
            Reply::new(
                c,
                EnhancedStatus::new(status.0, status.1, status.2).ok(),
                [text.as_str()],
            )
            .ok()
        })
        .or_else(|| Reply::new(ReplyCode::new(451).ok()?, None, ["Local error"]).ok())
        .expect("451 Local error is a valid reply")
}

struct Recipient {
    /// As the client gave it.
    original: String,
    /// The accounts it expands to.
    accounts: Vec<Address>,
}

struct Host {
    shared: Arc<Shared>,
    mode: Mode,
    session: u64,
    peer: SocketAddr,
    helo: Option<(bool, String)>,
    sender: Option<String>,
    spf: Option<mail_auth_core::spf::SpfOutput>,
    rcpts: Vec<Recipient>,
    data: Vec<u8>,
    /// Bytes of `data` reserved in the shared message-memory budget.
    reserved: u64,
    /// The budget was exhausted during this message: it is refused at the end.
    over_budget: bool,
    auth_user: Option<Address>,
    messages: u32,
    refused_rcpts: u32,
    started_tx: Instant,
}

fn sender_string(from: &ReversePath<'_>) -> String {
    match from {
        ReversePath::Null => String::new(),
        ReversePath::Mailbox(m) => m.to_string(),
    }
}

impl Host {
    fn reset(&mut self) {
        self.sender = None;
        self.spf = None;
        self.rcpts.clear();
        self.drop_data();
    }

    /// Forgets the message data and gives its memory back to the budget.
    fn drop_data(&mut self) {
        self.data = Vec::new();
        self.shared.message_memory.release(self.reserved);
        self.reserved = 0;
        self.over_budget = false;
    }

    fn postmaster(&self) -> String {
        let cfg = self.shared.config();
        let domain = cfg
            .local_domains()
            .first()
            .map_or_else(|| cfg.hostname.to_string(), ToString::to_string);
        format!("postmaster@{domain}")
    }

    async fn on_mail(&mut self, from: &ReversePath<'_>) -> Verdict {
        self.reset();
        self.started_tx = Instant::now();
        let sender = sender_string(from);
        if self.mode == Mode::Submission
            && let Some(login) = &self.auth_user
            && !sender.is_empty()
            && !self.shared.accounts.snapshot().owns_sender(login, &sender)
        {
            return Verdict::Reject(reply(
                553,
                (5, 7, 1),
                &format!("<{sender}>: Sender address rejected: not owned by user {login}"),
            ));
        }
        if self.mode == Mode::Mx {
            let checks = self.shared.checks();
            let helo = self.helo.as_ref().map_or("", |h| h.1.as_str()).to_string();
            self.spf = checks.spf(self.peer.ip(), &helo, &sender).await;
        }
        self.sender = Some(sender);
        Verdict::Accept
    }

    async fn on_rcpt(&mut self, to: &ForwardPath<'_>) -> Verdict {
        let rcpt = match to {
            ForwardPath::Postmaster => self.postmaster(),
            ForwardPath::Mailbox(m) => m.to_string(),
        };
        let dir = self.shared.accounts.snapshot();
        let accounts = match dir.resolve(&rcpt) {
            Resolution::Local(a) => a,
            Resolution::NotLocal if self.mode == Mode::Submission => {
                self.refused_rcpts += 1;
                return Verdict::Reject(reply(
                    554,
                    (5, 7, 1),
                    &format!(
                        "<{rcpt}>: Relay access denied: sending to other domains needs the outbound queue, which this server version does not have"
                    ),
                ));
            }
            Resolution::NotLocal => {
                self.refused_rcpts += 1;
                return Verdict::Reject(reply(
                    554,
                    (5, 7, 1),
                    &format!("<{rcpt}>: Relay access denied"),
                ));
            }
            Resolution::NoSuchUser => {
                self.refused_rcpts += 1;
                return Verdict::Reject(reply(
                    550,
                    (5, 1, 1),
                    &format!("<{rcpt}>: Recipient address rejected: User unknown"),
                ));
            }
        };
        let local = rcpt
            .rsplit_once('@')
            .map_or(rcpt.as_str(), |(l, _)| l)
            .to_ascii_lowercase();
        let role = matches!(local.as_str(), "postmaster" | "abuse");
        if self.mode == Mode::Mx
            && !role
            && let Some(wait) = self.shared.checks().greylist(
                self.peer.ip(),
                self.sender.as_deref().unwrap_or(""),
                &rcpt,
                self.spf.as_ref(),
            )
        {
            return Verdict::Reject(reply(
                451,
                (4, 7, 1),
                &format!(
                    "<{rcpt}>: Recipient address rejected: Greylisted, please try again in {wait} seconds"
                ),
            ));
        }
        // Quota: refuse now rather than after the data (452, the sender retries later).
        for a in &accounts {
            let Some(acc) = dir.account(a).cloned() else {
                continue;
            };
            if acc.quota.is_none() {
                continue;
            }
            let stores = Arc::clone(&self.shared.stores);
            let full = tokio::task::spawn_blocking(move || {
                stores
                    .open(&acc)
                    .ok()
                    .and_then(|s| s.maildir.quota().ok().flatten())
                    .is_some_and(|(l, u)| {
                        l.bytes
                            .is_some_and(|b| u.bytes >= i64::try_from(b).unwrap_or(i64::MAX))
                    })
            })
            .await
            .unwrap_or(false);
            if full {
                return Verdict::Reject(reply(
                    452,
                    (4, 2, 2),
                    &format!("<{rcpt}>: Mailbox full, try again later"),
                ));
            }
        }
        self.rcpts.push(Recipient {
            original: rcpt,
            accounts,
        });
        Verdict::Accept
    }

    async fn on_end_of_data(&mut self, info: &SessionInfo) -> Verdict {
        if self.over_budget {
            tracing::warn!(session = self.session, client = %self.peer, "message refused: message memory budget exhausted (limits.message_memory)");
            self.reset();
            return Verdict::Reject(reply(
                452,
                (4, 3, 1),
                "Insufficient system storage, try again later",
            ));
        }
        let started = self.started_tx;
        let data = std::mem::take(&mut self.data);
        // Given back to the budget when this returns, or if it is cancelled.
        let _reserved = Reservation {
            budget: Arc::clone(&self.shared.message_memory),
            bytes: std::mem::take(&mut self.reserved),
        };
        let sender = self.sender.clone().unwrap_or_default();
        let now = SystemTime::now();
        let id = trace::new_id(now);
        let mut verdict_checks = None;
        let mut message = data;
        if self.mode == Mode::Mx {
            let checks = self.shared.checks();
            message = strip_fields(&message, |n, v| {
                n.eq_ignore_ascii_case(b"authentication-results") && checks.is_forged_results(v)
            });
            let v = checks.evaluate(&message, self.spf.as_ref()).await;
            if let Some(why) = &v.reject {
                tracing::info!(id = %id, client = %self.peer, from = %sender, checks = %v.summary, "message refused: {why}");
                return Verdict::Reject(reply(550, (5, 7, 1), why));
            }
            if v.tempfail {
                tracing::info!(id = %id, client = %self.peer, from = %sender, checks = %v.summary, "message deferred: DNS failure");
                return Verdict::Reject(reply(
                    451,
                    (4, 4, 3),
                    "Temporary DNS failure while checking the sender, try again later",
                ));
            }
            verdict_checks = Some(v);
        }
        let cfg = self.shared.config();
        let (esmtp, helo) = self.helo.clone().unwrap_or((false, String::new()));
        let origin = Origin {
            helo,
            rdns: None,
            ip: canonical_ip(self.peer.ip()),
            with: if esmtp {
                With::Esmtp {
                    tls: info.tls.is_some(),
                    auth: self.auth_user.is_some(),
                }
            } else {
                With::Smtp
            },
            tls: info
                .tls
                .as_ref()
                .map(|t| (t.version.clone(), t.cipher.clone())),
        };
        let single = (self.rcpts.len() == 1).then(|| self.rcpts[0].original.clone());
        let mut prefix =
            trace::received(&origin, cfg.hostname.as_str(), &id, single.as_deref(), now);
        if let Some(v) = &verdict_checks {
            prefix.push_str(&v.header);
        }
        let mut full = prefix.into_bytes();
        full.extend_from_slice(&message);
        let size = message.len();
        let message_id = header_value(&message, b"message-id").unwrap_or_default();
        let rcpts: Vec<(String, Vec<Address>)> = self
            .rcpts
            .drain(..)
            .map(|r| (r.original, r.accounts))
            .collect();
        let shared = Arc::clone(&self.shared);
        let auth = self.auth_user.as_ref().map(ToString::to_string);
        let sender2 = sender.clone();
        let results = tokio::task::spawn_blocking(move || {
            let dir = shared.accounts.snapshot();
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for (orig, accounts) in rcpts {
                for a in accounts {
                    if !seen.insert(a.clone()) {
                        continue;
                    }
                    let outcome = match dir.account(&a) {
                        Some(acc) => shared.deliverer.deliver(
                            &dir,
                            acc,
                            &Incoming {
                                message: &full,
                                sender: &sender2,
                                original_rcpt: &orig,
                                auth_user: auth.as_deref(),
                            },
                        ),
                        None => Outcome::TempFail("account removed during the transaction".into()),
                    };
                    out.push((orig.clone(), a, outcome));
                }
            }
            out
        })
        .await
        .unwrap_or_default();
        self.messages += 1;
        let delay = started.elapsed();
        let mut stored = 0;
        let mut temp = None;
        let mut perm = None;
        let mut rejected = Vec::new();
        for (orig, a, o) in &results {
            let status = match o {
                Outcome::Stored(f) => {
                    stored += 1;
                    format!("sent ({})", f.join(","))
                }
                Outcome::Discarded => {
                    stored += 1;
                    "discarded (sieve)".into()
                }
                Outcome::Rejected(r) => {
                    rejected.push(r.clone());
                    format!("rejected (sieve: {r})")
                }
                Outcome::TempFail(e) => {
                    temp = Some(e.clone());
                    format!("deferred ({e})")
                }
                Outcome::PermFail(e) => {
                    perm = Some(e.clone());
                    format!("bounced ({e})")
                }
            };
            tracing::info!(id = %id, to = %a, orig_to = %orig, status = %status, "delivery");
        }
        let checks = verdict_checks.map(|v| v.summary).unwrap_or_default();
        let verdict = if results.is_empty() {
            Verdict::Reject(reply(
                451,
                (4, 3, 0),
                "Temporary local problem, try again later",
            ))
        } else if let Some(e) = &temp {
            Verdict::Reject(reply(
                451,
                (4, 3, 0),
                &format!("Temporary local problem, try again later ({})", short(e)),
            ))
        } else if let Some(e) = &perm {
            Verdict::Reject(reply(
                552,
                (5, 3, 4),
                &format!("Message refused by the mail store: {}", short(e)),
            ))
        } else if stored == 0 && !rejected.is_empty() {
            Verdict::Reject(reply(550, (5, 7, 1), &rejected.join("; ")))
        } else {
            Verdict::AcceptWith(reply(250, (2, 0, 0), &format!("Ok: queued as {id}")))
        };
        let status = match &verdict {
            Verdict::AcceptWith(_) => "accepted",
            _ => "refused",
        };
        tracing::info!(
            id = %id,
            session = self.session,
            client = %self.peer,
            from = %sender,
            size,
            nrcpt = results.len(),
            message_id = %message_id,
            checks = %checks,
            delay_ms = delay.as_millis() as u64,
            status,
            "message"
        );
        self.reset();
        verdict
    }
}

impl Drop for Host {
    /// A session cut short (cancelled, panicked) still gives its message memory back.
    fn drop(&mut self) {
        self.drop_data();
    }
}

/// Bytes of the message-memory budget held by a message, given back on drop.
struct Reservation {
    budget: Arc<super::runtime::MemoryBudget>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

fn short(e: &str) -> String {
    trace::clean(e, 120)
}

/// The unfolded value of the first header field `name` (case-insensitive).
fn header_value(message: &[u8], name: &[u8]) -> Option<String> {
    let (head, _) = crate::split_message(message);
    crate::header_fields(head)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| {
            let s = String::from_utf8_lossy(v);
            trace::clean(&s.split_whitespace().collect::<Vec<_>>().join(" "), 200)
        })
}

impl SmtpHost for Host {
    async fn decide(&mut self, decision: Decision, info: &SessionInfo) -> Verdict {
        match decision {
            Decision::Connect => {
                if self.mode == Mode::Mx
                    && let Some(lists) = self.shared.checks().dnsbl_block(self.peer.ip()).await
                {
                    tracing::info!(session = self.session, client = %self.peer, lists = %lists, "refused by DNSBL");
                    return Verdict::Reject(reply(
                        554,
                        (5, 7, 1),
                        &format!(
                            "Service unavailable; client [{}] blocked using {lists}",
                            canonical_ip(self.peer.ip())
                        ),
                    ));
                }
                Verdict::Accept
            }
            Decision::Helo { verb, name, .. } => {
                self.helo = Some((!matches!(verb, smtp_proto::command::HelloVerb::Helo), name));
                Verdict::Accept
            }
            Decision::Mail { from, .. } => self.on_mail(&from).await,
            Decision::Rcpt { to, .. } => self.on_rcpt(&to).await,
            Decision::EndOfData { .. } => self.on_end_of_data(info).await,
            _ => Verdict::Accept,
        }
    }

    async fn auth(&mut self, decision: sasl::Decision, _info: &SessionInfo) -> sasl::Answer {
        let sasl::Decision::VerifyPassword {
            authzid,
            authcid,
            password,
        } = decision
        else {
            return sasl::Answer::Reject;
        };
        if authzid
            .as_deref()
            .is_some_and(|z| !z.is_empty() && !z.eq_ignore_ascii_case(&authcid))
        {
            return sasl::Answer::Reject;
        }
        match self
            .shared
            .accounts
            .authenticate(&authcid, password.expose())
            .await
        {
            Ok(a) => {
                tracing::info!(session = self.session, client = %self.peer, user = %a.address, "smtp login");
                self.auth_user = Some(a.address);
                sasl::Answer::Accept
            }
            Err(e) => {
                if let AuthFailure::BadHash(h) = &e {
                    tracing::error!(user = %authcid, error = %h, "stored password hash unusable");
                }
                tracing::info!(session = self.session, client = %self.peer, user = %trace::clean(&authcid, 100), "smtp login failed");
                tokio::time::sleep(self.shared.config().auth.failure_delay.0).await;
                sasl::Answer::Reject
            }
        }
    }

    async fn message_data(&mut self, chunk: Vec<u8>) {
        if self.over_budget {
            return;
        }
        let n = chunk.len() as u64;
        if !self.shared.message_memory.try_reserve(n) {
            // Too many large messages at once: keep reading (the session must see the end
            // of the data) but store nothing; the message is refused with 452.
            self.drop_data();
            self.over_budget = true;
            return;
        }
        self.reserved += n;
        if self.data.is_empty() {
            self.data = chunk;
        } else {
            self.data.extend_from_slice(&chunk);
        }
    }

    fn event(&mut self, event: &Event, _info: &SessionInfo) {
        match event {
            Event::TransactionReset => {
                self.rcpts.clear();
                self.drop_data();
            }
            Event::Pregreet { .. }
            | Event::UnadvertisedPipelining
            | Event::NonSmtp
            | Event::BareLineEnding { .. }
            | Event::StartTlsInjection { .. } => {
                tracing::info!(session = self.session, client = %self.peer, event = ?event, "protocol violation");
            }
            _ => tracing::debug!(session = self.session, event = ?event, "smtp event"),
        }
    }
}

impl Service for Smtp {
    fn refusal(&self, why: Refusal) -> Vec<u8> {
        reply(421, (4, 7, 0), why.text()).to_bytes()
    }

    fn serve(&self, conn: Connection) -> SessionFuture {
        let mode = self.mode;
        Box::pin(async move {
            let cfg = conn.shared.config();
            let started = Instant::now();
            let hostname = cfg.hostname.to_string();
            let mut sc = match mode {
                Mode::Mx => ServerConfig::new(hostname),
                Mode::Submission => ServerConfig::submission(hostname),
            };
            sc.max_message_size = cfg.limits.max_message_size.0;
            sc.max_recipients = cfg.limits.max_recipients as usize;
            sc.command_timeout = cfg.limits.smtp_timeout.0;
            sc.starttls = conn.settings.tls == TlsMode::Starttls;
            if mode == Mode::Submission {
                sc.auth_requires_tls = !(cfg.auth.plaintext == Plaintext::Loopback
                    && canonical_ip(conn.peer.ip()).is_loopback());
            }
            let mut options = ServeOptions::with_tls(Arc::clone(&conn.shared.tls.config));
            options.implicit_tls = conn.settings.tls == TlsMode::Implicit;
            // A message being received at shutdown gets this long to finish (the server
            // waits 30 s in all for its sessions).
            options.shutdown_grace = Duration::from_secs(25);
            let mut host = Host {
                shared: Arc::clone(&conn.shared),
                mode,
                session: conn.id,
                peer: conn.peer,
                helo: None,
                sender: None,
                spf: None,
                rcpts: Vec::new(),
                data: Vec::new(),
                reserved: 0,
                over_budget: false,
                auth_user: None,
                messages: 0,
                refused_rcpts: 0,
                started_tx: Instant::now(),
            };
            let result = serve_connection(
                conn.stream,
                conn.peer,
                conn.local,
                Arc::new(sc),
                &options,
                &mut host,
                conn.shutdown,
            )
            .await;
            host.drop_data();
            tracing::info!(
                session = conn.id,
                service = if mode == Mode::Mx { "mx" } else { "submission" },
                listener = %conn.listener,
                client = %conn.peer,
                helo = host.helo.as_ref().map_or("-", |h| h.1.as_str()),
                user = host.auth_user.as_ref().map_or_else(|| "-".to_string(), ToString::to_string),
                messages = host.messages,
                refused_rcpts = host.refused_rcpts,
                duration_ms = started.elapsed().as_millis() as u64,
                error = result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                "session end"
            );
        })
    }
}
