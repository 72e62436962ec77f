"""The ingestion pipeline, run by the worker: parse -> chunk -> index.

Built-in backend: the text is extracted here, chunked by tokens with overlap, and the chunks are written
to PostgreSQL in one transaction (a trigger fills their search vectors). RAGFlow backend: the document
(or, for questions and web pages, its text) is uploaded to the knowledge base's RAGFlow dataset, RAGFlow
is asked to parse it, and its progress is polled until it is done or failed.

Every step is idempotent: a redelivered task finds the document where the last run left it. Errors
worth retrying (RagflowUnavailable, UrlFetchFailed) leave the document processing with the reason shown;
the task decides when to give up.
"""

import io
import json
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace_ai.chunking import TextChunk, chunk_text
from marketplace_ai.errors import DocumentRejected, DocumentUnreadable
from marketplace_ai.fetching import fetch_url
from marketplace_ai.models import (
    Chunk,
    DocumentSource,
    DocumentStatus,
    KnowledgeBase,
    KnowledgeDocument,
    RetrievalBackend,
)
from marketplace_ai.parsing import (
    MIME_TYPES,
    DocumentKind,
    detect_kind,
    extract_text,
    html_to_text,
    kind_of_mime_type,
    qa_pairs_text,
)
from marketplace_ai.ragflow_client import RagflowClient, RagflowRejected
from marketplace_ai.services.knowledge_bases import ragflow_dataset_name
from marketplace_ai.signals import document_status_changed

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (DocumentStatus.PENDING, DocumentStatus.PROCESSING)
NAME_FROM_CONTENT_TYPE = {
    "text/html": "page.html",
    "application/xhtml+xml": "page.html",
    "text/plain": "page.txt",
    "text/markdown": "page.md",
    "application/pdf": "page.pdf",
    MIME_TYPES[DocumentKind.DOCX]: "page.docx",
}
# Progress shown while the built-in pipeline runs; RAGFlow's own progress fills the rest of the bar.
PROGRESS_STARTED = 0.05
PROGRESS_PARSED = 0.4
PROGRESS_CHUNKED = 0.7
PROGRESS_UPLOADED = 0.2


# --- Status changes -------------------------------------------------------------------------------


def _set_progress(document: KnowledgeDocument, progress: float) -> None:
    """Progress is written at once (outside any transaction) so the page polling it sees it move."""
    KnowledgeDocument.objects.filter(pk=document.pk, status=DocumentStatus.PROCESSING).update(
        progress=progress, updated_at=timezone.now()
    )
    document.progress = progress


@transaction.atomic
def _start_processing(document_id: int) -> KnowledgeDocument | None:
    """pending|processing -> processing, counting the attempt. None when there is nothing to do."""
    document = (
        KnowledgeDocument.objects.select_for_update()
        .select_related("knowledge_base")
        .filter(pk=document_id, status__in=ACTIVE_STATUSES)
        .first()
    )
    if document is None or document.knowledge_base.archived_at is not None:
        return None
    document.status = DocumentStatus.PROCESSING
    document.attempts += 1
    document.progress = max(document.progress, PROGRESS_STARTED)
    document.save(update_fields=["status", "attempts", "progress", "updated_at"])
    return document


def document_mark_retrying(*, document_id: int, message: str) -> None:
    """A recoverable failure: the document stays processing, with the reason shown."""
    KnowledgeDocument.objects.filter(pk=document_id, status__in=ACTIVE_STATUSES).update(
        status=DocumentStatus.PROCESSING, error_message=message[:2000], updated_at=timezone.now()
    )


def _announce(document_id: int) -> None:
    """Tell listeners (outgoing webhooks) about an indexed or failed document, once it is committed."""

    def send() -> None:
        document = KnowledgeDocument.objects.select_related("knowledge_base").filter(pk=document_id).first()
        if document is not None:
            document_status_changed.send(sender=KnowledgeDocument, document=document, status=document.status)

    transaction.on_commit(send)


def document_mark_failed(*, document_id: int, message: str) -> None:
    changed = KnowledgeDocument.objects.filter(pk=document_id, status__in=ACTIVE_STATUSES).update(
        status=DocumentStatus.FAILED, error_message=message[:2000], updated_at=timezone.now()
    )
    logger.info("Document %s failed: %s", document_id, message)
    if changed:
        _announce(document_id)


@transaction.atomic
def _mark_indexed(document: KnowledgeDocument, *, chunks: list[TextChunk] | None, chunk_count: int = 0):
    """processing -> indexed; built-in chunks replace whatever an earlier, interrupted run wrote."""
    locked = KnowledgeDocument.objects.select_for_update().filter(pk=document.pk).first()
    if locked is None or locked.status != DocumentStatus.PROCESSING:
        return locked  # deleted or retried meanwhile
    if chunks is not None:
        locked.chunks.all().delete()
        Chunk.objects.bulk_create(
            [
                Chunk(
                    knowledge_base_id=locked.knowledge_base_id,
                    document=locked,
                    position=position,
                    text=chunk.text,
                    token_count=chunk.token_count,
                )
                for position, chunk in enumerate(chunks)
            ],
            batch_size=500,
        )
        chunk_count = len(chunks)
    locked.status = DocumentStatus.INDEXED
    locked.progress = 1.0
    locked.chunk_count = chunk_count
    locked.error_message = ""
    locked.indexed_at = timezone.now()
    locked.save(
        update_fields=["status", "progress", "chunk_count", "error_message", "indexed_at", "updated_at"]
    )
    logger.info("Document %s indexed: %s chunks", locked.uuid, chunk_count)
    _announce(locked.pk)
    return locked


# --- Reading the document -------------------------------------------------------------------------


def _fetch_page(document: KnowledgeDocument) -> tuple[bytes, DocumentKind]:
    page = fetch_url(
        document.url,
        max_bytes=settings.KNOWLEDGE_MAX_UPLOAD_BYTES,
        timeout=settings.KNOWLEDGE_URL_FETCH_TIMEOUT,
        allow_private=settings.KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE,
    )
    try:
        kind = detect_kind(
            file=io.BytesIO(page.content), name=NAME_FROM_CONTENT_TYPE.get(page.content_type, "")
        )
    except DocumentRejected as error:  # refused at upload time means unusable for a fetched page
        raise DocumentUnreadable(f"The page at this address is not usable: {error.detail}") from error
    changes = {"mime_type": MIME_TYPES[kind], "size_bytes": len(page.content)}
    if kind == DocumentKind.HTML and document.name == document.url[:255]:
        title = html_to_text(page.content.decode("utf-8", errors="replace"))[0]
        if title:
            changes["name"] = title[:255]
    KnowledgeDocument.objects.filter(pk=document.pk).update(**changes)
    for field, value in changes.items():
        setattr(document, field, value)
    return page.content, kind


def _passages(document: KnowledgeDocument) -> list[str]:
    """The document's text, as passages that are chunked separately (one per Q&A pair, else one)."""
    if document.source == DocumentSource.URL:
        content, kind = _fetch_page(document)
        return [extract_text(file=io.BytesIO(content), kind=kind)]
    if not document.file:
        raise DocumentUnreadable("The document's file is missing.")
    with document.file.open("rb") as file:
        if document.source == DocumentSource.QA:
            return qa_pairs_text(json.load(file))
        kind = kind_of_mime_type(document.mime_type) or detect_kind(file=file, name=document.name)
        return [extract_text(file=file, kind=kind)]


def _chunks(knowledge_base: KnowledgeBase, passages: list[str]) -> list[TextChunk]:
    chunks = []
    for passage in passages:
        chunks.extend(
            chunk_text(
                passage, size=knowledge_base.chunk_token_count, overlap=knowledge_base.chunk_overlap_tokens
            )
        )
    if not chunks:
        raise DocumentUnreadable("This document contains no text to index.")
    return chunks


# --- RAGFlow --------------------------------------------------------------------------------------


def _ensure_dataset(knowledge_base: KnowledgeBase, client: RagflowClient) -> str:
    """The knowledge base's RAGFlow dataset, created once (a lost reply is recovered by its unique name)."""
    if knowledge_base.ragflow_dataset_id:
        return knowledge_base.ragflow_dataset_id
    with transaction.atomic():
        locked = KnowledgeBase.objects.select_for_update().get(pk=knowledge_base.pk)
        if not locked.ragflow_dataset_id:
            name = ragflow_dataset_name(locked)
            try:
                dataset_id = client.create_dataset(name=name, chunk_token_count=locked.chunk_token_count)
            except RagflowRejected:
                dataset_id = client.find_dataset(name=name)
                if dataset_id is None:
                    raise
            locked.ragflow_dataset_id = dataset_id
            locked.save(update_fields=["ragflow_dataset_id", "updated_at"])
    knowledge_base.ragflow_dataset_id = locked.ragflow_dataset_id
    return locked.ragflow_dataset_id


def _ragflow_upload(document: KnowledgeDocument) -> tuple[str, bytes, str]:
    """(file name, bytes, content type) to upload: files as they are, questions and web pages as text."""
    if document.source == DocumentSource.FILE:
        with document.file.open("rb") as file:
            return document.name, file.read(), document.mime_type
    text = "\n\n".join(_passages(document))
    return f"{document.uuid.hex}.txt", text.encode(), "text/plain"


def _ingest_into_ragflow(document: KnowledgeDocument) -> KnowledgeDocument | None:
    with RagflowClient.from_settings() as client:
        dataset_id = _ensure_dataset(document.knowledge_base, client)
        if document.ragflow_document_id:
            remote = client.get_document(dataset_id=dataset_id, document_id=document.ragflow_document_id)
            if remote is not None and not remote.is_failed:
                if remote.run in ("UNSTART", "0", ""):
                    client.start_parsing(dataset_id=dataset_id, document_ids=[remote.id])
                return document
            if remote is not None:  # a failed parse cannot be restarted: upload again
                client.delete_documents(dataset_id=dataset_id, ids=[remote.id])
        filename, content, content_type = _ragflow_upload(document)
        ragflow_id = client.upload_document(
            dataset_id=dataset_id, filename=filename, content=content, content_type=content_type
        )
        saved = KnowledgeDocument.objects.filter(pk=document.pk, status=DocumentStatus.PROCESSING).update(
            ragflow_document_id=ragflow_id, progress=PROGRESS_UPLOADED, updated_at=timezone.now()
        )
        if not saved:  # deleted (or retried) while uploading: do not leave an orphan in RAGFlow
            client.delete_documents(dataset_id=dataset_id, ids=[ragflow_id])
            return None
        document.ragflow_document_id = ragflow_id
        document.progress = PROGRESS_UPLOADED
        client.start_parsing(dataset_id=dataset_id, document_ids=[ragflow_id])
    return document


def document_ragflow_sync(*, document_id: int) -> KnowledgeDocument | None:
    """Copy RAGFlow's parsing progress onto a processing document; indexed or failed when RAGFlow is done."""
    document = (
        KnowledgeDocument.objects.select_related("knowledge_base")
        .filter(pk=document_id, status=DocumentStatus.PROCESSING)
        .exclude(ragflow_document_id="")
        .first()
    )
    if document is None or not document.knowledge_base.ragflow_dataset_id:
        return document
    with RagflowClient.from_settings() as client:
        remote = client.get_document(
            dataset_id=document.knowledge_base.ragflow_dataset_id, document_id=document.ragflow_document_id
        )
    if remote is None:
        document_mark_failed(
            document_id=document.pk, message="The document is no longer in RAGFlow. Retry to send it again."
        )
    elif remote.is_failed:
        reason = remote.message.strip().splitlines()[-1] if remote.message.strip() else "no reason given"
        document_mark_failed(
            document_id=document.pk, message=f"RAGFlow could not parse this document: {reason}"
        )
    elif remote.is_done:
        return _mark_indexed(document, chunks=None, chunk_count=remote.chunk_count)
    else:
        _set_progress(
            document, min(0.99, PROGRESS_UPLOADED + (1 - PROGRESS_UPLOADED) * max(0.0, remote.progress))
        )
        return document
    document.refresh_from_db()
    return document


def ragflow_documents_delete(*, dataset_id: str, document_ids: list[str]) -> None:
    with RagflowClient.from_settings() as client:
        try:
            client.delete_documents(dataset_id=dataset_id, ids=document_ids)
        except RagflowRejected as error:
            logger.warning("RAGFlow did not delete documents %s of %s: %s", document_ids, dataset_id, error)


def ragflow_dataset_delete(*, dataset_id: str) -> None:
    with RagflowClient.from_settings() as client:
        try:
            client.delete_datasets(ids=[dataset_id])
        except RagflowRejected as error:
            logger.warning("RAGFlow did not delete dataset %s: %s", dataset_id, error)


# --- The pipeline ---------------------------------------------------------------------------------


def document_ingest(*, document_id: int) -> KnowledgeDocument | None:
    """Parse, chunk and index one document (or hand it to RAGFlow). None when there was nothing to do."""
    document = _start_processing(document_id)
    if document is None:
        return None
    if document.knowledge_base.backend == RetrievalBackend.RAGFLOW:
        return _ingest_into_ragflow(document)
    passages = _passages(document)
    _set_progress(document, PROGRESS_PARSED)
    chunks = _chunks(document.knowledge_base, passages)
    _set_progress(document, PROGRESS_CHUNKED)
    return _mark_indexed(document, chunks=chunks)
