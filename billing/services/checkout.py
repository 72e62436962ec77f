"""Paying for an order: a Stripe Checkout session in subscription mode (or manual mode without Stripe).

The session only starts the payment. Access is granted when Stripe's signed webhook says the subscription
is paid (see billing.services.subscriptions.subscription_sync), never by the buyer coming back to the
success page.
"""

import datetime
import uuid as uuid_module
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import BillingSubscription, PriceKind, SellerPayoutAccount, SubscriptionStatus
from billing.selectors import billing_subscription_for_resource, billing_subscription_stripe_for_resource
from billing.services.stripe_objects import (
    customer_ensure,
    plan_has_fixed_fee,
    plan_has_overage,
    price_ensure,
)
from billing.stripe_client import get_stripe_client, stripe_call
from cmp.errors import ConflictError
from marketplace.models import Order, OrderState, OrderType, ResourceState


@dataclass(frozen=True)
class CheckoutStart:
    session_id: str
    checkout_url: str


def billing_subscription_for_order(*, order: Order) -> BillingSubscription:
    """The billing record of a subscribing order, created on first use."""
    existing = BillingSubscription.objects.filter(order=order).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return BillingSubscription.objects.create(organization_id=order.organization_id, order=order)
    except IntegrityError:
        return BillingSubscription.objects.get(order=order)


def order_pays_at_checkout(order: Order) -> bool:
    """Checkout makes a new Stripe subscription: for a new subscription, and for a plan change of one that
    Stripe does not bill yet (a free or manually paid one moving to a paid plan). A plan change of a
    subscription Stripe bills is charged on that subscription instead (subscription_upgrade_pay)."""
    if order.type == OrderType.CREATE:
        return True
    return (
        order.type == OrderType.UPDATE
        and billing_subscription_stripe_for_resource(resource_id=order.resource_id) is None
    )


def _check_payable(order: Order) -> None:
    if not order_pays_at_checkout(order):
        raise ConflictError(
            "Plan changes of a subscription billed through Stripe are paid from its billing page.",
            code="not_checkout",
        )
    if order.state != OrderState.PENDING_PAYMENT:
        raise ConflictError("This order is not waiting for payment.", code="not_payable")
    if order.type == OrderType.UPDATE and order.resource.state != ResourceState.OK:
        raise ConflictError("Only an active subscription can change plan.", code="not_active")


def _seller_transfer(order: Order) -> dict:
    """Platform fee and transfer to the seller's connected account, once the seller finished onboarding."""
    account = SellerPayoutAccount.objects.filter(provider_id=order.offering.provider_id).first()
    if account is None or not account.is_ready:
        return {}
    return {
        "application_fee_percent": settings.PLATFORM_FEE_PERCENT,
        "transfer_data": {"destination": account.stripe_account_id},
    }


# A Checkout session can be paid for 24 hours; the credit's coupon outlives it a little, then expires unused.
CREDIT_REDEEMABLE_FOR = datetime.timedelta(hours=25)


def manual_period_credit(*, order: Order, now: datetime.datetime | None = None) -> int:
    """What a plan change owes the buyer for a period paid outside Stripe (a bank transfer an operator marked
    paid), in minor units: the current plan's price for the unused share of that period, at most the new
    plan's price. 0 when Stripe already bills it (Stripe prorates itself), or the currencies differ."""
    resource = order.resource
    if order.type != OrderType.UPDATE or resource is None:
        return 0
    billing = billing_subscription_for_resource(resource=resource)
    if billing is None or billing.status != SubscriptionStatus.MANUAL:
        return 0
    paid_plan = resource.plan
    start, end = resource.current_period_start, resource.current_period_end
    if paid_plan.currency != order.plan.currency or start is None or end is None or end <= start:
        return 0
    unused = (end - max(now or timezone.now(), start)) / (end - start)
    return max(0, min(round(paid_plan.price_minor * unused), order.plan.price_minor))


def _credit_coupon(*, order: Order, amount_minor: int) -> str:
    """A one-off Stripe coupon worth the credit, for this Checkout session only: Checkout shows it as a
    discount on the first invoice. A session that is never paid leaves it unused until it expires."""
    coupon = stripe_call(
        get_stripe_client().v1.coupons.create,
        params={
            "amount_off": amount_minor,
            "currency": order.plan.currency.lower(),
            "duration": "once",
            "max_redemptions": 1,
            "redeem_by": int((timezone.now() + CREDIT_REDEEMABLE_FOR).timestamp()),
            "name": f"Unused {order.resource.plan.name} time"[:40],
            "metadata": {"order_uuid": str(order.uuid), "reason": "manual_period_credit"},
        },
        options={"idempotency_key": f"cmp-credit-{order.uuid}-{uuid_module.uuid4()}"},
    )
    return coupon.id


def checkout_start(*, order: Order, actor, success_url: str, cancel_url: str) -> CheckoutStart:
    """A Checkout session for a pending order: a new subscription, or a free (or manually paid) one moving to
    a paid plan, which gets its Stripe subscription here; the unused part of a manually paid period is
    credited on its first invoice. Each attempt is a new session: a declined buyer retries."""
    order = Order.objects.select_related("plan", "offering", "organization", "resource__plan").get(
        pk=order.pk
    )
    _check_payable(order)
    customer = customer_ensure(organization=order.organization)
    line_items = []
    if plan_has_fixed_fee(order.plan):
        line_items.append({"price": price_ensure(plan=order.plan).stripe_price_id, "quantity": 1})
    if plan_has_overage(order.plan):  # a metered price: no quantity, Stripe bills what the meter counted
        line_items.append({"price": price_ensure(plan=order.plan, kind=PriceKind.METERED).stripe_price_id})
    metadata = {
        "order_uuid": str(order.uuid),
        "organization_uuid": str(order.organization.uuid),
        "offering_uuid": str(order.offering.uuid),
        "plan_uuid": str(order.plan.uuid),
    }
    if order.resource is not None:
        metadata["resource_uuid"] = str(order.resource.uuid)
    subscription_data: dict = {"metadata": metadata, **_seller_transfer(order)}
    if order.plan.trial_days and order.type == OrderType.CREATE:  # a trial is for new subscribers
        subscription_data["trial_period_days"] = order.plan.trial_days
    params = {
        "mode": "subscription",
        "customer": customer.stripe_customer_id,
        "client_reference_id": str(order.uuid),
        "line_items": line_items,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "subscription_data": subscription_data,
        "metadata": metadata,
    }
    credit = manual_period_credit(order=order)
    if credit:
        params["discounts"] = [{"coupon": _credit_coupon(order=order, amount_minor=credit)}]
    client = get_stripe_client()
    session = stripe_call(
        client.v1.checkout.sessions.create,
        params=params,
        options={"idempotency_key": f"cmp-checkout-{order.uuid}-{uuid_module.uuid4()}"},
    )
    billing = billing_subscription_for_order(order=order)
    BillingSubscription.objects.filter(pk=billing.pk).update(stripe_customer_id=customer.stripe_customer_id)
    return CheckoutStart(session_id=session.id, checkout_url=session.url)


def order_needs_payment(order: Order) -> bool:
    """Waiting for a payment: a fixed fee, or a card on file for a usage-based plan's metered bills."""
    return order.state == OrderState.PENDING_PAYMENT and (order.cost_minor > 0 or order.plan.is_usage_based)


def manual_subscription_record(*, order: Order) -> BillingSubscription:
    """Manual mode: the order was paid outside Stripe."""
    billing = billing_subscription_for_order(order=order)
    if billing.status != SubscriptionStatus.MANUAL and not billing.stripe_subscription_id:
        BillingSubscription.objects.filter(pk=billing.pk).update(status=SubscriptionStatus.MANUAL)
        billing.status = SubscriptionStatus.MANUAL
    return billing
