//! IMAP: our codec beside imap-codec 2.0.0-alpha.10 on the same inputs.
//!
//! - `imap/command`: a client's command mix, one command per iteration, parsed from a complete
//!   buffer.
//! - `imap/response`: a server's response mix (SELECT data, LIST, a FETCH with ENVELOPE and
//!   BODYSTRUCTURE, a FETCH with a 64 KiB literal).
//! - `imap/bytewise`: the FETCH with ENVELOPE and BODYSTRUCTURE fed one byte at a time, as a
//!   slow network delivers it: ours through the framing decoder (only the new byte costs);
//!   imap-codec as its codec is meant to be driven (decode the buffer on every read) and through
//!   its own `Fragmentizer`.
//! - `imap/bytewise_struct`: the same kind of FETCH at 1x and 4x the size (4x the addresses and
//!   body parts), byte at a time: time per byte shows whether parsing is linear.
//! - `imap/bytewise_scaling`: a FETCH with a 1, 8 and 64 KiB literal, byte at a time.
//!
//! Inputs are limited to what imap-codec parses with its default features (IMAP4rev1 core).
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use imap_codec::decode::Decoder as _;
use std::hint::black_box;

const FETCH_STRUCT: &[u8] = b"* 12 FETCH (UID 4827313 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"minutes.pdf\") NIL NIL \"BASE64\" 40960 NIL (\"ATTACHMENT\" (\"FILENAME\" \"minutes.pdf\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"xyz\") NIL NIL NIL))\r\n";

fn commands() -> Vec<(&'static str, Vec<u8>)> {
    let mut append = b"a8 APPEND Sent (\\Seen) {310}\r\n".to_vec();
    append.extend(std::iter::repeat_n(b'x', 308));
    append.extend_from_slice(b"\r\n\r\n");
    vec![
        ("login", b"a1 LOGIN alice \"pass word\"\r\n".to_vec()),
        ("select", b"a2 SELECT INBOX\r\n".to_vec()),
        (
            "uid_fetch",
            b"a3 UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM TO CC SUBJECT MESSAGE-ID)])\r\n".to_vec(),
        ),
        (
            "search",
            b"a4 UID SEARCH UNSEEN SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n".to_vec(),
        ),
        (
            "store",
            b"a5 UID STORE 1:5,7 +FLAGS.SILENT (\\Seen \\Flagged)\r\n".to_vec(),
        ),
        ("list", b"a6 LIST \"\" \"*\"\r\n".to_vec()),
        (
            "status",
            b"a7 STATUS INBOX (MESSAGES UNSEEN UIDNEXT)\r\n".to_vec(),
        ),
        ("append", append),
        ("copy", b"a9 UID COPY 1:3 Archive\r\n".to_vec()),
    ]
}

fn responses() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = b"* 7 FETCH (UID 99 BODY[] {65536}\r\n".to_vec();
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do.\r\n";
    while big.len() + line.len() < 34 + 65536 {
        big.extend_from_slice(line);
    }
    while big.len() < 34 + 65536 {
        big.push(b'.');
    }
    big.extend_from_slice(b")\r\n");
    vec![
        (
            "select",
            b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Old \\*)] Flags permitted.\r\n".to_vec(),
        ),
        ("exists", b"* 172 EXISTS\r\n".to_vec()),
        (
            "list",
            b"* LIST (\\HasNoChildren \\UnMarked) \".\" \"Sent Items\"\r\n".to_vec(),
        ),
        ("tagged", b"a3 OK [READ-WRITE] SELECT completed\r\n".to_vec()),
        ("fetch_struct", FETCH_STRUCT.to_vec()),
        (
            "fetch_flags",
            b"* 23 FETCH (FLAGS (\\Seen \\Answered) UID 4827943)\r\n".to_vec(),
        ),
        ("fetch_64k", big),
    ]
}

fn bench_commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap/command");
    let ours = imap_proto::codec::CommandCodec::default();
    let peer = imap_codec::CommandCodec::default();
    for (name, wire) in commands() {
        assert!(ours.decode(&wire).is_ok(), "ours: {name}");
        assert!(peer.decode(&wire).is_ok(), "imap-codec: {name}");
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("ours", name), &wire, |b, wire| {
            b.iter(|| ours.decode(black_box(wire)).map(|(_, c)| c).unwrap());
        });
        group.bench_with_input(BenchmarkId::new("imap-codec", name), &wire, |b, wire| {
            b.iter(|| peer.decode(black_box(wire)).map(|(_, c)| c).unwrap());
        });
    }
    group.finish();
}

fn bench_responses(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap/response");
    let ours = imap_proto::codec::ResponseCodec::default();
    let peer = imap_codec::ResponseCodec::default();
    for (name, wire) in responses() {
        assert!(ours.decode(&wire).is_ok(), "ours: {name}");
        assert!(peer.decode(&wire).is_ok(), "imap-codec: {name}");
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("ours", name), &wire, |b, wire| {
            b.iter(|| ours.decode(black_box(wire)).map(|(_, r)| r).unwrap());
        });
        group.bench_with_input(BenchmarkId::new("imap-codec", name), &wire, |b, wire| {
            b.iter(|| peer.decode(black_box(wire)).map(|(_, r)| r).unwrap());
        });
    }
    group.finish();
}

/// Feeds `wire` to our streaming decoder one byte at a time; returns the number of responses.
fn ours_bytewise(wire: &[u8]) -> usize {
    let mut dec = imap_proto::codec::ResponseDecoder::new(
        imap_proto::codec::DecodeOptions::default(),
        1 << 20,
    );
    let mut n = 0;
    for byte in black_box(wire) {
        dec.push(std::slice::from_ref(byte));
        while let Some(r) = dec.next_response() {
            black_box(r.unwrap());
            n += 1;
        }
    }
    n
}

/// imap-codec as its codec is meant to be driven: decode the whole buffer on every read.
fn codec_bytewise(codec: &imap_codec::ResponseCodec, wire: &[u8]) -> usize {
    let mut buf = Vec::new();
    let mut n = 0;
    for byte in black_box(wire) {
        buf.push(*byte);
        match codec.decode(&buf) {
            Ok((rest, r)) => {
                black_box(r);
                n += 1;
                let used = buf.len() - rest.len();
                buf.drain(..used);
            }
            Err(imap_codec::decode::ResponseDecodeError::Incomplete) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    n
}

/// imap-codec through its own `Fragmentizer` (frames lines and literals, then decodes once).
fn fragmentizer_bytewise(codec: &imap_codec::ResponseCodec, wire: &[u8]) -> usize {
    let mut f = imap_codec::fragmentizer::Fragmentizer::new(1 << 20);
    let mut n = 0;
    for byte in black_box(wire) {
        f.enqueue_bytes(std::slice::from_ref(byte));
        while f.progress().is_some() {
            if f.is_message_complete() {
                black_box(f.decode_message(codec).unwrap());
                n += 1;
            }
        }
    }
    n
}

fn bench_bytewise(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap/bytewise");
    let wire = FETCH_STRUCT;
    let codec = imap_codec::ResponseCodec::default();
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function(BenchmarkId::new("ours", "fetch_struct"), |b| {
        b.iter(|| assert_eq!(ours_bytewise(wire), 1));
    });
    group.bench_function(BenchmarkId::new("imap-codec", "fetch_struct"), |b| {
        b.iter(|| assert_eq!(codec_bytewise(&codec, wire), 1));
    });
    group.bench_function(
        BenchmarkId::new("imap-codec-fragmentizer", "fetch_struct"),
        |b| {
            b.iter(|| assert_eq!(fragmentizer_bytewise(&codec, wire), 1));
        },
    );
    group.finish();
}

/// A FETCH like `FETCH_STRUCT` whose ENVELOPE address lists and BODYSTRUCTURE parts are `k`
/// times as many (so the message is about `k` times as long and just as deeply structured).
fn fetch_struct_scaled(k: usize) -> Vec<u8> {
    let addr = "(\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")";
    let addrs = format!("({})", addr.repeat(k));
    let parts = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"minutes.pdf\") NIL NIL \"BASE64\" 40960 NIL (\"ATTACHMENT\" (\"FILENAME\" \"minutes.pdf\")) NIL NIL)".repeat(k);
    format!(
        "* 12 FETCH (UID 4827313 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
         RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
         \"IMAP4rev1 WG mtg summary and minutes\" {addrs} {addrs} {addrs} {addrs} {addrs} NIL \
         NIL \"<B27397-0100000@cac.washington.edu>\") BODYSTRUCTURE ({parts} \"MIXED\" \
         (\"BOUNDARY\" \"xyz\") NIL NIL NIL))\r\n"
    )
    .into_bytes()
}

/// Byte-at-a-time feeding of a structured FETCH (ENVELOPE, BODYSTRUCTURE) at 1x and 4x its
/// size: linear parsing shows the same time per byte for both; re-decoding from the start on
/// every byte shows about 4x the time per byte at 4x the size.
fn bench_bytewise_struct_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap/bytewise_struct");
    group.sample_size(20);
    let codec = imap_codec::ResponseCodec::default();
    for k in [1usize, 4] {
        let wire = fetch_struct_scaled(k);
        assert_eq!(ours_bytewise(&wire), 1);
        assert_eq!(codec_bytewise(&codec, &wire), 1);
        assert_eq!(fragmentizer_bytewise(&codec, &wire), 1);
        let id = format!("{k}x_{}B", wire.len());
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("ours", &id), &wire, |b, wire| {
            b.iter(|| ours_bytewise(wire));
        });
        group.bench_with_input(BenchmarkId::new("imap-codec", &id), &wire, |b, wire| {
            b.iter(|| codec_bytewise(&codec, wire));
        });
        group.bench_with_input(
            BenchmarkId::new("imap-codec-fragmentizer", &id),
            &wire,
            |b, wire| {
                b.iter(|| fragmentizer_bytewise(&codec, wire));
            },
        );
    }
    group.finish();
}

/// Byte-at-a-time feeding of FETCH responses with literals of growing size: a constant
/// throughput across sizes shows the cost is linear in the input (each byte is looked at a
/// bounded number of times). imap-codec's plain codec is left out (re-decoding the buffer on
/// every byte is quadratic and takes minutes at 64 KiB); its `Fragmentizer` is measured.
fn bench_bytewise_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap/bytewise_scaling");
    let codec = imap_codec::ResponseCodec::default();
    for size in [1024usize, 8 * 1024, 64 * 1024] {
        let mut wire = format!("* 7 FETCH (UID 99 BODY[] {{{size}}}\r\n").into_bytes();
        let start = wire.len();
        while wire.len() < start + size {
            wire.extend_from_slice(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
        }
        wire.truncate(start + size);
        wire.extend_from_slice(b")\r\n");
        group.throughput(Throughput::Bytes(wire.len() as u64));
        assert_eq!(ours_bytewise(&wire), 1);
        group.bench_with_input(BenchmarkId::new("ours", size), &wire, |b, wire| {
            b.iter(|| ours_bytewise(wire));
        });
        group.bench_with_input(
            BenchmarkId::new("imap-codec-fragmentizer", size),
            &wire,
            |b, wire| {
                b.iter(|| fragmentizer_bytewise(&codec, wire));
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_commands,
    bench_responses,
    bench_bytewise,
    bench_bytewise_struct_scaling,
    bench_bytewise_scaling
);
criterion_main!(benches);
