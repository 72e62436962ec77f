"""Organisation services: roles and the last owner, invitations, seller registration and review."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from marketplace.errors import ApplicationError, ConflictError, ForbiddenError, InvalidTransition
from marketplace.models import Invitation, InvitationState, Membership, Organization, Role, ServiceProvider
from marketplace.services.organizations import (
    invitation_accept,
    invitation_cancel,
    invitation_create,
    membership_change_role,
    membership_remove,
    organization_create,
    organization_ensure_for_new_user,
    organization_update,
    service_provider_approve,
    service_provider_register,
    service_provider_reject,
)
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- Organisations --------------------------------------------------------------------------------


def test_create_makes_the_creator_owner_with_a_unique_slug():
    creator = UserFactory(email="ada@example.com")

    first = organization_create(name=" Acme ", creator=creator)
    second = organization_create(name="Acme", creator=creator, contact_email="sales@acme.test")

    assert (first.name, first.slug, second.slug) == ("Acme", "acme", "acme-2")
    assert (first.contact_email, first.billing_email) == ("ada@example.com", "ada@example.com")
    assert (second.contact_email, second.billing_email) == ("sales@acme.test", "sales@acme.test")
    assert list(first.memberships.values_list("user__email", "role")) == [("ada@example.com", "owner")]


def test_create_without_a_name_creates_nothing():
    with pytest.raises(ApplicationError):
        organization_create(name="  ", creator=UserFactory())

    assert Organization.objects.count() == 0
    assert Membership.objects.count() == 0


def test_ensure_for_new_user_creates_one_organisation_once():
    user = UserFactory(full_name="Grace Hopper")

    first = organization_ensure_for_new_user(user=user)
    second = organization_ensure_for_new_user(user=user)

    assert first == second
    assert first.name == "Grace Hopper's Organization"
    assert Organization.objects.count() == 1


def test_ensure_for_new_user_keeps_an_invited_users_organisation():
    user = UserFactory()
    existing = OrganizationFactory()
    MembershipFactory(organization=existing, user=user, role=Role.MEMBER)

    assert organization_ensure_for_new_user(user=user) == existing
    assert Organization.objects.count() == 1


def test_update_changes_the_given_fields(organization, user):
    updated = organization_update(
        organization=organization,
        actor=user,
        data={"name": " Acme Ltd ", "billing_email": "billing@acme.test", "country": "DE"},
    )

    organization.refresh_from_db()
    assert updated.name == organization.name == "Acme Ltd"
    assert organization.billing_email == "billing@acme.test"
    assert organization.country.code == "DE"


@pytest.mark.parametrize(
    ("data", "exception"),
    [
        ({"name": ""}, ApplicationError),
        ({"slug": "taken"}, ApplicationError),
        ({"contact_email": "not-an-email"}, ValidationError),
        ({"country": "XX"}, ValidationError),
    ],
)
def test_invalid_update_changes_nothing(organization, user, data, exception):
    before = Organization.objects.values().get(pk=organization.pk)

    with pytest.raises(exception):
        organization_update(organization=organization, actor=user, data=data)

    assert Organization.objects.values().get(pk=organization.pk) == before
    assert organization.name == before["name"]
    assert organization.contact_email == before["contact_email"]


# --- Members --------------------------------------------------------------------------------------


def test_owner_can_be_demoted_while_another_owner_remains(organization, user):
    other_owner = MembershipFactory(organization=organization, role=Role.OWNER)
    own = Membership.objects.get(organization=organization, user=user)

    membership_change_role(membership=own, role=Role.MANAGER, actor=user)

    assert dict(organization.memberships.values_list("user_id", "role")) == {
        user.pk: Role.MANAGER,
        other_owner.user_id: Role.OWNER,
    }


def test_last_owner_cannot_be_demoted(organization, user):
    own = Membership.objects.get(organization=organization, user=user)

    with pytest.raises(ConflictError) as error:
        membership_change_role(membership=own, role=Role.MEMBER, actor=user)

    assert error.value.code == "last_owner"
    own.refresh_from_db()
    assert own.role == Role.OWNER


def test_unknown_role_is_refused(organization, user):
    member = MembershipFactory(organization=organization, role=Role.MEMBER)

    with pytest.raises(ApplicationError):
        membership_change_role(membership=member, role="admin", actor=user)

    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_member_can_be_promoted_and_removed(organization, user):
    member = MembershipFactory(organization=organization, role=Role.MEMBER)

    promoted = membership_change_role(membership=member, role=Role.OWNER, actor=user)
    membership_remove(membership=promoted, actor=user)

    assert promoted.role == Role.OWNER
    assert list(organization.memberships.values_list("user_id", flat=True)) == [user.pk]


def test_last_owner_cannot_be_removed(organization, user):
    own = Membership.objects.get(organization=organization, user=user)

    with pytest.raises(ConflictError):
        membership_remove(membership=own, actor=user)

    assert Membership.objects.filter(pk=own.pk).exists()


# --- Invitations ----------------------------------------------------------------------------------


def test_invitation_is_emailed_with_a_link_after_commit(
    organization, user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://cmp.example.com"

    with django_capture_on_commit_callbacks(execute=True):
        invitation = invitation_create(
            organization=organization, email=" New@Example.com ", role="manager", actor=user
        )

    assert (invitation.email, invitation.role, invitation.state) == ("new@example.com", "manager", "pending")
    assert invitation.invited_by == user
    assert timedelta(days=13, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=14)
    (message,) = mailoutbox
    assert message.to == ["new@example.com"]
    assert message.subject == f"You are invited to {organization.name} on CMP"
    assert f"https://cmp.example.com/invitations/{invitation.uuid}/" in message.body


def test_second_pending_invitation_for_the_same_email_is_refused(organization, user):
    invitation_create(organization=organization, email="new@example.com", role="member", actor=user)

    with pytest.raises(ConflictError) as error:
        invitation_create(organization=organization, email="NEW@example.com", role="owner", actor=user)

    assert error.value.code == "already_invited"
    assert list(Invitation.objects.values_list("email", "role")) == [("new@example.com", "member")]


def test_an_expired_invitation_does_not_block_a_new_one(organization, user):
    old = invitation_create(organization=organization, email="new@example.com", role="member", actor=user)
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    new = invitation_create(organization=organization, email="new@example.com", role="manager", actor=user)

    old.refresh_from_db()
    assert old.state == InvitationState.CANCELED
    assert (new.state, new.role) == (InvitationState.PENDING, "manager")


def test_inviting_a_member_is_refused(organization, user):
    with pytest.raises(ConflictError) as error:
        invitation_create(organization=organization, email=user.email.upper(), role="member", actor=user)

    assert error.value.code == "already_member"
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(("email", "role"), [("not-an-email", "member"), ("new@example.com", "admin")])
def test_invalid_invitation_is_refused(organization, user, email, role):
    with pytest.raises(ApplicationError):
        invitation_create(organization=organization, email=email, role=role, actor=user)

    assert Invitation.objects.count() == 0


def test_invited_user_accepts_and_joins_with_the_role(organization, user):
    invitation = invitation_create(
        organization=organization, email="New@Example.com", role="manager", actor=user
    )
    invitee = UserFactory(email="new@example.com")

    membership = invitation_accept(invitation=invitation, user=invitee)

    assert (membership.organization, membership.user, membership.role) == (organization, invitee, "manager")
    invitation.refresh_from_db()
    assert invitation.state == InvitationState.ACCEPTED
    assert invitation.accepted_at is not None


def test_invitation_for_another_email_is_refused(organization, user):
    invitation = invitation_create(
        organization=organization, email="new@example.com", role="member", actor=user
    )
    stranger = UserFactory(email="stranger@example.com")

    with pytest.raises(ForbiddenError):
        invitation_accept(invitation=invitation, user=stranger)

    invitation.refresh_from_db()
    assert invitation.state == InvitationState.PENDING
    assert not Membership.objects.filter(user=stranger).exists()


def test_expired_invitation_is_refused(organization, user):
    invitation = invitation_create(
        organization=organization, email="new@example.com", role="member", actor=user
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    invitee = UserFactory(email="new@example.com")

    with pytest.raises(ConflictError) as error:
        invitation_accept(invitation=invitation, user=invitee)

    assert error.value.code == "invitation_expired"
    assert not Membership.objects.filter(user=invitee).exists()


@pytest.mark.parametrize("state", [InvitationState.ACCEPTED, InvitationState.CANCELED])
def test_used_or_cancelled_invitation_is_refused(organization, user, state):
    invitation = invitation_create(
        organization=organization, email="new@example.com", role="member", actor=user
    )
    Invitation.objects.filter(pk=invitation.pk).update(state=state)
    invitee = UserFactory(email="new@example.com")

    with pytest.raises(ConflictError) as error:
        invitation_accept(invitation=invitation, user=invitee)

    assert error.value.code == "invitation_used"
    assert not Membership.objects.filter(user=invitee).exists()


def test_cancel_a_pending_invitation_once(organization, user):
    invitation = invitation_create(
        organization=organization, email="new@example.com", role="member", actor=user
    )

    cancelled = invitation_cancel(invitation=invitation, actor=user)
    with pytest.raises(ConflictError):
        invitation_cancel(invitation=invitation, actor=user)

    assert cancelled.state == InvitationState.CANCELED


# --- Sellers --------------------------------------------------------------------------------------


def test_register_as_seller_waits_for_approval(organization, user):
    provider = service_provider_register(
        organization=organization, description="  We build agents. ", terms_accepted=True, actor=user
    )

    assert (provider.organization, provider.state, provider.description) == (
        organization,
        "pending",
        "We build agents.",
    )
    assert provider.terms_accepted_at is not None
    assert provider.is_approved is False


def test_register_twice_is_refused(organization, user):
    service_provider_register(organization=organization, description="first", terms_accepted=True, actor=user)

    with pytest.raises(ConflictError) as error:
        service_provider_register(
            organization=organization, description="second", terms_accepted=True, actor=user
        )

    assert error.value.code == "already_seller"
    assert list(ServiceProvider.objects.values_list("description", flat=True)) == ["first"]


def test_register_without_accepting_the_terms_is_refused(organization, user):
    with pytest.raises(ApplicationError) as error:
        service_provider_register(organization=organization, description="", terms_accepted=False, actor=user)

    assert list(error.value.errors) == ["terms_accepted"]
    assert ServiceProvider.objects.count() == 0


def test_operator_approves_or_rejects_once(organization, user, operator):
    provider = service_provider_register(
        organization=organization, description="", terms_accepted=True, actor=user
    )

    approved = service_provider_approve(provider=provider, actor=operator, notes="Looks good")
    with pytest.raises(InvalidTransition):
        service_provider_approve(provider=provider, actor=operator)
    rejected = service_provider_reject(provider=provider, actor=operator, notes="Terms breach")

    assert (approved.state, approved.reviewed_by, approved.review_notes) == (
        "approved",
        operator,
        "Looks good",
    )
    assert (rejected.state, rejected.review_notes) == ("rejected", "Terms breach")
