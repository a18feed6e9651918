//! A bounded framer: splits the byte stream into complete units (one command, or one
//! response line) before anything parses them.
//!
//! A unit is a text line ending in CRLF; when a line ends with a literal length
//! (`{n+}` or `{n}` right before the CRLF), the unit continues with those `n` octets and
//! the text after them, up to the next CRLF that does not announce a literal. The framer
//! only counts: it never rescans bytes it has seen, so feeding a large literal one byte
//! at a time stays linear.
//!
//! Limits (all constructor arguments, see [`FrameLimits`]): the length of one text line,
//! the size of one literal and the size of the whole unit. A unit that breaks a limit is
//! not buffered: the framer drops it as it streams in (still following its literals, so
//! that literal data is never mistaken for commands), keeps its first bytes so the caller
//! can say which command was refused, and reports it once the unit has ended. The session
//! then answers `NO` and carries on.

/// How much of a dropped unit is kept so the caller can name the command.
const HEAD_LEN: usize = 64;

/// Size limits for one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameLimits {
    /// Longest text line, CRLF included, literals excluded.
    pub(crate) line: usize,
    /// Largest literal.
    pub(crate) literal: usize,
    /// Largest unit: every line and literal together.
    pub(crate) unit: usize,
}

/// Why a unit was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OversizeKind {
    /// A text line was longer than the line limit.
    LineTooLong,
    /// A literal announced more octets than the literal limit.
    LiteralTooLarge {
        /// The announced size.
        announced: u64,
    },
    /// Lines and literals together were larger than the unit limit.
    UnitTooLarge,
}

/// A unit the framer dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Oversize {
    /// The first bytes of the unit (at most 64).
    pub(crate) head: Vec<u8>,
    /// Which limit it broke.
    pub(crate) kind: OversizeKind,
}

/// What the framer found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A complete unit: the first `n` buffered bytes. Call [`Framer::consume`] after use.
    Unit(usize),
    /// A unit that broke a limit and has been dropped entirely.
    Dropped(Oversize),
}

#[derive(Debug)]
struct Skip {
    head: Vec<u8>,
    kind: OversizeKind,
    literal_left: u64,
    /// The last bytes of the current line, to spot a literal length at its end.
    tail: Vec<u8>,
}

/// The framer; see the module docs.
#[derive(Debug)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// Bytes before this offset are consumed (dropped from `buf` lazily).
    head: usize,
    /// Offsets below are relative to `head`.
    scan: usize,
    line_start: usize,
    literal_left: usize,
    skip: Option<Skip>,
    limits: FrameLimits,
}

/// If `line` (up to, not including, its LF) ends with `{digits}` or `{digits+}`, and an
/// optional CR, the announced length (saturating).
fn literal_at_end(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let line = line.strip_suffix(b"+").unwrap_or(line);
    let digits = line.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    let (rest, num) = line.split_at(line.len() - digits);
    if !rest.ends_with(b"{") {
        return None;
    }
    Some(num.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

impl Framer {
    pub(crate) fn new(limits: FrameLimits) -> Self {
        Self {
            buf: Vec::new(),
            head: 0,
            scan: 0,
            line_start: 0,
            literal_left: 0,
            skip: None,
            limits,
        }
    }

    /// Appends received bytes. Consumed bytes are dropped from the front lazily, when they
    /// are at least half the buffer, so many small pipelined commands cost linear time.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.head > 0 && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The bytes buffered and not yet consumed.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.head
    }

    /// The buffered bytes; a complete unit is `&self.bytes()[..n]`.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Forgets everything buffered (STARTTLS: plaintext after the command is dropped).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.scan = 0;
        self.line_start = 0;
        self.literal_left = 0;
        self.skip = None;
    }

    /// Drops the first `n` bytes (a unit returned by [`Self::next`]).
    pub(crate) fn consume(&mut self, n: usize) {
        self.head += n.min(self.buffered());
        self.scan = 0;
        self.line_start = 0;
        self.literal_left = 0;
    }

    /// Drops `n` bytes from the front while dropping an oversize unit.
    fn discard(&mut self, n: usize) {
        self.head += n;
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        }
    }

    fn start_skip(&mut self, kind: OversizeKind) {
        let unit = self.bytes();
        let head = unit[..unit.len().min(HEAD_LEN)].to_vec();
        // Everything before the current line is dropped now; the skip loop reads the
        // current line again to find where it ends.
        self.discard(self.line_start);
        self.scan = 0;
        self.line_start = 0;
        self.literal_left = 0;
        self.skip = Some(Skip {
            head,
            kind,
            literal_left: 0,
            tail: Vec::new(),
        });
    }

    /// Runs the dropping state; `Some` once the dropped unit has ended.
    fn run_skip(&mut self) -> Option<Frame> {
        loop {
            let available = self.buffered();
            let skip = self.skip.as_mut()?;
            if skip.literal_left > 0 {
                let n = (available as u64).min(skip.literal_left);
                skip.literal_left -= n;
                let more = skip.literal_left > 0;
                self.discard(n as usize);
                if more {
                    return None;
                }
                if let Some(skip) = self.skip.as_mut() {
                    skip.tail.clear();
                }
                continue;
            }
            let data = &self.buf[self.head..];
            let Some(lf) = memchr::memchr(b'\n', data) else {
                let keep = data.len().min(32);
                skip.tail.extend_from_slice(&data[data.len() - keep..]);
                let excess = skip.tail.len().saturating_sub(32);
                skip.tail.drain(..excess);
                self.discard(available);
                return None;
            };
            skip.tail.extend_from_slice(&data[..lf]);
            let literal = literal_at_end(&skip.tail);
            skip.tail.clear();
            if let Some(n) = literal {
                skip.literal_left = n;
                self.discard(lf + 1);
                continue;
            }
            let skip = self.skip.take()?;
            self.discard(lf + 1);
            return Some(Frame::Dropped(Oversize {
                head: skip.head,
                kind: skip.kind,
            }));
        }
    }

    /// The next complete or dropped unit, or `None` until more bytes arrive.
    pub(crate) fn next(&mut self) -> Option<Frame> {
        loop {
            if self.skip.is_some() {
                return self.run_skip();
            }
            let len = self.buffered();
            if self.literal_left > 0 {
                let n = (len - self.scan).min(self.literal_left);
                self.scan += n;
                self.literal_left -= n;
                if self.literal_left > 0 {
                    return None;
                }
                self.line_start = self.scan;
                continue;
            }
            let Some(i) = memchr::memchr(b'\n', &self.buf[self.head + self.scan..]) else {
                self.scan = len;
                if self.scan - self.line_start > self.limits.line {
                    self.start_skip(OversizeKind::LineTooLong);
                } else if self.scan > self.limits.unit {
                    self.start_skip(OversizeKind::UnitTooLarge);
                } else {
                    return None;
                }
                continue;
            };
            let lf = self.scan + i;
            if lf + 1 - self.line_start > self.limits.line {
                self.start_skip(OversizeKind::LineTooLong);
                continue;
            }
            let line = &self.buf[self.head + self.line_start..self.head + lf];
            if let Some(n) = literal_at_end(line) {
                let too_large = n > self.limits.literal as u64;
                if too_large || (lf as u64 + 1).saturating_add(n) > self.limits.unit as u64 {
                    self.scan = lf + 1;
                    self.line_start = self.scan;
                    self.start_skip(if too_large {
                        OversizeKind::LiteralTooLarge { announced: n }
                    } else {
                        OversizeKind::UnitTooLarge
                    });
                    if let Some(skip) = self.skip.as_mut() {
                        skip.literal_left = n;
                    }
                    continue;
                }
                self.scan = lf + 1;
                self.literal_left = n as usize;
                self.line_start = self.scan;
                continue;
            }
            return Some(Frame::Unit(lf + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer() -> Framer {
        Framer::new(FrameLimits {
            line: 40,
            literal: 20,
            unit: 60,
        })
    }

    /// Feeds `input` split at every offset pair and collects what comes out.
    fn frames(input: &[u8], chunk: usize) -> Vec<Result<Vec<u8>, Oversize>> {
        let mut f = framer();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            f.push(piece);
            while let Some(frame) = f.next() {
                match frame {
                    Frame::Unit(n) => {
                        out.push(Ok(f.bytes()[..n].to_vec()));
                        f.consume(n);
                    }
                    Frame::Dropped(o) => out.push(Err(o)),
                }
            }
        }
        out
    }

    #[test]
    fn lines_and_literals() {
        let input = b"NOOP\r\nPUTSCRIPT \"a\" {5+}\r\nab\r\nc\r\nLOGOUT\r\n";
        for chunk in 1..input.len() {
            let got = frames(input, chunk);
            assert_eq!(
                got,
                vec![
                    Ok(b"NOOP\r\n".to_vec()),
                    Ok(b"PUTSCRIPT \"a\" {5+}\r\nab\r\nc\r\n".to_vec()),
                    Ok(b"LOGOUT\r\n".to_vec()),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn literal_data_is_never_taken_for_commands() {
        // The literal contains what looks like a command and a literal length.
        let input = b"X {10+}\r\nQUIT{3+}\r\n\r\nNOOP\r\n";
        for chunk in 1..input.len() {
            let got = frames(input, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert_eq!(got[0], Ok(b"X {10+}\r\nQUIT{3+}\r\n\r\n".to_vec()));
        }
    }

    #[test]
    fn oversize_literal_is_skipped_and_session_continues() {
        let mut input = b"PUTSCRIPT \"a\" {30+}\r\n".to_vec();
        input.extend_from_slice(&[b'\n'; 30]);
        input.extend_from_slice(b"\r\nNOOP\r\n");
        for chunk in 1..input.len() {
            let got = frames(&input, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            let Err(o) = &got[0] else { panic!() };
            assert_eq!(o.kind, OversizeKind::LiteralTooLarge { announced: 30 });
            assert!(o.head.starts_with(b"PUTSCRIPT"));
            assert_eq!(got[1], Ok(b"NOOP\r\n".to_vec()));
        }
    }

    #[test]
    fn long_line_is_skipped() {
        let mut input = b"NOOP \"".to_vec();
        input.extend_from_slice(&[b'x'; 100]);
        input.extend_from_slice(b"\" {3+}\r\nabc\r\nLOGOUT\r\n");
        for chunk in 1..input.len() {
            let got = frames(&input, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            let Err(o) = &got[0] else { panic!() };
            assert_eq!(o.kind, OversizeKind::LineTooLong);
            assert_eq!(got[1], Ok(b"LOGOUT\r\n".to_vec()));
        }
    }

    #[test]
    fn unit_limit_counts_every_literal() {
        let input = b"A {20+}\r\n01234567890123456789 {20+}\r\n01234567890123456789 {20+}\r\n01234567890123456789\r\nB\r\n";
        for chunk in 1..input.len() {
            let got = frames(input, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            let Err(o) = &got[0] else { panic!() };
            assert_eq!(o.kind, OversizeKind::UnitTooLarge);
            assert_eq!(got[1], Ok(b"B\r\n".to_vec()));
        }
    }

    #[test]
    fn many_pipelined_commands_cost_linear_time() {
        let mut f = Framer::new(FrameLimits {
            line: 100,
            literal: 100,
            unit: 200,
        });
        let input = b"NOOP\r\n".repeat(200_000);
        f.push(&input);
        let mut count = 0;
        while let Some(Frame::Unit(n)) = f.next() {
            assert_eq!(n, 6);
            f.consume(n);
            count += 1;
        }
        assert_eq!(count, 200_000);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn literal_marker_detection() {
        assert_eq!(literal_at_end(b"X {12+}\r"), Some(12));
        assert_eq!(literal_at_end(b"{0}"), Some(0));
        assert_eq!(literal_at_end(b"X {+}\r"), None);
        assert_eq!(literal_at_end(b"X 12+}\r"), None);
        assert_eq!(literal_at_end(b"{99999999999999999999999+}"), None);
        assert_eq!(literal_at_end(b"{99999999999999999999+}"), Some(u64::MAX));
    }
}
