"""Organisation web pages: team, settings, invitation acceptance and seller registration."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from marketplace.models import Invitation, InvitationState, Membership, Organization, Role, ServiceProvider
from marketplace.services.organizations import invitation_create
from tests.marketplace.factories import (
    MembershipFactory,
    OrganizationFactory,
    ServiceProviderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(organization, user):
    """The `organization` fixture's owner (`user`), plus a manager and a member."""
    return {
        "owner": user,
        "manager": MembershipFactory(organization=organization, role=Role.MANAGER).user,
        "member": MembershipFactory(organization=organization, role=Role.MEMBER).user,
    }


def viewer(kind: str, team: dict, operator):
    if kind == "anonymous":
        return None
    if kind == "operator":
        return operator
    if kind == "other organisation":
        return MembershipFactory(role=Role.OWNER).user
    return team[kind]


def signed_in(client, user):
    if user is not None:
        client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Team -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "can_manage"),
    [
        ("anonymous", 302, None),
        ("other organisation", 404, None),
        ("member", 200, False),
        ("manager", 200, False),
        ("owner", 200, True),
        ("operator", 200, True),
    ],
)
def test_team_page_access(client, organization, team, operator, kind, status, can_manage):
    invitation_create(
        organization=organization, email="invitee@example.com", role="member", actor=team["owner"]
    )
    url = f"/organizations/{organization.uuid}/team/"

    response = signed_in(client, viewer(kind, team, operator)).get(url)

    assert response.status_code == status
    if kind == "anonymous":
        assert response["Location"] == f"/accounts/login/?next={url}"
    if status == 200:
        page = response.content.decode()
        assert response.context["can_manage_team"] is can_manage
        assert all(member.email in page for member in team.values())
        assert "invitee@example.com" in page
        assert ("Send invitation" in page) is can_manage
        assert ("Change role" in page) is can_manage


def test_team_page_query_count_does_not_grow_with_members(
    client, organization, team, django_assert_max_num_queries
):
    for _ in range(10):
        MembershipFactory(organization=organization, role=Role.MEMBER)
    client.force_login(team["owner"])

    with django_assert_max_num_queries(8):
        response = client.get(f"/organizations/{organization.uuid}/team/")

    assert response.status_code == 200


def test_owner_invites_by_email(client, organization, team, mailoutbox, django_capture_on_commit_callbacks):
    client.force_login(team["owner"])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/organizations/{organization.uuid}/team/invite/",
            {"email": "new@example.com", "role": "manager"},
        )

    assert response.status_code == 302
    assert response["Location"] == f"/organizations/{organization.uuid}/team/"
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new@example.com",
        "manager",
        team["owner"],
    )
    assert [message.to for message in mailoutbox] == [["new@example.com"]]
    assert messages_of(response) == ["Invitation sent to new@example.com."]


def test_invite_errors_are_shown_with_the_form(client, organization, team):
    client.force_login(team["owner"])

    invalid = client.post(
        f"/organizations/{organization.uuid}/team/invite/", {"email": "nope", "role": "member"}
    )
    existing = client.post(
        f"/organizations/{organization.uuid}/team/invite/", {"email": team["member"].email, "role": "member"}
    )

    assert invalid.status_code == 400
    assert invalid.context["invite_form"].errors == {"email": ["Enter a valid email address."]}
    assert existing.status_code == 400
    assert existing.context["invite_form"].non_field_errors() == [
        f"{team['member'].email} is already a member."
    ]
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(("kind", "status"), [("member", 403), ("manager", 403), ("other organisation", 404)])
def test_only_owners_change_the_team(client, organization, team, operator, kind, status):
    invitation = invitation_create(
        organization=organization, email="x@example.com", role="member", actor=team["owner"]
    )
    client.force_login(viewer(kind, team, operator))
    base = f"/organizations/{organization.uuid}/team"

    responses = [
        client.post(f"{base}/invite/", {"email": "new@example.com", "role": "owner"}),
        client.post(f"{base}/members/{team['member'].uuid}/role/", {"role": "owner"}),
        client.post(f"{base}/members/{team['owner'].uuid}/remove/"),
        client.post(f"{base}/invitations/{invitation.uuid}/cancel/"),
    ]

    assert [response.status_code for response in responses] == [status] * 4
    assert dict(organization.memberships.values_list("user_id", "role")) == {
        team["owner"].pk: Role.OWNER,
        team["manager"].pk: Role.MANAGER,
        team["member"].pk: Role.MEMBER,
    }
    assert list(Invitation.objects.values_list("email", "state")) == [("x@example.com", "pending")]


def test_owner_changes_a_role_and_removes_a_member(client, organization, team):
    client.force_login(team["owner"])
    base = f"/organizations/{organization.uuid}/team"

    promoted = client.post(f"{base}/members/{team['member'].uuid}/role/", {"role": "manager"})
    removed = client.post(f"{base}/members/{team['manager'].uuid}/remove/")

    assert promoted.status_code == removed.status_code == 302
    assert dict(organization.memberships.values_list("user_id", "role")) == {
        team["owner"].pk: Role.OWNER,
        team["member"].pk: Role.MANAGER,
    }


def test_last_owner_cannot_be_demoted_or_removed(client, organization, team):
    client.force_login(team["owner"])
    base = f"/organizations/{organization.uuid}/team"

    demote = client.post(f"{base}/members/{team['owner'].uuid}/role/", {"role": "member"}, follow=True)
    remove = client.post(f"{base}/members/{team['owner'].uuid}/remove/", follow=True)

    for response in (demote, remove):
        assert response.status_code == 200
        assert "An organisation must keep at least one owner." in response.content.decode()
    assert Membership.objects.get(organization=organization, user=team["owner"]).role == Role.OWNER


def test_member_of_another_organisation_cannot_be_changed_through_this_one(client, organization, team):
    outsider = MembershipFactory(role=Role.MEMBER)
    client.force_login(team["owner"])

    response = client.post(
        f"/organizations/{organization.uuid}/team/members/{outsider.user.uuid}/role/", {"role": "owner"}
    )

    assert response.status_code == 404
    outsider.refresh_from_db()
    assert outsider.role == Role.MEMBER


def test_owner_cancels_an_invitation(client, organization, team):
    invitation = invitation_create(
        organization=organization, email="x@example.com", role="member", actor=team["owner"]
    )
    client.force_login(team["owner"])

    response = client.post(f"/organizations/{organization.uuid}/team/invitations/{invitation.uuid}/cancel/")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.state == InvitationState.CANCELED


# --- Invitation acceptance ------------------------------------------------------------------------


@pytest.fixture
def invitation(organization, user):
    return invitation_create(
        organization=organization, email="invitee@example.com", role="manager", actor=user
    )


def test_anonymous_is_sent_to_sign_in_first(client, invitation):
    url = f"/invitations/{invitation.uuid}/"

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_invited_user_accepts(client, organization, invitation):
    invitee = UserFactory(email="invitee@example.com")
    client.force_login(invitee)
    url = f"/invitations/{invitation.uuid}/"

    shown = client.get(url)
    response = client.post(url)

    assert shown.status_code == 200
    assert "Accept invitation" in shown.content.decode()
    assert response.status_code == 302
    assert response["Location"] == f"/organizations/{organization.uuid}/"
    assert Membership.objects.get(organization=organization, user=invitee).role == Role.MANAGER
    invitation.refresh_from_db()
    assert invitation.state == InvitationState.ACCEPTED


def test_wrong_email_cannot_accept(client, organization, invitation):
    stranger = UserFactory(email="stranger@example.com")
    client.force_login(stranger)
    url = f"/invitations/{invitation.uuid}/"

    shown = client.get(url)
    response = client.post(url)

    expected = (
        "This invitation was sent to invitee@example.com, but you are signed in as stranger@example.com."
    )
    assert expected in shown.content.decode()
    assert "Accept invitation" not in shown.content.decode()
    assert response.status_code == 403
    assert expected in response.content.decode()
    assert not Membership.objects.filter(user=stranger).exists()
    invitation.refresh_from_db()
    assert invitation.state == InvitationState.PENDING


def test_expired_invitation_cannot_be_accepted(client, organization, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    invitee = UserFactory(email="invitee@example.com")
    client.force_login(invitee)

    response = client.post(f"/invitations/{invitation.uuid}/")

    assert response.status_code == 409
    assert "This invitation has expired." in response.content.decode()
    assert not Membership.objects.filter(user=invitee).exists()


def test_used_invitation_cannot_be_accepted_again(client, organization, invitation):
    invitee = UserFactory(email="invitee@example.com")
    client.force_login(invitee)
    client.post(f"/invitations/{invitation.uuid}/")

    again = client.get(f"/invitations/{invitation.uuid}/")
    repeated = client.post(f"/invitations/{invitation.uuid}/")

    assert "This invitation has already been used." in again.content.decode()
    assert repeated.status_code == 409
    assert Membership.objects.filter(user=invitee).count() == 1


def test_unknown_invitation_is_404(client, user):
    client.force_login(user)

    response = client.get("/invitations/00000000-0000-4000-8000-000000000000/")

    assert response.status_code == 404


# --- Settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "can_edit"),
    [
        ("anonymous", 302, None),
        ("other organisation", 404, None),
        ("member", 200, False),
        ("manager", 200, True),
        ("owner", 200, True),
        ("operator", 200, True),
    ],
)
def test_settings_page_access(client, organization, team, operator, kind, status, can_edit):
    response = signed_in(client, viewer(kind, team, operator)).get(
        f"/organizations/{organization.uuid}/settings/"
    )

    assert response.status_code == status
    if status == 200:
        assert response.context["can_edit"] is can_edit
        assert ("Save settings" in response.content.decode()) is can_edit
        assert organization.contact_email in response.content.decode()


@pytest.mark.parametrize("kind", ["owner", "manager", "operator"])
def test_owner_manager_and_operator_save_settings(client, organization, team, operator, kind):
    client.force_login(viewer(kind, team, operator))

    response = client.post(
        f"/organizations/{organization.uuid}/settings/",
        {
            "name": "Acme Ltd",
            "contact_email": "hi@acme.test",
            "billing_email": "ap@acme.test",
            "country": "DE",
        },
    )

    assert response.status_code == 302
    organization.refresh_from_db()
    assert (
        organization.name,
        organization.contact_email,
        organization.billing_email,
        organization.country.code,
    ) == (
        "Acme Ltd",
        "hi@acme.test",
        "ap@acme.test",
        "DE",
    )


@pytest.mark.parametrize(("kind", "status"), [("member", 403), ("other organisation", 404)])
def test_others_cannot_save_settings(client, organization, team, operator, kind, status):
    before = Organization.objects.values().get(pk=organization.pk)
    client.force_login(viewer(kind, team, operator))

    response = client.post(
        f"/organizations/{organization.uuid}/settings/", {"name": "Hijacked", "country": ""}
    )

    assert response.status_code == status
    assert Organization.objects.values().get(pk=organization.pk) == before


def test_invalid_settings_are_shown_inline_and_not_saved(client, organization, team):
    before = Organization.objects.values().get(pk=organization.pk)
    client.force_login(team["owner"])

    response = client.post(
        f"/organizations/{organization.uuid}/settings/",
        {"name": "", "contact_email": "not-an-email", "billing_email": "", "country": "XX"},
    )

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "contact_email", "country"}
    assert "Enter a valid email address." in response.content.decode()
    assert Organization.objects.values().get(pk=organization.pk) == before


# --- Seller registration --------------------------------------------------------------------------


def test_register_page_offers_only_organisations_you_manage_that_do_not_sell_yet(client, user, organization):
    managed = OrganizationFactory(name="Managed Co")
    MembershipFactory(organization=managed, user=user, role=Role.MANAGER)
    MembershipFactory(organization=OrganizationFactory(name="Member Co"), user=user, role=Role.MEMBER)
    ServiceProviderFactory(organization=MembershipFactory(user=user, role=Role.OWNER).organization)
    client.force_login(user)

    response = client.get("/providers/register/")

    assert response.status_code == 200
    choices = [label for _, label in response.context["form"].fields["organization"].choices]
    assert choices == sorted([organization.name, "Managed Co"])


def test_register_as_seller_then_see_pending_approval(client, user, organization):
    client.force_login(user)

    response = client.post(
        "/providers/register/",
        {"organization": str(organization.uuid), "description": "We build agents.", "terms_accepted": "on"},
        follow=True,
    )

    provider = ServiceProvider.objects.get()
    assert (provider.organization, provider.state, provider.description) == (
        organization,
        "pending",
        "We build agents.",
    )
    page = response.content.decode()
    assert "Pending approval by an operator" in page
    assert f"/providers/{provider.uuid}/" in page
    assert response.context["has_eligible_organizations"] is False


def test_register_without_terms_is_refused_inline(client, user, organization):
    client.force_login(user)

    response = client.post(
        "/providers/register/", {"organization": str(organization.uuid), "description": "x"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {"terms_accepted": ["Accept the seller terms."]}
    assert ServiceProvider.objects.count() == 0


def test_register_an_organisation_you_only_belong_to_is_refused(client, user):
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=user, role=Role.MEMBER)
    client.force_login(user)

    response = client.post(
        "/providers/register/",
        {"organization": str(organization.uuid), "description": "", "terms_accepted": "on"},
    )

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["organization"]
    assert ServiceProvider.objects.count() == 0


def test_register_page_needs_sign_in(client):
    response = client.get("/providers/register/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/providers/register/"
