"""cmp.cache against the real Redis: SharedRedisCache (Django's behaviour, one client per process) and
NearCache (local copies that Redis invalidates)."""

import os
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.core.cache import caches

from cmp.cache import NearCache, SharedRedisCache

pytestmark = pytest.mark.services


@pytest.fixture
def cache_url(redis_url) -> str:
    """A database of its own (the one after REDIS_URL's next), flushed before and after."""
    parts = urlsplit(redis_url)
    number = (int(parts.path.strip("/") or 0) + 2) % 16
    url = urlunsplit(parts._replace(path=f"/{number}"))
    backend = SharedRedisCache(url, {})
    backend.clear()
    yield url
    backend.clear()


def test_it_behaves_as_djangos_redis_cache(cache_url):
    cache = SharedRedisCache(cache_url, {"KEY_PREFIX": "t"})

    cache.set("a", {"x": 1}, 60)
    cache.set_many({"b": 2, "c": "three"}, 60)
    assert cache.get("a") == {"x": 1}
    assert cache.get_many(["a", "b", "c", "missing"]) == {"a": {"x": 1}, "b": 2, "c": "three"}
    assert cache.add("a", "other") is False
    assert cache.incr("b", 5) == 7
    assert cache.delete("a") is True
    assert cache.get("a", "default") == "default"
    cache.delete_many(["b", "c"])
    assert cache.get_many(["b", "c"]) == {}

    cache.set("d", 1, 60)
    assert cache.clear() is True
    assert cache.get("d") is None


def test_one_client_serves_every_call_and_every_thread(cache_url):
    first = SharedRedisCache(cache_url, {})
    clients = {id(first._cache.get_client(write=True)), id(first._cache.get_client())}
    first.set("k", "v", 60)
    first.get("k")
    clients.add(id(first._cache.get_client()))

    def other_thread():
        # Django gives every thread its own backend object; they share the process's client
        backend = SharedRedisCache(cache_url, {})
        assert backend.get("k") == "v"
        clients.add(id(backend._cache.get_client()))

    threads = [threading.Thread(target=other_thread) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(clients) == 1
    assert SharedRedisCache(cache_url, {})._cache is first._cache
    # The same options share the client; other options get their own
    assert SharedRedisCache(cache_url, {"OPTIONS": {}})._cache is first._cache
    other_options = SharedRedisCache(cache_url, {"OPTIONS": {"socket_timeout": 2}})
    assert other_options._cache is not first._cache
    assert other_options.get("k") == "v"


# --- NearCache ---------------------------------------------------------------------------------------------


@pytest.fixture
def near_alias(settings, cache_url) -> str:
    """A cache alias on the flushed test database, for NearCaches of their own."""
    settings.CACHES = {
        **settings.CACHES,
        "near": {"BACKEND": "cmp.cache.SharedRedisCache", "LOCATION": cache_url},
    }
    return "near"


@pytest.fixture
def other_client(cache_url):
    """Another Redis client, standing for another process changing the shared cache."""
    client = redis.Redis.from_url(cache_url)
    yield client
    client.close()


class Fetches:
    """A `fetch` that counts its calls and answers what the shared cache holds."""

    def __init__(self, alias: str, key: str):
        self.alias, self.key, self.calls = alias, key, 0

    def __call__(self):
        self.calls += 1
        return caches[self.alias].get(self.key)


def test_a_kept_entry_is_served_without_asking_redis(near_alias):
    caches[near_alias].set("hot:a", {"v": 1}, 60)
    near = NearCache("hot:", alias=near_alias)
    fetch = Fetches(near_alias, "hot:a")

    assert near.get_or_fetch("hot:a", fetch) == {"v": 1}
    assert near.get_or_fetch("hot:a", fetch) == {"v": 1}
    assert near.get_or_fetch("hot:a", fetch) == {"v": 1}

    assert near.is_listening
    assert fetch.calls == 1


@pytest.mark.parametrize("change", ["set", "delete", "expire", "flushdb"])
def test_any_change_in_redis_evicts_the_local_copy_before_the_next_read(near_alias, other_client, change):
    backend = caches[near_alias]
    backend.set("hot:a", "old", 60)
    near = NearCache("hot:", alias=near_alias)
    fetch = Fetches(near_alias, "hot:a")
    near.get_or_fetch("hot:a", fetch)

    redis_key = backend.make_key("hot:a")
    if change == "set":
        backend.set("hot:a", "new", 60)  # through Django, as a revocation is
    elif change == "delete":
        other_client.delete(redis_key)
    elif change == "expire":
        other_client.pexpire(redis_key, 1)
        time.sleep(0.05)
        other_client.get(redis_key)  # an expired key is removed (and announced) when next touched
    else:
        other_client.flushdb()

    expected = "new" if change == "set" else None
    assert near.get_or_fetch("hot:a", fetch) == expected
    assert fetch.calls == 2


def test_keys_outside_the_prefix_are_not_watched_or_kept(near_alias):
    backend = caches[near_alias]
    backend.set("hot:a", 1, 60)
    backend.set("cold:a", 2, 60)
    near = NearCache("hot:", alias=near_alias)
    near.get_or_fetch("hot:a", Fetches(near_alias, "hot:a"))

    backend.set("cold:a", 3, 60)  # no invalidation for other prefixes: the hot entry stays
    fetch = Fetches(near_alias, "hot:a")
    assert near.get_or_fetch("hot:a", fetch) == 1
    assert fetch.calls == 0


def test_a_value_read_while_an_invalidation_arrived_is_not_kept(near_alias):
    backend = caches[near_alias]
    backend.set("hot:a", "old", 60)
    near = NearCache("hot:", alias=near_alias)

    def fetch_then_changed():
        value = backend.get("hot:a")
        backend.set("hot:a", "new", 60)  # changed after we read it, before we keep it ...
        time.sleep(0.01)
        assert near.is_listening  # ... and another thread's read has applied that invalidation already
        return value

    assert near.get_or_fetch("hot:a", fetch_then_changed) == "old"  # this caller raced the change
    fetch = Fetches(near_alias, "hot:a")
    assert near.get_or_fetch("hot:a", fetch) == "new"
    assert fetch.calls == 1


def test_a_lost_listening_connection_stops_local_reads_until_it_is_back(near_alias, other_client):
    backend = caches[near_alias]
    prefix = f"hot-{os.getpid()}:"  # a listener name that no other test run has
    key = prefix + "a"
    backend.set(key, "old", 60)
    near = NearCache(prefix, alias=near_alias)
    near.RECONNECT_SECONDS = 0.2
    near.get_or_fetch(key, Fetches(near_alias, key))

    (listener,) = [client for client in other_client.client_list() if client["name"] == near.client_name]
    other_client.client_kill_filter(_id=listener["id"])  # its invalidations can no longer arrive
    backend.set(key, "new", 60)

    fetch = Fetches(near_alias, key)
    assert near.get_or_fetch(key, fetch) == "new"
    assert not near.is_listening
    time.sleep(0.25)
    assert near.is_listening  # reconnected; entries start afresh
    assert near.get_or_fetch(key, fetch) == "new"
    assert near.get_or_fetch(key, fetch) == "new"
    assert fetch.calls == 2


def test_without_redis_nothing_is_kept(settings):
    settings.CACHES = {
        **settings.CACHES,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "near-test"},
    }
    caches["local"].set("hot:a", 1)
    near = NearCache("hot:", alias="local")
    fetch = Fetches("local", "hot:a")

    near.get_or_fetch("hot:a", fetch)
    near.get_or_fetch("hot:a", fetch)

    assert fetch.calls == 2
    assert not near.is_listening


def test_entries_expire_and_are_bounded(near_alias):
    backend = caches[near_alias]
    backend.set_many({"hot:a": 1, "hot:b": 2, "hot:c": 3}, 60)
    near = NearCache("hot:", alias=near_alias, ttl=0.1, max_entries=2)
    fetches = {key: Fetches(near_alias, key) for key in ("hot:a", "hot:b", "hot:c")}
    for key, fetch in fetches.items():
        near.get_or_fetch(key, fetch)

    near.get_or_fetch("hot:a", fetches["hot:a"])  # the oldest was dropped for the third
    near.get_or_fetch("hot:c", fetches["hot:c"])  # still kept
    assert (fetches["hot:a"].calls, fetches["hot:c"].calls) == (2, 1)
    time.sleep(0.15)
    near.get_or_fetch("hot:c", fetches["hot:c"])
    assert fetches["hot:c"].calls == 2


def test_a_forked_child_does_not_use_its_parents_copies(near_alias):
    backend = caches[near_alias]
    backend.set("hot:a", "parent", 60)
    near = NearCache("hot:", alias=near_alias)
    near.get_or_fetch("hot:a", Fetches(near_alias, "hot:a"))

    pid = os.fork()
    if pid == 0:  # the child: its first read must go to Redis, on a connection of its own
        try:
            fetch = Fetches(near_alias, "hot:a")
            served = near.get_or_fetch("hot:a", fetch)
            os._exit(0 if (served, fetch.calls, near.is_listening) == ("parent", 1, True) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    fetch = Fetches(near_alias, "hot:a")
    assert near.get_or_fetch("hot:a", fetch) == "parent"  # the parent's copy and connection are intact
    assert fetch.calls == 0


def test_with_redis_unreachable_nothing_is_kept_and_reads_go_on(settings):
    settings.CACHES = {
        **settings.CACHES,
        "down": {"BACKEND": "cmp.cache.SharedRedisCache", "LOCATION": "redis://127.0.0.1:9/0"},
    }
    near = NearCache("hot:", alias="down")
    calls = []

    def fetch():
        calls.append(1)
        return "from the shared cache"

    started = time.monotonic()
    assert near.get_or_fetch("hot:a", fetch) == "from the shared cache"
    assert near.get_or_fetch("hot:a", fetch) == "from the shared cache"

    assert len(calls) == 2
    assert not near.is_listening
    assert time.monotonic() - started < 3  # one refused connection, then no retry for RECONNECT_SECONDS
