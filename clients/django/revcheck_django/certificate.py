"""Decode the client certificate that nginx forwards, and compute its SHA-256 fingerprint."""

import base64
import binascii
import hashlib
import re
import urllib.parse

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


class CertificateHeaderError(ValueError):
    """The certificate header does not hold exactly one PEM certificate.

    ``reason`` is one of revcheck's ``X-Revcheck-Reason`` codes:
    ``malformed_certificate_header`` or ``not_one_certificate``.
    """

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def decode_nginx_escaped(value):
    """Decode nginx ``$ssl_client_escaped_cert`` (a URL-escaped PEM) into the DER bytes.

    ``%XX`` escapes are decoded as RFC 3986 describes, so ``+`` stays a plus, as base64 needs.
    Anything besides one ``CERTIFICATE`` block and whitespace is rejected.
    """
    pem = urllib.parse.unquote_to_bytes(value.strip())
    blocks = _PEM_BLOCK.findall(pem)
    if len(blocks) != 1:
        raise CertificateHeaderError(
            "not_one_certificate",
            f"the certificate header holds {len(blocks)} PEM blocks; exactly one is accepted",
        )
    label, body = blocks[0]
    if label != b"CERTIFICATE":
        raise CertificateHeaderError(
            "malformed_certificate_header",
            f"the PEM block is labelled {label.decode('ascii')!r}, not 'CERTIFICATE'",
        )
    if _PEM_BLOCK.sub(b"", pem).strip():
        raise CertificateHeaderError(
            "malformed_certificate_header",
            "the certificate header has text outside the PEM block",
        )

    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as error:
        raise CertificateHeaderError(
            "malformed_certificate_header", f"the PEM body is not valid base64 ({error})"
        ) from None
    _check_der_sequence(der)
    return der


def _check_der_sequence(der):
    """Check that ``der`` is one DER SEQUENCE with nothing after it.

    revcheck parses the certificate itself. This check only makes sure that the bytes that are
    hashed for the fingerprint are exactly one encoded structure.
    """
    malformed = CertificateHeaderError(
        "malformed_certificate_header", "the PEM body is not one DER SEQUENCE"
    )
    if len(der) < 2 or der[0] != 0x30:
        raise malformed
    first_length_octet = der[1]
    if first_length_octet < 0x80:
        header_length, content_length = 2, first_length_octet
    else:
        # Long form (X.690 section 8.1.3.5): the low 7 bits count the length octets.
        octet_count = first_length_octet & 0x7F
        if octet_count == 0 or octet_count > 4 or len(der) < 2 + octet_count:
            raise malformed
        header_length = 2 + octet_count
        content_length = int.from_bytes(der[2:header_length], "big")
    if header_length + content_length != len(der):
        raise malformed


def sha256_fingerprint(der):
    """Return the lowercase hex SHA-256 of the DER, as revcheck's ``X-Client-Cert-Fingerprint``."""
    return hashlib.sha256(der).hexdigest()
