//! Static checks of a proxy (nginx) and an application (Django settings) configuration for the
//! ways a client certificate pipeline misidentifies clients. Nothing is run or contacted:
//! the files are read as text.

pub mod django;
pub mod nginx;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use nginx::IncludeRoot;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub file: PathBuf,
    /// 1-based line of the directive or setting.
    pub line: usize,
    /// A short stable name for the kind of problem, such as `nginx-verify-client-off`.
    pub id: &'static str,
    /// The problem and its fix, as one sentence.
    pub message: String,
}

impl Finding {
    fn new(file: &Path, line: usize, id: &'static str, message: String) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            id,
            message,
        }
    }
}

/// A file that could not be audited.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("{}: cannot read{}: {source}", .path.display(), describe_include(.included_from))]
    Unreadable {
        path: PathBuf,
        /// The file and line of the `include` that named the path.
        included_from: Option<(PathBuf, usize)>,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", .file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
}

fn describe_include(included_from: &Option<(PathBuf, usize)>) -> String {
    match included_from {
        Some((file, line)) => format!(
            " (included from {}:{line}; with --nginx-root DIR, /etc/nginx/ paths are read \
             from DIR)",
            file.display()
        ),
        None => String::new(),
    }
}

/// Audits the nginx configuration at `nginx_path` and, when given, the Django settings file at
/// `django_path`. Returns the findings sorted by file, line and id.
pub fn audit(
    nginx_path: &Path,
    django_path: Option<&Path>,
    root: &IncludeRoot,
) -> Result<Vec<Finding>, AuditError> {
    let directives = nginx::load(nginx_path, root)?;
    let proxy = nginx::audit(&directives);
    let mut findings = proxy.findings;

    if let Some(path) = django_path {
        let text = std::fs::read_to_string(path).map_err(|source| AuditError::Unreadable {
            path: path.to_path_buf(),
            included_from: None,
            source,
        })?;
        findings.extend(django::audit(path, &text, &proxy.proxied_locations));
    }

    findings.sort();
    findings.dedup();
    Ok(findings)
}
