"""Built-in retrieval benchmark: index N chunks into one knowledge base, then time M retrievals.

    DATABASE_URL=postgres://... .venv/bin/python bench/retrieval.py --chunks 100000 --queries 500

Chunks go into the knowledge base "Bench knowledge" of the organisation "Bench Retrieval" (created once;
a second run tops the chunks up to N, never duplicates), with bulk_create in batches: the database trigger
fills each chunk's search vector, so the ingestion figure includes it. Queries call the built-in backend
directly (`marketplace_ai.retrieval.retrieve`), i.e. the database work of a chat message's retrieval. It
prints ingestion throughput, p50/p95/p99 latency, and EXPLAIN ANALYZE of a typical query with --explain.
"""

import argparse
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmp.settings")

GOAL_P95_MS = 50.0
BATCH = 2000
CHUNKS_PER_DOCUMENT = 500

# A support-site vocabulary: common words (matched by many chunks) and rarer ones (matched by few).
COMMON = [
    "order",
    "delivery",
    "shipping",
    "return",
    "refund",
    "payment",
    "account",
    "password",
    "invoice",
    "price",
    "product",
    "customer",
    "support",
    "warranty",
    "service",
    "contact",
    "email",
    "phone",
    "address",
    "store",
    "time",
    "days",
    "week",
    "month",
    "help",
    "question",
]
RARE = [
    "kayak",
    "tent",
    "stove",
    "lantern",
    "hammock",
    "compass",
    "backpack",
    "sleeping",
    "bag",
    "crampon",
    "carabiner",
    "harness",
    "rope",
    "trekking",
    "pole",
    "headlamp",
    "gaiter",
    "bivouac",
    "snowshoe",
    "ice",
    "axe",
    "canister",
    "filter",
    "purifier",
    "altimeter",
    "poncho",
    "waterproof",
    "membrane",
    "insulation",
    "fleece",
    "merino",
    "zipper",
    "buckle",
    "strap",
    "frame",
    "hipbelt",
    "sternum",
    "torso",
]
FILLER = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "for",
    "with",
    "on",
    "is",
    "you",
    "your",
    "we",
    "our",
    "can",
    "will",
    "be",
    "at",
    "by",
    "from",
    "this",
    "that",
    "it",
    "as",
]
QUESTIONS = [
    "How many days do I have to return my tent?",
    "Can I pay the invoice by bank transfer?",
    "Is the waterproof membrane covered by the warranty?",
    "When will my order be delivered?",
    "How do I reset my account password?",
    "Which headlamp works with the helmet strap?",
    "Does the backpack hipbelt fit a small torso?",
    "What is the price of the ice axe?",
    "How do I contact support by phone?",
    "Can I change the delivery address of my order?",
]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(6, 10))]
    words += [rng.choice(COMMON) for _ in range(rng.randint(2, 4))]
    words += [rng.choice(RARE) for _ in range(rng.randint(0, 2))]
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


def chunk_text(rng: random.Random) -> str:
    """About 60-100 words: the size of a 128-token chunk."""
    return " ".join(sentence(rng) for _ in range(rng.randint(5, 8)))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def seed(knowledge_base, target: int, rng: random.Random) -> tuple[int, float]:
    from django.db import transaction

    from marketplace_ai.models import Chunk, KnowledgeDocument

    existing = Chunk.objects.filter(knowledge_base=knowledge_base).count()
    missing = max(0, target - existing)
    started = time.perf_counter()
    created = 0
    while created < missing:
        with transaction.atomic():
            document = KnowledgeDocument.objects.create(
                knowledge_base=knowledge_base,
                name=f"bench-{existing + created:07d}.txt",
                source="file",
                mime_type="text/plain",
                content_sha256=f"bench{existing + created:059d}",
                status="indexed",
                progress=1,
            )
            count = min(CHUNKS_PER_DOCUMENT, missing - created)
            for offset in range(0, count, BATCH):
                size = min(BATCH, count - offset)
                Chunk.objects.bulk_create(
                    [
                        Chunk(
                            knowledge_base=knowledge_base,
                            document=document,
                            position=offset + index,
                            text=(text := chunk_text(rng)),
                            token_count=len(text.split()),
                        )
                        for index in range(size)
                    ]
                )
            document.chunk_count = count
            document.save(update_fields=["chunk_count"])
        created += count
        print(f"\r  indexed {existing + created:,} / {target:,} chunks", end="", flush=True)
    if missing:
        print()
    return missing, time.perf_counter() - started


def explain(knowledge_base, query: str, top_k: int) -> str:
    """EXPLAIN ANALYZE of every statement one retrieval runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from marketplace_ai.retrieval import retrieve

    with CaptureQueriesContext(connection) as captured:
        retrieve(knowledge_base=knowledge_base, query=query, top_k=top_k)
    plans = []
    with connection.cursor() as cursor:
        for statement in captured.captured_queries:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement['sql']}")
            plans.append(statement["sql"][:200] + "\n" + "\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(plans)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the bench knowledge base")
    parser.add_argument("--queries", type=int, default=500, help="retrievals to time")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of a typical query")
    arguments = parser.parse_args()

    import django

    django.setup()
    logging.getLogger("marketplace_ai").setLevel(logging.WARNING)
    from django.db import connection

    from marketplace.models import Organization
    from marketplace_ai.models import KnowledgeBase
    from marketplace_ai.retrieval import retrieve

    rng = random.Random(42)  # the same corpus every run
    organization, _ = Organization.objects.get_or_create(
        slug="bench-retrieval", defaults={"name": "Bench Retrieval"}
    )
    knowledge_base, _ = KnowledgeBase.objects.get_or_create(organization=organization, name="Bench knowledge")

    print(f"Knowledge base {knowledge_base.uuid}: seeding to {arguments.chunks:,} chunks")
    added, seconds = seed(knowledge_base, arguments.chunks, rng)
    if added:
        print(
            f"Ingestion: {added:,} chunks in {seconds:.1f} s = {added / seconds:,.0f} chunks/s "
            "(search vectors included)"
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE marketplace_ai_chunk")

    for question in QUESTIONS:  # warm the cache the way a running server is warm
        retrieve(knowledge_base=knowledge_base, query=question, top_k=arguments.top_k)
    latencies, empty = [], 0
    for index in range(arguments.queries):
        question = QUESTIONS[index % len(QUESTIONS)]
        started = time.perf_counter()
        results = retrieve(knowledge_base=knowledge_base, query=question, top_k=arguments.top_k)
        latencies.append((time.perf_counter() - started) * 1000)
        empty += not results
    p50, p95, p99 = (percentile(latencies, fraction) for fraction in (0.5, 0.95, 0.99))
    print(
        f"Retrieval over {arguments.chunks:,} chunks, {arguments.queries} queries, top_k={arguments.top_k}: "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, mean {statistics.mean(latencies):.1f} ms, "
        f"{empty} without results"
    )
    print(f"Goal p95 <= {GOAL_P95_MS:.0f} ms: {'met' if p95 <= GOAL_P95_MS else 'NOT met'}")
    if arguments.explain:
        print(explain(knowledge_base, QUESTIONS[0], arguments.top_k))
    return 0 if p95 <= GOAL_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
