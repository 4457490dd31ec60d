//! The TOML configuration file: loading, defaults and validation.
//!
//! The text is parsed into a `toml::Table` and walked key by key rather than deserialized with
//! serde, because serde stops at the first error and an operator should see every invalid key
//! of a file in one run.

mod auth;
mod ca;
mod error;
mod reader;

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use auth::{AuthConfig, CertificateFormat, MappingMode, SanKind, VerificationMode};
pub use error::{ConfigError, ConfigProblem};
use reader::{Entry, MinDuration, Problems, TableReader};

use crate::source::Source;

const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8480);
const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60 * 60);
const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_FETCH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const DEFAULT_MAX_SIZE: u64 = 64 * 1024 * 1024;
const MIN_MAX_SIZE: u64 = 1024;
const DEFAULT_FETCH_DEADLINE: Duration = Duration::from_secs(60);
const DEFAULT_MAX_REDIRECTS: u8 = 3;
const MAX_MAX_REDIRECTS: u8 = 10;
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(60 * 60);
const DEFAULT_FRACTION: f64 = 0.5;
const DEFAULT_JITTER: f64 = 0.1;
const DEFAULT_RETRY_MIN: Duration = Duration::from_secs(10);
const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(10 * 60);
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const DEFAULT_STATE_DIR: &str = "state";

/// The validated configuration of a revcheck server.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file the configuration was loaded from.
    pub path: PathBuf,
    /// Address the HTTP server binds to (`listen`). Port 0 picks a free port. `None` with
    /// `listen = "none"`, which serves only on `listen_unix`.
    pub listen: Option<SocketAddr>,
    /// Unix socket path the HTTP server also listens on (`listen_unix`), if set.
    pub listen_unix: Option<PathBuf>,
    /// Directory where the last good CRL of every source is kept across restarts
    /// (`state_dir`, default `state` beside the configuration file).
    pub state_dir: PathBuf,
    /// Longest wait for requests in flight after SIGTERM or SIGINT (`drain_timeout`,
    /// default 10 s).
    pub drain_timeout: Duration,
    /// Tolerance for clocks that differ between the server and CRL issuers (`clock_skew`),
    /// at most 1 hour.
    pub clock_skew: Duration,
    /// Format of the log lines on stderr (`log_format`, default `text`).
    pub log_format: LogFormat,
    /// Limits on CRL downloads (`[fetch]`).
    pub fetch: FetchConfig,
    /// Schedule of CRL downloads (`[refresh]`).
    pub refresh: RefreshConfig,
    /// The OCSP result cache (`[ocsp]`).
    pub ocsp_cache: OcspCacheSettings,
    /// Certificate authorities whose revocation status is served (`[[ca]]`), at least one.
    pub cas: Vec<CaConfig>,
    /// The proxy access check of `GET /v1/auth` (`[auth]`); `None` when the table is absent.
    pub auth: Option<AuthConfig>,
}

/// Limits on each CRL download, the `[fetch]` table.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// Maximum time for one HTTP request (`timeout`), greater than 0 and at most 10 minutes.
    pub timeout: Duration,
    /// Maximum time for a whole download, redirects included (`deadline`, default 60 s), at
    /// least `timeout`.
    pub deadline: Duration,
    /// Maximum CRL size in bytes (`max_size`), at least 1024.
    pub max_size: u64,
    /// Redirects followed per download (`max_redirects`, default 3, at most 10), each only to
    /// a host allowed for the CA.
    pub max_redirects: u8,
}

/// Schedule of CRL downloads, the `[refresh]` table.
#[derive(Clone, Debug)]
pub struct RefreshConfig {
    /// Share of a CRL's remaining validity (until nextUpdate) to wait before the next fetch
    /// (`fraction`, default 0.5).
    pub fraction: f64,
    /// Shortest wait between successful fetches (`min_interval`, default 1 minute).
    pub min_interval: Duration,
    /// Longest wait between successful fetches (`max_interval`, default 1 hour).
    pub max_interval: Duration,
    /// Random share added to or taken from each wait (`jitter`, default 0.1), so that many
    /// instances do not fetch at the same instant.
    pub jitter: f64,
    /// First wait after a failed fetch (`retry_min`, default 10 s); it doubles per failure.
    pub retry_min: Duration,
    /// Longest wait after failed fetches (`retry_max`, default 10 minutes).
    pub retry_max: Duration,
}

/// One certificate authority, a `[[ca]]` table.
#[derive(Clone, Debug)]
pub struct CaConfig {
    /// Identifier in URL paths and metrics labels (`id`): 1 to 64 characters of `a-z`, `0-9`,
    /// `-` and `_`, starting with a letter or digit, unique across CAs.
    pub id: String,
    /// PEM or DER certificate file of the CA (`certificate`), resolved against the directory of
    /// the configuration file. Loading checks that the file is readable but does not parse it.
    pub certificate: PathBuf,
    /// Locations of the CA's CRLs (`crl`), at least one and without duplicates.
    pub crl: Vec<Source>,
    /// Whether CRLs signed with SHA-1 are accepted (`allow_sha1`, default false). SHA-1
    /// signatures can be forged by chosen-prefix collisions, so this is for legacy CAs only.
    pub allow_sha1: bool,
    /// How long a CRL without nextUpdate stays usable after its thisUpdate
    /// (`max_age_without_next_update`). Unset, such a CRL is rejected.
    pub max_age_without_next_update: Option<Duration>,
    /// How long a CRL may still be served after its nextUpdate when no newer one can be
    /// fetched (`max_stale`, default 0). Responses decided by such a CRL carry `"stale": true`.
    pub max_stale: Duration,
    /// Hosts that CRL fetches for this CA may be redirected to (`allowed_hosts`), besides the
    /// host of each configured CRL URL.
    pub allowed_hosts: Vec<String>,
    /// The revocation sources and their order (`method`, default `crl`).
    pub method: RevocationMethod,
    /// The access decision for an undetermined status (`on_unknown`, default `deny`).
    pub on_unknown: UnknownPolicy,
    /// OCSP responders of this CA and how to ask them.
    pub ocsp: OcspConfig,
    /// Certificate files of separate CRL signers for the CA's name (`crl_signers`): each must
    /// allow cRLSign and chain to the CA's trust anchor.
    pub crl_signers: Vec<PathBuf>,
    /// PEM file with the certificates above the CA up to its self-signed trust anchor
    /// (`chain`), used to validate the paths of separate CRL signers.
    pub chain: Option<PathBuf>,
}

/// The OCSP result cache, the `[ocsp]` table.
#[derive(Clone, Copy, Debug)]
pub struct OcspCacheSettings {
    /// Maximum time an OCSP response is served from the cache (`max_age`, default 1 hour).
    pub max_age: Duration,
    /// How long a failed OCSP lookup is remembered (`failure_ttl`, default 30 s).
    pub failure_ttl: Duration,
    /// Final share of an answer's life in which a lookup also refreshes it in the background
    /// (`refresh_ahead`, default 0.2).
    pub refresh_ahead: f64,
    /// Maximum number of certificates cached (`capacity`, default 10000).
    pub capacity: u64,
}

/// The revocation sources of a CA and their order (`method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationMethod {
    /// CRLs only.
    Crl,
    /// OCSP only.
    Ocsp,
    /// OCSP first; CRLs only when OCSP leaves the status undetermined.
    OcspThenCrl,
    /// CRLs first; OCSP only when the CRLs leave the status undetermined.
    CrlThenOcsp,
}

impl RevocationMethod {
    pub fn uses_crl(self) -> bool {
        self != Self::Ocsp
    }

    pub fn uses_ocsp(self) -> bool {
        self != Self::Crl
    }
}

/// Format of the log lines that `revcheck serve` writes to stderr (`log_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event: time, level, target, message, then `key=value`
    /// fields.
    Text,
    /// One JSON object per line, with the event's fields at the top level, for log collectors.
    Json,
}

/// The access decision for an undetermined status (`on_unknown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownPolicy {
    /// Fail closed: an undetermined status denies access.
    Deny,
    /// Fail open, for deployments that ask for it explicitly: an undetermined status allows
    /// access, and the status response reports it.
    Allow,
}

/// The hash algorithm of the CertID in OCSP requests (`ocsp_hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspHash {
    Sha1,
    Sha256,
}

/// The HTTP form of OCSP requests (`ocsp_request_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspRequestForm {
    /// RFC 5019 GET when the URL stays within 255 bytes, else POST.
    Get,
    /// Always POST.
    Post,
}

/// The OCSP settings of one CA.
#[derive(Clone, Debug)]
pub struct OcspConfig {
    /// Responder URLs (`ocsp`), asked in order until one returns a verified response.
    pub responders: Vec<url::Url>,
    /// CertID hash algorithm (`ocsp_hash`, default `sha1` as RFC 5019 requires of clients).
    pub hash: OcspHash,
    /// Request form (`ocsp_request_method`, default `get`).
    pub request_form: OcspRequestForm,
    /// Whether requests carry a nonce that the response must echo (`ocsp_nonce`, default
    /// false, because many responders do not support nonces).
    pub nonce: bool,
}

impl Config {
    /// Reads the configuration file at `path` and validates it with [`Config::from_toml_str`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and validates configuration text, reporting every problem found.
    ///
    /// `path` names the file in errors, and relative paths in the text resolve against its
    /// parent directory.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        };

        let table = reader::parse_table(text).map_err(|problem| invalid(vec![problem]))?;

        let mut problems = Problems::default();
        let config = read_config(&table, path, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(problems.into_vec()))
        }
    }

    /// Looks up the CA with the given `id`.
    pub fn ca(&self, id: &str) -> Option<&CaConfig> {
        self.cas.iter().find(|ca| ca.id == id)
    }
}

/// Reads every key, with defaults for those that are absent or invalid. The result is only
/// valid when no problem was added.
fn read_config(table: &toml::Table, path: &Path, problems: &mut Problems) -> Config {
    let base_dir = path.parent().unwrap_or(Path::new(""));
    let mut root = TableReader::root(table);

    let listen_entry = root.optional("listen");
    let listen = match &listen_entry {
        Some(entry) => read_listen(entry, problems),
        None => Some(Some(DEFAULT_LISTEN)),
    };
    let clock_skew = root
        .optional("clock_skew")
        .and_then(|entry| {
            entry.duration(
                problems,
                MinDuration::AtLeast(Duration::ZERO),
                MAX_CLOCK_SKEW,
            )
        })
        .unwrap_or(DEFAULT_CLOCK_SKEW);
    let listen_unix = root.optional("listen_unix").and_then(|entry| {
        entry
            .string(
                problems,
                "write the path of a Unix socket, such as \"/run/revcheck.sock\"",
            )
            .map(|text| base_dir.join(text))
    });
    let state_dir = root
        .optional("state_dir")
        .and_then(|entry| {
            entry
                .string(
                    problems,
                    "write a directory path, such as \"/var/lib/revcheck\"",
                )
                .map(|text| base_dir.join(text))
        })
        .unwrap_or_else(|| base_dir.join(DEFAULT_STATE_DIR));
    if let (Some(None), Some(entry), None) = (listen, &listen_entry, &listen_unix) {
        entry.report(
            problems,
            "listen = \"none\" leaves no address to serve on; set listen_unix, or write an \
             address such as \"127.0.0.1:8480\""
                .to_owned(),
        );
    }
    let listen = listen.flatten();
    let drain_timeout = root
        .optional("drain_timeout")
        .and_then(|entry| entry.duration(problems, MinDuration::GreaterThanZero, MAX_DRAIN_TIMEOUT))
        .unwrap_or(DEFAULT_DRAIN_TIMEOUT);
    let log_format = ca::read_choice(
        &mut root,
        "log_format",
        &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        problems,
    )
    .unwrap_or(LogFormat::Text);
    let fetch = read_fetch(root.optional_table("fetch", problems), problems);
    let refresh = read_refresh(root.optional_table("refresh", problems), problems);
    let ocsp_cache = read_ocsp_cache(root.optional_table("ocsp", problems), problems);
    let auth = auth::read_auth(&mut root, base_dir, problems);
    let cas = ca::read_cas(&mut root, base_dir, problems);
    root.reject_unknown_keys(problems);

    Config {
        path: path.to_owned(),
        listen,
        listen_unix,
        state_dir,
        drain_timeout,
        clock_skew,
        log_format,
        fetch,
        refresh,
        ocsp_cache,
        cas,
        auth,
    }
}

fn read_ocsp_cache(mut table: TableReader<'_>, problems: &mut Problems) -> OcspCacheSettings {
    let max_age = table
        .optional("max_age")
        .and_then(|entry| {
            entry.duration(problems, MinDuration::GreaterThanZero, MAX_REFRESH_INTERVAL)
        })
        .unwrap_or(Duration::from_secs(3600));
    let failure_ttl = table
        .optional("failure_ttl")
        .and_then(|entry| {
            entry.duration(
                problems,
                MinDuration::AtLeast(Duration::ZERO),
                MAX_REFRESH_INTERVAL,
            )
        })
        .unwrap_or(Duration::from_secs(30));
    let refresh_ahead = table
        .optional("refresh_ahead")
        .and_then(|entry| {
            entry.number(problems, 0.0, 1.0, "write a share from 0 to 1, such as 0.2")
        })
        .unwrap_or(0.2);
    let capacity = table
        .optional("capacity")
        .and_then(|entry| {
            entry.integer(
                problems,
                1..=u64::MAX,
                "write a number of certificates of at least 1, such as 10000",
            )
        })
        .unwrap_or(10_000);
    table.reject_unknown_keys(problems);

    OcspCacheSettings {
        max_age,
        failure_ttl,
        refresh_ahead,
        capacity,
    }
}

/// Reads `listen`: `Some(None)` for `"none"`, `None` after a problem.
fn read_listen(entry: &Entry<'_>, problems: &mut Problems) -> Option<Option<SocketAddr>> {
    // `listen` is a `SocketAddr`, so a host name is rejected rather than resolved.
    const FIX: &str = "write an IP address and port such as \"127.0.0.1:8480\" or \"[::1]:8480\", \
                       or \"none\" to serve only on listen_unix";
    let text = entry.string(problems, FIX)?;
    if text == "none" {
        return Some(None);
    }

    match text.parse() {
        Ok(address) => Some(Some(address)),
        Err(_) => {
            entry.report(problems, format!("invalid listen address; {FIX}"));
            None
        }
    }
}

fn read_fetch(mut table: TableReader<'_>, problems: &mut Problems) -> FetchConfig {
    let timeout = table
        .optional("timeout")
        .and_then(|entry| entry.duration(problems, MinDuration::GreaterThanZero, MAX_FETCH_TIMEOUT))
        .unwrap_or(DEFAULT_FETCH_TIMEOUT);
    let max_size = table
        .optional("max_size")
        .and_then(|entry| {
            entry.integer(
                problems,
                MIN_MAX_SIZE..=u64::MAX,
                &format!(
                    "write a number of bytes of at least {MIN_MAX_SIZE}, such as 67108864 for 64 MiB"
                ),
            )
        })
        .unwrap_or(DEFAULT_MAX_SIZE);
    let max_redirects = table
        .optional("max_redirects")
        .and_then(|entry| {
            entry.integer(
                problems,
                0..=MAX_MAX_REDIRECTS,
                &format!("write a number of redirects from 0 to {MAX_MAX_REDIRECTS}"),
            )
        })
        .unwrap_or(DEFAULT_MAX_REDIRECTS);
    let deadline_entry = table.optional("deadline");
    let deadline = deadline_entry
        .as_ref()
        .and_then(|entry| entry.duration(problems, MinDuration::GreaterThanZero, MAX_FETCH_TIMEOUT))
        .unwrap_or(DEFAULT_FETCH_DEADLINE.max(timeout));
    if let Some(entry) = &deadline_entry
        && deadline < timeout
    {
        entry.report(
            problems,
            "deadline is shorter than fetch.timeout; make it at least as long".to_owned(),
        );
    }
    table.reject_unknown_keys(problems);

    FetchConfig {
        timeout,
        deadline,
        max_size,
        max_redirects,
    }
}

fn read_refresh(mut table: TableReader<'_>, problems: &mut Problems) -> RefreshConfig {
    let mut interval = |table: &mut TableReader<'_>, key: &'static str| {
        table.optional(key).and_then(|entry| {
            entry.duration(
                problems,
                MinDuration::AtLeast(MIN_REFRESH_INTERVAL),
                MAX_REFRESH_INTERVAL,
            )
        })
    };
    // `interval` sets both bounds. The wait still ends before nextUpdate, at most
    // fraction * (1 + jitter) of the time left.
    let fixed_interval = interval(&mut table, "interval");
    let min_interval = interval(&mut table, "min_interval").unwrap_or(DEFAULT_MIN_INTERVAL);
    let max_interval = interval(&mut table, "max_interval").unwrap_or(DEFAULT_MAX_INTERVAL);
    // With a fixed interval, retries start at the shorter of that interval and the default
    // retry_min, unless retry_min is set.
    let retry_min = interval(&mut table, "retry_min").unwrap_or_else(|| {
        fixed_interval.map_or(DEFAULT_RETRY_MIN, |fixed| fixed.min(DEFAULT_RETRY_MIN))
    });
    let retry_max = interval(&mut table, "retry_max").unwrap_or(DEFAULT_RETRY_MAX);

    let fraction = table
        .optional("fraction")
        .and_then(|entry| {
            entry.number(
                problems,
                0.01,
                1.0,
                "write a share of the validity from 0.01 to 1, such as 0.5",
            )
        })
        .unwrap_or(DEFAULT_FRACTION);
    let jitter = table
        .optional("jitter")
        .and_then(|entry| {
            entry.number(
                problems,
                0.0,
                0.5,
                "write a share from 0 to 0.5, such as 0.1",
            )
        })
        .unwrap_or(DEFAULT_JITTER);

    let (min_interval, max_interval) = match fixed_interval {
        Some(fixed) => (fixed, fixed),
        None => (min_interval, max_interval),
    };
    if min_interval > max_interval {
        problems.add(
            "refresh.min_interval".to_owned(),
            None,
            "min_interval is longer than max_interval; make it at most as long".to_owned(),
        );
    }
    if retry_min > retry_max {
        problems.add(
            "refresh.retry_min".to_owned(),
            None,
            "retry_min is longer than retry_max; make it at most as long".to_owned(),
        );
    }
    table.reject_unknown_keys(problems);

    RefreshConfig {
        fraction,
        min_interval,
        max_interval,
        jitter,
        retry_min,
        retry_max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `[[ca]]` table that is valid inside a directory made by `config_dir`.
    const DEMO_CA: &str = r#"
[[ca]]
id = "demo"
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

    /// Creates a directory with the certificate file `ca.pem` that `DEMO_CA` refers to.
    fn config_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("create temporary directory");
        fs::write(dir.path().join("ca.pem"), "not parsed at load time").expect("write ca.pem");
        dir
    }

    /// Loads `text` as `revcheck.toml` in a directory made by `config_dir`.
    fn load_text(text: &str) -> Config {
        let dir = config_dir();
        match Config::from_toml_str(text, &dir.path().join("revcheck.toml")) {
            Ok(config) => config,
            Err(error) => panic!("valid configuration rejected: {error}"),
        }
    }

    /// Returns the problems, as displayed, that loading `text` as in `load_text` reports.
    fn problems(text: &str) -> Vec<String> {
        let dir = config_dir();
        match Config::from_toml_str(text, &dir.path().join("revcheck.toml")) {
            Ok(config) => panic!("invalid configuration accepted: {config:?}"),
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(error) => panic!("expected ConfigError::Invalid, got {error}"),
        }
    }

    #[test]
    fn defaults_apply() {
        let config = load_text(DEMO_CA);

        assert_eq!(
            config.listen,
            Some("127.0.0.1:8480".parse::<SocketAddr>().expect("address"))
        );
        assert_eq!(config.clock_skew, Duration::from_secs(300));
        assert_eq!(config.fetch.timeout, Duration::from_secs(10));
        assert_eq!(config.fetch.max_size, 67_108_864);
        assert_eq!(config.fetch.deadline, Duration::from_secs(60));
        assert_eq!(config.fetch.max_redirects, 3);
        assert_eq!(config.refresh.min_interval, Duration::from_secs(60));
        assert_eq!(config.refresh.max_interval, Duration::from_secs(3600));
        assert!((config.refresh.fraction - 0.5).abs() < f64::EPSILON);
        assert!((config.refresh.jitter - 0.1).abs() < f64::EPSILON);
        assert_eq!(config.refresh.retry_min, Duration::from_secs(10));
        assert_eq!(config.refresh.retry_max, Duration::from_secs(600));
        assert_eq!(config.drain_timeout, Duration::from_secs(10));
        assert!(
            config.state_dir.ends_with("state"),
            "{:?}",
            config.state_dir
        );
        assert_eq!(config.listen_unix, None);
    }

    #[test]
    fn every_key_read() {
        let config = load_text(
            r#"
listen = "[::1]:0"
clock_skew = "1m 30s"

[fetch]
timeout = "2m"
max_size = 1024

[refresh]
interval = "1s"

[[ca]]
id = "root-1"
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/root-1.crl", "https://crl.example.test/root-1.crl"]

[[ca]]
id = "issuing_2"
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/issuing_2.crl"]
"#,
        );

        assert_eq!(
            config.listen,
            Some("[::1]:0".parse::<SocketAddr>().expect("address"))
        );
        assert_eq!(config.clock_skew, Duration::from_secs(90));
        assert_eq!(config.fetch.timeout, Duration::from_secs(120));
        assert_eq!(config.fetch.max_size, 1024);
        assert_eq!(config.refresh.min_interval, Duration::from_secs(1));
        assert_eq!(config.refresh.max_interval, Duration::from_secs(1));
        let ids: Vec<&str> = config.cas.iter().map(|ca| ca.id.as_str()).collect();
        assert_eq!(ids, ["root-1", "issuing_2"]);
        let root_sources: Vec<String> = config.cas[0].crl.iter().map(ToString::to_string).collect();
        assert_eq!(
            root_sources,
            [
                "http://127.0.0.1:9000/root-1.crl",
                "https://crl.example.test/root-1.crl"
            ]
        );
    }

    #[test]
    fn log_format_read() {
        assert_eq!(load_text(DEMO_CA).log_format, LogFormat::Text);
        for (value, expected) in [("text", LogFormat::Text), ("json", LogFormat::Json)] {
            let config = load_text(&format!("log_format = \"{value}\"\n{DEMO_CA}"));
            assert_eq!(config.log_format, expected, "log_format = {value}");
        }
    }

    #[test]
    fn unknown_log_format_listed() {
        let text = format!("log_format = \"logfmt\"\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            ["log_format = \"logfmt\": unknown value; write one of \"text\", \"json\""]
        );
    }

    #[test]
    fn log_format_must_be_string() {
        let text = format!("log_format = 1\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "log_format = 1: expected a string, found an integer; write one of \"text\", \
                 \"json\""
            ]
        );
    }

    #[test]
    fn ca_found_by_id() {
        let config = load_text(DEMO_CA);

        assert_eq!(config.ca("demo").map(|ca| ca.id.as_str()), Some("demo"));
        assert!(config.ca("other").is_none());
    }

    #[test]
    fn relative_paths_resolve_against_config_dir() {
        let dir = tempfile::tempdir().expect("create temporary directory");
        fs::create_dir(dir.path().join("certs")).expect("create certs directory");
        fs::write(dir.path().join("certs/ca.pem"), "certificate").expect("write certs/ca.pem");
        let text = r#"
[[ca]]
id = "demo"
certificate = "certs/ca.pem"
crl = ["file:crl/demo.crl"]
"#;
        fs::write(dir.path().join("revcheck.toml"), text).expect("write revcheck.toml");

        let config = Config::load(&dir.path().join("revcheck.toml")).expect("load");

        assert_eq!(config.path, dir.path().join("revcheck.toml"));
        assert_eq!(config.cas[0].certificate, dir.path().join("certs/ca.pem"));
        assert_eq!(
            config.cas[0].crl,
            [Source::File(dir.path().join("crl/demo.crl"))]
        );
    }

    #[test]
    fn absolute_certificate_path_kept() {
        let dir = config_dir();
        let certificate = dir.path().join("ca.pem");
        let text = format!(
            "[[ca]]\nid = \"demo\"\ncertificate = \"{}\"\ncrl = [\"http://127.0.0.1:9000/demo.crl\"]\n",
            certificate.display()
        );

        let config = Config::from_toml_str(&text, Path::new("/etc/revcheck/revcheck.toml"))
            .expect("absolute certificate path accepted");

        assert_eq!(config.cas[0].certificate, certificate);
    }

    #[test]
    fn unknown_key_listed() {
        let text = format!("colour = \"blue\"\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "colour: unknown key; allowed keys here are listen, clock_skew, listen_unix, state_dir, drain_timeout, log_format, fetch, refresh, ocsp, auth, ca"
            ]
        );
    }

    #[test]
    fn unknown_key_quoted_when_not_bare() {
        let text = format!("\"colour scheme\" = 1\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "\"colour scheme\": unknown key; allowed keys here are listen, clock_skew, \
                 listen_unix, state_dir, drain_timeout, log_format, fetch, refresh, ocsp, auth, ca"
            ]
        );
    }

    #[test]
    fn unknown_fetch_key_listed() {
        let text = format!("[fetch]\nretries = 3\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "fetch.retries: unknown key; allowed keys here are timeout, max_size, max_redirects, \
              deadline"
            ]
        );
    }

    #[test]
    fn unknown_refresh_key_listed() {
        let text = format!("[refresh]\nperiod = \"1s\"\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "refresh.period: unknown key; allowed keys here are interval, min_interval, \
              max_interval, retry_min, retry_max, fraction, jitter"
            ]
        );
    }

    #[test]
    fn allow_sha1_must_be_boolean() {
        let text = format!("{DEMO_CA}allow_sha1 = \"yes\"\n");

        assert_eq!(
            problems(&text),
            [
                "ca[0].allow_sha1 = \"yes\": expected a boolean, found a string; write \
              allow_sha1 = true or allow_sha1 = false"
            ]
        );
    }

    #[test]
    fn max_age_without_next_update_bounded() {
        let text = format!("{DEMO_CA}max_age_without_next_update = \"60d\"\n");

        let problems = problems(&text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("ca[0].max_age_without_next_update = \"60d\": "),
            "{problems:?}"
        );
    }

    #[test]
    fn ocsp_method_needs_responders() {
        let text = DEMO_CA.replace(
            "crl = [\"http://127.0.0.1:9000/demo.crl\"]",
            "method = \"ocsp\"",
        );

        assert_eq!(
            problems(&text),
            [
                "ca[0].ocsp: missing key; the method uses OCSP, so write a list of responder URLs, \
              such as ocsp = [\"http://ocsp.example.test/\"]"
            ]
        );
    }

    #[test]
    fn ocsp_settings_read() {
        let text = format!(
            "{DEMO_CA}method = \"ocsp_then_crl\"\non_unknown = \"allow\"\n\
             ocsp = [\"http://127.0.0.1:9001/\"]\nocsp_hash = \"sha256\"\n\
             ocsp_request_method = \"post\"\nocsp_nonce = true\n"
        );
        let config = load_text(&text);
        let ca = &config.cas[0];

        assert_eq!(ca.method, RevocationMethod::OcspThenCrl);
        assert_eq!(ca.on_unknown, UnknownPolicy::Allow);
        assert_eq!(ca.ocsp.responders[0].as_str(), "http://127.0.0.1:9001/");
        assert_eq!(ca.ocsp.hash, OcspHash::Sha256);
        assert_eq!(ca.ocsp.request_form, OcspRequestForm::Post);
        assert!(ca.ocsp.nonce);
    }

    #[test]
    fn unknown_method_listed() {
        let text = format!("{DEMO_CA}method = \"both\"\n");

        assert_eq!(
            problems(&text),
            [
                "ca[0].method = \"both\": unknown value; write one of \"crl\", \"ocsp\", \
              \"ocsp_then_crl\", \"crl_then_ocsp\""
            ]
        );
    }

    #[test]
    fn unknown_ca_key_listed() {
        let text = format!("{DEMO_CA}name = \"Demo CA\"\n");

        assert_eq!(
            problems(&text),
            [
                "ca[0].name: unknown key; allowed keys here are id, certificate, method, crl, \
             on_unknown, ocsp, ocsp_hash, ocsp_request_method, ocsp_nonce, allow_sha1, \
             crl_signers, chain, max_age_without_next_update, max_stale, allowed_hosts"
            ]
        );
    }

    #[test]
    fn string_wrong_type() {
        let text = format!("listen = 8480\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "listen = 8480: expected a string, found an integer; write an IP address and port \
                 such as \"127.0.0.1:8480\" or \"[::1]:8480\", or \"none\" to serve only on listen_unix"
            ]
        );
    }

    #[test]
    fn duration_wrong_type() {
        let text = format!("clock_skew = 300\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "clock_skew = 300: expected a string, found an integer; write a duration such as \
                 \"10s\" or \"2m\""
            ]
        );
    }

    #[test]
    fn integer_wrong_type() {
        for (input, shown, found) in [
            ("\"64MiB\"", "\"64MiB\"", "a string"),
            ("64.0", "64.0", "a float"),
        ] {
            let text = format!("[fetch]\nmax_size = {input}\n{DEMO_CA}");

            assert_eq!(
                problems(&text),
                [format!(
                    "fetch.max_size = {shown}: expected an integer, found {found}; write a number \
                     of bytes of at least 1024, such as 67108864 for 64 MiB"
                )]
            );
        }
    }

    #[test]
    fn array_wrong_type() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "ca.pem"
crl = "http://127.0.0.1:9000/demo.crl"
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].crl = \"http://127.0.0.1:9000/demo.crl\": expected an array, found a string; \
                 write a list of CRL URLs, such as crl = [\"http://crl.example.test/ca.crl\"]"
            ]
        );
    }

    #[test]
    fn array_item_wrong_type() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl", 5]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].crl[1] = 5: expected a string, found an integer; write each CRL source as a \
                 URL string, such as \"http://crl.example.test/ca.crl\""
            ]
        );
    }

    #[test]
    fn table_wrong_type() {
        let text = format!("fetch = 5\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "fetch = 5: expected a table, found an integer; write the keys under a [fetch] header"
            ]
        );
    }

    #[test]
    fn table_array_wrong_type() {
        let text = r#"
[ca]
id = "demo"
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca = { certificate = \"ca.pem\", crl = [\"http://127.0.0.1:9000/demo.crl\"], id = \
                 \"demo\" }: expected an array of tables, found a table; write each CA as a [[ca]] \
                 table"
            ]
        );
    }

    #[test]
    fn table_array_item_wrong_type() {
        assert_eq!(
            problems("ca = [1]"),
            ["ca[0] = 1: expected a table, found an integer; write each CA as a [[ca]] table"]
        );
    }

    #[test]
    fn long_value_cut() {
        let long = "x".repeat(200);
        let text = format!("listen = \"{long}\"\n{DEMO_CA}");
        let cut_value = "x".repeat(99);

        assert_eq!(
            problems(&text),
            [format!(
                "listen = \"{cut_value}...: invalid listen address; write an IP address and port such \
                 as \"127.0.0.1:8480\" or \"[::1]:8480\", or \"none\" to serve only on listen_unix"
            )]
        );
    }

    #[test]
    fn bad_duration() {
        let text = format!("[fetch]\ntimeout = \"ten seconds\"\n{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "fetch.timeout = \"ten seconds\": invalid duration (expected number at 0); write a \
                 duration such as \"10s\" or \"2m\""
            ]
        );
    }

    #[test]
    fn duration_out_of_range() {
        let cases = [
            (
                "clock_skew = \"61m\"",
                "clock_skew = \"61m\": duration out of range; use a duration of at most 1h",
            ),
            (
                "fetch.timeout = \"0s\"",
                "fetch.timeout = \"0s\": duration out of range; use a duration greater than 0 and \
                 at most 10m",
            ),
            (
                "fetch.timeout = \"10m 1s\"",
                "fetch.timeout = \"10m 1s\": duration out of range; use a duration greater than 0 \
                 and at most 10m",
            ),
            (
                "refresh.interval = \"999ms\"",
                "refresh.interval = \"999ms\": duration out of range; use a duration from 1s to \
                 1day",
            ),
            (
                "refresh.interval = \"25h\"",
                "refresh.interval = \"25h\": duration out of range; use a duration from 1s to 1day",
            ),
        ];

        for (line, expected) in cases {
            let text = format!("{line}\n{DEMO_CA}");
            assert_eq!(problems(&text), [expected], "input: {line}");
        }
    }

    #[test]
    fn duration_limits_accepted() {
        let text = format!(
            "clock_skew = \"1h\"\nfetch.timeout = \"1ns\"\nrefresh.interval = \"24h\"\n{DEMO_CA}"
        );
        let config = load_text(&text);

        assert_eq!(config.clock_skew, Duration::from_secs(3600));
        assert_eq!(config.fetch.timeout, Duration::from_nanos(1));
        assert_eq!(config.refresh.max_interval, Duration::from_secs(86_400));
    }

    #[test]
    fn zero_clock_skew_accepted() {
        let config = load_text(&format!("clock_skew = \"0s\"\n{DEMO_CA}"));

        assert_eq!(config.clock_skew, Duration::ZERO);
    }

    #[test]
    fn max_size_out_of_range() {
        for input in ["1023", "-1"] {
            let text = format!("[fetch]\nmax_size = {input}\n{DEMO_CA}");

            assert_eq!(
                problems(&text),
                [format!(
                    "fetch.max_size = {input}: integer out of range; write a number of bytes of at \
                     least 1024, such as 67108864 for 64 MiB"
                )]
            );
        }
    }

    #[test]
    fn bad_listen_address() {
        for input in ["localhost:8480", "127.0.0.1", "127.0.0.1:65536"] {
            let text = format!("listen = \"{input}\"\n{DEMO_CA}");

            assert_eq!(
                problems(&text),
                [format!(
                    "listen = \"{input}\": invalid listen address; write an IP address and port \
                     such as \"127.0.0.1:8480\" or \"[::1]:8480\", or \"none\" to serve only on listen_unix"
                )]
            );
        }
    }

    #[test]
    fn listen_none_needs_unix_socket() {
        let config = load_text(&format!(
            "listen = \"none\"\nlisten_unix = \"r.sock\"\n{DEMO_CA}"
        ));
        assert_eq!(config.listen, None);
        assert!(config.listen_unix.is_some());

        assert_eq!(
            problems(&format!("listen = \"none\"\n{DEMO_CA}")),
            [
                "listen = \"none\": listen = \"none\" leaves no address to serve on; set \
              listen_unix, or write an address such as \"127.0.0.1:8480\""
            ]
        );
    }

    #[test]
    fn listen_port_zero_accepted() {
        let config = load_text(&format!("listen = \"127.0.0.1:0\"\n{DEMO_CA}"));

        assert_eq!(
            config.listen,
            Some("127.0.0.1:0".parse::<SocketAddr>().expect("address"))
        );
    }

    #[test]
    fn missing_id() {
        let text = r#"
[[ca]]
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].id: missing key; add an id of 1 to 64 lowercase letters, digits, '-' or '_', \
                 starting with a letter or digit, such as id = \"demo-ca\""
            ]
        );
    }

    #[test]
    fn bad_id() {
        let too_long = "a".repeat(65);
        for id in [
            "Demo CA",
            "",
            "-demo",
            "_demo",
            "démo",
            "demo.ca",
            too_long.as_str(),
        ] {
            let text = format!(
                "[[ca]]\nid = \"{id}\"\ncertificate = \"ca.pem\"\ncrl = [\"http://127.0.0.1:9000/demo.crl\"]\n"
            );

            assert_eq!(
                problems(&text),
                [format!(
                    "ca[0].id = \"{id}\": invalid CA id; use 1 to 64 lowercase letters, digits, \
                     '-' or '_', starting with a letter or digit"
                )]
            );
        }
    }

    #[test]
    fn id_limits_accepted() {
        let longest = "z".repeat(64);
        for id in ["a", "0", "9-ca_1", longest.as_str()] {
            let text = format!(
                "[[ca]]\nid = \"{id}\"\ncertificate = \"ca.pem\"\ncrl = [\"http://127.0.0.1:9000/demo.crl\"]\n"
            );

            assert_eq!(load_text(&text).cas[0].id, id);
        }
    }

    #[test]
    fn id_wrong_type() {
        let text = r#"
[[ca]]
id = 7
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].id = 7: expected a string, found an integer; write an id of 1 to 64 \
                 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            ]
        );
    }

    #[test]
    fn duplicate_id() {
        let text = format!("{DEMO_CA}{DEMO_CA}{DEMO_CA}");

        assert_eq!(
            problems(&text),
            [
                "ca[1].id = \"demo\": duplicate CA id, also used by ca[0]; give each CA its own id",
                "ca[2].id = \"demo\": duplicate CA id, also used by ca[0]; give each CA its own id",
            ]
        );
    }

    #[test]
    fn missing_certificate() {
        let text = r#"
[[ca]]
id = "demo"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].certificate: missing key; add the path of the CA certificate, a PEM or DER \
                 file, such as certificate = \"ca.pem\""
            ]
        );
    }

    #[test]
    fn certificate_not_found() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "/nonexistent/revcheck/ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].certificate = \"/nonexistent/revcheck/ca.pem\": cannot read file \
                 /nonexistent/revcheck/ca.pem (No such file or directory (os error 2)); write \
                 the path of the CA certificate, a PEM or DER file, absolute or relative to the \
                 directory of the configuration file"
            ]
        );
    }

    #[test]
    fn certificate_not_a_file() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "/"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].certificate = \"/\": / is not a file; write the path of the CA certificate, \
                 a PEM or DER file, absolute or relative to the directory of the configuration file"
            ]
        );
    }

    #[test]
    fn certificate_empty_path() {
        let text = r#"
[[ca]]
id = "demo"
certificate = ""
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].certificate = \"\": empty path; write the path of the CA certificate, a PEM \
                 or DER file, absolute or relative to the directory of the configuration file"
            ]
        );
    }

    #[test]
    fn missing_crl() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "ca.pem"
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].crl: missing key; write a list of CRL URLs, such as crl = \
                 [\"http://crl.example.test/ca.crl\"]"
            ]
        );
    }

    #[test]
    fn empty_crl_list() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "ca.pem"
crl = []
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].crl = []: empty CRL list; add at least one CRL URL, such as \
                 \"http://crl.example.test/ca.crl\""
            ]
        );
    }

    #[test]
    fn bad_crl_url() {
        let text = format!(
            "{DEMO_CA}\n[[ca]]\nid = \"other\"\ncertificate = \"ca.pem\"\ncrl = [\"ftp://x/ca.crl\"]\n"
        );

        assert_eq!(
            problems(&text),
            [
                "ca[1].crl[0] = \"ftp://x/ca.crl\": unsupported URL scheme \"ftp\"; use an http://, \
                 https:// or file: URL"
            ]
        );
    }

    #[test]
    fn duplicate_crl_source() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl", "https://crl.example.test/demo.crl", "http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].crl[2] = \"http://127.0.0.1:9000/demo.crl\": duplicate CRL source, also \
                 listed as ca[0].crl[0]; remove one of them"
            ]
        );
    }

    #[test]
    fn same_crl_in_two_cas_accepted() {
        let text = format!("{DEMO_CA}{}", DEMO_CA.replace("\"demo\"", "\"other\""));

        assert_eq!(load_text(&text).cas.len(), 2);
    }

    #[test]
    fn no_ca_table() {
        assert_eq!(
            problems("listen = \"127.0.0.1:8480\"\n"),
            ["ca: missing key; add at least one [[ca]] table with id, certificate and crl"]
        );
    }

    #[test]
    fn empty_ca_array() {
        assert_eq!(
            problems("ca = []\n"),
            [
                "ca = []: no CA configured; add at least one [[ca]] table with id, certificate and crl"
            ]
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let text = "listen = \"127.0.0.1:8480\"\n[fetch\ntimeout = \"10s\"\n";

        assert_eq!(
            problems(text),
            [
                "line 2, column 7: invalid TOML syntax (invalid table header; expected `.`, `]`); \
                 correct the file at this position"
            ]
        );
    }

    #[test]
    fn syntax_error_without_detail() {
        assert_eq!(
            problems("listen = "),
            ["line 1, column 10: invalid TOML syntax; correct the file at this position"]
        );
    }

    #[test]
    fn every_problem_reported_at_once() {
        let text = r#"
colour = "blue"
listen = "localhost"

[[ca]]
id = "Demo"
certificate = "ca.pem"
crl = ["http://127.0.0.1:9000/demo.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "listen = \"localhost\": invalid listen address; write an IP address and port such \
                 as \"127.0.0.1:8480\" or \"[::1]:8480\", or \"none\" to serve only on listen_unix",
                "ca[0].id = \"Demo\": invalid CA id; use 1 to 64 lowercase letters, digits, '-' or \
                 '_', starting with a letter or digit",
                "colour: unknown key; allowed keys here are listen, clock_skew, listen_unix, state_dir, drain_timeout, log_format, fetch, refresh, ocsp, auth, ca",
            ]
        );
    }

    #[test]
    fn problems_in_every_ca_reported() {
        let text = r#"
[[ca]]
id = "demo"
certificate = "/nonexistent/revcheck/ca.pem"

[[ca]]
certificate = "ca.pem"
crl = ["gopher://x/ca.crl"]
"#;

        assert_eq!(
            problems(text),
            [
                "ca[0].certificate = \"/nonexistent/revcheck/ca.pem\": cannot read file \
                 /nonexistent/revcheck/ca.pem (No such file or directory (os error 2)); write \
                 the path of the CA certificate, a PEM or DER file, absolute or relative to the \
                 directory of the configuration file",
                "ca[0].crl: missing key; write a list of CRL URLs, such as crl = \
                 [\"http://crl.example.test/ca.crl\"]",
                "ca[1].id: missing key; add an id of 1 to 64 lowercase letters, digits, '-' or '_', \
                 starting with a letter or digit, such as id = \"demo-ca\"",
                "ca[1].crl[0] = \"gopher://x/ca.crl\": unsupported URL scheme \"gopher\"; use an \
                 http://, https:// or file: URL",
            ]
        );
    }

    #[test]
    fn invalid_error_display_lists_problems() {
        let error = Config::from_toml_str("colour = 1\n", Path::new("/etc/revcheck/revcheck.toml"))
            .expect_err("invalid configuration accepted");

        assert_eq!(
            error.to_string(),
            "invalid configuration in /etc/revcheck/revcheck.toml (2 problems):\n  ca: missing \
             key; add at least one [[ca]] table with id, certificate and crl\n  colour: unknown \
             key; allowed keys here are listen, clock_skew, listen_unix, state_dir, drain_timeout, log_format, fetch, refresh, ocsp, auth, ca"
        );
    }

    #[test]
    fn invalid_error_display_one_problem() {
        let error = Config::from_toml_str("ca = []\n", Path::new("/etc/revcheck/revcheck.toml"))
            .expect_err("invalid configuration accepted");

        assert_eq!(
            error.to_string(),
            "invalid configuration in /etc/revcheck/revcheck.toml (1 problem):\n  ca = []: no CA \
             configured; add at least one [[ca]] table with id, certificate and crl"
        );
    }

    #[test]
    fn missing_file_is_read_error() {
        let dir = tempfile::tempdir().expect("create temporary directory");
        let path = dir.path().join("absent.toml");

        let error = Config::load(&path).expect_err("missing file loaded");

        assert!(matches!(error, ConfigError::Read { .. }), "got {error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "cannot read configuration file {}: No such file or directory (os error 2)",
                path.display()
            )
        );
    }

    #[test]
    fn odd_input_rejected_without_panic() {
        let deep_array = format!("x = {}", "[".repeat(500));
        let inputs = [
            "",
            "\u{0}",
            "ca = [[]]",
            "ca = [{}]",
            "[[ca]]\n[[ca]]\n",
            "ca = \"\"",
            "fetch.timeout = \"99999999999999999999999s\"",
            "fetch.max_size = 9223372036854775807",
            "listen = \"[::1]:99999\"",
            "refresh = []",
            "x = 1979-05-27T07:32:00Z",
            deep_array.as_str(),
        ];

        for text in inputs {
            let result = Config::from_toml_str(text, Path::new("revcheck.toml"));
            assert!(result.is_err(), "accepted {text:?}");
        }
    }
}
