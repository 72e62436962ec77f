from django.urls import path

from accounts import web as account_views
from marketplace.web import organizations as views

urlpatterns = [
    path("organizations/<uuid:uuid>/team/", views.organization_team, name="organization-team"),
    path("organizations/<uuid:uuid>/team/invite/", views.organization_invite, name="organization-invite"),
    path(
        "organizations/<uuid:uuid>/team/members/<uuid:user_uuid>/role/",
        views.organization_member_role,
        name="organization-member-role",
    ),
    path(
        "organizations/<uuid:uuid>/team/members/<uuid:user_uuid>/remove/",
        views.organization_member_remove,
        name="organization-member-remove",
    ),
    path(
        "organizations/<uuid:uuid>/team/invitations/<uuid:invitation_uuid>/cancel/",
        views.organization_invitation_cancel,
        name="organization-invitation-cancel",
    ),
    path("organizations/<uuid:uuid>/settings/", views.organization_settings, name="organization-settings"),
    path("invitations/<uuid:uuid>/", views.invitation_accept_page, name="invitation-accept"),
    path("providers/register/", views.provider_register, name="provider-register"),
    path("account/tokens/", account_views.account_tokens, name="account-tokens"),
    path(
        "account/tokens/<uuid:uuid>/revoke/", account_views.account_token_revoke, name="account-token-revoke"
    ),
]
