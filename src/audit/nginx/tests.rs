use std::path::Path;
use std::rc::Rc;

use super::*;

/// A server that verifies client certificates, sends auth subrequests to revcheck and overwrites the identity
/// headers: no finding. Each test below changes one thing in it.
const GOOD_SERVER: &str = r#"
server {
    listen 443 ssl;
    ssl_client_certificate /etc/nginx/cas.pem;
    ssl_verify_client on;

    location = /_revcheck {
        internal;
        proxy_pass http://127.0.0.1:8480/v1/auth;
        proxy_pass_request_headers off;
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
    }

    location / {
        auth_request /_revcheck;
        auth_request_set $client_identity $upstream_http_x_client_identity;
        proxy_set_header X-Client-Identity $client_identity;
        proxy_set_header X-SSL-Client-Verify "";
        proxy_pass http://127.0.0.1:8000;
    }
}
"#;

fn findings(text: &str) -> Vec<(&'static str, usize)> {
    let file: Rc<Path> = Rc::from(Path::new("test.conf"));
    let directives = parse(text, &file).expect("test configuration parses");
    let mut found: Vec<_> = audit(&directives)
        .findings
        .into_iter()
        .map(|finding| (finding.id, finding.line))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Returns the 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .map(|index| index + 1)
        .unwrap_or_else(|| panic!("{needle:?} is not in the test configuration"))
}

fn good_with(from: &str, to: &str) -> String {
    assert!(GOOD_SERVER.contains(from), "{from:?} is not in GOOD_SERVER");
    GOOD_SERVER.replacen(from, to, 1)
}

#[test]
fn good_server_has_no_findings() {
    assert_eq!(findings(GOOD_SERVER), []);
}

#[test]
fn good_server_inside_http_block() {
    let text = format!("events {{}}\nhttp {{\n{GOOD_SERVER}\n}}\n");
    assert_eq!(findings(&text), []);
}

#[test]
fn verify_client_off_with_auth_request() {
    let text = good_with("ssl_verify_client on;", "ssl_verify_client off;");
    let line = line_of(&text, "ssl_verify_client off");
    assert!(findings(&text).contains(&("nginx-verify-client-off", line)));
}

#[test]
fn verify_client_absent_reports_server_line() {
    let text = good_with("ssl_verify_client on;", "");
    let line = line_of(&text, "server {");
    assert_eq!(findings(&text), [("nginx-verify-client-off", line)]);
}

#[test]
fn verify_client_off_forwarding_certificate_only() {
    let text = "server {\n  listen 80;\n  location / {\n    proxy_set_header X-Client-Identity \"\";\n    proxy_set_header X-SSL-Client-Verify $ssl_client_verify;\n    proxy_pass http://app;\n  }\n}\n";
    assert_eq!(findings(text), [("nginx-verify-client-off", 1)]);
}

#[test]
fn plain_server_without_certificates_is_quiet() {
    let text = "server {\n  listen 80;\n  location / {\n    proxy_set_header X-Client-Identity \"\";\n    proxy_set_header X-SSL-Client-Verify \"\";\n    proxy_pass http://app;\n  }\n}\n";
    assert_eq!(findings(text), []);
}

#[test]
fn optional_without_auth_request_in_location() {
    let text = good_with("ssl_verify_client on;", "ssl_verify_client optional;")
        .replacen("location / {", "location /open {\n        proxy_set_header X-Client-Identity \"\";\n        proxy_set_header X-SSL-Client-Verify \"\";\n        proxy_pass http://127.0.0.1:8000;\n    }\n\n    location / {", 1);
    let line = line_of(&text, "location /open");
    assert_eq!(findings(&text), [("nginx-verify-not-enforced", line)]);
}

#[test]
fn optional_enforced_by_if_is_quiet() {
    let text = good_with("ssl_verify_client on;", "ssl_verify_client optional;")
        .replacen("location / {", "location /open {\n        if ($ssl_client_verify != SUCCESS) { return 403; }\n        proxy_set_header X-Client-Identity $ssl_client_s_dn;\n        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;\n        proxy_pass http://127.0.0.1:8000;\n    }\n\n    location / {", 1);
    assert_eq!(findings(&text), []);

    let allowing = text.replacen("return 403", "return 200", 1);
    let line = line_of(&allowing, "location /open");
    assert_eq!(findings(&allowing), [("nginx-verify-not-enforced", line)]);
}

#[test]
fn optional_with_auth_request_everywhere_is_quiet() {
    let text = good_with("ssl_verify_client on;", "ssl_verify_client optional_no_ca;");
    assert_eq!(findings(&text), []);
}

#[test]
fn optional_without_verify_forwarded_to_auth() {
    let text = good_with("ssl_verify_client on;", "ssl_verify_client optional_no_ca;").replacen(
        "proxy_set_header X-SSL-Client-Verify $ssl_client_verify;",
        "",
        1,
    );
    let line = line_of(&text, "auth_request /_revcheck");
    assert_eq!(findings(&text), [("nginx-verify-not-enforced", line)]);
}

#[test]
fn underscore_in_identity_header_name() {
    let text = good_with(
        "proxy_set_header X-Client-Identity $client_identity;",
        "proxy_set_header X-Client-Identity $client_identity;\n        proxy_set_header X_Client_Identity $client_identity;",
    );
    let line = line_of(&text, "X_Client_Identity");
    assert_eq!(findings(&text), [("nginx-underscore-header", line)]);
}

#[test]
fn underscores_in_headers_on() {
    let text = good_with(
        "listen 443 ssl;",
        "listen 443 ssl;\n    underscores_in_headers on;",
    );
    let line = line_of(&text, "underscores_in_headers");
    assert_eq!(findings(&text), [("nginx-underscores-allowed", line)]);
}

#[test]
fn ignore_invalid_headers_off() {
    let text = good_with(
        "listen 443 ssl;",
        "listen 443 ssl;\n    ignore_invalid_headers off;",
    );
    let line = line_of(&text, "ignore_invalid_headers");
    assert_eq!(findings(&text), [("nginx-underscores-allowed", line)]);
}

#[test]
fn deprecated_ssl_client_cert() {
    let text = good_with("$ssl_client_escaped_cert;", "$ssl_client_cert;");
    let line = line_of(&text, "$ssl_client_cert;");
    assert_eq!(findings(&text), [("nginx-ssl-client-cert", line)]);
}

#[test]
fn ssl_client_cert_in_braces_and_not_prefix() {
    assert!(uses_variable("${ssl_client_cert}", "ssl_client_cert"));
    assert!(uses_variable("a$ssl_client_cert-b", "ssl_client_cert"));
    assert!(!uses_variable("$ssl_client_cert_x", "ssl_client_cert"));
    assert!(!uses_variable(
        "$ssl_client_escaped_cert",
        "ssl_client_cert"
    ));
}

#[test]
fn location_without_identity_headers() {
    let text = good_with("proxy_set_header X-Client-Identity $client_identity;", "");
    let line = line_of(&text, "location / {");
    assert_eq!(findings(&text), [("nginx-identity-not-overwritten", line)]);
}

#[test]
fn location_own_header_hides_server_headers() {
    // The identity headers sit at server level, but the location sets Host, so it inherits
    // none of them.
    let text = good_with(
        "ssl_verify_client on;",
        "ssl_verify_client on;\n    proxy_set_header X-Client-Identity $client_identity;\n    proxy_set_header X-SSL-Client-Verify \"\";",
    )
    .replacen(
        "proxy_set_header X-Client-Identity $client_identity;\n        proxy_set_header X-SSL-Client-Verify \"\";",
        "proxy_set_header Host $host;",
        1,
    );
    let line = line_of(&text, "location / {");
    assert_eq!(findings(&text), [("nginx-identity-not-overwritten", line)]);
}

#[test]
fn location_inherits_server_headers() {
    let text = good_with(
        "ssl_verify_client on;",
        "ssl_verify_client on;\n    proxy_set_header X-Client-Identity $client_identity;\n    proxy_set_header X-SSL-Client-Verify \"\";",
    )
    .replacen(
        "proxy_set_header X-Client-Identity $client_identity;\n        proxy_set_header X-SSL-Client-Verify \"\";",
        "",
        1,
    );
    assert_eq!(findings(&text), []);
}

#[test]
fn uwsgi_location_needs_params() {
    let text = good_with(
        "proxy_pass http://127.0.0.1:8000;",
        "uwsgi_pass 127.0.0.1:8001;",
    );
    let line = line_of(&text, "location / {");
    assert_eq!(findings(&text), [("nginx-identity-not-overwritten", line)]);

    let with_params = text.replacen(
        "uwsgi_pass",
        "uwsgi_param HTTP_X_CLIENT_IDENTITY $client_identity;\n        uwsgi_param HTTP_X_SSL_CLIENT_VERIFY \"\";\n        uwsgi_pass",
        1,
    );
    assert_eq!(findings(&with_params), []);
}

#[test]
fn no_revocation_check_without_auth_request() {
    let text = "server {\n  listen 443 ssl;\n  ssl_verify_client on;\n  location / {\n    root /srv;\n  }\n}\n";
    assert_eq!(findings(text), [("nginx-no-revocation-check", 3)]);
}

#[test]
fn static_crl_counts_as_revocation_check() {
    let text = "server {\n  listen 443 ssl;\n  ssl_verify_client on;\n  ssl_crl /etc/nginx/ca.crl;\n  location / {\n    root /srv;\n  }\n}\n";
    assert_eq!(findings(text), []);
    let ocsp = text.replace("ssl_crl /etc/nginx/ca.crl;", "ssl_ocsp on;");
    assert_eq!(findings(&ocsp), []);
    let ocsp_off = text.replace("ssl_crl /etc/nginx/ca.crl;", "ssl_ocsp off;");
    assert_eq!(findings(&ocsp_off), [("nginx-no-revocation-check", 3)]);
}

#[test]
fn return_in_location_with_auth_request() {
    let text = good_with(
        "auth_request /_revcheck;",
        "auth_request /_revcheck;\n        return 200 \"ok\";",
    );
    let line = line_of(&text, "return 200");
    assert_eq!(findings(&text), [("nginx-return-before-auth", line)]);
}

#[test]
fn return_inside_if_only_when_not_denial() {
    let deny = good_with(
        "auth_request /_revcheck;",
        "auth_request /_revcheck;\n        if ($request_method = TRACE) { return 405; }",
    );
    assert_eq!(findings(&deny), []);

    let redirect = good_with(
        "auth_request /_revcheck;",
        "auth_request /_revcheck;\n        if ($http_x = 1) { return https://example.test/; }",
    );
    let line = line_of(&redirect, "return https");
    assert_eq!(findings(&redirect), [("nginx-return-before-auth", line)]);
}

#[test]
fn proxied_locations_record_set_headers() {
    let file: Rc<Path> = Rc::from(Path::new("test.conf"));
    let directives = parse(GOOD_SERVER, &file).expect("parses");
    let result = audit(&directives);
    // The auth location does not pass client headers, so only location / counts.
    assert_eq!(result.proxied_locations.len(), 1);
    let headers: Vec<_> = result.proxied_locations[0]
        .set_headers
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(headers, ["x-client-identity", "x-ssl-client-verify"]);
}
