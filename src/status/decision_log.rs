//! Log lines for revocation verdicts that matter to access control: every revoked
//! certificate, every undetermined status that the CA's policy denies, and every one that
//! `on_unknown = "allow"` lets through. They cover `/v1/status` lookups, which make no access
//! decision of their own, and the revocation step of `/v1/auth`, whose access decision the
//! auth module logs in a line of its own.
//!
//! Each line carries `ca`, `serial`, `fingerprint` (when the lookup had the whole certificate),
//! `reason` and `source`, and never the certificate itself.

use super::authority::Lookup;
use super::decide::{Decision, StatusSource};
use super::policy::Verdict;
use crate::config::UnknownPolicy;

/// Writes one line for `verdict` unless the certificate is good. `first_source` is the first
/// source of the CA's method. An undetermined verdict always carries that source's reason,
/// because [`super::policy::combine`] keeps the first reason when both are undetermined.
pub(super) fn log_verdict(
    ca: &str,
    subject: Lookup<'_>,
    verdict: &Verdict,
    first_source: StatusSource,
    on_unknown: UnknownPolicy,
) {
    let (serial, fingerprint) = match subject {
        Lookup::Serial(serial) => (serial.to_string(), None),
        Lookup::Certificate(certificate) => (
            certificate.serial().to_string(),
            Some(certificate.fingerprint_hex()),
        ),
    };
    let fingerprint = fingerprint.as_deref();

    match &verdict.decision {
        Decision::Good { .. } => {}
        Decision::Revoked { reason, stale, .. } => {
            let source = verdict.source.map_or("none", StatusSource::as_str);
            tracing::warn!(
                ca,
                serial,
                fingerprint,
                reason = "revoked",
                revocation_reason = reason.map(|reason| reason.as_str()),
                source,
                stale,
                "certificate is revoked"
            );
        }
        Decision::Unknown(unknown) => {
            let source = first_source.as_str();
            match on_unknown {
                UnknownPolicy::Deny => tracing::warn!(
                    ca,
                    serial,
                    fingerprint,
                    reason = unknown.code,
                    detail = %unknown.detail,
                    source,
                    on_unknown = "deny",
                    "revocation status is undetermined and on_unknown = \"deny\" denies access"
                ),
                UnknownPolicy::Allow => tracing::warn!(
                    ca,
                    serial,
                    fingerprint,
                    reason = unknown.code,
                    detail = %unknown.detail,
                    source,
                    on_unknown = "allow",
                    "revocation status is undetermined and on_unknown = \"allow\" allows access"
                ),
            }
        }
    }
}
