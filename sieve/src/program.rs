//! The compiled form of a script: a flat list of instructions with jumps, every argument
//! checked and every constant string, comparator, match type and regular expression resolved
//! at compile time. A [`Program`] is immutable and can be shared between threads and runs.

use std::sync::Arc;

use crate::capability::Capabilities;

/// A compiled Sieve script.
#[derive(Clone, Debug)]
pub struct Program {
    pub(crate) code: Vec<Instr>,
    pub(crate) required: Capabilities,
    /// Number of local variable slots.
    pub(crate) locals: usize,
    /// Names of the global variables this script declares or uses.
    pub(crate) globals: Vec<Box<str>>,
    /// Source positions (line) of each instruction, for runtime error messages.
    pub(crate) lines: Vec<u32>,
    /// Compile warnings.
    pub(crate) warnings: Vec<crate::error::Diagnostic>,
    /// Includes resolved at compile time (`compile_with_includes`), whole tree; empty
    /// when the host answers `Question::Include` at run time.
    pub(crate) includes: Vec<crate::compile::ResolvedInclude>,
}

impl Program {
    /// The capabilities the script requires (its `require` commands, plus `ihave` blocks).
    pub fn required(&self) -> Capabilities {
        self.required
    }

    /// Number of instructions (a measure of the compiled size).
    pub fn len(&self) -> usize {
        self.code.len()
    }

    /// Whether the program does nothing (an empty script: implicit keep only).
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// Warnings found while compiling (for example a header name ending in `:`, which can
    /// never match; SIEVE-005).
    pub fn warnings(&self) -> &[crate::error::Diagnostic] {
        &self.warnings
    }
}

/// A string argument: constant, or with variable references to expand at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Const(Box<str>),
    Template(Box<[Piece]>),
}

impl Value {
    pub(crate) fn as_const(&self) -> Option<&str> {
        match self {
            Self::Const(s) => Some(s),
            Self::Template(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Lit(Box<str>),
    Local(u32),
    Global(u32),
    Match(u8),
    /// `${env.NAME}` (vnd.dovecot.environment): the environment item NAME, "" if unknown.
    Env(Box<str>),
    /// `${tst.NAME}` (the test-suite language only): a value the test harness supplies.
    Suite(Box<str>),
}

pub(crate) type StrList = Box<[Value]>;

/// Where a variable lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarRef {
    Local(u32),
    Global(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
    UnicodeCasemap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    pub(crate) fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            _ => return None,
        })
    }

    pub(crate) fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Gt => o == Greater,
            Self::Ge => o != Less,
            Self::Lt => o == Less,
            Self::Le => o != Greater,
            Self::Eq => o == Equal,
            Self::Ne => o != Equal,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum MatchKind {
    Is,
    /// With constant keys and an ASCII comparator, one searcher for all keys.
    Contains(Option<Arc<LazyContains>>),
    Matches,
    /// Constant keys: checked at compile time, their automata built on first use and
    /// shared by every run of the program. Other keys are built at run time.
    Regex(Option<Arc<[LazyRegex]>>),
    Count(Relation),
    Value(Relation),
    /// `:list` (RFC 6134): the keys name external lists; membership is asked of the host.
    List,
}

/// Bytes lowercased at a time by [`LazyContains::is_match`].
const CHUNK: usize = 64 * 1024;

/// The constant keys of a `:contains`, with their substring searchers (memchr's SIMD
/// `memmem`) built on first use. For `i;ascii-casemap` the keys are lowercased and long
/// values are searched in lowercased chunks.
#[derive(Debug)]
pub(crate) struct LazyContains {
    keys: Box<[Box<[u8]>]>,
    ascii_case_insensitive: bool,
    cell: std::sync::OnceLock<Box<[memchr::memmem::Finder<'static>]>>,
}

impl LazyContains {
    pub(crate) fn new(keys: &[Box<str>], ascii_case_insensitive: bool) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|k| {
                    if ascii_case_insensitive {
                        k.to_ascii_lowercase().into_bytes().into_boxed_slice()
                    } else {
                        k.as_bytes().into()
                    }
                })
                .collect(),
            ascii_case_insensitive,
            cell: std::sync::OnceLock::new(),
        }
    }

    /// Whether any key occurs in `hay`.
    pub(crate) fn is_match(&self, hay: &[u8]) -> bool {
        let finders = self.cell.get_or_init(|| {
            self.keys
                .iter()
                .map(|k| memchr::memmem::Finder::new(&k[..]).into_owned())
                .collect()
        });
        if !self.ascii_case_insensitive {
            return finders.iter().any(|f| f.find(hay).is_some());
        }
        // Lowercase a chunk at a time; chunks overlap by the longest key less one byte.
        let overlap = self
            .keys
            .iter()
            .map(|k| k.len())
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        let mut buf = Vec::with_capacity(CHUNK.min(hay.len()) + overlap);
        let mut start = 0;
        loop {
            let end = (start + CHUNK + overlap).min(hay.len());
            buf.clear();
            buf.extend(hay[start..end].iter().map(u8::to_ascii_lowercase));
            if finders.iter().any(|f| f.find(&buf).is_some()) {
                return true;
            }
            if end == hay.len() {
                return false;
            }
            start += CHUNK;
        }
    }
}

/// A `:regex` key whose automaton is built when first needed (building one costs far more
/// than checking its syntax, and many scripts never reach their regex tests).
#[derive(Debug)]
pub(crate) struct LazyRegex {
    pub pattern: Box<str>,
    pub comparator: Comparator,
    pub max_size: usize,
    cell: std::sync::OnceLock<Result<regex::Regex, String>>,
}

impl LazyRegex {
    pub(crate) fn new(pattern: &str, comparator: Comparator, max_size: usize) -> Self {
        Self {
            pattern: pattern.into(),
            comparator,
            max_size,
            cell: std::sync::OnceLock::new(),
        }
    }

    /// The automaton, built on first use (an error if it is over the size limit).
    pub(crate) fn get(&self) -> Result<&regex::Regex, String> {
        self.cell
            .get_or_init(|| {
                crate::compile::build_regex(&self.pattern, self.comparator, self.max_size)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Match {
    pub kind: MatchKind,
    pub comparator: Comparator,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddressPart {
    All,
    LocalPart,
    Domain,
    User,
    Detail,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    /// 1-based position, 0 = every occurrence.
    pub n: u64,
    pub last: bool,
}

/// `:mime` options on `header`, `address` and `exists` (RFC 5703 §4).
#[derive(Clone, Debug, Default)]
pub(crate) struct MimeOpts {
    pub mime: bool,
    pub anychild: bool,
    pub option: MimeOption,
}

#[derive(Clone, Debug, Default)]
pub(crate) enum MimeOption {
    #[default]
    None,
    Type,
    Subtype,
    ContentType,
    Param(StrList),
}

#[derive(Clone, Debug)]
pub(crate) enum BodyTransform {
    Raw,
    Content(StrList),
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DatePart {
    Year,
    Month,
    Day,
    Date,
    Julian,
    Hour,
    Minute,
    Second,
    Time,
    Iso8601,
    Std11,
    Zone,
    Weekday,
}

impl DatePart {
    pub(crate) fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "year" => Self::Year,
            "month" => Self::Month,
            "day" => Self::Day,
            "date" => Self::Date,
            "julian" => Self::Julian,
            "hour" => Self::Hour,
            "minute" => Self::Minute,
            "second" => Self::Second,
            "time" => Self::Time,
            "iso8601" => Self::Iso8601,
            "std11" => Self::Std11,
            "zone" => Self::Zone,
            "weekday" => Self::Weekday,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Zone {
    /// The local zone (the host's, given in the run context).
    Local,
    Original,
    Fixed(Value),
}

/// Where a test takes its values from and how it matches them.
#[derive(Clone, Debug)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum Test {
    True,
    False,
    Header {
        names: StrList,
        keys: StrList,
        mt: Match,
        index: Option<Index>,
        mime: MimeOpts,
    },
    Address {
        names: StrList,
        keys: StrList,
        mt: Match,
        part: AddressPart,
        index: Option<Index>,
        mime: MimeOpts,
    },
    Envelope {
        parts: StrList,
        keys: StrList,
        mt: Match,
        part: AddressPart,
    },
    Exists {
        names: StrList,
        mime: MimeOpts,
    },
    Size {
        over: bool,
        limit: u64,
    },
    Body {
        transform: BodyTransform,
        keys: StrList,
        mt: Match,
    },
    Date {
        header: Value,
        zone: Zone,
        part: Value,
        keys: StrList,
        mt: Match,
        index: Option<Index>,
    },
    CurrentDate {
        zone: Zone,
        part: Value,
        keys: StrList,
        mt: Match,
    },
    String {
        sources: StrList,
        keys: StrList,
        mt: Match,
    },
    HasFlag {
        vars: Option<Box<[VarRef]>>,
        keys: StrList,
        mt: Match,
    },
    MailboxExists(StrList),
    Metadata {
        mailbox: Option<Value>,
        annotation: Value,
        keys: StrList,
        mt: Match,
    },
    MetadataExists {
        mailbox: Option<Value>,
        annotations: StrList,
    },
    SpecialUseExists {
        mailbox: Option<Value>,
        uses: StrList,
    },
    Environment {
        name: Value,
        keys: StrList,
        mt: Match,
    },
    Duplicate {
        handle: Option<Value>,
        header: Option<Value>,
        uniqueid: Option<Value>,
        seconds: Option<u64>,
        last: bool,
    },
    ValidNotifyMethod(StrList),
    /// `valid_ext_list` (RFC 6134).
    ValidExtList(StrList),
    NotifyMethodCapability {
        uri: Value,
        capability: Value,
        keys: StrList,
        mt: Match,
    },
    SpamTest {
        percent: bool,
        keys: StrList,
        mt: Match,
    },
    VirusTest {
        keys: StrList,
        mt: Match,
    },
    /// `filter` or `execute` used as a test.
    Program(Box<ProgramCall>),
    Testsuite(Box<crate::testsuite::SuiteTest>),
}

#[derive(Clone, Debug)]
pub(crate) struct FileInto {
    pub mailbox: Value,
    pub flags: Option<StrList>,
    pub copy: bool,
    pub create: bool,
    pub special_use: Option<Value>,
}

#[derive(Clone, Debug)]
pub(crate) struct Fcc {
    pub mailbox: Value,
    pub flags: Option<StrList>,
    pub create: bool,
    pub special_use: Option<Value>,
}

#[derive(Clone, Debug)]
pub(crate) struct Vacation {
    /// Seconds between responses to one sender (`:days` × 86400 or `:seconds`).
    pub period: Option<u64>,
    pub period_in_days: bool,
    pub subject: Option<Value>,
    pub from: Option<Value>,
    pub addresses: Option<StrList>,
    pub mime: bool,
    pub handle: Option<Value>,
    pub reason: Value,
    pub fcc: Option<Fcc>,
}

#[derive(Clone, Debug)]
pub(crate) struct Notify {
    pub from: Option<Value>,
    pub importance: Option<Value>,
    pub options: Option<StrList>,
    pub message: Option<Value>,
    pub method: Value,
    pub fcc: Option<Fcc>,
}

#[derive(Clone, Debug)]
pub(crate) struct DeleteHeader {
    pub index: Option<Index>,
    pub mt: Match,
    pub name: Value,
    pub patterns: Option<StrList>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Set,
    Add,
    Remove,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Modifiers {
    /// Bit set of the modifiers, applied in RFC 5229 §4.1 precedence order.
    pub lower: bool,
    pub upper: bool,
    pub lowerfirst: bool,
    pub upperfirst: bool,
    pub quotewildcard: bool,
    pub quoteregex: bool,
    pub encodeurl: bool,
    pub length: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    Personal,
    Global,
}

/// One instruction. Tests set the condition register; jumps read it.
#[derive(Clone, Debug)]
pub(crate) enum Instr {
    Jump(u32),
    JumpIf {
        target: u32,
        when: bool,
    },
    Not,
    Test(Box<Test>),
    Stop,
    Keep {
        flags: Option<StrList>,
    },
    Discard,
    FileInto(Box<FileInto>),
    Redirect {
        address: Value,
        copy: bool,
    },
    Reject {
        reason: Value,
        ereject: bool,
    },
    Vacation(Box<Vacation>),
    Notify(Box<Notify>),
    Set {
        var: VarRef,
        value: Value,
        mods: Modifiers,
    },
    Flags {
        op: FlagOp,
        var: Option<VarRef>,
        flags: StrList,
    },
    Include {
        location: Location,
        once: bool,
        optional: bool,
        name: Value,
    },
    Return,
    AddHeader {
        last: bool,
        name: Value,
        value: Value,
    },
    DeleteHeader(Box<DeleteHeader>),
    /// Start of a `foreverypart` loop; `end` is the instruction after the loop.
    ForEveryPart {
        end: u32,
    },
    /// End of a loop body: next part, or fall through.
    LoopNext {
        start: u32,
    },
    /// Leaves `depth` enclosing loops (1 = the innermost) and jumps to `target`.
    Break {
        depth: u32,
        target: u32,
    },
    ExtractText {
        first: Option<u64>,
        var: VarRef,
        mods: Modifiers,
    },
    Replace {
        mime: bool,
        subject: Option<Value>,
        from: Option<Value>,
        text: Value,
    },
    Enclose {
        subject: Option<Value>,
        headers: Option<StrList>,
        text: Value,
    },
    Error(Value),
    /// `debug_log` (vnd.dovecot.debug).
    DebugLog(Value),
    /// `report` (vnd.dovecot.report).
    Report {
        headers_only: bool,
        feedback_type: Value,
        message: Value,
        address: Value,
    },
    /// `pipe` (vnd.dovecot.pipe).
    Pipe(Box<PipeCmd>),
    /// `filter` or `execute` used as a command.
    Program(Box<ProgramCall>),
    Testsuite(Box<crate::testsuite::SuiteCommand>),
}

/// `pipe [:copy] [:try] <program> [<args>]`.
#[derive(Clone, Debug)]
pub(crate) struct PipeCmd {
    pub program: Box<str>,
    pub args: StrList,
    pub copy: bool,
    pub try_: bool,
}

/// Where `execute` takes its input from.
#[derive(Clone, Debug)]
pub(crate) enum ProgramInput {
    None,
    /// `:pipe` (and always for `filter`): the current message.
    Message,
    /// `:input "..."`.
    Text(Value),
}

/// `filter <program> [<args>]` or `execute [:input s / :pipe] [:output var] <program> [<args>]`.
#[derive(Clone, Debug)]
pub(crate) struct ProgramCall {
    pub kind: crate::runtime::ProgramKind,
    pub program: Box<str>,
    pub args: StrList,
    pub input: ProgramInput,
    pub output: Option<VarRef>,
}
