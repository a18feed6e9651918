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
//! Nesting (blocks and tests together) is bounded by [`crate::Limits::max_nesting`].

use std::borrow::Cow;

use crate::error::CompileError;
use crate::lexer::{LexErrorKind, Lexer, Position, Spanned, Token};

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

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Spanned<'a>>,
    max_nesting: usize,
    depth: usize,
}

/// How a token is named in error messages.
fn describe(t: &Token<'_>) -> String {
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

impl<'a> Parser<'a> {
    fn fill(&mut self) -> Result<(), CompileError> {
        if self.peeked.is_none() {
            match self.lexer.next() {
                Some(Ok(t)) => self.peeked = Some(t),
                Some(Err(e)) => {
                    return Err(CompileError::new(e.pos, lex_message(&e.kind)));
                }
                None => {}
            }
        }
        Ok(())
    }

    fn peek(&mut self) -> Result<Option<&Spanned<'a>>, CompileError> {
        self.fill()?;
        Ok(self.peeked.as_ref())
    }

    fn next(&mut self) -> Result<Option<Spanned<'a>>, CompileError> {
        self.fill()?;
        Ok(self.peeked.take())
    }

    fn eof_error(&self, what: &str) -> CompileError {
        CompileError::new(
            self.lexer.here(),
            format!("unexpected end of script: {what}"),
        )
    }

    fn enter(&mut self, pos: Position) -> Result<(), CompileError> {
        self.depth += 1;
        if self.depth > self.max_nesting {
            return Err(CompileError::new(
                pos,
                format!(
                    "blocks and tests are nested too deeply (the limit is {})",
                    self.max_nesting
                ),
            ));
        }
        Ok(())
    }

    fn commands(
        &mut self,
        in_block: bool,
    ) -> Result<(Vec<CommandNode<'a>>, Position), CompileError> {
        let mut out = Vec::new();
        loop {
            let Some(tok) = self.next()? else {
                if in_block {
                    return Err(self.eof_error("expected '}' to close the block"));
                }
                return Ok((out, self.lexer.here()));
            };
            match tok.token {
                Token::Identifier(name) => out.push(self.command(name, tok.pos)?),
                Token::RightBrace if in_block => return Ok((out, tok.pos)),
                other => {
                    return Err(CompileError::new(
                        tok.pos,
                        format!("expected a command, found {}", describe(&other)),
                    ));
                }
            }
        }
    }

    fn command(&mut self, name: &'a str, pos: Position) -> Result<CommandNode<'a>, CompileError> {
        let (args, tests, test_list) = self.arguments(name, true)?;
        let Some(tok) = self.next()? else {
            return Err(self.eof_error(&format!(
                "expected ';' or a block after the command '{name}'"
            )));
        };
        match tok.token {
            Token::Semicolon => Ok(CommandNode {
                name: lower(name),
                pos,
                args,
                tests,
                test_list,
                block: None,
                end: tok.pos,
            }),
            Token::LeftBrace => {
                self.enter(tok.pos)?;
                let (block, end) = self.commands(true)?;
                self.depth -= 1;
                Ok(CommandNode {
                    name: lower(name),
                    pos,
                    args,
                    tests,
                    test_list,
                    block: Some(block),
                    end,
                })
            }
            other => Err(CompileError::new(
                tok.pos,
                format!(
                    "expected ';' or a block after the arguments of the command '{name}', found {}",
                    describe(&other)
                ),
            )),
        }
    }

    /// `*argument [ test / test-list ]`
    #[allow(clippy::type_complexity)]
    fn arguments(
        &mut self,
        owner: &str,
        command: bool,
    ) -> Result<(Vec<Arg<'a>>, Vec<TestNode<'a>>, bool), CompileError> {
        let mut args = Vec::new();
        loop {
            let Some(tok) = self.peek()? else {
                return Ok((args, Vec::new(), false));
            };
            let pos = tok.pos;
            match &tok.token {
                Token::Tag(_) | Token::Number(_) | Token::String(_) => {
                    let tok = self.next()?.expect("peeked");
                    args.push(match tok.token {
                        Token::Tag(t) => Arg::Tag(lower(t), pos),
                        Token::Number(n) => Arg::Number(n, pos),
                        Token::String(s) => Arg::Strings {
                            values: vec![s],
                            list: false,
                            pos,
                        },
                        _ => unreachable!("matched above"),
                    });
                }
                Token::LeftBracket => {
                    self.next()?;
                    args.push(self.string_list(pos)?);
                }
                Token::Identifier(_) => {
                    let Some(Spanned {
                        token: Token::Identifier(name),
                        pos,
                    }) = self.next()?
                    else {
                        unreachable!("peeked an identifier")
                    };
                    self.enter(pos)?;
                    let test = self.test(name, pos)?;
                    self.depth -= 1;
                    return Ok((args, vec![test], false));
                }
                Token::LeftParen => {
                    self.next()?;
                    self.enter(pos)?;
                    let tests = self.test_list(owner)?;
                    self.depth -= 1;
                    return Ok((args, tests, true));
                }
                _ => {
                    let _ = command;
                    return Ok((args, Vec::new(), false));
                }
            }
        }
    }

    fn string_list(&mut self, pos: Position) -> Result<Arg<'a>, CompileError> {
        let mut values = Vec::new();
        loop {
            let Some(tok) = self.next()? else {
                return Err(self.eof_error("expected a string in the string list"));
            };
            match tok.token {
                Token::String(s) => values.push(s),
                other => {
                    return Err(CompileError::new(
                        tok.pos,
                        format!(
                            "expected a string in the string list, found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
            let Some(tok) = self.next()? else {
                return Err(self.eof_error("expected ',' or ']' in the string list"));
            };
            match tok.token {
                Token::Comma => {}
                Token::RightBracket => {
                    return Ok(Arg::Strings {
                        values,
                        list: true,
                        pos,
                    });
                }
                other => {
                    return Err(CompileError::new(
                        tok.pos,
                        format!(
                            "expected ',' or ']' in the string list, found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
    }

    fn test(&mut self, name: &'a str, pos: Position) -> Result<TestNode<'a>, CompileError> {
        let (args, tests, test_list) = self.arguments(name, false)?;
        Ok(TestNode {
            name: lower(name),
            pos,
            args,
            tests,
            test_list,
        })
    }

    fn test_list(&mut self, owner: &str) -> Result<Vec<TestNode<'a>>, CompileError> {
        let mut tests = Vec::new();
        loop {
            let Some(tok) = self.next()? else {
                return Err(
                    self.eof_error(&format!("expected a test in the test list of '{owner}'"))
                );
            };
            match tok.token {
                Token::Identifier(name) => tests.push(self.test(name, tok.pos)?),
                other => {
                    return Err(CompileError::new(
                        tok.pos,
                        format!(
                            "expected a test in the test list of '{owner}', found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
            let Some(tok) = self.next()? else {
                return Err(self.eof_error(&format!(
                    "expected ',' or ')' in the test list of '{owner}'"
                )));
            };
            match tok.token {
                Token::Comma => {}
                Token::RightParen => return Ok(tests),
                other => {
                    return Err(CompileError::new(
                        tok.pos,
                        format!(
                            "expected ',' or ')' in the test list of '{owner}', found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
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
    }
}

/// Parses a whole script into its command list.
pub(crate) fn parse(src: &[u8], max_nesting: usize) -> Result<Vec<CommandNode<'_>>, CompileError> {
    let mut p = Parser {
        lexer: Lexer::from_bytes(src),
        peeked: None,
        max_nesting,
        depth: 0,
    };
    Ok(p.commands(false)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse(src.as_bytes(), 32).unwrap_err().to_string()
    }

    #[test]
    fn structure() {
        let cmds = parse(
            b"require [\"fileinto\"];\nif anyof (header :is \"a\" \"b\", not true) { fileinto \"x\"; } else { keep; }",
            32,
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
    }

    #[test]
    fn errors_are_positioned_and_precise() {
        assert_eq!(
            err("keep"),
            "line 1, column 5: unexpected end of script: expected ';' or a block after the command 'keep'"
        );
        assert_eq!(
            err("fileinto \"a\"\n\"b\" ]"),
            "line 2, column 5: expected ';' or a block after the arguments of the command 'fileinto', found ']'"
        );
        assert_eq!(
            err("if true { keep;"),
            "line 1, column 16: unexpected end of script: expected '}' to close the block"
        );
        assert_eq!(
            err("x [\"a\" \"b\"];"),
            "line 1, column 8: expected ',' or ']' in the string list, found string"
        );
        assert_eq!(
            err("x [];"),
            "line 1, column 4: expected a string in the string list, found ']'"
        );
        assert_eq!(
            err("if anyof(true; false) {}"),
            "line 1, column 14: expected ',' or ')' in the test list of 'anyof', found ';'"
        );
        assert_eq!(err("}"), "line 1, column 1: expected a command, found '}'");
        assert_eq!(
            err("keep; \"x\""),
            "line 1, column 7: expected a command, found string"
        );
        assert_eq!(err("keep @"), "line 1, column 6: unexpected character '@'");
    }

    #[test]
    fn nesting_limit() {
        let deep = format!("{}{}", "if true {".repeat(40), "}".repeat(40));
        assert!(err(&deep).contains("nested too deeply"));
        let tests = format!("if {}true{} {{}}", "not ".repeat(40), "");
        assert!(err(&tests).contains("nested too deeply"));
        let ok = format!("{}{}", "if true {".repeat(10), "}".repeat(10));
        assert!(parse(ok.as_bytes(), 32).is_ok());
    }
}
