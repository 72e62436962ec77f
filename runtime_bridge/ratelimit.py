"""Token buckets for the chat gateway: several buckets are checked and spent together, atomically.

Each `Limit` is a bucket of `capacity` tokens that refills completely over `per_seconds`; a request takes one
token from every bucket it names, or from none when any of them is empty (so a refused request never uses
up another bucket). With the Redis cache (REDIS_URL) the buckets live in Redis and one Lua script reads,
refills and spends them using Redis's clock, so every web process and worker shares them. With the
in-memory cache (embedded mode, one process) they live in this process, behind a lock.
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

KEY_PREFIX = "cmp:ratelimit:"

# KEYS: the buckets; ARGV: per bucket its capacity and its refill rate in tokens per millisecond.
# Returns {allowed (1/0), milliseconds to wait, 1-based index of the bucket that refused (0 when allowed)}.
BUCKET_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local levels = {}
local wait, refused = 0, 0
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'level', 'at')
  local level, at = tonumber(state[1]), tonumber(state[2])
  if level == nil or at == nil then
    level, at = capacity, now
  end
  level = math.min(capacity, level + math.max(0, now - at) * rate)
  levels[i] = level
  if level < 1 then
    local needed = math.ceil((1 - level) / rate)
    if needed > wait then
      wait, refused = needed, i
    end
  end
end
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local level = levels[i]
  if refused == 0 then
    level = level - 1
  end
  redis.call('HSET', KEYS[i], 'level', tostring(level), 'at', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate) + 1000)
end
if refused == 0 then
  return {1, 0, 0}
end
return {0, wait, refused}
"""


@dataclass(frozen=True)
class Limit:
    """One bucket: at most `capacity` requests in a burst, refilled evenly over `per_seconds`."""

    key: str
    capacity: int
    per_seconds: float = 60.0

    @property
    def tokens_per_second(self) -> float:
        return self.capacity / self.per_seconds


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0
    refused_by: Limit | None = None

    @property
    def retry_after_seconds(self) -> int:
        """For a Retry-After header: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after))


class LocalBuckets:
    """The in-process fallback: the same algorithm as the Lua script, under a lock."""

    MAX_BUCKETS = 50_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, limits: list[Limit]) -> RateDecision:
        with self._lock:
            now = self._clock()
            levels = []
            wait, refused = 0.0, None
            for limit in limits:
                level, at = self._buckets.get(limit.key, (float(limit.capacity), now))
                level = min(limit.capacity, level + max(0.0, now - at) * limit.tokens_per_second)
                levels.append(level)
                if level < 1:
                    needed = (1 - level) / limit.tokens_per_second
                    if needed > wait:
                        wait, refused = needed, limit
            spend = 1 if refused is None else 0
            for limit, level in zip(limits, levels, strict=True):
                self._buckets[limit.key] = (level - spend, now)
            if len(self._buckets) > self.MAX_BUCKETS:
                self._forget_full(now)
        if refused is None:
            return RateDecision(allowed=True)
        return RateDecision(allowed=False, retry_after=wait, refused_by=refused)

    def _forget_full(self, now: float) -> None:
        """Drop buckets idle long enough to be full again: forgetting them changes nothing."""
        idle = [key for key, (_level, at) in self._buckets.items() if now - at > 3600]
        for key in idle:
            del self._buckets[key]

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


local_buckets = LocalBuckets()
_scripts: dict[int, object] = {}


def _redis_client():
    """The Redis client behind Django's cache, or None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


def _take_in_redis(client, limits: list[Limit]) -> RateDecision:
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(BUCKET_SCRIPT)
    keys = [cache.make_key(KEY_PREFIX + limit.key) for limit in limits]
    arguments: list = []
    for limit in limits:
        arguments.extend([limit.capacity, repr(limit.tokens_per_second / 1000)])
    allowed, wait_ms, refused = script(keys=keys, args=arguments, client=client)
    if allowed:
        return RateDecision(allowed=True)
    return RateDecision(allowed=False, retry_after=int(wait_ms) / 1000, refused_by=limits[int(refused) - 1])


def rate_limit_take(*limits: Limit) -> RateDecision:
    """Take one token from every bucket, or from none and say how long to wait for the emptiest."""
    limits_list = [limit for limit in limits if limit.capacity > 0]
    if not limits_list:
        return RateDecision(allowed=True)
    client = _redis_client()
    if client is None:
        return local_buckets.take(limits_list)
    return _take_in_redis(client, limits_list)
