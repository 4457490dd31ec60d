//! Decoding the client certificate and the verification result that a proxy forwards.
//!
//! Only the configured format is accepted, so a client cannot pick a weaker one, and exactly
//! one certificate must come out of it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::CertificateFormat;
use crate::x509::ParsedCertificate;

/// A certificate header that cannot be used. Every variant is a client or proxy mistake, not
/// a server failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    #[error("the certificate header is not valid for the configured format {format}: {detail}")]
    Malformed {
        format: CertificateFormat,
        detail: String,
    },

    #[error("the certificate header holds {count} certificates; exactly one is accepted")]
    NotOneCertificate { count: usize },

    #[error("the certificate in the header does not decode: {detail}")]
    BadCertificate { detail: String },
}

/// Decodes the certificate header `value` in `format`. An empty value means that the client
/// presented no certificate and gives `Ok(None)`.
pub fn decode_certificate(
    format: CertificateFormat,
    value: &[u8],
) -> Result<Option<ParsedCertificate>, HeaderError> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return Ok(None);
    }
    let malformed = |detail: &str| HeaderError::Malformed {
        format,
        detail: detail.to_owned(),
    };

    let certificates = match format {
        CertificateFormat::NginxEscaped => {
            let pem = percent_decode(value).ok_or_else(|| malformed("invalid %-escape"))?;
            parse_pem(&pem)?
        }
        CertificateFormat::NginxMultiline => {
            let pem = unfold_multiline(value);
            parse_pem(&pem)?
        }
        CertificateFormat::Rfc9440 => {
            let inner = value
                .strip_prefix(b":")
                .and_then(|rest| rest.strip_suffix(b":"))
                .ok_or_else(|| malformed("expected a byte sequence :BASE64:"))?;
            let der = STANDARD
                .decode(inner)
                .map_err(|error| malformed(&format!("invalid base64 ({error})")))?;
            vec![parse_der(&der)?]
        }
        CertificateFormat::EnvoyXfcc => {
            let escaped = xfcc_certificate(value).map_err(|detail| malformed(&detail))?;
            let pem = percent_decode(&escaped).ok_or_else(|| malformed("invalid %-escape"))?;
            parse_pem(&pem)?
        }
    };

    let mut certificates = certificates;
    match certificates.len() {
        1 => Ok(certificates.pop()),
        count => Err(HeaderError::NotOneCertificate { count }),
    }
}

/// The verification result that the proxy forwards (nginx `$ssl_client_verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyVerification {
    /// `SUCCESS`: the proxy verified the certificate against its CA file.
    Success,
    /// `NONE`, or an absent header: no certificate was presented.
    None,
    /// `FAILED:reason`: the proxy could not verify the certificate.
    Failed(String),
    /// Anything else, which is never taken for success.
    Other(String),
}

/// Reads the verification header value. Only the exact text `SUCCESS` is success.
pub fn parse_verification(value: Option<&[u8]>) -> ProxyVerification {
    let Some(value) = value else {
        return ProxyVerification::None;
    };
    let text = String::from_utf8_lossy(value.trim_ascii()).into_owned();
    match text.as_str() {
        "SUCCESS" => ProxyVerification::Success,
        "NONE" | "" => ProxyVerification::None,
        _ => match text.strip_prefix("FAILED:") {
            Some(reason) => ProxyVerification::Failed(reason.to_owned()),
            None => ProxyVerification::Other(text.chars().take(80).collect()),
        },
    }
}

/// Decodes `%XX` escapes (RFC 3986 section 2.1). Unlike form decoding, `+` stays a plus,
/// because base64 uses it. Returns `None` for an incomplete or non-hex escape.
pub(crate) fn percent_decode(value: &[u8]) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(value.len());
    let mut bytes = value.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'%' {
            decoded.push(byte);
            continue;
        }
        let high = char::from(*bytes.next()?).to_digit(16)?;
        let low = char::from(*bytes.next()?).to_digit(16)?;
        decoded.push(u8::try_from(high * 16 + low).ok()?);
    }
    Some(decoded)
}

/// Undoes nginx's multi-line form, where each line after the first starts with a tab.
fn unfold_multiline(value: &[u8]) -> Vec<u8> {
    let mut pem = Vec::with_capacity(value.len());
    let mut at_line_start = false;
    for &byte in value {
        if at_line_start && byte == b'\t' {
            at_line_start = false;
            continue;
        }
        at_line_start = byte == b'\n';
        pem.push(byte);
    }
    pem
}

/// Finds the one `Cert="..."` value in an XFCC header. Several elements (one per proxy hop)
/// with a certificate each are refused, because only one certificate may decide.
fn xfcc_certificate(value: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(value).map_err(|_| "not UTF-8".to_owned())?;
    let mut found = Vec::new();
    for element in split_outside_quotes(text, ',') {
        for pair in split_outside_quotes(&element, ';') {
            let Some((key, raw)) = pair.split_once('=') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("Cert") {
                let raw = raw.trim();
                let unquoted = raw
                    .strip_prefix('"')
                    .and_then(|rest| rest.strip_suffix('"'))
                    .unwrap_or(raw);
                found.push(unquoted.as_bytes().to_vec());
            }
        }
    }
    match found.len() {
        0 => Err("no Cert= element".to_owned()),
        1 => Ok(found.remove(0)),
        count => Err(format!("{count} Cert= elements; exactly one is accepted")),
    }
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == separator && !quoted {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// Parses the certificates of a PEM text that holds only `CERTIFICATE` blocks. Text around
/// them, other block types (a private key, a CRL) and raw DER are rejected, because a proxy
/// never sends them and accepting them would make the header format a guess.
fn parse_pem(pem: &[u8]) -> Result<Vec<ParsedCertificate>, HeaderError> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let text = pem.trim_ascii();
    let not_pem = |detail: &str| HeaderError::BadCertificate {
        detail: detail.to_owned(),
    };
    if !text.starts_with(BEGIN) || !text.ends_with(END) {
        return Err(not_pem(
            "the header must hold only PEM CERTIFICATE blocks, with no text before or after",
        ));
    }
    let labels = text
        .windows(b"-----BEGIN ".len())
        .enumerate()
        .filter(|(_, window)| *window == b"-----BEGIN ")
        .map(|(start, _)| &text[start..]);
    for block in labels {
        if !block.starts_with(BEGIN) {
            return Err(not_pem(
                "the header holds a PEM block other than CERTIFICATE; send only the client \
                 certificate",
            ));
        }
    }
    ParsedCertificate::from_pem_or_der(text).map_err(|error| HeaderError::BadCertificate {
        detail: error.to_string(),
    })
}

fn parse_der(der: &[u8]) -> Result<ParsedCertificate, HeaderError> {
    ParsedCertificate::from_der(der).map_err(|error| HeaderError::BadCertificate {
        detail: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{LeafSpec, TestCa};

    fn leaf() -> (String, Vec<u8>) {
        let ca = TestCa::root("Header CA").expect("CA");
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: "header-client".to_owned(),
                serial: vec![0x42],
                email: None,
                uri: None,
            })
            .expect("leaf");
        (leaf.cert_pem, leaf.cert_der)
    }

    /// Escapes like nginx's `$ssl_client_escaped_cert`: everything but unreserved characters
    /// and `+`, so that the test covers a literal plus.
    fn nginx_escape(pem: &str) -> String {
        pem.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'+' => {
                    char::from(byte).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    }

    #[test]
    fn nginx_escaped_with_literal_plus() {
        // Keys are random, so draw leaves until the base64 has a plus (nearly always at once).
        let (pem, der) = (0..20)
            .map(|_| leaf())
            .find(|(pem, _)| pem.contains('+'))
            .expect("a PEM with a plus within 20 leaves");
        let escaped = nginx_escape(&pem);
        let certificate = decode_certificate(CertificateFormat::NginxEscaped, escaped.as_bytes())
            .expect("decodes")
            .expect("present");
        assert_eq!(certificate.der(), der.as_slice());

        // A `+` read as a space, as form decoding would, breaks the certificate.
        let spaced = escaped.replace('+', "%20");
        assert!(decode_certificate(CertificateFormat::NginxEscaped, spaced.as_bytes()).is_err());
    }

    #[test]
    fn nginx_multiline_unfolded() {
        let (pem, der) = leaf();
        let folded = pem.trim_end().replace('\n', "\n\t");
        let certificate = decode_certificate(CertificateFormat::NginxMultiline, folded.as_bytes())
            .expect("decodes")
            .expect("present");
        assert_eq!(certificate.der(), der.as_slice());
    }

    #[test]
    fn rfc9440_byte_sequence() {
        let (_, der) = leaf();
        let value = format!(":{}:", STANDARD.encode(&der));
        let certificate = decode_certificate(CertificateFormat::Rfc9440, value.as_bytes())
            .expect("decodes")
            .expect("present");
        assert_eq!(certificate.der(), der.as_slice());

        for bad in [
            STANDARD.encode(&der),
            format!(":{}", STANDARD.encode(&der)),
            ":@@@:".to_owned(),
        ] {
            assert!(
                matches!(
                    decode_certificate(CertificateFormat::Rfc9440, bad.as_bytes()),
                    Err(HeaderError::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn envoy_xfcc_single_cert() {
        let (pem, der) = leaf();
        let value = format!(
            "By=spiffe://proxy;Hash=abc;Cert=\"{}\";Subject=\"CN=x,O=y\"",
            nginx_escape(&pem)
        );
        let certificate = decode_certificate(CertificateFormat::EnvoyXfcc, value.as_bytes())
            .expect("decodes")
            .expect("present");
        assert_eq!(certificate.der(), der.as_slice());

        let two = format!("{value},{value}");
        assert!(matches!(
            decode_certificate(CertificateFormat::EnvoyXfcc, two.as_bytes()),
            Err(HeaderError::Malformed { .. })
        ));
        assert!(matches!(
            decode_certificate(CertificateFormat::EnvoyXfcc, b"By=x;Hash=y"),
            Err(HeaderError::Malformed { .. })
        ));
    }

    #[test]
    fn empty_header_means_no_certificate() {
        for format in [
            CertificateFormat::NginxEscaped,
            CertificateFormat::NginxMultiline,
            CertificateFormat::Rfc9440,
            CertificateFormat::EnvoyXfcc,
        ] {
            assert!(
                decode_certificate(format, b"  ")
                    .expect("empty is fine")
                    .is_none()
            );
        }
    }

    #[test]
    fn two_certificates_rejected() {
        let (pem, _) = leaf();
        let both = nginx_escape(&format!("{pem}{pem}"));
        assert_eq!(
            decode_certificate(CertificateFormat::NginxEscaped, both.as_bytes()).err(),
            Some(HeaderError::NotOneCertificate { count: 2 })
        );
    }

    #[test]
    fn malformed_values_rejected() {
        assert!(decode_certificate(CertificateFormat::NginxEscaped, b"%zz").is_err());
        assert!(decode_certificate(CertificateFormat::NginxEscaped, b"%4").is_err());
        assert!(decode_certificate(CertificateFormat::NginxEscaped, b"not a certificate").is_err());
        assert!(
            decode_certificate(
                CertificateFormat::NginxMultiline,
                b"-----BEGIN CERTIFICATE-----\n\tAAAA"
            )
            .is_err()
        );
    }

    #[test]
    fn text_around_pem_rejected() {
        let (pem, der) = leaf();
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let crl = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
        let raw_der: String = der.iter().map(|byte| format!("%{byte:02X}")).collect();
        let cases = [
            format!("junk before\n{pem}"),
            format!("{pem}junk after"),
            format!("{pem}{key}"),
            format!("{key}{pem}"),
            format!("{pem}{crl}"),
        ];
        for case in &cases {
            let escaped = nginx_escape(case);
            let result = decode_certificate(CertificateFormat::NginxEscaped, escaped.as_bytes());
            assert!(
                matches!(result, Err(HeaderError::BadCertificate { .. })),
                "{case:?}: {result:?}"
            );
        }
        let result = decode_certificate(CertificateFormat::NginxEscaped, raw_der.as_bytes());
        assert!(result.is_err(), "raw DER accepted: {result:?}");

        // Surrounding whitespace, as a header value may carry, is fine.
        let padded = nginx_escape(&format!("\n{pem}\n"));
        let result = decode_certificate(CertificateFormat::NginxEscaped, padded.as_bytes());
        assert!(matches!(result, Ok(Some(_))), "{result:?}");
    }

    #[test]
    fn verification_values() {
        assert_eq!(
            parse_verification(Some(b"SUCCESS")),
            ProxyVerification::Success
        );
        assert_eq!(parse_verification(Some(b"NONE")), ProxyVerification::None);
        assert_eq!(parse_verification(None), ProxyVerification::None);
        assert_eq!(
            parse_verification(Some(b"FAILED:certificate has expired")),
            ProxyVerification::Failed("certificate has expired".to_owned())
        );
        for value in [&b"success"[..], b"SUCCESS, SUCCESS", b"OK", b"SUCCESSFUL"] {
            assert!(
                matches!(parse_verification(Some(value)), ProxyVerification::Other(_)),
                "{value:?}"
            );
        }
    }
}
