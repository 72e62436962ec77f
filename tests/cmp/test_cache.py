"""cmp.cache.SharedRedisCache against the real Redis: Django's cache behaviour, one client per process."""

import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

from cmp.cache import SharedRedisCache

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
