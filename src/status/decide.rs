//! The verdict for one serial number from the verified CRLs of its issuer.

use std::time::SystemTime;

use serde::Serialize;

use crate::crl::{RevocationReason, VerifiedCrl};
use crate::x509::Serial;

/// The status values of the HTTP API and of `revcheck check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    Good,
    Revoked,
    Unknown,
}

impl CertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Revoked => "revoked",
            Self::Unknown => "unknown",
        }
    }
}

/// The reason a status is undetermined. Clients and metrics rely on the codes, so they are stable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownReason {
    /// Short machine-readable code, such as `no_crl` or `crl_expired`.
    pub code: &'static str,
    /// A sentence for people.
    pub detail: String,
}

impl UnknownReason {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// The outcome of a revocation check, with the CRL data that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// At least one current, verified CRL covers the certificate and none lists it.
    Good {
        this_update: SystemTime,
        next_update: SystemTime,
    },
    /// A current, verified CRL lists the serial number.
    Revoked {
        revocation_time: SystemTime,
        reason: Option<RevocationReason>,
        this_update: SystemTime,
        next_update: SystemTime,
    },
    /// No current, verified CRL is available, so the status is undetermined (fail closed).
    Unknown(UnknownReason),
}

impl Decision {
    pub fn status(&self) -> CertStatus {
        match self {
            Self::Good { .. } => CertStatus::Good,
            Self::Revoked { .. } => CertStatus::Revoked,
            Self::Unknown(_) => CertStatus::Unknown,
        }
    }
}

/// Decides the status of `serial` from the verified CRLs of its issuer, as of `now`.
///
/// Every CRL passed in must cover the certificate in full (revcheck rejects partitioned and
/// delta CRLs at verification). CRLs whose nextUpdate has passed are not used. When several
/// current CRLs disagree, for example a mirror that has not caught up, a listing in any of them
/// wins: revocation is never undone by an older copy that lacks the entry.
pub fn decide(crls: &[&VerifiedCrl], serial: &Serial, now: SystemTime) -> Decision {
    let current: Vec<&VerifiedCrl> = crls
        .iter()
        .copied()
        .filter(|crl| !crl.is_expired_at(now))
        .collect();

    let Some(newest) = current.iter().max_by_key(|crl| crl.this_update()) else {
        return match crls.iter().max_by_key(|crl| crl.next_update()) {
            Some(latest) => Decision::Unknown(UnknownReason::new(
                "crl_expired",
                format!(
                    "the newest CRL (from {}) passed its nextUpdate {}",
                    latest.origin(),
                    crate::x509::time::format_rfc3339(latest.next_update())
                ),
            )),
            None => Decision::Unknown(UnknownReason::new(
                "no_crl",
                "no verified CRL is available for the issuer",
            )),
        };
    };

    let listing = current
        .iter()
        .filter_map(|crl| crl.revoked_entry(serial).map(|entry| (crl, entry)))
        .min_by_key(|(_, entry)| entry.revocation_time);
    match listing {
        Some((crl, entry)) => Decision::Revoked {
            revocation_time: entry.revocation_time,
            reason: entry.reason,
            this_update: crl.this_update(),
            next_update: crl.next_update(),
        },
        None => Decision::Good {
            this_update: newest.this_update(),
            next_update: newest.next_update(),
        },
    }
}
