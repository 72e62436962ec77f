"""Usage ingestion is idempotent and its daily totals exact, also with parallel senders that retry."""

import datetime
import threading
from datetime import UTC

import pytest
from django.db import connection

from site_agent.models import DemoUsageDaily, UsageDaily, UsageEvent
from site_agent.services.usage import UsageInput, demo_usage_record, usage_record
from tests.marketplace.factories import OfferingFactory
from tests.site_agent.factories import ConfigFactory

DAY_ONE = datetime.datetime(2026, 11, 24, 23, 59, tzinfo=UTC)
DAY_TWO = datetime.datetime(2026, 11, 25, 0, 1, tzinfo=UTC)


def _event(config, event_id, occurred_at=DAY_ONE, **extra):
    return UsageInput(config_id=config.pk, event_id=event_id, occurred_at=occurred_at, **extra)


@pytest.mark.django_db
def test_new_events_are_recorded_and_repeats_ignored():
    config = ConfigFactory()

    first = usage_record(events=[_event(config, "a", tokens_input=10), _event(config, "b", tokens_output=5)])
    second = usage_record(
        events=[_event(config, "a", tokens_input=10), _event(config, "c"), _event(config, "c")]
    )

    assert first == [True, True]
    assert second == [False, True, False]
    assert UsageEvent.objects.filter(config=config).count() == 3
    day = UsageDaily.objects.get(config=config)
    assert (day.day.isoformat(), day.api_calls, day.tokens_input, day.tokens_output) == (
        "2026-11-24",
        3,
        10,
        5,
    )


@pytest.mark.django_db
def test_totals_are_split_by_utc_day():
    config = ConfigFactory()

    usage_record(
        events=[
            _event(config, "late", DAY_ONE, api_calls=2),
            _event(config, "early", DAY_TWO, api_calls=3),
            _event(config, "automation", DAY_TWO, source="automation"),
        ]
    )

    days = list(UsageDaily.objects.filter(config=config).values_list("day", "api_calls"))
    assert [(day.isoformat(), calls) for day, calls in days] == [("2026-11-24", 2), ("2026-11-25", 4)]


@pytest.mark.django_db(transaction=True)
def test_demo_messages_are_counted_per_offering_and_day_and_add_up_under_concurrency():
    offering = OfferingFactory()
    day = datetime.date(2026, 11, 25)
    errors: list[Exception] = []

    def answer(number: int) -> None:
        try:
            demo_usage_record(offering_id=offering.pk, day=day, tokens_input=number, tokens_output=1)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=answer, args=(number,)) for number in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    demo_usage_record(
        offering_id=offering.pk, day=day + datetime.timedelta(days=1), tokens_input=0, tokens_output=0
    )

    assert errors == []
    rows = DemoUsageDaily.objects.filter(offering=offering).values_list(
        "day", "calls", "tokens_input", "tokens_output"
    )
    assert list(rows) == [(day, 20, sum(range(20)), 20), (day + datetime.timedelta(days=1), 1, 0, 0)]
    assert UsageDaily.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_parallel_senders_with_retries_count_every_event_exactly_once():
    configs = [ConfigFactory(), ConfigFactory()]
    events = [
        _event(configs[n % 2], f"e{n}", DAY_ONE if n % 3 else DAY_TWO, tokens_input=n) for n in range(400)
    ]
    errors: list[Exception] = []

    def sender(offset: int) -> None:
        try:
            # Each sender posts overlapping batches twice, as a client retrying after a timeout would.
            for _attempt in range(2):
                for start in range(offset, 400, 100):
                    usage_record(events=events[start : start + 150])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(offset,)) for offset in (0, 50, 0, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert UsageEvent.objects.count() == 400
    totals = {config.pk: [0, 0] for config in configs}
    for day in UsageDaily.objects.all():
        totals[day.config_id][0] += day.api_calls
        totals[day.config_id][1] += day.tokens_input
    assert totals[configs[0].pk] == [200, sum(range(0, 400, 2))]
    assert totals[configs[1].pk] == [200, sum(range(1, 400, 2))]
