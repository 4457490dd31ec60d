//! JSON bodies of the HTTP API.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::UnknownPolicy;
use crate::status::{CertStatus, Decision, StatusSource, Verdict};
use crate::x509::Serial;
use crate::x509::time::format_rfc3339;

/// `POST /v1/status` request: a certificate, or a CA id with a serial number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub certificate: Option<String>,
    pub ca: Option<String>,
    pub serial: Option<String>,
}

/// The status response for one certificate.
#[derive(Debug, Serialize)]
pub struct StatusResponse {
    pub status: CertStatus,
    pub ca: String,
    /// Content octets of the serial number's DER INTEGER, lowercase hex (`008001` for 0x8001).
    pub serial: String,
    /// Source of the verdict (`crl`), absent when the status is unknown.
    pub source: Option<&'static str>,
    pub revocation_time: Option<String>,
    /// The CRL reason for a revoked certificate, or why the status is unknown.
    pub reason: Option<&'static str>,
    /// A sentence explaining an unknown status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For an unknown status, what the CA's `on_unknown` policy makes of it for access:
    /// `deny` or `allow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_unknown: Option<&'static str>,
    pub this_update: Option<String>,
    pub next_update: Option<String>,
    pub checked_at: String,
    /// Whether the verdict comes from a CRL past its nextUpdate, served within the CA's
    /// `max_stale`.
    pub stale: bool,
    /// For a lookup by certificate: the status of each CA certificate above it, issuing CA
    /// first, up to the root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intermediates: Option<Vec<IntermediateResponse>>,
}

/// The status of one CA certificate on the path of a certificate looked up.
#[derive(Debug, Serialize)]
pub struct IntermediateResponse {
    pub subject: String,
    /// The status fields, with `ca` naming the configured CA that issued this certificate
    /// (empty when that issuer is not configured).
    #[serde(flatten)]
    pub status: StatusResponse,
}

impl StatusResponse {
    pub fn new(
        ca: &str,
        serial: &Serial,
        verdict: &Verdict,
        on_unknown: UnknownPolicy,
        checked_at: SystemTime,
    ) -> Self {
        let decision = &verdict.decision;
        let source = verdict.source.map(StatusSource::as_str);
        let mut response = Self {
            status: decision.status(),
            ca: ca.to_owned(),
            serial: serial.to_string(),
            source: None,
            revocation_time: None,
            reason: None,
            detail: None,
            on_unknown: None,
            this_update: None,
            next_update: None,
            checked_at: format_rfc3339(checked_at),
            stale: false,
            intermediates: None,
        };
        match decision {
            Decision::Good {
                this_update,
                next_update,
                stale,
            } => {
                response.source = source;
                response.stale = *stale;
                response.this_update = Some(format_rfc3339(*this_update));
                response.next_update = Some(format_rfc3339(*next_update));
            }
            Decision::Revoked {
                revocation_time,
                reason,
                this_update,
                next_update,
                stale,
            } => {
                response.source = source;
                response.stale = *stale;
                response.revocation_time = Some(format_rfc3339(*revocation_time));
                // RFC 5280 section 5.3.1: an absent reasonCode means unspecified.
                response.reason = Some(reason.map_or("unspecified", |r| r.as_str()));
                response.this_update = Some(format_rfc3339(*this_update));
                response.next_update = Some(format_rfc3339(*next_update));
            }
            Decision::Unknown(reason) => {
                response.reason = Some(reason.code);
                response.detail = Some(reason.detail.clone());
                response.on_unknown = Some(match on_unknown {
                    UnknownPolicy::Deny => "deny",
                    UnknownPolicy::Allow => "allow",
                });
            }
        }
        response
    }
}

/// The body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorResponse {
    pub error: &'static str,
    pub message: String,
}

/// One CA in `GET /v1/cas`.
#[derive(Debug, Serialize)]
pub struct CaResponse {
    pub id: String,
    pub subject: String,
    /// The revocation method: `crl`, `ocsp`, `ocsp_then_crl` or `crl_then_ocsp`.
    pub method: &'static str,
    /// What an undetermined status means for access: `deny` or `allow`.
    pub on_unknown: &'static str,
    /// The OCSP responder URLs, in the order they are asked.
    pub ocsp_responders: Vec<String>,
    pub sources: Vec<SourceResponse>,
    pub crl_number: Option<String>,
    pub this_update: Option<String>,
    pub next_update: Option<String>,
    pub entries: Option<usize>,
    pub ready: bool,
}

#[derive(Debug, Serialize)]
pub struct SourceResponse {
    pub url: String,
    pub last_fetch: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
}

/// `GET /readyz` body.
#[derive(Debug, Serialize)]
pub struct ReadyResponse {
    pub ready: bool,
    pub missing: Vec<MissingData>,
}

#[derive(Debug, Serialize)]
pub struct MissingData {
    pub ca: String,
    pub reason: String,
}
