//! Benchmark of the access check of `GET /v1/auth` without HTTP: the time of
//! `AuthGate::decide` for a certificate that the cache of verified certificates contains (a
//! steady client) and for one it does not (a new client), against a CRL of 100,000 entries.
//!
//! Run it with `cargo bench --bench auth_gate`. It prints one Markdown table.

use std::error::Error;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use revcheck::auth::{AuthGate, AuthOutcome};
use revcheck::config::{
    AuthConfig, CertificateFormat, MappingMode, RevocationMethod, SanKind, UnknownPolicy,
    VerificationMode,
};
use revcheck::crl::{DecodedCrl, VerifyOptions};
use revcheck::fixtures::{CrlBuilder, CrlEntry, LeafSpec, TestCa};
use revcheck::ocsp::HashAlgorithm;
use revcheck::source::Source;
use revcheck::status::{Authorities, Authority};
use revcheck::x509::ParsedCertificate;
use warp::http::{HeaderMap, HeaderValue};

type BenchResult<T = ()> = Result<T, Box<dyn Error>>;

/// Distinct client certificates, each decided once uncached and then from the cache.
const CLIENTS: usize = 2_000;

/// Decisions timed per client once its certificate is cached.
const CACHED_ROUNDS: usize = 50;

/// Revoked entries in the CA's CRL, none of them a benchmark client.
const CRL_ENTRIES: u32 = 100_000;

fn main() -> BenchResult {
    let ca = TestCa::root("Benchmark Auth CA")?;
    let authorities = Authorities::from_list(vec![authority(&ca)?]);
    let gate = AuthGate::new(&AuthConfig {
        verification: VerificationMode::Proxy,
        certificate_header: "x-ssl-client-cert".to_owned(),
        certificate_format: CertificateFormat::NginxEscaped,
        verify_header: "x-ssl-client-verify".to_owned(),
        mapping: MappingMode::San {
            kind: SanKind::Email,
            require_listed: false,
        },
        identities: None,
        secret_header: None,
        secret_file: None,
        cache_capacity: 10_000,
    })?;

    let requests: Vec<HeaderMap> = (0..CLIENTS)
        .map(|index| client_request(&ca, index))
        .collect::<BenchResult<_>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let uncached = runtime.block_on(time_decisions(&gate, &authorities, &requests, 1))?;
    let cached = runtime.block_on(time_decisions(
        &gate,
        &authorities,
        &requests,
        CACHED_ROUNDS,
    ))?;

    println!("| certificate | decisions | time per decision |");
    println!("|---|---:|---:|");
    println!(
        "| not cached: decode, issuer signature, identity, CRL lookup | {CLIENTS} | {} |",
        format_duration(uncached)
    );
    println!(
        "| cached: SHA-256 of the header, cache and CRL lookups | {} | {} |",
        CLIENTS * CACHED_ROUNDS,
        format_duration(cached)
    );
    Ok(())
}

/// Builds the configured CA with a verified CRL of `CRL_ENTRIES` entries.
fn authority(ca: &TestCa) -> BenchResult<Arc<Authority>> {
    let now = SystemTime::now();
    let mut builder = CrlBuilder::new()
        .authority_key_identifier()
        .crl_number(1)
        .this_update(now - Duration::from_secs(60))
        .next_update(Some(now + Duration::from_secs(24 * 3600)));
    for index in 0..CRL_ENTRIES {
        // Serials from 0x01000000 up, far from the clients' 1 to CLIENTS.
        let serial = (0x0100_0000 + index).to_be_bytes();
        builder = builder.entry(CrlEntry::new(&serial, now - Duration::from_secs(3600)));
    }
    let der = builder.build(ca)?;
    let certificate = ParsedCertificate::from_der(ca.cert_der())?;
    let crl = DecodedCrl::from_der(&der, "benchmark")?.verify(
        &certificate,
        &certificate,
        &VerifyOptions::at(now, Duration::from_secs(300)),
    )?;

    let source = Source::parse("file:/nonexistent/benchmark.crl", std::path::Path::new("/"))?;
    let authority = Authority::new("bench".to_owned(), certificate, vec![source])
        .with_revocation_policy(
            RevocationMethod::Crl,
            UnknownPolicy::Deny,
            None,
            HashAlgorithm::Sha1,
        );
    authority.store_crl(0, &Arc::new(crl), now)?;
    Ok(Arc::new(authority))
}

/// Returns the headers that nginx sends for client number `index`.
fn client_request(ca: &TestCa, index: usize) -> BenchResult<HeaderMap> {
    let serial = u32::try_from(index + 1)?.to_be_bytes().to_vec();
    let leaf = ca.leaf(&LeafSpec {
        common_name: format!("client {index}"),
        serial,
        email: Some(format!("client-{index}@bench.revcheck.test")),
        uri: None,
    })?;
    let mut escaped = String::new();
    for byte in leaf.cert_pem.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    let mut headers = HeaderMap::new();
    headers.insert("x-ssl-client-verify", HeaderValue::from_static("SUCCESS"));
    headers.insert("x-ssl-client-cert", HeaderValue::from_str(&escaped)?);
    Ok(headers)
}

/// Decides every request `rounds` times and returns the mean time per decision. Every
/// decision must allow, so that a broken setup cannot report a fast denial.
async fn time_decisions(
    gate: &AuthGate,
    authorities: &Authorities,
    requests: &[HeaderMap],
    rounds: usize,
) -> BenchResult<Duration> {
    let started = Instant::now();
    for _ in 0..rounds {
        for request in requests {
            let outcome = gate
                .decide(request, authorities, None, SystemTime::now(), |_| {})
                .await;
            if let AuthOutcome::Deny { reason, detail, .. } = &outcome {
                return Err(format!("benchmark client denied: {reason:?}: {detail}").into());
            }
            black_box(outcome);
        }
    }
    let count = u32::try_from(requests.len() * rounds)?;
    Ok(started.elapsed() / count)
}

fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos >= 10_000 {
        format!("{:.1} µs", duration.as_secs_f64() * 1e6)
    } else {
        format!("{nanos} ns")
    }
}
