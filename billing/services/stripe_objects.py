"""Stripe objects that mirror ours: the organisation's customer, the offering's product, the plan's prices
and the usage meter. Each is created once (idempotency key + unique row) and reused."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from billing.models import BillingCustomer, PriceKind, StripeMeter, StripePrice, StripeProduct
from billing.stripe_client import get_stripe_client, stripe_call
from marketplace.models import Offering, Organization, Plan

logger = logging.getLogger(__name__)
OVERAGE_UNIT = 1000  # overage prices are per 1,000 calls


def _keep_first(model, lookup: dict, values: dict):
    """Insert the row, or return the one a concurrent request inserted first."""
    try:
        with transaction.atomic():
            return model.objects.create(**lookup, **values)
    except IntegrityError:
        return model.objects.get(**lookup)


def customer_ensure(*, organization: Organization) -> BillingCustomer:
    existing = BillingCustomer.objects.filter(organization=organization).first()
    if existing is not None:
        return existing
    client = get_stripe_client()
    customer = stripe_call(
        client.v1.customers.create,
        params={
            "name": organization.name,
            "email": organization.billing_email or organization.contact_email or None,
            "metadata": {"organization_uuid": str(organization.uuid)},
        },
        options={"idempotency_key": f"cmp-customer-{organization.uuid}"},
    )
    return _keep_first(BillingCustomer, {"organization": organization}, {"stripe_customer_id": customer.id})


def product_ensure(*, offering: Offering) -> StripeProduct:
    existing = StripeProduct.objects.filter(offering=offering).first()
    if existing is not None:
        return existing
    client = get_stripe_client()
    product = stripe_call(
        client.v1.products.create,
        params={
            "name": offering.name,
            "description": offering.summary or None,
            "metadata": {"offering_uuid": str(offering.uuid)},
        },
        options={"idempotency_key": f"cmp-product-{offering.uuid}"},
    )
    return _keep_first(StripeProduct, {"offering": offering}, {"stripe_product_id": product.id})


def meter_ensure() -> StripeMeter:
    event_name = settings.STRIPE_METER_EVENT_NAME
    existing = StripeMeter.objects.filter(event_name=event_name).first()
    if existing is not None:
        return existing
    client = get_stripe_client()
    found = stripe_call(client.v1.billing.meters.list, params={"status": "active", "limit": 100})
    meter = next((item for item in found.data if item.event_name == event_name), None)
    if meter is None:
        meter = stripe_call(
            client.v1.billing.meters.create,
            params={
                "display_name": "API calls beyond the plan quota",
                "event_name": event_name,
                "default_aggregation": {"formula": "sum"},
                "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
                "value_settings": {"event_payload_key": "value"},
            },
            options={"idempotency_key": f"cmp-meter-{event_name}"},
        )
    return _keep_first(StripeMeter, {"event_name": event_name}, {"stripe_meter_id": meter.id})


def _price_terms(plan: Plan, kind: str) -> dict:
    amount = plan.price_minor if kind == PriceKind.FIXED else plan.overage_price_per_1000_minor
    return {"unit_amount": amount, "currency": plan.currency.upper(), "interval": plan.billing_period}


def price_ensure(*, plan: Plan, kind: str = PriceKind.FIXED) -> StripePrice:
    """The Stripe price for the plan's current terms; a changed price or currency makes a new one."""
    terms = _price_terms(plan, kind)
    existing = StripePrice.objects.filter(plan=plan, kind=kind, **terms).first()
    if existing is not None:
        return existing
    product = product_ensure(offering=plan.offering)
    params: dict = {
        "product": product.stripe_product_id,
        "currency": terms["currency"].lower(),
        "unit_amount": terms["unit_amount"],
        "nickname": f"{plan.name} ({kind})",
        "metadata": {"plan_uuid": str(plan.uuid), "kind": kind},
    }
    if kind == PriceKind.FIXED:
        params["recurring"] = {"interval": plan.billing_period}
    else:
        meter = meter_ensure()
        params["recurring"] = {
            "interval": plan.billing_period,
            "usage_type": "metered",
            "meter": meter.stripe_meter_id,
        }
        params["transform_quantity"] = {"divide_by": OVERAGE_UNIT, "round": "up"}
    key = f"cmp-price-{plan.uuid}-{kind}-{terms['unit_amount']}-{terms['currency']}-{terms['interval']}"
    client = get_stripe_client()
    price = stripe_call(client.v1.prices.create, params=params, options={"idempotency_key": key})
    return _keep_first(StripePrice, {"plan": plan, "kind": kind, **terms}, {"stripe_price_id": price.id})


def plan_has_overage(plan: Plan) -> bool:
    """Whether calls are billed from the meter: those beyond the quota, or all of a usage-based plan's."""
    if not plan.overage_price_per_1000_minor:
        return False
    return plan.monthly_quota_calls is not None or plan.is_usage_based


def plan_has_fixed_fee(plan: Plan) -> bool:
    return plan.price_minor > 0


def plan_for_price(*, stripe_price_id: str) -> Plan | None:
    price = (
        StripePrice.objects.filter(stripe_price_id=stripe_price_id, kind=PriceKind.FIXED)
        .select_related("plan")
        .first()
    )
    return price.plan if price else None


def offering_sync_prices(*, offering: Offering) -> list[StripePrice]:
    """Create the product and current prices of an offering's plans on sale (called when it is published)."""
    prices = []
    for plan in offering.plans.filter(is_archived=False):
        if plan_has_fixed_fee(plan):
            prices.append(price_ensure(plan=plan))
        if plan_has_overage(plan):
            prices.append(price_ensure(plan=plan, kind=PriceKind.METERED))
    return prices
