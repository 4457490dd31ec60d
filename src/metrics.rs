//! Prometheus metrics. Names are a contract with dashboards and alert rules; labels take only
//! CA ids and values from closed sets, never serial numbers or fingerprints.
//!
//! Every series whose labels are known in advance is created at zero when its CA or component
//! is set up, so that `rate()` and `increase()` see the first event and alert rules can tell
//! "no failures" from "no data".

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Every metric revcheck exports, registered in its own registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub build_info: IntGaugeVec,
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
    pub ocsp_requests: IntCounterVec,
    pub ocsp_request_duration: HistogramVec,
    pub cache_hits: IntCounterVec,
    pub cache_misses: IntCounterVec,
    pub auth_decisions: IntCounterVec,
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
    /// The source returned 304 Not Modified, so the CRL in use is still current.
    NotModified,
}

impl FetchOutcome {
    pub const ALL: [Self; 4] = [
        Self::Success,
        Self::FetchError,
        Self::Invalid,
        Self::NotModified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::FetchError => "fetch_error",
            Self::Invalid => "invalid",
            Self::NotModified => "not_modified",
        }
    }
}

/// Outcomes counted by `revcheck_ocsp_requests_total`, one per request sent to a responder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspOutcome {
    /// A verified response with certStatus good.
    Good,
    /// A verified response with certStatus revoked.
    Revoked,
    /// A verified response with certStatus unknown.
    Unknown,
    /// No response body was received (connection, timeout, HTTP status, size limit).
    FetchError,
    /// The responder returned a responseStatus other than successful, such as tryLater.
    ErrorStatus,
    /// The response was received but could not be decoded or failed verification.
    Invalid,
}

impl OcspOutcome {
    pub const ALL: [Self; 6] = [
        Self::Good,
        Self::Revoked,
        Self::Unknown,
        Self::FetchError,
        Self::ErrorStatus,
        Self::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Revoked => "revoked",
            Self::Unknown => "unknown",
            Self::FetchError => "fetch_error",
            Self::ErrorStatus => "error_status",
            Self::Invalid => "invalid",
        }
    }
}

/// Values of the `cache` label of `revcheck_cache_hits_total` and
/// `revcheck_cache_misses_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheName {
    /// The OCSP response cache.
    Ocsp,
    /// The cache of verified client certificates of `GET /v1/auth`, keyed by header bytes.
    Auth,
}

impl CacheName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ocsp => "ocsp",
            Self::Auth => "auth",
        }
    }
}

/// Values of the `endpoint` label of `revcheck_lookups_total` and
/// `revcheck_lookup_duration_seconds`: `/v1/status` lookups and `/v1/auth` requests.
const LOOKUP_ENDPOINTS: [&str; 2] = ["status", "auth"];

/// Values of the `status` label of `revcheck_lookups_total`: the certificate statuses, and
/// `error` for a request that ended without a verdict (unknown CA, malformed input).
const LOOKUP_STATUSES: [&str; 4] = ["good", "revoked", "unknown", "error"];

/// Values of the `operation` label of `revcheck_state_errors_total` for a CA with CRL sources.
const CRL_STATE_OPERATIONS: [&str; 2] = ["save", "load"];
/// Values of the `operation` label of `revcheck_state_errors_total` for a CA with OCSP
/// responders.
const OCSP_STATE_OPERATIONS: [&str; 2] = ["ocsp_save", "ocsp_load"];

impl Metrics {
    /// Registers every revcheck metric and the standard `process_*` metrics (CPU time, memory,
    /// open file descriptors, start time; Linux only), and creates the series of every lookup
    /// endpoint and cache at zero.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();

        let build_info = IntGaugeVec::new(
            Opts::new(
                "revcheck_build_info",
                "Always 1; the version label is the revcheck version that is running",
            ),
            &["version"],
        )?;

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
        // Lookups are decided from memory, so the buckets start at 100 microseconds.
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
                "Failures to save or load last-good CRLs and OCSP responses in the state \
                 directory, per CA and operation (save, load, ocsp_save, ocsp_load)",
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

        let ocsp_requests = IntCounterVec::new(
            Opts::new(
                "revcheck_ocsp_requests_total",
                "OCSP requests sent per CA by outcome (good, revoked, unknown, fetch_error, \
                 error_status, invalid)",
            ),
            &["ca", "outcome"],
        )?;
        // An OCSP request crosses the network, so the buckets run from 5 milliseconds to the
        // 10-second default request timeout.
        let ocsp_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "revcheck_ocsp_request_duration_seconds",
                "Time from sending an OCSP request to receiving the whole response or an \
                 error, per CA, in seconds",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["ca"],
        )?;
        let cache_hits = IntCounterVec::new(
            Opts::new(
                "revcheck_cache_hits_total",
                "Lookups served from a cache without a request or a certificate verification of \
                 their own, per cache (ocsp, auth)",
            ),
            &["cache"],
        )?;
        let cache_misses = IntCounterVec::new(
            Opts::new(
                "revcheck_cache_misses_total",
                "Lookups that sent a request or verified a certificate because the cache had \
                 no current entry, per cache (ocsp, auth)",
            ),
            &["cache"],
        )?;

        let auth_decisions = IntCounterVec::new(
            Opts::new(
                "revcheck_auth_decisions_total",
                "Access decisions of GET /v1/auth by decision (allow, deny) and reason",
            ),
            &["decision", "reason"],
        )?;

        registry.register(Box::new(build_info.clone()))?;
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
        registry.register(Box::new(ocsp_requests.clone()))?;
        registry.register(Box::new(ocsp_request_duration.clone()))?;
        registry.register(Box::new(cache_hits.clone()))?;
        registry.register(Box::new(cache_misses.clone()))?;
        registry.register(Box::new(auth_decisions.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for endpoint in LOOKUP_ENDPOINTS {
            for status in LOOKUP_STATUSES {
                lookups.with_label_values(&[endpoint, status]);
            }
            lookup_duration.with_label_values(&[endpoint]);
        }
        for cache in [CacheName::Ocsp, CacheName::Auth] {
            cache_hits.with_label_values(&[cache.as_str()]);
            cache_misses.with_label_values(&[cache.as_str()]);
        }

        Ok(Self {
            registry,
            build_info,
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
            ocsp_requests,
            ocsp_request_duration,
            cache_hits,
            cache_misses,
            auth_decisions,
        })
    }

    /// Counts one fetch attempt for `ca`.
    pub fn count_fetch(&self, ca: &str, outcome: FetchOutcome) {
        self.crl_fetches
            .with_label_values(&[ca, outcome.as_str()])
            .inc();
    }

    /// Counts one OCSP request sent for `ca`.
    pub fn count_ocsp_request(&self, ca: &str, outcome: OcspOutcome) {
        self.ocsp_requests
            .with_label_values(&[ca, outcome.as_str()])
            .inc();
    }

    /// Counts one lookup of `cache` that was served without a request of its own.
    pub fn count_cache_hit(&self, cache: CacheName) {
        self.cache_hits.with_label_values(&[cache.as_str()]).inc();
    }

    /// Counts one lookup of `cache` that sent a request.
    pub fn count_cache_miss(&self, cache: CacheName) {
        self.cache_misses.with_label_values(&[cache.as_str()]).inc();
    }

    /// Sets the series of every `decision` and `reason` pair to zero, so that dashboards and
    /// alerts see the series before the first decision.
    pub fn init_auth_decisions<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (decision, reason) in pairs {
            self.auth_decisions.with_label_values(&[decision, reason]);
        }
    }

    /// Counts one access decision of `GET /v1/auth`.
    pub fn count_auth_decision(&self, decision: &str, reason: &str) {
        self.auth_decisions
            .with_label_values(&[decision, reason])
            .inc();
    }

    /// Creates the counters and the OCSP histogram of CA `ca` at zero, for the sources it
    /// uses. Series that already exist, after a reload, keep their values.
    pub fn prepare_ca(&self, ca: &str, uses_crl: bool, uses_ocsp: bool) {
        if uses_crl {
            for outcome in FetchOutcome::ALL {
                self.crl_fetches.with_label_values(&[ca, outcome.as_str()]);
            }
            self.crl_number_regressions.with_label_values(&[ca]);
            for operation in CRL_STATE_OPERATIONS {
                self.state_errors.with_label_values(&[ca, operation]);
            }
        }
        if uses_ocsp {
            for outcome in OcspOutcome::ALL {
                self.ocsp_requests
                    .with_label_values(&[ca, outcome.as_str()]);
            }
            self.ocsp_request_duration.with_label_values(&[ca]);
            for operation in OCSP_STATE_OPERATIONS {
                self.state_errors.with_label_values(&[ca, operation]);
            }
        }
    }

    /// Drops every series of a CA that a reload removed, so that dashboards do not show its
    /// last values forever. Its counters start again from zero if it comes back.
    pub fn forget_ca(&self, ca: &str) {
        for gauge in [
            &self.crl_next_update,
            &self.crl_this_update,
            &self.crl_last_success,
        ] {
            let _ = gauge.remove_label_values(&[ca]);
        }
        let _ = self.crl_entries.remove_label_values(&[ca]);
        let _ = self.crl_number_regressions.remove_label_values(&[ca]);
        let _ = self.ocsp_request_duration.remove_label_values(&[ca]);
        for outcome in FetchOutcome::ALL {
            let _ = self
                .crl_fetches
                .remove_label_values(&[ca, outcome.as_str()]);
        }
        for outcome in OcspOutcome::ALL {
            let _ = self
                .ocsp_requests
                .remove_label_values(&[ca, outcome.as_str()]);
        }
        for operation in CRL_STATE_OPERATIONS
            .into_iter()
            .chain(OCSP_STATE_OPERATIONS)
        {
            let _ = self.state_errors.remove_label_values(&[ca, operation]);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are a contract with dashboards, so the rendered text is checked by name.
    #[test]
    fn ocsp_and_cache_series_render() {
        let metrics = Metrics::new().expect("metrics register");
        metrics.count_ocsp_request("demo", OcspOutcome::Good);
        metrics.count_ocsp_request("demo", OcspOutcome::FetchError);
        metrics
            .ocsp_request_duration
            .with_label_values(&["demo"])
            .observe(0.02);
        metrics.count_cache_hit(CacheName::Ocsp);
        metrics.count_cache_miss(CacheName::Ocsp);

        let text = metrics.render();

        for line in [
            "revcheck_ocsp_requests_total{ca=\"demo\",outcome=\"good\"} 1",
            "revcheck_ocsp_requests_total{ca=\"demo\",outcome=\"fetch_error\"} 1",
            "revcheck_ocsp_request_duration_seconds_count{ca=\"demo\"} 1",
            "revcheck_cache_hits_total{cache=\"ocsp\"} 1",
            "revcheck_cache_misses_total{cache=\"ocsp\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
    }

    #[test]
    fn prepared_series_start_at_zero() {
        let metrics = Metrics::new().expect("metrics register");
        metrics.prepare_ca("crl-only", true, false);
        metrics.prepare_ca("ocsp-only", false, true);

        let text = metrics.render();

        for line in [
            "revcheck_lookups_total{endpoint=\"status\",status=\"error\"} 0",
            "revcheck_lookups_total{endpoint=\"auth\",status=\"revoked\"} 0",
            "revcheck_lookup_duration_seconds_count{endpoint=\"auth\"} 0",
            "revcheck_cache_misses_total{cache=\"auth\"} 0",
            "revcheck_lookup_duration_seconds_count{endpoint=\"status\"} 0",
            "revcheck_cache_hits_total{cache=\"ocsp\"} 0",
            "revcheck_crl_fetches_total{ca=\"crl-only\",outcome=\"fetch_error\"} 0",
            "revcheck_crl_number_regressions_total{ca=\"crl-only\"} 0",
            "revcheck_state_errors_total{ca=\"crl-only\",operation=\"save\"} 0",
            "revcheck_ocsp_requests_total{ca=\"ocsp-only\",outcome=\"error_status\"} 0",
            "revcheck_ocsp_request_duration_seconds_count{ca=\"ocsp-only\"} 0",
            "revcheck_state_errors_total{ca=\"ocsp-only\",operation=\"ocsp_load\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
        let build_info = format!(
            "revcheck_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(
            text.contains(&build_info),
            "missing {build_info} in:\n{text}"
        );
        // A CA gets series only for the sources it uses.
        assert!(
            !text.contains("revcheck_ocsp_requests_total{ca=\"crl-only\""),
            "{text}"
        );
        assert!(
            !text.contains("revcheck_crl_fetches_total{ca=\"ocsp-only\""),
            "{text}"
        );
    }

    #[test]
    fn forgotten_ca_has_no_series() {
        let metrics = Metrics::new().expect("metrics register");
        metrics.prepare_ca("removed", true, true);
        metrics.prepare_ca("kept", true, true);
        metrics.crl_entries.with_label_values(&["removed"]).set(3);

        metrics.forget_ca("removed");
        let text = metrics.render();

        assert!(!text.contains("ca=\"removed\""), "{text}");
        assert!(
            text.contains("revcheck_crl_fetches_total{ca=\"kept\",outcome=\"success\"} 0"),
            "{text}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_render() {
        let text = Metrics::new().expect("metrics register").render();

        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.lines().any(|line| line.starts_with(name)),
                "missing {name} in:\n{text}"
            );
        }
    }
}
