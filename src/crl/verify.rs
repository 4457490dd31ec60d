//! Verification of a decoded CRL against its issuing CA (RFC 5280 sections 5 and 6.3.3).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::Decode;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::name::Name;

use super::index::{RevokedEntry, RevokedIndex};
use super::{CrlError, DecodedCrl};
use crate::x509::{ParsedCertificate, Serial, hex, names_match};

const ID_PE_AUTHORITY_INFO_ACCESS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");

/// The clock against which a CRL is judged.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    pub now: SystemTime,
    /// How far thisUpdate may lie in the future, for clocks that disagree a little.
    pub clock_skew: Duration,
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
    crl_number: Option<Vec<u8>>,
    index: RevokedIndex,
}

/// What the CRL extensions say, once each has been checked.
#[derive(Default)]
struct CrlExtensions {
    authority_key_id: Option<Vec<u8>>,
    crl_number: Option<Vec<u8>>,
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

        self.check_signature(signer)?;
        let (this_update, next_update) = self.check_times(options)?;
        let index = self.build_index()?;

        Ok(VerifiedCrl {
            origin,
            der: Arc::clone(self.der()),
            issuer: tbs.issuer.clone(),
            this_update,
            next_update,
            crl_number: extensions.crl_number,
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

    fn check_signature(&self, signer: &ParsedCertificate) -> Result<(), CrlError> {
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

        // NOTE: RFC 5280 makes nextUpdate mandatory for conforming CAs; a CRL without it has
        // no end of validity, so it is rejected rather than trusted forever.
        let Some(next_update) = tbs.next_update.map(|time| time.to_system_time()) else {
            return Err(CrlError::MissingNextUpdate {
                origin: self.origin().to_owned(),
            });
        };
        if options.now > next_update {
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
        let mut read = CrlExtensions::default();
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
                oids::ID_CE_DELTA_CRL_INDICATOR => {
                    return Err(CrlError::DeltaCrlUnsupported {
                        origin: self.origin().to_owned(),
                    });
                }
                // The scope an IDP sets must be honoured, so a CRL with one is not used until
                // that is implemented, critical or not.
                oids::ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    return Err(CrlError::IssuingDistributionPointUnsupported {
                        origin: self.origin().to_owned(),
                    });
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
        CrlError::MalformedExtension {
            origin: self.origin().to_owned(),
            oid: extension.extn_id,
            detail: error.to_string(),
        }
    }

    /// Builds the serial number index, reading each entry's extensions (section 5.3).
    fn build_index(&self) -> Result<RevokedIndex, CrlError> {
        let mut index = RevokedIndex::default();
        let Some(revoked) = &self.list().tbs_cert_list.revoked_certificates else {
            return Ok(index);
        };

        for entry in revoked {
            let serial = Serial::from_der_content(entry.serial_number.as_bytes());
            let mut reason = None;
            if let Some(extensions) = &entry.crl_entry_extensions {
                self.reject_duplicates(extensions)?;
                for extension in extensions {
                    reason = reason.or(self.read_entry_extension(extension, &serial)?);
                }
            }
            index.insert(
                serial,
                RevokedEntry {
                    revocation_time: entry.revocation_date.to_system_time(),
                    reason,
                },
            );
        }
        Ok(index)
    }

    fn read_entry_extension(
        &self,
        extension: &Extension,
        serial: &Serial,
    ) -> Result<Option<super::RevocationReason>, CrlError> {
        match extension.extn_id {
            oids::ID_CE_CRL_REASONS => {
                let reason = CrlReason::from_der(extension.extn_value.as_bytes())
                    .map_err(|error| self.malformed(extension, &error))?;
                Ok(Some(reason.into()))
            }
            oids::ID_CE_CERTIFICATE_ISSUER => Err(CrlError::IndirectCrlUnsupported {
                origin: self.origin().to_owned(),
                serial: serial.clone(),
            }),
            // invalidityDate and holdInstructionCode do not change whether the entry revokes.
            oids::ID_CE_INVALIDITY_DATE | oids::ID_CE_HOLD_INSTRUCTION_CODE => Ok(None),
            oid if extension.critical => Err(CrlError::UnknownCriticalEntryExtension {
                origin: self.origin().to_owned(),
                serial: serial.clone(),
                oid,
            }),
            _ => Ok(None),
        }
    }
}

impl VerifiedCrl {
    /// The revocation entry for `serial`, if this CRL lists it.
    pub fn revoked_entry(&self, serial: &Serial) -> Option<&RevokedEntry> {
        self.index.get(serial)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The DER bytes the CRL was verified from.
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

    /// The cRLNumber extension as the content octets of its INTEGER.
    pub fn crl_number(&self) -> Option<&[u8]> {
        self.crl_number.as_deref()
    }

    pub fn entry_count(&self) -> usize {
        self.index.len()
    }

    /// Whether nextUpdate has passed at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now > self.next_update
    }
}
