//! The access decision of `GET /v1/auth`: the proxy's headers in, allow or deny out.
//!
//! The steps run in a fixed order: spoofing guards, the proxy's shared secret and the proxy's
//! verification result come first. Then the certificate is parsed, its issuer signature and
//! CA path are checked, and it is mapped to an identity, all cached by the exact header bytes.
//! Last come its validity period and the revocation status of it and of the CA certificates
//! above it, looked up on every request.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::future::Cache;
use ring::digest::{SHA256, digest};
use warp::http::HeaderMap;

use super::headers::{HeaderError, ProxyVerification, decode_certificate, parse_verification};
use super::identity::{Identities, IdentitiesFileError, IdentityError, map_identity};
use crate::config::{AuthConfig, VerificationMode};
use crate::ocsp::OcspCache;
use crate::status::{
    Authorities, Authority, CertStatus, Decision, Lookup, StatusSource, Verdict, allows_access,
};
use crate::x509::ParsedCertificate;

/// Maximum time a verified certificate stays cached, even when it is valid for longer. It
/// bounds how long a cached parse outlives a change that the cache cannot see.
const MAX_CACHE_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Maximum number of characters of the proxy's `FAILED:` text that are logged.
const MAX_LOGGED_PROXY_REASON: usize = 200;

/// The reason for a denial. Each reason has one HTTP status and a code for
/// `X-Revcheck-Reason` and the `reason` label of `revcheck_auth_decisions_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// The `[auth]` table is absent, so no request is allowed.
    AuthNotConfigured,
    /// The request headers are larger than the service accepts.
    HeadersTooLarge,
    /// A configured header appears more than once.
    DuplicateHeader,
    /// A header whose name is a configured one with underscores in place of dashes.
    UnderscoreHeader,
    /// The shared secret header is missing or wrong.
    ProxySecretInvalid,
    /// The client presented no certificate.
    NoCertificate,
    /// The proxy's verification header is not `SUCCESS` (proxy verification only).
    ProxyVerificationFailed,
    /// The certificate header does not decode in the configured format.
    MalformedCertificateHeader,
    /// The certificate header contains more or fewer than one certificate.
    NotOneCertificate,
    /// No configured CA issued the certificate.
    UnknownIssuer,
    /// The certificate's key usage or extended key usage does not allow TLS client
    /// authentication.
    NotClientCertificate,
    /// The certificate has a critical extension that revcheck does not recognize.
    UnsupportedCriticalExtension,
    /// The certificate's notAfter has passed.
    CertificateExpired,
    /// The certificate's notBefore is in the future.
    CertificateNotYetValid,
    /// A CA certificate on the path is outside its validity period.
    CaCertificateInvalid,
    /// The certificate is revoked.
    Revoked,
    /// A CA certificate on the path is revoked.
    CaRevoked,
    /// The revocation status is undetermined and the CA's policy is `deny`.
    Undetermined,
    /// The certificate maps to no identity.
    IdentityUnmapped,
    /// The certificate maps to more than one identity.
    IdentityAmbiguous,
}

impl DenyReason {
    pub const ALL: [DenyReason; 20] = [
        Self::AuthNotConfigured,
        Self::HeadersTooLarge,
        Self::DuplicateHeader,
        Self::UnderscoreHeader,
        Self::ProxySecretInvalid,
        Self::NoCertificate,
        Self::ProxyVerificationFailed,
        Self::MalformedCertificateHeader,
        Self::NotOneCertificate,
        Self::UnknownIssuer,
        Self::NotClientCertificate,
        Self::UnsupportedCriticalExtension,
        Self::CertificateExpired,
        Self::CertificateNotYetValid,
        Self::CaCertificateInvalid,
        Self::Revoked,
        Self::CaRevoked,
        Self::Undetermined,
        Self::IdentityUnmapped,
        Self::IdentityAmbiguous,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::AuthNotConfigured => "auth_not_configured",
            Self::HeadersTooLarge => "headers_too_large",
            Self::DuplicateHeader => "duplicate_header",
            Self::UnderscoreHeader => "underscore_header",
            Self::ProxySecretInvalid => "proxy_secret_invalid",
            Self::NoCertificate => "no_certificate",
            Self::ProxyVerificationFailed => "proxy_verification_failed",
            Self::MalformedCertificateHeader => "malformed_certificate_header",
            Self::NotOneCertificate => "not_one_certificate",
            Self::UnknownIssuer => "unknown_issuer",
            Self::NotClientCertificate => "not_client_certificate",
            Self::UnsupportedCriticalExtension => "unsupported_critical_extension",
            Self::CertificateExpired => "certificate_expired",
            Self::CertificateNotYetValid => "certificate_not_yet_valid",
            Self::CaCertificateInvalid => "ca_certificate_invalid",
            Self::Revoked => "revoked",
            Self::CaRevoked => "ca_revoked",
            Self::Undetermined => "undetermined",
            Self::IdentityUnmapped => "identity_unmapped",
            Self::IdentityAmbiguous => "identity_ambiguous",
        }
    }

    /// Returns 401 when the client should present a (valid) certificate, else 403. nginx's
    /// `auth_request` passes only 401 and 403 on as denials; any other status becomes a 500.
    pub fn http_status(self) -> u16 {
        match self {
            Self::NoCertificate | Self::ProxyVerificationFailed => 401,
            _ => 403,
        }
    }
}

/// The reason for an allowed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowReason {
    /// The certificate and every CA certificate above it are good.
    Good,
    /// The status is undetermined, and the CA's policy is `allow`.
    UnknownAllowed,
}

impl AllowReason {
    pub const ALL: [AllowReason; 2] = [Self::Good, Self::UnknownAllowed];

    pub fn code(self) -> &'static str {
        match self {
            Self::Good => "ok",
            Self::UnknownAllowed => "unknown_allowed",
        }
    }
}

/// The facts the gate learned about the client, for the response and the log.
#[derive(Clone, Debug, Default)]
pub struct ClientFacts {
    pub ca: Option<String>,
    pub serial: Option<String>,
    pub fingerprint: Option<String>,
    pub source: Option<StatusSource>,
    /// The revocation status of the client certificate, once it was looked up.
    pub status: Option<CertStatus>,
}

/// An access decision.
#[derive(Clone, Debug)]
pub enum AuthOutcome {
    Allow {
        reason: AllowReason,
        identity: String,
        facts: ClientFacts,
    },
    Deny {
        reason: DenyReason,
        /// A sentence for the log and the response body. It never contains the certificate.
        detail: String,
        facts: ClientFacts,
    },
}

impl AuthOutcome {
    fn deny(reason: DenyReason, detail: impl Into<String>, facts: ClientFacts) -> Self {
        Self::Deny {
            reason,
            detail: detail.into(),
            facts,
        }
    }

    /// Returns the denial for a service without an `[auth]` table.
    pub fn not_configured() -> Self {
        Self::deny(
            DenyReason::AuthNotConfigured,
            "GET /v1/auth is not configured; add an [auth] table to the configuration",
            ClientFacts::default(),
        )
    }

    /// Returns the denial for request headers of `size` bytes, more than `limit`, where
    /// `largest` names the largest header.
    pub fn headers_too_large(size: usize, limit: usize, largest: &str) -> Self {
        Self::deny(
            DenyReason::HeadersTooLarge,
            format!(
                "the request headers take {size} bytes, more than the limit of {limit}; the \
                 largest is {largest}"
            ),
            ClientFacts::default(),
        )
    }

    pub fn facts(&self) -> &ClientFacts {
        match self {
            Self::Allow { facts, .. } | Self::Deny { facts, .. } => facts,
        }
    }

    /// Writes the one log line of a denial, and of an allow under `on_unknown = "allow"`.
    /// Plain allows are logged at debug level only.
    pub fn log(&self) {
        let facts = self.facts();
        let ca = facts.ca.as_deref().unwrap_or("");
        let serial = facts.serial.as_deref().unwrap_or("");
        let fingerprint = facts.fingerprint.as_deref().unwrap_or("");
        let source = facts.source.map_or("", StatusSource::as_str);
        match self {
            Self::Allow {
                reason: AllowReason::UnknownAllowed,
                identity,
                ..
            } => tracing::warn!(
                ca,
                serial,
                fingerprint,
                source,
                identity,
                reason = AllowReason::UnknownAllowed.code(),
                "access allowed with an undetermined revocation status, because the CA's \
                 on_unknown policy is allow"
            ),
            Self::Allow { identity, .. } => {
                tracing::debug!(ca, serial, fingerprint, identity, "access allowed");
            }
            Self::Deny { reason, detail, .. } => tracing::warn!(
                ca,
                serial,
                fingerprint,
                source,
                reason = reason.code(),
                detail = detail.as_str(),
                "access denied"
            ),
        }
    }
}

/// An error that prevents building the gate from the `[auth]` table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    #[error(transparent)]
    Identities(#[from] IdentitiesFileError),

    #[error(
        "cannot read the shared secret file {path}: {error}; check the path in auth.secret_file"
    )]
    SecretRead { path: String, error: std::io::Error },

    #[error("the shared secret file {path} is empty; write the secret into it")]
    SecretEmpty { path: String },
}

/// A parsed certificate whose issuer signature and CA path were verified, with its identity.
#[derive(Debug)]
struct VerifiedClient {
    certificate: ParsedCertificate,
    /// The id of the CA that issued the certificate, and the SHA-256 of that CA's certificate,
    /// so that an entry verified under a CA that a reload replaced is not used.
    ca_id: String,
    ca_fingerprint: [u8; 32],
    /// The configured CA certificates above the client certificate, each with the id of the
    /// configured CA that issued it, if any.
    path: Vec<(ParsedCertificate, Option<String>)>,
    fingerprint: String,
    serial: String,
    identity: Result<String, IdentityError>,
    /// When the entry leaves the cache: the certificate's notAfter, at most
    /// [`MAX_CACHE_LIFETIME`] after it was cached.
    expires_at: Instant,
}

struct ClientExpiry;

impl Expiry<[u8; 32], Arc<VerifiedClient>> for ClientExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        client: &Arc<VerifiedClient>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(client.expires_at.saturating_duration_since(created_at))
    }
}

/// The `[auth]` settings with the identities file and shared secret loaded, and the cache of
/// verified certificates. A reload builds a new gate, so the cache never outlives the
/// identities file or the CA set its entries were built from.
pub struct AuthGate {
    config: AuthConfig,
    identities: Identities,
    /// SHA-256 of the shared secret. Comparing digests keeps the comparison time independent
    /// of how much of the secret a guess got right.
    secret_digest: Option<[u8; 32]>,
    cache: Cache<[u8; 32], Arc<VerifiedClient>>,
}

impl std::fmt::Debug for AuthGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthGate")
            .field("config", &self.config)
            .field("identities", &self.identities.len())
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl AuthGate {
    /// Loads the identities file and the shared secret that `config` names.
    pub fn new(config: &AuthConfig) -> Result<Self, GateError> {
        let identities = match &config.identities {
            Some(path) => Identities::load(path, config.mapping)?,
            None => Identities::default(),
        };
        let secret_digest = match &config.secret_file {
            Some(path) => Some(load_secret(path)?),
            None => None,
        };
        let cache = Cache::builder()
            .max_capacity(config.cache_capacity)
            .expire_after(ClientExpiry)
            .build();
        Ok(Self {
            config: config.clone(),
            identities,
            secret_digest,
            cache,
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn identity_count(&self) -> usize {
        self.identities.len()
    }

    /// Decides whether the request that the proxy describes in `headers` gets access.
    /// `cache_hit` is called with `true` when the certificate came from the cache of verified
    /// certificates and with `false` when it was parsed and verified now.
    pub async fn decide(
        &self,
        headers: &HeaderMap,
        authorities: &Authorities,
        ocsp: Option<&OcspCache>,
        now: SystemTime,
        cache_hit: impl FnOnce(bool),
    ) -> AuthOutcome {
        if let Some(outcome) = self.check_guards(headers) {
            return outcome;
        }
        let certificate_value = headers
            .get(self.config.certificate_header.as_str())
            .map_or(&[][..], |value| value.as_bytes());
        let verify_value = headers
            .get(self.config.verify_header.as_str())
            .map(|value| value.as_bytes());
        if let Some(outcome) = self.check_proxy_verification(verify_value, certificate_value) {
            return outcome;
        }

        let key: [u8; 32] = digest(&SHA256, certificate_value)
            .as_ref()
            .try_into()
            .expect("SHA-256 digests are 32 bytes");
        let cached = self
            .cache
            .get(&key)
            .await
            .filter(|client| is_current(client, authorities));
        let client = match cached {
            Some(client) => {
                cache_hit(true);
                client
            }
            None => {
                cache_hit(false);
                match self.verify_client(certificate_value, authorities, now) {
                    Ok(client) => {
                        let client = Arc::new(client);
                        self.cache.insert(key, Arc::clone(&client)).await;
                        client
                    }
                    Err(outcome) => return *outcome,
                }
            }
        };
        decide_client(&client, authorities, ocsp, now).await
    }

    fn check_guards(&self, headers: &HeaderMap) -> Option<AuthOutcome> {
        let configured: Vec<&str> = [
            Some(self.config.certificate_header.as_str()),
            Some(self.config.verify_header.as_str()),
            self.config.secret_header.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();

        for name in &configured {
            let count = headers.get_all(*name).iter().count();
            if count > 1 {
                return Some(AuthOutcome::deny(
                    DenyReason::DuplicateHeader,
                    format!("header {name} appears {count} times; the proxy must send it once"),
                    ClientFacts::default(),
                ));
            }
        }
        // hyper stores header names in lowercase, as the configured names are.
        for name in headers.keys() {
            let name = name.as_str();
            if name.contains('_') && configured.contains(&name.replace('_', "-").as_str()) {
                return Some(AuthOutcome::deny(
                    DenyReason::UnderscoreHeader,
                    format!(
                        "header {name} is a configured header name with underscores in place \
                         of dashes; a client may have sent it to spoof the proxy"
                    ),
                    ClientFacts::default(),
                ));
            }
        }

        if let (Some(name), Some(expected)) = (&self.config.secret_header, &self.secret_digest) {
            let received = headers.get(name.as_str()).map(|value| value.as_bytes());
            let matches = received.is_some_and(|value| {
                digest(&SHA256, value.trim_ascii()).as_ref() == expected.as_slice()
            });
            if !matches {
                let detail = if received.is_some() {
                    format!("header {name} does not hold the configured shared secret")
                } else {
                    format!("header {name} with the shared secret is missing")
                };
                return Some(AuthOutcome::deny(
                    DenyReason::ProxySecretInvalid,
                    detail,
                    ClientFacts::default(),
                ));
            }
        }
        None
    }

    /// Applies the verification mode to the proxy's verification header (`verify_value`,
    /// `None` when absent) and the certificate header.
    fn check_proxy_verification(
        &self,
        verify_value: Option<&[u8]>,
        certificate_value: &[u8],
    ) -> Option<AuthOutcome> {
        let no_certificate = || {
            Some(AuthOutcome::deny(
                DenyReason::NoCertificate,
                "the client presented no certificate",
                ClientFacts::default(),
            ))
        };
        if certificate_value.trim_ascii().is_empty() {
            return no_certificate();
        }
        let verification = parse_verification(verify_value);
        if self.config.verification == VerificationMode::SelfVerified {
            // The proxy's own result is not trusted either way, but an explicit NONE still
            // means that the TLS handshake carried no certificate. An absent header says
            // nothing, so the certificate header decides.
            return match (verify_value, verification) {
                (Some(_), ProxyVerification::None) => no_certificate(),
                _ => None,
            };
        }
        let failed = |detail: String| {
            Some(AuthOutcome::deny(
                DenyReason::ProxyVerificationFailed,
                detail,
                ClientFacts::default(),
            ))
        };
        match verification {
            ProxyVerification::Success => None,
            // A certificate without the verification header means that the proxy does not send
            // it, or sends it under another name: a configuration mistake, not a missing
            // certificate.
            ProxyVerification::None if verify_value.is_none() => failed(format!(
                "the request has a client certificate but no {} header; make the proxy send \
                 it (nginx: proxy_set_header {} $ssl_client_verify) or correct \
                 auth.verify_header",
                self.config.verify_header, self.config.verify_header
            )),
            ProxyVerification::None => no_certificate(),
            ProxyVerification::Failed(reason) => failed(format!(
                "the proxy could not verify the client certificate: {}",
                cut(&reason, MAX_LOGGED_PROXY_REASON)
            )),
            ProxyVerification::Other(value) => failed(format!(
                "the proxy's verification header {} holds \"{}\", not SUCCESS",
                self.config.verify_header,
                cut(&value, MAX_LOGGED_PROXY_REASON)
            )),
        }
    }

    /// Parses the certificate header, finds the issuing CA by name and signature, collects
    /// the CA path above it and maps the identity. The outcome on error is a denial.
    fn verify_client(
        &self,
        certificate_value: &[u8],
        authorities: &Authorities,
        now: SystemTime,
    ) -> Result<VerifiedClient, Box<AuthOutcome>> {
        let deny =
            |reason, detail: String, facts| Box::new(AuthOutcome::deny(reason, detail, facts));

        let certificate =
            match decode_certificate(self.config.certificate_format, certificate_value) {
                Ok(Some(certificate)) => certificate,
                Ok(None) => {
                    return Err(deny(
                        DenyReason::NoCertificate,
                        "the client presented no certificate".to_owned(),
                        ClientFacts::default(),
                    ));
                }
                Err(error @ HeaderError::NotOneCertificate { .. }) => {
                    return Err(deny(
                        DenyReason::NotOneCertificate,
                        error.to_string(),
                        ClientFacts::default(),
                    ));
                }
                Err(error) => {
                    return Err(deny(
                        DenyReason::MalformedCertificateHeader,
                        error.to_string(),
                        ClientFacts::default(),
                    ));
                }
            };
        let facts = ClientFacts {
            serial: Some(certificate.serial().to_string()),
            fingerprint: Some(certificate.fingerprint_hex()),
            ..ClientFacts::default()
        };

        let Some(authority) = authorities.find_issuer(&certificate) else {
            return Err(deny(
                DenyReason::UnknownIssuer,
                format!(
                    "no configured CA issued the certificate (issuer \"{}\", or a signature \
                     that no configured CA key verifies)",
                    certificate.issuer()
                ),
                facts,
            ));
        };

        if let Some(problem) = certificate.client_auth_problem() {
            return Err(deny(
                DenyReason::NotClientCertificate,
                format!("the certificate is not for TLS client authentication: {problem}"),
                facts,
            ));
        }
        let unrecognized = certificate.unrecognized_critical_extensions();
        if !unrecognized.is_empty() {
            let listed: Vec<String> = unrecognized.iter().map(ToString::to_string).collect();
            return Err(deny(
                DenyReason::UnsupportedCriticalExtension,
                format!(
                    "the certificate has critical extensions that revcheck does not \
                     recognize: {}",
                    listed.join(", ")
                ),
                facts,
            ));
        }

        let path = authorities
            .path_above(authority)
            .into_iter()
            .map(|(ca_certificate, issuer)| {
                (ca_certificate, issuer.map(|issuer| issuer.id().to_owned()))
            })
            .collect();
        let identity = map_identity(self.config.mapping, &certificate, &self.identities);
        let lifetime = certificate
            .not_after()
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_CACHE_LIFETIME);

        Ok(VerifiedClient {
            ca_id: authority.id().to_owned(),
            ca_fingerprint: *authority.certificate().fingerprint(),
            path,
            fingerprint: facts.fingerprint.clone().unwrap_or_default(),
            serial: facts.serial.clone().unwrap_or_default(),
            identity,
            expires_at: Instant::now() + lifetime,
            certificate,
        })
    }
}

/// Checks that a cached entry was verified under the CA that the running configuration has
/// under the same id.
fn is_current(client: &VerifiedClient, authorities: &Authorities) -> bool {
    authorities
        .get(&client.ca_id)
        .is_some_and(|authority| *authority.certificate().fingerprint() == client.ca_fingerprint)
}

/// Decides the per-request part: validity periods, revocation status of the certificate and of
/// the CA certificates above it, and the identity.
async fn decide_client(
    client: &VerifiedClient,
    authorities: &Authorities,
    ocsp: Option<&OcspCache>,
    now: SystemTime,
) -> AuthOutcome {
    let mut facts = ClientFacts {
        ca: Some(client.ca_id.clone()),
        serial: Some(client.serial.clone()),
        fingerprint: Some(client.fingerprint.clone()),
        ..ClientFacts::default()
    };
    let certificate = &client.certificate;
    if now < certificate.not_before() {
        return AuthOutcome::deny(
            DenyReason::CertificateNotYetValid,
            format!(
                "the certificate is not valid before {}",
                crate::x509::time::format_rfc3339(certificate.not_before())
            ),
            facts,
        );
    }
    if now > certificate.not_after() {
        return AuthOutcome::deny(
            DenyReason::CertificateExpired,
            format!(
                "the certificate expired at {}",
                crate::x509::time::format_rfc3339(certificate.not_after())
            ),
            facts,
        );
    }
    for (ca_certificate, _) in &client.path {
        if !ca_certificate.is_valid_at(now) {
            return AuthOutcome::deny(
                DenyReason::CaCertificateInvalid,
                format!(
                    "CA certificate {} is outside its validity period",
                    ca_certificate.describe()
                ),
                facts,
            );
        }
    }

    let Some(authority) = authorities.get(&client.ca_id) else {
        return AuthOutcome::deny(
            DenyReason::UnknownIssuer,
            format!("CA \"{}\" is no longer configured", client.ca_id),
            facts,
        );
    };
    let verdict = authority
        .verdict_without_log(Lookup::Certificate(certificate), ocsp, now)
        .await;
    facts.source = verdict.source;
    facts.status = Some(verdict.status());
    let mut undetermined_allowed = false;
    match check_verdict(&verdict, authority) {
        VerdictCheck::Allowed => {}
        VerdictCheck::AllowedUnknown => undetermined_allowed = true,
        VerdictCheck::Revoked => {
            return AuthOutcome::deny(
                DenyReason::Revoked,
                "the certificate is revoked".to_owned(),
                facts,
            );
        }
        VerdictCheck::Undetermined(detail) => {
            return AuthOutcome::deny(DenyReason::Undetermined, detail, facts);
        }
    }

    for (ca_certificate, issuer_id) in &client.path {
        let Some(issuer) = issuer_id.as_deref().and_then(|id| authorities.get(id)) else {
            // The CA is a trust anchor of the configuration: nothing configured issued it.
            continue;
        };
        let verdict = issuer
            .verdict_without_log(Lookup::Certificate(ca_certificate), ocsp, now)
            .await;
        match check_verdict(&verdict, issuer) {
            VerdictCheck::Allowed => {}
            VerdictCheck::AllowedUnknown => undetermined_allowed = true,
            VerdictCheck::Revoked => {
                return AuthOutcome::deny(
                    DenyReason::CaRevoked,
                    format!("CA certificate {} is revoked", ca_certificate.describe()),
                    facts,
                );
            }
            VerdictCheck::Undetermined(detail) => {
                return AuthOutcome::deny(
                    DenyReason::Undetermined,
                    format!("CA certificate {}: {detail}", ca_certificate.describe()),
                    facts,
                );
            }
        }
    }

    match &client.identity {
        Ok(identity) => AuthOutcome::Allow {
            reason: if undetermined_allowed {
                AllowReason::UnknownAllowed
            } else {
                AllowReason::Good
            },
            identity: identity.clone(),
            facts,
        },
        Err(error) => {
            let reason = match error {
                IdentityError::Ambiguous { .. } => DenyReason::IdentityAmbiguous,
                _ => DenyReason::IdentityUnmapped,
            };
            AuthOutcome::deny(reason, error.to_string(), facts)
        }
    }
}

enum VerdictCheck {
    Allowed,
    AllowedUnknown,
    Revoked,
    Undetermined(String),
}

fn check_verdict(verdict: &Verdict, authority: &Authority) -> VerdictCheck {
    if allows_access(verdict, authority.on_unknown()) {
        if verdict.status() == CertStatus::Unknown {
            VerdictCheck::AllowedUnknown
        } else {
            VerdictCheck::Allowed
        }
    } else {
        match &verdict.decision {
            Decision::Revoked { .. } => VerdictCheck::Revoked,
            Decision::Unknown(reason) => VerdictCheck::Undetermined(format!(
                "the revocation status is undetermined ({}: {}) and CA \"{}\" denies access \
                 then",
                reason.code,
                reason.detail,
                authority.id()
            )),
            // allows_access lets every good status through.
            Decision::Good { .. } => VerdictCheck::Allowed,
        }
    }
}

fn load_secret(path: &std::path::Path) -> Result<[u8; 32], GateError> {
    let text = std::fs::read(path).map_err(|error| GateError::SecretRead {
        path: path.display().to_string(),
        error,
    })?;
    let secret = text.trim_ascii();
    if secret.is_empty() {
        return Err(GateError::SecretEmpty {
            path: path.display().to_string(),
        });
    }
    Ok(digest(&SHA256, secret)
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes"))
}

fn cut(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .filter(|character| !character.is_control())
        .collect()
}

#[cfg(test)]
mod tests;
