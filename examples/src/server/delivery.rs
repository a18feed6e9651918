//! Final delivery: one message to one account, through the account's active Sieve script,
//! into its Maildir (SIEVE-026, MD-013, SRV-044).
//!
//! ```text
//!  message (+ Received, Authentication-Results) ──▶ Return-Path, Delivered-To, X-Original-To
//!      ──▶ active script? ──no──▶ INBOX
//!              │ yes (compiled once per file version, SIEVE-013)
//!              ▼
//!          sieve runtime ◀── questions answered here (mailbox exists, duplicate, include)
//!              │ actions
//!              ▼
//!   keep / fileinto [:create] [:flags] ──▶ Maildir folder (fsync before success)
//!   discard ──▶ nothing       reject/ereject ──▶ refused in protocol (550 5.7.1)
//!   redirect / vacation / notify to a local address ──▶ delivered here, one level deep
//!   redirect / vacation / notify elsewhere ──▶ needs the outbound queue this version does
//!       not have: logged; a redirect that would have dropped the local copy keeps it
//! ```
//!
//! Nothing here can lose a message quietly: a script that does not compile or fails at run
//! time leaves the implicit keep (RFC 5228 §2.10.6, SIEVE-012); `fileinto` a folder that
//! does not exist, without `:create`, goes to INBOX (as Dovecot does with
//! `lda_mailbox_autocreate = no`); a store error makes the whole delivery a temporary
//! failure so the sender retries.
//!
//! Everything here is blocking (file system): call it from a blocking thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use maildir::{FlagSet, Maildir};
use sieve::managesieve::store::FsScriptStore;
use sieve::runtime::ScriptLocation;
use sieve::{Action, Answer, CompileOptions, Context, Envelope, Program, Question, Runtime, Step};

use super::directory::{Account, Directory, Resolution};
use super::dupstore;
use super::mailstore::{AccountStore, Mailstore};
use super::trace;

/// What happened to one recipient's copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored in these folders (possibly several, e.g. `fileinto :copy`).
    Stored(Vec<String>),
    /// The script discarded it.
    Discarded,
    /// The script rejected it (RFC 5429); refuse in protocol with this reason.
    Rejected(String),
    /// A temporary failure (disk full, over quota, lock timeout): ask the sender to retry.
    TempFail(String),
    /// A permanent failure (message too large for the store).
    PermFail(String),
}

/// The envelope of the copy being delivered.
#[derive(Clone, Debug)]
pub struct Incoming<'a> {
    /// The message as received, with this server's Received and Authentication-Results
    /// fields already on top.
    pub message: &'a [u8],
    /// The envelope sender (`""` for the null sender).
    pub sender: &'a str,
    /// The envelope recipient as the client gave it (before alias expansion).
    pub original_rcpt: &'a str,
    /// The authenticated submitter, if any.
    pub auth_user: Option<&'a str>,
}

/// Deepest chain of local redirects and auto-replies followed.
pub const MAX_LOCAL_HOPS: usize = 3;

/// The delivery agent: compiled-script cache and the shared stores.
#[derive(Debug)]
pub struct Deliverer {
    stores: Arc<Mailstore>,
    hostname: String,
    compile: CompileOptions,
    programs: Mutex<HashMap<PathBuf, CachedProgram>>,
}

/// A compiled script with the modification time and length of the file it came from.
type CachedProgram = (Option<SystemTime>, u64, Arc<Program>);

/// Where one copy goes: folder, IMAP flags, `:create`, and its own bytes when an action
/// changed the message (edited headers, a vacation copy).
#[derive(Debug)]
struct Target {
    folder: String,
    flags: Vec<String>,
    create: bool,
    bytes: Option<Vec<u8>>,
}

impl Target {
    fn inbox() -> Self {
        Self {
            folder: "INBOX".into(),
            flags: Vec::new(),
            create: false,
            bytes: None,
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn split_header(msg: &[u8]) -> (&[u8], &[u8]) {
    match msg.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&msg[..i + 4], &msg[i + 4..]),
        None => match msg.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&msg[..i + 2], &msg[i + 2..]),
            None => (msg, &[]),
        },
    }
}

/// The message an action carries: the edited header block (which ends with its empty
/// line) on the body, or the message itself.
fn with_headers(msg: &[u8], headers: Option<&Arc<[u8]>>) -> Vec<u8> {
    match headers {
        Some(h) => {
            let (_, body) = split_header(msg);
            let mut v = Vec::with_capacity(h.len() + body.len());
            v.extend_from_slice(h);
            v.extend_from_slice(body);
            v
        }
        None => msg.to_vec(),
    }
}

impl Deliverer {
    /// A delivery agent over `stores`; `hostname` names this server in generated ids.
    pub fn new(stores: Arc<Mailstore>, hostname: &str) -> Self {
        Self {
            stores,
            hostname: hostname.to_string(),
            compile: CompileOptions::default(),
            programs: Mutex::new(HashMap::new()),
        }
    }

    /// The shared stores.
    pub fn stores(&self) -> &Arc<Mailstore> {
        &self.stores
    }

    /// The account's active script, compiled (cached per file version). `Ok(None)` when
    /// there is no active script; `Err` when it does not compile (the message is kept).
    fn active_program(&self, account: &Account) -> Result<Option<Arc<Program>>, String> {
        let dir = account.sieve_dir();
        if !dir.join(".active").exists() {
            return Ok(None);
        }
        let store = FsScriptStore::open(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let Some(name) = store
            .active()
            .map_err(|e| format!("active script: {e:?}"))?
        else {
            return Ok(None);
        };
        let path =
            std::fs::canonicalize(store.active_path()).unwrap_or_else(|_| store.active_path());
        let meta = std::fs::metadata(&path).ok();
        let stamp = (
            meta.as_ref().and_then(|m| m.modified().ok()),
            meta.as_ref().map_or(0, std::fs::Metadata::len),
        );
        {
            let cache = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((m, l, p)) = cache.get(&path)
                && (*m, *l) == stamp
                && m.is_some()
            {
                return Ok(Some(Arc::clone(p)));
            }
        }
        let src = store
            .get(&name)
            .map_err(|e| format!("script {name:?}: {e:?}"))?;
        let program =
            sieve::compile(&src, &self.compile).map_err(|e| format!("script {name:?}: {e}"))?;
        let program = Arc::new(program);
        let mut cache = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(path, (stamp.0, stamp.1, Arc::clone(&program)));
        Ok(Some(program))
    }

    /// Delivers one copy to `account`. `dir` resolves local redirect targets.
    pub fn deliver(&self, dir: &Directory, account: &Account, inc: &Incoming<'_>) -> Outcome {
        self.deliver_hop(dir, account, inc, 0)
    }

    fn deliver_hop(
        &self,
        dir: &Directory,
        account: &Account,
        inc: &Incoming<'_>,
        hop: usize,
    ) -> Outcome {
        let store = match self.stores.open(account) {
            Ok(s) => s,
            Err(e) => return failure(&e),
        };
        let mut message =
            trace::delivery_fields(inc.sender, account.address.as_str(), inc.original_rcpt)
                .into_bytes();
        message.extend_from_slice(inc.message);

        let program = match self.active_program(account) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(user = %account.address, error = %e, "sieve script not usable, keeping the message");
                None
            }
        };
        let Some(program) = program else {
            return store_into(&store, &[Target::inbox()], &message);
        };
        let actions = self.run_script(&store, account, &program, &message, inc);
        self.carry_out(dir, &store, account, actions, message, hop)
    }

    fn run_script(
        &self,
        store: &AccountStore,
        account: &Account,
        program: &Program,
        message: &[u8],
        inc: &Incoming<'_>,
    ) -> sieve::Outcome {
        let mut envelope = Envelope::new(inc.sender, account.address.as_str());
        if !inc
            .original_rcpt
            .eq_ignore_ascii_case(account.address.as_str())
        {
            envelope = envelope.with_orig_to(inc.original_rcpt);
        }
        if let Some(a) = inc.auth_user {
            envelope = envelope.with_auth(a);
        }
        let mut ctx = Context::default();
        ctx.user_addresses = vec![account.address.to_string()];
        ctx.now = i64::try_from(now_secs()).unwrap_or(0);
        ctx.environment
            .push(("domain".into(), account.address.domain().to_string()));
        ctx.environment.push(("host".into(), self.hostname.clone()));
        let mut rt = Runtime::new(program, message, envelope, ctx);
        loop {
            match rt.run() {
                Step::Done(o) => return o,
                Step::Question(q) => {
                    let a = self.answer(store, account, &q);
                    rt.answer(a);
                }
                _ => {
                    return sieve::Outcome {
                        actions: vec![Action::Keep {
                            flags: Vec::new(),
                            implicit: true,
                            headers: None,
                        }],
                        duplicates: Vec::new(),
                        error: None,
                        log: vec!["unknown runtime step; kept".into()],
                    };
                }
            }
        }
    }

    fn answer(&self, store: &AccountStore, account: &Account, q: &Question) -> Answer {
        match q {
            Question::MailboxExists(name) => Answer::Bool(store.maildir.folder(name).is_ok()),
            Question::SpecialUseExists {
                mailbox,
                special_use,
            } => {
                let found = store
                    .maildir
                    .list_folders()
                    .unwrap_or_default()
                    .into_iter()
                    .any(|f| {
                        f.special_use
                            .is_some_and(|s| s.attribute().eq_ignore_ascii_case(special_use))
                            && mailbox.as_ref().is_none_or(|m| *m == f.name)
                    });
                Answer::Bool(found)
            }
            Question::Duplicate { id, .. } => {
                Answer::Bool(dupstore::seen(&account.home, id, now_secs()))
            }
            Question::Include { name, location } => match location {
                ScriptLocation::Personal => {
                    let Ok(s) = FsScriptStore::open(account.sieve_dir()) else {
                        return Answer::NotFound;
                    };
                    let Ok(n) = sieve::managesieve::ScriptName::new(name.as_str()) else {
                        return Answer::NotFound;
                    };
                    match s.get(&n) {
                        Ok(src) => match sieve::compile(&src, &self.compile) {
                            Ok(p) => Answer::Script(Arc::new(p)),
                            Err(e) => Answer::Error(e.to_string()),
                        },
                        Err(_) => Answer::NotFound,
                    }
                }
                _ => Answer::NotFound,
            },
            _ => Answer::Value(None),
        }
    }

    fn carry_out(
        &self,
        dir: &Directory,
        store: &AccountStore,
        account: &Account,
        outcome: sieve::Outcome,
        mut message: Vec<u8>,
        hop: usize,
    ) -> Outcome {
        if let Some(e) = &outcome.error {
            tracing::warn!(user = %account.address, error = %e, "sieve runtime error, implicit keep");
        }
        for l in &outcome.log {
            tracing::info!(user = %account.address, "sieve: {l}");
        }
        let mut targets: Vec<Target> = Vec::new();
        let mut rejected = None;
        let mut keep_instead = false;
        for action in outcome.actions {
            match action {
                Action::Keep { flags, headers, .. } => {
                    targets.push(Target {
                        folder: "INBOX".into(),
                        flags,
                        create: false,
                        bytes: headers.map(|h| with_headers(&message, Some(&h))),
                    });
                }
                Action::FileInto {
                    mailbox,
                    flags,
                    create,
                    special_use,
                    headers,
                    ..
                } => {
                    let folder = special_use
                        .and_then(|su| special_use_folder(&store.maildir, &su))
                        .unwrap_or(mailbox);
                    targets.push(Target {
                        folder,
                        flags,
                        create,
                        bytes: headers.map(|h| with_headers(&message, Some(&h))),
                    });
                }
                Action::Discard => {}
                Action::Reject { reason, .. } => rejected = Some(reason),
                Action::Redirect {
                    address,
                    envelope_from,
                    copy,
                    headers,
                } => {
                    let m = with_headers(&message, headers.as_ref());
                    if !self.send_local(dir, &address, &envelope_from, &m, hop) && !copy {
                        tracing::warn!(user = %account.address, to = %address, "redirect to a remote address needs the outbound queue (not in this version): message kept instead");
                        keep_instead = true;
                    }
                }
                Action::Vacation { message: out, fcc }
                | Action::Notify {
                    message: out, fcc, ..
                } => {
                    let bytes = out.to_bytes(
                        &trace::rfc5322_date(SystemTime::now()),
                        &format!("<{}@{}>", trace::new_id(SystemTime::now()), self.hostname),
                    );
                    for to in &out.envelope_to {
                        if !self.send_local(dir, to, &out.envelope_from, &bytes, hop) {
                            tracing::warn!(user = %account.address, to = %to, "automatic reply to a remote address needs the outbound queue (not in this version): not sent");
                        }
                    }
                    if let Some(f) = fcc {
                        targets.push(Target {
                            folder: f.mailbox,
                            flags: f.flags,
                            create: f.create,
                            bytes: Some(bytes),
                        });
                    }
                }
                Action::ReplaceMessage { message: new } => {
                    message = new.to_vec();
                }
                Action::Error { message: m } => {
                    tracing::warn!(user = %account.address, "sieve error action: {m}");
                }
                _ => {}
            }
        }
        if keep_instead && !targets.iter().any(|t| t.folder == "INBOX") {
            targets.push(Target::inbox());
        }
        if let Some(reason) = rejected
            && targets.is_empty()
        {
            return Outcome::Rejected(reason);
        }
        if targets.is_empty() {
            record_duplicates(account, &outcome.duplicates);
            return Outcome::Discarded;
        }
        let result = store_into(store, &targets, &message);
        if matches!(result, Outcome::Stored(_)) {
            record_duplicates(account, &outcome.duplicates);
        }
        result
    }

    /// Delivers a generated or redirected message to a local address, if it is one.
    /// Returns false when the address is not local (or the hop limit is reached).
    fn send_local(&self, dir: &Directory, to: &str, from: &str, msg: &[u8], hop: usize) -> bool {
        if hop + 1 > MAX_LOCAL_HOPS {
            tracing::warn!(to = %to, "too many local redirects: stopped");
            return true;
        }
        let Resolution::Local(accounts) = dir.resolve(to) else {
            return false;
        };
        for a in accounts {
            let Some(acc) = dir.account(&a) else { continue };
            let inc = Incoming {
                message: msg,
                sender: from,
                original_rcpt: to,
                auth_user: None,
            };
            let r = self.deliver_hop(dir, acc, &inc, hop + 1);
            tracing::info!(to = %a, orig_to = %to, result = ?r, "local redirect");
        }
        true
    }
}

/// Writes the message (or a target's own bytes) into each target folder, then wakes the
/// account's IDLE sessions.
fn store_into(store: &AccountStore, targets: &[Target], message: &[u8]) -> Outcome {
    let mut stored = Vec::new();
    for t in targets {
        let bytes = t.bytes.as_deref().unwrap_or(message);
        let folder = match resolve_folder(&store.maildir, &t.folder, t.create) {
            Ok(f) => f,
            Err(e) => return failure(&e),
        };
        let r = if t.flags.is_empty() {
            folder.deliver(bytes).map(|_| ())
        } else {
            let mut fs = FlagSet::new();
            for f in &t.flags {
                fs.insert_imap(f);
            }
            folder.append(bytes, &fs, None).map(|_| ())
        };
        if let Err(e) = r {
            return failure(&e);
        }
        stored.push(folder.name().to_string());
    }
    store.changed.send_modify(|v| *v = v.wrapping_add(1));
    Outcome::Stored(stored)
}

/// The folder for a name: as named, created on the way with `:create`, else INBOX.
fn resolve_folder(md: &Maildir, name: &str, create: bool) -> maildir::Result<maildir::Folder> {
    match md.folder(name) {
        Ok(f) => Ok(f),
        Err(maildir::Error::NoSuchFolder(_)) if create => match md.create_folder(name) {
            Ok(f) => {
                let _ = md.subscribe(name);
                Ok(f)
            }
            Err(maildir::Error::FolderExists(_)) => md.folder(name),
            Err(e) => Err(e),
        },
        Err(e @ (maildir::Error::NoSuchFolder(_) | maildir::Error::InvalidFolderName { .. })) => {
            tracing::info!(folder = %name, reason = %e, "fileinto: delivering to INBOX instead");
            md.inbox()
        }
        Err(e) => Err(e),
    }
}

fn special_use_folder(md: &Maildir, attribute: &str) -> Option<String> {
    md.list_folders()
        .ok()?
        .into_iter()
        .find(|f| {
            f.special_use
                .is_some_and(|s| s.attribute().eq_ignore_ascii_case(attribute))
        })
        .map(|f| f.name)
}

fn record_duplicates(account: &Account, dups: &[sieve::runtime::DuplicateRecord]) {
    let ids: Vec<(String, u64)> = dups.iter().map(|d| (d.id.clone(), d.period)).collect();
    if let Err(e) = dupstore::record(&account.home, &ids, now_secs()) {
        tracing::warn!(user = %account.address, error = %e, "cannot record sieve tracking ids");
    }
}

fn failure(e: &maildir::Error) -> Outcome {
    if e.is_temporary() {
        Outcome::TempFail(e.to_string())
    } else {
        Outcome::PermFail(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::Config;
    use crate::server::mailstore::StoreSettings;
    use crate::server::users::User;
    use sieve::managesieve::ScriptName;

    struct Fixture {
        _tmp: tempfile::TempDir,
        dir: Directory,
        deliverer: Deliverer,
    }

    fn fixture(aliases: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = Config::parse(
            &format!("domains = [\"example.org\"]\n[aliases]\n{aliases}"),
            Some(&tmp.path().join("m.toml")),
        )
        .unwrap();
        let users = ["alice@example.org", "bob@example.org"]
            .iter()
            .map(|a| User {
                address: a.parse().unwrap(),
                password: String::new(),
                quota: None,
            })
            .collect();
        let dir = Directory::build(&cfg, users).unwrap();
        let stores = Arc::new(Mailstore::new(StoreSettings {
            fsync: true,
            max_message_size: 1 << 20,
            hostname: "mx.example.org".into(),
        }));
        Fixture {
            _tmp: tmp,
            dir,
            deliverer: Deliverer::new(stores, "mx.example.org"),
        }
    }

    impl Fixture {
        fn account(&self, a: &str) -> Account {
            self.dir.account(&a.parse().unwrap()).unwrap().clone()
        }
        fn script(&self, user: &str, src: &str) {
            let acc = self.account(user);
            let store = FsScriptStore::open(acc.sieve_dir()).unwrap();
            let name = ScriptName::new("main").unwrap();
            store.put(&name, src.as_bytes()).unwrap();
            store.set_active(Some(&name)).unwrap();
        }
        fn deliver(&self, user: &str, msg: &str) -> Outcome {
            self.deliver_from(user, "sender@example.net", msg)
        }
        fn deliver_from(&self, user: &str, sender: &str, msg: &str) -> Outcome {
            let acc = self.account(user);
            self.deliverer.deliver(
                &self.dir,
                &acc,
                &Incoming {
                    message: msg.as_bytes(),
                    sender,
                    original_rcpt: user,
                    auth_user: None,
                },
            )
        }
        /// (folder, file contents, flags part of the name) of every message of a user.
        fn messages(&self, user: &str) -> Vec<(String, String, String)> {
            let md = self.deliverer.stores.open(&self.account(user)).unwrap();
            let mut out = Vec::new();
            for f in md.maildir.list_folders().unwrap() {
                let Ok(folder) = md.maildir.folder(&f.name) else {
                    continue;
                };
                for sub in ["new", "cur"] {
                    let Ok(rd) = std::fs::read_dir(folder.path().join(sub)) else {
                        continue;
                    };
                    for e in rd {
                        let e = e.unwrap();
                        let name = e.file_name().to_string_lossy().into_owned();
                        let flags = name
                            .split_once(":2,")
                            .map_or(String::new(), |(_, f)| f.to_string());
                        out.push((
                            f.name.clone(),
                            std::fs::read_to_string(e.path()).unwrap(),
                            flags,
                        ));
                    }
                }
            }
            out.sort();
            out
        }
    }

    const MSG: &str = "From: x@example.net\r\nSubject: hello\r\n\r\nbody\r\n";

    #[test]
    fn no_script_goes_to_inbox_with_trace_fields_and_special_use_folders() {
        let f = fixture("");
        assert_eq!(
            f.deliver("alice@example.org", MSG),
            Outcome::Stored(vec!["INBOX".into()])
        );
        let m = f.messages("alice@example.org");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, "INBOX");
        assert_eq!(
            m[0].1,
            format!(
                "Return-Path: <sender@example.net>\r\nDelivered-To: alice@example.org\r\n{MSG}"
            )
        );
        let md = f
            .deliverer
            .stores
            .open(&f.account("alice@example.org"))
            .unwrap();
        let names: Vec<String> = md
            .maildir
            .list_folders()
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        for n in ["INBOX", "Drafts", "Sent", "Junk", "Trash", "Archive"] {
            assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        }
    }

    #[test]
    fn fileinto_flags_discard_reject() {
        let f = fixture("");
        f.script(
            "alice@example.org",
            r#"require ["fileinto", "mailbox", "imap4flags", "reject"];
if header :contains "subject" "sort-me" { fileinto :create :flags ["\\Flagged", "$Important"] "Lists.Rust"; stop; }
if header :contains "subject" "junk" { discard; stop; }
if header :contains "subject" "go away" { reject "not wanted"; stop; }
if header :contains "subject" "missing" { fileinto "Nope"; stop; }
"#,
        );
        let sorted = MSG.replace("hello", "please sort-me");
        assert_eq!(
            f.deliver("alice@example.org", &sorted),
            Outcome::Stored(vec!["Lists.Rust".into()])
        );
        assert_eq!(
            f.deliver("alice@example.org", &MSG.replace("hello", "junk")),
            Outcome::Discarded
        );
        assert_eq!(
            f.deliver("alice@example.org", &MSG.replace("hello", "go away")),
            Outcome::Rejected("not wanted".into())
        );
        // fileinto a missing folder without :create: INBOX, never lost.
        assert_eq!(
            f.deliver("alice@example.org", &MSG.replace("hello", "missing")),
            Outcome::Stored(vec!["INBOX".into()])
        );
        assert_eq!(
            f.deliver("alice@example.org", MSG),
            Outcome::Stored(vec!["INBOX".into()])
        );
        let m = f.messages("alice@example.org");
        assert_eq!(m.len(), 3, "{m:#?}");
        let rust: Vec<_> = m.iter().filter(|x| x.0 == "Lists.Rust").collect();
        assert_eq!(rust.len(), 1);
        assert!(
            rust[0].2.contains('F') && rust[0].2.contains('a'),
            "flags {:?}",
            rust[0].2
        );
        assert!(rust[0].1.contains("please sort-me"));
    }

    #[test]
    fn broken_script_keeps_and_local_redirect_and_vacation_deliver() {
        let f = fixture("\"team@example.org\" = [\"alice\", \"bob\"]\n");
        f.script("bob@example.org", "this is not sieve");
        assert_eq!(
            f.deliver("bob@example.org", MSG),
            Outcome::Stored(vec!["INBOX".into()])
        );
        f.script(
            "alice@example.org",
            r#"require ["vacation"];
redirect "bob@example.org";
vacation :days 1 :subject "away" "I am away";
"#,
        );
        // Redirect (no :copy) cancels alice's keep; bob gets the copy; the vacation reply
        // to a remote sender is not sent (no outbound path) and nothing else is lost.
        let to_alice = MSG.replace(
            "From: x@example.net\r\n",
            "From: bob@example.org\r\nTo: alice@example.org\r\n",
        );
        assert_eq!(
            f.deliver_from("alice@example.org", "bob@example.org", &to_alice),
            Outcome::Discarded
        );
        let bob = f.messages("bob@example.org");
        assert_eq!(bob.len(), 3, "{bob:#?}");
        // The redirected copy: sender kept, delivered to bob.
        assert!(
            bob.iter().any(|m| m.1.starts_with(
                "Return-Path: <bob@example.org>\r\nDelivered-To: bob@example.org\r\n"
            ) && m.1.contains("To: alice@example.org")),
            "{bob:#?}"
        );
        // The vacation reply went to the envelope sender bob, a local user, with the null
        // sender (RFC 5230 §5).
        assert!(
            bob.iter()
                .any(|m| m.1.contains("Subject: away") && m.1.starts_with("Return-Path: <>")),
            "{bob:#?}"
        );
        assert!(f.messages("alice@example.org").is_empty());
        // The reply is tracked: a second message in the period gets none.
        assert_eq!(
            f.deliver_from("alice@example.org", "bob@example.org", &to_alice),
            Outcome::Discarded
        );
        assert_eq!(f.messages("bob@example.org").len(), 4);
    }

    #[test]
    fn remote_redirect_keeps_the_message() {
        let f = fixture("");
        f.script(
            "alice@example.org",
            "redirect \"someone@remote.example\";\n",
        );
        assert_eq!(
            f.deliver("alice@example.org", MSG),
            Outcome::Stored(vec!["INBOX".into()])
        );
    }
}
