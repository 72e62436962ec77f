"""Bundles: a seller sells several offerings as one; buying it makes and provisions one subscription per
included offering under one Stripe subscription, and cancelling it cancels them all."""

import pytest
from django.urls import reverse

from billing.models import BillingSubscription, Bundle, BundleItem
from billing.services.bundles import bundle_create
from billing.services.subscriptions import grace_period_enforce_all
from cmp.errors import ApplicationError, ConflictError
from marketplace.models import Offering, OrderState, OrderType, Resource, ResourceState
from marketplace.services.orders import order_change_plan, order_create, order_mark_paid, order_terminate
from site_agent.models import ConfigState, CustomerAgentConfig
from tests.billing.conftest import deliver, start_checkout
from tests.conftest import client_for
from tests.marketplace.factories import OfferingFactory, PlanFactory, ServiceProviderFactory, category
from tests.site_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(organization):
    """The signed-in user's organisation sells."""
    return ServiceProviderFactory(organization=organization)


@pytest.fixture
def included(provider):
    """Two live offerings of the seller, each with a cheap and a dear plan; the bundle uses the dear ones."""
    pairs = []
    for name, capabilities in (("Support Agent", ["chat", "api"]), ("Sales Agent", ["chat", "scheduling"])):
        offering = OfferingFactory(provider=provider, name=name, capabilities=capabilities)
        PlanFactory(offering=offering, name="Starter", price_minor=2900, monthly_quota_calls=1000)
        pro = PlanFactory(offering=offering, name="Pro", price_minor=9900, monthly_quota_calls=10_000)
        pairs.append((offering, pro))
    return pairs


@pytest.fixture
def bundle_plan(provider, included, user):
    """A live bundle of the two offerings, sold at $149 a month."""
    bundle = bundle_create(
        provider=provider, category=category(), name="Front Office", items=included, actor=user
    )
    Offering.objects.filter(pk=bundle.offering.pk).update(state="active", description="Both agents.")
    return PlanFactory(offering=bundle.offering, name="Bundle", price_minor=14900, monthly_quota_calls=None)


@pytest.fixture
def bundle_buyer(db):
    from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory

    buyer = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=buyer, role="owner")
    return buyer, organization


def _included_of(bundle_resource: Resource) -> list[Resource]:
    """The subscriptions the bundle subscription includes, made in the order of the bundle's items."""
    return list(Resource.objects.filter(included_in=bundle_resource).select_related("plan").order_by("pk"))


def test_bundle_create_makes_a_draft_offering_with_its_items(provider, included, user):
    # When
    bundle = bundle_create(
        provider=provider,
        category=category(),
        name="Front Office",
        summary="Support and sales together.",
        items=included,
        actor=user,
    )

    # Then
    assert (bundle.offering.state, bundle.offering.provider) == ("draft", provider)
    assert bundle.offering.capabilities == ["chat", "api", "scheduling"]
    assert [(item.offering, item.plan) for item in bundle.items.all()] == included


@pytest.mark.parametrize(
    "problem",
    ["one_item", "other_seller", "not_live", "archived_plan", "plan_of_another_offering", "a_bundle"],
)
def test_bundle_create_refuses_what_cannot_be_bundled_and_creates_nothing(problem, provider, included, user):
    # Given
    items = list(included)
    offering, plan = items[1]
    if problem == "one_item":
        items = items[:1]
    elif problem == "other_seller":
        stranger = PlanFactory()
        items[1] = (stranger.offering, stranger)
    elif problem == "not_live":
        Offering.objects.filter(pk=offering.pk).update(state="paused")
        offering.refresh_from_db()
    elif problem == "archived_plan":
        plan.is_archived = True
        plan.save(update_fields=["is_archived"])
    elif problem == "plan_of_another_offering":
        items[1] = (offering, items[0][1])
    elif problem == "a_bundle":
        inner = bundle_create(
            provider=provider, category=category(), name="Inner", items=included, actor=user
        )
        Offering.objects.filter(pk=inner.offering.pk).update(state="active")
        inner_plan = PlanFactory(offering=inner.offering)
        items[1] = (Offering.objects.get(pk=inner.offering.pk), inner_plan)
    offerings_before, bundles_before = Offering.objects.count(), Bundle.objects.count()

    # When
    with pytest.raises(ApplicationError) as raised:
        bundle_create(provider=provider, category=category(), name="Nope", items=items, actor=user)

    # Then
    assert raised.value.errors["items"]
    assert (Offering.objects.count(), Bundle.objects.count()) == (offerings_before, bundles_before)


def test_paying_for_a_bundle_makes_one_stripe_subscription_and_a_subscription_per_included_offering(
    stripe_fake, bundle_plan, included, bundle_buyer, client, django_capture_on_commit_callbacks
):
    # Given
    buyer, organization = bundle_buyer
    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=organization, plan=bundle_plan, actor=buyer)
    events = stripe_fake.complete_checkout(start_checkout(client_for(buyer), order)["session_id"])

    # When
    for event_type in ("checkout.session.completed", "invoice.paid"):
        deliver(client, stripe_fake, events[event_type], django_capture_on_commit_callbacks)

    # Then one Stripe subscription, for the bundle's price
    assert len(stripe_fake.of_type("subscription")) == 1
    subscription = stripe_fake.of_type("subscription")[0]
    assert [item["price"]["unit_amount"] for item in subscription["items"]["data"]] == [14900]
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    bundle_resource = order.resource
    assert (bundle_resource.offering, bundle_resource.state) == (bundle_plan.offering, ResourceState.OK)
    # and a subscription per included offering, on the bundle's chosen plan, set up the normal way
    parts = _included_of(bundle_resource)
    assert [(part.offering, part.plan, part.state) for part in parts] == [
        (offering, plan, ResourceState.OK) for offering, plan in included
    ]
    assert Resource.objects.filter(organization=organization).count() == 3
    assert BillingSubscription.objects.get().order == order


def test_an_operator_marking_a_bundle_order_paid_sets_up_its_offerings_once(
    manual_mode, bundle_plan, included, bundle_buyer, operator, django_capture_on_commit_callbacks
):
    # Given
    buyer, organization = bundle_buyer
    order = order_create(organization=organization, plan=bundle_plan, actor=buyer)

    # When
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order=order, actor=operator, reference="bank transfer 7")

    # Then
    order.refresh_from_db()
    parts = _included_of(order.resource)
    assert [(part.plan, part.state) for part in parts] == [(plan, ResourceState.OK) for _o, plan in included]
    assert Resource.objects.filter(included_in=order.resource).count() == 2


def test_cancelling_a_bundle_cancels_every_included_subscription_and_the_stripe_subscription(
    stripe_fake, bundle_plan, bundle_buyer, client, django_capture_on_commit_callbacks
):
    # Given a paid bundle
    buyer, organization = bundle_buyer
    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=organization, plan=bundle_plan, actor=buyer)
    events = stripe_fake.complete_checkout(start_checkout(client_for(buyer), order)["session_id"])
    deliver(client, stripe_fake, events["checkout.session.completed"], django_capture_on_commit_callbacks)
    order.refresh_from_db()
    bundle_resource = order.resource

    # When the buyer cancels the bundle
    with django_capture_on_commit_callbacks(execute=True):
        order_terminate(resource=bundle_resource, actor=buyer)

    # Then
    bundle_resource.refresh_from_db()
    assert bundle_resource.state == ResourceState.TERMINATED
    parts = _included_of(bundle_resource)
    assert [part.state for part in parts] == [ResourceState.TERMINATED, ResourceState.TERMINATED]
    assert [part.orders.get().type for part in parts] == [OrderType.TERMINATE, OrderType.TERMINATE]
    subscription_id = BillingSubscription.objects.get(order=order).stripe_subscription_id
    assert [call.path for call in stripe_fake.calls("DELETE", "/v1/subscriptions")] == [
        f"/v1/subscriptions/{subscription_id}"
    ]


def test_an_overdue_bundle_suspends_the_agents_it_includes(
    manual_mode, bundle_plan, bundle_buyer, operator, settings, django_capture_on_commit_callbacks
):
    # Given a bundle whose included subscription has an agent config, and a payment overdue for long
    from datetime import timedelta

    from django.utils import timezone

    buyer, organization = bundle_buyer
    order = order_create(organization=organization, plan=bundle_plan, actor=buyer)
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order=order, actor=operator)
    order.refresh_from_db()
    part = _included_of(order.resource)[0]
    agent = AgentFactory()
    config = CustomerAgentConfig.objects.create(
        resource=part,
        organization=organization,
        agent=agent,
        agent_version=agent.current_version,
        agent_name="Helper",
        widget_id="wid_bundle_test",
    )
    BillingSubscription.objects.filter(order=order).update(
        status="past_due", past_due_since=timezone.now() - timedelta(days=settings.PAYMENT_GRACE_DAYS + 1)
    )

    # When
    with django_capture_on_commit_callbacks(execute=True):
        suspended = grace_period_enforce_all()

    # Then
    assert suspended == 1
    config.refresh_from_db()
    assert config.state == ConfigState.SUSPENDED


def test_the_seller_makes_a_bundle_from_the_bundles_page(provider, included, user, client):
    # Given
    client.force_login(user)
    url = reverse("billing:provider-bundles", args=[provider.uuid])
    (support, support_pro), (sales, sales_pro) = included

    # When
    page = client.get(url)
    response = client.post(
        url,
        {
            "name": "Front Office",
            "category": "agents",
            "summary": "Support and sales together.",
            "description": "",
            f"include_{support.uuid}": "on",
            f"plan_{support.uuid}": str(support_pro.uuid),
            f"include_{sales.uuid}": "on",
            f"plan_{sales.uuid}": str(sales_pro.uuid),
        },
    )

    # Then
    assert page.status_code == 200
    assert "Support Agent" in page.content.decode()
    bundle = Bundle.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "marketplace:provider-offering", args=[provider.uuid, bundle.offering.uuid]
    )
    assert set(BundleItem.objects.values_list("offering", "plan")) == {
        (support.pk, support_pro.pk),
        (sales.pk, sales_pro.pk),
    }


def test_the_bundles_page_shows_why_a_bundle_was_refused(provider, included, user, client):
    client.force_login(user)
    (support, support_pro), _sales = included

    response = client.post(
        reverse("billing:provider-bundles", args=[provider.uuid]),
        {
            "name": "Solo",
            "category": "agents",
            f"include_{support.uuid}": "on",
            f"plan_{support.uuid}": str(support_pro.uuid),
        },
    )

    assert response.status_code == 400
    assert "Choose between 2 and 10 offerings." in response.content.decode()
    assert Bundle.objects.count() == 0


def test_another_sellers_bundles_page_is_404(provider, client):
    from tests.marketplace.factories import UserFactory

    client.force_login(UserFactory())

    response = client.get(reverse("billing:provider-bundles", args=[provider.uuid]))

    assert response.status_code == 404


def test_the_bundle_page_shows_what_it_includes(bundle_plan, included, client):
    response = client.get(reverse("marketplace:offering-detail", args=[bundle_plan.offering.slug]))
    plain = client.get(reverse("marketplace:offering-detail", args=[included[0][0].slug]))

    body = response.content.decode()
    assert "Included in this bundle" in body
    assert "Support Agent" in body
    assert "Sales Agent" in body
    assert "Pro plan · 10,000 API calls / month" in body
    assert "Included in this bundle" not in plain.content.decode()


# --- Included subscriptions change and end only with the bundle -------------------------------------------


@pytest.fixture
def bought_bundle(manual_mode, bundle_plan, bundle_buyer, operator, django_capture_on_commit_callbacks):
    """A bundle paid by hand, its two included subscriptions set up."""
    buyer, organization = bundle_buyer
    order = order_create(organization=organization, plan=bundle_plan, actor=buyer)
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order=order, actor=operator)
    bundle_resource = Resource.objects.get(orders=order)
    return {"buyer": buyer, "bundle": bundle_resource, "parts": _included_of(bundle_resource)}


INCLUDED_REFUSAL = "This subscription is part of the Front Office bundle: change or cancel the bundle."


def _snapshot(resource: Resource) -> tuple:
    resource.refresh_from_db()
    return resource.state, resource.plan_id, resource.orders.count()


@pytest.mark.parametrize("action", ["change_plan", "terminate"])
def test_an_included_subscription_cannot_change_or_end_on_its_own(action, bought_bundle):
    # Given
    part = bought_bundle["parts"][0]
    assert part.included_in == bought_bundle["bundle"]
    starter = part.offering.plans.get(name="Starter")
    before = _snapshot(part)
    change = {
        "change_plan": lambda: order_change_plan(resource=part, plan=starter, actor=bought_bundle["buyer"]),
        "terminate": lambda: order_terminate(resource=part, actor=bought_bundle["buyer"]),
    }[action]

    # When
    with pytest.raises(ConflictError) as raised:
        change()

    # Then
    assert (raised.value.detail, raised.value.code) == (INCLUDED_REFUSAL, "included_in_bundle")
    assert _snapshot(part) == before == (ResourceState.OK, part.plan_id, 0)


def test_cancelling_the_bundle_by_hand_cancels_what_it_includes(
    bought_bundle, django_capture_on_commit_callbacks
):
    # When
    with django_capture_on_commit_callbacks(execute=True):
        order_terminate(resource=bought_bundle["bundle"], actor=bought_bundle["buyer"])

    # Then the included subscriptions were cancelled through the bundle's own path
    states = [_snapshot(part) for part in bought_bundle["parts"]]
    assert [(state, orders) for state, _plan, orders in states] == [(ResourceState.TERMINATED, 1)] * 2
    assert [part.orders.get().created_by for part in bought_bundle["parts"]] == [None, None]


@pytest.mark.parametrize("action", ["change_plan", "terminate"])
def test_the_api_answers_409_for_an_included_subscription(action, bought_bundle):
    # Given
    part = bought_bundle["parts"][0]
    starter = part.offering.plans.get(name="Starter")
    body = {"plan_uuid": str(starter.uuid)} if action == "change_plan" else {}
    before = _snapshot(part)

    # When
    response = client_for(bought_bundle["buyer"]).post(
        reverse(f"marketplace-resource-{action.replace('_', '-')}", args=[part.uuid]), body, format="json"
    )

    # Then
    assert response.status_code == 409
    assert response.json() == {
        "type": "/errors/included_in_bundle",
        "title": "Conflict",
        "status": 409,
        "detail": INCLUDED_REFUSAL,
        "code": "included_in_bundle",
        "errors": {},
    }
    assert _snapshot(part) == before


def test_the_api_names_the_bundle_a_subscription_is_part_of(bought_bundle):
    # When
    api = client_for(bought_bundle["buyer"])
    part = api.get(reverse("marketplace-resource-detail", args=[bought_bundle["parts"][0].uuid]))
    bundle = api.get(reverse("marketplace-resource-detail", args=[bought_bundle["bundle"].uuid]))

    # Then
    assert part.json()["included_in"] == str(bought_bundle["bundle"].uuid)
    assert bundle.json()["included_in"] is None


def test_the_dashboard_shows_included_subscriptions_without_change_or_cancel(bought_bundle, client):
    # Given
    client.force_login(bought_bundle["buyer"])
    organization = bought_bundle["bundle"].organization

    # When
    page = client.get(reverse("marketplace:organization-dashboard", args=[organization.uuid]))

    # Then each included subscription says which bundle it comes with and has no buttons of its own
    body = page.content.decode()
    assert body.count("Included in <strong>Front Office</strong>") == 2
    for part in bought_bundle["parts"]:
        assert reverse("marketplace:subscription-cancel", args=[organization.uuid, part.uuid]) not in body
        assert reverse("billing:subscription-plan", args=[organization.uuid, part.uuid]) not in body
    # while the bundle itself can be cancelled
    bundle_cancel = reverse(
        "marketplace:subscription-cancel", args=[organization.uuid, bought_bundle["bundle"].uuid]
    )
    assert bundle_cancel in body


@pytest.mark.parametrize("page", ["billing_plan_change", "dashboard_cancel"])
def test_the_web_forms_refuse_an_included_subscription_and_say_why(page, bought_bundle, client):
    # Given a form posted by hand for an included subscription
    client.force_login(bought_bundle["buyer"])
    part = bought_bundle["parts"][0]
    organization = part.organization
    before = _snapshot(part)
    if page == "billing_plan_change":
        starter = part.offering.plans.get(name="Starter")
        url = reverse("billing:subscription-plan", args=[organization.uuid, part.uuid])
        data = {f"{part.uuid}-plan": str(starter.uuid)}
    else:
        url = reverse("marketplace:subscription-cancel", args=[organization.uuid, part.uuid])
        data = {"confirm": "yes"}

    # When
    response = client.post(url, data, follow=True)

    # Then
    assert INCLUDED_REFUSAL in response.content.decode()
    assert _snapshot(part) == before
