//! Store behaviour end to end on a real file system: delivery, UIDs, the \Recent rule,
//! flags and keywords, MODSEQ, expunge, copy, quota, folders and subscriptions.
#![allow(clippy::many_single_char_names)]

use std::fs;
use std::path::Path;

use maildir::quota::QuotaLimits;
use maildir::{
    Access, Error, Expunges, Flag, FlagSet, Folder, Maildir, Options, QuotaResource, SpecialUse,
    StoreOp, View,
};

fn opts() -> Options {
    let mut o = Options::default();
    o.dangerous_no_fsync(true);
    o
}

fn msg(n: usize) -> Vec<u8> {
    format!("From: a@example.test\r\nSubject: message {n}\r\n\r\nbody {n}\r\n").into_bytes()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn delivery_lands_in_new_complete_with_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let f = Folder::open_dir(dir.path().join("Maildir"), opts()).unwrap();
    let d = f.deliver(&b"Subject: x\n\nhello\n"[..]).unwrap();
    assert_eq!(d.size, 18);
    assert_eq!(d.vsize, 21);
    assert!(d.name.ends_with(",S=18,W=21"), "{}", d.name);
    assert_eq!(fs::read(&d.path).unwrap(), b"Subject: x\n\nhello\n");
    assert_eq!(
        files(&dir.path().join("Maildir/new")),
        std::slice::from_ref(&d.name)
    );
    assert!(files(&dir.path().join("Maildir/tmp")).is_empty());
}

#[test]
fn uids_are_assigned_in_arrival_order_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    for i in 0..5 {
        f.deliver(&msg(i)[..]).unwrap();
    }
    let r = f.sync(false).unwrap();
    assert_eq!(r.new_uids.len(), 5);
    assert_eq!(f.uids().unwrap(), [1, 2, 3, 4, 5]);
    let validity = f.uid_validity().unwrap();
    assert_eq!(f.uid_next().unwrap(), 6);
    // Subjects follow UIDs (arrival order).
    for uid in 1..=5u32 {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f.open_message(uid).unwrap(), &mut s).unwrap();
        assert!(s.contains(&format!("message {}", uid - 1)));
    }
    // dovecot-uidlist is version 3 with V, N (lazily) and G.
    let ul = fs::read_to_string(root.join("dovecot-uidlist")).unwrap();
    assert!(ul.starts_with(&format!("3 V{validity} N1 G")), "{ul}");
    assert_eq!(ul.lines().count(), 6);
    // Another process (a fresh handle) sees the same UIDs.
    let g = Folder::open_dir(&root, opts()).unwrap();
    assert_eq!(g.uids().unwrap(), [1, 2, 3, 4, 5]);
    assert_eq!(g.uid_validity().unwrap(), validity);
    f.deliver(&msg(5)[..]).unwrap();
    g.sync(false).unwrap();
    f.sync(false).unwrap();
    assert_eq!(f.uids().unwrap(), g.uids().unwrap());
    assert_eq!(g.uids().unwrap(), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn recent_goes_to_the_first_read_write_session_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    f.deliver(&msg(0)[..]).unwrap();
    let examine = View::open(&f, Access::ReadOnly).unwrap();
    assert_eq!((examine.len(), examine.recent_count()), (1, 0));
    assert_eq!(files(&root.join("new")).len(), 1, "EXAMINE moves nothing");
    let mut a = View::open(&f, Access::ReadWrite).unwrap();
    assert_eq!(a.recent_count(), 1);
    assert!(files(&root.join("new")).is_empty());
    assert!(files(&root.join("cur"))[0].ends_with(":2,"));
    // A second process's session does not get \Recent for it.
    let g = Folder::open_dir(&root, opts()).unwrap();
    let b = View::open(&g, Access::ReadWrite).unwrap();
    assert_eq!((b.len(), b.recent_count()), (1, 0));
    // A new delivery: whoever syncs first gets it.
    f.deliver(&msg(1)[..]).unwrap();
    let mut b = b;
    let ch = b.sync(Expunges::Report).unwrap();
    assert_eq!(ch.exists, Some(2));
    assert_eq!(ch.recent, Some(1));
    let ch = a.sync(Expunges::Report).unwrap();
    assert_eq!(ch.exists, Some(2));
    assert_eq!(ch.recent, None);
    assert_eq!(a.recent_count(), 1);
}

#[test]
fn flags_keywords_and_modseq_are_shared_between_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    for i in 0..3 {
        f.deliver(&msg(i)[..]).unwrap();
    }
    let mut a = View::open(&f, Access::ReadWrite).unwrap();
    let g = Folder::open_dir(&root, opts()).unwrap();
    let mut b = View::open(&g, Access::ReadWrite).unwrap();
    let m0 = f.highest_modseq().unwrap();
    let change = FlagSet::new().with(Flag::Seen).with_keyword("$Junk");
    let r = a.store(&[2], StoreOp::Add, &change, None).unwrap();
    assert_eq!(r.changed.len(), 1);
    let (uid, flags, ms) = &r.changed[0];
    assert_eq!(
        (*uid, flags.imap_names()),
        (2, vec!["\\Seen".to_owned(), "$Junk".to_owned()])
    );
    assert!(*ms > m0);
    // On disk: the letter a, mapped in dovecot-keywords.
    assert_eq!(
        fs::read_to_string(root.join("dovecot-keywords")).unwrap(),
        "0 $Junk\n"
    );
    let name = f.message(2).unwrap().unwrap().file_name;
    assert!(name.ends_with(":2,Sa"), "{name}");
    // The other process's session sees the change with the same modseq.
    let ch = b.sync(Expunges::Report).unwrap();
    assert_eq!(ch.flags.len(), 1);
    assert_eq!(ch.flags[0].seq, 2);
    assert_eq!(ch.flags[0].modseq, *ms);
    assert!(ch.flags[0].flags.has_keyword("$junk"));
    // CONDSTORE: UNCHANGEDSINCE below the message's modseq refuses.
    let r = b
        .store(
            &[2, 3],
            StoreOp::Add,
            &FlagSet::new().with(Flag::Flagged),
            Some(*ms - 1),
        )
        .unwrap();
    assert_eq!(r.modified, [2]);
    assert_eq!(r.changed.len(), 1);
    // A rename by a lock-ignoring MUA is noticed and gets a modseq.
    let before = f.highest_modseq().unwrap();
    let info = f.message(1).unwrap().unwrap();
    fs::rename(
        &info.path,
        info.path.with_file_name(format!("{}F", info.file_name)),
    )
    .unwrap();
    let ch = a.sync(Expunges::Report).unwrap();
    let upd: Vec<_> = ch.flags.iter().map(|u| u.uid).collect();
    assert!(upd.contains(&1), "{ch:?}");
    assert!(f.message(1).unwrap().unwrap().modseq > before);
    assert!(f.message(1).unwrap().unwrap().flags.contains(Flag::Flagged));
    // Modseqs survive a restart.
    let fresh = Folder::open_dir(&root, opts()).unwrap();
    assert_eq!(fresh.highest_modseq().unwrap(), f.highest_modseq().unwrap());
    assert_eq!(
        fresh.message(2).unwrap().unwrap().modseq,
        f.message(2).unwrap().unwrap().modseq
    );
}

#[test]
fn expunge_is_reported_in_descending_sequence_order_and_can_be_deferred() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    for i in 0..5 {
        f.deliver(&msg(i)[..]).unwrap();
    }
    let mut a = View::open(&f, Access::ReadWrite).unwrap();
    let g = Folder::open_dir(&root, opts()).unwrap();
    let mut b = View::open(&g, Access::ReadWrite).unwrap();
    a.store(
        &[2, 4],
        StoreOp::Add,
        &FlagSet::new().with(Flag::Trashed),
        None,
    )
    .unwrap();
    let ch = a.expunge_deleted(None).unwrap();
    assert_eq!(ch.expunged, [4, 2]);
    assert_eq!(a.uids(), [1, 3, 5]);
    // The other session keeps its numbering while expunges are deferred.
    let ch = b.sync(Expunges::Defer).unwrap();
    assert!(ch.expunged.is_empty());
    assert_eq!(b.len(), 5);
    assert!(b.message(2).is_none());
    assert!(b.message(3).is_some());
    let ch = b.sync(Expunges::Report).unwrap();
    assert_eq!(ch.expunged, [4, 2]);
    assert_eq!(ch.vanished, [2, 4]);
    assert_eq!(b.uids(), [1, 3, 5]);
    // QRESYNC tombstones.
    assert_eq!(f.expunged_since(0).unwrap().unwrap(), [2, 4]);
    // UIDs are never reused.
    f.deliver(&msg(9)[..]).unwrap();
    f.sync(false).unwrap();
    assert_eq!(f.uids().unwrap(), [1, 3, 5, 6]);
}

#[test]
fn only_new_is_listed_when_only_new_changed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    f.deliver(&msg(0)[..]).unwrap();
    f.sync(true).unwrap();
    // Wait out the one-second "same clock tick" window so that stamps are trusted.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = f.sync(false).unwrap();
    assert!(r.dirs_listed <= 2);
    assert!(!f.has_changed().unwrap());
    assert_eq!(f.sync(false).unwrap().dirs_listed, 0);
    f.deliver(&msg(1)[..]).unwrap();
    assert!(f.has_changed().unwrap());
    let r = f.sync(false).unwrap();
    assert_eq!(r.dirs_listed, 1, "only new/ was listed");
    assert_eq!(r.new_uids, [2]);
}

#[test]
fn append_returns_uid_and_keeps_date_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let f = Folder::open_dir(dir.path().join("Maildir"), opts()).unwrap();
    f.deliver(&msg(0)[..]).unwrap();
    let date = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let uid = f
        .append(
            &msg(1)[..],
            &FlagSet::new().with(Flag::Seen).with_keyword("Old"),
            Some(date),
        )
        .unwrap();
    assert_eq!(uid, 2);
    let info = f.message(uid).unwrap().unwrap();
    assert!(info.file_name.ends_with(":2,Sa"));
    assert_eq!(fs::metadata(&info.path).unwrap().modified().unwrap(), date);
    assert_eq!(f.uids().unwrap(), [1, 2]);
}

#[test]
fn copy_and_move_map_keywords_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let md = Maildir::open(dir.path().join("Maildir"), opts()).unwrap();
    let inbox = md.inbox().unwrap();
    let arch = md.create_folder("Archive").unwrap();
    // Give Archive a different keyword table first.
    arch.append(&msg(0)[..], &FlagSet::new().with_keyword("Other"), None)
        .unwrap();
    inbox.deliver(&msg(1)[..]).unwrap();
    inbox.deliver(&msg(2)[..]).unwrap();
    inbox.sync(true).unwrap();
    inbox
        .store(
            &[1],
            StoreOp::Add,
            &FlagSet::new().with_keyword("$Junk"),
            None,
        )
        .unwrap();
    let pairs = inbox.copy_to(&[1], &arch).unwrap();
    assert_eq!(pairs, [(1, 2)]);
    let copied = arch.message(2).unwrap().unwrap();
    assert!(copied.flags.has_keyword("$Junk"));
    assert!(copied.file_name.ends_with(":2,b"), "{}", copied.file_name);
    let moved = inbox.move_to(&[2], &arch).unwrap();
    assert_eq!(moved, [(2, 3)]);
    assert_eq!(inbox.uids().unwrap(), [1]);
    assert_eq!(arch.uids().unwrap(), [1, 2, 3]);
}

#[test]
fn quota_is_checked_before_delivery_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let md = Maildir::open(&root, opts()).unwrap();
    md.set_quota(QuotaLimits {
        bytes: Some(200),
        messages: Some(3),
    })
    .unwrap();
    let inbox = md.inbox().unwrap();
    inbox.deliver(&[b'x'; 150][..]).unwrap();
    let e = inbox.deliver(&[b'y'; 100][..]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::QuotaExceeded {
                resource: QuotaResource::Bytes,
                limit: 200,
                used: 150,
                needed: 100
            }
        ),
        "{e:?}"
    );
    assert!(e.is_temporary());
    assert_eq!(files(&root.join("new")).len(), 1);
    assert!(files(&root.join("tmp")).is_empty());
    inbox.deliver(&b"a"[..]).unwrap();
    inbox.deliver(&b"b"[..]).unwrap();
    assert!(matches!(
        inbox.deliver(&b"c"[..]),
        Err(Error::QuotaExceeded {
            resource: QuotaResource::Messages,
            ..
        })
    ));
    let (_, used) = md.quota().unwrap().unwrap();
    assert_eq!((used.bytes, used.messages), (152, 3));
    // Expunging gives the space back.
    inbox.sync(false).unwrap();
    inbox.expunge(&[1]).unwrap();
    let (_, used) = md.quota().unwrap().unwrap();
    assert_eq!((used.bytes, used.messages), (2, 2));
    inbox.deliver(&[b'z'; 100][..]).unwrap();
    let text = fs::read_to_string(root.join("maildirsize")).unwrap();
    assert!(text.starts_with("200S,3C\n"), "{text}");
}

#[test]
fn message_size_limit_is_permanent_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let mut o = opts();
    o.max_message_size(10);
    let f = Folder::open_dir(&root, o).unwrap();
    let e = f.deliver(&[b'x'; 11][..]).unwrap_err();
    assert!(matches!(e, Error::MessageTooLarge { limit: 10 }));
    assert!(!e.is_temporary());
    assert!(files(&root.join("new")).is_empty() && files(&root.join("tmp")).is_empty());
}

#[test]
fn folders_subscriptions_and_special_use() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let md = Maildir::create_account(&root, opts()).unwrap();
    let list = md.list_folders().unwrap();
    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
    );
    assert!(list.iter().all(|e| e.subscribed && e.exists));
    assert_eq!(
        list.iter().find(|e| e.name == "Sent").unwrap().special_use,
        Some(SpecialUse::Sent)
    );
    assert!(root.join(".Sent/maildirfolder").exists());
    assert!(root.join(".Sent/cur").is_dir());
    // A nested and a non-ASCII folder, stored as Dovecot stores them.
    md.create_folder("Lists.rust").unwrap();
    md.create_folder("Entwürfe").unwrap();
    assert!(root.join(".Entw&APw-rfe").is_dir());
    assert!(matches!(
        md.create_folder("Lists.rust"),
        Err(Error::FolderExists(_))
    ));
    let list = md.list_folders().unwrap();
    let lists = list.iter().find(|e| e.name == "Lists").unwrap();
    assert!(!lists.exists && lists.has_children);
    md.subscribe("Entwürfe").unwrap();
    let subs = fs::read_to_string(root.join("subscriptions")).unwrap();
    assert!(subs.starts_with("V\t2\n\nINBOX\n"), "{subs:?}");
    assert!(subs.ends_with("Entw&APw-rfe\n"));
    // Rename with children and subscriptions.
    md.subscribe("Lists.rust").unwrap();
    md.rename_folder("Lists", "Mailing").unwrap();
    assert!(root.join(".Mailing.rust").is_dir() && !root.join(".Lists.rust").exists());
    assert!(
        md.subscriptions()
            .unwrap()
            .contains(&"Mailing.rust".to_owned())
    );
    // Delete.
    let f = md.folder("Mailing.rust").unwrap();
    f.deliver(&msg(0)[..]).unwrap();
    md.delete_folder("Mailing.rust").unwrap();
    assert!(matches!(
        md.folder("Mailing.rust"),
        Err(Error::NoSuchFolder(_))
    ));
    assert!(
        !md.subscriptions()
            .unwrap()
            .contains(&"Mailing.rust".to_owned())
    );
    assert!(
        fs::read_dir(&root).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".."))
    );
    assert!(matches!(
        md.delete_folder("INBOX"),
        Err(Error::Unsupported(_))
    ));
    // A recreated folder never gets its old UIDVALIDITY back.
    let a = md.create_folder("Tmp").unwrap();
    let v1 = a.uid_validity().unwrap();
    md.delete_folder("Tmp").unwrap();
    let b = md.create_folder("Tmp").unwrap();
    assert!(b.uid_validity().unwrap() > v1);
    // Delivery with "fileinto :create".
    md.deliver("Lists.new", &msg(1)[..], true).unwrap();
    assert_eq!(md.folder("Lists.new").unwrap().len().unwrap(), 1);
    assert!(matches!(
        md.deliver("Nope", &msg(1)[..], false),
        Err(Error::NoSuchFolder(_))
    ));
}

#[test]
fn handles_for_one_folder_share_state_within_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let md = Maildir::open(dir.path().join("Maildir"), opts()).unwrap();
    let a = md.folder("INBOX").unwrap();
    let b = md.folder("inbox").unwrap();
    a.deliver(&msg(0)[..]).unwrap();
    a.sync(false).unwrap();
    // b did not sync and still knows the message: same state.
    assert_eq!(b.uids().unwrap(), [1]);
}

#[test]
fn broken_uidlist_gets_a_new_uidvalidity() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    f.deliver(&msg(0)[..]).unwrap();
    let v = f.uid_validity().unwrap();
    fs::write(root.join("dovecot-uidlist"), b"3 V1 N2\n5 :x\n2 :y\n").unwrap();
    let g = Folder::open_dir(&root, opts()).unwrap();
    assert_eq!(g.uids().unwrap(), [1]);
    assert_ne!(g.uid_validity().unwrap(), 1);
    assert!(g.uid_validity().unwrap() >= v);
}

#[test]
fn uidlist_is_rewritten_through_the_lock_when_mostly_stale() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    for i in 0..1010 {
        f.deliver(&msg(i)[..]).unwrap();
    }
    f.sync(false).unwrap();
    let uids = f.uids().unwrap();
    f.expunge(&uids[..1005]).unwrap();
    let data = fs::read(root.join("dovecot-uidlist")).unwrap();
    let list = maildir::uidlist::UidList::parse(&data).unwrap().unwrap();
    assert_eq!(list.records.len(), 5, "stale records dropped");
    assert_eq!(list.header_next_uid, 1011);
    assert_eq!(list.records[0].uid, 1006);
    assert!(!root.join("dovecot-uidlist.lock").exists());
    let g = Folder::open_dir(&root, opts()).unwrap();
    assert_eq!(g.uids().unwrap(), [1006, 1007, 1008, 1009, 1010]);
    g.deliver(&msg(0)[..]).unwrap();
    g.sync(false).unwrap();
    assert_eq!(g.uid_next().unwrap(), 1012);
}

/// The listing matches files to messages by base name: a copy of one message in both
/// `new/` and `cur/` (left by a crashed mover) is one message (cur/ wins), and the same
/// base twice in `cur/` is one message too, stable across syncs and across a cold open
/// (no expunge-and-re-add loop, no second UID).
#[test]
fn duplicate_bases_are_one_message_and_stay_stable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let f = Folder::open_dir(&root, opts()).unwrap();
    f.deliver(&msg(1)[..]).unwrap();
    f.deliver(&msg(2)[..]).unwrap();
    f.sync(false).unwrap();
    assert_eq!(f.uids().unwrap(), [1, 2]);
    let new = files(&root.join("new"));
    // Message 1: a copy in cur/ with flags, the original still in new/.
    fs::copy(
        root.join("new").join(&new[0]),
        root.join("cur").join(format!("{}:2,S", new[0])),
    )
    .unwrap();
    // Message 2: moved to cur/ twice with different flags.
    fs::copy(
        root.join("new").join(&new[1]),
        root.join("cur").join(format!("{}:2,F", new[1])),
    )
    .unwrap();
    fs::rename(
        root.join("new").join(&new[1]),
        root.join("cur").join(format!("{}:2,R", new[1])),
    )
    .unwrap();
    // A name that is not a Maildir name at all, and one with an unknown info form.
    fs::write(root.join("cur/odd name, no info"), b"Subject: odd\r\n\r\n").unwrap();
    fs::write(
        root.join("cur/x.y.z:1,experimental"),
        b"Subject: odd\r\n\r\n",
    )
    .unwrap();
    for round in 0..3 {
        let r = f.sync(false).unwrap();
        assert!(r.expunged.is_empty(), "round {round}: {r:?}");
        assert_eq!(f.uids().unwrap(), [1, 2, 3, 4], "round {round}");
        assert!(f.message(1).unwrap().unwrap().flags.contains(Flag::Seen));
        // Make every sync list both directories again.
        fs::write(root.join("cur/.touch"), b"").unwrap();
        fs::remove_file(root.join("cur/.touch")).unwrap();
        fs::write(root.join("new/.touch"), b"").unwrap();
        fs::remove_file(root.join("new/.touch")).unwrap();
    }
    // A cold open (another process) sees the same four UIDs.
    let cold = Folder::open_dir(&root, opts()).unwrap();
    let v = View::open(&cold, Access::ReadOnly).unwrap();
    assert_eq!(v.len(), 4);
    assert_eq!(cold.uids().unwrap(), [1, 2, 3, 4]);
    assert_eq!(
        cold.message(1).unwrap().unwrap().file_name,
        format!("{}:2,S", new[0])
    );
}
