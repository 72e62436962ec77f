"""Built-in retrieval: PostgreSQL full-text search over the knowledge base's chunks.

The question's words are stemmed with the English configuration and matched against the GIN-indexed
`search_vector` of the knowledge base's chunks; matches are ranked with `ts_rank_cd` (cover density) against
the OR of all the words (a passage matching some of them still ranks; more, and closer together, rank
higher), best first, ties by id.

When at most EXACT_LIMIT chunks match any of the words (any question on a small knowledge base, a specific
one on a large knowledge base), one statement fetches at most EXACT_LIMIT + 1 matching ids, ranks them all
and joins their documents' names: one query, and the exact top `top_k`.

When more match, ranking them all would mean ranking most of a large knowledge base (every chunk sharing
one common word such as "order" or "day"), so candidates are gathered in bounded steps, best first:
1. chunks containing every word;
2. chunks containing any of the question's selective words (those found in fewer than
   SELECTIVE_LIMIT chunks, counted with a capped probe of the index);
3. only if that is still short of `top_k`: at most CANDIDATE_LIMIT chunks containing any word.
The steps approximate the exact ranking: once the chunks of an earlier step fill `top_k`, a chunk of a later
step is not looked at, even if it would rank higher.
"""

import re

from django.db import connection

from marketplace_ai.models import Chunk, KnowledgeBase, KnowledgeDocument
from marketplace_ai.retrieval.base import RetrievedChunk

TERM = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 24
SELECTIVE_LIMIT = 2000
CANDIDATE_LIMIT = 2000
EXACT_LIMIT = CANDIDATE_LIMIT

CHUNKS = Chunk._meta.db_table
DOCUMENTS = KnowledgeDocument._meta.db_table
RANK = "ts_rank_cd(chunk.search_vector, to_tsquery('english', %(any_term)s))"

# The documents are joined only after the LIMIT has picked the best chunks: joined inside the ranking, the
# planner may walk every chunk of the knowledge base through the document index instead of the GIN index.
EXACT_SQL = f"""
WITH candidate AS MATERIALIZED (
    SELECT id FROM {CHUNKS}
    WHERE knowledge_base_id = %(knowledge_base)s AND search_vector @@ to_tsquery('english', %(any_term)s)
    LIMIT %(limit)s + 1
), counted AS (SELECT count(*) AS total FROM candidate)
SELECT counted.total, best.id, best.text, best.rank, document.uuid, document.name
FROM counted
LEFT JOIN LATERAL (
    SELECT chunk.id, chunk.text, {RANK} AS rank, chunk.document_id
    FROM {CHUNKS} AS chunk
    WHERE chunk.id IN (SELECT id FROM candidate) AND counted.total <= %(limit)s
    ORDER BY rank DESC, chunk.id
    LIMIT %(top_k)s
) AS best ON true
LEFT JOIN {DOCUMENTS} AS document ON document.id = best.document_id
ORDER BY best.rank DESC, best.id
"""  # noqa: S608 - table names are ours, values are parameters

MATCHES = "chunk.search_vector @@ to_tsquery('english', %(query)s)"
CAPPED_MATCHES = (
    f"chunk.id IN (SELECT id FROM {CHUNKS} WHERE knowledge_base_id = %(knowledge_base)s "  # noqa: S608
    "AND search_vector @@ to_tsquery('english', %(query)s) LIMIT %(limit)s)"
)


def _step_sql(condition: str) -> str:
    """The best `top_k` of the chunks meeting `condition` that were not found by an earlier step."""
    return f"""
SELECT best.id, best.text, best.rank, document.uuid, document.name
FROM (
    SELECT chunk.id, chunk.text, {RANK} AS rank, chunk.document_id
    FROM {CHUNKS} AS chunk
    WHERE chunk.knowledge_base_id = %(knowledge_base)s AND ({condition})
        AND chunk.id <> ALL(%(seen)s::bigint[])
    ORDER BY rank DESC, chunk.id
    LIMIT %(top_k)s
) AS best
JOIN {DOCUMENTS} AS document ON document.id = best.document_id
"""  # noqa: S608 - table names and conditions are ours, values are parameters


def question_terms(text: str) -> list[str]:
    """The question's distinct words; only word characters ever reach the raw tsquery syntax."""
    return list(dict.fromkeys(term.lower() for term in TERM.findall(text)))[:MAX_TERMS]


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _exact(knowledge_base_id: int, any_term: str, top_k: int) -> list[tuple] | None:
    """(id, text, rank, document uuid, document name) of the best `top_k` of all matching chunks, best
    first; None when more than EXACT_LIMIT chunks match."""
    params = {"knowledge_base": knowledge_base_id, "any_term": any_term, "limit": EXACT_LIMIT, "top_k": top_k}
    rows = _rows(EXACT_SQL, params)
    if rows[0][0] > EXACT_LIMIT:
        return None
    return [row[1:] for row in rows if row[1] is not None]


def _selective_terms(knowledge_base_id: int, terms: list[str]) -> list[str]:
    """Terms found in fewer than SELECTIVE_LIMIT chunks, counted in one round trip of capped index probes."""
    probe = (
        f"(SELECT count(*) FROM (SELECT 1 FROM {CHUNKS} WHERE knowledge_base_id = %s "  # noqa: S608
        "AND search_vector @@ to_tsquery('english', %s) LIMIT %s) AS probe)"
    )
    sql = "SELECT " + ", ".join([probe] * len(terms))
    params = [value for term in terms for value in (knowledge_base_id, term, SELECTIVE_LIMIT)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        counts = cursor.fetchone()
    return [term for term, count in zip(terms, counts, strict=True) if 0 < count < SELECTIVE_LIMIT]


def _stepped(knowledge_base_id: int, terms: list[str], any_term: str, top_k: int) -> list[tuple]:
    """The best `top_k` of the candidates gathered in bounded steps (see the module's docstring)."""
    found: list[tuple] = []

    def add(condition: str, query: str) -> None:
        params = {
            "knowledge_base": knowledge_base_id,
            "any_term": any_term,
            "query": query,
            "limit": CANDIDATE_LIMIT,
            "seen": [row[0] for row in found],
            "top_k": top_k - len(found),
        }
        found.extend(_rows(_step_sql(condition), params))

    add(MATCHES, " & ".join(terms))
    if len(found) < top_k and len(terms) > 1:
        selective = _selective_terms(knowledge_base_id, terms)
        if selective:
            add(MATCHES, " | ".join(selective))
    if len(found) < top_k:
        add(CAPPED_MATCHES, any_term)
    found.sort(key=lambda row: (-row[2], row[0]))
    return found


def retrieve(*, knowledge_base: KnowledgeBase, query: str, top_k: int) -> list[RetrievedChunk]:
    terms = question_terms(query)
    if not terms:
        return []
    any_term = " | ".join(terms)
    found = _exact(knowledge_base.pk, any_term, top_k)
    if found is None:
        found = _stepped(knowledge_base.pk, terms, any_term, top_k)
    return [
        RetrievedChunk(text=text, score=float(rank), document_uuid=document_uuid, document_name=name)
        for _id, text, rank, document_uuid, name in found
    ]
