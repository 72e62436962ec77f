"""Local accounts through django-allauth: sign up, sign in, sign out, password reset."""

import re

import pytest
from allauth.account.signals import user_signed_up

from accounts.models import User
from marketplace.models import Membership, Organization, Role
from marketplace.services.organizations import organization_ensure_for_new_user
from tests.marketplace.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def test_signup_signs_in_and_creates_one_owned_organisation(client):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "Grace@Example.com",
            "full_name": "Grace Hopper",
            "password1": "n0t-a-c0mmon-pw!",
            "password2": "n0t-a-c0mmon-pw!",
        },
    )

    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "grace@example.com"
    assert user.full_name == "Grace Hopper"
    assert client.session["_auth_user_id"] == str(user.pk)
    membership = Membership.objects.get()
    assert (membership.user, membership.role) == (user, Role.OWNER)
    assert membership.organization.name == "Grace Hopper's Organization"
    assert membership.organization.contact_email == "grace@example.com"


def test_signup_without_a_name_names_the_organisation_after_the_email(client):
    client.post(
        "/accounts/signup/",
        {"email": "grace@example.com", "password1": "n0t-a-c0mmon-pw!", "password2": "n0t-a-c0mmon-pw!"},
    )

    assert list(Organization.objects.values_list("name", flat=True)) == ["grace's Organization"]


def test_signed_up_again_does_not_create_another_organisation(client, rf):
    client.post(
        "/accounts/signup/",
        {"email": "grace@example.com", "password1": "n0t-a-c0mmon-pw!", "password2": "n0t-a-c0mmon-pw!"},
    )
    user = User.objects.get()
    first = Organization.objects.get()

    user_signed_up.send(sender=User, request=rf.get("/"), user=user)
    again = organization_ensure_for_new_user(user=user)

    assert again == first
    assert Organization.objects.count() == 1
    assert Membership.objects.filter(user=user).count() == 1


def test_signup_with_a_taken_email_is_refused(client):
    UserFactory(email="grace@example.com")

    response = client.post(
        "/accounts/signup/",
        {"email": "grace@example.com", "password1": "n0t-a-c0mmon-pw!", "password2": "n0t-a-c0mmon-pw!"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert User.objects.count() == 1
    assert Organization.objects.count() == 0
    assert "_auth_user_id" not in client.session


def test_login_with_email_and_password(client):
    user = UserFactory(email="grace@example.com")

    response = client.post("/accounts/login/", {"login": "grace@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_login_with_a_wrong_password_is_refused(client):
    UserFactory(email="grace@example.com")

    response = client.post("/accounts/login/", {"login": "grace@example.com", "password": "wrong-password"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session


def test_logout_needs_a_post(client):
    user = UserFactory()
    client.force_login(user)

    shown = client.get("/accounts/logout/")
    assert shown.status_code == 200
    assert client.session["_auth_user_id"] == str(user.pk)

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email_end_to_end(client, mailoutbox):
    user = UserFactory(email="grace@example.com")

    response = client.post("/accounts/password/reset/", {"email": "grace@example.com"})
    assert response.status_code == 302
    (message,) = mailoutbox
    assert message.to == ["grace@example.com"]
    link = re.search(r"https?://testserver(/accounts/password/reset/key/\S+/)", message.body).group(1)

    key_page = client.get(link)  # allauth moves the key into the session and redirects
    assert key_page.status_code == 302
    form_url = key_page["Location"]
    new_password = {"password1": "brand-new-Passw0rd", "password2": "brand-new-Passw0rd"}
    set_password = client.post(form_url, new_password)
    assert set_password.status_code == 302

    user.refresh_from_db()
    assert user.check_password("brand-new-Passw0rd") is True
    client.logout()
    login = client.post("/accounts/login/", {"login": "grace@example.com", "password": "brand-new-Passw0rd"})
    assert login.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_password_reset_link_works_only_once(client, mailoutbox):
    UserFactory(email="grace@example.com")
    client.post("/accounts/password/reset/", {"email": "grace@example.com"})
    link = re.search(r"https?://testserver(/accounts/password/reset/key/\S+/)", mailoutbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    client.post(form_url, {"password1": "brand-new-Passw0rd", "password2": "brand-new-Passw0rd"})

    reused = client.get(link)

    assert reused.status_code == 200
    assert reused.context["token_fail"] is True
