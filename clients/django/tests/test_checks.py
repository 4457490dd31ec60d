"""The system checks, run as ``manage.py check`` runs them, on one bad settings module each."""

import re
import subprocess
import sys

from django.core import checks
from django.test import SimpleTestCase, override_settings

from revcheck_django.conf import NGINX_EXAMPLE_PROXY_SET_HEADERS
from tests import support

CHECK_ID = re.compile(r"revcheck\.[EW]\d{3}")

# Settings module under tests/check_settings/ and the one check id it must raise.
BAD_SETTINGS = [
    ("e001_remote_user_header", "revcheck.E001"),
    ("e001_identity_header", "revcheck.E001"),
    ("e001_remote_user_subclass", "revcheck.E001"),
    ("e002_remote_user_after", "revcheck.E002"),
    ("e002_persistent_remote_user_after", "revcheck.E002"),
    ("e003_identity_header", "revcheck.E003"),
    ("e003_certificate_header", "revcheck.E003"),
    ("e004_secure_proxy_ssl_header", "revcheck.E004"),
    ("e005_middleware_missing", "revcheck.E005"),
    ("e006_authentication_after", "revcheck.E006"),
    ("e007_backend_missing", "revcheck.E007"),
    ("e008_forwarded_host", "revcheck.E008"),
    ("e009_user_field_lookup", "revcheck.E009"),
    ("e009_mode", "revcheck.E009"),
    ("e010_identity_header", "revcheck.E010"),
    ("e010_certificate_header", "revcheck.E010"),
]


def manage_check(settings_module):
    """Run ``django-admin check`` with ``settings_module``; return the status and the output."""
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--settings", settings_module],
        cwd=support.CLIENT_DIR,
        env=support.child_environment(PYTHONPATH=f"{support.CLIENT_DIR}:{support.EXAMPLE_DIR}"),
        capture_output=True,
        text=True,
        timeout=support.HANG_LIMIT_SECONDS,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


class ManageCheckTests(SimpleTestCase):
    def test_example_settings_pass(self):
        status, output = manage_check("example_site.settings")

        self.assertEqual(status, 0, output)
        self.assertIn("System check identified no issues", output)

    def test_direct_mode_example_settings_pass(self):
        status, output = manage_check("tests.check_settings.direct_mode")

        self.assertEqual(status, 0, output)
        self.assertIn("System check identified no issues", output)

    def test_each_bad_settings_module_fails(self):
        for module, check_id in BAD_SETTINGS:
            with self.subTest(module=module):
                status, output = manage_check(f"tests.check_settings.{module}")

                self.assertEqual(status, 1, output)
                self.assertEqual(set(CHECK_ID.findall(output)), {check_id}, output)
                # Every message comes with a hint that names the change to make.
                self.assertIn("HINT:", output)


def nginx_application_headers(site):
    """Return the lowercase names that ``proxy_set_header`` sets in the nginx example site's
    ``location /`` block, including those of the snippets that the block includes."""
    nginx = support.REPOSITORY / "config" / "nginx"
    text = (nginx / site).read_text()
    block = text[text.index("    location / {") :]
    block = block[: block.index("\n    }")]
    for include in re.findall(r"include /etc/nginx/snippets/(\S+);", block):
        block += (nginx / "snippets" / include).read_text()
    return {name.lower() for name in re.findall(r"^\s*proxy_set_header\s+(\S+)", block, re.M)}


class NginxExampleTests(SimpleTestCase):
    def test_proxy_set_headers_match_nginx_example(self):
        for site in ["mtls-app.conf", "mtls-app-self-verify.conf"]:
            with self.subTest(site=site):
                expected = nginx_application_headers(site) - {"host"}
                documented = {name.lower() for name in NGINX_EXAMPLE_PROXY_SET_HEADERS}
                self.assertEqual(documented, expected)


def revcheck_errors():
    return [message for message in checks.run_checks() if message.id.startswith("revcheck.")]


class CheckDetailTests(SimpleTestCase):
    """Cases that need no settings module of their own."""

    def test_verification_header_names_detected(self):
        # The nginx example sets all but X-Client-Verified, so only that one is also E010.
        for header, expected in [
            ("X-SSL-Client-Verify", ["revcheck.E001"]),
            ("X-Client-Verified", ["revcheck.E001", "revcheck.E010"]),
            ("X-Revocation-Status", ["revcheck.E001"]),
            ("X-Revcheck-Ca", ["revcheck.E001"]),
        ]:
            with self.subTest(header=header), override_settings(REVCHECK_IDENTITY_HEADER=header):
                self.assertEqual(sorted(error.id for error in revcheck_errors()), expected)

    def test_declared_proxy_headers_accepted(self):
        with override_settings(
            USE_X_FORWARDED_HOST=True,
            SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_SSL", "on"),
            REVCHECK_PROXY_SET_HEADERS=[
                "X-Forwarded-Proto",
                "X-Forwarded-Ssl",
                "X-Forwarded-Host",
                "X-Client-Identity",
            ],
        ):
            self.assertEqual(revcheck_errors(), [])

    def test_server_variable_for_https_accepted(self):
        # A key without HTTP_ is set by the server (for example uWSGI's HTTPS), not a client.
        with override_settings(SECURE_PROXY_SSL_HEADER=("HTTPS", "on")):
            self.assertEqual(revcheck_errors(), [])

    def test_forwarded_port_detected(self):
        with override_settings(USE_X_FORWARDED_PORT=True):
            self.assertEqual([error.id for error in revcheck_errors()], ["revcheck.E008"])

    def test_invalid_values_each_reported(self):
        settings = {
            "REVCHECK_TIMEOUT": 0,
            "REVCHECK_CACHE_MAX_AGE": -1,
            "REVCHECK_URL": "ftp://127.0.0.1/",
            "REVCHECK_CACHE": "missing",
            "REVCHECK_IDENTITY_REQUIRED": "yes",
        }
        with override_settings(**settings):
            errors = revcheck_errors()

        self.assertEqual(sorted(error.obj for error in errors), sorted(settings))
        self.assertEqual({error.id for error in errors}, {"revcheck.E009"})

    def test_unset_verify_header_detected(self):
        with override_settings(
            REVCHECK_MODE="direct",
            REVCHECK_USER_FIELD="client_certificates__fingerprint",
            REVCHECK_VERIFY_HEADER="X-Client-Verify-Result",
        ):
            errors = revcheck_errors()

        self.assertEqual([error.id for error in errors], ["revcheck.E010"])
        self.assertEqual(errors[0].obj, "REVCHECK_VERIFY_HEADER")

    def test_declared_identity_header_accepted(self):
        with override_settings(
            REVCHECK_IDENTITY_HEADER="X-Remote-User",
            REVCHECK_PROXY_SET_HEADERS=["X-Forwarded-Proto", "X-Remote-User"],
        ):
            self.assertEqual(revcheck_errors(), [])

    def test_unread_headers_not_checked(self):
        # auth_request mode reads only the identity header, and direct mode reads only the
        # certificate and verification headers.
        with override_settings(REVCHECK_CERTIFICATE_HEADER="X-Client-Cert"):
            self.assertEqual(revcheck_errors(), [])
        with override_settings(
            REVCHECK_MODE="direct",
            REVCHECK_USER_FIELD="client_certificates__fingerprint",
            REVCHECK_IDENTITY_HEADER="X-Remote-User",
        ):
            self.assertEqual(revcheck_errors(), [])
