//! APPEND and other literals: the size decision before `+`, and APPEND data streamed to the
//! host in chunks (never held whole in memory).

use super::{CommandId, Kind, ServerEvent, ServerSession, State};
use crate::codec::parse::{self, P, up};
use crate::types::core::{C_ATOM, IntoStatic, Tag};
use crate::types::mailbox::Mailbox;
use crate::types::response::{Code, StatusKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The first literal is announced; waiting for earlier commands to finish.
    WaitingTurn,
    /// `AppendMessage` sent; waiting for the host's accept/reject.
    Deciding,
    /// Data is streaming.
    Streaming,
    /// Between messages, reading the rest of the command line.
    Between,
    /// `AppendDone` sent; waiting for the host's completion.
    Done,
    /// The host completed the APPEND early: skip the rest of the command.
    Draining,
}

#[derive(Debug)]
pub(crate) struct AppendState {
    id: CommandId,
    tag: Tag<'static>,
    mailbox: Mailbox<'static>,
    index: usize,
    /// Bytes of the kept message already read (through the last literal header).
    parsed: usize,
    stage: Stage,
    sync: bool,
    head: Option<Head>,
}

#[derive(Debug)]
struct Head {
    flags: Option<Vec<crate::types::flag::Flag<'static>>>,
    date: Option<crate::types::datetime::DateTime>,
    length: u32,
    binary: bool,
}

/// Commands whose arguments may hold literals (the others refuse one at once).
fn takes_literals(name: &[u8]) -> bool {
    let mut buf = [0u8; 32];
    matches!(
        up(name, &mut buf),
        b"LOGIN"
            | b"SELECT"
            | b"EXAMINE"
            | b"CREATE"
            | b"DELETE"
            | b"RENAME"
            | b"SUBSCRIBE"
            | b"UNSUBSCRIBE"
            | b"LIST"
            | b"LSUB"
            | b"STATUS"
            | b"SEARCH"
            | b"SORT"
            | b"THREAD"
            | b"COPY"
            | b"MOVE"
            | b"UID"
            | b"FETCH"
            | b"ID"
            | b"GETQUOTA"
            | b"GETQUOTAROOT"
            | b"SETQUOTA"
            | b"GETMETADATA"
            | b"SETMETADATA"
            | b"NOTIFY"
    )
}

impl AppendState {
    /// Whether the next complete line is the rest of this APPEND command.
    pub(crate) fn reads_tail(&self) -> bool {
        matches!(
            self.stage,
            Stage::Streaming | Stage::Between | Stage::Draining
        )
    }
}

impl ServerSession {
    /// A literal was announced: decide before the client sends it (IMAP-005).
    pub(super) fn on_literal(&mut self, length: u32, sync: bool, binary: bool) {
        if self.append.is_some() {
            self.on_append_next_literal(length, sync, binary);
            return;
        }
        let msg = self.framer.message();
        let mut p = P::new(msg, self.cfg.decode);
        let tag = p.tag().ok().map(IntoStatic::into_static);
        let name = match (p.sp(), p.run(C_ATOM, "a command")) {
            (Ok(()), Ok(n)) => n.to_vec(),
            _ => Vec::new(),
        };
        let mut buf = [0u8; 32];
        if up(&name, &mut buf) == b"APPEND" {
            self.on_append_first_literal(tag.as_ref(), sync);
            return;
        }
        let too_big = self.framer.message().len() as u64 + u64::from(length)
            > self.cfg.max_command_size as u64;
        // literal8 (`~{n}`) is allowed in APPEND (handled above) and SETMETADATA values.
        let binary_ok = !binary || up(&name, &mut buf) == b"SETMETADATA";
        if tag.is_none() || !takes_literals(&name) || !binary_ok {
            self.framer.reject_literal();
            self.bad(
                tag.as_ref(),
                None,
                "Unknown command or literal not allowed here",
            );
        } else if too_big {
            self.framer.reject_literal();
            self.bad(tag.as_ref(), Some(Code::TooBig), "Literal too big");
        } else {
            self.framer.keep_literal();
            if sync {
                self.continuation("Ready for literal data");
            }
        }
    }

    fn on_append_first_literal(&mut self, tag: Option<&Tag<'static>>, sync: bool) {
        let msg = self.framer.message().to_vec();
        let mut p = P::new(&msg, self.cfg.decode);
        let parsed = parse::command::append_start(&mut p).and_then(|(t, m)| {
            let h = parse::command::append_message_head(&mut p)?;
            Ok((t.into_static(), m.into_static(), h))
        });
        let ((tag, mailbox, h), at) = match parsed {
            Ok(v) if p.at_end() => (v, p.i),
            _ => {
                self.framer.reject_literal();
                self.bad(tag, None, "Error in APPEND command");
                return;
            }
        };
        let id = self.new_id();
        self.append = Some(AppendState {
            id,
            tag,
            mailbox,
            index: 0,
            parsed: at,
            stage: Stage::WaitingTurn,
            sync,
            head: Some(Head {
                flags: h.flags.map(IntoStatic::into_static),
                date: h.date,
                length: h.length,
                binary: h.binary,
            }),
        });
        // Earlier commands run first (APPEND is exclusive); schedule() calls append_turn().
    }

    /// Called when nothing else runs: the APPEND may now ask the host.
    pub(super) fn append_turn(&mut self) {
        let Some(a) = self.append.as_mut() else {
            return;
        };
        if a.stage != Stage::WaitingTurn {
            return;
        }
        let (id, tag) = (a.id, a.tag.clone());
        if !matches!(self.state, State::Authenticated | State::Selected) {
            self.framer.reject_literal();
            self.append = None;
            self.tagged(&tag, StatusKind::Bad, None, "Not logged in");
            return;
        }
        self.push_in_flight(id, tag, Kind::Append);
        self.ask_append();
    }

    fn ask_append(&mut self) {
        let max = self.cfg.max_append_size;
        let Some(a) = self.append.as_mut() else {
            return;
        };
        let Some(h) = a.head.take() else {
            return;
        };
        if h.length > max {
            let id = a.id;
            let index = a.index;
            self.framer.reject_literal();
            if index > 0 {
                self.event(ServerEvent::AppendAborted { id });
            }
            self.complete(id, StatusKind::No, Some(Code::TooBig), "Message too big");
            return;
        }
        a.stage = Stage::Deciding;
        let ev = ServerEvent::AppendMessage {
            id: a.id,
            mailbox: a.mailbox.clone(),
            flags: h.flags,
            date: h.date,
            size: h.length,
            binary: h.binary,
            index: a.index,
        };
        self.event(ev);
    }

    /// Accepts the announced APPEND message: its data follows as
    /// [`ServerEvent::AppendData`].
    pub fn append_accept(&mut self, id: CommandId) {
        let Some(a) = self.append.as_mut() else {
            return;
        };
        if a.id != id || a.stage != Stage::Deciding {
            return;
        }
        a.stage = Stage::Streaming;
        let sync = a.sync;
        self.framer.stream_literal();
        if sync {
            self.continuation("Ready for literal data");
        }
        self.process();
    }

    /// Refuses the announced APPEND message (e.g. `NO [TRYCREATE]`, `NO [OVERQUOTA]`): the
    /// APPEND completes with this status, and the client's data (if it already sent it as a
    /// non-synchronizing literal) is skipped.
    pub fn append_reject(
        &mut self,
        id: CommandId,
        kind: StatusKind,
        code: Option<Code<'_>>,
        text: &str,
    ) {
        let Some(a) = self.append.as_mut() else {
            return;
        };
        if a.id != id || a.stage != Stage::Deciding {
            return;
        }
        self.framer.reject_literal();
        self.complete(id, kind, code, text);
        self.process();
    }

    pub(super) fn on_append_chunk(&mut self) {
        let Some(a) = self.append.as_ref() else {
            return;
        };
        if a.stage == Stage::Draining {
            return;
        }
        let id = a.id;
        let data = self.framer.chunk().to_vec();
        self.event(ServerEvent::AppendData { id, data });
    }

    pub(super) fn on_append_literal_end(&mut self) {
        let Some(a) = self.append.as_mut() else {
            return;
        };
        a.parsed = self.framer.message().len();
        if a.stage == Stage::Draining {
            return;
        }
        a.stage = Stage::Between;
        a.parsed = self.framer.message().len();
        let id = a.id;
        self.event(ServerEvent::AppendMessageEnd { id });
    }

    fn on_append_next_literal(&mut self, length: u32, sync: bool, binary: bool) {
        let msg = self.framer.message().to_vec();
        let Some(a) = self.append.as_mut() else {
            return;
        };
        if a.stage == Stage::Draining {
            self.framer.reject_literal();
            self.append = None;
            return;
        }
        if a.stage != Stage::Between {
            self.framer.reject_literal();
            self.abort_append("Unexpected literal");
            return;
        }
        let mut p = P::new(&msg[a.parsed..], self.cfg.decode);
        match parse::command::append_message_head(&mut p) {
            Ok(h) if p.at_end() && h.length == length && h.binary == binary => {
                a.parsed = msg.len();
                a.index += 1;
                a.sync = sync;
                a.head = Some(Head {
                    flags: h.flags.map(IntoStatic::into_static),
                    date: h.date,
                    length,
                    binary,
                });
                self.ask_append();
            }
            _ => {
                self.framer.reject_literal();
                self.abort_append("Error in APPEND command");
            }
        }
    }

    /// The host completed the APPEND: forget it, or skip the rest of the command if data is
    /// still coming.
    pub(super) fn append_completed(&mut self) {
        if let Some(a) = self.append.as_mut() {
            if a.stage == Stage::Done || a.stage == Stage::WaitingTurn || a.stage == Stage::Deciding
            {
                self.append = None;
            } else {
                a.stage = Stage::Draining;
            }
        }
    }

    /// The end of the APPEND command line after the last message.
    pub(super) fn on_append_tail(&mut self) {
        let msg = self.framer.message();
        let Some(a) = self.append.as_mut() else {
            return;
        };
        if a.stage == Stage::Draining {
            self.append = None;
            return;
        }
        let tail = &msg[a.parsed.min(msg.len())..];
        let ok = a.stage == Stage::Between
            && (tail == b"\r\n" || (self.cfg.decode.crlf_relaxed && tail == b"\n"));
        if ok {
            a.stage = Stage::Done;
            let id = a.id;
            self.event(ServerEvent::AppendDone { id });
        } else {
            self.abort_append("Error in APPEND command");
        }
    }

    /// Ends a broken APPEND: `BAD`, and the host discards what it received.
    pub(super) fn abort_append(&mut self, text: &str) {
        let Some(a) = self.append.take() else {
            return;
        };
        if self.in_flight.iter().any(|c| c.id == a.id) {
            self.event(ServerEvent::AppendAborted { id: a.id });
            self.remove_in_flight(a.id);
        }
        self.tagged(&a.tag, StatusKind::Bad, None, text);
    }
}
