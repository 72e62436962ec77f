from rest_framework import serializers

from cmp.serializers import InputSerializer
from marketplace.models import Category
from site_agent.models import AgentIdentity, AgentVersion


class FlowField(serializers.JSONField):
    """A Langflow export, given as a JSON object or as the text of the file."""

    def to_internal_value(self, data):
        if isinstance(data, str | dict):
            return data
        raise serializers.ValidationError(
            "Give the flow as a JSON object or as the text of the exported file."
        )


class FlowImportInputSerializer(InputSerializer):
    flow_json = FlowField()
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all())
    provider_uuid = serializers.UUIDField()


class FlowImportOutputSerializer(serializers.Serializer):
    offering_uuid = serializers.UUIDField()
    agent_uuid = serializers.UUIDField()
    version = serializers.CharField()
    status = serializers.CharField()
    report = serializers.JSONField()


class FlowValidateInputSerializer(InputSerializer):
    flow_json = FlowField()
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all())


class ProblemSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    node_id = serializers.CharField(allow_null=True)


class FlowReportSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    summary = serializers.CharField()
    problems = ProblemSerializer(many=True)
    warnings = ProblemSerializer(many=True)
    name = serializers.CharField()
    langflow_version = serializers.CharField()
    node_count = serializers.IntegerField()
    edge_count = serializers.IntegerField()
    component_types = serializers.ListField(child=serializers.CharField())
    required_variables = serializers.ListField(child=serializers.CharField())
    stripped_secrets = serializers.IntegerField()


class VersionCreateInputSerializer(InputSerializer):
    flow_json = FlowField()
    version = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    changelog = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class AgentUpdateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class PublishInputSerializer(InputSerializer):
    terms_accepted = serializers.BooleanField(required=False, default=False)


class AgentVersionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentVersion
        fields = [
            "uuid",
            "version",
            "sha256",
            "node_count",
            "edge_count",
            "component_types",
            "required_variables",
            "langflow_version",
            "changelog",
            "created_at",
        ]


class AgentOutputSerializer(serializers.ModelSerializer):
    provider_uuid = serializers.UUIDField(source="provider.uuid")
    offering_uuid = serializers.UUIDField(source="offering.uuid")
    offering_state = serializers.CharField(source="offering.state")
    category = serializers.CharField(source="category.slug")
    current_version = AgentVersionOutputSerializer(allow_null=True)

    class Meta:
        model = AgentIdentity
        fields = [
            "uuid",
            "name",
            "slug",
            "description",
            "category",
            "provider_uuid",
            "offering_uuid",
            "offering_state",
            "current_version",
            "created_at",
        ]


class AgentDetailOutputSerializer(AgentOutputSerializer):
    versions = AgentVersionOutputSerializer(many=True, source="version_list")

    class Meta(AgentOutputSerializer.Meta):
        fields = [*AgentOutputSerializer.Meta.fields, "versions"]


class AnalyticsQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=365, default=30, required=False)


class DayUsageOutputSerializer(serializers.Serializer):
    day = serializers.DateField()
    api_calls = serializers.IntegerField()


class RevenueOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount_minor = serializers.IntegerField()


class AgentAnalyticsOutputSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    deployments = serializers.IntegerField(help_text="Buyer configs ever created for the agent.")
    active_deployments = serializers.IntegerField(help_text="Configs active now, with their subscription OK.")
    api_calls = serializers.IntegerField()
    demo_calls = serializers.IntegerField()
    tokens_input = serializers.IntegerField()
    tokens_output = serializers.IntegerField()
    tokens = serializers.IntegerField()
    revenue = RevenueOutputSerializer(many=True, help_text="Done orders paid in the window, per currency.")
    calls_per_day = DayUsageOutputSerializer(many=True, help_text="One point per day, oldest first.")


class RolloutInputSerializer(InputSerializer):
    version = serializers.CharField(max_length=32, help_text="The version to move every subscriber to.")


class RolloutOutputSerializer(serializers.Serializer):
    version = serializers.CharField()
    configs_moved = serializers.IntegerField(
        help_text="Subscribers moved to the version; each one's runtime flow is redeployed in the background."
    )
