"""System checks (``manage.py check``) for settings that let a client pass as another user.

- revcheck.E001: the identity is read from a verification-status header, whose value is the
  same for every verified client.
- revcheck.E002: RemoteUserMiddleware runs after RevcheckMiddleware and can replace its user.
- revcheck.E003: a REVCHECK_* header name contains underscores.
- revcheck.E004: SECURE_PROXY_SSL_HEADER names a header that the proxy does not overwrite.
- revcheck.E005: RevcheckMiddleware is missing from MIDDLEWARE.
- revcheck.E006: AuthenticationMiddleware is missing or runs after RevcheckMiddleware.
- revcheck.E007: RevcheckBackend is missing from AUTHENTICATION_BACKENDS.
- revcheck.E008: USE_X_FORWARDED_HOST or USE_X_FORWARDED_PORT trusts a header that the proxy
  does not overwrite.
- revcheck.E009: a REVCHECK_* setting has an invalid value.
- revcheck.E010: the middleware reads a header that the proxy does not overwrite.
"""

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware, RemoteUserMiddleware
from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string

from .backends import RevcheckBackend
from .conf import DEFAULTS, MODE_DIRECT, get_setting, read_settings
from .middleware import RevcheckMiddleware

MIDDLEWARE_PATH = "revcheck_django.middleware.RevcheckMiddleware"
BACKEND_PATH = "revcheck_django.backends.RevcheckBackend"

# Headers whose value reports whether or how a certificate was verified. Every verified client
# sends the same value, so a user named by one of them is every client's user. Any other name
# that contains VERIF (VERIFY, VERIFIED, VERIFICATION) counts too.
VERIFICATION_STATUS_HEADERS = frozenset(
    {
        "X_SSL_CLIENT_VERIFY",
        "X_CLIENT_VERIFY",
        "SSL_CLIENT_VERIFY",
        "X_REVOCATION_STATUS",
        "X_REVCHECK_REASON",
        "X_REVCHECK_CA",
    }
)


def _header_key(name):
    """Return ``name``, given as a header name or a request.META key, in one comparable form."""
    return name.upper().replace("-", "_").removeprefix("HTTP_")


def is_verification_status_header(name):
    key = _header_key(name)
    return key in VERIFICATION_STATUS_HEADERS or "VERIF" in key


def _middleware_classes():
    """Return ``(index, path, class)`` for each MIDDLEWARE entry that imports."""
    entries = []
    for index, path in enumerate(settings.MIDDLEWARE):
        try:
            middleware_class = import_string(path)
        except ImportError:
            # Django itself reports a middleware that does not import when it starts.
            continue
        if isinstance(middleware_class, type):
            entries.append((index, path, middleware_class))
    return entries


def _first_index(entries, base_class):
    for index, _path, middleware_class in entries:
        if issubclass(middleware_class, base_class):
            return index
    return None


@register(Tags.security)
def check_identity_header(app_configs, **kwargs):
    """revcheck.E001: an identity read from a verification-status header."""
    sources = []
    identity_header = get_setting("REVCHECK_IDENTITY_HEADER")
    if isinstance(identity_header, str):
        sources.append(("REVCHECK_IDENTITY_HEADER", identity_header))
    remote_user_header = getattr(settings, "REMOTE_USER_HEADER", None)
    if isinstance(remote_user_header, str):
        sources.append(("REMOTE_USER_HEADER", remote_user_header))
    for index, path, middleware_class in _middleware_classes():
        if issubclass(middleware_class, RemoteUserMiddleware):
            sources.append((f"MIDDLEWARE[{index}] ({path}).header", middleware_class.header))

    errors = []
    for source, header in sources:
        if is_verification_status_header(header):
            errors.append(
                Error(
                    f"{source} = {header!r} is a verification-status header. Its value "
                    "(such as SUCCESS) is the same for every verified client, so every client "
                    "would log in as the same user.",
                    hint="Read the identity from the header that carries it, such as "
                    "X-Client-Identity, which nginx copies from revcheck's GET /v1/auth "
                    "answer.",
                    obj=source,
                    id="revcheck.E001",
                )
            )
    return errors


@register(Tags.security)
def check_remote_user_order(app_configs, **kwargs):
    """revcheck.E002: RemoteUserMiddleware after RevcheckMiddleware."""
    entries = _middleware_classes()
    revcheck_index = _first_index(entries, RevcheckMiddleware)
    if revcheck_index is None:
        return []
    errors = []
    for index, path, middleware_class in entries:
        if index > revcheck_index and issubclass(middleware_class, RemoteUserMiddleware):
            errors.append(
                Error(
                    f"MIDDLEWARE[{index}] ({path}) runs after {MIDDLEWARE_PATH} "
                    f"(MIDDLEWARE[{revcheck_index}]), so it can replace the user that the "
                    "client certificate identified.",
                    hint=f"Remove {path}, or move it before {MIDDLEWARE_PATH}.",
                    obj="MIDDLEWARE",
                    id="revcheck.E002",
                )
            )
    return errors


@register(Tags.security)
def check_settings(app_configs, **kwargs):
    """revcheck.E003 and revcheck.E009: invalid REVCHECK_* settings."""
    _loaded, problems = read_settings()
    return [
        Error(problem.message, hint=problem.hint, obj=problem.setting, id=problem.check_id)
        for problem in problems
    ]


def _proxy_set_headers():
    loaded, _problems = read_settings()
    if loaded is None:
        return None
    return loaded.proxy_set_headers


def _describe_proxy_set_headers(proxy_set_headers):
    if not proxy_set_headers:
        return "REVCHECK_PROXY_SET_HEADERS is empty"
    return f"it sets: {', '.join(sorted(proxy_set_headers))}"


@register(Tags.security)
def check_secure_proxy_ssl_header(app_configs, **kwargs):
    """revcheck.E004: SECURE_PROXY_SSL_HEADER trusting a header that the proxy does not set."""
    value = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    proxy_set_headers = _proxy_set_headers()
    if value is None or proxy_set_headers is None:
        return []
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not isinstance(value[0], str):
        # Django raises ImproperlyConfigured for this value on the first request.
        return []
    key = value[0]
    if not key.startswith("HTTP_"):
        # Not a request header: the server sets this variable, a client cannot.
        return []
    header = key.removeprefix("HTTP_").replace("_", "-")
    if header.lower() in proxy_set_headers:
        return []
    return [
        Error(
            f"SECURE_PROXY_SSL_HEADER = {tuple(value)!r} trusts the header {header}, which the "
            f"proxy does not overwrite ({_describe_proxy_set_headers(proxy_set_headers)}). A "
            "client could send it over plain HTTP and make request.is_secure() true.",
            hint="Use ('HTTP_X_FORWARDED_PROTO', 'https') with nginx's "
            "'proxy_set_header X-Forwarded-Proto $scheme;', or list the headers that your "
            "proxy overwrites in REVCHECK_PROXY_SET_HEADERS.",
            obj="SECURE_PROXY_SSL_HEADER",
            id="revcheck.E004",
        )
    ]


@register(Tags.security)
def check_middleware_present(app_configs, **kwargs):
    """revcheck.E005 and revcheck.E006: the middleware missing, or placed before
    AuthenticationMiddleware."""
    entries = _middleware_classes()
    revcheck_index = _first_index(entries, RevcheckMiddleware)
    if revcheck_index is None:
        return [
            Error(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE, so no request is authenticated "
                "from its client certificate.",
                hint=f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE right after "
                "'django.contrib.auth.middleware.AuthenticationMiddleware'.",
                obj="MIDDLEWARE",
                id="revcheck.E005",
            )
        ]
    authentication_index = _first_index(entries, AuthenticationMiddleware)
    if authentication_index is None or authentication_index > revcheck_index:
        return [
            Error(
                f"{MIDDLEWARE_PATH} needs django.contrib.auth.middleware."
                "AuthenticationMiddleware before it in MIDDLEWARE.",
                hint="Add or move 'django.contrib.auth.middleware.AuthenticationMiddleware' "
                f"before {MIDDLEWARE_PATH!r}.",
                obj="MIDDLEWARE",
                id="revcheck.E006",
            )
        ]
    return []


@register(Tags.security)
def check_backend_present(app_configs, **kwargs):
    """revcheck.E007: the backend missing from AUTHENTICATION_BACKENDS."""
    for path in settings.AUTHENTICATION_BACKENDS:
        try:
            backend_class = import_string(path)
        except ImportError:
            continue
        if isinstance(backend_class, type) and issubclass(backend_class, RevcheckBackend):
            return []
    return [
        Error(
            f"{BACKEND_PATH} is not in AUTHENTICATION_BACKENDS, so no identity can be mapped "
            "to a user and every request with one is rejected.",
            hint=f"Add {BACKEND_PATH!r} to AUTHENTICATION_BACKENDS.",
            obj="AUTHENTICATION_BACKENDS",
            id="revcheck.E007",
        )
    ]


@register(Tags.security)
def check_forwarded_host(app_configs, **kwargs):
    """revcheck.E008: USE_X_FORWARDED_HOST or _PORT trusting a header the proxy does not set."""
    proxy_set_headers = _proxy_set_headers()
    if proxy_set_headers is None:
        return []
    errors = []
    for setting, header in (
        ("USE_X_FORWARDED_HOST", "X-Forwarded-Host"),
        ("USE_X_FORWARDED_PORT", "X-Forwarded-Port"),
    ):
        if getattr(settings, setting, False) and header.lower() not in proxy_set_headers:
            errors.append(
                Error(
                    f"{setting} is True, but the proxy does not overwrite {header}, so a "
                    "client can choose the host name or port that Django builds absolute "
                    "URLs from, such as the links in password reset mails.",
                    hint=f"Set {setting} = False, or make the proxy set {header} and add it "
                    "to REVCHECK_PROXY_SET_HEADERS.",
                    obj=setting,
                    id="revcheck.E008",
                )
            )
    return errors


# The attack that a client's own value of a header opens, keyed by the setting that names a
# header the middleware reads.
_FORGED_HEADER_RISKS = {
    "REVCHECK_IDENTITY_HEADER": "send any identity in it and log in as that user",
    "REVCHECK_CERTIFICATE_HEADER": "send another user's certificate, which is not secret, and "
    "log in as that user",
    "REVCHECK_VERIFY_HEADER": "send SUCCESS in it for a certificate that the proxy did not "
    "verify",
}


@register(Tags.security)
def check_read_headers_set_by_proxy(app_configs, **kwargs):
    """revcheck.E010: the middleware reads a header that the proxy does not overwrite."""
    loaded, _problems = read_settings()
    if loaded is None:
        # check_settings reports the invalid settings.
        return []
    if loaded.mode == MODE_DIRECT:
        read_headers = [
            ("REVCHECK_CERTIFICATE_HEADER", loaded.certificate_header),
            ("REVCHECK_VERIFY_HEADER", loaded.verify_header),
        ]
    else:
        read_headers = [("REVCHECK_IDENTITY_HEADER", loaded.identity_header)]

    errors = []
    for setting, header in read_headers:
        if header.lower() in loaded.proxy_set_headers:
            continue
        if header.lower() == DEFAULTS[setting].lower():
            hint = f"Make the proxy set {header} and add it to REVCHECK_PROXY_SET_HEADERS."
        else:
            hint = (
                f"Set {setting} to a header that the proxy sets on every request, such as "
                f"the default {DEFAULTS[setting]!r}, or make the proxy set {header} and add it "
                "to REVCHECK_PROXY_SET_HEADERS."
            )
        errors.append(
            Error(
                f"{setting} = {header!r} names a header that the proxy does not overwrite "
                f"({_describe_proxy_set_headers(loaded.proxy_set_headers)}), so a client could "
                f"{_FORGED_HEADER_RISKS[setting]}.",
                hint=hint,
                obj=setting,
                id="revcheck.E010",
            )
        )
    return errors
