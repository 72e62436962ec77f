"""Django's Redis cache backend with one Redis client per process, and a near cache for the hottest reads.

Django's `RedisCacheClient.get_client()` builds a new `redis.Redis` object for every cache operation, and
every thread (every async context under ASGI) gets a backend object, a client and connection pools of its
own. On the runtime auth path that construction is a large share of a cached key check, so here each
process builds one client per server and shares it: a `redis.Redis` is thread-safe (each command borrows a
connection from the pool), and redis-py gives a forked child fresh connections. Behaviour is otherwise
Django's, `clear()` included (it flushes the cache's Redis database).

`NearCache` keeps a process-local copy of one key prefix's entries, invalidated by Redis (see its docstring).
"""

import logging
import os
import re
import threading
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

logger = logging.getLogger(__name__)

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


class NearCache:
    """A process-local copy of the shared cache's entries under one key prefix, kept coherent by Redis.

    On the hottest reads (a runtime checking a buyer's key before every message) the Redis round trip is
    most of the cost. This keeps recently read entries in the process and has Redis report every change to
    any key with the prefix: CLIENT TRACKING in broadcasting mode, redirected to a listening connection
    of this process. That connection is read, without waiting, before every lookup. Redis sends an
    invalidation in the same event-loop turn as its reply to the change, so a change acknowledged before a
    lookup starts has already evicted the local copy (on one host, or wherever the invalidation travels
    as fast as the reply).

    Anything unexpected (no Redis cache, the listening connection lost, a fork) empties the local copy and
    stops using it until a new listening connection is up, so a stale entry is never served; reads then go
    to the shared cache as usual. Entries also live at most `ttl` seconds, and at most `max_entries` are kept.
    """

    CHANNEL = "__redis__:invalidate"
    RECONNECT_SECONDS = 1.0

    def __init__(self, prefix: str, *, ttl: float = 60.0, max_entries: int = 10_000, alias: str = "default"):
        self.prefix = prefix
        self.ttl = ttl
        self.max_entries = max_entries
        self.alias = alias
        self._entries: dict[str, tuple[object, float]] = {}
        self._lock = threading.Lock()
        self._connection = None
        self._pid = None
        self._retry_at = 0.0
        self._generation = 0  # invalidations applied so far

    def get_or_fetch(self, key: str, fetch):
        """The local copy of `key` (as given to Django's cache), or `fetch()`'s value, then kept locally.

        `fetch` reads the shared cache (or computes and stores the value there). Its value is kept only if
        no invalidation arrived while it ran: one may concern what it read.
        """
        redis_key = self._redis_key(key)
        with self._lock:
            listening = self._listening()
            if listening:
                entry = self._entries.get(redis_key)
                if entry is not None and entry[1] > time.monotonic():
                    return entry[0]
                generation = self._generation
        value = fetch()
        if listening and value is not None:
            with self._lock:
                if self._listening() and self._generation == generation:
                    if len(self._entries) >= self.max_entries:
                        del self._entries[next(iter(self._entries))]
                    self._entries[redis_key] = (value, time.monotonic() + self.ttl)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def is_listening(self) -> bool:
        with self._lock:
            return self._listening()

    @property
    def client_name(self) -> str:
        return f"cmp-near-cache-{os.getpid()}-" + re.sub(r"[^\w:.-]", "_", self.prefix)

    def _redis_key(self, key: str) -> str:
        return caches[self.alias].make_key(key)

    def _listening(self) -> bool:
        """Apply every invalidation Redis has sent; False when local copies must not be used (lock held)."""
        if self._pid != os.getpid():  # first use, or a forked child: never read the parent's socket
            self._connection, self._pid, self._retry_at = None, os.getpid(), 0.0
            self._entries.clear()
            self._generation += 1
        if self._connection is None and not self._connect():
            return False
        try:
            while self._connection.can_read(timeout=0):
                message = self._connection.read_response()
                if message[0] != b"message":
                    continue
                keys = message[2]
                self._generation += 1
                if keys is None:  # FLUSHDB / FLUSHALL
                    self._entries.clear()
                else:
                    for redis_key in keys:
                        self._entries.pop(redis_key.decode(), None)
        except (redis.RedisError, OSError, IndexError, TypeError):
            logger.warning("Lost the near cache's invalidation connection; reconnecting.", exc_info=True)
            self._reset()
            return False
        return True

    def _connect(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        backend = caches[self.alias]
        if not isinstance(backend, RedisCache):
            self._retry_at = float("inf")  # locmem and friends are already in-process
            return False
        url = settings.CACHES[self.alias]["LOCATION"]
        url = url[0] if isinstance(url, list | tuple) else url.split(",")[0]
        pool = redis.ConnectionPool.from_url(
            url,
            protocol=2,
            max_connections=1,
            health_check_interval=0,
            socket_timeout=5,
            socket_connect_timeout=2,  # an unreachable Redis must not hold a request (and the lock) for long
            client_name=self.client_name,  # CLIENT LIST shows what the connection is for
        )
        connection = None
        try:
            connection = pool.get_connection()
            connection.send_command("CLIENT", "ID")
            client_id = connection.read_response()
            connection.send_command(
                "CLIENT",
                "TRACKING",
                "ON",
                "REDIRECT",
                client_id,
                "BCAST",
                "PREFIX",
                self._redis_key(self.prefix),
            )
            if connection.read_response() != b"OK":
                raise redis.RedisError("CLIENT TRACKING was refused.")
            connection.send_command("SUBSCRIBE", self.CHANNEL)
            connection.read_response()
        except (redis.RedisError, OSError):
            logger.warning("The near cache cannot listen for invalidations; using the shared cache only.")
            if connection is not None:
                connection.disconnect()
            self._retry_at = time.monotonic() + self.RECONNECT_SECONDS
            return False
        self._entries.clear()  # anything kept before now was not watched
        self._generation += 1
        self._connection, self._pid = connection, os.getpid()
        return True

    def _reset(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
        self._connection = None
        self._entries.clear()
        self._generation += 1
        self._retry_at = time.monotonic() + self.RECONNECT_SECONDS
