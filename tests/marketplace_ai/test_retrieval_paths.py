"""Built-in retrieval's two paths: one exact query when few chunks match, bounded steps when many do.

Both must give what the ranking defines: the chunks matching any of the question's words, ranked by
`ts_rank_cd` (cover density) against the OR of the words, best first, ties by id. The reference below
computes that with the ORM over every chunk of the knowledge base.
"""

import pytest
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F

from marketplace_ai.models import Chunk
from marketplace_ai.retrieval import builtin, retrieve
from marketplace_ai.services import document_add_qa
from tests.marketplace_ai.factories import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db

SHOP_FAQ = [
    ("When are you open?", "Monday to Friday from nine to five, and on Saturdays from ten to two."),
    (
        "Are you open on public holidays?",
        "We are closed on public holidays, except the Saturday before Easter.",
    ),
    (
        "Do you ship abroad?",
        "We ship to every country in the European Union; delivery takes three to five days.",
    ),
    ("How much is delivery?", "Delivery is free above 50 euros; below that, delivery costs 4 euros."),
    (
        "How do I return an item?",
        "Returns are free within 30 days: print the return label from your account.",
    ),
    ("Can I return a sale item?", "Sale items can be returned within 14 days, for a voucher."),
    ("Can I pay by invoice?", "Business customers can pay by invoice within 14 days after delivery."),
    ("Where is my order?", "Your order page shows the tracking link as soon as the parcel has left."),
    ("Can I change my order?", "You can change an order until it has left our warehouse."),
    ("Do you have a shop?", "Our shop is at Market Street 12, next to the station, with free parking."),
]
WARRANTY_FAQ = [
    ("How long is the warranty?", "Every device has a two-year warranty covering manufacturing defects."),
    ("Does the warranty cover a broken screen?", "A broken screen is covered only when it is a defect."),
    (
        "How do I claim the warranty?",
        "Send the device with the invoice; we repair or replace it within 14 days.",
    ),
]
QUESTIONS = [
    "When are you open on Saturdays?",
    "How many days do I have to return an item?",
    "Can I pay by invoice after delivery?",
    "Is delivery free?",
    "Does the warranty cover a broken screen or a sale item?",
    "Where is the shop, and is there parking?",
    "order change warehouse invoice days",
]


@pytest.fixture
def knowledge_base(user, django_capture_on_commit_callbacks):
    knowledge_base = KnowledgeBaseFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for name, faq in (("Shop FAQ", SHOP_FAQ), ("Warranty FAQ", WARRANTY_FAQ)):
            document_add_qa(
                knowledge_base=knowledge_base,
                qa_pairs=[{"question": question, "answer": answer} for question, answer in faq],
                actor=user,
                name=name,
            )
    return knowledge_base


def reference(knowledge_base, question: str, top_k: int) -> list[tuple[str, float, str]]:
    """(text, score, document name) of the best `top_k` of every chunk matching any word of the question."""
    any_term = SearchQuery(" | ".join(builtin.question_terms(question)), search_type="raw", config="english")
    return [
        (text, rank, name)
        for text, rank, name in Chunk.objects.filter(knowledge_base=knowledge_base, search_vector=any_term)
        .annotate(rank=SearchRank(F("search_vector"), any_term, cover_density=True))
        .order_by("-rank", "id")
        .values_list("text", "rank", "document__name")[:top_k]
    ]


def found(results) -> list[tuple[str, float, str]]:
    return [(result.text, result.score, result.document_name) for result in results]


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("top_k", [4, 20])
def test_the_exact_query_and_the_bounded_steps_find_the_same_passages(
    knowledge_base, monkeypatch, question, top_k
):
    exact = retrieve(knowledge_base=knowledge_base, query=question, top_k=top_k)
    monkeypatch.setattr(builtin, "EXACT_LIMIT", 0)  # every question takes the bounded steps
    stepped = retrieve(knowledge_base=knowledge_base, query=question, top_k=top_k)

    assert exact
    assert found(exact) == found(stepped) == reference(knowledge_base, question, top_k)
    assert exact == stepped


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_the_exact_query_ranks_every_matching_chunk(knowledge_base, question, top_k):
    results = retrieve(knowledge_base=knowledge_base, query=question, top_k=top_k)

    assert found(results) == reference(knowledge_base, question, top_k)


def test_a_question_matching_few_chunks_costs_one_query(knowledge_base, django_assert_num_queries):
    with django_assert_num_queries(1):
        results = retrieve(knowledge_base=knowledge_base, query="warranty for a broken screen", top_k=2)

    documents = {document.name: document.uuid for document in knowledge_base.documents.all()}
    assert [(result.text.splitlines()[0], result.document_name) for result in results] == [
        ("Question: Does the warranty cover a broken screen?", "Warranty FAQ"),
        ("Question: How long is the warranty?", "Warranty FAQ"),
    ]
    assert {result.document_uuid for result in results} == {documents["Warranty FAQ"]}


def test_passages_carry_their_own_document(knowledge_base):
    documents = {document.name: document.uuid for document in knowledge_base.documents.all()}

    results = retrieve(knowledge_base=knowledge_base, query="invoice", top_k=5)

    assert sorted((result.document_name, result.document_uuid) for result in results) == [
        ("Shop FAQ", documents["Shop FAQ"]),
        ("Warranty FAQ", documents["Warranty FAQ"]),
    ]


def test_more_matches_than_the_exact_limit_take_the_bounded_steps(
    knowledge_base, monkeypatch, django_assert_num_queries
):
    question = "Can I pay by invoice after delivery?"
    matching = len(reference(knowledge_base, question, 100))
    monkeypatch.setattr(builtin, "EXACT_LIMIT", matching)
    with django_assert_num_queries(1):
        at_the_limit = retrieve(knowledge_base=knowledge_base, query=question, top_k=4)

    monkeypatch.setattr(builtin, "EXACT_LIMIT", matching - 1)
    with django_assert_num_queries(4):  # the capped count, all words, selective words, any word
        over_the_limit = retrieve(knowledge_base=knowledge_base, query=question, top_k=4)

    assert found(at_the_limit) == found(over_the_limit) == reference(knowledge_base, question, 4)
