//! Pigeonhole's `vnd.dovecot.testsuite` language, compiled only when
//! [`crate::CompileOptions::testsuite`] is set. The runtime hands each of its commands to the
//! host as a [`crate::TestsuiteRequest`]; the test harness in `tests/` is that host.

use crate::program::{Match, StrList, Value};

#[derive(Clone, Debug)]
pub(crate) enum SuiteCommand {
    Begin(Value),
    End,
    Fail(Value),
    Set {
        object: Value,
        value: Value,
    },
    ConfigSet {
        name: Value,
        value: Value,
    },
    ConfigUnset(Value),
    ConfigReload {
        extension: Option<Value>,
    },
    ResultReset,
    ResultPrint,
    MessageSmtp(Value),
    MessageFolder {
        folder: Value,
        index: Value,
    },
    MessagePrint,
    MailboxCreate(Value),
    MailboxDelete(Value),
    ImapMetadataSet {
        mailbox: Option<Value>,
        annotation: Value,
        value: Value,
    },
    BinarySave(Value),
    BinaryLoad(Value),
}

#[derive(Clone, Debug)]
pub(crate) enum SuiteTest {
    ScriptCompile(Value),
    ScriptRun {
        append: bool,
    },
    Multiscript(StrList),
    Error {
        mt: Match,
        keys: StrList,
        index: Option<u64>,
    },
    ResultAction {
        mt: Match,
        keys: StrList,
        index: Option<u64>,
    },
    ResultExecute,
    Message {
        folder: Option<Value>,
        index: Value,
    },
}

/// One `vnd.dovecot.testsuite` command or test for the host (the test harness) to carry out,
/// its string arguments already expanded.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestsuiteRequest {
    /// `test "name" {` begins.
    Begin(String),
    /// The current test block ends.
    End,
    /// `test_fail "reason"`.
    Fail(String),
    /// `test_set "object" "value"`.
    Set(String, String),
    /// `test_config_set "name" "value"`.
    ConfigSet(String, String),
    /// `test_config_unset "name"`.
    ConfigUnset(String),
    /// `test_config_reload [:extension "ext"]`.
    ConfigReload(Option<String>),
    /// `test_result_reset`.
    ResultReset,
    /// `test_result_print`.
    ResultPrint,
    /// `test_message :smtp N`.
    MessageSmtp(String),
    /// `test_message :folder "box" N`.
    MessageFolder(String, String),
    /// `test_message_print`.
    MessagePrint,
    /// `test_mailbox_create "box"`.
    MailboxCreate(String),
    /// `test_mailbox_delete "box"`.
    MailboxDelete(String),
    /// `test_imap_metadata_set [:mailbox "box"] "annotation" "value"`.
    ImapMetadataSet(Option<String>, String, String),
    /// `test_binary_save "name"`.
    BinarySave(String),
    /// `test_binary_load "name"`.
    BinaryLoad(String),
    /// Test `test_script_compile "path"`: answer true or false.
    ScriptCompile(String),
    /// Test `test_script_run [:append_result]`: answer true or false.
    ScriptRun {
        /// `:append_result`.
        append: bool,
    },
    /// Test `test_multiscript [...]`: answer true or false.
    Multiscript(Vec<String>),
    /// Test `test_error`: answer with the error messages of the last compile or run.
    Errors,
    /// Test `test_result_action`: answer with the action names of the current result.
    ResultActions,
    /// Test `test_result_execute`: answer true or false.
    ResultExecute,
}
