from django.urls import path
from django.views.generic import TemplateView

urlpatterns = [
    path("invitations/<uuid:uuid>/", TemplateView.as_view(template_name="base.html"), name="invitation-accept"),
]
