"""A RemoteUserMiddleware subclass reads the verification result. It runs before
RevcheckMiddleware, so only revcheck.E001 applies."""

from example_site.settings import *  # noqa: F403
from example_site.settings import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE]
MIDDLEWARE.insert(
    MIDDLEWARE.index("revcheck_django.middleware.RevcheckMiddleware"),
    "tests.check_settings.remote_user.VerifyHeaderRemoteUserMiddleware",
)
