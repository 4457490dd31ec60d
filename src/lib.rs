//! revcheck: certificate revocation status from CRLs, served over HTTP for mutual-TLS proxies
//! and applications.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crl;
pub mod fixtures;
pub mod http;
pub mod metrics;
pub mod ocsp;
pub mod source;
pub mod state;
pub mod status;
pub mod x509;
