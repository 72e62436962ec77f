from django.urls import path

from site_agent.web import views

app_name = "site_agent"

AGENTS = "organizations/<uuid:organization_uuid>/agents/"
AGENT = AGENTS + "<uuid:config_uuid>/"

urlpatterns = [
    path(AGENTS, views.agent_list, name="agent-list"),
    path(AGENT, views.agent_overview, name="agent-overview"),
    path(f"{AGENT}status/", views.agent_status, name="agent-status"),
    path(f"{AGENT}version/", views.agent_version_update, name="agent-version-update"),
    path(f"{AGENT}persona/", views.agent_persona, name="agent-persona"),
    path(f"{AGENT}branding/", views.agent_branding, name="agent-branding"),
    path(f"{AGENT}training/", views.agent_training, name="agent-training"),
    path(f"{AGENT}keys/", views.agent_keys, name="agent-keys"),
    path(f"{AGENT}keys/<uuid:key_uuid>/rotate/", views.agent_key_rotate, name="agent-key-rotate"),
    path(f"{AGENT}keys/<uuid:key_uuid>/revoke/", views.agent_key_revoke, name="agent-key-revoke"),
    path(f"{AGENT}widget/", views.agent_widget, name="agent-widget"),
    path(f"{AGENT}usage/", views.agent_usage, name="agent-usage"),
    path(f"{AGENT}scheduling/", views.agent_scheduling, name="agent-scheduling"),
    path(f"{AGENT}integrations/", views.agent_integrations, name="agent-integrations"),
    path(f"{AGENT}integrations/<uuid:endpoint_uuid>/", views.webhook_update, name="webhook-update"),
    path(
        f"{AGENT}integrations/<uuid:endpoint_uuid>/rotate-secret/",
        views.webhook_rotate_secret,
        name="webhook-rotate-secret",
    ),
    path(f"{AGENT}integrations/<uuid:endpoint_uuid>/active/", views.webhook_toggle, name="webhook-toggle"),
    path(f"{AGENT}integrations/<uuid:endpoint_uuid>/delete/", views.webhook_delete, name="webhook-delete"),
    path(
        f"{AGENT}integrations/deliveries/<uuid:delivery_uuid>/redeliver/",
        views.webhook_delivery_redeliver,
        name="webhook-redeliver",
    ),
]
