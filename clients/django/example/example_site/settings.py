"""Settings of the revcheck-django example project.

The settings between the "revcheck" markers are the ones to copy into a project. The
environment variables let the tests and a quick gunicorn run pick the mode, the revcheck URL
and the database without editing this file.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# NOTE: an example value. A real project reads its key from a secret store.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "revcheck-example-key-not-secret")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    # Registers the revcheck system checks.
    "revcheck_django",
    "example_site",
]

# --- revcheck: middleware and backend ---
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Right after AuthenticationMiddleware, and with no RemoteUserMiddleware after it.
    "revcheck_django.middleware.RevcheckMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Only certificate logins. Add "django.contrib.auth.backends.ModelBackend" to also allow
# password logins, for the admin for example.
AUTHENTICATION_BACKENDS = ["revcheck_django.backends.RevcheckBackend"]

# nginx terminates TLS and overwrites X-Forwarded-Proto with $scheme on every request.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# "auth_request": nginx sends a subrequest to revcheck's GET /v1/auth and forwards the
# X-Client-Identity of its response, which revcheck's identities file maps to a username.
# "direct": nginx forwards the certificate, the middleware sends it to revcheck's
# POST /v1/status, and the certificate's SHA-256 fingerprint is looked up in ClientCertificate.
REVCHECK_MODE = os.environ.get("REVCHECK_MODE", "auth_request")
REVCHECK_IDENTITY_HEADER = "X-Client-Identity"
# Every request needs a certificate identity. A request without one gets 403.
REVCHECK_IDENTITY_REQUIRED = True
if REVCHECK_MODE == "direct":
    REVCHECK_USER_FIELD = "client_certificates__fingerprint"
else:
    REVCHECK_USER_FIELD = "username"
REVCHECK_CREATE_UNKNOWN_USERS = False

# Direct-lookup mode only.
REVCHECK_URL = os.environ.get("REVCHECK_URL", "http://127.0.0.1:8480")
REVCHECK_CERTIFICATE_HEADER = "X-SSL-Client-Cert"
REVCHECK_VERIFY_HEADER = "X-SSL-Client-Verify"
REVCHECK_TIMEOUT = 2.0
REVCHECK_CACHE_MAX_AGE = 300
# --- revcheck: end ---

ROOT_URLCONF = "example_site.urls"
STATIC_URL = "static/"
WSGI_APPLICATION = "example_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DATABASE", BASE_DIR / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "revcheck_django": {"handlers": ["console"], "level": "INFO"},
    },
}
