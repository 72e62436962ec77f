"""Built-in retrieval: PostgreSQL full-text search over one knowledge base's chunks."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace_ai.retrieval import RetrievedChunk, builtin, retrieve
from marketplace_ai.services import document_add_qa, document_upload_file
from tests.marketplace_ai.factories import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db

POLICIES = b"""Returns: you may return any item within 30 days of delivery for a full refund.

Shipping: parcels leave our warehouse within two working days; delivery takes three to five days.

Payment: we accept cards and bank transfers. Invoices are sent by email.

Warranty: every device has a two-year warranty covering manufacturing defects."""


@pytest.fixture(autouse=True, params=["exact", "stepped"])
def retrieval_path(request, monkeypatch):
    """Every test runs on both paths: one exact query, and the bounded steps (as if many chunks matched)."""
    if request.param == "stepped":
        monkeypatch.setattr(builtin, "EXACT_LIMIT", 0)
    return request.param


@pytest.fixture
def knowledge_base(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory(chunk_token_count=24, chunk_overlap_tokens=0)
    with django_capture_on_commit_callbacks(execute=True):
        document_upload_file(
            knowledge_base=knowledge_base,
            uploaded_file=SimpleUploadedFile("policies.txt", POLICIES),
            actor=user,
        )
    return knowledge_base


def test_the_passage_that_answers_ranks_first(knowledge_base):
    document = knowledge_base.documents.get()

    results = retrieve(
        knowledge_base=knowledge_base, query="How many days do I have to return an item?", top_k=2
    )

    assert [result.text for result in results] == [
        "Returns: you may return any item within 30 days of delivery for a full refund.",
        "Shipping: parcels leave our warehouse within two working days; delivery takes three to five days.",
    ]
    assert all(isinstance(result, RetrievedChunk) for result in results)
    assert {(result.document_uuid, result.document_name) for result in results} == {
        (document.uuid, "policies.txt")
    }
    assert results[0].score > results[1].score > 0


def test_partial_matches_rank_and_stemming_applies(knowledge_base):
    results = retrieve(
        knowledge_base=knowledge_base, query="warranties for defective devices and bicycles", top_k=5
    )

    assert [result.text[:9] for result in results] == ["Warranty:"]


def test_questions_and_answers_are_found(user, knowledge_base, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        document_add_qa(
            knowledge_base=knowledge_base,
            qa_pairs=[{"question": "Do you have a shop in Berlin?", "answer": "Yes, on Torstrasse 1."}],
            actor=user,
        )

    results = retrieve(knowledge_base=knowledge_base, query="berlin shop", top_k=1)

    assert [result.text for result in results] == [
        "Question: Do you have a shop in Berlin?\nAnswer: Yes, on Torstrasse 1."
    ]


def test_other_knowledge_bases_are_never_searched(knowledge_base):
    other = KnowledgeBaseFactory()

    assert retrieve(knowledge_base=other, query="return item refund", top_k=5) == []


@pytest.mark.parametrize("query", ["", "   ", "!!! ???", "the and of"])
def test_queries_without_searchable_words_find_nothing(knowledge_base, query):
    assert retrieve(knowledge_base=knowledge_base, query=query, top_k=5) == []


def test_tsquery_syntax_in_the_question_is_harmless(knowledge_base):
    results = retrieve(knowledge_base=knowledge_base, query="refund' & !( | :* <-> invoices", top_k=5)

    assert sorted(result.text[:8] for result in results) == ["Payment:", "Returns:"]


def test_top_k_limits_the_results(knowledge_base):
    assert len(retrieve(knowledge_base=knowledge_base, query="days delivery warranty payment", top_k=1)) == 1
