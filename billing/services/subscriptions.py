"""Stripe subscriptions mirrored onto ours.

`subscription_sync` is the one reconciliation step every webhook ends in: it reads the subscription as
Stripe has it now (so events may come twice or in any order) and brings CMP in line:

    active / trialing  -> a pending order is marked paid (access granted), a suspension is lifted
    past_due / unpaid  -> grace period starts; after PAYMENT_GRACE_DAYS the agent's keys are suspended
    canceled / expired -> the subscription is terminated (keys revoked, runtime flow removed)
    another price      -> the plan follows (a downgrade waits for the end of the period)
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import (
    BillingSubscription,
    DuplicateSubscription,
    PriceKind,
    StripePrice,
    SubscriptionStatus,
)
from billing.selectors import billing_subscription_for_resource, billing_subscription_stripe_for_resource
from billing.services.checkout import billing_subscription_for_order
from billing.services.duplicates import duplicate_subscription_cancel
from billing.services.stripe_objects import (
    plan_for_price,
    plan_has_fixed_fee,
    plan_has_overage,
    price_ensure,
)
from billing.stripe_client import get_stripe_client, stripe_call
from cmp.errors import ApplicationError, ConflictError
from marketplace.models import Order, OrderState, OrderType, Plan, Resource, ResourceState
from marketplace.services.orders import order_change_plan, order_mark_paid, order_terminate
from site_agent.models import CustomerAgentConfig
from site_agent.services.configs import config_resume, config_suspend

logger = logging.getLogger(__name__)

PAID_STATUSES = {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}
OVERDUE_STATUSES = {SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID}
ENDED_STATUSES = {SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED}
OPEN_ORDER_STATES = (OrderState.PENDING_PAYMENT, OrderState.EXECUTING)


def timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _items(subscription: dict) -> tuple[dict | None, dict | None]:
    """The fixed-fee item and the metered item of a subscription."""
    fixed = metered = None
    for item in subscription.get("items", {}).get("data", []):
        recurring = (item.get("price") or {}).get("recurring") or {}
        if recurring.get("usage_type") == "metered":
            metered = item
        else:
            fixed = item
    return fixed, metered


WITHDRAWN_ORDER_STATES = (OrderState.CANCELED, OrderState.REJECTED)


def _configs_of(resource_id: int | None) -> list[CustomerAgentConfig]:
    """The agent configs a subscription pays for: its own, or those of the subscriptions a bundle includes."""
    if resource_id is None:
        return []
    return list(
        CustomerAgentConfig.objects.filter(
            Q(resource_id=resource_id) | Q(resource__included_in_id=resource_id)
        ).order_by("pk")
    )


def _has_open_change(resource: Resource) -> bool:
    return resource.orders.filter(state__in=OPEN_ORDER_STATES).exclude(type=OrderType.CREATE).exists()


def subscription_retrieve(*, stripe_subscription_id: str) -> dict:
    client = get_stripe_client()
    return stripe_call(client.v1.subscriptions.retrieve, stripe_subscription_id).to_dict()


def subscription_sync_by_id(*, stripe_subscription_id: str) -> BillingSubscription | None:
    return subscription_sync(
        subscription=subscription_retrieve(stripe_subscription_id=stripe_subscription_id)
    )


def subscription_sync(*, subscription: dict) -> BillingSubscription | None:
    """Bring CMP in line with a subscription as Stripe has it now. Idempotent."""
    order_uuid = (subscription.get("metadata") or {}).get("order_uuid")
    order = Order.objects.filter(uuid=order_uuid).first() if order_uuid else None
    if order is None:
        logger.warning("Stripe subscription %s names no order of ours; ignored.", subscription.get("id"))
        return None
    if order.state in WITHDRAWN_ORDER_STATES:
        # The buyer cancelled (or an operator rejected) the order while its checkout was still open, then
        # paid: nothing will be provided for it, so the payment goes back.
        if subscription.get("status") in PAID_STATUSES:
            duplicate_subscription_cancel(order=order, kept_subscription_id="", subscription=subscription)
        return None
    billing = billing_subscription_for_order(order=order)
    with transaction.atomic():
        billing = BillingSubscription.objects.select_for_update().get(pk=billing.pk)
        is_duplicate = _is_superseded(billing, subscription)
        if not is_duplicate:
            _copy_fields(billing, subscription)
            billing.save()
            _apply_status(billing)
    if is_duplicate:
        if (
            subscription.get("status") in PAID_STATUSES
            or DuplicateSubscription.objects.filter(stripe_subscription_id=subscription["id"]).exists()
        ):
            duplicate_subscription_cancel(
                order=order, kept_subscription_id=billing.stripe_subscription_id, subscription=subscription
            )
        return billing
    if billing.status in PAID_STATUSES:
        _follow_price(billing, subscription)
    return billing


def _is_superseded(billing: BillingSubscription, subscription: dict) -> bool:
    """A second subscription for an order that already has a live one (an abandoned retry paid late)."""
    return (
        bool(billing.stripe_subscription_id)
        and billing.stripe_subscription_id != subscription["id"]
        and billing.status not in ENDED_STATUSES | {SubscriptionStatus.INCOMPLETE}
    )


def _copy_fields(billing: BillingSubscription, subscription: dict) -> None:
    fixed, metered = _items(subscription)
    billing.stripe_subscription_id = subscription["id"]
    customer = subscription.get("customer")
    billing.stripe_customer_id = customer if isinstance(customer, str) else (customer or {}).get("id", "")
    billing.status = subscription.get("status") or SubscriptionStatus.INCOMPLETE
    billing.fixed_item_id = fixed["id"] if fixed else ""
    billing.metered_item_id = metered["id"] if metered else ""
    billed_item = fixed or metered  # a usage-based plan has only the metered item
    if billed_item:
        billing.current_period_start = timestamp(billed_item.get("current_period_start"))
        billing.current_period_end = timestamp(billed_item.get("current_period_end"))
    billing.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    billing.canceled_at = timestamp(subscription.get("ended_at") or subscription.get("canceled_at"))


def _apply_status(billing: BillingSubscription) -> None:
    order = Order.objects.select_related("resource").get(pk=billing.order_id)
    if billing.status in PAID_STATUSES:
        if order.state == OrderState.PENDING_PAYMENT:
            order_mark_paid(order=order, actor=None, reference=billing.stripe_subscription_id)
        billing.last_payment_error = ""
        billing.past_due_since = None
        if billing.suspended_at is not None:
            for config in _configs_of(order.resource_id):
                config_resume(config=config)
            billing.suspended_at = None
        _mirror_period(order.resource, billing)
    elif billing.status in OVERDUE_STATUSES:
        if billing.past_due_since is None:
            billing.past_due_since = timezone.now()
    elif billing.status in ENDED_STATUSES:
        resource = order.resource
        if resource is not None and resource.state in (ResourceState.OK, ResourceState.ERRED):
            if _has_open_change(resource):
                raise ConflictError(
                    "The subscription has a change in progress; cancelling later.", code="busy"
                )
            order_terminate(resource=resource, actor=None)
    billing.save()
    if billing.is_past_due:
        subscription_enforce_grace(billing=billing)


def _mirror_period(resource: Resource | None, billing: BillingSubscription) -> None:
    """Our subscription shows the period Stripe bills for."""
    if resource is None or billing.current_period_end is None:
        return
    Resource.objects.filter(pk=resource.pk).update(
        current_period_start=billing.current_period_start, current_period_end=billing.current_period_end
    )


def _follow_price(billing: BillingSubscription, subscription: dict) -> None:
    """The plan follows the price Stripe bills (a change made in the customer portal, or a due downgrade)."""
    fixed, _metered = _items(subscription)
    plan = plan_for_price(stripe_price_id=(fixed or {}).get("price", {}).get("id", "")) if fixed else None
    resource = Order.objects.get(pk=billing.order_id).resource
    if plan is None or resource is None or resource.state != ResourceState.OK or plan.pk == resource.plan_id:
        return
    if (
        billing.scheduled_plan_id == plan.pk
        and billing.scheduled_change_at
        and timezone.now() < billing.scheduled_change_at
    ):
        return  # a downgrade: the current plan stays until the period it was paid for ends
    if _has_open_change(resource):
        return
    with transaction.atomic():
        order = order_change_plan(resource=resource, plan=plan, actor=None)
        if order.state == OrderState.PENDING_PAYMENT:
            order_mark_paid(order=order, actor=None, reference=billing.stripe_subscription_id)
        BillingSubscription.objects.filter(pk=billing.pk).update(
            scheduled_plan=None, scheduled_change_at=None
        )


@transaction.atomic
def subscription_enforce_grace(*, billing: BillingSubscription) -> BillingSubscription:
    """Past due for longer than the grace period: suspend the agent's keys until the buyer pays."""
    billing = BillingSubscription.objects.select_for_update().get(pk=billing.pk)
    if not billing.is_past_due or billing.past_due_since is None or billing.suspended_at is not None:
        return billing
    if timezone.now() < billing.past_due_since + timedelta(days=settings.PAYMENT_GRACE_DAYS):
        return billing
    for config in _configs_of(Order.objects.values_list("resource_id", flat=True).get(pk=billing.order_id)):
        config_suspend(config=config)
    billing.suspended_at = timezone.now()
    billing.save(update_fields=["suspended_at", "updated_at"])
    logger.info(
        "Subscription %s suspended: past due since %s", billing.stripe_subscription_id, billing.past_due_since
    )
    return billing


def grace_period_enforce_all() -> int:
    cutoff = timezone.now() - timedelta(days=settings.PAYMENT_GRACE_DAYS)
    due = BillingSubscription.objects.filter(
        status__in=OVERDUE_STATUSES, past_due_since__lte=cutoff, suspended_at__isnull=True
    )
    count = 0
    for billing in due:
        if subscription_enforce_grace(billing=billing).suspended_at is not None:
            count += 1
    return count


# --- Changes the buyer asks for ----------------------------------------------------------------------


def billing_subscription_of(resource: Resource) -> BillingSubscription | None:
    """Its Stripe subscription (made when it was bought, or when it left a free plan at Checkout), else the
    record of the order that bought it."""
    return billing_subscription_for_resource(resource=resource)


def _stripe_billed(resource: Resource) -> BillingSubscription:
    billing = billing_subscription_stripe_for_resource(resource_id=resource.pk)
    if billing is None:
        raise ConflictError("This subscription is not billed through Stripe.", code="not_stripe_billed")
    return billing


def is_stripe_billed(resource: Resource) -> bool:
    return billing_subscription_stripe_for_resource(resource_id=resource.pk) is not None


def subscription_plan_change_request(*, resource: Resource, plan: Plan, actor) -> Order | BillingSubscription:
    """A buyer asks for another plan (billing page or dashboard). Billed through Stripe: upgrade now with
    proration, downgrade at period end. Otherwise (free, manual payments) the marketplace's plan change
    order, which a move to a paid plan pays at Stripe Checkout when Stripe is on (see checkout_start)."""
    if is_stripe_billed(resource):
        return subscription_change_plan(resource=resource, plan=plan, actor=actor)
    return order_change_plan(resource=resource, plan=plan, actor=actor)


def subscription_change_plan(*, resource: Resource, plan: Plan, actor) -> Order | BillingSubscription:
    """Upgrade at once, paying the prorated difference now; downgrade at the end of the paid period.

    Returns the executing order of an upgrade, or the billing record with the scheduled downgrade.
    """
    billing = _stripe_billed(resource)
    resource = Resource.objects.select_related("plan").get(pk=resource.pk)
    if plan.offering_id != resource.offering_id or plan.is_archived:
        raise ApplicationError("Choose a plan of the same offering.", errors={"plan": ["Not available."]})
    if plan.pk == resource.plan_id:
        if billing.scheduled_plan_id:
            return subscription_cancel_scheduled_change(resource=resource, actor=actor)
        raise ConflictError("The subscription is already on this plan.", code="same_plan")
    if plan.price_minor > resource.plan.price_minor:
        order = order_change_plan(resource=resource, plan=plan, actor=actor)
        return subscription_upgrade_pay(order=order, actor=actor)
    _stripe_set_price(billing, plan, proration="none")
    BillingSubscription.objects.filter(pk=billing.pk).update(
        scheduled_plan=plan, scheduled_change_at=billing.current_period_end or timezone.now()
    )
    billing.refresh_from_db()
    return billing


def subscription_cancel_scheduled_change(*, resource: Resource, actor) -> BillingSubscription:
    billing = _stripe_billed(resource)
    if billing.scheduled_plan_id is None:
        return billing
    _stripe_set_price(billing, resource.plan, proration="none")
    BillingSubscription.objects.filter(pk=billing.pk).update(scheduled_plan=None, scheduled_change_at=None)
    billing.refresh_from_db()
    return billing


def subscription_upgrade_pay(*, order: Order, actor) -> Order:
    """Pay a pending plan upgrade: Stripe charges the prorated difference at once or refuses the change."""
    order = Order.objects.select_related("resource", "plan").get(pk=order.pk)
    if order.type != OrderType.UPDATE or order.state != OrderState.PENDING_PAYMENT:
        raise ConflictError("This order is not a plan change waiting for payment.", code="not_payable")
    billing = _stripe_billed(order.resource)
    _stripe_set_price(billing, order.plan, proration="always_invoice", payment_behavior="error_if_incomplete")
    BillingSubscription.objects.filter(pk=billing.pk).update(scheduled_plan=None, scheduled_change_at=None)
    return order_mark_paid(order=order, actor=actor, reference=billing.stripe_subscription_id)


def _item_change(item_id: str, price_id: str | None) -> list[dict]:
    """One subscription item moved to a new price, added, or removed (a plan without that kind of price)."""
    if item_id and price_id:
        return [{"id": item_id, "price": price_id}]
    if item_id:
        return [{"id": item_id, "deleted": True}]
    if price_id:
        return [{"price": price_id}]
    return []


def _stripe_set_price(
    billing: BillingSubscription, plan: Plan, *, proration: str, payment_behavior: str = ""
) -> None:
    """Bill `plan` from now on: its fixed fee and its metered calls, each on its own subscription item."""
    fixed_price = price_ensure(plan=plan).stripe_price_id if plan_has_fixed_fee(plan) else None
    metered_price = (
        price_ensure(plan=plan, kind=PriceKind.METERED).stripe_price_id if plan_has_overage(plan) else None
    )
    params: dict = {
        "items": _item_change(billing.fixed_item_id, fixed_price)
        + _item_change(billing.metered_item_id, metered_price),
        "proration_behavior": proration,
    }
    if payment_behavior:
        params["payment_behavior"] = payment_behavior
    client = get_stripe_client()
    updated = stripe_call(
        client.v1.subscriptions.update, billing.stripe_subscription_id, params=params
    ).to_dict()
    fixed, metered = _items(updated)
    billing.fixed_item_id = fixed["id"] if fixed else ""
    billing.metered_item_id = metered["id"] if metered else ""
    BillingSubscription.objects.filter(pk=billing.pk).update(
        fixed_item_id=billing.fixed_item_id, metered_item_id=billing.metered_item_id
    )


def subscription_set_cancel_at_period_end(*, resource: Resource, actor, cancel: bool) -> BillingSubscription:
    """Cancel at the end of the paid period, or take that back. Stripe ends it and tells us by webhook."""
    billing = _stripe_billed(resource)
    client = get_stripe_client()
    stripe_call(
        client.v1.subscriptions.update,
        billing.stripe_subscription_id,
        params={"cancel_at_period_end": cancel},
    )
    BillingSubscription.objects.filter(pk=billing.pk).update(cancel_at_period_end=cancel)
    billing.refresh_from_db()
    return billing


def subscription_cancel_now(*, resource_id: int) -> None:
    """Our subscription is being terminated (by the buyer, an operator or Stripe): stop billing it now."""
    resource = Resource.objects.get(pk=resource_id)
    billing = billing_subscription_of(resource)
    if billing is None or not billing.stripe_subscription_id or billing.status in ENDED_STATUSES:
        return
    client = get_stripe_client()
    subscription = stripe_call(client.v1.subscriptions.cancel, billing.stripe_subscription_id).to_dict()
    subscription_sync(subscription=subscription)


def subscription_follow_plan(*, resource_id: int) -> None:
    """Our plan changed outside billing's pages (dashboard, admin): bill the new plan from now on."""
    resource = Resource.objects.select_related("plan").get(pk=resource_id)
    billing = billing_subscription_of(resource)
    if billing is None or not billing.stripe_subscription_id or billing.status not in PAID_STATUSES:
        return
    subscription = subscription_retrieve(stripe_subscription_id=billing.stripe_subscription_id)
    if _bills_plan(subscription, resource.plan):
        return
    if billing.scheduled_plan_id and billing.scheduled_plan_id != resource.plan_id:
        return
    _stripe_set_price(billing, resource.plan, proration="create_prorations")


def _bills_plan(subscription: dict, plan: Plan) -> bool:
    """Whether the subscription's items already carry the plan's prices (fixed fee and metered calls)."""
    prices = set(StripePrice.objects.filter(plan=plan).values_list("stripe_price_id", flat=True))
    wanted_kinds = (plan_has_fixed_fee(plan), plan_has_overage(plan))
    for item, wanted in zip(_items(subscription), wanted_kinds, strict=True):
        if (item is not None) != wanted or (item is not None and item["price"]["id"] not in prices):
            return False
    return True


def scheduled_changes_apply() -> int:
    """Downgrades whose period has ended take effect (Stripe already bills the new price)."""
    due = BillingSubscription.objects.filter(
        scheduled_plan__isnull=False, scheduled_change_at__lte=timezone.now()
    )
    applied = 0
    for billing in due.select_related("order__resource", "scheduled_plan"):
        resource = billing.order.resource
        if resource is None or resource.state != ResourceState.OK or _has_open_change(resource):
            continue
        with transaction.atomic():
            if resource.plan_id != billing.scheduled_plan_id:
                order_change_plan(resource=resource, plan=billing.scheduled_plan, actor=None)
            BillingSubscription.objects.filter(pk=billing.pk).update(
                scheduled_plan=None, scheduled_change_at=None
            )
        applied += 1
    return applied
