//! Mapping a verified client certificate to exactly one identity, by exact match only.

use std::collections::HashMap;
use std::path::Path;

use const_oid::db::rfc4519::CN;
use x509_cert::ext::pkix::name::GeneralName;

use crate::config::{MappingMode, SanKind};
use crate::x509::ParsedCertificate;
use crate::x509::name_text::openssl_rfc2253;

/// Errors from mapping a certificate to exactly one identity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    #[error("the certificate maps to no identity: {detail}")]
    Unmapped { detail: String },

    #[error("the certificate maps to more than one identity: {detail}")]
    Ambiguous { detail: String },
}

impl IdentityError {
    /// Returns the reason code for `X-Revcheck-Reason`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Unmapped { .. } => "identity_unmapped",
            Self::Ambiguous { .. } => "identity_ambiguous",
        }
    }
}

/// An identities file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentitiesFileError {
    #[error("cannot read identities file {path}: {error}")]
    Read { path: String, error: std::io::Error },

    #[error("identities file {path}, line {line}: {detail}")]
    Invalid {
        path: String,
        line: usize,
        detail: String,
    },
}

/// The identities file: one `KEY<TAB>IDENTITY` pair per line, where KEY is a lowercase hex
/// fingerprint, a SAN value or an RFC 4514 subject, depending on the mapping mode. Empty lines
/// and lines starting with `#` are skipped. A key listed twice is an error, so that one
/// certificate can never map to two identities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identities {
    by_key: HashMap<String, String>,
}

impl Identities {
    /// Reads the identities file at `path` and checks every key against what `mode` looks up.
    pub fn load(path: &Path, mode: MappingMode) -> Result<Self, IdentitiesFileError> {
        let text = std::fs::read_to_string(path).map_err(|error| IdentitiesFileError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::parse_for(&text, &path.display().to_string(), mode)
    }

    /// Parses an identities file like [`Identities::parse`], and also rejects lines that can
    /// never match under `mode`. Such a line has a fingerprint that is not 64 lowercase hex
    /// digits, or, for SAN mapping, an IDENTITY that differs from its KEY, because there the
    /// SAN value itself is the identity.
    pub fn parse_for(
        text: &str,
        path: &str,
        mode: MappingMode,
    ) -> Result<Self, IdentitiesFileError> {
        let check = |key: &str, identity: &str| -> Result<(), String> {
            match mode {
                MappingMode::Fingerprint => {
                    let lowercase_hex = key
                        .bytes()
                        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
                    if key.len() == 64 && lowercase_hex {
                        Ok(())
                    } else {
                        let normalized = key.replace(':', "").to_ascii_lowercase();
                        Err(format!(
                            "key \"{key}\" is not a SHA-256 fingerprint of 64 lowercase hex \
                             digits; write it without colons in lowercase, such as \"{}\"",
                            normalized.chars().take(64).collect::<String>()
                        ))
                    }
                }
                MappingMode::San { .. } if identity != key => Err(format!(
                    "with identity = \"san\" the SAN value is the identity, but this line maps \
                     \"{key}\" to \"{identity}\"; write the SAN value in both columns"
                )),
                MappingMode::San { .. } | MappingMode::Subject => Ok(()),
            }
        };
        Self::parse_checked(text, path, check)
    }

    /// Parses an identities file without checking its keys against a mapping mode.
    pub fn parse(text: &str, path: &str) -> Result<Self, IdentitiesFileError> {
        Self::parse_checked(text, path, |_, _| Ok(()))
    }

    fn parse_checked(
        text: &str,
        path: &str,
        check: impl Fn(&str, &str) -> Result<(), String>,
    ) -> Result<Self, IdentitiesFileError> {
        if text.starts_with('\u{feff}') {
            return Err(IdentitiesFileError::Invalid {
                path: path.to_owned(),
                line: 1,
                detail: "the file starts with a UTF-8 byte order mark; save it without one"
                    .to_owned(),
            });
        }
        let mut by_key = HashMap::new();
        let mut first_line = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let invalid = |detail: String| IdentitiesFileError::Invalid {
                path: path.to_owned(),
                line: number,
                detail,
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, identity)) = line.split_once('\t') else {
                return Err(invalid(
                    "expected KEY, a tab and IDENTITY; separate them with one tab".to_owned(),
                ));
            };
            if key.is_empty() || identity.is_empty() || identity.contains('\t') {
                return Err(invalid(
                    "KEY and IDENTITY must both be non-empty".to_owned(),
                ));
            }
            if key.trim() != key {
                return Err(invalid(format!(
                    "key \"{key}\" starts or ends with a space, so it can never match; remove \
                     the spaces, or start a comment line with # in the first column"
                )));
            }
            check(key, identity).map_err(&invalid)?;
            if !is_header_safe(identity) {
                return Err(invalid(
                    "IDENTITY must be printable ASCII without leading or trailing spaces, \
                     because it travels in an HTTP header"
                        .to_owned(),
                ));
            }
            if let Some(first) = first_line.insert(key.to_owned(), number) {
                return Err(invalid(format!(
                    "key \"{key}\" is already listed on line {first}; list each key once"
                )));
            }
            by_key.insert(key.to_owned(), identity.to_owned());
        }
        Ok(Self { by_key })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.by_key.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Checks that `identity` can be sent as an HTTP header value unchanged: printable ASCII with
/// no space at either end.
fn is_header_safe(identity: &str) -> bool {
    !identity.is_empty()
        && identity.bytes().all(|byte| (0x20..0x7f).contains(&byte))
        && !identity.starts_with(' ')
        && !identity.ends_with(' ')
}

/// Maps `certificate` to its identity under `mode`. Matches are exact: no substring, prefix or
/// case folding.
pub fn map_identity(
    mode: MappingMode,
    certificate: &ParsedCertificate,
    identities: &Identities,
) -> Result<String, IdentityError> {
    match mode {
        MappingMode::Fingerprint => {
            let fingerprint = certificate.fingerprint_hex();
            identities
                .get(&fingerprint)
                .map(str::to_owned)
                .ok_or_else(|| IdentityError::Unmapped {
                    detail: format!("fingerprint {fingerprint} is not in the identities file"),
                })
        }
        MappingMode::San {
            kind,
            require_listed,
        } => {
            let values: Vec<&str> = certificate
                .subject_alt_names()
                .iter()
                .filter_map(|name| san_value(name, kind))
                .collect();
            let value = match values.as_slice() {
                [] => {
                    return Err(IdentityError::Unmapped {
                        detail: format!("no {kind:?} subject alternative name"),
                    });
                }
                [value] => *value,
                _ => {
                    return Err(IdentityError::Ambiguous {
                        detail: format!("{} {kind:?} subject alternative names", values.len()),
                    });
                }
            };
            if require_listed && identities.get(value).is_none() {
                return Err(IdentityError::Unmapped {
                    detail: format!("\"{value}\" is not in the identities file"),
                });
            }
            if !is_header_safe(value) {
                return Err(IdentityError::Unmapped {
                    detail: format!(
                        "the {kind:?} subject alternative name is not printable ASCII, so it \
                         cannot travel in an HTTP header"
                    ),
                });
            }
            Ok(value.to_owned())
        }
        MappingMode::Subject => {
            let common_names = certificate
                .subject()
                .0
                .iter()
                .flat_map(|rdn| rdn.0.iter())
                .filter(|attribute| attribute.oid == CN)
                .count();
            if common_names > 1 {
                return Err(IdentityError::Ambiguous {
                    detail: format!("the subject has {common_names} common names"),
                });
            }
            let subject = openssl_rfc2253(certificate.subject());
            identities
                .get(&subject)
                .map(str::to_owned)
                .ok_or_else(|| IdentityError::Unmapped {
                    detail: format!("subject \"{subject}\" is not in the identities file"),
                })
        }
    }
}

fn san_value(name: &GeneralName, kind: SanKind) -> Option<&str> {
    match (name, kind) {
        (GeneralName::Rfc822Name(value), SanKind::Email)
        | (GeneralName::UniformResourceIdentifier(value), SanKind::Uri)
        | (GeneralName::DnsName(value), SanKind::Dns) => Some(value.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{LeafSpec, TestCa};

    fn leaf(email: Option<&str>, uri: Option<&str>) -> ParsedCertificate {
        let ca = TestCa::root("Identity CA").expect("CA");
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: "alice".to_owned(),
                serial: vec![0x51],
                email: email.map(str::to_owned),
                uri: uri.map(str::to_owned),
            })
            .expect("leaf");
        ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes")
    }

    #[test]
    fn fingerprint_exact_match() {
        let certificate = leaf(None, None);
        let fingerprint = certificate.fingerprint_hex();
        let identities =
            Identities::parse(&format!("{fingerprint}\talice\n"), "ids").expect("parses");
        assert_eq!(
            map_identity(MappingMode::Fingerprint, &certificate, &identities),
            Ok("alice".to_owned())
        );

        // A prefix of the fingerprint is not the fingerprint.
        let prefix =
            Identities::parse(&format!("{}\talice\n", &fingerprint[..32]), "ids").expect("parses");
        let error = map_identity(MappingMode::Fingerprint, &certificate, &prefix)
            .expect_err("prefix must not match");
        assert_eq!(error.reason_code(), "identity_unmapped");
    }

    #[test]
    fn san_uri_is_identity() {
        let certificate = leaf(
            Some("alice@example.test"),
            Some("spiffe://example.test/alice"),
        );
        let mode = MappingMode::San {
            kind: SanKind::Uri,
            require_listed: false,
        };
        assert_eq!(
            map_identity(mode, &certificate, &Identities::default()),
            Ok("spiffe://example.test/alice".to_owned())
        );

        let listed = MappingMode::San {
            kind: SanKind::Email,
            require_listed: true,
        };
        let error =
            map_identity(listed, &certificate, &Identities::default()).expect_err("not listed");
        assert_eq!(error.reason_code(), "identity_unmapped");
        let identities = Identities::parse("alice@example.test\talice\n", "ids").expect("parses");
        assert_eq!(
            map_identity(listed, &certificate, &identities),
            Ok("alice@example.test".to_owned())
        );
    }

    #[test]
    fn missing_san_unmapped() {
        let certificate = leaf(None, None);
        let mode = MappingMode::San {
            kind: SanKind::Dns,
            require_listed: false,
        };
        let error = map_identity(mode, &certificate, &Identities::default()).expect_err("no SAN");
        assert_eq!(error.reason_code(), "identity_unmapped");
    }

    #[test]
    fn subject_exact_match() {
        let certificate = leaf(None, None);
        let subject = openssl_rfc2253(certificate.subject());
        let identities = Identities::parse(&format!("{subject}\talice\n"), "ids").expect("parses");
        assert_eq!(
            map_identity(MappingMode::Subject, &certificate, &identities),
            Ok("alice".to_owned())
        );

        let other_case = Identities::parse(&format!("{}\talice\n", subject.to_uppercase()), "ids")
            .expect("parses");
        assert!(map_identity(MappingMode::Subject, &certificate, &other_case).is_err());
    }

    #[test]
    fn identities_file_rejects_duplicates_and_bad_lines() {
        let duplicate = Identities::parse("key\talice\n# comment\n\nkey\tbob\n", "ids")
            .expect_err("duplicate key");
        assert!(duplicate.to_string().contains("line 4"), "{duplicate}");
        assert!(duplicate.to_string().contains("line 1"), "{duplicate}");

        for bad in [
            "no tab here\n",
            "\talice\n",
            "key\t\n",
            "key\ta\tb\n",
            "key\tal\u{1}ice\n",
            "key\t alice\n",
        ] {
            assert!(Identities::parse(bad, "ids").is_err(), "{bad:?}");
        }
        let fine = Identities::parse("a\tx\nb\tx\n", "ids").expect("two keys, one identity");
        assert_eq!(fine.len(), 2);
    }

    #[test]
    fn identities_keys_checked_by_mode() {
        let fingerprint = "0123456789abcdef".repeat(4);
        let valid = format!("{fingerprint}\talice\n");
        assert!(Identities::parse_for(&valid, "ids", MappingMode::Fingerprint).is_ok());

        let colon_form = fingerprint
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        for bad in [
            format!("{colon_form}\talice\n"),
            format!("{}\talice\n", fingerprint.to_uppercase()),
            format!("{}\talice\n", &fingerprint[..63]),
            format!(" {fingerprint}\talice\n"),
            format!("\u{feff}{fingerprint}\talice\n"),
            "  # an indented comment\talice\n".to_owned(),
        ] {
            let error = Identities::parse_for(&bad, "ids", MappingMode::Fingerprint)
                .expect_err("key that can never match");
            assert!(error.to_string().contains("line 1"), "{bad:?}: {error}");
        }

        let san = MappingMode::San {
            kind: SanKind::Email,
            require_listed: true,
        };
        assert!(Identities::parse_for("a@x.test\ta@x.test\n", "ids", san).is_ok());
        let error = Identities::parse_for("a@x.test\talice\n", "ids", san)
            .expect_err("SAN mapped to another name");
        assert!(error.to_string().contains("both columns"), "{error}");

        // Subjects are not checked beyond the common rules.
        assert!(Identities::parse_for("CN=a,O=b\talice\n", "ids", MappingMode::Subject).is_ok());
    }
}
