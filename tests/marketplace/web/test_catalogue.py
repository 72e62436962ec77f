"""The public catalogue and offering page: search, filters, a fixed query count, safe Markdown, reviews."""

import pytest
from django.urls import reverse

from marketplace.markdown import render_markdown
from marketplace.models import Review
from tests.marketplace.factories import (
    MembershipFactory,
    OfferingFactory,
    PlanFactory,
    ResourceFactory,
    UserFactory,
    category,
)

pytestmark = pytest.mark.django_db
CATALOGUE = reverse("marketplace:catalogue")


def _names(response) -> list[str]:
    return [offering.name for offering in response.context["offerings"]]


def test_catalogue_is_public_and_lists_active_offerings_with_prices(client):
    paid = PlanFactory(offering__name="Helpdesk Agent", price_minor=2900).offering
    free = PlanFactory(offering__name="Free Notes", price_minor=0).offering
    OfferingFactory(name="Hidden Draft", state="draft")

    response = client.get(CATALOGUE)

    assert response.status_code == 200
    assert sorted(_names(response)) == sorted([paid.name, free.name])
    body = response.content.decode()
    assert "from $29/mo" in body
    assert "Free" in body
    assert "Hidden Draft" not in body


def test_catalogue_search_category_capability_and_price_filters(client):
    PlanFactory(offering__name="Support Agent", offering__category=category("agents"), price_minor=2900)
    PlanFactory(
        offering__name="Invoice Automation", offering__category=category("automations"), price_minor=9900
    )
    PlanFactory(offering__name="Support Assistant", offering__category=category("assistants"), price_minor=0)

    assert sorted(_names(client.get(CATALOGUE, {"q": "support"}))) == ["Support Agent", "Support Assistant"]
    assert _names(client.get(CATALOGUE, {"q": "invoice autom"})) == ["Invoice Automation"]
    assert _names(client.get(CATALOGUE, {"category": "automations"})) == ["Invoice Automation"]
    assert sorted(_names(client.get(CATALOGUE, {"capability": "scheduling"}))) == ["Invoice Automation"]
    assert _names(client.get(CATALOGUE, {"price_min": "50", "price_max": "100"})) == ["Invoice Automation"]
    cheap_first = _names(client.get(CATALOGUE, {"price_max": "29", "sort": "price"}))
    assert cheap_first == ["Support Assistant", "Support Agent"]
    assert _names(client.get(CATALOGUE, {"sort": "price_desc"})) == [
        "Invoice Automation",
        "Support Agent",
        "Support Assistant",
    ]


def test_catalogue_ignores_invalid_filter_values(client):
    PlanFactory(offering__name="Support Agent")

    response = client.get(CATALOGUE, {"price_min": "lots", "sort": "sideways", "category": "nope"})

    assert response.status_code == 200
    assert _names(response) == ["Support Agent"]


def test_catalogue_shows_empty_state_when_nothing_matches(client):
    PlanFactory(offering__name="Support Agent")

    response = client.get(CATALOGUE, {"q": "zebra"})

    assert response.status_code == 200
    assert _names(response) == []
    assert "Nothing matches your search" in response.content.decode()


@pytest.mark.parametrize("offering_count", [1, 12])
def test_catalogue_runs_a_fixed_number_of_queries(client, django_assert_num_queries, offering_count):
    for _ in range(offering_count):
        offering = PlanFactory().offering
        PlanFactory(offering=offering, name="Pro", price_minor=9900)

    # categories, count, page of offerings, their plans
    with django_assert_num_queries(4):
        response = client.get(CATALOGUE)

    assert len(response.context["offerings"]) == offering_count


def test_render_markdown_removes_scripts_and_event_handlers():
    html = render_markdown(
        "# Title\n\n**bold** <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[link](javascript:alert(1)) [ok](https://example.com)"
    )

    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert "onerror" not in html
    assert "javascript:" not in html
    assert '<a href="https://example.com" rel="nofollow noopener noreferrer">ok</a>' in html


def test_offering_page_shows_plans_and_sanitised_description(client):
    offering = OfferingFactory(
        name="Support Agent",
        description="## Features\n\n- Answers *fast*\n\n<script>steal()</script><img src=x onerror=steal()>",
    )
    PlanFactory(offering=offering, name="Starter", price_minor=2900, monthly_quota_calls=1000)
    PlanFactory(offering=offering, name="Enterprise", price_minor=29900, monthly_quota_calls=None)
    PlanFactory(offering=offering, name="Old", price_minor=100, is_archived=True)

    response = client.get(reverse("marketplace:offering-detail", args=[offering.slug]))

    assert response.status_code == 200
    body = response.content.decode()
    assert [plan.name for plan in response.context["plans"]] == ["Starter", "Enterprise"]
    assert "<h2>Features</h2>" in body
    assert "<em>fast</em>" in body
    assert "steal()" not in body
    assert "onerror" not in body
    assert "$29/mo" in body
    assert "$299/mo" in body
    assert "Unlimited" in body
    assert "Old" not in [plan.name for plan in response.context["plans"]]


def test_draft_offering_page_is_404(client):
    offering = OfferingFactory(state="draft")

    assert client.get(reverse("marketplace:offering-detail", args=[offering.slug])).status_code == 404


def test_subscriber_can_review_once_and_rating_updates(client):
    user = UserFactory()
    resource = ResourceFactory(state="ok")
    MembershipFactory(organization=resource.organization, user=user, role="member")
    offering = resource.offering
    client.force_login(user)
    page = client.get(reverse("marketplace:offering-detail", args=[offering.slug]))
    assert page.context["review_form"] is not None

    response = client.post(
        reverse("marketplace:offering-review", args=[offering.slug]),
        {"organization": str(resource.organization.uuid), "rating": "4", "text": "Solid."},
    )

    assert response.status_code == 302
    review = Review.objects.get()
    assert (review.organization, review.rating, review.text, review.author) == (
        resource.organization,
        4,
        "Solid.",
        user,
    )
    offering.refresh_from_db()
    assert (offering.rating_count, str(offering.rating_average)) == (1, "4.00")
    again = client.get(reverse("marketplace:offering-detail", args=[offering.slug]))
    assert again.context["review_form"] is None


def test_non_subscriber_review_is_refused_and_nothing_is_saved(client, user, organization):
    offering = PlanFactory().offering
    client.force_login(user)

    response = client.post(
        reverse("marketplace:offering-review", args=[offering.slug]),
        {"organization": str(organization.uuid), "rating": "5"},
    )

    assert response.status_code == 400
    assert Review.objects.count() == 0
