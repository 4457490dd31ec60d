//! `revcheck serve` as a child process that logs to a buffer the test can read.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use super::{DEADLINE, REVCHECK, poll_until};

/// A running `revcheck serve`. Dropping it kills and reaps the process, so no test leaves
/// one behind, even when an assertion fails.
pub struct RevcheckProcess {
    child: Child,
    /// Address from the `listening` log line, in the text or the JSON log format.
    pub address: SocketAddr,
    /// Everything the process wrote to stderr so far.
    log: Arc<Mutex<String>>,
    log_reader: Option<JoinHandle<()>>,
}

impl RevcheckProcess {
    /// Starts `revcheck serve --config config` and waits for its `listening` log line.
    pub fn spawn(config: &Path) -> RevcheckProcess {
        Self::spawn_with_log_filter(config, "info")
    }

    /// Starts `revcheck serve --config config` with `RUST_LOG` set to `rust_log`, and waits for
    /// its `listening` log line.
    pub fn spawn_with_log_filter(config: &Path, rust_log: &str) -> RevcheckProcess {
        let mut command = Command::new(REVCHECK);
        command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("revcheck serve starts");

        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_sender, address_receiver) = mpsc::channel();
        let log_reader = {
            let log = Arc::clone(&log);
            thread::spawn(move || read_log(stderr, &log, &address_sender))
        };

        let mut process = RevcheckProcess {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            log_reader: Some(log_reader),
        };
        match address_receiver.recv_timeout(DEADLINE) {
            Ok(address) => process.address = address,
            Err(error) => panic!(
                "no `listening` line from revcheck ({error}); log:\n{}",
                process.log()
            ),
        }
        process
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends the signal named `name`, such as `HUP`, with the shell's built-in kill, because
    /// the kill program is not installed everywhere.
    pub fn send_signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let kill = Command::new("sh")
            .args(["-c", "kill -\"$1\" \"$2\"", "sh", name, &pid])
            .status()
            .expect("sh runs");
        assert!(kill.success(), "kill -{name} {pid} failed: {kill}");
    }

    /// Sends SIGTERM and waits for the process to exit, then for the rest of its log.
    pub fn terminate(&mut self) -> ExitStatus {
        self.send_signal("TERM");

        let status = poll_until("revcheck to exit after SIGTERM", || {
            match self.child.try_wait() {
                Ok(Some(status)) => Ok(status),
                Ok(None) => Err("still running".to_owned()),
                Err(error) => panic!("waiting for revcheck failed: {error}"),
            }
        });
        if let Some(reader) = self.log_reader.take() {
            reader.join().expect("log reader finishes");
        }
        status
    }
}

impl Drop for RevcheckProcess {
    fn drop(&mut self) {
        // std's `Child::kill` sends SIGKILL to the child's PID, or does nothing once `wait` or
        // `try_wait` has reaped the child, so a PID reused by another process is never signalled.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
        if thread::panicking() {
            eprintln!("revcheck log:\n{}", self.log());
        }
    }
}

/// Copies revcheck's stderr into `log` until the process closes it, and sends the address of
/// each `listening` line to `address_sender`.
fn read_log(stderr: ChildStderr, log: &Mutex<String>, address_sender: &mpsc::Sender<SocketAddr>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(address) = listening_address(&line) {
            let _ = address_sender.send(address);
        }
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        log.push_str(&line);
        log.push('\n');
    }
}

/// Returns the address of a `listening` line: `listening addr=ADDRESS` in the text format, or
/// an object with `"message":"listening"` and `"addr"` in the JSON format.
fn listening_address(line: &str) -> Option<SocketAddr> {
    if line.starts_with('{') {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        if event["message"] != "listening" {
            return None;
        }
        return event["addr"].as_str()?.parse().ok();
    }
    line.split_once("listening addr=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|text| text.parse().ok())
}
