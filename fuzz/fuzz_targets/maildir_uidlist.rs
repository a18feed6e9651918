//! `dovecot-uidlist`: parsing never panics; a parsed list survives a write and a re-read
//! unchanged (UIDVALIDITY, next UID, GUID, every record), and reading it in two pieces
//! (the way appended records are read) gives the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maildir::uidlist::UidList;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(list)) = UidList::parse(data) else {
        return;
    };
    assert!(list.records.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(list.next_uid() > list.records.last().map_or(0, |r| r.uid));
    let written = list.serialize();
    let again = UidList::parse(&written).unwrap().unwrap();
    assert_eq!(again.uid_validity, list.uid_validity);
    assert_eq!(again.next_uid(), list.next_uid());
    assert_eq!(again.guid, list.guid);
    assert_eq!(again.records, list.records);
    // Header plus records read incrementally.
    let header_end = written.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut partial = UidList::parse(&written[..header_end]).unwrap().unwrap();
    let used = partial.parse_appended(&written[header_end..], 2).unwrap();
    assert_eq!(used, written.len() - header_end);
    assert_eq!(partial.records, list.records);
});
