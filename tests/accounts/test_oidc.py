"""Sign-in with OpenID Connect (Keycloak) against a local provider that speaks the real protocol."""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from accounts.models import User
from marketplace.models import Membership, Role
from tests.fakes.oidc_provider import OIDC_PATH, REALM_PATH, FakeOpenIDProvider
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_PATH = "/accounts/oidc/keycloak/login/"
CALLBACK_URL = "http://testserver/accounts/oidc/keycloak/login/callback/"


@pytest.fixture
def oidc_provider(settings):
    with FakeOpenIDProvider() as provider:
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "provider_class": "accounts.oidc.provider.VerifyingOpenIDConnectProvider",
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": "keycloak",
                        "name": "Keycloak",
                        "client_id": provider.client_id,
                        "secret": provider.client_secret,
                        "settings": {"server_url": provider.issuer},
                    }
                ],
            }
        }
        yield provider


def sign_in_with_provider(client, provider: FakeOpenIDProvider, next_url: str | None = None):
    """Browser steps: start at CMP, visit the provider's authorize page, come back to the callback."""
    start = client.post(LOGIN_PATH + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302
    assert start["Location"].startswith(f"{provider.base_url}{OIDC_PATH}/auth?")
    authorize = httpx.get(start["Location"], follow_redirects=False, timeout=5)
    assert authorize.status_code == 302
    back = urlsplit(authorize.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK_URL
    return client.get(back.path, parse_qs(back.query))


def test_login_page_offers_keycloak_when_configured(client, oidc_provider):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert "Keycloak" in response.content.decode()
    assert LOGIN_PATH in response.content.decode()


def test_login_page_has_no_provider_button_without_configuration(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": []}}

    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert LOGIN_PATH not in response.content.decode()


def test_first_sign_in_creates_user_and_organisation(client, oidc_provider):
    response = sign_in_with_provider(client, oidc_provider)

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="ada@example.com")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert user.full_name == "Ada Lovelace"
    assert user.socialaccount_set.get().uid == oidc_provider.user["sub"]
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.organization.name == "Ada Lovelace's Organization"
    assert user.emailaddress_set.get().verified is True


def test_sign_in_uses_every_protocol_step(client, oidc_provider):
    sign_in_with_provider(client, oidc_provider)

    (authorization,) = oidc_provider.authorizations.values()
    assert authorization.is_redeemed is True
    assert authorization.redirect_uri == CALLBACK_URL
    assert authorization.code_challenge_method == "S256"
    assert set(authorization.scope.split()) == {"openid", "profile", "email"}
    assert ("GET", f"{REALM_PATH}/.well-known/openid-configuration") in oidc_provider.requests
    assert ("POST", f"{OIDC_PATH}/token") in oidc_provider.requests
    assert ("GET", f"{OIDC_PATH}/userinfo") in oidc_provider.requests
    assert ("GET", f"{OIDC_PATH}/certs") in oidc_provider.requests


def test_second_sign_in_reuses_user_and_organisation(client, oidc_provider):
    sign_in_with_provider(client, oidc_provider)
    client.post("/accounts/logout/")

    response = sign_in_with_provider(client, oidc_provider)

    assert response.status_code == 302
    assert User.objects.filter(email="ada@example.com").count() == 1
    user = User.objects.get(email="ada@example.com")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert Membership.objects.filter(user=user).count() == 1


def test_sign_in_returns_to_next(client, oidc_provider):
    response = sign_in_with_provider(client, oidc_provider, next_url="/account/tokens/")

    assert response.status_code == 302
    assert response["Location"] == "/account/tokens/"


def test_verified_email_of_existing_local_user_signs_into_that_account(client, oidc_provider):
    existing = UserFactory(email="ada@example.com")
    organization = OrganizationFactory(name="Analytical Engines")
    MembershipFactory(user=existing, organization=organization, role=Role.OWNER)

    response = sign_in_with_provider(client, oidc_provider)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(existing.pk)
    assert User.objects.count() == 1
    assert list(Membership.objects.filter(user=existing).values_list("organization__name", flat=True)) == [
        "Analytical Engines"
    ]


def test_id_token_with_a_forged_signature_does_not_sign_in(client, oidc_provider):
    oidc_provider.bad_key = True

    response = sign_in_with_provider(client, oidc_provider)

    assert response.status_code == 401
    assert "socialaccount/authentication_error.html" in [template.name for template in response.templates]
    assert "_auth_user_id" not in client.session
    assert User.objects.filter(email="ada@example.com").exists() is False
    assert Membership.objects.count() == 0


def test_callback_with_a_state_from_another_session_does_not_sign_in(client, oidc_provider):
    start = client.post(LOGIN_PATH)
    authorize = httpx.get(start["Location"], follow_redirects=False, timeout=5)
    back = urlsplit(authorize.headers["Location"])
    client.cookies.clear()  # an attacker's browser: same code and state, no session that started the flow

    response = client.get(back.path, parse_qs(back.query))

    assert response.status_code == 401
    assert "_auth_user_id" not in client.session
    assert User.objects.filter(email="ada@example.com").exists() is False
