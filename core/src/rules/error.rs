//! Rule errors: a script that failed to compile or to run, with where and why.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where in a script something went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptPos {
    /// Script file name.
    pub file: String,
    /// 1-based line, if known.
    pub line: Option<usize>,
    /// 1-based column, if known.
    pub column: Option<usize>,
}

impl fmt::Display for ScriptPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}", self.file),
            (Some(l), None) => write!(f, "{}:{l}", self.file),
            _ => f.write_str(&self.file),
        }
    }
}

/// A script that did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}{}", source_line.as_ref().map(|l| format!("\n    {l}")).unwrap_or_default())]
pub struct CompileError {
    /// Where.
    pub pos: ScriptPos,
    /// What.
    pub message: String,
    /// The offending source line, for the operator.
    pub source_line: Option<String>,
}

/// Why a rules directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The directory or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// One or more scripts did not compile; all of them are listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Compile(Vec<CompileError>),
}

/// A script that failed while running on an event or timer. The event is stored anyway;
/// only this script's effects for it are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// The script function that failed (`on_event`, `on_timer`, `guard`), or `apply` when an
    /// effect was refused (e.g. redeeming more points than the balance).
    pub function: String,
    /// Where, innermost position first.
    pub pos: ScriptPos,
    /// What went wrong.
    pub message: String,
    /// The event being processed.
    pub event: String,
    /// The customer concerned.
    pub customer: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} (event {}): {}",
            self.pos, self.function, self.event, self.message
        )
    }
}
