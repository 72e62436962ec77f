"""Web pages of the marketplace, in one namespace. Each area keeps its own URL list."""

from marketplace.web.catalogue_urls import urlpatterns as catalogue_patterns
from marketplace.web.organizations_urls import urlpatterns as organization_patterns

app_name = "marketplace"

urlpatterns = catalogue_patterns + organization_patterns
