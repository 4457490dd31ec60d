"""REVCHECK_USER_FIELD ends in a lookup instead of a field."""

from example_site.settings import *  # noqa: F403

REVCHECK_USER_FIELD = "username__iexact"
