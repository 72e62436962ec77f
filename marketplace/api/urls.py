from rest_framework.routers import DefaultRouter

from marketplace.api import views

router = DefaultRouter(trailing_slash=True)
router.register("marketplace-categories", views.CategoryViewSet, basename="marketplace-category")
router.register(
    "marketplace-public-offerings", views.PublicOfferingViewSet, basename="marketplace-public-offering"
)
router.register("marketplace-offerings", views.OfferingViewSet, basename="marketplace-offering")
router.register("marketplace-plans", views.PlanViewSet, basename="marketplace-plan")
router.register("marketplace-orders", views.OrderViewSet, basename="marketplace-order")
router.register("marketplace-resources", views.ResourceViewSet, basename="marketplace-resource")
router.register("marketplace-reviews", views.ReviewViewSet, basename="marketplace-review")
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("service-providers", views.ServiceProviderViewSet, basename="service-provider")

urlpatterns = router.urls
