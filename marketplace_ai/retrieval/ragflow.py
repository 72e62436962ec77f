"""RAGFlow retrieval: ask RAGFlow for the knowledge base's dataset, keep only chunks of our own documents."""

import logging

from marketplace_ai.errors import RetrievalUnavailable
from marketplace_ai.models import KnowledgeBase
from marketplace_ai.ragflow_client import RagflowClient, RagflowError
from marketplace_ai.retrieval.base import RetrievedChunk

logger = logging.getLogger(__name__)


def retrieve(*, knowledge_base: KnowledgeBase, query: str, top_k: int) -> list[RetrievedChunk]:
    dataset_id = knowledge_base.ragflow_dataset_id
    if not dataset_id:
        return []  # nothing was indexed yet
    try:
        with RagflowClient.from_settings() as client:
            chunks = client.retrieve(question=query, dataset_ids=[dataset_id], top_k=top_k)
    except RagflowError as error:
        logger.warning("RAGFlow retrieval for knowledge base %s failed: %s", knowledge_base.uuid, error)
        raise RetrievalUnavailable("The knowledge base cannot be searched right now.") from error
    # Only chunks of this dataset, from documents we still have (a deletion may not have reached RAGFlow).
    documents = {
        ragflow_id: (uuid, name)
        for ragflow_id, uuid, name in knowledge_base.documents.filter(
            ragflow_document_id__in={chunk.document_id for chunk in chunks if chunk.document_id}
        ).values_list("ragflow_document_id", "uuid", "name")
    }
    results = []
    for chunk in chunks:
        if chunk.dataset_id not in ("", dataset_id) or chunk.document_id not in documents:
            continue
        document_uuid, document_name = documents[chunk.document_id]
        results.append(
            RetrievedChunk(
                text=chunk.content,
                score=chunk.similarity,
                document_uuid=document_uuid,
                document_name=document_name,
            )
        )
    return results[:top_k]
