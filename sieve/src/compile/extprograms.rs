//! Validation of `pipe`, `filter` and `execute` (vnd.dovecot.pipe/filter/execute, the
//! draft `spec-bosch-sieve-extprograms`):
//!
//! ```text
//! pipe    [:copy] [:try] <program-name: string> [<arguments: string-list>]
//! filter  <program-name: string> [<arguments: string-list>]
//! execute [:input <input-data: string> / :pipe] [:output <varname: string>]
//!         <program-name: string> [<arguments: string-list>]
//! ```
//!
//! The program name must be a constant (no variables, draft §3) and valid; constant
//! arguments are checked here (no CR/LF, at most 1024 bytes), the others at run time.
//! `:copy` needs `copy`; `:output` needs `variables` and names a variable `set` could
//! assign.

use super::{Compiler, Res, err};
use crate::capability::Capability;
use crate::lexer::Position;
use crate::parser::Arg;
use crate::program::{Instr, PipeCmd, ProgramCall, ProgramInput, StrList, Test, Value};
use crate::runtime::ProgramKind;
use crate::runtime::programs::{MAX_ARGS, argument_problem, valid_program_name};

impl Compiler<'_> {
    /// The positional part shared by the three: a constant, valid program name and an
    /// optional list of arguments.
    fn program_and_args(
        &mut self,
        owner: &str,
        kind: &'static str,
        items: &[&Arg<'_>],
        pos: Position,
    ) -> Res<(Box<str>, StrList)> {
        let Some(first) = items.first() else {
            return err(
                pos,
                format!("the {kind} '{owner}' needs a program name (a string)"),
            );
        };
        let (name, npos) = match first {
            Arg::Strings { values, list, pos } if !*list || values.len() == 1 => (&values[0], *pos),
            a => {
                return err(
                    a.pos(),
                    format!(
                        "the program name of the {kind} '{owner}' must be a string, found {}",
                        a.describe()
                    ),
                );
            }
        };
        let program = match self.value(name, npos)? {
            Value::Const(s) => s,
            Value::Template(_) => {
                return err(
                    npos,
                    format!(
                        "the {kind} '{owner}' needs a constant program name (variables are not allowed in it)"
                    ),
                );
            }
        };
        if !valid_program_name(&program) {
            let shown: String = program.chars().take(80).collect();
            return err(
                npos,
                format!(
                    "{owner} {kind}: invalid program name \"{}\" (1 to 128 characters, no '/' and no control characters)",
                    shown.escape_default()
                ),
            );
        }
        let args = match items.get(1) {
            None => StrList::default(),
            Some(Arg::Strings { values, pos, .. }) => {
                if values.len() > MAX_ARGS {
                    return err(
                        *pos,
                        format!(
                            "the {kind} '{owner}' passes {} arguments to its program, more than the limit of {MAX_ARGS}",
                            values.len()
                        ),
                    );
                }
                for v in values.iter().filter(|v| !v.contains("${")) {
                    if let Some(why) = argument_problem(v) {
                        let shown: String = v.chars().take(80).collect();
                        return err(
                            *pos,
                            format!(
                                "{owner} {kind}: the program argument \"{}\" {why}",
                                shown.escape_default()
                            ),
                        );
                    }
                }
                self.list(values, *pos)?
            }
            Some(a) => {
                return err(
                    a.pos(),
                    format!(
                        "the arguments of the {kind} '{owner}' must be a string list, found {}",
                        a.describe()
                    ),
                );
            }
        };
        if let Some(extra) = items.get(2) {
            return err(
                extra.pos(),
                format!(
                    "the {kind} '{owner}' takes at most two positional arguments (program name, arguments), found an extra {}",
                    extra.describe()
                ),
            );
        }
        Ok((program, args))
    }

    /// `pipe [:copy] [:try] <program> [<args>]`.
    pub(super) fn pipe_command(
        &mut self,
        name: &str,
        args: &[Arg<'_>],
        pos: Position,
    ) -> Res<Instr> {
        self.need(Capability::Pipe, "the command 'pipe'", pos)?;
        let (mut copy, mut try_) = (false, false);
        let p = self.positional(name, "command", pos, args, &mut |s, _, tag, tp| {
            let slot = match tag {
                "copy" if s.has(Capability::Copy) => &mut copy,
                "try" => &mut try_,
                _ => {
                    return err(
                        tp,
                        format!("the command 'pipe' does not take the tag ':{tag}'"),
                    );
                }
            };
            if *slot {
                return err(tp, format!("the command 'pipe' has the tag ':{tag}' twice"));
            }
            *slot = true;
            Ok(())
        })?;
        let (program, args) = self.program_and_args(name, "command", &p.items, pos)?;
        Ok(Instr::Pipe(Box::new(PipeCmd {
            program,
            args,
            copy,
            try_,
        })))
    }

    /// `filter` and `execute`, as a command or (`kind` "test") a test.
    pub(super) fn program_call(
        &mut self,
        name: &str,
        kind: &'static str,
        args: &[Arg<'_>],
        pos: Position,
    ) -> Res<ProgramCall> {
        let execute = name == "execute";
        if execute {
            self.need(Capability::Execute, &format!("the {kind} 'execute'"), pos)?;
        } else {
            self.need(Capability::Filter, &format!("the {kind} 'filter'"), pos)?;
        }
        let mut input = if execute {
            None
        } else {
            Some(ProgramInput::Message)
        };
        let mut output = None;
        let p = self.positional(name, kind, pos, args, &mut |s, a, tag, tp| {
            match tag {
                "input" | "pipe" if execute => {
                    if input.is_some() {
                        return err(
                            tp,
                            format!("the {kind} 'execute' takes only one of :input and :pipe"),
                        );
                    }
                    input = Some(if tag == "pipe" {
                        ProgramInput::Message
                    } else {
                        let (v, vp) = a.tag_string(tag, tp)?;
                        ProgramInput::Text(s.value(v, vp)?)
                    });
                }
                "output" if execute => {
                    if !s.has(Capability::Variables) {
                        return err(
                            tp,
                            format!(
                                "the tag ':output' of the {kind} 'execute' needs require \"variables\""
                            ),
                        );
                    }
                    if output.is_some() {
                        return err(
                            tp,
                            format!("the {kind} 'execute' has the tag ':output' twice"),
                        );
                    }
                    let (v, vp) = a.tag_string(tag, tp)?;
                    output = Some(s.var_target(v, vp)?);
                }
                _ => {
                    return err(
                        tp,
                        format!("the {kind} '{name}' does not take the tag ':{tag}'"),
                    );
                }
            }
            Ok(())
        })?;
        let (program, args) = self.program_and_args(name, kind, &p.items, pos)?;
        Ok(ProgramCall {
            kind: if execute {
                ProgramKind::Execute
            } else {
                ProgramKind::Filter
            },
            program,
            args,
            input: input.unwrap_or(ProgramInput::None),
            output,
        })
    }

    /// `filter` / `execute` as a test.
    pub(super) fn program_test(
        &mut self,
        name: &str,
        args: &[Arg<'_>],
        pos: Position,
    ) -> Res<Test> {
        Ok(Test::Program(Box::new(
            self.program_call(name, "test", args, pos)?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::capability::{Capabilities, Capability};
    use crate::{CompileOptions, compile};

    fn opts() -> CompileOptions {
        CompileOptions::default()
            .with_capabilities(Capabilities::delivery().union(Capabilities::vendor()))
    }

    fn errors(script: &str) -> Vec<String> {
        match compile(script.as_bytes(), &opts()) {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics().iter().map(|d| d.message.clone()).collect(),
        }
    }

    fn one_error(script: &str, needle: &str) {
        let e = errors(script);
        assert_eq!(e.len(), 1, "{script}: {e:?}");
        assert!(e[0].contains(needle), "{script}: {e:?}");
    }

    #[test]
    fn off_unless_the_host_enables_them() {
        for ext in [
            "vnd.dovecot.pipe",
            "vnd.dovecot.filter",
            "vnd.dovecot.execute",
        ] {
            let s = format!("require \"{ext}\";");
            assert!(compile(s.as_bytes(), &CompileOptions::default()).is_err());
            assert!(compile(s.as_bytes(), &opts()).is_ok());
        }
        let mut caps = Capabilities::delivery();
        caps.insert(Capability::Pipe);
        let o = CompileOptions::default().with_capabilities(caps);
        assert!(compile(b"require \"vnd.dovecot.pipe\"; pipe \"x\";", &o).is_ok());
        // Without require, the commands are named as needing it.
        one_error("pipe \"x\";", "require \"vnd.dovecot.pipe\"");
        one_error(
            "require \"fileinto\"; if execute \"x\" { stop; }",
            "vnd.dovecot.execute",
        );
    }

    #[test]
    fn program_names() {
        let ok = |n: &str| {
            errors(&format!(
                "require [\"vnd.dovecot.pipe\", \"encoded-character\"]; pipe \"{n}\";"
            ))
            .is_empty()
        };
        assert!(ok("sa-learn"));
        assert!(ok("print.A4 draft"));
        assert!(ok("\u{e9}t\u{e9}"));
        assert!(ok(&"x".repeat(128)));
        assert!(!ok(&"x".repeat(129)));
        assert!(!ok(""));
        assert!(!ok("../frop"));
        assert!(!ok("a/b"));
        for bad in ["001a", "007f", "0085", "00ff", "2028", "2029"] {
            assert!(!ok(&format!("bad${{unicode:{bad}}}")), "{bad}");
        }
        // A variable in the name is refused even when it would expand to a valid name.
        one_error(
            "require [\"vnd.dovecot.pipe\", \"variables\"]; set \"p\" \"x\"; pipe \"${p}\";",
            "constant program name",
        );
        // Without variables, "${p}" is just text.
        assert!(errors("require \"vnd.dovecot.pipe\"; pipe \"${p}\";").is_empty());
    }

    #[test]
    fn arguments_and_tags() {
        one_error(
            "require \"vnd.dovecot.pipe\"; pipe \"p\" [\"a\", \"b\r\nc\"];",
            "line break",
        );
        let long = "y".repeat(1025);
        one_error(
            &format!("require \"vnd.dovecot.filter\"; filter \"p\" \"{long}\";"),
            "longer than 1024",
        );
        let many: Vec<String> = (0..65).map(|i| format!("\"{i}\"")).collect();
        one_error(
            &format!(
                "require \"vnd.dovecot.execute\"; execute \"p\" [{}];",
                many.join(",")
            ),
            "limit of 64",
        );
        // Arguments from variables are checked at run time.
        assert!(
            errors("require [\"vnd.dovecot.pipe\", \"variables\"]; pipe \"p\" \"${x}\";")
                .is_empty()
        );
        // :copy only with "copy"; :try only on pipe.
        one_error("require \"vnd.dovecot.pipe\"; pipe :copy \"p\";", ":copy");
        assert!(
            errors("require [\"vnd.dovecot.pipe\", \"copy\"]; pipe :copy :try \"p\";").is_empty()
        );
        one_error("require \"vnd.dovecot.filter\"; filter :try \"p\";", ":try");
        one_error(
            "require \"vnd.dovecot.pipe\"; pipe :try :try \"p\";",
            "twice",
        );
        one_error(
            "require \"vnd.dovecot.pipe\"; pipe;",
            "needs a program name",
        );
        one_error("require \"vnd.dovecot.pipe\"; pipe 1;", "must be a string");
        one_error(
            "require \"vnd.dovecot.pipe\"; pipe [\"a\", \"b\"] \"c\";",
            "must be a string",
        );
        one_error("require \"vnd.dovecot.pipe\"; pipe \"a\" 1;", "string list");
        one_error(
            "require \"vnd.dovecot.pipe\"; pipe \"a\" \"b\" \"c\";",
            "at most two",
        );
    }

    #[test]
    fn execute_input_and_output() {
        let base = "require [\"vnd.dovecot.execute\", \"variables\"];";
        assert!(
            errors(&format!(
                "{base} execute :input \"x\" :output \"v\" \"p\" [\"a\"];"
            ))
            .is_empty()
        );
        assert!(!errors(&format!("{base} execute :pipe :output \"global.v\" \"p\";")).is_empty());
        assert!(errors(&format!("{base} if execute :pipe \"p\" {{ stop; }}")).is_empty());
        one_error(
            &format!("{base} execute :input \"x\" :pipe \"p\";"),
            "only one of",
        );
        one_error(
            &format!("{base} execute :input \"p\";"),
            "needs a program name",
        );
        one_error(&format!("{base} execute :input 1 \"p\";"), "needs a string");
        one_error(&format!("{base} execute :input :x \"p\";"), "needs a value");
        one_error(
            &format!("{base} execute :output \"a-b\" \"p\";"),
            "invalid variable name",
        );
        one_error(
            &format!("{base} execute :output \"1\" \"p\";"),
            "invalid variable name",
        );
        one_error(
            "require \"vnd.dovecot.execute\"; execute :output \"v\" \"p\";",
            "needs require \"variables\"",
        );
        one_error(&format!("{base} execute :copy \"p\";"), ":copy");
    }
}
