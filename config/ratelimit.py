"""Rate limits kept in the shared cache (Redis), so every web process counts against the same allowance.

Counting is atomic (Redis INCR) over a sliding window of small buckets (a tenth of the period each): the counts of the
buckets that cover the last period, the partly covered oldest one included, so no window of one period ever admits more
than the limit. The commands go to Redis in one round trip (a pipeline on the cache's own client). When the cache cannot be
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


BUCKETS = 10  # a period is counted in this many buckets


def rate_limit_hit(key: str, *, limit: int, period: int) -> tuple[bool, float]:
    """Count one event for ``key``; (allowed, seconds to wait when not). At most ``limit`` per ``period`` seconds, in any
    window of ``period`` seconds: the events of the last BUCKETS + 1 buckets of ``period / BUCKETS`` seconds (which
    always cover a whole period back) are counted, so a burst on either side of a bucket's edge cannot pass twice."""
    now = time.time()
    width = period / BUCKETS
    bucket = int(now // width)
    names = [f"ratelimit:{key}:{period}:{b}" for b in range(bucket - BUCKETS, bucket + 1)]
    try:
        count, earlier = _counted(names[-1], names[:-1], 2 * period)
    except CACHE_ERRORS as exc:
        log.warning("rate limit %s not checked: the cache is unreachable or failed (%s)", key, exc)
        return True, 0.0
    if count + earlier <= limit:
        return True, 0.0
    return False, max(1.0, (bucket + 1) * width - now)


def _counted(current: str, earlier: list[str], timeout: int) -> tuple[int, int]:
    """Add one to the count under ``current`` and read the sum of those under ``earlier``: one round trip on Django's
    Redis backend (a pipeline on its client; the cache keeps integers as plain Redis integers), a few commands on
    another."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        current = cache.make_and_validate_key(current)
        earlier = [cache.make_and_validate_key(name) for name in earlier]
        pipeline = cache._cache.get_client(current, write=True).pipeline(transaction=False)
        count, _, previous = pipeline.incr(current).expire(current, timeout).mget(earlier).execute()
        return int(count), sum(int(value or 0) for value in previous)
    cache.add(current, 0, timeout=timeout)
    return cache.incr(current), sum(int(value or 0) for value in cache.get_many(earlier).values())


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
