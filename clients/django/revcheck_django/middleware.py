"""Middleware that logs in the user whose client certificate nginx and revcheck identified.

In ``auth_request`` mode nginx sends a subrequest to revcheck's ``GET /v1/auth`` and forwards
the identity from its response in ``REVCHECK_IDENTITY_HEADER``. In ``direct`` mode nginx
forwards the certificate, and this middleware sends it to revcheck's ``POST /v1/status`` and
uses the certificate's SHA-256 fingerprint as the identity. Either way ``RevcheckBackend``
then maps the identity to a user.
"""

import logging
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib import auth
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.utils.module_loading import import_string

from .backends import RevcheckBackend
from .certificate import CertificateHeaderError, decode_nginx_escaped, sha256_fingerprint
from .conf import MODE_DIRECT, load_settings
from .lookup import RevcheckClient

logger = logging.getLogger("revcheck_django")


@dataclass(frozen=True)
class Identified:
    """An identity to map to a user. ``fingerprint`` is set in direct-lookup mode."""

    identity: str
    fingerprint: str = ""


@dataclass(frozen=True)
class Missing:
    """The request carries no identity and no certificate."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """The request carries an identity or certificate that must not log anyone in."""

    reason: str
    detail: str
    fingerprint: str = ""


class RevcheckMiddleware:
    """Middleware that authenticates each request from its client certificate identity, or
    rejects it with 403.

    Place it after ``AuthenticationMiddleware``. Compared with Django's RemoteUserMiddleware:

    - a user of a session that this middleware logged in is logged out as soon as a request
      arrives without the identity or with a rejected one;
    - a request whose identity maps to another user than the session's logs the session's
      user out first, whichever backend logged that user in;
    - an identity that maps to no user is rejected with 403 instead of continuing with the
      session's user.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        if get_response is None:
            raise ValueError("get_response must be provided.")
        self.get_response = get_response
        self.settings = load_settings()
        self.client = None
        if self.settings.mode == MODE_DIRECT:
            self.client = RevcheckClient(
                url=self.settings.url,
                timeout=self.settings.timeout,
                cache_alias=self.settings.cache_alias,
                cache_max_age=self.settings.cache_max_age,
            )
        if self.client is None:
            read_headers = (self.settings.identity_header,)
        else:
            read_headers = (self.settings.certificate_header, self.settings.verify_header)
        self.read_headers = frozenset(name.lower() for name in read_headers)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        _require_authentication_middleware(request)
        outcome = self.identify(request)
        self.authenticate_request(request, outcome)
        return self.get_response(request)

    async def __acall__(self, request):
        _require_authentication_middleware(request)
        if self.client is None:
            outcome = self.identify(request)
        else:
            # The lookup blocks on the network and on the cache, so it runs in a thread.
            outcome = await sync_to_async(self.identify, thread_sensitive=False)(request)
        await self.aauthenticate_request(request, outcome)
        return await self.get_response(request)

    def identify(self, request):
        """Read the identity of the request: ``Identified``, ``Missing`` or ``Rejected``."""
        spoofed = self._underscore_variant(request)
        if spoofed:
            return Rejected(
                "underscore_header",
                f"the request has a header {spoofed!r}, which differs from a header that "
                "this middleware reads only by underscores",
            )
        if self.client is None:
            return self._identity_from_header(request)
        return self._identity_from_certificate(request)

    def _underscore_variant(self, request):
        """Return the name of a raw header that is an underscore variant of one this middleware
        reads, or an empty string.

        Only ASGI requests keep the raw header names (in ``request.scope``). Django drops
        headers with underscores there since 5.2.13, 6.0.4 and 6.1.1; older releases stored
        them under the same request.META key as the dashed name. Under WSGI the server handles them
        before Django receives the request: Django's runserver and gunicorn since 22.0 (with
        its default ``header_map = "drop"``) drop them.
        """
        scope = getattr(request, "scope", None)
        if not isinstance(scope, dict):
            return ""
        for raw_name, _value in scope.get("headers", ()):
            name = raw_name.decode("latin-1").lower()
            if "_" in name and name.replace("_", "-") in self.read_headers:
                return name
        return ""

    def _identity_from_header(self, request):
        identity = request.META.get(self.settings.identity_meta_key, "")
        if identity == "":
            return Missing("identity_missing")
        problem = _identity_problem(identity)
        if problem:
            return Rejected("identity_invalid", f"the identity {identity!r} {problem}")
        return Identified(identity)

    def _identity_from_certificate(self, request):
        certificate = request.META.get(self.settings.certificate_meta_key, "").strip()
        verification = request.META.get(self.settings.verify_meta_key, "").strip()
        if not certificate:
            if verification in ("", "NONE"):
                return Missing("no_certificate")
            return Rejected(
                "proxy_verification_failed",
                f"{self.settings.verify_header} is {verification[:80]!r} but "
                f"{self.settings.certificate_header} is empty or missing",
            )
        # nginx writes SUCCESS, NONE or FAILED:reason. Only SUCCESS means that nginx verified
        # the certificate, including its validity period, against its ssl_client_certificate
        # CAs. This mode relies on that check and adds revcheck's revocation status.
        if verification != "SUCCESS":
            return Rejected(
                "proxy_verification_failed",
                f"{self.settings.verify_header} is {verification[:80]!r}, not 'SUCCESS'",
            )

        try:
            der = decode_nginx_escaped(certificate)
        except CertificateHeaderError as error:
            return Rejected(error.reason, str(error))
        fingerprint = sha256_fingerprint(der)
        verdict = self.client.check(der, fingerprint)
        if not verdict.good:
            return Rejected(verdict.reason, verdict.detail, fingerprint)
        return Identified(fingerprint, fingerprint)

    def authenticate_request(self, request, outcome):
        """Log the identified user in, log out a user who no longer matches, or raise 403."""
        current_user = request.user
        if not isinstance(outcome, Identified):
            self._end_revcheck_session(request, current_user)
            self._reject_unless_allowed(request, outcome)
            return

        user = auth.authenticate(request, revcheck_identity=outcome.identity)
        if user is None or not _is_revcheck_backend(user.backend):
            self._end_revcheck_session(request, current_user)
            self._deny(request, _unmapped(outcome))

        if current_user.is_authenticated and current_user.pk == user.pk:
            return
        if current_user.is_authenticated:
            auth.logout(request)
        auth.login(request, user)

    async def aauthenticate_request(self, request, outcome):
        """Log the identified user in, as ``authenticate_request`` does, with Django's async
        authentication API."""
        current_user = await request.auser()
        if not isinstance(outcome, Identified):
            await self._aend_revcheck_session(request, current_user)
            self._reject_unless_allowed(request, outcome)
            return

        user = await auth.aauthenticate(request, revcheck_identity=outcome.identity)
        if user is None or not _is_revcheck_backend(user.backend):
            await self._aend_revcheck_session(request, current_user)
            self._deny(request, _unmapped(outcome))

        if current_user.is_authenticated and current_user.pk == user.pk:
            return
        if current_user.is_authenticated:
            await auth.alogout(request)
        await auth.alogin(request, user)
        _replace_auser(request)

    def _end_revcheck_session(self, request, current_user):
        """Log out the session's user if this middleware logged them in.

        A user who logged in some other way, with a password for example, stays logged in.
        """
        if current_user.is_authenticated and _session_belongs_to_revcheck(
            request.session.get(auth.BACKEND_SESSION_KEY, "")
        ):
            auth.logout(request)

    async def _aend_revcheck_session(self, request, current_user):
        if current_user.is_authenticated and _session_belongs_to_revcheck(
            await request.session.aget(auth.BACKEND_SESSION_KEY, "")
        ):
            await auth.alogout(request)
            _replace_auser(request)

    def _reject_unless_allowed(self, request, outcome):
        if isinstance(outcome, Rejected):
            self._deny(request, outcome)
        if self.settings.identity_required:
            if self.client is None:
                detail = f"the request has no {self.settings.identity_header} header"
            else:
                detail = "the request has no client certificate"
            self._deny(request, Rejected(outcome.reason, detail))

    def _deny(self, request, rejection):
        logger.warning(
            "client certificate login denied: reason=%s fingerprint=%s path=%s detail=%s",
            rejection.reason,
            rejection.fingerprint or "-",
            request.path,
            rejection.detail,
        )
        raise PermissionDenied(f"Client certificate login denied ({rejection.reason}).")


def _require_authentication_middleware(request):
    if not hasattr(request, "user"):
        raise ImproperlyConfigured(
            "RevcheckMiddleware needs django.contrib.auth.middleware.AuthenticationMiddleware. "
            "Add it to MIDDLEWARE before revcheck_django.middleware.RevcheckMiddleware."
        )


def _replace_auser(request):
    """Make ``request.auser()`` return ``request.user`` after a login or logout.

    AuthenticationMiddleware's ``auser()`` caches the first user it loads, and Django 5.2's
    ``alogin()`` and ``alogout()`` replace only ``request.user`` (6.1 replaces ``auser`` too).
    Without this, an async view would get the user from before the login or logout.
    """
    user = request.user

    async def auser():
        return user

    request.auser = auser


def _identity_problem(identity):
    """Return why an identity value cannot be used, or an empty string."""
    # WSGI and ASGI servers join repeated headers with a comma, so a comma can mean that a
    # client's own header was joined to the proxy's.
    if "," in identity:
        return "contains a comma, as a header repeated by the client would"
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in identity):
        return "contains a control character"
    return ""


def _unmapped(outcome):
    return Rejected(
        "identity_unmapped",
        f"the identity {outcome.identity!r} maps to no active user, or to several",
        outcome.fingerprint,
    )


def _is_revcheck_backend(backend_path):
    """Tell whether ``backend_path`` names RevcheckBackend or a subclass of it."""
    try:
        backend_class = import_string(backend_path)
    except ImportError:
        return False
    return isinstance(backend_class, type) and issubclass(backend_class, RevcheckBackend)


def _session_belongs_to_revcheck(backend_path):
    """Tell whether a session's backend is RevcheckBackend.

    A backend path that no longer imports counts as revcheck's, so that its session ends, as
    Django's RemoteUserMiddleware does.
    """
    try:
        import_string(backend_path)
    except ImportError:
        return True
    return _is_revcheck_backend(backend_path)
