//! Prometheus metrics. Names are a contract with dashboards and alert rules; labels take only
//! CA ids and values from closed sets, never serial numbers or fingerprints.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Every metric revcheck exports, registered in its own registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub ready: IntGauge,
    pub crl_entries: IntGaugeVec,
    pub crl_next_update: GaugeVec,
    pub crl_this_update: GaugeVec,
    pub crl_last_success: GaugeVec,
    pub lookup_duration: HistogramVec,
    pub crl_fetches: IntCounterVec,
    pub crl_number_regressions: IntCounterVec,
    pub state_errors: IntCounterVec,
    pub lookups: IntCounterVec,
}

/// Outcomes counted by `revcheck_crl_fetches_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A CRL was fetched and verified.
    Success,
    /// The body could not be fetched (network, HTTP status, size, file error).
    FetchError,
    /// The body was fetched but is not a valid CRL for the CA.
    Invalid,
    /// The source answered 304 Not Modified, so the CRL in use is still current.
    NotModified,
}

impl FetchOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::FetchError => "fetch_error",
            Self::Invalid => "invalid",
            Self::NotModified => "not_modified",
        }
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();

        let ready = IntGauge::new(
            "revcheck_ready",
            "1 when every configured CA has current revocation data, else 0",
        )?;
        let crl_entries = IntGaugeVec::new(
            Opts::new(
                "revcheck_crl_entries",
                "Revoked entries in the newest CRL held per CA",
            ),
            &["ca"],
        )?;
        let crl_next_update = GaugeVec::new(
            Opts::new(
                "revcheck_crl_next_update_timestamp_seconds",
                "nextUpdate of the newest CRL held per CA, as a Unix timestamp in seconds",
            ),
            &["ca"],
        )?;
        let crl_this_update = GaugeVec::new(
            Opts::new(
                "revcheck_crl_this_update_timestamp_seconds",
                "thisUpdate of the newest CRL held per CA, as a Unix timestamp in seconds",
            ),
            &["ca"],
        )?;
        let crl_last_success = GaugeVec::new(
            Opts::new(
                "revcheck_crl_last_success_timestamp_seconds",
                "Time of the last successful CRL fetch per CA (a verified CRL or 304 Not \
                 Modified), as a Unix timestamp in seconds",
            ),
            &["ca"],
        )?;
        // Lookups are answered from memory, so the buckets start at 100 microseconds.
        let lookup_duration = HistogramVec::new(
            HistogramOpts::new(
                "revcheck_lookup_duration_seconds",
                "Time to answer a status lookup, per endpoint, in seconds",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["endpoint"],
        )?;
        let crl_fetches = IntCounterVec::new(
            Opts::new(
                "revcheck_crl_fetches_total",
                "CRL fetches per CA by outcome (success, not_modified, fetch_error, invalid)",
            ),
            &["ca", "outcome"],
        )?;
        let crl_number_regressions = IntCounterVec::new(
            Opts::new(
                "revcheck_crl_number_regressions_total",
                "CRLs rejected per CA because their CRL number was lower than one already \
                 accepted (a replayed or rolled-back CRL)",
            ),
            &["ca"],
        )?;
        let state_errors = IntCounterVec::new(
            Opts::new(
                "revcheck_state_errors_total",
                "Failures to save or load last-good CRLs in the state directory, per CA and \
                 operation (save, load)",
            ),
            &["ca", "operation"],
        )?;
        let lookups = IntCounterVec::new(
            Opts::new(
                "revcheck_lookups_total",
                "Status lookups per endpoint by resulting status",
            ),
            &["endpoint", "status"],
        )?;

        registry.register(Box::new(ready.clone()))?;
        registry.register(Box::new(crl_entries.clone()))?;
        registry.register(Box::new(crl_next_update.clone()))?;
        registry.register(Box::new(crl_this_update.clone()))?;
        registry.register(Box::new(crl_last_success.clone()))?;
        registry.register(Box::new(lookup_duration.clone()))?;
        registry.register(Box::new(crl_fetches.clone()))?;
        registry.register(Box::new(crl_number_regressions.clone()))?;
        registry.register(Box::new(state_errors.clone()))?;
        registry.register(Box::new(lookups.clone()))?;

        Ok(Self {
            registry,
            ready,
            crl_entries,
            crl_next_update,
            crl_this_update,
            crl_last_success,
            lookup_duration,
            crl_fetches,
            crl_number_regressions,
            state_errors,
            lookups,
        })
    }

    /// Counts one fetch attempt for `ca`.
    pub fn count_fetch(&self, ca: &str, outcome: FetchOutcome) {
        self.crl_fetches
            .with_label_values(&[ca, outcome.as_str()])
            .inc();
    }

    /// Drops the per-CA series of a CA that a reload removed, so that dashboards do not show
    /// its last values forever.
    pub fn forget_ca(&self, ca: &str) {
        for gauge in [
            &self.crl_next_update,
            &self.crl_this_update,
            &self.crl_last_success,
        ] {
            let _ = gauge.remove_label_values(&[ca]);
        }
        let _ = self.crl_entries.remove_label_values(&[ca]);
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(error) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
