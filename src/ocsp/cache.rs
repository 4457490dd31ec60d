//! Cache of verified OCSP responses, one per certificate, so that a responder is asked only
//! when no current response is cached.
//!
//! An entry lives until the response's nextUpdate or for the configured maximum age,
//! whichever comes first. A failed request is cached for a short time too, so that a dead
//! responder is not asked again at every lookup. Verified responses are also written to the
//! state directory and verified again when they are restored after a restart.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::future::Cache;
use tracing::Instrument;

use super::{
    CertId, DecodedOcspResponse, OcspError, OcspOptions, OcspRequest, OcspStatus, RequestMethod,
    VerifiedOcspResponse, send_request, verify_response,
};
use crate::metrics::{CacheName, Metrics, OcspOutcome};
use crate::source::Fetcher;
use crate::state::{StateStore, StoredOcspResponse};
use crate::x509::{ParsedCertificate, hex};

const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);
const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(30);
const DEFAULT_REFRESH_AHEAD: f64 = 0.2;
const DEFAULT_CAPACITY: u64 = 10_000;
const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Settings of an [`OcspCache`]. [`Default`] gives the values documented on each field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OcspCacheConfig {
    /// Maximum time a response is served from the cache, even when its nextUpdate is later.
    /// It bounds how long a revocation that the responder already reports can go unnoticed.
    /// Greater than 0. Default 1 hour.
    pub max_age: Duration,
    /// How long a failed lookup is cached, so that a failing responder is asked again about
    /// the same certificate only after this time. It is also the pause after a background
    /// refresh that failed or brought no newer response. 0 caches no failure. Default 30 s.
    pub failure_ttl: Duration,
    /// The final fraction of an entry's life in which a lookup also starts a background
    /// refresh, from 0.0 (never refresh ahead) to 1.0 (refresh at every lookup). Default 0.2,
    /// the last 20%.
    pub refresh_ahead: f64,
    /// Maximum number of certificates held. Beyond it moka evicts entries by its TinyLFU
    /// policy, which keeps the frequently read ones. At least 1. Default 10,000.
    pub capacity: u64,
}

impl Default for OcspCacheConfig {
    fn default() -> Self {
        Self {
            max_age: DEFAULT_MAX_AGE,
            failure_ttl: DEFAULT_FAILURE_TTL,
            refresh_ahead: DEFAULT_REFRESH_AHEAD,
            capacity: DEFAULT_CAPACITY,
        }
    }
}

impl OcspCacheConfig {
    /// Checks every setting against the range documented on its field.
    pub fn validate(&self) -> Result<(), InvalidOcspCacheConfig> {
        if self.max_age.is_zero() {
            return Err(InvalidOcspCacheConfig {
                setting: "max_age",
                detail: "must be greater than 0, or every lookup would send a request".to_owned(),
            });
        }
        if !(0.0..=1.0).contains(&self.refresh_ahead) {
            return Err(InvalidOcspCacheConfig {
                setting: "refresh_ahead",
                detail: format!(
                    "is {}, but must be a fraction from 0.0 to 1.0, such as 0.2",
                    self.refresh_ahead
                ),
            });
        }
        if self.capacity == 0 {
            return Err(InvalidOcspCacheConfig {
                setting: "capacity",
                detail: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}

/// An [`OcspCacheConfig`] setting outside its range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid OCSP cache setting {setting}: {detail}")]
pub struct InvalidOcspCacheConfig {
    pub setting: &'static str,
    pub detail: String,
}

/// One CA as the OCSP cache uses it: its certificate, its responders and the rules for
/// checking their responses. Callers pass it with every lookup.
#[derive(Clone, Debug)]
pub struct OcspAuthority {
    /// The CA id, used in metric labels, logs and state file paths.
    pub ca_id: String,
    /// The CA certificate that issued the certificates looked up. It signs the responses or
    /// the delegated responder certificate.
    pub issuer: ParsedCertificate,
    /// Responder URLs, tried in order until one returns a verified response.
    pub responder_urls: Vec<url::Url>,
    pub method: RequestMethod,
    /// Sends a random nonce with every request and requires the response to echo it. Only
    /// for responders known to echo nonces, because RFC 5019 responders may serve
    /// pre-produced responses without one.
    pub nonce: bool,
    /// How far a response's thisUpdate may lie in the future.
    pub clock_skew: Duration,
    /// Accepts a response without nextUpdate for this long after its thisUpdate. `None`
    /// rejects such responses.
    pub max_age_without_next_update: Option<Duration>,
    /// Accepts responses signed with SHA-1.
    pub allow_sha1: bool,
}

impl OcspAuthority {
    /// Describes a CA with the strict defaults: GET requests (RFC 5019), no nonce, a clock
    /// skew of 5 minutes, nextUpdate required and no SHA-1 signatures.
    pub fn new(ca_id: &str, issuer: ParsedCertificate, responder_urls: Vec<url::Url>) -> Self {
        Self {
            ca_id: ca_id.to_owned(),
            issuer,
            responder_urls,
            method: RequestMethod::Get,
            nonce: false,
            clock_skew: DEFAULT_CLOCK_SKEW,
            max_age_without_next_update: None,
            allow_sha1: false,
        }
    }

    fn options(&self, now: SystemTime, nonce: Option<[u8; 16]>) -> OcspOptions {
        OcspOptions {
            now,
            clock_skew: self.clock_skew,
            max_age_without_next_update: self.max_age_without_next_update,
            nonce,
            allow_sha1: self.allow_sha1,
        }
    }
}

/// A verified response returned by [`OcspCache::lookup`].
#[derive(Clone, Debug)]
pub struct OcspAnswer {
    pub response: Arc<VerifiedOcspResponse>,
    /// True when the response came from the cache, false when this lookup's own request
    /// fetched it. A lookup that waited for the request of a concurrent lookup of the same
    /// certificate counts as served from the cache.
    pub from_cache: bool,
}

/// The result of [`OcspCache::restore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Responses verified again and put in the cache.
    pub restored: usize,
    /// Files that were unreadable, invalid, expired or older than the maximum age.
    pub ignored: usize,
}

/// Cache of OCSP responses for the certificates of one or more CAs.
///
/// Concurrent lookups of the same uncached certificate send one request: moka runs the
/// request of the first lookup and hands its result to the others. A lookup that finds an
/// entry in the last [`refresh_ahead`](OcspCacheConfig::refresh_ahead) part of its life
/// returns it at once and starts one background refresh for that certificate. A failed
/// refresh leaves the entry in place until it expires.
///
/// Cheap to clone: clones share one cache.
#[derive(Clone)]
pub struct OcspCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: OcspCacheConfig,
    entries: Cache<CacheKey, Entry>,
    fetcher: Fetcher,
    state: Option<StateStore>,
    metrics: Metrics,
}

impl fmt::Debug for OcspCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // moka's own Debug lists every entry, which could be large.
        f.debug_struct("OcspCache")
            .field("config", &self.inner.config)
            .field("state", &self.inner.state)
            .finish_non_exhaustive()
    }
}

/// The key of an entry. The CA id is part of it because each CA has its own verification
/// rules and state folder, even in the unusual case of two CAs with one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    ca_id: String,
    cert_id: CertId,
}

/// A cached response or failure, with the times that decide when it expires and when a
/// lookup refreshes it.
#[derive(Clone, Debug)]
struct Entry {
    outcome: Result<Arc<VerifiedOcspResponse>, Arc<OcspError>>,
    expires_at: Instant,
    /// Time from which a lookup starts a background refresh. `None` for failures, which are
    /// not refreshed, and when refresh ahead is off.
    refresh_at: Option<Instant>,
    refresh: Arc<Mutex<RefreshState>>,
}

/// Refresh state of an entry, shared by its clones so that one refresh at a time runs for it.
#[derive(Debug, Default)]
struct RefreshState {
    running: bool,
    /// Time before which no refresh starts, set after a refresh that failed or brought
    /// nothing newer.
    paused_until: Option<Instant>,
}

impl Entry {
    /// Builds the entry of a verified response that was received at `received_at`, or just
    /// now when `None`. It expires at nextUpdate or `max_age` after receipt, whichever is
    /// first.
    fn response(
        response: VerifiedOcspResponse,
        received_at: Option<SystemTime>,
        config: &OcspCacheConfig,
    ) -> Self {
        let now = Instant::now();
        let wall_now = SystemTime::now();
        let until_next_update = response
            .next_update()
            .duration_since(wall_now)
            .unwrap_or_default();
        let age = received_at
            .and_then(|received_at| wall_now.duration_since(received_at).ok())
            .unwrap_or_default();
        let lifetime = until_next_update.min(config.max_age.saturating_sub(age));

        // validate() keeps refresh_ahead within 0.0..=1.0, so the factor is too.
        let refresh_at = (config.refresh_ahead > 0.0)
            .then(|| now + lifetime.mul_f64(1.0 - config.refresh_ahead));
        Self {
            outcome: Ok(Arc::new(response)),
            expires_at: now + lifetime,
            refresh_at,
            refresh: Arc::default(),
        }
    }

    fn failure(error: OcspError, config: &OcspCacheConfig) -> Self {
        Self {
            outcome: Err(Arc::new(error)),
            expires_at: Instant::now() + config.failure_ttl,
            refresh_at: None,
            refresh: Arc::default(),
        }
    }

    /// Checks whether the response's nextUpdate has passed on the wall clock. moka expires
    /// entries on the monotonic clock, which does not follow a step of the wall clock.
    fn is_past_next_update(&self, now: SystemTime) -> bool {
        self.outcome
            .as_ref()
            .is_ok_and(|response| response.is_expired_at(now))
    }
}

impl RefreshState {
    /// Marks a refresh as running, unless one already runs or refreshes are paused.
    fn try_start(&mut self, now: Instant) -> bool {
        let paused = self.paused_until.is_some_and(|until| now < until);
        if self.running || paused {
            return false;
        }
        self.running = true;
        true
    }

    fn finish(&mut self, pause_until: Option<Instant>) {
        self.running = false;
        self.paused_until = pause_until;
    }
}

/// Expires each entry at its own `expires_at`.
struct EntryExpiry;

impl Expiry<CacheKey, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        entry: &Entry,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        entry: &Entry,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(updated_at))
    }
}

/// A verified response and the DER it was verified from.
struct Fetched {
    response: VerifiedOcspResponse,
    der: Vec<u8>,
}

impl OcspCache {
    /// Builds an empty cache. Responses are saved under `state` when it is given.
    pub fn new(
        config: OcspCacheConfig,
        fetcher: Fetcher,
        state: Option<StateStore>,
        metrics: Metrics,
    ) -> Result<Self, InvalidOcspCacheConfig> {
        config.validate()?;
        let entries = Cache::builder()
            .name("ocsp")
            .max_capacity(config.capacity)
            .expire_after(EntryExpiry)
            .support_invalidation_closures()
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                entries,
                fetcher,
                state,
                metrics,
            }),
        })
    }

    /// Returns the verified OCSP response for `cert_id`, a certificate issued by
    /// `authority`, from the cache or else from the first of its responders that returns
    /// one.
    ///
    /// A response may have any status, `unknown` included. An error, cached or new, means
    /// that no responder returned a verified response. When every responder failed, the
    /// error is the first responder's, and every failure has been logged.
    ///
    /// Must be called within a tokio runtime, which runs the background refreshes.
    pub async fn lookup(
        &self,
        authority: &Arc<OcspAuthority>,
        cert_id: &CertId,
    ) -> Result<OcspAnswer, Arc<OcspError>> {
        let key = CacheKey {
            ca_id: authority.ca_id.clone(),
            cert_id: cert_id.clone(),
        };

        // moka runs the request of one lookup per key and hands its entry to the lookups
        // that arrive meanwhile. An entry past its nextUpdate on the wall clock is replaced.
        let cached = self
            .inner
            .entries
            .entry(key.clone())
            .or_insert_with_if(self.inner.fetch(authority, cert_id), |entry| {
                entry.is_past_next_update(SystemTime::now())
            })
            .await;

        let from_cache = !cached.is_fresh();
        if from_cache {
            self.inner.metrics.count_cache_hit(CacheName::Ocsp);
        } else {
            self.inner.metrics.count_cache_miss(CacheName::Ocsp);
        }
        let entry = cached.into_value();
        if from_cache {
            self.start_refresh_if_due(authority, key, &entry);
        }

        entry.outcome.map(|response| OcspAnswer {
            response,
            from_cache,
        })
    }

    /// Reads the responses that the state directory contains for `authority`, verifies each
    /// again at the current time and caches those that pass.
    ///
    /// Unreadable, invalid and expired files are logged and ignored, and expired ones are
    /// deleted because they can never become valid again. A restored entry expires at
    /// nextUpdate or the maximum age after the file was written, whichever is first. Its
    /// [`responder_url`](VerifiedOcspResponse::responder_url) names the state file, because
    /// the responder URL is not stored.
    pub async fn restore(&self, authority: &Arc<OcspAuthority>) -> RestoreSummary {
        let Some(state) = self.inner.state.clone() else {
            return RestoreSummary::default();
        };
        let config = self.inner.config;
        let metrics = self.inner.metrics.clone();
        let blocking_authority = Arc::clone(authority);
        // Reading files and checking signatures would stall the runtime's worker threads.
        let loaded = tokio::task::spawn_blocking(move || {
            load_stored(&state, &blocking_authority, &config, &metrics)
        })
        .await;
        let (entries, ignored) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(ca = %authority.ca_id, %error, "restoring OCSP responses failed");
                return RestoreSummary::default();
            }
        };

        let restored = entries.len();
        for (cert_id, entry) in entries {
            let key = CacheKey {
                ca_id: authority.ca_id.clone(),
                cert_id,
            };
            self.inner.entries.insert(key, entry).await;
        }
        tracing::info!(
            ca = %authority.ca_id,
            restored,
            ignored,
            "OCSP responses restored from the state directory"
        );
        RestoreSummary { restored, ignored }
    }

    /// Drops every cached entry of CA `ca_id`, for example after a reload changed its
    /// settings. Stored files stay and are verified again by [`restore`](Self::restore).
    pub fn invalidate_ca(&self, ca_id: &str) {
        let ca_id = ca_id.to_owned();
        let result = self
            .inner
            .entries
            .invalidate_entries_if(move |key, _| key.ca_id == ca_id);
        // Fails only when the cache was built without support_invalidation_closures.
        if let Err(error) = result {
            tracing::error!(%error, "cannot drop the cached OCSP responses of a CA");
        }
    }

    /// Starts a background refresh of `entry` when it is in the last part of its life and no
    /// refresh of it runs or is paused.
    fn start_refresh_if_due(&self, authority: &Arc<OcspAuthority>, key: CacheKey, entry: &Entry) {
        let now = Instant::now();
        let due = entry.refresh_at.is_some_and(|refresh_at| now >= refresh_at);
        if !due {
            return;
        }
        let started = entry
            .refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_start(now);
        if !started {
            return;
        }

        let inner = Arc::clone(&self.inner);
        let authority = Arc::clone(authority);
        let refresh = Arc::clone(&entry.refresh);
        let current = entry.outcome.clone();
        let span = tracing::info_span!(
            "ocsp_refresh",
            ca = %authority.ca_id,
            serial = %key.cert_id.serial_number()
        );
        tokio::spawn(
            async move {
                tracing::debug!("refreshing the OCSP response before it expires");
                let fresh = inner.fetch(&authority, &key.cert_id).await;
                let pause_until = Instant::now() + inner.config.failure_ttl;
                let Ok(response) = &fresh.outcome else {
                    tracing::debug!(
                        "OCSP refresh failed, so the cached response is served until it expires"
                    );
                    refresh
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .finish(Some(pause_until));
                    return;
                };

                // A responder that serves pre-produced responses may return the same one
                // again. Its entry then ends at the same nextUpdate, so another refresh
                // would follow at once without the pause.
                let newer = current.as_ref().is_ok_and(|cached| {
                    response.produced_at() > cached.produced_at()
                        || response.next_update() > cached.next_update()
                });
                if !newer {
                    fresh
                        .refresh
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .finish(Some(pause_until));
                }
                inner.entries.insert(key, fresh).await;
            }
            .instrument(span),
        );
    }
}

impl Inner {
    /// Requests the status of `cert_id` from the responders of `authority` and builds the
    /// entry of the first verified response, or of the first error when none verifies.
    async fn fetch(&self, authority: &OcspAuthority, cert_id: &CertId) -> Entry {
        match self.request_any(authority, cert_id).await {
            Ok(fetched) => {
                self.save(authority, cert_id, fetched.der).await;
                Entry::response(fetched.response, None, &self.config)
            }
            Err(error) => Entry::failure(error, &self.config),
        }
    }

    async fn request_any(
        &self,
        authority: &OcspAuthority,
        cert_id: &CertId,
    ) -> Result<Fetched, OcspError> {
        let mut first_error = None;
        for responder_url in &authority.responder_urls {
            match self.request_one(authority, cert_id, responder_url).await {
                Ok(fetched) => return Ok(fetched),
                Err(error) => {
                    tracing::warn!(
                        ca = %authority.ca_id,
                        serial = %cert_id.serial_number(),
                        source = %responder_url,
                        reason = error.reason_code(),
                        error = %error,
                        "OCSP request failed"
                    );
                    first_error.get_or_insert(error);
                }
            }
        }

        Err(first_error.unwrap_or_else(|| {
            let error = OcspError::NoResponder {
                serial: cert_id.serial_number().clone(),
            };
            tracing::warn!(
                ca = %authority.ca_id,
                serial = %cert_id.serial_number(),
                reason = error.reason_code(),
                "OCSP status requested for a CA without responder URLs"
            );
            error
        }))
    }

    /// Sends one request to `responder_url` and verifies the response, counting the request
    /// and its duration in the metrics.
    async fn request_one(
        &self,
        authority: &OcspAuthority,
        cert_id: &CertId,
        responder_url: &url::Url,
    ) -> Result<Fetched, OcspError> {
        let nonce = if authority.nonce {
            Some(random_nonce(cert_id)?)
        } else {
            None
        };
        let request = OcspRequest::new(cert_id.clone(), nonce)?;

        let started = Instant::now();
        let sent = send_request(&self.fetcher, responder_url, &request, authority.method).await;
        self.metrics
            .ocsp_request_duration
            .with_label_values(&[authority.ca_id.as_str()])
            .observe(started.elapsed().as_secs_f64());

        let result = sent.and_then(|der| {
            let options = authority.options(SystemTime::now(), nonce);
            let response = verify_response(
                &der,
                responder_url.as_str(),
                cert_id,
                &authority.issuer,
                &options,
            )?;
            Ok(Fetched { response, der })
        });
        self.metrics
            .count_ocsp_request(&authority.ca_id, request_outcome(&result));
        result
    }

    /// Writes a verified response to the state directory, when there is one. A failure is
    /// logged and counted, and the response is still served from memory.
    async fn save(&self, authority: &OcspAuthority, cert_id: &CertId, der: Vec<u8>) {
        let Some(state) = self.state.clone() else {
            return;
        };
        let ca_id = authority.ca_id.clone();
        let key = state_key(cert_id);
        let dir = state.ocsp_dir(&ca_id);
        // The write is synced to disk, which would stall a runtime worker thread.
        let result = tokio::task::spawn_blocking(move || state.save_ocsp(&ca_id, &key, &der))
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error)));

        if let Err(error) = result {
            tracing::error!(
                ca = %authority.ca_id,
                serial = %cert_id.serial_number(),
                dir = %dir.display(),
                %error,
                "cannot write the OCSP response to the state directory; it will not survive a restart"
            );
            self.metrics
                .state_errors
                .with_label_values(&[authority.ca_id.as_str(), "ocsp_save"])
                .inc();
        }
    }
}

/// Returns a random nonce for one request. `cert_id` names the request in the error.
fn random_nonce(cert_id: &CertId) -> Result<[u8; 16], OcspError> {
    use ring::rand::SecureRandom;

    let mut nonce = [0; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| OcspError::RequestEncoding {
            serial: cert_id.serial_number().clone(),
            detail: "the system random number generator failed to produce a nonce".to_owned(),
        })?;
    Ok(nonce)
}

fn request_outcome(result: &Result<Fetched, OcspError>) -> OcspOutcome {
    match result {
        Ok(fetched) => match fetched.response.status() {
            OcspStatus::Good => OcspOutcome::Good,
            OcspStatus::Revoked { .. } => OcspOutcome::Revoked,
            OcspStatus::Unknown => OcspOutcome::Unknown,
        },
        Err(OcspError::Fetch { .. }) => OcspOutcome::FetchError,
        Err(OcspError::UnsuccessfulStatus { .. }) => OcspOutcome::ErrorStatus,
        Err(_) => OcspOutcome::Invalid,
    }
}

/// Returns the name of the state file of `cert_id`: the hex SHA-256 of its four fields,
/// each with its length in front so that no two CertIDs give the same input.
fn state_key(cert_id: &CertId) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(cert_id.hash_algorithm().as_str().as_bytes());
    for field in [
        cert_id.issuer_name_hash(),
        cert_id.issuer_key_hash(),
        cert_id.serial_number().as_bytes(),
    ] {
        // CertID fields are hashes and serial numbers of at most a few dozen bytes.
        let length = u32::try_from(field.len()).unwrap_or(u32::MAX);
        context.update(&length.to_be_bytes());
        context.update(field);
    }
    hex::encode(context.finish().as_ref())
}

/// Reason a stored response is not restored.
#[derive(Debug, thiserror::Error)]
enum RestoreError {
    #[error("{0}")]
    Invalid(OcspError),
    #[error("it has no SingleResponse whose CertID matches the file name")]
    NoMatchingCertId,
    #[error("its CertID names an issuer other than the certificate of the CA")]
    OtherIssuer,
    #[error("it was saved more than max_age ago")]
    TooOld,
}

impl RestoreError {
    fn reason_code(&self) -> &'static str {
        match self {
            Self::Invalid(error) => error.reason_code(),
            Self::NoMatchingCertId => "ocsp_state_file_mismatch",
            Self::OtherIssuer => "ocsp_state_file_other_issuer",
            Self::TooOld => "ocsp_state_file_too_old",
        }
    }
}

/// Reads and verifies the stored responses of `authority`, returning the entries to cache
/// and the number of files ignored.
fn load_stored(
    state: &StateStore,
    authority: &OcspAuthority,
    config: &OcspCacheConfig,
    metrics: &Metrics,
) -> (Vec<(CertId, Entry)>, usize) {
    let count_load_error = || {
        metrics
            .state_errors
            .with_label_values(&[authority.ca_id.as_str(), "ocsp_load"])
            .inc();
    };
    let stored = match state.load_ocsp_all(&authority.ca_id) {
        Ok(stored) => stored,
        Err(error) => {
            tracing::error!(
                ca = %authority.ca_id,
                dir = %state.ocsp_dir(&authority.ca_id).display(),
                %error,
                "cannot read the stored OCSP responses; starting without them"
            );
            count_load_error();
            return (Vec::new(), 0);
        }
    };

    let now = SystemTime::now();
    let mut entries = Vec::new();
    let mut ignored = 0;
    for file in stored {
        let file = match file {
            Ok(file) => file,
            Err(error) => {
                tracing::warn!(ca = %authority.ca_id, %error, "ignoring an unreadable OCSP state file");
                count_load_error();
                ignored += 1;
                continue;
            }
        };

        match restore_one(&file, authority, config, now) {
            Ok(restored) => entries.push(restored),
            Err(error) => {
                tracing::warn!(
                    ca = %authority.ca_id,
                    path = %file.path.display(),
                    reason = error.reason_code(),
                    %error,
                    "OCSP state file not restored; ignoring it"
                );
                ignored += 1;
                let expired = matches!(error, RestoreError::Invalid(OcspError::Expired { .. }));
                if expired {
                    remove_expired(state, authority, &file);
                }
            }
        }
    }
    (entries, ignored)
}

fn restore_one(
    file: &StoredOcspResponse,
    authority: &OcspAuthority,
    config: &OcspCacheConfig,
    now: SystemTime,
) -> Result<(CertId, Entry), RestoreError> {
    // Messages name the file, as a CRL source file is named, because the responder URL was
    // not stored.
    let origin = format!("file:{}", file.path.display());
    let decoded =
        DecodedOcspResponse::from_der(&file.der, &origin).map_err(RestoreError::Invalid)?;

    let cert_id = decoded
        .cert_ids()
        .into_iter()
        .find(|cert_id| state_key(cert_id) == file.key)
        .ok_or(RestoreError::NoMatchingCertId)?;
    let issuer_cert_id = CertId::new(
        cert_id.hash_algorithm(),
        &authority.issuer,
        cert_id.serial_number().clone(),
    );
    if issuer_cert_id != cert_id {
        return Err(RestoreError::OtherIssuer);
    }

    // The nonce was checked when the response was received. A stored response is the one
    // revcheck wrote itself, so no nonce is expected now.
    let response = decoded
        .verify(&cert_id, &authority.issuer, &authority.options(now, None))
        .map_err(RestoreError::Invalid)?;
    let entry = Entry::response(response, file.modified, config);
    if entry.expires_at <= Instant::now() {
        return Err(RestoreError::TooOld);
    }
    Ok((cert_id, entry))
}

fn remove_expired(state: &StateStore, authority: &OcspAuthority, file: &StoredOcspResponse) {
    if let Err(error) = state.remove_ocsp(&authority.ca_id, &file.key) {
        tracing::warn!(
            ca = %authority.ca_id,
            path = %file.path.display(),
            %error,
            "cannot delete an expired OCSP state file"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinSet;

    use super::*;
    use crate::crl::RevocationReason;
    use crate::fixtures::{LeafSpec, OcspResponseBuilder, SingleResponseSpec, TestCa};
    use crate::source::{FetchError, FetchLimits};
    use crate::x509::Serial;

    /// Maximum wait for anything a test expects to happen.
    const WAIT_LIMIT: Duration = Duration::from_secs(10);
    const HOUR: Duration = Duration::from_secs(3600);
    const CA_ID: &str = "demo";

    /// Returns the HTTP status and body to send for a request body (empty for GET).
    type ReplyFn = dyn Fn(&[u8]) -> (u16, Vec<u8>) + Send + Sync;

    /// An OCSP responder on 127.0.0.1 that counts requests, waits `delay` before each reply
    /// and sends what its reply function returns. It stops when dropped.
    struct CountingResponder {
        address: SocketAddr,
        requests: Arc<AtomicUsize>,
        reply: Arc<Mutex<Arc<ReplyFn>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl CountingResponder {
        async fn start(delay: Duration, reply: Arc<ReplyFn>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address");
            let requests = Arc::new(AtomicUsize::new(0));
            let reply = Arc::new(Mutex::new(reply));

            let task = {
                let requests = Arc::clone(&requests);
                let reply = Arc::clone(&reply);
                tokio::spawn(async move {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let requests = Arc::clone(&requests);
                        let reply = Arc::clone(&reply);
                        tokio::spawn(async move {
                            // The client may close the connection early, which needs no action.
                            let _ = serve_connection(stream, &requests, &reply, delay).await;
                        });
                    }
                })
            };
            Self {
                address,
                requests,
                reply,
                task,
            }
        }

        fn url(&self) -> url::Url {
            url::Url::parse(&format!("http://{}/ocsp", self.address)).expect("test URL parses")
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }

        fn set_reply(&self, reply: Arc<ReplyFn>) {
            *self.reply.lock().unwrap_or_else(PoisonError::into_inner) = reply;
        }
    }

    impl Drop for CountingResponder {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// Reads one request (head and a body of Content-Length bytes), counts it and replies.
    async fn serve_connection(
        stream: TcpStream,
        requests: &AtomicUsize,
        reply: &Mutex<Arc<ReplyFn>>,
        delay: Duration,
    ) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut content_length = 0;
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body).await?;
        requests.fetch_add(1, Ordering::SeqCst);

        tokio::time::sleep(delay).await;
        let reply = Arc::clone(&reply.lock().unwrap_or_else(PoisonError::into_inner));
        let (status, reply_body) = reply(&body);
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/ocsp-response\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            if status == 200 { "OK" } else { "Error" },
            reply_body.len()
        );
        let mut stream = reader.into_inner();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&reply_body).await?;
        stream.shutdown().await
    }

    /// A CA and the CertID of one of its leaves.
    struct Pki {
        ca: Arc<TestCa>,
        ca_cert: ParsedCertificate,
        cert_id: CertId,
    }

    fn new_pki(name: &str) -> Pki {
        let ca = TestCa::root(name).expect("test CA");
        let ca_cert = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: format!("{name} leaf"),
                serial: vec![0x10, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf is issued");
        let leaf = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
        let cert_id = CertId::for_certificate(super::super::HashAlgorithm::Sha1, &leaf, &ca_cert);
        Pki {
            ca: Arc::new(ca),
            ca_cert,
            cert_id,
        }
    }

    /// Returns a response for `cert_id` signed by `ca`, produced now, with thisUpdate a
    /// minute ago and nextUpdate `valid_for` from now.
    fn response_der(
        ca: &TestCa,
        cert_id: &CertId,
        status: OcspStatus,
        valid_for: Duration,
    ) -> Vec<u8> {
        let now = SystemTime::now();
        OcspResponseBuilder::new()
            .produced_at(now)
            .response(SingleResponseSpec::new(
                cert_id.clone(),
                status,
                now - Duration::from_secs(60),
                Some(now + valid_for),
            ))
            .build(ca)
            .expect("response builds")
    }

    /// A reply function that signs a new response with `status` for every request.
    fn status_reply(pki: &Pki, status: OcspStatus, valid_for: Duration) -> Arc<ReplyFn> {
        let ca = Arc::clone(&pki.ca);
        let cert_id = pki.cert_id.clone();
        Arc::new(move |_: &[u8]| (200, response_der(&ca, &cert_id, status, valid_for)))
    }

    fn good_reply(pki: &Pki, valid_for: Duration) -> Arc<ReplyFn> {
        status_reply(pki, OcspStatus::Good, valid_for)
    }

    fn http_error_reply(status: u16) -> Arc<ReplyFn> {
        Arc::new(move |_: &[u8]| (status, b"responder failed".to_vec()))
    }

    fn authority(pki: &Pki, responder_urls: Vec<url::Url>) -> Arc<OcspAuthority> {
        Arc::new(OcspAuthority::new(
            CA_ID,
            pki.ca_cert.clone(),
            responder_urls,
        ))
    }

    fn new_cache(config: OcspCacheConfig, state: Option<StateStore>) -> (OcspCache, Metrics) {
        let fetcher = Fetcher::new(FetchLimits::simple(Duration::from_secs(5), 64 * 1024))
            .expect("HTTP client is built");
        let metrics = Metrics::new().expect("metrics register");
        let cache = OcspCache::new(config, fetcher, state, metrics.clone()).expect("valid config");
        (cache, metrics)
    }

    /// Returns a URL on 127.0.0.1 where nothing listens, so connecting is refused.
    fn refused_url() -> url::Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        drop(listener);
        url::Url::parse(&format!("http://{address}/ocsp")).expect("test URL parses")
    }

    /// Polls `condition` until it is true or [`WAIT_LIMIT`] passes, and returns its last
    /// value.
    async fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + WAIT_LIMIT;
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        condition()
    }

    fn hits(metrics: &Metrics) -> u64 {
        metrics.cache_hits.with_label_values(&["ocsp"]).get()
    }

    fn misses(metrics: &Metrics) -> u64 {
        metrics.cache_misses.with_label_values(&["ocsp"]).get()
    }

    fn requests_with(metrics: &Metrics, outcome: OcspOutcome) -> u64 {
        metrics
            .ocsp_requests
            .with_label_values(&[CA_ID, outcome.as_str()])
            .get()
    }

    fn without_refresh_ahead() -> OcspCacheConfig {
        OcspCacheConfig {
            refresh_ahead: 0.0,
            ..OcspCacheConfig::default()
        }
    }

    #[tokio::test]
    async fn expired_entry_requested_again() {
        let pki = new_pki("Expiry CA");
        let responder =
            CountingResponder::start(Duration::ZERO, good_reply(&pki, Duration::from_secs(2)))
                .await;
        let (cache, _) = new_cache(without_refresh_ahead(), None);
        let authority = authority(&pki, vec![responder.url()]);

        let first = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        assert!(!first.from_cache);
        assert_eq!(responder.requests(), 1);

        let second = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        assert!(second.from_cache);
        assert!(Arc::ptr_eq(&first.response, &second.response));
        assert_eq!(responder.requests(), 1);

        // nextUpdate is at most 2 s away, because the response drops fractions of seconds.
        let until_next_update = first
            .response
            .next_update()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        assert!(
            until_next_update <= Duration::from_secs(2),
            "{until_next_update:?}"
        );
        tokio::time::sleep(until_next_update + Duration::from_millis(200)).await;

        let third = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        assert!(!third.from_cache);
        assert_eq!(responder.requests(), 2);
        assert!(third.response.next_update() > first.response.next_update());
    }

    #[tokio::test]
    async fn max_age_ends_entry_before_next_update() {
        let pki = new_pki("Max Age CA");
        let responder = CountingResponder::start(Duration::ZERO, good_reply(&pki, HOUR)).await;
        let config = OcspCacheConfig {
            max_age: Duration::from_secs(1),
            ..without_refresh_ahead()
        };
        let (cache, _) = new_cache(config, None);
        let authority = authority(&pki, vec![responder.url()]);

        cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        let cached = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        assert!(cached.from_cache);
        assert_eq!(responder.requests(), 1);

        tokio::time::sleep(Duration::from_millis(1200)).await;
        let after = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");

        assert!(!after.from_cache);
        assert_eq!(responder.requests(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_send_one_request() {
        let pki = new_pki("Single Flight CA");
        // The delay keeps the first request open while the other lookups arrive.
        let responder =
            CountingResponder::start(Duration::from_millis(300), good_reply(&pki, HOUR)).await;
        let (cache, metrics) = new_cache(OcspCacheConfig::default(), None);
        let authority = authority(&pki, vec![responder.url()]);

        let mut lookups = JoinSet::new();
        for _ in 0..1000 {
            let cache = cache.clone();
            let authority = Arc::clone(&authority);
            let cert_id = pki.cert_id.clone();
            lookups.spawn(async move { cache.lookup(&authority, &cert_id).await });
        }
        let mut answers = Vec::new();
        let joined = tokio::time::timeout(WAIT_LIMIT, async {
            while let Some(joined) = lookups.join_next().await {
                answers.push(joined.expect("lookup task finishes"));
            }
        })
        .await;
        assert!(
            joined.is_ok(),
            "lookups did not finish within {WAIT_LIMIT:?}"
        );

        assert_eq!(answers.len(), 1000);
        let mut fetched = 0;
        for answer in answers {
            let answer = answer.expect("verified");
            assert_eq!(answer.response.status(), &OcspStatus::Good);
            if !answer.from_cache {
                fetched += 1;
            }
        }
        assert_eq!(responder.requests(), 1);
        assert_eq!(fetched, 1);
        assert_eq!(misses(&metrics), 1);
        assert_eq!(hits(&metrics), 999);
    }

    #[tokio::test]
    async fn refresh_ahead_before_expiry() {
        let pki = new_pki("Refresh CA");
        // The delay keeps the refresh running while the lookups below read the old entry.
        let responder =
            CountingResponder::start(Duration::from_millis(300), good_reply(&pki, HOUR)).await;
        // Entries live 4 s and are refreshed when read after 2 s.
        let config = OcspCacheConfig {
            max_age: Duration::from_secs(4),
            refresh_ahead: 0.5,
            ..OcspCacheConfig::default()
        };
        let (cache, metrics) = new_cache(config, None);
        let authority = authority(&pki, vec![responder.url()]);
        let first = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");

        tokio::time::sleep(Duration::from_millis(2300)).await;
        let mut lookups = JoinSet::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let authority = Arc::clone(&authority);
            let cert_id = pki.cert_id.clone();
            lookups.spawn(async move { cache.lookup(&authority, &cert_id).await });
        }
        while let Some(joined) = lookups.join_next().await {
            let answer = joined.expect("lookup task finishes").expect("verified");
            assert!(answer.from_cache);
            assert!(Arc::ptr_eq(&answer.response, &first.response));
        }

        assert!(wait_until(|| responder.requests() >= 2).await);
        let mut refreshed = None;
        let deadline = Instant::now() + WAIT_LIMIT;
        while refreshed.is_none() && Instant::now() < deadline {
            let answer = cache
                .lookup(&authority, &pki.cert_id)
                .await
                .expect("verified");
            assert!(answer.from_cache);
            if !Arc::ptr_eq(&answer.response, &first.response) {
                refreshed = Some(answer);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        assert!(
            refreshed.is_some(),
            "the refreshed response never replaced the first"
        );
        assert_eq!(responder.requests(), 2);
        assert_eq!(misses(&metrics), 1);
        assert_eq!(requests_with(&metrics, OcspOutcome::Good), 2);
    }

    #[tokio::test]
    async fn failed_refresh_keeps_entry() {
        let pki = new_pki("Failed Refresh CA");
        let responder = CountingResponder::start(Duration::ZERO, good_reply(&pki, HOUR)).await;
        let config = OcspCacheConfig {
            max_age: Duration::from_secs(3),
            refresh_ahead: 0.5,
            failure_ttl: Duration::from_secs(30),
            capacity: 100,
        };
        let (cache, metrics) = new_cache(config, None);
        let authority = authority(&pki, vec![responder.url()]);
        let first = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        let first_at = Instant::now();
        responder.set_reply(http_error_reply(500));

        tokio::time::sleep(Duration::from_millis(1700)).await;
        let during_refresh = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        assert!(during_refresh.from_cache);
        assert!(Arc::ptr_eq(&during_refresh.response, &first.response));
        assert!(wait_until(|| requests_with(&metrics, OcspOutcome::FetchError) == 1).await);

        // The failed refresh pauses further refreshes for failure_ttl, so these lookups
        // return the first response without a request.
        for _ in 0..3 {
            let answer = cache
                .lookup(&authority, &pki.cert_id)
                .await
                .expect("verified");
            assert!(answer.from_cache);
            assert!(Arc::ptr_eq(&answer.response, &first.response));
        }
        assert_eq!(responder.requests(), 2);

        let until_expiry =
            (first_at + Duration::from_secs(3)).saturating_duration_since(Instant::now());
        tokio::time::sleep(until_expiry + Duration::from_millis(200)).await;
        let error = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect_err("the entry expired and the responder fails");
        assert_eq!(error.reason_code(), "ocsp_fetch_failed");
        assert_eq!(responder.requests(), 3);
    }

    #[tokio::test]
    async fn failing_responder_asked_after_ttl() {
        let responder = CountingResponder::start(Duration::ZERO, http_error_reply(500)).await;
        let pki = new_pki("Failing Responder CA");
        let config = OcspCacheConfig {
            failure_ttl: Duration::from_secs(1),
            ..OcspCacheConfig::default()
        };
        let (cache, metrics) = new_cache(config, None);
        let authority = authority(&pki, vec![responder.url()]);

        let first = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect_err("responder fails");
        assert!(
            matches!(
                first.as_ref(),
                OcspError::Fetch {
                    error: FetchError::Status { status: 500, .. },
                    ..
                }
            ),
            "{first:?}"
        );
        assert_eq!(responder.requests(), 1);

        let cached = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect_err("cached failure");
        assert!(Arc::ptr_eq(&first, &cached));
        assert_eq!(cached.reason_code(), "ocsp_fetch_failed");
        assert_eq!(responder.requests(), 1);
        assert_eq!(hits(&metrics), 1);

        tokio::time::sleep(Duration::from_millis(1200)).await;
        let after_ttl = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect_err("responder still fails");
        assert_eq!(after_ttl.reason_code(), "ocsp_fetch_failed");
        assert_eq!(responder.requests(), 2);
        assert_eq!(requests_with(&metrics, OcspOutcome::FetchError), 2);
    }

    #[tokio::test]
    async fn refused_connection_cached_as_failure() {
        let pki = new_pki("Refused CA");
        let (cache, metrics) = new_cache(OcspCacheConfig::default(), None);
        let authority = authority(&pki, vec![refused_url()]);

        for _ in 0..2 {
            let error = cache
                .lookup(&authority, &pki.cert_id)
                .await
                .expect_err("nothing listens");
            assert!(
                matches!(error.as_ref(), OcspError::Fetch { .. }),
                "{error:?}"
            );
        }

        assert_eq!(requests_with(&metrics, OcspOutcome::FetchError), 1);
        assert_eq!(misses(&metrics), 1);
        assert_eq!(hits(&metrics), 1);
    }

    #[tokio::test]
    async fn next_responder_after_failure() {
        let pki = new_pki("Failover CA");
        let responder = CountingResponder::start(Duration::ZERO, good_reply(&pki, HOUR)).await;
        let (cache, metrics) = new_cache(OcspCacheConfig::default(), None);
        let authority = authority(&pki, vec![refused_url(), responder.url()]);

        let answer = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");

        assert_eq!(answer.response.responder_url(), responder.url().as_str());
        assert_eq!(responder.requests(), 1);
        assert_eq!(requests_with(&metrics, OcspOutcome::FetchError), 1);
        assert_eq!(requests_with(&metrics, OcspOutcome::Good), 1);
    }

    #[tokio::test]
    async fn invalid_response_cached_as_failure() {
        let pki = new_pki("Invalid Response CA");
        let other = new_pki("Other CA");
        // Signed by a CA that did not issue the certificate.
        let responder = CountingResponder::start(
            Duration::ZERO,
            Arc::new({
                let ca = Arc::clone(&other.ca);
                let cert_id = pki.cert_id.clone();
                move |_: &[u8]| (200, response_der(&ca, &cert_id, OcspStatus::Good, HOUR))
            }),
        )
        .await;
        let (cache, metrics) = new_cache(OcspCacheConfig::default(), None);
        let authority = authority(&pki, vec![responder.url()]);

        for _ in 0..2 {
            let error = cache
                .lookup(&authority, &pki.cert_id)
                .await
                .expect_err("response is not signed by the CA");
            assert_eq!(error.reason_code(), "ocsp_signer_invalid");
        }

        assert_eq!(responder.requests(), 1);
        assert_eq!(requests_with(&metrics, OcspOutcome::Invalid), 1);
    }

    #[tokio::test]
    async fn revoked_and_unknown_cached() {
        let revoked = OcspStatus::Revoked {
            revocation_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_751_328_000),
            reason: Some(RevocationReason::KeyCompromise),
        };
        for (status, outcome) in [
            (revoked, OcspOutcome::Revoked),
            (OcspStatus::Unknown, OcspOutcome::Unknown),
        ] {
            let pki = new_pki("Status CA");
            let responder =
                CountingResponder::start(Duration::ZERO, status_reply(&pki, status, HOUR)).await;
            let (cache, metrics) = new_cache(OcspCacheConfig::default(), None);
            let authority = authority(&pki, vec![responder.url()]);

            for _ in 0..2 {
                let answer = cache
                    .lookup(&authority, &pki.cert_id)
                    .await
                    .expect("verified");
                assert_eq!(answer.response.status(), &status);
            }

            assert_eq!(responder.requests(), 1, "{status:?}");
            assert_eq!(requests_with(&metrics, outcome), 1, "{status:?}");
        }
    }

    #[tokio::test]
    async fn nonce_sent_and_checked() {
        let pki = new_pki("Nonce CA");
        let echoing = CountingResponder::start(
            Duration::ZERO,
            Arc::new({
                let ca = Arc::clone(&pki.ca);
                let cert_id = pki.cert_id.clone();
                move |body: &[u8]| {
                    let nonce = request_nonce(body).expect("request carries a nonce");
                    let now = SystemTime::now();
                    let der = OcspResponseBuilder::new()
                        .produced_at(now)
                        .response(SingleResponseSpec::new(
                            cert_id.clone(),
                            OcspStatus::Good,
                            now - Duration::from_secs(60),
                            Some(now + HOUR),
                        ))
                        .nonce(&nonce)
                        .build(ca.as_ref())
                        .expect("response builds");
                    (200, der)
                }
            }),
        )
        .await;
        let silent = CountingResponder::start(Duration::ZERO, good_reply(&pki, HOUR)).await;
        let (cache, _) = new_cache(OcspCacheConfig::default(), None);
        let with_nonce = |url: url::Url| {
            let mut authority = OcspAuthority::new("demo", pki.ca_cert.clone(), vec![url]);
            authority.method = RequestMethod::Post;
            authority.nonce = true;
            Arc::new(authority)
        };

        let echoed = cache.lookup(&with_nonce(echoing.url()), &pki.cert_id).await;
        cache.invalidate_ca(CA_ID);
        let not_echoed = cache.lookup(&with_nonce(silent.url()), &pki.cert_id).await;

        assert_eq!(
            echoed.expect("verified").response.status(),
            &OcspStatus::Good
        );
        let error = not_echoed.expect_err("response lacks the nonce");
        assert!(
            matches!(error.as_ref(), OcspError::NonceMissing { .. }),
            "{error:?}"
        );
    }

    /// Returns the nonce of a DER OCSPRequest: the contents of the OCTET STRING in the
    /// id-pkix-ocsp-nonce extension value.
    fn request_nonce(body: &[u8]) -> Option<Vec<u8>> {
        let request: rasn_ocsp::OcspRequest = rasn::der::decode(body).ok()?;
        let extension = request
            .tbs_request
            .request_extensions?
            .iter()
            .find(|extension| *extension.extn_id == *super::super::request::ID_PKIX_OCSP_NONCE)?
            .clone();
        let nonce: rasn::types::OctetString = rasn::der::decode(&extension.extn_value).ok()?;
        Some(nonce.to_vec())
    }

    #[tokio::test]
    async fn no_responder_url_fails() {
        let pki = new_pki("No Responder CA");
        let (cache, metrics) = new_cache(OcspCacheConfig::default(), None);
        let authority = authority(&pki, Vec::new());

        let error = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect_err("no responder to ask");

        assert!(
            matches!(error.as_ref(), OcspError::NoResponder { .. }),
            "{error:?}"
        );
        assert_eq!(error.reason_code(), "ocsp_no_responder");
        assert_eq!(requests_with(&metrics, OcspOutcome::FetchError), 0);
    }

    #[tokio::test]
    async fn invalidate_ca_drops_entries() {
        let pki = new_pki("Invalidate CA");
        let responder = CountingResponder::start(Duration::ZERO, good_reply(&pki, HOUR)).await;
        let (cache, _) = new_cache(OcspCacheConfig::default(), None);
        let authority = authority(&pki, vec![responder.url()]);

        cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        cache.invalidate_ca("another CA");
        let after_other_ca = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        cache.invalidate_ca(CA_ID);
        let after_own_ca = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");

        assert!(after_other_ca.from_cache);
        assert!(!after_own_ca.from_cache);
        assert_eq!(responder.requests(), 2);
    }

    #[tokio::test]
    async fn restart_restores_saved_response() {
        let pki = new_pki("Restore CA");
        let responder = CountingResponder::start(Duration::ZERO, good_reply(&pki, HOUR)).await;
        let dir = tempfile::tempdir().expect("temporary directory");
        let state = StateStore::new(dir.path().to_path_buf());
        let authority = authority(&pki, vec![responder.url()]);

        let (before_restart, _) = new_cache(OcspCacheConfig::default(), Some(state.clone()));
        let fetched = before_restart
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");
        drop(before_restart);
        let path = state
            .ocsp_path(CA_ID, &state_key(&pki.cert_id))
            .expect("hex key");
        assert!(path.exists(), "{} was not written", path.display());

        let (after_restart, metrics) = new_cache(OcspCacheConfig::default(), Some(state));
        let summary = after_restart.restore(&authority).await;
        let restored = after_restart
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");

        assert_eq!(
            summary,
            RestoreSummary {
                restored: 1,
                ignored: 0
            }
        );
        assert!(restored.from_cache);
        assert_eq!(responder.requests(), 1);
        assert_eq!(misses(&metrics), 0);
        assert_eq!(restored.response.status(), &OcspStatus::Good);
        assert_eq!(
            restored.response.this_update(),
            fetched.response.this_update()
        );
        assert_eq!(
            restored.response.next_update(),
            fetched.response.next_update()
        );
    }

    #[tokio::test]
    async fn expired_state_file_ignored() {
        let pki = new_pki("Expired State CA");
        let responder = CountingResponder::start(Duration::ZERO, good_reply(&pki, HOUR)).await;
        let dir = tempfile::tempdir().expect("temporary directory");
        let state = StateStore::new(dir.path().to_path_buf());
        let key = state_key(&pki.cert_id);
        let now = SystemTime::now();
        let expired = OcspResponseBuilder::new()
            .produced_at(now - 2 * HOUR)
            .response(SingleResponseSpec::new(
                pki.cert_id.clone(),
                OcspStatus::Good,
                now - 2 * HOUR,
                Some(now - HOUR),
            ))
            .build(pki.ca.as_ref())
            .expect("response builds");
        state.save_ocsp(CA_ID, &key, &expired).expect("save");
        let (cache, _) = new_cache(OcspCacheConfig::default(), Some(state.clone()));
        let authority = authority(&pki, vec![responder.url()]);

        let summary = cache.restore(&authority).await;
        let answer = cache
            .lookup(&authority, &pki.cert_id)
            .await
            .expect("verified");

        assert_eq!(
            summary,
            RestoreSummary {
                restored: 0,
                ignored: 1
            }
        );
        assert!(!answer.from_cache);
        assert_eq!(responder.requests(), 1);
        // The lookup saved the new response in place of the expired one.
        let stored = state.load_ocsp_all(CA_ID).expect("load");
        assert_eq!(stored.len(), 1);
        let stored = stored
            .into_iter()
            .next()
            .and_then(Result::ok)
            .expect("readable");
        assert_ne!(stored.der, expired);
    }

    #[tokio::test]
    async fn expired_state_file_deleted() {
        let pki = new_pki("Deleted State CA");
        let dir = tempfile::tempdir().expect("temporary directory");
        let state = StateStore::new(dir.path().to_path_buf());
        let key = state_key(&pki.cert_id);
        let now = SystemTime::now();
        let expired = OcspResponseBuilder::new()
            .produced_at(now - 2 * HOUR)
            .response(SingleResponseSpec::new(
                pki.cert_id.clone(),
                OcspStatus::Good,
                now - 2 * HOUR,
                Some(now - HOUR),
            ))
            .build(pki.ca.as_ref())
            .expect("response builds");
        state.save_ocsp(CA_ID, &key, &expired).expect("save");
        let (cache, _) = new_cache(OcspCacheConfig::default(), Some(state.clone()));

        let summary = cache.restore(&authority(&pki, Vec::new())).await;

        assert_eq!(
            summary,
            RestoreSummary {
                restored: 0,
                ignored: 1
            }
        );
        assert!(!state.ocsp_path(CA_ID, &key).expect("hex key").exists());
    }

    #[tokio::test]
    async fn invalid_state_files_ignored() {
        let pki = new_pki("Invalid State CA");
        let other = new_pki("Other State CA");
        let good = response_der(&pki.ca, &pki.cert_id, OcspStatus::Good, HOUR);
        let other_serial = CertId::new(
            pki.cert_id.hash_algorithm(),
            &pki.ca_cert,
            Serial::from_der_content(&[0x77]),
        );
        let files = [
            ("garbage", state_key(&pki.cert_id), b"not DER".to_vec()),
            ("saved under another CertID", state_key(&other_serial), good),
            (
                "signed by another CA",
                state_key(&pki.cert_id),
                response_der(&other.ca, &pki.cert_id, OcspStatus::Good, HOUR),
            ),
            (
                "CertID of another issuer",
                state_key(&other.cert_id),
                response_der(&pki.ca, &other.cert_id, OcspStatus::Good, HOUR),
            ),
        ];

        for (case, key, der) in files {
            let case_dir = tempfile::tempdir().expect("temporary directory");
            let state = StateStore::new(case_dir.path().to_path_buf());
            state.save_ocsp(CA_ID, &key, &der).expect("save");
            let (cache, _) = new_cache(OcspCacheConfig::default(), Some(state.clone()));

            let summary = cache.restore(&authority(&pki, Vec::new())).await;

            assert_eq!(
                summary,
                RestoreSummary {
                    restored: 0,
                    ignored: 1
                },
                "{case}"
            );
            assert!(
                state.ocsp_path(CA_ID, &key).expect("hex key").exists(),
                "{case}: only expired files are deleted"
            );
        }
    }

    #[test]
    fn invalid_config_rejected() {
        for (config, setting) in [
            (
                OcspCacheConfig {
                    max_age: Duration::ZERO,
                    ..OcspCacheConfig::default()
                },
                "max_age",
            ),
            (
                OcspCacheConfig {
                    refresh_ahead: 1.5,
                    ..OcspCacheConfig::default()
                },
                "refresh_ahead",
            ),
            (
                OcspCacheConfig {
                    refresh_ahead: -0.1,
                    ..OcspCacheConfig::default()
                },
                "refresh_ahead",
            ),
            (
                OcspCacheConfig {
                    refresh_ahead: f64::NAN,
                    ..OcspCacheConfig::default()
                },
                "refresh_ahead",
            ),
            (
                OcspCacheConfig {
                    capacity: 0,
                    ..OcspCacheConfig::default()
                },
                "capacity",
            ),
        ] {
            let error = config.validate().expect_err("setting is out of range");
            assert_eq!(error.setting, setting, "{error}");
        }
        assert_eq!(OcspCacheConfig::default().validate(), Ok(()));
    }

    #[test]
    fn state_key_covers_every_field() {
        let base = CertId::from_parts(
            super::super::HashAlgorithm::Sha1,
            vec![1; 20],
            vec![2; 20],
            Serial::from_der_content(&[3]),
        );
        let variants = [
            CertId::from_parts(
                super::super::HashAlgorithm::Sha256,
                vec![1; 20],
                vec![2; 20],
                Serial::from_der_content(&[3]),
            ),
            CertId::from_parts(
                super::super::HashAlgorithm::Sha1,
                vec![9; 20],
                vec![2; 20],
                Serial::from_der_content(&[3]),
            ),
            CertId::from_parts(
                super::super::HashAlgorithm::Sha1,
                vec![1; 20],
                vec![9; 20],
                Serial::from_der_content(&[3]),
            ),
            CertId::from_parts(
                super::super::HashAlgorithm::Sha1,
                vec![1; 20],
                vec![2; 20],
                Serial::from_der_content(&[0x00, 0x03]),
            ),
        ];

        let base_key = state_key(&base);
        assert_eq!(base_key.len(), 64);
        assert_eq!(base_key, state_key(&base.clone()));
        for variant in &variants {
            assert_ne!(state_key(variant), base_key, "{variant:?}");
        }
    }
}
