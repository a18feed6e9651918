//! SPF record parser: never panics; a parsed record printed back parses to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::spf::Record;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Record::parse(data) else {
        return;
    };
    let mut text = String::from("v=spf1");
    for d in r.directives() {
        text.push(' ');
        text.push_str(&d.to_string());
    }
    if let Some(m) = r.redirect() {
        text.push_str(&format!(" redirect={m}"));
    }
    if let Some(m) = r.exp() {
        text.push_str(&format!(" exp={m}"));
    }
    let again = Record::parse(text.as_bytes()).expect("printed record parses");
    assert!(again.directives().eq(r.directives()));
    assert_eq!(again.redirect(), r.redirect());
    assert_eq!(again.exp(), r.exp());
});
