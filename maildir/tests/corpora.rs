//! The Maildir trees of `tests/data` (copied from `../shared/corpora/maildir`, see its
//! README for sources, licenses and pass criteria), read through the store. Each tree is
//! copied to a temporary directory first, so the data is never modified.

use std::fs;
use std::path::Path;

use maildir::{Flag, Folder, Maildir, Options};

fn data(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

/// Copies a tree, percent-decoding file names (the staktrace tree stores `:` as `%3A` and
/// `,` as `%2C` so that it can live in git and on Windows).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let name = name.replace("%3A", ":").replace("%2C", ",");
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(&name));
        } else {
            fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

fn opts(sep: char) -> Options {
    let mut o = Options::default();
    o.dangerous_no_fsync(true).separator(sep);
    o
}

fn subject(path: &Path) -> String {
    let raw = fs::read(path).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    msg.subject().unwrap_or_default().to_owned()
}

#[test]
fn staktrace_maildir_one_new_one_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("maildir");
    copy_tree(&data("staktrace-maildir/testdata/maildir"), &root);
    let inbox = Folder::open_dir(&root, opts(':')).unwrap();
    inbox.sync(false).unwrap();
    // Dot-files in cur/ and new/ are not messages.
    assert_eq!(inbox.len().unwrap(), 2);
    let msgs: Vec<_> = inbox
        .uids()
        .unwrap()
        .into_iter()
        .map(|u| inbox.message(u).unwrap().unwrap())
        .collect();
    let cur = msgs
        .iter()
        .find(|m| {
            m.file_name
                .starts_with("1463868505.38518452d49213cb409aa1db32f53184")
        })
        .unwrap();
    let new = msgs
        .iter()
        .find(|m| m.file_name == "1463941010.5f7fa6dd4922c183dc457d033deee9d7")
        .unwrap();
    assert!(cur.flags.contains(Flag::Seen));
    assert!(!new.flags.contains(Flag::Seen));
    assert!(new.path.parent().unwrap().ends_with("new"));
    assert_eq!(subject(&cur.path), "test");
    assert_eq!(subject(&new.path), "test");
    let raw = fs::read(&cur.path).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    // The first (topmost) Received: field.
    let received = parsed.received_all().next().unwrap().date().unwrap();
    assert_eq!(received.to_timestamp(), 1_463_868_507);
    // The arrival order gives the UIDs: the cur/ message arrived first.
    assert!(cur.uid < new.uid);
}

#[test]
fn staktrace_submaildirs_skip_double_dot_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("submaildirs");
    copy_tree(&data("staktrace-maildir/testdata/submaildirs"), &root);
    let md = Maildir::open(&root, opts(':')).unwrap();
    let names: Vec<String> = md
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["INBOX", "Subdir1", "Subdir2"]);
    // A folder without cur/ new/ tmp/ (only .gitkeep) opens; the directories are created.
    let f = md.folder("Subdir1").unwrap();
    assert_eq!(f.len().unwrap(), 0);
    assert!(root.join(".Subdir1/cur").is_dir());
    assert!(md.inbox().unwrap().is_empty().unwrap());
}

#[test]
fn mail_parser_tree_with_semicolon_separator() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("maildir");
    copy_tree(&data("mail-parser/maildir"), &root);
    let md = Maildir::open(&root, opts(';')).unwrap();
    let names: Vec<String> = md
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["INBOX", "My Folder", "My Folder.Nested Folder"]);
    // (folder, contents, standard flags) from the corpus README's table; the keyword
    // letters l, n, b have no dovecot-keywords entry and so no name, but stay on disk.
    let expect: [(&str, &str, &[Flag]); 6] = [
        ("INBOX", "a\n", &[Flag::Seen, Flag::Trashed]),
        ("INBOX", "b\n", &[Flag::Seen]),
        (
            "My Folder",
            "c\n",
            &[Flag::Draft, Flag::Replied, Flag::Trashed],
        ),
        ("My Folder", "d\n", &[]),
        (
            "My Folder.Nested Folder",
            "e\n",
            &[Flag::Flagged, Flag::Passed],
        ),
        (
            "My Folder.Nested Folder",
            "f\n",
            &[Flag::Draft, Flag::Flagged, Flag::Replied],
        ),
    ];
    for (folder, contents, flags) in expect {
        let f = md.folder(folder).unwrap();
        let found = f
            .uids()
            .unwrap()
            .into_iter()
            .map(|u| f.message(u).unwrap().unwrap())
            .find(|m| fs::read(&m.path).unwrap() == contents.as_bytes())
            .unwrap_or_else(|| panic!("{contents:?} not in {folder}"));
        assert_eq!(
            found.flags.flags().collect::<Vec<_>>(),
            flags,
            "{folder} {contents:?}"
        );
        assert!(found.flags.keywords().is_empty());
        assert_eq!(f.len().unwrap(), 2);
    }
    // Moving new/ to cur/ keeps a name that already has info, and its keyword letters.
    let inbox = md.inbox().unwrap();
    let r = inbox.sync(true).unwrap();
    assert_eq!(r.recent.len(), 1);
    let cur: Vec<String> = fs::read_dir(root.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(cur.contains(&"1234567890.M20046P2137.mailserver,S=4542,W=4642;2,Sb".to_owned()));
    // Sizes come from S= even though the files are two bytes long (as Dovecot trusts them).
    let sizes: Vec<Option<u64>> = inbox
        .uids()
        .unwrap()
        .into_iter()
        .map(|u| inbox.message(u).unwrap().unwrap().size)
        .collect();
    assert!(sizes.contains(&Some(10956)) && sizes.contains(&Some(4542)));
}
