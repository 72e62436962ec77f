from django.urls import path
from rest_framework.routers import SimpleRouter

from runtime_bridge.api.views import FlowImportView, ProviderAgentViewSet

router = SimpleRouter(trailing_slash=True)
router.register("provider-agents", ProviderAgentViewSet, basename="provider-agent")

urlpatterns = [
    path("flows/import/", FlowImportView.as_view(), name="flows-import"),
    *router.urls,
]
