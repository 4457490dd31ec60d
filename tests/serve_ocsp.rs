//! `revcheck serve` with OCSP: each method order, `on_unknown`, the source named in answers,
//! and the shared cache, against a responder of the test's own on 127.0.0.1.
//!
//! The responder answers every request with one response that holds a SingleResponse for each
//! test certificate, signed by the CA. revcheck must pick the SingleResponse that matches its
//! request (RFC 6960 section 4.2.2.3), which is also how this one response serves them all.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use revcheck::crl::RevocationReason;
use revcheck::fixtures::{
    CrlBuilder, CrlEntry, LeafSpec, OcspResponseBuilder, SingleResponseSpec, TestCa,
};
use revcheck::ocsp::{CertId, HashAlgorithm, OcspStatus};
use revcheck::x509::ParsedCertificate;
use serde_json::Value;

use common::responders::FixedResponder;
use common::revcheck::RevcheckProcess;

const GOOD: u8 = 0x21;
const REVOKED: u8 = 0x22;
const UNKNOWN: u8 = 0x23;
const ABSENT: u8 = 0x24;

/// A running `revcheck serve` with helpers for its HTTP API.
struct Server {
    process: RevcheckProcess,
}

impl Server {
    fn start(config: &Path) -> Self {
        Self {
            process: RevcheckProcess::spawn(config),
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.process.address).expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: revcheck\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn status(&self, ca: &str, serial: u8) -> Value {
        let (status, body) = self.get(&format!("/v1/status/{ca}/{serial:02x}"));
        assert_eq!(status, 200, "{ca}/{serial:02x}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
    }
}

struct Setup {
    dir: tempfile::TempDir,
    responder: FixedResponder,
    /// A URL where nothing listens, for a responder that is down.
    dead_url: String,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = TestCa::root("OCSP Serve CA").expect("CA");
        let parsed_ca = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).expect("write CA");

        let now = SystemTime::now();
        let mut builder = OcspResponseBuilder::new();
        for (serial, status) in [
            (GOOD, OcspStatus::Good),
            (
                REVOKED,
                OcspStatus::Revoked {
                    revocation_time: now - Duration::from_secs(600),
                    reason: Some(RevocationReason::KeyCompromise),
                },
            ),
            (UNKNOWN, OcspStatus::Unknown),
        ] {
            let leaf = ca
                .leaf(&LeafSpec {
                    common_name: format!("leaf-{serial:02x}"),
                    serial: vec![serial],
                    email: None,
                    uri: None,
                })
                .expect("leaf");
            let leaf = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
            let cert_id = CertId::for_certificate(HashAlgorithm::Sha1, &leaf, &parsed_ca);
            builder = builder.response(SingleResponseSpec::new(
                cert_id,
                status,
                now - Duration::from_secs(60),
                Some(now + Duration::from_secs(3600)),
            ));
        }
        let response = builder.build(&ca).expect("OCSP response");

        // A CRL that says every serial is good, and one that revokes only GOOD.
        let clean = CrlBuilder::new()
            .crl_number(1)
            .build(&ca)
            .expect("clean CRL");
        std::fs::write(dir.path().join("clean.crl"), clean).expect("write CRL");
        let revoking = CrlBuilder::new()
            .crl_number(1)
            .entry(CrlEntry::new(&[GOOD], now - Duration::from_secs(60)))
            .build(&ca)
            .expect("revoking CRL");
        std::fs::write(dir.path().join("revoking.crl"), revoking).expect("write CRL");

        let dead = TcpListener::bind("127.0.0.1:0").expect("bind");
        let dead_url = format!("http://{}/", dead.local_addr().expect("address"));
        drop(dead);

        Self {
            dir,
            responder: FixedResponder::start(response, "application/ocsp-response"),
            dead_url,
        }
    }

    fn config(&self) -> PathBuf {
        let live = &self.responder.url;
        let dead = &self.dead_url;
        let text = format!(
            "listen = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\
             [[ca]]\nid = \"ocsp-only\"\ncertificate = \"ca.pem\"\nmethod = \"ocsp\"\n\
             ocsp = [\"{live}\"]\n\
             [[ca]]\nid = \"ocsp-post\"\ncertificate = \"ca.pem\"\nmethod = \"ocsp\"\n\
             ocsp = [\"{live}\"]\nocsp_request_method = \"post\"\n\
             [[ca]]\nid = \"ocsp-first\"\ncertificate = \"ca.pem\"\nmethod = \"ocsp_then_crl\"\n\
             ocsp = [\"{live}\"]\ncrl = [\"file:clean.crl\"]\n\
             [[ca]]\nid = \"crl-first\"\ncertificate = \"ca.pem\"\nmethod = \"crl_then_ocsp\"\n\
             ocsp = [\"{live}\"]\ncrl = [\"file:revoking.crl\"]\n\
             [[ca]]\nid = \"responder-down\"\ncertificate = \"ca.pem\"\nmethod = \"ocsp_then_crl\"\n\
             ocsp = [\"{dead}\"]\ncrl = [\"file:revoking.crl\"]\n\
             [[ca]]\nid = \"fail-open\"\ncertificate = \"ca.pem\"\nmethod = \"ocsp\"\n\
             ocsp = [\"{dead}\"]\non_unknown = \"allow\"\n\
             [[ca]]\nid = \"fail-closed\"\ncertificate = \"ca.pem\"\nmethod = \"ocsp\"\n\
             ocsp = [\"{dead}\"]\n"
        );
        let path = self.dir.path().join("revcheck.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

fn assert_field(answer: &Value, field: &str, expected: &str) {
    assert_eq!(answer[field], expected, "{field} in {answer}");
}

#[test]
fn ocsp_method_answers_each_status() {
    let setup = Setup::new();
    let server = Server::start(&setup.config());

    for ca in ["ocsp-only", "ocsp-post"] {
        let good = server.status(ca, GOOD);
        assert_field(&good, "status", "good");
        assert_field(&good, "source", "ocsp");

        let revoked = server.status(ca, REVOKED);
        assert_field(&revoked, "status", "revoked");
        assert_field(&revoked, "source", "ocsp");
        assert_field(&revoked, "reason", "key_compromise");

        let unknown = server.status(ca, UNKNOWN);
        assert_field(&unknown, "status", "unknown");
        assert_field(&unknown, "reason", "ocsp_unknown");
        assert_field(&unknown, "on_unknown", "deny");

        let absent = server.status(ca, ABSENT);
        assert_field(&absent, "status", "unknown");
        assert_field(&absent, "reason", "ocsp_no_matching_response");
    }
}

#[test]
fn method_order_and_combination() {
    let setup = Setup::new();
    let server = Server::start(&setup.config());

    // OCSP first: its revocation stands although the CRL says good.
    let revoked = server.status("ocsp-first", REVOKED);
    assert_field(&revoked, "status", "revoked");
    assert_field(&revoked, "source", "ocsp");
    // OCSP first, undetermined: the CRL decides.
    let fallback = server.status("ocsp-first", UNKNOWN);
    assert_field(&fallback, "status", "good");
    assert_field(&fallback, "source", "crl");

    // CRL first: its revocation stands, and OCSP is not needed.
    let crl_revoked = server.status("crl-first", GOOD);
    assert_field(&crl_revoked, "status", "revoked");
    assert_field(&crl_revoked, "source", "crl");
    let crl_good = server.status("crl-first", REVOKED);
    assert_field(&crl_good, "status", "good");
    assert_field(&crl_good, "source", "crl");

    // Responder down: the CRL decides, both ways.
    let down_good = server.status("responder-down", REVOKED);
    assert_field(&down_good, "status", "good");
    assert_field(&down_good, "source", "crl");
    let down_revoked = server.status("responder-down", GOOD);
    assert_field(&down_revoked, "status", "revoked");
    assert_field(&down_revoked, "source", "crl");
}

#[test]
fn on_unknown_reported() {
    let setup = Setup::new();
    let server = Server::start(&setup.config());

    let open = server.status("fail-open", GOOD);
    assert_field(&open, "status", "unknown");
    assert_field(&open, "reason", "ocsp_fetch_failed");
    assert_field(&open, "on_unknown", "allow");

    let closed = server.status("fail-closed", GOOD);
    assert_field(&closed, "status", "unknown");
    assert_field(&closed, "on_unknown", "deny");

    let (status, body) = server.get("/v1/cas");
    assert_eq!(status, 200, "{body}");
    let cas: Value = serde_json::from_str(&body).expect("JSON");
    let open_ca = cas["cas"]
        .as_array()
        .expect("cas array")
        .iter()
        .find(|ca| ca["id"] == "fail-open")
        .expect("fail-open listed")
        .clone();
    assert_field(&open_ca, "method", "ocsp");
    assert_field(&open_ca, "on_unknown", "allow");
    assert_eq!(
        open_ca["ocsp_responders"][0],
        setup.dead_url.as_str(),
        "{open_ca}"
    );
}

#[test]
fn repeated_lookups_use_cache() {
    let setup = Setup::new();
    let server = Server::start(&setup.config());

    for _ in 0..20 {
        assert_field(&server.status("ocsp-only", GOOD), "status", "good");
    }
    assert_eq!(
        setup.responder.count(),
        1,
        "20 lookups of one certificate must reach the responder once"
    );

    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    for name in [
        "revcheck_ocsp_requests_total{ca=\"ocsp-only\",outcome=\"good\"} 1",
        "revcheck_cache_hits_total{cache=\"ocsp\"} 19",
        "revcheck_cache_misses_total{cache=\"ocsp\"} 1",
        "revcheck_ocsp_request_duration_seconds_count{ca=\"ocsp-only\"} 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}
