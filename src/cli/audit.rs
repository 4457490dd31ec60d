//! `revcheck audit`: static check of an nginx and a Django configuration for the ways a
//! client certificate pipeline misidentifies clients.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::EXIT_DATA;
use crate::audit::{self, Finding, IncludeRoot};

/// Exit status when the audit found at least one problem.
const EXIT_FINDINGS: u8 = 1;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// nginx configuration file: a whole nginx.conf or a site file with server blocks.
    #[arg(long, value_name = "FILE")]
    nginx: PathBuf,

    /// Django settings module, read as text (it is not run).
    #[arg(long, value_name = "FILE")]
    django: Option<PathBuf>,

    /// Local copy of nginx's configuration directory. Include paths under /etc/nginx/ and
    /// relative include paths are read from here. Without it, relative include paths are
    /// read from the including file's directory.
    #[arg(long, value_name = "DIR")]
    nginx_root: Option<PathBuf>,

    /// Print the findings as a JSON array.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &AuditArgs) -> ExitCode {
    let root = IncludeRoot {
        nginx_root: args.nginx_root.clone(),
    };
    let findings = match audit::audit(&args.nginx, args.django.as_deref(), &root) {
        Ok(findings) => findings,
        Err(error) => {
            eprintln!("revcheck: {error}");
            return ExitCode::from(EXIT_DATA);
        }
    };

    print_findings(&findings, args.json);
    if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDINGS)
    }
}

fn print_findings(findings: &[Finding], json: bool) {
    let mut out = std::io::stdout().lock();
    // A failed write, such as to a closed pipe, is ignored, because the exit status still
    // reports whether there were findings.
    if json {
        let text = serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".to_owned());
        let _ = writeln!(out, "{text}");
        return;
    }
    for finding in findings {
        let _ = writeln!(
            out,
            "{}:{}: {}: {}",
            finding.file.display(),
            finding.line,
            finding.id,
            finding.message
        );
    }
}
