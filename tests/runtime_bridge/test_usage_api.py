"""`POST /api/runtime/usage/`: one event or a batch, idempotent by event id, nothing recorded when invalid."""

import datetime
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from site_agent.models import UsageDaily, UsageEvent
from tests.site_agent.factories import ConfigFactory

pytestmark = pytest.mark.django_db

RUNTIME_TOKEN = "runtime-token-for-tests-0123456789"
URL = "/api/runtime/usage/"


@pytest.fixture(autouse=True)
def _runtime_token(settings):
    settings.RUNTIME_SERVICE_TOKEN = RUNTIME_TOKEN


@pytest.fixture
def runtime() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RUNTIME_TOKEN}")
    return client


@pytest.fixture
def config():
    return ConfigFactory()


def _post(client, body):
    return client.post(URL, body, format="json")


def _totals(config) -> tuple[int, int, int]:
    days = UsageDaily.objects.filter(config=config)
    return (
        sum(day.api_calls for day in days),
        sum(day.tokens_input for day in days),
        sum(day.tokens_output for day in days),
    )


def test_one_event_is_recorded_then_reported_as_duplicate(runtime, config):
    body = {
        "config_uuid": str(config.uuid),
        "api_calls": 2,
        "tokens_input": 420,
        "tokens_output": 180,
        "event_id": "run-1",
        "occurred_at": "2026-01-01T10:00:00Z",
    }
    occurred_at = datetime.datetime(2026, 1, 1, 10, tzinfo=datetime.UTC)
    fake_now = occurred_at + datetime.timedelta(hours=1)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: fake_now)
        first = _post(runtime, body)
        second = _post(runtime, body)

    assert (first.status_code, first.json()) == (201, {"status": "recorded", "event_id": "run-1"})
    assert (second.status_code, second.json()) == (200, {"status": "duplicate", "event_id": "run-1"})
    event = UsageEvent.objects.get()
    assert (event.config_id, event.event_id, event.occurred_at, event.source) == (
        config.pk,
        "run-1",
        occurred_at,
        "runtime",
    )
    day = UsageDaily.objects.get(config=config)
    assert (day.day, day.api_calls, day.tokens_input, day.tokens_output) == (occurred_at.date(), 2, 420, 180)


def test_the_minimal_body_counts_one_call_now_with_a_generated_event_id(runtime, config):
    first = _post(runtime, {"config_uuid": str(config.uuid)})
    second = _post(runtime, {"config_uuid": str(config.uuid)})

    assert first.status_code == second.status_code == 201
    assert first.json()["event_id"] != second.json()["event_id"]
    uuid.UUID(first.json()["event_id"])
    assert _totals(config) == (2, 0, 0)  # without an event id a repeat cannot be recognised
    assert abs((UsageEvent.objects.first().occurred_at - timezone.now()).total_seconds()) < 60


def test_an_unknown_config_is_404_and_nothing_recorded(runtime, config):
    response = _post(runtime, {"config_uuid": str(uuid.uuid4()), "event_id": "x"})

    assert response.status_code == 404
    assert response.json()["errors"] == {"config_uuid": ["No agent config with this id."]}
    assert UsageEvent.objects.count() == 0


def _now_iso(**delta) -> str:
    return (timezone.now() + datetime.timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"api_calls": -1}, "api_calls"),
        ({"api_calls": 10_001}, "api_calls"),
        ({"api_calls": 1.5}, "api_calls"),
        ({"api_calls": "3"}, "api_calls"),
        ({"api_calls": True}, "api_calls"),
        ({"tokens_input": -5}, "tokens_input"),
        ({"tokens_input": 10_000_001}, "tokens_input"),
        ({"tokens_output": 10_000_001}, "tokens_output"),
        ({"tokens_estimated": "yes"}, "tokens_estimated"),
        ({"event_id": "e" * 101}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": 12}, "event_id"),
        ({"occurred_at": _now_iso(days=-36)}, "occurred_at"),
        ({"occurred_at": _now_iso(minutes=90)}, "occurred_at"),  # computed at collection: far enough ahead
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": 1767261600}, "occurred_at"),
        ({"config_uuid": "not-a-uuid"}, "config_uuid"),
        ({"config_uuid": None}, "config_uuid"),
        ({"tokens": 5}, "tokens"),
    ],
)
def test_invalid_values_are_400_naming_the_field_and_nothing_recorded(runtime, config, change, field):
    body = {"config_uuid": str(config.uuid), "api_calls": 1, "event_id": "e-1", **change}

    response = _post(runtime, body)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert UsageEvent.objects.count() == 0
    assert UsageDaily.objects.count() == 0


def test_limits_themselves_are_accepted(runtime, config):
    body = {
        "config_uuid": str(config.uuid),
        "api_calls": 10_000,
        "tokens_input": 10_000_000,
        "tokens_output": 0,
        "event_id": "e" * 100,
        "occurred_at": _now_iso(days=-34),
        "tokens_estimated": True,
    }

    response = _post(runtime, body)

    assert response.status_code == 201
    assert UsageEvent.objects.get().tokens_estimated is True


@pytest.mark.parametrize("body", ["not json", "[]", "42"])
def test_a_body_that_is_not_an_event_is_400(runtime, body):
    response = runtime.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 400
    assert UsageEvent.objects.count() == 0


def test_a_batch_reports_each_event_in_order(runtime, config):
    other = ConfigFactory()
    _post(runtime, {"config_uuid": str(config.uuid), "event_id": "seen", "api_calls": 7})
    missing = str(uuid.uuid4())
    events = [
        {"config_uuid": str(config.uuid), "event_id": "a", "api_calls": 1, "tokens_input": 10},
        {"config_uuid": str(config.uuid), "event_id": "seen", "api_calls": 7},
        {"config_uuid": missing, "event_id": "b"},
        {"config_uuid": str(config.uuid), "event_id": "c", "api_calls": -1},
        {"config_uuid": str(other.uuid), "event_id": "a", "tokens_output": 3},
        {"config_uuid": str(config.uuid), "event_id": "a", "api_calls": 1, "tokens_input": 10},
        "not an event",
    ]

    response = _post(runtime, {"events": events})

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"status": "recorded", "event_id": "a"},
            {"status": "duplicate", "event_id": "seen"},
            {"status": "not_found", "event_id": "b"},
            {
                "status": "invalid",
                "event_id": "c",
                "errors": {"api_calls": ["Must be between 0 and 10,000."]},
            },
            {"status": "recorded", "event_id": "a"},
            {"status": "duplicate", "event_id": "a"},
            {
                "status": "invalid",
                "event_id": None,
                "errors": {"non_field_errors": ["Each event must be a JSON object."]},
            },
        ],
        "recorded": 2,
        "duplicate": 2,
        "not_found": 1,
        "invalid": 2,
    }
    assert _totals(config) == (8, 10, 0)
    assert _totals(other) == (1, 0, 3)
    assert UsageEvent.objects.count() == 3


def test_a_batch_maps_configs_in_one_query_and_records_in_one_statement(
    runtime, config, django_assert_num_queries
):
    others = [ConfigFactory() for _ in range(3)]
    events = [
        {"config_uuid": str(target.uuid), "event_id": f"e-{number}"}
        for number, target in enumerate([config, *others] * 50)
    ]

    # the config lookup, then (in a savepoint here, a transaction in production) the events' insert and the
    # daily totals' upsert: 1 + 2 statements whatever the batch size, plus SAVEPOINT and RELEASE
    with django_assert_num_queries(5):
        response = _post(runtime, {"events": events})

    assert response.json()["recorded"] == 200
    assert _totals(config) == (50, 0, 0)


@pytest.mark.parametrize(
    "body",
    [
        {"events": []},
        {"events": "x"},
        {"events": [{"config_uuid": "x"}] * 1001},
        {"events": [], "extra": 1},
    ],
)
def test_an_empty_oversized_or_malformed_batch_is_400(runtime, config, body):
    response = _post(runtime, body)

    assert response.status_code == 400
    assert UsageEvent.objects.count() == 0


def test_a_batch_of_1000_is_accepted(runtime, config):
    events = [{"config_uuid": str(config.uuid), "event_id": f"e-{n}", "tokens_input": 2} for n in range(1000)]

    response = _post(runtime, {"events": events})

    assert response.json()["recorded"] == 1000
    assert _totals(config) == (1000, 2000, 0)


def test_usage_needs_the_runtime_credential(config, user):
    anonymous = APIClient()
    signed_in = APIClient()
    signed_in.force_login(user)

    for client in (anonymous, signed_in):
        response = _post(client, {"config_uuid": str(config.uuid), "event_id": "x"})
        assert response.status_code == 401
    assert UsageEvent.objects.count() == 0
