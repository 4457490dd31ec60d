"""REMOTE_USER_HEADER names the verification result."""

from example_site.settings import *  # noqa: F403

REMOTE_USER_HEADER = "HTTP_X_SSL_CLIENT_VERIFY"
