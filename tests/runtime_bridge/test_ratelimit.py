"""Token buckets: in-process (with a controlled clock) and in a real Redis (the Lua script, shared by every
process); a refusal spends nothing, one bucket never drains another, parallel takers never overspend."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from runtime_bridge.ratelimit import Limit, LocalBuckets, rate_limit_take


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def buckets(clock):
    return LocalBuckets(clock=clock)


def test_a_bucket_allows_its_capacity_then_says_how_long_to_wait(buckets, clock):
    limit = Limit("key:1", capacity=3, per_seconds=60)

    decisions = [buckets.take([limit]) for _ in range(4)]

    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    assert decisions[3].retry_after == pytest.approx(20.0)
    assert decisions[3].retry_after_seconds == 20
    assert decisions[3].refused_by == limit


def test_tokens_come_back_at_the_refill_rate(buckets, clock):
    limit = Limit("key:1", capacity=2, per_seconds=60)
    buckets.take([limit])
    buckets.take([limit])

    clock.now += 29
    too_early = buckets.take([limit])
    clock.now += 1
    refilled = buckets.take([limit])

    assert too_early.allowed is False
    assert too_early.retry_after == pytest.approx(1.0)
    assert refilled.allowed is True
    assert buckets.take([limit]).allowed is False


def test_a_bucket_never_holds_more_than_its_capacity(buckets, clock):
    limit = Limit("key:1", capacity=2, per_seconds=60)
    clock.now += 3600

    assert [buckets.take([limit]).allowed for _ in range(3)] == [True, True, False]


def test_a_refusal_by_one_bucket_spends_nothing_from_the_others(buckets):
    key, config = Limit("key:1", capacity=5), Limit("config:1", capacity=1)
    assert buckets.take([key, config]).allowed is True

    refused = buckets.take([key, config])

    assert refused.allowed is False
    assert refused.refused_by == config
    assert [buckets.take([key]).allowed for _ in range(5)] == [True, True, True, True, False]


def test_one_tenant_draining_its_bucket_leaves_another_full(buckets):
    busy, quiet = Limit("config:1", capacity=2), Limit("config:2", capacity=2)
    for _ in range(5):
        buckets.take([busy])

    assert [buckets.take([quiet]).allowed for _ in range(3)] == [True, True, False]


def test_parallel_takers_never_overspend_in_process(buckets):
    limit = Limit("config:1", capacity=10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _index: buckets.take([limit]).allowed, range(40)))

    assert results.count(True) == 10


def test_without_redis_the_gateway_uses_the_in_process_buckets(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    limit = Limit(f"test:{uuid.uuid4().hex}", capacity=1)

    assert [rate_limit_take(limit).allowed, rate_limit_take(limit).allowed] == [True, False]


# --- Redis ------------------------------------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-ratelimit-{uuid.uuid4().hex}",
        }
    }
    from django.core.cache import caches

    return caches["default"]


def _redis_keys(redis_cache) -> list[str]:
    client = redis_cache._cache.get_client()
    return [key.decode() for key in client.keys(f"{redis_cache.key_prefix}*")]


def test_in_redis_a_bucket_allows_its_capacity_then_says_how_long_to_wait(redis_cache):
    limit = Limit("key:1", capacity=3, per_seconds=60)

    decisions = [rate_limit_take(limit) for _ in range(4)]

    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    assert 19.9 <= decisions[3].retry_after <= 20.0
    assert decisions[3].retry_after_seconds == 20
    assert decisions[3].refused_by == limit
    assert _redis_keys(redis_cache) == [f"{redis_cache.key_prefix}:1:cmp:ratelimit:key:1"]


def test_in_redis_tokens_come_back_and_the_key_expires_when_full_again(redis_cache):
    limit = Limit("key:1", capacity=2, per_seconds=0.4)
    rate_limit_take(limit)
    rate_limit_take(limit)
    assert rate_limit_take(limit).allowed is False

    time.sleep(0.25)

    assert rate_limit_take(limit).allowed is True
    client = redis_cache._cache.get_client()
    assert 0 < client.pttl(f"{redis_cache.key_prefix}:1:cmp:ratelimit:key:1") <= 1400


def test_in_redis_a_refusal_spends_nothing_and_tenants_are_independent(redis_cache):
    key, config, other = (
        Limit("key:1", capacity=5),
        Limit("config:1", capacity=1),
        Limit("config:2", capacity=1),
    )
    assert rate_limit_take(key, config).allowed is True

    refused = rate_limit_take(key, config)

    assert refused.allowed is False
    assert refused.refused_by == config
    assert [rate_limit_take(key).allowed for _ in range(5)] == [True, True, True, True, False]
    assert rate_limit_take(other).allowed is True


def test_in_redis_parallel_takers_never_overspend(redis_cache):
    limit = Limit("config:1", capacity=10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _index: rate_limit_take(limit).allowed, range(40)))

    assert results.count(True) == 10
