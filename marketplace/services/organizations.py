"""Organisations, members, invitations and service providers."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from marketplace.errors import ApplicationError, ConflictError, ForbiddenError, InvalidTransition
from marketplace.models import (
    Invitation,
    InvitationState,
    Membership,
    Organization,
    Role,
    ServiceProvider,
    ServiceProviderState,
)

INVITATION_LIFETIME = timedelta(days=14)
ORGANIZATION_FIELDS = {"name", "contact_email", "billing_email", "country"}
REQUIRED = "This field is required."
CHOOSE_ROLE = "Choose owner, manager or member."


def unique_slug(model, value: str, *, max_length: int = 60) -> str:
    """A slug for `value` not yet used by `model`: "acme", then "acme-2", "acme-3"..."""
    base = slugify(value)[: max_length - 6].strip("-") or "item"
    taken = set(model.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


@transaction.atomic
def organization_create(
    *, name: str, creator, contact_email: str = "", billing_email: str = "", country: str = ""
) -> Organization:
    name = name.strip()
    if not name:
        raise ApplicationError("An organisation needs a name.", errors={"name": ["This field is required."]})
    organization = Organization.objects.create(
        name=name,
        slug=unique_slug(Organization, name),
        contact_email=contact_email or creator.email,
        billing_email=billing_email or contact_email or creator.email,
        country=country,
    )
    Membership.objects.create(organization=organization, user=creator, role=Role.OWNER)
    return organization


@transaction.atomic
def organization_ensure_for_new_user(*, user) -> Organization:
    """Give a first-time user "<name>'s Organization", once: a second call returns what they have."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # serialise concurrent sign-ups
    existing = Organization.objects.filter(memberships__user=user).order_by("memberships__created_at").first()
    if existing is not None:
        return existing
    return organization_create(name=f"{user.display_name}'s Organization", creator=user)


@transaction.atomic
def organization_update(*, organization: Organization, actor, data: dict) -> Organization:
    unknown = set(data) - ORGANIZATION_FIELDS
    if unknown:
        errors = {field: ["Unknown field."] for field in sorted(unknown)}
        raise ApplicationError("Unknown fields.", errors=errors)
    for field, value in data.items():
        setattr(organization, field, value.strip() if isinstance(value, str) else value)
    try:
        if not organization.name:
            raise ApplicationError("An organisation needs a name.", errors={"name": [REQUIRED]})
        organization.full_clean(exclude=["slug", "members"])
    except Exception:
        organization.refresh_from_db(fields=list(data))  # the caller's object keeps its saved values
        raise
    organization.save(update_fields=[*data, "updated_at"])
    return organization


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def _lock_membership(membership: Membership) -> Membership:
    """Lock the organisation first: two owners demoting each other at once must not leave it ownerless."""
    Organization.objects.select_for_update().filter(pk=membership.organization_id).first()
    return Membership.objects.select_for_update().select_related("organization").get(pk=membership.pk)


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}'.", errors={"role": [CHOOSE_ROLE]})
    membership = _lock_membership(membership)
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(membership.organization) == 1:
        raise ConflictError("An organisation must keep at least one owner.", code="last_owner")
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    membership = _lock_membership(membership)
    if membership.role == Role.OWNER and _owner_count(membership.organization) == 1:
        raise ConflictError("An organisation must keep at least one owner.", code="last_owner")
    membership.delete()


@transaction.atomic
def invitation_create(*, organization: Organization, email: str, role: str, actor) -> Invitation:
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise ApplicationError("Enter a valid email address.", errors={"email": error.messages}) from error
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}'.", errors={"role": [CHOOSE_ROLE]})
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ConflictError(f"{email} is already a member.", code="already_member")
    # An expired invitation must not block a new one (one pending invitation per email is a DB constraint).
    Invitation.objects.filter(
        organization=organization, email=email, state=InvitationState.PENDING, expires_at__lte=timezone.now()
    ).update(state=InvitationState.CANCELED, updated_at=timezone.now())
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=organization,
                email=email,
                role=role,
                invited_by=actor,
                expires_at=timezone.now() + INVITATION_LIFETIME,
            )
    except IntegrityError as error:
        raise ConflictError(f"{email} already has a pending invitation.", code="already_invited") from error
    accept_url = settings.SITE_URL + reverse("marketplace:invitation-accept", args=[invitation.uuid])
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {organization.name} on CMP",
            message=(
                f"{actor.display_name} invited you to join {organization.name} "
                f"as {invitation.get_role_display()}.\n"
                f"Accept the invitation: {accept_url}\n"
            ),
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
    )
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != InvitationState.PENDING:
        raise ConflictError("This invitation is no longer valid.", code="invitation_used")
    if invitation.expires_at <= timezone.now():
        raise ConflictError("This invitation has expired.", code="invitation_expired")
    if invitation.email.lower() != user.email.lower():
        raise ForbiddenError("This invitation was sent to another email address.")
    membership, _ = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.state = InvitationState.ACCEPTED
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["state", "accepted_at", "updated_at"])
    return membership


@transaction.atomic
def invitation_cancel(*, invitation: Invitation, actor) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != InvitationState.PENDING:
        raise ConflictError("Only a pending invitation can be cancelled.", code="invitation_used")
    invitation.state = InvitationState.CANCELED
    invitation.save(update_fields=["state", "updated_at"])
    return invitation


@transaction.atomic
def service_provider_register(
    *, organization: Organization, description: str, terms_accepted: bool, actor
) -> ServiceProvider:
    if not terms_accepted:
        raise ApplicationError(
            "You must accept the seller terms.", errors={"terms_accepted": ["Accept the seller terms."]}
        )
    try:
        with transaction.atomic():
            return ServiceProvider.objects.create(
                organization=organization, description=description.strip(), terms_accepted_at=timezone.now()
            )
    except IntegrityError as error:
        raise ConflictError(
            "This organisation is already registered as a seller.", code="already_seller"
        ) from error


def _service_provider_review(*, provider: ServiceProvider, actor, state: str, notes: str) -> ServiceProvider:
    provider = ServiceProvider.objects.select_for_update().get(pk=provider.pk)
    if provider.state == state:
        raise InvalidTransition(entity="service provider", from_state=provider.state, to_state=state)
    provider.state = state
    provider.reviewed_at = timezone.now()
    provider.reviewed_by = actor
    provider.review_notes = notes
    provider.save(update_fields=["state", "reviewed_at", "reviewed_by", "review_notes", "updated_at"])
    return provider


@transaction.atomic
def service_provider_approve(*, provider: ServiceProvider, actor, notes: str = "") -> ServiceProvider:
    return _service_provider_review(
        provider=provider, actor=actor, state=ServiceProviderState.APPROVED, notes=notes
    )


@transaction.atomic
def service_provider_reject(*, provider: ServiceProvider, actor, notes: str = "") -> ServiceProvider:
    return _service_provider_review(
        provider=provider, actor=actor, state=ServiceProviderState.REJECTED, notes=notes
    )


@transaction.atomic
def service_provider_set_trusted(*, provider: ServiceProvider, actor, is_trusted: bool) -> ServiceProvider:
    """Trusted providers publish listings without review; only operators decide that."""
    provider = ServiceProvider.objects.select_for_update().get(pk=provider.pk)
    if provider.is_trusted != is_trusted:
        provider.is_trusted = is_trusted
        provider.save(update_fields=["is_trusted", "updated_at"])
    return provider
