//! `revcheck serve` end to end: statuses of the CA certificates above a looked-up certificate,
//! the Unix socket listener, and the refresh metrics.
//!
//! Expected statuses come from `openssl verify -crl_check_all` on the same files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use revcheck::fixtures::{CrlSpec, LeafSpec, RevokedSpec, TestCa, TestLeaf};
use serde_json::Value;

const REVCHECK: &str = env!("CARGO_BIN_EXE_revcheck");

/// A running `revcheck serve`, killed and reaped when dropped.
struct Server {
    child: Child,
    port: u16,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(config: &Path) -> Self {
        let mut server = Self::spawn(config);
        server.port = server.wait_for_port();
        server
    }

    /// Starts `revcheck serve` without waiting for a TCP listener, for `listen = "none"`.
    fn spawn(config: &Path) -> Self {
        let mut child = Command::new(REVCHECK)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("revcheck starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });

        Self {
            child,
            port: 0,
            log,
        }
    }

    fn wait_for_port(&self) -> u16 {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) else {
                continue;
            };
            if let Some(address) = line.split("listening addr=").nth(1) {
                let port = address
                    .trim()
                    .rsplit(':')
                    .next()
                    .expect("address has a port");
                return port.parse().expect("port is a number");
            }
        }
        panic!("revcheck did not log its listening address within 20 s");
    }

    fn get(&self, path: &str) -> (u16, String) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to revcheck");
        exchange(stream, "GET", path, "")
    }

    fn post(&self, path: &str, body: &str) -> (u16, String) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to revcheck");
        exchange(stream, "POST", path, body)
    }

    /// Polls `/readyz` until it answers 200.
    fn wait_until_ready(&self) {
        for _ in 0..200 {
            if self.get("/readyz").0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "revcheck was not ready within 20 s: {:?}",
            self.get("/readyz")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and returns the status and body.
fn exchange(mut stream: impl Read + Write, method: &str, path: &str, body: &str) -> (u16, String) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: revcheck\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
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

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs")
}

fn to_pem_crl(der_path: &Path) -> PathBuf {
    let pem_path = der_path.with_extension("crl.pem");
    let output = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        der_path.to_str().expect("UTF-8 path"),
        "-out",
        pem_path.to_str().expect("UTF-8 path"),
    ]);
    assert!(output.status.success(), "openssl crl failed: {output:?}");
    pem_path
}

/// A root, an issuing CA and a leaf, with the root's CRL revoking the issuing CA when asked.
struct Pki {
    dir: tempfile::TempDir,
    leaf: TestLeaf,
}

impl Pki {
    fn new(issuing_revoked: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = TestCa::root("Path Test Root").expect("root");
        let issuing = root.intermediate("Path Test Issuing").expect("issuing CA");
        let leaf = issuing
            .leaf(&LeafSpec {
                common_name: "path-client".to_owned(),
                serial: vec![0x10, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf");

        let now = SystemTime::now();
        let spec = |revoked: Vec<RevokedSpec>| CrlSpec {
            revoked,
            crl_number: 1,
            this_update: now - Duration::from_secs(60),
            next_update: now + Duration::from_secs(86_400),
        };
        let root_revoked = if issuing_revoked {
            // The intermediate's serial is 2 (see TestCa::intermediate).
            vec![RevokedSpec {
                serial: vec![0x02],
                revocation_time: now - Duration::from_secs(30),
                reason: None,
            }]
        } else {
            Vec::new()
        };
        let files = [
            ("root.pem", root.cert_pem().into_bytes()),
            ("issuing.pem", issuing.cert_pem().into_bytes()),
            ("leaf.pem", leaf.cert_pem.clone().into_bytes()),
            ("root.crl", root.crl(&spec(root_revoked)).expect("root CRL")),
            (
                "issuing.crl",
                issuing.crl(&spec(Vec::new())).expect("issuing CRL"),
            ),
        ];
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).expect("write fixture");
        }
        Self { dir, leaf }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_config(&self, extra: &str) -> PathBuf {
        let config = format!(
            "listen = \"127.0.0.1:0\"\nstate_dir = \"state\"\n{extra}\n\
             [[ca]]\nid = \"root\"\ncertificate = \"root.pem\"\ncrl = [\"file:root.crl\"]\n\
             [[ca]]\nid = \"issuing\"\ncertificate = \"issuing.pem\"\ncrl = [\"file:issuing.crl\"]\n"
        );
        let path = self.path("revcheck.toml");
        std::fs::write(&path, config).expect("write config");
        path
    }

    /// `openssl verify -crl_check_all` over the whole path: true when it prints OK.
    fn openssl_accepts_path(&self) -> bool {
        let root_crl = to_pem_crl(&self.path("root.crl"));
        let issuing_crl = to_pem_crl(&self.path("issuing.crl"));
        let text = |path: PathBuf| path.to_str().expect("UTF-8 path").to_owned();
        let output = openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            &text(self.path("root.pem")),
            "-untrusted",
            &text(self.path("issuing.pem")),
            "-CRLfile",
            &text(root_crl),
            "-CRLfile",
            &text(issuing_crl),
            &text(self.path("leaf.pem")),
        ]);
        String::from_utf8_lossy(&output.stdout).contains(": OK")
    }
}

fn post_leaf(server: &Server, pki: &Pki) -> Value {
    let body = serde_json::json!({ "certificate": pki.leaf.cert_pem }).to_string();
    let (status, response) = server.post("/v1/status", &body);
    assert_eq!(status, 200, "POST /v1/status: {response}");
    json(&response)
}

#[test]
fn intermediates_good_on_clean_path() {
    let pki = Pki::new(false);
    assert!(
        pki.openssl_accepts_path(),
        "openssl must accept the clean path"
    );
    let server = Server::start(&pki.write_config(""));
    server.wait_until_ready();

    let response = post_leaf(&server, &pki);
    assert_eq!(response["status"], "good", "{response}");
    let intermediates = response["intermediates"]
        .as_array()
        .expect("intermediates array");
    assert_eq!(intermediates.len(), 1, "{response}");
    assert_eq!(intermediates[0]["status"], "good", "{response}");
    assert_eq!(intermediates[0]["ca"], "root", "{response}");
    assert_eq!(intermediates[0]["serial"], "02", "{response}");
    assert_eq!(
        intermediates[0]["subject"], "CN=Path Test Issuing,O=revcheck demo,C=US",
        "{response}"
    );
}

#[test]
fn revoked_intermediate_reported() {
    let pki = Pki::new(true);
    assert!(!pki.openssl_accepts_path(), "openssl must reject the path");
    let server = Server::start(&pki.write_config(""));
    server.wait_until_ready();

    let response = post_leaf(&server, &pki);
    assert_eq!(
        response["status"], "good",
        "the leaf itself is not revoked: {response}"
    );
    let intermediates = response["intermediates"]
        .as_array()
        .expect("intermediates array");
    assert_eq!(intermediates[0]["status"], "revoked", "{response}");
    assert_eq!(intermediates[0]["reason"], "unspecified", "{response}");
}

#[test]
fn unix_socket_serves_api() {
    let pki = Pki::new(false);
    let socket = pki.path("revcheck.sock");
    let server = Server::start(&pki.write_config("listen_unix = \"revcheck.sock\""));
    server.wait_until_ready();

    let stream = UnixStream::connect(&socket).expect("connect to the Unix socket");
    let (status, body) = exchange(stream, "GET", "/v1/status/issuing/1001", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["status"], "good", "{body}");

    drop(server);
}

#[test]
fn unix_socket_only_with_listen_none() {
    let pki = Pki::new(false);
    let socket = pki.path("only.sock");
    let config = pki.write_config("listen_unix = \"only.sock\"");
    let text = std::fs::read_to_string(&config).expect("read config");
    let text = text.replace("listen = \"127.0.0.1:0\"", "listen = \"none\"");
    std::fs::write(&config, text).expect("write config");
    let server = Server::spawn(&config);

    let mut connected = None;
    for _ in 0..200 {
        if let Ok(stream) = UnixStream::connect(&socket) {
            connected = Some(stream);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stream = connected.expect("revcheck listens on the Unix socket");
    let (status, body) = exchange(stream, "GET", "/healthz", "");
    assert_eq!(status, 200, "{body}");

    let mut lines = Vec::new();
    while let Ok(line) = server.log.try_recv() {
        lines.push(line);
    }
    assert!(
        lines
            .iter()
            .any(|line| line.contains("listening on Unix socket")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|line| line.contains("listening addr=")),
        "a TCP listener was started: {lines:#?}"
    );
}

#[test]
fn refresh_metrics_exported() {
    let pki = Pki::new(false);
    let server = Server::start(&pki.write_config(""));
    server.wait_until_ready();
    let (status, _) = server.get("/v1/status/issuing/1001");
    assert_eq!(status, 200);

    let names = [
        "revcheck_crl_this_update_timestamp_seconds{ca=\"issuing\"}",
        "revcheck_crl_last_success_timestamp_seconds{ca=\"issuing\"}",
        "revcheck_lookup_duration_seconds_count{endpoint=\"status\"}",
    ];
    // The gauges are set just after the CRL is stored, so they may trail readiness briefly.
    let mut metrics = String::new();
    for _ in 0..100 {
        let (status, text) = server.get("/metrics");
        assert_eq!(status, 200);
        metrics = text;
        if names.iter().all(|name| metrics.contains(name)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for name in names {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

#[test]
fn oversized_headers_rejected() {
    let pki = Pki::new(false);
    let server = Server::start(&pki.write_config(""));
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect to revcheck");
    let filler = "a".repeat(40 * 1024);
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: revcheck\r\nX-Filler: {filler}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");

    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert!(
        response.contains("\"error\":\"headers_too_large\""),
        "{response}"
    );
}

#[test]
fn json_array_body_rejected() {
    let pki = Pki::new(false);
    let server = Server::start(&pki.write_config(""));
    let (status, body) = server.post("/v1/status", "[null, \"issuing\", \"1001\"]");
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error"], "invalid_json", "{body}");
    assert!(body.contains("JSON object"), "{body}");
}
