"""Who may do what through the marketplace API.

Visibility (404) is decided by the selectors; these checks add the role a change needs (403) once the
caller can see the object. Operators (staff) pass every check.
"""

from collections.abc import Callable
from typing import Any

from django.http import Http404
from rest_framework import permissions

from marketplace import selectors
from marketplace.errors import ForbiddenError, NotFoundError
from marketplace.models import Organization, ServiceProvider


def _organization_of(obj) -> Organization:
    return obj if isinstance(obj, Organization) else obj.organization


class IsOrganizationManager(permissions.BasePermission):
    """Owners and managers of the object's organisation (a plain member may look, not change)."""

    message = "Only owners and managers of the organisation can do this."

    def has_object_permission(self, request, view, obj) -> bool:
        return selectors.user_can_manage(user=request.user, organization=_organization_of(obj))


class IsOrganizationOwner(permissions.BasePermission):
    message = "Only owners of the organisation can do this."

    def has_object_permission(self, request, view, obj) -> bool:
        return selectors.user_is_owner(user=request.user, organization=_organization_of(obj))


def referenced(getter: Callable[..., Any], *, field: str, label: str, **lookup) -> Any:
    """An object named in a request body, through its selector; one the caller may not see is a 404."""
    try:
        return getter(**lookup)
    except Http404 as error:
        raise NotFoundError(
            f"{label} not found.", errors={field: [f"No {label.lower()} with this id."]}
        ) from error


def managed_organization(*, user, uuid, field: str = "organization_uuid") -> Organization:
    """The organisation a buyer acts for: not a member is a 404, a plain member a 403."""
    organization = referenced(
        selectors.organization_get_for_user, field=field, label="Organisation", user=user, uuid=uuid
    )
    if not selectors.user_can_manage(user=user, organization=organization):
        raise ForbiddenError(
            "Only owners and managers of the organisation can do this.",
            errors={field: ["You are a member of this organisation, not an owner or manager."]},
        )
    return organization


def managed_service_provider(*, user, uuid, field: str = "provider_uuid") -> ServiceProvider:
    """The seller account a user acts for: not a member is a 404, a plain member a 403."""
    provider = referenced(
        selectors.service_provider_get_for_user, field=field, label="Service provider", user=user, uuid=uuid
    )
    if not selectors.user_can_manage(user=user, organization=provider.organization):
        raise ForbiddenError(
            "Only owners and managers of the seller organisation can do this.",
            errors={field: ["You are a member of this organisation, not an owner or manager."]},
        )
    return provider
