//! DKIM canonicalization (RFC 6376 §3.4).
//!
//! Input lines may end in CRLF or in a bare LF (messages read from files often do); both
//! end a line and come out as CRLF. A CR that is not followed by LF is an ordinary octet.
//! Whitespace (`WSP`) is SP and HTAB.

/// A canonicalization algorithm (RFC 6376 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Canonicalization {
    /// `simple`: tolerates almost no modification.
    Simple,
    /// `relaxed`: tolerates whitespace changes and header re-folding.
    Relaxed,
}

impl Canonicalization {
    /// The tag value: `simple` or `relaxed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Relaxed => "relaxed",
        }
    }
}

/// Where canonical octets go: a buffer, or a hash context so nothing is buffered.
pub trait Sink {
    /// Takes the next canonical octets.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for ring::digest::Context {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Canonicalizes one header field into `out`.
///
/// `name` is the field name as it appeared (before the colon); `value` is everything after
/// the colon up to, not including, the CRLF that ends the field, folding CRLFs included.
///
/// - simple (§3.4.1): the field exactly as it came, then CRLF.
/// - relaxed (§3.4.2): lower-cased name, unfolded value with every run of whitespace turned
///   into one SP, no whitespace at either end of the value or around the colon, then CRLF.
pub fn header<S: Sink + ?Sized>(c: Canonicalization, name: &[u8], value: &[u8], out: &mut S) {
    match c {
        Canonicalization::Simple => {
            out.put(name);
            out.put(b":");
            out.put(value);
        }
        Canonicalization::Relaxed => {
            let name = trim_wsp(name);
            let mut lower = [0u8; 64];
            if name.len() <= lower.len() {
                for (d, s) in lower.iter_mut().zip(name) {
                    *d = s.to_ascii_lowercase();
                }
                out.put(&lower[..name.len()]);
            } else {
                out.put(&name.to_ascii_lowercase());
            }
            out.put(b":");
            let mut pending_space = false;
            let mut started = false;
            let mut run_start = None;
            for (i, &b) in value.iter().enumerate() {
                if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                    if let Some(s) = run_start.take() {
                        out.put(&value[s..i]);
                    }
                    pending_space = started;
                } else if run_start.is_none() {
                    if pending_space {
                        out.put(b" ");
                        pending_space = false;
                    }
                    started = true;
                    run_start = Some(i);
                }
            }
            if let Some(s) = run_start {
                out.put(&value[s..]);
            }
        }
    }
    out.put(b"\r\n");
}

fn trim_wsp(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// A streaming body canonicalizer (RFC 6376 §3.4.3, §3.4.4) with an optional `l=` limit.
///
/// Feed the body with [`update`](Self::update) in chunks of any size, then call
/// [`finish`](Self::finish) once. State is a few integers: trailing empty lines are counted,
/// not buffered, so memory stays constant for any body.
#[derive(Clone, Debug)]
pub struct BodyCanonicalizer {
    c: Canonicalization,
    /// Line ends seen but not yet written (they vanish if only empty lines follow).
    pending_lines: u64,
    /// Relaxed: whitespace seen inside the current line, not yet written.
    pending_space: bool,
    /// The previous chunk ended in CR.
    pending_cr: bool,
    /// Some non-line-end octet has been written.
    any_content: bool,
    /// `l=`: how many canonical octets may still go to the sink.
    remaining: Option<u64>,
    /// Canonical octets produced, limit or not.
    canonical_len: u64,
}

impl BodyCanonicalizer {
    /// A canonicalizer with no length limit.
    pub fn new(c: Canonicalization) -> Self {
        Self {
            c,
            pending_lines: 0,
            pending_space: false,
            pending_cr: false,
            any_content: false,
            remaining: None,
            canonical_len: 0,
        }
    }

    /// A canonicalizer that passes only the first `limit` canonical octets to the sink (the
    /// `l=` tag). [`canonical_len`](Self::canonical_len) still counts them all, so a verifier
    /// can tell a body shorter than `l=`.
    pub fn with_limit(c: Canonicalization, limit: u64) -> Self {
        Self {
            remaining: Some(limit),
            ..Self::new(c)
        }
    }

    /// The canonical body length so far (after [`finish`](Self::finish): the whole length).
    pub fn canonical_len(&self) -> u64 {
        self.canonical_len
    }

    fn emit<S: Sink + ?Sized>(&mut self, bytes: &[u8], out: &mut S) {
        self.canonical_len += bytes.len() as u64;
        match &mut self.remaining {
            None => out.put(bytes),
            Some(0) => {}
            Some(rem) => {
                let n = usize::try_from(*rem).map_or(bytes.len(), |r| r.min(bytes.len()));
                out.put(&bytes[..n]);
                *rem -= n as u64;
            }
        }
    }

    /// Writes what is pending before new content on the current line.
    fn before_content<S: Sink + ?Sized>(&mut self, out: &mut S) {
        while self.pending_lines > 0 {
            self.pending_lines -= 1;
            self.emit(b"\r\n", out);
        }
        if self.pending_space {
            self.pending_space = false;
            self.emit(b" ", out);
        }
        self.any_content = true;
    }

    fn content<S: Sink + ?Sized>(&mut self, run: &[u8], out: &mut S) {
        if run.is_empty() {
            return;
        }
        self.before_content(out);
        self.emit(run, out);
    }

    fn line_end(&mut self) {
        self.pending_space = false;
        self.pending_lines += 1;
    }

    /// Canonicalizes the next chunk of the body.
    ///
    /// Most of a typical body canonicalizes to itself, so the loop first skips whole
    /// 32-octet blocks that need no change (`block_unchanged`, which the compiler
    /// vectorizes) and passes them on as one run; only blocks with something to rewrite
    /// (a tab, a run of spaces, trailing whitespace, a bare LF, an empty line) take the
    /// octet-by-octet path.
    pub fn update<S: Sink + ?Sized>(&mut self, chunk: &[u8], out: &mut S) {
        let mut i = 0;
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if chunk[0] == b'\n' {
                self.line_end();
                i = 1;
            } else {
                self.content(b"\r", out);
            }
        }
        let relaxed = self.c == Canonicalization::Relaxed;
        let mut run_start = i;
        // Where the next block may be tried (after a block that needed work).
        let mut next_try = i.max(1);
        while i < chunk.len() {
            // The run may grow by whole blocks when what is already pending is only content
            // (written before the run) or nothing at all.
            // A run may start here unless a space is pending and this octet is another
            // space (the two merge into one). Pending line ends and a pending space are
            // written before the run, in order, when it is passed on.
            if i >= next_try && (i > run_start || !(self.pending_space && chunk[i] == b' ')) {
                // One loop per algorithm, so the block test has no branch on it.
                let mut adv = BLOCK;
                if relaxed {
                    while adv == BLOCK && i + BLOCK < chunk.len() {
                        adv = block_unchanged::<true>(&chunk[i - 1..=i + BLOCK]);
                        i += adv;
                    }
                } else {
                    while adv == BLOCK && i + BLOCK < chunk.len() {
                        adv = block_unchanged::<false>(&chunk[i - 1..=i + BLOCK]);
                        i += adv;
                    }
                }
                // A block cut short only by its end (a CR, or a line end followed by an
                // empty line) lets the octet path take the line ends and tries blocks again
                // right after them; a block with something to rewrite sends the next
                // `BLOCK` octets down the octet path.
                next_try = if adv == 0 { i + BLOCK } else { i + 1 };
                if i >= chunk.len() {
                    break;
                }
            }
            let b = chunk[i];
            let special = match b {
                b'\r' | b'\n' => true,
                b' ' | b'\t' => relaxed,
                _ => false,
            };
            if !special {
                i += 1;
                continue;
            }
            self.content(&chunk[run_start..i], out);
            match b {
                b'\n' => self.line_end(),
                b'\r' => {
                    if i + 1 == chunk.len() {
                        self.pending_cr = true;
                    } else if chunk[i + 1] == b'\n' {
                        self.line_end();
                        i += 1;
                    } else {
                        self.content(b"\r", out);
                    }
                }
                _ => self.pending_space = true,
            }
            i += 1;
            run_start = i;
        }
        self.content(&chunk[run_start..], out);
    }

    /// Ends the body: drops trailing empty lines and writes the final CRLF where the
    /// algorithm wants one (relaxed: only for a non-empty body; simple: always, so an
    /// empty body is one CRLF).
    pub fn finish<S: Sink + ?Sized>(&mut self, out: &mut S) {
        if std::mem::take(&mut self.pending_cr) {
            self.content(b"\r", out);
        }
        if self.any_content || self.c == Canonicalization::Simple {
            self.pending_lines = 0;
            self.pending_space = false;
            self.emit(b"\r\n", out);
        }
    }
}

/// The block size of the fast path.
const BLOCK: usize = 32;

/// How many of the `BLOCK` octets `w[1..=BLOCK]` pass on unchanged when the state before
/// them is clean: `w[0]` is the octet before the block, `w[BLOCK + 1]` the one after.
/// `BLOCK` when the whole block does; when only its end is in the way (a CR last, or a
/// line end followed by what may be an empty line), the octets up to its last content
/// octet (a run never ends in a line end or whitespace, which must wait for what follows);
/// 0 when something inside needs rewriting.
///
/// Unchanged are: octets that are not CR, LF (or, relaxed, SP, HTAB or another control);
/// relaxed, a single SP followed by a visible octet; a CRLF ending a line with content
/// and (relaxed) no trailing whitespace, or ending an empty line, when the lines after it
/// reach content within the block (so no trailing empty line is ever written early). A CR
/// may not end the block, so its LF is never left for the next one. Written branch-free
/// over fixed-size arrays so it vectorizes.
#[inline]
#[allow(clippy::needless_bitwise_bool)] // `&` and `|` keep the lanes branch-free
fn block_unchanged<const RELAXED: bool>(w: &[u8]) -> usize {
    let Ok(w) = <&[u8; BLOCK + 2]>::try_from(w) else {
        return 0;
    };
    // Each lane k looks at the octet before (p), the octet (b) and the octet after (n).
    let (Ok(p), Ok(b), Ok(n)) = (
        <&[u8; BLOCK]>::try_from(&w[..BLOCK]),
        <&[u8; BLOCK]>::try_from(&w[1..=BLOCK]),
        <&[u8; BLOCK]>::try_from(&w[2..]),
    ) else {
        return 0;
    };
    let mut bad = [0u8; BLOCK];
    // An LF may be followed by the CR of an empty line when that line's own lanes (inside
    // the block) vouch for it: chains of empty lines pass only when content follows them
    // within the block.
    if RELAXED {
        // Inside the block the neighbours' own lanes carry the rest of the rules: the octet
        // before a CR is content or an LF (a SP there fails the SP lane, a CR the CR lane),
        // and the octet after an LF is content, a CR, or a SP that itself precedes content
        // (a line may begin with one SP). Only the first lane's predecessor lies outside
        // the block: it is checked once below.
        for k in 0..BLOCK {
            let special = u8::from(b[k] <= 0x20);
            let ok_space = u8::from((b[k] == b' ') & (n[k] > 0x20));
            let ok_cr = u8::from((b[k] == b'\r') & (n[k] == b'\n'));
            let ok_lf = u8::from((b[k] == b'\n') & (p[k] == b'\r'));
            bad[k] = special & !(ok_space | ok_cr | ok_lf);
        }
        if b[0] == b'\r' && p[0] <= 0x20 && p[0] != b'\n' {
            return 0;
        }
    } else {
        for k in 0..BLOCK {
            let special = u8::from((b[k] == b'\r') | (b[k] == b'\n'));
            let ok_cr = u8::from((b[k] == b'\r') & (n[k] == b'\n') & (p[k] != b'\r'));
            let ok_lf = u8::from((b[k] == b'\n') & (p[k] == b'\r') & (n[k] != b'\n'));
            bad[k] = special & !(ok_cr | ok_lf);
        }
    }
    // Reduce separately so the lane loop stays a plain map (it vectorizes; a fused
    // `bad |= ...` reduction over `bool`s did not).
    if bad.iter().fold(0u8, |a, &x| a | x) != 0 {
        return 0;
    }
    // A CR may not end the block, and an LF ending it must be followed by content
    // (nothing inside the block vouches for an empty line after it).
    let last = w[BLOCK];
    let after = w[BLOCK + 1];
    let lf_ok = last != b'\n'
        || if RELAXED {
            after > 0x20
        } else {
            after != b'\r' && after != b'\n'
        };
    if last != b'\r' && lf_ok {
        return BLOCK;
    }
    // Up to the last content octet: the line ends after it go the octet path.
    b.iter()
        .rposition(|&x| {
            if RELAXED {
                x > 0x20
            } else {
                x != b'\r' && x != b'\n'
            }
        })
        .map_or(0, |k| k + 1)
}

/// Canonicalizes a whole body at once.
pub fn body(c: Canonicalization, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    let mut canon = BodyCanonicalizer::new(c);
    canon.update(body, &mut out);
    canon.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Canonicalization::{Relaxed, Simple};

    fn headers(c: Canonicalization, fields: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, v) in fields {
            header(c, n, v, &mut out);
        }
        out
    }

    // RFC 6376 §3.4.5: the two header fields and the body of the example.
    const H1: (&[u8], &[u8]) = (b"A", b" X");
    const H2: (&[u8], &[u8]) = (b"B ", b" Y\t\r\n\tZ  ");
    const BODY: &[u8] = b" C \r\nD \t E\r\n\r\n\r\n";

    #[test]
    fn rfc6376_example_relaxed() {
        assert_eq!(headers(Relaxed, &[H1, H2]), b"a:X\r\nb:Y Z\r\n");
        assert_eq!(body(Relaxed, BODY), b" C\r\nD E\r\n");
    }

    #[test]
    fn rfc6376_example_simple() {
        assert_eq!(
            headers(Simple, &[H1, H2]),
            b"A: X\r\nB : Y\t\r\n\tZ  \r\n".as_slice()
        );
        assert_eq!(body(Simple, BODY), b" C \r\nD \t E\r\n");
    }

    #[test]
    fn empty_bodies() {
        // §3.4.3: an empty body is one CRLF in simple; §3.4.4: empty in relaxed.
        assert_eq!(body(Simple, b""), b"\r\n");
        assert_eq!(body(Relaxed, b""), b"");
        assert_eq!(body(Simple, b"\r\n\r\n"), b"\r\n");
        assert_eq!(body(Relaxed, b"\r\n \t\r\n"), b"");
        // A missing final CRLF is added.
        assert_eq!(body(Simple, b"x"), b"x\r\n");
        assert_eq!(body(Relaxed, b"x  "), b"x\r\n");
        // Whitespace-only lines are content in simple.
        assert_eq!(body(Simple, b"x\r\n \r\n"), b"x\r\n \r\n");
    }

    #[test]
    fn line_ends_and_lone_cr() {
        assert_eq!(body(Relaxed, b"a \nb\n\n"), b"a\r\nb\r\n");
        assert_eq!(body(Relaxed, b"a\rb\r\n"), b"a\rb\r\n");
        assert_eq!(body(Simple, b"a\r"), b"a\r\r\n");
        // Leading whitespace is kept as one SP in relaxed.
        assert_eq!(body(Relaxed, b"\t\t a\r\n"), b" a\r\n");
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let input = b"  Hello \t world \r\n\r\nsecond\rline \r\n \t \r\n\r\n";
        for c in [Simple, Relaxed] {
            let whole = body(c, input);
            for cut in 0..=input.len() {
                let mut out = Vec::new();
                let mut canon = BodyCanonicalizer::new(c);
                canon.update(&input[..cut], &mut out);
                canon.update(&input[cut..], &mut out);
                canon.finish(&mut out);
                assert_eq!(out, whole, "{c:?} cut {cut}");
            }
            // One byte at a time.
            let mut out = Vec::new();
            let mut canon = BodyCanonicalizer::new(c);
            for b in input {
                canon.update(std::slice::from_ref(b), &mut out);
            }
            canon.finish(&mut out);
            assert_eq!(out, whole, "{c:?} bytewise");
        }
    }

    #[test]
    fn length_limit_counts_canonical_octets() {
        // l=5 on the relaxed example: " C\r\nD" (raw prefix would be " C \r\n").
        let mut out = Vec::new();
        let mut canon = BodyCanonicalizer::with_limit(Relaxed, 5);
        canon.update(BODY, &mut out);
        canon.finish(&mut out);
        assert_eq!(out, b" C\r\nD");
        assert_eq!(canon.canonical_len(), 9);
        // A limit longer than the body passes it all.
        let mut out = Vec::new();
        let mut canon = BodyCanonicalizer::with_limit(Simple, 1000);
        canon.update(b"abc", &mut out);
        canon.finish(&mut out);
        assert_eq!(out, b"abc\r\n");
        assert_eq!(canon.canonical_len(), 5);
    }

    #[test]
    fn hashing_sink_matches_buffer() {
        let canonical = body(Relaxed, BODY);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut canon = BodyCanonicalizer::new(Relaxed);
        canon.update(BODY, &mut ctx);
        canon.finish(&mut ctx);
        assert_eq!(
            ctx.finish().as_ref(),
            ring::digest::digest(&ring::digest::SHA256, &canonical).as_ref()
        );
    }

    /// The body algorithms written the obvious way, line by line (RFC 6376 §3.4.3-4).
    fn reference(c: Canonicalization, input: &[u8]) -> Vec<u8> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut cur = Vec::new();
        let mut i = 0;
        while i < input.len() {
            if input[i] == b'\n' {
                lines.push(std::mem::take(&mut cur));
            } else if input[i] == b'\r' && input.get(i + 1) == Some(&b'\n') {
                lines.push(std::mem::take(&mut cur));
                i += 1;
            } else {
                cur.push(input[i]);
            }
            i += 1;
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        if c == Relaxed {
            for l in &mut lines {
                let mut out = Vec::new();
                let mut ws = false;
                for &b in l.iter() {
                    if b == b' ' || b == b'\t' {
                        ws = true;
                    } else {
                        if ws {
                            out.push(b' ');
                        }
                        ws = false;
                        out.push(b);
                    }
                }
                *l = out;
            }
        }
        while lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        let mut out = Vec::new();
        for l in &lines {
            out.extend_from_slice(l);
            out.extend_from_slice(b"\r\n");
        }
        if lines.is_empty() && c == Simple {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn fast_path_matches_the_reference() {
        // A deterministic xorshift generator over an alphabet heavy in what the fast path
        // must get right; inputs long enough to span many 32-octet blocks.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: &[&[u8]] = &[
            b"a",
            b"b",
            b"word ",
            b" ",
            b"  ",
            b"\t",
            b"\r\n",
            b"\n",
            b"\r",
            b"\x01",
            b"\xc3\xa9",
            b"The quick brown fox jumps over the lazy dog.\r\n",
        ];
        for round in 0..1000 {
            let mut input = Vec::new();
            let parts = (next() % 120) as usize;
            for _ in 0..parts {
                // Mostly long plain lines, so blocks take the fast path.
                let pick = if next() % 3 == 0 {
                    (next() % alphabet.len() as u64) as usize
                } else {
                    alphabet.len() - 1
                };
                input.extend_from_slice(alphabet[pick]);
            }
            for c in [Simple, Relaxed] {
                let want = reference(c, &input);
                assert_eq!(
                    body(c, &input),
                    want,
                    "round {round} {c:?} {:?}",
                    String::from_utf8_lossy(&input)
                );
                let cut1 = (next() as usize) % (input.len() + 1);
                let cut2 = cut1 + (next() as usize) % (input.len() - cut1 + 1);
                let mut out = Vec::new();
                let mut canon = BodyCanonicalizer::new(c);
                for part in [&input[..cut1], &input[cut1..cut2], &input[cut2..]] {
                    canon.update(part, &mut out);
                }
                canon.finish(&mut out);
                assert_eq!(out, want, "round {round} {c:?} cuts {cut1} {cut2}");
                let limit = next() % (want.len() as u64 + 2);
                let mut out = Vec::new();
                let mut canon = BodyCanonicalizer::with_limit(c, limit);
                canon.update(&input, &mut out);
                canon.finish(&mut out);
                assert_eq!(out, &want[..want.len().min(limit as usize)]);
                assert_eq!(canon.canonical_len(), want.len() as u64);
            }
        }
    }

    fn piece() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(b"a".to_vec()),
            Just(b" ".to_vec()),
            Just(b"  ".to_vec()),
            Just(b"\t".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\x01".to_vec()),
            Just(b"word ".to_vec()),
            Just(b"The quick brown fox jumps over the lazy dog.\r\n".to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(96))]

        /// The block fast path equals the line-by-line reference on random bodies, fed
        /// whole and split in two at every offset (so every octet meets a block start, a
        /// block end and a chunk boundary), and with an `l=` limit.
        #[test]
        fn canonicalizer_equals_reference(
            parts in proptest::collection::vec(piece(), 0..48),
            limit in 0u64..400,
        ) {
            let input = parts.concat();
            for c in [Simple, Relaxed] {
                let want = reference(c, &input);
                proptest::prop_assert_eq!(&body(c, &input), &want);
                for cut in 0..=input.len() {
                    let mut out = Vec::new();
                    let mut canon = BodyCanonicalizer::new(c);
                    canon.update(&input[..cut], &mut out);
                    canon.update(&input[cut..], &mut out);
                    canon.finish(&mut out);
                    proptest::prop_assert_eq!(&out, &want, "{:?} cut at {}", c, cut);
                }
                let mut out = Vec::new();
                let mut canon = BodyCanonicalizer::with_limit(c, limit);
                canon.update(&input, &mut out);
                canon.finish(&mut out);
                proptest::prop_assert_eq!(&out[..], &want[..want.len().min(limit as usize)]);
                proptest::prop_assert_eq!(canon.canonical_len(), want.len() as u64);
            }
        }
    }

    #[test]
    fn long_header_names_are_lowercased() {
        let name = [b'X'; 100];
        let mut out = Vec::new();
        header(Relaxed, &name, b" v", &mut out);
        assert_eq!(&out[..100], &[b'x'; 100]);
        assert_eq!(&out[100..], b":v\r\n");
    }
}
