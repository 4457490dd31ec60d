//! Observability of `revcheck serve` as a child process. `/metrics` passes `promtool check
//! metrics`, and the alert rules pass `promtool check rules` and their unit tests. Every query
//! of the Grafana dashboard parses and names only metrics that revcheck exports. JSON log lines
//! name the CA, certificate, reason and source of every denial, fail-open allowance and fetch
//! failure, and never contain a certificate body or the proxy's shared secret.
//!
//! The log test drives `/v1/status` lookups and `/v1/auth` requests that end revoked,
//! undetermined (denied and allowed) and in error, and CRL and OCSP fetches that fail.
//!
//! promtool comes from `PROMTOOL`, which `scripts/test` sets, or from `.tools/` where that
//! script unpacks it. Expected fingerprints come from `openssl x509 -fingerprint`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::revcheck::RevcheckProcess;
use common::{DEADLINE, REVCHECK, path_text, poll_until, run};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use revcheck::fixtures::{CrlSpec, LeafSpec, RevokedSpec, TestCa, TestLeaf};
use serde_json::Value;
use tempfile::TempDir;
use tokio::runtime::Runtime;

const OPENSSL: &str = "/usr/bin/openssl";

/// CA whose CRL is served and revokes `REVOKED_SERIAL`.
const CA_REVOKING: &str = "revoking";
/// CA whose CRL URL serves bytes that are not a CRL. Undetermined statuses are denied.
const CA_GARBAGE: &str = "garbage";
/// CA whose CRL URL points at a closed port. Undetermined statuses are allowed
/// (`on_unknown = "allow"`).
const CA_DOWN: &str = "down";
/// CA whose only revocation source is an OCSP responder URL at a closed port.
const CA_OCSP: &str = "ocsp";

/// Serial number of the revoked leaf. The high bit is set, so the DER INTEGER content, which
/// revcheck prints, is `00 80 01` (X.690 section 8.3.2).
const REVOKED_SERIAL: [u8; 2] = [0x80, 0x01];
const REVOKED_SERIAL_HEX: &str = "008001";
const GOOD_SERIAL: [u8; 1] = [0x02];
const GARBAGE_LEAF_SERIAL: [u8; 1] = [0x03];
const GARBAGE_LEAF_SERIAL_HEX: &str = "03";
const DOWN_LEAF_SERIAL: [u8; 1] = [0x04];
const DOWN_LEAF_SERIAL_HEX: &str = "04";
const OCSP_LEAF_SERIAL: [u8; 1] = [0x05];
const OCSP_LEAF_SERIAL_HEX: &str = "05";

/// Shared secret of the `[auth]` table, and a wrong one that a test client sends. Neither may
/// appear in the log.
const PROXY_SECRET: &str = "obs-proxy-secret-5d1c8e";
const WRONG_SECRET: &str = "obs-wrong-secret-93a0f7";

/// Bytes served in place of a CRL: neither DER nor PEM.
const GARBAGE: &[u8] = b"\x00\x01 this is not a CRL \xff\xfe";

/// Metrics of the product contract, which dashboards and alert rules rely on.
const CONTRACT_METRICS: [&str; 13] = [
    "revcheck_lookups_total",
    "revcheck_lookup_duration_seconds",
    "revcheck_auth_decisions_total",
    "revcheck_crl_fetches_total",
    "revcheck_crl_entries",
    "revcheck_crl_this_update_timestamp_seconds",
    "revcheck_crl_next_update_timestamp_seconds",
    "revcheck_crl_last_success_timestamp_seconds",
    "revcheck_ocsp_requests_total",
    "revcheck_ocsp_request_duration_seconds",
    "revcheck_cache_hits_total",
    "revcheck_cache_misses_total",
    "revcheck_ready",
];

/// Values that stand in for Grafana's variables when the dashboard's queries are checked.
const GRAFANA_VARIABLES: [(&str, &str); 8] = [
    ("${datasource}", "prometheus"),
    ("$__rate_interval", "5m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
    ("${ca}", ".*"),
    ("$ca", ".*"),
    ("${job}", ".*"),
    ("$job", ".*"),
];

#[test]
fn metrics_pass_promtool_check() {
    let harness = Harness::start();
    harness.drive_lookups();

    let metrics = harness.scrape_metrics();
    let output = promtool(&["check", "metrics"], Some(&metrics));

    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}\n--- metrics ---\n{metrics}",
        describe(&output)
    );
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        findings.trim().is_empty(),
        "promtool check metrics printed warnings:\n{findings}"
    );
    let exported = exported_names(&metrics);
    for name in CONTRACT_METRICS {
        let type_line = metrics
            .lines()
            .any(|line| line.starts_with(&format!("# TYPE {name} ")));
        assert!(type_line, "no # TYPE line for {name}:\n{metrics}");
        let help_line = metrics.lines().any(|line| {
            line.len() > name.len() + 8 && line.starts_with(&format!("# HELP {name} "))
        });
        assert!(help_line, "no help text for {name}:\n{metrics}");
    }
    for name in ["process_cpu_seconds_total", "process_resident_memory_bytes"] {
        assert!(exported.contains(name), "{name} not exported:\n{metrics}");
    }
}

#[test]
fn dashboard_and_rule_metrics_exported() {
    let harness = Harness::start();
    harness.drive_lookups();
    let metrics = harness.scrape_metrics();
    let exported = exported_names(&metrics);

    let dashboard_queries = dashboard_queries(&read_dashboard());
    let rule_queries = alert_expressions();
    assert!(!dashboard_queries.is_empty(), "dashboard has no queries");
    assert!(!rule_queries.is_empty(), "alert rules have no expressions");

    for (origin, queries) in [
        ("dashboard", &dashboard_queries),
        ("alerts.yml", &rule_queries),
    ] {
        for query in queries.iter() {
            for name in metric_names(query) {
                assert!(
                    exported.contains(&name),
                    "{origin} query uses {name}, which revcheck does not export:\n{query}\n\
                     --- /metrics ---\n{metrics}"
                );
            }
        }
    }
}

#[test]
fn dashboard_queries_parse() {
    let dashboard = read_dashboard();
    let queries = dashboard_queries(&dashboard);
    let dir = tempfile::tempdir().expect("temporary directory is created");

    // promtool parses every expression of a rule file, so each query becomes a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (index, query) in queries.iter().enumerate() {
        let expression = substitute_grafana_variables(query);
        assert!(
            !expression.contains('$'),
            "query has a variable that the test does not substitute: {query}"
        );
        let quoted = serde_json::to_string(&expression).expect("expression is serialized");
        rules.push_str(&format!(
            "      - record: dashboard:query_{index}\n        expr: {quoted}\n"
        ));
    }
    let rules_path = dir.path().join("dashboard-rules.yml");
    fs::write(&rules_path, &rules).expect("rule file is written");

    let output = promtool(&["check", "rules", path_text(&rules_path)], None);

    assert!(
        output.status.success(),
        "a dashboard query does not parse:\n{}\n--- rules ---\n{rules}",
        describe(&output)
    );
}

#[test]
fn dashboard_uses_variables() {
    let dashboard = read_dashboard();

    let schema_version = dashboard["schemaVersion"].as_u64().unwrap_or_default();
    assert!(schema_version >= 39, "schemaVersion {schema_version}");

    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list is an array");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|variable| variable["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
            .clone()
    };
    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource", "{datasource}");
    assert_eq!(datasource["query"], "prometheus", "{datasource}");
    let ca = variable("ca");
    assert_eq!(ca["type"], "query", "{ca}");
    assert_eq!(
        ca["query"]["query"], "label_values(revcheck_crl_entries, ca)",
        "{ca}"
    );
    assert_eq!(ca["multi"], true, "{ca}");
    assert_eq!(ca["includeAll"], true, "{ca}");

    let panels = dashboard["panels"].as_array().expect("panels is an array");
    assert!(!panels.is_empty(), "dashboard has no panels");
    for panel in panels {
        let title = &panel["title"];
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "panel {title}");
        assert_eq!(panel["datasource"]["type"], "prometheus", "panel {title}");
        let targets = panel["targets"].as_array().expect("targets is an array");
        assert!(!targets.is_empty(), "panel {title} has no query");
        for target in targets {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "panel {title}"
            );
        }
    }

    // Each panel the operations guide describes, found by a metric its queries use.
    let queries = dashboard_queries(&dashboard).join("\n");
    for expected in [
        "revcheck_auth_decisions_total",
        "histogram_quantile(0.99, sum by (endpoint, le) (rate(revcheck_lookup_duration_seconds_bucket",
        "revcheck_crl_next_update_timestamp_seconds",
        "revcheck_crl_last_success_timestamp_seconds",
        "revcheck_crl_fetches_total",
        "revcheck_ocsp_requests_total",
        "revcheck_ocsp_request_duration_seconds_bucket",
        "revcheck_cache_hits_total",
        "revcheck_ready",
    ] {
        assert!(queries.contains(expected), "no query with {expected}");
    }
}

#[test]
fn alert_rules_pass_promtool() {
    let rules = dashboards_dir().join("alerts.yml");
    let check = promtool(&["check", "rules", path_text(&rules)], None);
    assert!(
        check.status.success(),
        "promtool check rules failed:\n{}",
        describe(&check)
    );

    let tests = dashboards_dir().join("alerts.test.yml");
    let unit_tests = promtool(&["test", "rules", path_text(&tests)], None);
    assert!(
        unit_tests.status.success(),
        "promtool test rules failed:\n{}",
        describe(&unit_tests)
    );

    // Every alert has a severity and a runbook sentence, and a unit test names it.
    let document: Value =
        serde_norway::from_str(&fs::read_to_string(&rules).expect("alerts.yml is read"))
            .expect("alerts.yml is YAML");
    let test_text = fs::read_to_string(&tests).expect("alerts.test.yml is read");
    for rule in alert_rules(&document) {
        let name = rule["alert"].as_str().expect("alert has a name");
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["warning", "critical"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let runbook = rule["annotations"]["runbook"].as_str().unwrap_or_default();
        assert!(
            runbook.trim_end().ends_with('.'),
            "{name}: runbook {runbook:?}"
        );
        assert!(
            test_text.contains(&format!("alertname: {name}\n")),
            "{name} has no unit test in alerts.test.yml"
        );
    }
}

#[test]
fn unknown_log_format_rejected() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let config = dir.path().join("revcheck.toml");
    fs::write(&config, "log_format = \"xml\"\n").expect("configuration is written");

    let output = run(
        REVCHECK,
        dir.path(),
        &["serve", "--config", path_text(&config)],
    );

    assert_eq!(output.code, Some(64), "{}", output.describe());
    assert!(
        output
            .stderr
            .contains("log_format = \"xml\": unknown value; write one of \"text\", \"json\""),
        "{}",
        output.describe()
    );
}

#[test]
fn invalid_rust_log_reported() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let config = dir.path().join("revcheck.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nlog_format = \"json\"\n\n[[ca]]\nid = \"demo-root\"\n\
         certificate = \"{}\"\ncrl = [\"file:{}\"]\n",
        path_text(&demo.join("root-ca.pem")),
        path_text(&demo.join("root-ca.crl"))
    );
    fs::write(&config, text).expect("configuration is written");

    let revcheck = RevcheckProcess::spawn_with_log_filter(&config, "revcheck=loud");
    let events = log_events(&revcheck);

    let warning = find_event(
        &events,
        &[(
            "message",
            "RUST_LOG is invalid, so the log level is info; fix its syntax",
        )],
    );
    assert_fields(warning, &[("level", "WARN"), ("rust_log", "revcheck=loud")]);
    // The info level applies: the start is logged.
    find_event(&events, &[("message", "starting revcheck")]);
}

#[test]
fn status_and_fetch_log_lines_name_certificate() {
    let harness = Harness::start();
    harness.drive_lookups();
    let pki = &harness.pki;
    let events = log_events(&harness.revcheck);

    // Revoked, by certificate: the fingerprint is that of `openssl x509 -fingerprint`.
    let revoked = find_event(
        &events,
        &[
            ("message", "certificate is revoked"),
            ("fingerprint", &openssl_fingerprint(&pki.revoked.cert_pem)),
        ],
    );
    assert_fields(
        revoked,
        &[
            ("level", "WARN"),
            ("ca", CA_REVOKING),
            ("serial", REVOKED_SERIAL_HEX),
            ("reason", "revoked"),
            ("revocation_reason", "key_compromise"),
            ("source", "crl"),
        ],
    );

    // Revoked, by serial number: no certificate, so no fingerprint.
    let by_serial = events
        .iter()
        .find(|event| {
            event["message"] == "certificate is revoked" && event.get("fingerprint").is_none()
        })
        .unwrap_or_else(|| {
            panic!(
                "no revocation line without fingerprint:\n{}",
                lines(&events)
            )
        });
    assert_fields(
        by_serial,
        &[
            ("ca", CA_REVOKING),
            ("serial", REVOKED_SERIAL_HEX),
            ("reason", "revoked"),
            ("source", "crl"),
        ],
    );

    // Undetermined and denied: the CRL source serves garbage, so no CRL is held.
    let denied = find_event(
        &events,
        &[
            (
                "message",
                "revocation status is undetermined and on_unknown = \"deny\" denies access",
            ),
            ("ca", CA_GARBAGE),
        ],
    );
    assert_fields(
        denied,
        &[
            ("level", "WARN"),
            ("serial", GARBAGE_LEAF_SERIAL_HEX),
            (
                "fingerprint",
                &openssl_fingerprint(&pki.garbage_leaf.cert_pem),
            ),
            ("reason", "no_crl"),
            ("source", "crl"),
            ("on_unknown", "deny"),
        ],
    );

    // Undetermined and allowed by the CA's fail-open policy.
    let allowed = find_event(
        &events,
        &[
            (
                "message",
                "revocation status is undetermined and on_unknown = \"allow\" allows access",
            ),
            ("ca", CA_DOWN),
        ],
    );
    assert_fields(
        allowed,
        &[
            ("level", "WARN"),
            ("serial", DOWN_LEAF_SERIAL_HEX),
            ("fingerprint", &openssl_fingerprint(&pki.down_leaf.cert_pem)),
            ("reason", "no_crl"),
            ("source", "crl"),
            ("on_unknown", "allow"),
        ],
    );

    // CRL fetch failures: a body that is not a CRL, and a server that is down.
    let garbage_url = format!("http://{}/{CA_GARBAGE}.crl", harness.crl_server);
    let rejected = find_event(
        &events,
        &[
            ("message", "CRL rejected; no CRL from this source is held"),
            ("ca", CA_GARBAGE),
        ],
    );
    assert_fields(
        rejected,
        &[
            ("level", "WARN"),
            ("source", &garbage_url),
            ("reason", "crl_malformed"),
        ],
    );
    let down_url = format!("http://{}/{CA_DOWN}.crl", harness.closed_address);
    let unreachable = find_event(
        &events,
        &[
            (
                "message",
                "CRL fetch failed; no CRL from this source is held",
            ),
            ("ca", CA_DOWN),
        ],
    );
    assert_fields(
        unreachable,
        &[
            ("level", "WARN"),
            ("source", &down_url),
            ("reason", "fetch_failed"),
        ],
    );

    // OCSP request failure: the certificate's fingerprint comes from the enclosing span.
    let ocsp_fingerprint = openssl_fingerprint(&pki.ocsp_leaf.cert_pem);
    let responder_url = format!("http://{}/", harness.closed_address);
    let ocsp_failure = find_event(
        &events,
        &[("message", "OCSP request failed"), ("ca", CA_OCSP)],
    );
    assert_fields(
        ocsp_failure,
        &[
            ("level", "WARN"),
            ("serial", OCSP_LEAF_SERIAL_HEX),
            ("source", &responder_url),
            ("reason", "ocsp_fetch_failed"),
        ],
    );
    assert_eq!(
        ocsp_failure["span"]["fingerprint"], ocsp_fingerprint,
        "{ocsp_failure}"
    );
    let ocsp_denied = find_event(
        &events,
        &[
            (
                "message",
                "revocation status is undetermined and on_unknown = \"deny\" denies access",
            ),
            ("ca", CA_OCSP),
        ],
    );
    assert_fields(
        ocsp_denied,
        &[
            ("serial", OCSP_LEAF_SERIAL_HEX),
            ("fingerprint", &ocsp_fingerprint),
            ("reason", "ocsp_fetch_failed"),
            ("source", "ocsp"),
        ],
    );
}

#[test]
fn auth_log_lines_name_certificate() {
    let harness = Harness::start();
    harness.drive_lookups();
    let pki = &harness.pki;
    let events = log_events(&harness.revcheck);

    // One line per denial: certificate, reason and the source that decided.
    let cases = [
        (
            &pki.revoked,
            CA_REVOKING,
            REVOKED_SERIAL_HEX,
            "revoked",
            "crl",
        ),
        (
            &pki.garbage_leaf,
            CA_GARBAGE,
            GARBAGE_LEAF_SERIAL_HEX,
            "undetermined",
            "",
        ),
        (
            &pki.foreign_leaf,
            "",
            REVOKED_SERIAL_HEX,
            "unknown_issuer",
            "",
        ),
    ];
    for (leaf, ca, serial, reason, source) in cases {
        let fingerprint = openssl_fingerprint(&leaf.cert_pem);
        let denials = matching_events(
            &events,
            &[("message", "access denied"), ("fingerprint", &fingerprint)],
        );
        assert_eq!(
            denials.len(),
            1,
            "{reason}: denial lines:\n{}",
            lines(&events)
        );
        assert_fields(
            denials[0],
            &[
                ("level", "WARN"),
                ("ca", ca),
                ("serial", serial),
                ("reason", reason),
                ("source", source),
            ],
        );
    }

    // Denials before a certificate was read carry the reason and empty certificate fields.
    for reason in [
        "no_certificate",
        "proxy_secret_invalid",
        "malformed_certificate_header",
    ] {
        let denials = matching_events(&events, &[("message", "access denied"), ("reason", reason)]);
        assert_eq!(
            denials.len(),
            1,
            "{reason}: denial lines:\n{}",
            lines(&events)
        );
        assert_fields(denials[0], &[("level", "WARN"), ("fingerprint", "")]);
    }

    // The fail-open allowance of the CA whose CRL server is down.
    let fingerprint = openssl_fingerprint(&pki.down_leaf.cert_pem);
    let allowances = matching_events(
        &events,
        &[("reason", "unknown_allowed"), ("fingerprint", &fingerprint)],
    );
    assert_eq!(allowances.len(), 1, "allowance lines:\n{}", lines(&events));
    assert_fields(
        allowances[0],
        &[
            ("level", "WARN"),
            ("ca", CA_DOWN),
            ("serial", DOWN_LEAF_SERIAL_HEX),
        ],
    );
}

#[test]
fn logs_hold_no_certificate_or_secret() {
    let harness = Harness::start();
    harness.drive_lookups();
    let log = log_lines(&harness.revcheck);
    assert!(
        log.iter().any(|line| line.contains("access denied")),
        "the requests were not logged:\n{}",
        log.join("\n")
    );

    for line in &log {
        for forbidden in [
            "BEGIN CERTIFICATE",
            "BEGIN%20CERTIFICATE",
            PROXY_SECRET,
            WRONG_SECRET,
        ] {
            assert!(
                !line.contains(forbidden),
                "log line contains {forbidden}: {line}"
            );
        }
    }

    // No certificate body, whole or one line of it, plain or URL-escaped as nginx sends it.
    for certificate in harness.pki.all_certificate_pems() {
        let body_lines: Vec<&str> = certificate
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let mut forbidden: Vec<String> = vec![body_lines.concat()];
        for body_line in &body_lines {
            forbidden.push((*body_line).to_owned());
            forbidden.push(utf8_percent_encode(body_line, NON_ALPHANUMERIC).to_string());
        }
        for line in &log {
            for text in &forbidden {
                assert!(
                    !line.contains(text.as_str()),
                    "log line contains {text}: {line}"
                );
            }
        }
    }
}

/// One test's environment: a PKI in a temporary directory, an HTTP server on 127.0.0.1 that
/// serves one CRL and one garbage file, and `revcheck serve` with `log_format = "json"`.
struct Harness {
    // Fields drop in order: the process first, then the runtime (which stops the CRL server),
    // and the temporary directory last.
    revcheck: RevcheckProcess,
    _runtime: Runtime,
    crl_server: SocketAddr,
    /// An address of 127.0.0.1 on which nothing listens.
    closed_address: SocketAddr,
    pki: Pki,
}

impl Harness {
    /// Starts revcheck and waits until it has tried every CRL source once.
    fn start() -> Harness {
        let pki = Pki::new();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime starts");
        let crl_server = start_crl_server(&runtime, pki.served_dir());
        let closed_address = closed_address();
        let config = pki.write_config(crl_server, closed_address);
        let revcheck = RevcheckProcess::spawn(&config);

        let harness = Harness {
            revcheck,
            _runtime: runtime,
            crl_server,
            closed_address,
            pki,
        };
        poll_until("the first fetch from every CRL source", || {
            let HttpResponse { status, body, .. } = harness.get("/v1/cas");
            let cas: Value = serde_json::from_str(&body).map_err(|error| error.to_string())?;
            let all_fetched = [CA_REVOKING, CA_GARBAGE, CA_DOWN].iter().all(|id| {
                cas["cas"]
                    .as_array()
                    .and_then(|list| list.iter().find(|ca| ca["id"] == *id))
                    .is_some_and(|ca| ca["sources"][0]["last_fetch"].is_string())
            });
            if status == 200 && all_fetched {
                Ok(())
            } else {
                Err(body)
            }
        });
        harness
    }

    /// Sends lookups and `/v1/auth` requests that end good, revoked, undetermined (denied and
    /// allowed) and in error, one of them through OCSP, so that every lookup series and
    /// histogram has samples and every kind of log line is written.
    fn drive_lookups(&self) {
        let pki = &self.pki;
        let status_lookups = [
            (
                self.get(&format!("/v1/status/{CA_REVOKING}/8001")),
                200,
                "\"status\":\"revoked\"",
            ),
            (
                self.post_certificate(&pki.revoked.cert_pem),
                200,
                "\"status\":\"revoked\"",
            ),
            (
                self.post_certificate(&pki.good.cert_pem),
                200,
                "\"status\":\"good\"",
            ),
            (
                self.post_certificate(&pki.garbage_leaf.cert_pem),
                200,
                "\"status\":\"unknown\"",
            ),
            (
                self.post_certificate(&pki.down_leaf.cert_pem),
                200,
                "\"status\":\"unknown\"",
            ),
            (
                self.post_certificate(&pki.ocsp_leaf.cert_pem),
                200,
                "\"status\":\"unknown\"",
            ),
            (self.get("/v1/status/no-such-ca/01"), 404, "unknown_ca"),
        ];
        for (index, (response, status, body)) in status_lookups.into_iter().enumerate() {
            assert_eq!(
                response.status, status,
                "status lookup {index}: {response:?}"
            );
            assert!(
                response.body.contains(body),
                "status lookup {index}: {response:?}"
            );
        }

        let escaped =
            |leaf: &TestLeaf| utf8_percent_encode(&leaf.cert_pem, NON_ALPHANUMERIC).to_string();
        // A certificate header cut in the middle of its base64 body.
        let truncated = escaped(&pki.good)[..400].to_owned();
        let auth_requests = [
            (
                self.auth(Some(&escaped(&pki.revoked)), PROXY_SECRET),
                403,
                Some("revoked"),
            ),
            (
                self.auth(Some(&escaped(&pki.garbage_leaf)), PROXY_SECRET),
                403,
                Some("undetermined"),
            ),
            (
                self.auth(Some(&escaped(&pki.down_leaf)), PROXY_SECRET),
                200,
                None,
            ),
            (
                self.auth(Some(&escaped(&pki.good)), PROXY_SECRET),
                200,
                None,
            ),
            (
                self.auth(Some(&escaped(&pki.foreign_leaf)), PROXY_SECRET),
                403,
                Some("unknown_issuer"),
            ),
            (
                self.auth(Some(&truncated), PROXY_SECRET),
                403,
                Some("malformed_certificate_header"),
            ),
            (self.auth(None, PROXY_SECRET), 401, Some("no_certificate")),
            (
                self.auth(Some(&escaped(&pki.good)), WRONG_SECRET),
                403,
                Some("proxy_secret_invalid"),
            ),
        ];
        for (index, (response, status, reason)) in auth_requests.into_iter().enumerate() {
            assert_eq!(
                response.status, status,
                "auth request {index}: {response:?}"
            );
            assert_eq!(
                response.header("x-revcheck-reason").as_deref(),
                reason,
                "auth request {index}: {response:?}"
            );
        }

        // revcheck writes each request's line before it sends the response, and stderr keeps
        // the order, so once the last request's line is read, so are those before it.
        poll_until("the log line of the last request", || {
            let lines = log_lines(&self.revcheck);
            if lines
                .iter()
                .any(|line| line.contains("proxy_secret_invalid"))
            {
                Ok(())
            } else {
                Err(lines.join("\n"))
            }
        });
    }

    fn scrape_metrics(&self) -> String {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200, "GET /metrics: {response:?}");
        response.body
    }

    fn get(&self, path: &str) -> HttpResponse {
        http_request(self.revcheck.address, "GET", path, &[], None)
    }

    fn post_certificate(&self, pem: &str) -> HttpResponse {
        let body = serde_json::json!({ "certificate": pem }).to_string();
        let headers = [("Content-Type", "application/json")];
        http_request(
            self.revcheck.address,
            "POST",
            "/v1/status",
            &headers,
            Some(&body),
        )
    }

    /// Sends `GET /v1/auth` as nginx does: the verification result `SUCCESS` when a
    /// certificate is forwarded, else `NONE`, and the shared secret `secret`.
    fn auth(&self, escaped_certificate: Option<&str>, secret: &str) -> HttpResponse {
        let mut headers = vec![("X-Revcheck-Secret", secret)];
        match escaped_certificate {
            Some(certificate) => {
                headers.push(("X-SSL-Client-Verify", "SUCCESS"));
                headers.push(("X-SSL-Client-Cert", certificate));
            }
            None => headers.push(("X-SSL-Client-Verify", "NONE")),
        }
        http_request(self.revcheck.address, "GET", "/v1/auth", &headers, None)
    }
}

/// The test PKI: one root CA per configured CA id, and their leaves.
struct Pki {
    dir: TempDir,
    revoking_ca: TestCa,
    garbage_ca: TestCa,
    down_ca: TestCa,
    ocsp_ca: TestCa,
    revoked: TestLeaf,
    good: TestLeaf,
    garbage_leaf: TestLeaf,
    down_leaf: TestLeaf,
    ocsp_leaf: TestLeaf,
    /// Issued by a CA that is not configured.
    foreign_ca: TestCa,
    foreign_leaf: TestLeaf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        fs::create_dir(dir.path().join("served")).expect("served directory is created");

        let root = |name: &str| TestCa::root(name).expect("CA is issued");
        let revoking_ca = root("observability revoking CA");
        let garbage_ca = root("observability CA with a garbage CRL");
        let down_ca = root("observability CA whose CRL server is down");
        let ocsp_ca = root("observability OCSP CA");
        let foreign_ca = root("observability unconfigured CA");
        let leaf = |issuer: &TestCa, common_name: &str, serial: &[u8]| {
            issuer
                .leaf(&LeafSpec {
                    common_name: common_name.to_owned(),
                    serial: serial.to_vec(),
                    email: None,
                    uri: None,
                })
                .expect("leaf is issued")
        };
        let revoked = leaf(&revoking_ca, "revoked client", &REVOKED_SERIAL);
        let good = leaf(&revoking_ca, "good client", &GOOD_SERIAL);
        let garbage_leaf = leaf(
            &garbage_ca,
            "client of the garbage CRL CA",
            &GARBAGE_LEAF_SERIAL,
        );
        let down_leaf = leaf(
            &down_ca,
            "client of the CA whose CRL is down",
            &DOWN_LEAF_SERIAL,
        );
        let ocsp_leaf = leaf(&ocsp_ca, "client of the OCSP CA", &OCSP_LEAF_SERIAL);
        let foreign_leaf = leaf(&foreign_ca, "client of an unconfigured CA", &REVOKED_SERIAL);

        let now = SystemTime::now();
        let crl = revoking_ca
            .crl(&CrlSpec {
                revoked: vec![RevokedSpec {
                    serial: REVOKED_SERIAL.to_vec(),
                    revocation_time: UNIX_EPOCH + Duration::from_secs(1_748_779_200),
                    reason: Some(rcgen::RevocationReason::KeyCompromise),
                }],
                crl_number: 1,
                this_update: now - Duration::from_secs(600),
                next_update: now + Duration::from_secs(24 * 60 * 60),
            })
            .expect("CRL is signed");
        let served = dir.path().join("served");
        fs::write(served.join(format!("{CA_REVOKING}.crl")), crl).expect("CRL is written");
        fs::write(served.join(format!("{CA_GARBAGE}.crl")), GARBAGE).expect("garbage is written");

        Pki {
            dir,
            revoking_ca,
            garbage_ca,
            down_ca,
            ocsp_ca,
            revoked,
            good,
            garbage_leaf,
            down_leaf,
            ocsp_leaf,
            foreign_ca,
            foreign_leaf,
        }
    }

    fn served_dir(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    fn write_pem(&self, name: &str, pem: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, pem).expect("PEM file is written");
        path
    }

    fn all_certificate_pems(&self) -> Vec<String> {
        vec![
            self.revoking_ca.cert_pem(),
            self.garbage_ca.cert_pem(),
            self.down_ca.cert_pem(),
            self.ocsp_ca.cert_pem(),
            self.revoked.cert_pem.clone(),
            self.good.cert_pem.clone(),
            self.garbage_leaf.cert_pem.clone(),
            self.down_leaf.cert_pem.clone(),
            self.ocsp_leaf.cert_pem.clone(),
            self.foreign_ca.cert_pem(),
            self.foreign_leaf.cert_pem.clone(),
        ]
    }

    /// Writes `revcheck.toml` for the four CAs with JSON logs, a 1-second refresh interval, an
    /// OS-chosen listening port and an `[auth]` table that maps the good leaf and the leaf of
    /// the CA whose CRL server is down to identities.
    fn write_config(&self, crl_server: SocketAddr, closed: SocketAddr) -> PathBuf {
        let good = openssl_fingerprint(&self.good.cert_pem);
        let down = openssl_fingerprint(&self.down_leaf.cert_pem);
        let identities = format!("{good}\tgood-client\n{down}\tdown-client\n");
        fs::write(self.dir.path().join("identities.tsv"), identities)
            .expect("identities file is written");
        fs::write(
            self.dir.path().join("proxy-secret"),
            format!("{PROXY_SECRET}\n"),
        )
        .expect("secret file is written");

        for (id, ca) in [
            (CA_REVOKING, &self.revoking_ca),
            (CA_GARBAGE, &self.garbage_ca),
            (CA_DOWN, &self.down_ca),
            (CA_OCSP, &self.ocsp_ca),
        ] {
            self.write_pem(&format!("{id}.pem"), &ca.cert_pem());
        }
        let config = format!(
            r#"listen = "127.0.0.1:0"
log_format = "json"

[fetch]
timeout = "5s"

[refresh]
interval = "1s"

[auth]
identities = "identities.tsv"
secret_header = "X-Revcheck-Secret"
secret_file = "proxy-secret"

[[ca]]
id = "{CA_REVOKING}"
certificate = "{CA_REVOKING}.pem"
crl = ["http://{crl_server}/{CA_REVOKING}.crl"]

[[ca]]
id = "{CA_GARBAGE}"
certificate = "{CA_GARBAGE}.pem"
crl = ["http://{crl_server}/{CA_GARBAGE}.crl"]

[[ca]]
id = "{CA_DOWN}"
certificate = "{CA_DOWN}.pem"
crl = ["http://{closed}/{CA_DOWN}.crl"]
on_unknown = "allow"

[[ca]]
id = "{CA_OCSP}"
certificate = "{CA_OCSP}.pem"
method = "ocsp"
ocsp = ["http://{closed}/"]
"#
        );
        let path = self.dir.path().join("revcheck.toml");
        fs::write(&path, config).expect("revcheck.toml is written");
        path
    }
}

/// Returns every line that revcheck wrote to stderr so far.
fn log_lines(revcheck: &RevcheckProcess) -> Vec<String> {
    revcheck.log().lines().map(str::to_owned).collect()
}

/// Parses every log line as JSON, failing the test on a line that is not.
fn log_events(revcheck: &RevcheckProcess) -> Vec<Value> {
    log_lines(revcheck)
        .iter()
        .map(|line| match serde_json::from_str(line) {
            Ok(event) => event,
            Err(error) => panic!("log line is not JSON ({error}): {line}"),
        })
        .collect()
}

/// Serves the files in `document_root` over HTTP on an OS-chosen port of 127.0.0.1, until
/// `runtime` is dropped.
fn start_crl_server(runtime: &Runtime, document_root: PathBuf) -> SocketAddr {
    let _runtime_context = runtime.enter();
    let (address, server) = warp::serve(warp::fs::dir(document_root))
        .try_bind_ephemeral(([127, 0, 0, 1], 0))
        .expect("CRL server binds to 127.0.0.1");
    runtime.spawn(server);
    address
}

/// Returns an address of 127.0.0.1 that was free a moment ago, so connecting to it is refused.
fn closed_address() -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("port is bound");
    listener.local_addr().expect("bound address is known")
}

/// A response from revcheck: status, header lines and body.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    head: String,
    body: String,
}

impl HttpResponse {
    /// Returns the value of header `name`, compared without regard to case.
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// Sends one HTTP/1.1 request with `headers` and returns the response.
fn http_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    let mut stream = TcpStream::connect(address)
        .unwrap_or_else(|error| panic!("connecting to revcheck at {address} failed: {error}"));
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout is set");
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|error| panic!("{method} {path} failed: {error}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|error| panic!("reading the response to {method} {path} failed: {error}"));

    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: response without a header end: {response}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status code in {head}"));
    let mut response = HttpResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
    {
        response.body = decode_chunked(body);
    }
    response
}

/// Joins the chunks of a body sent with `Transfer-Encoding: chunked` (RFC 9112 section 7.1).
fn decode_chunked(mut text: &str) -> String {
    let mut body = String::new();
    loop {
        let Some((size_line, rest)) = text.split_once("\r\n") else {
            panic!("chunked body ends without a last chunk: {text}");
        };
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|error| panic!("invalid chunk size {size_line:?}: {error}"));
        if size == 0 {
            return body;
        }
        body.push_str(&rest[..size]);
        text = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
}

/// Returns the path of promtool: `PROMTOOL`, else the copy that `scripts/test` unpacks into
/// `.tools/`. Fails the test with the fix when neither exists.
fn promtool_path() -> PathBuf {
    let path = match std::env::var_os("PROMTOOL") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/prometheus/usr/bin/promtool"),
    };
    assert!(
        path.is_file(),
        "promtool not found at {}; run scripts/test, which unpacks it from the Debian \
         prometheus package into .tools/, or set PROMTOOL to a promtool binary",
        path.display()
    );
    path
}

/// Runs promtool with `args`, writing `stdin` to it when given.
fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let path = promtool_path();
    let mut child = Command::new(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{} cannot start: {error}", path.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    let text = stdin.unwrap_or_default().to_owned();
    // A separate thread writes, so that a full stdout pipe cannot block the write.
    let writer = thread::spawn(move || input.write_all(text.as_bytes()));
    let output = child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("waiting for promtool failed: {error}"));
    writer
        .join()
        .expect("stdin writer finishes")
        .expect("promtool reads its input");
    output
}

fn describe(output: &Output) -> String {
    format!(
        "exit status {}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn read_dashboard() -> Value {
    let path = dashboards_dir().join("revcheck.json");
    let text = fs::read_to_string(&path).expect("dashboard is read");
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Returns the PromQL of every panel target and of every query variable.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                queries.push(expr.to_owned());
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] == "query" {
            let query = variable["query"]["query"].as_str().unwrap_or_default();
            // label_values(METRIC, LABEL) is Grafana's syntax, not PromQL: its metric selector
            // is the part that Prometheus evaluates.
            let selector = query
                .strip_prefix("label_values(")
                .and_then(|rest| rest.rsplit_once(','))
                .map_or(query, |(selector, _)| selector);
            queries.push(selector.to_owned());
        }
    }
    queries
}

fn substitute_grafana_variables(query: &str) -> String {
    GRAFANA_VARIABLES
        .iter()
        .fold(query.to_owned(), |text, (variable, value)| {
            text.replace(variable, value)
        })
}

fn alert_rules(document: &Value) -> Vec<Value> {
    document["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn alert_expressions() -> Vec<String> {
    let text = fs::read_to_string(dashboards_dir().join("alerts.yml")).expect("alerts.yml is read");
    let document: Value = serde_norway::from_str(&text).expect("alerts.yml is YAML");
    alert_rules(&document)
        .iter()
        .filter_map(|rule| rule["expr"].as_str().map(str::to_owned))
        .collect()
}

/// Returns the names of the revcheck and process metrics that `query` selects. Other names,
/// such as Prometheus's own `up`, are not revcheck's to export.
fn metric_names(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = query;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let word_length = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_length];
        // A word inside a quoted label value is not a metric name.
        let quotes_before = query[..query.len() - rest.len() + start]
            .matches('"')
            .count();
        if quotes_before.is_multiple_of(2)
            && (word.starts_with("revcheck_") || word.starts_with("process_"))
        {
            names.insert(word.to_owned());
        }
        rest = &rest[start + word_length..];
    }
    names
}

/// Returns the sample names in text of the Prometheus exposition format.
fn exported_names(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Returns every event whose fields equal every pair of `fields`.
fn matching_events<'a>(events: &'a [Value], fields: &[(&str, &str)]) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| fields.iter().all(|(key, value)| event[*key] == *value))
        .collect()
}

/// Returns the first event whose fields equal every pair of `fields`.
fn find_event<'a>(events: &'a [Value], fields: &[(&str, &str)]) -> &'a Value {
    matching_events(events, fields)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no log line with {fields:?}; log:\n{}", lines(events)))
}

fn lines(events: &[Value]) -> String {
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    lines.join("\n")
}

fn assert_fields(event: &Value, fields: &[(&str, &str)]) {
    for (key, value) in fields {
        assert_eq!(event[*key], *value, "field {key} of {event}");
    }
}

/// Returns the SHA-256 fingerprint of the PEM certificate `pem` as `openssl x509` computes
/// it, in lowercase hex without colons.
fn openssl_fingerprint(pem: &str) -> String {
    let mut child = Command::new(OPENSSL)
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(pem.as_bytes())
        .expect("openssl reads the certificate");
    let output = child.wait_with_output().expect("openssl finishes");
    assert!(
        output.status.success(),
        "openssl x509 failed: {}",
        describe(&output)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let (_, colon_hex) = text
        .trim()
        .split_once('=')
        .unwrap_or_else(|| panic!("unexpected openssl output: {text}"));
    colon_hex.replace(':', "").to_ascii_lowercase()
}
