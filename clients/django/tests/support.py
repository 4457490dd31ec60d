"""Helpers for the tests: revcheck and gunicorn child processes, openssl, nginx's escaping."""

import calendar
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = CLIENT_DIR / "example"
REPOSITORY = CLIENT_DIR.parents[1]
DEMO = REPOSITORY / "fixtures" / "demo"

# Upper bound on waiting for a child process. It turns a hang into a test failure; it is not a
# speed check.
HANG_LIMIT_SECONDS = 60

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def child_environment(**overrides):
    """Return this process's environment without proxy variables, plus ``overrides``."""
    environment = {name: value for name, value in os.environ.items() if name not in PROXY_VARIABLES}
    environment.update(overrides)
    return environment


def revcheck_binary():
    path = os.environ.get("REVCHECK_BIN", "")
    if not path:
        raise AssertionError(
            "REVCHECK_BIN is not set. Run these tests with `cargo test --test django` (or "
            "scripts/test), or run `cargo build --bin revcheck` and set "
            "REVCHECK_BIN=target/debug/revcheck."
        )
    if not os.access(path, os.X_OK):
        raise AssertionError(f"REVCHECK_BIN={path!r} is not an executable file.")
    # Absolute, because revcheck starts in a temporary directory, where a path relative to
    # the current one would not resolve.
    return os.path.abspath(path)


def python_executable():
    """Return the Python that runs the tests, after checking that gunicorn and revcheck-django
    are installed in it."""
    for distribution in ["gunicorn", "revcheck-django"]:
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            raise AssertionError(
                f"{distribution} is not installed for {sys.executable}. Run scripts/test, which "
                "installs it into .venv."
            ) from None
    return sys.executable


def run_checked(arguments, environment):
    """Run a command in the example project's directory and fail the test if it fails."""
    result = subprocess.run(
        [str(argument) for argument in arguments],
        cwd=EXAMPLE_DIR,
        env=environment,
        capture_output=True,
        timeout=HANG_LIMIT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, arguments))} failed with status {result.returncode}:\n"
            f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
        )
    return result


def openssl(*args):
    """Run ``openssl`` with ``args`` and return its standard output."""
    result = subprocess.run(["openssl", *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"openssl {' '.join(map(str, args))} failed with status {result.returncode}: "
            f"{result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def openssl_fingerprint(certificate_path):
    """Return the SHA-256 fingerprint that openssl computes, as lowercase hex without colons."""
    output = openssl("x509", "-in", certificate_path, "-noout", "-fingerprint", "-sha256")
    # For example: sha256 Fingerprint=DB:6A:03:...
    digits = output.decode("ascii").strip().split("=", 1)[1]
    return digits.replace(":", "").lower()


def openssl_next_update(crl_path):
    """Return the CRL's nextUpdate as a Unix time, as openssl reads it."""
    output = openssl("crl", "-in", crl_path, "-noout", "-nextupdate", "-dateopt", "iso_8601")
    # For example: nextUpdate=2026-12-05 00:57:33Z
    text = output.decode("ascii").strip().split("=", 1)[1]
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%SZ"))


def nginx_escaped(pem_path):
    """Return the certificate as nginx's ``$ssl_client_escaped_cert`` writes it.

    nginx escapes the PEM with NGX_ESCAPE_URI_COMPONENT, which for the characters of a PEM
    file leaves letters, digits and dashes as they are, and escapes the rest (space, newline,
    ``+``, ``/`` and ``=``).
    """
    return urllib.parse.quote(Path(pem_path).read_text(), safe="-")


# Maximum wait for a child process to exit after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 10


class ChildProcess:
    """A child process whose output goes to a file in ``log_directory``. ``stop()`` kills it
    by PID and reaps it."""

    def __init__(self, arguments, working_directory, environment, log_directory):
        self.output_path = Path(log_directory) / f"output-{time.monotonic_ns()}.log"
        self._output = open(self.output_path, "wb")
        self.process = subprocess.Popen(
            [str(argument) for argument in arguments],
            cwd=working_directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )

    def output(self):
        return self.output_path.read_text(errors="replace")

    def wait_for_output(self, pattern):
        """Return the first match of ``pattern`` in the output, waiting for it to appear."""
        deadline = time.monotonic() + HANG_LIMIT_SECONDS
        while True:
            match = re.search(pattern, self.output())
            if match:
                return match
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.process.args[0]} exited with status {self.process.returncode} "
                    f"before writing {pattern!r}. Output:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.process.args[0]} did not write {pattern!r} within "
                    f"{HANG_LIMIT_SECONDS} s. Output:\n{self.output()}"
                )
            time.sleep(0.05)

    def stop(self):
        """Stop the process with SIGTERM, so that a server such as gunicorn stops its workers
        too, and with SIGKILL if it has not exited after ``STOP_GRACE_SECONDS``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()
        self._output.close()


def http_get(url, headers=None):
    """Send a GET request to 127.0.0.1 without proxies. Return the status and the body."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=HANG_LIMIT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


class Revcheck:
    """revcheck serving the demo PKI on an OS-chosen port of 127.0.0.1.

    ``issuing_crl`` and ``root_crl`` are the CRL files for the issuing and the root CA. With
    ``root_crl=None`` the root CA is not configured.
    """

    def __init__(self, issuing_crl, root_crl=DEMO / "root-ca.crl"):
        self._directory = tempfile.TemporaryDirectory(prefix="revcheck-django-")
        directory = Path(self._directory.name)
        config = f"""listen = "127.0.0.1:0"
state_dir = "{directory / "state"}"

[[ca]]
id = "demo-issuing"
certificate = "{DEMO / "issuing-ca.pem"}"
crl = ["file:{issuing_crl}"]
"""
        if root_crl is not None:
            config += f"""
[[ca]]
id = "demo-root"
certificate = "{DEMO / "root-ca.pem"}"
crl = ["file:{root_crl}"]
"""
        config_path = directory / "revcheck.toml"
        config_path.write_text(config)
        self.child = ChildProcess(
            [revcheck_binary(), "serve", "--config", config_path],
            directory,
            child_environment(RUST_LOG="revcheck=info"),
            directory,
        )
        try:
            match = self.child.wait_for_output(r"listening addr=(127\.0\.0\.1:\d+)")
            self.url = f"http://{match.group(1)}"
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self):
        deadline = time.monotonic() + HANG_LIMIT_SECONDS
        while True:
            status, body = http_get(self.url + "/readyz")
            if status == 200:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"revcheck at {self.url} is not ready: {status} {body!r}")
            time.sleep(0.05)

    def stop(self):
        self.child.stop()
        self._directory.cleanup()


class CrlDirectory:
    """A temporary directory for CRLs that ``openssl ca -gencrl`` signs with a demo CA key."""

    def __init__(self):
        self._directory = tempfile.TemporaryDirectory(prefix="revcheck-django-crl-")
        self.path = Path(self._directory.name)

    def generate(self, name, ca, revoked_serials, hours):
        """Write ``name``: a CRL of the demo CA ``ca`` (``issuing-ca`` or ``root-ca``) that
        revokes ``revoked_serials`` (hex) with reason keyCompromise, with nextUpdate ``hours``
        after now. Return its path."""
        work = self.path / f"{name}.d"
        work.mkdir()
        index = "".join(
            f"R\t21991231235959Z\t250601000000Z,keyCompromise\t{serial}\tunknown\t/CN=revoked\n"
            for serial in revoked_serials
        )
        (work / "index.txt").write_text(index)
        (work / "crlnumber").write_text("01\n")
        (work / "ca.cnf").write_text(
            f"""[ ca ]
default_ca = demo

[ demo ]
database = {work / "index.txt"}
crlnumber = {work / "crlnumber"}
default_md = sha256
crl_extensions = crl_extensions

[ crl_extensions ]
authorityKeyIdentifier = keyid:always
"""
        )
        output = self.path / name
        openssl(
            "ca", "-gencrl", "-batch",
            "-config", work / "ca.cnf",
            "-keyfile", DEMO / f"{ca}.key",
            "-cert", DEMO / f"{ca}.pem",
            "-crlhours", str(hours),
            "-out", output,
        )  # fmt: skip
        return output

    def cleanup(self):
        self._directory.cleanup()
