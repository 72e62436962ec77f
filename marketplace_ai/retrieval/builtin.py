"""Built-in retrieval: PostgreSQL full-text search over the knowledge base's chunks.

The question's words are OR-ed (a passage that matches some of them still ranks, those matching more rank
higher), stemmed with the English configuration, matched against the GIN-indexed `search_vector` of the
knowledge base's chunks and ranked with `ts_rank_cd` (cover density: matches close together rank higher).
"""

import re

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F

from marketplace_ai.models import Chunk, KnowledgeBase
from marketplace_ai.retrieval.base import RetrievedChunk

TERM = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 24


def search_query(text: str) -> SearchQuery | None:
    """An OR of the question's distinct words; only word characters reach the raw tsquery syntax."""
    terms = list(dict.fromkeys(term.lower() for term in TERM.findall(text)))[:MAX_TERMS]
    if not terms:
        return None
    return SearchQuery(" | ".join(terms), search_type="raw", config="english")


def retrieve(*, knowledge_base: KnowledgeBase, query: str, top_k: int) -> list[RetrievedChunk]:
    search = search_query(query)
    if search is None:
        return []
    rows = (
        Chunk.objects.filter(knowledge_base_id=knowledge_base.pk, search_vector=search)
        .annotate(rank=SearchRank(F("search_vector"), search, cover_density=True))
        .order_by("-rank", "id")
        .values_list("text", "rank", "document__uuid", "document__name")[:top_k]
    )
    return [
        RetrievedChunk(text=text, score=float(rank), document_uuid=document_uuid, document_name=document_name)
        for text, rank, document_uuid, document_name in rows
    ]
