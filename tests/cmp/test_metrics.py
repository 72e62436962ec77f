"""/metrics: request metrics by route name, our own metrics, and who may read them."""

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from cmp.metrics import RUNTIME_AUTH_CALLS
from tests.marketplace_ai.factories import KnowledgeDocumentFactory

pytestmark = pytest.mark.django_db
PUBLIC = "203.0.113.9"


def _sample(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _scrape(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_requests_are_counted_and_timed_by_route_name_not_path(client):
    catalogue = {"method": "GET", "route": "marketplace:catalogue", "status": "200"}
    missing = {"method": "GET", "route": "<unmatched>", "status": "404"}
    before = _sample("cmp_http_requests_total", catalogue)
    before_missing = _sample("cmp_http_requests_total", missing)
    timed = {"method": "GET", "route": "marketplace:catalogue"}
    before_timings = _sample("cmp_http_request_duration_seconds_count", timed)

    client.get(reverse("marketplace:catalogue"), {"q": "anything"})
    client.get("/no-such-page/12345/")

    assert _sample("cmp_http_requests_total", catalogue) == before + 1
    assert _sample("cmp_http_requests_total", missing) == before_missing + 1
    assert _sample("cmp_http_request_duration_seconds_count", timed) == before_timings + 1
    text = _scrape(client)
    assert 'cmp_http_requests_total{method="GET",route="marketplace:catalogue",status="200"}' in text
    assert "/no-such-page/" not in text


def test_custom_counters_are_exposed_for_other_code_to_increment(client):
    before = _sample("cmp_runtime_auth_calls_total", {"result": "allowed"})

    RUNTIME_AUTH_CALLS.labels(result="allowed").inc()

    assert _sample("cmp_runtime_auth_calls_total", {"result": "allowed"}) == before + 1
    text = _scrape(client)
    for family in (
        "cmp_runtime_auth_calls_total",
        "cmp_usage_events_ingested_total",
        "cmp_provisioning_failures_total",
        "cmp_webhook_processing_lag_seconds",
    ):
        assert f"# TYPE {family.removesuffix('_total')}" in text


def test_the_ingestion_queue_is_counted_from_the_database_at_scrape_time(client):
    KnowledgeDocumentFactory.create_batch(2, status="pending")
    KnowledgeDocumentFactory(status="processing")
    KnowledgeDocumentFactory(status="indexed")
    KnowledgeDocumentFactory(status="failed")

    text = _scrape(client)

    assert 'cmp_document_ingestion_queue{status="pending"} 2.0' in text
    assert 'cmp_document_ingestion_queue{status="processing"} 1.0' in text
    assert 'status="indexed"' not in text


def test_dependency_state_is_exposed(client, settings, closed_port):
    settings.RUNTIME_URL = f"http://127.0.0.1:{closed_port}"
    settings.RUNTIME_API_KEY = "runtime-key"

    text = _scrape(client)

    assert 'cmp_dependency_up{dependency="database"} 1.0' in text
    assert 'cmp_dependency_up{dependency="runtime"} 0.0' in text
    assert 'dependency="ragflow"' not in text  # not configured: nothing to alert on


@pytest.mark.parametrize(
    ("headers", "token", "status"),
    [
        ({}, "", 200),  # Prometheus inside the cluster (loopback here)
        ({"REMOTE_ADDR": "10.1.2.3"}, "", 200),
        ({"REMOTE_ADDR": PUBLIC}, "", 404),  # the internet
        ({"HTTP_X_FORWARDED_FOR": PUBLIC}, "", 404),  # through the ingress, from a private address
        ({"REMOTE_ADDR": PUBLIC, "HTTP_AUTHORIZATION": "Bearer metrics-secret"}, "metrics-secret", 200),
        ({"REMOTE_ADDR": PUBLIC, "HTTP_AUTHORIZATION": "Bearer wrong"}, "metrics-secret", 404),
        ({"REMOTE_ADDR": PUBLIC, "HTTP_AUTHORIZATION": "Bearer "}, "", 404),
    ],
)
def test_metrics_are_readable_only_inside_the_network_or_with_the_token(
    client, settings, headers, token, status
):
    settings.METRICS_TOKEN = token

    response = client.get("/metrics", **headers)

    assert response.status_code == status
    if status == 404:
        assert b"cmp_http_requests_total" not in response.content


def test_private_networks_can_be_refused_when_only_the_token_should_work(client, settings):
    settings.METRICS_ALLOW_PRIVATE_NETWORKS = False
    settings.METRICS_TOKEN = "metrics-secret"

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret").status_code == 200


@pytest.fixture
def agent_offering(support_flow):
    from marketplace.models import Category
    from marketplace.services.catalogue import offering_submit, plan_template_apply
    from runtime_bridge.services import flow_import
    from tests.marketplace.factories import ServiceProviderFactory, UserFactory

    seller = UserFactory()
    agent, _ = flow_import(
        provider=ServiceProviderFactory(is_trusted=True),
        category=Category.objects.get(slug="agents"),
        raw=support_flow,
        actor=seller,
        description="Answers from your help centre.",
    )
    plan_template_apply(offering=agent.offering, actor=seller)
    offering_submit(offering=agent.offering, actor=seller, terms_accepted=True)
    return agent.offering


@pytest.mark.services
def test_a_provisioning_failure_is_counted(
    settings, runtime_settings, agent_offering, organization, user, django_capture_on_commit_callbacks
):
    from marketplace.models import ResourceState
    from marketplace.services.orders import order_create

    labels = {"operation": "provision", "reason": "runtime_unavailable"}
    before = _sample("cmp_provisioning_failures_total", labels)
    settings.RUNTIME_URL = "http://127.0.0.1:9"  # the runtime is down when the purchase is provisioned
    plan = agent_offering.plans.order_by("price_minor").first()
    plan.price_minor = 0
    plan.save(update_fields=["price_minor"])

    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=organization, plan=plan, actor=user)

    order.refresh_from_db()
    assert order.resource.state == ResourceState.ERRED
    assert _sample("cmp_provisioning_failures_total", labels) == before + 1


def test_the_webhook_backlog_is_read_from_the_database_at_scrape_time(client):
    from datetime import timedelta

    from django.utils import timezone

    from billing.models import WebhookEvent

    # given two events waiting (the oldest for ten minutes) and one already processed
    oldest = WebhookEvent.objects.create(stripe_event_id="evt_1", type="invoice.paid", payload={})
    WebhookEvent.objects.create(stripe_event_id="evt_2", type="invoice.paid", payload={})
    WebhookEvent.objects.create(stripe_event_id="evt_3", type="invoice.paid", payload={}, status="processed")
    WebhookEvent.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    text = _scrape(client)

    assert 'cmp_webhook_backlog_events{provider="stripe"} 2.0' in text
    age = float(text.split('cmp_webhook_backlog_oldest_seconds{provider="stripe"} ')[1].split()[0])
    assert 600 <= age < 660
