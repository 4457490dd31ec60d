#!/usr/bin/env python3
"""Run the revcheck-django tests with Django's test runner.

Usage: ``python runtests.py [TEST_LABEL ...]`` from any directory. The direct-lookup tests start
the revcheck binary that the environment variable REVCHECK_BIN names, and fail without it.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    sys.path[:0] = [str(HERE), str(HERE / "example")]
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

    import django
    from django.conf import settings
    from django.test.utils import get_runner

    django.setup()
    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}", flush=True)
    test_runner = get_runner(settings)(verbosity=2)
    failures = test_runner.run_tests(sys.argv[1:] or ["tests"])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
