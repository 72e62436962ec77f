"""Usage ingestion: idempotent by (config, event_id), aggregated per config and day in the same transaction.

One INSERT ... ON CONFLICT DO NOTHING RETURNING tells which events are new; only those are added to the
daily totals (one upsert per config and day, in a fixed order so concurrent batches cannot deadlock).
Totals are therefore exact under retries and parallel senders.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction

from site_agent.models import DemoUsageDaily, UsageDaily, UsageEvent, UsageSource

EVENT_COLUMNS = (
    "config_id",
    "event_id",
    "occurred_at",
    "api_calls",
    "tokens_input",
    "tokens_output",
    "tokens_estimated",
    "source",
    "created_at",
)


@dataclass(frozen=True)
class UsageInput:
    config_id: int
    event_id: str
    occurred_at: datetime
    api_calls: int = 1
    tokens_input: int = 0
    tokens_output: int = 0
    tokens_estimated: bool = False
    source: str = UsageSource.RUNTIME


# Database types of EVENT_COLUMNS (without created_at): the batch travels as one array per column, so the
# statement has eight parameters whatever the batch size (a VALUES list of 1,000 rows has 8,000, which the
# driver must splice into the SQL text and the server must parse, each time).
EVENT_COLUMN_TYPES = ("bigint", "text", "timestamptz", "integer", "integer", "integer", "boolean", "text")


def _insert_events(events: list[UsageInput]) -> list[tuple]:
    table = UsageEvent._meta.db_table
    columns = EVENT_COLUMNS[:-1]
    arrays = ", ".join(f"%s::{column_type}[]" for column_type in EVENT_COLUMN_TYPES)
    sql = (
        f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608 - table and column names are ours
        f"SELECT {', '.join(columns)}, now() FROM unnest({arrays}) AS event({', '.join(columns)}) "
        "ON CONFLICT (config_id, event_id) DO NOTHING "
        "RETURNING config_id, event_id, (occurred_at AT TIME ZONE 'UTC')::date, api_calls, tokens_input, "
        "tokens_output, source"
    )
    params = [
        [event.config_id for event in events],
        [event.event_id for event in events],
        [event.occurred_at for event in events],
        [event.api_calls for event in events],
        [event.tokens_input for event in events],
        [event.tokens_output for event in events],
        [event.tokens_estimated for event in events],
        [str(event.source) for event in events],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _add_to_daily(inserted: list[tuple]) -> None:
    totals: dict[tuple[int, object], list[int]] = defaultdict(lambda: [0, 0, 0])
    for config_id, _event_id, day, api_calls, tokens_input, tokens_output, _source in inserted:
        total = totals[(config_id, day)]
        total[0] += api_calls
        total[1] += tokens_input
        total[2] += tokens_output
    if not totals:
        return
    table = UsageDaily._meta.db_table
    keys = sorted(totals)
    sql = (
        f"INSERT INTO {table} (config_id, day, api_calls, tokens_input, tokens_output) "  # noqa: S608
        f"VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(keys))} "
        "ON CONFLICT (config_id, day) DO UPDATE SET "
        f"api_calls = {table}.api_calls + EXCLUDED.api_calls, "
        f"tokens_input = {table}.tokens_input + EXCLUDED.tokens_input, "
        f"tokens_output = {table}.tokens_output + EXCLUDED.tokens_output"
    )
    params: list = []
    for config_id, day in keys:
        params.extend([config_id, day, *totals[(config_id, day)]])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def usage_record(*, events: list[UsageInput]) -> list[bool]:
    """Record events; returns, per event and in order, whether it was new (False: a duplicate, ignored)."""
    if not events:
        return []
    with transaction.atomic():
        inserted = _insert_events(events)
        _add_to_daily(inserted)
    new = {(config_id, event_id) for config_id, event_id, *_rest in inserted}
    seen: set[tuple[int, str]] = set()
    results = []
    for event in events:
        key = (event.config_id, event.event_id)
        results.append(key in new and key not in seen)
        seen.add(key)
    return results


def demo_usage_record(*, offering_id: int, day: date, tokens_input: int, tokens_output: int) -> None:
    """Count one message answered by an offering's demo. One upsert: concurrent messages add up."""
    table = DemoUsageDaily._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (offering_id, day, calls, tokens_input, tokens_output) "  # noqa: S608
            "VALUES (%s, %s, 1, %s, %s) ON CONFLICT (offering_id, day) DO UPDATE SET "
            f"calls = {table}.calls + 1, tokens_input = {table}.tokens_input + EXCLUDED.tokens_input, "
            f"tokens_output = {table}.tokens_output + EXCLUDED.tokens_output",
            [offering_id, day, tokens_input, tokens_output],
        )
