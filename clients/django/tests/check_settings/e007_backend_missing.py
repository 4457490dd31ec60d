"""RevcheckBackend is not in AUTHENTICATION_BACKENDS."""

from example_site.settings import *  # noqa: F403

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
