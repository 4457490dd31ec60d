//! Route table and handlers.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::body::{
    CaResponse, ErrorResponse, IntermediateResponse, MissingData, ReadyResponse, SourceResponse,
    StatusRequest, StatusResponse,
};
use arc_swap::{ArcSwap, ArcSwapOption};

use crate::auth::{AuthGate, AuthOutcome, DenyReason};
use crate::config::{RevocationMethod, UnknownPolicy};
use crate::metrics::{CacheName, Metrics};
use crate::ocsp::OcspCache;
use crate::status::{Authorities, Authority, CertStatus, Decision, Lookup, UnknownReason, Verdict};
use crate::x509::time::format_rfc3339;
use crate::x509::{ParsedCertificate, Serial, hex, names_match};

/// Largest request body accepted, in bytes. A PEM certificate chain fits many times over.
const MAX_BODY_BYTES: u64 = 64 * 1024;

/// Largest total size of request header names and values accepted, in bytes. nginx forwards a
/// URL-escaped client certificate in one header, which stays well under this.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// State shared by the request handlers.
#[derive(Debug)]
pub struct AppState {
    /// The OCSP result cache of the running configuration, when any CA has responders.
    pub ocsp: Option<OcspCache>,
    /// The CAs of the running configuration, replaced as a whole on reload, so that a request
    /// sees either the old or the new set, never a mix.
    pub authorities: ArcSwap<Authorities>,
    /// The access check of `GET /v1/auth`, replaced on reload; `None` without an `[auth]`
    /// table.
    pub auth: ArcSwapOption<AuthGate>,
    pub metrics: Arc<Metrics>,
}

/// Builds every route of the API, with JSON errors for unknown paths and bad requests.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let state = warp::any().map(move || Arc::clone(&state));

    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| json_reply(StatusCode::OK, &serde_json::json!({"status": "ok"})));
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(state.clone())
        .map(|state: Arc<AppState>| readiness(&state));
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(state.clone())
        .map(|state: Arc<AppState>| {
            let mut response = state.metrics.render().into_response();
            response.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        });
    let cas = warp::path!("v1" / "cas")
        .and(warp::get())
        .and(state.clone())
        .map(|state: Arc<AppState>| list_cas(&state));
    let status_by_serial = warp::path!("v1" / "status" / String / String)
        .and(warp::get())
        .and(state.clone())
        .and_then(
            |ca: String, serial: String, state: Arc<AppState>| async move {
                // Path segments arrive percent-encoded (RFC 3986 section 2.1).
                let ca = percent_decode_segment(&ca);
                let serial = percent_decode_segment(&serial);
                Ok::<_, Infallible>(timed(&state, status_by_serial(&state, &ca, &serial)).await)
            },
        );
    // Every method is accepted, because nginx's auth_request subrequest keeps the method of the
    // client's request unless the proxy sets `proxy_method GET`. The body is never read.
    let auth = warp::path!("v1" / "auth")
        .and(warp::header::headers_cloned())
        .and(state.clone())
        .and_then(|headers: HeaderMap, state: Arc<AppState>| async move {
            Ok::<_, Infallible>(auth_request(&state, &headers).await)
        });
    let status_post = warp::path!("v1" / "status")
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_BODY_BYTES))
        .and(warp::body::bytes())
        .and(state)
        .and_then(|body: bytes::Bytes, state: Arc<AppState>| async move {
            Ok::<_, Infallible>(timed(&state, status_post(&state, &body)).await)
        });

    let header_limit = warp::header::headers_cloned().and_then(|headers: HeaderMap| async move {
        let size = headers_size(&headers);
        if size > MAX_HEADER_BYTES {
            Err(warp::reject::custom(HeadersTooLarge { size }))
        } else {
            Ok(())
        }
    });

    // The access check comes before the header limit: nginx turns a 431 into a 500, so an
    // oversized certificate header is denied with 403 by the check itself.
    auth.or(header_limit.untuple_one().and(
        healthz
            .or(readyz)
            .unify()
            .or(metrics)
            .unify()
            .or(cas)
            .unify()
            .or(status_by_serial)
            .unify()
            .or(status_post)
            .unify(),
    ))
    .unify()
    .recover(handle_rejection)
    .unify()
}

/// Returns the total size of the header names and values of a request, in bytes.
fn headers_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// Rejection for requests whose headers exceed [`MAX_HEADER_BYTES`].
#[derive(Debug)]
struct HeadersTooLarge {
    size: usize,
}

impl warp::reject::Reject for HeadersTooLarge {}

/// Runs a status lookup and records its duration under the `status` endpoint.
async fn timed(state: &AppState, lookup: impl Future<Output = Response>) -> Response {
    let started = std::time::Instant::now();
    let response = lookup.await;
    state
        .metrics
        .lookup_duration
        .with_label_values(&["status"])
        .observe(started.elapsed().as_secs_f64());
    response
}

fn json_reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

fn error_reply(status: StatusCode, error: &'static str, message: impl Into<String>) -> Response {
    json_reply(
        status,
        &ErrorResponse {
            error,
            message: message.into(),
        },
    )
}

fn readiness(state: &AppState) -> Response {
    let now = SystemTime::now();
    let missing: Vec<MissingData> = state
        .authorities
        .load()
        .iter()
        .filter(|authority| !authority.is_ready(now))
        .map(|authority| MissingData {
            ca: authority.id().to_owned(),
            reason: missing_reason(authority),
        })
        .collect();
    let ready = missing.is_empty();
    state.metrics.ready.set(i64::from(ready));

    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_reply(status, &ReadyResponse { ready, missing })
}

fn missing_reason(authority: &Authority) -> String {
    let last_error = authority
        .source_statuses()
        .into_iter()
        .find_map(|status| status.last_error);
    if let Some(crl) = authority.newest_crl() {
        let mut reason = format!(
            "newest CRL passed its nextUpdate {}",
            format_rfc3339(crl.next_update())
        );
        if let Some(error) = last_error {
            reason.push_str(&format!("; last error: {error}"));
        }
        return reason;
    }
    match last_error {
        Some(error) => format!("no verified CRL yet; last error: {error}"),
        None => "no verified CRL yet; the first fetch has not completed".to_owned(),
    }
}

fn list_cas(state: &AppState) -> Response {
    let now = SystemTime::now();
    let cas: Vec<CaResponse> = state
        .authorities
        .load()
        .iter()
        .map(|authority| {
            let crl = authority.newest_crl();
            let sources = authority
                .sources()
                .iter()
                .zip(authority.source_statuses())
                .map(|(source, status)| SourceResponse {
                    url: source.to_string(),
                    last_fetch: status.last_attempt.map(format_rfc3339),
                    last_success: status.last_success.map(format_rfc3339),
                    last_error: status.last_error,
                })
                .collect();
            CaResponse {
                id: authority.id().to_owned(),
                subject: authority.certificate().subject().to_string(),
                method: match authority.method() {
                    RevocationMethod::Crl => "crl",
                    RevocationMethod::Ocsp => "ocsp",
                    RevocationMethod::OcspThenCrl => "ocsp_then_crl",
                    RevocationMethod::CrlThenOcsp => "crl_then_ocsp",
                },
                on_unknown: match authority.on_unknown() {
                    UnknownPolicy::Deny => "deny",
                    UnknownPolicy::Allow => "allow",
                },
                ocsp_responders: authority
                    .ocsp()
                    .map(|ocsp| {
                        ocsp.responder_urls
                            .iter()
                            .map(ToString::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                sources,
                crl_number: crl.as_ref().map(|c| hex::encode(c.crl_number())),
                this_update: crl.as_ref().map(|c| format_rfc3339(c.this_update())),
                next_update: crl.as_ref().map(|c| format_rfc3339(c.next_update())),
                entries: crl.as_ref().map(|c| c.entry_count()),
                ready: authority.is_ready(now),
            }
        })
        .collect();
    json_reply(StatusCode::OK, &serde_json::json!({ "cas": cas }))
}

async fn status_by_serial(state: &AppState, ca: &str, serial: &str) -> Response {
    let authorities = state.authorities.load();
    let Some(authority) = authorities.get(ca) else {
        count_lookup(state, None);
        return error_reply(
            StatusCode::NOT_FOUND,
            "unknown_ca",
            format!(
                "no CA with id \"{}\" is configured; GET /v1/cas lists them",
                truncate(ca)
            ),
        );
    };
    let serial = match Serial::parse_hex(serial) {
        Ok(serial) => serial,
        Err(error) => {
            count_lookup(state, None);
            return error_reply(StatusCode::BAD_REQUEST, "invalid_serial", error.to_string());
        }
    };
    let now = SystemTime::now();
    let verdict = authority
        .verdict(Lookup::Serial(&serial), state.ocsp.as_ref(), now)
        .await;
    count_lookup(state, Some(verdict.status()));
    tracing::debug!(ca = authority.id(), %serial, status = verdict.status().as_str(), "status lookup");
    json_reply(
        StatusCode::OK,
        &StatusResponse::new(
            authority.id(),
            &serial,
            &verdict,
            authority.on_unknown(),
            now,
        ),
    )
}

async fn status_post(state: &AppState, body: &[u8]) -> Response {
    // serde would also read a JSON array as the struct's fields in order.
    let is_object = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'{');
    if !is_object {
        count_lookup(state, None);
        return error_reply(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "request body must be a JSON object of the form {\"certificate\": PEM} or \
             {\"ca\": ID, \"serial\": HEX}",
        );
    }
    let request: StatusRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            count_lookup(state, None);
            return error_reply(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!(
                    "request body is not valid JSON of the form {{\"certificate\": PEM}} or \
                     {{\"ca\": ID, \"serial\": HEX}}: {error}"
                ),
            );
        }
    };

    match (request.certificate, request.ca, request.serial) {
        (Some(pem), None, None) => status_of_certificate(state, &pem).await,
        (None, Some(ca), Some(serial)) => status_by_serial(state, &ca, &serial).await,
        _ => {
            count_lookup(state, None);
            error_reply(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send either \"certificate\" alone, or both \"ca\" and \"serial\"",
            )
        }
    }
}

async fn status_of_certificate(state: &AppState, pem: &str) -> Response {
    let certificates = match ParsedCertificate::from_pem_or_der(pem.as_bytes()) {
        Ok(certificates) => certificates,
        Err(error) => {
            count_lookup(state, None);
            return error_reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_certificate",
                format!("certificate cannot be parsed: {error}"),
            );
        }
    };
    let [certificate] = certificates.as_slice() else {
        count_lookup(state, None);
        return error_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_certificate",
            format!(
                "expected exactly one certificate, got {}; send only the certificate to check",
                certificates.len()
            ),
        );
    };

    let authorities = state.authorities.load();
    let Some(authority) = authorities.find_issuer(certificate) else {
        count_lookup(state, None);
        let named = authorities
            .iter()
            .find(|authority| names_match(authority.certificate().subject(), certificate.issuer()));
        let message = match named {
            Some(named) => format!(
                "certificate {} names CA \"{}\" as its issuer, but its signature does not \
                 verify with that CA's key",
                certificate.describe(),
                named.id()
            ),
            None => format!(
                "certificate {} was not issued by a configured CA (issuer \"{}\")",
                certificate.describe(),
                certificate.issuer()
            ),
        };
        return error_reply(StatusCode::UNPROCESSABLE_ENTITY, "unknown_issuer", message);
    };
    let now = SystemTime::now();
    let ocsp = state.ocsp.as_ref();
    let verdict = authority
        .verdict(Lookup::Certificate(certificate), ocsp, now)
        .await;
    count_lookup(state, Some(verdict.status()));
    let mut response = StatusResponse::new(
        authority.id(),
        &certificate.serial(),
        &verdict,
        authority.on_unknown(),
        now,
    );

    let mut intermediates = Vec::new();
    for (ca_certificate, issuer) in authorities.path_above(authority) {
        let status = match &issuer {
            Some(issuer) => {
                let verdict = issuer
                    .verdict(Lookup::Certificate(&ca_certificate), ocsp, now)
                    .await;
                StatusResponse::new(
                    issuer.id(),
                    &ca_certificate.serial(),
                    &verdict,
                    issuer.on_unknown(),
                    now,
                )
            }
            None => {
                let verdict = Verdict {
                    decision: Decision::Unknown(UnknownReason::new(
                        "issuer_not_configured",
                        format!(
                            "the issuer \"{}\" of this CA certificate is not a configured CA",
                            ca_certificate.issuer()
                        ),
                    )),
                    source: None,
                };
                StatusResponse::new(
                    "",
                    &ca_certificate.serial(),
                    &verdict,
                    UnknownPolicy::Deny,
                    now,
                )
            }
        };
        intermediates.push(IntermediateResponse {
            subject: ca_certificate.subject().to_string(),
            status,
        });
    }
    response.intermediates = Some(intermediates);
    json_reply(StatusCode::OK, &response)
}

/// Decides a `GET /v1/auth` request, logs and counts the decision, and builds the response
/// for the proxy: 200 with the identity headers, or 401 or 403 with `X-Revcheck-Reason`.
async fn auth_request(state: &AppState, headers: &HeaderMap) -> Response {
    let started = std::time::Instant::now();
    let header_bytes = headers_size(headers);
    let outcome = match state.auth.load_full() {
        _ if header_bytes > MAX_HEADER_BYTES => {
            let largest = headers
                .iter()
                .max_by_key(|(name, value)| name.as_str().len() + value.len())
                .map_or("", |(name, _)| name.as_str());
            AuthOutcome::headers_too_large(header_bytes, MAX_HEADER_BYTES, largest)
        }
        Some(gate) => {
            let authorities = state.authorities.load();
            let count_cache = |hit: bool| {
                if hit {
                    state.metrics.count_cache_hit(CacheName::Auth);
                } else {
                    state.metrics.count_cache_miss(CacheName::Auth);
                }
            };
            gate.decide(
                headers,
                &authorities,
                state.ocsp.as_ref(),
                SystemTime::now(),
                count_cache,
            )
            .await
        }
        None => AuthOutcome::not_configured(),
    };
    outcome.log();

    let status = outcome.facts().status.map_or("error", CertStatus::as_str);
    state
        .metrics
        .lookups
        .with_label_values(&["auth", status])
        .inc();
    let response = match &outcome {
        AuthOutcome::Allow {
            reason, identity, ..
        } => {
            state.metrics.count_auth_decision("allow", reason.code());
            allow_reply(identity, outcome.facts())
        }
        AuthOutcome::Deny { reason, detail, .. } => {
            state.metrics.count_auth_decision("deny", reason.code());
            deny_reply(*reason, detail.clone())
        }
    };
    state
        .metrics
        .lookup_duration
        .with_label_values(&["auth"])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Builds a denial: the reason's status, `X-Revcheck-Reason` and the JSON error body.
fn deny_reply(reason: DenyReason, detail: String) -> Response {
    let status = StatusCode::from_u16(reason.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = error_reply(status, reason.code(), detail);
    response.headers_mut().insert(
        "x-revcheck-reason",
        warp::http::HeaderValue::from_static(reason.code()),
    );
    response
}

fn allow_reply(identity: &str, facts: &crate::auth::ClientFacts) -> Response {
    let status = facts.status.map_or("unknown", CertStatus::as_str);
    let values = [
        ("x-client-identity", identity),
        (
            "x-client-cert-fingerprint",
            facts.fingerprint.as_deref().unwrap_or(""),
        ),
        (
            "x-client-cert-serial",
            facts.serial.as_deref().unwrap_or(""),
        ),
        ("x-revocation-status", status),
        ("x-revcheck-ca", facts.ca.as_deref().unwrap_or("")),
    ];
    let mut response = warp::reply().into_response();
    for (name, value) in values {
        match warp::http::HeaderValue::from_str(value) {
            Ok(value) => {
                response.headers_mut().insert(name, value);
            }
            Err(_) => {
                // The identities file and the SAN mapping admit only printable ASCII, and the
                // other values are hex or ids, so this is a bug rather than a client mistake.
                tracing::error!(header = name, "a response header value is invalid; denying");
                return deny_reply(
                    DenyReason::IdentityUnmapped,
                    "the identity cannot be sent in an HTTP header".to_owned(),
                );
            }
        }
    }
    response
}

fn count_lookup(state: &AppState, status: Option<CertStatus>) {
    let status = status.map_or("error", CertStatus::as_str);
    state
        .metrics
        .lookups
        .with_label_values(&["status", status])
        .inc();
}

/// Decodes `%XX` escapes of a path segment. A segment with an invalid escape or that is not
/// UTF-8 afterwards is kept as received, so that the lookup reports it as not found or invalid.
fn percent_decode_segment(segment: &str) -> String {
    crate::auth::percent_decode(segment.as_bytes())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .unwrap_or_else(|| segment.to_owned())
}

/// Cuts client-supplied text echoed in messages to a readable length.
fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

async fn handle_rejection(rejection: warp::Rejection) -> Result<Response, Infallible> {
    let response = if rejection.is_not_found() {
        error_reply(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    } else if let Some(too_large) = rejection.find::<HeadersTooLarge>() {
        error_reply(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "request headers take {} bytes, more than the limit of {MAX_HEADER_BYTES}",
                too_large.size
            ),
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        error_reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        error_reply(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send a Content-Length header with the request body",
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        error_reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this endpoint",
        )
    } else {
        tracing::debug!(?rejection, "request rejected");
        error_reply(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "request not understood",
        )
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_decoded() {
        assert_eq!(percent_decode_segment("demo%2Dissuing"), "demo-issuing");
        assert_eq!(percent_decode_segment("00%3A80%3A01"), "00:80:01");
        assert_eq!(percent_decode_segment("plain"), "plain");
        // Invalid escapes and non-UTF-8 results stay as received.
        assert_eq!(percent_decode_segment("bad%zz"), "bad%zz");
        assert_eq!(percent_decode_segment("cut%4"), "cut%4");
        assert_eq!(percent_decode_segment("%ff%fe"), "%ff%fe");
    }
}
