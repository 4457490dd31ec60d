"""Direct-lookup mode against a running revcheck, with CRLs signed by openssl.

``openssl ca -gencrl`` signs the issuing CA's CRL with the demo CA key. It revokes serial
0x8001 (``revoked-client.pem``), and its nextUpdate is two hours ahead. The tests can
therefore tell a cache lifetime bounded by nextUpdate from one bounded by the configured
maximum.
"""

import http.server
import socket
import threading
import time

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import TestCase, override_settings

from example_site.models import ClientCertificate
from tests import support
from tests.cache import RECORDED_SETS

GOOD = support.DEMO / "good-client.pem"
REVOKED = support.DEMO / "revoked-client.pem"

RECORDING_CACHES = {"default": {"BACKEND": "tests.cache.RecordingCache"}}
DAY_SECONDS = 24 * 3600

# The start of the ERROR record of a lookup that failed, as assertLogs formats it.
LOOKUP_FAILED_LOG = "ERROR:revcheck_django:revcheck lookup failed"


class FixedResponseServer:
    """An HTTP server on 127.0.0.1 that responds to every POST with one fixed status and body,
    in place of a revcheck that fails."""

    def __init__(self, status, body):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                # Keeps the request lines out of the test output.
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class DirectLookupTestCase(TestCase):
    @classmethod
    def setUpClass(cls):
        # revcheck starts before TestCase.setUpClass opens its transactions, so that a failed
        # start leaves none open.
        cls.crls = support.CrlDirectory()
        cls.addClassCleanup(cls.crls.cleanup)
        cls.issuing_crl = cls.crls.generate("issuing.crl.pem", "issuing-ca", ["8001"], hours=2)
        cls.revcheck = support.Revcheck(cls.issuing_crl)
        cls.addClassCleanup(cls.revcheck.stop)

        direct_mode = override_settings(
            REVCHECK_MODE="direct",
            REVCHECK_USER_FIELD="client_certificates__fingerprint",
            REVCHECK_URL=cls.revcheck.url,
            REVCHECK_CACHE_MAX_AGE=300,
            CACHES=RECORDING_CACHES,
        )
        direct_mode.enable()
        cls.addClassCleanup(direct_mode.disable)
        super().setUpClass()

    @classmethod
    def setUpTestData(cls):
        user_model = get_user_model()
        cls.good_user = user_model.objects.create_user("good-user")
        cls.revoked_user = user_model.objects.create_user("revoked-user")
        cls.good_fingerprint = support.openssl_fingerprint(GOOD)
        ClientCertificate.objects.create(user=cls.good_user, fingerprint=cls.good_fingerprint)
        ClientCertificate.objects.create(
            user=cls.revoked_user, fingerprint=support.openssl_fingerprint(REVOKED)
        )

    def setUp(self):
        caches["default"].clear()
        RECORDED_SETS.clear()

    def get(self, certificate=None, verify="SUCCESS"):
        """Send ``GET /`` as nginx forwards it: ``certificate`` (a PEM file) escaped as in
        ``$ssl_client_escaped_cert``, and ``verify`` as ``$ssl_client_verify``."""
        meta = {}
        if certificate is not None:
            meta["HTTP_X_SSL_CLIENT_CERT"] = support.nginx_escaped(certificate)
        if verify is not None:
            meta["HTTP_X_SSL_CLIENT_VERIFY"] = verify
        return self.client.get("/", **meta)

    def assert_denied(self, reason, **request):
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            response = self.get(**request)
        self.assertEqual(response.status_code, 403)
        self.assertIn(f"reason={reason} ", "\n".join(logs.output))
        return "\n".join(logs.output)


class StatusTests(DirectLookupTestCase):
    def test_good_certificate_logs_in(self):
        response = self.get(GOOD)

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"good-user")

    def test_revoked_certificate_rejected(self):
        log = self.assert_denied("revoked", certificate=REVOKED)

        self.assertIn(f"fingerprint={support.openssl_fingerprint(REVOKED)} ", log)

    def test_unknown_issuer_rejected(self):
        directory = self.crls.path
        key = directory / "self-signed.key"
        certificate = directory / "self-signed.pem"
        support.openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", certificate,
            "-subj", "/CN=good-client/O=revcheck demo/C=US", "-days", "1",
        )  # fmt: skip

        log = self.assert_denied("unknown_issuer", certificate=certificate)

        # revcheck decided (no configured CA issued the certificate), so this is a denial at
        # WARNING and not a failed lookup at ERROR.
        self.assertIn(
            "WARNING:revcheck_django:client certificate login denied: reason=unknown_issuer ", log
        )
        self.assertNotIn("ERROR:", log)

    def test_unmapped_certificate_rejected(self):
        ClientCertificate.objects.filter(user=self.good_user).delete()

        self.assert_denied("identity_unmapped", certificate=GOOD)

    def test_failed_proxy_verification_rejected(self):
        for verify in ["FAILED:certificate has expired", "NONE", "success", None]:
            with self.subTest(verify=verify):
                self.assert_denied("proxy_verification_failed", certificate=GOOD, verify=verify)

    def test_verification_without_certificate_rejected(self):
        self.assert_denied("proxy_verification_failed", verify="SUCCESS")

    def test_no_certificate_rejected(self):
        for verify in [None, "NONE"]:
            with self.subTest(verify=verify):
                self.assert_denied("no_certificate", verify=verify)

    @override_settings(REVCHECK_IDENTITY_REQUIRED=False)
    def test_no_certificate_anonymous_when_optional(self):
        response = self.get(verify="NONE")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"")

    def test_chain_rejected(self):
        self.assert_denied("not_one_certificate", certificate=support.DEMO / "chain.pem")

    def test_identity_header_ignored(self):
        # In direct-lookup mode only the certificate counts, never X-Client-Identity.
        with self.assertLogs("revcheck_django", "WARNING"):
            response = self.client.get("/", HTTP_X_CLIENT_IDENTITY=self.good_fingerprint)

        self.assertEqual(response.status_code, 403)

    async def test_good_certificate_logs_in_async(self):
        response = await self.async_client.get(
            "/",
            headers={
                "X-SSL-Client-Cert": support.nginx_escaped(GOOD),
                "X-SSL-Client-Verify": "SUCCESS",
            },
        )

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"good-user")


class CacheTests(DirectLookupTestCase):
    def good_status_timeouts(self):
        return [timeout for _key, value, timeout in RECORDED_SETS if value == "good"]

    @override_settings(REVCHECK_CACHE_MAX_AGE=30 * DAY_SECONDS)
    def test_lifetime_bounded_by_next_update(self):
        seconds_to_next_update = support.openssl_next_update(self.issuing_crl) - time.time()

        self.get(GOOD)

        [timeout] = self.good_status_timeouts()
        self.assertGreater(timeout, 0)
        self.assertLessEqual(timeout, seconds_to_next_update)

    @override_settings(REVCHECK_CACHE_MAX_AGE=60)
    def test_lifetime_bounded_by_max_age(self):
        self.get(GOOD)

        self.assertEqual(self.good_status_timeouts(), [60])

    @override_settings(REVCHECK_CACHE_MAX_AGE=0)
    def test_max_age_zero_disables_cache(self):
        self.get(GOOD)

        self.assertEqual(RECORDED_SETS, [])

    def test_revoked_status_not_cached(self):
        self.assert_denied("revoked", certificate=REVOKED)

        self.assertEqual(RECORDED_SETS, [])


class OwnRevcheckTests(DirectLookupTestCase):
    """Each test runs its own revcheck, or none, so that stopping it affects no other test."""

    def start_own_revcheck(self):
        revcheck = support.Revcheck(self.issuing_crl)
        self.addCleanup(revcheck.stop)
        return revcheck

    def test_stopped_revcheck_rejects(self):
        revcheck = self.start_own_revcheck()
        with override_settings(REVCHECK_URL=revcheck.url, REVCHECK_CACHE_MAX_AGE=0):
            self.assertEqual(self.get(GOOD).status_code, 200)
            revcheck.stop()

            log = self.assert_denied("revcheck_unavailable", certificate=GOOD)

        self.assertIn(LOOKUP_FAILED_LOG, log)

    def test_cached_good_status_outlives_stop(self):
        # A good status is reused until its cache entry expires (at most nextUpdate and
        # REVCHECK_CACHE_MAX_AGE), also while revcheck is down.
        revcheck = self.start_own_revcheck()
        with override_settings(REVCHECK_URL=revcheck.url, REVCHECK_CACHE_MAX_AGE=300):
            self.assertEqual(self.get(GOOD).status_code, 200)
            revcheck.stop()

            response = self.get(GOOD)

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"good-user")

    def test_silent_revcheck_times_out(self):
        # A socket that accepts connections into its backlog but never responds.
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host, port = silent.getsockname()

        with override_settings(REVCHECK_URL=f"http://{host}:{port}", REVCHECK_TIMEOUT=0.5):
            log = self.assert_denied("revcheck_unavailable", certificate=GOOD)

        self.assertIn("timed out", log)
        self.assertIn(LOOKUP_FAILED_LOG, log)

    def test_wrong_path_rejected(self):
        # revcheck answers 404 for an unknown path, for example a REVCHECK_URL with a prefix
        # that no proxy strips.
        with override_settings(REVCHECK_URL=self.revcheck.url + "/prefix"):
            log = self.assert_denied("revcheck_error", certificate=GOOD)

        self.assertIn("HTTP 404 not_found", log)
        self.assertIn(LOOKUP_FAILED_LOG, log)

    def test_server_error_logged_as_failure(self):
        server = FixedResponseServer(503, b'{"error": "unavailable", "message": "draining"}')
        self.addCleanup(server.stop)

        with override_settings(REVCHECK_URL=server.url):
            log = self.assert_denied("revcheck_error", certificate=GOOD)

        self.assertIn("HTTP 503 unavailable: draining", log)
        self.assertIn(LOOKUP_FAILED_LOG, log)

    def test_non_json_response_logged_as_failure(self):
        server = FixedResponseServer(200, b"<html>not revcheck</html>")
        self.addCleanup(server.stop)

        with override_settings(REVCHECK_URL=server.url):
            log = self.assert_denied("revcheck_invalid_response", certificate=GOOD)

        self.assertIn("the response is not JSON", log)
        self.assertIn(LOOKUP_FAILED_LOG, log)

    def test_unconfigured_root_not_required(self):
        # With only the issuing CA configured, revcheck reports the issuing CA certificate as
        # unknown (issuer_not_configured). GET /v1/auth treats that certificate as a trust
        # anchor, and so does the middleware.
        revcheck = support.Revcheck(self.issuing_crl, root_crl=None)
        self.addCleanup(revcheck.stop)

        with override_settings(REVCHECK_URL=revcheck.url):
            response = self.get(GOOD)

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"good-user")

    def test_revoked_issuing_ca_rejected(self):
        root_crl = self.crls.generate("root-revokes-issuing.crl.pem", "root-ca", ["02"], hours=2)
        revcheck = support.Revcheck(self.issuing_crl, root_crl=root_crl)
        self.addCleanup(revcheck.stop)

        with override_settings(REVCHECK_URL=revcheck.url):
            self.assert_denied("ca_revoked", certificate=GOOD)
