//! The per-CA revocation policy: which source is asked first, when the second is asked, how
//! their decisions combine, and what an undetermined status means for access.

use super::decide::{CertStatus, Decision, StatusSource};
use crate::config::{RevocationMethod, UnknownPolicy};

/// A decision with the source that made it (`None` while undetermined).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub source: Option<StatusSource>,
}

impl Verdict {
    /// Wraps a decision from `source`. An undetermined decision records no source.
    pub fn from(decision: Decision, source: StatusSource) -> Self {
        let source = (decision.status() != CertStatus::Unknown).then_some(source);
        Self { decision, source }
    }

    pub fn status(&self) -> CertStatus {
        self.decision.status()
    }
}

/// Returns the source asked first under `method`.
pub fn first_source(method: RevocationMethod) -> StatusSource {
    match method {
        RevocationMethod::Crl | RevocationMethod::CrlThenOcsp => StatusSource::Crl,
        RevocationMethod::Ocsp | RevocationMethod::OcspThenCrl => StatusSource::Ocsp,
    }
}

/// Returns the source to ask next: the other one, only when `method` has two sources and the
/// first left the status undetermined.
pub fn second_source(method: RevocationMethod, first: &Verdict) -> Option<StatusSource> {
    if first.status() != CertStatus::Unknown {
        return None;
    }
    match method {
        RevocationMethod::CrlThenOcsp => Some(StatusSource::Ocsp),
        RevocationMethod::OcspThenCrl => Some(StatusSource::Crl),
        RevocationMethod::Crl | RevocationMethod::Ocsp => None,
    }
}

/// Combines the first verdict with the second, when one was asked: a revocation from any
/// verified source wins, a decided status beats an undetermined one, and when both are
/// undetermined the first source's reason is kept.
pub fn combine(first: Verdict, second: Option<Verdict>) -> Verdict {
    let Some(second) = second else {
        return first;
    };
    match (first.status(), second.status()) {
        (CertStatus::Revoked, _) => first,
        (_, CertStatus::Revoked) => second,
        (CertStatus::Unknown, CertStatus::Good) => second,
        _ => first,
    }
}

/// Checks whether a verdict allows access under the CA's `on_unknown` policy: `good` allows,
/// `allow` also lets an undetermined status through, and revoked never allows.
pub fn allows_access(verdict: &Verdict, on_unknown: UnknownPolicy) -> bool {
    match verdict.status() {
        CertStatus::Good => true,
        CertStatus::Revoked => false,
        CertStatus::Unknown => on_unknown == UnknownPolicy::Allow,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::status::UnknownReason;

    fn good(source: StatusSource) -> Verdict {
        let now = SystemTime::now();
        Verdict::from(
            Decision::Good {
                this_update: now,
                next_update: now,
                stale: false,
            },
            source,
        )
    }

    fn revoked(source: StatusSource) -> Verdict {
        let now = SystemTime::now();
        Verdict::from(
            Decision::Revoked {
                revocation_time: now,
                reason: None,
                this_update: now,
                next_update: now,
                stale: false,
            },
            source,
        )
    }

    fn unknown(source: StatusSource, code: &'static str) -> Verdict {
        Verdict::from(Decision::Unknown(UnknownReason::new(code, code)), source)
    }

    #[test]
    fn single_source_methods_never_ask_twice() {
        for method in [RevocationMethod::Crl, RevocationMethod::Ocsp] {
            let first = unknown(first_source(method), "no_crl");
            assert_eq!(second_source(method, &first), None, "{method:?}");
        }
        assert_eq!(first_source(RevocationMethod::Crl), StatusSource::Crl);
        assert_eq!(first_source(RevocationMethod::Ocsp), StatusSource::Ocsp);
    }

    #[test]
    fn second_source_only_when_first_undetermined() {
        let cases = [
            (
                RevocationMethod::OcspThenCrl,
                StatusSource::Ocsp,
                StatusSource::Crl,
            ),
            (
                RevocationMethod::CrlThenOcsp,
                StatusSource::Crl,
                StatusSource::Ocsp,
            ),
        ];
        for (method, first, second) in cases {
            assert_eq!(first_source(method), first);
            assert_eq!(second_source(method, &unknown(first, "x")), Some(second));
            assert_eq!(second_source(method, &good(first)), None, "{method:?}");
            assert_eq!(second_source(method, &revoked(first)), None, "{method:?}");
        }
    }

    #[test]
    fn revocation_from_any_source_wins() {
        let ocsp_revoked_crl_good =
            combine(revoked(StatusSource::Ocsp), Some(good(StatusSource::Crl)));
        assert_eq!(ocsp_revoked_crl_good.status(), CertStatus::Revoked);
        assert_eq!(ocsp_revoked_crl_good.source, Some(StatusSource::Ocsp));

        let crl_good_ocsp_revoked =
            combine(good(StatusSource::Crl), Some(revoked(StatusSource::Ocsp)));
        assert_eq!(crl_good_ocsp_revoked.status(), CertStatus::Revoked);
        assert_eq!(crl_good_ocsp_revoked.source, Some(StatusSource::Ocsp));
    }

    #[test]
    fn decided_beats_undetermined() {
        let verdict = combine(
            unknown(StatusSource::Ocsp, "ocsp_try_later"),
            Some(good(StatusSource::Crl)),
        );
        assert_eq!(verdict.status(), CertStatus::Good);
        assert_eq!(verdict.source, Some(StatusSource::Crl));

        let both = combine(
            unknown(StatusSource::Ocsp, "ocsp_try_later"),
            Some(unknown(StatusSource::Crl, "no_crl")),
        );
        assert!(
            matches!(&both.decision, Decision::Unknown(reason) if reason.code == "ocsp_try_later"),
            "{both:?}"
        );
        assert_eq!(both.source, None);
    }

    #[test]
    fn on_unknown_decides_access() {
        let undetermined = unknown(StatusSource::Crl, "no_crl");
        assert!(!allows_access(&undetermined, UnknownPolicy::Deny));
        assert!(allows_access(&undetermined, UnknownPolicy::Allow));
        for policy in [UnknownPolicy::Deny, UnknownPolicy::Allow] {
            assert!(allows_access(&good(StatusSource::Ocsp), policy));
            assert!(!allows_access(&revoked(StatusSource::Ocsp), policy));
        }
    }
}
