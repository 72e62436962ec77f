"""Knowledge API: access per role, uploads of every kind, dedup, delete, retry, search, bad input."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from marketplace_ai.models import Chunk, KnowledgeDocument
from tests.conftest import client_for
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.marketplace_ai.factories import EXE_BYTES, KnowledgeBaseFactory, KnowledgeDocumentFactory, make_pdf

pytestmark = pytest.mark.django_db

BASES = "/api/marketplace-ai-knowledge-bases/"
DOCUMENTS = "/api/marketplace-ai-knowledge-documents/"
ROLES = ("anonymous", "outsider", "member", "owner", "operator")


@pytest.fixture
def setup(operator):
    organization = OrganizationFactory(name="Acme")
    knowledge_base = KnowledgeBaseFactory(organization=organization, name="Acme support")
    other_knowledge_base = KnowledgeBaseFactory(name="Someone else's")
    users = {"operator": operator}
    for role in ("member", "owner"):
        users[role] = UserFactory(email=f"{role}@example.com")
        MembershipFactory(organization=organization, user=users[role], role=role)
    users["outsider"] = UserFactory(email="outsider@example.com")
    MembershipFactory(organization=other_knowledge_base.organization, user=users["outsider"], role="owner")

    class Setup:
        def client(self, role: str) -> APIClient:
            return APIClient() if role == "anonymous" else client_for(users[role])

    result = Setup()
    result.knowledge_base = knowledge_base
    result.other = other_knowledge_base
    result.users = users
    return result


def _error(response) -> tuple:
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code", "errors"}
    return body["status"], body["code"], body["errors"]


@pytest.mark.parametrize(
    ("role", "listed", "detail_status"),
    [
        ("anonymous", None, 401),
        ("outsider", ["Someone else's"], 404),
        ("member", ["Acme support"], 200),
        ("owner", ["Acme support"], 200),
        ("operator", ["Acme support", "Someone else's"], 200),
    ],
)
def test_knowledge_base_access(setup, role, listed, detail_status, django_assert_max_num_queries):
    client = setup.client(role)

    with django_assert_max_num_queries(4):
        listing = client.get(BASES)
    detail = client.get(f"{BASES}{setup.knowledge_base.uuid}/")

    if listed is None:
        assert listing.status_code == 401
    else:
        assert listing.status_code == 200
        assert [item["name"] for item in listing.json()["results"]] == listed
    assert detail.status_code == detail_status
    if detail_status == 200:
        assert detail.json() == {
            "uuid": str(setup.knowledge_base.uuid),
            "name": "Acme support",
            "organization_uuid": str(setup.knowledge_base.organization.uuid),
            "backend": "builtin",
            "chunk_token_count": 64,
            "chunk_overlap_tokens": 8,
            "document_count": 0,
            "indexed_document_count": 0,
            "archived_at": None,
            "created_at": detail.json()["created_at"],
        }


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("outsider", 404), ("member", 403), ("owner", 201), ("operator", 201)],
)
def test_upload_access(setup, role, status, django_capture_on_commit_callbacks):
    client = setup.client(role)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            DOCUMENTS,
            {
                "knowledge_base_uuid": str(setup.knowledge_base.uuid),
                "file": SimpleUploadedFile("a.txt", b"Hello."),
            },
            format="multipart",
        )

    assert response.status_code == status
    assert setup.knowledge_base.documents.count() == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    ("role", "list_count", "detail", "delete", "retry"),
    [
        ("anonymous", None, 401, 401, 401),
        ("outsider", 0, 404, 404, 404),
        ("member", 1, 200, 403, 403),
        ("owner", 1, 200, 204, 200),
        ("operator", 1, 200, 204, 200),
    ],
)
def test_document_access(setup, role, list_count, detail, delete, retry, django_capture_on_commit_callbacks):
    failed = KnowledgeDocumentFactory(knowledge_base=setup.knowledge_base, status="failed", error_message="x")
    client = setup.client(role)

    listing = client.get(DOCUMENTS, {"knowledge_base_uuid": str(setup.knowledge_base.uuid)})
    retrieved = client.get(f"{DOCUMENTS}{failed.uuid}/")
    with django_capture_on_commit_callbacks(execute=False):
        retried = client.post(f"{DOCUMENTS}{failed.uuid}/retry/")
    failed.refresh_from_db()
    status_after_retry = failed.status
    removed = client.delete(f"{DOCUMENTS}{failed.uuid}/")

    assert listing.status_code == (401 if list_count is None else 200)
    if list_count is not None:
        assert listing.json()["count"] == list_count
    assert (retrieved.status_code, retried.status_code, removed.status_code) == (detail, retry, delete)
    assert status_after_retry == ("pending" if retry == 200 else "failed")
    assert KnowledgeDocument.objects.filter(pk=failed.pk).exists() is (delete != 204)


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 401), ("outsider", 404), ("member", 200), ("owner", 200)]
)
def test_search_access(setup, role, status):
    response = setup.client(role).post(
        f"{BASES}{setup.knowledge_base.uuid}/search/", {"query": "hello"}, format="json"
    )

    assert response.status_code == status


def test_upload_pdf_then_search_finds_it(setup, django_capture_on_commit_callbacks):
    client = setup.client("owner")
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            DOCUMENTS,
            {
                "knowledge_base_uuid": str(setup.knowledge_base.uuid),
                "file": SimpleUploadedFile("returns.pdf", make_pdf(["Returns are free within 30 days."])),
            },
            format="multipart",
        )

    assert (created.status_code, created.json()["status"]) == (201, "pending")  # processed after commit
    body = client.get(f"{DOCUMENTS}{created.json()['uuid']}/").json()
    assert {
        key: body[key] for key in ("name", "source", "mime_type", "status", "progress", "chunk_count")
    } == {
        "name": "returns.pdf",
        "source": "file",
        "mime_type": "application/pdf",
        "status": "indexed",
        "progress": 1.0,
        "chunk_count": 1,
    }
    found = client.post(
        f"{BASES}{setup.knowledge_base.uuid}/search/", {"query": "free returns", "top_k": 3}, format="json"
    )
    assert found.status_code == 200
    (result,) = found.json()["results"]
    assert (result["text"], result["document_uuid"], result["document_name"]) == (
        "Returns are free within 30 days.",
        body["uuid"],
        "returns.pdf",
    )


def test_the_same_upload_twice_returns_the_existing_document_with_200(
    setup, django_capture_on_commit_callbacks
):
    client = setup.client("owner")
    payload = {"knowledge_base_uuid": str(setup.knowledge_base.uuid)}

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(
            DOCUMENTS, {**payload, "file": SimpleUploadedFile("a.txt", b"Same.")}, format="multipart"
        )
        second = client.post(
            DOCUMENTS, {**payload, "file": SimpleUploadedFile("b.txt", b"Same.")}, format="multipart"
        )

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["uuid"] == first.json()["uuid"]
    assert second.json()["name"] == "a.txt"
    assert setup.knowledge_base.documents.count() == 1


def test_qa_pairs_and_url_by_json(setup, settings, django_capture_on_commit_callbacks):
    client = setup.client("owner")
    with django_capture_on_commit_callbacks(execute=False):
        qa = client.post(
            DOCUMENTS,
            {
                "knowledge_base_uuid": str(setup.knowledge_base.uuid),
                "qa_pairs": [{"question": "Parking?", "answer": "Free in the yard."}],
                "name": "Visitor FAQ",
            },
            format="json",
        )
        page = client.post(
            DOCUMENTS,
            {"knowledge_base_uuid": str(setup.knowledge_base.uuid), "url": "https://www.example.com/help"},
            format="json",
        )

    assert (qa.status_code, qa.json()["name"], qa.json()["source"], qa.json()["status"]) == (
        201,
        "Visitor FAQ",
        "qa",
        "pending",
    )
    assert (page.status_code, page.json()["url"], page.json()["source"]) == (
        201,
        "https://www.example.com/help",
        "url",
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "knowledge_base_uuid"),
        ({"url": "https://example.com", "colour": "red"}, "colour"),
        ({"url": "https://example.com", "qa_pairs": [{"question": "q", "answer": "a"}]}, "non_field_errors"),
        ({"qa_pairs": []}, "qa_pairs"),
        ({"qa_pairs": [{"question": "q", "answer": "a", "extra": 1}]}, "qa_pairs"),
        ({"qa_pairs": [{"question": "q"}]}, "qa_pairs"),
        ({"url": "ftp://example.com/file"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ({"url": "http://localhost:8000/admin/"}, "url"),
        ({"url": "http://10.0.0.1/"}, "url"),
    ],
)
def test_bad_json_input_is_a_400_envelope_and_changes_nothing(setup, payload, field):
    body = {"knowledge_base_uuid": str(setup.knowledge_base.uuid), **payload} if payload else payload

    response = setup.client("owner").post(DOCUMENTS, body, format="json")

    status, _code, errors = _error(response)
    assert (response.status_code, status) == (400, 400)
    assert field in errors, errors
    assert KnowledgeDocument.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("invoice.pdf", EXE_BYTES, "unsupported_type"),
        ("notes.pdf", b"plain text pretending", "type_mismatch"),
        ("empty.txt", b"", "document_empty"),
    ],
)
def test_bad_files_are_a_400_envelope_and_change_nothing(setup, name, data, code):
    response = setup.client("owner").post(
        DOCUMENTS,
        {"knowledge_base_uuid": str(setup.knowledge_base.uuid), "file": SimpleUploadedFile(name, data)},
        format="multipart",
    )

    _status, error_code, errors = _error(response)
    assert (response.status_code, error_code, list(errors)) == (400, code, ["file"])
    assert KnowledgeDocument.objects.count() == 0


def test_a_file_over_the_limit_is_a_400(setup, settings):
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 1024

    response = setup.client("owner").post(
        DOCUMENTS,
        {
            "knowledge_base_uuid": str(setup.knowledge_base.uuid),
            "file": SimpleUploadedFile("big.txt", b"a" * 1025),
        },
        format="multipart",
    )

    assert _error(response) == (
        400,
        "document_too_large",
        {"file": ["The file is 1025 bytes; the limit is 1024 bytes."]},
    )
    assert KnowledgeDocument.objects.count() == 0


def test_uploading_into_another_organisations_knowledge_base_is_a_404(setup):
    response = setup.client("owner").post(
        DOCUMENTS,
        {"knowledge_base_uuid": str(setup.other.uuid), "file": SimpleUploadedFile("a.txt", b"x")},
        format="multipart",
    )

    assert _error(response) == (
        404,
        "not_found",
        {"knowledge_base_uuid": ["No knowledge base with this id."]},
    )
    assert KnowledgeDocument.objects.count() == 0


def test_retry_of_an_indexed_document_is_a_409(setup):
    document = KnowledgeDocumentFactory(knowledge_base=setup.knowledge_base, status="indexed", progress=1)

    response = setup.client("owner").post(f"{DOCUMENTS}{document.uuid}/retry/")

    assert _error(response)[:2] == (409, "invalid_transition")
    document.refresh_from_db()
    assert document.status == "indexed"


def test_delete_removes_chunks(setup, django_capture_on_commit_callbacks):
    client = setup.client("owner")
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            DOCUMENTS,
            {
                "knowledge_base_uuid": str(setup.knowledge_base.uuid),
                "file": SimpleUploadedFile("a.txt", b"Words here."),
            },
            format="multipart",
        )
    assert Chunk.objects.filter(knowledge_base=setup.knowledge_base).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{DOCUMENTS}{created.json()['uuid']}/")

    assert response.status_code == 204
    assert Chunk.objects.filter(knowledge_base=setup.knowledge_base).count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "query"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "top_k": 21}, "top_k"),
        ({"query": "x", "k": 1}, "k"),
    ],
)
def test_bad_search_input_is_a_400(setup, payload, field):
    response = setup.client("member").post(
        f"{BASES}{setup.knowledge_base.uuid}/search/", payload, format="json"
    )

    assert response.status_code == 400
    assert field in _error(response)[2]


def test_document_list_filters_by_knowledge_base_and_pins_queries(setup, django_assert_max_num_queries):
    second = KnowledgeBaseFactory(organization=setup.knowledge_base.organization)
    for _ in range(3):
        KnowledgeDocumentFactory(knowledge_base=setup.knowledge_base)
    KnowledgeDocumentFactory(knowledge_base=second)
    client = setup.client("member")

    with django_assert_max_num_queries(4):
        filtered = client.get(DOCUMENTS, {"knowledge_base_uuid": str(setup.knowledge_base.uuid)})
    everything = client.get(DOCUMENTS)
    bad_filter = client.get(DOCUMENTS, {"knowledge_base_uuid": "not-a-uuid"})

    assert filtered.json()["count"] == 3
    assert {item["knowledge_base_uuid"] for item in filtered.json()["results"]} == {
        str(setup.knowledge_base.uuid)
    }
    assert everything.json()["count"] == 4
    assert bad_filter.status_code == 400
