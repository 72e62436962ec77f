"""Training documents: add (file, questions and answers, web page), delete, retry.

A document's status changes only here and in `ingestion`:

    pending -> processing -> indexed | failed          (failed -> pending when someone retries)

The same content added twice to one knowledge base is stored once (a unique constraint on the content's
SHA-256): the second add returns the existing document and `created=False`. New documents are handed to
the ingestion pipeline after commit.
"""

import hashlib
import ipaddress
import json
import logging
import os
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from marketplace.errors import InvalidTransition
from marketplace_ai.errors import DocumentRejected
from marketplace_ai.fetching import address_is_public
from marketplace_ai.models import DocumentSource, DocumentStatus, KnowledgeBase, KnowledgeDocument
from marketplace_ai.parsing import MIME_TYPES, DocumentKind, detect_kind
from marketplace_ai.services.knowledge_bases import check_open

logger = logging.getLogger(__name__)

MAX_QA_PAIRS = 500
MAX_QUESTION_LENGTH = 1000
MAX_ANSWER_LENGTH = 5000
MAX_URL_LENGTH = 2000
FILE_EXTENSIONS = {
    DocumentKind.PDF: ".pdf",
    DocumentKind.DOCX: ".docx",
    DocumentKind.HTML: ".html",
    DocumentKind.MARKDOWN: ".md",
    DocumentKind.TEXT: ".txt",
    DocumentKind.QA: ".json",
}


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def _display_name(name: str, fallback: str) -> str:
    name = " ".join(os.path.basename((name or "").replace("\\", "/")).split())
    return (name or fallback)[:255]


def _sha256(file) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for block in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(block)
    file.seek(0)
    return digest.hexdigest()


def _existing(knowledge_base: KnowledgeBase, content_sha256: str) -> KnowledgeDocument | None:
    return knowledge_base.documents.filter(content_sha256=content_sha256).first()


def _enqueue_ingestion(document: KnowledgeDocument) -> None:
    from marketplace_ai.tasks import document_ingest_task

    document_id = document.pk
    transaction.on_commit(lambda: document_ingest_task.delay(document_id))


def _insert(document: KnowledgeDocument, content=None) -> tuple[KnowledgeDocument, bool]:
    """Insert a new document, or return the one that already holds this content (no check-then-insert:
    the unique constraint decides, and the losing file is removed from storage)."""
    if content is not None:
        document.file.save(f"{document.uuid.hex}{content[0]}", content[1], save=False)
    try:
        with transaction.atomic():
            document.save()
    except IntegrityError:
        if document.file:
            document.file.delete(save=False)
        existing = _existing(document.knowledge_base, document.content_sha256)
        if existing is None:
            raise
        return existing, False
    _enqueue_ingestion(document)
    logger.info("Document %s added to knowledge base %s", document.uuid, document.knowledge_base.uuid)
    return document, True


def document_upload_file(
    *, knowledge_base: KnowledgeBase, uploaded_file: UploadedFile, actor
) -> tuple[KnowledgeDocument, bool]:
    """Add a PDF, Word (.docx), text, Markdown or HTML file; its type is checked by its content."""
    check_open(knowledge_base)
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    if uploaded_file.size > limit:
        message = f"The file is {_megabytes(uploaded_file.size)}; the limit is {_megabytes(limit)}."
        raise DocumentRejected(message, code="document_too_large", errors={"file": [message]})
    name = _display_name(uploaded_file.name, "Document")
    kind = detect_kind(file=uploaded_file, name=name)
    content_sha256 = _sha256(uploaded_file)
    existing = _existing(knowledge_base, content_sha256)
    if existing is not None:
        return existing, False  # no need to store a second copy of the file first
    document = KnowledgeDocument(
        knowledge_base=knowledge_base,
        name=name,
        source=DocumentSource.FILE,
        mime_type=MIME_TYPES[kind],
        size_bytes=uploaded_file.size,
        content_sha256=content_sha256,
    )
    return _insert(document, (FILE_EXTENSIONS[kind], uploaded_file))


def _clean_pairs(qa_pairs) -> list[dict]:
    def reject(message: str):
        return DocumentRejected(message, code="invalid_qa_pairs", errors={"qa_pairs": [message]})

    if not isinstance(qa_pairs, list) or not qa_pairs:
        raise reject("Add at least one question with its answer.")
    if len(qa_pairs) > MAX_QA_PAIRS:
        raise reject(f"Add at most {MAX_QA_PAIRS} questions at a time.")
    pairs = []
    for number, pair in enumerate(qa_pairs, start=1):
        if not isinstance(pair, dict):
            raise reject(f"Pair {number} must have a question and an answer.")
        question = " ".join(str(pair.get("question") or "").split())
        answer = str(pair.get("answer") or "").strip()
        if not question or not answer:
            raise reject(f"Pair {number} needs both a question and an answer.")
        if len(question) > MAX_QUESTION_LENGTH or len(answer) > MAX_ANSWER_LENGTH:
            raise reject(
                f"Pair {number} is too long (questions up to {MAX_QUESTION_LENGTH} characters, "
                f"answers up to {MAX_ANSWER_LENGTH})."
            )
        pairs.append({"question": question, "answer": answer})
    return pairs


def document_add_qa(
    *, knowledge_base: KnowledgeBase, qa_pairs: list[dict], actor, name: str = ""
) -> tuple[KnowledgeDocument, bool]:
    """Add questions with their answers; each pair is indexed as one passage."""
    check_open(knowledge_base)
    pairs = _clean_pairs(qa_pairs)
    payload = json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()
    content_sha256 = hashlib.sha256(b"qa:" + payload).hexdigest()
    if not name.strip():
        more = f" (+{len(pairs) - 1} more)" if len(pairs) > 1 else ""
        name = f"Q&A: {pairs[0]['question'][:120]}{more}"
    document = KnowledgeDocument(
        knowledge_base=knowledge_base,
        name=_display_name(name, "Questions and answers"),
        source=DocumentSource.QA,
        mime_type=MIME_TYPES[DocumentKind.QA],
        size_bytes=len(payload),
        content_sha256=content_sha256,
    )
    return _insert(document, (FILE_EXTENSIONS[DocumentKind.QA], ContentFile(payload)))


def _clean_url(url: str) -> str:
    def reject(message: str):
        return DocumentRejected(message, code="invalid_url", errors={"url": [message]})

    url = (url or "").strip()
    if len(url) > MAX_URL_LENGTH:
        raise reject(f"The address is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError as error:
        raise reject("Enter a valid http or https address.") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise reject("Enter a valid http or https address.")
    if parts.username or parts.password:
        raise reject("Addresses with a user name or password are not accepted.")
    if not settings.KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE:
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            literal = None  # a host name: resolved and checked by the worker, after every redirect too
        if (literal is not None and not address_is_public(literal)) or parts.hostname.lower() == "localhost":
            raise reject("Private, local and reserved network addresses cannot be added.")
    return url


def document_add_url(
    *, knowledge_base: KnowledgeBase, url: str, actor, name: str = ""
) -> tuple[KnowledgeDocument, bool]:
    """Add a web page; the worker fetches it (safely, see `fetching`) and indexes its text."""
    check_open(knowledge_base)
    url = _clean_url(url)
    document = KnowledgeDocument(
        knowledge_base=knowledge_base,
        name=_display_name(name, "") or url[:255],
        source=DocumentSource.URL,
        url=url,
        content_sha256=hashlib.sha256(b"url:" + url.encode()).hexdigest(),
    )
    existing = _existing(knowledge_base, document.content_sha256)
    if existing is not None:
        return existing, False
    return _insert(document)


@transaction.atomic
def document_delete(*, document: KnowledgeDocument, actor) -> None:
    """Remove a document and its chunks from the index now; its file and its RAGFlow copy after commit."""
    from marketplace_ai.tasks import ragflow_documents_delete_task

    document = (
        KnowledgeDocument.objects.select_for_update().select_related("knowledge_base").get(pk=document.pk)
    )
    check_open(document.knowledge_base)
    file_name = document.file.name if document.file else ""
    storage = document.file.storage
    dataset_id = document.knowledge_base.ragflow_dataset_id
    ragflow_document_id = document.ragflow_document_id
    document.delete()
    logger.info("Document %s deleted by %s", document.uuid, actor)

    def cleanup() -> None:
        if file_name:
            storage.delete(file_name)
        if dataset_id and ragflow_document_id:
            ragflow_documents_delete_task.delay(dataset_id, [ragflow_document_id])

    transaction.on_commit(cleanup)


@transaction.atomic
def document_retry(*, document: KnowledgeDocument, actor) -> KnowledgeDocument:
    """Send a failed document through the pipeline again."""
    document = (
        KnowledgeDocument.objects.select_for_update().select_related("knowledge_base").get(pk=document.pk)
    )
    check_open(document.knowledge_base)
    if document.status != DocumentStatus.FAILED:
        raise InvalidTransition(
            entity="document", from_state=document.status, to_state=DocumentStatus.PENDING
        )
    document.status = DocumentStatus.PENDING
    document.progress = 0.0
    document.error_message = ""
    document.save(update_fields=["status", "progress", "error_message", "updated_at"])
    _enqueue_ingestion(document)
    logger.info("Document %s retried by %s", document.uuid, actor)
    return document
