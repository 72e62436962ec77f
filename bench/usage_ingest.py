"""Usage ingest benchmark: events/s through `POST /api/runtime/usage/` in batches of 1,000, into PostgreSQL.

    DATABASE_URL=postgres://.../cmp_bench .venv/bin/python bench/usage_ingest.py --batches 200 --senders 4

Seeds `--configs` buyer configs, starts gunicorn itself (2 sync workers, DEBUG off, DATABASE_URL, REDIS_URL
when set) unless `--base-url` names a running server (then give its `--token`), and has `--senders`
threads post batches of `--batch-size` events, spread over the configs and the last 24 hours. A share of
every batch (`--repeat`, default 10 %) repeats events already sent, so deduplication is exercised too.
Prints events/s and per-batch p50/p99, then checks in the database that every new event was stored once
and that the daily totals grew by exactly the calls of the new events. Goal: >= 20,000 events/s.
"""

import argparse
import datetime
import logging
import random
import secrets
import threading
import time
import uuid

import httpx
from runtime_common import Server, check_local, django_setup, percentile, seed_configs

GOAL_EVENTS_PER_SECOND = 20_000


def main() -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", help="a running server (127.0.0.1) instead of starting gunicorn")
    parser.add_argument("--token", help="RUNTIME_SERVICE_TOKEN of the server given by --base-url")
    parser.add_argument("--batches", type=int, default=200, help="batches to send in all (max 5,000)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4, help="concurrent sending threads")
    parser.add_argument("--configs", type=int, default=20)
    parser.add_argument(
        "--repeat", type=float, default=0.1, help="share of each batch that repeats old events"
    )
    args = parser.parse_args()
    args.batches = min(args.batches, 5000)
    if args.base_url and not args.token:
        parser.error("--base-url needs --token (the server's RUNTIME_SERVICE_TOKEN)")

    django_setup()
    from django.db.models import Sum

    from site_agent.models import UsageDaily, UsageEvent

    configs = seed_configs(args.configs)
    config_uuids = [str(config.uuid) for config in configs]
    config_ids = [config.pk for config in configs]
    before_calls = (
        UsageDaily.objects.filter(config_id__in=config_ids).aggregate(total=Sum("api_calls"))["total"] or 0
    )
    before_events = UsageEvent.objects.filter(config_id__in=config_ids).count()

    run = uuid.uuid4().hex[:12]
    rng = random.Random(7)
    now = datetime.datetime.now(datetime.UTC)
    fresh_per_batch = args.batch_size - int(args.batch_size * args.repeat)
    batches = []
    sent: list[dict] = []
    for number in range(args.batches):
        fresh = [
            {
                "config_uuid": rng.choice(config_uuids),
                "event_id": f"{run}-{number}-{index}",
                "api_calls": 1,
                "tokens_input": rng.randint(50, 2000),
                "tokens_output": rng.randint(20, 800),
                "occurred_at": (now - datetime.timedelta(seconds=rng.randint(0, 86_000))).isoformat(),
            }
            for index in range(fresh_per_batch)
        ]
        repeats = rng.sample(sent, min(len(sent), args.batch_size - fresh_per_batch)) if sent else []
        batches.append({"events": fresh + repeats})
        sent.extend(fresh[:50])  # a pool of earlier events to repeat later
    expected_new = args.batches * fresh_per_batch

    token = args.token or secrets.token_urlsafe(32)
    server = None
    if args.base_url:
        base_url = args.base_url.rstrip("/")
    else:
        server = Server(token=token)
        base_url = server.base_url
    check_local(base_url)
    headers = {"Authorization": f"Bearer {token}"}
    queue = list(reversed(batches))
    lock = threading.Lock()
    timings: list[float] = []
    totals = {"recorded": 0, "duplicate": 0, "not_found": 0, "invalid": 0, "failed": 0}

    def sender() -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    batch = queue.pop()
                started = time.perf_counter()
                response = client.post("/api/runtime/usage/", json=batch)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    timings.append(elapsed)
                    if response.status_code != 200:
                        totals["failed"] += 1
                        continue
                    body = response.json()
                    for name in ("recorded", "duplicate", "not_found", "invalid"):
                        totals[name] += body[name]

    try:
        if server:
            server.wait_ready("/api/runtime/ping/", headers)
        started = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(args.senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        if server:
            server.stop()

    events = sum(len(batch["events"]) for batch in batches)
    after_calls = (
        UsageDaily.objects.filter(config_id__in=config_ids).aggregate(total=Sum("api_calls"))["total"] or 0
    )
    stored = UsageEvent.objects.filter(config_id__in=config_ids, event_id__startswith=f"{run}-").count()
    timings.sort()
    print(
        f"\n{args.batches} batches of {args.batch_size} ({args.repeat:.0%} repeats), {args.senders} senders, "
        f"{len(configs)} configs, server {base_url}"
    )
    rate = events / wall
    print(
        f"{events} events in {wall:.2f} s: {rate:,.0f} events/s "
        f"(goal >= {GOAL_EVENTS_PER_SECOND:,}: {'met' if rate >= GOAL_EVENTS_PER_SECOND else 'MISSED'})"
    )
    print(
        f"per batch: p50 {percentile(timings, 0.5):.1f} ms, p99 {percentile(timings, 0.99):.1f} ms, "
        f"max {timings[-1]:.1f} ms"
    )
    print(f"results: {totals}")
    exact = (
        totals["recorded"] == expected_new
        and stored == expected_new
        and after_calls - before_calls == expected_new
        and UsageEvent.objects.filter(config_id__in=config_ids).count() - before_events == expected_new
    )
    print(
        f"check: {expected_new} new events expected, {stored} stored, "
        f"daily calls +{after_calls - before_calls}: {'exact' if exact else 'MISMATCH'}"
    )
    return 0 if exact and not totals["failed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
