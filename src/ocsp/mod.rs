//! Online Certificate Status Protocol (RFC 6960, with the RFC 5019 lightweight profile):
//! requests, transport and response verification.
//!
//! A request is built from a [`CertId`] and sent with [`send_request`] over POST or the
//! RFC 5019 GET form. The response moves through two types. [`DecodedOcspResponse`] contains
//! what was received and gives no status. [`DecodedOcspResponse::verify`] (or
//! [`verify_response`] for both steps) checks it against the issuing CA and returns a
//! [`VerifiedOcspResponse`], the only type that carries a certificate's [`OcspStatus`].
//! [`OcspCache`] keeps verified responses until they expire and sends a request only when it
//! has no current one.

mod cache;
mod error;
mod request;
mod response;
mod transport;
mod verify;

pub use cache::{
    InvalidOcspCacheConfig, OcspAnswer, OcspAuthority, OcspCache, OcspCacheConfig, RestoreSummary,
};
pub use error::OcspError;
pub use request::{CertId, HashAlgorithm, OcspRequest};
pub use response::{DecodedOcspResponse, OcspStatus, ResponseStatus};
pub use transport::{MAX_GET_URL_LENGTH, RequestMethod, send_request};
pub use verify::{OcspOptions, ResponseSigner, VerifiedOcspResponse, verify_response};
