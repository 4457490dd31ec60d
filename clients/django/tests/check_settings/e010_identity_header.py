"""The identity is read from a header that the nginx example does not set, so a client can
send it."""

from example_site.settings import *  # noqa: F403

REVCHECK_IDENTITY_HEADER = "X-Remote-User"
