"""Knowledge writes: knowledge bases, training documents and their ingestion (parse -> chunk -> index)."""

from marketplace_ai.services.documents import (
    document_add_qa,
    document_add_url,
    document_delete,
    document_retry,
    document_upload_file,
)
from marketplace_ai.services.knowledge_bases import knowledge_base_archive, knowledge_base_create

__all__ = [
    "document_add_qa",
    "document_add_url",
    "document_delete",
    "document_retry",
    "document_upload_file",
    "knowledge_base_archive",
    "knowledge_base_create",
]
