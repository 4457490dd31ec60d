//! Reasons a CRL is rejected. Every variant names the CRL's origin (its source URL or file) so
//! that an operator can find the CRL the message is about.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;

use crate::x509::encoding::EncodingError;
use crate::x509::time::format_rfc3339;
use crate::x509::{Serial, SignatureError};

#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// The bytes are neither a DER CRL nor PEM with an `X509 CRL` block.
    #[error("CRL from {origin} is not PEM or DER: {error}")]
    Encoding {
        origin: String,
        error: EncodingError,
    },

    /// The DER does not decode as an RFC 5280 CertificateList.
    #[error("CRL from {origin} cannot be decoded: {error}")]
    Decode { origin: String, error: der::Error },

    /// The version field is present but is not v2 (RFC 5280 section 5.1.2.1).
    #[error(
        "CRL from {origin} has version field value {value}, but a CRL that carries the field \
         must be v2 (value 1)"
    )]
    InvalidVersion { origin: String, value: u8 },

    /// A CRL or CRL entry extension revcheck reads is malformed or repeated.
    #[error("CRL from {origin} has a malformed {oid} extension: {detail}")]
    MalformedExtension {
        origin: String,
        oid: ObjectIdentifier,
        detail: String,
    },

    /// The CRL issuer is not the certification authority it was checked against.
    #[error(
        "CRL from {origin} is issued by \"{crl_issuer}\", not by the expected CA \"{expected}\""
    )]
    IssuerMismatch {
        origin: String,
        crl_issuer: String,
        expected: String,
    },

    /// A separate CRL signer's subject differs from the CRL issuer name.
    #[error(
        "CRL from {origin} names issuer \"{crl_issuer}\" but its signer certificate is for \"{signer}\""
    )]
    SignerNameMismatch {
        origin: String,
        crl_issuer: String,
        signer: String,
    },

    /// The signing certificate has a key usage extension without cRLSign.
    #[error("CRL from {origin} is signed by {signer}, whose key usage does not allow cRLSign")]
    SignerLacksCrlSign { origin: String, signer: String },

    /// The CRL's authority key identifier differs from the signer's subject key identifier.
    #[error(
        "CRL from {origin} has authority key identifier {crl_key_id}, but the signer's subject \
         key identifier is {signer_key_id}"
    )]
    AuthorityKeyIdMismatch {
        origin: String,
        crl_key_id: String,
        signer_key_id: String,
    },

    /// The signature is invalid or cannot be checked.
    #[error("CRL from {origin} failed signature verification: {error}")]
    Signature {
        origin: String,
        error: SignatureError,
    },

    /// thisUpdate is later than now plus the allowed clock skew.
    #[error(
        "CRL from {origin} is not valid yet: thisUpdate is {}, later than now ({}) plus the clock skew",
        format_rfc3339(*this_update),
        format_rfc3339(*now)
    )]
    NotYetValid {
        origin: String,
        this_update: SystemTime,
        now: SystemTime,
    },

    /// nextUpdate has passed.
    #[error(
        "CRL from {origin} expired: nextUpdate was {}, now is {}; the source must publish a newer CRL",
        format_rfc3339(*next_update),
        format_rfc3339(*now)
    )]
    Expired {
        origin: String,
        next_update: SystemTime,
        now: SystemTime,
    },

    /// The CRL has no nextUpdate, so its end of validity is unknown.
    #[error("CRL from {origin} has no nextUpdate, so its freshness cannot be judged")]
    MissingNextUpdate { origin: String },

    /// A critical CRL extension revcheck does not implement.
    #[error("CRL from {origin} has an unknown critical extension {oid}")]
    UnknownCriticalExtension {
        origin: String,
        oid: ObjectIdentifier,
    },

    /// A critical CRL entry extension revcheck does not implement.
    #[error(
        "CRL from {origin} has an unknown critical extension {oid} in the entry for serial {serial}"
    )]
    UnknownCriticalEntryExtension {
        origin: String,
        serial: Serial,
        oid: ObjectIdentifier,
    },

    /// A certificateIssuer entry extension in a CRL that is not indirect (RFC 5280 section
    /// 5.3.3), which would otherwise be read as revoking the CRL issuer's own certificates.
    #[error(
        "CRL from {origin} has a certificateIssuer entry extension for serial {serial}, but its \
         issuing distribution point does not set indirectCRL"
    )]
    CertificateIssuerInDirectCrl { origin: String, serial: Serial },

    /// No cRLNumber extension (RFC 5280 section 5.2.3 makes it mandatory).
    #[error("CRL from {origin} has no cRLNumber extension; conforming CAs include one")]
    MissingCrlNumber { origin: String },
}

impl CrlError {
    /// Returns a short, stable reason code for JSON bodies and metrics labels.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Encoding { .. }
            | Self::Decode { .. }
            | Self::InvalidVersion { .. }
            | Self::MalformedExtension { .. } => "crl_malformed",
            Self::IssuerMismatch { .. } => "crl_issuer_mismatch",
            Self::SignerNameMismatch { .. }
            | Self::SignerLacksCrlSign { .. }
            | Self::AuthorityKeyIdMismatch { .. } => "crl_signer_invalid",
            Self::Signature { .. } => "crl_signature_invalid",
            Self::NotYetValid { .. } => "crl_not_yet_valid",
            Self::Expired { .. } => "crl_expired",
            Self::MissingNextUpdate { .. } => "crl_missing_next_update",
            Self::UnknownCriticalExtension { .. } | Self::UnknownCriticalEntryExtension { .. } => {
                "crl_unknown_critical_extension"
            }
            Self::CertificateIssuerInDirectCrl { .. } | Self::MissingCrlNumber { .. } => {
                "crl_malformed"
            }
        }
    }
}
