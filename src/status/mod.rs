//! Revocation decisions: from verified CRLs to a verdict on one certificate, for the configured
//! CAs of the service and for whole certification paths.

mod authority;
mod chain;
mod decide;
mod decision_log;
mod ocsp;
mod policy;
mod refresh;
mod schedule;

pub use authority::{Authorities, Authority, AuthorityError, CrlSigner, Lookup, SourceStatus};
pub use chain::{CertificateResult, ChainCheck, ChainReport, PathError};
pub use decide::{CertStatus, CertificateFacts, Decision, StatusSource, UnknownReason, decide};
pub use ocsp::{OcspQuery, decision_from_error, decision_from_response, query_responder};
pub use policy::{Verdict, allows_access, combine, first_source, second_source};
pub use refresh::{RefreshOutcome, Refresher};
pub use schedule::{Schedule, random_unit};
