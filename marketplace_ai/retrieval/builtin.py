"""Built-in retrieval: PostgreSQL full-text search over the knowledge base's chunks.

The question's words are stemmed with the English configuration and matched against the GIN-indexed
`search_vector` of the knowledge base's chunks; matches are ranked with `ts_rank_cd` against the OR of all
the words (a passage matching some of them still ranks; more, and closer together, rank higher).

Ranking every chunk that shares one common word with the question ("order", "day") would mean ranking
most of a large knowledge base, so candidates are gathered in bounded steps, best first:
1. chunks containing every word;
2. chunks containing any of the question's selective words (those found in fewer than
   SELECTIVE_LIMIT chunks, counted with a capped probe of the index);
3. only if that is still short of `top_k`: at most CANDIDATE_LIMIT chunks containing any word.
"""

import re

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, QuerySet

from marketplace_ai.models import Chunk, KnowledgeBase, KnowledgeDocument
from marketplace_ai.retrieval.base import RetrievedChunk

TERM = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 24
SELECTIVE_LIMIT = 2000
CANDIDATE_LIMIT = 2000


def question_terms(text: str) -> list[str]:
    """The question's distinct words; only word characters ever reach the raw tsquery syntax."""
    return list(dict.fromkeys(term.lower() for term in TERM.findall(text)))[:MAX_TERMS]


def search_query(text: str, *, operator: str = "|") -> SearchQuery | None:
    terms = question_terms(text)
    if not terms:
        return None
    return SearchQuery(f" {operator} ".join(terms), search_type="raw", config="english")


def _selective_terms(knowledge_base: KnowledgeBase, terms: list[str]) -> list[str]:
    """Terms found in fewer than SELECTIVE_LIMIT chunks, counted in one round trip of capped index probes."""
    probe = (
        "(SELECT count(*) FROM (SELECT 1 FROM marketplace_ai_chunk WHERE knowledge_base_id = %s "
        "AND search_vector @@ to_tsquery('english', %s) LIMIT %s) AS probe)"
    )
    sql = "SELECT " + ", ".join([probe] * len(terms))
    params = [value for term in terms for value in (knowledge_base.pk, term, SELECTIVE_LIMIT)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        counts = cursor.fetchone()
    return [term for term, count in zip(terms, counts, strict=True) if 0 < count < SELECTIVE_LIMIT]


def _ranked(chunks: QuerySet, rank_query: SearchQuery, top_k: int) -> list[tuple]:
    """(id, text, rank, document id) of the best `top_k`. No join here: joining the documents lets the
    planner walk every chunk of the knowledge base through the document index instead of the GIN index."""
    return list(
        chunks.annotate(rank=SearchRank(F("search_vector"), rank_query, cover_density=True))
        .order_by("-rank", "id")
        .values_list("id", "text", "rank", "document_id")[:top_k]
    )


def retrieve(*, knowledge_base: KnowledgeBase, query: str, top_k: int) -> list[RetrievedChunk]:
    terms = question_terms(query)
    if not terms:
        return []
    any_term = SearchQuery(" | ".join(terms), search_type="raw", config="english")
    chunks = Chunk.objects.filter(knowledge_base_id=knowledge_base.pk)
    found: list[tuple] = []

    def add(candidates: QuerySet) -> None:
        seen = [row[0] for row in found]
        found.extend(_ranked(candidates.exclude(id__in=seen), any_term, top_k - len(found)))

    every_term = SearchQuery(" & ".join(terms), search_type="raw", config="english")
    add(chunks.filter(search_vector=every_term))
    if len(found) < top_k and len(terms) > 1:
        selective = _selective_terms(knowledge_base, terms)
        if selective:
            selective_query = SearchQuery(" | ".join(selective), search_type="raw", config="english")
            add(chunks.filter(search_vector=selective_query))
    if len(found) < top_k:
        candidate_ids = chunks.filter(search_vector=any_term).order_by().values("id")[:CANDIDATE_LIMIT]
        add(chunks.filter(id__in=candidate_ids))
    found.sort(key=lambda row: (-row[2], row[0]))
    documents = {
        document_id: (document_uuid, name)
        for document_id, document_uuid, name in KnowledgeDocument.objects.filter(
            id__in={row[3] for row in found}
        ).values_list("id", "uuid", "name")
    }
    return [
        RetrievedChunk(
            text=text,
            score=float(rank),
            document_uuid=documents[document_id][0],
            document_name=documents[document_id][1],
        )
        for _, text, rank, document_id in found
    ]
