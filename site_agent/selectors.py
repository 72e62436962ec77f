"""site_agent reads. Sellers see only agents of providers they manage; buyers only their organisations'
configs, keys and usage. Anything else is a 404."""

import calendar
import datetime
import uuid as uuid_module
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Prefetch, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.html import escape

from marketplace.selectors import MANAGING_ROLES, organization_list_for_user, user_can_manage
from site_agent.models import (
    AgentIdentity,
    AgentVersion,
    ApiKey,
    CustomerAgentConfig,
    DemoUsageDaily,
    UsageDaily,
    WebhookDelivery,
    WebhookEndpoint,
)


def user_is_seller(*, user) -> bool:
    """Whether the user manages at least one service provider (operators always count)."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return user.memberships.filter(
        role__in=MANAGING_ROLES, organization__service_provider__isnull=False
    ).exists()


def agent_list_for_user(*, user) -> QuerySet[AgentIdentity]:
    agents = (
        AgentIdentity.objects.filter(archived_at__isnull=True)
        .select_related("offering", "category", "provider__organization", "current_version")
        .defer("current_version__flow_json")  # tens of KB per agent, never needed in lists
    )
    if user.is_staff:
        return agents
    return agents.filter(
        provider__organization__memberships__user=user,
        provider__organization__memberships__role__in=MANAGING_ROLES,
    )


def agent_get_for_user(*, user, uuid) -> AgentIdentity:
    versions = AgentVersion.objects.order_by("-created_at").defer("flow_json")
    agent = (
        agent_list_for_user(user=user)
        .prefetch_related(Prefetch("versions", queryset=versions, to_attr="version_list"))
        .filter(uuid=uuid)
        .first()
    )
    if agent is None:
        raise Http404
    return agent


# --- Buyer configs, their keys and usage ----------------------------------------------------------


def config_list_for_user(*, user) -> QuerySet[CustomerAgentConfig]:
    """Configs of the user's organisations (operators: all), with what the API shows joined in."""
    return (
        CustomerAgentConfig.objects.filter(organization__in=organization_list_for_user(user=user))
        .select_related(
            "organization",
            "resource__plan",
            "resource__offering",
            "agent",
            "agent_version",
            "knowledge_base",
        )
        .defer("agent_version__flow_json")
        .order_by("-created_at", "-id")
    )


def config_get_for_user(*, user, uuid) -> CustomerAgentConfig:
    config = config_list_for_user(user=user).filter(uuid=uuid).first()
    if config is None:
        raise Http404
    return config


def config_user_can_manage(*, user, config: CustomerAgentConfig) -> bool:
    """Owners and managers (and operators) change a config and its keys; members only look."""
    return user_can_manage(user=user, organization=config.organization)


def config_ids_by_uuid(*, uuids) -> dict[uuid_module.UUID, int]:
    """Primary keys of the configs with these public ids, in one query (usage ingest maps a batch)."""
    if not uuids:
        return {}
    return dict(CustomerAgentConfig.objects.filter(uuid__in=uuids).values_list("uuid", "id"))


def api_key_list_for_config(*, config: CustomerAgentConfig) -> QuerySet[ApiKey]:
    """A config's keys, newest first; active ones before revoked ones."""
    return config.api_keys.order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-id")


def api_key_get_for_config(*, config: CustomerAgentConfig, uuid) -> ApiKey:
    api_key = config.api_keys.filter(uuid=uuid).select_related("config").first()
    if api_key is None:
        raise Http404
    return api_key


def _add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def quota_period(
    *, resource, now: datetime.datetime | None = None
) -> tuple[datetime.datetime, datetime.datetime]:
    """The month of the subscription that contains `now`: quotas are monthly whatever the billing period,
    counted from the day the current billing period (or, before one, the subscription) started."""
    now = now or timezone.now()
    anchor = resource.current_period_start or resource.created_at
    if now < anchor:
        return anchor, _add_months(anchor, 1)
    months = (now.year - anchor.year) * 12 + (now.month - anchor.month)
    start = _add_months(anchor, months)
    if start > now:
        months -= 1
        start = _add_months(anchor, months)
    return start, _add_months(anchor, months + 1)


@dataclass(frozen=True)
class UsageDay:
    day: datetime.date
    api_calls: int
    tokens_input: int
    tokens_output: int


@dataclass(frozen=True)
class UsagePeriod:
    start: datetime.datetime
    end: datetime.datetime
    api_calls: int
    tokens_input: int
    tokens_output: int
    quota_calls: int | None

    @property
    def remaining_calls(self) -> int | None:
        return None if self.quota_calls is None else max(self.quota_calls - self.api_calls, 0)

    @property
    def percent_used(self) -> float | None:
        if not self.quota_calls:
            return None
        return round(100 * self.api_calls / self.quota_calls, 1)


@dataclass(frozen=True)
class UsageSummary:
    days: list[UsageDay]
    period: UsagePeriod


def config_usage_summary(*, config: CustomerAgentConfig, days: int = 30) -> UsageSummary:
    """The last `days` UTC days of usage (days without usage as zeros) and the current quota period's
    totals. Usage is kept per UTC day, so the period counts whole days from the day it started."""
    now = timezone.now()
    today = now.astimezone(datetime.UTC).date()
    first_day = today - datetime.timedelta(days=days - 1)
    period_start, period_end = quota_period(resource=config.resource, now=now)
    period_first_day = period_start.astimezone(datetime.UTC).date()
    rows = {
        row["day"]: row
        for row in UsageDaily.objects.filter(config=config, day__gte=min(first_day, period_first_day))
        .order_by("day")
        .values("day", "api_calls", "tokens_input", "tokens_output")
    }
    series = []
    for offset in range(days):
        day = first_day + datetime.timedelta(days=offset)
        row = rows.get(day, {})
        series.append(
            UsageDay(
                day=day,
                api_calls=row.get("api_calls", 0),
                tokens_input=row.get("tokens_input", 0),
                tokens_output=row.get("tokens_output", 0),
            )
        )
    in_period = [row for day, row in rows.items() if day >= period_first_day]
    period = UsagePeriod(
        start=period_start,
        end=period_end,
        api_calls=sum(row["api_calls"] for row in in_period),
        tokens_input=sum(row["tokens_input"] for row in in_period),
        tokens_output=sum(row["tokens_output"] for row in in_period),
        quota_calls=config.resource.plan.monthly_quota_calls,
    )
    return UsageSummary(days=series, period=period)


# --- Buyer workspace pages: configs of one organisation, webhooks -------------------------------


def config_list_for_organization(*, organization) -> QuerySet[CustomerAgentConfig]:
    """An organisation's agents (its visibility checked by the caller), newest first."""
    return (
        CustomerAgentConfig.objects.filter(organization=organization)
        .select_related("organization", "resource__plan", "resource__offering", "agent", "agent_version")
        .defer("agent_version__flow_json")
        .order_by("-created_at", "-id")
    )


def config_get_for_organization(*, organization, uuid) -> CustomerAgentConfig:
    """A config of this organisation, with its knowledge base; another organisation's is a 404."""
    config = (
        config_list_for_organization(organization=organization)
        .select_related("knowledge_base")
        .filter(uuid=uuid)
        .first()
    )
    if config is None:
        raise Http404
    return config


def webhook_endpoint_list_for_config(*, config: CustomerAgentConfig) -> QuerySet[WebhookEndpoint]:
    return config.webhooks.order_by("-created_at", "-id")


def webhook_endpoint_get_for_config(*, config: CustomerAgentConfig, uuid) -> WebhookEndpoint:
    endpoint = config.webhooks.filter(uuid=uuid).select_related("config").first()
    if endpoint is None:
        raise Http404
    return endpoint


def webhook_delivery_list_for_config(*, config: CustomerAgentConfig) -> QuerySet[WebhookDelivery]:
    """The delivery log of a config's endpoints, newest first (slice it: it only grows)."""
    return (
        WebhookDelivery.objects.filter(endpoint__config=config)
        .select_related("endpoint")
        .order_by("-created_at", "-id")
    )


def webhook_delivery_get_for_config(*, config: CustomerAgentConfig, uuid) -> WebhookDelivery:
    delivery = webhook_delivery_list_for_config(config=config).filter(uuid=uuid).first()
    if delivery is None:
        raise Http404
    return delivery


def widget_script_url() -> str:
    return f"{settings.SITE_URL}/widget/v1/cmp-widget.js"


def config_embed_code(*, config: CustomerAgentConfig) -> str:
    """The one script tag a buyer pastes into their site: the publishable widget id (never a secret) and the
    launcher's look, so the launcher shows the buyer's colour and position before anything is fetched. After a
    branding change the buyer copies it again (the panel itself always loads the current branding)."""
    attributes = {
        "src": widget_script_url(),
        "data-widget-id": config.widget_id,
        "data-colour": config.primary_colour,
        "data-position": config.widget_position,
        "data-theme": config.theme,
    }
    rendered = " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items())
    return f"<script async {rendered}></script>"


# --- Agent versions a config can move to ----------------------------------------------------------


def agent_version_find(*, agent_id: int, label: str = "") -> AgentVersion | None:
    """One of the agent's versions by its label (e.g. 1.2.0), or its current version when the label is
    empty; without the flow. None when there is none."""
    versions = AgentVersion.objects.defer("flow_json")
    if not label:
        current = AgentIdentity.objects.filter(pk=agent_id).values("current_version_id")[:1]
        return versions.filter(pk=Subquery(current)).first()
    return versions.filter(agent_id=agent_id, version=label).first()


def config_newer_version(*, config: CustomerAgentConfig) -> AgentVersion | None:
    """The agent's current version when it is newer than the one the config runs, else None."""
    current_id = config.agent.current_version_id
    if current_id is None or current_id == config.agent_version_id:
        return None
    current = AgentVersion.objects.filter(pk=current_id).defer("flow_json").first()
    if current is None or current.created_at <= config.agent_version.created_at:
        return None
    return current


def demo_usage_calls(*, offering_id: int, day: datetime.date) -> int:
    """Messages an offering's demo answered on a UTC day."""
    row = DemoUsageDaily.objects.filter(offering_id=offering_id, day=day).values_list("calls", flat=True)
    return row.first() or 0
