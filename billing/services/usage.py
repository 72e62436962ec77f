"""Metered overage: calls beyond a plan's quota go to the Stripe Billing Meter, hourly.

Our usage tables are the source of truth. Each run sends, per subscription period, the difference between
the overage counted now and what was already reported; the meter event's `identifier` is derived from the
running total, so a run repeated after a crash sends the same identifier and Stripe counts it once.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from billing.models import BillingSubscription, OverageReport
from billing.services.stripe_objects import meter_ensure, plan_has_overage
from billing.services.subscriptions import PAID_STATUSES
from billing.stripe_client import get_stripe_client, stripe_call
from marketplace.models import Plan
from site_agent.models import UsageDaily

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverageSent:
    subscription_id: int
    calls: int
    identifier: str


def period_quota(plan: Plan) -> int:
    months = 12 if plan.billing_period == "year" else 1
    return (plan.monthly_quota_calls or 0) * months


def overage_calls(*, billing: BillingSubscription, plan: Plan, resource_id: int) -> int:
    start, end = billing.current_period_start, billing.current_period_end
    # A bundle's calls are those of the subscriptions it includes.
    days = UsageDaily.objects.filter(
        Q(config__resource_id=resource_id) | Q(config__resource__included_in_id=resource_id),
        day__gte=start.date(),
    )
    if end is not None:
        days = days.filter(day__lt=end.date())
    used = days.aggregate(total=Sum("api_calls"))["total"] or 0
    return max(0, used - period_quota(plan))


def overage_report_subscription(*, billing: BillingSubscription) -> OverageSent | None:
    resource = billing.order.resource
    if resource is None or billing.current_period_start is None or not plan_has_overage(resource.plan):
        return None
    total = overage_calls(billing=billing, plan=resource.plan, resource_id=resource.pk)
    report, _created = OverageReport.objects.get_or_create(
        subscription=billing, period_start=billing.current_period_start
    )
    delta = total - report.reported_calls
    if delta <= 0:
        return None
    identifier = f"cmp-{billing.uuid}-{int(billing.current_period_start.timestamp())}-{total}"
    client = get_stripe_client()
    stripe_call(
        client.v1.billing.meter_events.create,
        params={
            "event_name": meter_ensure().event_name,
            "identifier": identifier,
            "timestamp": int(timezone.now().timestamp()),
            "payload": {"stripe_customer_id": billing.stripe_customer_id, "value": str(delta)},
        },
    )
    OverageReport.objects.filter(pk=report.pk, reported_calls=report.reported_calls).update(
        reported_calls=total
    )
    logger.info(
        "Reported %s overage calls for %s (%s in the period)", delta, billing.stripe_subscription_id, total
    )
    return OverageSent(subscription_id=billing.pk, calls=delta, identifier=identifier)


def overage_report_all() -> list[OverageSent]:
    if not settings.STRIPE_SECRET_KEY:
        return []
    subscriptions = (
        BillingSubscription.objects.filter(status__in=PAID_STATUSES, current_period_start__isnull=False)
        .exclude(metered_item_id="")
        .select_related("order__resource__plan")
    )
    sent = []
    for billing in subscriptions:
        try:
            result = overage_report_subscription(billing=billing)
        except Exception:
            logger.exception(
                "Overage report for %s failed; next run tries again", billing.stripe_subscription_id
            )
            continue
        if result is not None:
            sent.append(result)
    return sent
