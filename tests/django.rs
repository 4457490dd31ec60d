//! Runs the Django client's tests (`clients/django/runtests.py`) in the Python environments that
//! `scripts/test` prepares, against the revcheck binary that cargo built for this test run.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REVCHECK: &str = env!("CARGO_BIN_EXE_revcheck");

/// Upper bound on one run of the Python test suite, which starts revcheck and gunicorn several
/// times. It turns a hang into a test failure; it is not a speed check.
const HANG_LIMIT: Duration = Duration::from_secs(600);

/// Proxy variables that Python's urllib reads. The tests talk only to 127.0.0.1.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn django_lts_suite() {
    let python = repository().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing. Run scripts/test, which creates .venv and installs Django, gunicorn \
         and clients/django into it.",
        python.display()
    );
    run_suite(&python);
}

#[test]
fn django_current_suite() {
    let python = repository().join(".venv-django-current/bin/python");
    if !python.exists() {
        // scripts/test creates this environment only when it finds Python 3.12 or newer, and
        // prints a warning when it does not.
        eprintln!(
            "{} is missing, so the current Django release is not tested",
            python.display()
        );
        return;
    }
    run_suite(&python);
}

/// Runs the Python test suite with `python` and fails with its output when a test fails.
fn run_suite(python: &Path) {
    check_packages(python);

    let capture_dir = tempfile::tempdir().expect("temporary directory is created");
    let output_path = capture_dir.path().join("output");
    let output = File::create(&output_path).expect("output capture file is created");
    let mut command = Command::new(python);
    command
        .arg("runtests.py")
        .current_dir(repository().join("clients/django"))
        .env("REVCHECK_BIN", REVCHECK)
        .stdin(Stdio::null())
        .stdout(
            output
                .try_clone()
                .expect("output capture file is duplicated"),
        )
        .stderr(output)
        // A process group of its own, so that a hang can be ended together with the revcheck
        // and gunicorn processes that the Python tests started.
        .process_group(0);
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    let mut child =
        ChildGuard(command.spawn().unwrap_or_else(|error| {
            panic!("{} runtests.py cannot start: {error}", python.display())
        }));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("waiting for runtests.py works") {
            break status;
        }
        assert!(
            started.elapsed() < HANG_LIMIT,
            "runtests.py was still running after {HANG_LIMIT:?} and was killed. Output:\n{}",
            std::fs::read_to_string(&output_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let output = std::fs::read_to_string(&output_path).expect("output capture is read");
    assert!(
        status.success(),
        "the Django tests failed with {status} under {}:\n{output}",
        python.display()
    );
    // Shown with `cargo test -- --nocapture`: which releases ran, and how many tests.
    for line in output.lines() {
        if line.starts_with("Django ") || line.starts_with("Ran ") {
            eprintln!("{line}");
        }
    }
}

/// Fails with the command to run when the environment lacks a package that the tests need.
fn check_packages(python: &Path) {
    let probe = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; [m.version(n) for n in ('Django', 'gunicorn', 'revcheck-django')]",
        ])
        .output()
        .unwrap_or_else(|error| panic!("{} cannot start: {error}", python.display()));
    assert!(
        probe.status.success(),
        "{} lacks Django, gunicorn or revcheck-django; run scripts/test to install them.\n{}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
}

/// The test runner, killed with its process group and reaped when dropped, so that a failed
/// assertion or a hang leaves no process behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // Still running and not reaped, so its PID is still the ID of the process group
            // that `process_group(0)` created for it.
            let group = format!("-{}", self.0.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        }
        // kill fails when the process has already exited; wait then returns its status.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
