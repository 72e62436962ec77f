"""RAGFlow: the client against a local double of its HTTP API; the pipeline on a RAGFlow knowledge base."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace_ai.errors import RetrievalUnavailable
from marketplace_ai.ragflow_client import RagflowClient, RagflowRejected, RagflowUnavailable
from marketplace_ai.retrieval import retrieve
from marketplace_ai.services import (
    document_add_qa,
    document_delete,
    document_retry,
    document_upload_file,
    knowledge_base_archive,
    knowledge_base_create,
)
from tests.marketplace_ai.factories import make_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(fake_ragflow):
    with RagflowClient(base_url=fake_ragflow.base_url, api_key=fake_ragflow.api_key, timeout=5) as client:
        yield client


# --- The client ------------------------------------------------------------------------------------


def test_create_dataset_sends_the_documented_request(client, fake_ragflow):
    dataset_id = client.create_dataset(name="cmp_abc", chunk_token_count=5000)

    (request,) = fake_ragflow.requests_to("POST", "/api/v1/datasets")
    assert request.headers["authorization"] == "Bearer ragflow-test-key"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "name": "cmp_abc",
        "chunk_method": "naive",
        "parser_config": {
            "chunk_token_num": 2048,  # RAGFlow's maximum
            "delimiter": "\\n!?;\u3002\uff1b\uff01\uff1f",
            "html4excel": False,
            "raptor": {"use_raptor": False},
        },
    }
    assert fake_ragflow.datasets[dataset_id]["name"] == "cmp_abc"


def test_upload_parse_status_and_retrieval_requests(client, fake_ragflow):
    dataset_id = client.create_dataset(name="cmp_docs", chunk_token_count=128)

    document_id = client.upload_document(
        dataset_id=dataset_id,
        filename="faq.txt",
        content=b"Opening hours are nine to five.",
        content_type="text/plain",
    )
    client.start_parsing(dataset_id=dataset_id, document_ids=[document_id])
    status = client.get_document(dataset_id=dataset_id, document_id=document_id)
    chunks = client.retrieve(question="opening hours", dataset_ids=[dataset_id], top_k=3)

    (upload,) = fake_ragflow.requests_to("POST", f"/api/v1/datasets/{dataset_id}/documents")
    assert upload.files == [("file", "faq.txt", "text/plain", b"Opening hours are nine to five.")]
    (parse,) = fake_ragflow.requests_to("POST", f"/api/v1/datasets/{dataset_id}/chunks")
    assert parse.json == {"document_ids": [document_id]}
    (listing,) = fake_ragflow.requests_to("GET", f"/api/v1/datasets/{dataset_id}/documents")
    assert listing.query == {"id": [document_id], "page": ["1"], "page_size": ["1"]}
    (search,) = fake_ragflow.requests_to("POST", "/api/v1/retrieval")
    assert search.json == {
        "question": "opening hours",
        "dataset_ids": [dataset_id],
        "page": 1,
        "page_size": 3,
        "similarity_threshold": 0.2,
    }
    assert (status.is_done, status.progress, status.chunk_count) == (True, 1.0, 1)
    assert [(chunk.content, chunk.document_id, chunk.dataset_id, chunk.similarity) for chunk in chunks] == [
        ("Opening hours are nine to five.", document_id, dataset_id, 1.0)
    ]


def test_later_versions_name_the_dataset_of_a_chunk_dataset_id(client, fake_ragflow):
    fake_ragflow.chunk_dataset_key = "dataset_id"
    dataset_id = client.create_dataset(name="cmp_new", chunk_token_count=128)
    document_id = client.upload_document(
        dataset_id=dataset_id, filename="a.txt", content=b"alpha", content_type="text/plain"
    )
    client.start_parsing(dataset_id=dataset_id, document_ids=[document_id])
    client.get_document(dataset_id=dataset_id, document_id=document_id)

    (chunk,) = client.retrieve(question="alpha", dataset_ids=[dataset_id], top_k=1)

    assert chunk.dataset_id == dataset_id


def test_an_error_code_inside_http_200_is_our_error(client, fake_ragflow):
    client.create_dataset(name="cmp_twice", chunk_token_count=128)

    with pytest.raises(RagflowRejected) as raised:
        client.create_dataset(name="cmp_twice", chunk_token_count=128)

    assert raised.value.ragflow_code == 102
    assert raised.value.detail == (
        "RAGFlow refused POST /datasets: Duplicated dataset name in creating dataset. (code 102)."
    )


def test_a_wrong_api_key_is_refused(fake_ragflow):
    with (
        RagflowClient(base_url=fake_ragflow.base_url, api_key="wrong", timeout=5) as client,
        pytest.raises(RagflowRejected) as raised,
    ):
        client.ping()

    assert raised.value.ragflow_code == 109


def test_ping_lists_one_dataset(client, fake_ragflow):
    client.ping()

    (request,) = fake_ragflow.requests_to("GET", "/api/v1/datasets")
    assert request.query == {"page": ["1"], "page_size": ["1"]}


@pytest.mark.parametrize("ids", [[], [""], ["   "]])
def test_deletes_without_explicit_ids_are_refused_before_sending(client, fake_ragflow, ids):
    dataset_id = client.create_dataset(name="cmp_keep", chunk_token_count=128)
    fake_ragflow.requests.clear()

    with pytest.raises(ValueError, match="would delete all"):
        client.delete_datasets(ids=ids)
    with pytest.raises(ValueError, match="would delete all"):
        client.delete_documents(dataset_id=dataset_id, ids=ids)
    with pytest.raises(ValueError, match="would delete all"):
        client.start_parsing(dataset_id=dataset_id, document_ids=ids)

    assert fake_ragflow.requests == []
    assert list(fake_ragflow.datasets) == [dataset_id]


def test_delete_sends_exactly_the_ids(client, fake_ragflow):
    keep = client.create_dataset(name="cmp_keep", chunk_token_count=128)
    drop = client.create_dataset(name="cmp_drop", chunk_token_count=128)

    client.delete_datasets(ids=[drop])

    (request,) = fake_ragflow.requests_to("DELETE", "/api/v1/datasets")
    assert request.json == {"ids": [drop]}
    assert list(fake_ragflow.datasets) == [keep]


def test_down_or_unreachable_ragflow_is_unavailable(client, fake_ragflow):
    fake_ragflow.down = True
    with pytest.raises(RagflowUnavailable) as down:
        client.ping()
    fake_ragflow.stop()
    with pytest.raises(RagflowUnavailable) as unreachable:
        client.ping()

    assert down.value.detail == "RAGFlow answered GET /datasets with HTTP 503."
    assert unreachable.value.detail == "RAGFlow cannot be reached (ConnectError)."


# --- The pipeline on RAGFlow -----------------------------------------------------------------------


@pytest.fixture
def knowledge_base(fake_ragflow, organization):
    return knowledge_base_create(organization=organization, name="Support")


def _upload(knowledge_base, user, name, data, capture):
    with capture(execute=True):
        document, _ = document_upload_file(
            knowledge_base=knowledge_base, uploaded_file=SimpleUploadedFile(name, data), actor=user
        )
    document.refresh_from_db()
    return document


def test_a_document_is_uploaded_parsed_and_followed_until_indexed(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks
):
    fake_ragflow.polls_to_finish = 3
    data = make_pdf(["Opening hours are nine to five."])

    document = _upload(knowledge_base, user, "hours.pdf", data, django_capture_on_commit_callbacks)

    knowledge_base.refresh_from_db()
    assert knowledge_base.backend == "ragflow"
    assert (
        fake_ragflow.datasets[knowledge_base.ragflow_dataset_id]["name"] == f"cmp_{knowledge_base.uuid.hex}"
    )
    assert (document.status, document.progress, document.chunk_count, document.error_message) == (
        "indexed",
        1.0,
        1,
        "",
    )
    remote = fake_ragflow.documents[document.ragflow_document_id]
    assert (remote.name, remote.content, remote.run) == ("hours.pdf", data, "DONE")
    status_reads = fake_ragflow.requests_to(
        "GET", f"/api/v1/datasets/{knowledge_base.ragflow_dataset_id}/documents"
    )
    assert len(status_reads) == 3
    assert document.chunks.count() == 0  # the chunks live in RAGFlow


def test_retrieval_maps_ragflow_chunks_to_our_documents(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks
):
    document = _upload(
        knowledge_base,
        user,
        "hours.txt",
        b"Opening hours are nine to five.",
        django_capture_on_commit_callbacks,
    )
    knowledge_base.refresh_from_db()

    results = retrieve(knowledge_base=knowledge_base, query="When are the opening hours?", top_k=3)

    assert [(r.text, r.document_uuid, r.document_name) for r in results] == [
        ("Opening hours are nine to five.", document.uuid, "hours.txt")
    ]


def test_retrieval_when_ragflow_is_down_is_our_error(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks
):
    _upload(knowledge_base, user, "hours.txt", b"Opening hours.", django_capture_on_commit_callbacks)
    knowledge_base.refresh_from_db()
    fake_ragflow.down = True

    with pytest.raises(RetrievalUnavailable):
        retrieve(knowledge_base=knowledge_base, query="hours", top_k=3)


def test_questions_are_uploaded_as_text(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        document, _ = document_add_qa(
            knowledge_base=knowledge_base, qa_pairs=[{"question": "Parking?", "answer": "Free."}], actor=user
        )
    document.refresh_from_db()

    remote = fake_ragflow.documents[document.ragflow_document_id]
    assert (document.status, remote.name, remote.content) == (
        "indexed",
        f"{document.uuid.hex}.txt",
        b"Question: Parking?\nAnswer: Free.",
    )


def test_a_failed_parse_fails_the_document_and_retry_uploads_again(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks
):
    fake_ragflow.fail_parsing = True
    document = _upload(knowledge_base, user, "a.txt", b"Some text.", django_capture_on_commit_callbacks)
    first_remote_id = document.ragflow_document_id
    assert document.status == "failed"
    assert document.error_message == (
        "RAGFlow could not parse this document: "
        "Page(1~100000001): [ERROR]Internal server error while chunking"
    )

    fake_ragflow.fail_parsing = False
    with django_capture_on_commit_callbacks(execute=True):
        document_retry(document=document, actor=user)

    document.refresh_from_db()
    assert document.status == "indexed"
    assert document.ragflow_document_id != first_remote_id
    assert list(fake_ragflow.documents) == [document.ragflow_document_id]  # the failed copy was removed


def test_ragflow_down_keeps_the_document_retrying_then_failed_never_lost(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks
):
    fake_ragflow.down = True

    document = _upload(knowledge_base, user, "a.txt", b"Some text.", django_capture_on_commit_callbacks)

    assert document.status == "failed"
    assert document.attempts == 6
    assert document.error_message == (
        "RAGFlow answered POST /datasets with HTTP 503. Gave up after 6 attempts; use Retry to try again."
    )
    assert document.file  # kept, so it can be sent again

    fake_ragflow.down = False
    with django_capture_on_commit_callbacks(execute=True):
        document_retry(document=document, actor=user)

    document.refresh_from_db()
    assert (document.status, document.error_message, document.attempts) == ("indexed", "", 7)


def test_a_short_outage_is_retried_and_the_document_indexed(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks, monkeypatch
):
    from marketplace_ai.services import ingestion

    calls = []
    real_ingest = ingestion._ingest_into_ragflow

    def flaky(document):
        calls.append(document.pk)
        fake_ragflow.down = len(calls) < 3  # down for the first two attempts
        try:
            return real_ingest(document)
        finally:
            fake_ragflow.down = False

    monkeypatch.setattr(ingestion, "_ingest_into_ragflow", flaky)

    document = _upload(knowledge_base, user, "a.txt", b"Some text.", django_capture_on_commit_callbacks)

    assert (document.status, document.attempts, document.error_message) == ("indexed", 3, "")


def test_retrying_while_ragflow_stays_down_shows_the_reason(knowledge_base, fake_ragflow, user):
    from marketplace_ai.services.ingestion import document_mark_retrying
    from tests.marketplace_ai.factories import KnowledgeDocumentFactory

    document = KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="processing", progress=0.05)

    document_mark_retrying(
        document_id=document.pk, message="RAGFlow cannot be reached. Trying again (attempt 2 of 6)."
    )

    document.refresh_from_db()
    assert (document.status, document.error_message) == (
        "processing",
        "RAGFlow cannot be reached. Trying again (attempt 2 of 6).",
    )


def test_delete_removes_the_document_from_ragflow_too(
    user, knowledge_base, fake_ragflow, django_capture_on_commit_callbacks
):
    keep = _upload(knowledge_base, user, "keep.txt", b"Keep me.", django_capture_on_commit_callbacks)
    drop = _upload(knowledge_base, user, "drop.txt", b"Drop me.", django_capture_on_commit_callbacks)
    knowledge_base.refresh_from_db()
    dataset_id = knowledge_base.ragflow_dataset_id

    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document=drop, actor=user)

    (request,) = fake_ragflow.requests_to("DELETE", f"/api/v1/datasets/{dataset_id}/documents")
    assert request.json == {"ids": [drop.ragflow_document_id]}
    assert list(fake_ragflow.documents) == [keep.ragflow_document_id]


def test_archiving_deletes_only_this_dataset(
    user, knowledge_base, fake_ragflow, organization, django_capture_on_commit_callbacks
):
    other = knowledge_base_create(organization=organization, name="Other")
    _upload(knowledge_base, user, "a.txt", b"Alpha.", django_capture_on_commit_callbacks)
    _upload(other, user, "b.txt", b"Beta.", django_capture_on_commit_callbacks)
    knowledge_base.refresh_from_db()
    other.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        knowledge_base_archive(knowledge_base=knowledge_base, actor=user)

    (request,) = fake_ragflow.requests_to("DELETE", "/api/v1/datasets")
    assert request.json == {"ids": [knowledge_base.ragflow_dataset_id]}
    assert list(fake_ragflow.datasets) == [other.ragflow_dataset_id]
