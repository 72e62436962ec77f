"""The seller API: offerings and plans, who may touch them, their state changes and bad input."""

import pytest
from rest_framework.test import APIClient

from marketplace.models import Offering, OfferingEvent, OfferingState, Plan
from tests.conftest import client_for
from tests.marketplace.api.conftest import ROLES, assert_error
from tests.marketplace.factories import OfferingFactory, PlanFactory

pytestmark = pytest.mark.django_db

OFFERINGS = "/api/marketplace-offerings/"
PLANS = "/api/marketplace-plans/"


@pytest.fixture
def listing(seller):
    offering = OfferingFactory(provider=seller.provider, name="Seller Bot", state="active")
    PlanFactory(offering=offering, price_minor=1500)
    PlanFactory(offering__name="Someone else's bot")  # another provider's listing, never visible to `seller`
    return offering


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "listed", "retrieve", "update", "pause"),
    [
        ("anonymous", None, 401, 401, 401),
        ("outsider", [], 404, 404, 404),
        ("member", [], 404, 404, 404),  # a plain member of the seller may not manage its listings
        ("owner", ["Seller Bot"], 200, 200, 200),
        ("operator", ["Seller Bot", "Someone else's bot"], 200, 200, 200),
    ],
)
def test_offering_access(seller, listing, role, listed, retrieve, update, pause):
    client = seller.client(role)

    response = client.get(OFFERINGS, {"ordering": "name"})
    if listed is None:
        assert_error(response, 401, "not_authenticated")
    else:
        assert sorted(item["name"] for item in response.json()["results"]) == listed
    assert client.get(f"{OFFERINGS}{listing.uuid}/").status_code == retrieve
    assert (
        client.patch(f"{OFFERINGS}{listing.uuid}/", {"name": "Renamed"}, format="json").status_code == update
    )
    assert client.post(f"{OFFERINGS}{listing.uuid}/pause/").status_code == pause

    listing.refresh_from_db()
    changed = pause == 200
    assert listing.name == ("Renamed" if changed else "Seller Bot")
    assert listing.state == (OfferingState.PAUSED if changed else OfferingState.ACTIVE)


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, (401, 403, 403, 403, 200), strict=True)))
def test_only_operators_approve_offerings(seller, role, status):
    offering = OfferingFactory(provider=seller.provider, state="pending_review", published_at=None)

    response = seller.client(role).post(f"{OFFERINGS}{offering.uuid}/approve/", {"notes": "Looks good."})

    assert response.status_code == status
    offering.refresh_from_db()
    assert offering.state == ("active" if status == 200 else "pending_review")
    assert (offering.published_at is not None) is (status == 200)


@pytest.mark.parametrize(
    ("role", "listed", "retrieve", "update", "archive"),
    [
        ("anonymous", None, 401, 401, 401),
        ("outsider", 0, 404, 404, 404),
        ("member", 0, 404, 404, 404),
        ("owner", 1, 200, 200, 200),
        ("operator", 2, 200, 200, 200),
    ],
)
def test_plan_access(seller, listing, role, listed, retrieve, update, archive):
    plan = listing.plans.get()
    client = seller.client(role)

    response = client.get(PLANS)
    if listed is None:
        assert_error(response, 401)
    else:
        assert response.json()["count"] == listed
    assert client.get(f"{PLANS}{plan.uuid}/").status_code == retrieve
    assert client.patch(f"{PLANS}{plan.uuid}/", {"price_minor": 999}, format="json").status_code == update
    assert client.post(f"{PLANS}{plan.uuid}/archive/").status_code == archive

    plan.refresh_from_db()
    assert plan.price_minor == (999 if update == 200 else 1500)
    assert plan.is_archived is (archive == 200)


# --- Seller journey -------------------------------------------------------------------------------


def test_seller_creates_prices_and_submits_an_offering(seller, operator):
    client = seller.client("owner")

    created = client.post(
        OFFERINGS,
        {
            "provider_uuid": str(seller.provider.uuid),
            "category": "assistants",
            "name": "  Tax Helper ",
            "summary": "Answers tax questions.",
            "description": "Knows the **rules**.",
            "tags": ["Tax", "tax"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["slug"], body["state"], body["tags"]) == (
        "Tax Helper",
        "tax-helper",
        "draft",
        ["tax"],
    )
    assert body["capabilities"] == ["chat", "api", "knowledge_base", "persona", "branding"]
    assert body["provider"] == {"uuid": str(seller.provider.uuid), "name": "Seller Co"}

    not_ready = client.post(f"{OFFERINGS}{body['uuid']}/submit/", {"terms_accepted": True}, format="json")
    assert assert_error(not_ready, 400, "not_ready")["errors"] == {
        "plans": ["Add at least one plan before publishing."]
    }
    offering = Offering.objects.get(uuid=body["uuid"])
    assert offering.terms_accepted_at is None  # the failed submit changed nothing

    plans = client.post(f"{OFFERINGS}{body['uuid']}/apply_plan_template/")
    assert plans.status_code == 201
    assert [(plan["name"], plan["price_minor"]) for plan in plans.json()] == [
        ("Starter", 2900),
        ("Professional", 9900),
        ("Enterprise", 29900),
    ]
    assert_error(client.post(f"{OFFERINGS}{body['uuid']}/apply_plan_template/"), 409, "has_plans")

    submitted = client.post(f"{OFFERINGS}{body['uuid']}/submit/", {"terms_accepted": True}, format="json")
    assert submitted.status_code == 200
    assert submitted.json()["state"] == "pending_review"
    assert submitted.json()["price_from_minor"] == 2900

    rejected = client_for(operator).post(f"{OFFERINGS}{body['uuid']}/reject/", {"notes": "Add a logo."})
    assert (rejected.json()["state"], rejected.json()["review_notes"]) == ("draft", "Add a logo.")
    assert list(OfferingEvent.objects.filter(offering=offering).values_list("from_state", "to_state")) == [
        ("draft", "pending_review"),
        ("pending_review", "draft"),
    ]


def test_plan_create_and_update(seller, listing):
    client = seller.client("owner")

    created = client.post(
        PLANS,
        {"offering_uuid": str(listing.uuid), "name": "Free", "price_minor": 0, "monthly_quota_calls": 100},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["offering_uuid"] == str(listing.uuid)
    assert (created.json()["price_minor"], created.json()["rate_limit_per_minute"]) == (0, 60)
    listing.refresh_from_db()
    assert listing.price_from_minor == 0

    filtered = client.get(PLANS, {"offering_uuid": str(listing.uuid)})
    assert sorted(plan["name"] for plan in filtered.json()["results"]) == ["Free", "Starter"]

    updated = client.patch(f"{PLANS}{created.json()['uuid']}/", {"price_minor": 5000}, format="json")
    assert updated.json()["price_minor"] == 5000
    listing.refresh_from_db()
    assert listing.price_from_minor == 1500


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"name": "Pro", "price_minor": -1},
            {"price_minor": ["Ensure this value is greater than or equal to 0."]},
        ),
        ({"name": "Pro", "price_minor": "lots"}, {"price_minor": ["A valid integer is required."]}),
        ({"name": "Pro"}, {"price_minor": ["This field is required."]}),
        ({"name": "Pro", "price_minor": 1, "colour": "red"}, {"colour": ["Unknown field."]}),
        (
            {"name": "Pro", "price_minor": 1, "trial_days": 400},
            {"trial_days": ["Ensure this value is less than or equal to 365."]},
        ),
        (
            {"name": "Pro", "price_minor": 1, "currency": "usd"},
            {"currency": ["Enter a three-letter ISO 4217 currency code, e.g. USD."]},
        ),
        (
            {"name": "Pro", "price_minor": 1, "billing_period": "week"},
            {"billing_period": ['"week" is not a valid choice.']},
        ),
    ],
)
def test_plan_create_bad_input_is_400_and_creates_nothing(seller, listing, payload, errors):
    response = seller.client("owner").post(
        PLANS, {"offering_uuid": str(listing.uuid), **payload}, format="json"
    )

    assert assert_error(response, 400, "invalid")["errors"] == errors
    assert Plan.objects.filter(offering=listing).count() == 1


def test_plan_for_an_offering_you_do_not_manage_is_404(seller, listing):
    response = seller.client("outsider").post(
        PLANS, {"offering_uuid": str(listing.uuid), "name": "Sneaky", "price_minor": 0}, format="json"
    )

    assert assert_error(response, 404, "not_found")["errors"] == {
        "offering_uuid": ["No offering with this id."]
    }
    assert Plan.objects.filter(offering=listing).count() == 1


def test_plan_update_rejects_negative_price_and_unknown_fields(seller, listing):
    plan = listing.plans.get()
    client = seller.client("owner")

    negative = client.patch(f"{PLANS}{plan.uuid}/", {"price_minor": -5, "is_archived": True}, format="json")

    assert assert_error(negative, 400)["errors"] == {
        "price_minor": ["Ensure this value is greater than or equal to 0."],
        "is_archived": ["Unknown field."],
    }
    plan.refresh_from_db()
    assert (plan.price_minor, plan.is_archived) == (1500, False)


def test_archived_plan_cannot_be_archived_or_edited_again(seller, listing):
    plan = listing.plans.get()
    client = seller.client("owner")
    assert client.post(f"{PLANS}{plan.uuid}/archive/").status_code == 200

    assert_error(client.post(f"{PLANS}{plan.uuid}/archive/"), 409, "archived")
    assert_error(client.patch(f"{PLANS}{plan.uuid}/", {"name": "Again"}, format="json"), 409, "archived")
    plan.refresh_from_db()
    assert plan.name == "Starter"


@pytest.mark.parametrize(
    ("payload", "status", "errors"),
    [
        ({"category": "agents", "name": "X"}, 400, {"provider_uuid": ["This field is required."]}),
        (
            {"category": "robots", "name": "X", "provider_uuid": "{provider}"},
            400,
            {"category": ["Object with slug=robots does not exist."]},
        ),
        (
            {"category": "agents", "name": "X", "provider_uuid": "{provider}", "capabilities": ["teleport"]},
            400,
            {"capabilities": {"0": ['"teleport" is not a valid choice.']}},
        ),
        (
            {"category": "agents", "name": "X", "provider_uuid": "{provider}", "state": "active"},
            400,
            {"state": ["Unknown field."]},
        ),
        (
            {"category": "agents", "name": "X", "provider_uuid": "not-a-uuid"},
            400,
            {"provider_uuid": ["Must be a valid UUID."]},
        ),
        (
            {"category": "agents", "name": "X", "provider_uuid": "{foreign}"},
            404,
            {"provider_uuid": ["No service provider with this id."]},
        ),
    ],
)
def test_offering_create_bad_input(seller, payload, status, errors):
    foreign = OfferingFactory().provider
    payload = {
        key: value.format(provider=seller.provider.uuid, foreign=foreign.uuid)
        if isinstance(value, str)
        else value
        for key, value in payload.items()
    }
    before = Offering.objects.count()

    response = seller.client("owner").post(OFFERINGS, payload, format="json")

    assert assert_error(response, status)["errors"] == errors
    assert Offering.objects.count() == before


def test_plain_member_cannot_create_offerings_for_the_seller(seller):
    response = seller.client("member").post(
        OFFERINGS,
        {"provider_uuid": str(seller.provider.uuid), "category": "agents", "name": "X"},
        format="json",
    )

    assert_error(response, 403, "permission_denied")
    assert Offering.objects.count() == 0


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("draft", "pause"),
        ("archived", "resume"),
        ("active", "resume"),
        ("active", "submit"),
        ("archived", "archive"),
    ],
)
def test_impossible_offering_transitions_are_409(seller, state, action):
    offering = OfferingFactory(provider=seller.provider, state=state)

    response = seller.client("owner").post(f"{OFFERINGS}{offering.uuid}/{action}/", {}, format="json")

    assert_error(response, 409, "invalid_transition")
    offering.refresh_from_db()
    assert offering.state == state
    assert offering.events.count() == 0


def test_editing_an_archived_offering_is_409(seller):
    offering = OfferingFactory(provider=seller.provider, state="archived", name="Old")

    response = seller.client("owner").patch(f"{OFFERINGS}{offering.uuid}/", {"name": "New"}, format="json")

    assert_error(response, 409, "archived")
    offering.refresh_from_db()
    assert offering.name == "Old"


def test_actions_without_a_body_reject_unknown_keys(seller, listing):
    response = seller.client("owner").post(
        f"{OFFERINGS}{listing.uuid}/pause/", {"force": True}, format="json"
    )

    assert assert_error(response, 400)["errors"] == {"force": ["Unknown field."]}
    listing.refresh_from_db()
    assert listing.state == "active"


def test_seller_list_pins_its_query_count(seller, django_assert_num_queries):
    for index in range(15):
        PlanFactory(offering=OfferingFactory(provider=seller.provider, name=f"Bot {index}"))
    client = seller.client("owner")

    with django_assert_num_queries(2):
        response = client.get(OFFERINGS, {"page_size": 15})
    assert len(response.json()["results"]) == 15

    with django_assert_num_queries(2):
        response = client.get(PLANS, {"page_size": 15})
    assert len(response.json()["results"]) == 15


def test_anonymous_session_client_gets_401_envelope():
    response = APIClient().post(OFFERINGS, {}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
