"""Stripe's webhook: signed events stored once, processed idempotently in any order; the only way in."""

import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import RequestFactory
from django.urls import reverse

from billing.admin import WebhookEventAdmin
from billing.models import BillingSubscription, Invoice, WebhookEvent
from marketplace.models import OrderState, Resource, ResourceState
from tests.billing.conftest import deliver, start_checkout
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_events(stripe_fake, order, user):
    """The buyer paid at Checkout; the events Stripe sends for it, not delivered yet."""
    session_id = start_checkout(client_for(user), order)["session_id"]
    return stripe_fake.complete_checkout(session_id)


def test_paid_checkout_makes_exactly_one_subscription(
    stripe_fake, order, paid_events, client, django_capture_on_commit_callbacks
):
    # When
    response = deliver(
        client, stripe_fake, paid_events["checkout.session.completed"], django_capture_on_commit_callbacks
    )

    # Then
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert order.payment_reference.startswith("sub_")
    resource = Resource.objects.get(organization=order.organization)
    assert resource.state == ResourceState.OK
    billing = BillingSubscription.objects.get(order=order)
    assert billing.status == "active"
    assert billing.stripe_subscription_id == order.payment_reference
    assert resource.current_period_end == billing.current_period_end
    event = WebhookEvent.objects.get()
    assert (event.type, event.status, event.attempts) == ("checkout.session.completed", "processed", 1)


def test_the_same_event_twice_changes_nothing_the_second_time(
    stripe_fake, order, paid_events, client, django_capture_on_commit_callbacks
):
    # Given
    event = paid_events["checkout.session.completed"]
    deliver(client, stripe_fake, event, django_capture_on_commit_callbacks)

    # When
    response = deliver(client, stripe_fake, event, django_capture_on_commit_callbacks)

    # Then
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": True}
    assert Resource.objects.filter(organization=order.organization).count() == 1
    assert WebhookEvent.objects.count() == 1
    assert order.events.filter(to_state=OrderState.EXECUTING).count() == 1


def test_every_event_of_a_payment_in_any_order_makes_one_subscription_and_one_invoice(
    stripe_fake, order, paid_events, client, django_capture_on_commit_callbacks
):
    # Given Stripe delivers invoice.paid before checkout.session.completed, and both twice
    invoice_paid, completed = paid_events["invoice.paid"], paid_events["checkout.session.completed"]

    # When
    for event in (invoice_paid, completed, invoice_paid, completed):
        assert deliver(client, stripe_fake, event, django_capture_on_commit_callbacks).status_code == 200

    # Then
    assert Resource.objects.filter(organization=order.organization, state=ResourceState.OK).count() == 1
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.amount_paid_minor, invoice.currency) == ("paid", 2900, "USD")
    assert invoice.order == order
    assert invoice.invoice_pdf.endswith("/pdf")
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_a_late_subscription_snapshot_does_not_undo_a_newer_state(
    stripe_fake, order, paid_events, client, django_capture_on_commit_callbacks
):
    # Given the subscription is paid, then later fails a renewal (past due at Stripe now)
    deliver(
        client, stripe_fake, paid_events["checkout.session.completed"], django_capture_on_commit_callbacks
    )
    subscription_id = BillingSubscription.objects.get(order=order).stripe_subscription_id
    stale = stripe_fake.event("customer.subscription.updated", stripe_fake.objects[subscription_id])
    stripe_fake.fail_renewal(subscription_id)

    # When an old "active" snapshot arrives last
    deliver(client, stripe_fake, stale, django_capture_on_commit_callbacks)

    # Then we follow Stripe's current state, not the stale snapshot
    assert BillingSubscription.objects.get(order=order).status == "past_due"


def test_a_bad_signature_is_400_and_nothing_is_stored(
    stripe_fake, order, paid_events, client, django_capture_on_commit_callbacks
):
    # When
    response = deliver(
        client,
        stripe_fake,
        paid_events["checkout.session.completed"],
        django_capture_on_commit_callbacks,
        secret="whsec_someone_else",
    )

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()
    order.refresh_from_db()
    assert order.state == OrderState.PENDING_PAYMENT
    assert not Resource.objects.exists()


def test_an_old_signature_is_refused(
    stripe_fake, order, paid_events, client, django_capture_on_commit_callbacks
):
    response = deliver(
        client,
        stripe_fake,
        paid_events["checkout.session.completed"],
        django_capture_on_commit_callbacks,
        timestamp=1_000_000_000,
    )

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_missing_signature_is_refused(client):
    response = client.post(reverse("stripe-webhook"), data=b"{}", content_type="application/json")

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_the_success_page_grants_nothing(stripe_fake, order, paid_events, user, client):
    # Given the buyer is back from Stripe, but no webhook has arrived
    client.force_login(user)

    # When
    response = client.get(reverse("billing:order-paid", args=[order.uuid]) + "?session_id=cs_forged")

    # Then
    assert response.status_code == 200
    assert b"Confirming your payment" in response.content
    order.refresh_from_db()
    assert order.state == OrderState.PENDING_PAYMENT
    assert not Resource.objects.exists()


def test_a_declined_payment_makes_nothing_says_why_and_a_retry_works(
    stripe_fake, order, user, client, django_capture_on_commit_callbacks
):
    # Given the card is declined on the first attempt
    api = client_for(user)
    first = start_checkout(api, order)["session_id"]
    declined = stripe_fake.complete_checkout(first, card_declined=True)

    # When
    deliver(client, stripe_fake, declined["invoice.payment_failed"], django_capture_on_commit_callbacks)

    # Then no subscription, and the pay page says what happened
    order.refresh_from_db()
    assert order.state == OrderState.PENDING_PAYMENT
    assert not Resource.objects.exists()
    client.force_login(user)
    page = client.get(reverse("billing:order-pay", args=[order.uuid]))
    assert "Your payment of 29.00 USD was declined." in page.content.decode()
    assert Invoice.objects.get().status == "open"

    # When the buyer tries again with another card
    second = start_checkout(api, order)["session_id"]
    paid = stripe_fake.complete_checkout(second)
    deliver(client, stripe_fake, paid["checkout.session.completed"], django_capture_on_commit_callbacks)

    # Then
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert Resource.objects.filter(state=ResourceState.OK).count() == 1
    billing = BillingSubscription.objects.get(order=order)
    assert (
        billing.stripe_subscription_id == paid["checkout.session.completed"]["data"]["object"]["subscription"]
    )
    assert billing.last_payment_error == ""


def test_an_unhandled_event_type_is_stored_and_ignored(
    stripe_fake, client, django_capture_on_commit_callbacks
):
    event = stripe_fake.event("customer.created", {"id": "cus_x", "object": "customer"})

    response = deliver(client, stripe_fake, event, django_capture_on_commit_callbacks)

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"


def test_a_failing_event_is_kept_with_its_error_and_can_be_replayed_from_admin(
    stripe_fake, order, paid_events, client, operator, django_capture_on_commit_callbacks
):
    # Given Stripe is down while the event is processed
    stripe_fake.api_key = "sk_test_rotated"
    deliver(
        client, stripe_fake, paid_events["checkout.session.completed"], django_capture_on_commit_callbacks
    )
    event = WebhookEvent.objects.get()
    assert event.status == "failed"
    assert "refused the request" in event.last_error
    assert not Resource.objects.exists()

    # When Stripe works again and an operator replays the event
    stripe_fake.api_key = "sk_test_cmp_fake"
    request = RequestFactory().post("/admin/billing/webhookevent/")
    request.user = operator
    model_admin = WebhookEventAdmin(WebhookEvent, admin_site)
    model_admin.message_user = lambda *args, **kwargs: None
    with django_capture_on_commit_callbacks(execute=True):
        model_admin.replay_events(request, WebhookEvent.objects.all())

    # Then
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    assert Resource.objects.filter(state=ResourceState.OK).count() == 1


def test_admin_lists_webhook_events(
    stripe_fake, paid_events, client, operator, django_capture_on_commit_callbacks
):
    deliver(client, stripe_fake, paid_events["invoice.paid"], django_capture_on_commit_callbacks)
    client.force_login(operator)

    response = client.get(reverse("admin:billing_webhookevent_changelist"))

    assert response.status_code == 200
    assert b"invoice.paid" in response.content


def test_a_second_subscription_paid_late_is_cancelled_and_refunded_once(
    stripe_fake, order, user, client, django_capture_on_commit_callbacks
):
    # Given the buyer opened two checkouts, paid the second, and the first got paid late
    from billing.models import DuplicateSubscription

    api = client_for(user)
    abandoned = start_checkout(api, order)["session_id"]
    kept = stripe_fake.complete_checkout(start_checkout(api, order)["session_id"])
    deliver(client, stripe_fake, kept["checkout.session.completed"], django_capture_on_commit_callbacks)
    kept_id = BillingSubscription.objects.get(order=order).stripe_subscription_id
    late = stripe_fake.complete_checkout(abandoned)
    late_id = late["checkout.session.completed"]["data"]["object"]["subscription"]

    # When Stripe's events for the late one arrive (twice, in any order)
    for event in (late["invoice.paid"], late["checkout.session.completed"], late["invoice.paid"]):
        assert deliver(client, stripe_fake, event, django_capture_on_commit_callbacks).status_code == 200

    # Then it is cancelled in Stripe without proration, and its first payment refunded in full, once
    assert stripe_fake.objects[late_id]["status"] == "canceled"
    cancel = stripe_fake.calls("DELETE", f"/v1/subscriptions/{late_id}")
    assert len(cancel) == 1
    assert (cancel[0].params["prorate"], cancel[0].params["invoice_now"]) == ("false", "false")
    refunds = stripe_fake.of_type("refund")
    late_invoice = stripe_fake.objects[stripe_fake.objects[late_id]["latest_invoice"]]
    intent = stripe_fake.invoice_payments[late_invoice["id"]][0]["payment"]["payment_intent"]
    assert [(item["amount"], item["reason"], item["payment_intent"]) for item in refunds] == [
        (2900, "duplicate", intent)
    ]
    assert stripe_fake.objects[refunds[0]["charge"]]["refunded"] is True
    record = DuplicateSubscription.objects.get()
    assert (record.order, record.stripe_subscription_id, record.kept_subscription_id) == (
        order,
        late_id,
        kept_id,
    )
    assert (record.stripe_refund_id, record.amount_refunded_minor, record.currency) == (
        refunds[0]["id"],
        2900,
        "USD",
    )
    # and the subscription the buyer uses is untouched
    billing = BillingSubscription.objects.get(order=order)
    assert (billing.stripe_subscription_id, billing.status) == (kept_id, "active")
    assert stripe_fake.objects[kept_id]["status"] == "active"
    assert Resource.objects.filter(organization=order.organization, state=ResourceState.OK).count() == 1


def test_stripe_refuses_a_second_refund_of_the_same_payment(stripe_fake, order, user):
    """The double follows Stripe: a fully refunded charge cannot be refunded again."""
    import stripe

    session_id = start_checkout(client_for(user), order)["session_id"]
    invoice = stripe_fake.complete_checkout(session_id)["invoice.paid"]["data"]["object"]
    intent = stripe_fake.invoice_payments[invoice["id"]][0]["payment"]["payment_intent"]
    api = stripe.StripeClient(stripe_fake.api_key, base_addresses={"api": stripe_fake.url})
    api.v1.refunds.create(params={"payment_intent": intent, "reason": "duplicate"})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        api.v1.refunds.create(params={"payment_intent": intent})

    assert raised.value.code == "charge_already_refunded"


def test_processing_an_event_is_measured_for_the_webhook_lag_metric(
    stripe_fake, paid_events, client, django_capture_on_commit_callbacks
):
    from prometheus_client import REGISTRY

    labels = {"provider": "stripe"}
    before = REGISTRY.get_sample_value("cmp_webhook_processing_lag_seconds_count", labels) or 0

    deliver(
        client, stripe_fake, paid_events["checkout.session.completed"], django_capture_on_commit_callbacks
    )

    assert REGISTRY.get_sample_value("cmp_webhook_processing_lag_seconds_count", labels) == before + 1


def test_a_payment_for_an_order_cancelled_while_its_checkout_was_open_is_refunded(
    stripe_fake, order, user, client, django_capture_on_commit_callbacks
):
    # Given the buyer opened Stripe Checkout, then cancelled the order in CMP, then paid anyway
    from billing.models import DuplicateSubscription
    from marketplace.services.orders import order_cancel

    session_id = start_checkout(client_for(user), order)["session_id"]
    order_cancel(order=order, actor=user)
    events = stripe_fake.complete_checkout(session_id)
    subscription_id = events["checkout.session.completed"]["data"]["object"]["subscription"]

    # When Stripe's events arrive (twice)
    for event in (events["checkout.session.completed"], events["invoice.paid"], events["invoice.paid"]):
        assert deliver(client, stripe_fake, event, django_capture_on_commit_callbacks).status_code == 200

    # Then nothing is provided, the Stripe subscription is cancelled and the payment refunded once
    order.refresh_from_db()
    assert order.state == OrderState.CANCELED
    assert Resource.objects.filter(organization=order.organization).count() == 0
    assert stripe_fake.objects[subscription_id]["status"] == "canceled"
    refunds = stripe_fake.of_type("refund")
    assert [(item["amount"], item["reason"]) for item in refunds] == [(2900, "duplicate")]
    record = DuplicateSubscription.objects.get()
    assert (record.stripe_subscription_id, record.kept_subscription_id) == (subscription_id, "")
    assert record.amount_refunded_minor == 2900
