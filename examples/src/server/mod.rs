//! The reference mail server `mail-server`: the pieces behind the binary.
//!
//! One process receives mail (MX), accepts submissions from users, checks senders (SPF,
//! DKIM, DMARC, ARC), filters with each user's Sieve script, stores into Maildir and serves
//! it over IMAP and ManageSieve, for a small organisation. It is built only from the crate
//! family (`smtp-proto`, `imap-proto`, `mail-auth-core`, `maildir`, `sieve`) through their
//! tokio adapters; this module tree holds the glue and the policy:
//!
//! | module | what it is |
//! | --- | --- |
//! | [`config`] | the TOML configuration, strict, with the embedded defaults and the `init` example |
//! | [`types`] | validated values: domain names, addresses, networks, durations, sizes |
//! | [`password`] | Dovecot-style `{SCHEME}` password hashes, verified and made |
//! | [`users`] | the users file (Dovecot passwd-file format) and its crash-safe edits |
//! | [`directory`] | domains, accounts, aliases, recipient resolution, the shared auth service |
//! | [`mailstore`] | one shared Maildir handle per account, wake-ups for IMAP IDLE |
//! | [`delivery`] | final delivery through the user's Sieve script into the Maildir |
//! | [`dupstore`] | Sieve duplicate / vacation tracking ids per user |
//! | [`managesieve`] | the ManageSieve service on the `sieve` crate's session and adapter |
//! | [`trace`] | Received, Return-Path, Delivered-To, X-Original-To; ids and RFC 5322 dates |
//! | [`limits`] | per-address and total connection limits, connection rate |
//! | [`checks`] | SPF, DKIM, DMARC, ARC, Authentication-Results, DNSBL, greylisting on one resolver |
//! | [`greylist`] | greylisting with network-granular triplets and allow lists |
//! | [`dnsbl`] | DNS block list scoring as a `mail-auth-core` DNS machine |
//! | [`tls`] | certificate loading, self-signed generation, hot reload |
//! | [`imap`] | the IMAP service on `imap-proto`'s session and adapter, over the Maildirs |
//! | [`smtp`] | the MX and submission services on `smtp-proto`'s session and adapter |
//! | [`runtime`] | listeners, connection admission, logging, SIGTERM/SIGHUP handling |
//!
//! Data layout under `data_dir` (default `./mail-data`):
//!
//! ```text
//! passwd                          users (mail-server user add/list/del)
//! tls/cert.pem, tls/key.pem       generated self-signed certificate (when none is configured)
//! users/DOMAIN/LOCAL/Maildir/     the account's mail (Maildir++, Dovecot-compatible UIDs)
//! users/DOMAIN/LOCAL/sieve/       the account's Sieve scripts (ManageSieve)
//! greylist                        greylisting state
//! ```

pub mod checks;
pub mod config;
pub mod delivery;
pub mod directory;
pub mod dnsbl;
pub mod dupstore;
pub mod greylist;
pub mod imap;
mod imap_fetch;
pub mod limits;
pub mod mailstore;
pub mod managesieve;
pub mod password;
pub mod runtime;
pub mod smtp;
pub mod tls;
pub mod trace;
pub mod types;
pub mod users;

use std::collections::BTreeMap;
use std::sync::Arc;

/// The protocol services this build has, by the listener kind they serve. Each arrives
/// with its crate's server session and tokio adapter.
pub fn services() -> BTreeMap<config::Service, Arc<dyn runtime::Service>> {
    let mut m: BTreeMap<config::Service, Arc<dyn runtime::Service>> = BTreeMap::new();
    m.insert(
        config::Service::Managesieve,
        Arc::new(managesieve::ManageSieve),
    );
    m.insert(config::Service::Imap, Arc::new(imap::Imap));
    m.insert(
        config::Service::Mx,
        Arc::new(smtp::Smtp::new(smtp::Mode::Mx)),
    );
    m.insert(
        config::Service::Submission,
        Arc::new(smtp::Smtp::new(smtp::Mode::Submission)),
    );
    m
}
