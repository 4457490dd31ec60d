"""The example settings in direct-lookup mode, which must pass every check."""

from example_site.settings import *  # noqa: F403

REVCHECK_MODE = "direct"
REVCHECK_USER_FIELD = "client_certificates__fingerprint"
