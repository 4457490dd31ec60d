//! Periodic refresh of every CA's CRLs: fetch, decode, verify, swap in.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tracing::Instrument;

use super::authority::{Authorities, Authority};
use crate::crl::{CrlError, DecodedCrl, VerifiedCrl, VerifyOptions};
use crate::metrics::{FetchOutcome, Metrics};
use crate::source::{Fetcher, Source};

/// The result of refreshing one source.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// A verified CRL was stored.
    Stored {
        this_update: SystemTime,
        entries: usize,
    },
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
        }
    }

    /// Refreshes every CA now, the CAs concurrently and each CA's sources in order.
    pub async fn refresh_all(self: &Arc<Self>) {
        let mut tasks = tokio::task::JoinSet::new();
        for authority in self.authorities.iter() {
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
        self.update_readiness();
    }

    /// Refreshes at start and then every `interval` until `shutdown` changes.
    pub async fn run(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.refresh_all().await;
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
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
        let body = match self.fetcher.fetch(source).await {
            Ok(body) => body,
            Err(error) => {
                let message = error.to_string();
                tracing::warn!(ca = authority.id(), source = %source, error = %message, "CRL fetch failed; keeping the CRL already held");
                self.metrics
                    .count_fetch(authority.id(), FetchOutcome::FetchError);
                authority.record_failure(index, message.clone(), SystemTime::now());
                return RefreshOutcome::FetchFailed(message);
            }
        };

        let now = SystemTime::now();
        let stored = verify_body(&body, &source.to_string(), authority, now, self.clock_skew)
            .and_then(|crl| {
                let crl = Arc::new(crl);
                authority.store_crl(index, &crl, now)?;
                Ok(crl)
            });
        match stored {
            Ok(crl) => {
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
                tracing::warn!(ca = authority.id(), source = %source, reason = error.reason_code(), error = %message, "CRL rejected; keeping the CRL already held");
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
    now: SystemTime,
    clock_skew: Duration,
) -> Result<VerifiedCrl, CrlError> {
    let options = VerifyOptions {
        now,
        clock_skew,
        allow_sha1: authority.allow_sha1(),
        max_age_without_next_update: authority.max_age_without_next_update(),
    };
    let mut newest: Option<VerifiedCrl> = None;
    let mut first_error = None;

    for decoded in DecodedCrl::from_pem_or_der(body, origin)? {
        match decoded.verify(authority.certificate(), authority.certificate(), &options) {
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

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |duration| duration.as_secs_f64())
}
