from rest_framework.routers import SimpleRouter

from marketplace_ai.api import views

router = SimpleRouter(trailing_slash=True)
router.register(
    "marketplace-ai-knowledge-bases", views.KnowledgeBaseViewSet, basename="marketplace-ai-knowledge-base"
)
router.register(
    "marketplace-ai-knowledge-documents",
    views.KnowledgeDocumentViewSet,
    basename="marketplace-ai-knowledge-document",
)

urlpatterns = router.urls
