"""Django admin for knowledge: operators only, changelists without N+1, counts in the list query, read-only
pages, and "Re-index" sends a failed document through the real pipeline again."""

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketplace_ai.models import Chunk, KnowledgeBase, KnowledgeDocument
from marketplace_ai.services import document_upload_file
from marketplace_ai.services.ingestion import document_mark_failed
from tests.admin_helpers import action_messages, change_url, changelist_url, run_admin_action
from tests.marketplace.factories import UserFactory
from tests.marketplace_ai.factories import KnowledgeBaseFactory, KnowledgeDocumentFactory
from tests.site_agent.factories import ConfigFactory

pytestmark = pytest.mark.django_db

ROWS = 20
MAX_CHANGELIST_QUERIES = 10  # measured 8 (session, user, counts, rows, dates), whether 1 row or 20
REFUNDS = b"Refunds are accepted within thirty days of delivery. Keep the receipt for the refund."


def test_both_models_are_registered_and_chunks_are_not():
    registry = set(admin.site._registry)

    assert {KnowledgeBase, KnowledgeDocument} <= registry
    assert Chunk not in registry


@pytest.mark.parametrize("model", [KnowledgeBase, KnowledgeDocument], ids=lambda model: model.__name__)
def test_a_non_staff_user_is_sent_to_the_login_page(client, model):
    client.force_login(UserFactory())

    response = client.get(changelist_url(model))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={changelist_url(model)}"


def _knowledge_bases():
    for config in ConfigFactory.create_batch(ROWS // 2):  # half belong to a buyer config, half do not
        config.knowledge_base = KnowledgeBaseFactory(organization=config.organization)
        config.save(update_fields=["knowledge_base"])
        KnowledgeDocumentFactory(knowledge_base=config.knowledge_base, chunk_count=4)
    KnowledgeBaseFactory.create_batch(ROWS // 2)


def _documents():
    KnowledgeDocumentFactory.create_batch(ROWS, status="failed", error_message="The PDF is encrypted.")


@pytest.mark.parametrize(
    ("model", "make_rows"),
    [(KnowledgeBase, _knowledge_bases), (KnowledgeDocument, _documents)],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_changelist_with_20_rows_runs_a_fixed_number_of_queries(
    operator_client, model, make_rows, django_assert_max_num_queries
):
    make_rows()

    with django_assert_max_num_queries(MAX_CHANGELIST_QUERIES):
        response = operator_client.get(changelist_url(model))

    assert response.status_code == 200
    assert response.context["cl"].result_count == ROWS


def test_the_knowledge_base_list_counts_documents_failures_and_chunks(operator_client):
    config = ConfigFactory(agent_name="Helpdesk")
    knowledge_base = KnowledgeBaseFactory(organization=config.organization, name="Help centre")
    config.knowledge_base = knowledge_base
    config.save(update_fields=["knowledge_base"])
    KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="indexed", chunk_count=5)
    KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="indexed", chunk_count=7)
    KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="failed")
    empty = KnowledgeBaseFactory(name="Empty")

    response = operator_client.get(changelist_url(KnowledgeBase))

    rows = {row.name: row for row in response.context["cl"].result_list}
    assert (rows["Help centre"].document_count, rows["Help centre"].failed_count) == (3, 1)
    assert rows["Help centre"].chunk_total == 12
    assert (rows["Empty"].document_count, rows["Empty"].chunk_total) == (0, None)
    page = response.content.decode()
    assert reverse("admin:site_agent_customeragentconfig_change", args=[config.pk]) in page
    assert empty.organization.name in page


def test_documents_filter_by_status_and_show_their_error(operator_client):
    failed = KnowledgeDocumentFactory(status="failed", error_message="The PDF is encrypted.")
    KnowledgeDocumentFactory(status="indexed")

    response = operator_client.get(changelist_url(KnowledgeDocument), {"status__exact": "failed"})

    assert list(response.context["cl"].result_list) == [failed]
    assert "The PDF is encrypted." in response.content.decode()


def test_every_change_page_renders_read_only(operator_client):
    document = KnowledgeDocumentFactory(
        status="failed", error_message="The PDF is encrypted.", size_bytes=2048
    )

    for obj in (document.knowledge_base, document):
        response = operator_client.get(change_url(obj))
        assert response.status_code == 200, obj
        assert response.context["adminform"].form.fields == {}  # nothing to edit

    page = operator_client.get(change_url(document)).content.decode()
    assert "2.0\xa0KB" in page
    assert "The PDF is encrypted." in page
    assert operator_client.post(change_url(document), {"name": "renamed"}).status_code == 403


def test_reindex_sends_a_failed_document_through_the_pipeline_again(
    operator_client, operator, django_capture_on_commit_callbacks
):
    knowledge_base = KnowledgeBaseFactory()
    with django_capture_on_commit_callbacks(execute=False):  # uploaded, then failed before it was indexed
        document, _created = document_upload_file(
            knowledge_base=knowledge_base,
            uploaded_file=SimpleUploadedFile("refunds.txt", REFUNDS),
            actor=operator,
        )
    document_mark_failed(document_id=document.pk, message="The worker was restarted.")
    indexed = KnowledgeDocumentFactory(knowledge_base=knowledge_base, status="indexed", chunk_count=3)

    with django_capture_on_commit_callbacks(execute=True):
        response = run_admin_action(operator_client, KnowledgeDocument, "reindex_failed", [document, indexed])

    document.refresh_from_db()
    assert (document.status, document.error_message) == ("indexed", "")
    assert document.chunk_count == Chunk.objects.filter(document=document).count() > 0
    indexed.refresh_from_db()
    assert (indexed.status, indexed.chunk_count) == ("indexed", 3)
    assert sorted(action_messages(response)) == [
        ("success", f"Queued for indexing: “{document}”."),
        ("warning", f"Skipped “{indexed}”: it is indexed; only failed documents are re-indexed."),
    ]


def test_a_knowledge_base_page_links_to_its_own_documents(operator_client):
    document = KnowledgeDocumentFactory()
    KnowledgeDocumentFactory()
    link = f"{changelist_url(KnowledgeDocument)}?knowledge_base__id__exact={document.knowledge_base_id}"

    page = operator_client.get(change_url(document.knowledge_base)).content.decode()
    documents = operator_client.get(link)

    assert link in page
    assert list(documents.context["cl"].result_list) == [document]
