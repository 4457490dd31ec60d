"""The identity is read from the verification result."""

from example_site.settings import *  # noqa: F403

REVCHECK_IDENTITY_HEADER = "X-SSL-Client-Verify"
