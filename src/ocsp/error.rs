//! Reasons an OCSP exchange gives no usable status. Every variant that concerns a response
//! names the responder URL, so that an operator can find the responder the message is about.

use std::time::SystemTime;

use super::ResponseStatus;
use crate::source::FetchError;
use crate::x509::time::format_rfc3339;
use crate::x509::{CertificateError, Serial, SignatureError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The request could not be encoded.
    #[error("OCSP request for serial {serial} cannot be encoded: {detail}")]
    RequestEncoding { serial: Serial, detail: String },

    /// No responder URL is configured, so no request was sent.
    #[error(
        "no OCSP responder URL is configured to request the status of serial {serial}; add \
         the CA's responder URLs or check this CA by CRL"
    )]
    NoResponder { serial: Serial },

    /// The HTTP exchange with the responder failed.
    #[error("OCSP request to {responder_url} failed: {error}")]
    Fetch {
        responder_url: String,
        #[source]
        error: FetchError,
    },

    /// The bytes do not decode as an RFC 6960 OCSPResponse.
    #[error("OCSP response from {responder_url} cannot be decoded: {detail}")]
    Decode {
        responder_url: String,
        detail: String,
    },

    /// responseStatus is not successful, so the response carries no certificate status.
    #[error("OCSP responder {responder_url} answered with status {status} instead of successful")]
    UnsuccessfulStatus {
        responder_url: String,
        status: ResponseStatus,
    },

    /// A successful response without responseBytes, which RFC 6960 section 4.2.1 forbids.
    #[error("OCSP response from {responder_url} is successful but has no responseBytes")]
    MissingResponseBytes { responder_url: String },

    /// responseBytes contains a response type other than id-pkix-ocsp-basic.
    #[error(
        "OCSP response from {responder_url} has response type {oid}; only id-pkix-ocsp-basic \
         (1.3.6.1.5.5.7.48.1.1) is supported"
    )]
    UnsupportedResponseType { responder_url: String, oid: String },

    /// tbsResponseData has a version other than v1.
    #[error("OCSP response from {responder_url} has version {version}; only v1 (0) is supported")]
    UnsupportedVersion {
        responder_url: String,
        version: String,
    },

    /// A certificate in the `certs` field does not decode.
    #[error(
        "OCSP response from {responder_url} has a certificate at position {position} of certs \
         that cannot be decoded: {error}"
    )]
    MalformedCertificate {
        responder_url: String,
        position: usize,
        error: CertificateError,
    },

    /// A response or SingleResponse extension that revcheck reads is malformed or repeated.
    #[error("OCSP response from {responder_url} has a malformed {oid} extension: {detail}")]
    MalformedExtension {
        responder_url: String,
        oid: String,
        detail: String,
    },

    /// Neither the CA nor any certificate in `certs` matches the ResponderID.
    #[error(
        "OCSP response from {responder_url} names responder {responder_id}, which is neither \
         the CA \"{issuer}\" nor a certificate included in the response"
    )]
    SignerNotFound {
        responder_url: String,
        responder_id: String,
        issuer: String,
    },

    /// The responder certificate was not issued by the CA of the certificate in question
    /// (RFC 6960 section 4.2.2.2), or its signature does not verify with the CA's key.
    #[error(
        "OCSP response from {responder_url} is signed by {delegate}, which was not issued by \
         the CA \"{issuer}\": {detail}"
    )]
    DelegateNotIssuedByCa {
        responder_url: String,
        delegate: String,
        issuer: String,
        detail: String,
    },

    /// The responder certificate lacks id-kp-OCSPSigning in its extended key usage, so the
    /// CA did not authorize it to sign OCSP responses (RFC 6960 section 4.2.2.2).
    #[error(
        "OCSP response from {responder_url} is signed by {delegate}, whose extended key usage \
         does not include id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9)"
    )]
    DelegateLacksOcspSigning {
        responder_url: String,
        delegate: String,
    },

    /// The responder certificate has a key usage extension without digitalSignature
    /// (RFC 5280 section 4.2.1.3), so its key may not sign responses.
    #[error(
        "OCSP response from {responder_url} is signed by {delegate}, whose key usage does not \
         allow digitalSignature"
    )]
    DelegateLacksDigitalSignature {
        responder_url: String,
        delegate: String,
    },

    /// The responder certificate is outside its validity period.
    #[error(
        "OCSP response from {responder_url} is signed by {delegate}, which is valid from {} to \
         {}, not now ({})",
        format_rfc3339(*not_before),
        format_rfc3339(*not_after),
        format_rfc3339(*now)
    )]
    DelegateNotValidNow {
        responder_url: String,
        delegate: String,
        not_before: SystemTime,
        not_after: SystemTime,
        now: SystemTime,
    },

    /// The signature over tbsResponseData is invalid or cannot be checked.
    #[error(
        "OCSP response from {responder_url} failed signature verification with the key of \
         {signer}: {error}"
    )]
    Signature {
        responder_url: String,
        signer: String,
        error: SignatureError,
    },

    /// No SingleResponse has the CertID of the request.
    #[error(
        "OCSP response from {responder_url} has {responses} SingleResponse(s), none for the \
         requested CertID (serial {serial})"
    )]
    NoMatchingResponse {
        responder_url: String,
        serial: Serial,
        responses: usize,
    },

    /// Two SingleResponses for the requested CertID give different statuses.
    #[error(
        "OCSP response from {responder_url} has SingleResponses for serial {serial} that \
         disagree: {first} and {second}"
    )]
    ConflictingResponses {
        responder_url: String,
        serial: Serial,
        first: &'static str,
        second: &'static str,
    },

    /// thisUpdate is later than now plus the allowed clock skew.
    #[error(
        "OCSP response from {responder_url} is not valid yet: thisUpdate is {}, later than now \
         ({}) plus the clock skew",
        format_rfc3339(*this_update),
        format_rfc3339(*now)
    )]
    NotYetValid {
        responder_url: String,
        this_update: SystemTime,
        now: SystemTime,
    },

    /// nextUpdate, or thisUpdate plus the configured maximum age, has passed.
    #[error(
        "OCSP response from {responder_url} expired: it was valid until {}, now is {}",
        format_rfc3339(*next_update),
        format_rfc3339(*now)
    )]
    Expired {
        responder_url: String,
        next_update: SystemTime,
        now: SystemTime,
    },

    /// The SingleResponse has no nextUpdate and no maximum age is configured.
    #[error(
        "OCSP response from {responder_url} has no nextUpdate, so its freshness cannot be \
         judged; set max_age_without_next_update for this CA to accept it for a limited time"
    )]
    MissingNextUpdate { responder_url: String },

    /// A critical responseExtension revcheck does not implement.
    #[error("OCSP response from {responder_url} has an unknown critical extension {oid}")]
    UnknownCriticalExtension { responder_url: String, oid: String },

    /// A critical singleExtension revcheck does not implement, in the SingleResponse for the
    /// requested certificate.
    #[error(
        "OCSP response from {responder_url} has an unknown critical extension {oid} in the \
         SingleResponse for serial {serial}"
    )]
    UnknownCriticalSingleExtension {
        responder_url: String,
        serial: Serial,
        oid: String,
    },

    /// A nonce was sent but the response does not echo one, so it may be a replay. `sent` is
    /// the nonce extension value in hex.
    #[error(
        "OCSP response from {responder_url} has no nonce, but the request sent the nonce \
         extension value {sent}; disable the nonce for responders that serve pre-produced \
         responses"
    )]
    NonceMissing { responder_url: String, sent: String },

    /// The response echoes a nonce other than the one sent. Both values are nonce extension
    /// values in hex.
    #[error(
        "OCSP response from {responder_url} has the nonce extension value {received}, but the \
         request sent {sent}"
    )]
    NonceMismatch {
        responder_url: String,
        sent: String,
        received: String,
    },
}

impl OcspError {
    /// Returns a short, stable reason code for JSON bodies and metrics labels.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::RequestEncoding { .. } => "ocsp_request_invalid",
            Self::NoResponder { .. } => "ocsp_no_responder",
            Self::Fetch { .. } => "ocsp_fetch_failed",
            Self::Decode { .. }
            | Self::MissingResponseBytes { .. }
            | Self::MalformedCertificate { .. }
            | Self::MalformedExtension { .. } => "ocsp_malformed",
            Self::UnsuccessfulStatus { status, .. } => match status {
                ResponseStatus::MalformedRequest => "ocsp_malformed_request",
                ResponseStatus::InternalError => "ocsp_internal_error",
                ResponseStatus::TryLater => "ocsp_try_later",
                ResponseStatus::SigRequired => "ocsp_sig_required",
                ResponseStatus::Unauthorized => "ocsp_unauthorized",
                // Not produced: a successful status is never an error.
                ResponseStatus::Successful => "ocsp_malformed",
            },
            Self::UnsupportedResponseType { .. } | Self::UnsupportedVersion { .. } => {
                "ocsp_unsupported"
            }
            Self::SignerNotFound { .. }
            | Self::DelegateNotIssuedByCa { .. }
            | Self::DelegateLacksOcspSigning { .. }
            | Self::DelegateLacksDigitalSignature { .. }
            | Self::DelegateNotValidNow { .. } => "ocsp_signer_invalid",
            Self::Signature { .. } => "ocsp_signature_invalid",
            Self::NoMatchingResponse { .. } => "ocsp_no_matching_response",
            Self::ConflictingResponses { .. } => "ocsp_conflicting_responses",
            Self::NotYetValid { .. } => "ocsp_not_yet_valid",
            Self::Expired { .. } => "ocsp_expired",
            Self::MissingNextUpdate { .. } => "ocsp_missing_next_update",
            Self::UnknownCriticalExtension { .. } | Self::UnknownCriticalSingleExtension { .. } => {
                "ocsp_unknown_critical_extension"
            }
            Self::NonceMissing { .. } | Self::NonceMismatch { .. } => "ocsp_nonce_mismatch",
        }
    }
}
