"""Personal API tokens: created once in plaintext, stored only as a SHA-256 hash, revocable at once."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke
from cmp.errors import ApplicationError
from tests.marketplace.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN_PATTERN = re.compile(r"^cmp_pat_[A-Za-z0-9]{40}$")


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- Services -------------------------------------------------------------------------------------


def test_created_token_is_returned_once_and_only_its_hash_is_stored(user):
    api_token, token = api_token_create(user=user, name="  CI deploy  ")

    assert TOKEN_PATTERN.match(token)
    stored = ApiToken.objects.get(pk=api_token.pk)
    assert stored.name == "CI deploy"
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.prefix == token[:12]
    stored_values = [str(value) for value in ApiToken.objects.filter(pk=api_token.pk).values().get().values()]
    assert all(token not in value for value in stored_values)


def test_every_token_is_different(user):
    tokens = {api_token_create(user=user, name=f"token {n}")[1] for n in range(20)}

    assert len(tokens) == 20


def test_token_needs_a_name(user):
    with pytest.raises(ApplicationError) as error:
        api_token_create(user=user, name="   ")

    assert error.value.errors == {"name": ["This field is required."]}
    assert ApiToken.objects.count() == 0


def test_token_expiry_must_be_in_the_future(user):
    with pytest.raises(ApplicationError) as error:
        api_token_create(user=user, name="old", expires_at=timezone.now() - timedelta(minutes=1))

    assert list(error.value.errors) == ["expires_at"]
    assert ApiToken.objects.count() == 0


def test_revoke_sets_revoked_at_once(user):
    api_token, _ = api_token_create(user=user, name="CI")

    first = api_token_revoke(api_token=api_token)
    second = api_token_revoke(api_token=api_token)

    assert first.revoked_at is not None
    assert second.revoked_at == first.revoked_at
    assert first.is_active is False


# --- API ------------------------------------------------------------------------------------------


def test_create_token_over_the_api_with_a_session(user):
    response = session_client(user).post(
        "/api/tokens/", {"name": "Nightly export", "expires_at": "2099-01-01T00:00:00Z"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert TOKEN_PATTERN.match(body["token"])
    api_token = ApiToken.objects.get(user=user)
    assert body["uuid"] == str(api_token.uuid)
    assert body["name"] == "Nightly export"
    assert body["prefix"] == body["token"][:12]
    assert body["expires_at"] == "2099-01-01T00:00:00Z"
    assert body["is_active"] is True
    assert api_token.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()


def test_list_shows_own_tokens_without_secrets(user, django_assert_max_num_queries):
    own, _ = api_token_create(user=user, name="mine")
    api_token_create(user=UserFactory(), name="someone else's")
    client = session_client(user)

    with django_assert_max_num_queries(4):
        response = client.get("/api/tokens/")

    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["uuid"] == str(own.uuid)
    assert "token" not in item
    assert "token_hash" not in item


def test_token_authenticates_and_records_its_use(user):
    api_token, token = api_token_create(user=user, name="script")

    response = bearer_client(token).get("/api/tokens/")

    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == ["script"]
    api_token.refresh_from_db()
    assert api_token.last_used_at is not None


def test_revoked_token_is_refused_at_once(user):
    api_token, token = api_token_create(user=user, name="script")
    client = bearer_client(token)
    assert client.get("/api/tokens/").status_code == 200

    revoke = session_client(user).post(f"/api/tokens/{api_token.uuid}/revoke/")
    response = client.get("/api/tokens/")

    assert revoke.status_code == 200
    assert revoke.json()["is_active"] is False
    assert response.status_code == 401
    assert response.json() == {
        "type": "/errors/authentication_failed",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Invalid or expired token.",
        "code": "authentication_failed",
        "errors": {},
    }


def test_expired_token_is_refused(user):
    expires_at = timezone.now() + timedelta(hours=1)
    api_token, token = api_token_create(user=user, name="short", expires_at=expires_at)
    ApiToken.objects.filter(pk=api_token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = bearer_client(token).get("/api/tokens/")

    assert response.status_code == 401


def test_unknown_token_is_refused():
    response = bearer_client("cmp_pat_" + "x" * 40).get("/api/tokens/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_token_cannot_create_more_tokens(user):
    _, token = api_token_create(user=user, name="script")

    response = bearer_client(token).post("/api/tokens/", {"name": "another"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert ApiToken.objects.count() == 1


def test_cannot_revoke_another_users_token(user):
    other_token, _ = api_token_create(user=UserFactory(), name="theirs")

    response = session_client(user).post(f"/api/tokens/{other_token.uuid}/revoke/")

    assert response.status_code == 404
    other_token.refresh_from_db()
    assert other_token.revoked_at is None


def test_anonymous_cannot_list_or_create_tokens():
    client = APIClient()

    assert client.get("/api/tokens/").status_code == 401
    assert client.post("/api/tokens/", {"name": "x"}, format="json").status_code == 401
    assert ApiToken.objects.count() == 0


def test_create_with_an_empty_name_is_a_validation_error(user):
    response = session_client(user).post("/api/tokens/", {"name": ""}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["This field may not be blank."]}
    assert ApiToken.objects.count() == 0


def test_schema_documents_the_token_endpoints():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert set(schema["paths"]["/api/tokens/"]) == {"get", "post"}
    assert set(schema["paths"]["/api/tokens/{uuid}/revoke/"]) == {"post"}
    created = schema["components"]["schemas"]["ApiTokenCreatedOutput"]
    assert "token" in created["properties"]
    assert "token" not in schema["components"]["schemas"]["ApiTokenOutput"]["properties"]


# --- Web page -------------------------------------------------------------------------------------


def test_tokens_page_needs_sign_in(client):
    response = client.get("/account/tokens/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/account/tokens/"


def test_tokens_page_creates_and_shows_the_token_once(client, user):
    client.force_login(user)

    created = client.post("/account/tokens/", {"name": "Laptop", "expires_in_days": "30"})

    assert created.status_code == 200
    token = re.search(r"cmp_pat_[A-Za-z0-9]{40}", created.content.decode()).group(0)
    api_token = ApiToken.objects.get(user=user)
    assert api_token.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert timedelta(days=29, hours=23) < api_token.expires_at - timezone.now() <= timedelta(days=30)
    assert "no-store" in created["Cache-Control"]
    listed = client.get("/account/tokens/")
    assert token not in listed.content.decode()
    assert api_token.prefix in listed.content.decode()


def test_tokens_page_without_expiry(client, user):
    client.force_login(user)

    client.post("/account/tokens/", {"name": "Forever", "expires_in_days": "0"})

    assert ApiToken.objects.get(user=user).expires_at is None


def test_tokens_page_shows_form_errors(client, user):
    client.force_login(user)

    response = client.post("/account/tokens/", {"name": "", "expires_in_days": "30"})

    assert response.status_code == 400
    assert response.context["form"].errors == {"name": ["This field is required."]}
    assert ApiToken.objects.count() == 0


def test_tokens_page_revokes(client, user):
    api_token, token = api_token_create(user=user, name="Laptop")
    client.force_login(user)

    response = client.post(f"/account/tokens/{api_token.uuid}/revoke/")

    assert response.status_code == 302
    assert response["Location"] == "/account/tokens/"
    api_token.refresh_from_db()
    assert api_token.revoked_at is not None
    assert bearer_client(token).get("/api/tokens/").status_code == 401


def test_tokens_page_cannot_revoke_another_users_token(client, user):
    other_token, _ = api_token_create(user=UserFactory(), name="theirs")
    client.force_login(user)

    response = client.post(f"/account/tokens/{other_token.uuid}/revoke/")

    assert response.status_code == 404
    other_token.refresh_from_db()
    assert other_token.revoked_at is None
