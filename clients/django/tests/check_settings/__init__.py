"""Settings modules with one misconfiguration each, for the system check tests.

Each imports the example project's settings and changes one thing.
"""
