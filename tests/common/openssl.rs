//! The `openssl` command line tool as the tests' independent oracle for certificate and CRL
//! facts: fingerprints, serial numbers, CRL numbers and revocation verdicts.

use std::path::Path;

use super::{RunOutput, path_text, run};

pub fn openssl(args: &[&str]) -> RunOutput {
    run("openssl", Path::new("/"), args)
}

/// What openssl reports about a certificate, in the form revcheck's headers use.
#[derive(Debug)]
pub struct CertificateFacts {
    /// Lowercase hex SHA-256 of the DER, without colons.
    pub fingerprint: String,
    /// Lowercase hex serial number. Every test serial is below 0x80, so this is also the
    /// content of its DER INTEGER.
    pub serial: String,
}

/// Returns the fingerprint and serial number of the PEM certificate at `path`.
pub fn certificate_facts(path: &Path) -> CertificateFacts {
    let output = openssl(&[
        "x509",
        "-in",
        path_text(path),
        "-noout",
        "-fingerprint",
        "-sha256",
        "-serial",
    ]);
    assert_eq!(output.code, Some(0), "{}", output.describe());
    let value = |prefix: &str| {
        output
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {}", output.describe()))
            .replace(':', "")
            .to_ascii_lowercase()
    };
    CertificateFacts {
        fingerprint: value("sha256 Fingerprint="),
        serial: value("serial="),
    }
}

/// Returns "good" or "revoked" from `openssl verify -crl_check` of the certificate at
/// `certificate` against the CA certificate `ca` and the PEM CRL `crl_pem`.
pub fn crl_verdict(ca: &Path, crl_pem: &Path, certificate: &Path) -> &'static str {
    let output = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        path_text(ca),
        "-CRLfile",
        path_text(crl_pem),
        path_text(certificate),
    ]);
    if output.code == Some(0) {
        "good"
    } else if output.stdout.contains("certificate revoked")
        || output.stderr.contains("certificate revoked")
    {
        "revoked"
    } else {
        panic!("openssl verify failed otherwise: {}", output.describe())
    }
}

/// Returns the cRLNumber of the PEM CRL at `crl_pem` in lowercase hex, without the `0x` that
/// `openssl crl -crlnumber` prints. For a number below 0x80 this is also the content of its
/// DER INTEGER.
pub fn crl_number(crl_pem: &Path) -> String {
    let output = openssl(&["crl", "-in", path_text(crl_pem), "-noout", "-crlnumber"]);
    assert_eq!(output.code, Some(0), "{}", output.describe());
    output
        .stdout
        .trim()
        .strip_prefix("crlNumber=0x")
        .unwrap_or_else(|| panic!("no crlNumber=0x in {}", output.describe()))
        .to_ascii_lowercase()
}

/// Encodes `der` as PEM with `label`, openssl's default input format.
pub fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}
