"""Adding documents and the ingestion pipeline (built-in backend), with Celery running eagerly."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.errors import InvalidTransition
from marketplace_ai.errors import ConflictError, DocumentRejected
from marketplace_ai.models import Chunk, KnowledgeDocument
from marketplace_ai.services import (
    document_add_qa,
    document_add_url,
    document_delete,
    document_retry,
    document_upload_file,
    ingestion,
    knowledge_base_archive,
    knowledge_base_create,
)
from tests.marketplace_ai.factories import EXE_BYTES, KnowledgeBaseFactory, make_docx, make_pdf

pytestmark = pytest.mark.django_db


def _upload(knowledge_base, user, name, data, capture):
    with capture(execute=True):
        return document_upload_file(
            knowledge_base=knowledge_base, uploaded_file=SimpleUploadedFile(name, data), actor=user
        )


def test_knowledge_base_create_picks_the_backend_from_settings(organization, settings):
    built_in = knowledge_base_create(organization=organization, name="  Support  ")
    settings.RAGFLOW_BASE_URL = "http://ragflow.internal"
    on_ragflow = knowledge_base_create(organization=organization, name="Sales")

    assert (built_in.name, built_in.backend, built_in.ragflow_dataset_id) == ("Support", "builtin", "")
    assert (on_ragflow.backend, on_ragflow.ragflow_dataset_id) == ("ragflow", "")


def test_upload_waits_for_commit_then_is_parsed_chunked_and_indexed(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory(chunk_token_count=8, chunk_overlap_tokens=2)
    data = make_pdf(["Refunds are accepted within thirty days of delivery.", "Keep the receipt."])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        document, created = document_upload_file(
            knowledge_base=knowledge_base, uploaded_file=SimpleUploadedFile("refunds.pdf", data), actor=user
        )
    assert created is True
    document.refresh_from_db()
    assert (document.status, document.progress, document.attempts) == ("pending", 0.0, 0)
    assert len(callbacks) == 1

    callbacks[0]()

    document.refresh_from_db()
    assert (document.status, document.progress, document.error_message, document.attempts) == (
        "indexed",
        1.0,
        "",
        1,
    )
    assert (document.name, document.mime_type, document.size_bytes) == (
        "refunds.pdf",
        "application/pdf",
        len(data),
    )
    chunks = list(document.chunks.order_by("position"))
    assert [chunk.text for chunk in chunks] == [
        "Refunds are accepted within thirty days of delivery",
        "of delivery.\nKeep the receipt.",
    ]
    assert [chunk.token_count for chunk in chunks] == [8, 7]
    assert document.chunk_count == 2
    assert all(chunk.search_vector for chunk in chunks)  # filled by the database trigger
    assert document.indexed_at is not None


def test_docx_and_markdown_are_indexed(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory()
    docx, _ = _upload(
        knowledge_base,
        user,
        "hours.docx",
        make_docx(["We open at nine."]),
        django_capture_on_commit_callbacks,
    )
    markdown, _ = _upload(
        knowledge_base, user, "faq.md", b"# FAQ\n\nWe ship worldwide.", django_capture_on_commit_callbacks
    )

    assert list(Chunk.objects.filter(document=docx).values_list("text", flat=True)) == ["We open at nine."]
    assert list(Chunk.objects.filter(document=markdown).values_list("text", flat=True)) == [
        "# FAQ\n\nWe ship worldwide."
    ]


def test_same_content_twice_is_indexed_once_and_the_existing_document_returned(
    user, django_capture_on_commit_callbacks
):
    knowledge_base = KnowledgeBaseFactory()
    first, first_created = _upload(
        knowledge_base, user, "a.txt", b"Same words.", django_capture_on_commit_callbacks
    )

    second, second_created = _upload(
        knowledge_base, user, "b.txt", b"Same words.", django_capture_on_commit_callbacks
    )

    assert (first_created, second_created) == (True, False)
    assert second.pk == first.pk
    assert knowledge_base.documents.count() == 1
    assert Chunk.objects.filter(knowledge_base=knowledge_base).count() == 1
    # Another knowledge base may hold the same content.
    other, other_created = _upload(
        KnowledgeBaseFactory(), user, "a.txt", b"Same words.", django_capture_on_commit_callbacks
    )
    assert other_created is True
    assert other.pk != first.pk


def test_a_file_over_the_size_limit_is_refused_and_nothing_stored(user, settings):
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 10
    knowledge_base = KnowledgeBaseFactory()

    with pytest.raises(DocumentRejected) as raised:
        document_upload_file(
            knowledge_base=knowledge_base, uploaded_file=SimpleUploadedFile("big.txt", b"x" * 11), actor=user
        )

    assert raised.value.code == "document_too_large"
    assert raised.value.errors == {"file": ["The file is 11 bytes; the limit is 10 bytes."]}
    assert knowledge_base.documents.count() == 0


def test_an_executable_named_pdf_is_refused(user):
    knowledge_base = KnowledgeBaseFactory()

    with pytest.raises(DocumentRejected):
        document_upload_file(
            knowledge_base=knowledge_base,
            uploaded_file=SimpleUploadedFile("invoice.pdf", EXE_BYTES),
            actor=user,
        )

    assert knowledge_base.documents.count() == 0


def test_qa_pairs_become_one_chunk_each(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory()
    pairs = [
        {"question": "  Do you ship abroad? ", "answer": "Yes, to 40 countries."},
        {"question": "Can I pay by invoice?", "answer": "Only business customers."},
    ]

    with django_capture_on_commit_callbacks(execute=True):
        document, created = document_add_qa(knowledge_base=knowledge_base, qa_pairs=pairs, actor=user)

    document.refresh_from_db()
    assert (created, document.status, document.source) == (True, "indexed", "qa")
    assert document.name == "Q&A: Do you ship abroad? (+1 more)"
    assert list(document.chunks.order_by("position").values_list("text", flat=True)) == [
        "Question: Do you ship abroad?\nAnswer: Yes, to 40 countries.",
        "Question: Can I pay by invoice?\nAnswer: Only business customers.",
    ]


@pytest.mark.parametrize(
    "pairs",
    [[], [{"question": "Only a question"}], [{"question": "", "answer": "x"}], ["not a pair"]],
)
def test_invalid_qa_pairs_are_refused(user, pairs):
    knowledge_base = KnowledgeBaseFactory()

    with pytest.raises(DocumentRejected) as raised:
        document_add_qa(knowledge_base=knowledge_base, qa_pairs=pairs, actor=user)

    assert list(raised.value.errors) == ["qa_pairs"]
    assert knowledge_base.documents.count() == 0


def test_an_unreadable_document_fails_with_its_reason_and_can_be_retried(
    user, django_capture_on_commit_callbacks
):
    knowledge_base = KnowledgeBaseFactory()
    document, _ = _upload(knowledge_base, user, "scan.pdf", make_pdf([]), django_capture_on_commit_callbacks)

    document.refresh_from_db()
    assert document.status == "failed"
    assert document.error_message.startswith("No text was found in this PDF.")
    assert document.chunks.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        document_retry(document=document, actor=user)

    document.refresh_from_db()
    assert (document.status, document.attempts) == ("failed", 2)


def test_retry_only_from_failed(user, django_capture_on_commit_callbacks):
    document, _ = _upload(
        KnowledgeBaseFactory(), user, "ok.txt", b"Fine text.", django_capture_on_commit_callbacks
    )

    with pytest.raises(InvalidTransition):
        document_retry(document=document, actor=user)

    document.refresh_from_db()
    assert (document.status, document.attempts) == ("indexed", 1)


def test_a_redelivered_task_does_not_index_twice(user, django_capture_on_commit_callbacks):
    document, _ = _upload(
        KnowledgeBaseFactory(), user, "ok.txt", b"Fine text.", django_capture_on_commit_callbacks
    )

    assert ingestion.document_ingest(document_id=document.pk) is None  # already indexed: nothing to do

    document.refresh_from_db()
    assert (document.status, document.attempts, document.chunks.count()) == ("indexed", 1, 1)


def test_an_interrupted_run_is_redone_without_duplicate_chunks(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory()
    document, _ = _upload(knowledge_base, user, "ok.txt", b"Fine text.", django_capture_on_commit_callbacks)
    # As if a worker died after writing chunks but before the task was acknowledged.
    KnowledgeDocument.objects.filter(pk=document.pk).update(status="processing")

    ingestion.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert (document.status, document.attempts) == ("indexed", 2)
    assert list(document.chunks.values_list("position", "text")) == [(0, "Fine text.")]


def test_delete_removes_the_document_its_chunks_and_its_file(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory()
    document, _ = _upload(knowledge_base, user, "ok.txt", b"Fine text.", django_capture_on_commit_callbacks)
    storage, file_name = document.file.storage, document.file.name
    assert storage.exists(file_name)

    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document=document, actor=user)

    assert not KnowledgeDocument.objects.filter(pk=document.pk).exists()
    assert Chunk.objects.filter(knowledge_base=knowledge_base).count() == 0
    assert not storage.exists(file_name)


def test_an_archived_knowledge_base_is_emptied_and_refuses_changes(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory()
    _upload(knowledge_base, user, "ok.txt", b"Fine text.", django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        knowledge_base_archive(knowledge_base=knowledge_base, actor=user)

    knowledge_base.refresh_from_db()
    assert knowledge_base.archived_at is not None
    assert (knowledge_base.documents.count(), knowledge_base.chunks.count()) == (0, 0)
    with pytest.raises(ConflictError):
        document_add_qa(
            knowledge_base=knowledge_base, qa_pairs=[{"question": "q", "answer": "a"}], actor=user
        )


def test_url_document_on_a_loopback_server_is_refused_by_default(
    user, local_site, django_capture_on_commit_callbacks
):
    knowledge_base = KnowledgeBaseFactory()

    with pytest.raises(DocumentRejected) as raised:
        document_add_url(knowledge_base=knowledge_base, url=local_site.url("/shipping"), actor=user)

    assert raised.value.errors == {"url": ["Private, local and reserved network addresses cannot be added."]}
    assert knowledge_base.documents.count() == 0
    assert local_site.paths == []


def test_url_document_is_fetched_by_the_worker_when_private_addresses_are_allowed(
    user, settings, local_site, django_capture_on_commit_callbacks
):
    settings.KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE = True
    knowledge_base = KnowledgeBaseFactory()
    url = local_site.url("/shipping")

    with django_capture_on_commit_callbacks(execute=True):
        document, created = document_add_url(knowledge_base=knowledge_base, url=url, actor=user)

    document.refresh_from_db()
    assert (created, document.status, document.name, document.mime_type) == (
        True,
        "indexed",
        "Shipping help",
        "text/html",
    )
    assert list(document.chunks.values_list("text", flat=True)) == [
        "Shipping\n\nParcels leave our warehouse within two working days."
    ]
    assert local_site.paths == ["/shipping"]


def test_url_that_answers_404_fails_and_a_busy_one_is_retried_then_failed(
    user, settings, local_site, django_capture_on_commit_callbacks
):
    settings.KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE = True
    knowledge_base = KnowledgeBaseFactory()

    with django_capture_on_commit_callbacks(execute=True):
        missing, _ = document_add_url(
            knowledge_base=knowledge_base, url=local_site.url("/missing"), actor=user
        )
        busy, _ = document_add_url(knowledge_base=knowledge_base, url=local_site.url("/broken"), actor=user)

    missing.refresh_from_db()
    busy.refresh_from_db()
    assert (missing.status, missing.error_message, missing.attempts) == (
        "failed",
        "The page answered 404 Not Found.",
        1,
    )
    assert busy.status == "failed"
    assert busy.attempts == 6
    assert (
        busy.error_message
        == "127.0.0.1 answered 503; trying again later. Gave up after 6 attempts; use Retry to try again."
    )
    assert local_site.paths.count("/broken") == 6
