//! A Maildir and Maildir++ message store that does not lose mail.
//!
//! This crate is the storage layer a mail server and an IMAP session share: delivery that
//! reports success only after the message and its directory entry are on disk, listing,
//! flags, Maildir++ folders, stable IMAP UIDs kept in Dovecot's `dovecot-uidlist` format, and
//! Maildir++ quota. It uses `std::fs` directly and has no async runtime; a server calls it
//! from a blocking thread.
//!
//! # What is here today
//!
//! - [`name`]: message file names: the unique part, the `S=`/`W=` size fields and the
//!   `:2,` info with its flags (`P R S T D F`) and keyword letters (`a` to `z`), parsed and
//!   written in canonical (ASCII) order. Unknown flag characters are kept, never dropped,
//!   and the separator is configurable (`:` on Unix, `;` or `!` where `:` is not allowed).
//!
//! ```
//! use maildir::name::{Flag, MessageName};
//!
//! let n = MessageName::parse("1276528487.M364837P9451.kurkku,S=1355,W=1394:2,SR", ':');
//! assert_eq!(n.size(), Some(1355));
//! assert!(n.flags().contains(Flag::Seen) && n.flags().contains(Flag::Replied));
//! let mut flags = n.flags().clone();
//! flags.insert(Flag::Flagged);
//! assert_eq!(n.with_flags(&flags, ':'), "1276528487.M364837P9451.kurkku,S=1355,W=1394:2,FRS");
//! ```
//!
//! # What this crate never does
//!
//! It never acknowledges a write before `fsync` of the file and of its directory, never
//! leaves a partial message in `new/` or `cur/`, and never panics on odd file names found
//! on disk. It has no `unsafe` code.
#![forbid(unsafe_code)]

pub mod name;
