//! Periodic refresh of every CA's CRLs: fetch, decode, verify, swap in.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tracing::Instrument;

use super::authority::{Authorities, Authority, CrlSigner};
use super::decide::Decision;
use super::schedule::{Schedule, random_unit};
use crate::crl::{CrlError, DecodedCrl, VerifiedCrl, VerifyOptions};
use crate::metrics::{FetchOutcome, Metrics};
use crate::source::{Fetched, Fetcher, Source};
use crate::state::StateStore;

/// The result of refreshing one source.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// A verified CRL was stored.
    Stored {
        this_update: SystemTime,
        entries: usize,
    },
    /// The source returned 304: the CRL in use is still current.
    NotModified,
    /// The body could not be fetched; the CRL already held stays in use.
    FetchFailed(String),
    /// The body is not a valid CRL for this CA; the CRL already held stays in use.
    Invalid(String),
}

/// Fetches and verifies CRLs for every configured CA and swaps them in.
#[derive(Debug)]
pub struct Refresher {
    authorities: Arc<Authorities>,
    fetcher: Fetcher,
    clock_skew: Duration,
    metrics: Arc<Metrics>,
    state: Option<StateStore>,
}

impl Refresher {
    pub fn new(
        authorities: Arc<Authorities>,
        fetcher: Fetcher,
        clock_skew: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            authorities,
            fetcher,
            clock_skew,
            metrics,
            state: None,
        }
    }

    /// Keeps every accepted CRL in `state`, and reads it back with [`Refresher::load_state`].
    #[must_use]
    pub fn with_state(mut self, state: StateStore) -> Self {
        self.state = Some(state);
        self
    }

    pub fn authorities(&self) -> &Arc<Authorities> {
        &self.authorities
    }

    /// Reads the last good CRLs from the state directory and verifies them again, before any
    /// network fetch. A file that is missing is skipped; one that is unreadable, corrupt,
    /// tampered with or expired is logged, counted and ignored.
    pub fn load_state(&self) {
        let Some(state) = &self.state else { return };
        let now = SystemTime::now();
        for with_signers in [false, true] {
            let group = self.authorities.with_crl_signers(with_signers);
            for authority in group {
                for (index, source) in authority.sources().iter().enumerate() {
                    // A source whose CRL was carried over by a reload needs no file.
                    if authority.source_crl(index).is_none() {
                        self.load_source_state(state, authority, index, source, now);
                    }
                }
                self.update_crl_gauges(authority);
            }
        }
        self.update_readiness();
    }

    fn load_source_state(
        &self,
        state: &StateStore,
        authority: &Authority,
        index: usize,
        source: &Source,
        now: SystemTime,
    ) {
        let path = state.path_for(authority.id(), source);
        let bytes = match state.load(authority.id(), source) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(ca = authority.id(), source = %source, path = %path.display(), %error, "cannot read the state file; ignoring it");
                self.count_state_error(authority, "load");
                return;
            }
        };

        let origin = format!("state file {}", path.display());
        let restored = verify_body(
            &bytes,
            &origin,
            authority,
            &self.authorities,
            now,
            self.clock_skew,
        )
        .and_then(|crl| {
            let crl = Arc::new(crl);
            authority.restore_crl(index, &crl)?;
            Ok(crl)
        });
        match restored {
            Ok(crl) => {
                tracing::info!(ca = authority.id(), source = %source, entries = crl.entry_count(), "CRL restored from the state directory")
            }
            Err(error) => {
                tracing::warn!(ca = authority.id(), source = %source, path = %path.display(), reason = error.reason_code(), %error, "state file rejected; ignoring it");
                self.count_state_error(authority, "load");
            }
        }
    }

    fn save_state(&self, authority: &Authority, source: &Source, crl: &VerifiedCrl) {
        let Some(state) = &self.state else { return };
        if let Err(error) = state.save(authority.id(), source, crl.der()) {
            tracing::error!(ca = authority.id(), source = %source, dir = %state.dir().display(), %error, "cannot write the CRL to the state directory; it will not survive a restart");
            self.count_state_error(authority, "save");
        }
    }

    fn count_state_error(&self, authority: &Authority, operation: &str) {
        self.metrics
            .state_errors
            .with_label_values(&[authority.id(), operation])
            .inc();
    }

    /// Refreshes every CA now, the CAs concurrently and each CA's sources in order. CAs with
    /// separate CRL signers go second, because checking a signer needs the CRLs of its issuer.
    pub async fn refresh_all(self: &Arc<Self>) {
        for with_signers in [false, true] {
            self.refresh_group(with_signers).await;
        }
        self.update_readiness();
    }

    async fn refresh_group(self: &Arc<Self>, with_signers: bool) {
        let mut tasks = tokio::task::JoinSet::new();
        let group = self.authorities.with_crl_signers(with_signers);
        for authority in group {
            let refresher = Arc::clone(self);
            let authority = Arc::clone(authority);
            let span = tracing::info_span!("refresh", ca = %authority.id());
            tasks.spawn(
                async move { refresher.refresh_authority(&authority).await }.instrument(span),
            );
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "CRL refresh task failed");
            }
        }
    }

    /// Refreshes every CA at start, then each CA on its own schedule until `shutdown`
    /// changes.
    pub async fn run(self: Arc<Self>, schedule: Schedule, shutdown: watch::Receiver<bool>) {
        self.refresh_all().await;

        let mut tasks = tokio::task::JoinSet::new();
        for authority in self.authorities.iter() {
            let refresher = Arc::clone(&self);
            let authority = Arc::clone(authority);
            let shutdown = shutdown.clone();
            let span = tracing::info_span!("refresh", ca = %authority.id());
            tasks.spawn(
                async move {
                    refresher
                        .run_authority(&authority, schedule, shutdown)
                        .await
                }
                .instrument(span),
            );
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "CRL refresh task failed");
            }
        }
    }

    /// Refreshes one CA at the times its schedule computes, after the first refresh has run.
    async fn run_authority(
        &self,
        authority: &Authority,
        schedule: Schedule,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut failures = u32::from(authority.has_failing_source());
        loop {
            let delay = schedule.next_delay(
                authority.earliest_next_update(),
                failures,
                SystemTime::now(),
                random_unit(),
            );
            tracing::debug!(delay = ?delay, failures, "next CRL fetch scheduled");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
            }

            let outcomes = self.refresh_authority(authority).await;
            let failed = outcomes.iter().any(|outcome| {
                !matches!(
                    outcome,
                    RefreshOutcome::Stored { .. } | RefreshOutcome::NotModified
                )
            });
            failures = if failed {
                failures.saturating_add(1)
            } else {
                0
            };
            self.update_readiness();
        }
    }

    /// Refreshes each source of `authority`.
    pub async fn refresh_authority(&self, authority: &Authority) -> Vec<RefreshOutcome> {
        let mut outcomes = Vec::new();
        for (index, source) in authority.sources().iter().enumerate() {
            let outcome = self.refresh_source(authority, index, source).await;
            outcomes.push(outcome);
        }
        self.update_crl_gauges(authority);
        outcomes
    }

    async fn refresh_source(
        &self,
        authority: &Authority,
        index: usize,
        source: &Source,
    ) -> RefreshOutcome {
        let validators = authority.validators_for(index);
        let fetched = self
            .fetcher
            .fetch_from(source, authority.allowed_hosts(), &validators)
            .await;
        let (body, validators) = match fetched {
            Ok(Fetched::Body { bytes, validators }) => (bytes, validators),
            Ok(Fetched::NotModified) => {
                tracing::debug!(ca = authority.id(), source = %source, "CRL not modified");
                self.metrics
                    .count_fetch(authority.id(), FetchOutcome::NotModified);
                authority.record_not_modified(index, SystemTime::now());
                return RefreshOutcome::NotModified;
            }
            Err(error) => {
                let message = error.to_string();
                if authority.source_crl(index).is_some() {
                    tracing::warn!(ca = authority.id(), source = %source, reason = error.reason_code(), error = %message, "CRL fetch failed; keeping the CRL already held");
                } else {
                    tracing::warn!(ca = authority.id(), source = %source, reason = error.reason_code(), error = %message, "CRL fetch failed; no CRL from this source is held");
                }
                self.metrics
                    .count_fetch(authority.id(), FetchOutcome::FetchError);
                authority.record_failure(index, message.clone(), SystemTime::now());
                return RefreshOutcome::FetchFailed(message);
            }
        };

        let now = SystemTime::now();
        let stored = verify_body(
            &body,
            &source.to_string(),
            authority,
            &self.authorities,
            now,
            self.clock_skew,
        )
        .and_then(|crl| {
            let crl = Arc::new(crl);
            authority.store_crl(index, &crl, now)?;
            Ok(crl)
        });
        match stored {
            Ok(crl) => {
                authority.record_validators(index, validators);
                self.update_crl_gauges(authority);
                self.save_state(authority, source, &crl);
                tracing::debug!(ca = authority.id(), source = %source, entries = crl.entry_count(), "CRL verified and stored");
                self.metrics
                    .count_fetch(authority.id(), FetchOutcome::Success);
                RefreshOutcome::Stored {
                    this_update: crl.this_update(),
                    entries: crl.entry_count(),
                }
            }
            Err(error) => {
                if matches!(error, CrlError::CrlNumberRegressed { .. }) {
                    self.metrics
                        .crl_number_regressions
                        .with_label_values(&[authority.id()])
                        .inc();
                }
                let message = error.to_string();
                if authority.source_crl(index).is_some() {
                    tracing::warn!(ca = authority.id(), source = %source, reason = error.reason_code(), error = %message, "CRL rejected; keeping the CRL already held");
                } else {
                    tracing::warn!(ca = authority.id(), source = %source, reason = error.reason_code(), error = %message, "CRL rejected; no CRL from this source is held");
                }
                self.metrics
                    .count_fetch(authority.id(), FetchOutcome::Invalid);
                authority.record_failure(index, message.clone(), now);
                RefreshOutcome::Invalid(message)
            }
        }
    }

    fn update_crl_gauges(&self, authority: &Authority) {
        if let Some(crl) = authority.newest_crl() {
            let entries = i64::try_from(crl.entry_count()).unwrap_or(i64::MAX);
            self.metrics
                .crl_entries
                .with_label_values(&[authority.id()])
                .set(entries);
            self.metrics
                .crl_next_update
                .with_label_values(&[authority.id()])
                .set(unix_seconds(crl.next_update()));
            self.metrics
                .crl_this_update
                .with_label_values(&[authority.id()])
                .set(unix_seconds(crl.this_update()));
        }
        let last_success = authority
            .source_statuses()
            .iter()
            .filter_map(|status| status.last_success)
            .max();
        if let Some(last_success) = last_success {
            self.metrics
                .crl_last_success
                .with_label_values(&[authority.id()])
                .set(unix_seconds(last_success));
        }
    }

    /// Sets the readiness gauge from the CRLs held now.
    pub fn update_readiness(&self) {
        let ready = self.authorities.all_ready(SystemTime::now());
        self.metrics.ready.set(i64::from(ready));
    }
}

/// Decodes a fetched body and verifies it as a CRL of `authority`. A body with several CRLs
/// yields the newest one that verifies.
fn verify_body(
    body: &[u8],
    origin: &str,
    authority: &Authority,
    authorities: &Authorities,
    now: SystemTime,
    clock_skew: Duration,
) -> Result<VerifiedCrl, CrlError> {
    let options = VerifyOptions {
        now,
        clock_skew,
        allow_sha1: authority.allow_sha1(),
        max_age_without_next_update: authority.max_age_without_next_update(),
        max_stale: authority.max_stale(),
    };
    let mut newest: Option<VerifiedCrl> = None;
    let mut first_error = None;

    for decoded in DecodedCrl::from_pem_or_der(body, origin)? {
        match verify_decoded(&decoded, authority, authorities, &options) {
            Ok(crl) => {
                if newest
                    .as_ref()
                    .is_none_or(|held| crl.this_update() > held.this_update())
                {
                    newest = Some(crl);
                }
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }

    match (newest, first_error) {
        (Some(crl), _) => Ok(crl),
        (None, Some(error)) => Err(error),
        (None, None) => Err(CrlError::Encoding {
            origin: origin.to_owned(),
            error: crate::x509::encoding::EncodingError::Empty,
        }),
    }
}

/// Verifies one CRL of `authority`, signed by the CA itself or by one of its separate CRL
/// signers, whose status is then checked against the configured CAs' CRLs.
fn verify_decoded(
    decoded: &DecodedCrl,
    authority: &Authority,
    authorities: &Authorities,
    options: &VerifyOptions,
) -> Result<VerifiedCrl, CrlError> {
    let ca = authority.certificate();
    let error = match decoded.verify(ca, ca, options) {
        Ok(crl) => return Ok(crl),
        Err(error) => error,
    };
    if !error.is_signer_problem() {
        return Err(error);
    }

    for signer in authority.crl_signers() {
        let Ok(crl) = decoded.verify(ca, &signer.certificate, options) else {
            continue;
        };
        return match check_signer(signer, &crl, authority, authorities, options.now) {
            Ok(()) => Ok(crl),
            Err(detail) => Err(CrlError::SignerUntrusted {
                origin: decoded.origin().to_owned(),
                signer: signer.certificate.describe(),
                detail,
            }),
        };
    }
    Err(error)
}

/// Checks that every certificate on a CRL signer's path is valid now and not revoked, by the
/// CRLs of the configured CA that issued it. `candidate` is the CRL being verified, which may
/// cover its own signer when the CA issued the signer.
fn check_signer(
    signer: &CrlSigner,
    candidate: &VerifiedCrl,
    authority: &Authority,
    authorities: &Authorities,
    now: SystemTime,
) -> Result<(), String> {
    for pair in signer.path.windows(2) {
        let (certificate, issuer) = (&pair[0], &pair[1]);
        if !certificate.is_valid_at(now) {
            return Err(format!(
                "{} is outside its validity period",
                certificate.describe()
            ));
        }
        let Some(issuing_authority) = authorities
            .iter()
            .find(|known| known.certificate().fingerprint() == issuer.fingerprint())
        else {
            return Err(format!(
                "its path includes {}, whose issuer {} is not a configured CA, so its \
                 revocation status cannot be checked; add that issuer as a [[ca]]",
                certificate.describe(),
                issuer.describe()
            ));
        };
        let decision = if issuing_authority.id() == authority.id() {
            issuing_authority.decide_certificate_with(certificate, candidate, now)
        } else {
            issuing_authority.decide_certificate(certificate, now)
        };
        match decision {
            Decision::Good { .. } => {}
            Decision::Revoked { .. } => {
                return Err(format!("{} is revoked", certificate.describe()));
            }
            Decision::Unknown(reason) => {
                return Err(format!(
                    "status of {} is unknown: {}",
                    certificate.describe(),
                    reason.detail
                ));
            }
        }
    }
    Ok(())
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |duration| duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fixtures::{CrlBuilder, TestCa};
    use crate::source::FetchLimits;
    use crate::x509::{ParsedCertificate, Serial};

    fn parsed(ca: &TestCa) -> ParsedCertificate {
        ParsedCertificate::from_der(ca.cert_der()).expect("test certificate decodes")
    }

    fn write_crl(dir: &Path, name: &str, der: &[u8]) -> Source {
        let path = dir.join(name);
        std::fs::write(&path, der).expect("write CRL");
        Source::File(path)
    }

    /// A root CA and an issuing CA whose CRL is signed by a separate signer with the issuing
    /// CA's name, issued by the root.
    fn refresher_with_signer(root_crl_published: bool) -> (tempfile::TempDir, Arc<Refresher>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = TestCa::root("Signer Test Root").expect("root");
        let issuing = root
            .intermediate("Signer Test Issuing")
            .expect("issuing CA");
        let signer = root
            .intermediate("Signer Test Issuing")
            .expect("CRL signer");

        let root_source = if root_crl_published {
            let der = CrlBuilder::new()
                .crl_number(1)
                .build(&root)
                .expect("root CRL");
            write_crl(dir.path(), "root.crl", &der)
        } else {
            Source::File(dir.path().join("missing-root.crl"))
        };
        let issuing_der = CrlBuilder::new().crl_number(1).build(&signer).expect("CRL");
        let issuing_source = write_crl(dir.path(), "issuing.crl", &issuing_der);

        let signer_path = vec![parsed(&signer), parsed(&root)];
        let authorities = Authorities::from_list(vec![
            Arc::new(Authority::new(
                "root".to_owned(),
                parsed(&root),
                vec![root_source],
            )),
            Arc::new(
                Authority::new("issuing".to_owned(), parsed(&issuing), vec![issuing_source])
                    .with_crl_signers(vec![CrlSigner {
                        certificate: parsed(&signer),
                        path: signer_path,
                    }]),
            ),
        ]);
        let fetcher =
            Fetcher::new(FetchLimits::simple(Duration::from_secs(5), 1 << 20)).expect("fetcher");
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let refresher = Refresher::new(
            Arc::new(authorities),
            fetcher,
            Duration::from_secs(300),
            metrics,
        );
        (dir, Arc::new(refresher))
    }

    #[tokio::test]
    async fn separate_signer_accepted() {
        let (_dir, refresher) = refresher_with_signer(true);
        refresher.refresh_all().await;

        let issuing = refresher.authorities.get("issuing").expect("issuing CA");
        let serial = Serial::parse_hex("1001").expect("serial");
        let decision = issuing.decide_serial(&serial, SystemTime::now());
        assert!(matches!(decision, Decision::Good { .. }), "{decision:?}");
    }

    #[tokio::test]
    async fn signer_of_unknown_status_rejected() {
        let (_dir, refresher) = refresher_with_signer(false);
        refresher.refresh_all().await;

        let issuing = refresher.authorities.get("issuing").expect("issuing CA");
        assert!(
            issuing.crls().is_empty(),
            "CRL from an unchecked signer was accepted"
        );
        let statuses = issuing.source_statuses();
        let error = statuses[0].last_error.as_deref().expect("error recorded");
        assert!(error.contains("cannot be trusted"), "{error}");
    }
}
