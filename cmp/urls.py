from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cmp import health, metrics, views

handler400 = "cmp.errors.handler400"
handler403 = "cmp.errors.handler403"
handler404 = "cmp.errors.handler404"
handler500 = "cmp.errors.handler500"

api_patterns = [
    # First: the runtime auth and usage endpoints and the chat gateway are on every chat's path, and Django
    # tries URL patterns in order (behind the others they cost ~100 failed pattern matches per request).
    path("", include("runtime_bridge.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("marketplace.api.urls")),
    path("", include("marketplace_ai.api.urls")),
    path("", include("site_agent.api.urls")),
    path("", include("billing.api.urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(api_patterns)),
    path("", include("marketplace.web.urls")),
    path("", include("marketplace_ai.web.urls")),
    path("", include("runtime_bridge.web.urls")),
    path("", include("site_agent.web.urls")),
    path("", include("billing.web.urls")),
    path("", include("widget.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
