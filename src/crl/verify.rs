//! Verification of a decoded CRL against its issuing CA (RFC 5280 sections 5 and 6.3.3).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::Decode;
use der::asn1::GeneralizedTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BaseCrlNumber, CrlNumber, CrlReason};
use x509_cert::name::Name;

use super::index::{RevokedEntry, RevokedIndex, RevokedIndexBuilder};
use super::scope::CrlScope;
use super::{CrlError, DecodedCrl};
use crate::x509::{ParsedCertificate, Serial, hex, names_match};

const ID_PE_AUTHORITY_INFO_ACCESS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");

/// The clock against which a CRL is judged, and the CA's policy for legacy CRLs.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    pub now: SystemTime,
    /// How far thisUpdate may lie in the future, for clocks that disagree a little.
    pub clock_skew: Duration,
    /// Accept SHA-1 signatures.
    pub allow_sha1: bool,
    /// Treat a CRL without nextUpdate as valid for this long after its thisUpdate. `None`
    /// rejects such a CRL.
    pub max_age_without_next_update: Option<Duration>,
    /// How long after nextUpdate a CRL is still accepted, to be served as stale.
    pub max_stale: Duration,
}

impl VerifyOptions {
    /// Options with the strict defaults: no SHA-1, nextUpdate required.
    pub fn at(now: SystemTime, clock_skew: Duration) -> Self {
        Self {
            now,
            clock_skew,
            allow_sha1: false,
            max_age_without_next_update: None,
            max_stale: Duration::ZERO,
        }
    }
}

/// A CRL whose signature, issuer and dates have been checked. Only [`DecodedCrl::verify`]
/// builds one, so holding a `VerifiedCrl` means the checks passed.
#[derive(Clone, Debug)]
pub struct VerifiedCrl {
    origin: String,
    der: Arc<[u8]>,
    issuer: Name,
    this_update: SystemTime,
    next_update: SystemTime,
    crl_number: Vec<u8>,
    authority_key_id: Option<Vec<u8>>,
    scope: CrlScope,
    delta_base: Option<Vec<u8>>,
    /// Certificate issuers named by the entries: index 0 is the CRL issuer, further ones come
    /// from certificateIssuer entry extensions of an indirect CRL.
    entry_issuers: Vec<Name>,
    index: RevokedIndex,
}

/// Values read from the CRL extensions, once each has been checked.
struct CrlExtensions {
    authority_key_id: Option<Vec<u8>>,
    crl_number: Option<Vec<u8>>,
    scope: CrlScope,
    delta_base: Option<Vec<u8>>,
}

impl DecodedCrl {
    /// Checks this CRL as the CRL of `issuer`, signed by `signer`, and builds its index.
    ///
    /// `signer` is `issuer` itself or a separate CRL-signing certificate for the same name
    /// (RFC 5280 section 6.3.3 (f)). The caller must already have validated a separate signer's
    /// certification path to the issuer's trust anchor; this function checks its name, its key
    /// usage, the authority key identifier and the signature.
    pub fn verify(
        &self,
        issuer: &ParsedCertificate,
        signer: &ParsedCertificate,
        options: &VerifyOptions,
    ) -> Result<VerifiedCrl, CrlError> {
        let origin = self.origin().to_owned();
        let tbs = &self.list().tbs_cert_list;

        // Section 6.3.3 (b): the CRL issuer must be the certificate issuer (no indirect CRLs).
        if !names_match(&tbs.issuer, issuer.subject()) {
            return Err(CrlError::IssuerMismatch {
                origin,
                crl_issuer: tbs.issuer.to_string(),
                expected: issuer.subject().to_string(),
            });
        }

        self.check_signer(signer)?;
        let extensions = self.read_extensions()?;
        // Section 5.2.1: the authority key identifier names the key that signed the CRL.
        if let (Some(crl_key_id), Some(signer_key_id)) =
            (&extensions.authority_key_id, signer.subject_key_id())
            && crl_key_id.as_slice() != signer_key_id
        {
            return Err(CrlError::AuthorityKeyIdMismatch {
                origin,
                crl_key_id: hex::encode(crl_key_id),
                signer_key_id: hex::encode(signer_key_id),
            });
        }

        self.check_signature(signer, options)?;
        let (this_update, next_update) = self.check_times(options)?;

        // Section 5.2.3: conforming CRL issuers include the CRL number, and revcheck needs it to
        // order CRLs and to pair delta CRLs with their base.
        let Some(crl_number) = extensions.crl_number else {
            return Err(CrlError::MissingCrlNumber { origin });
        };
        let (entry_issuers, index) = self.build_index(&extensions.scope)?;

        Ok(VerifiedCrl {
            origin,
            der: Arc::clone(self.der()),
            issuer: tbs.issuer.clone(),
            this_update,
            next_update,
            crl_number,
            authority_key_id: extensions.authority_key_id,
            scope: extensions.scope,
            delta_base: extensions.delta_base,
            entry_issuers,
            index,
        })
    }

    fn check_signer(&self, signer: &ParsedCertificate) -> Result<(), CrlError> {
        let crl_issuer = &self.list().tbs_cert_list.issuer;
        if !names_match(signer.subject(), crl_issuer) {
            return Err(CrlError::SignerNameMismatch {
                origin: self.origin().to_owned(),
                crl_issuer: crl_issuer.to_string(),
                signer: signer.subject().to_string(),
            });
        }

        // Section 4.2.1.3: a key whose usage is restricted must allow cRLSign to sign CRLs.
        if signer.key_usage().is_some_and(|usage| !usage.crl_sign()) {
            return Err(CrlError::SignerLacksCrlSign {
                origin: self.origin().to_owned(),
                signer: signer.describe(),
            });
        }
        Ok(())
    }

    fn check_signature(
        &self,
        signer: &ParsedCertificate,
        options: &VerifyOptions,
    ) -> Result<(), CrlError> {
        let list = self.list();
        let signature_error = |error| CrlError::Signature {
            origin: self.origin().to_owned(),
            error,
        };

        // Section 5.1.1.2: signatureAlgorithm must equal the signature field inside tbsCertList.
        if list.signature_algorithm != list.tbs_cert_list.signature {
            return Err(signature_error(
                crate::x509::SignatureError::AlgorithmMismatch,
            ));
        }

        crate::x509::signature::verify_signature(
            &signer.certificate().tbs_certificate.subject_public_key_info,
            &list.signature_algorithm,
            self.tbs_bytes(),
            &list.signature,
            crate::x509::signature::SignaturePolicy {
                allow_sha1: options.allow_sha1,
            },
        )
        .map_err(signature_error)
    }

    fn check_times(&self, options: &VerifyOptions) -> Result<(SystemTime, SystemTime), CrlError> {
        let tbs = &self.list().tbs_cert_list;
        let this_update = tbs.this_update.to_system_time();
        if this_update > options.now + options.clock_skew {
            return Err(CrlError::NotYetValid {
                origin: self.origin().to_owned(),
                this_update,
                now: options.now,
            });
        }

        // RFC 5280 makes nextUpdate mandatory for conforming CAs. A CRL without it has no end
        // of validity, so it is used only for a configured maximum age after thisUpdate.
        let next_update = match (tbs.next_update, options.max_age_without_next_update) {
            (Some(time), _) => time.to_system_time(),
            (None, Some(max_age)) => this_update + max_age,
            (None, None) => {
                return Err(CrlError::MissingNextUpdate {
                    origin: self.origin().to_owned(),
                });
            }
        };
        if options.now > next_update + options.max_stale {
            return Err(CrlError::Expired {
                origin: self.origin().to_owned(),
                next_update,
                now: options.now,
            });
        }
        Ok((this_update, next_update))
    }

    /// Reads the CRL extensions (section 5.2), rejecting unknown critical ones and the ones
    /// revcheck does not implement.
    fn read_extensions(&self) -> Result<CrlExtensions, CrlError> {
        let mut read = CrlExtensions {
            authority_key_id: None,
            crl_number: None,
            scope: CrlScope::full(),
            delta_base: None,
        };
        let Some(extensions) = &self.list().tbs_cert_list.crl_extensions else {
            return Ok(read);
        };
        self.reject_duplicates(extensions)?;

        for extension in extensions {
            let value = extension.extn_value.as_bytes();
            match extension.extn_id {
                oids::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                    let aki = AuthorityKeyIdentifier::from_der(value)
                        .map_err(|error| self.malformed(extension, &error))?;
                    read.authority_key_id = aki.key_identifier.map(|id| id.as_bytes().to_vec());
                }
                oids::ID_CE_CRL_NUMBER => {
                    let number = CrlNumber::from_der(value)
                        .map_err(|error| self.malformed(extension, &error))?;
                    read.crl_number = Some(number.0.as_bytes().to_vec());
                }
                // Section 5.2.4: the extension is always critical and names the base CRL.
                oids::ID_CE_DELTA_CRL_INDICATOR => {
                    if !extension.critical {
                        return Err(self.malformed_with(extension, "must be critical"));
                    }
                    let base = BaseCrlNumber::from_der(value)
                        .map_err(|error| self.malformed(extension, &error))?;
                    read.delta_base = Some(base.0.as_bytes().to_vec());
                }
                // Section 5.2.5: the scope is honoured when the CRL is used, critical or not.
                oids::ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    let idp = IssuingDistributionPoint::from_der(value)
                        .map_err(|error| self.malformed(extension, &error))?;
                    read.scope = CrlScope::from_idp(idp)
                        .map_err(|detail| self.malformed_with(extension, &detail))?;
                }
                // Informational extensions that do not change which certificates are revoked.
                oids::ID_CE_ISSUER_ALT_NAME
                | oids::ID_CE_FRESHEST_CRL
                | ID_PE_AUTHORITY_INFO_ACCESS => {}
                oid if extension.critical => {
                    return Err(CrlError::UnknownCriticalExtension {
                        origin: self.origin().to_owned(),
                        oid,
                    });
                }
                _ => {}
            }
        }
        Ok(read)
    }

    fn reject_duplicates(&self, extensions: &[Extension]) -> Result<(), CrlError> {
        for (i, extension) in extensions.iter().enumerate() {
            if extensions[..i]
                .iter()
                .any(|e| e.extn_id == extension.extn_id)
            {
                return Err(CrlError::MalformedExtension {
                    origin: self.origin().to_owned(),
                    oid: extension.extn_id,
                    detail: "extension appears more than once".to_owned(),
                });
            }
        }
        Ok(())
    }

    fn malformed(&self, extension: &Extension, error: &der::Error) -> CrlError {
        self.malformed_with(extension, &error.to_string())
    }

    fn malformed_with(&self, extension: &Extension, detail: &str) -> CrlError {
        CrlError::MalformedExtension {
            origin: self.origin().to_owned(),
            oid: extension.extn_id,
            detail: detail.to_owned(),
        }
    }

    /// Builds the serial number index, reading each entry's extensions (section 5.3).
    ///
    /// In an indirect CRL a certificateIssuer entry extension names the issuer of that entry
    /// and of every following entry until the next one (section 5.3.3).
    fn build_index(&self, scope: &CrlScope) -> Result<(Vec<Name>, RevokedIndex), CrlError> {
        let mut issuers = vec![self.issuer().clone()];
        let Some(revoked) = &self.list().tbs_cert_list.revoked_certificates else {
            return Ok((issuers, RevokedIndex::default()));
        };

        let mut index = RevokedIndexBuilder::with_capacity(revoked.len());
        let mut current_issuer = 0;
        for entry in revoked {
            let serial = Serial::from_der_content(entry.serial_number.as_bytes());
            let mut read = EntryExtensions::default();
            if let Some(extensions) = &entry.crl_entry_extensions {
                self.reject_duplicates(extensions)?;
                for extension in extensions {
                    self.read_entry_extension(extension, &serial, scope, &mut read)?;
                }
            }

            if let Some(issuer) = read.certificate_issuer {
                current_issuer = match issuers.iter().position(|known| names_match(known, &issuer))
                {
                    Some(position) => position,
                    None => {
                        issuers.push(issuer);
                        issuers.len() - 1
                    }
                };
            }
            let revoked_entry = RevokedEntry {
                revocation_time: entry.revocation_date.to_system_time(),
                reason: read.reason,
                invalidity_date: read.invalidity_date,
            };
            index
                .insert(current_issuer, &serial, revoked_entry)
                .map_err(|_| CrlError::SerialTooLong {
                    origin: self.origin().to_owned(),
                    serial,
                })?;
        }
        Ok((issuers, index.finish()))
    }

    fn read_entry_extension(
        &self,
        extension: &Extension,
        serial: &Serial,
        scope: &CrlScope,
        read: &mut EntryExtensions,
    ) -> Result<(), CrlError> {
        let value = extension.extn_value.as_bytes();
        match extension.extn_id {
            oids::ID_CE_CRL_REASONS => {
                let reason = CrlReason::from_der(value)
                    .map_err(|error| self.malformed(extension, &error))?;
                read.reason = Some(reason.into());
            }
            oids::ID_CE_INVALIDITY_DATE => {
                let date = GeneralizedTime::from_der(value)
                    .map_err(|error| self.malformed(extension, &error))?;
                read.invalidity_date = Some(date.to_system_time());
            }
            oids::ID_CE_CERTIFICATE_ISSUER => {
                // Section 5.3.3: only an indirect CRL may name other certificate issuers.
                if !scope.indirect {
                    return Err(CrlError::CertificateIssuerInDirectCrl {
                        origin: self.origin().to_owned(),
                        serial: serial.clone(),
                    });
                }
                let names = Vec::<GeneralName>::from_der(value)
                    .map_err(|error| self.malformed(extension, &error))?;
                let directory_name = names.into_iter().find_map(|name| match name {
                    GeneralName::DirectoryName(name) => Some(name),
                    _ => None,
                });
                let Some(name) = directory_name else {
                    return Err(self.malformed_with(extension, "names no directoryName"));
                };
                read.certificate_issuer = Some(name);
            }
            // holdInstructionCode does not change whether the entry revokes.
            oids::ID_CE_HOLD_INSTRUCTION_CODE => {}
            oid if extension.critical => {
                return Err(CrlError::UnknownCriticalEntryExtension {
                    origin: self.origin().to_owned(),
                    serial: serial.clone(),
                    oid,
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Values read from one CRL entry's extensions.
#[derive(Default)]
struct EntryExtensions {
    reason: Option<super::RevocationReason>,
    invalidity_date: Option<SystemTime>,
    certificate_issuer: Option<Name>,
}

impl VerifiedCrl {
    /// Looks up the entry for the certificate with `serial` issued by `certificate_issuer`, if
    /// this CRL lists it.
    pub fn revoked_entry(
        &self,
        certificate_issuer: &Name,
        serial: &Serial,
    ) -> Option<RevokedEntry> {
        self.entry_issuers
            .iter()
            .enumerate()
            .filter(|(_, name)| names_match(name, certificate_issuer))
            .find_map(|(position, _)| self.index.get(position, serial))
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Returns the DER bytes the CRL was verified from.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    pub fn next_update(&self) -> SystemTime {
        self.next_update
    }

    /// Returns the cRLNumber extension as the content octets of its INTEGER.
    pub fn crl_number(&self) -> &[u8] {
        &self.crl_number
    }

    /// Returns the BaseCRLNumber of a delta CRL; `None` for a complete CRL.
    pub fn delta_base(&self) -> Option<&[u8]> {
        self.delta_base.as_deref()
    }

    pub fn is_delta(&self) -> bool {
        self.delta_base.is_some()
    }

    /// Returns the issuing distribution point scope; a CRL without one covers everything.
    pub fn scope(&self) -> &CrlScope {
        &self.scope
    }

    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }

    pub fn entry_count(&self) -> usize {
        self.index.len()
    }

    /// Checks whether nextUpdate has passed at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now > self.next_update
    }

    /// Checks whether the CRL is past nextUpdate by more than `max_stale` at `now`, so that it
    /// may no longer be served at all.
    pub fn is_unusable_at(&self, now: SystemTime, max_stale: Duration) -> bool {
        now > self.next_update + max_stale
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::fixtures::{CrlBuilder, CrlEntry, LeafSpec, RawExtension, TestCa};

    const ORIGIN: &str = "http://127.0.0.1:9000/ca.crl";

    fn make_ca(name: &str) -> (TestCa, ParsedCertificate) {
        let ca = TestCa::root(name).expect("test CA");
        let parsed = ParsedCertificate::from_der(ca.cert_der()).expect("test CA decodes");
        (ca, parsed)
    }

    /// A CRL builder with the CRL number every conforming CRL carries.
    fn builder() -> CrlBuilder {
        CrlBuilder::new().crl_number(1)
    }

    fn options() -> VerifyOptions {
        VerifyOptions::at(SystemTime::now(), Duration::from_secs(300))
    }

    fn verify(der: &[u8], issuer: &ParsedCertificate) -> Result<VerifiedCrl, CrlError> {
        DecodedCrl::from_der(der, ORIGIN)?.verify(issuer, issuer, &options())
    }

    fn unknown_extension(critical: bool) -> RawExtension {
        RawExtension {
            oid: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1"),
            critical,
            value_der: vec![0x05, 0x00],
        }
    }

    #[test]
    fn valid_crl_verifies_and_indexes() {
        let (ca, parsed) = make_ca("Valid CA");
        let revoked_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let der = CrlBuilder::new()
            .crl_number(7)
            .authority_key_identifier()
            .entry(
                CrlEntry::new(&[0x0e], revoked_at).reason(rcgen::RevocationReason::KeyCompromise),
            )
            .build(&ca)
            .expect("CRL builds");

        let crl = verify(&der, &parsed).expect("valid CRL verifies");
        assert_eq!(crl.crl_number(), [7u8]);
        assert_eq!(crl.entry_count(), 1);
        let entry = crl
            .revoked_entry(parsed.subject(), &Serial::from_der_content(&[0x0e]))
            .expect("serial 0e is listed");
        assert_eq!(entry.revocation_time, revoked_at);
        assert_eq!(
            entry.reason,
            Some(super::super::RevocationReason::KeyCompromise)
        );
        assert!(
            crl.revoked_entry(parsed.subject(), &Serial::from_der_content(&[0x0f]))
                .is_none()
        );
    }

    #[test]
    fn bad_signature_rejected() {
        let (ca, parsed) = make_ca("Signing CA");
        let der = builder()
            .corrupt_signature()
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("corrupt signature");
        assert!(
            matches!(
                error,
                CrlError::Signature {
                    error: crate::x509::SignatureError::Invalid,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains(ORIGIN), "{error}");
    }

    #[test]
    fn other_key_with_same_name_rejected() {
        let (_, parsed) = make_ca("Same Name CA");
        let (impostor, _) = make_ca("Same Name CA");
        let der = builder().build(&impostor).expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("signed by another key");
        assert!(matches!(error, CrlError::Signature { .. }), "{error:?}");
    }

    #[test]
    fn wrong_issuer_rejected() {
        let (ca_a, parsed_a) = make_ca("CA A");
        let (ca_b, _) = make_ca("CA B");
        let der = builder()
            .issuer_der(&ca_b.subject_der())
            .build(&ca_a)
            .expect("CRL builds");
        let error = verify(&der, &parsed_a).expect_err("issuer is CA B");
        assert!(
            matches!(error, CrlError::IssuerMismatch { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("CA B"), "{error}");
    }

    #[test]
    fn expired_crl_rejected() {
        let (ca, parsed) = make_ca("Expired CA");
        let next_update = SystemTime::now() - Duration::from_secs(3600);
        let der = builder()
            .this_update(next_update - Duration::from_secs(86_400))
            .next_update(Some(next_update))
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("nextUpdate passed");
        assert!(matches!(error, CrlError::Expired { .. }), "{error:?}");
        assert_eq!(error.reason_code(), "crl_expired");
    }

    #[test]
    fn future_this_update_rejected() {
        let (ca, parsed) = make_ca("Future CA");
        let der = builder()
            .this_update(SystemTime::now() + Duration::from_secs(20 * 60))
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("thisUpdate 20 minutes ahead");
        assert!(matches!(error, CrlError::NotYetValid { .. }), "{error:?}");
    }

    #[test]
    fn this_update_within_skew_accepted() {
        let (ca, parsed) = make_ca("Skew CA");
        let der = builder()
            .this_update(SystemTime::now() + Duration::from_secs(2))
            .build(&ca)
            .expect("CRL builds");
        assert!(verify(&der, &parsed).is_ok());
    }

    #[test]
    fn missing_next_update_rejected() {
        let (ca, parsed) = make_ca("Open CA");
        let der = builder().next_update(None).build(&ca).expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("no nextUpdate");
        assert!(
            matches!(error, CrlError::MissingNextUpdate { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn missing_next_update_within_max_age_accepted() {
        let (ca, parsed) = make_ca("Open CA");
        let this_update = SystemTime::now() - Duration::from_secs(3600);
        let der = builder()
            .this_update(this_update)
            .next_update(None)
            .build(&ca)
            .expect("CRL builds");
        let decoded = DecodedCrl::from_der(&der, ORIGIN).expect("decodes");
        let mut options = options();
        options.max_age_without_next_update = Some(Duration::from_secs(86_400));

        let crl = decoded
            .verify(&parsed, &parsed, &options)
            .expect("within max age");
        let expected_end = SystemTime::UNIX_EPOCH
            + Duration::from_secs(
                this_update
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_secs()
                    + 86_400,
            );
        assert_eq!(crl.next_update(), expected_end);

        options.max_age_without_next_update = Some(Duration::from_secs(1800));
        let error = decoded
            .verify(&parsed, &parsed, &options)
            .expect_err("older than max age");
        assert!(matches!(error, CrlError::Expired { .. }), "{error:?}");
    }

    #[test]
    fn unknown_critical_extension_rejected() {
        let (ca, parsed) = make_ca("Extension CA");
        let der = builder()
            .extension(unknown_extension(true))
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("unknown critical extension");
        assert!(
            matches!(error, CrlError::UnknownCriticalExtension { oid, .. } if oid.to_string() == "1.3.6.1.4.1.55555.1"),
            "{error:?}"
        );
    }

    #[test]
    fn unknown_noncritical_extension_ignored() {
        let (ca, parsed) = make_ca("Extension CA");
        let der = builder()
            .extension(unknown_extension(false))
            .build(&ca)
            .expect("CRL builds");
        assert!(verify(&der, &parsed).is_ok());
    }

    #[test]
    fn unknown_critical_entry_extension_rejected() {
        let (ca, parsed) = make_ca("Entry CA");
        let entry = CrlEntry::new(&[0x05], SystemTime::now()).extension(unknown_extension(true));
        let der = builder().entry(entry).build(&ca).expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("unknown critical entry extension");
        assert!(
            matches!(error, CrlError::UnknownCriticalEntryExtension { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("serial 05"), "{error}");
    }

    #[test]
    fn undecodable_bytes_rejected() {
        let error = DecodedCrl::from_der(&[0x30, 0x03, 0x02, 0x01, 0x01], ORIGIN)
            .expect_err("not a CertificateList");
        assert!(matches!(error, CrlError::Decode { .. }), "{error:?}");

        let error = DecodedCrl::from_pem_or_der(b"<html>not found</html>", ORIGIN)
            .expect_err("HTML error page");
        assert!(matches!(error, CrlError::Encoding { .. }), "{error:?}");

        let error = DecodedCrl::from_pem_or_der(b"", ORIGIN).expect_err("empty body");
        assert!(matches!(error, CrlError::Encoding { .. }), "{error:?}");
    }

    #[test]
    fn truncated_crl_rejected() {
        let (ca, _) = make_ca("Truncated CA");
        let der = builder().build(&ca).expect("CRL builds");
        for length in [1, der.len() / 2, der.len() - 1] {
            let error = DecodedCrl::from_der(&der[..length], ORIGIN).expect_err("truncated");
            assert!(
                matches!(error, CrlError::Decode { .. }),
                "length {length}: {error:?}"
            );
        }
    }

    #[test]
    fn leading_zero_serial_matches() {
        let (ca, parsed) = make_ca("Serial CA");
        let der = builder()
            .entry(CrlEntry::new(&[0x00, 0x80, 0x01], SystemTime::now()))
            .entry(CrlEntry::new(&[0xff, 0x01], SystemTime::now()))
            .build(&ca)
            .expect("CRL builds");
        let crl = verify(&der, &parsed).expect("CRL verifies");

        let parsed_hex = Serial::parse_hex("8001").expect("hex serial");
        assert!(
            crl.revoked_entry(parsed.subject(), &parsed_hex).is_some(),
            "0x8001 must match 00 80 01"
        );
        assert!(
            crl.revoked_entry(parsed.subject(), &Serial::from_der_content(&[0x80, 0x01]))
                .is_none()
        );
        assert!(
            crl.revoked_entry(parsed.subject(), &Serial::from_der_content(&[0xff, 0x01]))
                .is_some()
        );
        assert!(
            crl.revoked_entry(parsed.subject(), &Serial::parse_hex("ff01").expect("hex"))
                .is_none()
        );
        // The negative serial ff 01 is minus 0xff, written as it is displayed.
        assert!(
            crl.revoked_entry(parsed.subject(), &Serial::parse_hex("-ff").expect("hex"))
                .is_some()
        );

        let leaf = ca
            .leaf(&LeafSpec {
                common_name: "client".to_owned(),
                serial: vec![0x80, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf");
        let leaf = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
        assert_eq!(leaf.serial().as_bytes(), [0x00, 0x80, 0x01]);
        assert!(
            crl.revoked_entry(parsed.subject(), &leaf.serial())
                .is_some()
        );
    }

    #[test]
    fn delta_crl_records_base_number() {
        let (ca, parsed) = make_ca("Delta CA");
        let der = CrlBuilder::new()
            .crl_number(5)
            .extension(RawExtension {
                oid: oids::ID_CE_DELTA_CRL_INDICATOR,
                critical: true,
                value_der: vec![0x02, 0x01, 0x04],
            })
            .build(&ca)
            .expect("CRL builds");
        let crl = verify(&der, &parsed).expect("delta CRL verifies");
        assert!(crl.is_delta());
        assert_eq!(crl.delta_base(), Some(&[4u8][..]));
    }

    #[test]
    fn noncritical_delta_indicator_rejected() {
        let (ca, parsed) = make_ca("Delta CA");
        let der = builder()
            .extension(RawExtension {
                oid: oids::ID_CE_DELTA_CRL_INDICATOR,
                critical: false,
                value_der: vec![0x02, 0x01, 0x04],
            })
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("deltaCRLIndicator must be critical");
        assert!(
            matches!(error, CrlError::MalformedExtension { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn issuing_distribution_point_read_as_scope() {
        let (ca, parsed) = make_ca("IDP CA");
        // IssuingDistributionPoint { onlyContainsUserCerts [1] TRUE }
        let der = builder()
            .extension(RawExtension {
                oid: oids::ID_CE_ISSUING_DISTRIBUTION_POINT,
                critical: true,
                value_der: vec![0x30, 0x03, 0x81, 0x01, 0xff],
            })
            .build(&ca)
            .expect("CRL builds");
        let crl = verify(&der, &parsed).expect("CRL with an IDP verifies");
        assert!(crl.scope().only_user_certs);
        assert!(!crl.scope().only_ca_certs);
        assert!(!crl.scope().indirect);
    }

    #[test]
    fn empty_only_some_reasons_rejected() {
        let (ca, parsed) = make_ca("IDP CA");
        // IssuingDistributionPoint { onlySomeReasons [3] BIT STRING with no bits }
        let der = builder()
            .extension(RawExtension {
                oid: oids::ID_CE_ISSUING_DISTRIBUTION_POINT,
                critical: true,
                value_der: vec![0x30, 0x03, 0x83, 0x01, 0x00],
            })
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("empty onlySomeReasons");
        assert!(
            matches!(error, CrlError::MalformedExtension { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn certificate_issuer_outside_indirect_crl_rejected() {
        let (ca, parsed) = make_ca("Direct CA");
        let entry = CrlEntry::new(&[0x05], SystemTime::now()).extension(RawExtension {
            oid: oids::ID_CE_CERTIFICATE_ISSUER,
            critical: true,
            value_der: vec![0x30, 0x00],
        });
        let der = builder().entry(entry).build(&ca).expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("certificateIssuer without indirectCRL");
        assert!(
            matches!(error, CrlError::CertificateIssuerInDirectCrl { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn missing_crl_number_rejected() {
        let (ca, parsed) = make_ca("Unnumbered CA");
        let der = CrlBuilder::new().build(&ca).expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("no cRLNumber");
        assert!(
            matches!(error, CrlError::MissingCrlNumber { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn authority_key_id_mismatch_rejected() {
        let (ca, parsed) = make_ca("AKI CA");
        let der = builder()
            .authority_key_identifier_value(&[0xde, 0xad, 0xbe, 0xef])
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("AKI names another key");
        assert!(
            matches!(error, CrlError::AuthorityKeyIdMismatch { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("deadbeef"), "{error}");
    }

    #[test]
    fn duplicate_extension_rejected() {
        let (ca, parsed) = make_ca("Duplicate CA");
        let der = builder()
            .extension(unknown_extension(false))
            .extension(unknown_extension(false))
            .build(&ca)
            .expect("CRL builds");
        let error = verify(&der, &parsed).expect_err("extension twice");
        assert!(
            matches!(error, CrlError::MalformedExtension { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn signer_with_other_name_rejected() {
        let (ca, parsed) = make_ca("Named CA");
        let (_, other) = make_ca("Other CA");
        let der = builder().build(&ca).expect("CRL builds");
        let decoded = DecodedCrl::from_der(&der, ORIGIN).expect("decodes");
        let error = decoded
            .verify(&parsed, &other, &options())
            .expect_err("signer named differently");
        assert!(
            matches!(error, CrlError::SignerNameMismatch { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn intermediate_p256_crl_verifies() {
        let (root, _) = make_ca("Root For Intermediate");
        let intermediate = root
            .intermediate("P-256 Intermediate")
            .expect("intermediate");
        let parsed = ParsedCertificate::from_der(intermediate.cert_der()).expect("decodes");
        let der = builder().build(&intermediate).expect("CRL builds");
        assert!(verify(&der, &parsed).is_ok());
    }

    #[test]
    fn printable_issuer_matches_utf8_subject() {
        use der::asn1::{Any, PrintableStringRef};
        use der::{Encode, Tag, Tagged};

        let (ca, parsed) = make_ca("Mixed Encoding CA");
        let mut issuer = parsed.subject().clone();
        for rdn in &mut issuer.0 {
            let attributes: Vec<_> = rdn
                .0
                .iter()
                .map(|attribute| {
                    let mut attribute = attribute.clone();
                    if attribute.value.tag() == Tag::Utf8String {
                        let text = std::str::from_utf8(attribute.value.value()).expect("UTF-8");
                        let printable = PrintableStringRef::new(text).expect("printable text");
                        attribute.value = Any::encode_from(&printable).expect("encodes");
                    }
                    attribute
                })
                .collect();
            rdn.0 = der::asn1::SetOfVec::try_from(attributes).expect("distinct attributes");
        }
        let issuer_der = issuer.to_der().expect("name encodes");
        assert_ne!(
            issuer_der,
            ca.subject_der(),
            "the encodings must differ for this test"
        );

        let der = builder()
            .issuer_der(&issuer_der)
            .build(&ca)
            .expect("CRL builds");
        assert!(verify(&der, &parsed).is_ok());
    }
}
