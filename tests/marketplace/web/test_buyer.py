"""Ordering from the web, following an order, the organisation dashboard, access to other organisations."""

from urllib.parse import quote

import pytest
from django.urls import reverse

from marketplace.models import Order, OrderState, Organization, Resource, ResourceState
from tests.marketplace.factories import (
    MembershipFactory,
    OrderFactory,
    OrganizationFactory,
    PlanFactory,
    ResourceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_anonymous_order_goes_to_sign_in_and_comes_back(client):
    plan = PlanFactory()
    url = reverse("marketplace:order-plan", args=[plan.uuid])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={quote(url)}"
    assert Order.objects.count() == 0


def test_signed_in_buyer_orders_a_paid_plan_for_the_chosen_organisation(client, user, organization):
    other = OrganizationFactory(name="Second Org")
    MembershipFactory(organization=other, user=user, role="manager")
    plan = PlanFactory(price_minor=2900)
    client.force_login(user)
    url = reverse("marketplace:order-plan", args=[plan.uuid])
    page = client.get(url)
    assert page.status_code == 200
    names = sorted(org.name for org in page.context["organizations"])
    assert names == sorted([organization.name, "Second Org"])

    response = client.post(url, {"organization": str(other.uuid)})

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("marketplace:order-detail", args=[order.uuid])
    assert (order.organization, order.plan, order.cost_minor) == (other, plan, 2900)
    assert order.state == "pending_payment"
    detail = client.get(response["Location"])
    assert "Waiting for payment" in detail.content.decode()
    assert detail.context["can_cancel"] is True


def test_free_plan_order_ends_done_with_an_active_subscription(
    client, user, organization, django_capture_on_commit_callbacks
):
    plan = PlanFactory(price_minor=0, name="Free")
    client.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("marketplace:order-plan", args=[plan.uuid]), {"organization": str(organization.uuid)}
        )

    order = Order.objects.get()
    assert response.status_code == 302
    assert order.state == OrderState.DONE
    assert order.resource.state == ResourceState.OK
    dashboard = client.get(reverse("marketplace:organization-dashboard", args=[organization.uuid]))
    assert [resource.pk for resource in dashboard.context["subscriptions"]] == [order.resource.pk]


def test_member_without_managing_role_cannot_order(client):
    user = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=user, role="member")
    plan = PlanFactory()
    client.force_login(user)

    response = client.post(
        reverse("marketplace:order-plan", args=[plan.uuid]), {"organization": str(organization.uuid)}
    )

    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_ordering_for_another_users_organisation_is_refused(client, user, organization):
    stranger_org = OrganizationFactory()
    plan = PlanFactory()
    client.force_login(user)

    response = client.post(
        reverse("marketplace:order-plan", args=[plan.uuid]), {"organization": str(stranger_org.uuid)}
    )

    assert response.status_code == 400
    assert "organization" in response.context["form"].errors
    assert Order.objects.count() == 0


def test_user_without_organisation_gets_one_when_ordering(client):
    user = UserFactory(full_name="Ada Lovelace")
    plan = PlanFactory()
    client.force_login(user)

    response = client.get(reverse("marketplace:order-plan", args=[plan.uuid]))

    assert response.status_code == 200
    assert [org.name for org in response.context["organizations"]] == ["Ada Lovelace's Organization"]


def test_buyer_cancels_a_pending_order(client, user, organization):
    order = OrderFactory(organization=organization)
    client.force_login(user)

    response = client.post(reverse("marketplace:order-cancel", args=[order.uuid]))

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.state == OrderState.CANCELED


def test_cancelling_a_done_order_shows_a_message_and_changes_nothing(client, user, organization):
    order = OrderFactory(organization=organization, state="done")
    client.force_login(user)

    response = client.post(reverse("marketplace:order-cancel", args=[order.uuid]), follow=True)

    assert response.status_code == 200
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert "This order is done, so it cannot be cancelled." in response.content.decode()


def test_dashboard_redirects_to_the_first_organisation_or_creates_one(client, user, organization):
    client.force_login(user)
    response = client.get(reverse("marketplace:dashboard"))
    assert response["Location"] == reverse("marketplace:organization-dashboard", args=[organization.uuid])

    newcomer = UserFactory(full_name="Grace Hopper")
    client.force_login(newcomer)
    response = client.get(reverse("marketplace:dashboard"))
    created = Organization.objects.get(memberships__user=newcomer)
    assert created.name == "Grace Hopper's Organization"
    assert response["Location"] == reverse("marketplace:organization-dashboard", args=[created.uuid])


def test_empty_dashboard_invites_to_browse(client, user, organization):
    client.force_login(user)

    response = client.get(reverse("marketplace:organization-dashboard", args=[organization.uuid]))

    assert response.status_code == 200
    assert "Browse the marketplace" in response.content.decode()


def test_change_plan_and_cancel_subscription(client, user, organization, django_capture_on_commit_callbacks):
    resource = ResourceFactory(organization=organization, plan__price_minor=9900)
    cheaper = PlanFactory(offering=resource.offering, name="Lite", price_minor=900)
    client.force_login(user)
    base = f"/organizations/{organization.uuid}/subscriptions/{resource.uuid}"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{base}/change-plan/", {f"{resource.uuid}-plan": str(cheaper.uuid)})
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.plan == cheaper

    refused = client.post(f"{base}/cancel/", follow=True)
    resource.refresh_from_db()
    assert resource.state == ResourceState.OK
    assert "Tick the box" in refused.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{base}/cancel/", {"confirm": "yes"})
    resource.refresh_from_db()
    assert resource.state == ResourceState.TERMINATED


@pytest.mark.parametrize("name", ["organization-dashboard", "organization-orders"])
def test_another_organisations_pages_are_404(client, user, organization, name):
    stranger_org = OrganizationFactory()
    client.force_login(user)

    assert client.get(reverse(f"marketplace:{name}", args=[stranger_org.uuid])).status_code == 404


def test_another_organisations_order_and_subscription_are_404(client, user, organization):
    order = OrderFactory()
    resource = ResourceFactory()
    client.force_login(user)

    assert client.get(reverse("marketplace:order-detail", args=[order.uuid])).status_code == 404
    assert client.post(reverse("marketplace:order-cancel", args=[order.uuid])).status_code == 404
    url = f"/organizations/{organization.uuid}/subscriptions/{resource.uuid}/cancel/"
    assert client.post(url, {"confirm": "yes"}).status_code == 404
    order.refresh_from_db()
    resource.refresh_from_db()
    assert (order.state, resource.state) == ("pending_payment", "ok")
    assert Resource.objects.filter(state="terminated").count() == 0
