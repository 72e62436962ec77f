"""A second subscription for one order: the buyer abandoned a Checkout, paid another, then the first one
too (or Stripe finished it late). CMP keeps the subscription it already has, cancels the other in Stripe at
once and refunds its first payment in full, and records what it did."""

import logging

from django.db import transaction
from django.utils import timezone

from billing.models import DuplicateSubscription
from billing.stripe_client import get_stripe_client, stripe_call
from marketplace.models import Order

logger = logging.getLogger(__name__)

ENDED = {"canceled", "incomplete_expired"}


def duplicate_subscription_cancel(
    *, order: Order, kept_subscription_id: str, subscription: dict
) -> DuplicateSubscription:
    """Cancel `subscription` without proration (its first payment is refunded whole) and refund it.

    Idempotent: each step is recorded once done, and Stripe calls carry idempotency keys."""
    subscription_id = subscription["id"]
    with transaction.atomic():
        record, _created = DuplicateSubscription.objects.select_for_update().get_or_create(
            stripe_subscription_id=subscription_id,
            defaults={"order": order, "kept_subscription_id": kept_subscription_id},
        )
    client = get_stripe_client()
    if record.canceled_at is None:
        if subscription.get("status") not in ENDED:
            stripe_call(
                client.v1.subscriptions.cancel,
                subscription_id,
                params={
                    "prorate": False,
                    "invoice_now": False,
                    "cancellation_details": {"comment": _reason(order, kept_subscription_id)},
                },
                options={"idempotency_key": f"cmp-duplicate-cancel-{subscription_id}"},
            )
        record.canceled_at = timezone.now()
        record.save(update_fields=["canceled_at", "updated_at"])
        logger.warning(
            "Order %s: duplicate subscription %s cancelled; %s kept.",
            order.uuid,
            subscription_id,
            kept_subscription_id,
        )
    if record.refunded_at is None:
        _refund_first_payment(record, subscription)
    return record


def _reason(order: Order, kept_subscription_id: str) -> str:
    if kept_subscription_id:
        return f"Duplicate of {kept_subscription_id} for order {order.uuid}; refunded."
    return f"Paid after order {order.uuid} was withdrawn; refunded."


def _invoice_id(subscription: dict) -> str:
    latest = subscription.get("latest_invoice")
    return latest.get("id", "") if isinstance(latest, dict) else latest or ""


def _refund_first_payment(record: DuplicateSubscription, subscription: dict) -> None:
    invoice_id = _invoice_id(subscription)
    client = get_stripe_client()
    payment = None
    if invoice_id:
        # `payments` is includable: listed only when asked for.
        invoice = stripe_call(
            client.v1.invoices.retrieve, invoice_id, params={"expand": ["payments"]}
        ).to_dict()
        record.currency = (invoice.get("currency") or "").upper()
        payments = (invoice.get("payments") or {}).get("data", [])
        payment = next(
            (
                item
                for item in payments
                if item.get("status") == "paid" and (item.get("payment") or {}).get("payment_intent")
            ),
            None,
        )
    if payment is not None:
        intent = payment["payment"]["payment_intent"]
        params: dict = {
            "payment_intent": intent if isinstance(intent, str) else intent["id"],
            "amount": payment["amount_paid"],
            "reason": "duplicate",
            "metadata": {
                "order_uuid": str(record.order.uuid),
                "duplicate_subscription": record.stripe_subscription_id,
                "kept_subscription": record.kept_subscription_id,
            },
        }
        if subscription.get("transfer_data"):
            # A destination charge: take the seller's transfer and the platform fee back too.
            params.update(reverse_transfer=True, refund_application_fee=True)
        refund = stripe_call(
            client.v1.refunds.create,
            params=params,
            options={"idempotency_key": f"cmp-duplicate-refund-{record.stripe_subscription_id}"},
        )
        record.stripe_refund_id = refund.id
        record.amount_refunded_minor = refund.amount
    record.stripe_invoice_id = invoice_id
    record.refunded_at = timezone.now()
    record.save(
        update_fields=[
            "stripe_invoice_id",
            "stripe_refund_id",
            "amount_refunded_minor",
            "currency",
            "refunded_at",
            "updated_at",
        ]
    )
