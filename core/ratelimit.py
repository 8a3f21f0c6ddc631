"""Rate limits that hold under concurrency: a fixed-window counter in the cache, created with
``add`` and counted with ``incr``, both atomic (Redis SET NX / INCR; a lock in the local-memory
cache). A read-modify-write of a list, as DRF's throttles keep, lets concurrent requests all
read the same count and pass together."""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class WindowCount:
    allowed: bool
    count: int  # the requests counted in the sliding window, this one included
    limit: int
    reset_in: int  # seconds until a request would pass again (or the window turns)


def window_hit(key: str, *, limit: int, period: int) -> WindowCount:
    """Count one request against ``key``: at most ``limit`` per ``period`` seconds, over a
    sliding window (this window's count plus the last one's, weighted by how much of it still
    overlaps), so a burst across a window boundary does not get twice the limit."""
    now = time.time()
    window, into = divmod(now, period)
    bucket = f"ratelimit:{key}:{int(window)}"
    cache.add(bucket, 0, timeout=2 * period + 1)
    try:
        current = cache.incr(bucket)
    except ValueError:  # evicted between add and incr: this request starts the window
        cache.add(bucket, 1, timeout=2 * period + 1)
        current = 1
    previous = cache.get(f"ratelimit:{key}:{int(window) - 1}") or 0
    overlap = 1 - into / period
    count = current + previous * overlap
    window_left = period - into
    if count <= limit:
        return WindowCount(True, math.ceil(count), limit, max(1, math.ceil(window_left)))
    if current > limit or not previous:
        wait = window_left
    else:  # the last window's share shrinks as time passes
        wait = min(window_left, (count - limit) / previous * period)
    return WindowCount(False, math.ceil(count), limit, max(1, math.ceil(wait)))


def client_address(request) -> str:
    """The client's address, trusting X-Forwarded-For only as far as our own proxies wrote it
    (settings.TRUSTED_PROXY_COUNT; 0 trusts only REMOTE_ADDR)."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    # Each proxy appends the address it received from; the last `proxies` entries are theirs.
    return forwarded[-proxies] if len(forwarded) >= proxies else remote
