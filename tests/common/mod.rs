//! Test harness shared by the integration tests: running `revcheck`, `openssl`, nginx and
//! small HTTP servers as real processes and threads on 127.0.0.1.
//!
//! Every test binary compiles this whole module but uses only part of it.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod example_site;
pub mod nginx;
pub mod openssl;
pub mod responders;
pub mod revcheck;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REVCHECK: &str = env!("CARGO_BIN_EXE_revcheck");

/// Upper bound on every wait for a server: startup, a refresh, an exit.
pub const DEADLINE: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Upper bound on one process run. It turns a hang (for example `serve` starting up instead of
/// rejecting its configuration) into a test failure. It is not a speed check.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Proxy variables that reqwest reads. They are removed so that the child connects directly to
/// the 127.0.0.1 test servers.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Exit status and output of a finished process.
#[derive(Debug)]
pub struct RunOutput {
    /// `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// Formats the exit status and both streams for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit status {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A child process that is killed and reaped when dropped, so that a failed assertion or a hang
/// leaves no process behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // kill fails when the process has already exited, and wait then returns the status
        // collected earlier. Neither case needs handling.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program` with `args` in `working_dir` and waits for it to exit, at most `HANG_LIMIT`.
///
/// Output goes to files rather than pipes, so a process that writes a lot cannot block on a full
/// pipe while this function waits.
pub fn run<S: AsRef<OsStr>>(program: &str, working_dir: &Path, args: &[S]) -> RunOutput {
    run_with_env(program, working_dir, args, &[])
}

/// Runs `program` like [`run`], with the environment variables `env` added to the inherited ones.
pub fn run_with_env<S: AsRef<OsStr>>(
    program: &str,
    working_dir: &Path,
    args: &[S],
    env: &[(&str, &str)],
) -> RunOutput {
    let capture_dir = tempfile::tempdir().expect("temporary directory is created");
    let stdout_path = capture_dir.path().join("stdout");
    let stderr_path = capture_dir.path().join("stderr");
    let stdout = File::create(&stdout_path).expect("stdout capture file is created");
    let stderr = File::create(&stderr_path).expect("stderr capture file is created");

    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(working_dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    let description = format!("{command:?}");
    let mut child = ChildGuard(
        command
            .spawn()
            .unwrap_or_else(|error| panic!("{description} cannot start: {error}")),
    );

    let started = Instant::now();
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(error) => panic!("waiting for {description} failed: {error}"),
        }
        assert!(
            started.elapsed() < HANG_LIMIT,
            "{description} was still running after {HANG_LIMIT:?} and was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    };

    RunOutput {
        code: status.code(),
        stdout: std::fs::read_to_string(&stdout_path).expect("stdout capture is read"),
        stderr: std::fs::read_to_string(&stderr_path).expect("stderr capture is read"),
    }
}

/// Sends SIGTERM to `child` and waits up to `limit` for it to exit. Returns `false` when it is
/// still running after `limit`, so that the caller can kill it.
pub fn terminate(child: &mut Child, limit: Duration) -> bool {
    // A child that was already reaped may have a PID that another process now uses.
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    // The shell's built-in kill, because the kill program is not installed everywhere.
    let pid = child.id().to_string();
    let _ = Command::new("sh")
        .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
        .status();
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Returns `path` as `&str`. Every path that the tests create is UTF-8.
pub fn path_text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Calls `probe` every `POLL_INTERVAL` until it returns `Ok`, and fails the test after
/// `DEADLINE` with the last `Err`, which describes what was observed.
pub fn poll_until<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if start.elapsed() >= DEADLINE => {
                panic!("timed out after {DEADLINE:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Writes a file that only its owner can read, such as a private key or a shared secret.
pub fn write_private(path: &Path, contents: &str) {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    file.write_all(contents.as_bytes())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}
