"""Every API error comes out in the one envelope; personal tokens authenticate; the schema is served."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.authentication import hash_token
from accounts.models import ApiToken
from marketplace.models import Offering, Order
from tests.marketplace.api.conftest import assert_error
from tests.marketplace.factories import OfferingFactory, OrderFactory

pytestmark = pytest.mark.django_db

RAW_TOKEN = "cmp_pat_" + "k" * 40


def test_malformed_json_is_400_and_changes_nothing(seller):
    response = seller.client("owner").generic(
        "POST", "/api/marketplace-offerings/", '{"name": "Broken', content_type="application/json"
    )

    body = assert_error(response, 400, "parse_error")
    assert body["detail"].startswith("JSON parse error")
    assert Offering.objects.count() == 0


def test_a_json_list_instead_of_an_object_is_400(seller):
    response = seller.client("owner").post("/api/marketplace-offerings/", ["name"], format="json")

    assert assert_error(response, 400, "invalid")["errors"] == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }
    assert Offering.objects.count() == 0


def test_method_not_allowed_is_405(seller):
    offering = OfferingFactory(provider=seller.provider)
    client = seller.client("owner")

    assert_error(client.delete(f"/api/marketplace-offerings/{offering.uuid}/"), 405, "method_not_allowed")
    assert_error(client.put(f"/api/marketplace-offerings/{offering.uuid}/", {}, format="json"), 405)
    assert_error(APIClient().post("/api/marketplace-public-offerings/", {}, format="json"), 405)
    assert Offering.objects.filter(pk=offering.pk).exists()


def test_unknown_api_path_is_404_envelope():
    response = APIClient().get("/api/no-such-thing/")

    assert response["Content-Type"] == "application/json"
    assert assert_error(response, 404, "not_found")["title"] == "Not Found"


def test_other_organisations_object_is_a_404_envelope(buyer):
    order = OrderFactory()

    body = assert_error(buyer.client("owner").get(f"/api/marketplace-orders/{order.uuid}/"), 404, "not_found")

    assert body == {
        "type": "/errors/not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "Not found.",
        "code": "not_found",
        "errors": {},
    }


def test_forbidden_and_conflict_envelopes(buyer):
    order = OrderFactory(organization=buyer.organization, state="done")

    forbidden = assert_error(
        buyer.client("member").post(f"/api/marketplace-orders/{order.uuid}/cancel/"), 403
    )
    conflict = assert_error(buyer.client("owner").post(f"/api/marketplace-orders/{order.uuid}/cancel/"), 409)

    assert forbidden["detail"] == "Only owners and managers of the organisation can do this."
    assert conflict["detail"] == "This order is done, so it cannot be cancelled."
    assert conflict["code"] == "invalid_transition"
    assert Order.objects.get(pk=order.pk).state == "done"


# --- Personal API tokens --------------------------------------------------------------------------


def make_token(user, **fields) -> ApiToken:
    return ApiToken.objects.create(
        user=user, name="ci", prefix=RAW_TOKEN[:12], token_hash=hash_token(RAW_TOKEN), **fields
    )


def test_bearer_token_authenticates(buyer):
    token = make_token(buyer.owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RAW_TOKEN}")

    response = client.get("/api/organizations/")

    assert response.status_code == 200
    assert [item["uuid"] for item in response.json()["results"]] == [str(buyer.organization.uuid)]
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    ("header", "token_fields"),
    [
        (f"Bearer cmp_pat_{'x' * 40}", {}),  # unknown token
        (f"Bearer {RAW_TOKEN}", {"revoked_at": timezone.now()}),
        (f"Bearer {RAW_TOKEN}", {"expires_at": timezone.now() - timedelta(minutes=1)}),
        (f"Bearer {RAW_TOKEN} extra", {}),
    ],
)
def test_bad_bearer_token_is_401(buyer, header, token_fields):
    make_token(buyer.owner, **token_fields)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/organizations/")

    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Bearer"


def test_bearer_token_can_write(buyer, django_capture_on_commit_callbacks):
    make_token(buyer.owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RAW_TOKEN}")

    response = client.patch(
        f"/api/organizations/{buyer.organization.uuid}/", {"name": "Renamed by script"}, format="json"
    )

    assert response.status_code == 200
    buyer.organization.refresh_from_db()
    assert buyer.organization.name == "Renamed by script"


# --- Schema ---------------------------------------------------------------------------------------


def test_schema_and_docs_are_served():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = APIClient().get("/api/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/marketplace-public-offerings/" in paths
    assert "/api/marketplace-orders/{uuid}/mark_paid/" in paths
    assert {"search", "category", "capability", "price_min", "price_max", "sort", "page", "page_size"} == {
        parameter["name"] for parameter in paths["/api/marketplace-public-offerings/"]["get"]["parameters"]
    }
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn." not in docs.content  # the UI ships with the project
