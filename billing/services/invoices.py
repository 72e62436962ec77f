"""Invoices: Stripe's mirrored here (billing history), and local ones for payments confirmed by hand."""

import logging
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import BillingSubscription, Invoice, InvoiceStatus
from billing.services.subscriptions import timestamp
from billing.stripe_client import get_stripe_client, stripe_call
from marketplace.models import Order, Organization

logger = logging.getLogger(__name__)


def platform_fee(amount_minor: int) -> int:
    fee = Decimal(amount_minor) * Decimal(str(settings.PLATFORM_FEE_PERCENT)) / 100
    return int(fee.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def invoice_subscription_id(invoice: dict) -> str:
    """Since API 2025-03, an invoice names its subscription under parent.subscription_details."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    subscription = details.get("subscription")
    if isinstance(subscription, dict):
        return subscription.get("id", "")
    return subscription or ""


def invoice_retrieve(*, stripe_invoice_id: str) -> dict:
    client = get_stripe_client()
    return stripe_call(client.v1.invoices.retrieve, stripe_invoice_id).to_dict()


def invoice_record(*, invoice: dict) -> Invoice | None:
    """Store or refresh a Stripe invoice of one of our subscriptions. Idempotent."""
    subscription_id = invoice_subscription_id(invoice)
    billing = (
        BillingSubscription.objects.filter(stripe_subscription_id=subscription_id)
        .select_related("order__offering")
        .first()
        if subscription_id
        else None
    )
    organization = billing.organization if billing else _organization_of_customer(invoice.get("customer"))
    if organization is None:
        logger.warning("Invoice %s belongs to no customer of ours; ignored.", invoice.get("id"))
        return None
    amount_paid = invoice.get("amount_paid") or 0
    values = {
        "organization": organization,
        "subscription": billing,
        "order": billing.order if billing else None,
        "offering": billing.order.offering if billing else None,
        "number": invoice.get("number") or "",
        "status": invoice.get("status") or InvoiceStatus.DRAFT,
        "amount_due_minor": invoice.get("amount_due") or 0,
        "amount_paid_minor": amount_paid,
        "platform_fee_minor": platform_fee(amount_paid),
        "currency": (invoice.get("currency") or "usd").upper(),
        "billing_reason": invoice.get("billing_reason") or "",
        "hosted_invoice_url": invoice.get("hosted_invoice_url") or "",
        "invoice_pdf": invoice.get("invoice_pdf") or "",
        "period_start": timestamp(invoice.get("period_start")),
        "period_end": timestamp(invoice.get("period_end")),
        "paid_at": timestamp((invoice.get("status_transitions") or {}).get("paid_at")),
    }
    stored, _created = Invoice.objects.update_or_create(stripe_invoice_id=invoice["id"], defaults=values)
    return stored


def _organization_of_customer(customer) -> Organization | None:
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    if not customer_id:
        return None
    return Organization.objects.filter(billing_customer__stripe_customer_id=customer_id).first()


def manual_invoice_record(*, order: Order) -> Invoice:
    """Manual mode: an operator confirmed a payment; the invoice is kept locally. Once per order."""
    existing = Invoice.objects.filter(order=order, is_manual=True).first()
    if existing is not None:
        return existing
    paid_at = order.paid_at or timezone.now()
    try:
        with transaction.atomic():
            return Invoice.objects.create(
                organization_id=order.organization_id,
                order=order,
                offering_id=order.offering_id,
                subscription=BillingSubscription.objects.filter(order=order).first(),
                number=f"CMP-{paid_at:%Y%m}-{str(order.uuid)[:8].upper()}",
                status=InvoiceStatus.PAID,
                amount_due_minor=order.cost_minor,
                amount_paid_minor=order.cost_minor,
                platform_fee_minor=platform_fee(order.cost_minor),
                currency=order.currency,
                billing_reason="manual",
                paid_at=paid_at,
                is_manual=True,
            )
    except IntegrityError:
        return Invoice.objects.get(order=order, is_manual=True)
