"""REVCHECK_MODE is not a known mode."""

from example_site.settings import *  # noqa: F403

REVCHECK_MODE = "trust_everyone"
