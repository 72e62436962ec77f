"""Who may do what with a buyer's agent config.

Visibility is the selector's (`config_get_for_user`: another organisation's config is a 404). Once a
config is visible, members may read it; changing it or its keys and documents takes an owner or manager
of its organisation (operators may do everything), else 403.
"""

from rest_framework import permissions

from site_agent.selectors import config_user_can_manage


class IsConfigManagerOrReadOnly(permissions.BasePermission):
    message = "Only owners and managers of the organisation can change this agent."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return config_user_can_manage(user=request.user, config=obj)
