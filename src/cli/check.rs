//! `revcheck check`: one-shot revocation status of a certificate and its path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use std::io::Write;

use serde::Serialize;

use super::{EXIT_DATA, EXIT_USAGE};
use crate::config::Config;
use crate::crl::{DecodedCrl, VerifyOptions};
use crate::ocsp::{HashAlgorithm, OcspOptions, RequestMethod};
use crate::source::{FetchLimits, Fetcher, Source};
use crate::status::{
    CertStatus, ChainCheck, ChainReport, Decision, OcspQuery, StatusSource, decision_from_error,
    decision_from_response, query_responder,
};
use crate::x509::ParsedCertificate;
use crate::x509::time::format_rfc3339;

/// Clock skew tolerated for thisUpdate when no configuration is given.
const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Configuration file whose CA certificates and CRL sources are added to the ones given.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// CA certificate file (PEM or DER): trust anchors and intermediates. Repeatable.
    #[arg(long = "ca", value_name = "CERT")]
    cas: Vec<PathBuf>,

    /// CRL source: a file in DER or PEM, or an http(s) URL. Repeatable.
    #[arg(long = "crl", value_name = "SOURCE")]
    crls: Vec<String>,

    /// OCSP responder URL (http or https). Every certificate on the path is asked about
    /// there first; its CRLs decide only when the responder leaves the status undetermined,
    /// and a revocation on a verified CRL wins over a good OCSP answer.
    #[arg(long, value_name = "URL")]
    ocsp: Option<String>,

    /// Send OCSP requests with POST instead of the RFC 5019 GET form.
    #[arg(long, requires = "ocsp")]
    ocsp_post: bool,

    /// Evaluate as of this RFC 3339 time (for example 2011-06-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,

    /// The certificate to check (PEM or DER). Further certificates in the file are used as
    /// intermediates.
    #[arg(value_name = "CERT")]
    certificate: PathBuf,
}

/// A failure before any status was decided, with its exit status.
struct Failure {
    exit: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: EXIT_USAGE,
            message: message.into(),
        }
    }

    fn data(message: impl Into<String>) -> Self {
        Self {
            exit: EXIT_DATA,
            message: message.into(),
        }
    }
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("revcheck: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(check(args)) {
        Ok(report) => {
            print_report(&report, args.json);
            ExitCode::from(exit_status(report.overall()))
        }
        Err(failure) => {
            eprintln!("revcheck: {}", failure.message);
            ExitCode::from(failure.exit)
        }
    }
}

/// Exit status per overall status: 0 good, 1 revoked, 2 undetermined.
fn exit_status(status: CertStatus) -> u8 {
    match status {
        CertStatus::Good => 0,
        CertStatus::Revoked => 1,
        CertStatus::Unknown => 2,
    }
}

async fn check(args: &CheckArgs) -> Result<ChainReport, Failure> {
    let responder = match &args.ocsp {
        Some(text) => Some(parse_responder(text)?),
        None => None,
    };
    let at = match &args.at {
        Some(text) => humantime::parse_rfc3339_weak(text).map_err(|error| {
            Failure::usage(format!(
                "invalid --at value \"{text}\" ({error}); write an RFC 3339 time such as \
                 2011-06-01T00:00:00Z"
            ))
        })?,
        None => SystemTime::now(),
    };

    let mut pool = Vec::new();
    let mut sources = Vec::new();
    let mut clock_skew = DEFAULT_CLOCK_SKEW;
    let mut limits = FetchLimits::simple(Duration::from_secs(10), 64 * 1024 * 1024);
    if let Some(path) = &args.config {
        let config = Config::load(path).map_err(|error| Failure::usage(error.to_string()))?;
        for ca in &config.cas {
            pool.extend(read_certificates(&ca.certificate)?);
            sources.extend(ca.crl.iter().cloned());
        }
        clock_skew = config.clock_skew;
        limits = FetchLimits::simple(config.fetch.timeout, config.fetch.max_size);
    }

    let mut target_file = read_certificates(&args.certificate)?.into_iter();
    let Some(target) = target_file.next() else {
        return Err(Failure::data(format!(
            "{} holds no certificate",
            args.certificate.display()
        )));
    };
    // Further certificates in the file may only be CA certificates of the path; a second
    // end-entity certificate would otherwise go unchecked without a word.
    let extra: Vec<ParsedCertificate> = target_file.collect();
    if let Some(leaf) = extra.iter().find(|certificate| !certificate.is_ca()) {
        return Err(Failure::data(format!(
            "{} holds more than one end-entity certificate ({} is not a CA certificate); \
             check one certificate per run",
            args.certificate.display(),
            leaf.describe()
        )));
    }
    pool.extend(extra);
    for path in &args.cas {
        pool.extend(read_certificates(path)?);
    }

    let working_dir = std::env::current_dir().unwrap_or_default();
    for text in &args.crls {
        sources.push(parse_crl_argument(text, &working_dir)?);
    }
    let crls = load_crls(&sources, limits).await?;

    let check = ChainCheck {
        pool: &pool,
        crls: &crls,
        // NOTE: allow_sha1 and max_age_without_next_update are per-CA settings of the service;
        // the one-shot check always applies the strict defaults.
        options: VerifyOptions::at(at, clock_skew),
    };
    let mut report = check.check(&target);
    if let Some(responder) = responder {
        let fetcher = Fetcher::new(limits)
            .map_err(|error| Failure::data(format!("cannot build the HTTP client: {error}")))?;
        let method = if args.ocsp_post {
            RequestMethod::Post
        } else {
            RequestMethod::Get
        };
        apply_ocsp(&mut report, &fetcher, &responder, method, at, clock_skew).await;
    }
    Ok(report)
}

fn parse_responder(text: &str) -> Result<url::Url, Failure> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(Failure::usage(format!(
            "invalid --ocsp value \"{text}\"; give the responder's http:// or https:// URL"
        ))),
    }
}

/// Asks the responder about every certificate on the path and combines its answers with the
/// CRL decisions: OCSP decides first, a CRL decides when OCSP leaves the status undetermined,
/// and a revocation from either verified source wins.
async fn apply_ocsp(
    report: &mut ChainReport,
    fetcher: &Fetcher,
    responder: &url::Url,
    method: RequestMethod,
    at: SystemTime,
    clock_skew: Duration,
) {
    let issuers: Vec<ParsedCertificate> = report.path.iter().skip(1).cloned().collect();
    for (result, issuer) in report.results.iter_mut().zip(&issuers) {
        let query = OcspQuery {
            hash: HashAlgorithm::Sha1,
            method,
            nonce: false,
        };
        let options = OcspOptions::at(at, clock_skew);
        let answer = query_responder(
            fetcher,
            responder,
            &result.certificate,
            issuer,
            query,
            options,
        )
        .await;
        let ocsp_decision = match &answer {
            Ok(response) => decision_from_response(response, at),
            Err(error) => {
                eprintln!("revcheck: warning: {error}");
                decision_from_error(error)
            }
        };

        let crl_status = result.decision.status();
        if crl_status == CertStatus::Revoked {
            // A revocation on a verified CRL stands, whatever the responder says.
        } else if ocsp_decision.status() != CertStatus::Unknown {
            result.decision = ocsp_decision;
            result.source = Some(StatusSource::Ocsp);
        } else if crl_status == CertStatus::Unknown {
            // Neither source decided: report the OCSP reason, since OCSP was asked first.
            result.decision = ocsp_decision;
        }
    }
}

/// Parses a `--crl` value: an http(s) or file: URL, or else a plain file path.
fn parse_crl_argument(text: &str, working_dir: &Path) -> Result<Source, Failure> {
    let is_url = text.starts_with("file:") || text.contains("://");
    if !is_url {
        return Ok(Source::File(working_dir.join(text)));
    }
    Source::parse(text, working_dir)
        .map_err(|error| Failure::usage(format!("invalid --crl value \"{text}\": {error}")))
}

fn read_certificates(path: &Path) -> Result<Vec<ParsedCertificate>, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|error| Failure::data(format!("cannot read {}: {error}", path.display())))?;
    ParsedCertificate::from_pem_or_der(&bytes)
        .map_err(|error| Failure::data(format!("{} is not a certificate: {error}", path.display())))
}

/// Reads every CRL source. A local file that cannot be read or decoded is an input error; a URL
/// that cannot be fetched only leaves its CRL out, which makes the status unknown unless
/// another CRL covers it.
async fn load_crls(sources: &[Source], limits: FetchLimits) -> Result<Vec<DecodedCrl>, Failure> {
    let fetcher = Fetcher::new(limits)
        .map_err(|error| Failure::data(format!("cannot build the HTTP client: {error}")))?;
    let mut crls = Vec::new();
    for source in sources {
        let is_file = matches!(source, Source::File(_));
        let decoded = match fetcher.fetch(source).await {
            Ok(body) => DecodedCrl::from_pem_or_der(&body, &source.to_string())
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match decoded {
            Ok(decoded) => crls.extend(decoded),
            Err(message) if is_file => return Err(Failure::data(message)),
            Err(message) => eprintln!("revcheck: warning: {message}"),
        }
    }
    Ok(crls)
}

/// One certificate in `--json` output.
#[derive(Debug, Serialize)]
struct CertificateOutput {
    subject: String,
    serial: String,
    fingerprint: String,
    status: &'static str,
    source: Option<&'static str>,
    reason: Option<&'static str>,
    detail: Option<String>,
    revocation_time: Option<String>,
    this_update: Option<String>,
    next_update: Option<String>,
}

#[derive(Debug, Serialize)]
struct ReportOutput {
    status: &'static str,
    error: Option<String>,
    certificates: Vec<CertificateOutput>,
    trust_anchor: Option<String>,
}

fn certificate_output(
    certificate: &ParsedCertificate,
    decision: &Decision,
    source: Option<StatusSource>,
) -> CertificateOutput {
    let mut output = CertificateOutput {
        subject: certificate.subject().to_string(),
        serial: certificate.serial().to_string(),
        fingerprint: certificate.fingerprint_hex(),
        status: decision.status().as_str(),
        source: source.map(StatusSource::as_str),
        reason: None,
        detail: None,
        revocation_time: None,
        this_update: None,
        next_update: None,
    };
    match decision {
        Decision::Good {
            this_update,
            next_update,
            ..
        } => {
            output.this_update = Some(format_rfc3339(*this_update));
            output.next_update = Some(format_rfc3339(*next_update));
        }
        Decision::Revoked {
            revocation_time,
            reason,
            this_update,
            next_update,
            ..
        } => {
            output.reason = Some(reason.map_or("unspecified", |r| r.as_str()));
            output.revocation_time = Some(format_rfc3339(*revocation_time));
            output.this_update = Some(format_rfc3339(*this_update));
            output.next_update = Some(format_rfc3339(*next_update));
        }
        Decision::Unknown(reason) => {
            output.reason = Some(reason.code);
            output.detail = Some(reason.detail.clone());
        }
    }
    output
}

fn print_report(report: &ChainReport, json: bool) {
    let output = ReportOutput {
        status: report.overall().as_str(),
        error: report.path_error.as_ref().map(ToString::to_string),
        certificates: report
            .results
            .iter()
            .map(|result| certificate_output(&result.certificate, &result.decision, result.source))
            .collect(),
        trust_anchor: report
            .path
            .last()
            .map(|anchor| anchor.subject().to_string()),
    };

    let mut lines = Vec::new();
    if json {
        match serde_json::to_string_pretty(&output) {
            Ok(text) => lines.push(text),
            Err(error) => eprintln!("revcheck: cannot encode the report: {error}"),
        }
    } else {
        if let Some(error) = &output.error {
            lines.push(format!("unknown: {error}"));
        }
        for certificate in &output.certificates {
            lines.push(describe_line(certificate));
        }
        if let Some(anchor) = &output.trust_anchor {
            lines.push(format!(
                "anchor: \"{anchor}\" (trust anchor, not checked for revocation)"
            ));
        }
    }

    // A full disk or closed pipe is reported, not a panic; the exit status still says the
    // verdict.
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if let Err(error) = writeln!(stdout, "{line}") {
            eprintln!("revcheck: cannot write the report: {error}");
            return;
        }
    }
}

fn describe_line(output: &CertificateOutput) -> String {
    let subject = format!("\"{}\" serial {}", output.subject, output.serial);
    match output.status {
        "good" => format!(
            "good: {subject} (CRL thisUpdate {}, nextUpdate {})",
            output.this_update.as_deref().unwrap_or("-"),
            output.next_update.as_deref().unwrap_or("-")
        ),
        "revoked" => format!(
            "revoked: {subject} at {}, reason {} (CRL thisUpdate {})",
            output.revocation_time.as_deref().unwrap_or("-"),
            output.reason.unwrap_or("unspecified"),
            output.this_update.as_deref().unwrap_or("-")
        ),
        _ => format!(
            "unknown: {subject}: {} ({})",
            output.detail.as_deref().unwrap_or("-"),
            output.reason.unwrap_or("-")
        ),
    }
}
