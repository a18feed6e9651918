//! The DATA body decoder (server side) and encoder (client side).
//!
//! The decoder removes dot-stuffing and finds the end of data **only** at `<CR><LF>.<CR><LF>`
//! (RFC 5321 §4.1.1.4), where the first `<CR><LF>` ends the previous line (or the body starts
//! with `.<CR><LF>`). Every other ending that some servers accept (`<LF>.<LF>`, `<CR>.<CR>`,
//! `<LF>.<CR><LF>`, `<CR><LF>.<LF>`, `<CR><LF>.<CR>`, `<CR>.<LF>`, ...) is content, which is
//! what closes the SMTP smuggling class (CVE-2023-51764 and friends). Bare CR and bare LF are
//! reported and handled by [`BareLineEndings`].
//!
//! The encoder does the reverse for a client: it dot-stuffs every line that starts with `.`,
//! turns bare CR and bare LF into CRLF (so no receiver can see a smuggled ending), and
//! appends the terminator.

/// What to do with a bare CR or bare LF (a line ending other than CRLF, RFC 5321 §2.3.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BareLineEndings {
    /// Refuse: a command line ending in bare LF gets `500 5.5.2`; a message containing bare
    /// CR or LF is read to its real end and refused with `550 5.6.0`. The MX default.
    #[default]
    Reject,
    /// Accept a bare LF as a line ending and store it as CRLF (Postfix's `normalize`); a bare
    /// CR is kept as it is. End of data still only at `<CR><LF>.<CR><LF>`.
    Normalize,
    /// Keep bare CR and LF as content bytes. End of data still only at `<CR><LF>.<CR><LF>`.
    Allow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line that follows CRLF (or the start of the body).
    LineStart,
    /// At the start of a line that follows a bare LF (Normalize/Reject): dots are unstuffed,
    /// but a lone dot does not end the data.
    WeakLineStart,
    /// Inside a line.
    Mid,
    /// Saw CR inside a line; the next byte decides.
    Cr,
    /// Saw `.` at a line start.
    Dot { weak: bool },
    /// Saw `.` CR at a line start.
    DotCr { weak: bool },
}

/// Incremental DATA decoder. Feed it bytes as they arrive; it appends decoded content to the
/// output and reports where the data ended.
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: State,
    policy: BareLineEndings,
    bare: bool,
}

/// What [`DataDecoder::decode`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes consumed (all of them unless the end was found).
    pub consumed: usize,
    /// The end of data was found (its `.CRLF` included in `consumed`).
    pub end: bool,
}

impl DataDecoder {
    /// A decoder at the start of the body.
    pub fn new(policy: BareLineEndings) -> Self {
        Self {
            state: State::LineStart,
            policy,
            bare: false,
        }
    }

    /// True once a bare CR or bare LF has been seen.
    pub fn saw_bare_line_ending(&self) -> bool {
        self.bare
    }

    /// Decodes `input`, appending content to `out` (when `Some`; `None` discards it, for a
    /// message being refused). Stops after the end of data.
    pub fn decode(&mut self, input: &[u8], mut out: Option<&mut Vec<u8>>) -> Decoded {
        let mut i = 0;
        let push = |out: &mut Option<&mut Vec<u8>>, bytes: &[u8]| {
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(bytes);
            }
        };
        while i < input.len() {
            match self.state {
                State::LineStart | State::WeakLineStart => {
                    let weak = self.state == State::WeakLineStart;
                    if input[i] == b'.' {
                        self.state = State::Dot { weak };
                        i += 1;
                    } else {
                        self.state = State::Mid;
                    }
                }
                State::Mid => {
                    let rest = &input[i..];
                    // Fast path: whole blocks of ordinary CRLF lines with no line starting
                    // with a dot are copied as they are (one check pass, one copy).
                    if rest.len() > BLOCK && rest[0] != b'\n' {
                        let mut n = clean_prefix(rest);
                        if n > 0 {
                            // A final CR is left for the state machine (its LF follows).
                            if rest[n - 1] == b'\r' {
                                n -= 1;
                            }
                            push(&mut out, &rest[..n]);
                            i += n;
                            self.state = if rest[n - 1] == b'\n' {
                                State::LineStart
                            } else {
                                State::Mid
                            };
                            continue;
                        }
                    }
                    match memchr::memchr2(b'\r', b'\n', rest) {
                        None => {
                            push(&mut out, rest);
                            i = input.len();
                        }
                        Some(p) => {
                            push(&mut out, &rest[..p]);
                            i += p + 1;
                            if rest[p] == b'\r' {
                                self.state = State::Cr;
                            } else {
                                self.bare_lf(&mut out);
                            }
                        }
                    }
                }
                State::Cr => {
                    if input[i] == b'\n' {
                        push(&mut out, b"\r\n");
                        i += 1;
                        self.state = State::LineStart;
                    } else {
                        self.bare_cr(&mut out);
                    }
                }
                State::Dot { weak } => match input[i] {
                    b'\r' => {
                        self.state = State::DotCr { weak };
                        i += 1;
                    }
                    b'\n' => {
                        // ".<LF>": not an end; a line holding one dot.
                        push(&mut out, b".");
                        i += 1;
                        self.bare_lf(&mut out);
                    }
                    // The stuffed dot is dropped; the rest of the line is content.
                    _ => self.state = State::Mid,
                },
                State::DotCr { weak } => {
                    if input[i] == b'\n' && !weak {
                        self.state = State::LineStart;
                        return Decoded {
                            consumed: i + 1,
                            end: true,
                        };
                    }
                    // ".<CR><LF>" after a bare LF, or ".<CR>x": content.
                    push(&mut out, b".");
                    self.state = State::Cr;
                }
            }
        }
        Decoded {
            consumed: input.len(),
            end: false,
        }
    }

    fn bare_lf(&mut self, out: &mut Option<&mut Vec<u8>>) {
        self.bare = true;
        let o = out.as_deref_mut();
        match self.policy {
            BareLineEndings::Allow => {
                if let Some(o) = o {
                    o.push(b'\n');
                }
                self.state = State::Mid;
            }
            BareLineEndings::Normalize | BareLineEndings::Reject => {
                if let Some(o) = o {
                    o.extend_from_slice(b"\r\n");
                }
                self.state = State::WeakLineStart;
            }
        }
    }

    /// A CR not followed by LF: kept as content in every policy (flagged).
    fn bare_cr(&mut self, out: &mut Option<&mut Vec<u8>>) {
        self.bare = true;
        if let Some(o) = out.as_deref_mut() {
            o.push(b'\r');
        }
        self.state = State::Mid;
    }
}

/// Block size of the fast path.
const BLOCK: usize = 64;

/// True when the block `w[..BLOCK]` (with the byte after it, `w[BLOCK]`) holds only CRLF
/// line endings (every CR followed by LF, every LF after the first byte preceded by CR) and
/// no dot right after a LF. Written branch-free so the compiler vectorizes it.
#[inline]
fn block_clean(window: &[u8]) -> bool {
    let (this, next) = (&window[..BLOCK], &window[1..=BLOCK]);
    let mut bad = 0u8;
    for (&cur, &following) in this.iter().zip(next) {
        bad |= (u8::from(cur == b'\r') ^ u8::from(following == b'\n'))
            | (u8::from(cur == b'\n') & u8::from(following == b'.'));
    }
    bad == 0
}

/// Length of the prefix of `rest` made of clean blocks (see [`block_clean`]); `rest[0]` must
/// not be a LF (its CR, if any, came before `rest`). The byte after the prefix is checked
/// against the prefix's last byte, so a prefix ending in CR is followed by LF.
fn clean_prefix(rest: &[u8]) -> usize {
    let mut n = 0;
    while n + BLOCK < rest.len() && block_clean(&rest[n..=n + BLOCK]) {
        n += BLOCK;
    }
    n
}

/// Dot-stuffs a message for DATA and appends the terminator: every line starting with `.`
/// gets another `.`, bare CR and bare LF become CRLF, a missing final CRLF is added, then
/// `.CRLF`.
pub fn encode_data(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    let mut i = 0;
    while i < message.len() {
        if line_start && message[i] == b'.' {
            out.push(b'.');
        }
        let rest = &message[i..];
        match memchr::memchr2(b'\r', b'\n', rest) {
            None => {
                out.extend_from_slice(rest);
                line_start = false;
                i = message.len();
            }
            Some(p) => {
                out.extend_from_slice(&rest[..p]);
                out.extend_from_slice(b"\r\n");
                // CRLF, bare CR or bare LF: each is one line ending.
                i += p + if rest[p] == b'\r' && rest.get(p + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                line_start = true;
            }
        }
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// Appends `message` with every bare CR and bare LF turned into CRLF and a final CRLF
/// added when missing: BDAT content for a text body (RFC 3030 §2: the content of a
/// non-BINARYMIME message is still made of CRLF lines), without dot-stuffing.
pub fn normalize_line_endings(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + 2);
    let mut rest = message;
    while let Some(p) = memchr::memchr2(b'\r', b'\n', rest) {
        out.extend_from_slice(&rest[..p]);
        out.extend_from_slice(b"\r\n");
        let crlf = rest[p] == b'\r' && rest.get(p + 1) == Some(&b'\n');
        rest = &rest[p + if crlf { 2 } else { 1 }..];
    }
    out.extend_from_slice(rest);
    if !rest.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: BareLineEndings, input: &[u8]) -> (Vec<u8>, Option<usize>, bool) {
        let mut d = DataDecoder::new(policy);
        let mut out = Vec::new();
        let r = d.decode(input, Some(&mut out));
        (out, r.end.then_some(r.consumed), d.saw_bare_line_ending())
    }

    /// Feeds in pieces split at every pair of offsets; results must match the whole feed.
    fn split_everywhere(policy: BareLineEndings, input: &[u8]) {
        let whole = run(policy, input);
        for cut in 0..=input.len() {
            let mut d = DataDecoder::new(policy);
            let mut out = Vec::new();
            let mut end = None;
            let mut pos = 0;
            for piece in [&input[..cut], &input[cut..]] {
                if end.is_some() {
                    break;
                }
                let r = d.decode(piece, Some(&mut out));
                if r.end {
                    end = Some(pos + r.consumed);
                }
                pos += piece.len();
            }
            assert_eq!(
                (out, end, d.saw_bare_line_ending()),
                whole,
                "cut {cut} of {input:?}"
            );
        }
        // And one byte at a time.
        let mut d = DataDecoder::new(policy);
        let mut out = Vec::new();
        let mut end = None;
        for (i, b) in input.iter().enumerate() {
            let r = d.decode(std::slice::from_ref(b), Some(&mut out));
            if r.end {
                end = Some(i + 1);
                break;
            }
        }
        assert_eq!(
            (out, end, d.saw_bare_line_ending()),
            whole,
            "bytewise {input:?}"
        );
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf() {
        let (out, end, bare) = run(BareLineEndings::Reject, b"Hello\r\n.\r\nQUIT\r\n");
        assert_eq!(out, b"Hello\r\n");
        assert_eq!(end, Some(10));
        assert!(!bare);
        // Empty body.
        assert_eq!(run(BareLineEndings::Reject, b".\r\n").1, Some(3));
        // Unstuffing.
        let (out, end, _) = run(BareLineEndings::Reject, b"..x\r\n...\r\n.\r\n");
        assert_eq!(out, b".x\r\n..\r\n");
        assert_eq!(end, Some(13));
    }

    /// Every known smuggling ending: none of them ends the data, in any policy.
    #[test]
    fn smuggling_matrix() {
        let endings: [&[u8]; 10] = [
            b"\n.\n",
            b"\r.\r",
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r\n.\r",
            b"\r.\n",
            b"\r.\r\n",
            b"\n.\r",
            b"\r\n.\r\r\n",
            b"\r\n\x00.\r\n",
        ];
        for policy in [
            BareLineEndings::Reject,
            BareLineEndings::Normalize,
            BareLineEndings::Allow,
        ] {
            for ending in endings {
                let mut input = b"Subject: x\r\n\r\nbody".to_vec();
                input.extend_from_slice(ending);
                input.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n");
                let (out, end, _) = run(policy, &input);
                assert_eq!(end, None, "{policy:?} {ending:?} ended the data");
                assert!(
                    out.windows(9).any(|w| w == b"MAIL FROM"),
                    "{policy:?} {ending:?}: smuggled text must stay content"
                );
                // Then the real end.
                input.extend_from_slice(b"\r\n.\r\n");
                let (_, end, _) = run(policy, &input);
                assert_eq!(end, Some(input.len()), "{policy:?} {ending:?}");
                split_everywhere(policy, &input);
            }
        }
    }

    #[test]
    fn bare_line_endings_policies() {
        let input = b"a\nb\rc\r\n.\r\n";
        let (out, end, bare) = run(BareLineEndings::Normalize, input);
        assert_eq!(out, b"a\r\nb\rc\r\n");
        assert_eq!(end, Some(input.len()));
        assert!(bare);
        let (out, _, bare) = run(BareLineEndings::Allow, input);
        assert_eq!(out, b"a\nb\rc\r\n");
        assert!(bare);
        // Normalize: a dot line after a bare LF is unstuffed but never an end.
        let (out, end, _) = run(BareLineEndings::Normalize, b"a\n..b\n.\r\nc\r\n.\r\n");
        assert_eq!(out, b"a\r\n.b\r\n.\r\nc\r\n");
        assert_eq!(end, Some(15));
        for policy in [BareLineEndings::Normalize, BareLineEndings::Allow] {
            split_everywhere(policy, b"a\nb\rc\r\n..\r\n.\n.\r.x\r\n.\r\n");
        }
    }

    #[test]
    fn discarding_still_finds_the_end() {
        let mut d = DataDecoder::new(BareLineEndings::Reject);
        let r = d.decode(b"x\ny\r\n.\r\nNOOP\r\n", None);
        assert!(r.end);
        assert_eq!(r.consumed, 8);
        assert!(d.saw_bare_line_ending());
    }

    #[test]
    fn encoder_stuffs_and_normalizes() {
        let mut out = Vec::new();
        encode_data(b".a\r\nb\n.\rc", &mut out);
        assert_eq!(out, b"..a\r\nb\r\n..\r\nc\r\n.\r\n");
        let mut out = Vec::new();
        encode_data(b"", &mut out);
        assert_eq!(out, b".\r\n");
        // Round trip: whatever we encode decodes to the normalized message, ending exactly.
        for msg in [
            &b"Subject: x\r\n\r\n.\r\n..\r\n.x"[..],
            b"a\n.\nb",
            b"\r\n.\r\n",
            b"line\r.\r\nevil",
        ] {
            let mut wire = Vec::new();
            encode_data(msg, &mut wire);
            let (out, end, bare) = run(BareLineEndings::Reject, &wire);
            assert_eq!(end, Some(wire.len()), "{msg:?}");
            assert!(!bare);
            let mut expected = Vec::new();
            encode_data(&out, &mut expected);
            assert_eq!(expected, wire);
        }
    }

    /// The block fast path agrees with the byte-at-a-time state machine on long inputs with
    /// dots, bare CR/LF and terminators at every kind of place (xorshift, fixed seed).
    #[test]
    fn fast_path_agrees_with_bytewise() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..400 {
            let len = 100 + (next() % 3000) as usize;
            let rare = next() % 4; // how often specials appear
            let mut input = Vec::with_capacity(len + 5);
            while input.len() < len {
                let r = next() % 1000;
                let special = r < 5 + rare * 20;
                if special {
                    input.push([b'.', b'\r', b'\n', b'.'][(r % 4) as usize]);
                } else if r % 40 == 0 {
                    input.extend_from_slice(b"\r\n");
                } else if r % 97 == 0 {
                    input.extend_from_slice(b"\r\n.");
                } else {
                    input.push(b'a' + (r % 26) as u8);
                }
            }
            input.extend_from_slice(b"\r\n.\r\n");
            for policy in [
                BareLineEndings::Reject,
                BareLineEndings::Normalize,
                BareLineEndings::Allow,
            ] {
                let whole = run(policy, &input);
                let mut d = DataDecoder::new(policy);
                let mut out = Vec::new();
                let mut end = None;
                for (pos, b) in input.iter().enumerate() {
                    let r = d.decode(std::slice::from_ref(b), Some(&mut out));
                    if r.end {
                        end = Some(pos + 1);
                        break;
                    }
                }
                assert_eq!(
                    (out, end, d.saw_bare_line_ending()),
                    whole,
                    "round {round} {policy:?}"
                );
            }
        }
    }
}
