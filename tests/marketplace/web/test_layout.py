"""The shared layout: navigation for each kind of visitor, OpenID Connect sign-in, error pages."""

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from tests.marketplace.factories import ServiceProviderFactory

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_sees_sign_in_and_sign_up(client):
    body = client.get(reverse("marketplace:catalogue")).content.decode()

    assert f'href="{reverse("account_login")}?next=/marketplace/"' in body
    assert f'href="{reverse("account_signup")}?next=/marketplace/"' in body
    assert reverse("account_logout") not in body


def test_signed_in_seller_sees_organisations_seller_link_and_sign_out_form(client, user, organization):
    provider = ServiceProviderFactory(organization=organization)
    client.force_login(user)

    body = client.get(reverse("marketplace:catalogue")).content.decode()

    assert reverse("marketplace:organization-dashboard", args=[organization.uuid]) in body
    assert reverse("marketplace:provider-dashboard", args=[provider.uuid]) in body
    assert f'method="post" action="{reverse("account_logout")}"' in body


def test_buyer_without_seller_account_is_offered_to_sell(client, user, organization):
    client.force_login(user)

    body = client.get(reverse("marketplace:catalogue")).content.decode()

    assert f'href="{reverse("marketplace:provider-register")}"' in body


def test_login_page_offers_the_openid_connect_provider(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "keycloak",
                    "name": "Keycloak",
                    "client_id": "cmp",
                    "secret": "s",
                    "settings": {"server_url": "https://sso.example.com/realms/cmp"},
                }
            ],
        },
    }

    body = client.get(reverse("account_login")).content.decode()

    assert "Sign in with Keycloak" in body


def test_unknown_page_uses_the_404_template(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "We couldn't find that page" in response.content.decode()


def test_500_page_renders_without_request_or_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        html = render_to_string("errors/500.html")

    assert "Something went wrong on our side" in html
