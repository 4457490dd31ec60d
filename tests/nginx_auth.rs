//! Real nginx running the example sites in `config/nginx/`, with revcheck as the
//! `auth_request` target and an echo application behind it, driven by curl over mutual TLS.
//!
//! The example files run unchanged except for their paths and ports, which
//! [`ExampleSite::start`] replaces. Each test starts one deployment (nginx, revcheck, the echo application and an
//! OCSP responder) for one mode and runs all of that mode's cases against it. The expected
//! statuses, identities and reasons follow from how the test PKI is built and from revcheck's
//! `GET /v1/auth` contract. openssl confirms the PKI facts that a case depends on: revoked or
//! not, expired, two common names, two email addresses.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rcgen::{DnType, RevocationReason as RcgenReason, SanType};
use revcheck::crl::RevocationReason;
use revcheck::fixtures::{
    CrlSpec, LeafSpec, OcspResponseBuilder, RevokedSpec, SingleResponseSpec, TestCa, TestLeaf,
    not_after,
};
use revcheck::ocsp::{CertId, HashAlgorithm, OcspStatus};
use revcheck::x509::ParsedCertificate;
use tempfile::TempDir;

use common::example_site::{self, AccessLogEntry, Example, ExampleSite, Reply, ServerTls};
use common::nginx::free_port;
use common::openssl::{self, openssl};
use common::responders::{EchoBackend, EchoedRequest, FixedResponder};
use common::revcheck::RevcheckProcess;
use common::{path_text, write_private};

/// The shared secret between nginx and revcheck.
const PROXY_SECRET: &str = "nginx-suite-proxy-secret-4f1c";

// Client certificates. Each name is also the certificate's common name and, prefixed with
// `user-`, its identity in the identities file.
const GOOD: &str = "good";
const CRL_REVOKED: &str = "crl-revoked";
const PLUS: &str = "plus";
const UNMAPPED: &str = "unmapped";
const TWO_CN: &str = "two-cn";
const TWO_EMAIL: &str = "two-email";
const EXPIRED: &str = "expired";
const OCSP_GOOD: &str = "ocsp-good";
const OCSP_REVOKED: &str = "ocsp-revoked";
const UNDETERMINED_DENY: &str = "undetermined-deny";
const UNDETERMINED_ALLOW: &str = "undetermined-allow";
const STRANGER: &str = "stranger";

/// Email address of [`GOOD`] and the first one of [`TWO_EMAIL`].
const GOOD_EMAIL: &str = "good@example.test";
/// Common name that [`TWO_CN`] carries besides its own.
const SECOND_CN: &str = "admin";

/// Certificates whose key the identities file lists: every one except [`UNMAPPED`], so that
/// each denial comes from the property the case is about, not from a missing mapping.
const MAPPED: [&str; 11] = [
    GOOD,
    CRL_REVOKED,
    PLUS,
    TWO_CN,
    TWO_EMAIL,
    EXPIRED,
    OCSP_GOOD,
    OCSP_REVOKED,
    UNDETERMINED_DENY,
    UNDETERMINED_ALLOW,
    STRANGER,
];

/// The ids of the `[[ca]]` entries in revcheck's configuration. The test PKI has one more CA,
/// `stranger`, which neither nginx nor revcheck trusts.
const CONFIGURED_CAS: [&str; 4] = [
    "clients-crl",
    "clients-ocsp",
    "clients-deny",
    "clients-allow",
];

/// A case: its name, which is also its request path, and the function that checks it.
type Case = (&'static str, fn(&Deployment));

#[test]
fn nginx_verifies_fingerprint_identity() {
    let deployment = Deployment::start(Example::VerifyOn, Mapping::Fingerprint);
    run_cases(
        &deployment,
        &[
            ("good-certificate", good_certificate_fingerprint),
            ("revoked-by-crl", revoked_by_crl),
            ("ocsp-good", ocsp_good),
            ("revoked-by-ocsp", revoked_by_ocsp),
            ("undetermined-deny", undetermined_deny),
            ("undetermined-allow", undetermined_allow),
            ("no-certificate", no_certificate_rejected_by_nginx),
            ("unknown-ca", unknown_ca_rejected_by_nginx),
            ("expired", expired_rejected_by_nginx),
            ("unmapped", unmapped_fingerprint),
            ("base64-with-plus", base64_with_plus),
            ("forged-headers", forged_headers_overwritten),
            (
                "forged-certificate-header",
                forged_certificate_without_tls_certificate,
            ),
            ("internal-location", internal_location_not_found),
        ],
    );
}

#[test]
fn revcheck_verifies_subject_identity() {
    let deployment = Deployment::start(Example::SelfVerify, Mapping::Subject);
    run_cases(
        &deployment,
        &[
            ("good-certificate", good_certificate_subject),
            ("revoked-by-crl", revoked_by_crl),
            ("no-certificate", no_certificate_self_verify),
            ("unknown-ca", unknown_ca_self_verify),
            ("expired", expired_self_verify),
            ("two-common-names", two_common_names),
            ("unmapped", unmapped_subject),
            ("forged-headers", forged_headers_overwritten),
            (
                "forged-certificate-header",
                forged_certificate_without_tls_certificate,
            ),
        ],
    );
}

#[test]
fn nginx_verifies_email_identity() {
    let deployment = Deployment::start(Example::VerifyOn, Mapping::Email);
    run_cases(
        &deployment,
        &[
            ("one-email", one_email),
            ("two-emails", two_emails),
            ("no-email", no_email),
        ],
    );
}

#[test]
fn revcheck_unreachable_gives_500() {
    let work = tempfile::tempdir().expect("temporary directory");
    let pki = Pki::generate();
    let files = pki.write(work.path());
    let backend = EchoBackend::start();
    // Nothing listens on a port that was just free, so nginx's subrequest fails to connect.
    let revcheck = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let site = ExampleSite::start(
        Example::VerifyOn,
        work.path(),
        revcheck,
        backend.address,
        PROXY_SECRET,
    );

    let reply = curl(&files, site.address, "/case/revcheck-down", Some(GOOD), &[]);
    assert_eq!(reply.status, 500, "{reply}");
    assert!(
        backend.requests_to("/case/revcheck-down").is_empty(),
        "the application was reached although revcheck is down"
    );
    drop(site.nginx);
    assert!(
        site.prefix.error_log().contains("connect() failed"),
        "nginx error log does not show the failed connection to revcheck:\n{}",
        site.prefix.error_log()
    );
}

// ---- Cases ---------------------------------------------------------------------------------

fn good_certificate_fingerprint(deployment: &Deployment) {
    let reply = deployment.request("good-certificate", Some(GOOD), &[]);
    deployment.assert_allowed("good-certificate", &reply, GOOD, &identity_of(GOOD), "good");
}

fn good_certificate_subject(deployment: &Deployment) {
    let reply = deployment.request("good-certificate", Some(GOOD), &[]);
    deployment.assert_allowed("good-certificate", &reply, GOOD, &identity_of(GOOD), "good");
}

fn revoked_by_crl(deployment: &Deployment) {
    let files = &deployment.files;
    let verdict = openssl_crl_verdict(files, GOOD);
    assert_eq!(verdict, "good", "openssl verify -crl_check on {GOOD}");
    let verdict = openssl_crl_verdict(files, CRL_REVOKED);
    assert_eq!(
        verdict, "revoked",
        "openssl verify -crl_check on {CRL_REVOKED}"
    );

    let reply = deployment.request("revoked-by-crl", Some(CRL_REVOKED), &[]);
    deployment.assert_denied("revoked-by-crl", &reply, 403, "revoked");
}

fn ocsp_good(deployment: &Deployment) {
    let verdict = openssl_ocsp_verdict(&deployment.files, OCSP_GOOD);
    assert_eq!(verdict, "good", "openssl ocsp on {OCSP_GOOD}");

    let reply = deployment.request("ocsp-good", Some(OCSP_GOOD), &[]);
    deployment.assert_allowed(
        "ocsp-good",
        &reply,
        OCSP_GOOD,
        &identity_of(OCSP_GOOD),
        "good",
    );
}

fn revoked_by_ocsp(deployment: &Deployment) {
    let verdict = openssl_ocsp_verdict(&deployment.files, OCSP_REVOKED);
    assert_eq!(verdict, "revoked", "openssl ocsp on {OCSP_REVOKED}");

    let reply = deployment.request("revoked-by-ocsp", Some(OCSP_REVOKED), &[]);
    deployment.assert_denied("revoked-by-ocsp", &reply, 403, "revoked");
}

fn undetermined_deny(deployment: &Deployment) {
    let reply = deployment.request("undetermined-deny", Some(UNDETERMINED_DENY), &[]);
    deployment.assert_denied("undetermined-deny", &reply, 403, "undetermined");
}

fn undetermined_allow(deployment: &Deployment) {
    let reply = deployment.request("undetermined-allow", Some(UNDETERMINED_ALLOW), &[]);
    deployment.assert_allowed(
        "undetermined-allow",
        &reply,
        UNDETERMINED_ALLOW,
        &identity_of(UNDETERMINED_ALLOW),
        "unknown",
    );
}

/// With `ssl_verify_client on`, nginx itself rejects a request without a certificate, and the
/// example turns its 496 into 401.
fn no_certificate_rejected_by_nginx(deployment: &Deployment) {
    let reply = deployment.request("no-certificate", None, &[]);
    assert_eq!(reply.status, 401, "{reply}");
    deployment.assert_not_forwarded("no-certificate");
    let entry = deployment.access_log_entry("no-certificate");
    assert_eq!(entry.field("verify"), "NONE", "{entry}");
}

/// With `ssl_verify_client on`, nginx itself rejects a certificate from a CA it does not
/// trust, and the example turns its 495 into 401.
fn unknown_ca_rejected_by_nginx(deployment: &Deployment) {
    assert_stranger_not_trusted(&deployment.files);

    let reply = deployment.request("unknown-ca", Some(STRANGER), &[]);
    assert_eq!(reply.status, 401, "{reply}");
    deployment.assert_not_forwarded("unknown-ca");
    let entry = deployment.access_log_entry("unknown-ca");
    assert!(
        entry.field("verify").starts_with("FAILED:"),
        "nginx's verification result should be FAILED: {entry}"
    );
}

fn expired_rejected_by_nginx(deployment: &Deployment) {
    assert_expired_per_openssl(&deployment.files);

    let reply = deployment.request("expired", Some(EXPIRED), &[]);
    assert_eq!(reply.status, 401, "{reply}");
    deployment.assert_not_forwarded("expired");
    let entry = deployment.access_log_entry("expired");
    assert_eq!(
        entry.field("verify"),
        "FAILED:certificate has expired",
        "{entry}"
    );
}

fn unmapped_fingerprint(deployment: &Deployment) {
    let reply = deployment.request("unmapped", Some(UNMAPPED), &[]);
    deployment.assert_denied("unmapped", &reply, 403, "identity_unmapped");
}

/// Checks a certificate whose base64 contains `+`, which URL-decoding as a form would turn
/// into a space. nginx escapes it as %2B in `$ssl_client_escaped_cert`.
fn base64_with_plus(deployment: &Deployment) {
    let pem = &deployment.files.client(PLUS).leaf.cert_pem;
    assert!(
        pem.contains('+'),
        "the PEM of {PLUS} must contain '+':\n{pem}"
    );

    let reply = deployment.request("base64-with-plus", Some(PLUS), &[]);
    deployment.assert_allowed("base64-with-plus", &reply, PLUS, &identity_of(PLUS), "good");
}

/// Checks a client with a valid certificate that also sends identity and verification
/// headers of its own. The application must receive only what revcheck decided.
fn forged_headers_overwritten(deployment: &Deployment) {
    let forged = [
        ("X-Client-Identity", "forged-identity"),
        ("x-client-identity", "forged-identity"),
        ("X-Client_Identity", "forged-identity"),
        ("X-SSL-Client-Verify", "SUCCESS"),
        ("X-SSL-Client-Cert", "forged-certificate"),
        ("X-Client-Cert-Fingerprint", "forged-fingerprint"),
        ("X-Client-Cert-Serial", "forged-serial"),
        ("X-Revocation-Status", "forged-status"),
        ("X-Revcheck-Ca", "forged-ca"),
        ("X-Revcheck-Reason", "forged-reason"),
        ("X-Revcheck-Secret", PROXY_SECRET),
    ];
    let reply = deployment.request("forged-headers", Some(GOOD), &forged);
    let echoed =
        deployment.assert_allowed("forged-headers", &reply, GOOD, &identity_of(GOOD), "good");

    for (name, value) in &echoed.headers {
        assert!(
            !value.starts_with("forged-"),
            "the application received the client's {name}: {value}"
        );
        assert!(
            !name.contains('_'),
            "the application received a header with an underscore: {name}: {value}"
        );
    }
    for name in [
        "X-SSL-Client-Verify",
        "X-SSL-Client-Cert",
        "X-Revcheck-Secret",
        "X-Revcheck-Reason",
    ] {
        assert_eq!(
            echoed.header_values(name),
            Vec::<&str>::new(),
            "the application received {name}"
        );
    }
    let error_log = deployment.site.prefix.error_log();
    assert!(
        error_log.contains("client sent invalid header line: \"X-Client_Identity"),
        "nginx's error log does not show X-Client_Identity dropped:\n{error_log}"
    );
}

/// Checks a client without a TLS certificate that sends a valid certificate and verification
/// result in the headers that nginx uses towards revcheck. nginx must not forward them.
fn forged_certificate_without_tls_certificate(deployment: &Deployment) {
    let pem = &deployment.files.client(GOOD).leaf.cert_pem;
    let escaped = utf8_percent_encode(pem, NON_ALPHANUMERIC).to_string();
    let forged = [
        ("X-SSL-Client-Cert", escaped.as_str()),
        ("X-SSL-Client-Verify", "SUCCESS"),
        ("X-Client-Identity", "forged-identity"),
    ];
    let reply = deployment.request("forged-certificate-header", None, &forged);
    assert_eq!(reply.status, 401, "{reply}");
    deployment.assert_not_forwarded("forged-certificate-header");
}

/// Checks that the check's location is `internal`, so a client cannot call revcheck
/// through it.
fn internal_location_not_found(deployment: &Deployment) {
    let reply = curl(
        &deployment.files,
        deployment.site.address,
        "/_revcheck",
        Some(GOOD),
        &[],
    );
    assert_eq!(reply.status, 404, "{reply}");
}

/// With `optional_no_ca`, the request reaches revcheck, which rejects it for want of a
/// certificate.
fn no_certificate_self_verify(deployment: &Deployment) {
    let reply = deployment.request("no-certificate", None, &[]);
    deployment.assert_denied("no-certificate", &reply, 401, "no_certificate");
    let entry = deployment.access_log_entry("no-certificate");
    assert_eq!(entry.field("verify"), "NONE", "{entry}");
}

fn unknown_ca_self_verify(deployment: &Deployment) {
    assert_stranger_not_trusted(&deployment.files);

    let reply = deployment.request("unknown-ca", Some(STRANGER), &[]);
    deployment.assert_denied("unknown-ca", &reply, 403, "unknown_issuer");
}

fn expired_self_verify(deployment: &Deployment) {
    assert_expired_per_openssl(&deployment.files);

    // optional_no_ca forgives only issuer errors, so nginx rejects the expired certificate
    // itself with 495, which the example answers with 403. revcheck never receives it.
    let reply = deployment.request("expired", Some(EXPIRED), &[]);
    assert_eq!(reply.status, 403, "{reply}");
    deployment.assert_not_forwarded("expired");
    let entry = deployment.access_log_entry("expired");
    assert_eq!(
        entry.field("verify"),
        "FAILED:certificate has expired",
        "{entry}"
    );
    assert_eq!(entry.field("reason"), "-", "{entry}");
    let error_log = deployment.site.prefix.error_log();
    assert!(
        error_log.contains("client SSL certificate verify error: (10:certificate has expired)"),
        "nginx's error log does not show the expired certificate rejected:\n{error_log}"
    );
}

/// Checks a subject with two CN attributes. The identities file lists that exact subject, so
/// only the ambiguity can deny it.
fn two_common_names(deployment: &Deployment) {
    let subject = openssl_subject(&deployment.files, TWO_CN);
    let common_names = subject
        .split(',')
        .filter(|part| part.starts_with("CN="))
        .count();
    assert_eq!(common_names, 2, "openssl subject of {TWO_CN}: {subject}");

    let reply = deployment.request("two-common-names", Some(TWO_CN), &[]);
    deployment.assert_denied("two-common-names", &reply, 403, "identity_ambiguous");
}

fn unmapped_subject(deployment: &Deployment) {
    let reply = deployment.request("unmapped", Some(UNMAPPED), &[]);
    deployment.assert_denied("unmapped", &reply, 403, "identity_unmapped");
}

fn one_email(deployment: &Deployment) {
    let emails = openssl_emails(&deployment.files, GOOD);
    assert_eq!(emails, [GOOD_EMAIL], "openssl subjectAltName of {GOOD}");

    let reply = deployment.request("one-email", Some(GOOD), &[]);
    deployment.assert_allowed("one-email", &reply, GOOD, GOOD_EMAIL, "good");
}

fn two_emails(deployment: &Deployment) {
    let emails = openssl_emails(&deployment.files, TWO_EMAIL);
    assert_eq!(
        emails.len(),
        2,
        "openssl subjectAltName of {TWO_EMAIL}: {emails:?}"
    );

    let reply = deployment.request("two-emails", Some(TWO_EMAIL), &[]);
    deployment.assert_denied("two-emails", &reply, 403, "identity_ambiguous");
}

fn no_email(deployment: &Deployment) {
    let emails = openssl_emails(&deployment.files, UNMAPPED);
    assert_eq!(
        emails,
        Vec::<String>::new(),
        "openssl subjectAltName of {UNMAPPED}"
    );

    let reply = deployment.request("no-email", Some(UNMAPPED), &[]);
    deployment.assert_denied("no-email", &reply, 403, "identity_unmapped");
}

/// Runs every case, each isolated from the others' failures, and then fails with the names
/// of the cases that failed. Their messages appear above, in the panic output.
fn run_cases(deployment: &Deployment, cases: &[Case]) {
    let mut failed = Vec::new();
    for (name, case) in cases {
        if panic::catch_unwind(AssertUnwindSafe(|| case(deployment))).is_err() {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        eprintln!("nginx error log:\n{}", deployment.site.prefix.error_log());
        eprintln!("revcheck log:\n{}", deployment.revcheck.log());
        panic!(
            "{} of {} cases failed: {}",
            failed.len(),
            cases.len(),
            failed.join(", ")
        );
    }
}

// ---- Deployment ----------------------------------------------------------------------------

/// The `[auth] identity` rule of a deployment.
#[derive(Clone, Copy, Debug)]
enum Mapping {
    Fingerprint,
    Subject,
    /// The one email address subject alternative name.
    Email,
}

/// nginx running an example site, revcheck, the echo application and an OCSP responder.
struct Deployment {
    files: PkiFiles,
    backend: EchoBackend,
    _ocsp_responder: FixedResponder,
    revcheck: RevcheckProcess,
    site: ExampleSite,
    /// Removed last, after every process that uses its files has stopped.
    _work: TempDir,
}

impl Deployment {
    fn start(example: Example, mapping: Mapping) -> Deployment {
        let work = tempfile::tempdir().expect("temporary directory");
        let pki = Pki::generate();
        let files = pki.write(work.path());
        let backend = EchoBackend::start();
        let ocsp_responder =
            FixedResponder::start(pki.ocsp_response.clone(), "application/ocsp-response");

        let config =
            write_revcheck_config(work.path(), &files, example, mapping, &ocsp_responder.url);
        let revcheck = RevcheckProcess::spawn(&config);
        let site = ExampleSite::start(
            example,
            work.path(),
            revcheck.address,
            backend.address,
            PROXY_SECRET,
        );

        Deployment {
            files,
            backend,
            _ocsp_responder: ocsp_responder,
            revcheck,
            site,
            _work: work,
        }
    }

    /// Sends `GET /case/<case>` through nginx with the client certificate `client`, if any,
    /// and the extra request headers.
    fn request(&self, case: &str, client: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        curl(
            &self.files,
            self.site.address,
            &format!("/case/{case}"),
            client,
            headers,
        )
    }

    /// Checks that the request was let through with `identity` and returns what the
    /// application received.
    fn assert_allowed(
        &self,
        case: &str,
        reply: &Reply,
        client: &str,
        identity: &str,
        revocation_status: &str,
    ) -> EchoedRequest {
        assert_eq!(reply.status, 200, "{reply}");
        let received = self.backend.requests_to(&format!("/case/{case}"));
        assert_eq!(
            received.len(),
            1,
            "the application should receive the request once: {received:?}"
        );
        let echoed = received.into_iter().next().expect("one request");
        let expected_certificate = openssl_certificate_facts(&self.files, client);
        let issuing_ca = openssl_issuing_ca(&self.files, client);

        for (name, expected) in [
            ("X-Client-Identity", identity),
            (
                "X-Client-Cert-Fingerprint",
                &expected_certificate.fingerprint,
            ),
            ("X-Client-Cert-Serial", &expected_certificate.serial),
            ("X-Revocation-Status", revocation_status),
            ("X-Revcheck-Ca", issuing_ca),
        ] {
            assert_eq!(
                echoed.header_values(name),
                [expected],
                "{name} received by the application; all headers: {:?}",
                echoed.headers
            );
        }
        let entry = self.access_log_entry(case);
        assert_eq!(entry.field("identity"), identity, "{entry}");
        echoed
    }

    /// Checks the status, that the application was not reached, and the reason revcheck gave,
    /// which the example writes to the access log.
    fn assert_denied(&self, case: &str, reply: &Reply, status: u16, reason: &str) {
        assert_eq!(reply.status, status, "{reply}");
        self.assert_not_forwarded(case);
        let entry = self.access_log_entry(case);
        assert_eq!(entry.field("reason"), reason, "{entry}");
        // auth_request_set stores an empty value when revcheck's response lacks the header.
        assert_eq!(entry.field("identity"), "", "{entry}");
    }

    fn assert_not_forwarded(&self, case: &str) {
        let received = self.backend.requests_to(&format!("/case/{case}"));
        assert!(
            received.is_empty(),
            "the application received a denied request: {received:?}"
        );
    }

    /// Returns the access log line of `GET /case/<case>`.
    fn access_log_entry(&self, case: &str) -> AccessLogEntry {
        self.site
            .access_log_entry(&format!("GET /case/{case} HTTP/1.1"))
    }
}

/// Writes revcheck's configuration, identities file and secret file, and returns the
/// configuration's path.
fn write_revcheck_config(
    work: &Path,
    files: &PkiFiles,
    example: Example,
    mapping: Mapping,
    ocsp_url: &str,
) -> PathBuf {
    let dead_url = format!("http://127.0.0.1:{}/", free_port());
    let identity = match mapping {
        Mapping::Fingerprint => "identity = \"fingerprint\"\nidentities = \"identities.tsv\"\n",
        Mapping::Subject => "identity = \"subject\"\nidentities = \"identities.tsv\"\n",
        Mapping::Email => "identity = \"san\"\nsan_type = \"email\"\n",
    };
    let verification = example.verification();
    let config = format!(
        "listen = \"127.0.0.1:0\"\n\
         state_dir = \"state\"\n\
         \n\
         [[ca]]\n\
         id = \"clients-crl\"\n\
         certificate = \"pki/clients-crl.pem\"\n\
         crl = [\"file:pki/clients-crl.crl\"]\n\
         \n\
         [[ca]]\n\
         id = \"clients-ocsp\"\n\
         certificate = \"pki/clients-ocsp.pem\"\n\
         method = \"ocsp\"\n\
         ocsp = [\"{ocsp_url}\"]\n\
         \n\
         [[ca]]\n\
         id = \"clients-deny\"\n\
         certificate = \"pki/clients-deny.pem\"\n\
         method = \"ocsp\"\n\
         ocsp = [\"{dead_url}\"]\n\
         on_unknown = \"deny\"\n\
         \n\
         [[ca]]\n\
         id = \"clients-allow\"\n\
         certificate = \"pki/clients-allow.pem\"\n\
         method = \"ocsp\"\n\
         ocsp = [\"{dead_url}\"]\n\
         on_unknown = \"allow\"\n\
         \n\
         [auth]\n\
         verification = \"{verification}\"\n\
         certificate_header = \"X-SSL-Client-Cert\"\n\
         certificate_format = \"nginx_escaped\"\n\
         verify_header = \"X-SSL-Client-Verify\"\n\
         {identity}\
         secret_header = \"X-Revcheck-Secret\"\n\
         secret_file = \"proxy-secret\"\n"
    );

    let mut identities = String::from("# KEY<TAB>IDENTITY\n");
    for name in MAPPED {
        let key = match mapping {
            Mapping::Fingerprint => openssl_certificate_facts(files, name).fingerprint,
            Mapping::Subject => openssl_subject(files, name),
            Mapping::Email => continue,
        };
        identities.push_str(&format!("{key}\t{}\n", identity_of(name)));
    }
    fs::write(work.join("identities.tsv"), identities).expect("identities file is written");
    write_private(&work.join("proxy-secret"), &format!("{PROXY_SECRET}\n"));

    let path = work.join("revcheck.toml");
    fs::write(&path, config).expect("revcheck.toml is written");
    path
}

fn identity_of(client: &str) -> String {
    format!("user-{client}")
}

// ---- Client --------------------------------------------------------------------------------

/// Sends `GET target` to nginx at `address` with the client certificate named `client`, if
/// any.
fn curl(
    files: &PkiFiles,
    address: SocketAddr,
    target: &str,
    client: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let client = client.map(|name| {
        let client = files.client(name);
        (client.cert_path.as_path(), client.key_path.as_path())
    });
    example_site::curl(&files.server_ca, address, target, client, headers)
}

// ---- openssl as the oracle -----------------------------------------------------------------

fn openssl_certificate_facts(files: &PkiFiles, client: &str) -> openssl::CertificateFacts {
    openssl::certificate_facts(&files.client(client).cert_path)
}

/// Returns the subject in RFC 2253 form, which RFC 4514 succeeded with the same syntax.
fn openssl_subject(files: &PkiFiles, client: &str) -> String {
    let path = &files.client(client).cert_path;
    let output = openssl(&[
        "x509",
        "-in",
        path_text(path),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert_eq!(output.code, Some(0), "{}", output.describe());
    output
        .stdout
        .trim()
        .strip_prefix("subject=")
        .unwrap_or_else(|| panic!("no subject= in {}", output.describe()))
        .to_owned()
}

/// Returns the email subject alternative names.
fn openssl_emails(files: &PkiFiles, client: &str) -> Vec<String> {
    let path = &files.client(client).cert_path;
    let output = openssl(&[
        "x509",
        "-in",
        path_text(path),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert_eq!(output.code, Some(0), "{}", output.describe());
    output
        .stdout
        .split([',', '\n'])
        .filter_map(|part| part.trim().strip_prefix("email:"))
        .map(str::to_owned)
        .collect()
}

/// Returns the id of the one configured CA whose certificate `openssl verify` accepts as the
/// issuer of `client`.
fn openssl_issuing_ca(files: &PkiFiles, client: &str) -> &'static str {
    let certificate = &files.client(client).cert_path;
    let issuers: Vec<&str> = CONFIGURED_CAS
        .into_iter()
        .filter(|id| {
            let output = openssl(&[
                "verify",
                "-CAfile",
                path_text(&files.ca_pem(id)),
                path_text(certificate),
            ]);
            output.code == Some(0)
        })
        .collect();
    assert_eq!(
        issuers.len(),
        1,
        "openssl verify accepts {client} with the CAs {issuers:?}, expected exactly one"
    );
    issuers[0]
}

/// Returns "good" or "revoked" from `openssl verify -crl_check` against the CRL CA's CRL.
fn openssl_crl_verdict(files: &PkiFiles, client: &str) -> &'static str {
    openssl::crl_verdict(
        &files.ca_pem("clients-crl"),
        &files.crl_pem,
        &files.client(client).cert_path,
    )
}

/// Returns the status that `openssl ocsp` reads from the responder's response for `client`.
fn openssl_ocsp_verdict(files: &PkiFiles, client: &str) -> String {
    let ca = files.ca_pem("clients-ocsp");
    let output = openssl(&[
        "ocsp",
        "-respin",
        path_text(&files.ocsp_response),
        "-issuer",
        path_text(&ca),
        "-CAfile",
        path_text(&ca),
        "-cert",
        path_text(&files.client(client).cert_path),
    ]);
    assert_eq!(output.code, Some(0), "{}", output.describe());
    let cert_path = path_text(&files.client(client).cert_path);
    output
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{cert_path}: ")))
        .unwrap_or_else(|| panic!("no status line in {}", output.describe()))
        .trim()
        .to_owned()
}

/// Checks that `openssl verify` calls [`EXPIRED`] expired.
fn assert_expired_per_openssl(files: &PkiFiles) {
    let output = openssl(&[
        "verify",
        "-CAfile",
        path_text(&files.ca_pem("clients-crl")),
        path_text(&files.client(EXPIRED).cert_path),
    ]);
    assert!(
        output.stdout.contains("certificate has expired")
            || output.stderr.contains("certificate has expired"),
        "openssl verify should call {EXPIRED} expired:\n{}",
        output.describe()
    );
}

/// Checks that `openssl verify` rejects [`STRANGER`] against the CAs that nginx trusts.
fn assert_stranger_not_trusted(files: &PkiFiles) {
    let output = openssl(&[
        "verify",
        "-CAfile",
        path_text(&files.client_cas),
        path_text(&files.client(STRANGER).cert_path),
    ]);
    assert_ne!(
        output.code,
        Some(0),
        "openssl verify accepts {STRANGER}: {}",
        output.describe()
    );
}

// ---- Test PKI ------------------------------------------------------------------------------

/// The CAs, certificates, CRL and OCSP response of one deployment.
struct Pki {
    server: ServerTls,
    /// By revcheck id: `clients-crl`, `clients-ocsp`, `clients-deny`, `clients-allow`, and
    /// `stranger`, which neither nginx nor revcheck trusts.
    cas: BTreeMap<&'static str, TestCa>,
    clients: BTreeMap<&'static str, TestLeaf>,
    crl: Vec<u8>,
    ocsp_response: Vec<u8>,
}

impl Pki {
    fn generate() -> Pki {
        let now = SystemTime::now();
        let server = ServerTls::generate();

        let mut cas = BTreeMap::new();
        for id in CONFIGURED_CAS.into_iter().chain(["stranger"]) {
            let ca = TestCa::root(&format!("revcheck nginx test {id} CA")).expect("client CA");
            cas.insert(id, ca);
        }

        let mut clients = BTreeMap::new();
        let crl_ca = &cas["clients-crl"];
        clients.insert(GOOD, issue(crl_ca, GOOD, 0x11, Some(GOOD_EMAIL)));
        clients.insert(CRL_REVOKED, issue(crl_ca, CRL_REVOKED, 0x12, None));
        clients.insert(PLUS, issue_with_plus(crl_ca));
        clients.insert(UNMAPPED, issue(crl_ca, UNMAPPED, 0x14, None));
        let two_cn = crl_ca
            .leaf_with(&leaf_spec(TWO_CN, 0x15, None), |params| {
                params
                    .distinguished_name
                    .push(DnType::CustomDnType(vec![2, 5, 4, 3]), SECOND_CN);
            })
            .expect("certificate with two common names");
        clients.insert(TWO_CN, two_cn);
        let two_email = crl_ca
            .leaf_with(&leaf_spec(TWO_EMAIL, 0x16, Some(GOOD_EMAIL)), |params| {
                params.subject_alt_names.push(SanType::Rfc822Name(
                    "second@example.test"
                        .try_into()
                        .expect("email is an IA5String"),
                ));
            })
            .expect("certificate with two email addresses");
        clients.insert(TWO_EMAIL, two_email);
        let expired = crl_ca
            .leaf_with(&leaf_spec(EXPIRED, 0x17, None), |params| {
                // 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z.
                params.not_before = (UNIX_EPOCH + Duration::from_secs(1_577_836_800)).into();
                params.not_after = (UNIX_EPOCH + Duration::from_secs(1_609_459_200)).into();
            })
            .expect("expired certificate");
        clients.insert(EXPIRED, expired);
        let ocsp_ca = &cas["clients-ocsp"];
        clients.insert(OCSP_GOOD, issue(ocsp_ca, OCSP_GOOD, 0x21, None));
        clients.insert(OCSP_REVOKED, issue(ocsp_ca, OCSP_REVOKED, 0x22, None));
        let deny = issue(&cas["clients-deny"], UNDETERMINED_DENY, 0x31, None);
        clients.insert(UNDETERMINED_DENY, deny);
        let allow = issue(&cas["clients-allow"], UNDETERMINED_ALLOW, 0x41, None);
        clients.insert(UNDETERMINED_ALLOW, allow);
        clients.insert(STRANGER, issue(&cas["stranger"], STRANGER, 0x51, None));

        let crl = crl_ca
            .crl(&CrlSpec {
                revoked: vec![RevokedSpec {
                    serial: vec![0x12],
                    revocation_time: now - Duration::from_secs(3600),
                    reason: Some(RcgenReason::KeyCompromise),
                }],
                crl_number: 1,
                this_update: now - Duration::from_secs(60),
                next_update: not_after(),
            })
            .expect("CRL");

        let ocsp_response = ocsp_response(ocsp_ca, &clients, now);
        Pki {
            server,
            cas,
            clients,
            crl,
            ocsp_response,
        }
    }

    /// Writes every file that nginx, revcheck, curl and openssl read, and returns their paths.
    fn write(&self, work: &Path) -> PkiFiles {
        let pki_dir = work.join("pki");
        let tls_dir = work.join("etc/nginx/tls");
        for dir in [&pki_dir, &tls_dir] {
            fs::create_dir_all(dir).expect("PKI directories are created");
        }

        let server_ca = pki_dir.join("server-ca.pem");
        self.server.write(work, &server_ca);

        // nginx trusts the CAs that revcheck has configured, and not the stranger.
        let mut client_cas = String::new();
        for (id, ca) in &self.cas {
            fs::write(pki_dir.join(format!("{id}.pem")), ca.cert_pem()).expect("CA is written");
            if *id != "stranger" {
                client_cas.push_str(&ca.cert_pem());
            }
        }
        let client_cas_path = tls_dir.join("client-cas.pem");
        fs::write(&client_cas_path, client_cas).expect("client CA bundle is written");

        fs::write(pki_dir.join("clients-crl.crl"), &self.crl).expect("CRL is written");
        let crl_pem = pki_dir.join("clients-crl.crl.pem");
        fs::write(&crl_pem, openssl::pem_block("X509 CRL", &self.crl)).expect("CRL PEM is written");
        let ocsp_response = pki_dir.join("ocsp-response.der");
        fs::write(&ocsp_response, &self.ocsp_response).expect("OCSP response is written");

        let mut clients = BTreeMap::new();
        for (name, leaf) in &self.clients {
            let cert_path = pki_dir.join(format!("{name}.pem"));
            let key_path = pki_dir.join(format!("{name}.key"));
            fs::write(&cert_path, &leaf.cert_pem).expect("client certificate is written");
            write_private(&key_path, &leaf.key_pem);
            clients.insert(
                *name,
                ClientFiles {
                    leaf: leaf.clone(),
                    cert_path,
                    key_path,
                },
            );
        }

        PkiFiles {
            dir: pki_dir,
            server_ca,
            client_cas: client_cas_path,
            crl_pem,
            ocsp_response,
            clients,
        }
    }
}

/// Paths of the files that [`Pki::write`] wrote.
struct PkiFiles {
    dir: PathBuf,
    server_ca: PathBuf,
    /// The CAs that nginx trusts for client certificates.
    client_cas: PathBuf,
    crl_pem: PathBuf,
    ocsp_response: PathBuf,
    clients: BTreeMap<&'static str, ClientFiles>,
}

impl PkiFiles {
    fn client(&self, name: &str) -> &ClientFiles {
        self.clients
            .get(name)
            .unwrap_or_else(|| panic!("no client certificate named {name}"))
    }

    fn ca_pem(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.pem"))
    }
}

struct ClientFiles {
    leaf: TestLeaf,
    cert_path: PathBuf,
    key_path: PathBuf,
}

fn leaf_spec(common_name: &str, serial: u8, email: Option<&str>) -> LeafSpec {
    LeafSpec {
        common_name: common_name.to_owned(),
        serial: vec![serial],
        email: email.map(str::to_owned),
        uri: None,
    }
}

fn issue(ca: &TestCa, name: &str, serial: u8, email: Option<&str>) -> TestLeaf {
    ca.leaf(&leaf_spec(name, serial, email))
        .unwrap_or_else(|error| panic!("certificate {name}: {error}"))
}

/// Issues [`PLUS`], with new keys until the PEM's base64 contains `+`. Nearly every
/// certificate has one, so this rarely takes a second try.
fn issue_with_plus(ca: &TestCa) -> TestLeaf {
    for _ in 0..50 {
        let leaf = issue(ca, PLUS, 0x13, None);
        if leaf.cert_pem.contains('+') {
            return leaf;
        }
    }
    panic!("50 certificates in a row had no '+' in their base64");
}

/// Builds the response that the OCSP responder serves for every request: [`OCSP_GOOD`] good
/// and [`OCSP_REVOKED`] revoked, signed by their CA.
fn ocsp_response(ca: &TestCa, clients: &BTreeMap<&str, TestLeaf>, now: SystemTime) -> Vec<u8> {
    let parsed_ca = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
    let mut builder = OcspResponseBuilder::new();
    for (name, status) in [
        (OCSP_GOOD, OcspStatus::Good),
        (
            OCSP_REVOKED,
            OcspStatus::Revoked {
                revocation_time: now - Duration::from_secs(3600),
                reason: Some(RevocationReason::KeyCompromise),
            },
        ),
    ] {
        let leaf = ParsedCertificate::from_der(&clients[name].cert_der).expect("leaf decodes");
        let cert_id = CertId::for_certificate(HashAlgorithm::Sha1, &leaf, &parsed_ca);
        builder = builder.response(SingleResponseSpec::new(
            cert_id,
            status,
            now - Duration::from_secs(60),
            Some(now + Duration::from_secs(3600)),
        ));
    }
    builder.build(ca).expect("OCSP response")
}
