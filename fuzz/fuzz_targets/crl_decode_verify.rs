//! Fuzz target for CRL decoding and verification: any input must produce a result, never a
//! panic.
//!
//! Each CRL the input decodes to is verified twice against the demo issuing CA. The first
//! verification takes the CRL as received and stops at the signature check for almost every
//! mutated input. The second one re-signs its tbsCertList with the demo CA's committed test key
//! first, so that the checks after the signature (dates, CRL number, entry extensions, the
//! serial number index) also see arbitrary content.

#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use der::asn1::BitString;
use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use revcheck::crl::{DecodedCrl, VerifyOptions};
use revcheck::x509::ParsedCertificate;
use revcheck::x509::encoding::pem_or_der_bodies;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use x509_cert::crl::CertificateList;

/// The demo issuing CA: ECDSA P-256, the issuer of `fixtures/demo/issuing-ca.crl`.
static ISSUING_CA: LazyLock<ParsedCertificate> = LazyLock::new(|| {
    let pem = include_bytes!("../../fixtures/demo/issuing-ca.pem");
    let mut certificates =
        ParsedCertificate::from_pem_or_der(pem).expect("fixtures/demo/issuing-ca.pem decodes");
    certificates.remove(0)
});

/// The private key of the demo issuing CA, a test key committed with the fixtures.
static ISSUING_CA_KEY: LazyLock<EcdsaKeyPair> = LazyLock::new(|| {
    let pem = include_bytes!("../../fixtures/demo/issuing-ca.key");
    let pkcs8 = pem_or_der_bodies(pem, "PRIVATE KEY")
        .expect("fixtures/demo/issuing-ca.key is PEM")
        .remove(0);
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pkcs8,
        &SystemRandom::new(),
    )
    .expect("fixtures/demo/issuing-ca.key is a PKCS#8 P-256 key")
});

/// 2025-06-01T00:00:00Z, inside the validity of the demo CRLs (2025-01-01 to 2199-12-31), so
/// that a re-signed seed passes every check.
const VERIFICATION_TIME_SECONDS: u64 = 1_748_736_000;

const ORIGIN: &str = "fuzz input";

/// Returns `der` with its signature replaced by one from the demo CA key over the re-encoded
/// tbsCertList, and its outer signature algorithm set to the inner one. Returns `None` when the
/// CRL does not encode again.
///
/// The signature is always ECDSA with SHA-256, so it verifies only when the tbsCertList names
/// that algorithm. Other algorithm identifiers still reach the signature code and fail there.
///
/// NOTE: ECDSA signing draws a random nonce, so the signature bytes of a re-signed input differ
/// from run to run. The checks that follow the signature see the same content each time.
fn re_signed(der: &[u8]) -> Option<Vec<u8>> {
    let mut list = CertificateList::from_der(der).ok()?;
    let tbs = list.tbs_cert_list.to_der().ok()?;
    let signature = ISSUING_CA_KEY
        .sign(&SystemRandom::new(), &tbs)
        .expect("ECDSA signing with a valid key succeeds");
    list.signature_algorithm = list.tbs_cert_list.signature.clone();
    list.signature = BitString::from_bytes(signature.as_ref()).ok()?;
    list.to_der().ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(crls) = DecodedCrl::from_pem_or_der(data, ORIGIN) else {
        return;
    };
    let options = VerifyOptions::at(
        SystemTime::UNIX_EPOCH + Duration::from_secs(VERIFICATION_TIME_SECONDS),
        Duration::from_secs(300),
    );
    for crl in &crls {
        let _ = crl.verify(&ISSUING_CA, &ISSUING_CA, &options);
    }

    // from_pem_or_der returned one CRL per body, in this order, so every body decodes.
    let bodies = pem_or_der_bodies(data, "X509 CRL").expect("the input decoded above");
    for body in bodies {
        let Some(signed) = re_signed(&body) else {
            continue;
        };
        if let Ok(crl) = DecodedCrl::from_der(&signed, ORIGIN) {
            let _ = crl.verify(&ISSUING_CA, &ISSUING_CA, &options);
        }
    }
});
