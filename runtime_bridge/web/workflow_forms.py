"""The automation form of the buyer's Scheduling page. It checks shapes; `runtime_bridge.workflows` checks
the schedule and the template and reports errors per field."""

from django import forms

from runtime_bridge.models import ScheduleKind, TriggerKind, Workflow
from runtime_bridge.workflows import MAX_TEMPLATE_CHARS

MINUTE = 60


class WorkflowForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="For you, e.g. “Morning digest”.")
    trigger = forms.ChoiceField(label="Starts", choices=TriggerKind.choices, initial=TriggerKind.SCHEDULE)
    schedule_kind = forms.ChoiceField(
        label="Schedule",
        choices=[("", "—"), *ScheduleKind.choices],
        required=False,
        initial=ScheduleKind.INTERVAL,
        help_text="For scheduled automations.",
    )
    interval_minutes = forms.IntegerField(
        label="Every (minutes)", min_value=1, required=False, help_text="For a fixed interval: at least 1."
    )
    cron_expression = forms.CharField(
        label="Cron expression",
        max_length=100,
        required=False,
        help_text="For a cron schedule, in UTC: minute hour day-of-month month day-of-week, "
        "e.g. <code>0 9 * * 1-5</code> (9:00 on weekdays).",
    )
    input_template = forms.CharField(
        label="Input",
        max_length=MAX_TEMPLATE_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What the agent is asked. <code>$date</code> and <code>$datetime</code> (UTC) and "
        "<code>$payload</code> (a webhook's JSON body) are filled in; <code>$$</code> is a dollar sign.",
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)

    FIELD_MAP = {"interval_seconds": "interval_minutes"}

    @classmethod
    def initial_for(cls, workflow: Workflow) -> dict:
        return {
            "name": workflow.name,
            "trigger": workflow.trigger,
            "schedule_kind": workflow.schedule_kind,
            "interval_minutes": workflow.interval_seconds // MINUTE if workflow.interval_seconds else None,
            "cron_expression": workflow.cron_expression,
            "input_template": workflow.input_template,
            "is_active": workflow.is_active,
        }

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        minutes = data.pop("interval_minutes")
        data["interval_seconds"] = minutes * MINUTE if minutes else None
        return data
