"""Prometheus metrics: the request middleware, our own counters, and the `/metrics` endpoint.

Other code increments the metric objects defined here, for example::

    from cmp.metrics import RUNTIME_AUTH_CALLS
    RUNTIME_AUTH_CALLS.labels(result="allowed").inc()

Values that live in the database (the document ingestion queue, the webhook backlog) and the state of the
dependencies are computed when Prometheus scrapes, so they are right whichever process changed them.

Several processes (gunicorn workers, Celery's pool) share their counters through files when
PROMETHEUS_MULTIPROC_DIR is set, as prometheus-client's multiprocess mode requires; `deploy/gunicorn.conf.py`
and the Celery worker's exporter (`CELERY_METRICS_PORT`) take care of it. Without it (development, tests)
each process counts for itself.

`/metrics` answers a caller on a private network that reached the pod directly (no proxy in between), or a
caller presenting `Authorization: Bearer <METRICS_TOKEN>`; everyone else gets a 404.
"""

import hmac
import ipaddress
import logging
import os
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

# --- Request metrics ------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "cmp_http_requests_total",
    "HTTP requests answered, by method, route name and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "cmp_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route name.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# --- Our own ---------------------------------------------------------------------------------------

RUNTIME_AUTH_CALLS = Counter(
    "cmp_runtime_auth_calls_total",
    "Runtime authentication checks (the runtime auth endpoint and the built-in gateway), by result "
    "(allowed, invalid_key, revoked, quota_exceeded, rate_limited, ...).",
    ["result"],
)
USAGE_EVENTS_INGESTED = Counter(
    "cmp_usage_events_ingested_total",
    "Usage events received from runtimes and the gateway, by result (recorded, duplicate, rejected).",
    ["result"],
)
PROVISIONING_FAILURES = Counter(
    "cmp_provisioning_failures_total",
    "Provisioning task attempts that failed, by operation (provision, update, terminate) and reason "
    "(runtime_unavailable, runtime_rejected, gave_up).",
    ["operation", "reason"],
)
WEBHOOK_PROCESSING_LAG = Histogram(
    "cmp_webhook_processing_lag_seconds",
    "Time from a webhook event's arrival to the end of its processing, by provider.",
    ["provider"],
    buckets=(0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
)

UNMATCHED_ROUTE = "<unmatched>"
STATIC_ROUTE = "<static>"


def route_label(request: HttpRequest) -> str:
    """The URL pattern's name (a bounded set), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or UNMATCHED_ROUTE
    if settings.STATIC_URL and request.path.startswith(settings.STATIC_URL):
        return STATIC_ROUTE
    return UNMATCHED_ROUTE


class PrometheusMiddleware:
    """Counts and times every request by method, route name and status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        method = request.method if request.method in KNOWN_METHODS else "other"
        route = route_label(request)
        HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
        HTTP_REQUEST_DURATION.labels(method=method, route=route).observe(elapsed)
        return response


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- Values computed at scrape time ------------------------------------------------------------


class ApplicationCollector:
    """Gauges read from the database and the dependency checks when Prometheus scrapes."""

    def describe(self):
        return []  # nothing to check at registration (and no database query at import)

    def collect(self):
        yield from self._ingestion_queue()
        yield from self._webhook_backlog()
        yield from self._dependencies()

    def _ingestion_queue(self):
        from django.db.models import Count

        from marketplace_ai.models import DocumentStatus, KnowledgeDocument

        waiting = [DocumentStatus.PENDING, DocumentStatus.PROCESSING]
        gauge = GaugeMetricFamily(
            "cmp_document_ingestion_queue",
            "Training documents waiting to be indexed or being indexed, by status.",
            labels=["status"],
        )
        try:
            counts = dict(
                KnowledgeDocument.objects.filter(status__in=waiting)
                .order_by()
                .values_list("status")
                .annotate(total=Count("id"))
            )
        except DatabaseError as error:
            logger.warning("Metrics: cannot count the ingestion queue: %s", error)
            return
        for status in waiting:
            gauge.add_metric([str(status)], counts.get(status, 0))
        yield gauge

    def _webhook_backlog(self):
        from django.apps import apps
        from django.db.models import Count, Min
        from django.utils import timezone

        try:
            webhook_event = apps.get_model("billing", "WebhookEvent")
        except LookupError:  # billing without its webhook store: nothing to report
            return
        try:
            backlog = webhook_event.objects.filter(status="received").aggregate(
                total=Count("id"), oldest=Min("created_at")
            )
        except DatabaseError as error:
            logger.warning("Metrics: cannot read the webhook backlog: %s", error)
            return
        events = GaugeMetricFamily(
            "cmp_webhook_backlog_events",
            "Webhook events received and not processed yet.",
            labels=["provider"],
        )
        events.add_metric(["stripe"], backlog["total"])
        age = GaugeMetricFamily(
            "cmp_webhook_backlog_oldest_seconds",
            "Age of the oldest webhook event waiting to be processed (0 when none waits).",
            labels=["provider"],
        )
        oldest = backlog["oldest"]
        age.add_metric(["stripe"], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
        yield events
        yield age

    def _dependencies(self):
        from cmp.health import cached_dependency_results

        up = GaugeMetricFamily(
            "cmp_dependency_up", "1 when a configured dependency answers, 0 when not.", labels=["dependency"]
        )
        latency = GaugeMetricFamily(
            "cmp_dependency_check_seconds", "Time the last dependency check took.", labels=["dependency"]
        )
        for result in cached_dependency_results():
            if result.status == "not_configured":
                continue
            up.add_metric([result.name], 1.0 if result.is_up else 0.0)
            latency.add_metric([result.name], (result.latency_ms or 0.0) / 1000)
        yield up
        yield latency


_application_collector = ApplicationCollector()
REGISTRY.register(_application_collector)


def scrape_registry() -> CollectorRegistry:
    """The registry `/metrics` renders: every process's counters in multiprocess mode, ours otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_application_collector)
    return registry


# --- Access to /metrics -----------------------------------------------------------------------

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
# Loopback, RFC 1918, shared address space (some cluster networks) and IPv6 unique-local addresses; not
# Python's wider `is_private`, which also counts the documentation ranges.
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
    )
)


def is_internal_caller(request: HttpRequest) -> bool:
    """A Prometheus (or operator) inside the cluster: a private address that came straight to us.

    Requests through the ingress also come from a private address (the ingress controller's), but it adds
    a forwarding header; those are treated as public.
    """
    if not settings.METRICS_ALLOW_PRIVATE_NETWORKS:
        return False
    if any(request.META.get(header) for header in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in INTERNAL_NETWORKS)


def has_metrics_token(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    if not expected:
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


def may_read_internals(request: HttpRequest) -> bool:
    return has_metrics_token(request) or is_internal_caller(request)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_read_internals(request):
        # Say nothing about what is here. A plain answer: this view runs before the session and auth
        # middleware (cmp.health.ProbeMiddleware), so the HTML error pages are out of reach.
        return HttpResponseNotFound("Not found.\n", content_type="text/plain")
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


# --- Multiprocess housekeeping --------------------------------------------------------------------


def clear_multiprocess_directory() -> None:
    """Start from zero: files left by a previous run would add its counts to ours."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    if path.exists():
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)


def mark_process_dead(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def start_worker_exporter(port: int) -> None:
    """Serve the Celery pool's counters on `port` (the worker has no web server of its own)."""
    from prometheus_client import multiprocess, start_http_server

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.warning(
            "CELERY_METRICS_PORT is set but PROMETHEUS_MULTIPROC_DIR is not: the pool's counters stay in "
            "its child processes and the exporter would show none of them. Not starting it."
        )
        return
    clear_multiprocess_directory()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)
    logger.info("Celery worker metrics on port %s", port)
