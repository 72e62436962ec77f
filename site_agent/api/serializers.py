"""Buyer config API serializers: plain inputs that refuse unknown fields, outputs with explicit fields."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from cmp.images import check_image
from cmp.serializers import InputSerializer
from marketplace_ai.api.serializers import KnowledgeDocumentCreateInputSerializer
from site_agent.models import ApiKey, CustomerAgentConfig, Theme, Tone, WidgetPosition
from site_agent.services.configs import LIMITS, MAX_ALLOWED_DOMAINS

MAX_LOGO_BYTES = 1024 * 1024


class ConfigOfferingOutputSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())


class ConfigPlanOutputSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    monthly_quota_calls = serializers.IntegerField(allow_null=True, help_text="Null: unlimited.")
    rate_limit_per_minute = serializers.IntegerField()


class ConfigOutputSerializer(serializers.ModelSerializer):
    organization_uuid = serializers.UUIDField(source="organization.uuid", read_only=True)
    resource_uuid = serializers.UUIDField(source="resource.uuid", read_only=True)
    offering = ConfigOfferingOutputSerializer(source="resource.offering", read_only=True)
    plan = ConfigPlanOutputSerializer(source="resource.plan", read_only=True)
    agent_uuid = serializers.UUIDField(source="agent.uuid", read_only=True)
    agent_version = serializers.CharField(source="agent_version.version", read_only=True)
    knowledge_base_uuid = serializers.SerializerMethodField()
    logo_url = serializers.SerializerMethodField()

    class Meta:
        model = CustomerAgentConfig
        fields = (
            "uuid",
            "organization_uuid",
            "resource_uuid",
            "offering",
            "plan",
            "agent_uuid",
            "agent_version",
            "state",
            "deployment_state",
            "agent_name",
            "greeting",
            "system_prompt",
            "tone",
            "language",
            "primary_colour",
            "logo_url",
            "widget_position",
            "theme",
            "allowed_domains",
            "widget_id",
            "knowledge_base_uuid",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_knowledge_base_uuid(self, config) -> str | None:
        return str(config.knowledge_base.uuid) if config.knowledge_base_id else None

    def get_logo_url(self, config) -> str | None:
        return config.logo.url if config.logo else None


class ConfigUpdateInputSerializer(InputSerializer):
    """What a buyer may change (documentation: `config_update` validates and normalises, e.g. domains)."""

    agent_name = serializers.CharField(max_length=LIMITS["agent_name"], required=False)
    greeting = serializers.CharField(max_length=LIMITS["greeting"], required=False, allow_blank=True)
    system_prompt = serializers.CharField(
        max_length=LIMITS["system_prompt"], required=False, allow_blank=True
    )
    tone = serializers.ChoiceField(choices=Tone.choices, required=False)
    language = serializers.CharField(max_length=10, required=False, help_text="e.g. en, nl or pt-BR.")
    primary_colour = serializers.RegexField(r"^#[0-9A-Fa-f]{6}$", required=False, help_text="#RRGGBB.")
    widget_position = serializers.ChoiceField(choices=WidgetPosition.choices, required=False)
    theme = serializers.ChoiceField(choices=Theme.choices, required=False)
    allowed_domains = serializers.ListField(
        child=serializers.CharField(max_length=253),
        max_length=MAX_ALLOWED_DOMAINS,
        required=False,
        help_text="Host names where the widget may run: shop.example.com, or *.example.com for subdomains.",
    )


class ConfigLogoInputSerializer(InputSerializer):
    logo = serializers.FileField(help_text="PNG, JPEG or WebP, at most 1 MB and 4096 px a side.")

    def validate_logo(self, upload):
        """Trust the bytes, not the name or the content type the client claims."""
        try:
            check_image(upload, max_bytes=MAX_LOGO_BYTES, name="logo")
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error
        return upload


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    """A key as listed: never the key itself nor its hash."""

    is_active = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = (
            "uuid",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "is_active",
        )
        read_only_fields = fields

    def get_is_active(self, api_key) -> bool:
        return api_key.revoked_at is None and (
            api_key.expires_at is None or api_key.expires_at > timezone.now()
        )


class ApiKeyCreatedOutputSerializer(ApiKeyOutputSerializer):
    key = serializers.SerializerMethodField(help_text="The secret key. Shown this once: store it now.")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = (*ApiKeyOutputSerializer.Meta.fields, "key")
        read_only_fields = fields

    def get_key(self, api_key) -> str:
        return self.context["plaintext"]


class ApiKeyCreateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Empty: never expires.")


class UsageQueryInputSerializer(InputSerializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=30)


class UsageDayOutputSerializer(serializers.Serializer):
    day = serializers.DateField()
    api_calls = serializers.IntegerField()
    tokens_input = serializers.IntegerField()
    tokens_output = serializers.IntegerField()


class UsagePeriodOutputSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    api_calls = serializers.IntegerField()
    tokens_input = serializers.IntegerField()
    tokens_output = serializers.IntegerField()
    quota_calls = serializers.IntegerField(
        allow_null=True, help_text="The plan's monthly quota; null: unlimited."
    )
    remaining_calls = serializers.IntegerField(allow_null=True)
    percent_used = serializers.FloatField(allow_null=True)


class UsageSummaryOutputSerializer(serializers.Serializer):
    days = UsageDayOutputSerializer(
        many=True, help_text="One entry per UTC day, oldest first; zeros included."
    )
    period = UsagePeriodOutputSerializer(help_text="The current monthly quota period.")


class WidgetBrandingOutputSerializer(serializers.Serializer):
    agent_name = serializers.CharField()
    greeting = serializers.CharField()
    primary_colour = serializers.CharField()
    logo_url = serializers.CharField(allow_null=True)
    widget_position = serializers.CharField()
    theme = serializers.CharField()


class WidgetOutputSerializer(serializers.Serializer):
    widget_id = serializers.CharField(help_text="Publishable: safe to put in a web page.")
    embed_code = serializers.CharField(
        help_text="Paste before </body> on the pages that should show the chat."
    )
    script_url = serializers.CharField()
    allowed_domains = serializers.ListField(child=serializers.CharField())
    branding = WidgetBrandingOutputSerializer()


class ConfigDocumentCreateInputSerializer(KnowledgeDocumentCreateInputSerializer):
    """A training document for the config's own knowledge base: exactly one of file, qa_pairs or url."""

    knowledge_base_uuid = None


class ConfigVersionInputSerializer(InputSerializer):
    version = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="A version of the agent, e.g. 1.2.0; empty or left out: the seller's current version.",
    )
