//! `revcheck serve` with configuration files that it must reject before it listens. Each run
//! exits with status 64 and names every problem on stderr.

mod common;

use std::path::{Path, PathBuf};

use common::{REVCHECK, RunOutput, path_text, run};

const EXIT_USAGE: i32 = 64;

fn demo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo")
        .join(name)
}

/// Returns a `[[ca]]` table with the demo issuing CA's CRL and `certificate` as its certificate
/// file.
fn ca_table(id: &str, certificate: &Path) -> String {
    format!(
        "[[ca]]\nid = \"{id}\"\ncertificate = \"{}\"\ncrl = [\"file:{}\"]\n",
        path_text(certificate),
        path_text(&demo_file("issuing-ca.crl"))
    )
}

/// Writes `text` as `revcheck.toml` in `dir` and returns its path.
fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("revcheck.toml");
    std::fs::write(&path, text).expect("configuration is written");
    path
}

/// Writes a text file that is not a certificate into `dir` and returns its path.
fn write_not_certificate(dir: &Path) -> PathBuf {
    let path = dir.join("not-a-certificate.pem");
    std::fs::write(&path, "this is not a certificate\n").expect("certificate file is written");
    path
}

fn serve(working_dir: &Path, config: &Path) -> RunOutput {
    run(
        REVCHECK,
        working_dir,
        &["serve", "--config", path_text(config)],
    )
}

fn assert_exit_usage(output: &RunOutput) {
    assert_eq!(output.code, Some(EXIT_USAGE), "{}", output.describe());
    assert!(
        !output.stderr.contains("panicked"),
        "revcheck panicked: {}",
        output.describe()
    );
}

fn assert_stderr_contains(output: &RunOutput, expected: &str) {
    assert!(
        output.stderr.contains(expected),
        "stderr lacks {expected:?}: {}",
        output.describe()
    );
}

#[test]
fn three_mistakes_all_listed() {
    let text = format!(
        "listen = \"localhost:8480\"\n\n[fetch]\ntimeout = \"ten seconds\"\n\n{}colour = \"blue\"\n",
        ca_table("demo-issuing", &demo_file("issuing-ca.pem"))
    );
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let config = write_config(dir.path(), &text);

    let output = serve(dir.path(), &config);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, path_text(&config));
    assert_stderr_contains(&output, "(3 problems)");
    assert_stderr_contains(
        &output,
        "listen = \"localhost:8480\": invalid listen address",
    );
    assert_stderr_contains(&output, "fetch.timeout = \"ten seconds\": invalid duration");
    assert_stderr_contains(&output, "ca[0].colour: unknown key");
}

#[test]
fn certificate_not_certificate_names_ca() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let not_certificate = write_not_certificate(dir.path());
    let text = format!(
        "listen = \"127.0.0.1:0\"\n\n{}",
        ca_table("broken-ca", &not_certificate)
    );
    let config = write_config(dir.path(), &text);

    let output = serve(dir.path(), &config);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, "(1 problem):");
    assert_stderr_contains(&output, "ca \"broken-ca\"");
    assert_stderr_contains(&output, path_text(&not_certificate));
}

#[test]
fn every_unusable_ca_listed() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let not_certificate = write_not_certificate(dir.path());
    let text = format!(
        "listen = \"127.0.0.1:0\"\n\n{}\n{}",
        ca_table("broken-ca", &not_certificate),
        ca_table("client-not-ca", &demo_file("good-client.pem"))
    );
    let config = write_config(dir.path(), &text);

    let output = serve(dir.path(), &config);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, "(2 problems):");
    assert_stderr_contains(&output, "ca \"broken-ca\"");
    assert_stderr_contains(&output, "ca \"client-not-ca\"");
    assert_stderr_contains(&output, "is not a CA certificate");
}

#[test]
fn missing_config_file_exits_64() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let config = dir.path().join("missing.toml");

    let output = serve(dir.path(), &config);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, "cannot read configuration file");
    assert_stderr_contains(&output, path_text(&config));
}

/// Without `--config`, serve reads `config/revcheck.toml` under the working directory.
#[test]
fn missing_default_config_exits_64() {
    let dir = tempfile::tempdir().expect("temporary directory is created");

    let output = run(REVCHECK, dir.path(), &["serve"]);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, "config/revcheck.toml");
}

#[test]
fn duplicate_identity_key_exits_64() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let identities = dir.path().join("identities.tsv");
    let fingerprint = "ab".repeat(32);
    std::fs::write(
        &identities,
        format!("# clients\n{fingerprint}\talice\n{fingerprint}\tbob\n"),
    )
    .expect("identities written");
    let text = format!(
        "[auth]\nidentity = \"fingerprint\"\nidentities = \"{}\"\n\n{}",
        path_text(&identities),
        ca_table("demo-issuing", &demo_file("issuing-ca.pem"))
    );
    let config = write_config(dir.path(), &text);

    let output = serve(dir.path(), &config);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, path_text(&identities));
    assert_stderr_contains(&output, "line 3");
    assert_stderr_contains(&output, "already listed on line 2");
}

#[test]
fn colon_fingerprint_key_exits_64() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let identities = dir.path().join("identities.tsv");
    // The form `openssl x509 -fingerprint -sha256` prints.
    let openssl_form = vec!["AB"; 32].join(":");
    std::fs::write(&identities, format!("{openssl_form}\talice\n")).expect("identities written");
    let text = format!(
        "[auth]\nidentity = \"fingerprint\"\nidentities = \"{}\"\n\n{}",
        path_text(&identities),
        ca_table("demo-issuing", &demo_file("issuing-ca.pem"))
    );
    let config = write_config(dir.path(), &text);

    let output = serve(dir.path(), &config);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, "line 1");
    assert_stderr_contains(&output, &"ab".repeat(32));
}

#[test]
fn auth_header_with_underscore_exits_64() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let text = format!(
        "[auth]\nidentity = \"san\"\nsan_type = \"email\"\nverify_header = \"X-SSL_Client-Verify\"\n\n{}",
        ca_table("demo-issuing", &demo_file("issuing-ca.pem"))
    );
    let config = write_config(dir.path(), &text);

    let output = serve(dir.path(), &config);

    assert_exit_usage(&output);
    assert_stderr_contains(&output, "auth.verify_header");
    assert_stderr_contains(&output, "\"X-SSL-Client-Verify\"");
}
