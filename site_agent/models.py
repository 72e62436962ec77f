"""Agents (the seller's product behind an offering) and their immutable versions."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from cmp.models import PublicModel


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
