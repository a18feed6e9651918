//! The runtime: runs a [`Program`] against one message, asks the host what it cannot know,
//! and returns the actions.
//!
//! ```text
//!   Runtime::new(&program, message, envelope, context)
//!        │
//!        ▼
//!   run() ──▶ Step::Question(q) ──▶ host finds the answer ──▶ answer(a) ──▶ run() ...
//!        └──▶ Step::Done(outcome): actions, tracking ids, error
//! ```
//!
//! The drive contract: call [`Runtime::run`]; when it returns [`Step::Question`], give the
//! answer with [`Runtime::answer`] (now or later: the runtime holds its state, so a host may
//! look the answer up asynchronously) and call `run` again. `Step::Done` comes exactly
//! once; after it `run` keeps returning an empty `Done`.

#![allow(
    clippy::unnecessary_wraps,
    clippy::items_after_statements,
    clippy::single_match_else,
    clippy::explicit_iter_loop,
    clippy::many_single_char_names,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::needless_pass_by_value
)]

mod date;
mod eval;
mod exec;
mod matching;
mod message;
pub(crate) mod programs;
mod report;
mod sequence;
mod types;
mod vacation;

use std::borrow::Cow;
use std::sync::Arc;

pub use programs::{LineEnding, ProgramKind, ProgramOutcome, ProgramRequest, ProgramSettings};
pub use sequence::ScriptSequence;
pub use types::{
    Action, Answer, Context, DuplicateRecord, EditedHeaders, Envelope, Fcc, Outcome,
    OutgoingMessage, Question, RedirectSender, RunLimits, RuntimeError, ScoreHeader, ScoreSource,
    ScriptLocation, VacationConfig,
};

use crate::capability::Capability;
use crate::program::{Instr, Piece, Program, Value, VarRef};
use message::Message;

/// What [`Runtime::run`] stopped for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Step {
    /// The host must answer this, then call `run` again.
    Question(Question),
    /// The script finished (or failed; see [`Outcome::error`]).
    Done(Outcome),
}

/// Why execution of an instruction stopped early.
#[derive(Debug)]
pub(crate) enum Flow {
    /// Needs an answer from the host.
    Ask(Question),
    /// A run-time error.
    Error(String),
    /// `stop`, or the end of the main script.
    Stop,
}

impl From<String> for Flow {
    fn from(s: String) -> Self {
        Self::Error(s)
    }
}

pub(crate) type Res<T> = Result<T, Flow>;

/// Returned as the next pc by instructions that changed frames themselves.
pub(crate) const HANDLED: usize = usize::MAX;

#[derive(Clone, Debug)]
enum ProgramRef<'p> {
    Borrowed(&'p Program),
    Shared(Arc<Program>),
}

impl ProgramRef<'_> {
    fn get(&self) -> &Program {
        match self {
            ProgramRef::Borrowed(p) => p,
            ProgramRef::Shared(p) => p,
        }
    }
}

#[derive(Debug)]
struct Frame<'p> {
    program: ProgramRef<'p>,
    pc: usize,
    locals: Vec<String>,
    /// Program global index → runtime global slot.
    global_map: Vec<usize>,
    name: Option<(String, ScriptLocation)>,
    loops_at_entry: usize,
}

#[derive(Debug)]
struct LoopState {
    parts: Vec<usize>,
    pos: usize,
}

/// One run of a compiled script over one message.
#[derive(Debug)]
pub struct Runtime<'p, 'm> {
    frames: Vec<Frame<'p>>,
    message: Message<'m>,
    envelope: Envelope,
    ctx: Context,
    globals: Vec<(Box<str>, String)>,
    match_vars: Vec<String>,
    cond: bool,
    steps: u64,
    actions: Vec<Action>,
    /// The internal flag variable of imap4flags (RFC 5232 §3).
    flags: Vec<String>,
    implicit_keep: bool,
    answers: Vec<Answer>,
    answer_pos: usize,
    waiting: bool,
    finished: bool,
    error: Option<RuntimeError>,
    included: Vec<(String, ScriptLocation)>,
    include_count: usize,
    loops: Vec<LoopState>,
    duplicates: Vec<DuplicateRecord>,
    log: Vec<String>,
    header_edits: usize,
    redirects: usize,
    notifications: usize,
    vacation_done: bool,
    headers_snapshot: Option<(u32, Arc<[u8]>)>,
    /// Pigeonhole testsuite: the current test block has failed.
    suite_failed: bool,
    /// External programs run or piped to so far (`RunLimits::max_program_runs`).
    program_runs: usize,
}

impl<'p, 'm> Runtime<'p, 'm> {
    /// A run of `program` over `message` (the raw RFC 5322 bytes).
    pub fn new(
        program: &'p Program,
        message: &'m [u8],
        envelope: Envelope,
        context: Context,
    ) -> Self {
        Self::with_program(
            ProgramRef::Borrowed(program),
            Cow::Borrowed(message),
            envelope,
            context,
        )
    }

    /// Like [`Runtime::new`] for a shared program and an owned message.
    pub fn new_owned(
        program: Arc<Program>,
        message: Vec<u8>,
        envelope: Envelope,
        context: Context,
    ) -> Runtime<'static, 'static> {
        Runtime::with_program(
            ProgramRef::Shared(program),
            Cow::Owned(message),
            envelope,
            context,
        )
    }

    fn with_program(
        program: ProgramRef<'p>,
        message: Cow<'m, [u8]>,
        envelope: Envelope,
        ctx: Context,
    ) -> Self {
        let mut rt = Self {
            frames: Vec::new(),
            message: Message::new(message),
            envelope,
            ctx,
            globals: Vec::new(),
            match_vars: Vec::new(),
            cond: false,
            steps: 0,
            actions: Vec::new(),
            flags: Vec::new(),
            implicit_keep: true,
            answers: Vec::new(),
            answer_pos: 0,
            waiting: false,
            finished: false,
            error: None,
            included: Vec::new(),
            include_count: 0,
            loops: Vec::new(),
            duplicates: Vec::new(),
            log: Vec::new(),
            header_edits: 0,
            redirects: 0,
            notifications: 0,
            vacation_done: false,
            headers_snapshot: None,
            suite_failed: false,
            program_runs: 0,
        };
        rt.push_frame(program, None);
        rt
    }

    fn push_frame(&mut self, program: ProgramRef<'p>, name: Option<(String, ScriptLocation)>) {
        let p = program.get();
        let global_map = p
            .globals
            .iter()
            .map(|g| match self.globals.iter().position(|(n, _)| n == g) {
                Some(i) => i,
                None => {
                    self.globals.push((g.clone(), String::new()));
                    self.globals.len() - 1
                }
            })
            .collect();
        let locals = vec![String::new(); p.locals];
        self.frames.push(Frame {
            program,
            pc: 0,
            locals,
            global_map,
            name,
            loops_at_entry: self.loops.len(),
        });
    }

    /// Gives the answer to the last [`Step::Question`].
    pub fn answer(&mut self, answer: Answer) {
        if self.waiting {
            self.answers.push(answer);
            self.waiting = false;
        }
    }

    /// Runs until the script needs an answer or is done.
    pub fn run(&mut self) -> Step {
        if self.finished {
            return Step::Done(Outcome {
                actions: Vec::new(),
                duplicates: Vec::new(),
                error: None,
                log: Vec::new(),
            });
        }
        if self.waiting {
            // The last question was not answered: ask again.
            if let Err(Flow::Ask(q)) = self.step() {
                return Step::Question(q);
            }
        }
        loop {
            match self.step() {
                Ok(true) => {}
                Ok(false) | Err(Flow::Stop) => return Step::Done(self.finish()),
                Err(Flow::Ask(q)) => {
                    self.waiting = true;
                    return Step::Question(q);
                }
                Err(Flow::Error(e)) => {
                    let line = self.current_line();
                    self.error = Some(RuntimeError { line, message: e });
                    return Step::Done(self.finish());
                }
            }
        }
    }

    fn current_line(&self) -> u32 {
        self.frames
            .last()
            .and_then(|f| f.program.get().lines.get(f.pc).copied())
            .unwrap_or(0)
    }

    /// Executes one instruction. `Ok(false)` at the end of the main script.
    fn step(&mut self) -> Res<bool> {
        let Some(frame) = self.frames.last() else {
            return Ok(false);
        };
        let pc = frame.pc;
        let program = frame.program.clone();
        let code = &program.get().code;
        let Some(instr) = code.get(pc) else {
            // End of this script: return to the includer, or finish.
            self.leave_frame();
            return Ok(!self.frames.is_empty());
        };
        self.steps += 1;
        if self.steps > self.ctx.limits.max_cpu_steps {
            return Err(Flow::Error(format!(
                "the script used more than its limit of {} steps",
                self.ctx.limits.max_cpu_steps
            )));
        }
        self.answer_pos = 0;
        let depth = self.frames.len();
        let next = self.exec(instr, pc)?;
        self.answers.clear();
        // HANDLED: the instruction moved between frames (include, return) itself.
        if next != HANDLED
            && let Some(f) = self.frames.get_mut(depth - 1)
        {
            f.pc = next;
        }
        Ok(!self.frames.is_empty())
    }

    fn leave_frame(&mut self) {
        if let Some(f) = self.frames.pop() {
            self.loops.truncate(f.loops_at_entry);
        }
    }

    /// The answer to a question asked by the current instruction, or `Flow::Ask`.
    pub(crate) fn ask(&mut self, q: Question) -> Res<Answer> {
        if let Some(a) = self.answers.get(self.answer_pos) {
            self.answer_pos += 1;
            return Ok(a.clone());
        }
        Err(Flow::Ask(q))
    }

    /// Like [`Runtime::ask`], building the question only when it must be asked (a question
    /// that carries the message is not built again when the instruction resumes). The
    /// answer is taken, not cloned: only for the last question of an instruction.
    pub(crate) fn ask_with(&mut self, q: impl FnOnce(&Self) -> Question) -> Res<Answer> {
        if let Some(a) = self.answers.get_mut(self.answer_pos) {
            self.answer_pos += 1;
            return Ok(std::mem::replace(a, Answer::NotFound));
        }
        Err(Flow::Ask(q(self)))
    }

    fn finish(&mut self) -> Outcome {
        self.finished = true;
        let mut actions = std::mem::take(&mut self.actions);
        let error = self.error.take();
        if error.is_some() {
            actions.clear();
            self.implicit_keep = true;
        }
        if self.implicit_keep {
            actions.push(Action::Keep {
                flags: if error.is_some() {
                    Vec::new()
                } else {
                    self.flags.clone()
                },
                implicit: true,
                headers: if error.is_some() {
                    None
                } else {
                    self.snapshot()
                },
            });
        }
        Outcome {
            actions,
            duplicates: if error.is_some() {
                Vec::new()
            } else {
                std::mem::take(&mut self.duplicates)
            },
            error,
            log: std::mem::take(&mut self.log),
        }
    }

    // ---- variables and values ----

    fn frame(&self) -> &Frame<'p> {
        self.frames.last().expect("a frame while running")
    }

    pub(crate) fn has(&self, c: Capability) -> bool {
        self.frames
            .last()
            .is_some_and(|f| f.program.get().required.contains(c))
    }

    fn var(&self, r: VarRef) -> &str {
        let f = self.frame();
        match r {
            VarRef::Local(i) => f.locals.get(i as usize).map_or("", String::as_str),
            VarRef::Global(i) => f
                .global_map
                .get(i as usize)
                .and_then(|&g| self.globals.get(g))
                .map_or("", |(_, v)| v.as_str()),
        }
    }

    pub(crate) fn set_var(&mut self, r: VarRef, mut value: String) {
        let max = self.ctx.limits.max_variable_size;
        if value.len() > max {
            let mut cut = max;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        match r {
            VarRef::Local(i) => {
                if let Some(v) = f.locals.get_mut(i as usize) {
                    *v = value;
                }
            }
            VarRef::Global(i) => {
                if let Some(&g) = f.global_map.get(i as usize)
                    && let Some(slot) = self.globals.get_mut(g)
                {
                    slot.1 = value;
                }
            }
        }
    }

    /// Expands a string argument.
    pub(crate) fn expand<'v>(&self, v: &'v Value) -> Cow<'v, str> {
        match v {
            Value::Const(s) => Cow::Borrowed(s),
            Value::Template(pieces) => {
                let mut out = String::new();
                for p in pieces.iter() {
                    match p {
                        Piece::Lit(s) => out.push_str(s),
                        Piece::Local(i) => out.push_str(self.var(VarRef::Local(*i))),
                        Piece::Global(i) => out.push_str(self.var(VarRef::Global(*i))),
                        Piece::Match(n) => {
                            if let Some(m) = self.match_vars.get(*n as usize) {
                                out.push_str(m);
                            }
                        }
                        Piece::Env(name) => {
                            // A name with '_' also finds the item spelled with '-'
                            // (`${env.vnd.dovecot.default_mailbox}`), as Pigeonhole.
                            let v = self.env_item(name).or_else(|| {
                                name.contains('_')
                                    .then(|| self.env_item(&name.replace('_', "-")))
                                    .flatten()
                            });
                            if let Some(v) = v {
                                out.push_str(v);
                            }
                        }
                        Piece::Suite(name) => {
                            if let Some((_, v)) = self
                                .ctx
                                .testsuite_values
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                            {
                                out.push_str(v);
                            }
                        }
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// An environment item the context knows (lowercase `name`): the host's list, and
    /// with vnd.dovecot.environment `vnd.dovecot.default-mailbox`. `vnd.dovecot.*` items
    /// exist only for scripts that require vnd.dovecot.environment.
    pub(crate) fn env_item(&self, name: &str) -> Option<&str> {
        if name.starts_with("vnd.dovecot.") {
            if !self.has(Capability::DovecotEnvironment) {
                return None;
            }
            if name == "vnd.dovecot.default-mailbox" {
                return Some(&self.ctx.default_mailbox);
            }
        }
        self.ctx
            .environment
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn expand_list<'v>(&self, l: &'v [Value]) -> Vec<Cow<'v, str>> {
        l.iter().map(|v| self.expand(v)).collect()
    }

    /// The current header block if edited, for actions to carry.
    pub(crate) fn snapshot(&mut self) -> EditedHeaders {
        if self.message.version == 0 {
            return None;
        }
        if let Some((v, h)) = &self.headers_snapshot
            && *v == self.message.version
        {
            return Some(h.clone());
        }
        let h: Arc<[u8]> = Arc::from(self.message.header_block());
        self.headers_snapshot = Some((self.message.version, h.clone()));
        Some(h)
    }

    // ---- host-side access for test harnesses ----

    /// Replaces the message under test (test harnesses; a delivery never needs this).
    #[doc(hidden)]
    pub fn set_message(&mut self, message: Vec<u8>) {
        self.message = Message::new(Cow::Owned(message));
        self.headers_snapshot = None;
    }

    /// Replaces the envelope (test harnesses).
    #[doc(hidden)]
    pub fn set_envelope(&mut self, envelope: Envelope) {
        self.envelope = envelope;
    }

    /// The envelope.
    #[doc(hidden)]
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The context (test harnesses may change it between steps).
    #[doc(hidden)]
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// The actions so far (test harnesses).
    #[doc(hidden)]
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Takes the actions so far and resets the implicit keep (test harnesses).
    #[doc(hidden)]
    pub fn reset_result(&mut self) -> Vec<Action> {
        self.implicit_keep = true;
        self.flags.clear();
        self.redirects = 0;
        self.notifications = 0;
        self.vacation_done = false;
        std::mem::take(&mut self.actions)
    }

    /// Sets the internal flag variable of imap4flags (test harnesses: a message loaded from
    /// a mailbox comes with its flags).
    #[doc(hidden)]
    pub fn set_flags(&mut self, flags: Vec<String>) {
        self.flags = flags;
    }

    /// Whether the implicit keep still applies (test harnesses).
    #[doc(hidden)]
    pub fn implicit_keep_pending(&self) -> bool {
        self.implicit_keep
    }

    /// The message as edited so far (test harnesses).
    #[doc(hidden)]
    pub fn current_message(&self) -> Vec<u8> {
        self.message.current().into_owned()
    }

    /// Dispatches one instruction; returns the next pc.
    fn exec(&mut self, instr: &Instr, pc: usize) -> Res<usize> {
        match instr {
            Instr::Jump(t) => Ok(*t as usize),
            Instr::JumpIf { target, when } => Ok(if self.cond == *when {
                *target as usize
            } else {
                pc + 1
            }),
            Instr::Not => {
                self.cond = !self.cond;
                Ok(pc + 1)
            }
            Instr::Test(t) => {
                self.cond = self.eval(t)?;
                Ok(pc + 1)
            }
            _ => self.command(instr, pc),
        }
    }
}

#[cfg(test)]
mod ext_tests;
#[cfg(test)]
mod tests;
