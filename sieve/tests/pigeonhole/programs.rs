//! The external programs of Pigeonhole's extprograms tests, as Rust closures.
//!
//! Pigeonhole's `tests/plugins/extprograms/{pipe,filter,execute}/*.svtest` point
//! `sieve_<ext>_bin_dir` at `tests/plugins/extprograms/bin/`, a directory of small shell
//! scripts (dovecot/pigeonhole, LGPL-2.1; not copied here). The harness runs no shell
//! script: each program below does what its script does, described from the script's
//! text, and the harness answers [`sieve::Question::Program`] (filter, execute) and
//! carries out [`sieve::Action::Pipe`] with them.
//!
//! | program | what the script does |
//! | --- | --- |
//! | `addheader` | prints `$1: $2`, then its input |
//! | `big` | prints 2048 bytes: `01234567` repeated (no line end) |
//! | `cat-stdin` | `cat /dev/stdin`: its input |
//! | `crlf` | `tr -s '\r' '#'`: its input with each CR made `#`, runs of `#` squeezed to one |
//! | `env` | prints the environment variable named by `$1` (nothing if unset) |
//! | `frame` | prints `FRAMED $1{ `, its input, ` }` |
//! | `modify` | prints `X-Frop: Extra header`, its input, an empty line, `Extra body content!` |
//! | `program` | reads its input, prints nothing |
//! | `replace` | reads its input, prints a fixed message (`Subject: replacement message`) |
//! | `sleep2` | `sleep 2` |
//! | `spamc` | prints `X-Spam-Status: Yes, score=66.5/5.0 tests=CONTAINS_LARGE_ROOSTER`, its input |
//! | `stderr` | writes its arguments, environment and input to stderr, prints a small message |
//!
//! Two programs the tests call are not among the scripts in the stored copy of that
//! directory: `cat` (`execute :pipe :output "msg" "cat"`, whose output must contain the
//! message: taken as `/bin/cat`, its input) and `sleep10` (`pipe "sleep10"` with a 1 s
//! time limit must time out: taken as `sleep 10`). Durations are simulated: a program
//! "takes" its seconds and the harness compares them with `sieve_<ext>_exec_timeout`
//! (default 10 s, 0 for none), as Dovecot's program client would kill it.

/// What one run of a program produced.
pub(crate) struct Run {
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// How long it runs, in (simulated) seconds.
    pub seconds: u64,
    /// Exit status 0.
    pub success: bool,
}

/// A program: its arguments, its standard input, its environment → what it does.
pub(crate) type Program = fn(&[String], &[u8], &[(String, String)]) -> Run;

fn out(stdout: Vec<u8>) -> Run {
    Run {
        stdout,
        seconds: 0,
        success: true,
    }
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}

/// The program named `name` in the test `bin` directory.
pub(crate) fn lookup(name: &str) -> Option<Program> {
    Some(match name {
        "addheader" => |a, input, _| {
            let mut v = format!("{}: {}\n", arg(a, 0), arg(a, 1)).into_bytes();
            v.extend_from_slice(input);
            out(v)
        },
        "big" => |_, _, _| {
            let n = "01234567".repeat(8).repeat(16);
            out(format!("{n}{n}").into_bytes())
        },
        "cat" | "cat-stdin" => |_, input, _| out(input.to_vec()),
        "crlf" => |_, input, _| {
            let mut v: Vec<u8> = Vec::with_capacity(input.len());
            for &b in input {
                let b = if b == b'\r' { b'#' } else { b };
                if b == b'#' && v.last() == Some(&b'#') {
                    continue;
                }
                v.push(b);
            }
            out(v)
        },
        "env" => |a, _, env| {
            let want = arg(a, 0);
            out(env
                .iter()
                .find(|(k, _)| k == want)
                .map(|(_, v)| v.clone().into_bytes())
                .unwrap_or_default())
        },
        "frame" => |a, input, _| {
            let mut v = format!("FRAMED {}{{ ", arg(a, 0)).into_bytes();
            v.extend_from_slice(input);
            v.extend_from_slice(b" }");
            out(v)
        },
        "modify" => |_, input, _| {
            let mut v = b"X-Frop: Extra header\n".to_vec();
            v.extend_from_slice(input);
            v.extend_from_slice(b"\nExtra body content!\n");
            out(v)
        },
        "program" => |_, _, _| out(Vec::new()),
        "replace" => |_, _, _| {
            out(b"From: hatseflat@example.com\nTo: frutsel@example.org\nSubject: replacement message\n\nReplaced!\n".to_vec())
        },
        "sleep2" => |_, _, _| Run {
            stdout: Vec::new(),
            seconds: 2,
            success: true,
        },
        "sleep10" => |_, _, _| Run {
            stdout: Vec::new(),
            seconds: 10,
            success: true,
        },
        "spamc" => |_, input, _| {
            let mut v =
                b"X-Spam-Status: Yes, score=66.5/5.0 tests=CONTAINS_LARGE_ROOSTER\n".to_vec();
            v.extend_from_slice(input);
            out(v)
        },
        "stderr" => |_, _, _| {
            out(
                b"Subject: frop!\nFrom: stephan@example.org\nTo: tss@example.com\n\nFrop!\n"
                    .to_vec(),
            )
        },
        _ => return None,
    })
}

/// The extprograms settings, as read at `test_config_reload` (Pigeonhole's
/// `sieve_<ext>_bin_dir`, `sieve_<ext>_socket_dir`, `sieve_<ext>_exec_timeout`,
/// `sieve_<ext>_input_eol`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    /// Per extension (`pipe`, `filter`, `execute`): configured (a bin or socket directory
    /// is set) and the time limit in seconds (0: none).
    exts: Vec<(&'static str, bool, u64)>,
}

impl Config {
    pub(crate) fn from_settings(c: &std::collections::BTreeMap<String, String>) -> Self {
        let exts = ["pipe", "filter", "execute"]
            .into_iter()
            .map(|e| {
                let configured = c.contains_key(&format!("sieve_{e}_bin_dir"))
                    || c.contains_key(&format!("sieve_{e}_socket_dir"));
                let timeout = c
                    .get(&format!("sieve_{e}_exec_timeout"))
                    .and_then(|v| super::duration(v))
                    .unwrap_or(10);
                (e, configured, timeout)
            })
            .collect();
        Self { exts }
    }

    /// The line ends a `filter`/`execute` program gets its input with.
    pub(crate) fn input_eol(
        c: &std::collections::BTreeMap<String, String>,
        ext: &str,
    ) -> sieve::runtime::LineEnding {
        match c.get(&format!("sieve_{ext}_input_eol")) {
            Some(v) if v.eq_ignore_ascii_case("lf") => sieve::runtime::LineEnding::Lf,
            _ => sieve::runtime::LineEnding::Crlf,
        }
    }
}

/// Why a program run failed, as Pigeonhole reports it.
pub(crate) enum Failure {
    /// No such program, or the extension has no bin directory.
    NotFound,
    /// Killed at the time limit (seconds).
    TimedOut(u64),
    /// Non-zero exit.
    Exit,
}

impl super::Suite {
    /// The environment Pigeonhole gives a forked program: HOME, USER, HOST, SENDER,
    /// RECIPIENT, ORIG_RECIPIENT (the last three from the envelope, when not null).
    fn program_env(&self) -> Vec<(String, String)> {
        let host = self
            .ctx
            .environment
            .iter()
            .find(|(k, _)| k == "host")
            .map_or_else(String::new, |(_, v)| v.clone());
        let mut env = vec![
            ("HOME".to_string(), "/home/testsuite".to_string()),
            ("USER".to_string(), "testsuite".to_string()),
            ("HOST".to_string(), host),
        ];
        let e = &self.envelope;
        for (k, v) in [
            ("SENDER", Some(&e.from)),
            ("RECIPIENT", Some(&e.to)),
            ("ORIG_RECIPIENT", e.orig_to.as_ref()),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                env.push((k.to_string(), v.clone()));
            }
        }
        env
    }

    /// Runs `name` from the test `bin` directory as extension `ext` would.
    pub(crate) fn run_program(
        &self,
        ext: &str,
        name: &str,
        args: &[String],
        input: &[u8],
    ) -> Result<Vec<u8>, Failure> {
        let Some(&(_, true, timeout)) = self.program_config.exts.iter().find(|(e, ..)| *e == ext)
        else {
            return Err(Failure::NotFound);
        };
        let program = lookup(name).ok_or(Failure::NotFound)?;
        let run = program(args, input, &self.program_env());
        if timeout != 0 && run.seconds > timeout {
            return Err(Failure::TimedOut(timeout));
        }
        if !run.success {
            return Err(Failure::Exit);
        }
        Ok(run.stdout)
    }

    /// The answer to a `filter` / `execute` question.
    pub(crate) fn answer_program(&self, r: &sieve::runtime::ProgramRequest) -> sieve::Answer {
        use sieve::runtime::ProgramOutcome;
        let input = r.input.as_deref().unwrap_or_default();
        sieve::Answer::Program(
            match self.run_program(r.kind.name(), &r.program, &r.args, input) {
                Ok(mut out) => {
                    out.truncate(r.max_output);
                    ProgramOutcome::Success(out)
                }
                Err(Failure::NotFound) => ProgramOutcome::NotFound,
                Err(Failure::TimedOut(s)) => {
                    ProgramOutcome::Failed(format!("execution timed out after {s} seconds"))
                }
                Err(Failure::Exit) => ProgramOutcome::False,
            },
        )
    }

    /// Carries out a `pipe` action; false when it failed (errors recorded as Pigeonhole
    /// words them: `test_error` counts and matches them).
    pub(crate) fn pipe(&mut self, program: &str, args: &[String], message: &[u8]) -> bool {
        match self.run_program("pipe", program, args, message) {
            Ok(_) => true,
            Err(Failure::NotFound) => {
                self.errors.push(format!(
                    "pipe action: failed to pipe message to program: program `{program}' not found"
                ));
                false
            }
            Err(f) => {
                if let Failure::TimedOut(s) = f {
                    self.errors.push(format!(
                        "program `{program}' execution timed out after {s} seconds"
                    ));
                }
                self.errors.push(format!(
                    "pipe action: failed to pipe message to program `{program}': refer to server log for more information."
                ));
                false
            }
        }
    }
}
