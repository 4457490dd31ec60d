"""A local-memory cache that records the timeout of every ``set``, for the cache-lifetime tests."""

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache

# (key, value, timeout) of every set() since the last clear, across all instances.
RECORDED_SETS = []


class RecordingCache(LocMemCache):
    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        RECORDED_SETS.append((key, value, timeout))
        super().set(key, value, timeout, version)
