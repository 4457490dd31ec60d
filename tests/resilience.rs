//! Resilience of `revcheck serve` as a child process: CRL sources that fail in every way the
//! fetcher can see, restarts from the state directory, configuration reloads under load and the
//! replacement of a large CRL. CRLs come from a small HTTP/1.1 server on 127.0.0.1 that each
//! test configures, per request path, to serve them or to fail. Except in the large CRL test, expected good
//! and revoked verdicts come from `openssl verify -crl_check` on the same CRL, not from
//! revcheck.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use common::revcheck::RevcheckProcess;
use rcgen::RevocationReason;
use revcheck::fixtures::{CrlBuilder, CrlEntry, LeafSpec, TestCa};
use serde_json::Value;
use tempfile::TempDir;

const OPENSSL: &str = "/usr/bin/openssl";

/// Serial number of the client that every CRL of a test CA revokes. The high bit is set, so the
/// DER INTEGER content is `00 80 01`.
const REVOKED_SERIAL: [u8; 2] = [0x80, 0x01];
/// Serial number of the client that no CRL of a test CA lists.
const GOOD_SERIAL: [u8; 2] = [0x80, 0x02];
/// 2025-06-01T12:00:00Z, when `REVOKED_SERIAL` was revoked.
const REVOCATION_UNIX_SECONDS: u64 = 1_748_779_200;
const REVOCATION_TIME: &str = "2025-06-01T12:00:00Z";

/// Bytes served in place of a CRL: neither DER nor PEM.
const GARBAGE: &[u8] = b"\x00\x01 this is not a CRL \xff\xfe";

/// `fetch.max_size` of the fault tests, in bytes: above every small test CRL, below the
/// oversized one. 1024 is the smallest value revcheck accepts.
const MAX_SIZE: usize = 4096;
/// `fetch.timeout` of the fault tests.
const FETCH_TIMEOUT: &str = "500ms";
/// How long the server keeps a stalled connection open without a response: longer than
/// `FETCH_TIMEOUT`, short enough that stalled handlers end soon after a test.
const STALL: Duration = Duration::from_secs(2);
/// How often the CRL server checks for a new connection or a take-down request.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// ETag of the good CRL served to the CA of the 304 case.
const GOOD_ETAG: &str = "\"crl-2\"";

/// Upper bound on every wait for revcheck: startup, a refresh, an exit.
const DEADLINE: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Revoked entries that pad the large CRLs, besides the one serial that differs between them.
const LARGE_FILLER_ENTRIES: u32 = 200_000;
/// First filler serial number, and the others follow it. The top byte is below 0x80, so four bytes
/// are the minimal DER INTEGER content of every filler serial.
const FILLER_FIRST_SERIAL: u32 = 0x1000_0000;
/// Revoked in the old large CRL only.
const OLD_ONLY_SERIAL: [u8; 4] = [0x7f, 0x00, 0x00, 0x01];
/// Revoked in the new large CRL only.
const NEW_ONLY_SERIAL: [u8; 4] = [0x7f, 0x00, 0x00, 0x02];

/// One way a CRL source can fail. Each case gets its own CA, whose id is `fault-<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    SourceDown,
    SlowerThanTimeout,
    ServerError,
    NotModified,
    GarbageBody,
    TruncatedBody,
    BodyOverMaxSize,
    BadSignature,
    OtherCasCrl,
    LowerCrlNumber,
    ExpiredCrl,
    RedirectNotAllowed,
}

impl Fault {
    const ALL: [Fault; 12] = [
        Fault::SourceDown,
        Fault::SlowerThanTimeout,
        Fault::ServerError,
        Fault::NotModified,
        Fault::GarbageBody,
        Fault::TruncatedBody,
        Fault::BodyOverMaxSize,
        Fault::BadSignature,
        Fault::OtherCasCrl,
        Fault::LowerCrlNumber,
        Fault::ExpiredCrl,
        Fault::RedirectNotAllowed,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::SourceDown => "source-down",
            Fault::SlowerThanTimeout => "slower-than-timeout",
            Fault::ServerError => "http-500",
            Fault::NotModified => "http-304",
            Fault::GarbageBody => "garbage-body",
            Fault::TruncatedBody => "truncated-body",
            Fault::BodyOverMaxSize => "body-over-max-size",
            Fault::BadSignature => "bad-signature",
            Fault::OtherCasCrl => "other-cas-crl",
            Fault::LowerCrlNumber => "lower-crl-number",
            Fault::ExpiredCrl => "expired-crl",
            Fault::RedirectNotAllowed => "redirect-not-allowed",
        }
    }

    /// Returns the `outcome` label of `revcheck_crl_fetches_total` that the fault counts under.
    fn outcome(self) -> &'static str {
        match self {
            Fault::SourceDown
            | Fault::SlowerThanTimeout
            | Fault::ServerError
            | Fault::TruncatedBody
            | Fault::BodyOverMaxSize
            | Fault::RedirectNotAllowed => "fetch_error",
            Fault::NotModified => "not_modified",
            Fault::GarbageBody
            | Fault::BadSignature
            | Fault::OtherCasCrl
            | Fault::LowerCrlNumber
            | Fault::ExpiredCrl => "invalid",
        }
    }

    /// Returns a part of the `last_error` that `/v1/cas` shows for the source, or `None` when
    /// the fetch succeeds.
    fn error_fragment(self) -> Option<&'static str> {
        match self {
            Fault::SourceDown => Some("Connection refused"),
            Fault::SlowerThanTimeout => Some("timed out after 500ms"),
            Fault::ServerError => Some("answered HTTP 500"),
            Fault::NotModified => None,
            Fault::GarbageBody => Some("is not PEM or DER"),
            Fault::TruncatedBody => Some("end of file before message length reached"),
            Fault::BodyOverMaxSize => Some("larger than the limit of 4096 bytes"),
            Fault::BadSignature => Some("failed signature verification"),
            Fault::OtherCasCrl => Some("not by the expected CA"),
            Fault::LowerCrlNumber => Some("CRL number"),
            Fault::ExpiredCrl => Some("expired: nextUpdate was"),
            Fault::RedirectNotAllowed => Some("http://not-allowed.invalid/"),
        }
    }

    /// Returns the level and message of the log line that revcheck writes for each fetch with
    /// this fault.
    fn log_line(self) -> [&'static str; 2] {
        match self.outcome() {
            "fetch_error" => ["WARN", "CRL fetch failed; keeping the CRL already held"],
            "invalid" => ["WARN", "CRL rejected; keeping the CRL already held"],
            _ => ["DEBUG", "CRL not modified"],
        }
    }
}

/// Every failure fault keeps the last good CRL in use, and a 304 keeps it as current.
#[test]
fn faults_keep_last_good_crl() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let crl_server = CrlServer::start();
    // Taking a server down closes its listener for every path, so the source-down case has a
    // server of its own.
    let down_server = CrlServer::start();
    let other_ca = TestCa::root("resilience CA that is not configured").expect("CA is issued");
    let now = SystemTime::now();
    let good_times = CrlTimes::new(now - minutes(10), now + days(1));

    let cases: Vec<FaultCase> = Fault::ALL
        .iter()
        .map(|&fault| {
            let authority = TestAuthority::new(dir.path(), &format!("fault-{}", fault.name()));
            let good_crl = authority.crl(2, &good_times);
            let verdicts = authority.openssl_verdicts(&good_crl);
            let server = if fault == Fault::SourceDown {
                &down_server
            } else {
                &crl_server
            };
            let path = format!("/{}.crl", authority.id);
            let good_reply = if fault == Fault::NotModified {
                Reply::crl_with_validators(good_crl.clone(), GOOD_ETAG, good_times.this_update)
            } else {
                Reply::crl(good_crl.clone())
            };
            server.set_reply(&path, good_reply);
            FaultCase {
                fault,
                url: server.url(&path),
                path,
                authority,
                good_crl,
                verdicts,
            }
        })
        .collect();

    let mut config = global_config(&dir.path().join("state"), FETCH_TIMEOUT, MAX_SIZE);
    for case in &cases {
        config.push_str(&ca_table(&case.authority, &case.url));
    }
    let config_path = write_file(dir.path(), "revcheck.toml", config.as_bytes());
    // The 304 case is logged at debug level only.
    let revcheck = Revcheck::spawn(&config_path, "info,revcheck::status::refresh=debug");

    wait_for("every fault CA to load CRL number 2", || {
        let cas = revcheck.get("/v1/cas");
        let pending: Vec<&str> = cases
            .iter()
            .filter(|case| ca_entry(&cas, &case.authority.id)["crl_number"] != "02")
            .map(|case| case.authority.id.as_str())
            .collect();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("without CRL 2: {pending:?}; {cas}"))
        }
    });
    for case in &cases {
        let context = format!("{} before the fault", case.fault.name());
        assert_lookups_from_crl(&revcheck, &context, &case.authority.id, &case.verdicts);
    }

    let metrics_before = revcheck.get("/metrics").body;
    let log_before = revcheck.log().len();
    for case in &cases {
        apply_fault(case, &crl_server, &down_server, &other_ca, &good_times, now);
    }
    let switched_at = Instant::now();

    // A fetch already under way at the switch may still end with the good CRL after this
    // snapshot. The next fetch starts only once that one has ended, so the second last_fetch
    // that differs from the snapshot belongs to a fetch that met the fault.
    let cas_at_switch = revcheck.get("/v1/cas");
    let mut fetches: Vec<(Value, u32)> = cases
        .iter()
        .map(|case| {
            (
                source_of(&cas_at_switch, &case.authority.id)["last_fetch"].clone(),
                0,
            )
        })
        .collect();
    let cas = wait_for("two fetches from every source after the switch", || {
        let cas = revcheck.get("/v1/cas");
        for (case, (last_fetch, count)) in cases.iter().zip(&mut fetches) {
            let source = source_of(&cas, &case.authority.id);
            if source["last_fetch"] != *last_fetch {
                *last_fetch = source["last_fetch"].clone();
                *count += 1;
            }
            let context = format!("{} while the fault lasts", case.fault.name());
            assert_lookups_from_crl(&revcheck, &context, &case.authority.id, &case.verdicts);
        }
        let pending: Vec<&str> = cases
            .iter()
            .zip(&fetches)
            .filter(|(_, (_, count))| *count < 2)
            .map(|(case, _)| case.fault.name())
            .collect();
        if pending.is_empty() {
            Ok(cas)
        } else {
            Err(format!("fewer than two fetches for {pending:?}; {cas}"))
        }
    });

    let metrics_after = revcheck.get("/metrics").body;
    let log = revcheck.log();
    let log_since_switch = &log[log_before..];
    for case in &cases {
        assert_fault_handled(
            case,
            &revcheck,
            &cas_at_switch,
            &cas,
            [&metrics_before, &metrics_after],
            log_since_switch,
        );
    }

    let requests = crl_server.requests_for(&cases_path(&cases, Fault::NotModified));
    let requests_after_switch: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|request| request.at > switched_at)
        .collect();
    assert!(
        !requests_after_switch.is_empty(),
        "http-304: no request reached the server after the switch: {requests:?}"
    );
    for request in requests_after_switch {
        assert_eq!(
            request.if_none_match.as_deref(),
            Some(GOOD_ETAG),
            "http-304: request without the ETag of the CRL in use: {request:?}"
        );
        assert_eq!(
            request.if_modified_since,
            Some(httpdate::fmt_http_date(good_times.this_update)),
            "http-304: request without the Last-Modified of the CRL in use: {request:?}"
        );
        assert_eq!(
            request.status,
            Some(304),
            "http-304: request did not get 304: {request:?}"
        );
    }

    let readiness = revcheck.get("/readyz");
    assert_eq!(readiness.status, 200, "every CA keeps a CRL: {readiness}");
}

/// Without any CRL ever fetched, lookups are unknown and the service is not ready.
#[test]
fn source_down_from_start() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let server = CrlServer::start();
    server.take_down();
    let authority = TestAuthority::new(dir.path(), "down-from-start");
    let url = server.url("/down-from-start.crl");
    let mut config = global_config(&dir.path().join("state"), FETCH_TIMEOUT, MAX_SIZE);
    config.push_str(&ca_table(&authority, &url));
    let config_path = write_file(dir.path(), "revcheck.toml", config.as_bytes());

    let revcheck = Revcheck::spawn(&config_path, "info");
    let source = wait_for("the first fetch to fail", || {
        let source = source_of(&revcheck.get("/v1/cas"), &authority.id);
        if source["last_error"].is_string() {
            Ok(source)
        } else {
            Err(source.to_string())
        }
    });
    let last_error = source["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("Connection refused"),
        "expected a refused connection in last_error: {source}"
    );
    assert_eq!(source["last_success"], Value::Null, "{source}");

    let readiness = revcheck.get("/readyz");
    assert_eq!(readiness.status, 503, "{readiness}");
    let missing = &readiness.json()["missing"];
    assert_eq!(missing[0]["ca"], authority.id.as_str(), "{readiness}");
    let reason = missing[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no verified CRL yet"), "{readiness}");

    for serial in ["8001", "8002"] {
        let response = revcheck.status(&authority.id, serial);
        assert_unknown(&format!("serial {serial}"), &response, "no_crl");
    }

    let metrics = revcheck.get("/metrics").body;
    let fetch_errors = counter(
        &metrics,
        "revcheck_crl_fetches_total",
        &[("ca", &authority.id), ("outcome", "fetch_error")],
    );
    assert!(fetch_errors >= 1.0, "{metrics}");
    let successes = counter(
        &metrics,
        "revcheck_crl_fetches_total",
        &[("ca", &authority.id), ("outcome", "success")],
    );
    assert_eq!(successes, 0.0, "{metrics}");
    let readiness_gauge = counter(&metrics, "revcheck_ready", &[]);
    assert_eq!(readiness_gauge, 0.0, "{metrics}");

    let log = revcheck.log();
    let ca_field = format!("ca=\"{}\"", authority.id);
    let source_field = format!("source={url}");
    assert!(
        find_line(
            &log,
            &["WARN", "CRL fetch failed", &ca_field, &source_field]
        )
        .is_some(),
        "no warning for the failed fetch in the log:\n{log}"
    );
}

/// After a restart with every source down, the CRL comes from the state directory.
#[test]
fn restart_serves_state_directory() {
    let setup = StateSetup::prepare();
    let id = &setup.authority.id;

    let revcheck = Revcheck::spawn(&setup.config, "info");
    // The state directory is read before the listening line, so no wait is needed.
    let readiness = revcheck.get("/readyz");
    assert_eq!(readiness.status, 200, "{readiness}");
    let cas = revcheck.get("/v1/cas");
    assert_eq!(ca_entry(&cas, id)["crl_number"], "02", "{cas}");
    assert_lookups_from_crl(&revcheck, "after the restart", id, &setup.verdicts);
    let log = revcheck.log();
    assert!(
        find_line(
            &log,
            &[
                "CRL restored from the state directory",
                &format!("ca=\"{id}\"")
            ]
        )
        .is_some(),
        "no line about the restored CRL in the log:\n{log}"
    );

    let source = wait_for("a failed fetch after the restart", || {
        let source = source_of(&revcheck.get("/v1/cas"), id);
        if source["last_error"].is_string() {
            Ok(source)
        } else {
            Err(source.to_string())
        }
    });
    let last_error = source["last_error"].as_str().unwrap_or_default();
    assert!(last_error.contains("Connection refused"), "{source}");
    assert_lookups_from_crl(&revcheck, "after a failed fetch", id, &setup.verdicts);
    let readiness = revcheck.get("/readyz");
    assert_eq!(readiness.status, 200, "{readiness}");

    let metrics = revcheck.get("/metrics").body;
    let load_errors = counter(
        &metrics,
        "revcheck_state_errors_total",
        &[("ca", id), ("operation", "load")],
    );
    assert_eq!(load_errors, 0.0, "{metrics}");
}

/// A CRL in the state directory that has passed its nextUpdate is not used at start.
#[test]
fn restart_rejects_expired_state_file() {
    let setup = StateSetup::prepare();
    let id = &setup.authority.id;
    let now = SystemTime::now();
    let expired_times = CrlTimes::new(now - days(2), now - days(1));
    let expired = setup.authority.crl(3, &expired_times);
    fs::write(setup.state_file(), &expired).expect("state file is replaced");

    let revcheck = Revcheck::spawn(&setup.config, "info");
    let readiness = revcheck.get("/readyz");
    assert_eq!(readiness.status, 503, "{readiness}");
    assert_eq!(
        readiness.json()["missing"][0]["ca"],
        id.as_str(),
        "{readiness}"
    );
    for serial in ["8001", "8002"] {
        let response = revcheck.status(id, serial);
        assert_unknown(&format!("serial {serial}"), &response, "no_crl");
    }
    assert_state_file_rejected(&revcheck, id, "crl_expired");
}

/// A state file of garbage bytes is ignored and replaced after the next good fetch.
#[test]
fn restart_ignores_corrupt_state_file() {
    let setup = StateSetup::prepare();
    let id = &setup.authority.id;
    let state_file = setup.state_file();
    fs::write(&state_file, GARBAGE).expect("state file is replaced");

    let revcheck = Revcheck::spawn(&setup.config, "info");
    let readiness = revcheck.get("/readyz");
    assert_eq!(readiness.status, 503, "{readiness}");
    for serial in ["8001", "8002"] {
        let response = revcheck.status(id, serial);
        assert_unknown(&format!("serial {serial}"), &response, "no_crl");
    }
    assert_state_file_rejected(&revcheck, id, "crl_malformed");

    setup.server.bring_up();
    wait_for("a good fetch after the source is back", || {
        let readiness = revcheck.get("/readyz");
        if readiness.status == 200 {
            Ok(())
        } else {
            Err(readiness.to_string())
        }
    });
    assert_lookups_from_crl(&revcheck, "after recovery", id, &setup.verdicts);
    wait_for("the state file to hold the good CRL again", || {
        let stored = fs::read(&state_file).unwrap_or_default();
        if stored == setup.good_crl {
            Ok(())
        } else {
            Err(format!(
                "{} bytes in {}",
                stored.len(),
                state_file.display()
            ))
        }
    });
}

/// SIGHUP with a valid configuration adds a CA and with an invalid one changes nothing, and no
/// lookup running meanwhile fails.
#[test]
fn reload_during_lookups() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let server = CrlServer::start();
    let now = SystemTime::now();
    let times = CrlTimes::new(now - minutes(10), now + days(1));
    let first = TestAuthority::new(dir.path(), "reload-first");
    let second = TestAuthority::new(dir.path(), "reload-second");
    let mut verdicts = Vec::new();
    for authority in [&first, &second] {
        let crl = authority.crl(2, &times);
        verdicts.push(authority.openssl_verdicts(&crl));
        server.set_reply(&format!("/{}.crl", authority.id), Reply::crl(crl));
    }
    let first_url = server.url("/reload-first.crl");
    let second_url = server.url("/reload-second.crl");

    let global = global_config(&dir.path().join("state"), FETCH_TIMEOUT, MAX_SIZE);
    let config_path = dir.path().join("revcheck.toml");
    let one_ca = format!("{global}{}", ca_table(&first, &first_url));
    fs::write(&config_path, &one_ca).expect("configuration is written");
    let revcheck = Revcheck::spawn(&config_path, "info");
    wait_for_crl_number(&revcheck, &first.id, "02");

    let stop = AtomicBool::new(false);
    let completed = AtomicUsize::new(0);
    // Each reload waits for this many more lookups, so that lookups run before, during and
    // after it.
    let lookups_per_step = 50;
    let report = thread::scope(|scope| {
        let lookups = scope
            .spawn(|| run_reload_lookups(&revcheck, &first.id, &verdicts[0], &stop, &completed));
        // Ends the lookups also when an assertion below fails, so that the scope can end.
        let _stop_lookups = SetOnDrop(&stop);
        wait_for_lookups(&completed, lookups_per_step);

        let two_cas = format!("{one_ca}{}", ca_table(&second, &second_url));
        fs::write(&config_path, &two_cas).expect("configuration is written");
        revcheck.send_signal("HUP");
        let at_valid_reload = completed.load(Ordering::SeqCst);
        wait_for_crl_number(&revcheck, &second.id, "02");
        wait_for_lookups(&completed, at_valid_reload + lookups_per_step);
        let log = revcheck.log();
        assert!(
            find_line(&log, &["configuration reloaded", "reload-second"]).is_some(),
            "no reload line naming the new CA in the log:\n{log}"
        );
        assert_lookups_from_crl(&revcheck, "after the reload", &second.id, &verdicts[1]);

        // The invalid file also drops the second CA, which must stay configured.
        let missing_certificate = dir.path().join("no-such-ca.pem");
        let invalid = format!(
            "{one_ca}\n[[ca]]\nid = \"reload-third\"\ncertificate = '{}'\n\
             crl = [\"{first_url}\"]\n",
            missing_certificate.display()
        );
        fs::write(&config_path, invalid).expect("configuration is written");
        revcheck.send_signal("HUP");
        let at_invalid_reload = completed.load(Ordering::SeqCst);
        // The message lists each problem on a line of its own, after the rejection line.
        let rejection = wait_for("the invalid reload to be rejected", || {
            let log = revcheck.log();
            match log.find("reload rejected") {
                Some(start) => Ok(log[start..].to_owned()),
                None => Err(log),
            }
        });
        assert!(
            rejection.contains("no-such-ca.pem"),
            "the rejection does not name the missing file: {rejection}"
        );

        let cas = revcheck.get("/v1/cas");
        let body = cas.json();
        let ids: Vec<&str> = body["cas"]
            .as_array()
            .map(|entries| entries.iter().filter_map(|ca| ca["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, [first.id.as_str(), second.id.as_str()], "{cas}");
        assert_lookups_from_crl(
            &revcheck,
            "after the rejected reload",
            &second.id,
            &verdicts[1],
        );
        let readiness = revcheck.get("/readyz");
        assert_eq!(readiness.status, 200, "{readiness}");
        wait_for_lookups(&completed, at_invalid_reload + lookups_per_step);

        stop.store(true, Ordering::SeqCst);
        lookups.join().expect("lookup thread finishes")
    });

    assert!(report.count > 0, "no lookup ran during the reloads");
    assert!(
        report.failures.is_empty(),
        "{} of {} lookups failed during the reloads (max latency {:?}); first ones:\n{}",
        report.failures.len(),
        report.count,
        report.max_latency,
        report
            .failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// SIGHUP reloads the identities file of `[auth]`: a changed mapping applies at once, even to
/// a certificate in the cache, and a file with a duplicate key is rejected while the running
/// mapping stays.
#[test]
fn reload_replaces_identities() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let server = CrlServer::start();
    let now = SystemTime::now();
    let times = CrlTimes::new(now - minutes(10), now + days(1));
    let authority = TestAuthority::new(dir.path(), "auth-reload");
    server.set_reply("/auth-reload.crl", Reply::crl(authority.crl(2, &times)));

    let good_pem = fs::read_to_string(&authority.good_leaf_pem).expect("good client");
    let fingerprint = openssl_fingerprint(&authority.good_leaf_pem);
    let identities = dir.path().join("identities.tsv");
    fs::write(&identities, format!("{fingerprint}\talice\n")).expect("identities written");
    let config_path = dir.path().join("revcheck.toml");
    let config = format!(
        "{}\n[auth]\nidentity = \"fingerprint\"\nidentities = '{}'\n{}",
        global_config(&dir.path().join("state"), FETCH_TIMEOUT, MAX_SIZE),
        identities.display(),
        ca_table(&authority, &server.url("/auth-reload.crl")),
    );
    fs::write(&config_path, config).expect("configuration is written");
    let revcheck = Revcheck::spawn(&config_path, "info");
    wait_for_crl_number(&revcheck, &authority.id, "02");

    let headers = [
        ("X-SSL-Client-Verify", "SUCCESS".to_owned()),
        ("X-SSL-Client-Cert", percent_encode(&good_pem)),
    ];
    let first = revcheck.auth(&headers);
    assert_eq!(first.status, 200, "{first}");
    assert_eq!(first.header("x-client-identity"), Some("alice"), "{first}");

    fs::write(&identities, format!("{fingerprint}\tbob\n")).expect("identities written");
    revcheck.send_signal("HUP");
    wait_for(
        "the reloaded identities file to map the client to bob",
        || {
            let response = revcheck.auth(&headers);
            if response.header("x-client-identity") == Some("bob") {
                Ok(())
            } else {
                Err(response.to_string())
            }
        },
    );

    fs::write(
        &identities,
        format!("{fingerprint}\tcarol\n{fingerprint}\tdave\n"),
    )
    .expect("identities written");
    revcheck.send_signal("HUP");
    let rejection = wait_for("the duplicate key to be rejected", || {
        let log = revcheck.log();
        match log.find("reload rejected") {
            Some(start) => Ok(log[start..].to_owned()),
            None => Err(log),
        }
    });
    assert!(
        rejection.contains("line 2") && rejection.contains("already listed on line 1"),
        "the rejection does not name the duplicate lines: {rejection}"
    );
    let kept = revcheck.auth(&headers);
    assert_eq!(kept.header("x-client-identity"), Some("bob"), "{kept}");

    fs::write(&identities, "# nobody is mapped\n").expect("identities written");
    revcheck.send_signal("HUP");
    let unmapped = wait_for("the client to lose its identity", || {
        let response = revcheck.auth(&headers);
        if response.status == 403 {
            Ok(response)
        } else {
            Err(response.to_string())
        }
    });
    assert_eq!(
        unmapped.header("x-revcheck-reason"),
        Some("identity_unmapped"),
        "{unmapped}"
    );
}

/// Returns the SHA-256 fingerprint of a PEM certificate in lowercase hex, as OpenSSL computes it.
fn openssl_fingerprint(certificate_pem: &Path) -> String {
    let output = Command::new(OPENSSL)
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(certificate_pem)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl x509 -fingerprint failed: {output:?}"
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let (_, colon_hex) = text
        .trim()
        .split_once('=')
        .unwrap_or_else(|| panic!("unexpected openssl output: {text}"));
    colon_hex.replace(':', "").to_ascii_lowercase()
}

/// Percent-encodes every byte other than letters, digits and `-`, as nginx does for
/// `$ssl_client_escaped_cert`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Lookups that run while a 200k-entry CRL replaces another never see a mix of the two.
#[test]
fn large_crl_replaced_atomically() {
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let server = CrlServer::start();
    let authority = TestAuthority::new(dir.path(), "large");
    let now = SystemTime::now();
    let old_times = CrlTimes::new(now - minutes(20), now + days(1));
    let new_times = CrlTimes::new(now - minutes(10), now + days(1));
    let old_crl = large_crl(&authority, 2, &old_times, OLD_ONLY_SERIAL);
    server.set_reply(
        "/large.crl",
        Reply::crl_with_validators(old_crl, "\"large-2\"", old_times.this_update),
    );

    let url = server.url("/large.crl");
    // The fetch timeout covers only the download. 16 MiB leaves room for 200k entries.
    let mut config = global_config(&dir.path().join("state"), "10s", 16 * 1024 * 1024);
    config.push_str(&ca_table(&authority, &url));
    let config_path = write_file(dir.path(), "revcheck.toml", config.as_bytes());
    let revcheck = Revcheck::spawn(&config_path, "info");
    let old_entry = wait_for_crl_number(&revcheck, &authority.id, "02");
    assert_eq!(
        old_entry["entries"],
        LARGE_FILLER_ENTRIES + 1,
        "{old_entry}"
    );
    let new_crl = large_crl(&authority, 3, &new_times, NEW_ONLY_SERIAL);

    let stop = AtomicBool::new(false);
    let expected = SwapExpectation {
        ca: &authority.id,
        old: &old_times,
        new: &new_times,
    };
    let report = thread::scope(|scope| {
        let lookups = scope.spawn(|| run_swap_lookups(&revcheck, &expected, &stop));
        let _stop_lookups = SetOnDrop(&stop);

        server.set_reply(
            "/large.crl",
            Reply::crl_with_validators(new_crl, "\"large-3\"", new_times.this_update),
        );
        let new_entry = wait_for_crl_number(&revcheck, &authority.id, "03");
        assert_eq!(
            new_entry["entries"],
            LARGE_FILLER_ENTRIES + 1,
            "{new_entry}"
        );
        lookups.join().expect("lookup thread finishes")
    });

    let summary = format!(
        "{} lookups, {} from the old CRL, {} from the new one, max latency {:?}",
        report.count, report.old, report.new, report.max_latency
    );
    assert!(
        report.failures.is_empty(),
        "{summary}; {} failed, first ones:\n{}",
        report.failures.len(),
        report
            .failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(report.old > 0, "no lookup saw the old CRL: {summary}");
    assert!(report.new > 0, "no lookup saw the new CRL: {summary}");
}

/// One row of the fault table: the fault, its CA and the good CRL served before it.
struct FaultCase {
    fault: Fault,
    authority: TestAuthority,
    /// URL path of the CA's CRL on its server.
    path: String,
    url: String,
    good_crl: Vec<u8>,
    verdicts: Verdicts,
}

fn cases_path(cases: &[FaultCase], fault: Fault) -> String {
    cases
        .iter()
        .find(|case| case.fault == fault)
        .map(|case| case.path.clone())
        .unwrap_or_else(|| panic!("no case for {fault:?}"))
}

/// Makes the source of `case` fail with its fault.
fn apply_fault(
    case: &FaultCase,
    crl_server: &CrlServer,
    down_server: &CrlServer,
    other_ca: &TestCa,
    good_times: &CrlTimes,
    now: SystemTime,
) {
    let authority = &case.authority;
    let newer_times = CrlTimes::new(now - minutes(5), now + days(1));
    let reply = match case.fault {
        Fault::SourceDown => {
            down_server.take_down();
            return;
        }
        Fault::SlowerThanTimeout => Reply::Stall,
        Fault::ServerError => Reply::Status(500),
        // The server sends 304 only for the ETag of the good CRL. Without that ETag the fetch
        // would get garbage and fail.
        Fault::NotModified => {
            Reply::crl_with_validators(GARBAGE.to_vec(), GOOD_ETAG, good_times.this_update)
        }
        Fault::GarbageBody => Reply::crl(GARBAGE.to_vec()),
        Fault::TruncatedBody => Reply::Truncated(case.good_crl.clone()),
        Fault::BodyOverMaxSize => {
            let mut builder = authority.crl_builder(3, &newer_times);
            for serial in 0..300_u32 {
                let serial = (FILLER_FIRST_SERIAL + serial).to_be_bytes();
                builder = builder.entry(CrlEntry::new(&serial, revocation_time()));
            }
            let crl = builder.build(&authority.ca).expect("CRL is signed");
            assert!(
                crl.len() > MAX_SIZE,
                "oversized CRL has {} bytes",
                crl.len()
            );
            Reply::crl(crl)
        }
        Fault::BadSignature => {
            let builder = authority.crl_builder(3, &newer_times).corrupt_signature();
            Reply::crl(builder.build(&authority.ca).expect("CRL is signed"))
        }
        Fault::OtherCasCrl => {
            let builder = CrlBuilder::new()
                .authority_key_identifier()
                .crl_number(3)
                .this_update(newer_times.this_update)
                .next_update(Some(newer_times.next_update));
            Reply::crl(builder.build(other_ca).expect("CRL is signed"))
        }
        // CRL number 1 is signed and current, so only its number shows that it is outdated.
        Fault::LowerCrlNumber => Reply::crl(authority.crl(1, &newer_times)),
        Fault::ExpiredCrl => {
            let expired_times = CrlTimes::new(now - days(2), now - days(1));
            Reply::crl(authority.crl(3, &expired_times))
        }
        // A name under .invalid never resolves, but revcheck must reject it before resolving.
        Fault::RedirectNotAllowed => {
            Reply::Redirect(format!("http://not-allowed.invalid/{}.crl", authority.id))
        }
    };
    crl_server.set_reply(&case.path, reply);
}

/// Checks what `/v1/cas`, lookups, metrics and the log show after two fetches with the fault.
fn assert_fault_handled(
    case: &FaultCase,
    revcheck: &Revcheck,
    cas_at_switch: &ApiResponse,
    cas: &ApiResponse,
    [metrics_before, metrics_after]: [&str; 2],
    log_since_switch: &str,
) {
    let name = case.fault.name();
    let id = &case.authority.id;
    let source = source_of(cas, id);

    match case.fault.error_fragment() {
        Some(fragment) => {
            let last_error = source["last_error"].as_str().unwrap_or_default();
            assert!(
                last_error.contains(fragment),
                "{name}: expected {fragment:?} in last_error: {source}"
            );
        }
        None => {
            assert_eq!(source["last_error"], Value::Null, "{name}: {source}");
            let success_at_switch = &source_of(cas_at_switch, id)["last_success"];
            assert_ne!(
                &source["last_success"], success_at_switch,
                "{name}: no new last_success since the switch: {source}"
            );
        }
    }

    let entry = ca_entry(cas, id);
    assert_eq!(entry["crl_number"], "02", "{name}: {entry}");
    assert_eq!(entry["ready"], true, "{name}: {entry}");
    let context = format!("{name} after two fetches");
    assert_lookups_from_crl(revcheck, &context, id, &case.verdicts);

    let fetches = |metrics: &str, outcome: &str| {
        counter(
            metrics,
            "revcheck_crl_fetches_total",
            &[("ca", id), ("outcome", outcome)],
        )
    };
    let outcome = case.fault.outcome();
    assert!(
        fetches(metrics_after, outcome) > fetches(metrics_before, outcome),
        "{name}: {outcome} count did not rise from {}:\n{metrics_after}",
        fetches(metrics_before, outcome)
    );
    // Only a fetch already under way at the switch can end in success, and none can end in
    // another failure outcome.
    let other_outcomes = ["fetch_error", "invalid", "not_modified"]
        .into_iter()
        .filter(|other| *other != outcome);
    for other in other_outcomes {
        assert_eq!(
            fetches(metrics_after, other),
            fetches(metrics_before, other),
            "{name}: {other} count changed:\n{metrics_after}"
        );
    }
    if case.fault == Fault::NotModified {
        assert_eq!(
            fetches(metrics_after, "success"),
            fetches(metrics_before, "success"),
            "{name}: a 200 response was counted:\n{metrics_after}"
        );
    }
    if case.fault == Fault::LowerCrlNumber {
        let regressions = |metrics: &str| {
            counter(
                metrics,
                "revcheck_crl_number_regressions_total",
                &[("ca", id)],
            )
        };
        assert!(
            regressions(metrics_after) > regressions(metrics_before),
            "{name}: regression count did not rise:\n{metrics_after}"
        );
    }

    let [level, message] = case.fault.log_line();
    let ca_field = format!("ca=\"{id}\"");
    let source_field = format!("source={}", case.url);
    assert!(
        find_line(
            log_since_switch,
            &[level, message, &ca_field, &source_field]
        )
        .is_some(),
        "{name}: no {level} line {message:?} with {ca_field} and {source_field} since the \
         switch:\n{log_since_switch}"
    );
}

/// A CA whose state directory contains its good CRL from a first run that has stopped, and whose
/// CRL source is now down.
struct StateSetup {
    // Fields drop in order: the server stops before the directory is removed.
    server: CrlServer,
    authority: TestAuthority,
    config: PathBuf,
    state_dir: PathBuf,
    good_crl: Vec<u8>,
    verdicts: Verdicts,
    _dir: TempDir,
}

impl StateSetup {
    fn prepare() -> StateSetup {
        let dir = tempfile::tempdir().expect("temporary directory is created");
        let server = CrlServer::start();
        let authority = TestAuthority::new(dir.path(), "stateful");
        let now = SystemTime::now();
        let good_crl = authority.crl(2, &CrlTimes::new(now - minutes(10), now + days(1)));
        let verdicts = authority.openssl_verdicts(&good_crl);
        server.set_reply("/stateful.crl", Reply::crl(good_crl.clone()));

        let state_dir = dir.path().join("state");
        let mut config = global_config(&state_dir, FETCH_TIMEOUT, MAX_SIZE);
        config.push_str(&ca_table(&authority, &server.url("/stateful.crl")));
        let config_path = write_file(dir.path(), "revcheck.toml", config.as_bytes());

        let setup = StateSetup {
            server,
            authority,
            config: config_path,
            state_dir,
            good_crl,
            verdicts,
            _dir: dir,
        };
        let mut first_run = Revcheck::spawn(&setup.config, "info");
        wait_for_crl_number(&first_run, &setup.authority.id, "02");
        // The CRL is written to the state directory just after it is put in use.
        wait_for("the CRL in the state directory", || {
            let stored = setup
                .find_state_file()
                .map(|path| fs::read(path).unwrap_or_default());
            match stored {
                Some(bytes) if bytes == setup.good_crl => Ok(()),
                other => Err(format!("{:?} bytes", other.map(|bytes| bytes.len()))),
            }
        });
        let status = first_run.terminate();
        assert_eq!(
            status.code(),
            Some(0),
            "first run exit {status}; log:\n{}",
            first_run.log()
        );
        setup.server.take_down();
        setup
    }

    /// Returns the only `.crl` file in the CA's folder of the state directory.
    fn state_file(&self) -> PathBuf {
        self.find_state_file().unwrap_or_else(|| {
            panic!(
                "no single .crl file in {}",
                self.state_dir.join(&self.authority.id).display()
            )
        })
    }

    fn find_state_file(&self) -> Option<PathBuf> {
        let folder = self.state_dir.join(&self.authority.id);
        let files: Vec<PathBuf> = fs::read_dir(folder)
            .ok()?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "crl"))
            .collect();
        match files.as_slice() {
            [file] => Some(file.clone()),
            _ => None,
        }
    }
}

/// Checks that revcheck logged the state file of `id` as rejected, with `reason` in the line,
/// and counted one load error.
fn assert_state_file_rejected(revcheck: &Revcheck, id: &str, reason: &str) {
    let log = revcheck.log();
    assert!(
        find_line(
            &log,
            &["state file rejected", &format!("ca=\"{id}\""), reason]
        )
        .is_some(),
        "no rejection of the state file with {reason:?} in the log:\n{log}"
    );
    let metrics = revcheck.get("/metrics").body;
    let load_errors = counter(
        &metrics,
        "revcheck_state_errors_total",
        &[("ca", id), ("operation", "load")],
    );
    assert_eq!(load_errors, 1.0, "{metrics}");
}

/// Outcome of a loop of lookups run beside the test.
#[derive(Debug, Default)]
struct LookupReport {
    count: usize,
    failures: Vec<String>,
    max_latency: Duration,
}

/// Looks up the revoked and the good serial of `ca` until `stop` is set, for at most 60 s or
/// 20,000 lookups, and reports every response that is not 200 with the expected verdict.
/// `completed` counts the lookups done so far.
fn run_reload_lookups(
    revcheck: &Revcheck,
    ca: &str,
    verdicts: &Verdicts,
    stop: &AtomicBool,
    completed: &AtomicUsize,
) -> LookupReport {
    let started = Instant::now();
    let mut report = LookupReport::default();
    let cases = [("8001", verdicts.revoked), ("8002", verdicts.good)];
    for (serial, expected) in cases.iter().cycle() {
        if stop.load(Ordering::SeqCst)
            || report.count >= 20_000
            || started.elapsed() > Duration::from_secs(60)
        {
            break;
        }
        let sent = Instant::now();
        let response = revcheck.try_get(&format!("/v1/status/{ca}/{serial}"));
        report.max_latency = report.max_latency.max(sent.elapsed());
        report.count += 1;
        completed.fetch_add(1, Ordering::SeqCst);
        match response {
            Ok(response) => {
                let status = response.json_value().map(|body| body["status"].clone());
                if response.status != 200 || status.as_ref().ok() != Some(&Value::from(*expected)) {
                    report.failures.push(response.to_string());
                }
            }
            Err(error) => report.failures.push(error),
        }
    }
    report
}

fn wait_for_lookups(completed: &AtomicUsize, count: usize) {
    wait_for(&format!("{count} lookups"), || {
        let done = completed.load(Ordering::SeqCst);
        if done >= count {
            Ok(())
        } else {
            Err(format!("{done} done"))
        }
    });
}

/// What lookups may return while the large CRL is replaced.
struct SwapExpectation<'a> {
    ca: &'a str,
    old: &'a CrlTimes,
    new: &'a CrlTimes,
}

#[derive(Debug, Default)]
struct SwapReport {
    count: usize,
    old: usize,
    new: usize,
    failures: Vec<String>,
    max_latency: Duration,
}

/// Looks up the serial revoked only by the old CRL and the one revoked only by the new CRL, in
/// turn. The loop ends after 50 responses in a row from the new CRL, when `stop` is set, or at
/// 60 s or 100,000 lookups.
///
/// Each response must come wholly from one CRL: its thisUpdate and the serial's status agree.
/// Once a response came from the new CRL, no later one may come from the old CRL.
fn run_swap_lookups(
    revcheck: &Revcheck,
    expected: &SwapExpectation<'_>,
    stop: &AtomicBool,
) -> SwapReport {
    let started = Instant::now();
    let mut report = SwapReport::default();
    let mut new_in_a_row = 0;
    let serials = [
        (hex(&OLD_ONLY_SERIAL), ["revoked", "good"]),
        (hex(&NEW_ONLY_SERIAL), ["good", "revoked"]),
    ];
    for (serial, [status_in_old, status_in_new]) in serials.iter().cycle() {
        if new_in_a_row >= 50
            || stop.load(Ordering::SeqCst)
            || report.count >= 100_000
            || started.elapsed() > Duration::from_secs(60)
        {
            break;
        }
        let sent = Instant::now();
        let response = revcheck.try_get(&format!("/v1/status/{}/{serial}", expected.ca));
        report.max_latency = report.max_latency.max(sent.elapsed());
        report.count += 1;

        let response = match response {
            Ok(response) => response,
            Err(error) => {
                report.failures.push(error);
                continue;
            }
        };
        let body = match response.json_value() {
            Ok(body) if response.status == 200 => body,
            _ => {
                report.failures.push(response.to_string());
                continue;
            }
        };
        let this_update = body["this_update"].as_str().unwrap_or_default();
        let status = body["status"].as_str().unwrap_or_default();
        if this_update == expected.old.this_update_text && status == *status_in_old {
            report.old += 1;
            new_in_a_row = 0;
            if report.new > 0 {
                report.failures.push(format!(
                    "response from the old CRL after one from the new CRL: {response}"
                ));
            }
        } else if this_update == expected.new.this_update_text && status == *status_in_new {
            report.new += 1;
            new_in_a_row += 1;
        } else {
            report
                .failures
                .push(format!("response from neither CRL: {response}"));
        }
    }
    report
}

/// Signs a CRL of `authority` with 200k filler entries and `listed`.
fn large_crl(authority: &TestAuthority, number: u64, times: &CrlTimes, listed: [u8; 4]) -> Vec<u8> {
    let mut builder = CrlBuilder::new()
        .authority_key_identifier()
        .crl_number(number)
        .this_update(times.this_update)
        .next_update(Some(times.next_update));
    for offset in 0..LARGE_FILLER_ENTRIES {
        let serial = (FILLER_FIRST_SERIAL + offset).to_be_bytes();
        builder = builder.entry(CrlEntry::new(&serial, revocation_time()));
    }
    builder
        .entry(CrlEntry::new(&listed, revocation_time()).reason(RevocationReason::KeyCompromise))
        .build(&authority.ca)
        .expect("large CRL is signed")
}

/// Sets the flag when dropped, also while a panic unwinds.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A test CA with a revoked and a good client certificate, as files for revcheck and OpenSSL.
struct TestAuthority {
    id: String,
    ca: TestCa,
    ca_pem: PathBuf,
    revoked_leaf_pem: PathBuf,
    good_leaf_pem: PathBuf,
    dir: PathBuf,
}

impl TestAuthority {
    fn new(dir: &Path, id: &str) -> TestAuthority {
        let ca = TestCa::root(&format!("resilience {id}")).expect("CA is issued");
        let leaf = |common_name: &str, serial: &[u8]| {
            let spec = LeafSpec {
                common_name: common_name.to_owned(),
                serial: serial.to_vec(),
                email: None,
                uri: None,
            };
            ca.leaf(&spec).expect("leaf is issued").cert_pem
        };
        let revoked_leaf = leaf("revoked client", &REVOKED_SERIAL);
        let good_leaf = leaf("good client", &GOOD_SERIAL);

        TestAuthority {
            id: id.to_owned(),
            ca_pem: write_file(dir, &format!("{id}.pem"), ca.cert_pem().as_bytes()),
            revoked_leaf_pem: write_file(
                dir,
                &format!("{id}-revoked.pem"),
                revoked_leaf.as_bytes(),
            ),
            good_leaf_pem: write_file(dir, &format!("{id}-good.pem"), good_leaf.as_bytes()),
            dir: dir.to_owned(),
            ca,
        }
    }

    /// Returns a builder for a CRL with `number` and `times` that revokes `REVOKED_SERIAL`.
    fn crl_builder(&self, number: u64, times: &CrlTimes) -> CrlBuilder {
        // DER INTEGER content of the positive serial 0x8001.
        let serial_content = [0x00, REVOKED_SERIAL[0], REVOKED_SERIAL[1]];
        CrlBuilder::new()
            .authority_key_identifier()
            .crl_number(number)
            .this_update(times.this_update)
            .next_update(Some(times.next_update))
            .entry(
                CrlEntry::new(&serial_content, revocation_time())
                    .reason(RevocationReason::KeyCompromise),
            )
    }

    fn crl(&self, number: u64, times: &CrlTimes) -> Vec<u8> {
        self.crl_builder(number, times)
            .build(&self.ca)
            .expect("CRL is signed")
    }

    /// Runs `openssl verify -crl_check` with `crl` on both clients, and checks that OpenSSL
    /// finds the revoked one revoked and the other good.
    fn openssl_verdicts(&self, crl: &[u8]) -> Verdicts {
        let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, crl)
            .expect("CRL is encoded as PEM");
        let crl_pem = write_file(&self.dir, &format!("{}-crl.pem", self.id), pem.as_bytes());
        let times = openssl_crl_times(&crl_pem);
        let verdicts = Verdicts {
            revoked: openssl_verdict(&self.ca_pem, &crl_pem, &self.revoked_leaf_pem),
            good: openssl_verdict(&self.ca_pem, &crl_pem, &self.good_leaf_pem),
            this_update: times.0,
            next_update: times.1,
        };
        assert_eq!(verdicts.revoked, "revoked", "OpenSSL on the revoked client");
        assert_eq!(verdicts.good, "good", "OpenSSL on the good client");
        verdicts
    }
}

/// What lookups of a CA's two clients must return while a given CRL is in use: OpenSSL's
/// verdicts and the CRL's times as OpenSSL read them, in RFC 3339.
#[derive(Clone, Debug)]
struct Verdicts {
    revoked: &'static str,
    good: &'static str,
    this_update: String,
    next_update: String,
}

/// thisUpdate and nextUpdate of a test CRL.
#[derive(Clone, Debug)]
struct CrlTimes {
    this_update: SystemTime,
    next_update: SystemTime,
    /// `this_update` in RFC 3339 to the second, as revcheck prints it.
    this_update_text: String,
}

impl CrlTimes {
    fn new(this_update: SystemTime, next_update: SystemTime) -> CrlTimes {
        CrlTimes {
            this_update,
            next_update,
            this_update_text: humantime::format_rfc3339_seconds(this_update).to_string(),
        }
    }
}

/// Checks that lookups of both clients of `ca` are decided from the CRL that `verdicts`
/// describes.
fn assert_lookups_from_crl(revcheck: &Revcheck, context: &str, ca: &str, verdicts: &Verdicts) {
    for (serial, content, status) in [
        ("8001", "008001", verdicts.revoked),
        ("8002", "008002", verdicts.good),
    ] {
        let response = revcheck.status(ca, serial);
        let body = response.json();
        let request = format!("{context}, {ca} serial {serial}");
        assert_eq!(response.status, 200, "{request}: {response}");
        assert_eq!(body["status"], status, "{request}: {response}");
        assert_eq!(body["ca"], ca, "{request}: {response}");
        assert_eq!(body["serial"], content, "{request}: {response}");
        assert_eq!(body["source"], "crl", "{request}: {response}");
        assert_eq!(
            body["this_update"],
            verdicts.this_update.as_str(),
            "{request}: {response}"
        );
        assert_eq!(
            body["next_update"],
            verdicts.next_update.as_str(),
            "{request}: {response}"
        );
        assert_eq!(body["stale"], false, "{request}: {response}");
        if status == "revoked" {
            assert_eq!(
                body["revocation_time"], REVOCATION_TIME,
                "{request}: {response}"
            );
            assert_eq!(body["reason"], "key_compromise", "{request}: {response}");
        } else {
            assert_eq!(
                body["revocation_time"],
                Value::Null,
                "{request}: {response}"
            );
            assert_eq!(body["reason"], Value::Null, "{request}: {response}");
        }
    }
}

/// Checks a 200 response with status `unknown` for `reason`, which names no CRL.
fn assert_unknown(context: &str, response: &ApiResponse, reason: &str) {
    let body = response.json();
    assert_eq!(response.status, 200, "{context}: {response}");
    assert_eq!(body["status"], "unknown", "{context}: {response}");
    assert_eq!(body["reason"], reason, "{context}: {response}");
    assert_eq!(body["source"], Value::Null, "{context}: {response}");
    assert_eq!(body["this_update"], Value::Null, "{context}: {response}");
    assert_eq!(
        body["revocation_time"],
        Value::Null,
        "{context}: {response}"
    );
}

/// Waits until `/v1/cas` shows CRL `number` in use for `ca`, and returns the CA's entry.
fn wait_for_crl_number(revcheck: &Revcheck, ca: &str, number: &str) -> Value {
    wait_for(&format!("{ca} to load CRL number {number}"), || {
        let cas = revcheck.get("/v1/cas");
        match find_ca(&cas, ca) {
            Some(entry) if entry["crl_number"] == number => Ok(entry),
            _ => Err(cas.to_string()),
        }
    })
}

/// Returns the top of a configuration: listen on an OS-chosen port, refresh every second.
///
/// `retry_max` keeps the backoff after failed fetches at 2 s, so that every wait for a fetch
/// stays short.
fn global_config(state_dir: &Path, timeout: &str, max_size: usize) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
state_dir = '{}'
clock_skew = "5m"

[fetch]
timeout = "{timeout}"
max_size = {max_size}

[refresh]
interval = "1s"
retry_max = "2s"
"#,
        state_dir.display()
    )
}

fn ca_table(authority: &TestAuthority, url: &str) -> String {
    format!(
        "\n[[ca]]\nid = \"{}\"\ncertificate = '{}'\ncrl = [\"{url}\"]\n",
        authority.id,
        authority.ca_pem.display()
    )
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap_or_else(|error| panic!("writing {name} failed: {error}"));
    path
}

fn revocation_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(REVOCATION_UNIX_SECONDS)
}

fn minutes(count: u64) -> Duration {
    Duration::from_secs(60 * count)
}

fn days(count: u64) -> Duration {
    Duration::from_secs(24 * 60 * 60 * count)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Returns "good" or "revoked", the verdict of `openssl verify -crl_check` on `leaf_pem`.
fn openssl_verdict(ca_pem: &Path, crl_pem: &Path, leaf_pem: &Path) -> &'static str {
    let output = Command::new(OPENSSL)
        .arg("verify")
        .arg("-crl_check")
        .arg("-CAfile")
        .arg(ca_pem)
        .arg("-CRLfile")
        .arg(crl_pem)
        .arg(leaf_pem)
        .output()
        .expect("openssl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() && stdout.trim_end().ends_with(": OK") {
        "good"
    } else if stderr.contains("certificate revoked") {
        "revoked"
    } else {
        panic!(
            "openssl verify gave neither OK nor revoked ({}): {stdout}{stderr}",
            output.status
        )
    }
}

/// Returns thisUpdate and nextUpdate of a PEM CRL as `openssl crl` prints them, in RFC 3339.
fn openssl_crl_times(crl_pem: &Path) -> (String, String) {
    let output = Command::new(OPENSSL)
        .arg("crl")
        .arg("-in")
        .arg(crl_pem)
        .arg("-noout")
        .args(["-lastupdate", "-nextupdate", "-dateopt", "iso_8601"])
        .output()
        .expect("openssl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "openssl crl failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| {
        let line = stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in openssl output: {stdout}"));
        // OpenSSL prints `2025-06-01 12:00:00Z`.
        line.trim().replacen(' ', "T", 1)
    };
    (field("lastUpdate="), field("nextUpdate="))
}

/// Calls `check` every `POLL_INTERVAL` until it returns `Ok`, and fails the test after
/// `DEADLINE` with the last `Err`, which describes what was observed.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if started.elapsed() >= DEADLINE => {
                panic!("timed out after {DEADLINE:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Returns the first line of `log` that contains every one of `fragments`.
fn find_line<'a>(log: &'a str, fragments: &[&str]) -> Option<&'a str> {
    log.lines()
        .find(|line| fragments.iter().all(|fragment| line.contains(fragment)))
}

/// Returns the value of the sample of `name` whose labels are exactly `labels`, in text of the
/// Prometheus exposition format. A counter series that was never incremented is absent, so a
/// missing sample counts as 0.
///
/// Label values are read up to the next quote, which suffices for CA ids and outcome names but
/// not for values with escaped quotes.
fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let expected: BTreeMap<&str, &str> = labels.iter().copied().collect();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (sample_name, label_text) = match series.split_once('{') {
                Some((sample_name, rest)) => (sample_name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if sample_name != name {
                return None;
            }
            let mut found = BTreeMap::new();
            let mut rest = label_text;
            while let Some((key, after_key)) = rest.split_once("=\"") {
                let (label_value, after_value) = after_key.split_once('"')?;
                found.insert(key.trim_start_matches(','), label_value);
                rest = after_value;
            }
            (found == expected).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// Returns the entry for `id` in a `/v1/cas` response.
fn ca_entry(cas: &ApiResponse, id: &str) -> Value {
    find_ca(cas, id).unwrap_or_else(|| panic!("no CA {id}: {cas}"))
}

fn find_ca(cas: &ApiResponse, id: &str) -> Option<Value> {
    cas.json()["cas"]
        .as_array()?
        .iter()
        .find(|entry| entry["id"] == id)
        .cloned()
}

/// Returns the status of the only CRL source of `id` in a `/v1/cas` response.
fn source_of(cas: &ApiResponse, id: &str) -> Value {
    let source = ca_entry(cas, id)["sources"][0].clone();
    assert!(source.is_object(), "no CRL source for {id}: {cas}");
    source
}

/// The response of the CRL server to requests for one path.
#[derive(Clone, Debug)]
enum Reply {
    /// 200 with the body. With validators, the response carries them and a Date header, and a
    /// request whose If-None-Match equals the ETag gets 304 instead.
    Crl {
        body: Vec<u8>,
        validators: Option<HttpValidators>,
    },
    /// This status with a short text body.
    Status(u16),
    /// 302 Found to this Location.
    Redirect(String),
    /// Reads the request and sends no response for `STALL`, then closes the connection.
    Stall,
    /// Announces twice the body's length in Content-Length, sends the body and closes.
    Truncated(Vec<u8>),
}

/// ETag and Last-Modified headers of a CRL reply.
#[derive(Clone, Debug)]
struct HttpValidators {
    etag: String,
    /// HTTP-date, such as `Sun, 01 Jun 2025 12:00:00 GMT`.
    last_modified: String,
}

impl Reply {
    fn crl(body: Vec<u8>) -> Reply {
        Reply::Crl {
            body,
            validators: None,
        }
    }

    /// Returns a reply with ETag `etag` and Last-Modified `modified`. revcheck sends back a
    /// Last-Modified only when it lies at least a second before the Date header, which is true
    /// for any `modified` earlier than the request.
    fn crl_with_validators(body: Vec<u8>, etag: &str, modified: SystemTime) -> Reply {
        Reply::Crl {
            body,
            validators: Some(HttpValidators {
                etag: etag.to_owned(),
                last_modified: httpdate::fmt_http_date(modified),
            }),
        }
    }
}

/// A request as the CRL server saw it.
#[derive(Clone, Debug)]
struct RecordedRequest {
    path: String,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    /// Status line sent, `None` for a stall.
    status: Option<u16>,
    at: Instant,
}

#[derive(Debug, Default)]
struct ServerState {
    replies: Mutex<HashMap<String, Reply>>,
    requests: Mutex<Vec<RecordedRequest>>,
    stopping: AtomicBool,
}

/// An HTTP/1.1 server on 127.0.0.1 with a reply per path (404 for others). It serves each
/// connection on its own thread with `Connection: close`. It can be taken down, which closes
/// its listener so that connections are refused, and brought up again on the same port.
struct CrlServer {
    address: SocketAddr,
    state: Arc<ServerState>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl CrlServer {
    fn start() -> CrlServer {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("CRL server binds to 127.0.0.1");
        let server = CrlServer {
            address: listener.local_addr().expect("CRL server has an address"),
            state: Arc::new(ServerState::default()),
            acceptor: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn set_reply(&self, path: &str, reply: Reply) {
        lock(&self.state.replies).insert(path.to_owned(), reply);
    }

    fn requests_for(&self, path: &str) -> Vec<RecordedRequest> {
        lock(&self.state.requests)
            .iter()
            .filter(|request| request.path == path)
            .cloned()
            .collect()
    }

    /// Closes the listener and waits for every connection handler to end.
    fn take_down(&self) {
        let Some(acceptor) = lock(&self.acceptor).take() else {
            return;
        };
        self.state.stopping.store(true, Ordering::SeqCst);
        acceptor.join().expect("CRL server thread ends");
    }

    /// Listens again on the port used before.
    fn bring_up(&self) {
        if lock(&self.acceptor).is_some() {
            return;
        }
        let listener = TcpListener::bind(self.address).unwrap_or_else(|error| {
            panic!("CRL server cannot bind {} again: {error}", self.address)
        });
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        // Polling lets the accepting thread see a take-down request within `ACCEPT_POLL`.
        listener
            .set_nonblocking(true)
            .expect("CRL server listener becomes non-blocking");
        self.state.stopping.store(false, Ordering::SeqCst);
        let state = Arc::clone(&self.state);
        let acceptor = thread::spawn(move || accept_connections(&listener, &state));
        *lock(&self.acceptor) = Some(acceptor);
    }
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        self.take_down();
    }
}

/// Accepts connections until the server is taken down, then waits for their handlers. The
/// listener closes when this returns.
fn accept_connections(listener: &TcpListener, state: &Arc<ServerState>) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    while !state.stopping.load(Ordering::SeqCst) {
        // WouldBlock means no connection is waiting. Other errors, such as too many open
        // files, are retried after the same pause.
        let Ok((stream, _)) = listener.accept() else {
            thread::sleep(ACCEPT_POLL);
            continue;
        };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        let state = Arc::clone(state);
        handlers.push(thread::spawn(move || serve_connection(stream, &state)));
        handlers.retain(|handler| !handler.is_finished());
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

/// Reads one request from `stream` and sends the reply configured for its path.
fn serve_connection(mut stream: TcpStream, state: &ServerState) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((path, headers)) = read_request_head(&mut stream) else {
        return;
    };
    let if_none_match = headers.get("if-none-match").cloned();
    let if_modified_since = headers.get("if-modified-since").cloned();
    let reply = lock(&state.replies)
        .get(&path)
        .cloned()
        .unwrap_or(Reply::Status(404));

    let not_modified = match &reply {
        Reply::Crl {
            validators: Some(validators),
            ..
        } => if_none_match.as_ref() == Some(&validators.etag),
        _ => false,
    };
    let status = match &reply {
        Reply::Crl { .. } if not_modified => Some(304),
        Reply::Crl { .. } | Reply::Truncated(_) => Some(200),
        Reply::Status(code) => Some(*code),
        Reply::Redirect(_) => Some(302),
        Reply::Stall => None,
    };
    lock(&state.requests).push(RecordedRequest {
        path,
        if_none_match,
        if_modified_since,
        status,
        at: Instant::now(),
    });

    // Write errors are ignored: revcheck may close early, for example on a body over its limit.
    let _ = match reply {
        Reply::Crl { body, validators } => {
            let mut headers = vec!["Content-Type: application/pkix-crl".to_owned()];
            if let Some(validators) = validators {
                headers.push(format!("ETag: {}", validators.etag));
                headers.push(format!("Last-Modified: {}", validators.last_modified));
                let now = httpdate::fmt_http_date(SystemTime::now());
                headers.push(format!("Date: {now}"));
            }
            if not_modified {
                write_response(&mut stream, 304, &headers, &[], None)
            } else {
                write_response(&mut stream, 200, &headers, &body, None)
            }
        }
        Reply::Status(code) => write_response(&mut stream, code, &[], b"test server error\n", None),
        Reply::Redirect(location) => write_response(
            &mut stream,
            302,
            &[format!("Location: {location}")],
            &[],
            None,
        ),
        Reply::Stall => {
            let started = Instant::now();
            while started.elapsed() < STALL && !state.stopping.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
        Reply::Truncated(body) => {
            write_response(&mut stream, 200, &[], &body, Some(body.len() * 2))
        }
    };
}

/// Writes a response with `Connection: close`. `content_length` overrides the length of `body`
/// in the header.
fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[String],
    body: &[u8],
    content_length: Option<usize>,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Unknown",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    // RFC 9110 section 8.6: a 304 has no body and need not announce one.
    if status != 304 {
        let length = content_length.unwrap_or(body.len());
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Reads a request head and returns its path and its headers with lowercase names, or `None`
/// for a connection that sends no complete head within 16 KiB.
fn read_request_head(stream: &mut TcpStream) -> Option<(String, HashMap<String, String>)> {
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).ok()?;
        if read == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let path = lines.next()?.split_whitespace().nth(1)?.to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some((path, headers))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running `revcheck serve` with an HTTP client for its API. The process is killed and reaped
/// when dropped.
struct Revcheck {
    process: RevcheckProcess,
    address: SocketAddr,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Revcheck {
    /// Starts `revcheck serve --config config` with `RUST_LOG=log_filter` and waits for its
    /// listening line.
    fn spawn(config: &Path, log_filter: &str) -> Revcheck {
        let process = RevcheckProcess::spawn_with_log_filter(config, log_filter);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(DEADLINE)
            .build()
            .expect("HTTP client builds");
        Revcheck {
            address: process.address,
            process,
            runtime,
            http,
        }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// Sends the signal named `name`, such as `HUP`.
    fn send_signal(&self, name: &str) {
        self.process.send_signal(name);
    }

    /// Sends SIGTERM, waits for the exit and for the rest of the log.
    fn terminate(&mut self) -> ExitStatus {
        self.process.terminate()
    }

    fn get(&self, path: &str) -> ApiResponse {
        self.try_get(path).unwrap_or_else(|error| panic!("{error}"))
    }

    fn status(&self, ca: &str, serial: &str) -> ApiResponse {
        self.get(&format!("/v1/status/{ca}/{serial}"))
    }

    /// Sends GET /v1/auth with `headers`, as nginx's auth_request subrequest does.
    fn auth(&self, headers: &[(&str, String)]) -> AuthResponse {
        let url = format!("http://{}/v1/auth", self.address);
        self.runtime.block_on(async {
            let mut request = self.http.get(url);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = request
                .send()
                .await
                .unwrap_or_else(|error| panic!("GET /v1/auth to revcheck failed: {error}"));
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect();
            AuthResponse { status, headers }
        })
    }

    /// Sends GET `path`. The error describes a request that got no complete response.
    fn try_get(&self, path: &str) -> Result<ApiResponse, String> {
        let request = format!("GET {path}");
        let url = format!("http://{}{path}", self.address);
        self.runtime.block_on(async {
            let response = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|error| format!("{request} to revcheck failed: {error}"))?;
            let status = response.status().as_u16();
            let body = response
                .text()
                .await
                .map_err(|error| format!("reading the body of {request} failed: {error}"))?;
            Ok(ApiResponse {
                request,
                status,
                body,
            })
        })
    }
}

/// A response of `GET /v1/auth`: its status and headers, with names in lowercase.
struct AuthResponse {
    status: u16,
    headers: Vec<(String, String)>,
}

impl AuthResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Display for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GET /v1/auth returned {} {:?}",
            self.status, self.headers
        )
    }
}

/// A response from the revcheck API.
struct ApiResponse {
    /// Method and path, such as `GET /readyz`.
    request: String,
    status: u16,
    body: String,
}

impl ApiResponse {
    fn json_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.body)
    }

    fn json(&self) -> Value {
        self.json_value()
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {self}"))
    }
}

impl fmt::Display for ApiResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} returned {}: {}",
            self.request, self.status, self.body
        )
    }
}
