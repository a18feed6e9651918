//! The framer: splits a byte stream into IMAP messages (lines and literals) before parsing.
//!
//! It remembers how far it has scanned, so feeding a message one byte at a time costs O(1) per
//! byte; a message is parsed once, when it is complete. Every message it keeps is bounded by
//! `max_message_size`; an oversized message is skipped to its end and reported with
//! [`Event::Discarded`], and framing continues with the next message.
//!
//! In the command direction a literal header (`{n}`, `{n+}`, `~{n}`) is a decision point: the
//! framer stops with [`Event::Literal`] until the caller [keeps](Framer::keep_literal),
//! [streams](Framer::stream_literal), or [rejects](Framer::reject_literal) it — the moment a
//! server either sends `+` or refuses by tag (IMAP-005). In the response direction literals are
//! kept as they come (a client cannot refuse them), up to the size limit.
//!
//! ```
//! use imap_proto::fragment::{Direction, Event, Framer};
//!
//! let mut f = Framer::new(Direction::Command, 64 * 1024);
//! f.push(b"a1 LOGIN {5}\r\n");
//! assert_eq!(f.advance(), Some(Event::Literal { length: 5, sync: true, binary: false }));
//! f.keep_literal(); // a server now sends "+ ..."
//! f.push(b"alice pw\r\n");
//! assert_eq!(f.advance(), Some(Event::Message));
//! assert_eq!(f.message(), b"a1 LOGIN {5}\r\nalice pw\r\n");
//! f.consume();
//! assert_eq!(f.advance(), None);
//! ```

use crate::types::core::LiteralMode;

/// Which way the bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: literals wait for a decision.
    Command,
    /// Server to client: literals are read as they come; status lines never hold literals.
    Response,
}

/// Why a message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscardReason {
    /// It exceeded `max_message_size`.
    TooLong,
    /// The caller rejected a literal in it.
    LiteralRejected,
}

/// What the framer found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A complete message is in [`Framer::message`]; call [`Framer::consume`] when done.
    Message,
    /// A literal was announced (command direction). Decide with [`Framer::keep_literal`],
    /// [`Framer::stream_literal`] or [`Framer::reject_literal`]; [`Framer::message`] holds the
    /// message so far, ending with the header line.
    Literal {
        /// Announced length (`u32::MAX` if the number was larger).
        length: u32,
        /// `{n}`: the client waits for `+`.
        sync: bool,
        /// `~{n}` literal8.
        binary: bool,
    },
    /// Bytes of a streamed literal are in [`Framer::chunk`].
    Chunk,
    /// The streamed literal is complete; framing of the message continues.
    LiteralEnd,
    /// A message was dropped; [`Framer::message`] holds its first bytes (up to 128, for the
    /// tag). Call [`Framer::consume`].
    Discarded {
        /// Why.
        reason: DiscardReason,
        /// How many bytes were dropped in all (not counting the data a synchronizing literal
        /// would have brought).
        dropped: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LitMode {
    Keep,
    Stream,
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Line,
    Decide { length: u32, sync: bool },
    Literal { remaining: u64, mode: LitMode },
    StreamDone,
    Done,
}

const HEAD: usize = 128;

/// The bounded, resumable framer.
#[derive(Clone, Debug)]
pub struct Framer {
    dir: Direction,
    max: usize,
    buf: Vec<u8>,
    /// Start of the current message in `buf`.
    start: usize,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// End of the retained part of the current message (bytes after it are unscanned input or
    /// streamed/skipped data not kept).
    kept_end: usize,
    /// Start of the current line (for literal-header checks on status lines).
    line_start: usize,
    state: State,
    discard: Option<DiscardReason>,
    dropped: u64,
    chunk: (usize, usize),
    /// The last chunk is still in `buf` and must go before framing continues.
    drop_chunk_later: bool,
    /// A `Discarded` event is due (after a rejected synchronizing literal).
    pending_discarded: bool,
}

impl Framer {
    /// A framer that keeps at most `max_message_size` bytes of any message (lines plus kept
    /// literals; streamed literals do not count).
    pub fn new(direction: Direction, max_message_size: usize) -> Self {
        Self {
            dir: direction,
            max: max_message_size,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            kept_end: 0,
            line_start: 0,
            state: State::Line,
            discard: None,
            dropped: 0,
            chunk: (0, 0),
            drop_chunk_later: false,
            pending_discarded: false,
        }
    }

    /// The size limit.
    pub fn max_message_size(&self) -> usize {
        self.max
    }

    /// Changes the size limit (applies from the next check on).
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max = max;
    }

    /// Whether [`Self::advance`] has nothing to do (no unscanned input, nothing pending).
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.scanned == self.buf.len()
            && self.state == State::Line
            && !self.drop_chunk_later
            && !self.pending_discarded
    }

    /// Takes in new bytes that cannot end anything, without a call into [`Self::advance`]:
    /// a kept literal's data short of its end, or one line byte that is not LF. Returns
    /// whether it did (then there is nothing to report); the framing is the same either way.
    #[inline]
    pub(crate) fn absorb(&mut self) -> bool {
        if self.discard.is_some() || self.drop_chunk_later || self.pending_discarded {
            return false;
        }
        let avail = self.buf.len() - self.scanned;
        match &mut self.state {
            State::Literal {
                remaining,
                mode: LitMode::Keep,
            } if (avail as u64) < *remaining => {
                *remaining -= avail as u64;
                self.scanned = self.buf.len();
                self.kept_end = self.scanned;
                true
            }
            State::Line
                if avail == 1
                    && self.buf[self.scanned] != b'\n'
                    && self.kept_end - self.start < self.max =>
            {
                self.scanned += 1;
                self.kept_end = self.scanned;
                true
            }
            _ => false,
        }
    }

    /// Appends received bytes.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 && self.start > 4096 {
            self.compact();
        }
        // One byte (a slow peer, or a caller feeding byte by byte): a push, not a copy call.
        if let [b] = bytes {
            self.buf.push(*b);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn compact(&mut self) {
        let s = self.start;
        self.buf.drain(..s);
        self.start = 0;
        self.scanned -= s;
        self.kept_end -= s;
        self.line_start = self.line_start.saturating_sub(s);
        self.chunk = (
            self.chunk.0.saturating_sub(s),
            self.chunk.1.saturating_sub(s),
        );
    }

    /// Bytes received and not yet framed (including the message in progress).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drops everything buffered after the current message (STARTTLS and COMPRESS: bytes sent
    /// before the switch must not be read as if they came after it).
    pub fn clear_pending(&mut self) -> usize {
        let end = self.kept_end.max(self.scanned);
        let n = self.buf.len() - end;
        self.buf.truncate(end);
        n
    }

    /// Takes every byte not yet framed out of the buffer (for a switch of the byte stream,
    /// e.g. compression, where the caller must transform them first).
    pub fn take_pending(&mut self) -> Vec<u8> {
        let end = self.kept_end.max(self.scanned);
        self.buf.split_off(end)
    }

    /// The current message (or the kept part of it).
    pub fn message(&self) -> &[u8] {
        &self.buf[self.start..self.kept_end]
    }

    /// The bytes of the last [`Event::Chunk`].
    pub fn chunk(&self) -> &[u8] {
        &self.buf[self.chunk.0..self.chunk.1]
    }

    /// Done with the message reported by [`Event::Message`] or [`Event::Discarded`].
    pub fn consume(&mut self) {
        debug_assert_eq!(self.state, State::Done);
        self.start = self.scanned;
        self.kept_end = self.scanned;
        self.line_start = self.scanned;
        self.state = State::Line;
        self.discard = None;
        self.dropped = 0;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.scanned = 0;
            self.kept_end = 0;
            self.line_start = 0;
        }
    }

    /// Accept the announced literal and keep its data in the message (the server sends `+`
    /// for a synchronizing literal).
    pub fn keep_literal(&mut self) {
        self.decide(LitMode::Keep);
    }

    /// Accept the announced literal and hand its data out in [`Event::Chunk`]s instead of
    /// keeping it (APPEND of a large message). The message keeps the header line.
    pub fn stream_literal(&mut self) {
        self.decide(LitMode::Stream);
    }

    /// Refuse the announced literal. For `{n}` the client sends no data, so the message ends
    /// here; for `{n+}` the data and the rest of the command are skipped. Either way the
    /// message ends with [`Event::Discarded`].
    pub fn reject_literal(&mut self) {
        let State::Decide { length, sync } = self.state else {
            debug_assert!(false, "no literal to decide on");
            return;
        };
        self.discard = Some(DiscardReason::LiteralRejected);
        if sync {
            self.state = State::Done;
            self.finish_discard_head();
            self.pending_discarded = true;
        } else {
            self.state = State::Literal {
                remaining: u64::from(length),
                mode: LitMode::Skip,
            };
        }
    }

    fn decide(&mut self, mode: LitMode) {
        let State::Decide { length, .. } = self.state else {
            debug_assert!(false, "no literal to decide on");
            return;
        };
        if mode == LitMode::Keep && self.retained() + length as usize > self.max {
            self.start_discard(DiscardReason::TooLong);
            self.state = State::Literal {
                remaining: u64::from(length),
                mode: LitMode::Skip,
            };
            return;
        }
        self.state = State::Literal {
            remaining: u64::from(length),
            mode,
        };
    }

    fn retained(&self) -> usize {
        self.kept_end - self.start
    }

    fn start_discard(&mut self, reason: DiscardReason) {
        if self.discard.is_none() {
            self.discard = Some(reason);
            self.dropped += self.retained().saturating_sub(HEAD) as u64;
            self.finish_discard_head();
        }
    }

    /// Keeps only the head of a discarded message.
    fn finish_discard_head(&mut self) {
        let head_end = (self.start + HEAD).min(self.kept_end);
        if head_end < self.kept_end {
            let removed = self.kept_end - head_end;
            self.buf.drain(head_end..self.kept_end);
            self.scanned -= removed;
            if self.line_start >= self.kept_end {
                self.line_start -= removed;
            } else if self.line_start > head_end {
                self.line_start = head_end;
            }
            self.kept_end = head_end;
        }
    }

    /// Frames on from where the last call stopped.
    pub fn advance(&mut self) -> Option<Event> {
        // Fast exit: nothing new to look at.
        if self.is_idle() {
            return None;
        }
        if self.drop_chunk_later {
            self.drop_chunk_later = false;
            let (a, b) = self.chunk;
            self.buf.drain(a..b);
            self.scanned -= b - a;
            self.line_start = self.scanned;
            self.chunk = (0, 0);
        }
        if self.pending_discarded {
            self.pending_discarded = false;
            return Some(Event::Discarded {
                reason: self.discard.unwrap_or(DiscardReason::LiteralRejected),
                dropped: self.dropped,
            });
        }
        loop {
            match self.state {
                State::Done | State::Decide { .. } => return None,
                State::StreamDone => {
                    self.state = State::Line;
                    return Some(Event::LiteralEnd);
                }
                State::Literal { remaining, mode } => {
                    let avail = (self.buf.len() - self.scanned) as u64;
                    if avail == 0 {
                        return None;
                    }
                    let take = avail.min(remaining) as usize;
                    let from = self.scanned;
                    self.scanned += take;
                    let left = remaining - take as u64;
                    match mode {
                        LitMode::Keep => {
                            self.kept_end = self.scanned;
                        }
                        LitMode::Skip => {
                            self.dropped += take as u64;
                            self.buf.drain(from..self.scanned);
                            self.scanned = from;
                        }
                        LitMode::Stream => {
                            self.chunk = (from, self.scanned);
                            // The chunk's bytes are removed from the buffer when the next call
                            // comes, so they do not count against the message.
                            self.state = if left == 0 {
                                State::StreamDone
                            } else {
                                State::Literal {
                                    remaining: left,
                                    mode,
                                }
                            };
                            self.drop_chunk_later = true;
                            self.line_start = self.scanned;
                            return Some(Event::Chunk);
                        }
                    }
                    if left == 0 {
                        self.state = State::Line;
                        self.line_start = self.scanned;
                    } else {
                        self.state = State::Literal {
                            remaining: left,
                            mode,
                        };
                        return None;
                    }
                }
                State::Line => {
                    let from = self.scanned;
                    // One new byte that ends nothing (the byte-at-a-time case).
                    if from + 1 == self.buf.len()
                        && self.buf[from] != b'\n'
                        && self.discard.is_none()
                        && self.retained() < self.max
                    {
                        self.scanned += 1;
                        self.kept_end = self.scanned;
                        return None;
                    }
                    let new = &self.buf[from..];
                    // Short reads: a plain loop beats the vectorized search's setup.
                    let found = if new.len() < 32 {
                        new.iter().position(|&c| c == b'\n')
                    } else {
                        memchr::memchr(b'\n', new)
                    };
                    let Some(k) = found else {
                        self.scanned = self.buf.len();
                        if self.discard.is_some() {
                            self.drop_scanned(true);
                        } else {
                            self.kept_end = self.scanned;
                            if self.retained() > self.max {
                                self.start_discard(DiscardReason::TooLong);
                                self.drop_scanned(true);
                            }
                        }
                        return None;
                    };
                    let lf = from + k;
                    self.scanned = lf + 1;
                    let eol = if lf > self.line_start && self.buf[lf - 1] == b'\r' {
                        lf - 1
                    } else {
                        lf
                    };
                    let header = if self.dir == Direction::Response
                        && self.line_start == self.start
                        && is_status_line(&self.buf[self.start..eol])
                    {
                        None
                    } else {
                        literal_header_ext(&self.buf[self.line_start..eol])
                    };
                    if self.discard.is_some() {
                        self.drop_scanned(false);
                    } else {
                        self.kept_end = self.scanned;
                        if self.retained() > self.max {
                            self.start_discard(DiscardReason::TooLong);
                            self.drop_scanned(false);
                        }
                    }
                    self.line_start = self.scanned;
                    match header {
                        None => {
                            self.state = State::Done;
                            return Some(match self.discard {
                                None => Event::Message,
                                Some(reason) => Event::Discarded {
                                    reason,
                                    dropped: self.dropped,
                                },
                            });
                        }
                        Some((length, mode, binary)) => {
                            let sync = mode == LiteralMode::Sync;
                            if self.discard.is_some() {
                                if sync && self.dir == Direction::Command {
                                    // The client waits for a "+" that will not come.
                                    self.state = State::Done;
                                    return Some(Event::Discarded {
                                        reason: self.discard.unwrap_or(DiscardReason::TooLong),
                                        dropped: self.dropped,
                                    });
                                }
                                self.state = State::Literal {
                                    remaining: u64::from(length),
                                    mode: LitMode::Skip,
                                };
                                continue;
                            }
                            match self.dir {
                                Direction::Command => {
                                    self.state = State::Decide { length, sync };
                                    return Some(Event::Literal {
                                        length,
                                        sync,
                                        binary,
                                    });
                                }
                                Direction::Response => {
                                    self.state = State::Decide { length, sync };
                                    self.decide(LitMode::Keep);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Drops the scanned bytes of a discarded message beyond the kept head. Inside a line
    /// (`partial`), the last bytes stay so a literal header split across reads is still seen.
    fn drop_scanned(&mut self, partial: bool) {
        let keep = if partial { 24 } else { 0 };
        let to = self.scanned.saturating_sub(keep).max(self.kept_end);
        if to > self.kept_end {
            self.dropped += (to - self.kept_end) as u64;
            self.buf.drain(self.kept_end..to);
            self.scanned -= to - self.kept_end;
        }
        self.line_start = self.line_start.min(self.kept_end);
    }
}

/// Whether a response's first line is a status response or continuation request, whose text
/// may end in `{n}` without announcing a literal.
fn is_status_line(line: &[u8]) -> bool {
    if line.first() == Some(&b'+') {
        return true;
    }
    let Some(sp) = memchr::memchr(b' ', line) else {
        return false;
    };
    let rest = &line[sp + 1..];
    let word_end = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
    let w = &rest[..word_end];
    [&b"OK"[..], b"NO", b"BAD", b"BYE", b"PREAUTH"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k))
}

/// If `line` (without its CRLF) ends with a literal header, its length and mode.
pub fn literal_header(line: &[u8]) -> Option<(u32, LiteralMode)> {
    literal_header_ext(line).map(|(l, m, _)| (l, m))
}

fn literal_header_ext(line: &[u8]) -> Option<(u32, LiteralMode, bool)> {
    let (&last, rest) = line.split_last()?;
    if last != b'}' {
        return None;
    }
    let (rest, mode) = match rest.split_last() {
        Some((b'+', r)) => (r, LiteralMode::NonSync),
        _ => (rest, LiteralMode::Sync),
    };
    let digits = rest.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let open = rest.len() - digits;
    if open == 0 || rest[open - 1] != b'{' {
        return None;
    }
    let mut n: u64 = 0;
    for &c in &rest[open..] {
        n = n.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    let binary = open >= 2 && rest[open - 2] == b'~';
    Some((u32::try_from(n).unwrap_or(u32::MAX), mode, binary))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `input` fed in pieces of `chunk` bytes, keeping every literal; returns the
    /// messages and discard events as text.
    fn frame(dir: Direction, max: usize, input: &[u8], chunk: usize) -> Vec<String> {
        let mut f = Framer::new(dir, max);
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            f.push(part);
            while let Some(e) = f.advance() {
                match e {
                    Event::Message => {
                        out.push(String::from_utf8_lossy(f.message()).into_owned());
                        f.consume();
                    }
                    Event::Literal { length, .. } => {
                        if length > 1000 {
                            f.reject_literal();
                        } else {
                            f.keep_literal();
                        }
                    }
                    Event::Discarded { reason, dropped } => {
                        out.push(format!(
                            "discarded {reason:?} {dropped} {:?}",
                            String::from_utf8_lossy(f.message())
                        ));
                        f.consume();
                    }
                    Event::Chunk | Event::LiteralEnd => unreachable!(),
                }
            }
        }
        out
    }

    const STREAM: &[u8] =
        b"a1 NOOP\r\na2 LOGIN {5}\r\nalice {3+}\r\npw!\r\na3 APPEND x {2000}\r\na4 X {1001+}\r\n";

    #[test]
    fn every_split_gives_the_same_events() {
        let mut input = STREAM.to_vec();
        input.extend(std::iter::repeat_n(b'z', 1001));
        input.extend_from_slice(b" tail\r\na5 SEARCH TEXT {0}\r\n\r\n");
        let whole = frame(Direction::Command, 4096, &input, input.len());
        assert_eq!(
            whole,
            vec![
                "a1 NOOP\r\n".to_string(),
                "a2 LOGIN {5}\r\nalice {3+}\r\npw!\r\n".to_string(),
                "discarded LiteralRejected 0 \"a3 APPEND x {2000}\\r\\n\"".to_string(),
                "discarded LiteralRejected 1008 \"a4 X {1001+}\\r\\n\"".to_string(),
                "a5 SEARCH TEXT {0}\r\n\r\n".to_string(),
            ]
        );
        for chunk in 1..=40 {
            assert_eq!(
                frame(Direction::Command, 4096, &input, chunk),
                whole,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn oversized_messages_are_skipped_and_framing_goes_on() {
        let mut input = b"a1 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300));
        input.extend_from_slice(b" {12}\r\n");
        input.extend_from_slice(b"a2 NOOP\r\n");
        // A synchronizing literal in a discarded command: the client waits, so it ends there.
        let out = frame(Direction::Command, 100, &input, 7);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].starts_with("discarded TooLong"), "{out:?}");
        assert_eq!(out[1], "a2 NOOP\r\n");
        // Responses: status lines never announce literals; data lines do.
        let out = frame(
            Direction::Response,
            100,
            b"* OK hello {5}\r\n* 1 FETCH (BODY[] {5}\r\nhello)\r\n",
            3,
        );
        assert_eq!(
            out,
            vec![
                "* OK hello {5}\r\n".to_string(),
                "* 1 FETCH (BODY[] {5}\r\nhello)\r\n".to_string()
            ]
        );
        // An oversized response literal is skipped, data and all.
        let mut big = b"* 1 FETCH (BODY[] {200}\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'y', 200));
        big.extend_from_slice(b")\r\n* 2 EXISTS\r\n");
        let out = frame(Direction::Response, 100, &big, 13);
        assert!(out[0].starts_with("discarded TooLong"), "{out:?}");
        assert_eq!(out[1], "* 2 EXISTS\r\n");
    }

    #[test]
    fn streamed_literal_comes_in_chunks_and_is_not_kept() {
        let mut f = Framer::new(Direction::Command, 64);
        f.push(b"a APPEND x {10}\r\n");
        assert!(matches!(
            f.advance(),
            Some(Event::Literal {
                length: 10,
                sync: true,
                ..
            })
        ));
        f.stream_literal();
        let mut data = Vec::new();
        for part in [&b"0123"[..], b"45678", b"9\r\nb NOOP\r\n"] {
            f.push(part);
            while let Some(e) = f.advance() {
                match e {
                    Event::Chunk => data.extend_from_slice(f.chunk()),
                    Event::LiteralEnd => {}
                    Event::Message => {
                        assert_eq!(f.message(), b"a APPEND x {10}\r\n\r\n");
                        f.consume();
                        assert_eq!(f.advance(), Some(Event::Message));
                        assert_eq!(f.message(), b"b NOOP\r\n");
                        f.consume();
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(data, b"0123456789");
        // Only the header was kept, far below the limit though the data was not.
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn literal_headers() {
        assert_eq!(literal_header(b"a {5}"), Some((5, LiteralMode::Sync)));
        assert_eq!(literal_header(b"a {5+}"), Some((5, LiteralMode::NonSync)));
        assert_eq!(literal_header(b"a ~{5}"), Some((5, LiteralMode::Sync)));
        assert_eq!(literal_header(b"a {}"), None);
        assert_eq!(literal_header(b"a 5}"), None);
        assert_eq!(
            literal_header(b"{99999999999}"),
            Some((u32::MAX, LiteralMode::Sync))
        );
        assert!(is_status_line(b"a1 OK done {5}"));
        assert!(is_status_line(b"+ go {5}"));
        assert!(!is_status_line(b"* 1 FETCH (BODY[] {5}"));
    }
}
