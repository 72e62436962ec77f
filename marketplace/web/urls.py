from django.urls import path
from django.views.generic import TemplateView

app_name = "marketplace"

urlpatterns = [
    path("marketplace/", TemplateView.as_view(template_name="base.html"), name="catalogue"),
    path("invitations/<uuid:uuid>/", TemplateView.as_view(template_name="base.html"), name="invitation-accept"),
]
