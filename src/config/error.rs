//! Errors from loading the configuration file, each bad key reported with its value and a fix.

use std::fmt;
use std::path::PathBuf;

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read, or is not valid UTF-8.
    #[error("cannot read configuration file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The file was read but contains syntax errors or invalid keys, all listed in `problems`.
    #[error(
        "invalid configuration in {} ({}):{}",
        .path.display(),
        count_problems(.problems.len()),
        ProblemLines(.problems)
    )]
    Invalid {
        path: PathBuf,
        problems: Vec<ConfigProblem>,
    },
}

/// One invalid key, value or syntax error in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Key path such as `ca[1].crl[0]`, or `line 3, column 7` for a TOML syntax error.
    pub key: String,
    /// The value as written in TOML, with strings in quotes. `None` for a missing or unknown key.
    pub value: Option<String>,
    /// Description of the mistake followed by its fix.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{} = {}: {}", self.key, value, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

fn count_problems(count: usize) -> String {
    if count == 1 {
        "1 problem".to_owned()
    } else {
        format!("{count} problems")
    }
}

/// Problems formatted as indented lines, each after a line break.
struct ProblemLines<'a>(&'a [ConfigProblem]);

impl fmt::Display for ProblemLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}
