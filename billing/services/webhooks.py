"""Stripe webhooks: an event is verified and stored once by its id, then processed in Celery.

Handlers read the current state of the object from Stripe and reconcile, so a duplicate is a no-op and the
order in which events arrive does not matter. A failure is kept on the event for admin to see and replay.
"""

import json
import logging
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import BillingSubscription, WebhookEvent, WebhookEventStatus
from billing.services.invoices import invoice_record, invoice_retrieve, invoice_subscription_id
from billing.services.payouts import payout_account_sync_by_id
from billing.services.subscriptions import subscription_sync_by_id
from cmp.errors import ApplicationError
from cmp.metrics import WEBHOOK_PROCESSING_LAG

logger = logging.getLogger(__name__)


class InvalidWebhook(ApplicationError):
    default_code = "invalid_signature"


@dataclass(frozen=True)
class Received:
    event: WebhookEvent
    is_new: bool


def webhook_event_receive(*, payload: bytes, signature: str | None) -> Received:
    """Verify Stripe's signature on the raw body and store the event once. Nothing is stored if it fails."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidWebhook("Stripe webhooks are not configured here.", code="webhooks_disabled")
    try:
        verified = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as error:
        raise InvalidWebhook("The Stripe signature does not match.") from error
    except ValueError as error:
        raise InvalidWebhook("The body is not a Stripe event.", code="invalid_payload") from error
    body = json.loads(payload)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(stripe_event_id=verified.id, type=verified.type, payload=body)
    except IntegrityError:
        return Received(event=WebhookEvent.objects.get(stripe_event_id=verified.id), is_new=False)
    from billing.tasks import webhook_event_process_task

    event_pk = event.pk
    transaction.on_commit(lambda: webhook_event_process_task.delay(event_pk))
    return Received(event=event, is_new=True)


def _checkout_session_completed(session: dict) -> None:
    if session.get("mode") != "subscription" or not session.get("subscription"):
        return
    subscription = session["subscription"]
    subscription_sync_by_id(
        stripe_subscription_id=subscription if isinstance(subscription, str) else subscription["id"]
    )


def _invoice_event(invoice_summary: dict, *, failed: bool) -> None:
    invoice = invoice_retrieve(stripe_invoice_id=invoice_summary["id"])
    subscription_id = invoice_subscription_id(invoice)
    billing = subscription_sync_by_id(stripe_subscription_id=subscription_id) if subscription_id else None
    invoice_record(invoice=invoice)
    if failed and billing is not None and invoice.get("status") != "paid":
        amount = f"{(invoice.get('amount_due') or 0) / 100:.2f} {(invoice.get('currency') or '').upper()}"
        BillingSubscription.objects.filter(pk=billing.pk).update(
            last_payment_error=f"Your payment of {amount} was declined. Check your card or use another one."
        )


def _subscription_event(subscription: dict) -> None:
    subscription_sync_by_id(stripe_subscription_id=subscription["id"])


def _account_updated(account: dict) -> None:
    payout_account_sync_by_id(stripe_account_id=account["id"])


HANDLERS = {
    "checkout.session.completed": _checkout_session_completed,
    "invoice.paid": lambda invoice: _invoice_event(invoice, failed=False),
    "invoice.payment_failed": lambda invoice: _invoice_event(invoice, failed=True),
    "customer.subscription.updated": _subscription_event,
    "customer.subscription.deleted": _subscription_event,
    "account.updated": _account_updated,
}


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Run the event's handler. Raises on failure (after recording it) so the task can retry."""
    event = WebhookEvent.objects.get(pk=event_id)
    if event.status in (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED):
        return event
    handler = HANDLERS.get(event.type)
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    if handler is None:
        return _finish(event, WebhookEventStatus.IGNORED)
    try:
        handler(event.payload["data"]["object"])
    except Exception as error:
        logger.exception("Stripe event %s (%s) failed", event.stripe_event_id, event.type)
        detail = error.detail if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookEventStatus.FAILED, last_error=detail[:4000], updated_at=timezone.now()
        )
        raise
    return _finish(event, WebhookEventStatus.PROCESSED)


def _finish(event: WebhookEvent, status: str) -> WebhookEvent:
    now = timezone.now()
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=status, last_error="", processed_at=now, updated_at=now
    )
    WEBHOOK_PROCESSING_LAG.labels(provider="stripe").observe((now - event.created_at).total_seconds())
    event.refresh_from_db()
    return event


def webhook_event_replay(*, event: WebhookEvent) -> None:
    """Admin: process a failed (or any) event again."""
    from billing.tasks import webhook_event_process_task

    WebhookEvent.objects.filter(pk=event.pk).update(
        status=WebhookEventStatus.RECEIVED, updated_at=timezone.now()
    )
    event_pk = event.pk
    transaction.on_commit(lambda: webhook_event_process_task.delay(event_pk))
