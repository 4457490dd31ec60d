//! nginx as a child process, with its own prefix directory, logs and temporary files, and with
//! a site configuration included from the test's files.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DEADLINE, path_text, terminate};

/// Where Debian's `nginx` package installs the binary.
pub const NGINX: &str = "/usr/sbin/nginx";

/// Maximum wait for nginx to exit after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Returns a TCP port on 127.0.0.1 that was free a moment ago. Another process may take it
/// before the caller binds it, so a caller retries when the bind fails.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// The directory layout of one nginx instance: `nginx.conf`, `log/` and `temp/`.
#[derive(Debug)]
pub struct NginxPrefix {
    pub dir: PathBuf,
}

impl NginxPrefix {
    /// Creates the layout under `dir` and makes `dir` and its parent directory traversable, so
    /// that worker processes, which run as `www-data` when the test runs as root, can reach
    /// their temporary directories.
    pub fn create(dir: &Path) -> NginxPrefix {
        for sub in ["log", "temp"] {
            fs::create_dir_all(dir.join(sub)).expect("nginx directories are created");
        }
        for traversable in [dir.parent().expect("prefix has a parent"), dir] {
            fs::set_permissions(traversable, fs::Permissions::from_mode(0o755))
                .expect("nginx directories become traversable");
        }
        NginxPrefix {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes `nginx.conf`: the parts of Debian's `/etc/nginx/nginx.conf` that a site needs,
    /// with logs and temporary files under this prefix, and an `include` of `site`.
    pub fn write_main_config(&self, site: &Path) -> PathBuf {
        let dir = path_text(&self.dir);
        // nginx ignores `user` with a warning unless it starts as root. As root, it runs the
        // worker processes as this user, like Debian's configuration does.
        let user = if running_as_root() {
            "user www-data;\n"
        } else {
            ""
        };
        let text = format!(
            "{user}worker_processes 1;\n\
             error_log {dir}/log/error.log info;\n\
             events {{\n    worker_connections 256;\n}}\n\
             http {{\n\
             \x20   access_log {dir}/log/access.log;\n\
             \x20   client_body_temp_path {dir}/temp/client_body;\n\
             \x20   proxy_temp_path {dir}/temp/proxy;\n\
             \x20   fastcgi_temp_path {dir}/temp/fastcgi;\n\
             \x20   uwsgi_temp_path {dir}/temp/uwsgi;\n\
             \x20   scgi_temp_path {dir}/temp/scgi;\n\
             \x20   include {site};\n\
             }}\n",
            site = path_text(site),
        );
        let path = self.dir.join("nginx.conf");
        fs::write(&path, text).expect("nginx.conf is written");
        path
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("log/error.log")).unwrap_or_default()
    }
}

/// A running nginx master process. Dropping it sends SIGTERM, which makes the master stop its
/// workers and exit, and waits for it. SIGKILL would leave the workers running.
#[derive(Debug)]
pub struct NginxProcess {
    child: Option<Child>,
    stderr_path: PathBuf,
}

impl NginxProcess {
    /// Runs `nginx -p PREFIX -c CONFIG -e stderr -g 'daemon off; pid PREFIX/nginx.pid;'` and
    /// waits until `listen` accepts connections. Returns nginx's stderr when it exits first,
    /// for example because `listen` is taken.
    pub fn start(
        prefix: &NginxPrefix,
        config: &Path,
        listen: SocketAddr,
    ) -> Result<NginxProcess, String> {
        let stderr_path = prefix.dir.join("log/stderr");
        let stderr = File::create(&stderr_path).expect("nginx stderr file is created");
        let pid_path = prefix.dir.join("nginx.pid");
        let globals = format!("daemon off; pid {};", path_text(&pid_path));
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&prefix.dir)
            .arg("-c")
            .arg(config)
            .args(["-e", "stderr", "-g", &globals])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("{NGINX} cannot start: {error}"));
        let mut process = NginxProcess {
            child: Some(child),
            stderr_path,
        };

        let started = Instant::now();
        loop {
            let child = process.child.as_mut().expect("child is set until drop");
            if let Some(status) = child.try_wait().expect("waiting for nginx works") {
                process.child = None;
                return Err(format!(
                    "nginx exited with {status} before listening on {listen}:\n{}",
                    process.stderr()
                ));
            }
            if TcpStream::connect(listen).is_ok() {
                return Ok(process);
            }
            assert!(
                started.elapsed() < DEADLINE,
                "nginx did not listen on {listen} within {DEADLINE:?}:\n{}",
                process.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Returns the process ID of the master process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child is set until drop").id()
    }
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if terminate(&mut child, STOP_LIMIT) {
            return;
        }
        let pid = child.id();
        eprintln!("nginx (pid {pid}) did not stop within {STOP_LIMIT:?} after SIGTERM; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Returns whether this process runs with user id 0, from `/proc/self/status`.
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|effective| effective == "0")
}
