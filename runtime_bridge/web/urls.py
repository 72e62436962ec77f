"""The seller's agent pages and customers (namespace "runtime_bridge")."""

from django.urls import path

from runtime_bridge.web import views, workflow_views

app_name = "runtime_bridge"

AGENT = "providers/<uuid:uuid>/agents/<uuid:agent_uuid>/"

urlpatterns = [
    path("providers/<uuid:uuid>/agents/", views.agent_list, name="agents"),
    path("providers/<uuid:uuid>/agents/new/", views.agent_create, name="agent-create"),
    path(AGENT, views.agent_detail, name="agent-detail"),
    path(f"{AGENT}publish/", views.agent_publish, name="agent-publish"),
    path(f"{AGENT}unpublish/", views.agent_unpublish, name="agent-unpublish"),
    path(f"{AGENT}pricing/template/", views.agent_pricing_template, name="agent-pricing-template"),
    path(f"{AGENT}logo/", views.agent_logo, name="agent-logo"),
    path(f"{AGENT}screenshots/", views.agent_screenshot_add, name="agent-screenshot-add"),
    path(
        f"{AGENT}screenshots/<uuid:screenshot_uuid>/remove/",
        views.agent_screenshot_remove,
        name="agent-screenshot-remove",
    ),
    path(f"{AGENT}versions/", views.agent_version_create, name="agent-version-create"),
    path(f"{AGENT}versions/compare/", views.agent_compare, name="agent-compare"),
    path(f"{AGENT}versions/<uuid:version_uuid>/rollout/", views.agent_rollout, name="agent-version-rollout"),
    path(f"{AGENT}analytics/", views.agent_analytics_page, name="agent-analytics"),
    path("providers/<uuid:uuid>/organizations/", views.provider_customers, name="provider-customers"),
]

# The buyer's automations (linked from the agent's Scheduling tab)
AUTOMATIONS = "organizations/<uuid:organization_uuid>/agents/<uuid:config_uuid>/automations/"
WORKFLOW = AUTOMATIONS + "<uuid:workflow_uuid>/"
urlpatterns += [
    path(AUTOMATIONS, workflow_views.workflow_list, name="workflows"),
    path(WORKFLOW, workflow_views.workflow_detail, name="workflow-detail"),
    path(f"{WORKFLOW}run/", workflow_views.workflow_run, name="workflow-run"),
    path(f"{WORKFLOW}rotate-secret/", workflow_views.workflow_rotate_secret, name="workflow-rotate-secret"),
    path(f"{WORKFLOW}delete/", workflow_views.workflow_delete, name="workflow-delete"),
]
