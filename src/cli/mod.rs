//! The command line: `revcheck serve`, `revcheck check`, `revcheck audit`.

mod audit;
mod check;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

/// Exit status for a usage error or an invalid configuration (sysexits EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Exit status for input that cannot be read or decoded (sysexits EX_DATAERR).
pub const EXIT_DATA: u8 = 65;

/// Certificate revocation status from CRLs, for mutual-TLS proxies and applications.
#[derive(Debug, Parser)]
#[command(name = "revcheck", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Check one certificate and its path against CRLs, once.
    Check(check::CheckArgs),
    /// Check an nginx and a Django configuration for ways clients get misidentified.
    Audit(audit::AuditArgs),
}

/// Default configuration file, relative to the working directory.
pub fn default_config_path() -> PathBuf {
    PathBuf::from("config/revcheck.toml")
}

/// Parses the command line and runs the command. Usage errors exit with 64, not clap's 2,
/// because 2 means "status undetermined" for `check`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let usage_error = error.use_stderr();
            // Help and version go to stdout with status 0. Printing fails only on a closed
            // stream, so the error is ignored.
            let _ = error.print();
            return if usage_error {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };

    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Audit(args) => audit::run(&args),
    }
}

/// Starts the tracing subscriber, writing to stderr in `format`. `RUST_LOG` selects what is
/// logged, in `tracing_subscriber::EnvFilter` syntax such as `info` or
/// `revcheck::ocsp=debug,info`. Without it, or when it is invalid, the level is `info`.
fn init_tracing(format: LogFormat) {
    let from_environment = tracing_subscriber::EnvFilter::try_from_default_env();
    let invalid_filter = match (&from_environment, std::env::var_os("RUST_LOG")) {
        (Err(error), Some(value)) => {
            Some((value.to_string_lossy().into_owned(), error.to_string()))
        }
        _ => None,
    };
    let filter = from_environment.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));

    match format {
        LogFormat::Text => {
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(colour)
                .with_writer(std::io::stderr)
                .init();
        }
        // The event's fields sit at the top level of each object beside `timestamp`, `level`,
        // `message` and `target`. Fields of the enclosing spans are under `span` and `spans`.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }

    if let Some((value, error)) = invalid_filter {
        tracing::warn!(
            rust_log = %value,
            %error,
            "RUST_LOG is invalid, so the log level is info; fix its syntax"
        );
    }
}
