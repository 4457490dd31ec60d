"""SECURE_PROXY_SSL_HEADER names a header that the nginx example does not set."""

from example_site.settings import *  # noqa: F403

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_SSL", "on")
