"""Revocation status lookups against revcheck's ``POST /v1/status``, for direct-lookup mode.

Only a ``good`` status lets a certificate through. Every other outcome (``revoked``,
``unknown``, an error status, a timeout, an unreadable body) is a denial, and only ``good``
statuses are cached.
"""

import datetime
import http.client
import json
import logging
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.core.cache import caches

logger = logging.getLogger("revcheck_django")

# revcheck's status responses are a few kilobytes. A larger body is not revcheck's.
MAX_RESPONSE_BYTES = 1 << 20

_CACHE_KEY_PREFIX = "revcheck_django:status:"
_CACHED_GOOD = "good"


@dataclass(frozen=True)
class Verdict:
    """The outcome of a lookup. ``reason`` is ``ok`` for a good certificate, else a denial code."""

    good: bool
    reason: str
    detail: str = ""


class RevcheckClient:
    """Client of revcheck's POST /v1/status that caches ``good`` statuses."""

    def __init__(self, url, timeout, cache_alias, cache_max_age):
        self.endpoint = url + "/v1/status"
        self.timeout = timeout
        self.cache_alias = cache_alias
        self.cache_max_age = cache_max_age
        # revcheck runs beside the application, so HTTP_PROXY and similar variables, which
        # urllib reads by default, must not send the certificate through another host.
        # A redirect is not followed either: the certificate goes to REVCHECK_URL only.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _RejectRedirects()
        )

    def check(self, der, fingerprint):
        """Return the verdict for the certificate ``der``, from the cache or from revcheck."""
        cache = caches[self.cache_alias]
        key = _CACHE_KEY_PREFIX + fingerprint
        if self.cache_max_age > 0 and cache.get(key) == _CACHED_GOOD:
            return Verdict(True, "ok", "cached good status")

        try:
            status_response = self._post(der)
        except IssuerUnknown as rejection:
            # revcheck decided, so this is a denial and not a failed lookup. The middleware
            # logs the denial at WARNING.
            return Verdict(False, "unknown_issuer", rejection.detail)
        except LookupFailed as failure:
            logger.error(
                "revcheck lookup failed, so the certificate is denied: fingerprint=%s "
                "endpoint=%s reason=%s detail=%s",
                fingerprint,
                self.endpoint,
                failure.reason,
                failure.detail,
            )
            return Verdict(False, failure.reason, failure.detail)

        verdict, expires_at = evaluate_status(status_response)
        if verdict.good and self.cache_max_age > 0:
            timeout = cache_timeout(expires_at, now(), self.cache_max_age)
            if timeout > 0:
                cache.set(key, _CACHED_GOOD, timeout)
        return verdict

    def _post(self, der):
        pem = ssl.DER_cert_to_PEM_cert(der)
        request = urllib.request.Request(
            self.endpoint,
            data=json.dumps({"certificate": pem}).encode("ascii"),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as error:
            reason, detail = _describe_error_status(error)
            if reason == "unknown_issuer":
                raise IssuerUnknown(detail) from None
            raise LookupFailed(reason, detail) from None
        except (OSError, http.client.HTTPException) as error:
            # URLError, timeouts and refused or reset connections are all OSError.
            raise LookupFailed("revcheck_unavailable", f"{type(error).__name__}: {error}") from None

        if len(body) > MAX_RESPONSE_BYTES:
            raise LookupFailed(
                "revcheck_invalid_response",
                f"the response is larger than {MAX_RESPONSE_BYTES} bytes",
            )
        try:
            status_response = json.loads(body)
        except ValueError as error:
            raise LookupFailed(
                "revcheck_invalid_response", f"the response is not JSON ({error})"
            ) from None
        if not isinstance(status_response, dict):
            raise LookupFailed("revcheck_invalid_response", "the response is not a JSON object")
        return status_response


class _RejectRedirects(urllib.request.HTTPRedirectHandler):
    """Turns every redirect into an ``HTTPError`` with the 3xx status."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class LookupFailed(Exception):
    """The request to revcheck failed, or its response could not be read."""

    def __init__(self, reason, detail):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class IssuerUnknown(Exception):
    """revcheck responded with 422 ``unknown_issuer``: no configured CA issued the certificate."""

    def __init__(self, detail):
        super().__init__(f"unknown_issuer: {detail}")
        self.detail = detail


def _describe_error_status(error):
    """Return the denial reason and detail for an error status from revcheck."""
    try:
        body = json.loads(error.read(MAX_RESPONSE_BYTES))
        code = body.get("error", "")
        message = body.get("message", "")
    except (OSError, ValueError, AttributeError):
        code, message = "", ""
    finally:
        error.close()
    # 422 unknown_issuer: no configured CA issued the certificate. Keep revcheck's code, as
    # its GET /v1/auth does.
    if error.code == 422 and code == "unknown_issuer":
        return "unknown_issuer", message
    return "revcheck_error", f"HTTP {error.code} {code}: {message}".strip()


def evaluate_status(status_response):
    """Decide whether a status response lets the certificate through.

    Returns the verdict and, for a good certificate, the earliest ``next_update`` of the
    certificate and of the CA certificates above it, after which the response must not be used.
    As in revcheck's GET /v1/auth, a CA certificate that no configured CA issued (``ca`` is
    empty) is a trust anchor of revcheck's configuration, and its status is not required.
    """
    status = status_response.get("status")
    if status != "good":
        reason = "revoked" if status == "revoked" else "undetermined"
        detail = f"status {status!r}, reason {status_response.get('reason')!r}"
        return Verdict(False, reason, detail), None

    intermediates = status_response.get("intermediates", [])
    if not isinstance(intermediates, list) or not all(
        isinstance(intermediate, dict) for intermediate in intermediates
    ):
        return Verdict(
            False, "revcheck_invalid_response", "intermediates is not a list of objects"
        ), None
    checked = [intermediate for intermediate in intermediates if intermediate.get("ca")]
    for intermediate in checked:
        intermediate_status = intermediate.get("status")
        if intermediate_status != "good":
            reason = "ca_revoked" if intermediate_status == "revoked" else "undetermined"
            detail = (
                f"CA certificate {intermediate.get('subject')!r} has status {intermediate_status!r}"
            )
            return Verdict(False, reason, detail), None

    try:
        expires_at = min(
            parse_time(entry.get("next_update")) for entry in [status_response, *checked]
        )
    except ValueError as error:
        return Verdict(False, "revcheck_invalid_response", str(error)), None
    return Verdict(True, "ok"), expires_at


def parse_time(value):
    """Parse an RFC 3339 time in UTC, as revcheck writes it (``2199-12-31T23:59:59Z``)."""
    if not isinstance(value, str):
        raise ValueError(f"next_update {value!r} is not an RFC 3339 time")
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"next_update {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"next_update {value!r} has no time zone")
    return parsed


def cache_timeout(expires_at, current_time, max_age):
    """Return how many whole seconds a good status may stay cached: until ``expires_at``, at
    most ``max_age``. Rounds down, so the entry never outlives ``expires_at``."""
    remaining = int((expires_at - current_time).total_seconds())
    return max(0, min(remaining, max_age))


def now():
    return datetime.datetime.now(datetime.timezone.utc)
