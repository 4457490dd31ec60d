//! Verification of a decoded OCSP response for one requested certificate (RFC 6960 sections
//! 3.2 and 4.2.2, with the RFC 5019 profile's freshness rules).

use std::fmt;
use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;

use super::request::{ID_PKIX_OCSP_NONCE, nonce_extension_value};
use super::response::{ResponderId, ResponseExtension, SingleResponse, dotted};
use super::{CertId, DecodedOcspResponse, HashAlgorithm, OcspError, OcspStatus};
use crate::x509::signature::{SignaturePolicy, verify_signature};
use crate::x509::{ParsedCertificate, hex, names_match};

/// id-kp-OCSPSigning (RFC 6960 section 4.2.2.2).
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");

/// The clock and the request that a response is judged against.
#[derive(Clone, Copy, Debug)]
pub struct OcspOptions {
    pub now: SystemTime,
    /// How far thisUpdate may lie in the future, for clocks that disagree a little.
    pub clock_skew: Duration,
    /// Treat a SingleResponse without nextUpdate as valid for this long after its thisUpdate.
    /// `None` rejects such a response.
    pub max_age_without_next_update: Option<Duration>,
    /// The nonce sent in the request, which the response must echo. `None` when no nonce was
    /// sent, and then a nonce in the response is ignored.
    pub nonce: Option<[u8; 16]>,
    /// Accept sha1WithRSAEncryption signatures.
    pub allow_sha1: bool,
}

impl OcspOptions {
    /// Options with the strict defaults: no nonce, no SHA-1 signatures, nextUpdate required.
    pub fn at(now: SystemTime, clock_skew: Duration) -> Self {
        Self {
            now,
            clock_skew,
            max_age_without_next_update: None,
            nonce: None,
            allow_sha1: false,
        }
    }
}

/// The certificate whose key signed a verified response.
#[derive(Clone, Debug)]
pub enum ResponseSigner {
    /// The CA that issued the certificate in question.
    Issuer,
    /// A delegated responder certificate from the response's `certs`, issued by that CA with
    /// id-kp-OCSPSigning.
    Delegate(Box<ParsedCertificate>),
}

impl fmt::Display for ResponseSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Issuer => f.write_str("the issuing CA"),
            Self::Delegate(certificate) => {
                write!(f, "delegated responder {}", certificate.describe())
            }
        }
    }
}

/// The status of one certificate from an OCSP response whose signer, signature, CertID, times,
/// extensions and nonce have been checked. Only [`DecodedOcspResponse::verify`] builds one, so
/// holding a `VerifiedOcspResponse` means the checks passed.
#[derive(Clone, Debug)]
pub struct VerifiedOcspResponse {
    responder_url: String,
    cert_id: CertId,
    status: OcspStatus,
    this_update: SystemTime,
    next_update: SystemTime,
    next_update_from_max_age: bool,
    produced_at: SystemTime,
    signer: ResponseSigner,
}

impl VerifiedOcspResponse {
    pub fn responder_url(&self) -> &str {
        &self.responder_url
    }

    pub fn cert_id(&self) -> &CertId {
        &self.cert_id
    }

    pub fn status(&self) -> &OcspStatus {
        &self.status
    }

    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    /// Returns the SingleResponse's nextUpdate or, when it has none, thisUpdate plus the
    /// configured maximum age.
    pub fn next_update(&self) -> SystemTime {
        self.next_update
    }

    /// Checks whether [`next_update`](Self::next_update) was computed from the maximum age
    /// because the SingleResponse has no nextUpdate.
    pub fn next_update_from_max_age(&self) -> bool {
        self.next_update_from_max_age
    }

    pub fn produced_at(&self) -> SystemTime {
        self.produced_at
    }

    pub fn signer(&self) -> &ResponseSigner {
        &self.signer
    }

    /// Checks whether the status is no longer fresh at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now > self.next_update
    }
}

/// Decodes an OCSPResponse from `responder_url` and verifies it as the response for
/// `cert_id`, a certificate issued by `issuer`.
pub fn verify_response(
    der: &[u8],
    responder_url: &str,
    cert_id: &CertId,
    issuer: &ParsedCertificate,
    options: &OcspOptions,
) -> Result<VerifiedOcspResponse, OcspError> {
    DecodedOcspResponse::from_der(der, responder_url)?.verify(cert_id, issuer, options)
}

impl DecodedOcspResponse {
    /// Verifies this response as the response for `cert_id`, a certificate issued by
    /// `issuer`, and returns its status.
    ///
    /// The signer is `issuer` itself or a delegated responder certificate from `certs` that
    /// `issuer` issued for OCSP signing (RFC 6960 section 4.2.2.2). The response may hold
    /// statuses of other certificates, which are ignored.
    pub fn verify(
        &self,
        cert_id: &CertId,
        issuer: &ParsedCertificate,
        options: &OcspOptions,
    ) -> Result<VerifiedOcspResponse, OcspError> {
        let signer = self.find_signer(issuer, options)?;
        let signer_certificate = match &signer {
            ResponseSigner::Issuer => issuer,
            ResponseSigner::Delegate(delegate) => delegate.as_ref(),
        };
        self.check_signature(signer_certificate, &signer, options)?;

        self.check_response_extensions(options)?;
        let matching = self.matching_responses(cert_id)?;
        let mut validity = Vec::with_capacity(matching.len());
        for single in &matching {
            validity.push(self.check_times(single, options)?);
        }
        // matching_responses never returns an empty list, and validity has one entry for each.
        let (Some(single), Some(&(next_update, next_update_from_max_age))) =
            (matching.first(), validity.first())
        else {
            return Err(self.no_matching_response(cert_id));
        };

        Ok(VerifiedOcspResponse {
            responder_url: self.responder_url().to_owned(),
            cert_id: cert_id.clone(),
            status: single.cert_status,
            this_update: single.this_update,
            next_update,
            next_update_from_max_age,
            produced_at: self.produced_at(),
            signer,
        })
    }

    /// Finds the certificate that the ResponderID names: the CA, or else a certificate in
    /// `certs` that passes the delegated responder checks.
    fn find_signer(
        &self,
        issuer: &ParsedCertificate,
        options: &OcspOptions,
    ) -> Result<ResponseSigner, OcspError> {
        // A response from the CA may also carry the CA's own certificate in certs. The
        // configured CA certificate is used, never the copy from the response.
        if responder_id_matches(self.responder_id(), issuer) {
            return Ok(ResponseSigner::Issuer);
        }

        let mut first_error = None;
        let candidates = self
            .certs()
            .iter()
            .filter(|certificate| responder_id_matches(self.responder_id(), certificate));
        for candidate in candidates {
            match self.check_delegate(candidate, issuer, options) {
                Ok(()) => return Ok(ResponseSigner::Delegate(Box::new(candidate.clone()))),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| OcspError::SignerNotFound {
            responder_url: self.responder_url().to_owned(),
            responder_id: self.responder_id().to_string(),
            issuer: issuer.subject().to_string(),
        }))
    }

    /// Checks that `delegate` may sign responses for the certificates of `issuer` (RFC 6960
    /// section 4.2.2.2): the CA issued it, it carries id-kp-OCSPSigning and it is valid now.
    ///
    /// NOTE: the delegate's own revocation status is not checked. RFC 6960 section 4.2.2.2.1
    /// leaves that to the CA, which usually marks delegates with id-pkix-ocsp-nocheck.
    fn check_delegate(
        &self,
        delegate: &ParsedCertificate,
        issuer: &ParsedCertificate,
        options: &OcspOptions,
    ) -> Result<(), OcspError> {
        let not_issued = |detail: String| OcspError::DelegateNotIssuedByCa {
            responder_url: self.responder_url().to_owned(),
            delegate: delegate.describe(),
            issuer: issuer.subject().to_string(),
            detail,
        };
        if !names_match(delegate.issuer(), issuer.subject()) {
            return Err(not_issued(format!(
                "its issuer is \"{}\"",
                delegate.issuer()
            )));
        }
        delegate
            .verify_signed_by(issuer)
            .map_err(|error| not_issued(format!("its signature does not verify: {error}")))?;

        let ocsp_signing = delegate
            .extended_key_usage()
            .is_some_and(|purposes| purposes.contains(&ID_KP_OCSP_SIGNING));
        if !ocsp_signing {
            return Err(OcspError::DelegateLacksOcspSigning {
                responder_url: self.responder_url().to_owned(),
                delegate: delegate.describe(),
            });
        }
        if delegate
            .key_usage()
            .is_some_and(|usage| !usage.digital_signature())
        {
            return Err(OcspError::DelegateLacksDigitalSignature {
                responder_url: self.responder_url().to_owned(),
                delegate: delegate.describe(),
            });
        }

        if !delegate.is_valid_at(options.now) {
            return Err(OcspError::DelegateNotValidNow {
                responder_url: self.responder_url().to_owned(),
                delegate: delegate.describe(),
                not_before: delegate.not_before(),
                not_after: delegate.not_after(),
                now: options.now,
            });
        }
        Ok(())
    }

    /// Verifies the signature over the exact tbsResponseData bytes received.
    fn check_signature(
        &self,
        signer_certificate: &ParsedCertificate,
        signer: &ResponseSigner,
        options: &OcspOptions,
    ) -> Result<(), OcspError> {
        verify_signature(
            &signer_certificate
                .certificate()
                .tbs_certificate
                .subject_public_key_info,
            self.signature_algorithm(),
            self.tbs_bytes(),
            self.signature(),
            SignaturePolicy {
                allow_sha1: options.allow_sha1,
            },
        )
        .map_err(|error| OcspError::Signature {
            responder_url: self.responder_url().to_owned(),
            signer: signer.to_string(),
            error,
        })
    }

    /// Rejects unknown critical responseExtensions and checks the nonce (RFC 6960 section
    /// 4.4.1, RFC 9654).
    fn check_response_extensions(&self, options: &OcspOptions) -> Result<(), OcspError> {
        let extensions = self.response_extensions();
        self.reject_duplicates(extensions)?;

        let mut received_nonce = None;
        for extension in extensions {
            if *extension.oid == *ID_PKIX_OCSP_NONCE {
                received_nonce = Some(extension.value.as_slice());
            } else if extension.critical {
                return Err(OcspError::UnknownCriticalExtension {
                    responder_url: self.responder_url().to_owned(),
                    oid: dotted(&extension.oid),
                });
            }
        }

        let Some(sent) = options.nonce else {
            return Ok(());
        };
        // The response must echo the extension value that was sent, which is the DER of an
        // OCTET STRING containing the nonce. RFC 5019 section 4 lets a client fall back to
        // the time checks when the nonce is missing, but a nonce is only sent to responders
        // configured as echoing it, so there a missing nonce may be a replay (RFC 5019
        // section 7.1).
        let expected = nonce_extension_value(&sent).map_err(|error| OcspError::Decode {
            responder_url: self.responder_url().to_owned(),
            detail: format!("cannot encode the expected nonce: {error}"),
        })?;
        match received_nonce {
            None => Err(OcspError::NonceMissing {
                responder_url: self.responder_url().to_owned(),
                sent: hex::encode(&expected),
            }),
            Some(received) if received != expected.as_slice() => Err(OcspError::NonceMismatch {
                responder_url: self.responder_url().to_owned(),
                sent: hex::encode(&expected),
                received: hex::encode(received),
            }),
            Some(_) => Ok(()),
        }
    }

    fn reject_duplicates(&self, extensions: &[ResponseExtension]) -> Result<(), OcspError> {
        for (position, extension) in extensions.iter().enumerate() {
            if extensions[..position]
                .iter()
                .any(|earlier| earlier.oid == extension.oid)
            {
                return Err(OcspError::MalformedExtension {
                    responder_url: self.responder_url().to_owned(),
                    oid: dotted(&extension.oid),
                    detail: "extension appears more than once".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Finds the SingleResponses for `cert_id` wherever they sit among the responses, and
    /// returns them in order. The list is never empty.
    ///
    /// Every matching SingleResponse must give the same status and pass the extension and
    /// time checks. The first one supplies the times.
    fn matching_responses(&self, cert_id: &CertId) -> Result<Vec<&SingleResponse>, OcspError> {
        let matching: Vec<&SingleResponse> = self
            .responses()
            .iter()
            .filter(|single| cert_id.matches(&single.cert_id))
            .collect();
        let Some(first) = matching.first() else {
            return Err(self.no_matching_response(cert_id));
        };

        for single in &matching {
            if single.cert_status != first.cert_status {
                return Err(OcspError::ConflictingResponses {
                    responder_url: self.responder_url().to_owned(),
                    serial: cert_id.serial_number().clone(),
                    first: first.cert_status.as_str(),
                    second: single.cert_status.as_str(),
                });
            }
            self.check_single_extensions(single, cert_id)?;
        }
        Ok(matching)
    }

    fn no_matching_response(&self, cert_id: &CertId) -> OcspError {
        OcspError::NoMatchingResponse {
            responder_url: self.responder_url().to_owned(),
            serial: cert_id.serial_number().clone(),
            responses: self.responses().len(),
        }
    }

    /// Rejects every critical singleExtension: revcheck implements none of them, and the
    /// ones RFC 6960 section 4.4 defines (CRL references, archive cutoff) change how the
    /// status must be read.
    fn check_single_extensions(
        &self,
        single: &SingleResponse,
        cert_id: &CertId,
    ) -> Result<(), OcspError> {
        self.reject_duplicates(&single.single_extensions)?;
        match single
            .single_extensions
            .iter()
            .find(|extension| extension.critical)
        {
            Some(extension) => Err(OcspError::UnknownCriticalSingleExtension {
                responder_url: self.responder_url().to_owned(),
                serial: cert_id.serial_number().clone(),
                oid: dotted(&extension.oid),
            }),
            None => Ok(()),
        }
    }

    /// Checks thisUpdate and nextUpdate (RFC 5019 section 4) and returns the end of validity,
    /// and whether it came from the maximum age.
    fn check_times(
        &self,
        single: &SingleResponse,
        options: &OcspOptions,
    ) -> Result<(SystemTime, bool), OcspError> {
        // An overflowing sum falls back to the stricter bound.
        let latest_acceptable = options
            .now
            .checked_add(options.clock_skew)
            .unwrap_or(options.now);
        if single.this_update > latest_acceptable {
            return Err(OcspError::NotYetValid {
                responder_url: self.responder_url().to_owned(),
                this_update: single.this_update,
                now: options.now,
            });
        }

        // RFC 5019 requires nextUpdate (section 2.2.4) and rejects a response without it
        // (section 4). revcheck does the same unless a maximum age after thisUpdate is
        // configured, for responders that leave it out.
        let (next_update, from_max_age) =
            match (single.next_update, options.max_age_without_next_update) {
                (Some(next_update), _) => (next_update, false),
                (None, Some(max_age)) => (
                    single
                        .this_update
                        .checked_add(max_age)
                        .unwrap_or(single.this_update),
                    true,
                ),
                (None, None) => {
                    return Err(OcspError::MissingNextUpdate {
                        responder_url: self.responder_url().to_owned(),
                    });
                }
            };
        if options.now > next_update {
            return Err(OcspError::Expired {
                responder_url: self.responder_url().to_owned(),
                next_update,
                now: options.now,
            });
        }
        Ok((next_update, from_max_age))
    }
}

/// Checks whether the ResponderID names `certificate`: byName compares the subject under
/// RFC 5280 section 7.1, byKey compares the SHA-1 of the subjectPublicKey BIT STRING
/// contents, whatever hash the CertID uses (RFC 6960 section 4.2.2.3).
fn responder_id_matches(responder_id: &ResponderId, certificate: &ParsedCertificate) -> bool {
    match responder_id {
        ResponderId::ByName(name) => names_match(name, certificate.subject()),
        ResponderId::ByKey(key_hash) => {
            *key_hash == HashAlgorithm::Sha1.digest(certificate.subject_public_key())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use const_oid::ObjectIdentifier;

    use super::*;
    use crate::crl::RevocationReason;
    use crate::fixtures::{
        LeafSpec, OcspResponseBuilder, RawExtension, ResponderIdSpec, ResponderSpec,
        SingleResponseSpec, TestCa,
    };
    use crate::x509::Serial;

    const RESPONDER_URL: &str = "http://127.0.0.1:9000/ocsp";
    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86_400);
    const CLOCK_SKEW: Duration = Duration::from_secs(300);

    /// 2025-07-01T00:00:00Z, inside the validity period of every fixture certificate.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_751_328_000)
    }

    fn options() -> OcspOptions {
        OcspOptions::at(now(), CLOCK_SKEW)
    }

    /// A CA, its certificate and the CertID of one of its leaves.
    struct Pki {
        ca: TestCa,
        ca_cert: ParsedCertificate,
        cert_id: CertId,
    }

    fn pki(name: &str) -> Pki {
        let ca = TestCa::root(name).expect("test CA");
        let ca_cert = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: format!("{name} leaf"),
                serial: vec![0x10, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf is issued");
        let leaf = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
        let cert_id = CertId::for_certificate(HashAlgorithm::Sha1, &leaf, &ca_cert);
        Pki {
            ca,
            ca_cert,
            cert_id,
        }
    }

    /// Returns a SingleResponse valid from an hour ago until tomorrow.
    fn single(cert_id: &CertId, status: OcspStatus) -> SingleResponseSpec {
        SingleResponseSpec::new(cert_id.clone(), status, now() - HOUR, Some(now() + DAY))
    }

    fn good(cert_id: &CertId) -> SingleResponseSpec {
        single(cert_id, OcspStatus::Good)
    }

    /// Returns a builder with producedAt an hour ago.
    fn builder() -> OcspResponseBuilder {
        OcspResponseBuilder::new().produced_at(now() - HOUR)
    }

    /// Serves `der` from a responder of the test's own on 127.0.0.1, asks it with a real
    /// request (POST, carrying the options' nonce), and verifies what came back. Messages name
    /// `RESPONDER_URL`, so that assertions do not depend on the port.
    fn verify(
        der: &[u8],
        pki: &Pki,
        options: &OcspOptions,
    ) -> Result<VerifiedOcspResponse, OcspError> {
        let received = fetch_from_test_responder(der, &pki.cert_id, options.nonce);
        verify_response(
            &received,
            RESPONDER_URL,
            &pki.cert_id,
            &pki.ca_cert,
            options,
        )
    }

    fn fetch_from_test_responder(der: &[u8], cert_id: &CertId, nonce: Option<[u8; 16]>) -> Vec<u8> {
        use std::io::{BufRead, BufReader, Read, Write};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind test responder");
        let url = url::Url::parse(&format!(
            "http://{}/ocsp",
            listener.local_addr().expect("responder address")
        ))
        .expect("responder URL");
        let body = der.to_vec();
        let responder = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("revcheck connects");
            let mut reader = BufReader::new(stream);
            let mut content_length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read request head");
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    content_length = value.trim().parse().expect("numeric Content-Length");
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut request = vec![0; content_length];
            reader.read_exact(&mut request).expect("read request body");
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).expect("write head");
            stream.write_all(&body).expect("write body");
            request
        });

        let fetcher = crate::source::Fetcher::new(crate::source::FetchLimits::simple(
            Duration::from_secs(10),
            1 << 20,
        ))
        .expect("fetcher");
        let request =
            crate::ocsp::OcspRequest::new(cert_id.clone(), nonce).expect("request encodes");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let received = runtime
            .block_on(crate::ocsp::send_request(
                &fetcher,
                &url,
                &request,
                crate::ocsp::RequestMethod::Post,
            ))
            .expect("test responder answers");
        let sent = responder.join().expect("test responder thread");
        assert_eq!(
            sent,
            request.der(),
            "the responder received the request as sent"
        );
        received
    }

    fn expect_error(result: Result<VerifiedOcspResponse, OcspError>) -> OcspError {
        let error = result.expect_err("response must be rejected");
        let message = error.to_string();
        assert!(message.contains(RESPONDER_URL), "{message}");
        error
    }

    fn critical_extension(critical: bool) -> RawExtension {
        RawExtension {
            oid: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.7"),
            critical,
            value_der: vec![0x05, 0x00],
        }
    }

    fn delegate_spec(name: &str) -> ResponderSpec {
        ResponderSpec::new(name)
    }

    #[test]
    fn ca_signed_good_verifies() {
        let pki = pki("Good CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
        assert_eq!(verified.this_update(), now() - HOUR);
        assert_eq!(verified.next_update(), now() + DAY);
        assert!(!verified.next_update_from_max_age());
        assert_eq!(verified.produced_at(), now() - HOUR);
        assert!(matches!(verified.signer(), ResponseSigner::Issuer));
        assert_eq!(verified.responder_url(), RESPONDER_URL);
        assert_eq!(verified.cert_id(), &pki.cert_id);
        assert!(!verified.is_expired_at(now()));
        assert!(verified.is_expired_at(now() + DAY + HOUR));
    }

    #[test]
    fn revoked_status_keeps_time_and_reason() {
        let pki = pki("Revoked CA");
        let revoked_at = now() - DAY;
        let der = builder()
            .response(single(
                &pki.cert_id,
                OcspStatus::Revoked {
                    revocation_time: revoked_at,
                    reason: Some(RevocationReason::KeyCompromise),
                },
            ))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(
            verified.status(),
            &OcspStatus::Revoked {
                revocation_time: revoked_at,
                reason: Some(RevocationReason::KeyCompromise),
            }
        );
    }

    #[test]
    fn revoked_without_reason() {
        let pki = pki("Revoked No Reason CA");
        let status = OcspStatus::Revoked {
            revocation_time: now() - DAY,
            reason: None,
        };
        let der = builder()
            .response(single(&pki.cert_id, status))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &status);
    }

    #[test]
    fn unknown_status_is_not_good() {
        let pki = pki("Unknown CA");
        let der = builder()
            .response(single(&pki.cert_id, OcspStatus::Unknown))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Unknown);
        assert_eq!(verified.status().as_str(), "unknown");
    }

    #[test]
    fn corrupt_signature_rejected() {
        let pki = pki("Corrupt Signature CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .corrupt_signature()
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(
            matches!(
                error,
                OcspError::Signature {
                    error: crate::x509::SignatureError::Invalid,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(error.reason_code(), "ocsp_signature_invalid");
    }

    /// Changes one digit of producedAt after signing, inside the signed bytes.
    #[test]
    fn altered_response_data_rejected() {
        let pki = pki("Altered CA");
        let mut der = builder()
            .produced_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_751_324_400))
            .response(good(&pki.cert_id))
            .build(&pki.ca)
            .expect("response builds");
        // producedAt 2025-06-30T23:00:00Z becomes 2025-06-30T22:00:00Z.
        let produced_at = b"20250630230000Z";
        let position = der
            .windows(produced_at.len())
            .position(|window| window == produced_at)
            .expect("producedAt is in the DER");
        der[position + 9] = b'2';

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(matches!(error, OcspError::Signature { .. }), "{error:?}");
    }

    /// The version is written explicitly, which DER forbids for a default value. Encoding the
    /// decoded tbsResponseData again would drop it, so the signature only verifies over the
    /// bytes received.
    #[test]
    fn signature_covers_received_bytes() {
        let pki = pki("Exact Bytes CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .explicit_version()
            .build(&pki.ca)
            .expect("response builds");
        let explicit_v1 = [0xa0, 0x03, 0x02, 0x01, 0x00];
        assert!(der.windows(5).any(|window| window == explicit_v1));

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn delegate_with_ocsp_signing_accepted() {
        let pki = pki("Delegating CA");
        let delegate = pki
            .ca
            .ocsp_responder(&delegate_spec("Delegating CA responder"))
            .expect("delegate is issued");
        let der = builder()
            .response(good(&pki.cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        let ResponseSigner::Delegate(signer) = verified.signer() else {
            panic!("expected a delegate signer, got {:?}", verified.signer());
        };
        assert_eq!(signer.der(), delegate.cert_der());
        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn delegate_by_key_accepted() {
        let pki = pki("Delegating By Key CA");
        let delegate = pki
            .ca
            .ocsp_responder(&delegate_spec("By Key responder"))
            .expect("delegate is issued");
        let der = builder()
            .responder_id(ResponderIdSpec::ByKey)
            .response(good(&pki.cert_id))
            .cert(pki.ca.cert_der())
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert!(matches!(verified.signer(), ResponseSigner::Delegate(_)));
    }

    #[test]
    fn delegate_without_ocsp_signing_rejected() {
        let pki = pki("No EKU CA");
        let spec = ResponderSpec {
            ocsp_signing: false,
            ..delegate_spec("No EKU responder")
        };
        let delegate = pki.ca.ocsp_responder(&spec).expect("delegate is issued");
        let der = builder()
            .response(good(&pki.cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(
            matches!(error, OcspError::DelegateLacksOcspSigning { .. }),
            "{error:?}"
        );
        assert_eq!(error.reason_code(), "ocsp_signer_invalid");
    }

    #[test]
    fn delegate_without_digital_signature_rejected() {
        let pki = pki("No Digital Signature CA");
        let spec = ResponderSpec {
            digital_signature: false,
            ..delegate_spec("No Digital Signature responder")
        };
        let delegate = pki.ca.ocsp_responder(&spec).expect("delegate is issued");
        let der = builder()
            .response(good(&pki.cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(
            matches!(error, OcspError::DelegateLacksDigitalSignature { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn expired_delegate_rejected() {
        let pki = pki("Expired Delegate CA");
        let spec = ResponderSpec {
            not_after: now() - DAY,
            ..delegate_spec("Expired responder")
        };
        let delegate = pki.ca.ocsp_responder(&spec).expect("delegate is issued");
        let der = builder()
            .response(good(&pki.cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::DelegateNotValidNow {
            not_after, now: at, ..
        } = &error
        else {
            panic!("expected DelegateNotValidNow, got {error:?}");
        };
        assert_eq!(*not_after, now() - DAY);
        assert_eq!(*at, now());
    }

    #[test]
    fn delegate_not_yet_valid_rejected() {
        let pki = pki("Future Delegate CA");
        let spec = ResponderSpec {
            not_before: now() + DAY,
            ..delegate_spec("Future responder")
        };
        let delegate = pki.ca.ocsp_responder(&spec).expect("delegate is issued");
        let der = builder()
            .response(good(&pki.cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(
            matches!(error, OcspError::DelegateNotValidNow { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn delegate_of_sibling_ca_rejected() {
        let root = TestCa::root("Sibling Root").expect("root CA");
        let issuing = root.intermediate("Issuing Sibling").expect("intermediate");
        let sibling = root.intermediate("Other Sibling").expect("intermediate");
        let issuing_cert = ParsedCertificate::from_der(issuing.cert_der()).expect("CA decodes");
        let cert_id = CertId::new(
            HashAlgorithm::Sha1,
            &issuing_cert,
            Serial::from_der_content(&[0x42]),
        );
        let delegate = sibling
            .ocsp_responder(&delegate_spec("Sibling responder"))
            .expect("delegate is issued");
        let der = builder()
            .response(good(&cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify_response(
            &der,
            RESPONDER_URL,
            &cert_id,
            &issuing_cert,
            &options(),
        ));

        let OcspError::DelegateNotIssuedByCa { detail, .. } = &error else {
            panic!("expected DelegateNotIssuedByCa, got {error:?}");
        };
        assert!(detail.contains("Other Sibling"), "{detail}");
    }

    /// Another CA has the same subject name, so only the signature on the delegate
    /// distinguishes it.
    #[test]
    fn delegate_of_same_name_ca_rejected() {
        let pki = pki("Twin CA");
        let twin = TestCa::root("Twin CA").expect("twin CA");
        let delegate = twin
            .ocsp_responder(&delegate_spec("Twin responder"))
            .expect("delegate is issued");
        let der = builder()
            .response(good(&pki.cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::DelegateNotIssuedByCa { detail, .. } = &error else {
            panic!("expected DelegateNotIssuedByCa, got {error:?}");
        };
        assert!(detail.contains("signature"), "{detail}");
    }

    #[test]
    fn delegate_missing_from_certs_rejected() {
        let pki = pki("Missing Delegate CA");
        let delegate = pki
            .ca
            .ocsp_responder(&delegate_spec("Absent responder"))
            .expect("delegate is issued");
        let der = builder()
            .response(good(&pki.cert_id))
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::SignerNotFound { responder_id, .. } = &error else {
            panic!("expected SignerNotFound, got {error:?}");
        };
        assert!(responder_id.contains("Absent responder"), "{responder_id}");
    }

    /// A valid delegate signs a response that claims to come from the CA by name, so the CA's
    /// key does not verify the signature.
    #[test]
    fn responder_id_must_name_signer() {
        let pki = pki("Wrong Name CA");
        let delegate = pki
            .ca
            .ocsp_responder(&delegate_spec("Wrong Name responder"))
            .expect("delegate is issued");
        let der = builder()
            .responder_id(ResponderIdSpec::Name(pki.ca.subject_der()))
            .response(good(&pki.cert_id))
            .cert(delegate.cert_der())
            .build(&delegate)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(matches!(error, OcspError::Signature { .. }), "{error:?}");
    }

    #[test]
    fn ca_certificate_in_certs_accepted() {
        let pki = pki("Included CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .cert(pki.ca.cert_der())
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert!(matches!(verified.signer(), ResponseSigner::Issuer));
    }

    /// byKey is always SHA-1 (RFC 6960 section 4.2.2.3), even when the CertID uses SHA-256.
    #[test]
    fn by_key_uses_sha1_with_sha256_cert_id() {
        let pki = pki("By Key CA");
        let cert_id = CertId::new(
            HashAlgorithm::Sha256,
            &pki.ca_cert,
            pki.cert_id.serial_number().clone(),
        );
        let der = builder()
            .responder_id(ResponderIdSpec::ByKey)
            .response(good(&cert_id))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify_response(&der, RESPONDER_URL, &cert_id, &pki.ca_cert, &options())
            .expect("response verifies");

        assert!(matches!(verified.signer(), ResponseSigner::Issuer));
        assert_eq!(verified.cert_id().hash_algorithm(), HashAlgorithm::Sha256);
    }

    #[test]
    fn by_key_with_sha256_hash_rejected() {
        let pki = pki("By Key SHA-256 CA");
        let sha256_key_hash = HashAlgorithm::Sha256.digest(pki.ca_cert.subject_public_key());
        let der = builder()
            .responder_id(ResponderIdSpec::KeyHash(sha256_key_hash))
            .response(good(&pki.cert_id))
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(
            matches!(error, OcspError::SignerNotFound { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn unrelated_responder_name_rejected() {
        let pki = pki("Named CA");
        let stranger = TestCa::root("Stranger CA").expect("test CA");
        let der = builder()
            .responder_id(ResponderIdSpec::Name(stranger.subject_der()))
            .response(good(&pki.cert_id))
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::SignerNotFound { responder_id, .. } = &error else {
            panic!("expected SignerNotFound, got {error:?}");
        };
        assert!(responder_id.contains("Stranger CA"), "{responder_id}");
    }

    #[test]
    fn matching_response_found_among_others() {
        let pki = pki("Many Responses CA");
        let other = |serial: u8| {
            CertId::new(
                HashAlgorithm::Sha1,
                &pki.ca_cert,
                Serial::from_der_content(&[serial]),
            )
        };
        let revoked = OcspStatus::Revoked {
            revocation_time: now() - DAY,
            reason: None,
        };
        let der = builder()
            .response(single(&other(1), revoked))
            .response(good(&pki.cert_id))
            .response(single(&other(2), OcspStatus::Unknown))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn no_matching_response_rejected() {
        let pki = pki("No Match CA");
        let other = CertId::new(
            HashAlgorithm::Sha1,
            &pki.ca_cert,
            Serial::from_der_content(&[0x01]),
        );
        let der = builder()
            .response(good(&other))
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::NoMatchingResponse {
            serial, responses, ..
        } = &error
        else {
            panic!("expected NoMatchingResponse, got {error:?}");
        };
        assert_eq!(serial, pki.cert_id.serial_number());
        assert_eq!(*responses, 1);
        assert_eq!(error.reason_code(), "ocsp_no_matching_response");
    }

    /// A SingleResponse that differs from the request in one CertID field only is for
    /// another certificate.
    #[test]
    fn cert_id_must_match_every_field() {
        let pki = pki("Field Match CA");
        let requested = &pki.cert_id;
        let sha256 = CertId::new(
            HashAlgorithm::Sha256,
            &pki.ca_cert,
            requested.serial_number().clone(),
        );
        let mut other_name_hash = requested.issuer_name_hash().to_vec();
        other_name_hash[0] ^= 0x01;
        let mut other_key_hash = requested.issuer_key_hash().to_vec();
        other_key_hash[0] ^= 0x01;
        let variants = [
            ("hash algorithm", sha256),
            (
                "issuerNameHash",
                CertId::from_parts(
                    HashAlgorithm::Sha1,
                    other_name_hash,
                    requested.issuer_key_hash().to_vec(),
                    requested.serial_number().clone(),
                ),
            ),
            (
                "issuerKeyHash",
                CertId::from_parts(
                    HashAlgorithm::Sha1,
                    requested.issuer_name_hash().to_vec(),
                    other_key_hash,
                    requested.serial_number().clone(),
                ),
            ),
            (
                "serialNumber",
                CertId::from_parts(
                    HashAlgorithm::Sha1,
                    requested.issuer_name_hash().to_vec(),
                    requested.issuer_key_hash().to_vec(),
                    Serial::from_der_content(&[0x10, 0x02]),
                ),
            ),
        ];

        for (field, cert_id) in variants {
            let der = builder()
                .response(good(&cert_id))
                .build(&pki.ca)
                .expect("response builds");

            let result = verify(&der, &pki, &options());

            assert!(
                matches!(result, Err(OcspError::NoMatchingResponse { .. })),
                "a different {field} matched: {result:?}"
            );
        }
    }

    /// Serial numbers are compared as INTEGER encodings, so a positive serial with a sign
    /// octet, a negative serial (which some CAs issue) and zero each match themselves only.
    #[test]
    fn serial_encodings_match_exactly() {
        let pki = pki("Serial Encoding CA");
        let other = CertId::new(
            HashAlgorithm::Sha1,
            &pki.ca_cert,
            Serial::from_der_content(&[0x01]),
        );
        for content in [&[0x00, 0x80, 0x01][..], &[0xff, 0x01], &[0x00]] {
            let cert_id = CertId::new(
                HashAlgorithm::Sha1,
                &pki.ca_cert,
                Serial::from_der_content(content),
            );
            let der = builder()
                .response(single(&other, OcspStatus::Unknown))
                .response(good(&cert_id))
                .build(&pki.ca)
                .expect("response builds");

            let verified = verify_response(&der, RESPONDER_URL, &cert_id, &pki.ca_cert, &options())
                .expect("response verifies");

            assert_eq!(
                verified.status(),
                &OcspStatus::Good,
                "serial {content:02x?}"
            );
        }
    }

    #[test]
    fn absent_hash_parameters_match() {
        let pki = pki("Absent Parameters CA");
        let spec = SingleResponseSpec {
            omit_hash_parameters: true,
            ..good(&pki.cert_id)
        };
        let der = builder()
            .response(spec)
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn disagreeing_duplicates_rejected() {
        let pki = pki("Conflict CA");
        let revoked = OcspStatus::Revoked {
            revocation_time: now() - DAY,
            reason: None,
        };
        let der = builder()
            .response(good(&pki.cert_id))
            .response(single(&pki.cert_id, revoked))
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::ConflictingResponses { first, second, .. } = &error else {
            panic!("expected ConflictingResponses, got {error:?}");
        };
        assert_eq!(*first, "good");
        assert_eq!(*second, "revoked");
        assert_eq!(error.reason_code(), "ocsp_conflicting_responses");
    }

    #[test]
    fn agreeing_duplicates_accepted() {
        let pki = pki("Duplicate CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .response(good(&pki.cert_id))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn this_update_within_skew_accepted() {
        let pki = pki("Slightly Early CA");
        let spec = SingleResponseSpec::new(
            pki.cert_id.clone(),
            OcspStatus::Good,
            now() + Duration::from_secs(2),
            Some(now() + DAY),
        );
        let der = builder()
            .response(spec)
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.this_update(), now() + Duration::from_secs(2));
    }

    #[test]
    fn this_update_beyond_skew_rejected() {
        let pki = pki("Early CA");
        let this_update = now() + Duration::from_secs(20 * 60);
        let spec = SingleResponseSpec::new(
            pki.cert_id.clone(),
            OcspStatus::Good,
            this_update,
            Some(now() + DAY),
        );
        let der = builder()
            .response(spec)
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::NotYetValid {
            this_update: reported,
            ..
        } = &error
        else {
            panic!("expected NotYetValid, got {error:?}");
        };
        assert_eq!(*reported, this_update);
        assert_eq!(error.reason_code(), "ocsp_not_yet_valid");
    }

    #[test]
    fn passed_next_update_rejected() {
        let pki = pki("Expired CA");
        let spec = SingleResponseSpec::new(
            pki.cert_id.clone(),
            OcspStatus::Good,
            now() - DAY,
            Some(now() - Duration::from_secs(1)),
        );
        let der = builder()
            .response(spec)
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::Expired { next_update, .. } = &error else {
            panic!("expected Expired, got {error:?}");
        };
        assert_eq!(*next_update, now() - Duration::from_secs(1));
        assert!(
            error.to_string().contains("2025-06-30T23:59:59Z"),
            "{error}"
        );
    }

    #[test]
    fn missing_next_update_uses_max_age() {
        let pki = pki("No Next Update CA");
        let spec =
            SingleResponseSpec::new(pki.cert_id.clone(), OcspStatus::Good, now() - HOUR, None);
        let der = builder()
            .response(spec)
            .build(&pki.ca)
            .expect("response builds");
        let options = OcspOptions {
            max_age_without_next_update: Some(2 * HOUR),
            ..options()
        };

        let verified = verify(&der, &pki, &options).expect("response verifies");

        assert_eq!(verified.next_update(), now() + HOUR);
        assert!(verified.next_update_from_max_age());
    }

    #[test]
    fn missing_next_update_past_max_age() {
        let pki = pki("Old No Next Update CA");
        let spec =
            SingleResponseSpec::new(pki.cert_id.clone(), OcspStatus::Good, now() - DAY, None);
        let der = builder()
            .response(spec)
            .build(&pki.ca)
            .expect("response builds");
        let options = OcspOptions {
            max_age_without_next_update: Some(HOUR),
            ..options()
        };

        let error = expect_error(verify(&der, &pki, &options));

        let OcspError::Expired { next_update, .. } = &error else {
            panic!("expected Expired, got {error:?}");
        };
        assert_eq!(*next_update, now() - DAY + HOUR);
    }

    #[test]
    fn missing_next_update_rejected_by_default() {
        let pki = pki("Strict No Next Update CA");
        let spec =
            SingleResponseSpec::new(pki.cert_id.clone(), OcspStatus::Good, now() - HOUR, None);
        let der = builder()
            .response(spec)
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(
            matches!(error, OcspError::MissingNextUpdate { .. }),
            "{error:?}"
        );
        assert_eq!(error.reason_code(), "ocsp_missing_next_update");
    }

    #[test]
    fn critical_response_extension_rejected() {
        let pki = pki("Critical Extension CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .extension(critical_extension(true))
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::UnknownCriticalExtension { oid, .. } = &error else {
            panic!("expected UnknownCriticalExtension, got {error:?}");
        };
        assert_eq!(oid, "1.3.6.1.4.1.55555.7");
        assert_eq!(error.reason_code(), "ocsp_unknown_critical_extension");
    }

    #[test]
    fn noncritical_extensions_ignored() {
        let pki = pki("Non-critical Extension CA");
        let der = builder()
            .response(good(&pki.cert_id).extension(critical_extension(false)))
            .extension(critical_extension(false))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn critical_single_extension_rejected() {
        let pki = pki("Critical Single Extension CA");
        let der = builder()
            .response(good(&pki.cert_id).extension(critical_extension(true)))
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        let OcspError::UnknownCriticalSingleExtension { oid, serial, .. } = &error else {
            panic!("expected UnknownCriticalSingleExtension, got {error:?}");
        };
        assert_eq!(oid, "1.3.6.1.4.1.55555.7");
        assert_eq!(serial, pki.cert_id.serial_number());
    }

    /// A critical extension in the SingleResponse of another certificate does not change
    /// the status of the requested one.
    #[test]
    fn other_single_extension_ignored() {
        let pki = pki("Other Single Extension CA");
        let other = CertId::new(
            HashAlgorithm::Sha1,
            &pki.ca_cert,
            Serial::from_der_content(&[0x01]),
        );
        let der = builder()
            .response(good(&other).extension(critical_extension(true)))
            .response(good(&pki.cert_id))
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn duplicate_extension_rejected() {
        let pki = pki("Duplicate Extension CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .extension(critical_extension(false))
            .extension(critical_extension(false))
            .build(&pki.ca)
            .expect("response builds");

        let error = expect_error(verify(&der, &pki, &options()));

        assert!(
            matches!(error, OcspError::MalformedExtension { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn echoed_nonce_accepted() {
        let pki = pki("Nonce CA");
        let nonce = [0x3c; 16];
        let der = builder()
            .response(good(&pki.cert_id))
            .nonce(&nonce)
            .build(&pki.ca)
            .expect("response builds");
        let options = OcspOptions {
            nonce: Some(nonce),
            ..options()
        };

        let verified = verify(&der, &pki, &options).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[test]
    fn missing_nonce_rejected() {
        let pki = pki("Missing Nonce CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .build(&pki.ca)
            .expect("response builds");
        let options = OcspOptions {
            nonce: Some([0x3c; 16]),
            ..options()
        };

        let error = expect_error(verify(&der, &pki, &options));

        let OcspError::NonceMissing { sent, .. } = &error else {
            panic!("expected NonceMissing, got {error:?}");
        };
        assert_eq!(sent, &format!("0410{}", "3c".repeat(16)));
        assert_eq!(error.reason_code(), "ocsp_nonce_mismatch");
    }

    #[test]
    fn different_nonce_rejected() {
        let pki = pki("Different Nonce CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .nonce(&[0x4d; 16])
            .build(&pki.ca)
            .expect("response builds");
        let options = OcspOptions {
            nonce: Some([0x3c; 16]),
            ..options()
        };

        let error = expect_error(verify(&der, &pki, &options));

        let OcspError::NonceMismatch { sent, received, .. } = &error else {
            panic!("expected NonceMismatch, got {error:?}");
        };
        assert_eq!(sent, &format!("0410{}", "3c".repeat(16)));
        assert_eq!(received, &format!("0410{}", "4d".repeat(16)));
    }

    /// A responder that serves cached responses may include a nonce of its own or none. Without
    /// a nonce in the request there is nothing to compare.
    #[test]
    fn nonce_ignored_when_not_sent() {
        let pki = pki("Unrequested Nonce CA");
        let der = builder()
            .response(good(&pki.cert_id))
            .nonce(&[0x4d; 16])
            .build(&pki.ca)
            .expect("response builds");

        let verified = verify(&der, &pki, &options()).expect("response verifies");

        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    /// Runs `openssl ocsp` on a response for a leaf of `ca` and returns whether it exited
    /// successfully, with its standard output and error.
    fn openssl_ocsp(ca: &TestCa, leaf_pem: &str, der: &[u8], args: &[&str]) -> (bool, String) {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).expect("write CA");
        std::fs::write(dir.path().join("leaf.pem"), leaf_pem).expect("write leaf");
        std::fs::write(dir.path().join("resp.der"), der).expect("write response");

        let output = std::process::Command::new("openssl")
            .args([
                "ocsp", "-respin", "resp.der", "-issuer", "ca.pem", "-cert", "leaf.pem",
            ])
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// Returns a leaf of `ca` and a response for it, valid around the real current time,
    /// because `openssl ocsp` checks the times against its own clock.
    fn response_for_openssl(
        ca: &TestCa,
        status: OcspStatus,
        signer: &dyn crate::fixtures::OcspSigner,
        certs: &[&[u8]],
    ) -> (String, Vec<u8>) {
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: "openssl leaf".to_owned(),
                serial: vec![0x10, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf is issued");
        let ca_cert = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
        let leaf_cert = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
        let cert_id = CertId::for_certificate(HashAlgorithm::Sha1, &leaf_cert, &ca_cert);

        let real_now = SystemTime::now();
        let mut builder = OcspResponseBuilder::new()
            .produced_at(real_now - HOUR)
            .response(SingleResponseSpec::new(
                cert_id,
                status,
                real_now - HOUR,
                Some(real_now + DAY),
            ));
        for cert in certs {
            builder = builder.cert(cert);
        }
        let der = builder.build(signer).expect("response builds");
        (leaf.cert_pem, der)
    }

    #[test]
    fn openssl_verifies_ca_signed_response() {
        let ca = TestCa::root("OpenSSL CA").expect("test CA");
        let revoked = OcspStatus::Revoked {
            revocation_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_751_328_000),
            reason: Some(RevocationReason::Superseded),
        };
        let (leaf_pem, der) = response_for_openssl(&ca, revoked, &ca, &[]);

        let (verified, text) =
            openssl_ocsp(&ca, &leaf_pem, &der, &["-VAfile", "ca.pem", "-resp_text"]);

        assert!(verified, "{text}");
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains("leaf.pem: revoked"), "{text}");
        assert!(text.contains("Reason: superseded"), "{text}");
        assert!(
            text.contains("Revocation Time: Jul  1 00:00:00 2025 GMT"),
            "{text}"
        );
    }

    #[test]
    fn openssl_verifies_delegate_response() {
        let ca = TestCa::root("OpenSSL Delegating CA").expect("test CA");
        let delegate = ca
            .ocsp_responder(&delegate_spec("OpenSSL responder"))
            .expect("delegate is issued");
        let (leaf_pem, der) =
            response_for_openssl(&ca, OcspStatus::Good, &delegate, &[delegate.cert_der()]);

        let (verified, text) = openssl_ocsp(&ca, &leaf_pem, &der, &["-CAfile", "ca.pem"]);

        assert!(verified, "{text}");
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains("leaf.pem: good"), "{text}");
    }

    /// OpenSSL rejects the delegate without id-kp-OCSPSigning too, confirming the fixture.
    #[test]
    fn openssl_rejects_delegate_without_eku() {
        let ca = TestCa::root("OpenSSL No EKU CA").expect("test CA");
        let spec = ResponderSpec {
            ocsp_signing: false,
            ..delegate_spec("OpenSSL No EKU responder")
        };
        let delegate = ca.ocsp_responder(&spec).expect("delegate is issued");
        let (leaf_pem, der) =
            response_for_openssl(&ca, OcspStatus::Good, &delegate, &[delegate.cert_der()]);

        let (verified, text) = openssl_ocsp(&ca, &leaf_pem, &der, &["-CAfile", "ca.pem"]);

        assert!(!verified, "{text}");
        assert!(text.contains("Response Verify Failure"), "{text}");
    }
}
