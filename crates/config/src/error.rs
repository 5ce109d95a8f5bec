//! Configuration errors: a file that cannot be read, or every problem found in it, each
//! with the file, the line and the key it is about.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (absent, unreadable, not UTF-8).
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file was read but has problems; all of them are listed, one per line, in the
    /// order they appear in the file.
    #[error("{}", DisplayProblems(problems))]
    Invalid { problems: Vec<Problem> },
}

impl ConfigError {
    /// The problems found in the file (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems } => problems,
        }
    }
}

/// One problem in the configuration file. Displayed as `file:line: message`; the message
/// names the table and key concerned and never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line the problem is on.
    pub line: usize,
    /// What is wrong, e.g. ``[[account]] "ilert": missing required key `integration_key` ``.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(file: &Path, line: usize, message: String) -> Self {
        Self {
            file: file.to_owned(),
            line,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

struct DisplayProblems<'a>(&'a [Problem]);

impl fmt::Display for DisplayProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
