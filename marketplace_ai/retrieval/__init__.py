"""Retrieval: the passages of a knowledge base that best answer a question.

One interface, two backends: built-in (PostgreSQL full-text search over the chunks) and RAGFlow, chosen by
the knowledge base's `backend`.
"""

from marketplace_ai.models import KnowledgeBase, RetrievalBackend
from marketplace_ai.retrieval.base import RetrievedChunk

__all__ = ["MAX_TOP_K", "RetrievedChunk", "retrieve"]

MAX_TOP_K = 20
MAX_QUERY_LENGTH = 2000


def retrieve(*, knowledge_base: KnowledgeBase, query: str, top_k: int = 5) -> list[RetrievedChunk]:
    """The `top_k` best passages for `query`, best first. An archived knowledge base answers nothing.

    Raises RetrievalUnavailable when the knowledge base is on RAGFlow and RAGFlow cannot answer.
    """
    query = " ".join(query.split())[:MAX_QUERY_LENGTH]
    top_k = max(1, min(top_k, MAX_TOP_K))
    if not query or knowledge_base.archived_at is not None:
        return []
    if knowledge_base.backend == RetrievalBackend.RAGFLOW:
        from marketplace_ai.retrieval import ragflow

        return ragflow.retrieve(knowledge_base=knowledge_base, query=query, top_k=top_k)
    from marketplace_ai.retrieval import builtin

    return builtin.retrieve(knowledge_base=knowledge_base, query=query, top_k=top_k)
