//! DKIM body canonicalization: the output equals a line-by-line reference implementation
//! of RFC 6376 §3.4.3-4 (the fast block path must never change a result), does not depend
//! on how the body is split into chunks, relaxed output is idempotent, and the l= limit
//! yields a prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::dkim::canon::{self, BodyCanonicalizer, Canonicalization};

/// The body algorithms written the obvious way, line by line.
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
    if c == Canonicalization::Relaxed {
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
    if lines.is_empty() && c == Canonicalization::Simple {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let whole = canon::body(c, body);
        assert_eq!(whole, reference(c, body));
        let cut = usize::from(split).min(body.len());
        let mut out = Vec::new();
        let mut bc = BodyCanonicalizer::new(c);
        bc.update(&body[..cut], &mut out);
        bc.update(&body[cut..], &mut out);
        bc.finish(&mut out);
        assert_eq!(out, whole);
        assert_eq!(bc.canonical_len(), whole.len() as u64);
        let mut limited = Vec::new();
        let mut bc = BodyCanonicalizer::with_limit(c, u64::from(split));
        bc.update(body, &mut limited);
        bc.finish(&mut limited);
        assert!(whole.starts_with(&limited));
        assert_eq!(limited.len(), whole.len().min(usize::from(split)));
    }
    let relaxed = canon::body(Canonicalization::Relaxed, body);
    assert_eq!(canon::body(Canonicalization::Relaxed, &relaxed), relaxed);
});
