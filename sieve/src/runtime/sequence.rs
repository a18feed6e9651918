//! Several scripts over one message, as one result: an administrator's scripts before and
//! after the user's (Pigeonhole's `sieve_before` / `sieve_after`), or any chain a host
//! runs.
//!
//! Each script runs on its own [`Runtime`](crate::Runtime); [`ScriptSequence::add`] merges
//! its [`Outcome`] into the sequence's result the way Pigeonhole merges them:
//!
//! - an action that repeats one of an earlier script is dropped: a second `keep` or
//!   `fileinto` of the same mailbox (`keep` is `fileinto "INBOX"`; when a `keep` meets an
//!   earlier `fileinto "INBOX"`, the entry becomes the `keep`), a second `redirect` to the
//!   same address, a second `discard` (RFC 5228 §2.10.3 and §4.2);
//! - a `reject`/`ereject` after one is dropped, and so is a second vacation response
//!   (one per message, RFC 5230 §4.4);
//! - the implicit keep is carried out once, at the end, and only if no script cancelled it
//!   (RFC 5228 §2.10.2); a script that cancels it (`fileinto`, `discard`, `redirect`,
//!   explicit `keep`, ...) or fails ends the sequence: [`ScriptSequence::is_active`] says
//!   whether to run the next script. A failed script keeps the message (its outcome holds
//!   the implicit keep, §2.10.6).
//!
//! The runtime checks conflicts (`reject` with `fileinto`, ...) within one script; across
//! scripts they cannot arise as Pigeonhole runs them, because each script's actions are
//! carried out before the next one runs: [`ScriptSequence::add`] returns exactly the
//! actions to carry out at that point.
//!
//! ```
//! use sieve::runtime::ScriptSequence;
//! use sieve::{compile, Action, Answer, CompileOptions, Context, Envelope, Outcome, Runtime, Step};
//!
//! fn run(script: &str) -> Outcome {
//!     let p = compile(script.as_bytes(), &CompileOptions::default()).unwrap();
//!     let mut rt = Runtime::new(&p, b"Subject: hi\r\n\r\nbody\r\n",
//!         Envelope::new("a@example.com", "b@example.org"), Context::default());
//!     loop {
//!         match rt.run() {
//!             Step::Done(o) => return o,
//!             Step::Question(_) => rt.answer(Answer::Bool(false)),
//!             _ => unreachable!(),
//!         }
//!     }
//! }
//!
//! let mut seq = ScriptSequence::new();
//! // The global script: a copy to an archive; the implicit keep is still in effect.
//! let now = seq.add(run(r#"require ["fileinto", "copy"]; fileinto :copy "Archive";"#));
//! assert!(matches!(&now[..], [Action::FileInto { mailbox, .. }] if mailbox == "Archive"));
//! assert!(seq.is_active());
//! // The user's script files into the archive too (a duplicate) and keeps.
//! let now = seq.add(run(r#"require "fileinto"; fileinto "Archive"; keep;"#));
//! assert!(matches!(&now[..], [Action::Keep { implicit: false, .. }]));
//! assert!(!seq.is_active()); // the implicit keep was cancelled: no further script runs
//! let outcome = seq.finish();
//! assert_eq!(outcome.actions.len(), 2); // the archive copy and the keep; no implicit keep
//! ```

use super::{Action, DuplicateRecord, Outcome, RuntimeError};

/// The merged result of several scripts run over one message (see the module
/// documentation).
#[derive(Clone, Debug)]
pub struct ScriptSequence {
    actions: Vec<Action>,
    /// The implicit keep of the last script, while every script left it in effect.
    implicit_keep: Option<Action>,
    keep_in_effect: bool,
    duplicates: Vec<DuplicateRecord>,
    error: Option<RuntimeError>,
    log: Vec<String>,
    scripts: usize,
}

impl Default for ScriptSequence {
    fn default() -> Self {
        Self::new()
    }
}

/// The mailbox a store-like action delivers to: `keep` is `INBOX` (any case).
fn store_target(a: &Action) -> Option<&str> {
    match a {
        Action::Keep {
            implicit: false, ..
        } => Some("INBOX"),
        Action::FileInto { mailbox, .. } if mailbox.eq_ignore_ascii_case("INBOX") => Some("INBOX"),
        Action::FileInto { mailbox, .. } => Some(mailbox),
        _ => None,
    }
}

impl ScriptSequence {
    /// An empty sequence: no script yet, the implicit keep in effect.
    pub fn new() -> Self {
        Self {
            actions: Vec::new(),
            implicit_keep: None,
            keep_in_effect: true,
            duplicates: Vec::new(),
            error: None,
            log: Vec::new(),
            scripts: 0,
        }
    }

    /// Whether the next script of the sequence should run: every script so far ended
    /// without error and left the implicit keep in effect.
    pub fn is_active(&self) -> bool {
        self.keep_in_effect && self.error.is_none()
    }

    /// Every explicit action of the sequence so far, merged, in order (the implicit keep
    /// is not among them; see [`ScriptSequence::finish`]).
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Merges the outcome of the next script; returns its actions that are new to the
    /// sequence (duplicates, a second reject and a second vacation response dropped),
    /// for a host that carries out each script's actions before running the next.
    pub fn add(&mut self, outcome: Outcome) -> Vec<Action> {
        self.scripts += 1;
        let mut fresh = Vec::new();
        let mut implicit = None;
        for a in outcome.actions {
            if matches!(a, Action::Keep { implicit: true, .. }) {
                implicit = Some(a);
                continue;
            }
            if let Some(target) = store_target(&a)
                && let Some(i) = self
                    .actions
                    .iter()
                    .position(|b| store_target(b) == Some(target))
            {
                // `keep` is the canonical form of a store into INBOX.
                if matches!(a, Action::Keep { .. })
                    && matches!(self.actions[i], Action::FileInto { .. })
                {
                    self.actions[i] = a;
                }
                continue;
            }
            let repeated = self.actions.iter().any(|b| match (&a, b) {
                (Action::Redirect { address: x, .. }, Action::Redirect { address: y, .. }) => {
                    x.eq_ignore_ascii_case(y)
                }
                (Action::Discard, Action::Discard)
                | (Action::Reject { .. }, Action::Reject { .. })
                | (Action::Vacation { .. }, Action::Vacation { .. }) => true,
                _ => false,
            });
            if repeated {
                continue;
            }
            self.actions.push(a.clone());
            fresh.push(a);
        }
        self.keep_in_effect &= implicit.is_some();
        self.implicit_keep = if self.keep_in_effect { implicit } else { None };
        self.duplicates.extend(outcome.duplicates);
        self.log.extend(outcome.log);
        if self.error.is_none() {
            self.error = outcome.error;
        }
        fresh
    }

    /// How many scripts were added.
    pub fn len(&self) -> usize {
        self.scripts
    }

    /// Whether no script was added yet.
    pub fn is_empty(&self) -> bool {
        self.scripts == 0
    }

    /// The merged result: every action of [`ScriptSequence::actions`], then the implicit
    /// keep if no script cancelled it (with the last script's flags and edited headers),
    /// the tracking records of all scripts, and the first error. A host that carried out
    /// what [`ScriptSequence::add`] returned carries out only the implicit keep
    /// ([`Outcome::implicit_keep`]).
    pub fn finish(self) -> Outcome {
        let mut actions = self.actions;
        if self.keep_in_effect {
            actions.push(self.implicit_keep.unwrap_or(Action::Keep {
                flags: Vec::new(),
                implicit: true,
                headers: None,
            }));
        }
        Outcome {
            actions,
            duplicates: self.duplicates,
            error: self.error,
            log: self.log,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(actions: Vec<Action>) -> Outcome {
        Outcome {
            actions,
            duplicates: Vec::new(),
            error: None,
            log: Vec::new(),
        }
    }

    fn keep(implicit: bool) -> Action {
        Action::Keep {
            flags: Vec::new(),
            implicit,
            headers: None,
        }
    }

    fn fileinto(m: &str) -> Action {
        Action::FileInto {
            mailbox: m.into(),
            flags: Vec::new(),
            create: false,
            special_use: None,
            copy: false,
            headers: None,
        }
    }

    fn reject(r: &str) -> Action {
        Action::Reject {
            reason: r.into(),
            extended: false,
        }
    }

    fn kinds(a: &[Action]) -> Vec<&'static str> {
        a.iter().map(Action::kind_name).collect()
    }

    #[test]
    fn duplicates_collapse_and_keep_wins() {
        // Pigeonhole's multiscript/conflicts "Duplicates".
        let mut s = ScriptSequence::new();
        assert_eq!(kinds(&s.add(outcome(vec![fileinto("INBOX")]))), ["store"]);
        assert!(s.add(outcome(vec![fileinto("inbox")])).is_empty());
        assert!(s.add(outcome(vec![keep(false)])).is_empty());
        assert_eq!(kinds(s.actions()), ["keep"]);
        assert!(!s.is_active());
        let o = s.finish();
        assert_eq!(kinds(&o.actions), ["keep"]);
        assert!(!o.implicit_keep());
    }

    #[test]
    fn second_reject_and_vacation_are_dropped() {
        // Pigeonhole's multiscript/conflicts "Graceful Conflicts".
        let mut s = ScriptSequence::new();
        s.add(outcome(vec![fileinto("INBOX")]));
        assert_eq!(kinds(&s.add(outcome(vec![reject("no")]))), ["reject"]);
        assert!(s.add(outcome(vec![reject("never")])).is_empty());
        assert_eq!(kinds(s.actions()), ["store", "reject"]);
        assert!(
            matches!(&s.actions()[1], Action::Reject { reason, .. } if reason == "no"),
            "the first reject is kept"
        );
        let redirect = |a: &str| Action::Redirect {
            address: a.into(),
            envelope_from: String::new(),
            copy: false,
            headers: None,
        };
        let mut s = ScriptSequence::new();
        s.add(outcome(vec![redirect("a@example.com"), keep(true)]));
        let fresh = s.add(outcome(vec![redirect("A@EXAMPLE.COM"), Action::Discard]));
        assert_eq!(kinds(&fresh), ["discard"]);
        assert!(s.add(outcome(vec![Action::Discard])).is_empty());
    }

    #[test]
    fn implicit_keep_at_the_end_only_if_never_cancelled() {
        let mut s = ScriptSequence::new();
        let flagged = Action::Keep {
            flags: vec!["\\Seen".into()],
            implicit: true,
            headers: None,
        };
        assert!(s.add(outcome(vec![keep(true)])).is_empty());
        assert!(s.is_active());
        s.add(outcome(vec![fileinto("Copy"), flagged.clone()]));
        assert!(s.is_active());
        assert_eq!(s.len(), 2);
        let o = s.clone().finish();
        assert_eq!(kinds(&o.actions), ["store", "keep"]);
        assert_eq!(o.actions[1], flagged, "the last script's implicit keep");
        // A script that cancels it ends the sequence, for good.
        s.add(outcome(vec![Action::Discard]));
        assert!(!s.is_active());
        s.add(outcome(vec![keep(true)]));
        assert!(!s.finish().implicit_keep());
        // No script: the implicit keep alone.
        assert_eq!(kinds(&ScriptSequence::new().finish().actions), ["keep"]);
    }

    #[test]
    fn an_error_ends_the_sequence_and_keeps() {
        let mut s = ScriptSequence::new();
        s.add(outcome(vec![fileinto("A"), keep(true)]));
        let mut failed = outcome(vec![keep(true)]);
        failed.error = Some(RuntimeError {
            message: "boom".into(),
            line: 1,
        });
        s.add(failed);
        assert!(!s.is_active());
        let o = s.finish();
        assert_eq!(kinds(&o.actions), ["store", "keep"]);
        assert!(o.error.is_some());
    }
}
