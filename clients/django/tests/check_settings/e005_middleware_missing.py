"""RevcheckMiddleware is not in MIDDLEWARE."""

from example_site.settings import *  # noqa: F403
from example_site.settings import MIDDLEWARE

MIDDLEWARE = [path for path in MIDDLEWARE if not path.startswith("revcheck_django.")]
