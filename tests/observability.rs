//! Observability of `revcheck serve` as a child process: `/metrics` passes `promtool check
//! metrics`, the alert rules pass `promtool check rules` and their unit tests, every query of
//! the Grafana dashboard parses and names only metrics that revcheck exports, and JSON log
//! lines name the CA, certificate, reason and source of every denial, fail-open allowance and
//! fetch failure without ever containing a certificate body.
//!
//! promtool comes from `PROMTOOL`, which `scripts/test` sets, or from `.tools/` where that
//! script unpacks it. Expected fingerprints come from `openssl x509 -fingerprint`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{REVCHECK, path_text, run};
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
/// CA answered by OCSP only, from a responder URL at a closed port.
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

/// Bytes served in place of a CRL: neither DER nor PEM.
const GARBAGE: &[u8] = b"\x00\x01 this is not a CRL \xff\xfe";

/// Metrics of the product contract, which dashboards and alert rules rely on.
const CONTRACT_METRICS: [&str; 12] = [
    "revcheck_lookups_total",
    "revcheck_lookup_duration_seconds",
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

/// Upper bound on every wait for revcheck: startup, the first fetches. Not a speed check.
const DEADLINE: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

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
fn json_logs_name_certificate_and_reason() {
    let harness = Harness::start();
    harness.drive_lookups();
    let pki = &harness.pki;
    let crl_server = harness.crl_server;
    let closed = harness.closed_address;

    let lines = harness.revcheck.log_lines();
    let events: Vec<Value> = lines
        .iter()
        .map(|line| match serde_json::from_str(line) {
            Ok(event) => event,
            Err(error) => panic!("log line is not JSON ({error}): {line}"),
        })
        .collect();

    // Revoked, by certificate: the fingerprint is that of `openssl x509 -fingerprint`.
    let revoked_fingerprint =
        openssl_fingerprint(&pki.write_pem("revoked.pem", &pki.revoked.cert_pem));
    let revoked = find_event(
        &events,
        &[
            ("message", "certificate is revoked; access denied"),
            ("fingerprint", &revoked_fingerprint),
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
            event["message"] == "certificate is revoked; access denied"
                && event.get("fingerprint").is_none()
        })
        .unwrap_or_else(|| {
            panic!(
                "no revocation line without fingerprint:\n{}",
                lines.join("\n")
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
    let garbage_fingerprint =
        openssl_fingerprint(&pki.write_pem("garbage-leaf.pem", &pki.garbage_leaf.cert_pem));
    let denied = find_event(
        &events,
        &[
            (
                "message",
                "revocation status undetermined; access denied by on_unknown = \"deny\"",
            ),
            ("ca", CA_GARBAGE),
        ],
    );
    assert_fields(
        denied,
        &[
            ("level", "WARN"),
            ("serial", GARBAGE_LEAF_SERIAL_HEX),
            ("fingerprint", &garbage_fingerprint),
            ("reason", "no_crl"),
            ("source", "crl"),
            ("on_unknown", "deny"),
        ],
    );

    // Undetermined and allowed by the CA's fail-open policy.
    let down_fingerprint =
        openssl_fingerprint(&pki.write_pem("down-leaf.pem", &pki.down_leaf.cert_pem));
    let allowed = find_event(
        &events,
        &[
            (
                "message",
                "revocation status undetermined; access allowed by on_unknown = \"allow\"",
            ),
            ("ca", CA_DOWN),
        ],
    );
    assert_fields(
        allowed,
        &[
            ("level", "WARN"),
            ("serial", DOWN_LEAF_SERIAL_HEX),
            ("fingerprint", &down_fingerprint),
            ("reason", "no_crl"),
            ("source", "crl"),
            ("on_unknown", "allow"),
        ],
    );

    // CRL fetch failures: a body that is not a CRL, and a server that is down.
    let garbage_url = format!("http://{crl_server}/{CA_GARBAGE}.crl");
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
    let down_url = format!("http://{closed}/{CA_DOWN}.crl");
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
    let ocsp_fingerprint =
        openssl_fingerprint(&pki.write_pem("ocsp-leaf.pem", &pki.ocsp_leaf.cert_pem));
    let responder_url = format!("http://{closed}/");
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
                "revocation status undetermined; access denied by on_unknown = \"deny\"",
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

    // No certificate body, whole or in part, plain or URL-escaped.
    for line in &lines {
        assert!(
            !line.contains("BEGIN CERTIFICATE"),
            "log line contains a PEM header: {line}"
        );
    }
    for certificate in pki.all_certificate_pems() {
        let body_lines: Vec<&str> = certificate
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let body = body_lines.concat();
        for line in &lines {
            assert!(
                !line.contains(&body),
                "log line contains a certificate body: {line}"
            );
            for body_line in &body_lines {
                let escaped = utf8_percent_encode(body_line, NON_ALPHANUMERIC).to_string();
                assert!(
                    !line.contains(body_line) && !line.contains(&escaped),
                    "log line contains the certificate line {body_line}: {line}"
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
            let (status, body) = harness.get("/v1/cas");
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

    /// Sends lookups that end good, revoked, undetermined (denied and allowed) and in error,
    /// one of them through OCSP, so that every lookup series and histogram has samples.
    fn drive_lookups(&self) {
        let pki = &self.pki;
        let expectations = [
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
        for (index, ((status, body), expected_status, expected_body)) in
            expectations.into_iter().enumerate()
        {
            assert_eq!(status, expected_status, "lookup {index}: {body}");
            assert!(body.contains(expected_body), "lookup {index}: {body}");
        }
    }

    fn scrape_metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "GET /metrics: {body}");
        body
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_request(self.revcheck.address, "GET", path, None)
    }

    fn post_certificate(&self, pem: &str) -> (u16, String) {
        let body = serde_json::json!({ "certificate": pem }).to_string();
        http_request(self.revcheck.address, "POST", "/v1/status", Some(&body))
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
        ]
    }

    /// Writes `revcheck.toml` for the four CAs with JSON logs, a 1-second refresh interval and
    /// an OS-chosen listening port.
    fn write_config(&self, crl_server: SocketAddr, closed: SocketAddr) -> PathBuf {
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

/// A running `revcheck serve` whose stderr is collected line by line. Dropping it kills and
/// reaps the process by its PID.
struct RevcheckProcess {
    child: Child,
    /// Address from the JSON `listening` line.
    address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    log_reader: Option<JoinHandle<()>>,
}

impl RevcheckProcess {
    fn spawn(config: &Path) -> RevcheckProcess {
        let mut child = Command::new(REVCHECK)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("revcheck serve starts");

        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address_receiver) = mpsc::channel();
        let log_reader = {
            let log = Arc::clone(&log);
            thread::spawn(move || read_log(stderr, &log, &address_sender))
        };
        let mut process = RevcheckProcess {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            log_reader: Some(log_reader),
        };
        match address_receiver.recv_timeout(DEADLINE) {
            Ok(address) => process.address = address,
            Err(error) => panic!(
                "no JSON `listening` line from revcheck ({error}); log:\n{}",
                process.log_lines().join("\n")
            ),
        }
        process
    }

    fn log_lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for RevcheckProcess {
    fn drop(&mut self) {
        // `Child::kill` signals the child's own PID, and does nothing once it has been reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
        if thread::panicking() {
            eprintln!("revcheck log:\n{}", self.log_lines().join("\n"));
        }
    }
}

/// Copies revcheck's stderr lines into `log` until the process closes it, and sends the `addr`
/// of the JSON `listening` line to `address_sender`.
fn read_log(
    stderr: ChildStderr,
    log: &Mutex<Vec<String>>,
    address_sender: &mpsc::Sender<SocketAddr>,
) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let address = serde_json::from_str::<Value>(&line)
            .ok()
            .filter(|event| event["message"] == "listening")
            .and_then(|event| event["addr"].as_str().and_then(|addr| addr.parse().ok()));
        if let Some(address) = address {
            let _ = address_sender.send(address);
        }
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
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

/// Sends one HTTP/1.1 request and returns the status and body.
fn http_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address)
        .unwrap_or_else(|error| panic!("connecting to revcheck at {address} failed: {error}"));
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout is set");
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
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
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        decode_chunked(body)
    } else {
        body.to_owned()
    };
    (status, body)
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

/// Calls `probe` every `POLL_INTERVAL` until it returns `Ok`, and fails the test after
/// `DEADLINE` with the last `Err`.
fn poll_until<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if start.elapsed() >= DEADLINE => {
                panic!("timed out after {DEADLINE:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
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
        if quotes_before % 2 == 0 && (word.starts_with("revcheck_") || word.starts_with("process_"))
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

/// Returns the first event whose fields equal every pair of `fields`.
fn find_event<'a>(events: &'a [Value], fields: &[(&str, &str)]) -> &'a Value {
    events
        .iter()
        .find(|event| fields.iter().all(|(key, value)| event[*key] == *value))
        .unwrap_or_else(|| {
            let all: Vec<String> = events.iter().map(Value::to_string).collect();
            panic!("no log line with {fields:?}; log:\n{}", all.join("\n"))
        })
}

fn assert_fields(event: &Value, fields: &[(&str, &str)]) {
    for (key, value) in fields {
        assert_eq!(event[*key], *value, "field {key} of {event}");
    }
}

/// Returns the SHA-256 fingerprint of the certificate at `path` as `openssl x509` computes it,
/// in lowercase hex without colons.
fn openssl_fingerprint(path: &Path) -> String {
    let output = Command::new(OPENSSL)
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            path_text(path),
        ])
        .output()
        .expect("openssl runs");
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
