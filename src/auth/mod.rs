//! The proxy-facing access check: reading the client certificate and the proxy's verification
//! result from request headers, in the one format the deployment configured.
//!
//! TODO: the `GET /v1/auth` route, identity mapping and the nginx example build on this module;
//! until then nothing in the service calls it.

mod headers;
mod identity;

pub(crate) use headers::percent_decode;
pub use headers::{
    CertificateFormat, HeaderError, ProxyVerification, decode_certificate, parse_verification,
};
pub use identity::{
    Identities, IdentitiesFileError, IdentityError, MappingMode, SanKind, map_identity,
};
