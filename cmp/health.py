"""Liveness and readiness: `/healthz` says the process answers, `/readyz` checks what it depends on.

`/readyz` checks the database, Redis, the agent runtime and RAGFlow, each with its status ("up", "down"
or "not_configured") and the time the check took. It answers 503 when a required dependency is down.
Every configured dependency is required unless READINESS_OPTIONAL_CHECKS names it: a deployment that
would rather keep its web pods serving the catalogue while the runtime is down lists "runtime" there (and
relies on the RuntimeDown alert). A dependency that is not configured (embedded mode: no Redis, no
RAGFlow) is reported, never a failure.

Error details are shown only to callers allowed to read the metrics (inside the cluster, or with the
metrics token); anyone else sees the statuses.

The probes are answered before host validation and the HTTPS redirect (ProbeMiddleware): the kubelet
calls them on the pod's address, over plain HTTP.
"""

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import resolve

from cmp.log import redact

logger = logging.getLogger(__name__)

UP, DOWN, NOT_CONFIGURED = "up", "down", "not_configured"
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class NotConfigured(Exception):
    """The dependency is not set up in this deployment."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    latency_ms: float | None
    required: bool
    detail: str = ""

    @property
    def is_up(self) -> bool:
        return self.status == UP

    @property
    def is_failure(self) -> bool:
        return self.required and self.status == DOWN

    def as_dict(self, *, with_detail: bool) -> dict:
        body = {"status": self.status, "latency_ms": self.latency_ms, "required": self.required}
        if with_detail and self.detail:
            body["detail"] = self.detail
        return body


# --- The checks: each returns when the dependency answered, raises otherwise ------------------------


def check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_redis() -> None:
    if not settings.REDIS_URL:
        raise NotConfigured
    import redis

    timeout = settings.HEALTH_CHECK_TIMEOUT
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def check_runtime() -> None:
    from runtime_bridge.runtime_client import get_runtime_client, runtime_is_configured

    if not runtime_is_configured():
        raise NotConfigured
    with get_runtime_client(timeout=settings.HEALTH_CHECK_TIMEOUT, attempts=1) as client:
        if not client.health():
            raise ConnectionError(f"The runtime at {settings.RUNTIME_URL} does not answer its health check.")


def check_ragflow() -> None:
    from marketplace_ai.ragflow_client import RagflowClient

    if not settings.RAGFLOW_BASE_URL:
        raise NotConfigured
    with RagflowClient(
        base_url=settings.RAGFLOW_BASE_URL,
        api_key=settings.RAGFLOW_API_KEY,
        timeout=settings.HEALTH_CHECK_TIMEOUT,
    ) as client:
        client.ping()


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "redis": check_redis,
    "runtime": check_runtime,
    "ragflow": check_ragflow,
}


def _run_check(name: str, check: Callable[[], None]) -> CheckResult:
    required = name not in settings.READINESS_OPTIONAL_CHECKS
    started = time.perf_counter()
    try:
        check()
    except NotConfigured:
        return CheckResult(name=name, status=NOT_CONFIGURED, latency_ms=None, required=required)
    except Exception as error:
        latency = round((time.perf_counter() - started) * 1000, 1)
        detail = redact(str(getattr(error, "detail", "") or error) or type(error).__name__)[:300]
        logger.warning("Readiness: %s is down (%s ms): %s", name, latency, detail)
        return CheckResult(name=name, status=DOWN, latency_ms=latency, required=required, detail=detail)
    latency = round((time.perf_counter() - started) * 1000, 1)
    return CheckResult(name=name, status=UP, latency_ms=latency, required=required)


def run_checks() -> list[CheckResult]:
    """Every check, the network ones in parallel (the database one here, on this thread's connection)."""
    network = {name: check for name, check in CHECKS.items() if name != "database"}
    with ThreadPoolExecutor(max_workers=len(network), thread_name_prefix="readyz") as pool:
        # Each thread runs in a copy of this context, so its log lines keep the request id.
        futures = {
            name: pool.submit(contextvars.copy_context().run, _run_check, name, check)
            for name, check in network.items()
        }
        database = _run_check("database", CHECKS["database"])
        results = {"database": database, **{name: future.result() for name, future in futures.items()}}
    _remember(list(results.values()))
    return [results[name] for name in CHECKS]


# The metrics endpoint reports the last results; a scrape re-runs the checks only when they are stale.
_cache_lock = threading.Lock()
_cache: dict = {"at": 0.0, "results": []}


def _remember(results: list[CheckResult]) -> None:
    with _cache_lock:
        _cache["at"] = time.monotonic()
        _cache["results"] = results


def cached_dependency_results() -> list[CheckResult]:
    with _cache_lock:
        fresh = time.monotonic() - _cache["at"] < settings.HEALTH_CHECK_CACHE_SECONDS
        results = list(_cache["results"])
    return results if fresh and results else run_checks()


# --- Views ---------------------------------------------------------------------------------------


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Checks nothing else, so a database outage never restarts pods."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    from cmp.metrics import may_read_internals

    results = run_checks()
    failed = any(result.is_failure for result in results)
    degraded = any(result.status == DOWN for result in results)
    with_detail = may_read_internals(request)
    body = {
        "status": "unavailable" if failed else "degraded" if degraded else "ok",
        "checks": {result.name: result.as_dict(with_detail=with_detail) for result in results},
    }
    response = JsonResponse(body, status=503 if failed else 200)
    response["Cache-Control"] = "no-store"
    return response


class ProbeMiddleware:
    """Answers /healthz, /readyz and /metrics before host validation and the HTTPS redirect.

    The kubelet and Prometheus call the pod's own address over plain HTTP, which ALLOWED_HOSTS and
    SECURE_SSL_REDIRECT would refuse. None of these views builds a URL from the Host header.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in PROBE_PATHS and request.method in ("GET", "HEAD"):
            match = resolve(request.path_info)
            request.resolver_match = match
            return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)
