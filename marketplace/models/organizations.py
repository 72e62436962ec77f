"""Organisations (Waldur's "customers"), their members and invitations, and service providers (sellers)."""

from django.conf import settings
from django.db import models
from django_countries.fields import CountryField

from cmp.models import PublicModel, TimeStampedModel


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    MEMBER = "member", "Member"


class Organization(PublicModel):
    """A company or person that buys (and possibly sells) on the marketplace."""

    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=160, unique=True)
    contact_email = models.EmailField(blank=True)
    billing_email = models.EmailField(blank=True)
    country = CountryField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    """A user's role in an organisation."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["organization_id", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.organization}"


class InvitationState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    CANCELED = "canceled", "Canceled"


class Invitation(PublicModel):
    """An emailed invitation to join an organisation; accepted by a signed-in user with that email."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    state = models.CharField(max_length=16, choices=InvitationState.choices, default=InvitationState.PENDING)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=models.Q(state="pending"),
                name="invitation_one_pending_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"


class ServiceProviderState(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ServiceProvider(PublicModel):
    """An organisation registered as a seller. It may publish only once an operator approves it."""

    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="service_provider"
    )
    description = models.TextField(blank=True)
    state = models.CharField(
        max_length=16, choices=ServiceProviderState.choices, default=ServiceProviderState.PENDING
    )
    is_trusted = models.BooleanField(default=False, help_text="Trusted providers publish without review.")
    terms_accepted_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_notes = models.TextField(blank=True)

    class Meta:
        ordering = ["organization__name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ServiceProviderState.values), name="provider_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.organization.name

    @property
    def is_approved(self) -> bool:
        return self.state == ServiceProviderState.APPROVED
