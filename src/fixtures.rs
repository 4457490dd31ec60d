//! Test PKIs for revcheck's tests and demo: CAs, client certificates, CRLs and OCSP responses,
//! including deliberately malformed ones.
//!
//! [`TestCa`] issues well-formed certificates and CRLs through rcgen. [`CrlBuilder`] encodes a
//! CRL field by field, so a test can build the broken CRLs that rcgen refuses to produce, and
//! [`OcspResponseBuilder`] does the same for OCSP responses.

mod crl_builder;
mod ocsp_builder;

pub use crl_builder::{CrlBuilder, CrlEntry, RawExtension};
pub use ocsp_builder::{
    OcspResponseBuilder, OcspSigner, ResponderIdSpec, ResponderSpec, SingleResponseSpec,
    TestResponder,
};

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber, SignatureAlgorithm,
};

/// 2025-01-01T00:00:00Z in seconds since the Unix epoch.
const NOT_BEFORE_UNIX_SECONDS: u64 = 1_735_689_600;

/// 2199-12-31T23:59:59Z in seconds since the Unix epoch.
const NOT_AFTER_UNIX_SECONDS: u64 = 7_258_118_399;

// Fixed CA serial numbers, small so that `openssl x509 -text` output stays readable.
const ROOT_SERIAL: u64 = 1;
const INTERMEDIATE_SERIAL: u64 = 2;

const ORGANIZATION: &str = "revcheck demo";
const COUNTRY: &str = "US";

/// Returns 2025-01-01T00:00:00Z, the notBefore of every fixture certificate.
pub fn not_before() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOT_BEFORE_UNIX_SECONDS)
}

/// Returns 2199-12-31T23:59:59Z, the notAfter of every fixture certificate.
///
/// The date lies far in the future so that committed fixtures never expire. From 2050 on,
/// RFC 5280 section 4.1.2.5 requires GeneralizedTime, so fixtures also exercise that encoding.
pub fn not_after() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOT_AFTER_UNIX_SECONDS)
}

/// An error while building a fixture certificate, key or CRL, or while writing one to disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// rcgen could not generate a key pair.
    #[error("failed to generate a {algorithm} key pair")]
    KeyGeneration {
        algorithm: &'static str,
        #[source]
        source: rcgen::Error,
    },

    /// rcgen could not issue a certificate.
    #[error("failed to issue the certificate for CN={common_name}")]
    Certificate {
        common_name: String,
        #[source]
        source: rcgen::Error,
    },

    /// A subject alternative name is not a valid IA5String (7-bit ASCII).
    #[error("subject alternative name {value:?} is not a valid IA5String (7-bit ASCII)")]
    InvalidSubjectAltName {
        value: String,
        #[source]
        source: rcgen::Error,
    },

    /// rcgen could not build or sign a CRL.
    #[error("failed to build the CRL of CN={issuer}")]
    Crl {
        issuer: String,
        #[source]
        source: rcgen::Error,
    },

    /// [`CrlBuilder`] and [`OcspResponseBuilder`] support only the key types that [`TestCa`]
    /// creates.
    #[error(
        "CrlBuilder and OcspResponseBuilder sign only with ECDSA P-256 or P-384 keys, but the \
         key of CN={issuer} uses {algorithm}"
    )]
    UnsupportedKeyAlgorithm { issuer: String, algorithm: String },

    /// A CRL entry serial is not the content of a DER INTEGER.
    #[error(
        "CRL entry serial [{serial_hex}] is not valid DER INTEGER content: it is empty or \
         starts with a redundant 00 or FF byte"
    )]
    InvalidSerial {
        serial_hex: String,
        #[source]
        source: der::Error,
    },

    /// A time lies outside what an X.509 `Time` can hold in this module.
    #[error("time {time} cannot be encoded as an X.509 Time; use a time from 1970 to 9999")]
    InvalidTime { time: String },

    /// x509-cert or der failed to encode or decode a structure.
    #[error("failed to {action}")]
    Der {
        action: String,
        #[source]
        source: der::Error,
    },

    /// rasn failed to encode an OCSP structure.
    #[error("failed to {action}")]
    Asn1Encode {
        action: String,
        #[source]
        source: rasn::error::EncodeError,
    },

    /// rasn failed to decode a structure a fixture needs, such as a Name.
    #[error("failed to {action}")]
    Asn1Decode {
        action: String,
        #[source]
        source: rasn::error::DecodeError,
    },

    /// A certificate that a fixture just issued does not decode.
    #[error("failed to decode the certificate of CN={common_name}")]
    CertificateDecode {
        common_name: String,
        #[source]
        source: crate::x509::CertificateError,
    },

    /// The signing key failed to sign.
    #[error("failed to sign with the key of CN={issuer}")]
    Signing {
        issuer: String,
        #[source]
        source: rcgen::Error,
    },

    /// Reading or writing a file failed.
    #[error("failed to {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A test certificate authority: its rcgen parameters, key pair and issued certificate.
#[derive(Debug)]
pub struct TestCa {
    common_name: String,
    params: CertificateParams,
    key_pair: KeyPair,
    certificate: rcgen::Certificate,
    subject_der: Vec<u8>,
}

/// What goes into a client certificate issued by [`TestCa::leaf`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafSpec {
    pub common_name: String,
    /// Serial number as a big-endian magnitude, for example `vec![0x80, 0x01]`. The
    /// certificate encodes it as a positive INTEGER, so `[0x80, 0x01]` becomes `00 80 01`.
    pub serial: Vec<u8>,
    /// rfc822Name subject alternative name.
    pub email: Option<String>,
    /// uniformResourceIdentifier subject alternative name, such as a SPIFFE ID.
    pub uri: Option<String>,
}

/// A client certificate and its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestLeaf {
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    /// PKCS#8 private key in PEM.
    pub key_pem: String,
}

/// Contents of a well-formed CRL issued by [`TestCa::crl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlSpec {
    pub revoked: Vec<RevokedSpec>,
    pub crl_number: u64,
    pub this_update: SystemTime,
    /// Must be later than `this_update`, or rcgen rejects the CRL.
    pub next_update: SystemTime,
}

/// One revoked certificate in a [`CrlSpec`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedSpec {
    /// Serial number as a big-endian magnitude, encoded as a positive INTEGER like
    /// [`LeafSpec::serial`].
    pub serial: Vec<u8>,
    pub revocation_time: SystemTime,
    /// reasonCode entry extension. rcgen omits `Unspecified`, as RFC 5280 section 5.3.1 recommends.
    pub reason: Option<RevocationReason>,
}

impl TestCa {
    /// Creates a self-signed root CA with an ECDSA P-384 key, signing with SHA-384.
    ///
    /// The subject is `C=US, O=revcheck demo, CN=<common_name>` and the serial number is 1.
    pub fn root(common_name: &str) -> Result<TestCa, FixtureError> {
        let key_pair = generate_key_pair(&rcgen::PKCS_ECDSA_P384_SHA384, "ECDSA P-384")?;
        let mut params = base_params(common_name, SerialNumber::from(ROOT_SERIAL));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];

        let certificate = params
            .self_signed(&key_pair)
            .map_err(|source| certificate_error(common_name, source))?;
        TestCa::new(common_name, params, key_pair, certificate)
    }

    /// Creates a self-signed root CA like [`TestCa::root`] whose subject key identifier is
    /// `key_identifier` instead of a hash of its key.
    pub fn root_with_key_identifier(
        common_name: &str,
        key_identifier: &[u8],
    ) -> Result<TestCa, FixtureError> {
        let key_pair = generate_key_pair(&rcgen::PKCS_ECDSA_P384_SHA384, "ECDSA P-384")?;
        let mut params = base_params(common_name, SerialNumber::from(ROOT_SERIAL));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(key_identifier.to_vec());

        let certificate = params
            .self_signed(&key_pair)
            .map_err(|source| certificate_error(common_name, source))?;
        TestCa::new(common_name, params, key_pair, certificate)
    }

    /// Issues an intermediate CA with an ECDSA P-256 key, signing with SHA-256.
    ///
    /// Its basicConstraints has pathLenConstraint 0, so it may issue only end-entity
    /// certificates. Every intermediate gets serial number 2, so two intermediates of the
    /// same CA share a serial number.
    pub fn intermediate(&self, common_name: &str) -> Result<TestCa, FixtureError> {
        let key_pair = generate_key_pair(&rcgen::PKCS_ECDSA_P256_SHA256, "ECDSA P-256")?;
        let mut params = base_params(common_name, SerialNumber::from(INTERMEDIATE_SERIAL));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];

        let certificate = params
            .signed_by(&key_pair, &self.issuer())
            .map_err(|source| certificate_error(common_name, source))?;
        TestCa::new(common_name, params, key_pair, certificate)
    }

    /// Returns a new certificate for this CA's name and key, issued by `issuer`, after
    /// `customize` has changed its parameters, such as a renewal with another validity period.
    pub fn recertify_with(
        &self,
        issuer: &TestCa,
        customize: impl FnOnce(&mut CertificateParams),
    ) -> Result<Vec<u8>, FixtureError> {
        let mut params = self.params.clone();
        customize(&mut params);
        let certificate = params
            .signed_by(&self.key_pair, &issuer.issuer())
            .map_err(|source| certificate_error(&self.common_name, source))?;
        Ok(certificate.der().to_vec())
    }

    /// Issues a TLS client certificate with an ECDSA P-256 key.
    ///
    /// The certificate has keyUsage digitalSignature, extendedKeyUsage clientAuth and
    /// basicConstraints CA:FALSE.
    pub fn leaf(&self, spec: &LeafSpec) -> Result<TestLeaf, FixtureError> {
        self.leaf_with(spec, |_| {})
    }

    /// Issues a client certificate like [`TestCa::leaf`], after `customize` has changed its
    /// parameters, for certificates that tests need to be unusual: expired, not yet valid, with
    /// two common names or with extra subject alternative names.
    pub fn leaf_with(
        &self,
        spec: &LeafSpec,
        customize: impl FnOnce(&mut CertificateParams),
    ) -> Result<TestLeaf, FixtureError> {
        let key_pair = generate_key_pair(&rcgen::PKCS_ECDSA_P256_SHA256, "ECDSA P-256")?;
        let mut params = base_params(&spec.common_name, SerialNumber::from_slice(&spec.serial));
        // rcgen writes the subjectKeyIdentifier extension only together with basicConstraints,
        // so the leaf states CA:FALSE explicitly instead of leaving basicConstraints out.
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];

        if let Some(email) = &spec.email {
            params
                .subject_alt_names
                .push(SanType::Rfc822Name(ia5_string(email)?));
        }
        if let Some(uri) = &spec.uri {
            params
                .subject_alt_names
                .push(SanType::URI(ia5_string(uri)?));
        }
        customize(&mut params);

        let certificate = params
            .signed_by(&key_pair, &self.issuer())
            .map_err(|source| certificate_error(&spec.common_name, source))?;
        Ok(TestLeaf {
            cert_der: certificate.der().to_vec(),
            cert_pem: certificate.pem(),
            key_pem: key_pair.serialize_pem(),
        })
    }

    /// Signs a well-formed version 2 CRL and returns its DER.
    ///
    /// The CRL carries the authorityKeyIdentifier and cRLNumber extensions that RFC 5280
    /// section 5.2 requires. Times before 2050 are encoded as UTCTime, later ones as
    /// GeneralizedTime.
    pub fn crl(&self, spec: &CrlSpec) -> Result<Vec<u8>, FixtureError> {
        let revoked_certs = spec
            .revoked
            .iter()
            .map(|revoked| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&revoked.serial),
                revocation_time: revoked.revocation_time.into(),
                reason_code: revoked.reason,
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: spec.this_update.into(),
            next_update: spec.next_update.into(),
            crl_number: SerialNumber::from(spec.crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: self.params.key_identifier_method.clone(),
        };

        let crl = params
            .signed_by(&self.issuer())
            .map_err(|source| FixtureError::Crl {
                issuer: self.common_name.clone(),
                source,
            })?;
        Ok(crl.der().to_vec())
    }

    pub fn cert_der(&self) -> &[u8] {
        self.certificate.der()
    }

    pub fn cert_pem(&self) -> String {
        self.certificate.pem()
    }

    /// Returns the private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.key_pair.serialize_pem()
    }

    /// Returns the key pair, to sign hand-built structures such as [`CrlBuilder`] output.
    pub fn key_pair(&self) -> &rcgen::KeyPair {
        &self.key_pair
    }

    /// Returns the DER of the subject Name, byte for byte as it appears in the certificate.
    pub fn subject_der(&self) -> Vec<u8> {
        self.subject_der.clone()
    }

    /// Returns the subjectKeyIdentifier of the certificate, which is also the
    /// authorityKeyIdentifier of every certificate and CRL that this CA signs.
    pub fn key_identifier(&self) -> Vec<u8> {
        self.params.key_identifier(&self.key_pair)
    }

    fn new(
        common_name: &str,
        params: CertificateParams,
        key_pair: KeyPair,
        certificate: rcgen::Certificate,
    ) -> Result<TestCa, FixtureError> {
        let parsed = x509_cert::Certificate::from_der(certificate.der()).map_err(|source| {
            FixtureError::Der {
                action: format!("parse the certificate just issued for CN={common_name}"),
                source,
            }
        })?;
        // x509-cert keeps each attribute value as the original bytes, so encoding the
        // decoded Name again reproduces the subject of a DER certificate exactly.
        let subject_der =
            parsed
                .tbs_certificate
                .subject
                .to_der()
                .map_err(|source| FixtureError::Der {
                    action: format!("encode the subject of CN={common_name}"),
                    source,
                })?;

        Ok(TestCa {
            common_name: common_name.to_owned(),
            params,
            key_pair,
            certificate,
            subject_der,
        })
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key_pair)
    }
}

/// Returns parameters shared by every fixture certificate: the subject, the serial number,
/// the validity period and the authorityKeyIdentifier extension.
fn base_params(common_name: &str, serial: SerialNumber) -> CertificateParams {
    let mut distinguished_name = DistinguishedName::new();
    distinguished_name.push(DnType::CountryName, COUNTRY);
    distinguished_name.push(DnType::OrganizationName, ORGANIZATION);
    distinguished_name.push(DnType::CommonName, common_name);

    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name;
    params.serial_number = Some(serial);
    params.not_before = not_before().into();
    params.not_after = not_after().into();
    params.use_authority_key_identifier_extension = true;
    params
}

fn generate_key_pair(
    algorithm: &'static SignatureAlgorithm,
    algorithm_name: &'static str,
) -> Result<KeyPair, FixtureError> {
    KeyPair::generate_for(algorithm).map_err(|source| FixtureError::KeyGeneration {
        algorithm: algorithm_name,
        source,
    })
}

fn ia5_string(value: &str) -> Result<rcgen::string::Ia5String, FixtureError> {
    rcgen::string::Ia5String::try_from(value).map_err(|source| {
        FixtureError::InvalidSubjectAltName {
            value: value.to_owned(),
            source,
        }
    })
}

fn certificate_error(common_name: &str, source: rcgen::Error) -> FixtureError {
    FixtureError::Certificate {
        common_name: common_name.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_constants_match_dates() {
        assert_eq!(
            humantime::format_rfc3339(not_before()).to_string(),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            humantime::format_rfc3339(not_after()).to_string(),
            "2199-12-31T23:59:59Z"
        );
    }

    #[test]
    fn subject_der_appears_in_certificate() {
        let root = TestCa::root("subject test root").expect("root CA is issued");
        let subject = root.subject_der();

        let found = root
            .cert_der()
            .windows(subject.len())
            .any(|window| window == subject.as_slice());
        assert!(
            found,
            "subject DER is not a substring of the certificate DER"
        );
    }

    #[test]
    fn leaf_serial_keeps_leading_zero() {
        let root = TestCa::root("serial test root").expect("root CA is issued");
        let leaf = root
            .leaf(&LeafSpec {
                common_name: "serial test leaf".to_owned(),
                serial: vec![0x80, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf is issued");

        let parsed = x509_cert::Certificate::from_der(&leaf.cert_der).expect("leaf parses");
        assert_eq!(
            parsed.tbs_certificate.serial_number.as_bytes(),
            [0x00, 0x80, 0x01]
        );
    }

    #[test]
    fn ca_certificates_carry_key_identifiers() {
        let root = TestCa::root("identifier test root").expect("root CA is issued");
        let intermediate = root
            .intermediate("identifier test intermediate")
            .expect("intermediate CA is issued");

        let parsed =
            x509_cert::Certificate::from_der(intermediate.cert_der()).expect("intermediate parses");
        let extensions = parsed
            .tbs_certificate
            .extensions
            .expect("intermediate has extensions");
        let ids: Vec<_> = extensions
            .iter()
            .map(|extension| extension.extn_id)
            .collect();
        assert!(ids.contains(&const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER));
        assert!(ids.contains(&const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER));
        assert_eq!(parsed.tbs_certificate.serial_number.as_bytes(), [0x02]);
    }
}
