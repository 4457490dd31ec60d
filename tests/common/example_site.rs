//! The example nginx sites of `config/nginx/`, run by nginx from a test's directory, and curl
//! as their TLS client.
//!
//! A site runs unchanged except for its paths and ports, which [`instantiate`] replaces.

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType};
use revcheck::fixtures::{LeafSpec, TestCa, TestLeaf};

use super::nginx::{NginxPrefix, NginxProcess, free_port};
use super::{path_text, poll_until, run, write_private};

const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/nginx");
const IDENTITY_SNIPPET: &str = "snippets/revcheck-identity.conf";

/// The `server_name` of the example sites, which the server certificate names.
pub const SERVER_NAME: &str = "app.example.test";

/// Attempts to start nginx, each on a newly chosen port, before the test gives up.
const NGINX_START_ATTEMPTS: usize = 3;

/// One of the example sites in `config/nginx/`.
#[derive(Clone, Copy, Debug)]
pub enum Example {
    /// `mtls-app.conf`: nginx verifies the chain (`ssl_verify_client on`).
    VerifyOn,
    /// `mtls-app-self-verify.conf`: revcheck verifies the chain (`optional_no_ca`).
    SelfVerify,
}

impl Example {
    fn file_name(self) -> &'static str {
        match self {
            Example::VerifyOn => "mtls-app.conf",
            Example::SelfVerify => "mtls-app-self-verify.conf",
        }
    }

    /// Returns the `[auth] verification` value that revcheck needs behind this site.
    pub fn verification(self) -> &'static str {
        match self {
            Example::VerifyOn => "proxy",
            Example::SelfVerify => "self",
        }
    }
}

/// The site's own TLS identity: a CA, and the server certificate for [`SERVER_NAME`] that it
/// issued. curl trusts the CA.
pub struct ServerTls {
    pub ca: TestCa,
    pub certificate: TestLeaf,
}

impl ServerTls {
    pub fn generate() -> ServerTls {
        let ca = TestCa::root("revcheck nginx test server CA").expect("server CA");
        let spec = LeafSpec {
            common_name: SERVER_NAME.to_owned(),
            serial: vec![0x01],
            email: None,
            uri: None,
        };
        let certificate = ca
            .leaf_with(&spec, |params| {
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                params.subject_alt_names = vec![SanType::DnsName(
                    SERVER_NAME.try_into().expect("server name is an IA5String"),
                )];
            })
            .expect("server certificate");
        ServerTls { ca, certificate }
    }

    /// Writes the server certificate and key where the site reads them,
    /// `etc/nginx/tls/server.pem` and `server.key` under `work`, and the CA certificate to
    /// `ca_path` for curl.
    pub fn write(&self, work: &Path, ca_path: &Path) {
        let tls_dir = work.join("etc/nginx/tls");
        fs::create_dir_all(&tls_dir).expect("TLS directory is created");
        fs::write(ca_path, self.ca.cert_pem()).expect("server CA is written");
        fs::write(tls_dir.join("server.pem"), &self.certificate.cert_pem)
            .expect("server certificate");
        write_private(&tls_dir.join("server.key"), &self.certificate.key_pem);
    }
}

/// nginx running one of the example sites.
#[derive(Debug)]
pub struct ExampleSite {
    pub prefix: NginxPrefix,
    pub nginx: NginxProcess,
    /// The site's TLS address on 127.0.0.1.
    pub address: SocketAddr,
}

impl ExampleSite {
    /// Writes the site with its paths and ports replaced, the identity snippet and the secret
    /// file under `work`, and starts nginx on a free port of 127.0.0.1. `upstream revcheck`
    /// points at `revcheck` and `upstream app` at `app`.
    ///
    /// The site reads its TLS files from `work/etc/nginx/tls/`: `server.pem` and `server.key`
    /// (see [`ServerTls::write`]) and, for [`Example::VerifyOn`], `client-cas.pem`.
    pub fn start(
        example: Example,
        work: &Path,
        revcheck: SocketAddr,
        app: SocketAddr,
        proxy_secret: &str,
    ) -> ExampleSite {
        let etc = work.join("etc/nginx");
        fs::create_dir_all(etc.join("snippets")).expect("snippets directory");
        fs::create_dir_all(etc.join("sites-enabled")).expect("sites directory");
        let prefix = NginxPrefix::create(&work.join("nginx"));

        let snippet = read_example(IDENTITY_SNIPPET);
        fs::write(etc.join(IDENTITY_SNIPPET), snippet).expect("snippet is written");
        // Readable only by root, which runs nginx's master process, as docs/nginx.md describes
        // for operators.
        write_private(
            &etc.join("revcheck-secret.conf"),
            &format!("proxy_set_header X-Revcheck-Secret \"{proxy_secret}\";\n"),
        );

        let example_text = read_example(example.file_name());
        let site = etc.join("sites-enabled/site.conf");
        let main_config = prefix.write_main_config(&site);
        let mut last_error = String::new();
        for _ in 0..NGINX_START_ATTEMPTS {
            let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let text = instantiate(&example_text, work, address, revcheck, app);
            fs::write(&site, text).expect("site is written");
            match NginxProcess::start(&prefix, &main_config, address) {
                Ok(nginx) => {
                    return ExampleSite {
                        prefix,
                        nginx,
                        address,
                    };
                }
                Err(error) if error.contains("Address already in use") => last_error = error,
                Err(error) => panic!("{error}"),
            }
        }
        panic!(
            "nginx could not bind a free port in {NGINX_START_ATTEMPTS} attempts:\n{last_error}"
        );
    }

    /// Returns the access log line of the request whose request line is `request_line`, such
    /// as `GET /case/good HTTP/1.1`. nginx writes it after it sends the response, so it may
    /// appear a moment after curl returns.
    pub fn access_log_entry(&self, request_line: &str) -> AccessLogEntry {
        let log_path = self.access_log_path();
        let quoted = format!("\"{request_line}\"");
        poll_until(&format!("the access log line of {request_line}"), || {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            log.lines()
                .find(|line| line.contains(&quoted))
                .map(|line| AccessLogEntry(line.to_owned()))
                .ok_or(log)
        })
    }

    fn access_log_path(&self) -> PathBuf {
        let site_log = fs::read_dir(self.prefix.dir.join("log"))
            .expect("nginx log directory is read")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path_text(path).ends_with(".access.log"));
        site_log.expect("the example site writes an .access.log file")
    }
}

fn read_example(name: &str) -> String {
    let path = Path::new(CONFIG_DIR).join(name);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Replaces the example's literal paths and ports with the test's. Every literal must occur,
/// so that a change to the example cannot leave a production path or port in the test run.
fn instantiate(
    example: &str,
    work: &Path,
    listen: SocketAddr,
    revcheck: SocketAddr,
    app: SocketAddr,
) -> String {
    let work = path_text(work);
    let replacements = [
        ("listen 443 ssl;", format!("listen {listen} ssl;")),
        ("server 127.0.0.1:8480;", format!("server {revcheck};")),
        ("server 127.0.0.1:8000;", format!("server {app};")),
        ("/etc/nginx/", format!("{work}/etc/nginx/")),
        ("/var/log/nginx/", format!("{work}/nginx/log/")),
    ];
    let mut text = example.to_owned();
    for (literal, replacement) in replacements {
        assert!(
            text.contains(literal),
            "the example no longer contains {literal:?}; update the test's replacements"
        );
        text = text.replace(literal, &replacement);
    }
    text
}

/// An HTTP response as curl received it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {}\n{}\n\n{}", self.status, self.head, self.body)
    }
}

/// Sends `GET target` to the site at `address` over TLS, as [`SERVER_NAME`], trusting the CA
/// certificate `server_ca`. `client` is the pair of paths of the client certificate and its
/// private key, if any.
pub fn curl(
    server_ca: &Path,
    address: SocketAddr,
    target: &str,
    client: Option<(&Path, &Path)>,
    headers: &[(&str, &str)],
) -> Reply {
    let port = address.port();
    let mut args = vec![
        "--silent".to_owned(),
        "--show-error".to_owned(),
        "--http1.1".to_owned(),
        "--include".to_owned(),
        "--max-time".to_owned(),
        "30".to_owned(),
        "--noproxy".to_owned(),
        "*".to_owned(),
        "--cacert".to_owned(),
        path_text(server_ca).to_owned(),
        "--resolve".to_owned(),
        format!("{SERVER_NAME}:{port}:{}", address.ip()),
    ];
    if let Some((certificate, key)) = client {
        args.push("--cert".to_owned());
        args.push(path_text(certificate).to_owned());
        args.push("--key".to_owned());
        args.push(path_text(key).to_owned());
    }
    for (name, value) in headers {
        args.push("--header".to_owned());
        args.push(format!("{name}: {value}"));
    }
    args.push(format!("https://{SERVER_NAME}:{port}{target}"));

    let output = run("curl", Path::new("/"), &args);
    assert_eq!(output.code, Some(0), "curl {target}: {}", output.describe());
    let (head, body) = output
        .stdout
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head from curl: {}", output.describe()));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// One line of the example's `mtls_auth` access log format.
#[derive(Debug)]
pub struct AccessLogEntry(String);

impl AccessLogEntry {
    /// Returns the value of `name="VALUE"`. nginx writes `-` for a variable that was never set.
    pub fn field(&self, name: &str) -> &str {
        let start = format!(" {name}=\"");
        self.0
            .split_once(&start)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(value, _)| value)
            .unwrap_or_else(|| panic!("no {name}=\"...\" in access log line: {}", self.0))
    }
}

impl fmt::Display for AccessLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "access log: {}", self.0)
    }
}
