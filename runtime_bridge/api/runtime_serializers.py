"""Shapes of the runtime endpoints, for the OpenAPI schema.

The endpoints themselves parse and validate with plain Python (`runtime_views`): they are on every chat's
path, and a batch of 1,000 usage events through per-event DRF serializers would cost more than the insert.
"""

from rest_framework import serializers

from marketplace.api.serializers import ErrorOutputSerializer

__all__ = [
    "ErrorOutputSerializer",
    "RuntimeAuthInputSerializer",
    "RuntimeAuthOutputSerializer",
    "RuntimeAuthRejectedOutputSerializer",
    "RuntimePingOutputSerializer",
    "UsageBatchInputSerializer",
    "UsageBatchOutputSerializer",
    "UsageEventInputSerializer",
    "UsageEventOutputSerializer",
]


class RuntimeAuthInputSerializer(serializers.Serializer):
    api_key = serializers.CharField(help_text="The buyer's secret key, `ar_sk_live_...`.")


class RuntimeBrandingOutputSerializer(serializers.Serializer):
    primary_colour = serializers.CharField()
    logo_url = serializers.CharField(allow_null=True)
    widget_position = serializers.CharField()
    theme = serializers.CharField()


class RuntimeLimitsOutputSerializer(serializers.Serializer):
    plan = serializers.CharField()
    monthly_quota_calls = serializers.IntegerField(allow_null=True, help_text="Null: unlimited.")
    rate_limit_per_minute = serializers.IntegerField()
    overage_allowed = serializers.BooleanField(help_text="Calls beyond the quota are billed, not refused.")


class RuntimeConfigOutputSerializer(serializers.Serializer):
    organization_uuid = serializers.UUIDField()
    agent_name = serializers.CharField()
    greeting = serializers.CharField()
    tone = serializers.CharField()
    language = serializers.CharField()
    system_prompt = serializers.CharField()
    branding = RuntimeBrandingOutputSerializer()
    runtime_flow_id = serializers.CharField()
    knowledge_base_uuid = serializers.UUIDField(allow_null=True)
    limits = RuntimeLimitsOutputSerializer()


class RuntimeAuthOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    config_uuid = serializers.UUIDField()
    key_expires_at = serializers.DateTimeField(allow_null=True)
    config = RuntimeConfigOutputSerializer()


class RuntimeAuthRejectedOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Always false.")
    reason = serializers.ChoiceField(
        choices=["malformed", "unknown", "revoked", "expired", "suspended", "subscription_inactive"]
    )


class RuntimePingOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()


class UsageEventInputSerializer(serializers.Serializer):
    config_uuid = serializers.UUIDField()
    api_calls = serializers.IntegerField(min_value=0, max_value=10_000, default=1)
    tokens_input = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)
    tokens_output = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)
    tokens_estimated = serializers.BooleanField(
        default=False, help_text="True when the runtime estimated the token counts instead of measuring them."
    )
    event_id = serializers.CharField(
        required=False,
        max_length=100,
        help_text="Your id for this event; a repeat is ignored and reported as a duplicate. Without one, CMP "
        "makes one up and the event cannot be deduplicated: a retried request is counted twice.",
    )
    occurred_at = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 with a time zone; at most 35 days ago and 5 minutes ahead. Default: now.",
    )


class UsageBatchInputSerializer(serializers.Serializer):
    events = UsageEventInputSerializer(many=True, max_length=1000, allow_empty=False)


class UsageEventOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["recorded", "duplicate"])
    event_id = serializers.CharField()


class UsageBatchResultOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["recorded", "duplicate", "not_found", "invalid"])
    event_id = serializers.CharField(allow_null=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for invalid events: the problem per field.",
    )


class UsageBatchOutputSerializer(serializers.Serializer):
    results = UsageBatchResultOutputSerializer(many=True, help_text="One per event, in the order sent.")
    recorded = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    not_found = serializers.IntegerField()
    invalid = serializers.IntegerField()
