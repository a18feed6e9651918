//! Validation and compilation: the syntax tree from [`crate::parser`] becomes a
//! [`Program`]. `require` is enforced (SIEVE-002), every argument is checked against its
//! command's signature, constants (comparators, match types, date parts, regexes, header
//! names, flags) are checked and resolved here so the runtime does not fail on them.

#![allow(
    clippy::many_single_char_names,
    clippy::too_many_arguments,
    clippy::unused_self,
    clippy::single_match_else,
    clippy::struct_field_names,
    clippy::explicit_iter_loop
)]

use std::collections::HashMap;
use std::sync::Arc;

use crate::capability::{Capabilities, Capability};
use crate::error::{CompileError, Diagnostic};
use crate::lexer::Position;
use crate::parser::{self, Arg, CommandNode, TestNode};
use crate::program::{
    AddressPart, BodyTransform, Comparator, DatePart, DeleteHeader, Fcc, FileInto, FlagOp, Index,
    Instr, LazyContains, LazyRegex, Location, Match, MatchKind, MimeOption, MimeOpts, Modifiers,
    Notify, Piece, Program, Relation, StrList, Test, Vacation, Value, VarRef, Zone,
};
use crate::testsuite::{SuiteCommand, SuiteTest};

/// Limits applied while compiling. Every limit has a safe default.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileLimits {
    /// Largest script accepted, in bytes (default 1 MiB).
    pub max_script_size: usize,
    /// Deepest nesting of blocks, and apart from it of the tests of one command (default
    /// 32 each, as Pigeonhole).
    pub max_nesting: usize,
    /// Most distinct variables in one script (default 256).
    pub max_variables: usize,
    /// Longest string literal, in bytes (default 64 KiB; SIEVE-022's 65536-byte line).
    pub max_string_length: usize,
    /// Longest regular expression program, in bytes of the compiled automaton
    /// (default 256 KiB): bounds the memory and time a `:regex` key may cost.
    pub max_regex_size: usize,
    /// Deepest nesting of `foreverypart` loops (default 4, as Pigeonhole): each level
    /// multiplies the work over the MIME parts.
    pub max_loop_depth: usize,
    /// Most errors reported for one script (default 50): after a syntax error the parser
    /// recovers and goes on to report the next one, and validation reports every command
    /// it rejects; a script with more problems than this gets the first this many.
    pub max_errors: usize,
    /// Deepest nesting of includes resolved at compile time (default 10, as
    /// [`crate::RunLimits::max_include_depth`]); see [`compile_with_includes`].
    pub max_include_depth: usize,
    /// Most distinct scripts included, directly or not, when includes are resolved at
    /// compile time (default 64, as [`crate::RunLimits::max_includes`]).
    pub max_includes: usize,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            max_script_size: 1 << 20,
            max_nesting: 32,
            max_variables: 256,
            max_string_length: 64 * 1024,
            max_regex_size: 256 * 1024,
            max_loop_depth: 4,
            max_errors: 50,
            max_include_depth: 10,
            max_includes: 64,
        }
    }
}

/// What a script may use, and the compile limits.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CompileOptions {
    /// The extensions a script may `require` (default [`Capabilities::delivery`]).
    pub capabilities: Capabilities,
    /// The compile limits.
    pub limits: CompileLimits,
    /// Accept Pigeonhole's `vnd.dovecot.testsuite` language (test harnesses only).
    #[doc(hidden)]
    pub testsuite: bool,
    /// Site policy: the largest header `addheader` may add, in bytes (default 2048, as
    /// [`crate::RunLimits::max_header_size`]). A constant header longer than this is a
    /// compile error; one built from variables is checked when it runs (against the
    /// run-time limit). Keep the two equal.
    pub max_header_size: usize,
    /// Site policy: whether scripts may use `notify` (default true). When false, a script
    /// with a `notify` command does not compile ("local policy prohibits the use of a
    /// notify action"); the run-time counterpart is
    /// [`crate::RunLimits::max_notifications`] = 0, for scripts compiled before.
    pub allow_notify: bool,
    /// Compatibility (default false): accept `:comparator "i;unicode-casemap"` without
    /// `require "comparator-i;unicode-casemap"`, as Pigeonhole does since it made the
    /// comparator a core one (2025). RFC 5228 §2.7.3 says only `i;octet` and
    /// `i;ascii-casemap` may be used without `require`, so strict is the default.
    pub implicit_unicode_casemap: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            capabilities: Capabilities::delivery(),
            limits: CompileLimits::default(),
            testsuite: false,
            max_header_size: 2048,
            allow_notify: true,
            implicit_unicode_casemap: false,
        }
    }
}

impl CompileOptions {
    /// Options for scripts run on IMAP events (RFC 6785): every extension, `imapsieve`
    /// included.
    pub fn imapsieve() -> Self {
        Self {
            capabilities: Capabilities::all_extensions(),
            ..Self::default()
        }
    }

    /// Sets the extensions a script may require.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sets the compile limits.
    #[must_use]
    pub fn with_limits(mut self, limits: CompileLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the largest header `addheader` may add (see [`CompileOptions::max_header_size`]).
    #[must_use]
    pub fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// Allows or forbids `notify` (see [`CompileOptions::allow_notify`]).
    #[must_use]
    pub fn with_notify(mut self, allow: bool) -> Self {
        self.allow_notify = allow;
        self
    }
}

/// Compiles a script.
///
/// This is the stable entry point: ManageSieve's PUTSCRIPT and CHECKSCRIPT, `sieve-check`
/// and delivery all call it. On failure the error carries the position (line, column) of
/// the first problem and a message fit to show the script's author.
///
/// ```
/// use sieve::{compile, CompileOptions};
///
/// let program = compile(b"require \"fileinto\"; fileinto \"Junk\";", &CompileOptions::default()).unwrap();
/// assert!(!program.is_empty());
///
/// let err = compile(b"fileinto \"Junk\";", &CompileOptions::default()).unwrap_err();
/// assert_eq!((err.position().line, err.position().column), (1, 1));
/// assert_eq!(err.message(), "the command 'fileinto' needs require \"fileinto\"");
/// ```
pub fn compile(script: &[u8], options: &CompileOptions) -> Result<Program, CompileError> {
    compile_inner(script, options, None)
}

/// [`compile`], with the hook that resolves `include` at compile time, if any.
fn compile_inner<'o>(
    script: &[u8],
    options: &'o CompileOptions,
    inc: Option<&'o mut (dyn include::IncludeHook + 'o)>,
) -> Result<Program, CompileError> {
    if script.len() > options.limits.max_script_size {
        return Err(CompileError::new(
            Position {
                line: 1,
                column: 1,
                offset: 0,
            },
            format!(
                "the script is {} bytes, more than the limit of {} bytes",
                script.len(),
                options.limits.max_script_size
            ),
        ));
    }
    let ast = parser::parse(
        script,
        options.limits.max_nesting,
        options.limits.max_errors,
    )?;
    let mut c = Compiler {
        opts: options,
        required: Capabilities::empty(),
        code: Vec::new(),
        lines: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        locals: HashMap::new(),
        globals: Vec::new(),
        declared_globals: HashMap::new(),
        loops: Vec::new(),
        tests: Vec::new(),
        extracttext_at: None,
        inc,
    };
    c.block(&ast, true);
    if let Some(pos) = c.extracttext_at {
        c.errors.push(Diagnostic {
            pos,
            message: "the extension 'extracttext' needs 'foreverypart' (RFC 5703 §7)".into(),
        });
    }
    if !c.errors.is_empty() {
        // An unknown tag is reported at its first use by a command or test only (as
        // Pigeonhole: "reported only once at first occurrence").
        let mut seen = std::collections::HashSet::new();
        c.errors.retain(|d| {
            !(d.message.contains("does not take the tag ':") || d.message.ends_with(FIRST_USE))
                || seen.insert(d.message.clone())
        });
        c.errors.truncate(options.limits.max_errors.max(1));
        return Err(CompileError::from_list(c.errors));
    }
    Ok(Program {
        code: c.code,
        required: c.required,
        locals: c.locals.len(),
        globals: c.globals,
        lines: c.lines,
        warnings: c.warnings,
        includes: Vec::new(),
    })
}

type Res<T> = Result<T, Diagnostic>;

fn err<T>(pos: Position, msg: impl Into<String>) -> Res<T> {
    Err(Diagnostic {
        pos,
        message: msg.into(),
    })
}

struct Compiler<'o> {
    opts: &'o CompileOptions,
    required: Capabilities,
    code: Vec<Instr>,
    lines: Vec<u32>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    locals: HashMap<String, u32>,
    globals: Vec<Box<str>>,
    /// Names declared with `global` (lowercase) → global slot.
    declared_globals: HashMap<String, u32>,
    /// Where `extracttext` was required while `foreverypart` was not (yet).
    extracttext_at: Option<Position>,
    /// Enclosing `foreverypart` loops: name and the indices of their `break` jumps.
    loops: Vec<(Option<String>, Vec<usize>)>,
    /// Enclosing testsuite `test` blocks: indices of `test_fail` jumps to patch.
    tests: Vec<Vec<usize>>,
    /// Resolves `include` at compile time ([`compile_with_includes`]), if the host can.
    inc: Option<&'o mut (dyn include::IncludeHook + 'o)>,
}

/// Said of an unknown tag, which is reported at its first use by a command only.
const FIRST_USE: &str = " (reported at its first use only)";

/// The highest match variable, `${32}` (RFC 5229 §3.2 requires `${0}`..`${9}`; Pigeonhole
/// allows up to 32).
const MAX_MATCH_INDEX: usize = 32;

/// The longest variable name, in bytes (64, as Pigeonhole).
const MAX_VARIABLE_NAME_LENGTH: usize = 64;

/// Tags shared by many tests: comparator, match type, address part, index, mime.
#[derive(Default)]
struct Common {
    comparator: Option<(Comparator, Position)>,
    match_kind: Option<(MatchSpec, Position)>,
    address_part: Option<AddressPart>,
    index: Option<u64>,
    last: bool,
    last_pos: Option<Position>,
    mime: MimeOpts,
    mime_option_pos: Option<Position>,
    zone: Option<Zone>,
}

enum MatchSpec {
    Is,
    Contains,
    Matches,
    Regex,
    Count(Relation),
    Value(Relation),
    List,
}

/// Which shared tag groups a test accepts.
#[derive(Clone, Copy, Default)]
struct Accept {
    comparator: bool,
    match_type: bool,
    address_part: bool,
    index: bool,
    mime: bool,
    mime_options: bool,
    anychild: bool,
    zone: bool,
}

const MATCHING: Accept = Accept {
    comparator: true,
    match_type: true,
    address_part: false,
    index: false,
    mime: false,
    mime_options: false,
    anychild: false,
    zone: false,
};

/// A cursor over a command's or test's arguments.
struct Args<'n, 'a> {
    args: &'n [Arg<'a>],
    i: usize,
    owner: &'n str,
    kind: &'static str,
}

impl<'n, 'a> Args<'n, 'a> {
    fn next(&mut self) -> Option<&'n Arg<'a>> {
        let a = self.args.get(self.i);
        self.i += 1;
        a
    }

    /// The value of a tag that takes one: the next argument.
    fn tag_value(&mut self, tag: &str, tag_pos: Position) -> Res<&'n Arg<'a>> {
        match self.next() {
            Some(a) if !matches!(a, Arg::Tag(..)) => Ok(a),
            Some(a) => err(
                a.pos(),
                format!(
                    "the tag ':{tag}' of the {} '{}' needs a value, found {}",
                    self.kind,
                    self.owner,
                    a.describe()
                ),
            ),
            None => err(
                tag_pos,
                format!(
                    "the tag ':{tag}' of the {} '{}' needs a value",
                    self.kind, self.owner
                ),
            ),
        }
    }

    fn tag_string(&mut self, tag: &str, tag_pos: Position) -> Res<(&'n str, Position)> {
        match self.tag_value(tag, tag_pos)? {
            Arg::Strings {
                values,
                list: false,
                pos,
            } => Ok((&values[0], *pos)),
            a => err(
                a.pos(),
                format!(
                    "the tag ':{tag}' of the {} '{}' needs a string, found {}",
                    self.kind,
                    self.owner,
                    a.describe()
                ),
            ),
        }
    }

    fn tag_list(
        &mut self,
        tag: &str,
        tag_pos: Position,
    ) -> Res<(&'n [std::borrow::Cow<'a, str>], Position)> {
        match self.tag_value(tag, tag_pos)? {
            Arg::Strings { values, pos, .. } => Ok((values, *pos)),
            a => err(
                a.pos(),
                format!(
                    "the tag ':{tag}' of the {} '{}' needs a string list, found {}",
                    self.kind,
                    self.owner,
                    a.describe()
                ),
            ),
        }
    }

    fn tag_number(&mut self, tag: &str, tag_pos: Position) -> Res<(u64, Position)> {
        match self.tag_value(tag, tag_pos)? {
            Arg::Number(n, pos) => Ok((*n, *pos)),
            a => err(
                a.pos(),
                format!(
                    "the tag ':{tag}' of the {} '{}' needs a number, found {}",
                    self.kind,
                    self.owner,
                    a.describe()
                ),
            ),
        }
    }
}

/// Positional arguments collected after the tags.
struct Positional<'n, 'a> {
    items: Vec<&'n Arg<'a>>,
    owner: &'n str,
    kind: &'static str,
    pos: Position,
}

impl<'n, 'a> Positional<'n, 'a> {
    fn expect_count(&self, names: &[&str]) -> Res<()> {
        if self.items.len() < names.len() {
            let given = self.items.len();
            return err(
                self.pos,
                format!(
                    "the {} {} requires {} positional argument{} ({}), but {} {} specified",
                    self.owner,
                    self.kind,
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", "),
                    given,
                    if given == 1 { "was" } else { "were" }
                ),
            );
        }
        if self.items.len() > names.len() {
            let extra = self.items[names.len()];
            return err(
                extra.pos(),
                format!(
                    "the {} '{}' takes {} positional argument{} ({}), found an extra {}",
                    self.kind,
                    self.owner,
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    },
                    extra.describe()
                ),
            );
        }
        Ok(())
    }

    fn string(&self, i: usize, what: &str) -> Res<(&'n str, Position)> {
        match self.items[i] {
            Arg::Strings {
                values,
                list: false,
                pos,
            } => Ok((&values[0], *pos)),
            // A list is not a string, not even with one item (RFC 5228 §2.4.2.1 lets a
            // single string stand for a list, not the reverse).
            a => err(
                a.pos(),
                format!(
                    "the {} {} expects a string as argument {} ({}), but {} was found",
                    self.owner,
                    self.kind,
                    i + 1,
                    what,
                    a.describe_with_article()
                ),
            ),
        }
    }

    fn list(&self, i: usize, what: &str) -> Res<(&'n [std::borrow::Cow<'a, str>], Position)> {
        match self.items[i] {
            Arg::Strings { values, pos, .. } => Ok((values, *pos)),
            a => err(
                a.pos(),
                format!(
                    "the {} {} expects a string list as argument {} ({}), but {} was found",
                    self.owner,
                    self.kind,
                    i + 1,
                    what,
                    a.describe_with_article()
                ),
            ),
        }
    }

    fn number(&self, i: usize, what: &str) -> Res<(u64, Position)> {
        match self.items[i] {
            Arg::Number(n, pos) => Ok((*n, *pos)),
            a => err(
                a.pos(),
                format!(
                    "the {} {} expects a number as argument {} ({}), but {} was found",
                    self.owner,
                    self.kind,
                    i + 1,
                    what,
                    a.describe_with_article()
                ),
            ),
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// RFC 5322 field-name: printable ASCII except ':'.
pub(crate) fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

impl Compiler<'_> {
    fn has(&self, c: Capability) -> bool {
        self.required.contains(c)
    }

    fn need(&self, c: Capability, what: &str, pos: Position) -> Res<()> {
        if self.has(c) {
            Ok(())
        } else {
            err(pos, format!("{what} needs require \"{}\"", c.name()))
        }
    }

    fn emit(&mut self, i: Instr, pos: Position) -> usize {
        self.code.push(i);
        self.lines.push(pos.line);
        self.code.len() - 1
    }

    fn here(&self) -> u32 {
        self.code.len() as u32
    }

    fn patch(&mut self, at: usize, target: u32) {
        match &mut self.code[at] {
            Instr::Jump(t) | Instr::JumpIf { target: t, .. } | Instr::ForEveryPart { end: t } => {
                *t = target;
            }
            Instr::Break { target: t, .. } => *t = target,
            _ => unreachable!("patching a non-jump"),
        }
    }

    fn block(&mut self, cmds: &[CommandNode<'_>], top: bool) {
        let mut require_allowed = top;
        let mut i = 0;
        while i < cmds.len() {
            let cmd = &cmds[i];
            if cmd.name == "require" {
                if require_allowed {
                    if let Err(e) = self.require(cmd) {
                        self.errors.push(e);
                    }
                } else {
                    self.errors.push(Diagnostic {
                        pos: cmd.pos,
                        message: "'require' is only allowed at the beginning of the script, before any other command".into(),
                    });
                }
                i += 1;
                continue;
            }
            require_allowed = false;
            if cmd.name == "if" {
                // Collect the if/elsif/else chain.
                let mut j = i + 1;
                while j < cmds.len() && (cmds[j].name == "elsif" || cmds[j].name == "else") {
                    let is_else = cmds[j].name == "else";
                    j += 1;
                    if is_else {
                        break;
                    }
                }
                self.if_chain(&cmds[i..j]);
                i = j;
                continue;
            }
            if cmd.name == "elsif" || cmd.name == "else" {
                self.errors.push(Diagnostic {
                    pos: cmd.pos,
                    message: format!("'{}' must follow an 'if' or 'elsif' block", cmd.name),
                });
                // One error for a whole orphaned chain; its blocks are still checked.
                while i < cmds.len() && (cmds[i].name == "elsif" || cmds[i].name == "else") {
                    if let Some(b) = &cmds[i].block {
                        self.block(b, false);
                    }
                    let was_else = cmds[i].name == "else";
                    i += 1;
                    if was_else {
                        break;
                    }
                }
                continue;
            }
            if let Err(e) = self.command(cmd) {
                self.errors.push(e);
            }
            i += 1;
        }
    }

    fn require(&mut self, cmd: &CommandNode<'_>) -> Res<()> {
        let p = self.positional(
            &cmd.name,
            "command",
            cmd.pos,
            &cmd.args,
            &mut |_, _, t, p| err(p, format!("the command 'require' takes no tag ':{t}'")),
        )?;
        no_tests(cmd)?;
        no_block(cmd)?;
        p.expect_count(&["capability list"])?;
        let (names, pos) = p.list(0, "capability list")?;
        let mut errs = Vec::new();
        for name in names {
            match Capability::from_name(name) {
                Some(Capability::Testsuite) if self.opts.testsuite => {
                    self.required.insert(Capability::Testsuite);
                }
                Some(c) if c != Capability::Testsuite && self.opts.capabilities.contains(c) => {
                    self.required.insert(c);
                    // extracttext only works inside foreverypart (RFC 5703 §7).
                    if c == Capability::ExtractText
                        && !self.required.contains(Capability::ForEveryPart)
                    {
                        self.extracttext_at = Some(pos);
                    }
                    if c == Capability::ForEveryPart {
                        self.extracttext_at = None;
                    }
                    // Implied capabilities.
                    match c {
                        Capability::SpamTestPlus => self.required.insert(Capability::SpamTest),
                        Capability::VacationSeconds => self.required.insert(Capability::Vacation),
                        // Pigeonhole loads `environment` implicitly with its vendor items.
                        Capability::DovecotEnvironment => {
                            self.required.insert(Capability::Environment);
                        }
                        _ => {}
                    }
                }
                Some(c) if c != Capability::Testsuite => errs.push(Diagnostic {
                    pos,
                    message: format!("the extension '{name}' is not available here"),
                }),
                _ => errs.push(Diagnostic {
                    pos,
                    message: format!("unknown extension '{name}' in require"),
                }),
            }
        }
        // One error per unknown name; the last is returned, the others recorded.
        let last = errs.pop();
        self.errors.extend(errs);
        match last {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn if_chain(&mut self, chain: &[CommandNode<'_>]) {
        let mut end_jumps = Vec::new();
        for (k, cmd) in chain.iter().enumerate() {
            let is_else = cmd.name == "else";
            let skip;
            let mut compile_block = true;
            if is_else {
                if !cmd.args.is_empty() || !cmd.tests.is_empty() {
                    self.errors.push(Diagnostic {
                        pos: cmd.pos,
                        message: "'else' takes no arguments or tests".into(),
                    });
                }
            } else {
                if let Err(e) = self.control_args(cmd) {
                    // Only the block is missing: the test has its own errors to report.
                    if cmd.args.is_empty()
                        && cmd.tests.len() == 1
                        && !cmd.test_list
                        && let Err(te) = self.test(&cmd.tests[0])
                    {
                        self.errors.push(te);
                    }
                    self.errors.push(e);
                    if let Some(block) = &cmd.block {
                        self.block(block, false);
                    }
                    continue;
                }
                {
                    // ihave: an unknown capability makes the test false and the block is not
                    // validated (RFC 5463 §4).
                    let t = &cmd.tests[0];
                    let mut saved = None;
                    if t.name == "ihave" && self.has(Capability::Ihave) {
                        match self.ihave_caps(t) {
                            Ok(Some(caps)) => {
                                saved = Some(self.required);
                                for c in caps {
                                    self.required.insert(c);
                                }
                                self.emit(Instr::Test(Box::new(Test::True)), t.pos);
                            }
                            Ok(None) => {
                                self.emit(Instr::Test(Box::new(Test::False)), t.pos);
                                compile_block = false;
                            }
                            Err(e) => self.errors.push(e),
                        }
                    } else if let Err(e) = self.test(t) {
                        self.errors.push(e);
                    }
                    skip = Some(self.emit(
                        Instr::JumpIf {
                            target: 0,
                            when: false,
                        },
                        cmd.pos,
                    ));
                    if let Some(block) = &cmd.block
                        && compile_block
                    {
                        self.block(block, false);
                    }
                    if let Some(r) = saved {
                        self.required = r;
                    }
                    if k + 1 < chain.len() {
                        end_jumps.push(self.emit(Instr::Jump(0), cmd.end));
                    }
                    let here = self.here();
                    if let Some(s) = skip {
                        self.patch(s, here);
                    }
                    continue;
                }
            }
            if cmd.block.is_none() {
                self.errors.push(Diagnostic {
                    pos: cmd.pos,
                    message: format!("'{}' needs a block", cmd.name),
                });
            }
            if let Some(block) = &cmd.block {
                self.block(block, false);
            }
            if k + 1 < chain.len() {
                end_jumps.push(self.emit(Instr::Jump(0), cmd.end));
            }
        }
        let here = self.here();
        for j in end_jumps {
            self.patch(j, here);
        }
    }

    fn control_args(&self, cmd: &CommandNode<'_>) -> Res<()> {
        if let Some(a) = cmd.args.first() {
            return err(
                a.pos(),
                format!("'{}' takes a test, not a {}", &cmd.name, a.describe()),
            );
        }
        if cmd.tests.len() != 1 || cmd.test_list {
            return err(cmd.pos, format!("'{}' needs exactly one test", cmd.name));
        }
        if cmd.block.is_none() {
            return err(cmd.end, format!("'{}' needs a block", cmd.name));
        }
        Ok(())
    }

    fn ihave_caps(&mut self, t: &TestNode<'_>) -> Res<Option<Vec<Capability>>> {
        let p = self.positional(&t.name, "test", t.pos, &t.args, &mut |_, _, tag, p| {
            err(p, format!("the test 'ihave' takes no tag ':{tag}'"))
        })?;
        p.expect_count(&["capabilities"])?;
        let (names, _) = p.list(0, "capabilities")?;
        let mut caps = Vec::new();
        for n in names {
            match Capability::from_name(n) {
                // These change how every string is read (escapes, `${...}`), which a test
                // evaluated later cannot switch on: ihave reports them absent (RFC 5463 §4
                // allows refusing any extension; Pigeonhole refuses these two).
                Some(Capability::EncodedCharacter | Capability::Variables) => return Ok(None),
                Some(c) if c != Capability::Testsuite && self.opts.capabilities.contains(c) => {
                    caps.push(c);
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(caps))
    }

    /// Runs through the arguments: tags go to `on_tag`, the rest are positional.
    fn positional<'n, 'a>(
        &mut self,
        owner: &'n str,
        kind: &'static str,
        pos: Position,
        args: &'n [Arg<'a>],
        on_tag: &mut dyn FnMut(&mut Self, &mut Args<'n, 'a>, &str, Position) -> Res<()>,
    ) -> Res<Positional<'n, 'a>> {
        let mut cursor = Args {
            args,
            i: 0,
            owner,
            kind,
        };
        let mut items = Vec::new();
        while let Some(a) = cursor.next() {
            match a {
                Arg::Tag(t, p) => {
                    if !items.is_empty() {
                        // An unknown tag is reported as such; a known one is misplaced.
                        if let Err(e) = on_tag(self, &mut cursor, t, *p)
                            && e.message.starts_with("unknown tagged argument")
                        {
                            return err(
                                *p,
                                format!(
                                    "unknown tagged argument ':{t}' for the {owner} {kind} (after its positional arguments)"
                                ),
                            );
                        }
                        return err(
                            *p,
                            format!(
                                "unexpected tagged argument ':{t}' after the positional arguments of the {owner} {kind} (tags come first)"
                            ),
                        );
                    }
                    on_tag(self, &mut cursor, t, *p)?;
                }
                other => items.push(other),
            }
        }
        Ok(Positional {
            items,
            owner,
            kind,
            pos,
        })
    }

    /// Handles the shared tags; returns Ok(false) when the tag is not one of them.
    fn common_tag(
        &mut self,
        c: &mut Common,
        accept: Accept,
        a: &mut Args<'_, '_>,
        tag: &str,
        pos: Position,
    ) -> Res<bool> {
        let dup = |what: &str| {
            err(
                pos,
                format!("the {} '{}' has more than one {what}", a.kind, a.owner),
            )
        };
        match tag {
            "comparator" if accept.comparator => {
                if c.comparator.is_some() {
                    return dup("comparator");
                }
                let (name, vpos) = a.tag_string(tag, pos)?;
                let cmp = match name.to_ascii_lowercase().as_str() {
                    "i;octet" => Comparator::Octet,
                    "i;ascii-casemap" => Comparator::AsciiCasemap,
                    "i;ascii-numeric" => {
                        self.need(
                            Capability::ComparatorAsciiNumeric,
                            "the comparator \"i;ascii-numeric\"",
                            vpos,
                        )?;
                        Comparator::AsciiNumeric
                    }
                    "i;unicode-casemap" => {
                        if !self.opts.implicit_unicode_casemap {
                            self.need(
                                Capability::ComparatorUnicodeCasemap,
                                "the comparator \"i;unicode-casemap\"",
                                vpos,
                            )?;
                        }
                        Comparator::UnicodeCasemap
                    }
                    _ => return err(vpos, format!("unknown comparator \"{name}\"")),
                };
                c.comparator = Some((cmp, pos));
            }
            "list" if accept.match_type && self.has(Capability::ExtLists) => {
                if c.match_kind.is_some() {
                    return dup("match type");
                }
                c.match_kind = Some((MatchSpec::List, pos));
            }
            "is" | "contains" | "matches" | "regex" | "count" | "value" if accept.match_type => {
                if c.match_kind.is_some() {
                    return dup("match type");
                }
                let spec = match tag {
                    "is" => MatchSpec::Is,
                    "contains" => MatchSpec::Contains,
                    "matches" => MatchSpec::Matches,
                    "regex" => {
                        self.need(Capability::Regex, "the match type ':regex'", pos)?;
                        MatchSpec::Regex
                    }
                    _ => {
                        self.need(
                            Capability::Relational,
                            &format!("the match type ':{tag}'"),
                            pos,
                        )?;
                        let (rel, rpos) = a.tag_string(tag, pos)?;
                        let Some(r) = Relation::from_name(rel) else {
                            return err(
                                rpos,
                                format!(
                                    "unknown relational operator \"{rel}\" (expected gt, ge, lt, le, eq or ne)"
                                ),
                            );
                        };
                        if tag == "count" {
                            MatchSpec::Count(r)
                        } else {
                            MatchSpec::Value(r)
                        }
                    }
                };
                c.match_kind = Some((spec, pos));
            }
            "all" | "localpart" | "domain" | "user" | "detail" if accept.address_part => {
                if c.address_part.is_some() {
                    return dup("address part");
                }
                c.address_part = Some(match tag {
                    "all" => AddressPart::All,
                    "localpart" => AddressPart::LocalPart,
                    "domain" => AddressPart::Domain,
                    "user" => {
                        self.need(Capability::Subaddress, "the address part ':user'", pos)?;
                        AddressPart::User
                    }
                    _ => {
                        self.need(Capability::Subaddress, "the address part ':detail'", pos)?;
                        AddressPart::Detail
                    }
                });
            }
            "index"
                if accept.index && (self.has(Capability::Index) || a.owner == "deleteheader") =>
            {
                if c.index.is_some() {
                    return dup("':index'");
                }
                let (n, npos) = a.tag_number(tag, pos)?;
                if n == 0 {
                    return err(npos, "':index' counts from 1; 0 is not a valid index");
                }
                c.index = Some(n);
            }
            "last"
                if accept.index && (self.has(Capability::Index) || a.owner == "deleteheader") =>
            {
                c.last = true;
                c.last_pos = Some(pos);
            }
            "mime" if accept.mime && self.has(Capability::Mime) => c.mime.mime = true,
            "anychild" if accept.anychild && self.has(Capability::Mime) => c.mime.anychild = true,
            "type" | "subtype" | "contenttype" | "param"
                if accept.mime_options && self.has(Capability::Mime) =>
            {
                if !matches!(c.mime.option, MimeOption::None) {
                    return dup("MIME option");
                }
                c.mime_option_pos = Some(pos);
                c.mime.option = match tag {
                    "type" => MimeOption::Type,
                    "subtype" => MimeOption::Subtype,
                    "contenttype" => MimeOption::ContentType,
                    _ => {
                        let (list, lpos) = a.tag_list(tag, pos)?;
                        MimeOption::Param(self.list(list, lpos)?)
                    }
                };
            }
            "zone" if accept.zone => {
                if c.zone.is_some() {
                    return dup("zone");
                }
                let (z, zpos) = a.tag_string(tag, pos)?;
                if !z.contains("${") && parse_zone(z).is_none() {
                    return err(
                        zpos,
                        format!("invalid time zone \"{z}\" (expected +hhmm or -hhmm)"),
                    );
                }
                c.zone = Some(Zone::Fixed(self.value(z, zpos)?));
            }
            "originalzone" if accept.zone && a.owner == "date" => {
                if c.zone.is_some() {
                    return dup("zone");
                }
                c.zone = Some(Zone::Original);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Turns the collected match type and comparator into a [`Match`], checking their
    /// combination and compiling constant regexes.
    fn finish_match(&mut self, c: &mut Common, keys: &[Value], owner: &str) -> Res<Match> {
        let comparator = c.comparator.map_or(Comparator::AsciiCasemap, |(c, _)| c);
        let (spec, mpos) = c.match_kind.take().unwrap_or((
            MatchSpec::Is,
            Position {
                line: 0,
                column: 0,
                offset: 0,
            },
        ));
        let kind = match spec {
            MatchSpec::Is => MatchKind::Is,
            MatchSpec::Contains | MatchSpec::Matches | MatchSpec::Regex
                if comparator == Comparator::AsciiNumeric =>
            {
                return err(
                    c.comparator.map_or(mpos, |(_, p)| p),
                    format!(
                        "the comparator \"i;ascii-numeric\" cannot be used with a substring match type in '{owner}'"
                    ),
                );
            }
            MatchSpec::Contains => {
                let consts: Option<Vec<Box<str>>> =
                    keys.iter().map(|k| k.as_const().map(Box::from)).collect();
                let ascii = matches!(comparator, Comparator::AsciiCasemap | Comparator::Octet);
                MatchKind::Contains(match consts {
                    Some(c) if ascii && !c.is_empty() => Some(Arc::new(LazyContains::new(
                        &c,
                        comparator == Comparator::AsciiCasemap,
                    ))),
                    _ => None,
                })
            }
            MatchSpec::Matches => MatchKind::Matches,
            MatchSpec::Regex => {
                let mut compiled = Vec::with_capacity(keys.len());
                let mut all_const = true;
                for k in keys.iter() {
                    match k.as_const() {
                        Some(s) => {
                            check_regex(s).map_err(|m| Diagnostic {
                                pos: mpos,
                                message: m,
                            })?;
                            compiled.push(LazyRegex::new(
                                s,
                                comparator,
                                self.opts.limits.max_regex_size,
                            ));
                        }
                        None => all_const = false,
                    }
                }
                MatchKind::Regex(all_const.then(|| Arc::from(compiled)))
            }
            MatchSpec::Count(r) => MatchKind::Count(r),
            MatchSpec::Value(r) => MatchKind::Value(r),
            // The keys are list names, not strings to compare (RFC 6134).
            MatchSpec::List => {
                if let Some((_, cpos)) = c.comparator {
                    return err(cpos, "the :list match type does not allow a comparator");
                }
                MatchKind::List
            }
        };
        Ok(Match { kind, comparator })
    }

    // ---- strings and variables ----

    /// A string argument: encoded characters decoded (RFC 5228 §2.4.2.4), then variable
    /// references found (RFC 5229 §3).
    fn value(&mut self, s: &str, pos: Position) -> Res<Value> {
        if s.len() > self.opts.limits.max_string_length {
            return err(
                pos,
                format!(
                    "string of {} bytes is longer than the limit of {} bytes",
                    s.len(),
                    self.opts.limits.max_string_length
                ),
            );
        }
        let decoded;
        let s = if self.has(Capability::EncodedCharacter) && s.contains("${") {
            decoded =
                decode_encoded_characters(s, false).map_err(|m| Diagnostic { pos, message: m })?;
            decoded.as_str()
        } else {
            s
        };
        if !self.has(Capability::Variables) || !s.contains("${") {
            return Ok(Value::Const(s.into()));
        }
        self.template(s, pos)
    }

    fn template(&mut self, s: &str, pos: Position) -> Res<Value> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            lit.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                lit.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            match self.var_piece(name, pos)? {
                Some(p) => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
                    }
                    pieces.push(p);
                    rest = &after[end + 1..];
                }
                None => {
                    // Not a variable reference: keep "${" literally and go on after it.
                    lit.push_str("${");
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if pieces.is_empty() {
            return Ok(Value::Const(lit.into()));
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.into()));
        }
        Ok(Value::Template(pieces.into()))
    }

    /// The piece a `${name}` stands for, or None if `name` is not a reference.
    fn var_piece(&mut self, name: &str, pos: Position) -> Res<Option<Piece>> {
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return match name.parse::<u8>() {
                // RFC 5229 §3.2 requires ${0}..${9}; more are kept, up to 32 as Pigeonhole.
                Ok(n) if usize::from(n) <= MAX_MATCH_INDEX => Ok(Some(Piece::Match(n))),
                _ => err(
                    pos,
                    format!(
                        "the match variable ${{{name}}} is out of range (the highest is ${{{MAX_MATCH_INDEX}}})"
                    ),
                ),
            };
        }
        let parts: Vec<&str> = name.split('.').collect();
        if !parts.iter().all(|p| is_identifier(p)) {
            return Ok(None);
        }
        let lower = name.to_ascii_lowercase();
        if parts.len() == 1 {
            return Ok(Some(match self.lookup_var(&lower, pos)? {
                VarRef::Local(i) => Piece::Local(i),
                VarRef::Global(i) => Piece::Global(i),
            }));
        }
        if parts[0].eq_ignore_ascii_case("global")
            && parts.len() == 2
            && self.has(Capability::Include)
        {
            let i = self.global_index(&parts[1].to_ascii_lowercase());
            return Ok(Some(Piece::Global(i)));
        }
        // `${env.NAME}`: the environment item NAME (vnd.dovecot.environment).
        if parts[0].eq_ignore_ascii_case("env") && self.has(Capability::DovecotEnvironment) {
            return Ok(Some(Piece::Env(lower[4..].into())));
        }
        if parts[0].eq_ignore_ascii_case("tst") && self.has(Capability::Testsuite) {
            return Ok(Some(Piece::Suite(lower[4..].into())));
        }
        // RFC 5229 §3: a namespace no required extension defines is an error.
        err(
            pos,
            format!(
                "unknown namespace '{}' in the variable reference ${{{name}}}",
                parts[0]
            ),
        )
    }

    fn lookup_var(&mut self, lower: &str, pos: Position) -> Res<VarRef> {
        if let Some(&g) = self.declared_globals.get(lower) {
            return Ok(VarRef::Global(g));
        }
        if let Some(&l) = self.locals.get(lower) {
            return Ok(VarRef::Local(l));
        }
        // A variable read before it is set is the empty string; give it its slot now.
        if self.locals.len() >= self.opts.limits.max_variables {
            return err(
                pos,
                format!(
                    "too many variables (the limit is {})",
                    self.opts.limits.max_variables
                ),
            );
        }
        let n = self.locals.len() as u32;
        self.locals.insert(lower.to_string(), n);
        Ok(VarRef::Local(n))
    }

    /// The variable a command writes to (`set`, `extracttext`, flag variables).
    fn var_target(&mut self, name: &str, pos: Position) -> Res<VarRef> {
        let parts: Vec<&str> = name.split('.').collect();
        if name.is_empty() || !parts.iter().all(|p| is_identifier(p)) {
            return err(pos, format!("invalid variable name \"{name}\""));
        }
        if name.len() > MAX_VARIABLE_NAME_LENGTH {
            return err(
                pos,
                format!(
                    "the variable name \"{name}\" is longer than {MAX_VARIABLE_NAME_LENGTH} bytes"
                ),
            );
        }
        let lower = name.to_ascii_lowercase();
        if parts.len() == 2
            && parts[0].eq_ignore_ascii_case("global")
            && self.has(Capability::Include)
        {
            let l = parts[1].to_ascii_lowercase();
            return Ok(VarRef::Global(self.global_index(&l)));
        }
        if parts.len() > 1 && parts[0].eq_ignore_ascii_case("env") {
            return err(
                pos,
                format!("cannot assign to the environment variable \"{name}\""),
            );
        }
        if parts.len() > 1 {
            return err(
                pos,
                format!(
                    "cannot assign to the variable \"{name}\": unknown namespace '{}'",
                    parts[0]
                ),
            );
        }
        if let Some(&g) = self.declared_globals.get(&lower) {
            return Ok(VarRef::Global(g));
        }
        if let Some(&l) = self.locals.get(&lower) {
            return Ok(VarRef::Local(l));
        }
        if self.locals.len() >= self.opts.limits.max_variables {
            // Reported once: every later new variable is over the limit too.
            if self
                .errors
                .iter()
                .any(|e| e.message.starts_with("too many variables"))
            {
                return Ok(VarRef::Local(0));
            }
            return err(
                pos,
                format!(
                    "too many variables (the limit is {})",
                    self.opts.limits.max_variables
                ),
            );
        }
        let n = self.locals.len() as u32;
        self.locals.insert(lower, n);
        Ok(VarRef::Local(n))
    }

    fn global_index(&mut self, lower: &str) -> u32 {
        if let Some(i) = self.globals.iter().position(|g| &**g == lower) {
            return i as u32;
        }
        self.globals.push(lower.into());
        (self.globals.len() - 1) as u32
    }

    fn list(&mut self, values: &[std::borrow::Cow<'_, str>], pos: Position) -> Res<StrList> {
        values
            .iter()
            .map(|v| self.value(v, pos))
            .collect::<Res<Vec<_>>>()
            .map(Vec::into_boxed_slice)
    }

    // ---- tests ----

    fn test(&mut self, t: &TestNode<'_>) -> Res<()> {
        match &*t.name {
            "not" => {
                no_args(t)?;
                if t.tests.len() != 1 || t.test_list {
                    return err(t.pos, "'not' needs exactly one test");
                }
                self.test(&t.tests[0])?;
                self.emit(Instr::Not, t.pos);
                Ok(())
            }
            "anyof" | "allof" => {
                no_args(t)?;
                if !t.test_list {
                    return err(
                        t.pos,
                        format!("'{}' needs a test list in parentheses", t.name),
                    );
                }
                let when = t.name == "anyof";
                let mut jumps = Vec::new();
                for (k, sub) in t.tests.iter().enumerate() {
                    self.test(sub)?;
                    if k + 1 < t.tests.len() {
                        jumps.push(self.emit(Instr::JumpIf { target: 0, when }, sub.pos));
                    }
                }
                let here = self.here();
                for j in jumps {
                    self.patch(j, here);
                }
                Ok(())
            }
            _ => {
                if let Some(sub) = t.tests.first() {
                    // Its own arguments are checked as if the sub-test were not there; the
                    // sub-test is most likely a typo (a tag without its ':'), not a test.
                    let bare = TestNode {
                        tests: Vec::new(),
                        test_list: false,
                        ..t.clone()
                    };
                    let own = self.leaf_test(&bare);
                    // An unknown test is just that.
                    if !TEST_NAMES.contains(&&*t.name) {
                        return own
                            .and_then(|_| err(sub.pos, spurious_test(&t.name, "test", &sub.name)));
                    }
                    if let Err(e) = own {
                        self.errors.push(e);
                    }
                    return err(sub.pos, spurious_test(&t.name, "test", &sub.name));
                }
                let test = self.leaf_test(t)?;
                self.emit(Instr::Test(Box::new(test)), t.pos);
                Ok(())
            }
        }
    }

    /// [`tags_with`](Self::tags_with) for a command or test that takes no tagged argument
    /// at all, only positional ones.
    fn plain_args<'n, 'a>(
        &mut self,
        t_name: &'n str,
        kind: &'static str,
        pos: Position,
        args: &'n [Arg<'a>],
        common: &mut Common,
    ) -> Res<Positional<'n, 'a>> {
        self.tags_with(
            t_name,
            kind,
            pos,
            args,
            Accept::default(),
            common,
            &mut |_, _, _, _| Ok(false),
        )
    }

    fn tags_with<'n, 'a>(
        &mut self,
        t_name: &'n str,
        kind: &'static str,
        pos: Position,
        args: &'n [Arg<'a>],
        accept: Accept,
        common: &mut Common,
        extra: &mut dyn FnMut(&mut Self, &mut Args<'n, 'a>, &str, Position) -> Res<bool>,
    ) -> Res<Positional<'n, 'a>> {
        self.positional(t_name, kind, pos, args, &mut |s, a, tag, p| {
            if s.common_tag(common, accept, a, tag, p)? || extra(s, a, tag, p)? {
                Ok(())
            } else {
                err(
                    p,
                    format!("unknown tagged argument ':{tag}' for the {t_name} {kind}{FIRST_USE}"),
                )
            }
        })
    }

    fn check_index(c: &Common) -> Res<Option<Index>> {
        if c.last && c.index.is_none() {
            return err(
                c.last_pos.unwrap_or(Position {
                    line: 1,
                    column: 1,
                    offset: 0,
                }),
                "the :last tag cannot be specified without the :index tag",
            );
        }
        Ok(c.index.map(|n| Index { n, last: c.last }))
    }

    fn check_mime(&self, c: &Common, pos: Position) -> Res<()> {
        if c.mime.anychild && !c.mime.mime {
            return err(pos, "':anychild' needs ':mime'");
        }
        if !matches!(c.mime.option, MimeOption::None) && !c.mime.mime {
            return err(
                c.mime_option_pos.unwrap_or(pos),
                "the options ':type', ':subtype', ':contenttype' and ':param' need ':mime'",
            );
        }
        Ok(())
    }

    fn header_names(
        &mut self,
        values: &[std::borrow::Cow<'_, str>],
        pos: Position,
    ) -> Res<StrList> {
        for v in values {
            if v.ends_with(':') && !v.contains("${") {
                self.warnings.push(Diagnostic {
                    pos,
                    message: format!("the header name \"{v}\" ends with ':' and can never match"),
                });
            }
        }
        self.list(values, pos)
    }

    fn leaf_test(&mut self, t: &TestNode<'_>) -> Res<Test> {
        let mut c = Common::default();
        let name: &str = &t.name;
        let pos = t.pos;
        let none = &mut |_: &mut Self, _: &mut Args<'_, '_>, _: &str, _: Position| Ok(false);
        match name {
            "true" | "false" => {
                no_args(t)?;
                Ok(if name == "true" {
                    Test::True
                } else {
                    Test::False
                })
            }
            "header" => {
                let acc = Accept {
                    index: true,
                    mime: true,
                    mime_options: true,
                    anychild: true,
                    ..MATCHING
                };
                let p = self.tags_with(name, "test", pos, &t.args, acc, &mut c, none)?;
                p.expect_count(&["header names", "key list"])?;
                let (n, np) = p.list(0, "header names")?;
                let names = self.header_names(n, np)?;
                let (k, kp) = p.list(1, "key list")?;
                let keys = self.list(k, kp)?;
                self.check_mime(&c, pos)?;
                let index = Self::check_index(&c)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::Header {
                    names,
                    keys,
                    mt,
                    index,
                    mime: c.mime,
                })
            }
            "address" => {
                let acc = Accept {
                    address_part: true,
                    index: true,
                    mime: true,
                    anychild: true,
                    ..MATCHING
                };
                let p = self.tags_with(name, "test", pos, &t.args, acc, &mut c, none)?;
                p.expect_count(&["header list", "key list"])?;
                let (n, np) = p.list(0, "header list")?;
                for h in n.iter() {
                    if !h.contains("${") && !is_address_header(h) && !c.mime.mime {
                        return err(
                            np,
                            format!(
                                "the header '{h}' is not allowed in the address test: it does not contain addresses (address headers are From, To, Cc, ...)"
                            ),
                        );
                    }
                }
                let names = self.header_names(n, np)?;
                let (k, kp) = p.list(1, "key list")?;
                let keys = self.list(k, kp)?;
                self.check_mime(&c, pos)?;
                let index = Self::check_index(&c)?;
                let part = c.address_part.unwrap_or(AddressPart::All);
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::Address {
                    names,
                    keys,
                    mt,
                    part,
                    index,
                    mime: c.mime,
                })
            }
            "envelope" => {
                self.need(Capability::Envelope, "the test 'envelope'", pos)?;
                let acc = Accept {
                    address_part: true,
                    ..MATCHING
                };
                let p = self.tags_with(name, "test", pos, &t.args, acc, &mut c, none)?;
                p.expect_count(&["envelope part", "key list"])?;
                let (n, np) = p.list(0, "envelope part")?;
                for part in n.iter() {
                    if !part.contains("${")
                        && !matches!(part.to_ascii_lowercase().as_str(), "from" | "to" | "auth")
                    {
                        return err(
                            np,
                            format!(
                                "unknown envelope part \"{part}\" (expected \"from\", \"to\" or \"auth\")"
                            ),
                        );
                    }
                }
                let parts = self.list(n, np)?;
                let (k, kp) = p.list(1, "key list")?;
                let keys = self.list(k, kp)?;
                let part = c.address_part.unwrap_or(AddressPart::All);
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::Envelope {
                    parts,
                    keys,
                    mt,
                    part,
                })
            }
            "exists" => {
                let acc = Accept {
                    mime: true,
                    anychild: true,
                    ..Accept::default()
                };
                let p = self.tags_with(name, "test", pos, &t.args, acc, &mut c, none)?;
                p.expect_count(&["header names"])?;
                let (n, np) = p.list(0, "header names")?;
                let names = self.header_names(n, np)?;
                self.check_mime(&c, pos)?;
                Ok(Test::Exists {
                    names,
                    mime: c.mime,
                })
            }
            "size" => {
                let mut over = None;
                let p =
                    self.positional(name, "test", pos, &t.args, &mut |_, _, tag, tp| match tag {
                        "over" | "under" if over.is_none() => {
                            over = Some(tag == "over");
                            Ok(())
                        }
                        "over" | "under" => {
                            err(tp, "the test 'size' takes only one of ':over' and ':under'")
                        }
                        _ => err(
                            tp,
                            format!(
                                "unknown tagged argument ':{tag}' for the size test{FIRST_USE}"
                            ),
                        ),
                    })?;
                let Some(over) = over else {
                    return err(pos, "the test 'size' needs ':over' or ':under'");
                };
                p.expect_count(&["limit"])?;
                let (limit, _) = p.number(0, "limit")?;
                Ok(Test::Size { over, limit })
            }
            "body" => {
                self.need(Capability::Body, "the test 'body'", pos)?;
                let mut transform = None;
                let p = self.tags_with(
                    name,
                    "test",
                    pos,
                    &t.args,
                    MATCHING,
                    &mut c,
                    &mut |s, a, tag, tp| {
                        let tr = match tag {
                            "raw" => BodyTransform::Raw,
                            "text" => BodyTransform::Text,
                            "content" => {
                                let (l, lp) = a.tag_list(tag, tp)?;
                                BodyTransform::Content(s.list(l, lp)?)
                            }
                            _ => return Ok(false),
                        };
                        if transform.is_some() {
                            return err(
                                tp,
                                "the test 'body' takes only one of ':raw', ':content' and ':text'",
                            );
                        }
                        transform = Some(tr);
                        Ok(true)
                    },
                )?;
                p.expect_count(&["key list"])?;
                let (k, kp) = p.list(0, "key list")?;
                let keys = self.list(k, kp)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::Body {
                    transform: transform.unwrap_or(BodyTransform::Text),
                    keys,
                    mt,
                })
            }
            "date" | "currentdate" => {
                self.need(Capability::Date, &format!("the test '{name}'"), pos)?;
                let acc = Accept {
                    zone: true,
                    index: name == "date",
                    ..MATCHING
                };
                let p = self.tags_with(name, "test", pos, &t.args, acc, &mut c, none)?;
                let is_date = name == "date";
                if is_date {
                    p.expect_count(&["header name", "date part", "key list"])?;
                } else {
                    p.expect_count(&["date part", "key list"])?;
                }
                let off = usize::from(is_date);
                let header = if is_date {
                    let (h, hp) = p.string(0, "header name")?;
                    Some(self.value(h, hp)?)
                } else {
                    None
                };
                let (dp, dpp) = p.string(off, "date part")?;
                if !dp.contains("${") && DatePart::from_name(dp).is_none() {
                    return err(dpp, format!("unknown date part \"{dp}\""));
                }
                let part = self.value(dp, dpp)?;
                let (k, kp) = p.list(off + 1, "key list")?;
                let keys = self.list(k, kp)?;
                let index = Self::check_index(&c)?;
                let zone = c.zone.take().unwrap_or(Zone::Local);
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(match header {
                    Some(header) => Test::Date {
                        header,
                        zone,
                        part,
                        keys,
                        mt,
                        index,
                    },
                    None => Test::CurrentDate {
                        zone,
                        part,
                        keys,
                        mt,
                    },
                })
            }
            "string" => {
                self.need(Capability::Variables, "the test 'string'", pos)?;
                let p = self.tags_with(name, "test", pos, &t.args, MATCHING, &mut c, none)?;
                p.expect_count(&["source", "key list"])?;
                let (s, sp) = p.list(0, "source")?;
                let sources = self.list(s, sp)?;
                let (k, kp) = p.list(1, "key list")?;
                let keys = self.list(k, kp)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::String { sources, keys, mt })
            }
            "hasflag" => {
                self.need(Capability::Imap4Flags, "the test 'hasflag'", pos)?;
                let p = self.tags_with(name, "test", pos, &t.args, MATCHING, &mut c, none)?;
                let (vars, keys) = match p.items.len() {
                    1 => (None, p.list(0, "flag list")?),
                    2 => {
                        self.need(Capability::Variables, "a variable list in 'hasflag'", pos)?;
                        let (v, vp) = p.list(0, "variable list")?;
                        let mut refs = Vec::new();
                        for name in v {
                            refs.push(self.var_target(name, vp)?);
                        }
                        (Some(refs.into_boxed_slice()), p.list(1, "flag list")?)
                    }
                    _ => {
                        p.expect_count(&["variable list", "flag list"])?;
                        unreachable!("expect_count fails")
                    }
                };
                let keys = self.list(keys.0, keys.1)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::HasFlag { vars, keys, mt })
            }
            "mailboxexists" => {
                self.need(Capability::Mailbox, "the test 'mailboxexists'", pos)?;
                let p = self.plain_args(name, "test", pos, &t.args, &mut c)?;
                p.expect_count(&["mailbox names"])?;
                let (l, lp) = p.list(0, "mailbox names")?;
                Ok(Test::MailboxExists(self.list(l, lp)?))
            }
            "metadata" | "servermetadata" => {
                let cap = if name == "metadata" {
                    Capability::MboxMetadata
                } else {
                    Capability::ServerMetadata
                };
                self.need(cap, &format!("the test '{name}'"), pos)?;
                let p = self.tags_with(name, "test", pos, &t.args, MATCHING, &mut c, none)?;
                let mbox = name == "metadata";
                if mbox {
                    p.expect_count(&["mailbox", "annotation name", "key list"])?;
                } else {
                    p.expect_count(&["annotation name", "key list"])?;
                }
                let off = usize::from(mbox);
                let mailbox = if mbox {
                    let (m, mp) = p.string(0, "mailbox")?;
                    Some(self.value(m, mp)?)
                } else {
                    None
                };
                let (a, ap) = p.string(off, "annotation name")?;
                let annotation = self.value(a, ap)?;
                let (k, kp) = p.list(off + 1, "key list")?;
                let keys = self.list(k, kp)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::Metadata {
                    mailbox,
                    annotation,
                    keys,
                    mt,
                })
            }
            "metadataexists" | "servermetadataexists" => {
                let mbox = name == "metadataexists";
                let cap = if mbox {
                    Capability::MboxMetadata
                } else {
                    Capability::ServerMetadata
                };
                self.need(cap, &format!("the test '{name}'"), pos)?;
                let p = self.plain_args(name, "test", pos, &t.args, &mut c)?;
                if mbox {
                    p.expect_count(&["mailbox", "annotation names"])?;
                } else {
                    p.expect_count(&["annotation names"])?;
                }
                let mailbox = if mbox {
                    let (m, mp) = p.string(0, "mailbox")?;
                    Some(self.value(m, mp)?)
                } else {
                    None
                };
                let (l, lp) = p.list(usize::from(mbox), "annotation names")?;
                Ok(Test::MetadataExists {
                    mailbox,
                    annotations: self.list(l, lp)?,
                })
            }
            "specialuse_exists" => {
                self.need(Capability::SpecialUse, "the test 'specialuse_exists'", pos)?;
                let p = self.plain_args(name, "test", pos, &t.args, &mut c)?;
                let (mailbox, uses) = match p.items.len() {
                    1 => (None, p.list(0, "special-use flags")?),
                    _ => {
                        p.expect_count(&["mailbox", "special-use flags"])?;
                        let (m, mp) = p.string(0, "mailbox")?;
                        (Some(self.value(m, mp)?), p.list(1, "special-use flags")?)
                    }
                };
                for u in uses.0 {
                    if !u.contains("${") && !is_special_use(u) {
                        return err(
                            uses.1,
                            format!(
                                "invalid special-use flag \"{u}\" (it must start with '\\\\' and be an atom)"
                            ),
                        );
                    }
                }
                Ok(Test::SpecialUseExists {
                    mailbox,
                    uses: self.list(uses.0, uses.1)?,
                })
            }
            "environment" => {
                self.need(Capability::Environment, "the test 'environment'", pos)?;
                let p = self.tags_with(name, "test", pos, &t.args, MATCHING, &mut c, none)?;
                p.expect_count(&["name", "key list"])?;
                let (n, np) = p.string(0, "name")?;
                let name_v = self.value(n, np)?;
                let (k, kp) = p.list(1, "key list")?;
                let keys = self.list(k, kp)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::Environment {
                    name: name_v,
                    keys,
                    mt,
                })
            }
            "duplicate" => {
                self.need(Capability::Duplicate, "the test 'duplicate'", pos)?;
                let (mut handle, mut header, mut uniqueid, mut seconds, mut last) =
                    (None, None, None, None, false);
                let p = self.positional(name, "test", pos, &t.args, &mut |s, a, tag, tp| {
                    match tag {
                        "handle" if handle.is_none() => {
                            let (v, vp) = a.tag_string(tag, tp)?;
                            handle = Some(s.value(v, vp)?);
                        }
                        "header" | "uniqueid" if header.is_none() && uniqueid.is_none() => {
                            let (v, vp) = a.tag_string(tag, tp)?;
                            if tag == "header" {
                                if !v.contains("${") && !is_field_name(v) {
                                    return err(vp, format!("invalid header name \"{v}\""));
                                }
                                header = Some(s.value(v, vp)?);
                            } else {
                                uniqueid = Some(s.value(v, vp)?);
                            }
                        }
                        "header" | "uniqueid" => {
                            return err(
                                tp,
                                "the test 'duplicate' takes only one of ':header' and ':uniqueid'",
                            );
                        }
                        "seconds" if seconds.is_none() => seconds = Some(a.tag_number(tag, tp)?.0),
                        "last" => last = true,
                        _ => {
                            return err(
                                tp,
                                format!("the test 'duplicate' does not take the tag ':{tag}' here"),
                            );
                        }
                    }
                    Ok(())
                })?;
                p.expect_count(&[])?;
                Ok(Test::Duplicate {
                    handle,
                    header,
                    uniqueid,
                    seconds,
                    last,
                })
            }
            "valid_ext_list" => {
                self.need(Capability::ExtLists, "the test 'valid_ext_list'", pos)?;
                let p = self.plain_args(name, "test", pos, &t.args, &mut c)?;
                p.expect_count(&["list names"])?;
                let (l, lp) = p.list(0, "list names")?;
                Ok(Test::ValidExtList(self.list(l, lp)?))
            }
            "valid_notify_method" => {
                self.need(Capability::Enotify, "the test 'valid_notify_method'", pos)?;
                let p = self.plain_args(name, "test", pos, &t.args, &mut c)?;
                p.expect_count(&["notification URIs"])?;
                let (l, lp) = p.list(0, "notification URIs")?;
                Ok(Test::ValidNotifyMethod(self.list(l, lp)?))
            }
            "notify_method_capability" => {
                self.need(
                    Capability::Enotify,
                    "the test 'notify_method_capability'",
                    pos,
                )?;
                let p = self.tags_with(name, "test", pos, &t.args, MATCHING, &mut c, none)?;
                p.expect_count(&["notification URI", "capability", "key list"])?;
                let (u, up) = p.string(0, "notification URI")?;
                let uri = self.value(u, up)?;
                let (cap, cp) = p.string(1, "capability")?;
                let capability = self.value(cap, cp)?;
                let (k, kp) = p.list(2, "key list")?;
                let keys = self.list(k, kp)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(Test::NotifyMethodCapability {
                    uri,
                    capability,
                    keys,
                    mt,
                })
            }
            "spamtest" | "virustest" => {
                let spam = name == "spamtest";
                self.need(
                    if spam {
                        Capability::SpamTest
                    } else {
                        Capability::VirusTest
                    },
                    &format!("the test '{name}'"),
                    pos,
                )?;
                let mut percent = false;
                let plus = self.has(Capability::SpamTestPlus);
                let p = self.tags_with(
                    name,
                    "test",
                    pos,
                    &t.args,
                    MATCHING,
                    &mut c,
                    &mut |_, _, tag, _| {
                        if tag == "percent" && spam && plus {
                            percent = true;
                            return Ok(true);
                        }
                        Ok(false)
                    },
                )?;
                p.expect_count(&["value"])?;
                let (k, kp) = p.list(0, "value")?;
                let keys = self.list(k, kp)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                Ok(if spam {
                    Test::SpamTest { percent, keys, mt }
                } else {
                    Test::VirusTest { keys, mt }
                })
            }
            "ihave" => {
                self.need(Capability::Ihave, "the test 'ihave'", pos)?;
                // Outside the direct test of an `if`: a constant.
                Ok(if self.ihave_caps(t)?.is_some() {
                    Test::True
                } else {
                    Test::False
                })
            }
            "filter" | "execute" => self.program_test(name, &t.args, pos),
            _ if self.has(Capability::Testsuite) && name.starts_with("test_") => self.suite_test(t),
            _ => err(pos, format!("unknown test '{name}'")),
        }
    }

    // ---- commands ----

    fn command(&mut self, cmd: &CommandNode<'_>) -> Res<()> {
        let name: &str = &cmd.name;
        let structural = if name == "foreverypart" || name == "test" {
            None
        } else {
            no_tests(cmd).and_then(|()| no_block(cmd)).err()
        };
        let Some(s) = structural else {
            return self.command_inner(cmd);
        };
        match self.command_inner(cmd) {
            Err(e)
                if e.message.starts_with("unknown command")
                    || e.message.starts_with("cannot use test") =>
            {
                Err(e)
            }
            // Unexpected arguments and an unexpected test/block are two problems.
            Err(e)
                if e.message.contains("takes no arguments")
                    || e.message.contains("found an extra") =>
            {
                self.errors.push(e);
                Err(s)
            }
            // A missing argument is most likely the sub-test or block (a missing ';').
            Err(e) if !(e.message.contains(" requires ") && e.message.ends_with(" specified")) => {
                self.errors.push(s);
                Err(e)
            }
            _ => Err(s),
        }
    }

    fn command_inner(&mut self, cmd: &CommandNode<'_>) -> Res<()> {
        let pos = cmd.pos;
        let name: &str = &cmd.name;
        let mut c = Common::default();
        let instr = match name {
            "stop" => {
                self.no_args_cmd(cmd)?;
                Instr::Stop
            }
            "keep" => {
                let mut flags = None;
                let p = self.tags_with(
                    name,
                    "command",
                    pos,
                    &cmd.args,
                    Accept::default(),
                    &mut c,
                    &mut |s, a, tag, tp| {
                        if tag == "flags" && s.has(Capability::Imap4Flags) {
                            let (l, lp) = a.tag_list(tag, tp)?;
                            flags = Some(s.list(l, lp)?);
                            return Ok(true);
                        }
                        Ok(false)
                    },
                )?;
                p.expect_count(&[])?;
                Instr::Keep { flags }
            }
            "discard" => {
                self.no_args_cmd(cmd)?;
                Instr::Discard
            }
            "redirect" => {
                let mut copy = false;
                let p = self.tags_with(
                    name,
                    "command",
                    pos,
                    &cmd.args,
                    Accept::default(),
                    &mut c,
                    &mut |s, _, tag, tp| {
                        if tag == "copy" && s.has(Capability::Copy) {
                            copy = true;
                            return Ok(true);
                        }
                        // RFC 6134's `redirect :list` would make this crate expand a
                        // list into recipients; like Pigeonhole, it is refused.
                        if tag == "list" && s.has(Capability::ExtLists) {
                            return err(
                                tp,
                                "redirect :list (RFC 6134) is not supported: redirect to the list's address instead",
                            );
                        }
                        Ok(false)
                    },
                )?;
                p.expect_count(&["address"])?;
                let (addr, ap) = p.string(0, "address")?;
                if !addr.contains("${") && crate::address::parse_redirect_address(addr).is_none() {
                    return err(ap, format!("invalid redirect address \"{addr}\""));
                }
                Instr::Redirect {
                    address: self.value(addr, ap)?,
                    copy,
                }
            }
            "fileinto" => {
                self.need(Capability::FileInto, "the command 'fileinto'", pos)?;
                let mut f = FileInto {
                    mailbox: Value::Const("".into()),
                    flags: None,
                    copy: false,
                    create: false,
                    special_use: None,
                };
                let p = self.tags_with(
                    name,
                    "command",
                    pos,
                    &cmd.args,
                    Accept::default(),
                    &mut c,
                    &mut |s, a, tag, tp| {
                        s.mailbox_tag(&mut f.flags, &mut f.create, &mut f.special_use, a, tag, tp)
                            .map(|handled| {
                                if handled {
                                    return true;
                                }
                                if tag == "copy" && s.has(Capability::Copy) {
                                    f.copy = true;
                                    return true;
                                }
                                false
                            })
                    },
                )?;
                p.expect_count(&["mailbox"])?;
                let (m, mp) = p.string(0, "mailbox")?;
                if self.has(Capability::EncodedCharacter) && m.contains("${") {
                    decode_encoded_characters(m, true).map_err(|e| Diagnostic {
                        pos: mp,
                        message: format!("invalid mailbox name: {e}"),
                    })?;
                }
                f.mailbox = self.value(m, mp)?;
                Instr::FileInto(Box::new(f))
            }
            "reject" | "ereject" => {
                self.need(
                    if name == "reject" {
                        Capability::Reject
                    } else {
                        Capability::Ereject
                    },
                    &format!("the command '{name}'"),
                    pos,
                )?;
                let p = self.plain_args(name, "command", pos, &cmd.args, &mut c)?;
                p.expect_count(&["reason"])?;
                let (r, rp) = p.string(0, "reason")?;
                Instr::Reject {
                    reason: self.value(r, rp)?,
                    ereject: name == "ereject",
                }
            }
            "vacation" => {
                self.need(Capability::Vacation, "the command 'vacation'", pos)?;
                self.vacation(cmd)?
            }
            "set" => {
                self.need(Capability::Variables, "the command 'set'", pos)?;
                let mut mods = Modifiers::default();
                let p =
                    self.positional(name, "command", pos, &cmd.args, &mut |s, _, tag, tp| {
                        s.modifier(&mut mods, tag, tp)
                    })?;
                p.expect_count(&["name", "value"])?;
                let (n, np) = p.string(0, "name")?;
                let (v, vp) = p.string(1, "value")?;
                let value = self.value(v, vp)?;
                let var = self.var_target(n, np)?;
                Instr::Set { var, value, mods }
            }
            "setflag" | "addflag" | "removeflag" => {
                self.need(
                    Capability::Imap4Flags,
                    &format!("the command '{name}'"),
                    pos,
                )?;
                let p = self.plain_args(name, "command", pos, &cmd.args, &mut c)?;
                let op = match name {
                    "setflag" => FlagOp::Set,
                    "addflag" => FlagOp::Add,
                    _ => FlagOp::Remove,
                };
                let (var, flags) = match p.items.len() {
                    1 => (None, p.list(0, "flag list")?),
                    _ => {
                        p.expect_count(&["variable name", "flag list"])?;
                        self.need(
                            Capability::Variables,
                            &format!("a variable in '{name}'"),
                            pos,
                        )?;
                        let (v, vp) = p.string(0, "variable name")?;
                        (Some(self.var_target(v, vp)?), p.list(1, "flag list")?)
                    }
                };
                Instr::Flags {
                    op,
                    var,
                    flags: self.list(flags.0, flags.1)?,
                }
            }
            "include" => {
                self.need(Capability::Include, "the command 'include'", pos)?;
                let (mut location, mut once, mut optional) = (None, false, false);
                let p = self.positional(name, "command", pos, &cmd.args, &mut |_, _, tag, tp| {
                    match tag {
                        "personal" | "global" if location.is_none() => {
                            location = Some(if tag == "global" { Location::Global } else { Location::Personal });
                        }
                        "personal" | "global" => return err(tp, "the command 'include' takes only one of ':personal' and ':global'"),
                        "once" => once = true,
                        "optional" => optional = true,
                        _ => return err(tp, format!("unknown tagged argument ':{tag}' for the include command{FIRST_USE}")),
                    }
                    Ok(())
                })?;
                p.expect_count(&["script name"])?;
                let (n, np) = p.string(0, "script name")?;
                if n.is_empty() || n.contains('/') || n.contains('\0') {
                    return err(np, format!("invalid script name \"{n}\" for include"));
                }
                if self.has(Capability::Variables) && n.contains("${") {
                    return err(
                        np,
                        "the script name of 'include' must be a constant; variables are not allowed here",
                    );
                }
                let location = location.unwrap_or(Location::Personal);
                if let Some(hook) = self.inc.as_deref_mut() {
                    let loc = match location {
                        Location::Personal => crate::runtime::ScriptLocation::Personal,
                        Location::Global => crate::runtime::ScriptLocation::Global,
                    };
                    let errors = hook.include(n, loc, once, optional, pos, self.opts);
                    self.errors.extend(errors);
                }
                Instr::Include {
                    location,
                    once,
                    optional,
                    name: Value::Const(n.into()),
                }
            }
            "return" => {
                self.need(Capability::Include, "the command 'return'", pos)?;
                self.no_args_cmd(cmd)?;
                Instr::Return
            }
            "global" => {
                self.need(Capability::Include, "the command 'global'", pos)?;
                self.need(Capability::Variables, "the command 'global'", pos)?;
                let p = self.plain_args(name, "command", pos, &cmd.args, &mut c)?;
                p.expect_count(&["variable names"])?;
                let (l, lp) = p.list(0, "variable names")?;
                for v in l {
                    if !is_identifier(v) {
                        return err(lp, format!("invalid global variable name \"{v}\""));
                    }
                    let lower = v.to_ascii_lowercase();
                    if self.locals.contains_key(&lower) {
                        return err(
                            lp,
                            format!(
                                "the variable \"{v}\" was used as a local variable before being declared global"
                            ),
                        );
                    }
                    let g = self.global_index(&lower);
                    self.declared_globals.insert(lower, g);
                }
                return Ok(());
            }
            "addheader" => {
                self.need(Capability::EditHeader, "the command 'addheader'", pos)?;
                let mut last = false;
                let p =
                    self.positional(name, "command", pos, &cmd.args, &mut |_, _, tag, tp| {
                        if tag == "last" {
                            last = true;
                            Ok(())
                        } else {
                            err(
                                tp,
                                format!("unknown tagged argument ':{tag}' for the addheader command{FIRST_USE}"),
                            )
                        }
                    })?;
                p.expect_count(&["field name", "value"])?;
                let (n, np) = p.string(0, "field name")?;
                if !n.contains("${") && !is_field_name(n) {
                    return err(np, format!("the header field name \"{n}\" is invalid"));
                }
                let (v, vp) = p.string(1, "value")?;
                let value = self.value(v, vp)?;
                // NUL never belongs in a header field (RFC 5322 §2.2, RFC 5293 §4).
                if let Value::Const(c) = &value
                    && c.contains('\0')
                {
                    return err(
                        vp,
                        format!(
                            "the header value \"{}\" is invalid (it contains NUL)",
                            c.replace('\0', "\\0")
                        ),
                    );
                }
                if let Value::Const(c) = &value {
                    // Control characters other than line breaks and tabs do not belong in
                    // a field body (RFC 5322 §2.2: VCHAR and WSP; line breaks are folded).
                    if let Some(bad) = c.chars().find(|ch| {
                        ch.is_ascii_control() && !matches!(ch, '\r' | '\n' | '\t' | '\x7f')
                    }) {
                        return err(
                            vp,
                            format!(
                                "the header value \"{}\" is invalid (it contains the control character {:?})",
                                c.escape_debug(),
                                bad
                            ),
                        );
                    }
                    if c.len() > self.opts.max_header_size {
                        return err(
                            vp,
                            format!(
                                "the header value is {} bytes, more than the limit of {} bytes",
                                c.len(),
                                self.opts.max_header_size
                            ),
                        );
                    }
                }
                Instr::AddHeader {
                    last,
                    name: self.value(n, np)?,
                    value,
                }
            }
            "deleteheader" => {
                self.need(Capability::EditHeader, "the command 'deleteheader'", pos)?;
                let acc = Accept {
                    index: true,
                    ..MATCHING
                };
                let p = self.tags_with(
                    name,
                    "command",
                    pos,
                    &cmd.args,
                    acc,
                    &mut c,
                    &mut |s, _, tag, tp| {
                        // deleteheader has :index/:last without requiring "index" (RFC 5293 §5).
                        if tag == "last" {
                            return Ok(false);
                        }
                        let _ = (s, tp);
                        Ok(false)
                    },
                )?;
                if p.items.is_empty() || p.items.len() > 2 {
                    p.expect_count(&["field name", "value patterns"])?;
                }
                let index = Self::check_index(&c)?;
                let (n, np) = p.string(0, "field name")?;
                if !n.contains("${") && !is_field_name(n) {
                    return err(np, format!("the header field name \"{n}\" is invalid"));
                }
                let patterns = if p.items.len() == 2 {
                    let (l, lp) = p.list(1, "value patterns")?;
                    Some(self.list(l, lp)?)
                } else {
                    None
                };
                let mt = self.finish_match(&mut c, patterns.as_deref().unwrap_or(&[]), name)?;
                Instr::DeleteHeader(Box::new(DeleteHeader {
                    index,
                    mt,
                    name: self.value(n, np)?,
                    patterns,
                }))
            }
            "notify" => {
                self.need(Capability::Enotify, "the command 'notify'", pos)?;
                self.notify(cmd)?
            }
            "foreverypart" => {
                self.need(Capability::ForEveryPart, "the command 'foreverypart'", pos)?;
                no_tests(cmd)?;
                let mut loop_name = None;
                let p =
                    self.positional(name, "command", pos, &cmd.args, &mut |_, a, tag, tp| {
                        if tag == "name" {
                            let (n, _) = a.tag_string(tag, tp)?;
                            loop_name = Some(n.to_string());
                            Ok(())
                        } else {
                            err(
                                tp,
                                format!(
                                    "unknown tagged argument ':{tag}' for the foreverypart command{FIRST_USE}"
                                ),
                            )
                        }
                    })?;
                p.expect_count(&[])?;
                let Some(block) = &cmd.block else {
                    return err(cmd.end, "'foreverypart' needs a block");
                };
                if self.loops.len() >= self.opts.limits.max_loop_depth {
                    return err(
                        pos,
                        format!(
                            "'foreverypart' loops are nested deeper than the limit of {}",
                            self.opts.limits.max_loop_depth
                        ),
                    );
                }
                let start = self.emit(Instr::ForEveryPart { end: 0 }, pos);
                self.loops.push((loop_name, Vec::new()));
                self.block(block, false);
                self.emit(
                    Instr::LoopNext {
                        start: start as u32,
                    },
                    cmd.end,
                );
                let (_, breaks) = self.loops.pop().expect("pushed");
                let end = self.here();
                self.patch(start, end);
                for b in breaks {
                    self.patch(b, end);
                }
                return Ok(());
            }
            "break" => {
                self.need(Capability::ForEveryPart, "the command 'break'", pos)?;
                let mut loop_name = None;
                let p =
                    self.positional(name, "command", pos, &cmd.args, &mut |_, a, tag, tp| {
                        if tag == "name" {
                            loop_name = Some(a.tag_string(tag, tp)?.0.to_string());
                            Ok(())
                        } else {
                            err(
                                tp,
                                format!("unknown tagged argument ':{tag}' for the break command{FIRST_USE}"),
                            )
                        }
                    })?;
                p.expect_count(&[])?;
                let found = match &loop_name {
                    None => self.loops.len().checked_sub(1),
                    Some(n) => self
                        .loops
                        .iter()
                        .rposition(|(l, _)| l.as_deref() == Some(n.as_str())),
                };
                let Some(k) = found else {
                    return err(
                        pos,
                        match loop_name {
                            Some(n) => format!(
                                "'break :name \"{n}\"' is not inside a 'foreverypart' loop of that name"
                            ),
                            None => "'break' is only allowed inside a 'foreverypart' loop".into(),
                        },
                    );
                };
                let depth = (self.loops.len() - k) as u32;
                let at = self.emit(Instr::Break { depth, target: 0 }, pos);
                self.loops[k].1.push(at);
                return Ok(());
            }
            "extracttext" => {
                self.need(Capability::ExtractText, "the command 'extracttext'", pos)?;
                self.need(Capability::Variables, "the command 'extracttext'", pos)?;
                if self.loops.is_empty() {
                    return err(
                        pos,
                        "'extracttext' is only allowed inside a 'foreverypart' loop",
                    );
                }
                let mut mods = Modifiers::default();
                let mut first = None;
                let p =
                    self.positional(name, "command", pos, &cmd.args, &mut |s, a, tag, tp| {
                        if tag == "first" {
                            first = Some(a.tag_number(tag, tp)?.0);
                            Ok(())
                        } else {
                            s.modifier(&mut mods, tag, tp)
                        }
                    })?;
                p.expect_count(&["variable name"])?;
                let (v, vp) = p.string(0, "variable name")?;
                Instr::ExtractText {
                    first,
                    var: self.var_target(v, vp)?,
                    mods,
                }
            }
            "replace" => {
                self.need(Capability::Replace, "the command 'replace'", pos)?;
                let (mut mime, mut subject, mut from) = (false, None, None);
                let p =
                    self.positional(name, "command", pos, &cmd.args, &mut |s, a, tag, tp| {
                        match tag {
                            "mime" => mime = true,
                            "subject" => {
                                let (v, vp) = a.tag_string(tag, tp)?;
                                subject = Some(s.value(v, vp)?);
                            }
                            "from" => {
                                let (v, vp) = a.tag_string(tag, tp)?;
                                from = Some(s.value(v, vp)?);
                            }
                            _ => {
                                return err(
                                    tp,
                                    format!("unknown tagged argument ':{tag}' for the replace command{FIRST_USE}"),
                                );
                            }
                        }
                        Ok(())
                    })?;
                p.expect_count(&["replacement"])?;
                let (r, rp) = p.string(0, "replacement")?;
                Instr::Replace {
                    mime,
                    subject,
                    from,
                    text: self.value(r, rp)?,
                }
            }
            "enclose" => {
                self.need(Capability::Enclose, "the command 'enclose'", pos)?;
                let (mut subject, mut headers) = (None, None);
                let p =
                    self.positional(name, "command", pos, &cmd.args, &mut |s, a, tag, tp| {
                        match tag {
                            "subject" => {
                                let (v, vp) = a.tag_string(tag, tp)?;
                                subject = Some(s.value(v, vp)?);
                            }
                            "headers" => {
                                let (l, lp) = a.tag_list(tag, tp)?;
                                headers = Some(s.list(l, lp)?);
                            }
                            _ => {
                                return err(
                                    tp,
                                    format!("unknown tagged argument ':{tag}' for the enclose command{FIRST_USE}"),
                                );
                            }
                        }
                        Ok(())
                    })?;
                p.expect_count(&["text"])?;
                let (r, rp) = p.string(0, "text")?;
                Instr::Enclose {
                    subject,
                    headers,
                    text: self.value(r, rp)?,
                }
            }
            "debug_log" => {
                self.need(Capability::DovecotDebug, "the command 'debug_log'", pos)?;
                let p = self.plain_args(name, "command", pos, &cmd.args, &mut c)?;
                p.expect_count(&["message"])?;
                let (m, mp) = p.string(0, "message")?;
                Instr::DebugLog(self.value(m, mp)?)
            }
            "report" => {
                self.need(Capability::DovecotReport, "the command 'report'", pos)?;
                let mut headers_only = false;
                let p = self.tags_with(
                    name,
                    "command",
                    pos,
                    &cmd.args,
                    Accept::default(),
                    &mut c,
                    &mut |_, _, tag, _| {
                        if tag == "headers_only" {
                            headers_only = true;
                            return Ok(true);
                        }
                        Ok(false)
                    },
                )?;
                p.expect_count(&["feedback type", "message", "address"])?;
                let (ft, fp) = p.string(0, "feedback type")?;
                if !ft.contains("${") && parse_feedback_type(ft).is_none() {
                    return err(
                        fp,
                        format!(
                            "invalid feedback type \"{ft}\" (RFC 5965: a token such as \"abuse\", \"fraud\", \"virus\" or \"other\")"
                        ),
                    );
                }
                let (m, mp) = p.string(1, "message")?;
                let (addr, ap) = p.string(2, "address")?;
                if !addr.contains("${") && crate::address::parse_redirect_address(addr).is_none() {
                    return err(ap, format!("invalid report address \"{addr}\""));
                }
                Instr::Report {
                    headers_only,
                    feedback_type: self.value(ft, fp)?,
                    message: self.value(m, mp)?,
                    address: self.value(addr, ap)?,
                }
            }
            "error" => {
                self.need(Capability::Ihave, "the command 'error'", pos)?;
                let p = self.plain_args(name, "command", pos, &cmd.args, &mut c)?;
                p.expect_count(&["message"])?;
                let (m, mp) = p.string(0, "message")?;
                Instr::Error(self.value(m, mp)?)
            }
            "pipe" => self.pipe_command(name, &cmd.args, pos)?,
            "filter" | "execute" => Instr::Program(Box::new(
                self.program_call(name, "command", &cmd.args, pos)?,
            )),
            _ if self.has(Capability::Testsuite)
                && (name == "test" || name.starts_with("test_")) =>
            {
                return self.suite_command(cmd);
            }
            _ if TEST_NAMES.contains(&name) => {
                return err(pos, format!("cannot use test '{name}' as a command"));
            }
            _ => return err(pos, format!("unknown command '{name}'")),
        };
        self.emit(instr, pos);
        Ok(())
    }

    fn no_args_cmd(&self, cmd: &CommandNode<'_>) -> Res<()> {
        if let Some(a) = cmd.args.first() {
            return err(
                a.pos(),
                format!(
                    "the command '{}' takes no arguments, found {}",
                    &cmd.name,
                    a.describe()
                ),
            );
        }
        Ok(())
    }

    /// `:flags`, `:create`, `:specialuse` (shared by fileinto and :fcc).
    fn mailbox_tag(
        &mut self,
        flags: &mut Option<StrList>,
        create: &mut bool,
        special_use: &mut Option<Value>,
        a: &mut Args<'_, '_>,
        tag: &str,
        tp: Position,
    ) -> Res<bool> {
        match tag {
            "flags" if self.has(Capability::Imap4Flags) => {
                let (l, lp) = a.tag_list(tag, tp)?;
                *flags = Some(self.list(l, lp)?);
            }
            "create" if self.has(Capability::Mailbox) => *create = true,
            "specialuse" if self.has(Capability::SpecialUse) => {
                let (v, vp) = a.tag_string(tag, tp)?;
                if !v.contains("${") && !is_special_use(v) {
                    return err(vp, format!("invalid special-use flag \"{v}\""));
                }
                *special_use = Some(self.value(v, vp)?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn modifier(&mut self, m: &mut Modifiers, tag: &str, tp: Position) -> Res<()> {
        let slot = match tag {
            "lower" => &mut m.lower,
            "upper" => &mut m.upper,
            "lowerfirst" => &mut m.lowerfirst,
            "upperfirst" => &mut m.upperfirst,
            "quotewildcard" => &mut m.quotewildcard,
            "length" => &mut m.length,
            "quoteregex" if self.has(Capability::Regex) => &mut m.quoteregex,
            "encodeurl" if self.has(Capability::Enotify) => &mut m.encodeurl,
            _ => return err(tp, format!("unknown modifier ':{tag}'")),
        };
        if *slot {
            return err(tp, format!("the modifier ':{tag}' is given twice"));
        }
        *slot = true;
        // RFC 5229 §4.1: only one modifier of each precedence level.
        if (m.lower && m.upper) || (m.lowerfirst && m.upperfirst) {
            return err(
                tp,
                format!(
                    "the modifier ':{tag}' conflicts with another modifier of the same precedence"
                ),
            );
        }
        if u8::from(m.quotewildcard) + u8::from(m.quoteregex) + u8::from(m.encodeurl) > 1 {
            return err(
                tp,
                format!(
                    "the modifier ':{tag}' conflicts with another modifier of the same precedence"
                ),
            );
        }
        Ok(())
    }

    fn fcc_tags(
        &mut self,
        fcc: &mut Option<(Value, Option<StrList>, bool, Option<Value>)>,
        a: &mut Args<'_, '_>,
        tag: &str,
        tp: Position,
    ) -> Res<bool> {
        if !self.has(Capability::Fcc) {
            return Ok(false);
        }
        if tag == "fcc" {
            let (m, mp) = a.tag_string(tag, tp)?;
            let v = self.value(m, mp)?;
            fcc.get_or_insert_with(|| (Value::Const("".into()), None, false, None))
                .0 = v;
            return Ok(true);
        }
        let mut flags = None;
        let mut create = false;
        let mut su = None;
        if self.mailbox_tag(&mut flags, &mut create, &mut su, a, tag, tp)? {
            let f = fcc.get_or_insert_with(|| (Value::Const("".into()), None, false, None));
            if flags.is_some() {
                f.1 = flags;
            }
            f.2 |= create;
            if su.is_some() {
                f.3 = su;
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn vacation(&mut self, cmd: &CommandNode<'_>) -> Res<Instr> {
        let mut v = Vacation {
            period: None,
            period_in_days: true,
            subject: None,
            from: None,
            addresses: None,
            mime: false,
            handle: None,
            reason: Value::Const("".into()),
            fcc: None,
        };
        let mut fcc = None;
        let mut fcc_seen = false;
        let p = self.positional(
            &cmd.name,
            "command",
            cmd.pos,
            &cmd.args,
            &mut |s, a, tag, tp| {
                match tag {
                    "days" | "seconds" => {
                        if tag == "seconds" && !s.has(Capability::VacationSeconds) {
                            return err(
                                tp,
                                "the tag ':seconds' needs require \"vacation-seconds\"",
                            );
                        }
                        if v.period.is_some() {
                            return err(
                                tp,
                                "the command 'vacation' takes only one of ':days' and ':seconds'",
                            );
                        }
                        let (n, _) = a.tag_number(tag, tp)?;
                        v.period = Some(n);
                        v.period_in_days = tag == "days";
                    }
                    "subject" => {
                        let (x, xp) = a.tag_string(tag, tp)?;
                        v.subject = Some(s.value(x, xp)?);
                    }
                    "from" => {
                        let (x, xp) = a.tag_string(tag, tp)?;
                        if !x.contains("${") && crate::address::parse_mailbox_header(x).is_none() {
                            return err(xp, format!("invalid ':from' address \"{x}\""));
                        }
                        v.from = Some(s.value(x, xp)?);
                    }
                    "addresses" => {
                        let (l, lp) = a.tag_list(tag, tp)?;
                        v.addresses = Some(s.list(l, lp)?);
                    }
                    "mime" => v.mime = true,
                    "handle" => {
                        let (x, xp) = a.tag_string(tag, tp)?;
                        v.handle = Some(s.value(x, xp)?);
                    }
                    _ => {
                        if tag == "fcc" {
                            fcc_seen = true;
                        }
                        if !s.fcc_tags(&mut fcc, a, tag, tp)? {
                            return err(
                                tp,
                                format!("unknown tagged argument ':{tag}' for the vacation command{FIRST_USE}"),
                            );
                        }
                    }
                }
                Ok(())
            },
        )?;
        p.expect_count(&["reason"])?;
        let (r, rp) = p.string(0, "reason")?;
        v.reason = self.value(r, rp)?;
        if let Some((mailbox, flags, create, special_use)) = fcc {
            if !fcc_seen {
                return err(
                    cmd.pos,
                    "':flags', ':create' and ':specialuse' on 'vacation' need ':fcc'",
                );
            }
            v.fcc = Some(Fcc {
                mailbox,
                flags,
                create,
                special_use,
            });
        }
        Ok(Instr::Vacation(Box::new(v)))
    }

    fn notify(&mut self, cmd: &CommandNode<'_>) -> Res<Instr> {
        if !self.opts.allow_notify {
            return err(cmd.pos, "local policy prohibits the use of a notify action");
        }
        let mut n = Notify {
            from: None,
            importance: None,
            options: None,
            message: None,
            method: Value::Const("".into()),
            fcc: None,
        };
        let mut fcc = None;
        let mut fcc_seen = false;
        let p = self.positional(
            &cmd.name,
            "command",
            cmd.pos,
            &cmd.args,
            &mut |s, a, tag, tp| {
                match tag {
                    "from" => {
                        let (x, xp) = a.tag_string(tag, tp)?;
                        let from = s.value(x, xp)?;
                        // A constant is checked now; one built from variables when it runs.
                        if let Value::Const(c) = &from {
                            crate::notify::check_from(c)
                                .map_err(|message| Diagnostic { pos: xp, message })?;
                        }
                        n.from = Some(from);
                    }
                    "importance" => {
                        let (x, xp) = a.tag_string(tag, tp)?;
                        if !x.contains("${") && !matches!(x, "1" | "2" | "3") {
                            return err(
                                xp,
                                format!(
                                    "invalid ':importance' \"{x}\" (expected \"1\", \"2\" or \"3\")"
                                ),
                            );
                        }
                        n.importance = Some(s.value(x, xp)?);
                    }
                    "options" => {
                        let (l, lp) = a.tag_list(tag, tp)?;
                        for o in l.iter().filter(|o| !o.contains("${")) {
                            crate::notify::check_option(o)
                                .map_err(|message| Diagnostic { pos: lp, message })?;
                        }
                        n.options = Some(s.list(l, lp)?);
                    }
                    "message" => {
                        let (x, xp) = a.tag_string(tag, tp)?;
                        n.message = Some(s.value(x, xp)?);
                    }
                    _ => {
                        if tag == "fcc" {
                            fcc_seen = true;
                        }
                        if !s.fcc_tags(&mut fcc, a, tag, tp)? {
                            return err(
                                tp,
                                format!("unknown tagged argument ':{tag}' for the notify command{FIRST_USE}"),
                            );
                        }
                    }
                }
                Ok(())
            },
        )?;
        p.expect_count(&["method"])?;
        let (m, mp) = p.string(0, "method")?;
        if !m.contains("${") {
            crate::notify::check_method(m).map_err(|e| Diagnostic {
                pos: mp,
                message: e,
            })?;
        }
        n.method = self.value(m, mp)?;
        if let Some((mailbox, flags, create, special_use)) = fcc {
            if !fcc_seen {
                return err(
                    cmd.pos,
                    "':flags', ':create' and ':specialuse' on 'notify' need ':fcc'",
                );
            }
            n.fcc = Some(Fcc {
                mailbox,
                flags,
                create,
                special_use,
            });
        }
        Ok(Instr::Notify(Box::new(n)))
    }

    // ---- vnd.dovecot.testsuite ----

    fn suite_command(&mut self, cmd: &CommandNode<'_>) -> Res<()> {
        let pos = cmd.pos;
        let name: &str = &cmd.name;
        if name == "test" {
            no_tests(cmd)?;
            let p = self.positional(name, "command", pos, &cmd.args, &mut |_, _, tag, tp| {
                err(tp, format!("'test' takes no tag ':{tag}'"))
            })?;
            p.expect_count(&["name"])?;
            let (n, np) = p.string(0, "name")?;
            let Some(block) = &cmd.block else {
                return err(cmd.end, "'test' needs a block");
            };
            let v = self.value(n, np)?;
            self.emit(Instr::Testsuite(Box::new(SuiteCommand::Begin(v))), pos);
            self.tests.push(Vec::new());
            self.block(block, false);
            let fails = self.tests.pop().expect("pushed");
            let end = self.here();
            for f in fails {
                self.patch(f, end);
            }
            self.emit(Instr::Testsuite(Box::new(SuiteCommand::End)), cmd.end);
            return Ok(());
        }
        no_tests(cmd)?;
        no_block(cmd)?;
        let mut tags: Vec<(String, Option<(String, Position)>)> = Vec::new();
        let p = self.positional(name, "command", pos, &cmd.args, &mut |_, a, tag, tp| {
            let v = match tag {
                "extension" | "mailbox" | "folder" => {
                    Some(a.tag_string(tag, tp).map(|(s, p)| (s.to_string(), p))?)
                }
                _ => None,
            };
            tags.push((tag.to_string(), v));
            Ok(())
        })?;
        let tagv = |t: &str| tags.iter().find(|(n, _)| n == t).map(|(_, v)| v.clone());
        let s = |c: &mut Self, i: usize, what: &str| -> Res<Value> {
            let (v, vp) = p.string(i, what)?;
            c.value(v, vp)
        };
        let sc = match name {
            "test_fail" => {
                p.expect_count(&["reason"])?;
                let v = s(self, 0, "reason")?;
                self.emit(Instr::Testsuite(Box::new(SuiteCommand::Fail(v))), pos);
                let j = self.emit(Instr::Jump(0), pos);
                match self.tests.last_mut() {
                    Some(t) => t.push(j),
                    None => {
                        // Outside a test block: fail ends the script.
                        self.code.pop();
                        self.lines.pop();
                        self.emit(Instr::Stop, pos);
                    }
                }
                return Ok(());
            }
            "test_set" => {
                p.expect_count(&["object", "value"])?;
                SuiteCommand::Set {
                    object: s(self, 0, "object")?,
                    value: s(self, 1, "value")?,
                }
            }
            "test_config_set" => {
                p.expect_count(&["setting", "value"])?;
                SuiteCommand::ConfigSet {
                    name: s(self, 0, "setting")?,
                    value: s(self, 1, "value")?,
                }
            }
            "test_config_unset" => {
                p.expect_count(&["setting"])?;
                SuiteCommand::ConfigUnset(s(self, 0, "setting")?)
            }
            "test_config_reload" => {
                p.expect_count(&[])?;
                let extension = match tagv("extension") {
                    Some(Some((v, vp))) => Some(self.value(&v, vp)?),
                    _ => None,
                };
                SuiteCommand::ConfigReload { extension }
            }
            "test_result_reset" => SuiteCommand::ResultReset,
            "test_result_print" => SuiteCommand::ResultPrint,
            "test_message_print" => SuiteCommand::MessagePrint,
            "test_message" => {
                p.expect_count(&["index"])?;
                let index = match p.items[0] {
                    Arg::Number(n, _) => Value::Const(n.to_string().into()),
                    _ => s(self, 0, "index")?,
                };
                match tagv("folder").or_else(|| tagv("mailbox")) {
                    Some(Some((f, fp))) => SuiteCommand::MessageFolder {
                        folder: self.value(&f, fp)?,
                        index,
                    },
                    _ => SuiteCommand::MessageSmtp(index),
                }
            }
            "test_mailbox_create" | "test_mailbox" => {
                p.expect_count(&["mailbox"])?;
                SuiteCommand::MailboxCreate(s(self, 0, "mailbox")?)
            }
            "test_mailbox_delete" => {
                p.expect_count(&["mailbox"])?;
                SuiteCommand::MailboxDelete(s(self, 0, "mailbox")?)
            }
            "test_imap_metadata_set" => {
                p.expect_count(&["annotation", "value"])?;
                let mailbox = match tagv("mailbox") {
                    Some(Some((v, vp))) => Some(self.value(&v, vp)?),
                    _ => None,
                };
                SuiteCommand::ImapMetadataSet {
                    mailbox,
                    annotation: s(self, 0, "annotation")?,
                    value: s(self, 1, "value")?,
                }
            }
            "test_binary_save" => {
                p.expect_count(&["name"])?;
                SuiteCommand::BinarySave(s(self, 0, "name")?)
            }
            "test_binary_load" => {
                p.expect_count(&["name"])?;
                SuiteCommand::BinaryLoad(s(self, 0, "name")?)
            }
            _ => return err(pos, format!("unknown command '{name}'")),
        };
        self.emit(Instr::Testsuite(Box::new(sc)), pos);
        Ok(())
    }

    fn suite_test(&mut self, t: &TestNode<'_>) -> Res<Test> {
        let name: &str = &t.name;
        let mut c = Common::default();
        let mut index = None;
        let mut append = false;
        let mut folder: Option<(String, Position)> = None;
        let p = self.tags_with(
            name,
            "test",
            t.pos,
            &t.args,
            MATCHING,
            &mut c,
            &mut |_, a, tag, tp| {
                match tag {
                    "index" => index = Some(a.tag_number(tag, tp)?.0),
                    "append_result" => append = true,
                    "smtp" => {}
                    "folder" | "mailbox" => {
                        let (f, fp) = a.tag_string(tag, tp)?;
                        folder = Some((f.to_string(), fp));
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            },
        )?;
        let st = match name {
            "test_script_compile" => {
                p.expect_count(&["path"])?;
                let (v, vp) = p.string(0, "path")?;
                SuiteTest::ScriptCompile(self.value(v, vp)?)
            }
            "test_script_run" => {
                p.expect_count(&[])?;
                SuiteTest::ScriptRun { append }
            }
            "test_multiscript" => {
                p.expect_count(&["scripts"])?;
                let (l, lp) = p.list(0, "scripts")?;
                SuiteTest::Multiscript(self.list(l, lp)?)
            }
            "test_error" | "test_result_action" => {
                p.expect_count(&["key list"])?;
                let (l, lp) = p.list(0, "key list")?;
                let keys = self.list(l, lp)?;
                let mt = self.finish_match(&mut c, &keys, name)?;
                if name == "test_error" {
                    SuiteTest::Error { mt, keys, index }
                } else {
                    SuiteTest::ResultAction { mt, keys, index }
                }
            }
            "test_result_execute" => {
                p.expect_count(&[])?;
                SuiteTest::ResultExecute
            }
            "test_message" => {
                p.expect_count(&["index"])?;
                let index = match p.items[0] {
                    Arg::Number(n, _) => Value::Const(n.to_string().into()),
                    _ => {
                        let (v, vp) = p.string(0, "index")?;
                        self.value(v, vp)?
                    }
                };
                let folder = match folder {
                    Some((f, fp)) => Some(self.value(&f, fp)?),
                    None => None,
                };
                SuiteTest::Message { folder, index }
            }
            _ => return err(t.pos, format!("unknown test '{name}'")),
        };
        Ok(Test::Testsuite(Box::new(st)))
    }
}

fn no_args(t: &TestNode<'_>) -> Res<()> {
    if let Some(a) = t.args.first() {
        return err(
            a.pos(),
            format!(
                "the test '{}' takes no arguments, found {}",
                t.name,
                a.describe()
            ),
        );
    }
    Ok(())
}

fn no_tests(cmd: &CommandNode<'_>) -> Res<()> {
    if let Some(t) = cmd.tests.first() {
        return err(t.pos, spurious_test(&cmd.name, "command", &t.name));
    }
    Ok(())
}

/// The tests of the base language and of every extension (to tell a test used as a
/// command, or a sub-test where none belongs, from a typo).
const TEST_NAMES: &[&str] = &[
    "address",
    "allof",
    "anyof",
    "body",
    "currentdate",
    "date",
    "duplicate",
    "envelope",
    "environment",
    "exists",
    "false",
    "hasflag",
    "header",
    "ihave",
    "mailboxexists",
    "metadata",
    "metadataexists",
    "not",
    "notify_method_capability",
    "servermetadata",
    "servermetadataexists",
    "size",
    "spamtest",
    "specialuse_exists",
    "string",
    "true",
    "valid_ext_list",
    "valid_notify_method",
    "virustest",
];

/// Tags that are often written without their ':' (match types, address parts,
/// comparators, size and index tags).
const COMMON_TAGS: &[&str] = &[
    "is",
    "contains",
    "matches",
    "regex",
    "value",
    "count",
    "comparator",
    "all",
    "localpart",
    "domain",
    "user",
    "detail",
    "over",
    "under",
    "index",
    "last",
    "mime",
    "anychild",
];

/// The error for a sub-test given to a command or test `owner` that takes none, worded
/// after what the sub-test most likely is (Pigeonhole's wording).
fn spurious_test(owner: &str, kind: &str, sub: &str) -> String {
    if TEST_NAMES.contains(&sub) {
        format!("the {owner} {kind} accepts no sub-tests, but tests are specified")
    } else if COMMON_TAGS.contains(&sub) {
        format!("missing colon ':' before ':{sub}' tag in the {owner} {kind}")
    } else {
        format!("missing semicolon ';' after the {owner} {kind} (before '{sub}')")
    }
}

fn no_block(cmd: &CommandNode<'_>) -> Res<()> {
    if cmd.block.is_some() {
        return err(
            cmd.end,
            format!("the command '{}' takes no block", cmd.name),
        );
    }
    Ok(())
}

/// Headers whose values are address lists (RFC 5228 §5.1 "address" test).
pub(crate) fn is_address_header(h: &str) -> bool {
    // RFC 5322 and the address headers of RFC 2076 / draft-palme-mailext-headers.
    matches!(
        h.to_ascii_lowercase().as_str(),
        "from"
            | "sender"
            | "reply-to"
            | "to"
            | "cc"
            | "bcc"
            | "resent-from"
            | "resent-sender"
            | "resent-to"
            | "resent-cc"
            | "resent-bcc"
            | "resent-reply-to"
            | "return-path"
            | "delivered-to"
            | "envelope-to"
            | "original-recipient"
            | "errors-to"
            | "apparently-to"
            | "disposition-notification-to"
            | "mail-followup-to"
            | "mail-reply-to"
            | "for-approval"
            | "for-handling"
            | "for-comment"
            | "abuse-reports-to"
            | "read-receipt-to"
            | "registered-mail-reply-requested-by"
            | "return-receipt-requested"
            | "return-receipt-to"
            | "original-from"
            | "original-sender"
            | "list-post"
    ) || h.len() > 2 && h[..2].eq_ignore_ascii_case("x-")
}

fn is_special_use(s: &str) -> bool {
    s.len() > 1
        && s.starts_with('\\')
        && s[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `+hhmm` / `-hhmm` → offset in minutes.
/// An RFC 5965 feedback type: a MIME token (RFC 2045 §5.1), surrounding white space
/// trimmed. None if it is empty or has a character a token may not.
pub(crate) fn parse_feedback_type(s: &str) -> Option<&str> {
    let t = s.trim();
    let ok = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b));
    ok.then_some(t)
}

pub(crate) fn parse_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = i32::from(b[1] - b'0') * 10 + i32::from(b[2] - b'0');
    let m = i32::from(b[3] - b'0') * 10 + i32::from(b[4] - b'0');
    if m >= 60 {
        return None;
    }
    let v = h * 60 + m;
    Some(if b[0] == b'-' { -v } else { v })
}

/// Checks the syntax of a regex key (cheap: no automaton is built).
pub(crate) fn check_regex(pattern: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map(|_| ())
        .map_err(|e| {
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("syntax error")
                .trim()
                .to_string();
            format!("invalid regular expression \"{pattern}\": {why}")
        })
}

/// Compiles a regex key with the comparator's case rule and the size limit.
pub(crate) fn build_regex(
    pattern: &str,
    comparator: Comparator,
    max_size: usize,
) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(matches!(comparator, Comparator::AsciiCasemap | Comparator::UnicodeCasemap))
        .size_limit(max_size)
        .dfa_size_limit(max_size)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => format!("the regular expression \"{pattern}\" is too complex (over the limit of {max_size} bytes)"),
            other => format!("invalid regular expression \"{pattern}\": {}", other.to_string().lines().last().unwrap_or("syntax error").trim()),
        })
}

/// Decodes `${hex:...}` and `${unicode:...}` (RFC 5228 §2.4.2.4). Malformed sequences are
/// left as they are; a bad Unicode code point is an error.
pub(crate) fn decode_encoded_characters(s: &str, strict: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = &after[..end];
        let (kind, body) = match inner.find(':') {
            Some(c) => (
                inner[..c]
                    .trim_start_matches([' ', '\t', '\r', '\n'])
                    .to_ascii_lowercase(),
                &inner[c + 1..],
            ),
            None => (String::new(), ""),
        };
        let words: Vec<&str> = body
            .split([' ', '\t', '\r', '\n'])
            .filter(|w| !w.is_empty())
            .collect();
        let inner_ok = |w: &&str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_hexdigit());
        let kind_ok = inner
            .find(':')
            .is_some_and(|c| !inner[..c].contains(|ch: char| !ch.is_ascii_alphabetic()));
        let decoded = if !kind_ok || words.is_empty() || !words.iter().all(inner_ok) {
            None
        } else if kind == "hex" {
            let mut bytes = Vec::new();
            let mut ok = true;
            for w in &words {
                if w.len() % 2 == 1 && w.len() > 2 {
                    ok = false;
                    break;
                }
                if w.len() <= 2 {
                    bytes.push(u8::from_str_radix(w, 16).unwrap_or(0));
                } else {
                    for i in (0..w.len()).step_by(2) {
                        bytes.push(u8::from_str_radix(&w[i..i + 2], 16).unwrap_or(0));
                    }
                }
            }
            if ok {
                match String::from_utf8(bytes) {
                    Ok(t) => Some(t),
                    Err(_) if strict => {
                        return Err(format!(
                            "the encoded characters \"${{{inner}}}\" are not valid UTF-8"
                        ));
                    }
                    Err(e) => Some(String::from_utf8_lossy(e.as_bytes()).into_owned()),
                }
            } else {
                None
            }
        } else if kind == "unicode" {
            let mut t = String::new();
            for w in &words {
                let digits = w.trim_start_matches('0');
                let cp = if digits.is_empty() {
                    0
                } else {
                    u32::from_str_radix(digits, 16).unwrap_or(u32::MAX)
                };
                match char::from_u32(cp) {
                    Some(ch) if w.len() <= 8 => t.push(ch),
                    _ => {
                        return Err(format!(
                            "invalid Unicode character U+{w} in an encoded character"
                        ));
                    }
                }
            }
            Some(t)
        } else {
            None
        };
        match decoded {
            Some(d) => {
                out.push_str(&d);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

mod extprograms;
mod include;
pub(crate) use include::ResolvedInclude;
pub use include::{IncludeResolver, IncludedScript, compile_with_includes};
#[cfg(test)]
mod tests;
