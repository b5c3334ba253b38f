"""Rate limits: fixed windows counted in the ``ratelimit`` cache (Redis), so every gunicorn worker
and every web host counts together. Each limit is a fixed window of its period (``600/min``: one
counter per client per calendar minute): one atomic increment per request, and a key that expires
with its window. The API's limits are in events/throttling.py, the registry API's in
registry/schema_registry/views.py.

When the cache cannot be reached the limits fail open: the request is allowed and a warning is
logged. The cache is then left alone for ``CACHE_RETRY_SECONDS``, so an unreachable Redis costs
one connection attempt per period, not one per request, and the warning is not repeated per request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from eventcapture.client_address import request_client_ip

logger = logging.getLogger(__name__)

CACHE_ALIAS = "ratelimit"
CACHE_RETRY_SECONDS = 5.0


class _CacheOutage:
    """Remembers, per process, that the cache failed recently."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = float("-inf")

    def active(self) -> bool:
        return time.monotonic() < self._until

    def begin(self, exc: Exception) -> None:
        with self._lock:
            if self.active():
                return
            self._until = time.monotonic() + CACHE_RETRY_SECONDS
        logger.warning(
            "rate limits not enforced for %.0fs: the rate-limit cache is unreachable (%s: %s)",
            CACHE_RETRY_SECONDS,
            type(exc).__name__,
            exc,
        )

    def reset(self) -> None:
        with self._lock:
            self._until = float("-inf")


_outage = _CacheOutage()


def throttling_reset() -> None:
    """Forget a cache outage (tests that change the cache between requests)."""
    _outage.reset()


def window_count(key: str, *, timeout: int) -> int | None:
    """This window's count of ``key`` after counting one more request; None when the cache is
    unreachable (then the request is not limited)."""
    if _outage.active():
        return None
    cache = caches[CACHE_ALIAS]
    try:
        try:
            return cache.incr(key)
        except ValueError:
            # The window's first request; `add` loses to a concurrent first request, then count on.
            if cache.add(key, 1, timeout=timeout):
                return 1
            return cache.incr(key)
    except (RedisError, OSError) as exc:
        _outage.begin(exc)
        return None


def window_peek(key: str) -> int | None:
    """The count of ``key`` so far, without counting; None when there is none or the cache is
    unreachable."""
    if _outage.active():
        return None
    try:
        count = caches[CACHE_ALIAS].get(key)
    except (RedisError, OSError) as exc:
        _outage.begin(exc)
        return None
    return count if isinstance(count, int) else None


class WindowRateThrottle(SimpleRateThrottle):
    """A fixed-window limit on requests under ``path_prefix`` per ``ident``, its rate read from
    settings at each request (so it can be changed without a restart of the class, as tests do)."""

    scope = "api"
    rate_setting = ""
    path_prefix = "/api/"

    def __init__(self) -> None:
        # Not SimpleRateThrottle.__init__: it reads DRF's THROTTLE_RATES, frozen at import.
        self.rate: str | None = None
        self._wait: float | None = None

    def get_rate(self) -> str:
        rate: str = getattr(settings, self.rate_setting)
        return rate

    def ident(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.RATE_LIMIT_ENABLED or not request.path_info.startswith(self.path_prefix):
            return True
        ident = self.ident(request)
        if ident is None:
            return True
        self.rate = self.get_rate()
        limit, duration = self.parse_rate(self.rate)
        # Rates are checked at start-up (settings.py), so they always parse.
        assert limit is not None
        assert duration is not None
        now = self.timer()
        window = int(now // duration)
        key = self.cache_format % {"scope": self.scope, "ident": f"{ident}:{duration}:{window}"}
        # The key outlives its window by a little, for web hosts whose clocks differ slightly.
        count = window_count(key, timeout=duration + 5)
        if count is None or count <= limit:
            return True
        self._wait = (window + 1) * duration - now
        return False

    def wait(self) -> float | None:
        return self._wait


class ClientIpWindowThrottle(WindowRateThrottle):
    """A limit per client address (behind trusted proxies, the address they forwarded)."""

    def ident(self, request: Request) -> str | None:
        return request_client_ip(request._request) or "unknown"
