//! `revcheck serve` as a child process, fetching CRLs from a test HTTP server on 127.0.0.1 and
//! serving lookups over its HTTP API. Expected good and revoked verdicts, revocation times and
//! reasons come from OpenSSL run on the same files, not from revcheck.

mod common;

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::RevocationReason;
use revcheck::fixtures::{CrlSpec, LeafSpec, RevokedSpec, TestCa, TestLeaf};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::runtime::Runtime;

use common::revcheck::RevcheckProcess;
use common::{DEADLINE, poll_until};

const OPENSSL: &str = "/usr/bin/openssl";

/// Id of the CA whose CRL the test server publishes.
const CA_WITH_CRL: &str = "with-crl";
/// Id of the CA whose CRL URL gets 404 from the test server.
const CA_WITHOUT_CRL: &str = "without-crl";

/// Serial number of the leaf revoked from the first CRL on. The high bit is set, so the DER
/// INTEGER content is `00 80 01`.
const REVOKED_SERIAL: [u8; 2] = [0x80, 0x01];
/// Serial number of the leaf that only CRL number 2 revokes.
const GOOD_SERIAL: [u8; 2] = [0x80, 0x02];

/// 2025-06-01T12:00:00Z, when `REVOKED_SERIAL` was revoked.
const FIRST_REVOCATION_UNIX_SECONDS: u64 = 1_748_779_200;
/// 2025-07-15T08:30:00Z, when `GOOD_SERIAL` was revoked in CRL number 2.
const SECOND_REVOCATION_UNIX_SECONDS: u64 = 1_752_568_200;

/// Bytes served in place of a CRL: neither DER nor PEM.
const GARBAGE: &[u8] = b"\x00\x01 this is not a CRL \xff\xfe";

#[test]
fn lookups_agree_with_openssl() {
    let harness = Harness::start();
    let pki = &harness.pki;
    let crl = harness.initial_crl.openssl_text();

    // The CA whose CRL URL gets 404 is not ready, and lookups of its certificates are unknown.
    let readiness = harness.get("/readyz");
    let body = readiness.json();
    assert_eq!(readiness.status, 503, "{readiness}");
    assert_eq!(body["ready"], false, "{readiness}");
    let missing = body["missing"].as_array().expect("missing is an array");
    assert_eq!(missing.len(), 1, "only one CA lacks a CRL: {readiness}");
    assert_eq!(missing[0]["ca"], CA_WITHOUT_CRL, "{readiness}");
    let missing_reason = missing[0]["reason"].as_str().unwrap_or_default();
    assert!(
        missing_reason.contains("404"),
        "reason names the HTTP status: {readiness}"
    );

    let unknown_by_serial = harness.status_by_serial(CA_WITHOUT_CRL, "42");
    let unknown_by_certificate = harness.status_of_certificate(&pki.uncovered_leaf.cert_pem);
    for (request, response) in [
        ("GET by serial", unknown_by_serial),
        ("POST with certificate", unknown_by_certificate),
    ] {
        let body = response.json();
        assert_eq!(response.status, 200, "{request}: {response}");
        assert_eq!(body["status"], "unknown", "{request}: {response}");
        assert_eq!(body["ca"], CA_WITHOUT_CRL, "{request}: {response}");
        assert_eq!(body["serial"], "42", "{request}: {response}");
        assert_eq!(body["reason"], "no_crl", "{request}: {response}");
        assert!(body["detail"].is_string(), "{request}: {response}");
        assert_eq!(body["source"], Value::Null, "{request}: {response}");
        assert_eq!(body["this_update"], Value::Null, "{request}: {response}");
        assert_eq!(body["stale"], false, "{request}: {response}");
    }

    // Lookups for the other CA still succeed, and agree with `openssl verify` on the same CRL.
    let revoked_verdict = harness
        .initial_crl
        .openssl_verdict(&pki.ca_pem, &pki.revoked_leaf_pem);
    assert_eq!(revoked_verdict, "revoked", "OpenSSL on the revoked leaf");
    let good_verdict = harness
        .initial_crl
        .openssl_verdict(&pki.ca_pem, &pki.good_leaf_pem);
    assert_eq!(good_verdict, "good", "OpenSSL on the good leaf");

    let cases = [
        (&pki.revoked_leaf, "8001", revoked_verdict, "008001"),
        (&pki.good_leaf, "8002", good_verdict, "008002"),
    ];
    for (leaf, serial_hex, verdict, serial_content) in cases {
        let by_serial = harness.status_by_serial(CA_WITH_CRL, serial_hex);
        let by_certificate = harness.status_of_certificate(&leaf.cert_pem);
        let by_json_serial = harness.post_json(
            "/v1/status",
            &json!({"ca": CA_WITH_CRL, "serial": serial_hex}),
        );
        for (request, response) in [
            ("GET by serial", by_serial),
            ("POST with certificate", by_certificate),
            ("POST with ca and serial", by_json_serial),
        ] {
            assert_crl_response(request, &response, verdict, serial_content, &crl);
        }
    }

    // Colons and redundant leading zeros name the same serial number.
    let with_colons = harness.status_by_serial(CA_WITH_CRL, "00:80:01");
    assert_crl_response("GET with colons", &with_colons, "revoked", "008001", &crl);
}

#[test]
fn refresh_loads_newer_crl() {
    let harness = Harness::start();
    let pki = &harness.pki;

    let first_verdict = harness
        .initial_crl
        .openssl_verdict(&pki.ca_pem, &pki.good_leaf_pem);
    assert_eq!(first_verdict, "good", "OpenSSL on the good leaf, CRL 1");
    let before = harness.status_by_serial(CA_WITH_CRL, "8002");
    assert_eq!(before.json()["status"], first_verdict, "{before}");

    let newer = pki.publish_second_crl();
    let newer_text = newer.openssl_text();
    let newer_verdict = newer.openssl_verdict(&pki.ca_pem, &pki.good_leaf_pem);
    assert_eq!(newer_verdict, "revoked", "OpenSSL on the good leaf, CRL 2");

    let after = poll_until("the lookup of serial 8002 to change", || {
        let response = harness.status_by_serial(CA_WITH_CRL, "8002");
        if response.json()["status"] == first_verdict {
            Err(response.to_string())
        } else {
            Ok(response)
        }
    });
    assert_crl_response(
        "GET after refresh",
        &after,
        newer_verdict,
        "008002",
        &newer_text,
    );

    let still_revoked = harness.status_by_serial(CA_WITH_CRL, "8001");
    assert_crl_response(
        "GET after refresh",
        &still_revoked,
        "revoked",
        "008001",
        &newer_text,
    );

    let cas = harness.get("/v1/cas");
    let ca = find_ca(&cas, CA_WITH_CRL);
    assert_eq!(ca["crl_number"], "02", "{cas}");
    assert_eq!(ca["entries"], 2, "{cas}");
    assert_eq!(ca["this_update"], newer_text.this_update, "{cas}");
    assert_eq!(ca["ready"], true, "{cas}");
}

#[test]
fn replayed_older_crl_rejected() {
    let harness = Harness::start();
    let pki = &harness.pki;
    let newer = pki.publish_second_crl();
    let newer_text = newer.openssl_text();
    let newer_verdict = newer.openssl_verdict(&pki.ca_pem, &pki.good_leaf_pem);
    assert_eq!(newer_verdict, "revoked", "OpenSSL on the good leaf, CRL 2");
    poll_until("CRL number 2 to be loaded", || {
        let cas = harness.get("/v1/cas");
        if find_ca(&cas, CA_WITH_CRL)["crl_number"] == "02" {
            Ok(())
        } else {
            Err(cas.to_string())
        }
    });

    // CRL 1 is still signed and current, so only its lower CRL number shows that it is outdated.
    let first_crl = fs::read(&harness.initial_crl.der_path).expect("CRL 1 copy is read");
    pki.publish_bytes(&first_crl);
    let source = harness.wait_for_refreshes(CA_WITH_CRL, 2);

    let last_error = source["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("CRL number"),
        "expected the lower CRL number in last_error: {source}"
    );
    let cas = harness.get("/v1/cas");
    assert_eq!(find_ca(&cas, CA_WITH_CRL)["crl_number"], "02", "{cas}");
    let still_revoked = harness.status_by_serial(CA_WITH_CRL, "8002");
    assert_crl_response(
        "GET after replay",
        &still_revoked,
        newer_verdict,
        "008002",
        &newer_text,
    );
}

#[test]
fn garbage_crl_keeps_last_good() {
    assert_failed_refresh_keeps_crl(|pki| pki.publish_bytes(GARBAGE), "invalid", "/with-crl.crl");
}

#[test]
fn missing_crl_keeps_last_good() {
    assert_failed_refresh_keeps_crl(Pki::unpublish, "fetch_error", "HTTP 404");
}

#[test]
fn request_errors_map_to_statuses() {
    let harness = Harness::start();
    let garbage_pem =
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";

    let cases = [
        (
            "unknown CA by serial",
            harness.status_by_serial("no-such-ca", "8001"),
            404,
            "unknown_ca",
        ),
        (
            "unknown CA in JSON",
            harness.post_json("/v1/status", &json!({"ca": "no-such-ca", "serial": "01"})),
            404,
            "unknown_ca",
        ),
        (
            "malformed serial",
            harness.status_by_serial(CA_WITH_CRL, "not-hex"),
            400,
            "invalid_serial",
        ),
        (
            "malformed JSON",
            harness.post("/v1/status", "{\"certificate\": ".to_owned()),
            400,
            "invalid_json",
        ),
        (
            "CA without serial",
            harness.post_json("/v1/status", &json!({"ca": CA_WITH_CRL})),
            400,
            "invalid_request",
        ),
        (
            "garbage certificate",
            harness.status_of_certificate(garbage_pem),
            422,
            "invalid_certificate",
        ),
        (
            "certificate of an unconfigured CA",
            harness.status_of_certificate(&harness.pki.foreign_leaf.cert_pem),
            422,
            "unknown_issuer",
        ),
    ];

    for (case, response, status, error) in cases {
        let body = response.json();
        assert_eq!(response.status, status, "{case}: {response}");
        assert_eq!(body["error"], error, "{case}: {response}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{case}: {response}");
    }
}

#[test]
fn metrics_use_contract_names() {
    let harness = Harness::start();
    let crl = harness.initial_crl.openssl_text();

    let lookups = [
        harness.status_by_serial(CA_WITH_CRL, "8001"),
        harness.status_by_serial(CA_WITH_CRL, "8002"),
        harness.status_by_serial(CA_WITHOUT_CRL, "01"),
        harness.status_by_serial("no-such-ca", "01"),
    ];
    let statuses: Vec<u16> = lookups.iter().map(|response| response.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 404],
        "lookups before reading /metrics"
    );

    // The fetch counter is incremented after the CRL is stored and written to the state
    // directory, so it may trail the last_success that the harness waited for.
    let response = poll_until("the successful fetch to be counted", || {
        let response = harness.get("/metrics");
        let counted = metric(
            &response.body,
            "revcheck_crl_fetches_total",
            &[("ca", CA_WITH_CRL), ("outcome", "success")],
        );
        if counted >= Some(1.0) {
            Ok(response)
        } else {
            Err(response.to_string())
        }
    });
    assert_eq!(response.status, 200, "{response}");
    let content_type = response.content_type.as_deref().unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{response}");
    let metrics = &response.body;

    for (name, kind) in [
        ("revcheck_ready", "gauge"),
        ("revcheck_crl_entries", "gauge"),
        ("revcheck_crl_next_update_timestamp_seconds", "gauge"),
        ("revcheck_crl_fetches_total", "counter"),
        ("revcheck_lookups_total", "counter"),
    ] {
        let type_line = format!("# TYPE {name} {kind}");
        assert!(
            metrics.lines().any(|line| line == type_line),
            "expected `{type_line}` in /metrics:\n{metrics}"
        );
    }

    // The CA without a CRL keeps the service from being ready.
    assert_eq!(
        metric(metrics, "revcheck_ready", &[]),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        metric(metrics, "revcheck_crl_entries", &[("ca", CA_WITH_CRL)]),
        Some(1.0),
        "{metrics}"
    );
    let next_update = unix_seconds(&crl.next_update);
    assert_eq!(
        metric(
            metrics,
            "revcheck_crl_next_update_timestamp_seconds",
            &[("ca", CA_WITH_CRL)]
        ),
        Some(next_update),
        "nextUpdate {} as Unix seconds: {metrics}",
        crl.next_update
    );

    let successes = metric(
        metrics,
        "revcheck_crl_fetches_total",
        &[("ca", CA_WITH_CRL), ("outcome", "success")],
    );
    assert!(successes >= Some(1.0), "{metrics}");
    let fetch_errors = metric(
        metrics,
        "revcheck_crl_fetches_total",
        &[("ca", CA_WITHOUT_CRL), ("outcome", "fetch_error")],
    );
    assert!(fetch_errors >= Some(1.0), "{metrics}");

    for status in ["good", "revoked", "unknown", "error"] {
        assert_eq!(
            metric(
                metrics,
                "revcheck_lookups_total",
                &[("endpoint", "status"), ("status", status)]
            ),
            Some(1.0),
            "one lookup with status {status}: {metrics}"
        );
    }
}

#[test]
fn sigterm_stops_with_status_zero() {
    let mut harness = Harness::start();
    assert_clean_stop(&mut harness.revcheck);
}

#[test]
fn sigterm_right_after_listening_line() {
    // A supervisor that reads the listening line may stop the service at once, so the SIGTERM
    // handler must already be in place when revcheck writes that line.
    let mut harness = Harness::launch();
    assert_clean_stop(&mut harness.revcheck);
}

#[test]
fn sigterm_with_idle_connection_open() {
    let mut harness = Harness::start();
    let address = harness.revcheck.address;

    // A client that connects and sends nothing, as a proxy that opens connections ahead of use
    // does. A request on a later connection gets its response only after the server has
    // accepted every earlier connection, so the idle one is open on the server side before
    // SIGTERM.
    let _idle = TcpStream::connect(address).expect("idle connection to revcheck opens");
    let mut probe = TcpStream::connect(address).expect("probe connection to revcheck opens");
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("probe request is sent");
    let mut probe_response = String::new();
    probe
        .read_to_string(&mut probe_response)
        .expect("probe response is read");
    assert!(
        probe_response.starts_with("HTTP/1.1 200"),
        "GET /healthz: {probe_response}"
    );

    assert_clean_stop(&mut harness.revcheck);
}

/// Sends SIGTERM to `revcheck` and checks that it drains, logs its stop and exits with 0.
fn assert_clean_stop(revcheck: &mut RevcheckProcess) {
    let status = revcheck.terminate();
    let log = revcheck.log();

    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(
        log.lines()
            .any(|line| line.contains("stopping") && line.contains("SIGTERM")),
        "no stop line naming SIGTERM in the log:\n{log}"
    );
    assert!(
        log.lines()
            .any(|line| line.trim_end().ends_with(" stopped")),
        "no final stop line in the log:\n{log}"
    );
}

/// Breaks the CRL source of `CA_WITH_CRL` with `break_source`, waits for two failed refreshes
/// and checks that lookups still come from CRL number 1.
///
/// `outcome` is the `revcheck_crl_fetches_total` outcome the failures count under, and
/// `error_fragment` a part of the `last_error` that `/v1/cas` then shows for the source.
fn assert_failed_refresh_keeps_crl(
    break_source: impl FnOnce(&Pki),
    outcome: &str,
    error_fragment: &str,
) {
    let harness = Harness::start();
    let crl = harness.initial_crl.openssl_text();
    let labels = [("ca", CA_WITH_CRL), ("outcome", outcome)];
    let failures_before = metric(
        &harness.get("/metrics").body,
        "revcheck_crl_fetches_total",
        &labels,
    )
    .unwrap_or(0.0);

    break_source(&harness.pki);

    // Two different last_fetch times with an error set mean two failed refreshes.
    let first_failure = poll_until("a failed refresh", || {
        let source = harness.crl_source_status(CA_WITH_CRL);
        match source["last_error"].as_str() {
            Some(_) => Ok(source["last_fetch"].clone()),
            None => Err(source.to_string()),
        }
    });
    let source = poll_until("a second failed refresh", || {
        let source = harness.crl_source_status(CA_WITH_CRL);
        if source["last_error"].is_string() && source["last_fetch"] != first_failure {
            Ok(source)
        } else {
            Err(source.to_string())
        }
    });
    let last_error = source["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains(error_fragment),
        "expected {error_fragment:?} in last_error: {source}"
    );

    let revoked = harness.status_by_serial(CA_WITH_CRL, "8001");
    assert_crl_response(
        "GET after failed refreshes",
        &revoked,
        "revoked",
        "008001",
        &crl,
    );
    let good = harness.status_by_serial(CA_WITH_CRL, "8002");
    assert_crl_response("GET after failed refreshes", &good, "good", "008002", &crl);

    let cas = harness.get("/v1/cas");
    let ca = find_ca(&cas, CA_WITH_CRL);
    assert_eq!(ca["crl_number"], "01", "{cas}");
    assert_eq!(ca["ready"], true, "{cas}");

    let readiness = harness.get("/readyz");
    let missing = readiness.json()["missing"].clone();
    let missing_ids: Vec<&Value> = missing
        .as_array()
        .map(|list| list.iter().map(|entry| &entry["ca"]).collect())
        .unwrap_or_default();
    assert!(
        !missing_ids.contains(&&json!(CA_WITH_CRL)),
        "{CA_WITH_CRL} must stay ready: {readiness}"
    );

    let metrics = harness.get("/metrics").body;
    let failures_after = metric(&metrics, "revcheck_crl_fetches_total", &labels).unwrap_or(0.0);
    assert!(
        failures_after >= failures_before + 2.0,
        "{outcome} count went from {failures_before} to {failures_after}:\n{metrics}"
    );
}

/// Checks a 200 status response decided from a CRL against what OpenSSL read from that CRL.
///
/// `status` is OpenSSL's verdict, `serial_content` the expected DER INTEGER content in hex.
fn assert_crl_response(
    request: &str,
    response: &ApiResponse,
    status: &str,
    serial_content: &str,
    crl: &OpensslCrl,
) {
    let body = response.json();
    assert_eq!(response.status, 200, "{request}: {response}");
    assert_eq!(body["status"], status, "{request}: {response}");
    assert_eq!(body["ca"], CA_WITH_CRL, "{request}: {response}");
    assert_eq!(body["serial"], serial_content, "{request}: {response}");
    assert_eq!(body["source"], "crl", "{request}: {response}");
    assert_eq!(
        body["this_update"], crl.this_update,
        "{request}: {response}"
    );
    assert_eq!(
        body["next_update"], crl.next_update,
        "{request}: {response}"
    );
    assert!(body["checked_at"].is_string(), "{request}: {response}");
    assert_eq!(body["stale"], false, "{request}: {response}");

    // OpenSSL prints the serial number as hex without the leading zero byte of the INTEGER.
    let openssl_serial = serial_content.trim_start_matches("00").to_uppercase();
    match crl.entry(&openssl_serial) {
        Some(entry) => {
            assert_eq!(
                body["revocation_time"], entry.revocation_time,
                "{request}: {response}"
            );
            assert_eq!(body["reason"], entry.reason, "{request}: {response}");
        }
        None => {
            assert_eq!(
                body["revocation_time"],
                Value::Null,
                "{request}: {response}"
            );
            assert_eq!(body["reason"], Value::Null, "{request}: {response}");
        }
    }
}

/// One test's environment: a PKI in a temporary directory, an HTTP server on 127.0.0.1 that
/// serves its CRLs, and a `revcheck serve` process configured for both CAs.
struct Harness {
    // Fields drop in order: the process first, then the runtime (which stops the CRL server),
    // and the temporary directory last.
    revcheck: RevcheckProcess,
    http: reqwest::Client,
    runtime: Runtime,
    initial_crl: PublishedCrl,
    pki: Pki,
}

impl Harness {
    /// Starts revcheck as [`Harness::launch`] does, and waits until it has fetched from both
    /// CRL sources once.
    fn start() -> Harness {
        let harness = Harness::launch();
        poll_until("the first fetch from both CRL sources", || {
            let with_crl = harness.crl_source_status(CA_WITH_CRL);
            let without_crl = harness.crl_source_status(CA_WITHOUT_CRL);
            if with_crl["last_success"].is_string() && without_crl["last_error"].is_string() {
                Ok(())
            } else {
                Err(format!("{with_crl} {without_crl}"))
            }
        });
        harness
    }

    /// Publishes CRL number 1, which revokes `REVOKED_SERIAL`, and starts revcheck. Returns as
    /// soon as revcheck logs its listening address.
    fn launch() -> Harness {
        let pki = Pki::new();
        let initial_crl = pki.publish_crl(
            1,
            vec![revoked_spec(
                &REVOKED_SERIAL,
                FIRST_REVOCATION_UNIX_SECONDS,
                Some(RevocationReason::KeyCompromise),
            )],
        );

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime starts");
        let crl_server = start_crl_server(&runtime, pki.served_dir());
        let config = pki.write_config(crl_server);
        let revcheck = RevcheckProcess::spawn(&config);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(DEADLINE)
            .build()
            .expect("HTTP client builds");

        Harness {
            revcheck,
            http,
            runtime,
            initial_crl,
            pki,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.revcheck.address)
    }

    fn get(&self, path: &str) -> ApiResponse {
        self.send(format!("GET {path}"), self.http.get(self.url(path)))
    }

    fn post(&self, path: &str, body: String) -> ApiResponse {
        let request = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(format!("POST {path}"), request)
    }

    fn post_json(&self, path: &str, body: &Value) -> ApiResponse {
        self.post(path, body.to_string())
    }

    fn status_by_serial(&self, ca: &str, serial: &str) -> ApiResponse {
        self.get(&format!("/v1/status/{ca}/{serial}"))
    }

    fn status_of_certificate(&self, pem: &str) -> ApiResponse {
        self.post_json("/v1/status", &json!({ "certificate": pem }))
    }

    /// Returns the status of the only CRL source of `ca` from `/v1/cas`.
    fn crl_source_status(&self, ca: &str) -> Value {
        let response = self.get("/v1/cas");
        let entry = find_ca(&response, ca);
        let source = &entry["sources"][0];
        assert!(source.is_object(), "no CRL source for {ca}: {response}");
        source.clone()
    }

    /// Waits until revcheck has fetched the CRL source of `ca` `count` more times, and returns
    /// the source status after the last of those fetches.
    fn wait_for_refreshes(&self, ca: &str, count: usize) -> Value {
        let mut last_fetch = self.crl_source_status(ca)["last_fetch"].clone();
        let mut seen = 0;
        poll_until(&format!("{count} more fetches for {ca}"), || {
            let source = self.crl_source_status(ca);
            if source["last_fetch"] != last_fetch {
                last_fetch = source["last_fetch"].clone();
                seen += 1;
            }
            if seen >= count {
                Ok(source)
            } else {
                Err(source.to_string())
            }
        })
    }

    fn send(&self, request: String, builder: reqwest::RequestBuilder) -> ApiResponse {
        self.runtime.block_on(async {
            let response = match builder.send().await {
                Ok(response) => response,
                Err(error) => panic!("{request} to revcheck failed: {error}"),
            };
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = match response.text().await {
                Ok(body) => body,
                Err(error) => panic!("reading the body of {request} failed: {error}"),
            };
            ApiResponse {
                request,
                status,
                content_type,
                body,
            }
        })
    }
}

/// A response from the revcheck API.
struct ApiResponse {
    /// Method and path, such as `GET /readyz`.
    request: String,
    status: u16,
    content_type: Option<String>,
    body: String,
}

impl ApiResponse {
    fn json(&self) -> Value {
        match serde_json::from_str(&self.body) {
            Ok(value) => value,
            Err(error) => panic!("body is not JSON ({error}): {self}"),
        }
    }
}

impl fmt::Display for ApiResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} returned {}: {}",
            self.request, self.status, self.body
        )
    }
}

/// Returns the entry for `id` in a `/v1/cas` response.
fn find_ca(response: &ApiResponse, id: &str) -> Value {
    let body = response.json();
    let found = body["cas"]
        .as_array()
        .and_then(|cas| cas.iter().find(|ca| ca["id"] == id));
    match found {
        Some(ca) => ca.clone(),
        None => panic!("no CA {id}: {response}"),
    }
}

/// Serves the files in `document_root` over HTTP on an OS-chosen port of 127.0.0.1, until
/// `runtime` is dropped. A missing file gets 404.
fn start_crl_server(runtime: &Runtime, document_root: PathBuf) -> SocketAddr {
    let _runtime_context = runtime.enter();
    let (address, server) = warp::serve(warp::fs::dir(document_root))
        .try_bind_ephemeral(([127, 0, 0, 1], 0))
        .expect("CRL server binds to 127.0.0.1");
    runtime.spawn(server);
    address
}

/// Returns the value of the sample of `name` whose labels are exactly `labels`, from text in
/// the Prometheus exposition format.
///
/// Label values are split naively at commas and quotes, which suffices for CA ids and outcome
/// names but not for values with escaped characters.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut expected: Vec<(String, String)> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    expected.sort();

    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (sample_name, sample_labels) = match series.split_once('{') {
                Some((sample_name, rest)) => (sample_name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if sample_name != name {
                return None;
            }
            let mut found: Vec<(String, String)> = sample_labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, quoted) = pair.split_once('=')?;
                    Some((key.to_owned(), quoted.trim_matches('"').to_owned()))
                })
                .collect();
            found.sort();
            if found == expected {
                value.parse().ok()
            } else {
                None
            }
        })
}

fn unix_seconds(rfc3339: &str) -> f64 {
    let time = humantime::parse_rfc3339(rfc3339).expect("time is in RFC 3339 format");
    let since_epoch = time.duration_since(UNIX_EPOCH).expect("time after 1970");
    since_epoch.as_secs_f64()
}

fn revoked_spec(serial: &[u8], unix_seconds: u64, reason: Option<RevocationReason>) -> RevokedSpec {
    RevokedSpec {
        serial: serial.to_vec(),
        revocation_time: UNIX_EPOCH + Duration::from_secs(unix_seconds),
        reason,
    }
}

/// The test PKI and its files: the CA with a CRL and two of its leaves, the CA without a CRL
/// and one of its leaves, and a leaf from a CA that revcheck is not configured for.
struct Pki {
    dir: TempDir,
    ca: TestCa,
    ca_pem: PathBuf,
    revoked_leaf: TestLeaf,
    revoked_leaf_pem: PathBuf,
    good_leaf: TestLeaf,
    good_leaf_pem: PathBuf,
    /// Issued by the CA without a CRL.
    uncovered_leaf: TestLeaf,
    /// Issued by a CA that is not configured, with the same serial number as `revoked_leaf`.
    foreign_leaf: TestLeaf,
    /// Time the PKI was made. CRL thisUpdate times count from it, so a higher CRL number is
    /// always newer.
    created: SystemTime,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        fs::create_dir(dir.path().join("served")).expect("served directory is created");

        let ca = TestCa::root("serve test CA with CRL").expect("CA is issued");
        let uncovered_ca = TestCa::root("serve test CA without CRL").expect("CA is issued");
        let foreign_ca = TestCa::root("serve test unconfigured CA").expect("CA is issued");

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
        let revoked_leaf = leaf(&ca, "revoked client", &REVOKED_SERIAL);
        let good_leaf = leaf(&ca, "good client", &GOOD_SERIAL);
        let uncovered_leaf = leaf(&uncovered_ca, "client without CRL", &[0x42]);
        let foreign_leaf = leaf(&foreign_ca, "client of unconfigured CA", &REVOKED_SERIAL);

        let write = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            fs::write(&path, contents).expect("PKI file is written");
            path
        };
        let ca_pem = write(&format!("{CA_WITH_CRL}.pem"), &ca.cert_pem());
        write(&format!("{CA_WITHOUT_CRL}.pem"), &uncovered_ca.cert_pem());
        let revoked_leaf_pem = write("revoked-leaf.pem", &revoked_leaf.cert_pem);
        let good_leaf_pem = write("good-leaf.pem", &good_leaf.cert_pem);

        Pki {
            dir,
            ca,
            ca_pem,
            revoked_leaf,
            revoked_leaf_pem,
            good_leaf,
            good_leaf_pem,
            uncovered_leaf,
            foreign_leaf,
            created: SystemTime::now(),
        }
    }

    /// Directory the CRL server serves from. The CA without a CRL has no file in it.
    fn served_dir(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    fn served_crl(&self) -> PathBuf {
        self.served_dir().join(format!("{CA_WITH_CRL}.crl"))
    }

    /// Writes `revcheck.toml` for both CAs, with the CRL URLs on `crl_server`, a 1-second
    /// refresh interval and an OS-chosen listening port.
    fn write_config(&self, crl_server: SocketAddr) -> PathBuf {
        let config = format!(
            r#"listen = "127.0.0.1:0"
clock_skew = "5m"

[fetch]
timeout = "5s"
max_size = 1048576

[refresh]
interval = "1s"

[[ca]]
id = "{CA_WITH_CRL}"
certificate = "{CA_WITH_CRL}.pem"
crl = ["http://{crl_server}/{CA_WITH_CRL}.crl"]

[[ca]]
id = "{CA_WITHOUT_CRL}"
certificate = "{CA_WITHOUT_CRL}.pem"
crl = ["http://{crl_server}/{CA_WITHOUT_CRL}.crl"]
"#
        );
        let path = self.dir.path().join("revcheck.toml");
        fs::write(&path, config).expect("revcheck.toml is written");
        path
    }

    /// Signs CRL number `number` listing `revoked`, serves it, and keeps a DER and a PEM copy
    /// for OpenSSL. thisUpdate lies in the past and nextUpdate one day after it.
    fn publish_crl(&self, number: u64, revoked: Vec<RevokedSpec>) -> PublishedCrl {
        let this_update =
            self.created - Duration::from_secs(10 * 60) + Duration::from_secs(60 * number);
        let der = self
            .ca
            .crl(&CrlSpec {
                revoked,
                crl_number: number,
                this_update,
                next_update: this_update + Duration::from_secs(24 * 60 * 60),
            })
            .expect("CRL is signed");

        let der_path = self.dir.path().join(format!("crl-{number}.der"));
        fs::write(&der_path, &der).expect("CRL copy is written");
        let pem_path = self.dir.path().join(format!("crl-{number}.pem"));
        let conversion = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            path_text(&der_path),
            "-outform",
            "PEM",
            "-out",
            path_text(&pem_path),
        ]);
        assert!(
            conversion.status.success(),
            "converting {} to PEM failed: {}",
            der_path.display(),
            String::from_utf8_lossy(&conversion.stderr)
        );

        self.publish_bytes(&der);
        PublishedCrl { der_path, pem_path }
    }

    /// Publishes CRL number 2, which revokes `GOOD_SERIAL` as well as `REVOKED_SERIAL`.
    fn publish_second_crl(&self) -> PublishedCrl {
        self.publish_crl(
            2,
            vec![
                revoked_spec(
                    &REVOKED_SERIAL,
                    FIRST_REVOCATION_UNIX_SECONDS,
                    Some(RevocationReason::KeyCompromise),
                ),
                revoked_spec(
                    &GOOD_SERIAL,
                    SECOND_REVOCATION_UNIX_SECONDS,
                    Some(RevocationReason::Superseded),
                ),
            ],
        )
    }

    /// Replaces the served CRL file in one rename, so the server never sends a partial file.
    fn publish_bytes(&self, bytes: &[u8]) {
        let staging = self.dir.path().join("staging.crl");
        fs::write(&staging, bytes).expect("staging file is written");
        fs::rename(&staging, self.served_crl()).expect("served CRL is replaced");
    }

    /// Removes the served CRL file, so its URL gets 404.
    fn unpublish(&self) {
        fs::remove_file(self.served_crl()).expect("served CRL is removed");
    }
}

/// A CRL as served to revcheck, with copies for OpenSSL.
struct PublishedCrl {
    der_path: PathBuf,
    pem_path: PathBuf,
}

impl PublishedCrl {
    /// Returns "good" or "revoked", the verdict of `openssl verify -crl_check` on `leaf_pem`.
    fn openssl_verdict(&self, ca_pem: &Path, leaf_pem: &Path) -> &'static str {
        let output = openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            path_text(ca_pem),
            "-CRLfile",
            path_text(&self.pem_path),
            path_text(leaf_pem),
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);

        if output.status.success() && stdout.trim_end().ends_with(": OK") {
            "good"
        } else if stderr.contains("certificate revoked") {
            "revoked"
        } else {
            panic!(
                "openssl verify gave neither OK nor revoked ({}): {stdout}{stderr}",
                output.status
            )
        }
    }

    /// Reads the CRL with `openssl crl -text`.
    fn openssl_text(&self) -> OpensslCrl {
        let output = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            path_text(&self.der_path),
            "-noout",
            "-text",
        ]);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "openssl crl -text failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        OpensslCrl::parse(&text)
    }
}

/// The fields of a CRL as `openssl crl -text` prints them, with times converted to RFC 3339
/// and reasons to revcheck's codes.
#[derive(Debug)]
struct OpensslCrl {
    this_update: String,
    next_update: String,
    entries: Vec<OpensslEntry>,
}

#[derive(Debug)]
struct OpensslEntry {
    /// Uppercase hex as OpenSSL prints it, such as `8001`.
    serial: String,
    revocation_time: String,
    reason: String,
}

impl OpensslCrl {
    fn parse(text: &str) -> OpensslCrl {
        let mut this_update = None;
        let mut next_update = None;
        let mut entries: Vec<OpensslEntry> = Vec::new();
        let mut lines = text.lines().map(str::trim);

        while let Some(line) = lines.next() {
            if let Some(time) = line.strip_prefix("Last Update: ") {
                this_update = Some(openssl_time_to_rfc3339(time));
            } else if let Some(time) = line.strip_prefix("Next Update: ") {
                next_update = Some(openssl_time_to_rfc3339(time));
            } else if let Some(serial) = line.strip_prefix("Serial Number: ") {
                // RFC 5280 section 5.3.1: an entry without reasonCode means unspecified.
                entries.push(OpensslEntry {
                    serial: serial.to_owned(),
                    revocation_time: String::new(),
                    reason: "unspecified".to_owned(),
                });
            } else if let Some(time) = line.strip_prefix("Revocation Date: ") {
                let entry = entries
                    .last_mut()
                    .expect("Revocation Date follows a serial");
                entry.revocation_time = openssl_time_to_rfc3339(time);
            } else if line.starts_with("X509v3 CRL Reason Code:") {
                let entry = entries.last_mut().expect("Reason Code follows a serial");
                let name = lines.next().expect("reason name follows its heading");
                entry.reason = reason_code(name);
            }
        }

        OpensslCrl {
            this_update: this_update.unwrap_or_else(|| panic!("no Last Update in:\n{text}")),
            next_update: next_update.unwrap_or_else(|| panic!("no Next Update in:\n{text}")),
            entries,
        }
    }

    fn entry(&self, serial: &str) -> Option<&OpensslEntry> {
        self.entries.iter().find(|entry| entry.serial == serial)
    }
}

/// Converts OpenSSL's reason name to revcheck's code: "Key Compromise" to `key_compromise`.
/// Every name OpenSSL 3.0 prints maps this way, "Remove From CRL" and "AA Compromise" included.
fn reason_code(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

/// Converts an OpenSSL time such as `Jun  1 12:00:00 2025 GMT` to `2025-06-01T12:00:00Z`.
fn openssl_time_to_rfc3339(text: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [month, day, time, year, "GMT"] = fields.as_slice() else {
        panic!("unexpected OpenSSL time {text:?}");
    };
    let month = MONTHS
        .iter()
        .position(|name| name == month)
        .unwrap_or_else(|| panic!("unknown month in OpenSSL time {text:?}"))
        + 1;
    let day: u32 = day
        .parse()
        .unwrap_or_else(|_| panic!("invalid day in OpenSSL time {text:?}"));
    format!("{year}-{month:02}-{day:02}T{time}Z")
}

fn openssl(args: &[&str]) -> Output {
    Command::new(OPENSSL)
        .args(args)
        .output()
        .expect("/usr/bin/openssl runs")
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
