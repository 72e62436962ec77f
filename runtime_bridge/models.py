"""Automations: a buyer's agent run on a schedule or from a signed webhook, and the history of its runs."""

from django.db import models

from cmp.models import PublicModel
from runtime_bridge.schedules import MIN_INTERVAL_SECONDS


class TriggerKind(models.TextChoices):
    SCHEDULE = "schedule", "On a schedule"
    WEBHOOK = "webhook", "From a signed webhook"


class ScheduleKind(models.TextChoices):
    CRON = "cron", "Cron expression"
    INTERVAL = "interval", "Fixed interval"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    MANUAL = "manual", "Run now"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Workflow(PublicModel):
    """An automation of one buyer agent: what to send it (a template) and when (a schedule or a webhook)."""

    config = models.ForeignKey(
        "site_agent.CustomerAgentConfig", on_delete=models.CASCADE, related_name="workflows"
    )
    name = models.CharField(max_length=100)
    trigger = models.CharField(max_length=10, choices=TriggerKind.choices, default=TriggerKind.SCHEDULE)
    schedule_kind = models.CharField(max_length=10, choices=ScheduleKind.choices, blank=True)
    cron_expression = models.CharField(max_length=100, blank=True)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    input_template = models.TextField(
        max_length=8000, help_text="Sent to the agent; $date, $datetime and $payload are filled in."
    )
    is_active = models.BooleanField(default=True)
    webhook_secret_encrypted = models.TextField(help_text="Signs webhook triggers; encrypted (cmp.crypto).")
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_run_at"],
                name="workflow_due",
                condition=models.Q(is_active=True, trigger="schedule"),
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(trigger__in=TriggerKind.values), name="workflow_trigger"
            ),
            models.CheckConstraint(
                condition=models.Q(schedule_kind__in=[*ScheduleKind.values, ""]),
                name="workflow_schedule_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(interval_seconds__isnull=True)
                | models.Q(interval_seconds__gte=MIN_INTERVAL_SECONDS),
                name="workflow_interval_min",
            ),
            models.CheckConstraint(
                condition=~models.Q(trigger="schedule")
                | models.Q(schedule_kind="cron", cron_expression__gt="")
                | models.Q(schedule_kind="interval", interval_seconds__isnull=False),
                name="workflow_schedule_complete",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowRun(PublicModel):
    """One run of an automation: its input, the agent's output or the error, attempts and timing."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    input = models.TextField()
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    scheduled_for = models.DateTimeField(
        null=True, blank=True, help_text="The planned time of a scheduled run (one run per planned time)."
    )
    signature = models.CharField(
        max_length=64, blank=True, help_text="The webhook trigger's signature, so a replay is refused."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, unique=True, help_text="Usage is recorded under this id.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workflow", "-created_at"], name="workflow_run_history")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(trigger__in=RunTrigger.values), name="workflow_run_trigger"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=RunStatus.values), name="workflow_run_status"
            ),
            models.UniqueConstraint(
                fields=["workflow", "scheduled_for"],
                condition=models.Q(scheduled_for__isnull=False),
                name="workflow_run_once_per_slot",
            ),
            models.UniqueConstraint(
                fields=["workflow", "signature"],
                condition=~models.Q(signature=""),
                name="workflow_run_signature_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id}:{self.uuid} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
