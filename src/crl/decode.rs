//! Decoding of received CRL bytes into an RFC 5280 CertificateList, keeping the exact bytes.

use std::ops::Range;
use std::sync::Arc;

use der::Decode;
use x509_cert::Version;
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;

use super::CrlError;
use super::time_check::{self, TimeProblem};
use crate::x509::encoding;

/// A CRL as received: decoded, but with nothing checked. It cannot answer a status lookup.
#[derive(Clone, Debug)]
pub struct DecodedCrl {
    origin: String,
    der: Arc<[u8]>,
    tbs: Range<usize>,
    list: CertificateList,
}

impl DecodedCrl {
    /// Decodes one DER CRL. `origin` names where it came from, for messages.
    ///
    /// NOTE: x509-cert 0.2 requires the version field, so a version 1 CRL (which omits it)
    /// is reported as undecodable.
    pub fn from_der(der: &[u8], origin: &str) -> Result<Self, CrlError> {
        let decode_error = |error| CrlError::Decode {
            origin: origin.to_owned(),
            error,
        };
        let time_error = |problem: TimeProblem| CrlError::InvalidTime {
            origin: origin.to_owned(),
            field: problem.field,
            value: problem.value,
            rule: problem.rule,
        };

        let list = match CertificateList::from_der(der) {
            Ok(list) => list,
            Err(error) => {
                return Err(match time_check::diagnose(der) {
                    Some(problem) => time_error(problem),
                    None => decode_error(error),
                });
            }
        };
        let tbs = encoding::signed_part_range(der).map_err(decode_error)?;

        let tbs_list = &list.tbs_cert_list;
        time_check::check_decoded("thisUpdate", &tbs_list.this_update).map_err(time_error)?;
        if let Some(next_update) = &tbs_list.next_update {
            time_check::check_decoded("nextUpdate", next_update).map_err(time_error)?;
        }
        for (position, entry) in tbs_list.revoked_certificates.iter().flatten().enumerate() {
            let field = format!("revocationDate of entry {}", position + 1);
            time_check::check_decoded(&field, &entry.revocation_date).map_err(time_error)?;
        }
        // RFC 5280 section 5.1.2.1: a present version field must be v2. x509-cert also
        // decodes v1 (an explicit 0) and v3 (2), which no CRL may carry.
        let version = list.tbs_cert_list.version;
        if version != Version::V2 {
            return Err(CrlError::InvalidVersion {
                origin: origin.to_owned(),
                value: version as u8,
            });
        }

        Ok(Self {
            origin: origin.to_owned(),
            der: der.into(),
            tbs,
            list,
        })
    }

    /// Decodes a body that is one DER CRL or PEM with one or more `X509 CRL` blocks.
    pub fn from_pem_or_der(body: &[u8], origin: &str) -> Result<Vec<Self>, CrlError> {
        let bodies =
            encoding::pem_or_der_bodies(body, "X509 CRL").map_err(|error| CrlError::Encoding {
                origin: origin.to_owned(),
                error,
            })?;
        bodies
            .iter()
            .map(|der| Self::from_der(der, origin))
            .collect()
    }

    /// Returns where the CRL came from: a URL or a file path.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Returns the issuer name as the CRL states it (not yet verified).
    pub fn issuer(&self) -> &Name {
        &self.list.tbs_cert_list.issuer
    }

    pub(super) fn list(&self) -> &CertificateList {
        &self.list
    }

    /// Returns the DER bytes of `tbsCertList` exactly as received, which the signature covers.
    pub(super) fn tbs_bytes(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }

    pub(super) fn der(&self) -> &Arc<[u8]> {
        &self.der
    }
}

#[cfg(test)]
mod tests {
    use der::asn1::AnyRef;
    use der::{Encode, Tag};

    use super::*;
    use crate::fixtures::{CrlBuilder, CrlEntry, TestCa};

    const ORIGIN: &str = "file:/var/lib/revcheck/ca.crl";

    /// Rebuilds `der` with the element at `position` of tbsCertList replaced by a time of the
    /// given tag and text. The signature no longer matches, which does not matter because
    /// decoding fails first.
    fn replace_tbs_element(der: &[u8], position: usize, tag: Tag, text: &str) -> Vec<u8> {
        let outer: Vec<AnyRef<'_>> = Vec::from_der(der).expect("CRL is a SEQUENCE");
        let mut tbs: Vec<AnyRef<'_>> = outer[0].decode_as().expect("tbsCertList is a SEQUENCE");
        tbs[position] = AnyRef::new(tag, text.as_bytes()).expect("time fits");
        let tbs_der = tbs.to_der().expect("tbsCertList encodes");
        let mut rebuilt = outer.clone();
        rebuilt[0] = AnyRef::try_from(tbs_der.as_slice()).expect("tbsCertList is one TLV");
        rebuilt.to_der().expect("CRL encodes")
    }

    fn crl_der() -> Vec<u8> {
        let ca = TestCa::root("Time CA").expect("test CA");
        CrlBuilder::new()
            .crl_number(1)
            .entry(CrlEntry::new(&[0x01], crate::fixtures::not_before()))
            .build(&ca)
            .expect("CRL builds")
    }

    fn invalid_time(der: &[u8]) -> (String, String) {
        match DecodedCrl::from_der(der, ORIGIN) {
            Err(CrlError::InvalidTime { field, value, .. }) => (field, value),
            other => panic!("expected InvalidTime, got {other:?}"),
        }
    }

    // tbsCertList positions: 0 version, 1 signature, 2 issuer, 3 thisUpdate, 4 nextUpdate,
    // 5 revokedCertificates.
    #[test]
    fn time_with_offset_rejected() {
        let der = replace_tbs_element(&crl_der(), 3, Tag::UtcTime, "250101000000+0100");
        let (field, value) = invalid_time(&der);
        assert_eq!(field, "thisUpdate");
        assert_eq!(value, "250101000000+0100");
    }

    #[test]
    fn time_with_fraction_rejected() {
        let der = replace_tbs_element(&crl_der(), 4, Tag::GeneralizedTime, "21991231235959.5Z");
        let (field, value) = invalid_time(&der);
        assert_eq!(field, "nextUpdate");
        assert_eq!(value, "21991231235959.5Z");
    }

    #[test]
    fn generalized_time_before_2050_rejected() {
        let der = replace_tbs_element(&crl_der(), 3, Tag::GeneralizedTime, "20250101000000Z");
        let error = DecodedCrl::from_der(&der, ORIGIN).expect_err("GeneralizedTime in 2025");
        let CrlError::InvalidTime { field, rule, .. } = &error else {
            panic!("expected InvalidTime, got {error:?}");
        };
        assert_eq!(field, "thisUpdate");
        assert!(rule.contains("UTCTime"), "{rule}");
        assert!(error.to_string().contains(ORIGIN), "{error}");
    }

    #[test]
    fn valid_times_decode() {
        assert!(DecodedCrl::from_der(&crl_der(), ORIGIN).is_ok());
    }

    /// Returns a CRL from a test CA with its version field set to `version`. The signature no
    /// longer matches, which does not matter because decoding comes before verification.
    fn crl_with_version(version: Version) -> Vec<u8> {
        let ca = TestCa::root("Version CA").expect("test CA");
        let der = CrlBuilder::new()
            .crl_number(1)
            .build(&ca)
            .expect("CRL builds");
        let mut list = CertificateList::from_der(&der).expect("CRL decodes");
        list.tbs_cert_list.version = version;
        list.to_der().expect("CRL encodes")
    }

    #[test]
    fn version_2_decodes() {
        let der = crl_with_version(Version::V2);
        assert!(DecodedCrl::from_der(&der, "test").is_ok());
    }

    #[test]
    fn version_other_than_2_rejected() {
        for (version, value) in [(Version::V1, 0), (Version::V3, 2)] {
            let der = crl_with_version(version);
            let error = DecodedCrl::from_der(&der, "test").expect_err("invalid version");
            assert!(
                matches!(error, CrlError::InvalidVersion { value: found, .. } if found == value),
                "{version:?}: {error:?}"
            );
            assert_eq!(error.reason_code(), "crl_malformed");
        }
    }
}
