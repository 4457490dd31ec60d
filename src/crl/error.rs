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

    /// A time field breaks the encoding rules of RFC 5280 section 5.1.2.4.
    #[error("CRL from {origin} has an invalid {field} \"{value}\": {rule}")]
    InvalidTime {
        origin: String,
        field: String,
        value: String,
        rule: &'static str,
    },
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

    /// A separate CRL signer whose own status or path does not check out.
    #[error("CRL from {origin} is signed by {signer}, which cannot be trusted: {detail}")]
    SignerUntrusted {
        origin: String,
        signer: String,
        detail: String,
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
    #[error(
        "CRL from {origin} has no nextUpdate, so its freshness cannot be judged; set \
         max_age_without_next_update for this CA to accept it for a limited time"
    )]
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

    /// A CRL whose number is lower than one already accepted for the same CA and scope, which is
    /// what a replayed old CRL looks like (RFC 5280 section 5.2.3: numbers increase).
    #[error(
        "CRL from {origin} has CRL number {number}, lower than {highest} already accepted for \
         this CA and scope; the older CRL is rejected"
    )]
    CrlNumberRegressed {
        origin: String,
        number: String,
        highest: String,
    },

    /// An entry's serial number has more than 21 content octets, more than the index stores.
    /// RFC 5280 section 4.1.2.2 allows 20 octets, and a positive 20-octet number whose top bit
    /// is set takes a 21st. x509-cert 0.2 already rejects longer serials while decoding.
    #[error(
        "CRL from {origin} lists serial {serial}, which has {} content octets; RFC 5280 allows \
         at most 20, plus a leading zero octet when the top bit is set",
        .serial.as_bytes().len()
    )]
    SerialTooLong { origin: String, serial: Serial },

    /// No cRLNumber extension (RFC 5280 section 5.2.3 makes it mandatory).
    #[error("CRL from {origin} has no cRLNumber extension; conforming CAs include one")]
    MissingCrlNumber { origin: String },
}

impl CrlError {
    /// Checks whether the error says that the certificate tried as the signer did not sign the
    /// CRL, so that another certificate for the same name may still verify it.
    pub fn is_signer_problem(&self) -> bool {
        matches!(
            self,
            Self::Signature { .. }
                | Self::AuthorityKeyIdMismatch { .. }
                | Self::SignerLacksCrlSign { .. }
        )
    }

    /// Returns a short, stable reason code for JSON bodies and metrics labels.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Encoding { .. }
            | Self::Decode { .. }
            | Self::InvalidTime { .. }
            | Self::InvalidVersion { .. }
            | Self::MalformedExtension { .. } => "crl_malformed",
            Self::IssuerMismatch { .. } => "crl_issuer_mismatch",
            Self::SignerNameMismatch { .. }
            | Self::SignerUntrusted { .. }
            | Self::SignerLacksCrlSign { .. }
            | Self::AuthorityKeyIdMismatch { .. } => "crl_signer_invalid",
            Self::Signature { .. } => "crl_signature_invalid",
            Self::NotYetValid { .. } => "crl_not_yet_valid",
            Self::Expired { .. } => "crl_expired",
            Self::MissingNextUpdate { .. } => "crl_missing_next_update",
            Self::UnknownCriticalExtension { .. } | Self::UnknownCriticalEntryExtension { .. } => {
                "crl_unknown_critical_extension"
            }
            Self::CertificateIssuerInDirectCrl { .. }
            | Self::SerialTooLong { .. }
            | Self::MissingCrlNumber { .. } => "crl_malformed",
            Self::CrlNumberRegressed { .. } => "crl_number_regressed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_too_long_is_malformed() {
        let error = CrlError::SerialTooLong {
            origin: "http://127.0.0.1:9000/ca.crl".to_owned(),
            serial: Serial::from_der_content(&[0x01; 22]),
        };
        let message = error.to_string();

        assert_eq!(error.reason_code(), "crl_malformed");
        assert!(
            message.contains("http://127.0.0.1:9000/ca.crl"),
            "{message}"
        );
        assert!(message.contains("has 22 content octets"), "{message}");
    }
}
