//! The accounts' Maildirs as one process sees them: one [`maildir::Maildir`] handle per
//! account, shared by delivery and every IMAP session of that account (the `maildir` crate
//! keeps per-folder state in the handle, so sharing it is what makes sessions see each
//! other's changes at once), and a change counter that wakes sessions waiting in IDLE.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use maildir::quota::QuotaLimits;
use maildir::{Maildir, Options};

use super::directory::Account;

/// One account's store.
#[derive(Debug)]
pub struct AccountStore {
    /// The Maildir.
    pub maildir: Arc<Maildir>,
    /// A counter bumped after every delivery to the account and every change an IMAP
    /// session makes; sessions in IDLE watch it.
    pub changed: Arc<tokio::sync::watch::Sender<u64>>,
    quota: Option<u64>,
}

/// Settings every account's Maildir gets.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// fsync before reporting success (always on in the server; off only in benches).
    pub fsync: bool,
    /// The largest message accepted.
    pub max_message_size: u64,
    /// Host name in new file names.
    pub hostname: String,
}

/// The registry of open account stores.
#[derive(Debug)]
pub struct Mailstore {
    settings: StoreSettings,
    open: Mutex<HashMap<PathBuf, Arc<AccountStore>>>,
}

impl Mailstore {
    /// An empty registry.
    pub fn new(settings: StoreSettings) -> Self {
        Self {
            settings,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn options(&self, quota: Option<u64>) -> Options {
        let mut o = Options::default();
        o.dangerous_no_fsync(!self.settings.fsync)
            .max_message_size(self.settings.max_message_size)
            .hostname(&self.settings.hostname)
            .quota(quota.map(|b| QuotaLimits {
                bytes: Some(b),
                messages: None,
            }));
        o
    }

    /// The store of an account, opening it (and creating it with INBOX and the
    /// special-use folders Drafts, Sent, Junk, Trash and Archive when it is new).
    /// Blocking: call from a blocking thread.
    pub fn open(&self, account: &Account) -> maildir::Result<Arc<AccountStore>> {
        let root = account.maildir();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = open.get(&root)
            && s.quota == account.quota
        {
            return Ok(Arc::clone(s));
        }
        let opts = self.options(account.quota);
        let md = if root.join("cur").is_dir() {
            Maildir::open(&root, opts)?
        } else {
            Maildir::create_account(&root, opts)?
        };
        let changed = open.get(&root).map_or_else(
            || Arc::new(tokio::sync::watch::Sender::new(0)),
            |s| Arc::clone(&s.changed),
        );
        let store = Arc::new(AccountStore {
            maildir: Arc::new(md),
            changed,
            quota: account.quota,
        });
        open.insert(root, Arc::clone(&store));
        Ok(store)
    }

    /// Number of accounts open (for tests and metrics).
    pub fn open_count(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
