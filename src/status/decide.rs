//! The verdict for one certificate from the verified CRLs that may cover it, following the
//! CRL processing of RFC 5280 section 6.3.3.

use std::cmp::Ordering;
use std::time::SystemTime;

use serde::Serialize;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::name::Name;

use crate::crl::{ReasonSet, RevocationReason, RevokedEntry, VerifiedCrl, compare_crl_numbers};
use crate::x509::{Serial, names_match};

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

/// The reason a status is undetermined. Clients and metrics rely on the codes, so they are
/// stable.
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
    /// Current, verified CRLs cover the certificate for every reason and none lists it.
    Good {
        this_update: SystemTime,
        next_update: SystemTime,
    },
    /// A current, verified CRL lists the certificate.
    Revoked {
        revocation_time: SystemTime,
        reason: Option<RevocationReason>,
        this_update: SystemTime,
        next_update: SystemTime,
    },
    /// No current, verified CRL covers the certificate, so the status is undetermined.
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

/// What the decision needs to know about the certificate being checked.
#[derive(Clone, Copy, Debug)]
pub struct CertificateFacts<'a> {
    pub serial: &'a Serial,
    pub issuer: &'a Name,
    /// basicConstraints cA; `None` when only the serial number is known, so that a CRL limited
    /// to user or to CA certificates is never applied on a guess.
    pub is_ca: Option<bool>,
    /// The certificate's CRL distribution points; empty when the extension is absent.
    pub distribution_points: &'a [DistributionPoint],
}

/// One distribution point as section 6.3.3 processes it. A certificate without the CRL
/// distribution points extension gets one that names no point, covers every reason and whose
/// CRL issuer is the certificate issuer.
struct PointView<'a> {
    name: Option<&'a DistributionPointName>,
    reasons: ReasonSet,
    crl_issuers: Option<&'a [GeneralName]>,
}

/// Decides the status of a certificate from verified CRLs (complete and delta) as of `now`.
///
/// Every CRL in scope is consulted for an entry, even after earlier CRLs covered every reason,
/// so a mirror that has not caught up cannot hide a revocation that another copy lists. This
/// departs from step (e) of RFC 5280 section 6.3.3, which skips such CRLs.
pub fn decide(crls: &[&VerifiedCrl], facts: &CertificateFacts<'_>, now: SystemTime) -> Decision {
    let current: Vec<&VerifiedCrl> = crls
        .iter()
        .copied()
        .filter(|crl| !crl.is_expired_at(now))
        .collect();
    let mut complete: Vec<&VerifiedCrl> = current
        .iter()
        .copied()
        .filter(|crl| !crl.is_delta())
        .collect();
    complete.sort_by_key(|crl| std::cmp::Reverse(crl.this_update()));
    let deltas: Vec<&VerifiedCrl> = current
        .iter()
        .copied()
        .filter(|crl| crl.is_delta())
        .collect();

    if complete.is_empty() {
        return no_complete_crl(crls);
    }

    let points = points_of(facts);
    let mut reasons_mask = ReasonSet::NONE;
    let mut newest_used: Option<&VerifiedCrl> = None;

    for point in &points {
        for crl in &complete {
            if !issuer_matches(crl, point, facts) || !scope_matches(crl, point, facts) {
                continue;
            }

            if let Some((entry, listed_on)) = listing(crl, &deltas, facts) {
                return Decision::Revoked {
                    revocation_time: entry.revocation_time,
                    reason: entry.reason,
                    this_update: listed_on.this_update(),
                    next_update: listed_on.next_update(),
                };
            }

            reasons_mask = reasons_mask.union(crl.scope().reasons().intersection(point.reasons));
            if newest_used.is_none_or(|used| crl.this_update() > used.this_update()) {
                newest_used = Some(crl);
            }
        }
    }

    match newest_used {
        Some(crl) if reasons_mask == ReasonSet::ALL => Decision::Good {
            this_update: crl.this_update(),
            next_update: crl.next_update(),
        },
        Some(_) => Decision::Unknown(UnknownReason::new(
            "out_of_scope",
            "the CRLs that cover the certificate are limited to some revocation reasons, and \
             none covers the others",
        )),
        None => Decision::Unknown(UnknownReason::new(
            "out_of_scope",
            "no current CRL covers the certificate: the CRLs held are limited by their issuing \
             distribution point to other certificates",
        )),
    }
}

fn no_complete_crl(crls: &[&VerifiedCrl]) -> Decision {
    let complete = crls.iter().filter(|crl| !crl.is_delta());
    if let Some(latest) = complete.max_by_key(|crl| crl.next_update()) {
        return Decision::Unknown(UnknownReason::new(
            "crl_expired",
            format!(
                "the newest CRL (from {}) passed its nextUpdate {}",
                latest.origin(),
                crate::x509::time::format_rfc3339(latest.next_update())
            ),
        ));
    }
    if crls.iter().any(|crl| crl.is_delta()) {
        return Decision::Unknown(UnknownReason::new(
            "no_crl",
            "only delta CRLs are available; a delta CRL is used only with its complete base CRL",
        ));
    }
    Decision::Unknown(UnknownReason::new(
        "no_crl",
        "no verified CRL is available for the issuer",
    ))
}

fn points_of<'a>(facts: &CertificateFacts<'a>) -> Vec<PointView<'a>> {
    if facts.distribution_points.is_empty() {
        return vec![PointView {
            name: None,
            reasons: ReasonSet::ALL,
            crl_issuers: None,
        }];
    }
    facts
        .distribution_points
        .iter()
        .map(|point| PointView {
            name: point.distribution_point.as_ref(),
            reasons: point.reasons.map_or(ReasonSet::ALL, ReasonSet::from_flags),
            crl_issuers: point.crl_issuer.as_deref(),
        })
        .collect()
}

/// Step (b)(1): the CRL issuer is the certificate issuer, or the distribution point's cRLIssuer
/// when that is present (which makes the CRL indirect).
fn issuer_matches(crl: &VerifiedCrl, point: &PointView<'_>, facts: &CertificateFacts<'_>) -> bool {
    match point.crl_issuers {
        Some(crl_issuers) => {
            crl.scope().indirect
                && crl_issuers.iter().any(|name| match name {
                    GeneralName::DirectoryName(name) => names_match(name, crl.issuer()),
                    _ => false,
                })
        }
        None => names_match(crl.issuer(), facts.issuer),
    }
}

/// Step (b)(2): the issuing distribution point covers this certificate.
fn scope_matches(crl: &VerifiedCrl, point: &PointView<'_>, facts: &CertificateFacts<'_>) -> bool {
    let scope = crl.scope();

    if let Some(idp_name) = &scope.distribution_point {
        let idp_names = full_names(idp_name, crl.issuer());
        let point_names = match (point.name, point.crl_issuers) {
            (Some(name), crl_issuers) => {
                let relative_to = crl_issuers
                    .and_then(first_directory_name)
                    .unwrap_or(facts.issuer);
                full_names(name, relative_to)
            }
            (None, Some(crl_issuers)) => crl_issuers.to_vec(),
            (None, None) => Vec::new(),
        };
        let any_match = idp_names.iter().any(|idp| {
            point_names
                .iter()
                .any(|name| general_names_match(idp, name))
        });
        if !any_match {
            return false;
        }
    }

    if scope.only_user_certs && facts.is_ca != Some(false) {
        return false;
    }
    if scope.only_ca_certs && facts.is_ca != Some(true) {
        return false;
    }
    // Attribute certificates are never checked here, so such a CRL covers nothing.
    !scope.only_attribute_certs
}

/// Steps (c), (i), (j) and (k): the entry for the certificate on the matching delta CRL, else on
/// the complete CRL, where removeFromCRL means not revoked.
fn listing<'c>(
    crl: &'c VerifiedCrl,
    deltas: &[&'c VerifiedCrl],
    facts: &CertificateFacts<'_>,
) -> Option<(RevokedEntry, &'c VerifiedCrl)> {
    let entry = match delta_for(crl, deltas) {
        Some(delta) => match delta.revoked_entry(facts.issuer, facts.serial) {
            Some(entry) => Some((entry, delta)),
            None => crl
                .revoked_entry(facts.issuer, facts.serial)
                .map(|e| (e, crl)),
        },
        None => crl
            .revoked_entry(facts.issuer, facts.serial)
            .map(|e| (e, crl)),
    };
    entry.filter(|(entry, _)| entry.reason != Some(RevocationReason::RemoveFromCrl))
}

/// Step (c): the newest current delta CRL that applies to `base`: same issuer, same scope, same
/// authority key, a BaseCRLNumber not above the base's CRL number and a newer CRL number.
fn delta_for<'c>(base: &VerifiedCrl, deltas: &[&'c VerifiedCrl]) -> Option<&'c VerifiedCrl> {
    deltas
        .iter()
        .copied()
        .filter(|delta| {
            names_match(delta.issuer(), base.issuer())
                && delta.scope() == base.scope()
                && delta.authority_key_id() == base.authority_key_id()
                && delta.delta_base().is_some_and(|delta_base| {
                    compare_crl_numbers(delta_base, base.crl_number()) != Ordering::Greater
                })
                && compare_crl_numbers(delta.crl_number(), base.crl_number()) == Ordering::Greater
        })
        .max_by(|a, b| compare_crl_numbers(a.crl_number(), b.crl_number()))
}

/// Expands a distribution point name to full names: a name relative to the CRL issuer becomes
/// that issuer's name with the RDN appended.
fn full_names(name: &DistributionPointName, relative_to: &Name) -> Vec<GeneralName> {
    match name {
        DistributionPointName::FullName(names) => names.clone(),
        DistributionPointName::NameRelativeToCRLIssuer(rdn) => {
            let mut full = relative_to.clone();
            full.0.push(rdn.clone());
            vec![GeneralName::DirectoryName(full)]
        }
    }
}

fn first_directory_name(names: &[GeneralName]) -> Option<&Name> {
    names.iter().find_map(|name| match name {
        GeneralName::DirectoryName(name) => Some(name),
        _ => None,
    })
}

fn general_names_match(left: &GeneralName, right: &GeneralName) -> bool {
    match (left, right) {
        (GeneralName::DirectoryName(left), GeneralName::DirectoryName(right)) => {
            names_match(left, right)
        }
        _ => left == right,
    }
}
