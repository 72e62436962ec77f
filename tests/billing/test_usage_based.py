"""Usage-based plans: no fixed fee, a price per 1,000 calls, every call billed from the Stripe meter."""

import pytest
from django.utils import timezone

from billing.models import BillingSubscription
from billing.services.usage import overage_report_all
from marketplace.models import OrderState, Plan, Resource, ResourceState
from marketplace.services.orders import order_create
from marketplace.templatetags.marketplace import plan_price
from site_agent.models import CustomerAgentConfig, UsageDaily
from tests.billing.conftest import deliver, start_checkout
from tests.conftest import client_for
from tests.marketplace.factories import PlanFactory
from tests.site_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("price", "overage", "usage_based", "free"),
    [(0, 250, True, False), (0, None, False, True), (0, 0, False, True), (2900, 250, False, False)],
)
def test_a_plan_is_usage_based_when_it_has_no_fee_and_a_price_per_1000_calls(
    price, overage, usage_based, free
):
    plan = Plan(price_minor=price, overage_price_per_1000_minor=overage, monthly_quota_calls=None)

    assert (plan.is_usage_based, plan.is_free) == (usage_based, free)


def test_a_usage_based_price_reads_per_1000_calls():
    plan = Plan(price_minor=0, overage_price_per_1000_minor=250, currency="USD")

    assert plan_price(plan) == "$2.50 / 1,000 calls"


@pytest.fixture
def usage_plan(db):
    return PlanFactory(price_minor=0, overage_price_per_1000_minor=250, monthly_quota_calls=None)


def test_a_usage_based_order_waits_for_payment(usage_plan, organization, user):
    order = order_create(organization=organization, plan=usage_plan, actor=user)

    assert (order.state, order.cost_minor) == (OrderState.PENDING_PAYMENT, 0)
    assert Resource.objects.count() == 0


def test_usage_based_checkout_has_only_a_metered_price(stripe_fake, usage_plan, organization, user):
    # Given
    order = order_create(organization=organization, plan=usage_plan, actor=user)

    # When
    start_checkout(client_for(user), order)

    # Then
    line_items = stripe_fake.calls("POST", "/v1/checkout/sessions")[0].params["line_items"]
    assert len(line_items) == 1
    assert "quantity" not in line_items[0]
    price = stripe_fake.objects[line_items[0]["price"]]
    assert (price["unit_amount"], price["recurring"]["usage_type"]) == (250, "metered")
    assert price["transform_quantity"] == {"divide_by": "1000", "round": "up"}


@pytest.fixture
def usage_subscription(
    stripe_fake, usage_plan, organization, user, client, django_capture_on_commit_callbacks
):
    order = order_create(organization=organization, plan=usage_plan, actor=user)
    events = stripe_fake.complete_checkout(start_checkout(client_for(user), order)["session_id"])
    for event_type in ("checkout.session.completed", "invoice.paid"):
        deliver(client, stripe_fake, events[event_type], django_capture_on_commit_callbacks)
    resource = Resource.objects.get(organization=organization)
    agent = AgentFactory()
    config = CustomerAgentConfig.objects.create(
        resource=resource,
        organization=organization,
        agent=agent,
        agent_version=agent.current_version,
        agent_name="Helper",
        widget_id="wid_usage_based",
    )
    return {"order": order, "resource": resource, "config": config}


def test_paying_a_usage_based_plan_starts_the_subscription_with_the_metered_item(
    stripe_fake, usage_subscription
):
    order = usage_subscription["order"]
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert usage_subscription["resource"].state == ResourceState.OK
    billing = BillingSubscription.objects.get(order=order)
    subscription = stripe_fake.objects[billing.stripe_subscription_id]
    assert (billing.status, billing.fixed_item_id) == ("active", "")
    assert billing.metered_item_id == subscription["items"]["data"][0]["id"]
    assert billing.current_period_end is not None
    first_invoice = stripe_fake.objects[subscription["latest_invoice"]]
    assert (first_invoice["amount_due"], first_invoice["status"]) == (0, "paid")


def test_every_call_of_a_usage_based_plan_goes_to_the_meter(stripe_fake, usage_subscription):
    # Given 1,234 calls this period
    UsageDaily.objects.create(config=usage_subscription["config"], day=timezone.now().date(), api_calls=1234)

    # When
    sent = overage_report_all()

    # Then all of them, not just those beyond a quota
    assert [item.calls for item in sent] == [1234]
    event = stripe_fake.calls("POST", "/v1/billing/meter_events")[0].params
    assert event["payload"]["value"] == "1234"


def test_moving_from_usage_based_to_a_fixed_fee_swaps_the_subscription_items(
    stripe_fake, usage_subscription, user, client, django_capture_on_commit_callbacks
):
    # Given
    from django.urls import reverse

    resource = usage_subscription["resource"]
    billing = BillingSubscription.objects.get(order=usage_subscription["order"])
    metered_item = billing.metered_item_id
    pro = PlanFactory(offering=resource.offering, name="Pro", price_minor=2900, monthly_quota_calls=5000)
    client.force_login(user)

    # When
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("billing:subscription-plan", args=[resource.organization.uuid, resource.uuid]),
            {f"{resource.uuid}-plan": str(pro.uuid)},
        )

    # Then the fixed fee is added, the meter item removed, and the fee charged at once
    update = stripe_fake.calls("POST", "/v1/subscriptions/")[-1].params
    fixed_price = stripe_fake.objects[update["items"][0]["price"]]
    assert fixed_price["unit_amount"] == 2900
    assert update["items"][1] == {"id": metered_item, "deleted": "true"}
    billing.refresh_from_db()
    items = stripe_fake.objects[billing.stripe_subscription_id]["items"]["data"]
    assert [item["id"] for item in items] == [billing.fixed_item_id]
    assert billing.metered_item_id == ""
    resource.refresh_from_db()
    assert resource.plan == pro
    charged = [
        item["amount_due"]
        for item in stripe_fake.of_type("invoice")
        if item["billing_reason"] == "subscription_update"
    ]
    assert charged == [2900]
