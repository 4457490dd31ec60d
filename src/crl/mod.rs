//! Certificate revocation lists (RFC 5280 section 5): decoding, verification and the index of
//! revoked serial numbers.
//!
//! A CRL moves through two types. [`DecodedCrl`] holds what was received and answers nothing.
//! [`DecodedCrl::verify`] checks it against its issuer and returns a [`VerifiedCrl`], the only
//! type that can tell whether a serial number is revoked.

mod decode;
mod error;
mod index;
mod number;
mod scope;
mod time_check;
mod verify;

pub use decode::DecodedCrl;
pub use error::CrlError;
pub use index::{RevocationReason, RevokedEntry, RevokedIndex, RevokedIndexBuilder, SerialTooLong};
pub use number::compare_crl_numbers;
pub use scope::{CrlScope, ReasonSet};
pub use verify::{VerifiedCrl, VerifyOptions};
