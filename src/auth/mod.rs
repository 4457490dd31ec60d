//! The proxy-facing access check of `GET /v1/auth`: reading the client certificate and the
//! proxy's verification result from request headers in the one configured format, verifying
//! the certificate again, and mapping it to exactly one identity.

mod gate;
mod headers;
mod identity;

pub use gate::{AllowReason, AuthGate, AuthOutcome, ClientFacts, DenyReason, GateError};
pub(crate) use headers::percent_decode;
pub use headers::{HeaderError, ProxyVerification, decode_certificate, parse_verification};
pub use identity::{Identities, IdentitiesFileError, IdentityError, map_identity};

/// Returns every `(decision, reason)` label pair of `revcheck_auth_decisions_total`.
pub fn decision_labels() -> impl Iterator<Item = (&'static str, &'static str)> {
    let allows = AllowReason::ALL
        .into_iter()
        .map(|reason| ("allow", reason.code()));
    let denials = DenyReason::ALL
        .into_iter()
        .map(|reason| ("deny", reason.code()));
    allows.chain(denials)
}
