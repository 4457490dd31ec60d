//! Generator of the demo PKI: a root CA, an issuing CA, a good and a revoked client
//! certificate, their keys and the CRLs of both CAs.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use clap::Parser;
use der::pem::LineEnding;
use rcgen::RevocationReason;
use revcheck::fixtures::{self, CrlSpec, FixtureError, LeafSpec, RevokedSpec, TestCa};

/// 2025-06-01T00:00:00Z in seconds since the Unix epoch, when the revoked client was revoked.
const REVOCATION_UNIX_SECONDS: u64 = 1_748_736_000;

const GOOD_CLIENT_SERIAL: [u8; 2] = [0x10, 0x01];

/// 0x8001 has its high bit set, so the certificate encodes it as `00 80 01`.
const REVOKED_CLIENT_SERIAL: [u8; 2] = [0x80, 0x01];

const README: &str = "\
# Demo PKI

Certificates, keys and CRLs for the revcheck demo and tests, written by the
`revcheck-fixtures` binary. Regenerate them instead of editing them by hand.

The private keys are test keys and are public. Use them only for the demo and in
tests, never to protect anything.

| File | Contents |
|---|---|
| `root-ca.pem` | Root CA certificate: self-signed, ECDSA P-384 with SHA-384, serial 1 |
| `root-ca.key` | Root CA private key, PKCS#8 PEM |
| `root-ca.crl` | Root CA CRL in DER: CRL number 1, revokes nothing |
| `issuing-ca.pem` | Issuing CA certificate: signed by the root CA, ECDSA P-256 with SHA-256, serial 2, pathLenConstraint 0 |
| `issuing-ca.key` | Issuing CA private key, PKCS#8 PEM |
| `issuing-ca.crl` | Issuing CA CRL in DER: CRL number 1, revokes serial 0x8001 (`revoked-client.pem`) with reason keyCompromise at 2025-06-01T00:00:00Z |
| `issuing-ca.crl.pem` | The same CRL as `issuing-ca.crl`, in PEM |
| `good-client.pem` | Client certificate CN=good-client, serial 0x1001, not revoked |
| `good-client.key` | Private key of `good-client.pem`, PKCS#8 PEM |
| `revoked-client.pem` | Client certificate CN=revoked-client, serial 0x8001, revoked |
| `revoked-client.key` | Private key of `revoked-client.pem`, PKCS#8 PEM |
| `chain.pem` | `issuing-ca.pem` followed by `root-ca.pem` |

The serial INTEGER of `revoked-client.pem` has the content octets `00 80 01`,
because 0x8001 has its high bit set. A revocation lookup must therefore match
serials regardless of that leading zero byte.

Both client certificates have extendedKeyUsage clientAuth and two subject
alternative names: the email address `<name>@demo.revcheck.test` and the URI
`spiffe://demo.revcheck.test/client/good` or
`spiffe://demo.revcheck.test/client/revoked`.

Every certificate is valid from 2025-01-01T00:00:00Z to 2199-12-31T23:59:59Z.
Both CRLs have thisUpdate 2025-01-01T00:00:00Z and nextUpdate
2199-12-31T23:59:59Z.

## Check with OpenSSL

    openssl crl -inform DER -in root-ca.crl -outform PEM -out /tmp/root-ca.crl.pem
    openssl verify -crl_check_all -CAfile root-ca.pem -untrusted issuing-ca.pem \\
        -CRLfile /tmp/root-ca.crl.pem -CRLfile issuing-ca.crl.pem good-client.pem

The same command for `revoked-client.pem` fails with `certificate revoked`.

## Regenerate

From the repository root:

    cargo run --bin revcheck-fixtures -- fixtures/demo

Each run creates new keys and signatures, so every file except this one changes.
";

/// Writes the revcheck demo PKI: CA and client certificates, their keys and the CAs' CRLs.
#[derive(Debug, Parser)]
#[command(name = "revcheck-fixtures")]
struct Args {
    /// Output directory, created if missing. Files in it with the same names are replaced.
    #[arg(default_value = "fixtures/demo")]
    out_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();

    match write_demo_pki(&args.out_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("revcheck-fixtures: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

fn write_demo_pki(out_dir: &Path) -> Result<(), FixtureError> {
    let root = TestCa::root("revcheck demo root CA")?;
    let issuing = root.intermediate("revcheck demo issuing CA")?;
    let good_client = issuing.leaf(&client_spec("good", &GOOD_CLIENT_SERIAL))?;
    let revoked_client = issuing.leaf(&client_spec("revoked", &REVOKED_CLIENT_SERIAL))?;

    let root_crl = root.crl(&crl_spec(Vec::new()))?;
    let issuing_crl = issuing.crl(&crl_spec(vec![RevokedSpec {
        serial: REVOKED_CLIENT_SERIAL.to_vec(),
        revocation_time: UNIX_EPOCH + Duration::from_secs(REVOCATION_UNIX_SECONDS),
        reason: Some(RevocationReason::KeyCompromise),
    }]))?;
    let issuing_crl_pem = der::pem::encode_string("X509 CRL", LineEnding::LF, &issuing_crl)
        .map_err(|error| FixtureError::Der {
            action: "encode the issuing CA CRL as PEM".to_owned(),
            source: error.into(),
        })?;
    let chain_pem = format!("{}{}", issuing.cert_pem(), root.cert_pem());

    let files: [(&str, Vec<u8>); 13] = [
        ("root-ca.pem", root.cert_pem().into_bytes()),
        ("root-ca.key", root.key_pem().into_bytes()),
        ("root-ca.crl", root_crl),
        ("issuing-ca.pem", issuing.cert_pem().into_bytes()),
        ("issuing-ca.key", issuing.key_pem().into_bytes()),
        ("issuing-ca.crl", issuing_crl),
        ("issuing-ca.crl.pem", issuing_crl_pem.into_bytes()),
        ("good-client.pem", good_client.cert_pem.into_bytes()),
        ("good-client.key", good_client.key_pem.into_bytes()),
        ("revoked-client.pem", revoked_client.cert_pem.into_bytes()),
        ("revoked-client.key", revoked_client.key_pem.into_bytes()),
        ("chain.pem", chain_pem.into_bytes()),
        ("README.md", README.as_bytes().to_vec()),
    ];

    fs::create_dir_all(out_dir).map_err(|source| FixtureError::Io {
        action: "create directory",
        path: out_dir.to_owned(),
        source,
    })?;
    for (name, contents) in files {
        let path = out_dir.join(name);
        fs::write(&path, contents).map_err(|source| FixtureError::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Returns the spec of the client certificate `<name>-client`.
fn client_spec(name: &str, serial: &[u8]) -> LeafSpec {
    LeafSpec {
        common_name: format!("{name}-client"),
        serial: serial.to_vec(),
        email: Some(format!("{name}-client@demo.revcheck.test")),
        uri: Some(format!("spiffe://demo.revcheck.test/client/{name}")),
    }
}

/// Returns a CRL spec with CRL number 1, valid from the fixtures' notBefore to their notAfter.
fn crl_spec(revoked: Vec<RevokedSpec>) -> CrlSpec {
    CrlSpec {
        revoked,
        crl_number: 1,
        this_update: fixtures::not_before(),
        next_update: fixtures::not_after(),
    }
}

/// Formats an error and its sources as one line, outermost first.
fn error_chain(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn revocation_time_is_june_2025() {
        let time: SystemTime = UNIX_EPOCH + Duration::from_secs(REVOCATION_UNIX_SECONDS);
        assert_eq!(
            humantime::format_rfc3339(time).to_string(),
            "2025-06-01T00:00:00Z"
        );
    }
}
