//! The configured certification authorities and the revocation data currently held for each.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tracing::Instrument;

use super::decide::{CertificateFacts, Decision, decide};
use crate::config::Config;
use std::cmp::Ordering;

use super::chain::ChainCheck;
use super::decide::StatusSource;
use super::decision_log::log_verdict;
use super::ocsp::{decision_from_error, decision_from_response};
use super::policy::{Verdict, combine, first_source, second_source};
use crate::config::{OcspHash, OcspRequestForm, RevocationMethod, UnknownPolicy};
use crate::crl::{CrlError, CrlScope, VerifiedCrl, VerifyOptions, compare_crl_numbers};
use crate::ocsp::{CertId, HashAlgorithm, OcspAuthority, OcspCache, RequestMethod};
use crate::source::{Source, Validators};
use crate::x509::{CertificateError, ParsedCertificate, Serial, hex, names_match};

/// A CA certificate from the configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    #[error("ca \"{id}\": cannot read certificate file {}: {error}", path.display())]
    Read {
        id: String,
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("ca \"{id}\": certificate file {} is invalid: {error}", path.display())]
    Certificate {
        id: String,
        path: PathBuf,
        error: CertificateError,
    },

    #[error(
        "ca \"{id}\": certificate file {} holds {count} certificates; put only the CA's own \
         certificate in it",
        path.display()
    )]
    NotOneCertificate {
        id: String,
        path: PathBuf,
        count: usize,
    },

    #[error("ca \"{id}\": CRL signer {} cannot be used: {problem}", path.display())]
    CrlSigner {
        id: String,
        path: PathBuf,
        problem: String,
    },

    #[error(
        "ca \"{id}\": certificate {} in {} is not a CA certificate (basicConstraints cA is not \
         set); configure the certificate of the CA that issues the client certificates",
        subject,
        path.display()
    )]
    NotCa {
        id: String,
        path: PathBuf,
        subject: String,
    },
}

/// Outcome of the latest fetches from one source, for `/v1/cas` and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceStatus {
    pub last_attempt: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    pub last_error: Option<String>,
    /// ETag and Last-Modified of the body behind the CRL in use, for conditional requests.
    pub validators: Validators,
}

/// One configured CA: its certificate, its CRL sources and the last verified CRL from each.
#[derive(Debug)]
pub struct Authority {
    id: String,
    certificate: ParsedCertificate,
    sources: Vec<Source>,
    allow_sha1: bool,
    max_age_without_next_update: Option<std::time::Duration>,
    crl_signers: Vec<CrlSigner>,
    max_stale: std::time::Duration,
    allowed_hosts: Vec<String>,
    method: RevocationMethod,
    on_unknown: UnknownPolicy,
    /// The CA's OCSP responders and how to ask them; `None` when none is configured.
    ocsp: Option<Arc<OcspAuthority>>,
    ocsp_hash: HashAlgorithm,
    /// One slot per source, replaced as a whole so that lookups never see a half-made update.
    crls: ArcSwap<Vec<Option<Arc<VerifiedCrl>>>>,
    source_statuses: Mutex<Vec<SourceStatus>>,
    /// The highest CRL number accepted per scope (complete or delta, and issuing distribution
    /// point), so that an older CRL is never accepted after a newer one.
    highest_crl_numbers: Mutex<Vec<(CrlKind, Vec<u8>)>>,
}

/// The scope within which CRL numbers are compared: RFC 5280 section 5.2.3 numbers CRLs per scope, and
/// complete and delta CRLs share one sequence, but the delta flag keeps a complete CRL from
/// being refused after a delta with a higher number.
type CrlKind = (bool, CrlScope);

impl Authority {
    pub fn new(id: String, certificate: ParsedCertificate, sources: Vec<Source>) -> Self {
        let slots = vec![None; sources.len()];
        let statuses = vec![SourceStatus::default(); sources.len()];
        Self {
            id,
            certificate,
            sources,
            allow_sha1: false,
            max_age_without_next_update: None,
            crl_signers: Vec::new(),
            max_stale: std::time::Duration::ZERO,
            allowed_hosts: Vec::new(),
            method: RevocationMethod::Crl,
            on_unknown: UnknownPolicy::Deny,
            ocsp: None,
            ocsp_hash: HashAlgorithm::Sha1,
            crls: ArcSwap::from_pointee(slots),
            source_statuses: Mutex::new(statuses),
            highest_crl_numbers: Mutex::new(Vec::new()),
        }
    }

    /// Applies the CA's policy for legacy CRLs: SHA-1 signatures and a missing nextUpdate.
    #[must_use]
    pub fn with_legacy_policy(
        mut self,
        allow_sha1: bool,
        max_age_without_next_update: Option<std::time::Duration>,
    ) -> Self {
        self.allow_sha1 = allow_sha1;
        self.max_age_without_next_update = max_age_without_next_update;
        self
    }

    /// Adds separate CRL signers whose names, key usage and paths have been checked.
    #[must_use]
    pub fn with_crl_signers(mut self, crl_signers: Vec<CrlSigner>) -> Self {
        self.crl_signers = crl_signers;
        self
    }

    pub fn crl_signers(&self) -> &[CrlSigner] {
        &self.crl_signers
    }

    /// Sets how long past nextUpdate a CRL is still served (marked stale), and the hosts CRL
    /// fetches may be redirected to.
    #[must_use]
    pub fn with_fetch_policy(
        mut self,
        max_stale: std::time::Duration,
        allowed_hosts: Vec<String>,
    ) -> Self {
        self.max_stale = max_stale;
        self.allowed_hosts = allowed_hosts;
        self
    }

    /// Sets the revocation method, the unknown policy and the OCSP responders of the CA.
    #[must_use]
    pub fn with_revocation_policy(
        mut self,
        method: RevocationMethod,
        on_unknown: UnknownPolicy,
        ocsp: Option<OcspAuthority>,
        ocsp_hash: HashAlgorithm,
    ) -> Self {
        self.method = method;
        self.on_unknown = on_unknown;
        self.ocsp = ocsp.map(Arc::new);
        self.ocsp_hash = ocsp_hash;
        self
    }

    pub fn method(&self) -> RevocationMethod {
        self.method
    }

    pub fn on_unknown(&self) -> UnknownPolicy {
        self.on_unknown
    }

    pub fn ocsp(&self) -> Option<&Arc<OcspAuthority>> {
        self.ocsp.as_ref()
    }

    /// Decides the status of a certificate like [`Authority::verdict_without_log`], and writes
    /// one log line when it is not good.
    pub async fn verdict(
        &self,
        subject: Lookup<'_>,
        cache: Option<&OcspCache>,
        now: SystemTime,
    ) -> Verdict {
        let verdict = self.verdict_without_log(subject, cache, now).await;
        log_verdict(
            &self.id,
            subject,
            &verdict,
            first_source(self.method),
            self.on_unknown,
        );
        verdict
    }

    /// Decides the status of a certificate under the CA's method: the first source, the
    /// second when the first leaves it undetermined, combined by [`combine`]. OCSP answers come
    /// through `cache`, which sends one request per certificate however many lookups wait.
    /// Callers that log the outcome themselves, such as the access check, use this form.
    pub async fn verdict_without_log(
        &self,
        subject: Lookup<'_>,
        cache: Option<&OcspCache>,
        now: SystemTime,
    ) -> Verdict {
        let first_kind = first_source(self.method);
        let decide = async {
            let first = self.ask(first_kind, subject, cache, now).await;
            let second = match second_source(self.method, &first) {
                Some(kind) => Some(self.ask(kind, subject, cache, now).await),
                None => None,
            };
            combine(first, second)
        };
        // A failed OCSP request is logged inside this span, so its line also names the
        // certificate's fingerprint. CRL decisions send no request and skip the span's cost.
        if self.method.uses_ocsp() {
            decide.instrument(self.lookup_span(subject)).await
        } else {
            decide.await
        }
    }

    fn lookup_span(&self, subject: Lookup<'_>) -> tracing::Span {
        match subject {
            Lookup::Serial(serial) => {
                tracing::info_span!("revocation_check", ca = %self.id, serial = %serial)
            }
            Lookup::Certificate(certificate) => tracing::info_span!(
                "revocation_check",
                ca = %self.id,
                serial = %certificate.serial(),
                fingerprint = %certificate.fingerprint_hex()
            ),
        }
    }

    async fn ask(
        &self,
        kind: StatusSource,
        subject: Lookup<'_>,
        cache: Option<&OcspCache>,
        now: SystemTime,
    ) -> Verdict {
        match kind {
            StatusSource::Crl => {
                let decision = match subject {
                    Lookup::Serial(serial) => self.decide_serial(serial, now),
                    Lookup::Certificate(certificate) => self.decide_certificate(certificate, now),
                };
                Verdict::from(decision, StatusSource::Crl)
            }
            StatusSource::Ocsp => {
                let (Some(authority), Some(cache)) = (&self.ocsp, cache) else {
                    return Verdict::from(
                        Decision::Unknown(super::decide::UnknownReason::new(
                            "ocsp_not_configured",
                            "no OCSP responder is configured for this CA",
                        )),
                        StatusSource::Ocsp,
                    );
                };
                let cert_id = match subject {
                    Lookup::Serial(serial) => {
                        CertId::new(self.ocsp_hash, &self.certificate, serial.clone())
                    }
                    Lookup::Certificate(certificate) => {
                        CertId::for_certificate(self.ocsp_hash, certificate, &self.certificate)
                    }
                };
                let decision = match cache.lookup(authority, &cert_id).await {
                    Ok(answer) => decision_from_response(&answer.response, now),
                    Err(error) => decision_from_error(&error),
                };
                Verdict::from(decision, StatusSource::Ocsp)
            }
        }
    }

    pub fn max_stale(&self) -> std::time::Duration {
        self.max_stale
    }

    pub fn allowed_hosts(&self) -> &[String] {
        &self.allowed_hosts
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn allow_sha1(&self) -> bool {
        self.allow_sha1
    }

    pub fn max_age_without_next_update(&self) -> Option<std::time::Duration> {
        self.max_age_without_next_update
    }

    pub fn certificate(&self) -> &ParsedCertificate {
        &self.certificate
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Returns the verified CRLs in use, one per source that has delivered one.
    pub fn crls(&self) -> Vec<Arc<VerifiedCrl>> {
        self.crls.load().iter().flatten().cloned().collect()
    }

    /// Returns the soonest nextUpdate among the CRLs in use, which the next fetch must precede.
    pub fn earliest_next_update(&self) -> Option<SystemTime> {
        self.crls().iter().map(|crl| crl.next_update()).min()
    }

    /// Checks whether the last fetch of any source failed.
    pub fn has_failing_source(&self) -> bool {
        self.source_statuses()
            .iter()
            .any(|status| status.last_error.is_some())
    }

    /// Returns the CRL in use from the source at `source_index`.
    pub fn source_crl(&self, source_index: usize) -> Option<Arc<VerifiedCrl>> {
        self.crls.load().get(source_index).cloned().flatten()
    }

    /// Returns the newest verified CRL in use, by thisUpdate.
    pub fn newest_crl(&self) -> Option<Arc<VerifiedCrl>> {
        self.crls().into_iter().max_by_key(|crl| crl.this_update())
    }

    /// Decides the revocation status of the certificate with `serial` issued by this CA, when
    /// only the serial number is known.
    pub fn decide_serial(&self, serial: &Serial, now: SystemTime) -> Decision {
        let facts = CertificateFacts::serial_only(serial.clone(), self.certificate.subject());
        self.decide(&facts, now)
    }

    /// Decides the revocation status of `certificate`, which this CA issued.
    pub fn decide_certificate(&self, certificate: &ParsedCertificate, now: SystemTime) -> Decision {
        self.decide(&CertificateFacts::of(certificate), now)
    }

    /// Decides the status of `certificate` from the CRLs in use plus `candidate`, a CRL that is
    /// being verified and may cover its own signer.
    pub fn decide_certificate_with(
        &self,
        certificate: &ParsedCertificate,
        candidate: &VerifiedCrl,
        now: SystemTime,
    ) -> Decision {
        let facts = CertificateFacts::of(certificate);
        let crls = self.crls.load();
        let mut in_use: Vec<&VerifiedCrl> = crls.iter().flatten().map(Arc::as_ref).collect();
        in_use.push(candidate);
        decide(&in_use, &facts, now, self.max_stale)
    }

    fn decide(&self, facts: &CertificateFacts<'_>, now: SystemTime) -> Decision {
        let crls = self.crls.load();
        let in_use: Vec<&VerifiedCrl> = crls.iter().flatten().map(Arc::as_ref).collect();
        decide(&in_use, facts, now, self.max_stale)
    }

    /// Checks whether a current CRL is in use, so that lookups can be decided.
    pub fn is_ready(&self, now: SystemTime) -> bool {
        // OCSP answers are fetched per certificate on demand, so a CA that may use OCSP has
        // nothing to wait for.
        if self.method.uses_ocsp() {
            return true;
        }
        self.crls()
            .iter()
            .any(|crl| !crl.is_delta() && !crl.is_unusable_at(now, self.max_stale))
    }

    /// Replaces the CRL held for the source at `source_index`, unless its CRL number is lower
    /// than one already accepted for the same scope.
    pub fn store_crl(
        &self,
        source_index: usize,
        crl: &Arc<VerifiedCrl>,
        at: SystemTime,
    ) -> Result<(), CrlError> {
        self.accept_crl_number(crl)?;
        self.put_crl(source_index, crl);
        self.update_status(source_index, |status| {
            status.last_attempt = Some(at);
            status.last_success = Some(at);
            status.last_error = None;
        });
        Ok(())
    }

    /// Puts a CRL read back from the state directory in use, without recording a fetch.
    pub fn restore_crl(&self, source_index: usize, crl: &Arc<VerifiedCrl>) -> Result<(), CrlError> {
        self.accept_crl_number(crl)?;
        self.put_crl(source_index, crl);
        Ok(())
    }

    /// Replaces the slot of one source as a whole, so that lookups never see a half-made update.
    fn put_crl(&self, source_index: usize, crl: &Arc<VerifiedCrl>) {
        self.crls.rcu(|slots| {
            let mut slots = Vec::clone(slots);
            if let Some(slot) = slots.get_mut(source_index) {
                *slot = Some(Arc::clone(crl));
            }
            slots
        });
    }

    fn accept_crl_number(&self, crl: &VerifiedCrl) -> Result<(), CrlError> {
        let kind: CrlKind = (crl.is_delta(), crl.scope().clone());
        let mut highest = self
            .highest_crl_numbers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match highest.iter_mut().find(|(known, _)| *known == kind) {
            Some((_, number)) => {
                if compare_crl_numbers(crl.crl_number(), number) == Ordering::Less {
                    return Err(CrlError::CrlNumberRegressed {
                        origin: crl.origin().to_owned(),
                        number: hex::encode(crl.crl_number()),
                        highest: hex::encode(number),
                    });
                }
                *number = crl.crl_number().to_vec();
            }
            None => highest.push((kind, crl.crl_number().to_vec())),
        }
        Ok(())
    }

    /// Records a fetch that returned 304 Not Modified: the CRL in use is still the current one.
    pub fn record_not_modified(&self, source_index: usize, at: SystemTime) {
        self.update_status(source_index, |status| {
            status.last_attempt = Some(at);
            status.last_success = Some(at);
            status.last_error = None;
        });
    }

    /// Keeps the validators of the body behind the CRL just stored.
    pub fn record_validators(&self, source_index: usize, validators: Validators) {
        self.update_status(source_index, |status| status.validators = validators);
    }

    /// Returns the validators to send for the source at `source_index`: those of the body
    /// behind the CRL in use, or none when no CRL from that source is in use.
    pub fn validators_for(&self, source_index: usize) -> Validators {
        let has_crl = self
            .crls
            .load()
            .get(source_index)
            .is_some_and(Option::is_some);
        if !has_crl {
            return Validators::default();
        }
        self.source_statuses()
            .get(source_index)
            .map(|status| status.validators.clone())
            .unwrap_or_default()
    }

    /// Records a failed fetch or verification. The CRL already held stays in use.
    pub fn record_failure(&self, source_index: usize, error: String, at: SystemTime) {
        self.update_status(source_index, |status| {
            status.last_attempt = Some(at);
            status.last_error = Some(error);
        });
    }

    pub fn source_statuses(&self) -> Vec<SourceStatus> {
        self.source_statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update_status(&self, source_index: usize, change: impl FnOnce(&mut SourceStatus)) {
        let mut statuses = self
            .source_statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(status) = statuses.get_mut(source_index) {
            change(status);
        }
    }
}

/// The configured CAs, in configuration order.
#[derive(Debug, Default)]
pub struct Authorities {
    list: Vec<Arc<Authority>>,
}

impl Authorities {
    /// Loads each CA certificate named in the configuration, with its separate CRL signers.
    pub fn from_config(config: &Config) -> Result<Self, Vec<AuthorityError>> {
        let mut certificates = Vec::new();
        let mut errors = Vec::new();
        for ca in &config.cas {
            match load_ca_certificate(&ca.id, &ca.certificate) {
                Ok(certificate) => certificates.push((ca, certificate)),
                Err(error) => errors.push(error),
            }
        }
        let all_ca_certificates: Vec<ParsedCertificate> = certificates
            .iter()
            .map(|(_, certificate)| certificate.clone())
            .collect();

        let mut list = Vec::new();
        for (ca, certificate) in certificates {
            let signers = match load_crl_signers(ca, &certificate, &all_ca_certificates) {
                Ok(signers) => signers,
                Err(mut signer_errors) => {
                    errors.append(&mut signer_errors);
                    continue;
                }
            };
            let ocsp = ocsp_authority(config, ca, &certificate);
            let ocsp_hash = match ca.ocsp.hash {
                OcspHash::Sha1 => HashAlgorithm::Sha1,
                OcspHash::Sha256 => HashAlgorithm::Sha256,
            };
            list.push(Arc::new(
                Authority::new(ca.id.clone(), certificate, ca.crl.clone())
                    .with_revocation_policy(ca.method, ca.on_unknown, ocsp, ocsp_hash)
                    .with_legacy_policy(ca.allow_sha1, ca.max_age_without_next_update)
                    .with_crl_signers(signers)
                    .with_fetch_policy(ca.max_stale, ca.allowed_hosts.clone()),
            ));
        }
        if errors.is_empty() {
            Ok(Self { list })
        } else {
            Err(errors)
        }
    }

    pub fn from_list(list: Vec<Arc<Authority>>) -> Self {
        Self { list }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Authority>> {
        self.list.iter().find(|authority| authority.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Authority>> {
        self.list.iter()
    }

    /// Lists the CAs without separate CRL signers (`false`) or with them (`true`). Those with
    /// signers are refreshed second, because checking a signer needs its issuer's CRLs.
    pub fn with_crl_signers(&self, with_signers: bool) -> impl Iterator<Item = &Arc<Authority>> {
        self.list
            .iter()
            .filter(move |authority| authority.crl_signers.is_empty() != with_signers)
    }

    /// Finds the configured CA that issued `certificate`: its subject matches the certificate's
    /// issuer name and its key verifies the certificate's signature. When several do, as an
    /// expired CA certificate and its renewal with the same name and key, the first whose
    /// certificate is valid now wins, so that the order in the configuration does not matter.
    pub fn find_issuer(&self, certificate: &ParsedCertificate) -> Option<&Arc<Authority>> {
        let now = SystemTime::now();
        let mut issuers = self.list.iter().filter(|authority| {
            names_match(authority.certificate.subject(), certificate.issuer())
                && certificate.verify_signed_by(&authority.certificate).is_ok()
        });
        let first = issuers.next()?;
        if first.certificate.is_valid_at(now) {
            return Some(first);
        }
        issuers
            .find(|authority| authority.certificate.is_valid_at(now))
            .or(Some(first))
    }

    /// Lists the CA certificates above a certificate that `issuing` issued: `issuing`'s own
    /// certificate, then its issuer's, up to a self-signed certificate, each with the configured
    /// CA that issued it. The walk stops after a certificate whose issuer is not configured.
    pub fn path_above(
        &self,
        issuing: &Authority,
    ) -> Vec<(ParsedCertificate, Option<Arc<Authority>>)> {
        let mut path = Vec::new();
        let mut current = issuing.certificate.clone();
        // A path longer than the number of CAs would repeat one, so it is cut there.
        for _ in 0..self.list.len() {
            if current.is_self_issued() && current.verify_signed_by(&current).is_ok() {
                break;
            }
            let issuer = self.find_issuer(&current).cloned();
            let next = issuer.as_ref().map(|issuer| issuer.certificate.clone());
            path.push((current, issuer));
            match next {
                Some(next) => current = next,
                None => break,
            }
        }
        path
    }

    /// Takes over, after a reload, the CRLs and fetch history that `previous` holds for the same
    /// CA (same id and certificate) and the same source, so that a reload loses no data.
    pub fn adopt_from(&self, previous: &Authorities) {
        for authority in &self.list {
            let Some(old) = previous.get(authority.id()) else {
                continue;
            };
            if old.certificate.fingerprint() != authority.certificate.fingerprint() {
                continue;
            }
            let old_crls = old.crls.load();
            let old_statuses = old.source_statuses();
            for (index, source) in authority.sources.iter().enumerate() {
                let Some(old_index) = old.sources.iter().position(|known| known == source) else {
                    continue;
                };
                if let Some(Some(crl)) = old_crls.get(old_index) {
                    // The CRL was accepted under the same CA before, so its number cannot regress.
                    let _ = authority.restore_crl(index, crl);
                }
                if let Some(status) = old_statuses.get(old_index) {
                    authority.update_status(index, |current| *current = status.clone());
                }
            }
        }
    }

    /// Checks whether every CA has a current CRL.
    pub fn all_ready(&self, now: SystemTime) -> bool {
        self.list.iter().all(|authority| authority.is_ready(now))
    }
}

/// The certificate a lookup is about: only its serial number, or the whole certificate.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    Serial(&'a Serial),
    Certificate(&'a ParsedCertificate),
}

/// Builds the OCSP settings of one CA from the configuration; `None` without responders.
fn ocsp_authority(
    config: &Config,
    ca: &crate::config::CaConfig,
    certificate: &ParsedCertificate,
) -> Option<OcspAuthority> {
    if ca.ocsp.responders.is_empty() {
        return None;
    }
    let mut authority = OcspAuthority::new(&ca.id, certificate.clone(), ca.ocsp.responders.clone());
    authority.method = match ca.ocsp.request_form {
        OcspRequestForm::Get => RequestMethod::Get,
        OcspRequestForm::Post => RequestMethod::Post,
    };
    authority.nonce = ca.ocsp.nonce;
    authority.clock_skew = config.clock_skew;
    authority.max_age_without_next_update = ca.max_age_without_next_update;
    authority.allow_sha1 = ca.allow_sha1;
    Some(authority)
}

/// A separate CRL-signing certificate for a CA's name (RFC 5280 section 6.3.3 (f)), with its
/// certification path to the CA's trust anchor.
#[derive(Clone, Debug)]
pub struct CrlSigner {
    pub certificate: ParsedCertificate,
    /// The path from the signer (first) to the trust anchor (last).
    pub path: Vec<ParsedCertificate>,
}

/// Loads and checks the `crl_signers` of one CA: the CA's name, cRLSign in the key usage, and
/// a path to the same trust anchor as the CA certificate, over the CA's `chain` and the
/// configured CA certificates.
fn load_crl_signers(
    ca: &crate::config::CaConfig,
    ca_certificate: &ParsedCertificate,
    all_ca_certificates: &[ParsedCertificate],
) -> Result<Vec<CrlSigner>, Vec<AuthorityError>> {
    if ca.crl_signers.is_empty() {
        return Ok(Vec::new());
    }
    let signer_error = |path: &PathBuf, problem: String| AuthorityError::CrlSigner {
        id: ca.id.clone(),
        path: path.clone(),
        problem,
    };

    let mut pool = all_ca_certificates.to_vec();
    if let Some(chain) = &ca.chain {
        let bytes = std::fs::read(chain).map_err(|error| {
            vec![AuthorityError::Read {
                id: ca.id.clone(),
                path: chain.clone(),
                error,
            }]
        })?;
        let chain_certificates = ParsedCertificate::from_pem_or_der(&bytes).map_err(|error| {
            vec![AuthorityError::Certificate {
                id: ca.id.clone(),
                path: chain.clone(),
                error,
            }]
        })?;
        pool.extend(chain_certificates);
    }

    let now = SystemTime::now();
    let paths = ChainCheck {
        pool: &pool,
        crls: &[],
        options: VerifyOptions::at(now, std::time::Duration::ZERO),
    };
    let ca_path = paths.build_path(ca_certificate, None).map_err(|error| {
        vec![signer_error(
            &ca.certificate,
            format!("the CA certificate itself has no path to a trust anchor ({error}); add its issuers with `chain`"),
        )]
    })?;
    let anchor = ca_path[ca_path.len() - 1].clone();

    let mut signers = Vec::new();
    let mut errors = Vec::new();
    for path in &ca.crl_signers {
        let certificate = match load_one_certificate(&ca.id, path) {
            Ok(certificate) => certificate,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if !names_match(certificate.subject(), ca_certificate.subject()) {
            errors.push(signer_error(
                path,
                format!(
                    "its subject \"{}\" is not the CA's name \"{}\"",
                    certificate.subject(),
                    ca_certificate.subject()
                ),
            ));
            continue;
        }
        if !certificate
            .key_usage()
            .is_some_and(|usage| usage.crl_sign())
        {
            errors.push(signer_error(
                path,
                "its key usage extension does not allow cRLSign".to_owned(),
            ));
            continue;
        }
        match paths.build_path(&certificate, Some(&anchor)) {
            Ok(signer_path) => {
                let signer_path = signer_path.into_iter().cloned().collect();
                signers.push(CrlSigner {
                    certificate: certificate.clone(),
                    path: signer_path,
                });
            }
            Err(error) => errors.push(signer_error(
                path,
                format!(
                    "no path to the CA's trust anchor \"{}\" ({error}); add the signer's issuers with `chain`",
                    anchor.subject()
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(signers)
    } else {
        Err(errors)
    }
}

fn load_one_certificate(id: &str, path: &PathBuf) -> Result<ParsedCertificate, AuthorityError> {
    let bytes = std::fs::read(path).map_err(|error| AuthorityError::Read {
        id: id.to_owned(),
        path: path.clone(),
        error,
    })?;
    let mut certificates = ParsedCertificate::from_pem_or_der(&bytes).map_err(|error| {
        AuthorityError::Certificate {
            id: id.to_owned(),
            path: path.clone(),
            error,
        }
    })?;
    if certificates.len() != 1 {
        return Err(AuthorityError::NotOneCertificate {
            id: id.to_owned(),
            path: path.clone(),
            count: certificates.len(),
        });
    }
    Ok(certificates.remove(0))
}

fn load_ca_certificate(id: &str, path: &PathBuf) -> Result<ParsedCertificate, AuthorityError> {
    let certificate = load_one_certificate(id, path)?;
    if !certificate.is_ca() {
        return Err(AuthorityError::NotCa {
            id: id.to_owned(),
            path: path.clone(),
            subject: certificate.subject().to_string(),
        });
    }
    Ok(certificate)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::crl::{DecodedCrl, VerifyOptions};
    use crate::fixtures::{CrlBuilder, TestCa};

    #[test]
    fn valid_renewal_preferred_over_expired() {
        use std::time::Duration;

        use crate::fixtures::LeafSpec;

        let root = TestCa::root("Renewal Root").expect("root");
        let issuing = root.intermediate("Renewal Issuing").expect("issuing");
        let leaf = issuing
            .leaf(&LeafSpec {
                common_name: "client".to_owned(),
                serial: vec![0x11],
                email: None,
                uri: None,
            })
            .expect("leaf");
        let leaf = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
        let current = ParsedCertificate::from_der(issuing.cert_der()).expect("decodes");
        // The same name and key, certified again by the root for a period that has ended.
        let expired_der = issuing
            .recertify_with(&root, |params| {
                params.not_before = (SystemTime::now() - Duration::from_secs(400 * 86400)).into();
                params.not_after = (SystemTime::now() - Duration::from_secs(30 * 86400)).into();
            })
            .expect("expired certificate");
        let expired = ParsedCertificate::from_der(&expired_der).expect("decodes");
        assert!(!expired.is_valid_at(SystemTime::now()));

        let authorities = Authorities::from_list(vec![
            Arc::new(Authority::new("old".to_owned(), expired, Vec::new())),
            Arc::new(Authority::new("new".to_owned(), current, Vec::new())),
        ]);
        let issuer = authorities.find_issuer(&leaf).expect("issuer found");
        assert_eq!(issuer.id(), "new");
    }

    #[test]
    fn lower_crl_number_rejected() {
        let ca = TestCa::root("Numbered CA").expect("test CA");
        let parsed = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
        let options = VerifyOptions::at(SystemTime::now(), Duration::from_secs(300));
        let crl_with_number = |number: u64| {
            let der = CrlBuilder::new()
                .crl_number(number)
                .build(&ca)
                .expect("CRL builds");
            let crl = DecodedCrl::from_der(&der, "test")
                .expect("decodes")
                .verify(&parsed, &parsed, &options)
                .expect("verifies");
            Arc::new(crl)
        };
        let authority = Authority::new("numbered".to_owned(), parsed.clone(), Vec::new());
        let now = SystemTime::now();

        assert!(authority.store_crl(0, &crl_with_number(5), now).is_ok());
        assert!(
            authority.store_crl(0, &crl_with_number(5), now).is_ok(),
            "same CRL again"
        );
        let error = authority
            .store_crl(0, &crl_with_number(4), now)
            .expect_err("CRL number 4 after 5");
        assert!(
            matches!(error, CrlError::CrlNumberRegressed { .. }),
            "{error:?}"
        );
        assert!(authority.store_crl(0, &crl_with_number(6), now).is_ok());
    }
}
