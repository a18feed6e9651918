//! The values the runtime exchanges with its host: the envelope and context going in,
//! questions and answers during a run, actions coming out.

use std::fmt;
use std::sync::Arc;

use crate::program::Program;
use crate::testsuite::TestsuiteRequest;

/// The SMTP envelope of the message being filtered (RFC 5228 §5.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The reverse path (`MAIL FROM`), without angle brackets; empty for the null sender.
    pub from: String,
    /// The final recipient (`RCPT TO`) this delivery is for.
    pub to: String,
    /// The original recipient (RFC 3461 ORCPT), if known; used by `envelope "to"` when set.
    pub orig_to: Option<String>,
    /// The authenticated submitter (RFC 4954 AUTH), for `envelope "auth"`.
    pub auth: Option<String>,
}

impl Envelope {
    /// An envelope with a sender and a recipient.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            orig_to: None,
            auth: None,
        }
    }

    /// Sets the original recipient.
    #[must_use]
    pub fn with_orig_to(mut self, orig_to: impl Into<String>) -> Self {
        self.orig_to = Some(orig_to.into());
        self
    }

    /// Parses an SMTP path as given in `MAIL FROM` or `RCPT TO` (RFC 5321 §4.1.2): `<a@b>`
    /// or `a@b`, an obsolete source route ignored, `<>` or `""` for the null path (returned
    /// as `""`). Returns the mailbox without brackets, or `None` when the text is not a path.
    /// The `envelope` test applies the same rule to the fields here: a field that is not a
    /// path matches nothing.
    #[must_use]
    pub fn parse_path(text: &str) -> Option<String> {
        crate::address::parse_smtp_path(text)
    }

    /// Sets the authenticated submitter.
    #[must_use]
    pub fn with_auth(mut self, auth: impl Into<String>) -> Self {
        self.auth = Some(auth.into());
        self
    }
}

/// Limits on one run. Every limit has a safe default; exceeding one is a runtime error
/// (the message is then kept, RFC 5228 §2.10.6).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunLimits {
    /// Instructions, comparisons and matching steps (default 5,000,000).
    pub max_cpu_steps: u64,
    /// Actions, implicit keep excluded (default 64).
    pub max_actions: usize,
    /// `redirect` actions (default 4).
    pub max_redirects: usize,
    /// `notify` actions (default 8; 0 forbids notify).
    pub max_notifications: usize,
    /// Nested `foreverypart` loops, counted across `include`d scripts (default 4).
    pub max_loop_depth: usize,
    /// Nested `include` depth (default 10).
    pub max_include_depth: usize,
    /// `include` commands executed in a run (default 64).
    pub max_includes: usize,
    /// Size of a variable's value in bytes; longer values are truncated (RFC 5229 §3; default 4096).
    pub max_variable_size: usize,
    /// Header fields added or deleted by `editheader` (default 256).
    pub max_header_edits: usize,
    /// Size of a header field added by `addheader`, name and value (default 2048).
    pub max_header_size: usize,
    /// External programs run by `filter` and `execute`, and `pipe` actions, in one run
    /// (vnd.dovecot.filter/execute/pipe; default 32). Each run is bounded by the host's
    /// own time limit (Pigeonhole's `sieve_<ext>_exec_timeout`, 10 s by default).
    pub max_program_runs: usize,
    /// Bytes of output accepted from one external program (default 32 MiB): a `filter`
    /// whose output is longer leaves the message unchanged; `execute :output` keeps at
    /// most this many bytes, and at most [`RunLimits::max_variable_size`].
    pub max_program_output: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            max_cpu_steps: 5_000_000,
            max_actions: 64,
            max_redirects: 4,
            max_notifications: 8,
            max_loop_depth: 4,
            max_include_depth: 10,
            max_includes: 64,
            max_variable_size: 4096,
            max_header_edits: 256,
            max_header_size: 2048,
            max_program_runs: 32,
            max_program_output: 32 << 20,
        }
    }
}

/// Vacation settings of the host (RFC 5230 §4.1, RFC 6131).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VacationConfig {
    /// Period when the script gives none (default 7 days).
    pub default_period: u64,
    /// Shortest period accepted; shorter ones are raised to it (default 1 day). `:seconds 0`
    /// is honored only if this is 0.
    pub min_period: u64,
    /// Longest period accepted (default 90 days).
    pub max_period: u64,
    /// Subject when the script gives none and the message has none.
    pub default_subject: String,
    /// Only answer if one of the user's addresses is in To/Cc/Bcc/Resent-* (RFC 5230 §4.5).
    pub check_recipient: bool,
    /// Subject template when the script gives none: `%{subject}` is the original subject.
    pub default_subject_template: Option<String>,
    /// Count the original recipient (ORCPT) among the user's addresses.
    pub use_original_recipient: bool,
    /// Send responses with the user's address as envelope sender instead of the null sender.
    pub send_from_recipient: bool,
    /// Address responses to the Sender/From header instead of the envelope sender.
    pub to_header_ignore_envelope: bool,
}

impl Default for VacationConfig {
    fn default() -> Self {
        Self {
            default_period: 7 * 86_400,
            min_period: 86_400,
            max_period: 90 * 86_400,
            default_subject: "Automated reply".into(),
            check_recipient: true,
            default_subject_template: None,
            use_original_recipient: false,
            send_from_recipient: false,
            to_header_ignore_envelope: false,
        }
    }
}

/// Where a scanner's verdict is: a header, and optionally a regular expression whose first
/// group (or whole match) is the value within that header's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreHeader {
    /// The header field name (e.g. `X-Spam-Score`).
    pub name: String,
    /// A regular expression applied to the (unfolded) value; `None` takes the whole value.
    pub pattern: Option<String>,
}

impl ScoreHeader {
    /// Parses Pigeonhole's `Name` or `Name:regex` form.
    pub fn parse(spec: &str) -> Self {
        match spec.split_once(':') {
            Some((n, p)) => Self {
                name: n.trim().to_string(),
                pattern: Some(p.to_string()),
            },
            None => Self {
                name: spec.trim().to_string(),
                pattern: None,
            },
        }
    }
}

/// How `spamtest` / `virustest` read the verdict of a scanner from the message
/// (RFC 5235 leaves this to the implementation).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ScoreSource {
    /// Not configured: the test sees "0" (not tested).
    None,
    /// A number, with the score that means "certainly spam"/"infected".
    Score {
        /// Where the score is.
        header: ScoreHeader,
        /// Score that maps to the top of the scale.
        max: f64,
        /// Where the maximum is instead, if any (e.g. SpamAssassin's `required=`).
        max_header: Option<ScoreHeader>,
    },
    /// A count of characters (e.g. `X-Spam-Level: *****`).
    Strlen {
        /// Where the characters are.
        header: ScoreHeader,
        /// Count that maps to the top of the scale.
        max: f64,
    },
    /// One of several texts, each mapped to a value (1..=10 spam, 1..=5 virus).
    Text {
        /// Where the text is.
        header: ScoreHeader,
        /// (text, value) pairs, compared case-insensitively.
        values: Vec<(String, u32)>,
    },
}

/// Everything about the run that is not the message: who the user is, the time, the host's
/// configuration. Cheap to clone.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Context {
    /// The user's own addresses (vacation's implicit `:addresses` and From).
    pub user_addresses: Vec<String>,
    /// Separators between user and detail (RFC 5233; default "+").
    pub recipient_delimiter: String,
    /// Now, as Unix seconds (for `currentdate`).
    pub now: i64,
    /// The local time zone, as minutes east of UTC.
    pub local_zone: i32,
    /// The mailbox of `keep` and the implicit keep (default "INBOX").
    pub default_mailbox: String,
    /// Run limits.
    pub limits: RunLimits,
    /// Vacation settings.
    pub vacation: VacationConfig,
    /// `spamtest` configuration.
    pub spam: ScoreSource,
    /// `virustest` configuration.
    pub virus: ScoreSource,
    /// Headers `editheader` must neither add nor delete (RFC 5293 §6 lets a site protect
    /// header fields; `Received` and `Auto-Submitted` can never be deleted, and `Subject`
    /// can always be edited, whatever these lists say).
    pub protected_headers: Vec<String>,
    /// Headers `addheader` must not add (besides [`Context::protected_headers`]).
    pub forbid_add_headers: Vec<String>,
    /// Headers `deleteheader` must not delete (besides [`Context::protected_headers`],
    /// `Received` and `Auto-Submitted`).
    pub forbid_delete_headers: Vec<String>,
    /// Known `environment` items (RFC 5183: `domain`, `host`, `location`, `name`, `phase`,
    /// `remote-host`, `remote-ip`, `version`, and `imap.*` for IMAPSieve). Items not listed
    /// are asked from the host with [`Question::Environment`].
    ///
    /// Items named `vnd.dovecot.*` (e.g. `vnd.dovecot.username`, and
    /// `vnd.dovecot.config.NAME` for Dovecot's `sieve_environment` settings) exist only for
    /// scripts that require `vnd.dovecot.environment`, which also sees
    /// `vnd.dovecot.default-mailbox` ([`Context::default_mailbox`]) and reads every item
    /// listed here as `${env.NAME}`.
    pub environment: Vec<(String, String)>,
    /// The `notify_method_capability` "online" answer for mailto (RFC 5435 §5; "maybe").
    pub notify_online: String,
    /// The envelope sender of redirected mail.
    pub redirect_sender: RedirectSender,
    /// The envelope sender of `notify` mail when the triggering message's sender is not
    /// null (RFC 5436 §2.7 keeps a null sender null). `None` (the default): the script's
    /// `:from` address, else [`Context::postmaster`].
    pub notify_sender: Option<RedirectSender>,
    /// The postmaster's address, the default envelope sender of notifications; empty (the
    /// default) for the null sender.
    pub postmaster: String,
    /// Mark redirected mail with `X-Sieve-Redirected-From: <user>` and refuse to redirect
    /// mail that already carries the user's mark (a redirect loop); default on.
    pub redirect_loop_protection: bool,
    /// The `From:` of `report` messages (vnd.dovecot.report). `None` (the default):
    /// [`Context::postmaster`], as Dovecot's `sieve_report_from = postmaster`.
    pub report_sender: Option<RedirectSender>,
    /// Values of the test-suite language's `${tst.NAME}` namespace (test harnesses only).
    #[doc(hidden)]
    pub testsuite_values: Vec<(String, String)>,
    /// How `filter` and `execute` hand data to external programs (line ends).
    pub programs: super::programs::ProgramSettings,
}

impl Default for Context {
    fn default() -> Self {
        Self {
            user_addresses: Vec::new(),
            recipient_delimiter: "+".into(),
            now: 0,
            local_zone: 0,
            default_mailbox: "INBOX".into(),
            limits: RunLimits::default(),
            vacation: VacationConfig::default(),
            spam: ScoreSource::None,
            virus: ScoreSource::None,
            protected_headers: Vec::new(),
            forbid_add_headers: Vec::new(),
            forbid_delete_headers: Vec::new(),
            environment: vec![
                ("name".into(), "mail-crates sieve".into()),
                ("version".into(), env!("CARGO_PKG_VERSION").into()),
                ("location".into(), "MDA".into()),
                ("phase".into(), "during".into()),
            ],
            notify_online: "maybe".into(),
            redirect_sender: RedirectSender::Sender,
            notify_sender: None,
            postmaster: String::new(),
            redirect_loop_protection: true,
            report_sender: None,
            testsuite_values: Vec::new(),
            programs: super::programs::ProgramSettings::default(),
        }
    }
}

/// The envelope sender of redirected mail (the host's policy; a null sender always stays
/// null, so redirects never cause backscatter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectSender {
    /// The original sender (the default; SRS, if any, is the host's business).
    #[default]
    Sender,
    /// The final recipient (the user this delivery is for).
    Recipient,
    /// The original recipient if known, else the final one.
    OriginalRecipient,
    /// The user's first address from [`Context::user_addresses`], else the final recipient.
    UserEmail,
    /// A fixed address (empty for the null sender).
    Explicit(String),
}

/// Where an included script comes from (RFC 6609 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScriptLocation {
    /// The user's own scripts (`:personal`, the default).
    Personal,
    /// The administrator's scripts (`:global`).
    Global,
}

/// Something the runtime needs to know from the host. Answer it with
/// [`crate::Runtime::answer`], then call [`crate::Runtime::run`] again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Question {
    /// Does this mailbox exist? Answer [`Answer::Bool`].
    MailboxExists(String),
    /// A mailbox annotation (RFC 5464 name), or `None` mailbox for a server annotation.
    /// Answer [`Answer::Value`] (`None` when absent).
    Metadata {
        /// The mailbox, or `None` for server metadata.
        mailbox: Option<String>,
        /// The annotation name, e.g. `/private/vendor/x`.
        annotation: String,
    },
    /// Does a mailbox with this special-use attribute (RFC 6154) exist (in `mailbox`, if
    /// given)? Answer [`Answer::Bool`].
    SpecialUseExists {
        /// The mailbox to check, or any mailbox.
        mailbox: Option<String>,
        /// The attribute, e.g. `\Junk`.
        special_use: String,
    },
    /// Has this tracking id been recorded within the last `period` seconds? (RFC 7352
    /// `duplicate`; also the vacation response tracking of RFC 5230 §4.2.) Answer
    /// [`Answer::Bool`]. The host records ids only from [`Outcome::duplicates`], after the
    /// actions were carried out.
    Duplicate {
        /// The id (already hashed with the handle; the host stores it as an opaque key).
        id: String,
        /// The period in seconds.
        period: u64,
    },
    /// The value of an environment item not in [`Context::environment`]. Answer
    /// [`Answer::Value`].
    Environment(String),
    /// The compiled script to include (compile it with the same options). Answer
    /// [`Answer::Script`], or [`Answer::NotFound`].
    Include {
        /// The script name.
        name: String,
        /// Personal or global.
        location: ScriptLocation,
    },
    /// Run an external program for `filter` or `execute` (vnd.dovecot.filter and
    /// vnd.dovecot.execute): the runtime never runs anything itself. Answer
    /// [`Answer::Program`] (or [`Answer::NotFound`] for a program the host does not offer).
    Program(super::programs::ProgramRequest),
    /// `:list` (RFC 6134): is one of `values` a member of the external list `list`
    /// (a URI, `:` shorthands already expanded, e.g.
    /// `urn:ietf:params:sieve:addrbook:default`)? Answer [`Answer::Value`] with the first
    /// of `values` that is a member (the test's `${0}`), `Value(None)` if none is, or
    /// [`Answer::NotFound`] if there is no such list (the key is then skipped).
    ExtListMember {
        /// The list's name.
        list: String,
        /// The values to look up, in order.
        values: Vec<String>,
    },
    /// `valid_ext_list` (RFC 6134): does the host have this list (a URI, `:`
    /// shorthands expanded)? Answer [`Answer::Bool`].
    ExtListExists(String),
    /// A `vnd.dovecot.testsuite` command (test harnesses only).
    #[doc(hidden)]
    Testsuite(TestsuiteRequest),
}

/// The host's answer to a [`Question`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Answer {
    /// Yes or no.
    Bool(bool),
    /// A value, or none.
    Value(Option<String>),
    /// A compiled script for [`Question::Include`].
    Script(Arc<Program>),
    /// The script does not exist.
    NotFound,
    /// The script exists but could not be used (does not compile): a runtime error.
    Error(String),
    /// How the external program of a [`Question::Program`] ended.
    Program(super::programs::ProgramOutcome),
    /// Several values (testsuite requests).
    #[doc(hidden)]
    Values(Vec<String>),
}

/// A message for the host to send: a redirect, a vacation response, a notification.
/// The header block is complete except for `Date` and `Message-ID`, which need the clock and
/// a unique-id source; [`OutgoingMessage::to_bytes`] adds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Envelope sender; empty for the null sender (vacation responses use `<>`, RFC 5230 §5).
    pub envelope_from: String,
    /// Envelope recipients.
    pub envelope_to: Vec<String>,
    /// Header fields, in order (name, value).
    pub headers: Vec<(String, String)>,
    /// The body (CRLF line ends), or a MIME entity when `headers` declare one.
    pub body: Vec<u8>,
}

impl OutgoingMessage {
    /// The message as bytes, with `Date` and `Message-ID` added first.
    pub fn to_bytes(&self, date: &str, message_id: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        let mut push = |n: &str, v: &str| {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        push("Date", date);
        push("Message-ID", message_id);
        for (n, v) in &self.headers {
            push(n, v);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The value of the first header field with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A copy of the sent message to store (RFC 8580 `:fcc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fcc {
    /// The mailbox.
    pub mailbox: String,
    /// Flags to set.
    pub flags: Vec<String>,
    /// Create the mailbox if missing.
    pub create: bool,
    /// Special-use attribute to prefer.
    pub special_use: Option<String>,
}

/// The header block of the message as edited by `editheader` when an action was taken;
/// `None` in the actions means "unchanged". The host delivers these headers followed by the
/// original body.
pub type EditedHeaders = Option<Arc<[u8]>>;

/// An action the script chose, for the host to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Deliver to the default mailbox (`keep`, or the implicit keep when `implicit`).
    Keep {
        /// IMAP flags to set (RFC 5232).
        flags: Vec<String>,
        /// Whether this is the implicit keep.
        implicit: bool,
        /// Edited headers, if any.
        headers: EditedHeaders,
    },
    /// Deliver to a mailbox.
    FileInto {
        /// The mailbox name (UTF-8; the host maps it to its namespace).
        mailbox: String,
        /// IMAP flags to set.
        flags: Vec<String>,
        /// Create the mailbox if it does not exist (RFC 5490 `:create`).
        create: bool,
        /// File into the mailbox with this special-use attribute if there is one (RFC 8579).
        special_use: Option<String>,
        /// `:copy` was given (RFC 3894): this action does not cancel the implicit keep.
        copy: bool,
        /// Edited headers, if any.
        headers: EditedHeaders,
    },
    /// Forward the message, unchanged apart from edits, to an address.
    Redirect {
        /// The addr-spec.
        address: String,
        /// The envelope sender to use (empty: the null sender).
        envelope_from: String,
        /// `:copy` was given.
        copy: bool,
        /// Edited headers, if any.
        headers: EditedHeaders,
    },
    /// Refuse the message (RFC 5429): in protocol (SMTP/LMTP 550) when possible
    /// (`ereject` requires it), otherwise with an MDN.
    Reject {
        /// The reason to give.
        reason: String,
        /// `ereject` (true) or `reject`.
        extended: bool,
    },
    /// Drop the message silently (cancels the implicit keep).
    Discard,
    /// Send a vacation response (RFC 5230), already checked against RFC 3834's rules and the
    /// response-tracking store.
    Vacation {
        /// The response.
        message: Box<OutgoingMessage>,
        /// Store a copy (RFC 8580).
        fcc: Option<Fcc>,
    },
    /// Send a notification (RFC 5435, mailto per RFC 5436).
    Notify {
        /// The method URI as given.
        method: String,
        /// The importance, 1 (high) to 3 (low).
        importance: u8,
        /// The notification as a message to send (mailto).
        message: Box<OutgoingMessage>,
        /// Store a copy (RFC 8580).
        fcc: Option<Fcc>,
    },
    /// `replace` / `enclose` (RFC 5703 §5-6) or a successful `filter` (vnd.dovecot.filter):
    /// the message is replaced by this one for the actions that follow it.
    ReplaceMessage {
        /// The new message, complete.
        message: Arc<[u8]>,
    },
    /// Hand the message to an external program (`pipe`, vnd.dovecot.pipe), after the
    /// script, like a redirect: the host runs the program with the message (these headers,
    /// if edited, over the current body) on its standard input and the program's `args`.
    ///
    /// The implicit keep is not cancelled by the runtime (draft §5: an unsuccessful pipe
    /// must not cancel it), so it may follow in the actions: the host drops it once a pipe
    /// without `copy` succeeded, as Pigeonhole does when it commits the action (its
    /// `sieve-test`, which runs nothing, lists both). If the program is unknown, fails or
    /// times out, the host logs it and, unless `ignore_failure` (`:try`), treats it as a
    /// failed delivery (the message is then kept); `:try` failures are only logged.
    Pipe {
        /// The program name (checked at compile time: no `/`, no control characters).
        program: String,
        /// Its arguments (no CR or LF, at most 1024 bytes each).
        args: Vec<String>,
        /// `:copy` (RFC 3894): this action does not cancel the implicit keep.
        copy: bool,
        /// `:try`: a failure of the program is not an error.
        ignore_failure: bool,
        /// Edited headers, if any.
        headers: EditedHeaders,
    },
    /// `report` (vnd.dovecot.report): send `message`, an RFC 5965 feedback report
    /// (`multipart/report; report-type=feedback-report`) about the message, to `address`.
    /// It does not cancel the implicit keep.
    Report {
        /// The feedback type (`abuse`, `fraud`, `virus`, `other`, ...).
        feedback_type: String,
        /// The report's recipient.
        address: String,
        /// The complete report, from the null sender.
        message: Box<OutgoingMessage>,
    },
    /// `error` (RFC 5463): the script failed on purpose with this message.
    Error {
        /// The message.
        message: String,
    },
}

impl Action {
    /// Pigeonhole's name for the action kind (`keep`, `store`, `redirect`, `reject`,
    /// `discard`, `vacation`, `notify`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Keep { .. } => "keep",
            Self::FileInto { .. } => "store",
            Self::Redirect { .. } => "redirect",
            Self::Reject { .. } => "reject",
            Self::Discard => "discard",
            Self::Vacation { .. } => "vacation",
            Self::Notify { .. } => "notify",
            Self::ReplaceMessage { .. } => "replace",
            Self::Pipe { .. } => "pipe",
            Self::Report { .. } => "report",
            Self::Error { .. } => "error",
        }
    }
}

/// A tracking id for the host to record after carrying out the actions (RFC 7352 §3.1:
/// only when the script succeeded; vacation responses likewise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateRecord {
    /// The id, as asked in [`Question::Duplicate`].
    pub id: String,
    /// Keep it this many seconds.
    pub period: u64,
}

/// A run-time failure: the message must be kept (RFC 5228 §2.10.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeError {
    /// Line of the script (the main script or an included one) where it happened.
    pub line: u32,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RuntimeError {}

/// The result of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The actions to carry out, in order; the implicit keep, when it applies, is the last
    /// one (`Action::Keep { implicit: true, .. }`; with an [`Action::Pipe`] without `copy`
    /// the host carries it out only if no such pipe delivered). After an error this is just
    /// the implicit keep.
    pub actions: Vec<Action>,
    /// Tracking ids to record once the actions were carried out.
    pub duplicates: Vec<DuplicateRecord>,
    /// The error that stopped the script, if any.
    pub error: Option<RuntimeError>,
    /// Things worth logging that did not fail the run (e.g. "vacation: not answering a
    /// mailing list"). Entries that start with `error: ` are problems of the script that
    /// did not stop it (a regular expression built from variables that is not valid
    /// matches nothing); a host shows those to the script's owner as errors.
    pub log: Vec<String>,
}

impl Outcome {
    /// Whether the implicit keep is among the actions.
    pub fn implicit_keep(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Keep { implicit: true, .. }))
    }
}
