//! NIST PKITS revocation cases (sections 4.4, 4.14 and 4.15) through `revcheck check`.
//!
//! The certificates and CRLs come from the `cryptography-vectors` package that the test setup
//! installs into `.venv`; `PKITS_DIR` overrides where they are looked for. Expected results come
//! from the PKITS case names (`Valid...` passes, `Invalid...` fails): valid means exit status 0,
//! invalid means 1 (revoked) or 2 (undetermined). Cases in `pkits-known-exceptions.tsv` are
//! expected to mismatch with an undetermined status, and a listed case that starts to match
//! fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const CASES: &str = include_str!("data/pkits-revocation-cases.tsv");
const KNOWN_EXCEPTIONS: &str = include_str!("data/pkits-known-exceptions.tsv");

/// PKITS certificates expire in 2030; evaluating at a fixed time keeps the cases meaningful
/// after that.
const EVALUATION_TIME: &str = "2020-06-01T00:00:00Z";

struct Case {
    id: String,
    valid: bool,
    end_entity: String,
    intermediates: Vec<String>,
    crls: Vec<String>,
}

fn split_list(field: &str) -> Vec<String> {
    field
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_cases() -> Vec<Case> {
    CASES
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields.len() >= 4, "malformed case line: {line}");
            let valid = match fields[1] {
                "valid" => true,
                "invalid" => false,
                other => panic!("unknown expectation {other:?} in: {line}"),
            };
            Case {
                id: fields[0].to_owned(),
                valid,
                end_entity: fields[2].to_owned(),
                intermediates: split_list(fields[3]),
                crls: fields.get(4).map_or_else(Vec::new, |f| split_list(f)),
            }
        })
        .collect()
}

fn known_exceptions() -> BTreeMap<String, String> {
    KNOWN_EXCEPTIONS
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("test\t"))
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, reason)| (id.to_owned(), reason.to_owned()))
        .collect()
}

/// Finds `x509/PKITS_data` from `PKITS_DIR` or from the package in `.venv`.
fn pkits_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PKITS_DIR") {
        return PathBuf::from(dir);
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|entry| {
                entry
                    .path()
                    .join("site-packages/cryptography_vectors/x509/PKITS_data")
            })
            .find(|dir| dir.is_dir())
    });
    found.unwrap_or_else(|| {
        panic!(
            "PKITS data not found under {}; run scripts/test (it installs cryptography-vectors \
             into .venv) or set PKITS_DIR to the x509/PKITS_data folder",
            lib.display()
        )
    })
}

fn run_case(case: &Case, dir: &Path) -> (i32, String) {
    let certs = dir.join("certs");
    let crls = dir.join("crls");
    let mut command = Command::new(env!("CARGO_BIN_EXE_revcheck"));
    command
        .arg("check")
        .arg("--at")
        .arg(EVALUATION_TIME)
        .arg("--ca")
        .arg(certs.join("TrustAnchorRootCertificate.crt"))
        .arg("--crl")
        .arg(crls.join("TrustAnchorRootCRL.crl"));
    for intermediate in &case.intermediates {
        command.arg("--ca").arg(certs.join(intermediate));
    }
    for crl in &case.crls {
        command.arg("--crl").arg(crls.join(crl));
    }
    command.arg(certs.join(&case.end_entity));

    let output = command.output().expect("revcheck binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn pkits_revocation_cases() {
    let dir = pkits_dir();
    let cases = parse_cases();
    let exceptions = known_exceptions();
    assert_eq!(
        cases.len(),
        66,
        "case list changed; update this count with care"
    );

    let mut failures = Vec::new();
    let mut matched_by_section: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in &cases {
        let (code, output) = run_case(case, &dir);
        assert!(
            matches!(code, 0..=2),
            "case {} exited with {code}, not a status verdict:\n{output}",
            case.id
        );
        let matches = (code == 0) == case.valid;
        let section = case.id.rsplit_once('.').map_or("", |(s, _)| s).to_owned();
        let counts = matched_by_section.entry(section).or_default();
        counts.1 += 1;
        if matches {
            counts.0 += 1;
        }

        match (matches, exceptions.get(&case.id)) {
            (true, None) => {}
            // A known gap may only ever fail closed: undetermined, never good or revoked.
            (false, Some(_)) if code == 2 => {}
            (false, Some(reason)) => failures.push(format!(
                "{}: listed as a known exception ({reason}) but exited with {code}, not 2 \
                 (undetermined)\n{output}",
                case.id
            )),
            (false, None) => failures.push(format!(
                "{}: expected {}, exit status {code}\n{output}",
                case.id,
                if case.valid { "valid" } else { "invalid" }
            )),
            (true, Some(reason)) => failures.push(format!(
                "{} now matches; remove it from pkits-known-exceptions.tsv (listed as: {reason})",
                case.id
            )),
        }
    }

    for (section, (matched, total)) in &matched_by_section {
        println!("PKITS {section}: {matched}/{total} cases match");
    }
    assert_eq!(
        matched_by_section.get("4.4"),
        Some(&(21, 21)),
        "every basic revocation case (4.4) must match"
    );
    assert!(
        failures.is_empty(),
        "PKITS mismatches:\n{}",
        failures.join("\n")
    );
}
