//! Every extension the crate claims (issue list: IDLE, NAMESPACE, UIDPLUS, MOVE, CONDSTORE,
//! QRESYNC, ENABLE, SPECIAL-USE, CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, CHILDREN,
//! ESEARCH, SEARCHRES, SORT, THREAD, QUOTA, METADATA, ID, APPENDLIMIT, MULTIAPPEND, BINARY,
//! SASL-IR, UNSELECT, COMPRESS, STATUS=SIZE, OBJECTID, SAVEDATE, PREVIEW, NOTIFY,
//! UNAUTHENTICATE), exercised with the example lines of its RFC (canonical spelling) in both
//! directions: each line parses, serializes back byte-identical, re-parses equal, and gives
//! the same value when fed to the streaming decoder one byte at a time.

use imap_proto::codec::{
    CommandCodec, CommandDecoder, DecodeOptions, ResponseCodec, ResponseDecoder,
};
use imap_proto::types::IntoStatic;

/// (extension, RFC, client lines, server lines). Lines are complete messages without CRLF.
const CASES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "IDLE",
        "RFC 2177",
        &["A001 IDLE"],
        &["+ idling", "* 4 EXISTS", "A001 OK IDLE terminated"],
    ),
    (
        "NAMESPACE",
        "RFC 2342",
        &["A001 NAMESPACE"],
        &[
            "* NAMESPACE ((\"\" \"/\")) NIL NIL",
            "* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"#shared/\" \"/\")(\"#public/\" \"/\")(\"#ftp/\" \"/\")(\"#news.\" \".\"))",
            "* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL",
        ],
    ),
    (
        "UIDPLUS",
        "RFC 4315",
        &["A003 UID EXPUNGE 3000:3002"],
        &[
            "A003 OK [APPENDUID 38505 3955] APPEND completed",
            "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done",
            "A005 OK [UIDNOTSTICKY] Created mailbox",
            "A006 OK [APPENDUID 38505 3955:3957] MULTIAPPEND completed",
        ],
    ),
    (
        "MOVE",
        "RFC 6851",
        &["a UID MOVE 42:69 foo", "a MOVE 1:3 Trash"],
        &[
            "* OK [COPYUID 432432 42:69 1202:1229] Moved",
            "* 22 EXPUNGE",
            "a OK Done",
        ],
    ),
    (
        "CONDSTORE",
        "RFC 7162",
        &[
            "a103 SELECT INBOX (CONDSTORE)",
            "a103 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
            "a103 UID FETCH 1:* (MODSEQ FLAGS)",
            "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
            "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
            "a SEARCH MODSEQ 620162338",
            "a STATUS INBOX (HIGHESTMODSEQ)",
        ],
        &[
            "* OK [HIGHESTMODSEQ 715194045007] Highest",
            "* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences",
            "d105 OK [MODIFIED 7,9] Conditional STORE failed",
            "* 7 FETCH (MODSEQ (12121231000) UID 7)",
            "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)",
            "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777)",
        ],
    ),
    (
        "QRESYNC",
        "RFC 7162",
        &[
            "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
            "A03 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:15,17,18 4:24,27,29)))",
            "s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        ],
        &[
            "* VANISHED (EARLIER) 41,43:116,118,120:211,214:540",
            "* VANISHED 405,407,410,425",
            "* OK [CLOSED] Previous mailbox is now closed",
        ],
    ),
    (
        "ENABLE",
        "RFC 5161",
        &["t2 ENABLE CONDSTORE X-GOOD-IDEA"],
        &["* ENABLED X-GOOD-IDEA", "* ENABLED", "t2 OK foo"],
    ),
    (
        "SPECIAL-USE",
        "RFC 6154",
        &[
            "t1 LIST \"\" \"%\" RETURN (SPECIAL-USE)",
            "t1 LIST (SPECIAL-USE) \"\" \"*\"",
        ],
        &[
            "* LIST (\\Marked \\HasNoChildren) \"/\" Inbox",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Mail\"",
            "* LIST (\\Noselect \\HasChildren \\All \\Archive \\Flagged \\Junk \\Trash) \"/\" X",
        ],
    ),
    (
        "CREATE-SPECIAL-USE",
        "RFC 6154",
        &["t1 CREATE MySpecial (USE (\\Drafts \\Sent))"],
        &["t1 NO [USEATTR] \\All not supported"],
    ),
    (
        "LIST-EXTENDED",
        "RFC 5258",
        &[
            "A01 LIST (SUBSCRIBED) \"\" \"*\"",
            "A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)",
            "A03 LIST (REMOTE) \"\" \"%\"",
            "A04 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")",
        ],
        &[
            "* LIST (\\Marked \\NoInferiors \\Subscribed) \"/\" inbox",
            "* LIST (\\NonExistent \\Subscribed) \"/\" Fruit/Peach",
            "* LIST () \"/\" \"Tofu\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\Remote) \"/\" Bread",
        ],
    ),
    (
        "LIST-STATUS",
        "RFC 5819",
        &["A01 LIST \"\" \"%\" RETURN (STATUS (MESSAGES UNSEEN))"],
        &["* STATUS INBOX (MESSAGES 17 UNSEEN 16)"],
    ),
    (
        "CHILDREN",
        "RFC 3348",
        &[],
        &[
            "* LIST (\\HasChildren) \"/\" Foo",
            "* LIST (\\HasNoChildren) \"/\" Foo/Bar",
        ],
    ),
    (
        "ESEARCH",
        "RFC 4731",
        &[
            "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            "A301 UID SEARCH RETURN (ALL) UNDELETED",
        ],
        &[
            "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3",
            "* ESEARCH (TAG \"A283\") ALL 2,10:11",
            "* ESEARCH (TAG \"A301\") UID ALL 17,900,901",
            "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800",
        ],
    ),
    (
        "SEARCHRES",
        "RFC 5182",
        &[
            "A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            "A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.HEADER)",
            "A284 SEARCH $ SMALLER 4096",
        ],
        &["A282 OK SEARCH completed, result saved"],
    ),
    (
        "SORT",
        "RFC 5256",
        &[
            "A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994",
            "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
            "A284 UID SORT (REVERSE ARRIVAL FROM) US-ASCII ALL",
        ],
        &["* SORT 2 84 882", "* SORT 5 3 4 1 2", "* SORT"],
    ),
    (
        "THREAD",
        "RFC 5256",
        &[
            "A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
            "A284 UID THREAD REFERENCES US-ASCII ALL",
        ],
        &[
            "* THREAD (166)(167)(168)(169)(172)(170)(171)(173)(174 (175)(176)(178)(181)(180))(179)(177 (183)(182)(188)(184)(185)(186)(187)(189))(190)(191)(192)(193)(194 195)(196 (197)(198))(199)(200 202)(201)(203)(204)(205)(206 207)(208)",
            "* THREAD (2)(3 6 (4 23)(44 7 96))",
            "* THREAD",
        ],
    ),
    (
        "QUOTA",
        "RFC 9208",
        &[
            "G0001 GETQUOTA \"!partition/sda4\"",
            "G0002 GETQUOTAROOT INBOX",
            "S0000 SETQUOTA \"#user/alice\" (STORAGE 510)",
            "A STATUS INBOX (DELETED SIZE)",
        ],
        &[
            "* QUOTA \"!partition/sda4\" (STORAGE 104 10923847)",
            "* QUOTAROOT INBOX \"#user/alice\" \"!partition/sda4\"",
            "* QUOTA \"#user/alice\" (MESSAGE 42 1000)",
            "A003 NO [OVERQUOTA] APPEND Failed",
            "* NO [OVERQUOTA] Soft quota has been exceeded",
        ],
    ),
    (
        "METADATA",
        "RFC 5464",
        &[
            "a GETMETADATA \"\" /shared/comment",
            "a GETMETADATA INBOX (/shared/comment /private/comment)",
            "a GETMETADATA (MAXSIZE 1024) INBOX /shared/comment",
            "a GETMETADATA (DEPTH 1) INBOX (/private/filters/values)",
            "a SETMETADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)",
            "a SETMETADATA INBOX (/private/comment NIL)",
        ],
        &[
            "* METADATA \"\" (/shared/comment \"Shared comment\")",
            "* METADATA INBOX (/shared/comment \"Shared comment\" /private/comment \"My comment\")",
            "* METADATA INBOX /shared/comment /private/comment",
            "a OK [METADATA LONGENTRIES 2199] GETMETADATA complete",
            "a NO [METADATA MAXSIZE 1024] Annotation too large",
            "a NO [METADATA TOOMANY] Too many annotations",
            "a NO [METADATA NOPRIVATE] Private annotations not supported",
        ],
    ),
    (
        "ID",
        "RFC 2971",
        &[
            "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
            "a024 ID NIL",
        ],
        &[
            "* ID NIL",
            "* ID (\"name\" \"Cyrus\" \"version\" \"1.5\" \"os\" \"sunos\" \"os-version\" \"5.5\" \"support-url\" \"mailto:cyrus-bugs+@andrew.cmu.edu\")",
        ],
    ),
    (
        "APPENDLIMIT",
        "RFC 7889",
        &["a STATUS INBOX (APPENDLIMIT)"],
        &[
            "* STATUS INBOX (APPENDLIMIT 257890)",
            "* STATUS INBOX (APPENDLIMIT NIL)",
            "* OK [CAPABILITY IMAP4rev1 APPENDLIMIT=257890] ready",
            "a NO [TOOBIG] Message too big",
        ],
    ),
    (
        "MULTIAPPEND",
        "RFC 3502",
        &[
            "A003 APPEND saved-messages (\\Seen) {10}\r\nabcdefghij (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {5}\r\nvwxyz",
        ],
        &["A003 OK [APPENDUID 38505 3955:3956] APPEND completed"],
    ),
    (
        "BINARY",
        "RFC 3516",
        &[
            "A003 FETCH 1 (BINARY[1.2] BINARY.PEEK[3]<0.100> BINARY.SIZE[1])",
            "A004 APPEND INBOX ~{5}\r\nab\0cd",
        ],
        &[
            "* 1 FETCH (BINARY[1.2] ~{5}\r\nab\0cd BINARY.SIZE[1] 1234)",
            "* 2 FETCH (BINARY[3]<0> \"text\")",
            "A005 NO [UNKNOWN-CTE] Can't decode",
        ],
    ),
    (
        "SASL-IR",
        "RFC 4959",
        &[
            "a01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
            "a02 AUTHENTICATE EXTERNAL =",
        ],
        &["a01 OK Success"],
    ),
    (
        "UNSELECT",
        "RFC 3691",
        &["A342 UNSELECT"],
        &["A342 OK Unselect completed"],
    ),
    (
        "COMPRESS",
        "RFC 4978",
        &["a COMPRESS DEFLATE"],
        &[
            "a OK DEFLATE active",
            "a NO [COMPRESSIONACTIVE] DEFLATE active via TLS",
        ],
    ),
    (
        "STATUS=SIZE",
        "RFC 8438",
        &["a STATUS INBOX (MESSAGES SIZE)"],
        &["* STATUS INBOX (MESSAGES 12 SIZE 4234567)"],
    ),
    (
        "OBJECTID",
        "RFC 8474",
        &[
            "3 FETCH 1:* (EMAILID THREADID)",
            "4 STATUS foo (MAILBOXID)",
            "5 SEARCH EMAILID M6d99ac3275bb4e",
            "6 UID SEARCH THREADID T64b478a75b7ea9",
        ],
        &[
            "3 OK [MAILBOXID (F2212ea87-6097-4256-9d51-71338625)] Completed",
            "* 1 FETCH (EMAILID (M6d99ac3275bb4e) THREADID (T64b478a75b7ea9))",
            "* 2 FETCH (EMAILID (M5fdc09b49ea703) THREADID NIL)",
            "* STATUS foo (MAILBOXID (F2212ea87-6097-4256-9d51-71338625))",
        ],
    ),
    (
        "SAVEDATE",
        "RFC 8514",
        &[
            "a FETCH 1 (SAVEDATE)",
            "b SEARCH SAVEDBEFORE 1-Feb-2020",
            "c SEARCH SAVEDON 1-Feb-2020 SAVEDSINCE 1-Jan-2020 SAVEDATESUPPORTED",
        ],
        &[
            "* 1 FETCH (SAVEDATE \"17-Jul-1996 09:01:33 -0700\")",
            "* 2 FETCH (SAVEDATE NIL)",
        ],
    ),
    (
        "PREVIEW",
        "RFC 8970",
        &["A1 FETCH 1:2 (PREVIEW)", "A2 FETCH 1 (PREVIEW (LAZY))"],
        &[
            "* 1 FETCH (PREVIEW \"Preview text\")",
            "* 2 FETCH (PREVIEW NIL)",
            "* 3 FETCH (PREVIEW \"\")",
        ],
    ),
    (
        "NOTIFY",
        "RFC 5465",
        &[
            "A NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
            "B NOTIFY NONE",
            "C NOTIFY SET (personal (MailboxName SubscriptionChange))",
        ],
        &[
            "* OK [NOTIFICATIONOVERFLOW] ...A lot of events happened",
            "A NO [BADEVENT (FlagChange)] Unsupported",
        ],
    ),
    (
        "UNAUTHENTICATE",
        "RFC 8437",
        &["a UNAUTHENTICATE"],
        &["a OK Unauthenticate completed"],
    ),
];

/// Message lines whose RFC spelling is not the one our serializer writes (keyword case),
/// with the reason; they must still parse, and the serialized form must re-parse equal.
const NOT_CANONICAL: &[(&str, &str)] = &[
    (
        "A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
        "upper-case month",
    ),
    (
        "A NOTIFY SET STATUS (selected",
        "RFC 5465 spells event names in mixed case",
    ),
    (
        "C NOTIFY SET (personal",
        "RFC 5465 spells event names in mixed case",
    ),
    (
        "a103 FETCH 1:* (FLAGS) (",
        "one attribute in parentheses is written bare (same value)",
    ),
    (
        "s100 UID FETCH 300:500 (FLAGS) (",
        "one attribute in parentheses is written bare",
    ),
    (
        "a FETCH 1 (SAVEDATE)",
        "one attribute in parentheses is written bare",
    ),
    (
        "A1 FETCH 1:2 (PREVIEW)",
        "one attribute in parentheses is written bare",
    ),
    (
        "A2 FETCH 1 (PREVIEW (LAZY))",
        "one attribute in parentheses is written bare",
    ),
    (
        "A003 APPEND saved-messages",
        "date-day-fixed SP DIGIT is written as 2DIGIT, like Dovecot",
    ),
    (
        "a GETMETADATA (DEPTH 1) INBOX (/private",
        "one entry in parentheses is written bare",
    ),
];

fn not_canonical(line: &str) -> bool {
    NOT_CANONICAL.iter().any(|(p, _)| line.starts_with(p))
}

fn check_command(ext: &str, line: &str, failures: &mut Vec<String>) {
    let wire = format!("{line}\r\n").into_bytes();
    let codec = CommandCodec::default();
    let cmd = match codec.decode(&wire) {
        Ok(([], c)) => c,
        other => {
            failures.push(format!("{ext}: command {line:?} does not parse: {other:?}"));
            return;
        }
    };
    let enc = codec.encode(&cmd).into_bytes();
    if enc == wire && not_canonical(line) {
        failures.push(format!(
            "{ext}: {line:?} is listed as not canonical but round-trips"
        ));
    }
    if enc != wire && !not_canonical(line) {
        failures.push(format!(
            "{ext}: command {line:?} re-serialized as {:?}",
            String::from_utf8_lossy(&enc)
        ));
    }
    if codec.decode(&enc).map(|(_, c)| c).as_ref() != Ok(&cmd) {
        failures.push(format!("{ext}: command {line:?} does not re-parse equal"));
    }
    let mut d = CommandDecoder::new(DecodeOptions::default(), 1 << 20);
    let mut got = None;
    for b in &wire {
        d.push(std::slice::from_ref(b));
        if let Some(r) = d.next_command() {
            got = Some(r.map(IntoStatic::into_static));
        }
    }
    if got != Some(Ok(cmd.clone().into_static())) {
        failures.push(format!(
            "{ext}: command {line:?} differs byte by byte: {got:?}"
        ));
    }
}

fn check_response(ext: &str, line: &str, failures: &mut Vec<String>) {
    let wire = format!("{line}\r\n").into_bytes();
    let codec = ResponseCodec::default();
    let resp = match codec.decode(&wire) {
        Ok(([], r)) => r,
        other => {
            failures.push(format!(
                "{ext}: response {line:?} does not parse: {other:?}"
            ));
            return;
        }
    };
    let enc = codec.encode(&resp).into_bytes();
    if enc == wire && not_canonical(line) {
        failures.push(format!(
            "{ext}: {line:?} is listed as not canonical but round-trips"
        ));
    }
    if enc != wire && !not_canonical(line) {
        failures.push(format!(
            "{ext}: response {line:?} re-serialized as {:?}",
            String::from_utf8_lossy(&enc)
        ));
    }
    if codec.decode(&enc).map(|(_, r)| r).as_ref() != Ok(&resp) {
        failures.push(format!("{ext}: response {line:?} does not re-parse equal"));
    }
    let mut d = ResponseDecoder::new(DecodeOptions::default(), 1 << 20);
    let mut got = None;
    for b in &wire {
        d.push(std::slice::from_ref(b));
        if let Some(r) = d.next_response() {
            got = Some(r.map(IntoStatic::into_static));
        }
    }
    if got != Some(Ok(resp.clone().into_static())) {
        failures.push(format!(
            "{ext}: response {line:?} differs byte by byte: {got:?}"
        ));
    }
}

#[test]
fn every_claimed_extension_round_trips() {
    let mut failures = Vec::new();
    let (mut commands, mut responses) = (0, 0);
    for (ext, _rfc, client, server) in CASES {
        for line in *client {
            check_command(ext, line, &mut failures);
            commands += 1;
        }
        for line in *server {
            check_response(ext, line, &mut failures);
            responses += 1;
        }
    }
    println!(
        "extensions: {} extensions, {commands} commands, {responses} responses, {} failures",
        CASES.len(),
        failures.len()
    );
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(failures.is_empty(), "{} failures", failures.len());
    assert_eq!(CASES.len(), 31);
}

/// Every NOT_CANONICAL entry is used by some case (a stale entry would hide a regression).
#[test]
fn not_canonical_entries_are_used() {
    for (prefix, _) in NOT_CANONICAL {
        assert!(
            CASES
                .iter()
                .flat_map(|(_, _, c, s)| c.iter().chain(s.iter()))
                .any(|l| l.starts_with(prefix)),
            "unused NOT_CANONICAL entry {prefix:?}"
        );
    }
}
