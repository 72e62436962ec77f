"""Publishing an offering creates its Stripe product and prices, after commit and only with Stripe on."""

import logging

import pytest

from billing import stripe_client
from billing.models import StripePrice, StripeProduct
from marketplace.models import OfferingState
from marketplace.services.catalogue import offering_approve, offering_pause, offering_resume
from tests.marketplace.factories import OfferingFactory, PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(db):
    """An offering waiting for review, with a fixed plan, a plan with overage and a usage-based plan."""
    offering = OfferingFactory(state=OfferingState.PENDING_REVIEW, published_at=None)
    PlanFactory(offering=offering, name="Starter", price_minor=2900)
    PlanFactory(offering=offering, name="Pro", price_minor=9900, overage_price_per_1000_minor=1000)
    PlanFactory(
        offering=offering,
        name="Pay per use",
        price_minor=0,
        overage_price_per_1000_minor=250,
        monthly_quota_calls=None,
    )
    PlanFactory(offering=offering, name="Free", price_minor=0)
    return offering


def test_approving_an_offering_creates_its_stripe_prices(
    stripe_fake, pending, operator, django_capture_on_commit_callbacks
):
    # When
    with django_capture_on_commit_callbacks(execute=True):
        offering_approve(offering=pending, actor=operator)

    # Then
    product = StripeProduct.objects.get(offering=pending)
    assert stripe_fake.objects[product.stripe_product_id]["metadata"] == {"offering_uuid": str(pending.uuid)}
    prices = sorted(
        StripePrice.objects.filter(plan__offering=pending).values_list("plan__name", "kind", "unit_amount")
    )
    assert prices == [
        ("Pay per use", "metered", 250),
        ("Pro", "fixed", 9900),
        ("Pro", "metered", 1000),
        ("Starter", "fixed", 2900),
    ]
    assert len(stripe_fake.calls("POST", "/v1/prices")) == 4


def test_nothing_is_asked_of_stripe_before_the_transaction_commits(
    stripe_fake, pending, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        offering_approve(offering=pending, actor=operator)

    assert stripe_fake.requests == []
    assert len(callbacks) == 1


def test_resuming_a_paused_offering_creates_missing_prices_once(
    stripe_fake, pending, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        offering = offering_approve(offering=pending, actor=operator)
        offering = offering_pause(offering=offering, actor=operator)
    created = len(stripe_fake.calls("POST", "/v1/prices"))

    with django_capture_on_commit_callbacks(execute=True):
        offering_resume(offering=offering, actor=operator)

    assert len(stripe_fake.calls("POST", "/v1/prices")) == created == 4


def test_publishing_in_manual_mode_asks_stripe_nothing(
    manual_mode, pending, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        offering = offering_approve(offering=pending, actor=operator)

    assert offering.state == OfferingState.ACTIVE
    assert callbacks == []
    assert StripePrice.objects.count() == 0


def test_a_stripe_failure_is_logged_and_the_offering_is_published_anyway(
    stripe_fake, pending, operator, settings, caplog, django_capture_on_commit_callbacks
):
    # Given Stripe refuses our key
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"
    stripe_client._client.cache_clear()

    # When
    with (
        caplog.at_level(logging.WARNING, logger="billing.tasks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        offering = offering_approve(offering=pending, actor=operator)

    # Then
    assert offering.state == OfferingState.ACTIVE
    assert StripePrice.objects.count() == 0
    assert f"Creating the Stripe prices of offering {pending.pk} failed" in caplog.text
