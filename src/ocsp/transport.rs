//! Sending OCSP requests over HTTP (RFC 6960 appendix A, RFC 5019 section 5), under the
//! fetcher's timeout and size limit.

use super::{OcspError, OcspRequest};
use crate::source::{Fetcher, HttpBody};

/// Maximum length in bytes of a GET request's URL, scheme and host included. RFC 5019
/// section 5 sends a request whose URL fits by GET and a longer one by POST.
pub const MAX_GET_URL_LENGTH: usize = 255;

const OCSP_REQUEST_MEDIA_TYPE: &str = "application/ocsp-request";
const OCSP_RESPONSE_MEDIA_TYPE: &str = "application/ocsp-response";

/// HTTP method of an OCSP request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestMethod {
    /// POST with the DER request as the body (RFC 6960 appendix A.1).
    Post,
    /// GET with the request in the URL path when the whole URL has at most
    /// [`MAX_GET_URL_LENGTH`] bytes, else POST (RFC 5019 section 5). RFC 5019 prefers GET
    /// because HTTP caches can store its responses.
    #[default]
    Get,
}

/// Sends `request` to the responder at `responder_url` and returns the response body.
///
/// The body is not checked here beyond the size limit. A Content-Type other than
/// `application/ocsp-response` is logged and accepted, because some responders label their
/// responses wrongly and the DER decoder rejects anything that is not a response.
///
/// NOTE: redirects are not followed, so a 3xx response is an [`OcspError::Fetch`] error.
pub async fn send_request(
    fetcher: &Fetcher,
    responder_url: &url::Url,
    request: &OcspRequest,
    method: RequestMethod,
) -> Result<Vec<u8>, OcspError> {
    let get_url = request.get_url(responder_url);
    let use_get = method == RequestMethod::Get && get_url.as_str().len() <= MAX_GET_URL_LENGTH;

    let result = if use_get {
        tracing::debug!(responder_url = %responder_url, "sending OCSP request with GET");
        fetcher.get_body(&get_url).await
    } else {
        tracing::debug!(responder_url = %responder_url, "sending OCSP request with POST");
        fetcher
            .post_body(
                responder_url,
                OCSP_REQUEST_MEDIA_TYPE,
                request.der().to_vec(),
            )
            .await
    };
    let body = result.map_err(|error| OcspError::Fetch {
        responder_url: responder_url.to_string(),
        error,
    })?;

    check_content_type(&body, responder_url);
    Ok(body.bytes)
}

fn check_content_type(body: &HttpBody, responder_url: &url::Url) {
    let media_type = body
        .content_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    let is_ocsp_response = media_type
        .is_some_and(|media_type| media_type.eq_ignore_ascii_case(OCSP_RESPONSE_MEDIA_TYPE));
    if !is_ocsp_response {
        tracing::warn!(
            responder_url = %responder_url,
            content_type = body.content_type.as_deref().unwrap_or("(none)"),
            "OCSP responder answered with a Content-Type other than application/ocsp-response; \
             decoding the body anyway"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::thread::JoinHandle;
    use std::time::{Duration, SystemTime};

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64_STANDARD;

    use super::*;
    use crate::fixtures::{LeafSpec, OcspResponseBuilder, SingleResponseSpec, TestCa};
    use crate::ocsp::{CertId, HashAlgorithm, OcspOptions, OcspStatus, verify_response};
    use crate::source::{FetchError, FetchLimits};
    use crate::x509::ParsedCertificate;

    const TIMEOUT: Duration = Duration::from_secs(5);
    const MAX_SIZE: u64 = 64 * 1024;

    /// Eight 0xff octets contain two whole base64 groups whatever their offset, which encode
    /// as `////`, and eight 0xfb octets encode as `+/v7`, so the GET path carries `//` and `+`.
    const NONCE: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb, 0xfb, 0xfb, 0xfb, 0xfb, 0xfb, 0xfb,
        0xfb,
    ];

    /// One HTTP request as the test server received it.
    #[derive(Clone, Debug)]
    struct ReceivedRequest {
        method: String,
        path: String,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    /// An HTTP server on 127.0.0.1 that records every request and sends the same reply to
    /// each. It stops when dropped.
    struct TestResponder {
        address: SocketAddr,
        received: Arc<Mutex<Vec<ReceivedRequest>>>,
        stopping: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl TestResponder {
        fn start(status_line: &str, content_type: &str, body: &[u8]) -> TestResponder {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address");
            let received = Arc::new(Mutex::new(Vec::new()));
            let stopping = Arc::new(AtomicBool::new(false));

            let mut reply = format!(
                "HTTP/1.1 {status_line}\r\nContent-Type: {content_type}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            reply.extend_from_slice(body);

            let thread = {
                let received = Arc::clone(&received);
                let stopping = Arc::clone(&stopping);
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(mut stream) = stream else { continue };
                        if let Some(request) = read_request(&stream) {
                            received
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(request);
                        }
                        // The client may close early, for example past its size limit.
                        let _ = stream.write_all(&reply);
                    }
                })
            };

            TestResponder {
                address,
                received,
                stopping,
                thread: Some(thread),
            }
        }

        fn url(&self, path: &str) -> url::Url {
            url::Url::parse(&format!("http://{}{path}", self.address)).expect("test URL parses")
        }

        fn received(&self) -> Vec<ReceivedRequest> {
            self.received
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    impl Drop for TestResponder {
        fn drop(&mut self) {
            self.stopping.store(true, Ordering::SeqCst);
            // A connection wakes the accept loop, which then reads `stopping` and returns.
            let _ = TcpStream::connect(self.address);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Reads a request head and a body of Content-Length bytes.
    fn read_request(stream: &TcpStream) -> Option<ReceivedRequest> {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).ok()?;
        let mut parts = request_line.split_whitespace();
        let method = parts.next()?.to_owned();
        let path = parts.next()?.to_owned();

        let mut content_type = None;
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok()?;
            }
        }

        let mut body = vec![0; content_length];
        reader.read_exact(&mut body).ok()?;
        Some(ReceivedRequest {
            method,
            path,
            content_type,
            body,
        })
    }

    fn fetcher(max_size: u64) -> Fetcher {
        Fetcher::new(FetchLimits::simple(TIMEOUT, max_size)).expect("HTTP client is built")
    }

    /// A CA, the CertID of one of its leaves, a request for it and a good response.
    struct Exchange {
        ca_cert: ParsedCertificate,
        request: OcspRequest,
        response: Vec<u8>,
    }

    fn exchange() -> Exchange {
        let ca = TestCa::root("Transport CA").expect("test CA");
        let ca_cert = ParsedCertificate::from_der(ca.cert_der()).expect("CA decodes");
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: "transport leaf".to_owned(),
                serial: vec![0x20, 0x01],
                email: None,
                uri: None,
            })
            .expect("leaf is issued");
        let leaf = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
        let cert_id = CertId::for_certificate(HashAlgorithm::Sha1, &leaf, &ca_cert);
        let request = OcspRequest::new(cert_id.clone(), Some(NONCE)).expect("request");

        let now = SystemTime::now();
        let response = OcspResponseBuilder::new()
            .produced_at(now)
            .response(SingleResponseSpec::new(
                cert_id,
                OcspStatus::Good,
                now,
                Some(now + Duration::from_secs(3600)),
            ))
            .nonce(&NONCE)
            .build(&ca)
            .expect("response builds");
        Exchange {
            ca_cert,
            request,
            response,
        }
    }

    #[tokio::test]
    async fn post_sends_der_request() {
        let exchange = exchange();
        let responder =
            TestResponder::start("200 OK", "application/ocsp-response", &exchange.response);
        let responder_url = responder.url("/ocsp");

        let body = send_request(
            &fetcher(MAX_SIZE),
            &responder_url,
            &exchange.request,
            RequestMethod::Post,
        )
        .await
        .expect("exchange succeeds");

        let received = responder.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].method, "POST");
        assert_eq!(received[0].path, "/ocsp");
        assert_eq!(
            received[0].content_type.as_deref(),
            Some("application/ocsp-request")
        );
        assert_eq!(received[0].body, exchange.request.der());
        assert_eq!(body, exchange.response);

        let options = OcspOptions {
            nonce: exchange.request.nonce().copied(),
            ..OcspOptions::at(SystemTime::now(), Duration::from_secs(300))
        };
        let verified = verify_response(
            &body,
            responder_url.as_str(),
            exchange.request.cert_id(),
            &exchange.ca_cert,
            &options,
        )
        .expect("response verifies");
        assert_eq!(verified.status(), &OcspStatus::Good);
    }

    #[tokio::test]
    async fn get_path_decodes_to_request() {
        let exchange = exchange();
        let responder =
            TestResponder::start("200 OK", "application/ocsp-response", &exchange.response);
        let responder_url = responder.url("/ocsp");

        let body = send_request(
            &fetcher(MAX_SIZE),
            &responder_url,
            &exchange.request,
            RequestMethod::Get,
        )
        .await
        .expect("exchange succeeds");

        let base64_request = BASE64_STANDARD.encode(exchange.request.der());
        assert!(base64_request.contains("//"), "{base64_request}");
        assert!(base64_request.contains('+'), "{base64_request}");
        let received = responder.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].method, "GET");
        assert!(received[0].body.is_empty());
        let segment = received[0]
            .path
            .strip_prefix("/ocsp/")
            .expect("request follows the responder path");
        assert!(!segment.contains('/'), "{segment}");
        let encoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .expect("segment is UTF-8");
        let decoded = BASE64_STANDARD
            .decode(encoded.as_bytes())
            .expect("segment is base64");
        assert_eq!(decoded, exchange.request.der());
        assert_eq!(body, exchange.response);
    }

    /// RFC 5019 section 5 sends a request by GET only when the whole URL fits in 255 bytes.
    #[tokio::test]
    async fn long_get_url_uses_post() {
        let exchange = exchange();
        let responder =
            TestResponder::start("200 OK", "application/ocsp-response", &exchange.response);
        let long_path = format!("/{}", "a".repeat(120));
        let responder_url = responder.url(&long_path);
        assert!(exchange.request.get_url(&responder_url).as_str().len() > MAX_GET_URL_LENGTH);

        send_request(
            &fetcher(MAX_SIZE),
            &responder_url,
            &exchange.request,
            RequestMethod::Get,
        )
        .await
        .expect("exchange succeeds");

        let received = responder.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].method, "POST");
        assert_eq!(received[0].path, long_path);
        assert_eq!(received[0].body, exchange.request.der());
    }

    #[tokio::test]
    async fn other_content_type_accepted() {
        let exchange = exchange();
        let responder = TestResponder::start("200 OK", "text/plain", &exchange.response);

        let body = send_request(
            &fetcher(MAX_SIZE),
            &responder.url("/"),
            &exchange.request,
            RequestMethod::Post,
        )
        .await
        .expect("exchange succeeds");

        assert_eq!(body, exchange.response);
    }

    #[tokio::test]
    async fn oversized_response_rejected() {
        let exchange = exchange();
        let responder =
            TestResponder::start("200 OK", "application/ocsp-response", &exchange.response);
        let limit = 64;

        let error = send_request(
            &fetcher(limit),
            &responder.url("/ocsp"),
            &exchange.request,
            RequestMethod::Post,
        )
        .await
        .expect_err("response exceeds the limit");

        assert!(
            matches!(
                error,
                OcspError::Fetch {
                    error: FetchError::TooLarge { limit: 64, .. },
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(error.reason_code(), "ocsp_fetch_failed");
    }

    #[tokio::test]
    async fn http_error_status_rejected() {
        let exchange = exchange();
        let responder = TestResponder::start("503 Service Unavailable", "text/plain", b"busy");
        let responder_url = responder.url("/ocsp");

        let error = send_request(
            &fetcher(MAX_SIZE),
            &responder_url,
            &exchange.request,
            RequestMethod::Get,
        )
        .await
        .expect_err("503 is an error");

        assert!(
            matches!(
                error,
                OcspError::Fetch {
                    error: FetchError::Status { status: 503, .. },
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains(responder_url.as_str()),
            "{error}"
        );
    }
}
