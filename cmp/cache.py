"""Django's Redis cache backend, with one Redis client per process instead of one per call.

Django's `RedisCacheClient.get_client()` builds a new `redis.Redis` object for every cache operation, and
every thread (every async context under ASGI) gets a backend object, a client and connection pools of its
own. On the runtime auth path that construction is a large share of a cached key check, so here each
process builds one client per server and shares it: a `redis.Redis` is thread-safe (each command borrows a
connection from the pool), and redis-py gives a forked child fresh connections. Behaviour is otherwise
Django's, `clear()` included (it flushes the cache's Redis database).
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_shared_clients: dict[tuple, "SharedRedisCacheClient"] = {}
_shared_clients_lock = threading.Lock()


class SharedRedisCacheClient(RedisCacheClient):
    """Builds each server's connection pool and `redis.Redis` client once, then reuses them."""

    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._clients: dict[int, object] = {}
        self._lock = threading.Lock()

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            with self._lock:
                client = self._clients.get(index)
                if client is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    self._pools[index] = pool
                    client = self._clients[index] = self._client(connection_pool=pool)
        return client


class SharedRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` whose client is shared by every thread of the process."""

    @cached_property
    def _cache(self) -> SharedRedisCacheClient:
        return _shared_client(self._servers, self._options)


def _shared_client(servers: list[str], options: dict) -> SharedRedisCacheClient:
    identity = (tuple(servers), repr(sorted(options.items())))
    client = _shared_clients.get(identity)
    if client is None:
        with _shared_clients_lock:
            client = _shared_clients.get(identity)
            if client is None:
                client = _shared_clients[identity] = SharedRedisCacheClient(servers, **options)
    return client
