//! revcheck: certificate revocation status from CRLs, served over HTTP for mutual-TLS proxies
//! and applications.

pub mod fixtures;
pub mod source;
