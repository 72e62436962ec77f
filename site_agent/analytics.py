"""Seller analytics: read-only aggregates over an agent's deployments, usage and paid orders.

Each figure is one aggregate query, so the page and the API cost the same few queries however many
buyers, days or orders there are.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import (
    BigIntegerField,
    Count,
    DateTimeField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from marketplace.models import Order, OrderState, Resource, ResourceState, ServiceProvider
from site_agent.models import AgentIdentity, ConfigState, CustomerAgentConfig, DemoUsageDaily, UsageDaily

DEFAULT_DAYS = 30
MAX_DAYS = 365


@dataclass(frozen=True)
class DayUsage:
    day: datetime.date
    api_calls: int


@dataclass(frozen=True)
class Revenue:
    currency: str
    amount_minor: int


@dataclass
class AgentAnalytics:
    """An agent's figures over the last `days` days (today included)."""

    days: int
    start: datetime.date
    end: datetime.date
    deployments: int = 0
    active_deployments: int = 0
    api_calls: int = 0
    demo_calls: int = 0
    tokens_input: int = 0
    tokens_output: int = 0
    revenue: list[Revenue] = field(default_factory=list)
    calls_per_day: list[DayUsage] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.tokens_input + self.tokens_output

    @property
    def peak_calls(self) -> int:
        return max((point.api_calls for point in self.calls_per_day), default=0)


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def agent_analytics(
    *, agent: AgentIdentity, days: int = DEFAULT_DAYS, today: datetime.date | None = None
) -> AgentAnalytics:
    """Deployments (configs ever created and those live now), usage and revenue over a window of days.

    Active deployments are configs in state active whose subscription is OK. Usage sums `UsageDaily`, demo
    messages `DemoUsageDaily`; revenue sums the cost of done orders paid inside the window, per currency.
    """
    days = max(1, min(int(days), MAX_DAYS))
    end = today or timezone.localdate()
    start = end - datetime.timedelta(days=days - 1)
    result = AgentAnalytics(days=days, start=start, end=end)

    counts = CustomerAgentConfig.objects.filter(agent=agent).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(state=ConfigState.ACTIVE, resource__state=ResourceState.OK)),
    )
    result.deployments, result.active_deployments = counts["total"], counts["active"]

    per_day = {
        row["day"]: row
        for row in UsageDaily.objects.filter(config__agent=agent, day__gte=start, day__lte=end)
        .values("day")
        .annotate(
            api_calls=Sum("api_calls"),
            tokens_input=Sum("tokens_input"),
            tokens_output=Sum("tokens_output"),
        )
        .order_by()
    }
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        row = per_day.get(day)
        result.calls_per_day.append(DayUsage(day=day, api_calls=row["api_calls"] if row else 0))
    for row in per_day.values():
        result.api_calls += row["api_calls"]
        result.tokens_input += row["tokens_input"]
        result.tokens_output += row["tokens_output"]

    result.demo_calls = (
        DemoUsageDaily.objects.filter(offering_id=agent.offering_id, day__gte=start, day__lte=end).aggregate(
            calls=Sum("calls")
        )["calls"]
        or 0
    )

    result.revenue = [
        Revenue(currency=row["currency"], amount_minor=row["amount"])
        for row in Order.objects.filter(
            offering_id=agent.offering_id,
            state=OrderState.DONE,
            paid_at__gte=_day_start(start),
            paid_at__lt=_day_start(end + datetime.timedelta(days=1)),
        )
        .values("currency")
        .annotate(amount=Sum("cost_minor"))
        .order_by("currency")
    ]
    return result


def provider_customer_list(*, provider: ServiceProvider) -> QuerySet[Resource]:
    """Subscriptions to the provider's own offerings, newest first, each with `period_calls`: the API
    calls of its agent since the current billing period started (since it was created, before a period)."""
    period_start = Coalesce(
        OuterRef("current_period_start"), OuterRef("created_at"), output_field=DateTimeField()
    )
    period_calls = (
        UsageDaily.objects.filter(config__resource=OuterRef("pk"), day__gte=TruncDate(period_start))
        .order_by()
        .values("config__resource")
        .annotate(total=Sum("api_calls"))
        .values("total")
    )
    return (
        Resource.objects.filter(offering__provider=provider)
        .select_related("organization", "offering", "plan")
        .annotate(period_calls=Coalesce(Subquery(period_calls), Value(0), output_field=BigIntegerField()))
        .order_by("-created_at", "-id")
    )
