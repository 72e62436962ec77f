"""Outgoing webhooks: endpoints a buyer registers for one agent, and signed deliveries of its events.

A delivery is a POST of JSON with three headers:
    CMP-Event: document.indexed
    CMP-Delivery: <the delivery's uuid>
    CMP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the endpoint's secret>
The secret (`whsec_...`) is shown to the buyer once and stored encrypted (cmp.crypto), because we need it
back to sign. A 2xx answer within the timeout is delivered; anything else is retried by the task with
exponential backoff and jitter, up to MAX_ATTEMPTS. Targets are resolved and refused when any address is
private, loopback or reserved (unless DEBUG), and the connection goes to the checked address.
"""

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from cmp.crypto import decrypt, encrypt
from marketplace_ai.errors import UrlRefused
from marketplace_ai.fetching import address_is_public, resolve
from site_agent.errors import ApplicationError, ConflictError
from site_agent.models import ConfigState, CustomerAgentConfig, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)


class WebhookEvent:
    MESSAGE_ANSWERED = "message.answered"
    DOCUMENT_INDEXED = "document.indexed"
    DOCUMENT_FAILED = "document.failed"
    USAGE_QUOTA_REACHED = "usage.quota_reached"


EVENT_CHOICES = [
    (WebhookEvent.MESSAGE_ANSWERED, "The agent answered a message"),
    (WebhookEvent.DOCUMENT_INDEXED, "A training document was indexed"),
    (WebhookEvent.DOCUMENT_FAILED, "A training document failed to process"),
    (WebhookEvent.USAGE_QUOTA_REACHED, "The plan's monthly quota was reached"),
]
EVENTS = [value for value, _label in EVENT_CHOICES]


class DeliveryStatus:
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"


SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not a secret
MAX_ENDPOINTS_PER_CONFIG = 10
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_EXCERPT = 300
USER_AGENT = "CMP-Webhooks/1.0"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


# --- Endpoints ------------------------------------------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _check_url(url: str) -> str:
    """https only; plain http only to this machine while DEBUG (local testing). Private hosts given as
    addresses are refused here already; names are resolved and checked at every delivery."""
    url = (url or "").strip()
    errors = []
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if len(url) > 2000:
        errors.append("At most 2,000 characters.")
    elif parts.scheme not in ("https", "http") or not host:
        errors.append("Give a full address such as https://example.com/hooks/cmp.")
    elif parts.username or parts.password:
        errors.append("Leave the user name and password out of the address.")
    elif parts.scheme == "http" and not (settings.DEBUG and host in LOCAL_HOSTS):
        errors.append("Use https:// (plain http is allowed only for localhost while developing).")
    elif not settings.DEBUG and (host == "localhost" or host.endswith(".localhost") or _is_private_ip(host)):
        errors.append("This address is private; webhooks go to public https addresses.")
    if errors:
        raise ApplicationError("The address is not valid.", errors={"url": errors})
    return url


def _is_private_ip(host: str) -> bool:
    try:
        return not address_is_public(ip_address(host))
    except ValueError:
        return False


def _check_events(events: list[str]) -> list[str]:
    unknown = [event for event in events if event not in EVENTS]
    if unknown or not events:
        message = f"Unknown event: {', '.join(unknown)}." if unknown else "Choose at least one event."
        raise ApplicationError("Choose the events to send.", errors={"events": [message]})
    return [event for event in EVENTS if event in events]


def _check_writable(config: CustomerAgentConfig) -> None:
    if config.state == ConfigState.ARCHIVED:
        raise ConflictError("This agent was cancelled; its settings are read-only.", code="read_only")


@transaction.atomic
def webhook_endpoint_create(
    *, config: CustomerAgentConfig, url: str, events: list[str], actor
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret; the secret is returned here once, and stored encrypted."""
    url = _check_url(url)
    events = _check_events(list(events))
    config = CustomerAgentConfig.objects.select_for_update().get(pk=config.pk)
    _check_writable(config)
    if config.webhooks.count() >= MAX_ENDPOINTS_PER_CONFIG:
        raise ConflictError(
            f"An agent can have at most {MAX_ENDPOINTS_PER_CONFIG} webhook endpoints.", code="too_many"
        )
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        config=config, url=url, events=events, secret_encrypted=encrypt(secret)
    )
    logger.info("Webhook endpoint %s created for config %s", endpoint.uuid, config.uuid)
    return endpoint, secret


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().select_related("config").get(pk=endpoint.pk)
    _check_writable(endpoint.config)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, actor, url: str | None = None, events: list[str] | None = None
) -> WebhookEndpoint:
    changes = {}
    errors: dict[str, list[str]] = {}
    for field, value, check in (("url", url, _check_url), ("events", events, _check_events)):
        if value is None:
            continue
        try:
            changes[field] = check(value)
        except ApplicationError as error:
            errors.update(error.errors)
    if errors:
        raise ApplicationError("Some settings are not valid.", errors=errors)
    endpoint = _locked(endpoint)
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.save(update_fields=[*changes, "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, returned once; deliveries from now on are signed with it."""
    endpoint = _locked(endpoint)
    secret = _new_secret()
    endpoint.secret_encrypted = encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    logger.info("Webhook endpoint %s: signing secret rotated", endpoint.uuid)
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_set_active(*, endpoint: WebhookEndpoint, actor, is_active: bool) -> WebhookEndpoint:
    """Disable (nothing more is sent; waiting deliveries give up) or enable an endpoint."""
    endpoint = _locked(endpoint)
    endpoint.is_active = is_active
    endpoint.save(update_fields=["is_active", "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor) -> None:
    endpoint = _locked(endpoint)
    logger.info("Webhook endpoint %s deleted", endpoint.uuid)
    endpoint.delete()


# --- Emitting and delivering ---------------------------------------------------------------------


def _enqueue(delivery_ids: list[int]) -> None:
    from site_agent.tasks import webhook_deliver_task

    def send() -> None:
        for delivery_id in delivery_ids:
            webhook_deliver_task.delay(delivery_id)

    transaction.on_commit(send)


def webhook_emit(*, config: CustomerAgentConfig, event: str, payload: dict) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the config subscribed to `event`, sent after commit.

    Runs on every answered chat message, where most configs have no endpoint: that case is one query,
    with no transaction and no copy of the payload."""
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}")
    if config.state == ConfigState.ARCHIVED:
        return []
    endpoint_ids = list(
        WebhookEndpoint.objects.filter(config=config, is_active=True, events__contains=[event]).values_list(
            "pk", flat=True
        )
    )
    if not endpoint_ids:
        return []
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(endpoint_id=endpoint_id, event=event, payload=payload)
                for endpoint_id in endpoint_ids
            ]
        )
        _enqueue([delivery.pk for delivery in deliveries])
    return deliveries


@transaction.atomic
def webhook_redeliver(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery (the old one stays in the log as it was)."""
    endpoint = _locked(delivery.endpoint)
    if not endpoint.is_active:
        raise ConflictError("Enable the endpoint before redelivering to it.", code="endpoint_disabled")
    again = WebhookDelivery.objects.create(endpoint=endpoint, event=delivery.event, payload=delivery.payload)
    _enqueue([again.pk])
    return again


def delivery_body(delivery: WebhookDelivery, config: CustomerAgentConfig) -> bytes:
    body = {
        "id": str(delivery.uuid),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "agent": {"uuid": str(config.uuid), "name": config.agent_name},
        "data": delivery.payload,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The CMP-Signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    retry: bool  # worth another attempt later
    response_status: int | None = None
    error: str = ""


def _post(url: str, *, body: bytes, headers: dict[str, str], transport=None) -> AttemptResult:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = resolve(host, port, allow_private=settings.DEBUG)
    except UrlRefused as error:
        return AttemptResult(delivered=False, retry=error.code == "url_host_unknown", error=str(error))
    target = httpx.URL(url).copy_with(host=str(address))
    headers = {**headers, "Host": host if parts.port is None else f"{host}:{parts.port}"}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    timeouts = httpx.Timeout(TIMEOUT_SECONDS, connect=min(TIMEOUT_SECONDS, 5.0))
    try:
        with httpx.Client(
            timeout=timeouts, follow_redirects=False, trust_env=False, transport=transport
        ) as client:
            request = client.build_request(
                "POST", target, content=body, headers=headers, extensions=extensions
            )
            response = client.send(request)
    except httpx.TimeoutException:
        return AttemptResult(delivered=False, retry=True, error=f"No answer within {TIMEOUT_SECONDS:g} s.")
    except httpx.HTTPError as error:
        return AttemptResult(delivered=False, retry=True, error=f"No connection ({type(error).__name__}).")
    if 200 <= response.status_code < 300:
        return AttemptResult(delivered=True, retry=False, response_status=response.status_code)
    excerpt = response.text[:MAX_RESPONSE_EXCERPT].strip()
    message = f"Answered {response.status_code} {response.reason_phrase}"
    message += f" ({excerpt})." if excerpt else "."
    return AttemptResult(delivered=False, retry=True, response_status=response.status_code, error=message)


def webhook_delivery_attempt(*, delivery_id: int, transport=None) -> WebhookDelivery | None:
    """Make one attempt at a delivery and record it. Returns the delivery (None if it is gone).

    The status afterwards is delivered, retrying (the task schedules the next attempt) or failed.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint__config")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
            return delivery
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            delivery.status = DeliveryStatus.FAILED
            delivery.error_message = "The endpoint was disabled; nothing was sent."
            delivery.save(update_fields=["status", "error_message", "updated_at"])
            return delivery
        delivery.attempts += 1
        delivery.save(update_fields=["attempts", "updated_at"])
        attempt = delivery.attempts
        body = delivery_body(delivery, endpoint.config)
        secret = decrypt(endpoint.secret_encrypted)
        url = endpoint.url
    # The HTTP call happens outside the transaction: no row stays locked while a slow receiver answers.
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "CMP-Event": delivery.event,
        "CMP-Delivery": str(delivery.uuid),
        "CMP-Signature": sign(secret=secret, timestamp=timestamp, body=body),
    }
    result = _post(url, body=body, headers=headers, transport=transport)
    if result.delivered:
        status = DeliveryStatus.DELIVERED
    elif result.retry and attempt < MAX_ATTEMPTS:
        status = DeliveryStatus.RETRYING
    else:
        status = DeliveryStatus.FAILED
    error = result.error
    if status == DeliveryStatus.FAILED and result.retry:
        error = f"{error} Gave up after {attempt} attempts."
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        response_status=result.response_status,
        error_message=error[:2000],
        delivered_at=timezone.now() if result.delivered else None,
        updated_at=timezone.now(),
    )
    logger.info(
        "Webhook delivery %s (%s) attempt %s: %s %s",
        delivery.uuid,
        delivery.event,
        attempt,
        status,
        result.response_status or result.error,
    )
    delivery.refresh_from_db()
    return delivery
