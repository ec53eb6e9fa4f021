"""Sliding-window rate limits, atomic across processes.

A key's hits are counted in one-second buckets; a hit is allowed when the buckets of the last
`window` seconds hold fewer than `limit` hits. The state stays at most `window` entries however
large the limit (a poll budget of thousands a minute costs the same as 20 per 10 s).
With REDIS_URL set, one Lua script per check (a hash of second → count) makes check-and-count
a single atomic step. Without Redis (the embedded setup), a row per key is locked in the
database for the same effect. DRF throttles read then write the cache and can be overshot by
concurrent requests (https://github.com/encode/django-rest-framework/issues/8127).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from generation.models import RateLimitBucket


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until a slot frees up (0 when allowed)
    window: int


_LUA = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3])
local second = math.floor(now)
local buckets = redis.call('HGETALL', key)
local total, oldest = 0, nil
for i = 1, #buckets, 2 do
  local at = tonumber(buckets[i])
  if at <= second - window then
    redis.call('HDEL', key, buckets[i])
  else
    total = total + tonumber(buckets[i + 1])
    if oldest == nil or at < oldest then oldest = at end
  end
end
if total < limit then
  redis.call('HINCRBY', key, second, 1)
  redis.call('EXPIRE', key, window + 1)
  return {1, limit - total - 1, 0}
end
return {0, 0, tostring(oldest + window - now)}
"""


class RateLimitUnavailable(Exception):
    """The shared store holding the counters is unreachable; callers fail closed."""


@cache
def _redis_script(url: str) -> Callable[[str, list[float | int]], Any]:
    """The script as a call (key, args) → reply: over a lean per-thread connection
    (veosaas.redis_wire; redis-py's own per-command cost is several times the round trip's)
    where the URL is plain TCP, else through redis-py. Errors are redis-py's either way."""
    import redis
    from redis.exceptions import ResponseError

    from veosaas.redis_wire import Wire

    # Short timeouts: a dead cache must refuse quickly, not hold a web thread.
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
    script = client.register_script(_LUA)
    wire = Wire.for_pool(client.connection_pool)
    if wire is None:
        return lambda key, args: script(keys=[key], args=args)

    def run(key: str, args: list[float | int]) -> Any:
        parts = [repr(a) for a in args]
        try:
            return wire.command("EVALSHA", script.sha, 1, key, *parts)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return wire.command("EVAL", _LUA, 1, key, *parts)  # loads it for the next call

    return run


def rate_limit_hit(*, key: str, limit: int, window: int) -> RateDecision:
    """Count one hit for `key` unless `limit` hits already fell within the last `window` s.

    Raises RateLimitUnavailable when Redis cannot be reached (callers fail closed)."""
    now = time.time()
    if settings.REDIS_URL:
        import redis

        try:
            allowed, remaining, retry = _redis_script(settings.REDIS_URL)(
                f"ratelimit:{key}", [now, window, limit]
            )
        except redis.exceptions.RedisError as exc:
            raise RateLimitUnavailable(str(exc)) from exc
        return RateDecision(
            allowed=bool(allowed),
            limit=limit,
            remaining=int(remaining),
            retry_after=max(1, math.ceil(float(retry))) if not allowed else 0,
            window=window,
        )
    return _database_hit(key=key, limit=limit, window=window, now=now)


def _database_hit(*, key: str, limit: int, window: int, now: float) -> RateDecision:
    for _ in range(3):
        try:
            with transaction.atomic():
                bucket, _ = RateLimitBucket.objects.select_for_update().get_or_create(key=key)
                second = math.floor(now)
                stored = bucket.hits if isinstance(bucket.hits, dict) else {}
                counts = {int(at): n for at, n in stored.items() if int(at) > second - window}
                total = sum(counts.values())
                if total >= limit:
                    RateLimitBucket.objects.filter(pk=key).update(hits=counts)
                    retry = max(1, math.ceil(min(counts) + window - now))
                    return RateDecision(
                        allowed=False, limit=limit, remaining=0, retry_after=retry, window=window
                    )
                counts[second] = counts.get(second, 0) + 1
                RateLimitBucket.objects.filter(pk=key).update(hits=counts)
                return RateDecision(
                    allowed=True,
                    limit=limit,
                    remaining=limit - total - 1,
                    retry_after=0,
                    window=window,
                )
        except IntegrityError:  # two first hits created the row at once; the loser retries
            continue
    raise RuntimeError(f"rate limit bucket {key!r} could not be updated")


def rate_limit_reset(*, key: str) -> None:
    """Forget a key's hits (an operator lifting a limit early; tests starting clean)."""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).delete(f"ratelimit:{key}")
    RateLimitBucket.objects.filter(pk=key).delete()


def generate_rate_limit(*, user_id: object) -> RateDecision:
    """The per-account limit on generation requests (20 per 10 s by default)."""
    return rate_limit_hit(
        key=f"generate:{user_id}",
        limit=settings.GENERATION_RATE_LIMIT,
        window=settings.GENERATION_RATE_WINDOW_SECONDS,
    )


KEY_RATE_WINDOW_SECONDS = 60


def key_rate_limit(*, api_key_id: object, limit: int) -> RateDecision:
    """An API key's own limit on generation requests (ApiKey.rate_limit_per_minute)."""
    return rate_limit_hit(
        key=f"generate:key:{api_key_id}", limit=limit, window=KEY_RATE_WINDOW_SECONDS
    )
