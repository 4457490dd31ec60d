//! X.509 building blocks shared by the CRL and OCSP layers: certificates, names, serial
//! numbers, signatures and encodings.

pub mod cert;
pub mod encoding;
pub mod hex;
pub mod name;
pub mod name_text;
pub mod serial;
pub mod signature;
pub mod time;

pub use cert::{CertificateError, ParsedCertificate};
pub use name::names_match;
pub use serial::Serial;
pub use signature::SignatureError;
