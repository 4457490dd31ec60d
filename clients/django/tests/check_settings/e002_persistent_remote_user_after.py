"""PersistentRemoteUserMiddleware runs after RevcheckMiddleware."""

from example_site.settings import *  # noqa: F403
from example_site.settings import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "django.contrib.auth.middleware.PersistentRemoteUserMiddleware"]
