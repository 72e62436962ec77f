from rest_framework.routers import SimpleRouter

from site_agent.api.views import CustomerAgentConfigViewSet

router = SimpleRouter(trailing_slash=True)
router.register("customer-agent-configs", CustomerAgentConfigViewSet, basename="customer-agent-config")

urlpatterns = router.urls
