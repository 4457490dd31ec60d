//! The index of revoked serial numbers built from one verified CRL.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::x509::Serial;

/// CRLReason (RFC 5280 section 5.3.1), named in snake case for JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "key_compromise",
            Self::CaCompromise => "ca_compromise",
            Self::AffiliationChanged => "affiliation_changed",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessation_of_operation",
            Self::CertificateHold => "certificate_hold",
            Self::RemoveFromCrl => "remove_from_crl",
            Self::PrivilegeWithdrawn => "privilege_withdrawn",
            Self::AaCompromise => "aa_compromise",
        }
    }
}

impl From<x509_cert::ext::pkix::CrlReason> for RevocationReason {
    fn from(reason: x509_cert::ext::pkix::CrlReason) -> Self {
        use x509_cert::ext::pkix::CrlReason;
        match reason {
            CrlReason::Unspecified => Self::Unspecified,
            CrlReason::KeyCompromise => Self::KeyCompromise,
            CrlReason::CaCompromise => Self::CaCompromise,
            CrlReason::AffiliationChanged => Self::AffiliationChanged,
            CrlReason::Superseded => Self::Superseded,
            CrlReason::CessationOfOperation => Self::CessationOfOperation,
            CrlReason::CertificateHold => Self::CertificateHold,
            CrlReason::RemoveFromCRL => Self::RemoveFromCrl,
            CrlReason::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
            CrlReason::AaCompromise => Self::AaCompromise,
        }
    }
}

/// One revokedCertificates entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    pub revocation_time: SystemTime,
    /// The reasonCode entry extension; absent means unspecified (RFC 5280 section 5.3.1).
    pub reason: Option<RevocationReason>,
    /// The invalidityDate entry extension (RFC 5280 section 5.3.2).
    pub invalidity_date: Option<SystemTime>,
}

/// Revoked serial numbers keyed by the position of their certificate issuer in the CRL's list
/// of entry issuers and by the content octets of their DER INTEGER.
#[derive(Clone, Debug, Default)]
pub struct RevokedIndex {
    entries: HashMap<(usize, Serial), RevokedEntry>,
}

impl RevokedIndex {
    /// Adds an entry. When a serial number is listed twice, the earlier revocation time wins,
    /// because the certificate has been revoked since then either way.
    pub(super) fn insert(&mut self, issuer: usize, serial: Serial, entry: RevokedEntry) {
        self.entries
            .entry((issuer, serial))
            .and_modify(|existing| {
                if entry.revocation_time < existing.revocation_time {
                    *existing = entry;
                }
            })
            .or_insert(entry);
    }

    pub fn get(&self, issuer: usize, serial: &Serial) -> Option<&RevokedEntry> {
        self.entries.get(&(issuer, serial.clone()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
