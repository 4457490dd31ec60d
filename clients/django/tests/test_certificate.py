"""Decoding nginx's escaped certificate header; fingerprints compared with openssl's."""

import base64
import urllib.parse

from django.test import SimpleTestCase

from revcheck_django.certificate import (
    CertificateHeaderError,
    decode_nginx_escaped,
    sha256_fingerprint,
)
from revcheck_django.lookup import cache_timeout, parse_time
from tests import support

GOOD = support.DEMO / "good-client.pem"
REVOKED = support.DEMO / "revoked-client.pem"


class DecodeTests(SimpleTestCase):
    def assert_rejected(self, header, reason):
        with self.assertRaises(CertificateHeaderError) as caught:
            decode_nginx_escaped(header)
        self.assertEqual(caught.exception.reason, reason, str(caught.exception))

    def test_fingerprint_matches_openssl(self):
        for path in [GOOD, REVOKED, support.DEMO / "issuing-ca.pem"]:
            with self.subTest(path=path.name):
                der = decode_nginx_escaped(support.nginx_escaped(path))
                self.assertEqual(sha256_fingerprint(der), support.openssl_fingerprint(path))

    def test_literal_plus_stays_plus(self):
        # nginx escapes "+" as %2B, but a literal "+" must still mean "+" (RFC 3986), not a
        # space as in HTML form encoding, or the DER would change.
        pem = GOOD.read_text()
        self.assertIn("+", pem)
        header = urllib.parse.quote(pem, safe="-+/=")

        der = decode_nginx_escaped(header)

        self.assertEqual(sha256_fingerprint(der), support.openssl_fingerprint(GOOD))

    def test_chain_rejected(self):
        self.assert_rejected(
            support.nginx_escaped(support.DEMO / "chain.pem"), "not_one_certificate"
        )

    def test_empty_and_garbage_rejected(self):
        for header in ["garbage", "%2D%2D%2D%2D%2D"]:
            with self.subTest(header=header):
                self.assert_rejected(header, "not_one_certificate")

    def test_private_key_rejected(self):
        self.assert_rejected(
            support.nginx_escaped(support.DEMO / "good-client.key"), "malformed_certificate_header"
        )

    def test_text_outside_block_rejected(self):
        header = support.nginx_escaped(GOOD) + "trailing"
        self.assert_rejected(header, "malformed_certificate_header")

    def test_invalid_base64_rejected(self):
        pem = GOOD.read_text().replace("M", "*", 1)
        self.assert_rejected(urllib.parse.quote(pem, safe="-"), "malformed_certificate_header")

    def test_body_not_one_der_sequence_rejected(self):
        der = base64.b64decode("".join(GOOD.read_text().splitlines()[1:-1]))
        for body in [b"hello", der + b"\x00", der[:-1]]:
            with self.subTest(length=len(body)):
                encoded = base64.encodebytes(body).decode("ascii")
                pem = f"-----BEGIN CERTIFICATE-----\n{encoded}-----END CERTIFICATE-----\n"
                self.assert_rejected(
                    urllib.parse.quote(pem, safe="-"), "malformed_certificate_header"
                )


class CacheTimeoutTests(SimpleTestCase):
    def test_bounded_by_next_update(self):
        now = parse_time("2026-01-01T00:00:00Z")
        next_update = parse_time("2026-01-01T00:01:40Z")

        self.assertEqual(cache_timeout(next_update, now, 300), 100)

    def test_bounded_by_max_age(self):
        now = parse_time("2026-01-01T00:00:00Z")
        next_update = parse_time("2199-12-31T23:59:59Z")

        self.assertEqual(cache_timeout(next_update, now, 300), 300)

    def test_rounds_down(self):
        now = parse_time("2026-01-01T00:00:00.900000Z")
        next_update = parse_time("2026-01-01T00:00:02Z")

        self.assertEqual(cache_timeout(next_update, now, 300), 1)

    def test_past_next_update_not_cached(self):
        now = parse_time("2026-01-01T00:00:00Z")
        next_update = parse_time("2025-12-31T23:59:00Z")

        self.assertEqual(cache_timeout(next_update, now, 300), 0)

    def test_time_without_zone_rejected(self):
        with self.assertRaisesMessage(ValueError, "has no time zone"):
            parse_time("2026-01-01T00:00:00")
