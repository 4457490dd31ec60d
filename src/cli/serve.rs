//! `revcheck serve`: load the configuration, fetch CRLs, answer lookups until stopped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use super::{EXIT_USAGE, default_config_path, init_tracing};
use crate::config::Config;
use crate::http::{AppState, routes};
use crate::metrics::Metrics;
use crate::source::{FetchLimits, Fetcher};
use crate::status::{Authorities, Refresher, Schedule};

/// Maximum wait for open connections after a stop signal. Lookups are answered from memory in
/// milliseconds, so a connection still open by then is stalled or has no request on it. The
/// server of warp 0.3, hyper 0.14.32, counts a connection without a request as busy, and its
/// graceful shutdown waits until that client sends a request or disconnects.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, value_name = "PATH", default_value_os_t = default_config_path())]
    config: PathBuf,
}

pub fn run(args: &ServeArgs) -> ExitCode {
    init_tracing();

    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("revcheck: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let authorities = match Authorities::from_config(&config) {
        Ok(authorities) => Arc::new(authorities),
        Err(errors) => {
            let count = match errors.len() {
                1 => "1 problem".to_owned(),
                count => format!("{count} problems"),
            };
            eprintln!(
                "revcheck: invalid configuration in {} ({count}):",
                config.path.display()
            );
            for error in errors {
                eprintln!("  {error}");
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config, authorities))
}

async fn serve(config: Config, authorities: Arc<Authorities>) -> ExitCode {
    let metrics = match Metrics::new() {
        Ok(metrics) => Arc::new(metrics),
        Err(error) => {
            tracing::error!(%error, "cannot register metrics");
            return ExitCode::FAILURE;
        }
    };
    let limits = FetchLimits {
        timeout: config.fetch.timeout,
        deadline: config.fetch.deadline,
        max_size: config.fetch.max_size,
        max_redirects: config.fetch.max_redirects,
    };
    let fetcher = match Fetcher::new(limits) {
        Ok(fetcher) => fetcher,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client for fetching CRLs");
            return ExitCode::FAILURE;
        }
    };

    let ca_ids: Vec<&str> = authorities.iter().map(|authority| authority.id()).collect();
    tracing::info!(config = %config.path.display(), cas = ?ca_ids, listen = %config.listen, "starting revcheck");

    // Installed before the address is logged, because a supervisor that reads that line may
    // send SIGTERM at once, and without a handler the signal kills the process with no drain.
    let mut stop_signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(error) => {
            tracing::error!(%error, "cannot install handlers for SIGTERM and SIGINT");
            return ExitCode::FAILURE;
        }
    };

    let (shutdown_sender, shutdown) = watch::channel(false);
    let state = Arc::new(AppState {
        authorities: Arc::clone(&authorities),
        metrics: Arc::clone(&metrics),
    });
    let server_shutdown = {
        let mut shutdown = shutdown.clone();
        async move {
            let _ = shutdown.changed().await;
        }
    };
    let (address, server) = match warp::serve(routes(state))
        .try_bind_with_graceful_shutdown(config.listen, server_shutdown)
    {
        Ok(bound) => bound,
        Err(error) => {
            tracing::error!(listen = %config.listen, %error, "cannot listen; choose a free address in `listen`");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %address, "listening");

    let refresher = Arc::new(Refresher::new(
        authorities,
        fetcher,
        config.clock_skew,
        metrics,
    ));
    let refresh_span = tracing::info_span!("crl_refresh");
    let refresh_task = tokio::spawn(tracing::Instrument::instrument(
        Arc::clone(&refresher).run(Schedule::from_config(&config.refresh), shutdown.clone()),
        refresh_span,
    ));
    let server_task = tokio::spawn(server);

    let signal = stop_signals.recv().await;
    tracing::info!(signal, "stopping: draining requests in flight");
    let _ = shutdown_sender.send(true);

    match tokio::time::timeout(DRAIN_TIMEOUT, server_task).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "HTTP server task failed"),
        Err(_) => tracing::warn!(
            timeout = ?DRAIN_TIMEOUT,
            "connections still open after the drain timeout; closing them"
        ),
    }
    refresh_task.abort();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Handlers for the signals that stop the server. Until they are installed, SIGTERM and SIGINT
/// terminate the process at once, with no drain and no exit status 0.
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for SIGTERM or SIGINT and returns its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
