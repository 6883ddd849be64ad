"""Rate limits kept in the shared cache (Redis), so every web process counts against the same allowance.

Counting is atomic (Redis INCR) over a sliding window: the count of the current period plus the previous
period's count weighted by how much of it still falls within one period back. The three commands go to Redis in one
round trip (a pipeline on the cache's own client). When the cache cannot be
reached, limits let requests through (and say so in the log): an outage of Redis must not stop the site.
"""

import logging
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError
from rest_framework import throttling

log = logging.getLogger(__name__)
CACHE_ERRORS = (RedisError, ConnectionError, TimeoutError, ValueError)


def rate_limit_hit(key: str, *, limit: int, period: int) -> tuple[bool, float]:
    """Count one event for ``key``; (allowed, seconds to wait when not). At most ``limit`` per ``period`` seconds."""
    now = time.time()
    window = int(now // period)
    try:
        count, previous = _counted(f"ratelimit:{key}:{window}", f"ratelimit:{key}:{window - 1}", 2 * period)
    except CACHE_ERRORS as exc:
        log.warning("rate limit %s not checked: the cache is unreachable or failed (%s)", key, exc)
        return True, 0.0
    elapsed = now - window * period
    if previous * (1 - elapsed / period) + count <= limit:
        return True, 0.0
    return False, max(1.0, period - elapsed)


def _counted(current: str, earlier: str, timeout: int) -> tuple[int, int]:
    """Add one to the count under ``current`` and read the one under ``earlier``: one round trip on Django's Redis
    backend (a pipeline on its client; the cache keeps integers as plain Redis integers), three commands on another."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        current, earlier = cache.make_and_validate_key(current), cache.make_and_validate_key(earlier)
        pipeline = cache._cache.get_client(current, write=True).pipeline(transaction=False)
        count, _, previous = pipeline.incr(current).expire(current, timeout).get(earlier).execute()
        return int(count), int(previous or 0)
    cache.add(current, 0, timeout=timeout)
    return cache.incr(current), int(cache.get(earlier, 0) or 0)


class _SharedRateThrottle(throttling.SimpleRateThrottle):
    """DRF's throttle with its counts in ``rate_limit_hit`` (atomic, shared by all processes, open if Redis is down)."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        allowed, self.wait_seconds = rate_limit_hit(self.key, limit=self.num_requests, period=self.duration)
        return allowed

    def wait(self) -> float:
        return self.wait_seconds


class AnonRateThrottle(_SharedRateThrottle, throttling.AnonRateThrottle):
    """``API_RATE_ANON`` per client address (behind a proxy, the address it appended: ``NUM_PROXIES``)."""


class UserRateThrottle(_SharedRateThrottle, throttling.UserRateThrottle):
    """``API_RATE_USER`` per signed-in reader or token."""
