"""A paid subscription over time: failed renewals and the grace period, cancellation, plan changes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingSubscription
from billing.services.subscriptions import grace_period_enforce_all, scheduled_changes_apply
from marketplace.models import OrderState, OrderType, Resource, ResourceState
from marketplace.services.orders import order_terminate
from site_agent.models import ConfigState, CustomerAgentConfig
from site_agent.services.api_keys import api_key_check, api_key_create
from tests.billing.conftest import deliver, start_checkout
from tests.conftest import client_for
from tests.marketplace.factories import PlanFactory
from tests.site_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(stripe_fake, order, user, client, django_capture_on_commit_callbacks):
    """A paid Stripe subscription (of an offering without an agent) and its first invoice."""
    session_id = start_checkout(client_for(user), order)["session_id"]
    events = stripe_fake.complete_checkout(session_id)
    for event_type in ("checkout.session.completed", "invoice.paid"):
        deliver(client, stripe_fake, events[event_type], django_capture_on_commit_callbacks)
    resource = Resource.objects.get(organization=order.organization)
    return {"resource": resource, "billing": BillingSubscription.objects.get(order=order)}


@pytest.fixture
def subscribed(paid, user):
    """The paid subscription, with an agent config and a working API key (made here, not by provisioning)."""
    resource = paid["resource"]
    agent = AgentFactory()
    config = CustomerAgentConfig.objects.create(
        resource=resource,
        organization=resource.organization,
        agent=agent,
        agent_version=agent.current_version,
        agent_name="Helper",
        widget_id="wid_billing_test",
    )
    _key, plaintext = api_key_create(config=config, name="site", actor=user)
    return {**paid, "config": config, "key": plaintext}


def test_a_failed_renewal_is_past_due_and_keys_work_during_the_grace_period(
    stripe_fake, subscribed, client, django_capture_on_commit_callbacks
):
    # When
    events = stripe_fake.fail_renewal(subscribed["billing"].stripe_subscription_id)
    deliver(client, stripe_fake, events["invoice.payment_failed"], django_capture_on_commit_callbacks)

    # Then
    billing = BillingSubscription.objects.get(pk=subscribed["billing"].pk)
    assert billing.status == "past_due"
    assert billing.past_due_since is not None
    assert billing.suspended_at is None
    assert api_key_check(key=subscribed["key"]).valid is True


def test_after_the_grace_period_keys_are_refused_and_paying_restores_them(
    stripe_fake, subscribed, client, settings, django_capture_on_commit_callbacks
):
    # Given a renewal failed longer ago than the grace period
    settings.PAYMENT_GRACE_DAYS = 7
    subscription_id = subscribed["billing"].stripe_subscription_id
    failed = stripe_fake.fail_renewal(subscription_id)
    deliver(client, stripe_fake, failed["invoice.payment_failed"], django_capture_on_commit_callbacks)
    BillingSubscription.objects.filter(pk=subscribed["billing"].pk).update(
        past_due_since=timezone.now() - timedelta(days=8)
    )

    # When the hourly check runs
    with django_capture_on_commit_callbacks(execute=True):
        suspended = grace_period_enforce_all()

    # Then
    assert suspended == 1
    subscribed["config"].refresh_from_db()
    assert subscribed["config"].state == ConfigState.SUSPENDED
    check = api_key_check(key=subscribed["key"])
    assert (check.valid, check.reason) == (False, "suspended")

    # When the buyer pays the open invoice
    invoice_id = failed["invoice.payment_failed"]["data"]["object"]["id"]
    paid = stripe_fake.pay_invoice(invoice_id)
    deliver(client, stripe_fake, paid["invoice.paid"], django_capture_on_commit_callbacks)

    # Then
    billing = BillingSubscription.objects.get(pk=subscribed["billing"].pk)
    assert (billing.status, billing.past_due_since, billing.suspended_at) == ("active", None, None)
    subscribed["config"].refresh_from_db()
    assert subscribed["config"].state == ConfigState.ACTIVE
    assert api_key_check(key=subscribed["key"]).valid is True


def test_stripe_ending_the_subscription_cancels_ours_and_keys_are_rejected(
    stripe_fake, subscribed, client, django_capture_on_commit_callbacks
):
    # When
    events = stripe_fake.end_subscription(subscribed["billing"].stripe_subscription_id)
    deliver(client, stripe_fake, events["customer.subscription.deleted"], django_capture_on_commit_callbacks)

    # Then
    resource = Resource.objects.get(pk=subscribed["resource"].pk)
    assert resource.state == ResourceState.TERMINATED
    assert resource.orders.get(type=OrderType.TERMINATE).state == OrderState.DONE
    check = api_key_check(key=subscribed["key"])
    assert check.valid is False
    assert check.reason == "revoked"
    assert BillingSubscription.objects.get(pk=subscribed["billing"].pk).status == "canceled"


def test_cancelling_in_cmp_stops_the_stripe_subscription(
    stripe_fake, subscribed, user, django_capture_on_commit_callbacks
):
    # When the buyer cancels from the dashboard (marketplace's own cancellation)
    with django_capture_on_commit_callbacks(execute=True):
        order_terminate(resource=subscribed["resource"], actor=user)

    # Then Stripe was told, and our subscription is terminated
    subscription_id = subscribed["billing"].stripe_subscription_id
    assert [call.path for call in stripe_fake.calls("DELETE", "/v1/subscriptions")] == [
        f"/v1/subscriptions/{subscription_id}"
    ]
    assert stripe_fake.objects[subscription_id]["status"] == "canceled"
    assert Resource.objects.get(pk=subscribed["resource"].pk).state == ResourceState.TERMINATED
    assert api_key_check(key=subscribed["key"]).valid is False


def test_cancel_at_period_end_and_undo(stripe_fake, paid, user, client):
    # Given
    client.force_login(user)
    resource = paid["resource"]
    url = reverse("billing:subscription-cancel", args=[resource.organization.uuid, resource.uuid])
    subscription_id = paid["billing"].stripe_subscription_id

    # When
    response = client.post(url)

    # Then the subscription keeps working until the period ends
    assert response.status_code == 302
    assert stripe_fake.objects[subscription_id]["cancel_at_period_end"] is True
    assert BillingSubscription.objects.get(pk=paid["billing"].pk).cancel_at_period_end is True
    assert Resource.objects.get(pk=resource.pk).state == ResourceState.OK

    # When the buyer changes their mind
    client.post(url, {"undo": "1"})

    # Then
    assert stripe_fake.objects[subscription_id]["cancel_at_period_end"] is False
    assert BillingSubscription.objects.get(pk=paid["billing"].pk).cancel_at_period_end is False


def test_an_upgrade_is_charged_prorated_at_once(
    stripe_fake, paid, user, client, django_capture_on_commit_callbacks
):
    # Given
    resource = paid["resource"]
    pro = PlanFactory(offering=resource.offering, name="Pro", price_minor=9900)
    client.force_login(user)

    # When
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("billing:subscription-plan", args=[resource.organization.uuid, resource.uuid]),
            {f"{resource.uuid}-plan": str(pro.uuid)},
        )

    # Then
    assert response.status_code == 302
    update = stripe_fake.calls("POST", "/v1/subscriptions/")[-1].params
    assert update["proration_behavior"] == "always_invoice"
    assert update["payment_behavior"] == "error_if_incomplete"
    resource.refresh_from_db()
    assert (resource.plan, resource.state) == (pro, ResourceState.OK)
    change = resource.orders.get(type=OrderType.UPDATE)
    assert change.state == OrderState.DONE
    proration = [
        item for item in stripe_fake.of_type("invoice") if item["billing_reason"] == "subscription_update"
    ]
    assert [item["amount_due"] for item in proration] == [7000]


def test_a_declined_upgrade_keeps_the_plan_and_says_why(stripe_fake, paid, user, client):
    # Given
    resource = paid["resource"]
    starter = resource.plan
    pro = PlanFactory(offering=resource.offering, name="Pro", price_minor=9900)
    stripe_fake.decline_next_charge = True
    client.force_login(user)

    # When
    response = client.post(
        reverse("billing:subscription-plan", args=[resource.organization.uuid, resource.uuid]),
        {f"{resource.uuid}-plan": str(pro.uuid)},
        follow=True,
    )

    # Then
    assert "Your card was declined." in response.content.decode()
    resource.refresh_from_db()
    assert resource.plan == starter
    assert resource.orders.get(type=OrderType.UPDATE).state == OrderState.PENDING_PAYMENT


def test_a_downgrade_waits_for_the_end_of_the_paid_period(
    stripe_fake, paid, user, client, django_capture_on_commit_callbacks
):
    # Given
    resource = paid["resource"]
    starter = resource.plan
    lite = PlanFactory(offering=resource.offering, name="Lite", price_minor=900)
    client.force_login(user)

    # When
    client.post(
        reverse("billing:subscription-plan", args=[resource.organization.uuid, resource.uuid]),
        {f"{resource.uuid}-plan": str(lite.uuid)},
    )

    # Then Stripe bills Lite from the next period, and the buyer keeps Starter until then
    update = stripe_fake.calls("POST", "/v1/subscriptions/")[-1].params
    assert update["proration_behavior"] == "none"
    billing = BillingSubscription.objects.get(pk=paid["billing"].pk)
    assert billing.scheduled_plan == lite
    assert billing.scheduled_change_at == billing.current_period_end
    assert Resource.objects.get(pk=resource.pk).plan == starter
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduled_changes_apply() == 0

    # When the period ends
    BillingSubscription.objects.filter(pk=billing.pk).update(scheduled_change_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        applied = scheduled_changes_apply()

    # Then
    assert applied == 1
    resource.refresh_from_db()
    assert (resource.plan, resource.state) == (lite, ResourceState.OK)
    assert BillingSubscription.objects.get(pk=billing.pk).scheduled_plan is None


def test_billing_page_shows_the_subscription_and_history(stripe_fake, paid, user, client):
    client.force_login(user)
    organization = paid["resource"].organization

    billing_page = client.get(reverse("billing:organization-billing", args=[organization.uuid]))
    history = client.get(reverse("billing:organization-invoices", args=[organization.uuid]))

    assert billing_page.status_code == 200
    assert "Cancel at period end" in billing_page.content.decode()
    assert "Payments are processed by <strong>Stripe</strong>" in billing_page.content.decode()
    assert history.status_code == 200
    assert "$29" in history.content.decode()
    assert "Paid" in history.content.decode()
    assert "/pdf" in history.content.decode()


def test_the_customer_portal_link(stripe_fake, paid, user, client):
    client.force_login(user)
    organization = paid["resource"].organization

    response = client.post(reverse("billing:customer-portal", args=[organization.uuid]))

    assert response.status_code == 303
    assert response["Location"].startswith("https://billing.stripe.com/p/session/")
    assert stripe_fake.calls("POST", "/v1/billing_portal/sessions")[0].params["customer"] == (
        paid["billing"].stripe_customer_id
    )


def test_the_dashboard_change_plan_form_posts_to_billing(stripe_fake, paid, user, client):
    client.force_login(user)
    resource = paid["resource"]
    PlanFactory(offering=resource.offering, name="Lite", price_minor=900)

    page = client.get(reverse("marketplace:organization-dashboard", args=[resource.organization.uuid]))

    action = reverse("billing:subscription-plan", args=[resource.organization.uuid, resource.uuid])
    assert f'action="{action}"' in page.content.decode()


def test_a_downgrade_from_the_dashboard_waits_for_the_end_of_the_paid_period(
    stripe_fake, paid, user, client, django_capture_on_commit_callbacks
):
    # Given
    resource = paid["resource"]
    starter = resource.plan
    lite = PlanFactory(offering=resource.offering, name="Lite", price_minor=900)
    dashboard = reverse("marketplace:organization-dashboard", args=[resource.organization.uuid])
    client.force_login(user)

    # When the buyer posts the dashboard's form
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("billing:subscription-plan", args=[resource.organization.uuid, resource.uuid]),
            {f"{resource.uuid}-plan": str(lite.uuid), "next": dashboard},
        )

    # Then back to the dashboard, Lite scheduled for the period end, Starter kept until then
    assert (response.status_code, response["Location"]) == (302, dashboard)
    billing = BillingSubscription.objects.get(pk=paid["billing"].pk)
    assert (billing.scheduled_plan, billing.scheduled_change_at) == (lite, billing.current_period_end)
    resource.refresh_from_db()
    assert (resource.plan, resource.state) == (starter, ResourceState.OK)
    assert not resource.orders.filter(type=OrderType.UPDATE).exists()
    assert stripe_fake.calls("POST", "/v1/subscriptions/")[-1].params["proration_behavior"] == "none"


def test_a_plan_change_ignores_a_next_address_on_another_site(stripe_fake, paid, user, client):
    resource = paid["resource"]
    lite = PlanFactory(offering=resource.offering, name="Lite", price_minor=900)
    client.force_login(user)

    response = client.post(
        reverse("billing:subscription-plan", args=[resource.organization.uuid, resource.uuid]),
        {f"{resource.uuid}-plan": str(lite.uuid), "next": "https://evil.example/"},
    )

    assert response["Location"] == reverse("billing:organization-billing", args=[resource.organization.uuid])


def test_without_stripe_the_dashboard_change_is_a_plan_change_order(
    manual_mode, organization, user, client, operator, django_capture_on_commit_callbacks
):
    # Given a subscription paid by hand
    from marketplace.services.orders import order_create, order_mark_paid

    starter = PlanFactory(price_minor=2900)
    lite = PlanFactory(offering=starter.offering, name="Lite", price_minor=900)
    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=organization, plan=starter, actor=user)
        order_mark_paid(order=order, actor=operator)
    resource = Resource.objects.get(organization=organization)
    client.force_login(user)

    # When
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("billing:subscription-plan", args=[organization.uuid, resource.uuid]),
            {f"{resource.uuid}-plan": str(lite.uuid)},
        )

    # Then the cheaper plan applies at once, as before
    change = resource.orders.get(type=OrderType.UPDATE)
    assert response["Location"] == reverse("marketplace:order-detail", args=[change.uuid])
    assert change.state == OrderState.DONE
    resource.refresh_from_db()
    assert resource.plan == lite
