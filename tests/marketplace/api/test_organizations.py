"""Organisations, seller registration and reviews through the API."""

import pytest
from rest_framework.test import APIClient

from marketplace.models import Membership, Organization, Review, ServiceProvider
from tests.marketplace.api.conftest import assert_error
from tests.marketplace.factories import OfferingFactory, ResourceFactory, ServiceProviderFactory

pytestmark = pytest.mark.django_db

ORGANIZATIONS = "/api/organizations/"
PROVIDERS = "/api/service-providers/"
REVIEWS = "/api/marketplace-reviews/"


# --- Organisations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "listed", "retrieve", "update"),
    [
        ("anonymous", None, 401, 401),
        ("outsider", ["Elsewhere Ltd"], 404, 404),
        ("member", ["Buyer Co"], 200, 403),
        ("owner", ["Buyer Co"], 200, 200),
        ("operator", ["Buyer Co", "Elsewhere Ltd"], 200, 200),
    ],
)
def test_organization_access(buyer, role, listed, retrieve, update):
    client = buyer.client(role)
    url = f"{ORGANIZATIONS}{buyer.organization.uuid}/"

    response = client.get(ORGANIZATIONS)
    if listed is None:
        assert_error(response, 401)
    else:
        assert [item["name"] for item in response.json()["results"]] == listed
    assert client.get(url).status_code == retrieve
    assert client.patch(url, {"billing_email": "ap@buyer.example"}, format="json").status_code == update

    buyer.organization.refresh_from_db()
    assert buyer.organization.billing_email == ("ap@buyer.example" if update == 200 else "")


def test_a_manager_may_change_the_organisation_settings_like_on_the_settings_page(buyer):
    from tests.conftest import client_for
    from tests.marketplace.factories import MembershipFactory, UserFactory

    manager = UserFactory()
    MembershipFactory(organization=buyer.organization, user=manager, role="manager")

    response = client_for(manager).patch(
        f"{ORGANIZATIONS}{buyer.organization.uuid}/", {"country": "DE"}, format="json"
    )

    assert response.status_code == 200
    buyer.organization.refresh_from_db()
    assert buyer.organization.country == "DE"


def test_organization_detail_lists_members(buyer):
    response = buyer.client("member").get(f"{ORGANIZATIONS}{buyer.organization.uuid}/")

    assert [(member["email"], member["role"]) for member in response.json()["members"]] == [
        ("member@example.com", "member"),
        ("owner@example.com", "owner"),
    ]
    assert response.json()["country"] == "NL"


def test_creating_an_organisation_makes_you_its_owner(buyer):
    response = buyer.client("member").post(
        ORGANIZATIONS,
        {"name": "Side Project", "country": "DE", "billing_email": "bills@side.example"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["slug"], body["country"]) == ("Side Project", "side-project", "DE")
    assert (body["contact_email"], body["billing_email"]) == ("member@example.com", "bills@side.example")
    assert [(member["email"], member["role"]) for member in body["members"]] == [
        ("member@example.com", "owner")
    ]


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"country": "XX"}, {"country": ['"XX" is not a valid choice.']}),
        ({"billing_email": "not-an-email"}, {"billing_email": ["Enter a valid email address."]}),
        ({"slug": "mine"}, {"slug": ["Unknown field."]}),
        ({"name": ["Acme"], "members": []}, {"name": ["Not a valid string."], "members": ["Unknown field."]}),
    ],
)
def test_organization_update_bad_input(buyer, payload, errors):
    response = buyer.client("owner").patch(
        f"{ORGANIZATIONS}{buyer.organization.uuid}/", payload, format="json"
    )

    assert assert_error(response, 400, "invalid")["errors"] == errors
    buyer.organization.refresh_from_db()
    assert (buyer.organization.name, buyer.organization.slug, str(buyer.organization.country)) == (
        "Buyer Co",
        buyer.organization.slug,
        "NL",
    )
    assert buyer.organization.billing_email == ""


def test_organization_create_requires_a_name(buyer):
    response = buyer.client("owner").post(ORGANIZATIONS, {"country": "DE"}, format="json")

    assert assert_error(response, 400)["errors"] == {"name": ["This field is required."]}
    assert Organization.objects.count() == 2


# --- Service providers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "listed", "retrieve"),
    [
        ("anonymous", None, 401),
        ("outsider", 0, 404),
        ("member", 1, 200),
        ("owner", 1, 200),
        ("operator", 1, 200),
    ],
)
def test_service_provider_access(seller, role, listed, retrieve):
    client = seller.client(role)

    response = client.get(PROVIDERS)
    if listed is None:
        assert_error(response, 401)
    else:
        assert response.json()["count"] == listed
    assert client.get(f"{PROVIDERS}{seller.provider.uuid}/").status_code == retrieve


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("outsider", 404), ("member", 403), ("owner", 201), ("operator", 201)],
)
def test_registering_as_a_seller(buyer, role, status):
    response = buyer.client(role).post(
        PROVIDERS,
        {
            "organization_uuid": str(buyer.organization.uuid),
            "description": "We sell bots.",
            "terms_accepted": True,
        },
        format="json",
    )

    assert response.status_code == status, response.content
    registered = ServiceProvider.objects.filter(organization=buyer.organization)
    assert registered.count() == (1 if status == 201 else 0)
    if status == 201:
        assert (response.json()["state"], response.json()["organization"]["name"]) == ("pending", "Buyer Co")


def test_registering_needs_terms_and_happens_once(seller):
    client = seller.client("owner")
    payload = {"organization_uuid": str(seller.organization.uuid), "terms_accepted": False}

    no_terms = client.post(PROVIDERS, payload, format="json")
    again = client.post(PROVIDERS, {**payload, "terms_accepted": True}, format="json")

    assert assert_error(no_terms, 400)["errors"] == {"terms_accepted": ["Accept the seller terms."]}
    assert_error(again, 409, "already_seller")
    assert ServiceProvider.objects.count() == 1


# --- Reviews --------------------------------------------------------------------------------------


@pytest.fixture
def subscribed(buyer):
    """The buyer subscribed to an active offering."""
    return ResourceFactory(organization=buyer.organization).offering


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("outsider", 404), ("member", 403), ("owner", 201), ("operator", 201)],
)
def test_review_create_access(buyer, subscribed, role, status):
    payload = {
        "offering_uuid": str(subscribed.uuid),
        "organization_uuid": str(buyer.organization.uuid),
        "rating": 4,
    }

    response = buyer.client(role).post(REVIEWS, {**payload, "text": "Useful."}, format="json")

    assert response.status_code == status, response.content
    subscribed.refresh_from_db()
    if status == 201:
        assert (response.json()["rating"], response.json()["organization_name"]) == (4, "Buyer Co")
        assert (str(subscribed.rating_average), subscribed.rating_count) == ("4.00", 1)
    else:
        assert Review.objects.count() == 0
        assert subscribed.rating_count == 0


def test_review_rules(buyer, subscribed):
    client = buyer.client("owner")
    never_bought = OfferingFactory()
    payload = {"organization_uuid": str(buyer.organization.uuid), "rating": 5}

    not_customer = client.post(REVIEWS, {**payload, "offering_uuid": str(never_bought.uuid)}, format="json")
    out_of_range = client.post(
        REVIEWS, {**payload, "offering_uuid": str(subscribed.uuid), "rating": 6}, format="json"
    )
    first = client.post(REVIEWS, {**payload, "offering_uuid": str(subscribed.uuid)}, format="json")
    second = client.post(REVIEWS, {**payload, "offering_uuid": str(subscribed.uuid)}, format="json")

    assert_error(not_customer, 409, "not_a_customer")
    assert assert_error(out_of_range, 400)["errors"] == {
        "rating": ["Ensure this value is less than or equal to 5."]
    }
    assert first.status_code == 201
    assert_error(second, 409, "already_reviewed")
    assert list(Review.objects.values_list("offering", "rating")) == [(subscribed.pk, 5)]


def test_reviews_are_public_and_filterable(buyer, subscribed, django_assert_num_queries):
    other = ResourceFactory(organization=buyer.organization).offering
    Review.objects.create(offering=subscribed, organization=buyer.organization, rating=5, text="Great")
    Review.objects.create(offering=other, organization=buyer.organization, rating=2, text="Meh")
    Review.objects.create(offering=OfferingFactory(state="paused"), organization=buyer.organization, rating=1)

    with django_assert_num_queries(2):
        everything = APIClient().get(REVIEWS)
    filtered = APIClient().get(REVIEWS, {"offering_uuid": str(subscribed.uuid)})

    assert [item["text"] for item in everything.json()["results"]] == ["Meh", "Great"]
    assert [(item["rating"], item["offering_uuid"]) for item in filtered.json()["results"]] == [
        (5, str(subscribed.uuid))
    ]


def test_seller_sees_its_registration_only(seller):
    ServiceProviderFactory()

    response = seller.client("owner").get(PROVIDERS)

    assert [item["uuid"] for item in response.json()["results"]] == [str(seller.provider.uuid)]
    assert Membership.objects.filter(organization=seller.organization).count() == 2
