//! Revocation checking along a certification path, for `revcheck check`.
//!
//! The path runs from the certificate in question through the CA certificates given to a
//! trust anchor (a self-signed certificate among them). Every certificate on it except the
//! anchor is checked against the CRLs of its issuer. A CRL signed by a separate CRL-signing
//! certificate is accepted when that certificate has the CA's name, allows cRLSign, chains to
//! the same trust anchor and is itself not revoked (RFC 5280 section 6.3.3 (f)).
//!
//! NOTE: path validation here covers names, signatures, validity periods, basic constraints
//! and key usage. Name constraints, certificate policies and path length constraints are not
//! evaluated, because the purpose is revocation status, not full RFC 5280 path validation.

use std::time::SystemTime;

use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use super::decide::{CertStatus, CertificateFacts, Decision, StatusSource, UnknownReason, decide};
use crate::crl::{DecodedCrl, VerifiedCrl, VerifyOptions};
use crate::x509::time::format_rfc3339;
use crate::x509::{ParsedCertificate, names_match};

/// Longest path tried, in certificates including the anchor.
const MAX_PATH_LENGTH: usize = 10;

/// Maximum nesting of separate CRL signers (a signer whose own CRL has a separate signer).
const MAX_SIGNER_DEPTH: usize = 3;

/// Errors from building a certification path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error(
        "no issuer found for {certificate} among the CA certificates given; add its issuer \
         with --ca, up to a self-signed trust anchor"
    )]
    NoPath { certificate: String },

    #[error(
        "{certificate} is not valid at {at}: its validity period is {not_before} to {not_after}"
    )]
    NotValid {
        certificate: String,
        at: String,
        not_before: String,
        not_after: String,
    },
}

/// The revocation verdict for one certificate on the path.
#[derive(Clone, Debug)]
pub struct CertificateResult {
    pub certificate: ParsedCertificate,
    pub decision: Decision,
    /// The source that decided the status, `None` while it is undetermined.
    pub source: Option<StatusSource>,
}

/// The outcome of checking a certificate and its path.
#[derive(Clone, Debug)]
pub struct ChainReport {
    /// The certification path from the certificate to its trust anchor, when one was built.
    pub path: Vec<ParsedCertificate>,
    /// One result per certificate on the path except the trust anchor, leaf first.
    pub results: Vec<CertificateResult>,
    pub path_error: Option<PathError>,
}

impl ChainReport {
    /// Revoked when any certificate is revoked, good when every one is good, else unknown.
    pub fn overall(&self) -> CertStatus {
        let statuses: Vec<CertStatus> = self.results.iter().map(|r| r.decision.status()).collect();
        if statuses.contains(&CertStatus::Revoked) {
            CertStatus::Revoked
        } else if self.path_error.is_some() || statuses.contains(&CertStatus::Unknown) {
            CertStatus::Unknown
        } else {
            CertStatus::Good
        }
    }
}

/// The certificates and CRLs a path check may use, and the time it is evaluated at.
#[derive(Debug)]
pub struct ChainCheck<'a> {
    /// CA certificates: trust anchors, intermediates and CRL signers.
    pub pool: &'a [ParsedCertificate],
    pub crls: &'a [DecodedCrl],
    pub options: VerifyOptions,
}

impl<'a> ChainCheck<'a> {
    /// Builds the path of `target` and checks the revocation status of each certificate on it.
    pub fn check(&self, target: &ParsedCertificate) -> ChainReport {
        let mut report = ChainReport {
            path: Vec::new(),
            results: Vec::new(),
            path_error: None,
        };

        let path = match self.build_path(target, None) {
            Ok(path) => path,
            Err(error) => {
                report.path_error = Some(error);
                return report;
            }
        };
        report.path = path
            .iter()
            .map(|certificate| (*certificate).clone())
            .collect();

        let anchor = path[path.len() - 1];
        for pair in path.windows(2) {
            let decision = self.decide_certificate(pair[0], pair[1], anchor, 0, None);
            let source = (decision.status() != CertStatus::Unknown).then_some(StatusSource::Crl);
            report.results.push(CertificateResult {
                certificate: pair[0].clone(),
                decision,
                source,
            });
        }
        report
    }

    fn at(&self) -> SystemTime {
        self.options.now
    }

    fn is_anchor(certificate: &ParsedCertificate) -> bool {
        certificate.is_self_issued() && certificate.verify_signed_by(certificate).is_ok()
    }

    /// Builds a path from `target` to a trust anchor (to `required_anchor` when given) by
    /// depth-first search over the pool. The path starts with `target` and ends with the anchor.
    pub fn build_path<'c>(
        &'c self,
        target: &'c ParsedCertificate,
        required_anchor: Option<&ParsedCertificate>,
    ) -> Result<Vec<&'c ParsedCertificate>, PathError> {
        if !target.is_valid_at(self.at()) {
            return Err(not_valid(target, self.at()));
        }
        let mut path = vec![target];
        if self.extend_path(&mut path, required_anchor) {
            Ok(path)
        } else {
            Err(PathError::NoPath {
                certificate: target.describe(),
            })
        }
    }

    fn extend_path<'c>(
        &'c self,
        path: &mut Vec<&'c ParsedCertificate>,
        required_anchor: Option<&ParsedCertificate>,
    ) -> bool {
        let current = path[path.len() - 1];
        if path.len() >= MAX_PATH_LENGTH {
            return false;
        }

        for candidate in self.pool {
            let already_on_path = path
                .iter()
                .any(|on_path| on_path.fingerprint() == candidate.fingerprint());
            if already_on_path
                || !names_match(candidate.subject(), current.issuer())
                || current.verify_signed_by(candidate).is_err()
            {
                continue;
            }

            if Self::is_anchor(candidate) {
                let wanted = required_anchor
                    .is_none_or(|anchor| anchor.fingerprint() == candidate.fingerprint());
                if wanted {
                    path.push(candidate);
                    return true;
                }
                continue;
            }

            // RFC 5280 section 6.1.4 (k) and (n): an intermediate must be a CA whose key may
            // sign certificates, and it must be valid at the time of the check.
            let may_sign_certificates = candidate
                .key_usage()
                .is_none_or(|usage| usage.key_cert_sign());
            if !candidate.is_ca() || !may_sign_certificates || !candidate.is_valid_at(self.at()) {
                continue;
            }

            path.push(candidate);
            if self.extend_path(path, required_anchor) {
                return true;
            }
            path.pop();
        }
        false
    }

    /// Decides the status of `certificate`, issued by `issuer`, from the CRLs of its issuer and
    /// of any CRL issuer its distribution points name (indirect CRLs).
    ///
    /// `signer_in_question` is set while the status of a CRL signer is being decided: a CRL
    /// that this signer signed may then cover the signer itself, as an indirect CRL covering
    /// its own issuer does, without asking again whether the signer is trusted.
    fn decide_certificate(
        &self,
        certificate: &ParsedCertificate,
        issuer: &ParsedCertificate,
        anchor: &ParsedCertificate,
        signer_depth: usize,
        signer_in_question: Option<&ParsedCertificate>,
    ) -> Decision {
        let crl_issuer_names: Vec<&Name> = certificate
            .crl_distribution_points()
            .iter()
            .flat_map(|point| point.crl_issuer.iter().flatten())
            .filter_map(|name| match name {
                GeneralName::DirectoryName(name) => Some(name),
                _ => None,
            })
            .collect();
        let is_candidate = |crl: &&DecodedCrl| {
            names_match(crl.issuer(), issuer.subject())
                || crl_issuer_names
                    .iter()
                    .any(|name| names_match(crl.issuer(), name))
        };

        let mut verified: Vec<VerifiedCrl> = Vec::new();
        let mut first_error: Option<UnknownReason> = None;
        for crl in self.crls.iter().filter(is_candidate) {
            match self.verify_crl(crl, issuer, anchor, signer_depth, signer_in_question) {
                Ok(crl) => verified.push(crl),
                Err(reason) => {
                    first_error.get_or_insert(reason);
                }
            }
        }

        let facts = CertificateFacts::of(certificate);
        let usable: Vec<&VerifiedCrl> = verified.iter().collect();
        match (
            decide(&usable, &facts, self.at(), std::time::Duration::ZERO),
            first_error,
        ) {
            // Name the rejected CRL rather than only "no CRL", so the cause is visible.
            (Decision::Unknown(reason), Some(error)) if reason.code == "no_crl" => {
                Decision::Unknown(error)
            }
            (decision, _) => decision,
        }
    }

    /// Verifies `crl`, signed by the certificate issuer itself or by another certificate for
    /// the CRL issuer's name: a separate CRL signer of the same CA, or the issuer of an
    /// indirect CRL. Such a certificate must chain to `anchor` and must not be revoked.
    fn verify_crl(
        &self,
        crl: &DecodedCrl,
        issuer: &ParsedCertificate,
        anchor: &ParsedCertificate,
        signer_depth: usize,
        signer_in_question: Option<&ParsedCertificate>,
    ) -> Result<VerifiedCrl, UnknownReason> {
        let mut last_error = None;
        if names_match(crl.issuer(), issuer.subject()) {
            match crl.verify(issuer, issuer, &self.options) {
                Ok(verified) => return Ok(verified),
                Err(error) => {
                    if !error.is_signer_problem() {
                        return Err(UnknownReason::new(error.reason_code(), error.to_string()));
                    }
                    last_error = Some(UnknownReason::new(error.reason_code(), error.to_string()));
                }
            }
        }
        if signer_depth >= MAX_SIGNER_DEPTH {
            return Err(last_error.unwrap_or_else(|| no_signer(crl)));
        }

        let other_signers = self.pool.iter().filter(|signer| {
            signer.fingerprint() != issuer.fingerprint()
                && names_match(signer.subject(), crl.issuer())
        });
        for signer in other_signers {
            let verified = match crl.verify(signer, signer, &self.options) {
                Ok(verified) => verified,
                Err(error) => {
                    last_error = Some(UnknownReason::new(error.reason_code(), error.to_string()));
                    continue;
                }
            };
            let in_question = signer_in_question
                .is_some_and(|in_question| in_question.fingerprint() == signer.fingerprint());
            if in_question {
                return Ok(verified);
            }
            return match self.signer_is_trusted(signer, anchor, signer_depth) {
                Ok(()) => Ok(verified),
                Err(problem) => Err(UnknownReason::new(
                    "crl_signer_invalid",
                    format!(
                        "CRL from {} is signed by {}, which cannot be trusted: {problem}",
                        crl.origin(),
                        signer.describe()
                    ),
                )),
            };
        }
        Err(last_error.unwrap_or_else(|| no_signer(crl)))
    }

    /// Checks that a separate CRL signer chains to `anchor` and that neither it nor any CA on
    /// its path is revoked or of undetermined status.
    fn signer_is_trusted(
        &self,
        signer: &ParsedCertificate,
        anchor: &ParsedCertificate,
        signer_depth: usize,
    ) -> Result<(), String> {
        let path = self
            .build_path(signer, Some(anchor))
            .map_err(|error| error.to_string())?;
        for pair in path.windows(2) {
            let decision =
                self.decide_certificate(pair[0], pair[1], anchor, signer_depth + 1, Some(signer));
            match decision {
                Decision::Good { .. } => {}
                Decision::Revoked { .. } => {
                    return Err(format!("{} is revoked", pair[0].describe()));
                }
                Decision::Unknown(reason) => {
                    return Err(format!(
                        "status of {} is unknown: {}",
                        pair[0].describe(),
                        reason.detail
                    ));
                }
            }
        }
        Ok(())
    }
}

fn no_signer(crl: &DecodedCrl) -> UnknownReason {
    UnknownReason::new(
        "crl_signer_invalid",
        format!(
            "CRL from {} is issued by \"{}\", and no certificate given for that name verifies \
             its signature; add the CRL issuer's certificate with --ca",
            crl.origin(),
            crl.issuer()
        ),
    )
}

fn not_valid(certificate: &ParsedCertificate, at: SystemTime) -> PathError {
    PathError::NotValid {
        certificate: certificate.describe(),
        at: format_rfc3339(at),
        not_before: format_rfc3339(certificate.not_before()),
        not_after: format_rfc3339(certificate.not_after()),
    }
}
