//! `revcheck check` run as a process on the committed demo PKI and on PKIs built in temporary
//! directories. Where a case has a revocation verdict, `openssl verify -crl_check_all` on the
//! same files gives the expected one first.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use revcheck::fixtures::{CrlBuilder, CrlSpec, LeafSpec, TestCa, not_after, not_before};
use tempfile::TempDir;

use common::{REVCHECK, RunOutput, path_text, run};

const OPENSSL: &str = "/usr/bin/openssl";

const EXIT_GOOD: i32 = 0;
const EXIT_REVOKED: i32 = 1;
const EXIT_UNDETERMINED: i32 = 2;
const EXIT_USAGE: i32 = 64;
const EXIT_DATA: i32 = 65;

/// DER CRL files of the root CA and the issuing CA, in the demo and in every built PKI.
const CRL_FILES: [&str; 2] = ["root-ca.crl", "issuing-ca.crl"];

/// Arguments with both demo CA certificates and both demo CRLs in DER.
const DEMO_ARGS: [&str; 8] = [
    "--ca",
    "root-ca.pem",
    "--ca",
    "issuing-ca.pem",
    "--crl",
    "root-ca.crl",
    "--crl",
    "issuing-ca.crl",
];

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

fn revcheck(working_dir: &Path, args: &[&str]) -> RunOutput {
    run(REVCHECK, working_dir, args)
}

/// Runs `revcheck check` in the demo directory with `DEMO_ARGS` and then `extra`.
fn check_demo(extra: &[&str]) -> RunOutput {
    let mut args = vec!["check"];
    args.extend_from_slice(&DEMO_ARGS);
    args.extend_from_slice(extra);
    revcheck(&demo_dir(), &args)
}

// --- Reference verdicts from openssl -------------------------------------------------------------

/// Converts a DER CRL to PEM, which `openssl verify -CRLfile` reads.
fn crl_der_to_pem(der: &Path, pem: &Path) {
    let output = run(
        OPENSSL,
        Path::new("/"),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            path_text(der),
            "-outform",
            "PEM",
            "-out",
            path_text(pem),
        ],
    );
    assert_eq!(
        output.code,
        Some(0),
        "openssl crl cannot convert {}: {}",
        der.display(),
        output.describe()
    );
}

/// The files of one path check: a trust anchor, an intermediate, the certificate to check and
/// the DER CRLs that are present.
struct PathFiles<'a> {
    dir: PathBuf,
    anchor: &'a str,
    intermediate: &'a str,
    certificate: &'a str,
    der_crls: &'a [&'a str],
}

/// Runs `openssl verify -crl_check_all` on `files`, with the DER CRLs converted to PEM in a
/// scratch directory so that `files.dir` stays untouched.
fn openssl_verify(files: &PathFiles<'_>) -> RunOutput {
    let scratch = tempfile::tempdir().expect("temporary directory is created");
    let anchor = files.dir.join(files.anchor);
    let intermediate = files.dir.join(files.intermediate);
    let certificate = files.dir.join(files.certificate);

    let mut args = vec![
        "verify".to_owned(),
        "-crl_check_all".to_owned(),
        "-CAfile".to_owned(),
        path_text(&anchor).to_owned(),
        "-untrusted".to_owned(),
        path_text(&intermediate).to_owned(),
    ];
    for der_crl in files.der_crls {
        let pem = scratch.path().join(format!("{der_crl}.pem"));
        crl_der_to_pem(&files.dir.join(der_crl), &pem);
        args.push("-CRLfile".to_owned());
        args.push(path_text(&pem).to_owned());
    }
    args.push(path_text(&certificate).to_owned());

    run(OPENSSL, &files.dir, &args)
}

/// Asserts that openssl accepts the path in `files`.
fn assert_openssl_accepts(files: &PathFiles<'_>) {
    let output = openssl_verify(files);
    assert_eq!(
        output.code,
        Some(0),
        "openssl rejects {}: {}",
        files.certificate,
        output.describe()
    );
}

/// Asserts that openssl rejects the path in `files` with `expected_error` in its output.
fn assert_openssl_rejects(files: &PathFiles<'_>, expected_error: &str) {
    let output = openssl_verify(files);
    assert_ne!(
        output.code,
        Some(0),
        "openssl accepts {}: {}",
        files.certificate,
        output.describe()
    );
    let combined = format!("{}{}", output.stdout, output.stderr);
    assert!(
        combined.contains(expected_error),
        "openssl output lacks \"{expected_error}\": {}",
        output.describe()
    );
}

/// Runs `revcheck check` on `files` with both CA certificates and the present CRLs.
fn revcheck_path(files: &PathFiles<'_>) -> RunOutput {
    let mut args = vec!["check", "--ca", files.anchor, "--ca", files.intermediate];
    for der_crl in files.der_crls {
        args.push("--crl");
        args.push(der_crl);
    }
    args.push(files.certificate);
    revcheck(&files.dir, &args)
}

// --- PKIs built for one test ---------------------------------------------------------------------

const BUILT_CLIENT_SERIAL: [u8; 2] = [0x10, 0x01];

/// A root CA, an issuing CA and a client certificate with serial 1001, written as
/// `root-ca.pem`, `issuing-ca.pem` and `client.pem`, with the root CA's CRL as `root-ca.crl`.
/// The issuing CA's CRL is written by each test.
struct BuiltPki {
    dir: TempDir,
    issuing: TestCa,
}

impl BuiltPki {
    fn new() -> BuiltPki {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        let root = TestCa::root("cli test root CA").expect("root CA is issued");
        let issuing = root
            .intermediate("cli test issuing CA")
            .expect("issuing CA is issued");
        let client = issuing
            .leaf(&LeafSpec {
                common_name: "cli test client".to_owned(),
                serial: BUILT_CLIENT_SERIAL.to_vec(),
                email: None,
                uri: None,
            })
            .expect("client certificate is issued");
        let root_crl = root
            .crl(&CrlSpec {
                revoked: Vec::new(),
                crl_number: 1,
                this_update: not_before(),
                next_update: not_after(),
            })
            .expect("root CRL is issued");

        let pki = BuiltPki { dir, issuing };
        pki.write("root-ca.pem", root.cert_pem().as_bytes());
        pki.write("issuing-ca.pem", pki.issuing.cert_pem().as_bytes());
        pki.write("client.pem", client.cert_pem.as_bytes());
        pki.write("root-ca.crl", &root_crl);
        pki
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, contents: &[u8]) {
        let path = self.path().join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }

    /// Returns the path check of `client.pem` with the given DER CRLs.
    fn files<'a>(&'a self, der_crls: &'a [&'a str]) -> PathFiles<'a> {
        PathFiles {
            dir: self.path().to_owned(),
            anchor: "root-ca.pem",
            intermediate: "issuing-ca.pem",
            certificate: "client.pem",
            der_crls,
        }
    }
}

/// Asserts that the first line of `output` is an `unknown:` line with `reason_code` at its end.
fn assert_leaf_unknown(output: &RunOutput, reason_code: &str) {
    let first_line = output.stdout.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with("unknown: "),
        "first line is not unknown: {}",
        output.describe()
    );
    assert!(
        first_line.ends_with(&format!("({reason_code})")),
        "first line lacks reason code {reason_code}: {}",
        output.describe()
    );
}

// --- Verdicts on the demo PKI --------------------------------------------------------------------

fn demo_files<'a>(certificate: &'a str, der_crls: &'a [&'a str]) -> PathFiles<'a> {
    PathFiles {
        dir: demo_dir(),
        anchor: "root-ca.pem",
        intermediate: "issuing-ca.pem",
        certificate,
        der_crls,
    }
}

#[test]
fn demo_good_client_exits_0() {
    let files = demo_files("good-client.pem", &CRL_FILES);
    assert_openssl_accepts(&files);

    let output = revcheck_path(&files);

    assert_eq!(output.code, Some(EXIT_GOOD), "{}", output.describe());
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "expected leaf, intermediate and anchor lines: {}",
        output.describe()
    );
    assert!(
        lines[0].starts_with("good: \"CN=good-client,O=revcheck demo,C=US\" serial 1001 "),
        "leaf line: {}",
        output.describe()
    );
    assert!(
        lines[1]
            .starts_with("good: \"CN=revcheck demo issuing CA,O=revcheck demo,C=US\" serial 02 "),
        "intermediate line: {}",
        output.describe()
    );
    assert!(
        lines[2].starts_with("anchor: \"CN=revcheck demo root CA,O=revcheck demo,C=US\""),
        "anchor line: {}",
        output.describe()
    );
}

#[test]
fn demo_revoked_client_exits_1() {
    let files = demo_files("revoked-client.pem", &CRL_FILES);
    assert_openssl_rejects(&files, "certificate revoked");

    let output = revcheck_path(&files);

    assert_eq!(output.code, Some(EXIT_REVOKED), "{}", output.describe());
    let first_line = output.stdout.lines().next().unwrap_or_default();
    assert!(
        first_line
            .starts_with("revoked: \"CN=revoked-client,O=revcheck demo,C=US\" serial 008001 "),
        "leaf line: {}",
        output.describe()
    );
    assert!(
        first_line.contains("at 2025-06-01T00:00:00Z, reason key_compromise"),
        "leaf line lacks the revocation time and reason: {}",
        output.describe()
    );
}

#[test]
fn demo_missing_issuing_crl_exits_2() {
    let files = demo_files("good-client.pem", &["root-ca.crl"]);
    assert_openssl_rejects(&files, "unable to get certificate CRL");

    let output = revcheck_path(&files);

    assert_eq!(
        output.code,
        Some(EXIT_UNDETERMINED),
        "{}",
        output.describe()
    );
    assert_leaf_unknown(&output, "no_crl");
}

// --- Verdicts on built PKIs ----------------------------------------------------------------------

#[test]
fn built_good_client_exits_0() {
    let pki = BuiltPki::new();
    let crl = pki
        .issuing
        .crl(&CrlSpec {
            revoked: Vec::new(),
            crl_number: 1,
            this_update: not_before(),
            next_update: not_after(),
        })
        .expect("issuing CRL is issued");
    pki.write("issuing-ca.crl", &crl);
    let files = pki.files(&CRL_FILES);
    assert_openssl_accepts(&files);

    let output = revcheck_path(&files);

    assert_eq!(output.code, Some(EXIT_GOOD), "{}", output.describe());
}

#[test]
fn expired_issuing_crl_exits_2() {
    let pki = BuiltPki::new();
    let this_update = not_before();
    let next_update = this_update + Duration::from_secs(30 * 24 * 60 * 60);
    assert!(
        next_update < SystemTime::now(),
        "the CRL must have expired before the test runs"
    );
    let crl = pki
        .issuing
        .crl(&CrlSpec {
            revoked: Vec::new(),
            crl_number: 1,
            this_update,
            next_update,
        })
        .expect("issuing CRL is issued");
    pki.write("issuing-ca.crl", &crl);
    let files = pki.files(&CRL_FILES);
    assert_openssl_rejects(&files, "CRL has expired");

    let output = revcheck_path(&files);

    assert_eq!(
        output.code,
        Some(EXIT_UNDETERMINED),
        "{}",
        output.describe()
    );
    assert_leaf_unknown(&output, "crl_expired");
}

#[test]
fn bad_crl_signature_exits_2() {
    let pki = BuiltPki::new();
    let crl = CrlBuilder::new()
        .authority_key_identifier()
        .crl_number(1)
        .corrupt_signature()
        .build(&pki.issuing)
        .expect("issuing CRL is built");
    pki.write("issuing-ca.crl", &crl);
    let files = pki.files(&CRL_FILES);
    assert_openssl_rejects(&files, "CRL signature failure");

    let output = revcheck_path(&files);

    assert_eq!(
        output.code,
        Some(EXIT_UNDETERMINED),
        "{}",
        output.describe()
    );
    assert_leaf_unknown(&output, "crl_signature_invalid");
}

#[test]
fn at_before_not_before_exits_2() {
    let output = check_demo(&["--at", "2024-06-01T00:00:00Z", "good-client.pem"]);

    assert_eq!(
        output.code,
        Some(EXIT_UNDETERMINED),
        "{}",
        output.describe()
    );
    assert!(
        output
            .stdout
            .contains("is not valid at 2024-06-01T00:00:00Z"),
        "output does not name the time: {}",
        output.describe()
    );
    assert!(
        output
            .stdout
            .contains("validity period is 2025-01-01T00:00:00Z to 2199-12-31T23:59:59Z"),
        "output does not give the validity period: {}",
        output.describe()
    );
    assert!(
        !output.stdout.contains("good:"),
        "a certificate is reported good: {}",
        output.describe()
    );
}

// --- CRL source forms ----------------------------------------------------------------------------

/// Runs the demo check of both clients with `crl_args` as the only CRL sources and asserts
/// exit 0 for the good client and 1 for the revoked one. The revoked verdict can only come from
/// the issuing CA's CRL, so it shows that the CRL was read.
fn assert_demo_verdicts_with_crls(working_dir: &Path, crl_args: &[&str]) {
    let demo = demo_dir();
    let root_pem = demo.join("root-ca.pem");
    let issuing_pem = demo.join("issuing-ca.pem");
    for (certificate, expected) in [
        ("good-client.pem", EXIT_GOOD),
        ("revoked-client.pem", EXIT_REVOKED),
    ] {
        let certificate_path = demo.join(certificate);
        let mut args = vec![
            "check",
            "--ca",
            path_text(&root_pem),
            "--ca",
            path_text(&issuing_pem),
        ];
        args.extend_from_slice(crl_args);
        args.push(path_text(&certificate_path));

        let output = revcheck(working_dir, &args);

        assert_eq!(
            output.code,
            Some(expected),
            "{certificate} with {crl_args:?}: {}",
            output.describe()
        );
    }
}

#[test]
fn pem_crl_file_accepted() {
    assert_demo_verdicts_with_crls(
        &demo_dir(),
        &["--crl", "root-ca.crl", "--crl", "issuing-ca.crl.pem"],
    );
}

#[test]
fn file_urls_accepted() {
    let issuing_crl = demo_dir().join("issuing-ca.crl");
    let absolute_url = format!("file://{}", path_text(&issuing_crl));

    // `file:root-ca.crl` resolves against the working directory, which is the demo directory.
    assert_demo_verdicts_with_crls(
        &demo_dir(),
        &["--crl", "file:root-ca.crl", "--crl", &absolute_url],
    );
}

/// An HTTP server on 127.0.0.1 that serves fixed bodies by request path and responds with 404
/// to every other path. It handles one connection at a time and stops when dropped.
struct CrlServer {
    address: SocketAddr,
    request_lines: Arc<Mutex<Vec<String>>>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CrlServer {
    fn start(bodies: BTreeMap<String, Vec<u8>>) -> CrlServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let request_lines = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));

        let thread = {
            let request_lines = Arc::clone(&request_lines);
            let stopping = Arc::clone(&stopping);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let request_line = read_request_line(&mut stream);
                    let path = request_line
                        .split(' ')
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    request_lines
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(request_line);

                    let (status_line, body) = match bodies.get(&path) {
                        Some(body) => ("200 OK", body.as_slice()),
                        None => ("404 Not Found", b"not found\n".as_slice()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status_line}\r\nContent-Length: {}\r\n\
                         Content-Type: application/pkix-crl\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    // A failed write shows up in the test as a failed fetch.
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(body);
                }
            })
        };

        CrlServer {
            address,
            request_lines,
            stopping,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Returns the request line of every request received so far.
    fn request_lines(&self) -> Vec<String> {
        self.request_lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // A connection wakes the accept loop, which then reads `stopping` and returns.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads a request head up to its blank line and returns the request line.
fn read_request_line(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.lines().next().unwrap_or_default().to_owned()
}

fn demo_crl_bodies() -> BTreeMap<String, Vec<u8>> {
    let mut bodies = BTreeMap::new();
    for name in CRL_FILES {
        let path = demo_dir().join(name);
        let body = std::fs::read(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        bodies.insert(format!("/{name}"), body);
    }
    bodies
}

#[test]
fn http_crl_urls_fetched() {
    let server = CrlServer::start(demo_crl_bodies());
    let root_url = server.url("/root-ca.crl");
    let issuing_url = server.url("/issuing-ca.crl");

    assert_demo_verdicts_with_crls(&demo_dir(), &["--crl", &root_url, "--crl", &issuing_url]);

    let request_lines = server.request_lines();
    let expected_request = "GET /issuing-ca.crl HTTP/1.1".to_owned();
    assert!(
        request_lines.contains(&expected_request),
        "no request for the issuing CRL: {request_lines:?}"
    );
}

#[test]
fn http_404_warns_and_exits_2() {
    let server = CrlServer::start(BTreeMap::new());
    let missing_url = server.url("/issuing-ca.crl");

    let output = check_demo_with_crls(
        &["--crl", "root-ca.crl", "--crl", &missing_url],
        "good-client.pem",
    );

    assert_eq!(
        output.code,
        Some(EXIT_UNDETERMINED),
        "{}",
        output.describe()
    );
    assert!(
        output.stderr.contains("revcheck: warning: "),
        "no warning on stderr: {}",
        output.describe()
    );
    assert!(
        output.stderr.contains(&missing_url),
        "warning does not name {missing_url}: {}",
        output.describe()
    );
    assert!(
        output.stderr.contains("404"),
        "warning does not give the HTTP status: {}",
        output.describe()
    );
    assert!(
        !output.stderr.contains("panicked"),
        "revcheck panicked: {}",
        output.describe()
    );
    assert_leaf_unknown(&output, "no_crl");
}

/// Runs `revcheck check` in the demo directory with both CA certificates and only `crl_args`
/// as CRL sources.
fn check_demo_with_crls(crl_args: &[&str], certificate: &str) -> RunOutput {
    let mut args = vec!["check", "--ca", "root-ca.pem", "--ca", "issuing-ca.pem"];
    args.extend_from_slice(crl_args);
    args.push(certificate);
    revcheck(&demo_dir(), &args)
}

// --- JSON output ---------------------------------------------------------------------------------

/// Status, serial and reason of one certificate line of the text output.
#[derive(Debug, PartialEq, Eq)]
struct TextLine {
    status: String,
    serial: String,
    reason: Option<String>,
}

/// Parses a `good:`, `revoked:` or `unknown:` line. The reason is the word after `reason ` on
/// a revoked line and the code in the last brackets on an unknown line.
fn parse_text_line(line: &str) -> TextLine {
    let (status, rest) = line
        .split_once(": ")
        .unwrap_or_else(|| panic!("no status in line {line:?}"));
    let serial_start = rest
        .find(" serial ")
        .unwrap_or_else(|| panic!("no serial in line {line:?}"))
        + " serial ".len();
    let serial: String = rest[serial_start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();

    let reason = match status {
        "revoked" => rest
            .split_once(", reason ")
            .and_then(|(_, after)| after.split(' ').next())
            .map(str::to_owned),
        "unknown" => rest
            .rsplit_once('(')
            .map(|(_, code)| code.trim_end_matches(')').to_owned()),
        _ => None,
    };
    TextLine {
        status: status.to_owned(),
        serial,
        reason,
    }
}

/// Runs one check as text and as `--json` and asserts that both give the same statuses,
/// serials, reasons and trust anchor, and the same exit status.
fn assert_json_matches_text(crl_args: &[&str], certificate: &str, expected_exit: i32) {
    let text_output = check_demo_with_crls(crl_args, certificate);
    let mut json_crl_args = crl_args.to_vec();
    json_crl_args.push("--json");
    let json_output = check_demo_with_crls(&json_crl_args, certificate);

    assert_eq!(
        text_output.code,
        Some(expected_exit),
        "text: {}",
        text_output.describe()
    );
    assert_eq!(
        json_output.code,
        Some(expected_exit),
        "JSON: {}",
        json_output.describe()
    );
    let json: serde_json::Value = serde_json::from_str(&json_output.stdout)
        .unwrap_or_else(|error| panic!("output is not JSON ({error}): {}", json_output.describe()));

    let text_lines: Vec<TextLine> = text_output
        .stdout
        .lines()
        .filter(|line| !line.starts_with("anchor: "))
        .map(parse_text_line)
        .collect();
    let json_lines: Vec<TextLine> = json["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("no certificates array: {}", json_output.stdout))
        .iter()
        .map(|certificate| TextLine {
            status: certificate["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            serial: certificate["serial"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            reason: certificate["reason"].as_str().map(str::to_owned),
        })
        .collect();
    assert_eq!(
        json_lines, text_lines,
        "JSON certificates differ from text lines\ntext: {}\nJSON: {}",
        text_output.stdout, json_output.stdout
    );

    let overall = match expected_exit {
        EXIT_GOOD => "good",
        EXIT_REVOKED => "revoked",
        _ => "unknown",
    };
    assert_eq!(json["status"], overall, "JSON: {}", json_output.stdout);
    assert_eq!(
        json["error"],
        serde_json::Value::Null,
        "JSON: {}",
        json_output.stdout
    );
    let anchor_line = format!(
        "anchor: \"{}\" (trust anchor, not checked for revocation)",
        json["trust_anchor"].as_str().unwrap_or_default()
    );
    assert!(
        text_output.stdout.lines().any(|line| line == anchor_line),
        "text output lacks {anchor_line:?}: {}",
        text_output.stdout
    );
}

#[test]
fn json_matches_text_for_good() {
    assert_json_matches_text(
        &["--crl", "root-ca.crl", "--crl", "issuing-ca.crl"],
        "good-client.pem",
        EXIT_GOOD,
    );
}

#[test]
fn json_matches_text_for_revoked() {
    assert_json_matches_text(
        &["--crl", "root-ca.crl", "--crl", "issuing-ca.crl"],
        "revoked-client.pem",
        EXIT_REVOKED,
    );
}

#[test]
fn json_matches_text_for_unknown() {
    assert_json_matches_text(
        &["--crl", "root-ca.crl"],
        "good-client.pem",
        EXIT_UNDETERMINED,
    );
}

#[test]
fn json_revoked_fields() {
    let output = check_demo(&["--json", "revoked-client.pem"]);

    assert_eq!(output.code, Some(EXIT_REVOKED), "{}", output.describe());
    let json: serde_json::Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("output is not JSON ({error}): {}", output.describe()));
    let leaf = &json["certificates"][0];
    assert_eq!(leaf["serial"], "008001", "{}", output.stdout);
    assert_eq!(leaf["status"], "revoked", "{}", output.stdout);
    assert_eq!(leaf["reason"], "key_compromise", "{}", output.stdout);
    assert_eq!(
        leaf["revocation_time"], "2025-06-01T00:00:00Z",
        "{}",
        output.stdout
    );
    assert_eq!(
        leaf["subject"], "CN=revoked-client,O=revcheck demo,C=US",
        "{}",
        output.stdout
    );
    let fingerprint = leaf["fingerprint"].as_str().unwrap_or_default();
    assert!(
        fingerprint.len() == 64
            && fingerprint
                .chars()
                .all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "fingerprint is not 64 lowercase hex digits: {}",
        output.stdout
    );
    assert_eq!(
        json["certificates"][1]["status"], "good",
        "{}",
        output.stdout
    );
    assert_eq!(json["certificates"][1]["serial"], "02", "{}", output.stdout);
    assert_eq!(
        json["trust_anchor"], "CN=revcheck demo root CA,O=revcheck demo,C=US",
        "{}",
        output.stdout
    );
}

// --- Usage errors and unreadable input -----------------------------------------------------------

/// Asserts that `output` has exit status `expected`, no verdict on stdout and `named` on stderr.
fn assert_rejected(output: &RunOutput, expected: i32, named: &str) {
    assert_eq!(output.code, Some(expected), "{}", output.describe());
    assert!(
        output.stdout.is_empty(),
        "a rejected command printed a verdict: {}",
        output.describe()
    );
    assert!(
        output.stderr.contains(named),
        "stderr does not name {named:?}: {}",
        output.describe()
    );
    assert!(
        !output.stderr.contains("panicked"),
        "revcheck panicked: {}",
        output.describe()
    );
}

#[test]
fn unknown_flag_exits_64() {
    let output = check_demo(&["--no-such-flag", "good-client.pem"]);

    assert_rejected(&output, EXIT_USAGE, "--no-such-flag");
}

#[test]
fn missing_certificate_argument_exits_64() {
    let output = check_demo(&[]);

    assert_rejected(&output, EXIT_USAGE, "<CERT>");
}

#[test]
fn invalid_at_exits_64() {
    for value in ["yesterday", "2025-13-01T00:00:00Z", "2025-06-01"] {
        let output = check_demo(&["--at", value, "good-client.pem"]);

        assert_rejected(
            &output,
            EXIT_USAGE,
            &format!("invalid --at value \"{value}\""),
        );
    }
}

#[test]
fn invalid_ocsp_url_exits_64() {
    let output = check_demo(&["--ocsp", "ldap://127.0.0.1/ocsp", "good-client.pem"]);

    assert_rejected(&output, EXIT_USAGE, "ldap://127.0.0.1/ocsp");
}

#[test]
fn unsupported_crl_url_exits_64() {
    let output = check_demo(&["--crl", "ftp://127.0.0.1/ca.crl", "good-client.pem"]);

    assert_rejected(&output, EXIT_USAGE, "ftp://127.0.0.1/ca.crl");
}

#[test]
fn invalid_config_exits_64() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let config = dir.path().join("revcheck.toml");
    let demo = demo_dir();
    let text = format!(
        "colour = \"blue\"\n\n[[ca]]\nid = \"demo-issuing\"\ncertificate = \"{}\"\ncrl = [\"file:{}\"]\n",
        path_text(&demo.join("issuing-ca.pem")),
        path_text(&demo.join("issuing-ca.crl"))
    );
    std::fs::write(&config, text).expect("configuration is written");

    let output = check_demo(&["--config", path_text(&config), "good-client.pem"]);

    assert_rejected(&output, EXIT_USAGE, "colour: unknown key");
    assert!(
        output.stderr.contains(path_text(&config)),
        "stderr does not name the configuration file: {}",
        output.describe()
    );
}

#[test]
fn missing_config_exits_64() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let config = dir.path().join("missing.toml");

    let output = check_demo(&["--config", path_text(&config), "good-client.pem"]);

    assert_rejected(&output, EXIT_USAGE, path_text(&config));
}

#[test]
fn demo_config_good_client_exits_0() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/revcheck.toml");

    let output = revcheck(
        &demo_dir(),
        &["check", "--config", path_text(&config), "good-client.pem"],
    );

    assert_eq!(output.code, Some(EXIT_GOOD), "{}", output.describe());
}

#[test]
fn missing_certificate_file_exits_65() {
    let output = check_demo(&["no-such-client.pem"]);

    assert_rejected(&output, EXIT_DATA, "no-such-client.pem");
}

#[test]
fn certificate_file_not_certificate_exits_65() {
    let output = check_demo(&["README.md"]);

    assert_rejected(&output, EXIT_DATA, "README.md is not a certificate");
}

#[test]
fn ca_file_not_certificate_exits_65() {
    let output = check_demo(&["--ca", "root-ca.key", "good-client.pem"]);

    assert_rejected(&output, EXIT_DATA, "root-ca.key is not a certificate");
}

#[test]
fn crl_file_not_crl_exits_65() {
    let output = check_demo(&["--crl", "root-ca.pem", "good-client.pem"]);

    assert_rejected(&output, EXIT_DATA, "root-ca.pem is not PEM or DER");
}

#[test]
fn missing_crl_file_exits_65() {
    let output = check_demo(&["--crl", "no-such.crl", "good-client.pem"]);

    assert_rejected(&output, EXIT_DATA, "no-such.crl");
}

#[test]
fn two_end_entity_certificates_exit_65() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let both = dir.path().join("two.pem");
    let demo = demo_dir();
    let text = format!(
        "{}{}",
        std::fs::read_to_string(demo.join("good-client.pem")).expect("good client"),
        std::fs::read_to_string(demo.join("revoked-client.pem")).expect("revoked client")
    );
    std::fs::write(&both, text).expect("write two certificates");

    let output = check_demo(&[path_text(&both)]);

    assert_rejected(&output, EXIT_DATA, "more than one end-entity certificate");
}

#[test]
fn full_stdout_does_not_panic() {
    let mut args = vec!["check"];
    args.extend_from_slice(&DEMO_ARGS);
    args.push("revoked-client.pem");
    let dev_full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full opens");
    let output = std::process::Command::new(REVCHECK)
        .args(&args)
        .current_dir(demo_dir())
        .stdout(dev_full)
        .output()
        .expect("revcheck runs");

    assert_eq!(
        output.status.code(),
        Some(1),
        "the verdict still decides the exit status"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write the report"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
