//! Revocation decisions from OCSP: asking a responder about one certificate and turning the
//! verified response, or the failure, into a [`Decision`].

use std::time::SystemTime;

use super::decide::{Decision, UnknownReason};
use crate::ocsp::{
    CertId, HashAlgorithm, OcspError, OcspOptions, OcspRequest, OcspStatus, RequestMethod,
    VerifiedOcspResponse, send_request, verify_response,
};
use crate::source::Fetcher;
use crate::x509::ParsedCertificate;

/// How to ask a responder.
#[derive(Clone, Copy, Debug)]
pub struct OcspQuery {
    pub hash: HashAlgorithm,
    pub method: RequestMethod,
    pub nonce: bool,
}

/// Asks `responder_url` for the status of `certificate`, issued by `issuer`, and verifies the
/// response against `issuer`.
pub async fn query_responder(
    fetcher: &Fetcher,
    responder_url: &url::Url,
    certificate: &ParsedCertificate,
    issuer: &ParsedCertificate,
    query: OcspQuery,
    mut options: OcspOptions,
) -> Result<VerifiedOcspResponse, OcspError> {
    let cert_id = CertId::for_certificate(query.hash, certificate, issuer);
    let nonce = query.nonce.then(random_nonce);
    let request = OcspRequest::new(cert_id.clone(), nonce)?;
    let body = send_request(fetcher, responder_url, &request, query.method).await?;
    options.nonce = nonce;
    verify_response(&body, responder_url.as_str(), &cert_id, issuer, &options)
}

/// Turns a verified OCSP response into a decision. The responder's `unknown` is undetermined,
/// never good.
pub fn decision_from_response(response: &VerifiedOcspResponse, now: SystemTime) -> Decision {
    let stale = response.is_expired_at(now);
    match response.status() {
        OcspStatus::Good => Decision::Good {
            this_update: response.this_update(),
            next_update: response.next_update(),
            stale,
        },
        OcspStatus::Revoked {
            revocation_time,
            reason,
        } => Decision::Revoked {
            revocation_time: *revocation_time,
            reason: *reason,
            this_update: response.this_update(),
            next_update: response.next_update(),
            stale,
        },
        OcspStatus::Unknown => Decision::Unknown(UnknownReason::new(
            "ocsp_unknown",
            format!(
                "the OCSP responder {} has no record of the certificate",
                response.responder_url()
            ),
        )),
    }
}

/// Turns a failed OCSP query into an undetermined decision with the error's reason code.
pub fn decision_from_error(error: &OcspError) -> Decision {
    Decision::Unknown(UnknownReason::new(error.reason_code(), error.to_string()))
}

/// Generates a random request nonce of 16 bytes (RFC 8954 allows at most 32).
fn random_nonce() -> [u8; 16] {
    use ring::rand::SecureRandom;

    let mut nonce = [0u8; 16];
    // On the very unlikely failure of the system generator the nonce stays all zeros, which
    // weakens replay protection but not the signature checks.
    let _ = ring::rand::SystemRandom::new().fill(&mut nonce);
    nonce
}
