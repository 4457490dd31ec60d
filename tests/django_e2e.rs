//! End to end from a client certificate to a Django user: curl over mutual TLS to nginx running
//! `config/nginx/mtls-app.conf`, revcheck as its `auth_request` target, and the example project
//! of `clients/django/example/` served by gunicorn from `.venv`.
//!
//! Every server listens on 127.0.0.1. The client CA's CRL comes from an HTTP server inside the
//! test, so that the test can publish a new CRL while everything runs. The expected usernames
//! come from the identities file that the test writes, and the certificate facts from openssl:
//! fingerprints, revocation verdicts and CRL numbers.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, SystemTime};

use rcgen::RevocationReason;
use revcheck::fixtures::{CrlSpec, LeafSpec, RevokedSpec, TestCa, TestLeaf, not_after};
use serde_json::Value;
use tempfile::TempDir;

use common::example_site::{self, Example, ExampleSite, Reply, ServerTls};
use common::openssl;
use common::responders::FixedResponder;
use common::revcheck::RevcheckProcess;
use common::{path_text, poll_until, run, run_with_env, terminate, write_private};

const REPOSITORY: &str = env!("CARGO_MANIFEST_DIR");

/// The shared secret between nginx and revcheck.
const PROXY_SECRET: &str = "django-e2e-proxy-secret-7d2a";

/// The client CA's id in revcheck's configuration.
const CA_ID: &str = "clients";

// Client certificates. Each name is also the certificate's common name, the identity that
// revcheck's identities file maps its fingerprint to, and a Django username.
/// Good in the first CRL, revoked in the second one, which the test publishes while it runs.
const ALICE: &str = "alice";
/// Revoked in both CRLs.
const BOB: &str = "bob";

/// Serial numbers of the client certificates.
const CLIENTS: [(&str, u8); 2] = [(ALICE, 0x11), (BOB, 0x12)];

/// A Django user that no certificate maps to. A forged identity header that reached the view
/// would log the request in as this user.
const ADMIN: &str = "admin";

/// The `Host` that nginx forwards, which Django must allow.
const ALLOWED_HOST: &str = example_site::SERVER_NAME;

/// Maximum wait for gunicorn to exit after SIGTERM before its process group is killed.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A case: its name, and the function that checks it.
type Case = (&'static str, fn(&Deployment));

#[test]
fn client_certificate_to_django_user() {
    let deployment = Deployment::start();
    // In this order: revoked-while-running revokes the certificate that the cases before it
    // use as the good one, and processes-unchanged checks that nothing was restarted meanwhile.
    let cases: [Case; 5] = [
        ("good-certificate", good_certificate_reaches_view),
        (
            "revoked-certificate",
            revoked_certificate_never_reaches_view,
        ),
        ("forged-identity", forged_identity_headers_ignored),
        ("revoked-while-running", revoked_while_running),
        ("processes-unchanged", processes_unchanged),
    ];

    let mut failed = Vec::new();
    for (name, case) in cases {
        if panic::catch_unwind(AssertUnwindSafe(|| case(&deployment))).is_err() {
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed: {}",
        failed.len(),
        cases.len(),
        failed.join(", ")
    );
}

// ---- Cases ---------------------------------------------------------------------------------

/// Checks that a certificate that the first CRL does not list reaches the view as exactly the
/// user that the identities file maps it to.
fn good_certificate_reaches_view(deployment: &Deployment) {
    let files = &deployment.files;
    let verdict = openssl::crl_verdict(
        &files.ca,
        &deployment.first_crl_pem,
        &files.client(ALICE).cert,
    );
    assert_eq!(verdict, "good", "openssl verify -crl_check on {ALICE}");

    let reply = deployment.request("good-certificate", Some(ALICE), &[]);
    deployment.assert_reached_view("good-certificate", &reply, ALICE);
}

/// Checks that nginx responds with 403 to a revoked certificate, for the reason `revoked`, and
/// that gunicorn never receives the request.
fn revoked_certificate_never_reaches_view(deployment: &Deployment) {
    let files = &deployment.files;
    let verdict = openssl::crl_verdict(
        &files.ca,
        &deployment.first_crl_pem,
        &files.client(BOB).cert,
    );
    assert_eq!(verdict, "revoked", "openssl verify -crl_check on {BOB}");

    let reply = deployment.request("revoked-certificate", Some(BOB), &[]);
    deployment.assert_rejected("revoked-certificate", &reply, 403, "revoked");
}

/// Checks that an identity header that the client sends itself never becomes the Django user,
/// with or without a certificate, and whether its name has dashes or an underscore.
fn forged_identity_headers_ignored(deployment: &Deployment) {
    let forged = [("X-Client-Identity", ADMIN)];
    let reply = deployment.request("forged-identity-dashes", Some(ALICE), &forged);
    deployment.assert_reached_view("forged-identity-dashes", &reply, ALICE);

    // WSGI names this header HTTP_X_CLIENT_IDENTITY, like the dashed one. nginx drops it, so
    // it never reaches gunicorn, which would drop it too with its default header_map.
    let forged_underscore = [("X-Client_Identity", ADMIN)];
    let reply = deployment.request(
        "forged-identity-underscore",
        Some(ALICE),
        &forged_underscore,
    );
    deployment.assert_reached_view("forged-identity-underscore", &reply, ALICE);
    let error_log = deployment.site.prefix.error_log();
    assert!(
        error_log.contains("client sent invalid header line: \"X-Client_Identity"),
        "nginx's error log does not show X-Client_Identity dropped:\n{error_log}"
    );

    let reply = deployment.request("forged-identity-no-certificate", None, &forged);
    deployment.assert_rejected("forged-identity-no-certificate", &reply, 401, "-");

    let reply = deployment.request("forged-identity-revoked", Some(BOB), &forged);
    deployment.assert_rejected("forged-identity-revoked", &reply, 403, "revoked");
}

/// Checks that a certificate revoked while everything runs is rejected once revcheck has
/// fetched the new CRL, with nothing restarted or reloaded (see [`processes_unchanged`]).
fn revoked_while_running(deployment: &Deployment) {
    let files = &deployment.files;
    let alice = &files.client(ALICE).cert;
    let second_crl = deployment.pki.crl(2, &[BOB, ALICE], SystemTime::now());
    let second_crl_pem = files.write_crl_pem(2, &second_crl);
    let verdict = openssl::crl_verdict(&files.ca, &second_crl_pem, alice);
    assert_eq!(verdict, "revoked", "openssl verify -crl_check on {ALICE}");
    let first_number = openssl::crl_number(&deployment.first_crl_pem);
    let second_number = openssl::crl_number(&second_crl_pem);
    assert_ne!(first_number, second_number, "the two CRLs' numbers");

    let reply = deployment.request("before-revocation", Some(ALICE), &[]);
    deployment.assert_reached_view("before-revocation", &reply, ALICE);

    deployment.crl_server.replace_body(second_crl);
    wait_for_crl_number(&deployment.revcheck, &second_number);

    let reply = deployment.request("after-revocation", Some(ALICE), &[]);
    deployment.assert_rejected("after-revocation", &reply, 403, "revoked");
}

/// Checks that revcheck, nginx, gunicorn and their worker processes are the ones that ran at
/// the start, and that revcheck did not reload its configuration. A restart changes a process
/// ID, and so does a reload of nginx or gunicorn (SIGHUP), which replaces their workers.
fn processes_unchanged(deployment: &Deployment) {
    assert_eq!(
        deployment.process_ids(),
        deployment.processes_at_start,
        "process IDs now (left) and at the start (right)"
    );
    let log = deployment.revcheck.log();
    assert!(
        !log.contains("reloading the configuration"),
        "revcheck reloaded its configuration:\n{log}"
    );
}

// ---- Deployment ----------------------------------------------------------------------------

/// Every process of the pipeline, the test PKI, and the directory that contains their files.
struct Deployment {
    pki: Pki,
    files: PkiFiles,
    /// The CRL that the CRL server serves at start, as PEM.
    first_crl_pem: PathBuf,
    site: ExampleSite,
    revcheck: RevcheckProcess,
    gunicorn: Gunicorn,
    crl_server: FixedResponder,
    processes_at_start: ProcessIds,
    /// Removed last, after every process that uses its files has stopped.
    _work: TempDir,
}

impl Deployment {
    fn start() -> Deployment {
        let python = venv_python();
        let work = tempfile::tempdir().expect("temporary directory");
        let pki = Pki::generate();
        let files = pki.write(work.path());

        let first_crl = pki.crl(1, &[BOB], SystemTime::now() - Duration::from_secs(60));
        let first_crl_pem = files.write_crl_pem(1, &first_crl);
        let crl_server = FixedResponder::start(first_crl, "application/pkix-crl");
        let crl_url = format!("{}{CA_ID}.crl", crl_server.url);

        let gunicorn = Gunicorn::start(&python, work.path(), &[ALICE, BOB, ADMIN]);
        let config = write_revcheck_config(work.path(), &files, &crl_url);
        let revcheck = RevcheckProcess::spawn(&config);
        wait_for_crl_number(&revcheck, &openssl::crl_number(&first_crl_pem));
        let site = ExampleSite::start(
            Example::VerifyOn,
            work.path(),
            revcheck.address,
            gunicorn.address,
            PROXY_SECRET,
        );

        let mut deployment = Deployment {
            pki,
            files,
            first_crl_pem,
            site,
            revcheck,
            gunicorn,
            crl_server,
            processes_at_start: ProcessIds::default(),
            _work: work,
        };
        deployment.processes_at_start = deployment.wait_for_processes();
        deployment
    }

    /// Sends `GET /?case=<case>` through nginx with the client certificate `client`, if any,
    /// and the extra request headers.
    fn request(&self, case: &str, client: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let client = client.map(|name| {
            let client = self.files.client(name);
            (client.cert.as_path(), client.key.as_path())
        });
        example_site::curl(
            &self.files.server_ca,
            self.site.address,
            &format!("/?case={case}"),
            client,
            headers,
        )
    }

    /// Checks that the view returned `user` as the request's username, and that gunicorn
    /// received `user` in `X-Client-Identity`.
    fn assert_reached_view(&self, case: &str, reply: &Reply, user: &str) {
        assert_eq!(reply.status, 200, "{case}: {reply}");
        assert_eq!(
            reply.body, user,
            "{case}: the username that the view returned"
        );

        let app_line = self.gunicorn.access_log_line(case);
        assert!(
            app_line.ends_with(&format!(" 200 identity=\"{user}\"")),
            "{case}: gunicorn access log: {app_line}"
        );
        let entry = self.nginx_access_log_entry(case);
        assert_eq!(entry.field("identity"), user, "{case}: {entry}");
    }

    /// Checks the status, that gunicorn never received the request, and the reason that
    /// revcheck gave, which the example writes to nginx's access log (`-` when nginx rejected
    /// the request without asking revcheck).
    fn assert_rejected(&self, case: &str, reply: &Reply, status: u16, reason: &str) {
        assert_eq!(reply.status, status, "{case}: {reply}");
        self.gunicorn.assert_not_received(case);
        let entry = self.nginx_access_log_entry(case);
        assert_eq!(entry.field("reason"), reason, "{case}: {entry}");
    }

    fn nginx_access_log_entry(&self, case: &str) -> example_site::AccessLogEntry {
        self.site
            .access_log_entry(&format!("GET /?case={case} HTTP/1.1"))
    }

    /// Waits until nginx and gunicorn have started their worker processes, and returns the
    /// IDs of every process.
    fn wait_for_processes(&self) -> ProcessIds {
        poll_until("the worker processes of nginx and gunicorn", || {
            let ids = self.process_ids();
            if ids.nginx_workers.is_empty() || ids.gunicorn_workers.is_empty() {
                Err(format!("{ids:?}"))
            } else {
                Ok(ids)
            }
        })
    }

    /// Returns the IDs of the running processes of the pipeline. A process that has exited,
    /// or became a zombie, is missing.
    fn process_ids(&self) -> ProcessIds {
        let running = |pid: u32| process_status(pid).is_some_and(|(state, _)| state != 'Z');
        let nginx = self.site.nginx.pid();
        let gunicorn = self.gunicorn.child.id();
        ProcessIds {
            revcheck: Some(self.revcheck.pid()).filter(|&pid| running(pid)),
            nginx: Some(nginx).filter(|&pid| running(pid)),
            nginx_workers: children_of(nginx),
            gunicorn: Some(gunicorn).filter(|&pid| running(pid)),
            gunicorn_workers: children_of(gunicorn),
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("nginx error log:\n{}", self.site.prefix.error_log());
            eprintln!("gunicorn output:\n{}", self.gunicorn.output());
            // RevcheckProcess prints its own log when it is dropped during a panic.
        }
    }
}

/// The running processes of the pipeline: revcheck and the master processes of nginx and
/// gunicorn, `None` for one that no longer runs, and the children of each master process in
/// ascending order.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProcessIds {
    revcheck: Option<u32>,
    nginx: Option<u32>,
    nginx_workers: Vec<u32>,
    gunicorn: Option<u32>,
    gunicorn_workers: Vec<u32>,
}

/// Returns the state letter and the parent process ID of `pid`, from `/proc/<pid>/stat`, or
/// `None` when no such process exists.
fn process_status(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The second field, the command name in parentheses, may itself contain spaces and
    // parentheses, so the fields after it are found from the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

/// Returns the IDs of the running child processes of `parent`, in ascending order.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children: Vec<u32> = fs::read_dir("/proc")
        .expect("/proc is readable")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|&pid| {
            process_status(pid).is_some_and(|(state, ppid)| ppid == parent && state != 'Z')
        })
        .collect();
    children.sort_unstable();
    children
}

/// Waits until revcheck's `GET /v1/cas` shows `expected` as the CRL number of [`CA_ID`], in
/// the lowercase hex that both it and [`openssl::crl_number`] use.
fn wait_for_crl_number(revcheck: &RevcheckProcess, expected: &str) {
    let url = format!("http://{}/v1/cas", revcheck.address);
    poll_until(&format!("CRL number {expected} in {url}"), || {
        let output = run(
            "curl",
            Path::new("/"),
            &[
                "--silent",
                "--show-error",
                "--noproxy",
                "*",
                "--max-time",
                "10",
                &url,
            ],
        );
        if output.code != Some(0) {
            return Err(output.describe());
        }
        let cas: Value = serde_json::from_str(&output.stdout)
            .map_err(|error| format!("{error}: {}", output.stdout))?;
        let number = cas["cas"]
            .as_array()
            .and_then(|cas| cas.iter().find(|ca| ca["id"] == CA_ID))
            .and_then(|ca| ca["crl_number"].as_str());
        if number == Some(expected) {
            Ok(())
        } else {
            Err(output.stdout)
        }
    });
}

/// Writes revcheck's configuration, identities file and secret file, and returns the
/// configuration's path.
fn write_revcheck_config(work: &Path, files: &PkiFiles, crl_url: &str) -> PathBuf {
    let verification = Example::VerifyOn.verification();
    let ca = path_text(&files.ca);
    // interval = "1s" makes revcheck fetch the CRL about every second, so that the wait for
    // the CRL that the test publishes stays short.
    let config = format!(
        "listen = \"127.0.0.1:0\"\n\
         state_dir = \"state\"\n\
         \n\
         [refresh]\n\
         interval = \"1s\"\n\
         \n\
         [[ca]]\n\
         id = \"{CA_ID}\"\n\
         certificate = \"{ca}\"\n\
         crl = [\"{crl_url}\"]\n\
         \n\
         [auth]\n\
         verification = \"{verification}\"\n\
         certificate_header = \"X-SSL-Client-Cert\"\n\
         certificate_format = \"nginx_escaped\"\n\
         verify_header = \"X-SSL-Client-Verify\"\n\
         identity = \"fingerprint\"\n\
         identities = \"identities.tsv\"\n\
         secret_header = \"X-Revcheck-Secret\"\n\
         secret_file = \"proxy-secret\"\n"
    );

    let mut identities = String::from("# KEY<TAB>IDENTITY\n");
    for (name, _) in CLIENTS {
        let fingerprint = openssl::certificate_facts(&files.client(name).cert).fingerprint;
        identities.push_str(&format!("{fingerprint}\t{name}\n"));
    }
    fs::write(work.join("identities.tsv"), identities).expect("identities file is written");
    write_private(&work.join("proxy-secret"), &format!("{PROXY_SECRET}\n"));

    let path = work.join("revcheck.toml");
    fs::write(&path, config).expect("revcheck.toml is written");
    path
}

// ---- gunicorn and the example project ------------------------------------------------------

/// Returns `.venv/bin/python` after checking that it has Django, gunicorn and this
/// repository's `clients/django`, which `scripts/test` installs.
fn venv_python() -> PathBuf {
    let python = Path::new(REPOSITORY).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing. Run scripts/test, which creates .venv and installs Django, gunicorn \
         and clients/django into it.",
        python.display()
    );
    let probe = run(
        path_text(&python),
        Path::new("/"),
        &[
            "-c",
            "import django, gunicorn, revcheck_django; print(revcheck_django.__file__)",
        ],
    );
    assert_eq!(
        probe.code,
        Some(0),
        "{} lacks Django, gunicorn or revcheck-django; run scripts/test to install them.\n{}",
        python.display(),
        probe.describe()
    );
    // Compared as canonical paths, because either one may pass through a symbolic link.
    let imported = fs::canonicalize(probe.stdout.trim()).unwrap_or_default();
    let package = fs::canonicalize(Path::new(REPOSITORY).join("clients/django/revcheck_django"))
        .expect("clients/django/revcheck_django exists");
    assert!(
        imported.starts_with(&package),
        "{} imports revcheck_django from {}, not from {}; run scripts/test to install this \
         checkout's clients/django.",
        python.display(),
        probe.stdout.trim(),
        package.display()
    );
    python
}

/// gunicorn serving the example Django project with one sync worker, which handles the
/// requests one after another and writes each one's access log line before it accepts the
/// next connection. Dropping it stops gunicorn and its worker.
struct Gunicorn {
    child: Child,
    address: SocketAddr,
    /// stderr, where gunicorn logs its start and Django logs every denial.
    output_path: PathBuf,
    access_log_path: PathBuf,
}

impl Gunicorn {
    /// Creates the project's SQLite database under `work` with `manage.py migrate`, adds a
    /// user for each of `users`, and starts gunicorn on a port of 127.0.0.1 that the OS picks.
    fn start(python: &Path, work: &Path, users: &[&str]) -> Gunicorn {
        let project = Path::new(REPOSITORY).join("clients/django/example");
        let database = work.join("db.sqlite3");
        let environment = [
            ("DJANGO_SETTINGS_MODULE", "example_site.settings"),
            ("EXAMPLE_DATABASE", path_text(&database)),
            ("DJANGO_ALLOWED_HOSTS", ALLOWED_HOST),
            ("REVCHECK_MODE", "auth_request"),
            // Keeps the source tree free of __pycache__ directories.
            ("PYTHONDONTWRITEBYTECODE", "1"),
        ];
        let python_text = path_text(python);

        let migrate = run_with_env(
            python_text,
            &project,
            &["manage.py", "migrate", "--no-input"],
            &environment,
        );
        assert_eq!(migrate.code, Some(0), "migrate: {}", migrate.describe());
        let names: Vec<String> = users.iter().map(|name| format!("'{name}'")).collect();
        let create_users = format!(
            "from django.contrib.auth.models import User\n\
             for name in [{}]:\n    User.objects.create_user(name)\n",
            names.join(", ")
        );
        let shell = run_with_env(
            python_text,
            &project,
            &["manage.py", "shell", "-c", &create_users],
            &environment,
        );
        assert_eq!(shell.code, Some(0), "creating users: {}", shell.describe());

        let log_dir = work.join("gunicorn");
        fs::create_dir_all(&log_dir).expect("gunicorn log directory is created");
        let output_path = log_dir.join("output.log");
        let access_log_path = log_dir.join("access.log");
        let output = File::create(&output_path).expect("gunicorn output file is created");
        let child = Command::new(python)
            .args(["-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1"])
            // gunicorn 25.1 and newer open a control socket by default, in $XDG_RUNTIME_DIR
            // or ~/.gunicorn, which other gunicorn processes may share.
            .arg("--no-control-socket")
            .arg("--access-logfile")
            .arg(&access_log_path)
            // The request line, the status, and the X-Client-Identity that gunicorn received.
            .args([
                "--access-logformat",
                "\"%(r)s\" %(s)s identity=\"%({x-client-identity}i)s\"",
            ])
            .arg("example_site.wsgi")
            .current_dir(&project)
            .envs(environment)
            .stdin(Stdio::null())
            .stdout(
                output
                    .try_clone()
                    .expect("gunicorn output file is duplicated"),
            )
            .stderr(output)
            // A process group of its own, so that the worker can be killed with the master
            // if SIGTERM does not stop them.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("{} -m gunicorn cannot start: {error}", python_text));

        let mut gunicorn = Gunicorn {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            output_path,
            access_log_path,
        };
        gunicorn.address = gunicorn.wait_for_output("gunicorn's listening address", |output| {
            output
                .split_once("Listening at: http://")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|address| address.parse().ok())
        });
        gunicorn.wait_for_output("gunicorn's worker", |output| {
            output.contains("Booting worker with pid").then_some(())
        });
        gunicorn
    }

    /// Polls gunicorn's output until `find` returns a value, and fails if gunicorn exits
    /// first.
    fn wait_for_output<T>(&mut self, what: &str, find: impl Fn(&str) -> Option<T>) -> T {
        poll_until(what, || {
            let output = self.output();
            if let Some(value) = find(&output) {
                return Ok(value);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("gunicorn exited with {status} before {what}:\n{output}");
            }
            Err(output)
        })
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.output_path).unwrap_or_default()
    }

    /// Returns the access log lines of `GET /?case=<case>`.
    fn access_log_lines(&self, case: &str) -> Vec<String> {
        let request = format!("\"GET /?case={case} ");
        fs::read_to_string(&self.access_log_path)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.starts_with(&request))
            .map(str::to_owned)
            .collect()
    }

    /// Returns the access log line of `GET /?case=<case>`. gunicorn writes it after it sends
    /// the response, so it may appear a moment after curl returns.
    fn access_log_line(&self, case: &str) -> String {
        let lines = poll_until(&format!("gunicorn's access log line of {case}"), || {
            let lines = self.access_log_lines(case);
            if lines.is_empty() {
                Err(fs::read_to_string(&self.access_log_path).unwrap_or_default())
            } else {
                Ok(lines)
            }
        });
        assert_eq!(lines.len(), 1, "gunicorn received {case} more than once");
        lines.into_iter().next().expect("one line")
    }

    /// Checks that gunicorn never received `GET /?case=<case>`.
    ///
    /// A marker request goes straight to gunicorn afterwards. The one worker handles it after
    /// every request that nginx could have forwarded before, so once the marker's line is in
    /// the access log, a line for `case` would be there too.
    fn assert_not_received(&self, case: &str) {
        let marker = format!("{case}-marker");
        let url = format!("http://{}/?case={marker}", self.address);
        let host = format!("Host: {ALLOWED_HOST}");
        let output = run(
            "curl",
            Path::new("/"),
            &[
                "--silent",
                "--show-error",
                "--noproxy",
                "*",
                "--max-time",
                "30",
                "--header",
                &host,
                "--output",
                "/dev/null",
                &url,
            ],
        );
        assert_eq!(
            output.code,
            Some(0),
            "marker request: {}",
            output.describe()
        );
        self.access_log_line(&marker);

        let lines = self.access_log_lines(case);
        assert!(
            lines.is_empty(),
            "gunicorn received the rejected request {case}: {lines:?}"
        );
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        // SIGTERM makes the master stop its worker gracefully and exit.
        if terminate(&mut self.child, STOP_LIMIT) {
            return;
        }
        // terminate returned false, so the master still runs and its PID is still the ID of
        // the process group that process_group(0) created.
        let group = self.child.id().to_string();
        eprintln!("gunicorn (pid {group}) did not stop within {STOP_LIMIT:?}; killing its group");
        let _ = Command::new("sh")
            .args(["-c", "kill -KILL \"-$1\"", "sh", &group])
            .status();
        let _ = self.child.wait();
    }
}

// ---- Test PKI ------------------------------------------------------------------------------

/// The server's TLS identity, the client CA and the client certificates that it issued.
struct Pki {
    server: ServerTls,
    ca: TestCa,
    clients: BTreeMap<&'static str, TestLeaf>,
}

impl Pki {
    fn generate() -> Pki {
        let ca = TestCa::root("revcheck Django end-to-end client CA").expect("client CA");
        let mut clients = BTreeMap::new();
        for (name, serial) in CLIENTS {
            let spec = LeafSpec {
                common_name: name.to_owned(),
                serial: vec![serial],
                email: None,
                uri: None,
            };
            let leaf = ca
                .leaf(&spec)
                .unwrap_or_else(|error| panic!("certificate {name}: {error}"));
            clients.insert(name, leaf);
        }
        Pki {
            server: ServerTls::generate(),
            ca,
            clients,
        }
    }

    /// Signs a CRL with `number` as its cRLNumber that lists the certificates named in
    /// `revoked`, revoked at `this_update`. Its nextUpdate is the fixtures' notAfter in 2199.
    fn crl(&self, number: u64, revoked: &[&str], this_update: SystemTime) -> Vec<u8> {
        let revoked = revoked
            .iter()
            .map(|name| RevokedSpec {
                serial: vec![serial_of(name)],
                revocation_time: this_update,
                reason: Some(RevocationReason::KeyCompromise),
            })
            .collect();
        self.ca
            .crl(&CrlSpec {
                revoked,
                crl_number: number,
                this_update,
                next_update: not_after(),
            })
            .unwrap_or_else(|error| panic!("CRL {number}: {error}"))
    }

    /// Writes the files that nginx, revcheck, curl and openssl read, and returns their paths.
    fn write(&self, work: &Path) -> PkiFiles {
        let dir = work.join("pki");
        fs::create_dir_all(&dir).expect("PKI directory is created");

        let server_ca = dir.join("server-ca.pem");
        self.server.write(work, &server_ca);
        let ca = dir.join("clients-ca.pem");
        fs::write(&ca, self.ca.cert_pem()).expect("client CA is written");
        // nginx trusts the one client CA, which is also revcheck's [[ca]].
        fs::write(
            work.join("etc/nginx/tls/client-cas.pem"),
            self.ca.cert_pem(),
        )
        .expect("client CA bundle is written");

        let mut clients = BTreeMap::new();
        for (name, leaf) in &self.clients {
            let cert = dir.join(format!("{name}.pem"));
            let key = dir.join(format!("{name}.key"));
            fs::write(&cert, &leaf.cert_pem).expect("client certificate is written");
            write_private(&key, &leaf.key_pem);
            clients.insert(*name, ClientFiles { cert, key });
        }

        PkiFiles {
            dir,
            server_ca,
            ca,
            clients,
        }
    }
}

/// Paths of the files that [`Pki::write`] wrote.
struct PkiFiles {
    dir: PathBuf,
    server_ca: PathBuf,
    /// The client CA certificate.
    ca: PathBuf,
    clients: BTreeMap<&'static str, ClientFiles>,
}

impl PkiFiles {
    /// Writes a CRL as PEM for openssl, and returns its path.
    fn write_crl_pem(&self, number: u64, der: &[u8]) -> PathBuf {
        let path = self.dir.join(format!("crl-{number}.pem"));
        fs::write(&path, openssl::pem_block("X509 CRL", der)).expect("CRL PEM is written");
        path
    }

    fn client(&self, name: &str) -> &ClientFiles {
        self.clients
            .get(name)
            .unwrap_or_else(|| panic!("no client certificate named {name}"))
    }
}

struct ClientFiles {
    cert: PathBuf,
    key: PathBuf,
}

fn serial_of(name: &str) -> u8 {
    CLIENTS
        .iter()
        .find(|(client, _)| *client == name)
        .map(|(_, serial)| *serial)
        .unwrap_or_else(|| panic!("no client certificate named {name}"))
}
