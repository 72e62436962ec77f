"""Serializers of the automations API (`/api/marketplace-ai-workflows/`). Input serializers check shapes;
`runtime_bridge.workflows` checks the rules (schedules, templates, capabilities) and reports per field."""

from rest_framework import serializers

from runtime_bridge.models import RunStatus, RunTrigger, ScheduleKind, TriggerKind, Workflow, WorkflowRun
from runtime_bridge.workflows import workflow_trigger_url


class WorkflowCreateInputSerializer(serializers.Serializer):
    config = serializers.UUIDField(help_text="The agent (buyer config) to run.")
    name = serializers.CharField(max_length=100)
    trigger = serializers.ChoiceField(choices=TriggerKind.choices, default=TriggerKind.SCHEDULE)
    schedule_kind = serializers.ChoiceField(choices=ScheduleKind.choices, required=False, allow_blank=True)
    cron_expression = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="Five fields, in UTC, e.g. '0 9 * * 1-5'."
    )
    interval_seconds = serializers.IntegerField(required=False, allow_null=True, help_text="At least 60.")
    input_template = serializers.CharField(
        max_length=8000,
        trim_whitespace=False,
        help_text="What to send the agent. $date, $datetime (UTC) and $payload (the webhook's JSON body) are "
        "filled in; $$ is a dollar sign. Nothing else is evaluated.",
    )
    is_active = serializers.BooleanField(default=True)


class WorkflowUpdateInputSerializer(serializers.Serializer):
    """Send only the fields to change."""

    name = serializers.CharField(max_length=100, required=False)
    trigger = serializers.ChoiceField(choices=TriggerKind.choices, required=False)
    schedule_kind = serializers.ChoiceField(choices=ScheduleKind.choices, required=False, allow_blank=True)
    cron_expression = serializers.CharField(max_length=100, required=False, allow_blank=True)
    interval_seconds = serializers.IntegerField(required=False, allow_null=True)
    input_template = serializers.CharField(max_length=8000, required=False, trim_whitespace=False)
    is_active = serializers.BooleanField(required=False)


class WorkflowRunInputSerializer(serializers.Serializer):
    payload = serializers.JSONField(required=False, help_text="Fills $payload for this run.")


class WorkflowOutputSerializer(serializers.ModelSerializer):
    config = serializers.UUIDField(source="config.uuid", read_only=True)
    trigger_url = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = [
            "uuid",
            "config",
            "name",
            "trigger",
            "schedule_kind",
            "cron_expression",
            "interval_seconds",
            "input_template",
            "is_active",
            "next_run_at",
            "last_run_at",
            "trigger_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_trigger_url(self, workflow: Workflow) -> str:
        return workflow_trigger_url(workflow)


class WorkflowCreatedOutputSerializer(WorkflowOutputSerializer):
    webhook_secret = serializers.CharField(
        read_only=True, help_text="Signs webhook triggers. Shown in this response only: keep it."
    )

    class Meta(WorkflowOutputSerializer.Meta):
        fields = [*WorkflowOutputSerializer.Meta.fields, "webhook_secret"]
        read_only_fields = fields


class WorkflowRunOutputSerializer(serializers.ModelSerializer):
    trigger = serializers.ChoiceField(choices=RunTrigger.choices, read_only=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)

    class Meta:
        model = WorkflowRun
        fields = [
            "uuid",
            "trigger",
            "status",
            "input",
            "output",
            "error",
            "attempts",
            "scheduled_for",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "request_id",
        ]
        read_only_fields = fields


class WorkflowSecretOutputSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField(help_text="The new secret, shown in this response only.")
