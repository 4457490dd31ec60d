//! OCSP requests (RFC 6960 section 4.1): the CertID of one certificate, the DER request and
//! its RFC 5019 GET form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64_STANDARD;
use rasn::types::{Any, Integer, IntegerType, ObjectIdentifier, OctetString};
use rasn_pkix::{AlgorithmIdentifier, Extension, Extensions};

use super::OcspError;
use crate::x509::{ParsedCertificate, Serial};

/// id-pkix-ocsp-nonce (RFC 6960 section 4.4.1).
pub(super) const ID_PKIX_OCSP_NONCE: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 2];

const ID_SHA1: &[u32] = &[1, 3, 14, 3, 2, 26];
const ID_SHA256: &[u32] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];

/// DER of an ASN.1 NULL, the parameters of the hash AlgorithmIdentifier.
const NULL_DER: [u8; 2] = [0x05, 0x00];

/// The hash algorithm of a CertID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1, the only hash RFC 5019 section 2.1.1 lets clients use. A forged CertID would
    /// need a second preimage of the CA's name or key hash, which SHA-1 collisions do not
    /// provide.
    #[default]
    Sha1,
    /// SHA-256, which RFC 9919 (replacing RFC 5019) allows, for responders that support it.
    Sha256,
}

impl HashAlgorithm {
    /// Returns the RFC name of the algorithm, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
        }
    }

    fn arcs(self) -> &'static [u32] {
        match self {
            Self::Sha1 => ID_SHA1,
            Self::Sha256 => ID_SHA256,
        }
    }

    /// Maps a hash AlgorithmIdentifier to a supported algorithm. The parameters must be absent
    /// or NULL (RFC 5754 section 2 allows both for SHA-2; OpenSSL writes NULL).
    pub(super) fn from_asn1(algorithm: &AlgorithmIdentifier) -> Option<Self> {
        let parameters_ok = algorithm
            .parameters
            .as_ref()
            .is_none_or(|parameters| parameters.as_bytes() == NULL_DER);
        if !parameters_ok {
            return None;
        }
        [Self::Sha1, Self::Sha256]
            .into_iter()
            .find(|candidate| **algorithm.algorithm == *candidate.arcs())
    }

    /// Returns the AlgorithmIdentifier with NULL parameters, as OpenSSL writes it, so that a
    /// responder that compares CertIDs byte for byte finds ours.
    fn to_asn1(self) -> AlgorithmIdentifier {
        AlgorithmIdentifier {
            algorithm: ObjectIdentifier::new_unchecked(self.arcs().into()),
            parameters: Some(Any::new(NULL_DER.to_vec())),
        }
    }

    pub(super) fn digest(self, data: &[u8]) -> Vec<u8> {
        let algorithm = match self {
            Self::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &ring::digest::SHA256,
        };
        ring::digest::digest(algorithm, data).as_ref().to_vec()
    }
}

/// CertID (RFC 6960 section 4.1.1): identifies a certificate by hashes of its issuer's name
/// and key, and its serial number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertId {
    hash_algorithm: HashAlgorithm,
    issuer_name_hash: Vec<u8>,
    issuer_key_hash: Vec<u8>,
    serial_number: Serial,
}

impl CertId {
    /// Builds the CertID of the certificate with `serial_number` issued by `issuer`.
    ///
    /// issuerNameHash covers the DER of the issuer's subject exactly as the issuer certificate
    /// encodes it, which is the issuer field of every certificate it signs. issuerKeyHash
    /// covers the contents of the issuer's subjectPublicKey BIT STRING, never its subject key
    /// identifier, which RFC 5280 lets a CA compute in other ways.
    pub fn new(
        hash_algorithm: HashAlgorithm,
        issuer: &ParsedCertificate,
        serial_number: Serial,
    ) -> CertId {
        CertId {
            hash_algorithm,
            issuer_name_hash: hash_algorithm.digest(issuer.subject_der()),
            issuer_key_hash: hash_algorithm.digest(issuer.subject_public_key()),
            serial_number,
        }
    }

    /// Builds a CertID from its four fields as given, for example to name a certificate
    /// whose issuer certificate is not at hand.
    pub fn from_parts(
        hash_algorithm: HashAlgorithm,
        issuer_name_hash: Vec<u8>,
        issuer_key_hash: Vec<u8>,
        serial_number: Serial,
    ) -> CertId {
        CertId {
            hash_algorithm,
            issuer_name_hash,
            issuer_key_hash,
            serial_number,
        }
    }

    /// Builds the CertID of `certificate`, which `issuer` issued.
    pub fn for_certificate(
        hash_algorithm: HashAlgorithm,
        certificate: &ParsedCertificate,
        issuer: &ParsedCertificate,
    ) -> CertId {
        CertId::new(hash_algorithm, issuer, certificate.serial())
    }

    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash_algorithm
    }

    pub fn issuer_name_hash(&self) -> &[u8] {
        &self.issuer_name_hash
    }

    pub fn issuer_key_hash(&self) -> &[u8] {
        &self.issuer_key_hash
    }

    pub fn serial_number(&self) -> &Serial {
        &self.serial_number
    }

    /// Checks whether a CertID received in a response names the same certificate: same hash
    /// algorithm, same hashes and the same serial number encoding.
    pub(super) fn matches(&self, received: &rasn_ocsp::CertId) -> bool {
        HashAlgorithm::from_asn1(&received.hash_algorithm) == Some(self.hash_algorithm)
            && *received.issuer_name_hash == *self.issuer_name_hash
            && *received.issuer_key_hash == *self.issuer_key_hash
            && serial_content(&received.serial_number) == self.serial_number.as_bytes()
    }

    /// Converts to the rasn type for encoding. Fails only for a serial number without content
    /// octets, which no decoded certificate has.
    pub(crate) fn to_asn1(&self) -> Result<rasn_ocsp::CertId, rasn::error::DecodeError> {
        let serial_number =
            Integer::try_from_signed_bytes(self.serial_number.as_bytes(), rasn::Codec::Der)?;
        Ok(rasn_ocsp::CertId {
            hash_algorithm: self.hash_algorithm.to_asn1(),
            issuer_name_hash: OctetString::from(self.issuer_name_hash.clone()),
            issuer_key_hash: OctetString::from(self.issuer_key_hash.clone()),
            serial_number,
        })
    }
}

/// Returns the content octets of an INTEGER's minimal two's complement encoding, which is how
/// [`Serial`] stores a serial number.
pub(super) fn serial_content(integer: &Integer) -> Vec<u8> {
    let (bytes, length) = integer.to_signed_bytes_be();
    bytes.as_ref()[..length].to_vec()
}

/// An OCSPRequest (RFC 6960 section 4.1.1) for one certificate, unsigned, in DER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    cert_id: CertId,
    nonce: Option<[u8; 16]>,
    der: Vec<u8>,
}

impl OcspRequest {
    /// Encodes a request with one Request for `cert_id` and, when `nonce` is given, the
    /// id-pkix-ocsp-nonce request extension (RFC 6960 section 4.4.1, RFC 9654), whose value
    /// is the DER of an OCTET STRING that contains the nonce.
    ///
    /// RFC 5019 responders may ignore nonces and serve cached responses, so a nonce is
    /// only useful with responders that are known to echo it.
    pub fn new(cert_id: CertId, nonce: Option<[u8; 16]>) -> Result<OcspRequest, OcspError> {
        let encoding_error = |error: rasn::error::EncodeError| OcspError::RequestEncoding {
            serial: cert_id.serial_number.clone(),
            detail: error.to_string(),
        };

        let request_extensions = match &nonce {
            Some(nonce) => Some(Extensions::from(vec![
                nonce_extension(nonce).map_err(encoding_error)?,
            ])),
            None => None,
        };
        let request = rasn_ocsp::OcspRequest {
            tbs_request: rasn_ocsp::TbsRequest {
                version: Integer::ZERO,
                requestor_name: None,
                request_list: vec![rasn_ocsp::Request {
                    req_cert: cert_id
                        .to_asn1()
                        .map_err(|error| OcspError::RequestEncoding {
                            serial: cert_id.serial_number.clone(),
                            detail: error.to_string(),
                        })?,
                    single_request_extensions: None,
                }],
                request_extensions,
            },
            optional_signature: None,
        };
        let der = rasn::der::encode(&request).map_err(encoding_error)?;

        Ok(OcspRequest {
            cert_id,
            nonce,
            der,
        })
    }

    /// Returns the DER encoding, the body of a POST request.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn cert_id(&self) -> &CertId {
        &self.cert_id
    }

    pub fn nonce(&self) -> Option<&[u8; 16]> {
        self.nonce.as_ref()
    }

    /// Builds the URL of an RFC 5019 GET request (RFC 6960 appendix A.1): the base64 of the
    /// DER request, with `/`, `+` and `=` percent-encoded, appended to the responder URL's
    /// path after one `/`.
    pub fn get_url(&self, responder_url: &url::Url) -> url::Url {
        get_url_for_der(responder_url, &self.der)
    }
}

/// Builds the id-pkix-ocsp-nonce extension for `nonce`.
pub(super) fn nonce_extension(nonce: &[u8]) -> Result<Extension, rasn::error::EncodeError> {
    Ok(Extension {
        extn_id: ObjectIdentifier::new_unchecked(ID_PKIX_OCSP_NONCE.into()),
        critical: false,
        extn_value: OctetString::from(nonce_extension_value(nonce)?),
    })
}

/// Returns the extnValue of a nonce extension, which is the DER of an OCTET STRING containing
/// `nonce` (RFC 9654).
pub(super) fn nonce_extension_value(nonce: &[u8]) -> Result<Vec<u8>, rasn::error::EncodeError> {
    rasn::der::encode(&OctetString::from(nonce))
}

fn get_url_for_der(responder_url: &url::Url, der: &[u8]) -> url::Url {
    // Base64 uses `/`, `+` and `=`, which have meanings in a URL path, and some servers merge
    // the `//` that base64 can produce. Percent-encoding them keeps the request intact.
    let segment = BASE64_STANDARD
        .encode(der)
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");

    let base_path = responder_url.path();
    let path = if base_path.ends_with('/') {
        format!("{base_path}{segment}")
    } else {
        format!("{base_path}/{segment}")
    };
    let mut url = responder_url.clone();
    url.set_path(&path);
    url
}

#[cfg(test)]
mod tests {
    //! Expected CertIDs come from `openssl ocsp -reqout`, an independent implementation of
    //! RFC 6960 section 4.1.1.

    use std::path::Path;
    use std::process::Command;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64_STANDARD;

    use super::*;
    use crate::fixtures::{LeafSpec, TestCa};

    struct Issued {
        ca: TestCa,
        ca_cert: ParsedCertificate,
        leaf_pem: String,
        leaf: ParsedCertificate,
    }

    fn issue(ca: TestCa) -> Issued {
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: "request test leaf".to_owned(),
                serial: vec![0x80, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf is issued");
        Issued {
            ca_cert: ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes"),
            leaf: ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes"),
            leaf_pem: leaf.cert_pem,
            ca,
        }
    }

    fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Returns the request that `openssl ocsp` writes for the leaf, without a nonce.
    fn openssl_request(issued: &Issued, digest: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("ca.pem"), issued.ca.cert_pem()).expect("write CA");
        std::fs::write(dir.path().join("leaf.pem"), &issued.leaf_pem).expect("write leaf");
        openssl(
            dir.path(),
            &[
                "ocsp",
                digest,
                "-issuer",
                "ca.pem",
                "-cert",
                "leaf.pem",
                "-no_nonce",
                "-reqout",
                "req.der",
            ],
        );
        std::fs::read(dir.path().join("req.der")).expect("openssl wrote the request")
    }

    fn request_der(issued: &Issued, hash_algorithm: HashAlgorithm) -> Vec<u8> {
        let cert_id = CertId::for_certificate(hash_algorithm, &issued.leaf, &issued.ca_cert);
        OcspRequest::new(cert_id, None)
            .expect("request encodes")
            .der()
            .to_vec()
    }

    #[test]
    fn sha1_request_matches_openssl() {
        let issued = issue(TestCa::root("CertID SHA-1 CA").expect("test CA"));
        assert_eq!(
            request_der(&issued, HashAlgorithm::Sha1),
            openssl_request(&issued, "-sha1")
        );
    }

    #[test]
    fn sha256_request_matches_openssl() {
        let issued = issue(TestCa::root("CertID SHA-256 CA").expect("test CA"));
        assert_eq!(
            request_der(&issued, HashAlgorithm::Sha256),
            openssl_request(&issued, "-sha256")
        );
    }

    #[test]
    fn intermediate_request_matches_openssl() {
        let root = TestCa::root("CertID Root").expect("test CA");
        let issued = issue(
            root.intermediate("CertID Intermediate")
                .expect("intermediate"),
        );
        assert_eq!(
            request_der(&issued, HashAlgorithm::Sha1),
            openssl_request(&issued, "-sha1")
        );
    }

    /// RFC 6960 section 4.1.1 hashes the issuer's key, and a CA may compute its subject key
    /// identifier in any way (RFC 5280 section 4.2.1.2), so the two must not be confused.
    #[test]
    fn issuer_key_hash_ignores_key_identifier() {
        let custom_ski = [0x5a; 20];
        let ca = TestCa::root_with_key_identifier("Custom SKI CA", &custom_ski).expect("test CA");
        let issued = issue(ca);
        assert_eq!(issued.ca_cert.subject_key_id(), Some(custom_ski.as_slice()));

        let cert_id = CertId::for_certificate(HashAlgorithm::Sha1, &issued.leaf, &issued.ca_cert);
        let key_sha1 = ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            issued.ca_cert.subject_public_key(),
        );
        assert_eq!(cert_id.issuer_key_hash(), key_sha1.as_ref());
        assert_ne!(cert_id.issuer_key_hash(), custom_ski);
        assert_eq!(
            request_der(&issued, HashAlgorithm::Sha1),
            openssl_request(&issued, "-sha1")
        );
    }

    #[test]
    fn issuer_name_hash_covers_subject_der() {
        let issued = issue(TestCa::root("Name Hash CA").expect("test CA"));
        let cert_id = CertId::for_certificate(HashAlgorithm::Sha256, &issued.leaf, &issued.ca_cert);
        let expected = ring::digest::digest(&ring::digest::SHA256, &issued.ca.subject_der());

        assert_eq!(cert_id.issuer_name_hash(), expected.as_ref());
        assert_eq!(cert_id.serial_number().as_bytes(), [0x00, 0x80, 0x01]);
    }

    #[test]
    fn nonce_request_parses_in_openssl() {
        let issued = issue(TestCa::root("Nonce Request CA").expect("test CA"));
        let cert_id = CertId::for_certificate(HashAlgorithm::Sha1, &issued.leaf, &issued.ca_cert);
        let nonce = [0xa5; 16];
        let request = OcspRequest::new(cert_id, Some(nonce)).expect("request encodes");
        assert_eq!(request.nonce(), Some(&nonce));

        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("req.der"), request.der()).expect("write request");
        let text = openssl(dir.path(), &["ocsp", "-reqin", "req.der", "-req_text"]);
        let text = String::from_utf8_lossy(&text);

        assert!(text.contains("Hash Algorithm: sha1"), "{text}");
        assert!(text.contains("Serial Number: 8001"), "{text}");
        assert!(text.contains("OCSP Nonce"), "{text}");
        // OpenSSL prints the extension value, the OCTET STRING around the nonce, in hex.
        assert!(text.contains(&format!("0410{}", "A5".repeat(16))), "{text}");
    }

    #[test]
    fn empty_serial_rejected() {
        let cert_id = CertId::from_parts(
            HashAlgorithm::Sha1,
            vec![0; 20],
            vec![0; 20],
            Serial::from_der_content(&[]),
        );
        let error = OcspRequest::new(cert_id, None).expect_err("no serial content octets");
        assert!(
            matches!(error, OcspError::RequestEncoding { .. }),
            "{error:?}"
        );
        assert_eq!(error.reason_code(), "ocsp_request_invalid");
    }

    #[test]
    fn get_url_appends_one_slash() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        for (responder, expected) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/MAMCAQU%3D"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/MAMCAQU%3D"),
            (
                "http://127.0.0.1:8080/ocsp",
                "http://127.0.0.1:8080/ocsp/MAMCAQU%3D",
            ),
            (
                "http://127.0.0.1:8080/ocsp/",
                "http://127.0.0.1:8080/ocsp/MAMCAQU%3D",
            ),
        ] {
            let responder_url = url::Url::parse(responder).expect("test URL parses");
            assert_eq!(
                get_url_for_der(&responder_url, &der).as_str(),
                expected,
                "responder {responder}"
            );
        }
    }

    /// Base64 of these bytes is `++//+/+/++//+/8=`. It contains `/`, `//`, `+` and `=`, which
    /// a server could read as path separators, spaces or query syntax.
    #[test]
    fn get_url_keeps_slashes_and_plus() {
        let der = [
            0xfb, 0xef, 0xff, 0xfb, 0xff, 0xbf, 0xfb, 0xef, 0xff, 0xfb, 0xff,
        ];
        let encoded = BASE64_STANDARD.encode(der);
        assert!(encoded.contains("//"), "{encoded}");
        assert!(encoded.contains('+'), "{encoded}");

        let responder_url = url::Url::parse("http://127.0.0.1:8080/ocsp").expect("URL parses");
        let url = get_url_for_der(&responder_url, &der);
        let segment = url
            .path()
            .strip_prefix("/ocsp/")
            .expect("request follows the responder path");

        assert!(!segment.contains('/'), "{segment}");
        assert!(!segment.contains('+'), "{segment}");
        assert!(!segment.contains('='), "{segment}");
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .expect("segment is UTF-8");
        assert_eq!(decoded, encoded);
        assert_eq!(
            BASE64_STANDARD.decode(decoded.as_bytes()).expect("base64"),
            der
        );
    }
}
