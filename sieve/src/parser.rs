//! The syntax of Sieve (RFC 5228 §8.2): commands, tests, arguments and blocks, with no
//! knowledge of what any command means (that is the compiler's job).
//!
//! ```text
//! start        = commands
//! commands     = *command
//! command      = identifier arguments (";" / block)
//! block        = "{" commands "}"
//! arguments    = *argument [ test / test-list ]
//! argument     = string-list / number / tag
//! string-list  = "[" string *("," string) "]" / string
//! test         = identifier arguments
//! test-list    = "(" test *("," test) ")"
//! ```
//!
//! Nesting is bounded by [`crate::CompileLimits::max_nesting`], for blocks and, apart, for
//! the tests of one command.

use std::borrow::Cow;

use crate::error::{CompileError, Diagnostic};
use crate::lexer::{LexErrorKind, Lexer, Position, Token};

/// An argument of a command or test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Arg<'a> {
    /// `:name`
    Tag(Cow<'a, str>, Position),
    /// A number with its quantifier applied.
    Number(u64, Position),
    /// A string (`list == false`) or a bracketed string list.
    Strings {
        values: Vec<Cow<'a, str>>,
        list: bool,
        pos: Position,
    },
}

impl Arg<'_> {
    pub(crate) fn pos(&self) -> Position {
        match self {
            Self::Tag(_, p) | Self::Number(_, p) | Self::Strings { pos: p, .. } => *p,
        }
    }

    /// How the argument is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Tag(t, _) => format!("tag ':{t}'"),
            Arg::Number(..) => "number".into(),
            Arg::Strings { list: true, .. } => "string list".into(),
            Arg::Strings { list: false, .. } => "string".into(),
        }
    }

    /// As [`Arg::describe`], with an article ("a number", "the tag ':x'").
    pub(crate) fn describe_with_article(&self) -> String {
        match self {
            Self::Tag(..) => format!("the {}", self.describe()),
            _ => format!("a {}", self.describe()),
        }
    }
}

/// A test: `identifier arguments`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TestNode<'a> {
    pub name: Cow<'a, str>,
    pub pos: Position,
    pub args: Vec<Arg<'a>>,
    /// Nested tests (`not`, `anyof`, ...), in order.
    pub tests: Vec<Self>,
    /// Whether `tests` was written as a parenthesised list.
    pub test_list: bool,
}

/// A command: `identifier arguments (";" / block)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommandNode<'a> {
    pub name: Cow<'a, str>,
    pub pos: Position,
    pub args: Vec<Arg<'a>>,
    pub tests: Vec<TestNode<'a>>,
    pub test_list: bool,
    pub block: Option<Vec<Self>>,
    /// Where the block closes (for `}`-positioned diagnostics).
    pub end: Position,
}

/// The most arguments one command or test may have (32, as Pigeonhole): no signature
/// comes near it, and it bounds the work a garbage script causes.
pub(crate) const MAX_ARGUMENTS: usize = 32;

/// The current token: a lexical token, a lexical error (already reported), or the end.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cur<'a> {
    Tok(Token<'a>),
    /// The lexer reported an error here; the parser does not report one more.
    Error,
    /// Characters that start no token (the lexer reported them once); unlike
    /// [`Cur::Error`] the parser still says what it expected instead.
    Garbage,
    Eof,
}

/// Whether a piece of the grammar was parsed, or the parser is lost (and the caller must
/// skip to a point it knows), or it gave up (too many errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Ok,
    Lost,
    Abort,
}

/// What [`Parser::recover`] looks for, in ascending order of how much it encloses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    StringList = 0,
    TestList = 1,
    Command = 2,
    Block = 3,
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    cur: Cur<'a>,
    pos: Position,
    max_nesting: usize,
    max_errors: usize,
    errors: Vec<Diagnostic>,
}

/// How a token is named in error messages.
fn describe(t: &Cur<'_>) -> String {
    let t = match t {
        Cur::Tok(t) => t,
        Cur::Error => return "an invalid token".into(),
        Cur::Garbage => return "unexpected characters".into(),
        Cur::Eof => return "the end of the script".into(),
    };
    match t {
        Token::Identifier(i) => format!("identifier '{i}'"),
        Token::Tag(t) => format!("tag ':{t}'"),
        Token::Number(n) => format!("number {n}"),
        Token::String(_) => "string".into(),
        Token::Semicolon => "';'".into(),
        Token::Comma => "','".into(),
        Token::LeftParen => "'('".into(),
        Token::RightParen => "')'".into(),
        Token::LeftBracket => "'['".into(),
        Token::RightBracket => "']'".into(),
        Token::LeftBrace => "'{'".into(),
        Token::RightBrace => "'}'".into(),
    }
}

/// Arguments, sub-tests, whether they were a list, and how parsing them went.
type Parsed<'a> = (Vec<Arg<'a>>, Vec<TestNode<'a>>, bool, Flow);

impl<'a> Parser<'a> {
    /// Moves to the next token; a lexical error is recorded and becomes [`Cur::Error`].
    fn bump(&mut self) {
        match self.lexer.next_recover() {
            Some(Ok(t)) => {
                self.cur = Cur::Tok(t.token);
                self.pos = t.pos;
            }
            Some(Err(e)) => {
                self.push_error(e.pos, lex_message(&e.kind));
                self.cur = if matches!(e.kind, LexErrorKind::UnexpectedCharacter(_)) {
                    Cur::Garbage
                } else {
                    Cur::Error
                };
                self.pos = e.pos;
            }
            None => {
                self.cur = Cur::Eof;
                self.pos = self.lexer.here();
            }
        }
    }

    fn push_error(&mut self, pos: Position, message: String) {
        if self.errors.len() < self.max_errors {
            self.errors.push(Diagnostic { pos, message });
        }
    }

    /// Reports a syntax error at the current token, unless the lexer already reported one
    /// there.
    fn error(&mut self, message: String) {
        if self.cur != Cur::Error {
            self.push_error(self.pos, message);
        }
    }

    fn gave_up(&self) -> bool {
        self.errors.len() >= self.max_errors
    }

    fn is(&self, t: &Token<'_>) -> bool {
        matches!(&self.cur, Cur::Tok(c) if c == t)
    }

    /// [`recover`](Self::recover) as the flow that follows: `Ok` when parsing goes on at
    /// `level`, `Lost` when it cannot.
    fn resync(&mut self, level: Level) -> Flow {
        if self.recover(level) {
            Flow::Ok
        } else {
            Flow::Lost
        }
    }

    /// The `]` or `)` that closes a list at `level`: consumed when it is there (`None`);
    /// otherwise the error `what`, and recovery to the closer, consumed as well.
    fn close_list(
        &mut self,
        close: &Token<'_>,
        level: Level,
        what: impl FnOnce() -> String,
    ) -> Option<Flow> {
        if self.is(close) {
            self.bump();
            return None;
        }
        let what = what();
        self.error(format!("{what}, found {}", describe(&self.cur)));
        let flow = self.resync(level);
        if flow == Flow::Ok {
            self.bump();
        }
        Some(flow)
    }

    /// Error recovery: skips to the token that ends the structure at `level` (`]`, `)`,
    /// `;` or `}`), stepping over nested structures of the same kind, but never past a
    /// token of a higher level (a `;` ends a string list, a `}` a command). True when it
    /// stopped on the end token (not consumed), or on the `{` of a command's block.
    fn recover(&mut self, level: Level) -> bool {
        let (open, close) = match level {
            Level::StringList => (Some(Token::LeftBracket), Token::RightBracket),
            Level::TestList => (Some(Token::LeftParen), Token::RightParen),
            Level::Command => (None, Token::Semicolon),
            Level::Block => (Some(Token::LeftBrace), Token::RightBrace),
        };
        let mut nesting = 1u32;
        loop {
            let here = match &self.cur {
                Cur::Eof => break,
                Cur::Error | Cur::Garbage => None,
                Cur::Tok(t) => match t {
                    Token::LeftBrace | Token::RightBrace => Some(Level::Block),
                    Token::Semicolon => Some(Level::Command),
                    Token::LeftParen | Token::RightParen => Some(Level::TestList),
                    Token::LeftBracket | Token::RightBracket => Some(Level::StringList),
                    _ => None,
                },
            };
            if here.is_some_and(|h| h > level) {
                break;
            }
            if open.as_ref().is_some_and(|o| self.is(o)) {
                nesting += 1;
            } else if self.is(&close) {
                nesting -= 1;
                if nesting == 0 {
                    return true;
                }
            }
            self.bump();
        }
        level == Level::Command && self.is(&Token::LeftBrace)
    }

    /// `commands = *command`, at block depth `depth`.
    fn commands(&mut self, depth: usize) -> (Vec<CommandNode<'a>>, Flow) {
        let mut out = Vec::new();
        while let Cur::Tok(Token::Identifier(name)) = self.cur {
            if self.gave_up() {
                return (out, Flow::Abort);
            }
            let pos = self.pos;
            self.bump();
            let (args, tests, test_list, mut flow) = self.arguments(name, 0);
            if flow == Flow::Ok && !self.is(&Token::Semicolon) && !self.is(&Token::LeftBrace) {
                self.error(format!(
                    "expected ';' or a block after the arguments of the command '{name}', found {}",
                    describe(&self.cur)
                ));
                flow = Flow::Lost;
            }
            if flow == Flow::Lost && self.recover(Level::Command) {
                flow = Flow::Ok;
            }
            if flow != Flow::Ok {
                return (out, flow);
            }
            let mut node = CommandNode {
                name: lower(name),
                pos,
                args,
                tests,
                test_list,
                block: None,
                end: self.pos,
            };
            if self.is(&Token::Semicolon) {
                self.bump();
                out.push(node);
                continue;
            }
            // A block.
            let open = self.pos;
            self.bump();
            if depth + 1 > self.max_nesting {
                self.push_error(
                    open,
                    format!(
                        "blocks are nested too deeply (the limit is {})",
                        self.max_nesting
                    ),
                );
                if !self.recover(Level::Block) {
                    return (out, Flow::Lost);
                }
                self.bump();
                continue;
            }
            let (block, flow) = self.commands(depth + 1);
            match flow {
                Flow::Abort => return (out, flow),
                Flow::Ok if self.is(&Token::RightBrace) => {
                    node.end = self.pos;
                    self.bump();
                }
                Flow::Ok | Flow::Lost => {
                    if flow == Flow::Ok {
                        self.error(format!(
                            "expected a command or '}}' to close the block, found {}",
                            describe(&self.cur)
                        ));
                    }
                    if !self.recover(Level::Block) {
                        return (out, Flow::Lost);
                    }
                    node.end = self.pos;
                    self.bump();
                }
            }
            node.block = Some(block);
            out.push(node);
        }
        (out, Flow::Ok)
    }

    /// `arguments = *argument [ test / test-list ]` of the command or test `owner`, whose
    /// tests are nested `depth` deep (tests count apart from blocks, as in Pigeonhole).
    fn arguments(&mut self, owner: &str, depth: usize) -> Parsed<'a> {
        let mut args = Vec::new();
        loop {
            if self.gave_up() {
                return (args, Vec::new(), false, Flow::Abort);
            }
            let pos = self.pos;
            match &self.cur {
                Cur::Tok(Token::LeftBracket) => {
                    self.bump();
                    let (values, flow) = self.string_list();
                    args.push(Arg::Strings {
                        values,
                        list: true,
                        pos,
                    });
                    if flow != Flow::Ok {
                        return (args, Vec::new(), false, flow);
                    }
                }
                Cur::Tok(Token::String(_) | Token::Number(_) | Token::Tag(_)) => {
                    let Cur::Tok(t) = std::mem::replace(&mut self.cur, Cur::Eof) else {
                        unreachable!("matched a token")
                    };
                    args.push(match t {
                        Token::Tag(t) => Arg::Tag(lower(t), pos),
                        Token::Number(n) => Arg::Number(n, pos),
                        Token::String(s) => Arg::Strings {
                            values: vec![s],
                            list: false,
                            pos,
                        },
                        _ => unreachable!("matched above"),
                    });
                    self.bump();
                }
                _ => break,
            }
            if args.len() > MAX_ARGUMENTS {
                self.push_error(
                    pos,
                    format!("'{owner}' has more than {MAX_ARGUMENTS} arguments"),
                );
                return (args, Vec::new(), false, Flow::Lost);
            }
        }
        let too_deep = |p: &mut Self| {
            p.error(format!(
                "tests are nested too deeply (the limit is {})",
                p.max_nesting
            ));
        };
        match self.cur {
            Cur::Tok(Token::Identifier(name)) => {
                if depth + 1 > self.max_nesting {
                    too_deep(self);
                    return (args, Vec::new(), false, Flow::Lost);
                }
                let pos = self.pos;
                self.bump();
                let (test, flow) = self.test(name, pos, depth + 1);
                (args, vec![test], false, flow)
            }
            Cur::Tok(Token::LeftParen) => {
                self.bump();
                if depth + 1 > self.max_nesting {
                    too_deep(self);
                    let flow = if self.recover(Level::TestList) {
                        self.bump();
                        Flow::Ok
                    } else {
                        Flow::Lost
                    };
                    return (args, Vec::new(), true, flow);
                }
                let (tests, flow) = self.test_list(owner, depth + 1);
                (args, tests, true, flow)
            }
            _ => (args, Vec::new(), false, Flow::Ok),
        }
    }

    /// The strings of a `[...]` list, after its `[`.
    fn string_list(&mut self) -> (Vec<Cow<'a, str>>, Flow) {
        let mut values = Vec::new();
        let mut flow = Flow::Ok;
        if let Cur::Tok(Token::String(_)) = self.cur {
            loop {
                if let Cur::Tok(Token::String(s)) = std::mem::replace(&mut self.cur, Cur::Eof) {
                    values.push(s);
                }
                self.bump();
                if !self.is(&Token::Comma) {
                    break;
                }
                self.bump();
                if self.gave_up() {
                    return (values, Flow::Abort);
                }
                if !matches!(self.cur, Cur::Tok(Token::String(_))) {
                    self.error(format!(
                        "expected a string after ',' in the string list, found {}",
                        describe(&self.cur)
                    ));
                    if !self.recover(Level::StringList) {
                        flow = Flow::Lost;
                    }
                    break;
                }
            }
        } else {
            self.error(format!(
                "expected a string in the string list, found {}",
                describe(&self.cur)
            ));
            if !self.recover(Level::StringList) {
                flow = Flow::Lost;
            }
        }
        if let Some(f) = self.close_list(&Token::RightBracket, Level::StringList, || {
            "expected ',' or ']' in the string list".to_string()
        }) {
            flow = f;
        }
        (values, flow)
    }

    /// `test = identifier arguments`, after the identifier.
    fn test(&mut self, name: &'a str, pos: Position, depth: usize) -> (TestNode<'a>, Flow) {
        let (args, tests, test_list, flow) = self.arguments(name, depth);
        (
            TestNode {
                name: lower(name),
                pos,
                args,
                tests,
                test_list,
            },
            flow,
        )
    }

    /// The tests of a `(...)` list, after its `(`, and its `)`.
    fn test_list(&mut self, owner: &str, depth: usize) -> (Vec<TestNode<'a>>, Flow) {
        let mut tests = Vec::new();
        let mut flow;
        if let Cur::Tok(Token::Identifier(name)) = self.cur {
            let pos = self.pos;
            self.bump();
            let (t, f) = self.test(name, pos, depth);
            tests.push(t);
            flow = f;
            while flow == Flow::Ok && self.is(&Token::Comma) {
                self.bump();
                if self.gave_up() {
                    return (tests, Flow::Abort);
                }
                if let Cur::Tok(Token::Identifier(name)) = self.cur {
                    let pos = self.pos;
                    self.bump();
                    let (t, f) = self.test(name, pos, depth);
                    tests.push(t);
                    flow = f;
                } else {
                    self.error(format!(
                        "expected a test after ',' in the test list of '{owner}', found {}",
                        describe(&self.cur)
                    ));
                    flow = self.resync(Level::TestList);
                    break;
                }
            }
            if flow == Flow::Abort {
                return (tests, flow);
            }
            if flow == Flow::Lost {
                flow = self.resync(Level::TestList);
            }
        } else {
            self.error(format!(
                "expected a test in the test list of '{owner}', found {}",
                describe(&self.cur)
            ));
            flow = self.resync(Level::TestList);
        }
        if let Some(f) = self.close_list(&Token::RightParen, Level::TestList, || {
            format!("expected ',' or ')' in the test list of '{owner}'")
        }) {
            flow = f;
        }
        (tests, flow)
    }
}

/// Identifiers and tags are case-insensitive (RFC 5228 §8.1): names are kept in lowercase.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn lex_message(kind: &LexErrorKind) -> String {
    match kind {
        LexErrorKind::UnexpectedCharacter(c) => format!("unexpected character {c:?}"),
        LexErrorKind::UnterminatedString => "unterminated quoted string".into(),
        LexErrorKind::UnterminatedMultiLine => {
            "unterminated multi-line string (missing a line with a single '.')".into()
        }
        LexErrorKind::BadMultiLineStart => {
            "only whitespace or a '#' comment may follow 'text:' on its line".into()
        }
        LexErrorKind::UnterminatedComment => "unterminated '/*' comment".into(),
        LexErrorKind::NumberTooLarge => "number does not fit in 64 bits".into(),
        LexErrorKind::BadNumber => "invalid number (the quantifier must be K, M or G)".into(),
        LexErrorKind::EmptyTag => "':' must be followed by an identifier".into(),
        LexErrorKind::InvalidUtf8 => "string is not valid UTF-8".into(),
        LexErrorKind::IdentifierTooLong => format!(
            "identifier or tag is longer than {} bytes",
            crate::lexer::MAX_IDENTIFIER_LENGTH
        ),
    }
}

/// Parses a whole script into its command list.
///
/// After a syntax error the parser recovers as Pigeonhole's does: it skips to the end of
/// the structure it was in (`]`, `)`, the `;` of the command, or the `}` of the block,
/// stepping over nested ones) and goes on, so one run reports every syntax error, each at
/// its line and column. A lexical error is reported once (the parser says nothing more
/// about the bad token). At most `max_errors` errors are collected; parsing stops there.
pub(crate) fn parse(
    src: &[u8],
    max_nesting: usize,
    max_errors: usize,
) -> Result<Vec<CommandNode<'_>>, CompileError> {
    let mut p = Parser {
        lexer: Lexer::from_bytes(src),
        cur: Cur::Eof,
        pos: Position {
            line: 1,
            column: 1,
            offset: 0,
        },
        max_nesting,
        max_errors: max_errors.max(1),
        errors: Vec::new(),
    };
    p.bump();
    let (commands, flow) = p.commands(0);
    if flow == Flow::Ok && p.errors.is_empty() && p.cur != Cur::Eof {
        p.error(format!("expected a command, found {}", describe(&p.cur)));
    }
    if p.errors.is_empty() {
        Ok(commands)
    } else {
        Err(CompileError::from_list(p.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error, as "line:column: message".
    fn errs(src: &str) -> Vec<String> {
        parse(src.as_bytes(), 32, 50)
            .unwrap_err()
            .diagnostics()
            .iter()
            .map(|d| format!("{}:{}: {}", d.pos.line, d.pos.column, d.message))
            .collect()
    }

    fn err(src: &str) -> String {
        let all = errs(src);
        assert_eq!(all.len(), 1, "one error expected in {src:?}: {all:?}");
        all[0].clone()
    }

    #[test]
    fn structure() {
        let cmds = parse(
            b"require [\"fileinto\"];\nif anyof (header :is \"a\" \"b\", not true) { fileinto \"x\"; } else { keep; }",
            32,
            50,
        )
        .unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0].name, "require");
        assert!(
            matches!(&cmds[0].args[0], Arg::Strings { list: true, values, .. } if values == &["fileinto"])
        );
        assert_eq!(cmds[1].tests[0].name, "anyof");
        assert!(cmds[1].tests[0].test_list);
        assert_eq!(cmds[1].tests[0].tests[1].name, "not");
        assert_eq!(cmds[1].tests[0].tests[1].tests[0].name, "true");
        assert_eq!(cmds[1].block.as_ref().unwrap()[0].name, "fileinto");
        assert_eq!(cmds[2].name, "else");
        assert_eq!((cmds[1].pos.line, cmds[1].pos.column), (2, 1));
        assert_eq!((cmds[1].end.line, cmds[1].end.column), (2, 57));
    }

    #[test]
    fn errors_are_positioned_and_precise() {
        assert_eq!(
            err("keep"),
            "1:5: expected ';' or a block after the arguments of the command 'keep', found the end of the script"
        );
        assert_eq!(
            err("fileinto \"a\"\n\"b\" ]"),
            "2:5: expected ';' or a block after the arguments of the command 'fileinto', found ']'"
        );
        assert_eq!(
            err("if true { keep;"),
            "1:16: expected a command or '}' to close the block, found the end of the script"
        );
        assert_eq!(
            err("x [\"a\" \"b\"];"),
            "1:8: expected ',' or ']' in the string list, found string"
        );
        assert_eq!(
            err("x [];"),
            "1:4: expected a string in the string list, found ']'"
        );
        // The `;` ends the command; `false)` is then a command with a stray `)`.
        assert_eq!(
            errs("if anyof(true; false) {}"),
            [
                "1:14: expected ',' or ')' in the test list of 'anyof', found ';'",
                "1:21: expected ';' or a block after the arguments of the command 'false', found ')'"
            ]
        );
        assert_eq!(err("}"), "1:1: expected a command, found '}'");
        assert_eq!(err("keep; \"x\""), "1:7: expected a command, found string");
        // A bad token is reported once, not again as a syntax error...
        assert_eq!(
            err("if size :over 1000000000000000000000000 { stop; }"),
            "1:15: number does not fit in 64 bits"
        );
        // ... but after stray characters the parser still says what it expected.
        assert_eq!(
            errs("keep @"),
            [
                "1:6: unexpected character '@'",
                "1:6: expected ';' or a block after the arguments of the command 'keep', found unexpected characters"
            ]
        );
        assert_eq!(
            err("if size :over 99999999999999999999 { stop; }"),
            "1:15: number does not fit in 64 bits"
        );
    }

    #[test]
    fn recovers_after_a_missing_semicolon_in_a_block() {
        // Pigeonhole's compile/recover "commands-endblock": one error for each of the three.
        let src = "if true {\n  if true {\n    keep\n  }\n}\nif true {\n  keep,\n  keep\n}\n\
                   if true { if anyof(true,true,false) { keep; discard } }\nkeep;";
        assert_eq!(
            errs(src),
            [
                "4:3: expected ';' or a block after the arguments of the command 'keep', found '}'",
                "7:7: expected ';' or a block after the arguments of the command 'keep', found ','",
                "10:53: expected ';' or a block after the arguments of the command 'discard', found '}'",
            ]
        );
    }

    #[test]
    fn recovers_in_test_and_string_lists() {
        assert_eq!(
            errs("if anyof(true,true,) { keep; }\nif anyof(true,) {}\nx [\"a\",] ;\nx [1] \"b\";"),
            [
                "1:20: expected a test after ',' in the test list of 'anyof', found ')'",
                "2:15: expected a test after ',' in the test list of 'anyof', found ')'",
                "3:8: expected a string after ',' in the string list, found ']'",
                "4:4: expected a string in the string list, found number 1",
            ]
        );
        // The bad command's block is still parsed: its errors are reported too.
        assert_eq!(
            errs("frop $$ { keep }"),
            [
                "1:6: unexpected character '$'",
                "1:6: expected ';' or a block after the arguments of the command 'frop', found unexpected characters",
                "1:16: expected ';' or a block after the arguments of the command 'keep', found '}'",
            ]
        );
    }

    #[test]
    fn lexical_errors_are_each_reported_once() {
        // Pigeonhole's compile/errors "lexer.sieve": each bad token is one error.
        let src = "if size :under 18446744073709551617 { stop; }\n\
                   if size :over 34359738368G { stop; }\n\
                   if size :under 18446744073709551615 { stop; }\n\
                   if this_is_a_rediculously_long_test_name { stop; }\n\
                   if test :this_is_an_even_more_rediculously_long_tagged_argument_name { stop; }\n\
                   friep $$$;\nkeep;";
        assert_eq!(
            errs(src),
            [
                "1:16: number does not fit in 64 bits",
                "2:15: number does not fit in 64 bits",
                "4:4: identifier or tag is longer than 32 bytes",
                "5:9: identifier or tag is longer than 32 bytes",
                "6:7: unexpected character '$'",
                "6:7: expected ';' or a block after the arguments of the command 'friep', found unexpected characters",
            ]
        );
    }

    #[test]
    fn error_limit() {
        let src = "keep,;\n".repeat(100);
        let all = parse(src.as_bytes(), 32, 7).unwrap_err();
        assert_eq!(all.diagnostics().len(), 7);
        assert_eq!(all.diagnostics()[6].pos.line, 7);
    }

    #[test]
    fn too_many_arguments() {
        let src = format!("frop {}; keep", "\"a\" ".repeat(40));
        assert_eq!(
            errs(&src),
            [
                "1:134: 'frop' has more than 32 arguments",
                "1:172: expected ';' or a block after the arguments of the command 'keep', found the end of the script"
            ]
        );
    }

    /// Every prefix of a script, and scripts with bytes replaced, parse or fail with errors
    /// inside the script, never more than the limit, and parsing ends.
    #[test]
    fn recovery_never_panics_and_stays_in_bounds() {
        let script: &[u8] = b"require [\"fileinto\", \"variables\"];\n# c\nif anyof (header :is \"a\" [\"b\", \"c\"], not exists \"x\", size :over 1K) {\n  fileinto \"x\"; /* c */ set \"v\" text:\nline\n..dot\n.\n;\n} elsif true { keep; } else { discard; }\nstop;";
        let check = |src: &[u8]| {
            if let Err(e) = parse(src, 8, 5) {
                assert!(e.diagnostics().len() <= 5);
                for d in e.diagnostics() {
                    assert!(
                        d.pos.offset <= src.len(),
                        "{d} in {:?}",
                        String::from_utf8_lossy(src)
                    );
                }
            }
        };
        for end in 0..=script.len() {
            check(&script[..end]);
        }
        let mut seed: u32 = 0x2545_f491;
        let specials = b"{}()[];,:\"#/*\\\n$@0K";
        for _ in 0..3000 {
            let mut v = script.to_vec();
            for _ in 0..3 {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let at = (seed >> 8) as usize % v.len();
                v[at] = specials[(seed >> 20) as usize % specials.len()];
            }
            check(&v);
        }
    }

    #[test]
    fn nesting_limit() {
        let deep = format!("{}{}", "if true {".repeat(40), "}".repeat(40));
        assert_eq!(errs(&deep).len(), 1);
        assert!(errs(&deep)[0].contains("nested too deeply"));
        let tests = format!("if {}true {{}}", "not ".repeat(40));
        assert_eq!(errs(&tests).len(), 1);
        assert!(errs(&tests)[0].contains("nested too deeply"));
        let list = format!("if {}true{} {{}}", "anyof(".repeat(40), ")".repeat(40));
        assert_eq!(errs(&list).len(), 1);
        // After the error, parsing goes on: the next problem is reported too.
        let both = format!("{deep}\nkeep");
        assert_eq!(errs(&both).len(), 2);
        let ok = format!("{}{}", "if true {".repeat(10), "}".repeat(10));
        assert!(parse(ok.as_bytes(), 32, 50).is_ok());
    }
}
