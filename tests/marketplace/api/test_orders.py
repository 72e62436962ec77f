"""Orders and subscriptions through the API: who may see and change them, and impossible changes."""

import pytest

from marketplace.models import Order, OrderState, Resource, ResourceState
from tests.conftest import client_for
from tests.marketplace.api.conftest import ROLES, assert_error
from tests.marketplace.factories import (
    MembershipFactory,
    OrderFactory,
    OrganizationFactory,
    PlanFactory,
    ResourceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ORDERS = "/api/marketplace-orders/"
RESOURCES = "/api/marketplace-resources/"


@pytest.fixture
def order(buyer):
    OrderFactory()  # another organisation's order
    return OrderFactory(organization=buyer.organization, plan=PlanFactory(price_minor=4900))


@pytest.fixture
def subscription(buyer):
    ResourceFactory()  # another organisation's subscription
    resource = ResourceFactory(organization=buyer.organization, plan=PlanFactory(price_minor=4900))
    PlanFactory(offering=resource.offering, name="Free", price_minor=0)
    return resource


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "listed", "retrieve", "cancel"),
    [
        ("anonymous", None, 401, 401),
        ("outsider", 0, 404, 404),
        ("member", 1, 200, 403),  # members see their organisation's orders but may not change them
        ("owner", 1, 200, 200),
        ("operator", 2, 200, 200),
    ],
)
def test_order_access(buyer, order, role, listed, retrieve, cancel):
    client = buyer.client(role)

    response = client.get(ORDERS)
    if listed is None:
        assert_error(response, 401)
    else:
        assert response.json()["count"] == listed
    assert client.get(f"{ORDERS}{order.uuid}/").status_code == retrieve
    assert client.post(f"{ORDERS}{order.uuid}/cancel/").status_code == cancel

    order.refresh_from_db()
    assert order.state == (OrderState.CANCELED if cancel == 200 else OrderState.PENDING_PAYMENT)


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, (401, 403, 403, 403, 200), strict=True)))
def test_only_operators_mark_orders_paid(buyer, order, role, status, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = buyer.client(role).post(f"{ORDERS}{order.uuid}/mark_paid/", {"reference": "BANK-42"})

    assert response.status_code == status
    order.refresh_from_db()
    if status == 200:
        assert response.json()["state"] == "executing"  # processing starts after commit
        assert (order.state, order.payment_reference) == (OrderState.DONE, "BANK-42")
    else:
        assert (order.state, order.payment_reference) == (OrderState.PENDING_PAYMENT, "")


def test_seller_sees_orders_for_its_offerings_but_cannot_cancel_them(order):
    seller_owner = UserFactory()
    MembershipFactory(organization=order.offering.provider.organization, user=seller_owner, role="owner")
    client = client_for(seller_owner)

    assert [item["uuid"] for item in client.get(ORDERS).json()["results"]] == [str(order.uuid)]
    assert_error(client.post(f"{ORDERS}{order.uuid}/cancel/"), 403, "permission_denied")
    order.refresh_from_db()
    assert order.state == OrderState.PENDING_PAYMENT


@pytest.mark.parametrize(
    ("role", "listed", "retrieve", "terminate"),
    [
        ("anonymous", None, 401, 401),
        ("outsider", 0, 404, 404),
        ("member", 1, 200, 403),
        ("owner", 1, 200, 201),
        ("operator", 2, 200, 201),
    ],
)
def test_resource_access(buyer, subscription, role, listed, retrieve, terminate):
    client = buyer.client(role)

    response = client.get(RESOURCES)
    if listed is None:
        assert_error(response, 401)
    else:
        assert response.json()["count"] == listed
    assert client.get(f"{RESOURCES}{subscription.uuid}/").status_code == retrieve
    assert client.post(f"{RESOURCES}{subscription.uuid}/terminate/").status_code == terminate

    assert Order.objects.filter(resource=subscription).count() == (1 if terminate == 201 else 0)


# --- Buying ---------------------------------------------------------------------------------------


def test_owner_orders_a_free_plan_and_it_completes(buyer, django_capture_on_commit_callbacks):
    plan = PlanFactory(price_minor=0, name="Free")

    with django_capture_on_commit_callbacks(execute=True):
        response = buyer.client("owner").post(
            ORDERS,
            {"plan_uuid": str(plan.uuid), "organization_uuid": str(buyer.organization.uuid)},
            format="json",
        )

    assert response.status_code == 201, response.content
    body = response.json()
    resource = Resource.objects.get(organization=buyer.organization)
    assert (body["type"], body["state"], body["cost_minor"], body["resource_uuid"]) == (
        "create",
        "executing",
        0,
        None,
    )
    order = Order.objects.get(uuid=body["uuid"])
    assert (order.state, order.resource) == (OrderState.DONE, resource)
    assert body["plan"] == {
        "uuid": str(plan.uuid),
        "name": "Free",
        "price_minor": 0,
        "currency": "USD",
        "billing_period": "month",
    }
    assert [(event["from_state"], event["to_state"]) for event in body["events"]] == [("", "executing")]
    detail = buyer.client("owner").get(f"{ORDERS}{order.uuid}/").json()
    assert (detail["state"], detail["resource_uuid"]) == ("done", str(resource.uuid))
    assert [(event["from_state"], event["to_state"]) for event in detail["events"]] == [
        ("", "executing"),
        ("executing", "done"),
    ]


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("outsider", 404, "not_found"),
        ("member", 403, "permission_denied"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_ordering_for_an_organisation_you_do_not_manage_is_refused(buyer, role, status, code):
    plan = PlanFactory()

    response = buyer.client(role).post(
        ORDERS,
        {"plan_uuid": str(plan.uuid), "organization_uuid": str(buyer.organization.uuid)},
        format="json",
    )

    assert_error(response, status, code)
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "status", "errors"),
    [
        (
            {},
            400,
            {"plan_uuid": ["This field is required."], "organization_uuid": ["This field is required."]},
        ),
        ({"plan_uuid": "nope", "organization_uuid": "{org}"}, 400, {"plan_uuid": ["Must be a valid UUID."]}),
        (
            {"plan_uuid": "{plan}", "organization_uuid": "{org}", "coupon": "FREE"},
            400,
            {"coupon": ["Unknown field."]},
        ),
        (
            {"plan_uuid": "{paused_plan}", "organization_uuid": "{org}"},
            404,
            {"plan_uuid": ["No plan with this id."]},
        ),
    ],
)
def test_order_create_bad_input(buyer, payload, status, errors):
    plan = PlanFactory()
    paused_plan = PlanFactory(offering__state="paused")
    payload = {
        key: value.format(plan=plan.uuid, paused_plan=paused_plan.uuid, org=buyer.organization.uuid)
        for key, value in payload.items()
    }

    response = buyer.client("owner").post(ORDERS, payload, format="json")

    assert assert_error(response, status)["errors"] == errors
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("canceled", "cancel"),
        ("done", "cancel"),
        ("done", "mark_paid"),
        ("pending_payment", "retry"),
        ("executing", "approve"),
        ("rejected", "reject"),
    ],
)
def test_impossible_order_changes_are_409(buyer, state, action):
    order = OrderFactory(organization=buyer.organization, state=state)

    response = buyer.client("operator").post(f"{ORDERS}{order.uuid}/{action}/", {}, format="json")

    assert_error(response, 409, "invalid_transition")
    order.refresh_from_db()
    assert order.state == state
    assert order.events.count() == 0


def test_order_filters(buyer):
    mine = OrderFactory(organization=buyer.organization, state="done")
    OrderFactory(organization=buyer.organization, state="pending_payment")
    other_org = OrganizationFactory()
    MembershipFactory(organization=other_org, user=buyer.owner)
    OrderFactory(organization=other_org, state="done")
    client = buyer.client("owner")

    response = client.get(ORDERS, {"state": "done", "organization_uuid": str(buyer.organization.uuid)})

    assert [item["uuid"] for item in response.json()["results"]] == [str(mine.uuid)]
    assert client.get(ORDERS, {"type": "terminate"}).json()["count"] == 0
    assert assert_error(client.get(ORDERS, {"state": "lost"}), 400)["errors"] == {
        "state": ["Select a valid choice. lost is not one of the available choices."]
    }
    assert list(assert_error(client.get(ORDERS, {"organization_uuid": "x"}), 400)["errors"]) == [
        "organization_uuid"
    ]


def test_order_list_pins_its_query_count(buyer, django_assert_num_queries):
    for _ in range(12):
        OrderFactory(organization=buyer.organization)
    client = buyer.client("owner")

    with django_assert_num_queries(2):
        response = client.get(ORDERS, {"page_size": 12})

    assert len(response.json()["results"]) == 12


# --- Subscriptions --------------------------------------------------------------------------------


def test_change_plan_to_a_cheaper_plan_runs_at_once(buyer, subscription, django_capture_on_commit_callbacks):
    free = subscription.offering.plans.get(name="Free")

    with django_capture_on_commit_callbacks(execute=True):
        response = buyer.client("owner").post(
            f"{RESOURCES}{subscription.uuid}/change_plan/", {"plan_uuid": str(free.uuid)}, format="json"
        )

    assert response.status_code == 201, response.content
    assert (response.json()["type"], response.json()["state"]) == ("update", "executing")
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.state) == (free, ResourceState.OK)


def test_change_plan_to_another_offerings_plan_is_400(buyer, subscription):
    foreign_plan = PlanFactory()

    response = buyer.client("owner").post(
        f"{RESOURCES}{subscription.uuid}/change_plan/", {"plan_uuid": str(foreign_plan.uuid)}, format="json"
    )

    assert assert_error(response, 400)["errors"] == {"plan": ["Plan of another offering."]}
    assert subscription.orders.count() == 0


def test_terminating_a_terminated_subscription_is_409(buyer):
    resource = ResourceFactory(organization=buyer.organization, state="terminated")

    response = buyer.client("owner").post(f"{RESOURCES}{resource.uuid}/terminate/")

    assert_error(response, 409, "not_cancellable")
    assert resource.orders.count() == 0


def test_resource_filters_and_query_count(buyer, subscription, django_assert_num_queries):
    ResourceFactory(organization=buyer.organization, state="terminated")
    client = buyer.client("owner")

    with django_assert_num_queries(2):
        response = client.get(RESOURCES, {"state": "ok", "offering_uuid": str(subscription.offering.uuid)})

    assert [item["uuid"] for item in response.json()["results"]] == [str(subscription.uuid)]
    assert client.get(RESOURCES, {"organization_uuid": str(buyer.organization.uuid)}).json()["count"] == 2
