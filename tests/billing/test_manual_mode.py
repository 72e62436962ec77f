"""Without a Stripe key: operators mark orders paid, invoices are recorded locally, pages say so."""

import pytest
from django.urls import reverse

from billing.models import BillingSubscription, Invoice
from marketplace.models import OrderState, Resource, ResourceState
from marketplace.services.orders import order_approve, order_mark_paid
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_an_operator_marking_an_order_paid_records_a_local_invoice(
    manual_mode, order, operator, django_capture_on_commit_callbacks
):
    # When
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order=order, actor=operator, reference="bank transfer 42")

    # Then
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert Resource.objects.get(organization=order.organization).state == ResourceState.OK
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.is_manual, invoice.amount_paid_minor, invoice.currency) == (
        "paid",
        True,
        2900,
        "USD",
    )
    assert invoice.platform_fee_minor == 580
    assert invoice.number.startswith("CMP-")
    assert BillingSubscription.objects.get(order=order).status == "manual"


def test_an_order_approved_without_payment_has_no_invoice(
    manual_mode, order, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order_approve(order=order, actor=operator)

    assert not Invoice.objects.exists()


def test_checkout_is_refused_in_manual_mode(manual_mode, order, user):
    response = client_for(user).post(
        reverse("stripe-checkout"),
        {
            "order_uuid": str(order.uuid),
            "success_url": "https://a.example/",
            "cancel_url": "https://a.example/",
        },
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "manual_mode"


def test_config_says_stripe_is_off(manual_mode, api_client):
    response = api_client.get(reverse("stripe-config"))

    assert response.json() == {"publishable_key": "", "enabled": False}


def test_webhooks_are_refused_when_stripe_is_off(manual_mode, client):
    response = client.post(
        reverse("stripe-webhook"),
        data=b"{}",
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=00",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "webhooks_disabled"


def test_pages_say_which_mode_is_on(manual_mode, order, user, client):
    client.force_login(user)

    pay_page = client.get(reverse("billing:order-pay", args=[order.uuid])).content.decode()
    billing_page = client.get(
        reverse("billing:organization-billing", args=[order.organization.uuid])
    ).content.decode()

    assert "Manual payments." in pay_page
    assert "An operator confirms this payment" in pay_page
    assert "Manual payments." in billing_page
    assert "How to pay" in billing_page


def test_free_plans_need_no_payment(manual_mode, organization, user, django_capture_on_commit_callbacks):
    from marketplace.services.orders import order_create
    from tests.marketplace.factories import PlanFactory

    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=organization, plan=PlanFactory(price_minor=0), actor=user)

    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert not Invoice.objects.exists()
