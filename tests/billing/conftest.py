"""Billing fixtures: a local Stripe double wired into settings, and helpers to pay and deliver events."""

import pytest
from django.urls import reverse

from billing import stripe_client
from marketplace.services.orders import order_create
from tests.fakes.stripe_server import FakeStripe
from tests.marketplace.factories import PlanFactory


@pytest.fixture
def stripe_fake(settings):
    fake = FakeStripe().start()
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_cmp_fake"
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT = 5
    stripe_client._client.cache_clear()
    yield fake
    fake.stop()
    stripe_client._client.cache_clear()


@pytest.fixture
def manual_mode(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_PUBLISHABLE_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


@pytest.fixture
def plan(db):
    """A paid plan of an offering without an agent: paying it makes a subscription and nothing else."""
    return PlanFactory(price_minor=2900, currency="USD")


@pytest.fixture
def order(organization, plan, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return order_create(organization=organization, plan=plan, actor=user)


def deliver(client, fake: FakeStripe, event: dict, capture, **sign):
    """POST `event` to our webhook, signed like Stripe does, running what it queues after commit."""
    body, signature = fake.signed(event, **sign)
    with capture(execute=True):
        return client.post(
            reverse("stripe-webhook"),
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )


def start_checkout(api_client, order) -> dict:
    response = api_client.post(
        reverse("stripe-checkout"),
        {
            "order_uuid": str(order.uuid),
            "success_url": "https://cmp.example/billing/paid/?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://cmp.example/billing/cancelled/",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()
