//! `revcheck audit` run as a process: quiet on the committed nginx and Django examples, and on
//! the fixtures under tests/data/audit it reports exactly the lines those files mark with
//! "expect:" comments.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use common::{REVCHECK, RunOutput, path_text, run};

const EXIT_FINDINGS: i32 = 1;
const EXIT_USAGE: i32 = 64;
const EXIT_DATA: i32 = 65;

const EXAMPLE_SETTINGS: &str = "clients/django/example/example_site/settings.py";
const FIXTURES: &str = "tests/data/audit";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn audit(args: &[&str]) -> RunOutput {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    run(REVCHECK, repository(), &all)
}

/// Builds a stand-in for /etc/nginx: the repository's snippets directory, linked, and the
/// secret file that the example sites include but the repository does not contain.
fn nginx_root() -> TempDir {
    let root = tempfile::tempdir().expect("temporary directory is created");
    std::os::unix::fs::symlink(
        repository().join("config/nginx/snippets"),
        root.path().join("snippets"),
    )
    .expect("snippets link is created");
    fs::write(
        root.path().join("revcheck-secret.conf"),
        "proxy_set_header X-Revcheck-Secret \"test-secret\";\n",
    )
    .expect("secret file is written");
    root
}

/// Reads the findings that `files` expect: each line with "expect: ID, ID" gives
/// `path:line: ID` for every id, with the path as the audit prints it.
fn expected_findings(files: &[&str]) -> BTreeSet<String> {
    let mut expected = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(repository().join(file)).expect("fixture is read");
        for (index, line) in text.lines().enumerate() {
            let Some((_, ids)) = line.split_once("expect: ") else {
                continue;
            };
            for id in ids.split(',') {
                expected.insert(format!("{file}:{}: {}", index + 1, id.trim()));
            }
        }
    }
    expected
}

/// Returns `FILE:LINE: ID` of each output line `FILE:LINE: ID: message`.
fn reported_findings(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| {
            let mut parts = line.splitn(4, ": ");
            let location = parts.next().unwrap_or_default();
            let id = parts.next().unwrap_or_default();
            format!("{location}: {id}")
        })
        .collect()
}

#[test]
fn examples_have_no_findings() {
    let root = nginx_root();
    let mut sites: Vec<PathBuf> = fs::read_dir(repository().join("config/nginx"))
        .expect("config/nginx is listed")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
        .collect();
    sites.sort();
    assert_eq!(sites.len(), 2, "config/nginx holds {sites:?}");

    for site in &sites {
        let output = audit(&[
            "--nginx",
            path_text(site),
            "--nginx-root",
            path_text(root.path()),
            "--django",
            EXAMPLE_SETTINGS,
        ]);
        assert_eq!(
            output.code,
            Some(0),
            "{}: {}",
            site.display(),
            output.describe()
        );
        assert_eq!(output.stdout, "", "{}", site.display());
    }
}

#[test]
fn bad_site_reports_marked_lines() {
    let site = format!("{FIXTURES}/bad-site.conf");
    let settings = format!("{FIXTURES}/bad-settings.py");
    let output = audit(&["--nginx", &site, "--django", &settings]);
    assert_eq!(output.code, Some(EXIT_FINDINGS), "{}", output.describe());

    let reported = reported_findings(&output.stdout);
    let mut sorted = reported.clone();
    sorted.sort();
    assert_eq!(reported, sorted, "output is not sorted by file and line");

    let expected = expected_findings(&[
        &site,
        &format!("{FIXTURES}/snippets/identity.conf"),
        &settings,
    ]);
    let reported: BTreeSet<String> = reported.into_iter().collect();
    assert_eq!(reported, expected, "{}", output.describe());
}

#[test]
fn remote_user_settings_report_marked_lines() {
    let root = nginx_root();
    let settings = format!("{FIXTURES}/remote-user-settings.py");
    let output = audit(&[
        "--nginx",
        "config/nginx/mtls-app.conf",
        "--nginx-root",
        path_text(root.path()),
        "--django",
        &settings,
    ]);
    assert_eq!(output.code, Some(EXIT_FINDINGS), "{}", output.describe());

    let reported: BTreeSet<String> = reported_findings(&output.stdout).into_iter().collect();
    assert_eq!(
        reported,
        expected_findings(&[&settings]),
        "{}",
        output.describe()
    );
}

#[test]
fn json_output_matches_text() {
    let site = format!("{FIXTURES}/bad-site.conf");
    let text = audit(&["--nginx", &site]);
    let json = audit(&["--nginx", &site, "--json"]);
    assert_eq!(json.code, Some(EXIT_FINDINGS), "{}", json.describe());

    let findings: Vec<serde_json::Value> =
        serde_json::from_str(&json.stdout).expect("output is a JSON array");
    let from_json: Vec<String> = findings
        .iter()
        .map(|finding| {
            format!(
                "{}:{}: {}",
                finding["file"].as_str().expect("file is a string"),
                finding["line"].as_u64().expect("line is a number"),
                finding["id"].as_str().expect("id is a string"),
            )
        })
        .collect();
    assert_eq!(from_json, reported_findings(&text.stdout));
    assert!(
        findings
            .iter()
            .all(|finding| finding["message"].as_str().is_some_and(|m| !m.is_empty())),
        "{}",
        json.stdout
    );
}

#[test]
fn missing_include_is_unreadable() {
    // Without --nginx-root, the example's /etc/nginx/ includes are read from /etc/nginx.
    let directory = tempfile::tempdir().expect("temporary directory is created");
    let site = directory.path().join("site.conf");
    fs::write(&site, "server {\n    include does-not-exist.conf;\n}\n").expect("site is written");

    let output = audit(&["--nginx", path_text(&site)]);
    assert_eq!(output.code, Some(EXIT_DATA), "{}", output.describe());
    assert!(
        output.stderr.contains("does-not-exist.conf"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains(&format!("{}:2", site.display())),
        "{}",
        output.stderr
    );
}

#[test]
fn syntax_error_names_line() {
    let directory = tempfile::tempdir().expect("temporary directory is created");
    let site = directory.path().join("site.conf");
    fs::write(
        &site,
        "server {\n    listen 80;\n    location / {\n        root /srv\n    }\n}\n",
    )
    .expect("site is written");

    let output = audit(&["--nginx", path_text(&site)]);
    assert_eq!(output.code, Some(EXIT_DATA), "{}", output.describe());
    assert!(
        output.stderr.contains(&format!("{}:5:", site.display())),
        "{}",
        output.stderr
    );
    assert_eq!(output.stdout, "");
}

#[test]
fn missing_settings_file_is_unreadable() {
    let root = nginx_root();
    let output = audit(&[
        "--nginx",
        "config/nginx/mtls-app.conf",
        "--nginx-root",
        path_text(root.path()),
        "--django",
        "no/such/settings.py",
    ]);
    assert_eq!(output.code, Some(EXIT_DATA), "{}", output.describe());
    assert!(
        output.stderr.contains("no/such/settings.py"),
        "{}",
        output.stderr
    );
}

#[test]
fn missing_nginx_option_is_usage_error() {
    let output = audit(&["--django", EXAMPLE_SETTINGS]);
    assert_eq!(output.code, Some(EXIT_USAGE), "{}", output.describe());
    assert!(output.stderr.contains("--nginx"), "{}", output.stderr);
}
