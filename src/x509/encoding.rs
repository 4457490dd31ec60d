//! Byte-level helpers shared by certificate and CRL decoding: PEM blocks and the exact
//! to-be-signed bytes of a signed structure.

use std::ops::Range;

use der::{Decode, Header, Reader, SliceReader, Tag, TagNumber};

/// A PEM or DER input that could not be turned into DER bodies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// The input is empty.
    #[error("input is empty")]
    Empty,

    /// The input is neither DER (it starts with a SEQUENCE) nor PEM with the expected label.
    #[error("input is neither DER nor PEM with a \"-----BEGIN {label}-----\" line")]
    NotPemOrDer { label: &'static str },

    /// A PEM block did not decode.
    #[error("PEM block {index} ({label}) is malformed: {detail}")]
    MalformedPem {
        index: usize,
        label: String,
        detail: String,
    },
}

/// Splits `input` into DER bodies: the input itself when it is DER, or every PEM block with
/// `label` (other PEM blocks, such as keys or certificates in a CRL file, are skipped).
pub fn pem_or_der_bodies(input: &[u8], label: &'static str) -> Result<Vec<Vec<u8>>, EncodingError> {
    let first = input.iter().find(|byte| !byte.is_ascii_whitespace());
    match first {
        None => Err(EncodingError::Empty),
        // DER: a SEQUENCE tag as the very first byte, no text around it.
        Some(0x30) if input.first() == Some(&0x30) => Ok(vec![input.to_vec()]),
        Some(_) => pem_bodies(input, label),
    }
}

fn pem_bodies(input: &[u8], label: &'static str) -> Result<Vec<Vec<u8>>, EncodingError> {
    let text = std::str::from_utf8(input).map_err(|_| EncodingError::NotPemOrDer { label })?;
    let mut bodies = Vec::new();
    let mut rest = text;
    let mut index = 0;

    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block["-----BEGIN ".len()..]
            .find("-----")
            .map(|i| i + "-----BEGIN ".len());
        let Some(label_end) = label_end else { break };
        let found_label = &block["-----BEGIN ".len()..label_end];
        let end_marker = format!("-----END {found_label}-----");
        let Some(end) = block.find(&end_marker) else {
            return Err(EncodingError::MalformedPem {
                index,
                label: found_label.to_owned(),
                detail: format!("missing \"{end_marker}\" line"),
            });
        };
        let block_end = end + end_marker.len();

        if found_label == label {
            let (_, body) =
                der::pem::decode_vec(&block.as_bytes()[..block_end]).map_err(|error| {
                    EncodingError::MalformedPem {
                        index,
                        label: found_label.to_owned(),
                        detail: error.to_string(),
                    }
                })?;
            bodies.push(body);
        }
        index += 1;
        rest = &block[block_end..];
    }

    if bodies.is_empty() {
        return Err(EncodingError::NotPemOrDer { label });
    }
    Ok(bodies)
}

/// Returns the byte range of the first element inside the outer SEQUENCE of a signed structure
/// (`tbsCertificate`, `tbsCertList`, `tbsResponseData`), so that a signature is verified over
/// the bytes received rather than over a re-encoding.
pub fn signed_part_range(der: &[u8]) -> der::Result<Range<usize>> {
    let mut reader = SliceReader::new(der)?;
    let outer = Header::decode(&mut reader)?;
    outer.tag.assert_eq(Tag::Sequence)?;

    let start = reader.position();
    let inner = Header::decode(&mut reader)?;
    reader.read_slice(inner.length)?;
    let end = reader.position();

    Ok(usize::try_from(start)?..usize::try_from(end)?)
}

/// Returns the byte range of the subject Name inside a DER certificate, so that a hash over
/// the subject (such as an OCSP issuerNameHash) covers the bytes the CA wrote.
pub fn certificate_subject_range(der: &[u8]) -> der::Result<Range<usize>> {
    let mut reader = SliceReader::new(der)?;
    Header::decode(&mut reader)?.tag.assert_eq(Tag::Sequence)?;
    Header::decode(&mut reader)?.tag.assert_eq(Tag::Sequence)?;

    // RFC 5280 section 4.1: [0] version (absent for version 1), serialNumber, signature,
    // issuer and validity come before the subject.
    let version_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    if reader.peek_tag()? == version_tag {
        reader.tlv_bytes()?;
    }
    for _ in 0..4 {
        reader.tlv_bytes()?;
    }

    let start = reader.position();
    let subject = Header::decode(&mut reader)?;
    subject.tag.assert_eq(Tag::Sequence)?;
    reader.read_slice(subject.length)?;
    let end = reader.position();

    Ok(usize::try_from(start)?..usize::try_from(end)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_input_passes_through() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        assert_eq!(pem_or_der_bodies(&der, "X509 CRL"), Ok(vec![der.to_vec()]));
    }

    #[test]
    fn pem_blocks_with_label_are_decoded() {
        let pem = "junk\n-----BEGIN X509 CRL-----\nMAMCAQU=\n-----END X509 CRL-----\n\
                   -----BEGIN CERTIFICATE-----\nMAMCAQY=\n-----END CERTIFICATE-----\n\
                   -----BEGIN X509 CRL-----\nMAMCAQc=\n-----END X509 CRL-----\n";
        let bodies = pem_or_der_bodies(pem.as_bytes(), "X509 CRL").expect("two CRL blocks");
        assert_eq!(
            bodies,
            vec![
                vec![0x30, 0x03, 0x02, 0x01, 0x05],
                vec![0x30, 0x03, 0x02, 0x01, 0x07]
            ]
        );
    }

    #[test]
    fn wrong_label_or_garbage_rejected() {
        let pem = "-----BEGIN CERTIFICATE-----\nMAMCAQY=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            pem_or_der_bodies(pem.as_bytes(), "X509 CRL"),
            Err(EncodingError::NotPemOrDer { label: "X509 CRL" })
        );
        assert_eq!(
            pem_or_der_bodies(b"", "X509 CRL"),
            Err(EncodingError::Empty)
        );
        assert!(pem_or_der_bodies(b"\xff\xfe", "X509 CRL").is_err());
    }

    #[test]
    fn unterminated_pem_rejected() {
        let pem = "-----BEGIN X509 CRL-----\nMAMCAQU=\n";
        assert!(matches!(
            pem_or_der_bodies(pem.as_bytes(), "X509 CRL"),
            Err(EncodingError::MalformedPem { .. })
        ));
    }

    #[test]
    fn subject_range_skips_version_and_issuer() {
        let root = crate::fixtures::TestCa::root("Subject Range CA").expect("test CA");
        let range = certificate_subject_range(root.cert_der()).expect("subject is found");
        assert_eq!(&root.cert_der()[range], root.subject_der().as_slice());
    }

    #[test]
    fn signed_part_is_first_element() {
        // SEQUENCE { SEQUENCE { INTEGER 5 }, NULL }
        let der = [0x30, 0x07, 0x30, 0x03, 0x02, 0x01, 0x05, 0x05, 0x00];
        assert_eq!(signed_part_range(&der), Ok(2..7));
        assert!(signed_part_range(&[0x31, 0x00]).is_err());
        assert!(signed_part_range(&[0x30, 0x05, 0x30, 0x09]).is_err());
    }
}
