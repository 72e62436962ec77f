"""Organisation pages: team (members, invitations), settings, invitation acceptance, seller registration."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_countries import countries

from marketplace import selectors
from marketplace.errors import ApplicationError
from marketplace.models import InvitationState, Organization, Role
from marketplace.services.organizations import (
    invitation_accept,
    invitation_cancel,
    invitation_create,
    membership_change_role,
    membership_remove,
    organization_update,
    service_provider_register,
)

# --- Forms ----------------------------------------------------------------------------------------


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@company.com"}),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(max_length=150)
    contact_email = forms.EmailField(required=False, help_text="Where we and your sellers reach you.")
    billing_email = forms.EmailField(required=False, help_text="Invoices and receipts go here.")
    country = forms.ChoiceField(required=False, choices=[("", "Choose a country"), *countries])

    @classmethod
    def for_organization(cls, organization: Organization) -> "OrganizationSettingsForm":
        return cls(
            initial={
                "name": organization.name,
                "contact_email": organization.contact_email,
                "billing_email": organization.billing_email,
                "country": organization.country.code or "",
            }
        )


class ServiceProviderRegisterForm(forms.Form):
    organization = forms.ChoiceField(label="Sell as")
    description = forms.CharField(
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Who you are and what you build. Buyers see this on your listings.",
    )
    terms_accepted = forms.BooleanField(
        label="I accept the seller terms: listings are reviewed by an operator, and I am responsible for "
        "the agents I publish and the data they process.",
        required=False,  # the service enforces it, so the message is the same everywhere
    )

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.organizations = {str(organization.uuid): organization for organization in organizations}
        self.fields["organization"].choices = [
            (key, organization.name) for key, organization in self.organizations.items()
        ]

    def clean_organization(self) -> Organization:
        return self.organizations[self.cleaned_data["organization"]]


def _add_service_errors(form: forms.Form, error: ApplicationError | DjangoValidationError) -> None:
    """Put a service's field errors next to the fields, everything else at the top of the form."""
    field_errors = error.errors if isinstance(error, ApplicationError) else getattr(error, "message_dict", {})
    shown = False
    for field, field_messages in field_errors.items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)
            shown = True
    if not shown:
        detail = error.detail if isinstance(error, ApplicationError) else "; ".join(error.messages)
        form.add_error(None, detail)


# --- Team -----------------------------------------------------------------------------------------


def _team_context(request: HttpRequest, organization: Organization, invite_form: InvitationForm) -> dict:
    return {
        "organization": organization,
        "active_tab": "team",
        "memberships": selectors.membership_list(organization=organization),
        "invitations": selectors.invitation_list_pending(organization=organization).order_by("email"),
        "can_manage_team": selectors.user_is_owner(user=request.user, organization=organization),
        "invite_form": invite_form,
        "roles": Role.choices,
        "now": timezone.now(),
    }


def _organization_for_owner(request: HttpRequest, uuid) -> Organization:
    """The organisation if the user may see it (else 404) and is its owner or an operator (else 403)."""
    organization = selectors.organization_get_for_user(user=request.user, uuid=uuid)
    if not selectors.user_is_owner(user=request.user, organization=organization):
        raise PermissionDenied("Only owners manage the team.")
    return organization


@login_required
@require_http_methods(["GET"])
def organization_team(request: HttpRequest, uuid) -> HttpResponse:
    organization = selectors.organization_get_for_user(user=request.user, uuid=uuid)
    context = _team_context(request, organization, InvitationForm())
    return render(request, "marketplace/organization_team.html", context)


@login_required
@require_POST
def organization_invite(request: HttpRequest, uuid) -> HttpResponse:
    organization = _organization_for_owner(request, uuid)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation = invitation_create(
                organization=organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=request.user,
            )
        except ApplicationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("marketplace:organization-team", uuid=organization.uuid)
    context = _team_context(request, organization, form)
    return render(request, "marketplace/organization_team.html", context, status=400)


@login_required
@require_POST
def organization_member_role(request: HttpRequest, uuid, user_uuid) -> HttpResponse:
    organization = _organization_for_owner(request, uuid)
    membership = get_object_or_404(selectors.membership_list(organization=organization), user__uuid=user_uuid)
    form = MembershipRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, manager or member.")
    else:
        try:
            membership = membership_change_role(
                membership=membership, role=form.cleaned_data["role"], actor=request.user
            )
        except ApplicationError as error:
            messages.error(request, error.detail)
        else:
            role = membership.get_role_display().lower()
            messages.success(request, f"{membership.user.display_name} is now {role}.")
    return redirect("marketplace:organization-team", uuid=organization.uuid)


@login_required
@require_POST
def organization_member_remove(request: HttpRequest, uuid, user_uuid) -> HttpResponse:
    organization = _organization_for_owner(request, uuid)
    membership = get_object_or_404(selectors.membership_list(organization=organization), user__uuid=user_uuid)
    try:
        membership_remove(membership=membership, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
        return redirect("marketplace:organization-team", uuid=organization.uuid)
    messages.success(request, f"{membership.user.display_name} was removed from {organization.name}.")
    if membership.user_id == request.user.pk and not request.user.is_staff:
        return redirect("home")  # you just left: the team page is no longer yours to see
    return redirect("marketplace:organization-team", uuid=organization.uuid)


@login_required
@require_POST
def organization_invitation_cancel(request: HttpRequest, uuid, invitation_uuid) -> HttpResponse:
    organization = _organization_for_owner(request, uuid)
    invitation = get_object_or_404(
        selectors.invitation_list_pending(organization=organization), uuid=invitation_uuid
    )
    try:
        invitation_cancel(invitation=invitation, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Invitation to {invitation.email} cancelled.")
    return redirect("marketplace:organization-team", uuid=organization.uuid)


# --- Invitations ----------------------------------------------------------------------------------


def _invitation_problem(invitation, user) -> str:
    """Why this user cannot accept this invitation, or "" if they can."""
    if invitation.state == InvitationState.ACCEPTED:
        return "This invitation has already been used."
    if invitation.state == InvitationState.CANCELED:
        return "This invitation was cancelled. Ask the organisation's owner for a new one."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask the organisation's owner for a new one."
    if invitation.email.lower() != user.email.lower():
        return (
            f"This invitation was sent to {invitation.email}, but you are signed in as {user.email}. "
            "Sign in with the invited address to accept it."
        )
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def invitation_accept_page(request: HttpRequest, uuid) -> HttpResponse:
    invitation = selectors.invitation_get(uuid=uuid)
    if request.method == "POST":
        try:
            membership = invitation_accept(invitation=invitation, user=request.user)
        except ApplicationError as error:
            invitation.refresh_from_db()
            problem = _invitation_problem(invitation, request.user) or error.detail
            context = {"invitation": invitation, "problem": problem}
            return render(request, "marketplace/invitation_accept.html", context, status=error.status_code)
        organization = membership.organization
        role = membership.get_role_display().lower()
        messages.success(request, f"Welcome to {organization.name}: you joined as {role}.")
        return redirect("marketplace:organization-dashboard", uuid=organization.uuid)
    context = {"invitation": invitation, "problem": _invitation_problem(invitation, request.user)}
    return render(request, "marketplace/invitation_accept.html", context)


# --- Settings -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def organization_settings(request: HttpRequest, uuid) -> HttpResponse:
    organization = selectors.organization_get_for_user(user=request.user, uuid=uuid)
    can_edit = selectors.user_can_manage(user=request.user, organization=organization)
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only owners and managers change the organisation's settings.")
        form = OrganizationSettingsForm(request.POST)
        if form.is_valid():
            try:
                organization_update(organization=organization, actor=request.user, data=form.cleaned_data)
            except (ApplicationError, DjangoValidationError) as error:
                _add_service_errors(form, error)
            else:
                messages.success(request, "Settings saved.")
                return redirect("marketplace:organization-settings", uuid=organization.uuid)
        status = 400
    else:
        form = OrganizationSettingsForm.for_organization(organization)
    context = {"organization": organization, "active_tab": "settings", "form": form, "can_edit": can_edit}
    return render(request, "marketplace/organization_settings.html", context, status=status)


# --- Seller registration --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def provider_register(request: HttpRequest) -> HttpResponse:
    organizations = list(selectors.organization_list_for_seller_registration(user=request.user))
    form = ServiceProviderRegisterForm(request.POST or None, organizations=organizations)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                provider = service_provider_register(
                    organization=form.cleaned_data["organization"],
                    description=form.cleaned_data["description"],
                    terms_accepted=form.cleaned_data["terms_accepted"],
                    actor=request.user,
                )
            except ApplicationError as error:
                _add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    f"{provider.organization.name} is registered as a seller, "
                    "pending approval by an operator.",
                )
                return redirect("marketplace:provider-register")
        status = 400
    context = {
        "form": form,
        "has_eligible_organizations": bool(organizations),
        "providers": selectors.service_provider_list_for_member(user=request.user),
    }
    return render(request, "marketplace/provider_register.html", context, status=status)
