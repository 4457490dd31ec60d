//! Decoding of received OCSP responses (RFC 6960 section 4.2.1), keeping the exact
//! `tbsResponseData` bytes that the signature covers.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::Encode;
use der::asn1::{AnyRef, BitString};
use x509_cert::name::Name;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::request::serial_content;
use super::{CertId, HashAlgorithm, OcspError};
use crate::crl::RevocationReason;
use crate::x509::{ParsedCertificate, Serial, encoding, hex};

/// id-pkix-ocsp-basic (RFC 6960 section 4.2.1), the only response type revcheck reads.
const ID_PKIX_OCSP_BASIC: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 1];

/// OCSPResponseStatus (RFC 6960 section 4.2.1): whether the responder could process the
/// request at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    Successful,
    MalformedRequest,
    InternalError,
    TryLater,
    SigRequired,
    Unauthorized,
}

impl ResponseStatus {
    /// Returns the RFC name, such as `tryLater`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Successful => "successful",
            Self::MalformedRequest => "malformedRequest",
            Self::InternalError => "internalError",
            Self::TryLater => "tryLater",
            Self::SigRequired => "sigRequired",
            Self::Unauthorized => "unauthorized",
        }
    }

    pub(crate) fn to_asn1(self) -> rasn_ocsp::OcspResponseStatus {
        use rasn_ocsp::OcspResponseStatus as Asn1;
        match self {
            Self::Successful => Asn1::Successful,
            Self::MalformedRequest => Asn1::MalformedRequest,
            Self::InternalError => Asn1::InternalError,
            Self::TryLater => Asn1::TryLater,
            Self::SigRequired => Asn1::SigRequired,
            Self::Unauthorized => Asn1::Unauthorized,
        }
    }

    fn from_asn1(status: rasn_ocsp::OcspResponseStatus) -> Self {
        use rasn_ocsp::OcspResponseStatus as Asn1;
        match status {
            Asn1::Successful => Self::Successful,
            Asn1::MalformedRequest => Self::MalformedRequest,
            Asn1::InternalError => Self::InternalError,
            Asn1::TryLater => Self::TryLater,
            Asn1::SigRequired => Self::SigRequired,
            Asn1::Unauthorized => Self::Unauthorized,
        }
    }
}

impl fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CertStatus (RFC 6960 section 4.2.1) of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspStatus {
    /// The responder has the certificate on record as not revoked. This does not state that
    /// the certificate was ever issued or is within its validity period.
    Good,
    /// The certificate is revoked, or on hold when the reason is certificateHold.
    Revoked {
        revocation_time: SystemTime,
        /// The revocationReason; absent means the responder gave none.
        reason: Option<RevocationReason>,
    },
    /// The responder has no record of the certificate, so the status is undetermined.
    Unknown,
}

impl OcspStatus {
    /// Returns `good`, `revoked` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Revoked { .. } => "revoked",
            Self::Unknown => "unknown",
        }
    }
}

/// ResponderID (RFC 6960 section 4.2.2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ResponderId {
    ByName(Name),
    /// SHA-1 of the responder's subjectPublicKey BIT STRING contents.
    ByKey(Vec<u8>),
}

impl fmt::Display for ResponderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ByName(name) => write!(f, "byName \"{name}\""),
            Self::ByKey(key_hash) => write!(f, "byKey {}", hex::encode(key_hash)),
        }
    }
}

/// One extension of a response or of a SingleResponse.
#[derive(Clone, Debug)]
pub(super) struct ResponseExtension {
    pub oid: rasn::types::ObjectIdentifier,
    pub critical: bool,
    /// Contents of extnValue.
    pub value: Vec<u8>,
}

/// SingleResponse (RFC 6960 section 4.2.1) with its times converted.
#[derive(Clone, Debug)]
pub(super) struct SingleResponse {
    pub cert_id: rasn_ocsp::CertId,
    pub cert_status: OcspStatus,
    pub this_update: SystemTime,
    pub next_update: Option<SystemTime>,
    pub single_extensions: Vec<ResponseExtension>,
}

/// The outer fields of a BasicOCSPResponse (RFC 6960 section 4.2.1), decoded with `der` so
/// that tbsResponseData and each certificate stay the exact bytes received.
#[derive(der::Sequence)]
struct BasicOcspResponseParts<'a> {
    tbs_response_data: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<AnyRef<'a>>>,
}

/// An OCSP response as received: decoded, with nothing checked. It provides no certificate
/// status until [`DecodedOcspResponse::verify`] turns it into a
/// [`VerifiedOcspResponse`](super::VerifiedOcspResponse).
#[derive(Clone, Debug)]
pub struct DecodedOcspResponse {
    responder_url: String,
    basic_der: Vec<u8>,
    tbs: Range<usize>,
    responder_id: ResponderId,
    produced_at: SystemTime,
    responses: Vec<SingleResponse>,
    response_extensions: Vec<ResponseExtension>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    certs: Vec<ParsedCertificate>,
}

impl DecodedOcspResponse {
    /// Decodes a DER OCSPResponse. `responder_url` names where it came from, for messages.
    ///
    /// Fails unless responseStatus is successful and responseBytes contains a BasicOCSPResponse,
    /// because any other response carries no certificate status.
    pub fn from_der(der: &[u8], responder_url: &str) -> Result<Self, OcspError> {
        let decode_error = |detail: String| OcspError::Decode {
            responder_url: responder_url.to_owned(),
            detail,
        };

        // rasn's DER decoder also rejects bytes after the OCSPResponse.
        let response: rasn_ocsp::OcspResponse = rasn::der::decode(der)
            .map_err(|error| decode_error(format!("OCSPResponse: {error}")))?;

        let status = ResponseStatus::from_asn1(response.status);
        if status != ResponseStatus::Successful {
            return Err(OcspError::UnsuccessfulStatus {
                responder_url: responder_url.to_owned(),
                status,
            });
        }
        let Some(response_bytes) = response.bytes else {
            return Err(OcspError::MissingResponseBytes {
                responder_url: responder_url.to_owned(),
            });
        };
        if *response_bytes.r#type != *ID_PKIX_OCSP_BASIC {
            return Err(OcspError::UnsupportedResponseType {
                responder_url: responder_url.to_owned(),
                oid: dotted(&response_bytes.r#type),
            });
        }

        Self::from_basic_der(&response_bytes.response, responder_url)
    }

    /// Decodes the BasicOCSPResponse inside responseBytes.
    fn from_basic_der(basic_der: &[u8], responder_url: &str) -> Result<Self, OcspError> {
        let decode_error = |detail: String| OcspError::Decode {
            responder_url: responder_url.to_owned(),
            detail,
        };

        let parts: BasicOcspResponseParts<'_> = der::Decode::from_der(basic_der)
            .map_err(|error| decode_error(format!("BasicOCSPResponse: {error}")))?;
        let tbs = encoding::signed_part_range(basic_der)
            .map_err(|error| decode_error(format!("BasicOCSPResponse: {error}")))?;

        let response_data: rasn_ocsp::ResponseData = rasn::der::decode(&basic_der[tbs.clone()])
            .map_err(|error| decode_error(format!("tbsResponseData: {error}")))?;
        // RFC 6960 section 4.2.2.1 defines only v1.
        if response_data.version != rasn::types::Integer::ZERO {
            return Err(OcspError::UnsupportedVersion {
                responder_url: responder_url.to_owned(),
                version: response_data.version.to_string(),
            });
        }

        let mut certs = Vec::new();
        for (position, cert) in parts.certs.iter().flatten().enumerate() {
            // der decodes DER strictly, so encoding the element again yields the bytes received.
            let cert_der = cert
                .to_der()
                .map_err(|error| decode_error(format!("certs: {error}")))?;
            let parsed = ParsedCertificate::from_der(&cert_der).map_err(|error| {
                OcspError::MalformedCertificate {
                    responder_url: responder_url.to_owned(),
                    position: position + 1,
                    error,
                }
            })?;
            certs.push(parsed);
        }

        let responder_id = match response_data.responder_id {
            rasn_ocsp::ResponderId::ByName(name) => ResponderId::ByName(
                convert_name(&name)
                    .map_err(|detail| decode_error(format!("responderID: {detail}")))?,
            ),
            rasn_ocsp::ResponderId::ByKey(key_hash) => ResponderId::ByKey(key_hash.to_vec()),
        };
        let time_error = |field: &str| decode_error(format!("{field} is out of range"));
        let produced_at =
            system_time(&response_data.produced_at).ok_or_else(|| time_error("producedAt"))?;

        let mut responses = Vec::with_capacity(response_data.responses.len());
        for single in response_data.responses {
            let this_update =
                system_time(&single.this_update).ok_or_else(|| time_error("thisUpdate"))?;
            let next_update = match &single.next_update {
                Some(time) => Some(system_time(time).ok_or_else(|| time_error("nextUpdate"))?),
                None => None,
            };
            let cert_status = match single.cert_status {
                rasn_ocsp::CertStatus::Good => OcspStatus::Good,
                rasn_ocsp::CertStatus::Revoked(info) => OcspStatus::Revoked {
                    revocation_time: system_time(&info.revocation_time)
                        .ok_or_else(|| time_error("revocationTime"))?,
                    reason: info.revocation_reason.map(revocation_reason),
                },
                rasn_ocsp::CertStatus::Unknown(()) => OcspStatus::Unknown,
            };
            responses.push(SingleResponse {
                cert_id: single.cert_id,
                cert_status,
                this_update,
                next_update,
                single_extensions: convert_extensions(single.single_extensions),
            });
        }

        Ok(Self {
            responder_url: responder_url.to_owned(),
            basic_der: basic_der.to_vec(),
            tbs,
            responder_id,
            produced_at,
            responses,
            response_extensions: convert_extensions(response_data.response_extensions),
            signature_algorithm: parts.signature_algorithm,
            signature: parts.signature,
            certs,
        })
    }

    /// Returns where the response came from.
    pub fn responder_url(&self) -> &str {
        &self.responder_url
    }

    /// Returns the DER bytes of `tbsResponseData` exactly as received, which the signature
    /// covers.
    pub(super) fn tbs_bytes(&self) -> &[u8] {
        &self.basic_der[self.tbs.clone()]
    }

    pub(super) fn responder_id(&self) -> &ResponderId {
        &self.responder_id
    }

    pub(super) fn produced_at(&self) -> SystemTime {
        self.produced_at
    }

    pub(super) fn responses(&self) -> &[SingleResponse] {
        &self.responses
    }

    pub(super) fn response_extensions(&self) -> &[ResponseExtension] {
        &self.response_extensions
    }

    pub(super) fn signature_algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.signature_algorithm
    }

    pub(super) fn signature(&self) -> &BitString {
        &self.signature
    }

    /// Returns the certificates of the `certs` field, in order.
    pub(super) fn certs(&self) -> &[ParsedCertificate] {
        &self.certs
    }

    /// Returns the CertIDs of the SingleResponses, in order, without those whose hash
    /// algorithm revcheck does not support.
    pub(super) fn cert_ids(&self) -> Vec<CertId> {
        self.responses
            .iter()
            .filter_map(|single| {
                let hash_algorithm = HashAlgorithm::from_asn1(&single.cert_id.hash_algorithm)?;
                let serial =
                    Serial::from_der_content(&serial_content(&single.cert_id.serial_number));
                Some(CertId::from_parts(
                    hash_algorithm,
                    single.cert_id.issuer_name_hash.to_vec(),
                    single.cert_id.issuer_key_hash.to_vec(),
                    serial,
                ))
            })
            .collect()
    }
}

/// Formats an object identifier in dotted decimal, such as `1.3.6.1.5.5.7.48.1.2`.
pub(super) fn dotted(oid: &rasn::types::Oid) -> String {
    let arcs: Vec<String> = oid.iter().map(u32::to_string).collect();
    arcs.join(".")
}

/// Converts a rasn Name into an x509-cert Name through its DER, so that names compare with
/// the rules of [`crate::x509::names_match`].
fn convert_name(name: &rasn_pkix::Name) -> Result<Name, String> {
    let name_der = rasn::der::encode(name).map_err(|error| error.to_string())?;
    der::Decode::from_der(&name_der).map_err(|error: der::Error| error.to_string())
}

fn convert_extensions(extensions: Option<rasn_pkix::Extensions>) -> Vec<ResponseExtension> {
    extensions
        .map(|extensions| {
            extensions
                .iter()
                .map(|extension| ResponseExtension {
                    oid: extension.extn_id.clone(),
                    critical: extension.critical,
                    value: extension.extn_value.to_vec(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Converts a GeneralizedTime to a `SystemTime`; `None` when it lies outside what
/// `SystemTime` can hold.
fn system_time(time: &rasn::types::GeneralizedTime) -> Option<SystemTime> {
    let seconds = time.timestamp();
    let whole_seconds = Duration::from_secs(seconds.unsigned_abs());
    let at_second = if seconds >= 0 {
        UNIX_EPOCH.checked_add(whole_seconds)?
    } else {
        UNIX_EPOCH.checked_sub(whole_seconds)?
    };
    at_second.checked_add(Duration::from_nanos(time.timestamp_subsec_nanos().into()))
}

fn revocation_reason(reason: rasn_pkix::CrlReason) -> RevocationReason {
    use rasn_pkix::CrlReason;
    match reason {
        CrlReason::Unspecified => RevocationReason::Unspecified,
        CrlReason::KeyCompromise => RevocationReason::KeyCompromise,
        CrlReason::CaCompromise => RevocationReason::CaCompromise,
        CrlReason::AffiliationChanged => RevocationReason::AffiliationChanged,
        CrlReason::Superseded => RevocationReason::Superseded,
        CrlReason::CessationOfOperation => RevocationReason::CessationOfOperation,
        CrlReason::CertificateHold => RevocationReason::CertificateHold,
        CrlReason::RemoveFromCRL => RevocationReason::RemoveFromCrl,
        CrlReason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        CrlReason::AaCompromise => RevocationReason::AaCompromise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{OcspResponseBuilder, SingleResponseSpec, TestCa};

    const RESPONDER_URL: &str = "http://127.0.0.1:9000/ocsp";

    fn decode_error(der: &[u8]) -> OcspError {
        let error = DecodedOcspResponse::from_der(der, RESPONDER_URL)
            .expect_err("response must be rejected");
        let message = error.to_string();
        assert!(message.contains(RESPONDER_URL), "{message}");
        error
    }

    /// Every status but successful carries no certificate status, so each is an error of its
    /// own that the status layer treats as undetermined.
    #[test]
    fn error_statuses_rejected() {
        let ca = TestCa::root("Status CA").expect("test CA");
        for (status, name, reason_code) in [
            (
                ResponseStatus::MalformedRequest,
                "malformedRequest",
                "ocsp_malformed_request",
            ),
            (
                ResponseStatus::InternalError,
                "internalError",
                "ocsp_internal_error",
            ),
            (ResponseStatus::TryLater, "tryLater", "ocsp_try_later"),
            (
                ResponseStatus::SigRequired,
                "sigRequired",
                "ocsp_sig_required",
            ),
            (
                ResponseStatus::Unauthorized,
                "unauthorized",
                "ocsp_unauthorized",
            ),
        ] {
            let der = OcspResponseBuilder::new()
                .response_status(status)
                .build(&ca)
                .expect("response builds");

            let error = decode_error(&der);

            let OcspError::UnsuccessfulStatus {
                status: reported, ..
            } = &error
            else {
                panic!("{name}: expected UnsuccessfulStatus, got {error:?}");
            };
            assert_eq!(*reported, status);
            assert_eq!(error.reason_code(), reason_code);
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn missing_response_bytes_rejected() {
        let ca = TestCa::root("No Bytes CA").expect("test CA");
        let der = OcspResponseBuilder::new()
            .without_response_bytes()
            .build(&ca)
            .expect("response builds");

        let error = decode_error(&der);

        assert!(
            matches!(error, OcspError::MissingResponseBytes { .. }),
            "{error:?}"
        );
        assert_eq!(error.reason_code(), "ocsp_malformed");
    }

    #[test]
    fn other_response_type_rejected() {
        let ca = TestCa::root("Response Type CA").expect("test CA");
        let der = OcspResponseBuilder::new()
            .response_type(&[1, 3, 6, 1, 5, 5, 7, 48, 1, 99])
            .build(&ca)
            .expect("response builds");

        let error = decode_error(&der);

        let OcspError::UnsupportedResponseType { oid, .. } = &error else {
            panic!("expected UnsupportedResponseType, got {error:?}");
        };
        assert_eq!(oid, "1.3.6.1.5.5.7.48.1.99");
        assert_eq!(error.reason_code(), "ocsp_unsupported");
    }

    #[test]
    fn garbage_rejected() {
        for der in [&b""[..], b"\x30\x03\x0a\x01", b"<html>not found</html>"] {
            let error = decode_error(der);
            assert!(matches!(error, OcspError::Decode { .. }), "{error:?}");
        }
    }

    #[test]
    fn trailing_bytes_rejected() {
        let ca = TestCa::root("Trailing CA").expect("test CA");
        let mut der = OcspResponseBuilder::new()
            .build(&ca)
            .expect("response builds");
        der.push(0x00);

        let error = decode_error(&der);

        assert!(matches!(error, OcspError::Decode { .. }), "{error:?}");
    }

    #[test]
    fn undecodable_certificate_rejected() {
        let ca = TestCa::root("Bad Certs CA").expect("test CA");
        let der = OcspResponseBuilder::new()
            .cert(ca.cert_der())
            .cert(&[0x30, 0x03, 0x02, 0x01, 0x05])
            .build(&ca)
            .expect("response builds");

        let error = decode_error(&der);

        let OcspError::MalformedCertificate { position, .. } = &error else {
            panic!("expected MalformedCertificate, got {error:?}");
        };
        assert_eq!(*position, 2);
    }

    #[test]
    fn cert_ids_list_supported_responses() {
        let ca = TestCa::root("CertIDs CA").expect("test CA");
        let sha1_id = CertId::from_parts(
            HashAlgorithm::Sha1,
            vec![0x11; 20],
            vec![0x22; 20],
            Serial::from_der_content(&[0x00, 0x80, 0x01]),
        );
        let sha256_id = CertId::from_parts(
            HashAlgorithm::Sha256,
            vec![0x33; 32],
            vec![0x44; 32],
            Serial::from_der_content(&[0x05]),
        );
        let der = OcspResponseBuilder::new()
            .response(SingleResponseSpec::new(
                sha1_id.clone(),
                OcspStatus::Good,
                crate::fixtures::not_before(),
                None,
            ))
            .response(SingleResponseSpec::new(
                sha256_id.clone(),
                OcspStatus::Unknown,
                crate::fixtures::not_before(),
                None,
            ))
            .build(&ca)
            .expect("response builds");

        let decoded = DecodedOcspResponse::from_der(&der, RESPONDER_URL).expect("decodes");

        assert_eq!(decoded.cert_ids(), vec![sha1_id, sha256_id]);
    }

    #[test]
    fn certs_keep_exact_bytes() {
        let ca = TestCa::root("Exact Certs CA").expect("test CA");
        let der = OcspResponseBuilder::new()
            .cert(ca.cert_der())
            .build(&ca)
            .expect("response builds");

        let decoded = DecodedOcspResponse::from_der(&der, RESPONDER_URL).expect("decodes");

        assert_eq!(decoded.certs().len(), 1);
        assert_eq!(decoded.certs()[0].der(), ca.cert_der());
        assert_eq!(decoded.responder_url(), RESPONDER_URL);
    }
}
