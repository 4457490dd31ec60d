//! Decoding of received CRL bytes into an RFC 5280 CertificateList, keeping the exact bytes.

use std::ops::Range;
use std::sync::Arc;

use der::Decode;
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;

use super::CrlError;
use crate::x509::encoding;

/// A CRL as received: decoded, but with nothing checked. It cannot answer a status lookup.
#[derive(Clone, Debug)]
pub struct DecodedCrl {
    origin: String,
    der: Arc<[u8]>,
    tbs: Range<usize>,
    list: CertificateList,
}

impl DecodedCrl {
    /// Decodes one DER CRL. `origin` names where it came from, for messages.
    ///
    /// NOTE: x509-cert 0.2 requires the version field, so a version 1 CRL (which omits it)
    /// is reported as undecodable.
    pub fn from_der(der: &[u8], origin: &str) -> Result<Self, CrlError> {
        let decode_error = |error| CrlError::Decode {
            origin: origin.to_owned(),
            error,
        };
        let list = CertificateList::from_der(der).map_err(decode_error)?;
        let tbs = encoding::signed_part_range(der).map_err(decode_error)?;
        Ok(Self {
            origin: origin.to_owned(),
            der: der.into(),
            tbs,
            list,
        })
    }

    /// Decodes a body that is one DER CRL or PEM with one or more `X509 CRL` blocks.
    pub fn from_pem_or_der(body: &[u8], origin: &str) -> Result<Vec<Self>, CrlError> {
        let bodies =
            encoding::pem_or_der_bodies(body, "X509 CRL").map_err(|error| CrlError::Encoding {
                origin: origin.to_owned(),
                error,
            })?;
        bodies
            .iter()
            .map(|der| Self::from_der(der, origin))
            .collect()
    }

    /// Returns where the CRL came from: a URL or a file path.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Returns the issuer name as the CRL states it (not yet verified).
    pub fn issuer(&self) -> &Name {
        &self.list.tbs_cert_list.issuer
    }

    pub(super) fn list(&self) -> &CertificateList {
        &self.list
    }

    /// Returns the DER bytes of `tbsCertList` exactly as received, which the signature covers.
    pub(super) fn tbs_bytes(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }

    pub(super) fn der(&self) -> &Arc<[u8]> {
        &self.der
    }
}
