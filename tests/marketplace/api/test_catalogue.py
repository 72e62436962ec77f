"""The public catalogue API: categories, search, filters, sorting, the offering page, query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.marketplace.api.conftest import assert_error
from tests.marketplace.factories import OfferingFactory, PlanFactory, ServiceProviderFactory, category

pytestmark = pytest.mark.django_db

CATALOGUE = "/api/marketplace-public-offerings/"


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["results"]]


@pytest.fixture
def catalogue(db):
    """Three live offerings plus a draft and a paused one that must never show."""
    now = timezone.now()
    helpdesk = OfferingFactory(
        name="Helpdesk Support Bot",
        slug="helpdesk",
        category=category("agents"),
        capabilities=["chat", "api"],
        summary="Answers tickets around the clock.",
        tags=["helpdesk"],
        published_at=now - timedelta(days=3),
        rating_average=Decimal("4.50"),
        rating_count=10,
    )
    PlanFactory(offering=helpdesk, name="Free", price_minor=0)
    invoices = OfferingFactory(
        name="Invoice Automator",
        slug="invoices",
        category=category("automations"),
        capabilities=["api", "scheduling"],
        summary="Chases unpaid invoices.",
        tags=["finance"],
        published_at=now - timedelta(days=1),
        rating_average=Decimal("3.00"),
        rating_count=2,
    )
    PlanFactory(offering=invoices, name="Pro", price_minor=9900)
    sales = OfferingFactory(
        name="Sales Assistant",
        slug="sales",
        category=category("assistants"),
        capabilities=["chat", "knowledge_base"],
        summary="Gives support to sales teams.",
        tags=["crm"],
        published_at=now - timedelta(days=2),
        rating_average=Decimal("5.00"),
        rating_count=4,
    )
    PlanFactory(offering=sales, name="Starter", price_minor=2900)
    PlanFactory(offering=sales, name="Old", price_minor=100, is_archived=True)
    OfferingFactory(name="Support Draft", slug="draft", state="draft")
    OfferingFactory(name="Support Paused", slug="paused", state="paused")
    return {"helpdesk": helpdesk, "invoices": invoices, "sales": sales}


def test_categories_list_counts_active_offerings_in_one_query(catalogue, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = APIClient().get("/api/marketplace-categories/")

    assert response.status_code == 200
    counts = {item["slug"]: item["active_offering_count"] for item in response.json()}
    assert counts == {"agents": 1, "apps": 0, "assistants": 1, "automations": 1}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("support", ["Helpdesk Support Bot", "Sales Assistant"]),  # name (weight A) before summary (B)
        ("supp", ["Helpdesk Support Bot", "Sales Assistant"]),  # prefix matching
        ("autom", ["Invoice Automator"]),
        ("sales ass", ["Sales Assistant"]),  # every word must match
        ("crm", ["Sales Assistant"]),  # tags are searched
        ("support finance", []),
        ("nothing-like-this", []),
    ],
)
def test_keyword_search(catalogue, query, expected):
    assert names(APIClient().get(CATALOGUE, {"search": query})) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "automations"}, ["Invoice Automator"]),
        ({"category": "apps"}, []),
        ({"capability": "chat"}, ["Helpdesk Support Bot", "Sales Assistant"]),
        ({"capability": "scheduling"}, ["Invoice Automator"]),
        ({"price_min": 1000, "price_max": 5000}, ["Sales Assistant"]),  # archived 1.00 plan does not count
        ({"price_max": 0}, ["Helpdesk Support Bot"]),
        ({"price_min": 2900}, ["Invoice Automator", "Sales Assistant"]),
        ({"search": "support", "capability": "knowledge_base"}, ["Sales Assistant"]),
    ],
)
def test_filters(catalogue, params, expected):
    assert names(APIClient().get(CATALOGUE, {**params, "sort": "name"})) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (
            "relevance",
            ["Helpdesk Support Bot", "Sales Assistant", "Invoice Automator"],
        ),  # most reviewed first
        ("newest", ["Invoice Automator", "Sales Assistant", "Helpdesk Support Bot"]),
        ("rating", ["Sales Assistant", "Helpdesk Support Bot", "Invoice Automator"]),
        ("price", ["Helpdesk Support Bot", "Sales Assistant", "Invoice Automator"]),
        ("price_desc", ["Invoice Automator", "Sales Assistant", "Helpdesk Support Bot"]),
        ("name", ["Helpdesk Support Bot", "Invoice Automator", "Sales Assistant"]),
    ],
)
def test_sort_orders(catalogue, sort, expected):
    assert names(APIClient().get(CATALOGUE, {"sort": sort})) == expected


def test_list_item_shape(catalogue):
    response = APIClient().get(CATALOGUE, {"search": "autom"})

    offering = catalogue["invoices"]
    assert response.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "uuid": str(offering.uuid),
                "name": "Invoice Automator",
                "slug": "invoices",
                "summary": "Chases unpaid invoices.",
                "category": {
                    "uuid": str(offering.category.uuid),
                    "slug": "automations",
                    "name": "Automations",
                },
                "provider": {
                    "uuid": str(offering.provider.uuid),
                    "name": offering.provider.organization.name,
                },
                "capabilities": ["api", "scheduling"],
                "tags": ["finance"],
                "logo": None,
                "price_from_minor": 9900,
                "currency": "USD",
                "rating_average": "3.00",
                "rating_count": 2,
                "published_at": offering.published_at.isoformat().replace("+00:00", "Z"),
            }
        ],
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"price_min": "abc"}, "price_min"),
        ({"price_max": "-1"}, "price_max"),
        ({"price_min": "500", "price_max": "100"}, "price_max"),
        ({"sort": "cheapest"}, "sort"),
        ({"capability": "teleport"}, "capability"),
        ({"category": "no-such-shelf"}, "category"),
    ],
)
def test_bad_search_parameters_are_400(catalogue, params, field):
    body = assert_error(APIClient().get(CATALOGUE, params), 400, "invalid")
    assert list(body["errors"]) == [field]


def test_pagination_caps_page_size_at_100(db):
    provider = ServiceProviderFactory()
    OfferingFactory.create_batch(105, provider=provider)

    response = APIClient().get(CATALOGUE, {"page_size": 500})

    assert response.json()["count"] == 105
    assert len(response.json()["results"]) == 100
    assert_error(APIClient().get(CATALOGUE, {"page": 9}), 404)


@pytest.mark.parametrize("page_size", [5, 50])
@pytest.mark.parametrize("params", [{}, {"search": "support"}, {"capability": "chat", "sort": "price"}])
def test_list_runs_two_queries_whatever_the_page_size(db, django_assert_num_queries, page_size, params):
    providers = ServiceProviderFactory.create_batch(6)  # rows from several providers and categories
    for index in range(60):
        OfferingFactory(
            provider=providers[index % 6],
            category=category(("agents", "apps")[index % 2]),
            capabilities=["chat"],
            price_from_minor=index,
        )

    with django_assert_num_queries(2):  # the count and the page, with category and provider joined
        response = APIClient().get(CATALOGUE, {**params, "page_size": page_size})

    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


def test_offering_detail_has_plans_on_sale_and_safe_html(catalogue, django_assert_num_queries):
    offering = catalogue["sales"]
    offering.description = "## Why\n\nIt **sells**. <script>alert('x')</script> [docs](javascript:alert(1))"
    offering.save(update_fields=["description"])

    with django_assert_num_queries(2):  # the offering, its plans
        response = APIClient().get(f"{CATALOGUE}{offering.uuid}/")

    body = response.json()
    assert response.status_code == 200
    assert body["description_html"] == (
        '<h2>Why</h2>\n<p>It <strong>sells</strong>.  <a rel="nofollow noopener noreferrer">docs</a></p>'
    )
    assert [(plan["name"], plan["price_minor"], plan["is_free"]) for plan in body["plans"]] == [
        ("Starter", 2900, False)
    ]
    assert body["provider"]["name"] == offering.provider.organization.name
    assert (body["rating_average"], body["rating_count"]) == ("5.00", 4)


@pytest.mark.parametrize("slug", ["draft", "paused"])
def test_offering_detail_hides_offerings_not_in_the_catalogue(catalogue, slug):
    from marketplace.models import Offering

    offering = Offering.objects.get(slug=slug)

    assert_error(APIClient().get(f"{CATALOGUE}{offering.uuid}/"), 404, "not_found")
    assert_error(APIClient().get(f"{CATALOGUE}not-a-uuid/"), 404, "not_found")


@pytest.mark.parametrize("sort", ["price", "newest", "relevance"])
def test_paging_through_the_catalogue_returns_every_offering_once_in_order(db, sort):
    provider = ServiceProviderFactory()
    published = timezone.now()
    offerings = [
        OfferingFactory(provider=provider, price_from_minor=100 * (index % 3), published_at=published)
        for index in range(25)
    ]  # many ties: the id tie-breaker must keep pages stable
    client = APIClient()

    pages = [
        client.get(CATALOGUE, {"sort": sort, "page_size": 10, "page": page}).json() for page in (1, 2, 3)
    ]

    seen = [item["uuid"] for page in pages for item in page["results"]]
    everything = [
        item["uuid"] for item in client.get(CATALOGUE, {"sort": sort, "page_size": 100}).json()["results"]
    ]
    assert [len(page["results"]) for page in pages] == [10, 10, 5]
    assert seen == everything
    assert sorted(seen) == sorted(str(offering.uuid) for offering in offerings)
