"""Agents (the seller's product behind an offering) and their immutable versions."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from cmp.models import PublicModel

PLATFORM_VARIABLE_PREFIX = "CMP_"


class AgentIdentity(PublicModel):
    """A seller's agent: one offering in the catalogue, many versions of its Langflow flow."""

    provider = models.ForeignKey(
        "marketplace.ServiceProvider", on_delete=models.PROTECT, related_name="agents"
    )
    offering = models.OneToOneField("marketplace.Offering", on_delete=models.PROTECT, related_name="agent")
    category = models.ForeignKey("marketplace.Category", on_delete=models.PROTECT, related_name="agents")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    description = models.TextField(blank=True)
    current_version = models.ForeignKey(
        "site_agent.AgentVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The version new subscribers get.",
    )
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "agent"

    def __str__(self) -> str:
        return self.name


class AgentVersion(PublicModel):
    """One imported flow of an agent. Never changed after import; a new flow makes a new version.

    `flow_json` is the export with every secret value removed; `required_variables` names what the
    runtime must be given (LLM keys and other load-from-database variables) to run it.
    """

    agent = models.ForeignKey(AgentIdentity, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=32, help_text="Semantic version, e.g. 1.2.0.")
    flow_json = models.JSONField()
    sha256 = models.CharField(max_length=64, help_text="Hash of the flow's content, layout excluded.")
    source_flow_id = models.CharField(max_length=64, blank=True, help_text="The flow's id in the Studio.")
    node_count = models.PositiveIntegerField()
    edge_count = models.PositiveIntegerField()
    component_types = ArrayField(models.CharField(max_length=100), default=list)
    required_variables = ArrayField(models.CharField(max_length=100), default=list)
    langflow_version = models.CharField(max_length=40, blank=True)
    changelog = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["agent_id", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "version"], name="agent_version_unique_label"),
            models.UniqueConstraint(fields=["agent", "sha256"], name="agent_version_unique_content"),
        ]

    def __str__(self) -> str:
        return f"{self.agent} {self.version}"

    @property
    def platform_variables(self) -> list[str]:
        """Variables CMP fills in on every message (retrieved context, persona): `CMP_...`."""
        return [name for name in self.required_variables if name.startswith(PLATFORM_VARIABLE_PREFIX)]

    @property
    def environment_variables(self) -> list[str]:
        """Variables the runtime's operator must provide, such as an LLM key."""
        return [name for name in self.required_variables if not name.startswith(PLATFORM_VARIABLE_PREFIX)]


class Tone(models.TextChoices):
    PROFESSIONAL = "professional", "Professional"
    FRIENDLY = "friendly", "Friendly"
    CASUAL = "casual", "Casual"
    FORMAL = "formal", "Formal"


class WidgetPosition(models.TextChoices):
    BOTTOM_RIGHT = "bottom-right", "Bottom right"
    BOTTOM_LEFT = "bottom-left", "Bottom left"


class Theme(models.TextChoices):
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"
    AUTO = "auto", "Follow the visitor's system"


class ConfigState(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended (payment overdue)"
    ARCHIVED = "archived", "Archived (read-only)"


class DeploymentState(models.TextChoices):
    PENDING = "pending", "Setting up"
    DEPLOYED = "deployed", "Deployed"
    FAILED = "failed", "Failed, retrying"
    REMOVED = "removed", "Removed"


class CustomerAgentConfig(PublicModel):
    """A buyer's copy of an agent: persona, branding, widget, knowledge, and its own flow in the runtime."""

    resource = models.OneToOneField(
        "marketplace.Resource", on_delete=models.PROTECT, related_name="agent_config"
    )
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="agent_configs"
    )
    agent = models.ForeignKey(AgentIdentity, on_delete=models.PROTECT, related_name="configs")
    agent_version = models.ForeignKey(AgentVersion, on_delete=models.PROTECT, related_name="configs")
    knowledge_base = models.OneToOneField(
        "marketplace_ai.KnowledgeBase",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agent_config",
    )
    state = models.CharField(max_length=12, choices=ConfigState.choices, default=ConfigState.ACTIVE)

    # Persona
    agent_name = models.CharField(max_length=50)
    greeting = models.CharField(max_length=500, blank=True)
    system_prompt = models.TextField(max_length=2000, blank=True)
    tone = models.CharField(max_length=16, choices=Tone.choices, default=Tone.PROFESSIONAL)
    language = models.CharField(max_length=10, default="en")

    # Branding and widget
    primary_colour = models.CharField(max_length=7, default="#4F46E5")
    logo = models.ImageField(upload_to="agents/logos/", blank=True)
    widget_position = models.CharField(
        max_length=16, choices=WidgetPosition.choices, default=WidgetPosition.BOTTOM_RIGHT
    )
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.AUTO)
    allowed_domains = ArrayField(models.CharField(max_length=253), default=list, blank=True)
    widget_id = models.CharField(max_length=40, unique=True, help_text="Publishable id for the embed code.")

    # Runtime
    runtime_flow_id = models.CharField(max_length=64, blank=True)
    runtime_endpoint = models.URLField(max_length=500, blank=True)
    deployment_state = models.CharField(
        max_length=12, choices=DeploymentState.choices, default=DeploymentState.PENDING
    )
    deployment_error = models.TextField(blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "customer agent config"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ConfigState.values), name="config_state_valid"
            ),
            models.CheckConstraint(condition=models.Q(tone__in=Tone.values), name="config_tone_valid"),
            models.CheckConstraint(
                condition=models.Q(primary_colour__regex=r"^#[0-9A-Fa-f]{6}$"), name="config_colour_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_name} ({self.organization})"

    @property
    def is_read_only(self) -> bool:
        return self.state == ConfigState.ARCHIVED


class ApiKey(PublicModel):
    """A buyer's secret key for one agent (`ar_sk_live_...`); only its SHA-256 and a prefix are stored."""

    config = models.ForeignKey(CustomerAgentConfig, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, help_text="The first characters, to recognise the key.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"


class UsageSource(models.TextChoices):
    RUNTIME = "runtime", "External runtime"
    GATEWAY = "gateway", "Chat gateway"
    AUTOMATION = "automation", "Automation run"


class UsageEvent(models.Model):
    """One reported use of an agent. `event_id` makes ingestion idempotent; rows are never updated."""

    config = models.ForeignKey(CustomerAgentConfig, on_delete=models.CASCADE, related_name="usage_events")
    event_id = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    api_calls = models.PositiveIntegerField(default=1)
    tokens_input = models.PositiveIntegerField(default=0)
    tokens_output = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=UsageSource.choices, default=UsageSource.RUNTIME)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["config", "event_id"], name="usage_event_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.config_id}:{self.event_id}"


class UsageDaily(models.Model):
    """Usage per config per day, kept in step with UsageEvent on ingest (usage pages, quotas, analytics)."""

    config = models.ForeignKey(CustomerAgentConfig, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    api_calls = models.PositiveBigIntegerField(default=0)
    tokens_input = models.PositiveBigIntegerField(default=0)
    tokens_output = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["config_id", "day"]
        verbose_name_plural = "usage days"
        constraints = [models.UniqueConstraint(fields=["config", "day"], name="usage_daily_unique_day")]

    def __str__(self) -> str:
        return f"{self.config_id} {self.day}"


class DemoUsageDaily(models.Model):
    """Messages an offering's try-before-buying demo answered per UTC day: for its seller, never billed."""

    offering = models.ForeignKey(
        "marketplace.Offering", on_delete=models.CASCADE, related_name="demo_usage_days"
    )
    day = models.DateField()
    calls = models.PositiveBigIntegerField(default=0)
    tokens_input = models.PositiveBigIntegerField(default=0)
    tokens_output = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["offering_id", "day"]
        verbose_name_plural = "demo usage days"
        constraints = [
            models.UniqueConstraint(fields=["offering", "day"], name="demo_usage_daily_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.offering_id} {self.day}"


class WebhookEndpoint(PublicModel):
    """An outgoing webhook a buyer registered; deliveries are signed with its secret (stored encrypted)."""

    config = models.ForeignKey(CustomerAgentConfig, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = ArrayField(models.CharField(max_length=50), default=list)
    secret_encrypted = models.TextField()
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(PublicModel):
    """One attempt history of sending an event to a webhook."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(max_length=12, default="pending")
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id}"
