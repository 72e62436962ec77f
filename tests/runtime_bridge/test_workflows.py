"""Automations against a real `lfx serve`: scheduled, webhook and manual runs reach the buyer's own flow,
usage is recorded once, failures are retried and visible, and every refusal changes nothing."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from runtime_bridge.models import RunStatus, RunTrigger, Workflow, WorkflowRun
from runtime_bridge.runtime_client import LfxServeClient, RuntimeUnavailable
from runtime_bridge.schedules import InvalidSchedule, cron_next, interval_next
from runtime_bridge.tasks import WORKFLOW_MAX_RETRIES, workflow_run_task, workflows_due_task
from runtime_bridge.workflows import template_render, workflow_create, workflow_run_execute, workflow_run_now
from site_agent.models import ConfigState, UsageDaily, UsageEvent, UsageSource
from site_agent.services.webhooks import sign
from tests.conftest import client_for
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.runtime_bridge.chat_fixtures import buy, list_agent

pytestmark = [pytest.mark.django_db, pytest.mark.services]

API = "/api/marketplace-ai-workflows/"


@pytest.fixture
def offering(support_flow):
    offering = list_agent(support_flow)
    offering.capabilities = [*offering.capabilities, "scheduling"]
    offering.save(update_fields=["capabilities"])
    return offering


@pytest.fixture
def tenant(runtime_settings, offering, django_capture_on_commit_callbacks):
    return buy(offering, django_capture_on_commit_callbacks)


@pytest.fixture
def runtime_calls(monkeypatch):
    """What is sent to the runtime (the call still goes to the real lfx serve)."""
    calls = []
    original = LfxServeClient.run

    def run(self, flow_id, **kwargs):
        calls.append({"flow_id": flow_id, **kwargs})
        return original(self, flow_id, **kwargs)

    monkeypatch.setattr(LfxServeClient, "run", run)
    return calls


def _workflow(tenant, **fields) -> tuple[Workflow, str]:
    values = {
        "name": "Morning digest",
        "input_template": "Summarise what happened on $date.",
        "trigger": "schedule",
        "schedule_kind": "interval",
        "interval_seconds": 3600,
        **fields,
    }
    return workflow_create(config=tenant.config, actor=tenant.user, **values)


def _calls(config) -> int:
    return UsageDaily.objects.filter(config=config).aggregate(total=Sum("api_calls"))["total"] or 0


def _trigger(api_client, workflow, body: bytes, secret: str, *, timestamp=None, signature=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    header = sign(secret=secret, timestamp=timestamp, body=body) if signature is None else signature
    return api_client.generic(
        "POST",
        f"{API}{workflow.uuid}/trigger/",
        body,
        content_type="application/json",
        HTTP_CMP_SIGNATURE=header,
    )


# --- Schedules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", datetime(2026, 1, 2, 9, 7, 30, tzinfo=UTC), datetime(2026, 1, 2, 9, 15, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 1, 2, 9, 15, tzinfo=UTC), datetime(2026, 1, 2, 9, 30, tzinfo=UTC)),
        # Friday 09:00 -> Monday 09:00
        ("0 9 * * 1-5", datetime(2026, 1, 2, 9, 0, tzinfo=UTC), datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        ("30 23 31 12 *", datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 12, 31, 23, 30, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2026, 3, 1, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
        # Both day fields restricted: either matches (the 1st of the month, or a Monday)
        ("0 12 1 * mon", datetime(2026, 1, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 5, 12, 0, tzinfo=UTC)),
    ],
)
def test_cron_next_run(expression, after, expected):
    assert cron_next(expression, after=after) == expected


@pytest.mark.parametrize("expression", ["", "* * * *", "61 * * * *", "* * * * 8", "0 0 30 2 *", "@daily"])
def test_invalid_cron_expressions_are_refused(expression):
    with pytest.raises(InvalidSchedule):
        cron_next(expression, after=datetime(2026, 1, 1, tzinfo=UTC))


def test_interval_next_run_keeps_the_rhythm_and_skips_missed_runs():
    planned = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)

    assert interval_next(600, after=planned, previous=None) == datetime(2026, 1, 1, 10, 10, tzinfo=UTC)
    # the tick came 20 s late: the rhythm stays on the planned minute
    assert interval_next(600, after=planned + timedelta(seconds=20), previous=planned) == datetime(
        2026, 1, 1, 10, 10, tzinfo=UTC
    )
    # the scheduler was down for 35 minutes: one run now, the next on the rhythm, none made up for
    assert interval_next(600, after=planned + timedelta(minutes=35), previous=planned) == datetime(
        2026, 1, 1, 10, 40, tzinfo=UTC
    )
    with pytest.raises(InvalidSchedule):
        interval_next(59, after=planned)


def test_template_placeholders_are_filled_and_nothing_is_evaluated():
    moment = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)

    text = template_render(
        "On $date ($datetime) costs $$5: ${payload} {{ 7*7 }} $__class__", moment=moment, payload='{"a": 1}'
    )

    assert text == 'On 2026-03-04 (2026-03-04T05:06:07Z) costs $5: {"a": 1} {{ 7*7 }} $__class__'


# --- Scheduled runs against the real runtime ---------------------------------------------------------


def test_a_due_schedule_runs_the_agent_and_records_usage_once(
    tenant, runtime_calls, django_capture_on_commit_callbacks
):
    workflow, _secret = _workflow(tenant)
    planned = timezone.now() - timedelta(seconds=30)
    Workflow.objects.filter(pk=workflow.pk).update(next_run_at=planned)

    with django_capture_on_commit_callbacks(execute=True):
        queued = workflows_due_task.delay().get()

    assert queued == 1
    run = WorkflowRun.objects.get(workflow=workflow)
    assert (run.trigger, run.status, run.attempts, run.error) == (
        RunTrigger.SCHEDULE,
        RunStatus.SUCCEEDED,
        1,
        "",
    )
    assert run.scheduled_for == planned
    assert run.input == f"Summarise what happened on {planned.date().isoformat()}."
    assert run.input in run.output  # the support flow's prompt template repeats the question
    assert run.duration_ms is not None
    assert run.finished_at >= run.started_at
    [call] = runtime_calls
    assert call["flow_id"] == str(tenant.config.uuid)
    assert call["input_value"] == run.input
    assert call["session_id"] == f"{tenant.config.uuid}:automation-{run.uuid.hex}"
    event = UsageEvent.objects.get(config=tenant.config)
    assert (event.event_id, event.source, event.api_calls) == (run.request_id, UsageSource.AUTOMATION, 1)
    assert _calls(tenant.config) == 1
    workflow.refresh_from_db()
    assert workflow.next_run_at == planned + timedelta(hours=1)
    assert workflow.last_run_at is not None

    # a second tick before the next planned time, and the same task delivered again: nothing more happens
    with django_capture_on_commit_callbacks(execute=True):
        assert workflows_due_task.delay().get() == 0
        workflow_run_task.delay(run.pk)
    assert WorkflowRun.objects.filter(workflow=workflow).count() == 1
    assert len(runtime_calls) == 1
    assert _calls(tenant.config) == 1


def test_paused_webhook_and_cancelled_workflows_are_not_scheduled(
    tenant, runtime_calls, django_capture_on_commit_callbacks
):
    paused, _ = _workflow(tenant, is_active=False)
    webhook, _ = _workflow(tenant, trigger="webhook")
    past = timezone.now() - timedelta(minutes=5)
    Workflow.objects.filter(pk__in=[paused.pk, webhook.pk]).update(next_run_at=past)
    archived, _ = _workflow(tenant)
    Workflow.objects.filter(pk=archived.pk).update(next_run_at=past)
    tenant.config.state = ConfigState.ARCHIVED
    tenant.config.save(update_fields=["state"])

    with django_capture_on_commit_callbacks(execute=True):
        assert workflows_due_task.delay().get() == 0

    assert WorkflowRun.objects.count() == 0
    assert runtime_calls == []


# --- Failures -----------------------------------------------------------------------------------------


def test_runtime_down_is_retried_then_the_run_fails_visibly_and_nothing_is_recorded(
    api_client, tenant, settings, django_capture_on_commit_callbacks
):
    workflow, _secret = _workflow(tenant)
    settings.RUNTIME_URL = "http://127.0.0.1:9"
    client = client_for(tenant.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}{workflow.uuid}/run/", {}, format="json")

    assert response.status_code == 202
    run = WorkflowRun.objects.get(workflow=workflow)
    assert run.status == RunStatus.FAILED
    assert run.attempts == WORKFLOW_MAX_RETRIES + 1
    assert run.error.startswith(
        f"The agent's runtime stayed unavailable after {WORKFLOW_MAX_RETRIES + 1} attempts"
    )
    assert run.output == ""
    assert UsageEvent.objects.filter(config=tenant.config).count() == 0
    history = client.get(f"{API}{workflow.uuid}/runs/").json()
    assert history["count"] == 1
    assert (history["results"][0]["status"], history["results"][0]["attempts"]) == ("failed", 6)
    assert history["results"][0]["error"] == run.error


def test_a_retry_after_an_outage_succeeds_and_is_counted_once(
    tenant, settings, runtime_calls, django_capture_on_commit_callbacks
):
    workflow, _secret = _workflow(tenant)
    original_url = settings.RUNTIME_URL
    settings.RUNTIME_URL = "http://127.0.0.1:9"
    with django_capture_on_commit_callbacks(execute=False):
        run = workflow_run_now(workflow=workflow, actor=tenant.user)
    with pytest.raises(RuntimeUnavailable):
        workflow_run_execute(run_id=run.pk, is_final_attempt=False)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.QUEUED, 1)
    assert run.error.startswith("Attempt 1 failed:")
    assert run.error.endswith("Retrying.")

    settings.RUNTIME_URL = original_url
    workflow_run_execute(run_id=run.pk, is_final_attempt=False)

    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (RunStatus.SUCCEEDED, 2, "")
    assert _calls(tenant.config) == 1


def test_an_exhausted_quota_fails_the_run_with_the_quota_message(
    runtime_settings, offering, runtime_calls, django_capture_on_commit_callbacks
):
    tenant = buy(offering, django_capture_on_commit_callbacks, monthly_quota_calls=1)
    workflow, _secret = _workflow(tenant)
    client = client_for(tenant.user)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}{workflow.uuid}/run/", {}, format="json").status_code == 202
    assert WorkflowRun.objects.get().status == RunStatus.SUCCEEDED

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}{workflow.uuid}/run/", {}, format="json")

    assert response.status_code == 202
    run = WorkflowRun.objects.get(uuid=response.json()["uuid"])
    assert (run.status, run.attempts, run.output) == (RunStatus.FAILED, 1, "")
    assert run.error.startswith(
        "This agent has used all 1 API calls included in the Starter plan this month."
    )
    assert len(runtime_calls) == 1
    assert _calls(tenant.config) == 1


# --- Webhook trigger ----------------------------------------------------------------------------------


def test_a_signed_webhook_runs_the_agent_with_its_payload(
    api_client, tenant, runtime_calls, django_capture_on_commit_callbacks
):
    workflow, secret = _workflow(tenant, trigger="webhook", input_template="New ticket: $payload")
    body = json.dumps({"ticket": 42, "subject": "Refund?"}).encode()

    with django_capture_on_commit_callbacks(execute=True):
        response = _trigger(api_client, workflow, body, secret)

    assert response.status_code == 202
    run = WorkflowRun.objects.get(workflow=workflow)
    assert response.json() == {"run": str(run.uuid), "status": "queued"}  # sent to the worker after commit
    assert (run.trigger, run.status) == (RunTrigger.WEBHOOK, RunStatus.SUCCEEDED)
    assert run.input == 'New ticket: {"ticket": 42, "subject": "Refund?"}'
    assert run.input in run.output
    assert runtime_calls[0]["input_value"] == run.input
    assert _calls(tenant.config) == 1


def test_bad_old_and_replayed_signatures_run_nothing(
    api_client, tenant, runtime_calls, django_capture_on_commit_callbacks
):
    workflow, secret = _workflow(tenant, trigger="webhook", input_template="Go: $payload")
    body = b'{"n": 1}'
    now = int(time.time())
    with django_capture_on_commit_callbacks(execute=True):
        first = _trigger(api_client, workflow, body, secret, timestamp=now)
    assert first.status_code == 202
    runs_before = WorkflowRun.objects.count()

    cases = {
        "replayed": _trigger(api_client, workflow, body, secret, timestamp=now),
        "wrong_secret": _trigger(api_client, workflow, body, "whsec_someone-else", timestamp=now),
        "changed_body": _trigger(
            api_client, workflow, b'{"n": 2}', secret, signature=sign(secret=secret, timestamp=now, body=body)
        ),
        "old": _trigger(api_client, workflow, body, secret, timestamp=now - 310),
        "future": _trigger(api_client, workflow, body, secret, timestamp=now + 310),
        "missing": _trigger(api_client, workflow, body, secret, signature=""),
        "malformed": _trigger(api_client, workflow, body, secret, signature="v1=abc,t=x"),
    }

    outcome = {name: (response.status_code, response.json()["code"]) for name, response in cases.items()}
    assert outcome == {
        "replayed": (400, "signature_replayed"),
        "wrong_secret": (401, "invalid_signature"),
        "changed_body": (401, "invalid_signature"),
        "old": (401, "signature_expired"),
        "future": (401, "signature_expired"),
        "missing": (400, "signature_missing"),
        "malformed": (400, "signature_missing"),
    }
    assert WorkflowRun.objects.count() == runs_before == 1
    assert len(runtime_calls) == 1
    assert _calls(tenant.config) == 1


def test_webhook_refusals_by_state_and_an_unknown_workflow(
    api_client, tenant, runtime_calls, django_capture_on_commit_callbacks
):
    scheduled, secret = _workflow(tenant)
    not_json = b"not json"

    wrong_trigger = _trigger(api_client, scheduled, b"{}", secret)
    bad_body = _trigger(api_client, scheduled, not_json, secret)
    unknown = api_client.post(
        f"{API}00000000-0000-4000-8000-000000000000/trigger/", b"{}", content_type="application/json"
    )

    assert (wrong_trigger.status_code, wrong_trigger.json()["code"]) == (409, "trigger_disabled")
    assert (bad_body.status_code, bad_body.json()["code"]) == (400, "invalid_json")
    assert unknown.status_code == 400  # no signature: refused before anything is looked up
    assert WorkflowRun.objects.count() == 0
    assert runtime_calls == []


def test_rotating_the_secret_invalidates_the_old_one(api_client, tenant, django_capture_on_commit_callbacks):
    workflow, old_secret = _workflow(tenant, trigger="webhook")
    client = client_for(tenant.user)

    rotated = client.post(f"{API}{workflow.uuid}/rotate_secret/")

    assert rotated.status_code == 200
    assert rotated["Cache-Control"] == "no-store"
    new_secret = rotated.json()["webhook_secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    assert _trigger(api_client, workflow, b"{}", old_secret).status_code == 401
    assert WorkflowRun.objects.count() == 0


# --- The API ------------------------------------------------------------------------------------------


def test_create_returns_the_secret_once_and_plans_the_next_run(tenant):
    client = client_for(tenant.user)
    before = timezone.now()

    response = client.post(
        API,
        {
            "config": str(tenant.config.uuid),
            "name": "Weekday brief",
            "trigger": "schedule",
            "schedule_kind": "cron",
            "cron_expression": "0  9 * *   1-5",
            "input_template": "Brief for $date",
        },
        format="json",
    )

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    workflow = Workflow.objects.get(uuid=body["uuid"])
    assert body["webhook_secret"].startswith("whsec_")
    assert body["webhook_secret"] not in workflow.webhook_secret_encrypted
    assert body["cron_expression"] == workflow.cron_expression == "0 9 * * 1-5"
    assert workflow.next_run_at == cron_next("0 9 * * 1-5", after=before)
    assert body["trigger_url"].endswith(f"{API}{workflow.uuid}/trigger/")
    retrieved = client.get(f"{API}{workflow.uuid}/").json()
    assert "webhook_secret" not in retrieved
    assert retrieved["config"] == str(tenant.config.uuid)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"schedule_kind": "interval", "interval_seconds": 59}, {"interval_seconds"}),
        ({"schedule_kind": "cron", "cron_expression": "every day"}, {"cron_expression"}),
        ({"schedule_kind": ""}, {"schedule_kind"}),
        ({"input_template": "Hello $name and $"}, {"input_template"}),
        ({"name": "  "}, {"name"}),
    ],
)
def test_invalid_settings_are_a_400_per_field_and_nothing_is_created(tenant, changes, errors):
    data = {
        "config": str(tenant.config.uuid),
        "name": "Digest",
        "trigger": "schedule",
        "schedule_kind": "interval",
        "interval_seconds": 600,
        "input_template": "Hi",
        **changes,
    }

    response = client_for(tenant.user).post(API, data, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == errors
    assert Workflow.objects.count() == 0


def test_partial_update_replans_and_refuses_unknown_fields(tenant):
    workflow, _secret = _workflow(tenant)
    client = client_for(tenant.user)

    changed = client.patch(
        f"{API}{workflow.uuid}/", {"schedule_kind": "cron", "cron_expression": "*/5 * * * *"}, format="json"
    )
    paused = client.patch(f"{API}{workflow.uuid}/", {"is_active": False}, format="json")
    refused = client.patch(f"{API}{workflow.uuid}/", {"next_run_at": None, "name": "X"}, format="json")

    assert changed.status_code == 200
    assert changed.json()["interval_seconds"] is None
    assert changed.json()["next_run_at"] is not None
    assert paused.status_code == 200
    assert paused.json()["next_run_at"] is None
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"next_run_at"}
    workflow.refresh_from_db()
    assert (workflow.name, workflow.schedule_kind, workflow.is_active) == ("Morning digest", "cron", False)


def test_only_offerings_with_scheduling_have_automations(
    runtime_settings, support_flow, django_capture_on_commit_callbacks
):
    plain = list_agent(support_flow)  # the agents shelf has no scheduling capability
    tenant = buy(plain, django_capture_on_commit_callbacks)
    client = client_for(tenant.user)

    created = client.post(
        API,
        {
            "config": str(tenant.config.uuid),
            "name": "Digest",
            "schedule_kind": "interval",
            "interval_seconds": 600,
            "input_template": "Hi",
        },
        format="json",
    )

    assert created.status_code == 400
    assert created.json()["code"] == "scheduling_not_included"
    assert Workflow.objects.count() == 0
    # one made before the capability was removed is hidden, not reachable
    plain.capabilities = [*plain.capabilities, "scheduling"]
    plain.save(update_fields=["capabilities"])
    workflow, _ = _workflow(tenant)
    plain.capabilities = [value for value in plain.capabilities if value != "scheduling"]
    plain.save(update_fields=["capabilities"])
    assert client.get(API).json()["count"] == 0
    assert client.get(f"{API}{workflow.uuid}/").status_code == 404


@pytest.fixture
def workflow_for_access(tenant):
    workflow, _secret = _workflow(tenant)
    return workflow


WRITES = [
    ("patch", "", {"name": "Renamed"}),
    ("post", "run/", {}),
    ("post", "rotate_secret/", {}),
    ("delete", "", None),
]


@pytest.mark.parametrize(("method", "suffix", "data"), WRITES)
@pytest.mark.parametrize(
    ("who", "read_status", "write_status"),
    [
        ("anonymous", 401, 401),
        ("other_organisation", 404, 404),
        ("member", 200, 403),
        ("owner", 200, None),
        ("operator", 200, None),
    ],
)
def test_access(tenant, workflow_for_access, operator, who, read_status, write_status, method, suffix, data):
    workflow = workflow_for_access
    if who == "anonymous":
        client = APIClient()
    elif who == "other_organisation":
        other = UserFactory()
        MembershipFactory(organization=OrganizationFactory(), user=other, role="owner")
        client = client_for(other)
    elif who == "member":
        member = UserFactory()
        MembershipFactory(organization=tenant.organization, user=member, role="member")
        client = client_for(member)
    elif who == "owner":
        client = client_for(tenant.user)
    else:
        client = client_for(operator)

    read = client.get(f"{API}{workflow.uuid}/")
    runs = client.get(f"{API}{workflow.uuid}/runs/")
    write = getattr(client, method)(f"{API}{workflow.uuid}/{suffix}", data, format="json")

    assert read.status_code == runs.status_code == read_status
    if write_status is None:
        assert write.status_code in (200, 202, 204)
    else:
        assert write.status_code == write_status
        workflow.refresh_from_db()
        assert workflow.name == "Morning digest"
        assert WorkflowRun.objects.count() == 0


def test_a_member_cannot_create_and_another_organisation_cannot_see_the_agent(tenant):
    member = UserFactory()
    MembershipFactory(organization=tenant.organization, user=member, role="member")
    stranger = UserFactory()
    MembershipFactory(organization=OrganizationFactory(), user=stranger, role="owner")
    data = {
        "config": str(tenant.config.uuid),
        "name": "Digest",
        "schedule_kind": "interval",
        "interval_seconds": 600,
        "input_template": "Hi",
    }

    assert client_for(member).post(API, data, format="json").status_code == 403
    assert client_for(stranger).post(API, data, format="json").status_code == 404
    assert Workflow.objects.count() == 0


def test_the_list_is_scoped_and_its_query_count_is_pinned(tenant, django_assert_max_num_queries):
    for index in range(5):
        _workflow(tenant, name=f"Digest {index}")
    other_user = UserFactory()
    MembershipFactory(organization=OrganizationFactory(), user=other_user, role="owner")
    client = client_for(tenant.user)

    with django_assert_max_num_queries(4):
        response = client.get(API, {"config": str(tenant.config.uuid)})

    assert response.status_code == 200
    assert response.json()["count"] == 5
    assert client_for(other_user).get(API).json()["count"] == 0


# --- The buyer's pages ----------------------------------------------------------------------------


def _page(tenant, workflow=None, action="") -> str:
    base = f"/organizations/{tenant.organization.uuid}/agents/{tenant.config.uuid}/automations/"
    return f"{base}{workflow.uuid}/{action}" if workflow else base


def test_an_owner_creates_an_automation_on_the_page_and_sees_its_secret_once(
    client, tenant, django_capture_on_commit_callbacks
):
    client.force_login(tenant.user)

    created = client.post(
        _page(tenant),
        {
            "name": "Hourly check",
            "trigger": "schedule",
            "schedule_kind": "interval",
            "interval_minutes": "90",
            "input_template": "Anything new on $date?",
            "is_active": "on",
        },
    )

    assert created.status_code == 201
    workflow = Workflow.objects.get()
    assert (workflow.name, workflow.interval_seconds, workflow.is_active) == ("Hourly check", 5400, True)
    html = created.content.decode()
    assert "shown only this once" in html
    assert 'value="whsec_' in html
    assert "whsec_" not in client.get(_page(tenant, workflow)).content.decode()
    listing = client.get(_page(tenant)).content.decode()
    assert "Hourly check" in listing
    assert "Every 90 min" in listing


def test_an_invalid_form_shows_the_service_errors_and_creates_nothing(client, tenant):
    client.force_login(tenant.user)

    response = client.post(
        _page(tenant),
        {
            "name": "Broken",
            "trigger": "schedule",
            "schedule_kind": "cron",
            "cron_expression": "99 * * * *",
            "input_template": "Hi $who",
        },
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Not a valid cron expression" in html
    assert "Unknown placeholder $who" in html
    assert Workflow.objects.count() == 0


def test_run_now_on_the_page_shows_the_run_with_its_output_and_duration(
    client, tenant, django_capture_on_commit_callbacks
):
    workflow, _secret = _workflow(tenant, input_template="Status report please")
    client.force_login(tenant.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_page(tenant, workflow, "run/"))

    assert response.status_code == 302
    run = WorkflowRun.objects.get(workflow=workflow)
    assert (run.trigger, run.status) == (RunTrigger.MANUAL, RunStatus.SUCCEEDED)
    html = client.get(_page(tenant, workflow)).content.decode()
    assert "Succeeded" in html
    assert f"{run.duration_ms} ms" in html
    assert "Status report please" in html
    assert "Run now" in html


def test_the_page_is_read_only_for_members_and_hidden_from_others(client, tenant):
    workflow, _secret = _workflow(tenant)
    member = UserFactory()
    MembershipFactory(organization=tenant.organization, user=member, role="member")
    stranger = UserFactory()
    MembershipFactory(organization=OrganizationFactory(), user=stranger, role="owner")

    client.force_login(member)
    detail = client.get(_page(tenant, workflow))
    refused = [
        client.post(_page(tenant), {"name": "X"}).status_code,
        client.post(_page(tenant, workflow), {"name": "X"}).status_code,
        client.post(_page(tenant, workflow, "run/")).status_code,
        client.post(_page(tenant, workflow, "rotate-secret/")).status_code,
        client.post(_page(tenant, workflow, "delete/")).status_code,
    ]
    client.force_login(stranger)
    hidden = [client.get(_page(tenant)).status_code, client.get(_page(tenant, workflow)).status_code]

    assert detail.status_code == 200
    assert "Run now" not in detail.content.decode()
    assert refused == [403, 403, 403, 403, 403]
    assert hidden == [404, 404]
    assert Workflow.objects.get().name == "Morning digest"
    assert WorkflowRun.objects.count() == 0


def test_editing_and_deleting_on_the_page(client, tenant):
    workflow, _secret = _workflow(tenant)
    client.force_login(tenant.user)

    saved = client.post(
        _page(tenant, workflow),
        {"name": "Webhook digest", "trigger": "webhook", "input_template": "Got $payload", "is_active": "on"},
    )
    workflow.refresh_from_db()
    detail = client.get(_page(tenant, workflow)).content.decode()
    deleted = client.post(_page(tenant, workflow, "delete/"))

    assert saved.status_code == 302
    assert (workflow.name, workflow.trigger, workflow.next_run_at) == ("Webhook digest", "webhook", None)
    assert f"{API}{workflow.uuid}/trigger/" in detail
    assert deleted.status_code == 302
    assert Workflow.objects.count() == 0


def test_operators_see_automations_and_runs_in_admin_without_the_secret(client, tenant, operator):
    workflow, secret = _workflow(tenant)
    WorkflowRun.objects.create(workflow=workflow, trigger="manual", input="Hi", request_id="wfr_admin")
    client.force_login(operator)

    pages = [
        client.get("/admin/runtime_bridge/workflow/"),
        client.get(f"/admin/runtime_bridge/workflow/{workflow.pk}/change/"),
        client.get("/admin/runtime_bridge/workflowrun/"),
    ]

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all(secret not in page.content.decode() for page in pages)
    assert workflow.webhook_secret_encrypted not in pages[1].content.decode()
