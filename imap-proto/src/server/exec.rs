//! Reading commands, scheduling them (RFC 3501 §5.5), and the commands the session answers.

use std::num::NonZeroU32;

use super::{
    Class, CommandId, InFlight, Kind, Pending, Phase, ServerEvent, ServerOutput, ServerSession,
    State,
};
use crate::codec::encode::Enc;
use crate::codec::parse::{self, P};
use crate::codec::parse_exact;
use crate::fragment::{DiscardReason, Event};
use crate::selected::SelectedMailbox;
use crate::types::command::{Command, CommandBody, SelectParam};
use crate::types::core::{Atom, IntoStatic, Tag};
use crate::types::fetch::FetchItems;
use crate::types::flag::{Flag, FlagPerm};
use crate::types::response::{Code, Data, ListData, Response, StatusKind};
use crate::types::search::{SearchReturnData, SearchReturnOpt};
use crate::types::sequence::SequenceSet;

/// What a SEARCH asked for, to format its result (rev1 SEARCH or ESEARCH).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SearchSpec {
    pub(crate) uid: bool,
    pub(crate) return_opts: Option<Vec<SearchReturnOpt<'static>>>,
}

/// The mailbox data a SELECT/EXAMINE reply carries besides the tracker's numbers.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SelectInfo {
    /// `FLAGS`: flags defined in the mailbox.
    pub flags: Vec<Flag<'static>>,
    /// `PERMANENTFLAGS`; `None` sends none (clients then assume all FLAGS are permanent).
    pub permanent_flags: Option<Vec<FlagPerm<'static>>>,
    /// Messages with `\Recent` (rev1 only).
    pub recent: u32,
    /// First unseen message (rev1 `UNSEEN` code only).
    pub first_unseen: Option<NonZeroU32>,
    /// The mailbox's LIST response (rev2 sends it on SELECT).
    pub list: Option<ListData<'static>>,
}

impl SelectInfo {
    /// The usual flags: `\Answered \Flagged \Deleted \Seen \Draft`, all permanent, keywords
    /// allowed (`\*`).
    pub fn standard() -> Self {
        let flags = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        let mut perm: Vec<FlagPerm<'static>> = flags.iter().cloned().map(FlagPerm::Flag).collect();
        perm.push(FlagPerm::Asterisk);
        Self {
            flags,
            permanent_flags: Some(perm),
            ..Self::default()
        }
    }
}

pub(crate) fn esearch_all(tag: Option<&str>, uid: bool, numbers: &[NonZeroU32]) -> Data<'static> {
    let nums: Vec<u32> = numbers.iter().map(|n| n.get()).collect();
    let mut items = Vec::new();
    if let Ok(set) = SequenceSet::from_numbers(&nums) {
        items.push(SearchReturnData::All(set));
    }
    Data::ESearch {
        tag: tag.and_then(|t| crate::types::core::IString::new(t.as_bytes().to_vec()).ok()),
        uid,
        items,
    }
}

fn classify(body: &CommandBody<'_>) -> (Class, Kind) {
    match body {
        CommandBody::Fetch { uid, items, .. } => {
            let writes = match items {
                FetchItems::Attrs(v) => v.iter().any(crate::types::fetch::FetchAttr::sets_seen),
                _ => false,
            };
            let class = if writes {
                Class::Exclusive
            } else {
                Class::Reader
            };
            (class, if *uid { Kind::Host } else { Kind::NoExpunge })
        }
        CommandBody::Search {
            uid, return_opts, ..
        } => {
            let saves = return_opts
                .as_ref()
                .is_some_and(|o| o.contains(&SearchReturnOpt::Save));
            (
                if saves {
                    Class::Exclusive
                } else {
                    Class::Reader
                },
                Kind::Search(SearchSpec {
                    uid: *uid,
                    return_opts: return_opts.clone().map(IntoStatic::into_static),
                }),
            )
        }
        CommandBody::Store { uid, .. } => (
            Class::Exclusive,
            if *uid { Kind::Host } else { Kind::NoExpunge },
        ),
        CommandBody::Sort { .. }
        | CommandBody::Thread { .. }
        | CommandBody::Status { .. }
        | CommandBody::List { .. }
        | CommandBody::Lsub { .. }
        | CommandBody::Namespace
        | CommandBody::GetQuota(_)
        | CommandBody::GetQuotaRoot(_)
        | CommandBody::GetMetadata { .. } => (Class::Reader, Kind::Host),
        _ => (Class::Exclusive, Kind::Host),
    }
}

/// In which states a command is valid.
fn valid_in(body: &CommandBody<'_>, state: State) -> bool {
    use CommandBody as C;
    let auth = matches!(state, State::Authenticated | State::Selected);
    match body {
        C::Capability | C::Noop | C::Logout | C::Id(_) | C::Other { .. } => true,
        C::StartTls | C::Authenticate { .. } | C::Login { .. } => state == State::NotAuthenticated,
        C::Enable(_) => state == State::Authenticated,
        C::Check
        | C::Close
        | C::Unselect
        | C::Expunge
        | C::UidExpunge(_)
        | C::Search { .. }
        | C::Sort { .. }
        | C::Thread { .. }
        | C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. } => state == State::Selected,
        _ => auth,
    }
}

impl ServerSession {
    /// Frames one step of input. Returns whether anything happened.
    pub(super) fn step_input(&mut self) -> bool {
        let Some(ev) = self.framer.advance() else {
            return false;
        };
        match ev {
            Event::Message => {
                match self.phase {
                    Phase::SaslResponse => self.on_sasl_line(),
                    Phase::Idle => self.on_idle_line(),
                    Phase::Commands
                        if self
                            .append
                            .as_ref()
                            .is_some_and(super::append::AppendState::reads_tail) =>
                    {
                        self.on_append_tail();
                    }
                    Phase::Commands => self.on_command(),
                }
                self.framer.consume();
            }
            Event::Literal {
                length,
                sync,
                binary,
            } => self.on_literal(length, sync, binary),
            Event::Chunk => self.on_append_chunk(),
            Event::LiteralEnd => self.on_append_literal_end(),
            Event::Discarded { reason, .. } => {
                let head = self.framer.message().to_vec();
                self.framer.consume();
                self.on_discarded(reason, &head);
            }
        }
        true
    }

    /// The tag at the start of `head`, if it has one.
    pub(super) fn tag_of(head: &[u8]) -> Option<Tag<'static>> {
        let mut p = P::new(head, crate::codec::DecodeOptions::default());
        let t = p.tag().ok()?;
        p.peek_is(b' ').ok()?.then(|| t.into_static())
    }

    /// `tag BAD text`, or `* BAD text` when there is no tag.
    pub(super) fn bad(&mut self, tag: Option<&Tag<'_>>, code: Option<Code<'_>>, text: &str) {
        match tag {
            Some(t) => self.tagged(t, StatusKind::Bad, code, text),
            None => self.untagged_status(StatusKind::Bad, code, text),
        }
    }

    fn on_discarded(&mut self, reason: DiscardReason, head: &[u8]) {
        match reason {
            DiscardReason::TooLong => {
                let tag = Self::tag_of(head);
                if self.append.is_some() {
                    self.abort_append("Command line too long");
                } else {
                    self.bad(tag.as_ref(), Some(Code::TooBig), "Command line too long");
                }
            }
            // Already answered when the literal was refused.
            DiscardReason::LiteralRejected => {}
        }
    }

    fn on_command(&mut self) {
        let msg = self.framer.message();
        if msg == b"\r\n" || msg == b"\n" {
            self.untagged_status(StatusKind::Bad, None, "Empty command line");
            return;
        }
        match parse_exact(msg, self.cfg.decode, parse::command::command) {
            Ok(cmd) => {
                let cmd = cmd.into_static();
                if matches!(
                    cmd.body,
                    CommandBody::Authenticate { .. }
                        | CommandBody::Idle
                        | CommandBody::StartTls
                        | CommandBody::Compress(_)
                        | CommandBody::Logout
                ) {
                    // What follows is read differently (or not at all) once it runs.
                    self.parse_blocked = true;
                }
                let id = self.new_id();
                self.pending.push_back(Pending { id, command: cmd });
            }
            Err(e) => {
                let tag = Self::tag_of(msg);
                let text = format!("Error in IMAP command: {e}");
                self.bad(tag.as_ref(), None, &text);
            }
        }
    }

    fn on_idle_line(&mut self) {
        let msg = self.framer.message();
        let Some(id) = self.in_flight.iter().find_map(|c| match c.kind {
            Kind::Idle { .. } => Some(c.id),
            _ => None,
        }) else {
            self.phase = Phase::Commands;
            return;
        };
        if parse_exact(msg, self.cfg.decode, parse::command::idle_done).is_ok() {
            self.phase = Phase::Commands;
            self.event(ServerEvent::IdleDone { id });
        } else {
            self.untagged_status(StatusKind::Bad, None, "Expected DONE");
        }
    }

    /// Runs pending commands as far as the ordering rules allow.
    pub(super) fn schedule(&mut self) {
        loop {
            if self.closed {
                return;
            }
            let Some(front) = self.pending.front() else {
                break;
            };
            let (class, _) = classify(&front.command.body);
            let can = match class {
                Class::Reader => {
                    self.in_flight.len() < self.cfg.max_concurrent
                        && self.in_flight.iter().all(|c| c.class == Class::Reader)
                }
                Class::Exclusive => self.in_flight.is_empty(),
            };
            if !can {
                break;
            }
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.execute(p.id, p.command);
        }
        if self.pending.is_empty() && self.in_flight.is_empty() {
            self.append_turn();
        }
    }

    #[allow(clippy::too_many_lines)]
    fn execute(&mut self, id: CommandId, cmd: Command<'static>) {
        let tag = cmd.tag.clone();
        if !valid_in(&cmd.body, self.state) {
            self.parse_blocked = false;
            let text = match self.state {
                State::NotAuthenticated => "Not logged in",
                State::Authenticated if valid_in(&cmd.body, State::Selected) => {
                    "No mailbox selected"
                }
                _ => "Command not valid in this state",
            };
            self.tagged(&tag, StatusKind::Bad, None, text);
            return;
        }
        match &cmd.body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.untagged(&Data::Capability(caps));
                self.tagged(&tag, StatusKind::Ok, None, "CAPABILITY completed");
            }
            CommandBody::Logout => {
                self.untagged_status_keep_open(StatusKind::Bye, "Logging out");
                self.tagged(&tag, StatusKind::Ok, None, "LOGOUT completed");
                self.close();
            }
            CommandBody::StartTls => {
                self.parse_blocked = false;
                if !self.cfg.starttls_available || self.tls {
                    self.tagged(&tag, StatusKind::Bad, None, "TLS not available");
                    return;
                }
                self.tagged(&tag, StatusKind::Ok, None, "Begin TLS negotiation now");
                let dropped = self.framer.clear_pending();
                if dropped > 0 {
                    self.event(ServerEvent::InputDiscarded { bytes: dropped });
                }
                self.out.push_back(ServerOutput::StartTls);
            }
            CommandBody::Compress(alg) => {
                self.parse_blocked = false;
                if self.compressing {
                    self.tagged(
                        &tag,
                        StatusKind::No,
                        Some(Code::CompressionActive),
                        "Already compressing",
                    );
                } else if !self.cfg.compress_available || !alg.eq_ignore_case("DEFLATE") {
                    self.tagged(&tag, StatusKind::No, None, "Unsupported compression");
                } else {
                    self.tagged(&tag, StatusKind::Ok, None, "DEFLATE active");
                    self.compressing = true;
                    let dropped = self.framer.clear_pending();
                    if dropped > 0 {
                        self.event(ServerEvent::InputDiscarded { bytes: dropped });
                    }
                    self.out.push_back(ServerOutput::StartCompression);
                }
            }
            CommandBody::Enable(caps) => {
                let mut newly = Vec::new();
                for c in caps {
                    let Some(known) = self
                        .cfg
                        .enableable
                        .iter()
                        .find(|e| e.eq_ignore_case(c.as_str()))
                        .cloned()
                    else {
                        continue;
                    };
                    let mut add = vec![known];
                    if add[0].eq_ignore_case("QRESYNC") {
                        add.push(Atom::unvalidated("CONDSTORE"));
                    }
                    for a in add {
                        if !self.is_enabled(a.as_str()) {
                            self.enabled.push(a.clone());
                            newly.push(a);
                        }
                    }
                }
                // The ENABLED response lists what this command turned on (RFC 5161 §3.2).
                let mut e = Enc::new(self.enc_opts(), false);
                e.response(&Response::Data(Data::Enabled(newly.clone())));
                self.transmit(e.finish().into_bytes());
                if !newly.is_empty() {
                    self.event(ServerEvent::Enabled(newly));
                }
                self.tagged(&tag, StatusKind::Ok, None, "ENABLE completed");
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } => {
                self.parse_blocked = false;
                self.start_auth(id, cmd);
            }
            CommandBody::Idle => {
                self.parse_blocked = false;
                self.phase = Phase::Idle;
                self.in_flight.push(InFlight {
                    id,
                    tag,
                    kind: Kind::Idle { accepted: false },
                    class: Class::Exclusive,
                });
                self.event(ServerEvent::Idle { id });
            }
            CommandBody::Select { params, .. } | CommandBody::Examine { params, .. } => {
                let read_only = matches!(cmd.body, CommandBody::Examine { .. });
                let condstore = self.is_enabled("CONDSTORE")
                    || params
                        .iter()
                        .any(|p| matches!(p, SelectParam::CondStore | SelectParam::QResync(_)));
                if self.state == State::Selected {
                    // RFC 7162 §3.2.11 / RFC 9051: tell the client where the old one ends.
                    if self.rev2() || self.is_enabled("QRESYNC") {
                        self.untagged_status(
                            StatusKind::Ok,
                            Some(Code::Closed),
                            "Previous mailbox is now closed",
                        );
                    }
                    self.deselect();
                }
                self.host(
                    id,
                    cmd,
                    Class::Exclusive,
                    Kind::Select {
                        read_only,
                        condstore,
                    },
                );
            }
            CommandBody::Close | CommandBody::Unselect => {
                self.host(id, cmd, Class::Exclusive, Kind::Close);
            }
            CommandBody::Unauthenticate => {
                self.host(id, cmd, Class::Exclusive, Kind::Unauthenticate);
            }
            _ => {
                let (class, kind) = classify(&cmd.body);
                self.host(id, cmd, class, kind);
            }
        }
    }

    fn host(&mut self, id: CommandId, command: Command<'static>, class: Class, kind: Kind) {
        self.in_flight.push(InFlight {
            id,
            tag: command.tag.clone(),
            kind,
            class,
        });
        self.event(ServerEvent::Command { id, command });
    }

    fn untagged_status_keep_open(&mut self, kind: StatusKind, text: &str) {
        let mut e = Enc::new(self.enc_opts(), false);
        e.response(&Response::Status(crate::types::response::StatusResponse {
            tag: None,
            kind,
            code: None,
            text: super::text_of(text),
        }));
        self.transmit(e.finish().into_bytes());
    }

    // --- answers for specific commands -------------------------------------------------------

    /// Completes SELECT/EXAMINE: sends the mailbox data (FLAGS, EXISTS, RECENT and UNSEEN for
    /// rev1, PERMANENTFLAGS, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ under CONDSTORE, LIST for
    /// rev2) and `OK [READ-WRITE]` or `[READ-ONLY]`, and makes `mailbox` the tracker.
    pub fn select_ok(&mut self, id: CommandId, mut mailbox: SelectedMailbox, info: SelectInfo) {
        let Some(pos) = self.in_flight.iter().position(|c| c.id == id) else {
            return;
        };
        let Kind::Select {
            read_only,
            condstore,
        } = self.in_flight[pos].kind
        else {
            return;
        };
        let rev2 = self.rev2();
        let ro = read_only || mailbox.read_only();
        mailbox.set_read_only(ro);
        mailbox.set_qresync(self.is_enabled("QRESYNC"));
        self.untagged(&Data::Flags(info.flags));
        for r in mailbox.select_responses(false).into_iter().take(1) {
            if let Response::Data(d) = r {
                self.untagged(&d);
            }
        }
        if !rev2 {
            self.untagged(&Data::Recent(info.recent));
            if let Some(u) = info.first_unseen {
                self.untagged_status(StatusKind::Ok, Some(Code::Unseen(u)), "First unseen");
            }
        }
        if let Some(p) = info.permanent_flags {
            self.untagged_status(
                StatusKind::Ok,
                Some(Code::PermanentFlags(p)),
                "Flags permitted",
            );
        }
        for r in mailbox.select_responses(condstore).into_iter().skip(1) {
            let mut e = Enc::new(self.enc_opts(), false);
            e.response(&r);
            self.transmit(e.finish().into_bytes());
        }
        if rev2 && let Some(l) = info.list {
            self.untagged(&Data::List(l));
        }
        self.selected = Some(mailbox);
        self.state = State::Selected;
        let code = if ro { Code::ReadOnly } else { Code::ReadWrite };
        let text = if read_only {
            "EXAMINE completed"
        } else {
            "SELECT completed"
        };
        // Completing with OK keeps the selection (complete() only drops it on failure).
        self.complete(id, StatusKind::Ok, Some(code), text);
    }

    /// Completes SEARCH with its result: `numbers` are sequence numbers, or UIDs for UID
    /// SEARCH; `modseq` is the highest MODSEQ of the matches when the search used MODSEQ.
    /// Sends `SEARCH` (rev1) or `ESEARCH` (RETURN options or rev2), saves the result for `$`
    /// when asked (SEARCHRES), then `OK`.
    pub fn search_done(&mut self, id: CommandId, numbers: &[u32], modseq: Option<u64>) {
        let Some(c) = self.in_flight.iter().find(|c| c.id == id) else {
            return;
        };
        let Kind::Search(spec) = c.kind.clone() else {
            return;
        };
        let tag = c.tag.clone();
        let mut nums: Vec<u32> = numbers.iter().copied().filter(|&n| n > 0).collect();
        nums.sort_unstable();
        nums.dedup();
        let nz: Vec<NonZeroU32> = nums.iter().filter_map(|&n| NonZeroU32::new(n)).collect();
        let opts = spec.return_opts.clone();
        if let Some(opts) = &opts
            && opts.contains(&SearchReturnOpt::Save)
        {
            self.saved_search = Some((nums.clone(), spec.uid));
        }
        let rev2 = self.rev2();
        match opts {
            None if !rev2 => self.untagged(&Data::Search {
                numbers: nz,
                modseq: modseq.filter(|_| !nums.is_empty()),
            }),
            opts => {
                let mut want: Vec<SearchReturnOpt<'static>> = opts.unwrap_or_default();
                let only_save = want == [SearchReturnOpt::Save];
                want.retain(|o| *o != SearchReturnOpt::Save);
                if want.is_empty() && !only_save {
                    want.push(SearchReturnOpt::All);
                }
                if !only_save {
                    let mut items = Vec::new();
                    for o in &want {
                        match o {
                            SearchReturnOpt::Min => {
                                if let Some(&n) = nz.first() {
                                    items.push(SearchReturnData::Min(n));
                                }
                            }
                            SearchReturnOpt::Max => {
                                if let Some(&n) = nz.last() {
                                    items.push(SearchReturnData::Max(n));
                                }
                            }
                            SearchReturnOpt::Count => {
                                items.push(SearchReturnData::Count(nz.len() as u32));
                            }
                            SearchReturnOpt::All => {
                                if let Ok(set) = SequenceSet::from_numbers(&nums) {
                                    items.push(SearchReturnData::All(set));
                                }
                            }
                            _ => {}
                        }
                    }
                    if let Some(m) = modseq.filter(|_| !nums.is_empty()) {
                        items.push(SearchReturnData::ModSeq(m));
                    }
                    let data = Data::ESearch {
                        tag: crate::types::core::IString::new(tag.as_str().as_bytes().to_vec())
                            .ok(),
                        uid: spec.uid,
                        items,
                    };
                    let mut e = Enc::new(self.enc_opts(), false);
                    e.response(&Response::Data(data));
                    self.transmit(e.finish().into_bytes());
                }
            }
        }
        self.complete(id, StatusKind::Ok, None, "SEARCH completed");
    }

    /// Accepts IDLE: sends `+ idling`; from now on [`Self::untagged`] updates go out at once,
    /// held-back expunges included.
    pub fn idle_accept(&mut self, id: CommandId) {
        let Some(c) = self.in_flight.iter_mut().find(|c| c.id == id) else {
            return;
        };
        if let Kind::Idle { accepted } = &mut c.kind {
            if *accepted {
                return;
            }
            *accepted = true;
        } else {
            return;
        }
        self.continuation("idling");
        self.flush_expunges(false);
    }

    /// Capabilities as a code for the OK after login (IMAP-003).
    pub(super) fn capability_code(&self) -> Code<'static> {
        Code::Capability(self.capabilities())
    }

    pub(super) fn push_in_flight(&mut self, id: CommandId, tag: Tag<'static>, kind: Kind) {
        self.in_flight.push(InFlight {
            id,
            tag,
            kind,
            class: Class::Exclusive,
        });
    }

    pub(super) fn remove_in_flight(&mut self, id: CommandId) -> Option<Tag<'static>> {
        let pos = self.in_flight.iter().position(|c| c.id == id)?;
        Some(self.in_flight.remove(pos).tag)
    }
}
