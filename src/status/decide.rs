//! The verdict for one certificate from the verified CRLs that may cover it, following the
//! CRL processing of RFC 5280 section 6.3.3.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime};

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

/// The kind of revocation data that decided a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusSource {
    Crl,
    Ocsp,
}

impl StatusSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crl => "crl",
            Self::Ocsp => "ocsp",
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
        /// Decided from a CRL past its nextUpdate, within the CA's max_stale.
        stale: bool,
    },
    /// A current, verified CRL lists the certificate.
    Revoked {
        revocation_time: SystemTime,
        reason: Option<RevocationReason>,
        this_update: SystemTime,
        next_update: SystemTime,
        stale: bool,
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

/// The facts about the certificate being checked that the decision needs.
#[derive(Clone, Debug)]
pub struct CertificateFacts<'a> {
    pub serial: Serial,
    pub issuer: &'a Name,
    /// basicConstraints cA; `None` when only the serial number is known, so that a CRL limited
    /// to user or to CA certificates is never applied on a guess.
    pub is_ca: Option<bool>,
    /// The certificate's CRL distribution points; empty when the extension is absent.
    pub distribution_points: &'a [DistributionPoint],
}

impl<'a> CertificateFacts<'a> {
    /// Facts read from a whole certificate.
    pub fn of(certificate: &'a crate::x509::ParsedCertificate) -> Self {
        Self {
            serial: certificate.serial(),
            issuer: certificate.issuer(),
            is_ca: Some(certificate.is_ca()),
            distribution_points: certificate.crl_distribution_points(),
        }
    }

    /// Facts when only the serial number and the issuer are known.
    pub fn serial_only(serial: Serial, issuer: &'a Name) -> Self {
        Self {
            serial,
            issuer,
            is_ca: None,
            distribution_points: &[],
        }
    }
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
/// A CRL past its nextUpdate is used only within `max_stale`, and its answers are marked stale.
///
/// Every CRL in scope is consulted for an entry, even after earlier CRLs covered every reason,
/// so a mirror that has not caught up cannot hide a revocation that another copy lists. This
/// departs from step (e) of RFC 5280 section 6.3.3, which skips such CRLs.
pub fn decide(
    crls: &[&VerifiedCrl],
    facts: &CertificateFacts<'_>,
    now: SystemTime,
    max_stale: Duration,
) -> Decision {
    let current: Vec<&VerifiedCrl> = crls
        .iter()
        .copied()
        .filter(|crl| !crl.is_unusable_at(now, max_stale))
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
    let mut any_stale = false;

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
                    stale: listed_on.is_expired_at(now),
                };
            }

            reasons_mask = reasons_mask.union(crl.scope().reasons().intersection(point.reasons));
            any_stale |= crl.is_expired_at(now);
            if newest_used.is_none_or(|used| crl.this_update() > used.this_update()) {
                newest_used = Some(crl);
            }
        }
    }

    match newest_used {
        Some(crl) if reasons_mask == ReasonSet::ALL => Decision::Good {
            this_update: crl.this_update(),
            next_update: crl.next_update(),
            stale: any_stale,
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
        Some(delta) => match delta.revoked_entry(facts.issuer, &facts.serial) {
            Some(entry) => Some((entry, delta)),
            None => crl
                .revoked_entry(facts.issuer, &facts.serial)
                .map(|e| (e, crl)),
        },
        None => crl
            .revoked_entry(facts.issuer, &facts.serial)
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

#[cfg(test)]
mod tests {

    use super::*;
    use crate::crl::{DecodedCrl, VerifyOptions};
    use crate::fixtures::{CrlBuilder, CrlEntry, RawExtension, TestCa};
    use crate::x509::ParsedCertificate;

    struct Setup {
        ca: TestCa,
        parsed: ParsedCertificate,
    }

    impl Setup {
        fn new() -> Self {
            let ca = TestCa::root("Scope CA").expect("test CA");
            let parsed = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
            Self { ca, parsed }
        }

        fn crl(&self, builder: &CrlBuilder) -> VerifiedCrl {
            let der = builder.build(&self.ca).expect("CRL builds");
            DecodedCrl::from_der(&der, "test")
                .expect("decodes")
                .verify(&self.parsed, &self.parsed, &options())
                .expect("verifies")
        }
    }

    fn options() -> VerifyOptions {
        VerifyOptions::at(SystemTime::now(), Duration::from_secs(300))
    }

    fn idp(value_der: Vec<u8>) -> RawExtension {
        RawExtension {
            oid: const_oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT,
            critical: true,
            value_der,
        }
    }

    fn decide_for(
        crls: &[&VerifiedCrl],
        setup: &Setup,
        serial: &[u8],
        is_ca: Option<bool>,
    ) -> Decision {
        let serial = Serial::from_der_content(serial);
        let facts = CertificateFacts {
            serial,
            issuer: setup.parsed.subject(),
            is_ca,
            distribution_points: &[],
        };
        decide(crls, &facts, SystemTime::now(), Duration::ZERO)
    }

    #[test]
    fn full_crl_decides_good_and_revoked() {
        let setup = Setup::new();
        let crl = setup.crl(
            &CrlBuilder::new()
                .crl_number(1)
                .entry(CrlEntry::new(&[0x05], SystemTime::UNIX_EPOCH)),
        );
        let revoked = decide_for(&[&crl], &setup, &[0x05], None);
        assert_eq!(revoked.status(), CertStatus::Revoked);
        let good = decide_for(&[&crl], &setup, &[0x06], None);
        assert_eq!(good.status(), CertStatus::Good);
    }

    #[test]
    fn only_user_certs_skips_ca_certificate() {
        let setup = Setup::new();
        // IssuingDistributionPoint { onlyContainsUserCerts [1] TRUE }
        let crl = setup.crl(
            &CrlBuilder::new()
                .crl_number(1)
                .extension(idp(vec![0x30, 0x03, 0x81, 0x01, 0xff])),
        );

        let for_ca = decide_for(&[&crl], &setup, &[0x07], Some(true));
        assert!(
            matches!(&for_ca, Decision::Unknown(reason) if reason.code == "out_of_scope"),
            "{for_ca:?}"
        );
        let for_user = decide_for(&[&crl], &setup, &[0x07], Some(false));
        assert_eq!(for_user.status(), CertStatus::Good);
        let serial_only = decide_for(&[&crl], &setup, &[0x07], None);
        assert_eq!(serial_only.status(), CertStatus::Unknown);
    }

    #[test]
    fn only_ca_certs_skips_user_certificate() {
        let setup = Setup::new();
        // IssuingDistributionPoint { onlyContainsCACerts [2] TRUE }
        let crl = setup.crl(
            &CrlBuilder::new()
                .crl_number(1)
                .extension(idp(vec![0x30, 0x03, 0x82, 0x01, 0xff])),
        );

        assert_eq!(
            decide_for(&[&crl], &setup, &[0x07], Some(false)).status(),
            CertStatus::Unknown
        );
        assert_eq!(
            decide_for(&[&crl], &setup, &[0x07], Some(true)).status(),
            CertStatus::Good
        );
    }

    #[test]
    fn reason_partitions_combine() {
        let setup = Setup::new();
        // onlySomeReasons [3] { keyCompromise, cACompromise }: bits 1 and 2.
        let compromise = setup.crl(
            &CrlBuilder::new()
                .crl_number(1)
                .extension(idp(vec![0x30, 0x04, 0x83, 0x02, 0x05, 0x60])),
        );
        // onlySomeReasons [3] { bits 3 to 8 }: every other reason.
        let others = setup.crl(
            &CrlBuilder::new()
                .crl_number(1)
                .extension(idp(vec![0x30, 0x05, 0x83, 0x03, 0x07, 0x1f, 0x80]))
                .entry(CrlEntry::new(&[0x09], SystemTime::UNIX_EPOCH)),
        );

        let one_partition = decide_for(&[&compromise], &setup, &[0x08], None);
        assert!(
            matches!(&one_partition, Decision::Unknown(reason) if reason.code == "out_of_scope"),
            "{one_partition:?}"
        );
        let both = decide_for(&[&compromise, &others], &setup, &[0x08], None);
        assert_eq!(both.status(), CertStatus::Good);
        let listed = decide_for(&[&compromise, &others], &setup, &[0x09], None);
        assert_eq!(listed.status(), CertStatus::Revoked);
    }

    #[test]
    fn delta_crl_revokes_and_removes() {
        let setup = Setup::new();
        let hold = CrlEntry::new(&[0x0a], SystemTime::UNIX_EPOCH)
            .reason(rcgen::RevocationReason::CertificateHold);
        let base = setup.crl(&CrlBuilder::new().crl_number(1).entry(hold));
        let delta_indicator = RawExtension {
            oid: const_oid::db::rfc5280::ID_CE_DELTA_CRL_INDICATOR,
            critical: true,
            value_der: vec![0x02, 0x01, 0x01],
        };
        let delta = setup.crl(
            &CrlBuilder::new()
                .crl_number(2)
                .extension(delta_indicator)
                .entry(
                    CrlEntry::new(&[0x0a], SystemTime::UNIX_EPOCH)
                        .reason(rcgen::RevocationReason::RemoveFromCrl),
                )
                .entry(CrlEntry::new(&[0x0b], SystemTime::UNIX_EPOCH)),
        );

        assert_eq!(
            decide_for(&[&base], &setup, &[0x0a], None).status(),
            CertStatus::Revoked
        );
        assert_eq!(
            decide_for(&[&base, &delta], &setup, &[0x0a], None).status(),
            CertStatus::Good
        );
        assert_eq!(
            decide_for(&[&base, &delta], &setup, &[0x0b], None).status(),
            CertStatus::Revoked
        );
        assert_eq!(
            decide_for(&[&delta], &setup, &[0x0c], None).status(),
            CertStatus::Unknown
        );
    }
}
