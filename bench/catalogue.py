"""Catalogue benchmark: seed N searchable offerings, then time search and filter requests to a running server.

    DATABASE_URL=postgres://... .venv/bin/python bench/catalogue.py --base-url http://127.0.0.1:8000 \\
        --offerings 10000 --requests 2000

The script writes to the database the server uses (DATABASE_URL, or the embedded one like `make run`),
seeding once: offerings belong to the provider "Bench Seller" and a second run tops them up, never
duplicates. Requests go one at a time (or `--concurrency` at once) over keep-alive connections; it prints
p50/p95/p99 per kind of request and overall, and exits non-zero if any request failed.
"""

import argparse
import logging
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmp.settings")

BENCH_SELLER = "Bench Seller"
GOAL_P95_MS = 30.0
CATALOGUE_PATH = "/api/marketplace-public-offerings/"

ADJECTIVES = (
    "Swift",
    "Smart",
    "Friendly",
    "Tireless",
    "Precise",
    "Clever",
    "Calm",
    "Bold",
    "Bright",
    "Secure",
    "Rapid",
    "Patient",
    "Multilingual",
    "Helpful",
    "Proactive",
    "Insightful",
)
DOMAINS = (
    "Support",
    "Sales",
    "Invoice",
    "Booking",
    "Recruiting",
    "Legal",
    "Onboarding",
    "Marketing",
    "Travel",
    "Insurance",
    "Retail",
    "Healthcare",
    "Compliance",
    "Research",
    "Logistics",
    "Finance",
    "Education",
    "Real Estate",
    "IT Helpdesk",
    "Procurement",
)
NOUNS = (
    "Agent",
    "Assistant",
    "Copilot",
    "Bot",
    "Concierge",
    "Analyst",
    "Automator",
    "Advisor",
    "Desk",
    "Guide",
)
VERBS = (
    "answers",
    "triages",
    "drafts",
    "summarises",
    "routes",
    "qualifies",
    "schedules",
    "checks",
    "translates",
)
OBJECTS = (
    "customer questions",
    "tickets",
    "leads",
    "contracts",
    "invoices",
    "bookings",
    "candidates",
    "claims",
    "orders",
    "policies",
    "reports",
    "emails",
)
KEYWORDS = (
    "support",
    "supp",
    "sales",
    "invoice",
    "book",
    "legal",
    "agent",
    "assistant",
    "smart agent",
    "ticket",
    "onboard",
    "finance report",
    "helpdesk",
    "translat",
    "compliance check",
    "zebra",
)
PLAN_PRICES = (0, 900, 1900, 2900, 4900, 9900, 19900, 29900, 49900)


def seed(total: int) -> int:
    """Make sure `total` active Bench Seller offerings exist; returns how many were created now."""
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from marketplace.models import Category, Offering, Organization, Plan, ServiceProvider

    organization, _ = Organization.objects.get_or_create(slug="bench-seller", defaults={"name": BENCH_SELLER})
    provider, _ = ServiceProvider.objects.get_or_create(
        organization=organization,
        defaults={"state": "approved", "terms_accepted_at": timezone.now(), "description": "Benchmark data."},
    )
    existing = Offering.objects.filter(provider=provider, state="active").count()
    missing = total - existing
    if missing <= 0:
        return 0
    categories = list(Category.objects.all())
    if not categories:
        raise SystemExit("No categories: run `manage.py migrate` first.")

    rng = random.Random(existing)
    now = timezone.now()
    batch_size = 1000
    start = existing
    while start < total:
        stop = min(start + batch_size, total)
        offerings, prices = [], []
        for index in range(start, stop):
            category = categories[index % len(categories)]
            domain, noun = rng.choice(DOMAINS), rng.choice(NOUNS)
            plan_prices = sorted(rng.sample(PLAN_PRICES, rng.randint(1, 3)))
            prices.append(plan_prices)
            capabilities = [value for value in category.default_capabilities if rng.random() < 0.7]
            offerings.append(
                Offering(
                    provider=provider,
                    category=category,
                    name=f"{rng.choice(ADJECTIVES)} {domain} {noun} {index}",
                    slug=f"bench-offering-{index}",
                    summary=f"{rng.choice(VERBS).title()} {rng.choice(OBJECTS)} for {domain.lower()} teams.",
                    description=(
                        f"This {noun.lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} and "
                        f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}. Trained on your documents."
                    ),
                    capabilities=capabilities,
                    tags=[domain.lower(), noun.lower()],
                    state="active",
                    terms_accepted_at=now,
                    published_at=now - timedelta(minutes=rng.randint(0, 525_600)),
                    price_from_minor=plan_prices[0],
                    currency="USD",
                    rating_average=Decimal(rng.randint(0, 500)) / 100,
                    rating_count=rng.randint(0, 400),
                )
            )
        with transaction.atomic():
            created = Offering.objects.bulk_create(offerings)  # the trigger fills search_vector
            Plan.objects.bulk_create(
                [
                    Plan(
                        offering=offering,
                        name=f"Plan {position + 1}",
                        price_minor=price,
                        monthly_quota_calls=1000 * 10**position,
                        sort_order=position,
                    )
                    for offering, plan_prices in zip(created, prices, strict=True)
                    for position, price in enumerate(plan_prices)
                ],
                batch_size=batch_size,
            )
        print(f"  seeded {stop}/{total}", flush=True)
        start = stop
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE marketplace_offering")
        cursor.execute("ANALYZE marketplace_plan")
    return missing


def request_mix(rng: random.Random, total_pages: int, category_slugs: list[str]) -> tuple[str, dict]:
    """One request: its kind (for the report) and its query parameters."""
    kind = rng.choices(
        ("keyword", "keyword_sorted", "category", "capability", "price_range", "sort", "page_1", "deep_page"),
        weights=(25, 10, 15, 10, 10, 10, 10, 10),
    )[0]
    if kind == "keyword":
        return kind, {"search": rng.choice(KEYWORDS)}
    if kind == "keyword_sorted":
        return kind, {"search": rng.choice(KEYWORDS), "sort": rng.choice(("price", "rating", "newest"))}
    if kind == "category":
        return kind, {"category": rng.choice(category_slugs), "sort": rng.choice(("relevance", "newest"))}
    if kind == "capability":
        return kind, {"capability": rng.choice(("chat", "api", "knowledge_base", "scheduling", "branding"))}
    if kind == "price_range":
        low = rng.choice((0, 900, 2900))
        return kind, {"price_min": low, "price_max": low + rng.choice((1000, 5000, 20000)), "sort": "price"}
    if kind == "sort":
        return kind, {"sort": rng.choice(("newest", "rating", "price", "price_desc"))}
    if kind == "page_1":
        return kind, {}
    return kind, {
        "page": rng.randint(max(total_pages // 2, 1), total_pages),
        "sort": rng.choice(("newest", "price")),
    }


def percentile(sorted_values: list[float], fraction: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def run(base_url: str, requests: int, concurrency: int, warmup: int) -> int:
    with httpx.Client(base_url=base_url, timeout=10.0) as probe:
        try:
            first = probe.get(CATALOGUE_PATH, params={"page_size": 1})
            categories = probe.get("/api/marketplace-categories/").json()
        except httpx.HTTPError as error:
            raise SystemExit(
                f"Cannot reach {base_url}: {error}. Start the server first (make run)."
            ) from error
    first.raise_for_status()
    total_pages = max(1, -(-first.json()["count"] // 20))
    category_slugs = [category["slug"] for category in categories]
    print(f"Catalogue at {base_url}: {first.json()['count']} active offerings, {total_pages} pages of 20.")

    rng = random.Random(42)
    plan = [request_mix(rng, total_pages, category_slugs) for _ in range(warmup + requests)]
    timings: dict[str, list[float]] = defaultdict(list)
    failures: list[str] = []

    def fire(client: httpx.Client, item: tuple[str, dict]) -> tuple[str, float, int]:
        kind, params = item
        started = time.perf_counter()
        response = client.get(CATALOGUE_PATH, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        return kind, elapsed, response.status_code

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base_url, timeout=10.0, limits=limits) as client:
        for item in plan[:warmup]:
            fire(client, item)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for kind, elapsed, status_code in pool.map(lambda item: fire(client, item), plan[warmup:]):
                timings[kind].append(elapsed)
                if status_code != 200:
                    failures.append(f"{kind}: HTTP {status_code}")
        wall = time.perf_counter() - started

    everything = sorted(value for values in timings.values() for value in values)
    print(f"\n{requests} requests, concurrency {concurrency}, {requests / wall:.0f} req/s\n")
    print(f"{'kind':<16}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind in sorted(timings):
        values = sorted(timings[kind])
        print(
            f"{kind:<16}{len(values):>6}{percentile(values, 0.5):>10.1f}{percentile(values, 0.95):>10.1f}"
            f"{percentile(values, 0.99):>10.1f}{values[-1]:>10.1f}"
        )
    p95 = percentile(everything, 0.95)
    print(
        f"{'overall':<16}{len(everything):>6}{percentile(everything, 0.5):>10.1f}{p95:>10.1f}"
        f"{percentile(everything, 0.99):>10.1f}{everything[-1]:>10.1f}"
    )
    print(
        f"\nGoal p95 <= {GOAL_P95_MS:.0f} ms: {'met' if p95 <= GOAL_P95_MS else 'MISSED'} "
        f"(mean {statistics.fmean(everything):.1f} ms)"
    )
    if failures:
        print(f"{len(failures)} requests failed, e.g. {failures[:3]}")
        return 1
    return 0


def main() -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's logging config would log every request
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--offerings", type=int, default=10_000, help="active offerings to have in the catalogue"
    )
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--no-seed", action="store_true", help="only fire requests")
    parser.add_argument("--seed-only", action="store_true", help="only seed the database")
    args = parser.parse_args()

    if not args.no_seed:
        print(f"Seeding up to {args.offerings} offerings for '{BENCH_SELLER}'...")
        print(f"  {seed(args.offerings)} offerings created.")
    if args.seed_only:
        return 0
    return run(args.base_url.rstrip("/"), args.requests, max(args.concurrency, 1), args.warmup)


if __name__ == "__main__":
    sys.exit(main())
