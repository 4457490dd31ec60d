//! Robustness of CRL decoding and verification over the CRLs of the `cryptography-vectors`
//! package: the real-world and deliberately broken CRLs in `x509/custom` and the NIST PKITS CRLs.
//!
//! For every file, decoding and verification must return a result, never panic. A decoded CRL
//! is verified against its issuer's certificate when the package has it. Otherwise it is
//! verified against an unrelated CA, which must fail. It is then re-signed by the demo issuing
//! CA of `fixtures/demo`, whose key is a committed test key, so that the checks after the
//! signature also run on the deliberately broken CRLs.
//!
//! `openssl crl` is the independent oracle for decoding: a file that OpenSSL parses but revcheck
//! cannot decode must be listed in `data/crl-corpus-rejections.tsv` with the RFC 5280 rule
//! revcheck enforces for it. A listed file that starts to decode, or that OpenSSL stops parsing,
//! fails the test, so the table stays exact.
//!
//! The package is found as `tests/pkits.rs` finds it: `PKITS_DIR` names `x509/PKITS_data`,
//! otherwise the package in `.venv` (installed by `scripts/test`) is used.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use const_oid::db::rfc5280::{ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_NUMBER};
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use revcheck::crl::{CrlError, DecodedCrl, VerifyOptions};
use revcheck::x509::encoding::pem_or_der_bodies;
use revcheck::x509::{ParsedCertificate, names_match};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use x509_cert::crl::CertificateList;
use x509_cert::ext::Extension;
use x509_cert::spki::AlgorithmIdentifierOwned;

const OPENSSL: &str = "/usr/bin/openssl";

const REJECTIONS: &str = include_str!("data/crl-corpus-rejections.tsv");

/// PKITS certificates and CRLs expire in 2030, so they are verified at a fixed earlier time.
/// Other CRLs are verified at their own thisUpdate.
const PKITS_VERIFICATION_TIME: &str = "2020-06-01T00:00:00Z";

/// File counts in cryptography-vectors 50.0.2. A different count means that the package or
/// the file search changed.
const EXPECTED_CUSTOM_FILES: usize = 30;
const EXPECTED_PKITS_FILES: usize = 173;

/// Which part of the package a CRL comes from, because each part has its own certificates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Corpus {
    Custom,
    Pkits,
}

struct CorpusFile {
    corpus: Corpus,
    path: PathBuf,
    /// The path relative to `x509/`, as it appears in messages and in the rejection table.
    name: String,
}

/// A certificate that may have issued CRLs of the corpus, with the file it came from.
struct CorpusCertificate {
    file: String,
    certificate: ParsedCertificate,
}

/// The result of verifying one decoded CRL.
enum Verification {
    /// Verified against a certificate of the corpus that may have issued it.
    Verified,
    /// Rejected with every certificate of the corpus that may have issued it. The error is the
    /// one from the most likely issuer.
    Rejected(CrlError),
    /// The corpus has no certificate for the CRL issuer. The unrelated CA rejected the CRL, as
    /// it must, and `re_signed` is the result for the CRL re-signed by the demo issuing CA.
    NoIssuerInCorpus { re_signed: Result<(), String> },
    /// The unrelated CA accepted the CRL, which is a wrong acceptance.
    UnrelatedAccepted,
}

/// The demo issuing CA with its committed test key, which re-signs CRLs whose issuer is not in
/// the corpus.
struct DemoSigner {
    certificate: ParsedCertificate,
    key: EcdsaKeyPair,
    /// ecdsa-with-SHA256, as the demo CA's own CRL names it.
    algorithm: AlgorithmIdentifierOwned,
}

impl DemoSigner {
    fn load() -> Self {
        let certificate =
            ParsedCertificate::from_pem_or_der(include_bytes!("../fixtures/demo/issuing-ca.pem"))
                .expect("fixtures/demo/issuing-ca.pem decodes")
                .remove(0);
        let key_pem = include_bytes!("../fixtures/demo/issuing-ca.key");
        let pkcs8 = pem_or_der_bodies(key_pem, "PRIVATE KEY")
            .expect("fixtures/demo/issuing-ca.key is PEM")
            .remove(0);
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .expect("fixtures/demo/issuing-ca.key is a PKCS#8 P-256 key");
        let demo_crl = CertificateList::from_der(include_bytes!("../fixtures/demo/issuing-ca.crl"))
            .expect("fixtures/demo/issuing-ca.crl decodes");
        Self {
            certificate,
            key,
            algorithm: demo_crl.signature_algorithm,
        }
    }

    /// Returns the CRL `der` with the demo CA as its issuer, signed by the demo CA. The
    /// authority key identifier, which names the original issuer's key, is removed, and a
    /// cRLNumber of 1 is added where it is missing, so that verification goes on to the entries.
    /// Dates, the other extensions and the entries are kept.
    fn re_sign(&self, der: &[u8]) -> Result<Vec<u8>, der::Error> {
        let mut list = CertificateList::from_der(der)?;
        let tbs = &mut list.tbs_cert_list;
        tbs.issuer = self.certificate.subject().clone();
        tbs.signature = self.algorithm.clone();

        let extensions = tbs.crl_extensions.get_or_insert_with(Vec::new);
        extensions.retain(|extension| extension.extn_id != ID_CE_AUTHORITY_KEY_IDENTIFIER);
        if !extensions
            .iter()
            .any(|extension| extension.extn_id == ID_CE_CRL_NUMBER)
        {
            extensions.push(Extension {
                extn_id: ID_CE_CRL_NUMBER,
                critical: false,
                // INTEGER 1
                extn_value: OctetString::new([0x02, 0x01, 0x01])?,
            });
        }

        let signature = self
            .key
            .sign(&SystemRandom::new(), &tbs.to_der()?)
            .expect("ECDSA signing with a valid key succeeds");
        list.signature_algorithm = self.algorithm.clone();
        list.signature = BitString::from_bytes(signature.as_ref())?;
        list.to_der()
    }

    /// Re-signs `der`, then decodes and verifies the result with the demo CA.
    fn verify_re_signed(
        &self,
        der: &[u8],
        origin: &str,
        options: &VerifyOptions,
    ) -> Result<(), String> {
        let re_signed = self
            .re_sign(der)
            .map_err(|error| format!("cannot be re-signed: {error}"))?;
        let crl = DecodedCrl::from_der(&re_signed, origin)
            .map_err(|error| format!("re-signed CRL does not decode: {error}"))?;
        crl.verify(&self.certificate, &self.certificate, options)
            .map(|_| ())
            .map_err(|error| format!("{}: {error}", error.reason_code()))
    }
}

/// Finds the `x509` folder of cryptography-vectors from `PKITS_DIR` or from `.venv`.
fn vectors_x509_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PKITS_DIR") {
        let pkits = PathBuf::from(dir);
        return pkits
            .parent()
            .unwrap_or_else(|| panic!("PKITS_DIR {} has no parent folder", pkits.display()))
            .to_path_buf();
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|entry| entry.path().join("site-packages/cryptography_vectors/x509"))
            .find(|dir| dir.join("PKITS_data").is_dir())
    });
    found.unwrap_or_else(|| {
        panic!(
            "cryptography-vectors not found under {}; run scripts/test (it installs the package \
             into .venv) or set PKITS_DIR to its x509/PKITS_data folder",
            lib.display()
        )
    })
}

/// Lists the files directly in `dir`, sorted by path.
fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry is readable").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Lists the files under `dir`, its subfolders included.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = sorted_files(dir);
    for entry in std::fs::read_dir(dir).expect("folder is readable") {
        let path = entry.expect("directory entry is readable").path();
        if path.is_dir() {
            files.extend(files_below(&path));
        }
    }
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a listed file has a name")
        .to_string_lossy()
        .into_owned()
}

/// Lists the CRL files: in `custom/` every file whose name contains "crl" in any case (this
/// also picks up three certificates named after their CRL extensions), and every file in
/// `PKITS_data/crls/`.
fn corpus_files(x509: &Path) -> Vec<CorpusFile> {
    let custom = sorted_files(&x509.join("custom"))
        .into_iter()
        .filter(|path| file_name(path).to_ascii_lowercase().contains("crl"))
        .map(|path| CorpusFile {
            corpus: Corpus::Custom,
            name: format!("custom/{}", file_name(&path)),
            path,
        });
    let pkits = sorted_files(&x509.join("PKITS_data/crls"))
        .into_iter()
        .map(|path| CorpusFile {
            corpus: Corpus::Pkits,
            name: format!("PKITS_data/crls/{}", file_name(&path)),
            path,
        });
    custom.chain(pkits).collect()
}

/// Reads every certificate in `files` that revcheck can decode. The certificates serve only as
/// CRL issuers, so a file that does not decode is skipped, but a panic is recorded.
fn read_certificates(
    files: &[PathBuf],
    base: &Path,
    panics: &mut Vec<String>,
) -> Vec<CorpusCertificate> {
    let mut certificates = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(base)
            .unwrap_or(path)
            .display()
            .to_string();
        let bytes = std::fs::read(path).expect("certificate file is readable");
        match catch_unwind(|| ParsedCertificate::from_pem_or_der(&bytes)) {
            Ok(Ok(parsed)) => {
                certificates.extend(parsed.into_iter().map(|certificate| CorpusCertificate {
                    file: name.clone(),
                    certificate,
                }))
            }
            Ok(Err(_)) => {}
            Err(_) => panics.push(format!("{name}: certificate decoding panicked")),
        }
    }
    certificates
}

/// Runs `openssl crl -noout` on `path`, choosing DER or PEM by the first byte as revcheck does.
fn openssl_parses(path: &Path, bytes: &[u8]) -> bool {
    let format = if bytes.first() == Some(&0x30) {
        "DER"
    } else {
        "PEM"
    };
    let output = Command::new(OPENSSL)
        .args(["crl", "-inform", format, "-noout", "-in"])
        .arg(path)
        .output()
        .unwrap_or_else(|error| panic!("{OPENSSL} does not run: {error}"));
    output.status.success()
}

/// Returns the certificates that may have issued `crl`. For a PKITS CRL `XCRL.crl` the
/// certificate `XCert.crt` or `XCertificate.crt` comes first, because it is the issuer even
/// where the CRL names another issuer on purpose. Every other certificate whose subject is the
/// CRL issuer follows.
fn issuer_candidates<'a>(
    file: &CorpusFile,
    crl: &DecodedCrl,
    certificates: &'a [CorpusCertificate],
) -> Vec<&'a ParsedCertificate> {
    let mut candidates: Vec<&ParsedCertificate> = Vec::new();
    if file.corpus == Corpus::Pkits
        && let Some(stem) = file_name(&file.path).strip_suffix("CRL.crl")
    {
        let expected = [
            format!("PKITS_data/certs/{stem}Cert.crt"),
            format!("PKITS_data/certs/{stem}Certificate.crt"),
        ];
        candidates.extend(
            certificates
                .iter()
                .filter(|c| expected.contains(&c.file))
                .map(|c| &c.certificate),
        );
    }
    for candidate in certificates {
        let certificate = &candidate.certificate;
        let known = candidates
            .iter()
            .any(|c| c.fingerprint() == certificate.fingerprint());
        if !known && names_match(certificate.subject(), crl.issuer()) {
            candidates.push(certificate);
        }
    }
    candidates
}

/// Verifies `crl` with every pair of issuer and signer among `candidates`, because PKITS has
/// CAs with a separate CRL signing key and several certificates for one name. Without
/// candidates, verifies against `unrelated` and then re-signs the CRL with `demo`.
fn verify(
    crl: &DecodedCrl,
    der: &[u8],
    candidates: &[&ParsedCertificate],
    unrelated: &ParsedCertificate,
    demo: &DemoSigner,
    options: &VerifyOptions,
) -> Verification {
    let Some(first) = candidates.first() else {
        if crl.verify(unrelated, unrelated, options).is_ok() {
            return Verification::UnrelatedAccepted;
        }
        return Verification::NoIssuerInCorpus {
            re_signed: demo.verify_re_signed(der, crl.origin(), options),
        };
    };

    let first_error = match crl.verify(first, first, options) {
        Ok(_) => return Verification::Verified,
        Err(error) => error,
    };
    for issuer in candidates {
        for signer in candidates {
            if crl.verify(issuer, signer, options).is_ok() {
                return Verification::Verified;
            }
        }
    }
    Verification::Rejected(first_error)
}

/// One row of the rejection table: a file that OpenSSL parses and revcheck rejects on purpose.
struct Rejection {
    code: String,
    rule: String,
}

fn rejection_table() -> BTreeMap<String, Rejection> {
    let mut table = BTreeMap::new();
    for line in REJECTIONS.lines() {
        if line.starts_with('#') || line.starts_with("file\t") || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "rejection line needs 3 fields: {line}");
        let previous = table.insert(
            fields[0].to_owned(),
            Rejection {
                code: fields[1].to_owned(),
                rule: fields[2].to_owned(),
            },
        );
        assert!(previous.is_none(), "{} is listed twice", fields[0]);
    }
    table
}

#[derive(Default)]
struct Counts {
    decoded_files: usize,
    decoded_crls: usize,
    rejected_with_rule: usize,
    rejected_by_both: usize,
    decoded_but_openssl_rejects: usize,
    verified: usize,
    verification_rejected: usize,
    re_signed_verified: usize,
    re_signed_rejected: usize,
}

#[test]
fn crl_corpus_decodes_and_verifies_without_panics() {
    let x509 = vectors_x509_dir();
    let files = corpus_files(&x509);
    let custom_count = files.iter().filter(|f| f.corpus == Corpus::Custom).count();
    assert_eq!(
        (custom_count, files.len() - custom_count),
        (EXPECTED_CUSTOM_FILES, EXPECTED_PKITS_FILES),
        "the (custom, PKITS) CRL file counts differ from cryptography-vectors 50.0.2, so .venv \
         has another version or the file search changed"
    );
    for file in &files {
        println!("corpus file: {}", file.name);
    }

    let mut panics = Vec::new();
    let mut custom_certificate_files = files_below(&x509.join("custom"));
    custom_certificate_files.extend(sorted_files(&x509));
    let custom_certificates = read_certificates(&custom_certificate_files, &x509, &mut panics);
    let pkits_certificates = read_certificates(
        &sorted_files(&x509.join("PKITS_data/certs")),
        &x509,
        &mut panics,
    );
    let unrelated =
        ParsedCertificate::from_pem_or_der(include_bytes!("../fixtures/demo/root-ca.pem"))
            .expect("fixtures/demo/root-ca.pem decodes")
            .remove(0);
    let demo = DemoSigner::load();
    let pkits_time = humantime::parse_rfc3339(PKITS_VERIFICATION_TIME).expect("valid time");

    let table = rejection_table();
    let mut failures = Vec::new();
    let mut verified_files = Vec::new();
    let mut counts = Counts::default();

    for file in &files {
        let name = &file.name;
        let bytes = std::fs::read(&file.path).expect("CRL file is readable");
        let openssl_accepts = openssl_parses(&file.path, &bytes);

        let Ok(decoded) = catch_unwind(|| DecodedCrl::from_pem_or_der(&bytes, name)) else {
            panics.push(format!("{name}: decoding panicked"));
            continue;
        };

        match (&decoded, openssl_accepts, table.get(name)) {
            (Ok(_), _, Some(listed)) => failures.push(format!(
                "{name} now decodes; remove it from crl-corpus-rejections.tsv (listed as {}: {})",
                listed.code, listed.rule
            )),
            (Err(error), true, Some(listed)) if error.reason_code() == listed.code => {
                counts.rejected_with_rule += 1;
                println!("{name}: rejected, {}: {error}", listed.rule);
            }
            (Err(error), true, Some(listed)) => failures.push(format!(
                "{name} is listed with code {} but revcheck rejects it with {}: {error}",
                listed.code,
                error.reason_code()
            )),
            (Err(error), true, None) => failures.push(format!(
                "{name}: OpenSSL parses it but revcheck rejects it with {}: {error}; add it to \
                 crl-corpus-rejections.tsv with the RFC 5280 rule, or fix the decoder",
                error.reason_code()
            )),
            (Err(_), false, Some(listed)) => failures.push(format!(
                "{name} is listed ({}) but OpenSSL no longer parses it; remove it from \
                 crl-corpus-rejections.tsv",
                listed.rule
            )),
            (Err(error), false, None) => {
                counts.rejected_by_both += 1;
                println!("{name}: rejected by OpenSSL and revcheck: {error}");
            }
            (Ok(_), false, None) => {
                counts.decoded_but_openssl_rejects += 1;
                println!("{name}: decoded although OpenSSL does not parse it");
            }
            (Ok(_), true, None) => {}
        }

        let Ok(crls) = decoded else { continue };
        counts.decoded_files += 1;
        counts.decoded_crls += crls.len();
        let bodies = pem_or_der_bodies(&bytes, "X509 CRL").expect("a decoded file has bodies");
        let certificates = match file.corpus {
            Corpus::Custom => &custom_certificates,
            Corpus::Pkits => &pkits_certificates,
        };

        for (crl, der) in crls.iter().zip(&bodies) {
            let now = match file.corpus {
                Corpus::Custom => CertificateList::from_der(der)
                    .expect("a decoded CRL decodes again")
                    .tbs_cert_list
                    .this_update
                    .to_system_time(),
                Corpus::Pkits => pkits_time,
            };
            let options = VerifyOptions::at(now, Duration::ZERO);
            let candidates = issuer_candidates(file, crl, certificates);
            let verification = catch_unwind(AssertUnwindSafe(|| {
                verify(crl, der, &candidates, &unrelated, &demo, &options)
            }));

            match verification {
                Err(_) => panics.push(format!("{name}: verification panicked")),
                Ok(Verification::Verified) => {
                    counts.verified += 1;
                    verified_files.push(name.clone());
                    println!("{name}: verified");
                }
                Ok(Verification::Rejected(error)) => {
                    counts.verification_rejected += 1;
                    println!(
                        "{name}: verification failed, {}: {error}",
                        error.reason_code()
                    );
                }
                Ok(Verification::NoIssuerInCorpus { re_signed: Ok(()) }) => {
                    counts.re_signed_verified += 1;
                    println!("{name}: no issuer in the corpus; verified once re-signed");
                }
                Ok(Verification::NoIssuerInCorpus {
                    re_signed: Err(error),
                }) => {
                    counts.re_signed_rejected += 1;
                    println!("{name}: no issuer in the corpus; re-signed, rejected with {error}");
                }
                Ok(Verification::UnrelatedAccepted) => failures.push(format!(
                    "{name}: verification against the unrelated demo root CA succeeded"
                )),
            }
        }
    }

    println!(
        "CRL corpus: {} files; {} decoded ({} CRLs), {} rejected with a listed rule, {} rejected \
         by OpenSSL too, {} decoded although OpenSSL rejects them",
        files.len(),
        counts.decoded_files,
        counts.decoded_crls,
        counts.rejected_with_rule,
        counts.rejected_by_both,
        counts.decoded_but_openssl_rejects
    );
    println!(
        "CRL corpus verification: {} verified, {} rejected by their issuer; without an issuer in \
         the corpus, re-signed by the demo CA: {} verified, {} rejected",
        counts.verified,
        counts.verification_rejected,
        counts.re_signed_verified,
        counts.re_signed_rejected
    );

    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n"));
    assert!(
        failures.is_empty(),
        "CRL corpus mismatches:\n{}",
        failures.join("\n")
    );
    // These CRLs verify against issuers in the package, so a failure here means that the issuer
    // search or verification itself broke.
    for expected in [
        "custom/valid_signature_crl.pem",
        "PKITS_data/crls/TrustAnchorRootCRL.crl",
        "PKITS_data/crls/GoodCACRL.crl",
    ] {
        assert!(
            verified_files.iter().any(|name| name == expected),
            "{expected} did not verify against its issuer"
        );
    }
}
