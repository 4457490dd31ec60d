"""USE_X_FORWARDED_HOST trusts a header that the nginx example does not set."""

from example_site.settings import *  # noqa: F403

USE_X_FORWARDED_HOST = True
