"""Automations: a buyer's agent run on a schedule (cron or interval) or from a signed webhook.

A run is created queued (by the scheduler, a webhook trigger or "run now"), with its input rendered from
the workflow's template at that moment; after commit the `workflow_run_task` sends it to the agent through
the chat gateway's own steps (subscription, monthly quota, knowledge context, run-time variables, usage
recorded once under the run's request id). A runtime that is down is retried with backoff; every attempt,
the last error and the final status stay visible in the run history.

Webhook triggers are anonymous POSTs signed like CMP's outgoing webhooks:
    CMP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the workflow's secret>
Timestamps more than five minutes away are refused, and a signature is accepted once (it is stored with
the run it started), so a captured request cannot be replayed. The JSON body becomes `$payload`.
"""

import hmac
import json
import logging
import secrets
import string
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from cmp.crypto import decrypt, encrypt
from cmp.errors import ApplicationError, ConflictError, NotFoundError
from marketplace.models import Capability
from marketplace.selectors import organization_list_for_user
from runtime_bridge import gateway
from runtime_bridge.models import RunStatus, RunTrigger, ScheduleKind, TriggerKind, Workflow, WorkflowRun
from runtime_bridge.runtime_client import RuntimeUnavailable
from runtime_bridge.schedules import InvalidSchedule, cron_next, cron_parse, interval_check, interval_next
from site_agent.models import ConfigState, CustomerAgentConfig
from site_agent.services.webhooks import sign

logger = logging.getLogger(__name__)

PLACEHOLDERS = ("date", "datetime", "payload")
MAX_TEMPLATE_CHARS = gateway.MAX_INPUT_CHARS
MAX_NAME_CHARS = 100
MAX_WORKFLOWS_PER_CONFIG = 20
MAX_WAITING_RUNS = 10  # queued or running runs of one workflow; more triggers are refused until they finish
MAX_PAYLOAD_BYTES = 64 * 1024
SIGNATURE_TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not a secret
DUE_BATCH = 500
EDITABLE_FIELDS = (
    "name",
    "trigger",
    "schedule_kind",
    "cron_expression",
    "interval_seconds",
    "input_template",
    "is_active",
)
SCHEDULE_FIELDS = {"trigger", "schedule_kind", "cron_expression", "interval_seconds", "is_active"}


class InvalidSignature(ApplicationError):
    status_code = 401
    default_code = "invalid_signature"


class TooManyWaitingRuns(ApplicationError):
    status_code = 429
    default_code = "too_many_runs"


# --- Reads ------------------------------------------------------------------------------------------


def workflow_list_for_user(*, user) -> QuerySet[Workflow]:
    """Automations of the user's organisations' agents whose offering has the scheduling capability."""
    return (
        Workflow.objects.filter(
            config__organization__in=organization_list_for_user(user=user),
            config__resource__offering__capabilities__contains=[Capability.SCHEDULING],
        )
        .select_related("config__organization")
        .order_by("-created_at", "-id")
    )


def workflow_get_for_user(*, user, uuid) -> Workflow:
    workflow = workflow_list_for_user(user=user).filter(uuid=uuid).first()
    if workflow is None:
        raise Http404
    return workflow


def workflow_list_for_config(*, config: CustomerAgentConfig) -> QuerySet[Workflow]:
    return config.workflows.order_by("-created_at", "-id")


def workflow_get_for_config(*, config: CustomerAgentConfig, uuid) -> Workflow:
    workflow = config.workflows.filter(uuid=uuid).select_related("config").first()
    if workflow is None:
        raise Http404
    return workflow


def workflow_run_list(*, workflow: Workflow) -> QuerySet[WorkflowRun]:
    """A workflow's runs, newest first (slice or paginate it: it only grows)."""
    return workflow.runs.order_by("-created_at", "-id")


def workflow_trigger_url(workflow: Workflow) -> str:
    """Where a webhook-triggered automation is started (the secret signs the request, it is not in here)."""
    return settings.SITE_URL + reverse("workflow-trigger", args=[workflow.uuid])


def config_has_scheduling(*, config: CustomerAgentConfig) -> bool:
    return config.resource.offering.has_capability(Capability.SCHEDULING)


# --- Templates and schedules ----------------------------------------------------------------------


def template_check(template) -> str:
    """A string.Template using only $date, $datetime and $payload ($$ for a dollar sign): nothing in it is
    ever evaluated, placeholders are only replaced."""
    if not isinstance(template, str) or not template.strip():
        raise ApplicationError(
            "Write what to send.", errors={"input_template": ["This field may not be blank."]}
        )
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ApplicationError(
            "The input template is too long.",
            errors={"input_template": [f"At most {MAX_TEMPLATE_CHARS:,} characters."]},
        )
    parsed = string.Template(template)
    problems = []
    if not parsed.is_valid():
        problems.append("A '$' must start $date, $datetime or $payload; write $$ for a dollar sign.")
    unknown = sorted(set(parsed.get_identifiers()) - set(PLACEHOLDERS))
    if unknown:
        names = ", ".join(f"${name}" for name in unknown)
        problems.append(
            f"Unknown placeholder {names}: use $date, $datetime or $payload ($$ for a dollar sign)."
        )
    if problems:
        raise ApplicationError("The input template is not valid.", errors={"input_template": problems})
    return template


def template_render(template: str, *, moment: datetime, payload: str = "") -> str:
    moment = moment.astimezone(UTC)
    values = {
        "date": moment.date().isoformat(),
        "datetime": moment.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "payload": payload,
    }
    return string.Template(template).safe_substitute(values)


def next_run_after(workflow: Workflow, *, now: datetime, previous: datetime | None = None) -> datetime | None:
    """When a scheduled workflow runs next (None for webhook or paused workflows)."""
    if workflow.trigger != TriggerKind.SCHEDULE or not workflow.is_active:
        return None
    if workflow.schedule_kind == ScheduleKind.CRON:
        return cron_next(workflow.cron_expression, after=now)
    return interval_next(workflow.interval_seconds, after=now, previous=previous)


def _clean(values: dict) -> dict:
    """The workflow's fields checked together (a schedule needs its kind and its expression or interval);
    errors are reported per field. Fields that do not apply to the trigger are cleared."""
    errors: dict[str, list[str]] = {}
    name = values.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["This field may not be blank."]
    elif len(name.strip()) > MAX_NAME_CHARS:
        errors["name"] = [f"At most {MAX_NAME_CHARS} characters."]
    try:
        template_check(values.get("input_template"))
    except ApplicationError as error:
        errors.update(error.errors)
    if not isinstance(values.get("is_active"), bool):
        errors["is_active"] = ["Must be true or false."]
    trigger = values.get("trigger")
    cleaned = {
        "name": name.strip() if isinstance(name, str) else name,
        "input_template": values.get("input_template"),
        "is_active": values.get("is_active"),
        "trigger": trigger,
        "schedule_kind": "",
        "cron_expression": "",
        "interval_seconds": None,
    }
    if trigger not in TriggerKind.values:
        errors["trigger"] = [f"One of: {', '.join(TriggerKind.values)}."]
    elif trigger == TriggerKind.SCHEDULE:
        kind = values.get("schedule_kind")
        cleaned["schedule_kind"] = kind
        if kind == ScheduleKind.CRON:
            expression = " ".join((values.get("cron_expression") or "").split())
            try:
                cron_parse(expression)
                cron_next(expression, after=timezone.now())
            except InvalidSchedule as error:
                errors["cron_expression"] = [str(error)]
            cleaned["cron_expression"] = expression
        elif kind == ScheduleKind.INTERVAL:
            try:
                cleaned["interval_seconds"] = interval_check(values.get("interval_seconds"))
            except InvalidSchedule as error:
                errors["interval_seconds"] = [str(error)]
        else:
            errors["schedule_kind"] = [f"A schedule is one of: {', '.join(ScheduleKind.values)}."]
    if errors:
        raise ApplicationError("Some settings are not valid.", errors=errors)
    return cleaned


# --- Workflows --------------------------------------------------------------------------------------


def _check_config(config: CustomerAgentConfig) -> None:
    if config.state == ConfigState.ARCHIVED:
        raise ConflictError("This agent was cancelled; its settings are read-only.", code="read_only")
    if not config_has_scheduling(config=config):
        raise ApplicationError(
            "This agent's offering does not include automations.",
            code="scheduling_not_included",
            errors={"config": ["The offering has no scheduling capability."]},
        )


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def workflow_create(
    *,
    config: CustomerAgentConfig,
    actor,
    name: str,
    input_template: str,
    trigger: str = TriggerKind.SCHEDULE,
    schedule_kind: str = "",
    cron_expression: str = "",
    interval_seconds: int | None = None,
    is_active: bool = True,
) -> tuple[Workflow, str]:
    """A new automation and its webhook signing secret, returned here once and stored encrypted."""
    cleaned = _clean(
        {
            "name": name,
            "input_template": input_template,
            "trigger": trigger,
            "schedule_kind": schedule_kind,
            "cron_expression": cron_expression,
            "interval_seconds": interval_seconds,
            "is_active": is_active,
        }
    )
    config = (
        CustomerAgentConfig.objects.select_for_update().select_related("resource__offering").get(pk=config.pk)
    )
    _check_config(config)
    if config.workflows.count() >= MAX_WORKFLOWS_PER_CONFIG:
        raise ConflictError(
            f"An agent can have at most {MAX_WORKFLOWS_PER_CONFIG} automations.", code="too_many"
        )
    secret = _new_secret()
    workflow = Workflow(config=config, webhook_secret_encrypted=encrypt(secret), **cleaned)
    workflow.next_run_at = next_run_after(workflow, now=timezone.now())
    workflow.save()
    logger.info("Workflow %s created for config %s", workflow.uuid, config.uuid)
    return workflow, secret


def _locked(workflow: Workflow) -> Workflow:
    workflow = (
        Workflow.objects.select_for_update(of=("self",))
        .select_related("config__resource__offering")
        .get(pk=workflow.pk)
    )
    _check_config(workflow.config)
    return workflow


@transaction.atomic
def workflow_update(*, workflow: Workflow, actor, data: dict) -> Workflow:
    """Change some fields (others keep their values). A new schedule, trigger or re-activation plans the
    next run from now."""
    unknown = sorted(set(data) - set(EDITABLE_FIELDS))
    if unknown:
        raise ApplicationError(
            "Some fields cannot be changed.",
            errors={field: ["Unknown or read-only field."] for field in unknown},
        )
    workflow = _locked(workflow)
    values = {field: getattr(workflow, field) for field in EDITABLE_FIELDS}
    cleaned = _clean({**values, **data})
    schedule_changed = any(cleaned[field] != values[field] for field in SCHEDULE_FIELDS)
    for field, value in cleaned.items():
        setattr(workflow, field, value)
    if schedule_changed:
        workflow.next_run_at = next_run_after(workflow, now=timezone.now())
    workflow.save(update_fields=[*EDITABLE_FIELDS, "next_run_at", "updated_at"])
    return workflow


@transaction.atomic
def workflow_delete(*, workflow: Workflow, actor) -> None:
    """Delete an automation and its run history (a run in flight finishes without being recorded)."""
    workflow = _locked(workflow)
    logger.info("Workflow %s deleted", workflow.uuid)
    workflow.delete()


@transaction.atomic
def workflow_rotate_secret(*, workflow: Workflow, actor) -> tuple[Workflow, str]:
    """A new webhook signing secret, returned once; the old one stops working at once."""
    workflow = _locked(workflow)
    secret = _new_secret()
    workflow.webhook_secret_encrypted = encrypt(secret)
    workflow.save(update_fields=["webhook_secret_encrypted", "updated_at"])
    logger.info("Workflow %s: webhook secret rotated", workflow.uuid)
    return workflow, secret


# --- Runs -------------------------------------------------------------------------------------------


def _enqueue(run_id: int) -> None:
    from runtime_bridge.tasks import workflow_run_task

    transaction.on_commit(lambda: workflow_run_task.delay(run_id))


def _waiting_runs(workflow: Workflow) -> int:
    return workflow.runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count()


def _create_run(
    workflow: Workflow,
    *,
    trigger: str,
    now: datetime,
    payload: str = "",
    scheduled_for: datetime | None = None,
    signature: str = "",
) -> WorkflowRun:
    """A queued run of a locked workflow, its input rendered now; sent to the agent after commit."""
    text = template_render(workflow.input_template, moment=scheduled_for or now, payload=payload)
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ApplicationError(
            f"The input would be {len(text):,} characters with this payload; the agent takes at most "
            f"{MAX_TEMPLATE_CHARS:,}.",
            code="input_too_long",
        )
    if not text.strip():
        raise ApplicationError("The input is empty once the placeholders are filled in.", code="input_empty")
    run = WorkflowRun.objects.create(
        workflow=workflow,
        trigger=trigger,
        input=text,
        scheduled_for=scheduled_for,
        signature=signature,
        request_id=f"wfr_{uuid.uuid4().hex}",
    )
    workflow.last_run_at = now
    workflow.save(update_fields=["last_run_at", "updated_at"])
    _enqueue(run.pk)
    return run


def _check_can_run(workflow: Workflow) -> None:
    if workflow.config.state != ConfigState.ACTIVE or not workflow.config.resource.is_active:
        raise ConflictError(
            "This agent's subscription is not active, so it cannot run.", code="subscription_inactive"
        )
    if _waiting_runs(workflow) >= MAX_WAITING_RUNS:
        raise TooManyWaitingRuns(
            f"{MAX_WAITING_RUNS} runs of this automation are still waiting; try again once they finish."
        )


def _payload_text(payload) -> str:
    if payload is None:
        return ""
    return json.dumps(payload, ensure_ascii=False, separators=(", ", ": "))


@transaction.atomic
def workflow_run_now(*, workflow: Workflow, actor, payload=None) -> WorkflowRun:
    """Run the automation once now, whatever its trigger (`payload`, if given, fills $payload)."""
    workflow = _locked(workflow)
    _check_can_run(workflow)
    return _create_run(
        workflow, trigger=RunTrigger.MANUAL, now=timezone.now(), payload=_payload_text(payload)
    )


def _signature_parts(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and len(value) == 64 and all(c in string.hexdigits for c in value):
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        raise ApplicationError(
            'Sign the request: CMP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">.',
            code="signature_missing",
        )
    return timestamp, signatures


def workflow_trigger_webhook(*, workflow_uuid, signature_header: str, body: bytes) -> WorkflowRun:
    """Start a run from a signed webhook. Refused, with nothing run or recorded: a missing or malformed
    signature or body (400), a wrong signature or a timestamp more than five minutes away (401), a replayed
    signature (400), a workflow that is paused, not webhook-triggered or whose agent is inactive (409)."""
    timestamp, signatures = _signature_parts(signature_header)
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ApplicationError(f"The body is larger than {MAX_PAYLOAD_BYTES // 1024} KB.", code="too_large")
    try:
        uuid.UUID(str(workflow_uuid))
    except ValueError as error:
        raise NotFoundError("No automation with this id.") from error
    workflow = (
        Workflow.objects.select_related("config__resource__offering").filter(uuid=workflow_uuid).first()
    )
    if workflow is None or not config_has_scheduling(config=workflow.config):
        raise NotFoundError("No automation with this id.")
    expected = sign(secret=decrypt(workflow.webhook_secret_encrypted), timestamp=timestamp, body=body)
    expected = expected.rpartition("v1=")[2]
    matched = next((value for value in signatures if hmac.compare_digest(value, expected)), None)
    if matched is None:
        raise InvalidSignature("The signature does not match this automation's secret.")
    now = timezone.now()
    if abs(now.timestamp() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidSignature(
            "The signature's timestamp is more than five minutes away; sign each request when sending it.",
            code="signature_expired",
        )
    try:
        payload = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError) as error:
        raise ApplicationError("The body is not valid JSON.", code="invalid_json") from error
    try:
        with transaction.atomic():
            workflow = _locked(workflow)
            if workflow.runs.filter(signature=matched).exists():
                raise _replayed()
            if workflow.trigger != TriggerKind.WEBHOOK or not workflow.is_active:
                raise ConflictError(
                    "This automation is paused or is not started by webhooks.", code="trigger_disabled"
                )
            _check_can_run(workflow)
            return _create_run(
                workflow,
                trigger=RunTrigger.WEBHOOK,
                now=now,
                payload=_payload_text(payload),
                signature=matched,
            )
    except IntegrityError as error:  # the same request twice at once: the unique signature decides
        raise _replayed() from error


def _replayed() -> ApplicationError:
    return ApplicationError("This signed request was already received.", code="signature_replayed")


def workflows_enqueue_due(*, now: datetime | None = None, limit: int = DUE_BATCH) -> int:
    """Queue one run of every scheduled workflow that is due, and plan its next run. Rows are locked and
    skipped when another scheduler holds them, and a planned time gets one run at most, so overlapping
    ticks never run a workflow twice. Runs missed while the scheduler was down are not made up for."""
    now = now or timezone.now()
    queued = 0
    with transaction.atomic():
        due = list(
            Workflow.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("config__resource")
            .filter(
                trigger=TriggerKind.SCHEDULE,
                is_active=True,
                next_run_at__lte=now,
                config__state=ConfigState.ACTIVE,
            )
            .order_by("next_run_at")[:limit]
        )
        for workflow in due:
            planned = workflow.next_run_at
            try:
                with transaction.atomic():
                    if _waiting_runs(workflow) >= MAX_WAITING_RUNS:
                        logger.warning(
                            "Workflow %s: %s runs still waiting, skipped", workflow.uuid, MAX_WAITING_RUNS
                        )
                    elif not workflow.config.resource.is_active:
                        logger.info("Workflow %s: subscription not active, skipped", workflow.uuid)
                    else:
                        _create_run(workflow, trigger=RunTrigger.SCHEDULE, now=now, scheduled_for=planned)
                        queued += 1
            except (ApplicationError, IntegrityError) as error:
                logger.warning("Workflow %s: scheduled run not created: %s", workflow.uuid, error)
            workflow.next_run_at = next_run_after(workflow, now=now, previous=planned)
            workflow.save(update_fields=["next_run_at", "updated_at"])
    return queued


def _finish(run_id: int, *, status: str, output: str = "", error: str = "") -> WorkflowRun | None:
    with transaction.atomic():
        run = WorkflowRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:  # the workflow was deleted while its run was in flight
            return None
        finished = timezone.now()
        run.status = status
        run.output = output
        run.error = error[:4000]
        if status == RunStatus.QUEUED:  # waiting for another attempt
            run.save(update_fields=["status", "error", "updated_at"])
            return run
        run.finished_at = finished
        started = run.started_at or finished
        run.duration_ms = max(0, round((finished - started).total_seconds() * 1000))
        run.save(update_fields=["status", "output", "error", "finished_at", "duration_ms", "updated_at"])
        return run


def workflow_run_execute(*, run_id: int, is_final_attempt: bool) -> WorkflowRun | None:
    """One attempt at a run. A finished (or deleted) run is left alone, so a repeated task does nothing.
    RuntimeUnavailable is re-raised for the task to retry unless this was the final attempt; every other
    refusal (quota, subscription, the runtime rejecting the flow) fails the run with its message."""
    with transaction.atomic():
        run = (
            WorkflowRun.objects.select_for_update(of=("self",))
            .select_related("workflow__config")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.is_finished:
            return run
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = timezone.now()
        run.save(update_fields=["status", "attempts", "started_at", "updated_at"])
    try:
        prepared = gateway.automation_prepare(
            config_uuid=run.workflow.config.uuid,
            text=run.input,
            request_id=run.request_id,
            session_id=f"automation-{run.uuid.hex}",
        )
        reply = gateway.automation_run(prepared=prepared)
    except RuntimeUnavailable as error:
        if is_final_attempt:
            return _finish(
                run.pk,
                status=RunStatus.FAILED,
                error=f"The agent's runtime stayed unavailable after {run.attempts} attempts: {error.detail}",
            )
        _finish(
            run.pk, status=RunStatus.QUEUED, error=f"Attempt {run.attempts} failed: {error.detail} Retrying."
        )
        raise
    except ApplicationError as error:
        return _finish(run.pk, status=RunStatus.FAILED, error=error.detail)
    except Exception:
        logger.exception("Workflow run %s failed unexpectedly", run.uuid)
        return _finish(run.pk, status=RunStatus.FAILED, error="Something went wrong on our side.")
    return _finish(run.pk, status=RunStatus.SUCCEEDED, output=reply.output)
