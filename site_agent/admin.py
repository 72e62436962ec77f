"""Django admin for agents, buyer configs, API keys, usage and webhooks: operators look, services act.

Sellers edit their agents and buyers their configs on their own pages, so nothing here is an edit form.
Every change is an action that calls a service and reports each object's outcome. Secrets stay out of
every page: keys show their prefix (never the hash), webhook secrets are never read, and a version's flow
JSON is loaded only on that version's own page (lists show its counts and hash).
"""

import json

from django.contrib import admin, messages
from django.db.models import Count, Model, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from cmp.admin import ActionsOnlyMixin, LedgerMixin, ReadOnlyInline, run_action
from marketplace.models import Resource, ResourceState
from site_agent.errors import ApplicationError
from site_agent.models import (
    AgentIdentity,
    AgentVersion,
    ApiKey,
    ConfigState,
    CustomerAgentConfig,
    DemoUsageDaily,
    DeploymentState,
    UsageDaily,
    UsageEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from site_agent.services.agents import agent_archive
from site_agent.services.api_keys import api_key_revoke
from site_agent.services.configs import config_change_version, config_resume, config_suspend
from site_agent.services.webhooks import (
    EVENT_CHOICES,
    DeliveryStatus,
    webhook_endpoint_set_active,
    webhook_redeliver,
)

FLOW_JSON = "flow_json"


def _filtered_changelist_link(model: type[Model], query: str, label: str) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


def _pretty_json(value) -> str:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2))


# --- Agents and versions (seller side) ------------------------------------------------------------


class AgentVersionInline(ReadOnlyInline):
    model = AgentVersion
    fields = (
        "version",
        "short_sha",
        "node_count",
        "edge_count",
        "langflow_version",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    ordering = ("-created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer(FLOW_JSON).select_related("created_by")

    @admin.display(description="sha256")
    def short_sha(self, version: AgentVersion) -> str:
        return version.sha256[:12]


@admin.register(AgentIdentity)
class AgentIdentityAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "provider",
        "category",
        "current_version_label",
        "version_count",
        "config_count",
        "archived_at",
        "created_at",
    )
    list_filter = ("category", ("archived_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("provider__organization", "category", "current_version")
    search_fields = ("name", "slug", "provider__organization__name", "offering__name", "=uuid")
    fields = (
        "uuid",
        "name",
        "slug",
        "provider",
        "offering",
        "category",
        "description",
        "current_version",
        "archived_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (AgentVersionInline,)
    date_hierarchy = "created_at"
    actions = ("archive_agents",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            # Named here because Django skips list_select_related once a queryset selects related rows.
            .select_related(*self.list_select_related)
            .defer(f"current_version__{FLOW_JSON}")
            .annotate(
                version_count=Count("versions", distinct=True),
                config_count=Count("configs", distinct=True),
            )
        )

    @admin.display(description="Current version", ordering="current_version__version")
    def current_version_label(self, agent: AgentIdentity) -> str:
        return agent.current_version.version if agent.current_version_id else "-"

    @admin.display(description="Versions", ordering="version_count")
    def version_count(self, agent: AgentIdentity) -> int:
        return agent.version_count

    @admin.display(description="Buyer configs", ordering="config_count")
    def config_count(self, agent: AgentIdentity) -> int:
        return agent.config_count

    @admin.action(description="Archive agent (refused while anyone subscribes)", permissions=["change"])
    def archive_agents(self, request, queryset) -> None:
        run_action(
            self,
            request,
            queryset,
            service=lambda agent: agent_archive(agent=agent, actor=request.user),
            done="Archived",
            skip=lambda agent: "it is archived already." if agent.archived_at else "",
        )


@admin.register(AgentVersion)
class AgentVersionAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "agent",
        "version",
        "is_current",
        "short_sha",
        "node_count",
        "edge_count",
        "langflow_version",
        "config_count",
        "created_by",
        "created_at",
    )
    list_filter = ("created_at",)
    list_select_related = ("agent", "created_by")
    search_fields = ("agent__name", "version", "sha256", "source_flow_id", "=uuid")
    fieldsets = (
        (
            None,
            {"fields": ("uuid", "agent", "version", "sha256", "source_flow_id", "created_by", "created_at")},
        ),
        (
            "Content",
            {
                "fields": (
                    "node_count",
                    "edge_count",
                    "langflow_version",
                    "component_types",
                    "required_variables",
                    "changelog",
                )
            },
        ),
        ("Flow (secrets removed at import)", {"classes": ("collapse",), "fields": ("flow",)}),
    )
    readonly_fields = (
        "uuid",
        "agent",
        "version",
        "sha256",
        "source_flow_id",
        "created_by",
        "created_at",
        "node_count",
        "edge_count",
        "langflow_version",
        "component_types",
        "required_variables",
        "changelog",
        "flow",
    )
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        # The flow is loaded (one query) only where it is shown: on the version's own page.
        return super().get_queryset(request).defer(FLOW_JSON).annotate(config_count=Count("configs"))

    @admin.display(description="sha256", ordering="sha256")
    def short_sha(self, version: AgentVersion) -> str:
        return version.sha256[:12]

    @admin.display(description="Current", boolean=True)
    def is_current(self, version: AgentVersion) -> bool:
        return version.agent.current_version_id == version.pk

    @admin.display(description="Buyer configs", ordering="config_count")
    def config_count(self, version: AgentVersion) -> int:
        return version.config_count

    @admin.display(description="Flow JSON")
    def flow(self, version: AgentVersion) -> str:
        return _pretty_json(version.flow_json)


# --- Buyer configs and their keys -----------------------------------------------------------------


class ApiKeyInline(ReadOnlyInline):
    model = ApiKey
    fields = ("name", "prefix_display", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    verbose_name_plural = "API keys"

    @admin.display(description="Key")
    def prefix_display(self, api_key: ApiKey) -> str:
        return f"{api_key.prefix}..."


class WebhookEndpointInline(ReadOnlyInline):
    model = WebhookEndpoint
    fields = ("url", "events", "is_active", "created_at")
    readonly_fields = fields
    verbose_name_plural = "webhook endpoints"


class SubscriptionStateFilter(admin.ChoicesFieldListFilter):
    """The resource's state, titled so that it is not taken for the config's own state."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "subscription"


def _redeploy_skip_reason(config: CustomerAgentConfig) -> str:
    if config.is_read_only:
        return "it is archived."
    if config.resource.state == ResourceState.ERRED:
        return "its subscription erred while being set up; retry its order under Orders."
    if config.deployment_state != DeploymentState.FAILED:
        return f"it is {config.get_deployment_state_display().lower()}; only failed deployments are retried."
    return ""


@admin.register(CustomerAgentConfig)
class CustomerAgentConfigAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "agent_name",
        "organization",
        "agent",
        "version_label",
        "plan_name",
        "resource_state",
        "state",
        "deployment_state",
        "runtime_flow_id",
        "deployed_at",
        "created_at",
    )
    list_filter = ("state", "deployment_state", ("resource__state", SubscriptionStateFilter), "created_at")
    list_select_related = ("organization", "agent", "agent_version", "resource__plan")
    search_fields = (
        "organization__name",
        "agent__name",
        "agent_name",
        "=uuid",
        "widget_id",
        "runtime_flow_id",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "uuid",
                    "organization",
                    "agent",
                    "agent_version",
                    "resource",
                    "plan_name",
                    "resource_state",
                    "state",
                    "knowledge_base",
                )
            },
        ),
        (
            "Runtime",
            {
                "fields": (
                    "deployment_state",
                    "deployment_error",
                    "runtime_flow_id",
                    "runtime_endpoint",
                    "deployed_at",
                )
            },
        ),
        ("Persona", {"fields": ("agent_name", "greeting", "system_prompt", "tone", "language")}),
        (
            "Widget",
            {
                "fields": (
                    "widget_id",
                    "allowed_domains",
                    "primary_colour",
                    "widget_position",
                    "theme",
                    "logo",
                )
            },
        ),
        ("Records", {"fields": ("usage", "webhook_deliveries", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "uuid",
        "organization",
        "agent",
        "agent_version",
        "resource",
        "plan_name",
        "resource_state",
        "state",
        "knowledge_base",
        "deployment_state",
        "deployment_error",
        "runtime_flow_id",
        "runtime_endpoint",
        "deployed_at",
        "agent_name",
        "greeting",
        "system_prompt",
        "tone",
        "language",
        "widget_id",
        "allowed_domains",
        "primary_colour",
        "widget_position",
        "theme",
        "logo",
        "usage",
        "webhook_deliveries",
        "created_at",
        "updated_at",
    )
    inlines = (ApiKeyInline, WebhookEndpointInline)
    date_hierarchy = "created_at"
    actions = ("redeploy_configs", "suspend_configs", "resume_configs")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(*self.list_select_related)
            .defer(f"agent_version__{FLOW_JSON}")
        )

    @admin.display(description="Version", ordering="agent_version__version")
    def version_label(self, config: CustomerAgentConfig) -> str:
        return config.agent_version.version

    @admin.display(description="Plan", ordering="resource__plan__name")
    def plan_name(self, config: CustomerAgentConfig) -> str:
        return config.resource.plan.name

    @admin.display(description="Subscription", ordering="resource__state")
    def resource_state(self, config: CustomerAgentConfig) -> str:
        return config.resource.get_state_display()

    @admin.display(description="Usage")
    def usage(self, config: CustomerAgentConfig) -> str:
        return _filtered_changelist_link(UsageDaily, f"config__id__exact={config.pk}", "Usage per day")

    @admin.display(description="Webhook deliveries")
    def webhook_deliveries(self, config: CustomerAgentConfig) -> str:
        return _filtered_changelist_link(
            WebhookDelivery, f"endpoint__config__id__exact={config.pk}", "Delivery log"
        )

    def _objects(self, queryset):
        return queryset.select_related("organization", "agent_version", "resource")

    @admin.action(description="Redeploy failed deployments", permissions=["change"])
    def redeploy_configs(self, request, queryset) -> None:
        # Asking for the version a config already runs deploys it again when its last deployment failed;
        # the runtime flow is replaced after commit (runtime_bridge, on `config_version_changed`).
        run_action(
            self,
            request,
            self._objects(queryset),
            service=lambda config: config_change_version(
                config=config, version=config.agent_version, actor=request.user
            ),
            done="Redeploying",
            skip=_redeploy_skip_reason,
        )

    @admin.action(description="Suspend: refuse its keys and widget", permissions=["change"])
    def suspend_configs(self, request, queryset) -> None:
        run_action(
            self,
            request,
            self._objects(queryset),
            service=lambda config: config_suspend(config=config),
            done="Suspended",
            skip=lambda config: (
                "" if config.state == ConfigState.ACTIVE else "only active agents can be suspended."
            ),
        )

    @admin.action(description="Resume suspended agents", permissions=["change"])
    def resume_configs(self, request, queryset) -> None:
        configs = list(self._objects(queryset))
        # Billing suspends an agent whose payment is overdue and resumes it when paid; resuming it here would
        # give access before the buyer pays. (Read through billing's relation name: no import upward.)
        unpaid = set(
            Resource.objects.filter(
                pk__in=[config.resource_id for config in configs],
                orders__billing_subscription__suspended_at__isnull=False,
            ).values_list("pk", flat=True)
        )

        def skip(config) -> str:
            if config.state != ConfigState.SUSPENDED:
                return "only suspended agents can be resumed."
            if config.resource_id in unpaid:
                return "its payment is overdue; it resumes by itself when the buyer pays."
            return ""

        run_action(
            self,
            request,
            configs,
            service=lambda config: config_resume(config=config),
            done="Resumed",
            skip=skip,
        )


def _is_expired(api_key: ApiKey) -> bool:
    return api_key.expires_at is not None and api_key.expires_at <= timezone.now()


class KeyStatusFilter(admin.SimpleListFilter):
    """Usable, revoked or expired: what `api_key_check` would answer for the key, read from its row."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        return {
            "active": queryset.filter(not_expired, revoked_at__isnull=True),
            "revoked": queryset.filter(revoked_at__isnull=False),
            "expired": queryset.filter(revoked_at__isnull=True, expires_at__lte=now),
        }.get(self.value(), queryset)


@admin.register(ApiKey)
class ApiKeyAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    """Keys are made by buyers and shown to them once; operators look and revoke, nothing else.

    Only the prefix is ever displayed: the hash is not the key, but there is nothing to gain from showing it.
    """

    list_display = (
        "prefix_display",
        "name",
        "config",
        "organization",
        "is_active_display",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = (
        KeyStatusFilter,
        "created_at",
        "last_used_at",
        "expires_at",
    )
    list_select_related = ("config__organization",)
    search_fields = ("name", "prefix", "config__organization__name", "=config__uuid", "=uuid")
    exclude = ("key_hash",)
    fields = (
        "uuid",
        "prefix_display",
        "name",
        "config",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ("revoke_keys",)

    @admin.display(description="Key", ordering="prefix")
    def prefix_display(self, api_key: ApiKey) -> str:
        return f"{api_key.prefix}..."

    @admin.display(description="Organisation", ordering="config__organization__name")
    def organization(self, api_key: ApiKey):
        return api_key.config.organization

    @admin.display(description="Active", boolean=True)
    def is_active_display(self, api_key: ApiKey) -> bool:
        return api_key.revoked_at is None and not _is_expired(api_key)

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_keys(self, request, queryset) -> None:
        revoked: list[str] = []
        for api_key in queryset:
            if api_key.revoked_at is not None:
                self.message_user(request, f"Skipped {api_key}: already revoked.", messages.WARNING)
                continue
            try:
                api_key_revoke(api_key=api_key, actor=request.user)
            except ApplicationError:  # revoked by its owner since the page was loaded
                self.message_user(request, f"Skipped {api_key}: already revoked.", messages.WARNING)
                continue
            revoked.append(str(api_key))
        if revoked:
            self.message_user(request, f"Revoked {len(revoked)}: {', '.join(revoked)}.", messages.SUCCESS)


# --- Usage (ledgers) ------------------------------------------------------------------------------


@admin.register(UsageEvent)
class UsageEventAdmin(LedgerMixin, admin.ModelAdmin):
    """The usage ledger: one row per reported call, never changed. Large, so no full count and no dates
    drill-down (both scan the whole table)."""

    list_display = (
        "occurred_at",
        "config",
        "event_id",
        "source",
        "api_calls",
        "tokens_input",
        "tokens_output",
        "tokens_estimated",
        "created_at",
    )
    list_filter = ("source", "tokens_estimated", "occurred_at")
    list_select_related = ("config__organization",)
    search_fields = ("event_id", "=config__uuid", "config__organization__name")
    fields = (
        "config",
        "event_id",
        "occurred_at",
        "source",
        "api_calls",
        "tokens_input",
        "tokens_output",
        "tokens_estimated",
        "created_at",
    )
    readonly_fields = fields
    show_full_result_count = False


@admin.register(UsageDaily)
class UsageDailyAdmin(LedgerMixin, admin.ModelAdmin):
    list_display = ("day", "config", "api_calls", "tokens_input", "tokens_output")
    list_filter = ("config__state", "day")
    list_select_related = ("config__organization",)
    search_fields = ("config__organization__name", "config__agent_name", "=config__uuid")
    fields = ("config", "day", "api_calls", "tokens_input", "tokens_output")
    readonly_fields = fields
    date_hierarchy = "day"
    ordering = ("-day", "config_id")


@admin.register(DemoUsageDaily)
class DemoUsageDailyAdmin(LedgerMixin, admin.ModelAdmin):
    """Try-before-buying demo messages per offering and day: what sellers see, never billed."""

    list_display = ("day", "offering", "seller", "calls", "tokens_input", "tokens_output")
    list_filter = ("offering__state", "day")
    list_select_related = ("offering__provider__organization",)
    search_fields = ("offering__name", "offering__provider__organization__name", "=offering__uuid")
    fields = ("offering", "day", "calls", "tokens_input", "tokens_output")
    readonly_fields = fields
    date_hierarchy = "day"
    ordering = ("-day", "offering_id")

    @admin.display(description="Seller", ordering="offering__provider__organization__name")
    def seller(self, usage: DemoUsageDaily):
        return usage.offering.provider.organization


# --- Webhooks -------------------------------------------------------------------------------------


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    """A buyer's endpoints. The signing secret is stored encrypted and never read or shown here."""

    list_display = ("url", "config", "events_display", "is_active", "failed_deliveries", "created_at")
    list_filter = ("is_active", "created_at")
    list_select_related = ("config__organization",)
    search_fields = ("url", "=uuid", "=config__uuid", "config__organization__name")
    exclude = ("secret_encrypted",)
    fields = ("uuid", "config", "url", "events", "is_active", "deliveries", "created_at", "updated_at")
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ("disable_endpoints", "enable_endpoints")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .defer("secret_encrypted")
            .annotate(failed_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)))
        )

    @admin.display(description="Events")
    def events_display(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events)

    @admin.display(description="Failed deliveries", ordering="failed_count")
    def failed_deliveries(self, endpoint: WebhookEndpoint) -> int:
        return endpoint.failed_count

    @admin.display(description="Deliveries")
    def deliveries(self, endpoint: WebhookEndpoint) -> str:
        return _filtered_changelist_link(
            WebhookDelivery, f"endpoint__id__exact={endpoint.pk}", "Delivery log"
        )

    def _set_active(self, request, queryset, is_active: bool) -> None:
        run_action(
            self,
            request,
            queryset.select_related("config__organization"),
            service=lambda endpoint: webhook_endpoint_set_active(
                endpoint=endpoint, actor=request.user, is_active=is_active
            ),
            done="Enabled" if is_active else "Disabled (waiting deliveries give up)",
            skip=lambda endpoint: (
                f"it is {'enabled' if is_active else 'disabled'} already."
                if endpoint.is_active == is_active
                else ""
            ),
        )

    @admin.action(description="Disable: send nothing more", permissions=["change"])
    def disable_endpoints(self, request, queryset) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description="Enable", permissions=["change"])
    def enable_endpoints(self, request, queryset) -> None:
        self._set_active(request, queryset, True)


class DeliveryStatusFilter(admin.SimpleListFilter):
    """The statuses the delivery service writes, without a DISTINCT scan of the log."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            (DeliveryStatus.PENDING, "Pending"),
            (DeliveryStatus.RETRYING, "Retrying"),
            (DeliveryStatus.DELIVERED, "Delivered"),
            (DeliveryStatus.FAILED, "Failed"),
        ]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class DeliveryEventFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "event"

    def lookups(self, request, model_admin):
        return EVENT_CHOICES

    def queryset(self, request, queryset):
        return queryset.filter(event=self.value()) if self.value() else queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    """The delivery log. Rows are never edited; "Redeliver" sends the event again as a new delivery."""

    list_display = (
        "created_at",
        "event",
        "endpoint_url",
        "organization",
        "status",
        "attempts",
        "response_status",
        "error_excerpt",
        "delivered_at",
    )
    list_filter = (DeliveryStatusFilter, DeliveryEventFilter, "created_at")
    list_select_related = ("endpoint__config__organization",)
    search_fields = ("=uuid", "endpoint__url", "=endpoint__uuid", "endpoint__config__organization__name")
    fields = (
        "uuid",
        "endpoint",
        "event",
        "status",
        "attempts",
        "response_status",
        "error_message",
        "delivered_at",
        "created_at",
        "updated_at",
        "payload_display",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ("redeliver",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(*self.list_select_related)
            .defer("payload", "endpoint__secret_encrypted")
        )

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # A config's page links here with its own deliveries; there is no sidebar filter for configs.
        return lookup == "endpoint__config__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="Endpoint", ordering="endpoint__url")
    def endpoint_url(self, delivery: WebhookDelivery) -> str:
        return delivery.endpoint.url

    @admin.display(description="Organisation", ordering="endpoint__config__organization__name")
    def organization(self, delivery: WebhookDelivery):
        return delivery.endpoint.config.organization

    @admin.display(description="Error")
    def error_excerpt(self, delivery: WebhookDelivery) -> str:
        message = delivery.error_message
        return message if len(message) <= 80 else f"{message[:79]}…"

    @admin.display(description="Payload")
    def payload_display(self, delivery: WebhookDelivery) -> str:
        return _pretty_json(delivery.payload)

    @admin.action(description="Redeliver (as a new delivery)", permissions=["change"])
    def redeliver(self, request, queryset) -> None:
        run_action(
            self,
            request,
            queryset.select_related("endpoint"),
            service=lambda delivery: webhook_redeliver(delivery=delivery, actor=request.user),
            done="Sent again",
        )
