//! The scope of a CRL: which certificates and which revocation reasons it covers (the issuing
//! distribution point extension, RFC 5280 section 5.2.5), and whether it is a delta CRL.

use x509_cert::ext::pkix::crl::dp::{IssuingDistributionPoint, ReasonFlags};
use x509_cert::ext::pkix::name::DistributionPointName;

/// A set of revocation reasons, as in the ReasonFlags BIT STRING of RFC 5280 section 4.2.1.13.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReasonSet(u16);

impl ReasonSet {
    /// Every reason a CRL can be partitioned by (bits 1 to 8; bit 0 is `unused`).
    pub const ALL: Self = Self(0b1_1111_1110);
    pub const NONE: Self = Self(0);

    pub fn from_flags(flags: ReasonFlags) -> Self {
        Self(flags.bits() & Self::ALL.0)
    }

    #[must_use]
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }
}

/// The issuing distribution point of a CRL, checked for consistency when decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlScope {
    /// The distributionPoint name; `None` when the CRL is not tied to a distribution point.
    pub distribution_point: Option<DistributionPointName>,
    pub only_user_certs: bool,
    pub only_ca_certs: bool,
    pub only_attribute_certs: bool,
    /// The reasons this CRL covers; `None` means every reason.
    pub only_some_reasons: Option<ReasonSet>,
    pub indirect: bool,
}

impl CrlScope {
    /// The scope of a CRL without an issuing distribution point: every certificate of its
    /// issuer, for every reason.
    pub fn full() -> Self {
        Self {
            distribution_point: None,
            only_user_certs: false,
            only_ca_certs: false,
            only_attribute_certs: false,
            only_some_reasons: None,
            indirect: false,
        }
    }

    /// Builds the scope from a decoded IDP, rejecting contents RFC 5280 section 5.2.5 forbids.
    pub fn from_idp(idp: IssuingDistributionPoint) -> Result<Self, String> {
        let restrictions = [
            idp.only_contains_user_certs,
            idp.only_contains_ca_certs,
            idp.only_contains_attribute_certs,
        ];
        if restrictions.iter().filter(|set| **set).count() > 1 {
            return Err(
                "more than one of onlyContainsUserCerts, onlyContainsCACerts and \
                 onlyContainsAttributeCerts is set"
                    .to_owned(),
            );
        }

        let only_some_reasons = match idp.only_some_reasons {
            None => None,
            Some(flags) => {
                let reasons = ReasonSet::from_flags(flags);
                // The `unused` bit 0 names no reason and is ignored; some CAs set it.
                if reasons == ReasonSet::NONE {
                    return Err("onlySomeReasons is present but names no reason".to_owned());
                }
                Some(reasons)
            }
        };

        let scope = Self {
            distribution_point: idp.distribution_point,
            only_user_certs: idp.only_contains_user_certs,
            only_ca_certs: idp.only_contains_ca_certs,
            only_attribute_certs: idp.only_contains_attribute_certs,
            only_some_reasons,
            indirect: idp.indirect_crl,
        };
        if scope == Self::full() {
            return Err("the extension is present but restricts nothing".to_owned());
        }
        Ok(scope)
    }

    /// The reasons covered, every reason when onlySomeReasons is absent.
    pub fn reasons(&self) -> ReasonSet {
        self.only_some_reasons.unwrap_or(ReasonSet::ALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use x509_cert::ext::pkix::crl::dp::Reasons;

    #[test]
    fn reason_set_operations() {
        let key_compromise = ReasonSet::from_flags(Reasons::KeyCompromise.into());
        assert!(key_compromise.is_subset_of(ReasonSet::ALL));
        assert!(!ReasonSet::ALL.is_subset_of(key_compromise));
        assert_eq!(key_compromise.union(ReasonSet::NONE), key_compromise);
        assert_eq!(
            key_compromise.intersection(ReasonSet::NONE),
            ReasonSet::NONE
        );
    }

    #[test]
    fn idp_with_two_restrictions_rejected() {
        let idp = IssuingDistributionPoint {
            distribution_point: None,
            only_contains_user_certs: true,
            only_contains_ca_certs: true,
            only_some_reasons: None,
            indirect_crl: false,
            only_contains_attribute_certs: false,
        };
        assert!(CrlScope::from_idp(idp).is_err());
    }

    #[test]
    fn idp_with_empty_reasons_rejected() {
        let idp = IssuingDistributionPoint {
            distribution_point: None,
            only_contains_user_certs: false,
            only_contains_ca_certs: false,
            only_some_reasons: Some(ReasonFlags::default()),
            indirect_crl: false,
            only_contains_attribute_certs: false,
        };
        let error = CrlScope::from_idp(idp).expect_err("empty onlySomeReasons");
        assert!(error.contains("onlySomeReasons"), "{error}");
    }
}
