from django.urls import path
from rest_framework.routers import SimpleRouter

from runtime_bridge.api.chat_views import ChatMessagesView, DemoChatView, WidgetSessionView
from runtime_bridge.api.runtime_views import RuntimeAuthView, RuntimePingView, RuntimeUsageView
from runtime_bridge.api.views import FlowImportView, ProviderAgentViewSet
from runtime_bridge.api.workflow_views import WorkflowTriggerView, WorkflowViewSet

router = SimpleRouter(trailing_slash=True)
router.register("provider-agents", ProviderAgentViewSet, basename="provider-agent")

urlpatterns = [
    path("flows/import/", FlowImportView.as_view(), name="flows-import"),
    path("runtime/auth/", RuntimeAuthView.as_view(), name="runtime-auth"),
    path("runtime/usage/", RuntimeUsageView.as_view(), name="runtime-usage"),
    path("runtime/ping/", RuntimePingView.as_view(), name="runtime-ping"),
    *router.urls,
]

# The chat gateway
urlpatterns += [
    path("chat/<uuid:config_uuid>/messages", ChatMessagesView.as_view(), name="chat-messages"),
    path("widget/session", WidgetSessionView.as_view(), name="widget-session"),
    path("offerings/<uuid:offering_uuid>/demo-chat", DemoChatView.as_view(), name="offering-demo-chat"),
]

# Automations
workflow_router = SimpleRouter(trailing_slash=True)
workflow_router.register("marketplace-ai-workflows", WorkflowViewSet, basename="workflow")
urlpatterns += [
    path(
        "marketplace-ai-workflows/<uuid:uuid>/trigger/",
        WorkflowTriggerView.as_view(),
        name="workflow-trigger",
    ),
    *workflow_router.urls,
]
