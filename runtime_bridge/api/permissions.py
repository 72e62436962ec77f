from rest_framework.permissions import BasePermission

from site_agent.selectors import user_is_seller


class IsSeller(BasePermission):
    """Seller endpoints: signed-in members (owner or manager) of a service provider; others get 403."""

    message = "Register your organisation as a seller to use this endpoint."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and user_is_seller(user=request.user))
