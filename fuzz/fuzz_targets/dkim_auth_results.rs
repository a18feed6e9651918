//! Authentication-Results parser: never panics; what it parses prints to text that parses
//! back to the same value (comments compared without parentheses and backslashes, which the
//! printer drops).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth_core::auth_results::AuthResults;

fn normalize(mut ar: AuthResults) -> AuthResults {
    for r in &mut ar.results {
        if let Some(c) = &r.comment {
            let kept: String = c
                .chars()
                .filter(|&ch| ch != '(' && ch != ')' && ch != '\\')
                .collect();
            let words = kept.split_whitespace().collect::<Vec<_>>().join(" ");
            r.comment = Some(words);
        }
    }
    ar
}

fuzz_target!(|data: &[u8]| {
    let Ok(ar) = AuthResults::parse(data) else {
        return;
    };
    let text = ar.to_string();
    let again = AuthResults::parse(text.as_bytes()).expect("printed field parses");
    assert_eq!(normalize(again), normalize(ar));
});
