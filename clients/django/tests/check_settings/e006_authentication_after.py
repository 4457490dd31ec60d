"""AuthenticationMiddleware runs after RevcheckMiddleware."""

from example_site.settings import *  # noqa: F403
from example_site.settings import MIDDLEWARE

AUTHENTICATION = "django.contrib.auth.middleware.AuthenticationMiddleware"
MIDDLEWARE = [path for path in MIDDLEWARE if path != AUTHENTICATION] + [AUTHENTICATION]
