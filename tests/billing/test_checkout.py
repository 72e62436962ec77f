"""Starting a payment: the Checkout session we ask Stripe for, prices following plans, and who may pay."""

import pytest
from django.urls import reverse

from billing.models import BillingCustomer, SellerPayoutAccount, StripePrice, StripeProduct
from marketplace.models import OrderState
from marketplace.services.orders import order_create
from tests.billing.conftest import start_checkout
from tests.conftest import client_for
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, PlanFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_checkout_asks_stripe_for_a_subscription_session_for_the_order(stripe_fake, order, user):
    # When
    body = start_checkout(client_for(user), order)

    # Then
    session = stripe_fake.objects[body["session_id"]]
    assert body["checkout_url"] == f"https://checkout.stripe.com/c/pay/{body['session_id']}"
    customer = BillingCustomer.objects.get(organization=order.organization)
    price = StripePrice.objects.get(plan=order.plan, kind="fixed")
    assert session["mode"] == "subscription"
    assert session["customer"] == customer.stripe_customer_id
    assert session["client_reference_id"] == str(order.uuid)
    assert session["line_items"] == [{"price": price.stripe_price_id, "quantity": "1"}]
    assert session["subscription_data"] == {
        "metadata": {
            "order_uuid": str(order.uuid),
            "organization_uuid": str(order.organization.uuid),
            "offering_uuid": str(order.offering.uuid),
            "plan_uuid": str(order.plan.uuid),
        }
    }
    stripe_price = stripe_fake.objects[price.stripe_price_id]
    assert (stripe_price["unit_amount"], stripe_price["currency"]) == (2900, "usd")
    assert stripe_price["recurring"]["interval"] == "month"
    order.refresh_from_db()
    assert order.state == OrderState.PENDING_PAYMENT  # the session grants nothing


def test_one_customer_per_organisation_and_one_price_per_plan_terms(stripe_fake, order, user, organization):
    # Given a first checkout
    client = client_for(user)
    start_checkout(client, order)
    second = order_create(organization=organization, plan=order.plan, actor=user)

    # When the same organisation pays another order for the same plan
    start_checkout(client, second)

    # Then Stripe was asked for one customer, one product and one price
    assert len(stripe_fake.calls("POST", "/v1/customers")) == 1
    assert len(stripe_fake.calls("POST", "/v1/products")) == 1
    assert len(stripe_fake.calls("POST", "/v1/prices")) == 1
    assert len(stripe_fake.calls("POST", "/v1/checkout/sessions")) == 2


def test_a_price_change_makes_a_new_stripe_price(stripe_fake, order, user, organization):
    # Given
    start_checkout(client_for(user), order)
    plan = order.plan
    plan.price_minor = 3900
    plan.save(update_fields=["price_minor"])

    # When
    start_checkout(client_for(user), order_create(organization=organization, plan=plan, actor=user))

    # Then
    prices = list(
        StripePrice.objects.filter(plan=plan).order_by("unit_amount").values_list("unit_amount", flat=True)
    )
    assert prices == [2900, 3900]
    assert StripeProduct.objects.filter(offering=plan.offering).count() == 1


def test_a_connected_seller_gets_the_payment_minus_the_platform_fee(stripe_fake, order, user, settings):
    # Given the seller finished Connect onboarding
    settings.PLATFORM_FEE_PERCENT = 20
    SellerPayoutAccount.objects.create(
        provider=order.offering.provider,
        stripe_account_id="acct_seller1",
        charges_enabled=True,
        payouts_enabled=True,
    )

    # When
    body = start_checkout(client_for(user), order)

    # Then
    data = stripe_fake.objects[body["session_id"]]["subscription_data"]
    assert data["application_fee_percent"] == "20"
    assert data["transfer_data"] == {"destination": "acct_seller1"}


def test_overage_plans_add_a_metered_price_on_the_meter(stripe_fake, organization, user):
    # Given
    plan = PlanFactory(price_minor=4900, monthly_quota_calls=1000, overage_price_per_1000_minor=250)
    order = order_create(organization=organization, plan=plan, actor=user)

    # When
    body = start_checkout(client_for(user), order)

    # Then
    metered = StripePrice.objects.get(plan=plan, kind="metered")
    line_items = stripe_fake.objects[body["session_id"]]["line_items"]
    assert line_items[1] == {"price": metered.stripe_price_id}
    stripe_price = stripe_fake.objects[metered.stripe_price_id]
    meter = stripe_fake.of_type("billing.meter")[0]
    assert stripe_price["recurring"] == {"interval": "month", "usage_type": "metered", "meter": meter["id"]}
    assert stripe_price["transform_quantity"] == {"divide_by": "1000", "round": "up"}
    assert stripe_price["unit_amount"] == 250


def test_checkout_of_another_organisations_order_is_404_and_asks_stripe_nothing(stripe_fake, order):
    # Given
    stranger = UserFactory()
    MembershipFactory(organization=OrganizationFactory(), user=stranger)

    # When
    response = client_for(stranger).post(
        reverse("stripe-checkout"),
        {
            "order_uuid": str(order.uuid),
            "success_url": "https://a.example/",
            "cancel_url": "https://a.example/",
        },
        format="json",
    )

    # Then
    assert response.status_code == 404
    assert stripe_fake.requests == []


def test_checkout_of_an_order_not_waiting_for_payment_is_a_conflict(stripe_fake, order, user):
    # Given
    order.state = OrderState.CANCELED
    order.save(update_fields=["state"])

    # When
    response = client_for(user).post(
        reverse("stripe-checkout"),
        {
            "order_uuid": str(order.uuid),
            "success_url": "https://a.example/",
            "cancel_url": "https://a.example/",
        },
        format="json",
    )

    # Then
    assert response.status_code == 409
    assert response.json()["code"] == "not_payable"
    assert stripe_fake.calls("POST", "/v1/checkout/sessions") == []


def test_checkout_needs_a_sign_in(stripe_fake, order, api_client):
    response = api_client.post(reverse("stripe-checkout"), {"order_uuid": str(order.uuid)}, format="json")

    assert response.status_code in (401, 403)


def test_config_tells_anyone_the_publishable_key(stripe_fake, api_client):
    response = api_client.get(reverse("stripe-config"))

    assert response.status_code == 200
    assert response.json() == {"publishable_key": "pk_test_cmp_fake", "enabled": True}


def test_stripe_refusing_a_request_becomes_our_error(stripe_fake, order, user):
    # Given Stripe answers every request with 401 (a wrong key)
    stripe_fake.api_key = "sk_test_other"

    # When
    response = client_for(user).post(
        reverse("stripe-checkout"),
        {
            "order_uuid": str(order.uuid),
            "success_url": "https://a.example/",
            "cancel_url": "https://a.example/",
        },
        format="json",
    )

    # Then
    assert response.status_code == 502
    assert response.json()["code"] == "payment_provider_rejected"
    assert not BillingCustomer.objects.exists()


def test_pay_page_sends_the_buyer_to_stripe(stripe_fake, order, user, client):
    # Given
    client.force_login(user)

    # When
    response = client.post(reverse("billing:order-pay", args=[order.uuid]))

    # Then
    session = stripe_fake.of_type("checkout.session")[0]
    assert response.status_code == 303
    assert response["Location"] == session["url"]
    assert session["success_url"].endswith(
        f"/billing/orders/{order.uuid}/paid/?session_id={{CHECKOUT_SESSION_ID}}"
    )
