//! revcheck: certificate revocation status from CRLs, served over HTTP for mutual-TLS proxies
//! and applications.

pub mod config;
pub mod source;
