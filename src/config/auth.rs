//! The `[auth]` table: how `GET /v1/auth` reads what the proxy forwards and maps a client
//! certificate to an identity.

use std::path::{Path, PathBuf};

use super::Problems;
use super::ca::{read_choice, readable_file};
use super::reader::TableReader;

const DEFAULT_CERTIFICATE_HEADER: &str = "x-ssl-client-cert";
const DEFAULT_VERIFY_HEADER: &str = "x-ssl-client-verify";
const DEFAULT_CACHE_CAPACITY: u64 = 10_000;

/// The format in which the proxy forwards the client certificate (`certificate_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateFormat {
    /// nginx `$ssl_client_escaped_cert`: the PEM, URL-escaped. `+` is a literal plus.
    NginxEscaped,
    /// nginx's deprecated `$ssl_client_cert`: the PEM with a tab before every line after the
    /// first.
    NginxMultiline,
    /// RFC 9440 `Client-Cert`: the DER as a structured-field byte sequence, `:BASE64:`.
    Rfc9440,
    /// Envoy `X-Forwarded-Client-Cert`: the URL-escaped PEM in a `Cert="..."` element.
    EnvoyXfcc,
}

impl CertificateFormat {
    /// Returns the value of `certificate_format` that selects this format.
    pub fn config_value(self) -> &'static str {
        match self {
            Self::NginxEscaped => "nginx_escaped",
            Self::NginxMultiline => "nginx_multiline",
            Self::Rfc9440 => "rfc9440",
            Self::EnvoyXfcc => "envoy_xfcc",
        }
    }
}

impl std::fmt::Display for CertificateFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.config_value())
    }
}

/// The party that verifies the client certificate's chain (`verification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerificationMode {
    /// The proxy verifies (nginx `ssl_verify_client on` or `optional`), and its verification
    /// header must be exactly `SUCCESS`. revcheck checks the issuer and validity again.
    Proxy,
    /// The proxy only forwards the certificate (nginx `ssl_verify_client optional_no_ca`), and
    /// revcheck's own verification decides. The proxy's `FAILED:` result is ignored.
    SelfVerified,
}

/// The kind of subject alternative name that carries the identity (`san_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanKind {
    Email,
    Uri,
    Dns,
}

/// The rule that turns a certificate into an identity (`identity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappingMode {
    /// The SHA-256 fingerprint of the DER, looked up in the identities file.
    Fingerprint,
    /// Exactly one SAN of the kind is the identity. With `require_listed`, it must also be in
    /// the identities file.
    San { kind: SanKind, require_listed: bool },
    /// The whole subject in RFC 4514 form, looked up in the identities file.
    Subject,
}

impl MappingMode {
    /// Checks whether the mode looks identities up in the identities file.
    pub fn needs_identities(self) -> bool {
        match self {
            Self::Fingerprint | Self::Subject => true,
            Self::San { require_listed, .. } => require_listed,
        }
    }
}

/// The `[auth]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// `verification`, default `proxy`.
    pub verification: VerificationMode,
    /// Lowercase name of the header holding the client certificate (`certificate_header`,
    /// default `X-SSL-Client-Cert`).
    pub certificate_header: String,
    /// `certificate_format`, default `nginx_escaped`.
    pub certificate_format: CertificateFormat,
    /// Lowercase name of the header holding the proxy's verification result
    /// (`verify_header`, default `X-SSL-Client-Verify`).
    pub verify_header: String,
    /// `identity`, default `fingerprint`, with `san_type` and `require_listed`.
    pub mapping: MappingMode,
    /// The identities file (`identities`), required when the mapping looks identities up.
    pub identities: Option<PathBuf>,
    /// Lowercase name of the header carrying the proxy's shared secret (`secret_header`).
    pub secret_header: Option<String>,
    /// The file holding the shared secret (`secret_file`), set together with `secret_header`.
    pub secret_file: Option<PathBuf>,
    /// Maximum number of verified certificates cached by header bytes (`cache_capacity`).
    pub cache_capacity: u64,
}

/// Reads the optional `[auth]` table; `None` when it is absent.
pub(super) fn read_auth(
    root: &mut TableReader<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<AuthConfig> {
    let present = root.has_key("auth");
    let mut table = root.optional_table("auth", problems);
    if !present {
        return None;
    }

    let verification = read_choice(
        &mut table,
        "verification",
        &[
            ("proxy", VerificationMode::Proxy),
            ("self", VerificationMode::SelfVerified),
        ],
        problems,
    )
    .unwrap_or(VerificationMode::Proxy);
    let certificate_header = read_header_name(&mut table, "certificate_header", problems)
        .unwrap_or_else(|| DEFAULT_CERTIFICATE_HEADER.to_owned());
    let certificate_format = read_choice(
        &mut table,
        "certificate_format",
        &[
            ("nginx_escaped", CertificateFormat::NginxEscaped),
            ("nginx_multiline", CertificateFormat::NginxMultiline),
            ("rfc9440", CertificateFormat::Rfc9440),
            ("envoy_xfcc", CertificateFormat::EnvoyXfcc),
        ],
        problems,
    )
    .unwrap_or(CertificateFormat::NginxEscaped);
    let verify_header = read_header_name(&mut table, "verify_header", problems)
        .unwrap_or_else(|| DEFAULT_VERIFY_HEADER.to_owned());
    let mapping = read_mapping(&mut table, problems);
    let identities = read_identities(&mut table, mapping, base_dir, problems);
    // The pair check below looks at which keys are written, so that an invalid value is
    // reported once, not also as a missing key.
    let secret_header_written = table.has_key("secret_header");
    let secret_file_written = table.has_key("secret_file");
    let secret_header = read_header_name(&mut table, "secret_header", problems);
    let secret_file = table.optional("secret_file").and_then(|entry| {
        readable_file(
            &entry,
            base_dir,
            problems,
            "write the path of a file that holds the shared secret, such as \
             secret_file = \"proxy-secret\"",
        )
    });
    let cache_capacity = table
        .optional("cache_capacity")
        .and_then(|entry| {
            entry.integer(
                problems,
                1..=u64::MAX,
                "write a number of certificates of at least 1, such as 10000",
            )
        })
        .unwrap_or(DEFAULT_CACHE_CAPACITY);

    match (secret_header_written, secret_file_written) {
        (true, false) => problems.add(
            format!("{}.secret_file", table.path()),
            None,
            "missing key; secret_header needs secret_file, the file that holds the secret"
                .to_owned(),
        ),
        (false, true) => problems.add(
            format!("{}.secret_header", table.path()),
            None,
            "missing key; secret_file needs secret_header, such as \
             secret_header = \"X-Revcheck-Secret\""
                .to_owned(),
        ),
        _ => {}
    }
    check_distinct_headers(
        &table,
        &[
            ("certificate_header", Some(&certificate_header)),
            ("verify_header", Some(&verify_header)),
            ("secret_header", secret_header.as_ref()),
        ],
        problems,
    );
    table.reject_unknown_keys(problems);

    Some(AuthConfig {
        verification,
        certificate_header,
        certificate_format,
        verify_header,
        mapping,
        identities,
        secret_header,
        secret_file,
        cache_capacity,
    })
}

/// Reads a header name and returns it in lowercase. Only RFC 9110 token characters are
/// allowed, and no underscore, because nginx drops such headers by default and a client could
/// send one that a careless proxy passes on under a similar name.
fn read_header_name(
    table: &mut TableReader<'_>,
    key: &'static str,
    problems: &mut Problems,
) -> Option<String> {
    const FIX: &str = "write a header name of letters, digits and dashes, such as \
                       \"X-SSL-Client-Cert\"";
    let entry = table.optional(key)?;
    let name = entry.string(problems, FIX)?;
    if name.is_empty() {
        entry.report(problems, format!("empty header name; {FIX}"));
        return None;
    }
    if name.contains('_') {
        entry.report(
            problems,
            format!(
                "header name contains an underscore, which nginx drops by default and which a \
                 client can use to spoof a header; write it with dashes, \"{}\"",
                name.replace('_', "-")
            ),
        );
        return None;
    }
    let valid = name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^`|~".contains(&byte));
    if !valid {
        entry.report(problems, format!("invalid header name; {FIX}"));
        return None;
    }
    Some(name.to_ascii_lowercase())
}

fn check_distinct_headers(
    table: &TableReader<'_>,
    headers: &[(&str, Option<&String>)],
    problems: &mut Problems,
) {
    for (index, (key, name)) in headers.iter().enumerate() {
        let Some(name) = name else { continue };
        let earlier = headers[..index]
            .iter()
            .find(|(_, other)| other.is_some_and(|other| other == *name));
        if let Some((earlier_key, _)) = earlier {
            problems.add(
                format!("{}.{key}", table.path()),
                None,
                format!("header \"{name}\" is also {earlier_key}; give each header its own name"),
            );
        }
    }
}

fn read_mapping(table: &mut TableReader<'_>, problems: &mut Problems) -> MappingMode {
    #[derive(Clone, Copy)]
    enum Kind {
        Fingerprint,
        San,
        Subject,
    }
    let kind = read_choice(
        table,
        "identity",
        &[
            ("fingerprint", Kind::Fingerprint),
            ("san", Kind::San),
            ("subject", Kind::Subject),
        ],
        problems,
    )
    .unwrap_or(Kind::Fingerprint);
    let san_entry_present = table.has_key("san_type");
    let san_kind = read_choice(
        table,
        "san_type",
        &[
            ("email", SanKind::Email),
            ("uri", SanKind::Uri),
            ("dns", SanKind::Dns),
        ],
        problems,
    );
    let require_listed = table.optional("require_listed").map(|entry| {
        let value = entry.boolean(problems, "write true or false");
        if !matches!(kind, Kind::San) {
            entry.report(
                problems,
                "require_listed applies only to identity = \"san\"; remove it".to_owned(),
            );
        }
        value.unwrap_or(false)
    });

    match kind {
        Kind::Fingerprint | Kind::Subject => {
            if san_entry_present {
                problems.add(
                    format!("{}.san_type", table.path()),
                    None,
                    "san_type applies only to identity = \"san\"; remove it".to_owned(),
                );
            }
            if matches!(kind, Kind::Fingerprint) {
                MappingMode::Fingerprint
            } else {
                MappingMode::Subject
            }
        }
        Kind::San => {
            if !san_entry_present {
                problems.add(
                    format!("{}.san_type", table.path()),
                    None,
                    "missing key; identity = \"san\" needs san_type = \"email\", \"uri\" or \
                     \"dns\""
                        .to_owned(),
                );
            }
            MappingMode::San {
                kind: san_kind.unwrap_or(SanKind::Email),
                require_listed: require_listed.unwrap_or(false),
            }
        }
    }
}

fn read_identities(
    table: &mut TableReader<'_>,
    mapping: MappingMode,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<PathBuf> {
    const FIX: &str = "write the path of the identities file, with one KEY<TAB>IDENTITY pair \
                       per line, such as identities = \"identities.tsv\"";
    let entry = table.optional("identities");
    match (entry, mapping.needs_identities()) {
        (Some(entry), _) => readable_file(&entry, base_dir, problems, FIX),
        (None, true) => {
            problems.add(
                format!("{}.identities", table.path()),
                None,
                format!("missing key; this identity mapping looks identities up, so {FIX}"),
            );
            None
        }
        (None, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::config::{Config, ConfigError};

    const CA: &str = r#"
[[ca]]
id = "demo"
certificate = "ca.pem"
crl = ["http://crl.example.test/demo.crl"]
"#;

    /// Loads `auth` (the text of an `[auth]` table) beside a CA, in a directory that holds
    /// `ca.pem`, `ids.tsv` and `secret`.
    fn load(auth: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        for file in ["ca.pem", "ids.tsv", "secret"] {
            fs::write(dir.path().join(file), "not read at load time").expect("file written");
        }
        let text = format!("{auth}\n{CA}");
        match Config::from_toml_str(&text, &dir.path().join("revcheck.toml")) {
            Ok(config) => Ok(config),
            Err(ConfigError::Invalid { problems, .. }) => {
                Err(problems.iter().map(ToString::to_string).collect())
            }
            Err(error) => panic!("expected ConfigError::Invalid, got {error}"),
        }
    }

    fn problems(auth: &str) -> Vec<String> {
        match load(auth) {
            Ok(config) => panic!("invalid configuration accepted: {:?}", config.auth),
            Err(problems) => problems,
        }
    }

    #[test]
    fn absent_table_means_no_auth() {
        let config = load("").expect("valid");
        assert_eq!(config.auth, None);
    }

    #[test]
    fn defaults_apply() {
        let config = load("[auth]\nidentities = \"ids.tsv\"").expect("valid");
        let auth = config.auth.expect("auth table read");
        assert_eq!(auth.verification, VerificationMode::Proxy);
        assert_eq!(auth.certificate_header, "x-ssl-client-cert");
        assert_eq!(auth.certificate_format, CertificateFormat::NginxEscaped);
        assert_eq!(auth.verify_header, "x-ssl-client-verify");
        assert_eq!(auth.mapping, MappingMode::Fingerprint);
        assert!(auth.identities.expect("identities").ends_with("ids.tsv"));
        assert_eq!(auth.secret_header, None);
        assert_eq!(auth.cache_capacity, 10_000);
    }

    #[test]
    fn every_key_read() {
        let config = load(
            r#"
[auth]
verification = "self"
certificate_header = "Client-Cert"
certificate_format = "rfc9440"
verify_header = "X-Verify"
identity = "san"
san_type = "uri"
require_listed = true
identities = "ids.tsv"
secret_header = "X-Revcheck-Secret"
secret_file = "secret"
cache_capacity = 5
"#,
        )
        .expect("valid");
        let auth = config.auth.expect("auth table read");
        assert_eq!(auth.verification, VerificationMode::SelfVerified);
        assert_eq!(auth.certificate_header, "client-cert");
        assert_eq!(auth.certificate_format, CertificateFormat::Rfc9440);
        assert_eq!(auth.verify_header, "x-verify");
        assert_eq!(
            auth.mapping,
            MappingMode::San {
                kind: SanKind::Uri,
                require_listed: true
            }
        );
        assert_eq!(auth.secret_header.as_deref(), Some("x-revcheck-secret"));
        assert!(auth.secret_file.expect("secret file").ends_with("secret"));
        assert_eq!(auth.cache_capacity, 5);
    }

    #[test]
    fn underscore_header_rejected() {
        assert_eq!(
            problems("[auth]\nidentities = \"ids.tsv\"\nverify_header = \"X-SSL_Client-Verify\""),
            [
                "auth.verify_header = \"X-SSL_Client-Verify\": header name contains an \
                 underscore, which nginx drops by default and which a client can use to spoof \
                 a header; write it with dashes, \"X-SSL-Client-Verify\""
            ]
        );
    }

    #[test]
    fn invalid_header_names_rejected() {
        for name in ["", "X SSL", "X-Cert:", "Zertifikat-\u{e4}"] {
            let found = problems(&format!(
                "[auth]\nidentities = \"ids.tsv\"\ncertificate_header = \"{name}\""
            ));
            assert_eq!(found.len(), 1, "{name:?}: {found:?}");
            assert!(found[0].starts_with("auth.certificate_header"), "{found:?}");
        }
    }

    #[test]
    fn same_header_twice_rejected() {
        let found = problems(
            "[auth]\nidentities = \"ids.tsv\"\ncertificate_header = \"X-A\"\n\
             verify_header = \"x-a\"",
        );
        assert_eq!(
            found,
            [
                "auth.verify_header: header \"x-a\" is also certificate_header; give each header \
              its own name"
            ]
        );
    }

    #[test]
    fn lookup_modes_need_identities() {
        for mode in ["fingerprint", "subject"] {
            let found = problems(&format!("[auth]\nidentity = \"{mode}\""));
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(
                found[0].starts_with("auth.identities: missing key"),
                "{found:?}"
            );
        }
        let found =
            problems("[auth]\nidentity = \"san\"\nsan_type = \"email\"\nrequire_listed = true");
        assert!(
            found[0].starts_with("auth.identities: missing key"),
            "{found:?}"
        );

        let config = load("[auth]\nidentity = \"san\"\nsan_type = \"dns\"").expect("valid");
        assert_eq!(
            config.auth.expect("auth").mapping,
            MappingMode::San {
                kind: SanKind::Dns,
                require_listed: false
            }
        );
    }

    #[test]
    fn san_keys_checked_against_mode() {
        assert_eq!(
            problems("[auth]\nidentity = \"san\""),
            [
                "auth.san_type: missing key; identity = \"san\" needs san_type = \"email\", \
              \"uri\" or \"dns\""
            ]
        );
        assert_eq!(
            problems("[auth]\nidentities = \"ids.tsv\"\nsan_type = \"email\""),
            ["auth.san_type: san_type applies only to identity = \"san\"; remove it"]
        );
        assert_eq!(
            problems("[auth]\nidentities = \"ids.tsv\"\nrequire_listed = false"),
            [
                "auth.require_listed = false: require_listed applies only to identity = \"san\"; \
              remove it"
            ]
        );
        assert_eq!(
            problems("[auth]\nidentity = \"san\"\nsan_type = \"ip\""),
            ["auth.san_type = \"ip\": unknown value; write one of \"email\", \"uri\", \"dns\""]
        );
    }

    #[test]
    fn secret_keys_come_in_pairs() {
        assert_eq!(
            problems("[auth]\nidentities = \"ids.tsv\"\nsecret_header = \"X-Secret\""),
            [
                "auth.secret_file: missing key; secret_header needs secret_file, the file that \
              holds the secret"
            ]
        );
        assert_eq!(
            problems("[auth]\nidentities = \"ids.tsv\"\nsecret_file = \"secret\""),
            [
                "auth.secret_header: missing key; secret_file needs secret_header, such as \
              secret_header = \"X-Revcheck-Secret\""
            ]
        );
    }

    #[test]
    fn invalid_secret_file_reported_once() {
        let found = problems(
            "[auth]\nidentities = \"ids.tsv\"\nsecret_header = \"X-Secret\"\nsecret_file = \".\"",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("auth.secret_file = \".\""),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_values_and_keys_listed() {
        let found = problems(
            "[auth]\nidentities = \"ids.tsv\"\nverification = \"nginx\"\n\
             certificate_format = \"pem\"\nidentity = \"cn\"\nheader = \"x\"",
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].contains("write one of \"proxy\", \"self\""),
            "{found:?}"
        );
        assert!(
            found[1].contains("\"nginx_escaped\", \"nginx_multiline\""),
            "{found:?}"
        );
        assert!(
            found[2].contains("\"fingerprint\", \"san\", \"subject\""),
            "{found:?}"
        );
        assert!(
            found[3].starts_with("auth.header: unknown key"),
            "{found:?}"
        );
    }

    #[test]
    fn missing_identities_file_reported() {
        let found = problems("[auth]\nidentities = \"absent.tsv\"");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("cannot read file"), "{found:?}");
    }
}
