"""A free subscription moving to a paid (or usage-based) plan has no Stripe subscription to charge: it pays
at Stripe Checkout, and the Stripe subscription made there bills it from then on."""

import datetime
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingSubscription, Invoice, WebhookEvent
from billing.services.subscriptions import is_stripe_billed
from marketplace.models import OrderEvent, OrderState, OrderType, Resource, ResourceState
from marketplace.services.orders import order_change_plan, order_create, order_mark_paid, order_terminate
from tests.billing.conftest import deliver, start_checkout
from tests.conftest import client_for
from tests.marketplace.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def free_plan(db):
    return PlanFactory(name="Free", price_minor=0, overage_price_per_1000_minor=None, currency="USD")


@pytest.fixture
def pro(free_plan):
    return PlanFactory(offering=free_plan.offering, name="Pro", price_minor=4900, currency="USD")


@pytest.fixture
def free_resource(stripe_fake, free_plan, organization, user, django_capture_on_commit_callbacks):
    """A subscription on the free plan, set up without payment: no Stripe subscription."""
    with django_capture_on_commit_callbacks(execute=True):
        order_create(organization=organization, plan=free_plan, actor=user)
    resource = Resource.objects.get(organization=organization)
    assert (resource.state, resource.plan) == (ResourceState.OK, free_plan)
    return resource


def _upgrade_order(resource, plan, user):
    order = order_change_plan(resource=resource, plan=plan, actor=user)
    assert (order.type, order.state) == (OrderType.UPDATE, OrderState.PENDING_PAYMENT)
    return order


def _pay(stripe_fake, client, order, user, capture) -> dict:
    """Checkout for `order`, paid; both of Stripe's events delivered. Returns the events."""
    events = stripe_fake.complete_checkout(start_checkout(client_for(user), order)["session_id"])
    for event_type in ("checkout.session.completed", "invoice.paid"):
        deliver(client, stripe_fake, events[event_type], capture)
    return events


def test_upgrading_from_the_dashboard_pays_at_checkout_and_links_the_new_stripe_subscription(
    stripe_fake, free_resource, pro, user, client, django_capture_on_commit_callbacks
):
    # Given the buyer picks Pro on the dashboard
    client.force_login(user)
    organization = free_resource.organization
    response = client.post(
        reverse("billing:subscription-plan", args=[organization.uuid, free_resource.uuid]),
        {f"{free_resource.uuid}-plan": str(pro.uuid)},
    )
    order = free_resource.orders.get(type=OrderType.UPDATE)
    assert (order.state, order.cost_minor) == (OrderState.PENDING_PAYMENT, 4900)
    assert response["Location"] == reverse("billing:order-pay", args=[order.uuid])
    pay_page = client.get(response["Location"]).content.decode()
    assert "You move from Free to <strong>Pro</strong> as soon as Stripe confirms the payment" in pay_page
    assert "Continue to payment" in pay_page

    # When they continue to Stripe Checkout
    started = client.post(reverse("billing:order-pay", args=[order.uuid]))

    # Then a subscription-mode session for Pro, like a new subscription's
    session = stripe_fake.of_type("checkout.session")[0]
    assert (started.status_code, started["Location"]) == (303, session["url"])
    assert session["mode"] == "subscription"
    assert session["client_reference_id"] == str(order.uuid)
    pro_price = stripe_fake.calls("POST", "/v1/prices")[0]
    assert pro_price.params["unit_amount"] == "4900"
    assert [line["quantity"] for line in session["line_items"]] == ["1"]
    assert session["subscription_data"] == {
        "metadata": {
            "order_uuid": str(order.uuid),
            "organization_uuid": str(organization.uuid),
            "offering_uuid": str(pro.offering.uuid),
            "plan_uuid": str(pro.uuid),
            "resource_uuid": str(free_resource.uuid),
        }
    }
    free_resource.refresh_from_db()
    assert free_resource.plan.name == "Free"  # the session grants nothing

    # When the buyer pays and Stripe's webhooks arrive
    events = stripe_fake.complete_checkout(session["id"])
    for event_type in ("checkout.session.completed", "invoice.paid"):
        deliver(client, stripe_fake, events[event_type], django_capture_on_commit_callbacks)

    # Then the order is done, the subscription on Pro, billed by the new Stripe subscription
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    free_resource.refresh_from_db()
    assert (free_resource.plan, free_resource.state) == (pro, ResourceState.OK)
    subscription = stripe_fake.of_type("subscription")[0]
    billing = BillingSubscription.objects.get()
    assert (billing.order, billing.stripe_subscription_id, billing.status) == (
        order,
        subscription["id"],
        "active",
    )
    assert is_stripe_billed(free_resource) is True
    assert free_resource.current_period_end == billing.current_period_end
    invoice = Invoice.objects.get()
    assert (invoice.order, invoice.subscription, invoice.amount_paid_minor) == (order, billing, 4900)
    assert free_resource.orders.get(type=OrderType.CREATE).state == OrderState.DONE
    billing_page = client.get(reverse("billing:organization-billing", args=[organization.uuid]))
    assert [item.order.resource for item in billing_page.context["subscriptions"]] == [free_resource]
    assert "Cancel at period end" in billing_page.content.decode()


def test_the_linked_subscription_bills_renewals_and_ends_with_ours(
    stripe_fake, free_resource, pro, user, client, django_capture_on_commit_callbacks
):
    # Given a free subscription upgraded at Checkout
    order = _upgrade_order(free_resource, pro, user)
    _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)
    subscription_id = BillingSubscription.objects.get(order=order).stripe_subscription_id

    # When Stripe renews it
    renewal = stripe_fake.renew(subscription_id)
    deliver(client, stripe_fake, renewal["invoice.paid"], django_capture_on_commit_callbacks)

    # Then the renewal is in the billing history, on the subscription
    assert list(Invoice.objects.order_by("created_at").values_list("billing_reason", "order")) == [
        ("subscription_create", order.pk),
        ("subscription_cycle", order.pk),
    ]

    # When the buyer cancels in CMP
    with django_capture_on_commit_callbacks(execute=True):
        order_terminate(resource=free_resource, actor=user)

    # Then Stripe stops billing it
    assert [call.path for call in stripe_fake.calls("DELETE", "/v1/subscriptions")] == [
        f"/v1/subscriptions/{subscription_id}"
    ]
    assert BillingSubscription.objects.get(order=order).status == "canceled"
    assert Resource.objects.get(pk=free_resource.pk).state == ResourceState.TERMINATED


def test_a_later_upgrade_is_charged_on_the_linked_subscription(
    stripe_fake, free_resource, pro, user, client, django_capture_on_commit_callbacks
):
    # Given a free subscription upgraded to Pro at Checkout
    order = _upgrade_order(free_resource, pro, user)
    _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)
    enterprise = PlanFactory(offering=pro.offering, name="Enterprise", price_minor=9900, currency="USD")
    client.force_login(user)

    # When the buyer moves on to Enterprise
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("billing:subscription-plan", args=[free_resource.organization.uuid, free_resource.uuid]),
            {f"{free_resource.uuid}-plan": str(enterprise.uuid)},
        )

    # Then the difference is charged prorated on the same Stripe subscription, no second Checkout
    subscription_id = BillingSubscription.objects.get(order=order).stripe_subscription_id
    update = stripe_fake.calls("POST", f"/v1/subscriptions/{subscription_id}")[-1].params
    assert (update["proration_behavior"], update["payment_behavior"]) == (
        "always_invoice",
        "error_if_incomplete",
    )
    assert len(stripe_fake.calls("POST", "/v1/checkout/sessions")) == 1
    free_resource.refresh_from_db()
    assert (free_resource.plan, free_resource.state) == (enterprise, ResourceState.OK)


def test_a_declined_payment_keeps_the_free_plan_says_why_and_a_retry_works(
    stripe_fake, free_resource, free_plan, pro, user, client, django_capture_on_commit_callbacks
):
    # Given
    order = _upgrade_order(free_resource, pro, user)
    session_id = start_checkout(client_for(user), order)["session_id"]

    # When the card is declined at Checkout
    declined = stripe_fake.complete_checkout(session_id, card_declined=True)
    deliver(client, stripe_fake, declined["invoice.payment_failed"], django_capture_on_commit_callbacks)

    # Then nothing changed for the subscription, and the pay page says why
    order.refresh_from_db()
    assert order.state == OrderState.PENDING_PAYMENT
    free_resource.refresh_from_db()
    assert (free_resource.plan, free_resource.state) == (free_plan, ResourceState.OK)
    assert is_stripe_billed(free_resource) is False
    client.force_login(user)
    page = client.get(reverse("billing:order-pay", args=[order.uuid])).content.decode()
    assert "The last payment did not go through." in page
    assert "Your payment of 49.00 USD was declined. Check your card or use another one." in page
    assert "You are still on the Free plan; you can try again below." in page
    billing_page = client.get(reverse("billing:organization-billing", args=[free_resource.organization.uuid]))
    assert "No paid subscriptions yet." in billing_page.content.decode()

    # When the buyer tries again with another card
    _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)

    # Then
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    free_resource.refresh_from_db()
    assert free_resource.plan == pro
    paid_subscription = [item for item in stripe_fake.of_type("subscription") if item["status"] == "active"]
    assert BillingSubscription.objects.get(order=order).stripe_subscription_id == paid_subscription[0]["id"]


def test_the_same_events_twice_change_nothing(
    stripe_fake, free_resource, pro, user, client, django_capture_on_commit_callbacks
):
    # Given an upgrade paid and its events delivered
    order = _upgrade_order(free_resource, pro, user)
    events = _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)

    def state() -> tuple:
        resource = Resource.objects.get(pk=free_resource.pk)
        billing = BillingSubscription.objects.get()
        return (
            resource.plan_id,
            resource.state,
            resource.orders.count(),
            OrderEvent.objects.filter(order=order).count(),
            billing.stripe_subscription_id,
            billing.status,
            Invoice.objects.count(),
        )

    before = state()

    # When Stripe sends both events again
    answers = [
        deliver(client, stripe_fake, events[event_type], django_capture_on_commit_callbacks)
        for event_type in ("checkout.session.completed", "invoice.paid")
    ]

    # Then
    assert [answer.json() for answer in answers] == [{"received": True, "duplicate": True}] * 2
    assert state() == before
    assert before[:4] == (pro.pk, ResourceState.OK, 2, 3)  # the change: placed, paid, done
    assert WebhookEvent.objects.count() == 2


def test_free_to_usage_based_pays_at_checkout_with_the_metered_price_only(
    stripe_fake, free_resource, user, client, django_capture_on_commit_callbacks
):
    # Given
    usage = PlanFactory(
        offering=free_resource.offering,
        name="Pay as you go",
        price_minor=0,
        overage_price_per_1000_minor=250,
        monthly_quota_calls=None,
        currency="USD",
    )

    # When
    order = _upgrade_order(free_resource, usage, user)
    _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)

    # Then
    line_items = stripe_fake.calls("POST", "/v1/checkout/sessions")[0].params["line_items"]
    assert len(line_items) == 1
    assert "quantity" not in line_items[0]
    order.refresh_from_db()
    assert (order.state, order.cost_minor) == (OrderState.DONE, 0)
    free_resource.refresh_from_db()
    assert free_resource.plan == usage
    billing = BillingSubscription.objects.get(order=order)
    assert (billing.status, billing.fixed_item_id) == ("active", "")
    assert billing.metered_item_id.startswith("si_")


def test_a_plan_change_of_a_stripe_billed_subscription_is_not_paid_at_checkout(
    stripe_fake, order, user, client, django_capture_on_commit_callbacks
):
    # Given a subscription bought through Checkout, and an upgrade order made outside billing's pages
    _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)
    resource = Resource.objects.get(orders=order)
    dearer = PlanFactory(offering=resource.offering, name="Dearer", price_minor=9900)
    upgrade = _upgrade_order(resource, dearer, user)

    # When
    response = client_for(user).post(
        reverse("stripe-checkout"),
        {
            "order_uuid": str(upgrade.uuid),
            "success_url": "https://cmp.example/paid/",
            "cancel_url": "https://cmp.example/cancelled/",
        },
        format="json",
    )

    # Then
    assert response.status_code == 409
    assert response.json()["code"] == "not_checkout"
    assert len(stripe_fake.calls("POST", "/v1/checkout/sessions")) == 1
    assert BillingSubscription.objects.filter(order=upgrade).exists() is False


def test_without_stripe_an_upgrade_from_free_waits_for_an_operator(
    manual_mode, free_plan, pro, organization, user, client, django_capture_on_commit_callbacks
):
    # Given
    with django_capture_on_commit_callbacks(execute=True):
        order_create(organization=organization, plan=free_plan, actor=user)
    resource = Resource.objects.get(organization=organization)
    client.force_login(user)

    # When
    response = client.post(
        reverse("billing:subscription-plan", args=[organization.uuid, resource.uuid]),
        {f"{resource.uuid}-plan": str(pro.uuid)},
        follow=True,
    )

    # Then the pay page tells how it is paid
    order = resource.orders.get(type=OrderType.UPDATE)
    assert order.state == OrderState.PENDING_PAYMENT
    assert response.redirect_chain == [(reverse("billing:order-pay", args=[order.uuid]), 302)]
    assert "An operator confirms this payment" in response.content.decode()
    resource.refresh_from_db()
    assert resource.plan == free_plan


def test_a_manually_paid_subscription_moves_onto_stripe_when_upgraded(
    stripe_fake, pro, organization, user, operator, client, django_capture_on_commit_callbacks
):
    # Given a subscription an operator marked paid (a bank transfer): billed outside Stripe
    starter = PlanFactory(offering=pro.offering, name="Starter", price_minor=1900, currency="USD")
    with django_capture_on_commit_callbacks(execute=True):
        bought = order_create(organization=organization, plan=starter, actor=user)
        order_mark_paid(order=bought, actor=operator, reference="bank transfer 12")
    resource = Resource.objects.get(orders=bought)
    assert BillingSubscription.objects.get(order=bought).status == "manual"

    # When the buyer upgrades to Pro and pays at Checkout
    order = _upgrade_order(resource, pro, user)
    events = _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)

    # Then the Starter month paid by transfer is credited on Checkout (just begun: all but seconds of it) ...
    (coupon_call,) = stripe_fake.calls("POST", "/v1/coupons")
    credit = int(coupon_call.params["amount_off"])
    assert 1890 <= credit <= 1900
    assert (coupon_call.params["currency"], coupon_call.params["duration"]) == ("usd", "once")
    (session_call,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    (coupon,) = stripe_fake.of_type("coupon")
    assert session_call.params["discounts"] == [{"coupon": coupon["id"]}]
    assert events["invoice.paid"]["data"]["object"]["amount_paid"] == pro.price_minor - credit
    # ... and Stripe bills it from now on, and the billing page shows it once, as Stripe's
    resource.refresh_from_db()
    assert resource.plan == pro
    assert is_stripe_billed(resource) is True
    client.force_login(user)
    page = client.get(reverse("billing:organization-billing", args=[organization.uuid]))
    assert [(item.order, item.status) for item in page.context["subscriptions"]] == [(order, "active")]


def test_no_checkout_for_the_plan_change_of_a_subscription_that_is_not_active(
    stripe_fake, free_resource, pro, user
):
    # Given an upgrade waiting for payment, and the subscription failed meanwhile
    order = _upgrade_order(free_resource, pro, user)
    Resource.objects.filter(pk=free_resource.pk).update(state=ResourceState.ERRED)

    # When
    response = client_for(user).post(
        reverse("stripe-checkout"),
        {
            "order_uuid": str(order.uuid),
            "success_url": "https://cmp.example/paid/",
            "cancel_url": "https://cmp.example/cancelled/",
        },
        format="json",
    )

    # Then
    assert response.status_code == 409
    assert response.json()["detail"] == "Only an active subscription can change plan."
    assert stripe_fake.calls("POST", "/v1/checkout/sessions") == []
    assert BillingSubscription.objects.exists() is False


@pytest.mark.parametrize(
    ("days_used", "new_price", "credit"),
    [
        (15, 4900, 950),  # half of a 30-day Starter month left: half of its 1,900
        (30, 4900, 0),  # the paid month is over: nothing to credit, no coupon
        (10, 9900, 1267),  # two thirds left
    ],
)
def test_the_unused_part_of_a_manually_paid_period_is_credited_once(
    stripe_fake,
    pro,
    organization,
    user,
    operator,
    client,
    django_capture_on_commit_callbacks,
    days_used,
    new_price,
    credit,
):
    # Given Starter paid by transfer for a 30-day period, `days_used` days ago
    starter = PlanFactory(offering=pro.offering, name="Starter", price_minor=1900, currency="USD")
    target = PlanFactory(offering=pro.offering, name="Target", price_minor=new_price, currency="USD")
    with django_capture_on_commit_callbacks(execute=True):
        bought = order_create(organization=organization, plan=starter, actor=user)
        order_mark_paid(order=bought, actor=operator, reference="bank transfer 13")
    start = timezone.now() - datetime.timedelta(days=days_used)
    Resource.objects.filter(orders=bought).update(
        current_period_start=start, current_period_end=start + datetime.timedelta(days=30)
    )
    order = _upgrade_order(Resource.objects.get(orders=bought), target, user)

    # When the buyer looks at what is due, then opens Checkout
    client.force_login(user)
    pay_page = client.get(reverse("billing:order-pay", args=[order.uuid]))
    start_checkout(client_for(user), order)

    # Then
    coupons = stripe_fake.calls("POST", "/v1/coupons")
    (session_call,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert abs(pay_page.context["credit_minor"] - credit) <= 1
    assert ("for the unused part of the Starter period" in pay_page.content.decode()) is (credit > 0)
    if credit == 0:
        assert coupons == []
        assert "discounts" not in session_call.params
    else:
        (coupon_call,) = coupons
        assert abs(int(coupon_call.params["amount_off"]) - credit) <= 1  # the clock moved a little
        assert coupon_call.params["name"] == "Unused Starter time"
        assert coupon_call.params["metadata"] == {
            "order_uuid": str(order.uuid),
            "reason": "manual_period_credit",
        }
        assert int(coupon_call.params["redeem_by"]) > time.time() + 24 * 3600
        assert session_call.params["discounts"] == [{"coupon": stripe_fake.of_type("coupon")[0]["id"]}]


def test_a_subscription_stripe_bills_gets_no_credit_coupon(
    stripe_fake, free_resource, pro, user, client, django_capture_on_commit_callbacks
):
    # A free subscription paid nothing: moving to Pro is charged in full
    order = _upgrade_order(free_resource, pro, user)

    events = _pay(stripe_fake, client, order, user, django_capture_on_commit_callbacks)

    assert stripe_fake.calls("POST", "/v1/coupons") == []
    assert events["invoice.paid"]["data"]["object"]["amount_paid"] == pro.price_minor
