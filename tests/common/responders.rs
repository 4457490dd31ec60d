//! Minimal HTTP/1.1 servers on 127.0.0.1, each on its own thread: one that returns the same
//! body for every request (an OCSP responder, or a CRL distribution point) and one that echoes
//! the request headers it receives (the application behind nginx).
//!
//! Both serve one request per connection and then close it. Their threads end with the test
//! process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// An HTTP responder that sends the same body for every request, whatever its path, until
/// the test replaces the body, and counts the requests.
pub struct FixedResponder {
    pub url: String,
    requests: Arc<AtomicUsize>,
    body: Arc<Mutex<Arc<Vec<u8>>>>,
}

impl FixedResponder {
    /// Starts serving `body` as `content_type` on an OS-chosen port.
    pub fn start(body: Vec<u8>, content_type: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind responder");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(Arc::new(body)));
        let counter = Arc::clone(&requests);
        let current_body = Arc::clone(&body);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                if read_request(&stream).is_some() {
                    let body =
                        Arc::clone(&current_body.lock().unwrap_or_else(PoisonError::into_inner));
                    write_response(stream, content_type, &body);
                }
            }
        });
        Self {
            url,
            requests,
            body,
        }
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Serves `body` from the next request on.
    pub fn replace_body(&self, body: Vec<u8>) {
        *self.body.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(body);
    }
}

/// One request as the echo backend received it.
#[derive(Clone, Debug)]
pub struct EchoedRequest {
    pub method: String,
    pub target: String,
    /// Header names and values in the order received, names exactly as sent.
    pub headers: Vec<(String, String)>,
}

impl EchoedRequest {
    /// Returns the values of every header named `name`, compared without regard to case.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// An application stand-in that responds 200 with a JSON body describing the request it
/// received (`{"method", "target", "headers": [[name, value], ...]}`) and keeps every request
/// for later inspection.
pub struct EchoBackend {
    pub address: SocketAddr,
    requests: Arc<Mutex<Vec<EchoedRequest>>>,
}

impl EchoBackend {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo backend");
        let address = listener.local_addr().expect("address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || echo(stream, &log));
            }
        });
        Self { address, requests }
    }

    /// Returns every request received so far whose target starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<EchoedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|request| request.target.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn echo(stream: TcpStream, log: &Mutex<Vec<EchoedRequest>>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let body = serde_json::json!({
        "method": request.method,
        "target": request.target,
        "headers": request.headers,
    })
    .to_string();
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
    write_response(stream, "application/json", body.as_bytes());
}

/// Reads one request head and its `Content-Length` body. Returns `None` when the peer closes
/// the connection or sends something that is not an HTTP/1.x request head.
fn read_request(stream: &TcpStream) -> Option<EchoedRequest> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();

    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }

    let content_length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).ok()?;

    Some(EchoedRequest {
        method,
        target,
        headers,
    })
}

fn write_response(mut stream: TcpStream, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}
