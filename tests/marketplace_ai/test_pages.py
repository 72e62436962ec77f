"""The knowledge page: access per role, live progress polling, forms, delete, retry, retrieval test."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketplace_ai.models import KnowledgeDocument
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.marketplace_ai.factories import KnowledgeBaseFactory, KnowledgeDocumentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(operator):
    organization = OrganizationFactory(name="Acme")
    knowledge_base = KnowledgeBaseFactory(organization=organization, name="Acme support")
    users = {"operator": operator}
    for role in ("member", "owner"):
        users[role] = UserFactory(email=f"{role}@example.com")
        MembershipFactory(organization=organization, user=users[role], role=role)
    users["outsider"] = UserFactory(email="outsider@example.com")
    MembershipFactory(organization=OrganizationFactory(), user=users["outsider"], role="owner")
    return organization, knowledge_base, users


def _url(name, organization, knowledge_base, **extra):
    return reverse(
        f"marketplace_ai:{name}",
        kwargs={"organization_uuid": organization.uuid, "knowledge_base_uuid": knowledge_base.uuid, **extra},
    )


def _client(client, users, role):
    if role != "anonymous":
        client.force_login(users[role])
    return client


@pytest.mark.parametrize(
    ("role", "status", "forms"),
    [
        ("anonymous", 302, False),
        ("outsider", 404, False),
        ("member", 200, False),
        ("owner", 200, True),
        ("operator", 200, True),
    ],
)
def test_page_access(client, setup, role, status, forms):
    organization, knowledge_base, users = setup
    KnowledgeDocumentFactory(knowledge_base=knowledge_base, name="returns.pdf", status="indexed", progress=1)

    response = _client(client, users, role).get(_url("knowledge-base", organization, knowledge_base))

    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert "returns.pdf" in html
        assert ("Upload a file" in html) is forms
        assert ("Only the organisation's owners and managers" in html) is not forms
        assert "cmp/vendor/htmx.min.js" in html


def test_a_knowledge_base_under_another_organisation_url_is_a_404(client, setup):
    organization, _, users = setup
    foreign = KnowledgeBaseFactory()

    response = _client(client, users, "owner").get(_url("knowledge-base", organization, foreign))

    assert response.status_code == 404


def test_the_list_polls_only_while_documents_are_in_progress(client, setup):
    organization, knowledge_base, users = setup
    document = KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="processing", progress=0.4)
    client = _client(client, users, "member")
    partial = _url("knowledge-base-documents", organization, knowledge_base)

    busy = client.get(partial, HTTP_HX_REQUEST="true").content.decode()
    KnowledgeDocument.objects.filter(pk=document.pk).update(status="indexed", progress=1)
    done = client.get(partial, HTTP_HX_REQUEST="true").content.decode()

    assert 'hx-trigger="every 2s"' in busy
    assert 'value="40"' in busy
    assert "<html" not in busy
    assert "hx-trigger" not in done


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("outsider", 404), ("member", 403), ("owner", 302)]
)
def test_upload_access_and_message(client, setup, role, status, django_capture_on_commit_callbacks):
    organization, knowledge_base, users = setup

    with django_capture_on_commit_callbacks(execute=True):
        response = _client(client, users, role).post(
            _url("knowledge-document-upload", organization, knowledge_base),
            {"file": SimpleUploadedFile("hours.txt", b"We open at nine.")},
        )

    assert response.status_code == status
    assert knowledge_base.documents.count() == (1 if role == "owner" else 0)
    if role == "owner":
        assert response["Location"] == _url("knowledge-base", organization, knowledge_base)
        page = client.get(response["Location"]).content.decode()
        assert "“hours.txt” was added and is being processed." in page


def test_a_lying_file_shows_the_reason_and_changes_nothing(client, setup):
    organization, knowledge_base, users = setup

    response = _client(client, users, "owner").post(
        _url("knowledge-document-upload", organization, knowledge_base),
        {"file": SimpleUploadedFile("invoice.pdf", b"MZ\x90\x00" + b"\x00" * 60)},
    )

    assert response.status_code == 400
    assert (
        "This file is not a PDF, Word (.docx), plain text, Markdown or HTML document."
        in response.content.decode()
    )
    assert knowledge_base.documents.count() == 0


def test_qa_form_url_form_and_duplicate_message(client, setup, django_capture_on_commit_callbacks):
    organization, knowledge_base, users = setup
    client = _client(client, users, "owner")
    qa = {"pairs": "Q: Parking?\nA: Free in the yard.\n\nQ: Dogs?\nA: Welcome.", "name": ""}

    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("knowledge-document-qa", organization, knowledge_base), qa)
        again = client.post(_url("knowledge-document-qa", organization, knowledge_base), qa, follow=True)
    refused = client.post(
        _url("knowledge-document-url", organization, knowledge_base), {"url": "http://127.0.0.1/admin"}
    )

    document = knowledge_base.documents.get()
    assert (document.name, document.status, document.chunk_count) == ("Q&A: Parking? (+1 more)", "indexed", 2)
    assert "it was not added again" in again.content.decode()
    assert refused.status_code == 400
    assert "Private, local and reserved network addresses cannot be added." in refused.content.decode()
    assert knowledge_base.documents.count() == 1


def test_delete_and_retry_return_to_next_when_it_is_ours(client, setup, django_capture_on_commit_callbacks):
    organization, knowledge_base, users = setup
    failed = KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="failed", error_message="x")
    other = KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="indexed", progress=1)
    client = _client(client, users, "owner")

    with django_capture_on_commit_callbacks(execute=False):
        retried = client.post(
            _url("knowledge-document-retry", organization, knowledge_base, document_uuid=failed.uuid),
            {"next": "/organizations/x/agents/y/training/"},
        )
    deleted = client.post(
        _url("knowledge-document-delete", organization, knowledge_base, document_uuid=other.uuid),
        {"next": "https://evil.example/"},
    )

    failed.refresh_from_db()
    assert (retried.status_code, retried["Location"]) == (302, "/organizations/x/agents/y/training/")
    assert failed.status == "pending"
    assert (deleted.status_code, deleted["Location"]) == (
        302,
        _url("knowledge-base", organization, knowledge_base),
    )
    assert not KnowledgeDocument.objects.filter(pk=other.pk).exists()


def test_member_cannot_delete(client, setup):
    organization, knowledge_base, users = setup
    document = KnowledgeDocumentFactory(knowledge_base=knowledge_base)

    response = _client(client, users, "member").post(
        _url("knowledge-document-delete", organization, knowledge_base, document_uuid=document.uuid)
    )

    assert response.status_code == 403
    assert KnowledgeDocument.objects.filter(pk=document.pk).exists()


def test_retrieval_box_shows_the_passages(client, setup, django_capture_on_commit_callbacks):
    organization, knowledge_base, users = setup
    owner = _client(client, users, "owner")
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(
            _url("knowledge-document-upload", organization, knowledge_base),
            {"file": SimpleUploadedFile("hours.txt", b"We open at nine and close at five.")},
        )

    partial = owner.get(
        _url("knowledge-base-search", organization, knowledge_base),
        {"query": "when do you open"},
        HTTP_HX_REQUEST="true",
    )
    full = owner.get(_url("knowledge-base-search", organization, knowledge_base), {"query": "bicycles"})

    assert "We open at nine and close at five." in partial.content.decode()
    assert "<html" not in partial.content.decode()
    assert "Nothing in this knowledge base matches that question." in full.content.decode()
    assert "<html" in full.content.decode()
