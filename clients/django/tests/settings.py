"""Settings for the revcheck-django tests: the example project's, plus the test models."""

from example_site.settings import *  # noqa: F403
from example_site.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests"]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# Fast hashing: the tests create users with passwords but never measure hashing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The test client talks plain HTTP.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

ALLOWED_HOSTS = ["testserver", "127.0.0.1"]

# Keep the test output short; the tests read the revcheck_django log with assertLogs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"revcheck_django": {"handlers": ["null"], "propagate": False}},
}
