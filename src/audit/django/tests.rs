use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

/// Builds a proxied location that sets the headers of the nginx example site.
fn example_location() -> ProxiedLocation {
    ProxiedLocation {
        file: PathBuf::from("site.conf"),
        line: 7,
        set_headers: [
            "host",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-client-identity",
            "x-ssl-client-verify",
            "x-ssl-client-cert",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<BTreeSet<_>>(),
    }
}

fn findings(text: &str) -> Vec<(&'static str, usize)> {
    audit(Path::new("settings.py"), text, &[example_location()])
        .into_iter()
        .map(|finding| (finding.id, finding.line))
        .collect()
}

const GOOD_MIDDLEWARE: &str = "MIDDLEWARE = [\n    'django.contrib.auth.middleware.AuthenticationMiddleware',\n    'revcheck_django.middleware.RevcheckMiddleware',\n]\n";

#[test]
fn example_settings_have_no_findings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients/django/example/example_site/settings.py");
    let text = std::fs::read_to_string(&path).expect("example settings are read");
    assert_eq!(findings(&text), []);
}

#[test]
fn good_middleware_has_no_findings() {
    assert_eq!(findings(GOOD_MIDDLEWARE), []);
}

#[test]
fn remote_user_header_on_verify_header() {
    let text = "\nREMOTE_USER_HEADER = 'HTTP_X_SSL_CLIENT_VERIFY'\n";
    assert_eq!(findings(text), [("django-identity-verify-header", 2)]);
}

#[test]
fn revcheck_identity_header_on_verify_header() {
    let text = "REVCHECK_IDENTITY_HEADER = 'X-Client-Verified'\n";
    assert_eq!(findings(text), [("django-identity-verify-header", 1)]);
}

#[test]
fn remote_user_middleware_after_revcheck() {
    let text = format!(
        "{}MIDDLEWARE += [\n    'django.contrib.auth.middleware.RemoteUserMiddleware',\n]\n",
        GOOD_MIDDLEWARE
    );
    assert_eq!(findings(&text), [("django-remote-user-order", 6)]);
}

#[test]
fn remote_user_middleware_before_revcheck_is_quiet() {
    let text = GOOD_MIDDLEWARE.replace(
        "    'revcheck",
        "    'django.contrib.auth.middleware.PersistentRemoteUserMiddleware',\n    'revcheck",
    );
    assert_eq!(findings(&text), []);
}

#[test]
fn remote_user_middleware_without_revcheck() {
    let text = "MIDDLEWARE = [\n    'django.contrib.auth.middleware.AuthenticationMiddleware',\n    'django.contrib.auth.middleware.PersistentRemoteUserMiddleware',\n]\n";
    assert_eq!(findings(text), [("django-remote-user-without-revcheck", 3)]);
}

#[test]
fn remote_user_header_meta_keys() {
    let cases = [
        ("X-Client-Identity", true),
        ("HTTP_X_CLIENT-IDENTITY", true),
        ("X_CLIENT_IDENTITY", true),
        ("http_x_client_identity", true),
        ("HTTP_X_CLIENT_IDENTITY", false),
    ];
    for (value, reported) in cases {
        let text = format!("REMOTE_USER_HEADER = {value:?}\n");
        let expected: &[(&str, usize)] = if reported {
            &[("django-meta-key-never-set", 1)]
        } else {
            &[]
        };
        assert_eq!(findings(&text), expected, "REMOTE_USER_HEADER = {value:?}");
    }
}

#[test]
fn revcheck_header_given_as_meta_key() {
    let text = "REVCHECK_IDENTITY_HEADER = 'HTTP_X_CLIENT_IDENTITY'\n";
    assert_eq!(findings(text), [("django-meta-key-never-set", 1)]);
}

#[test]
fn revcheck_header_with_underscores() {
    let text = "REVCHECK_CERTIFICATE_HEADER = 'X_SSL_Client_Cert'\n";
    assert_eq!(findings(text), [("django-underscore-header", 1)]);
}

#[test]
fn secure_proxy_ssl_header_not_set_by_proxy() {
    let text = "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_SSL', 'on')\n";
    assert_eq!(findings(text), [("django-untrusted-proxy-header", 1)]);

    let proto = "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')\n";
    assert_eq!(findings(proto), []);

    // A server variable, not a header: a client cannot send it.
    let variable = "SECURE_PROXY_SSL_HEADER = ('wsgi.url_scheme', 'https')\n";
    assert_eq!(findings(variable), []);
}

#[test]
fn secure_proxy_ssl_header_with_dashes() {
    let text = "SECURE_PROXY_SSL_HEADER = ('HTTP_X-FORWARDED-PROTO', 'https')\n";
    assert_eq!(findings(text), [("django-meta-key-never-set", 1)]);
}

#[test]
fn forwarded_host_not_set_by_proxy() {
    let text = "USE_X_FORWARDED_HOST = True\nUSE_X_FORWARDED_PORT = False\n";
    assert_eq!(findings(text), [("django-untrusted-proxy-header", 1)]);
}

#[test]
fn forwarded_host_set_by_proxy_is_quiet() {
    let mut location = example_location();
    location.set_headers.insert("x-forwarded-host".to_owned());
    let found = audit(
        Path::new("settings.py"),
        "USE_X_FORWARDED_HOST = True\n",
        &[location],
    );
    assert_eq!(found, []);
}

#[test]
fn identity_header_not_set_by_proxy() {
    let text = "REMOTE_USER_HEADER = 'HTTP_X_REMOTE_USER'\nREVCHECK_IDENTITY_HEADER = 'X-User'\n";
    assert_eq!(
        findings(text),
        [
            ("django-untrusted-proxy-header", 1),
            ("django-untrusted-proxy-header", 2)
        ]
    );

    let set = "REMOTE_USER_HEADER = 'HTTP_X_CLIENT_IDENTITY'\nREVCHECK_IDENTITY_HEADER = 'X-Client-Identity'\n";
    assert_eq!(findings(set), []);
}
