"""`seed_demo`: the demo marketplace is complete, built through the services, and safe to seed again."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from demo.data import PRODUCTS, seed_demo
from marketplace.models import (
    Membership,
    Offering,
    OfferingEvent,
    Order,
    OrderEvent,
    Organization,
    Plan,
    Resource,
    Review,
    ServiceProvider,
)
from marketplace.selectors import offering_search
from marketplace.tasks import order_process_task

# Committed for real, as `manage.py seed_demo` runs: the order's processing starts when its change commits.
# The listings are the sample products' real flows, and the demo subscription is provisioned into a real
# `lfx serve`.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture(autouse=True)
def _runtime(runtime_settings):
    return runtime_settings


@pytest.fixture
def seed(sample_flows):
    def run(**kwargs):
        return seed_demo(flows=sample_flows, **kwargs)

    return run


MODELS = (
    User,
    Organization,
    Membership,
    ServiceProvider,
    Offering,
    OfferingEvent,
    Plan,
    Order,
    OrderEvent,
    Resource,
    Review,
)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def test_seeding_twice_creates_nothing_the_second_time(seed):
    first = seed(password="demo-password-123")
    counts = _counts()
    users = {user.email: (user.password, user.is_staff) for user in User.objects.all()}

    second = seed(password="demo-password-123")

    assert len(first.created) == 14
    assert second.created == []
    assert _counts() == counts
    assert {user.email: (user.password, user.is_staff) for user in User.objects.all()} == users
    assert counts == {
        "User": 3,
        "Organization": 2,
        "Membership": 2,
        "ServiceProvider": 1,
        "Offering": 5,
        "OfferingEvent": 5,
        "Plan": 15,
        "Order": 1,
        "OrderEvent": 3,
        "Resource": 1,
        "Review": 1,
    }


def test_the_five_products_are_listed_with_the_three_tier_pricing(seed, sample_flows):
    seed(password="demo-password-123")

    listed = {offering.name: offering for offering in offering_search()}

    assert set(listed) == {product.name for product in PRODUCTS}
    for product in PRODUCTS:
        offering = listed[product.name]
        assert offering.state == "active"
        assert offering.category.slug == product.category
        assert offering.provider.organization.name == "Acme AI Labs"
        assert sorted(offering.capabilities) == sorted(offering.category.default_capabilities)
        assert offering.tags == list(product.tags)
        assert offering.summary == product.summary
        assert "## What you get" in offering.description
        assert offering.price_from_minor == 2900
        assert list(offering.plans.values_list("name", "price_minor", "monthly_quota_calls")) == [
            ("Starter", 2900, 1_000),
            ("Professional", 9900, 10_000),
            ("Enterprise", 29900, 100_000),
        ]
        assert list(offering.events.values_list("from_state", "to_state", "actor__email")) == [
            ("draft", "active", "seller@cmp.local")
        ]
        assert offering.agent.current_version.version == "1.0.0"
        assert offering.agent.current_version.source_flow_id == sample_flows[product.flow_slug]["id"]
    offline = {
        p.name for p in PRODUCTS if "CMP_CONTEXT" in listed[p.name].agent.current_version.required_variables
    }
    assert {"Customer Support Agent", "General Knowledge Assistant"} <= offline
    categories = {offering.category.slug for offering in listed.values()}
    assert categories == {"agents", "apps", "assistants", "automations"}
    assert [offering.name for offering in offering_search(query="code review")] == ["Code Review Agent"]


def test_people_and_organisations(seed):
    seed(password="s3cret-demo-pass")

    operator, seller, buyer = (
        User.objects.get(email=f"{name}@cmp.local") for name in ("operator", "seller", "buyer")
    )
    assert (operator.is_staff, operator.is_superuser) == (True, True)
    assert (seller.is_staff, buyer.is_staff) == (False, False)
    assert all(user.check_password("s3cret-demo-pass") for user in (operator, seller, buyer))
    provider = ServiceProvider.objects.get()
    assert (provider.state, provider.is_trusted, provider.reviewed_by) == ("approved", True, operator)
    assert Membership.objects.get(organization__name="Acme AI Labs").user == seller
    globex = Organization.objects.get(name="Globex Corporation")
    assert list(globex.memberships.values_list("user__email", "role")) == [("buyer@cmp.local", "owner")]


def test_the_buyer_has_one_active_paid_subscription_and_a_review(seed):
    seed(password="demo-password-123")

    globex = Organization.objects.get(name="Globex Corporation")
    resource = Resource.objects.get(organization=globex)
    assert (resource.state, resource.offering.name, resource.plan.name) == (
        "ok",
        "Customer Support Agent",
        "Professional",
    )
    order = Order.objects.get(organization=globex)
    assert (order.state, order.cost_minor, order.payment_reference) == ("done", 9900, "DEMO-INVOICE-0001")
    assert list(order.events.values_list("to_state", "actor__email")) == [
        ("pending_payment", "buyer@cmp.local"),
        ("executing", "operator@cmp.local"),
        ("done", None),
    ]
    config = resource.agent_config
    assert (config.deployment_state, config.runtime_flow_id) == ("deployed", str(config.uuid))
    help_centre = config.knowledge_base.documents.get()
    assert (help_centre.name, help_centre.status, help_centre.chunk_count) == (
        "Globex help centre",
        "indexed",
        3,
    )
    review = Review.objects.get()
    assert (review.organization, review.rating, review.author.email) == (globex, 5, "buyer@cmp.local")
    resource.offering.refresh_from_db()
    assert (resource.offering.rating_average, resource.offering.rating_count) == (5, 1)


def test_a_changed_demo_password_is_applied_on_the_next_seed(seed):
    seed(password="demo-password-123")

    seed(password="another-demo-pass")

    assert User.objects.get(email="buyer@cmp.local").check_password("another-demo-pass")


def test_a_subscription_left_to_a_worker_is_reported_and_reviewed_on_the_next_seed(seed, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(order_process_task, "delay", queued.append)  # queued on a broker; no worker is up
    result = seed(password="demo-password-123")

    order = Order.objects.get()
    assert order.state == "executing"
    assert result.notes == [
        "The demo subscription is executing. With REDIS_URL set, a worker (`make worker`) finishes it; "
        "run seed_demo again afterwards to add its review."
    ]
    assert Review.objects.count() == 0

    assert queued == [order.pk]
    order_process_task(order.pk)  # what the worker does when it starts
    second = seed(password="demo-password-123")

    order.refresh_from_db()
    assert order.state == "done"
    assert second.created == ["review of Customer Support Agent", "help centre for Customer Support Agent"]
    assert second.notes == []
    assert Review.objects.count() == 1


def test_command_prints_the_sign_ins(monkeypatch, sample_flows_dir):
    monkeypatch.setenv("CMP_DEMO_PASSWORD", "printed-demo-pass")
    output = StringIO()

    call_command(
        "seed_demo",
        "--base-url",
        "http://127.0.0.1:8123/",
        "--flows-dir",
        str(sample_flows_dir),
        stdout=output,
    )

    text = output.getvalue()
    assert "http://127.0.0.1:8123/marketplace/" in text
    assert "http://127.0.0.1:8123/admin/" in text
    assert "demo subscription is" not in text  # it was completed, so no note about it
    for email in ("operator@cmp.local", "seller@cmp.local", "buyer@cmp.local"):
        assert re.search(rf"^  {re.escape(email)} +printed-demo-pass  ", text, re.MULTILINE)


def test_command_refuses_the_published_password_when_debug_is_off(settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.delenv("CMP_DEMO_PASSWORD", raising=False)

    with pytest.raises(CommandError, match="published demo password"):
        call_command("seed_demo", stdout=StringIO())
    assert User.objects.count() == 0
