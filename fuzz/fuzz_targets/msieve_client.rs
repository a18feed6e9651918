//! ManageSieve client session on arbitrary server bytes after a pipeline of commands:
//! never panics, and a protocol error is sticky.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sieve::managesieve::ScriptName;
use sieve::managesieve::client::{ClientOutput, ClientSession};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let mut client = ClientSession::new();
    let name = ScriptName::new("s").unwrap();
    client.list_scripts();
    client.get_script(&name);
    client.capability();
    client.put_script(&name, b"keep;");
    client.authenticate_raw("PLAIN", Some(b"\0u\0p"));
    client.noop(Some(b"t"));
    client.starttls();
    let chunk = usize::from(split) + 1;
    let mut failed = false;
    for piece in input.chunks(chunk) {
        match client.handle_input(piece) {
            Ok(()) => assert!(!failed, "error was not sticky"),
            Err(_) => failed = true,
        }
        while let Some(out) = client.poll_output() {
            if out == ClientOutput::StartTls {
                client
                    .handle_tls_established()
                    .expect("STARTTLS was asked for");
            }
        }
    }
});
