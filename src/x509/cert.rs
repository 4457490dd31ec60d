//! X.509 certificates as revcheck uses them: decoded once, with their exact bytes kept.

use std::fmt;
use std::time::SystemTime;

use der::Decode;
use x509_cert::Certificate;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use super::encoding::{self, EncodingError};
use super::name::names_match;
use super::serial::Serial;
use super::signature::{SignatureError, SignaturePolicy, verify_signature};

/// Errors from decoding a certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The input contains no certificate in PEM or DER.
    #[error(transparent)]
    Encoding(#[from] EncodingError),

    /// The DER does not decode as an RFC 5280 certificate.
    #[error("certificate does not decode: {0}")]
    Decode(der::Error),

    /// An extension revcheck reads is present but malformed.
    #[error("certificate extension {oid} is malformed: {detail}")]
    MalformedExtension {
        oid: const_oid::ObjectIdentifier,
        detail: String,
    },
}

/// A decoded certificate with the DER it was decoded from and the extensions revcheck reads.
#[derive(Clone)]
pub struct ParsedCertificate {
    der: Vec<u8>,
    tbs: std::ops::Range<usize>,
    subject_range: std::ops::Range<usize>,
    certificate: Certificate,
    fingerprint: [u8; 32],
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
    extended_key_usage: Option<Vec<const_oid::ObjectIdentifier>>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    crl_distribution_points: Vec<DistributionPoint>,
    subject_alt_names: Vec<x509_cert::ext::pkix::name::GeneralName>,
}

impl ParsedCertificate {
    /// Decodes one certificate from DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let certificate = Certificate::from_der(der).map_err(CertificateError::Decode)?;
        let tbs = encoding::signed_part_range(der).map_err(CertificateError::Decode)?;
        let subject_range =
            encoding::certificate_subject_range(der).map_err(CertificateError::Decode)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut fingerprint = [0; 32];
        fingerprint.copy_from_slice(digest.as_ref());

        let mut parsed = Self {
            der: der.to_vec(),
            tbs,
            subject_range,
            certificate,
            fingerprint,
            basic_constraints: None,
            key_usage: None,
            extended_key_usage: None,
            subject_key_id: None,
            authority_key_id: None,
            crl_distribution_points: Vec::new(),
            subject_alt_names: Vec::new(),
        };
        parsed.read_extensions()?;
        Ok(parsed)
    }

    /// Decodes every certificate in `input`: one DER certificate, or all `CERTIFICATE` blocks
    /// of a PEM file.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Vec<Self>, CertificateError> {
        encoding::pem_or_der_bodies(input, "CERTIFICATE")?
            .iter()
            .map(|der| Self::from_der(der))
            .collect()
    }

    fn read_extensions(&mut self) -> Result<(), CertificateError> {
        let Some(extensions) = &self.certificate.tbs_certificate.extensions else {
            return Ok(());
        };
        for extension in extensions {
            let value = extension.extn_value.as_bytes();
            let malformed = |error: der::Error| CertificateError::MalformedExtension {
                oid: extension.extn_id,
                detail: error.to_string(),
            };
            match extension.extn_id {
                const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS => {
                    self.basic_constraints =
                        Some(BasicConstraints::from_der(value).map_err(malformed)?);
                }
                const_oid::db::rfc5280::ID_CE_KEY_USAGE => {
                    self.key_usage = Some(KeyUsage::from_der(value).map_err(malformed)?);
                }
                const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE => {
                    let usage = ExtendedKeyUsage::from_der(value).map_err(malformed)?;
                    self.extended_key_usage = Some(usage.0);
                }
                const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER => {
                    let ski = SubjectKeyIdentifier::from_der(value).map_err(malformed)?;
                    self.subject_key_id = Some(ski.0.as_bytes().to_vec());
                }
                const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                    let aki = AuthorityKeyIdentifier::from_der(value).map_err(malformed)?;
                    self.authority_key_id = aki.key_identifier.map(|id| id.as_bytes().to_vec());
                }
                const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS => {
                    let points = CrlDistributionPoints::from_der(value).map_err(malformed)?;
                    self.crl_distribution_points = points.0;
                }
                const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME => {
                    let names =
                        x509_cert::ext::pkix::SubjectAltName::from_der(value).map_err(malformed)?;
                    self.subject_alt_names = names.0;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Lists the critical extensions that revcheck does not recognize. RFC 5280 section 4.2
    /// requires rejecting a certificate with one. The recognized ones are those decoded above,
    /// plus certificatePolicies.
    ///
    /// NOTE: a critical certificatePolicies is accepted without enforcing any policy, as a
    /// relying party that accepts anyPolicy would.
    pub fn unrecognized_critical_extensions(&self) -> Vec<const_oid::ObjectIdentifier> {
        use const_oid::db::rfc5280::{
            ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_CERTIFICATE_POLICIES,
            ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
            ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER,
        };
        const RECOGNIZED: [const_oid::ObjectIdentifier; 8] = [
            ID_CE_BASIC_CONSTRAINTS,
            ID_CE_KEY_USAGE,
            ID_CE_EXT_KEY_USAGE,
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            ID_CE_CRL_DISTRIBUTION_POINTS,
            ID_CE_SUBJECT_ALT_NAME,
            ID_CE_CERTIFICATE_POLICIES,
        ];
        self.certificate
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|extension| extension.critical && !RECOGNIZED.contains(&extension.extn_id))
            .map(|extension| extension.extn_id)
            .collect()
    }

    /// Checks whether the certificate may authenticate a TLS client, by the rules OpenSSL's
    /// `sslclient` purpose applies: an extendedKeyUsage, when present, lists id-kp-clientAuth,
    /// and a keyUsage, when present, allows digitalSignature or keyAgreement. Returns the
    /// reason when it may not.
    pub fn client_auth_problem(&self) -> Option<String> {
        if let Some(usages) = &self.extended_key_usage
            && !usages.contains(&const_oid::db::rfc5280::ID_KP_CLIENT_AUTH)
        {
            let listed: Vec<String> = usages.iter().map(ToString::to_string).collect();
            return Some(format!(
                "its extendedKeyUsage ({}) does not include id-kp-clientAuth",
                listed.join(", ")
            ));
        }
        if let Some(usage) = &self.key_usage {
            use x509_cert::ext::pkix::KeyUsages;
            if !usage.0.contains(KeyUsages::DigitalSignature)
                && !usage.0.contains(KeyUsages::KeyAgreement)
            {
                return Some(
                    "its keyUsage allows neither digitalSignature nor keyAgreement".to_owned(),
                );
            }
        }
        None
    }

    /// Returns the DER encoding, exactly as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Returns the decoded certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// SHA-256 of the DER encoding.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// SHA-256 of the DER encoding as lowercase hex.
    pub fn fingerprint_hex(&self) -> String {
        super::hex::encode(&self.fingerprint)
    }

    pub fn subject(&self) -> &Name {
        &self.certificate.tbs_certificate.subject
    }

    /// Returns the DER of the subject Name, byte for byte as it appears in the certificate.
    pub fn subject_der(&self) -> &[u8] {
        &self.der[self.subject_range.clone()]
    }

    pub fn issuer(&self) -> &Name {
        &self.certificate.tbs_certificate.issuer
    }

    /// Returns the serial number as the content bytes of its DER INTEGER.
    pub fn serial(&self) -> Serial {
        Serial::from_der_content(self.certificate.tbs_certificate.serial_number.as_bytes())
    }

    pub fn not_before(&self) -> SystemTime {
        self.certificate
            .tbs_certificate
            .validity
            .not_before
            .to_system_time()
    }

    pub fn not_after(&self) -> SystemTime {
        self.certificate
            .tbs_certificate
            .validity
            .not_after
            .to_system_time()
    }

    /// Checks whether `at` lies inside the validity period (both ends inclusive, RFC 5280 4.1.2.5).
    pub fn is_valid_at(&self, at: SystemTime) -> bool {
        self.not_before() <= at && at <= self.not_after()
    }

    /// Checks whether basic constraints mark this certificate as a CA.
    pub fn is_ca(&self) -> bool {
        self.basic_constraints.as_ref().is_some_and(|bc| bc.ca)
    }

    pub fn key_usage(&self) -> Option<&KeyUsage> {
        self.key_usage.as_ref()
    }

    /// Returns the key purposes of the extended key usage extension, or `None` when it is
    /// absent.
    pub fn extended_key_usage(&self) -> Option<&[const_oid::ObjectIdentifier]> {
        self.extended_key_usage.as_deref()
    }

    /// Returns the contents of the subjectPublicKey BIT STRING without its unused-bits octet.
    /// OCSP key hashes cover these bytes (RFC 6960 section 4.1.1).
    pub fn subject_public_key(&self) -> &[u8] {
        self.certificate
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
    }

    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_deref()
    }

    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }

    /// Returns the subject alternative names; empty when the extension is absent.
    pub fn subject_alt_names(&self) -> &[x509_cert::ext::pkix::name::GeneralName] {
        &self.subject_alt_names
    }

    /// Returns the CRL distribution points extension's entries; empty when it is absent.
    pub fn crl_distribution_points(&self) -> &[DistributionPoint] {
        &self.crl_distribution_points
    }

    /// Checks whether the subject and issuer names match (RFC 5280 section 7.1).
    pub fn is_self_issued(&self) -> bool {
        names_match(self.subject(), self.issuer())
    }

    /// Verifies this certificate's signature with `issuer`'s public key, over the exact
    /// `tbsCertificate` bytes received.
    pub fn verify_signed_by(&self, issuer: &ParsedCertificate) -> Result<(), SignatureError> {
        // RFC 5280 section 4.1.1.2: the outer algorithm must equal the one inside the signed part.
        let outer = &self.certificate.signature_algorithm;
        if *outer != self.certificate.tbs_certificate.signature {
            return Err(SignatureError::AlgorithmMismatch);
        }
        verify_signature(
            &issuer.certificate.tbs_certificate.subject_public_key_info,
            outer,
            &self.der[self.tbs.clone()],
            &self.certificate.signature,
            SignaturePolicy::default(),
        )
    }

    /// A short description for logs and messages: subject and serial, never the body.
    pub fn describe(&self) -> String {
        format!("\"{}\" serial {}", self.subject(), self.serial())
    }
}

impl fmt::Debug for ParsedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedCertificate")
            .field("subject", &self.subject().to_string())
            .field("serial", &self.serial().to_string())
            .field("fingerprint", &self.fingerprint_hex())
            .finish()
    }
}
