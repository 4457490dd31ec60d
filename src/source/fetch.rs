//! Fetching source bodies over HTTP(S) and from files, under a timeout and a size limit.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::Source;

/// Errors from fetching a source body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("fetching {source_name} failed: {detail}")]
    Http { source_name: String, detail: String },

    #[error("fetching {source_name} timed out after {}", humantime::format_duration(*timeout))]
    Timeout {
        source_name: String,
        timeout: Duration,
    },

    #[error("{source_name} answered HTTP {status}; expected 200")]
    Status { source_name: String, status: u16 },

    #[error(
        "{source_name} is larger than the limit of {limit} bytes; raise fetch.max_size if the \
         CRL or OCSP response is really this large"
    )]
    TooLarge { source_name: String, limit: u64 },

    #[error("cannot read {source_name}: {error}")]
    File {
        source_name: String,
        error: std::io::Error,
    },

    #[error(
        "{source_name} redirected to {location}, whose host is not allowed for this CA; add \
         the host to the CA's allowed_hosts if the redirect is expected"
    )]
    RedirectNotAllowed {
        source_name: String,
        location: String,
    },

    #[error(
        "{source_name} redirected more than {limit} times; raise fetch.max_redirects or fix the URL"
    )]
    TooManyRedirects { source_name: String, limit: u8 },

    #[error("{source_name} answered a redirect without a valid Location header")]
    BadRedirect { source_name: String },

    #[error(
        "fetching {source_name} took longer than the deadline of {}, redirects included",
        humantime::format_duration(*deadline)
    )]
    DeadlineExceeded {
        source_name: String,
        deadline: Duration,
    },
}

impl FetchError {
    /// Returns a short, stable reason code for log lines.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Http { .. } => "fetch_failed",
            Self::Timeout { .. } => "fetch_timeout",
            Self::Status { .. } => "fetch_http_status",
            Self::TooLarge { .. } => "fetch_too_large",
            Self::File { .. } => "fetch_file_unreadable",
            Self::RedirectNotAllowed { .. } => "fetch_redirect_not_allowed",
            Self::TooManyRedirects { .. } => "fetch_too_many_redirects",
            Self::BadRedirect { .. } => "fetch_bad_redirect",
            Self::DeadlineExceeded { .. } => "fetch_deadline_exceeded",
        }
    }
}

/// HTTP validators of a body fetched before (RFC 9110 section 8.8), sent back so that an
/// unchanged CRL is answered with 304 Not Modified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// The result of a conditional fetch.
#[derive(Debug)]
pub enum Fetched {
    /// A new body, with the validators to send next time.
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
    /// The source returned 304: the body fetched before is still current.
    NotModified,
}

/// A 200 response's body with its Content-Type header, from [`Fetcher::get_body`] or
/// [`Fetcher::post_body`].
#[derive(Debug)]
pub struct HttpBody {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// Limits that apply to every fetch.
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    /// Deadline for one HTTP request, from connecting to the last body byte.
    pub timeout: Duration,
    /// Deadline for a whole fetch, redirects included.
    pub deadline: Duration,
    /// Largest body accepted, in bytes.
    pub max_size: u64,
    /// Redirects followed per fetch, each only to an allowed host.
    pub max_redirects: u8,
}

impl FetchLimits {
    /// Limits with a deadline of the timeout and no redirects.
    pub fn simple(timeout: Duration, max_size: u64) -> Self {
        Self {
            timeout,
            deadline: timeout,
            max_size,
            max_redirects: 0,
        }
    }
}

/// Fetches source bodies. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

impl Fetcher {
    /// Builds a fetcher. Its HTTP client follows no redirect by itself: [`Fetcher::fetch_from`]
    /// follows each one only after checking its host.
    pub fn new(limits: FetchLimits) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Proxy variables are ignored so that a fetch goes only to the configured host.
            .no_proxy()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            .user_agent(concat!("revcheck/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, limits })
    }

    /// Fetches `source`, following redirects only to the source's own host or to one of
    /// `allowed_hosts`, and sending `validators` so that an unchanged body answers 304.
    pub async fn fetch_from(
        &self,
        source: &Source,
        allowed_hosts: &[String],
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let Source::Http(url) = source else {
            let bytes = self.fetch(source).await?;
            return Ok(Fetched::Body {
                bytes,
                validators: Validators::default(),
            });
        };

        let fetch = self.fetch_following(url, source, allowed_hosts, validators);
        match tokio::time::timeout(self.limits.deadline, fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::DeadlineExceeded {
                source_name: source.to_string(),
                deadline: self.limits.deadline,
            }),
        }
    }

    async fn fetch_following(
        &self,
        url: &url::Url,
        source: &Source,
        allowed_hosts: &[String],
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let source_name = source.to_string();
        let mut current = url.clone();
        let mut redirects = 0;
        loop {
            let mut request = self.client.get(current.clone());
            if let Some(etag) = &validators.etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = &validators.last_modified {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, last_modified);
            }
            let response = request
                .send()
                .await
                .map_err(|error| self.http_error(&source_name, &error))?;

            let status = response.status();
            if status == reqwest::StatusCode::NOT_MODIFIED && !validators.is_empty() {
                return Ok(Fetched::NotModified);
            }
            // A 304 to a request without validators is a server error, not a redirect.
            if !status.is_redirection() || status == reqwest::StatusCode::NOT_MODIFIED {
                let validators = Validators {
                    etag: header_text(&response, reqwest::header::ETAG),
                    last_modified: strong_last_modified(&response),
                };
                let bytes = self.read_body(response, &source_name).await?;
                return Ok(Fetched::Body { bytes, validators });
            }

            if redirects >= self.limits.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    source_name,
                    limit: self.limits.max_redirects,
                });
            }
            redirects += 1;
            current = redirect_target(&response, &current, url, allowed_hosts, &source_name)?;
            tracing::debug!(source = %source_name, location = %current, "following redirect");
        }
    }

    /// Reads the whole body of `source`, following no redirect.
    pub async fn fetch(&self, source: &Source) -> Result<Vec<u8>, FetchError> {
        match source {
            Source::Http(url) => {
                let fetch = self.fetch_http(url, source);
                match tokio::time::timeout(self.limits.timeout, fetch).await {
                    Ok(result) => result,
                    Err(_) => Err(FetchError::Timeout {
                        source_name: source.to_string(),
                        timeout: self.limits.timeout,
                    }),
                }
            }
            Source::File(path) => self.read_file(path, source).await,
        }
    }

    /// Sends a GET to `url` and reads the body of a 200 response, under the timeout and the
    /// size limit. Redirects are not followed: a 3xx is a [`FetchError::Status`].
    pub async fn get_body(&self, url: &url::Url) -> Result<HttpBody, FetchError> {
        self.exchange(self.client.get(url.clone()), url).await
    }

    /// Sends a POST of `body` with `content_type` to `url` and reads the body of a 200
    /// response, under the timeout and the size limit, following no redirect.
    pub async fn post_body(
        &self,
        url: &url::Url,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<HttpBody, FetchError> {
        let request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        self.exchange(request, url).await
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        url: &url::Url,
    ) -> Result<HttpBody, FetchError> {
        let source_name = url.to_string();
        let send_and_read = async {
            let response = request
                .send()
                .await
                .map_err(|error| self.http_error(&source_name, &error))?;
            let content_type = header_text(&response, reqwest::header::CONTENT_TYPE);
            let bytes = self.read_body(response, &source_name).await?;
            Ok(HttpBody {
                bytes,
                content_type,
            })
        };
        match tokio::time::timeout(self.limits.timeout, send_and_read).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                source_name,
                timeout: self.limits.timeout,
            }),
        }
    }

    async fn fetch_http(&self, url: &url::Url, source: &Source) -> Result<Vec<u8>, FetchError> {
        let source_name = source.to_string();
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|error| self.http_error(&source_name, &error))?;
        self.read_body(response, &source_name).await
    }

    fn http_error(&self, source_name: &str, error: &reqwest::Error) -> FetchError {
        if error.is_timeout() {
            FetchError::Timeout {
                source_name: source_name.to_owned(),
                timeout: self.limits.timeout,
            }
        } else {
            FetchError::Http {
                source_name: source_name.to_owned(),
                detail: error_chain(error),
            }
        }
    }

    /// Reads a 200 response's body up to the size limit.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        source_name: &str,
    ) -> Result<Vec<u8>, FetchError> {
        let source_name = source_name.to_owned();
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                source_name,
                status: response.status().as_u16(),
            });
        }

        let too_large = || FetchError::TooLarge {
            source_name: source_name.clone(),
            limit: self.limits.max_size,
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.limits.max_size)
        {
            return Err(too_large());
        }

        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.http_error(&source_name, &error))?
        {
            if (body.len() + chunk.len()) as u64 > self.limits.max_size {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn read_file(
        &self,
        path: &std::path::Path,
        source: &Source,
    ) -> Result<Vec<u8>, FetchError> {
        let file_error = |error| FetchError::File {
            source_name: source.to_string(),
            error,
        };
        let too_large = || FetchError::TooLarge {
            source_name: source.to_string(),
            limit: self.limits.max_size,
        };

        let metadata = tokio::fs::metadata(path).await.map_err(file_error)?;
        if metadata.len() > self.limits.max_size {
            return Err(too_large());
        }

        // The length in the metadata does not bound the read, because a file can grow after it
        // was checked and a FIFO or a device such as /dev/zero reports 0. Reading at most one
        // byte past the limit detects both without buffering more.
        let file = tokio::fs::File::open(path).await.map_err(file_error)?;
        let mut body = Vec::new();
        file.take(self.limits.max_size.saturating_add(1))
            .read_to_end(&mut body)
            .await
            .map_err(file_error)?;
        if body.len() as u64 > self.limits.max_size {
            return Err(too_large());
        }
        Ok(body)
    }
}

fn header_text(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Returns Last-Modified when it can tell versions apart. A time in the same second as the
/// response's Date may be shared by two versions written within that second, so RFC 9110
/// section 8.8.2.2 treats it as weak, and sending it back could get a 304 for a newer CRL.
fn strong_last_modified(response: &reqwest::Response) -> Option<String> {
    let last_modified = header_text(response, reqwest::header::LAST_MODIFIED)?;
    let date = header_text(response, reqwest::header::DATE)?;
    let modified_at = httpdate::parse_http_date(&last_modified).ok()?;
    let answered_at = httpdate::parse_http_date(&date).ok()?;
    let strong = answered_at
        .duration_since(modified_at)
        .is_ok_and(|age| age >= Duration::from_secs(1));
    strong.then_some(last_modified)
}

/// Resolves a redirect's Location against `current` and checks that its host is the original
/// URL's host or one of `allowed_hosts`, over http or https.
fn redirect_target(
    response: &reqwest::Response,
    current: &url::Url,
    original: &url::Url,
    allowed_hosts: &[String],
    source_name: &str,
) -> Result<url::Url, FetchError> {
    let bad_redirect = || FetchError::BadRedirect {
        source_name: source_name.to_owned(),
    };
    let location = header_text(response, reqwest::header::LOCATION).ok_or_else(bad_redirect)?;
    let target = current.join(&location).map_err(|_| bad_redirect())?;

    let allowed = redirect_allowed(original, &target, allowed_hosts);
    if !allowed {
        return Err(FetchError::RedirectNotAllowed {
            source_name: source_name.to_owned(),
            location: target.to_string(),
        });
    }
    Ok(target)
}

/// Checks a redirect target: http or https, never from https down to http, and to the
/// original URL's host or one of `allowed_hosts`.
fn redirect_allowed(original: &url::Url, target: &url::Url, allowed_hosts: &[String]) -> bool {
    let scheme_allowed = match (original.scheme(), target.scheme()) {
        ("https", scheme) => scheme == "https",
        (_, scheme) => matches!(scheme, "http" | "https"),
    };
    let host = target.host_str().unwrap_or_default();
    scheme_allowed
        && (Some(host) == original.host_str()
            || allowed_hosts
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(host)))
}

/// Joins an error and its sources, since reqwest's own message omits the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError, mpsc};
    use std::thread::JoinHandle;

    use super::*;

    const MAX_SIZE: u64 = 1024;

    /// Short so that the timeout tests finish quickly. The tests assert the error kind, never
    /// the elapsed time.
    const TIMEOUT: Duration = Duration::from_millis(300);

    fn fetcher() -> Fetcher {
        Fetcher::new(FetchLimits::simple(TIMEOUT, MAX_SIZE)).expect("HTTP client is built")
    }

    /// Describes a fetch result without printing a whole body.
    fn describe(result: &Result<Vec<u8>, FetchError>) -> String {
        match result {
            Ok(body) => format!("Ok({} bytes)", body.len()),
            Err(error) => format!("Err({error:?})"),
        }
    }

    /// Raw bytes that the test server sends after reading a request head.
    enum Reply {
        /// Sends these bytes and closes the connection.
        Complete(Vec<u8>),
        /// Sends these bytes and keeps the connection open, without sending more, until the
        /// server stops.
        Stall(Vec<u8>),
    }

    /// An HTTP server on 127.0.0.1 that sends the same raw reply to every request. It serves
    /// one connection at a time and stops, closing every connection, when dropped.
    struct TestServer {
        address: SocketAddr,
        request_lines: Arc<Mutex<Vec<String>>>,
        stopping: Arc<AtomicBool>,
        /// Dropped to release a stalled reply.
        release: Option<mpsc::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    }

    impl TestServer {
        fn start(reply: Reply) -> TestServer {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address");
            let request_lines = Arc::new(Mutex::new(Vec::new()));
            let stopping = Arc::new(AtomicBool::new(false));
            let (release, released) = mpsc::channel::<()>();

            let thread = {
                let request_lines = Arc::clone(&request_lines);
                let stopping = Arc::clone(&stopping);
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(mut stream) = stream else { continue };
                        let request_line = read_request_head(&mut stream);
                        request_lines
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(request_line);

                        // Write errors are ignored because a client that rejects a body early
                        // closes the connection while the server is still writing.
                        match &reply {
                            Reply::Complete(bytes) => {
                                let _ = stream.write_all(bytes);
                            }
                            Reply::Stall(bytes) => {
                                let _ = stream.write_all(bytes);
                                let _ = stream.flush();
                                // Returns once the sender is dropped, when the server stops.
                                let _ = released.recv();
                            }
                        }
                    }
                })
            };

            TestServer {
                address,
                request_lines,
                stopping,
                release: Some(release),
                thread: Some(thread),
            }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.address)
        }

        fn source(&self, path: &str) -> Source {
            Source::Http(url::Url::parse(&self.url(path)).expect("test URL parses"))
        }

        /// Returns the request line of every request received so far.
        fn request_lines(&self) -> Vec<String> {
            self.request_lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.stopping.store(true, Ordering::SeqCst);
            drop(self.release.take());
            // A connection wakes the accept loop, which then reads `stopping` and returns.
            let _ = TcpStream::connect(self.address);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Reads up to the blank line that ends a request head and returns the request line.
    fn read_request_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0_u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        let text = String::from_utf8_lossy(&head);
        text.lines().next().unwrap_or_default().to_owned()
    }

    fn response_with_length(status_line: &str, body: &[u8]) -> Vec<u8> {
        let mut response = format!(
            "HTTP/1.1 {status_line}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(body);
        response
    }

    #[tokio::test]
    async fn http_200_returns_exact_body() {
        let body: Vec<u8> = (0..=255_u8).cycle().take(1000).collect();
        let server = TestServer::start(Reply::Complete(response_with_length("200 OK", &body)));

        let result = fetcher().fetch(&server.source("/ca.crl")).await;

        match result {
            Ok(fetched) => assert!(
                fetched == body,
                "body differs: fetched {} bytes, served {} bytes",
                fetched.len(),
                body.len()
            ),
            Err(error) => panic!("fetch failed: {error}"),
        }
        assert_eq!(server.request_lines(), ["GET /ca.crl HTTP/1.1"]);
    }

    #[tokio::test]
    async fn http_body_at_limit_accepted() {
        let body = vec![0x30; 1024];
        let server = TestServer::start(Reply::Complete(response_with_length("200 OK", &body)));

        let result = fetcher().fetch(&server.source("/ca.crl")).await;

        let fetched_length = result.as_ref().map(Vec::len).ok();
        assert_eq!(fetched_length, Some(1024), "result: {}", describe(&result));
    }

    #[tokio::test]
    async fn http_content_length_over_limit() {
        let body = vec![0x30; 4096];
        let server = TestServer::start(Reply::Complete(response_with_length("200 OK", &body)));
        let url = server.url("/big.crl");

        let result = fetcher().fetch(&server.source("/big.crl")).await;

        match &result {
            Err(FetchError::TooLarge { source_name, limit }) => {
                assert_eq!(source_name, &url);
                assert_eq!(*limit, MAX_SIZE);
            }
            _ => panic!("expected TooLarge, got {}", describe(&result)),
        }
    }

    /// A server may stream a body without Content-Length, so the limit must also hold while
    /// reading. The chunked encoding here splits 4096 bytes into chunks of 512.
    #[tokio::test]
    async fn http_chunked_body_over_limit() {
        let mut response =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for _ in 0..8 {
            response.extend_from_slice(b"200\r\n");
            response.extend_from_slice(&[0x30; 512]);
            response.extend_from_slice(b"\r\n");
        }
        response.extend_from_slice(b"0\r\n\r\n");
        let server = TestServer::start(Reply::Complete(response));

        let result = fetcher().fetch(&server.source("/big.crl")).await;

        assert!(
            matches!(
                result,
                Err(FetchError::TooLarge {
                    limit: MAX_SIZE,
                    ..
                })
            ),
            "expected TooLarge, got {}",
            describe(&result)
        );
    }

    /// An HTTP/1.0 body without Content-Length ends when the server closes the connection.
    #[tokio::test]
    async fn http_close_delimited_body_over_limit() {
        let mut response =
            b"HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n\r\n".to_vec();
        response.extend_from_slice(&[0x30; 4096]);
        let server = TestServer::start(Reply::Complete(response));

        let result = fetcher().fetch(&server.source("/big.crl")).await;

        assert!(
            matches!(
                result,
                Err(FetchError::TooLarge {
                    limit: MAX_SIZE,
                    ..
                })
            ),
            "expected TooLarge, got {}",
            describe(&result)
        );
    }

    #[tokio::test]
    async fn http_404_is_status_error() {
        let server = TestServer::start(Reply::Complete(response_with_length(
            "404 Not Found",
            b"not found",
        )));
        let url = server.url("/missing.crl");

        let result = fetcher().fetch(&server.source("/missing.crl")).await;

        match &result {
            Err(
                error @ FetchError::Status {
                    source_name,
                    status,
                },
            ) => {
                assert_eq!(*status, 404);
                assert_eq!(source_name, &url);
                let message = error.to_string();
                assert!(message.contains("404"), "message: {message}");
            }
            _ => panic!("expected Status 404, got {}", describe(&result)),
        }
    }

    /// Following a redirect could fetch from a host that is not configured, so a 3xx is an
    /// error.
    #[tokio::test]
    async fn http_redirect_not_followed() {
        // A relative Location points back at the same server, which records every request.
        let response = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere.crl\r\nContent-Length: 0\r\n\
                         Connection: close\r\n\r\n";
        let server = TestServer::start(Reply::Complete(response.to_vec()));

        let result = fetcher().fetch(&server.source("/moved.crl")).await;

        assert!(
            matches!(result, Err(FetchError::Status { status: 302, .. })),
            "expected Status 302, got {}",
            describe(&result)
        );
        assert_eq!(server.request_lines(), ["GET /moved.crl HTTP/1.1"]);
    }

    /// The server sends the head and part of the body, then nothing more.
    #[tokio::test]
    async fn http_stalled_body_times_out() {
        let mut response =
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n".to_vec();
        response.extend_from_slice(&[0x30; 10]);
        let server = TestServer::start(Reply::Stall(response));
        let url = server.url("/slow.crl");

        let result = fetcher().fetch(&server.source("/slow.crl")).await;

        match &result {
            Err(FetchError::Timeout {
                source_name,
                timeout,
            }) => {
                assert_eq!(source_name, &url);
                assert_eq!(*timeout, TIMEOUT);
            }
            _ => panic!("expected Timeout, got {}", describe(&result)),
        }
    }

    /// The server reads the request and never responds.
    #[tokio::test]
    async fn http_no_response_times_out() {
        let server = TestServer::start(Reply::Stall(Vec::new()));

        let result = fetcher().fetch(&server.source("/silent.crl")).await;

        assert!(
            matches!(result, Err(FetchError::Timeout { .. })),
            "expected Timeout, got {}",
            describe(&result)
        );
    }

    fn file_source(path: &Path) -> Source {
        Source::File(path.to_owned())
    }

    #[tokio::test]
    async fn file_returns_exact_bytes() {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        let path = dir.path().join("ca.crl");
        let body: Vec<u8> = (0..=255_u8).cycle().take(1024).collect();
        std::fs::write(&path, &body).expect("CRL file is written");

        let result = fetcher().fetch(&file_source(&path)).await;

        match result {
            Ok(fetched) => assert!(fetched == body, "file body differs from what was written"),
            Err(error) => panic!("reading {} failed: {error}", path.display()),
        }
    }

    #[tokio::test]
    async fn file_over_limit() {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        let path = dir.path().join("big.crl");
        std::fs::write(&path, vec![0x30; 4096]).expect("CRL file is written");

        let result = fetcher().fetch(&file_source(&path)).await;

        match &result {
            Err(FetchError::TooLarge { source_name, limit }) => {
                assert_eq!(source_name, &format!("file:{}", path.display()));
                assert_eq!(*limit, MAX_SIZE);
            }
            _ => panic!("expected TooLarge, got {}", describe(&result)),
        }
    }

    #[tokio::test]
    async fn missing_file_names_path() {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        let path = dir.path().join("missing.crl");

        let result = fetcher().fetch(&file_source(&path)).await;

        match &result {
            Err(
                error @ FetchError::File {
                    error: io_error, ..
                },
            ) => {
                assert_eq!(io_error.kind(), std::io::ErrorKind::NotFound);
                let message = error.to_string();
                assert!(
                    message.contains(&path.display().to_string()),
                    "message does not name {}: {message}",
                    path.display()
                );
            }
            _ => panic!("expected a File error, got {}", describe(&result)),
        }
    }

    /// A writer of a named pipe (FIFO) on its own thread. Dropping it releases a writer still
    /// waiting for a reader, and joins the thread.
    struct FifoWriter {
        path: PathBuf,
        thread: Option<JoinHandle<()>>,
    }

    impl FifoWriter {
        /// Creates a FIFO at `path` with `mkfifo` and starts a thread that writes `body` into
        /// it once a reader opens it, then closes it.
        fn start(path: &Path, body: Vec<u8>) -> FifoWriter {
            let status = std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .expect("mkfifo runs");
            assert!(
                status.success(),
                "mkfifo {} failed: {status}",
                path.display()
            );

            let writer_path = path.to_owned();
            let thread = std::thread::spawn(move || {
                // Opening for writing blocks until a reader opens the FIFO.
                if let Ok(mut fifo) = OpenOptions::new().write(true).open(&writer_path) {
                    // A reader that stops at the limit closes its end early, so the write may
                    // fail with a broken pipe.
                    let _ = fifo.write_all(&body);
                }
            });
            FifoWriter {
                path: path.to_owned(),
                thread: Some(thread),
            }
        }
    }

    impl Drop for FifoWriter {
        fn drop(&mut self) {
            // On Linux, opening a FIFO for reading and writing does not block, and it counts
            // as a reader, so a writer still blocked in open() continues.
            let release = OpenOptions::new().read(true).write(true).open(&self.path);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
            drop(release);
        }
    }

    /// A FIFO reports a length of 0 in its metadata, so the limit must hold while reading, as
    /// it must for a file that grows after its metadata was read.
    #[tokio::test]
    async fn fifo_over_limit() {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        let path = dir.path().join("crl.fifo");
        let _writer = FifoWriter::start(&path, vec![0x30; 2048]);

        let result = fetcher().fetch(&file_source(&path)).await;

        assert!(
            matches!(
                result,
                Err(FetchError::TooLarge {
                    limit: MAX_SIZE,
                    ..
                })
            ),
            "expected TooLarge, got {}",
            describe(&result)
        );
    }

    #[test]
    fn redirect_rules() {
        let url = |text: &str| url::Url::parse(text).expect("test URL");
        let allowed = ["mirror.example.test".to_owned()];
        let cases = [
            (
                "http://crl.example.test/a",
                "http://crl.example.test:8080/b",
                true,
            ),
            (
                "http://crl.example.test/a",
                "https://crl.example.test/b",
                true,
            ),
            (
                "http://crl.example.test/a",
                "http://MIRROR.example.test/b",
                true,
            ),
            (
                "http://crl.example.test/a",
                "http://other.example.test/b",
                false,
            ),
            (
                "https://crl.example.test/a",
                "http://crl.example.test/b",
                false,
            ),
            (
                "https://crl.example.test/a",
                "https://mirror.example.test/b",
                true,
            ),
            (
                "http://crl.example.test/a",
                "ftp://crl.example.test/b",
                false,
            ),
        ];
        for (original, target, expected) in cases {
            assert_eq!(
                redirect_allowed(&url(original), &url(target), &allowed),
                expected,
                "{original} -> {target}"
            );
        }
    }
}
