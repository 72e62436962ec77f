"""Outgoing webhooks: registration rules, signed deliveries to a real local HTTP server, retries with backoff,
the SSRF guard, events from training documents, the delivery log page, and secrets kept out of logs."""

import functools
import hashlib
import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cmp.crypto import decrypt
from marketplace_ai import fetching
from marketplace_ai.services import document_upload_file
from marketplace_ai.services.ingestion import document_mark_failed
from site_agent import tasks
from site_agent.errors import ApplicationError, ConflictError
from site_agent.models import WebhookDelivery, WebhookEndpoint
from site_agent.services import webhooks
from site_agent.services.webhooks import (
    MAX_ATTEMPTS,
    webhook_delivery_attempt,
    webhook_emit,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_set_active,
    webhook_endpoint_update,
)
from tests.marketplace.factories import MembershipFactory, UserFactory
from tests.marketplace_ai.factories import KnowledgeBaseFactory, KnowledgeDocumentFactory
from tests.site_agent.factories import ConfigFactory

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers deliveries with scripted statuses and records them."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                reply = b"ok" if status < 300 else b"receiver is down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cmp"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    """What a buyer's receiver does: recompute the HMAC of "<t>.<body>" and compare in constant time."""
    parts = dict(item.split("=", 1) for item in headers["CMP-Signature"].split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def debug(settings):
    """Deliveries to this machine are allowed only while DEBUG (local development)."""
    settings.DEBUG = True


@pytest.fixture
def config(db):
    return ConfigFactory(agent_name="Ava")


@pytest.fixture
def owner(config):
    user = UserFactory()
    MembershipFactory(organization=config.organization, user=user, role="owner")
    return user


def _emit(config, django_capture_on_commit_callbacks, event="document.indexed", payload=None):
    with django_capture_on_commit_callbacks(execute=True):
        return webhook_emit(config=config, event=event, payload=payload or {"document": {"name": "faq.txt"}})


# --- Registration --------------------------------------------------------------------------------


def test_create_stores_the_secret_encrypted_and_returns_it_once(config, owner):
    endpoint, secret = webhook_endpoint_create(
        config=config, url="https://hooks.example.com/cmp", events=["document.failed"], actor=owner
    )

    assert secret.startswith("whsec_")
    assert len(secret) >= 40
    assert secret not in endpoint.secret_encrypted
    assert decrypt(WebhookEndpoint.objects.get().secret_encrypted) == secret


@pytest.mark.parametrize(
    ("url", "debug_mode", "message"),
    [
        ("http://hooks.example.com/cmp", False, "Use https:// (plain http is allowed only for localhost"),
        ("http://localhost:9000/cmp", False, "Use https:// (plain http is allowed only for localhost"),
        ("https://10.0.0.5/cmp", False, "This address is private"),
        ("https://localhost/cmp", False, "This address is private"),
        ("https://user:pass@hooks.example.com/cmp", False, "Leave the user name and password out"),
        ("ftp://hooks.example.com/cmp", False, "Give a full address"),
        ("http://hooks.example.com/cmp", True, "Use https:// (plain http is allowed only for localhost"),
    ],
)
def test_refused_addresses(config, owner, settings, url, debug_mode, message):
    settings.DEBUG = debug_mode

    with pytest.raises(ApplicationError) as raised:
        webhook_endpoint_create(config=config, url=url, events=["document.indexed"], actor=owner)

    assert raised.value.errors["url"][0].startswith(message)
    assert WebhookEndpoint.objects.count() == 0


def test_local_http_is_allowed_while_debugging(config, owner, debug):
    endpoint, _secret = webhook_endpoint_create(
        config=config, url="http://127.0.0.1:9000/cmp", events=["document.indexed"], actor=owner
    )

    assert endpoint.url == "http://127.0.0.1:9000/cmp"


def test_unknown_or_no_events_are_refused_and_nothing_changes(config, owner):
    endpoint, _secret = webhook_endpoint_create(
        config=config, url="https://hooks.example.com/cmp", events=["document.indexed"], actor=owner
    )

    with pytest.raises(ApplicationError) as unknown:
        webhook_endpoint_update(endpoint=endpoint, actor=owner, events=["order.paid"])
    with pytest.raises(ApplicationError) as empty:
        webhook_endpoint_update(endpoint=endpoint, actor=owner, url="http://x.example.com", events=[])

    assert unknown.value.errors == {"events": ["Unknown event: order.paid."]}
    assert set(empty.value.errors) == {"url", "events"}
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events) == ("https://hooks.example.com/cmp", ["document.indexed"])


def test_archived_config_takes_no_new_endpoints(config, owner):
    config.state = "archived"
    config.save(update_fields=["state"])

    with pytest.raises(ConflictError):
        webhook_endpoint_create(
            config=config, url="https://hooks.example.com/cmp", events=["document.indexed"], actor=owner
        )
    assert WebhookEndpoint.objects.count() == 0


# --- Delivery ------------------------------------------------------------------------------------


def test_delivery_is_signed_and_verifies_on_the_receiving_side(
    config, owner, receiver, debug, django_capture_on_commit_callbacks
):
    endpoint, secret = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )

    deliveries = _emit(config, django_capture_on_commit_callbacks, payload={"document": {"name": "faq.txt"}})

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    delivery = WebhookDelivery.objects.get()
    assert [d.pk for d in deliveries] == [delivery.pk]
    assert request["path"] == "/hooks/cmp"
    assert request["headers"]["CMP-Event"] == "document.indexed"
    assert request["headers"]["CMP-Delivery"] == str(delivery.uuid)
    assert request["headers"]["Content-Type"] == "application/json"
    assert verify(secret, request["headers"], request["body"])
    assert not verify("whsec_wrong", request["headers"], request["body"])
    assert json.loads(request["body"]) == {
        "id": str(delivery.uuid),
        "event": "document.indexed",
        "created_at": delivery.created_at.isoformat(),
        "agent": {"uuid": str(config.uuid), "name": "Ava"},
        "data": {"document": {"name": "faq.txt"}},
    }
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None
    assert endpoint.deliveries.count() == 1


def test_a_500_is_retried_then_delivered(config, owner, debug, django_capture_on_commit_callbacks):
    receiver = Receiver(statuses=[500, 503, 200])
    try:
        webhook_endpoint_create(config=config, url=receiver.url, events=["document.indexed"], actor=owner)
        _emit(config, django_capture_on_commit_callbacks)
    finally:
        receiver.stop()

    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 3
    assert {request["headers"]["CMP-Delivery"] for request in receiver.requests} == {str(delivery.uuid)}
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 3, 200)
    assert delivery.error_message == ""


def test_an_endpoint_that_keeps_failing_is_given_up_after_the_last_attempt(
    config, owner, debug, django_capture_on_commit_callbacks
):
    receiver = Receiver(statuses=[500])
    try:
        webhook_endpoint_create(config=config, url=receiver.url, events=["document.indexed"], actor=owner)
        _emit(config, django_capture_on_commit_callbacks)
    finally:
        receiver.stop()

    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == MAX_ATTEMPTS == 8
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 8, 500)
    assert delivery.error_message == (
        "Answered 500 Internal Server Error (receiver is down). Gave up after 8 attempts."
    )


def test_one_attempt_at_a_time_records_retrying(config, owner, debug):
    receiver = Receiver(statuses=[502])
    try:
        endpoint, _secret = webhook_endpoint_create(
            config=config, url=receiver.url, events=["document.indexed"], actor=owner
        )
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="document.indexed", payload={})
        delivery = webhook_delivery_attempt(delivery_id=delivery.pk)
    finally:
        receiver.stop()

    assert (delivery.status, delivery.attempts, delivery.response_status) == ("retrying", 1, 502)
    assert delivery.error_message == "Answered 502 Bad Gateway (receiver is down)."


def test_backoff_grows_exponentially_with_jitter():
    delays = [tasks.webhook_backoff(retries) for retries in range(8)]

    for retries, delay in enumerate(delays):
        base = min(tasks.BACKOFF_MAX_SECONDS, tasks.BACKOFF_BASE_SECONDS * 2**retries)
        assert base <= delay <= base * 1.25
    assert delays[0] < 40
    assert delays[7] >= 3840


def test_a_worker_schedules_the_next_attempt_with_backoff(config, owner, debug, monkeypatch):
    """With a worker (not eager) a failed attempt is retried later by Celery, with the backoff countdown."""
    receiver = Receiver(statuses=[500])
    endpoint, _secret = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="document.indexed", payload={})
    scheduled = {}

    def fake_retry(**kwargs):
        scheduled.update(kwargs)
        return RuntimeError("retry scheduled")

    monkeypatch.setattr(tasks.webhook_deliver_task, "retry", fake_retry)
    monkeypatch.setattr(tasks, "webhook_backoff", lambda retries: 30.0 + retries)
    tasks.webhook_deliver_task.push_request(retries=2, is_eager=False)
    try:
        with pytest.raises(RuntimeError, match="retry scheduled"):
            tasks.webhook_deliver_task.run(delivery.pk)
    finally:
        tasks.webhook_deliver_task.pop_request()
        receiver.stop()

    assert scheduled == {"countdown": 32.0}
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("retrying", 1)


def test_private_targets_are_refused_without_debug(config, owner, settings, receiver):
    settings.DEBUG = True
    endpoint, _secret = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )
    settings.DEBUG = False
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="document.indexed", payload={})

    delivery = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert receiver.requests == []
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "private or reserved address (127.0.0.1)" in delivery.error_message


def test_a_host_name_resolving_to_a_private_address_is_refused(config, owner, settings, monkeypatch):
    """Checked by resolving at send time, so a public-looking name pointing inside is caught too."""
    endpoint, _secret = webhook_endpoint_create(
        config=config, url="https://hooks.example.com/cmp", events=["document.indexed"], actor=owner
    )
    inside = functools.partial(
        fetching.resolve, resolver=lambda *args, **kwargs: [(2, 1, 6, "", ("169.254.169.254", 443))]
    )
    monkeypatch.setattr(webhooks, "resolve", inside)
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="document.indexed", payload={})

    delivery = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert delivery.status == "failed"
    assert "private or reserved address (169.254.169.254)" in delivery.error_message


# --- Emitting ------------------------------------------------------------------------------------


def test_emit_reaches_only_active_subscribed_endpoints_after_commit(config, owner, receiver, debug):
    subscribed, _ = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )
    webhook_endpoint_create(config=config, url=receiver.url, events=["document.failed"], actor=owner)
    disabled, _ = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )
    webhook_endpoint_set_active(endpoint=disabled, actor=owner, is_active=False)
    other_config = ConfigFactory()
    WebhookEndpoint.objects.create(
        config=other_config, url=receiver.url, events=["document.indexed"], secret_encrypted="x"
    )

    deliveries = webhook_emit(config=config, event="document.indexed", payload={"n": 1})

    assert [delivery.endpoint_id for delivery in deliveries] == [subscribed.pk]
    assert receiver.requests == []  # nothing is sent before the transaction commits


def test_archived_config_emits_nothing(config, owner, receiver, debug, django_capture_on_commit_callbacks):
    webhook_endpoint_create(config=config, url=receiver.url, events=["document.indexed"], actor=owner)
    config.state = "archived"
    config.save(update_fields=["state"])

    assert _emit(config, django_capture_on_commit_callbacks) == []
    assert receiver.requests == []


def test_disabling_an_endpoint_stops_waiting_deliveries(config, owner, receiver, debug):
    endpoint, _ = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="document.indexed", payload={})
    webhook_endpoint_set_active(endpoint=endpoint, actor=owner, is_active=False)

    delivery = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert receiver.requests == []
    assert (delivery.status, delivery.attempts) == ("failed", 0)
    assert delivery.error_message == "The endpoint was disabled; nothing was sent."


def test_rotated_secret_signs_from_then_on(
    config, owner, receiver, debug, django_capture_on_commit_callbacks
):
    endpoint, old_secret = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )
    _endpoint, new_secret = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=owner)

    _emit(config, django_capture_on_commit_callbacks)

    request = receiver.requests[0]
    assert new_secret != old_secret
    assert verify(new_secret, request["headers"], request["body"])
    assert not verify(old_secret, request["headers"], request["body"])


def test_indexed_and_failed_documents_send_their_events(
    config, owner, receiver, debug, settings, django_capture_on_commit_callbacks
):
    settings.RAGFLOW_BASE_URL = ""
    config.knowledge_base = KnowledgeBaseFactory(organization=config.organization)
    config.save(update_fields=["knowledge_base"])
    _endpoint, secret = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed", "document.failed"], actor=owner
    )
    stuck = KnowledgeDocumentFactory(
        knowledge_base=config.knowledge_base, name="broken.pdf", status="processing"
    )

    with django_capture_on_commit_callbacks(execute=True):
        document, _created = document_upload_file(
            knowledge_base=config.knowledge_base,
            uploaded_file=SimpleUploadedFile("faq.txt", b"Parcels leave within two working days.\n" * 20),
            actor=owner,
        )
    with django_capture_on_commit_callbacks(execute=True):
        document_mark_failed(document_id=stuck.pk, message="The PDF is damaged.")

    bodies = [json.loads(request["body"]) for request in receiver.requests]
    assert [body["event"] for body in bodies] == ["document.indexed", "document.failed"]
    assert bodies[0]["data"]["document"]["uuid"] == str(document.uuid)
    assert bodies[0]["data"]["document"]["status"] == "indexed"
    assert bodies[0]["data"]["document"]["chunk_count"] >= 1
    assert bodies[1]["data"]["document"] == {
        "uuid": str(stuck.uuid),
        "name": "broken.pdf",
        "source": "file",
        "status": "failed",
        "chunk_count": 0,
        "error_message": "The PDF is damaged.",
    }
    assert all(verify(secret, request["headers"], request["body"]) for request in receiver.requests)


def test_the_secret_never_reaches_the_logs_or_the_delivery(
    config, owner, receiver, debug, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)

    endpoint, secret = webhook_endpoint_create(
        config=config, url=receiver.url, events=["document.indexed"], actor=owner
    )
    _endpoint, rotated = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=owner)
    _emit(config, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert "Webhook delivery" in caplog.text
    for value in (secret, rotated):
        assert value not in caplog.text
        assert value not in json.dumps(delivery.payload)
        assert value not in delivery.error_message
        assert value.encode() not in receiver.requests[0]["body"]
        assert value not in str(receiver.requests[0]["headers"])


# --- The page ------------------------------------------------------------------------------------


def _page(config, name="agent-integrations", **extra):
    return reverse(
        f"site_agent:{name}",
        kwargs={"organization_uuid": config.organization.uuid, "config_uuid": config.uuid, **extra},
    )


def test_delivery_log_and_redeliver(client, config, owner, debug, django_capture_on_commit_callbacks):
    receiver = Receiver(statuses=[500])
    try:
        webhook_endpoint_create(config=config, url=receiver.url, events=["document.indexed"], actor=owner)
        _emit(config, django_capture_on_commit_callbacks)
        failed = WebhookDelivery.objects.get()
        receiver.statuses = [200]
        client.force_login(owner)

        html = client.get(_page(config)).content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(_page(config, "webhook-redeliver", delivery_uuid=failed.uuid))
    finally:
        receiver.stop()

    assert "Failed" in html
    assert "Answered 500 Internal Server Error" in html
    assert "Redeliver" in html
    assert response.status_code == 302
    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (again.status, again.attempts, again.event, again.payload) == (
        "delivered",
        1,
        "document.indexed",
        failed.payload,
    )
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("failed", 8)


def test_edit_disable_and_delete_from_the_page(client, config, owner):
    endpoint, _ = webhook_endpoint_create(
        config=config, url="https://hooks.example.com/a", events=["document.indexed"], actor=owner
    )
    client.force_login(owner)
    prefix = f"edit-{endpoint.uuid}"

    client.post(
        _page(config, "webhook-update", endpoint_uuid=endpoint.uuid),
        {f"{prefix}-url": "https://hooks.example.com/b", f"{prefix}-events": ["usage.quota_reached"]},
    )
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events) == ("https://hooks.example.com/b", ["usage.quota_reached"])

    client.post(_page(config, "webhook-toggle", endpoint_uuid=endpoint.uuid), {"active": "no"})
    endpoint.refresh_from_db()
    assert endpoint.is_active is False

    bad = client.post(
        _page(config, "webhook-update", endpoint_uuid=endpoint.uuid),
        {f"{prefix}-url": "http://hooks.example.com/c", f"{prefix}-events": ["document.indexed"]},
        follow=True,
    )
    assert "The endpoint was not changed." in bad.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/b"

    client.post(_page(config, "webhook-delete", endpoint_uuid=endpoint.uuid))
    assert WebhookEndpoint.objects.count() == 0


def test_another_configs_endpoint_or_delivery_is_404(client, config, owner):
    other = ConfigFactory()
    endpoint = WebhookEndpoint.objects.create(
        config=other, url="https://hooks.example.com/x", events=["document.indexed"], secret_encrypted="x"
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="document.indexed", payload={})
    client.force_login(owner)

    delete = client.post(_page(config, "webhook-delete", endpoint_uuid=endpoint.uuid))
    redeliver = client.post(_page(config, "webhook-redeliver", delivery_uuid=delivery.uuid))

    assert (delete.status_code, redeliver.status_code) == (404, 404)
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert WebhookDelivery.objects.count() == 1
