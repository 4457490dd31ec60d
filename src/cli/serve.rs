//! `revcheck serve`: load the configuration, fetch CRLs, answer lookups until stopped, and
//! reload the configuration on SIGHUP.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{EXIT_USAGE, default_config_path, init_tracing};
use crate::auth::{AuthGate, decision_labels};
use crate::config::{CertificateFormat, Config};
use crate::http::{AppState, routes};
use crate::metrics::Metrics;
use crate::ocsp::{OcspCache, OcspCacheConfig};
use crate::source::{FetchLimits, Fetcher};
use crate::state::StateStore;
use crate::status::{Authorities, AuthorityError, Refresher, Schedule};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, value_name = "PATH", default_value_os_t = default_config_path())]
    config: PathBuf,
}

pub fn run(args: &ServeArgs) -> ExitCode {
    // The configuration chooses the log format, so tracing starts after it is read, and
    // problems in the file are printed as plain text.
    let (config, authorities, gate) = match load(&args.config) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("revcheck: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    init_tracing(config.log_format);

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
    runtime.block_on(serve(config, authorities, gate))
}

/// The configuration with what it names loaded: the CA certificates, and the identities file
/// and shared secret of `[auth]`.
type Loaded = (Config, Authorities, Option<AuthGate>);

/// Loads and validates the configuration and the files it names; the message lists every
/// problem.
fn load(path: &Path) -> Result<Loaded, String> {
    let config = Config::load(path).map_err(|error| error.to_string())?;
    let authorities = Authorities::from_config(&config)
        .map_err(|errors| describe_authority_errors(&config, &errors))?;
    let gate = match &config.auth {
        Some(auth) => Some(AuthGate::new(auth).map_err(|error| {
            format!(
                "invalid configuration in {}: [auth]: {error}",
                config.path.display()
            )
        })?),
        None => None,
    };
    Ok((config, authorities, gate))
}

/// Logs each CA whose certificate is outside its validity period: `/v1/auth` denies every
/// certificate that it issued, unless a current certificate for the same CA is configured too.
fn warn_about_ca_validity(authorities: &Authorities) {
    let now = std::time::SystemTime::now();
    for authority in authorities.iter() {
        let certificate = authority.certificate();
        if !certificate.is_valid_at(now) {
            tracing::warn!(
                ca = authority.id(),
                not_before = %crate::x509::time::format_rfc3339(certificate.not_before()),
                not_after = %crate::x509::time::format_rfc3339(certificate.not_after()),
                "the CA certificate is outside its validity period; replace it with a current one"
            );
        }
    }
}

/// Logs the `[auth]` settings that weaken the access check.
fn warn_about_auth(config: &Config) {
    let Some(auth) = &config.auth else { return };
    if auth.certificate_format == CertificateFormat::NginxMultiline {
        tracing::warn!(
            "auth.certificate_format = \"nginx_multiline\" reads nginx's deprecated \
             $ssl_client_cert; forward $ssl_client_escaped_cert and use \"nginx_escaped\""
        );
    }
    if auth.secret_header.is_none() && config.listen.is_some() {
        tracing::info!(
            "GET /v1/auth accepts any client that reaches the listen address; set \
             auth.secret_header, or listen = \"none\" with listen_unix, so that only the proxy \
             can ask"
        );
    }
}

fn describe_authority_errors(config: &Config, errors: &[AuthorityError]) -> String {
    let count = if errors.len() == 1 {
        "1 problem".to_owned()
    } else {
        format!("{} problems", errors.len())
    };
    let mut message = format!(
        "invalid configuration in {} ({count}):",
        config.path.display()
    );
    for error in errors {
        message.push_str("\n  ");
        message.push_str(&error.to_string());
    }
    message
}

/// The parts of the service that a reload replaces: the CAs and their refresh task.
struct Generation {
    authorities: Arc<Authorities>,
    stop_refresh: watch::Sender<bool>,
    refresh_task: JoinHandle<()>,
}

impl Generation {
    /// Restores last-good CRLs from the state directory, then starts refreshing on schedule.
    fn start(
        config: &Config,
        authorities: Arc<Authorities>,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, String> {
        let limits = fetch_limits(config);
        let fetcher = Fetcher::new(limits)
            .map_err(|error| format!("cannot build the HTTP client for fetching CRLs: {error}"))?;
        let refresher = Arc::new(
            Refresher::new(
                Arc::clone(&authorities),
                fetcher,
                config.clock_skew,
                Arc::clone(metrics),
            )
            .with_state(StateStore::new(config.state_dir.clone())),
        );
        for authority in authorities.iter() {
            metrics.prepare_ca(
                authority.id(),
                authority.method().uses_crl(),
                authority.method().uses_ocsp(),
            );
        }
        refresher.load_state();

        let (stop_refresh, stopped) = watch::channel(false);
        let schedule = Schedule::from_config(&config.refresh);
        let refresh_task = tokio::spawn(tracing::Instrument::instrument(
            refresher.run(schedule, stopped),
            tracing::info_span!("crl_refresh"),
        ));
        Ok(Self {
            authorities,
            stop_refresh,
            refresh_task,
        })
    }

    async fn stop(self) {
        let _ = self.stop_refresh.send(true);
        // A fetch in progress ends at its deadline; nothing it stores is needed any more.
        self.refresh_task.abort();
        let _ = self.refresh_task.await;
    }
}

async fn serve(config: Config, authorities: Authorities, gate: Option<AuthGate>) -> ExitCode {
    let metrics = match Metrics::new() {
        Ok(metrics) => Arc::new(metrics),
        Err(error) => {
            tracing::error!(%error, "cannot register metrics");
            return ExitCode::FAILURE;
        }
    };
    metrics.init_auth_decisions(decision_labels());
    let ca_ids: Vec<&str> = authorities.iter().map(|authority| authority.id()).collect();
    tracing::info!(config = %config.path.display(), cas = ?ca_ids, listen = ?config.listen, state_dir = %config.state_dir.display(), "starting revcheck");
    warn_about_auth(&config);
    warn_about_ca_validity(&authorities);

    // Installed before the address is logged, because a supervisor that reads that line may
    // send SIGTERM at once, and without a handler the signal kills the process with no drain.
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => {
            tracing::error!(%error, "cannot install handlers for SIGTERM, SIGINT and SIGHUP");
            return ExitCode::FAILURE;
        }
    };

    let ocsp = match ocsp_cache(&config, &metrics) {
        Ok(cache) => cache,
        Err(message) => {
            tracing::error!(%message, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let authorities = Arc::new(authorities);
    let state = Arc::new(AppState {
        ocsp,
        authorities: ArcSwap::new(Arc::clone(&authorities)),
        auth: ArcSwapOption::new(gate.map(Arc::new)),
        metrics: Arc::clone(&metrics),
    });

    // Bind first, so that a taken address fails the start before any CRL is fetched.
    let (shutdown_sender, shutdown) = watch::channel(false);
    let mut servers = Vec::new();
    if let Some(address) = config.listen {
        match bind_tcp(address, &state, shutdown.clone()) {
            Ok(server) => servers.push(server),
            Err(()) => return ExitCode::FAILURE,
        }
    }
    if let Some(path) = &config.listen_unix {
        match bind_unix(path, &state, shutdown.clone()) {
            Ok(server) => servers.push(server),
            Err(()) => return ExitCode::FAILURE,
        }
    }

    let mut generation = match Generation::start(&config, Arc::clone(&authorities), &metrics) {
        Ok(generation) => generation,
        Err(message) => {
            tracing::error!(%message, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    restore_ocsp(&state, &authorities).await;
    let server_tasks: Vec<JoinHandle<()>> = servers.into_iter().map(tokio::spawn).collect();

    // The socket bound at start, which a reload does not change.
    let bound_unix = config.listen_unix.clone();
    let mut config = config;
    let signal = loop {
        match signals.recv().await {
            Received::Reload => {
                if let Some((new_config, new_generation)) = reload(&config, &state, &metrics).await
                {
                    let old = std::mem::replace(&mut generation, new_generation);
                    old.stop().await;
                    config = new_config;
                }
            }
            Received::Stop(name) => break name,
        }
    };

    tracing::info!(signal, "stopping: draining requests in flight");
    let _ = shutdown_sender.send(true);
    let drain = async {
        for task in server_tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "HTTP server task failed");
            }
        }
    };
    // hyper 0.14 (under warp 0.3) counts a connection without a request as busy, so the drain
    // is bounded: a client holding an idle connection cannot keep the process alive.
    if tokio::time::timeout(config.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?config.drain_timeout, "connections still open after drain_timeout; closing them");
    }
    generation.stop().await;
    if let Some(path) = &bound_unix {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// The download limits of the `[fetch]` table, shared by CRL and OCSP requests.
fn fetch_limits(config: &Config) -> FetchLimits {
    FetchLimits {
        timeout: config.fetch.timeout,
        deadline: config.fetch.deadline,
        max_size: config.fetch.max_size,
        max_redirects: config.fetch.max_redirects,
    }
}

/// Builds the OCSP result cache, shared by every generation, with the fetch limits and cache
/// settings of the configuration at start. It is built even when no CA has responders yet,
/// so that a reload can add some; an unused cache costs nothing.
fn ocsp_cache(config: &Config, metrics: &Metrics) -> Result<Option<OcspCache>, String> {
    let fetcher = Fetcher::new(fetch_limits(config))
        .map_err(|error| format!("cannot build the HTTP client for OCSP: {error}"))?;
    let settings = OcspCacheConfig {
        max_age: config.ocsp_cache.max_age,
        failure_ttl: config.ocsp_cache.failure_ttl,
        refresh_ahead: config.ocsp_cache.refresh_ahead,
        capacity: config.ocsp_cache.capacity,
    };
    let state = StateStore::new(config.state_dir.clone());
    OcspCache::new(settings, fetcher, Some(state), metrics.clone())
        .map(Some)
        .map_err(|error| format!("invalid [ocsp] settings: {error}"))
}

/// Loads the OCSP responses kept in the state directory, verifying each again.
async fn restore_ocsp(state: &AppState, authorities: &Authorities) {
    let Some(cache) = &state.ocsp else { return };
    for authority in authorities.iter() {
        if let Some(ocsp) = authority.ocsp() {
            let summary = cache.restore(ocsp).await;
            if summary.restored > 0 || summary.ignored > 0 {
                tracing::info!(
                    ca = authority.id(),
                    restored = summary.restored,
                    ignored = summary.ignored,
                    "OCSP answers read from the state directory"
                );
            }
        }
    }
}

/// Loads the configuration again. A valid one replaces the CAs (keeping the CRLs they share
/// with the old set) and starts a new refresh task; an invalid one is logged and the running
/// configuration stays.
async fn reload(
    running: &Config,
    state: &AppState,
    metrics: &Arc<Metrics>,
) -> Option<(Config, Generation)> {
    tracing::info!(config = %running.path.display(), "SIGHUP: reloading the configuration");
    let (config, authorities, gate) = match load(&running.path) {
        Ok(loaded) => loaded,
        Err(message) => {
            // One log line per event: the problems are joined instead of listed on new lines.
            let error = message.replace("\n  ", " ").replace('\n', " ");
            tracing::error!(%error, "reload rejected; the running configuration stays in use");
            return None;
        }
    };
    if config.listen != running.listen || config.listen_unix != running.listen_unix {
        tracing::warn!(
            running_listen = ?running.listen,
            new_listen = ?config.listen,
            running_listen_unix = ?running.listen_unix,
            new_listen_unix = ?config.listen_unix,
            "listen and listen_unix changes take effect only after a restart"
        );
    }
    if config.log_format != running.log_format {
        tracing::warn!("log_format changes take effect only after a restart");
    }
    // The [ocsp] cache settings and the fetch limits of OCSP requests stay as at start.

    let previous = state.authorities.load_full();
    authorities.adopt_from(&previous);
    let authorities = Arc::new(authorities);
    let generation = match Generation::start(&config, Arc::clone(&authorities), metrics) {
        Ok(generation) => generation,
        Err(message) => {
            tracing::error!(%message, "reload rejected; the running configuration stays in use");
            return None;
        }
    };
    if let Some(cache) = &state.ocsp {
        // Responder settings may have changed, so no response cached under the old configuration stays.
        for authority in previous.iter() {
            cache.invalidate_ca(authority.id());
        }
    }
    restore_ocsp(state, &authorities).await;
    state.authorities.store(authorities);
    // A new gate starts with an empty cache, so no certificate verified under the old CAs or
    // mapped with the old identities file is used again.
    let identities = gate.as_ref().map(AuthGate::identity_count);
    state.auth.store(gate.map(Arc::new));
    warn_about_auth(&config);
    warn_about_ca_validity(&generation.authorities);
    for removed in previous
        .iter()
        .filter(|old| generation.authorities.get(old.id()).is_none())
    {
        metrics.forget_ca(removed.id());
    }
    let ca_ids: Vec<String> = generation
        .authorities
        .iter()
        .map(|authority| authority.id().to_owned())
        .collect();
    tracing::info!(cas = ?ca_ids, identities, "configuration reloaded");
    Some((config, generation))
}

/// A bound HTTP server, not yet running.
type Server = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

// NOTE: warp 0.3 exposes no header-read timeout or connection limit of hyper, so a client that
// never finishes its request holds its connection open. Deploy revcheck behind nginx or on a
// Unix socket, where only the proxy connects.
fn bind_tcp(
    address: std::net::SocketAddr,
    state: &Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Server, ()> {
    let stopped = async move {
        let _ = shutdown.changed().await;
    };
    let bound =
        warp::serve(routes(Arc::clone(state))).try_bind_with_graceful_shutdown(address, stopped);
    match bound {
        Ok((address, server)) => {
            tracing::info!(addr = %address, "listening");
            Ok(Box::pin(server))
        }
        Err(error) => {
            tracing::error!(listen = %address, %error, "cannot listen; choose a free address in `listen`");
            Err(())
        }
    }
}

fn bind_unix(
    path: &Path,
    state: &Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Server, ()> {
    // A socket file left by a previous run would make bind fail; anything else is kept.
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type()) => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => {
            tracing::error!(path = %path.display(), "cannot listen on the Unix socket: the path exists and is not a socket; remove it or choose another path in `listen_unix`");
            return Err(());
        }
        Err(_) => {}
    }
    let listener = match tokio::net::UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(path = %path.display(), %error, "cannot listen on the Unix socket; fix `listen_unix`");
            return Err(());
        }
    };
    tracing::info!(path = %path.display(), "listening on Unix socket");

    let incoming = futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    });
    let stopped = async move {
        let _ = shutdown.changed().await;
    };
    let server = warp::serve(routes(Arc::clone(state)))
        .serve_incoming_with_graceful_shutdown(incoming, stopped);
    Ok(Box::pin(server))
}

/// A signal the service acts on.
enum Received {
    Stop(&'static str),
    Reload,
}

/// Handlers for SIGTERM and SIGINT (stop) and SIGHUP (reload). Until they are installed, these
/// signals terminate the process at once, with no drain and no exit status 0.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> Received {
        tokio::select! {
            _ = self.terminate.recv() => Received::Stop("SIGTERM"),
            _ = self.interrupt.recv() => Received::Stop("SIGINT"),
            _ = self.hangup.recv() => Received::Reload,
        }
    }
}
