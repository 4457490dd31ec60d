"""Read and validate the ``REVCHECK_*`` settings.

The middleware loads the settings when Django builds it, and the backend at each
authentication. Both raise ``ImproperlyConfigured`` on a bad value. The system checks run the
same validation and report each problem with its own check id.
"""

import re
import urllib.parse
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured

MODE_AUTH_REQUEST = "auth_request"
MODE_DIRECT = "direct"
MODES = (MODE_AUTH_REQUEST, MODE_DIRECT)

# Headers that the nginx example (config/nginx/mtls-app.conf with
# snippets/revcheck-identity.conf) sets or removes on every request to the application, so a
# client cannot send its own value. Host is left out, because Django reads it as Host, not
# through a setting. The system checks compare SECURE_PROXY_SSL_HEADER, USE_X_FORWARDED_HOST,
# USE_X_FORWARDED_PORT and the headers that the middleware reads against this list. A project
# whose proxy sets other headers declares them in REVCHECK_PROXY_SET_HEADERS.
# tests/test_checks.py compares the list with the nginx files.
NGINX_EXAMPLE_PROXY_SET_HEADERS = (
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Client-Identity",
    "X-Client-Cert-Fingerprint",
    "X-Client-Cert-Serial",
    "X-Revocation-Status",
    "X-Revcheck-Ca",
    "X-SSL-Client-Verify",
    "X-SSL-Client-Cert",
    "X-Revcheck-Secret",
    "X-Revcheck-Reason",
)

DEFAULTS = {
    "REVCHECK_MODE": MODE_AUTH_REQUEST,
    "REVCHECK_IDENTITY_HEADER": "X-Client-Identity",
    "REVCHECK_IDENTITY_REQUIRED": True,
    "REVCHECK_USER_FIELD": "username",
    "REVCHECK_CREATE_UNKNOWN_USERS": False,
    "REVCHECK_URL": "http://127.0.0.1:8480",
    "REVCHECK_CERTIFICATE_HEADER": "X-SSL-Client-Cert",
    "REVCHECK_VERIFY_HEADER": "X-SSL-Client-Verify",
    "REVCHECK_TIMEOUT": 2.0,
    "REVCHECK_CACHE_MAX_AGE": 300,
    "REVCHECK_CACHE": "default",
    "REVCHECK_PROXY_SET_HEADERS": NGINX_EXAMPLE_PROXY_SET_HEADERS,
}

HEADER_SETTINGS = (
    "REVCHECK_IDENTITY_HEADER",
    "REVCHECK_CERTIFICATE_HEADER",
    "REVCHECK_VERIFY_HEADER",
)

# Check ids, shared with checks.py so that a setting problem and its check agree.
E_UNDERSCORE_HEADER = "revcheck.E003"
E_INVALID_SETTING = "revcheck.E009"

# Letters, digits and dashes. RFC 9110 also allows other token characters, but a name with an
# underscore maps to the same request.META key as the name with a dash, and the other
# characters have no use in a header that a proxy sets.
_HEADER_NAME = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*\Z")


@dataclass(frozen=True)
class SettingProblem:
    """One invalid setting, with the system check id that reports it."""

    check_id: str
    setting: str
    message: str
    hint: str


@dataclass(frozen=True)
class RevcheckSettings:
    """The validated ``REVCHECK_*`` settings."""

    mode: str
    identity_header: str
    identity_required: bool
    user_field: str
    create_unknown_users: bool
    url: str
    certificate_header: str
    verify_header: str
    timeout: float
    cache_max_age: int
    cache_alias: str
    proxy_set_headers: frozenset

    @property
    def identity_meta_key(self):
        return meta_key(self.identity_header)

    @property
    def certificate_meta_key(self):
        return meta_key(self.certificate_header)

    @property
    def verify_meta_key(self):
        return meta_key(self.verify_header)


def meta_key(header_name):
    """Return the ``request.META`` key under which WSGI and ASGI servers store a header."""
    return "HTTP_" + header_name.upper().replace("-", "_")


def get_setting(name):
    return getattr(settings, name, DEFAULTS[name])


def header_name_problem(setting, value):
    """Return the problem with a header name setting, or ``None`` when the name is usable."""
    if not isinstance(value, str):
        return SettingProblem(
            E_INVALID_SETTING,
            setting,
            f"{setting} = {value!r} is not a string.",
            f"Set {setting} to an HTTP header name such as {DEFAULTS.get(setting)!r}.",
        )
    if "_" in value:
        dashed = _dashed_form(value)
        return SettingProblem(
            E_UNDERSCORE_HEADER,
            setting,
            f"{setting} = {value!r} contains underscores. WSGI servers store {dashed} and "
            f"{dashed.replace('-', '_')} under the same request.META key, so a client could "
            "send the underscore form past a proxy that only overwrites the dashed one.",
            f"Name the header with dashes, as the proxy sends it: {dashed!r}.",
        )
    if not _HEADER_NAME.match(value):
        return SettingProblem(
            E_INVALID_SETTING,
            setting,
            f"{setting} = {value!r} is not a valid header name.",
            "Use letters, digits and single dashes, such as 'X-Client-Identity'.",
        )
    return None


def _dashed_form(value):
    """Suggest the dashed header name for a name written with underscores or as a META key."""
    key = value.upper().replace("-", "_").removeprefix("HTTP_")
    for default in DEFAULTS.values():
        if isinstance(default, str) and default.upper().replace("-", "_") == key:
            return default
    return key.replace("_", "-").title()


def user_field_problem(value, create_unknown_users):
    """Return the problem with ``REVCHECK_USER_FIELD``, or ``None`` when the field path is usable.

    The path must end at a concrete field, so that it is compared with ``exact``. A lookup such
    as ``__iexact`` or ``__icontains`` is not a field and is rejected here.
    """
    setting = "REVCHECK_USER_FIELD"
    if not isinstance(value, str) or not value:
        return SettingProblem(
            E_INVALID_SETTING,
            setting,
            f"{setting} = {value!r} is not a field name.",
            "Set it to a field of the user model, such as 'username', or a path through "
            "relations, such as 'profile__certificate_fingerprint'.",
        )

    user_model = get_user_model()
    model = user_model
    parts = value.split("__")
    for index, part in enumerate(parts):
        is_last = index == len(parts) - 1
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return SettingProblem(
                E_INVALID_SETTING,
                setting,
                f"{setting} = {value!r}: {model._meta.label} has no field {part!r}.",
                "Name fields only. Lookups such as __iexact, __icontains or __startswith are "
                "not allowed, because the identity must match the stored value exactly.",
            )
        if field.is_relation and is_last:
            return SettingProblem(
                E_INVALID_SETTING,
                setting,
                f"{setting} = {value!r} ends at the relation {part!r}, not at a value.",
                f"Name the field of {field.related_model._meta.label} that stores the "
                f"identity, such as '{value}__fingerprint'.",
            )
        if not field.is_relation and not is_last:
            return SettingProblem(
                E_INVALID_SETTING,
                setting,
                f"{setting} = {value!r}: {part!r} is not a relation, so nothing can follow it.",
                "Name fields only. Lookups such as __iexact, __icontains or __startswith are "
                "not allowed, because the identity must match the stored value exactly.",
            )
        if field.is_relation:
            model = field.related_model

    if create_unknown_users is True and value != user_model.USERNAME_FIELD:
        return SettingProblem(
            E_INVALID_SETTING,
            "REVCHECK_CREATE_UNKNOWN_USERS",
            f"REVCHECK_CREATE_UNKNOWN_USERS is True but REVCHECK_USER_FIELD = {value!r} is "
            f"not the user model's USERNAME_FIELD ({user_model.USERNAME_FIELD!r}).",
            "Create users only when the identity is the username, or subclass RevcheckBackend "
            "and override create_user_for_identity() to build the related rows.",
        )
    return None


def _check_bool(setting, problems):
    value = get_setting(setting)
    if not isinstance(value, bool):
        problems.append(
            SettingProblem(
                E_INVALID_SETTING,
                setting,
                f"{setting} = {value!r} is not True or False.",
                f"Set {setting} to True or False.",
            )
        )
    return value


def _check_url(problems):
    value = get_setting("REVCHECK_URL")
    parsed = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    if (
        parsed is None
        or parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or parsed.query
        or parsed.fragment
    ):
        problems.append(
            SettingProblem(
                E_INVALID_SETTING,
                "REVCHECK_URL",
                f"REVCHECK_URL = {value!r} is not an http or https URL without query or fragment.",
                "Set it to the base URL of revcheck, such as 'http://127.0.0.1:8480'.",
            )
        )
        return ""
    return value.rstrip("/")


def _check_number(setting, problems, *, integer, allow_zero):
    value = get_setting(setting)
    valid_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not valid_type or value < 0 or (value == 0 and not allow_zero):
        kind = "a whole number of seconds" if integer else "a number of seconds"
        bound = "0 or more" if allow_zero else "greater than 0"
        problems.append(
            SettingProblem(
                E_INVALID_SETTING,
                setting,
                f"{setting} = {value!r} is not {kind}, {bound}.",
                f"Set {setting} to {kind}, such as {DEFAULTS[setting]!r}.",
            )
        )
    return value


def _check_cache_alias(problems):
    value = get_setting("REVCHECK_CACHE")
    if value not in settings.CACHES:
        problems.append(
            SettingProblem(
                E_INVALID_SETTING,
                "REVCHECK_CACHE",
                f"REVCHECK_CACHE = {value!r} is not a key of CACHES.",
                f"Set it to one of {sorted(settings.CACHES)!r}.",
            )
        )
    return value


def _check_proxy_set_headers(problems):
    value = get_setting("REVCHECK_PROXY_SET_HEADERS")
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        problems.append(
            SettingProblem(
                E_INVALID_SETTING,
                "REVCHECK_PROXY_SET_HEADERS",
                f"REVCHECK_PROXY_SET_HEADERS = {value!r} is not a list of header names.",
                "List the headers that your proxy overwrites, such as ['X-Forwarded-Proto'].",
            )
        )
        return frozenset()
    names = []
    for name in value:
        problem = header_name_problem("REVCHECK_PROXY_SET_HEADERS", name)
        if problem is not None:
            problems.append(problem)
        else:
            names.append(name.lower())
    return frozenset(names)


def read_settings():
    """Validate every ``REVCHECK_*`` setting.

    Returns the settings (``None`` when any is invalid) and the list of problems.
    """
    problems = []

    mode = get_setting("REVCHECK_MODE")
    if mode not in MODES:
        problems.append(
            SettingProblem(
                E_INVALID_SETTING,
                "REVCHECK_MODE",
                f"REVCHECK_MODE = {mode!r} is not a known mode.",
                f"Set it to {MODE_AUTH_REQUEST!r} (nginx asks revcheck and forwards the "
                f"identity) or {MODE_DIRECT!r} (this middleware asks revcheck).",
            )
        )

    headers = {}
    for setting in HEADER_SETTINGS:
        headers[setting] = get_setting(setting)
        problem = header_name_problem(setting, headers[setting])
        if problem is not None:
            problems.append(problem)

    identity_required = _check_bool("REVCHECK_IDENTITY_REQUIRED", problems)
    create_unknown_users = _check_bool("REVCHECK_CREATE_UNKNOWN_USERS", problems)
    user_field = get_setting("REVCHECK_USER_FIELD")
    problem = user_field_problem(user_field, create_unknown_users)
    if problem is not None:
        problems.append(problem)

    url = _check_url(problems)
    timeout = _check_number("REVCHECK_TIMEOUT", problems, integer=False, allow_zero=False)
    cache_max_age = _check_number("REVCHECK_CACHE_MAX_AGE", problems, integer=True, allow_zero=True)
    cache_alias = _check_cache_alias(problems)
    proxy_set_headers = _check_proxy_set_headers(problems)

    if problems:
        return None, problems
    return (
        RevcheckSettings(
            mode=mode,
            identity_header=headers["REVCHECK_IDENTITY_HEADER"],
            identity_required=identity_required,
            user_field=user_field,
            create_unknown_users=create_unknown_users,
            url=url,
            certificate_header=headers["REVCHECK_CERTIFICATE_HEADER"],
            verify_header=headers["REVCHECK_VERIFY_HEADER"],
            timeout=float(timeout),
            cache_max_age=cache_max_age,
            cache_alias=cache_alias,
            proxy_set_headers=proxy_set_headers,
        ),
        [],
    )


def load_settings():
    """Return the validated settings, or raise ``ImproperlyConfigured`` listing every problem."""
    loaded, problems = read_settings()
    if problems:
        lines = [f"{problem.message} {problem.hint}" for problem in problems]
        raise ImproperlyConfigured("Invalid revcheck settings:\n" + "\n".join(lines))
    return loaded
