"""Seller pages: create an offering, add plans (major -> minor units), submit, pause; access checks."""

import pytest
from django.urls import reverse

from marketplace.models import Offering, OfferingState, Plan
from tests.marketplace.factories import (
    MembershipFactory,
    OfferingFactory,
    OrderFactory,
    PlanFactory,
    ServiceProviderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(organization):
    return ServiceProviderFactory(organization=organization)


def _offering_url(provider, offering, suffix=""):
    return reverse("marketplace:provider-offering", args=[provider.uuid, offering.uuid]) + suffix


def test_seller_creates_an_offering_adds_a_plan_and_submits(client, user, provider):
    client.force_login(user)

    response = client.post(
        reverse("marketplace:provider-dashboard", args=[provider.uuid]),
        {"name": "Helpdesk Agent", "category": "agents", "summary": "Answers tickets."},
    )
    offering = Offering.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _offering_url(provider, offering)
    assert (offering.name, offering.category.slug, offering.state) == ("Helpdesk Agent", "agents", "draft")

    response = client.post(
        _offering_url(provider, offering, "plans/"),
        {
            "new-name": "Starter",
            "new-description": "",
            "new-price": "29.50",
            "new-billing_period": "month",
            "new-monthly_quota_calls": "1000",
            "new-rate_limit_per_minute": "20",
            "new-overage_price_per_1000": "",
            "new-trial_days": "14",
            "new-sort_order": "0",
        },
    )
    assert response.status_code == 302
    plan = Plan.objects.get()
    assert (
        plan.name,
        plan.price_minor,
        plan.monthly_quota_calls,
        plan.overage_price_per_1000_minor,
        plan.trial_days,
    ) == ("Starter", 2950, 1000, None, 14)

    client.post(
        _offering_url(provider, offering),
        {
            "name": "Helpdesk Agent",
            "category": "agents",
            "summary": "Answers tickets.",
            "description": "# Helpdesk\nAnswers your customers.",
            "capabilities": ["chat", "api"],
            "tags": "support, Help",
        },
    )
    offering.refresh_from_db()
    assert (offering.capabilities, offering.tags) == (["chat", "api"], ["support", "help"])

    response = client.post(_offering_url(provider, offering, "submit/"), {"terms_accepted": "on"})
    assert response.status_code == 302
    offering.refresh_from_db()
    assert offering.state == OfferingState.PENDING_REVIEW
    assert offering.terms_accepted_at is not None


def test_submit_without_terms_shows_errors_and_changes_nothing(client, user, provider):
    offering = OfferingFactory(provider=provider, state="draft", terms_accepted_at=None)
    client.force_login(user)

    response = client.post(_offering_url(provider, offering, "submit/"), {})

    assert response.status_code == 400
    assert "terms_accepted" in response.context["submit_form"].errors
    offering.refresh_from_db()
    assert (offering.state, offering.terms_accepted_at) == ("draft", None)


def test_submit_of_an_incomplete_offering_lists_the_problems(client, user, provider):
    offering = OfferingFactory(provider=provider, state="draft", description="")
    client.force_login(user)

    response = client.post(_offering_url(provider, offering, "submit/"), {"terms_accepted": "on"})

    assert response.status_code == 400
    errors = response.context["submit_form"].non_field_errors()
    assert "Add a description before publishing." in errors
    assert "Add at least one plan before publishing." in errors
    offering.refresh_from_db()
    assert offering.state == "draft"


def test_bad_plan_input_shows_errors_inline_and_saves_nothing(client, user, provider):
    offering = OfferingFactory(provider=provider, state="draft")
    client.force_login(user)

    response = client.post(
        _offering_url(provider, offering, "plans/"),
        {
            "new-name": "",
            "new-price": "-5",
            "new-billing_period": "month",
            "new-rate_limit_per_minute": "0",
            "new-trial_days": "400",
            "new-sort_order": "0",
        },
    )

    assert response.status_code == 400
    form = response.context["new_plan_form"]
    assert set(form.errors) == {"name", "price", "rate_limit_per_minute", "trial_days"}
    assert Plan.objects.count() == 0
    assert "field-errors" in response.content.decode()


def test_edit_plan_and_apply_template(client, user, provider):
    offering = OfferingFactory(provider=provider, state="draft")
    client.force_login(user)

    client.post(_offering_url(provider, offering, "plans/template/"))
    assert list(offering.plans.values_list("name", "price_minor")) == [
        ("Starter", 2900),
        ("Professional", 9900),
        ("Enterprise", 29900),
    ]
    starter = offering.plans.get(name="Starter")
    prefix = f"plan-{starter.uuid}"
    response = client.post(
        _offering_url(provider, offering, f"plans/{starter.uuid}/"),
        {
            f"{prefix}-name": "Starter",
            f"{prefix}-price": "19",
            f"{prefix}-billing_period": "month",
            f"{prefix}-monthly_quota_calls": "500",
            f"{prefix}-rate_limit_per_minute": "10",
            f"{prefix}-overage_price_per_1000": "1.25",
            f"{prefix}-trial_days": "0",
            f"{prefix}-sort_order": "0",
        },
    )
    assert response.status_code == 302
    starter.refresh_from_db()
    assert (starter.price_minor, starter.monthly_quota_calls) == (1900, 500)
    assert starter.overage_price_per_1000_minor == 125
    offering.refresh_from_db()
    assert offering.price_from_minor == 1900

    second = client.post(_offering_url(provider, offering, "plans/template/"), follow=True)
    assert "already has plans" in second.content.decode()
    assert offering.plans.count() == 3


def test_pause_and_resume_an_active_offering(client, user, provider):
    offering = OfferingFactory(provider=provider, state="active")
    client.force_login(user)

    client.post(_offering_url(provider, offering, "pause/"))
    offering.refresh_from_db()
    assert offering.state == "paused"

    client.post(_offering_url(provider, offering, "resume/"))
    offering.refresh_from_db()
    assert offering.state == "active"


def test_provider_orders_lists_only_its_offerings(client, user, provider):
    mine = OrderFactory(plan=PlanFactory(offering=OfferingFactory(provider=provider)))
    OrderFactory()
    client.force_login(user)

    response = client.get(reverse("marketplace:provider-orders", args=[provider.uuid]))

    assert response.status_code == 200
    assert [order.pk for order in response.context["orders"]] == [mine.pk]


def test_another_providers_pages_are_404(client, user, provider):
    stranger = ServiceProviderFactory()
    offering = OfferingFactory(provider=stranger, state="draft")
    client.force_login(user)

    assert client.get(reverse("marketplace:provider-dashboard", args=[stranger.uuid])).status_code == 404
    assert client.get(reverse("marketplace:provider-orders", args=[stranger.uuid])).status_code == 404
    assert client.get(_offering_url(stranger, offering)).status_code == 404
    # Another provider's offering through my own provider's URL is a 404 too.
    assert client.get(_offering_url(provider, offering)).status_code == 404
    assert client.post(_offering_url(provider, offering, "archive/")).status_code == 404
    offering.refresh_from_db()
    assert offering.state == "draft"


def test_plain_member_of_the_seller_organisation_gets_404(client, provider):
    member = UserFactory()
    MembershipFactory(organization=provider.organization, user=member, role="member")
    client.force_login(member)

    assert client.get(reverse("marketplace:provider-dashboard", args=[provider.uuid])).status_code == 404


def test_pending_provider_sees_the_approval_banner(client, user, organization):
    provider = ServiceProviderFactory(organization=organization, state="pending")
    client.force_login(user)

    response = client.get(reverse("marketplace:provider-dashboard", args=[provider.uuid]))

    assert response.status_code == 200
    assert "waiting for approval" in response.content.decode()
