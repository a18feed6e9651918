//! `include` resolved at compile time (RFC 6609), for hosts that can hand the compiler the
//! scripts a script includes.
//!
//! The compiler does no I/O: [`compile_with_includes`] asks an [`IncludeResolver`] for the
//! source of each script an `include` names, compiles it with the same options (and its
//! own includes, recursively), and rejects, as compile errors at the `include` command:
//! an included script that does not exist (unless `:optional`), a circular include (a
//! script that includes one of the scripts including it, unless `:once`), includes nested
//! deeper than [`CompileLimits::max_include_depth`](crate::CompileLimits::max_include_depth)
//! and more distinct included scripts than
//! [`CompileLimits::max_includes`](crate::CompileLimits::max_includes). RFC 6609 §3.2 lets
//! an implementation report these when the script is compiled or when it runs; a host
//! that does not resolve includes at compile time keeps [`crate::compile`] and answers
//! [`crate::Question::Include`] at run time, where the same limits apply
//! ([`crate::RunLimits`]).
//!
//! The compiled program carries the included programs; the runtime uses them without
//! asking the host. An error inside an included script is reported at the `include`
//! command that (directly or through other scripts) brought it in, with the included
//! script's name and its own line and column in the message, followed by one "failed to
//! include" error per level, as Pigeonhole counts them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::CompileOptions;
use crate::error::{CompileError, Diagnostic};
use crate::lexer::Position;
use crate::program::Program;
use crate::runtime::ScriptLocation;

/// The source of a script that an `include` names, as an [`IncludeResolver`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncludedScript {
    /// What identifies the script in its location: two names that the host maps to the
    /// same script (`"vacation"` and `"vacation.sieve"`, say) must give the same id, so
    /// that a circular include is recognized.
    pub id: String,
    /// The script's bytes.
    pub source: Vec<u8>,
}

impl IncludedScript {
    /// A script and what identifies it.
    pub fn new(id: impl Into<String>, source: impl Into<Vec<u8>>) -> Self {
        Self {
            id: id.into(),
            source: source.into(),
        }
    }
}

/// Supplies the scripts that `include` commands name, for [`compile_with_includes`].
///
/// Any `FnMut(&str, ScriptLocation) -> Result<Option<IncludedScript>, String>` closure is
/// one.
pub trait IncludeResolver {
    /// The script `name` in `location`: `Ok(None)` when there is no such script, `Err`
    /// with a reason when it cannot be read (a compile error at the `include`).
    ///
    /// # Errors
    ///
    /// Whatever stopped the host from reading the script.
    fn resolve(
        &mut self,
        name: &str,
        location: ScriptLocation,
    ) -> Result<Option<IncludedScript>, String>;
}

impl<F> IncludeResolver for F
where
    F: FnMut(&str, ScriptLocation) -> Result<Option<IncludedScript>, String>,
{
    fn resolve(
        &mut self,
        name: &str,
        location: ScriptLocation,
    ) -> Result<Option<IncludedScript>, String> {
        self(name, location)
    }
}

/// An include resolved at compile time: the script an `include` names (as written), and
/// its program (`None`: an `:optional` script that does not exist).
#[derive(Clone, Debug)]
pub(crate) struct ResolvedInclude {
    pub location: ScriptLocation,
    pub name: Box<str>,
    pub program: Option<Arc<Program>>,
}

/// Compiles a script and, through `resolver`, every script it includes (see the module
/// documentation of [`IncludeResolver`] for what is checked).
///
/// ```
/// use sieve::{compile_with_includes, CompileOptions, IncludedScript};
/// use sieve::runtime::ScriptLocation;
///
/// let scripts = [("spam", "require \"include\"; include \"main\";"), ("main", "keep;")];
/// let mut resolver = |name: &str, _: ScriptLocation| {
///     Ok(scripts.iter().find(|(n, _)| *n == name).map(|(n, s)| IncludedScript::new(*n, *s)))
/// };
/// let options = CompileOptions::default();
/// assert!(compile_with_includes(b"require \"include\"; include \"spam\";", &options, &mut resolver).is_ok());
///
/// // A loop: "a" includes itself.
/// let mut looping = |name: &str, _: ScriptLocation| {
///     Ok(Some(IncludedScript::new(name, "require \"include\"; include \"a\";")))
/// };
/// let err = compile_with_includes(b"require \"include\";\ninclude \"a\";", &options, &mut looping).unwrap_err();
/// assert_eq!(err.diagnostics().len(), 2);
/// assert_eq!(err.position().line, 2);
/// assert!(err.message().contains("circular include"), "{}", err.message());
/// ```
///
/// # Errors
///
/// Every problem of the script and of the scripts it includes, as [`crate::compile`].
pub fn compile_with_includes(
    script: &[u8],
    options: &CompileOptions,
    resolver: &mut dyn IncludeResolver,
) -> Result<Program, CompileError> {
    let mut state = IncludeState {
        resolver,
        chain: Vec::new(),
        done: HashMap::new(),
        table: Vec::new(),
    };
    let mut program = super::compile_inner(script, options, Some(&mut state))?;
    program.includes = state.table;
    Ok(program)
}

/// What the compiler calls at each `include` when includes are resolved at compile time.
pub(crate) trait IncludeHook {
    /// Resolves and compiles the script an `include` at `pos` names; the errors to report.
    fn include(
        &mut self,
        name: &str,
        location: ScriptLocation,
        once: bool,
        optional: bool,
        pos: Position,
        options: &CompileOptions,
    ) -> Vec<Diagnostic>;
}

struct IncludeState<'r> {
    resolver: &'r mut dyn IncludeResolver,
    /// The scripts being compiled, outermost first (the main script is not in it).
    chain: Vec<(ScriptLocation, String)>,
    /// Every script compiled so far, by id: its program, or `None` if it had errors.
    done: HashMap<(ScriptLocation, String), Option<Arc<Program>>>,
    /// Every include resolved so far, by the name as written.
    table: Vec<ResolvedInclude>,
}

fn location_word(l: ScriptLocation) -> &'static str {
    match l {
        ScriptLocation::Global => "global",
        _ => "personal",
    }
}

impl IncludeHook for IncludeState<'_> {
    fn include(
        &mut self,
        name: &str,
        location: ScriptLocation,
        once: bool,
        optional: bool,
        pos: Position,
        options: &CompileOptions,
    ) -> Vec<Diagnostic> {
        let at = |message: String| vec![Diagnostic { pos, message }];
        if self
            .table
            .iter()
            .any(|r| r.location == location && &*r.name == name)
        {
            return Vec::new();
        }
        let script = match self.resolver.resolve(name, location) {
            Err(e) => return at(format!("cannot read the included script \"{name}\": {e}")),
            Ok(None) if optional => {
                self.table.push(ResolvedInclude {
                    location,
                    name: name.into(),
                    program: None,
                });
                return Vec::new();
            }
            Ok(None) => {
                return at(format!(
                    "the included {} script \"{name}\" does not exist",
                    location_word(location)
                ));
            }
            Ok(Some(s)) => s,
        };
        let key = (location, script.id);
        if self.chain.contains(&key) {
            // `:once` skips a script that is still running (RFC 6609 §3.2); the runtime
            // does the skipping.
            if once {
                return Vec::new();
            }
            return at(format!(
                "circular include: the script \"{name}\" is already being included"
            ));
        }
        if let Some(done) = self.done.get(&key) {
            return match done {
                Some(p) => {
                    let program = Some(p.clone());
                    self.table.push(ResolvedInclude {
                        location,
                        name: name.into(),
                        program,
                    });
                    Vec::new()
                }
                None => at(format!(
                    "failed to include \"{name}\": the script has errors"
                )),
            };
        }
        if self.chain.len() + 1 > options.limits.max_include_depth {
            return at(format!(
                "includes are nested too deeply (the limit is {})",
                options.limits.max_include_depth
            ));
        }
        if self.done.len() + 1 > options.limits.max_includes {
            return at(format!(
                "too many included scripts (the limit is {})",
                options.limits.max_includes
            ));
        }
        self.chain.push(key.clone());
        let compiled = super::compile_inner(&script.source, options, Some(self));
        self.chain.pop();
        match compiled {
            Ok(p) => {
                let p = Arc::new(p);
                self.done.insert(key, Some(p.clone()));
                self.table.push(ResolvedInclude {
                    location,
                    name: name.into(),
                    program: Some(p),
                });
                Vec::new()
            }
            Err(e) => {
                self.done.insert(key, None);
                let mut out: Vec<Diagnostic> = e
                    .diagnostics()
                    .iter()
                    .map(|d| Diagnostic {
                        pos,
                        message: format!(
                            "in the included script \"{name}\", {}: {}",
                            d.pos, d.message
                        ),
                    })
                    .collect();
                out.push(Diagnostic {
                    pos,
                    message: format!("failed to include \"{name}\": the script has errors"),
                });
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripts(
        list: &'static [(&'static str, &'static str)],
    ) -> impl FnMut(&str, ScriptLocation) -> Result<Option<IncludedScript>, String> {
        move |name, _| {
            let name = name.strip_suffix(".sieve").unwrap_or(name);
            Ok(list
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(n, s)| IncludedScript::new(*n, *s)))
        }
    }

    fn errors(main: &str, list: &'static [(&'static str, &'static str)]) -> Vec<String> {
        errors_with(main, list, &CompileOptions::default())
    }

    fn errors_with(
        main: &str,
        list: &'static [(&'static str, &'static str)],
        options: &CompileOptions,
    ) -> Vec<String> {
        let mut r = scripts(list);
        match compile_with_includes(main.as_bytes(), options, &mut r) {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
        }
    }

    const INC: &str = "require \"include\";\n";

    const DIRECT: &[(&str, &str)] = &[("one", "require \"include\"; keep;\ninclude \"one\";")];

    const TWO: &[(&str, &str)] = &[
        ("two", "require \"include\"; keep; include \"two-2\";"),
        ("two-2", "require \"include\"; include \"two.sieve\";"),
    ];

    const ONCE: &[(&str, &str)] = &[("a", "require \"include\"; include :once \"a\"; keep;")];

    const DEEP: &[(&str, &str)] = &[
        ("d1", "require \"include\"; include \"d2\";"),
        ("d2", "require \"include\"; include \"d3\";"),
        ("d3", "keep;"),
    ];

    const MANY: &[(&str, &str)] = &[("a", "keep;"), ("b", "keep;"), ("c", "keep;")];

    const BAD: &[(&str, &str)] = &[("bad", "keep;\nfileinto \"x\";")];

    const LIST: &[(&str, &str)] = &[
        (
            "a",
            "require [\"include\", \"fileinto\"]; fileinto \"A\"; include \"b\";",
        ),
        ("b", "require [\"include\", \"fileinto\"]; fileinto \"B\";"),
    ];

    #[test]
    fn missing_scripts_and_names() {
        assert_eq!(
            errors(
                "require \"include\";\ninclude \"frop\";\ninclude :optional \"frml\";\ninclude :global \"x\";",
                &[]
            ),
            [
                "line 2, column 1: the included personal script \"frop\" does not exist",
                "line 4, column 1: the included global script \"x\" does not exist",
            ]
        );
        // Other errors of the script are reported with them, in order.
        assert_eq!(
            errors("require \"include\";\ninclude \"frop\";\nfrop;", &[]).len(),
            2
        );
    }

    #[test]
    fn circular_includes_at_every_level() {
        assert_eq!(
            errors(&format!("{INC}discard;\ninclude \"one\";"), DIRECT),
            [
                "line 3, column 1: in the included script \"one\", line 2, column 1: circular include: the script \"one\" is already being included",
                "line 3, column 1: failed to include \"one\": the script has errors",
            ]
        );
        // Two names for one script ("two" and "two.sieve") are one script.
        assert_eq!(errors(&format!("{INC}include \"two\";"), TWO).len(), 3);
        // `:once` breaks the loop.
        assert!(errors(&format!("{INC}include \"a\";"), ONCE).is_empty());
    }

    #[test]
    fn depth_and_count_limits() {
        let main = format!("{INC}include \"d1\";");
        assert!(errors(&main, DEEP).is_empty());
        let mut options = CompileOptions::default();
        options.limits.max_include_depth = 2;
        let e = errors_with(&main, DEEP, &options);
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].ends_with("includes are nested too deeply (the limit is 2)"));
        let main = format!("{INC}include \"a\"; include \"b\"; include \"a\"; include \"c\";");
        assert!(errors(&main, MANY).is_empty());
        options.limits.max_includes = 2;
        assert_eq!(
            errors_with(&main, MANY, &options),
            ["line 2, column 40: too many included scripts (the limit is 2)"]
        );
    }

    #[test]
    fn the_runtime_uses_the_resolved_scripts() {
        use crate::{Answer, Context, Envelope, Question, Runtime, Step};
        let mut r = scripts(LIST);
        let p = compile_with_includes(
            format!("{INC}include \"a\"; include :optional \"none\"; include :once \"b\";")
                .as_bytes(),
            &CompileOptions::default(),
            &mut r,
        )
        .unwrap();
        let mut rt = Runtime::new(
            &p,
            b"Subject: x\r\n\r\nbody\r\n",
            Envelope::new("a@example.com", "b@example.com"),
            Context::default(),
        );
        let outcome = loop {
            match rt.run() {
                Step::Done(o) => break o,
                Step::Question(Question::Include { name, .. }) => {
                    panic!("asked for {name}, resolved at compile time")
                }
                Step::Question(_) => rt.answer(Answer::Bool(true)),
            }
        };
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let boxes: Vec<_> = outcome
            .actions
            .iter()
            .filter_map(|a| match a {
                crate::Action::FileInto { mailbox, .. } => Some(mailbox.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(boxes, ["A", "B"]);
    }

    #[test]
    fn host_errors_and_included_errors() {
        let mut failing = |_: &str, _: ScriptLocation| Err("permission denied".to_string());
        let e = compile_with_includes(
            format!("{INC}include \"x\";").as_bytes(),
            &CompileOptions::default(),
            &mut failing,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2, column 1: cannot read the included script \"x\": permission denied"
        );
        assert_eq!(
            errors(&format!("{INC}include \"bad\";"), BAD),
            [
                "line 2, column 1: in the included script \"bad\", line 2, column 1: the command 'fileinto' needs require \"fileinto\"",
                "line 2, column 1: failed to include \"bad\": the script has errors",
            ]
        );
    }
}
