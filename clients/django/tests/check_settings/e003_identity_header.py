"""The identity header name has an underscore."""

from example_site.settings import *  # noqa: F403

REVCHECK_IDENTITY_HEADER = "X-Client_Identity"
