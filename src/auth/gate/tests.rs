use std::sync::Arc;
use std::time::{Duration, SystemTime};

use warp::http::{HeaderMap, HeaderName, HeaderValue};

use super::*;
use crate::config::{CertificateFormat, MappingMode, RevocationMethod, SanKind, UnknownPolicy};
use crate::crl::{DecodedCrl, VerifyOptions};
use crate::fixtures::{CrlSpec, LeafSpec, RevokedSpec, TestCa, TestLeaf};
use crate::ocsp::HashAlgorithm;
use crate::source::Source;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Escapes a PEM the way nginx's `$ssl_client_escaped_cert` does for the characters that
/// matter here, but leaves `+`, `/` and `=` literal, so the decoder must keep `+` a plus.
fn escape_pem(pem: &str) -> String {
    let mut escaped = String::new();
    for byte in pem.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' | b'-' => {
                escaped.push(byte as char);
            }
            _ => escaped.push_str(&format!("%{byte:02X}")),
        }
    }
    escaped
}

fn leaf_spec(name: &str, serial: u8) -> LeafSpec {
    LeafSpec {
        common_name: name.to_owned(),
        serial: vec![serial],
        email: Some(format!("{name}@auth.revcheck.test")),
        uri: None,
    }
}

/// Builds a configured CA with a current CRL that revokes the `revoked` serials, or with no CRL
/// at all.
fn authority(
    ca: &TestCa,
    id: &str,
    revoked: &[u8],
    crl: bool,
    on_unknown: UnknownPolicy,
) -> Arc<Authority> {
    let parsed = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
    let source = Source::parse("file:/nonexistent/revcheck.crl", std::path::Path::new("/"))
        .expect("source parses");
    let authority = Authority::new(id.to_owned(), parsed.clone(), vec![source])
        .with_revocation_policy(RevocationMethod::Crl, on_unknown, None, HashAlgorithm::Sha1);
    if crl {
        store_crl(&authority, ca, revoked, 1);
    }
    Arc::new(authority)
}

fn store_crl(authority: &Authority, ca: &TestCa, revoked: &[u8], number: u64) {
    let now = SystemTime::now();
    let der = ca
        .crl(&CrlSpec {
            revoked: revoked
                .iter()
                .map(|serial| RevokedSpec {
                    serial: vec![*serial],
                    revocation_time: now - DAY,
                    reason: None,
                })
                .collect(),
            crl_number: number,
            this_update: now - Duration::from_secs(60),
            next_update: now + DAY,
        })
        .expect("CRL builds");
    let crl = DecodedCrl::from_der(&der, "test")
        .expect("CRL decodes")
        .verify(
            authority.certificate(),
            authority.certificate(),
            &VerifyOptions::at(now, Duration::from_secs(300)),
        )
        .expect("CRL verifies");
    authority
        .store_crl(0, &Arc::new(crl), now)
        .expect("CRL stored");
}

fn auth_config(mapping: MappingMode) -> AuthConfig {
    AuthConfig {
        verification: VerificationMode::Proxy,
        certificate_header: "x-ssl-client-cert".to_owned(),
        certificate_format: CertificateFormat::NginxEscaped,
        verify_header: "x-ssl-client-verify".to_owned(),
        mapping,
        identities: None,
        secret_header: None,
        secret_file: None,
        cache_capacity: 100,
    }
}

fn email_mapping() -> MappingMode {
    MappingMode::San {
        kind: SanKind::Email,
        require_listed: false,
    }
}

fn gate(config: &AuthConfig) -> AuthGate {
    AuthGate::new(config).expect("gate builds")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

fn proxy_headers(leaf: &TestLeaf) -> HeaderMap {
    headers(&[
        ("x-ssl-client-verify", "SUCCESS"),
        ("x-ssl-client-cert", &escape_pem(&leaf.cert_pem)),
    ])
}

async fn decide(gate: &AuthGate, headers: &HeaderMap, authorities: &Authorities) -> AuthOutcome {
    gate.decide(headers, authorities, None, SystemTime::now(), |_| {})
        .await
}

fn denial(outcome: &AuthOutcome) -> Option<DenyReason> {
    match outcome {
        AuthOutcome::Deny { reason, .. } => Some(*reason),
        AuthOutcome::Allow { .. } => None,
    }
}

/// A root CA with a CRL that revokes serial 0x66, and two of its clients.
struct Pki {
    ca: TestCa,
    authorities: Authorities,
    good: TestLeaf,
    revoked: TestLeaf,
}

fn pki() -> Pki {
    let ca = TestCa::root("Auth Test CA").expect("CA");
    let authorities = Authorities::from_list(vec![authority(
        &ca,
        "auth-ca",
        &[0x66],
        true,
        UnknownPolicy::Deny,
    )]);
    let good = ca.leaf(&leaf_spec("alice", 0x11)).expect("leaf");
    let revoked = ca.leaf(&leaf_spec("mallory", 0x66)).expect("leaf");
    Pki {
        ca,
        authorities,
        good,
        revoked,
    }
}

#[tokio::test]
async fn good_certificate_allowed_with_identity() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));

    let outcome = decide(&gate, &proxy_headers(&pki.good), &pki.authorities).await;

    let AuthOutcome::Allow {
        reason,
        identity,
        facts,
    } = outcome
    else {
        panic!("expected allow, got {outcome:?}");
    };
    assert_eq!(reason, AllowReason::Good);
    assert_eq!(identity, "alice@auth.revcheck.test");
    assert_eq!(facts.ca.as_deref(), Some("auth-ca"));
    assert_eq!(facts.serial.as_deref(), Some("11"));
    let expected_fingerprint =
        crate::x509::hex::encode(digest(&SHA256, &pki.good.cert_der).as_ref());
    assert_eq!(facts.fingerprint, Some(expected_fingerprint));
    assert_eq!(facts.status, Some(CertStatus::Good));
}

#[tokio::test]
async fn revoked_certificate_denied() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let outcome = decide(&gate, &proxy_headers(&pki.revoked), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::Revoked));
    assert_eq!(DenyReason::Revoked.http_status(), 403);
}

#[tokio::test]
async fn undetermined_follows_on_unknown() {
    let ca = TestCa::root("No CRL CA").expect("CA");
    let leaf = ca.leaf(&leaf_spec("alice", 0x11)).expect("leaf");
    let gate = gate(&auth_config(email_mapping()));

    let deny = Authorities::from_list(vec![authority(&ca, "c", &[], false, UnknownPolicy::Deny)]);
    let outcome = decide(&gate, &proxy_headers(&leaf), &deny).await;
    assert_eq!(denial(&outcome), Some(DenyReason::Undetermined));

    let allow = Authorities::from_list(vec![authority(&ca, "c", &[], false, UnknownPolicy::Allow)]);
    let outcome = decide(&gate, &proxy_headers(&leaf), &allow).await;
    match outcome {
        AuthOutcome::Allow { reason, facts, .. } => {
            assert_eq!(reason, AllowReason::UnknownAllowed);
            assert_eq!(facts.status, Some(CertStatus::Unknown));
        }
        other => panic!("expected allow, got {other:?}"),
    }
}

#[tokio::test]
async fn proxy_verification_must_be_success() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let certificate = escape_pem(&pki.good.cert_pem);

    let cases = [
        (Some("NONE"), "", DenyReason::NoCertificate),
        (None, "", DenyReason::NoCertificate),
        (Some("SUCCESS"), "", DenyReason::NoCertificate),
        (
            Some("NONE"),
            certificate.as_str(),
            DenyReason::NoCertificate,
        ),
        (
            Some("FAILED:certificate has expired"),
            certificate.as_str(),
            DenyReason::ProxyVerificationFailed,
        ),
        (
            Some("success"),
            certificate.as_str(),
            DenyReason::ProxyVerificationFailed,
        ),
        (
            None,
            certificate.as_str(),
            DenyReason::ProxyVerificationFailed,
        ),
    ];
    for (verify, cert, expected) in cases {
        let mut pairs = vec![("x-ssl-client-cert", cert)];
        if let Some(verify) = verify {
            pairs.push(("x-ssl-client-verify", verify));
        }
        let outcome = decide(&gate, &headers(&pairs), &pki.authorities).await;
        assert_eq!(denial(&outcome), Some(expected), "verify {verify:?}");
        assert_eq!(expected.http_status(), 401);
    }
}

#[tokio::test]
async fn self_verification_ignores_proxy_result() {
    let pki = pki();
    let mut config = auth_config(email_mapping());
    config.verification = VerificationMode::SelfVerified;
    let gate = gate(&config);
    let certificate = escape_pem(&pki.good.cert_pem);

    for verify in [
        Some("FAILED:unable to get local issuer certificate"),
        Some("SUCCESS"),
        None,
    ] {
        let mut pairs = vec![("x-ssl-client-cert", certificate.as_str())];
        if let Some(verify) = verify {
            pairs.push(("x-ssl-client-verify", verify));
        }
        let outcome = decide(&gate, &headers(&pairs), &pki.authorities).await;
        assert_eq!(denial(&outcome), None, "verify {verify:?}: {outcome:?}");
    }

    let none = headers(&[
        ("x-ssl-client-verify", "NONE"),
        ("x-ssl-client-cert", certificate.as_str()),
    ]);
    let outcome = decide(&gate, &none, &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::NoCertificate));

    let stranger_ca = TestCa::root("Stranger CA").expect("CA");
    let stranger = stranger_ca.leaf(&leaf_spec("eve", 0x11)).expect("leaf");
    let unknown = headers(&[
        (
            "x-ssl-client-verify",
            "FAILED:unable to get local issuer certificate",
        ),
        ("x-ssl-client-cert", &escape_pem(&stranger.cert_pem)),
    ]);
    let outcome = decide(&gate, &unknown, &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::UnknownIssuer));
}

#[tokio::test]
async fn same_name_other_key_is_unknown_issuer() {
    let pki = pki();
    // Same subject as the configured CA, different key: the name matches, the signature does not.
    let impostor = TestCa::root("Auth Test CA").expect("CA");
    let forged = impostor.leaf(&leaf_spec("alice", 0x11)).expect("leaf");
    let gate = gate(&auth_config(email_mapping()));
    let outcome = decide(&gate, &proxy_headers(&forged), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::UnknownIssuer));
}

#[tokio::test]
async fn spoofing_guards_deny() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let certificate = escape_pem(&pki.good.cert_pem);

    let duplicate_verify = headers(&[
        ("x-ssl-client-verify", "SUCCESS"),
        ("x-ssl-client-verify", "SUCCESS"),
        ("x-ssl-client-cert", &certificate),
    ]);
    let outcome = decide(&gate, &duplicate_verify, &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::DuplicateHeader));

    let duplicate_cert = headers(&[
        ("x-ssl-client-verify", "SUCCESS"),
        ("x-ssl-client-cert", &certificate),
        ("x-ssl-client-cert", &certificate),
    ]);
    let outcome = decide(&gate, &duplicate_cert, &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::DuplicateHeader));

    for name in [
        "x_ssl_client_verify",
        "x-ssl_client-verify",
        "x_ssl-client-cert",
    ] {
        let mut map = proxy_headers(&pki.good);
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_static("SUCCESS"),
        );
        let outcome = decide(&gate, &map, &pki.authorities).await;
        assert_eq!(
            denial(&outcome),
            Some(DenyReason::UnderscoreHeader),
            "{name}"
        );
    }

    // An unrelated header with underscores is not a spoofing attempt.
    let mut map = proxy_headers(&pki.good);
    map.append("x_request_id", HeaderValue::from_static("1"));
    let outcome = decide(&gate, &map, &pki.authorities).await;
    assert_eq!(denial(&outcome), None, "{outcome:?}");
}

#[tokio::test]
async fn shared_secret_required() {
    let pki = pki();
    let directory = tempfile::tempdir().expect("temp dir");
    let secret_path = directory.path().join("secret");
    std::fs::write(&secret_path, "s3cret-value\n").expect("secret written");
    let mut config = auth_config(email_mapping());
    config.secret_header = Some("x-revcheck-secret".to_owned());
    config.secret_file = Some(secret_path);
    let gate = gate(&config);

    let outcome = decide(&gate, &proxy_headers(&pki.good), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::ProxySecretInvalid));

    for (secret, expected) in [
        ("s3cret-valu", Some(DenyReason::ProxySecretInvalid)),
        (
            "s3cret-value-and-more",
            Some(DenyReason::ProxySecretInvalid),
        ),
        ("s3cret-value", None),
    ] {
        let mut map = proxy_headers(&pki.good);
        map.append(
            "x-revcheck-secret",
            HeaderValue::from_str(secret).expect("value"),
        );
        let outcome = decide(&gate, &map, &pki.authorities).await;
        assert_eq!(denial(&outcome), expected, "secret {secret}");
    }
}

#[test]
fn empty_secret_file_rejected() {
    let directory = tempfile::tempdir().expect("temp dir");
    let secret_path = directory.path().join("secret");
    std::fs::write(&secret_path, " \n").expect("secret written");
    let mut config = auth_config(email_mapping());
    config.secret_header = Some("x-revcheck-secret".to_owned());
    config.secret_file = Some(secret_path);
    let error = AuthGate::new(&config).expect_err("empty secret");
    assert!(matches!(error, GateError::SecretEmpty { .. }), "{error}");
}

#[tokio::test]
async fn malformed_certificate_headers_denied() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let two = escape_pem(&format!("{}{}", pki.good.cert_pem, pki.revoked.cert_pem));

    let cases = [
        ("%zz", DenyReason::MalformedCertificateHeader),
        ("not a certificate", DenyReason::MalformedCertificateHeader),
        (two.as_str(), DenyReason::NotOneCertificate),
    ];
    for (value, expected) in cases {
        let map = headers(&[
            ("x-ssl-client-verify", "SUCCESS"),
            ("x-ssl-client-cert", value),
        ]);
        let outcome = decide(&gate, &map, &pki.authorities).await;
        assert_eq!(denial(&outcome), Some(expected), "{value:.20}");
        assert_eq!(expected.http_status(), 403);
    }
}

#[tokio::test]
async fn validity_period_enforced() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let now = SystemTime::now();

    let expired = pki
        .ca
        .leaf_with(&leaf_spec("old", 0x21), |params| {
            params.not_before = (now - 30 * DAY).into();
            params.not_after = (now - DAY).into();
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&expired), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::CertificateExpired));

    let future = pki
        .ca
        .leaf_with(&leaf_spec("new", 0x22), |params| {
            params.not_before = (now + DAY).into();
            params.not_after = (now + 30 * DAY).into();
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&future), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::CertificateNotYetValid));
}

#[tokio::test]
async fn identity_unmapped_and_ambiguous() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));

    let no_email = pki
        .ca
        .leaf(&LeafSpec {
            email: None,
            ..leaf_spec("nobody", 0x31)
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&no_email), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::IdentityUnmapped));

    let two_emails = pki
        .ca
        .leaf_with(&leaf_spec("twice", 0x32), |params| {
            params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
                "other@auth.revcheck.test".try_into().expect("IA5 string"),
            ));
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&two_emails), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::IdentityAmbiguous));
}

#[tokio::test]
async fn two_common_names_refused_in_subject_mode() {
    let pki = pki();
    let two_names = pki
        .ca
        .leaf_with(&leaf_spec("first", 0x41), |params| {
            // A second CN attribute, under the same OID as DnType::CommonName.
            params
                .distinguished_name
                .push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 3]), "second");
        })
        .expect("leaf");
    let parsed = ParsedCertificate::from_der(&two_names.cert_der).expect("decodes");
    let subject = crate::x509::name_text::openssl_rfc2253(parsed.subject());
    assert_eq!(
        subject.matches("CN=").count(),
        2,
        "fixture must have two CNs: {subject}"
    );

    let directory = tempfile::tempdir().expect("temp dir");
    let identities = directory.path().join("identities");
    std::fs::write(&identities, format!("{subject}\tfirst\n")).expect("written");
    let mut config = auth_config(MappingMode::Subject);
    config.identities = Some(identities);
    let gate = gate(&config);

    let outcome = decide(&gate, &proxy_headers(&two_names), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::IdentityAmbiguous));
}

#[tokio::test]
async fn cache_hit_still_checks_current_crl() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let request = proxy_headers(&pki.good);
    let hits = std::sync::Mutex::new(Vec::new());

    for _ in 0..2 {
        let outcome = gate
            .decide(&request, &pki.authorities, None, SystemTime::now(), |hit| {
                hits.lock().expect("lock").push(hit);
            })
            .await;
        assert_eq!(denial(&outcome), None);
    }
    assert_eq!(*hits.lock().expect("lock"), [false, true]);

    // A new CRL that revokes the client takes effect on the next request, from the cache.
    let authority = pki.authorities.get("auth-ca").expect("CA");
    store_crl(authority, &pki.ca, &[0x11, 0x66], 2);
    let outcome = gate
        .decide(&request, &pki.authorities, None, SystemTime::now(), |hit| {
            assert!(hit, "the certificate should come from the cache");
        })
        .await;
    assert_eq!(denial(&outcome), Some(DenyReason::Revoked));
}

#[tokio::test]
async fn cached_entry_of_replaced_ca_not_used() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let request = proxy_headers(&pki.good);
    let outcome = decide(&gate, &request, &pki.authorities).await;
    assert_eq!(denial(&outcome), None);

    // A reload replaced the CA under the same id with another key.
    let replacement = TestCa::root("Auth Test CA").expect("CA");
    let replaced = Authorities::from_list(vec![authority(
        &replacement,
        "auth-ca",
        &[],
        true,
        UnknownPolicy::Deny,
    )]);
    let outcome = gate
        .decide(&request, &replaced, None, SystemTime::now(), |hit| {
            assert!(!hit, "an entry verified under the old CA must not be used");
        })
        .await;
    assert_eq!(denial(&outcome), Some(DenyReason::UnknownIssuer));
}

#[tokio::test]
async fn revoked_intermediate_denies() {
    let root = TestCa::root("Auth Root").expect("root");
    let issuing = root.intermediate("Auth Issuing").expect("intermediate");
    let leaf = issuing.leaf(&leaf_spec("alice", 0x11)).expect("leaf");
    let gate = gate(&auth_config(email_mapping()));

    // TestCa::intermediate gives every intermediate serial 2.
    let good_path = Authorities::from_list(vec![
        authority(&root, "root", &[], true, UnknownPolicy::Deny),
        authority(&issuing, "issuing", &[], true, UnknownPolicy::Deny),
    ]);
    let outcome = decide(&gate, &proxy_headers(&leaf), &good_path).await;
    assert_eq!(denial(&outcome), None, "{outcome:?}");

    let gate = super::AuthGate::new(&auth_config(email_mapping())).expect("gate");
    let revoked_path = Authorities::from_list(vec![
        authority(&root, "root", &[2], true, UnknownPolicy::Deny),
        authority(&issuing, "issuing", &[], true, UnknownPolicy::Deny),
    ]);
    let outcome = decide(&gate, &proxy_headers(&leaf), &revoked_path).await;
    assert_eq!(denial(&outcome), Some(DenyReason::CaRevoked));
}

#[test]
fn every_reason_has_distinct_code() {
    let mut codes: Vec<&str> = crate::auth::decision_labels()
        .map(|(_, code)| code)
        .collect();
    let total = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), total);
    for reason in DenyReason::ALL {
        assert!(matches!(reason.http_status(), 401 | 403), "{reason:?}");
    }
}

#[tokio::test]
async fn server_certificate_not_client() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));

    let server = pki
        .ca
        .leaf_with(&leaf_spec("server", 0x51), |params| {
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&server), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::NotClientCertificate));

    let signing_only = pki
        .ca
        .leaf_with(&leaf_spec("signer", 0x52), |params| {
            params.key_usages = vec![rcgen::KeyUsagePurpose::ContentCommitment];
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&signing_only), &pki.authorities).await;
    assert_eq!(denial(&outcome), Some(DenyReason::NotClientCertificate));

    // Without extendedKeyUsage, as OpenSSL's sslclient purpose allows.
    let no_eku = pki
        .ca
        .leaf_with(&leaf_spec("plain", 0x53), |params| {
            params.extended_key_usages = Vec::new();
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&no_eku), &pki.authorities).await;
    assert_eq!(denial(&outcome), None, "{outcome:?}");
}

#[tokio::test]
async fn unknown_critical_extension_denied() {
    let pki = pki();
    let gate = gate(&auth_config(email_mapping()));
    let extension = |critical: bool| {
        let mut extension =
            rcgen::CustomExtension::from_oid_content(&[1, 2, 3, 4, 5], vec![0x05, 0x00]);
        extension.set_criticality(critical);
        extension
    };

    let critical = pki
        .ca
        .leaf_with(&leaf_spec("critical", 0x61), |params| {
            params.custom_extensions.push(extension(true));
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&critical), &pki.authorities).await;
    assert_eq!(
        denial(&outcome),
        Some(DenyReason::UnsupportedCriticalExtension)
    );

    let non_critical = pki
        .ca
        .leaf_with(&leaf_spec("noncritical", 0x62), |params| {
            params.custom_extensions.push(extension(false));
        })
        .expect("leaf");
    let outcome = decide(&gate, &proxy_headers(&non_critical), &pki.authorities).await;
    assert_eq!(denial(&outcome), None, "{outcome:?}");
}
