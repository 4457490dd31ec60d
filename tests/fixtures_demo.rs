//! Checks the demo PKI with OpenSSL, both as revcheck-fixtures writes it now and as committed
//! under fixtures/demo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const OPENSSL: &str = "/usr/bin/openssl";

const GENERATOR: &str = env!("CARGO_BIN_EXE_revcheck-fixtures");

const DEMO_FILES: [&str; 13] = [
    "root-ca.pem",
    "root-ca.key",
    "root-ca.crl",
    "issuing-ca.pem",
    "issuing-ca.key",
    "issuing-ca.crl",
    "issuing-ca.crl.pem",
    "good-client.pem",
    "good-client.key",
    "revoked-client.pem",
    "revoked-client.key",
    "chain.pem",
    "README.md",
];

const CERTIFICATE_FILES: [&str; 4] = [
    "root-ca.pem",
    "issuing-ca.pem",
    "good-client.pem",
    "revoked-client.pem",
];

fn committed_demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

/// Runs the generator into a new temporary directory and returns that directory.
fn generate_demo() -> TempDir {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let output = Command::new(GENERATOR)
        .arg(dir.path())
        .output()
        .expect("revcheck-fixtures runs");
    assert!(
        output.status.success(),
        "revcheck-fixtures failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn run_openssl(args: &[&str]) -> Output {
    Command::new(OPENSSL)
        .args(args)
        .output()
        .expect("/usr/bin/openssl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Runs `openssl verify` with CRL checks for the whole chain on `leaf` in `demo_dir`.
///
/// `openssl verify -CRLfile` reads PEM, so the root CA's DER CRL is converted first, into a
/// scratch directory to leave the committed files untouched.
fn verify_with_crls(demo_dir: &Path, leaf: &str) -> Output {
    let scratch = tempfile::tempdir().expect("temporary directory is created");
    let root_crl_pem = scratch.path().join("root-ca.crl.pem");
    let conversion = run_openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path_text(&demo_dir.join("root-ca.crl")),
        "-outform",
        "PEM",
        "-out",
        path_text(&root_crl_pem),
    ]);
    assert!(
        conversion.status.success(),
        "converting root-ca.crl to PEM failed: {}",
        text(&conversion.stderr)
    );

    run_openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        path_text(&demo_dir.join("root-ca.pem")),
        "-untrusted",
        path_text(&demo_dir.join("issuing-ca.pem")),
        "-CRLfile",
        path_text(&root_crl_pem),
        "-CRLfile",
        path_text(&demo_dir.join("issuing-ca.crl.pem")),
        path_text(&demo_dir.join(leaf)),
    ])
}

fn crl_text(demo_dir: &Path, crl: &str) -> String {
    let output = run_openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path_text(&demo_dir.join(crl)),
        "-noout",
        "-text",
    ]);
    assert!(
        output.status.success(),
        "openssl crl -text on {crl} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn certificate_field(demo_dir: &Path, certificate: &str, options: &[&str]) -> String {
    let path = demo_dir.join(certificate);
    let mut args = vec!["x509", "-noout", "-in", path_text(&path)];
    args.extend_from_slice(options);
    let output = run_openssl(&args);
    assert!(
        output.status.success(),
        "openssl x509 {options:?} on {certificate} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn check_good_client_verifies(demo_dir: &Path) {
    let output = verify_with_crls(demo_dir, "good-client.pem");
    let stdout = text(&output.stdout);

    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        text(&output.stderr)
    );
    assert!(stdout.contains("good-client.pem: OK"), "{stdout}");
}

fn check_revoked_client_is_revoked(demo_dir: &Path) {
    let output = verify_with_crls(demo_dir, "revoked-client.pem");
    let combined = format!("{}{}", text(&output.stdout), text(&output.stderr));

    assert!(!output.status.success(), "{combined}");
    assert!(combined.contains("certificate revoked"), "{combined}");
}

fn check_issuing_crl_lists_revoked_client(demo_dir: &Path) {
    let crl = crl_text(demo_dir, "issuing-ca.crl");

    assert!(crl.contains("Serial Number: 8001"), "{crl}");
    assert!(crl.contains("Key Compromise"), "{crl}");
    assert!(
        crl.contains("Revocation Date: Jun  1 00:00:00 2025 GMT"),
        "{crl}"
    );
    assert!(crl.contains("X509v3 CRL Number"), "{crl}");
    assert!(crl.contains("X509v3 Authority Key Identifier"), "{crl}");
    assert!(
        crl.contains("Last Update: Jan  1 00:00:00 2025 GMT"),
        "{crl}"
    );
    assert!(
        crl.contains("Next Update: Dec 31 23:59:59 2199 GMT"),
        "{crl}"
    );
}

fn check_certificates_end_in_2199(demo_dir: &Path) {
    for certificate in CERTIFICATE_FILES {
        let end_date = certificate_field(demo_dir, certificate, &["-enddate"]);
        assert_eq!(
            end_date.trim(),
            "notAfter=Dec 31 23:59:59 2199 GMT",
            "{certificate}"
        );
    }
}

#[test]
fn generator_writes_every_file() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let out_dir = dir.path().join("new/demo");
    let output = Command::new(GENERATOR)
        .arg(&out_dir)
        .output()
        .expect("revcheck-fixtures runs");

    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), DEMO_FILES.len(), "{stdout}");
    for name in DEMO_FILES {
        let path = out_dir.join(name);
        assert!(path.is_file(), "{} is missing", path.display());
        assert!(
            stdout.contains(&format!("wrote {}", path.display())),
            "{stdout}"
        );
    }
}

#[test]
fn generator_fails_on_unusable_directory() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let regular_file = dir.path().join("regular-file");
    std::fs::write(&regular_file, b"").expect("regular file is written");

    let output = Command::new(GENERATOR)
        .arg(regular_file.join("demo"))
        .output()
        .expect("revcheck-fixtures runs");

    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("failed to create directory"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn generated_good_client_verifies() {
    check_good_client_verifies(generate_demo().path());
}

#[test]
fn generated_revoked_client_is_revoked() {
    check_revoked_client_is_revoked(generate_demo().path());
}

#[test]
fn generated_issuing_crl_lists_revoked_client() {
    check_issuing_crl_lists_revoked_client(generate_demo().path());
}

#[test]
fn generated_root_crl_revokes_nothing() {
    let crl = crl_text(generate_demo().path(), "root-ca.crl");

    assert!(crl.contains("No Revoked Certificates."), "{crl}");
    assert!(
        crl.contains("Next Update: Dec 31 23:59:59 2199 GMT"),
        "{crl}"
    );
}

#[test]
fn generated_certificates_end_in_2199() {
    check_certificates_end_in_2199(generate_demo().path());
}

#[test]
fn generated_clients_have_serials_and_names() {
    let dir = generate_demo();
    let cases = [
        ("good-client.pem", "serial=1001", "good"),
        ("revoked-client.pem", "serial=8001", "revoked"),
    ];

    for (certificate, serial, name) in cases {
        let actual_serial = certificate_field(dir.path(), certificate, &["-serial"]);
        assert_eq!(actual_serial.trim(), serial, "{certificate}");

        let names = certificate_field(dir.path(), certificate, &["-ext", "subjectAltName"]);
        let email = format!("email:{name}-client@demo.revcheck.test");
        let uri = format!("URI:spiffe://demo.revcheck.test/client/{name}");
        assert!(names.contains(&email), "{certificate}: {names}");
        assert!(names.contains(&uri), "{certificate}: {names}");

        let key_usage = certificate_field(dir.path(), certificate, &["-ext", "extendedKeyUsage"]);
        assert!(
            key_usage.contains("TLS Web Client Authentication"),
            "{certificate}: {key_usage}"
        );
    }
}

#[test]
fn generated_crl_pem_matches_der() {
    let dir = generate_demo();
    let crl_der = std::fs::read(dir.path().join("issuing-ca.crl")).expect("issuing-ca.crl is read");
    let pem =
        std::fs::read(dir.path().join("issuing-ca.crl.pem")).expect("issuing-ca.crl.pem is read");

    let (label, decoded) = der::pem::decode_vec(&pem).expect("issuing-ca.crl.pem is valid PEM");
    assert_eq!(label, "X509 CRL");
    assert_eq!(decoded, crl_der);
}

#[test]
fn generated_chain_is_issuing_then_root() {
    let dir = generate_demo();
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap_or_else(|error| panic!("{name} cannot be read: {error}"))
    };

    assert_eq!(
        read("chain.pem"),
        read("issuing-ca.pem") + &read("root-ca.pem")
    );
}

#[test]
fn committed_good_client_verifies() {
    check_good_client_verifies(&committed_demo_dir());
}

#[test]
fn committed_revoked_client_is_revoked() {
    check_revoked_client_is_revoked(&committed_demo_dir());
}

#[test]
fn committed_issuing_crl_lists_revoked_client() {
    check_issuing_crl_lists_revoked_client(&committed_demo_dir());
}

#[test]
fn committed_certificates_end_in_2199() {
    check_certificates_end_in_2199(&committed_demo_dir());
}

#[test]
fn committed_files_are_complete() {
    let dir = committed_demo_dir();
    for name in DEMO_FILES {
        assert!(dir.join(name).is_file(), "fixtures/demo/{name} is missing");
    }
}
