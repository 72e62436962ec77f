"""Celery tasks of the knowledge pipeline. Each loads by id, calls a service and stops; all are idempotent.

Errors worth retrying (RAGFlow down, a web page timing out) keep the document processing with the reason
shown and retry with exponential backoff and jitter; after the last attempt the document is failed, with
a Retry button. Other errors fail the document at once with their reason.
"""

import logging
import random
import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from marketplace_ai.errors import DocumentUnreadable, UrlFetchFailed, UrlRefused
from marketplace_ai.models import DocumentStatus
from marketplace_ai.ragflow_client import RagflowRejected, RagflowUnavailable
from marketplace_ai.services.ingestion import (
    document_ingest,
    document_mark_failed,
    document_mark_retrying,
    document_ragflow_sync,
    ragflow_dataset_delete,
    ragflow_documents_delete,
)

logger = logging.getLogger(__name__)

RECOVERABLE = (RagflowUnavailable, UrlFetchFailed)
PERMANENT = (DocumentUnreadable, UrlRefused, RagflowRejected)
MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 600
POLL_INTERVAL_SECONDS = 5
MAX_POLLS = 720  # an hour of RAGFlow parsing at the usual interval


def backoff(retries: int) -> float:
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return delay + random.uniform(0, delay / 4)  # noqa: S311 - jitter, not security


def _run(task, document_id: int, service) -> str | None:
    """Run one pipeline step; the document's status afterwards (None: it is gone).

    A recoverable error keeps the document processing with the reason shown and retries later with
    backoff; after the last attempt the document is failed. Without a worker (tasks run in-process,
    the embedded mode) there is no "later": the attempts are made at once.
    """
    attempt = task.request.retries + 1
    while True:
        try:
            document = service(document_id=document_id)
        except RECOVERABLE as error:
            logger.warning("Document %s, attempt %s: %s", document_id, attempt, error)
            if attempt >= MAX_ATTEMPTS:
                message = f"{error} Gave up after {attempt} attempts; use Retry to try again."
                document_mark_failed(document_id=document_id, message=message)
                return DocumentStatus.FAILED
            message = f"{error} Trying again (attempt {attempt + 1} of {MAX_ATTEMPTS})."
            document_mark_retrying(document_id=document_id, message=message)
            if task.request.is_eager:
                attempt += 1
                continue
            raise task.retry(
                exc=error, countdown=backoff(task.request.retries), max_retries=MAX_ATTEMPTS
            ) from error
        except PERMANENT as error:
            document_mark_failed(document_id=document_id, message=str(error))
            return DocumentStatus.FAILED
        except SoftTimeLimitExceeded:
            message = "Processing took too long; the document may be too big."
            document_mark_failed(document_id=document_id, message=message)
            return DocumentStatus.FAILED
        except Exception:
            logger.exception("Document %s failed unexpectedly", document_id)
            message = "Processing failed unexpectedly; we have been told."
            document_mark_failed(document_id=document_id, message=message)
            return DocumentStatus.FAILED
        return document.status if document is not None else None


def _poll_inline(document_id: int, polls: int) -> str | None:
    """Without a worker (tasks run eagerly) follow RAGFlow's parsing here, sleeping between polls,
    instead of recursing through eager tasks or polling in a tight loop."""
    status: str | None = DocumentStatus.PROCESSING
    while status == DocumentStatus.PROCESSING and polls <= MAX_POLLS:
        time.sleep(POLL_INTERVAL_SECONDS)
        polls += 1
        try:
            document = document_ragflow_sync(document_id=document_id)
        except RagflowUnavailable as error:
            document_mark_retrying(document_id=document_id, message=f"{error} Trying again.")
            continue
        except RagflowRejected as error:
            document_mark_failed(document_id=document_id, message=str(error))
            return DocumentStatus.FAILED
        status = document.status if document is not None else None
    if status == DocumentStatus.PROCESSING:
        return _give_up_polling(document_id)
    return status


def _give_up_polling(document_id: int) -> str:
    minutes = MAX_POLLS * POLL_INTERVAL_SECONDS // 60
    document_mark_failed(document_id=document_id, message=f"RAGFlow did not finish within {minutes} minutes.")
    return DocumentStatus.FAILED


def _follow_ragflow(task, document_id: int, polls: int) -> str | None:
    if task.request.is_eager:
        return _poll_inline(document_id, polls)
    if polls > MAX_POLLS:
        return _give_up_polling(document_id)
    document_ragflow_poll_task.apply_async((document_id, polls), countdown=POLL_INTERVAL_SECONDS)
    return DocumentStatus.PROCESSING


@shared_task(bind=True, acks_late=True)
def document_ingest_task(self, document_id: int) -> str | None:
    """Parse, chunk and index a document (built-in), or upload it to RAGFlow and follow its parsing."""
    status = _run(self, document_id, document_ingest)
    if status == DocumentStatus.PROCESSING:  # handed to RAGFlow, which is parsing it
        return _follow_ragflow(self, document_id, 1)
    return status


@shared_task(bind=True, acks_late=True)
def document_ragflow_poll_task(self, document_id: int, polls: int = 1) -> str | None:
    """Follow RAGFlow's parsing of a document until it is indexed or failed."""
    status = _run(self, document_id, document_ragflow_sync)
    if status == DocumentStatus.PROCESSING:
        return _follow_ragflow(self, document_id, polls + 1)
    return status


@shared_task(bind=True, acks_late=True, max_retries=MAX_ATTEMPTS)
def ragflow_documents_delete_task(self, dataset_id: str, document_ids: list[str]) -> None:
    """Remove deleted documents from RAGFlow (their chunks are already gone from our side)."""
    try:
        ragflow_documents_delete(dataset_id=dataset_id, document_ids=document_ids)
    except RagflowUnavailable as error:
        raise self.retry(exc=error, countdown=backoff(self.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=MAX_ATTEMPTS)
def ragflow_dataset_delete_task(self, dataset_id: str) -> None:
    """Remove an archived knowledge base's dataset from RAGFlow."""
    try:
        ragflow_dataset_delete(dataset_id=dataset_id)
    except RagflowUnavailable as error:
        raise self.retry(exc=error, countdown=backoff(self.request.retries)) from error
